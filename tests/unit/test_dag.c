/* test_dag.c - TAP tests of src/dag.c: Python literal escaping (checked by
 * round-tripping through a real python3), template rendering and injection
 * attempts, atomic publishing, and the real templates of share/dags. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <json-c/json.h>

#include "buf.h"
#include "config.h"
#include "dag.h"
#include "errors.h"
#include "job.h"
#include "tap.h"

#define OUT_MAX (4 * 1024 * 1024)

static char tmpdir[512];      /* private scratch directory, removed at the end */
static char srcdir[1024];     /* $top_srcdir */

/* ---- helpers ------------------------------------------------------------ */

static void bail(const char *what)
{
	printf("Bail out! %s\n", what);
	exit(1);
}

static void path_in(char *dst, size_t n, const char *dir, const char *name)
{
	int k = snprintf(dst, n, "%s/%s", dir, name);
	if (k < 0 || (size_t)k >= n)
		bail("path too long");
}

static int write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int rc = 0;

	if (!f)
		return -1;
	if (len && fwrite(data, 1, len, f) != len)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/* Whole file into b (b initialised by the caller); 0 or -1. */
static int read_file(const char *path, struct buf *b)
{
	char chunk[4096];
	size_t got;
	FILE *f = fopen(path, "rb");
	int rc = 0;

	if (!f)
		return -1;
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (buf_append(b, chunk, got)) {
			rc = -1;
			break;
		}
	}
	if (ferror(f))
		rc = -1;
	fclose(f);
	return rc;
}

