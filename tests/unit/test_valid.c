/* test_valid.c - TAP unit tests of the field machinery (src/valid.c): one
 * table with every type, walked by the body, query and claims walkers:
 * required, optional and default values, wrong types, over-long values,
 * checks and their messages, extra members, out of memory. Pure; no I/O. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "tap.h"
#include "arena.h"
#include "valid.h"

#define UUID1 "3c90c3cc-0d44-4b50-8888-8dd25736052a"

static const char *const colours[] = { "red", "green", "blue" };
static const struct vspell colour_spelling = { colours, 3 };

/* 0, or 1 for a value starting with 'x', 2 for one starting with 'y' */
static int no_xy(struct vval *v, void *ctx)
{
	return v->s[0] == 'x' ? 1 : v->s[0] == 'y' ? 2 : 0;
}

static int even(struct vval *v, void *ctx)
{
	return v->i % 2 != 0;
}

static int ctx_true(void *ctx)
{
	return ctx != NULL;
}

enum { T_STR, T_OPT, T_ENUM, T_BOOL, T_UUID, T_INT, T_NUM, T_LIST, T_WORDS, T_ONE, T__MAX };

static const struct vfield fields[T__MAX] = {
	[T_STR] = { "str", V_STRING, 1, .hi = 10, .check = no_xy, .msg = "no x", .msg2 = "no y",
		.code = "string_pattern_mismatch" },
	[T_OPT] = { "opt", V_STRING, 0, .def_s = "dflt" },
	[T_ENUM] = { "enum", V_ENUM, 0, .spell = &colour_spelling, .def = 1 },
	[T_BOOL] = { "bool", V_BOOL, 0, .def = 1 },
	[T_UUID] = { "uuid", V_UUID, 0 },
	[T_INT] = { "int", V_INT, 0, 1, 9, .check = even, .def = 4, .msg = "one to nine, even",
		.code = "int_range" },
	[T_NUM] = { "num", V_NUMBER, 0 },
	[T_LIST] = { "list", V_STRINGS, 0, .hi = 3 },
	[T_WORDS] = { "words", V_STRINGS, 0, .lone = VL_WORDS },
	[T_ONE] = { "one", V_STRINGS, 0, .lone = VL_ONE },
};

/* Is there exactly one entry with this loc and, when given, msg and type? */
static int has_entry(json_object *detail, const char *where, const char *field,
		const char *msg, const char *type)
{
	size_t n = json_object_array_length(detail);
	int found = 0;

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(detail, i), *loc, *m, *t;
		size_t want = field ? 2 : 1;

		if (json_object_object_length(e) != 3 || !json_object_object_get_ex(e, "loc", &loc) ||
		    !json_object_object_get_ex(e, "msg", &m) || !json_object_object_get_ex(e, "type", &t))
			continue;
		if (json_object_array_length(loc) != want ||
		    strcmp(json_object_get_string(json_object_array_get_idx(loc, 0)), where) ||
		    (field && strcmp(json_object_get_string(json_object_array_get_idx(loc, 1)), field)))
			continue;
		if ((msg && strcmp(json_object_get_string(m), msg)) ||
		    (type && strcmp(json_object_get_string(t), type)))
			continue;
		found++;
	}
	return found == 1;
}

static enum aerr body(struct arena *a, const char *text, struct vval *v, json_object **detail)
{
	json_object_put(*detail);
	*detail = json_object_new_array();
	return valid_body(a, text, strlen(text), fields, T__MAX, NULL, v, *detail);
}

/* ---- the body walker ---------------------------------------------------- */

