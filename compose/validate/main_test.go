package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeLists writes one env-name list per binary, each holding the names the rules check,
// then lets edit break the directory.
func writeLists(t *testing.T, edit func(dir string)) string {
	t.Helper()
	dir := t.TempDir()
	for binary, names := range ruleEnv {
		text := strings.Join(append([]string{"RUST_LOG"}, names...), "\n") + "\n"
		if err := os.WriteFile(filepath.Join(dir, binary), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	edit(dir)
	return dir
}

func TestEnvNameListsAreRequiredNonEmptyAndComplete(t *testing.T) {
	names, err := loadEnvNames(writeLists(t, func(string) {}))
	if err != nil || !names["orders"]["ORDERS_ISSUER"] || !names["payments"]["RUST_LOG"] {
		t.Fatalf("complete lists: %v %v", names, err)
	}
	// Each broken directory must be refused for its own reason.
	broken := []struct {
		label, want string
		edit        func(dir string)
	}{
		{"missing list", "orders --print-env", func(dir string) { os.Remove(filepath.Join(dir, "orders")) }},
		{"empty list", "payments is empty", func(dir string) { os.WriteFile(filepath.Join(dir, "payments"), nil, 0o600) }},
		{"malformed name", `"not a name" is not`, func(dir string) {
			os.WriteFile(filepath.Join(dir, "identity"), []byte("IDENTITY_DEMO\nnot a name\n"), 0o600)
		}},
		{"rule name unread", "orders does not read ORDERS_JWKS_URI", func(dir string) { os.WriteFile(filepath.Join(dir, "orders"), []byte("ORDERS_ISSUER\n"), 0o600) }},
		{"no directory", "no such file", func(dir string) { os.RemoveAll(dir) }},
	}
	for _, c := range broken {
		_, err := loadEnvNames(writeLists(t, c.edit))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error saying %q", c.label, err, c.want)
		}
	}
}
