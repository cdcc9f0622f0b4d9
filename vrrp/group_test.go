package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// grpPair returns two instances (VI_1 prio a, VI_2 prio b) in sync group VG1.
func grpPair(a, b uint8) (*Group, *Instance, *Instance) {
	c1 := smConfig(a, "10.0.0.1")
	c2 := smConfig(b, "10.0.1.1")
	c2.Name, c2.VRID = "VI_2", 52
	c2.VIPs = []netip.Addr{netip.MustParseAddr("198.51.100.10")}
	i1, i2 := NewInstance(c1), NewInstance(c2)
	return NewGroup("VG1", []*Instance{i1, i2}), i1, i2
}

// grpStartMasters starts both members and lets VI_1's timer make the pair
// Master; it returns the time that happened with all outputs drained.
func grpStartMasters(t *testing.T, g *Group, i1, i2 *Instance) time.Duration {
	t.Helper()
	i1.Start(smT0)
	g.Sync(smT0)
	i2.Start(smT0)
	g.Sync(smT0)
	up := i1.NextDeadline().Sub(smT0)
	i1.Tick(smAt(up))
	g.Sync(smAt(up))
	if i1.State() != StateMaster || i2.State() != StateMaster {
		t.Fatalf("setup: states %v %v", i1.State(), i2.State())
	}
	i1.TakeOutputs()
	i2.TakeOutputs()
	return up
}

// grpSyncIsQuiet checks that further Syncs without input change nothing.
func grpSyncIsQuiet(t *testing.T, g *Group, at time.Duration, members ...*Instance) {
	t.Helper()
	for range 3 {
		g.Sync(smAt(at))
	}
	for _, m := range members {
		smExpect(t, m)
	}
}

func TestGroupMembersBecomeMasterTogether(t *testing.T) {
	g, i1, i2 := grpPair(200, 100)
	if g.Name() != "VG1" || i1.Snapshot().SyncGroup != "VG1" || i2.Snapshot().SyncGroup != "VG1" {
		t.Fatalf("names: %q %q %q", g.Name(), i1.Snapshot().SyncGroup, i2.Snapshot().SyncGroup)
	}
	i1.Start(smT0)
	i2.Start(smT0)
	g.Sync(smT0)
	smExpect(t, i1, "init->backup at 0s: startup")
	smExpect(t, i2, "init->backup at 0s: startup")

	// VI_1's timer (prio 200) fires first; VI_2 follows at once instead of
	// waiting for its own.
	i1.Tick(smAt(smSec(3.21875)))
	g.Sync(smAt(smSec(3.21875)))
	smExpect(t, i1, "advert 200", "add vips", "announce", "backup->master at 3.21875s: master down timer expired")
	smExpect(t, i2, "advert 100", "add vips", "announce",
		"backup->master at 3.21875s: sync group VG1: member VI_1 became master")
	smExpectDeadline(t, i2, smSec(4.21875))
	grpSyncIsQuiet(t, g, smSec(3.21875), i1, i2)
}

func TestGroupLateMemberJoinsMaster(t *testing.T) {
	g, i1, i2 := grpPair(255, 100)
	i1.Start(smT0)
	g.Sync(smT0)
	smExpect(t, i1, "advert 255", "add vips", "announce", "init->master at 0s: startup (address owner, priority 255)")
	smExpect(t, i2)
	i2.Start(smAt(time.Second))
	g.Sync(smAt(time.Second))
	smExpect(t, i2, "init->backup at 1s: startup", "advert 100", "add vips", "announce",
		"backup->master at 1s: sync group VG1: member VI_1 became master")
}

func TestGroupMembersGoBackupTogether(t *testing.T) {
	g, i1, i2 := grpPair(100, 100)
	up := grpStartMasters(t, g, i1, i2)
	at := up + 500*time.Millisecond
	smRecv(t, i1, at, "10.0.0.2", 150)
	g.Sync(smAt(at))
	smExpect(t, i1, "master->backup at 4.109375s: higher priority advert from 10.0.0.2 (prio 150)")
	smExpect(t, i2, "master->backup at 4.109375s: sync group VG1: member VI_1 went backup")
	grpSyncIsQuiet(t, g, at, i1, i2)
	// Preempted, VI_1 keeps its addresses for the linger, and VI_2 as long
	// (the peer's VI_2 is made Master together with its VI_1).
	for _, m := range []*Instance{i1, i2} {
		smExpectDeadline(t, m, at+handoverLinger)
		m.Tick(smAt(at + handoverLinger))
	}
	g.Sync(smAt(at + handoverLinger))
	smExpect(t, i1, "remove vips")
	smExpect(t, i2, "remove vips")
	smExpectDeadline(t, i2, at+smSec(3.609375))
	grpSyncIsQuiet(t, g, at+handoverLinger, i1, i2)
}

