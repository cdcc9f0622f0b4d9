// Package mariadbtest starts throwaway MariaDB servers for tests: real
// mariadbd processes from the Debian mariadb-server package, each on its
// own data directory, loopback port and unix socket, optionally wired into
// the dual-master replication pair of vigil's MySQL deployments.
//
// It is a test helper in the manner of net/http/httptest and is imported
// only by _test.go files (check, and the IPVS and actuator tests). Install
// the server with scripts/install-mariadb.sh. Tests using it need root
// (mariadbd runs with --user=root) and are skipped with -short.
//
//	p := mariadbtest.StartDualMaster(t)
//	p.A.Exec(t, "STOP SLAVE")
//	probe := check.MySQL{User: mariadbtest.MonitorUser, Password: mariadbtest.MonitorPassword}
//	probe.Probe(ctx, p.A.Addr)
package mariadbtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/vigil-lb/vigil/internal/spawn"
)

// Accounts every server has. The monitor account holds only what vigil's
// MySQL check needs (SLAVE MONITOR, for SHOW SLAVE STATUS); the
// replication account is what each master of a pair uses to read its
// peer's binary log.
const (
	MonitorUser         = "vigil_monitor"
	MonitorPassword     = "monitor-secret"
	ReplicationUser     = "vigil_repl"
	ReplicationPassword = "repl-secret"
)

// InstallHint tells how to get the binaries.
const InstallHint = "install MariaDB with scripts/install-mariadb.sh"

// startTimeout bounds a server's start and the replication set-up.
const startTimeout = 60 * time.Second

// Binaries returns the paths of mariadbd and mariadb-install-db.
func Binaries() (server, installDB string, err error) {
	find := func(names ...string) (string, error) {
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				return p, nil
			}
			for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
				p := filepath.Join(dir, n)
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
					return p, nil
				}
			}
		}
		return "", fmt.Errorf("none of %v found", names)
	}
	if server, err = find("mariadbd", "mysqld"); err != nil {
		return "", "", err
	}
	if installDB, err = find("mariadb-install-db", "mysql_install_db"); err != nil {
		return "", "", err
	}
	return server, installDB, nil
}

// Require skips t when MariaDB cannot be run here: in -short mode, when
// not root, or when the binaries are missing. Under CI (CI=true) a missing
// prerequisite fails t instead, so CI cannot silently skip the MySQL tests.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts MariaDB servers; skipped with -short")
	}
	skip := t.Skipf
	if os.Getenv("CI") == "true" {
		skip = t.Fatalf
	}
	if os.Geteuid() != 0 {
		skip("mariadbd runs with --user=root; tests must run as root")
	}
	if _, _, err := Binaries(); err != nil {
		skip("MariaDB not installed (%v): %s", err, InstallHint)
	}
}

// Options configure a server.
type Options struct {
	// ServerID is the replication server_id; 1 when zero. It also sets
	// auto_increment_offset, with auto_increment_increment 2, as the
	// dual-master deployments do so that both masters can insert.
	ServerID int
	// Args are extra mariadbd options.
	Args []string
	// Wrapper is an argv prefix mariadbd runs under, e.g. ip netns exec
	// NAME to start it in a network namespace; empty: none.
	Wrapper []string
	// Bind is the address mariadbd listens on (Server.Addr); the zero
	// value means 127.0.0.1. With a Wrapper it is an address of the
	// wrapper's namespace.
	Bind netip.Addr
}

// Server is a running mariadbd.
type Server struct {
	Name     string
	ServerID int
	// Addr is the TCP address on 127.0.0.1 vigil's probes use.
	Addr netip.AddrPort
	// Dir holds the data directory, socket, pid file and error log.
	Dir    string
	Socket string
	// Startup is how long install-db plus start-up took.
	Startup time.Duration

	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	root     *sql.DB
	stopOnce sync.Once
}

