/* fuzz_config.c - libFuzzer harness for the AUTOML_CONFIG file parser: each
 * input is written to one temp file that AUTOML_CONFIG names, then loaded.
 * Inputs naming /dev, /proc or /sys are skipped (a *_FILE key could block on
 * a device or FIFO). Built by build.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern char **environ;

static char path[512];

static void setup(void)
{
	const char *t = getenv("TMPDIR");
	int fd;

	for (;;) {   /* the environment must not decide anything */
		char name[256];
		int found = 0;
		for (char **e = environ; e && *e; e++) {
			const char *eq = strchr(*e, '=');
			if (strncmp(*e, "AUTOML_", 7) == 0 && eq && (size_t)(eq - *e) < sizeof(name)) {
				memcpy(name, *e, (size_t)(eq - *e));
				name[eq - *e] = '\0';
				found = 1;
				break;
			}
		}
		if (!found)
			break;
		unsetenv(name);
	}
	snprintf(path, sizeof(path), "%s/automl-fuzz-config-XXXXXX", t && *t ? t : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	close(fd);
	setenv("AUTOML_CONFIG", path, 1);
}

static void cleanup(void)
{
	if (*path)
		unlink(path);
}

static int has(const uint8_t *data, size_t size, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= size; i++)
		if (memcmp(data + i, needle, k) == 0)
			return 1;
	return 0;
}

static int ends_with_slash(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 1 && s[n - 1] == '/';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[256];
	FILE *fp;

	if (!*path) {
		setup();
		atexit(cleanup);
	}
	if (has(data, size, "/dev") || has(data, size, "/proc") || has(data, size, "/sys"))
		return 0;
	fp = fopen(path, "wb");
	if (!fp)
		abort();
	if (size && fwrite(data, 1, size, fp) != size)
		abort();
	fclose(fp);

	err[0] = '\0';
	if (config_load(&cfg, err, sizeof(err)) == 0) {
		if (!cfg.database_url || !cfg.templates_dir || !cfg.warehouse_conn_id)
			abort();
		if (cfg.airflow_api != 1 && cfg.airflow_api != 2)
			abort();
		if (cfg.max_body < 1024 || cfg.max_body > 16777216 || cfg.log_level < 0 || cfg.log_level > 3)
			abort();
		if (ends_with_slash(cfg.airflow_url) || ends_with_slash(cfg.airflow_ui_url) ||
		    ends_with_slash(cfg.public_url))
			abort();
		if (cfg.airflow_url && !cfg.airflow_ui_url)
			abort();
		config_free(&cfg);
	} else {
		if (!err[0] || cfg.database_url)
			abort();
	}
	return 0;
}
