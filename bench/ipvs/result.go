package ipvsbench

import (
	"time"
)

// Lines the VM test prints on standard output for the driver. Everything
// else it prints is log.
const (
	// ResultPrefix starts the line holding the TableResult as JSON.
	ResultPrefix = "BENCH-IPVS-RESULT "
	// ProfilePrefix starts a line "BENCH-IPVS-PROFILE <name> <base64
	// chunk>"; the chunks of one name, in order, are a pprof CPU profile.
	ProfilePrefix = "BENCH-IPVS-PROFILE "
)

// Environment of the VM test, set by the driver. exec.sh passes every
// VIGIL_* variable into the VM.
const (
	// EnvRun must be "1" for the VM test to run at all: it is a benchmark,
	// not part of `make test-vm`.
	EnvRun = "VIGIL_BENCH_IPVS"
	// EnvRuns is the number of timed runs of every case (default 5).
	EnvRuns = "VIGIL_BENCH_RUNS"
	// EnvServices and EnvDests size the table (default 1000 and 10).
	EnvServices = "VIGIL_BENCH_SERVICES"
	EnvDests    = "VIGIL_BENCH_DESTS"
	// EnvIpvsadm is the absolute path of ipvsadm, EnvRestore that of
	// ipvsadm-restore; both arrive in the VM through VIGIL_VM_INCLUDE.
	EnvIpvsadm = "VIGIL_BENCH_IPVSADM"
	EnvRestore = "VIGIL_BENCH_IPVSADM_RESTORE"
	// EnvLinks lists symbolic links the VM test creates before running
	// ipvsadm, "link=target" separated by colons. VIGIL_VM_INCLUDE copies
	// files to their real paths (after following links), so the names the
	// dynamic loader looks for, such as /lib64/ld-linux-x86-64.so.2 or
	// /lib/x86_64-linux-gnu/libnl-3.so.200, must be made again.
	EnvLinks = "VIGIL_BENCH_LINKS"
	// EnvProfileRounds is how many extra, untimed passes are CPU-profiled
	// per profile (default 3); 0 disables profiling.
	EnvProfileRounds = "VIGIL_BENCH_PROFILE_ROUNDS"
)

// Case names of TableResult.Cases. A targeted Reconciler is one with
// ipvs.Options.ResyncInterval, as the daemon runs it: between full reads a
// pass reads only the services whose desired state changed.
const (
	ApplyVigil           = "apply/vigil"            // Reconcile from an empty kernel
	ApplyRestore         = "apply/ipvsadm-restore"  // the ipvsadm-restore script (ipvsadm -C, then ipvsadm -R)
	ApplyIpvsadmR        = "apply/ipvsadm-R"        // ipvsadm -R alone
	WeightVigil          = "weight/vigil"           // a targeted pass with one weight changed: reads that service
	WeightVigilFull      = "weight/vigil-full"      // a pass that reads the whole table (a resync), one weight changed
	WeightIpvsadm        = "weight/ipvsadm-e"       // ipvsadm -e of that destination
	WeightUpdateOnly     = "weight/update-only"     // NetlinkKernel.UpdateDestination alone
	ReadServices         = "read/services"          // NetlinkKernel.Services: the read a full pass starts with
	ReadService          = "read/service"           // NetlinkKernel.Service: what a targeted pass reads per service
	NoChangeSteady       = "nochange/steady"        // another full pass of the same Reconciler
	NoChangeTargeted     = "nochange/targeted"      // another targeted pass, nothing changed: reads nothing
	NoChangeRestart      = "nochange/restart"       // NewReconciler on the same state dir, then a pass
	NoChangeAdoptIpvsadm = "nochange/adopt-ipvsadm" // NewReconciler, empty state dir, table made by ipvsadm-restore
)

// Sample is one timed run: wall time and the CPU time it cost, user and
// system. For vigil's cases that is the test process's; for ipvsadm's, the
// processes it started (getrusage RUSAGE_CHILDREN).
type Sample struct {
	Wall time.Duration `json:"wall"`
	User time.Duration `json:"user"`
	Sys  time.Duration `json:"sys"`
}

// Case is the samples of one case.
type Case struct {
	Name string `json:"name"`
	// Ops is the number of kernel operations (netlink requests that
	// change the table) one run performs.
	Ops     int      `json:"ops"`
	Samples []Sample `json:"samples"`
}

// Walls returns the wall times of the samples.
func (c Case) Walls() []time.Duration { return c.field(func(s Sample) time.Duration { return s.Wall }) }

// Users returns the user CPU times of the samples.
func (c Case) Users() []time.Duration { return c.field(func(s Sample) time.Duration { return s.User }) }

// Syss returns the system CPU times of the samples.
func (c Case) Syss() []time.Duration { return c.field(func(s Sample) time.Duration { return s.Sys }) }

func (c Case) field(f func(Sample) time.Duration) []time.Duration {
	out := make([]time.Duration, len(c.Samples))
	for i, s := range c.Samples {
		out[i] = f(s)
	}
	return out
}

// TableResult is what the VM test reports.
type TableResult struct {
	Services int `json:"services"`
	Dests    int `json:"dests"`
	Runs     int `json:"runs"`
	// Kernel is the VM's kernel (vmtest.Kernel), IPVS the first line of
	// /proc/net/ip_vs, Ipvsadm the output of `ipvsadm --version`.
	Kernel  string `json:"kernel"`
	IPVS    string `json:"ipvs"`
	Ipvsadm string `json:"ipvsadm"`
	// CPUs and GoVersion describe the VM and the test binary.
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Cases     []Case `json:"cases"`
	// Took is how long the test ran, profiles included.
	Took time.Duration `json:"took"`
}

// Case returns the case named name; ok is false if there is none.
func (r TableResult) Case(name string) (Case, bool) {
	for _, c := range r.Cases {
		if c.Name == name {
			return c, true
		}
	}
	return Case{}, false
}
