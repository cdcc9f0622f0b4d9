package collector

import (
	"time"

	"github.com/vigil-lb/vigil/check"
	"github.com/vigil-lb/vigil/ipvs"
)

// LBSnapshot is the load-balancing side of a node: configured virtual
// servers joined with what the kernel holds, the reconciler's counters and
// the health checks. The daemon builds it; Collect only reads it.
type LBSnapshot struct {
	// IPVSUp is false while the kernel has no IPVS.
	IPVSUp         bool
	VirtualServers []VirtualServerState
	Reconcile      ReconcileStats
	Checks         []check.Snapshot
}

// VirtualServerState is one configured virtual server.
type VirtualServerState struct {
	Name string
	Key  ipvs.ServiceKey
	// Scheduler is the configured IPVS scheduler (ipvs.VirtualServer's);
	// "" means ipvs.DefaultScheduler.
	Scheduler string
	// InKernel reports whether the service is in the kernel table.
	InKernel bool
	Status   ipvs.VSStatus
	// Stats are the kernel's counters; valid when InKernel.
	Stats       ipvs.Stats
	RealServers []RealServerState
}

// RealServerState is one configured real server (or the sorry server).
type RealServerState struct {
	Address          string // RealServer.ID
	Sorry            bool   // the virtual server's sorry_server
	ConfiguredWeight int
	// InKernel reports whether the destination is in the kernel table;
	// KernelWeight and Stats are valid only then.
	InKernel     bool
	KernelWeight int
	// Up reports whether it passes all of its checks; a server without
	// checks (the sorry server) is up, as in ipvs.Desired.
	Up      bool
	Drained bool // an operator override holds it at weight 0
	Stats   ipvs.DestinationStats
	// CheckIDs name its checks in LBSnapshot.Checks.
	CheckIDs []string
}

// ReconcileStats are the reconciler's counters since vigil started.
type ReconcileStats struct {
	Runs          uint64
	Errors        uint64
	Changes       map[string]uint64 // by kind: service_create, dest_update, ...
	DriftRepaired uint64
	LastDuration  time.Duration
	LastSuccess   time.Time
}
