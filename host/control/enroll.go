package control

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
)

// EnrollRequest is what a self-hosted gateway sends to enroll.
type EnrollRequest struct {
	// EnrollmentToken is the single-use token the connector's operator
	// issued for this tenant.
	EnrollmentToken string
	// GatewayID is the id to enroll under (relay-host's default is
	// "gw-<hostname>").
	GatewayID string
}

// enrollBody is the wire form of an enroll request.
type enrollBody struct {
	EnrollmentToken string `json:"enrollmentToken"`
	GatewayID       string `json:"gatewayId"`
}

// issuedCredentials is an enroll or provision answer:
// {secret, deliveryKey, tenant, gatewayId, routeKeys, secretIssued}.
type issuedCredentials struct {
	Secret       string
	DeliveryKey  string
	Tenant       string
	GatewayID    string
	RouteKeys    []string
	SecretIssued *bool
}

// decodeIssued reads a 2xx enroll or provision answer. It must be a JSON
// object; "secret" must be a string and "secretIssued" a boolean when
// present, since they decide the outcome. The other fields only inform: one
// of an unexpected type is left empty rather than failing an exchange that
// may already have spent a single-use enrollment token.
func decodeIssued(endpoint string, a answer) (issuedCredentials, error) {
	raw, err := decodeObject(endpoint, a)
	if err != nil {
		return issuedCredentials{}, err
	}
	var ans issuedCredentials
	if v, ok := raw["secret"]; ok && !isNull(v) {
		if json.Unmarshal(v, &ans.Secret) != nil {
			return issuedCredentials{}, &ResponseError{Endpoint: endpoint, Status: a.status, Problem: `field "secret" is not a string`}
		}
	}
	if v, ok := raw["secretIssued"]; ok && !isNull(v) {
		var issued bool
		if json.Unmarshal(v, &issued) != nil {
			return issuedCredentials{}, &ResponseError{Endpoint: endpoint, Status: a.status, Problem: `field "secretIssued" is not a boolean`}
		}
		ans.SecretIssued = &issued
	}
	for key, dst := range map[string]*string{"deliveryKey": &ans.DeliveryKey, "tenant": &ans.Tenant, "gatewayId": &ans.GatewayID} {
		if v, ok := raw[key]; ok && json.Unmarshal(v, dst) != nil {
			*dst = ""
		}
	}
	if v, ok := raw["routeKeys"]; ok && json.Unmarshal(v, &ans.RouteKeys) != nil {
		ans.RouteKeys = nil
	}
	return ans, nil
}

// ErrEmptyField is returned for a request without a field it needs.
var ErrEmptyField = errors.New("required field is empty")

// Enroll exchanges a single-use enrollment token for this gateway's
// credentials: POST {base}/relay/enroll with {"enrollmentToken","gatewayId"}
// and the caller identity as bearer. A 2xx answer must carry a secret. The
// credentials returned hold c.Connector, the answer's gatewayId (the
// requested one when the answer has none), secret, deliveryKey and tenant;
// the caller adds WakeURL. A 401 is a StatusError wrapping
// ErrCallerRejected, a 403 one wrapping ErrEnrollmentTokenRefused.
func Enroll(ctx context.Context, c *Client, req EnrollRequest) (Credentials, error) {
	switch {
	case strings.TrimSpace(req.EnrollmentToken) == "":
		return Credentials{}, &fieldError{EnrollPath, "enrollment token"}
	case strings.TrimSpace(req.GatewayID) == "":
		return Credentials{}, &fieldError{EnrollPath, "gateway id"}
	}
	bearer, err := c.bearer(ctx, EnrollPath)
	if err != nil {
		return Credentials{}, err
	}
	a, err := c.post(ctx, EnrollPath, bearer, enrollBody{EnrollmentToken: req.EnrollmentToken, GatewayID: req.GatewayID})
	if err != nil {
		return Credentials{}, err
	}
	ans, err := decodeIssued(EnrollPath, a)
	if err != nil {
		return Credentials{}, err
	}
	if ans.Secret == "" {
		return Credentials{}, &ResponseError{Endpoint: EnrollPath, Status: a.status, Problem: "no secret"}
	}
	return c.credentials(ans, req.GatewayID), nil
}

// credentials builds Credentials from an answer that carries a secret.
func (c *Client) credentials(ans issuedCredentials, requestedID string) Credentials {
	id := ans.GatewayID
	if id == "" {
		id = requestedID
	}
	return Credentials{
		Connector:   c.Connector,
		GatewayID:   id,
		Secret:      ans.Secret,
		DeliveryKey: ans.DeliveryKey,
		Tenant:      ans.Tenant,
	}
}

// fieldError is a request refused before sending for a missing field.
type fieldError struct {
	endpoint, field string
}

// Error describes the failure.
func (e *fieldError) Error() string { return e.endpoint + ": the " + e.field + " is empty" }

// Unwrap returns the cause.
func (e *fieldError) Unwrap() error { return ErrEmptyField }