// A member's fault during the linger after a preemption removes every
// member's addresses at once.
func TestGroupFaultDuringPreemptionLinger(t *testing.T) {
	g, i1, i2 := grpPair(100, 100)
	up := grpStartMasters(t, g, i1, i2)
	at := up + 500*time.Millisecond
	smRecv(t, i1, at, "10.0.0.2", 150)
	g.Sync(smAt(at))
	i1.TakeOutputs()
	i2.TakeOutputs()
	i2.SetFault(smAt(at+time.Millisecond), true, "link")
	g.Sync(smAt(at + time.Millisecond))
	smExpect(t, i2, "remove vips", "backup->fault at 4.110375s: fault: link")
	smExpect(t, i1, "remove vips", "backup->fault at 4.110375s: sync group VG1: member VI_2 in fault")
	for _, m := range []*Instance{i1, i2} {
		if !m.NextDeadline().IsZero() {
			t.Fatalf("%s: timer armed in fault: %v", m.Config().Name, m.NextDeadline())
		}
	}
}

func TestGroupFaultMovesAllMembers(t *testing.T) {
	g, i1, i2 := grpPair(100, 100)
	up := grpStartMasters(t, g, i1, i2)

	i2.SetFault(smAt(up+time.Second), true, "track script chk failed")
	g.Sync(smAt(up + time.Second))
	smExpect(t, i2, "advert 0", "remove vips", "master->fault at 4.609375s: fault: track script chk failed")
	smExpect(t, i1, "advert 0", "remove vips", "master->fault at 4.609375s: sync group VG1: member VI_2 in fault")
	grpSyncIsQuiet(t, g, up+time.Second, i1, i2)

	// VI_1 gets a fault of its own as well; VI_2's clears first: VI_2 is
	// now held by the group.
	i1.SetFault(smAt(up+2*time.Second), true, "link down")
	g.Sync(smAt(up + 2*time.Second))
	i2.SetFault(smAt(up+3*time.Second), false, "")
	g.Sync(smAt(up + 3*time.Second))
	smExpect(t, i1)
	smExpect(t, i2)
	smExpectState(t, i2, StateFault, StateFault)

	// The last own fault clears: everyone recovers.
	i1.SetFault(smAt(up+4*time.Second), false, "")
	g.Sync(smAt(up + 4*time.Second))
	smExpect(t, i1, "fault->backup at 7.609375s: fault cleared")
	smExpect(t, i2, "fault->backup at 7.609375s: sync group VG1: fault cleared")
	smExpectDeadline(t, i2, up+4*time.Second+smSec(3.609375))
	grpSyncIsQuiet(t, g, up+4*time.Second, i1, i2)
}

func TestGroupFaultHoldsLateStarter(t *testing.T) {
	g, i1, i2 := grpPair(100, 100)
	i1.SetFault(smT0, true, "no carrier")
	i1.Start(smT0)
	g.Sync(smT0)
	i2.Start(smT0)
	g.Sync(smT0)
	smExpect(t, i1, "init->fault at 0s: fault: no carrier")
	// The group already holds VI_2, so it starts straight into Fault.
	smExpect(t, i2, "init->fault at 0s: sync group VG1: member VI_1 in fault")
	if !i2.NextDeadline().IsZero() {
		t.Fatalf("faulted member has a timer")
	}
}

// TestGroupNoOscillation drives the pair through a long stable period on
// each side of a demotion: the group's own forced transitions must not
// trigger further ones.
func TestGroupNoOscillation(t *testing.T) {
	g, i1, i2 := grpPair(200, 200)
	up := grpStartMasters(t, g, i1, i2)

	// Stable masters: 100 intervals of adverts, lower priority peers heard.
	// The first of them makes both members announce their addresses again
	// (the peers were Master too), VI_2 for the group; the peers staying
	// Master makes no more announcements.
	now := up
	for k := 1; k <= 100; k++ {
		now = up + time.Duration(k)*time.Second
		i1.Tick(smAt(now))
		g.Sync(smAt(now))
		i2.Tick(smAt(now))
		g.Sync(smAt(now))
		smRecv(t, i1, now+time.Millisecond, "10.0.0.2", 100)
		g.Sync(smAt(now + time.Millisecond))
		smRecv(t, i2, now+time.Millisecond, "10.0.1.2", 100)
		g.Sync(smAt(now + time.Millisecond))
		if k == 1 {
			smExpect(t, i1, "advert 200", "announce lower prio: lower priority advert from 10.0.0.2 (prio 100)")
			smExpect(t, i2, "advert 200", "announce lower prio: sync group VG1: member VI_1 heard a lower priority master")
			continue
		}
		smExpect(t, i1, "advert 200")
		smExpect(t, i2, "advert 200")
	}

	// VI_1's peer comes up with a higher priority: the pair goes Backup.
	now += 500 * time.Millisecond
	smRecv(t, i1, now, "10.0.0.2", 250)
	g.Sync(smAt(now))
	i1.Tick(smAt(now + handoverLinger))
	i2.Tick(smAt(now + handoverLinger))
	g.Sync(smAt(now + handoverLinger))
	i1.TakeOutputs()
	i2.TakeOutputs()
	// Both peers are now Master (VI_2's peer joined through its own group)
	// and advertise 250; for 100 intervals nothing changes.
	for k := 1; k <= 100; k++ {
		at := now + time.Duration(k)*time.Second
		i1.Tick(smAt(at))
		g.Sync(smAt(at))
		i2.Tick(smAt(at))
		g.Sync(smAt(at))
		smRecv(t, i1, at, "10.0.0.2", 250)
		g.Sync(smAt(at))
		smRecv(t, i2, at, "10.0.1.2", 250)
		g.Sync(smAt(at))
		smExpect(t, i1)
		smExpect(t, i2)
	}
	for _, m := range []*Instance{i1, i2} {
		s := m.Snapshot()
		if s.State != StateBackup || s.Transitions[[2]State{StateMaster, StateBackup}] != 1 ||
			s.Transitions[[2]State{StateBackup, StateMaster}] != 1 {
			t.Fatalf("%s: state %v transitions %v", s.Name, s.State, s.Transitions)
		}
	}
}

