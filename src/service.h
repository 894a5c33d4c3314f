/* service.h - the process-wide context (configuration, one PostgreSQL
 * connection, one Airflow handle, the token keys) and every flow that
 * combines adapters: create, trigger, reconcile, and the dispatcher's pass
 * (start queued runs, adopt or fail orphans, retire old DAG files). The only
 * owner of transaction boundaries; knows nothing of HTTP. */
#ifndef AUTOML_SERVICE_H
#define AUTOML_SERVICE_H
#include "airflow.h"
#include "arena.h"
#include "auth.h"
#include "config.h"
#include "errors.h"
#include "job.h"
#include "mlflow.h"
#include "store.h"

/* Opaque: the configuration, one store connection, the Airflow and MLflow
 * clients and the token keys, owned here. */
struct service;

/* web: the web program (load the token keys; every Airflow call answers a
 * request, so each is capped at AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS). NULL with
 * err set when the configuration is unusable. Caller frees. */
struct service *service_new(int web, char *err, size_t errlen);
void service_free(struct service *svc);
/* The loaded configuration (borrowed, read-only). */
const struct config *service_config(const struct service *svc);

/* ---- reads and checks used by the handlers ------------------------------ */

/* Is the database reachable (connecting if needed)? AE_OK or AE_DB_*. */
enum aerr service_ready(struct service *svc);
/* service_ready plus one round trip (GET /healthz). */
enum aerr service_ping(struct service *svc);
/* Bearer token -> *p (arena strings); AE_UNAUTHORIZED with *why (static text). */
enum aerr service_authenticate(struct service *svc, struct arena *a, const char *authorization,
		struct principal *p, const char **why);
/* The DAG's Authorization-PSK header, checked in constant time. */
int service_psk_ok(const struct service *svc, const char *header);
/* One job the principal may see (AE_NOT_FOUND otherwise, also for a bad id). */
enum aerr service_get_visible(struct service *svc, struct arena *a, const char *job_id,
		const struct principal *p, struct job *out);
/* The list page of store_list_jobs_keyed (see store.h). */
enum aerr service_list(struct service *svc, struct arena *a, const struct job_filter *f,
		struct job **out, const char ***keys, size_t *n);
/* Jobs by id, as store_get_jobs. */
enum aerr service_get_jobs(struct service *svc, struct arena *a, const char *const *ids,
		size_t nids, struct job **out, size_t *n);

/* ---- the DAG's write-back ------------------------------------------------- */

struct write_back {
	enum job_status to;
	const char *run_id;                 /* NULL: not named */
	const char *mlflow_run_id, *registered_model_name, *error_message;  /* NULL: keep */
};
/* Apply the write-back in one conditional statement (status_writeback_ok(),
 * and only for the named run). The same terminal news twice is AE_OK with the
 * job as it is. AE_CONFLICT: out->status is the status that forbade it. */
enum aerr service_write_back(struct service *svc, struct arena *a, const char *job_id,
		const struct write_back *wb, struct job *out);

/* ---- operator commands ------------------------------------------------------ */

enum aerr service_migrate(struct service *svc, int *from, int *to);
/* automl-ctl sync: reconcile every active job once; report(job, before) is
 * called for each job whose status changed. *checked: jobs looked at. */
enum aerr service_sync(struct service *svc, struct arena *a,
		void (*report)(const struct job *job, enum job_status before), size_t *checked);
/* The dispatcher's wake-ups: LISTEN (again after a reconnect), then wait for
 * a NOTIFY up to timeout_ms: 1 notified, 0 timeout or signal, -1 connection lost. */
enum aerr service_listen(struct service *svc);
int service_wait(struct service *svc, long timeout_ms);

/* The one spec -> job + rendered DAG step (create and automl-ctl render-dag):
 * derived names, then the DAG source into job->rendered_dag (arena). */
enum aerr service_render(struct service *svc, struct arena *a, const struct job_spec *spec,
		const char *job_id, const char *owner, struct job *job);

/* Create: render, then in one transaction insert the job (queued with its
 * outbox row when spec->auto_trigger, else ready) and publish its DAG file;
 * commit. Nothing waits for Airflow: the dispatcher starts the run once
 * Airflow has parsed the DAG. *out is the stored job. */
enum aerr service_create(struct service *svc, struct arena *a, const struct job_spec *spec,
		const struct principal *p, struct job *out);

/* Trigger: one statement moves ready/failed -> queued with the next attempt,
 * its fixed run id and the outbox row (AE_NOT_FOUND, also for a job the
 * principal may not see; AE_CONFLICT with out->status set). Then, in a web
 * request, one bounded attempt to start the run; whatever Airflow answers,
 * the result is AE_OK and *out the job as it is now (dispatched_at set when
 * Airflow accepted the run). p NULL = no visibility check. */
enum aerr service_trigger(struct service *svc, struct arena *a, const char *job_id,
		const struct principal *p, struct job *out);

/* Reconcile one queued/running job with its Airflow run when force is set or
 * its last sync is older than AUTOML_RECONCILE_INTERVAL_S: one Airflow call
 * (bounded in a web request). The write is conditional on the status read;
 * a failed call still counts for the throttle. Updates *job in place.
 * Returns 1 when Airflow was asked, 0 when not. */
int service_reconcile(struct service *svc, struct arena *a, struct job *job, int force);

struct dispatch_stats {
	size_t started;     /* runs Airflow accepted (200, or 409 = ours already) */
	size_t retried;     /* attempts put back for later */
	size_t failed;      /* jobs failed at the deadline */
	size_t dropped;     /* outbox rows of attempts that were over */
	size_t orphans;     /* runs of earlier attempts marked failed in Airflow */
	size_t reconciled;  /* active jobs checked */
	size_t retired;     /* DAG files removed */
};

/* Has an Airflow client (AUTOML_AIRFLOW_URL set)? */
int service_has_airflow(const struct service *svc);

/* One pass of the dispatcher: start the runs of due outbox rows; when full,
 * also reconcile active jobs not synced for AUTOML_RECONCILE_INTERVAL_S and
 * retire DAG files past AUTOML_DAG_RETENTION_S (a NOTIFY wakes the dispatcher
 * for the first part only; the timer does the rest). *stop is polled between jobs (SIGTERM).
 * *next_ms: when the outbox has its next due row (-1 none). Returns the first
 * database error (the pass stops there), else AE_OK. a is reset per job. */
enum aerr service_dispatch_pass(struct service *svc, struct arena *a,
		volatile const int *stop, int full, struct dispatch_stats *st, long *next_ms);

#endif
