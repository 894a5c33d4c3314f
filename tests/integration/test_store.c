/* test_store.c - the store module against a real PostgreSQL (TAP).
 * Needs AUTOML_DATABASE_URL naming a database it may wipe (tests/lib/pg.sh
 * makes a private one). A second raw libpq connection checks and arranges
 * what the store cannot (ties in created_at, held row locks, killed sessions). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "arena.h"
#include "job.h"
#include "store.h"
#include "tap.h"

static PGconn *raw;             /* the test's own connection */
static const char *url;
static struct arena *A;

static void bail(const char *msg)
{
	printf("Bail out! %s\n", msg);
	exit(1);
}

/* Run a constant statement on the raw connection; caller clears. */
static PGresult *rq(const char *sql, int n, const char *const *params)
{
	PGresult *r = PQexecParams(raw, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		printf("# raw statement failed: %s# %s\n", PQresultErrorMessage(r), sql);
		bail("raw statement failed");
	}
	return r;
}

static void rx(const char *sql)
{
	PQclear(rq(sql, 0, NULL));
}

static void rx1(const char *sql, const char *p1)
{
	const char *p[1] = { p1 };

	PQclear(rq(sql, 1, p));
}

/* First column of the first row, copied into the arena; NULL if no row/NULL. */
static const char *rs(const char *sql, int n, const char *const *params)
{
	PGresult *r = rq(sql, n, params);
	const char *v = NULL;

	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = arena_strdup(A, PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static long rl(const char *sql, int n, const char *const *params)
{
	const char *v = rs(sql, n, params);
	char *end = NULL;
	long l;

	if (v == NULL)
		return -999;
	l = strtol(v, &end, 10);
	if (end == v || *end)
		bail("not a number");
	return l;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct store *open_store(void)
{
	struct store *s = store_new(url);

	if (s == NULL)
		bail("store_new");
	return s;
}

static void mkjob(struct job *j, const char *name, const char *domain, const char *owner,
		enum job_status st)
{
	memset(j, 0, sizeof *j);
	j->name = name;
	j->domain = domain;
	j->owner = owner;
	j->source_table = "warehouse.events";
	j->label_column = "label";
	j->problem_type = PT_BINARY_CLASSIFICATION;
	j->algorithm = ALG_LIGHTGBM_CLASSIFIER;
	j->preset = PRESET_BALANCED;
	j->status = st;
	j->sync_age_s = -1;
}

static int ts_seconds_form(const char *s)
{
	/* 2023-11-07T05:31:56Z */
	static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t i;

	if (s == NULL || strlen(s) != sizeof pat - 1)
		return 0;
	for (i = 0; i < sizeof pat - 1; i++)
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return 0;
	return 1;
}

static void reset_schema(void)
{
	rx("DROP TABLE IF EXISTS dispatch_orphans, dispatch_queue, training_jobs, schema_migrations");
}

/* ---------------------------------------------------------------------- */

/* Before any store exists in this process, so that the children own nothing. */
static void test_concurrent_migrate(void)
{
	int i, status, all_ok = 1;
	pid_t kids[4];

	/* Concurrent migrations from scratch: all succeed, applied once. */
	reset_schema();
	fflush(stdout);
	for (i = 0; i < 4; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			struct store *k = store_new(url);
			int f = 0, t = 0;
			enum aerr rc = store_migrate(k, &f, &t);

			store_free(k);
			_exit(rc == AE_OK && t == store_schema_version() ? 0 : 1);
		}
		if (kids[i] < 0)
			bail("fork");
	}
	for (i = 0; i < 4; i++) {
		if (waitpid(kids[i], &status, 0) != kids[i] || !WIFEXITED(status) ||
				WEXITSTATUS(status) != 0)
			all_ok = 0;
	}
	ok(all_ok, "four concurrent migrations all succeed");
	is_int(rl("SELECT count(*) FROM schema_migrations", 0, NULL), store_schema_version(),
			"and each version is recorded once");
}

static void test_migrate(struct store *s)
{
	int from = -1, to = -1;

	reset_schema();
	is_int(store_migrate(s, &from, &to), AE_OK, "migrate on an empty database");
	is_int(from, 0, "from version 0");
	is_int(to, store_schema_version(), "to the newest version");
	ok(store_schema_version() >= 1, "there is at least one migration");
	is_int(store_migrate(s, &from, &to), AE_OK, "migrate again");
	is_int(from, store_schema_version(), "second migrate starts at the newest version");
	is_int(to, store_schema_version(), "and stays there");
	is_int(rl("SELECT count(*) FROM schema_migrations", 0, NULL), store_schema_version(),
			"one schema_migrations row per version");
	is_int(rl("SELECT count(*) FROM pg_indexes WHERE tablename = 'training_jobs'", 0, NULL), 7,
			"primary key, dag id unique, three list indexes, open jobs, DAG retention");
	is_int(rl("SELECT count(*) FROM pg_indexes WHERE tablename = 'training_jobs'"
			" AND indexdef LIKE '%status%'", 0, NULL), 0,
			"no index on status (a trigger's UPDATE stays HOT)");
	is_int(rl("SELECT count(*) FROM pg_indexes WHERE tablename = 'training_jobs'"
			" AND indexdef LIKE '%WHERE (ended_at IS NULL)%'", 0, NULL), 1,
			"partial index on the open jobs");
	is_int(rl("SELECT count(*) FROM pg_indexes WHERE tablename = 'dispatch_queue'", 0, NULL), 2,
			"outbox: primary key and due time");

}

static const char ODD[] = "Zoë \xe2\x9c\x93 \xf0\x9f\x9a\x80 'single' \"double\" \\back\\slash"
	" {brace,comma} $1 %s NULL; DROP TABLE training_jobs; --";

static void test_roundtrip(struct store *s)
{
	struct job in, got, dup;
	static const char id[] = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
	static const char fe[] = "3c90c3cc-0d44-4b50-8888-8dd25736052a";
	const char *p[1] = { id };

	rx("TRUNCATE training_jobs, dispatch_queue, dispatch_orphans");
	mkjob(&in, ODD, "d\xc3\xb6main \"x\"", "alice@example.com", ST_FAILED);
	memcpy(in.job_id, id, sizeof in.job_id);
	in.source_table = "schema.\"Table\"";
	in.label_column = "l'abel";
	in.problem_type = PT_CONTEXTUAL_BANDIT;
	in.algorithm = ALG_VW_CONTEXTUAL_BANDIT;
	in.preset = PRESET_BEST_QUALITY;
	in.rendered_dag = "line 1\nline 2\t'tab'\n\"\"\"doc\"\"\"\n";
	in.mlflow_run_id = "run-\xe2\x9c\x93";
	in.mlflow_experiment_name = "automl/exp";
	in.registered_model_name = "model.name";
	in.airflow_dag_id = "automl_0a1b2c3d";
	in.airflow_dag_url = "http://airflow/dags/automl_0a1b2c3d";
	in.airflow_dag_run_id = "0a1b2c3d/2";
	in.error_message = ODD;
	in.feature_engineering_job_id = fe;
	in.trigger_attempts = 2;
	is_int(store_insert_job(s, A, &in), AE_OK, "insert a job with every field set");
	ok(ts_seconds_form(in.created_at), "insert fills created_at as RFC 3339 seconds (%s)",
			in.created_at ? in.created_at : "null");
	ok(ts_seconds_form(in.updated_at), "insert fills updated_at");
	is_int(store_get_job(s, A, id, &got), AE_OK, "get it back");
	is_str(got.job_id, id, "job_id");
	is_str(got.name, ODD, "name with unicode, quotes, backslashes, SQL");
	is_str(got.domain, "d\xc3\xb6main \"x\"", "domain");
	is_str(got.owner, "alice@example.com", "owner");
	is_str(got.source_table, "schema.\"Table\"", "source_table");
	is_str(got.label_column, "l'abel", "label_column");
	is_int(got.problem_type, PT_CONTEXTUAL_BANDIT, "problem_type");
	is_int(got.algorithm, ALG_VW_CONTEXTUAL_BANDIT, "algorithm");
	is_int(got.preset, PRESET_BEST_QUALITY, "preset");
	is_int(got.status, ST_FAILED, "status");
	is_str(got.created_at, in.created_at, "created_at");
	is_str(got.updated_at, in.updated_at, "updated_at");
	is_str(got.rendered_dag, in.rendered_dag, "rendered_dag");
	is_str(got.mlflow_run_id, in.mlflow_run_id, "mlflow_run_id");
	is_str(got.mlflow_experiment_name, "automl/exp", "mlflow_experiment_name");
	is_str(got.registered_model_name, "model.name", "registered_model_name");
	is_str(got.airflow_dag_id, "automl_0a1b2c3d", "airflow_dag_id");
	is_str(got.airflow_dag_url, in.airflow_dag_url, "airflow_dag_url");
	is_str(got.airflow_dag_run_id, "0a1b2c3d/2", "airflow_dag_run_id");
	is_str(got.error_message, ODD, "error_message");
	is_str(got.feature_engineering_job_id, fe, "feature_engineering_job_id");
	is_int(got.trigger_attempts, 2, "trigger_attempts");
	is_int(got.sync_age_s, -1, "never synced: sync_age_s -1");
	is_str(rs("SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
			" FROM training_jobs WHERE job_id = $1", 1, p), got.created_at,
			"created_at is the row's UTC time");

	/* Every optional field NULL, id chosen by the database. */
	mkjob(&in, "plain", "d", "bob", ST_READY);
	in.label_column = NULL;
	is_int(store_insert_job(s, A, &in), AE_OK, "insert with NULL optional fields and no id");
	ok(uuid_valid(in.job_id), "the database picked a uuid (%s)", in.job_id);
	is_int(store_get_job(s, A, in.job_id, &got), AE_OK, "get it");
	is_str(got.label_column, "label", "label_column defaults to label");
	ok(got.rendered_dag == NULL && got.mlflow_run_id == NULL &&
			got.mlflow_experiment_name == NULL && got.registered_model_name == NULL &&
			got.airflow_dag_id == NULL && got.airflow_dag_url == NULL &&
			got.airflow_dag_run_id == NULL && got.error_message == NULL &&
			got.feature_engineering_job_id == NULL, "NULL fields come back as NULL");
	is_int(got.trigger_attempts, 0, "trigger_attempts 0");
	is_int(got.status, ST_READY, "status ready");

	mkjob(&dup, "dup", "d", "bob", ST_READY);
	memcpy(dup.job_id, id, sizeof dup.job_id);
	is_int(store_insert_job(s, A, &dup), AE_CONFLICT, "duplicate job_id: AE_CONFLICT");
	mkjob(&dup, "dup", "d", "bob", ST_READY);
	dup.airflow_dag_id = "automl_0a1b2c3d";
	is_int(store_insert_job(s, A, &dup), AE_CONFLICT, "duplicate airflow_dag_id: AE_CONFLICT");
	mkjob(&dup, "bad", "d", "bob", ST_READY);
	dup.algorithm = (enum algorithm)99;
	is_int(store_insert_job(s, A, &dup), AE_INTERNAL, "out-of-range enum refused");
	is_int(store_get_job(s, A, "11111111-2222-4333-8444-555555555555", &got), AE_NOT_FOUND,
			"unknown id: AE_NOT_FOUND");
	is_int(store_get_job(s, A, "not-a-uuid'; --", &got), AE_NOT_FOUND,
			"malformed id: AE_NOT_FOUND");
	is_int(store_ping(s), AE_OK, "ping after errors: the connection is fine");
	is_int(rl("SELECT count(*) FROM training_jobs", 0, NULL), 2, "exactly two rows stored");
}

/* Page through with the keyed cursor; ids into ids[], returns the count. */
static size_t page_all(struct store *s, struct job_filter *f, const char **ids, size_t max,
		int *pages, int insert_midway)
{
	size_t total = 0, i, n, take;
	struct job *rows, extra;
	const char **keys;
	enum aerr rc;

	*pages = 0;
	f->after_created_at = NULL;
	f->after_job_id = NULL;
	for (;;) {
		rc = store_list_jobs_keyed(s, A, f, &rows, &keys, &n);
		if (rc) {
			printf("# list failed: %d\n", rc);
			return 0;
		}
		(*pages)++;
		take = n > (size_t)f->limit ? (size_t)f->limit : n;
		for (i = 0; i < take && total < max; i++)
			ids[total++] = arena_strdup(A, rows[i].job_id);
		if (n <= (size_t)f->limit)
			break;
		f->after_created_at = keys[take - 1];
		f->after_job_id = arena_strdup(A, rows[take - 1].job_id);
		if (insert_midway && *pages == 1) {
			mkjob(&extra, "late", "list", "late-owner", ST_READY);
			if (store_insert_job(s, A, &extra))
				bail("insert midway");
		}
		if (*pages > 100)
			break;
	}
	f->after_created_at = NULL;
	f->after_job_id = NULL;
	return total;
}

static void test_list(struct store *s)
{
	static const char *const domains[] = { "list", "list", "other" };
	static const char *const owners[] = { "ann", "ben" };
	struct job j, *rows;
	struct job_filter f;
	const char *ids[64], *want[64];
	size_t n, i, k;
	int pages, same, dup;
	PGresult *r;

	rx("TRUNCATE training_jobs, dispatch_queue, dispatch_orphans");
	for (i = 0; i < 12; i++) {
		mkjob(&j, "L", domains[i % 3], owners[i % 2], i % 4 == 0 ? ST_RUNNING : ST_READY);
		if (i % 5 == 0) {
			j.problem_type = PT_REGRESSION;
			j.algorithm = ALG_VW_REGRESSOR;
		}
		if (store_insert_job(s, A, &j))
			bail("insert for list");
	}
	/* Ties: six rows share one created_at, three more sit later in the same second. */
	rx("UPDATE training_jobs SET created_at = '2024-05-01 10:00:00.250+00'"
			" WHERE job_id IN (SELECT job_id FROM training_jobs ORDER BY job_id LIMIT 6)");
	rx("UPDATE training_jobs SET created_at = '2024-05-01 10:00:00.750+00'"
			" WHERE job_id IN (SELECT job_id FROM training_jobs ORDER BY job_id DESC LIMIT 3)");
	r = rq("SELECT job_id::text FROM training_jobs ORDER BY created_at DESC, job_id DESC", 0, NULL);
	for (i = 0; i < (size_t)PQntuples(r) && i < 64; i++)
		want[i] = arena_strdup(A, PQgetvalue(r, (int)i, 0));
	PQclear(r);

	memset(&f, 0, sizeof f);
	f.status = f.problem_type = f.algorithm = -1;
	f.limit = 200;
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_OK, "list everything");
	is_int(n, 12, "12 rows");
	same = n == 12;
	for (i = 0; same && i < n; i++)
		same = strcmp(rows[i].job_id, want[i]) == 0;
	ok(same, "newest first, ties by job_id descending");

	f.limit = 2;
	n = page_all(s, &f, ids, 64, &pages, 0);
	is_int(n, 12, "paging by 2 sees all 12 rows");
	is_int(pages, 6, "in 6 pages");
	same = n == 12;
	for (i = 0; same && i < n; i++)
		same = strcmp(ids[i], want[i]) == 0;
	ok(same, "in the same order, across ties within one second");

	f.limit = 5;
	n = page_all(s, &f, ids, 64, &pages, 1);
	is_int(n, 12, "a row inserted while paging does not show up in later pages");
	dup = 0;
	for (i = 0; i < n; i++)
		for (k = i + 1; k < n; k++)
			dup |= strcmp(ids[i], ids[k]) == 0;
	ok(!dup, "no row twice");
	rx("DELETE FROM training_jobs WHERE owner = 'late-owner'");

	f.limit = 1;
	f.domain = "list";
	n = page_all(s, &f, ids, 64, &pages, 0);
	is_int(n, 8, "domain filter, paged");
	f.domain = NULL;
	f.owner = "ben";
	f.limit = 200;
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_OK, "owner filter");
	is_int(n, 6, "6 of ben's");
	for (i = 0, same = 1; i < n; i++)
		same &= strcmp(rows[i].owner, "ben") == 0;
	ok(same, "only ben's");
	f.owner = NULL;
	f.status = ST_RUNNING;
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_OK, "status filter");
	is_int(n, 3, "3 running");
	f.status = -1;
	f.problem_type = PT_REGRESSION;
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_OK, "problem_type filter");
	is_int(n, 3, "3 regression");
	f.problem_type = -1;
	f.algorithm = ALG_VW_REGRESSOR;
	f.owner = "ann";
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_OK, "algorithm + owner filter");
	is_int(n, 2, "2 of ann's are vw_regressor (rows 0 and 10)");
	f.algorithm = -1;
	f.owner = NULL;
	f.limit = 3;
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_OK, "limit 3");
	is_int(n, 4, "returns limit+1 rows to show there is more");

	f.after_created_at = "2024-05-01T10:00:00Z";
	f.after_job_id = NULL;
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_VALIDATION, "half a cursor: AE_VALIDATION");
	f.after_job_id = "nope";
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_VALIDATION, "cursor id not a uuid");
	f.after_job_id = want[0];
	f.after_created_at = "2024-13-45T10:00:00.1Z";
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_VALIDATION, "cursor time not a time");
	f.after_created_at = "yesterday";
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_VALIDATION, "cursor time malformed");
	f.after_created_at = NULL;
	f.after_job_id = NULL;
	f.limit = 0;
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_INTERNAL, "limit 0 refused");
	f.limit = 201;
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_INTERNAL, "limit 201 refused");
	f.limit = 10;
	f.status = ST__MAX;
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_INTERNAL, "status out of range refused");
	is_int(store_ping(s), AE_OK, "still connected");
}

