package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// smT0 is the origin of the explicit clock used by the state machine tests;
// outputs print their times relative to it.
var smT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func smAt(d time.Duration) time.Time { return smT0.Add(d) }

// smMs converts fractional seconds to a Duration, for readable exact times:
// smSec(3.609375) == 3609375 * time.Microsecond.
func smSec(seconds float64) time.Duration {
	return time.Duration(seconds * float64(time.Second))
}

// smConfig is a v2 instance with two VIPs, preempting, 1s interval.
func smConfig(prio uint8, local string) InstanceConfig {
	return InstanceConfig{
		Name:           "VI_1",
		Interface:      "eth0",
		VRID:           51,
		Version:        2,
		Priority:       prio,
		AdvertInterval: time.Second,
		Preempt:        true,
		VIPs:           []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")},
		LocalAddr:      netip.MustParseAddr(local),
	}
}

// smAdvert is a valid advert for cfg with the given priority, as a peer of
// the same virtual router would send it.
func smAdvert(cfg InstanceConfig, prio uint8) *Advert {
	a := &Advert{
		Version:  cfg.Version,
		Type:     TypeAdvertisement,
		VRID:     cfg.VRID,
		Priority: prio,
		Interval: cfg.AdvertInterval,
		Addrs:    slices.Clone(cfg.VIPs),
	}
	if cfg.Version == 2 && cfg.AuthPass != "" {
		a.AuthType = AuthSimple
		copy(a.AuthData[:], cfg.AuthPass)
	}
	return a
}

// smFormat renders outputs as strings so that expected sequences read like
// a log and differences are easy to see.
func smFormat(outs []Output) []string {
	s := make([]string, 0, len(outs))
	for _, o := range outs {
		switch o := o.(type) {
		case SendAdvert:
			s = append(s, fmt.Sprintf("advert %d", o.Priority))
		case AddVIPs:
			s = append(s, "add vips")
		case RemoveVIPs:
			s = append(s, "remove vips")
		case Announce:
			s = append(s, "announce")
		case AnnounceLowerPrio:
			s = append(s, "announce lower prio: "+o.Reason)
		case Transition:
			s = append(s, fmt.Sprintf("%s->%s at %v: %s", o.From, o.To, o.At.Sub(smT0), o.Reason))
		default:
			s = append(s, fmt.Sprintf("unknown output %T", o))
		}
	}
	return s
}

// smExpect drains i's outputs and compares them with want.
func smExpect(t *testing.T, i *Instance, want ...string) {
	t.Helper()
	got := smFormat(i.TakeOutputs())
	if !slices.Equal(got, want) {
		t.Fatalf("outputs:\n  got  %q\n  want %q", got, want)
	}
}

func smExpectDeadline(t *testing.T, i *Instance, want time.Duration) {
	t.Helper()
	if got := i.NextDeadline(); !got.Equal(smAt(want)) {
		t.Fatalf("NextDeadline = %v, want %v", got.Sub(smT0), want)
	}
}

func smExpectState(t *testing.T, i *Instance, state, wanted State) {
	t.Helper()
	s := i.Snapshot()
	if s.State != state || s.Wanted != wanted || i.State() != state {
		t.Fatalf("state %v wanted %v (State() %v), want %v wanted %v", s.State, s.Wanted, i.State(), state, wanted)
	}
}

// smRecv delivers a valid advert from src and requires it to be accepted.
func smRecv(t *testing.T, i *Instance, at time.Duration, src string, prio uint8) {
	t.Helper()
	if r := i.Receive(smAt(at), netip.MustParseAddr(src), smAdvert(i.Config(), prio)); r != "" {
		t.Fatalf("advert from %s prio %d dropped: %s", src, prio, r)
	}
}

// smMaster returns an instance that became Master at 3.609375s (prio 100)
// or at the MDI of its priority, with its outputs drained.
func smMaster(t *testing.T, cfg InstanceConfig) (*Instance, time.Duration) {
	t.Helper()
	i := NewInstance(cfg)
	i.Start(smT0)
	mdi := MasterDownInterval(cfg.Version, cfg.Priority, cfg.AdvertInterval)
	i.Tick(smAt(mdi))
	if i.State() != StateMaster {
		t.Fatalf("setup: state %v, want master", i.State())
	}
	i.TakeOutputs()
	return i, mdi
}

func TestInstanceStartupBackupThenMaster(t *testing.T) {
	i := NewInstance(smConfig(100, "10.0.0.1"))
	smExpectState(t, i, StateInit, StateInit)
	if !i.NextDeadline().IsZero() {
		t.Fatalf("NextDeadline before Start = %v, want zero", i.NextDeadline())
	}
	i.Start(smT0)
	smExpect(t, i, "init->backup at 0s: startup")
	smExpectState(t, i, StateBackup, StateBackup)
	// RFC 3768 6.4.1: Master_Down_Timer = 3*1s + (256-100)/256 s.
	smExpectDeadline(t, i, smSec(3.609375))

	i.Tick(smAt(smSec(3.609375) - time.Nanosecond))
	smExpect(t, i)
	i.Tick(smAt(smSec(3.609375)))
	smExpect(t, i, "advert 100", "add vips", "announce",
		"backup->master at 3.609375s: master down timer expired")
	smExpectState(t, i, StateMaster, StateMaster)
	smExpectDeadline(t, i, smSec(4.609375))

	i.Tick(smAt(smSec(4.609375)))
	smExpect(t, i, "advert 100")
	smExpectDeadline(t, i, smSec(5.609375))

	s := i.Snapshot()
	if s.MasterAddr != netip.MustParseAddr("10.0.0.1") || s.MasterPriority != 100 {
		t.Errorf("master as seen = %v prio %d, want self 10.0.0.1 prio 100", s.MasterAddr, s.MasterPriority)
	}
	if s.AdvertsSent != 2 || s.Transitions[[2]State{StateBackup, StateMaster}] != 1 ||
		s.Transitions[[2]State{StateInit, StateBackup}] != 1 || !s.LastTransition.Equal(smAt(smSec(3.609375))) {
		t.Errorf("snapshot counters = %+v", s)
	}
	// A second Start is ignored.
	i.Start(smAt(6 * time.Second))
	smExpect(t, i)
}

func TestInstanceBackupStaysWhileMasterAdvertises(t *testing.T) {
	i := NewInstance(smConfig(100, "10.0.0.1"))
	i.Start(smT0)
	i.TakeOutputs()
	for k := 1; k <= 10; k++ {
		smRecv(t, i, time.Duration(k)*time.Second, "10.0.0.2", 150)
		i.Tick(smAt(time.Duration(k) * time.Second))
		smExpect(t, i)
		smExpectDeadline(t, i, time.Duration(k)*time.Second+smSec(3.609375))
	}
	s := i.Snapshot()
	if s.MasterAddr != netip.MustParseAddr("10.0.0.2") || s.MasterPriority != 150 || s.AdvertsReceived != 10 {
		t.Errorf("snapshot = master %v prio %d received %d", s.MasterAddr, s.MasterPriority, s.AdvertsReceived)
	}
	// The master falls silent after its advert at 10s.
	i.Tick(smAt(10*time.Second + smSec(3.609375)))
	smExpect(t, i, "advert 100", "add vips", "announce",
		"backup->master at 13.609375s: master down timer expired")
}

