/* test_http.c - TAP unit tests of the HTTP edge (src/http.c): percent
 * decoding, query parameters, the capped JSON body reader and the response
 * writer, driven through in-memory read/write callbacks. No server needed. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <json-c/json.h>
#include "tap.h"
#include "arena.h"
#include "http.h"
#include "job.h"
#include "auth.h"
#include "config.h"

/* ---- in-memory I/O ----------------------------------------------------- */

struct mem_in {
	const char *data;
	size_t len, pos;
	size_t chunk;     /* at most this many bytes per read (0: no limit) */
	int calls;
	int fail;         /* read returns -1 */
};

struct mem_out {
	char *data;
	size_t len, cap;
	int fail;         /* write returns -1 */
};

static int mem_read(void *io, char *dst, size_t n)
{
	struct mem_in *in = io;
	size_t k = in->len - in->pos;

	in->calls++;
	if (in->fail)
		return -1;
	if (k > n)
		k = n;
	if (in->chunk && k > in->chunk)
		k = in->chunk;
	memcpy(dst, in->data + in->pos, k);
	in->pos += k;
	return (int)k;
}

static int mem_write(void *io, const char *src, size_t n)
{
	struct mem_out *o = io;

	if (o->fail)
		return -1;
	if (o->len + n + 1 > o->cap) {
		size_t cap = (o->len + n + 1) * 2;
		char *p = realloc(o->data, cap);
		if (!p)
			return -1;
		o->data = p;
		o->cap = cap;
	}
	memcpy(o->data + o->len, src, n);
	o->len += n;
	o->data[o->len] = '\0';
	return 0;
}

static long max_body = 1024;   /* what the requests get as r->max_body */

static void req_init(struct request *r, struct arena *a, struct mem_out *out)
{
	memset(r, 0, sizeof(*r));
	r->arena = a;
	r->max_body = max_body;
	r->method = "GET";
	r->path = "/api/automl/train/jobs";
	r->query = "";
	r->read = mem_read;
	r->write = mem_write;
	r->io = out;
}

/* The read side and the write side need different io pointers; the request
 * has one, so the reader wraps both. */
struct both {
	struct mem_in in;
	struct mem_out out;
};

static int both_read(void *io, char *dst, size_t n)
{
	return mem_read(&((struct both *)io)->in, dst, n);
}

static int both_write(void *io, const char *src, size_t n)
{
	return mem_write(&((struct both *)io)->out, src, n);
}

static void breq(struct request *r, struct arena *a, struct both *b, const char *ct, const char *cl,
		const char *body, size_t body_len)
{
	memset(r, 0, sizeof(*r));
	free(b->out.data);
	memset(b, 0, sizeof(*b));
	b->in.data = body;
	b->in.len = body_len;
	r->arena = a;
	r->max_body = max_body;
	r->method = "POST";
	r->path = "/api/automl/train/jobs";
	r->query = "";
	r->content_type = ct;
	r->content_length = cl;
	r->read = both_read;
	r->write = both_write;
	r->io = b;
}

/* ---- http_url_decode --------------------------------------------------- */

