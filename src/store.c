/* store.c - every SQL statement of the service, over one libpq connection.
 * SQL lives here as constants and runs through PQexecParams with text
 * parameters only; no statement text is ever built at run time. Knows
 * PostgreSQL, not HTTP: failures become enum aerr, libpq's text goes to the log. */
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lim.h"
#include "log.h"

#define STORE_STATEMENT_TIMEOUT_MS 10000
#define STORE_CONNECT_TIMEOUT_S "5"

/* Transaction state as this module sees it. TX_BROKEN: the connection died
 * inside a transaction; everything fails until store_rollback() so that no
 * later statement can run in autocommit mode and leave the job half-done. */
enum tx_state { TX_NONE, TX_OPEN, TX_BROKEN };

/* Statements prepared on the current connection: every parameterised
 * statement is prepared once per connection (PQprepare) and then only
 * executed, so PostgreSQL plans the trigger's CTE once, not on every call.
 * Keyed by the SQL constant's address (all SQL is static text here). */
#define STORE_PREPARED_MAX 64

struct store {
	char *conninfo;        /* owned copy */
	const char *prepared[STORE_PREPARED_MAX];   /* borrowed SQL constants */
	int listening;         /* LISTEN again after every reconnect */
	int nprepared;         /* on this connection; 0 after every (re)connect */
	PGconn *conn;          /* owned; NULL until the first store_ensure */
	enum tx_state tx;
	int timeout_ms;        /* statement_timeout set after every (re)connect */
	char sqlstate[6];      /* of the last failed statement, "" if none */
};

/* store_fail_after(): statements left before a simulated failure (0 = off). */
static long fail_countdown;

/* ---- schema ------------------------------------------------------------ */

/* Each migration is a list of statements applied in one transaction.
 * Append new versions at the end; never edit one that has shipped. */
static const char *const migration_1[] = {
	"CREATE TABLE training_jobs ("
	" job_id uuid PRIMARY KEY,"
	" name text NOT NULL,"
	" domain text NOT NULL,"
	" owner text NOT NULL,"
	" source_table text NOT NULL,"
	" label_column text NOT NULL DEFAULT 'label',"
	" problem_type text NOT NULL CHECK (problem_type IN ('binary_classification',"
	"  'multiclass_classification', 'regression', 'ranking', 'anomaly_detection',"
	"  'contextual_bandit')),"
	" algorithm text NOT NULL CHECK (algorithm IN ('lightgbm_classifier',"
	"  'lightgbm_regressor', 'lightgbm_ranker', 'isolation_forest', 'vw_classifier',"
	"  'vw_regressor', 'vw_contextual_bandit')),"
	" preset text NOT NULL CHECK (preset IN ('fast', 'balanced', 'best_quality')),"
	" status text NOT NULL CHECK (status IN ('ready', 'queued', 'running', 'complete', 'failed')),"
	" rendered_dag text,"
	" mlflow_run_id text,"
	" mlflow_experiment_name text,"
	" registered_model_name text,"
	" airflow_dag_id text UNIQUE,"
	" airflow_dag_url text,"
	" airflow_dag_run_id text,"
	" error_message text,"
	" feature_engineering_job_id uuid,"
	" trigger_attempts int NOT NULL DEFAULT 0,"
	" created_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
	" updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
	" last_synced_at timestamptz)",
	"CREATE INDEX training_jobs_created_idx ON training_jobs (created_at DESC, job_id DESC)",
	"CREATE INDEX training_jobs_domain_idx ON training_jobs (domain, created_at DESC, job_id DESC)",
	"CREATE INDEX training_jobs_owner_idx ON training_jobs (owner, created_at DESC, job_id DESC)",
	"CREATE INDEX training_jobs_status_idx ON training_jobs (status, created_at DESC, job_id DESC)",
	"CREATE INDEX training_jobs_active_idx ON training_jobs (last_synced_at)"
	" WHERE status IN ('queued', 'running')",
	NULL
};

/* Version 2: the dispatcher. A trigger only commits the state change and a
 * dispatch_queue row (the outbox the dispatcher drains); training_jobs keeps no
 * index on a column that a trigger changes, so the trigger's UPDATE is a HOT
 * update (fillfactor leaves room on the page). ended_at: when the job last
 * became complete/failed (DAG retention, the "open jobs" index);
 * dag_retired_at: its DAG file was removed from the DAGs folder. */
static const char *const migration_2[] = {
	"ALTER TABLE training_jobs ADD COLUMN dispatched_at timestamptz,"
	" ADD COLUMN ended_at timestamptz, ADD COLUMN dag_retired_at timestamptz",
	"UPDATE training_jobs SET ended_at = updated_at WHERE status IN ('complete', 'failed')",
	"UPDATE training_jobs SET dispatched_at = updated_at WHERE status IN ('queued', 'running')",
	"DROP INDEX training_jobs_status_idx",
	"DROP INDEX training_jobs_active_idx",
	"CREATE INDEX training_jobs_open_idx ON training_jobs (created_at) WHERE ended_at IS NULL",
	"CREATE INDEX training_jobs_retire_idx ON training_jobs (ended_at) WHERE dag_retired_at IS NULL",
	"ALTER TABLE training_jobs SET (fillfactor = 70)",
	"CREATE TABLE dispatch_queue ("
	" job_id uuid PRIMARY KEY REFERENCES training_jobs ON DELETE CASCADE,"
	" attempt int NOT NULL,"
	" run_id text NOT NULL,"
	" queued_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
	" not_before timestamptz NOT NULL DEFAULT clock_timestamp(),"
	" tries int NOT NULL DEFAULT 0,"
	" last_error text,"
	" last_not_found boolean NOT NULL DEFAULT false)",
	"CREATE INDEX dispatch_queue_due_idx ON dispatch_queue (not_before)",
	/* queued jobs of version 1 have a run already */
	NULL
};

/* Version 3: the outbox loses its foreign key (jobs are never deleted, and
 * the key's check and row lock cost every trigger), and the runs of earlier
 * attempts that the dispatcher marks failed in Airflow get their own table
 * (a retry's trigger records them in its statement). */
static const char *const migration_3[] = {
	"ALTER TABLE dispatch_queue DROP CONSTRAINT IF EXISTS dispatch_queue_job_id_fkey",
	"CREATE TABLE dispatch_orphans ("
	" job_id uuid NOT NULL,"
	" attempt int NOT NULL,"
	" not_before timestamptz NOT NULL DEFAULT clock_timestamp(),"
	" tries int NOT NULL DEFAULT 0,"
	" PRIMARY KEY (job_id, attempt))",
	"CREATE INDEX dispatch_orphans_due_idx ON dispatch_orphans (not_before)",
	NULL
};

static const char *const *const migrations[] = { migration_1, migration_2, migration_3 };
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* Serialises concurrent migrations (any constant unique to this service). */
#define SQL_MIGRATE_LOCK "SELECT pg_advisory_xact_lock(7241300516)"
static const char SQL_MIGRATIONS_TABLE[] =
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version int PRIMARY KEY,"
	" applied_at timestamptz NOT NULL DEFAULT clock_timestamp())";
static const char SQL_SCHEMA_VERSION[] =
	"SELECT COALESCE(max(version), 0) FROM schema_migrations";
static const char SQL_VERSION_APPLIED[] =
	"SELECT 1 FROM schema_migrations WHERE version = $1::int";
static const char SQL_VERSION_RECORD[] =
	"INSERT INTO schema_migrations (version, applied_at) VALUES ($1::int, clock_timestamp())";

/* ---- statements -------------------------------------------------------- */

#define TS_SECONDS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define TS_MICROS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* Column order is what row_to_job() reads. */
#define JOB_COLS \
	"job_id::text, name, domain, owner, source_table, label_column," \
	" problem_type, algorithm, preset, status," \
	" " TS_SECONDS("created_at") ", " TS_SECONDS("updated_at") "," \
	" rendered_dag, mlflow_run_id, mlflow_experiment_name, registered_model_name," \
	" airflow_dag_id, airflow_dag_url, airflow_dag_run_id, error_message," \
	" feature_engineering_job_id::text, trigger_attempts," \
	" COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - last_synced_at)::bigint, -1)," \
	" " TS_MICROS("created_at") ", " TS_SECONDS("dispatched_at") "," \
	" (dag_retired_at IS NOT NULL)::int"
