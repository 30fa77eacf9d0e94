package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"testing"
	"time"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRandomUUIDIsCanonicalVersion4(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := randomUUID()
		if !uuidPattern.MatchString(id) {
			t.Fatalf("not a canonical v4 UUID: %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate UUID %q", id)
		}
		seen[id] = true
	}
}

// Against the running local stack (scripts/demo.sh) only: ZTE_STACK=1.
func TestCreateOrderAgainstLocalStackReturnsTheOrderWithItsTotal(t *testing.T) {
	if os.Getenv("ZTE_STACK") != "1" {
		t.Skip("needs the running local stack (scripts/demo.sh); set ZTE_STACK=1 to run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	args := []string{"-sku", "GO-TEST", "-quantity", "3", "-price", "250", "-currency", "EUR"}
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	var order struct {
		OrderTransactionID string `json:"order_transaction_id"`
		UserID             string `json:"user_id"`
		TotalMinor         string `json:"total_minor"`
		Currency           string `json:"currency"`
	}
	if err := json.Unmarshal(out.Bytes(), &order); err != nil {
		t.Fatalf("output is not the order as JSON: %v\n%s", err, out.String())
	}
	if !uuidPattern.MatchString(order.OrderTransactionID) {
		t.Errorf("order id %q is not a UUID", order.OrderTransactionID)
	}
	if order.TotalMinor != "750" || order.Currency != "EUR" || order.UserID == "" {
		t.Errorf("unexpected order: %+v", order)
	}
}