static void test_visibility(struct store *s)
{
	static const char *const tricky[] = {
		"a,b", "{x}", "q\"uote", "back\\slash", "NULL", " spaced ", "\xc3\xbcn\xc3\xaf", "", "a"
	};
	const size_t ntricky = sizeof tricky / sizeof tricky[0];
	struct job j, *rows;
	struct job_filter f;
	size_t i, n;
	int all1 = 1;

	rx("TRUNCATE training_jobs, dispatch_queue, dispatch_orphans");
	for (i = 0; i < ntricky; i++) {
		mkjob(&j, "V", tricky[i], "o", ST_READY);
		if (store_insert_job(s, A, &j))
			bail("insert tricky");
	}
	mkjob(&j, "V", "b", "o", ST_READY);
	if (store_insert_job(s, A, &j))
		bail("insert b");
	mkjob(&j, "V", "null", "o", ST_READY);
	if (store_insert_job(s, A, &j))
		bail("insert null");

	memset(&f, 0, sizeof f);
	f.status = f.problem_type = f.algorithm = -1;
	f.limit = 200;
	for (i = 0; i < ntricky; i++) {
		f.domains = &tricky[i];
		f.ndomains = 1;
		if (store_list_jobs(s, A, &f, &rows, &n) || n != 1 ||
				strcmp(rows[0].domain, tricky[i]) != 0) {
			printf("# domain [%s]: %zu rows\n", tricky[i], n);
			all1 = 0;
		}
	}
	ok(all1, "each tricky domain alone sees exactly its own job");
	f.domains = tricky;
	f.ndomains = 2;
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_OK, "two domains");
	is_int(n, 2, "\"a,b\" and \"{x}\" only, not a or b");
	f.domains = tricky;
	f.ndomains = 0;
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_OK, "no domains");
	is_int(n, 0, "sees nothing");
	f.domains = NULL;
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_OK, "admin");
	is_int(n, ntricky + 2, "sees all");
	f.domains = &tricky[4];
	f.ndomains = 1;
	f.domain = "a";
	is_int(store_list_jobs(s, A, &f, &rows, &n), AE_OK, "domain filter outside visibility");
	is_int(n, 0, "sees nothing");
}

