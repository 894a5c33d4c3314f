/* test_routes.c - TAP unit tests of the route table (src/routes.c): which
 * handler a method + PATH_INFO selects, 404 vs 405 + Allow, mount prefixes,
 * trailing slashes and {job_id} extraction. Handlers are never run. */
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "tap.h"
#include "arena.h"
#include "handlers/handlers.h"
#include "http.h"
#include "routes.h"

#define BASE "/api/automl/train/jobs"
#define UUID1 "3c90c3cc-0d44-4b50-8888-8dd25736052a"

struct out {
	char data[8192];
	size_t len;
};

static int mem_write(void *io, const char *src, size_t n)
{
	struct out *o = io;

	if (n > sizeof(o->data) - 1 - o->len)
		return -1;
	memcpy(o->data + o->len, src, n);
	o->len += n;
	o->data[o->len] = '\0';
	return 0;
}

static int no_read(void *io, char *dst, size_t n)
{
	(void)io;
	(void)dst;
	(void)n;
	return 0;
}

static void req_init(struct request *r, struct arena *a, const char *method, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->arena = a;
	r->method = method;
	r->path = path;
	r->query = "";
	r->read = no_read;
	r->write = mem_write;
}

/* Match method + path; returns the handler and sets *allow / *job_id. */
static handler_fn m(struct arena *a, const char *method, const char *path, const char **allow,
		const char **job_id)
{
	struct request r;
	handler_fn fn;

	req_init(&r, a, method, path);
	fn = routes_match(&r, allow);
	*job_id = r.job_id;
	return fn;
}

/* The methods of an Allow value as a canonical sorted, comma-joined list. */
static const char *allow_set(struct arena *a, const char *allow)
{
	static const char *const methods[] = { "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT" };
	char *out;
	size_t n = 0;

	if (!allow)
		return NULL;
	out = arena_alloc(a, 64);
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		const char *p = allow;
		size_t k = strlen(methods[i]);
		int found = 0;
		while ((p = strstr(p, methods[i])) != NULL) {
			if ((p == allow || p[-1] == ' ' || p[-1] == ',') && (p[k] == '\0' || p[k] == ',' || p[k] == ' '))
				found = 1;
			p += k;
		}
		if (found)
			n += (size_t)snprintf(out + n, 64 - n, "%s%s", n ? "," : "", methods[i]);
	}
	return out;
}

static void test_match_each_route(struct arena *a)
{
	static const struct {
		const char *method, *path;
		handler_fn fn;
		const char *job_id;
		const char *name;
	} cases[] = {
		{ "GET", "/healthz", handle_healthz, NULL, "healthz" },
		{ "GET", BASE, handle_list, NULL, "list" },
		{ "POST", BASE, handle_create, NULL, "create" },
		{ "GET", BASE "/status", handle_status_bulk, NULL, "bulk status" },
		{ "GET", BASE "/" UUID1, handle_get, UUID1, "get" },
		{ "POST", BASE "/" UUID1 "/trigger", handle_trigger, UUID1, "trigger" },
		{ "PUT", BASE "/" UUID1 "/status", handle_status_put, UUID1, "status write-back" },
	};
	static const char *const prefixes[] = { "", "/cgi-bin/automl-api", "/automl-api" };
	static const char *const suffixes[] = { "", "/" };

	for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++)
		for (size_t s = 0; s < sizeof(suffixes) / sizeof(suffixes[0]); s++)
			for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
				const char *allow = "x", *job_id = "x";
				const char *path = arena_printf(a, "%s%s%s", prefixes[p], cases[i].path, suffixes[s]);
				handler_fn fn = m(a, cases[i].method, path, &allow, &job_id);
				ok(fn == cases[i].fn, "%s %s -> %s", cases[i].method, path, cases[i].name);
				ok(allow == NULL, "%s %s: no Allow on a match", cases[i].method, path);
				is_str(job_id, cases[i].job_id, "%s %s: job_id", cases[i].method, path);
			}
}

