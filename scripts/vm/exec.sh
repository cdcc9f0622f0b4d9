#!/usr/bin/env bash
# exec.sh runs a static test binary inside the vigil test VM (Debian's cloud
# kernel under qemu, IPVS loaded) and exits with the binary's exit status. It
# is what `go test -exec` calls:
#
#   CGO_ENABLED=0 go test -tags vm -exec "$PWD/scripts/vm/exec.sh" ./ipvs/...
#
# Usage: scripts/vm/exec.sh TESTBINARY [ARGS...]
#
# The binary runs as root in a directory with the same path as the current
# one, holding a copy of ./testdata when there is one, with the given
# arguments (-test.* flags included). Its output, and nothing else, goes to
# stdout; the boot log is shown on stderr when something goes wrong. When the
# VM stops without reporting a status (kernel panic, boot failure) exec.sh
# exits 125; when it runs out of time, 124. See docs/vm.md.
#
# Environment:
#   VIGIL_VM_TIMEOUT   seconds before the VM is killed; 0 means never.
#                      Default: 600, or the binary's -test.timeout plus 30 s
#                      when that is longer, so that Go's own timeout (and
#                      its goroutine dump) comes first.
#   VIGIL_VM_INCLUDE   colon-separated files or directories to copy into the
#                      VM at the same absolute path (relative to the
#                      current directory)
#   VIGIL_VM_PROGRAMS  space-separated host programs (names looked up in
#                      PATH, or paths) to copy into the VM's /bin, with the
#                      shared libraries and the loader ldd(1) lists for them
#                      at their host paths: how a test gets a dynamically
#                      linked tool such as prometheus
#   VIGIL_VM_TESTDATA  0 to leave ./testdata out
#   VIGIL_VM_ENV       more variable names to pass to the binary (VIGIL_*,
#                      CI, GOTRACEBACK and GODEBUG always are)
#   VIGIL_VM_MODULES   more kernel modules to load before the test
#   VIGIL_VM_DEBUG     1: full kernel log and the boot log on stderr, init
#                      traced, the run directory kept
#   VIGIL_VM_SHELL     1: interactive shell in the VM instead of the test
#                      (/vigil/run runs it); Ctrl-A x quits qemu
#   VIGIL_VM_MEM, VIGIL_VM_SMP, VIGIL_VM_ACCEL, VIGIL_VM_APPEND
#                      qemu memory (MiB, 1024), CPUs (1), accelerator (tcg)
#                      and extra kernel command line
#   VIGIL_VM_CACHE     where prepare.sh put the kernel and initramfs
set -euo pipefail

# shellcheck source=scripts/vm/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

readonly exit_timeout=124 exit_no_status=125

usage() {
	echo "usage: $0 TESTBINARY [ARGS...]" >&2
	exit 2
}

# sq quotes a word for sh: 'it'\''s'.
sq() {
	local s=${1//\'/\'\\\'\'}
	printf "'%s'" "$s"
}

# le_uint prints the unsigned little-endian integer of $3 bytes at offset $2
# of file $1.
le_uint() {
	od -An -v -t "u$3" -j "$2" -N "$3" "$1" | tr -d ' '
}

# check_binary refuses what cannot run in the VM: non-x86-64 ELF files and
# dynamically linked ones (the initramfs has no libc). Scripts are fine.
check_binary() {
	local f=$1 magic
	[[ -f $f ]] || vm_die "$f: no such file"
	[[ -x $f ]] || vm_die "$f: not executable"
	magic=$(od -An -v -t x1 -N 4 "$f" | tr -d ' ')
	case $magic in
	7f454c46) ;;
	2321*) return ;; # "#!"
	*) vm_die "$f: neither an ELF binary nor a script" ;;
	esac
	[[ $(le_uint "$f" 4 1) == 2 && $(le_uint "$f" 18 2) == 62 ]] ||
		vm_die "$f: not an x86-64 ELF binary"
	local phoff phentsize phnum i
	phoff=$(le_uint "$f" 32 8)
	phentsize=$(le_uint "$f" 54 2)
	phnum=$(le_uint "$f" 56 2)
	for ((i = 0; i < phnum; i++)); do
		if [[ $(le_uint "$f" $((phoff + i * phentsize)) 4) == 3 ]]; then # PT_INTERP
			vm_die "$f is dynamically linked; the VM has no libc: build it with CGO_ENABLED=0"
		fi
	done
}

