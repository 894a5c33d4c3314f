/* fuzz_query.c - libFuzzer harness for the request-line parsers: percent
 * decoding, query parameters and the route table. Input: one method byte,
 * then PATH_INFO up to the first '\n', then QUERY_STRING. Built by build.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"
#include "http.h"
#include "routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int never_read(void *io, char *dst, size_t n)
{
	(void)io;
	(void)dst;
	(void)n;
	return 0;
}

static int never_write(void *io, const char *src, size_t n)
{
	(void)io;
	(void)src;
	(void)n;
	abort();   /* routes_match must not respond */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "HEAD", "" };
	static const char *const keys[] = { "ids", "limit", "cursor", "status", "domain", "", "a b" };
	static struct arena *a;
	struct request r;
	char *buf, *nl, *dec;
	const char **vals, *allow;
	handler_fn fn;
	size_t n;

	if (!a)
		a = arena_new();
	if (!a)
		abort();

	/* raw percent decoding of the whole input */
	dec = http_url_decode(a, (const char *)data, size);
	if (dec && (strlen(dec) > size || memchr(data, '\0', size)))
		abort();

	if (size == 0)
		goto out;
	buf = arena_strndup(a, (const char *)data + 1, size - 1);   /* stops at a NUL, as CGI would */
	if (!buf)
		goto out;
	memset(&r, 0, sizeof(r));
	r.arena = a;
	r.read = never_read;
	r.write = never_write;
	r.method = methods[data[0] % (sizeof(methods) / sizeof(methods[0]))];
	nl = strchr(buf, '\n');
	r.query = nl ? nl + 1 : "";
	if (nl)
		*nl = '\0';
	r.path = buf;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *first = http_query_get(&r, keys[i]);
		n = http_query_all(&r, keys[i], &vals);
		if ((first == NULL) != (n == 0))
			abort();
		if (n && (!vals || strcmp(vals[0], first) != 0))
			abort();
		for (size_t k = 0; k < n; k++)
			if (!vals[k] || strlen(vals[k]) > strlen(r.query))
				abort();
	}

	fn = routes_match(&r, &allow);
	if (fn && allow)
		abort();
	if (r.job_id && (!*r.job_id || strchr(r.job_id, '/')))
		abort();
	if (allow && !*allow)
		abort();
out:
	arena_reset(a);
	return 0;
}
