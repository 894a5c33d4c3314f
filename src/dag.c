/* dag.c - renders a job's Airflow DAG from its family's template followed by
 * the shared common.py.in, replacing
 * each @@KEY@@ by a Python literal (never raw text), and publishes the result
 * atomically (temp file, fsync, rename, fsync dir) into the DAGs folder. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "dag.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "lim.h"
#include "log.h"

#define TMP_ID_MAX 200              /* bytes of the id used in a temp file name */
#define DAG_PATH_MAX 4096
#define DAG_COMMON_TEMPLATE "common"  /* common.py.in: follows every family's template */

/* Why a literal could not be appended. */
enum lit_why { LIT_OK, LIT_BAD_UTF8, LIT_TOO_BIG, LIT_NOMEM };

/* Is s[0..n) strictly valid UTF-8 (job.h's utf8_decode: no overlongs,
 * surrogates, code points above U+10FFFF or cut-short sequences)? */
static int utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		k = utf8_decode(p + i, n - i, &cp);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* Append and classify a failure: over the buffer's limit, or out of memory. */
static enum lit_why put(struct buf *out, const void *p, size_t n)
{
	if (buf_append(out, p, n) == 0)
		return LIT_OK;
	if (out->len > out->max || n > out->max - out->len)
		return LIT_TOO_BIG;
	return LIT_NOMEM;
}

/* Undo a partial append: back to len bytes, still NUL-terminated. */
static void truncate_to(struct buf *out, size_t len)
{
	out->len = len;
	if (out->data)
		out->data[len] = '\0';
}

/* The literal of s (NULL -> None) appended to out; out is unchanged on failure. */
static enum lit_why str_literal(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t start = out->len, n, i, run, k;
	enum lit_why why;
	uint32_t cp;
	char esc[10];
	size_t elen;
	int shift;

	if (s == NULL) {
		why = put(out, "None", 4);
		goto out;
	}
	n = strlen(s);
	if (!utf8_valid(s, n))
		return LIT_BAD_UTF8;
	why = put(out, "'", 1);
	if (why)
		goto out;
	i = 0;
	while (i < n) {
		/* Copy a run of printable ASCII that needs no escape in one go. */
		run = i;
		while (run < n && p[run] >= 0x20 && p[run] < 0x7F && p[run] != '\'' && p[run] != '\\')
			run++;
		if (run > i) {
			why = put(out, p + i, run - i);
			if (why)
				goto out;
			i = run;
			continue;
		}
		k = utf8_decode(p + i, n - i, &cp);   /* cannot fail: validated above */
		i += k;
		esc[0] = '\\';
		switch (cp) {
		case '\\': esc[1] = '\\'; elen = 2; break;
		case '\'': esc[1] = '\''; elen = 2; break;
		case '\n': esc[1] = 'n'; elen = 2; break;
		case '\r': esc[1] = 'r'; elen = 2; break;
		case '\t': esc[1] = 't'; elen = 2; break;
		default:
			if (cp < 0x80) {          /* other control characters and DEL */
				esc[1] = 'x';
				esc[2] = hex[(cp >> 4) & 0xF];
				esc[3] = hex[cp & 0xF];
				elen = 4;
			} else if (cp < 0x10000) {
				esc[1] = 'u';
				for (shift = 12, elen = 2; shift >= 0; shift -= 4)
					esc[elen++] = hex[(cp >> shift) & 0xF];
			} else {
				esc[1] = 'U';
				for (shift = 28, elen = 2; shift >= 0; shift -= 4)
					esc[elen++] = hex[(cp >> shift) & 0xF];
			}
			break;
		}
		why = put(out, esc, elen);
		if (why)
			goto out;
	}
	why = put(out, "'", 1);
out:
	if (why)
		truncate_to(out, start);
	return why;
}

int py_str_literal(struct buf *out, const char *s)
{
	return str_literal(out, s) == LIT_OK ? 0 : -1;
}

/* Read a whole template file (at most LIM_DAG_TEMPLATE bytes) into t. */
static enum aerr read_template(const char *path, struct buf *t)
{
	enum aerr rc = AE_INTERNAL;
	char chunk[8192];
	ssize_t got;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0) {
		log_error("dag: cannot open template %s: %s", path, strerror(errno));
		return AE_INTERNAL;
	}
	for (;;) {
		got = read(fd, chunk, sizeof chunk);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			log_error("dag: cannot read template %s: %s", path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		if (t->len + (size_t)got > LIM_DAG_TEMPLATE) {
			log_error("dag: template %s is larger than %d bytes", path, LIM_DAG_TEMPLATE);
			goto out;
		}
		if (buf_append(t, chunk, (size_t)got)) {
			rc = AE_NOMEM;
			goto out;
		}
	}
	rc = AE_OK;
out:
	close(fd);
	return rc;
}

struct placeholder {
	const char *key;
	const char *value;   /* borrowed; NULL renders None */
};

