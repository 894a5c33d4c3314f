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

#endif
