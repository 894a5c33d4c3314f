/* job.c - the training-job domain: enum spellings (the seed's), algorithm/
 * problem fit, status rules, validation of a create body into field-level
 * FastAPI-style errors, derived names, and job -> JSON. No I/O. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "job.h"

/* The problem types and algorithms come from the registry (algorithms.h). */
#define PT_SPELLING(id, name) [id] = name,
#define ALG_SPELLING(id, name, family, fits) [id] = name,
#define ALG_FAMILY(id, name, family, fits) [id] = family,
#define ALG_FITS(id, name, family, fits) [id] = fits,
static const char *const problem_types[PT__MAX] = { PROBLEM_TYPE_LIST(PT_SPELLING) };
static const char *const algorithms[ALG__MAX] = { ALGORITHM_LIST(ALG_SPELLING) };
static const char *const algorithm_families[ALG__MAX] = { ALGORITHM_LIST(ALG_FAMILY) };
static const unsigned algorithm_fit_masks[ALG__MAX] = { ALGORITHM_LIST(ALG_FITS) };
static const char *const presets[PRESET__MAX] = { "fast", "balanced", "best_quality" };
static const char *const statuses[ST__MAX] = { "ready", "queued", "running", "complete", "failed" };

static int lookup(const char *const *names, int n, const char *s)
{
	if (!s)
		return -1;
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

const char *problem_type_str(enum problem_type v) { return (unsigned)v < PT__MAX ? problem_types[v] : "?"; }
const char *algorithm_str(enum algorithm v) { return (unsigned)v < ALG__MAX ? algorithms[v] : "?"; }
const char *preset_str(enum preset v) { return (unsigned)v < PRESET__MAX ? presets[v] : "?"; }
const char *status_str(enum job_status v) { return (unsigned)v < ST__MAX ? statuses[v] : "?"; }

#define PARSER(fn, type, names, max) \
	int fn(const char *s, type *out) \
	{ \
		int i = lookup(names, max, s); \
		if (i < 0) \
			return -1; \
		*out = (type)i; \
		return 0; \
	}
PARSER(problem_type_parse, enum problem_type, problem_types, PT__MAX)
PARSER(algorithm_parse, enum algorithm, algorithms, ALG__MAX)
PARSER(preset_parse, enum preset, presets, PRESET__MAX)
PARSER(status_parse, enum job_status, statuses, ST__MAX)

int algorithm_fits(enum algorithm a, enum problem_type p)
{
	if ((unsigned)a >= ALG__MAX || (unsigned)p >= PT__MAX)
		return 0;
	return (algorithm_fit_masks[a] >> p) & 1u;
}

const char *algorithm_family(enum algorithm a)
{
	return (unsigned)a < ALG__MAX ? algorithm_families[a] : NULL;
}

int status_writeback_ok(enum job_status from, enum job_status to)
{
	if (from != ST_QUEUED && from != ST_RUNNING)
		return 0;
	return to == ST_RUNNING || to == ST_COMPLETE || to == ST_FAILED;
}

int status_triggerable(enum job_status s)
{
	return s == ST_READY || s == ST_FAILED;
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int uuid_valid(const char *s)
{
	if (!s || strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!is_hex(s[i])) {
			return 0;
		}
	}
	return 1;
}

void detail_add(json_object *detail, const char *where, const char *field,
		const char *msg, const char *type)
{
	json_object *e = json_object_new_object();
	json_object *loc = json_object_new_array();

	if (!e || !loc) {
		json_object_put(e);
		json_object_put(loc);
		return;
	}
	json_object_array_add(loc, json_object_new_string(where));
	if (field)
		json_object_array_add(loc, json_object_new_string(field));
	json_object_object_add(e, "loc", loc);
	json_object_object_add(e, "msg", json_object_new_string(msg));
	json_object_object_add(e, "type", json_object_new_string(type));
	json_object_array_add(detail, e);
}

size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c, min;
	size_t len, i;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xC2 && c <= 0xDF) {
		len = 2; min = 0x80; c &= 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3; min = 0x800; c &= 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4; min = 0x10000; c &= 0x07;
	} else {
		return 0;   /* 80..BF continuation, C0/C1 overlong, F5..FF */
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

/* Number of code points of strictly valid UTF-8 without control characters, or -1. */
static long text_chars(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, k;
	uint32_t cp;
	long n = 0;

	while (i < len) {
		k = utf8_decode(p + i, len - i, &cp);
		if (k == 0 || cp < 0x20 || cp == 0x7f)
			return -1;
		i += k;
		n++;
	}
	return n;
}

static int ident_char(char c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return 1;
	return !first && c >= '0' && c <= '9';
}

/* [A-Za-z_][A-Za-z0-9_]{0,62} */
static int identifier_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!ident_char(s[i], i == 0))
			return 0;
	return 1;
}

