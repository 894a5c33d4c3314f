/* mlflow.c - finds a job's MLflow run by its tags (experiments/get-by-name,
 * then runs/search), for reconciliation when a DAG could not write back.
 * Request bodies are built with json-c; the transport is httpc's. Must not
 * fail a job: every trouble is "could not ask" (-1), logged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include "buf.h"
#include "httpc.h"
#include "job.h"
#include "lim.h"
#include "log.h"
#include "mlflow.h"

struct mlflow {
	struct httpc *http;   /* owned */
};

static const struct httpc_peer peer = { "MLflow", "AUTOML_MLFLOW_TRACKING_URI", "mlflow" };

#define API "/api/2.0/mlflow"   /* MLflow's REST API under the tracking URI */

struct mlflow *mlflow_new(const struct config *cfg)
{
	struct mlflow *m;
	const char *uri = cfg->mlflow_tracking_uri;

	if (!uri || (strncmp(uri, "http://", 7) != 0 && strncmp(uri, "https://", 8) != 0))
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	/* MLflow has no timeout keys of its own: Airflow's apply (AUTOML_AIRFLOW_*TIMEOUT_MS) */
	m->http = httpc_new(&peer, uri, cfg->airflow_connect_timeout_ms, cfg->airflow_timeout_ms);
	if (!m->http) {
		free(m);
		return NULL;
	}
	return m;
}

void mlflow_free(struct mlflow *m)
{
	if (!m)
		return;
	httpc_free(m->http);
	free(m);
}

static int safe_token(const char *s)
{
	if (!s || !*s || strlen(s) > LIM_AIRFLOW_ID)
		return 0;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.~:+-", *s))
			return 0;
	return 1;
}

/* GET (body NULL) or POST a JSON body to {uri}{path}.
 * Returns the answer if it is a JSON object (caller puts), else NULL; *status
 * is the HTTP status, 0 when MLflow did not answer (httpc logged why). */
static json_object *call(struct mlflow *m, const char *path, const char *what,
		const char *body, long *status)
{
	struct httpc_req rq = { body ? "POST" : "GET", path, NULL, body, body ? strlen(body) : 0, what };
	char err[256];

	if (httpc_perform(m->http, &rq, status, err, sizeof(err)))
		return NULL;
	return httpc_answer_object(m->http);
}

int mlflow_find_run(struct mlflow *m, const char *experiment, const char *job_id,
		const char *dag_run_id, char *run_id, size_t run_id_len)
{
	json_object *ans = NULL, *req = NULL, *ids, *v, *runs, *run;
	char *esc = NULL, filter[600];
	const char *exp_id, *body;
	struct buf path;
	long status;
	int rc = -1;

	if (!m || !experiment || !uuid_valid(job_id) || !safe_token(dag_run_id))
		return -1;
	buf_init(&path, LIM_PEER_PATH);
	esc = httpc_escape(m->http, experiment);
	if (!esc || buf_printf(&path, API "/experiments/get-by-name?experiment_name=%s", esc))
		goto out;
	ans = call(m, path.data, "the experiment lookup", NULL, &status);
	if (status == 404) {
		rc = 0;   /* no experiment: the DAG never logged */
		goto out;
	}
	if (!ans || status != 200 || !json_object_object_get_ex(ans, "experiment", &v) ||
	    !json_object_object_get_ex(v, "experiment_id", &v)) {
		log_warn("mlflow: experiment lookup answered %ld", status);
		goto out;
	}
	exp_id = json_object_get_string(v);
	req = json_object_new_object();
	ids = json_object_new_array();
	if (!req || !ids) {
		json_object_put(ids);
		goto out;
	}
	json_object_array_add(ids, json_object_new_string(exp_id));
	json_object_object_add(req, "experiment_ids", ids);
	snprintf(filter, sizeof(filter), "tags.automl_job_id = '%s' and tags.automl_dag_run_id = '%s'",
			job_id, dag_run_id);
	json_object_object_add(req, "filter", json_object_new_string(filter));
	json_object_object_add(req, "max_results", json_object_new_int(1));
	ids = json_object_new_array();
	if (ids)
		json_object_array_add(ids, json_object_new_string("attributes.start_time DESC"));
	json_object_object_add(req, "order_by", ids);
	json_object_put(ans);
	body = json_object_to_json_string(req);
	ans = body ? call(m, API "/runs/search", "the run search", body, &status) : NULL;
	if (!ans || status != 200) {
		log_warn("mlflow: runs/search answered %ld", status);
		goto out;
	}
	rc = 0;
	run = json_object_object_get_ex(ans, "runs", &runs) && json_object_array_length(runs) > 0
		? json_object_array_get_idx(runs, 0) : NULL;
	if (run && json_object_object_get_ex(run, "info", &v) &&
	    json_object_object_get_ex(v, "run_id", &v)) {
		snprintf(run_id, run_id_len, "%s", json_object_get_string(v));
		rc = 1;
	}
out:
	json_object_put(ans);
	json_object_put(req);
	curl_free(esc);
	buf_free(&path);
	return rc;
}
