/* healthz.c - GET /healthz: no authentication; says whether the database
 * answers (200) or not (503). Reveals nothing else. */
#include <json-c/json.h>
#include "../service.h"
#include "handlers.h"

void handle_healthz(struct request *r)
{
	enum aerr rc = service_ping(r->svc);
	json_object *body = json_object_new_object();

	if (body) {
		json_object_object_add(body, "status", json_object_new_string(rc == AE_OK ? "ok" : "unavailable"));
		json_object_object_add(body, "database", json_object_new_string(rc == AE_OK ? "ok" : "unavailable"));
	}
	http_respond_json(r, rc == AE_OK ? 200 : 503, body, rc == AE_OK ? NULL : "Retry-After: 5\r\n");
}
