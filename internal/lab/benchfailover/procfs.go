package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// groupUsage is the CPU time and resident memory of one process group.
type groupUsage struct {
	Pids     []int
	Ticks    uint64 // utime + stime of every member, in clock ticks
	RSSBytes uint64 // VmRSS of every member
}

// readGroupUsage sums /proc/<pid>/stat utime+stime and /proc/<pid>/status
// VmRSS over the processes whose process group is pgid (a lab.Proc leads
// its own group, and keepalived's VRRP child stays in it).
func readGroupUsage(pgid int) (groupUsage, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return groupUsage{}, err
	}
	var u groupUsage
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone
		}
		st, err := parseStat(b)
		if err != nil || st.pgrp != pgid {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		rss, err := parseVmRSS(status)
		if err != nil {
			return groupUsage{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
		}
		u.Pids = append(u.Pids, pid)
		u.Ticks += st.utime + st.stime
		u.RSSBytes += rss
	}
	if len(u.Pids) == 0 {
		return u, fmt.Errorf("no process in group %d", pgid)
	}
	return u, nil
}

// procStat holds the fields of /proc/<pid>/stat the benchmark uses.
type procStat struct {
	pgrp         int
	utime, stime uint64
}

// parseStat parses /proc/<pid>/stat (proc(5)): the command name, field 2,
// is in parentheses and may contain spaces and parentheses, so fields are
// counted from the last ')'. pgrp is field 5, utime 14, stime 15.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("stat: no command name")
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("stat: %d fields after the name, want at least 13", len(f))
	}
	pgrp, err1 := strconv.Atoi(f[2])
	ut, err2 := strconv.ParseUint(f[11], 10, 64)
	st, err3 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return procStat{}, fmt.Errorf("stat: %w", err)
	}
	return procStat{pgrp: pgrp, utime: ut, stime: st}, nil
}

// parseVmRSS returns VmRSS from /proc/<pid>/status in bytes.
func parseVmRSS(b []byte) (uint64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q", line)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		return kb * 1024, err
	}
	return 0, errors.New("no VmRSS line")
}

// atClkTck is the auxiliary vector entry holding the kernel's USER_HZ, the
// unit of utime and stime (getauxval(3)).
const atClkTck = 17

// clockTicks returns USER_HZ from this process's auxiliary vector.
func clockTicks() (uint64, error) {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 0, err
	}
	return auxvValue(b, atClkTck)
}

// auxvValue finds key in an auxiliary vector of native-endian 64-bit
// (type, value) pairs.
func auxvValue(b []byte, key uint64) (uint64, error) {
	for i := 0; i+16 <= len(b); i += 16 {
		k := binary.NativeEndian.Uint64(b[i:])
		v := binary.NativeEndian.Uint64(b[i+8:])
		if k == key {
			return v, nil
		}
		if k == 0 { // AT_NULL
			break
		}
	}
	return 0, fmt.Errorf("auxv: no entry %d", key)
}
