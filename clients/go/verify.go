package zteclient

// EventVerifier checks one OrderCreated Kafka record the way Payments does, in Payments'
// order, and names the first failure with Payments' reason (its dead-letter header), so every
// language gives the same answer for the same record (proto/testdata/
// event_verification_cases.json proves it case by case):
//
//  1. size (oversized_record); envelope (malformed_envelope, unexpected_event_type);
//  2. token header, untrusted: alg on the allow-list before any key lookup
//     (disallowed_algorithm), no crit (malformed_token), typ at+jwt (wrong_token_type), a kid
//     (missing_kid) found in the JWKS (unknown_key);
//  3. signature with that key, which verifies only its own algorithm (bad_signature); iss
//     exact, exp/nbf with leeway, aud (wrong_issuer, token_expired, token_not_yet_valid,
//     wrong_audience);
//  4. scope trigger_payments, trusted act.sub (insufficient_scope, untrusted_producer);
//  5. SHA-256 of the payload bytes as received = event_payload_hash (payload_hash_mismatch),
//     decode (malformed_payload), order id = claim = record key (transaction_mismatch),
//     user_id = sub (subject_mismatch), items add up without overflow (amount_mismatch).
//
// go-jose verifies the signatures; the JWS parsing around it is strict on purpose.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/zte/clients/go/gen/events/v1"
)

const (
	// OrderCreatedType is EventEnvelope.event_type of an OrderCreated.
	OrderCreatedType = "events.v1.OrderCreated"
	// EventScope is the only scope of an event token.
	EventScope    = "trigger_payments"
	maxTokenBytes = 16 * 1024
)

// DefaultAllowedAlgorithms is the signature allow-list: ES256 and PS256, nothing else.
var DefaultAllowedAlgorithms = []string{"ES256", "PS256"}

const hexDigit = `[0-9a-fA-F]`

var (
	hyphenated = fmt.Sprintf(`%[1]s{8}-%[1]s{4}-%[1]s{4}-%[1]s{4}-%[1]s{12}`, hexDigit)
	// The forms Payments' UUID parser accepts: simple, hyphenated, braced, URN.
	uuidPattern = regexp.MustCompile(fmt.Sprintf(`^(?:%s{32}|%[2]s|\{%[2]s\}|urn:uuid:%[2]s)$`, hexDigit, hyphenated))
	b64url      = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)
)

// VerifierSettings is what a record is checked against.
type VerifierSettings struct {
	Issuer            string
	Audience          string   // e.g. "payments-service"
	TrustedProducers  []string // client ids allowed as act.sub, e.g. "orders-service"
	AllowedAlgorithms []string // nil means DefaultAllowedAlgorithms
	Leeway            time.Duration
	MaxRecordBytes    int
}

// Rejection says why a record must not be acted on; Reason is Payments' reason name.
type Rejection struct {
	Reason string
	Detail string
}

func (r *Rejection) Error() string {
	if r.Detail == "" {
		return r.Reason
	}
	return r.Reason + ": " + r.Detail
}

func reject(reason, detail string) error { return &Rejection{Reason: reason, Detail: detail} }

// VerifiedEvent is a record whose token, hash and claims all checked out.
type VerifiedEvent struct {
	Order       *eventsv1.OrderCreated
	Claims      map[string]any
	PayloadHash string
}

type usableKey struct {
	alg jose.SignatureAlgorithm
	key any
}

// EventVerifier verifies records against a fixed JWK Set.
type EventVerifier struct {
	settings VerifierSettings
	keys     map[string]usableKey
}

// NewEventVerifier keeps the JWKS keys usable for signatures, as Payments does: keys without
// a kid, with a use other than sig, an alg not matching the key type, RSA under 2048 bits,
// EC on a curve other than P-256, or an algorithm off the allow-list are skipped.
func NewEventVerifier(jwks []byte, settings VerifierSettings) (*EventVerifier, error) {
	if settings.AllowedAlgorithms == nil {
		settings.AllowedAlgorithms = DefaultAllowedAlgorithms
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	keys := map[string]usableKey{}
	for _, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil || jwk.KeyID == "" || !jwk.IsPublic() {
			continue
		}
		if jwk.Use != "" && jwk.Use != "sig" {
			continue
		}
		var alg string
		switch k := jwk.Key.(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < 2048 {
				continue
			}
			alg = "PS256"
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				continue
			}
			alg = "ES256"
		default:
			continue
		}
		if (jwk.Algorithm != "" && jwk.Algorithm != alg) || !slices.Contains(settings.AllowedAlgorithms, alg) {
			continue
		}
		keys[jwk.KeyID] = usableKey{alg: jose.SignatureAlgorithm(alg), key: jwk.Key}
	}
	return &EventVerifier{settings: settings, keys: keys}, nil
}