// Start creates a data directory and starts a server on a free loopback
// port; it is stopped and removed when t ends.
func Start(t testing.TB, name string, opts Options) *Server {
	t.Helper()
	Require(t)
	s, err := start(name, opts)
	if s != nil {
		t.Cleanup(func() { s.cleanup(t) })
	}
	if err != nil {
		t.Fatalf("starting MariaDB %s: %v", name, err)
	}
	t.Logf("MariaDB %s (server_id %d) on %s, socket %s, started in %s", s.Name, s.ServerID, s.Addr, s.Socket, s.Startup.Round(time.Millisecond))
	return s
}

func start(name string, opts Options) (*Server, error) {
	began := time.Now()
	server, installDB, err := Binaries()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, InstallHint)
	}
	if opts.ServerID == 0 {
		opts.ServerID = 1
	}
	// Not t.TempDir: unix socket paths are limited to 108 bytes and test
	// names can be long.
	dir, err := os.MkdirTemp("", "mariadb-"+name+"-")
	if err != nil {
		return nil, err
	}
	s := &Server{Name: name, ServerID: opts.ServerID, Dir: dir, Socket: filepath.Join(dir, "mysqld.sock")}
	sizing := []string{"--innodb-log-file-size=8M", "--innodb-buffer-pool-size=16M"}
	install := exec.Command(installDB, append([]string{
		"--no-defaults", "--user=root", "--datadir=" + filepath.Join(dir, "data"),
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
		// Private temporary tables: concurrent bootstraps sharing /tmp
		// have been seen to trip over each other's #sql-temptable files.
		"--tmpdir=" + dir,
	}, sizing...)...)
	if out, err := install.CombinedOutput(); err != nil {
		return s, fmt.Errorf("%s: %w\n%s", installDB, err, out)
	}
	// The port is picked by binding :0 and closing; another process may
	// grab it before mariadbd binds, so a bind failure is retried.
	for try := 0; ; try++ {
		port, err := freePort()
		if err != nil {
			return s, err
		}
		bind := opts.Bind
		if !bind.IsValid() {
			bind = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		s.Addr = netip.AddrPortFrom(bind, port)
		err = s.launch(server, sizing, opts)
		if err == nil {
			break
		}
		if try < 3 && strings.Contains(s.ErrorLog(), "Address already in use") {
			continue
		}
		return s, err
	}
	if err := s.setupAccounts(); err != nil {
		return s, err
	}
	s.Startup = time.Since(began)
	return s, nil
}

func freePort() (uint16, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}