func TestInstanceAddressOwnerStartsAsMaster(t *testing.T) {
	i := NewInstance(smConfig(255, "10.0.0.1"))
	i.Start(smT0)
	smExpect(t, i, "advert 255", "add vips", "announce",
		"init->master at 0s: startup (address owner, priority 255)")
	smExpectDeadline(t, i, time.Second)
	// Priority adjustments never touch the address owner.
	i.SetPriorityDelta(smAt(0), -100)
	i.Tick(smAt(time.Second))
	smExpect(t, i, "advert 255")
}

func TestInstanceHigherPriorityDemotesMaster(t *testing.T) {
	i, up := smMaster(t, smConfig(100, "10.0.0.1"))
	// Lower priority: discarded (RFC 3768 6.4.3), but the sender was
	// Master too: the addresses are announced again.
	smRecv(t, i, up+100*time.Millisecond, "10.0.0.9", 99)
	smExpect(t, i, "announce lower prio: lower priority advert from 10.0.0.9 (prio 99)")
	smExpectState(t, i, StateMaster, StateMaster)

	// Preempted, it is Backup at once but keeps the addresses for
	// handoverLinger: the preempting Master announces them after this
	// advert.
	at := up + 200*time.Millisecond
	smRecv(t, i, at, "10.0.0.2", 200)
	smExpect(t, i, "master->backup at 3.809375s: higher priority advert from 10.0.0.2 (prio 200)")
	smExpectState(t, i, StateBackup, StateBackup)
	s := i.Snapshot()
	if s.MasterAddr != netip.MustParseAddr("10.0.0.2") || s.MasterPriority != 200 {
		t.Errorf("master as seen = %v prio %d", s.MasterAddr, s.MasterPriority)
	}
	smExpectDeadline(t, i, at+handoverLinger)
	i.Tick(smAt(at + handoverLinger - 1))
	smExpect(t, i)
	i.Tick(smAt(at + handoverLinger))
	smExpect(t, i, "remove vips")
	smExpectDeadline(t, i, at+smSec(3.609375))
}

func TestInstanceEqualPriorityTieBreak(t *testing.T) {
	tests := []struct {
		local, peer string
		demoted     bool
	}{
		{"10.0.0.1", "10.0.0.2", true},
		{"10.0.0.2", "10.0.0.1", false},
		{"10.0.0.200", "10.0.1.1", true},   // compared as integers, not as strings
		{"10.0.1.1", "10.0.0.200", false},  // idem
		{"fe80::1", "fe80::1:0", true},     // IPv6, v3
		{"fe80::2%eth0", "fe80::1", false}, // zones do not count
	}
	for _, tt := range tests {
		t.Run(tt.local+"_vs_"+tt.peer, func(t *testing.T) {
			cfg := smConfig(100, tt.local)
			if strings.Contains(tt.local, ":") {
				cfg.Version, cfg.IPv6 = 3, true
				cfg.VIPs = []netip.Addr{netip.MustParseAddr("2001:db8::10")}
			}
			i, up := smMaster(t, cfg)
			smRecv(t, i, up+time.Millisecond, tt.peer, 100)
			if !tt.demoted {
				// Discarded, but the other router was Master too.
				smExpect(t, i, fmt.Sprintf("announce lower prio: equal priority advert from lower address %s (prio 100)", tt.peer))
				smExpectState(t, i, StateMaster, StateMaster)
				return
			}
			// The other router was Master too; the addresses linger as
			// after a preemption.
			smExpect(t, i, fmt.Sprintf("master->backup at %v: equal priority advert from higher address %s (prio 100)",
				up+time.Millisecond, tt.peer))
			smExpectDeadline(t, i, up+time.Millisecond+handoverLinger)
			i.Tick(smAt(up + time.Millisecond + handoverLinger))
			smExpect(t, i, "remove vips")
		})
	}
}

func TestInstancePriorityZeroTakeoverAfterSkew(t *testing.T) {
	i := NewInstance(smConfig(100, "10.0.0.1"))
	i.Start(smT0)
	i.TakeOutputs()
	smRecv(t, i, 1*time.Second, "10.0.0.2", 200)
	smRecv(t, i, 2*time.Second, "10.0.0.2", 0)
	smExpect(t, i)
	// RFC 3768 6.4.2: Master_Down_Timer = Skew_Time = 156/256 s.
	smExpectDeadline(t, i, 2*time.Second+smSec(0.609375))
	i.Tick(smAt(2*time.Second + smSec(0.609375) - 1))
	smExpect(t, i)
	i.Tick(smAt(2*time.Second + smSec(0.609375)))
	smExpect(t, i, "advert 100", "add vips", "announce",
		"backup->master at 2.609375s: priority 0 advert from 10.0.0.2")
	if s := i.Snapshot(); s.PriorityZeroRecvd != 1 || s.AdvertsReceived != 2 {
		t.Errorf("received %d, priority 0 received %d", s.AdvertsReceived, s.PriorityZeroRecvd)
	}
}

func TestInstanceMasterAnswersPriorityZero(t *testing.T) {
	i, up := smMaster(t, smConfig(100, "10.0.0.1"))
	// RFC 3768 6.4.3: send an advert at once and reset the Adver_Timer.
	smRecv(t, i, up+300*time.Millisecond, "10.0.0.2", 0)
	smExpect(t, i, "advert 100")
	smExpectDeadline(t, i, up+1300*time.Millisecond)
	smExpectState(t, i, StateMaster, StateMaster)
}

func TestInstanceNoPreempt(t *testing.T) {
	for _, preempt := range []bool{false, true} {
		t.Run(fmt.Sprintf("preempt=%v", preempt), func(t *testing.T) {
			cfg := smConfig(200, "10.0.0.1")
			cfg.Preempt = preempt
			i := NewInstance(cfg)
			i.Start(smT0)
			i.TakeOutputs()
			mdi := smSec(3.21875) // 3s + 56/256 s
			for at := 500 * time.Millisecond; at < 20*time.Second; at += time.Second {
				if i.State() == StateMaster {
					break
				}
				smRecv(t, i, at, "10.0.0.2", 100)
				if !preempt {
					smExpectState(t, i, StateBackup, StateBackup)
					smExpectDeadline(t, i, at+mdi)
				} else {
					// The lower priority advert is discarded: the timer set at
					// startup keeps running and the instance heads for Master.
					smExpectState(t, i, StateBackup, StateMaster)
					smExpectDeadline(t, i, mdi)
				}
				if d := i.NextDeadline(); d.Before(smAt(at + time.Second)) {
					i.Tick(d)
				}
			}
			if preempt {
				smExpect(t, i, "advert 200", "add vips", "announce",
					"backup->master at 3.21875s: master down timer expired")
			} else {
				smExpect(t, i)
				smExpectState(t, i, StateBackup, StateBackup)
			}
		})
	}
}

func TestInstancePreemptDelay(t *testing.T) {
	cfg := smConfig(200, "10.0.0.1")
	cfg.PreemptDelay = 5 * time.Second
	i := NewInstance(cfg)
	i.Start(smT0)
	i.TakeOutputs()
	mdi := smSec(3.21875)
	// Lower priority adverts from 1s: the delay runs from 1s to 6s, and
	// during it they reset the Master_Down_Timer.
	for k := 1; k <= 5; k++ {
		at := time.Duration(k) * time.Second
		i.Tick(smAt(at))
		smRecv(t, i, at, "10.0.0.2", 100)
		smExpect(t, i)
		smExpectState(t, i, StateBackup, StateMaster)
		smExpectDeadline(t, i, at+mdi)
	}
	// At 6s the delay has passed: the advert is discarded, the timer set at
	// 5s runs out at 5s + MDI.
	smRecv(t, i, 6*time.Second, "10.0.0.2", 100)
	smExpectDeadline(t, i, 5*time.Second+mdi)
	smRecv(t, i, 7*time.Second, "10.0.0.2", 100)
	smRecv(t, i, 8*time.Second, "10.0.0.2", 100)
	i.Tick(smAt(5*time.Second + mdi - 1))
	smExpect(t, i)
	i.Tick(smAt(5*time.Second + mdi))
	smExpect(t, i, "advert 200", "add vips", "announce",
		"backup->master at 8.21875s: master down timer expired")
}