enum {
	C_JOB_ID, C_NAME, C_DOMAIN, C_OWNER, C_SOURCE_TABLE, C_LABEL_COLUMN,
	C_PROBLEM_TYPE, C_ALGORITHM, C_PRESET, C_STATUS, C_CREATED_AT, C_UPDATED_AT,
	C_RENDERED_DAG, C_MLFLOW_RUN_ID, C_MLFLOW_EXPERIMENT, C_REGISTERED_MODEL,
	C_DAG_ID, C_DAG_URL, C_DAG_RUN_ID, C_ERROR_MESSAGE, C_FE_JOB_ID,
	C_TRIGGER_ATTEMPTS, C_SYNC_AGE, C_CREATED_KEY, C_DISPATCHED_AT, C_DAG_RETIRED, C__COUNT
};

static const char SQL_SET_TIMEOUT[] =
	"SELECT set_config('statement_timeout', $1, false)";
static const char SQL_PING[] = "SELECT 1";
static const char SQL_BEGIN[] = "BEGIN";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

static const char SQL_INSERT[] =
	"INSERT INTO training_jobs (job_id, name, domain, owner, source_table, label_column,"
	" problem_type, algorithm, preset, status, rendered_dag, mlflow_run_id,"
	" mlflow_experiment_name, registered_model_name, airflow_dag_id, airflow_dag_url,"
	" airflow_dag_run_id, error_message, feature_engineering_job_id, trigger_attempts)"
	" VALUES (COALESCE($1::uuid, gen_random_uuid()), $2, $3, $4, $5, COALESCE($6, 'label'),"
	" $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19::uuid, $20::int)"
	" RETURNING " JOB_COLS;

static const char SQL_GET[] =
	"SELECT " JOB_COLS " FROM training_jobs WHERE job_id = $1::uuid";

static const char SQL_EXISTS[] =
	"SELECT 1 FROM training_jobs WHERE job_id = $1::uuid";

static const char SQL_LIST[] =
	"SELECT " JOB_COLS " FROM training_jobs"
	" WHERE ($1::text IS NULL OR domain = $1)"
	" AND ($2::text IS NULL OR owner = $2)"
	" AND ($3::text IS NULL OR status = $3)"
	" AND ($4::text IS NULL OR problem_type = $4)"
	" AND ($5::text IS NULL OR algorithm = $5)"
	" AND ($6::text[] IS NULL OR domain = ANY($6::text[]))"
	" AND ($7::timestamptz IS NULL OR (created_at, job_id) < ($7::timestamptz, $8::uuid))"
	" ORDER BY created_at DESC, job_id DESC LIMIT $9::int";

static const char SQL_GET_MANY[] =
	"SELECT " JOB_COLS " FROM training_jobs WHERE job_id = ANY($1::uuid[])"
	" ORDER BY array_position($1::uuid[], job_id)";

/* Open jobs through training_jobs_open_idx; the dispatcher's reconcile pass
 * asks only for those not synced for `interval` seconds ($1, -1 = all). */
static const char SQL_LIST_ACTIVE[] =
	"SELECT " JOB_COLS " FROM training_jobs WHERE ended_at IS NULL"
	" AND status IN ('queued', 'running')"
	" AND ($1::int < 0 OR last_synced_at IS NULL"
	"  OR last_synced_at < clock_timestamp() - make_interval(secs => $1::int))"
	" AND (status = 'running' OR dispatched_at IS NOT NULL OR $1::int < 0)"
	" ORDER BY last_synced_at ASC NULLS FIRST, created_at ASC, job_id ASC"
	" LIMIT COALESCE($2::int, 2147483647)";

/* The outbox row of a job's attempt, and the wake-up of the dispatchers.
 * $1 job, $2 attempt, $3 run id, $4 ms before the dispatcher may take it. */
#define SQL_ENQUEUE_ROW \
	"INSERT INTO dispatch_queue (job_id, attempt, run_id, queued_at, not_before)" \
	" VALUES ($1::uuid, $2::int, $3, clock_timestamp()," \
	"  clock_timestamp() + make_interval(secs => $4::int / 1000.0))" \
	" ON CONFLICT (job_id) DO UPDATE SET attempt = EXCLUDED.attempt, run_id = EXCLUDED.run_id," \
	"  queued_at = EXCLUDED.queued_at, not_before = EXCLUDED.not_before, tries = 0," \
	"  last_error = NULL, last_not_found = false"
static const char SQL_ENQUEUE[] =
	SQL_ENQUEUE_ROW " RETURNING pg_notify('" STORE_DISPATCH_CHANNEL "', '')";

/* The trigger, one statement: ready/failed -> queued with the next attempt
 * and its run id ($2 = "automl-{job}-a" prefix), the outbox row and the
 * NOTIFY, committed together. $3: visible domains (NULL = all); $4: grace in
 * ms before a dispatcher may take the row (the request tries first). */
static const char SQL_TRIGGER[] =
	"WITH t AS (UPDATE training_jobs SET status = 'queued',"
	"  trigger_attempts = trigger_attempts + 1,"
	"  airflow_dag_run_id = $2 || (trigger_attempts + 1)::text,"
	"  error_message = NULL, mlflow_run_id = NULL, dispatched_at = NULL, ended_at = NULL,"
	"  updated_at = clock_timestamp(), last_synced_at = NULL"
	" WHERE job_id = $1::uuid AND status IN ('ready', 'failed')"
	"  AND ($3::text[] IS NULL OR domain = ANY($3::text[]))"
	" RETURNING *),"
	" q AS (INSERT INTO dispatch_queue (job_id, attempt, run_id, queued_at, not_before)"
	"  SELECT job_id, trigger_attempts, airflow_dag_run_id, clock_timestamp(),"
	"   clock_timestamp() + make_interval(secs => $4::int / 1000.0) FROM t"
	"  ON CONFLICT (job_id) DO UPDATE SET attempt = EXCLUDED.attempt, run_id = EXCLUDED.run_id,"
	"   queued_at = EXCLUDED.queued_at, not_before = EXCLUDED.not_before, tries = 0,"
	"   last_error = NULL, last_not_found = false"
	"  RETURNING pg_notify('" STORE_DISPATCH_CHANNEL "', '')),"
	" o AS (INSERT INTO dispatch_orphans (job_id, attempt)"
	"  SELECT job_id, trigger_attempts - 1 FROM t WHERE trigger_attempts > 1"
	"  ON CONFLICT DO NOTHING RETURNING 1)"
	" SELECT " JOB_COLS " FROM t WHERE (SELECT count(*) FROM q) + (SELECT count(*) FROM o) >= 0";

/* Runs of earlier attempts due for a look, leased like the outbox rows. */
static const char SQL_CLAIM_ORPHANS[] =
	"WITH c AS (SELECT job_id, attempt FROM dispatch_orphans WHERE not_before <= clock_timestamp()"
	"  ORDER BY not_before LIMIT $1::int FOR UPDATE SKIP LOCKED)"
	" UPDATE dispatch_orphans o SET tries = o.tries + 1,"
	"  not_before = clock_timestamp() + make_interval(secs => $2::int / 1000.0)"
	" FROM c WHERE o.job_id = c.job_id AND o.attempt = c.attempt"
	" RETURNING o.job_id::text, o.attempt, o.tries";

static const char SQL_ORPHAN_DONE[] =
	"DELETE FROM dispatch_orphans WHERE job_id = $1::uuid AND attempt = $2::int";

/* Airflow accepted the attempt's run: drop the outbox row, stamp dispatched_at. */
static const char SQL_DISPATCHED[] =
	"WITH d AS (DELETE FROM dispatch_queue WHERE job_id = $1::uuid AND attempt = $2::int)"
	" UPDATE training_jobs SET dispatched_at = clock_timestamp()"
	" WHERE job_id = $1::uuid AND trigger_attempts = $2::int AND dispatched_at IS NULL"
	" AND status IN ('queued', 'running')"
	" RETURNING " JOB_COLS;

