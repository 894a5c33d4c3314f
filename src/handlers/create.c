/* create.c - POST /api/automl/train/jobs: validate the body, check the
 * domain, and let service_create() store the job and publish its DAG in one
 * transaction (queued for the dispatcher unless "auto_trigger": false). */
#include <stdio.h>
#include "../service.h"
#include "handlers.h"

void handle_create(struct request *r)
{
	struct job_spec spec;
	struct job job;
	json_object *detail = NULL;
	char location[128];
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
	if (need_db(r))
		return;
	rc = service_create(r->svc, r->arena, &spec, &r->principal, &job);
	if (rc) {
		http_respond_error(r, rc, NULL);
		return;
	}
	snprintf(location, sizeof(location), "Location: /api/automl/train/jobs/%s\r\n", job.job_id);
	respond_job(r, 201, &job, location);
}
