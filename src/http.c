/* http.c - the HTTP edge: body reading with a cap and a media-type check,
 * bearer authentication, query parsing (walked by valid.h's query walker), and
 * the one response writer (CGI "Status:" header form, which FastCGI uses too).
 * Knows no SQL, no Airflow. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "http.h"
#include "valid.h"
#include "log.h"

static int media_type_is_json(const char *ct)
{
	size_t n = strlen("application/json");

	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, "application/json", n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

enum aerr http_read_json_body(struct request *r)
{
	long max = r->max_body;
	long long declared = -1;
	size_t cap, len = 0;
	char *data;

	if (!media_type_is_json(r->content_type))
		return AE_MEDIA_TYPE;
	if (r->content_length && *r->content_length) {
		char *end;
		errno = 0;
		declared = strtoll(r->content_length, &end, 10);
		if (errno == ERANGE && declared > 0)
			return AE_TOO_LARGE;   /* beyond long long is beyond any max */
		if (errno || *end != '\0' || declared < 0)
			return AE_VALIDATION;
		if (declared > max)
			return AE_TOO_LARGE;
	}
	cap = declared >= 0 ? (size_t)declared : (size_t)max + 1;
	data = arena_alloc(r->arena, cap + 1);
	if (!data)
		return AE_NOMEM;
	while (len < cap) {
		int n = r->read(r->io, data + len, cap - len);
		if (n < 0)
			return AE_VALIDATION;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (declared < 0 && len > (size_t)max)
		return AE_TOO_LARGE;
	data[len] = '\0';
	r->body = data;
	r->body_len = len;
	return AE_OK;
}

