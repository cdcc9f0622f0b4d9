# shellcheck shell=bash
# lib.sh: helpers shared by vigil's install scripts. Source it after
# setting `prog` (the script's name for messages); it sets an EXIT trap that
# removes a policy-rc.d it installed.

policy_installed=0

die() {
	echo "${prog:?}: $*" >&2
	exit 1
}

cleanup() {
	if [[ $policy_installed == 1 ]]; then
		rm -f /usr/sbin/policy-rc.d
	fi
}
trap cleanup EXIT

# have_binary finds sbin tools even when PATH lacks the sbin directories.
have_binary() {
	PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v "$1" >/dev/null 2>&1
}

# missing_packages prints the packages of "$@" that are not fully installed.
missing_packages() {
	local pkg status
	for pkg in "$@"; do
		status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
		if [[ $status != "install ok installed" ]]; then
			echo "$pkg"
		fi
	done
}

# deny_service_starts installs a policy-rc.d that forbids invoke-rc.d from
# starting services during package installation, unless one is there already.
deny_service_starts() {
	if [[ -e /usr/sbin/policy-rc.d ]]; then
		return
	fi
	printf '#!/bin/sh\n# installed by vigil scripts/%s for the duration of an install\nexit 101\n' "$prog" >/usr/sbin/policy-rc.d
	chmod 0755 /usr/sbin/policy-rc.d
	policy_installed=1
}
