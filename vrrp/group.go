package vrrp

import (
	"fmt"
	"slices"
	"time"
)

// Group is a sync group (keepalived's vrrp_sync_group): instances that must
// be Master together, typically the outside and inside routers of a NAT or
// LVS pair. Like Instance it performs no I/O; its decisions are applied to
// the members, whose output queues carry the resulting actions.
//
// The driver calls Sync after every input delivered to any member (Start,
// Tick, Receive, SetFault, ...). Sync applies three rules, in this order of
// precedence, and stops at the first that applies:
//
//  1. Fault. While any member is in Fault because of a fault of its own, every
//     other running member is held in Fault too; once no member has a fault
//     of its own, the members held by the group recover (as Start does).
//  2. Backup. If a member fell from Master to Backup since the previous Sync
//     (it heard a higher priority Master, or finished a Resign), every other
//     Master member becomes Backup at once and inherits the resigning
//     member's preemption hold, and keeps its addresses as long as that
//     member does (the linger after a handover or preemption, see
//     handoverLinger).
//  3. Master. If any member is Master (and not handing over), every Backup
//     member becomes Master at once.
//
// Rule 2 is decided from transitions (each member's state as seen by the
// previous Sync), not from states, and Sync records the states it leaves
// behind, so that the group's own forced transitions never trigger it: a
// member forced to Backup does not, at the next Sync, push the others down
// again, and a member forced to Master is not taken for a new Master either.
// Fault beats Backup beats Master: when members disagree, the group takes the
// safer state, so it never holds addresses that part of it cannot serve.
//
// Besides, when a Master member asks for its addresses to be announced
// again because it heard a lower priority Master (AnnounceLowerPrio, a
// split brain that healed), every other Master member asks too, as
// keepalived sends the garp_lower_prio announcements of the whole sync
// group. The other router's members become Backup together, by its own
// sync group, as soon as one of them hears this router, so this router's
// other members may never hear their peers advertise, although their
// clients may have followed the other router as well.
type Group struct {
	name    string
	members []*Instance
	last    []State // each member's state as left by the previous Sync
}

// NewGroup returns a sync group of the given members and records its name in
// their snapshots. An instance must belong to at most one group.
func NewGroup(name string, members []*Instance) *Group {
	g := &Group{name: name, members: slices.Clone(members), last: make([]State, len(members))}
	for k, m := range g.members {
		m.syncGroup = name
		g.last[k] = m.state
	}
	return g
}

// Name returns the group's name.
func (g *Group) Name() string { return g.name }

// Sync brings the members into line after an input; see Group for the
// rules. Calling it again without new input does nothing.
func (g *Group) Sync(now time.Time) {
	defer g.record()

	for _, m := range g.members {
		if m.state != StateMaster || !m.lowerPrioAnnounced.Equal(now) {
			continue
		}
		for _, o := range g.members {
			if o != m {
				o.announceLowerPrioForGroup(now, g.name, m)
			}
		}
		break
	}

	// Rule 1: fault. Only a member's own fault counts, so that faults the
	// group imposed do not keep each other alive.
	faulted := false
	for _, m := range g.members {
		if m.state == StateFault && m.fault {
			faulted = true
		}
	}
	for _, m := range g.members {
		if cause := g.faultedOther(m); cause != nil {
			m.forceFault(now, fmt.Sprintf("sync group %s: member %s in fault", g.name, cause.cfg.Name))
		} else {
			m.clearGroupFault(now, fmt.Sprintf("sync group %s: fault cleared", g.name))
		}
	}
	if faulted {
		return
	}

	// Rule 2: a member fell from Master to Backup since the last Sync.
	for k, m := range g.members {
		if g.last[k] != StateMaster || m.state != StateBackup {
			continue
		}
		reason := fmt.Sprintf("sync group %s: member %s went backup", g.name, m.cfg.Name)
		for _, o := range g.members {
			if o != m {
				o.forceBackup(now, reason, m.holdUntil, m.lingerUntil)
			}
		}
		return
	}

	// Rule 3: a member is Master.
	for _, m := range g.members {
		if m.state != StateMaster || m.handingOver {
			continue
		}
		reason := fmt.Sprintf("sync group %s: member %s became master", g.name, m.cfg.Name)
		for _, o := range g.members {
			o.forceMaster(now, reason)
		}
		return
	}
}

// faultedOther returns a member other than m that is in Fault of its own, or
// nil.
func (g *Group) faultedOther(m *Instance) *Instance {
	for _, o := range g.members {
		if o != m && o.state == StateFault && o.fault {
			return o
		}
	}
	return nil
}

func (g *Group) record() {
	for k, m := range g.members {
		g.last[k] = m.state
	}
}
