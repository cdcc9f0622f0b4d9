package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/lab"
)

// advert is one VRRP advertisement seen on the wire.
type advert struct {
	At       time.Time // kernel receive timestamp
	Src      netip.Addr
	Version  int
	VRID     uint8
	Priority uint8
}

// arpFrame is one ARP packet seen on the wire.
type arpFrame struct {
	At        time.Time // kernel receive timestamp
	SenderMAC string    // ARP sender hardware address
	SenderIP  netip.Addr
	TargetIP  netip.Addr
	Op        uint16
}

// gratuitous reports whether the frame announces its sender address, as
// gratuitous ARP requests and replies do (sender IP = target IP).
func (f arpFrame) gratuitous() bool { return f.SenderIP == f.TargetIP }

// capture records every VRRP advertisement and ARP packet arriving at a
// host's eth0, with kernel receive timestamps (SO_TIMESTAMPNS), from two
// AF_PACKET sockets opened inside the host's namespace. It only listens:
// the host sends nothing and joins no group (frames reach it because the
// lab's bridge floods multicast).
type capture struct {
	vrrp, arp *packet.Conn
	wg        sync.WaitGroup

	mu      sync.Mutex
	adverts []advert
	arps    []arpFrame
	errs    int
	lastErr error
	changed chan struct{} // closed and replaced on every new record
}

// protoVRRP is VRRP's IP protocol number (RFC 5798 5.1.1.4).
const protoVRRP = 112

// vrrpFilter accepts IPv4 frames carrying IP protocol 112 (VRRP): byte 23
// of an Ethernet frame is the IPv4 protocol field.
var vrrpFilter = []bpf.Instruction{
	bpf.LoadAbsolute{Off: 23, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoVRRP, SkipFalse: 1},
	bpf.RetConstant{Val: 0xffff},
	bpf.RetConstant{Val: 0},
}

// startCapture opens the sockets in h and starts reading.
func startCapture(h *lab.Host) (*capture, error) {
	filter, err := bpf.Assemble(vrrpFilter)
	if err != nil {
		return nil, err
	}
	c := &capture{changed: make(chan struct{})}
	err = h.Do(func() error {
		ifi, err := net.InterfaceByName(lab.Iface)
		if err != nil {
			return err
		}
		if c.vrrp, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_IP, &packet.Config{Filter: filter}); err != nil {
			return fmt.Errorf("VRRP socket: %w", err)
		}
		if c.arp, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil); err != nil {
			c.vrrp.Close()
			return fmt.Errorf("ARP socket: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("capturing on %s: %w", h.Name(), err)
	}
	for _, conn := range []*packet.Conn{c.vrrp, c.arp} {
		if err := tuneSocket(conn); err != nil {
			c.vrrp.Close()
			c.arp.Close()
			return nil, err
		}
	}
	c.wg.Add(2)
	go c.read(c.vrrp, c.handleVRRP)
	go c.read(c.arp, c.handleARP)
	return c, nil
}

// captureRcvBuf is the receive buffer of each capture socket: large enough
// that a reader held up for a while by a busy machine loses nothing
// (several seconds of 500 adverts a second).
const captureRcvBuf = 4 << 20

// tuneSocket asks the kernel for a nanosecond receive timestamp with every
// packet and enlarges the receive buffer (SO_RCVBUFFORCE: root may exceed
// net.core.rmem_max).
func tuneSocket(conn *packet.Conn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			serr = fmt.Errorf("SO_TIMESTAMPNS: %w", err)
			return
		}
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, captureRcvBuf); err != nil {
			serr = fmt.Errorf("SO_RCVBUFFORCE: %w", err)
		}
	}); err != nil {
		return err
	}
	return serr
}

// takeDrops returns the number of packets the kernel dropped on the capture
// sockets (receive buffer full) since the last call; PACKET_STATISTICS
// clears on read.
func (c *capture) takeDrops() (uint64, error) {
	var n uint64
	for _, conn := range []*packet.Conn{c.vrrp, c.arp} {
		st, err := conn.Stats()
		if err != nil {
			return 0, err
		}
		n += uint64(st.Drops)
	}
	return n, nil
}

// close stops the capture.
func (c *capture) close() {
	c.vrrp.Close()
	c.arp.Close()
	c.wg.Wait()
}

