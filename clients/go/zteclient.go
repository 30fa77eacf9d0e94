// Package zteclient is the Go client of the zero-trust order events services: generated
// stubs under gen/ (orders.v1, payments.v1, events.v1; see generate.sh), a user token from
// the authorization server, the event payload hash, and EventVerifier (verify.go), which
// checks a Kafka record the way Payments does and gives its reason names.
package zteclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/grpc/metadata"
)

// PayloadHash is the lowercase hex SHA-256 of payload: the event_payload_hash claim. Hash
// the bytes exactly as they travel; never re-encode a decoded message to compare.
func PayloadHash(payload []byte) string {
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:])
}

// PasswordGrant is a demo user's password grant at the token endpoint `{Issuer}/token`.
type PasswordGrant struct {
	Issuer   string
	ClientID string // e.g. "demo-cli"
	Username string
	Password string
	Scope    string // e.g. "orders payments"
}

// tokenResponse is the RFC 6749 §5.1 success body (fields we use) or §5.2 error body.
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// Token gets a user access token.
func (g PasswordGrant) Token(ctx context.Context, client *http.Client) (string, error) {
	form := url.Values{
		"grant_type": {"password"},
		"client_id":  {g.ClientID},
		"username":   {g.Username},
		"password":   {g.Password},
		"scope":      {g.Scope},
	}
	endpoint := strings.TrimRight(g.Issuer, "/") + "/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("token endpoint %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	var body tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("token endpoint %s: status %d, unreadable body: %w", endpoint, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("token endpoint %s: status %d: %s %s", endpoint, resp.StatusCode, body.Error, body.ErrorDescription)
	}
	return body.AccessToken, nil
}

// WithBearer returns ctx carrying `authorization: Bearer <token>` gRPC metadata.
func WithBearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}