// launch starts mariadbd and waits until it accepts root over the socket.
func (s *Server) launch(server string, sizing []string, opts Options) error {
	_ = os.Remove(filepath.Join(s.Dir, "error.log"))
	args := append([]string{
		"--no-defaults", // must come first
		"--user=root",
		"--datadir=" + filepath.Join(s.Dir, "data"),
		"--socket=" + s.Socket,
		"--pid-file=" + filepath.Join(s.Dir, "mariadbd.pid"),
		"--log-error=" + filepath.Join(s.Dir, "error.log"),
		"--tmpdir=" + s.Dir,
		"--bind-address=" + s.Addr.Addr().String(),
		fmt.Sprintf("--port=%d", s.Addr.Port()),
		"--skip-name-resolve",
		"--innodb-use-native-aio=0", // containers often forbid io_uring/libaio
		"--innodb-flush-log-at-trx-commit=2",
		"--performance-schema=0",
		fmt.Sprintf("--server-id=%d", s.ServerID),
		"--log-bin=" + filepath.Join(s.Dir, "binlog"),
		"--relay-log=" + filepath.Join(s.Dir, "relay"),
		"--binlog-format=ROW",
		"--sync-binlog=0",
		"--auto-increment-increment=2",
		fmt.Sprintf("--auto-increment-offset=%d", (opts.ServerID-1)%2+1),
		"--slave-net-timeout=10",
		"--skip-slave-start",
	}, sizing...)
	args = append(args, opts.Args...)
	argv := append(append(slices.Clone(opts.Wrapper), server), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	// Own process group (a test's Ctrl-C does not reach it first), and
	// killed if the test binary dies without cleaning up: forked from the
	// spawn thread, so that no other thread's exit kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := spawn.Start(cmd); err != nil {
		return err
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "unix", s.Socket
	cfg.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	s.root = sql.OpenDB(connector)
	// No idle connections: every Exec gets a fresh session, so a SET
	// SESSION (sql_log_bin = 0 ...) never leaks into a later call.
	s.root.SetMaxIdleConns(0)
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.root.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			_ = s.root.Close()
			return fmt.Errorf("mariadbd exited (%v) during start-up; error log:\n%s", s.waitErr, tail(s.ErrorLog(), 20))
		default:
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("mariadbd not ready after %s: %v; error log:\n%s", startTimeout, err, tail(s.ErrorLog(), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// setupAccounts creates the monitor and replication accounts, outside the
// binary log so that a peer does not replay them.
func (s *Server) setupAccounts() error {
	return s.exec(
		"SET SESSION sql_log_bin = 0",
		"DELETE FROM mysql.global_priv WHERE User = ''",
		"FLUSH PRIVILEGES",
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", MonitorUser, MonitorPassword),
		fmt.Sprintf("GRANT SLAVE MONITOR ON *.* TO '%s'@'%%'", MonitorUser),
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", ReplicationUser, ReplicationPassword),
		fmt.Sprintf("GRANT REPLICATION SLAVE ON *.* TO '%s'@'%%'", ReplicationUser),
	)
}

// ErrorLog returns the server's error log.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "error.log"))
	return string(b)
}

// DB returns a connection pool logged in as root over the unix socket. It
// keeps no idle connections.
func (s *Server) DB() *sql.DB { return s.root }

// Exec runs the statements in order on one root session (so SET SESSION
// applies to the ones after it) and fails t on error.
func (s *Server) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	if err := s.exec(stmts...); err != nil {
		t.Fatalf("MariaDB %s: %v", s.Name, err)
	}
}

func (s *Server) exec(stmts ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := s.root.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// QueryRow runs a query as root and returns its first row as strings
// keyed by column name (NULL as "NULL"); nil when there is no row.
func (s *Server) QueryRow(t testing.TB, query string) map[string]string {
	t.Helper()
	row, err := s.queryRow(query)
	if err != nil {
		t.Fatalf("MariaDB %s: %s: %v", s.Name, query, err)
	}
	return row
}

func (s *Server) queryRow(query string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := s.root.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(cols))
	for i, c := range cols {
		out[c] = "NULL"
		if vals[i].Valid {
			out[c] = vals[i].String
		}
	}
	return out, rows.Close()
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.kill()
}

func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// Stop shuts the server down cleanly (SIGTERM), killing it after 30s.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Errorf("stopping MariaDB %s: %v", s.Name, err)
	}
}

func (s *Server) stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	var err error
	s.stopOnce.Do(func() {
		if s.root != nil {
			_ = s.root.Close()
		}
		select {
		case <-s.exited:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			err = errors.New("did not stop within 30s of SIGTERM; killed")
			s.kill()
		}
	})
	return err
}