func TestInstancePreemptDelayRestartsEachBackupPeriod(t *testing.T) {
	cfg := smConfig(200, "10.0.0.1")
	cfg.PreemptDelay = 2 * time.Second
	i := NewInstance(cfg)
	i.Start(smT0)
	mdi := smSec(3.21875)
	// First Backup period: lower adverts from 1s, delay served at 3s.
	for _, at := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second} {
		smRecv(t, i, at, "10.0.0.2", 100)
	}
	smExpectDeadline(t, i, 2*time.Second+mdi)
	i.Tick(smAt(2*time.Second + mdi))
	if i.State() != StateMaster {
		t.Fatalf("state %v after first delay", i.State())
	}
	// Demoted by a 250 at 6s: a new Backup period starts.
	smRecv(t, i, 6*time.Second, "10.0.0.3", 250)
	i.Tick(smAt(6*time.Second + handoverLinger))
	i.TakeOutputs()
	// The 250 falls silent and the 100 takes over at 7s: the delay runs
	// again, from 7s to 9s.
	for _, at := range []time.Duration{7 * time.Second, 8 * time.Second} {
		smRecv(t, i, at, "10.0.0.2", 100)
		smExpectState(t, i, StateBackup, StateMaster)
		smExpectDeadline(t, i, at+mdi)
	}
	smRecv(t, i, 9*time.Second, "10.0.0.2", 100)
	smExpectDeadline(t, i, 8*time.Second+mdi)
	i.Tick(smAt(8*time.Second + mdi))
	smExpect(t, i, "advert 200", "add vips", "announce", "backup->master at 11.21875s: master down timer expired")
}

func TestInstanceV3LearnsMasterAdverInterval(t *testing.T) {
	cfg := smConfig(100, "10.0.0.1")
	cfg.Version = 3
	i := NewInstance(cfg)
	i.Start(smT0)
	i.TakeOutputs()
	// RFC 5798 6.4.1: MAI starts at the configured 1s: 3*100cs + Skew_Time
	// 156*1s/256 = 609.375ms (in microseconds, not the RFC's 60cs).
	smExpectDeadline(t, i, 3609375*time.Microsecond)

	// RFC 5798 6.4.2: the Backup adopts the Master's 100ms interval:
	// MDI = 3*10cs + (156*100ms/256 = 60.9375ms, truncated to 60937µs).
	a := smAdvert(cfg, 200)
	a.Interval = 100 * time.Millisecond
	if r := i.Receive(smAt(time.Second), netip.MustParseAddr("10.0.0.2"), a); r != "" {
		t.Fatalf("dropped: %s", r)
	}
	smExpectDeadline(t, i, time.Second+360937*time.Microsecond)
	// Skew_Time after a priority 0 advert uses the learnt interval too.
	a.Priority = 0
	i.Receive(smAt(1100*time.Millisecond), netip.MustParseAddr("10.0.0.2"), a)
	up := 1100*time.Millisecond + 60937*time.Microsecond
	smExpectDeadline(t, i, up)
	i.Tick(smAt(up))
	smExpect(t, i, "advert 100", "add vips", "announce",
		"backup->master at 1.160937s: priority 0 advert from 10.0.0.2")
	// A Master advertises at its own configured interval.
	smExpectDeadline(t, i, up+time.Second)

	// RFC 5798 6.4.3: demoted, it adopts the new Master's 200ms:
	// MDI = 3*20cs + 156*200ms/256 = 721.875ms.
	a = smAdvert(cfg, 150)
	a.Interval = 200 * time.Millisecond
	i.Receive(smAt(1500*time.Millisecond), netip.MustParseAddr("10.0.0.3"), a)
	smExpectDeadline(t, i, 1500*time.Millisecond+handoverLinger)
	i.Tick(smAt(1500*time.Millisecond + handoverLinger))
	smExpectDeadline(t, i, 1500*time.Millisecond+721875*time.Microsecond)
}

func TestInstanceReceiveDropReasons(t *testing.T) {
	v2 := smConfig(100, "10.0.0.1")
	v2auth := smConfig(100, "10.0.0.1")
	v2auth.AuthPass = "s3cret"
	v3 := smConfig(100, "10.0.0.1")
	v3.Version = 3
	vip := netip.MustParseAddr

	tests := []struct {
		name   string
		cfg    InstanceConfig
		mutate func(a *Advert)
		want   Reason
	}{
		{"valid", v2, func(a *Advert) {}, ""},
		{"valid addresses in another order", v2, func(a *Advert) { slices.Reverse(a.Addrs) }, ""},
		{"valid repeated address", v2, func(a *Advert) { a.Addrs = append(a.Addrs, a.Addrs[0]) }, ""},
		{"valid with password", v2auth, func(a *Advert) {}, ""},
		{"valid v3 ignores auth fields", v3, func(a *Advert) { a.AuthType = AuthSimple; a.Interval = 250 * time.Millisecond }, ""},
		{"version", v2, func(a *Advert) { a.Version = 3 }, ReasonVersion},
		{"version v3", v3, func(a *Advert) { a.Version = 2 }, ReasonVersion},
		{"vrid", v2, func(a *Advert) { a.VRID = 52 }, ReasonVRID},
		{"auth type simple without password", v2, func(a *Advert) { a.AuthType = AuthSimple }, ReasonAuthType},
		{"auth type AH", v2, func(a *Advert) { a.AuthType = 2 }, ReasonAuthType},
		{"auth type none with password", v2auth, func(a *Advert) { a.AuthType = AuthNone; a.AuthData = [8]byte{} }, ReasonAuthType},
		{"auth data wrong", v2auth, func(a *Advert) { copy(a.AuthData[:], "s3creT") }, ReasonAuth},
		{"auth data not NUL padded", v2auth, func(a *Advert) { a.AuthData[7] = 'x' }, ReasonAuth},
		{"interval v2", v2, func(a *Advert) { a.Interval = 2 * time.Second }, ReasonInterval},
		{"interval v3 zero", v3, func(a *Advert) { a.Interval = 0 }, ReasonInterval},
		{"address missing", v2, func(a *Advert) { a.Addrs = a.Addrs[:1] }, ReasonAddressList},
		{"address extra", v2, func(a *Advert) { a.Addrs = append(a.Addrs, vip("192.0.2.12")) }, ReasonAddressList},
		{"address different", v2, func(a *Advert) { a.Addrs[1] = vip("192.0.2.99") }, ReasonAddressList},
		{"address list empty", v2, func(a *Advert) { a.Addrs = nil }, ReasonAddressList},
		{"address list checked at priority 255", v2, func(a *Advert) { a.Priority = 255; a.Addrs = nil }, ReasonAddressList},
		{"address list checked at priority 0", v2, func(a *Advert) { a.Priority = 0; a.Addrs = nil }, ReasonAddressList},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A Master: an accepted higher priority advert demotes it, a
			// dropped one changes nothing.
			i, up := smMaster(t, tt.cfg)
			a := smAdvert(tt.cfg, 250)
			tt.mutate(a)
			before := i.Snapshot()
			got := i.Receive(smAt(up+time.Millisecond), netip.MustParseAddr("10.0.0.2"), a)
			if got != tt.want {
				t.Fatalf("Receive = %q, want %q", got, tt.want)
			}
			after := i.Snapshot()
			if tt.want != "" {
				if out := i.TakeOutputs(); len(out) != 0 || after.State != StateMaster ||
					after.AdvertsReceived != before.AdvertsReceived || after.PriorityZeroRecvd != before.PriorityZeroRecvd {
					t.Fatalf("dropped advert had effects: outputs %q, state %v, received %d",
						smFormat(out), after.State, after.AdvertsReceived)
				}
				return
			}
			if after.AdvertsReceived != before.AdvertsReceived+1 || after.State != StateBackup {
				t.Fatalf("accepted advert: received %d -> %d, state %v", before.AdvertsReceived, after.AdvertsReceived, after.State)
			}
		})
	}
}

