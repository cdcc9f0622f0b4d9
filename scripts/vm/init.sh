#!/bin/sh
# init.sh is /init (PID 1) of the vigil test VM, run by busybox sh. prepare.sh
# copies it into the base initramfs; exec.sh appends an overlay with /vigil:
#
#   /vigil/config   shell variables for this script (VIGIL_VM_NONCE, ...)
#   /vigil/bin/     the test binary
#   /vigil/run      runs the test binary in its directory with its args and env
#
# It mounts the usual filesystems, loads IPVS, brings lo up, prints
# "VIGIL-BEGIN <nonce>", runs /vigil/run, prints
# "VIGIL-EXIT-CODE=<status> <nonce>" and powers off. exec.sh passes what is
# printed between the two markers to its stdout and exits with <status>.
# Lines printed before the first marker are the boot log; lines starting
# with "vigil-vm: warning:" are always shown.
PATH=/bin
export PATH

say() {
	echo "vigil-vm: $*"
}

mount -t devtmpfs devtmpfs /dev
# Without a /dev/console in the archive the kernel started us with no
# stdio; reopen it now that devtmpfs provides one.
exec </dev/console >/dev/console 2>&1

VIGIL_VM_NONCE=none
VIGIL_VM_DEBUG=0
VIGIL_VM_SHELL=0
VIGIL_VM_MODULES=
VIGIL_VM_WORKDIR=/
if [ -f /vigil/config ]; then
	# shellcheck source=/dev/null
	. /vigil/config
else
	say "warning: no /vigil/config (booted without an exec.sh overlay); starting a shell"
	VIGIL_VM_SHELL=1
fi
[ "$VIGIL_VM_DEBUG" = 1 ] && set -x

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# /tmp and /run stay on the root filesystem (tmpfs, being an initramfs):
# the overlay may have put the test's working directory under them.
chmod 1777 /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
# Keep kernel messages below KERN_EMERG off the console (exec.sh passes
# "quiet loglevel=0" too; debug runs want them).
[ "$VIGIL_VM_DEBUG" = 1 ] || dmesg -n 1
# The serial console must not turn \n into \r\n in the test's output.
stty -onlcr 2>/dev/null

hostname vigil-vm
ip link set lo up || say "warning: cannot bring lo up"

# shellcheck disable=SC2046,SC2086 # word splitting is wanted
if ! modprobe -a $(cat /etc/vigil-vm/preload) $VIGIL_VM_MODULES; then
	say "warning: modprobe failed for some of: $(tr '\n' ' ' </etc/vigil-vm/preload)$VIGIL_VM_MODULES"
fi
[ -e /proc/net/ip_vs ] || say "warning: /proc/net/ip_vs is missing after loading ip_vs"

read -r up _ </proc/uptime
say "booted $(cat /etc/vigil-vm/kernel) in ${up}s"

if [ "$VIGIL_VM_SHELL" = 1 ]; then
	set +x
	echo "VIGIL-BEGIN $VIGIL_VM_NONCE"
	say "shell mode: /vigil/run runs the test (see cat /vigil/run); exit or Ctrl-D powers off"
	cd "$VIGIL_VM_WORKDIR" 2>/dev/null || cd /
	setsid cttyhack sh -l
	rc=$?
else
	set +x
	echo "VIGIL-BEGIN $VIGIL_VM_NONCE"
	/vigil/run
	rc=$?
fi
echo "VIGIL-EXIT-CODE=$rc $VIGIL_VM_NONCE"

sync
poweroff -f
# poweroff needs ACPI; fall back on SysRq, then on the panic that PID 1
# exiting causes (panic=-1 reboots, and qemu runs with -no-reboot).
echo o >/proc/sysrq-trigger
sleep 5
exit "$rc"