/* identifier or schema.identifier */
static int table_ok(const char *s)
{
	const char *dot = strchr(s, '.');

	if (!dot)
		return identifier_ok(s, strlen(s));
	return identifier_ok(s, (size_t)(dot - s)) && identifier_ok(dot + 1, strlen(dot + 1));
}

/* [A-Za-z0-9][A-Za-z0-9_.-]{0,63} */
static int domain_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return 0;
	}
	return 1;
}

const char *body_string(json_object *body, const char *field, int required, size_t max,
		json_object *detail, int *present)
{
	json_object *v;

	*present = json_object_object_get_ex(body, field, &v) && v != NULL;
	if (!*present) {
		if (required)
			detail_add(detail, "body", field, "Field required", "missing");
		return NULL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		detail_add(detail, "body", field, "Input should be a valid string", "string_type");
		return NULL;
	}
	if ((size_t)json_object_get_string_len(v) != strlen(json_object_get_string(v))) {
		detail_add(detail, "body", field, "Input should not contain NUL characters", "string_type");
		return NULL;
	}
	if ((size_t)json_object_get_string_len(v) > max) {
		detail_add(detail, "body", field, "String is too long", "string_too_long");
		return NULL;
	}
	return json_object_get_string(v);
}

json_object *body_object_parse(const char *body, size_t len, const char *const *known,
		size_t nknown, json_object *detail)
{
	json_tokener *tok = json_tokener_new();
	json_object *root = NULL;

	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	if (len > 0 && len <= (size_t)0x7fffffff)
		root = json_tokener_parse_ex(tok, body, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		detail_add(detail, "body", NULL, "JSON decode error", "json_invalid");
		goto fail;
	}
	if (!json_object_is_type(root, json_type_object)) {
		detail_add(detail, "body", NULL, "Input should be a valid dictionary or object",
				"model_attributes_type");
		goto fail;
	}
	json_tokener_free(tok);
	json_object_object_foreach(root, key, val) {
		int ok = 0;
		(void)val;
		for (size_t i = 0; i < nknown; i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok)
			detail_add(detail, "body", key, strcmp(key, "owner") == 0
					? "Extra inputs are not permitted (the owner is the token's subject)"
					: "Extra inputs are not permitted", "extra_forbidden");
	}
	return root;
fail:
	json_object_put(root);
	json_tokener_free(tok);
	return NULL;
}

static int want_enum(json_object *body, const char *field, const char *const *names, int n,
		int required, int def, json_object *detail)
{
	char msg[512];
	size_t off;
	int present, i;
	const char *s = body_string(body, field, required, SIZE_MAX, detail, &present);

	if (!present)
		return required ? -1 : def;
	if (!s)
		return -1;
	i = lookup(names, n, s);
	if (i >= 0)
		return i;
	off = (size_t)snprintf(msg, sizeof(msg), "Input should be ");
	for (int k = 0; k < n && off < sizeof(msg); k++)
		off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s'%s'",
				k == 0 ? "" : (k == n - 1 ? " or " : ", "), names[k]);
	detail_add(detail, "body", field, msg, "enum");
	return -1;
}

static const char *const known_fields[] = {
	"name", "domain", "source_table", "problem_type", "algorithm", "preset",
	"label_column", "feature_engineering_job_id", "auto_trigger",
};

enum aerr job_spec_parse(struct arena *a, const char *body, size_t len,
		struct job_spec *spec, json_object **detail_out)
{
	json_object *root = NULL, *detail, *v;
	const char *s;
	int present, pt, alg, pre;
	enum aerr rc = AE_OK;

	memset(spec, 0, sizeof(*spec));
	*detail_out = NULL;
	detail = json_object_new_array();
	if (!detail)
		return AE_NOMEM;

