/* crash.h - crash points for the fault-injection tests: when the environment
 * names a point in AUTOML_TEST_CRASH_AT ("name" or "name:N", the N-th time it
 * is reached, default 1), the process SIGKILLs itself there, so the tests can
 * check that no step between two writes loses or doubles anything. Unset (as
 * in every deployment), a crash point costs one getenv per process. */
#ifndef AUTOML_CRASH_H
#define AUTOML_CRASH_H

void crash_point(const char *name);

#endif
