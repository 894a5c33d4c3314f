/* test_config.c - TAP unit tests of the configuration loader (src/config.c):
 * defaults, environment over AUTOML_CONFIG file, file syntax, *_FILE secrets,
 * number ranges, API version and URL normalisation. Uses setenv and temp files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "config.h"

extern char **environ;

static char tmpdir[512];
static int nfiles;
static char files[64][600];

/* Remove every AUTOML_* variable so each case starts from nothing. */
static void clear_env(void)
{
	for (;;) {
		char name[256];
		const char *eq;
		int found = 0;
		for (char **e = environ; e && *e; e++) {
			if (strncmp(*e, "AUTOML_", 7) != 0)
				continue;
			eq = strchr(*e, '=');
			if (!eq || (size_t)(eq - *e) >= sizeof(name))
				continue;
			memcpy(name, *e, (size_t)(eq - *e));
			name[eq - *e] = '\0';
			found = 1;
			break;
		}
		if (!found)
			return;
		unsetenv(name);
	}
}

/* Write a temp file with exactly len bytes; returns its path (static storage). */
static const char *temp_file(const char *data, size_t len)
{
	char *path;
	int fd;

	if (nfiles >= 64)
		return "/nonexistent";
	path = files[nfiles];
	snprintf(path, sizeof(files[0]), "%s/automl-test-config-XXXXXX", tmpdir);
	fd = mkstemp(path);
	if (fd < 0)
		return "/nonexistent";
	if (len && write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return "/nonexistent";
	}
	close(fd);
	nfiles++;
	return path;
}

static const char *temp_text(const char *text)
{
	return temp_file(text, strlen(text));
}

static int load(struct config *cfg, char *err, size_t errlen)
{
	err[0] = '\0';
	return config_load(cfg, err, errlen);
}

static void test_defaults(void)
{
	struct config cfg;
	char err[512];
	int rc;

	clear_env();
	rc = load(&cfg, err, sizeof(err));
	is_int(rc, 0, "empty environment loads");
	is_str(cfg.database_url, "dbname=automl", "database_url default");
	ok(cfg.airflow_url == NULL, "airflow_url unset");
	is_int(cfg.airflow_api, 2, "airflow_api default v2");
	ok(cfg.airflow_user == NULL && cfg.airflow_password == NULL, "no Airflow credentials");
	ok(cfg.airflow_ui_url == NULL, "no UI URL without an Airflow URL");
	is_int(cfg.airflow_connect_timeout_ms, 3000, "connect timeout default");
	is_int(cfg.airflow_timeout_ms, 10000, "timeout default");
	is_int(cfg.airflow_request_timeout_ms, 2000, "request timeout default");
	is_int(cfg.dispatch_deadline_s, 900, "dispatch deadline default");
	is_int(cfg.dispatch_poll_s, 5, "dispatch timer default");
	is_int(cfg.dag_retention_s, -1, "DAG retention unset = keep");
	ok(cfg.templates_dir && strlen(cfg.templates_dir) >= 5 &&
			strcmp(cfg.templates_dir + strlen(cfg.templates_dir) - 5, "/dags") == 0,
			"templates_dir default ends in /dags (%s)", cfg.templates_dir ? cfg.templates_dir : "(null)");
	ok(cfg.dags_dir == NULL && cfg.mlflow_tracking_uri == NULL && cfg.public_url == NULL,
			"dags_dir, mlflow uri, public url unset");
	ok(cfg.status_psk == NULL && cfg.jwt_secret == NULL && cfg.jwt_secret_len == 0, "no secrets");
	ok(cfg.jwks_file == NULL && cfg.jwt_issuer == NULL && cfg.jwt_audience == NULL, "no JWKS/iss/aud");
	is_str(cfg.warehouse_conn_id, "automl_warehouse", "warehouse_conn_id default");
	ok(cfg.train_python && *cfg.train_python, "train_python has a default");
	is_int(cfg.max_body, 65536, "max_body default");
	is_int(cfg.reconcile_interval_s, 5, "reconcile interval default");
	is_int(cfg.log_level, 2, "log level default info (2)");
	config_free(&cfg);
	ok(cfg.database_url == NULL, "config_free clears the struct");
	config_free(&cfg);
	ok(1, "config_free twice is harmless");
}

