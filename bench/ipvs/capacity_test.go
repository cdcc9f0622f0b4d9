package ipvsbench_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	ipvsbench "github.com/vigil-lb/vigil/bench/ipvs"
)

// freePorts returns n loopback addresses nothing listens on right now.
func freePorts(t *testing.T, n int) []netip.AddrPort {
	t.Helper()
	var out []netip.AddrPort
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).AddrPort())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// TestCapacitySmall runs the capacity benchmark in miniature against
// ServeStdio's listeners, reading the listeners' CPU through its protocol.
func TestCapacitySmall(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a second")
	}
	targets := freePorts(t, 20)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errc := make(chan error, 1)
	go func() { errc <- ipvsbench.ServeStdio(context.Background(), targets, inR, outW) }()
	out := bufio.NewReader(outR)
	line := func() string {
		s, err := out.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(s)
	}
	if s := line(); s != "ready" {
		t.Fatalf("first line %q", s)
	}
	res, err := ipvsbench.RunCapacity(context.Background(), ipvsbench.CapacityOptions{
		Targets: targets, Interval: 100 * time.Millisecond, Warmup: 200 * time.Millisecond, Window: 600 * time.Millisecond,
		ListenerCPU: func() (time.Duration, error) {
			if _, err := io.WriteString(inW, "cpu\n"); err != nil {
				return 0, err
			}
			n, err := strconv.ParseInt(line(), 10, 64)
			return time.Duration(n), err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	inW.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// 20 checks every 100ms for 600ms: about 120 runs.
	if res.Runs < 60 || res.Runs > 200 || res.Results["success"] < 60 || res.Results["failure"]+res.Results["timeout"] != 0 {
		t.Errorf("runs %d, results %v", res.Runs, res.Results)
	}
	if res.User+res.Sys <= 0 || res.RSS <= 0 || res.PeakRSS < res.RSS || res.LatenessMax < res.LatenessP50 {
		t.Errorf("implausible result %+v", res)
	}
	t.Logf("%+v", res)
}
