/* test_registry.c - the C side of the algorithm registry agrees with its data
 * file: every line of share/algorithms.tsv maps, in order, to the C enums, their
 * spellings, fits and template family; each family has its DAG template; and
 * the database's CHECK lists in src/store.c name the same values in the same
 * order. Needs $top_srcdir. Reads files only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "job.h"
#include "tap.h"

#define LINE_MAX_LEN 1024
#define FIELDS_MAX 5
#define STORE_MAX (1024 * 1024)

static char srcdir[1024];     /* $top_srcdir */

static void bail(const char *what)
{
	printf("Bail out! %s\n", what);
	exit(1);
}

static void path_in(char *dst, size_t n, const char *rel)
{
	int k = snprintf(dst, n, "%s/%s", srcdir, rel);
	if (k < 0 || (size_t)k >= n)
		bail("path too long");
}

/* Split a line in place at tabs (the newline dropped); the number of fields. */
static int split_tabs(char *line, char **field, int max)
{
	int n = 0;
	char *p = line;

	line[strcspn(line, "\r\n")] = '\0';
	while (n < max) {
		field[n++] = p;
		p = strchr(p, '\t');
		if (p == NULL)
			return n;
		*p++ = '\0';
	}
	return n + 1;   /* more fields than max */
}

/* Is name one of the comma-separated names in list? */
static int in_list(const char *list, const char *name)
{
	size_t len = strlen(name);
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ",");
		if (n == len && strncmp(p, name, len) == 0)
			return 1;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static void check_problem_type(int i, char **f, int nf)
{
	enum problem_type v;

	is_int(nf, 2, "problem type line %d has 2 fields", i);
	if (i >= PT__MAX) {
		ok(0, "problem type %s is in the C enum", f[1]);
		return;
	}
	is_str(problem_type_str((enum problem_type)i), f[1], "problem type %d spelled as registered", i);
	ok(problem_type_parse(f[1], &v) == 0 && (int)v == i, "problem_type_parse(%s) = %d", f[1], i);
}

static void check_algorithm(int i, char **f, int nf)
{
	enum algorithm v;
	char tpl[1200], rel[256];
	int k;

	is_int(nf, 5, "algorithm line %d has 5 fields", i);
	if (nf != 5)
		return;
	if (i >= ALG__MAX) {
		ok(0, "algorithm %s is in the C enum", f[1]);
		return;
	}
	is_str(algorithm_str((enum algorithm)i), f[1], "algorithm %d spelled as registered", i);
	ok(algorithm_parse(f[1], &v) == 0 && (int)v == i, "algorithm_parse(%s) = %d", f[1], i);
	is_str(algorithm_family((enum algorithm)i), f[2], "%s: family %s", f[1], f[2]);
	for (int p = 0; p < PT__MAX; p++) {
		const char *pt = problem_type_str((enum problem_type)p);
		is_int(!!algorithm_fits((enum algorithm)i, (enum problem_type)p), in_list(f[3], pt),
				"%s %s %s", f[1], in_list(f[3], pt) ? "fits" : "does not fit", pt);
	}
	k = snprintf(rel, sizeof rel, "share/dags/%s.py.in", f[2]);
	if (k < 0 || (size_t)k >= sizeof rel)
		bail("family name too long");
	path_in(tpl, sizeof tpl, rel);
	ok(access(tpl, R_OK) == 0, "%s: template %s exists", f[1], rel);
}

static void test_registry_file(void)
{
	char path[1200], line[LINE_MAX_LEN], *f[FIELDS_MAX + 1];
	int npt = 0, nalg = 0, nf;
	FILE *in;

	path_in(path, sizeof path, "share/algorithms.tsv");
	in = fopen(path, "r");
	if (in == NULL)
		bail("cannot open share/algorithms.tsv");
	while (fgets(line, sizeof line, in) != NULL) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		nf = split_tabs(line, f, FIELDS_MAX);
		if (strcmp(f[0], "problem_type") == 0)
			check_problem_type(npt++, f, nf);
		else if (strcmp(f[0], "algorithm") == 0)
			check_algorithm(nalg++, f, nf);
		else
			ok(0, "known record kind: %s", f[0]);
	}
	fclose(in);
	is_int(npt, PT__MAX, "as many problem types as the C enum");
	is_int(nalg, ALG__MAX, "as many algorithms as the C enum");
}

static void test_out_of_range(void)
{
	is_str(problem_type_str(PT__MAX), "?", "problem_type_str out of range");
	is_str(algorithm_str(ALG__MAX), "?", "algorithm_str out of range");
	ok(algorithm_family(ALG__MAX) == NULL, "algorithm_family out of range: NULL");
	ok(algorithm_family((enum algorithm)-1) == NULL, "algorithm_family negative: NULL");
	is_int(algorithm_fits(ALG__MAX, PT_BINARY_CLASSIFICATION), 0, "algorithm_fits: algorithm out of range");
	is_int(algorithm_fits(ALG_LIGHTGBM_CLASSIFIER, PT__MAX), 0, "algorithm_fits: problem type out of range");
}

/* The values of the last "CHECK (column IN (" list in store.c, in order, must
 * be the spellings str(0..max-1). */
static void check_sql_list(const char *src, const char *column, const char *(*str)(int), int max)
{
	char key[64];
	const char *p = NULL, *q, *end;
	int n = 0, k;

	k = snprintf(key, sizeof key, "CHECK (%s IN (", column);
	if (k < 0 || (size_t)k >= sizeof key)
		bail("column name too long");
	for (q = strstr(src, key); q != NULL; q = strstr(q + 1, key))
		p = q;
	if (!ok(p != NULL, "store.c has a CHECK list for %s", column))
		return;
	p += strlen(key);
	end = strchr(p, ')');
	if (!ok(end != NULL, "store.c: the %s list ends", column))
		return;
	while ((q = memchr(p, '\'', (size_t)(end - p))) != NULL) {
		const char *close = memchr(q + 1, '\'', (size_t)(end - q - 1));
		const char *want = n < max ? str(n) : "(none)";
		if (close == NULL)
			break;
		ok((size_t)(close - q - 1) == strlen(want) && strncmp(q + 1, want, strlen(want)) == 0,
				"store.c %s CHECK value %d is %s", column, n, want);
		n++;
		p = close + 1;
	}
	is_int(n, max, "store.c %s CHECK lists every registered value", column);
}

static const char *pt_str(int v) { return problem_type_str((enum problem_type)v); }
static const char *alg_str(int v) { return algorithm_str((enum algorithm)v); }

static void test_store_checks(void)
{
	char path[1200];
	char *src = malloc(STORE_MAX + 1);
	size_t len;
	FILE *in;

	if (src == NULL)
		bail("out of memory");
	path_in(path, sizeof path, "src/store.c");
	in = fopen(path, "rb");
	if (in == NULL)
		bail("cannot open src/store.c");
	len = fread(src, 1, STORE_MAX, in);
	fclose(in);
	if (len == STORE_MAX)
		bail("src/store.c is too large");
	src[len] = '\0';
	check_sql_list(src, "problem_type", pt_str, PT__MAX);
	check_sql_list(src, "algorithm", alg_str, ALG__MAX);
	free(src);
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	int k;

	if (top == NULL || top[0] == '\0')
		bail("top_srcdir is not set (run through make check)");
	k = snprintf(srcdir, sizeof srcdir, "%s", top);
	if (k < 0 || (size_t)k >= sizeof srcdir)
		bail("top_srcdir too long");

	test_registry_file();
	test_out_of_range();
	test_store_checks();
	return done_testing();
}
