/* service.c - process-wide context and the flows shared by several entry
 * points: trigger exactly once (claim row, unpause, create the deterministic
 * run, record it, commit) and reconcile a job with its Airflow run. The only
 * module that combines the store and the Airflow client; knows nothing of HTTP. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "log.h"
#include "service.h"

int service_init(struct service *svc, int want_auth, char *err, size_t errlen)
{
	memset(svc, 0, sizeof(*svc));
	if (config_load(&svc->cfg, err, errlen))
		return -1;
	log_set_level((enum log_level)svc->cfg.log_level);
	svc->store = store_new(svc->cfg.database_url);
	if (!svc->store) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (svc->cfg.airflow_url) {
		svc->airflow = airflow_new(&svc->cfg);
		if (!svc->airflow) {
			snprintf(err, errlen, "cannot set up the Airflow client");
			goto fail;
		}
	}
	svc->mlflow = mlflow_new(&svc->cfg);
	if (want_auth && auth_keys_load(&svc->keys, &svc->cfg, err, errlen))
		goto fail;
	return 0;
fail:
	service_free(svc);
	return -1;
}

void service_free(struct service *svc)
{
	auth_keys_free(svc->keys);
	airflow_free(svc->airflow);
	mlflow_free(svc->mlflow);
	store_free(svc->store);
	config_free(&svc->cfg);
	memset(svc, 0, sizeof(*svc));
}

static enum aerr af_to_aerr(enum af_rc rc)
{
	switch (rc) {
	case AF_OK:
	case AF_CONFLICT:
		return AE_OK;
	case AF_TIMEOUT:
		return AE_AIRFLOW_TIMEOUT;
	case AF_UNAVAILABLE:
	case AF_NOT_FOUND:   /* the DAG is not parsed yet: retry later */
		return AE_AIRFLOW_UNAVAILABLE;
	case AF_NOMEM:
		return AE_NOMEM;
	default:
		return AE_AIRFLOW;
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unpause the DAG, waiting (bounded) for Airflow to parse a new DAG file. */
static enum af_rc unpause_when_parsed(struct service *svc, const char *dag_id, char *err, size_t errlen)
{
	long deadline = now_ms() + svc->cfg.airflow_parse_wait_ms;
	enum af_rc rc;

	for (;;) {
		rc = airflow_unpause(svc->airflow, dag_id, err, errlen);
		if (rc != AF_NOT_FOUND || now_ms() >= deadline)
			break;
		sleep_ms(1000);
	}
	if (rc == AF_NOT_FOUND)
		snprintf(err, errlen, "Airflow has not parsed DAG %s yet; trigger again shortly", dag_id);
	return rc;
}

/* Start (or find) run `run_id` of the job's DAG. */
static enum af_rc start_run(struct service *svc, const struct job *job, const char *run_id,
		int attempt, char *err, size_t errlen)
{
	json_object *conf;
	enum af_rc rc;

	rc = unpause_when_parsed(svc, job->airflow_dag_id, err, errlen);
	if (rc != AF_OK)
		return rc;
	conf = json_object_new_object();
	if (!conf)
		return AF_NOMEM;
	json_object_object_add(conf, "automl_job_id", json_object_new_string(job->job_id));
	json_object_object_add(conf, "attempt", json_object_new_int(attempt));
	rc = airflow_trigger(svc->airflow, job->airflow_dag_id, run_id, conf, err, errlen);
	json_object_put(conf);
	if (rc == AF_CONFLICT) {
		log_info("job %s: run %s exists already in Airflow; adopting it", job->job_id, run_id);
		rc = AF_OK;
	}
	return rc;
}

