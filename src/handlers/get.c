/* get.c - GET /api/automl/train/jobs/{job_id}: one job the caller may see,
 * its status reconciled with Airflow when it is queued or running. */
#include "../service.h"
#include "handlers.h"

void handle_get(struct request *r)
{
	struct job job;

	if (need_auth(r) || need_job_id(r) || need_db(r) || need_visible_job(r, &job))
		return;
	service_reconcile(r->svc, r->arena, &job, 0);
	respond_job(r, 200, &job, NULL);
}