static void test_env(void)
{
	struct config cfg;
	char err[512];
	int rc;

	clear_env();
	setenv("AUTOML_DATABASE_URL", "postgresql://u@h/db", 1);
	setenv("AUTOML_AIRFLOW_URL", "http://127.0.0.1:8080", 1);
	setenv("AUTOML_AIRFLOW_USER", "admin", 1);
	setenv("AUTOML_AIRFLOW_PASSWORD", "pw", 1);
	setenv("AUTOML_DAGS_DIR", "/srv/dags", 1);
	setenv("AUTOML_TEMPLATES_DIR", "/srv/tpl", 1);
	setenv("AUTOML_MLFLOW_TRACKING_URI", "http://127.0.0.1:5000", 1);
	setenv("AUTOML_PUBLIC_URL", "http://svc.example", 1);
	setenv("AUTOML_STATUS_PSK", "psk", 1);
	setenv("AUTOML_JWT_SECRET", "jwtsecret", 1);
	setenv("AUTOML_JWKS_FILE", "/etc/jwks.json", 1);
	setenv("AUTOML_JWT_ISSUER", "iss", 1);
	setenv("AUTOML_JWT_AUDIENCE", "aud", 1);
	setenv("AUTOML_TRAIN_PYTHON", "/opt/venv/bin/python", 1);
	setenv("AUTOML_WAREHOUSE_CONN_ID", "wh", 1);
	setenv("AUTOML_AIRFLOW_CONNECT_TIMEOUT_MS", "1500", 1);
	setenv("AUTOML_AIRFLOW_TIMEOUT_MS", "20000", 1);
	setenv("AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS", "0", 1);
	setenv("AUTOML_DISPATCH_DEADLINE_S", "60", 1);
	setenv("AUTOML_DISPATCH_POLL_S", "2", 1);
	setenv("AUTOML_DAG_RETENTION_S", "0", 1);
	setenv("AUTOML_MAX_BODY", "2048", 1);
	setenv("AUTOML_RECONCILE_INTERVAL_S", "0", 1);
	setenv("AUTOML_LOG_LEVEL", "debug", 1);
	setenv("AUTOML_AIRFLOW_API", "v1", 1);
	rc = load(&cfg, err, sizeof(err));
	is_int(rc, 0, "every key from the environment loads (%s)", err);
	is_str(cfg.database_url, "postgresql://u@h/db", "database_url");
	is_str(cfg.airflow_url, "http://127.0.0.1:8080", "airflow_url");
	is_str(cfg.airflow_user, "admin", "airflow_user");
	is_str(cfg.airflow_password, "pw", "airflow_password");
	is_str(cfg.airflow_ui_url, "http://127.0.0.1:8080", "UI URL defaults to the Airflow URL");
	is_str(cfg.dags_dir, "/srv/dags", "dags_dir");
	is_str(cfg.templates_dir, "/srv/tpl", "templates_dir");
	is_str(cfg.mlflow_tracking_uri, "http://127.0.0.1:5000", "mlflow_tracking_uri");
	is_str(cfg.public_url, "http://svc.example", "public_url");
	is_str(cfg.status_psk, "psk", "status_psk");
	ok(cfg.jwt_secret && cfg.jwt_secret_len == 9 && memcmp(cfg.jwt_secret, "jwtsecret", 9) == 0, "jwt_secret");
	is_str(cfg.jwks_file, "/etc/jwks.json", "jwks_file");
	is_str(cfg.jwt_issuer, "iss", "jwt_issuer");
	is_str(cfg.jwt_audience, "aud", "jwt_audience");
	is_str(cfg.train_python, "/opt/venv/bin/python", "train_python");
	is_str(cfg.warehouse_conn_id, "wh", "warehouse_conn_id");
	is_int(cfg.airflow_connect_timeout_ms, 1500, "connect timeout");
	is_int(cfg.airflow_timeout_ms, 20000, "timeout");
	is_int(cfg.airflow_request_timeout_ms, 0, "request timeout 0 allowed (no Airflow call in a request)");
	is_int(cfg.dispatch_deadline_s, 60, "dispatch deadline");
	is_int(cfg.dispatch_poll_s, 2, "dispatch timer");
	is_int(cfg.dag_retention_s, 0, "DAG retention 0 allowed");
	is_int(cfg.max_body, 2048, "max_body");
	is_int(cfg.reconcile_interval_s, 0, "reconcile 0 allowed");
	is_int(cfg.log_level, 3, "log level debug (3)");
	is_int(cfg.airflow_api, 1, "v1");
	config_free(&cfg);

	/* API version spellings */
	{
		static const char *const bad[] = { "v3", "V2", "2", "v", "v2 ", "1", "airflow3" };
		clear_env();
		setenv("AUTOML_AIRFLOW_API", "v2", 1);
		rc = load(&cfg, err, sizeof(err));
		ok(rc == 0 && cfg.airflow_api == 2, "AUTOML_AIRFLOW_API=v2");
		config_free(&cfg);
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			setenv("AUTOML_AIRFLOW_API", bad[i], 1);
			rc = load(&cfg, err, sizeof(err));
			ok(rc == -1, "AUTOML_AIRFLOW_API=\"%s\" is refused", bad[i]);
			ok(strstr(err, "AUTOML_AIRFLOW_API") != NULL, "error names the key: %s", err);
			ok(cfg.database_url == NULL, "refused config is left empty");
			config_free(&cfg);
		}
	}

	/* log levels */
	{
		static const char *const lv[] = { "error", "warn", "info", "debug" };
		clear_env();
		for (int i = 0; i < 4; i++) {
			setenv("AUTOML_LOG_LEVEL", lv[i], 1);
			rc = load(&cfg, err, sizeof(err));
			ok(rc == 0 && cfg.log_level == i, "AUTOML_LOG_LEVEL=%s -> %d", lv[i], i);
			config_free(&cfg);
		}
		setenv("AUTOML_LOG_LEVEL", "loud", 1);
		rc = load(&cfg, err, sizeof(err));
		ok(rc == -1 && strstr(err, "AUTOML_LOG_LEVEL"), "bad log level refused, key named: %s", err);
		config_free(&cfg);
	}

	/* URLs: trailing slashes stripped; UI URL defaults to the (stripped) Airflow URL */
	clear_env();
	setenv("AUTOML_AIRFLOW_URL", "http://af:8080///", 1);
	setenv("AUTOML_PUBLIC_URL", "https://svc.example/base/", 1);
	rc = load(&cfg, err, sizeof(err));
	is_int(rc, 0, "URLs with trailing slashes load");
	is_str(cfg.airflow_url, "http://af:8080", "Airflow URL trailing slashes stripped");
	is_str(cfg.airflow_ui_url, "http://af:8080", "UI URL defaults to the stripped Airflow URL");
	is_str(cfg.public_url, "https://svc.example/base", "public URL trailing slash stripped");
	config_free(&cfg);
	setenv("AUTOML_AIRFLOW_UI_URL", "https://airflow.example/ui/", 1);
	rc = load(&cfg, err, sizeof(err));
	is_str(cfg.airflow_ui_url, "https://airflow.example/ui", "explicit UI URL, trailing slash stripped");
	is_str(cfg.airflow_url, "http://af:8080", "Airflow URL unchanged by the UI URL");
	config_free(&cfg);
	setenv("AUTOML_AIRFLOW_URL", "http://af:8080", 1);
	setenv("AUTOML_AIRFLOW_UI_URL", "", 1);
	rc = load(&cfg, err, sizeof(err));
	is_str(cfg.airflow_ui_url, "http://af:8080", "empty UI URL counts as unset");
	config_free(&cfg);
}