static void test_url_decode(struct arena *a)
{
	static const struct {
		const char *in;
		size_t n;           /* (size_t)-1: strlen */
		const char *want;   /* NULL: must fail */
	} cases[] = {
		{ "abc", (size_t)-1, "abc" },
		{ "", (size_t)-1, "" },
		{ "a%20b", (size_t)-1, "a b" },
		{ "a+b", (size_t)-1, "a b" },
		{ "++", (size_t)-1, "  " },
		{ "%2B", (size_t)-1, "+" },
		{ "%2b", (size_t)-1, "+" },
		{ "%41%42c", (size_t)-1, "ABc" },
		{ "%e2%82%AC", (size_t)-1, "\xe2\x82\xac" },
		{ "%25", (size_t)-1, "%" },
		{ "%2525", (size_t)-1, "%25" },
		{ "%26%3D", (size_t)-1, "&=" },
		{ "%7e~", (size_t)-1, "~~" },
		{ "%ff", (size_t)-1, "\xff" },
		{ "%", (size_t)-1, NULL },
		{ "%4", (size_t)-1, NULL },
		{ "100%", (size_t)-1, NULL },
		{ "%%", (size_t)-1, NULL },
		{ "%%41", (size_t)-1, NULL },
		{ "%zz", (size_t)-1, NULL },
		{ "%4g", (size_t)-1, NULL },
		{ "%g4", (size_t)-1, NULL },
		{ "% 4", (size_t)-1, NULL },
		{ "%-1", (size_t)-1, NULL },
		{ "%+1", (size_t)-1, NULL },
		{ "%00", (size_t)-1, NULL },
		{ "a%00b", (size_t)-1, NULL },
		{ "abc%41", 3, "abc" },
		{ "%41", 2, NULL },
		{ "%41", 3, "A" },
		{ "a\0b", 3, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cases[i].n == (size_t)-1 ? strlen(cases[i].in) : cases[i].n;
		const char *got = http_url_decode(a, cases[i].in, n);
		if (cases[i].want)
			is_str(got, cases[i].want, "url_decode(\"%s\", %zu)", cases[i].in, n);
		else
			ok(got == NULL, "url_decode(\"%s\", %zu) fails", cases[i].in, n);
	}
	{
		/* long input: output never longer than input */
		size_t n = 30000;
		char *in = arena_alloc(a, n + 1);
		const char *got;
		for (size_t i = 0; i < n; i += 3)
			memcpy(in + i, "%41", 3);
		got = http_url_decode(a, in, n);
		ok(got && strlen(got) == n / 3 && got[0] == 'A' && got[n / 3 - 1] == 'A', "10000 escapes decode");
	}
}

/* ---- query parameters -------------------------------------------------- */

static void test_query(struct arena *a)
{
	struct request r;
	struct mem_out out = { 0 };
	const char **vals;
	size_t n;

	req_init(&r, a, &out);

	r.query = "ids=a&ids=b&x=1&ids=c";
	is_str(http_query_get(&r, "ids"), "a", "get returns the first of repeated values");
	is_str(http_query_get(&r, "x"), "1", "get x");
	n = http_query_all(&r, "ids", &vals);
	is_int(n, 3, "all: three ids");
	ok(n == 3 && vals && strcmp(vals[0], "a") == 0 && strcmp(vals[1], "b") == 0 && strcmp(vals[2], "c") == 0,
			"all: values in order");
	n = http_query_all(&r, "x", &vals);
	ok(n == 1 && vals && strcmp(vals[0], "1") == 0, "all: single value");
	vals = (const char **)&r;   /* must be reset */
	n = http_query_all(&r, "missing", &vals);
	ok(n == 0 && vals == NULL, "all: missing key -> 0, NULL");
	ok(http_query_get(&r, "missing") == NULL, "get: missing key -> NULL");
	ok(http_query_get(&r, "id") == NULL, "get: prefix of a key is not the key");
	ok(http_query_get(&r, "idsx") == NULL, "get: extension of a key is not the key");
	ok(http_query_get(&r, "IDS") == NULL, "get: keys are case-sensitive");

	r.query = "";
	ok(http_query_get(&r, "ids") == NULL, "empty query: get NULL");
	n = http_query_all(&r, "ids", &vals);
	ok(n == 0 && vals == NULL, "empty query: all 0");
	r.query = NULL;
	ok(http_query_get(&r, "ids") == NULL, "NULL query: get NULL, no crash");
	n = http_query_all(&r, "ids", &vals);
	ok(n == 0 && vals == NULL, "NULL query: all 0");

	r.query = "cursor=&limit";
	is_str(http_query_get(&r, "cursor"), "", "key= -> empty value");
	is_str(http_query_get(&r, "limit"), "", "bare key -> empty value");

	r.query = "ids=&ids=x&ids";
	n = http_query_all(&r, "ids", &vals);
	ok(n == 3 && strcmp(vals[0], "") == 0 && strcmp(vals[1], "x") == 0 && strcmp(vals[2], "") == 0,
			"all keeps empty values");

	r.query = "&&ids=1&&ids=2&";
	n = http_query_all(&r, "ids", &vals);
	ok(n == 2 && strcmp(vals[0], "1") == 0 && strcmp(vals[1], "2") == 0, "empty pairs are skipped");

	r.query = "cursor=abc%3D%3D&owner=a+b&domain=x%26y%3Dz&q=1=2";
	is_str(http_query_get(&r, "cursor"), "abc==", "value percent-decoded");
	is_str(http_query_get(&r, "owner"), "a b", "'+' is a space");
	is_str(http_query_get(&r, "domain"), "x&y=z", "encoded & and = stay in the value");
	is_str(http_query_get(&r, "q"), "1=2", "only the first '=' splits");

	r.query = "%69ds=1&a+b=2&c%20d=3";
	is_str(http_query_get(&r, "ids"), "1", "keys are percent-decoded");
	is_str(http_query_get(&r, "a b"), "2", "'+' in a key");
	is_str(http_query_get(&r, "c d"), "3", "%%20 in a key");

	r.query = "ids=%zz&ids=ok&status=%00";
	{
		const char *v = http_query_get(&r, "ids");
		ok(v == NULL || (strcmp(v, "%zz") != 0 && !uuid_valid(v)),
				"a bad escape never comes back as the raw text or a valid id");
		n = http_query_all(&r, "ids", &vals);
		ok(n >= 1 && n <= 2, "bad escape: at most one value per pair (%zu)", n);
		ok(n >= 1 && strcmp(vals[n - 1], "ok") == 0, "the good value is still there");
		v = http_query_get(&r, "status");
		ok(v == NULL || (*v != '\0' && strcmp(v, "ready") && strcmp(v, "queued") &&
				strcmp(v, "running") && strcmp(v, "complete") && strcmp(v, "failed")),
				"%%00 never becomes a valid value");
	}

	{
		/* 1000 repeated keys, in order */
		size_t len = 0, cap = 1000 * 16;
		char *q = arena_alloc(a, cap);
		int good = 1;
		for (int i = 0; i < 1000; i++)
			len += (size_t)snprintf(q + len, cap - len, "%sids=%d", i ? "&" : "", i);
		r.query = q;
		n = http_query_all(&r, "ids", &vals);
		is_int(n, 1000, "1000 repeated keys");
		for (size_t i = 0; i < n && good; i++) {
			char want[24];
			snprintf(want, sizeof(want), "%zu", i);
			good = strcmp(vals[i], want) == 0;
		}
		ok(good, "1000 values in order");
	}
	free(out.data);
}

/* ---- body reading ------------------------------------------------------ */

static void test_read_body(struct arena *a)
{
	static const char *const json_types[] = {
		"application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8",
		"Application/JSON", "application/json ; charset=utf-8",
	};
	static const char *const other_types[] = {
		"text/plain", "", "application/jsonx", "application/json-patch+json", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "text/json", "json", "application/", "application/js",
		"application/json,text/plain",
	};
	static const char body[] = "{\"name\":\"x\"}";
	struct request r;
	struct both b = { 0 };
	enum aerr rc;
	char *big;
	size_t bigsz;

	max_body = 1024;

	for (size_t i = 0; i < sizeof(json_types) / sizeof(json_types[0]); i++) {
		breq(&r, a, &b, json_types[i], "12", body, strlen(body));
		rc = http_read_json_body(&r);
		is_int(rc, AE_OK, "Content-Type \"%s\" is JSON", json_types[i]);
		ok(rc == AE_OK && r.body_len == 12 && r.body && memcmp(r.body, body, 12) == 0,
				"\"%s\": body read", json_types[i]);
	}
	for (size_t i = 0; i < sizeof(other_types) / sizeof(other_types[0]); i++) {
		breq(&r, a, &b, other_types[i], "12", body, strlen(body));
		rc = http_read_json_body(&r);
		is_int(rc, AE_MEDIA_TYPE, "Content-Type \"%s\" -> AE_MEDIA_TYPE", other_types[i]);
	}
	breq(&r, a, &b, NULL, "12", body, strlen(body));
	is_int(http_read_json_body(&r), AE_MEDIA_TYPE, "no Content-Type -> AE_MEDIA_TYPE");
	ok(r.status == 0 && b.out.len == 0, "http_read_json_body writes no response itself");

	/* exact body read: only CONTENT_LENGTH bytes are consumed */
	breq(&r, a, &b, "application/json", "5", "hello world", 11);
	rc = http_read_json_body(&r);
	ok(rc == AE_OK && r.body_len == 5 && strcmp(r.body, "hello") == 0, "reads exactly CONTENT_LENGTH bytes");
	is_int(b.in.pos, 5, "consumes no more than CONTENT_LENGTH from the stream");
	ok(r.body && r.body[r.body_len] == '\0', "body is NUL-terminated");

	/* slow stream: one byte per read */
	breq(&r, a, &b, "application/json", "12", body, strlen(body));
	b.in.chunk = 1;
	rc = http_read_json_body(&r);
	ok(rc == AE_OK && r.body_len == 12 && strcmp(r.body, body) == 0, "body arriving 1 byte at a time");

	breq(&r, a, &b, "application/json", "0", "", 0);
	rc = http_read_json_body(&r);
	ok(rc == AE_OK && r.body_len == 0 && r.body && *r.body == '\0', "CONTENT_LENGTH 0 -> empty body");

	/* limits with CONTENT_LENGTH */
	bigsz = 64 * 1024;
	big = arena_alloc(a, bigsz + 1);
	memset(big, ' ', bigsz);
	big[0] = '{';
	breq(&r, a, &b, "application/json", "1024", big, 1024);
	rc = http_read_json_body(&r);
	ok(rc == AE_OK && r.body_len == 1024, "CONTENT_LENGTH == max is fine");
	breq(&r, a, &b, "application/json", "1025", big, 1025);
	rc = http_read_json_body(&r);
	is_int(rc, AE_TOO_LARGE, "CONTENT_LENGTH max+1 -> AE_TOO_LARGE");
	is_int(b.in.calls, 0, "over-large CONTENT_LENGTH is refused before reading");
	breq(&r, a, &b, "application/json", "99999999999", big, bigsz);
	rc = http_read_json_body(&r);
	is_int(rc, AE_TOO_LARGE, "huge CONTENT_LENGTH -> AE_TOO_LARGE");
	is_int(b.in.calls, 0, "huge CONTENT_LENGTH: nothing read");
	breq(&r, a, &b, "application/json", "99999999999999999999999", big, bigsz);
	rc = http_read_json_body(&r);
	is_int(rc, AE_TOO_LARGE, "CONTENT_LENGTH beyond long long -> AE_TOO_LARGE");
	is_int(b.in.calls, 0, "overflowing CONTENT_LENGTH: nothing read");

	/* bad CONTENT_LENGTH values: refused, nothing read */
	{
		static const char *const bad[] = { "-1", "abc", "12abc", "1 2", "0x10", "-0x1" };
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			breq(&r, a, &b, "application/json", bad[i], body, strlen(body));
			rc = http_read_json_body(&r);
			ok(rc != AE_OK, "CONTENT_LENGTH \"%s\" is refused", bad[i]);
			ok(r.body == NULL, "CONTENT_LENGTH \"%s\": no body", bad[i]);
		}
	}

	/* limits without CONTENT_LENGTH */
	breq(&r, a, &b, "application/json", NULL, big, 1024);
	rc = http_read_json_body(&r);
	ok(rc == AE_OK && r.body_len == 1024, "no CONTENT_LENGTH, body == max: fine");
	breq(&r, a, &b, "application/json", NULL, big, 1025);
	rc = http_read_json_body(&r);
	is_int(rc, AE_TOO_LARGE, "no CONTENT_LENGTH, body max+1 -> AE_TOO_LARGE");
	breq(&r, a, &b, "application/json", NULL, big, bigsz);
	rc = http_read_json_body(&r);
	is_int(rc, AE_TOO_LARGE, "no CONTENT_LENGTH, 64 KiB body with max 1 KiB -> AE_TOO_LARGE");
	ok(b.in.pos <= 1025, "stops reading just past the max (%zu bytes read)", b.in.pos);
	breq(&r, a, &b, "application/json", "", body, strlen(body));
	rc = http_read_json_body(&r);
	ok(rc == AE_OK && r.body_len == 12, "empty CONTENT_LENGTH -> read to EOF");
	breq(&r, a, &b, "application/json", NULL, body, strlen(body));
	b.in.chunk = 3;
	rc = http_read_json_body(&r);
	ok(rc == AE_OK && r.body_len == 12 && strcmp(r.body, body) == 0, "no CONTENT_LENGTH, chunked reads");

	/* read errors */
	breq(&r, a, &b, "application/json", "12", body, strlen(body));
	b.in.fail = 1;
	rc = http_read_json_body(&r);
	ok(rc != AE_OK, "read error -> not AE_OK");
	breq(&r, a, &b, "application/json", NULL, body, strlen(body));
	b.in.fail = 1;
	rc = http_read_json_body(&r);
	ok(rc != AE_OK, "read error without CONTENT_LENGTH -> not AE_OK");

	/* a bigger configured max lets a bigger body through */
	max_body = 65536;
	breq(&r, a, &b, "application/json", "65536", big, bigsz);
	rc = http_read_json_body(&r);
	ok(rc == AE_OK && r.body_len == 65536, "64 KiB with max 64 KiB: fine");
	max_body = 1024;
	free(b.out.data);
}

