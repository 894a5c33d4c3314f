#!/usr/bin/env bash
# run.sh - the integration tier (TAP, run by `make check`): drives the built
# automl-api through a real lighttpd (mod_fastcgi) and a real Apache (mod_fcgid
# at the root, mod_cgid under /cgi-bin/) against a private PostgreSQL cluster
# and the Airflow test double, then checks the server processes' sanitizer or
# valgrind reports. Everything it starts is stopped on exit, whatever happens.
#
# Environment: top_srcdir, top_builddir (set by make check; default: the tree
# this file is in); AUTOML_TEST_PYTHON (default: the test virtualenv made by
# scripts/install-deps); AUTOML_TEST_VALGRIND=1 runs the FastCGI processes under
# valgrind; AUTOML_TEST_KEEP=1 keeps the temp dir (it is kept after a failure too);
# AUTOML_TEST_TMPDIR (default /tmp) holds it; PYTEST_ADDOPTS passes through.
set -uo pipefail
# lighttpd, apache2, runuser live in sbin, which a CI environment may not list
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "${top_srcdir:-$here/../..}" && pwd)
top_builddir=$(cd "${top_builddir:-$top_srcdir}" && pwd)
VALGRIND=${AUTOML_TEST_VALGRIND:-0}
PY=${AUTOML_TEST_PYTHON:-${AUTOML_VENV_DIR:-/opt/automl/venvs}/test/bin/python}
APACHE_MODDIR=${APACHE_MODDIR:-/usr/lib/apache2/modules}
RUN_USER=www-data
TMP=""
failed=0
pids=()
apache_conf=""

ntap=0   # TAP results so far; the plan is printed last

bail() {
	echo "Bail out! $*"
	exit 1
}
diag() { sed 's/^/# /'; }
# tap ok|not-ok DESCRIPTION
tap() {
	ntap=$((ntap + 1))
	if [ "$1" = ok ]; then
		echo "ok $ntap - $2"
	else
		failed=1
		echo "not ok $ntap - $2"
	fi
}

# ---- dependencies: fail loudly ------------------------------------------
for b in automl-api automl-ctl tests/integration/test_store; do
	[ -x "$top_builddir/$b" ] || bail "$top_builddir/$b not built (run make first)"
done
LIGHTTPD=$(command -v lighttpd) || bail "lighttpd not installed (scripts/install-deps)"
APACHE=$(command -v apache2) || bail "apache2 not installed (scripts/install-deps)"
[ -x "$APACHE" ] || bail "apache2 not installed (scripts/install-deps)"
for m in mpm_event authz_core alias env cgid fcgid; do
	[ -f "$APACHE_MODDIR/mod_$m.so" ] || bail "Apache module mod_$m missing ($APACHE_MODDIR; libapache2-mod-fcgid?)"
done
id "$RUN_USER" >/dev/null 2>&1 || bail "user $RUN_USER does not exist"
[ "$(id -u)" -eq 0 ] || bail "must run as root (the web servers drop to $RUN_USER)"
[ -x "$PY" ] || bail "test python $PY missing (scripts/install-deps makes the test venv)"
"$PY" -c 'import pytest, requests, jwt, cryptography, psycopg' 2>/dev/null \
	|| bail "test python $PY lacks pytest/requests/PyJWT/cryptography/psycopg"
[ -f "$top_srcdir/tests/lib/pg.sh" ] || bail "tests/lib/pg.sh missing"
[ -f "$top_srcdir/tests/airflow_double.py" ] || bail "tests/airflow_double.py missing"
if [ "$VALGRIND" = 1 ]; then
	command -v valgrind >/dev/null || bail "valgrind not installed"
fi

# alive PID: running and not a zombie
alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $st in Z*) return 1 ;; esac
	return 0
}

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---- teardown ------------------------------------------------------------
# After a failure, the logs worth reading go to the build tree (the temp dir,
# with its database, is removed unless AUTOML_TEST_KEEP=1).
keep_logs() {
	local dest="$top_builddir/tests/integration/integ-logs" f
	rm -rf "$dest"
	mkdir -p "$dest" || return 0
	for f in pytest.out test_store.out migrate.out airflow.log dispatch.log automl.conf \
		lighttpd/error.log lighttpd/access.log lighttpd/lighttpd.conf \
		apache/error.log apache/access.log apache/apache.conf pg/server.log; do
		[ -f "$TMP/$f" ] && cp "$TMP/$f" "$dest/${f//\//-}"
	done
	cp -r "$TMP/san" "$TMP/valgrind" "$dest/" 2>/dev/null
	echo "# logs kept in $dest"
}