static void test_get_jobs(struct store *s)
{
	struct job j1, j2, *rows;
	const char *ids[4];
	size_t n;

	rx("TRUNCATE training_jobs, dispatch_queue, dispatch_orphans");
	mkjob(&j1, "G1", "g", "o", ST_READY);
	mkjob(&j2, "G2", "g", "o", ST_QUEUED);
	if (store_insert_job(s, A, &j1) || store_insert_job(s, A, &j2))
		bail("insert get_jobs");
	ids[0] = j2.job_id;
	ids[1] = "99999999-9999-4999-8999-999999999999";
	ids[2] = j1.job_id;
	ids[3] = j2.job_id;
	is_int(store_get_jobs(s, A, ids, 4, &rows, &n), AE_OK, "get_jobs");
	is_int(n, 2, "unknown absent, duplicate once");
	ok(n == 2 && strcmp(rows[0].job_id, j2.job_id) == 0 && strcmp(rows[1].job_id, j1.job_id) == 0,
			"in the order asked");
	is_int(store_get_jobs(s, A, ids, 0, &rows, &n), AE_OK, "no ids");
	is_int(n, 0, "no rows");
	ids[1] = "x\",\"y";
	is_int(store_get_jobs(s, A, ids, 2, &rows, &n), AE_VALIDATION, "a non-uuid id: AE_VALIDATION");
}

