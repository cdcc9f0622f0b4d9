package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	ipvsbench "github.com/vigil-lb/vigil/bench/ipvs"
)

// The capacity part runs in two child processes of this binary, in a
// network namespace of their own: the checker (childCapacity, created with
// CLONE_NEWNET, measured) and the listeners (childListen, its child, in the
// same namespace), so that the checker's CPU time is its own.
const (
	childCapacity = "_capacity"
	childListen   = "_listen"
	// basePort is the first listening port: below the default ephemeral
	// range (32768–60999), so checks never collide with their own
	// source ports.
	basePort = 20000
)

type targetFlags struct {
	addrs, ports int
}

func (t *targetFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&t.addrs, "addrs", 100, "loopback addresses")
	fs.IntVar(&t.ports, "ports", 100, "ports per address")
}

func (t targetFlags) args() []string {
	return []string{"-addrs", strconv.Itoa(t.addrs), "-ports", strconv.Itoa(t.ports)}
}

func runCapacity(ctx context.Context, r *Report, logger *slog.Logger) error {
	o := r.Opts
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	tf := targetFlags{addrs: o.CheckAddrs, ports: o.CheckPorts}
	args := append([]string{childCapacity}, tf.args()...)
	args = append(args, "-interval", o.Interval.String(), "-warmup", o.Warmup.String(), "-window", o.Window.String())
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	r.Commands = append(r.Commands, commandLine(nil, append([]string{"go", "run", "./bench/ipvs/cmd/benchipvs", "-only", "capacity"},
		"-check-addrs", strconv.Itoa(o.CheckAddrs), "-check-ports", strconv.Itoa(o.CheckPorts),
		"-interval", o.Interval.String(), "-warmup", o.Warmup.String(), "-window", o.Window.String())))
	out, err := runLogged(cmd)
	if err != nil {
		return fmt.Errorf("checker process: %w", err)
	}
	var res ipvsbench.CapacityResult
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("decoding the checker's result %.200q: %w", out, err)
	}
	r.Capacity = &res
	last := ipvsbench.Targets(o.CheckAddrs, 1, 0)[o.CheckAddrs-1].Addr()
	r.CapTargets = fmt.Sprintf("%d addresses (127.1.0.1–%s) × %d ports (%d–%d) on lo",
		o.CheckAddrs, last, o.CheckPorts, basePort, basePort+o.CheckPorts-1)
	logger.Info("capacity measured", "cpu_pct", fmt.Sprintf("%.1f", res.CPUPercent()), "p99", res.LatenessP99, "runs", res.Runs)
	return nil
}

// capacityChild is the checker: it brings lo up in its fresh namespace,
// starts the listeners, runs ipvsbench.RunCapacity and prints the result
// as JSON.
func capacityChild(argv []string) int {
	fs := flag.NewFlagSet(childCapacity, flag.ContinueOnError)
	var tf targetFlags
	tf.register(fs)
	interval := fs.Duration("interval", time.Second, "")
	warmup := fs.Duration("warmup", 5*time.Second, "")
	window := fs.Duration("window", 30*time.Second, "")
	if err := fs.Parse(argv); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := capacity(ctx, tf, *interval, *warmup, *window); err != nil {
		fmt.Fprintln(os.Stderr, "benchipvs capacity:", err)
		return 1
	}
	return 0
}

func capacity(ctx context.Context, tf targetFlags, interval, warmup, window time.Duration) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	targets := ipvsbench.Targets(tf.addrs, tf.ports, basePort)
	// The checker holds at most one socket per check in flight.
	if err := ipvsbench.RaiseNoFile(uint64(len(targets)) + 1024); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{childListen}, tf.args()...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait()
	defer in.Close()
	out := bufio.NewReader(outPipe)
	readLine := func() (string, error) {
		s, err := out.ReadString('\n')
		return strings.TrimSpace(s), err
	}
	if s, err := readLine(); err != nil || s != "ready" {
		return fmt.Errorf("listener process: %q, %v", s, err)
	}
	listenerCPU := func() (time.Duration, error) {
		if _, err := io.WriteString(in, "cpu\n"); err != nil {
			return 0, err
		}
		s, err := readLine()
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return time.Duration(n), err
	}
	res, err := ipvsbench.RunCapacity(ctx, ipvsbench.CapacityOptions{
		Targets: targets, Interval: interval, Warmup: warmup, Window: window, ListenerCPU: listenerCPU,
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// listenChild runs the listeners until its standard input ends.
func listenChild(argv []string) int {
	fs := flag.NewFlagSet(childListen, flag.ContinueOnError)
	var tf targetFlags
	tf.register(fs)
	if err := fs.Parse(argv); err != nil {
		return 2
	}
	targets := ipvsbench.Targets(tf.addrs, tf.ports, basePort)
	// One socket per listener, plus accepted connections being closed.
	if err := ipvsbench.RaiseNoFile(uint64(len(targets)) + 4096); err != nil {
		fmt.Fprintln(os.Stderr, "benchipvs listen:", err)
		return 1
	}
	if err := ipvsbench.ServeStdio(context.Background(), targets, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchipvs listen:", err)
		return 1
	}
	return 0
}