func (s *Server) cleanup(t testing.TB) {
	if err := s.stop(); err != nil {
		t.Errorf("stopping MariaDB %s: %v", s.Name, err)
	}
	if t.Failed() {
		t.Logf("MariaDB %s error log (tail):\n%s", s.Name, tail(s.ErrorLog(), 30))
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		t.Errorf("removing %s: %v", s.Dir, err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Pair is two servers replicating from each other (dual master), as in
// the deployments vigil fronts.
type Pair struct {
	A, B *Server
	// Setup is how long starting both servers and wiring replication took.
	Setup time.Duration
}

// StartDualMaster starts two servers (server_id 1 and 2) concurrently and
// makes each a replica of the other with classic binary log coordinates,
// then waits until both replicate. They are stopped when t ends.
func StartDualMaster(t testing.TB) *Pair {
	t.Helper()
	return StartDualMasterWith(t, Options{})
}

// StartDualMasterWith is StartDualMaster with options for both servers;
// their ServerID is ignored.
func StartDualMasterWith(t testing.TB, opts Options) *Pair {
	t.Helper()
	Require(t)
	began := time.Now()
	var (
		wg   sync.WaitGroup
		srv  [2]*Server
		errs [2]error
	)
	for i, name := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := opts
			o.ServerID = i + 1
			srv[i], errs[i] = start(name, o)
		}()
	}
	wg.Wait()
	for i := range srv {
		if s := srv[i]; s != nil {
			t.Cleanup(func() { s.cleanup(t) })
		}
	}
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatalf("starting MariaDB pair: %v", err)
	}
	p := &Pair{A: srv[0], B: srv[1]}
	if err := p.replicate(); err != nil {
		t.Fatalf("setting up dual-master replication: %v", err)
	}
	if err := p.waitReplicating(startTimeout); err != nil {
		t.Fatal(err)
	}
	p.Setup = time.Since(began)
	t.Logf("MariaDB dual master %s <-> %s replicating after %s", p.A.Addr, p.B.Addr, p.Setup.Round(time.Millisecond))
	return p
}

// replicate points each server at the other's current binlog position.
func (p *Pair) replicate() error {
	for _, pair := range [][2]*Server{{p.A, p.B}, {p.B, p.A}} {
		replica, master := pair[0], pair[1]
		st, err := master.queryRow("SHOW MASTER STATUS")
		if err != nil {
			return fmt.Errorf("%s: SHOW MASTER STATUS: %w", master.Name, err)
		}
		if st == nil {
			return fmt.Errorf("%s: binary log disabled", master.Name)
		}
		err = replica.exec(
			fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', "+
				"MASTER_LOG_FILE='%s', MASTER_LOG_POS=%s, MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=no",
				master.Addr.Addr(), master.Addr.Port(), ReplicationUser, ReplicationPassword, st["File"], st["Position"]),
			"START SLAVE",
		)
		if err != nil {
			return fmt.Errorf("%s: %w", replica.Name, err)
		}
	}
	return nil
}

// WaitReplicating waits until both servers' IO and SQL threads run and a
// row written on each has arrived on the other.
func (p *Pair) WaitReplicating(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := p.waitReplicating(timeout); err != nil {
		t.Fatal(err)
	}
}

func (p *Pair) waitReplicating(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, s := range []*Server{p.A, p.B} {
		for {
			st, err := s.queryRow("SHOW SLAVE STATUS")
			if err == nil && st != nil && st["Slave_IO_Running"] == "Yes" && st["Slave_SQL_Running"] == "Yes" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: replica not running after %s: %v %v\n%s", s.Name, timeout, st, err, tail(s.ErrorLog(), 10))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Prove data flows both ways: a marker written on each side must show
	// up on the other.
	marker := fmt.Sprint(time.Now().UnixNano())
	if err := p.A.exec(
		"CREATE DATABASE IF NOT EXISTS vigil_fixture",
		"CREATE TABLE IF NOT EXISTS vigil_fixture.heartbeat (id INT AUTO_INCREMENT PRIMARY KEY, origin VARCHAR(8), marker VARCHAR(32))",
	); err != nil {
		return err
	}
	for _, dir := range [][2]*Server{{p.A, p.B}, {p.B, p.A}} {
		from, to := dir[0], dir[1]
		for {
			// The table is created on A; wait for it on B before writing there.
			if err := from.exec(fmt.Sprintf("INSERT INTO vigil_fixture.heartbeat (origin, marker) VALUES ('%s', '%s')", from.Name, marker)); err == nil {
				break
			} else if time.Now().After(deadline) {
				return fmt.Errorf("%s: writing heartbeat: %w", from.Name, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		for {
			row, err := to.queryRow(fmt.Sprintf("SELECT COUNT(*) AS n FROM vigil_fixture.heartbeat WHERE origin = '%s' AND marker = '%s'", from.Name, marker))
			if err == nil && row["n"] != "0" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("heartbeat from %s not replicated to %s after %s (%v)", from.Name, to.Name, timeout, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}
