/* fault.h - allocation fault injection for the torture tests (in the manner
 * of curl's memory torture): armed with N, the N-th allocation from then on
 * fails. Counted are the request arena, capped buffers and libcurl's
 * allocations (it is handed these functions at start-up); json-c, libpq and
 * cjose allocate on their own. Off (0) unless a test arms it. */
#ifndef AUTOML_FAULT_H
#define AUTOML_FAULT_H
#include <stddef.h>

void fault_alloc_after(long n);    /* 0 = off */
int fault_alloc_fails(void);       /* counts one allocation; 1 = make it fail */
long fault_alloc_count(void);      /* allocations counted since armed */

/* malloc & co. with the countdown applied; pass-throughs when off. */
void *fault_malloc(size_t n);
void *fault_calloc(size_t n, size_t size);
void *fault_realloc(void *p, size_t n);
char *fault_strdup(const char *s);
void fault_free(void *p);

#endif