/* Copy tpl into out with every @@KEY@@ replaced by the literal of its value.
 * Any other "@@" is an error, so a template typo never passes silently. */
static enum aerr substitute(const char *path, const struct buf *tpl,
		const struct placeholder *ph, size_t nph, struct buf *out)
{
	const char *s = tpl->data ? tpl->data : "";
	size_t n = tpl->len, i = 0, k, j, x, line;
	const char *at;
	enum lit_why why = LIT_OK;

	while (i < n) {
		at = NULL;
		for (j = i; j + 1 < n; j++) {
			if (s[j] == '@' && s[j + 1] == '@') {
				at = s + j;
				break;
			}
		}
		if (at == NULL) {
			why = put(out, s + i, n - i);
			break;
		}
		why = put(out, s + i, (size_t)(at - (s + i)));
		if (why)
			break;
		j = (size_t)(at - s) + 2;   /* first byte of the key */
		k = j;
		while (k < n && ((s[k] >= 'A' && s[k] <= 'Z') || s[k] == '_'))
			k++;
		if (k == j || k + 1 >= n || s[k] != '@' || s[k + 1] != '@') {
			for (line = 1, k = 0; k < (size_t)(at - s); k++)
				line += s[k] == '\n';
			log_error("dag: template %s line %zu: \"@@\" that does not form @@KEY@@", path, line);
			return AE_INTERNAL;
		}
		for (x = 0; x < nph; x++) {
			if (strlen(ph[x].key) == k - j && memcmp(ph[x].key, s + j, k - j) == 0)
				break;
		}
		if (x == nph) {
			log_error("dag: template %s: unknown placeholder @@%.*s@@", path, (int)(k - j), s + j);
			return AE_INTERNAL;
		}
		why = str_literal(out, ph[x].value);
		if (why == LIT_BAD_UTF8) {
			log_error("dag: value of @@%s@@ is not valid UTF-8", ph[x].key);
			return AE_INTERNAL;
		}
		if (why)
			break;
		i = k + 2;
	}
	if (why == LIT_TOO_BIG) {
		log_error("dag: rendered DAG from %s exceeds the output limit of %zu bytes", path, out->max);
		return AE_INTERNAL;
	}
	return why ? AE_NOMEM : AE_OK;
}

/* Render {dir}/{name}.py.in and append it to out. */
static enum aerr render_file(const char *dir, const char *name, const struct placeholder *ph,
		size_t nph, struct buf *out)
{
	char path[DAG_PATH_MAX];
	struct buf tpl;
	enum aerr rc;
	int len;

	len = snprintf(path, sizeof path, "%s/%s.py.in", dir, name);
	if (len < 0 || (size_t)len >= sizeof path) {
		log_error("dag: template path too long");
		return AE_INTERNAL;
	}
	buf_init(&tpl, LIM_DAG_TEMPLATE + 1);
	rc = read_template(path, &tpl);
	if (rc == AE_OK)
		rc = substitute(path, &tpl, ph, nph, out);
	buf_free(&tpl);
	return rc;
}

enum aerr dag_render(const struct config *cfg, const struct job *job, struct buf *out)
{
	enum aerr rc = AE_INTERNAL;
	struct buf url;
	size_t start = out->len;
	const char *family, *pt, *alg, *preset;

	buf_init(&url, DAG_PATH_MAX);
	family = algorithm_family(job->algorithm);
	pt = problem_type_str(job->problem_type);
	alg = algorithm_str(job->algorithm);
	preset = preset_str(job->preset);
	if (!family || !pt || !alg || !preset) {
		log_error("dag: job %s has an out-of-range enum (algorithm %d, problem type %d, preset %d)",
				job->job_id, (int)job->algorithm, (int)job->problem_type, (int)job->preset);
		goto out;
	}
	if (job->airflow_dag_id == NULL) {
		log_error("dag: job %s has no airflow_dag_id", job->job_id);
		goto out;
	}
	if (cfg->templates_dir == NULL) {
		log_error("dag: no templates directory configured");
		goto out;
	}
	if (cfg->public_url) {
		if (buf_printf(&url, "%s/api/automl/train/jobs/%s/status", cfg->public_url, job->job_id)) {
			rc = AE_NOMEM;
			goto out;
		}
	}
	{
		const struct placeholder ph[] = {
			{ "JOB_ID", job->job_id },
			{ "JOB_NAME", job->name },
			{ "DOMAIN", job->domain },
			{ "OWNER", job->owner },
			{ "SOURCE_TABLE", job->source_table },
			{ "LABEL_COLUMN", job->label_column },
			{ "PROBLEM_TYPE", pt },
			{ "ALGORITHM", alg },
			{ "PRESET", preset },
			{ "DAG_ID", job->airflow_dag_id },
			{ "MLFLOW_EXPERIMENT_NAME", job->mlflow_experiment_name },
			{ "REGISTERED_MODEL_NAME", job->registered_model_name },
			{ "MLFLOW_TRACKING_URI", cfg->mlflow_tracking_uri },
			{ "STATUS_URL", cfg->public_url ? (url.data ? url.data : "") : NULL },
			{ "TRAIN_PYTHON", cfg->train_python },
			{ "WAREHOUSE_CONN_ID", cfg->warehouse_conn_id },
			{ "FEATURE_ENGINEERING_JOB_ID", job->feature_engineering_job_id },
		};
		const size_t nph = sizeof ph / sizeof ph[0];

		/* the family's part (its job literals first), then the body every family shares */
		rc = render_file(cfg->templates_dir, family, ph, nph, out);
		if (rc == AE_OK)
			rc = render_file(cfg->templates_dir, DAG_COMMON_TEMPLATE, ph, nph, out);
	}
out:
	if (rc)
		truncate_to(out, start);
	buf_free(&url);
	return rc;
}

