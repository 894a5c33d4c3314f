/* mlflow.h - the little of MLflow's REST API the service itself needs: find
 * the run a job's DAG logged (by its tags) when the DAG could not report it.
 * libcurl; one handle per process. Knows MLflow, not PostgreSQL or HTTP-in. */
#ifndef AUTOML_MLFLOW_H
#define AUTOML_MLFLOW_H
#include <stddef.h>
#include "config.h"

struct mlflow;

/* NULL when AUTOML_MLFLOW_TRACKING_URI is not an http(s) URL. Borrows cfg. */
struct mlflow *mlflow_new(const struct config *cfg);
void mlflow_free(struct mlflow *m);

/* The newest run of experiment `experiment` tagged automl_job_id=job_id and
 * automl_dag_run_id=dag_run_id: 1 and its id copied into run_id, 0 when there is
 * none, -1 when MLflow could not be asked (logged). job_id must be a uuid and
 * dag_run_id of [A-Za-z0-9_.~:+-] (they are put into a search filter). */
int mlflow_find_run(struct mlflow *m, const char *experiment, const char *job_id,
		const char *dag_run_id, char *run_id, size_t run_id_len);

#endif