static void rm_rf(const char *path)
{
	struct stat st;
	struct dirent *de;
	char sub[1024];
	DIR *d;

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		d = opendir(path);
		if (d) {
			while ((de = readdir(d)) != NULL) {
				if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
					continue;
				path_in(sub, sizeof sub, path, de->d_name);
				rm_rf(sub);
			}
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Run a shell command (its arguments are paths we made, single-quoted) and
 * collect its stdout into out. Returns the exit status, or -1. */
static int run(const char *cmd, struct buf *out)
{
	char chunk[4096];
	size_t got;
	FILE *p;
	int st;

	fflush(stdout);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while ((got = fread(chunk, 1, sizeof chunk, p)) > 0) {
		if (out && buf_append(out, chunk, got)) {
			pclose(p);
			return -1;
		}
	}
	st = pclose(p);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* python3 on a script file; its stdout into out. */
static int run_python(const char *script, struct buf *out)
{
	char cmd[1200];
	int k = snprintf(cmd, sizeof cmd, "python3 '%s'", script);

	if (k < 0 || (size_t)k >= sizeof cmd)
		bail("command too long");
	return run(cmd, out);
}

static int py_compile(const char *script)
{
	char cmd[1200];
	int k = snprintf(cmd, sizeof cmd, "python3 -m py_compile '%s'", script);

	if (k < 0 || (size_t)k >= sizeof cmd)
		bail("command too long");
	return run(cmd, NULL);
}

static int all_ascii(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80 || s[i] == '\0')
			return 0;
	return 1;
}

/* ---- py_str_literal ------------------------------------------------------ */

struct lit_case {
	const char *name;
	const char *in;
	const char *want;   /* exact literal */
};

static const struct lit_case lit_cases[] = {
	{ "plain", "hello world", "'hello world'" },
	{ "empty", "", "''" },
	{ "single and double quotes", "it's \"q\"", "'it\\'s \"q\"'" },
	{ "triple single quotes", "'''", "'\\'\\'\\''" },
	{ "triple double quotes", "\"\"\"", "'\"\"\"'" },
	{ "backslashes", "a\\b\\\\c", "'a\\\\b\\\\\\\\c'" },
	{ "trailing backslash", "end\\", "'end\\\\'" },
	{ "only a backslash", "\\", "'\\\\'" },
	{ "newline, CR, tab", "a\nb\rc\td", "'a\\nb\\rc\\td'" },
	{ "control characters", "\x01\x02\x1b\x1f\x0b\x0c\x08\x07", "'\\x01\\x02\\x1b\\x1f\\x0b\\x0c\\x08\\x07'" },
	{ "DEL", "x\x7fy", "'x\\x7fy'" },
	{ "backslash escapes stay text", "\\n \\x41 \\u0041 \\N{DASH} {0} %s", "'\\\\n \\\\x41 \\\\u0041 \\\\N{DASH} {0} %s'" },
	{ "2-byte UTF-8 e-acute", "caf\xc3\xa9", "'caf\\u00e9'" },
	{ "U+0080", "\xc2\x80", "'\\u0080'" },
	{ "3-byte UTF-8 euro", "\xe2\x82\xac" "5", "'\\u20ac5'" },
	{ "U+D7FF below surrogates", "\xed\x9f\xbf", "'\\ud7ff'" },
	{ "U+E000 above surrogates", "\xee\x80\x80", "'\\ue000'" },
	{ "U+FFFF", "\xef\xbf\xbf", "'\\uffff'" },
	{ "4-byte UTF-8 G clef", "\xf0\x9d\x84\x9e", "'\\U0001d11e'" },
	{ "U+10000", "\xf0\x90\x80\x80", "'\\U00010000'" },
	{ "U+10FFFF", "\xf4\x8f\xbf\xbf", "'\\U0010ffff'" },
	{ "injection with quotes", "x'); import os; os.system('touch pwned'); ('",
		"'x\\'); import os; os.system(\\'touch pwned\\'); (\\''" },
	{ "injection with triple quotes", "\"\"\"\nimport os", "'\"\"\"\\nimport os'" },
};

static const struct { const char *name, *in; } bad_utf8[] = {
	{ "overlong C0 AF", "\xc0\xaf" },
	{ "overlong C1 BF", "\xc1\xbf" },
	{ "overlong 3-byte E0 80 AF", "\xe0\x80\xaf" },
	{ "overlong 4-byte F0 80 80 AF", "\xf0\x80\x80\xaf" },
	{ "lone continuation byte", "\x80" },
	{ "continuation after ASCII", "ab\xbf" },
	{ "surrogate ED A0 80", "\xed\xa0\x80" },
	{ "surrogate ED BF BF", "\xed\xbf\xbf" },
	{ "above U+10FFFF (F4 90 80 80)", "\xf4\x90\x80\x80" },
	{ "F5 lead byte", "\xf5\x80\x80\x80" },
	{ "FF byte", "a\xff" },
	{ "truncated 2-byte at end", "ok\xc3" },
	{ "truncated 3-byte at end", "\xe2\x82" },
	{ "truncated 4-byte at end", "\xf0\x9d\x84" },
	{ "truncated 3-byte before ASCII", "\xe2\x82x" },
	{ "valid then truncated", "\xc3\xa9\xc3" },
};

/* Write `import sys; v = <lit>; sys.stdout.buffer.write(...)` and compare the
 * bytes python3 prints with the input. */
static void round_trip(const char *name, const char *in, const char *lit, size_t litlen)
{
	char script[600];
	struct buf prog, got;
	int st;

	path_in(script, sizeof script, tmpdir, "lit.py");
	buf_init(&prog, OUT_MAX);
	buf_init(&got, OUT_MAX);
	if (buf_puts(&prog, "import sys; v = ") || buf_append(&prog, lit, litlen) ||
			buf_puts(&prog, "; sys.stdout.buffer.write(v.encode('utf-8', 'surrogatepass'))\n"))
		bail("out of memory");
	if (write_file(script, prog.data, prog.len))
		bail("cannot write script");
	st = run_python(script, &got);
	is_int(st, 0, "round trip %s: python3 exits 0", name);
	ok(got.len == strlen(in) && memcmp(got.data ? got.data : "", in, got.len) == 0,
			"round trip %s: python3 gives back the exact bytes", name);
	unlink(script);
	buf_free(&prog);
	buf_free(&got);
}

static void test_literals(void)
{
	struct buf b;
	size_t i, before;
	char all[200];
	int rc;

	for (i = 0; i < sizeof lit_cases / sizeof lit_cases[0]; i++) {
		buf_init(&b, OUT_MAX);
		rc = py_str_literal(&b, lit_cases[i].in);
		is_int(rc, 0, "literal %s: accepted", lit_cases[i].name);
		is_str(b.data, lit_cases[i].want, "literal %s: exact text", lit_cases[i].name);
		ok(all_ascii(b.data, b.len), "literal %s: pure ASCII", lit_cases[i].name);
		round_trip(lit_cases[i].name, lit_cases[i].in, b.data, b.len);
		buf_free(&b);
	}

	/* Every ASCII byte 1..127 in one string. */
	for (i = 1; i < 128; i++)
		all[i - 1] = (char)i;
	all[127] = '\0';
	buf_init(&b, OUT_MAX);
	is_int(py_str_literal(&b, all), 0, "literal of every ASCII byte: accepted");
	ok(all_ascii(b.data, b.len), "literal of every ASCII byte: pure ASCII");
	ok(memchr(b.data, '\n', b.len) == NULL && memchr(b.data, '\r', b.len) == NULL,
			"literal of every ASCII byte: no raw line break");
	round_trip("every ASCII byte", all, b.data, b.len);
	buf_free(&b);

	/* NULL is None. */
	buf_init(&b, OUT_MAX);
	is_int(py_str_literal(&b, NULL), 0, "NULL: accepted");
	is_str(b.data, "None", "NULL: None");
	buf_free(&b);

	/* Invalid UTF-8: -1, and the buffer is left as it was. */
	for (i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
		buf_init(&b, OUT_MAX);
		if (buf_puts(&b, "prefix"))
			bail("out of memory");
		before = b.len;
		is_int(py_str_literal(&b, bad_utf8[i].in), -1, "invalid UTF-8 %s: refused", bad_utf8[i].name);
		ok(b.len == before && strcmp(b.data, "prefix") == 0,
				"invalid UTF-8 %s: buffer unchanged", bad_utf8[i].name);
		buf_free(&b);
	}

	/* Appends to what is there. */
	buf_init(&b, OUT_MAX);
	if (buf_puts(&b, "x = "))
		bail("out of memory");
	is_int(py_str_literal(&b, "a'b"), 0, "append: accepted");
	is_str(b.data, "x = 'a\\'b'", "append: literal follows existing text");
	buf_free(&b);

	/* Buffer limit: -1 and nothing half-written. */
	buf_init(&b, 8);
	if (buf_puts(&b, "ab"))
		bail("out of memory");
	is_int(py_str_literal(&b, "abcdefgh"), -1, "over the buffer limit: refused");
	is_str(b.data, "ab", "over the buffer limit: buffer unchanged");
	is_int(py_str_literal(&b, "abcd"), 0, "exactly at the buffer limit: accepted");
	is_str(b.data, "ab'abcd'", "exactly at the buffer limit: text");
	buf_free(&b);
}

/* ---- dag_render ---------------------------------------------------------- */

#define JOB_ID "3c90c3cc-0d44-4b50-8888-8dd25736052a"
#define FE_ID "0b7f3f5e-1111-4c2d-9999-aabbccddeeff"
#define PSK "psk-sentinel-never-rendered"

static void base_config(struct config *cfg, char *templates_dir)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->templates_dir = templates_dir;
	cfg->dags_dir = tmpdir;
	cfg->mlflow_tracking_uri = (char *)"http://127.0.0.1:5000";
	cfg->public_url = (char *)"http://automl.example:8081/base";
	cfg->train_python = (char *)"/opt/automl/train-venv/bin/python";
	cfg->warehouse_conn_id = (char *)"automl_warehouse";
	/* Secrets must never reach a rendered DAG (it is shown to users). */
	cfg->status_psk = (char *)PSK;
	cfg->airflow_password = (char *)PSK;
	cfg->jwt_secret = (char *)PSK;
	cfg->jwt_secret_len = strlen(PSK);
}

static void base_job(struct job *job)
{
	memset(job, 0, sizeof *job);
	memcpy(job->job_id, JOB_ID, sizeof job->job_id);
	job->name = "churn model";
	job->domain = "sales";
	job->owner = "alice";
	job->source_table = "warehouse.sales.customers";
	job->label_column = "label";
	job->problem_type = PT_BINARY_CLASSIFICATION;
	job->algorithm = ALG_LIGHTGBM_CLASSIFIER;
	job->preset = PRESET_BALANCED;
	job->status = ST_READY;
	job->airflow_dag_id = "automl_3c90c3cc0d444b5088888dd25736052a";
	job->mlflow_experiment_name = "automl/sales/churn model";
	job->registered_model_name = "automl_sales_churn_model";
	job->feature_engineering_job_id = NULL;
	job->trigger_attempts = 0;
	job->sync_age_s = -1;
}

/* Compare one key of the JSON that the rendered fixture printed. */
static void check_value(json_object *o, const char *key, const char *want, const char *what)
{
	json_object *v = NULL;
	int has = json_object_object_get_ex(o, key, &v);

	ok(has, "%s: key %s present", what, key);
	if (want == NULL) {
		ok(has && v == NULL, "%s: %s is None", what, key);
		return;
	}
	ok(has && json_object_is_type(v, json_type_string) &&
			(size_t)json_object_get_string_len(v) == strlen(want) &&
			memcmp(json_object_get_string(v), want, strlen(want)) == 0,
			"%s: %s comes back exactly", what, key);
}

/* Render job with the fixture templates, run the result, check every value. */
static void render_and_run(const struct config *cfg, const struct job *job, const char *what,
		const char *status_url)
{
	char script[600];
	struct buf out, got;
	json_object *o;
	enum aerr rc;
	int st;

	buf_init(&out, OUT_MAX);
	buf_init(&got, OUT_MAX);
	rc = dag_render(cfg, job, &out);
	is_int(rc, AE_OK, "%s: rendered", what);
	ok(out.data && all_ascii(out.data, out.len), "%s: rendered text is pure ASCII", what);
	ok(out.data && strstr(out.data, "@@") == NULL, "%s: no placeholder left", what);
	ok(out.data && strstr(out.data, PSK) == NULL, "%s: no secret rendered", what);
	ok(out.data && strncmp(out.data,
			"# Test template for test_dag: every placeholder of dag.h, printed back as JSON.\n"
			"# Verbatim text: 'single' \"double\" \\backslash @ @x@ {braces} %s\n"
			"_name_again = str(", strlen("# Test template for test_dag: every placeholder of dag.h, printed back as JSON.\n"
			"# Verbatim text: 'single' \"double\" \\backslash @ @x@ {braces} %s\n"
			"_name_again = str(")) == 0, "%s: template text copied verbatim", what);
	path_in(script, sizeof script, tmpdir, "rendered.py");
	if (write_file(script, out.data ? out.data : "", out.len))
		bail("cannot write rendered DAG");
	st = run_python(script, &got);
	is_int(st, 0, "%s: python3 runs the rendered file", what);
	o = json_tokener_parse(got.data ? got.data : "");
	ok(o != NULL && json_object_is_type(o, json_type_object), "%s: values printed as JSON", what);
	if (o) {
		check_value(o, "job_id", job->job_id, what);
		check_value(o, "job_name", job->name, what);
		check_value(o, "domain", job->domain, what);
		check_value(o, "owner", job->owner, what);
		check_value(o, "source_table", job->source_table, what);
		check_value(o, "label_column", job->label_column, what);
		check_value(o, "problem_type", problem_type_str(job->problem_type), what);
		check_value(o, "algorithm", algorithm_str(job->algorithm), what);
		check_value(o, "preset", preset_str(job->preset), what);
		check_value(o, "dag_id", job->airflow_dag_id, what);
		check_value(o, "mlflow_experiment_name", job->mlflow_experiment_name, what);
		check_value(o, "registered_model_name", job->registered_model_name, what);
		check_value(o, "mlflow_tracking_uri", cfg->mlflow_tracking_uri, what);
		check_value(o, "status_url", status_url, what);
		check_value(o, "train_python", cfg->train_python, what);
		check_value(o, "warehouse_conn_id", cfg->warehouse_conn_id, what);
		check_value(o, "feature_engineering_job_id", job->feature_engineering_job_id, what);
		is_int(json_object_object_length(o), 17, "%s: exactly the 17 placeholders", what);
		json_object_put(o);
	}
	unlink(script);
	buf_free(&out);
	buf_free(&got);
}

/* The render must fail with AE_INTERNAL and leave out as it was. */
static void render_fails(const struct config *cfg, const struct job *job, const char *what,
		enum aerr want)
{
	struct buf out;
	enum aerr rc;

	buf_init(&out, OUT_MAX);
	if (buf_puts(&out, "keep"))
		bail("out of memory");
	rc = dag_render(cfg, job, &out);
	is_int(rc, want, "%s: refused", what);
	ok(out.len == 4 && strcmp(out.data, "keep") == 0, "%s: output left as it was", what);
	buf_free(&out);
}

static void test_render(void)
{
	char fixtures[1200], bad[600], tpl[700], pwned[600], payload[900], script[600];
	struct config cfg;
	struct job job;
	struct buf out, big;
	size_t i;
	static const char *const bad_templates[] = {
		"x = @@NOPE@@\n",
		"x = @@JOB_ID\n",
		"x = @@JOB_ID@\n",
		"x = @@JOB_ID",
		"x = '@@'\n",
		"x = 1 # a@@b\n",
		"x = @@job_id@@\n",
		"x = @@JOB-ID@@\n",
		"x = @@@@\n",
		"x = @@@JOB_ID@@\n",
		"x = 1\n@@",
		"x = @@ JOB_ID @@\n",
	};

	path_in(fixtures, sizeof fixtures, srcdir, "tests/unit/fixtures/dag");
	path_in(pwned, sizeof pwned, tmpdir, "pwned");
	base_config(&cfg, fixtures);
	base_job(&job);

	render_and_run(&cfg, &job, "plain job", "http://automl.example:8081/base/api/automl/train/jobs/" JOB_ID "/status");

	/* Injection attempts in every free-text field. */
	{
		int k = snprintf(payload, sizeof payload, "x'); import os; os.system('touch %s'); ('", pwned);
		if (k < 0 || (size_t)k >= sizeof payload)
			bail("payload too long");
	}
	job.name = payload;
	job.domain = "\"\"\"\nimport os";
	job.owner = "o'''wn\\er\\";
	job.source_table = "t\"; os.system('touch x') #";
	job.label_column = "lab\x01\x7f" "el\r\n\t";
	job.mlflow_experiment_name = "exp\xc3\xa9 \xe2\x82\xac";
	job.registered_model_name = "m\xf0\x9d\x84\x9e\\";
	job.feature_engineering_job_id = FE_ID;
	render_and_run(&cfg, &job, "injection", "http://automl.example:8081/base/api/automl/train/jobs/" JOB_ID "/status");
	ok(!exists(pwned), "injection: the payload did not run");

	/* Control: the same payload pasted into quotes without escaping does run,
	 * so the check above can fail. */
	path_in(script, sizeof script, tmpdir, "naive.py");
	{
		struct buf naive;
		buf_init(&naive, OUT_MAX);
		if (buf_puts(&naive, "_name_again = str('") || buf_puts(&naive, payload) || buf_puts(&naive, "')\n"))
			bail("out of memory");
		if (write_file(script, naive.data, naive.len))
			bail("cannot write script");
		buf_free(&naive);
	}
	is_int(run_python(script, NULL), 0, "control: naive rendering runs");
	ok(exists(pwned), "control: naive rendering executes the payload");
	unlink(pwned);
	unlink(script);

	/* No public URL: STATUS_URL is None. */
	base_job(&job);
	cfg.public_url = NULL;
	render_and_run(&cfg, &job, "no public URL", NULL);
	base_config(&cfg, fixtures);

	/* Exact output, appended to what is in the buffer. */
	path_in(bad, sizeof bad, tmpdir, "tpl");
	if (mkdir(bad, 0700) != 0)
		bail("mkdir");
	path_in(tpl, sizeof tpl, bad, "common.py.in");
	if (write_file(tpl, "", 0))   /* the shared part: empty here */
		bail("write");
	path_in(tpl, sizeof tpl, bad, "lightgbm.py.in");
	cfg.templates_dir = bad;
	base_job(&job);
	job.feature_engineering_job_id = FE_ID;
	{
		static const char t[] = "a = @@JOB_ID@@\nb = @@FEATURE_ENGINEERING_JOB_ID@@@@PRESET@@\n# @ x@y\n";
		if (write_file(tpl, t, sizeof t - 1))
			bail("write");
	}
	buf_init(&out, OUT_MAX);
	if (buf_puts(&out, "PREFIX\n"))
		bail("out of memory");
	is_int(dag_render(&cfg, &job, &out), AE_OK, "exact: rendered");
	is_str(out.data, "PREFIX\na = '" JOB_ID "'\nb = '" FE_ID "''balanced'\n# @ x@y\n",
			"exact: output appended, placeholders adjacent, text verbatim");
	buf_free(&out);

	/* The shared common.py.in follows the family's part, placeholders and all;
	 * without it nothing is rendered. */
	{
		char common[700];
		static const char c[] = "tail = @@DAG_ID@@\n";
		path_in(common, sizeof common, bad, "common.py.in");
		if (write_file(tpl, "head = 1\n", 9) || write_file(common, c, sizeof c - 1))
			bail("write");
		buf_init(&out, OUT_MAX);
		is_int(dag_render(&cfg, &job, &out), AE_OK, "common: rendered");
		is_str(out.data, "head = 1\ntail = 'automl_3c90c3cc0d444b5088888dd25736052a'\n",
				"common: appended after the family part");
		buf_free(&out);
		if (unlink(common) != 0)
			bail("unlink");
		render_fails(&cfg, &job, "common.py.in missing", AE_INTERNAL);
		if (write_file(common, "", 0))
			bail("write");
	}

	/* An empty template renders to nothing. */
	if (write_file(tpl, "", 0))
		bail("write");
	buf_init(&out, OUT_MAX);
	is_int(dag_render(&cfg, &job, &out), AE_OK, "empty template: rendered");
	is_int(out.len, 0, "empty template: nothing appended");
	buf_free(&out);

	/* Bad templates. */
	for (i = 0; i < sizeof bad_templates / sizeof bad_templates[0]; i++) {
		char what[200];
		size_t j, w;
		if (write_file(tpl, bad_templates[i], strlen(bad_templates[i])))
			bail("write");
		w = (size_t)snprintf(what, sizeof what, "bad template ");
		for (j = 0; bad_templates[i][j] && w + 3 < sizeof what; j++) {
			if (bad_templates[i][j] == '\n') {
				what[w++] = '\\';
				what[w++] = 'n';
			} else {
				what[w++] = bad_templates[i][j];
			}
		}
		what[w] = '\0';
		render_fails(&cfg, &job, what, AE_INTERNAL);
	}

	/* Template size cap: 1 MiB is fine, one byte more is not. */
	buf_init(&big, 2 * 1024 * 1024);
	for (i = 0; i < 1024 * 1024 - 1; i++)
		if (buf_putc(&big, (i % 64) == 0 ? '#' : ((i % 64) == 63 ? '\n' : 'x')))
			bail("out of memory");
	if (buf_putc(&big, '\n'))
		bail("out of memory");
	if (write_file(tpl, big.data, big.len))
		bail("write");
	buf_init(&out, OUT_MAX);
	is_int(dag_render(&cfg, &job, &out), AE_OK, "1 MiB template: rendered");
	ok(out.len == big.len && memcmp(out.data, big.data, big.len) == 0, "1 MiB template: copied verbatim");
	buf_free(&out);
	if (buf_putc(&big, '\n') || write_file(tpl, big.data, big.len))
		bail("write");
	render_fails(&cfg, &job, "template over 1 MiB", AE_INTERNAL);
	buf_free(&big);

	/* Missing template. */
	unlink(tpl);
	render_fails(&cfg, &job, "missing template", AE_INTERNAL);
	path_in(tpl, sizeof tpl, bad, "common.py.in");
	unlink(tpl);
	rmdir(bad);

	/* Output limit. */
	cfg.templates_dir = fixtures;
	buf_init(&out, 64);
	is_int(dag_render(&cfg, &job, &out), AE_INTERNAL, "output over the buffer limit: refused");
	is_int(out.len, 0, "output over the buffer limit: nothing half-written");
	buf_free(&out);

	/* Invalid UTF-8 in a field is refused, not passed through. */
	job.name = "bad \xc0\xaf name";
	render_fails(&cfg, &job, "invalid UTF-8 in the name", AE_INTERNAL);
	base_job(&job);

	/* The template is chosen by the algorithm's family. */
	{
		static const struct { enum algorithm alg; enum problem_type pt; const char *want; } fam[] = {
			{ ALG_ISOLATION_FOREST, PT_ANOMALY_DETECTION, "family = 'iforest'\nalgorithm = 'isolation_forest'\n" },
			{ ALG_VW_CLASSIFIER, PT_MULTICLASS_CLASSIFICATION, "family = 'vw'\nalgorithm = 'vw_classifier'\n" },
			{ ALG_VW_REGRESSOR, PT_REGRESSION, "family = 'vw'\nalgorithm = 'vw_regressor'\n" },
			{ ALG_VW_CONTEXTUAL_BANDIT, PT_CONTEXTUAL_BANDIT, "family = 'vw'\nalgorithm = 'vw_contextual_bandit'\n" },
		};
		for (i = 0; i < sizeof fam / sizeof fam[0]; i++) {
			job.algorithm = fam[i].alg;
			job.problem_type = fam[i].pt;
			buf_init(&out, OUT_MAX);
			is_int(dag_render(&cfg, &job, &out), AE_OK, "family: %s rendered", algorithm_str(fam[i].alg));
			is_str(out.data, fam[i].want, "family: %s template used", algorithm_str(fam[i].alg));
			buf_free(&out);
		}
		base_job(&job);
	}
}

/* ---- the real templates -------------------------------------------------- */

static void test_real_templates(void)
{
	static const struct { enum algorithm alg; enum problem_type pt; } fits[] = {
		{ ALG_LIGHTGBM_CLASSIFIER, PT_BINARY_CLASSIFICATION },
		{ ALG_LIGHTGBM_CLASSIFIER, PT_MULTICLASS_CLASSIFICATION },
		{ ALG_LIGHTGBM_REGRESSOR, PT_REGRESSION },
		{ ALG_LIGHTGBM_RANKER, PT_RANKING },
		{ ALG_ISOLATION_FOREST, PT_ANOMALY_DETECTION },
		{ ALG_VW_CLASSIFIER, PT_BINARY_CLASSIFICATION },
		{ ALG_VW_CLASSIFIER, PT_MULTICLASS_CLASSIFICATION },
		{ ALG_VW_REGRESSOR, PT_REGRESSION },
		{ ALG_VW_CONTEXTUAL_BANDIT, PT_CONTEXTUAL_BANDIT },
	};
	char dir[1200], script[600];
	struct config cfg;
	struct job job;
	struct buf out, lit;
	size_t i, seen = 0;
	int p;

	path_in(dir, sizeof dir, srcdir, "share/dags");
	path_in(script, sizeof script, tmpdir, "real_dag.py");
	base_config(&cfg, dir);
	for (i = 0; i < sizeof fits / sizeof fits[0]; i++) {
		for (p = 0; p < PRESET__MAX; p++) {
			const char *a = algorithm_str(fits[i].alg), *pt = problem_type_str(fits[i].pt);
			const char *pr = preset_str((enum preset)p);
			base_job(&job);
			job.algorithm = fits[i].alg;
			job.problem_type = fits[i].pt;
			job.preset = (enum preset)p;
			/* Quotes of every kind in each free-text field: a template that
			 * put a placeholder inside a string or docstring fails to compile. */
			job.name = "it's a \"\"\" ''' test\\";
			job.domain = "d'''\"\"\"";
			job.owner = "o\"\"\"'''";
			job.source_table = "db.t'''\"\"\"";
			job.label_column = "l\"\"\"'''\n";
			job.mlflow_experiment_name = "automl/d'''\"\"\"/it's a \"\"\" ''' test\\";
			job.feature_engineering_job_id = (p % 2) ? FE_ID : NULL;
			buf_init(&out, OUT_MAX);
			buf_init(&lit, 1024);
			is_int(dag_render(&cfg, &job, &out), AE_OK, "real template %s/%s/%s: rendered", a, pt, pr);
			if (write_file(script, out.data ? out.data : "", out.len))
				bail("write");
			is_int(py_compile(script), 0, "real template %s/%s/%s: python3 -m py_compile accepts it", a, pt, pr);
			ok(out.data == NULL || strstr(out.data, PSK) == NULL, "real template %s/%s/%s: no secret rendered", a, pt, pr);
			if (out.len > 0) {
				/* A filled-in template must name the DAG by its id. */
				seen++;
				if (py_str_literal(&lit, job.airflow_dag_id))
					bail("literal");
				ok(strstr(out.data, lit.data) != NULL, "real template %s/%s/%s: contains the dag_id", a, pt, pr);
			}
			unlink(script);
			buf_free(&out);
			buf_free(&lit);
		}
	}
	printf("# %zu of the real renderings were non-empty\n", seen);
}

/* ---- dag_publish / dag_unpublish ----------------------------------------- */

static size_t count_entries(const char *dir, const char *prefix)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	if (!d)
		return (size_t)-1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (prefix == NULL || strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void test_publish(void)
{
	char dags[600], file[800], missing[600], longid[300];
	static const char src[] = "from airflow import DAG\n# \xc3\xa9 bytes as given\nx = 1\n";
	static const char src2[] = "x = 2\n";
	struct config cfg;
	struct buf got;
	struct stat st;
	size_t i;
	static const char *const bad_ids[] = {
		"", ".hidden", "..", "../escape", "a/b", "a b", "a\nb", "dag;rm", "dag$x", "caf\xc3\xa9", "/abs",
	};

	path_in(dags, sizeof dags, tmpdir, "dags");
	if (mkdir(dags, 0755) != 0)
		bail("mkdir");
	base_config(&cfg, NULL);
	cfg.dags_dir = dags;

	is_int(dag_publish(&cfg, "automl_abc-1.2", src, sizeof src - 1), AE_OK, "publish: ok");
	path_in(file, sizeof file, dags, "automl_abc-1.2.py");
	buf_init(&got, OUT_MAX);
	ok(read_file(file, &got) == 0 && got.len == sizeof src - 1 && memcmp(got.data, src, got.len) == 0,
			"publish: file has the exact content");
	buf_free(&got);
	ok(stat(file, &st) == 0 && (st.st_mode & 07777) == 0644, "publish: mode 0644");
	is_int((long long)count_entries(dags, NULL), 1, "publish: only the DAG file in the folder, no temp file");

	/* Publishing again replaces the file atomically. */
	is_int(dag_publish(&cfg, "automl_abc-1.2", src2, sizeof src2 - 1), AE_OK, "republish: ok");
	buf_init(&got, OUT_MAX);
	ok(read_file(file, &got) == 0 && got.len == sizeof src2 - 1 && memcmp(got.data, src2, got.len) == 0,
			"republish: new content");
	buf_free(&got);
	is_int((long long)count_entries(dags, NULL), 1, "republish: still one file");

	/* Empty source is allowed. */
	is_int(dag_publish(&cfg, "empty", "", 0), AE_OK, "publish empty source: ok");
	path_in(file, sizeof file, dags, "empty.py");
	ok(stat(file, &st) == 0 && st.st_size == 0, "publish empty source: empty file");
	dag_unpublish(&cfg, "empty");
	ok(!exists(file), "unpublish: file removed");
	dag_unpublish(&cfg, "empty");
	ok(!exists(file), "unpublish of a missing file: harmless");

	/* Bad DAG ids are refused and leave nothing behind. */
	for (i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++)
		is_int(dag_publish(&cfg, bad_ids[i], src, sizeof src - 1), AE_DAG_PUBLISH,
				"publish refuses dag_id %zu", i);
	is_int(dag_publish(&cfg, NULL, src, sizeof src - 1), AE_DAG_PUBLISH, "publish refuses a NULL dag_id");
	memset(longid, 'a', 251);
	longid[251] = '\0';
	is_int(dag_publish(&cfg, longid, src, 1), AE_DAG_PUBLISH, "publish refuses a 251-character dag_id");
	longid[250] = '\0';
	is_int(dag_publish(&cfg, longid, src, 1), AE_OK, "publish accepts a 250-character dag_id");
	dag_unpublish(&cfg, longid);
	is_int((long long)count_entries(dags, NULL), 1, "bad ids: nothing else in the folder");
	path_in(file, sizeof file, tmpdir, "escape.py");
	ok(!exists(file), "bad ids: nothing escaped the folder");

	/* Missing folder, or a file where the folder should be. */
	path_in(missing, sizeof missing, tmpdir, "no-such-dir");
	cfg.dags_dir = missing;
	is_int(dag_publish(&cfg, "automl_x", src, sizeof src - 1), AE_DAG_PUBLISH, "publish into a missing folder: refused");
	ok(!exists(missing), "publish into a missing folder: not created");
	path_in(missing, sizeof missing, tmpdir, "plain-file");
	if (write_file(missing, "x", 1))
		bail("write");
	is_int(dag_publish(&cfg, "automl_x", src, sizeof src - 1), AE_DAG_PUBLISH, "publish into a file: refused");
	unlink(missing);
	cfg.dags_dir = NULL;
	is_int(dag_publish(&cfg, "automl_x", src, sizeof src - 1), AE_DAG_PUBLISH, "publish without a folder: refused");

	/* The rename fails (a directory has the DAG's name): the temp file is removed. */
	cfg.dags_dir = dags;
	path_in(file, sizeof file, dags, "blocked.py");
	if (mkdir(file, 0755) != 0)
		bail("mkdir");
	{
		char inner[900];
		path_in(inner, sizeof inner, file, "keep");
		if (write_file(inner, "k", 1))
			bail("write");
		is_int(dag_publish(&cfg, "blocked", src, sizeof src - 1), AE_DAG_PUBLISH, "failed rename: refused");
		is_int((long long)count_entries(dags, ".blocked"), 0, "failed rename: temp file cleaned up");
		ok(exists(inner), "failed rename: existing entry untouched");
		unlink(inner);
	}
	rmdir(file);
	is_int((long long)count_entries(dags, NULL), 1, "publish: only the published DAG remains");
	dag_unpublish(&cfg, "automl_abc-1.2");
	is_int((long long)count_entries(dags, NULL), 0, "unpublish: folder empty");
	rmdir(dags);
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	const char *t = getenv("TMPDIR");
	int k;

	if (top == NULL || top[0] == '\0')
		bail("top_srcdir is not set (run through make check)");
	if (strchr(top, '\'') != NULL)
		bail("top_srcdir contains a quote");
	k = snprintf(srcdir, sizeof srcdir, "%s", top);
	if (k < 0 || (size_t)k >= sizeof srcdir)
		bail("top_srcdir too long");
	if (t == NULL || t[0] == '\0' || strchr(t, '\'') != NULL)
		t = "/tmp";
	k = snprintf(tmpdir, sizeof tmpdir, "%s/test_dag.XXXXXX", t);
	if (k < 0 || (size_t)k >= sizeof tmpdir || mkdtemp(tmpdir) == NULL)
		bail("cannot make a temporary directory");

	test_literals();
	test_render();
	test_real_templates();
	test_publish();

	rm_rf(tmpdir);
	return done_testing();
}
