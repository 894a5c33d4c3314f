/* jsonx.h - the one JSON parser of the service: json-c's tokener in strict
 * mode with UTF-8 validation, the whole input consumed, nesting and size
 * capped (lim.h). Every JSON text from a client, a file, Airflow or MLflow goes
 * through here. Parses only: knows no field, writes no message.
 * json-c 0.16's strict mode still lets through single-quoted keys, NaN, "1.",
 * duplicate keys (the last wins) and, in strings, overlong or surrogate UTF-8
 * sequences: callers that need more check the text again (job.h utf8_decode:
 * the job name, every literal of a rendered DAG). */
#ifndef AUTOML_JSONX_H
#define AUTOML_JSONX_H
#include <stddef.h>
#include <json-c/json.h>

enum jsonx_rc {
	JSONX_OK = 0,
	JSONX_INVALID,     /* empty, too large, too deep, not strict JSON, bad UTF-8, text after it */
	JSONX_NOT_OBJECT,  /* valid JSON, but not an object */
	JSONX_NOMEM        /* no tokener could be made */
};

/* s[0..len) (NUL-terminated or not) as one JSON object. *out: the object
 * (caller puts) when JSONX_OK, else NULL. */
enum jsonx_rc jsonx_parse_object(const char *s, size_t len, json_object **out);

/* The same for callers that need no reason: the object (caller puts) or NULL. */
json_object *jsonx_object(const char *s, size_t len);

#endif
