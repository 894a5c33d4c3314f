/* dag.h - rendering a job's Airflow DAG from its family's template file and
 * publishing it atomically into AUTOML_DAGS_DIR.
 * A DAG is share/dags/<family>.py.in (what differs per family, and the job's
 * literals) followed by share/dags/common.py.in (the tasks every family shares).
 * Templates contain placeholders @@KEY@@; each is
 * replaced by a Python literal (str, int or None), never by raw text, so no
 * job field can become code.
 *
 * Placeholders (all str literals unless noted):
 *   @@JOB_ID@@ @@JOB_NAME@@ @@DOMAIN@@ @@OWNER@@ @@SOURCE_TABLE@@ @@LABEL_COLUMN@@
 *   @@PROBLEM_TYPE@@ @@ALGORITHM@@ @@PRESET@@ @@DAG_ID@@
 *   @@MLFLOW_EXPERIMENT_NAME@@ @@REGISTERED_MODEL_NAME@@ @@MLFLOW_TRACKING_URI@@
 *   @@STATUS_URL@@     {AUTOML_PUBLIC_URL}/api/automl/train/jobs/{job_id}/status
 *   @@TRAIN_PYTHON@@   AUTOML_TRAIN_PYTHON
 *   @@WAREHOUSE_CONN_ID@@
 *   @@FEATURE_ENGINEERING_JOB_ID@@   str or None
 * Secrets (the status PSK) are never rendered: rendered_dag is shown to users;
 * the DAG reads the PSK at run time from its environment / Airflow Variable. */
#ifndef AUTOML_DAG_H
#define AUTOML_DAG_H
#include <stddef.h>
#include "buf.h"
#include "config.h"
#include "errors.h"
#include "job.h"

/* Append s (UTF-8) as a Python str literal ('...' with escapes, ASCII only in
 * the output). NULL appends None. -1 on invalid UTF-8 or buffer limit. */
int py_str_literal(struct buf *out, const char *s);

/* Render the DAG of a job (its airflow_dag_id and derived names must be set).
 * out is appended to. AE_OK, AE_INTERNAL (template missing/unknown placeholder,
 * logged), AE_NOMEM. */
enum aerr dag_render(const struct config *cfg, const struct job *job, struct buf *out);

/* Write src to {dags_dir}/{dag_id}.py via a temp file, fsync and rename.
 * AE_OK or AE_DAG_PUBLISH (logged). */
enum aerr dag_publish(const struct config *cfg, const char *dag_id, const char *src, size_t len);
/* Remove a published DAG (used when the job could not be stored). */
void dag_unpublish(const struct config *cfg, const char *dag_id);

#endif
