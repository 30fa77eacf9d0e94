package zteclient_test

// The repository's shared test files under proto/testdata, read the same way by every test.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// readTestdata parses proto/testdata/<name> into v; a missing or malformed file fails the test.
func readTestdata(t *testing.T, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "proto", "testdata", name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
}