func TestInstanceIgnoresOwnAdverts(t *testing.T) {
	i, up := smMaster(t, smConfig(100, "10.0.0.1"))
	if r := i.Receive(smAt(up), netip.MustParseAddr("10.0.0.1"), smAdvert(i.Config(), 100)); r != "" {
		t.Fatalf("own advert: %q", r)
	}
	smExpect(t, i)
	if s := i.Snapshot(); s.AdvertsReceived != 0 {
		t.Fatalf("own advert counted: %d", s.AdvertsReceived)
	}
}

func TestInstanceFaultFromMaster(t *testing.T) {
	i, up := smMaster(t, smConfig(100, "10.0.0.1"))
	i.SetFault(smAt(up+time.Second), true, "interface eth1 down")
	smExpect(t, i, "advert 0", "remove vips", "master->fault at 4.609375s: fault: interface eth1 down")
	smExpectState(t, i, StateFault, StateFault)
	if !i.NextDeadline().IsZero() {
		t.Fatalf("timers armed in fault: %v", i.NextDeadline())
	}
	// Faulted: nothing reacts, adverts are still validated and counted.
	smRecv(t, i, up+2*time.Second, "10.0.0.2", 50)
	i.Tick(smAt(up + 10*time.Second))
	smExpect(t, i)
	// A second fault only updates the reason.
	i.SetFault(smAt(up+11*time.Second), true, "script chk_haproxy failed")
	smExpect(t, i)

	i.SetFault(smAt(up+12*time.Second), false, "")
	smExpect(t, i, "fault->backup at 15.609375s: fault cleared")
	smExpectDeadline(t, i, up+12*time.Second+smSec(3.609375))
	if s := i.Snapshot(); s.PriorityZeroSent != 1 || s.Transitions[[2]State{StateMaster, StateFault}] != 1 {
		t.Errorf("snapshot %+v", s)
	}
	// Clearing again does nothing.
	i.SetFault(smAt(up+13*time.Second), false, "")
	smExpect(t, i)
}

func TestInstanceFaultFromBackup(t *testing.T) {
	i := NewInstance(smConfig(100, "10.0.0.1"))
	i.Start(smT0)
	i.TakeOutputs()
	i.SetFault(smAt(time.Second), true, "link")
	smExpect(t, i, "backup->fault at 1s: fault: link")
	i.Tick(smAt(10 * time.Second))
	smExpect(t, i)
	i.SetFault(smAt(11*time.Second), false, "")
	smExpect(t, i, "fault->backup at 11s: fault cleared")
}

func TestInstanceFaultBeforeStart(t *testing.T) {
	i := NewInstance(smConfig(255, "10.0.0.1"))
	i.SetFault(smT0, true, "no carrier")
	smExpect(t, i)
	smExpectState(t, i, StateInit, StateInit)
	i.Start(smAt(time.Second))
	smExpect(t, i, "init->fault at 1s: fault: no carrier")
	// Leaving Fault acts as Start: the address owner is Master at once.
	i.SetFault(smAt(2*time.Second), false, "")
	smExpect(t, i, "advert 255", "add vips", "announce",
		"fault->master at 2s: fault cleared (address owner, priority 255)")
}

func TestInstancePriorityDelta(t *testing.T) {
	tests := []struct {
		base  uint8
		delta int
		want  uint8
	}{
		{100, 0, 100},
		{100, 50, 150},
		{100, -30, 70},
		{100, 154, 254},
		{100, 155, 254},
		{100, 1000, 254},
		{100, -99, 1},
		{100, -100, 1},
		{100, -1000, 1},
		{254, 1, 254},
		{1, -1, 1},
		{255, -50, 255},
		{255, 10, 255},
	}
	for _, tt := range tests {
		i := NewInstance(smConfig(tt.base, "10.0.0.1"))
		i.SetPriorityDelta(smT0, tt.delta)
		s := i.Snapshot()
		if s.EffectivePriority != tt.want || s.BasePriority != tt.base {
			t.Errorf("base %d delta %d: effective %d base %d, want %d", tt.base, tt.delta, s.EffectivePriority, s.BasePriority, tt.want)
		}
	}
}

func TestInstancePriorityDeltaTakesEffect(t *testing.T) {
	// A Master advertises its new priority from the next advert on.
	i, up := smMaster(t, smConfig(100, "10.0.0.1"))
	i.SetPriorityDelta(smAt(up+100*time.Millisecond), -60)
	smExpect(t, i)
	i.Tick(smAt(up + time.Second))
	smExpect(t, i, "advert 40")
	if s := i.Snapshot(); s.MasterPriority != 40 {
		t.Errorf("master priority %d, want 40", s.MasterPriority)
	}
	// It now loses to a 50 it used to beat.
	smRecv(t, i, up+1500*time.Millisecond, "10.0.0.2", 50)
	smExpect(t, i, "master->backup at 5.109375s: higher priority advert from 10.0.0.2 (prio 50)")
	i.Tick(smAt(up + 1500*time.Millisecond + handoverLinger))
	smExpect(t, i, "remove vips")

	// A preempting Backup whose priority rises above the Master's discards
	// its adverts and takes over when the timer fires (RFC 3768 6.4.2).
	b := NewInstance(smConfig(100, "10.0.0.1"))
	b.Start(smT0)
	b.TakeOutputs()
	smRecv(t, b, time.Second, "10.0.0.2", 120)
	smExpectState(t, b, StateBackup, StateBackup)
	b.SetPriorityDelta(smAt(1500*time.Millisecond), 30)
	smExpectState(t, b, StateBackup, StateMaster)
	smRecv(t, b, 2*time.Second, "10.0.0.2", 120)
	// Timer still from the 1s advert, computed with the priority of then.
	smExpectDeadline(t, b, time.Second+smSec(3.609375))
	b.Tick(smAt(time.Second + smSec(3.609375)))
	smExpect(t, b, "advert 130", "add vips", "announce", "backup->master at 4.609375s: master down timer expired")
}

