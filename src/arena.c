/* arena.c - per-request memory arena: a list of blocks, bump allocation,
 * released all at once. Does not know what it stores. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"
#include "fault.h"

#define ARENA_BLOCK 16384

struct block {
	struct block *next;
	size_t size, used;
	max_align_t data[];
};

struct arena {
	struct block *head;
};

static long fail_countdown;

void arena_fail_after(long n)
{
	fail_countdown = n;
}

static int should_fail(void)
{
	if (fault_alloc_fails())
		return 1;
	if (fail_countdown <= 0)
		return 0;
	return --fail_countdown == 0;
}

struct arena *arena_new(void)
{
	return calloc(1, sizeof(struct arena));
}

static void free_blocks(struct block *b)
{
	while (b) {
		struct block *next = b->next;
		free(b);
		b = next;
	}
}

void arena_free(struct arena *a)
{
	if (!a)
		return;
	free_blocks(a->head);
	free(a);
}

void arena_reset(struct arena *a)
{
	struct block *keep;

	if (!a || !a->head)
		return;
	/* keep the oldest (last) block of the default size, drop the rest */
	keep = a->head;
	while (keep->next)
		keep = keep->next;
	if (keep->size != ARENA_BLOCK) {
		free_blocks(a->head);
		a->head = NULL;
		return;
	}
	for (struct block *b = a->head; b != keep;) {
		struct block *next = b->next;
		free(b);
		b = next;
	}
	keep->used = 0;
	a->head = keep;
}

void *arena_alloc(struct arena *a, size_t n)
{
	const size_t align = sizeof(max_align_t);
	struct block *b;
	size_t need;
	char *p;

	if (should_fail())
		return NULL;
	if (n == 0)
		n = 1;
	if (n > SIZE_MAX - align)
		return NULL;
	need = (n + align - 1) / align * align;
	b = a->head;
	if (!b || b->size - b->used < need) {
		size_t size = need > ARENA_BLOCK ? need : ARENA_BLOCK;
		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->size = size;
		b->used = 0;
		if (size == ARENA_BLOCK || !a->head) {
			b->next = a->head;
			a->head = b;
		} else {
			/* an oversized block goes behind the current one, which still has room */
			b->next = a->head->next;
			a->head->next = b;
		}
	}
	p = (char *)b->data + b->used;
	b->used += need;
	memset(p, 0, n);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p;

	if (!s)
		return NULL;
	p = arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	p = arena_alloc(a, (size_t)n + 1);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