	root = body_object_parse(body, len, known_fields,
			sizeof(known_fields) / sizeof(known_fields[0]), detail);
	if (!root) {
		if (json_object_array_length(detail) == 0)
			rc = AE_NOMEM;
		goto out;
	}

	s = body_string(root, "name", 1, SIZE_MAX, detail, &present);
	if (s) {
		long n = text_chars(s);
		if (n < 1 || n > 200)
			detail_add(detail, "body", "name",
					n < 0 ? "Name must be valid UTF-8 without control characters"
					      : "Name must have 1 to 200 characters", "string_pattern_mismatch");
		else
			spec->name = arena_strdup(a, s);
	}
	s = body_string(root, "domain", 1, SIZE_MAX, detail, &present);
	if (s) {
		if (!domain_ok(s))
			detail_add(detail, "body", "domain",
					"Domain must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
					"string_pattern_mismatch");
		else
			spec->domain = arena_strdup(a, s);
	}
	s = body_string(root, "source_table", 1, SIZE_MAX, detail, &present);
	if (s) {
		if (!table_ok(s))
			detail_add(detail, "body", "source_table",
					"Source table must be a table name or schema.table "
					"(letters, digits and _, at most 63 each)", "string_pattern_mismatch");
		else
			spec->source_table = arena_strdup(a, s);
	}
	s = body_string(root, "label_column", 0, SIZE_MAX, detail, &present);
	if (!present) {
		spec->label_column = "label";
	} else if (s) {
		if (!identifier_ok(s, strlen(s)))
			detail_add(detail, "body", "label_column",
					"Label column must match ^[A-Za-z_][A-Za-z0-9_]{0,62}$",
					"string_pattern_mismatch");
		else
			spec->label_column = arena_strdup(a, s);
	}

	pt = want_enum(root, "problem_type", problem_types, PT__MAX, 1, 0, detail);
	alg = want_enum(root, "algorithm", algorithms, ALG__MAX, 1, 0, detail);
	pre = want_enum(root, "preset", presets, PRESET__MAX, 0, PRESET_BALANCED, detail);
	if (pt >= 0 && alg >= 0 && !algorithm_fits((enum algorithm)alg, (enum problem_type)pt)) {
		char msg[160];
		snprintf(msg, sizeof(msg), "Algorithm '%s' does not fit problem_type '%s'",
				algorithms[alg], problem_types[pt]);
		detail_add(detail, "body", "algorithm", msg, "value_error");
	}
	spec->problem_type = pt >= 0 ? (enum problem_type)pt : PT_BINARY_CLASSIFICATION;
	spec->algorithm = alg >= 0 ? (enum algorithm)alg : ALG_LIGHTGBM_CLASSIFIER;
	spec->preset = pre >= 0 ? (enum preset)pre : PRESET_BALANCED;

	if (json_object_object_get_ex(root, "feature_engineering_job_id", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string) || !uuid_valid(json_object_get_string(v)))
			detail_add(detail, "body", "feature_engineering_job_id",
					"Input should be a valid UUID", "uuid_parsing");
		else
			spec->feature_engineering_job_id = arena_strdup(a, json_object_get_string(v));
		if (!spec->feature_engineering_job_id && json_object_array_length(detail) == 0)
			rc = AE_NOMEM;   /* valid but not copied: never AE_OK without it */
	}

	spec->auto_trigger = 1;
	if (json_object_object_get_ex(root, "auto_trigger", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_boolean))
			detail_add(detail, "body", "auto_trigger", "Input should be a valid boolean",
					"bool_type");
		else
			spec->auto_trigger = json_object_get_boolean(v);
	}

out:
	if (rc == AE_OK && json_object_array_length(detail) > 0)
		rc = AE_VALIDATION;
	if (rc == AE_OK && (!spec->name || !spec->domain || !spec->source_table || !spec->label_column))
		rc = AE_NOMEM;
	if (rc == AE_VALIDATION)
		*detail_out = detail;
	else
		json_object_put(detail);
	json_object_put(root);
	return rc;
}

/* Copy s into dst keeping [A-Za-z0-9_.-], mapping runs of anything else to
 * one '_'; at most max bytes. */
