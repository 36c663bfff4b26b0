package edge

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// TokenTTL is how long a vaulted interaction token serves follow-ups:
// Discord accepts follow-up messages on an interaction token for 15 minutes
// after the interaction.
const TokenTTL = 15 * time.Minute

// MaxVaulted bounds the tokens kept at once; the oldest go first. A dev
// session never comes near it; the bound only keeps a runaway script from
// growing the process without limit.
const MaxVaulted = 10_000

// capability is one vaulted interaction token.
type capability struct {
	session       string
	token         string // the credential: never logged, printed or reported
	tokenID       string
	interactionID string
	at            time.Time
	uses          int
}

// vault keeps interaction tokens by session key, as the connector does
// (docs/protocol.md, Outbound actions: follow_up): a follow_up names a
// session, never a token.
type vault struct {
	now func() time.Time

	mu        sync.Mutex
	bySession map[string][]*capability // oldest first
	order     []*capability            // every capability, oldest first
}

func newVault(now func() time.Time) *vault {
	if now == nil {
		now = time.Now
	}
	return &vault{now: now, bySession: map[string][]*capability{}}
}

// put vaults token for session and returns its fingerprint.
func (v *vault) put(session, token, interactionID string) string {
	c := &capability{session: session, token: token, tokenID: fingerprint(token),
		interactionID: interactionID, at: v.now()}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pruneLocked(1)
	v.bySession[session] = append(v.bySession[session], c)
	v.order = append(v.order, c)
	return c.tokenID
}

// take finds the capability a follow-up for session acts through: the
// oldest interaction of that session not followed up yet, else the newest
// one (a token serves any number of follow-ups while it lives). repeat
// says the interaction had been followed up before.
func (v *vault) take(session string) (c capability, repeat, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pruneLocked(0)
	list := v.bySession[session]
	if len(list) == 0 {
		return capability{}, false, false
	}
	pick := list[len(list)-1]
	for _, c := range list {
		if c.uses == 0 {
			pick = c
			break
		}
	}
	pick.uses++
	return *pick, pick.uses > 1, true
}

// len returns the number of vaulted tokens.
func (v *vault) len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.order)
}

// pruneLocked drops expired capabilities, and the oldest ones while adding
// room more would exceed MaxVaulted. Arrival order is expiry order, so both
// come off the front.
func (v *vault) pruneLocked(room int) {
	now := v.now()
	n := 0
	for n < len(v.order) && (now.Sub(v.order[n].at) > TokenTTL || len(v.order)-n+room > MaxVaulted) {
		c := v.order[n]
		list := v.bySession[c.session]
		for i, x := range list {
			if x == c {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(v.bySession, c.session)
		} else {
			v.bySession[c.session] = list
		}
		v.order[n] = nil
		n++
	}
	v.order = v.order[n:]
}

// fingerprint identifies a token without revealing it: "sha256:" and the
// first 8 hex digits of its SHA-256.
func fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:4])
}
