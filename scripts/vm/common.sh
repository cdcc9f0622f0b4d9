# shellcheck shell=bash
# common.sh is sourced by the scripts in scripts/vm: the cache layout and the
# helpers they share. See docs/vm.md.

# vm_dir is scripts/vm; vm_cache holds the downloaded kernel package and the
# built images. VIGIL_VM_CACHE moves it (for example to a directory a
# non-root user owns).
# shellcheck disable=SC2034 # used by the scripts that source this file
vm_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vm_cache=${VIGIL_VM_CACHE:-/var/cache/vigil-vm}

# vm_current is the symlink to the build exec.sh boots: a directory with
# vmlinuz, initramfs.cpio, release (the kernel release) and manifest.
vm_current=$vm_cache/current

vm_log() {
	echo "vm: $*" >&2
}

vm_die() {
	echo "vm: error: $*" >&2
	exit 1
}

# vm_have finds sbin tools even when PATH lacks the sbin directories.
vm_have() {
	PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v "$1" >/dev/null 2>&1
}

# vm_built reports whether a complete build is in place.
vm_built() {
	[[ -f $vm_current/vmlinuz && -f $vm_current/initramfs.cpio && -f $vm_current/release ]]
}

# vm_script_sums prints the checksums of the scripts a build depends on, in
# the form prepare.sh records them in the build's manifest.
vm_script_sums() {
	(cd "$vm_dir" && sha256sum prepare.sh init.sh common.sh)
}

# vm_fresh reports whether the current build was made from the scripts as
# they are now.
vm_fresh() {
	vm_built || return 1
	local line
	while IFS= read -r line; do
		grep -qxF -- "$line" "$vm_current/manifest" || return 1
	done < <(vm_script_sums)
}
