#!/usr/bin/env bash
# run.sh - the benchmark suite: builds automl-api if needed (and the previous
# trigger's commit, for comparison), starts a private PostgreSQL, lighttpd
# (mod_fastcgi), Apache (plain CGI), nginx with canned answers as the Airflow
# stand-in and the dispatchers on loopback, measures side by side with wrk and
# pgbench and writes bench/results.md.
#
# Usage: bench/run.sh [BUILD_DIR]      (default bench/.build; built there if needed)
# Environment: BENCH_ROUNDS (5), BENCH_SECONDS per run (2), BENCH_WARMUP (1),
#   BENCH_JOBS in the list table (10000), BENCH_FCGI_PROCS lighttpd's max-procs (2),
#   BENCH_POOL ready jobs in the trigger pool (20000 per BENCH_SECONDS + 10000), BENCH_CONC high concurrency
#   of the trigger/ceiling and create-with-auto-trigger groups (32),
#   BENCH_AUTO_SECONDS (12) and BENCH_AUTO_ROUNDS (3) of the create-with-auto-trigger
#   group, BENCH_PARSE_DELAY_S (10), BENCH_WAL_TRIGGERS per WAL measurement (1000),
#   BENCH_WAL_REPS (2), BENCH_OLD_COMMIT the previous trigger (3d2100f; "none" skips
#   it), BENCH_CALLGRIND=0 skips the callgrind part, BENCH_RESULTS output file
#   (bench/results.md), BENCH_KEEP=1 keeps the temp dir.
# Runs as root (the web servers drop to www-data). Everything it starts is
# stopped on exit. Whole run: about 7 minutes (plus the first builds).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$here/.." && pwd)
BUILD=${1:-$here/.build}
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-2}
WARMUP=${BENCH_WARMUP:-1}
NJOBS=${BENCH_JOBS:-10000}
PROCS=${BENCH_FCGI_PROCS:-2}
RESULTS=${BENCH_RESULTS:-$here/results.md}
POOL=${BENCH_POOL:-$((20000 * ${BENCH_SECONDS:-2} + 10000))}
CONC=${BENCH_CONC:-32}
AUTO_SECS=${BENCH_AUTO_SECONDS:-12}
AUTO_ROUNDS=${BENCH_AUTO_ROUNDS:-3}
PARSE_DELAY=${BENCH_PARSE_DELAY_S:-10}
WAL_N=${BENCH_WAL_TRIGGERS:-1000}
WAL_REPS=${BENCH_WAL_REPS:-2}
OLD_COMMIT=${BENCH_OLD_COMMIT:-3d2100f}
CALLGRIND=${BENCH_CALLGRIND:-1}
RUN_USER=www-data
APACHE_MODDIR=${APACHE_MODDIR:-/usr/lib/apache2/modules}
COMMAND="bench/run.sh${1:+ $1}"
for v in BENCH_ROUNDS BENCH_SECONDS BENCH_WARMUP BENCH_JOBS BENCH_FCGI_PROCS BENCH_POOL BENCH_CONC \
	BENCH_AUTO_SECONDS BENCH_AUTO_ROUNDS BENCH_PARSE_DELAY_S BENCH_WAL_TRIGGERS BENCH_WAL_REPS \
	BENCH_OLD_COMMIT BENCH_CALLGRIND; do
	[ -n "${!v:-}" ] && COMMAND="$v=${!v} $COMMAND"
done