static void test_body_values(struct arena *a)
{
	struct vval v[T__MAX];
	json_object *d = NULL;
	enum aerr rc;

	rc = body(a, "{\"str\":\"abc\"}", v, &d);
	is_int(rc, AE_OK, "only the required field: AE_OK");
	is_int(json_object_array_length(d), 0, "no entries");
	ok(v[T_STR].set && strcmp(v[T_STR].s, "abc") == 0, "required string read");
	ok(!v[T_OPT].set && strcmp(v[T_OPT].s, "dflt") == 0, "absent string: default, not set");
	ok(!v[T_ENUM].set && v[T_ENUM].i == 1, "absent enum: default index");
	ok(!v[T_BOOL].set && v[T_BOOL].i == 1, "absent bool: default");
	ok(!v[T_UUID].set && v[T_UUID].s == NULL, "absent uuid without default: NULL");
	ok(!v[T_INT].set && v[T_INT].i == 4, "absent int: default");
	ok(!v[T_LIST].set && v[T_LIST].n == 0 && v[T_LIST].strs == NULL, "absent list: empty");

	rc = body(a, "{\"str\":\"abc\",\"opt\":null,\"enum\":null,\"bool\":null,\"uuid\":null,"
			"\"int\":null,\"num\":null,\"list\":null,\"words\":null,\"one\":null}", v, &d);
	is_int(rc, AE_OK, "null optional fields: AE_OK");
	ok(!v[T_OPT].set && strcmp(v[T_OPT].s, "dflt") == 0 && v[T_BOOL].i == 1 && v[T_INT].i == 4,
			"null is absent: defaults");

	rc = body(a, "{\"str\":\"0123456789\",\"opt\":\"\",\"enum\":\"blue\",\"bool\":false,"
			"\"uuid\":\"" UUID1 "\",\"int\":8,\"num\":12.75,\"list\":[\"a\",\"b\",\"\"],"
			"\"words\":\" read  write admin \",\"one\":\"a b\"}", v, &d);
	is_int(rc, AE_OK, "every field given: AE_OK");
	is_str(v[T_STR].s, "0123456789", "a string of exactly hi bytes is kept");
	ok(v[T_OPT].set && strcmp(v[T_OPT].s, "") == 0, "an empty optional string is a value");
	ok(v[T_ENUM].set && v[T_ENUM].i == 2 && strcmp(v[T_ENUM].s, "blue") == 0, "enum: index and spelling");
	ok(v[T_BOOL].set && v[T_BOOL].i == 0, "bool false");
	is_str(v[T_UUID].s, UUID1, "uuid");
	is_int(v[T_INT].i, 8, "int");
	is_int(v[T_NUM].i, 12, "number floored");
	ok(v[T_LIST].n == 3 && strcmp(v[T_LIST].strs[2], "") == 0, "list of three, empty item kept");
	ok(v[T_WORDS].n == 3 && strcmp(v[T_WORDS].strs[0], "read") == 0 &&
			strcmp(v[T_WORDS].strs[2], "admin") == 0, "a lone string split into its words");
	ok(valid_has(&v[T_WORDS], "write") && !valid_has(&v[T_WORDS], "writ") &&
			!valid_has(&v[T_WORDS], ""), "valid_has: whole items only");
	ok(v[T_ONE].n == 1 && strcmp(v[T_ONE].strs[0], "a b") == 0, "VL_ONE: a lone string is one item");
	json_object_put(d);
}

