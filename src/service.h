/* service.h - the process-wide context (configuration, one PostgreSQL
 * connection, one Airflow handle, the token keys) and the two flows that
 * several entry points share: triggering a job exactly once, and reconciling
 * a job with its Airflow run. Combines adapters; knows nothing of HTTP. */
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
};

/* want_auth: load token keys too (automl-api). Returns 0 or -1 with err set. */
int service_init(struct service *svc, int want_auth, char *err, size_t errlen);
void service_free(struct service *svc);

/* Trigger: claim the job (AE_NOT_FOUND / AE_BUSY), check the principal may see
 * it (AE_NOT_FOUND otherwise; p NULL = no check) and its status allows it
 * (AE_CONFLICT), unpause the DAG, create run {job}/{attempt} (409 = ours,
 * success), record queued + run id, commit. On an Airflow failure the
 * transaction rolls back, error_message is recorded, and the Airflow class of
 * error is returned (AE_AIRFLOW / _UNAVAILABLE / _TIMEOUT). *out is the job after. */
enum aerr service_trigger(struct service *svc, struct arena *a, const char *job_id,
		const struct principal *p, struct job *out);

/* Reconcile one queued/running job with its Airflow run when force is set or
 * its last sync is older than AUTOML_RECONCILE_INTERVAL_S. Updates *job in
 * place. Failures to reach Airflow are logged and leave the job as is. */
void service_reconcile(struct service *svc, struct arena *a, struct job *job, int force);

#endif