log() { echo "bench: [${SECONDS}s] $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (the web servers drop to $RUN_USER)"
case $NJOBS in (*[!0-9]*|'') die "BENCH_JOBS must be a number" ;; esac
[ "$NJOBS" -ge 200 ] && [ $((NJOBS % 50)) -eq 0 ] || die "BENCH_JOBS must be a multiple of 50, at least 200"
for v in POOL CONC AUTO_SECS AUTO_ROUNDS PARSE_DELAY WAL_N WAL_REPS; do
	case ${!v} in (*[!0-9]*|'') die "$v must be a number" ;; esac
done
[ "$POOL" -ge 1000 ] && [ "$POOL" -le 999999 ] || die "BENCH_POOL must be 1000..999999"
[ "$WAL_N" -ge "$CONC" ] && [ "$WAL_N" -lt $((POOL - CONC)) ] || die "BENCH_WAL_TRIGGERS must be in $CONC..BENCH_POOL"

# ---- tools: install the Debian packages that are missing (idempotent) --------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v valgrind >/dev/null || need+=(valgrind)
command -v callgrind_annotate >/dev/null || need+=(valgrind)
command -v lighttpd >/dev/null || [ -x /usr/sbin/lighttpd ] || need+=(lighttpd)
[ -x /usr/sbin/apache2 ] || need+=(apache2)
[ -x /usr/sbin/nginx ] || need+=(nginx)
command -v psql >/dev/null || need+=(postgresql-client)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# keep the packages' Debian services (nginx, lighttpd, apache2, postgresql) from
	# starting: everything here runs as private instances
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
	fi
	ok=1
	apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || {
		apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null
	} || ok=0
	[ -z "$policy" ] || rm -f "$policy"
	[ "$ok" = 1 ] || die "apt-get install ${need[*]} failed"
fi
LIGHTTPD=$(command -v lighttpd || echo /usr/sbin/lighttpd)
APACHE=/usr/sbin/apache2
NGINX=/usr/sbin/nginx
# pgbench and pg_waldump of the server version tests/lib/pg.sh runs (the newest)
PG_BIN=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
PGBENCH=$PG_BIN/pgbench
PG_WALDUMP=$PG_BIN/pg_waldump
[ -x "$PGBENCH" ] && [ -x "$PG_WALDUMP" ] || die "pgbench or pg_waldump missing in $PG_BIN"
for m in mpm_event authz_core alias env cgid; do
	[ -f "$APACHE_MODDIR/mod_$m.so" ] || die "Apache module mod_$m missing in $APACHE_MODDIR"
done
id "$RUN_USER" >/dev/null 2>&1 || die "user $RUN_USER does not exist"

# ---- build (out of tree; make does nothing when it is up to date) ------------
if [ ! -x "$SRC/configure" ]; then
	log "generating configure (autoreconf -fi)"
	(cd "$SRC" && autoreconf -fi >/dev/null 2>&1) || die "autoreconf failed (scripts/install-deps)"
fi
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
if [ ! -f "$BUILD/Makefile" ]; then
	log "configuring in $BUILD"
	(cd "$BUILD" && "$SRC/configure" -q) || die "configure failed (scripts/install-deps installs the build dependencies)"
fi
make -C "$BUILD" -s -j"$(nproc)" automl-api automl-ctl >"$BUILD/bench-make.log" 2>&1 \
	|| { tail -n 30 "$BUILD/bench-make.log" >&2; die "build failed"; }
san=$(sed -n 's/^SAN_CFLAGS = *//p' "$BUILD/Makefile")
[ -z "$san" ] || die "$BUILD is a sanitizer build ($san): benchmark a plain build"
CFLAGS_USED=$(sed -n 's/^CFLAGS = *//p' "$BUILD/Makefile")

# ---- the previous trigger (synchronous Airflow calls under a row lock), for the
# side-by-side trigger and WAL comparison: its commit's tree from `git archive`
# (the repository is not touched), built once into BUILD/old-COMMIT with the
# same flags.
OLD=""
if [ "$OLD_COMMIT" != none ]; then
	OLD_REV=$(git -C "$SRC" rev-parse --short "$OLD_COMMIT^{commit}" 2>/dev/null) \
		|| die "BENCH_OLD_COMMIT=$OLD_COMMIT is not a commit of $SRC (BENCH_OLD_COMMIT=none skips it)"
	OLD=$BUILD/old-$OLD_REV
	if [ ! -x "$OLD/build/automl-api" ] || [ ! -x "$OLD/build/automl-ctl" ]; then
		log "building the trigger of commit $OLD_REV in $OLD"
		rm -rf "$OLD"
		mkdir -p "$OLD/src" "$OLD/build"
		git -C "$SRC" archive "$OLD_REV" | tar -x -C "$OLD/src" || die "git archive $OLD_REV failed"
		(cd "$OLD/src" && autoreconf -fi >/dev/null 2>&1) || die "autoreconf of $OLD_REV failed"
		(cd "$OLD/build" && "$OLD/src/configure" -q CFLAGS="$CFLAGS_USED") || die "configure of $OLD_REV failed"
		make -C "$OLD/build" -s -j"$(nproc)" automl-api automl-ctl >"$OLD/make.log" 2>&1 \
			|| { tail -n 30 "$OLD/make.log" >&2; die "build of $OLD_REV failed"; }
	fi
fi

# ---- teardown --------------------------------------------------------------
TMP=""
pids=()
apache_conf=""
cleanup() {
	local rc=$? p
	set +e
	if [ -n "$apache_conf" ] && [ -f "$TMP/apache/apache.pid" ]; then
		p=$(cat "$TMP/apache/apache.pid")
		"$APACHE" -f "$apache_conf" -k stop >/dev/null 2>&1
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	fi
	for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$TMP" ]; then
		bash "$SRC/tests/lib/pg.sh" stop "$TMP/pg" >/dev/null 2>&1
		if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
			log "temp dir kept: $TMP"
		else
			rm -rf "$TMP"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TMP=$(mktemp -d "${TMPDIR:-/tmp}/automl-bench.XXXXXX")
chmod 755 "$TMP"
log "temp dir $TMP, build $BUILD"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---- PostgreSQL --------------------------------------------------------------
DBURL=$(bash "$SRC/tests/lib/pg.sh" start "$TMP/pg") || die "pg.sh start failed"
# pg.sh starts it with fsync and full_page_writes off; restart it with full-page
# writes on (as in production: the WAL measurement counts them), no autovacuum
# (the pool is vacuumed between runs) and no automatic checkpoint during the run.
PGPORT_=$(cat "$TMP/pg/port")
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/server.log" -w -t 60 -m fast \
	-o "-c listen_addresses=127.0.0.1 -p $PGPORT_ -c unix_socket_directories=$TMP/pg/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=on -c autovacuum=off -c checkpoint_timeout=1d -c max_wal_size=64GB -c max_connections=200" \
	restart >/dev/null || { tail -n 20 "$TMP/pg/server.log" >&2; die "PostgreSQL restart failed"; }
sql() { psql "$DBURL" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
for _ in $(seq 1 60); do sql -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.5; done
# one database each: the main one (list, create, trigger, ceiling), create with
# auto-trigger with Airflow answering and with the parse delay, the previous trigger
DB_AUTO=${DBURL%/automl}/bench_auto
DB_DELAY=${DBURL%/automl}/bench_delay
DB_OLD=${DBURL%/automl}/bench_old
for d in bench_auto bench_delay bench_old; do sql -c "CREATE DATABASE $d"; done

# ---- files the servers (www-data) read and write -----------------------------
mkdir -p "$TMP/dags" "$TMP/dags-auto" "$TMP/dags-delay" "$TMP/dags-old" "$TMP/templates" "$TMP/bin" \
	"$TMP/apache/htdocs" "$TMP/apache/run" "$TMP/apache/cgi-bin" "$TMP/work" "$TMP/nginx/tmp"
cp "$SRC"/share/dags/*.py.in "$TMP/templates/"
install -m 755 "$BUILD/automl-api" "$TMP/bin/automl-api"
install -m 755 "$BUILD/automl-api" "$TMP/apache/cgi-bin/automl-api"
[ -z "$OLD" ] || install -m 755 "$OLD/build/automl-api" "$TMP/bin/automl-api-old"
chmod 755 "$TMP/templates" "$TMP/bin" "$TMP/apache" "$TMP/apache/htdocs" "$TMP/apache/cgi-bin"
chmod 644 "$TMP"/templates/*
chmod 1777 "$TMP/dags" "$TMP/dags-auto" "$TMP/dags-delay" "$TMP/dags-old"
chown -R "$RUN_USER:" "$TMP/apache/run"

# ---- the Airflow stand-in: nginx with canned answers -----------------------
# A stock server, so that what is measured is the service, not a Python double.
# Port NGX_OK answers like an Airflow that has parsed every DAG: token, DAG
# (unpaused), run created (queued), run state running, run PATCH, no import
# errors. Port NGX_404 is an Airflow that has not parsed the DAGs yet: 404 for
# the DAG, its runs and the run POST (the parse-delay case).
NGX_OK=$(free_port)
NGX_404=$(free_port)
while [ "$NGX_404" = "$NGX_OK" ]; do NGX_404=$(free_port); done
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
user $RUN_USER;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	default_type application/json;
	keepalive_requests 100000000;
	keepalive_timeout 300s;
	client_body_temp_path $TMP/nginx/tmp;
	proxy_temp_path $TMP/nginx/tmp;
	fastcgi_temp_path $TMP/nginx/tmp;
	uwsgi_temp_path $TMP/nginx/tmp;
	scgi_temp_path $TMP/nginx/tmp;
	server {
		listen 127.0.0.1:$NGX_OK;
		location = /auth/token { return 201 '{"access_token": "bench-canned-token", "token_type": "bearer"}'; }
		location ~ ^/api/v[12]/dags/(?<dag>[^/]+)/dagRuns/(?<run>[^/]+)\$ {
			if (\$request_method = PATCH) { return 200 '{"dag_id": "\$dag", "dag_run_id": "\$run", "state": "failed"}'; }
			return 200 '{"dag_id": "\$dag", "dag_run_id": "\$run", "state": "running"}';
		}
		location ~ ^/api/v[12]/dags/(?<dag>[^/]+)/dagRuns\$ {
			if (\$request_method = POST) { return 200 '{"dag_id": "\$dag", "state": "queued"}'; }
			return 200 '{"dag_runs": [], "total_entries": 0}';
		}
		location ~ ^/api/v[12]/dags/(?<dag>[^/]+)\$ { return 200 '{"dag_id": "\$dag", "is_paused": false}'; }
		location ~ ^/api/v[12]/importErrors\$ { return 200 '{"import_errors": [], "total_entries": 0}'; }
		location / { return 404 '{"detail": "Not Found", "status": 404, "title": "Not Found"}'; }
	}
	server {
		listen 127.0.0.1:$NGX_404;
		location = /auth/token { return 201 '{"access_token": "bench-canned-token", "token_type": "bearer"}'; }
		location ~ ^/api/v[12]/dags/(?<dag>[^/]+) { return 404 '{"detail": "The Dag with ID: \$dag was not found", "status": 404, "title": "Not Found"}'; }
		location ~ ^/api/v[12]/importErrors\$ { return 200 '{"import_errors": [], "total_entries": 0}'; }
		location / { return 404 '{"detail": "Not Found", "status": 404, "title": "Not Found"}'; }
	}
}
EOF
"$NGINX" -t -q -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" || die "nginx rejects its configuration"
"$NGINX" -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 1 100); do
	curl -fsS -o /dev/null -X POST "http://127.0.0.1:$NGX_OK/auth/token" 2>/dev/null && break
	sleep 0.1
done
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$NGX_OK/api/v2/dags/x/dagRuns" -d '{}') || true
[ "$code" = 200 ] || { cat "$TMP/nginx/error.log" >&2; die "the nginx Airflow stand-in does not answer ($code)"; }
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$NGX_404/api/v2/dags/x/dagRuns" -d '{}') || true
[ "$code" = 404 ] || die "the nginx not-parsed stand-in answers $code"

LPORT=$(free_port)
APORT=$(free_port)
while [ "$APORT" = "$LPORT" ]; do APORT=$(free_port); done

JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
PSK=bench-psk-$(python3 -c 'import secrets; print(secrets.token_hex(8))')
# write_config FILE DATABASE-URL AIRFLOW-PORT DAGS-DIR PUBLIC-PORT
write_config() {
	cat >"$1" <<EOF
AUTOML_DATABASE_URL=$2
AUTOML_AIRFLOW_URL=http://127.0.0.1:$3
AUTOML_AIRFLOW_API=v2
AUTOML_AIRFLOW_USER=bench
AUTOML_AIRFLOW_PASSWORD=bench-airflow-pw
AUTOML_AIRFLOW_PARSE_WAIT_MS=2000
AUTOML_DAGS_DIR=$4
AUTOML_TEMPLATES_DIR=$TMP/templates
AUTOML_MLFLOW_TRACKING_URI=http://127.0.0.1:9/mlflow
AUTOML_PUBLIC_URL=http://127.0.0.1:$5
AUTOML_STATUS_PSK=$PSK
AUTOML_JWT_SECRET=$JWT_SECRET
AUTOML_TRAIN_PYTHON=/usr/bin/python3
EOF
	chmod 644 "$1"
}
AUTO_PORT=$(free_port)
DELAY_PORT=$(free_port)
OLD_PORT=$(free_port)
CONFIG="$TMP/automl.conf"
CONFIG_AUTO="$TMP/automl-auto.conf"
CONFIG_DELAY="$TMP/automl-delay.conf"
CONFIG_OLD="$TMP/automl-old.conf"
write_config "$CONFIG" "$DBURL" "$NGX_OK" "$TMP/dags" "$LPORT"
write_config "$CONFIG_AUTO" "$DB_AUTO" "$NGX_OK" "$TMP/dags-auto" "$AUTO_PORT"
write_config "$CONFIG_DELAY" "$DB_DELAY" "$NGX_404" "$TMP/dags-delay" "$DELAY_PORT"
for c in "$CONFIG" "$CONFIG_AUTO" "$CONFIG_DELAY"; do
	AUTOML_CONFIG="$c" "$BUILD/automl-ctl" migrate >"$TMP/migrate.log" 2>&1 \
		|| { cat "$TMP/migrate.log" >&2; die "automl-ctl migrate failed ($c)"; }
done
if [ -n "$OLD" ]; then
	write_config "$CONFIG_OLD" "$DB_OLD" "$NGX_OK" "$TMP/dags-old" "$OLD_PORT"
	AUTOML_CONFIG="$CONFIG_OLD" "$OLD/build/automl-ctl" migrate >"$TMP/migrate.log" 2>&1 \
		|| { cat "$TMP/migrate.log" >&2; die "automl-ctl migrate of $OLD_REV failed"; }
fi

# ---- the dispatchers (automl-ctl dispatch), one per database of the new design;
# the parse-delay one gives up after PARSE_DELAY seconds (see README)
dispatch_pids=()
dispatcher_start() { # NAME CONFIG [ENV=VALUE...]
	local name=$1 conf=$2
	shift 2
	env AUTOML_CONFIG="$conf" "$@" "$BUILD/automl-ctl" dispatch >"$TMP/dispatch-$name.log" 2>&1 &
	pids+=($!)
	dispatch_pids+=($!)
}
dispatcher_start main "$CONFIG"
DISPATCH_MAIN=${dispatch_pids[-1]}
dispatcher_start auto "$CONFIG_AUTO"
dispatcher_start delay "$CONFIG_DELAY" AUTOML_DISPATCH_DEADLINE_S="$PARSE_DELAY"

# ---- lighttpd: mod_fastcgi, the way scripts/serve runs it --------------------
# lighttpd_start DIR PORT BIN-PATH MAX-PROCS [CONFIG]: a lighttpd whose state lives
# in DIR (owned by the run user); its pid is appended to pids.
lighttpd_start() {
	local dir=$1
	mkdir -p "$dir/htdocs" "$dir/upload"
	chown -R "$RUN_USER:" "$dir"
	cat >"$dir/lighttpd.conf" <<EOF
server.modules = ( "mod_fastcgi" )
server.document-root = "$dir/htdocs"
server.bind = "127.0.0.1"
server.port = $2
server.username = "$RUN_USER"
server.groupname = "$RUN_USER"
server.pid-file = "$dir/lighttpd.pid"
server.errorlog = "$dir/error.log"
server.upload-dirs = ( "$dir/upload" )
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 300
fastcgi.server = ( "/" => ((
	"socket" => "$dir/automl-api.sock",
	"bin-path" => "$3",
	"bin-environment" => ( "AUTOML_CONFIG" => "${5:-$CONFIG}" ),
	"check-local" => "disable",
	"fix-root-scriptname" => "enable",
	"max-procs" => $4,
)))
EOF
	"$LIGHTTPD" -tt -f "$dir/lighttpd.conf" >/dev/null || die "lighttpd rejects its configuration"
	"$LIGHTTPD" -D -f "$dir/lighttpd.conf" >"$dir/stdout.log" 2>&1 &
	pids+=($!)
}
lighttpd_start "$TMP/lighttpd" "$LPORT" "$TMP/bin/automl-api" "$PROCS"
lighttpd_start "$TMP/lighttpd-auto" "$AUTO_PORT" "$TMP/bin/automl-api" "$PROCS" "$CONFIG_AUTO"
lighttpd_start "$TMP/lighttpd-delay" "$DELAY_PORT" "$TMP/bin/automl-api" "$PROCS" "$CONFIG_DELAY"
[ -z "$OLD" ] || lighttpd_start "$TMP/lighttpd-old" "$OLD_PORT" "$TMP/bin/automl-api-old" "$PROCS" "$CONFIG_OLD"

# ---- Apache: the same binary as plain CGI (mod_cgid), one process per request --
apache_conf="$TMP/apache/apache.conf"
cat >"$apache_conf" <<EOF
ServerRoot "/etc/apache2"
ServerName 127.0.0.1
Listen 127.0.0.1:$APORT
User $RUN_USER
Group $RUN_USER
PidFile "$TMP/apache/apache.pid"
DefaultRuntimeDir "$TMP/apache/run"
Mutex file:$TMP/apache/run default
ErrorLog "$TMP/apache/error.log"
LogLevel warn
Timeout 60
KeepAlive On
KeepAliveTimeout 300
MaxKeepAliveRequests 0
LoadModule mpm_event_module $APACHE_MODDIR/mod_mpm_event.so
LoadModule authz_core_module $APACHE_MODDIR/mod_authz_core.so
LoadModule alias_module $APACHE_MODDIR/mod_alias.so
LoadModule env_module $APACHE_MODDIR/mod_env.so
LoadModule cgid_module $APACHE_MODDIR/mod_cgid.so
ScriptSock "$TMP/apache/run/cgid.sock"
DocumentRoot "$TMP/apache/htdocs"
<Directory />
	Options None
	AllowOverride None
	Require all denied
</Directory>
ScriptAlias /cgi-bin/ "$TMP/apache/cgi-bin/"
<Directory "$TMP/apache/cgi-bin">
	Options +ExecCGI
	AcceptPathInfo On
	CGIPassAuth On
	SetEnv AUTOML_CONFIG "$CONFIG"
	Require all granted
</Directory>
EOF
"$APACHE" -t -f "$apache_conf" >/dev/null 2>&1 || { "$APACHE" -t -f "$apache_conf" || true; die "Apache rejects its configuration"; }
"$APACHE" -f "$apache_conf" -k start || die "Apache did not start"

FCGI="http://127.0.0.1:$LPORT"
CGI="http://127.0.0.1:$APORT/cgi-bin/automl-api"
wait_ok() {
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	tail -n 20 "$TMP/lighttpd/error.log" "$TMP/apache/error.log" >&2 || true
	die "$1 does not answer"
}
FCGI_AUTO="http://127.0.0.1:$AUTO_PORT"
FCGI_DELAY="http://127.0.0.1:$DELAY_PORT"
FCGI_OLD="http://127.0.0.1:$OLD_PORT"
wait_ok "$FCGI/healthz"
wait_ok "$CGI/healthz"
wait_ok "$FCGI_AUTO/healthz"
wait_ok "$FCGI_DELAY/healthz"
[ -z "$OLD" ] || wait_ok "$FCGI_OLD/healthz"

# ---- data: one job through the API, then copies of its row by SQL ------------
TOKEN=$(python3 "$here/bench.py" token "$JWT_SECRET" bench-user bench)
API=/api/automl/train/jobs
cat >"$TMP/work/create.json" <<'EOF'
{"name": "bench", "domain": "bench", "source_table": "sample_binary",
 "problem_type": "binary_classification", "algorithm": "lightgbm_classifier",
 "preset": "fast", "label_column": "label", "auto_trigger": false}
EOF
code=$(curl -sS -o "$TMP/work/job.json" -w '%{http_code}' -X POST "$FCGI$API" \
	-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary @"$TMP/work/create.json")
[ "$code" = 201 ] || { cat "$TMP/work/job.json" >&2; die "create answered $code"; }
JOB_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job_id"])' "$TMP/work/job.json")
for base in "$FCGI" "$CGI"; do
	code=$(curl -sS -o /dev/null -w '%{http_code}' "$base$API/$JOB_ID" -H "Authorization: Bearer $TOKEN")
	[ "$code" = 200 ] || die "GET job through $base answered $code"
done
log "inserting $((NJOBS - 1)) copies of job $JOB_ID"
sql -c "INSERT INTO training_jobs (job_id, name, domain, owner, source_table, label_column,
	problem_type, algorithm, preset, status, rendered_dag, mlflow_experiment_name,
	registered_model_name, airflow_dag_id, airflow_dag_url, created_at, updated_at)
	SELECT gen_random_uuid(), t.name, t.domain, t.owner, t.source_table, t.label_column,
	t.problem_type, t.algorithm, t.preset, t.status, t.rendered_dag, t.mlflow_experiment_name,
	t.registered_model_name, t.airflow_dag_id || '_' || g, t.airflow_dag_url || '_' || g,
	t.created_at - g * interval '1 second', t.created_at - g * interval '1 second'
	FROM training_jobs t, generate_series(1, $((NJOBS - 1))) g WHERE t.job_id = '$JOB_ID'"
sql -c "VACUUM ANALYZE training_jobs"
[ "$(sql -c 'SELECT count(*) FROM training_jobs')" = "$NJOBS" ] || die "expected $NJOBS jobs"

DEPTH=$((NJOBS / 50 - 1))
python3 "$here/bench.py" walk "$FCGI$API" "$TOKEN" "$DEPTH" "$TMP/work/walk.json" >&2
CURSOR=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.load(open(sys.argv[1]))["cursor"], safe=""))' "$TMP/work/walk.json")

# ---- what the database reads per list page (deterministic) --------------------
# Plain-CGI runs of the binary by hand: each one's backend exits after the request
# and flushes its table statistics then. Rows fetched through the index (or read by
# a sequential scan) and buffer pages touched (heap, index, TOAST) per request.
tabstat() {
	sleep 1   # exited backends (and idle FastCGI ones, within 1 s) have flushed
	sql -c "SELECT coalesce(s.idx_tup_fetch, 0) + coalesce(s.seq_tup_read, 0),
		coalesce(io.heap_blks_hit, 0) + coalesce(io.heap_blks_read, 0)
		+ coalesce(io.idx_blks_hit, 0) + coalesce(io.idx_blks_read, 0)
		+ coalesce(io.toast_blks_hit, 0) + coalesce(io.toast_blks_read, 0)
		+ coalesce(io.tidx_blks_hit, 0) + coalesce(io.tidx_blks_read, 0)
		FROM pg_stat_user_tables s JOIN pg_statio_user_tables io USING (relid)
		WHERE s.relname = 'training_jobs'" | tr '|' ' '
}
cgi_list() { # QUERY_STRING COUNT
	for _ in $(seq 1 "$2"); do
		env -i PATH=/usr/bin:/bin AUTOML_CONFIG="$CONFIG" GATEWAY_INTERFACE=CGI/1.1 \
			REQUEST_METHOD=GET PATH_INFO="$API" QUERY_STRING="$1" \
			HTTP_AUTHORIZATION="Bearer $TOKEN" "$BUILD/automl-api" </dev/null >"$TMP/work/cgi-list.out" 2>/dev/null
		head -n 1 "$TMP/work/cgi-list.out" | grep -q '^Status: 200' || die "CGI list ($1) did not answer 200"
	done
}
NROWREQ=10
read -r t0 b0 <<<"$(tabstat)"
cgi_list "limit=50" "$NROWREQ"
read -r t1 b1 <<<"$(tabstat)"
cgi_list "limit=50&cursor=$CURSOR" "$NROWREQ"
read -r t2 b2 <<<"$(tabstat)"
cat >"$TMP/work/rows.json" <<EOF
{"requests": $NROWREQ, "first_rows": $((t1 - t0)), "first_blocks": $((b1 - b0)),
 "deep_rows": $((t2 - t1)), "deep_blocks": $((b2 - b1))}
EOF

# ---- the trigger pool: POOL ready jobs, reset before every run ------------------
# Job n (1..POOL) has the id 00000000-0000-4000-8000-<n, 12 digits> (pgbench can
# name it from a number). The rows are inserted in another order (row g holds job
# (g * 7919) mod POOL + 1, and created_at follows g), so jobs n and n+1 sit on
# different heap pages and index leaves, like triggers of random jobs. The same
# pool is in the previous trigger's database. Every run (trigger or pgbench) walks
# the jobs from n = 1 up; the reset before it puts the jobs it may have changed
# back to ready, drops their outbox rows and vacuums, so every run starts from
# the same state and each request changes a ready job.
TRIG_MAX=$((POOL - CONC - 16))   # count bound of a trigger run: never past the pool
log "preparing $POOL ready jobs for the trigger benchmarks"
pool_insert() { # DATABASE-URL TEMPLATE-JOB-ID
	psql "$1" -X -q -v ON_ERROR_STOP=1 -c "INSERT INTO training_jobs (job_id, name, domain, owner,
	source_table, label_column, problem_type, algorithm, preset, status, rendered_dag,
	mlflow_experiment_name, registered_model_name, airflow_dag_id, airflow_dag_url, created_at, updated_at)
	SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'trig', t.domain, t.owner,
	t.source_table, t.label_column, t.problem_type, t.algorithm, t.preset, 'ready', t.rendered_dag,
	t.mlflow_experiment_name, t.registered_model_name, 'bench_trigger_' || n, t.airflow_dag_url || '_t' || n,
	t.created_at - interval '1 year' - g * interval '1 second', t.created_at
	FROM training_jobs t, (SELECT g, (g::bigint * 7919) % $POOL + 1 AS n
	FROM generate_series(0, $((POOL - 1))) g) s WHERE t.job_id = '$2' ORDER BY g" \
		-c "VACUUM ANALYZE training_jobs" || die "inserting the trigger pool failed"
	[ "$(psql "$1" -X -A -t -c "SELECT count(DISTINCT job_id) FROM training_jobs WHERE name = 'trig'")" = "$POOL" ] \
		|| die "the trigger pool does not have $POOL distinct jobs (BENCH_POOL must not be a multiple of 7919)"
}
pool_insert "$DBURL" "$JOB_ID"
psql "$DBURL" -X -A -t -c "SELECT '$API/00000000-0000-4000-8000-' || lpad(n::text, 12, '0') || '/trigger'
	FROM generate_series(1, $POOL) n" >"$TMP/work/trig.paths"
if [ -n "$OLD" ]; then
	# the previous binary makes its own template job (its create), then the same pool
	code=$(curl -sS -o "$TMP/work/job-old.json" -w '%{http_code}' -X POST "$FCGI_OLD$API" \
		-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary @"$TMP/work/create.json")
	[ "$code" = 201 ] || { cat "$TMP/work/job-old.json" >&2; die "create ($OLD_REV) answered $code"; }
	pool_insert "$DB_OLD" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job_id"])' "$TMP/work/job-old.json")"
fi
# psql commands for the plan (JSON arrays): reset the pool, count what a run changed
reset_json() { # DATABASE-URL new|old
	local outbox="" cols="dispatched_at = NULL, ended_at = NULL,"
	if [ "$2" = old ]; then
		cols=""
	else
		outbox=', "-c", "DELETE FROM dispatch_queue q USING training_jobs t WHERE q.job_id = t.job_id AND t.name = '"'trig'"'", "-c", "VACUUM dispatch_queue"'
	fi
	printf '["psql", "%s", "-X", "-q", "-v", "ON_ERROR_STOP=1"%s, "-c", "UPDATE training_jobs SET status = %s, trigger_attempts = 0, airflow_dag_run_id = NULL, error_message = NULL, mlflow_run_id = NULL, %s last_synced_at = NULL WHERE name = %s AND status <> %s", "-c", "VACUUM training_jobs"]' \
		"$1" "$outbox" "'ready'" "$cols" "'trig'" "'ready'"
}
probe_json() { # DATABASE-URL: rows that left ready | rows now running
	printf '["psql", "%s", "-X", "-A", "-t", "-c", "SELECT count(*) FILTER (WHERE status <> %s), count(*) FILTER (WHERE status = %s) FROM training_jobs WHERE name = %s"]' \
		"$1" "'ready'" "'running'" "'trig'"
}
RESET_NEW=$(reset_json "$DBURL" new)
PROBE_NEW=$(probe_json "$DBURL")
RESET_OLD=$(reset_json "$DB_OLD" old)
PROBE_OLD=$(probe_json "$DB_OLD")
SETTLE_AUTO='["python3", "'$here'/bench.py", "settle", "'$DB_AUTO'", "60"]'
SETTLE_DELAY='["python3", "'$here'/bench.py", "settle", "'$DB_DELAY'", "'$((PARSE_DELAY + 60))'"]'

# the ceiling: one prepared UPDATE per transaction, the trigger's SET list
cat >"$TMP/work/ceiling.sql" <<EOF
\set n :k * :nc + :client_id + 1
\set k :k + 1
UPDATE training_jobs SET status = 'queued', trigger_attempts = trigger_attempts + 1,
 airflow_dag_run_id = 'automl-' || job_id::text || '-a' || (trigger_attempts + 1)::text,
 error_message = NULL, mlflow_run_id = NULL, dispatched_at = NULL, ended_at = NULL,
 updated_at = clock_timestamp(), last_synced_at = NULL
 WHERE job_id = ('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid AND status = 'ready'
 RETURNING *;
EOF
PGB='{"pgbench": "'$PGBENCH'", "script": "'$TMP/work/ceiling.sql'", "url": "'$DBURL'"}'

python3 - "$TMP/work/create-auto.json" "$TMP/work/create.json" <<'EOF'
import json, sys
body = json.load(open(sys.argv[2]))
body["auto_trigger"] = True
json.dump(body, open(sys.argv[1], "w"))
EOF

# ---- the plan ----------------------------------------------------------------
old_target=""
if [ -n "$OLD" ]; then
	old_target='{"label": "trigger '$OLD_REV'", "role": "old", "url": "'$FCGI_OLD$API'", "warmup": false,
    "before": '$RESET_OLD', "probe": '$PROBE_OLD',
    "env": {"BENCH_TOKEN": "'$TOKEN'", "BENCH_METHOD": "POST", "BENCH_PATHS_FILE": "'$TMP/work/trig.paths'", "BENCH_MAX": '$TRIG_MAX'}},'
fi
POSTMASTER=$(head -n 1 "$TMP/pg/data/postmaster.pid")
cat >"$TMP/work/plan.json" <<EOF
{"wrk_lua": "$here/wrk.lua", "seconds": $SECS, "warmup_seconds": $WARMUP, "rounds": $ROUNDS,
 "concurrency": [1, 4], "cpu_roots": [$$, $POSTMASTER],
 "groups": [
  {"name": "healthz", "kind": "pair", "targets": [
   {"label": "healthz FastCGI", "url": "$FCGI/healthz", "env": {"BENCH_MAX": 200000}},
   {"label": "healthz CGI", "url": "$CGI/healthz", "env": {"BENCH_MAX": 200000}}]},
  {"name": "get", "kind": "pair", "targets": [
   {"label": "GET job FastCGI", "url": "$FCGI$API/$JOB_ID", "env": {"BENCH_TOKEN": "$TOKEN", "BENCH_MAX": 200000}},
   {"label": "GET job CGI", "url": "$CGI$API/$JOB_ID", "env": {"BENCH_TOKEN": "$TOKEN", "BENCH_MAX": 200000}}]},
  {"name": "list", "kind": "pair", "targets": [
   {"label": "list first page", "url": "$FCGI$API?limit=50", "env": {"BENCH_TOKEN": "$TOKEN", "BENCH_MAX": 200000}},
   {"label": "list deep page", "url": "$FCGI$API?limit=50&cursor=$CURSOR", "env": {"BENCH_TOKEN": "$TOKEN", "BENCH_MAX": 200000}}]},
  {"name": "write", "kind": "pair", "targets": [
   {"label": "create", "url": "$FCGI$API", "env": {"BENCH_TOKEN": "$TOKEN", "BENCH_METHOD": "POST",
    "BENCH_BODY_FILE": "$TMP/work/create.json", "BENCH_MAX": 20000}},
   {"label": "trigger", "url": "$FCGI$API", "warmup": false, "before": $RESET_NEW, "probe": $PROBE_NEW,
    "env": {"BENCH_TOKEN": "$TOKEN", "BENCH_METHOD": "POST", "BENCH_PATHS_FILE": "$TMP/work/trig.paths", "BENCH_MAX": $TRIG_MAX}}]},
  {"name": "trig32", "kind": "pair", "concurrency": [$CONC], "targets": [
   {"label": "trigger", "role": "new", "url": "$FCGI$API", "warmup": false, "before": $RESET_NEW, "probe": $PROBE_NEW,
    "env": {"BENCH_TOKEN": "$TOKEN", "BENCH_METHOD": "POST", "BENCH_PATHS_FILE": "$TMP/work/trig.paths", "BENCH_MAX": $TRIG_MAX}},
   {"label": "trigger, dispatcher paused", "role": "paused", "url": "$FCGI$API", "warmup": false,
    "before": [$RESET_NEW, ["kill", "-STOP", "$DISPATCH_MAIN"]], "probe": $PROBE_NEW, "after": ["kill", "-CONT", "$DISPATCH_MAIN"],
    "env": {"BENCH_TOKEN": "$TOKEN", "BENCH_METHOD": "POST", "BENCH_PATHS_FILE": "$TMP/work/trig.paths", "BENCH_MAX": $TRIG_MAX}},
   $old_target
   {"label": "pgbench ceiling", "role": "ceiling", "url": "", "warmup": false, "before": $RESET_NEW, "probe": $PROBE_NEW, "pgbench": $PGB}]},
  {"name": "auto32", "kind": "pair", "concurrency": [$CONC], "seconds": $AUTO_SECS, "rounds": $AUTO_ROUNDS, "targets": [
   {"label": "create auto, Airflow answers", "url": "$FCGI_AUTO$API", "after": $SETTLE_AUTO,
    "env": {"BENCH_TOKEN": "$TOKEN", "BENCH_METHOD": "POST", "BENCH_BODY_FILE": "$TMP/work/create-auto.json", "BENCH_MAX": 200000}},
   {"label": "create auto, ${PARSE_DELAY} s parse delay", "url": "$FCGI_DELAY$API", "after": $SETTLE_DELAY,
    "env": {"BENCH_TOKEN": "$TOKEN", "BENCH_METHOD": "POST", "BENCH_BODY_FILE": "$TMP/work/create-auto.json", "BENCH_MAX": 200000}}]}
 ]}
EOF
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/work/plan.json" || die "plan.json is not valid JSON"

log "measuring: $ROUNDS rounds x ${SECS}s per target at concurrency 1 and 4, then at $CONC"
python3 "$here/bench.py" measure "$TMP/work/plan.json" "$TMP/work/measure.json" >&2

# ---- WAL per trigger: fixed counts, the dispatchers stopped --------------------
for p in "${dispatch_pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${dispatch_pids[@]}"; do
	for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done
old_system=""
if [ -n "$OLD" ]; then
	old_system='{"label": "trigger '$OLD_REV'", "role": "old", "url": "'$FCGI_OLD$API'", "reset": '$RESET_OLD', "changed": '$PROBE_OLD',
    "env": {"BENCH_TOKEN": "'$TOKEN'", "BENCH_METHOD": "POST", "BENCH_PATHS_FILE": "'$TMP/work/trig.paths'"}},'
fi
cat >"$TMP/work/wal-spec.json" <<EOF
{"url": "$DBURL", "pg_waldump": "$PG_WALDUMP", "waldir": "$TMP/pg/data/pg_wal", "wrk_lua": "$here/wrk.lua",
 "count": $WAL_N, "conc": $CONC, "reps": $WAL_REPS, "systems": [
  {"label": "trigger", "role": "new", "url": "$FCGI$API", "reset": $RESET_NEW, "changed": $PROBE_NEW,
   "env": {"BENCH_TOKEN": "$TOKEN", "BENCH_METHOD": "POST", "BENCH_PATHS_FILE": "$TMP/work/trig.paths"}},
  $old_system
  {"label": "pgbench ceiling", "role": "ceiling", "reset": $RESET_NEW, "changed": $PROBE_NEW, "pgbench": $PGB}]}
EOF
log "WAL per trigger: $WAL_N triggers at concurrency $CONC after a checkpoint, $WAL_REPS repetitions"
python3 "$here/bench.py" wal "$TMP/work/wal-spec.json" "$TMP/work/wal.json" >&2

WAL_DONE=$SECONDS
CG_JSON=-
CGF_JSON=-
if [ "$CALLGRIND" != 0 ]; then
CG_JSON=$TMP/work/callgrind.json
CGF_JSON=$TMP/work/callgrind-fcgi.json
# ---- callgrind: one plain-CGI GET of a job, run by hand -----------------------
log "callgrind: one CGI GET job"
env -i PATH=/usr/bin:/bin AUTOML_CONFIG="$CONFIG" GATEWAY_INTERFACE=CGI/1.1 \
	REQUEST_METHOD=GET SCRIPT_NAME=/cgi-bin/automl-api PATH_INFO="$API/$JOB_ID" \
	REQUEST_URI="/cgi-bin/automl-api$API/$JOB_ID" QUERY_STRING= SERVER_PROTOCOL=HTTP/1.1 \
	HTTP_AUTHORIZATION="Bearer $TOKEN" \
	valgrind --tool=callgrind --callgrind-out-file="$TMP/work/callgrind.out" \
	"$BUILD/automl-api" </dev/null >"$TMP/work/cgi.out" 2>"$TMP/work/callgrind.log" \
	|| { cat "$TMP/work/callgrind.log" >&2; die "automl-api under callgrind failed"; }
grep -q '"job_id"' "$TMP/work/cgi.out" && head -n 1 "$TMP/work/cgi.out" | grep -q '^Status: 200' \
	|| { head -c 600 "$TMP/work/cgi.out" >&2; die "the CGI GET under callgrind did not answer 200"; }
python3 "$here/bench.py" callgrind "$TMP/work/callgrind.out" "$TMP/work/callgrind.json"

# ---- callgrind: FastCGI, instructions per request in the steady state ----------
# One FastCGI process under callgrind behind a second lighttpd; --dump-before=
# FCGX_Accept_r writes one profile per pass of the accept loop, so dump k+1 holds
# exactly request k. Two warm-up GETs first (the first connects to PostgreSQL and
# does OpenSSL's first digest lookup), then 5 each of healthz, GET job, first list
# page, deep list page.
log "callgrind: FastCGI per request"
mkdir -p "$TMP/cgf"
chmod 1777 "$TMP/cgf"
cat >"$TMP/bin/automl-api-callgrind" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --dump-before=FCGX_Accept_r --callgrind-out-file=$TMP/cgf/cg.out $TMP/bin/automl-api
EOF
chmod 755 "$TMP/bin/automl-api-callgrind"
CGPORT=$(free_port)
lighttpd_start "$TMP/lighttpd-cg" "$CGPORT" "$TMP/bin/automl-api-callgrind" 1
cg_lighttpd=${pids[-1]}
for _ in $(seq 1 300); do
	curl -fsS -o /dev/null "http://127.0.0.1:$CGPORT/healthz" 2>/dev/null && break
	sleep 0.1
done
rm -f "$TMP"/cgf/cg.out*   # the profiles of the start-up probes above
cg_get() { # PATH: one request through the profiled process, must answer 200
	local code
	code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CGPORT$1" -H "Authorization: Bearer $TOKEN")
	[ "$code" = 200 ] || die "profiled FastCGI request $1 answered $code"
}
cg_get "$API/$JOB_ID"
cg_get "$API/$JOB_ID"
for _ in 1 2 3 4 5; do cg_get /healthz; done
for _ in 1 2 3 4 5; do cg_get "$API/$JOB_ID"; done
for _ in 1 2 3 4 5; do cg_get "$API?limit=50"; done
for _ in 1 2 3 4 5; do cg_get "$API?limit=50&cursor=$CURSOR"; done
cg_child=$(pgrep -P "$cg_lighttpd" | head -n 1 || true)
kill "$cg_lighttpd"
if [ -n "$cg_child" ]; then
	pids+=("$cg_child")
	for _ in $(seq 1 300); do kill -0 "$cg_child" 2>/dev/null || break; sleep 0.1; done
	kill "$cg_child" 2>/dev/null || true
fi
python3 "$here/bench.py" callgrind-fcgi "$TMP/cgf" "$TMP/work/callgrind-fcgi.json" \
	|| die "reading the FastCGI profiles failed"
fi

# ---- HOT updates over the whole run ----------------------------------------------
# An idle backend (the FastCGI processes' connections) flushes its table
# statistics at most 10 s after its last transaction.
[ $((SECONDS - WAL_DONE)) -ge 11 ] || sleep $((11 - (SECONDS - WAL_DONE)))
{
	echo "["
	sep=""
	for pair in "main (trigger, ceiling, list, create)|$DBURL" "create auto, Airflow answers|$DB_AUTO" \
		"create auto, parse delay|$DB_DELAY" ${OLD:+"trigger $OLD_REV (schema 1)|$DB_OLD"}; do
		read -r upd hot <<<"$(psql "${pair#*|}" -X -A -t -F ' ' -c "SELECT n_tup_upd, n_tup_hot_upd
			FROM pg_stat_user_tables WHERE relname = 'training_jobs'")"
		printf '%s{"label": "%s", "upd": %d, "hot": %d}\n' "$sep" "${pair%%|*}" "$upd" "$hot"
		sep=","
	done
	echo "]"
} >"$TMP/work/hot.json"

# ---- results.md -------------------------------------------------------------
python3 - "$TMP/work/meta.json" <<EOF
import json, sys, time, subprocess
cpu = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip(); break
def out(*cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
    except OSError:
        return ""
commit = out("git", "-C", "$SRC", "rev-parse", "--short", "HEAD") or "unknown"
dirty = [d + "/" for d in ("src", "share", "bench")
         if out("git", "-C", "$SRC", "status", "--porcelain", "--", d)]
if dirty:
    commit += " (with uncommitted changes in %s)" % ", ".join(dirty)
wrkv = (out("wrk", "-v") or "wrk").splitlines()[0].split(" [")[0]
pgb = " ".join(out("$PGBENCH", "--version").split()[:3])
ngx = (out("$NGINX", "-v") or "").split(": ")[-1] or "nginx"
try:
    ngx = subprocess.run(["$NGINX", "-v"], stderr=subprocess.PIPE, text=True).stderr.strip().split(": ")[-1]
except OSError:
    pass
json.dump({"date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "command": """$COMMAND""",
           "nproc": out("nproc"), "cpu": cpu, "loadavg": "$LOAD_BEFORE",
           "loadavg_after": " ".join(open("/proc/loadavg").read().split()[:3]), "commit": commit,
           "cflags": "$CFLAGS_USED", "wrk": wrkv, "pgbench": pgb, "jobs": $NJOBS, "pool": $POOL,
           "procs": $PROCS, "old_commit": "${OLD_REV:-}", "parse_delay": $PARSE_DELAY,
           "libs": len([l for l in out("ldd", "$BUILD/automl-api").splitlines() if "=>" in l]),
           "servers": "%s with mod_fastcgi, max-procs $PROCS; %s with mod_cgid (event MPM); "
                      "PostgreSQL %s (fsync off, full_page_writes on); Airflow stand-in: %s with canned answers"
                      % (out("$LIGHTTPD", "-v").split(" - ")[0], out("$APACHE", "-v").splitlines()[0].split(": ")[-1],
                         out("psql", "$DBURL", "-X", "-A", "-t", "-c", "SHOW server_version").split()[0], ngx)},
          open(sys.argv[1], "w"))
EOF
rc=0
python3 "$here/bench.py" report "$TMP/work/meta.json" "$TMP/work/measure.json" \
	"$TMP/work/walk.json" "$TMP/work/rows.json" "$TMP/work/wal.json" "$TMP/work/hot.json" \
	"$CG_JSON" "$CGF_JSON" "$RESULTS" >"$TMP/work/results.md" || rc=$?
cp "$TMP/work/results.md" "$RESULTS"
log "wrote $RESULTS"
[ "$rc" -eq 0 ] || die "some requests failed (see the errors column in $RESULTS)"
