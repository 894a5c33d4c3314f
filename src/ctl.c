/* ctl.c - automl-ctl, the operator's command line: migrate (create/upgrade
 * the schema), sync (reconcile every queued/running job with Airflow once),
 * render-dag (print the DAG a job spec would get; stores nothing), dispatch
 * (the long-running dispatcher, woken by LISTEN/NOTIFY and a timer; --once
 * for cron). */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <uuid/uuid.h>
#include "arena.h"
#include "buf.h"
#include "log.h"
#include "service.h"

static volatile sig_atomic_t stop_requested;
static volatile int stop_flag;   /* what the service polls (mirrors stop_requested) */

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
	stop_flag = 1;
}

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: automl-ctl migrate\n"
		"       automl-ctl sync\n"
		"       automl-ctl render-dag [--owner NAME] [--job-id UUID] [FILE|-]\n"
		"       automl-ctl dispatch [--once]\n"
		"\n"
		"Configuration comes from the AUTOML_* environment (or the file named by\n"
		"AUTOML_CONFIG). render-dag reads a create body (JSON) from FILE or stdin.\n"
		"dispatch starts the Airflow runs of queued jobs, adopts or fails orphan runs,\n"
		"reconciles active jobs and retires old DAG files; it runs until SIGTERM or\n"
		"SIGINT (--once: one pass, then exit; for cron). Any number may run at once.\n");
}

static int cmd_migrate(struct service *svc)
{
	int from = 0, to = 0;
	enum aerr rc = service_migrate(svc, &from, &to);

	if (rc) {
		fprintf(stderr, "automl-ctl: migrate failed: %s (see the log above)\n", aerr_info(rc)->message);
		return 1;
	}
	printf("schema version %d -> %d\n", from, to);
	return 0;
}

static size_t sync_moved;

static void sync_report(const struct job *job, enum job_status before)
{
	sync_moved++;
	printf("%s %s -> %s\n", job->job_id, status_str(before), status_str(job->status));
}

static int cmd_sync(struct service *svc, struct arena *a)
{
	size_t n = 0;
	enum aerr rc = service_sync(svc, a, sync_report, &n);

	if (rc) {
		fprintf(stderr, "automl-ctl: sync failed: %s\n", aerr_info(rc)->message);
		return 1;
	}
	printf("%zu active job(s) checked, %zu changed\n", n, sync_moved);
	return 0;
}

static int read_all(FILE *fp, struct buf *b)
{
	char chunk[4096];
	size_t k;

	for (;;) {
		k = fread(chunk, 1, sizeof(chunk), fp);
		if (k == 0)
			break;
		if (buf_append(b, chunk, k))
			return -1;
	}
	return ferror(fp) ? -1 : 0;
}

static int cmd_render(struct service *svc, struct arena *a, int argc, char **argv)
{
	const char *owner = "automl-ctl", *file = "-", *job_id = NULL;
	struct buf in;
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
	buf_init(&in, (size_t)service_config(svc)->max_body);
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
	rc = service_render(svc, a, &spec, job_id, owner, &job);
	if (rc) {
		fprintf(stderr, "automl-ctl: cannot render the DAG: %s\n", aerr_info(rc)->message);
		goto out;
	}
	fputs(job.rendered_dag, stdout);
	status = 0;
out:
	if (fp && fp != stdin)
		fclose(fp);
	json_object_put(detail);
	buf_free(&in);
	return status;
}

static long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);   /* a signal ends it early, which is what we want */
}

static void print_stats(const char *what, const struct dispatch_stats *st)
{
	printf("%s: %zu run(s) started, %zu to retry, %zu failed at the deadline, %zu dropped, "
			"%zu orphan(s) failed, %zu job(s) reconciled, %zu DAG file(s) retired\n", what,
			st->started, st->retried, st->failed, st->dropped, st->orphans, st->reconciled,
			st->retired);
	fflush(stdout);
}

/* The dispatcher: one pass; then (unless once) wait for a NOTIFY, the next
 * due outbox row or the timer, and go again, until SIGTERM/SIGINT. A lost
 * database connection is retried with growing pauses. */
