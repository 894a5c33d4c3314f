#!/usr/bin/env bash
# stack-airflow.sh - the real-Airflow part of the benchmarks: the dag-processor's
# CPU and the time from create (auto-trigger) to the Airflow run being started,
# with 100 and then 1000 jobs (one DAG file each) of its own in the DAGs folder.
#
# Usage: bench/stack-airflow.sh          (as root, after `scripts/stack up` and a build
#                                         in build/ or $AUTOML_BUILD_DIR)
# Uses the stack's Airflow, PostgreSQL and DAGs folder (scripts/stack env) and a
# private instance of the service, configured like `scripts/serve` does it (lighttpd
# with mod_fastcgi, 2 processes, and `automl-ctl dispatch`) on a free port, with a
# JWT secret of its own: a `scripts/serve` that others use is left alone. Its jobs
# live in a domain of their own (bench_stack_<time>); on exit, also on failure or
# Ctrl-C, their DAG files, their DAGs in Airflow and their rows are removed and the
# private service is stopped. Other files in the DAGs folder are left alone, and
# counted (they cost the dag-processor too).
# Environment: STACK_BENCH_SIZES ("100 1000"), STACK_BENCH_PROBES (5),
#   STACK_BENCH_CPU_SECONDS (60), STACK_BENCH_SETTLE_SECONDS (20),
#   BENCH_RESULTS (bench/results.md: the block between the stack-airflow markers
#   is replaced; bench/run.sh keeps it).
# About 7 minutes with the defaults, most of it waiting for Airflow to parse.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$here/.." && pwd)
SIZES=${STACK_BENCH_SIZES:-100 1000}
PROBES=${STACK_BENCH_PROBES:-5}
CPU_SECS=${STACK_BENCH_CPU_SECONDS:-60}
SETTLE=${STACK_BENCH_SETTLE_SECONDS:-20}
RESULTS=${BENCH_RESULTS:-$here/results.md}
STATE=${AUTOML_STATE_DIR:-$SRC/.state}