static void test_body_failures(struct arena *a)
{
	static const struct {
		const char *members;   /* added to a valid body */
		const char *field, *msg, *type;
	} cases[] = {
		{ "\"str\":1", "str", "Input should be a valid string", "string_type" },
		{ "\"str\":[]", "str", "Input should be a valid string", "string_type" },
		{ "\"opt\":\"a\\u0000b\"", "opt", "Input should not contain NUL characters", "string_type" },
		{ "\"str\":\"01234567890\"", "str", "String is too long", "string_too_long" },
		{ "\"str\":\"xa\"", "str", "no x", "string_pattern_mismatch" },
		{ "\"str\":\"ya\"", "str", "no y", "string_pattern_mismatch" },
		{ "\"enum\":\"Red\"", "enum", "Input should be 'red', 'green' or 'blue'", "enum" },
		{ "\"enum\":3", "enum", "Input should be a valid string", "string_type" },
		{ "\"bool\":\"true\"", "bool", "Input should be a valid boolean", "bool_type" },
		{ "\"bool\":0", "bool", "Input should be a valid boolean", "bool_type" },
		{ "\"uuid\":\"x\"", "uuid", "Input should be a valid UUID", "uuid_parsing" },
		{ "\"uuid\":7", "uuid", "Input should be a valid UUID", "uuid_parsing" },
		{ "\"uuid\":\"" UUID1 "\\u0000x\"", "uuid", "Input should be a valid UUID", "uuid_parsing" },
		{ "\"int\":\"2\"", "int", "Input should be a valid integer", "int_type" },
		{ "\"int\":2.0", "int", "Input should be a valid integer", "int_type" },
		{ "\"int\":10", "int", "one to nine, even", "int_range" },
		{ "\"int\":0", "int", "one to nine, even", "int_range" },
		{ "\"int\":3", "int", "one to nine, even", "int_range" },
		{ "\"int\":99999999999999999999", "int", "one to nine, even", "int_range" },
		{ "\"num\":\"1\"", "num", "Input should be a valid number", "float_type" },
		{ "\"num\":true", "num", "Input should be a valid number", "float_type" },
		{ "\"list\":\"a\"", "list", "Input should be a valid list", "list_type" },
		{ "\"list\":[\"a\",1]", "list", "Input should be a valid list", "list_type" },
		{ "\"list\":[\"a\\u0000\"]", "list", "Input should be a valid list", "list_type" },
		{ "\"list\":[\"a\",\"b\",\"c\",\"d\"]", "list", "List has too many items", "too_long" },
		{ "\"words\":{}", "words", "Input should be a valid list", "list_type" },
		{ "\"owner\":\"x\"", "owner",
			"Extra inputs are not permitted (the owner is the token's subject)", "extra_forbidden" },
		{ "\"Str\":\"x\"", "Str", "Extra inputs are not permitted", "extra_forbidden" },
	};
	struct vval v[T__MAX];
	json_object *d = NULL;
	enum aerr rc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *b = arena_printf(a, "{\"str\":\"abc\",%s}", cases[i].members);

		if (strncmp(cases[i].members, "\"str\"", 5) == 0)
			b = arena_printf(a, "{%s}", cases[i].members);
		rc = body(a, b, v, &d);
		is_int(rc, AE_VALIDATION, "{%s}: AE_VALIDATION", cases[i].members);
		ok(json_object_array_length(d) == 1 &&
				has_entry(d, "body", cases[i].field, cases[i].msg, cases[i].type),
				"{%s}: one entry %s / %s", cases[i].members, cases[i].msg, cases[i].type);
		if (strcmp(cases[i].field, "str") == 0)
			ok(!v[T_STR].set, "{%s}: a bad field is not set", cases[i].members);
	}

	rc = body(a, "{}", v, &d);
	is_int(rc, AE_VALIDATION, "{}: AE_VALIDATION");
	ok(json_object_array_length(d) == 1 && has_entry(d, "body", "str", "Field required", "missing"),
			"{}: the required field is missing");
	rc = body(a, "{\"str\":null}", v, &d);
	ok(rc == AE_VALIDATION && has_entry(d, "body", "str", "Field required", "missing"),
			"required null: missing");

	rc = body(a, "{\"str\":1,\"enum\":\"x\",\"bool\":1,\"colour\":2,\"int\":5}", v, &d);
	is_int(json_object_array_length(d), 5, "one entry per bad field, extras first");
	ok(has_entry(d, "body", "colour", NULL, "extra_forbidden"), "the extra member is named");
	is_str(json_object_get_string(json_object_object_get(json_object_array_get_idx(d, 1), "type")),
			"string_type", "then the fields in table order");

	static const struct { const char *text; const char *msg, *type; } bad[] = {
		{ "", "JSON decode error", "json_invalid" },
		{ "{", "JSON decode error", "json_invalid" },
		{ "{\"str\":\"a\"} x", "JSON decode error", "json_invalid" },
		{ "{\"str\":\"\xff\"}", "JSON decode error", "json_invalid" },
		{ "[{\"str\":\"a\"}]", "Input should be a valid dictionary or object", "model_attributes_type" },
		{ "\"str\"", "Input should be a valid dictionary or object", "model_attributes_type" },
		{ "null", "JSON decode error", "json_invalid" },   /* as before the walker */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = body(a, bad[i].text, v, &d);
		ok(rc == AE_VALIDATION && json_object_array_length(d) == 1 &&
				has_entry(d, "body", NULL, bad[i].msg, bad[i].type),
				"body %s: one entry at [\"body\"]: %s", i == 3 ? "(bad UTF-8)" : bad[i].text, bad[i].type);
		ok(!v[T_STR].set && strcmp(v[T_OPT].s, "dflt") == 0, "body %zu: defaults only", i);
	}
	json_object_put(d);
}

/* Fail the Nth arena allocation for every N: AE_NOMEM, or AE_OK with every value. */
static void test_body_oom(struct arena *a)
{
	static const char text[] = "{\"str\":\"abc\",\"opt\":\"o\",\"uuid\":\"" UUID1 "\","
		"\"list\":[\"a\",\"b\"],\"words\":\"c d\",\"one\":\"e\"}";
	int bad = 0, done = 0, n;

	for (n = 1; n <= 32 && !done; n++) {
		struct vval v[T__MAX];
		json_object *d = json_object_new_array();
		enum aerr rc;

		arena_reset(a);
		arena_fail_after(n);
		rc = valid_body(a, text, strlen(text), fields, T__MAX, NULL, v, d);
		arena_fail_after(0);
		if (rc == AE_OK)
			done = v[T_STR].s && v[T_OPT].s && v[T_UUID].s && v[T_LIST].n == 2 &&
				v[T_WORDS].n == 2 && v[T_ONE].n == 1;
		if ((rc == AE_OK && !done) || (rc != AE_OK && rc != AE_NOMEM) || json_object_array_length(d))
			bad++;
		json_object_put(d);
	}
	ok(done, "the body walker succeeds once allocations do (after %d)", n - 1);
	is_int(bad, 0, "out of memory is AE_NOMEM without entries, never half the values");
	arena_reset(a);
}

