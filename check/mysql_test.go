package check

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/vigil-lb/vigil/check/mariadbtest"
)

func TestMySQLNoGreeting(t *testing.T) {
	// A server that accepts the connection but never sends the handshake
	// (a wedged mysqld, or something else on the port).
	addr := silentServer(t)
	const timeout = 300 * time.Millisecond
	start := time.Now()
	res := probeWithin(t, MySQL{User: "u", Password: "p", Logger: slog.New(slog.DiscardHandler)}, addr, timeout)
	elapsed := time.Since(start)
	if res.OK || res.Outcome() != ResultTimeout {
		t.Fatalf("got %+v, want a timeout", res)
	}
	if elapsed < timeout || elapsed > timeout+250*time.Millisecond {
		t.Errorf("returned after %s, want about %s", elapsed, timeout)
	}
	t.Log(res.Err)
}

func TestMySQLRefused(t *testing.T) {
	res := probeWithin(t, MySQL{User: "u", Logger: slog.New(slog.DiscardHandler)}, closedPort(t), 2*time.Second)
	if res.OK || res.Outcome() != ResultFailure || !strings.Contains(res.Err.Error(), "connection refused") {
		t.Fatalf("got %+v", res)
	}
	if res.Duration > 500*time.Millisecond {
		t.Errorf("took %s, want an immediate failure", res.Duration)
	}
}