#define PFX(j) job_run_id_prefix(A, (j).job_id)

static void test_trigger(struct store *s, struct store *s2)
{
	struct job j, got, other;
	const char *p[1], *doms[2] = { "elsewhere", "c" };
	struct dispatch_item *items;
	size_t n;
	long ms;

	rx("TRUNCATE training_jobs, dispatch_queue, dispatch_orphans");
	mkjob(&j, "C", "c", "o", ST_FAILED);
	j.error_message = "old error";
	j.mlflow_run_id = "old-run";
	j.trigger_attempts = 2;
	if (store_insert_job(s, A, &j))
		bail("insert trigger");
	p[0] = j.job_id;
	rx1("UPDATE training_jobs SET updated_at = '2020-01-01Z', last_synced_at = now(),"
			" ended_at = now() WHERE job_id = $1", j.job_id);
	is_int(store_next_due_ms(s, &ms), AE_OK, "next_due on an empty outbox");
	is_int(ms, -1, "empty outbox: -1");

	is_int(store_trigger(s, A, j.job_id, doms, 1, PFX(j), 0, &got), AE_NOT_FOUND,
			"another domain's job: AE_NOT_FOUND");
	is_str(rs("SELECT status FROM training_jobs WHERE job_id = $1", 1, p), "failed", "and unchanged");
	is_int(store_trigger(s, A, j.job_id, doms, 2, PFX(j), 60000, &got), AE_OK, "trigger");
	is_int(got.status, ST_QUEUED, "queued");
	is_int(got.trigger_attempts, 3, "next attempt");
	ok(got.airflow_dag_run_id && strcmp(got.airflow_dag_run_id, job_run_id(A, &j, 3)) == 0,
			"run id of attempt 3 (%s)", got.airflow_dag_run_id ? got.airflow_dag_run_id : "null");
	ok(got.error_message == NULL && got.mlflow_run_id == NULL && got.dispatched_at == NULL,
			"error, MLflow run and dispatched_at cleared");
	is_int(got.sync_age_s, -1, "last_synced_at cleared");
	ok(strcmp(got.updated_at, "2020-01-01T00:00:00Z") != 0, "updated_at moved");
	is_str(rs("SELECT (ended_at IS NULL)::text FROM training_jobs WHERE job_id = $1", 1, p), "true",
			"ended_at cleared");
	is_str(rs("SELECT attempt || ' ' || run_id FROM dispatch_queue WHERE job_id = $1", 1, p),
			arena_printf(A, "3 %s", got.airflow_dag_run_id), "outbox row of the attempt, same commit");
	is_int(store_next_due_ms(s, &ms), AE_OK, "next_due");
	ok(ms > 50000 && ms <= 60000, "due after the grace (%ld ms)", ms);
	is_int(store_claim_due(s2, A, 10, 1000, &items, &n), AE_OK, "claim_due");
	is_int(n, 0, "nothing due during the grace");
	is_int(store_trigger(s2, A, j.job_id, NULL, 0, PFX(j), 0, &other), AE_CONFLICT,
			"trigger while queued: AE_CONFLICT");
	is_int(other.status, ST_QUEUED, "with the status that forbade it");
	is_int(store_trigger(s, A, "11111111-2222-4333-8444-555555555555", NULL, 0, PFX(j), 0, &got),
			AE_NOT_FOUND, "unknown job: AE_NOT_FOUND");
	is_int(store_trigger(s, A, "not-a-uuid", NULL, 0, PFX(j), 0, &got), AE_NOT_FOUND,
			"not a uuid: AE_NOT_FOUND");

	/* HOT: a trigger changes no indexed column, so its UPDATE needs no new index entries. */
	mkjob(&j, "H", "c", "o", ST_READY);
	if (store_insert_job(s, A, &j))
		bail("insert hot");
	{
		/* A session's statistics reach pg_stat_user_tables when it ends. */
		static const char HOT[] = "SELECT n_tup_hot_upd FROM pg_stat_user_tables"
			" WHERE relname = 'training_jobs'";
		struct store *s3 = open_store();
		long hot0 = rl(HOT, 0, NULL), hot1 = hot0;
		int i;

		is_int(store_trigger(s3, A, j.job_id, NULL, 0, PFX(j), 0, &got), AE_OK,
				"trigger a ready job");
		store_free(s3);
		for (i = 0; i < 100 && hot1 == hot0; i++) {
			usleep(50000);
			hot1 = rl(HOT, 0, NULL);
		}
		is_int(hot1 - hot0, 1, "the trigger's UPDATE was a HOT update");
	}

	/* claim_due: leases rows, two sessions never take the same one. */
	is_int(store_next_due_ms(s, &ms), AE_OK, "next_due");
	is_int(ms, 0, "the new row is due now");
	is_int(store_claim_due(s, A, 10, 60000, &items, &n), AE_OK, "claim_due");
	ok(n == 1 && strcmp(items[0].job_id, j.job_id) == 0, "the due row (%zu)", n);
	ok(n == 1 && items[0].attempt == 1 && items[0].tries == 1 && items[0].last_error == NULL,
			"attempt 1, first try");
	is_int(store_claim_due(s2, A, 10, 60000, &items, &n), AE_OK, "claim_due elsewhere");
	is_int(n, 0, "leased rows are not taken twice");
	is_int(store_dispatch_retry(s, j.job_id, 1, 0, "DAG not parsed", 1), AE_OK, "retry now");
	is_int(store_claim_due(s2, A, 10, 60000, &items, &n), AE_OK, "claim_due again");
	ok(n == 1 && items[0].tries == 2 && items[0].last_not_found &&
			items[0].last_error && strcmp(items[0].last_error, "DAG not parsed") == 0,
			"second try sees the first one's reason");
	is_int(store_mark_dispatched(s, A, j.job_id, 2, &got), AE_CONFLICT,
			"mark_dispatched of another attempt: AE_CONFLICT");
	is_int(store_mark_dispatched(s, A, j.job_id, 1, &got), AE_OK, "mark_dispatched");
	ok(got.dispatched_at != NULL && got.status == ST_QUEUED, "dispatched_at set, still queued");
	p[0] = j.job_id;
	is_int(rl("SELECT count(*) FROM dispatch_queue WHERE job_id = $1", 1, p), 0, "row gone");
	is_int(store_mark_dispatched(s, A, j.job_id, 1, &got), AE_CONFLICT, "twice: AE_CONFLICT");

	/* give_up: only the queued, undispatched attempt. */
	mkjob(&j, "G", "c", "o", ST_READY);
	if (store_insert_job(s, A, &j))
		bail("insert give up");
	p[0] = j.job_id;
	is_int(store_trigger(s, A, j.job_id, NULL, 0, PFX(j), 0, &got), AE_OK, "trigger");
	is_int(store_dispatch_give_up(s, A, j.job_id, 2, "x", &got), AE_CONFLICT,
			"give_up of another attempt: AE_CONFLICT");
	is_int(store_dispatch_give_up(s, A, j.job_id, 1, "Airflow could not load it", &got), AE_OK,
			"give_up");
	ok(got.status == ST_FAILED && got.error_message &&
			strcmp(got.error_message, "Airflow could not load it") == 0, "failed, saying why");
	is_int(rl("SELECT count(*) FROM dispatch_queue WHERE job_id = $1", 1, p), 0, "row gone");
	is_int(store_trigger(s, A, j.job_id, NULL, 0, PFX(j), 0, &got), AE_OK, "a retry");
	is_int(got.trigger_attempts, 2, "attempt 2");
	{
		struct orphan *o;
		size_t no, k, found = 0;

		is_int(rl("SELECT count(*) FROM dispatch_orphans WHERE job_id = $1 AND attempt = 1", 1, p),
				1, "the retry records attempt 1's run as a possible orphan, same statement");
		is_int(store_claim_orphans(s2, A, 10, 60000, &o, &no), AE_OK, "claim_orphans");
		for (k = 0; k < no; k++)
			found += strcmp(o[k].job_id, j.job_id) == 0 && o[k].attempt == 1 && o[k].tries == 1;
		is_int(found, 1, "the orphan of attempt 1 among them (%zu), first look", no);
		is_int(store_claim_orphans(s, A, 10, 60000, &o, &no), AE_OK, "claim_orphans elsewhere");
		is_int(no, 0, "leased: not taken twice");
		is_int(store_orphan_done(s, j.job_id, 1), AE_OK, "orphan_done");
		is_int(rl("SELECT count(*) FROM dispatch_orphans WHERE job_id = $1", 1, p), 0, "row gone");
	}
	is_int(store_dequeue(s, j.job_id, 1), AE_OK, "dequeue of an old attempt");
	is_int(rl("SELECT count(*) FROM dispatch_queue WHERE job_id = $1", 1, p), 1,
			"leaves the current attempt's row");
	is_int(store_begin(s), AE_OK, "no transaction was left open");
	is_int(store_trigger(s, A, j.job_id, NULL, 0, PFX(j), 0, &got), AE_INTERNAL,
			"trigger inside a transaction refused");
	store_rollback(s);
}

