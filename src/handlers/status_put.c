/* status_put.c - PUT /api/automl/train/jobs/{job_id}/status: the DAG's
 * write-back, authenticated by the Authorization-PSK header. Parses the body
 * and maps the outcome of service_write_back() (which applies only the
 * transitions of status_writeback_ok(); the same terminal news twice is 200). */
#include <stdio.h>
#include <string.h>
#include "../lim.h"
#include "../service.h"
#include "handlers.h"

enum { WB_STATUS, WB_MLFLOW_RUN_ID, WB_MODEL, WB_ERROR, WB_RUN_ID, WB__MAX };

static const struct vfield news_fields[WB__MAX] = {
	[WB_STATUS] = { "status", V_ENUM, 1, .spell = &status_spelling },
	[WB_MLFLOW_RUN_ID] = { "mlflow_run_id", V_STRING, 0, .hi = LIM_WRITEBACK_NAME },
	[WB_MODEL] = { "registered_model_name", V_STRING, 0, .hi = LIM_WRITEBACK_NAME },
	[WB_ERROR] = { "error_message", V_STRING, 0, .hi = LIM_WRITEBACK_ERROR },
	[WB_RUN_ID] = { "airflow_dag_run_id", V_STRING, 0, .hi = LIM_AIRFLOW_ID },
};

/* The validated body in *wb (strings in the arena); AE_VALIDATION: entries in detail. */
static enum aerr parse_body(struct request *r, struct write_back *wb, json_object *detail)
{
	struct vval v[WB__MAX];
	enum aerr rc = valid_body(r->arena, r->body, r->body_len, news_fields, WB__MAX, NULL, v, detail);

	if (rc)
		return rc;
	wb->to = (enum job_status)v[WB_STATUS].i;
	wb->mlflow_run_id = v[WB_MLFLOW_RUN_ID].s;
	wb->registered_model_name = v[WB_MODEL].s;
	wb->error_message = v[WB_ERROR].s;
	wb->run_id = v[WB_RUN_ID].s;
	return AE_OK;
}

void handle_status_put(struct request *r)
{
	struct write_back wb = { .to = ST__MAX };
	struct job job = { .sync_age_s = -1 };
	json_object *detail;
	enum aerr rc;

	if (!service_psk_ok(r->svc, r->authorization_psk)) {
		http_respond_error(r, AE_UNAUTHORIZED, r->authorization_psk && *r->authorization_psk
				? "invalid Authorization-PSK" : "missing Authorization-PSK header");
		return;
	}
	if (need_job_id(r))
		return;
	rc = http_read_json_body(r);
	if (rc) {
		if (rc == AE_VALIDATION)
			http_respond_invalid(r, "body", NULL, "could not read the request body", "body_read");
		else
			http_respond_error(r, rc, NULL);
		return;
	}
	detail = json_object_new_array();
	rc = detail ? parse_body(r, &wb, detail) : AE_NOMEM;
	if (rc == AE_VALIDATION) {
		http_respond_validation(r, detail);
		return;
	}
	json_object_put(detail);
	if (rc) {
		http_respond_error(r, rc, NULL);
		return;
	}
	if (need_db(r))
		return;
	rc = service_write_back(r->svc, r->arena, r->job_id, &wb, &job);
	if (rc == AE_CONFLICT) {
		char msg[160];
		snprintf(msg, sizeof(msg), "job is %s; it cannot become %s", status_str(job.status),
				status_str(wb.to));
		http_respond_error(r, rc, msg);
		return;
	}
	if (rc) {
		http_respond_error(r, rc, NULL);
		return;
	}
	respond_job(r, 200, &job, NULL);
}