/* ^[A-Za-z0-9_.-]{1,250}$, not starting with '.': a plain file name. */
static int dag_id_ok(const char *id)
{
	size_t i;

	if (id == NULL || id[0] == '\0' || id[0] == '.')
		return 0;
	for (i = 0; id[i]; i++) {
		char c = id[i];
		if (i >= LIM_AIRFLOW_ID)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
				c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

static int write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

enum aerr dag_publish(const struct config *cfg, const char *dag_id, const char *src, size_t len)
{
	enum aerr rc = AE_DAG_PUBLISH;
	char tmp[DAG_PATH_MAX], final[DAG_PATH_MAX];
	struct stat st;
	int fd = -1, dfd = -1, made = 0, n;

	if (cfg->dags_dir == NULL || cfg->dags_dir[0] == '\0') {
		log_error("dag: publish: no DAGs directory configured");
		goto out;
	}
	if (!dag_id_ok(dag_id)) {
		log_error("dag: publish: refusing DAG id that is not a plain file name");
		goto out;
	}
	if (src == NULL && len > 0) {
		log_error("dag: publish %s: no source", dag_id);
		goto out;
	}
	if (stat(cfg->dags_dir, &st) != 0) {
		log_error("dag: publish: DAGs directory %s: %s", cfg->dags_dir, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("dag: publish: DAGs directory %s is not a directory", cfg->dags_dir);
		goto out;
	}
	/* The temp name keeps within NAME_MAX (255) even for a 250-byte id. */
	n = snprintf(tmp, sizeof tmp, "%s/.%.*s.py.tmp.XXXXXX", cfg->dags_dir, TMP_ID_MAX, dag_id);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		log_error("dag: publish %s: path too long", dag_id);
		goto out;
	}
	n = snprintf(final, sizeof final, "%s/%s.py", cfg->dags_dir, dag_id);
	if (n < 0 || (size_t)n >= sizeof final) {
		log_error("dag: publish %s: path too long", dag_id);
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		log_error("dag: publish: cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	made = 1;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fchmod(fd, 0644) != 0) {
		log_error("dag: publish: cannot set mode of %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, src, len) != 0) {
		log_error("dag: publish: cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fsync(fd) != 0) {
		log_error("dag: publish: cannot fsync %s: %s", tmp, strerror(errno));
		goto out;
	}
	n = close(fd);
	fd = -1;
	if (n != 0) {
		log_error("dag: publish: cannot close %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, final) != 0) {
		log_error("dag: publish: cannot rename %s to %s: %s", tmp, final, strerror(errno));
		goto out;
	}
	made = 0;
	dfd = open(cfg->dags_dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || fsync(dfd) != 0) {
		/* Some file systems cannot fsync a directory; that is not a failure. */
		if (dfd >= 0 && (errno == EINVAL || errno == ENOTSUP)) {
			log_warn("dag: publish: cannot fsync directory %s: %s", cfg->dags_dir, strerror(errno));
		} else {
			log_error("dag: publish: cannot fsync directory %s: %s", cfg->dags_dir, strerror(errno));
			if (unlink(final) != 0)
				log_error("dag: publish: cannot remove %s: %s", final, strerror(errno));
			goto out;
		}
	}
	rc = AE_OK;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (made && unlink(tmp) != 0)
		log_error("dag: publish: cannot remove %s: %s", tmp, strerror(errno));
	return rc;
}

void dag_unpublish(const struct config *cfg, const char *dag_id)
{
	char path[DAG_PATH_MAX];
	int n;

	if (cfg->dags_dir == NULL || !dag_id_ok(dag_id)) {
		log_error("dag: unpublish: no DAGs directory or bad DAG id");
		return;
	}
	n = snprintf(path, sizeof path, "%s/%s.py", cfg->dags_dir, dag_id);
	if (n < 0 || (size_t)n >= sizeof path) {
		log_error("dag: unpublish %s: path too long", dag_id);
		return;
	}
	if (unlink(path) != 0 && errno != ENOENT)
		log_error("dag: unpublish: cannot remove %s: %s", path, strerror(errno));
}
