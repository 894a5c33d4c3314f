/* service.c - process-wide context and every flow that combines adapters:
 * create (insert + publish + outbox in one transaction), trigger (one
 * statement, then one bounded attempt), reconcile, and the dispatcher's pass.
 * No Airflow call is ever made with a transaction open; the fixed run id
 * automl-{job}-a{n} and conditional writes make every step safe to repeat.
 * The only module that combines the store, the DAG folder and the Airflow
 * client; knows nothing of HTTP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>
#include "buf.h"
#include "crash.h"
#include "dag.h"
#include "lim.h"
#include "log.h"
#include "service.h"

#define DISPATCH_BATCH 4            /* outbox rows taken at once (one lease covers them all) */
#define DISPATCH_BATCHES 32         /* per pass, before the other duties get a turn */
#define RECONCILE_BATCH 50          /* active jobs checked per pass */
#define RETIRE_BATCH 50             /* DAG files removed per pass */
#define RETRY_NOT_PARSED_MS 2000    /* Airflow answered 404: ask again this soon */
#define RETRY_MAX_MS 30000          /* longest wait between two tries */
#define REQUEST_GRACE_MS 1000       /* a request's own try gets this head start on dispatchers */

struct service {
	struct config cfg;
	struct store *store;
	struct airflow *airflow;     /* NULL without AUTOML_AIRFLOW_URL */
	struct mlflow *mlflow;       /* NULL without an http(s) tracking URI */
	struct auth_keys *keys;      /* NULL for automl-ctl */
	int in_request;              /* automl-api: Airflow calls are capped per request */
};

struct service *service_new(int web, char *err, size_t errlen)
{
	struct service *svc = calloc(1, sizeof(*svc));

	if (!svc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (config_load(&svc->cfg, err, errlen)) {
		free(svc);
		return NULL;
	}
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
	if (web && auth_keys_load(&svc->keys, &svc->cfg, err, errlen))
		goto fail;
	svc->in_request = web;
	if (svc->in_request && svc->airflow)
		airflow_set_limit_ms(svc->airflow, svc->cfg.airflow_request_timeout_ms);
	return svc;
fail:
	service_free(svc);
	return NULL;
}

void service_free(struct service *svc)
{
	if (!svc)
		return;
	auth_keys_free(svc->keys);
	airflow_free(svc->airflow);
	mlflow_free(svc->mlflow);
	store_free(svc->store);
	config_free(&svc->cfg);
	free(svc);
}

const struct config *service_config(const struct service *svc)
{
	return &svc->cfg;
}

int service_has_airflow(const struct service *svc)
{
	return svc->airflow != NULL;
}

/* ---- reads and checks ------------------------------------------------------ */

enum aerr service_ready(struct service *svc)
{
	return store_ensure(svc->store);
}

enum aerr service_ping(struct service *svc)
{
	return store_ping(svc->store);
}

enum aerr service_authenticate(struct service *svc, struct arena *a, const char *authorization,
		struct principal *p, const char **why)
{
	return auth_authenticate(svc->keys, &svc->cfg, a, authorization, time(NULL), p, why);
}

int service_psk_ok(const struct service *svc, const char *header)
{
	return auth_psk_ok(&svc->cfg, header);
}

enum aerr service_get_visible(struct service *svc, struct arena *a, const char *job_id,
		const struct principal *p, struct job *out)
{
	enum aerr rc = store_get_job(svc->store, a, job_id, out);

	if (rc == AE_OK && p && !principal_may_access(p, out->domain))
		rc = AE_NOT_FOUND;
	return rc;
}

enum aerr service_list(struct service *svc, struct arena *a, const struct job_filter *f,
		struct job **out, const char ***keys, size_t *n)
{
	return store_list_jobs_keyed(svc->store, a, f, out, keys, n);
}

enum aerr service_get_jobs(struct service *svc, struct arena *a, const char *const *ids,
		size_t nids, struct job **out, size_t *n)
{
	return store_get_jobs(svc->store, a, ids, nids, out, n);
}

/* ---- write-back ------------------------------------------------------------ */

enum aerr service_write_back(struct service *svc, struct arena *a, const char *job_id,
		const struct write_back *wb, struct job *out)
{
	struct job now;
	enum aerr rc;

	rc = store_write_back(svc->store, a, job_id, wb->to, wb->run_id, wb->mlflow_run_id,
			wb->registered_model_name, wb->error_message, out);
	if (rc != AE_CONFLICT)
		return rc;
	rc = store_get_job(svc->store, a, job_id, &now);
	if (rc)
		return rc;
	*out = now;
	/* The same terminal news twice (a DAG task retried its report): answered as done. */
	if (now.status == wb->to && (wb->to == ST_COMPLETE || wb->to == ST_FAILED) &&
			(!wb->run_id || (now.airflow_dag_run_id &&
			strcmp(now.airflow_dag_run_id, wb->run_id) == 0)))
		return AE_OK;
	return AE_CONFLICT;
}

/* ---- operator commands ------------------------------------------------------- */

enum aerr service_migrate(struct service *svc, int *from, int *to)
{
	enum aerr rc = store_ensure(svc->store);

