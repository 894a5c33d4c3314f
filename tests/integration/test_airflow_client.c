/* test_airflow_client.c - drives the Airflow client against tests/airflow_double.py:
 * tokens (fetch, reuse, expiry), trigger outcomes, run state, unpause, v1 basic
 * auth and the transport faults (503, dropped, hanging, refused). Needs $top_srcdir. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include "airflow.h"
#include "buf.h"
#include "log.h"
#include "mlflow.h"
#include "tap.h"

static pid_t double_pid;
static long double_port;
static char dags_dir[4096];   /* the double's --dags-dir, made under the build dir */
static char base_url[64];
static CURL *ctl_curl;

static void bail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (double_pid > 0) {
		kill(double_pid, SIGTERM);
		waitpid(double_pid, NULL, 0);
	}
	exit(1);
}

/* Starts the double on a free port and reads "PORT <n>" from its stdout. */
static void start_double(void)
{
	const char *top = getenv("top_srcdir");
	char script[4096], line[64];
	struct pollfd pfd;
	size_t n = 0;
	pid_t parent;
	char *end;
	int fds[2];

	if (!top || !*top)
		bail("top_srcdir is not set (make check sets it)");
	if ((size_t)snprintf(script, sizeof(script), "%s/tests/airflow_double.py", top) >= sizeof(script))
		bail("top_srcdir is too long");
	snprintf(dags_dir, sizeof(dags_dir), "test_airflow_dags.XXXXXX");
	if (!mkdtemp(dags_dir))
		bail("mkdtemp: %s", strerror(errno));
	if (pipe(fds) != 0)
		bail("pipe: %s", strerror(errno));
	parent = getpid();
	double_pid = fork();
	if (double_pid < 0)
		bail("fork: %s", strerror(errno));
	if (double_pid == 0) {
		/* the double dies with the test, even if the test crashes */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
			_exit(126);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execlp("python3", "python3", script, "--port", "0", "--dags-dir", dags_dir,
				"--exit-with-parent", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	while (n + 1 < sizeof(line) && (n == 0 || line[n - 1] != '\n')) {
		ssize_t r;

		if (poll(&pfd, 1, 15000) != 1)
			bail("the Airflow double did not print its port within 15 s");
		r = read(fds[0], line + n, 1);
		if (r != 1)
			bail("the Airflow double exited before printing its port");
		n++;
	}
	line[n] = '\0';
	close(fds[0]);   /* the double only ever prints the one line */
	errno = 0;
	double_port = strncmp(line, "PORT ", 5) == 0 ? strtol(line + 5, &end, 10) : 0;
	if (errno || double_port <= 0 || double_port > 65535 || *end != '\n')
		bail("unexpected first line from the double: %s", line);
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%ld", double_port);
}

static void stop_double(void)
{
	int st = 0;

	kill(double_pid, SIGTERM);
	waitpid(double_pid, &st, 0);
	double_pid = 0;
	ok(rmdir(dags_dir) == 0, "the test's DAG folder is empty again");
}

static size_t ctl_write(char *p, size_t size, size_t n, void *ud)
{
	(void)size;
	return buf_append(ud, p, n) == 0 ? n : 0;
}

/* One control-API call; returns the parsed JSON answer (caller puts) or bails. */
static json_object *ctl(const char *method, const char *path, const char *body)
{
	struct buf resp, url;
	json_object *o;
	long status = 0;
	CURLcode cc;

	buf_init(&resp, 1 << 20);
	buf_init(&url, 4096);
	if (buf_printf(&url, "%s/_control/%s", base_url, path))
		bail("out of memory");
	curl_easy_reset(ctl_curl);
	curl_easy_setopt(ctl_curl, CURLOPT_URL, url.data);
	curl_easy_setopt(ctl_curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(ctl_curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(ctl_curl, CURLOPT_WRITEFUNCTION, ctl_write);
	curl_easy_setopt(ctl_curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(ctl_curl, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(ctl_curl, CURLOPT_POSTFIELDS, body);
	cc = curl_easy_perform(ctl_curl);
	curl_easy_getinfo(ctl_curl, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK || status != 200)
		bail("control %s %s failed: curl %d, HTTP %ld, %s", method, path, (int)cc, status,
				resp.data ? resp.data : "");
	o = json_tokener_parse(resp.data ? resp.data : "");
	if (!o)
		bail("control %s %s: answer is not JSON", method, path);
	buf_free(&resp);
	buf_free(&url);
	return o;
}

static void ctl_do(const char *method, const char *path, const char *body)
{
	json_object_put(ctl(method, path, body));
}

/* A number from GET /_control/stats. */
static long stat_of(const char *key)
{
	json_object *o = ctl("GET", "stats", NULL), *v;
	long n = -1;

	if (json_object_object_get_ex(o, key, &v))
		n = (long)json_object_get_int64(v);
	json_object_put(o);
	return n;
}

/* The runs of one DAG from GET /_control/runs (caller puts). */
static json_object *runs_of(const char *dag_id)
{
	char path[256];

	snprintf(path, sizeof(path), "runs?dag_id=%s", dag_id);
	return ctl("GET", path, NULL);
}

static long run_count(const char *dag_id)
{
	json_object *o = runs_of(dag_id), *v;
	long n = -1;

	if (json_object_object_get_ex(o, "count", &v))
		n = (long)json_object_get_int64(v);
	json_object_put(o);
	return n;
}

/* Field key of run idx of dag_id as a string (static copy). */
static const char *run_field(const char *dag_id, int idx, const char *key)
{
	static char out[256];
	json_object *o = runs_of(dag_id), *runs, *r, *v;

	out[0] = '\0';
	if (json_object_object_get_ex(o, "runs", &runs) && (r = json_object_array_get_idx(runs, idx))
			&& json_object_object_get_ex(r, key, &v))
		snprintf(out, sizeof(out), "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return out;
}

static void add_fault(const char *json)
{
	ctl_do("POST", "fault", json);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static int printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

static char url_buf[64], user_admin[] = "admin", pw_admin[] = "admin", pw_bad[] = "sEcr3t-wrong";

static void init_cfg(struct config *cfg, int api, char *password)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->airflow_url = url_buf;
	cfg->airflow_api = api;
	cfg->airflow_user = user_admin;
	cfg->airflow_password = password;
	cfg->airflow_connect_timeout_ms = 2000;
	cfg->airflow_timeout_ms = 5000;
}

static void test_v2(void)
{
	struct config cfg;
	struct airflow *af;
	char err[256], state[32];
	json_object *conf, *o, *v, *d;
	enum af_rc rc;

	init_cfg(&cfg, 2, pw_admin);
	af = airflow_new(&cfg);
	ok(af != NULL, "airflow_new");
	if (!af)
		bail("airflow_new failed");

	rc = airflow_dag_exists(af, "automl__x", err, sizeof(err));
	is_int(rc, AF_NOT_FOUND, "DAG not parsed yet -> AF_NOT_FOUND");
	ok(strstr(err, "automl__x") && strstr(err, "404"), "404 message names the DAG: %s", err);
	is_int(stat_of("token_requests"), 1, "first call fetched one token");

	ctl_do("POST", "register_dag", "{\"dag_id\": \"automl__x\"}");
	rc = airflow_dag_exists(af, "automl__x", err, sizeof(err));
	is_int(rc, AF_OK, "DAG parsed -> AF_OK");

	rc = airflow_unpause(af, "automl__x", err, sizeof(err));
	is_int(rc, AF_OK, "unpause -> AF_OK (%s)", err);
	o = ctl("GET", "dags", NULL);
	ok(json_object_object_get_ex(o, "dags", &d) && json_object_object_get_ex(d, "automl__x", &d)
			&& json_object_object_get_ex(d, "is_paused", &v) && !json_object_get_boolean(v),
			"the double saw the DAG unpaused");
	json_object_put(o);
	rc = airflow_unpause(af, "automl__nope", err, sizeof(err));
	is_int(rc, AF_NOT_FOUND, "unpause of an unknown DAG -> AF_NOT_FOUND");

	conf = json_tokener_parse("{\"job_id\": \"j1\", \"n\": 3}");
	rc = airflow_trigger(af, "automl__x", "job__j1__1", conf, err, sizeof(err));
	is_int(rc, AF_OK, "trigger -> AF_OK (%s)", err);
	is_int(run_count("automl__x"), 1, "exactly one run exists");
	is_str(run_field("automl__x", 0, "conf"), "{\"job_id\":\"j1\",\"n\":3}", "conf arrived");
	is_str(run_field("automl__x", 0, "state"), "\"queued\"", "new run is queued");
	is_int(stat_of("token_requests"), 1, "the token was reused for every call");

	rc = airflow_trigger(af, "automl__x", "job__j1__1", conf, err, sizeof(err));
	is_int(rc, AF_CONFLICT, "same run id again -> AF_CONFLICT");
	ok(strstr(err, "409") != NULL, "conflict message: %s", err);
	is_int(run_count("automl__x"), 1, "still exactly one run");
	is_str(run_field("automl__x", 0, "attempts"), "2", "the double saw two trigger attempts");

	rc = airflow_trigger(af, "automl__y", "job__j2__1", NULL, err, sizeof(err));
	is_int(rc, AF_NOT_FOUND, "trigger before the DAG is parsed -> AF_NOT_FOUND");
	ok(strstr(err, "automl__y") && strstr(err, "not parsed"), "message: %s", err);

	rc = airflow_run_state(af, "automl__x", "job__j1__1", state, sizeof(state), err, sizeof(err));
	is_int(rc, AF_OK, "run_state -> AF_OK");
	is_str(state, "queued", "state queued");
	ctl_do("POST", "set_run_state",
			"{\"dag_id\": \"automl__x\", \"run_id\": \"job__j1__1\", \"state\": \"running\"}");
	rc = airflow_run_state(af, "automl__x", "job__j1__1", state, sizeof(state), err, sizeof(err));
	is_str(state, "running", "state follows the double");
	rc = airflow_run_state(af, "automl__x", "job__j1__1", state, 4, err, sizeof(err));
	is_int(rc, AF_PROTOCOL, "state longer than the caller's buffer -> AF_PROTOCOL");
	rc = airflow_run_state(af, "automl__x", "nope", state, sizeof(state), err, sizeof(err));
	is_int(rc, AF_NOT_FOUND, "unknown run -> AF_NOT_FOUND");

	/* token expiry: the next call gets 401, fetches a new token once, succeeds */
	add_fault("{\"mode\": \"expire_tokens\", \"path_regex\": \"/dagRuns/\", \"count\": 1}");
	rc = airflow_run_state(af, "automl__x", "job__j1__1", state, sizeof(state), err, sizeof(err));
	is_int(rc, AF_OK, "expired token -> refetch -> AF_OK (%s)", err);
	is_int(stat_of("token_requests"), 2, "exactly one more token request");
	rc = airflow_dag_exists(af, "automl__x", err, sizeof(err));
	is_int(stat_of("token_requests"), 2, "the new token is reused");

	ctl_do("POST", "expire_tokens", NULL);
	rc = airflow_trigger(af, "automl__x", "job__j1__2", conf, err, sizeof(err));
	is_int(rc, AF_OK, "trigger with an expired token -> AF_OK after refetch");
	is_int(run_count("automl__x"), 2, "the retried trigger made one run");

	/* 401 on both tries: one refetch, then AF_UNAUTHORIZED */
	add_fault("{\"mode\": \"status\", \"status\": 401, \"path_regex\": \"/dags/\", \"count\": 2}");
	rc = airflow_dag_exists(af, "automl__x", err, sizeof(err));
	is_int(rc, AF_UNAUTHORIZED, "401 after a fresh token -> AF_UNAUTHORIZED");
	is_int(stat_of("token_requests"), 4, "only one refetch for that call");
	ok(!strstr(err, "admin"), "message has no password: %s", err);

	add_fault("{\"mode\": \"status\", \"status\": 503, \"method\": \"POST\", "
			"\"path_regex\": \"/dagRuns$\", \"count\": 1}");
	rc = airflow_trigger(af, "automl__x", "job__j1__3", conf, err, sizeof(err));
	is_int(rc, AF_UNAVAILABLE, "503 -> AF_UNAVAILABLE");
	is_str(err, "Airflow answered 503 to the trigger: injected fault", "503 message");
	is_int(run_count("automl__x"), 2, "no run made by the 503");

	add_fault("{\"mode\": \"status\", \"status\": 422, \"path_regex\": \"/dagRuns$\", "
			"\"detail\": \"bad\\u0001conf \\u00e9 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}");
	rc = airflow_trigger(af, "automl__x", "job__j1__3", conf, err, sizeof(err));
	is_int(rc, AF_BAD_REQUEST, "422 -> AF_BAD_REQUEST");
	ok(printable(err) && strstr(err, "bad?conf") && strlen(err) < 250,
			"detail is printable and trimmed: %s", err);

	add_fault("{\"mode\": \"status\", \"status\": 200, \"path_regex\": \"/dagRuns/\"}");
	rc = airflow_run_state(af, "automl__x", "job__j1__1", state, sizeof(state), err, sizeof(err));
	is_int(rc, AF_PROTOCOL, "200 without a state -> AF_PROTOCOL");

	/* a dropped connection; count -1 because libcurl retries once on a reused connection */
	add_fault("{\"mode\": \"drop\", \"path_regex\": \"/dagRuns$\", \"count\": -1}");
	rc = airflow_trigger(af, "automl__x", "job__j1__3", conf, err, sizeof(err));
	is_int(rc, AF_UNAVAILABLE, "dropped connection -> AF_UNAVAILABLE");
	ok(strstr(err, "closed the connection") != NULL, "drop message: %s", err);
	ctl_do("POST", "clear_faults", NULL);
	is_int(run_count("automl__x"), 2, "no run made by the drop");

	/* an answer larger than the cap is refused */
	{
		struct buf big;

		buf_init(&big, 3 << 20);
		buf_puts(&big, "{\"mode\": \"status\", \"status\": 500, \"path_regex\": \"/dags/\", \"detail\": \"");
		for (int i = 0; i < (3 << 19); i++)
			buf_putc(&big, 'z');
		buf_puts(&big, "\"}");
		add_fault(big.data);
		buf_free(&big);
	}
	rc = airflow_dag_exists(af, "automl__x", err, sizeof(err));
	is_int(rc, AF_PROTOCOL, "answer over 1 MiB -> AF_PROTOCOL (%s)", err);
	is_str(err, "Airflow's answer to the DAG lookup is larger than 1 MiB", "the message names the cap");

	/* path segments are escaped */
	ctl_do("POST", "register_dag", "{\"dag_id\": \"odd dag/x?y\"}");
	rc = airflow_dag_exists(af, "odd dag/x?y", err, sizeof(err));
	is_int(rc, AF_OK, "a dag_id with space, slash and ? reaches the right DAG");
	rc = airflow_trigger(af, "odd dag/x?y", "r 1/2", NULL, err, sizeof(err));
	is_int(rc, AF_BAD_REQUEST, "a bad run id is Airflow's 400, not a wrong URL (%s)", err);

	json_object_put(conf);
	airflow_free(af);
}

static void test_timeout(void)
{
	struct config cfg;
	struct airflow *af;
	struct timespec t0;
	char err[256];
	enum af_rc rc;
	long ms;

	init_cfg(&cfg, 2, pw_admin);
	cfg.airflow_timeout_ms = 500;
	af = airflow_new(&cfg);
	if (!af)
		bail("airflow_new failed");
	add_fault("{\"mode\": \"hang\", \"seconds\": 1.5, \"path_regex\": \"/dagRuns$\", \"count\": 1}");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = airflow_trigger(af, "automl__x", "job__j1__9", NULL, err, sizeof(err));
	ms = ms_since(&t0);
	is_int(rc, AF_TIMEOUT, "hang past the timeout -> AF_TIMEOUT");
	ok(ms < 1300, "gave up quickly (%ld ms)", ms);
	is_str(err, "Airflow did not answer the trigger within 500 ms", "timeout message");
	/* the slow Airflow still made the run: triggering again is a conflict, one run */
	for (int i = 0; i < 100 && run_count("automl__x") < 3; i++)
		usleep(100 * 1000);   /* until the hanging request has finished in the double */
	rc = airflow_trigger(af, "automl__x", "job__j1__9", NULL, err, sizeof(err));
	is_int(rc, AF_CONFLICT, "retry after the timeout -> AF_CONFLICT (the run exists)");
	ok(strstr(run_field("automl__x", 2, "run_id"), "job__j1__9") != NULL, "the run is job__j1__9");
	is_int(run_count("automl__x"), 3, "exactly one run for it");
	airflow_free(af);
}

static void test_bad_password(void)
{
	struct config cfg;
	struct airflow *af;
	char err[256];
	enum af_rc rc;
	long before = stat_of("token_requests");

	init_cfg(&cfg, 2, pw_bad);
	af = airflow_new(&cfg);
	if (!af)
		bail("airflow_new failed");
	rc = airflow_dag_exists(af, "automl__x", err, sizeof(err));
	is_int(rc, AF_UNAUTHORIZED, "wrong password (v2) -> AF_UNAUTHORIZED");
	ok(!strstr(err, pw_bad), "message has no password: %s", err);
	is_int(stat_of("token_requests"), before + 1, "one token request");
	airflow_free(af);
}

static void test_v1(void)
{
	struct config cfg;
	struct airflow *af;
	char err[256], state[32];
	enum af_rc rc;
	long before = stat_of("token_requests");
	json_object *o, *v;

	init_cfg(&cfg, 1, pw_admin);
	af = airflow_new(&cfg);
	if (!af)
		bail("airflow_new failed");
	rc = airflow_unpause(af, "automl__x", err, sizeof(err));
	is_int(rc, AF_OK, "v1 unpause -> AF_OK (%s)", err);
	rc = airflow_trigger(af, "automl__x", "job__v1__1", NULL, err, sizeof(err));
	is_int(rc, AF_OK, "v1 trigger with basic auth -> AF_OK (%s)", err);
	rc = airflow_run_state(af, "automl__x", "job__v1__1", state, sizeof(state), err, sizeof(err));
	is_str(state, "queued", "v1 run state");
	rc = airflow_trigger(af, "automl__x", "job__v1__1", NULL, err, sizeof(err));
	is_int(rc, AF_CONFLICT, "v1 duplicate -> AF_CONFLICT");
	is_int(stat_of("token_requests"), before, "v1 asks for no token");
	o = ctl("GET", "stats", NULL);
	ok(json_object_object_get_ex(o, "requests", &v)
			&& json_object_object_get_ex(v, "POST /api/v1/dags/{id}/dagRuns", &v)
			&& json_object_get_int(v) == 2, "the double saw two v1 triggers");
	json_object_put(o);
	airflow_free(af);

	init_cfg(&cfg, 1, pw_bad);
	af = airflow_new(&cfg);
	if (!af)
		bail("airflow_new failed");
	rc = airflow_dag_exists(af, "automl__x", err, sizeof(err));
	is_int(rc, AF_UNAUTHORIZED, "v1 wrong password -> AF_UNAUTHORIZED");
	ok(!strstr(err, pw_bad), "message has no password: %s", err);
	airflow_free(af);
}

/* DAGs become visible only after the (simulated) DAG processor saw them. */
static void test_parse_delay(void)
{
	struct config cfg;
	struct airflow *af;
	char err[256], file[4200];
	enum af_rc rc;
	FILE *f;

	init_cfg(&cfg, 2, pw_admin);
	af = airflow_new(&cfg);
	if (!af)
		bail("airflow_new failed");
	ctl_do("POST", "config", "{\"parse_delay\": 1.0}");
	snprintf(file, sizeof(file), "%s/automl__f.py", dags_dir);
	f = fopen(file, "w");
	if (!f || fputs("# a DAG\n", f) == EOF || fclose(f) != 0)
		bail("cannot write %s", file);
	rc = airflow_dag_exists(af, "automl__f", err, sizeof(err));
	is_int(rc, AF_NOT_FOUND, "a new DAG file is 404 until the parse delay passed");
	usleep(1200 * 1000);
	rc = airflow_dag_exists(af, "automl__f", err, sizeof(err));
	is_int(rc, AF_OK, "... and found after it (%s)", err);
	rc = airflow_trigger(af, "automl__f", "job__f__1", NULL, err, sizeof(err));
	is_int(rc, AF_OK, "a DAG from the folder can be triggered");
	ok(unlink(file) == 0, "DAG file removed");
	ctl_do("POST", "config", "{\"parse_delay\": 0}");

	ctl_do("POST", "register_dag", "{\"dag_id\": \"automl__g\", \"delay\": 1.0}");
	rc = airflow_unpause(af, "automl__g", err, sizeof(err));
	is_int(rc, AF_NOT_FOUND, "a registered DAG with a delay is 404 at first");
	usleep(1200 * 1000);
	rc = airflow_unpause(af, "automl__g", err, sizeof(err));
	is_int(rc, AF_OK, "... and can be unpaused after it");
	airflow_free(af);
}

/* Tokens that run out on their own are replaced transparently. */
static void test_token_lifetime(void)
{
	struct config cfg;
	struct airflow *af;
	char err[256], state[32];
	enum af_rc rc;
	long before;

	init_cfg(&cfg, 2, pw_admin);
	af = airflow_new(&cfg);
	if (!af)
		bail("airflow_new failed");
	ctl_do("POST", "config", "{\"token_lifetime\": 1.0}");
	before = stat_of("token_requests");
	rc = airflow_run_state(af, "automl__f", "job__f__1", state, sizeof(state), err, sizeof(err));
	is_int(rc, AF_OK, "call with a short-lived token");
	usleep(1200 * 1000);
	rc = airflow_run_state(af, "automl__f", "job__f__1", state, sizeof(state), err, sizeof(err));
	is_int(rc, AF_OK, "call after the token ran out -> AF_OK (%s)", err);
	is_int(stat_of("token_requests"), before + 2, "one token at first, one after it expired");
	ctl_do("POST", "config", "{\"token_lifetime\": 3600}");
	airflow_free(af);
}

/* A port nobody listens on: bind one, read it, close it. */
static long closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	long port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0
			|| getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		bail("could not find a free port");
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void test_refused(void)
{
	struct config cfg;
	struct airflow *af;
	char err[256], saved[64];
	enum af_rc rc;

	memcpy(saved, url_buf, sizeof(saved));
	snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%ld/", closed_port());
	init_cfg(&cfg, 2, pw_admin);
	af = airflow_new(&cfg);
	if (!af)
		bail("airflow_new failed");
	rc = airflow_trigger(af, "automl__x", "job__j1__1", NULL, err, sizeof(err));
	is_int(rc, AF_UNAVAILABLE, "connection refused -> AF_UNAVAILABLE");
	is_str(err, "Airflow refused the connection", "refused message");
	airflow_free(af);

	init_cfg(&cfg, 2, pw_admin);
	cfg.airflow_url = NULL;
	af = airflow_new(&cfg);
	rc = airflow_dag_exists(af, "automl__x", err, sizeof(err));
	is_int(rc, AF_PROTOCOL, "no URL configured -> AF_PROTOCOL");
	airflow_free(af);
	memcpy(url_buf, saved, sizeof(url_buf));
}

/* mlflow.c against the double's MLflow endpoints: the run a DAG could not
 * report is found by its job and run tags, and only that one. */
static void test_mlflow_lookup(void)
{
	const char *job = "3c90c3cc-0d44-4b50-8888-8dd25736052a";
	const char *other = "3c90c3cc-0d44-4b50-8888-8dd25736052b";
	struct config cfg;
	struct mlflow *m;
	char run[64], saved[64];

	memset(&cfg, 0, sizeof(cfg));
	cfg.airflow_connect_timeout_ms = 2000;
	cfg.airflow_timeout_ms = 5000;
	cfg.mlflow_tracking_uri = NULL;
	ok(mlflow_new(&cfg) == NULL, "no tracking URI: no MLflow client");
	cfg.mlflow_tracking_uri = (char *)"sqlite:///mlflow.db";
	ok(mlflow_new(&cfg) == NULL, "a non-HTTP tracking URI: no MLflow client");
	cfg.mlflow_tracking_uri = url_buf;
	m = mlflow_new(&cfg);
	if (!m)
		bail("mlflow_new failed");
	run[0] = '\0';
	is_int(mlflow_find_run(m, "automl/d/n", job, "automl-x-a1", run, sizeof(run)), 0,
			"no experiment yet: not found");
	ctl_do("POST", "mlflow_run", "{\"experiment\":\"automl/d/n\",\"job_id\":"
			"\"3c90c3cc-0d44-4b50-8888-8dd25736052a\",\"dag_run_id\":\"automl-x-a1\","
			"\"run_id\":\"0123abcd\"}");
	is_int(mlflow_find_run(m, "automl/d/n", job, "automl-x-a1", run, sizeof(run)), 1,
			"run found by its tags");
	is_str(run, "0123abcd", "its run id");
	is_int(mlflow_find_run(m, "automl/d/n", other, "automl-x-a1", run, sizeof(run)), 0,
			"another job's run is not taken");
	is_int(mlflow_find_run(m, "automl/d/n", job, "automl-x-a2", run, sizeof(run)), 0,
			"another attempt's run is not taken");
	is_int(mlflow_find_run(m, "automl/d/n", "x' or 'a'='a", "automl-x-a1", run, sizeof(run)), -1,
			"a job id that is not a uuid never reaches the filter");
	is_int(mlflow_find_run(m, "automl/d/n", job, "a1' or '1", run, sizeof(run)), -1,
			"a run id with a quote never reaches the filter");
	mlflow_free(m);

	memcpy(saved, url_buf, sizeof(saved));
	snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%ld", closed_port());
	m = mlflow_new(&cfg);
	is_int(mlflow_find_run(m, "automl/d/n", job, "automl-x-a1", run, sizeof(run)), -1,
			"MLflow down: could not ask (-1), not 'no run'");
	mlflow_free(m);
	memcpy(url_buf, saved, sizeof(url_buf));
}

/* The dispatcher's calls: is the DAG paused, mark a run failed, import errors,
 * and the cap on what a web request may spend. */
static void test_dispatcher_calls(void)
{
	struct config cfg;
	struct airflow *af;
	struct timespec t0;
	char err[256], msg[256], state[32];
	int paused = -1;
	enum af_rc rc;
	long ms;

	init_cfg(&cfg, 2, pw_admin);
	af = airflow_new(&cfg);
	if (!af)
		bail("airflow_new failed");
	ctl_do("POST", "register_dag", "{\"dag_id\": \"automl__d\"}");
	rc = airflow_dag_paused(af, "automl__d", &paused, err, sizeof(err));
	is_int(rc, AF_OK, "dag_paused -> AF_OK (%s)", err);
	is_int(paused, 1, "a registered DAG starts paused");
	is_int(airflow_unpause(af, "automl__d", err, sizeof(err)), AF_OK, "unpause");
	rc = airflow_dag_paused(af, "automl__d", &paused, err, sizeof(err));
	is_int(paused, 0, "and then reads unpaused");
	is_int(airflow_dag_paused(af, "automl__nope", &paused, err, sizeof(err)), AF_NOT_FOUND,
			"dag_paused of an unknown DAG -> AF_NOT_FOUND");

	is_int(airflow_trigger(af, "automl__d", "r-1", NULL, err, sizeof(err)), AF_OK, "trigger");
	rc = airflow_fail_run(af, "automl__d", "r-1", err, sizeof(err));
	is_int(rc, AF_OK, "fail_run -> AF_OK (%s)", err);
	airflow_run_state(af, "automl__d", "r-1", state, sizeof(state), err, sizeof(err));
	is_str(state, "failed", "the run is failed in Airflow");
	is_int(airflow_fail_run(af, "automl__d", "r-404", err, sizeof(err)), AF_NOT_FOUND,
			"fail_run of an unknown run -> AF_NOT_FOUND");

	is_int(airflow_import_error(af, "automl__bad", msg, sizeof(msg), err, sizeof(err)),
			AF_NOT_FOUND, "no import error recorded -> AF_NOT_FOUND");
	ctl_do("POST", "import_error", "{\"filename\": \"other/automl__bad.py.bak\","
			" \"stack_trace\": \"nope\"}");
	ctl_do("POST", "import_error", "{\"filename\": \"automl__bad.py\", \"stack_trace\":"
			" \"Traceback (most recent call last):\\n  File \\\"x\\\", line 3\\n"
			"SyntaxError: invalid syntax \\u001b[31m\\n\\n\"}");
	rc = airflow_import_error(af, "automl__bad", msg, sizeof(msg), err, sizeof(err));
	is_int(rc, AF_OK, "import error of the DAG's file -> AF_OK (%s)", err);
	is_str(msg, "SyntaxError: invalid syntax ?[31m", "its last line, control characters masked");
	is_int(airflow_import_error(af, "automl__ba", msg, sizeof(msg), err, sizeof(err)),
			AF_NOT_FOUND, "another DAG's file does not match");

	/* a request's cap: a hang of 1.5 s is cut at 300 ms whatever the configured timeout */
	airflow_set_limit_ms(af, 300);
	add_fault("{\"mode\": \"hang\", \"seconds\": 1.5, \"path_regex\": \"/dagRuns$\", \"count\": 1}");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = airflow_trigger(af, "automl__d", "r-2", NULL, err, sizeof(err));
	ms = ms_since(&t0);
	is_int(rc, AF_TIMEOUT, "capped call -> AF_TIMEOUT");
	ok(ms < 1000, "gave up at the cap (%ld ms)", ms);
	is_str(err, "Airflow did not answer the trigger within 300 ms", "the message names the cap");
	airflow_set_limit_ms(af, 0);
	for (int i = 0; i < 100 && run_count("automl__d") < 2; i++)
		usleep(100 * 1000);
	is_int(airflow_trigger(af, "automl__d", "r-2", NULL, err, sizeof(err)), AF_CONFLICT,
			"uncapped again: the slow run exists (409)");
	airflow_free(af);
}

int main(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		bail("curl_global_init failed");
	log_set_level(LOG_ERROR);
	ctl_curl = curl_easy_init();
	if (!ctl_curl)
		bail("curl_easy_init failed");
	start_double();
	snprintf(url_buf, sizeof(url_buf), "%s", base_url);

	is_str(af_rc_str(AF_CONFLICT), "conflict", "af_rc_str");
	test_v2();
	test_timeout();
	test_bad_password();
	test_v1();
	test_parse_delay();
	test_token_lifetime();
	test_refused();
	test_mlflow_lookup();
	test_dispatcher_calls();
	ctl_do("POST", "reset", NULL);
	is_int(run_count("automl__x"), 0, "reset forgets the runs");

	stop_double();
	curl_easy_cleanup(ctl_curl);
	curl_global_cleanup();
	return done_testing();
}