/* ---- the query walker --------------------------------------------------- */

static void test_query(void)
{
	static const struct {
		const char *text[T__MAX];
		const char *field;   /* NULL: valid */
		const char *msg, *type;
	} cases[] = {
		{ { "abc" }, NULL, NULL, NULL },
		{ { "abc", NULL, "green", NULL, UUID1, "6" }, NULL, NULL, NULL },
		{ { NULL }, "str", "Field required", "missing" },
		{ { "01234567890" }, "str", "no x", "string_pattern_mismatch" },
		{ { "xa" }, "str", "no x", "string_pattern_mismatch" },
		{ { "ya" }, "str", "no y", "string_pattern_mismatch" },
		{ { "abc", NULL, "GREEN" }, "enum", "Input should be 'red', 'green' or 'blue'", "enum" },
		{ { "abc", NULL, NULL, "true" }, "bool", "Input should be a valid boolean", "bool_type" },
		{ { "abc", NULL, NULL, NULL, "x" }, "uuid", "Input should be a valid UUID", "uuid_parsing" },
		{ { "abc", NULL, NULL, NULL, NULL, "" }, "int", "one to nine, even", "int_range" },
		{ { "abc", NULL, NULL, NULL, NULL, "0" }, "int", "one to nine, even", "int_range" },
		{ { "abc", NULL, NULL, NULL, NULL, "10" }, "int", "one to nine, even", "int_range" },
		{ { "abc", NULL, NULL, NULL, NULL, "5" }, "int", "one to nine, even", "int_range" },
		{ { "abc", NULL, NULL, NULL, NULL, "1.5" }, "int", "one to nine, even", "int_range" },
		{ { "abc", NULL, NULL, NULL, NULL, "1e2" }, "int", "one to nine, even", "int_range" },
		{ { "abc", NULL, NULL, NULL, NULL, "-4" }, "int", "one to nine, even", "int_range" },
		{ { "abc", NULL, NULL, NULL, NULL, "99999999999999999999" }, "int", "one to nine, even", "int_range" },
		{ { "abc", NULL, "nope", NULL, NULL, "0" }, "enum", NULL, "enum" },   /* the first only */
		{ { "abc", NULL, NULL, NULL, NULL, NULL, "1" }, "num", "Input should be a valid number", "float_type" },
	};
	struct vval v[T__MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_object *d = json_object_new_array();
		enum aerr rc = valid_query(fields, T__MAX, cases[i].text, NULL, v, d);

		if (!cases[i].field) {
			ok(rc == AE_OK && json_object_array_length(d) == 0, "query case %zu: valid", i);
		} else {
			ok(rc == AE_VALIDATION && json_object_array_length(d) == 1 &&
					has_entry(d, "query", cases[i].field, cases[i].msg, cases[i].type),
					"query case %zu: one entry for %s", i, cases[i].field);
		}
		json_object_put(d);
	}
	{
		const char *text[T__MAX] = { "abc", NULL, "green", NULL, NULL, "6" };
		json_object *d = json_object_new_array();

		valid_query(fields, T__MAX, text, NULL, v, d);
		ok(v[T_STR].s == text[0], "query strings are borrowed");
		ok(v[T_ENUM].set && v[T_ENUM].i == 1, "query enum");
		ok(v[T_INT].set && v[T_INT].i == 6, "query int");
		ok(!v[T_OPT].set && strcmp(v[T_OPT].s, "dflt") == 0, "query default");
		json_object_put(d);
	}
}

/* ---- the claims walker -------------------------------------------------- */

enum { K_EXP, K_SUB, K_ISS, K_LIST, K__MAX };

static int past(struct vval *v, void *ctx)
{
	return v->i <= 100;
}

static const struct vfield claims[K__MAX] = {
	[K_EXP] = { "exp", V_NUMBER, 1, .check = past, .missing = "no exp", .msg = "expired" },
	[K_SUB] = { "sub", V_STRING, 1, .lax = 1, .msg = "no sub" },
	[K_ISS] = { "iss", V_STRING, 1, .when = ctx_true, .msg = "no iss" },
	[K_LIST] = { "list", V_STRINGS, 0 },
};

