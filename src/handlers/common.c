/* common.c - steps every handler shares: authentication, the {job_id}
 * check, the database connection, visibility of a job, and writing a job. */
#include "../job.h"
#include "../log.h"
#include "../service.h"
#include "handlers.h"

int need_auth(struct request *r)
{
	const char *why = "not authenticated";
	enum aerr rc = service_authenticate(r->svc, r->arena, r->authorization, &r->principal, &why);

	if (rc == AE_OK)
		return 0;
	if (rc == AE_UNAUTHORIZED)
		http_respond_unauthorized(r, why);
	else
		http_respond_error(r, rc, NULL);
	return -1;
}

int need_job_id(struct request *r)
{
	if (uuid_valid(r->job_id))
		return 0;
	http_respond_invalid(r, "path", "job_id", "Input should be a valid UUID", "uuid_parsing");
	return -1;
}

int need_db(struct request *r)
{
	enum aerr rc = service_ready(r->svc);

	if (rc == AE_OK)
		return 0;
	http_respond_error(r, rc, NULL);
	return -1;
}

int need_visible_job(struct request *r, struct job *job)
{
	enum aerr rc = service_get_visible(r->svc, r->arena, r->job_id, &r->principal, job);

	if (rc == AE_OK)
		return 0;
	http_respond_error(r, rc, NULL);
	return -1;
}

void respond_job(struct request *r, int status, const struct job *job, const char *extra_headers)
{
	http_respond_json(r, status, job_to_json(job), extra_headers);
}
