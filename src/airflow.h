/* airflow.h - Airflow REST client over libcurl (API v2 for Airflow 3 with a
 * cached JWT from /auth/token, fetched again on 401; API v1 for Airflow 2 with
 * basic auth). Knows Airflow, not PostgreSQL. One handle per process, reused. */
#ifndef AUTOML_AIRFLOW_H
#define AUTOML_AIRFLOW_H
#include <stddef.h>
#include <json-c/json.h>
#include "config.h"

enum af_rc {
	AF_OK = 0,
	AF_NOT_FOUND,     /* 404: DAG not (yet) parsed, or no such run */
	AF_CONFLICT,      /* 409: a run with this id exists already */
	AF_UNAUTHORIZED,  /* 401/403 even after a fresh token */
	AF_BAD_REQUEST,   /* 400/422: DAG has import errors, bad conf, ... */
	AF_UNAVAILABLE,   /* connection refused or dropped, 5xx */
	AF_TIMEOUT,       /* connect or total timeout */
	AF_PROTOCOL,      /* unexpected answer (not JSON, missing fields) */
	AF_NOMEM
};

struct airflow;

struct airflow *airflow_new(const struct config *cfg);   /* borrows cfg; caller frees */
void airflow_free(struct airflow *af);

/* Every call writes a short, secret-free description of a failure into err
 * (suitable for a job's error_message and the log). */

/* PATCH /dags/{dag_id} {"is_paused": false} */
enum af_rc airflow_unpause(struct airflow *af, const char *dag_id, char *err, size_t errlen);

/* POST /dags/{dag_id}/dagRuns {"dag_run_id": run_id, "logical_date": null, "conf": conf}.
 * conf is borrowed and may be NULL. AF_CONFLICT means the run id exists. */
enum af_rc airflow_trigger(struct airflow *af, const char *dag_id, const char *run_id,
		json_object *conf, char *err, size_t errlen);

/* GET /dags/{dag_id}/dagRuns/{run_id}: state is one of queued, running,
 * success, failed (copied into state). */
enum af_rc airflow_run_state(struct airflow *af, const char *dag_id, const char *run_id,
		char *state, size_t statelen, char *err, size_t errlen);

/* GET /dags/{dag_id}: AF_OK once Airflow has parsed the DAG, AF_NOT_FOUND before. */
enum af_rc airflow_dag_exists(struct airflow *af, const char *dag_id, char *err, size_t errlen);

/* GET /dags/{dag_id}: *paused is its is_paused. */
enum af_rc airflow_dag_paused(struct airflow *af, const char *dag_id, int *paused,
		char *err, size_t errlen);

/* PATCH /dags/{dag_id}/dagRuns/{run_id} {"state": "failed"}. AF_NOT_FOUND: no such run. */
enum af_rc airflow_fail_run(struct airflow *af, const char *dag_id, const char *run_id,
		char *err, size_t errlen);

/* GET /importErrors: the last line of the stack trace Airflow recorded for
 * the DAG's file (<dag_id>.py), sanitised, into msg. AF_NOT_FOUND: none. */
enum af_rc airflow_import_error(struct airflow *af, const char *dag_id, char *msg, size_t msglen,
		char *err, size_t errlen);

/* Cap both timeouts of the following calls at ms (0 = the configured ones):
 * what a web request may spend on Airflow. */
void airflow_set_limit_ms(struct airflow *af, long ms);

const char *af_rc_str(enum af_rc rc);

#endif