void http_respond_unauthorized(struct request *r, const char *why)
{
	char hdr[256];
	json_object *body;

	if (!r->authorization || !*r->authorization)
		snprintf(hdr, sizeof(hdr), "WWW-Authenticate: Bearer realm=\"automl\"\r\n");
	else
		snprintf(hdr, sizeof(hdr), "WWW-Authenticate: Bearer realm=\"automl\", "
				"error=\"invalid_token\", error_description=\"%s\"\r\n", why);
	body = json_object_new_object();
	if (body)
		json_object_object_add(body, "detail", json_object_new_string(why));
	http_respond_json(r, 401, body, hdr);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode the character at s[*i] (of n bytes): '+' is a space, %XX its byte.
 * Advances *i past it. -1 for a bad escape or a NUL (raw or %00). */
static int decode_char(const char *s, size_t n, size_t *i)
{
	char c = s[*i];

	if (c == '+') {
		c = ' ';
	} else if (c == '%') {
		int hi, lo;
		if (n - *i < 3)
			return -1;
		hi = hexval(s[*i + 1]);
		lo = hexval(s[*i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		c = (char)(hi * 16 + lo);
		*i += 2;
	}
	(*i)++;
	return c == '\0' ? -1 : (unsigned char)c;
}

char *http_url_decode(struct arena *a, const char *s, size_t n)
{
	char *out = arena_alloc(a, n + 1);
	size_t i = 0, k = 0;

	if (!out)
		return NULL;
	while (i < n) {
		int c = decode_char(s, n, &i);
		if (c < 0)
			return NULL;
		out[k++] = (char)c;
	}
	out[k] = '\0';
	return out;
}

/* Does the raw (still percent-encoded) key s[0..n) decode to name? Decodes
 * on the fly, so it needs no memory; a bad escape never matches. */
static int key_equals(const char *s, size_t n, const char *name)
{
	size_t i = 0;

	while (i < n) {
		int c = decode_char(s, n, &i);
		if (c < 0 || (unsigned char)*name != c)
			return 0;
		name++;
	}
	return *name == '\0';
}

/* Counts the values of `name` and stores up to max of them in vals. */
static size_t query_collect(struct request *r, const char *name, const char **vals, size_t max)
{
	const char *p = r->query ? r->query : "";
	size_t found = 0;

	while (*p) {
		const char *amp = strchr(p, '&');
		const char *end = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		const char *kend = eq ? eq : end;

		if (key_equals(p, (size_t)(kend - p), name)) {
			char *val = eq ? http_url_decode(r->arena, eq + 1, (size_t)(end - eq - 1))
				       : arena_strdup(r->arena, "");
			if (vals && found < max)
				vals[found] = val ? val : "\x01"; /* undecodable: never a valid value */
			found++;
		}
		p = amp ? amp + 1 : end;
	}
	return vals && found > max ? max : found;   /* never more than were stored */
}

const char *http_query_get(struct request *r, const char *name)
{
	const char *v = NULL;

	if (query_collect(r, name, &v, 1) == 0)
		return NULL;
	return v;
}

size_t http_query_all(struct request *r, const char *name, const char ***vals)
{
	size_t n = query_collect(r, name, NULL, 0);

	*vals = NULL;
	if (n == 0)
		return 0;
	*vals = arena_alloc(r->arena, n * sizeof(**vals));
	if (!*vals)
		return 0;
	return query_collect(r, name, *vals, n);
}

int http_query_fields(struct request *r, const struct vfield *f, size_t n, void *ctx,
		struct vval *out)
{
	const char **text = arena_alloc(r->arena, n * sizeof(*text));
	json_object *detail = json_object_new_array();
	enum aerr rc = AE_NOMEM;

	if (text && detail) {
		for (size_t i = 0; i < n; i++)
			text[i] = http_query_get(r, f[i].name);
		rc = valid_query(f, n, text, ctx, out, detail);
	}
	if (rc == AE_VALIDATION) {
		http_respond_validation(r, detail);
		return -1;
	}
	json_object_put(detail);
	if (rc) {
		http_respond_error(r, rc, NULL);
		return -1;
	}
	return 0;
}

static void write_all(struct request *r, const char *s, size_t n)
{
	if (r->write(r->io, s, n) < 0)
		log_warn("client went away while writing the response");
}

void http_respond_json(struct request *r, int status, json_object *body, const char *extra_headers)
{
	char head[512];
	const char *text;
	int n;

	if (r->status) {
		log_error("second response for one request (status %d after %d)", status, r->status);
		json_object_put(body);
		return;
	}
	if (!body) {
		/* out of memory while building the answer: a fixed body */
		status = 503;
		text = "{\"detail\":\"the service is out of memory; try again\"}";
	} else {
		text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
				JSON_C_TO_STRING_NOSLASHESCAPE);
		if (!text) {
			status = 503;
			text = "{\"detail\":\"the service is out of memory; try again\"}";
		}
	}
	r->status = status;
	if (status == 503 && (!extra_headers || !body))
		extra_headers = "Retry-After: 5\r\n";   /* every 503, the out-of-memory one too */
	n = snprintf(head, sizeof(head), "Status: %d %s\r\nContent-Type: application/json\r\n"
			"Cache-Control: no-store\r\nContent-Length: %zu\r\n",
			status, http_reason(status), strlen(text));
	write_all(r, head, (size_t)n);
	if (extra_headers)
		write_all(r, extra_headers, strlen(extra_headers));
	write_all(r, "\r\n", 2);
	write_all(r, text, strlen(text));
	json_object_put(body);
}

void http_respond_error(struct request *r, enum aerr e, const char *detail)
{
	const struct aerr_info *info = aerr_info(e);
	json_object *body = json_object_new_object();
	const char *extra = NULL;

	if (body)
		json_object_object_add(body, "detail",
				json_object_new_string(detail ? detail : info->message));
	if (info->status == 503)
		extra = "Retry-After: 5\r\n";
	http_respond_json(r, info->status, body, extra);
}

void http_respond_validation(struct request *r, json_object *detail)
{
	json_object *body = json_object_new_object();

	if (!body) {
		json_object_put(detail);
		http_respond_json(r, 503, NULL, NULL);
		return;
	}
	json_object_object_add(body, "detail", detail);
	http_respond_json(r, 422, body, NULL);
}

void http_respond_invalid(struct request *r, const char *where, const char *field,
		const char *msg, const char *type)
{
	json_object *detail = json_object_new_array();

	if (detail)
		detail_add(detail, where, field, msg, type);
	http_respond_validation(r, detail);
}
