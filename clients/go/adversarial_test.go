package zteclient_test

// The shared adversarial cases (proto/testdata/event_verification_cases.json) in Go: each
// case is a Kafka record with the JWKS and settings to verify it against, and the Go
// EventVerifier must end it exactly as Payments does (Rust runs the same file through the
// real verifier): accepted, or refused with the same reason name.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	zteclient "github.com/zte/clients/go"
)

type caseFile struct {
	Reasons []string          `json:"reasons"`
	Cases   []adversarialCase `json:"cases"`
}

type adversarialCase struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Expect      string `json:"expect"`
	Record      struct {
		Key      *string `json:"key"`
		ValueB64 string  `json:"value_b64"`
	} `json:"record"`
	JWKS     json.RawMessage `json:"jwks"`
	Settings struct {
		Issuer           string   `json:"issuer"`
		Audience         string   `json:"audience"`
		TrustedProducers []string `json:"trusted_producers"`
		AllowedAlgs      []string `json:"allowed_algs"`
		Now              int64    `json:"now"`
		LeewaySeconds    int64    `json:"leeway_seconds"`
		MaxRecordBytes   int      `json:"max_record_bytes"`
	} `json:"settings"`
}

func loadCases(t *testing.T) caseFile {
	t.Helper()
	var file caseFile
	readTestdata(t, "event_verification_cases.json", &file)
	return file
}

func outcome(t *testing.T, c adversarialCase) string {
	t.Helper()
	s := c.Settings
	verifier, err := zteclient.NewEventVerifier(c.JWKS, zteclient.VerifierSettings{
		Issuer:            s.Issuer,
		Audience:          s.Audience,
		TrustedProducers:  s.TrustedProducers,
		AllowedAlgorithms: s.AllowedAlgs,
		Leeway:            time.Duration(s.LeewaySeconds) * time.Second,
		MaxRecordBytes:    s.MaxRecordBytes,
	})
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	var key []byte
	if c.Record.Key != nil {
		key = []byte(*c.Record.Key)
	}
	value, err := base64.StdEncoding.DecodeString(c.Record.ValueB64)
	if err != nil {
		t.Fatalf("value_b64: %v", err)
	}
	event, err := verifier.Verify(key, value, time.Unix(s.Now, 0))
	var rejection *zteclient.Rejection
	switch {
	case err == nil:
		if event.Order.GetOrderTransactionId() != string(key) {
			t.Errorf("accepted event %q is not the record key's order", event.Order.GetOrderTransactionId())
		}
		return "accepted"
	case errors.As(err, &rejection):
		return rejection.Reason
	default:
		t.Fatalf("not a rejection: %v", err)
		return ""
	}
}

func TestEveryAdversarialCaseEndsAsPaymentsSays(t *testing.T) {
	file := loadCases(t)
	if len(file.Cases) < 18 {
		t.Fatalf("want at least 18 cases, got %d", len(file.Cases))
	}
	seen := map[string]bool{}
	for _, c := range file.Cases {
		seen[c.Expect] = true
		t.Run(c.Name, func(t *testing.T) {
			if got := outcome(t, c); got != c.Expect {
				t.Errorf("got %s, want %s (%s)", got, c.Expect, c.Description)
			}
		})
	}
	for _, reason := range append(file.Reasons, "accepted") {
		if !seen[reason] {
			t.Errorf("no case expects %s", reason)
		}
	}
}
