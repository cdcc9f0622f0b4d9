#!/usr/bin/env bash
# prepare.sh builds what scripts/vm/exec.sh boots: Debian's cloud kernel
# (linux-image-cloud-amd64, which builds IPVS as modules) and a busybox
# initramfs carrying the IPVS modules, the network modules the data-path tests
# need, and /init (scripts/vm/init.sh). See docs/vm.md.
#
# Usage: scripts/vm/prepare.sh [--force]
#
# It is idempotent. Everything lives under ${VIGIL_VM_CACHE:-/var/cache/vigil-vm}:
#
#   debs/<package>_<version>_amd64.deb   the kernel image package
#   kernels/<package>_<version>/         its extracted tree, depmod'ed
#   builds/<hash>/                       vmlinuz, initramfs.cpio, release,
#                                        modules.txt, manifest
#   current -> builds/<hash>             what exec.sh boots
#
# <hash> covers every input (kernel package version, this script, init.sh,
# the busybox version, the module lists), so a second run that finds the same
# inputs only checks them and exits. Missing host tools (qemu-system-x86,
# busybox-static, cpio) are installed with apt-get.
#
# Environment:
#   VIGIL_VM_CACHE          cache directory (default /var/cache/vigil-vm)
#   VIGIL_VM_KERNEL_PKG     kernel image package to use instead of the one
#                           linux-image-cloud-amd64 depends on
#   VIGIL_VM_EXTRA_MODULES  more module names to put in the initramfs
#                           (dependencies are added); they are not loaded at
#                           boot, modprobe them (or let the kernel autoload)
set -euo pipefail

# shellcheck source=scripts/vm/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

readonly meta_pkg=linux-image-cloud-amd64

# Modules put in the initramfs besides everything in net/netfilter/ipvs:
# conntrack (IPVS depends on it), the links data-path tests build (veth,
# bridge, dummy, macvlan, ipvlan, tun, 8021q), the tunnels IPVS tunnel mode
# encapsulates with (ipip, GRE, GUE via fou, ip6_tunnel), and nf_tables for
# firewall-mark services.
readonly base_modules=(
	nf_conntrack nf_defrag_ipv4 nf_defrag_ipv6 libcrc32c
	veth bridge dummy macvlan ipvlan tun 8021q
	ipip ip_gre fou ip6_tunnel
	nf_tables nft_ct nft_chain_nat nft_nat
)

force=0
case ${1:-} in
"") ;;
--force) force=1 ;;
*)
	echo "usage: $0 [--force]" >&2
	exit 2
	;;
esac

apt_updated=0

apt_update_once() {
	if [[ $apt_updated == 0 ]]; then
		vm_log "apt-get update"
		apt-get update -qq >&2 || return 1
		apt_updated=1
	fi
}

