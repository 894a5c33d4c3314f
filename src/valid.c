/* valid.c - the field machinery of valid.h: reading one value of a declared
 * type (from JSON or from text), its check, its copy, and the three walkers
 * that turn failures into FastAPI-style entries or a token's reason. Knows no
 * particular field: every name, rule and message is in the callers' tables. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jsonx.h"
#include "valid.h"

/* Why a field failed; F_OK is 0. */
enum fail { F_OK, F_MISSING, F_TYPE, F_NUL, F_LONG, F_RANGE, F_ENUM, F_CHECK, F_CHECK2, F_NOMEM };

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int uuid_valid(const char *s)
{
	if (!s || strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!is_hex(s[i])) {
			return 0;
		}
	}
	return 1;
}

void detail_add(json_object *detail, const char *where, const char *field,
		const char *msg, const char *type)
{
	json_object *e = json_object_new_object();
	json_object *loc = json_object_new_array();

	if (!e || !loc) {
		json_object_put(e);
		json_object_put(loc);
		return;
	}
	json_object_array_add(loc, json_object_new_string(where));
	if (field)
		json_object_array_add(loc, json_object_new_string(field));
	json_object_object_add(e, "loc", loc);
	json_object_object_add(e, "msg", json_object_new_string(msg));
	json_object_object_add(e, "type", json_object_new_string(type));
	json_object_array_add(detail, e);
}

int valid_has(const struct vval *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->strs[i], s) == 0)
			return 1;
	return 0;
}

/* ---- one value ---------------------------------------------------------- */

static struct vval fresh(const struct vfield *f)
{
	struct vval v = { .s = f->def_s, .i = f->def };

	return v;
}

static enum fail read_text(const struct vfield *f, const char *s, struct vval *v)
{
	char *end;
	long long x;

	switch (f->type) {
	case V_STRING:
		v->s = s;
		return f->hi > 0 && strlen(s) > (size_t)f->hi ? F_LONG : F_OK;
	case V_ENUM:
		for (int k = 0; k < f->spell->n; k++) {
			if (strcmp(f->spell->names[k], s) == 0) {
				v->i = k;
				v->s = f->spell->names[k];
				return F_OK;
			}
		}
		return F_ENUM;
	case V_UUID:
		v->s = s;
		return uuid_valid(s) ? F_OK : F_TYPE;
	case V_INT:
		errno = 0;
		x = strtoll(s, &end, 10);
		if (errno || end == s || *end)
			return F_TYPE;
		v->i = x;
		return x < f->lo || x > f->hi ? F_RANGE : F_OK;
	default:
		return F_TYPE;   /* V_BOOL, V_NUMBER, V_STRINGS are not read from text */
	}
}

/* A JSON string without NUL bytes (borrowed). */
static enum fail json_text(json_object *j, const char **s)
{
	if (!json_object_is_type(j, json_type_string))
		return F_TYPE;
	*s = json_object_get_string(j);
	return strlen(*s) == (size_t)json_object_get_string_len(j) ? F_OK : F_NUL;
}

/* A finite JSON number, floored and saturated to int64. */
static enum fail json_number(json_object *j, int64_t *t)
{
	double d;

	if (json_object_is_type(j, json_type_int)) {
		*t = json_object_get_int64(j);   /* saturates beyond int64 */
		return F_OK;
	}
	if (!json_object_is_type(j, json_type_double))
		return F_TYPE;
	d = json_object_get_double(j);
	if (!isfinite(d))
		return F_TYPE;
	if (d >= 9.2e18)
		*t = INT64_MAX;
	else if (d <= -9.2e18)
		*t = INT64_MIN;
	else
		*t = (int64_t)floor(d);
	return F_OK;
}

/* Room for n strings in v->strs (none: NULL). */
static enum fail reserve(struct arena *a, struct vval *v, size_t n)
{
	v->n = 0;
	v->strs = n ? arena_alloc(a, n * sizeof(*v->strs)) : NULL;
	return n && !v->strs ? F_NOMEM : F_OK;
}

static enum fail push(struct arena *a, struct vval *v, const char *s, size_t len)
{
	const char *c = arena_strndup(a, s, len);

	if (!c)
		return F_NOMEM;
	v->strs[v->n++] = c;
	return F_OK;
}

/* V_STRINGS: an array of strings, or a lone string as f->lone says. */
static enum fail json_strings(struct arena *a, const struct vfield *f, json_object *j, struct vval *v)
{
	const char *s;
	size_t i, n, k;
	enum fail rc;