/* ---- responses --------------------------------------------------------- */

struct parsed {
	int status;
	char reason[64];
	const char *headers;   /* from after the status line to the blank line (arena) */
	const char *body;
	json_object *json;
	int ok_format;
};

/* Parse "Status: NNN Reason\r\n(Name: value\r\n)*\r\nbody". */
static void parse_response(struct arena *a, const char *text, struct parsed *p)
{
	const char *eol, *blank;
	char *end;
	long st;

	memset(p, 0, sizeof(*p));
	if (!text || strncmp(text, "Status: ", 8) != 0)
		return;
	st = strtol(text + 8, &end, 10);
	if (end != text + 11 || *end != ' ')
		return;
	p->status = (int)st;
	eol = strstr(end, "\r\n");
	if (!eol || (size_t)(eol - end - 1) >= sizeof(p->reason))
		return;
	memcpy(p->reason, end + 1, (size_t)(eol - end - 1));
	blank = strstr(eol, "\r\n\r\n");
	if (!blank)
		return;
	p->headers = arena_strndup(a, eol + 2, (size_t)(blank - eol));
	p->body = blank + 4;
	p->json = json_tokener_parse(p->body);
	/* every header line is "Name: value" */
	p->ok_format = 1;
	for (const char *l = eol + 2; l < blank + 2;) {
		const char *e = strstr(l, "\r\n"), *colon = memchr(l, ':', (size_t)(e - l));
		if (!colon || colon == l || colon[1] != ' ' || memchr(l, '\n', (size_t)(e - l)))
			p->ok_format = 0;
		l = e + 2;
	}
}

