/* lim.h - every size and count limit of the service, named once: what it
 * accepts from clients, files, Airflow and MLflow. Constants only (no code, no
 * includes); each says what it bounds and where it is enforced. Stack buffer
 * sizes and the dispatcher's tuning (batches, retry waits) stay with their code.
 * (Not "limits.h": src/ is on the include path and <limits.h> is the system's.) */
#ifndef AUTOML_LIM_H
#define AUTOML_LIM_H

/* A limit as text, for the messages that name it: LIM_STR(LIM_LIST_MAX) is "200".
 * Only for the limits written as a plain number. */
#define LIM_STR(x) LIM_STR_(x)
#define LIM_STR_(x) #x

/* ---- requests: bodies, tokens, fields, query parameters ---- */

/* AUTOML_MAX_BODY (config.c): bytes of a request body, default, least and most. */
#define LIM_BODY_DEFAULT 65536
#define LIM_BODY_MIN 1024
#define LIM_BODY_MAX (16 * 1024 * 1024)

/* Bytes of a compact JWS bearer token (auth.c); a longer one is refused unread. */
#define LIM_BEARER_TOKEN 8192

/* Least bytes of AUTOML_JWT_SECRET (RFC 7518 3.2: an HS256 key is at least
 * the hash size), least bits of an RSA key in AUTOML_JWKS_FILE (auth.c). */
#define LIM_HS256_MIN_SECRET 32
#define LIM_RSA_MIN_BITS 2048

/* Characters (code points) of a job's name (job.c; the 422 message names it). */
#define LIM_JOB_NAME 200

/* Jobs on one list page: when the query has no limit=, and the most it may ask
 * for (handlers/list.c checks the query, store.c the filter it is given). */
#define LIM_LIST_DEFAULT 50
#define LIM_LIST_MAX 200

/* Bytes of a list cursor (handlers/list.c); the ones we hand out are about 100. */
#define LIM_CURSOR 200

/* Distinct job ids one bulk status read may name (handlers/status_bulk.c). */
#define LIM_STATUS_IDS 100

/* Bytes of the write-back's mlflow_run_id and registered_model_name, and of its
 * error_message (handlers/status_put.c). */
#define LIM_WRITEBACK_NAME 256
#define LIM_WRITEBACK_ERROR 4096

/* Airflow's longest DAG id and run id (its ID_LEN): the DAG file name (dag.c),
 * the write-back's airflow_dag_run_id, the run id put into an MLflow filter. */
#define LIM_AIRFLOW_ID 250

/* ---- JSON (jsonx.c): every JSON text the service parses ---- */

/* Bytes of one JSON text: request bodies are the largest. */
#define LIM_JSON_TEXT LIM_BODY_MAX

/* Nesting of arrays and objects (json-c's default, which every parser used). */
#define LIM_JSON_DEPTH 32

/* ---- Airflow and MLflow (httpc.c, airflow.c, mlflow.c) ---- */

/* Bytes of one answer read from Airflow or MLflow; a larger one is an error. */
#define LIM_PEER_ANSWER (1024 * 1024)

/* Bytes of a URL we send to Airflow or MLflow, and of its path part (escaped ids). */
#define LIM_PEER_URL 8192
#define LIM_PEER_PATH 4096

/* Bytes of the Airflow access token we accept from /auth/token. */
#define LIM_AIRFLOW_TOKEN 16384

/* Characters of Airflow's own error text (a failed call's detail, the last line
 * of an import error) that we pass on into messages. */
#define LIM_PEER_DETAIL 200

/* ---- files ---- */

/* Bytes of AUTOML_JWKS_FILE (auth.c). */
#define LIM_JWKS_FILE (1024L * 1024L)

/* Bytes of a secret read from a *_FILE key (config.c), and keys in AUTOML_CONFIG. */
#define LIM_SECRET_FILE 65536
#define LIM_CONFIG_KEYS 64

/* Bytes of one DAG template file (dag.c), and of a rendered DAG (service.c). */
#define LIM_DAG_TEMPLATE (1024 * 1024)
#define LIM_DAG_SOURCE (1024 * 1024)

/* Bytes of an unread CGI request body drained before exit (main.c). */
#define LIM_CGI_DRAIN (64u * 1024 * 1024)

#endif