static int cmd_dispatch(struct service *svc, struct arena *a, int argc, char **argv)
{
	struct dispatch_stats st;
	long next_ms, wait_ms, backoff = 500, poll_ms = service_config(svc)->dispatch_poll_s * 1000L;
	long last_full = -poll_ms * 2;
	int once = 0, listening = 0, started = 0, w;
	enum aerr rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--once") == 0) {
			once = 1;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!service_has_airflow(svc))
		log_warn("dispatch: AUTOML_AIRFLOW_URL is not set; only DAG retention will run");
	if (once) {
		memset(&st, 0, sizeof(st));
		rc = service_dispatch_pass(svc, a, &stop_flag, 1, &st, &next_ms);
		if (rc) {
			fprintf(stderr, "automl-ctl: dispatch failed: %s\n", aerr_info(rc)->message);
			return 1;
		}
		print_stats("dispatch --once", &st);
		return 0;
	}
	while (!stop_requested) {
		if (!listening) {
			rc = service_listen(svc);
			if (rc == AE_OK && !started) {
				started = 1;
				log_info("dispatch: started, listening (timer %ld s)",
						service_config(svc)->dispatch_poll_s);
			}
			if (rc) {
				log_warn("dispatch: database unavailable; retrying in %ld ms", backoff);
				sleep_ms(backoff);
				backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
				continue;
			}
			listening = 1;
		}
		memset(&st, 0, sizeof(st));
		long t0 = mono_ms();
		/* NOTIFY wake-ups start runs; the rest waits for the timer */
		int full = t0 - last_full >= poll_ms;
		if (full)
			last_full = t0;
		rc = service_dispatch_pass(svc, a, &stop_flag, full, &st, &next_ms);
		if (st.started || st.failed || st.retired || st.orphans)
			log_info("dispatch: pass of %ld ms: %zu started, %zu retried, %zu failed, "
					"%zu orphans, %zu reconciled, %zu retired", mono_ms() - t0, st.started,
					st.retried, st.failed, st.orphans, st.reconciled, st.retired);
		if (rc) {
			log_warn("dispatch: pass stopped: %s", aerr_info(rc)->message);
			listening = 0;   /* the connection may be new: LISTEN again */
			sleep_ms(backoff);
			backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
			continue;
		}
		backoff = 500;
		wait_ms = poll_ms - (mono_ms() - last_full);   /* until the next full pass */
		if (wait_ms < 0)
			wait_ms = 0;
		if (next_ms >= 0 && next_ms < wait_ms)
			wait_ms = next_ms;
		if (wait_ms == 0)
			continue;
		w = service_wait(svc, wait_ms);
		if (w < 0)
			listening = 0;
	}
	log_info("dispatch: stopping (signal)");
	return 0;
}

int main(int argc, char **argv)
{
	struct service *svc;
	struct arena *a;
	char err[512];
	int status;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "dispatch") == 0) {
		/* first thing: a SIGTERM during start-up still stops the dispatcher
		 * cleanly (it is polled before the first pass) */
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	svc = service_new(0, err, sizeof(err));
	if (!svc) {
		fprintf(stderr, "automl-ctl: configuration: %s\n", err);
		curl_global_cleanup();
		return 1;
	}
	a = arena_new();
	if (!a) {
		service_free(svc);
		return 1;
	}
	if (strcmp(argv[1], "migrate") == 0) {
		status = cmd_migrate(svc);
	} else if (strcmp(argv[1], "sync") == 0) {
		status = cmd_sync(svc, a);
	} else if (strcmp(argv[1], "render-dag") == 0) {
		status = cmd_render(svc, a, argc - 2, argv + 2);
	} else if (strcmp(argv[1], "dispatch") == 0) {
		status = cmd_dispatch(svc, a, argc - 2, argv + 2);
	} else {
		usage(stderr);
		status = 2;
	}
	arena_free(a);
	service_free(svc);
	curl_global_cleanup();
	return status;
}
