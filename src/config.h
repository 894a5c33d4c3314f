/* config.h - configuration from the environment and an optional file.
 * Keys are those of the contract (AUTOML_*). The environment wins over the
 * file named by AUTOML_CONFIG; *_FILE variants read a secret from a file.
 * Loaded once per process; everything is owned by struct config. */
#ifndef AUTOML_CONFIG_H
#define AUTOML_CONFIG_H
#include <stddef.h>

struct config {
	char *database_url;          /* AUTOML_DATABASE_URL (default "dbname=automl") */
	char *airflow_url;           /* AUTOML_AIRFLOW_URL, no trailing slash */
	int airflow_api;             /* AUTOML_AIRFLOW_API: 2 ("v2", default) or 1 ("v1") */
	char *airflow_user;          /* AUTOML_AIRFLOW_USER */
	char *airflow_password;      /* AUTOML_AIRFLOW_PASSWORD or _PASSWORD_FILE */
	char *airflow_ui_url;        /* AUTOML_AIRFLOW_UI_URL, defaults to airflow_url */
	long airflow_connect_timeout_ms; /* AUTOML_AIRFLOW_CONNECT_TIMEOUT_MS, default 3000 */
	long airflow_timeout_ms;     /* AUTOML_AIRFLOW_TIMEOUT_MS, default 10000 */
	long airflow_request_timeout_ms; /* AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS: bound on the one Airflow
	                                call a web request may make (trigger, read), default 2000;
	                                0 = requests never call Airflow (the dispatcher does it all) */
	long dispatch_deadline_s;    /* AUTOML_DISPATCH_DEADLINE_S: a queued job whose run could not be
	                                started for this long fails, default 900 */
	long dispatch_poll_s;        /* AUTOML_DISPATCH_POLL_S: the dispatcher's timer, default 5 */
	long dag_retention_s;        /* AUTOML_DAG_RETENTION_S: DAG files of jobs that ended longer
	                                ago are removed; -1 (unset) = keep */
	char *dags_dir;              /* AUTOML_DAGS_DIR */
	char *templates_dir;         /* AUTOML_TEMPLATES_DIR, default PKGDATADIR "/dags" */
	char *mlflow_tracking_uri;   /* AUTOML_MLFLOW_TRACKING_URI */
	char *public_url;            /* AUTOML_PUBLIC_URL, no trailing slash */
	char *status_psk;            /* AUTOML_STATUS_PSK or _FILE */
	char *jwt_secret;            /* AUTOML_JWT_SECRET or _FILE (raw bytes) */
	size_t jwt_secret_len;
	char *jwks_file;             /* AUTOML_JWKS_FILE */
	char *jwt_issuer;            /* AUTOML_JWT_ISSUER */
	char *jwt_audience;          /* AUTOML_JWT_AUDIENCE */
	char *train_python;          /* AUTOML_TRAIN_PYTHON: interpreter of the training virtualenv
	                                that rendered DAGs run their task in */
	char *warehouse_conn_id;     /* AUTOML_WAREHOUSE_CONN_ID, default "automl_warehouse" */
	long max_body;               /* AUTOML_MAX_BODY bytes, default 65536 */
	long reconcile_interval_s;   /* AUTOML_RECONCILE_INTERVAL_S, default 5 */
	int log_level;               /* AUTOML_LOG_LEVEL error|warn|info|debug, default info */
};

/* Returns 0, or -1 with a message in err (which names the key, never a secret). */
int config_load(struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);

#endif