func TestInstanceShutdownMakeBeforeBreak(t *testing.T) {
	i, up := smMaster(t, smConfig(100, "10.0.0.1"))
	i.Shutdown(smAt(up + 200*time.Millisecond))
	// Priority 0 at once, addresses kept.
	smExpect(t, i, "advert 0")
	smExpectState(t, i, StateMaster, StateStop)
	smExpectDeadline(t, i, up+1200*time.Millisecond)
	// Regular adverts stop; priority 0 is repeated every interval.
	i.Tick(smAt(up + 1200*time.Millisecond))
	smExpect(t, i, "advert 0")
	// A priority 0 from someone else does not end the handover.
	smRecv(t, i, up+1300*time.Millisecond, "10.0.0.3", 0)
	smExpect(t, i)
	// The new master (lower priority than us, it does not matter) speaks:
	// the instance stops at once but keeps the addresses for the linger,
	// until the new master has announced them.
	heard := up + 1400*time.Millisecond
	smRecv(t, i, heard, "10.0.0.2", 50)
	smExpect(t, i, "master->stop at 5.009375s: shutdown: 10.0.0.2 (prio 50) took over")
	smExpectState(t, i, StateStop, StateStop)
	if s := i.Snapshot(); s.MasterAddr.IsValid() || s.MasterPriority != 0 {
		t.Errorf("lingering: master as seen %v prio %d, want none", s.MasterAddr, s.MasterPriority)
	}
	if i.Stopped() {
		t.Fatal("Stopped while the addresses linger")
	}
	smExpectDeadline(t, i, heard+handoverLinger)
	i.Tick(smAt(heard + handoverLinger - 1))
	smExpect(t, i)
	i.Tick(smAt(heard + handoverLinger))
	smExpect(t, i, "remove vips")
	if !i.Stopped() {
		t.Fatal("not Stopped after the linger")
	}
	if !i.NextDeadline().IsZero() {
		t.Fatalf("timers armed after stop: %v", i.NextDeadline())
	}
	i.Tick(smAt(up + 10*time.Second))
	smRecv(t, i, up+11*time.Second, "10.0.0.2", 50)
	smExpect(t, i)
	if s := i.Snapshot(); s.PriorityZeroSent != 2 {
		t.Errorf("priority 0 sent %d, want 2", s.PriorityZeroSent)
	}
}

func TestInstanceShutdownDeadline(t *testing.T) {
	i, up := smMaster(t, smConfig(100, "10.0.0.1"))
	i.Shutdown(smAt(up))
	smExpect(t, i, "advert 0")
	for k := 1; k <= 3; k++ {
		i.Tick(smAt(up + time.Duration(k)*time.Second))
		smExpect(t, i, "advert 0")
	}
	// Master_Down_Interval with our own priority: 3.609375s after Shutdown.
	smExpectDeadline(t, i, up+smSec(3.609375))
	i.Tick(smAt(up + smSec(3.609375) - 1))
	smExpect(t, i)
	i.Tick(smAt(up + smSec(3.609375)))
	smExpect(t, i, "remove vips", "master->stop at 7.21875s: shutdown: no new master within 3.609375s")
	// Nobody to hand over to: no linger.
	if !i.Stopped() || !i.NextDeadline().IsZero() {
		t.Fatalf("Stopped %v, NextDeadline %v", i.Stopped(), i.NextDeadline())
	}
}

func TestInstanceShutdownNotMaster(t *testing.T) {
	b := NewInstance(smConfig(100, "10.0.0.1"))
	b.Start(smT0)
	b.TakeOutputs()
	b.Shutdown(smAt(time.Second))
	smExpect(t, b, "backup->stop at 1s: shutdown")
	b.Shutdown(smAt(2 * time.Second))
	smExpect(t, b)
	// A stopped instance can be started again.
	b.Start(smAt(3 * time.Second))
	smExpect(t, b, "stop->backup at 3s: startup")

	f := NewInstance(smConfig(100, "10.0.0.1"))
	f.SetFault(smT0, true, "x")
	f.Start(smT0)
	f.TakeOutputs()
	f.Shutdown(smAt(time.Second))
	smExpect(t, f, "fault->stop at 1s: shutdown")
}

func TestInstanceFaultDuringShutdownStops(t *testing.T) {
	i, up := smMaster(t, smConfig(100, "10.0.0.1"))
	i.Shutdown(smAt(up))
	i.TakeOutputs()
	i.SetFault(smAt(up+time.Second), true, "link")
	smExpect(t, i, "advert 0", "remove vips", "master->stop at 4.609375s: shutdown: fault: link")
}

func TestInstanceResignWithHold(t *testing.T) {
	i, up := smMaster(t, smConfig(200, "10.0.0.1")) // up = 3.21875s
	i.Resign(smAt(up), 10*time.Second)
	smExpect(t, i, "advert 0")
	smExpectState(t, i, StateMaster, StateBackup)
	// The peer (lower priority) takes over 700ms later; the addresses go
	// after the linger.
	smRecv(t, i, up+700*time.Millisecond, "10.0.0.2", 100)
	smExpect(t, i, "master->backup at 3.91875s: resign: 10.0.0.2 (prio 100) took over")
	smExpectState(t, i, StateBackup, StateBackup)
	smExpectDeadline(t, i, up+700*time.Millisecond+handoverLinger)
	i.Tick(smAt(up + 700*time.Millisecond + handoverLinger))
	smExpect(t, i, "remove vips")
	// Hold until up+10.7s: the lower priority adverts keep us Backup.
	var last time.Duration
	for at := up + 1700*time.Millisecond; at < up+10700*time.Millisecond; at += time.Second {
		i.Tick(smAt(at))
		smRecv(t, i, at, "10.0.0.2", 100)
		smExpect(t, i)
		smExpectState(t, i, StateBackup, StateBackup)
		smExpectDeadline(t, i, at+smSec(3.21875))
		last = at
	}
	// The hold is over: the next lower advert is discarded and we preempt
	// when the timer set by the last held advert fires.
	smRecv(t, i, up+10700*time.Millisecond, "10.0.0.2", 100)
	smExpectState(t, i, StateBackup, StateMaster)
	smExpectDeadline(t, i, last+smSec(3.21875))
	i.Tick(smAt(last + smSec(3.21875)))
	smExpect(t, i, "advert 200", "add vips", "announce",
		"backup->master at 16.1375s: master down timer expired")
}

func TestInstanceResignWithoutTakerStaysMaster(t *testing.T) {
	i, up := smMaster(t, smConfig(100, "10.0.0.1"))
	i.Resign(smAt(up), time.Minute)
	smExpect(t, i, "advert 0")
	for k := 1; k <= 3; k++ {
		i.Tick(smAt(up + time.Duration(k)*time.Second))
		smExpect(t, i, "advert 0")
	}
	i.Tick(smAt(up + smSec(3.609375)))
	// Nobody took over: keep the addresses and advertise our priority again.
	smExpect(t, i, "advert 100")
	smExpectState(t, i, StateMaster, StateMaster)
	smExpectDeadline(t, i, up+smSec(3.609375)+time.Second)
}

func TestInstanceResignBackupOnlyHolds(t *testing.T) {
	i := NewInstance(smConfig(200, "10.0.0.1"))
	i.Start(smT0)
	i.TakeOutputs()
	smRecv(t, i, time.Second, "10.0.0.2", 100)
	smExpectState(t, i, StateBackup, StateMaster) // about to preempt
	i.Resign(smAt(1500*time.Millisecond), 5*time.Second)
	smExpect(t, i)
	smExpectState(t, i, StateBackup, StateBackup)
	for at := 2 * time.Second; at < 6500*time.Millisecond; at += time.Second {
		smRecv(t, i, at, "10.0.0.2", 100)
		smExpectDeadline(t, i, at+smSec(3.21875))
	}
	smRecv(t, i, 7*time.Second, "10.0.0.2", 100)
	smExpectDeadline(t, i, 6*time.Second+smSec(3.21875))
	i.Tick(smAt(6*time.Second + smSec(3.21875)))
	smExpect(t, i, "advert 200", "add vips", "announce", "backup->master at 9.21875s: master down timer expired")
}

