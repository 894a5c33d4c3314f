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

struct service {
	struct config cfg;
	struct store *store;
	struct airflow *airflow;
	struct mlflow *mlflow;       /* NULL without an http(s) tracking URI */
	struct auth_keys *keys;     /* NULL for automl-ctl */
	int in_request;             /* automl-api: every Airflow call answers a web request, so
	                               each is capped at AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS */
};

/* want_auth: load token keys too, and act as the web program (in_request).
 * Returns 0 or -1 with err set. */
int service_init(struct service *svc, int want_auth, char *err, size_t errlen);
void service_free(struct service *svc);

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

/* One pass of the dispatcher: start the runs of due outbox rows, reconcile
 * active jobs not synced for AUTOML_RECONCILE_INTERVAL_S, retire DAG files
 * past AUTOML_DAG_RETENTION_S. *stop is polled between jobs (SIGTERM).
 * *next_ms: when the outbox has its next due row (-1 none). Returns the first
 * database error (the pass stops there), else AE_OK. a is reset per job. */
enum aerr service_dispatch_pass(struct service *svc, struct arena *a,
		volatile const int *stop, struct dispatch_stats *st, long *next_ms);

#endif
