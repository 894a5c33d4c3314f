/* log.c - one line per message to stderr, which lighttpd and Apache put in
 * their error log. The only place internal error detail may go. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include "log.h"

static enum log_level current = LOG_INFO;
static const char *const names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level lvl)
{
	current = lvl;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[2048];
	char stamp[32];
	struct tm tm;
	time_t now;
	va_list ap;
	int n;

	if (lvl > current)
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s automl[%ld] %s: ", stamp, (long)getpid(), names[lvl]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* one write per line so concurrent processes do not interleave */
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
}
