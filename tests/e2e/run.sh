#!/usr/bin/env bash
# The end-to-end tier: a real Airflow 3 and a real MLflow (scripts/stack), the
# built automl-api behind a real lighttpd (scripts/serve), the sample tables in
# the warehouse, then pytest drives tests/e2e/test_*.py through HTTP only.
# Prints pytest's summary and a TAP-style closing line; exit 0 only when all passed.
# Environment: AUTOML_BUILD_DIR (default <repo>/build), AUTOML_API_PORT (58000).
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/common.sh"
. "$AUTOML_REPO_ROOT/scripts/lib/bringup.sh"

BUILD="${AUTOML_BUILD_DIR:-$AUTOML_REPO_ROOT/build}"
PORT="${AUTOML_API_PORT:-58000}"
PY="$AUTOML_VENV_DIR/test/bin/python"
[ -x "$PY" ] || die "no test virtualenv: run scripts/install-deps"
[ -x "$AUTOML_VENV_DIR/airflow/bin/airflow" ] || die "no Airflow virtualenv: run scripts/install-deps --python"

T0=$SECONDS
# DAG files of jobs that ended are retired after 30 s (tested, and it keeps the
# dag-processor's folder small after the 200-job test); serve restarts so that
# its dispatcher runs with this configuration.
export AUTOML_DAG_RETENTION_S=30
"$AUTOML_REPO_ROOT/scripts/serve" down >/dev/null 2>&1 || true
bring_up "$BUILD" "$PORT"
log "loading the sample tables"
"$AUTOML_REPO_ROOT/scripts/load-sample-data" "$AUTOML_WAREHOUSE_URL"
log "stack ready after $((SECONDS - T0)) s; running the end-to-end tests"

export AUTOML_E2E_API="http://127.0.0.1:$PORT"
set +e
"$PY" -m pytest -p no:cacheprovider -v -rA "$AUTOML_REPO_ROOT/tests/e2e" 2>&1 | tee "$AUTOML_STATE_DIR/e2e-pytest.log"
rc=${PIPESTATUS[0]}
set -e
log "end-to-end tier took $((SECONDS - T0)) s (pytest exit $rc)"
if [ "$rc" -ne 0 ]; then
	log "service log tail:"
	tail -n 40 "$AUTOML_STATE_DIR/serve/automl-api.log" >&2 || true
	log "dispatcher log tail:"
	tail -n 40 "$AUTOML_STATE_DIR/serve/dispatch.log" >&2 || true
fi
exit "$rc"
