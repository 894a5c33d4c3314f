/* status_bulk.c - GET /api/automl/train/jobs/status?ids=..&ids=.. (comma
 * lists accepted too): statuses of the named jobs the caller may see, as
 * stored; the first one due for a reconcile is refreshed (one bounded Airflow
 * call per request at most; the dispatcher and `automl-ctl sync` refresh the
 * rest). Unknown or invisible ids are listed under "not_found". */
#include <string.h>
#include <strings.h>
#include "../lim.h"
#include "../service.h"
#include "handlers.h"

static json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* Splits every ids= value on commas into ids[], each id once; returns the
 * count, or -1 after writing a 422. */
static long collect_ids(struct request *r, const char **ids)
{
	const char **vals;
	size_t nv = http_query_all(r, "ids", &vals);
	long n = 0;

	for (size_t i = 0; i < nv; i++) {
		char *copy = arena_strdup(r->arena, vals[i]), *save = NULL, *tok;
		if (!copy) {
			http_respond_error(r, AE_NOMEM, NULL);
			return -1;
		}
		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (!uuid_valid(tok)) {
				http_respond_invalid(r, "query", "ids", "Input should be a valid UUID",
						"uuid_parsing");
				return -1;
			}
			int dup = 0;
			for (long k = 0; k < n; k++)
				dup |= strcasecmp(ids[k], tok) == 0;
			if (dup)
				continue;   /* each job is answered once */
			if (n == LIM_STATUS_IDS) {
				http_respond_invalid(r, "query", "ids",
						"At most " LIM_STR(LIM_STATUS_IDS) " ids per request", "too_long");
				return -1;
			}
			ids[n++] = tok;
		}
	}
	if (n == 0) {
		http_respond_invalid(r, "query", "ids", "Field required", "missing");
		return -1;
	}
	return n;
}

void handle_status_bulk(struct request *r)
{
	const char *ids[LIM_STATUS_IDS];
	struct job *jobs = NULL;
	size_t n = 0;
	long nids;
	int asked = 0;   /* at most one Airflow call per request */
	json_object *body, *items, *missing;
	enum aerr rc;

	if (need_auth(r))
		return;
	nids = collect_ids(r, ids);
	if (nids < 0 || need_db(r))
		return;
	rc = service_get_jobs(r->svc, r->arena, ids, (size_t)nids, &jobs, &n);
	if (rc) {
		http_respond_error(r, rc, NULL);
		return;
	}
	body = json_object_new_object();
	items = json_object_new_array();
	missing = json_object_new_array();
	if (!body || !items || !missing) {
		json_object_put(body);
		json_object_put(items);
		json_object_put(missing);
		http_respond_json(r, 503, NULL, NULL);
		return;
	}
	for (long i = 0; i < nids; i++) {
		struct job *j = NULL;
		for (size_t k = 0; k < n; k++)
			if (strcasecmp(jobs[k].job_id, ids[i]) == 0)
				j = &jobs[k];
		if (!j || !principal_may_access(&r->principal, j->domain)) {
			json_object_array_add(missing, json_object_new_string(ids[i]));
			continue;
		}
		if (!asked)
			asked = service_reconcile(r->svc, r->arena, j, 0);
		json_object *o = json_object_new_object();
		if (!o)
			continue;
		json_object_object_add(o, "job_id", json_object_new_string(j->job_id));
		json_object_object_add(o, "status", json_object_new_string(status_str(j->status)));
		json_object_object_add(o, "updated_at", str_or_null(j->updated_at));
		json_object_object_add(o, "error_message", str_or_null(j->error_message));
		json_object_object_add(o, "mlflow_run_id", str_or_null(j->mlflow_run_id));
		json_object_object_add(o, "registered_model_name", str_or_null(j->registered_model_name));
		json_object_object_add(o, "airflow_dag_run_id", str_or_null(j->airflow_dag_run_id));
		json_object_array_add(items, o);
	}
	json_object_object_add(body, "items", items);
	json_object_object_add(body, "not_found", missing);
	http_respond_json(r, 200, body, NULL);
}
