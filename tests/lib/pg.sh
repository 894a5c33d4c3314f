#!/bin/bash
# pg.sh - a private, throw-away PostgreSQL cluster for the tests.
#   pg.sh start DIR [PORT]   create (if absent) and start a cluster in DIR; print its
#                            libpq URI, e.g. postgresql://postgres@%2Fx%2Fsock:5544/automl
#   pg.sh stop DIR           stop it (the data stays in DIR)
#   pg.sh url DIR            print the URI again
# Never touches the machine's own PostgreSQL service: the cluster listens on a
# unix socket inside DIR and on 127.0.0.1:PORT only. Trust authentication:
# for tests only. Works as root (the server then runs as user postgres).
set -euo pipefail

die() { echo "pg.sh: $*" >&2; exit 1; }

pg_bindir() {
	local d best="" bestv=0 v
	if [ -n "${PG_BINDIR:-}" ]; then echo "$PG_BINDIR"; return; fi
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] || continue
		v=$(basename "$(dirname "$d")")
		v=${v%%.*}
		case $v in (*[!0-9]*|'') continue ;; esac
		if [ "$v" -gt "$bestv" ]; then bestv=$v; best=$d; fi
	done
	if [ -z "$best" ] && command -v initdb >/dev/null 2>&1; then
		best=$(dirname "$(command -v initdb)")
	fi
	[ -n "$best" ] || die "no PostgreSQL server binaries (initdb) found; install postgresql"
	echo "$best"
}

# Run a command as the cluster's owner: postgres when we are root, else ourselves.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	local p
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
		return
	fi
	for p in $(seq 25432 25532); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	die "no free port found"
}

# Percent-encode everything but [A-Za-z0-9._~-] (byte by byte).
urlencode() {
	local LC_ALL=C s=$1 out="" c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
			([A-Za-z0-9._~-]) out+=$c ;;
			(*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

# A libpq URI over the unix socket. No spaces or shell metacharacters, so
# both conn=$(pg.sh start D) and eval conn=$(pg.sh start D) work.
conninfo() {
	local dir=$1 port
	port=$(cat "$dir/port")
	echo "postgresql://postgres@$(urlencode "$dir/sock"):$port/automl"
}

is_running() {
	local dir=$1 bindir=$2
	[ -f "$dir/data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

# Make every parent of DIR traversable by the postgres user (root only).
open_parents() {
	local d=$1
	while [ "$d" != "/" ] && [ -n "$d" ]; do
		d=$(dirname "$d")
		[ -d "$d" ] || continue
		if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
			chmod o+x "$d"
		fi
	done
}

cmd_start() {
	local dir=$1 port=${2:-} bindir i
	bindir=$(pg_bindir)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd -P)
	# DIR/sock/.s.PGSQL.PORT must fit a unix socket path (107 bytes).
	[ ${#dir} -le 85 ] || die "DIR path too long for a unix socket: $dir"
	case $dir in (*[[:space:]]*) die "DIR must not contain white space: $dir" ;; esac
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || die "user postgres does not exist (install postgresql)"
		open_parents "$dir"
		chown postgres: "$dir"
	fi
	if is_running "$dir" "$bindir"; then
		conninfo "$dir"
		return 0
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		rm -rf "$dir/data"
		as_owner "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
			--locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
			|| as_owner "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
				--locale=C >"$dir/initdb.log" 2>&1 \
			|| { cat "$dir/initdb.log" >&2; die "initdb failed"; }
	fi
	as_owner mkdir -p "$dir/sock"
	if [ -z "$port" ]; then
		if [ -f "$dir/port" ]; then port=$(cat "$dir/port"); else port=$(free_port); fi
	fi
	case $port in (*[!0-9]*|'') die "bad port '$port'" ;; esac
	echo "$port" | as_owner tee "$dir/port" >/dev/null
	as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir/sock -c fsync=off -c full_page_writes=off -c synchronous_commit=off" \
		start >/dev/null 2>&1 || { tail -n 30 "$dir/server.log" >&2 || true; die "pg_ctl start failed"; }
	for i in $(seq 1 60); do
		if as_owner "$bindir/pg_isready" -q -h "$dir/sock" -p "$port" -U postgres; then break; fi
		sleep 0.5
	done
	as_owner "$bindir/pg_isready" -q -h "$dir/sock" -p "$port" -U postgres || die "server not ready"
	if ! as_owner "$bindir/psql" -h "$dir/sock" -p "$port" -U postgres -d postgres -XtAq \
			-c "SELECT 1 FROM pg_database WHERE datname = 'automl'" | grep -q 1; then
		as_owner "$bindir/createdb" -h "$dir/sock" -p "$port" -U postgres -E UTF8 -T template0 automl \
			|| die "createdb failed"
	fi
	conninfo "$dir"
}

cmd_stop() {
	local dir=$1 bindir
	bindir=$(pg_bindir)
	[ -d "$dir" ] || return 0
	dir=$(cd "$dir" && pwd -P)
	if is_running "$dir" "$bindir"; then
		as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	fi
}

cmd_url() {
	local dir=$1
	[ -f "$dir/port" ] || die "no cluster in $dir"
	dir=$(cd "$dir" && pwd -P)
	conninfo "$dir"
}

[ $# -ge 2 ] || die "usage: pg.sh start DIR [PORT] | stop DIR | url DIR"
case $1 in
	start) cmd_start "$2" "${3:-}" ;;
	stop) cmd_stop "$2" ;;
	url) cmd_url "$2" ;;
	*) die "unknown command '$1'" ;;
esac
