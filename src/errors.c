/* errors.c - internal result code -> HTTP status + public message, in one
 * table. The messages are what clients see; they never carry library text. */
#include <stddef.h>
#include "errors.h"

static const struct aerr_info table[AE__MAX] = {
	[AE_OK] = { 200, "OK", "ok" },
	[AE_NOMEM] = { 503, "Service Unavailable", "the service is out of memory; try again" },
	[AE_UNAUTHORIZED] = { 401, "Unauthorized", "not authenticated" },
	[AE_FORBIDDEN] = { 403, "Forbidden", "not allowed to act in this domain" },
	[AE_NOT_FOUND] = { 404, "Not Found", "training job not found" },
	[AE_NO_ROUTE] = { 404, "Not Found", "not found" },
	[AE_METHOD] = { 405, "Method Not Allowed", "method not allowed" },
	[AE_CONFLICT] = { 409, "Conflict", "the job's status does not allow this action" },
	[AE_BUSY] = { 409, "Conflict", "the job is being changed by another request" },
	[AE_TOO_LARGE] = { 413, "Payload Too Large", "request body too large" },
	[AE_MEDIA_TYPE] = { 415, "Unsupported Media Type", "request body must be application/json" },
	[AE_VALIDATION] = { 422, "Unprocessable Entity", "validation failed" },
	[AE_DB_UNAVAILABLE] = { 503, "Service Unavailable", "the database is unavailable; try again" },
	[AE_DB] = { 503, "Service Unavailable", "the database could not complete the request; try again" },
	[AE_DB_TIMEOUT] = { 504, "Gateway Timeout", "the database did not answer in time; try again" },
	[AE_AIRFLOW] = { 502, "Bad Gateway", "Airflow refused the request" },
	[AE_AIRFLOW_UNAVAILABLE] = { 503, "Service Unavailable", "Airflow is unavailable; try again" },
	[AE_AIRFLOW_TIMEOUT] = { 504, "Gateway Timeout", "Airflow did not answer in time; try again" },
	[AE_DAG_PUBLISH] = { 503, "Service Unavailable", "the DAG could not be published; try again" },
	[AE_INTERNAL] = { 500, "Internal Server Error", "internal error" },
};

const struct aerr_info *aerr_info(enum aerr e)
{
	if ((int)e < 0 || e >= AE__MAX || table[e].status == 0)
		e = AE_INTERNAL;
	return &table[e];
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}