/* Header value (arena copy) of name in p, or NULL. */
static const char *header(struct arena *a, const struct parsed *p, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = p->headers; l && *l;) {
		const char *e = strstr(l, "\r\n");
		if (!e)
			break;
		if (strncasecmp(l, name, n) == 0 && l[n] == ':')
			return arena_strndup(a, l + n + 2, (size_t)(e - l - n - 2));
		l = e + 2;
	}
	return NULL;
}

static int count_header(const struct parsed *p, const char *name)
{
	size_t n = strlen(name);
	int c = 0;

	for (const char *l = p->headers; l && *l;) {
		const char *e = strstr(l, "\r\n");
		if (!e)
			break;
		if (strncasecmp(l, name, n) == 0 && l[n] == ':')
			c++;
		l = e + 2;
	}
	return c;
}

static void check_common(struct arena *a, const struct parsed *p, int status, const char *what)
{
	const char *cl;

	is_int(p->status, status, "%s: status %d", what, status);
	ok(p->ok_format, "%s: \"Status: NNN Reason\" + header lines + blank line", what);
	is_str(p->reason, http_reason(status), "%s: reason phrase", what);
	ok(header(a, p, "Content-Type") && strncmp(header(a, p, "Content-Type"), "application/json", 16) == 0,
			"%s: Content-Type application/json", what);
	is_int(count_header(p, "Content-Type"), 1, "%s: one Content-Type", what);
	is_int(count_header(p, "Status"), 0, "%s: no second Status header", what);
	cl = header(a, p, "Content-Length");
	ok(!cl || (p->body && strtoul(cl, NULL, 10) == strlen(p->body)), "%s: Content-Length matches the body", what);
	ok(p->json != NULL, "%s: body is JSON", what);
}