# go_seconds prints a Go duration ("10m0s", "1.5s", "90s") in whole seconds,
# rounded up; plain numbers are seconds. It fails on anything else.
go_seconds() {
	busybox awk -v d="$1" 'BEGIN {
		if (d ~ /^[0-9]+$/) { print d; exit 0 }
		mult["h"] = 3600; mult["m"] = 60; mult["s"] = 1; mult["ms"] = 1e-3
		mult["us"] = 1e-6; mult["µs"] = 1e-6; mult["ns"] = 1e-9
		s = d; total = 0
		if (s == "") exit 1
		while (s != "") {
			if (!match(s, /^[0-9]*\.?[0-9]+/)) exit 1
			n = substr(s, 1, RLENGTH) + 0; s = substr(s, RLENGTH + 1)
			if (!match(s, /^(ns|us|µs|ms|s|m|h)/)) exit 1
			total += n * mult[substr(s, 1, RLENGTH)]; s = substr(s, RLENGTH + 1)
		}
		t = int(total); if (t < total) t++
		print t
	}'
}

# vm_timeout_for prints the VM timeout in seconds for the test arguments.
vm_timeout_for() {
	if [[ -n ${VIGIL_VM_TIMEOUT:-} ]]; then
		go_seconds "$VIGIL_VM_TIMEOUT" || vm_die "VIGIL_VM_TIMEOUT=$VIGIL_VM_TIMEOUT is not a number of seconds or a Go duration"
		return
	fi
	local t=600 tt="" i
	local -a a=("$@")
	for ((i = 0; i < ${#a[@]}; i++)); do
		case ${a[i]} in
		-test.timeout=* | --test.timeout=*) tt=${a[i]#*=} ;;
		-test.timeout | --test.timeout) tt=${a[i + 1]:-} ;;
		esac
	done
	if [[ -n $tt ]] && tt=$(go_seconds "$tt") && ((tt > 0 && tt + 30 > t)); then
		t=$((tt + 30))
	fi
	echo "$t"
}

# copy_in copies a file or directory to the same absolute path under $1.
copy_in() {
	local root=$1 path=$2 abs
	abs=$(realpath -e -- "$path") || vm_die "VIGIL_VM_INCLUDE: $path: no such file or directory"
	if [[ -d $abs ]]; then
		mkdir -p "$root$abs"
		cp -RL -- "$abs/." "$root$abs/"
	else
		mkdir -p "$root$(dirname "$abs")"
		cp -L -- "$abs" "$root$abs"
	fi
}

# copy_program copies host program $2 (a name in PATH or a path) to $1/bin
# and the shared objects it needs, the dynamic loader included, to the same
# paths under $1. A static program comes alone.
copy_program() {
	local root=$1 prog=$2 path lib
	path=$(command -v -- "$prog") || vm_die "VIGIL_VM_PROGRAMS: $prog: not found in PATH (scripts/install-deps.sh installs what the tests use)"
	path=$(realpath -e -- "$path")
	mkdir -p "$root/bin"
	cp -L -- "$path" "$root/bin/$(basename -- "$prog")"
	# ldd prints "name => /path (addr)", "/path (addr)" or "not a dynamic
	# executable"; every absolute path is a file to copy.
	# They land at the path ldd names, not the one it resolves to: the
	# loader must be at the PT_INTERP path (/lib64/...), a symlink on Debian.
	while read -r lib; do
		mkdir -p "$root$(dirname -- "$lib")"
		cp -L -- "$lib" "$root$lib"
	done < <(ldd -- "$path" 2>/dev/null | grep -o '/[^ ]*' || true)
}

# write_run writes /vigil/run: cd to the working directory, set the
# environment, exec the binary with its arguments.
write_run() {
	local out=$1 workdir=$2 binpath=$3
	shift 3
	local -a names=(CI GOTRACEBACK GODEBUG)
	local n
	local -a extra=()
	read -r -a extra <<<"${VIGIL_VM_ENV:-}"
	names+=("${extra[@]}")
	# Only exported variables: exec.sh's own are not the caller's business.
	local -A exported=()
	while IFS= read -r n; do
		exported[$n]=1
		[[ $n != VIGIL_* || $n == VIGIL_IN_VM ]] || names+=("$n")
	done < <(compgen -e)
	{
		echo '#!/bin/sh'
		echo '# Written by scripts/vm/exec.sh: runs the test binary as go test would.'
		echo "cd $(sq "$workdir") || exit 125"
		echo 'export PATH=/bin HOME=/root TMPDIR=/tmp USER=root LOGNAME=root VIGIL_IN_VM=1'
		for n in "${names[@]}"; do
			[[ $n =~ ^[A-Za-z_][A-Za-z0-9_]*$ && -n ${exported[$n]:-} ]] || continue
			echo "export $n=$(sq "${!n}")"
		done
		printf 'exec %s' "$(sq "$binpath")"
		local a
		for a in "$@"; do
			printf ' %s' "$(sq "$a")"
		done
		echo
	} >"$out"
	chmod 0755 "$out"
}

# filter reads the serial console. Before "VIGIL-BEGIN <nonce>" lines are the
# boot log; after it they are the test's output and go to stdout, until
# "VIGIL-EXIT-CODE=<n> <nonce>", whose status is written to $run/exit-code.
# Everything is logged to $run/console.log.
filter() {
	busybox awk -v nonce="$nonce" -v logf="$run/console.log" -v debug="$debug" \
		-v codef="$run/exit-code" -v statef="$run/state" '
		BEGIN { state = 0; begin = "VIGIL-BEGIN " nonce; endre = "VIGIL-EXIT-CODE=[0-9]+ " nonce "$" }
		{
			sub(/\r$/, "")
			print > logf
			if (state == 0) {
				if ($0 == begin) { state = 1; next }
				if (debug == 1 || index($0, "vigil-vm: warning:") == 1) {
					print > "/dev/stderr"; fflush("/dev/stderr")
				}
				next
			}
			if (state == 1) {
				if (match($0, endre)) {
					printf "%s", substr($0, 1, RSTART - 1); fflush()
					code = substr($0, RSTART + 16); sub(/ .*/, "", code)
					print code > codef
					state = 2
					next
				}
				print; fflush()
				next
			}
			if (debug == 1) { print > "/dev/stderr"; fflush("/dev/stderr") }
		}
		END { print state > statef }'
}

qpid=""
fpid=""
run=""
keep=0

cleanup() {
	# qpid is timeout(1) (which passes the signal on to qemu) or qemu.
	if [[ -n $qpid ]]; then
		kill "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
	fi
	if [[ -n $fpid ]]; then
		wait "$fpid" 2>/dev/null || true
	fi
	if [[ -n $run && -d $run ]]; then
		if [[ $keep == 1 ]]; then
			rm -f "$run/initrd.cpio" "$run/overlay.cpio" "$run/console"
			rm -rf "$run/overlay"
			vm_log "kept $run"
		else
			rm -rf "$run"
		fi
	fi
}

on_signal() {
	vm_log "interrupted (SIG$1); stopping the VM"
	trap - EXIT
	cleanup
	case $1 in
	INT) exit 130 ;;
	QUIT) exit 131 ;;
	*) exit 143 ;;
	esac
}