func TestInstanceAddressOwnerPreemptsAtOnce(t *testing.T) {
	// Two address owners: the one with the higher address wins; the other
	// becomes Backup and, once the winner is replaced by a lower priority
	// router, takes over at the first advert.
	i, up := smMaster(t, smConfig(255, "10.0.0.1"))
	smRecv(t, i, up, "10.0.0.2", 255)
	i.TakeOutputs()
	smRecv(t, i, up+time.Second, "10.0.0.2", 255)
	smExpect(t, i)
	smRecv(t, i, up+2*time.Second, "10.0.0.3", 100)
	smExpect(t, i, "advert 255", "add vips", "announce",
		"backup->master at 5.00390625s: address owner preempting 10.0.0.3 (prio 100)")
}

func TestInstanceSnapshotIsACopy(t *testing.T) {
	cfg := smConfig(100, "10.0.0.1")
	cfg.Name, cfg.Interface, cfg.VRID = "VI_9", "bond0", 9
	i := NewInstance(cfg)
	cfg.VIPs[0] = netip.MustParseAddr("198.51.100.1") // the instance keeps its own copy
	i.Start(smT0)
	s := i.Snapshot()
	s.Transitions[[2]State{StateInit, StateBackup}] = 99
	if got := i.Snapshot().Transitions[[2]State{StateInit, StateBackup}]; got != 1 {
		t.Fatalf("snapshot shares its map: %d", got)
	}
	c := i.Config()
	c.VIPs[1] = netip.MustParseAddr("198.51.100.2")
	if got := i.Config().VIPs; got[0] != netip.MustParseAddr("192.0.2.10") || got[1] != netip.MustParseAddr("192.0.2.11") {
		t.Fatalf("config shares its VIPs: %v", got)
	}
	if s.Name != "VI_9" || s.Interface != "bond0" || s.VRID != 9 || s.Version != 2 || s.RecvErrors != nil || s.SyncGroup != "" {
		t.Fatalf("snapshot %+v", s)
	}
}

// A driver's timer fires late; the Adver_Timer is counted from when it was
// due, so the adverts stay on the grid set when the instance became Master
// and the mean period is the interval, not the interval plus the lateness.
// After a stall of an interval or more the missed adverts are skipped: one
// advert, and the next one interval later.
func TestInstanceAdvertsStayOnGrid(t *testing.T) {
	cfg := simV3Config() // 100ms
	iv := cfg.AdvertInterval
	i, up := smMaster(t, cfg)
	smExpectDeadline(t, i, up+iv)
	const late = 3 * time.Millisecond
	for k := 1; k <= 50; k++ {
		due := up + time.Duration(k)*iv
		i.Tick(smAt(due + late))
		smExpect(t, i, "advert 100")
		smExpectDeadline(t, i, due+iv)
	}
	// The process is stopped for 250ms after the deadline: one advert when
	// it runs again, none in the past.
	due := up + 51*iv
	resumed := due + 250*time.Millisecond
	i.Tick(smAt(resumed))
	smExpect(t, i, "advert 100")
	smExpectDeadline(t, i, resumed+iv)
	// A tick exactly one interval late would put the next deadline at now.
	i.Tick(smAt(resumed + 2*iv))
	smExpect(t, i, "advert 100")
	smExpectDeadline(t, i, resumed+3*iv)
	// The new grid holds.
	for k := 3; k <= 5; k++ {
		i.Tick(smAt(resumed + time.Duration(k)*iv + late))
		smExpect(t, i, "advert 100")
		smExpectDeadline(t, i, resumed+time.Duration(k+1)*iv)
	}
	if s := i.Snapshot(); s.AdvertsSent != 1+50+1+1+3 {
		t.Errorf("adverts sent %d", s.AdvertsSent)
	}

	// The priority 0 repeat of a handover keeps its grid too (until the
	// handover deadline, Master_Down_Interval = 360ms after the Resign).
	start := resumed + 6*iv
	i.Resign(smAt(start), time.Minute)
	smExpect(t, i, "advert 0")
	for k := 1; k <= 2; k++ {
		i.Tick(smAt(start + time.Duration(k)*iv + late))
		smExpect(t, i, "advert 0")
		smExpectDeadline(t, i, start+time.Duration(k+1)*iv)
	}
}

// smHandedOver returns an instance of cfg that became Master, resigned and
// heard 10.0.0.2 take over 700ms later, at the returned time, with its
// outputs drained: a Backup whose addresses linger.
func smHandedOver(t *testing.T, cfg InstanceConfig) (*Instance, time.Duration) {
	t.Helper()
	i, up := smMaster(t, cfg)
	i.Resign(smAt(up), time.Minute)
	smExpect(t, i, "advert 0")
	heard := up + 700*time.Millisecond
	smRecv(t, i, heard, "10.0.0.2", 100)
	smExpect(t, i, fmt.Sprintf("master->backup at %v: resign: 10.0.0.2 (prio 100) took over", heard))
	smExpectDeadline(t, i, heard+handoverLinger)
	return i, heard
}

func TestInstanceLingerReportsNewState(t *testing.T) {
	i, heard := smHandedOver(t, smConfig(200, "10.0.0.1"))
	s := i.Snapshot()
	if s.State != StateBackup || s.Wanted != StateBackup || s.MasterAddr != netip.MustParseAddr("10.0.0.2") ||
		s.MasterPriority != 100 || !s.LastTransition.Equal(smAt(heard)) ||
		s.Transitions[[2]State{StateMaster, StateBackup}] != 1 {
		t.Fatalf("lingering snapshot %+v", s)
	}
	i.Tick(smAt(heard + handoverLinger))
	smExpect(t, i, "remove vips")
	// Then the ordinary Backup timer.
	smExpectDeadline(t, i, heard+smSec(3.21875))
}

// The new master's further adverts during the linger change nothing about
// it; nor do they once stopped.
func TestInstanceLingerSecondAdvert(t *testing.T) {
	i, heard := smHandedOver(t, smConfig(200, "10.0.0.1"))
	smRecv(t, i, heard+5*time.Millisecond, "10.0.0.2", 100)
	smExpect(t, i)
	smExpectDeadline(t, i, heard+handoverLinger)
	i.Tick(smAt(heard + handoverLinger))
	smExpect(t, i, "remove vips")
	i.Tick(smAt(heard + 2*handoverLinger))
	smExpect(t, i)

	s, up := smMaster(t, smConfig(200, "10.0.0.1"))
	s.Shutdown(smAt(up))
	s.TakeOutputs()
	smRecv(t, s, up+time.Second, "10.0.0.2", 100)
	smRecv(t, s, up+time.Second+time.Millisecond, "10.0.0.2", 100)
	smExpect(t, s, "master->stop at 4.21875s: shutdown: 10.0.0.2 (prio 100) took over")
	smExpectDeadline(t, s, up+time.Second+handoverLinger)
	s.Tick(smAt(up + time.Second + handoverLinger))
	smExpect(t, s, "remove vips")
}