static void test_respond(struct arena *a)
{
	struct request r;
	struct both b = { 0 };
	struct parsed p;
	json_object *o, *v;

	/* plain JSON */
	breq(&r, a, &b, NULL, NULL, "", 0);
	o = json_object_new_object();
	json_object_object_add(o, "job_id", json_object_new_string("x"));
	json_object_object_add(o, "url", json_object_new_string("http://ui/dags/a_b"));
	json_object_object_add(o, "name", json_object_new_string("caf\xc3\xa9 \"q\" \n"));
	json_object_object_add(o, "n", NULL);
	http_respond_json(&r, 200, o, NULL);
	is_int(r.status, 200, "r->status set to the status sent");
	parse_response(a, b.out.data, &p);
	check_common(a, &p, 200, "200");
	ok(p.json && json_object_object_get_ex(p.json, "url", &v) &&
			strcmp(json_object_get_string(v), "http://ui/dags/a_b") == 0, "200: string round-trips");
	ok(p.json && json_object_object_get_ex(p.json, "name", &v) &&
			strcmp(json_object_get_string(v), "caf\xc3\xa9 \"q\" \n") == 0, "200: UTF-8, quotes, newline round-trip");
	ok(p.json && json_object_object_get_ex(p.json, "n", &v) && v == NULL, "200: null stays null");
	ok(strchr(p.body, '\n') == NULL, "body is one line (no raw newline)");
	json_object_put(p.json);

	/* a second response is refused: nothing more is written, status kept */
	{
		size_t before = b.out.len;
		o = json_object_new_object();
		json_object_object_add(o, "detail", json_object_new_string("second"));
		http_respond_json(&r, 500, o, NULL);     /* o must be freed (valgrind checks) */
		is_int(b.out.len, before, "second response writes nothing");
		is_int(r.status, 200, "second response keeps the first status");
		http_respond_error(&r, AE_INTERNAL, NULL);
		is_int(b.out.len, before, "second response (error) writes nothing");
		{
			json_object *d = json_object_new_array();
			detail_add(d, "body", "name", "m", "t");
			http_respond_validation(&r, d);
		}
		is_int(b.out.len, before, "second response (validation) writes nothing");
	}

	/* extra headers go between the fixed headers and the blank line */
	breq(&r, a, &b, NULL, NULL, "", 0);
	o = json_object_new_object();
	http_respond_json(&r, 201, o, "Location: /api/automl/train/jobs/x\r\nX-Two: 2\r\n");
	parse_response(a, b.out.data, &p);
	check_common(a, &p, 201, "201 + extra headers");
	is_str(header(a, &p, "Location"), "/api/automl/train/jobs/x", "Location header");
	is_str(header(a, &p, "X-Two"), "2", "second extra header");
	is_str(p.body, "{}", "empty object body");
	json_object_put(p.json);

	/* errors: {"detail": public message or the given detail} */
	{
		static const enum aerr codes[] = {
			AE_NOMEM, AE_UNAUTHORIZED, AE_FORBIDDEN, AE_NOT_FOUND, AE_NO_ROUTE, AE_METHOD,
			AE_CONFLICT, AE_BUSY, AE_TOO_LARGE, AE_MEDIA_TYPE, AE_VALIDATION, AE_DB_UNAVAILABLE,
			AE_DB, AE_DB_TIMEOUT, AE_AIRFLOW, AE_AIRFLOW_UNAVAILABLE, AE_AIRFLOW_TIMEOUT,
			AE_DAG_PUBLISH, AE_INTERNAL,
		};
		for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
			const struct aerr_info *info = aerr_info(codes[i]);
			char what[64];
			snprintf(what, sizeof(what), "error %d (%d)", (int)codes[i], info->status);
			breq(&r, a, &b, NULL, NULL, "", 0);
			http_respond_error(&r, codes[i], NULL);
			parse_response(a, b.out.data, &p);
			check_common(a, &p, info->status, what);
			ok(p.json && json_object_object_get_ex(p.json, "detail", &v) &&
					strcmp(json_object_get_string(v), info->message) == 0,
					"%s: detail is the table's public message", what);
			if (info->status == 503)
				ok(header(a, &p, "Retry-After") != NULL, "%s: 503 carries Retry-After", what);
			json_object_put(p.json);
		}
	}
	breq(&r, a, &b, NULL, NULL, "", 0);
	http_respond_error(&r, AE_CONFLICT, "job is running");
	parse_response(a, b.out.data, &p);
	check_common(a, &p, 409, "409 with detail");
	ok(p.json && json_object_object_get_ex(p.json, "detail", &v) &&
			strcmp(json_object_get_string(v), "job is running") == 0, "409: given detail");
	json_object_put(p.json);

	/* out of memory while building a body: 503 with a fixed JSON body */
	breq(&r, a, &b, NULL, NULL, "", 0);
	http_respond_json(&r, 200, NULL, NULL);
	parse_response(a, b.out.data, &p);
	check_common(a, &p, 503, "NULL body");
	ok(p.json && json_object_object_get_ex(p.json, "detail", &v), "NULL body: {\"detail\": ...}");
	ok(header(a, &p, "Retry-After") != NULL, "NULL body: 503 carries Retry-After");
	is_int(r.status, 503, "NULL body: status 503 recorded");
	json_object_put(p.json);
	breq(&r, a, &b, NULL, NULL, "", 0);
	http_respond_json(&r, 503, NULL, NULL);
	parse_response(a, b.out.data, &p);
	ok(p.status == 503 && header(a, &p, "Retry-After") != NULL, "503 with NULL body carries Retry-After");
	json_object_put(p.json);
	breq(&r, a, &b, NULL, NULL, "", 0);
	http_respond_json(&r, 503, json_object_new_object(), "Retry-After: 9\r\n");
	parse_response(a, b.out.data, &p);
	is_int(count_header(&p, "Retry-After"), 1, "503 with its own Retry-After: exactly one");
	json_object_put(p.json);

	/* validation */
	breq(&r, a, &b, NULL, NULL, "", 0);
	{
		json_object *d = json_object_new_array(), *e, *loc;
		detail_add(d, "body", "name", "Field required", "missing");
		detail_add(d, "body", "domain", "Field required", "missing");
		http_respond_validation(&r, d);
		parse_response(a, b.out.data, &p);
		check_common(a, &p, 422, "validation");
		ok(p.json && json_object_object_get_ex(p.json, "detail", &v) &&
				json_object_is_type(v, json_type_array) && json_object_array_length(v) == 2,
				"422: detail is the array");
		e = v ? json_object_array_get_idx(v, 1) : NULL;
		ok(e && json_object_object_get_ex(e, "loc", &loc) &&
				strcmp(json_object_get_string(json_object_array_get_idx(loc, 1)), "domain") == 0,
				"422: entries kept in order");
		json_object_put(p.json);
	}
	breq(&r, a, &b, NULL, NULL, "", 0);
	http_respond_invalid(&r, "path", "job_id", "Input should be a valid UUID", "uuid_parsing");
	parse_response(a, b.out.data, &p);
	check_common(a, &p, 422, "invalid");
	{
		json_object *e = NULL, *loc = NULL, *t = NULL, *msg = NULL;
		if (p.json && json_object_object_get_ex(p.json, "detail", &v) && json_object_array_length(v) == 1)
			e = json_object_array_get_idx(v, 0);
		ok(e && json_object_object_get_ex(e, "loc", &loc) && json_object_array_length(loc) == 2 &&
				strcmp(json_object_get_string(json_object_array_get_idx(loc, 0)), "path") == 0 &&
				strcmp(json_object_get_string(json_object_array_get_idx(loc, 1)), "job_id") == 0,
				"invalid: loc [path, job_id]");
		ok(e && json_object_object_get_ex(e, "type", &t) &&
				strcmp(json_object_get_string(t), "uuid_parsing") == 0, "invalid: type");
		ok(e && json_object_object_get_ex(e, "msg", &msg) &&
				strcmp(json_object_get_string(msg), "Input should be a valid UUID") == 0, "invalid: msg");
	}
	json_object_put(p.json);

	/* the client went away: no crash, status recorded */
	breq(&r, a, &b, NULL, NULL, "", 0);
	b.out.fail = 1;
	http_respond_error(&r, AE_NOT_FOUND, NULL);
	is_int(r.status, 404, "write failure: status still recorded");
	ok(b.out.len == 0, "write failure: nothing buffered");

	/* a large body goes out whole */
	breq(&r, a, &b, NULL, NULL, "", 0);
	{
		char *s = arena_alloc(a, 100001);
		memset(s, 'x', 100000);
		o = json_object_new_object();
		json_object_object_add(o, "rendered_dag", json_object_new_string(s));
		http_respond_json(&r, 200, o, NULL);
		parse_response(a, b.out.data, &p);
		check_common(a, &p, 200, "100 kB body");
		ok(p.json && json_object_object_get_ex(p.json, "rendered_dag", &v) &&
				json_object_get_string_len(v) == 100000, "100 kB string intact");
		json_object_put(p.json);
	}
	free(b.out.data);
}

