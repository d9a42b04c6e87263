#!/bin/sh
# Local TimescaleDB clusters for checking the platform on its production database, one per
# license (docs/timescaledb.md): `timescale` on port 55433, `apache` on 55434. Needs a
# PostgreSQL server with TimescaleDB installed into it (PG_BIN, default Debian's 15).
#
#   deploy/timescaledb-dev.sh init|start|stop|status|urls [timescale|apache]
#
# Data directories live under TSDB_CLUSTERS_DIR (default .dev-data/timescaledb). PostgreSQL
# refuses to run as root: as root, the servers run as the `postgres` OS user (PG_OS_USER).
# Authentication is `trust` on 127.0.0.1 only: these are throwaway test servers.
set -eu

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
TSDB_CLUSTERS_DIR=${TSDB_CLUSTERS_DIR:-.dev-data/timescaledb}
PG_OS_USER=${PG_OS_USER:-postgres}

command=${1:-}
licenses=${2:-"timescale apache"}

port_of() {
	case "$1" in
	timescale) echo 55433 ;;
	apache) echo 55434 ;;
	*)
		echo "unknown license '$1': use timescale or apache" >&2
		exit 2
		;;
	esac
}

as_server_user() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$PG_OS_USER" -- "$@"
	else
		"$@"
	fi
}

init() {
	license=$1
	dir="$TSDB_CLUSTERS_DIR/$license"
	if [ -f "$dir/PG_VERSION" ]; then
		echo "$dir exists; keeping it"
		return
	fi
	mkdir -p "$TSDB_CLUSTERS_DIR"
	[ "$(id -u)" = 0 ] && chown "$PG_OS_USER" "$TSDB_CLUSTERS_DIR"
	as_server_user "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
	cat >>"$dir/postgresql.conf" <<EOF
# analytics-platform TimescaleDB check (docs/timescaledb.md)
port = $(port_of "$license")
listen_addresses = '127.0.0.1'
unix_socket_directories = '$(cd "$dir" && pwd)'
shared_preload_libraries = 'timescaledb'
timescaledb.license = '$license'
timescaledb.telemetry_level = off
max_connections = 200
EOF
	echo "initialized $dir (license $license, port $(port_of "$license"))"
}

for license in $licenses; do
	dir="$TSDB_CLUSTERS_DIR/$license"
	case "$command" in
	init) init "$license" ;;
	start) as_server_user "$PG_BIN/pg_ctl" -D "$dir" -l "$dir.log" -w start ;;
	stop) as_server_user "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop ;;
	status) as_server_user "$PG_BIN/pg_ctl" -D "$dir" status || true ;;
	urls) echo "$license: DATABASE_URL=postgresql://postgres@127.0.0.1:$(port_of "$license")/postgres" ;;
	*)
		echo "usage: $0 init|start|stop|status|urls [timescale|apache]" >&2
		exit 2
		;;
	esac
done
