/* trigger.c - POST /api/automl/train/jobs/{job_id}/trigger, the seed
 * endpoint: ready (or failed, as a retry) -> queued, whatever Airflow is
 * doing; the run is started now or by the dispatcher, exactly once. The flow
 * is service_trigger(); this maps its outcome to HTTP. */
#include <stdio.h>
#include "../service.h"
#include "handlers.h"

void handle_trigger(struct request *r)
{
	struct job job = { .sync_age_s = -1 };
	enum aerr rc;

	if (need_auth(r) || need_job_id(r) || need_db(r))
		return;
	rc = service_trigger(r->svc, r->arena, r->job_id, &r->principal, &job);
	if (rc == AE_OK) {
		respond_job(r, 200, &job, NULL);
		return;
	}
	if (rc == AE_CONFLICT) {
		char detail[160];
		snprintf(detail, sizeof(detail), "job is %s; only a ready or failed job can be triggered",
				status_str(job.status));
		http_respond_error(r, rc, detail);
		return;
	}
	http_respond_error(r, rc, NULL);
}