func TestMySQLNotMySQL(t *testing.T) {
	// An HTTP-ish server that answers with garbage: the driver logs the
	// real cause and returns "invalid connection"; the probe's error must
	// carry the cause.
	addr := garbageServer(t, []byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	var logs bytes.Buffer
	res := probeWithin(t, MySQL{User: "u", Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, addr, 2*time.Second)
	if res.OK || res.Outcome() != ResultFailure {
		t.Fatalf("got %+v", res)
	}
	t.Log(res.Err)
	if !strings.Contains(logs.String(), "mysql driver") || !strings.Contains(logs.String(), "target="+addr.String()) {
		t.Errorf("driver log not routed to the probe's logger with the target: %q", logs.String())
	}
}

func TestMySQLJudgeReplica(t *testing.T) {
	s := func(v string) *string { return &v }
	mysql8 := func(io, sqlRunning string, lag *string) map[string]*string {
		return map[string]*string{"Replica_IO_Running": s(io), "Replica_SQL_Running": s(sqlRunning), "Seconds_Behind_Source": lag, "Last_IO_Error": s(""), "Last_SQL_Error": s("")}
	}
	tests := []struct {
		name    string
		probe   MySQL
		status  map[string]*string
		wantErr string
		lag     float64 // -1: not reported
	}{
		{name: "running, no lag", probe: MySQL{RequireReplicaRunning: true, MaxReplicaLag: time.Second}, status: mysql8("Yes", "Yes", s("0")), lag: 0},
		{name: "lag within bound", probe: MySQL{MaxReplicaLag: 30 * time.Second}, status: mysql8("Yes", "Yes", s("30")), lag: 30},
		{name: "lag over bound", probe: MySQL{MaxReplicaLag: 30 * time.Second}, status: mysql8("Yes", "Yes", s("31")), wantErr: "replica lag 31s exceeds 30s", lag: 31},
		{name: "lag NULL", probe: MySQL{MaxReplicaLag: 30 * time.Second}, status: mysql8("Yes", "No", nil), wantErr: "replication broken: lag is NULL (IO thread Yes, SQL thread No)", lag: -1},
		{name: "IO connecting", probe: MySQL{RequireReplicaRunning: true}, status: mysql8("Connecting", "Yes", nil), wantErr: "replica IO thread not running (Connecting)", lag: -1},
		{name: "lag check ignores threads", probe: MySQL{MaxReplicaLag: time.Minute}, status: mysql8("Connecting", "Yes", s("3")), lag: 3},
		{name: "both stopped with error", probe: MySQL{RequireReplicaRunning: true},
			status:  map[string]*string{"Replica_IO_Running": s("No"), "Replica_SQL_Running": s("No"), "Seconds_Behind_Source": nil, "Last_IO_Error": s(""), "Last_SQL_Error": s("Duplicate entry '7' for key 'PRIMARY'")},
			wantErr: "replica IO thread not running (No); replica SQL thread not running (No); Last_SQL_Error: Duplicate entry '7'", lag: -1},
		{name: "missing columns", probe: MySQL{RequireReplicaRunning: true}, status: map[string]*string{}, wantErr: "replica IO thread not running (NULL)", lag: -1},
		{name: "unparsable lag", probe: MySQL{MaxReplicaLag: time.Second}, status: mysql8("Yes", "Yes", s("soon")), wantErr: `replica lag "soon" is not a number`, lag: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			detail := map[string]float64{}
			err := tc.probe.judgeReplica(tc.status, detail)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			lag, ok := detail["replica_lag_seconds"]
			if tc.lag < 0 && ok || tc.lag >= 0 && (!ok || lag != tc.lag) {
				t.Errorf("replica_lag_seconds %v (reported %v), want %v", lag, ok, tc.lag)
			}
		})
	}
}

func TestMySQLEqual(t *testing.T) {
	a := MySQL{User: "m", MaxReplicaLag: time.Second, Logger: slog.Default()}
	b := MySQL{User: "m", MaxReplicaLag: time.Second, Logger: slog.New(slog.DiscardHandler)}
	if !proberEqual(a, b) {
		t.Error("loggers must not make definitions differ")
	}
	b.RequireWritable = true
	if proberEqual(a, b) {
		t.Error("different definitions compare equal")
	}
}

// TestMySQLDualMaster runs the probe against a real MariaDB dual-master
// pair and breaks it in the ways the seed deployments break.
func TestMySQLDualMaster(t *testing.T) {
	pair := mariadbtest.StartDualMaster(t)
	const timeout = 2 * time.Second
	full := MySQL{
		User: mariadbtest.MonitorUser, Password: mariadbtest.MonitorPassword,
		RequireWritable: true, RequireReplicaRunning: true, MaxReplicaLag: 10 * time.Second,
		Logger: slog.New(slog.DiscardHandler),
	}
	mustPass := func(t *testing.T, p MySQL, s *mariadbtest.Server) Result {
		t.Helper()
		res := probeWithin(t, p, s.Addr, timeout)
		if !res.OK {
			t.Fatalf("%s: %+v", s.Name, res)
		}
		return res
	}
	mustFail := func(t *testing.T, p MySQL, s *mariadbtest.Server, want ...string) Result {
		t.Helper()
		res := probeWithin(t, p, s.Addr, timeout)
		if res.OK {
			t.Fatalf("%s: probe passed, want failure containing %q", s.Name, want)
		}
		for _, w := range want {
			if !strings.Contains(res.Err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", s.Name, res.Err, w)
			}
		}
		t.Logf("%s: %v", s.Name, res.Err)
		return res
	}

	t.Run("both healthy", func(t *testing.T) {
		for _, s := range []*mariadbtest.Server{pair.A, pair.B} {
			res := mustPass(t, full, s)
			for k, want := range map[string]float64{"replica_lag_seconds": 0, "replica_io_running": 1, "replica_sql_running": 1, "mysql_read_only": 0} {
				if got, ok := res.Detail[k]; !ok || got != want {
					t.Errorf("%s: Detail[%s] = %v (present %v), want %v", s.Name, k, got, ok, want)
				}
			}
			t.Logf("%s: healthy in %s", s.Name, res.Duration)
		}
	})

	t.Run("replica stopped", func(t *testing.T) {
		pair.A.Exec(t, "STOP SLAVE")
		mustFail(t, full, pair.A, "replica IO thread not running (No)", "replica SQL thread not running (No)")
		mustFail(t, MySQL{User: mariadbtest.MonitorUser, Password: mariadbtest.MonitorPassword, MaxReplicaLag: time.Minute}, pair.A, "replication broken: lag is NULL")
		mustPass(t, MySQL{User: mariadbtest.MonitorUser, Password: mariadbtest.MonitorPassword, RequireWritable: true}, pair.A)
		mustPass(t, full, pair.B) // the peer still replicates from A
		pair.A.Exec(t, "START SLAVE")
		pair.WaitReplicating(t, 30*time.Second)
		mustPass(t, full, pair.A)
	})

	t.Run("SQL thread stopped", func(t *testing.T) {
		pair.B.Exec(t, "STOP SLAVE SQL_THREAD")
		res := mustFail(t, full, pair.B, "replica SQL thread not running (No)")
		if strings.Contains(res.Err.Error(), "IO thread not running") {
			t.Errorf("IO thread reported stopped: %v", res.Err)
		}
		pair.B.Exec(t, "START SLAVE SQL_THREAD")
		pair.WaitReplicating(t, 30*time.Second)
		mustPass(t, full, pair.B)
	})

	t.Run("read only", func(t *testing.T) {
		pair.B.Exec(t, "SET GLOBAL read_only = 1")
		res := mustFail(t, full, pair.B, "server is read-only")
		if res.Detail["mysql_read_only"] != 1 {
			t.Errorf("mysql_read_only %v, want 1", res.Detail["mysql_read_only"])
		}
		readable := full
		readable.RequireWritable = false
		mustPass(t, readable, pair.B)
		pair.B.Exec(t, "SET GLOBAL read_only = 0")
		mustPass(t, full, pair.B)
	})

	t.Run("wrong password", func(t *testing.T) {
		wrong := full
		wrong.Password = "not-the-password"
		res := mustFail(t, wrong, pair.A, "Access denied for user '"+mariadbtest.MonitorUser+"'")
		var me *mysql.MySQLError
		if !errors.As(res.Err, &me) || me.Number != 1045 {
			t.Errorf("error %v does not wrap MySQL error 1045", res.Err)
		}
		if res.Outcome() != ResultFailure {
			t.Errorf("outcome %s, want failure", res.Outcome())
		}
	})

	t.Run("missing privilege", func(t *testing.T) {
		pair.A.Exec(t, "SET SESSION sql_log_bin = 0", "CREATE USER 'bare'@'%' IDENTIFIED BY 'bare'")
		mustPass(t, MySQL{User: "bare", Password: "bare", RequireWritable: true}, pair.A)
		mustFail(t, MySQL{User: "bare", Password: "bare", RequireReplicaRunning: true}, pair.A, "reading replica status", "Access denied")
	})

	t.Run("replica lag", func(t *testing.T) {
		// Delay A's SQL thread; a row written on B then waits in A's relay
		// log and A's lag grows past the bound.
		pair.A.Exec(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 30", "START SLAVE")
		pair.B.Exec(t, "INSERT INTO vigil_fixture.heartbeat (origin, marker) VALUES ('b', 'lag')")
		lagging := full
		lagging.MaxReplicaLag = time.Second
		deadline := time.Now().Add(15 * time.Second)
		var res Result
		for {
			// Right after START SLAVE the IO thread is still connecting
			// and the lag NULL; wait for the lag itself to fail the check.
			res = probeWithin(t, lagging, pair.A.Addr, timeout)
			if !res.OK && strings.Contains(res.Err.Error(), "exceeds 1s") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("lag never exceeded 1s: %+v", res)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if lag := res.Detail["replica_lag_seconds"]; lag <= 1 || lag > 30 {
			t.Errorf("replica_lag_seconds %v, want in (1, 30]", lag)
		}
		t.Logf("A: %v", res.Err)
		pair.A.Exec(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 0", "START SLAVE")
		pair.WaitReplicating(t, 30*time.Second)
		mustPass(t, lagging, pair.A)
	})

	t.Run("server down", func(t *testing.T) {
		pair.B.Kill(t)
		res := mustFail(t, full, pair.B, "connection refused")
		if res.Outcome() != ResultFailure {
			t.Errorf("outcome %s, want failure", res.Outcome())
		}
		// A's IO thread loses its master; the replica check notices once
		// the thread gives up the connection (it retries every second).
		deadline := time.Now().Add(20 * time.Second)
		for {
			res := probeWithin(t, full, pair.A.Addr, timeout)
			if !res.OK {
				if !strings.Contains(res.Err.Error(), "replica IO thread not running") {
					t.Fatalf("got %v, want the IO thread reported", res.Err)
				}
				t.Logf("A: %v", res.Err)
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("A still reports a running IO thread 20s after its master died")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func TestMySQLNotAReplica(t *testing.T) {
	s := mariadbtest.Start(t, "solo", mariadbtest.Options{})
	p := MySQL{User: mariadbtest.MonitorUser, Password: mariadbtest.MonitorPassword, Logger: slog.New(slog.DiscardHandler)}
	if res := probeWithin(t, p, s.Addr, 2*time.Second); !res.OK {
		t.Fatalf("basic check: %+v", res)
	}
	p.MaxReplicaLag = time.Second
	res := probeWithin(t, p, s.Addr, 2*time.Second)
	if res.OK || !strings.Contains(res.Err.Error(), "not a replica") {
		t.Fatalf("got %+v, want 'not a replica'", res)
	}
}

// garbageServer answers every TCP connection with reply and closes it.
func garbageServer(t *testing.T, reply []byte) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write(reply)
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).AddrPort()
}
