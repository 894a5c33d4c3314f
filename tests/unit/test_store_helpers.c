/* test_store_helpers.c - the static helpers of src/store.c that need no
 * database (the file is included, as lighttpd's src/t/ tests do): the array
 * literal of text[] parameters, the keyset cursor's timestamp check, and the
 * strict number parser of result columns. */
#include "../../src/store.c"
#include "tap.h"

static void test_array_literal(struct arena *a)
{
	const char *plain[] = { "a", "b" };
	const char *odd[] = { "x\",\"y", "back\\slash", "{brace}", "NULL", "" };
	const char *with_null[] = { "a", NULL };

	is_str(array_literal(a, plain, 2), "{\"a\",\"b\"}", "two plain strings");
	is_str(array_literal(a, plain, 0), "{}", "no strings: empty array");
	is_str(array_literal(a, odd, 5),
			"{\"x\\\",\\\"y\",\"back\\\\slash\",\"{brace}\",\"NULL\",\"\"}",
			"quotes and backslashes escaped; braces, NULL and empty stay text");
	ok(array_literal(a, with_null, 2) == NULL, "a NULL element is refused");
	arena_fail_after(1);
	ok(array_literal(a, plain, 2) == NULL, "out of memory: NULL");
	arena_fail_after(0);
}

static void test_cursor_ts(void)
{
	static const struct { const char *s; int ok; } cases[] = {
		{ "2023-11-07T05:31:56Z", 1 }, { "2023-11-07T05:31:56.123456Z", 1 },
		{ "2023-11-07T05:31:56.1Z", 1 }, { "2023-11-07T05:31:56.Z", 0 },
		{ "2023-11-07T05:31:56.1234567Z", 0 }, { "2023-11-07 05:31:56Z", 0 },
		{ "2023-11-07T05:31:56", 0 }, { "2023-11-07T05:31:56+00:00", 0 },
		{ "2023-1-07T05:31:56Z", 0 }, { "", 0 }, { "2023-11-07T05:31:56.12a4Z", 0 },
		{ "9999-99-99T99:99:99Z", 1 },   /* the format only: PostgreSQL judges the date */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(cursor_ts_valid(cases[i].s), cases[i].ok, "cursor timestamp \"%s\"", cases[i].s);
}

static void test_parse_long(void)
{
	long v = -1;

	ok(parse_long("42", &v) == 0 && v == 42, "42");
	ok(parse_long("-7", &v) == 0 && v == -7, "-7");
	ok(parse_long("", &v) != 0, "empty refused");
	ok(parse_long("12x", &v) != 0, "trailing text refused");
	ok(parse_long("99999999999999999999999", &v) != 0, "overflow refused");
	ok(parse_long("x", &v) != 0, "no digits refused");
}

int main(void)
{
	struct arena *a = arena_new();

	if (!a) {
		printf("Bail out! no arena\n");
		return 1;
	}
	test_array_literal(a);
	test_cursor_ts();
	test_parse_long();
	arena_free(a);
	return done_testing();
}