static void test_status_vs_id(struct arena *a)
{
	const char *allow, *job_id;
	handler_fn fn;

	fn = m(a, "GET", BASE "/status", &allow, &job_id);
	ok(fn == handle_status_bulk, "GET .../jobs/status is the bulk status, not get(job_id=status)");
	ok(job_id == NULL, "bulk status has no job_id");
	fn = m(a, "GET", BASE "/statuses", &allow, &job_id);
	ok(fn == handle_get, "GET .../jobs/statuses is get");
	is_str(job_id, "statuses", "job_id is the raw segment (validated by the handler)");
	fn = m(a, "GET", BASE "/not-a-uuid", &allow, &job_id);
	ok(fn == handle_get, "GET with a non-uuid id still routes to get (handler answers 422)");
	is_str(job_id, "not-a-uuid", "raw non-uuid segment");
	fn = m(a, "GET", BASE "/status/status", &allow, &job_id);
	ok(fn == NULL && allow && strcmp(allow_set(a, allow), "PUT") == 0,
			"GET .../jobs/status/status -> 405 Allow PUT (write-back of a job named status)");
	fn = m(a, "PUT", BASE "/status/status", &allow, &job_id);
	ok(fn == handle_status_put, "PUT .../jobs/status/status -> write-back");
	is_str(job_id, "status", "job_id \"status\"");
	fn = m(a, "POST", BASE "/trigger/trigger", &allow, &job_id);
	ok(fn == handle_trigger, "POST .../jobs/trigger/trigger -> trigger");
	is_str(job_id, "trigger", "job_id \"trigger\"");
	fn = m(a, "POST", BASE "/%7Bjob_id%7D/trigger", &allow, &job_id);
	ok(fn == handle_trigger, "an encoded {job_id} is just a segment");
	is_str(job_id, "%7Bjob_id%7D", "segment kept as given");
	fn = m(a, "GET", BASE "/{job_id}", &allow, &job_id);
	ok(fn == handle_get, "literal {job_id} is just a segment");
	is_str(job_id, "{job_id}", "literal {job_id} segment");
	fn = m(a, "GET", BASE "/a.b~c:d", &allow, &job_id);
	is_str(job_id, "a.b~c:d", "punctuation kept in the segment");
}