func TestGroupResignHoldPropagates(t *testing.T) {
	g, i1, i2 := grpPair(200, 200)
	up := grpStartMasters(t, g, i1, i2)
	i1.Resign(smAt(up), 30*time.Second)
	g.Sync(smAt(up))
	smExpect(t, i1, "advert 0")
	smExpect(t, i2) // a member handing over is not a new Master nor a Backup
	at := up + 700*time.Millisecond
	smRecv(t, i1, at, "10.0.0.2", 100)
	g.Sync(smAt(at))
	smExpect(t, i1, "master->backup at 3.91875s: resign: 10.0.0.2 (prio 100) took over")
	smExpect(t, i2, "master->backup at 3.91875s: sync group VG1: member VI_1 went backup")
	// VI_2 keeps its addresses as long as VI_1 does: the peer's VI_2 is
	// made Master together with its VI_1 and announces at the same time.
	for _, m := range []*Instance{i1, i2} {
		smExpectDeadline(t, m, at+handoverLinger)
		m.Tick(smAt(at + handoverLinger))
	}
	g.Sync(smAt(at + handoverLinger))
	smExpect(t, i1, "remove vips")
	smExpect(t, i2, "remove vips")
	// VI_2's lower priority peer is Master now; VI_2 holds too and does
	// not preempt it.
	for k := 1; k <= 25; k++ {
		now := at + time.Duration(k)*time.Second
		i2.Tick(smAt(now))
		smRecv(t, i2, now, "10.0.1.2", 100)
		g.Sync(smAt(now))
		smExpect(t, i2)
		smExpectState(t, i2, StateBackup, StateBackup)
	}
}

func TestGroupBackupStopsShuttingDownMember(t *testing.T) {
	g, i1, i2 := grpPair(100, 100)
	up := grpStartMasters(t, g, i1, i2)
	i2.Shutdown(smAt(up))
	g.Sync(smAt(up))
	smExpect(t, i2, "advert 0")
	smExpect(t, i1)
	at := up + time.Second
	smRecv(t, i1, at, "10.0.0.2", 200)
	g.Sync(smAt(at))
	smExpect(t, i1, "master->backup at 4.609375s: higher priority advert from 10.0.0.2 (prio 200)")
	smExpect(t, i2, "master->stop at 4.609375s: shutdown: sync group VG1: member VI_1 went backup")
	// Both keep their addresses for VI_1's linger; VI_2 is Stopped after.
	if i2.Stopped() {
		t.Fatal("VI_2 Stopped while its addresses linger")
	}
	for _, m := range []*Instance{i1, i2} {
		smExpectDeadline(t, m, at+handoverLinger)
		m.Tick(smAt(at + handoverLinger))
	}
	g.Sync(smAt(at + handoverLinger))
	smExpect(t, i1, "remove vips")
	smExpect(t, i2, "remove vips")
	if !i2.Stopped() {
		t.Fatal("VI_2 not Stopped after the linger")
	}
}

func TestGroupHandingOverMemberDoesNotPullOthersUp(t *testing.T) {
	g, i1, i2 := grpPair(100, 100)
	i1.Start(smT0)
	g.Sync(smT0)
	i1.Tick(smAt(smSec(3.609375)))
	g.Sync(smAt(smSec(3.609375)))
	i1.TakeOutputs()
	i1.Resign(smAt(4*time.Second), time.Minute)
	g.Sync(smAt(4 * time.Second))
	smExpect(t, i1, "advert 0")
	// VI_2 starts while VI_1 hands over: the group is leaving Master, so
	// VI_2 must not be made Master.
	i2.Start(smAt(5 * time.Second))
	g.Sync(smAt(5 * time.Second))
	smExpect(t, i2, "init->backup at 5s: startup")
	smExpectState(t, i2, StateBackup, StateBackup)
}