static void test_numbers(void)
{
	static const struct {
		const char *key, *val;
		int good;
		long want;
	} cases[] = {
		{ "AUTOML_MAX_BODY", "1024", 1, 1024 },
		{ "AUTOML_MAX_BODY", "16777216", 1, 16777216 },
		{ "AUTOML_MAX_BODY", "1023", 0, 0 },
		{ "AUTOML_MAX_BODY", "16777217", 0, 0 },
		{ "AUTOML_MAX_BODY", "-1", 0, 0 },
		{ "AUTOML_MAX_BODY", "abc", 0, 0 },
		{ "AUTOML_MAX_BODY", "2048abc", 0, 0 },
		{ "AUTOML_MAX_BODY", "2048 ", 0, 0 },
		{ "AUTOML_MAX_BODY", "2k", 0, 0 },
		{ "AUTOML_MAX_BODY", "1e4", 0, 0 },
		{ "AUTOML_MAX_BODY", "0x800", 0, 0 },
		{ "AUTOML_MAX_BODY", "99999999999999999999999", 0, 0 },
		{ "AUTOML_MAX_BODY", "-99999999999999999999999", 0, 0 },
		{ "AUTOML_AIRFLOW_TIMEOUT_MS", "1", 1, 1 },
		{ "AUTOML_AIRFLOW_TIMEOUT_MS", "600000", 1, 600000 },
		{ "AUTOML_AIRFLOW_TIMEOUT_MS", "0", 0, 0 },
		{ "AUTOML_AIRFLOW_TIMEOUT_MS", "600001", 0, 0 },
		{ "AUTOML_AIRFLOW_CONNECT_TIMEOUT_MS", "1", 1, 1 },
		{ "AUTOML_AIRFLOW_CONNECT_TIMEOUT_MS", "0", 0, 0 },
		{ "AUTOML_AIRFLOW_CONNECT_TIMEOUT_MS", "600001", 0, 0 },
		{ "AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS", "0", 1, 0 },
		{ "AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS", "600000", 1, 600000 },
		{ "AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS", "-1", 0, 0 },
		{ "AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS", "600001", 0, 0 },
		{ "AUTOML_DISPATCH_DEADLINE_S", "0", 0, 0 },
		{ "AUTOML_DISPATCH_DEADLINE_S", "1", 1, 1 },
		{ "AUTOML_DISPATCH_DEADLINE_S", "9x", 0, 0 },
		{ "AUTOML_DISPATCH_POLL_S", "0", 0, 0 },
		{ "AUTOML_DISPATCH_POLL_S", "3600", 1, 3600 },
		{ "AUTOML_DAG_RETENTION_S", "-1", 0, 0 },
		{ "AUTOML_DAG_RETENTION_S", "86400", 1, 86400 },
		{ "AUTOML_RECONCILE_INTERVAL_S", "86400", 1, 86400 },
		{ "AUTOML_RECONCILE_INTERVAL_S", "86401", 0, 0 },
		{ "AUTOML_RECONCILE_INTERVAL_S", "-5", 0, 0 },
	};
	struct config cfg;
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;
		long got = -42;

		clear_env();
		setenv("AUTOML_JWT_SECRET", "s3cr3t-do-not-print", 1);
		setenv("AUTOML_STATUS_PSK", "psk-do-not-print", 1);
		setenv("AUTOML_AIRFLOW_PASSWORD", "pw-do-not-print", 1);
		setenv(cases[i].key, cases[i].val, 1);
		rc = load(&cfg, err, sizeof(err));
		if (strcmp(cases[i].key, "AUTOML_MAX_BODY") == 0)
			got = cfg.max_body;
		else if (strcmp(cases[i].key, "AUTOML_AIRFLOW_TIMEOUT_MS") == 0)
			got = cfg.airflow_timeout_ms;
		else if (strcmp(cases[i].key, "AUTOML_AIRFLOW_CONNECT_TIMEOUT_MS") == 0)
			got = cfg.airflow_connect_timeout_ms;
		else if (strcmp(cases[i].key, "AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS") == 0)
			got = cfg.airflow_request_timeout_ms;
		else if (strcmp(cases[i].key, "AUTOML_DISPATCH_DEADLINE_S") == 0)
			got = cfg.dispatch_deadline_s;
		else if (strcmp(cases[i].key, "AUTOML_DISPATCH_POLL_S") == 0)
			got = cfg.dispatch_poll_s;
		else if (strcmp(cases[i].key, "AUTOML_DAG_RETENTION_S") == 0)
			got = cfg.dag_retention_s;
		else if (strcmp(cases[i].key, "AUTOML_RECONCILE_INTERVAL_S") == 0)
			got = cfg.reconcile_interval_s;
		if (cases[i].good) {
			ok(rc == 0 && got == cases[i].want, "%s=%s accepted", cases[i].key, cases[i].val);
		} else {
			ok(rc == -1, "%s=\"%s\" refused", cases[i].key, cases[i].val);
			ok(strstr(err, cases[i].key) != NULL, "error names %s: %s", cases[i].key, err);
			ok(!strstr(err, "do-not-print"), "error carries no secret");
		}
		config_free(&cfg);
	}
}

