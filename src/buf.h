/* buf.h - capped growable byte buffer (after curl's dynbuf).
 * Every buffer has a maximum size; appending past it fails with -1 instead
 * of growing without bound. The data is always NUL-terminated. */
#ifndef AUTOML_BUF_H
#define AUTOML_BUF_H
#include <stddef.h>

struct buf {
	char *data;   /* owned; NULL until the first append */
	size_t len;
	size_t cap;
	size_t max;   /* hard limit for len */
};

void buf_init(struct buf *b, size_t max);
int buf_append(struct buf *b, const void *p, size_t n);   /* 0, or -1 if too big / OOM */
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);                            /* len = 0, keeps memory */
void buf_free(struct buf *b);
void buf_wipe_free(struct buf *b);                       /* clears the bytes first (secrets) */
/* Hand the data over: caller frees with free(); the buf is empty afterwards. */
char *buf_steal(struct buf *b);

#endif