static void test_listen(struct store *s, struct store *s2)
{
	struct job j, got;
	double t0;

	rx("TRUNCATE training_jobs, dispatch_queue, dispatch_orphans");
	is_int(store_listen(s), AE_OK, "listen");
	t0 = now_s();
	is_int(store_wait(s, 300), 0, "no notification: timeout");
	ok(now_s() - t0 >= 0.25, "after the timeout");
	mkjob(&j, "N", "n", "o", ST_READY);
	if (store_insert_job(s2, A, &j))
		bail("insert listen");
	is_int(store_trigger(s2, A, j.job_id, NULL, 0, PFX(j), 0, &got), AE_OK, "trigger elsewhere");
	t0 = now_s();
	is_int(store_wait(s, 5000), 1, "the trigger's NOTIFY wakes the listener");
	ok(now_s() - t0 < 2.0, "at once");
	is_int(store_wait(s, 100), 0, "and it is consumed");
	/* create's enqueue notifies too, on commit only */
	mkjob(&j, "N2", "n", "o", ST_QUEUED);
	is_int(store_begin(s2), AE_OK, "begin");
	if (store_insert_job(s2, A, &j))
		bail("insert listen 2");
	is_int(store_enqueue(s2, j.job_id, 1, "r-1", 0), AE_OK, "enqueue");
	is_int(store_wait(s, 200), 0, "nothing before the commit");
	is_int(store_commit(s2), AE_OK, "commit");
	is_int(store_wait(s, 5000), 1, "notified on commit");

	/* The server ends the listening session: the reconnect listens again. */
	rx("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'automl'"
			" AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'");
	usleep(100000);
	(void)store_wait(s, 50);            /* sees the connection gone */
	(void)store_ping(s);                /* the next statement fails ... */
	is_int(store_ping(s), AE_OK, "... and the one after reconnects");
	mkjob(&j, "N3", "n", "o", ST_READY);
	if (store_insert_job(s2, A, &j))
		bail("insert listen 3");
	is_int(store_trigger(s2, A, j.job_id, NULL, 0, PFX(j), 0, &got), AE_OK, "trigger elsewhere");
	is_int(store_wait(s, 5000), 1, "a reconnected store still hears the NOTIFY");
}