	if (f->lone != VL_REFUSED && json_object_is_type(j, json_type_string)) {
		rc = json_text(j, &s);
		if (rc)
			return rc;
		if (f->lone == VL_ONE)
			return reserve(a, v, 1) ? F_NOMEM : push(a, v, s, strlen(s));
		rc = reserve(a, v, strlen(s) / 2 + 1);   /* words need a space between them */
		for (; rc == F_OK && *s; s += k ? k : 1) {
			k = strcspn(s, " ");
			if (k)
				rc = push(a, v, s, k);
		}
		return rc;
	}
	if (!json_object_is_type(j, json_type_array))
		return F_TYPE;
	n = json_object_array_length(j);
	for (i = 0; i < n; i++)
		if (json_text(json_object_array_get_idx(j, i), &s))
			return F_TYPE;
	if (f->hi > 0 && n > (size_t)f->hi)
		return F_LONG;
	rc = reserve(a, v, n);
	for (i = 0; rc == F_OK && i < n; i++) {
		s = json_object_get_string(json_object_array_get_idx(j, i));
		rc = push(a, v, s, strlen(s));
	}
	return rc;
}

static enum fail read_json(struct arena *a, const struct vfield *f, json_object *j, struct vval *v)
{
	const char *s;
	enum fail rc;

	switch (f->type) {
	case V_BOOL:
		if (!json_object_is_type(j, json_type_boolean))
			return F_TYPE;
		v->i = json_object_get_boolean(j);
		return F_OK;
	case V_INT:
		if (!json_object_is_type(j, json_type_int))
			return F_TYPE;
		v->i = json_object_get_int64(j);
		return v->i < f->lo || v->i > f->hi ? F_RANGE : F_OK;
	case V_NUMBER:
		return json_number(j, &v->i);
	case V_STRINGS:
		return json_strings(a, f, j, v);
	default:   /* V_STRING, V_ENUM, V_UUID: text in a JSON string */
		rc = json_text(j, &s);
		if (rc)
			return f->type == V_UUID ? F_TYPE : rc;
		return read_text(f, s, v);
	}
}

/* One field into *v: absent (!present), a JSON value j (NULL: JSON null) or,
 * with text, a text value. Strings are copied into a unless a is NULL. */
static enum fail field(struct arena *a, const struct vfield *f, int present, json_object *j,
		const char *text, void *ctx, struct vval *v)
{
	enum fail rc = F_OK;
	int k;

	*v = fresh(f);
	if (f->when && !f->when(ctx))
		return F_OK;
	if (present)
		rc = text ? read_text(f, text, v) : read_json(a, f, j, v);
	if ((rc == F_TYPE || rc == F_NUL) && f->lax) {
		*v = fresh(f);
		present = 0;
		rc = F_OK;
	}
	if (!present)
		return f->required ? F_MISSING : F_OK;
	if (rc == F_OK && f->check) {
		k = f->check(v, ctx);
		rc = k == 0 ? F_OK : k == 2 ? F_CHECK2 : F_CHECK;
	}
	if (rc == F_OK && a && (f->type == V_STRING || f->type == V_UUID)) {
		v->s = arena_strdup(a, v->s);
		rc = v->s ? F_OK : F_NOMEM;
	}
	if (rc) {
		*v = fresh(f);
		return rc;
	}
	v->set = 1;
	return F_OK;
}

/* ---- what a failure says ------------------------------------------------ */

/* "Input should be 'a', 'b' or 'c'" into buf. */
static const char *spellings(const struct vspell *sp, char *buf, size_t size)
{
	size_t off = (size_t)snprintf(buf, size, "Input should be ");

	for (int k = 0; k < sp->n && off < size; k++)
		off += (size_t)snprintf(buf + off, size - off, "%s'%s'",
				k == 0 ? "" : (k == sp->n - 1 ? " or " : ", "), sp->names[k]);
	return buf;
}

/* The body walker's message and FastAPI type for a failure of f. */
static void describe(const struct vfield *f, enum fail why, char *buf, size_t size,
		const char **msg, const char **code)
{
	static const char *const type_msg[][2] = {
		[V_STRING] = { "Input should be a valid string", "string_type" },
		[V_ENUM] = { "Input should be a valid string", "string_type" },
		[V_BOOL] = { "Input should be a valid boolean", "bool_type" },
		[V_UUID] = { "Input should be a valid UUID", "uuid_parsing" },
		[V_INT] = { "Input should be a valid integer", "int_type" },
		[V_NUMBER] = { "Input should be a valid number", "float_type" },
		[V_STRINGS] = { "Input should be a valid list", "list_type" },
	};

	*msg = type_msg[f->type][0];
	*code = type_msg[f->type][1];
	switch (why) {
	case F_MISSING:
		*msg = f->missing ? f->missing : "Field required";
		*code = "missing";
		break;
	case F_NUL:
		*msg = "Input should not contain NUL characters";
		*code = "string_type";
		break;
	case F_LONG:
		*msg = f->type == V_STRINGS ? "List has too many items" : "String is too long";
		*code = f->type == V_STRINGS ? "too_long" : "string_too_long";
		break;
	case F_ENUM:
		*msg = f->msg ? f->msg : spellings(f->spell, buf, size);
		*code = "enum";
		break;
	case F_RANGE:
	case F_CHECK:
	case F_CHECK2:
		*msg = why == F_CHECK2 ? f->msg2 : f->msg;
		*code = f->code;
		break;
	default:
		break;
	}
	if (!*msg || !*code) {   /* a table without its message: still one entry */
		*msg = "Input is not valid";
		*code = "value_error";
	}
}

