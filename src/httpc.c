/* httpc.c - one libcurl easy handle per peer, reused for every call (its
 * connections stay open), with the same guards for every peer, and the one
 * table of libcurl failures -> result code + message. The libcurl detail goes
 * to the log only; no header, body or URL base is ever logged or put in a message. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE   /* strdup, explicit_bzero */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "buf.h"
#include "httpc.h"
#include "jsonx.h"
#include "lim.h"
#include "log.h"

struct httpc {
	const struct httpc_peer *peer;   /* borrowed */
	CURL *curl;                      /* owned, reused for every call */
	char *base;                      /* owned: the base URL without trailing '/' */
	long connect_ms, total_ms;       /* configured timeouts */
	long limit_ms;                   /* httpc_set_limit_ms: cap on both, 0 = none */
	struct buf answer;               /* body of the last answer, capped */
	int too_big;                     /* the last answer passed LIM_PEER_ANSWER */
	char curl_err[CURL_ERROR_SIZE];
};

/* When a row of the failure table applies, besides its CURLcode. */
enum when { ALWAYS, NOTHING_SENT, REFUSED, TOO_BIG };

/* libcurl failures -> result and message, first match wins; the last row
 * (CURLE_OK) stands for every other code. In messages {peer} is the peer's
 * name, {what} the request's, {key} the URL's configuration key, {connect_ms}
 * and {total_ms} the timeouts in force, {max} the answer cap, {code} the CURLcode. */
static const struct failure {
	CURLcode cc;
	enum when when;
	enum httpc_rc rc;
	const char *msg;
} failures[] = {
	{ CURLE_OPERATION_TIMEDOUT, NOTHING_SENT, HTTPC_TIMEOUT,
		"{peer} did not accept the connection within {connect_ms} ms" },
	{ CURLE_OPERATION_TIMEDOUT, ALWAYS, HTTPC_TIMEOUT,
		"{peer} did not answer {what} within {total_ms} ms" },
	{ CURLE_COULDNT_CONNECT, REFUSED, HTTPC_UNAVAILABLE, "{peer} refused the connection" },
	{ CURLE_COULDNT_CONNECT, ALWAYS, HTTPC_UNAVAILABLE, "could not connect to {peer}" },
	{ CURLE_COULDNT_RESOLVE_HOST, ALWAYS, HTTPC_UNAVAILABLE,
		"could not resolve the {peer} host name" },
	{ CURLE_GOT_NOTHING, ALWAYS, HTTPC_UNAVAILABLE,
		"{peer} closed the connection without answering {what}" },
	{ CURLE_SEND_ERROR, ALWAYS, HTTPC_UNAVAILABLE, "the connection to {peer} broke during {what}" },
	{ CURLE_RECV_ERROR, ALWAYS, HTTPC_UNAVAILABLE, "the connection to {peer} broke during {what}" },
	{ CURLE_PARTIAL_FILE, ALWAYS, HTTPC_UNAVAILABLE, "the connection to {peer} broke during {what}" },
	{ CURLE_WRITE_ERROR, TOO_BIG, HTTPC_PROTOCOL, "{peer}'s answer to {what} is larger than {max}" },
	{ CURLE_WRITE_ERROR, ALWAYS, HTTPC_NOMEM, "out of memory reading {peer}'s answer to {what}" },
	{ CURLE_OUT_OF_MEMORY, ALWAYS, HTTPC_NOMEM, "out of memory talking to {peer}" },
	{ CURLE_URL_MALFORMAT, ALWAYS, HTTPC_PROTOCOL, "{key} is not a usable http(s) URL" },
	{ CURLE_UNSUPPORTED_PROTOCOL, ALWAYS, HTTPC_PROTOCOL, "{key} is not a usable http(s) URL" },
	{ CURLE_OK, ALWAYS, HTTPC_UNAVAILABLE,
		"talking to {peer} failed during {what} (curl error {code})" },
};

_Static_assert(LIM_PEER_ANSWER % (1024 * 1024) == 0, "{max} says the answer cap in MiB");

/* The values a message may name. */
struct msg_args {
	const struct httpc_peer *peer;
	const char *what;
	long connect_ms, total_ms, code;
};

/* Appends s to err[0..*n), truncating, always terminated. */
static void put(char *err, size_t errlen, size_t *n, const char *s, size_t len)
{
	while (len-- > 0 && *s && *n + 1 < errlen)
		err[(*n)++] = *s++;
	err[*n] = '\0';
}

/* err = msg with its {placeholders} replaced. */
static void message(char *err, size_t errlen, const char *msg, const struct msg_args *a)
{
	char num[32];
	size_t n = 0;

	if (errlen == 0)
		return;
	err[0] = '\0';
	while (*msg) {
		const char *end = *msg == '{' ? strchr(msg, '}') : NULL, *v = num;
		size_t k = end ? (size_t)(end - msg + 1) : 1;

		num[0] = '\0';
		if (!end)
			v = msg;
		else if (strncmp(msg, "{peer}", k) == 0)
			v = a->peer->name;
		else if (strncmp(msg, "{key}", k) == 0)
			v = a->peer->url_key;
		else if (strncmp(msg, "{what}", k) == 0)
			v = a->what ? a->what : "the request";
		else if (strncmp(msg, "{connect_ms}", k) == 0)
			snprintf(num, sizeof num, "%ld", a->connect_ms);
		else if (strncmp(msg, "{total_ms}", k) == 0)
			snprintf(num, sizeof num, "%ld", a->total_ms);
		else if (strncmp(msg, "{code}", k) == 0)
			snprintf(num, sizeof num, "%ld", a->code);
		else if (strncmp(msg, "{max}", k) == 0)
			snprintf(num, sizeof num, "%d MiB", LIM_PEER_ANSWER / (1024 * 1024));
		put(err, errlen, &n, v, end ? strlen(v) : 1);
		msg += k;
	}
}

