/* routes.h - the route table: method + PATH_INFO pattern -> handler.
 * Unknown path: 404; known path with another method: 405 with Allow. */
#ifndef AUTOML_ROUTES_H
#define AUTOML_ROUTES_H
#include "http.h"

typedef void (*handler_fn)(struct request *r);

/* Match only (for tests): returns the handler or NULL; *allow lists the
 * methods of a path that matched with another method (NULL if none);
 * r->job_id is set when the pattern has {job_id}. */
handler_fn routes_match(struct request *r, const char **allow);

/* Match and run; writes 404/405 itself. Also accepts the path with a leading
 * "/cgi-bin/automl-api" or "/automl-api" (SCRIPT_NAME mounted on the path). */
void routes_dispatch(struct request *r);

#endif