/* ---- the walkers -------------------------------------------------------- */

static void defaults(const struct vfield *f, size_t n, struct vval *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = fresh(&f[i]);
}

/* The body as one JSON object, members not in f[] recorded as
 * extra_forbidden; NULL (an entry added, or none when out of memory). */
static json_object *body_object(const char *body, size_t len, const struct vfield *f, size_t n,
		json_object *detail)
{
	json_object *root = NULL;
	enum jsonx_rc jrc = jsonx_parse_object(body, len, &root);

	if (jrc == JSONX_INVALID)
		detail_add(detail, "body", NULL, "JSON decode error", "json_invalid");
	if (jrc == JSONX_NOT_OBJECT)
		detail_add(detail, "body", NULL, "Input should be a valid dictionary or object",
				"model_attributes_type");
	if (jrc)
		return NULL;
	json_object_object_foreach(root, key, val) {
		int ok = 0;
		(void)val;
		for (size_t i = 0; i < n; i++)
			ok |= strcmp(key, f[i].name) == 0;
		if (!ok)
			detail_add(detail, "body", key, strcmp(key, "owner") == 0
					? "Extra inputs are not permitted (the owner is the token's subject)"
					: "Extra inputs are not permitted", "extra_forbidden");
	}
	return root;
}

enum aerr valid_body(struct arena *a, const char *body, size_t len, const struct vfield *f,
		size_t n, void *ctx, struct vval *out, json_object *detail)
{
	size_t before = json_object_array_length(detail);
	json_object *root, *j;
	const char *msg, *code;
	char buf[512];
	enum fail why;
	enum aerr rc = AE_OK;

	defaults(f, n, out);
	root = body_object(body, len, f, n, detail);
	for (size_t i = 0; root && i < n && rc != AE_NOMEM; i++) {
		int present = json_object_object_get_ex(root, f[i].name, &j) && j != NULL;

		why = field(a, &f[i], present, j, NULL, ctx, &out[i]);
		if (why == F_NOMEM) {
			rc = AE_NOMEM;
		} else if (why) {
			describe(&f[i], why, buf, sizeof(buf), &msg, &code);
			detail_add(detail, "body", f[i].name, msg, code);
		}
	}
	json_object_put(root);
	if (rc == AE_NOMEM)
		return rc;
	if (!root && json_object_array_length(detail) == before)
		return AE_NOMEM;
	return json_object_array_length(detail) > before ? AE_VALIDATION : AE_OK;
}

enum aerr valid_query(const struct vfield *f, size_t n, const char *const *text, void *ctx,
		struct vval *out, json_object *detail)
{
	const char *msg, *code;
	char buf[512];
	enum fail why;

	defaults(f, n, out);
	for (size_t i = 0; i < n; i++) {
		why = field(NULL, &f[i], text[i] != NULL, NULL, text[i], ctx, &out[i]);
		if (why) {
			describe(&f[i], why, buf, sizeof(buf), &msg, &code);
			if (why != F_MISSING && why != F_CHECK2 && f[i].msg && f[i].code) {
				msg = f[i].msg;
				code = f[i].code;
			}
			detail_add(detail, "query", f[i].name, msg, code);
			return AE_VALIDATION;
		}
	}
	return AE_OK;
}

enum aerr valid_claims(struct arena *a, json_object *claims, const struct vfield *f, size_t n,
		void *ctx, struct vval *out, const char **why)
{
	json_object *j = NULL;
	enum fail k;

	defaults(f, n, out);
	for (size_t i = 0; i < n; i++) {
		int present = json_object_object_get_ex(claims, f[i].name, &j);

		k = field(a, &f[i], present, j, NULL, ctx, &out[i]);
		if (k == F_NOMEM)
			return AE_NOMEM;
		if (k == F_MISSING)
			*why = f[i].missing ? f[i].missing : f[i].msg;
		else if (k == F_CHECK || k == F_CHECK2)
			*why = k == F_CHECK2 ? f[i].msg2 : f[i].msg;
		else if (k)
			*why = "malformed token claims";
		if (k)
			return AE_UNAUTHORIZED;
	}
	return AE_OK;
}
