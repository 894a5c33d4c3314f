/* list.c - GET /api/automl/train/jobs: newest first, filters domain, owner,
 * status, problem_type, algorithm; limit 1..LIM_LIST_MAX (default LIM_LIST_DEFAULT); an opaque
 * keyset cursor (base64url of "created_at,job_id"), stable under inserts. */
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

/* A cursor we made ("" is none): 0 with its halves (created_at key, job id) in
 * v->strs, or 1. ctx: the request's arena. */
static int cursor_check(struct vval *v, void *arena)
{
	uint8_t *plain = NULL;
	size_t len = 0;
	char *s, *comma;
	const char **half;

	if (!*v->s)
		return 0;
	if (!cjose_base64url_decode(v->s, strlen(v->s), &plain, &len, NULL))
		return 1;
	s = arena_strndup(arena, (const char *)plain, len);
	cjose_get_dealloc()(plain);
	half = arena_alloc(arena, 2 * sizeof(*half));
	if (!s || !half || strlen(s) != len)
		return 1;
	comma = strrchr(s, ',');
	if (!comma)
		return 1;
	*comma = '\0';
	for (const char *p = s; *p; p++)
		if (!strchr("0123456789-:.TZ+ ", *p))
			return 1;
	if (!*s || !uuid_valid(comma + 1))
		return 1;
	half[0] = s;
	half[1] = comma + 1;
	v->strs = half;
	v->n = 2;
	return 0;
}

#define BAD_ENUM "Input is not a valid value"

enum { Q_LIMIT, Q_STATUS, Q_PROBLEM_TYPE, Q_ALGORITHM, Q_DOMAIN, Q_OWNER, Q_CURSOR, Q__MAX };

static const struct vfield list_query[Q__MAX] = {
	[Q_LIMIT] = { "limit", V_INT, 0, 1, LIM_LIST_MAX, .def = LIM_LIST_DEFAULT, .code = "int_range",
		.msg = "Input should be a whole number from 1 to " LIM_STR(LIM_LIST_MAX) },
	[Q_STATUS] = { "status", V_ENUM, 0, .spell = &status_spelling, .def = -1,
		.msg = BAD_ENUM, .code = "enum" },
	[Q_PROBLEM_TYPE] = { "problem_type", V_ENUM, 0, .spell = &problem_type_spelling, .def = -1,
		.msg = BAD_ENUM, .code = "enum" },
	[Q_ALGORITHM] = { "algorithm", V_ENUM, 0, .spell = &algorithm_spelling, .def = -1,
		.msg = BAD_ENUM, .code = "enum" },
	[Q_DOMAIN] = { "domain", V_STRING, 0 },
	[Q_OWNER] = { "owner", V_STRING, 0 },
	[Q_CURSOR] = { "cursor", V_STRING, 0, .hi = LIM_CURSOR, .check = cursor_check,
		.msg = "Input is not a valid cursor", .code = "value_error" },
};

void handle_list(struct request *r)
{
	struct job_filter f = { 0 };
	struct vval q[Q__MAX];
	const char **keys = NULL;
	struct job *jobs = NULL;
	size_t n = 0;
	json_object *body, *items;
	enum aerr rc;

	if (need_auth(r) || http_query_fields(r, list_query, Q__MAX, r->arena, q))
		return;
	f.limit = (int)q[Q_LIMIT].i;
	f.status = (int)q[Q_STATUS].i;
	f.problem_type = (int)q[Q_PROBLEM_TYPE].i;
	f.algorithm = (int)q[Q_ALGORITHM].i;
	f.domain = q[Q_DOMAIN].s;
	f.owner = q[Q_OWNER].s;
	if (q[Q_CURSOR].n == 2) {
		f.after_created_at = q[Q_CURSOR].strs[0];
		f.after_job_id = q[Q_CURSOR].strs[1];
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
		if (rc == AE_VALIDATION) {   /* a cursor the database refuses */
			http_respond_invalid(r, "query", "cursor", list_query[Q_CURSOR].msg,
					list_query[Q_CURSOR].code);
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
