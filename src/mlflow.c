/* mlflow.c - finds a job's MLflow run by its tags (experiments/get-by-name,
 * then runs/search), for reconciliation when a DAG could not write back.
 * Request bodies are built with json-c; answers capped at 1 MiB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include "buf.h"
#include "job.h"
#include "jsonx.h"
#include "log.h"
#include "mlflow.h"

#define MLFLOW_MAX_BODY (1024 * 1024)

struct mlflow {
	const struct config *cfg;
	CURL *curl;
	struct buf resp;
};

struct mlflow *mlflow_new(const struct config *cfg)
{
	struct mlflow *m;
	const char *uri = cfg->mlflow_tracking_uri;

	if (!uri || (strncmp(uri, "http://", 7) != 0 && strncmp(uri, "https://", 8) != 0))
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->cfg = cfg;
	m->curl = curl_easy_init();
	if (!m->curl) {
		free(m);
		return NULL;
	}
	buf_init(&m->resp, MLFLOW_MAX_BODY);
	return m;
}

void mlflow_free(struct mlflow *m)
{
	if (!m)
		return;
	curl_easy_cleanup(m->curl);
	buf_free(&m->resp);
	free(m);
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;

	return buf_append(b, p, size * n) ? 0 : size * n;
}

static int safe_token(const char *s)
{
	if (!s || !*s || strlen(s) > 250)
		return 0;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.~:+-", *s))
			return 0;
	return 1;
}

/* GET (body NULL) or POST a JSON body to {uri}/api/2.0/mlflow/{path}.
 * Returns the parsed answer (caller puts) or NULL; *status is the HTTP status. */
static json_object *call(struct mlflow *m, const char *path, const char *body, long *status)
{
	struct curl_slist *hdrs = NULL;
	char url[2048];
	CURLcode cc;
	const char *base = m->cfg->mlflow_tracking_uri;
	size_t bl = strlen(base);

	*status = 0;
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	if (snprintf(url, sizeof(url), "%.*s/api/2.0/mlflow/%s", (int)bl, base, path) >= (int)sizeof(url))
		return NULL;
	buf_reset(&m->resp);
	curl_easy_reset(m->curl);
	curl_easy_setopt(m->curl, CURLOPT_URL, url);
	curl_easy_setopt(m->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(m->curl, CURLOPT_CONNECTTIMEOUT_MS, m->cfg->airflow_connect_timeout_ms);
	curl_easy_setopt(m->curl, CURLOPT_TIMEOUT_MS, m->cfg->airflow_timeout_ms);
	curl_easy_setopt(m->curl, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(m->curl, CURLOPT_WRITEDATA, &m->resp);
	curl_easy_setopt(m->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (body) {
		hdrs = curl_slist_append(NULL, "Content-Type: application/json");
		if (!hdrs)
			return NULL;
		curl_easy_setopt(m->curl, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(m->curl, CURLOPT_POSTFIELDS, body);
	}
	cc = curl_easy_perform(m->curl);
	curl_slist_free_all(hdrs);
	if (cc != CURLE_OK) {
		log_warn("mlflow: %s failed: %s", path, curl_easy_strerror(cc));
		return NULL;
	}
	curl_easy_getinfo(m->curl, CURLINFO_RESPONSE_CODE, status);
	return jsonx_object(m->resp.data, m->resp.len);
}

int mlflow_find_run(struct mlflow *m, const char *experiment, const char *job_id,
		const char *dag_run_id, char *run_id, size_t run_id_len)
{
	json_object *ans = NULL, *req = NULL, *ids, *v, *runs, *run;
	char *esc = NULL, path[1024], filter[600];
	const char *exp_id;
	long status;
	int rc = -1;

	if (!m || !experiment || !uuid_valid(job_id) || !safe_token(dag_run_id))
		return -1;
	esc = curl_easy_escape(m->curl, experiment, 0);
	if (!esc)
		return -1;
	snprintf(path, sizeof(path), "experiments/get-by-name?experiment_name=%s", esc);
	curl_free(esc);
	ans = call(m, path, NULL, &status);
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
	ans = call(m, "runs/search", json_object_to_json_string(req), &status);
	if (!ans || status != 200) {
		log_warn("mlflow: runs/search answered %ld", status);
		goto out;
	}
	rc = 0;
	if (json_object_object_get_ex(ans, "runs", &runs) && json_object_array_length(runs) > 0 &&
	    (run = json_object_array_get_idx(runs, 0)) != NULL &&
	    json_object_object_get_ex(run, "info", &v) && json_object_object_get_ex(v, "run_id", &v)) {
		snprintf(run_id, run_id_len, "%s", json_object_get_string(v));
		rc = 1;
	}
out:
	json_object_put(ans);
	json_object_put(req);
	return rc;
}
