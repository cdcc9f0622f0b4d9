package daemon

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"github.com/vigil-lb/vigil/check"
	"github.com/vigil-lb/vigil/config"
	"github.com/vigil-lb/vigil/ipvs"
)

// lbConfig is the load-balancing part of a configuration, translated for
// the ipvs and check packages.
type lbConfig struct {
	virtualServers []ipvs.VirtualServer
	checks         []check.Check
	// checkIDs lists each real server's check IDs; a real server is
	// healthy when all of its checks are up (keepalived).
	checkIDs map[ipvs.RealServerRef][]string
	// configured weights, by real server
	weights map[ipvs.RealServerRef]int
}

// checkID names a real server's i-th check: "<vs>/<rs>/<i>-<type>".
func checkID(vs, rs string, i int, typ string) string {
	return fmt.Sprintf("%s/%s/%d-%s", vs, rs, i, typ)
}

// LBConfig translates the virtual servers of a validated configuration.
// Reading a MySQL password file is the only I/O; its error names the file.
func translateLB(cfg *config.Config, logger *slog.Logger) (*lbConfig, error) {
	out := &lbConfig{checkIDs: map[ipvs.RealServerRef][]string{}, weights: map[ipvs.RealServerRef]int{}}
	for _, vs := range cfg.VirtualServers {
		v := ipvs.VirtualServer{
			Name:               vs.Name,
			Scheduler:          vs.Scheduler,
			Persistence:        vs.PersistenceTimeout,
			PersistenceNetmask: int(vs.PersistenceNetmask),
			Quorum:             vs.Quorum,
			Hysteresis:         vs.Hysteresis,
			InhibitOnFailure:   vs.InhibitOnFailure,
		}
		var err error
		if v.Key, err = serviceKey(vs); err != nil {
			return nil, fmt.Errorf("virtual server %s: %w", vs.Name, err)
		}
		for _, f := range vs.SchedulerFlags {
			fl, err := ipvs.ParseFlag(f)
			if err != nil {
				return nil, fmt.Errorf("virtual server %s: %w", vs.Name, err)
			}
			v.Flags |= fl
		}
		if v.Forwarding, err = ipvs.ParseForwarding(vs.Forwarding); err != nil {
			return nil, fmt.Errorf("virtual server %s: %w", vs.Name, err)
		}
		if vs.SorryServer.IsValid() {
			fw, err := ipvs.ParseForwarding(vs.SorryServerForwarding)
			if err != nil {
				fw = ipvs.ForwardUnset
			}
			v.SorryServer = &ipvs.SorryServer{Address: vs.SorryServer, Forwarding: fw}
		}
		for _, rs := range vs.RealServers {
			r := ipvs.RealServer{Address: rs.Address, Weight: rs.Weight, UpperThreshold: rs.UpperThreshold, LowerThreshold: rs.LowerThreshold}
			if rs.Forwarding != "" {
				if r.Forwarding, err = ipvs.ParseForwarding(rs.Forwarding); err != nil {
					return nil, fmt.Errorf("virtual server %s: real server %s: %w", vs.Name, rs.Address, err)
				}
			}
			v.RealServers = append(v.RealServers, r)
			ref := ipvs.RealServerRef{VirtualServer: vs.Name, RealServer: r.ID()}
			out.weights[ref] = rs.Weight
			for i, c := range rs.Checks {
				cc, err := translateCheck(vs, rs, i, c, logger)
				if err != nil {
					return nil, fmt.Errorf("virtual server %s: real server %s: check %d (%s): %w", vs.Name, rs.Address, i, c.Type, err)
				}
				out.checks = append(out.checks, cc)
				out.checkIDs[ref] = append(out.checkIDs[ref], cc.ID)
			}
		}
		out.virtualServers = append(out.virtualServers, v)
	}
	return out, nil
}

func serviceKey(vs config.VirtualServer) (ipvs.ServiceKey, error) {
	if vs.Fwmark != 0 {
		fam := ipvs.IPv4
		if vs.Family == "ipv6" {
			fam = ipvs.IPv6
		}
		return ipvs.ServiceKey{Family: fam, FWMark: vs.Fwmark}, nil
	}
	proto, err := ipvs.ParseProtocol(vs.Protocol)
	if err != nil {
		return ipvs.ServiceKey{}, err
	}
	fam := ipvs.IPv4
	if vs.Address.Addr().Is6() {
		fam = ipvs.IPv6
	}
	return ipvs.ServiceKey{Family: fam, Protocol: proto, Address: vs.Address}, nil
}

func translateCheck(vs config.VirtualServer, rs config.RealServer, i int, c config.Check, logger *slog.Logger) (check.Check, error) {
	target := rs.Address
	if c.ConnectPort != 0 {
		target = netip.AddrPortFrom(rs.Address.Addr(), c.ConnectPort)
	}
	cc := check.Check{
		ID:             checkID(vs.Name, rs.Address.String(), i, c.Type),
		Type:           c.Type,
		Target:         target,
		Interval:       c.DelayLoop,
		ConnectTimeout: c.ConnectTimeout,
		Retries:        c.Retries,
		RetryDelay:     c.RetryDelay,
		Rise:           c.Rise,
		Fall:           c.Fall,
		Warmup:         c.Warmup,
		InitialUp:      !vs.Alpha,
	}
	switch c.Type {
	case "tcp":
		cc.Prober = check.TCP{}
	case "http", "https":
		h := c.HTTP
		p := check.HTTP{
			Method: h.Method, Path: h.Path, Host: h.Host, TLS: c.Type == "https",
			ServerName: h.TLSServerName, InsecureSkipVerify: h.TLSInsecureSkipVerify, CAFile: h.TLSCAFile,
			BodyRegexp: h.BodyRegexp(), BodyDigest: h.Digest, Headers: h.Headers,
		}
		for _, r := range h.ExpectStatus {
			p.ExpectStatus = append(p.ExpectStatus, check.StatusRange{Min: r.Min, Max: r.Max})
		}
		cc.Prober = p
	case "mysql":
		m := c.MySQL
		pw := m.Password
		if m.PasswordFile != "" {
			b, err := os.ReadFile(m.PasswordFile)
			if err != nil {
				return cc, fmt.Errorf("reading mysql.password_file: %w", err)
			}
			pw = strings.TrimRight(string(b), "\r\n")
		}
		cc.Prober = check.MySQL{User: m.User, Password: pw, RequireWritable: m.RequireWritable,
			MaxReplicaLag: m.MaxReplicaLag, RequireReplicaRunning: m.RequireReplicaRunning, Logger: logger}
	case "exec":
		cc.Prober = check.Command{Argv: c.Exec.Command, DynamicWeight: c.Exec.DynamicWeight}
	case "udp":
		u := c.UDP
		cc.Prober = check.UDP{Payload: u.PayloadBytes(), Expect: u.ExpectBytes(), RequireReply: len(u.ExpectBytes()) > 0}
	case "dns":
		d := c.DNS
		cc.Prober = check.DNS{Name: d.Name, Type: d.Type, ExpectRcode: d.ExpectedRcode()}
	default:
		return cc, fmt.Errorf("unknown check type %q", c.Type)
	}
	return cc, nil
}