# ensure_host_tools installs the Debian packages prepare.sh and exec.sh use.
ensure_host_tools() {
	local -a missing=()
	local pkg status
	for pkg in qemu-system-x86 busybox-static cpio; do
		status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
		[[ $status == "install ok installed" ]] || missing+=("$pkg")
	done
	if ((${#missing[@]} > 0)); then
		[[ $(id -u) == 0 ]] || vm_die "missing ${missing[*]}; run as root so apt-get can install them: sudo $0"
		vm_log "installing ${missing[*]}"
		apt_update_once || vm_die "apt-get update failed"
		local out
		if ! out=$(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" 2>&1); then
			printf '%s\n' "$out" >&2
			vm_die "apt-get install ${missing[*]} failed"
		fi
	fi
	local bin
	for bin in qemu-system-x86_64 busybox cpio dpkg-deb apt-get flock sha256sum; do
		vm_have "$bin" || vm_die "$bin not found"
	done
}

# kernel_pkg prints the versioned kernel image package (the first
# linux-image-* dependency of linux-image-cloud-amd64), or nothing.
kernel_pkg() {
	if [[ -n ${VIGIL_VM_KERNEL_PKG:-} ]]; then
		echo "$VIGIL_VM_KERNEL_PKG"
		return
	fi
	apt-cache depends "$meta_pkg" 2>/dev/null |
		sed -n '0,/^ *Depends: linux-image-/s/^ *Depends: \(linux-image-[^ <>]*\)$/\1/p'
}

# candidate_version prints the version apt-get download would fetch.
candidate_version() {
	apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '^(none)$' || true
}

# lists_fingerprint prints what apt-cache's answer depends on: the package
# lists, apt's preferences and VIGIL_VM_KERNEL_PKG.
lists_fingerprint() {
	{
		echo "${VIGIL_VM_KERNEL_PKG:-}"
		find /var/lib/apt/lists /etc/apt/preferences /etc/apt/preferences.d \
			-maxdepth 1 -type f -printf '%p %s %T@\n' 2>/dev/null | LC_ALL=C sort
	} | sha256sum | cut -d' ' -f1
}

# resolve sets pkg and version. apt-cache takes about a second here, so its
# answer is remembered in resolved.txt until the package lists change.
resolve() {
	local memo=$vm_cache/resolved.txt fp
	fp=$(lists_fingerprint)
	if [[ -f $memo ]]; then
		local mfp mpkg mversion
		{ read -r mfp && read -r mpkg && read -r mversion; } <"$memo" || true
		if [[ $mfp == "$fp" && -n $mpkg && -n $mversion ]]; then
			pkg=$mpkg
			version=$mversion
			return 0
		fi
	fi
	resolve_apt || return 1
	printf '%s\n' "$(lists_fingerprint)" "$pkg" "$version" >"$memo"
}

# resolve_apt asks apt-cache, running apt-get update when the package lists
# do not know the kernel yet. On failure it sets resolve_err and returns 1.
resolve_apt() {
	pkg=$(kernel_pkg)
	version=""
	[[ -z $pkg ]] || version=$(candidate_version "$pkg")
	[[ -z $version ]] || return 0
	if ! apt_update_once; then
		resolve_err="apt-get update failed"
		return 1
	fi
	pkg=$(kernel_pkg)
	if [[ -z $pkg ]]; then
		resolve_err="apt-cache does not know $meta_pkg (is this Debian amd64 with main enabled?)"
		return 1
	fi
	version=$(candidate_version "$pkg")
	if [[ -z $version ]]; then
		resolve_err="apt-cache has no candidate version of $pkg"
		return 1
	fi
}

# download fetches the kernel package into debs/ unless it is there.
download() {
	deb=$vm_cache/debs/${pkg}_${version//:/%3a}_amd64.deb
	[[ -s $deb ]] && return
	mkdir -p "$vm_cache/debs"
	vm_log "downloading $pkg $version"
	local tmp
	tmp=$(mktemp -d "$vm_cache/debs/.download.XXXXXX")
	# The sandbox user cannot write to a root-owned cache; root downloads
	# itself, as apt would after warning.
	if ! (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg=$version" >&2); then
		apt_update_once || vm_die "apt-get update failed"
		(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg=$version" >&2) ||
			vm_die "apt-get download $pkg=$version failed"
	fi
	local got=("$tmp"/*.deb)
	[[ -s ${got[0]} ]] || vm_die "apt-get download $pkg=$version produced no .deb"
	mv "${got[0]}" "$deb"
	rm -rf "$tmp"
}

# extract unpacks the package into kernels/ and runs depmod over the whole
# module tree, setting kroot (the tree), kver (the kernel release) and
# vmlinuz.
extract() {
	local key
	key=$(basename "$deb" .deb)
	kroot=$vm_cache/kernels/$key
	if [[ ! -f $kroot/.done ]]; then
		vm_log "extracting $(basename "$deb")"
		rm -rf "$kroot" "$kroot.tmp"
		mkdir -p "$kroot.tmp"
		dpkg-deb -x "$deb" "$kroot.tmp"
		# Merged-/usr packages ship usr/lib/modules; busybox depmod -b
		# wants BASE/lib/modules.
		if [[ ! -d $kroot.tmp/lib/modules && -d $kroot.tmp/usr/lib/modules ]]; then
			ln -s usr/lib "$kroot.tmp/lib"
		fi
		local dirs=("$kroot.tmp"/lib/modules/*/)
		[[ -d ${dirs[0]} ]] || vm_die "$(basename "$deb") has no lib/modules"
		busybox depmod -b "$kroot.tmp" "$(basename "${dirs[0]}")"
		touch "$kroot.tmp/.done"
		mv "$kroot.tmp" "$kroot"
	fi
	local dirs=("$kroot"/lib/modules/*/)
	kver=$(basename "${dirs[0]}")
	vmlinuz=$kroot/boot/vmlinuz-$kver
	[[ -f $vmlinuz ]] || vm_die "$(basename "$deb") has no boot/vmlinuz-$kver"
}

# module_closure prints, for the module names given after the modules.dep
# path, the paths (relative to the module directory) of those modules and of
# everything they depend on. Names not found are reported on stderr with the
# prefix "missing ".
module_closure() {
	local dep=$1
	shift
	busybox awk -v want="$*" '
		function norm(p,   n) {
			n = p; sub(/.*\//, "", n); sub(/\.ko(\.(xz|gz|zst))?$/, "", n)
			gsub(/-/, "_", n); return n
		}
		{
			path = $1; sub(/:$/, "", path)
			byname[norm(path)] = path
			deps[path] = ""
			for (i = 2; i <= NF; i++) deps[path] = deps[path] " " $i
		}
		function add(path,   n, i, d) {
			if (path in seen) return
			seen[path] = 1
			print path
			n = split(deps[path], d, " ")
			for (i = 1; i <= n; i++) add(d[i])
		}
		END {
			n = split(want, w, " ")
			for (i = 1; i <= n; i++) {
				m = w[i]; gsub(/-/, "_", m)
				if (m in byname) add(byname[m]); else print "missing " w[i] > "/dev/stderr"
			}
		}' "$dep"
}

# stage_modules copies the module closure into the initramfs tree,
# decompressing modules (busybox modprobe need not understand xz or zstd),
# and writes the boot preload list and modules.txt.
stage_modules() {
	local stage=$1 out=$2
	local src=$kroot/lib/modules/$kver
	local dst=$stage/lib/modules/$kver
	mkdir -p "$dst"

	local -a ipvs=() preload=()
	local f name
	for f in "$src"/kernel/net/netfilter/ipvs/*.ko*; do
		[[ -e $f ]] || continue
		name=$(basename "$f")
		name=${name%%.ko*}
		ipvs+=("$name")
		# Preload the core and the schedulers; the FTP and SIP helpers
		# pull in NAT and are loaded on demand.
		case $name in
		ip_vs_ftp | ip_vs_pe_*) ;;
		*) preload+=("$name") ;;
		esac
	done
	((${#ipvs[@]} > 0)) || vm_die "$kver has no IPVS modules (net/netfilter/ipvs)"

	local -a extra=()
	read -r -a extra <<<"${VIGIL_VM_EXTRA_MODULES:-}"
	local missing_log=$out/missing.txt
	local -a paths
	mapfile -t paths < <(module_closure "$src/modules.dep" "${ipvs[@]}" "${base_modules[@]}" "${extra[@]}" 2>"$missing_log")
	if [[ -s $missing_log ]]; then
		vm_log "not in $kver, left out: $(sed 's/^missing //' "$missing_log" | tr '\n' ' ')"
	fi
	rm -f "$missing_log"

	local p
	for p in "${paths[@]}"; do
		mkdir -p "$dst/$(dirname "$p")"
		case $p in
		*.ko) cp "$src/$p" "$dst/$p" ;;
		*.ko.xz) busybox xz -dc "$src/$p" >"$dst/${p%.xz}" ;;
		*.ko.gz) busybox gunzip -c "$src/$p" >"$dst/${p%.gz}" ;;
		*.ko.zst)
			vm_have zstd || vm_die "$kver has zstd-compressed modules; apt-get install zstd"
			zstd -q -dc "$src/$p" >"$dst/${p%.zst}"
			;;
		esac
	done
	local meta
	for meta in modules.builtin modules.builtin.modinfo modules.order; do
		[[ -f $src/$meta ]] && cp "$src/$meta" "$dst/"
	done
	busybox depmod -b "$stage" "$kver"

	printf '%s\n' "${preload[@]}" >"$stage/etc/vigil-vm/preload"
	printf '%s\n' "${paths[@]}" | sed 's/\.\(xz\|gz\|zst\)$//' | sort >"$out/modules.txt"
}

# stage_root lays out the initramfs: busybox and its applet links, /init,
# a few /etc files Go's net and os/user packages read, and the marker
# /etc/vigil-vm/kernel that vmtest.InVM looks for.
stage_root() {
	local stage=$1
	mkdir -p "$stage"/{bin,dev,etc/vigil-vm,lib,proc,root,run,sys,tmp,usr,vigil}
	chmod 1777 "$stage/tmp"
	ln -s bin "$stage/sbin"
	ln -s ../bin "$stage/usr/bin"
	ln -s ../bin "$stage/usr/sbin"
	mkdir -p "$stage/var"
	ln -s ../run "$stage/var/run"
	ln -s ../tmp "$stage/var/tmp"

	# The package's binary: a busybox elsewhere in PATH may be dynamic.
	local bb
	bb=$(dpkg-query -L busybox-static | grep -m 1 '/bin/busybox$') || vm_die "busybox-static has no bin/busybox"
	cp "$bb" "$stage/bin/busybox"
	local applet
	for applet in $(busybox --list); do
		[[ $applet == busybox ]] || ln -s busybox "$stage/bin/$applet"
	done

	install -m 0755 "$vm_dir/init.sh" "$stage/init"

	# The kernel opens /dev/console before running /init; devtmpfs is
	# mounted over /dev by init.sh. Without root there is no mknod, and
	# init.sh reopens the console after mounting devtmpfs.
	if [[ $(id -u) == 0 ]]; then
		mknod -m 0600 "$stage/dev/console" c 5 1
		mknod -m 0666 "$stage/dev/null" c 1 3
	fi

	cat >"$stage/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		nobody:x:65534:65534:nobody:/nonexistent:/bin/false
	EOF
	cat >"$stage/etc/group" <<-'EOF'
		root:x:0:
		nogroup:x:65534:
	EOF
	cat >"$stage/etc/hosts" <<-'EOF'
		127.0.0.1	localhost vigil-vm
		::1	localhost ip6-localhost ip6-loopback
	EOF
	echo "hosts: files" >"$stage/etc/nsswitch.conf"
	local f
	for f in /etc/services /etc/protocols; do
		[[ -f $f ]] && cp "$f" "$stage$f"
	done
	printf '%s %s %s\n' "$kver" "$pkg" "$version" >"$stage/etc/vigil-vm/kernel"
}

# build assembles a build directory and points current at it.
build() {
	local hash=$1 manifest=$2
	local builds=$vm_cache/builds
	local out=$builds/$hash
	local tmp
	mkdir -p "$builds"
	tmp=$(mktemp -d "$builds/.build.XXXXXX")
	chmod 0755 "$tmp"
	local stage=$tmp/root
	mkdir -p "$stage"

	stage_root "$stage"
	stage_modules "$stage" "$tmp"
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$tmp/initramfs.cpio"
	rm -rf "$stage"

	cp "$vmlinuz" "$tmp/vmlinuz"
	echo "$kver" >"$tmp/release"
	printf '%s\n' "$manifest" >"$tmp/manifest"

	local previous
	previous=$(basename "$(readlink "$vm_current" 2>/dev/null || echo none)")
	rm -rf "$out"
	mv "$tmp" "$out"
	ln -sfn "builds/$hash" "$vm_cache/.current.tmp"
	mv -T "$vm_cache/.current.tmp" "$vm_current"

	# Keep the current build and the one before it (an exec.sh that is
	# starting may still be reading it), and only the current kernel.
	local d
	for d in "$builds"/*/; do
		case $(basename "$d") in
		"$hash" | "$previous") ;;
		*) rm -rf "$d" ;;
		esac
	done
	for d in "$vm_cache"/kernels/*/; do
		[[ ${d%/} == "$kroot" ]] || rm -rf "$d"
	done
	for d in "$vm_cache"/debs/*.deb; do
		[[ $d == "$deb" ]] || rm -f "$d"
	done
	vm_log "built $(du -h "$out/initramfs.cpio" | cut -f1) initramfs for $kver ($(wc -l <"$out/modules.txt") modules) in $out"
}

main() {
	mkdir -p "$vm_cache" 2>/dev/null || vm_die "cannot create $vm_cache; run as root or set VIGIL_VM_CACHE"
	exec 9>"$vm_cache/.lock"
	flock 9

	ensure_host_tools
	local pkg version deb kroot kver vmlinuz resolve_err=""
	if ! resolve; then
		vm_built || vm_die "$resolve_err"
		vm_log "warning: $resolve_err; keeping the existing build of $(cat "$vm_current/release")"
		return
	fi
	download
	extract

	local manifest hash
	manifest=$(
		echo "kernel $pkg $version $kver"
		echo "busybox $(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true)"
		echo "modules ${base_modules[*]} ${VIGIL_VM_EXTRA_MODULES:-}"
		vm_script_sums
	)
	hash=$(sha256sum <<<"$manifest" | cut -c1-16)
	if [[ $force == 0 ]] && vm_built && [[ $(readlink "$vm_current") == "builds/$hash" ]]; then
		vm_log "up to date: $kver ($pkg $version)"
		return
	fi
	build "$hash" "$manifest"
}

main