	if (rc)
		return rc;
	return store_migrate(svc->store, from, to);
}

enum aerr service_sync(struct service *svc, struct arena *a,
		void (*report)(const struct job *job, enum job_status before), size_t *checked)
{
	struct job *jobs = NULL;
	size_t n = 0;
	enum aerr rc = store_ensure(svc->store);

	*checked = 0;
	if (rc == AE_OK)
		rc = store_list_active(svc->store, a, -1, 0, &jobs, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		enum job_status before = jobs[i].status;

		service_reconcile(svc, a, &jobs[i], 1);
		if (jobs[i].status != before && report)
			report(&jobs[i], before);
	}
	*checked = n;
	return AE_OK;
}

enum aerr service_listen(struct service *svc)
{
	enum aerr rc = store_ensure(svc->store);

	if (rc)
		return rc;
	return store_listen(svc->store);
}

int service_wait(struct service *svc, long timeout_ms)
{
	return store_wait(svc->store, timeout_ms);
}

/* May this process talk to Airflow now? A web program with a request
 * timeout of 0 leaves every Airflow call to the dispatcher. */
static int airflow_usable(const struct service *svc)
{
	return svc->airflow && !(svc->in_request && svc->cfg.airflow_request_timeout_ms == 0);
}

/* ---- create ------------------------------------------------------------ */

enum aerr service_render(struct service *svc, struct arena *a, const struct job_spec *spec,
		const char *job_id, const char *owner, struct job *job)
{
	struct buf dag;
	enum aerr rc;

	job_init_from_spec(a, job, spec, job_id, owner, svc->cfg.airflow_ui_url);
	if (!job->airflow_dag_id || !job->mlflow_experiment_name || !job->registered_model_name)
		return AE_NOMEM;
	buf_init(&dag, LIM_DAG_SOURCE);
	rc = dag_render(&svc->cfg, job, &dag);
	if (rc == AE_OK) {
		job->rendered_dag = arena_strndup(a, dag.data ? dag.data : "", dag.len);
		if (!job->rendered_dag)
			rc = AE_NOMEM;
	}
	buf_free(&dag);
	return rc;
}

enum aerr service_create(struct service *svc, struct arena *a, const struct job_spec *spec,
		const struct principal *p, struct job *out)
{
	struct job job;
	char id[37];
	uuid_t uu;
	enum aerr rc;

	uuid_generate_random(uu);
	uuid_unparse_lower(uu, id);
	rc = service_render(svc, a, spec, id, p->sub, &job);
	if (rc)
		return rc;
	job.sync_age_s = -1;
	if (spec->auto_trigger) {
		job.status = ST_QUEUED;
		job.trigger_attempts = 1;
		job.airflow_dag_run_id = job_run_id(a, &job, 1);
		if (!job.airflow_dag_run_id)
			return AE_NOMEM;
	} else {
		job.status = ST_READY;
	}
	rc = store_begin(svc->store);
	if (rc)
		return rc;
	rc = store_insert_job(svc->store, a, &job);
	if (rc == AE_OK && spec->auto_trigger)
		rc = store_enqueue(svc->store, job.job_id, 1, job.airflow_dag_run_id, 0);
	if (rc == AE_OK)
		rc = dag_publish(&svc->cfg, job.airflow_dag_id, job.rendered_dag, strlen(job.rendered_dag));
	if (rc) {
		store_rollback(svc->store);
		return rc;
	}
	rc = store_commit(svc->store);
	if (rc) {
		/* The commit may have happened with only its answer lost: the file
		 * goes only when the job is certainly not there. */
		struct job probe;
		if (store_get_job(svc->store, a, id, &probe) == AE_NOT_FOUND)
			dag_unpublish(&svc->cfg, job.airflow_dag_id);
		return rc;
	}
	crash_point("create_committed");
	log_info("job %s created by %s in domain %s (dag %s)%s", job.job_id, job.owner, job.domain,
			job.airflow_dag_id, spec->auto_trigger ? ", queued" : "");
	*out = job;
	return AE_OK;
}

/* ---- starting a run ------------------------------------------------------ */

/* Put a retired DAG file back before its run is started. */
static enum aerr republish(struct service *svc, struct job *job)
{
	enum aerr rc;

