package ipvs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadOwnership feeds arbitrary bytes to loadOwnership as the
// ownership file (state_dir/ipvs.json, which vigil reads at start). It
// must never panic; a file it accepts is saved and loaded again to the
// same record, and saving that gives the same bytes (the file is
// canonical).
func FuzzLoadOwnership(f *testing.F) {
	f.Add([]byte(`{"version": 1, "services": ["tcp/192.0.2.1:80", "fwmark4/10", "udp/[2001:db8::1]:53"],
  "drains": [{"service": "tcp/192.0.2.1:80", "destination": "10.0.0.3:80", "deadline": "2025-01-02T03:04:05Z"},
             {"service": "fwmark4/10", "deadline": "2025-01-02T03:04:05.5+02:00"}]}`))
	f.Add([]byte(`{"version": 1, "services": []}`))
	f.Add([]byte(`{"version": 2}`))
	f.Add([]byte(`{"version": 1, "services": ["sctp/0.0.0.0:0", "tcp/1.2.3.4"]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, StateFile)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := loadOwnership(path)
		if err != nil {
			return
		}
		first := o.doc()
		if err := o.save(); err != nil {
			t.Fatalf("saving an accepted record: %v", err)
		}
		saved, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		again, err := loadOwnership(path)
		if err != nil {
			t.Fatalf("the saved record does not load: %v\n%s", err, saved)
		}
		if a, b := mustJSON(t, first), mustJSON(t, again.doc()); a != b {
			t.Fatalf("record changed by a save and load:\n%s\n%s", a, b)
		}
		if err := again.save(); err != nil {
			t.Fatal(err)
		}
		resaved, _ := os.ReadFile(path)
		if string(resaved) != string(saved) {
			t.Fatalf("saving the same record twice gave different files:\n%s\n%s", saved, resaved)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
