/* test_jsonx.c - the one JSON parser (src/jsonx.c): what it accepts and
 * refuses, and the reasons it gives. */
#include <stdlib.h>
#include <string.h>
#include "jsonx.h"
#include "lim.h"
#include "tap.h"

static enum jsonx_rc parse(const char *s, size_t len)
{
	json_object *o = NULL;
	enum jsonx_rc rc = jsonx_parse_object(s, len, &o);

	ok((rc == JSONX_OK) == (o != NULL), "an object exactly when JSONX_OK (%d)", (int)rc);
	json_object_put(o);
	return rc;
}

#define P(lit) parse(lit, sizeof(lit) - 1)

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

	is_int(P("{\"a\": [1, 2.5, true, null, \"x\"]}"), JSONX_OK, "an object");
	is_int(P(" {\"a\": 1} \n"), JSONX_OK, "white space around it");
	is_int(P("{\"a\": \"x\\u0000y\"}"), JSONX_OK, "an escaped NUL is JSON (callers refuse it)");
	is_int(P("{\"a\": \"caf\xc3\xa9\"}"), JSONX_OK, "UTF-8");

	is_int(P("[1]"), JSONX_NOT_OBJECT, "an array is not an object");
	is_int(P("\"x\""), JSONX_NOT_OBJECT, "a string is not an object");

	is_int(parse("", 0), JSONX_INVALID, "empty");
	is_int(parse(NULL, 0), JSONX_INVALID, "NULL");
	is_int(P("{} x"), JSONX_INVALID, "text after the value");
	is_int(P("{}{}"), JSONX_INVALID, "two values");
	is_int(P("{\"a\": 1"), JSONX_INVALID, "cut short");
	is_int(P("{\"a\": 1,}"), JSONX_INVALID, "trailing comma (strict)");
	is_int(P("{\"a\": 'x'}"), JSONX_INVALID, "a single-quoted string (strict)");
	is_int(P("{\"a\": /* c */ 1}"), JSONX_INVALID, "a comment (strict)");
	is_int(P("{\"a\": 01}"), JSONX_INVALID, "a leading zero (strict)");
	is_int(P("{\"a\": \"\xc3\x28\"}"), JSONX_INVALID, "invalid UTF-8");
	is_int(P("{\"a\": \"x\0y\"}"), JSONX_INVALID, "a raw NUL byte inside");
	is_int(P("{\"a\": 1}\0"), JSONX_INVALID, "a NUL byte after it");

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
