/* routes.c - the route table (method + path pattern -> handler) and dispatch
 * with 404 for unknown paths and 405 + Allow for known paths with another
 * method. Patterns are '/'-separated; "{job_id}" matches one segment. */
#include <stdio.h>
#include <string.h>
#include "handlers/handlers.h"
#include "routes.h"

struct route {
	const char *method;
	const char *pattern;
	handler_fn fn;
};

/* Order matters: literal segments before {job_id} (".../jobs/status"). */
static const struct route routes[] = {
	{ "GET", "/healthz", handle_healthz },
	{ "GET", "/api/automl/train/jobs", handle_list },
	{ "POST", "/api/automl/train/jobs", handle_create },
	{ "GET", "/api/automl/train/jobs/status", handle_status_bulk },
	{ "GET", "/api/automl/train/jobs/{job_id}", handle_get },
	{ "POST", "/api/automl/train/jobs/{job_id}/trigger", handle_trigger },
	{ "PUT", "/api/automl/train/jobs/{job_id}/status", handle_status_put },
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static const char *const mount_prefixes[] = { "/cgi-bin/automl-api", "/automl-api" };

/* Does path match pattern? On a match, *param gets the {job_id} segment
 * (arena copy). */
static int match(struct arena *a, const char *pattern, const char *path, size_t plen,
		const char **param)
{
	const char *p = pattern, *s = path, *end = path + plen;

	while (*p && s < end) {
		const char *pseg_end, *sseg_end;
		if (*p != '/' || *s != '/')
			return 0;
		p++;
		s++;
		pseg_end = strchr(p, '/');
		if (!pseg_end)
			pseg_end = p + strlen(p);
		sseg_end = memchr(s, '/', (size_t)(end - s));
		if (!sseg_end)
			sseg_end = end;
		if (strncmp(p, "{job_id}", 8) == 0 && pseg_end - p == 8) {
			if (sseg_end == s)
				return 0;
			if (param)
				*param = arena_strndup(a, s, (size_t)(sseg_end - s));
		} else if (pseg_end - p != sseg_end - s || strncmp(p, s, (size_t)(pseg_end - p)) != 0) {
			return 0;
		}
		p = pseg_end;
		s = sseg_end;
	}
	return *p == '\0' && s == end;
}

static const char *route_path(const char *path, size_t *len)
{
	size_t n;

	if (!path || !*path)
		path = "/";
	for (size_t i = 0; i < sizeof(mount_prefixes) / sizeof(mount_prefixes[0]); i++) {
		size_t k = strlen(mount_prefixes[i]);
		if (strncmp(path, mount_prefixes[i], k) == 0 && path[k] == '/') {
			path += k;
			break;
		}
	}
	n = strlen(path);
	if (n > 1 && path[n - 1] == '/')
		n--;   /* one trailing slash is tolerated */
	*len = n;
	return path;
}

handler_fn routes_match(struct request *r, const char **allow)
{
	static char allow_buf[64];
	size_t plen, off = 0;
	const char *path = route_path(r->path, &plen);
	const char *method = r->method ? r->method : "";

	*allow = NULL;
	allow_buf[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++) {
		const char *param = NULL;
		if (!match(r->arena, routes[i].pattern, path, plen, &param))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			r->job_id = param;
			return routes[i].fn;
		}
		if (!strstr(allow_buf, routes[i].method))
			off += (size_t)snprintf(allow_buf + off, sizeof(allow_buf) - off, "%s%s",
					off ? ", " : "", routes[i].method);
	}
	if (off)
		*allow = allow_buf;
	return NULL;
}

void routes_dispatch(struct request *r)
{
	const char *allow;
	handler_fn fn = routes_match(r, &allow);
	char hdr[96];

	if (fn) {
		fn(r);
		if (!r->status)
			http_respond_error(r, AE_INTERNAL, NULL);
		return;
	}
	if (allow) {
		json_object *body = json_object_new_object();
		if (body)
			json_object_object_add(body, "detail", json_object_new_string("Method Not Allowed"));
		snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
		http_respond_json(r, 405, body, hdr);
		return;
	}
	http_respond_error(r, AE_NO_ROUTE, NULL);
}