cleanup() {
	local rc=$? p
	set +e
	if [ -n "$apache_conf" ] && [ -f "$TMP/apache/apache.pid" ]; then
		p=$(cat "$TMP/apache/apache.pid" 2>/dev/null)
		"$APACHE" -f "$apache_conf" -k stop >/dev/null 2>&1
		for _ in $(seq 1 100); do
			[ -n "$p" ] && alive "$p" || break
			sleep 0.1
		done
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null
	fi
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		for _ in $(seq 1 100); do
			alive "$p" || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$TMP" ]; then
		bash "$top_srcdir/tests/lib/pg.sh" stop "$TMP/pg" >/dev/null 2>&1
		if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ]; then
			keep_logs
		fi
		if [ "${AUTOML_TEST_KEEP:-0}" = 1 ]; then
			echo "# temp dir kept: $TMP"
		else
			rm -rf "$TMP"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Under /tmp (not $TMPDIR): www-data and postgres must reach it, and unix
# socket paths must stay short.
TMP=$(mktemp -d "${AUTOML_TEST_TMPDIR:-/tmp}/automl-integ.XXXXXX") || bail "mktemp failed"
chmod 755 "$TMP"
echo "# temp dir $TMP, build $top_builddir, source $top_srcdir"

# ---- PostgreSQL ------------------------------------------------------------
DBURL=$(bash "$top_srcdir/tests/lib/pg.sh" start "$TMP/pg" 2>"$TMP/pg.err") \
	|| { diag <"$TMP/pg.err"; bail "pg.sh start failed"; }
case $DBURL in
postgres://* | postgresql://*) STORE_DBURL="${DBURL%%\?*}"; STORE_DBURL="${STORE_DBURL%/*}/automl_store_test" ;;
*) STORE_DBURL="$DBURL dbname=automl_store_test" ;;
esac
"$PY" -c 'import sys, psycopg; psycopg.connect(sys.argv[1], autocommit=True).execute("CREATE DATABASE automl_store_test")' \
	"$DBURL" 2>"$TMP/pg.err" || { diag <"$TMP/pg.err"; bail "cannot create the store test database"; }

# ---- test 1: the store against a real PostgreSQL ---------------------------
AUTOML_DATABASE_URL="$STORE_DBURL" "$top_builddir/tests/integration/test_store" >"$TMP/test_store.out" 2>&1
store_rc=$?
diag <"$TMP/test_store.out"
# one TAP result per test_store result, renumbered into this stream
st_n=0
while IFS= read -r line; do
	case $line in
	"ok "*) st_n=$((st_n + 1)); tap ok "test_store: $(echo "$line" | sed -E 's/^ok [0-9]+ ?-? ?//')" ;;
	"not ok "*) st_n=$((st_n + 1)); tap not-ok "test_store: $(echo "$line" | sed -E 's/^not ok [0-9]+ ?-? ?//')" ;;
	esac
done <"$TMP/test_store.out"
st_plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$TMP/test_store.out" | head -n 1)
if [ "$store_rc" -ne 0 ] || [ -z "$st_plan" ] || [ "$st_plan" -ne "$st_n" ] || [ "$st_n" -eq 0 ]; then
	tap not-ok "test_store: exit status $store_rc, $st_n results for plan ${st_plan:-none}"
fi

# ---- keys, DAGs, configuration ---------------------------------------------
mkdir -p "$TMP/keys" "$TMP/dags" "$TMP/templates" "$TMP/san" "$TMP/valgrind" "$TMP/bin" \
	"$TMP/lighttpd/htdocs" "$TMP/lighttpd/upload" \
	"$TMP/apache/htdocs" "$TMP/apache/run" "$TMP/apache/fcgid" "$TMP/apache/fcgi-bin" "$TMP/apache/cgi-bin"
