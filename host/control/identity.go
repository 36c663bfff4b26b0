package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// MaxSecretFileBytes caps how much of a token or client-secret file is
// read. Caller identity tokens are JWTs of a few KiB at most; 64 KiB is far
// above that and keeps a wrong path (a log, a device) from being slurped.
const MaxSecretFileBytes = 64 << 10

// TokenSource supplies the caller identity token: the bearer that proves
// the caller's tenant to the connector's enroll and provision endpoints.
type TokenSource interface {
	// Token returns the current token. It is called once per exchange
	// (once per ProvisionAll), so a source may rotate.
	Token(ctx context.Context) (string, error)
}

// ErrNoIdentity is returned by enroll and provision when the Client has no
// caller identity.
var ErrNoIdentity = errors.New("no caller identity configured")

// ErrEmptyFile is the cause of a FileError for a file that holds nothing
// but whitespace.
var ErrEmptyFile = errors.New("empty")

// ErrInsecureFile is the cause of a FileError for a secret-bearing file
// that group or others may access.
var ErrInsecureFile = errors.New("readable by group or others")

// FileError is a problem with a file this package reads or writes. It
// never carries the file's content.
type FileError struct {
	What    string // "token file", "client secret file", "credentials file", …
	Path    string
	Problem string // what is wrong, with the fix when there is one
	Err     error  // the cause: an fs error or one of this package's sentinels
}

// Error describes the failure.
func (e *FileError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.What, e.Path, e.Problem)
}

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// ReadSecretFile reads a file holding one secret value (a token, a client
// secret): it refuses a file that group or others may access, reads at most
// MaxSecretFileBytes, trims surrounding whitespace and refuses an empty
// result. what names the file in errors ("token file").
func ReadSecretFile(what, path string) (string, error) {
	data, err := readPrivateFile(what, path, MaxSecretFileBytes)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", &FileError{What: what, Path: path, Problem: "is empty", Err: ErrEmptyFile}
	}
	return s, nil
}

// readPrivateFile opens path, checks on the open file that only its owner
// may access it, and reads at most limit bytes (more is an error).
func readPrivateFile(what, path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{What: what, Path: path, Problem: fsProblem(err), Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &FileError{What: what, Path: path, Problem: fsProblem(err), Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, &FileError{What: what, Path: path, Problem: "is not a regular file", Err: os.ErrInvalid}
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, &FileError{What: what, Path: path, Err: ErrInsecureFile,
			Problem: fmt.Sprintf("mode %04o lets group or others read it; chmod 600 %s", perm, path)}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &FileError{What: what, Path: path, Problem: fsProblem(err), Err: err}
	}
	if int64(len(data)) > limit {
		return nil, &FileError{What: what, Path: path, Problem: fmt.Sprintf("is larger than %d bytes", limit), Err: os.ErrInvalid}
	}
	return data, nil
}

// fsProblem words a file-system error without repeating the path.
func fsProblem(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "does not exist"
	case errors.Is(err, os.ErrPermission):
		return "cannot be read (permission denied)"
	}
	return err.Error()
}

// FileTokenSource reads the caller identity token from a file on every
// call, so whatever issues it may rotate it in place.
type FileTokenSource struct {
	Path string
}

// FileToken returns a TokenSource that reads the token from path (see
// ReadSecretFile for the rules).
func FileToken(path string) *FileTokenSource { return &FileTokenSource{Path: path} }

// Token reads and returns the token.
func (s *FileTokenSource) Token(context.Context) (string, error) {
	return ReadSecretFile("caller token file", s.Path)
}

// ClientCredentialsSource fetches the caller identity token from an OAuth2
// / OIDC token endpoint with the client-credentials grant: a form POST of
// grant_type=client_credentials, client_id, client_secret and, when set,
// scope; the token is the answer's access_token.
type ClientCredentialsSource struct {
	config *clientcredentials.Config
	// HTTP sends the token request; it never follows redirects.
	HTTP *http.Client
	// Timeout bounds one token request; 0 means DefaultTimeout.
	Timeout time.Duration
}

