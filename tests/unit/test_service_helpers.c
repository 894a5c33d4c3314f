/* test_service_helpers.c - the static helpers of src/service.c that need no
 * database or Airflow (the file is included, as lighttpd's src/t/ tests do):
 * the dispatcher's retry delays. */
#include "../../src/service.c"
#include "tap.h"

int main(void)
{
	is_int(retry_delay_ms(AF_NOT_FOUND, 1), RETRY_NOT_PARSED_MS, "DAG not parsed: the short delay");
	is_int(retry_delay_ms(AF_NOT_FOUND, 50), RETRY_NOT_PARSED_MS, "... however many tries");
	is_int(retry_delay_ms(AF_UNAVAILABLE, 1), 1000, "first retry after 1 s");
	is_int(retry_delay_ms(AF_UNAVAILABLE, 2), 2000, "then 2 s");
	is_int(retry_delay_ms(AF_TIMEOUT, 4), 8000, "then doubling");
	is_int(retry_delay_ms(AF_UNAVAILABLE, 6), RETRY_MAX_MS, "capped");
	is_int(retry_delay_ms(AF_UNAUTHORIZED, 1000), RETRY_MAX_MS, "capped for good");
	return done_testing();
}
