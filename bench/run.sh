#!/usr/bin/env bash
# run.sh - the benchmark suite: builds automl-api if needed, starts a private
# PostgreSQL, lighttpd (mod_fastcgi), Apache (plain CGI) and the Airflow test
# double on loopback, measures side by side with wrk and writes bench/results.md.
#
# Usage: bench/run.sh [BUILD_DIR]      (default bench/.build; built there if needed)
# Environment: BENCH_ROUNDS (5), BENCH_SECONDS per wrk run (2), BENCH_WARMUP (1),
#   BENCH_JOBS in the list table (10000), BENCH_FCGI_PROCS lighttpd's max-procs (2),
#   BENCH_TRIGGER_SLICE trigger pool per run (1500), BENCH_RESULTS output file
#   (bench/results.md), BENCH_KEEP=1 keeps the temp dir.
# Runs as root (the web servers drop to www-data). Everything it starts is
# stopped on exit. Whole run: about 4 minutes (plus the first build).
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
RUN_USER=www-data
APACHE_MODDIR=${APACHE_MODDIR:-/usr/lib/apache2/modules}
COMMAND="bench/run.sh${1:+ $1}"
for v in BENCH_ROUNDS BENCH_SECONDS BENCH_WARMUP BENCH_JOBS BENCH_FCGI_PROCS BENCH_TRIGGER_SLICE; do
	[ -n "${!v:-}" ] && COMMAND="$v=${!v} $COMMAND"
done

