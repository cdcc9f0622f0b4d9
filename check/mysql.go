package check

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQL checks a MySQL or MariaDB server the way a dual-master deployment
// needs: the server accepts a login and answers a query, and optionally is
// writable and replicating from its peer.
//
// Every attempt opens a fresh connection and closes it, so a server that
// stopped accepting connections cannot hide behind a pooled one. The
// attempt is bounded by ctx: the driver watches ctx during the handshake
// and every query, and its dial, read and write timeouts are set from
// ctx's deadline as a backstop.
//
// The account needs no privilege for the basic check and read_only; the
// replica checks need REPLICATION CLIENT (MySQL) or REPLICA MONITOR
// (MariaDB 10.5+) for SHOW REPLICA STATUS / SHOW SLAVE STATUS.
type MySQL struct {
	User, Password string
	// RequireWritable fails the check while @@global.read_only is set.
	RequireWritable bool
	// MaxReplicaLag, when positive, fails the check when the server's
	// replication lag (Seconds_Behind_Source / Seconds_Behind_Master)
	// exceeds it or is NULL (replication broken), or when the server is
	// not a replica at all.
	MaxReplicaLag time.Duration
	// RequireReplicaRunning fails the check unless both the replica IO and
	// SQL threads are running.
	RequireReplicaRunning bool
	// Logger receives the driver's own log lines for this check's
	// connections, at debug level; nil means the package's driver logger
	// (SetMySQLDriverLogger).
	Logger *slog.Logger
	// Source, when valid, is the local address to connect from.
	Source netip.Addr
}

// Kind returns "mysql".
func (MySQL) Kind() string { return "mysql" }

// Equal reports whether p and o define the same check; the Logger is not
// part of the definition.
func (p MySQL) Equal(o MySQL) bool {
	p.Logger, o.Logger = nil, nil
	return p == o
}

// mysqlDriverLogger is where the driver's package-level logger writes.
var mysqlDriverLogger atomic.Pointer[slog.Logger]

// SetMySQLDriverLogger routes the MySQL driver's package-level log output
// (lines not tied to a check's connection) to l; nil restores
// slog.Default. It is safe to call at any time.
func SetMySQLDriverLogger(l *slog.Logger) { mysqlDriverLogger.Store(l) }

func init() {
	// mysql.SetLogger writes an unsynchronised package variable, so it is
	// set exactly once, before any goroutine of this program can use the
	// driver; the target is swapped atomically afterwards.
	_ = mysql.SetLogger(slogPrinter{logger: func() *slog.Logger {
		if l := mysqlDriverLogger.Load(); l != nil {
			return l
		}
		return slog.Default()
	}})
}

// slogPrinter adapts the driver's Print-style Logger to slog.
type slogPrinter struct {
	logger func() *slog.Logger
	// captured, when set, also keeps the lines so they can be attached to
	// the probe's error: the driver logs the real cause of a broken
	// handshake (e.g. "i/o timeout") and returns only "invalid connection".
	captured *lines
}

type lines struct {
	mu sync.Mutex
	s  []string
}

func (l *lines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.s) < 4 {
		l.s = append(l.s, s)
	}
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.s, "; ")
}

func (p slogPrinter) Print(v ...any) {
	msg := strings.TrimSpace(fmt.Sprint(v...))
	if p.captured != nil {
		p.captured.add(msg)
	}
	p.logger().Debug("mysql driver", "component", "mysql-driver", "msg", msg)
}

// Probe connects to target and runs the configured checks.
func (p MySQL) Probe(ctx context.Context, target netip.AddrPort) Result {
	start := time.Now()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = p.User, p.Password
	cfg.Net, cfg.Addr = "tcp", target.String()
	if dl, ok := ctx.Deadline(); ok {
		// A backstop only: the context fires first, and the driver then
		// reports the context's error rather than a bare "invalid
		// connection".
		t := time.Until(dl) + 100*time.Millisecond
		cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = t, t, t
	}
	captured := &lines{}
	logger := p.Logger
	cfg.Logger = slogPrinter{captured: captured, logger: func() *slog.Logger {
		if logger != nil {
			return logger.With("target", target.String())
		}
		if l := mysqlDriverLogger.Load(); l != nil {
			return l.With("target", target.String())
		}
		return slog.Default().With("target", target.String())
	}}
	d := dialer(p.Source)
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return failf(start, "mysql config: %w", err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxIdleConns(0)

	res := Result{Detail: map[string]float64{}}
	err = p.run(ctx, db, res.Detail)
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) {
		if c := captured.String(); c != "" {
			err = fmt.Errorf("%w (driver: %s)", err, c)
		}
	}
	if err != nil {
		err = fmt.Errorf("mysql %s: %w", target, err)
	}
	out := finish(ctx, start, err)
	if len(res.Detail) > 0 {
		out.Detail = res.Detail
	}
	return out
}