// Verify runs every check on one record (key and value as received; a nil key is a record
// without a key) at the time now.
func (v *EventVerifier) Verify(key, value []byte, now time.Time) (*VerifiedEvent, error) {
	if len(value)+len(key) > v.settings.MaxRecordBytes {
		return nil, reject("oversized_record", strconv.Itoa(len(value)+len(key))+" bytes")
	}
	if len(value) == 0 {
		return nil, reject("malformed_envelope", "empty record value")
	}
	var envelope eventsv1.EventEnvelope
	if err := proto.Unmarshal(value, &envelope); err != nil {
		return nil, reject("malformed_envelope", err.Error())
	}
	if envelope.EventType != OrderCreatedType {
		return nil, reject("unexpected_event_type", truncate(envelope.EventType, 80))
	}
	claims, err := v.ValidateToken(envelope.AccessToken, now)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(strings.Split(claims.Scope, " "), EventScope) {
		return nil, reject("insufficient_scope", "")
	}
	if claims.Act == nil || !slices.Contains(v.settings.TrustedProducers, claims.Act.Sub) {
		return nil, reject("untrusted_producer", "")
	}
	// Hash the bytes exactly as received, before decoding them.
	digest := PayloadHash(envelope.Payload)
	if subtle.ConstantTimeCompare([]byte(digest), []byte(claims.EventPayloadHash)) != 1 {
		return nil, reject("payload_hash_mismatch", "")
	}
	var order eventsv1.OrderCreated
	if err := proto.Unmarshal(envelope.Payload, &order); err != nil {
		return nil, reject("malformed_payload", err.Error())
	}
	id := order.GetOrderTransactionId()
	if !uuidPattern.MatchString(id) {
		return nil, reject("malformed_payload", "order_transaction_id is not a UUID")
	}
	if claims.OrderTransactionID != id {
		return nil, reject("transaction_mismatch", "payload and token claim differ")
	}
	if key == nil || !bytes.Equal(key, []byte(id)) {
		return nil, reject("transaction_mismatch", "payload and record key differ")
	}
	if order.GetUserId() != claims.Sub {
		return nil, reject("subject_mismatch", "")
	}
	if total, ok := itemsTotal(order.GetItems()); !ok || len(order.GetItems()) == 0 || order.GetTotalMinor() <= 0 || total != order.GetTotalMinor() {
		return nil, reject("amount_mismatch", "")
	}
	return &VerifiedEvent{Order: &order, Claims: claims.All, PayloadHash: digest}, nil
}

// itemsTotal is the sum of quantity * unit price in int64; false on overflow or a negative
// price.
func itemsTotal(items []*eventsv1.OrderItem) (int64, bool) {
	var total uint64
	for _, item := range items {
		if item.GetUnitPriceMinor() < 0 {
			return 0, false
		}
		hi, line := bits.Mul64(uint64(item.GetQuantity()), uint64(item.GetUnitPriceMinor()))
		sum, carry := bits.Add64(total, line, 0)
		if hi != 0 || carry != 0 || line > math.MaxInt64 || sum > math.MaxInt64 {
			return 0, false
		}
		total = sum
	}
	return int64(total), true
}

// Claims are the members of an access token Payments reads, plus the whole claim set.
type Claims struct {
	Iss, Sub, Jti, Scope, ClientID string
	Aud                            []string
	Exp, Nbf, Iat                  int64
	Act                            *struct{ Sub string }
	OrderTransactionID             string
	EventPayloadHash               string
	All                            map[string]any
}

// header is the JOSE header as sent, read member by member (encoding/json would match
// struct fields case-insensitively: `ALG` is not `alg`).
type header struct {
	Alg, Typ, Kid *string
	HasCrit       bool
}

func parseHeader(part string) (*header, error) {
	raw, err := decodePart(part)
	if err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, err
	}
	h := &header{}
	for name, target := range map[string]**string{"alg": &h.Alg, "typ": &h.Typ, "kid": &h.Kid} {
		if value, ok := members[name]; ok {
			if err := json.Unmarshal(value, target); err != nil {
				return nil, fmt.Errorf("%s is not a string", name)
			}
		}
	}
	crit, ok := members["crit"]
	h.HasCrit = ok && string(crit) != "null"
	return h, nil
}