enum aerr service_trigger(struct service *svc, struct arena *a, const char *job_id,
		const struct principal *p, struct job *out)
{
	char err[512] = "";
	const char *run_id;
	int attempt;
	enum af_rc afrc;
	enum aerr rc;

	rc = store_ensure(svc->store);
	if (rc)
		return rc;
	rc = store_claim(svc->store, a, job_id, out);
	if (rc)
		return rc;
	if (p && !principal_may_access(p, out->domain)) {
		store_rollback(svc->store);
		return AE_NOT_FOUND;
	}
	if (!status_triggerable(out->status)) {
		store_rollback(svc->store);
		return AE_CONFLICT;
	}
	if (!svc->airflow) {
		store_rollback(svc->store);
		log_error("trigger of job %s: AUTOML_AIRFLOW_URL is not configured", job_id);
		snprintf(err, sizeof(err), "Airflow is not configured");
		rc = AE_AIRFLOW_UNAVAILABLE;
		goto failed;
	}
	/* A failed earlier attempt that never got recorded reuses its number, so
	 * a run that Airflow did create is found again (409) instead of doubled. */
	attempt = out->trigger_attempts + 1;
	run_id = job_run_id(a, out, attempt);
	if (!run_id) {
		store_rollback(svc->store);
		return AE_NOMEM;
	}
	afrc = start_run(svc, out, run_id, attempt, err, sizeof(err));
	if (afrc != AF_OK) {
		store_rollback(svc->store);
		log_warn("trigger of job %s failed: %s (%s)", job_id, err, af_rc_str(afrc));
		rc = af_to_aerr(afrc);
		goto failed;
	}
	rc = store_claim_finish(svc->store, a, job_id, run_id, attempt, out);
	if (rc) {
		/* The run exists in Airflow; the next trigger adopts it by its id. */
		log_error("job %s: run %s started but not recorded", job_id, run_id);
		store_rollback(svc->store);
		snprintf(err, sizeof(err), "Airflow run %s was started but could not be recorded; "
				"trigger again to adopt it", run_id);
		goto failed;
	}
	return AE_OK;
failed:
	if (store_set_error(svc->store, job_id, err) == AE_OK)
		store_get_job(svc->store, a, job_id, out);
	return rc;
}

void service_reconcile(struct service *svc, struct arena *a, struct job *job, int force)
{
	char state[32], err[512] = "", mlrun[128];
	const char *msg = NULL, *mlflow_run_id = NULL;
	enum job_status to;
	enum af_rc rc;
	struct job after;

	if (job->status != ST_QUEUED && job->status != ST_RUNNING)
		return;
	if (!job->airflow_dag_run_id || !job->airflow_dag_id || !svc->airflow)
		return;
	if (!force && job->sync_age_s >= 0 && job->sync_age_s < svc->cfg.reconcile_interval_s)
		return;
	rc = airflow_run_state(svc->airflow, job->airflow_dag_id, job->airflow_dag_run_id,
			state, sizeof(state), err, sizeof(err));
	if (rc == AF_NOT_FOUND) {
		to = ST_FAILED;
		msg = arena_printf(a, "Airflow has no run %s of DAG %s", job->airflow_dag_run_id,
				job->airflow_dag_id);
	} else if (rc != AF_OK) {
		log_warn("reconcile job %s: %s (%s)", job->job_id, err, af_rc_str(rc));
		return;
	} else if (strcmp(state, "success") == 0) {
		to = ST_COMPLETE;
		/* The DAG did not report its MLflow run: find it by the job's tags. */
		if (!job->mlflow_run_id && mlflow_find_run(svc->mlflow, job->mlflow_experiment_name,
				job->job_id, job->airflow_dag_run_id, mlrun, sizeof(mlrun)) == 1)
			mlflow_run_id = arena_strdup(a, mlrun);
	} else if (strcmp(state, "failed") == 0) {
		to = ST_FAILED;
		if (!job->error_message)
			msg = arena_printf(a, "Airflow run %s failed", job->airflow_dag_run_id);
	} else if (strcmp(state, "running") == 0) {
		to = ST_RUNNING;
	} else {
		to = job->status;   /* queued (or unknown): never move backwards */
	}
	if (store_reconcile(svc->store, a, job->job_id, job->airflow_dag_run_id, to, mlflow_run_id, msg,
			&after) == AE_OK) {
		if (after.status != job->status)
			log_info("job %s: %s -> %s (Airflow run %s is %s)", job->job_id,
					status_str(job->status), status_str(after.status),
					job->airflow_dag_run_id, rc == AF_OK ? state : "gone");
		*job = after;
	}
}
