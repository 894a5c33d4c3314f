/* config.c - reads the AUTOML_* keys of the contract from the environment and
 * from an optional KEY=VALUE file named by AUTOML_CONFIG (the environment
 * wins). Secrets may come from *_FILE keys. Validates ranges once at start. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "lim.h"
#include "log.h"

#ifndef PKGDATADIR
#define PKGDATADIR "/usr/local/share/automl-jobs"
#endif

struct kv {
	char *key, *val;
};

struct file_kv {
	struct kv kv[LIM_CONFIG_KEYS];
	size_t n;
};

static void file_kv_free(struct file_kv *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->kv[i].key);
		if (f->kv[i].val)
			explicit_bzero(f->kv[i].val, strlen(f->kv[i].val));
		free(f->kv[i].val);
	}
	f->n = 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* KEY=VALUE lines; '#' comments; optional "..." or '...' around the value. */
static int file_kv_load(struct file_kv *f, const char *path, char *err, size_t errlen)
{
	FILE *fp;
	char line[4096];
	int lineno = 0, rc = -1;

	fp = fopen(path, "r");
	if (!fp) {
		snprintf(err, errlen, "AUTOML_CONFIG: cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp)) {
		char *s, *eq, *key, *val;
		size_t vl;

		lineno++;
		if (!strchr(line, '\n') && !feof(fp)) {
			snprintf(err, errlen, "AUTOML_CONFIG: line %d too long", lineno);
			goto out;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (strncmp(s, "export ", 7) == 0)
			s = trim(s + 7);
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "AUTOML_CONFIG: line %d is not KEY=VALUE", lineno);
			goto out;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		vl = strlen(val);
		if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && val[vl - 1] == val[0]) {
			val[vl - 1] = '\0';
			val++;
		}
		if (f->n == LIM_CONFIG_KEYS) {
			snprintf(err, errlen, "AUTOML_CONFIG: too many keys");
			goto out;
		}
		f->kv[f->n].key = strdup(key);
		f->kv[f->n].val = strdup(val);
		if (!f->kv[f->n].key || !f->kv[f->n].val) {
			free(f->kv[f->n].key);
			free(f->kv[f->n].val);
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		f->n++;
	}
	rc = 0;
out:
	explicit_bzero(line, sizeof(line));
	fclose(fp);
	return rc;
}

/* Borrowed value of a key: the environment first, then the file; NULL if
 * unset or empty. */
static const char *lookup(const struct file_kv *f, const char *key)
{
	const char *v = getenv(key);

	if (v && *v)
		return v;
	for (size_t i = f->n; i-- > 0;)
		if (strcmp(f->kv[i].key, key) == 0)
			return *f->kv[i].val ? f->kv[i].val : NULL;
	return NULL;
}

static int dup_opt(char **dst, const char *v)
{
	*dst = NULL;
	if (!v)
		return 0;
	*dst = strdup(v);
	return *dst ? 0 : -1;
}

static void strip_slash(char *s)
{
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
}

static int read_secret_file(const char *path, char **out, size_t *outlen, const char *key,
		char *err, size_t errlen)
{
	FILE *fp = fopen(path, "rb");
	char *data;
	size_t n;

	if (!fp) {
		snprintf(err, errlen, "%s_FILE: cannot open %s: %s", key, path, strerror(errno));
		return -1;
	}
	data = malloc(LIM_SECRET_FILE + 1);
	if (!data) {
		fclose(fp);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = fread(data, 1, LIM_SECRET_FILE + 1, fp);
	fclose(fp);
	if (n > LIM_SECRET_FILE) {
		explicit_bzero(data, LIM_SECRET_FILE + 1);
		free(data);
		snprintf(err, errlen, "%s_FILE: %s is too large", key, path);
		return -1;
	}
	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		n--;
	data[n] = '\0';
	*out = data;
	*outlen = n;
	return 0;
}

/* KEY, or KEY_FILE holding the value. */
static int secret(const struct file_kv *f, const char *key, char **out, size_t *outlen,
		char *err, size_t errlen)
{
	char fkey[128];
	const char *v, *path;

	*out = NULL;
	if (outlen)
		*outlen = 0;
	v = lookup(f, key);
	snprintf(fkey, sizeof(fkey), "%s_FILE", key);
	path = lookup(f, fkey);
	if (v && path) {
		snprintf(err, errlen, "set either %s or %s, not both", key, fkey);
		return -1;
	}
	if (path) {
		size_t len;
		if (read_secret_file(path, out, &len, key, err, errlen))
			return -1;
		if (outlen)
			*outlen = len;
		return 0;
	}
	if (v) {
		*out = strdup(v);
		if (!*out) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (outlen)
			*outlen = strlen(v);
	}
	return 0;
}

static int number(const struct file_kv *f, const char *key, long def, long min, long max,
		long *out, char *err, size_t errlen)
{
	const char *v = lookup(f, key);
	char *end;
	long n;

	*out = def;
	if (!v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end != '\0' || n < min || n > max) {
		snprintf(err, errlen, "%s must be a whole number from %ld to %ld", key, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

int config_load(struct config *cfg, char *err, size_t errlen)
{
	struct file_kv f = { .n = 0 };
	const char *path, *v;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	path = getenv("AUTOML_CONFIG");
	if (path && *path && file_kv_load(&f, path, err, errlen))
		goto out;

	if (dup_opt(&cfg->database_url, lookup(&f, "AUTOML_DATABASE_URL")
				? lookup(&f, "AUTOML_DATABASE_URL") : "dbname=automl") ||
	    dup_opt(&cfg->airflow_url, lookup(&f, "AUTOML_AIRFLOW_URL")) ||
	    dup_opt(&cfg->airflow_user, lookup(&f, "AUTOML_AIRFLOW_USER")) ||
	    dup_opt(&cfg->airflow_ui_url, lookup(&f, "AUTOML_AIRFLOW_UI_URL")) ||
	    dup_opt(&cfg->dags_dir, lookup(&f, "AUTOML_DAGS_DIR")) ||
	    dup_opt(&cfg->templates_dir, lookup(&f, "AUTOML_TEMPLATES_DIR")
				? lookup(&f, "AUTOML_TEMPLATES_DIR") : PKGDATADIR "/dags") ||
	    dup_opt(&cfg->mlflow_tracking_uri, lookup(&f, "AUTOML_MLFLOW_TRACKING_URI")) ||
	    dup_opt(&cfg->public_url, lookup(&f, "AUTOML_PUBLIC_URL")) ||
	    dup_opt(&cfg->jwks_file, lookup(&f, "AUTOML_JWKS_FILE")) ||
	    dup_opt(&cfg->jwt_issuer, lookup(&f, "AUTOML_JWT_ISSUER")) ||
	    dup_opt(&cfg->jwt_audience, lookup(&f, "AUTOML_JWT_AUDIENCE")) ||
	    dup_opt(&cfg->train_python, lookup(&f, "AUTOML_TRAIN_PYTHON")
				? lookup(&f, "AUTOML_TRAIN_PYTHON") : "python3") ||
	    dup_opt(&cfg->warehouse_conn_id, lookup(&f, "AUTOML_WAREHOUSE_CONN_ID")
				? lookup(&f, "AUTOML_WAREHOUSE_CONN_ID") : "automl_warehouse")) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!cfg->airflow_ui_url && cfg->airflow_url && dup_opt(&cfg->airflow_ui_url, cfg->airflow_url)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	strip_slash(cfg->airflow_url);
	strip_slash(cfg->airflow_ui_url);
	strip_slash(cfg->public_url);

	v = lookup(&f, "AUTOML_AIRFLOW_API");
	if (!v || strcmp(v, "v2") == 0) {
		cfg->airflow_api = 2;
	} else if (strcmp(v, "v1") == 0) {
		cfg->airflow_api = 1;
	} else {
		snprintf(err, errlen, "AUTOML_AIRFLOW_API must be v2 or v1");
		goto out;
	}

	if (secret(&f, "AUTOML_AIRFLOW_PASSWORD", &cfg->airflow_password, NULL, err, errlen) ||
	    secret(&f, "AUTOML_STATUS_PSK", &cfg->status_psk, NULL, err, errlen) ||
	    secret(&f, "AUTOML_JWT_SECRET", &cfg->jwt_secret, &cfg->jwt_secret_len, err, errlen))
		goto out;

	if (number(&f, "AUTOML_AIRFLOW_CONNECT_TIMEOUT_MS", 3000, 1, 600000,
			&cfg->airflow_connect_timeout_ms, err, errlen) ||
	    number(&f, "AUTOML_AIRFLOW_TIMEOUT_MS", 10000, 1, 600000,
			&cfg->airflow_timeout_ms, err, errlen) ||
	    number(&f, "AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS", 2000, 0, 600000,
			&cfg->airflow_request_timeout_ms, err, errlen) ||
	    number(&f, "AUTOML_DISPATCH_DEADLINE_S", 900, 1, 31536000,
			&cfg->dispatch_deadline_s, err, errlen) ||
	    number(&f, "AUTOML_DISPATCH_POLL_S", 5, 1, 3600, &cfg->dispatch_poll_s, err, errlen) ||
	    number(&f, "AUTOML_DAG_RETENTION_S", -1, 0, 315360000,
			&cfg->dag_retention_s, err, errlen) ||
	    number(&f, "AUTOML_MAX_BODY", LIM_BODY_DEFAULT, LIM_BODY_MIN, LIM_BODY_MAX,
			&cfg->max_body, err, errlen) ||
	    number(&f, "AUTOML_RECONCILE_INTERVAL_S", 5, 0, 86400,
			&cfg->reconcile_interval_s, err, errlen))
		goto out;

	cfg->log_level = 2;
	v = lookup(&f, "AUTOML_LOG_LEVEL");
	if (v) {
		static const char *const levels[] = { "error", "warn", "info", "debug" };
		int found = -1;
		for (int i = 0; i < 4; i++)
			if (strcmp(v, levels[i]) == 0)
				found = i;
		if (found < 0) {
			snprintf(err, errlen, "AUTOML_LOG_LEVEL must be error, warn, info or debug");
			goto out;
		}
		cfg->log_level = found;
	}
	rc = 0;
out:
	file_kv_free(&f);
	if (rc)
		config_free(cfg);
	return rc;
}

static void free_secret(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void config_free(struct config *cfg)
{
	free(cfg->database_url);
	free(cfg->airflow_url);
	free(cfg->airflow_user);
	free_secret(&cfg->airflow_password);
	free(cfg->airflow_ui_url);
	free(cfg->dags_dir);
	free(cfg->templates_dir);
	free(cfg->mlflow_tracking_uri);
	free(cfg->public_url);
	free_secret(&cfg->status_psk);
	if (cfg->jwt_secret) {
		explicit_bzero(cfg->jwt_secret, cfg->jwt_secret_len);
		free(cfg->jwt_secret);
	}
	free(cfg->jwks_file);
	free(cfg->jwt_issuer);
	free(cfg->jwt_audience);
	free(cfg->train_python);
	free(cfg->warehouse_conn_id);
	memset(cfg, 0, sizeof(*cfg));
}
