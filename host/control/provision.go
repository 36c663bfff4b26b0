package control

import (
	"context"
	"strings"
)

// ProvisionRequest is what a hosted gateway sends to self-provision one
// fronted platform.
type ProvisionRequest struct {
	GatewayID string
	Platform  string
	BotID     string // may be empty
	// InstanceID binds the gateway id to a hosting instance; omitted from
	// the request when empty.
	InstanceID string
	// WakeURL is where the connector sends a payload-free GET to wake a
	// dormant gateway; omitted from the request when empty.
	WakeURL string
}

// provisionBody is the wire form of a provision request. gatewayEndpoint
// is a legacy field the connector ignores and routeKeys is always empty:
// relay-host receives everything over the link it dials.
type provisionBody struct {
	GatewayID       string   `json:"gatewayId"`
	Platform        string   `json:"platform"`
	BotID           string   `json:"botId"`
	GatewayEndpoint string   `json:"gatewayEndpoint"`
	RouteKeys       []string `json:"routeKeys"`
	InstanceID      string   `json:"instanceId,omitempty"`
	WakeURL         string   `json:"wakeUrl,omitempty"`
}

// ProvisionResult is one provision answer.
type ProvisionResult struct {
	// SecretIssued is false when the connector withheld the secret (it
	// does on replays and for every platform after the first): normal,
	// and Credentials then holds no secret.
	SecretIssued bool
	// Credentials are the issued credentials (Connector, GatewayID,
	// Tenant, and Secret and DeliveryKey when issued, WakeURL as sent).
	Credentials Credentials
	// RouteKeys are the route keys the connector reports.
	RouteKeys []string
}

// Provision provisions one platform: POST {base}/relay/provision with
// {"gatewayId","platform","botId","gatewayEndpoint":"","routeKeys":[]}
// plus "instanceId" and "wakeUrl" when set, and the caller identity as
// bearer. An answer with a secret issues credentials; one with
// "secretIssued": false and no secret is normal (SecretIssued false); one
// with neither is a ResponseError.
func Provision(ctx context.Context, c *Client, req ProvisionRequest) (ProvisionResult, error) {
	if err := checkProvision(req); err != nil {
		return ProvisionResult{}, err
	}
	bearer, err := c.bearer(ctx, ProvisionPath)
	if err != nil {
		return ProvisionResult{}, err
	}
	return provision(ctx, c, bearer, req)
}

func checkProvision(req ProvisionRequest) error {
	switch {
	case strings.TrimSpace(req.GatewayID) == "":
		return &fieldError{ProvisionPath, "gateway id"}
	case strings.TrimSpace(req.Platform) == "":
		return &fieldError{ProvisionPath, "platform"}
	}
	return nil
}

// provision is Provision with the bearer already fetched.
func provision(ctx context.Context, c *Client, bearer string, req ProvisionRequest) (ProvisionResult, error) {
	body := provisionBody{
		GatewayID:       req.GatewayID,
		Platform:        req.Platform,
		BotID:           req.BotID,
		GatewayEndpoint: "",
		RouteKeys:       []string{},
		InstanceID:      req.InstanceID,
		WakeURL:         req.WakeURL,
	}
	a, err := c.post(ctx, ProvisionPath, bearer, body)
	if err != nil {
		return ProvisionResult{}, err
	}
	ans, err := decodeIssued(ProvisionPath, a)
	if err != nil {
		return ProvisionResult{}, err
	}
	res := ProvisionResult{RouteKeys: ans.RouteKeys}
	switch {
	case ans.Secret != "":
		res.SecretIssued = true
		res.Credentials = c.credentials(ans, req.GatewayID)
	case ans.SecretIssued == nil:
		return ProvisionResult{}, &ResponseError{Endpoint: ProvisionPath, Status: a.status, Problem: "neither secret nor secretIssued"}
	case *ans.SecretIssued:
		return ProvisionResult{}, &ResponseError{Endpoint: ProvisionPath, Status: a.status, Problem: "secretIssued is true but there is no secret"}
	default:
		res.Credentials = c.credentials(ans, req.GatewayID)
		res.Credentials.Secret, res.Credentials.DeliveryKey = "", ""
	}
	res.Credentials.WakeURL = req.WakeURL
	return res, nil
}

// Identity is one platform identity a gateway fronts.
type Identity struct {
	Platform string
	BotID    string
}

// PlatformFailure is one platform that could not be provisioned.
type PlatformFailure struct {
	Platform string
	Err      error
}

// Error describes the failure.
func (f PlatformFailure) Error() string { return "provision " + f.Platform + ": " + f.Err.Error() }

// Unwrap returns the failure's cause.
func (f PlatformFailure) Unwrap() error { return f.Err }

// ProvisionAll provisions every identity in order with the same gateway
// id, instance id and wake URL (req's Platform and BotID are ignored), the
// caller identity token fetched once. The first answer carrying a secret
// sets the credentials; a later one, or a withheld secret, never replaces
// them. A platform that fails is recorded and the loop goes on: the
// returned credentials have no Secret when no answer issued one.
func ProvisionAll(ctx context.Context, c *Client, req ProvisionRequest, identities []Identity) (Credentials, []PlatformFailure) {
	var creds Credentials
	var failures []PlatformFailure
	fail := func(platform string, err error) {
		failures = append(failures, PlatformFailure{Platform: platform, Err: err})
	}
	var bearer string
	var bearerErr error
	if len(identities) > 0 {
		bearer, bearerErr = c.bearer(ctx, ProvisionPath)
	}
	for _, id := range identities {
		r := req
		r.Platform, r.BotID = id.Platform, id.BotID
		if err := checkProvision(r); err != nil {
			fail(id.Platform, err)
			continue
		}
		if bearerErr != nil {
			fail(id.Platform, bearerErr)
			continue
		}
		res, err := provision(ctx, c, bearer, r)
		if err != nil {
			fail(id.Platform, err)
			continue
		}
		if res.SecretIssued && creds.Secret == "" {
			creds = res.Credentials
		}
	}
	return creds, failures
}
