package main

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const msec = time.Millisecond

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want summary
		cell string
	}{
		{"empty", nil, summary{}, "–"},
		{"one", []time.Duration{42 * msec}, summary{N: 1, Median: 42 * msec, Min: 42 * msec, Max: 42 * msec}, "42.0"},
		{"odd, unsorted", []time.Duration{300 * msec, 5 * msec, 120 * msec}, summary{N: 3, Median: 120 * msec, Min: 5 * msec, Max: 300 * msec}, "120 (5.0–300)"},
		{"even: mean of the middle two", []time.Duration{4 * msec, 1 * msec, 3 * msec, 2 * msec}, summary{N: 4, Median: 2500 * time.Microsecond, Min: msec, Max: 4 * msec}, "2.5 (1.0–4.0)"},
		{"negative", []time.Duration{-3 * msec, 2 * msec}, summary{N: 2, Median: -500 * time.Microsecond, Min: -3 * msec, Max: 2 * msec}, "-0.5 (-3.0–2.0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tc.in...)
			got := summarize(tc.in)
			if got != tc.want {
				t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
			if c := got.cell(); c != tc.cell {
				t.Errorf("cell() = %q, want %q", c, tc.cell)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("summarize modified its input: %v", tc.in)
				}
			}
		})
	}
}

