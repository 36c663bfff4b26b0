package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// UpgradeTokenTTL is the lifetime of an upgrade bearer token: the reference
// gateway's make_upgrade_token uses ttl = 300 s (docs/protocol.md, Upgrade
// token).
const UpgradeTokenTTL = 300 * time.Second

// MakeToken returns the bearer token for payload signed with secret and
// expiring at exp (unix seconds; 0 means it never expires), per
// docs/protocol.md, Upgrade token: base64url-without-padding of
// "payload:exp:hex(HMAC-SHA256(secret, "payload:exp"))". The secret is used
// as its literal UTF-8 bytes, never hex-decoded.
func MakeToken(payload, secret string, exp int64) string {
	signed := payload + ":" + strconv.FormatInt(exp, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(signed + ":" + signHex(secret, signed)))
}

// MakeUpgradeToken returns a fresh upgrade bearer for gatewayID, valid for
// UpgradeTokenTTL from now (exp = floor(now) + 300). A new one is minted on
// every dial.
func MakeUpgradeToken(gatewayID, secret string, now time.Time) string {
	return MakeToken(gatewayID, secret, now.Unix()+int64(UpgradeTokenTTL/time.Second))
}

// VerifyToken checks token against every secret in the rotation list (primary
// first) and returns its payload when one of them signed it and it has not
// expired at now. A token is still valid at now == exp; exp 0 never expires.
// The payload may contain colons. Empty secrets in the list are skipped, so
// an unset secondary can never verify anything. Comparison is constant-time.
func VerifyToken(token string, secrets []string, now time.Time) (payload string, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(token, "="))
	if err != nil || !utf8.Valid(raw) {
		return "", false
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", false
	}
	sig, rest := s[i+1:], s[:i]
	j := strings.LastIndexByte(rest, ':')
	if j < 0 {
		return "", false
	}
	payload = rest[:j]
	exp, err := strconv.ParseInt(rest[j+1:], 10, 64)
	if err != nil {
		return "", false
	}
	if exp != 0 && expired(now, exp) {
		return "", false
	}
	// The reference verifier re-renders the parsed exp before signing, so
	// "0005" is checked as "5"; do the same.
	signed := payload + ":" + strconv.FormatInt(exp, 10)
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		if hmac.Equal([]byte(signHex(secret, signed)), []byte(sig)) {
			return payload, true
		}
	}
	return "", false
}

// signHex is the lowercase hex HMAC-SHA256 of msg under secret's UTF-8 bytes.
func signHex(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// expired reports now > exp with sub-second precision (the reference
// compares a float clock against the integer exp), in integer seconds so
// that no exp, however extreme, overflows a time.Time.
func expired(now time.Time, exp int64) bool {
	sec := now.Unix()
	return sec > exp || (sec == exp && now.Nanosecond() > 0)
}