log() { echo "stack-bench: [${SECONDS}s] $*" >&2; }
die() { echo "stack-bench: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
command -v jq >/dev/null || die "jq missing (scripts/install-deps)"
"$SRC/scripts/stack" status >/dev/null 2>&1 || true
eval "$("$SRC/scripts/stack" env)"
curl -fsS -o /dev/null "$AUTOML_AIRFLOW_URL/api/v2/version" 2>/dev/null \
	|| die "Airflow does not answer at $AUTOML_AIRFLOW_URL: run scripts/stack up"
DAGS=$AUTOML_DAGS_DIR
DP_PIDFILE=$STATE/run/airflow-dag-processor.pid
[ -f "$DP_PIDFILE" ] || die "no dag-processor pid file ($DP_PIDFILE)"

# the build of bench/run.sh (plain -O2), made here the same way if missing
BUILD=${AUTOML_BUILD_DIR:-$here/.build}
if [ ! -x "$BUILD/automl-api" ] || [ ! -x "$BUILD/automl-ctl" ]; then
	[ -x "$SRC/configure" ] || (cd "$SRC" && autoreconf -fi >/dev/null 2>&1) || die "autoreconf failed"
	mkdir -p "$BUILD"
	[ -f "$BUILD/Makefile" ] || (cd "$BUILD" && "$SRC/configure" -q) || die "configure failed"
	make -C "$BUILD" -s -j"$(nproc)" automl-api automl-ctl >&2 || die "build failed"
fi
LIGHTTPD=$(command -v lighttpd || echo /usr/sbin/lighttpd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/automl-stack-bench.XXXXXX")
pids=()
DOMAIN=""
AF_TOKEN=""
cleanup() {
	local rc=$? n p
	set +e
	if [ -n "$DOMAIN" ]; then
		log "cleaning up domain $DOMAIN"
		n=$(find "$DAGS" -maxdepth 1 -name "automl_${DOMAIN}_*.py" | wc -l)
		find "$DAGS" -maxdepth 1 -name "automl_${DOMAIN}_*.py" -delete
		# the DAGs in Airflow's database, then the jobs
		[ -z "$AF_TOKEN" ] || python3 "$here/stack_bench.py" delete-dags "$AUTOML_AIRFLOW_URL" "$AF_TOKEN" "automl_${DOMAIN}_" >&2
		psql "$AUTOML_DATABASE_URL" -X -q -c "DELETE FROM training_jobs WHERE domain = '$DOMAIN'" >&2
		log "removed $n DAG files and the jobs of $DOMAIN"
	fi
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	if [ "$rc" -eq 0 ]; then rm -rf "$WORK"; else log "work dir kept: $WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
mkdir -p "$WORK/svc/htdocs"
(
	umask 077
	for key in AUTOML_DATABASE_URL AUTOML_AIRFLOW_URL AUTOML_AIRFLOW_API AUTOML_AIRFLOW_USER \
		AUTOML_AIRFLOW_PASSWORD AUTOML_DAGS_DIR AUTOML_MLFLOW_TRACKING_URI AUTOML_STATUS_PSK \
		AUTOML_TRAIN_PYTHON AUTOML_WAREHOUSE_CONN_ID; do
		[ -z "${!key:-}" ] || printf '%s=%s\n' "$key" "${!key}"
	done
	printf 'AUTOML_TEMPLATES_DIR=%s\nAUTOML_PUBLIC_URL=http://127.0.0.1:%s\nAUTOML_JWT_SECRET=%s\n' \
		"$SRC/share/dags" "$PORT" "$JWT_SECRET"
) >"$WORK/svc/automl.conf"
cat >"$WORK/svc/lighttpd.conf" <<EOF
server.modules = ( "mod_fastcgi" )
server.document-root = "$WORK/svc/htdocs"
server.bind = "127.0.0.1"
server.port = $PORT
server.pid-file = "$WORK/svc/lighttpd.pid"
server.errorlog = "$WORK/svc/error.log"
fastcgi.server = ( "/" => ((
	"socket" => "$WORK/svc/automl-api.sock",
	"bin-path" => "$BUILD/automl-api",
	"bin-environment" => ( "AUTOML_CONFIG" => "$WORK/svc/automl.conf" ),
	"check-local" => "disable",
	"fix-root-scriptname" => "enable",
	"max-procs" => 2,
)))
EOF
AUTOML_CONFIG="$WORK/svc/automl.conf" "$BUILD/automl-ctl" migrate >&2 || die "automl-ctl migrate failed"
"$LIGHTTPD" -D -f "$WORK/svc/lighttpd.conf" >"$WORK/svc/lighttpd.out" 2>&1 &
pids+=($!)
AUTOML_CONFIG="$WORK/svc/automl.conf" "$BUILD/automl-ctl" dispatch >"$WORK/svc/dispatch.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
	curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
	sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" || die "the private service does not answer"
API="http://127.0.0.1:$PORT/api/automl/train/jobs"
DOMAIN=bench_stack_$(date +%s)
log "private service on port $PORT (build $BUILD); domain $DOMAIN"
TOKEN=$(python3 "$here/bench.py" token "$JWT_SECRET" bench-stack "$DOMAIN")
AF_TOKEN=$(curl -fsS -X POST "$AUTOML_AIRFLOW_URL/auth/token" -H 'Content-Type: application/json' \
	-d "$(jq -n --arg u "$AUTOML_AIRFLOW_USER" --arg p "$AUTOML_AIRFLOW_PASSWORD" '{username: $u, password: $p}')" \
	| jq -r .access_token)
[ -n "$AF_TOKEN" ] && [ "$AF_TOKEN" != null ] || die "no Airflow token"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
FOREIGN=$(find "$DAGS" -maxdepth 1 -name '*.py' | wc -l)
log "domain $DOMAIN; $FOREIGN other DAG files in $DAGS"


have=0
for n in $SIZES; do
	log "creating $((n - have)) jobs (auto_trigger false): $n in the domain"
	python3 "$here/stack_bench.py" create "$API" "$TOKEN" "$DOMAIN" "$have" "$n" >&2
	have=$n
	log "waiting until Airflow has parsed all $n DAGs"
	python3 "$here/stack_bench.py" wait-parsed "$AUTOML_AIRFLOW_URL" "$AF_TOKEN" "automl_${DOMAIN}_" "$n" \
		>"$WORK/parsed-$n.json"
	sleep "$SETTLE"
	log "dag-processor CPU over ${CPU_SECS}s"
	python3 "$here/stack_bench.py" cpu "$(cat "$DP_PIDFILE")" "$CPU_SECS" >"$WORK/cpu-$n.json"
	log "create -> run started, $PROBES jobs one after another"
	python3 "$here/stack_bench.py" probes "$API" "$TOKEN" "$DOMAIN" "$AUTOML_AIRFLOW_URL" "$AF_TOKEN" \
		"$PROBES" "$n" >"$WORK/probes-$n.json"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
python3 "$here/stack_bench.py" report "$WORK" "$SIZES" "$FOREIGN" "$LOAD_BEFORE" "$LOAD_AFTER" \
	"$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)" >"$WORK/block.md"
python3 "$here/bench.py" stack-block "$RESULTS" "$WORK/block.md"
log "wrote the stack-Airflow section of $RESULTS"
