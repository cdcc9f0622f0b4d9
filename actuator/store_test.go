package actuator

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStoreFile(t *testing.T) {
	h := newHarness(t)
	h.post(payload(lag("firing", "10.0.0.2:3306")))
	seven := 7
	h.a.Handle(context.Background(), Request{Action: ActionSetWeight, Weight: &seven, Target: Target{VirtualServer: "web", RealServer: "10.0.1.1:80"},
		Source: SourceCLI, Who: "alice", Reason: "canary"})
	b, err := os.ReadFile(filepath.Join(h.dir, "state", StateFile))
	if err != nil {
		t.Fatal(err)
	}
	f := fp(lag("firing", "10.0.0.2:3306"))
	want := `{
  "version": 1,
  "overrides": [
    {
      "kind": "drain",
      "target": {
        "virtual_server": "db",
        "real_server": "10.0.0.2:3306"
      },
      "since": "2025-01-02T03:04:05Z",
      "source": "webhook",
      "who": "vigil",
      "reason": "MySQLReplicaLag",
      "alerts": [
        {
          "rule": "drain-lagging-replica",
          "fingerprint": "` + f + `"
        }
      ]
    },
    {
      "kind": "weight",
      "target": {
        "virtual_server": "web",
        "real_server": "10.0.1.1:80"
      },
      "weight": 7,
      "since": "2025-01-02T03:04:05Z",
      "source": "cli",
      "who": "alice",
      "reason": "canary"
    }
  ],
  "handled": [
    {
      "alert": {
        "rule": "drain-lagging-replica",
        "fingerprint": "` + f + `"
      },
      "target": {
        "virtual_server": "db",
        "real_server": "10.0.0.2:3306"
      },
      "action": "drain",
      "undo": true,
      "at": "2025-01-02T03:04:05Z",
      "last_seen": "2025-01-02T03:04:05Z"
    }
  ],
  "cooldowns": [
    {
      "class": "drain",
      "target": {
        "virtual_server": "db",
        "real_server": "10.0.0.2:3306"
      },
      "changed": "2025-01-02T03:04:05Z"
    },
    {
      "class": "weight",
      "target": {
        "virtual_server": "web",
        "real_server": "10.0.1.1:80"
      },
      "changed": "2025-01-02T03:04:05Z"
    }
  ],
  "automated": [
    "2025-01-02T03:04:05Z"
  ]
}
`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("state file (-want +got):\n%s", diff)
	}
}

func TestStoreLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"garbage", "{", `unexpected end of JSON input (the file holds the operators' drains, weights and holds: repair it, or remove it to forget them)`},
		{"version", `{"version": 2}`, `unsupported version 2`},
		{"weight without weight", `{"version": 1, "overrides": [{"kind": "weight", "target": {"virtual_server": "a", "real_server": "b"}}]}`, `bad override`},
		{"unknown kind", `{"version": 1, "overrides": [{"kind": "reboot"}]}`, `bad override`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenStore(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), `reading actuator state "`+filepath.Join(dir, StateFile)+`": `) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := OpenStore(""); err == nil {
		t.Error("OpenStore without a directory succeeded")
	}
}

func TestStorePrunes(t *testing.T) {
	h := newHarness(t)
	h.post(payload(lag("firing", "10.0.0.2:3306")))
	h.advance(2 * time.Hour)
	h.a.sweep(context.Background(), h.now)
	var d stateDoc
	b, err := os.ReadFile(filepath.Join(h.dir, "state", StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	// The cooldown (5m) and the rate window (1h) are over; the alert is
	// still remembered (24h).
	if len(d.Cooldowns) != 0 || len(d.Automated) != 0 || len(d.Handled) != 1 || len(d.Overrides) != 1 {
		t.Errorf("after 2h: %+v", d)
	}
}
