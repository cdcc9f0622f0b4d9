// Command benchipvs runs vigil's load-balancing benchmarks side by side and
// rewrites the bench-ipvs section of docs/benchmarks.md (between
// "<!-- bench-ipvs:start -->" and "<!-- bench-ipvs:end -->", appended at
// the end when absent; the rest of the file is left alone):
//
//		go run ./bench/ipvs/cmd/benchipvs -doc docs/benchmarks.md   # make bench-ipvs
//		go run ./bench/ipvs/cmd/benchipvs -only scrape              # one part, to stdout
//
//	 1. table: in the test VM (docs/vm.md), 1,000 virtual servers × 10 real
//	    servers applied from an empty kernel and one weight change, vigil's
//	    ipvs.Reconciler against ipvsadm-restore / ipvsadm -e
//	    (bench/ipvs/table_vm_test.go through `go test -exec scripts/vm/exec.sh`).
//	 2. capacity: 10,000 TCP checks at a 1 s interval on a check.Scheduler
//	    for 30 s, against listeners in a network namespace of their own.
//	 3. scrape: BenchmarkScrapeLB1000x10 (`go test -bench`).
//
// It runs as root on Linux (network namespaces, the VM) and needs ipvsadm
// (Debian package ipvsadm) for the first part.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Options are the command line.
type Options struct {
	Doc           string
	Only          map[string]bool
	Runs          int
	Services      int
	Dests         int
	ProfileRounds int
	ProfileDir    string
	CheckAddrs    int
	CheckPorts    int
	Interval      time.Duration
	Warmup        time.Duration
	Window        time.Duration
	ScrapeCount   int
	Args          []string // the command line, for the report
}

func parseFlags(args []string, stderr io.Writer) (Options, error) {
	o := Options{Args: args}
	fs := flag.NewFlagSet("benchipvs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", strings.Join(partNames, ","), "parts to run, comma-separated: "+strings.Join(partNames, ", "))
	fs.StringVar(&o.Doc, "doc", "", "rewrite the bench-ipvs section of this Markdown file (default: print the section)")
	fs.IntVar(&o.Runs, "runs", 7, "table: timed runs of every case (medians are reported)")
	fs.IntVar(&o.Services, "services", 1000, "table: virtual servers")
	fs.IntVar(&o.Dests, "dests", 10, "table: real servers per virtual server")
	fs.IntVar(&o.ProfileRounds, "profile-rounds", 3, "table: untimed, CPU-profiled apply passes (0: no profile)")
	fs.StringVar(&o.ProfileDir, "profile-dir", "", "keep the CPU profiles here (default: a directory under $TMPDIR)")
	fs.IntVar(&o.CheckAddrs, "check-addrs", 100, "capacity: loopback addresses with listeners")
	fs.IntVar(&o.CheckPorts, "check-ports", 100, "capacity: listening ports per address")
	fs.DurationVar(&o.Interval, "interval", time.Second, "capacity: check interval")
	fs.DurationVar(&o.Warmup, "warmup", 5*time.Second, "capacity: time before the measured window")
	fs.DurationVar(&o.Window, "window", 30*time.Second, "capacity: measured window")
	fs.IntVar(&o.ScrapeCount, "scrape-count", 5, "scrape: go test -count")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.Only = map[string]bool{}
	for _, p := range strings.Split(*only, ",") {
		p = strings.TrimSpace(p)
		if !contains(partNames, p) {
			return o, fmt.Errorf("-only: unknown part %q (want %s)", p, strings.Join(partNames, ", "))
		}
		o.Only[p] = true
	}
	switch {
	case o.Runs < 1, o.Services < 2, o.Dests < 2, o.ScrapeCount < 1:
		return o, fmt.Errorf("-runs, -scrape-count must be at least 1, -services and -dests at least 2")
	case o.CheckAddrs < 1 || o.CheckAddrs > 65000 || o.CheckPorts < 1 || o.CheckPorts > 20000:
		return o, fmt.Errorf("-check-addrs must be 1..65000, -check-ports 1..20000")
	case o.Interval <= 0 || o.Window <= 0 || o.Warmup < 0:
		return o, fmt.Errorf("-interval and -window must be positive")
	}
	return o, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func main() {
	// The capacity part re-executes this binary for its two processes.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case childCapacity:
			os.Exit(capacityChild(os.Args[2:]))
		case childListen:
			os.Exit(listenChild(os.Args[2:]))
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "benchipvs")
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "benchipvs:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, opts, logger); err != nil {
		logger.Error("benchmark failed", "err", err)
		os.Exit(1)
	}
}
