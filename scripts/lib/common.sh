# shellcheck shell=bash
# Shared shell helpers for the project's scripts (sourced, not executed).
# Provides logging, repository/state/venv locations and a lock-file driven
# virtualenv builder that rebuilds a venv only when its lock file changes.

# Repository root: the parent of the scripts/ folder this file lives in.
AUTOML_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
AUTOML_VENV_DIR="${AUTOML_VENV_DIR:-/opt/automl/venvs}"
AUTOML_STATE_DIR="${AUTOML_STATE_DIR:-$AUTOML_REPO_ROOT/.state}"
# Interpreter for every virtualenv: the distribution's Python 3.
AUTOML_BASE_PYTHON="${AUTOML_BASE_PYTHON:-/usr/bin/python3}"

log() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# file_hash FILE...: one sha256 over the given files' contents.
file_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }

# ensure_venv NAME LOCKFILE: make $AUTOML_VENV_DIR/NAME from LOCKFILE.
# The venv keeps a stamp with the hash of the lock file and the interpreter
# version; when either differs, the venv is removed and built again.
ensure_venv() {
	local name="$1" lock="$2"
	local dir="$AUTOML_VENV_DIR/$name"
	local stamp="$dir/.automl-lock-stamp"
	local want pyver t0
	[ -f "$lock" ] || die "lock file missing: $lock"
	pyver="$("$AUTOML_BASE_PYTHON" -c 'import sys; print(sys.version)')" ||
		die "cannot run $AUTOML_BASE_PYTHON"
	want="$(file_hash "$lock") $pyver"
	if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		log "venv $name is up to date ($dir)"
		return 0
	fi
	t0=$SECONDS
	log "building venv $name in $dir from ${lock#"$AUTOML_REPO_ROOT"/}"
	rm -rf "$dir"
	mkdir -p "$AUTOML_VENV_DIR"
	"$AUTOML_BASE_PYTHON" -m venv "$dir"
	"$dir/bin/python" -m pip install --quiet --no-input --upgrade 'pip>=24' ||
		die "pip upgrade failed in venv $name"
	"$dir/bin/python" -m pip install --quiet --no-input --only-binary=:all: \
		-r "$lock" || die "pip install failed in venv $name"
	"$dir/bin/python" -m pip check >&2 || die "pip check failed in venv $name"
	printf '%s' "$want" >"$stamp"
	log "venv $name built in $((SECONDS - t0)) s"
}