// ClientCredentials returns a source that fetches a token from tokenURL
// for clientID / clientSecret, asking for scope when it is not empty
// (space-separated scopes are sent as one scope parameter).
func ClientCredentials(tokenURL, clientID, clientSecret, scope string) *ClientCredentialsSource {
	cfg := &clientcredentials.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		TokenURL:     tokenURL,
		// The client id and secret travel as form fields, not as HTTP
		// Basic auth (docs/operating.md, Enrolling).
		AuthStyle: oauth2.AuthStyleInParams,
	}
	if s := strings.TrimSpace(scope); s != "" {
		cfg.Scopes = []string{s}
	}
	return &ClientCredentialsSource{config: cfg, HTTP: NewHTTPClient()}
}

// IdPError is a failure to get a token from the identity provider.
type IdPError struct {
	TokenURL string
	Status   int           // the provider's HTTP status, 0 when it gave none
	Code     string        // the OAuth2 "error" code, clipped
	Detail   string        // the OAuth2 "error_description", clipped
	Timeout  time.Duration // set when the request ran out of time
	Problem  string        // what else went wrong
	Err      error
}

// Error describes the failure.
func (e *IdPError) Error() string {
	msg := "identity provider " + e.TokenURL
	switch {
	case e.Status != 0:
		msg += " answered " + statusText(e.Status)
		if e.Code != "" {
			msg += ": " + e.Code
		}
		if e.Detail != "" {
			msg += ": " + e.Detail
		}
	case e.Timeout > 0:
		msg += fmt.Sprintf(": no answer within %s", e.Timeout)
	default:
		msg += ": " + e.Problem
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *IdPError) Unwrap() error { return e.Err }

// Is reports ErrTimeout for a request that ran out of time.
func (e *IdPError) Is(target error) bool { return target == ErrTimeout && e.Timeout > 0 }

// Token fetches a fresh token.
func (s *ClientCredentialsSource) Token(ctx context.Context) (string, error) {
	tokenURL := s.config.TokenURL
	if u, err := url.Parse(tokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", &IdPError{TokenURL: tokenURL, Problem: "the token URL is not an absolute http(s) URL", Err: os.ErrInvalid}
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errExchangeTimeout)
	defer cancel()
	hc := s.HTTP
	if hc == nil {
		hc = NewHTTPClient()
	}
	tok, err := s.config.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
	if err != nil {
		return "", idpError(ctx, tokenURL, timeout, err)
	}
	access := strings.TrimSpace(tok.AccessToken)
	if access == "" {
		return "", &IdPError{TokenURL: tokenURL, Problem: "the answer has no access_token"}
	}
	return access, nil
}

// idpError classifies a failed token request without ever echoing the
// provider's raw answer.
func idpError(ctx context.Context, tokenURL string, timeout time.Duration, err error) error {
	var re *oauth2.RetrieveError
	var ue *url.Error
	var ne net.Error
	cause := context.Cause(ctx)
	switch {
	case errors.As(err, &re) && re.Response != nil:
		return &IdPError{TokenURL: tokenURL, Status: re.Response.StatusCode, Code: clip(re.ErrorCode), Detail: clip(re.ErrorDescription), Err: err}
	case errors.Is(cause, errExchangeTimeout):
		return &IdPError{TokenURL: tokenURL, Timeout: timeout, Err: err}
	case cause != nil:
		return fmt.Errorf("identity provider %s: %w", tokenURL, cause)
	case errors.As(err, &ne) && ne.Timeout():
		return &IdPError{TokenURL: tokenURL, Timeout: timeout, Err: err}
	case errors.As(err, &ue):
		return &IdPError{TokenURL: tokenURL, Problem: ue.Err.Error(), Err: err}
	}
	// The oauth2 package's own messages (an answer it cannot parse, one
	// without access_token) name no secret and quote no body.
	return &IdPError{TokenURL: tokenURL, Problem: strings.TrimPrefix(err.Error(), "oauth2: "), Err: err}
}
