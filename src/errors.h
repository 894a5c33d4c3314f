/* errors.h - the one table of internal result codes.
 * Each code maps to an HTTP status and a public message; callers never put
 * library error text into a response, they log it and return a code. */
#ifndef AUTOML_ERRORS_H
#define AUTOML_ERRORS_H

enum aerr {
	AE_OK = 0,
	AE_NOMEM,               /* 503 */
	AE_UNAUTHORIZED,        /* 401 */
	AE_FORBIDDEN,           /* 403 */
	AE_NOT_FOUND,           /* 404 job not found / not visible */
	AE_NO_ROUTE,            /* 404 unknown path */
	AE_METHOD,              /* 405 */
	AE_CONFLICT,            /* 409 status does not allow the action */
	AE_BUSY,                /* 409 another request holds the job right now */
	AE_TOO_LARGE,           /* 413 */
	AE_MEDIA_TYPE,          /* 415 */
	AE_VALIDATION,          /* 422 */
	AE_DB_UNAVAILABLE,      /* 503 database unreachable */
	AE_DB,                  /* 503 database statement failed */
	AE_DB_TIMEOUT,          /* 504 */
	AE_AIRFLOW,             /* 502 Airflow answered with an error */
	AE_AIRFLOW_UNAVAILABLE, /* 503 Airflow unreachable, 5xx, DAG not parsed yet */
	AE_AIRFLOW_TIMEOUT,     /* 504 */
	AE_DAG_PUBLISH,         /* 503 could not write the DAG file */
	AE_INTERNAL,            /* 500, only for programming errors */
	AE__MAX
};

struct aerr_info {
	int status;
	const char *reason;   /* HTTP reason phrase */
	const char *message;  /* public message for {"detail": ...} */
};

const struct aerr_info *aerr_info(enum aerr e);
const char *http_reason(int status);

#endif
