/* http.h - the request context and the response writer.
 * One struct request per request (after kcgi's kreq): CGI variables, the
 * bounded body, the arena, the principal and the route parameters. The I/O is
 * behind two callbacks so the same code serves FastCGI, CGI and unit tests. */
#ifndef AUTOML_HTTP_H
#define AUTOML_HTTP_H
#include <stddef.h>
#include <json-c/json.h>
#include "arena.h"
#include "auth.h"
#include "errors.h"

struct service;

struct request {
	struct arena *arena;
	struct service *svc;           /* process-wide, opaque: handlers pass it to service_* */
	long max_body;                 /* AUTOML_MAX_BODY */

	/* CGI variables (borrowed from the server's environment) */
	const char *method;            /* REQUEST_METHOD */
	const char *path;              /* PATH_INFO (or the path part of REQUEST_URI) */
	const char *query;             /* QUERY_STRING, never NULL */
	const char *content_type;      /* CONTENT_TYPE */
	const char *content_length;    /* CONTENT_LENGTH */
	const char *authorization;     /* HTTP_AUTHORIZATION */
	const char *authorization_psk; /* HTTP_AUTHORIZATION_PSK */

	/* body, read on demand by http_read_json_body */
	const char *body;
	size_t body_len;

	/* I/O */
	int (*read)(void *io, char *dst, size_t n);          /* bytes read, 0 at EOF, <0 error */
	int (*write)(void *io, const char *src, size_t n);   /* 0 or <0 */
	void *io;

	/* set by the router */
	const char *job_id;            /* {job_id} path segment, not yet validated */

	/* set by http_authenticate */
	struct principal principal;

	int status;                    /* status sent, 0 until a response is written */
};

/* Reads the body: AE_MEDIA_TYPE unless Content-Type is application/json
 * (parameters allowed), AE_TOO_LARGE beyond r->max_body (checked on
 * CONTENT_LENGTH before reading, and while reading). */
enum aerr http_read_json_body(struct request *r);

/* The 401 of a failed bearer authentication: WWW-Authenticate (with the
 * reason, a static text, when a token was sent) and {"detail": why}. */
void http_respond_unauthorized(struct request *r, const char *why);

/* Query parameters, percent-decoded into the arena. http_query_get returns the
 * first value or NULL; http_query_all every value of a repeated key. */
const char *http_query_get(struct request *r, const char *name);
size_t http_query_all(struct request *r, const char *name, const char ***vals);
/* The query walker of valid.h over the request's query: out[i] is f[i]'s value
 * (strings in the arena); ctx goes to the checks. 0, or -1 after the 422 of
 * the first bad parameter (or a 503). */
struct vfield;
struct vval;
int http_query_fields(struct request *r, const struct vfield *f, size_t n, void *ctx,
		struct vval *out);
/* Percent-decode (and '+' -> ' '); NULL on bad escapes or embedded NUL. */
char *http_url_decode(struct arena *a, const char *s, size_t n);

/* Responses. body is stolen (json_object_put'ed). extra_headers: NULL or
 * "Name: value\r\n" lines. */
void http_respond_json(struct request *r, int status, json_object *body, const char *extra_headers);
/* {"detail": detail or the table's public message} with the table's status. */
void http_respond_error(struct request *r, enum aerr e, const char *detail);
/* 422 {"detail": [...]}; detail array is stolen. */
void http_respond_validation(struct request *r, json_object *detail);
/* 422 for one bad field */
void http_respond_invalid(struct request *r, const char *where, const char *field,
		const char *msg, const char *type);

#endif
