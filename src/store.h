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
 * caller outside store_begin/store_commit is rolled back here. */
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
	int limit;                        /* 1..LIM_LIST_MAX */
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

/* Queued/running jobs (oldest sync first). stale_s >= 0: only those not synced
 * for stale_s seconds whose run was dispatched (the dispatcher's reconcile
 * pass); -1: all of them (automl-ctl sync). limit <= 0: no limit. */
enum aerr store_list_active(struct store *s, struct arena *a, long stale_s, int limit,
		struct job **out, size_t *n);

/* ---- trigger and dispatch (none of these may run inside a transaction,
 * except store_enqueue, which belongs inside create's) ---------------------- */

/* The channel the dispatchers LISTEN on; every enqueue NOTIFYs it. */
#define STORE_DISPATCH_CHANNEL "automl_dispatch"

/* The trigger, one statement and one commit: ready/failed -> queued with
 * trigger_attempts + 1 and run id run_prefix || attempt, error and MLflow run
 * cleared, the outbox row (due after grace_ms) and the NOTIFY. domains: the
 * caller's visible domains (NULL = all). AE_NOT_FOUND (no such job, or not
 * visible), AE_CONFLICT (*out->status is the status that forbade it). */
enum aerr store_trigger(struct store *s, struct arena *a, const char *job_id,
		const char *const *domains, size_t ndomains, const char *run_prefix, long grace_ms,
		struct job *out);
/* Inside create's transaction: the outbox row of an attempt plus the NOTIFY. */
enum aerr store_enqueue(struct store *s, const char *job_id, int attempt, const char *run_id,
		long grace_ms);

/* One outbox row, as a dispatcher took it. Strings in the arena. */
struct dispatch_item {
	char job_id[37];
	int attempt;
	const char *run_id;
	long age_s;              /* seconds since the attempt was queued */
	int tries;               /* dispatch attempts, this one included */
	const char *last_error;  /* of the previous try, NULL if none */
	int last_not_found;      /* the previous try got Airflow's 404 */
};
/* Take up to limit due rows for lease_ms (no lock stays held). */
enum aerr store_claim_due(struct store *s, struct arena *a, int limit, long lease_ms,
		struct dispatch_item **out, size_t *n);
/* ms until the next row is due (0 = now), -1 when the outbox is empty. */
enum aerr store_next_due_ms(struct store *s, long *ms);
/* Airflow has the run of this attempt: drop the row, stamp dispatched_at.
 * AE_CONFLICT when the job moved on (another attempt, cancelled, ...). */
enum aerr store_mark_dispatched(struct store *s, struct arena *a, const char *job_id,
		int attempt, struct job *out);
/* Not this time: due again in delay_ms, with the reason kept. */
enum aerr store_dispatch_retry(struct store *s, const char *job_id, int attempt,
		long delay_ms, const char *error, int not_found);
/* Drop the row of an attempt that is over. */
enum aerr store_dequeue(struct store *s, const char *job_id, int attempt);
/* Past the deadline: the queued, undispatched attempt fails with message.
 * AE_CONFLICT when the job moved on meanwhile. */
enum aerr store_dispatch_give_up(struct store *s, struct arena *a, const char *job_id,
		int attempt, const char *message, struct job *out);
/* The DAG file of a retired job is in the DAGs folder again. */
enum aerr store_dag_republished(struct store *s, const char *job_id);

/* DAG retention: jobs that ended more than retention_s ago whose DAG file is
 * still published (oldest first). Then, per job, in a transaction:
 * store_lock_retirable (AE_NOT_FOUND: not retirable any more, or held by a
 * trigger right now), remove the file, store_mark_retired, commit. */
enum aerr store_list_retirable(struct store *s, struct arena *a, long retention_s, int limit,
		struct job **out, size_t *n);
enum aerr store_lock_retirable(struct store *s, const char *job_id, long retention_s);
enum aerr store_mark_retired(struct store *s, const char *job_id);

/* A reconcile that could not reach Airflow still stamps last_synced_at. */
enum aerr store_touch_sync(struct store *s, const char *job_id, const char *run_id);

/* LISTEN on STORE_DISPATCH_CHANNEL; every later reconnect of this store
 * listens again by itself. */
enum aerr store_listen(struct store *s);

/* Runs of earlier attempts to mark failed in Airflow: a retry's trigger
 * records (job, attempt - 1) in its statement. Claimed with a lease like the
 * outbox rows; store_orphan_done when it is settled. */
struct orphan {
	char job_id[37];
	int attempt;
	int tries;     /* looks, this one included */
};
enum aerr store_claim_orphans(struct store *s, struct arena *a, int limit, long lease_ms,
		struct orphan **out, size_t *n);
enum aerr store_orphan_done(struct store *s, const char *job_id, int attempt);
/* Wait up to timeout_ms for a notification: 1 notified, 0 timeout or signal,
 * -1 the connection is gone (store_ensure + store_listen again). */
int store_wait(struct store *s, long timeout_ms);

/* Reconciliation result for the job's current run: conditional on the job
 * still being in status `from` (what the caller read) AND on run_id. Also stamps
 * last_synced_at. to == current status just stamps. mlflow_run_id and
 * error_message may be NULL (kept as is). AE_CONFLICT if the row no longer matches. */
enum aerr store_reconcile(struct store *s, struct arena *a, const char *job_id,
		const char *run_id, enum job_status from, enum job_status to, const char *mlflow_run_id,
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