/* ---- authentication failures (no keys needed) -------------------------- */

static void test_authenticate(struct arena *a)
{
	static const char *const bad[] = {
		NULL, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer abc", "Bearer a.b",
		"Bearer a.b.c.d", "Bearer eyJhbGciOiJub25lIn0.e30.", "bearer",
	};
	struct request r;
	struct both b = { 0 };
	struct parsed p;

	max_body = 1024;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *www;
		json_object *v;
		char what[80];
		enum aerr rc;

		snprintf(what, sizeof(what), "Authorization \"%s\"", bad[i] ? bad[i] : "(none)");
		breq(&r, a, &b, NULL, NULL, "", 0);
		r.authorization = bad[i];
		{
			struct config cfg;
			const char *why = NULL;

			memset(&cfg, 0, sizeof(cfg));
			rc = auth_authenticate(NULL, &cfg, a, bad[i], time(NULL), &r.principal, &why);
			is_int(rc, AE_UNAUTHORIZED, "%s -> AE_UNAUTHORIZED", what);
			http_respond_unauthorized(&r, why ? why : "not authenticated");
		}
		parse_response(a, b.out.data, &p);
		check_common(a, &p, 401, what);
		www = header(a, &p, "WWW-Authenticate");
		ok(www && strncmp(www, "Bearer", 6) == 0, "%s: WWW-Authenticate: Bearer", what);
		ok(p.json && json_object_object_get_ex(p.json, "detail", &v) &&
				json_object_is_type(v, json_type_string), "%s: {\"detail\": string}", what);
		ok(r.principal.sub == NULL, "%s: no principal", what);
		json_object_put(p.json);
	}
	free(b.out.data);
}

