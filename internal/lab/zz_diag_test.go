package lab

import (
	"testing"
	"time"
)

func TestZZDiag(t *testing.T) {
	p := startPair(t, 3, 100*time.Millisecond, "", VIP4)
	for _, target := range []string{"10.99.0.250", "10.99.0.11"} {
		out, err := p.client.Run(t.Context(), "ping", "-n", "-q", "-i", "0.005", "-c", "200", target)
		t.Logf("%s %v\n%s", target, err, out)
	}
	tcp := p.client.Start("tcpdump", "-n", "-e", "-i", "eth0", "-c", "60", "icmp or arp")
	pg := p.client.Pinger(p.vip, 5*time.Millisecond)
	time.Sleep(150 * time.Millisecond)
	s := pg.Stop()
	t.Logf("%v", s)
	time.Sleep(200 * time.Millisecond)
	tcp.Stop()
	t.Logf("%s", tcp.Log())
}
