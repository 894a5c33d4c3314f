/* airflow.c - Airflow REST client: API v2 (Airflow 3) with a cached JWT from
 * /auth/token that is fetched again once on a 401, API v1 (Airflow 2) with
 * basic auth. Maps answers to enum af_rc plus a short, secret-free message.
 * The transport (libcurl, timeouts, guards, its failures) is httpc's. Knows
 * Airflow, not PostgreSQL. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE   /* strdup, explicit_bzero */
#endif
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <cjose/base64.h>
#include <cjose/util.h>
#include "airflow.h"
#include "buf.h"
#include "httpc.h"
#include "lim.h"
#include "log.h"

struct airflow {
	const struct config *cfg;   /* borrowed */
	struct httpc *http;         /* owned */
	const char *prefix;         /* "/api/v2" or "/api/v1" */
	char *token;                /* owned, NULL until fetched; wiped before free */
};

static const struct httpc_peer peer = { "Airflow", "AUTOML_AIRFLOW_URL", "airflow" };

/* One request as the call sites describe it. */
struct af_req {
	const char *method;   /* GET, POST, PATCH */
	const char *path;     /* after the API prefix, already escaped; or absolute when raw */
	int raw;              /* path is not under the API prefix (/auth/token) */
	const char *body;     /* JSON or NULL */
	size_t body_len;
	const char *what;     /* for messages: "the trigger", ... */
};

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

const char *af_rc_str(enum af_rc rc)
{
	switch (rc) {
	case AF_OK: return "ok";
	case AF_NOT_FOUND: return "not found";
	case AF_CONFLICT: return "conflict";
	case AF_UNAUTHORIZED: return "unauthorized";
	case AF_BAD_REQUEST: return "bad request";
	case AF_UNAVAILABLE: return "unavailable";
	case AF_TIMEOUT: return "timeout";
	case AF_PROTOCOL: return "protocol error";
	case AF_NOMEM: return "out of memory";
	}
	return "unknown";
}

struct airflow *airflow_new(const struct config *cfg)
{
	struct airflow *af;

	af = calloc(1, sizeof(*af));
	if (!af)
		return NULL;
	af->cfg = cfg;
	af->prefix = cfg->airflow_api == 1 ? "/api/v1" : "/api/v2";
	af->http = httpc_new(&peer, cfg->airflow_url, cfg->airflow_connect_timeout_ms,
			cfg->airflow_timeout_ms);
	if (!af->http) {
		airflow_free(af);
		return NULL;
	}
	return af;
}

void airflow_free(struct airflow *af)
{
	if (!af)
		return;
	free_secret(af->token);
	httpc_free(af->http);
	free(af);
}

void airflow_set_limit_ms(struct airflow *af, long ms)
{
	httpc_set_limit_ms(af->http, ms);
}

/* The Authorization header for this request, or none (0 with *hdr empty). */
static int auth_header(struct airflow *af, int for_token, struct buf *hdr)
{
	const char *user = af->cfg->airflow_user ? af->cfg->airflow_user : "";
	const char *pw = af->cfg->airflow_password ? af->cfg->airflow_password : "";
	struct buf up;
	char *b64 = NULL;
	size_t b64len = 0;
	int rc;

	if (for_token || !*user)
		return 0;
	if (af->cfg->airflow_api != 1)
		return af->token ? buf_printf(hdr, "Authorization: Bearer %s", af->token) : 0;
	buf_init(&up, 4096);
	rc = buf_printf(&up, "%s:%s", user, pw);
	if (rc)
		goto out;
	rc = buf_puts(hdr, "Authorization: Basic ");
	if (rc)
		goto out;
	/* base64 from cjose (already linked for JOSE), not a copy of our own */
	if (!cjose_base64_encode((const uint8_t *)up.data, up.len, &b64, &b64len, NULL)) {
		rc = -1;
		goto out;
	}
	rc = buf_append(hdr, b64, b64len);
out:
	if (b64) {
		explicit_bzero(b64, b64len);
		cjose_get_dealloc()(b64);
	}
	buf_wipe_free(&up);
	return rc;
}