main() {
	(($# >= 1)) || usage
	local bin=$1
	shift
	check_binary "$bin"

	debug=${VIGIL_VM_DEBUG:-0}
	local shell=${VIGIL_VM_SHELL:-0}
	local vm_timeout
	vm_timeout=$(vm_timeout_for "$@")

	if ! vm_built; then
		vm_log "no VM image in $vm_cache yet; running prepare.sh"
		bash "$vm_dir/prepare.sh" >&2
	elif ! vm_fresh; then
		vm_log "scripts/vm changed since the VM image was built; running prepare.sh"
		bash "$vm_dir/prepare.sh" >&2
	fi
	# Resolve the symlink once so that a concurrent prepare.sh cannot swap
	# the image between reading the kernel and the initramfs.
	local image
	image=$(realpath -e "$vm_current")

	trap cleanup EXIT
	trap 'on_signal INT' INT
	trap 'on_signal TERM' TERM
	trap 'on_signal QUIT' QUIT
	trap 'on_signal HUP' HUP
	run=$(mktemp -d "${TMPDIR:-/tmp}/vigil-vm.XXXXXX")
	[[ $debug == 1 ]] && keep=1

	nonce=$(od -An -v -t x8 -N 8 /dev/urandom | tr -d ' ')
	local workdir=$PWD name
	name=$(basename "$bin")
	local ov=$run/overlay
	mkdir -p "$ov/vigil/bin" "$ov$workdir"
	cp -- "$bin" "$ov/vigil/bin/$name"
	chmod 0755 "$ov/vigil/bin/$name"
	if [[ ${VIGIL_VM_TESTDATA:-1} != 0 && -d testdata ]]; then
		cp -RL testdata "$ov$workdir/"
	fi
	local -a includes=()
	IFS=: read -r -a includes <<<"${VIGIL_VM_INCLUDE:-}"
	local inc
	for inc in "${includes[@]}"; do
		[[ -z $inc ]] || copy_in "$ov" "$inc"
	done
	local -a programs=()
	read -r -a programs <<<"${VIGIL_VM_PROGRAMS:-}"
	local prog
	for prog in "${programs[@]}"; do
		copy_program "$ov" "$prog"
	done
	write_run "$ov/vigil/run" "$workdir" "/vigil/bin/$name" "$@"
	{
		echo "VIGIL_VM_NONCE=$nonce"
		echo "VIGIL_VM_DEBUG=$(sq "$debug")"
		echo "VIGIL_VM_SHELL=$(sq "$shell")"
		echo "VIGIL_VM_MODULES=$(sq "${VIGIL_VM_MODULES:-}")"
		echo "VIGIL_VM_WORKDIR=$(sq "$workdir")"
	} >"$ov/vigil/config"
	(cd "$ov" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$run/overlay.cpio"
	# The kernel unpacks concatenated cpio archives in order; later
	# entries add to (or replace) earlier ones.
	cat "$image/initramfs.cpio" "$run/overlay.cpio" >"$run/initrd.cpio"

	local append="console=ttyS0 panic=-1 mitigations=off rdinit=/init"
	if [[ $debug == 1 ]]; then
		append+=" loglevel=7"
	else
		append+=" quiet loglevel=0"
	fi
	[[ -z ${VIGIL_VM_APPEND:-} ]] || append+=" $VIGIL_VM_APPEND"
	local -a qemu=(
		qemu-system-x86_64
		-accel "${VIGIL_VM_ACCEL:-tcg}" -cpu max
		-m "${VIGIL_VM_MEM:-1024}" -smp "${VIGIL_VM_SMP:-1}"
		-no-user-config -nodefaults -display none -nic none -no-reboot
		-kernel "$image/vmlinuz" -initrd "$run/initrd.cpio" -append "$append"
	)

	if [[ $shell == 1 ]]; then
		vm_log "shell mode: /vigil/run runs the test; Ctrl-A x quits qemu"
		local qrc=0
		"${qemu[@]}" -serial mon:stdio || qrc=$?
		return "$qrc"
	fi

	# If exec.sh is killed outright (go test's own timeout can do that),
	# the parent-death signal still stops the VM.
	local -a guard=()
	if setpriv --help 2>/dev/null | grep -- --pdeathsig >/dev/null; then
		guard=(setpriv --pdeathsig TERM)
	fi
	if [[ $vm_timeout != 0 ]]; then
		guard+=(timeout -k 5 "$vm_timeout")
	fi

	mkfifo "$run/console"
	: >"$run/console.log"
	local start=$SECONDS
	"${guard[@]}" "${qemu[@]}" -serial stdio </dev/null >"$run/console" &
	qpid=$!
	# In the background too: bash runs the signal traps only between
	# commands, and wait is one it can be interrupted in.
	filter <"$run/console" &
	fpid=$!
	wait "$fpid" || true
	fpid=""
	local qrc=0
	wait "$qpid" || qrc=$?
	qpid=""

	local state
	state=$(cat "$run/state" 2>/dev/null || echo 0)
	if [[ -s $run/exit-code ]]; then
		local rc
		rc=$(cat "$run/exit-code")
		[[ $debug == 1 ]] && vm_log "exit status $rc after $((SECONDS - start))s"
		return "$rc"
	fi

	keep=1
	local what
	case $state in
	0) what="before the test started" ;;
	*) what="while the test was running" ;;
	esac
	if [[ $vm_timeout != 0 ]] && ((qrc == 124 || qrc == 137)); then
		vm_log "error: timed out after ${vm_timeout}s $what (VIGIL_VM_TIMEOUT; -test.timeout: $(vm_test_timeout "$@"))"
		qrc=$exit_timeout
	else
		vm_log "error: the VM stopped $what without reporting an exit status (qemu exit status $qrc): kernel panic, boot failure or qemu error"
		qrc=$exit_no_status
	fi
	if [[ $state == 0 && ! -s $run/console.log ]]; then
		vm_log "the console printed nothing (qemu failed to start the kernel?)"
	elif [[ $state == 0 ]]; then
		vm_log "last console lines ($run/console.log):"
		tail -n 40 "$run/console.log" | sed 's/^/  | /' >&2
	else
		# The test's output, and whatever the kernel said after it, is
		# on stdout already.
		vm_log "the console log is $run/console.log"
	fi
	return "$qrc"
}

# vm_test_timeout prints the -test.timeout argument, or "unset".
vm_test_timeout() {
	local a prev=""
	for a in "$@"; do
		case $a in
		-test.timeout=* | --test.timeout=*)
			echo "${a#*=}"
			return
			;;
		esac
		if [[ $prev == -test.timeout || $prev == --test.timeout ]]; then
			echo "$a"
			return
		fi
		prev=$a
	done
	echo unset
}

main "$@"