static void test_retire(struct store *s, struct store *s2)
{
	struct job j, got, *rows;
	size_t n;

	rx("TRUNCATE training_jobs, dispatch_queue, dispatch_orphans");
	mkjob(&j, "T", "t", "o", ST_COMPLETE);
	if (store_insert_job(s, A, &j))
		bail("insert retire");
	is_int(store_list_retirable(s, A, 3600, 10, &rows, &n), AE_OK, "list_retirable");
	is_int(n, 0, "an insert has no ended_at");
	rx1("UPDATE training_jobs SET ended_at = now() - interval '2 hours' WHERE job_id = $1", j.job_id);
	is_int(store_list_retirable(s, A, 3600, 10, &rows, &n), AE_OK, "list_retirable");
	is_int(n, 1, "ended two hours ago, retention one hour");
	is_int(store_list_retirable(s, A, 86400, 10, &rows, &n), AE_OK, "list_retirable");
	is_int(n, 0, "retention one day: not yet");
	is_int(store_begin(s), AE_OK, "begin");
	is_int(store_lock_retirable(s, j.job_id, 3600), AE_OK, "lock");
	is_int(store_begin(s2), AE_OK, "begin elsewhere");
	is_int(store_lock_retirable(s2, j.job_id, 3600), AE_NOT_FOUND, "held: skipped, not waited for");
	store_rollback(s2);
	is_int(store_mark_retired(s, j.job_id), AE_OK, "mark retired");
	is_int(store_commit(s), AE_OK, "commit");
	is_int(store_get_job(s, A, j.job_id, &got), AE_OK, "get");
	ok(got.dag_retired, "dag_retired");
	is_int(store_list_retirable(s, A, 3600, 10, &rows, &n), AE_OK, "list_retirable");
	is_int(n, 0, "retired once");
	is_int(store_dag_republished(s, j.job_id), AE_OK, "republished");
	is_int(store_get_job(s, A, j.job_id, &got), AE_OK, "get");
	ok(!got.dag_retired, "not retired any more");
}

