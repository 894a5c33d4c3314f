/* status_put.c - PUT /api/automl/train/jobs/{job_id}/status: the DAG's
 * write-back, authenticated by the Authorization-PSK header. Parses the body
 * and maps the outcome of service_write_back() (which applies only the
 * transitions of status_writeback_ok(); the same terminal news twice is 200). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "../lim.h"
#include "../service.h"
#include "handlers.h"

/* Optional string member copied into the arena (NULL when absent or bad). */
static const char *opt_string(json_object *root, const char *field, size_t max,
		json_object *detail, struct arena *a)
{
	int present;
	const char *v = body_string(root, field, 0, max, detail, &present);

	return v ? arena_strdup(a, v) : NULL;
}

/* The validated body in *wb; returns the (possibly empty) error list, or NULL
 * when out of memory. */
static json_object *parse_body(struct request *r, struct write_back *wb)
{
	static const char *const known[] = { "status", "mlflow_run_id", "registered_model_name",
		"error_message", "airflow_dag_run_id" };
	json_object *root, *detail = json_object_new_array();
	const char *s;
	int present;

	if (!detail)
		return NULL;
	root = body_object_parse(r->body, r->body_len, known, sizeof(known) / sizeof(known[0]), detail);
	if (!root) {
		if (json_object_array_length(detail) == 0) {
			json_object_put(detail);
			return NULL;
		}
		return detail;
	}
	s = body_string(root, "status", 1, SIZE_MAX, detail, &present);
	if (s && status_parse(s, &wb->to))
		detail_add(detail, "body", "status", "Input should be 'ready', 'queued', 'running', "
				"'complete' or 'failed'", "enum");
	wb->mlflow_run_id = opt_string(root, "mlflow_run_id", LIM_WRITEBACK_NAME, detail, r->arena);
	wb->registered_model_name = opt_string(root, "registered_model_name", LIM_WRITEBACK_NAME,
			detail, r->arena);
	wb->error_message = opt_string(root, "error_message", LIM_WRITEBACK_ERROR, detail, r->arena);
	wb->run_id = opt_string(root, "airflow_dag_run_id", LIM_AIRFLOW_ID, detail, r->arena);
	json_object_put(root);
	return detail;
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
	detail = parse_body(r, &wb);
	if (!detail) {
		http_respond_error(r, AE_NOMEM, NULL);
		return;
	}
	if (json_object_array_length(detail) > 0) {
		http_respond_validation(r, detail);
		return;
	}
	json_object_put(detail);
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
