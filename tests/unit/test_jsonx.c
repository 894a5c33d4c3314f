/* test_jsonx.c - the one JSON parser (src/jsonx.c): what it accepts and
 * refuses, and the reasons it gives. */
#include <stdlib.h>
#include <string.h>
#include "jsonx.h"
#include "lim.h"
#include "tap.h"

/* The parse of s[0..len): its result, checked to come with an object exactly
 * when it is JSONX_OK. */
static enum jsonx_rc parse(const char *s, size_t len)
{
	json_object *o = NULL;
	enum jsonx_rc rc = jsonx_parse_object(s, len, &o);

	if ((rc == JSONX_OK) != (o != NULL))
		ok(0, "an object exactly when JSONX_OK (%d)", (int)rc);
	json_object_put(o);
	return rc;
}

#define T(lit, want, name) { lit, sizeof(lit) - 1, want, name }

static const struct {
	const char *text;
	size_t len;
	enum jsonx_rc want;
	const char *name;
} cases[] = {
	T("{\"a\": [1, 2.5, true, null, \"x\"]}", JSONX_OK, "an object"),
	T(" {\"a\": 1} \n", JSONX_OK, "white space around it"),
	T("{\"a\": \"x\\u0000y\"}", JSONX_OK, "an escaped NUL is JSON (callers refuse it)"),
	T("{\"a\": \"caf\xc3\xa9\"}", JSONX_OK, "UTF-8"),
	T("[1]", JSONX_NOT_OBJECT, "an array is not an object"),
	T("\"x\"", JSONX_NOT_OBJECT, "a string is not an object"),
	T("", JSONX_INVALID, "empty"),
	T("{} x", JSONX_INVALID, "text after the value"),
	T("{}{}", JSONX_INVALID, "two values"),
	T("{\"a\": 1", JSONX_INVALID, "cut short"),
	T("{\"a\": 1,}", JSONX_INVALID, "trailing comma (strict)"),
	T("{\"a\": 'x'}", JSONX_INVALID, "a single-quoted string (strict)"),
	T("{\"a\": /* c */ 1}", JSONX_INVALID, "a comment (strict)"),
	T("{\"a\": 01}", JSONX_INVALID, "a leading zero (strict)"),
	T("{\"a\": \"\xc3\x28\"}", JSONX_INVALID, "invalid UTF-8"),
	T("{\"a\": \"x\0y\"}", JSONX_INVALID, "a raw NUL byte inside"),
	T("{\"a\": 1}\0", JSONX_INVALID, "a NUL byte after it"),
};

/* n arrays nested in {"a": ...}: depth n + 1 */
static char *nested(int n)
{
	char *s = malloc((size_t)(2 * n + 8));
	size_t k = 0;

	if (!s)
		return NULL;
	memcpy(s, "{\"a\":", 5);
	k = 5;
	for (int i = 0; i < n; i++)
		s[k++] = '[';
	for (int i = 0; i < n; i++)
		s[k++] = ']';
	s[k++] = '}';
	s[k] = '\0';
	return s;
}

int main(void)
{
	json_object *o;
	char *s, *big;
	size_t n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(parse(cases[i].text, cases[i].len), cases[i].want, "%s", cases[i].name);
	is_int(parse(NULL, 0), JSONX_INVALID, "NULL");

	s = nested(LIM_JSON_DEPTH - 1);
	is_int(parse(s, strlen(s)), JSONX_OK, "nested to LIM_JSON_DEPTH");
	free(s);
	s = nested(LIM_JSON_DEPTH);
	is_int(parse(s, strlen(s)), JSONX_INVALID, "nested deeper than LIM_JSON_DEPTH");
	free(s);

	/* LIM_JSON_TEXT bytes parse; one more is refused unread */
	n = LIM_JSON_TEXT;
	big = malloc(n + 2);
	if (!big)
		return 1;
	memset(big, ' ', n + 1);
	memcpy(big, "{}", 2);
	big[n + 1] = '\0';
	is_int(parse(big, n), JSONX_OK, "LIM_JSON_TEXT bytes");
	is_int(parse(big, n + 1), JSONX_INVALID, "one byte over LIM_JSON_TEXT");
	free(big);

	o = jsonx_object("{\"k\": \"v\"}", 10);
	ok(o && json_object_is_type(o, json_type_object), "jsonx_object: the object");
	json_object_put(o);
	ok(jsonx_object("[]", 2) == NULL, "jsonx_object: NULL for an array");
	ok(jsonx_object("{", 1) == NULL, "jsonx_object: NULL for invalid JSON");
	return done_testing();
}