/* A dispatch attempt that did not get through: try again after $3 ms. */
static const char SQL_DISPATCH_RETRY[] =
	"UPDATE dispatch_queue SET last_error = $4, last_not_found = $5::boolean,"
	" not_before = clock_timestamp() + make_interval(secs => $3::int / 1000.0)"
	" WHERE job_id = $1::uuid AND attempt = $2::int";

/* Take up to $1 due outbox rows for $2 ms (a lease: no lock is held while
 * Airflow is asked; a dispatcher that dies lets the lease run out). */
static const char SQL_CLAIM_DUE[] =
	"WITH c AS (SELECT job_id FROM dispatch_queue WHERE not_before <= clock_timestamp()"
	"  ORDER BY not_before LIMIT $1::int FOR UPDATE SKIP LOCKED)"
	" UPDATE dispatch_queue q SET tries = q.tries + 1,"
	"  not_before = clock_timestamp() + make_interval(secs => $2::int / 1000.0)"
	" FROM c WHERE q.job_id = c.job_id"
	" RETURNING q.job_id::text, q.attempt, q.run_id,"
	"  EXTRACT(EPOCH FROM clock_timestamp() - q.queued_at)::bigint, q.tries, q.last_error,"
	"  q.last_not_found::int";

/* Milliseconds until the earliest outbox row is due (NULL: none). */
static const char SQL_NEXT_DUE[] =
	"SELECT CEIL(EXTRACT(EPOCH FROM min(not_before) - clock_timestamp()) * 1000)::bigint"
	" FROM dispatch_queue";

/* The outbox row of an attempt that is over (the job moved on). */
static const char SQL_DEQUEUE[] =
	"DELETE FROM dispatch_queue WHERE job_id = $1::uuid AND attempt = $2::int";

/* The run of this attempt could not be started in time: the job fails. */
static const char SQL_DISPATCH_GIVE_UP[] =
	"WITH d AS (DELETE FROM dispatch_queue WHERE job_id = $1::uuid AND attempt = $2::int)"
	" UPDATE training_jobs SET status = 'failed', error_message = $3,"
	"  ended_at = clock_timestamp(), updated_at = clock_timestamp()"
	" WHERE job_id = $1::uuid AND trigger_attempts = $2::int AND status = 'queued'"
	" AND dispatched_at IS NULL RETURNING " JOB_COLS;

static const char SQL_DAG_REPUBLISHED[] =
	"UPDATE training_jobs SET dag_retired_at = NULL WHERE job_id = $1::uuid";

/* DAG files of jobs that ended more than $1 seconds ago and are still published. */
static const char SQL_LIST_RETIRABLE[] =
	"SELECT " JOB_COLS " FROM training_jobs WHERE dag_retired_at IS NULL"
	" AND ended_at < clock_timestamp() - make_interval(secs => $1::int)"
	" ORDER BY ended_at LIMIT $2::int";

/* In a transaction: lock the row if it is still retirable (skip it if
 * someone holds it: a trigger, most likely). */
static const char SQL_LOCK_RETIRABLE[] =
	"SELECT 1 FROM training_jobs WHERE job_id = $1::uuid AND dag_retired_at IS NULL"
	" AND status IN ('complete', 'failed')"
	" AND ended_at < clock_timestamp() - make_interval(secs => $2::int)"
	" FOR UPDATE SKIP LOCKED";

static const char SQL_MARK_RETIRED[] =
	"UPDATE training_jobs SET dag_retired_at = clock_timestamp() WHERE job_id = $1::uuid";

/* A reconcile that could not reach Airflow still counts for the throttle. */
static const char SQL_TOUCH_SYNC[] =
	"UPDATE training_jobs SET last_synced_at = clock_timestamp()"
	" WHERE job_id = $1::uuid AND airflow_dag_run_id = $2";

static const char SQL_LISTEN[] = "LISTEN " STORE_DISPATCH_CHANNEL;

static const char SQL_JOB_STATE[] =
	"SELECT status, domain FROM training_jobs WHERE job_id = $1::uuid";

/* The row must still be on the run we asked Airflow about. updated_at moves
 * only when something the API shows actually changes. */
static const char SQL_RECONCILE[] =
	"UPDATE training_jobs SET status = $3,"
	" mlflow_run_id = COALESCE($4, mlflow_run_id),"
	" error_message = COALESCE($5, error_message),"
	" last_synced_at = clock_timestamp(),"
	" dispatched_at = COALESCE(dispatched_at, clock_timestamp()),"
	" ended_at = CASE WHEN $3 IN ('complete', 'failed') THEN COALESCE(ended_at, clock_timestamp())"
	"  ELSE ended_at END,"
	" updated_at = CASE WHEN status IS DISTINCT FROM $3"
	"  OR ($4::text IS NOT NULL AND mlflow_run_id IS DISTINCT FROM $4)"
	"  OR ($5::text IS NOT NULL AND error_message IS DISTINCT FROM $5)"
	"  THEN clock_timestamp() ELSE updated_at END"
	" WHERE job_id = $1::uuid AND status = $6 AND status IN ('queued', 'running')"
	" AND airflow_dag_run_id = $2"
	" RETURNING " JOB_COLS;

static const char SQL_WRITE_BACK[] =
	"UPDATE training_jobs SET status = $2,"
	" mlflow_run_id = COALESCE($4, mlflow_run_id),"
	" registered_model_name = COALESCE($5, registered_model_name),"
	" error_message = COALESCE($6, error_message),"
	" dispatched_at = COALESCE(dispatched_at, clock_timestamp()),"
	" ended_at = CASE WHEN $2 IN ('complete', 'failed') THEN clock_timestamp() ELSE NULL END,"
	" updated_at = clock_timestamp()"
	" WHERE job_id = $1::uuid AND status = ANY($3::text[])"
	" AND ($7::text IS NULL OR airflow_dag_run_id = $7)"
	" RETURNING " JOB_COLS;

/* ---- connection and execution ------------------------------------------ */

/* Log a libpq message on one line: its newlines and tabs (which may follow
 * data from parameters) become spaces, the trailing newline goes. */
static void log_pq(enum log_level lvl, const char *what, const char *msg)
{
	char line[1024];
	size_t i, n = 0;

	for (i = 0; msg != NULL && msg[i] != '\0' && n < sizeof line - 1; i++) {
		char c = msg[i];

		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		if (c == ' ' && (n == 0 || line[n - 1] == ' '))
			continue;
		line[n++] = c;
	}
	while (n > 0 && line[n - 1] == ' ')
		n--;
	line[n] = '\0';
	log_msg(lvl, "store: %s: %s", what, line);
}

/* Server notices (e.g. "already exists, skipping") go to the debug log. */
static void notice_to_log(void *arg, const char *message)
{
	(void)arg;
	log_pq(LOG_DEBUG, "notice", message);
}

static int conn_ok(const struct store *s)
{
	return s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK;
}

/* The connection is gone: a transaction in progress is lost with it. */
static void mark_broken(struct store *s)
{
	if (s->tx == TX_OPEN)
		s->tx = TX_BROKEN;
}

struct store *store_new(const char *conninfo)
{
	struct store *s = calloc(1, sizeof *s);

	if (s == NULL)
		return NULL;
	s->conninfo = strdup(conninfo ? conninfo : "");
	if (s->conninfo == NULL) {
		free(s);
		return NULL;
	}
	s->timeout_ms = STORE_STATEMENT_TIMEOUT_MS;
	return s;
}

void store_free(struct store *s)
{
	if (s == NULL)
		return;
	if (s->conn != NULL)
		PQfinish(s->conn);
	free(s->conninfo);
	free(s);
}

void store_set_timeout_ms(struct store *s, int ms)
{
	s->timeout_ms = ms < 0 ? 0 : ms;
}

void store_fail_after(long n)
{
	fail_countdown = n < 0 ? 0 : n;
}

