# shellcheck shell=bash
# Shared by scripts/quickstart and tests/e2e/run.sh (sourced after common.sh):
# build the programs, start the backing stack and lighttpd + automl-api, and
# leave the service's AUTOML_* configuration exported in the caller's shell.

# bring_up BUILD_DIR PORT
bring_up() {
	local build="$1" port="$2" secrets
	cd "$AUTOML_REPO_ROOT" || return 1
	log "building automl-api and automl-ctl in ${build#"$AUTOML_REPO_ROOT"/}"
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		autoreconf -fi
	fi
	mkdir -p "$build"
	[ -f "$build/Makefile" ] || (cd "$build" && "$AUTOML_REPO_ROOT/configure" -q)
	make -C "$build" -j2 -s automl-api automl-ctl

	log "starting PostgreSQL, MLflow and Airflow"
	"$AUTOML_REPO_ROOT/scripts/stack" up
	eval "$("$AUTOML_REPO_ROOT/scripts/stack" env)"

	secrets="$AUTOML_STATE_DIR/secrets"
	if [ ! -s "$secrets/jwt-secret" ]; then
		mkdir -p "$secrets" && chmod 700 "$secrets"
		(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$secrets/jwt-secret")
	fi
	export AUTOML_JWT_SECRET_FILE="$secrets/jwt-secret"
	export AUTOML_PUBLIC_URL="http://127.0.0.1:$port"
	export AUTOML_API_PORT="$port" AUTOML_BUILD_DIR="$build"

	log "creating the service's schema and starting lighttpd + automl-api on port $port"
	"$build/automl-ctl" migrate
	"$AUTOML_REPO_ROOT/scripts/serve" up
}