"$PY" "$here/mkkeys.py" "$TMP/keys" || bail "mkkeys.py failed"
cp "$top_srcdir"/share/dags/*.py.in "$TMP/templates/" || bail "no DAG templates in $top_srcdir/share/dags"
# The servers run as www-data: give them copies of the binary they may execute
# and folders they may read (DAG templates) or write (DAGs, sanitizer logs).
for d in "$TMP/bin" "$TMP/apache/fcgi-bin" "$TMP/apache/cgi-bin"; do
	install -m 755 "$top_builddir/automl-api" "$d/automl-api"
done
chmod 755 "$TMP/keys" "$TMP/templates" "$TMP/bin" "$TMP/apache" "$TMP/apache/htdocs" \
	"$TMP/apache/fcgi-bin" "$TMP/apache/cgi-bin" "$TMP/lighttpd/htdocs"
chmod 644 "$TMP/keys/jwks.json" "$TMP"/templates/*
chmod 1777 "$TMP/dags" "$TMP/san" "$TMP/valgrind"
chown -R "$RUN_USER:" "$TMP/lighttpd" "$TMP/apache/run" "$TMP/apache/fcgid"

AF_PORT_FILE="$TMP/airflow.port"
"$PY" "$top_srcdir/tests/airflow_double.py" --port 0 --dags-dir "$TMP/dags" \
	--user automl --password af-secret-pw >"$AF_PORT_FILE" 2>"$TMP/airflow.log" &
pids+=($!)
for _ in $(seq 1 100); do
	grep -q '^PORT ' "$AF_PORT_FILE" && break
	sleep 0.1
done
AF_PORT=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$AF_PORT_FILE")
[ -n "$AF_PORT" ] || { diag <"$TMP/airflow.log"; bail "the Airflow double did not start"; }

LIGHTTPD_PORT=$(free_port)
APACHE_PORT=$(free_port)
while [ "$APACHE_PORT" = "$LIGHTTPD_PORT" ]; do APACHE_PORT=$(free_port); done

CONFIG="$TMP/automl.conf"
cat >"$CONFIG" <<EOF
AUTOML_DATABASE_URL=$DBURL
AUTOML_AIRFLOW_URL=http://127.0.0.1:$AF_PORT
AUTOML_AIRFLOW_API=v2
AUTOML_AIRFLOW_USER=automl
AUTOML_AIRFLOW_PASSWORD=af-secret-pw
AUTOML_AIRFLOW_UI_URL=http://airflow-ui.integ.test:8080
AUTOML_AIRFLOW_TIMEOUT_MS=1500
AUTOML_AIRFLOW_CONNECT_TIMEOUT_MS=1000
AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS=1000
AUTOML_DISPATCH_POLL_S=1
AUTOML_DAGS_DIR=$TMP/dags
AUTOML_TEMPLATES_DIR=$TMP/templates
AUTOML_MLFLOW_TRACKING_URI=http://127.0.0.1:$AF_PORT
AUTOML_PUBLIC_URL=http://127.0.0.1:$LIGHTTPD_PORT
AUTOML_STATUS_PSK=integ-psk-6d1f0c2a9b
AUTOML_JWT_SECRET=integ-hs256-secret-0123456789abcdef-0123456789
AUTOML_JWKS_FILE=$TMP/keys/jwks.json
AUTOML_JWT_ISSUER=https://issuer.integ.test/
AUTOML_JWT_AUDIENCE=automl-api
AUTOML_TRAIN_PYTHON=/usr/bin/python3
AUTOML_MAX_BODY=65536
AUTOML_RECONCILE_INTERVAL_S=0
AUTOML_LOG_LEVEL=debug
EOF
chmod 644 "$CONFIG"

# Sanitizer reports of every server-side process go to files we check at the end
# (an ASan/UBSan build writes nothing there otherwise; harmless for other builds).
ASAN_OPTS="log_path=$TMP/san/asan:detect_leaks=1:abort_on_error=0"
UBSAN_OPTS="log_path=$TMP/san/ubsan:print_stacktrace=1:halt_on_error=1"

echo "# migrate"
AUTOML_CONFIG="$CONFIG" ASAN_OPTIONS="$ASAN_OPTS" UBSAN_OPTIONS="$UBSAN_OPTS" \
	"$top_builddir/automl-ctl" migrate >"$TMP/migrate.out" 2>&1
mrc=$?
diag <"$TMP/migrate.out"
[ "$mrc" -eq 0 ] || bail "automl-ctl migrate failed (exit $mrc)"

# ---- lighttpd ----------------------------------------------------------------
API_CMD="$TMP/bin/automl-api"
# automl-ctl as the tests run the long-lived dispatcher (under valgrind too)
CTL_CMD="$top_builddir/automl-ctl"
MAXPROCS=4
if [ "$VALGRIND" = 1 ]; then
	API_CMD="$TMP/bin/automl-api-valgrind"
	CTL_CMD="$TMP/bin/automl-ctl-valgrind"
	for prog in automl-api automl-ctl; do
		target="$TMP/bin/$prog"
		[ "$prog" = automl-ctl ] && target="$top_builddir/automl-ctl"
		cat >"$TMP/bin/$prog-valgrind" <<EOF
#!/bin/sh
exec valgrind --leak-check=full --show-leak-kinds=definite,indirect \\
	--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \\
	--log-file=$TMP/valgrind/vg.%p.log $target "\$@"
EOF
		chmod 755 "$TMP/bin/$prog-valgrind"
	done
fi
render() {
	sed -e "s|@TMP@|$TMP|g" -e "s|@LIGHTTPD_PORT@|$LIGHTTPD_PORT|g" \
		-e "s|@APACHE_PORT@|$APACHE_PORT|g" -e "s|@API_CMD@|$API_CMD|g" \
		-e "s|@CONFIG@|$CONFIG|g" -e "s|@MAXPROCS@|$MAXPROCS|g" \
		-e "s|@RUN_USER@|$RUN_USER|g" -e "s|@APACHE_MODDIR@|$APACHE_MODDIR|g" \
		-e "s|@ASAN_OPTIONS@|$ASAN_OPTS|g" -e "s|@UBSAN_OPTIONS@|$UBSAN_OPTS|g" "$1"
}
render "$here/lighttpd.conf.in" >"$TMP/lighttpd/lighttpd.conf"
"$LIGHTTPD" -tt -f "$TMP/lighttpd/lighttpd.conf" >"$TMP/lighttpd/check.out" 2>&1 \
	|| { diag <"$TMP/lighttpd/check.out"; bail "lighttpd rejects its configuration"; }
"$LIGHTTPD" -D -f "$TMP/lighttpd/lighttpd.conf" >"$TMP/lighttpd/stdout.log" 2>&1 &
pids+=($!)

# ---- Apache ------------------------------------------------------------------
apache_conf="$TMP/apache/apache.conf"
render "$here/apache.conf.in" >"$apache_conf"
"$APACHE" -t -f "$apache_conf" >"$TMP/apache/check.out" 2>&1 \
	|| { diag <"$TMP/apache/check.out"; bail "Apache rejects its configuration"; }
"$APACHE" -f "$apache_conf" -k start >"$TMP/apache/start.out" 2>&1 \
	|| { diag <"$TMP/apache/start.out"; bail "Apache did not start"; }

wait_http() { # URL SECONDS
	for _ in $(seq 1 $(($2 * 10))); do
		if "$PY" -c 'import sys, requests; requests.get(sys.argv[1], timeout=5); sys.exit(0)' "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}
WAIT=30
[ "$VALGRIND" = 1 ] && WAIT=120
show_logs() {
	local f
	for f in "$TMP/lighttpd/error.log" "$TMP/lighttpd/stdout.log" "$TMP/apache/error.log" "$TMP/airflow.log" "$TMP/dispatch.log"; do
		[ -s "$f" ] || continue
		echo "# ---- $f (last 40 lines)"
		tail -n 40 "$f" | diag
	done
}
wait_http "http://127.0.0.1:$LIGHTTPD_PORT/healthz" "$WAIT" || { show_logs; bail "lighttpd does not answer"; }
wait_http "http://127.0.0.1:$APACHE_PORT/healthz" "$WAIT" || { show_logs; bail "Apache does not answer"; }

# ---- test 2: pytest --------------------------------------------------------------
export AUTOML_TEST_CONFIG="$CONFIG"
export AUTOML_TEST_KEYS_DIR="$TMP/keys"
export AUTOML_TEST_LIGHTTPD_URL="http://127.0.0.1:$LIGHTTPD_PORT"
export AUTOML_TEST_APACHE_URL="http://127.0.0.1:$APACHE_PORT"
export AUTOML_TEST_APACHE_CGI_URL="http://127.0.0.1:$APACHE_PORT/cgi-bin/automl-api"
export AUTOML_TEST_AIRFLOW_URL="http://127.0.0.1:$AF_PORT"
export AUTOML_TEST_API_BIN="$TMP/bin/automl-api"
export AUTOML_TEST_CTL_BIN="$top_builddir/automl-ctl"
export AUTOML_TEST_CTL_RUN="$CTL_CMD"
export AUTOML_TEST_PG_SH="$top_srcdir/tests/lib/pg.sh"
export AUTOML_TEST_PG_DIR="$TMP/pg"
export AUTOML_TEST_DATABASE_URL="$DBURL"
export AUTOML_TEST_DAGS_DIR="$TMP/dags"
export AUTOML_TEST_VALGRIND="$VALGRIND"
export ASAN_OPTIONS="$ASAN_OPTS" UBSAN_OPTIONS="$UBSAN_OPTS"
export PYTHONDONTWRITEBYTECODE=1

echo "# pytest"
(cd "$TMP" && "$PY" -m pytest -p no:cacheprovider --rootdir="$here" -rfE --tb=short \
	--junitxml="$TMP/junit.xml" "$here") >"$TMP/pytest.out" 2>&1
prc=$?
diag <"$TMP/pytest.out"
# one TAP result per pytest test, from the JUnit XML
"$PY" - "$TMP/junit.xml" >"$TMP/pytest.tap" <<'EOF2'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as e:
    print("not-ok\tpytest wrote no JUnit XML (%s)" % e)
    sys.exit(0)
for case in root.iter("testcase"):
    name = "%s::%s" % (case.get("classname", "").rsplit(".", 1)[-1], case.get("name"))
    name = name.replace("\\", "\\\\").replace("#", "\\#").replace("\t", " ").replace("\n", " ")
    bad = [c for c in case if c.tag in ("failure", "error")]
    skipped = [c for c in case if c.tag == "skipped"]
    if bad:
        print("not-ok\t%s" % name)
    elif skipped:
        print("not-ok\t%s (skipped: nothing may be skipped here)" % name)
    else:
        print("ok\t%s" % name)
EOF2
n_pass=0
n_fail=0
while IFS=$'\t' read -r res name; do
	tap "$res" "pytest: $name"
	if [ "$res" = ok ]; then n_pass=$((n_pass + 1)); else n_fail=$((n_fail + 1)); fi
done <"$TMP/pytest.tap"
echo "# pytest: $n_pass passed, $n_fail failed (exit $prc)"
if [ "$((n_pass + n_fail))" -eq 0 ]; then
	tap not-ok "pytest: no tests ran (exit status $prc)"
elif [ "$prc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then
	tap not-ok "pytest: exit status $prc without a failed test"
fi
[ "$n_fail" -eq 0 ] && [ "$prc" -eq 0 ] || show_logs

# ---- stop the servers, then read what the sanitizers / valgrind saw ------------
"$APACHE" -f "$apache_conf" -k stop >/dev/null 2>&1
for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null; done
for _ in $(seq 1 300); do
	busy=0
	[ -f "$TMP/apache/apache.pid" ] && alive "$(cat "$TMP/apache/apache.pid")" && busy=1
	for p in "${pids[@]:1}"; do alive "$p" && busy=1; done
	# FastCGI children (valgrind writes its summary when they exit)
	if pgrep -f "$TMP/bin/automl-api" >/dev/null 2>&1; then busy=1; fi
	[ "$busy" = 0 ] && break
	sleep 0.2
done

bad=0
for f in "$TMP"/san/*; do
	[ -e "$f" ] || continue
	echo "# ---- sanitizer report $f"
	diag <"$f"
	bad=1
done
if [ "$VALGRIND" = 1 ]; then
	nlogs=0
	for f in "$TMP"/valgrind/vg.*.log; do
		[ -e "$f" ] || continue
		nlogs=$((nlogs + 1))
		if ! grep -q 'ERROR SUMMARY: 0 errors' "$f" \
			|| grep -Eq '(definitely|indirectly) lost: [1-9]' "$f"; then
			echo "# ---- valgrind report $f"
			diag <"$f"
			bad=1
		fi
	done
	echo "# $nlogs valgrind logs"
	[ "$nlogs" -gt 0 ] || { echo "# no valgrind logs were written"; bad=1; }
	grep -L 'ERROR SUMMARY' "$TMP"/valgrind/vg.*.log 2>/dev/null | sed 's/^/# unfinished valgrind log: /'
fi
if [ "$bad" = 0 ]; then
	tap ok "server processes: no sanitizer or valgrind reports"
else
	tap not-ok "server processes: sanitizer or valgrind reports (above)"
fi
echo "1..$ntap"
exit 0