// Shutdown during the linger after a Resign stops at once and removes the
// addresses when the linger ends, not before: Stopped waits for it.
func TestInstanceShutdownDuringLinger(t *testing.T) {
	i, heard := smHandedOver(t, smConfig(200, "10.0.0.1"))
	i.Shutdown(smAt(heard + 2*time.Millisecond))
	smExpect(t, i, fmt.Sprintf("backup->stop at %v: shutdown", heard+2*time.Millisecond))
	if i.Stopped() {
		t.Fatal("Stopped while the addresses linger")
	}
	smExpectDeadline(t, i, heard+handoverLinger)
	i.Tick(smAt(heard + handoverLinger))
	smExpect(t, i, "remove vips")
	if !i.Stopped() || !i.NextDeadline().IsZero() {
		t.Fatalf("Stopped %v, NextDeadline %v", i.Stopped(), i.NextDeadline())
	}
}

// A fault during the linger removes the addresses at once.
func TestInstanceFaultDuringLinger(t *testing.T) {
	i, heard := smHandedOver(t, smConfig(200, "10.0.0.1"))
	i.SetFault(smAt(heard+time.Millisecond), true, "link")
	smExpect(t, i, "remove vips", fmt.Sprintf("backup->fault at %v: fault: link", heard+time.Millisecond))
	if !i.NextDeadline().IsZero() {
		t.Fatalf("timers armed in fault: %v", i.NextDeadline())
	}
	i.Tick(smAt(heard + handoverLinger))
	smExpect(t, i)
}

// The new master gives up at once (priority 0) and Skew_Time runs out
// before the linger: the instance becomes Master again and keeps its
// addresses throughout; the linger is over.
func TestInstanceMasterAgainDuringLinger(t *testing.T) {
	i, heard := smHandedOver(t, smConfig(254, "10.0.0.1"))
	smRecv(t, i, heard, "10.0.0.2", 0)
	skew := SkewTime(2, 254, time.Second) // 2/256 s < handoverLinger
	smExpectDeadline(t, i, heard+skew)
	i.Tick(smAt(heard + skew))
	smExpect(t, i, "advert 254", "add vips", "announce",
		fmt.Sprintf("backup->master at %v: priority 0 advert from 10.0.0.2", heard+skew))
	smExpectDeadline(t, i, heard+skew+time.Second)
	i.Tick(smAt(heard + handoverLinger))
	smExpect(t, i)

	// Both timers due in the same Tick: Master, and no removal in between.
	cfg := smConfig(192, "10.0.0.1")
	cfg.Version, cfg.AdvertInterval = 3, 40*time.Millisecond
	if skew := SkewTime(3, 192, cfg.AdvertInterval); skew != handoverLinger {
		t.Fatalf("setup: Skew_Time %v, want %v", skew, handoverLinger)
	}
	j, up := smMaster(t, cfg)
	j.Resign(smAt(up), time.Minute)
	j.TakeOutputs()
	took := up + 20*time.Millisecond
	smRecv(t, j, took, "10.0.0.2", 100)
	smRecv(t, j, took, "10.0.0.2", 0)
	j.TakeOutputs()
	smExpectDeadline(t, j, took+handoverLinger)
	j.Tick(smAt(took + handoverLinger))
	smExpect(t, j, "advert 192", "add vips", "announce",
		fmt.Sprintf("backup->master at %v: priority 0 advert from 10.0.0.2", took+handoverLinger))
	smExpectDeadline(t, j, took+handoverLinger+cfg.AdvertInterval)
}

// smPreempted returns an instance of cfg that became Master and was
// preempted 700ms later by 10.0.0.2 advertising prio, at the returned time,
// with its outputs drained: a Backup whose addresses linger.
func smPreempted(t *testing.T, cfg InstanceConfig, prio uint8) (*Instance, time.Duration) {
	t.Helper()
	i, up := smMaster(t, cfg)
	at := up + 700*time.Millisecond
	smRecv(t, i, at, "10.0.0.2", prio)
	smExpect(t, i, fmt.Sprintf("master->backup at %v: higher priority advert from 10.0.0.2 (prio %d)", at, prio))
	smExpectDeadline(t, i, at+handoverLinger)
	return i, at
}

// The linger after a preemption ends as the one after a handover does: a
// fault removes the addresses at once, a Shutdown keeps the deadline (and
// Stopped waits for it), the preempting Master's further adverts change
// nothing, and its priority 0 advert makes this router Master again, which
// ends the linger if Skew_Time runs out first and otherwise adds the
// addresses back after they went.
func TestInstancePreemptionLinger(t *testing.T) {
	t.Run("fault", func(t *testing.T) {
		i, at := smPreempted(t, smConfig(100, "10.0.0.1"), 200)
		i.SetFault(smAt(at+time.Millisecond), true, "link")
		smExpect(t, i, "remove vips", fmt.Sprintf("backup->fault at %v: fault: link", at+time.Millisecond))
		if !i.NextDeadline().IsZero() {
			t.Fatalf("timers armed in fault: %v", i.NextDeadline())
		}
		i.Tick(smAt(at + handoverLinger))
		smExpect(t, i)
	})
	t.Run("shutdown", func(t *testing.T) {
		i, at := smPreempted(t, smConfig(100, "10.0.0.1"), 200)
		i.Shutdown(smAt(at + 2*time.Millisecond))
		smExpect(t, i, fmt.Sprintf("backup->stop at %v: shutdown", at+2*time.Millisecond))
		if i.Stopped() {
			t.Fatal("Stopped while the addresses linger")
		}
		smExpectDeadline(t, i, at+handoverLinger)
		i.Tick(smAt(at + handoverLinger))
		smExpect(t, i, "remove vips")
		if !i.Stopped() || !i.NextDeadline().IsZero() {
			t.Fatalf("Stopped %v, NextDeadline %v", i.Stopped(), i.NextDeadline())
		}
	})
	t.Run("further adverts", func(t *testing.T) {
		i, at := smPreempted(t, smConfig(100, "10.0.0.1"), 200)
		smRecv(t, i, at+5*time.Millisecond, "10.0.0.2", 200)
		smExpect(t, i)
		smExpectDeadline(t, i, at+handoverLinger)
		i.Tick(smAt(at + handoverLinger))
		smExpect(t, i, "remove vips")
		smExpectDeadline(t, i, at+5*time.Millisecond+smSec(3.609375))
	})
	t.Run("priority 0, Skew_Time first", func(t *testing.T) {
		// Only the address owner outranks 254, whose Skew_Time (2/256 s)
		// is shorter than the linger.
		i, at := smPreempted(t, smConfig(254, "10.0.0.1"), 255)
		smRecv(t, i, at+time.Millisecond, "10.0.0.2", 0)
		skew := SkewTime(2, 254, time.Second)
		smExpectDeadline(t, i, at+time.Millisecond+skew)
		i.Tick(smAt(at + time.Millisecond + skew))
		smExpect(t, i, "advert 254", "add vips", "announce",
			fmt.Sprintf("backup->master at %v: priority 0 advert from 10.0.0.2", at+time.Millisecond+skew))
		i.Tick(smAt(at + handoverLinger))
		smExpect(t, i)
	})
	t.Run("priority 0, linger first", func(t *testing.T) {
		i, at := smPreempted(t, smConfig(100, "10.0.0.1"), 200)
		smRecv(t, i, at+time.Millisecond, "10.0.0.2", 0)
		i.Tick(smAt(at + handoverLinger))
		smExpect(t, i, "remove vips")
		skew := SkewTime(2, 100, time.Second)
		smExpectDeadline(t, i, at+time.Millisecond+skew)
		i.Tick(smAt(at + time.Millisecond + skew))
		smExpect(t, i, "advert 100", "add vips", "announce",
			fmt.Sprintf("backup->master at %v: priority 0 advert from 10.0.0.2", at+time.Millisecond+skew))
	})
	t.Run("address owner", func(t *testing.T) {
		// An address owner preempts the moment it hears the Master
		// (receiveBackup), with its advert first: the Master lingers too.
		i, at := smPreempted(t, smConfig(200, "10.0.0.1"), 255)
		i.Tick(smAt(at + handoverLinger))
		smExpect(t, i, "remove vips")
	})
}