/* Classify a failed result (before PQclear) and log it. */
static enum aerr map_error(struct store *s, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn);
	enum aerr rc = AE_DB;

	snprintf(s->sqlstate, sizeof s->sqlstate, "%s", state ? state : "");
	if (!conn_ok(s)) {
		mark_broken(s);
		rc = AE_DB_UNAVAILABLE;
	} else if (state == NULL) {
		rc = AE_DB;
	} else if (strcmp(state, "57014") == 0) {
		rc = AE_DB_TIMEOUT;
	} else if (strcmp(state, "55P03") == 0) {
		rc = AE_BUSY;
	} else if (strcmp(state, "23505") == 0) {
		rc = AE_CONFLICT;
	} else if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
			strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0 ||
			strncmp(state, "53", 2) == 0) {
		/* connection exception, shutdown, insufficient resources */
		rc = AE_DB_UNAVAILABLE;
	}
	/* A held claim is an ordinary answer (409), not a fault. */
	log_pq(rc == AE_BUSY ? LOG_INFO : rc == AE_CONFLICT ? LOG_WARN : LOG_ERROR, what, msg);
	return rc;
}

/* Run one statement. On AE_OK *out (may be NULL to discard) holds the result,
 * which the caller clears. On failure nothing is left to clear. `counted`:
 * whether the statement counts for store_fail_after(). */
/* Only plain DML and queries are prepared (not DDL, transaction control or LISTEN). */
static int preparable(const char *sql)
{
	static const char *const verbs[] = { "SELECT ", "WITH ", "UPDATE ", "INSERT ", "DELETE " };

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strncmp(sql, verbs[i], strlen(verbs[i])) == 0)
			return 1;
	return 0;
}

/* Run sql: as a prepared statement when it can be (prepared on first use on
 * this connection), else with PQexecParams. The result or NULL (libpq out of
 * memory); a failed PQprepare is returned as its result. */
static PGresult *execute(struct store *s, const char *sql, int nparams, const char *const *params)
{
	char name[32];   /* "automl_" and an int */
	PGresult *res;
	int i;

	if (!preparable(sql))
		return PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	for (i = 0; i < s->nprepared && s->prepared[i] != sql; i++)
		;
	if (i == s->nprepared) {
		if (i == STORE_PREPARED_MAX)
			return PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0);
		snprintf(name, sizeof name, "automl_%d", i);
		res = PQprepare(s->conn, name, sql, nparams, NULL);
		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
			return res;
		PQclear(res);
		s->prepared[s->nprepared++] = sql;
	}
	snprintf(name, sizeof name, "automl_%d", i);
	return PQexecPrepared(s->conn, name, nparams, params, NULL, NULL, 0);
}

static enum aerr run(struct store *s, const char *sql, int nparams,
		const char *const *params, PGresult **out, int counted)
{
	PGresult *res = NULL;
	ExecStatusType st;
	enum aerr rc = AE_OK;

	if (out)
		*out = NULL;
	s->sqlstate[0] = '\0';
	if (s->tx == TX_BROKEN || !conn_ok(s)) {
		mark_broken(s);
		return AE_DB_UNAVAILABLE;
	}
	if (counted && fail_countdown > 0 && --fail_countdown == 0) {
		log_error("store: simulated failure: closing the connection");
		PQfinish(s->conn);
		s->conn = NULL;
		mark_broken(s);
		return AE_DB_UNAVAILABLE;
	}
	res = execute(s, sql, nparams, params);
	if (res == NULL) {
		rc = map_error(s, NULL, "statement");
		if (rc == AE_DB)
			rc = AE_NOMEM;
		goto out;
	}
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = map_error(s, res, "statement failed");
		goto out;
	}
	if (out) {
		*out = res;
		res = NULL;
	}
out:
	PQclear(res);
	return rc;
}

static enum aerr sql_exec(struct store *s, const char *sql, int nparams,
		const char *const *params, PGresult **out)
{
	return run(s, sql, nparams, params, out, 1);
}

/* Per-session settings, after every connect and reset. */
static enum aerr session_setup(struct store *s)
{
	char ms[32];
	const char *params[1] = { ms };

	snprintf(ms, sizeof ms, "%d", s->timeout_ms);
	return run(s, SQL_SET_TIMEOUT, 1, params, NULL, 0);
}

enum aerr store_ensure(struct store *s)
{
	static const char *const keys[] = {
		"connect_timeout", "fallback_application_name", "dbname", NULL
	};
	const char *vals[] = { STORE_CONNECT_TIMEOUT_S, "automl", s->conninfo, NULL };
	enum aerr rc;

	if (s->tx == TX_BROKEN)
		return AE_DB_UNAVAILABLE;
	if (s->tx == TX_OPEN) {
		/* Inside the caller's transaction: never reconnect behind its back. */
		if (conn_ok(s))
			return AE_OK;
		s->tx = TX_BROKEN;
		return AE_DB_UNAVAILABLE;
	}
	if (conn_ok(s)) {
		/* A transaction nobody owns any more (a caller forgot to end it). */
		if (PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
			log_warn("store: rolling back a transaction left open");
			rc = run(s, SQL_ROLLBACK, 0, NULL, NULL, 0);
			if (rc)
				return conn_ok(s) ? rc : AE_DB_UNAVAILABLE;
		}
		return AE_OK;
	}
	/* connection_timeout/application_name first, so the conninfo may override. */
	if (s->conn == NULL) {
		s->nprepared = 0;
		s->conn = PQconnectdbParams(keys, vals, 1);
		if (s->conn == NULL) {
			log_error("store: out of memory connecting");
			return AE_DB_UNAVAILABLE;
		}
	} else {
		s->nprepared = 0;
		PQreset(s->conn);
	}
	if (PQstatus(s->conn) != CONNECTION_OK) {
		log_pq(LOG_ERROR, "cannot connect", PQerrorMessage(s->conn));
		return AE_DB_UNAVAILABLE;
	}
	PQsetNoticeProcessor(s->conn, notice_to_log, NULL);
	rc = session_setup(s);
	if (rc == AE_OK && s->listening)
		rc = run(s, SQL_LISTEN, 0, NULL, NULL, 0);   /* a new session listens again */
	if (rc) {
		PQfinish(s->conn);
		s->conn = NULL;
		return AE_DB_UNAVAILABLE;
	}
	return AE_OK;
}

enum aerr store_ping(struct store *s)
{
	enum aerr rc = store_ensure(s);

	if (rc)
		return rc;
	return sql_exec(s, SQL_PING, 0, NULL, NULL);
}

/* ---- transactions ------------------------------------------------------ */

enum aerr store_begin(struct store *s)
{
	enum aerr rc;

	if (s->tx != TX_NONE) {
		log_error("store: begin inside a transaction");
		return AE_INTERNAL;
	}
	rc = store_ensure(s);
	if (rc)
		return rc;
	rc = sql_exec(s, SQL_BEGIN, 0, NULL, NULL);
	if (rc)
		return rc;
	s->tx = TX_OPEN;
	return AE_OK;
}

enum aerr store_commit(struct store *s)
{
	PGresult *res = NULL;
	enum aerr rc;

	if (s->tx == TX_NONE) {
		log_error("store: commit without a transaction");
		return AE_INTERNAL;
	}
	rc = sql_exec(s, SQL_COMMIT, 0, NULL, &res);
	if (rc)
		goto out;
	/* COMMIT of an aborted transaction "succeeds" as ROLLBACK. */
	if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		log_error("store: commit rolled back (%s)", PQcmdStatus(res));
		rc = AE_DB;
	}
out:
	PQclear(res);
	if (rc) {
		store_rollback(s);
		return rc;
	}
	s->tx = TX_NONE;
	return AE_OK;
}