log() { echo "bench: [${SECONDS}s] $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (the web servers drop to $RUN_USER)"
case $NJOBS in (*[!0-9]*|'') die "BENCH_JOBS must be a number" ;; esac
[ "$NJOBS" -ge 200 ] && [ $((NJOBS % 50)) -eq 0 ] || die "BENCH_JOBS must be a multiple of 50, at least 200"

# ---- tools: install the Debian packages that are missing (idempotent) --------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v valgrind >/dev/null || need+=(valgrind)
command -v callgrind_annotate >/dev/null || need+=(valgrind)
command -v lighttpd >/dev/null || [ -x /usr/sbin/lighttpd ] || need+=(lighttpd)
[ -x /usr/sbin/apache2 ] || need+=(apache2)
command -v psql >/dev/null || need+=(postgresql-client)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || {
		apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null
	} || die "apt-get install ${need[*]} failed"
fi
LIGHTTPD=$(command -v lighttpd || echo /usr/sbin/lighttpd)
APACHE=/usr/sbin/apache2
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

# ---- teardown --------------------------------------------------------------
TMP=""
pids=()
apache_conf=""
cleanup() {
	local rc=$? p i
	set +e
	if [ -n "$apache_conf" ] && [ -f "$TMP/apache/apache.pid" ]; then
		p=$(cat "$TMP/apache/apache.pid")
		"$APACHE" -f "$apache_conf" -k stop >/dev/null 2>&1
		for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	fi
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do
		for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
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
sql() { psql "$DBURL" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

# ---- files the servers (www-data) read and write -----------------------------
mkdir -p "$TMP/dags" "$TMP/templates" "$TMP/bin" \
	"$TMP/apache/htdocs" "$TMP/apache/run" "$TMP/apache/cgi-bin" "$TMP/work"
cp "$SRC"/share/dags/*.py.in "$TMP/templates/"
install -m 755 "$BUILD/automl-api" "$TMP/bin/automl-api"
install -m 755 "$BUILD/automl-api" "$TMP/apache/cgi-bin/automl-api"
chmod 755 "$TMP/templates" "$TMP/bin" "$TMP/apache" "$TMP/apache/htdocs" "$TMP/apache/cgi-bin"
chmod 644 "$TMP"/templates/*
chmod 1777 "$TMP/dags"
chown -R "$RUN_USER:" "$TMP/apache/run"

# ---- the Airflow double ------------------------------------------------------
# With TCP_NODELAY on its sockets: http.server writes the headers and the body of
# an answer separately, and on a reused connection Nagle's algorithm then holds
# the body back until the service's delayed ACK (about 40 ms per Airflow call),
# which would measure the double, not the service. Real Airflow (uvicorn) sets it.
python3 -c 'import runpy, socketserver, sys
socketserver.StreamRequestHandler.disable_nagle_algorithm = True
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")' "$SRC/tests/airflow_double.py" --port 0 \
	--dags-dir "$TMP/dags" --user bench --password bench-airflow-pw \
	>"$TMP/airflow.port" 2>"$TMP/airflow.log" &
pids+=($!)
for _ in $(seq 1 100); do grep -q '^PORT ' "$TMP/airflow.port" && break; sleep 0.1; done
AF_PORT=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$TMP/airflow.port")
[ -n "$AF_PORT" ] || { cat "$TMP/airflow.log" >&2; die "the Airflow double did not start"; }

LPORT=$(free_port)
APORT=$(free_port)
while [ "$APORT" = "$LPORT" ]; do APORT=$(free_port); done

JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
CONFIG="$TMP/automl.conf"
cat >"$CONFIG" <<EOF
AUTOML_DATABASE_URL=$DBURL
AUTOML_AIRFLOW_URL=http://127.0.0.1:$AF_PORT
AUTOML_AIRFLOW_API=v2
AUTOML_AIRFLOW_USER=bench
AUTOML_AIRFLOW_PASSWORD=bench-airflow-pw
AUTOML_AIRFLOW_PARSE_WAIT_MS=2000
AUTOML_DAGS_DIR=$TMP/dags
AUTOML_TEMPLATES_DIR=$TMP/templates
AUTOML_MLFLOW_TRACKING_URI=http://127.0.0.1:9/mlflow
AUTOML_PUBLIC_URL=http://127.0.0.1:$LPORT
AUTOML_STATUS_PSK=bench-psk-$(python3 -c 'import secrets; print(secrets.token_hex(8))')
AUTOML_JWT_SECRET=$JWT_SECRET
AUTOML_TRAIN_PYTHON=/usr/bin/python3
EOF
chmod 644 "$CONFIG"
AUTOML_CONFIG="$CONFIG" "$BUILD/automl-ctl" migrate >"$TMP/migrate.log" 2>&1 \
	|| { cat "$TMP/migrate.log" >&2; die "automl-ctl migrate failed"; }

# ---- lighttpd: mod_fastcgi, the way scripts/serve runs it --------------------
# lighttpd_start DIR PORT BIN-PATH MAX-PROCS: a lighttpd whose state lives in DIR
# (owned by the run user); its pid is appended to pids.
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
	"bin-environment" => ( "AUTOML_CONFIG" => "$CONFIG" ),
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
wait_ok "$FCGI/healthz"
wait_ok "$CGI/healthz"

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
	local i
	for i in $(seq 1 "$2"); do
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

# ---- the trigger pool: ready jobs with a DAG file each, one slice per run -----
NSLICES=$((ROUNDS * 2))
SLICE=${BENCH_TRIGGER_SLICE:-1500}
TRIG_MAX=$((SLICE - 16))   # count bound below the slice: never a job twice
log "preparing $((NSLICES * SLICE)) ready jobs for the trigger benchmark"
sql -c "INSERT INTO training_jobs (job_id, name, domain, owner, source_table, label_column,
	problem_type, algorithm, preset, status, rendered_dag, mlflow_experiment_name,
	registered_model_name, airflow_dag_id, airflow_dag_url, created_at, updated_at)
	SELECT gen_random_uuid(), 'trig', t.domain, t.owner, t.source_table, t.label_column,
	t.problem_type, t.algorithm, t.preset, 'ready', t.rendered_dag, t.mlflow_experiment_name,
	t.registered_model_name, 'bench_trigger_' || g, t.airflow_dag_url || '_t' || g,
	t.created_at - interval '1 year' - g * interval '1 second', t.created_at
	FROM training_jobs t, generate_series(1, $((NSLICES * SLICE))) g WHERE t.job_id = '$JOB_ID'"
sql -c "SELECT job_id FROM training_jobs WHERE name = 'trig' ORDER BY random()" >"$TMP/work/trig.ids"
sql -c "SELECT airflow_dag_id FROM training_jobs WHERE name = 'trig'" \
	| (cd "$TMP/dags" && sed 's/$/.py/' | xargs touch)
sed "s|^|$API/|; s|\$|/trigger|" "$TMP/work/trig.ids" | split -d -a 2 -l "$SLICE" - "$TMP/work/trig."
sql -c "VACUUM ANALYZE training_jobs"

# ---- the plan ----------------------------------------------------------------
slices=$(ls "$TMP"/work/trig.[0-9][0-9] | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().split()))')
cat >"$TMP/work/plan.json" <<EOF
{"wrk_lua": "$here/wrk.lua", "seconds": $SECS, "warmup_seconds": $WARMUP, "rounds": $ROUNDS,
 "concurrency": [1, 4],
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
   {"label": "trigger", "url": "$FCGI$API", "warmup": false, "paths_files": $slices,
    "env": {"BENCH_TOKEN": "$TOKEN", "BENCH_METHOD": "POST", "BENCH_MAX": $TRIG_MAX}}]}
 ]}
EOF

log "measuring: $ROUNDS rounds x ${SECS}s per target, concurrency 1 and 4"
python3 "$here/bench.py" measure "$TMP/work/plan.json" "$TMP/work/measure.json" >&2

queued=$(sql -c "SELECT count(*) FROM training_jobs WHERE name = 'trig' AND status = 'queued'")
log "trigger pool: $queued jobs now queued"

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
wrkv = (out("wrk", "-v") or "wrk").splitlines()[0].split(" [")[0]
json.dump({"date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "command": """$COMMAND""",
           "nproc": out("nproc"), "cpu": cpu, "loadavg": "$LOAD_BEFORE", "commit": commit,
           "cflags": "$CFLAGS_USED", "wrk": wrkv, "jobs": $NJOBS,
           "libs": len([l for l in out("ldd", "$BUILD/automl-api").splitlines() if "=>" in l]),
           "servers": "%s with mod_fastcgi, max-procs $PROCS; %s with mod_cgid (event MPM); "
                      "PostgreSQL %s (fsync off); Airflow test double"
                      % (out("$LIGHTTPD", "-v").split(" - ")[0], out("$APACHE", "-v").splitlines()[0].split(": ")[-1],
                         out("psql", "--version").split()[-1])},
          open(sys.argv[1], "w"))
EOF
rc=0
python3 "$here/bench.py" report "$TMP/work/meta.json" "$TMP/work/measure.json" \
	"$TMP/work/walk.json" "$TMP/work/rows.json" "$TMP/work/callgrind.json" \
	"$TMP/work/callgrind-fcgi.json" >"$TMP/work/results.md" || rc=$?
cp "$TMP/work/results.md" "$RESULTS"
log "wrote $RESULTS"
[ "$rc" -eq 0 ] || die "some requests failed (see the errors column in $RESULTS)"
