package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns` keeps the bind mounts that name namespaces.
const netnsDir = "/run/netns"

// sbinDirs are searched after PATH: `go test` is often run with a PATH that
// lacks them, and ip, keepalived and nft live there.
var sbinDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin"}

// lookPath resolves an executable name like exec.LookPath, then falls back to
// the sbin directories.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if strings.Contains(name, "/") {
		return "", fmt.Errorf("%s: %w", name, exec.ErrNotFound)
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, exec.ErrNotFound)
}

// runCmd runs argv (argv[0] resolved with lookPath) and returns its standard
// output. A failure's error carries the command line and its standard error.
func runCmd(ctx context.Context, stdin []byte, argv ...string) ([]byte, error) {
	bin, err := lookPath(argv[0])
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, argv[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	// A background child that inherits the output pipes must not make Run
	// wait for it.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

// ip runs the ip(8) command with a 10 s bound.
func ip(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := runCmd(ctx, nil, append([]string{"ip"}, args...)...)
	return err
}

// inNamespace runs fn on a fresh OS thread that has joined the network
// namespace ns. The thread is locked to the goroutine and never unlocked, so
// the runtime destroys it afterwards instead of handing a thread in a foreign
// namespace to other goroutines. Sockets and netlink handles opened inside fn
// stay bound to the namespace after it returns.
//
// The process's main thread is never moved: /proc/PID/ns/net shows the
// namespace of the main thread, and the runtime cannot destroy it, so it
// would stay in the foreign namespace and make the whole test binary look
// like a process of that namespace (killNamespace would then kill it).
func inNamespace(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Holding the main thread here, the nested goroutine runs on
			// another one.
			defer runtime.UnlockOSThread()
			errc <- inNamespace(ns, fn)
			return
		}
		// No UnlockOSThread: the thread exits with the goroutine.
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("entering network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// netlinkIn opens a netlink handle whose sockets live in the namespace ns.
// (netlink.NewHandleAt would switch the calling goroutine's thread, which
// may be the main thread, back and forth.)
func netlinkIn(ns netns.NsHandle) (*netlink.Handle, error) {
	var h *netlink.Handle
	err := inNamespace(ns, func() error {
		var err error
		h, err = netlink.NewHandle()
		return err
	})
	return h, err
}

// setSysctls writes sysctls ("net.ipv6.conf.all.accept_dad" style keys) in
// the namespace ns. The /proc/sys/net tree shows the namespace of the thread
// that opens it.
func setSysctls(ns netns.NsHandle, kv [][2]string) error {
	return inNamespace(ns, func() error {
		for _, p := range kv {
			path := "/proc/sys/" + strings.ReplaceAll(p[0], ".", "/")
			if err := os.WriteFile(path, []byte(p[1]), 0o644); err != nil {
				return fmt.Errorf("sysctl %s=%s: %w", p[0], p[1], err)
			}
		}
		return nil
	})
}

// readSysctl reads one sysctl in the namespace ns.
func readSysctl(ns netns.NsHandle, key string) (string, error) {
	var v string
	err := inNamespace(ns, func() error {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

// nsInode identifies a network namespace file (a /run/netns bind mount or a
// /proc/PID/ns/net link).
type nsInode struct{ dev, ino uint64 }

func statNS(path string) (nsInode, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nsInode{}, err
	}
	return nsInode{dev: st.Dev, ino: st.Ino}, nil
}

// pidsInNamespace lists the processes whose network namespace is the named
// one, like `ip netns pids`.
func pidsInNamespace(name string) ([]int, error) {
	want, err := statNS(filepath.Join(netnsDir, name))
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			// Never ourselves: a goroutine of this process may hold the
			// main thread inside the namespace (Host.Do, Pinger).
			continue
		}
		got, err := statNS(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			continue // exited, or a zombie
		}
		// Never this process: a library may briefly move its main thread
		// into the namespace (netlink does, to open sockets).
		if got == want && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killNamespace SIGKILLs every process in the named namespace and waits up
// to timeout for them to be gone.
func killNamespace(name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pids, err := pidsInNamespace(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still in namespace %s after %v", pids, name, timeout)
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processAlive reports whether pid exists (possibly as a zombie).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
