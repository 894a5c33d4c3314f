/* crash.c - see crash.h. Reads AUTOML_TEST_CRASH_AT once per process. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "crash.h"
#include "log.h"

void crash_point(const char *name)
{
	static int loaded;
	static char point[64];
	static long at = 1, seen;
	const char *v, *colon;
	size_t n;

	if (!loaded) {
		loaded = 1;
		v = getenv("AUTOML_TEST_CRASH_AT");
		if (v && *v) {
			colon = strchr(v, ':');
			n = colon ? (size_t)(colon - v) : strlen(v);
			if (n < sizeof point) {
				memcpy(point, v, n);
				point[n] = '\0';
			}
			if (colon) {
				char *end;
				long k = strtol(colon + 1, &end, 10);
				if (*end == '\0' && k > 0)
					at = k;
			}
		}
	}
	if (!point[0] || strcmp(point, name) != 0)
		return;
	if (++seen < at)
		return;
	log_error("crash point %s reached: SIGKILL", name);
	kill(getpid(), SIGKILL);
}
