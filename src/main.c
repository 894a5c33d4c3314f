/* main.c - automl-api: process set-up (configuration, logging, one database
 * connection, one Airflow handle, token keys), then either the FastCGI
 * accept loop or, started as plain CGI, exactly one request. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include <fcgiapp.h>
#include "arena.h"
#include "fault.h"
#include "http.h"
#include "lim.h"
#include "log.h"
#include "routes.h"
#include "service.h"

extern char **environ;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
	FCGX_ShutdownPending();
}

/* ---- FastCGI I/O ---- */
struct fcgi_io {
	FCGX_Request *req;
};

static int fcgi_read(void *io, char *dst, size_t n)
{
	struct fcgi_io *f = io;
	int want = n > 65536 ? 65536 : (int)n;

	return FCGX_GetStr(dst, want, f->req->in);
}

static int fcgi_write(void *io, const char *src, size_t n)
{
	struct fcgi_io *f = io;

	while (n > 0) {
		int chunk = n > 65536 ? 65536 : (int)n;
		if (FCGX_PutStr(src, chunk, f->req->out) != chunk)
			return -1;
		src += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

/* ---- CGI I/O ---- */
static int cgi_read(void *io, char *dst, size_t n)
{
	(void)io;
	for (;;) {
		ssize_t k = read(STDIN_FILENO, dst, n);
		if (k < 0 && errno == EINTR)
			continue;
		return (int)k;
	}
}

static int cgi_write(void *io, const char *src, size_t n)
{
	(void)io;
	while (n > 0) {
		ssize_t k = write(STDOUT_FILENO, src, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		src += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Plain CGI: consume what is left of the request body before exiting. A web
 * server (Apache mod_cgid) that is still writing a body the program never
 * read sees a reset and may lose the answer (401, 413, 415 are decided before
 * the body is read). Bounded, so a huge upload cannot keep the process alive. */
static void cgi_drain_stdin(void)
{
	char sink[65536];
	size_t total = 0;

	while (total < LIM_CGI_DRAIN) {
		ssize_t k = read(STDIN_FILENO, sink, sizeof(sink));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		total += (size_t)k;
	}
}

/* PATH_INFO, or the path part of REQUEST_URI when the server sets none. */
static const char *request_path(struct arena *a, const char *path_info, const char *uri)
{
	const char *q;

	if (path_info && *path_info)
		return path_info;
	if (!uri || !*uri)
		return "/";
	q = strchr(uri, '?');
	return q ? arena_strndup(a, uri, (size_t)(q - uri)) : uri;
}

typedef const char *(*getparam_fn)(const char *name, void *ctx);

/* AUTOML_TEST_ALLOC_FAIL_AT=N (torture tests only): the N-th allocation of
 * each request fails. */
static long alloc_fail_at;

static void serve(struct service *svc, struct arena *a, getparam_fn get, void *ctx,
		int (*rd)(void *, char *, size_t), int (*wr)(void *, const char *, size_t), void *io)
{
	struct request r;
	const char *q;

	memset(&r, 0, sizeof(r));
	r.arena = a;
	r.svc = svc;
	r.max_body = svc ? service_config(svc)->max_body : 0;
	r.read = rd;
	r.write = wr;
	r.io = io;
	r.method = get("REQUEST_METHOD", ctx);
	r.path = request_path(a, get("PATH_INFO", ctx), get("REQUEST_URI", ctx));
	q = get("QUERY_STRING", ctx);
	r.query = q ? q : "";
	r.content_type = get("CONTENT_TYPE", ctx);
	r.content_length = get("CONTENT_LENGTH", ctx);
	r.authorization = get("HTTP_AUTHORIZATION", ctx);
	r.authorization_psk = get("HTTP_AUTHORIZATION_PSK", ctx);
	if (!svc) {
		http_respond_error(&r, AE_DB_UNAVAILABLE,
				"the service is not configured correctly; see the server log");
		return;
	}
	if (alloc_fail_at > 0)
		fault_alloc_after(alloc_fail_at);
	routes_dispatch(&r);
	if (alloc_fail_at > 0) {
		/* the torture driver stops once N passes what one request allocates */
		log_info("alloc fault %ld: %ld allocations counted", alloc_fail_at, fault_alloc_count());
		fault_alloc_after(0);
	}
	log_debug("%s %s -> %d", r.method ? r.method : "-", r.path ? r.path : "-", r.status);
}

static const char *fcgi_param(const char *name, void *ctx)
{
	return FCGX_GetParam(name, ((FCGX_Request *)ctx)->envp);
}

static const char *env_param(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
}

int main(void)
{
	struct service *svc;
	struct arena *arena;
	char err[512];
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* libcurl allocates through fault.h, so the torture tests can fail its
	 * allocations too (plain pass-throughs otherwise). cjose is left on its
	 * own allocator: its cjose_jws_import (0.6.2) writes through an unchecked
	 * malloc result when an allocation fails, so failing cjose's allocations
	 * crashes inside the library, not in this code. */
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, fault_malloc, fault_free, fault_realloc,
			fault_strdup, fault_calloc) != CURLE_OK) {
		log_error("curl_global_init failed");
		return 1;
	}
	{
		const char *v = getenv("AUTOML_TEST_ALLOC_FAIL_AT");
		char *end = NULL;
		long n = v ? strtol(v, &end, 10) : 0;

		alloc_fail_at = v && *v && end && *end == '\0' && n > 0 ? n : 0;
	}
	svc = service_new(1, err, sizeof(err));
	if (!svc)
		log_error("configuration: %s", err);
	arena = arena_new();
	if (!arena || FCGX_Init() != 0) {
		log_error("start-up failed");
		return 1;
	}

	if (FCGX_IsCGI()) {
		serve(svc, arena, env_param, NULL, cgi_read, cgi_write, NULL);
		cgi_drain_stdin();
	} else {
		FCGX_Request req;
		struct fcgi_io io = { &req };

		FCGX_InitRequest(&req, 0, 0);
		log_info("automl-api serving FastCGI (pid %ld)", (long)getpid());
		while (!stopping && FCGX_Accept_r(&req) >= 0) {
			serve(svc, arena, fcgi_param, &req, fcgi_read, fcgi_write, &io);
			FCGX_Finish_r(&req);
			arena_reset(arena);
		}
		FCGX_Free(&req, 1);
		log_info("automl-api stopping");
	}
	arena_free(arena);
	service_free(svc);
	curl_global_cleanup();
	return 0;
}
