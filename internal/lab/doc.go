// Package lab builds throw-away networks of Linux network namespaces for
// vigil's integration tests, the demo and the failover benchmarks, and runs
// the reference implementation, keepalived 2.2.7, inside them.
//
// # Topology
//
// New creates one namespace per host plus a "switch" namespace holding a
// Linux bridge (br0, STP off, multicast snooping off so VRRP and NDP
// multicast flood like on a dumb switch, IPv6 disabled so the switch sends
// nothing itself). Each host has exactly one interface, eth0, the end of a
// veth pair whose other end, "p-<host>", is a bridge port. Nothing is created
// in the namespace of the test process.
//
//	topo := lab.New(t, lab.Options{}) // director1, director2, client
//	d1, d2, client := topo.Host("director1"), topo.Host("director2"), topo.Host("client")
//
// Namespace names are "<prefix>-<pid>-<random>-<host>" (prefix "vigil"), so
// parallel tests and test binaries never collide. The first New in a process
// deletes lab namespaces whose creating process is gone (a crashed or
// SIGKILLed test run), killing what still runs in them. Everything else is
// removed by the TB's cleanup, or by Topology.Close.
//
// # Addresses
//
// Every topology uses the same plan, the one of shared/vectors/vrrp. A host
// has an ID, the last octet of its addresses:
//
//	ID   host           IPv4          IPv6       MAC
//	11   director1      10.99.0.11    fd99::11   02:99:00:00:00:11
//	12   director2      10.99.0.12    fd99::12   02:99:00:00:00:12
//	1N   directorN (9)  10.99.0.1N    fd99::1N   02:99:00:00:00:1N
//	2N   backendN (9)   10.99.0.2N    fd99::2N   02:99:00:00:00:2N
//	100  client         10.99.0.100   fd99::100  02:99:00:00:01:00
//	10N  clientN (9)    10.99.0.10N   fd99::10N  02:99:00:00:01:0N
//	250  VIP4 / VIP6    10.99.0.250   fd99::250  (250-254 reserved for VIPs)
//
// Other host names need an explicit HostSpec.ID. The IPv6 group and the MAC
// spell the decimal ID, so fd99::100 is the host 10.99.0.100. Prefixes are
// /24 (Net4) and /64 (Net6). The kernel adds the EUI-64 link-local address
// (LinkLocal6), e.g. fe80::99:ff:fe00:11 for director1.
//
// # Sysctls
//
// In every host namespace, before eth0 exists:
//
//   - net.ipv6.conf.{all,default}.accept_dad=0: no duplicate address
//     detection, so static addresses and VIPs are usable at once instead of
//     staying tentative for a second.
//   - net.ipv6.conf.{all,default}.keep_addr_on_down=1: IPv6 addresses survive
//     LinkDown like IPv4 ones do, so LinkUp restores the host.
//
// ARP stays at the kernel defaults (arp_accept=0, arp_ignore=0,
// arp_announce=0), which is what real clients run: a gratuitous ARP then
// updates an existing neighbour entry (that is what a failover must achieve)
// but does not create one. Options.Sysctls adds or overrides sysctls, e.g.
// {"net.ipv4.conf.all.arp_accept": "1"} for a client that learns from
// gratuitous ARP alone.
//
// New returns once every eth0 has carrier and its link-local address.
//
// # Failures
//
// A Topology reports failures through the TB it was made with (*testing.T,
// *testing.B or a Session in programs): methods that are test steps
// (Start, LinkDown, Partition, HasAddr, Pinger, ...) fail the test rather
// than return an error. Run and Neigh return errors because callers often
// expect them (a command that must fail, an entry that must not exist).
// Require skips a test whose prerequisites are missing, or fails it when
// CI=true; its message points at scripts/install-deps.sh.
//
// Like any TB, the one given to New must be used from its own test's
// goroutine: create a topology in the test (or subtest) that drives it.
// Host.StartKeepalived takes its own TB, which scopes the process and its
// files, so a subtest can run keepalived on a topology of its parent.
//
// # Failures to inject
//
//   - Proc.Kill: SIGKILL to the process group, a crash (no priority-0
//     advert, addresses stay behind on the host).
//   - Proc.Signal(syscall.SIGTERM): a graceful stop.
//   - Host.LinkDown / LinkUp: eth0 administratively down inside the host.
//   - Host.Unplug / Plug: the switch port down; eth0 stays up with
//     NO-CARRIER, as when a cable is pulled.
//   - Host.Partition / Heal, Topology.HealAll: frames between two hosts are
//     dropped in both directions by nftables rules in the switch namespace
//     (bridge family, forward hook, matched on ingress and egress ports), so
//     unicast, broadcast and multicast are cut while both hosts still reach
//     everyone else: a split brain. Needs nft(8).
//
// # Processes
//
// Host.Start runs a long-lived command under `ip netns exec`, in its own
// process group, with stdout and stderr in a log file (Proc.Log); the last
// lines of every log are printed when a test fails. Processes die with the
// test binary (PR_SET_PDEATHSIG, from a dedicated locked thread), and are
// stopped with SIGTERM, then SIGKILL after 3 s, at cleanup. Host.Run runs a
// command to completion. Host.Do runs Go code on a thread inside the
// namespace; sockets it opens stay there.
//
// Host.StartKeepalived runs keepalived with a rendered KeepalivedConf:
//
//	ka := d1.StartKeepalived(t, lab.KeepalivedConf{Version: 3, Instances: []lab.KeepalivedInstance{{
//		State: "MASTER", VRID: 51, Priority: 150, AdvertInterval: 100 * time.Millisecond,
//		VIPs: []netip.Prefix{netip.PrefixFrom(lab.VIP4, 24)},
//	}}})
//	lab.WaitFor(t, 2*time.Second, func() bool { return d1.HasAddr(lab.VIP4) }, "director1 to hold the VIP")
//
// # Measuring outages
//
// Host.Pinger sends ICMP echo requests every interval from a raw socket in
// the host and timestamps each reply; PingStats.LongestGap is the longest
// time without a reply, the client-visible outage of a failover:
//
//	p := client.Pinger(lab.VIP4, 5*time.Millisecond)
//	ka.Kill()
//	...
//	t.Logf("%v", p.Stop()) // includes the longest gap
//
// # Programs
//
// Outside go test, use a Session as the TB:
//
//	s := lab.NewSession(logger)
//	defer s.Close()
//	topo := lab.New(s, lab.Options{})
//
// A Session's Fatalf logs, removes everything and exits with status 1.
package lab
