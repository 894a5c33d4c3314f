/* arena.h - per-request memory arena.
 * Every allocation a request makes comes from its arena and is released at
 * once by arena_reset() after the response; nothing here is freed singly. */
#ifndef AUTOML_ARENA_H
#define AUTOML_ARENA_H
#include <stddef.h>
#include <stdarg.h>

struct arena;

struct arena *arena_new(void);                 /* caller frees with arena_free */
void arena_free(struct arena *a);
void arena_reset(struct arena *a);             /* drops every allocation, keeps one block */
void *arena_alloc(struct arena *a, size_t n);  /* zeroed; NULL on OOM */
char *arena_strdup(struct arena *a, const char *s);           /* NULL in -> NULL out */
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Test hook: make the Nth allocation from now fail (0 = never). */
void arena_fail_after(long n);

#endif
