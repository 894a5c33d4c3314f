/* jsonx.c - strict JSON parsing over json-c (see jsonx.h): one tokener
 * configuration for the whole service, so a text accepted in one place is
 * accepted everywhere. Must not validate fields or log: callers do that. */
#include <string.h>
#include "jsonx.h"
#include "lim.h"

enum jsonx_rc jsonx_parse_object(const char *s, size_t len, json_object **out)
{
	json_tokener *tok = NULL;
	json_object *o = NULL;
	enum jsonx_rc rc = JSONX_INVALID;

	*out = NULL;
	/* json-c refuses NUL bytes itself; checked here so no caller relies on it */
	if (!s || len == 0 || len > LIM_JSON_TEXT || memchr(s, '\0', len))
		goto out;
	tok = json_tokener_new_ex(LIM_JSON_DEPTH);
	if (!tok) {
		rc = JSONX_NOMEM;
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, s, (int)len);
	/* json-c 0.16 has no error code of its own for memory: a failed allocation
	 * mid-parse reads as invalid JSON, as it always did */
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
			json_tokener_get_parse_end(tok) != len)
		goto out;
	if (!json_object_is_type(o, json_type_object)) {
		rc = JSONX_NOT_OBJECT;
		goto out;
	}
	*out = o;
	o = NULL;
	rc = JSONX_OK;
out:
	json_object_put(o);
	if (tok)
		json_tokener_free(tok);
	return rc;
}

json_object *jsonx_object(const char *s, size_t len)
{
	json_object *o;

	jsonx_parse_object(s, len, &o);
	return o;
}