static void test_write_back(struct store *s)
{
	struct job j, got;
	const char *p[1];

	rx("TRUNCATE training_jobs, dispatch_queue, dispatch_orphans");
	mkjob(&j, "W", "w", "o", ST_QUEUED);
	j.airflow_dag_run_id = "run-1";
	j.error_message = "keep me";
	if (store_insert_job(s, A, &j))
		bail("insert wb");
	p[0] = j.job_id;
	is_int(store_write_back(s, A, j.job_id, ST_RUNNING, "run-1", NULL, NULL, NULL, &got), AE_OK,
			"queued -> running for the current run");
	is_int(got.status, ST_RUNNING, "running");
	is_str(got.error_message, "keep me", "NULL field kept");
	is_int(store_write_back(s, A, j.job_id, ST_RUNNING, NULL, "m-1", NULL, NULL, &got), AE_OK,
			"running -> running, no run id given");
	is_str(got.mlflow_run_id, "m-1", "mlflow_run_id set");
	is_int(store_write_back(s, A, j.job_id, ST_COMPLETE, "run-0", NULL, NULL, NULL, &got),
			AE_CONFLICT, "write-back for an older run: AE_CONFLICT");
	is_str(rs("SELECT status FROM training_jobs WHERE job_id = $1", 1, p), "running",
			"and nothing changed");
	is_int(store_write_back(s, A, j.job_id, ST_COMPLETE, "run-1", NULL, "reg.model", ODD, &got),
			AE_OK, "running -> complete");
	is_int(got.status, ST_COMPLETE, "complete");
	is_str(got.mlflow_run_id, "m-1", "mlflow_run_id kept");
	is_str(got.registered_model_name, "reg.model", "registered_model_name set");
	is_str(got.error_message, ODD, "error_message set");
	is_int(store_write_back(s, A, j.job_id, ST_RUNNING, NULL, NULL, NULL, NULL, &got),
			AE_CONFLICT, "complete -> running: AE_CONFLICT");
	is_int(store_write_back(s, A, j.job_id, ST_QUEUED, NULL, NULL, NULL, NULL, &got),
			AE_CONFLICT, "to queued: AE_CONFLICT");
	is_int(store_write_back(s, A, "11111111-2222-4333-8444-555555555555", ST_RUNNING, NULL,
			NULL, NULL, NULL, &got), AE_NOT_FOUND, "unknown job: AE_NOT_FOUND");
	mkjob(&j, "W2", "w", "o", ST_READY);
	if (store_insert_job(s, A, &j))
		bail("insert wb2");
	is_int(store_write_back(s, A, j.job_id, ST_RUNNING, NULL, NULL, NULL, NULL, &got),
			AE_CONFLICT, "ready -> running: AE_CONFLICT");
	is_int(store_write_back(s, A, j.job_id, ST__MAX, NULL, NULL, NULL, NULL, &got),
			AE_INTERNAL, "out-of-range status refused");
}

static void test_reconcile(struct store *s)
{
	struct job j, got, *rows;
	const char *p[1], *upd0, *upd1;
	size_t n;
	static const char UPD[] = "SELECT to_char(updated_at AT TIME ZONE 'UTC',"
		" 'YYYY-MM-DD HH24:MI:SS.US') FROM training_jobs WHERE job_id = $1";

	rx("TRUNCATE training_jobs, dispatch_queue, dispatch_orphans");
	mkjob(&j, "R", "r", "o", ST_QUEUED);
	j.airflow_dag_run_id = "run-1";
	if (store_insert_job(s, A, &j))
		bail("insert reconcile");
	p[0] = j.job_id;
	rx1("UPDATE training_jobs SET updated_at = '2021-01-01Z' WHERE job_id = $1", j.job_id);
	upd0 = rs(UPD, 1, p);
	is_int(store_reconcile(s, A, j.job_id, "run-0", ST_QUEUED, ST_FAILED, NULL, "x", &got), AE_CONFLICT,
			"another run id: AE_CONFLICT");
	is_str(rs("SELECT status FROM training_jobs WHERE job_id = $1", 1, p), "queued", "unchanged");
	is_int(store_reconcile(s, A, j.job_id, "run-1", ST_RUNNING, ST_RUNNING, NULL, NULL, &got),
			AE_CONFLICT, "the job is not in the status the caller read: AE_CONFLICT");
	is_int(store_reconcile(s, A, j.job_id, "run-1", ST_QUEUED, ST_QUEUED, NULL, NULL, &got), AE_OK,
			"same status: just a stamp");
	ok(got.sync_age_s >= 0 && got.sync_age_s < 5, "sync_age_s now small (%ld)", got.sync_age_s);
	is_str(rs(UPD, 1, p), upd0, "updated_at untouched by a stamp");
	is_int(store_reconcile(s, A, j.job_id, "run-1", ST_QUEUED, ST_RUNNING, "m-7", NULL, &got), AE_OK,
			"queued -> running");
	is_int(got.status, ST_RUNNING, "running");
	is_str(got.mlflow_run_id, "m-7", "mlflow_run_id recorded");
	upd1 = rs(UPD, 1, p);
	ok(upd1 && upd0 && strcmp(upd1, upd0) != 0, "updated_at moved on a change");
	is_int(store_list_active(s, A, -1, 0, &rows, &n), AE_OK, "list_active");
	is_int(n, 1, "one active job");
	is_int(store_list_active(s, A, 3600, 0, &rows, &n), AE_OK, "list_active, stale for an hour");
	is_int(n, 0, "just synced: not stale");
	is_int(store_reconcile(s, A, j.job_id, "run-1", ST_QUEUED, ST_FAILED, NULL, "x", &got),
			AE_CONFLICT, "a reconcile that read queued cannot overwrite running");
	is_int(store_reconcile(s, A, j.job_id, "run-1", ST_RUNNING, ST_FAILED, NULL, "task failed", &got),
			AE_OK, "running -> failed");
	is_str(got.error_message, "task failed", "error recorded");
	is_str(rs("SELECT (ended_at IS NOT NULL)::text FROM training_jobs WHERE job_id = $1", 1, p),
			"true", "ended_at set");
	is_int(store_reconcile(s, A, j.job_id, "run-1", ST_FAILED, ST_FAILED, NULL, NULL, &got),
			AE_CONFLICT, "terminal job: AE_CONFLICT");
	is_int(store_list_active(s, A, -1, 0, &rows, &n), AE_OK, "list_active");
	is_int(n, 0, "no active job left");
	is_int(store_touch_sync(s, j.job_id, "run-1"), AE_OK, "touch_sync");
}