/* ---- out of memory ----------------------------------------------------- */

static void test_oom(struct arena *a)
{
	struct request r;
	struct both b = { 0 };
	static const char body[] = "{\"name\":\"x\"}";
	enum aerr rc;
	int wrong = 0, holes = 0;

	max_body = 1024;
	breq(&r, a, &b, "application/json", "12", body, strlen(body));
	arena_fail_after(1);
	rc = http_read_json_body(&r);
	arena_fail_after(0);
	is_int(rc, AE_NOMEM, "body buffer allocation fails -> AE_NOMEM");
	ok(r.body == NULL, "no body after AE_NOMEM");
	breq(&r, a, &b, "application/json", NULL, body, strlen(body));
	arena_fail_after(1);
	rc = http_read_json_body(&r);
	arena_fail_after(0);
	is_int(rc, AE_NOMEM, "no CONTENT_LENGTH, allocation fails -> AE_NOMEM");

	/* query lookups under out of memory: a wrong value is never returned */
	for (int n = 1; n <= 12; n++) {
		const char *v, **vals;
		size_t k;
		breq(&r, a, &b, NULL, NULL, "", 0);
		r.query = "a=1&ids=x%41&ids=y&b=2";
		arena_fail_after(n);
		v = http_query_get(&r, "ids");
		k = http_query_all(&r, "ids", &vals);
		arena_fail_after(0);
		if (v && strcmp(v, "xA") != 0 && strcmp(v, "\x01") != 0)
			wrong++;
		if (k > 2)
			holes++;
		for (size_t i = 0; i < k && i < 2; i++) {
			if (!vals[i])
				holes++;
			else if (strcmp(vals[i], i ? "y" : "xA") != 0 && strcmp(vals[i], "\x01") != 0)
				wrong++;
		}
	}
	is_int(holes, 0, "query_all under out of memory: every returned entry is a stored value");
	is_int(wrong, 0, "query lookups under out of memory: never a wrong (shifted) value");
	free(b.out.data);
}

int main(void)
{
	struct arena *a = arena_new();

	if (!a) {
		ok(0, "arena_new");
		return done_testing();
	}
	test_url_decode(a);
	test_query(a);
	test_read_body(a);
	test_respond(a);
	test_authenticate(a);
	test_oom(a);
	arena_free(a);
	return done_testing();
}