// read receives frames with their timestamps until the socket is closed.
func (c *capture) read(conn *packet.Conn, handle func(at time.Time, frame []byte)) {
	defer c.wg.Done()
	rc, err := conn.SyscallConn()
	if err != nil {
		c.noteErr(err)
		return
	}
	buf := make([]byte, 2048)
	oob := make([]byte, 128)
	for {
		var n, oobn int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err != nil { // closed
			return
		}
		if rerr != nil {
			c.noteErr(rerr)
			continue
		}
		at, ok := kernelTimestamp(oob[:oobn])
		if !ok {
			at = time.Now()
		}
		handle(at, buf[:n])
	}
}

// kernelTimestamp extracts an SCM_TIMESTAMPNS control message.
func kernelTimestamp(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}

func (c *capture) noteErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs++
	c.lastErr = err
}

// handleVRRP records an Ethernet frame holding IPv4 and VRRP.
func (c *capture) handleVRRP(at time.Time, frame []byte) {
	a, ok := parseVRRPFrame(frame)
	if !ok {
		return
	}
	a.At = at
	c.mu.Lock()
	c.adverts = append(c.adverts, a)
	c.notifyLocked()
	c.mu.Unlock()
}

// parseVRRPFrame reads source, version, VRID and priority from an Ethernet
// frame carrying an IPv4 VRRP packet (RFC 3768 5.1, RFC 5798 5.1).
func parseVRRPFrame(frame []byte) (advert, bool) {
	const eth = 14
	if len(frame) < eth+20 || binary.BigEndian.Uint16(frame[12:14]) != unix.ETH_P_IP {
		return advert{}, false
	}
	ip := frame[eth:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != protoVRRP || len(ip) < ihl+8 {
		return advert{}, false
	}
	v := ip[ihl:]
	src, _ := netip.AddrFromSlice(ip[12:16])
	return advert{Src: src, Version: int(v[0] >> 4), VRID: v[1], Priority: v[2]}, true
}

// handleARP records an Ethernet frame holding an IPv4-over-Ethernet ARP
// packet.
func (c *capture) handleARP(at time.Time, frame []byte) {
	f, ok := parseARPFrame(frame)
	if !ok {
		return
	}
	f.At = at
	c.mu.Lock()
	c.arps = append(c.arps, f)
	c.notifyLocked()
	c.mu.Unlock()
}

// parseARPFrame reads an Ethernet/IPv4 ARP packet (RFC 826).
func parseARPFrame(frame []byte) (arpFrame, bool) {
	const eth = 14
	if len(frame) < eth+28 || binary.BigEndian.Uint16(frame[12:14]) != unix.ETH_P_ARP {
		return arpFrame{}, false
	}
	a := frame[eth:]
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != unix.ETH_P_IP || a[4] != 6 || a[5] != 4 {
		return arpFrame{}, false
	}
	spa, _ := netip.AddrFromSlice(a[14:18])
	tpa, _ := netip.AddrFromSlice(a[24:28])
	return arpFrame{
		SenderMAC: net.HardwareAddr(a[8:14]).String(),
		SenderIP:  spa,
		TargetIP:  tpa,
		Op:        binary.BigEndian.Uint16(a[6:8]),
	}, true
}

func (c *capture) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// forget drops records received before t, so memory stays bounded over a
// long benchmark.
func (c *capture) forget(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := 0
	for i < len(c.adverts) && c.adverts[i].At.Before(t) {
		i++
	}
	c.adverts = append([]advert(nil), c.adverts[i:]...)
	j := 0
	for j < len(c.arps) && c.arps[j].At.Before(t) {
		j++
	}
	c.arps = append([]arpFrame(nil), c.arps[j:]...)
}

// snapshot returns copies of the records so far.
func (c *capture) snapshot() ([]advert, []arpFrame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]advert(nil), c.adverts...), append([]arpFrame(nil), c.arps...)
}

// nextAdvert waits for the first advert received after `after` that match
// accepts and returns it.
func (c *capture) nextAdvert(ctx context.Context, timeout time.Duration, after time.Time, match func(advert) bool) (advert, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		c.mu.Lock()
		for _, a := range c.adverts {
			if a.At.After(after) && match(a) {
				c.mu.Unlock()
				return a, nil
			}
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return advert{}, ctx.Err()
		}
	}
}

// errors returns the number of failed reads and the last error.
func (c *capture) errors() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errs, c.lastErr
}
