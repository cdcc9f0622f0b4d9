package daemon

import (
	"testing"
	"time"

	"github.com/vigil-lb/vigil/config"
)

// The GARP settings reach the node: garp_master_* and garp_lower_prio_*
// (defaulting to garp_master_*) as the node instance's announcement
// settings, higher_prio_send_advert as protocol behaviour.
func TestNodeConfigGARP(t *testing.T) {
	const base = `
global: { router_id: lb1 }
vrrp_instances:
  - name: VI_1
    interface: eth0
    virtual_router_id: 51
    virtual_ipaddresses: [10.99.0.250/24]
    garp_master_delay: 2s
    garp_master_repeat: 3
    garp_master_refresh: 60s
    garp_interval: 10ms
`
	tests := []struct {
		name                 string
		extra                string
		repeat               int
		delay                time.Duration
		higherPrioSendAdvert bool
	}{
		{"defaults", "", 3, 2 * time.Second, true},
		{"set", "    garp_lower_prio_repeat: 1\n    garp_lower_prio_delay: 0s\n    higher_prio_send_advert: false\n", 1, 0, false},
		{"off", "    garp_lower_prio_repeat: 0\n", 0, 2 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(base+tt.extra), "vigil.yml")
			if err != nil {
				t.Fatal(err)
			}
			nc, err := NodeConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ni := nc.Instances[0]
			if ni.GARPRepeat != 3 || ni.GARPDelay != 2*time.Second || ni.GARPRefresh != time.Minute || ni.GARPInterval != 10*time.Millisecond {
				t.Errorf("garp_master_*: repeat %d delay %v refresh %v interval %v", ni.GARPRepeat, ni.GARPDelay, ni.GARPRefresh, ni.GARPInterval)
			}
			if ni.GARPLowerPrioRepeat != tt.repeat || ni.GARPLowerPrioDelay != tt.delay {
				t.Errorf("garp_lower_prio_*: repeat %d delay %v, want %d %v", ni.GARPLowerPrioRepeat, ni.GARPLowerPrioDelay, tt.repeat, tt.delay)
			}
			if ni.Protocol.HigherPrioSendAdvert != tt.higherPrioSendAdvert {
				t.Errorf("HigherPrioSendAdvert %v, want %v", ni.Protocol.HigherPrioSendAdvert, tt.higherPrioSendAdvert)
			}
		})
	}
}