static void test_file(void)
{
	struct config cfg;
	char err[512];
	const char *path;
	int rc;

	/* syntax: comments, blank lines, export, quotes, spaces, CRLF */
	clear_env();
	path = temp_text(
		"# a comment\n"
		"\n"
		"   # an indented comment\n"
		"AUTOML_DATABASE_URL=host=db dbname=automl_file\n"
		"export AUTOML_AIRFLOW_URL=http://file:8080/\n"
		"AUTOML_AIRFLOW_USER = spaced \n"
		"AUTOML_DAGS_DIR=\"/srv/dags dir\"\n"
		"AUTOML_TEMPLATES_DIR='/srv/tpl'\n"
		"AUTOML_MLFLOW_TRACKING_URI=\"http://mlflow:5000\"\r\n"
		"\tAUTOML_PUBLIC_URL=http://pub\t\n"
		"AUTOML_JWT_ISSUER=a=b=c\n"
		"AUTOML_JWT_AUDIENCE=\"unbalanced\n"
		"AUTOML_WAREHOUSE_CONN_ID=\"\"\n"
		"AUTOML_MAX_BODY=4096\n"
		"AUTOML_LOG_LEVEL=warn");   /* no final newline */
	setenv("AUTOML_CONFIG", path, 1);
	rc = load(&cfg, err, sizeof(err));
	is_int(rc, 0, "config file loads (%s)", err);
	is_str(cfg.database_url, "host=db dbname=automl_file", "value with spaces and '='");
	is_str(cfg.airflow_url, "http://file:8080", "export KEY=VALUE; trailing slash stripped");
	is_str(cfg.airflow_ui_url, "http://file:8080", "UI URL defaults to the file's Airflow URL");
	is_str(cfg.airflow_user, "spaced", "spaces around '=' and the value trimmed");
	is_str(cfg.dags_dir, "/srv/dags dir", "double quotes removed");
	is_str(cfg.templates_dir, "/srv/tpl", "single quotes removed");
	is_str(cfg.mlflow_tracking_uri, "http://mlflow:5000", "CRLF line ending");
	is_str(cfg.public_url, "http://pub", "tabs trimmed");
	is_str(cfg.jwt_issuer, "a=b=c", "only the first '=' splits");
	is_str(cfg.jwt_audience, "\"unbalanced", "an unbalanced quote is kept");
	is_str(cfg.warehouse_conn_id, "automl_warehouse", "empty quoted value counts as unset");
	is_int(cfg.max_body, 4096, "number from the file");
	is_int(cfg.log_level, 1, "last line without newline");
	config_free(&cfg);

	/* the environment wins over the file; the file fills the rest */
	setenv("AUTOML_DATABASE_URL", "dbname=from_env", 1);
	setenv("AUTOML_MAX_BODY", "8192", 1);
	rc = load(&cfg, err, sizeof(err));
	is_int(rc, 0, "file + environment load");
	is_str(cfg.database_url, "dbname=from_env", "environment wins over the file");
	is_int(cfg.max_body, 8192, "environment number wins");
	is_str(cfg.airflow_user, "spaced", "file still fills other keys");
	config_free(&cfg);
	setenv("AUTOML_DATABASE_URL", "", 1);
	rc = load(&cfg, err, sizeof(err));
	is_str(cfg.database_url, "host=db dbname=automl_file", "an empty environment value falls back to the file");
	config_free(&cfg);

	/* a repeated key: the last one wins */
	clear_env();
	path = temp_text("AUTOML_AIRFLOW_USER=first\nAUTOML_AIRFLOW_USER=second\n");
	setenv("AUTOML_CONFIG", path, 1);
	rc = load(&cfg, err, sizeof(err));
	is_str(cfg.airflow_user, "second", "a repeated key: the last line wins");
	config_free(&cfg);

	/* unknown keys are harmless */
	path = temp_text("SOMETHING_ELSE=1\nAUTOML_UNKNOWN=2\n");
	setenv("AUTOML_CONFIG", path, 1);
	rc = load(&cfg, err, sizeof(err));
	is_int(rc, 0, "unknown keys are ignored");
	config_free(&cfg);

	/* an empty file is fine */
	path = temp_text("");
	setenv("AUTOML_CONFIG", path, 1);
	rc = load(&cfg, err, sizeof(err));
	ok(rc == 0 && strcmp(cfg.database_url, "dbname=automl") == 0, "empty file -> defaults");
	config_free(&cfg);

	/* bad lines: refused with the line number, never the value */
	{
		static const struct {
			const char *text;
			const char *want;   /* substring of the error */
		} bad[] = {
			{ "AUTOML_DAGS_DIR=/x\nAUTOML_STATUS_PSK topsecretvalue\n", "2" },
			{ "just words\n", "1" },
			{ "# c\n\n\nexport\n", "4" },
			{ "AUTOML_MAX_BODY=12\n", "AUTOML_MAX_BODY" },
			{ "AUTOML_AIRFLOW_API=v9\n", "AUTOML_AIRFLOW_API" },
			{ "AUTOML_LOG_LEVEL=verbose\n", "AUTOML_LOG_LEVEL" },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			clear_env();
			path = temp_text(bad[i].text);
			setenv("AUTOML_CONFIG", path, 1);
			rc = load(&cfg, err, sizeof(err));
			ok(rc == -1, "bad file %zu refused", i);
			ok(strstr(err, bad[i].want) != NULL, "bad file %zu: error mentions %s: %s", i, bad[i].want, err);
			ok(!strstr(err, "topsecretvalue"), "bad file %zu: no value in the error", i);
			config_free(&cfg);
		}
	}

	/* a line too long to be a config line */
	{
		size_t n = 10000;
		char *big = malloc(n + 32);
		if (big) {
			memcpy(big, "AUTOML_JWT_ISSUER=", 18);
			memset(big + 18, 'x', n);
			memcpy(big + 18 + n, "\n", 2);
			clear_env();
			path = temp_text(big);
			setenv("AUTOML_CONFIG", path, 1);
			rc = load(&cfg, err, sizeof(err));
			ok(rc == -1 && *err, "a 10 kB line is refused: %s", err);
			config_free(&cfg);
			free(big);
		}
	}

	/* a missing file */
	clear_env();
	setenv("AUTOML_CONFIG", "/nonexistent/automl.conf", 1);
	rc = load(&cfg, err, sizeof(err));
	ok(rc == -1 && strstr(err, "AUTOML_CONFIG"), "missing config file refused, key named: %s", err);
	config_free(&cfg);
	setenv("AUTOML_CONFIG", "", 1);
	rc = load(&cfg, err, sizeof(err));
	is_int(rc, 0, "empty AUTOML_CONFIG means no file");
	config_free(&cfg);

	/* a small error buffer is never overrun */
	{
		char small[8];
		memset(small, 'Z', sizeof(small));
		clear_env();
		setenv("AUTOML_MAX_BODY", "1", 1);
		rc = config_load(&cfg, small, 4);
		ok(rc == -1 && small[3] == '\0' && small[4] == 'Z', "error truncated to errlen");
		config_free(&cfg);
	}
}