void store_rollback(struct store *s)
{
	if (s == NULL)
		return;
	s->tx = TX_NONE;
	if (conn_ok(s) && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		(void)run(s, SQL_ROLLBACK, 0, NULL, NULL, 0);
}

/* ---- rows -------------------------------------------------------------- */

static const char *col(struct arena *a, const PGresult *res, int row, int c, int *oom)
{
	const char *v;

	if (PQgetisnull(res, row, c))
		return NULL;
	v = arena_strdup(a, PQgetvalue(res, row, c));
	if (v == NULL)
		*oom = 1;
	return v;
}

static int parse_long(const char *s, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* One row into *j (strings in a). key: optional full-precision created_at. */
static enum aerr row_to_job(struct arena *a, const PGresult *res, int row,
		struct job *j, const char **key)
{
	const char *id = PQgetvalue(res, row, C_JOB_ID);
	int oom = 0;
	long v;

	if (PQnfields(res) != C__COUNT) {
		log_error("store: unexpected column count %d", PQnfields(res));
		return AE_DB;
	}
	memset(j, 0, sizeof *j);
	if (strlen(id) != sizeof j->job_id - 1) {
		log_error("store: bad job_id from the database");
		return AE_DB;
	}
	memcpy(j->job_id, id, sizeof j->job_id);
	j->name = col(a, res, row, C_NAME, &oom);
	j->domain = col(a, res, row, C_DOMAIN, &oom);
	j->owner = col(a, res, row, C_OWNER, &oom);
	j->source_table = col(a, res, row, C_SOURCE_TABLE, &oom);
	j->label_column = col(a, res, row, C_LABEL_COLUMN, &oom);
	if (problem_type_parse(PQgetvalue(res, row, C_PROBLEM_TYPE), &j->problem_type) ||
			algorithm_parse(PQgetvalue(res, row, C_ALGORITHM), &j->algorithm) ||
			preset_parse(PQgetvalue(res, row, C_PRESET), &j->preset) ||
			status_parse(PQgetvalue(res, row, C_STATUS), &j->status)) {
		log_error("store: job %s has an unknown enum value", j->job_id);
		return AE_DB;
	}
	j->created_at = col(a, res, row, C_CREATED_AT, &oom);
	j->updated_at = col(a, res, row, C_UPDATED_AT, &oom);
	j->rendered_dag = col(a, res, row, C_RENDERED_DAG, &oom);
	j->mlflow_run_id = col(a, res, row, C_MLFLOW_RUN_ID, &oom);
	j->mlflow_experiment_name = col(a, res, row, C_MLFLOW_EXPERIMENT, &oom);
	j->registered_model_name = col(a, res, row, C_REGISTERED_MODEL, &oom);
	j->airflow_dag_id = col(a, res, row, C_DAG_ID, &oom);
	j->airflow_dag_url = col(a, res, row, C_DAG_URL, &oom);
	j->airflow_dag_run_id = col(a, res, row, C_DAG_RUN_ID, &oom);
	j->error_message = col(a, res, row, C_ERROR_MESSAGE, &oom);
	j->feature_engineering_job_id = col(a, res, row, C_FE_JOB_ID, &oom);
	if (parse_long(PQgetvalue(res, row, C_TRIGGER_ATTEMPTS), &v) || v < 0 || v > INT_MAX) {
		log_error("store: bad trigger_attempts");
		return AE_DB;
	}
	j->trigger_attempts = (int)v;
	if (parse_long(PQgetvalue(res, row, C_SYNC_AGE), &v)) {
		log_error("store: bad sync age");
		return AE_DB;
	}
	j->sync_age_s = v < -1 ? 0 : v;
	if (key != NULL)
		*key = col(a, res, row, C_CREATED_KEY, &oom);
	j->dispatched_at = col(a, res, row, C_DISPATCHED_AT, &oom);
	j->dag_retired = strcmp(PQgetvalue(res, row, C_DAG_RETIRED), "1") == 0;
	return oom ? AE_NOMEM : AE_OK;
}

/* Every row of res into an arena array. */
static enum aerr rows_to_jobs(struct arena *a, const PGresult *res, struct job **out,
		const char ***keys, size_t *n)
{
	int rows = PQntuples(res), i;
	struct job *jobs = NULL;
	const char **k = NULL;
	enum aerr rc;

	*out = NULL;
	*n = 0;
	if (keys)
		*keys = NULL;
	if (rows == 0)
		return AE_OK;
	jobs = arena_alloc(a, (size_t)rows * sizeof *jobs);
	if (jobs == NULL)
		return AE_NOMEM;
	if (keys) {
		k = arena_alloc(a, (size_t)rows * sizeof *k);
		if (k == NULL)
			return AE_NOMEM;
	}
	for (i = 0; i < rows; i++) {
		rc = row_to_job(a, res, i, &jobs[i], k ? &k[i] : NULL);
		if (rc)
			return rc;
	}
	*out = jobs;
	if (keys)
		*keys = k;
	*n = (size_t)rows;
	return AE_OK;
}

static enum aerr one_job(struct arena *a, const PGresult *res, struct job *out)
{
	if (PQntuples(res) < 1)
		return AE_NOT_FOUND;
	return row_to_job(a, res, 0, out, NULL);
}

/* Run a statement that answers at most one job row into *out (AE_NOT_FOUND
 * when it answers none). */
static enum aerr exec_one_job(struct store *s, struct arena *a, const char *sql, int nparams,
		const char *const *params, struct job *out)
{
	PGresult *res = NULL;
	enum aerr rc = sql_exec(s, sql, nparams, params, &res);

	if (rc == AE_OK)
		rc = one_job(a, res, out);
	PQclear(res);
	return rc;
}

/* Run a statement that answers job rows into an arena array. */
static enum aerr exec_jobs(struct store *s, struct arena *a, const char *sql, int nparams,
		const char *const *params, struct job **out, const char ***keys, size_t *n)
{
	PGresult *res = NULL;
	enum aerr rc = sql_exec(s, sql, nparams, params, &res);

	if (rc == AE_OK)
		rc = rows_to_jobs(a, res, out, keys, n);
	PQclear(res);
	return rc;
}

/* Exactly one row -> *out; none -> AE_NOT_FOUND. */

/* PostgreSQL array literal {"a","b"} of the strings, each quoted with " and \
 * escaped, so commas, braces, quotes and NULL-like words stay plain text. */
static char *array_literal(struct arena *a, const char *const *v, size_t n)
{
	size_t len = 3, i;
	const char *p;
	char *lit, *w;

	for (i = 0; i < n; i++) {
		if (v[i] == NULL)
			return NULL;
		len += 3;
		for (p = v[i]; *p; p++)
			len += (*p == '"' || *p == '\\') ? 2 : 1;
	}
	lit = arena_alloc(a, len);
	if (lit == NULL)
		return NULL;
	w = lit;
	*w++ = '{';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*w++ = ',';
		*w++ = '"';
		for (p = v[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				*w++ = '\\';
			*w++ = *p;
		}
		*w++ = '"';
	}
	*w++ = '}';
	*w = '\0';
	return lit;
}

/* A cursor timestamp as this module prints it: YYYY-MM-DDTHH:MM:SS[.ffffff]Z. */
static int cursor_ts_valid(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd";
	size_t i, n = strlen(s);

	if (n < sizeof pat || n > sizeof pat + 7)
		return 0;
	for (i = 0; i < sizeof pat - 1; i++) {
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return 0;
	}
	if (s[i] == '.') {
		if (++i >= n - 1)
			return 0;
		for (; i < n - 1; i++)
			if (s[i] < '0' || s[i] > '9')
				return 0;
	}
	return i == n - 1 && s[i] == 'Z';
}

/* ---- migrations -------------------------------------------------------- */

static enum aerr fetch_int(struct store *s, const char *sql, int *v)
{
	PGresult *res = NULL;
	long l = 0;
	enum aerr rc = sql_exec(s, sql, 0, NULL, &res);

	if (rc)
		return rc;
	if (PQntuples(res) != 1 || parse_long(PQgetvalue(res, 0, 0), &l) || l < 0 || l > INT_MAX)
		rc = AE_DB;
	else
		*v = (int)l;
	PQclear(res);
	return rc;
}

/* One transaction: lock, ensure the version table, read the version. */
static enum aerr schema_version(struct store *s, int *version)
{
	enum aerr rc;

	rc = store_begin(s);
	if (rc)
		return rc;
	rc = sql_exec(s, SQL_MIGRATE_LOCK, 0, NULL, NULL);
	if (rc)
		goto out;
	rc = sql_exec(s, SQL_MIGRATIONS_TABLE, 0, NULL, NULL);
	if (rc)
		goto out;
	rc = fetch_int(s, SQL_SCHEMA_VERSION, version);
	if (rc)
		goto out;
	rc = store_commit(s);
out:
	if (rc)
		store_rollback(s);
	return rc;
}

/* Apply migration `version` (1-based) unless another process did meanwhile. */
static enum aerr apply_migration(struct store *s, int version)
{
	char v[16];
	const char *params[1] = { v };
	const char *const *stmt;
	PGresult *res = NULL;
	enum aerr rc;

	snprintf(v, sizeof v, "%d", version);
	rc = store_begin(s);
	if (rc)
		return rc;
	rc = sql_exec(s, SQL_MIGRATE_LOCK, 0, NULL, NULL);
	if (rc)
		goto out;
	rc = sql_exec(s, SQL_VERSION_APPLIED, 1, params, &res);
	if (rc)
		goto out;
	if (PQntuples(res) > 0)
		goto commit;
	for (stmt = migrations[version - 1]; *stmt; stmt++) {
		rc = sql_exec(s, *stmt, 0, NULL, NULL);
		if (rc)
			goto out;
	}
	rc = sql_exec(s, SQL_VERSION_RECORD, 1, params, NULL);
	if (rc)
		goto out;
	log_info("store: applied schema migration %d", version);
commit:
	rc = store_commit(s);
out:
	PQclear(res);
	if (rc)
		store_rollback(s);
	return rc;
}

enum aerr store_migrate(struct store *s, int *from, int *to)
{
	int before = 0, after = 0, v;
	enum aerr rc;

	rc = schema_version(s, &before);
	if (rc)
		goto out;
	if (before > NMIGRATIONS)
		log_warn("store: database schema %d is newer than this program's %d",
				before, NMIGRATIONS);
	for (v = before + 1; v <= NMIGRATIONS; v++) {
		rc = apply_migration(s, v);
		if (rc)
			goto out;
	}
	rc = store_ensure(s);
	if (rc)
		goto out;
	rc = fetch_int(s, SQL_SCHEMA_VERSION, &after);
out:
	if (from)
		*from = before;
	if (to)
		*to = rc ? before : after;
	return rc;
}

int store_schema_version(void)
{
	return NMIGRATIONS;
}

/* ---- jobs -------------------------------------------------------------- */

enum aerr store_insert_job(struct store *s, struct arena *a, struct job *job)
{
	char attempts[16];
	const char *params[20];
	enum aerr rc;

	if ((unsigned)job->problem_type >= PT__MAX || (unsigned)job->algorithm >= ALG__MAX ||
			(unsigned)job->preset >= PRESET__MAX || (unsigned)job->status >= ST__MAX) {
		log_error("store: insert with an out-of-range enum");
		return AE_INTERNAL;
	}
	if (job->job_id[0] != '\0' && !uuid_valid(job->job_id)) {
		log_error("store: insert with a malformed job_id");
		return AE_INTERNAL;
	}
	rc = store_ensure(s);
	if (rc)
		return rc;
	snprintf(attempts, sizeof attempts, "%d", job->trigger_attempts);
	params[0] = job->job_id[0] ? job->job_id : NULL;
	params[1] = job->name;
	params[2] = job->domain;
	params[3] = job->owner;
	params[4] = job->source_table;
	params[5] = job->label_column;
	params[6] = problem_type_str(job->problem_type);
	params[7] = algorithm_str(job->algorithm);
	params[8] = preset_str(job->preset);
	params[9] = status_str(job->status);
	params[10] = job->rendered_dag;
	params[11] = job->mlflow_run_id;
	params[12] = job->mlflow_experiment_name;
	params[13] = job->registered_model_name;
	params[14] = job->airflow_dag_id;
	params[15] = job->airflow_dag_url;
	params[16] = job->airflow_dag_run_id;
	params[17] = job->error_message;
	params[18] = job->feature_engineering_job_id;
	params[19] = attempts;
	rc = exec_one_job(s, a, SQL_INSERT, 20, params, job);
	return rc == AE_NOT_FOUND ? AE_DB : rc;
}

enum aerr store_get_job(struct store *s, struct arena *a, const char *job_id, struct job *out)
{
	const char *params[1] = { job_id };
	enum aerr rc;

	if (job_id == NULL || !uuid_valid(job_id))
		return AE_NOT_FOUND;
	rc = store_ensure(s);
	if (rc)
		return rc;
	return exec_one_job(s, a, SQL_GET, 1, params, out);
}

static const char *enum_filter(int v, int max, const char *(*str)(int), int *bad)
{
	if (v < 0)
		return NULL;
	if (v >= max) {
		*bad = 1;
		return NULL;
	}
	return str(v);
}

static const char *pt_str(int v) { return problem_type_str((enum problem_type)v); }
static const char *alg_str(int v) { return algorithm_str((enum algorithm)v); }
static const char *st_str(int v) { return status_str((enum job_status)v); }

enum aerr store_list_jobs_keyed(struct store *s, struct arena *a, const struct job_filter *f,
		struct job **out, const char ***keys, size_t *n)
{
	char limit[16];
	const char *params[9];
	PGresult *res = NULL;
	int bad = 0;
	enum aerr rc;

	*out = NULL;
	*n = 0;
	if (keys)
		*keys = NULL;
	if (f->limit < 1 || f->limit > LIM_LIST_MAX) {
		log_error("store: list limit %d out of range", f->limit);
		return AE_INTERNAL;
	}
	if ((f->after_created_at == NULL) != (f->after_job_id == NULL))
		return AE_VALIDATION;
	if (f->after_created_at != NULL &&
			(!cursor_ts_valid(f->after_created_at) || !uuid_valid(f->after_job_id)))
		return AE_VALIDATION;
	params[0] = f->domain;
	params[1] = f->owner;
	params[2] = enum_filter(f->status, ST__MAX, st_str, &bad);
	params[3] = enum_filter(f->problem_type, PT__MAX, pt_str, &bad);
	params[4] = enum_filter(f->algorithm, ALG__MAX, alg_str, &bad);
	if (bad) {
		log_error("store: list filter enum out of range");
		return AE_INTERNAL;
	}
	params[5] = NULL;
	if (f->domains != NULL) {
		params[5] = array_literal(a, f->domains, f->ndomains);
		if (params[5] == NULL)
			return AE_NOMEM;
	}
	params[6] = f->after_created_at;
	params[7] = f->after_job_id;
	snprintf(limit, sizeof limit, "%d", f->limit + 1);
	params[8] = limit;
	rc = store_ensure(s);
	if (rc)
		return rc;
	rc = sql_exec(s, SQL_LIST, 9, params, &res);
	/* A cursor that passed the format check but is no real time (month 13). */
	if (rc == AE_DB && f->after_created_at != NULL && strncmp(s->sqlstate, "22", 2) == 0)
		rc = AE_VALIDATION;
	if (rc)
		goto out;
	rc = rows_to_jobs(a, res, out, keys, n);
out:
	PQclear(res);
	return rc;
}

enum aerr store_list_jobs(struct store *s, struct arena *a, const struct job_filter *f,
		struct job **out, size_t *n)
{
	return store_list_jobs_keyed(s, a, f, out, NULL, n);
}

enum aerr store_get_jobs(struct store *s, struct arena *a, const char *const *ids, size_t nids,
		struct job **out, size_t *n)
{
	const char *params[1];
	size_t i;
	enum aerr rc;

	*out = NULL;
	*n = 0;
	if (nids == 0)
		return AE_OK;
	for (i = 0; i < nids; i++)
		if (ids[i] == NULL || !uuid_valid(ids[i]))
			return AE_VALIDATION;
	params[0] = array_literal(a, ids, nids);
	if (params[0] == NULL)
		return AE_NOMEM;
	rc = store_ensure(s);
	if (rc)
		return rc;
	return exec_jobs(s, a, SQL_GET_MANY, 1, params, out, NULL, n);
}

enum aerr store_list_active(struct store *s, struct arena *a, long stale_s, int limit,
		struct job **out, size_t *n)
{
	char st[24], lim[16];
	const char *params[2] = { st, limit > 0 ? lim : NULL };
	enum aerr rc;

	*out = NULL;
	*n = 0;
	snprintf(st, sizeof st, "%ld", stale_s < 0 ? -1L : stale_s);
	snprintf(lim, sizeof lim, "%d", limit);
	rc = store_ensure(s);
	if (rc)
		return rc;
	return exec_jobs(s, a, SQL_LIST_ACTIVE, 2, params, out, NULL, n);
}

/* ---- trigger and dispatch ---------------------------------------------- */

static enum aerr tx_only(struct store *s, const char *what)
{
	if (s->tx != TX_NONE) {
		log_error("store: %s inside a transaction", what);
		return AE_INTERNAL;
	}
	return store_ensure(s);
}

/* One statement outside any transaction, its rows discarded. */
static enum aerr command(struct store *s, const char *what, const char *sql, int nparams,
		const char *const *params)
{
	enum aerr rc = tx_only(s, what);

	if (rc)
		return rc;
	return sql_exec(s, sql, nparams, params, NULL);
}

enum aerr store_trigger(struct store *s, struct arena *a, const char *job_id,
		const char *const *domains, size_t ndomains, const char *run_prefix, long grace_ms,
		struct job *out)
{
	char grace[24];
	const char *params[4] = { job_id, run_prefix, NULL, grace };
	PGresult *res = NULL;
	enum aerr rc;

	if (job_id == NULL || !uuid_valid(job_id))
		return AE_NOT_FOUND;
	if (run_prefix == NULL)
		return AE_INTERNAL;
	if (domains != NULL) {
		params[2] = array_literal(a, domains, ndomains);
		if (params[2] == NULL)
			return AE_NOMEM;
	}
	snprintf(grace, sizeof grace, "%ld", grace_ms < 0 ? 0L : grace_ms);
	rc = tx_only(s, "trigger");
	if (rc)
		return rc;
	rc = exec_one_job(s, a, SQL_TRIGGER, 4, params, out);
	if (rc != AE_NOT_FOUND)
		return rc;
	/* Nothing moved: no such job, not the caller's, or not triggerable. */
	rc = sql_exec(s, SQL_JOB_STATE, 1, params, &res);
	if (rc)
		return rc;
	rc = AE_NOT_FOUND;
	if (PQntuples(res) == 1) {
		const char *dom = PQgetvalue(res, 0, 1);
		int visible = domains == NULL;

		for (size_t i = 0; !visible && i < ndomains; i++)
			visible = strcmp(domains[i], dom) == 0;
		if (visible && status_parse(PQgetvalue(res, 0, 0), &out->status) == 0)
			rc = AE_CONFLICT;
	}
	PQclear(res);
	return rc;
}

enum aerr store_enqueue(struct store *s, const char *job_id, int attempt, const char *run_id,
		long grace_ms)
{
	char att[16], grace[24];
	const char *params[4] = { job_id, att, run_id, grace };

	if (job_id == NULL || !uuid_valid(job_id) || run_id == NULL || attempt < 1)
		return AE_INTERNAL;
	snprintf(att, sizeof att, "%d", attempt);
	snprintf(grace, sizeof grace, "%ld", grace_ms < 0 ? 0L : grace_ms);
	return sql_exec(s, SQL_ENQUEUE, 4, params, NULL);
}

enum aerr store_mark_dispatched(struct store *s, struct arena *a, const char *job_id,
		int attempt, struct job *out)
{
	char att[16];
	const char *params[2] = { job_id, att };
	enum aerr rc;

	snprintf(att, sizeof att, "%d", attempt);
	rc = tx_only(s, "mark_dispatched");
	if (rc)
		return rc;
	rc = exec_one_job(s, a, SQL_DISPATCHED, 2, params, out);
	return rc == AE_NOT_FOUND ? AE_CONFLICT : rc;
}

enum aerr store_dispatch_retry(struct store *s, const char *job_id, int attempt,
		long delay_ms, const char *error, int not_found)
{
	char att[16], delay[24];
	const char *params[5] = { job_id, att, delay, error, not_found ? "true" : "false" };

	snprintf(att, sizeof att, "%d", attempt);
	snprintf(delay, sizeof delay, "%ld", delay_ms < 0 ? 0L : delay_ms);
	return command(s, "dispatch_retry", SQL_DISPATCH_RETRY, 5, params);
}

enum aerr store_claim_due(struct store *s, struct arena *a, int limit, long lease_ms,
		struct dispatch_item **out, size_t *n)
{
	char lim[16], lease[24];
	const char *params[2] = { lim, lease };
	PGresult *res = NULL;
	struct dispatch_item *items;
	int rows, i, oom = 0;
	long v;
	enum aerr rc;

	*out = NULL;
	*n = 0;
	snprintf(lim, sizeof lim, "%d", limit < 1 ? 1 : limit);
	snprintf(lease, sizeof lease, "%ld", lease_ms < 0 ? 0L : lease_ms);
	rc = tx_only(s, "claim_due");
	if (rc)
		return rc;
	rc = sql_exec(s, SQL_CLAIM_DUE, 2, params, &res);
	if (rc)
		return rc;
	rows = PQntuples(res);
	if (rows == 0)
		goto out;
	items = arena_alloc(a, (size_t)rows * sizeof *items);
	if (items == NULL) {
		rc = AE_NOMEM;
		goto out;
	}
	for (i = 0; i < rows; i++) {
		struct dispatch_item *it = &items[i];

		memset(it, 0, sizeof *it);
		snprintf(it->job_id, sizeof it->job_id, "%s", PQgetvalue(res, i, 0));
		if (parse_long(PQgetvalue(res, i, 1), &v) || v < 1 || v > INT_MAX) {
			rc = AE_DB;
			goto out;
		}
		it->attempt = (int)v;
		it->run_id = col(a, res, i, 2, &oom);
		if (parse_long(PQgetvalue(res, i, 3), &v)) {
			rc = AE_DB;
			goto out;
		}
		it->age_s = v;
		if (parse_long(PQgetvalue(res, i, 4), &v) || v < 0 || v > INT_MAX) {
			rc = AE_DB;
			goto out;
		}
		it->tries = (int)v;
		it->last_error = col(a, res, i, 5, &oom);
		it->last_not_found = strcmp(PQgetvalue(res, i, 6), "1") == 0;
	}
	if (oom) {
		rc = AE_NOMEM;
		goto out;
	}
	*out = items;
	*n = (size_t)rows;
out:
	PQclear(res);
	return rc;
}

enum aerr store_next_due_ms(struct store *s, long *ms)
{
	PGresult *res = NULL;
	long v;
	enum aerr rc;

	*ms = -1;
	rc = tx_only(s, "next_due");
	if (rc)
		return rc;
	rc = sql_exec(s, SQL_NEXT_DUE, 0, NULL, &res);
	if (rc)
		return rc;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) && parse_long(PQgetvalue(res, 0, 0), &v) == 0)
		*ms = v < 0 ? 0 : v;
	PQclear(res);
	return AE_OK;
}

