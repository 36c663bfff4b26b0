package control

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// MaxPolicyFileBytes caps a policy file: a handful of small objects, one
// per platform; 1 MiB is far above any real one.
const MaxPolicyFileBytes = 1 << 20

// Policy is one platform's relevance policy: which of the platform's
// traffic the connector delivers to this gateway.
type Policy struct {
	// Platform is the fronted platform it applies to, e.g. "discord".
	Platform string `json:"platform"`
	// RequireAddress delivers only messages that address the bot (a
	// mention or a reply), except in FreeResponseScopes.
	RequireAddress bool `json:"requireAddress"`
	// FreeResponseScopes are the scope ids (channels, chats) where
	// RequireAddress is waived.
	FreeResponseScopes []string `json:"freeResponseScopes"`
	// AllowOtherBots admits messages written by other bots.
	AllowOtherBots bool `json:"allowOtherBots"`
}

// policyPlatform is the form of a platform name: the same rule as the
// platforms of run's --identity.
var policyPlatform = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,31}$`)

// PostPolicy declares p to the connector: POST {base}/relay/policy with
// {"platform","requireAddress","freeResponseScopes","allowOtherBots"} and
// bearer (a fresh upgrade token minted from the gateway id and secret) as
// the Authorization. Only 200 means accepted; anything else is a
// StatusError, TransportError or context error. c.Identity is not used.
func PostPolicy(ctx context.Context, c *Client, bearer string, p Policy) error {
	if strings.TrimSpace(p.Platform) == "" {
		return &fieldError{PolicyPath, "platform"}
	}
	if p.FreeResponseScopes == nil {
		p.FreeResponseScopes = []string{}
	}
	a, err := c.post(ctx, PolicyPath, bearer, p)
	if err != nil {
		return err
	}
	if a.status != http.StatusOK {
		return &StatusError{Endpoint: PolicyPath, Status: a.status, Detail: errorField(a.body)}
	}
	return nil
}

// PolicyError is a policy file entry that is refused.
type PolicyError struct {
	Index   int    // 0-based entry index; -1 for the file as a whole
	Key     string // the offending key, when one is to blame
	Problem string
}

// Error describes the failure.
func (e *PolicyError) Error() string {
	switch {
	case e.Index < 0:
		return "policies: " + e.Problem
	case e.Key != "":
		return fmt.Sprintf("policy %d: %q: %s", e.Index, e.Key, e.Problem)
	}
	return fmt.Sprintf("policy %d: %s", e.Index, e.Problem)
}

// LoadPolicies reads a policy file: a JSON array of Policy objects (see
// ParsePolicies). File errors are FileErrors; content errors are
// FileErrors wrapping the PolicyError.
func LoadPolicies(path string) ([]Policy, error) {
	data, err := readLimited("policy file", path, MaxPolicyFileBytes)
	if err != nil {
		return nil, err
	}
	ps, err := ParsePolicies(data)
	if err != nil {
		return nil, &FileError{What: "policy file", Path: path, Problem: err.Error(), Err: err}
	}
	return ps, nil
}

// ParsePolicies decodes and validates a JSON array of policies strictly:
// each entry is an object with "platform" (required, a platform name) and
// optionally "requireAddress" and "allowOtherBots" (booleans, default
// false) and "freeResponseScopes" (an array of non-empty strings, default
// empty); any other key, a key given twice, a null or a value of the wrong
// type is a PolicyError naming the entry and the key, and so is a platform
// that appears twice.
func ParsePolicies(data []byte) ([]Policy, error) {
	elems, problem := arrayElements(data)
	if problem != "" {
		return nil, &PolicyError{Index: -1, Problem: problem}
	}
	out := make([]Policy, 0, len(elems))
	seen := map[string]int{}
	for i, raw := range elems {
		p, err := parsePolicy(i, raw)
		if err != nil {
			return nil, err
		}
		if first, dup := seen[p.Platform]; dup {
			return nil, &PolicyError{Index: i, Key: "platform", Problem: fmt.Sprintf("platform %q already has a policy (entry %d)", p.Platform, first)}
		}
		seen[p.Platform] = i
		out = append(out, p)
	}
	return out, nil
}

func parsePolicy(i int, raw json.RawMessage) (Policy, error) {
	members, err := objectMembers(raw)
	if err != nil {
		return Policy{}, &PolicyError{Index: i, Problem: err.Error()}
	}
	p := Policy{FreeResponseScopes: []string{}}
	hasPlatform := false
	for _, m := range members {
		bad := func(problem string) error { return &PolicyError{Index: i, Key: m.key, Problem: problem} }
		if isNull(m.value) {
			return Policy{}, bad("null is not allowed")
		}
		switch m.key {
		case "platform":
			if json.Unmarshal(m.value, &p.Platform) != nil {
				return Policy{}, bad("want a string")
			}
			if !policyPlatform.MatchString(p.Platform) {
				return Policy{}, bad("want a lower-case platform name, e.g. discord")
			}
			hasPlatform = true
		case "requireAddress":
			if json.Unmarshal(m.value, &p.RequireAddress) != nil {
				return Policy{}, bad("want true or false")
			}
		case "allowOtherBots":
			if json.Unmarshal(m.value, &p.AllowOtherBots) != nil {
				return Policy{}, bad("want true or false")
			}
		case "freeResponseScopes":
			var scopes []string
			if json.Unmarshal(m.value, &scopes) != nil || scopes == nil {
				return Policy{}, bad("want an array of strings")
			}
			for _, s := range scopes {
				if strings.TrimSpace(s) == "" {
					return Policy{}, bad("a scope id is empty")
				}
			}
			p.FreeResponseScopes = scopes
		default:
			return Policy{}, bad("unknown key (want platform, requireAddress, freeResponseScopes, allowOtherBots)")
		}
	}
	if !hasPlatform {
		return Policy{}, &PolicyError{Index: i, Key: "platform", Problem: "missing"}
	}
	return p, nil
}

// PostPolicies posts every policy in order with PostPolicy, minting a
// fresh bearer for each with mint (the upgrade token lives five minutes),
// and returns the ones that failed; a failure never stops the others.
func PostPolicies(ctx context.Context, c *Client, mint func() string, ps []Policy) []PlatformFailure {
	var failures []PlatformFailure
	for _, p := range ps {
		if err := PostPolicy(ctx, c, mint(), p); err != nil {
			failures = append(failures, PlatformFailure{Platform: p.Platform, Err: err})
		}
	}
	return failures
}