static void test_failures(struct store *s, struct store *s2)
{
	struct job j, got;
	const char *p[1];
	struct store *bad;
	enum aerr rc = AE_OK;
	long n;
	int consistent = 1;

	rx("TRUNCATE training_jobs, dispatch_queue, dispatch_orphans");
	mkjob(&j, "F", "f", "o", ST_READY);
	if (store_insert_job(s, A, &j))
		bail("insert failures");
	p[0] = j.job_id;

	store_fail_after(1);
	is_int(store_get_job(s, A, j.job_id, &got), AE_DB_UNAVAILABLE, "fail_after(1): unavailable");
	is_int(store_get_job(s, A, j.job_id, &got), AE_OK, "the next call reconnects");

	/* The connection dies inside a transaction: nothing runs in autocommit after it. */
	is_int(store_begin(s), AE_OK, "begin");
	store_fail_after(1);
	mkjob(&got, "lost", "f", "o", ST_READY);
	is_int(store_insert_job(s, A, &got), AE_DB_UNAVAILABLE, "insert fails in the transaction");
	mkjob(&got, "lost2", "f", "o", ST_READY);
	is_int(store_insert_job(s, A, &got), AE_DB_UNAVAILABLE, "later statements fail too");
	ok(store_commit(s) != AE_OK, "commit fails");
	store_rollback(s);
	is_int(rl("SELECT count(*) FROM training_jobs WHERE name LIKE 'lost%'", 0, NULL), 0,
			"nothing half-written");
	is_int(store_ping(s), AE_OK, "after rollback the store reconnects");

	/* Fail the trigger's one statement: the job is either exactly as before
	 * or queued with its outbox row, never in between. */
	for (n = 1; n < 4; n++) {
		rx1("DELETE FROM dispatch_queue WHERE job_id = $1", j.job_id);
		rx1("UPDATE training_jobs SET status = 'ready', trigger_attempts = 0,"
				" airflow_dag_run_id = NULL WHERE job_id = $1", j.job_id);
		store_fail_after(n);
		rc = store_trigger(s, A, j.job_id, NULL, 0, job_run_id_prefix(A, j.job_id), 0, &got);
		store_fail_after(0);
		if (rc == AE_OK) {
			consistent &= strcmp(rs("SELECT status || trigger_attempts || (SELECT count(*)"
					" FROM dispatch_queue q WHERE q.job_id = t.job_id) FROM training_jobs t"
					" WHERE job_id = $1", 1, p), "queued11") == 0;
			break;
		}
		consistent &= rc == AE_DB_UNAVAILABLE;
		consistent &= strcmp(rs("SELECT status || trigger_attempts || (SELECT count(*)"
				" FROM dispatch_queue q WHERE q.job_id = t.job_id) FROM training_jobs t"
				" WHERE job_id = $1", 1, p), "ready00") == 0;
	}
	ok(consistent, "failing statement %ld of the trigger never leaves it half-done", n);
	is_int(n, 2, "the trigger is one statement (one round trip, one commit)");

	/* A statement that waits longer than statement_timeout. */
	store_set_timeout_ms(s2, 300);
	store_fail_after(1);
	(void)store_ping(s2);   /* drop the connection so the new timeout applies */
	rx("BEGIN");
	rx1("SELECT 1 FROM training_jobs WHERE job_id = $1 FOR UPDATE", j.job_id);
	is_int(store_write_back(s2, A, j.job_id, ST_RUNNING, NULL, NULL, NULL, NULL, &got),
			AE_DB_TIMEOUT, "a statement over statement_timeout: AE_DB_TIMEOUT");
	rx("ROLLBACK");
	is_int(store_write_back(s2, A, j.job_id, ST_RUNNING, NULL, NULL, NULL, NULL, &got), AE_OK,
			"and the connection is usable afterwards");

	/* The server ends our session: the next statement fails, the one after reconnects. */
	ok(rl("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'automl'", 0, NULL) >= 2,
			"sessions are named automl");
	rx("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
			" WHERE application_name = 'automl' AND pid <> pg_backend_pid()");
	usleep(100000);
	is_int(store_get_job(s, A, j.job_id, &got), AE_DB_UNAVAILABLE, "terminated session: unavailable");
	is_int(store_get_job(s, A, j.job_id, &got), AE_OK, "then PQreset brings it back");

	bad = store_new("host=/nonexistent-dir port=1 dbname=automl connect_timeout=2");
	if (bad == NULL)
		bail("store_new");
	is_int(store_ensure(bad), AE_DB_UNAVAILABLE, "no server: AE_DB_UNAVAILABLE");
	is_int(store_get_job(bad, A, j.job_id, &got), AE_DB_UNAVAILABLE, "statements too");
	is_int(store_ping(bad), AE_DB_UNAVAILABLE, "ping too");
	store_free(bad);
}

int main(void)
{
	struct store *s, *s2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	url = getenv("AUTOML_DATABASE_URL");
	if (url == NULL || *url == '\0')
		bail("AUTOML_DATABASE_URL is not set (start a private cluster with tests/lib/pg.sh)");
	raw = PQconnectdb(url);
	if (PQstatus(raw) != CONNECTION_OK) {
		printf("# %s", PQerrorMessage(raw));
		bail("cannot connect to AUTOML_DATABASE_URL");
	}
	PQclear(PQexec(raw, "SET client_min_messages = warning"));
	A = arena_new();
	if (A == NULL)
		bail("arena");
	test_concurrent_migrate();
	s = open_store();
	s2 = open_store();

	test_migrate(s);
	test_roundtrip(s);
	test_list(s);
	test_visibility(s);
	test_get_jobs(s);
	test_trigger(s, s2);
	test_listen(s, s2);
	test_retire(s, s2);
	test_write_back(s);
	test_reconcile(s);
	test_failures(s, s2);

	store_free(s);
	store_free(s2);
	arena_free(A);
	PQfinish(raw);
	return done_testing();
}