	if (!job->dag_retired)
		return AE_OK;
	if (!job->rendered_dag)
		return AE_INTERNAL;
	rc = dag_publish(&svc->cfg, job->airflow_dag_id, job->rendered_dag, strlen(job->rendered_dag));
	if (rc == AE_OK)
		rc = store_dag_republished(svc->store, job->job_id);
	if (rc == AE_OK) {
		job->dag_retired = 0;
		log_info("job %s: DAG file %s published again for attempt %d", job->job_id,
				job->airflow_dag_id, job->trigger_attempts);
	}
	return rc;
}

/* Ask Airflow for run `run_id` of the job's DAG; 409 (the run exists: ours)
 * counts as accepted. */
static enum af_rc start_run(struct service *svc, const struct job *job, const char *run_id,
		int attempt, char *err, size_t errlen)
{
	json_object *conf = json_object_new_object();
	enum af_rc rc;

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

/* Airflow accepted the attempt's run: record it (conditional on the
 * attempt); *job becomes the row as it is now. */
static void record_dispatched(struct service *svc, struct arena *a, struct job *job, int attempt)
{
	struct job after;
	enum aerr rc = store_mark_dispatched(svc->store, a, job->job_id, attempt, &after);

	if (rc == AE_OK) {
		*job = after;
		return;
	}
	if (rc == AE_CONFLICT) {   /* the job moved on meanwhile (a write-back, a sync) */
		if (store_get_job(svc->store, a, job->job_id, &after) == AE_OK)
			*job = after;
		(void)store_dequeue(svc->store, job->job_id, attempt);
		return;
	}
	log_warn("job %s: run of attempt %d started, not recorded yet (%s); the dispatcher will adopt it",
			job->job_id, attempt, aerr_info(rc)->message);
}

static long retry_delay_ms(enum af_rc rc, int tries)
{
	long ms = 1000;

	if (rc == AF_NOT_FOUND)
		return RETRY_NOT_PARSED_MS;
	for (int i = 1; i < tries && ms < RETRY_MAX_MS; i++)
		ms *= 2;
	return ms > RETRY_MAX_MS ? RETRY_MAX_MS : ms;
}

/* ---- trigger ------------------------------------------------------------- */

enum aerr service_trigger(struct service *svc, struct arena *a, const char *job_id,
		const struct principal *p, struct job *out)
{
	char err[512] = "";
	const char *prefix = job_run_id_prefix(a, job_id);
	const char *const *domains = NULL;
	size_t ndomains = 0;
	int try_now = airflow_usable(svc) && svc->in_request;
	long grace = try_now ? svc->cfg.airflow_request_timeout_ms + REQUEST_GRACE_MS : 0;
	enum af_rc afrc;
	enum aerr rc;

	if (!prefix)
		return AE_NOMEM;
	if (p && !p->admin) {
		domains = p->domains;
		ndomains = p->ndomains;
		if (ndomains == 0)
			return AE_NOT_FOUND;
	}
	rc = store_trigger(svc->store, a, job_id, domains, ndomains, prefix, grace, out);
	if (rc)
		return rc;
	log_info("job %s: attempt %d queued (run %s)", out->job_id, out->trigger_attempts,
			out->airflow_dag_run_id);
	crash_point("trigger_committed");
	if (!try_now)
		return AE_OK;
	/* One bounded try, no transaction open; the dispatcher does the rest. */
	if (republish(svc, out) != AE_OK) {
		(void)store_dispatch_retry(svc->store, out->job_id, out->trigger_attempts, 0,
				"the DAG file could not be published again", 0);
		return AE_OK;
	}
	afrc = start_run(svc, out, out->airflow_dag_run_id, out->trigger_attempts, err, sizeof(err));
	if (afrc == AF_OK) {
		crash_point("trigger_accepted");
		record_dispatched(svc, a, out, out->trigger_attempts);
		return AE_OK;
	}
	log_info("job %s: Airflow did not take run %s yet (%s); left to the dispatcher",
			out->job_id, out->airflow_dag_run_id, err);
	(void)store_dispatch_retry(svc->store, out->job_id, out->trigger_attempts,
			afrc == AF_NOT_FOUND ? RETRY_NOT_PARSED_MS : 0, err, afrc == AF_NOT_FOUND);
	return AE_OK;
}

/* ---- reconcile ------------------------------------------------------------- */

/* A run that stays queued in Airflow may belong to a paused DAG (an operator
 * paused it, or Airflow pauses new DAGs): unpause only when Airflow says so. */
static void unpause_if_paused(struct service *svc, const struct job *job)
{
	char err[512];
	int paused = 0;

	if (airflow_dag_paused(svc->airflow, job->airflow_dag_id, &paused, err, sizeof(err)) != AF_OK
			|| !paused)
		return;
	if (airflow_unpause(svc->airflow, job->airflow_dag_id, err, sizeof(err)) == AF_OK)
		log_info("job %s: DAG %s was paused; unpaused it", job->job_id, job->airflow_dag_id);
	else
		log_warn("job %s: DAG %s is paused and could not be unpaused: %s", job->job_id,
				job->airflow_dag_id, err);
}

int service_reconcile(struct service *svc, struct arena *a, struct job *job, int force)
{
	char state[32], err[512] = "", mlrun[128];
	const char *msg = NULL, *mlflow_run_id = NULL;
	enum job_status to;
	enum af_rc rc;
	struct job after;

	if (job->status != ST_QUEUED && job->status != ST_RUNNING)
		return 0;
	if (!job->airflow_dag_run_id || !job->airflow_dag_id || !airflow_usable(svc))
		return 0;
	if (!force && job->sync_age_s >= 0 && job->sync_age_s < svc->cfg.reconcile_interval_s)
		return 0;
	/* A queued job whose run nobody started yet belongs to the dispatcher. */
	if (svc->in_request && job->status == ST_QUEUED && !job->dispatched_at)
		return 0;
	rc = airflow_run_state(svc->airflow, job->airflow_dag_id, job->airflow_dag_run_id,
			state, sizeof(state), err, sizeof(err));
	if (rc == AF_NOT_FOUND && job->status == ST_QUEUED && !job->dispatched_at) {
		(void)store_touch_sync(svc->store, job->job_id, job->airflow_dag_run_id);
		return 1;   /* not started yet: the dispatcher's outbox row says so */
	}
	if (rc == AF_NOT_FOUND) {
		to = ST_FAILED;
		msg = arena_printf(a, "Airflow has no run %s of DAG %s", job->airflow_dag_run_id,
				job->airflow_dag_id);
	} else if (rc != AF_OK) {
		log_warn("reconcile job %s: %s (%s)", job->job_id, err, af_rc_str(rc));
		(void)store_touch_sync(svc->store, job->job_id, job->airflow_dag_run_id);
		return 1;
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
		if (!svc->in_request && strcmp(state, "queued") == 0)
			unpause_if_paused(svc, job);
	}
	if (store_reconcile(svc->store, a, job->job_id, job->airflow_dag_run_id, job->status, to,
			mlflow_run_id, msg, &after) == AE_OK) {
		if (after.status != job->status)
			log_info("job %s: %s -> %s (Airflow run %s is %s)", job->job_id,
					status_str(job->status), status_str(after.status),
					job->airflow_dag_run_id, rc == AF_OK ? state : "gone");
		*job = after;
	} else if (store_get_job(svc->store, a, job->job_id, &after) == AE_OK) {
		*job = after;   /* it changed meanwhile (a write-back): show what is stored */
	}
	return 1;
}

/* ---- the dispatcher ------------------------------------------------------------ */

/* A run of an earlier attempt that is still going in Airflow (its answer was
 * lost, or it was started after the attempt was given up) only wastes the
 * workers: mark it failed there. Its write-back would be refused anyway.
 * 1: settled (no such run, already over, or marked failed); 0: ask again later. */
static int fail_orphan(struct service *svc, struct arena *a, const struct job *job, int attempt,
		struct dispatch_stats *st)
{
	char state[32], err[512];
	const char *run_id = job_run_id(a, job, attempt);
	enum af_rc rc;

	if (!run_id)
		return 0;
	rc = airflow_run_state(svc->airflow, job->airflow_dag_id, run_id, state, sizeof(state),
			err, sizeof(err));
	if (rc == AF_NOT_FOUND)
		return 1;
	if (rc != AF_OK)
		return 0;
	if (strcmp(state, "queued") != 0 && strcmp(state, "running") != 0)
		return 1;
	if (airflow_fail_run(svc->airflow, job->airflow_dag_id, run_id, err, sizeof(err)) != AF_OK) {
		log_warn("job %s: orphan run %s could not be marked failed: %s", job->job_id, run_id, err);
		return 0;
	}
	log_info("job %s: orphan run %s of attempt %d was %s; marked it failed", job->job_id,
			run_id, attempt, state);
	st->orphans++;
	return 1;
}

#define ORPHAN_MAX_TRIES 20    /* then the orphan is left to Airflow's own timeouts */

/* The runs of earlier attempts that retries recorded. */
static enum aerr settle_orphans(struct service *svc, struct arena *a, long lease,
		struct dispatch_stats *st)
{
	struct orphan *o = NULL;
	struct job job;
	size_t n = 0;
	enum aerr rc;

	arena_reset(a);
	rc = store_claim_orphans(svc->store, a, DISPATCH_BATCH, lease, &o, &n);
	for (size_t i = 0; rc == AE_OK && i < n; i++) {
		rc = store_get_job(svc->store, a, o[i].job_id, &job);
		if (rc == AE_OK && !fail_orphan(svc, a, &job, o[i].attempt, st) &&
				o[i].tries < ORPHAN_MAX_TRIES)
			continue;   /* the lease brings it back */
		if (rc == AE_OK || rc == AE_NOT_FOUND)
			rc = store_orphan_done(svc->store, o[i].job_id, o[i].attempt);
	}
	return rc;
}

/* Why the run of this attempt could not be started, for error_message. */
static const char *give_up_reason(struct service *svc, struct arena *a, const struct job *job,
		enum af_rc rc, const char *err)
{
	char why[512], e2[256];
	long s = svc->cfg.dispatch_deadline_s;

	if (rc == AF_NOT_FOUND) {
		if (airflow_import_error(svc->airflow, job->airflow_dag_id, why, sizeof(why), e2,
				sizeof(e2)) == AF_OK)
			return arena_printf(a, "Airflow could not load DAG %s: %s", job->airflow_dag_id, why);
		return arena_printf(a, "Airflow did not load DAG %s within %ld s (no import error "
				"recorded; is the DAGs folder shared with Airflow's dag-processor?)",
				job->airflow_dag_id, s);
	}
	return arena_printf(a, "the Airflow run could not be started within %ld s: %s", s, err);
}

static enum aerr dispatch_one(struct service *svc, struct arena *a, const struct dispatch_item *it,
		struct dispatch_stats *st)
{
	char err[512] = "", e2[256], state[32];
	struct job job, after;
	enum af_rc afrc;
	enum aerr rc;

	rc = store_get_job(svc->store, a, it->job_id, &job);
	if (rc == AE_NOT_FOUND) {
		st->dropped++;
		return store_dequeue(svc->store, it->job_id, it->attempt);   /* no job: no row */
	}
	if (rc)
		return rc;
	if (job.status != ST_QUEUED || job.trigger_attempts != it->attempt || job.dispatched_at ||
			!job.airflow_dag_run_id || strcmp(job.airflow_dag_run_id, it->run_id) != 0) {
		st->dropped++;
		return store_dequeue(svc->store, job.job_id, it->attempt);
	}
	rc = republish(svc, &job);
	if (rc == AE_DAG_PUBLISH) {
		afrc = AF_UNAVAILABLE;
		snprintf(err, sizeof(err), "the DAG file could not be published again");
	} else if (rc) {
		return rc;
	} else {
		afrc = start_run(svc, &job, it->run_id, it->attempt, err, sizeof(err));
	}
	if (afrc == AF_OK) {
		crash_point("dispatch_accepted");
		rc = store_mark_dispatched(svc->store, a, job.job_id, it->attempt, &after);
		if (rc == AE_CONFLICT)
			rc = store_dequeue(svc->store, job.job_id, it->attempt);
		if (rc)
			return rc;
		crash_point("dispatch_recorded");
		log_info("job %s: run %s started (try %d, %ld s after it was queued)", job.job_id,
				it->run_id, it->tries, it->age_s);
		st->started++;
		return AE_OK;
	}
	if (it->age_s < svc->cfg.dispatch_deadline_s) {
		st->retried++;
		return store_dispatch_retry(svc->store, job.job_id, it->attempt,
				retry_delay_ms(afrc, it->tries), err, afrc == AF_NOT_FOUND);
	}
	/* Past the deadline. A run that Airflow did make (a lost answer) is adopted. */
	if (airflow_run_state(svc->airflow, job.airflow_dag_id, it->run_id, state, sizeof(state),
			e2, sizeof(e2)) == AF_OK) {
		st->started++;
		rc = store_mark_dispatched(svc->store, a, job.job_id, it->attempt, &after);
		return rc == AE_CONFLICT ? store_dequeue(svc->store, job.job_id, it->attempt) : rc;
	}
	rc = store_dispatch_give_up(svc->store, a, job.job_id, it->attempt,
			give_up_reason(svc, a, &job, afrc, err), &after);
	if (rc == AE_OK) {
		log_warn("job %s: %s", job.job_id, after.error_message ? after.error_message : "failed");
		st->failed++;
	}
	return rc == AE_CONFLICT ? AE_OK : rc;
}

/* Remove the DAG file of one long-finished job; the row lock keeps a trigger
 * of the same job waiting until the file is gone and the row says so (the
 * trigger's dispatch then publishes it again). */
static enum aerr retire_one(struct service *svc, const struct job *job, size_t *retired)
{
	enum aerr rc = store_begin(svc->store);

	if (rc)
		return rc;
	rc = store_lock_retirable(svc->store, job->job_id, svc->cfg.dag_retention_s);
	if (rc == AE_NOT_FOUND) {
		store_rollback(svc->store);
		return AE_OK;
	}
	if (rc == AE_OK) {
		dag_unpublish(&svc->cfg, job->airflow_dag_id);
		rc = store_mark_retired(svc->store, job->job_id);
	}
	if (rc == AE_OK)
		rc = store_commit(svc->store);
	else
		store_rollback(svc->store);
	if (rc == AE_OK) {
		log_info("job %s: DAG file %s retired", job->job_id, job->airflow_dag_id);
		(*retired)++;
	}
	return rc;
}

enum aerr service_dispatch_pass(struct service *svc, struct arena *a,
		volatile const int *stop, int full, struct dispatch_stats *st, long *next_ms)
{
	struct dispatch_item *items = NULL;
	struct job *jobs = NULL;
	size_t n = 0, i;
	/* A lease covers the batch even when every row takes Airflow's slowest
	 * answer (the rows are handled one after another), plus a margin. */
	long lease = DISPATCH_BATCH * (svc->cfg.airflow_connect_timeout_ms + svc->cfg.airflow_timeout_ms)
		+ 5000;
	enum aerr rc = AE_OK;

	*next_ms = -1;
	rc = store_ensure(svc->store);
	if (rc)
		return rc;
	for (int batch = 0; svc->airflow && batch < DISPATCH_BATCHES && !*stop; batch++) {
		arena_reset(a);
		rc = store_claim_due(svc->store, a, DISPATCH_BATCH, lease, &items, &n);
		if (rc || n == 0)
			break;
		crash_point("dispatch_claimed");
		for (i = 0; i < n && !*stop && rc == AE_OK; i++)
			rc = dispatch_one(svc, a, &items[i], st);
		if (rc)
			return rc;
	}
	if (rc)
		return rc;
	if (svc->airflow && !*stop) {
		rc = settle_orphans(svc, a, lease, st);
		if (rc)
			return rc;
	}
	if (full && svc->airflow && !*stop) {
		arena_reset(a);
		rc = store_list_active(svc->store, a, svc->cfg.reconcile_interval_s, RECONCILE_BATCH,
				&jobs, &n);
		if (rc)
			return rc;
		for (i = 0; i < n && !*stop; i++)
			st->reconciled += (size_t)service_reconcile(svc, a, &jobs[i], 1);
	}
	if (full && svc->cfg.dag_retention_s >= 0 && svc->cfg.dags_dir && !*stop) {
		arena_reset(a);
		rc = store_list_retirable(svc->store, a, svc->cfg.dag_retention_s, RETIRE_BATCH, &jobs, &n);
		if (rc)
			return rc;
		for (i = 0; i < n && !*stop && rc == AE_OK; i++)
			rc = retire_one(svc, &jobs[i], &st->retired);
		if (rc)
			return rc;
	}
	arena_reset(a);
	return store_next_due_ms(svc->store, next_ms);
}
