package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/daemon"
	"github.com/vigil-lb/vigil/internal/lab"
)

// `vigil status` against a running daemon: the table and -o json agree
// with the daemon's state, and vigil keeps running without IPVS.
func TestStatusCommand(t *testing.T) {
	p := newPair(t)
	cfg := config("d1", "", v3(150)) + `virtual_servers:
  - name: web
    address: ` + lab.VIP4.String() + `:80
    real_servers:
      - { address: 10.99.0.100:8080, checks: [ { type: tcp, delay_loop: 100ms, connect_timeout: 100ms } ] }
`
	startVigil(t, p.d1, cfg)
	waitState(t, p.d1, "VI_1", "master", 3*time.Second)
	if v := metric(p.d1, "vigil_ipvs_up"); v != 0 {
		t.Fatalf("vigil_ipvs_up = %v on a kernel without IPVS, want 0", v)
	}
	api := "--api.url=http://127.0.0.1:9650"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := p.d1.Run(ctx, vigilBin, "status", api, "-o", "json")
	if err != nil {
		t.Fatalf("vigil status -o json: %v", err)
	}
	var st daemon.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	if st.RouterID != "d1" || st.IPVSUp || len(st.Instances) != 1 || st.Instances[0].State != "master" ||
		st.Instances[0].VIPsPresent != 1 || len(st.VirtualServers) != 1 || st.VirtualServers[0].Name != "web" {
		t.Fatalf("status %+v", st)
	}
	lab.WaitFor(t, 3*time.Second, func() bool {
		out, err := p.d1.Run(ctx, vigilBin, "status", api)
		return err == nil && strings.Contains(string(out), "VI_1") && strings.Contains(string(out), "master") &&
			strings.Contains(string(out), "10.99.0.100:8080") && strings.Contains(string(out), "DOWN")
	}, "the status table to show the instance and the down real server")
	if _, err := p.d1.Run(ctx, vigilBin, "status", "--api.url=http://127.0.0.1:1"); err == nil {
		t.Fatal("vigil status against no daemon succeeded")
	}
}