// ValidateToken checks an access token's header, key, signature, issuer, lifetime and
// audience.
func (v *EventVerifier) ValidateToken(token string, now time.Time) (*Claims, error) {
	if len(token) > maxTokenBytes {
		return nil, reject("malformed_token", "too long")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, reject("malformed_token", "not three dot-separated parts")
	}
	h, err := parseHeader(parts[0])
	if err != nil || h.Alg == nil {
		return nil, reject("malformed_token", "header is not a JSON object with an alg")
	}
	alg := *h.Alg
	if !slices.Contains(v.settings.AllowedAlgorithms, alg) {
		return nil, reject("disallowed_algorithm", alg)
	}
	if h.HasCrit {
		return nil, reject("malformed_token", "unsupported crit header")
	}
	if h.Typ == nil || (!strings.EqualFold(*h.Typ, "at+jwt") && !strings.EqualFold(*h.Typ, "application/at+jwt")) {
		return nil, reject("wrong_token_type", "")
	}
	if h.Kid == nil {
		return nil, reject("missing_kid", "")
	}
	key, ok := v.keys[*h.Kid]
	if !ok {
		return nil, reject("unknown_key", *h.Kid)
	}
	if string(key.alg) != alg {
		return nil, reject("bad_signature", "the key is for "+string(key.alg))
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{key.alg})
	if err != nil {
		return nil, reject("malformed_token", err.Error())
	}
	payload, err := jws.Verify(key.key)
	if err != nil {
		return nil, reject("bad_signature", "")
	}
	claims, err := parseClaims(payload)
	if err != nil {
		return nil, reject("malformed_token", err.Error())
	}
	leeway := int64(v.settings.Leeway / time.Second)
	unix := now.Unix()
	switch {
	case claims.Iss != v.settings.Issuer:
		return nil, reject("wrong_issuer", claims.Iss)
	case unix > claims.Exp+leeway:
		return nil, reject("token_expired", "")
	case unix+leeway < claims.Nbf:
		return nil, reject("token_not_yet_valid", "")
	case !slices.Contains(claims.Aud, v.settings.Audience):
		return nil, reject("wrong_audience", "")
	}
	return claims, nil
}

// decodePart is strict unpadded base64url, as RFC 7515 requires.
func decodePart(part string) ([]byte, error) {
	if !b64url.MatchString(part) {
		return nil, fmt.Errorf("not base64url")
	}
	return base64.RawURLEncoding.DecodeString(part)
}

// parseClaims reads the claim set Payments deserializes: required members with their JSON
// types (integers for the times, a string or an array of strings for aud).
func parseClaims(payload []byte) (*Claims, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(payload, &members); err != nil {
		return nil, fmt.Errorf("claims are not a JSON object")
	}
	c := &Claims{}
	for name, target := range map[string]*string{"iss": &c.Iss, "sub": &c.Sub, "jti": &c.Jti, "scope": &c.Scope, "client_id": &c.ClientID} {
		if err := json.Unmarshal(members[name], target); err != nil || members[name] == nil || string(members[name]) == "null" {
			return nil, fmt.Errorf("claim %s is not a string", name)
		}
	}
	for name, target := range map[string]*int64{"exp": &c.Exp, "nbf": &c.Nbf, "iat": &c.Iat} {
		n, err := strconv.ParseInt(string(members[name]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("claim %s is not an integer", name)
		}
		*target = n
	}
	var one string
	if err := json.Unmarshal(members["aud"], &one); err == nil && string(members["aud"]) != "null" {
		c.Aud = []string{one}
	} else if err := json.Unmarshal(members["aud"], &c.Aud); err != nil || c.Aud == nil {
		return nil, fmt.Errorf("claim aud is not a string or an array of strings")
	}
	if raw, ok := members["act"]; ok && string(raw) != "null" {
		var act struct {
			Sub *string `json:"sub"`
		}
		if err := json.Unmarshal(raw, &act); err != nil || act.Sub == nil {
			return nil, fmt.Errorf("claim act has no sub")
		}
		c.Act = &struct{ Sub string }{Sub: *act.Sub}
	}
	for name, target := range map[string]*string{"order_transaction_id": &c.OrderTransactionID, "event_payload_hash": &c.EventPayloadHash} {
		if raw, ok := members[name]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, target); err != nil {
				return nil, fmt.Errorf("claim %s is not a string", name)
			}
		}
	}
	if err := json.Unmarshal(payload, &c.All); err != nil {
		return nil, err
	}
	return c, nil
}

func truncate(s string, n int) string {
	runes := []rune(s)
	if len(runes) > n {
		return string(runes[:n])
	}
	return s
}