// Leaving Master for a reason other than another Master's advert does not
// linger: a fault removes the addresses with the priority 0 advert, and a
// Shutdown nobody answers removes them when it gives up.
func TestInstanceNoLingerWithoutNewMaster(t *testing.T) {
	i, up := smMaster(t, smConfig(100, "10.0.0.1"))
	i.SetFault(smAt(up), true, "link")
	smExpect(t, i, "advert 0", "remove vips", fmt.Sprintf("master->fault at %v: fault: link", up))
	if !i.NextDeadline().IsZero() {
		t.Fatalf("timers armed in fault: %v", i.NextDeadline())
	}

	j, up := smMaster(t, smConfig(100, "10.0.0.1"))
	j.Shutdown(smAt(up))
	smExpect(t, j, "advert 0")
	mdi := MasterDownInterval(2, 100, time.Second)
	for k := 1; k <= 3; k++ {
		j.Tick(smAt(up + time.Duration(k)*time.Second))
		smExpect(t, j, "advert 0")
	}
	j.Tick(smAt(up + mdi))
	smExpect(t, j, "remove vips", fmt.Sprintf("master->stop at %v: shutdown: no new master within %v", up+mdi, mdi))
	if !j.Stopped() {
		t.Fatal("not Stopped")
	}
}

// A Master that hears a lower priority Master (a split brain healing, or
// both starting together) asks for its addresses to be announced again
// (keepalived's garp_lower_prio_*), once per episode: the adverts of a
// Master that stays, even with one lost, ask for nothing more; one after
// lowerPrioQuiet of silence (the other router yielded and came back) starts
// a new episode. A new mastership starts afresh.
func TestInstanceLowerPriorityMasterAnnounces(t *testing.T) {
	i, up := smMaster(t, smConfig(200, "10.0.0.1"))
	quiet := lowerPrioQuiet(time.Second, time.Second) // 2.5s
	at := up + 100*time.Millisecond
	smRecv(t, i, at, "10.0.0.2", 100)
	smExpect(t, i, "announce lower prio: lower priority advert from 10.0.0.2 (prio 100)")
	for k := 1; k <= 100; k++ {
		at += time.Second
		if k == 50 {
			at += time.Second // one advert lost
		}
		smRecv(t, i, at, "10.0.0.2", 100)
		smExpect(t, i)
	}
	smExpectState(t, i, StateMaster, StateMaster)
	// Just under the quiet: still the same episode, which it extends.
	at += quiet - time.Nanosecond
	smRecv(t, i, at, "10.0.0.2", 100)
	smExpect(t, i)
	at += quiet
	smRecv(t, i, at, "10.0.0.3", 99)
	smExpect(t, i, "announce lower prio: lower priority advert from 10.0.0.3 (prio 99)")

	// Preempted, then Master again: the first lower priority advert of the
	// new mastership asks again, however soon it comes.
	at += 100 * time.Millisecond
	smRecv(t, i, at, "10.0.0.4", 250)
	smExpect(t, i, fmt.Sprintf("master->backup at %v: higher priority advert from 10.0.0.4 (prio 250)", at))
	i.Tick(smAt(at + handoverLinger))
	smExpect(t, i, "remove vips")
	smRecv(t, i, at+time.Second, "10.0.0.4", 0)
	back := at + time.Second + SkewTime(2, 200, time.Second)
	i.Tick(smAt(back))
	smExpect(t, i, "advert 200", "add vips", "announce", fmt.Sprintf("backup->master at %v: priority 0 advert from 10.0.0.4", back))
	smRecv(t, i, back+time.Millisecond, "10.0.0.3", 99)
	smExpect(t, i, "announce lower prio: lower priority advert from 10.0.0.3 (prio 99)")
}

// With VRRPv3 a lower priority Master may advertise at another interval;
// the longer of the two makes the episode, so that a Master with a longer
// interval that stays is not taken for a new one at every advert.
func TestInstanceLowerPriorityMasterLongerInterval(t *testing.T) {
	cfg := simV3Config() // 100ms
	cfg.Priority = 200
	i, up := smMaster(t, cfg)
	peer := smAdvert(cfg, 100)
	peer.Interval = time.Second
	src := netip.MustParseAddr("10.0.0.2")
	for k := range 10 {
		if r := i.Receive(smAt(up+time.Duration(k)*time.Second), src, peer); r != "" {
			t.Fatal(r)
		}
		if k == 0 {
			smExpect(t, i, "announce lower prio: lower priority advert from 10.0.0.2 (prio 100)")
		} else {
			smExpect(t, i)
		}
	}
}

// A Master handing over hears the router that takes over, whatever its
// priority: that is no split brain, and nothing is announced.
func TestInstanceHandingOverDoesNotAnnounce(t *testing.T) {
	i, up := smMaster(t, smConfig(200, "10.0.0.1"))
	i.Resign(smAt(up), time.Minute)
	smExpect(t, i, "advert 0")
	smRecv(t, i, up+700*time.Millisecond, "10.0.0.2", 100)
	smExpect(t, i, fmt.Sprintf("master->backup at %v: resign: 10.0.0.2 (prio 100) took over", up+700*time.Millisecond))
}

// With HigherPrioSendAdvert a Master that yields to a higher priority (or
// an equal priority from a higher address) sends one advert with its own
// priority first, so that the other Master hears a lower priority Master
// and announces the addresses again. Reconfigure switches it in place.
func TestInstanceHigherPrioSendAdvert(t *testing.T) {
	cfg := smConfig(100, "10.0.0.1")
	cfg.HigherPrioSendAdvert = true
	i, up := smMaster(t, cfg)
	at := up + 300*time.Millisecond
	smRecv(t, i, at, "10.0.0.2", 200)
	smExpect(t, i, "advert 100", fmt.Sprintf("master->backup at %v: higher priority advert from 10.0.0.2 (prio 200)", at))
	if s := i.Snapshot(); s.AdvertsSent != 2 { // becoming Master, yielding
		t.Fatalf("adverts sent %d, want 2", s.AdvertsSent)
	}

	j, up := smMaster(t, cfg)
	smRecv(t, j, up+time.Millisecond, "10.0.0.2", 100)
	smExpect(t, j, "advert 100", fmt.Sprintf("master->backup at %v: equal priority advert from higher address 10.0.0.2 (prio 100)", up+time.Millisecond))

	k, up := smMaster(t, cfg)
	off := cfg
	off.HigherPrioSendAdvert = false
	if !k.Reconfigure(smAt(up), off) {
		t.Fatal("Reconfigure refused HigherPrioSendAdvert")
	}
	smExpect(t, k)
	smRecv(t, k, up+time.Millisecond, "10.0.0.2", 200)
	smExpect(t, k, fmt.Sprintf("master->backup at %v: higher priority advert from 10.0.0.2 (prio 200)", up+time.Millisecond))
}
