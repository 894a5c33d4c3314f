/* handlers.h - one handler per endpoint (one file each in src/handlers/).
 * A handler checks access, reads validated input, calls the store / service,
 * and writes exactly one response. */
#ifndef AUTOML_HANDLERS_H
#define AUTOML_HANDLERS_H
#include "http.h"

void handle_create(struct request *r);       /* POST /api/automl/train/jobs */
void handle_get(struct request *r);          /* GET  /api/automl/train/jobs/{job_id} */
void handle_list(struct request *r);         /* GET  /api/automl/train/jobs */
void handle_trigger(struct request *r);      /* POST /api/automl/train/jobs/{job_id}/trigger */
void handle_status_bulk(struct request *r);  /* GET  /api/automl/train/jobs/status?ids= */
void handle_status_put(struct request *r);   /* PUT  /api/automl/train/jobs/{job_id}/status */
void handle_healthz(struct request *r);      /* GET  /healthz */

/* Shared steps (common.c). Each returns 0, or -1 after writing the response. */
struct job;
int need_auth(struct request *r);                 /* bearer token -> r->principal */
int need_job_id(struct request *r);               /* {job_id} is a uuid, else 422 */
int need_db(struct request *r);                   /* database connection, else 503 */
/* Load a job the principal may see (404 otherwise) into *job. */
int need_visible_job(struct request *r, struct job *job);
void respond_job(struct request *r, int status, const struct job *job, const char *extra_headers);

#endif
