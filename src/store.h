/* store.h - every SQL statement of the service (PostgreSQL via libpq).
 * Knows PostgreSQL, not HTTP. Parameterised statements only. One connection
 * per process, checked and re-established by store_ensure() before use.
 * Strings of returned jobs are allocated from the caller's arena. */
#ifndef AUTOML_STORE_H
#define AUTOML_STORE_H
#include <stddef.h>
#include "arena.h"
#include "errors.h"
#include "job.h"

struct store;

struct store *store_new(const char *conninfo);   /* copies conninfo; does not connect yet; caller frees */
void store_free(struct store *s);
/* statement_timeout of the session (default 10000 ms; 0 = none); applies from the next (re)connect. */
void store_set_timeout_ms(struct store *s, int ms);

/* Connect, or reconnect a broken connection. AE_OK or AE_DB_UNAVAILABLE.
 * Every statement function calls it itself. Inside a transaction it never
 * reconnects: if the connection died there, everything answers
 * AE_DB_UNAVAILABLE until store_rollback(). A transaction left open by a
 * caller outside store_begin/store_claim is rolled back here. */
enum aerr store_ensure(struct store *s);
enum aerr store_ping(struct store *s);

/* Create or upgrade the schema; idempotent. from, to: schema versions before and after. */
enum aerr store_migrate(struct store *s, int *from, int *to);
/* The schema version this program's migrations lead to. */
int store_schema_version(void);

/* Plain transactions, for create (insert + publish the DAG + commit).
 * store_begin inside a transaction is AE_INTERNAL. store_commit failing rolls
 * back (AE_DB, or AE_DB_UNAVAILABLE if the connection died). store_rollback is
 * always safe to call, also with no transaction open. */
enum aerr store_begin(struct store *s);
enum aerr store_commit(struct store *s);
void store_rollback(struct store *s);

/* Insert a new job (status from job->status). job->job_id empty = let the
 * database pick one. On AE_OK *job is reloaded from the row (created_at,
 * updated_at, ids; strings then live in a). Duplicate id/dag id: AE_CONFLICT. */
enum aerr store_insert_job(struct store *s, struct arena *a, struct job *job);

/* AE_NOT_FOUND also for a job_id that is not a uuid. */
enum aerr store_get_job(struct store *s, struct arena *a, const char *job_id, struct job *out);

struct job_filter {
	const char *domain, *owner;       /* NULL = any */
	int status, problem_type, algorithm;  /* -1 = any */
	const char *const *domains;       /* visibility; NULL = all (admin) */
	size_t ndomains;
	int limit;                        /* 1..200 */
	const char *after_created_at;     /* keyset cursor, both NULL = first page; */
	const char *after_job_id;         /* after_created_at must be a key from
	                                     store_list_jobs_keyed (microseconds) */
};
/* Newest first (created_at DESC, job_id DESC). Returns at most limit+1 rows so
 * the caller can tell whether there is a next page. *out is an arena array.
 * A malformed cursor (only one half set, not a uuid / key) is AE_VALIDATION;
 * limit or enums out of range are AE_INTERNAL. */
enum aerr store_list_jobs(struct store *s, struct arena *a, const struct job_filter *f,
		struct job **out, size_t *n);
/* The same, and *keys (arena array of *n strings, keys may be NULL) gets each
 * row's created_at at full precision, "2023-11-07T05:31:56.123456Z": job.created_at
 * has whole seconds only, so a next-page cursor must be built from
 * (keys[limit-1], out[limit-1].job_id), never from job.created_at. */
enum aerr store_list_jobs_keyed(struct store *s, struct arena *a, const struct job_filter *f,
		struct job **out, const char ***keys, size_t *n);

/* Jobs by id, in the order asked (unknown ids are simply absent, duplicates
 * answered once). An id that is not a uuid: AE_VALIDATION. */
enum aerr store_get_jobs(struct store *s, struct arena *a, const char *const *ids, size_t nids,
		struct job **out, size_t *n);

/* Every queued/running job, for automl-ctl sync. */
enum aerr store_list_active(struct store *s, struct arena *a, struct job **out, size_t *n);

/* Trigger claim: BEGIN; SELECT ... FOR UPDATE NOWAIT. AE_NOT_FOUND, or AE_BUSY
 * when another transaction holds the row (both roll back). On AE_OK the
 * transaction stays open: finish with store_claim_finish or store_rollback. */
enum aerr store_claim(struct store *s, struct arena *a, const char *job_id, struct job *out);
/* In the claim's transaction: status=queued, airflow_dag_run_id=run_id,
 * trigger_attempts=attempt, error_message/mlflow_run_id cleared; COMMIT. */
enum aerr store_claim_finish(struct store *s, struct arena *a, const char *job_id,
		const char *run_id, int attempt, struct job *out);

/* Record what went wrong, status untouched (own statement, outside any claim:
 * inside a transaction it is AE_INTERNAL, since a rollback would lose it).
 * AE_NOT_FOUND if there is no such job. */
enum aerr store_set_error(struct store *s, const char *job_id, const char *message);

/* Reconciliation result for the job's current run: conditional on
 * status IN (queued, running) AND airflow_dag_run_id = run_id. Also stamps
 * last_synced_at. to == current status just stamps. mlflow_run_id and
 * error_message may be NULL (kept as is). AE_CONFLICT if the row no longer matches. */
enum aerr store_reconcile(struct store *s, struct arena *a, const char *job_id,
		const char *run_id, enum job_status to, const char *mlflow_run_id,
		const char *error_message, struct job *out);

/* DAG write-back: one conditional UPDATE allowed only from the statuses that
 * status_writeback_ok() allows for `to` (and, when run_id is non-NULL, only
 * for that run). NULL fields are kept. AE_NOT_FOUND or AE_CONFLICT otherwise. */
enum aerr store_write_back(struct store *s, struct arena *a, const char *job_id,
		enum job_status to, const char *run_id, const char *mlflow_run_id,
		const char *registered_model_name, const char *error_message, struct job *out);

/* Test hook: make the Nth statement from now fail as if the server went away
 * (0 = never): AE_DB_UNAVAILABLE, and the connection is closed so the next
 * store_ensure reconnects. Process-wide; ROLLBACK and session set-up do not count. */
void store_fail_after(long n);

#endif
