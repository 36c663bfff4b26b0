package agent

import "fmt"

// Errors of this package carry the facts; cmd/relay-host adds what to do
// (which flag to fix). Every error an agent returns starts with its name:
// "webhook agent: ", "stdout agent: ".

// URLError says the webhook agent's endpoint URL is not usable: it must be
// an absolute http:// or https:// URL.
type URLError struct {
	// URL is the URL as given.
	URL string
}

// Error states the facts.
func (e *URLError) Error() string {
	return fmt.Sprintf("webhook agent: endpoint %q is not an absolute http:// or https:// URL", e.URL)
}
