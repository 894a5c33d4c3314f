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

struct store *store_new(const char *conninfo);   /* does not connect yet; caller frees */
void store_free(struct store *s);

/* Connect, or reconnect a broken connection. AE_OK or AE_DB_UNAVAILABLE. */
enum aerr store_ensure(struct store *s);
enum aerr store_ping(struct store *s);

/* Create or upgrade the schema; idempotent. from, to: schema versions before and after. */
enum aerr store_migrate(struct store *s, int *from, int *to);

/* Plain transactions, for create (insert + publish the DAG + commit). */
enum aerr store_begin(struct store *s);
enum aerr store_commit(struct store *s);
void store_rollback(struct store *s);

/* Insert a new job (status from job->status). Fills created_at/updated_at. */
enum aerr store_insert_job(struct store *s, struct arena *a, struct job *job);

enum aerr store_get_job(struct store *s, struct arena *a, const char *job_id, struct job *out);

struct job_filter {
	const char *domain, *owner;       /* NULL = any */
	int status, problem_type, algorithm;  /* -1 = any */
	const char *const *domains;       /* visibility; NULL = all (admin) */
	size_t ndomains;
	int limit;                        /* 1..200 */
	const char *after_created_at;     /* keyset cursor, both NULL = first page */
	const char *after_job_id;
};
/* Newest first (created_at DESC, job_id DESC). Returns at most limit+1 rows so
 * the caller can tell whether there is a next page. *out is an arena array. */
enum aerr store_list_jobs(struct store *s, struct arena *a, const struct job_filter *f,
		struct job **out, size_t *n);

/* Jobs by id (unknown ids are simply absent). */
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

/* Record what went wrong, status untouched (own statement, outside any claim). */
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

/* Test hook: make the Nth statement from now fail as if the server went away (0 = never). */
void store_fail_after(long n);

#endif
