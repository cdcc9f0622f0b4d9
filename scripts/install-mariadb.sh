#!/usr/bin/env bash
# install-mariadb.sh installs the Debian MariaDB server that check/'s MySQL
# probe tests (and the check/internal/mariadbtest fixture) run against.
#
# Usage: scripts/install-mariadb.sh
#
# It is idempotent: when mariadbd and mariadb-install-db are already present it
# only runs dpkg-query, and `apt-get update` runs only when something is
# missing. The packaged service is never left running: the install happens
# under a policy-rc.d that denies every service start, and afterwards the
# mariadb unit is stopped and disabled. The tests start their own mariadbd
# processes on private datadirs and loopback ports; the system instance would
# only get in the way (port 3306, /run/mysqld).
set -euo pipefail

prog=install-mariadb.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly packages=(mariadb-server mariadb-client)
readonly binaries=(mariadbd mariadb-install-db mariadb)


# stop_system_service makes sure the packaged mariadb neither runs now nor
# starts at boot, with or without systemd as PID 1.
stop_system_service() {
	local unit
	for unit in mariadb mysql; do
		if have_binary systemctl; then
			if [[ -d /run/systemd/system ]]; then
				systemctl disable --now "$unit" >/dev/null 2>&1 || true
			else
				systemctl disable "$unit" >/dev/null 2>&1 || true
			fi
		fi
	done
	if [[ -x /etc/init.d/mariadb ]]; then
		/etc/init.d/mariadb stop >/dev/null 2>&1 || true
	fi
	if have_binary update-rc.d; then
		update-rc.d mariadb disable >/dev/null 2>&1 || true
	fi
}

install_mariadb() {
	local -a missing
	mapfile -t missing < <(missing_packages "${packages[@]}")
	if ((${#missing[@]} > 0)); then
		echo "install-mariadb: installing ${missing[*]}" >&2
		deny_service_starts
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
		stop_system_service
	fi
	local bin
	for bin in "${binaries[@]}"; do
		have_binary "$bin" || die "$bin not found after installing ${packages[*]}"
	done
	echo "deps: mariadb ok"
}

main() {
	(($# == 0)) || die "usage: $0"
	[[ $(id -u) == 0 ]] || die "must run as root (apt-get): sudo $0"
	install_mariadb
}

main "$@"
