/* ctl.c - automl-ctl, the operator's command line: migrate (create/upgrade
 * the schema), sync (reconcile every queued/running job with Airflow once),
 * render-dag (print the DAG a job spec would get; stores nothing). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <uuid/uuid.h>
#include "arena.h"
#include "buf.h"
#include "dag.h"
#include "log.h"
#include "service.h"

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: automl-ctl migrate\n"
		"       automl-ctl sync\n"
		"       automl-ctl render-dag [--owner NAME] [--job-id UUID] [FILE|-]\n"
		"\n"
		"Configuration comes from the AUTOML_* environment (or the file named by\n"
		"AUTOML_CONFIG). render-dag reads a create body (JSON) from FILE or stdin.\n");
}

static int cmd_migrate(struct service *svc)
{
	int from = 0, to = 0;
	enum aerr rc = store_ensure(svc->store);

	if (rc == AE_OK)
		rc = store_migrate(svc->store, &from, &to);
	if (rc) {
		fprintf(stderr, "automl-ctl: migrate failed: %s (see the log above)\n", aerr_info(rc)->message);
		return 1;
	}
	printf("schema version %d -> %d\n", from, to);
	return 0;
}

static int cmd_sync(struct service *svc, struct arena *a)
{
	struct job *jobs = NULL;
	size_t n = 0, moved = 0;
	enum aerr rc = store_ensure(svc->store);

	if (rc == AE_OK)
		rc = store_list_active(svc->store, a, &jobs, &n);
	if (rc) {
		fprintf(stderr, "automl-ctl: sync failed: %s\n", aerr_info(rc)->message);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		enum job_status before = jobs[i].status;
		service_reconcile(svc, a, &jobs[i], 1);
		if (jobs[i].status != before) {
			moved++;
			printf("%s %s -> %s\n", jobs[i].job_id, status_str(before), status_str(jobs[i].status));
		}
	}
	printf("%zu active job(s) checked, %zu changed\n", n, moved);
	return 0;
}

static int read_all(FILE *fp, struct buf *b)
{
	char chunk[4096];
	size_t k;

	while ((k = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (buf_append(b, chunk, k))
			return -1;
	return ferror(fp) ? -1 : 0;
}

static int cmd_render(struct service *svc, struct arena *a, int argc, char **argv)
{
	const char *owner = "automl-ctl", *file = "-", *job_id = NULL;
	struct buf in, out;
	struct job_spec spec;
	struct job job;
	json_object *detail = NULL;
	char id[37];
	FILE *fp;
	int status = 1;
	enum aerr rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--owner") == 0 && i + 1 < argc)
			owner = argv[++i];
		else if (strcmp(argv[i], "--job-id") == 0 && i + 1 < argc)
			job_id = argv[++i];
		else
			file = argv[i];
	}
	if (job_id && !uuid_valid(job_id)) {
		fprintf(stderr, "automl-ctl: --job-id must be a UUID\n");
		return 2;
	}
	if (!job_id) {
		uuid_t uu;
		uuid_generate_random(uu);
		uuid_unparse_lower(uu, id);
		job_id = id;
	}
	buf_init(&in, (size_t)svc->cfg.max_body);
	buf_init(&out, 1024 * 1024);
	fp = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	if (!fp) {
		perror(file);
		goto out;
	}
	if (read_all(fp, &in)) {
		fprintf(stderr, "automl-ctl: cannot read %s (or larger than AUTOML_MAX_BODY)\n", file);
		goto out;
	}
	rc = job_spec_parse(a, in.data ? in.data : "", in.len, &spec, &detail);
	if (rc == AE_VALIDATION) {
		fprintf(stderr, "%s\n", json_object_to_json_string_ext(detail, JSON_C_TO_STRING_PRETTY));
		status = 2;
		goto out;
	}
	if (rc) {
		fprintf(stderr, "automl-ctl: %s\n", aerr_info(rc)->message);
		goto out;
	}
	job_init_from_spec(a, &job, &spec, job_id, owner, svc->cfg.airflow_ui_url);
	rc = dag_render(&svc->cfg, &job, &out);
	if (rc) {
		fprintf(stderr, "automl-ctl: cannot render the DAG: %s\n", aerr_info(rc)->message);
		goto out;
	}
	fwrite(out.data, 1, out.len, stdout);
	status = 0;
out:
	if (fp && fp != stdin)
		fclose(fp);
	json_object_put(detail);
	buf_free(&in);
	buf_free(&out);
	return status;
}

int main(int argc, char **argv)
{
	struct service svc;
	struct arena *a;
	char err[512];
	int status;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	if (service_init(&svc, 0, err, sizeof(err))) {
		fprintf(stderr, "automl-ctl: configuration: %s\n", err);
		curl_global_cleanup();
		return 1;
	}
	a = arena_new();
	if (!a) {
		service_free(&svc);
		return 1;
	}
	if (strcmp(argv[1], "migrate") == 0) {
		status = cmd_migrate(&svc);
	} else if (strcmp(argv[1], "sync") == 0) {
		status = cmd_sync(&svc, a);
	} else if (strcmp(argv[1], "render-dag") == 0) {
		status = cmd_render(&svc, a, argc - 2, argv + 2);
	} else {
		usage(stderr);
		status = 2;
	}
	arena_free(a);
	service_free(&svc);
	curl_global_cleanup();
	return status;
}
