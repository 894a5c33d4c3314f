/* create.c - POST /api/automl/train/jobs: validate the body, render the DAG,
 * store the job and publish its DAG in one transaction (never one without the
 * other), then trigger it unless "auto_trigger": false. */
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>
#include "../buf.h"
#include "../dag.h"
#include "../log.h"
#include "../service.h"
#include "handlers.h"

#define MAX_DAG (1024 * 1024)

/* Insert the job and publish its DAG; both or neither. */
static enum aerr store_and_publish(struct request *r, struct job *job)
{
	struct store *st = r->svc->store;
	enum aerr rc;

	rc = store_begin(st);
	if (rc)
		return rc;
	rc = store_insert_job(st, r->arena, job);
	if (rc)
		goto fail;
	rc = dag_publish(&r->svc->cfg, job->airflow_dag_id, job->rendered_dag, strlen(job->rendered_dag));
	if (rc)
		goto fail;
	rc = store_commit(st);
	if (rc) {
		dag_unpublish(&r->svc->cfg, job->airflow_dag_id);
		return rc;
	}
	return AE_OK;
fail:
	store_rollback(st);
	return rc;
}

void handle_create(struct request *r)
{
	struct job_spec spec;
	struct job job;
	struct buf dag;
	json_object *detail = NULL;
	char id[37], location[128];
	uuid_t uu;
	enum aerr rc;

	if (need_auth(r))
		return;
	rc = http_read_json_body(r);
	if (rc == AE_VALIDATION) {
		http_respond_invalid(r, "body", NULL, "could not read the request body", "body_read");
		return;
	}
	if (rc) {
		http_respond_error(r, rc, NULL);
		return;
	}
	rc = job_spec_parse(r->arena, r->body, r->body_len, &spec, &detail);
	if (rc == AE_VALIDATION) {
		http_respond_validation(r, detail);
		return;
	}
	if (rc) {
		http_respond_error(r, rc, NULL);
		return;
	}
	if (!principal_may_access(&r->principal, spec.domain)) {
		http_respond_error(r, AE_FORBIDDEN, NULL);
		return;
	}

	uuid_generate_random(uu);
	uuid_unparse_lower(uu, id);
	job_init_from_spec(r->arena, &job, &spec, id, r->principal.sub, r->svc->cfg.airflow_ui_url);
	if (!job.airflow_dag_id || !job.mlflow_experiment_name || !job.registered_model_name) {
		http_respond_error(r, AE_NOMEM, NULL);
		return;
	}
	buf_init(&dag, MAX_DAG);
	rc = dag_render(&r->svc->cfg, &job, &dag);
	if (rc == AE_OK) {
		job.rendered_dag = arena_strndup(r->arena, dag.data ? dag.data : "", dag.len);
		if (!job.rendered_dag)
			rc = AE_NOMEM;
	}
	buf_free(&dag);
	if (rc) {
		http_respond_error(r, rc, NULL);
		return;
	}

	if (need_db(r))
		return;
	rc = store_and_publish(r, &job);
	if (rc) {
		http_respond_error(r, rc, NULL);
		return;
	}
	log_info("job %s created by %s in domain %s (dag %s)", job.job_id, job.owner, job.domain,
			job.airflow_dag_id);

	if (spec.auto_trigger) {
		struct job after = { .sync_age_s = -1 };
		/* A failed trigger leaves the job ready with error_message saying why;
		 * the job exists either way, so the answer is still 201. */
		rc = service_trigger(r->svc, r->arena, job.job_id, &r->principal, &after);
		if (rc == AE_OK || after.job_id[0])
			job = after;
	}
	snprintf(location, sizeof(location), "Location: /api/automl/train/jobs/%s\r\n", job.job_id);
	respond_job(r, 201, &job, location);
}
