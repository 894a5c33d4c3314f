/* httpc.h - the HTTP client the adapters use for their peers (Airflow,
 * MLflow): one reusable libcurl easy handle per client, http/https only, no
 * redirects, no signals, connect and total timeouts (capped per call on
 * request), answers capped at LIM_PEER_ANSWER, and one table that turns a
 * libcurl failure into a result code and a short, secret-free message naming
 * the peer. Knows HTTP, not Airflow or MLflow: callers judge statuses and bodies. */
#ifndef AUTOML_HTTPC_H
#define AUTOML_HTTPC_H
#include <stddef.h>
#include <json-c/json.h>

enum httpc_rc {
	HTTPC_OK = 0,       /* the peer answered, whatever the status */
	HTTPC_UNAVAILABLE,  /* could not connect or resolve, connection dropped */
	HTTPC_TIMEOUT,      /* connect or total timeout */
	HTTPC_PROTOCOL,     /* no usable URL, answer over LIM_PEER_ANSWER */
	HTTPC_NOMEM
};

/* How messages and the log name a peer. Borrowed: static strings. */
struct httpc_peer {
	const char *name;      /* "Airflow" */
	const char *url_key;   /* "AUTOML_AIRFLOW_URL": named when the URL is missing or unusable */
	const char *log_tag;   /* "airflow" */
};

struct httpc;

/* base_url (copied; trailing '/' dropped; NULL or "" = not configured, every
 * call then fails with HTTPC_PROTOCOL) and the timeouts in ms (<= 0: libcurl's).
 * NULL when out of memory. Caller frees. */
struct httpc *httpc_new(const struct httpc_peer *peer, const char *base_url,
		long connect_ms, long total_ms);
void httpc_free(struct httpc *h);

/* Cap both timeouts of the following calls at ms (0 = no cap). */
void httpc_set_limit_ms(struct httpc *h, long ms);

/* One request. Every pointer is borrowed for the call. */
struct httpc_req {
	const char *method;   /* GET, POST, PATCH, ... */
	const char *path;     /* appended to the base URL, already escaped; logged */
	const char *auth;     /* a whole "Authorization: ..." header line or NULL; never logged */
	const char *body;     /* JSON or NULL */
	size_t body_len;
	const char *what;     /* for messages: "the trigger" */
};

/* Sends rq. HTTPC_OK with *status set when the peer answered at all; otherwise
 * *status is 0 and err holds the message (the libcurl detail is logged). */
enum httpc_rc httpc_perform(struct httpc *h, const struct httpc_req *rq, long *status,
		char *err, size_t errlen);

/* The last answer as a JSON object (jsonx; caller puts), NULL if it is not one. */
json_object *httpc_answer_object(const struct httpc *h);

/* Clear the last answer's bytes (it held a secret). */
void httpc_wipe_answer(struct httpc *h);

/* s escaped for a URL path segment or query value; caller curl_free()s. NULL
 * when out of memory. */
char *httpc_escape(struct httpc *h, const char *s);

#endif
