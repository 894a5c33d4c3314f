/* job.h - the training-job domain: enums and their spellings, which algorithm
 * fits which problem, allowed status transitions, validation of a create
 * body with field-level errors (a field table of valid.h), and job -> JSON.
 * Pure: no I/O here. */
#ifndef AUTOML_JOB_H
#define AUTOML_JOB_H
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "arena.h"
#include "errors.h"
#include "valid.h"
/* enum problem_type and enum algorithm (PT_*, ALG_*), generated into the build
 * tree from the algorithm registry share/algorithms.tsv by scripts/gen-algorithms. */
#include "algorithms.h"

enum preset { PRESET_FAST, PRESET_BALANCED, PRESET_BEST_QUALITY, PRESET__MAX };
enum job_status { ST_READY, ST_QUEUED, ST_RUNNING, ST_COMPLETE, ST_FAILED, ST__MAX };

/* Spellings are the seed's. *_str returns a static string; *_parse returns 0
 * and sets *out, or -1 for an unknown spelling. */
const char *problem_type_str(enum problem_type v);
const char *algorithm_str(enum algorithm v);
const char *preset_str(enum preset v);
const char *status_str(enum job_status v);
int problem_type_parse(const char *s, enum problem_type *out);
int algorithm_parse(const char *s, enum algorithm *out);
int preset_parse(const char *s, enum preset *out);
int status_parse(const char *s, enum job_status *out);
/* The same spellings for field tables (valid.h's V_ENUM). */
extern const struct vspell problem_type_spelling, algorithm_spelling, preset_spelling,
	status_spelling;

/* Both from the registry: does the algorithm fit the problem type (0 for an
 * out-of-range value), and its DAG template family (share/dags/FAMILY.py.in,
 * e.g. "lightgbm", "iforest" or "vw"; a static string, NULL if out of range). */
int algorithm_fits(enum algorithm a, enum problem_type p);
const char *algorithm_family(enum algorithm a);

/* May a DAG write-back move a job from `from` to `to`? (queued -> running|complete|failed,
 * running -> running|complete|failed). Everything else is a 409. */
int status_writeback_ok(enum job_status from, enum job_status to);
/* May a trigger start a run from this status? (ready, failed) */
int status_triggerable(enum job_status s);

/* Decode one strictly valid UTF-8 sequence (no overlongs, surrogates or
 * values above U+10FFFF) at s[0..n): its length and *cp, or 0 if invalid. */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* A validated create body. Strings point into the arena. */
struct job_spec {
	const char *name;
	const char *domain;
	const char *source_table;
	const char *label_column;
	enum problem_type problem_type;
	enum algorithm algorithm;
	enum preset preset;
	const char *feature_engineering_job_id;  /* NULL if absent */
	int auto_trigger;
};

/* A persisted job. Strings are arena-owned; NULL means JSON null. */
struct job {
	char job_id[37];
	const char *name, *domain, *owner, *source_table, *label_column;
	enum problem_type problem_type;
	enum algorithm algorithm;
	enum preset preset;
	enum job_status status;
	const char *created_at, *updated_at;  /* RFC 3339 UTC, e.g. 2023-11-07T05:31:56Z */
	const char *rendered_dag;
	const char *mlflow_run_id;
	const char *mlflow_experiment_name;
	const char *registered_model_name;
	const char *airflow_dag_id;
	const char *airflow_dag_url;
	const char *airflow_dag_run_id;
	const char *error_message;
	const char *feature_engineering_job_id;
	int trigger_attempts;                 /* attempts so far (the current run is attempt n) */
	const char *dispatched_at;            /* when Airflow accepted the current attempt's run */
	int dag_retired;                      /* the DAG file was removed after the job ended */
	long sync_age_s;                      /* seconds since the last reconciliation, -1 never */
};

/* Parse and validate a create body. On AE_VALIDATION *detail is a new json
 * array (caller owns) naming every bad field; on AE_OK it is NULL. */
enum aerr job_spec_parse(struct arena *a, const char *body, size_t len,
		struct job_spec *spec, json_object **detail);

/* Fill the derived names of a new job from its spec and id:
 * airflow_dag_id (valid for Airflow: [A-Za-z0-9_.-], <= 250), mlflow_experiment_name,
 * registered_model_name, airflow_dag_url = {ui_url}/dags/{dag_id}. */
void job_init_from_spec(struct arena *a, struct job *job, const struct job_spec *spec,
		const char *job_id, const char *owner, const char *ui_url);

/* Deterministic Airflow run id of a job's n-th run (n >= 1): the prefix
 * "automl-{job_id}-a" followed by n. Arena strings. */
const char *job_run_id(struct arena *a, const struct job *job, int attempt);
const char *job_run_id_prefix(struct arena *a, const char *job_id);

/* The job as the API shows it (seed fields + extras). Caller owns the object. */
json_object *job_to_json(const struct job *job);

#endif
