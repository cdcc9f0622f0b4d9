#!/usr/bin/env bash
# install-deps.sh installs the Debian packages vigil's tests, demo and
# benchmarks need. It is idempotent: when everything is present it only runs
# dpkg-query and a few --version checks, and `apt-get update` runs only when a
# package is actually missing.
#
# Usage: scripts/install-deps.sh [base|vm|all]   (default: all)
#
#   base  the network-namespace lab (internal/lab): iproute2, ping, nftables
#         (lab partitions), tcpdump, procps, psmisc, busybox-static, the
#         keepalived 2.2.7 reference implementation, and prometheus for
#         promtool.
#   vm    the VM tier for IPVS tests: qemu-system-x86.
#   all   both.
#
# Services are never started: package installs run under a policy-rc.d that
# denies every start, and keepalived's unit is disabled afterwards, so the
# only keepalived processes on the machine are the ones the lab runs inside
# its own network namespaces.
set -euo pipefail

prog=install-deps.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly expected_keepalived="2.2.7"

base_packages=(iproute2 iputils-ping nftables keepalived tcpdump prometheus prometheus-alertmanager procps psmisc busybox-static curl)
# Binaries that must be usable once base is installed (package -> binary is
# not 1:1, so check the binaries the lab actually executes).
base_binaries=(ip bridge ping nft keepalived tcpdump prometheus promtool prometheus-alertmanager amtool pkill killall busybox curl)

vm_packages=(qemu-system-x86 ipvsadm)
vm_binaries=(qemu-system-x86_64)

apt_updated=0

usage() {
	echo "usage: $0 [base|vm|all]" >&2
	exit 2
}

warn() {
	# Loud on purpose: a wrong keepalived version silently invalidates the
	# interop tests and the captured vectors.
	echo "install-deps: WARNING: $*" >&2
}

# apt_install installs the given packages, running apt-get update once per run.
apt_install() {
	deny_service_starts
	export DEBIAN_FRONTEND=noninteractive
	if [[ $apt_updated == 0 ]]; then
		apt-get update -qq
		apt_updated=1
	fi
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# systemd_running reports whether systemd is PID 1 (the documented check of
# sd_booted(3)); containers and CI sandboxes often have systemctl but no
# systemd.
systemd_running() {
	[[ -d /run/systemd/system ]]
}

# disable_service makes sure a package's unit neither runs now nor starts at
# boot. Without a running systemd, `systemctl disable` still removes the
# enablement symlinks offline; a missing systemctl or unit is not an error.
disable_service() {
	local unit=$1
	if ! have_binary systemctl; then
		return
	fi
	if systemd_running; then
		if systemctl is-enabled --quiet "$unit" 2>/dev/null || systemctl is-active --quiet "$unit" 2>/dev/null; then
			systemctl disable --now "$unit" >/dev/null 2>&1 || warn "could not disable $unit"
		fi
	else
		if systemctl is-enabled --quiet "$unit" 2>/dev/null; then
			systemctl disable "$unit" >/dev/null 2>&1 || warn "could not disable $unit"
		fi
	fi
}

# ensure installs the missing packages of a group and checks its binaries.
# Usage: ensure GROUP "pkg..." "bin..."; prints the packages it installed.
ensure() {
	local group=$1
	local -a pkgs bins missing
	read -r -a pkgs <<<"$2"
	read -r -a bins <<<"$3"
	mapfile -t missing < <(missing_packages "${pkgs[@]}")
	if ((${#missing[@]} > 0)); then
		echo "install-deps: $group: installing ${missing[*]}" >&2
		apt_install "${missing[@]}"
	fi
	local bin
	for bin in "${bins[@]}"; do
		have_binary "$bin" || die "$group: $bin not found after installing ${pkgs[*]}"
	done
	installed=("${missing[@]}")
}

check_keepalived_version() {
	local out version
	# No "| head": keepalived would get SIGPIPE, and pipefail would fail
	# the whole install.
	out=$(PATH="$PATH:/usr/sbin:/sbin" keepalived --version 2>&1 || true)
	out=${out%%$'\n'*}
	version=$(sed -n 's/^Keepalived v\([0-9][0-9.]*\).*/\1/p' <<<"$out")
	if [[ $version != "$expected_keepalived" ]]; then
		warn "******************************************************************"
		warn "keepalived is '${version:-unknown}' ($out), expected $expected_keepalived."
		warn "The interop tests and shared/vectors/vrrp were captured with"
		warn "keepalived $expected_keepalived (Debian 12); results may differ."
		warn "******************************************************************"
	fi
}

install_base() {
	local -a installed
	ensure base "${base_packages[*]}" "${base_binaries[*]}"
	# keepalived must never run outside the lab's namespaces.
	disable_service keepalived
	local pkg
	for pkg in "${installed[@]}"; do
		# A prometheus we installed only for promtool must not start at boot;
		# one that was already there is the operator's business.
		[[ $pkg == prometheus ]] && disable_service prometheus
		[[ $pkg == prometheus-alertmanager ]] && disable_service prometheus-alertmanager
	done
	check_keepalived_version
	echo "deps: base ok"
}

install_vm() {
	local -a installed
	ensure vm "${vm_packages[*]}" "${vm_binaries[*]}"
	echo "deps: vm ok"
}

main() {
	(($# <= 1)) || usage
	local group=${1:-all}
	case $group in
	base | vm | all) ;;
	-h | --help) usage ;;
	*) usage ;;
	esac
	[[ $(id -u) == 0 ]] || die "must run as root (apt-get and network namespaces need it): sudo $0 $group"
	case $group in
	base) install_base ;;
	vm) install_vm ;;
	all)
		install_base
		install_vm
		;;
	esac
}

main "$@"