/* Sends one request under the API prefix (unless raw) with its Authorization.
 * Returns AF_OK with *status set when Airflow answered at all (any status),
 * else httpc's failure with its message in err. */
static enum af_rc perform(struct airflow *af, const struct af_req *rq, long *status,
		char *err, size_t errlen)
{
	static const enum af_rc from_httpc[] = {
		[HTTPC_OK] = AF_OK, [HTTPC_UNAVAILABLE] = AF_UNAVAILABLE,
		[HTTPC_TIMEOUT] = AF_TIMEOUT, [HTTPC_PROTOCOL] = AF_PROTOCOL, [HTTPC_NOMEM] = AF_NOMEM,
	};
	struct httpc_req hr = { rq->method, NULL, NULL, rq->body, rq->body_len, rq->what };
	struct buf path, auth;
	enum af_rc rc = AF_NOMEM;

	*status = 0;
	buf_init(&path, LIM_PEER_PATH);
	buf_init(&auth, LIM_AIRFLOW_TOKEN + 64);
	if (buf_printf(&path, "%s%s", rq->raw ? "" : af->prefix, rq->path) ||
			auth_header(af, rq->raw, &auth)) {
		snprintf(err, errlen, "out of memory talking to Airflow");
		goto out;
	}
	hr.path = path.data;
	hr.auth = auth.len ? auth.data : NULL;
	rc = from_httpc[httpc_perform(af->http, &hr, status, err, errlen)];
out:
	buf_wipe_free(&auth);
	buf_free(&path);
	return rc;
}

/* The answer body as a JSON object (caller puts), NULL if it is not one. */
static json_object *resp_json(struct airflow *af)
{
	return httpc_answer_object(af->http);
}

/* Copies Airflow's error text ("detail", FastAPI's [{"msg"}], or "title") into
 * out as printable ASCII, at most LIM_PEER_DETAIL chars; "" when there is none or
 * when it would repeat a secret. */