static void test_secrets(void)
{
	struct config cfg;
	char err[512];
	const char *path;
	int rc;

	/* *_FILE: trailing newline(s) stripped */
	clear_env();
	setenv("AUTOML_STATUS_PSK_FILE", temp_text("psk-value\n"), 1);
	setenv("AUTOML_AIRFLOW_PASSWORD_FILE", temp_text("pw value\r\n"), 1);
	setenv("AUTOML_JWT_SECRET_FILE", temp_file("ab\0cd\n", 6), 1);
	rc = load(&cfg, err, sizeof(err));
	is_int(rc, 0, "secrets from files load (%s)", err);
	is_str(cfg.status_psk, "psk-value", "PSK from file, newline stripped");
	is_str(cfg.airflow_password, "pw value", "password from file, CRLF stripped");
	ok(cfg.jwt_secret && cfg.jwt_secret_len == 5 && memcmp(cfg.jwt_secret, "ab\0cd", 5) == 0,
			"JWT secret from file is raw bytes (NUL kept, newline stripped): len %zu", cfg.jwt_secret_len);
	config_free(&cfg);

	clear_env();
	setenv("AUTOML_STATUS_PSK_FILE", temp_text("no-newline"), 1);
	setenv("AUTOML_JWT_SECRET_FILE", temp_text("  spaced  \n\n"), 1);
	rc = load(&cfg, err, sizeof(err));
	is_str(cfg.status_psk, "no-newline", "secret file without newline");
	ok(cfg.jwt_secret && cfg.jwt_secret_len == 10 && memcmp(cfg.jwt_secret, "  spaced  ", 10) == 0,
			"inner/leading spaces kept, all trailing newlines stripped");
	config_free(&cfg);

	/* both KEY and KEY_FILE: refused, both keys named, value not shown */
	{
		static const char *const keys[] = { "AUTOML_STATUS_PSK", "AUTOML_JWT_SECRET", "AUTOML_AIRFLOW_PASSWORD" };
		for (size_t i = 0; i < 3; i++) {
			char fkey[64];
			snprintf(fkey, sizeof(fkey), "%s_FILE", keys[i]);
			clear_env();
			setenv(keys[i], "inline-secret-value", 1);
			setenv(fkey, temp_text("file-secret-value\n"), 1);
			rc = load(&cfg, err, sizeof(err));
			ok(rc == -1, "%s and %s both set -> refused", keys[i], fkey);
			ok(strstr(err, fkey) != NULL, "error names %s: %s", fkey, err);
			ok(!strstr(err, "inline-secret-value") && !strstr(err, "file-secret-value"),
					"error shows no secret");
			config_free(&cfg);
		}
	}
	/* one in the environment, the other in the file: still both */
	clear_env();
	path = temp_text("AUTOML_STATUS_PSK=fromfile\n");
	setenv("AUTOML_CONFIG", path, 1);
	setenv("AUTOML_STATUS_PSK_FILE", temp_text("x\n"), 1);
	rc = load(&cfg, err, sizeof(err));
	ok(rc == -1 && strstr(err, "AUTOML_STATUS_PSK_FILE") && !strstr(err, "fromfile"),
			"KEY in the file + KEY_FILE in the environment -> refused: %s", err);
	config_free(&cfg);

	/* *_FILE named in the config file */
	clear_env();
	{
		char text[700];
		snprintf(text, sizeof(text), "AUTOML_JWT_SECRET_FILE=%s\n", temp_text("k3y\n"));
		setenv("AUTOML_CONFIG", temp_text(text), 1);
	}
	rc = load(&cfg, err, sizeof(err));
	ok(rc == 0 && cfg.jwt_secret && cfg.jwt_secret_len == 3 && memcmp(cfg.jwt_secret, "k3y", 3) == 0,
			"*_FILE from the config file");
	config_free(&cfg);

	/* unreadable / missing secret file: refused, key named */
	clear_env();
	setenv("AUTOML_STATUS_PSK_FILE", "/nonexistent/psk", 1);
	rc = load(&cfg, err, sizeof(err));
	ok(rc == -1 && strstr(err, "AUTOML_STATUS_PSK"), "missing secret file refused: %s", err);
	config_free(&cfg);

	/* an over-large secret file is refused */
	{
		size_t n = 1024 * 1024;
		char *big = malloc(n);
		if (big) {
			memset(big, 'k', n);
			clear_env();
			setenv("AUTOML_JWT_SECRET_FILE", temp_file(big, n), 1);
			rc = load(&cfg, err, sizeof(err));
			ok(rc == -1 && strstr(err, "AUTOML_JWT_SECRET"), "1 MiB secret file refused: %s", err);
			ok(!strstr(err, "kkkkkkkk"), "no secret bytes in the error");
			config_free(&cfg);
			free(big);
		}
	}

	/* an empty secret file: an empty secret, not a crash */
	clear_env();
	setenv("AUTOML_STATUS_PSK_FILE", temp_text("\n"), 1);
	rc = load(&cfg, err, sizeof(err));
	ok(rc == 0 || rc == -1, "secret file with only a newline: no crash");
	ok(rc != 0 || cfg.status_psk == NULL || *cfg.status_psk == '\0', "...and no garbage secret");
	config_free(&cfg);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	char err[64];
	struct config cfg;

	snprintf(tmpdir, sizeof(tmpdir), "%s", t && *t ? t : "/tmp");
	test_defaults();
	test_env();
	test_numbers();
	test_file();
	test_secrets();
	for (int i = 0; i < nfiles; i++)
		unlink(files[i]);
	clear_env();
	ok(config_load(&cfg, err, sizeof(err)) == 0, "clean environment at the end");
	config_free(&cfg);
	return done_testing();
}
