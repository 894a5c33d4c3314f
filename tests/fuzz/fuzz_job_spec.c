/* fuzz_job_spec.c - libFuzzer harness for the create-body parser
 * (job_spec_parse) and, for bodies it accepts, the derived names and the job
 * JSON. Aborts when an invariant of job.h does not hold. Built by build.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "arena.h"
#include "job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int charset_ok(const char *s, const char *extra)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(extra, c)))
			return 0;
	}
	return 1;
}

/* Valid UTF-8 without control characters, 1..200 code points. */
static int name_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	long n = 0;

	while (*p) {
		unsigned c = *p;
		int k;
		unsigned cp;
		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			p++;
			n++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) { k = 1; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { k = 2; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { k = 3; cp = c & 0x07; }
		else return 0;
		for (int i = 1; i <= k; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += k + 1;
		n++;
	}
	return n >= 1 && n <= 200;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;
	struct job_spec spec;
	struct job job;
	json_object *detail = NULL, *o, *back;
	enum aerr rc;
	const char *s;

	if (!a)
		a = arena_new();
	if (!a)
		abort();
	rc = job_spec_parse(a, (const char *)data, size, &spec, &detail);
	if (rc == AE_OK) {
		if (detail)
			abort();
		if (!spec.name || !spec.domain || !spec.source_table || !spec.label_column)
			abort();
		if (!name_ok(spec.name))
			abort();
		if (!charset_ok(spec.domain, "_.-") || strlen(spec.domain) > 64)
			abort();
		if (!charset_ok(spec.source_table, "_.") || !charset_ok(spec.label_column, "_"))
			abort();
		if (!algorithm_fits(spec.algorithm, spec.problem_type) || (unsigned)spec.preset >= PRESET__MAX)
			abort();
		if (spec.feature_engineering_job_id && !uuid_valid(spec.feature_engineering_job_id))
			abort();
		job_init_from_spec(a, &job, &spec, "3c90c3cc-0d44-4b50-8888-8dd25736052a", "fuzz", "http://ui");
		if (!charset_ok(job.airflow_dag_id, "_.-") || strlen(job.airflow_dag_id) > 250)
			abort();
		s = job_run_id(a, &job, 1);
		if (!charset_ok(s, "_.~:+-") || strlen(s) > 250)
			abort();
		o = job_to_json(&job);
		if (!o)
			abort();
		s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		back = s ? json_tokener_parse(s) : NULL;
		if (!back || !json_object_equal(o, back))
			abort();
		json_object_put(back);
		json_object_put(o);
	} else if (rc == AE_VALIDATION) {
		if (!detail || !json_object_is_type(detail, json_type_array) ||
		    json_object_array_length(detail) == 0)
			abort();
		if (!json_object_to_json_string(detail))
			abort();
	} else if (rc != AE_NOMEM) {
		abort();
	}
	json_object_put(detail);
	arena_reset(a);
	return 0;
}
