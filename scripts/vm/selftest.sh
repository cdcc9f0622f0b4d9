#!/usr/bin/env bash
# selftest.sh checks scripts/vm/exec.sh itself, from the outside: exit
# statuses pass through, arguments and environment arrive intact, stdout
# carries the test's output and nothing else, testdata, VIGIL_VM_INCLUDE and
# VIGIL_VM_PROGRAMS are copied in, and a hung test, a kernel panic and a dynamically linked
# binary each fail with a clear message. It builds a small static probe
# program and boots the VM once per case (about 3 s each under TCG).
#
# Usage: scripts/vm/selftest.sh
# Prints one "ok"/"not ok" line per case, then "N passed, N failed"; exits
# non-zero when a case failed.
set -euo pipefail

# shellcheck source=scripts/vm/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

exec_sh=$vm_dir/exec.sh
passed=0
failed=0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigil-vm-selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

bash "$vm_dir/prepare.sh"

# The probe: "exit N" exits N; "args" prints its arguments quoted; "env NAME"
# prints a variable; "cat FILE" prints a file; "run PROG ARGS..." runs a
# program; "partial" prints without a trailing newline; "stderr" writes to
# stderr; "hang" sleeps; "panic" crashes the kernel.
mkdir -p "$tmp/probe"
cat >"$tmp/probe/main.go" <<'EOF'
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		os.Exit(2)
	}
	switch os.Args[1] {
	case "exit":
		n, _ := strconv.Atoi(os.Args[2])
		os.Exit(n)
	case "args":
		for _, a := range os.Args[2:] {
			fmt.Printf("%q\n", a)
		}
	case "env":
		v, ok := os.LookupEnv(os.Args[2])
		fmt.Printf("%s=%q %v\n", os.Args[2], v, ok)
	case "cat":
		b, err := os.ReadFile(os.Args[2])
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.Stdout.Write(b)
	case "run":
		cmd := exec.Command(os.Args[2], os.Args[3:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
	case "partial":
		fmt.Print("no newline")
	case "stderr":
		fmt.Fprintln(os.Stderr, "to stderr")
	case "hang":
		time.Sleep(time.Hour)
	case "panic":
		os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0)
		time.Sleep(time.Minute)
	}
}
EOF
printf 'module probe\n\ngo 1.22\n' >"$tmp/probe/go.mod"
(cd "$tmp/probe" && CGO_ENABLED=0 GOFLAGS='' go build -o "$tmp/probe.bin" .)
probe=$tmp/probe.bin

# in_dir DIR COMMAND... runs COMMAND in DIR.
in_dir() {
	local dir=$1
	shift
	(cd "$dir" && "$@")
}

# check NAME WANT_STATUS WANT_STDOUT STDERR_SUBSTRING -- COMMAND...
# runs COMMAND and compares its exit status, its stdout byte for byte (unless
# WANT_STDOUT is "<any>") and a substring of its stderr (unless empty).
check() {
	local name=$1 want_rc=$2 want_out=$3 want_err=$4
	shift 5
	local rc=0
	"$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	local out problems=()
	out=$(
		cat "$tmp/out"
		echo .
	)
	out=${out%.}
	[[ $rc == "$want_rc" ]] || problems+=("exit status $rc, want $want_rc")
	[[ $want_out == "<any>" || $out == "$want_out" ]] || problems+=("stdout $(printf '%q' "$out"), want $(printf '%q' "$want_out")")
	if [[ -n $want_err ]] && ! grep -qF -- "$want_err" "$tmp/err"; then
		problems+=("stderr lacks $(printf '%q' "$want_err")")
	fi
	if ((${#problems[@]} == 0)); then
		echo "ok - $name"
		passed=$((passed + 1))
		return
	fi
	echo "not ok - $name"
	local p
	for p in "${problems[@]}"; do
		echo "    $p"
	done
	sed 's/^/    stderr: /' "$tmp/err" | tail -n 20
	failed=$((failed + 1))
}

check "exit status 0" 0 "" "" -- "$exec_sh" "$probe" exit 0
check "exit status 3 passes through" 3 "" "" -- "$exec_sh" "$probe" exit 3
check "exit status 1 passes through" 1 "" "" -- "$exec_sh" "$probe" exit 1

# Words that shells and sh -c love to mangle.
# shellcheck disable=SC2016 # no expansion wanted
want=$(printf '%s\n' '"a b"' '"it'"'"'s"' '"$HOME"' '"x|y"' '""' '"line1\nline2"' '"-test.run=^TestA$"' '"ünï"')
# shellcheck disable=SC2016 # no expansion wanted
check "arguments arrive intact" 0 "$want"$'\n' "" -- \
	"$exec_sh" "$probe" args "a b" "it's" '$HOME' 'x|y' '' $'line1\nline2' '-test.run=^TestA$' 'ünï'

check "stdout holds only the test's output" 0 "no newline" "" -- "$exec_sh" "$probe" partial
check "stderr of the test reaches the output" 0 $'to stderr\n' "" -- "$exec_sh" "$probe" stderr

check "VIGIL_IN_VM is set" 0 $'VIGIL_IN_VM="1" true\n' "" -- "$exec_sh" "$probe" env VIGIL_IN_VM
check "VIGIL_* variables pass through" 0 "VIGIL_SELFTEST=\"it's here\" true"$'\n' "" -- \
	env VIGIL_SELFTEST="it's here" "$exec_sh" "$probe" env VIGIL_SELFTEST
check "VIGIL_VM_ENV passes named variables" 0 $'OTHER_VAR="v" true\n' "" -- \
	env OTHER_VAR=v VIGIL_VM_ENV=OTHER_VAR "$exec_sh" "$probe" env OTHER_VAR
check "other variables stay outside" 0 $'OTHER_VAR="" false\n' "" -- \
	env OTHER_VAR=v "$exec_sh" "$probe" env OTHER_VAR

mkdir -p "$tmp/pkg/testdata" "$tmp/extra"
echo "from testdata" >"$tmp/pkg/testdata/file.txt"
echo "from include" >"$tmp/extra/file.txt"
check "testdata is copied to the working directory" 0 $'from testdata\n' "" -- \
	in_dir "$tmp/pkg" "$exec_sh" "$probe" cat testdata/file.txt
check "VIGIL_VM_INCLUDE copies to the same path" 0 $'from include\n' "" -- \
	in_dir "$tmp/pkg" env VIGIL_VM_INCLUDE=../extra "$exec_sh" "$probe" cat ../extra/file.txt

# numfmt is coreutils' and dynamically linked; busybox has no such applet.
check "VIGIL_VM_PROGRAMS brings a dynamically linked program" 0 $'2.0K\n' "" -- \
	env VIGIL_VM_PROGRAMS=numfmt "$exec_sh" "$probe" run numfmt --to=iec 2048
check "VIGIL_VM_PROGRAMS refuses an unknown program" 1 "" "no-such-program: not found" -- \
	env VIGIL_VM_PROGRAMS=no-such-program "$exec_sh" "$probe" exit 0

check "a hung test times out with 124" 124 "" "timed out after 10s" -- \
	env VIGIL_VM_TIMEOUT=10 "$exec_sh" "$probe" hang
check "a kernel panic fails with 125" 125 "<any>" "without reporting an exit status" -- \
	"$exec_sh" "$probe" panic
check "a dynamically linked binary is refused" 1 "" "CGO_ENABLED=0" -- \
	"$exec_sh" "$(type -P true)"

echo "$passed passed, $failed failed"
((failed == 0))