static void test_claims(struct arena *a)
{
	static const struct {
		const char *json;
		int with_iss;
		const char *why;   /* NULL: valid */
	} cases[] = {
		{ "{\"exp\":101,\"sub\":\"s\"}", 0, NULL },
		{ "{\"exp\":101.5,\"sub\":\"s\",\"list\":[\"a\"]}", 0, NULL },
		{ "{\"exp\":101,\"sub\":\"s\",\"iss\":\"i\"}", 1, NULL },
		{ "{\"sub\":\"s\"}", 0, "no exp" },
		{ "{\"exp\":100,\"sub\":\"s\"}", 0, "expired" },
		{ "{\"exp\":100.9,\"sub\":\"s\"}", 0, "expired" },
		{ "{\"exp\":null,\"sub\":\"s\"}", 0, "malformed token claims" },
		{ "{\"exp\":\"101\",\"sub\":\"s\"}", 0, "malformed token claims" },
		{ "{\"exp\":100}", 0, "expired" },                       /* first failure wins */
		{ "{\"exp\":101}", 0, "no sub" },
		{ "{\"exp\":101,\"sub\":7}", 0, "no sub" },              /* lax: ill-typed is absent */
		{ "{\"exp\":101,\"sub\":null}", 0, "no sub" },
		{ "{\"exp\":101,\"sub\":\"a\\u0000b\"}", 0, "no sub" },
		{ "{\"exp\":101,\"sub\":\"s\"}", 1, "no iss" },           /* when: only then required */
		{ "{\"exp\":101,\"sub\":\"s\",\"iss\":1}", 1, "malformed token claims" },
		{ "{\"exp\":101,\"sub\":\"s\",\"iss\":1}", 0, NULL },      /* not counted when false */
		{ "{\"exp\":101,\"sub\":\"s\",\"list\":null}", 0, "malformed token claims" },
		{ "{\"exp\":101,\"sub\":\"s\",\"list\":\"a\"}", 0, "malformed token claims" },
		{ "{\"exp\":101,\"sub\":\"s\",\"list\":[{}]}", 0, "malformed token claims" },
	};
	struct vval v[K__MAX];
	int yes = 1;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_object *o = json_tokener_parse(cases[i].json);
		const char *why = "unset";
		enum aerr rc = valid_claims(a, o, claims, K__MAX, cases[i].with_iss ? &yes : NULL, v, &why);

		if (cases[i].why)
			ok(rc == AE_UNAUTHORIZED && why && strcmp(why, cases[i].why) == 0,
					"claims %s%s: %s", cases[i].json, cases[i].with_iss ? " (iss)" : "", cases[i].why);
		else
			ok(rc == AE_OK && v[K_SUB].set && strcmp(v[K_SUB].s, "s") == 0,
					"claims %s%s: valid", cases[i].json, cases[i].with_iss ? " (iss)" : "");
		json_object_put(o);
	}
	{
		json_object *o = json_tokener_parse("{\"exp\":1e300,\"sub\":\"alice\",\"list\":[\"a\",\"b\"]}");
		const char *why = NULL;
		enum aerr rc = valid_claims(a, o, claims, K__MAX, NULL, v, &why);

		json_object_put(o);   /* values are arena copies: still readable */
		ok(rc == AE_OK && v[K_EXP].i == INT64_MAX, "a huge number saturates");
		ok(strcmp(v[K_SUB].s, "alice") == 0 && v[K_LIST].n == 2 && strcmp(v[K_LIST].strs[1], "b") == 0,
				"claims strings outlive the claims object");
	}
}

static void test_detail_add(void)
{
	json_object *d = json_object_new_array(), *e, *loc;

	detail_add(d, "path", "job_id", "Input should be a valid UUID", "uuid_parsing");
	detail_add(d, "body", NULL, "JSON decode error", "json_invalid");
	is_int(json_object_array_length(d), 2, "detail_add appends");
	e = json_object_array_get_idx(d, 0);
	ok(json_object_object_get_ex(e, "loc", &loc) && json_object_array_length(loc) == 2 &&
			strcmp(json_object_get_string(json_object_array_get_idx(loc, 0)), "path") == 0 &&
			strcmp(json_object_get_string(json_object_array_get_idx(loc, 1)), "job_id") == 0,
			"loc [where, field]");
	e = json_object_array_get_idx(d, 1);
	ok(json_object_object_get_ex(e, "loc", &loc) && json_object_array_length(loc) == 1,
			"field NULL -> loc [where]");
	json_object_put(d);
}

int main(void)
{
	struct arena *a = arena_new();

	ok(a != NULL, "arena_new");
	if (a) {
		test_body_values(a);
		test_body_failures(a);
		test_body_oom(a);
		test_claims(a);
		arena_free(a);
	}
	test_query();
	test_detail_add();
	return done_testing();
}