enum aerr store_dequeue(struct store *s, const char *job_id, int attempt)
{
	char att[16];
	const char *params[2] = { job_id, att };

	snprintf(att, sizeof att, "%d", attempt);
	return command(s, "dequeue", SQL_DEQUEUE, 2, params);
}

enum aerr store_dispatch_give_up(struct store *s, struct arena *a, const char *job_id,
		int attempt, const char *message, struct job *out)
{
	char att[16];
	const char *params[3] = { job_id, att, message };
	enum aerr rc;

	snprintf(att, sizeof att, "%d", attempt);
	rc = tx_only(s, "dispatch_give_up");
	if (rc)
		return rc;
	rc = exec_one_job(s, a, SQL_DISPATCH_GIVE_UP, 3, params, out);
	return rc == AE_NOT_FOUND ? AE_CONFLICT : rc;
}

enum aerr store_dag_republished(struct store *s, const char *job_id)
{
	const char *params[1] = { job_id };

	return command(s, "dag_republished", SQL_DAG_REPUBLISHED, 1, params);
}

enum aerr store_list_retirable(struct store *s, struct arena *a, long retention_s, int limit,
		struct job **out, size_t *n)
{
	char ret[24], lim[16];
	const char *params[2] = { ret, lim };
	enum aerr rc;