static void resp_detail(struct airflow *af, char *out, size_t outlen)
{
	json_object *o, *d = NULL, *e;
	const char *s = NULL, *pw = af->cfg->airflow_password;
	size_t i, n = 0;

	out[0] = '\0';
	o = resp_json(af);
	if (!o)
		return;
	if (json_object_object_get_ex(o, "detail", &d) && json_object_is_type(d, json_type_array)
			&& json_object_array_length(d) > 0) {
		e = json_object_array_get_idx(d, 0);
		if (json_object_object_get_ex(e, "msg", &e))
			s = json_object_get_string(e);
	} else if (d && json_object_is_type(d, json_type_string)) {
		s = json_object_get_string(d);
	} else if (json_object_object_get_ex(o, "title", &d) && json_object_is_type(d, json_type_string)) {
		s = json_object_get_string(d);
	}
	if (s && pw && strlen(pw) >= 4 && strstr(s, pw))
		s = NULL;
	if (s && af->token && strstr(s, af->token))
		s = NULL;
	for (i = 0; s && s[i] && n + 4 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (n == LIM_PEER_DETAIL) {
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[n] = '\0';
	json_object_put(o);
}

/* POST /auth/token; stores the new token in af->token. */
static enum af_rc fetch_token(struct airflow *af, char *err, size_t errlen)
{
	const char *user = af->cfg->airflow_user ? af->cfg->airflow_user : "";
	const char *pw = af->cfg->airflow_password ? af->cfg->airflow_password : "";
	struct af_req rq = { "POST", "/auth/token", 1, NULL, 0, "the token request" };
	json_object *o = NULL, *t, *req = NULL;
	const char *s;
	enum af_rc rc = AF_NOMEM;
	long status;
	size_t i, n;

	free_secret(af->token);
	af->token = NULL;
	req = json_object_new_object();
	if (!req || json_object_object_add(req, "username", json_object_new_string(user)) ||
	    json_object_object_add(req, "password", json_object_new_string(pw)))
		goto out;
	rq.body = json_object_to_json_string_length(req, JSON_C_TO_STRING_PLAIN, &rq.body_len);
	if (!rq.body)
		goto out;
	rc = perform(af, &rq, &status, err, errlen);
	if (rc)
		goto out;
	if (status == 401 || status == 403) {
		rc = AF_UNAUTHORIZED;
		snprintf(err, errlen, "Airflow rejected the user name or password (%ld)", status);
		goto out;
	}
	if (status >= 500) {
		rc = AF_UNAVAILABLE;
		snprintf(err, errlen, "Airflow answered %ld to the token request", status);
		goto out;
	}
	rc = AF_PROTOCOL;
	if (status != 200 && status != 201) {
		snprintf(err, errlen, "Airflow answered %ld to the token request"
				" (is AUTOML_AIRFLOW_API right?)", status);
		goto out;
	}
	o = resp_json(af);
	if (!o || !json_object_object_get_ex(o, "access_token", &t)
			|| !json_object_is_type(t, json_type_string)) {
		snprintf(err, errlen, "Airflow's token answer has no access_token");
		goto out;
	}
	s = json_object_get_string(t);
	n = strlen(s);
	for (i = 0; i < n && s[i] > 0x20 && s[i] < 0x7f; i++)
		;
	if (n == 0 || n > LIM_AIRFLOW_TOKEN || i != n) {
		snprintf(err, errlen, "Airflow's access_token is empty, too long or not printable");
		goto out;
	}
	af->token = strdup(s);
	rc = af->token ? AF_OK : AF_NOMEM;
	if (rc)
		snprintf(err, errlen, "out of memory storing the Airflow token");
	explicit_bzero((char *)s, n);   /* json-c's copy: ours to clear before it is freed */
out:
	json_object_put(o);
	if (req) {
		/* clear json-c's copies of the password before they are freed */
		json_object_object_get_ex(req, "password", &t);
		if (t)
			explicit_bzero((char *)json_object_get_string(t),
					strlen(json_object_get_string(t)));
		if (rq.body)
			explicit_bzero((char *)rq.body, rq.body_len);
		json_object_put(req);
	}
	httpc_wipe_answer(af->http);
	return rc;
}

/* One API call with authentication: fetches a token first when v2 has none,
 * and on a v2 401 fetches a new one and tries once more. */
static enum af_rc call(struct airflow *af, const struct af_req *rq, long *status,
		char *err, size_t errlen)
{
	int v2 = af->cfg->airflow_api != 1;
	int have_user = af->cfg->airflow_user && af->cfg->airflow_user[0];
	enum af_rc rc;

	if (v2 && have_user && !af->token) {
		rc = fetch_token(af, err, errlen);
		if (rc)
			return rc;
	}
	rc = perform(af, rq, status, err, errlen);
	if (rc || !v2 || !have_user || *status != 401)
		return rc;
	log_info("airflow: %s answered 401, fetching a new token", rq->what);
	rc = fetch_token(af, err, errlen);
	if (rc)
		return rc;
	return perform(af, rq, status, err, errlen);
}

/* Maps a non-2xx status to a code and message. dag_id/run_id are for the text;
 * run_lookup says a 404 is about the run rather than the DAG. */
static enum af_rc status_rc(struct airflow *af, const struct af_req *rq, long status,
		const char *dag_id, const char *run_id, int run_lookup, char *err, size_t errlen)
{
	char detail[LIM_PEER_DETAIL + 8];
	const char *sep;
	enum af_rc rc;

	resp_detail(af, detail, sizeof(detail));
	sep = detail[0] ? ": " : "";
	log_warn("airflow: %s answered %ld%s%s", rq->what, status, sep, detail);
	if (status == 404 && run_lookup) {
		snprintf(err, errlen, "Airflow has no run %s of DAG %s (404)", run_id, dag_id);
		return AF_NOT_FOUND;
	}
	if (status == 404) {
		snprintf(err, errlen, "DAG %s is not parsed by Airflow yet (404)", dag_id);
		return AF_NOT_FOUND;
	}
	if (status == 409) {
		snprintf(err, errlen, "run %s of DAG %s exists already (409)", run_id ? run_id : "", dag_id);
		return AF_CONFLICT;
	}
	if (status == 401 || status == 403) {
		snprintf(err, errlen, "Airflow refused %s (%ld)%s%s", rq->what, status, sep, detail);
		return AF_UNAUTHORIZED;
	}
	if (status == 400 || status == 422)
		rc = AF_BAD_REQUEST;
	else if (status >= 500)
		rc = AF_UNAVAILABLE;
	else
		rc = AF_PROTOCOL;
	snprintf(err, errlen, "Airflow answered %ld to %s%s%s", status, rq->what, sep, detail);
	return rc;
}

/* Adds v (stolen; NULL means it could not be made) to o: 0 or -1. */
static int add_member(json_object *o, const char *key, json_object *v)
{
	if (!v)
		return -1;
	if (json_object_object_add(o, key, v)) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* How exchange() builds the path and judges the answer. */
enum {
	RUN_IN_PATH = 1,   /* the path names the run too, and a 404 is about the run */
	CREATED_OK = 2     /* 201 is success as well as 200 (the trigger) */
};

/* One call about a DAG or, with RUN_IN_PATH, one of its runs: rq is sent to
 * /dags/{dag_id}[/dagRuns/{run_id}]{tail} (ids escaped) and the status judged:
 * AF_OK for 200 (or 201 with CREATED_OK), else status_rc's code and message
 * (run_id is named in them). *answer (may be NULL): on AF_OK the answer if it
 * is a JSON object, else NULL; caller puts. */
static enum af_rc exchange(struct airflow *af, struct af_req *rq, const char *dag_id,
		const char *run_id, const char *tail, int flags, json_object **answer,
		char *err, size_t errlen)
{
	char *d = httpc_escape(af->http, dag_id), *r = httpc_escape(af->http, run_id);
	struct buf path;
	enum af_rc rc = AF_NOMEM;
	long status;

	if (answer)
		*answer = NULL;
	buf_init(&path, LIM_PEER_PATH);
	if (!d || !r || ((flags & RUN_IN_PATH)
			? buf_printf(&path, "/dags/%s/dagRuns/%s%s", d, r, tail)
			: buf_printf(&path, "/dags/%s%s", d, tail))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rq->path = path.data;
	rc = call(af, rq, &status, err, errlen);
	if (rc == AF_OK && status != 200 && !(status == 201 && (flags & CREATED_OK)))
		rc = status_rc(af, rq, status, dag_id, run_id, flags & RUN_IN_PATH, err, errlen);
	if (rc == AF_OK && answer)
		*answer = resp_json(af);
out:
	rq->path = NULL;   /* it pointed into path */
	curl_free(d);
	curl_free(r);
	buf_free(&path);
	return rc;
}

/* A request about one DAG (/dags/{dag_id}{suffix}) whose 200 answer is the
 * DAG as a JSON object: the unpause and the lookup. *paused (may be NULL):
 * its is_paused member. */
static enum af_rc dag_request(struct airflow *af, struct af_req *rq, const char *dag_id,
		const char *suffix, int *paused, char *err, size_t errlen)
{
	json_object *o, *p = NULL;
	enum af_rc rc;

	err[0] = '\0';
	rc = exchange(af, rq, dag_id, NULL, suffix, 0, &o, err, errlen);
	if (rc == AF_OK && !o) {
		rc = AF_PROTOCOL;
		snprintf(err, errlen, "Airflow's answer to %s of DAG %s is not a JSON object",
				rq->what, dag_id);
	}
	if (rc == AF_OK && paused)
		*paused = json_object_object_get_ex(o, "is_paused", &p) && json_object_get_boolean(p);
	json_object_put(o);
	return rc;
}

enum af_rc airflow_unpause(struct airflow *af, const char *dag_id, char *err, size_t errlen)
{
	static const char body[] = "{\"is_paused\":false}";
	struct af_req rq = { "PATCH", NULL, 0, body, sizeof(body) - 1, "the unpause" };

	return dag_request(af, &rq, dag_id, af->cfg->airflow_api == 1 ? "" : "?update_mask=is_paused",
			NULL, err, errlen);
}

enum af_rc airflow_trigger(struct airflow *af, const char *dag_id, const char *run_id,
		json_object *conf, char *err, size_t errlen)
{
	struct af_req rq = { "POST", NULL, 0, NULL, 0, "the trigger" };
	json_object *req = NULL, *o = NULL;
	enum af_rc rc = AF_NOMEM;

	err[0] = '\0';
	req = json_object_new_object();
	if (!req || add_member(req, "dag_run_id", json_object_new_string(run_id ? run_id : "")))
		goto out;
	/* a null value is fine for json-c and is what Airflow 3 wants */
	if (af->cfg->airflow_api != 1 && json_object_object_add(req, "logical_date", NULL))
		goto out;
	if (add_member(req, "conf", conf ? json_object_get(conf) : json_object_new_object()))
		goto out;
	rq.body = json_object_to_json_string_length(req, JSON_C_TO_STRING_PLAIN, &rq.body_len);
	if (!rq.body)
		goto out;
	log_info("airflow: triggering DAG %s run %s", dag_id, run_id ? run_id : "");
	rc = exchange(af, &rq, dag_id, run_id, "/dagRuns", CREATED_OK, &o, err, errlen);
	if (rc == AF_OK && !o) {
		rc = AF_PROTOCOL;
		snprintf(err, errlen, "Airflow's answer to the trigger is not a JSON object");
	}
out:
	if (rc == AF_NOMEM && !err[0])
		snprintf(err, errlen, "out of memory");
	json_object_put(o);
	json_object_put(req);
	return rc;
}

enum af_rc airflow_run_state(struct airflow *af, const char *dag_id, const char *run_id,
		char *state, size_t statelen, char *err, size_t errlen)
{
	struct af_req rq = { "GET", NULL, 0, NULL, 0, "the run state request" };
	json_object *o = NULL, *st;
	const char *s;
	size_t i, n;
	enum af_rc rc;

	err[0] = '\0';
	if (statelen)
		state[0] = '\0';
	rc = exchange(af, &rq, dag_id, run_id, "", RUN_IN_PATH, &o, err, errlen);
	if (rc)
		goto out;
	rc = AF_PROTOCOL;
	if (!json_object_object_get_ex(o, "state", &st) || !json_object_is_type(st, json_type_string)) {
		snprintf(err, errlen, "Airflow's answer about run %s has no state", run_id);
		goto out;
	}
	s = json_object_get_string(st);
	n = strlen(s);
	for (i = 0; i < n && (islower((unsigned char)s[i]) || s[i] == '_'); i++)
		;
	if (n == 0 || i != n || n >= statelen) {
		snprintf(err, errlen, "Airflow's answer about run %s has an odd state", run_id);
		goto out;
	}
	memcpy(state, s, n + 1);
	rc = AF_OK;
out:
	json_object_put(o);
	return rc;
}

enum af_rc airflow_dag_exists(struct airflow *af, const char *dag_id, char *err, size_t errlen)
{
	struct af_req rq = { "GET", NULL, 0, NULL, 0, "the DAG lookup" };

	return dag_request(af, &rq, dag_id, "", NULL, err, errlen);
}

enum af_rc airflow_dag_paused(struct airflow *af, const char *dag_id, int *paused,
		char *err, size_t errlen)
{
	struct af_req rq = { "GET", NULL, 0, NULL, 0, "the DAG lookup" };

	*paused = 0;
	return dag_request(af, &rq, dag_id, "", paused, err, errlen);
}

enum af_rc airflow_fail_run(struct airflow *af, const char *dag_id, const char *run_id,
		char *err, size_t errlen)
{
	static const char body[] = "{\"state\":\"failed\"}";
	struct af_req rq = { "PATCH", NULL, 0, body, sizeof(body) - 1, "marking the run failed" };

	err[0] = '\0';
	return exchange(af, &rq, dag_id, run_id, "", RUN_IN_PATH, NULL, err, errlen);
}

/* Does this import error's filename name the DAG's file (<dag_id>.py at the
 * top of the bundle, or an absolute path ending in /<dag_id>.py)? */
static int names_dag_file(const char *filename, const char *file)
{
	size_t n = strlen(filename), k = strlen(file);

	if (n < k || strcmp(filename + n - k, file) != 0)
		return 0;
	return n == k || filename[n - k - 1] == '/';
}

enum af_rc airflow_import_error(struct airflow *af, const char *dag_id, char *msg, size_t msglen,
		char *err, size_t errlen)
{
	struct af_req rq = { "GET", NULL, 0, NULL, 0, "the import error lookup" };
	struct buf path, file;
	json_object *o = NULL, *list = NULL, *e, *v;
	char *f = NULL;
	enum af_rc rc = AF_NOMEM;
	long status;
	size_t i, n;

	err[0] = '\0';
	if (msglen)
		msg[0] = '\0';
	buf_init(&path, LIM_PEER_PATH);
	buf_init(&file, LIM_PEER_PATH);
	if (buf_printf(&file, "%s.py", dag_id ? dag_id : ""))
		goto out;
	f = httpc_escape(af->http, file.data);
	/* v2 filters by the bundle-relative name; v1 lists the newest 100 */
	if (!f || (af->cfg->airflow_api == 1
			? buf_printf(&path, "/importErrors?limit=100&order_by=-timestamp")
			: buf_printf(&path, "/importErrors?filename=%s&limit=10", f)))
		goto out;
	rq.path = path.data;
	rc = call(af, &rq, &status, err, errlen);
	if (rc)
		goto out;
	if (status != 200) {
		rc = status_rc(af, &rq, status, dag_id, NULL, 0, err, errlen);
		goto out;
	}
	o = resp_json(af);
	if (!json_object_object_get_ex(o, "import_errors", &list) ||
			!json_object_is_type(list, json_type_array)) {
		snprintf(err, errlen, "Airflow's import error list is not what was expected");
		rc = AF_PROTOCOL;
		goto out;
	}
	rc = AF_NOT_FOUND;
	n = json_object_array_length(list);
	for (i = 0; i < n; i++) {
		const char *st, *last;
		size_t k, w = 0;

		e = json_object_array_get_idx(list, i);
		if (!json_object_object_get_ex(e, "filename", &v) ||
				!names_dag_file(json_object_get_string(v), file.data))
			continue;
		if (!json_object_object_get_ex(e, "stack_trace", &v) || !json_object_get_string(v))
			continue;
		/* The last non-empty line says what went wrong (SyntaxError: ...). */
		st = json_object_get_string(v);
		last = st;
		for (k = 0; st[k]; k++)
			if (st[k] == '\n' && st[k + 1] && st[k + 1] != '\n')
				last = st + k + 1;
		for (k = 0; last[k] && last[k] != '\n' && w + 1 < msglen && w < LIM_PEER_DETAIL; k++) {
			unsigned char c = (unsigned char)last[k];

			msg[w++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		}
		if (msglen)
			msg[w] = '\0';
		rc = AF_OK;
		break;
	}
out:
	if (rc == AF_NOMEM && !err[0])
		snprintf(err, errlen, "out of memory");
	json_object_put(o);
	curl_free(f);
	buf_free(&path);
	buf_free(&file);
	return rc;
}
