package lab_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/lab"
)

// A failover test: keepalived on two directors, a client pinging the VIP,
// director1 crashes.
func Example() {
	var t *testing.T // the test's *testing.T
	lab.Require(t, "root", "ip", "keepalived")
	topo := lab.New(t, lab.Options{}) // director1, director2, client
	d1, d2, client := topo.Host("director1"), topo.Host("director2"), topo.Host("client")

	conf := func(state string, prio uint8) lab.KeepalivedConf {
		return lab.KeepalivedConf{Version: 3, Instances: []lab.KeepalivedInstance{{
			State: state, VRID: 51, Priority: prio, AdvertInterval: 100 * time.Millisecond,
			VIPs: []netip.Prefix{netip.PrefixFrom(lab.VIP4, 24)},
		}}}
	}
	ka1 := d1.StartKeepalived(t, conf("MASTER", 150))
	lab.WaitFor(t, 3*time.Second, func() bool { return d1.HasAddr(lab.VIP4) }, "director1 to hold the VIP")
	d2.StartKeepalived(t, conf("BACKUP", 100))

	p := client.Pinger(lab.VIP4, 5*time.Millisecond)
	ka1.Kill()
	took := lab.WaitFor(t, time.Second, func() bool { return d2.HasAddr(lab.VIP4) }, "director2 to take over")
	t.Logf("failover in %v; %v", took, p.Stop())
}