	*out = NULL;
	*n = 0;
	snprintf(ret, sizeof ret, "%ld", retention_s < 0 ? 0L : retention_s);
	snprintf(lim, sizeof lim, "%d", limit < 1 ? 1 : limit);
	rc = tx_only(s, "list_retirable");
	if (rc)
		return rc;
	return exec_jobs(s, a, SQL_LIST_RETIRABLE, 2, params, out, NULL, n);
}

enum aerr store_lock_retirable(struct store *s, const char *job_id, long retention_s)
{
	char ret[24];
	const char *params[2] = { job_id, ret };
	PGresult *res = NULL;
	enum aerr rc;

	if (s->tx != TX_OPEN) {
		log_error("store: lock_retirable outside a transaction");
		return AE_INTERNAL;
	}
	snprintf(ret, sizeof ret, "%ld", retention_s < 0 ? 0L : retention_s);
	rc = sql_exec(s, SQL_LOCK_RETIRABLE, 2, params, &res);
	if (rc == AE_OK && PQntuples(res) == 0)
		rc = AE_NOT_FOUND;
	PQclear(res);
	return rc;
}

enum aerr store_mark_retired(struct store *s, const char *job_id)
{
	const char *params[1] = { job_id };

	if (s->tx != TX_OPEN) {
		log_error("store: mark_retired outside a transaction");
		return AE_INTERNAL;
	}
	return sql_exec(s, SQL_MARK_RETIRED, 1, params, NULL);
}