struct httpc *httpc_new(const struct httpc_peer *peer, const char *base_url,
		long connect_ms, long total_ms)
{
	struct httpc *h = calloc(1, sizeof(*h));
	size_t n;

	if (!h)
		return NULL;
	h->peer = peer;
	h->connect_ms = connect_ms;
	h->total_ms = total_ms;
	buf_init(&h->answer, LIM_PEER_ANSWER);
	h->base = strdup(base_url ? base_url : "");
	h->curl = curl_easy_init();
	if (!h->base || !h->curl) {
		httpc_free(h);
		return NULL;
	}
	n = strlen(h->base);
	while (n > 0 && h->base[n - 1] == '/')
		h->base[--n] = '\0';
	return h;
}

void httpc_free(struct httpc *h)
{
	if (!h)
		return;
	buf_wipe_free(&h->answer);
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->base);
	free(h);
}

void httpc_set_limit_ms(struct httpc *h, long ms)
{
	h->limit_ms = ms < 0 ? 0 : ms;
}

/* A configured timeout under the current cap. */
static long capped(const struct httpc *h, long ms)
{
	if (h->limit_ms > 0 && (ms <= 0 || ms > h->limit_ms))
		return h->limit_ms;
	return ms;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	struct httpc *h = ud;

	(void)size;   /* always 1 */
	if (buf_append(&h->answer, p, n) != 0) {
		h->too_big = n > h->answer.max - h->answer.len;
		return 0;   /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	return n;
}

/* Appends a copy of line to *l; 0 or -1 (out of memory). */
static int add_header(struct curl_slist **l, const char *line)
{
	struct curl_slist *n = curl_slist_append(*l, line);

	if (!n)
		return -1;
	*l = n;
	return 0;
}

/* The table's row for a failed transfer. */
static const struct failure *failure_of(CURLcode cc, int nothing_sent, int refused, int too_big)
{
	const struct failure *f;

	for (f = failures; f->cc != CURLE_OK; f++) {
		if (f->cc != cc)
			continue;
		if (f->when == ALWAYS || (f->when == NOTHING_SENT && nothing_sent) ||
				(f->when == REFUSED && refused) || (f->when == TOO_BIG && too_big))
			break;
	}
	return f;
}

enum httpc_rc httpc_perform(struct httpc *h, const struct httpc_req *rq, long *status,
		char *err, size_t errlen)
{
	struct msg_args args = { h->peer, rq->what, capped(h, h->connect_ms),
		capped(h, h->total_ms), 0 };
	const struct failure *f;
	struct curl_slist *hdrs = NULL, *p;
	struct buf url;
	CURL *c = h->curl;
	CURLcode cc;
	enum httpc_rc rc = HTTPC_NOMEM;
	long code = 0, sent = 0, oserr = 0;   /* curl_easy_getinfo writes longs */

	*status = 0;
	if (errlen)
		err[0] = '\0';
	buf_init(&url, LIM_PEER_URL);
	buf_reset(&h->answer);
	h->too_big = 0;
	h->curl_err[0] = '\0';
	if (!h->base[0]) {
		message(err, errlen, "{key} is not set", &args);
		rc = HTTPC_PROTOCOL;
		goto out;
	}
	if (buf_printf(&url, "%s%s", h->base, rq->path))
		goto out;
	if (add_header(&hdrs, "Accept: application/json") || add_header(&hdrs, "Expect:"))
		goto out;
	if (rq->body && add_header(&hdrs, "Content-Type: application/json"))
		goto out;
	if (rq->auth && add_header(&hdrs, rq->auth))
		goto out;

	curl_easy_reset(c);   /* options only: the connections stay */
	curl_easy_setopt(c, CURLOPT_URL, url.data);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "automl-api");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curl_err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	if (args.connect_ms > 0)
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, args.connect_ms);
	if (args.total_ms > 0)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, args.total_ms);
	if (rq->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	}
	if (strcmp(rq->method, "POST") != 0 && strcmp(rq->method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);

	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	log_debug("%s: %s %s -> curl %d, HTTP %ld", h->peer->log_tag, rq->method, rq->path,
			(int)cc, code);
	if (cc == CURLE_OK) {
		*status = code;
		rc = HTTPC_OK;
		goto out;
	}
	log_warn("%s: %s %s failed: %s (%s)", h->peer->log_tag, rq->method, rq->path,
			curl_easy_strerror(cc), h->curl_err);
	f = failure_of(cc, sent == 0, oserr == ECONNREFUSED, h->too_big);
	args.code = (long)cc;
	message(err, errlen, f->msg, &args);
	rc = f->rc;
out:
	if (rc == HTTPC_NOMEM && err[0] == '\0')
		message(err, errlen, "out of memory talking to {peer}", &args);
	for (p = hdrs; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));   /* the Authorization line */
	curl_slist_free_all(hdrs);
	buf_free(&url);
	return rc;
}

json_object *httpc_answer_object(const struct httpc *h)
{
	return jsonx_object(h->answer.data, h->answer.len);
}

void httpc_wipe_answer(struct httpc *h)
{
	if (h->answer.data)
		explicit_bzero(h->answer.data, h->answer.len);
}

char *httpc_escape(struct httpc *h, const char *s)
{
	return curl_easy_escape(h->curl, s ? s : "", 0);
}
