/* list.c - GET /api/automl/train/jobs: newest first, filters domain, owner,
 * status, problem_type, algorithm; limit 1..LIM_LIST_MAX (default
 * LIM_LIST_DEFAULT); an opaque keyset cursor (base64url of
 * "created_at,job_id"), stable under inserts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cjose/base64.h>
#include <cjose/util.h>
#include "../lim.h"
#include "../log.h"
#include "../service.h"
#include "handlers.h"

static char *encode_cursor(struct arena *a, const char *key, const char *job_id)
{
	char *plain = arena_printf(a, "%s,%s", key, job_id), *enc = NULL, *out;
	size_t enclen = 0;

	if (!plain || !cjose_base64url_encode((const uint8_t *)plain, strlen(plain), &enc, &enclen, NULL))
		return NULL;
	out = arena_strndup(a, enc, enclen);
	cjose_get_dealloc()(enc);
	return out;
}

/* 0 and the two halves, or -1 for anything that is not a cursor we made. */
static int decode_cursor(struct arena *a, const char *cursor, const char **key, const char **job_id)
{
	uint8_t *plain = NULL;
	size_t len = 0;
	char *s, *comma;

	if (strlen(cursor) > LIM_CURSOR ||
	    !cjose_base64url_decode(cursor, strlen(cursor), &plain, &len, NULL))
		return -1;
	s = arena_strndup(a, (const char *)plain, len);
	cjose_get_dealloc()(plain);
	if (!s || strlen(s) != len)
		return -1;
	comma = strrchr(s, ',');
	if (!comma)
		return -1;
	*comma = '\0';
	for (const char *p = s; *p; p++)
		if (!strchr("0123456789-:.TZ+ ", *p))
			return -1;
	if (!*s || !uuid_valid(comma + 1))
		return -1;
	*key = s;
	*job_id = comma + 1;
	return 0;
}

/* An enum filter: -1 = absent, -2 = bad (422 written). */
static int enum_filter(struct request *r, const char *name, int (*parse)(const char *, int *))
{
	const char *v = http_query_get(r, name);
	int out;

	if (!v)
		return -1;
	if (parse(v, &out) == 0)
		return out;
	http_respond_invalid(r, "query", name, "Input is not a valid value", "enum");
	return -2;
}

static int parse_status(const char *s, int *out)
{
	enum job_status v;
	int rc = status_parse(s, &v);
	*out = (int)v;
	return rc;
}

static int parse_problem(const char *s, int *out)
{
	enum problem_type v;
	int rc = problem_type_parse(s, &v);
	*out = (int)v;
	return rc;
}

static int parse_algorithm(const char *s, int *out)
{
	enum algorithm v;
	int rc = algorithm_parse(s, &v);
	*out = (int)v;
	return rc;
}

void handle_list(struct request *r)
{
	struct job_filter f = { .status = -1, .problem_type = -1, .algorithm = -1,
		.limit = LIM_LIST_DEFAULT };
	const char *v, **keys = NULL;
	struct job *jobs = NULL;
	size_t n = 0;
	json_object *body, *items;
	enum aerr rc;

	if (need_auth(r))
		return;
	v = http_query_get(r, "limit");
	if (v) {
		char *end;
		long lim;
		errno = 0;
		lim = strtol(v, &end, 10);
		if (errno || end == v || *end || lim < 1 || lim > LIM_LIST_MAX) {
			http_respond_invalid(r, "query", "limit",
					"Input should be a whole number from 1 to " LIM_STR(LIM_LIST_MAX),
					"int_range");
			return;
		}
		f.limit = (int)lim;
	}
	if ((f.status = enum_filter(r, "status", parse_status)) == -2 ||
	    (f.problem_type = enum_filter(r, "problem_type", parse_problem)) == -2 ||
	    (f.algorithm = enum_filter(r, "algorithm", parse_algorithm)) == -2)
		return;
	f.domain = http_query_get(r, "domain");
	f.owner = http_query_get(r, "owner");
	v = http_query_get(r, "cursor");
	if (v && *v && decode_cursor(r->arena, v, &f.after_created_at, &f.after_job_id)) {
		http_respond_invalid(r, "query", "cursor", "Input is not a valid cursor", "value_error");
		return;
	}
	if (!r->principal.admin) {
		f.domains = r->principal.domains;
		f.ndomains = r->principal.ndomains;
		if (f.ndomains == 0) {
			/* sees nothing: answer without asking the database */
			f.limit = 0;
		}
	}
	if (f.limit > 0) {
		if (need_db(r))
			return;
		rc = service_list(r->svc, r->arena, &f, &jobs, &keys, &n);
		if (rc == AE_VALIDATION) {
			http_respond_invalid(r, "query", "cursor", "Input is not a valid cursor", "value_error");
			return;
		}
		if (rc) {
			http_respond_error(r, rc, NULL);
			return;
		}
	}
	body = json_object_new_object();
	items = json_object_new_array();
	if (!body || !items) {
		json_object_put(body);
		json_object_put(items);
		http_respond_json(r, 503, NULL, NULL);
		return;
	}
	for (size_t i = 0; i < n && i < (size_t)f.limit; i++)
		json_object_array_add(items, job_to_json(&jobs[i]));
	json_object_object_add(body, "items", items);
	if (f.limit > 0 && n > (size_t)f.limit) {
		char *cur = encode_cursor(r->arena, keys[f.limit - 1], jobs[f.limit - 1].job_id);
		json_object_object_add(body, "next_cursor", cur ? json_object_new_string(cur) : NULL);
	} else {
		json_object_object_add(body, "next_cursor", NULL);
	}
	http_respond_json(r, 200, body, NULL);
}