enum aerr store_touch_sync(struct store *s, const char *job_id, const char *run_id)
{
	const char *params[2] = { job_id, run_id };

	return command(s, "touch_sync", SQL_TOUCH_SYNC, 2, params);
}

/* ---- notifications ------------------------------------------------------ */

enum aerr store_listen(struct store *s)
{
	enum aerr rc = tx_only(s, "listen");

	if (rc == AE_OK)
		rc = run(s, SQL_LISTEN, 0, NULL, NULL, 0);
	if (rc == AE_OK)
		s->listening = 1;
	return rc;
}

enum aerr store_claim_orphans(struct store *s, struct arena *a, int limit, long lease_ms,
		struct orphan **out, size_t *n)
{
	char lim[16], lease[24];
	const char *params[2] = { lim, lease };
	PGresult *res = NULL;
	struct orphan *o;
	long v;
	int rows;
	enum aerr rc;

	*out = NULL;
	*n = 0;
	snprintf(lim, sizeof lim, "%d", limit < 1 ? 1 : limit);
	snprintf(lease, sizeof lease, "%ld", lease_ms < 0 ? 0L : lease_ms);
	rc = tx_only(s, "claim_orphans");
	if (rc == AE_OK)
		rc = sql_exec(s, SQL_CLAIM_ORPHANS, 2, params, &res);
	if (rc)
		return rc;
	rows = PQntuples(res);
	o = rows ? arena_alloc(a, (size_t)rows * sizeof *o) : NULL;
	if (rows && !o)
		rc = AE_NOMEM;
	for (int i = 0; rc == AE_OK && i < rows; i++) {
		snprintf(o[i].job_id, sizeof o[i].job_id, "%s", PQgetvalue(res, i, 0));
		if (parse_long(PQgetvalue(res, i, 1), &v) || v < 1 || v > INT_MAX)
			rc = AE_DB;
		else
			o[i].attempt = (int)v;
		if (rc == AE_OK && (parse_long(PQgetvalue(res, i, 2), &v) || v < 0 || v > INT_MAX))
			rc = AE_DB;
		else
			o[i].tries = (int)v;
	}
	PQclear(res);
	if (rc == AE_OK) {
		*out = o;
		*n = (size_t)rows;
	}
	return rc;
}

enum aerr store_orphan_done(struct store *s, const char *job_id, int attempt)
{
	char att[16];
	const char *params[2] = { job_id, att };

	snprintf(att, sizeof att, "%d", attempt);
	return command(s, "orphan_done", SQL_ORPHAN_DONE, 2, params);
}

/* Consume every notification libpq has read: 1 if there was any. */
static int drain_notifies(PGconn *conn)
{
	int got = 0;
	PGnotify *note = PQnotifies(conn);

	while (note != NULL) {
		got = 1;
		PQfreemem(note);
		note = PQnotifies(conn);
	}
	return got;
}

int store_wait(struct store *s, long timeout_ms)
{
	struct pollfd pfd;
	int sock;

	if (!conn_ok(s))
		return -1;
	/* Anything already read with an earlier result? */
	PQconsumeInput(s->conn);
	if (drain_notifies(s->conn))
		return 1;
	sock = PQsocket(s->conn);
	if (sock < 0)
		return -1;
	pfd.fd = sock;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms) <= 0)
		return 0;   /* timeout, or a signal: the caller looks at its flags */
	if (!PQconsumeInput(s->conn)) {
		log_pq(LOG_WARN, "wait", PQerrorMessage(s->conn));
		return -1;
	}
	return drain_notifies(s->conn);
}

/* After a conditional UPDATE matched nothing: gone, or just not allowed? */
static enum aerr missing_or_conflict(struct store *s, const char *job_id)
{
	const char *params[1] = { job_id };
	PGresult *res = NULL;
	enum aerr rc = sql_exec(s, SQL_EXISTS, 1, params, &res);

	if (rc)
		return rc;
	rc = PQntuples(res) > 0 ? AE_CONFLICT : AE_NOT_FOUND;
	PQclear(res);
	return rc;
}

enum aerr store_reconcile(struct store *s, struct arena *a, const char *job_id,
		const char *run_id, enum job_status from, enum job_status to, const char *mlflow_run_id,
		const char *error_message, struct job *out)
{
	const char *params[6];
	enum aerr rc;

	if ((unsigned)to >= ST__MAX || (unsigned)from >= ST__MAX || run_id == NULL) {
		log_error("store: reconcile with a bad status or no run id");
		return AE_INTERNAL;
	}
	if (job_id == NULL || !uuid_valid(job_id))
		return AE_CONFLICT;
	rc = store_ensure(s);
	if (rc)
		return rc;
	params[0] = job_id;
	params[1] = run_id;
	params[2] = status_str(to);
	params[3] = mlflow_run_id;
	params[4] = error_message;
	params[5] = status_str(from);
	rc = exec_one_job(s, a, SQL_RECONCILE, 6, params, out);
	return rc == AE_NOT_FOUND ? AE_CONFLICT : rc;
}

enum aerr store_write_back(struct store *s, struct arena *a, const char *job_id,
		enum job_status to, const char *run_id, const char *mlflow_run_id,
		const char *registered_model_name, const char *error_message, struct job *out)
{
	const char *from[ST__MAX];
	const char *params[7];
	PGresult *res = NULL;
	size_t nfrom = 0;
	int st;
	enum aerr rc;

	if ((unsigned)to >= ST__MAX) {
		log_error("store: write-back to an out-of-range status");
		return AE_INTERNAL;
	}
	if (job_id == NULL || !uuid_valid(job_id))
		return AE_NOT_FOUND;
	for (st = 0; st < ST__MAX; st++)
		if (status_writeback_ok((enum job_status)st, to))
			from[nfrom++] = status_str((enum job_status)st);
	params[0] = job_id;
	params[1] = status_str(to);
	params[2] = array_literal(a, from, nfrom);
	params[3] = mlflow_run_id;
	params[4] = registered_model_name;
	params[5] = error_message;
	params[6] = run_id;
	if (params[2] == NULL)
		return AE_NOMEM;
	rc = store_ensure(s);
	if (rc)
		return rc;
	rc = sql_exec(s, SQL_WRITE_BACK, 7, params, &res);
	if (rc)
		goto out;
	if (PQntuples(res) == 0)
		rc = missing_or_conflict(s, job_id);
	else
		rc = row_to_job(a, res, 0, out, NULL);
out:
	PQclear(res);
	return rc;
}
