/* fault.c - see fault.h. Process-wide counters; single-threaded by design
 * (one request at a time per process). */
#include <stdlib.h>
#include <string.h>
#include "fault.h"

static long countdown, counted;

void fault_alloc_after(long n)
{
	countdown = n > 0 ? n : 0;
	counted = 0;
}

int fault_alloc_fails(void)
{
	if (countdown <= 0)
		return 0;
	counted++;
	if (--countdown == 0)
		return 1;
	return 0;
}

long fault_alloc_count(void)
{
	return counted;
}

void *fault_malloc(size_t n)
{
	return fault_alloc_fails() ? NULL : malloc(n);
}

void *fault_calloc(size_t n, size_t size)
{
	return fault_alloc_fails() ? NULL : calloc(n, size);
}

void *fault_realloc(void *p, size_t n)
{
	return fault_alloc_fails() ? NULL : realloc(p, n);
}

char *fault_strdup(const char *s)
{
	size_t n;
	char *d;

	if (fault_alloc_fails())
		return NULL;
	n = strlen(s) + 1;
	d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

void fault_free(void *p)
{
	free(p);
}
