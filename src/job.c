/* job.c - the training-job domain: enum spellings (the seed's), algorithm/
 * problem fit, status rules, the create body's field table (walked by
 * valid.c into FastAPI-style errors), derived names, and job -> JSON. No I/O. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "lim.h"
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

const struct vspell problem_type_spelling = { problem_types, PT__MAX };
const struct vspell algorithm_spelling = { algorithms, ALG__MAX };
const struct vspell preset_spelling = { presets, PRESET__MAX };
const struct vspell status_spelling = { statuses, ST__MAX };

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

/* ---- the create body ----------------------------------------------------- */

/* Checks of the create fields (valid.h): 0 when valid, else which message. */

/* 1..LIM_JOB_NAME code points of strictly valid UTF-8 without control characters:
 * 1 for a bad length, 2 for bad text. */
static int name_check(struct vval *v, void *ctx)
{
	const unsigned char *p = (const unsigned char *)v->s;
	size_t len = strlen(v->s), i = 0, k;
	uint32_t cp;
	long n = 0;

	while (i < len) {
		k = utf8_decode(p + i, len - i, &cp);
		if (k == 0 || cp < 0x20 || cp == 0x7f)
			return 2;
		i += k;
		n++;
	}
	return n < 1 || n > LIM_JOB_NAME;
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

static int label_check(struct vval *v, void *ctx)
{
	return !identifier_ok(v->s, strlen(v->s));
}

/* identifier or schema.identifier */
static int table_check(struct vval *v, void *ctx)
{
	const char *dot = strchr(v->s, '.');

	if (!dot)
		return !identifier_ok(v->s, strlen(v->s));
	return !identifier_ok(v->s, (size_t)(dot - v->s)) || !identifier_ok(dot + 1, strlen(dot + 1));
}

/* [A-Za-z0-9][A-Za-z0-9_.-]{0,63} */
static int domain_check(struct vval *v, void *ctx)
{
	size_t n = strlen(v->s);

	if (n == 0 || n > 64)
		return 1;
	for (size_t i = 0; i < n; i++) {
		char c = v->s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return 1;
	}
	return 0;
}

#define PATTERN "string_pattern_mismatch"

enum { SF_NAME, SF_DOMAIN, SF_SOURCE_TABLE, SF_LABEL_COLUMN, SF_PROBLEM_TYPE, SF_ALGORITHM,
	SF_PRESET, SF_FE_JOB_ID, SF_AUTO_TRIGGER, SF__MAX };

static const struct vfield spec_fields[SF__MAX] = {
	[SF_NAME] = { "name", V_STRING, 1, .check = name_check, .code = PATTERN,
		.msg = "Name must have 1 to " LIM_STR(LIM_JOB_NAME) " characters",
		.msg2 = "Name must be valid UTF-8 without control characters" },
	[SF_DOMAIN] = { "domain", V_STRING, 1, .check = domain_check, .code = PATTERN,
		.msg = "Domain must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$" },
	[SF_SOURCE_TABLE] = { "source_table", V_STRING, 1, .check = table_check, .code = PATTERN,
		.msg = "Source table must be a table name or schema.table "
			"(letters, digits and _, at most 63 each)" },
	[SF_LABEL_COLUMN] = { "label_column", V_STRING, 0, .check = label_check, .code = PATTERN,
		.msg = "Label column must match ^[A-Za-z_][A-Za-z0-9_]{0,62}$", .def_s = "label" },
	[SF_PROBLEM_TYPE] = { "problem_type", V_ENUM, 1, .spell = &problem_type_spelling },
	[SF_ALGORITHM] = { "algorithm", V_ENUM, 1, .spell = &algorithm_spelling },
	[SF_PRESET] = { "preset", V_ENUM, 0, .spell = &preset_spelling, .def = PRESET_BALANCED },
	[SF_FE_JOB_ID] = { "feature_engineering_job_id", V_UUID, 0 },
	[SF_AUTO_TRIGGER] = { "auto_trigger", V_BOOL, 0, .def = 1 },
};

enum aerr job_spec_parse(struct arena *a, const char *body, size_t len,
		struct job_spec *spec, json_object **detail_out)
{
	struct vval v[SF__MAX];
	json_object *detail;
	enum aerr rc;

	memset(spec, 0, sizeof(*spec));
	*detail_out = NULL;
	detail = json_object_new_array();
	if (!detail)
		return AE_NOMEM;
	rc = valid_body(a, body, len, spec_fields, SF__MAX, NULL, v, detail);
	/* the one rule across fields, after the fields' own entries */
	if (rc != AE_NOMEM && v[SF_PROBLEM_TYPE].set && v[SF_ALGORITHM].set &&
	    !algorithm_fits((enum algorithm)v[SF_ALGORITHM].i, (enum problem_type)v[SF_PROBLEM_TYPE].i)) {
		char msg[160];
		snprintf(msg, sizeof(msg), "Algorithm '%s' does not fit problem_type '%s'",
				v[SF_ALGORITHM].s, v[SF_PROBLEM_TYPE].s);
		detail_add(detail, "body", "algorithm", msg, "value_error");
		rc = json_object_array_length(detail) > 0 ? AE_VALIDATION : AE_NOMEM;
	}
	if (rc)
		goto out;
	spec->name = v[SF_NAME].s;
	spec->domain = v[SF_DOMAIN].s;
	spec->source_table = v[SF_SOURCE_TABLE].s;
	spec->label_column = v[SF_LABEL_COLUMN].s;
	spec->problem_type = (enum problem_type)v[SF_PROBLEM_TYPE].i;
	spec->algorithm = (enum algorithm)v[SF_ALGORITHM].i;
	spec->preset = (enum preset)v[SF_PRESET].i;
	spec->feature_engineering_job_id = v[SF_FE_JOB_ID].s;
	spec->auto_trigger = (int)v[SF_AUTO_TRIGGER].i;
out:
	if (rc == AE_VALIDATION)
		*detail_out = detail;
	else
		json_object_put(detail);
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