func TestCountCell(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{nil, "–"},
		{[]int{3}, "3"},
		{[]int{0, 7, 2}, "2 (0–7)"},
		{[]int{1, 2}, "1.5 (1–2)"},
		{[]int{2, 2, 4, 4}, "3 (2–4)"},
	} {
		if got := summarizeInts(tc.in).cell(); got != tc.want {
			t.Errorf("countCell(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMS(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0.0"},
		{5123 * time.Microsecond, "5.1"},
		{99949 * time.Microsecond, "99.9"},
		{100 * msec, "100"},
		{3609375 * time.Microsecond, "3609"},
		{-61 * msec, "-61.0"},
		{-250 * msec, "-250"},
		{-40 * time.Microsecond, "0.0"},
	} {
		if got := ms(tc.d); got != tc.want {
			t.Errorf("ms(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// The RFC formulas for the backup's priority 100, without rounding.
func TestRFCBounds(t *testing.T) {
	for _, tc := range []struct {
		version  int
		interval time.Duration
		skew     time.Duration
		down     time.Duration
	}{
		// RFC 3768: Skew_Time = (256-100)/256 s = 609.375 ms, whatever the interval.
		{2, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{2, 3 * time.Second, 609375 * time.Microsecond, 9609375 * time.Microsecond},
		// RFC 5798: Skew_Time = 156 * interval / 256.
		{3, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{3, 100 * msec, 60937500 * time.Nanosecond, 360937500 * time.Nanosecond},
		{3, 50 * msec, 30468750 * time.Nanosecond, 180468750 * time.Nanosecond},
		{3, 10 * msec, 6093750 * time.Nanosecond, 36093750 * time.Nanosecond},
	} {
		if got := skewTime(tc.version, 100, tc.interval); got != tc.skew {
			t.Errorf("skewTime(v%d, 100, %v) = %v, want %v", tc.version, tc.interval, got, tc.skew)
		}
		if got := masterDownInterval(tc.version, 100, tc.interval); got != tc.down {
			t.Errorf("masterDownInterval(v%d, 100, %v) = %v, want %v", tc.version, tc.interval, got, tc.down)
		}
	}
	if got := skewTime(3, 255, 100*msec); got != 390625*time.Nanosecond {
		t.Errorf("skewTime(v3, 255, 100ms) = %v", got)
	}
	// A SIGTERM run is bounded by Skew_Time, the others by Master_Down_Interval.
	p := proto{Version: 3, Interval: 100 * msec}
	if bound(evTerm, p) != skewTime(3, backupPrio, p.Interval) || bound(evKill, p) != masterDownInterval(3, backupPrio, p.Interval) || bound(evLinkDown, p) != bound(evKill, p) {
		t.Error("bound() picks the wrong RFC formula")
	}
}

func TestLongestGapOverlapping(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, t0.Add(time.Duration(m)*msec))
		}
		return out
	}
	for _, tc := range []struct {
		name             string
		arrivals         []time.Time
		from, to         int
		wantStart, wantE int
	}{
		{"steady replies", at(0, 5, 10, 15, 20, 25), 7, 25, 5, 10},
		{"gap around the event", at(0, 5, 10, 80, 85, 90), 12, 90, 10, 80},
		{"a longer gap before the window is ignored", at(0, 50, 55, 60, 70, 75), 56, 75, 60, 70},
		{"a gap that starts before the window counts", at(0, 5, 60, 65), 30, 65, 5, 60},
		{"unsorted input", at(85, 10, 0, 80, 5, 90), 12, 90, 10, 80},
		{"no reply after the event: open until the end", at(0, 5, 10), 12, 200, 10, 200},
		{"no reply before the window", at(40, 45), 0, 45, 0, 40},
		{"no replies at all", nil, 3, 70, 3, 70},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, e := longestGapOverlapping(tc.arrivals, t0.Add(time.Duration(tc.from)*msec), t0.Add(time.Duration(tc.to)*msec))
			if gs, ge := s.Sub(t0), e.Sub(t0); gs != time.Duration(tc.wantStart)*msec || ge != time.Duration(tc.wantE)*msec {
				t.Errorf("gap = [%v, %v], want [%dms, %dms]", gs, ge, tc.wantStart, tc.wantE)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as proc(5) warns.
	line := "4242 (vigil (x) y) S 1 4240 4240 0 -1 4194560 1234 0 0 0 731 269 0 0 20 0 9 0 123456 1000000 2000 18446744073709551615\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st != (procStat{pgrp: 4240, utime: 731, stime: 269}) {
		t.Errorf("parseStat = %+v", st)
	}
	if _, err := parseStat([]byte("12 (x) S 1 2")); err == nil {
		t.Error("parseStat accepted a truncated line")
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tkeepalived\nVmPeak:\t   10000 kB\nVmRSS:\t    5120 kB\nThreads:\t1\n"
	got, err := parseVmRSS([]byte(status))
	if err != nil || got != 5120*1024 {
		t.Errorf("parseVmRSS = %d, %v; want %d", got, err, 5120*1024)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Error("parseVmRSS without VmRSS: no error")
	}
}

func TestAuxvValue(t *testing.T) {
	var b []byte
	for _, kv := range [][2]uint64{{6, 4096}, {atClkTck, 100}, {0, 0}, {atClkTck, 999}} {
		b = binary.NativeEndian.AppendUint64(b, kv[0])
		b = binary.NativeEndian.AppendUint64(b, kv[1])
	}
	if v, err := auxvValue(b, atClkTck); err != nil || v != 100 {
		t.Errorf("auxvValue = %d, %v; want 100", v, err)
	}
	if _, err := auxvValue(b, 33); err == nil {
		t.Error("auxvValue found an entry after AT_NULL")
	}
}

func TestParseFrames(t *testing.T) {
	// An Ethernet frame with a VRRPv3 advert from 10.99.0.12, VRID 51,
	// priority 100 (RFC 5798 5.1).
	vrrp := []byte{
		0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x02, 0x99, 0, 0, 0, 0x12, 0x08, 0x00,
		0x45, 0xc0, 0x00, 0x20, 0, 0, 0, 0, 0xff, 112, 0, 0, 10, 99, 0, 12, 224, 0, 0, 18,
		0x31, 51, 100, 1, 0x00, 0x0a, 0, 0, 10, 99, 0, 250,
	}
	a, ok := parseVRRPFrame(vrrp)
	if !ok || a.Src != netip.MustParseAddr("10.99.0.12") || a.Version != 3 || a.VRID != 51 || a.Priority != 100 {
		t.Errorf("parseVRRPFrame = %+v, %v", a, ok)
	}
	if _, ok := parseVRRPFrame(vrrp[:30]); ok {
		t.Error("parseVRRPFrame accepted a truncated frame")
	}
	// A gratuitous ARP request for 10.99.0.250 from director2.
	arp := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x99, 0, 0, 0, 0x12, 0x08, 0x06,
		0, 1, 0x08, 0x00, 6, 4, 0, 1, 0x02, 0x99, 0, 0, 0, 0x12, 10, 99, 0, 250,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 10, 99, 0, 250,
	}
	f, ok := parseARPFrame(arp)
	if !ok || f.SenderMAC != "02:99:00:00:00:12" || f.SenderIP != netip.MustParseAddr("10.99.0.250") || !f.gratuitous() || f.Op != 1 {
		t.Errorf("parseARPFrame = %+v, %v", f, ok)
	}
	// An ordinary request (who has .250, tell .100) is not gratuitous.
	copy(arp[28:32], []byte{10, 99, 0, 100})
	if f, _ := parseARPFrame(arp); f.gratuitous() {
		t.Error("a request from 10.99.0.100 counted as gratuitous")
	}
}

func TestStates(t *testing.T) {
	expo := `# HELP vigil_vrrp_instance_state x
vigil_vrrp_instance_state{state="backup",vrrp_instance="VI_1"} 0
vigil_vrrp_instance_state{state="master",vrrp_instance="VI_1"} 1
vigil_vrrp_instance_state{vrrp_instance="VI_2",state="backup"} 1
vigil_vrrp_instance_state{state="master",vrrp_instance="VI_2"} 0
vigil_vrrp_instance_state_other{state="fault",vrrp_instance="VI_1"} 1
`
	got := vigilStates(expo)
	if len(got) != 2 || got["VI_1"] != "master" || got["VI_2"] != "backup" {
		t.Errorf("vigilStates = %v", got)
	}
	log := "Thu: (VI_1) Entering BACKUP STATE (init)\nThu: (VI_2) Entering BACKUP STATE (init)\nThu: (VI_1) Entering MASTER STATE\n"
	ka := keepalivedStates(log)
	if len(ka) != 2 || ka["VI_1"] != "master" || ka["VI_2"] != "backup" {
		t.Errorf("keepalivedStates = %v", ka)
	}
}

// The report: one row per (implementation, interval), refusals in the
// table, and findings for the conditions the brief asks to surface.
func TestRenderReport(t *testing.T) {
	v3 := proto{Version: 3, Interval: 100 * msec}
	v3fast := proto{Version: 3, Interval: 10 * msec}
	run := func(ev event, impl string, rep int, outage, detection time.Duration) runResult {
		b := bound(ev, v3)
		return runResult{Event: ev, Impl: impl, Proto: v3, Rep: rep, Bound: b,
			Advert: detection - 20*msec, GARP: detection - 19*msec, Outage: outage, Detection: detection,
			HaveAdvert: true, HaveGARP: true, HaveDetection: true, OldMasterKeptVIP: true}
	}
	r := &report{
		Date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Took: 90 * time.Second,
		Command: "go run ./internal/lab/benchfailover -reps 2", Kernel: "6.1.0", CPUModel: "Test CPU", CPUs: 2,
		GoVersion: "go1.26", VigilRevision: "abc123", KeepalivedVersion: "2.2.7",
		Reps: 2, ClockTicks: 100, PingEvery: 5 * msec, IdleWindow: 20 * time.Second,
		Impls: []string{"vigil", "keepalived"}, Protos: []proto{v3, v3fast},
		Cases: []failoverCase{
			{Event: evTerm, Impl: "vigil", Proto: v3, Runs: []runResult{run(evTerm, "vigil", 1, 5*msec, 60*msec), run(evTerm, "vigil", 2, 25*msec, 61*msec)}},
			{Event: evTerm, Impl: "keepalived", Proto: v3, Runs: []runResult{run(evTerm, "keepalived", 1, 70*msec, 62*msec), run(evTerm, "keepalived", 2, 72*msec, 63*msec)}},
			{Event: evTerm, Impl: "keepalived", Proto: v3fast, Rejected: "advert_int 0.01 | out of range"},
			{Event: evKill, Impl: "vigil", Proto: v3, Runs: []runResult{run(evKill, "vigil", 1, 5*msec, 380*msec)}},
		},
		Idle: []idleResult{{Impl: "vigil", Instances: 50, Proto: v3, Window: 20 * time.Second, MasterCPU: 1.25, MasterRSS: 20 << 20, BackupCPU: 0.5, BackupRSS: 18 << 20, MasterProcs: 1, AdvertRate: 499.5, MeanInterval: 100100 * time.Microsecond, LongGaps: 2, Busy: 0.12}},
	}
	r.Cases[3].Runs[0].Err = "no complete takeover"
	// A stall of the pinger, and a ping lost in the handover window.
	stall := run(evTerm, "vigil", 3, 14*msec, 60*msec)
	stall.OutageAt, stall.SendGap = 200*msec, 13*msec
	lostOne := run(evTerm, "vigil", 4, 11*msec, 60*msec)
	lostOne.OutageAt, lostOne.Lost, lostOne.SendGap = 35*msec, 1, 6*msec
	r.Cases[0].Runs = append(r.Cases[0].Runs, stall, lostOne)
	var b strings.Builder
	if err := r.render(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"This file came from `go run ./internal/lab/benchfailover -reps 2`.",
		"| kernel | 6.1.0 |",
		"| vigil | v3 100ms | 4/4 | 40.0 (40.0–41.0) | 41.0 (41.0–42.0) | 12.5 (5.0–25.0) | 0 (0–1) | 60.0 (60.0–61.0) | 60.9 | -0.9 (-0.9–0.1) |",
		`| keepalived | v3 10ms | keepalived refuses it: advert_int 0.01 \| out of range | | | | | | | |`,
		"| vigil | v3 100ms | 0/1 |",
		"| vigil | 50 | v3 100ms | 1.25 | 20.0 | 0.50 | 18.0 | 1 | 499.5 | 100.10 | 2 | 12 |",
		"One clock tick over the window is 0.050 % of a core",
		"SIGTERM vigil v3 100ms run 2: planned handover: longest reply gap 25.0 ms, over 10ms, beginning 0.0 ms after the SIGTERM (director2's first GARP at 42.0 ms); pings lost: 0, longest round trip 0.0 ms, longest send gap 0.0 ms.",
		"kill -9 vigil v3 100ms run 1: takeover 380 ms after director1's last advert, 19.1 ms past the RFC bound of 361 ms.",
		"kill -9 vigil v3 100ms run 1 failed: no complete takeover.",
		"run 3: planned handover: longest reply gap 14.0 ms, over 10ms, beginning 200 ms after the SIGTERM (director2's first GARP at 41.0 ms); pings lost: 0, longest round trip 0.0 ms, longest send gap 13.0 ms: nothing was lost and the pinger itself sent nothing",
		"run 4: planned handover: longest reply gap 11.0 ms, over 10ms, beginning 35.0 ms after the SIGTERM (director2's first GARP at 41.0 ms); pings lost: 1, longest round trip 0.0 ms, longest send gap 6.0 ms: the gap spans director2's first GARP",
		"SIGTERM, vigil: client outage median 12.5 ms, worst 25.0 ms; pings lost over all 4 runs: 1 (3 runs lost none); per-interval median outage 12.5 ms at v3 100ms",
		"Kill -9, vigil: director2's takeover came 19.1 ms after the RFC bound (per-interval medians of takeover − bound; negative is before it). Client outage at most 5.0 ms; in 1 of 1 runs it was shorter than the time to director2's first GARP, because the killed daemon's address stayed on director1",
		"Idle master, 50 instance(s) at v3 100ms: vigil 1.25 % of a core and 20.0 MiB, an advert every 100.10 ms per router on average.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(out, "SIGTERM keepalived v3 100ms run 1: planned handover") || strings.Contains(out, "Kill -9, vigil: director2's takeover came 19.1 ms after the RFC bound (per-interval medians of takeover − bound; negative is before it); the client outage") {
		t.Error("keepalived's SIGTERM outage is reported as a vigil finding")
	}
	if strings.Contains(out, "answered throughout") {
		t.Error("the reading claims the client was answered throughout although a ping was lost")
	}
	if t.Failed() {
		t.Logf("report:\n%s", out)
	}
}

func TestCPUTimes(t *testing.T) {
	a, err := parseCPULine("cpu  100 5 50 1000 20 3 2 10 7 0")
	if err != nil {
		t.Fatal(err)
	}
	// busy = user nice system irq softirq steal; idle and iowait are not;
	// guest (7) is inside user already.
	if a != (cpuTimes{busy: 170, total: 1190}) {
		t.Errorf("parseCPULine = %+v", a)
	}
	b := cpuTimes{busy: a.busy + 30, total: a.total + 120}
	if got := busyFraction(a, b); got != 0.25 {
		t.Errorf("busyFraction = %v, want 0.25", got)
	}
	if got := busyFraction(b, b); got != 0 {
		t.Errorf("busyFraction over no time = %v, want 0", got)
	}
	if _, err := parseCPULine("cpu0 1 2 3 4 5 6 7 8"); err == nil {
		t.Error("parseCPULine accepted a per-CPU line")
	}
}

func TestAdvertIntervals(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var adverts []advert
	add := func(vrid uint8, ms ...int) {
		for _, m := range ms {
			adverts = append(adverts, advert{VRID: vrid, At: t0.Add(time.Duration(m) * msec)})
		}
	}
	add(1, 0, 100, 200, 300)  // on time: mean 100 ms
	add(2, 50, 152, 254, 406) // one late (152 ms gap): mean 118.67 ms
	add(3, 70)                // a single advert says nothing
	mean, long := advertIntervals(adverts, 100*msec)
	want := (100*msec + 356*msec/3) / 2
	if mean != want || long != 1 {
		t.Errorf("advertIntervals = %v, %d; want %v, 1", mean, long, want)
	}
}

func TestSelection(t *testing.T) {
	all := newSelection("")
	if !all.match("SIGTERM", "vigil", "v3 100ms") {
		t.Error("an empty -only excludes a case")
	}
	s := newSelection("SIGTERM, vigil,v3 100ms,v3 50ms")
	for _, tc := range []struct {
		dims []string
		want bool
	}{
		{[]string{"SIGTERM", "vigil", "v3 100ms"}, true},
		{[]string{"SIGTERM", "vigil", "v3 50ms"}, true},
		{[]string{"SIGTERM", "keepalived", "v3 100ms"}, false},
		{[]string{"kill -9", "vigil", "v3 100ms"}, false},
		{[]string{"SIGTERM", "vigil", "v2 1s"}, false},
	} {
		if got := s.match(tc.dims...); got != tc.want {
			t.Errorf("match(%q) = %v, want %v", tc.dims, got, tc.want)
		}
	}
	if only := newSelection("keepalived"); !only.match("link down", "keepalived", "v2 1s") || only.match("link down", "vigil", "v2 1s") {
		t.Error("-only keepalived selects wrongly")
	}
	if dimensionOf("v4 1s") != -1 || dimensionOf("link down") != 0 {
		t.Error("dimensionOf misclassifies")
	}
}

func TestMarkedSectionsKept(t *testing.T) {
	in := []byte("# old report\n<!-- bench-ipvs:start -->\n## IPVS\nrows\n<!-- bench-ipvs:end -->\ntrailer\n<!-- bench-actuator:start -->\nx\n<!-- bench-actuator:end -->")
	want := "<!-- bench-ipvs:start -->\n## IPVS\nrows\n<!-- bench-ipvs:end -->\n\n<!-- bench-actuator:start -->\nx\n<!-- bench-actuator:end -->\n\n"
	if got := string(markedSections(in)); got != want {
		t.Fatalf("markedSections:\n%q\nwant\n%q", got, want)
	}
	if got := markedSections([]byte("no markers")); len(got) != 0 {
		t.Fatalf("no markers: %q", got)
	}
}
