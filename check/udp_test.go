package check

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// udpServer serves on loopback; reply maps a request to the datagrams sent
// back, none for silence.
func udpServer(t *testing.T, reply func([]byte) [][]byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, r := range reply(append([]byte(nil), buf[:n]...)) {
				pc.WriteTo(r, from)
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func closedUDPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	return addr
}

func TestUDP(t *testing.T) {
	echo := udpServer(t, func(b []byte) [][]byte { return [][]byte{b} })
	pong := udpServer(t, func(b []byte) [][]byte {
		if string(b) == "PING" {
			return [][]byte{[]byte("PONG 12345")}
		}
		return [][]byte{[]byte("ERR")}
	})
	silent := udpServer(t, func([]byte) [][]byte { return nil })
	closed := closedUDPPort(t)
	const timeout = 300 * time.Millisecond

	tests := []struct {
		name    string
		probe   UDP
		target  netip.AddrPort
		outcome string
		errText string
		slow    bool // lasts the whole timeout
	}{
		{name: "echo", probe: UDP{Payload: []byte("hello"), Expect: []byte("hello")}, target: echo, outcome: ResultSuccess},
		{name: "prefix", probe: UDP{Payload: []byte("PING"), Expect: []byte("PONG")}, target: pong, outcome: ResultSuccess},
		{name: "wrong reply", probe: UDP{Payload: []byte("HELO"), Expect: []byte("PONG")}, target: pong, outcome: ResultFailure, errText: `reply "ERR"`},
		{name: "any reply", probe: UDP{Payload: []byte("x"), RequireReply: true}, target: pong, outcome: ResultSuccess},
		{name: "silent with reply required", probe: UDP{Payload: []byte("x"), RequireReply: true}, target: silent, outcome: ResultTimeout, errText: "no reply", slow: true},
		{name: "silent with expectation", probe: UDP{Payload: []byte("x"), Expect: []byte("x")}, target: silent, outcome: ResultTimeout, slow: true},
		{name: "silent without expectation", probe: UDP{Payload: []byte("x")}, target: silent, outcome: ResultSuccess, slow: true},
		{name: "port unreachable", probe: UDP{Payload: []byte("x")}, target: closed, outcome: ResultFailure, errText: "connection refused"},
		{name: "port unreachable, reply required", probe: UDP{Payload: []byte("x"), RequireReply: true}, target: closed, outcome: ResultFailure, errText: "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := probeWithin(t, tc.probe, tc.target, timeout)
			if res.Outcome() != tc.outcome {
				t.Fatalf("outcome %s, want %s (%+v)", res.Outcome(), tc.outcome, res)
			}
			if tc.errText != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.errText)) {
				t.Errorf("error %v, want it to contain %q", res.Err, tc.errText)
			}
			if tc.slow && res.Duration < timeout-10*time.Millisecond {
				t.Errorf("returned after %s, before the %s timeout", res.Duration, timeout)
			}
			if !tc.slow && res.Duration > timeout/2 {
				t.Errorf("took %s, want an immediate answer", res.Duration)
			}
			if tc.outcome == ResultFailure && tc.target == closed && !errors.Is(res.Err, syscall.ECONNREFUSED) {
				t.Errorf("error %v does not wrap ECONNREFUSED", res.Err)
			}
		})
	}
}