func (p MySQL) run(ctx context.Context, db *sql.DB, detail map[string]float64) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	var one int
	if err := conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("SELECT 1: %w", err)
	}
	if p.RequireWritable {
		var ro int
		if err := conn.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&ro); err != nil {
			return fmt.Errorf("reading read_only: %w", err)
		}
		detail["mysql_read_only"] = float64(ro)
		if ro != 0 {
			return errors.New("server is read-only (read_only=1)")
		}
	}
	if p.MaxReplicaLag <= 0 && !p.RequireReplicaRunning {
		return nil
	}
	st, err := replicaStatus(ctx, conn)
	if err != nil {
		return err
	}
	if st == nil {
		return errors.New("server is not a replica (replica status is empty)")
	}
	return p.judgeReplica(st, detail)
}

// replicaColumns are the columns the replica checks read, by their
// MySQL 8.0.22+ name and their older MySQL / MariaDB name.
var replicaColumns = map[string]string{
	"Replica_IO_Running":    "Slave_IO_Running",
	"Replica_SQL_Running":   "Slave_SQL_Running",
	"Seconds_Behind_Source": "Seconds_Behind_Master",
	"Last_IO_Error":         "Last_IO_Error",
	"Last_SQL_Error":        "Last_SQL_Error",
}

// replicaStatus returns the first row of SHOW REPLICA STATUS (falling back
// to SHOW SLAVE STATUS on servers that predate it) keyed by the new column
// names, with NULL as a nil pointer; nil when the server is no replica.
func replicaStatus(ctx context.Context, conn *sql.Conn) (map[string]*string, error) {
	rows, err := conn.QueryContext(ctx, "SHOW REPLICA STATUS")
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1064 { // ER_PARSE_ERROR: MySQL < 8.0.22, MariaDB < 10.5.1
		rows, err = conn.QueryContext(ctx, "SHOW SLAVE STATUS")
	}
	if err != nil {
		return nil, fmt.Errorf("reading replica status: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("reading replica status: %w", err)
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("reading replica status: %w", err)
		}
		return nil, nil
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("reading replica status: %w", err)
	}
	byName := make(map[string]*string, len(cols))
	for i, c := range cols {
		if vals[i].Valid {
			byName[c] = &vals[i].String
		} else {
			byName[c] = nil
		}
	}
	st := make(map[string]*string, len(replicaColumns))
	for newName, oldName := range replicaColumns {
		if v, ok := byName[newName]; ok {
			st[newName] = v
		} else if v, ok := byName[oldName]; ok {
			st[newName] = v
		}
	}
	return st, rows.Close()
}

func (p MySQL) judgeReplica(st map[string]*string, detail map[string]float64) error {
	running := func(col string) bool { v := st[col]; return v != nil && *v == "Yes" }
	show := func(col string) string {
		if v := st[col]; v != nil {
			return *v
		}
		return "NULL"
	}
	ioRunning, sqlRunning := running("Replica_IO_Running"), running("Replica_SQL_Running")
	detail["replica_io_running"] = b2f(ioRunning)
	detail["replica_sql_running"] = b2f(sqlRunning)
	lagText := st["Seconds_Behind_Source"]
	var lag float64 = -1
	if lagText != nil {
		v, err := strconv.ParseFloat(*lagText, 64)
		if err != nil {
			return fmt.Errorf("replica lag %q is not a number", *lagText)
		}
		lag = v
		detail["replica_lag_seconds"] = lag
	}
	if p.RequireReplicaRunning && (!ioRunning || !sqlRunning) {
		var why []string
		if !ioRunning {
			why = append(why, fmt.Sprintf("replica IO thread not running (%s)", show("Replica_IO_Running")))
		}
		if !sqlRunning {
			why = append(why, fmt.Sprintf("replica SQL thread not running (%s)", show("Replica_SQL_Running")))
		}
		for _, col := range []string{"Last_IO_Error", "Last_SQL_Error"} {
			if v := st[col]; v != nil && *v != "" {
				why = append(why, fmt.Sprintf("%s: %s", col, *v))
			}
		}
		return errors.New(strings.Join(why, "; "))
	}
	if p.MaxReplicaLag > 0 {
		if lagText == nil {
			return fmt.Errorf("replication broken: lag is NULL (IO thread %s, SQL thread %s)", show("Replica_IO_Running"), show("Replica_SQL_Running"))
		}
		if max := p.MaxReplicaLag.Seconds(); lag > max {
			return fmt.Errorf("replica lag %gs exceeds %gs", lag, max)
		}
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
