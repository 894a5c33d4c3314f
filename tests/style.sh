#!/usr/bin/env bash
# style.sh - the style tier of `make check` (TAP): scripts/checksrc on src/
# (purpose comments, line length, banned calls, no assignment in conditions,
# includes only downward), shellcheck on every shell script, ruff on every
# Python file (ruff.toml). A missing tool is a failure, never a skip.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "${top_srcdir:-$here/..}" && pwd)
RUFF=${AUTOML_RUFF:-${AUTOML_VENV_DIR:-/opt/automl/venvs}/test/bin/ruff}
n=0
result() { # ok|not-ok DESCRIPTION [OUTPUT-FILE]
	n=$((n + 1))
	if [ "$1" = ok ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		[ -n "${3:-}" ] && sed 's/^/# /' "$3"
	fi
}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

if python3 "$top_srcdir/scripts/checksrc" >"$out" 2>&1; then
	result ok "checksrc: src/ follows the house style"
else
	result not-ok "checksrc: src/ follows the house style" "$out"
fi

cd "$top_srcdir" || exit 1
shell_scripts=(.ci/run scripts/dev-token scripts/install-deps scripts/quickstart scripts/serve
	scripts/stack scripts/test scripts/lib/*.sh tests/lib/pg.sh tests/e2e/run.sh tests/fuzz/build.sh
	tests/integration/run.sh tests/style.sh bench/run.sh bench/stack-airflow.sh scripts/gen-algorithms)
existing=()
for f in "${shell_scripts[@]}"; do [ -f "$f" ] && existing+=("$f"); done
if ! command -v shellcheck >/dev/null; then
	echo "shellcheck: not installed (scripts/install-deps installs it)" >"$out"
	result not-ok "shellcheck: the shell scripts" "$out"
elif shellcheck -S warning -x "${existing[@]}" >"$out" 2>&1; then
	result ok "shellcheck: ${#existing[@]} shell scripts"
else
	result not-ok "shellcheck: the shell scripts" "$out"
fi

if [ ! -x "$RUFF" ]; then
	echo "ruff: $RUFF missing (scripts/install-deps puts it into the test virtualenv)" >"$out"
	result not-ok "ruff: the Python code" "$out"
elif "$RUFF" check --no-cache --config ruff.toml python tests bench scripts/checksrc \
	scripts/load-sample-data >"$out" 2>&1; then
	result ok "ruff: the Python code"
else
	result not-ok "ruff: the Python code" "$out"
fi
echo "1..$n"