static size_t sanitize(char *dst, size_t max, const char *s)
{
	size_t n = 0;
	int last_us = 0;

	for (; *s && n < max; s++) {
		char c = *s;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '-' || c == '_';
		if (!ok)
			c = '_';
		if (c == '_' && last_us)
			continue;
		last_us = c == '_';
		dst[n++] = c;
	}
	dst[n] = '\0';
	return n;
}

void job_init_from_spec(struct arena *a, struct job *job, const struct job_spec *spec,
		const char *job_id, const char *owner, const char *ui_url)
{
	char dom[65], nm[81], hex[33];
	size_t k = 0;

	memset(job, 0, sizeof(*job));
	snprintf(job->job_id, sizeof(job->job_id), "%s", job_id);
	job->name = spec->name;
	job->domain = spec->domain;
	job->owner = owner;
	job->source_table = spec->source_table;
	job->label_column = spec->label_column;
	job->problem_type = spec->problem_type;
	job->algorithm = spec->algorithm;
	job->preset = spec->preset;
	job->status = ST_READY;
	job->feature_engineering_job_id = spec->feature_engineering_job_id;
	job->sync_age_s = -1;

	for (const char *p = job_id; *p && k < 32; p++)
		if (*p != '-')
			hex[k++] = *p >= 'A' && *p <= 'F' ? (char)(*p - 'A' + 'a') : *p;
	hex[k] = '\0';
	sanitize(dom, 64, spec->domain);
	sanitize(nm, 80, spec->name);
	/* automl_<domain>_<name>_<job id hex>: <= 7+64+1+80+1+32 = 185 chars */
	job->airflow_dag_id = arena_printf(a, "automl_%s_%s_%s", dom, nm, hex);
	job->mlflow_experiment_name = arena_printf(a, "automl/%s/%s", spec->domain, spec->name);
	job->registered_model_name = arena_printf(a, "automl_%s_%s", dom, nm);
	job->airflow_dag_url = ui_url && job->airflow_dag_id
		? arena_printf(a, "%s/dags/%s", ui_url, job->airflow_dag_id) : NULL;
}

const char *job_run_id_prefix(struct arena *a, const char *job_id)
{
	return arena_printf(a, "automl-%s-a", job_id);
}

const char *job_run_id(struct arena *a, const struct job *job, int attempt)
{
	return arena_printf(a, "automl-%s-a%d", job->job_id, attempt);
}

static json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

json_object *job_to_json(const struct job *job)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "job_id", json_object_new_string(job->job_id));
	json_object_object_add(o, "name", str_or_null(job->name));
	json_object_object_add(o, "domain", str_or_null(job->domain));
	json_object_object_add(o, "owner", str_or_null(job->owner));
	json_object_object_add(o, "source_table", str_or_null(job->source_table));
	json_object_object_add(o, "problem_type", json_object_new_string(problem_type_str(job->problem_type)));
	json_object_object_add(o, "algorithm", json_object_new_string(algorithm_str(job->algorithm)));
	json_object_object_add(o, "preset", json_object_new_string(preset_str(job->preset)));
	json_object_object_add(o, "status", json_object_new_string(status_str(job->status)));
	json_object_object_add(o, "created_at", str_or_null(job->created_at));
	json_object_object_add(o, "updated_at", str_or_null(job->updated_at));
	json_object_object_add(o, "rendered_dag", str_or_null(job->rendered_dag));
	json_object_object_add(o, "mlflow_run_id", str_or_null(job->mlflow_run_id));
	json_object_object_add(o, "mlflow_experiment_name", str_or_null(job->mlflow_experiment_name));
	json_object_object_add(o, "registered_model_name", str_or_null(job->registered_model_name));
	json_object_object_add(o, "airflow_dag_id", str_or_null(job->airflow_dag_id));
	json_object_object_add(o, "airflow_dag_url", str_or_null(job->airflow_dag_url));
	json_object_object_add(o, "error_message", str_or_null(job->error_message));
	json_object_object_add(o, "feature_engineering_job_id", str_or_null(job->feature_engineering_job_id));
	json_object_object_add(o, "label_column", str_or_null(job->label_column));
	json_object_object_add(o, "airflow_dag_run_id", str_or_null(job->airflow_dag_run_id));
	json_object_object_add(o, "trigger_attempts", json_object_new_int(job->trigger_attempts));
	json_object_object_add(o, "dispatched_at", str_or_null(job->dispatched_at));
	return o;
}