static void test_405(struct arena *a)
{
	static const struct {
		const char *method, *path, *allow;
	} cases[] = {
		{ "POST", "/healthz", "GET" },
		{ "DELETE", "/healthz", "GET" },
		{ "PUT", BASE, "GET,POST" },
		{ "DELETE", BASE, "GET,POST" },
		{ "PATCH", BASE, "GET,POST" },
		{ "POST", BASE "/status", "GET" },
		{ "DELETE", BASE "/" UUID1, "GET" },
		{ "POST", BASE "/" UUID1, "GET" },
		{ "PUT", BASE "/" UUID1, "GET" },
		{ "GET", BASE "/" UUID1 "/trigger", "POST" },
		{ "PUT", BASE "/" UUID1 "/trigger", "POST" },
		{ "GET", BASE "/" UUID1 "/status", "PUT" },
		{ "POST", BASE "/" UUID1 "/status", "PUT" },
		{ "HEAD", BASE, "GET,POST" },
		{ "OPTIONS", BASE "/" UUID1, "GET" },
		{ "get", BASE, "GET,POST" },
		{ "", BASE, "GET,POST" },
		{ "GET ", BASE, "GET,POST" },
		{ "POST", "/automl-api" BASE "/" UUID1 "/status/", "PUT" },
		{ "GET", "/cgi-bin/automl-api" BASE "/" UUID1 "/trigger", "POST" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *allow = NULL, *job_id;
		handler_fn fn = m(a, cases[i].method, cases[i].path, &allow, &job_id);
		ok(fn == NULL, "\"%s\" %s: no handler", cases[i].method, cases[i].path);
		is_str(allow_set(a, allow), cases[i].allow, "\"%s\" %s: Allow %s", cases[i].method,
				cases[i].path, cases[i].allow);
	}
	{
		const char *allow = NULL, *job_id;
		handler_fn fn = m(a, NULL, BASE, &allow, &job_id);
		ok(fn == NULL && allow != NULL, "NULL method: 405, no crash");
		fn = m(a, "DELETE", BASE, &allow, &job_id);
		ok(allow && (strcmp(allow, "GET, POST") == 0 || strcmp(allow, "POST, GET") == 0),
				"Allow lists each method once, \", \"-separated: %s", allow ? allow : "(null)");
	}
}

static void test_404(struct arena *a)
{
	static const char *const paths[] = {
		"", "/", "//", "/api", "/api/automl", "/api/automl/train", "/api/automl/train/job",
		"/api/automl/train/jobsx", "/API/automl/train/jobs", BASE "//", BASE "//trigger",
		BASE "/" UUID1 "/trigger/x", BASE "/" UUID1 "/x", BASE "/" UUID1 "//status",
		BASE "/" UUID1 "/status//", "/healthz/x", "/healthzz", "/healthz//", "healthz",
		"api/automl/train/jobs", "/cgi-bin/automl-api", "/cgi-bin/automl-api/",
		"/cgi-bin/automl-apix/healthz", "/automl-apix/healthz", "/cgi-bin/automl-api-x/healthz",
		"/automl-api/automl-api/healthz", "/cgi-bin/healthz", "/other-prefix" BASE,
		"/cgi-bin/automl-api/cgi-bin/automl-api/healthz", BASE "/../jobs", "/./healthz",
		"/healthz?x=1", "/healthz\n", "/%68ealthz",
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		for (int k = 0; k < 3; k++) {
			static const char *const methods[] = { "GET", "POST", "PUT" };
			const char *allow = "x", *job_id;
			char shown[128];
			handler_fn fn = m(a, methods[k], paths[i], &allow, &job_id);
			snprintf(shown, sizeof(shown), "%s", paths[i]);
			for (char *c = shown; *c; c++)
				if (*c == '\n')
					*c = '?';
			ok(fn == NULL && allow == NULL, "%s \"%s\" -> 404 (no handler, no Allow)", methods[k], shown);
		}
	{
		const char *allow = "x", *job_id;
		handler_fn fn = m(a, "GET", NULL, &allow, &job_id);
		ok(fn == NULL && allow == NULL, "NULL path -> 404, no crash");
	}
}

/* routes_dispatch writes 404 and 405 itself (no handler is run for them). */
static void test_dispatch(struct arena *a)
{
	struct request r;
	struct out o;
	const char *body;
	json_object *j, *v;

	memset(&o, 0, sizeof(o));
	req_init(&r, a, "DELETE", BASE "/" UUID1);
	r.io = &o;
	routes_dispatch(&r);
	is_int(r.status, 405, "dispatch DELETE job -> 405");
	ok(strncmp(o.data, "Status: 405 ", 12) == 0, "405 status line");
	ok(strstr(o.data, "\r\nAllow: GET\r\n") != NULL, "405 carries Allow: GET");
	ok(strstr(o.data, "Content-Type: application/json\r\n") != NULL, "405 is JSON");
	body = strstr(o.data, "\r\n\r\n");
	j = body ? json_tokener_parse(body + 4) : NULL;
	ok(j && json_object_object_get_ex(j, "detail", &v) && json_object_is_type(v, json_type_string),
			"405 body is {\"detail\": string}");
	json_object_put(j);

	memset(&o, 0, sizeof(o));
	req_init(&r, a, "PATCH", "/cgi-bin/automl-api" BASE);
	r.io = &o;
	routes_dispatch(&r);
	is_int(r.status, 405, "dispatch PATCH list (mounted) -> 405");
	ok(strstr(o.data, "\r\nAllow: GET, POST\r\n") || strstr(o.data, "\r\nAllow: POST, GET\r\n"),
			"405 Allow: GET, POST");

	memset(&o, 0, sizeof(o));
	req_init(&r, a, "GET", "/nope");
	r.io = &o;
	routes_dispatch(&r);
	is_int(r.status, 404, "dispatch unknown path -> 404");
	ok(strncmp(o.data, "Status: 404 ", 12) == 0, "404 status line");
	ok(strstr(o.data, "\r\nAllow:") == NULL, "404 has no Allow");
	body = strstr(o.data, "\r\n\r\n");
	j = body ? json_tokener_parse(body + 4) : NULL;
	ok(j && json_object_object_get_ex(j, "detail", &v) && json_object_is_type(v, json_type_string),
			"404 body is {\"detail\": string}");
	json_object_put(j);

	memset(&o, 0, sizeof(o));
	req_init(&r, a, "GET", "");
	r.io = &o;
	routes_dispatch(&r);
	is_int(r.status, 404, "dispatch empty path -> 404");
}

/* Matching many times reuses nothing stale: an Allow from one request does
 * not leak into the next, a job_id from one request does not either. */
static void test_no_stale_state(struct arena *a)
{
	const char *allow, *job_id;
	handler_fn fn;

	fn = m(a, "DELETE", BASE, &allow, &job_id);
	ok(fn == NULL && allow, "405 first");
	fn = m(a, "DELETE", "/healthz", &allow, &job_id);
	is_str(allow_set(a, allow), "GET", "then another 405 has only its own Allow");
	fn = m(a, "GET", "/nope", &allow, &job_id);
	ok(fn == NULL && allow == NULL, "then a 404 has no Allow");
	fn = m(a, "GET", BASE "/" UUID1, &allow, &job_id);
	is_str(job_id, UUID1, "job id");
	fn = m(a, "GET", BASE, &allow, &job_id);
	ok(fn == handle_list && job_id == NULL, "list after get: no job_id");
}

int main(void)
{
	struct arena *a = arena_new();

	if (!a) {
		ok(0, "arena_new");
		return done_testing();
	}
	test_match_each_route(a);
	test_status_vs_id(a);
	test_405(a);
	test_404(a);
	test_dispatch(a);
	test_no_stale_state(a);
	arena_free(a);
	return done_testing();
}
