package ipvsbench

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/vigil-lb/vigil/ipvs"
)

// Table returns the benchmark's desired IPVS table: services TCP virtual
// servers 10.1.x.y:80 (wlc), each with dests direct-routing real servers
// 10.(100+j).x.y:80 of weight j+1. Addresses are distinct for up to 65,536
// services and 150 real servers each. Real servers listen on the virtual
// server's port: direct routing cannot change it (ipvsadm replaces the port
// of a -g real server with the service's).
func Table(services, dests int) []ipvs.Service {
	if services < 1 || services > 1<<16 || dests < 1 || dests > 150 {
		panic(fmt.Sprintf("ipvsbench: table %d × %d out of range", services, dests))
	}
	svcs := make([]ipvs.Service, services)
	for i := range svcs {
		hi, lo := byte(i>>8), byte(i)
		s := ipvs.Service{
			Key:          ipvs.AddrKey(ipvs.TCP, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, hi, lo}), 80)),
			Scheduler:    "wlc",
			Destinations: make([]ipvs.Destination, dests),
		}
		for j := range dests {
			s.Destinations[j] = ipvs.Destination{
				Address:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(100 + j), hi, lo}), 80),
				Weight:     j + 1,
				Forwarding: ipvs.ForwardDR,
			}
		}
		svcs[i] = s
	}
	return svcs
}

// RestoreInput renders svcs in the format `ipvsadm -R` (and so
// ipvsadm-restore) reads on standard input: one -A line per virtual server
// and one -a line per real server, as `ipvsadm -S -n` writes them. Only what
// Table uses is supported: TCP services on an address, a scheduler, and
// direct-routing real servers with a weight.
func RestoreInput(svcs []ipvs.Service) []byte {
	var b bytes.Buffer
	for _, s := range svcs {
		fmt.Fprintf(&b, "-A -t %s -s %s\n", s.Key.Address, s.Scheduler)
		for _, d := range s.Destinations {
			fmt.Fprintf(&b, "-a -t %s -r %s -g -w %d\n", s.Key.Address, d.Address, d.Weight)
		}
	}
	return b.Bytes()
}

// EditArgs are the ipvsadm arguments that set real server d of service s
// to d.Weight: `ipvsadm -e -t VIP:PORT -r RIP:PORT -g -w WEIGHT`.
func EditArgs(s ipvs.Service, d ipvs.Destination) []string {
	return []string{"-e", "-t", s.Key.Address.String(), "-r", d.Address.String(), "-g", "-w", fmt.Sprint(d.Weight)}
}
