/* test_job.c - TAP unit tests of the training-job domain (src/job.c): enum
 * spellings, algorithm/problem fit, status rules, create-body validation with
 * field-level errors, derived names and job -> JSON. Pure; no I/O. */
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "tap.h"
#include "arena.h"
#include "job.h"

#define UUID1 "3c90c3cc-0d44-4b50-8888-8dd25736052a"
#define UUID2 "3c90c3cc-0d44-4b50-8888-8dd25736052b"

/* Does s match the extended regular expression re (whole string)? */
static int full_match(const char *re, const char *s)
{
	regex_t rx;
	int rc;

	if (!s)
		return 0;
	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB))
		return 0;
	rc = regexec(&rx, s, 0, NULL, 0);
	regfree(&rx);
	return rc == 0;
}

/* s with control characters shown as '?', for test descriptions (one line). */
static const char *printable(const char *s)
{
	static char buf[256];
	size_t n = 0;

	for (; s && *s && n < sizeof(buf) - 1; s++)
		buf[n++] = (unsigned char)*s < 0x20 ? '?' : *s;
	buf[n] = '\0';
	return buf;
}

/* ---- enum spellings ---------------------------------------------------- */

static void test_enums(void)
{
	static const char *const pts[] = {
		"binary_classification", "multiclass_classification", "regression",
		"ranking", "anomaly_detection", "contextual_bandit",
	};
	static const char *const algs[] = {
		"lightgbm_classifier", "lightgbm_regressor", "lightgbm_ranker",
		"isolation_forest", "vw_classifier", "vw_regressor", "vw_contextual_bandit",
	};
	static const char *const pres[] = { "fast", "balanced", "best_quality" };
	static const char *const sts[] = { "ready", "queued", "running", "complete", "failed" };
	static const char *const bad[] = {
		"", "READY", "Ready", "ready ", " ready", "regression\n", "lightgbm", "vw",
		"Fast", "BALANCED", "best-quality", "binary-classification", "unknown",
	};

	is_int(PT__MAX, 6, "six problem types");
	is_int(ALG__MAX, 7, "seven algorithms");
	is_int(PRESET__MAX, 3, "three presets");
	is_int(ST__MAX, 5, "five statuses");

	for (int i = 0; i < PT__MAX; i++) {
		enum problem_type v = PT__MAX;
		is_str(problem_type_str((enum problem_type)i), pts[i], "problem_type_str(%d)", i);
		is_int(problem_type_parse(pts[i], &v), 0, "problem_type_parse(%s)", pts[i]);
		is_int(v, i, "problem_type %s round-trips", pts[i]);
	}
	for (int i = 0; i < ALG__MAX; i++) {
		enum algorithm v = ALG__MAX;
		is_str(algorithm_str((enum algorithm)i), algs[i], "algorithm_str(%d)", i);
		is_int(algorithm_parse(algs[i], &v), 0, "algorithm_parse(%s)", algs[i]);
		is_int(v, i, "algorithm %s round-trips", algs[i]);
	}
	for (int i = 0; i < PRESET__MAX; i++) {
		enum preset v = PRESET__MAX;
		is_str(preset_str((enum preset)i), pres[i], "preset_str(%d)", i);
		is_int(preset_parse(pres[i], &v), 0, "preset_parse(%s)", pres[i]);
		is_int(v, i, "preset %s round-trips", pres[i]);
	}
	for (int i = 0; i < ST__MAX; i++) {
		enum job_status v = ST__MAX;
		is_str(status_str((enum job_status)i), sts[i], "status_str(%d)", i);
		is_int(status_parse(sts[i], &v), 0, "status_parse(%s)", sts[i]);
		is_int(v, i, "status %s round-trips", sts[i]);
	}

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *shown = printable(bad[i]);
		enum problem_type p = PT_RANKING;
		enum algorithm a = ALG_VW_REGRESSOR;
		enum preset s = PRESET_FAST;
		enum job_status st = ST_RUNNING;
		ok(problem_type_parse(bad[i], &p) == -1 && p == PT_RANKING,
				"problem_type_parse rejects \"%s\" and leaves *out", shown);
		ok(algorithm_parse(bad[i], &a) == -1 && a == ALG_VW_REGRESSOR,
				"algorithm_parse rejects \"%s\"", shown);
		ok(preset_parse(bad[i], &s) == -1 && s == PRESET_FAST,
				"preset_parse rejects \"%s\"", shown);
		ok(status_parse(bad[i], &st) == -1 && st == ST_RUNNING,
				"status_parse rejects \"%s\"", shown);
	}
	{
		enum problem_type p;
		enum algorithm a;
		enum preset s;
		enum job_status st;
		is_int(problem_type_parse(NULL, &p), -1, "problem_type_parse(NULL) fails");
		is_int(algorithm_parse(NULL, &a), -1, "algorithm_parse(NULL) fails");
		is_int(preset_parse(NULL, &s), -1, "preset_parse(NULL) fails");
		is_int(status_parse(NULL, &st), -1, "status_parse(NULL) fails");
		/* a spelling of one enum is not a spelling of another */
		is_int(algorithm_parse("regression", &a), -1, "a problem type is not an algorithm");
		is_int(problem_type_parse("lightgbm_ranker", &p), -1, "an algorithm is not a problem type");
		is_int(status_parse("fast", &st), -1, "a preset is not a status");
	}
	/* out-of-range values do not crash and give no valid spelling */
	ok(problem_type_str(PT__MAX) != NULL, "problem_type_str(out of range) is not NULL");
	ok(algorithm_str(ALG__MAX) != NULL, "algorithm_str(out of range) is not NULL");
	ok(preset_str(PRESET__MAX) != NULL, "preset_str(out of range) is not NULL");
	ok(status_str(ST__MAX) != NULL, "status_str(out of range) is not NULL");
	{
		enum job_status st;
		ok(status_parse(status_str(ST__MAX), &st) == -1, "out-of-range status has no parseable spelling");
	}
}

/* ---- algorithm fit / family -------------------------------------------- */

static void test_fits(void)
{
	/* rows: algorithms in enum order; columns: problem types in enum order */
	static const int want[ALG__MAX][PT__MAX] = {
		/*                         bin mul reg rank anom cb */
		/* lightgbm_classifier */ { 1, 1, 0, 0, 0, 0 },
		/* lightgbm_regressor  */ { 0, 0, 1, 0, 0, 0 },
		/* lightgbm_ranker     */ { 0, 0, 0, 1, 0, 0 },
		/* isolation_forest    */ { 0, 0, 0, 0, 1, 0 },
		/* vw_classifier       */ { 1, 1, 0, 0, 0, 0 },
		/* vw_regressor        */ { 0, 0, 1, 0, 0, 0 },
		/* vw_contextual_bandit*/ { 0, 0, 0, 0, 0, 1 },
	};

	for (int a = 0; a < ALG__MAX; a++)
		for (int p = 0; p < PT__MAX; p++)
			is_int(!!algorithm_fits((enum algorithm)a, (enum problem_type)p), want[a][p],
					"algorithm_fits(%s, %s)", algorithm_str((enum algorithm)a),
					problem_type_str((enum problem_type)p));

	is_str(algorithm_family(ALG_LIGHTGBM_CLASSIFIER), "lightgbm", "family lightgbm_classifier");
	is_str(algorithm_family(ALG_LIGHTGBM_REGRESSOR), "lightgbm", "family lightgbm_regressor");
	is_str(algorithm_family(ALG_LIGHTGBM_RANKER), "lightgbm", "family lightgbm_ranker");
	is_str(algorithm_family(ALG_ISOLATION_FOREST), "iforest", "family isolation_forest");
	is_str(algorithm_family(ALG_VW_CLASSIFIER), "vw", "family vw_classifier");
	is_str(algorithm_family(ALG_VW_REGRESSOR), "vw", "family vw_regressor");
	is_str(algorithm_family(ALG_VW_CONTEXTUAL_BANDIT), "vw", "family vw_contextual_bandit");
}

/* ---- status rules ------------------------------------------------------ */

static void test_status_rules(void)
{
	/* from (rows) -> to (columns): ready queued running complete failed */
	static const int want[ST__MAX][ST__MAX] = {
		/* ready    */ { 0, 0, 0, 0, 0 },
		/* queued   */ { 0, 0, 1, 1, 1 },
		/* running  */ { 0, 0, 1, 1, 1 },
		/* complete */ { 0, 0, 0, 0, 0 },
		/* failed   */ { 0, 0, 0, 0, 0 },
	};
	static const int trig[ST__MAX] = { 1, 0, 0, 0, 1 };

	for (int f = 0; f < ST__MAX; f++)
		for (int t = 0; t < ST__MAX; t++)
			is_int(!!status_writeback_ok((enum job_status)f, (enum job_status)t), want[f][t],
					"status_writeback_ok(%s -> %s)", status_str((enum job_status)f),
					status_str((enum job_status)t));
	for (int s = 0; s < ST__MAX; s++)
		is_int(!!status_triggerable((enum job_status)s), trig[s], "status_triggerable(%s)",
				status_str((enum job_status)s));
}

/* ---- uuid -------------------------------------------------------------- */

static void test_uuid(void)
{
	static const char *const good[] = {
		UUID1, "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
		"3C90C3CC-0D44-4B50-8888-8DD25736052A",
	};
	static const char *const bad[] = {
		"", "3c90c3cc0d444b5088888dd25736052a", "3c90c3cc-0d44-4b50-8888-8dd25736052",
		"3c90c3cc-0d44-4b50-8888-8dd25736052aa", "{3c90c3cc-0d44-4b50-8888-8dd25736052a}",
		"3c90c3cc-0d44-4b50-8888-8dd2573605zz", "3c90c3cc-0d44-4b50-88888-dd25736052a",
		"3c90c3cc-0d444-b50-8888-8dd25736052a", "3c90c3cc_0d44_4b50_8888_8dd25736052a",
		" 3c90c3cc-0d44-4b50-8888-8dd2573605a", "3c90c3cc-0d44-4b50-8888-8dd2573605a ",
		"urn:uuid:3c90c3cc-0d44-4b50-8888-8dd2573605", "../../../../etc/passwd/aaaaaaaaaaaaaa",
		"3c90c3cc-0d44-4b50-8888-8dd25736052\n", "------------------------------------",
		"3c90c3cc-0d44-4b50-8888-8dd25736052\xc3\xa9",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(uuid_valid(good[i]), "uuid_valid(%s)", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!uuid_valid(bad[i]), "!uuid_valid(\"%s\")", printable(bad[i]));
	ok(!uuid_valid(NULL), "!uuid_valid(NULL)");
}

/* ---- utf8_decode ------------------------------------------------------- */

/* Reference encoder: any value up to 0x10FFFF (surrogates too), 1-4 bytes. */
static size_t utf8_encode(uint32_t cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (unsigned char)(0xF0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

static void test_utf8(void)
{
	static const struct {
		const char *s;
		size_t n;
		size_t len;      /* 0: invalid */
		uint32_t cp;
		const char *what;
	} cases[] = {
		{ "A", 1, 1, 0x41, "ASCII" },
		{ "\x00", 1, 1, 0, "NUL is one byte (callers reject it)" },
		{ "\x7f", 1, 1, 0x7f, "DEL" },
		{ "\xc2\x80", 2, 2, 0x80, "U+0080" },
		{ "\xdf\xbf", 2, 2, 0x7ff, "U+07FF" },
		{ "\xe0\xa0\x80", 3, 3, 0x800, "U+0800" },
		{ "\xed\x9f\xbf", 3, 3, 0xd7ff, "U+D7FF" },
		{ "\xee\x80\x80", 3, 3, 0xe000, "U+E000" },
		{ "\xef\xbf\xbf", 3, 3, 0xffff, "U+FFFF" },
		{ "\xf0\x90\x80\x80", 4, 4, 0x10000, "U+10000" },
		{ "\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff, "U+10FFFF" },
		{ "\xc3\xa9xyz", 5, 2, 0xe9, "only the first sequence" },
		{ "", 0, 0, 0, "n = 0" },
		{ "\x80", 1, 0, 0, "lone continuation" },
		{ "\xbf", 1, 0, 0, "lone continuation BF" },
		{ "\xc0\x80", 2, 0, 0, "overlong NUL (C0 80)" },
		{ "\xc1\xbf", 2, 0, 0, "overlong (C1 BF)" },
		{ "\xe0\x9f\xbf", 3, 0, 0, "overlong three-byte" },
		{ "\xf0\x8f\xbf\xbf", 4, 0, 0, "overlong four-byte" },
		{ "\xed\xa0\x80", 3, 0, 0, "surrogate D800" },
		{ "\xed\xbf\xbf", 3, 0, 0, "surrogate DFFF" },
		{ "\xf4\x90\x80\x80", 4, 0, 0, "U+110000" },
		{ "\xf5\x80\x80\x80", 4, 0, 0, "lead F5" },
		{ "\xff", 1, 0, 0, "FF" },
		{ "\xfe", 1, 0, 0, "FE" },
		{ "\xc3", 1, 0, 0, "truncated two-byte" },
		{ "\xe2\x82", 2, 0, 0, "truncated three-byte" },
		{ "\xf0\x9f\x98", 3, 0, 0, "truncated four-byte" },
		{ "\xe2\x82\xac", 2, 0, 0, "n shorter than the sequence" },
		{ "\xc3\x28", 2, 0, 0, "bad continuation" },
		{ "\xe2\x28\xa1", 3, 0, 0, "bad second byte" },
		{ "\xe2\x82\x28", 3, 0, 0, "bad third byte" },
		{ "\xf0\x9f\x98\x28", 4, 0, 0, "bad fourth byte" },
	};
	unsigned char buf[4];
	long bad_valid = 0, bad_surr = 0, bad_trunc = 0, two = 0, three = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t cp = 0xdeadbeef;
		size_t k = utf8_decode((const unsigned char *)cases[i].s, cases[i].n, &cp);
		if (cases[i].len)
			ok(k == cases[i].len && cp == cases[i].cp, "utf8_decode %s", cases[i].what);
		else
			ok(k == 0, "utf8_decode refuses %s", cases[i].what);
	}
	/* every scalar value round-trips; every surrogate and every truncation fails */
	for (uint32_t c = 0; c <= 0x10FFFF; c++) {
		uint32_t cp = 0;
		size_t len = utf8_encode(c, buf), k = utf8_decode(buf, len, &cp);
		if (c >= 0xD800 && c <= 0xDFFF) {
			bad_surr += k != 0;
			continue;
		}
		bad_valid += k != len || cp != c;
		if (len > 1)
			bad_trunc += utf8_decode(buf, len - 1, &cp) != 0;
	}
	is_int(bad_valid, 0, "all 1,112,064 scalar values decode to themselves");
	is_int(bad_surr, 0, "all 2048 surrogates are refused");
	is_int(bad_trunc, 0, "no truncated sequence is accepted");
	/* exhaustive over two-byte and three-byte inputs: the accepted ones are exactly the valid ones */
	for (unsigned b0 = 0x80; b0 <= 0xFF; b0++)
		for (unsigned b1 = 0; b1 <= 0xFF; b1++) {
			uint32_t cp;
			buf[0] = (unsigned char)b0;
			buf[1] = (unsigned char)b1;
			two += utf8_decode(buf, 2, &cp) == 2;
			if (b0 >= 0xE0 && b0 <= 0xEF)
				for (unsigned b2 = 0; b2 <= 0xFF; b2++) {
					buf[2] = (unsigned char)b2;
					three += utf8_decode(buf, 3, &cp) == 3;
				}
		}
	is_int(two, 0x800 - 0x80, "two-byte inputs accepted: exactly U+0080..U+07FF");
	is_int(three, 0x10000 - 0x800 - 0x800, "three-byte inputs accepted: exactly U+0800..U+FFFF minus surrogates");
}

/* ---- job_spec_parse ---------------------------------------------------- */

/* Does the detail array hold an entry with loc ["body", field] (field NULL:
 * loc ["body"]) and, when type is not NULL, that type? */
static int has_detail(json_object *detail, const char *field, const char *type)
{
	size_t n;

	if (!detail || !json_object_is_type(detail, json_type_array))
		return 0;
	n = json_object_array_length(detail);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(detail, i), *loc, *t, *msg, *l0, *l1;
		size_t want_len = field ? 2 : 1;
		if (!json_object_object_get_ex(e, "loc", &loc) || !json_object_is_type(loc, json_type_array) ||
		    json_object_array_length(loc) != want_len)
			continue;
		l0 = json_object_array_get_idx(loc, 0);
		if (!json_object_is_type(l0, json_type_string) || strcmp(json_object_get_string(l0), "body"))
			continue;
		if (field) {
			l1 = json_object_array_get_idx(loc, 1);
			if (!json_object_is_type(l1, json_type_string) ||
			    strcmp(json_object_get_string(l1), field))
				continue;
		}
		if (!json_object_object_get_ex(e, "msg", &msg) || !json_object_is_type(msg, json_type_string) ||
		    json_object_get_string_len(msg) == 0)
			continue;
		if (!json_object_object_get_ex(e, "type", &t) || !json_object_is_type(t, json_type_string))
			continue;
		if (type && strcmp(json_object_get_string(t), type))
			continue;
		return 1;
	}
	return 0;
}

/* Every entry has exactly the keys loc, msg, type, with loc starting "body". */
static int detail_well_formed(json_object *detail)
{
	size_t n;

	if (!detail || !json_object_is_type(detail, json_type_array))
		return 0;
	n = json_object_array_length(detail);
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(detail, i), *v;
		if (!json_object_is_type(e, json_type_object) || json_object_object_length(e) != 3)
			return 0;
		if (!json_object_object_get_ex(e, "loc", &v) || !json_object_is_type(v, json_type_array))
			return 0;
		if (!json_object_object_get_ex(e, "msg", &v) || !json_object_is_type(v, json_type_string))
			return 0;
		if (!json_object_object_get_ex(e, "type", &v) || !json_object_is_type(v, json_type_string))
			return 0;
	}
	return 1;
}

static enum aerr parse(struct arena *a, const char *body, struct job_spec *spec, json_object **detail)
{
	json_object_put(*detail);
	*detail = NULL;
	return job_spec_parse(a, body, strlen(body), spec, detail);
}

#define MIN_BODY "{\"name\":\"churn\",\"domain\":\"sales\",\"source_table\":\"public.customers\"," \
	"\"problem_type\":\"binary_classification\",\"algorithm\":\"lightgbm_classifier\"}"

/* A body with the given member text replacing/adding fields to the minimal
 * valid body: build with the required fields and append extra. */
static char *body_with(struct arena *a, const char *fields)
{
	return arena_printf(a, "{\"name\":\"churn\",\"domain\":\"sales\",\"source_table\":\"customers\","
			"\"problem_type\":\"regression\",\"algorithm\":\"vw_regressor\"%s%s}",
			*fields ? "," : "", fields);
}

static void test_spec_valid(struct arena *a)
{
	struct job_spec spec;
	json_object *detail = NULL;
	enum aerr rc;

	rc = parse(a, MIN_BODY, &spec, &detail);
	is_int(rc, AE_OK, "minimal body is valid");
	ok(detail == NULL, "no detail on success");
	is_str(spec.name, "churn", "name");
	is_str(spec.domain, "sales", "domain");
	is_str(spec.source_table, "public.customers", "schema.table source_table");
	is_int(spec.problem_type, PT_BINARY_CLASSIFICATION, "problem_type");
	is_int(spec.algorithm, ALG_LIGHTGBM_CLASSIFIER, "algorithm");
	is_int(spec.preset, PRESET_BALANCED, "preset defaults to balanced");
	is_str(spec.label_column, "label", "label_column defaults to label");
	ok(spec.feature_engineering_job_id == NULL, "feature_engineering_job_id absent -> NULL");
	is_int(spec.auto_trigger, 1, "auto_trigger defaults to true");

	rc = parse(a, "{\"name\":\"Full job\",\"domain\":\"risk-eu.v2\",\"source_table\":\"t_1\","
			"\"problem_type\":\"ranking\",\"algorithm\":\"lightgbm_ranker\",\"preset\":\"best_quality\","
			"\"label_column\":\"_y2\",\"feature_engineering_job_id\":\"" UUID1 "\","
			"\"auto_trigger\":false}", &spec, &detail);
	is_int(rc, AE_OK, "full body is valid");
	is_str(spec.name, "Full job", "full: name");
	is_str(spec.domain, "risk-eu.v2", "full: domain with - and .");
	is_str(spec.source_table, "t_1", "full: bare table name");
	is_int(spec.problem_type, PT_RANKING, "full: problem_type");
	is_int(spec.algorithm, ALG_LIGHTGBM_RANKER, "full: algorithm");
	is_int(spec.preset, PRESET_BEST_QUALITY, "full: preset");
	is_str(spec.label_column, "_y2", "full: label_column");
	is_str(spec.feature_engineering_job_id, UUID1, "full: feature_engineering_job_id");
	is_int(spec.auto_trigger, 0, "full: auto_trigger false");

	rc = parse(a, "{\"auto_trigger\":true,\"preset\":\"fast\",\"algorithm\":\"lightgbm_classifier\","
			"\"source_table\":\"public.customers\",\"problem_type\":\"binary_classification\","
			"\"domain\":\"sales\",\"name\":\"churn\"}", &spec, &detail);
	is_int(rc, AE_OK, "field order does not matter");
	is_int(spec.auto_trigger, 1, "auto_trigger true");
	is_int(spec.preset, PRESET_FAST, "preset fast");

	rc = parse(a, body_with(a, "\"feature_engineering_job_id\":null"), &spec, &detail);
	is_int(rc, AE_OK, "feature_engineering_job_id null is accepted");
	ok(spec.feature_engineering_job_id == NULL, "feature_engineering_job_id null -> NULL");

	rc = parse(a, " \n\t" MIN_BODY " \r\n", &spec, &detail);
	is_int(rc, AE_OK, "surrounding whitespace is fine");

	/* every algorithm with a problem type it fits */
	for (int al = 0; al < ALG__MAX; al++)
		for (int p = 0; p < PT__MAX; p++) {
			char *b = arena_printf(a, "{\"name\":\"n\",\"domain\":\"d\",\"source_table\":\"t\","
					"\"problem_type\":\"%s\",\"algorithm\":\"%s\"}",
					problem_type_str((enum problem_type)p), algorithm_str((enum algorithm)al));
			rc = parse(a, b, &spec, &detail);
			if (algorithm_fits((enum algorithm)al, (enum problem_type)p)) {
				ok(rc == AE_OK && spec.algorithm == (enum algorithm)al &&
						spec.problem_type == (enum problem_type)p,
						"%s fits %s", algorithm_str((enum algorithm)al),
						problem_type_str((enum problem_type)p));
			} else {
				ok(rc == AE_VALIDATION && has_detail(detail, "algorithm", NULL) &&
						json_object_array_length(detail) == 1,
						"%s does not fit %s: one error on algorithm",
						algorithm_str((enum algorithm)al), problem_type_str((enum problem_type)p));
			}
		}
	json_object_put(detail);
}

static void test_spec_every_field_bad(struct arena *a)
{
	struct job_spec spec;
	json_object *detail = NULL;
	enum aerr rc;
	static const char *const fields[] = {
		"name", "domain", "source_table", "problem_type", "algorithm", "preset",
		"label_column", "feature_engineering_job_id", "auto_trigger", "owner", "colour",
	};

	rc = parse(a, "{\"name\":\"\",\"domain\":\"bad domain!\",\"source_table\":\"x; drop table y\","
			"\"problem_type\":\"clustering\",\"algorithm\":\"xgboost\",\"preset\":\"slow\","
			"\"label_column\":\"1abc\",\"feature_engineering_job_id\":\"not-a-uuid\","
			"\"auto_trigger\":\"yes\",\"owner\":\"mallory\",\"colour\":\"blue\"}", &spec, &detail);
	is_int(rc, AE_VALIDATION, "every field wrong -> AE_VALIDATION");
	ok(detail_well_formed(detail), "detail entries are {loc, msg, type}");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		ok(has_detail(detail, fields[i], NULL), "detail names [\"body\", \"%s\"]", fields[i]);
	ok(has_detail(detail, "owner", "extra_forbidden"), "owner -> extra_forbidden");
	ok(has_detail(detail, "colour", "extra_forbidden"), "unknown field -> extra_forbidden");
	ok(has_detail(detail, "problem_type", "enum"), "unknown problem_type -> enum");
	ok(has_detail(detail, "algorithm", "enum"), "unknown algorithm -> enum");
	ok(has_detail(detail, "preset", "enum"), "unknown preset -> enum");
	ok(has_detail(detail, "feature_engineering_job_id", "uuid_parsing"), "bad uuid -> uuid_parsing");
	ok(has_detail(detail, "auto_trigger", "bool_type"), "auto_trigger string -> bool_type");
	is_int(json_object_array_length(detail), sizeof(fields) / sizeof(fields[0]),
			"exactly one entry per bad field");

	/* types wrong for every field */
	rc = parse(a, "{\"name\":1,\"domain\":[],\"source_table\":{},\"problem_type\":true,"
			"\"algorithm\":2.5,\"preset\":0,\"label_column\":false,"
			"\"feature_engineering_job_id\":42,\"auto_trigger\":1}", &spec, &detail);
	is_int(rc, AE_VALIDATION, "every field of the wrong JSON type -> AE_VALIDATION");
	ok(detail_well_formed(detail), "wrong types: detail well formed");
	for (size_t i = 0; i < 9; i++)
		ok(has_detail(detail, fields[i], NULL), "wrong type: detail names %s", fields[i]);
	ok(has_detail(detail, "name", "string_type"), "name number -> string_type");
	ok(has_detail(detail, "auto_trigger", "bool_type"), "auto_trigger 1 -> bool_type");

	/* missing required fields */
	rc = parse(a, "{}", &spec, &detail);
	is_int(rc, AE_VALIDATION, "{} -> AE_VALIDATION");
	ok(detail_well_formed(detail), "{}: detail well formed");
	for (size_t i = 0; i < 5; i++)
		ok(has_detail(detail, fields[i], "missing"), "{}: %s missing", fields[i]);
	is_int(json_object_array_length(detail), 5, "{}: only the five required fields");

	rc = parse(a, "{\"name\":null,\"domain\":\"d\",\"source_table\":\"t\","
			"\"problem_type\":\"regression\",\"algorithm\":\"vw_regressor\"}", &spec, &detail);
	is_int(rc, AE_VALIDATION, "required name null -> AE_VALIDATION");
	ok(has_detail(detail, "name", NULL), "name null is named");
	json_object_put(detail);
}

static void test_spec_malformed(struct arena *a)
{
	static const struct {
		const char *body;
		size_t len;   /* 0: strlen */
		const char *what;
	} bodies[] = {
		{ "", 0, "empty body" },
		{ " ", 0, "blank body" },
		{ "{", 0, "unterminated object" },
		{ "{\"name\":\"x\",}", 0, "trailing comma" },
		{ "{'name':'x'}", 0, "single quotes" },
		{ MIN_BODY "x", 0, "trailing garbage" },
		{ MIN_BODY ",", 0, "trailing comma after the object" },
		{ MIN_BODY MIN_BODY, 0, "two objects" },
		{ MIN_BODY "\0", sizeof(MIN_BODY), "trailing NUL byte" },
		{ "{\"a\":1,/*c*/\"b\":2}", 0, "comment" },
		{ "{\"name\":\"caf\xc3\"}", 0, "truncated UTF-8" },
		{ "{\"name\":\"\xff\xfe\"}", 0, "invalid UTF-8 bytes" },
	};
	/* Otherwise valid bodies whose name is not valid UTF-8 or not valid JSON
	 * text: refused (422), whichever entry names why. */
	static const struct {
		const char *name;
		const char *what;
	} badnames[] = {
		{ "caf\xc3", "truncated two-byte sequence" },
		{ "\xff", "byte 0xff" },
		{ "\x80", "lone continuation byte" },
		{ "\xc0\xaf", "overlong '/' (C0 AF)" },
		{ "\xe0\x80\xaf", "overlong three-byte (E0 80 AF)" },
		{ "\xed\xa0\x80", "UTF-16 surrogate D800 encoded in UTF-8" },
		{ "\xf4\x90\x80\x80", "code point above U+10FFFF" },
		{ "\xf8\x88\x80\x80\x80", "five-byte sequence" },
		{ "a\nb", "raw newline inside a string" },
		{ "a\x01" "b", "raw U+0001 inside a string" },
	};
	static const char *const nonobj[] = { "[]", "[" MIN_BODY "]", "\"str\"", "42", "null", "true" };
	struct job_spec spec;
	json_object *detail = NULL;
	enum aerr rc;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		size_t len = bodies[i].len ? bodies[i].len : strlen(bodies[i].body);
		json_object_put(detail);
		detail = NULL;
		rc = job_spec_parse(a, bodies[i].body, len, &spec, &detail);
		is_int(rc, AE_VALIDATION, "%s -> AE_VALIDATION", bodies[i].what);
		ok(detail_well_formed(detail) && json_object_array_length(detail) == 1 &&
				has_detail(detail, NULL, "json_invalid"),
				"%s -> one json_invalid entry at [\"body\"]", bodies[i].what);
	}
	for (size_t i = 0; i < sizeof(badnames) / sizeof(badnames[0]); i++) {
		char *b = arena_printf(a, "{\"name\":\"%s\",\"domain\":\"d\",\"source_table\":\"t\","
				"\"problem_type\":\"regression\",\"algorithm\":\"vw_regressor\"}", badnames[i].name);
		rc = parse(a, b, &spec, &detail);
		ok(rc == AE_VALIDATION && detail_well_formed(detail),
				"name with %s -> AE_VALIDATION", badnames[i].what);
	}
	/* a length shorter than the string: only that prefix is parsed */
	json_object_put(detail);
	detail = NULL;
	rc = job_spec_parse(a, MIN_BODY, strlen(MIN_BODY) - 1, &spec, &detail);
	is_int(rc, AE_VALIDATION, "len cuts the closing brace -> AE_VALIDATION");

	for (size_t i = 0; i < sizeof(nonobj) / sizeof(nonobj[0]); i++) {
		rc = parse(a, nonobj[i], &spec, &detail);
		is_int(rc, AE_VALIDATION, "non-object %s -> AE_VALIDATION", nonobj[i]);
		ok(detail_well_formed(detail) && json_object_array_length(detail) == 1 &&
				has_detail(detail, NULL, NULL), "non-object %s -> one entry at [\"body\"]", nonobj[i]);
	}
	/* NaN / Infinity are not JSON: either a decode error or refused as a field value */
	rc = parse(a, body_with(a, "\"auto_trigger\":NaN"), &spec, &detail);
	is_int(rc, AE_VALIDATION, "NaN as a value -> AE_VALIDATION");
	json_object_put(detail);
}

static void test_spec_name(struct arena *a)
{
	struct job_spec spec;
	json_object *detail = NULL;
	enum aerr rc;
	char *n200, *n201, *u200, *u201, *e200;

	n200 = arena_alloc(a, 202);
	n201 = arena_alloc(a, 202);
	memset(n200, 'x', 200);
	memset(n201, 'x', 201);
	/* 200 / 201 two-byte (U+00E9), three-byte (U+20AC) and four-byte (U+1F600) characters */
	u200 = arena_alloc(a, 201 * 2 + 1);
	u201 = arena_alloc(a, 201 * 4 + 1);
	e200 = arena_alloc(a, 200 * 3 + 1);
	for (int i = 0; i < 200; i++) {
		memcpy(u200 + 2 * i, "\xc3\xa9", 2);
		memcpy(e200 + 3 * i, "\xe2\x82\xac", 3);
	}
	for (int i = 0; i < 201; i++)
		memcpy(u201 + 4 * i, "\xf0\x9f\x98\x80", 4);

#define NAMED(nm) arena_printf(a, "{\"name\":\"%s\",\"domain\":\"d\",\"source_table\":\"t\"," \
		"\"problem_type\":\"regression\",\"algorithm\":\"vw_regressor\"}", nm)
	rc = parse(a, NAMED("x"), &spec, &detail);
	ok(rc == AE_OK && strcmp(spec.name, "x") == 0, "1-char name is fine");
	rc = parse(a, NAMED(n200), &spec, &detail);
	ok(rc == AE_OK && spec.name && strlen(spec.name) == 200, "200-char ASCII name is fine");
	rc = parse(a, NAMED(n201), &spec, &detail);
	ok(rc == AE_VALIDATION && has_detail(detail, "name", NULL), "201-char ASCII name is refused");
	rc = parse(a, NAMED(u200), &spec, &detail);
	ok(rc == AE_OK && spec.name && strlen(spec.name) == 400,
			"200 two-byte characters (400 bytes) are 200 chars: fine");
	rc = parse(a, NAMED(e200), &spec, &detail);
	ok(rc == AE_OK && spec.name && strlen(spec.name) == 600,
			"200 three-byte characters (600 bytes) are fine");
	rc = parse(a, NAMED(u201), &spec, &detail);
	ok(rc == AE_VALIDATION && has_detail(detail, "name", NULL), "201 four-byte characters are refused");
	rc = parse(a, NAMED(""), &spec, &detail);
	ok(rc == AE_VALIDATION && has_detail(detail, "name", NULL), "empty name is refused");
	rc = parse(a, NAMED("caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" 'x' <b>"), &spec, &detail);
	ok(rc == AE_OK && strcmp(spec.name, "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" 'x' <b>") == 0,
			"escaped unicode, quotes and markup in a name are kept as text");

	{
		static const char *const ctl[] = {
			"a\\nb", "a\\tb", "a\\rb", "\\u0001", "a\\u001fb", "a\\u007fb", "a\\u0000b", "\\u0000",
		};
		for (size_t i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++) {
			rc = parse(a, NAMED(ctl[i]), &spec, &detail);
			ok(rc == AE_VALIDATION && has_detail(detail, "name", NULL),
					"name with control character \"%s\" is refused", ctl[i]);
		}
	}
	/* NUL in other string fields must not truncate silently either */
	rc = parse(a, "{\"name\":\"n\",\"domain\":\"sales\\u0000evil\",\"source_table\":\"t\","
			"\"problem_type\":\"regression\",\"algorithm\":\"vw_regressor\"}", &spec, &detail);
	ok(rc == AE_VALIDATION && has_detail(detail, "domain", NULL),
			"domain \"sales\\u0000evil\" is refused, not truncated to \"sales\"");
	rc = parse(a, "{\"name\":\"n\",\"domain\":\"d\",\"source_table\":\"t\\u0000; drop\","
			"\"problem_type\":\"regression\",\"algorithm\":\"vw_regressor\"}", &spec, &detail);
	ok(rc == AE_VALIDATION && has_detail(detail, "source_table", NULL),
			"source_table with \\u0000 is refused");
	rc = parse(a, body_with(a, "\"preset\":\"fast\\u0000x\""), &spec, &detail);
	ok(rc == AE_VALIDATION && has_detail(detail, "preset", NULL), "preset \"fast\\u0000x\" is refused");
#undef NAMED
	json_object_put(detail);
}

static void test_spec_fields(struct arena *a)
{
	static const struct {
		const char *fields;
		const char *bad;    /* field named in detail, NULL: valid */
	} cases[] = {
		{ "\"domain\":\"a\"", NULL },
		{ "\"domain\":\"-a\"", "domain" },
		{ "\"domain\":\"a b\"", "domain" },
		{ "\"domain\":\"a/b\"", "domain" },
		{ "\"domain\":\"\"", "domain" },
		{ "\"domain\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", NULL },
		{ "\"domain\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", "domain" },
		{ "\"source_table\":\"s.t\"", NULL },
		{ "\"source_table\":\"s.t.u\"", "source_table" },
		{ "\"source_table\":\".t\"", "source_table" },
		{ "\"source_table\":\"s.\"", "source_table" },
		{ "\"source_table\":\"1t\"", "source_table" },
		{ "\"source_table\":\"t\\\"; drop\"", "source_table" },
		{ "\"source_table\":\"\"", "source_table" },
		{ "\"label_column\":\"y\"", NULL },
		{ "\"label_column\":\"\"", "label_column" },
		{ "\"label_column\":\"a-b\"", "label_column" },
		{ "\"label_column\":null", NULL },
		{ "\"preset\":null", NULL },
		{ "\"preset\":\"FAST\"", "preset" },
		{ "\"feature_engineering_job_id\":\"" UUID1 "\"", NULL },
		{ "\"feature_engineering_job_id\":\"3c90c3cc0d444b5088888dd25736052a\"", "feature_engineering_job_id" },
		{ "\"feature_engineering_job_id\":\"\"", "feature_engineering_job_id" },
		{ "\"feature_engineering_job_id\":1", "feature_engineering_job_id" },
		{ "\"feature_engineering_job_id\":{}", "feature_engineering_job_id" },
		{ "\"feature_engineering_job_id\":\"" UUID1 "\\u0000x\"", "feature_engineering_job_id" },
		{ "\"auto_trigger\":false", NULL },
		{ "\"auto_trigger\":0", "auto_trigger" },
		{ "\"auto_trigger\":\"false\"", "auto_trigger" },
		{ "\"auto_trigger\":[]", "auto_trigger" },
		{ "\"owner\":\"alice\"", "owner" },
		{ "\"job_id\":\"" UUID1 "\"", "job_id" },
		{ "\"status\":\"complete\"", "status" },
		{ "\"\":1", "" },
	};
	struct job_spec spec;
	json_object *detail = NULL;
	enum aerr rc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = parse(a, body_with(a, cases[i].fields), &spec, &detail);
		if (!cases[i].bad)
			is_int(rc, AE_OK, "{%s} is valid", cases[i].fields);
		else
			ok(rc == AE_VALIDATION && has_detail(detail, cases[i].bad, NULL) &&
					json_object_array_length(detail) == 1,
					"{%s} -> one error naming %s", cases[i].fields, cases[i].bad);
	}
	rc = parse(a, body_with(a, "\"label_column\":null,\"preset\":null"), &spec, &detail);
	ok(rc == AE_OK && strcmp(spec.label_column, "label") == 0 && spec.preset == PRESET_BALANCED,
			"null optional fields take their defaults");
	rc = parse(a, body_with(a, "\"owner\":\"alice\""), &spec, &detail);
	ok(has_detail(detail, "owner", "extra_forbidden"), "owner in the body -> extra_forbidden");
	rc = parse(a, body_with(a, "\"Name\":\"x\""), &spec, &detail);
	ok(rc == AE_VALIDATION && has_detail(detail, "Name", "extra_forbidden"), "field names are case-sensitive");
	json_object_put(detail);
}

/* ---- derived names ----------------------------------------------------- */

#define DAG_ID_RE "^[A-Za-z0-9_.-]{1,250}$"
#define RUN_ID_RE "^[A-Za-z0-9_.~:+-]+$"

static void test_init_from_spec(struct arena *a)
{
	static const char *const names[] = {
		"churn", "Robert'); DROP TABLE jobs;--", "\"quoted\" name", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac",
		"\xf0\x9f\x98\x80\xf0\x9f\x98\x80", "a/b\\c", "../../etc/passwd", "tab\there", "{{ jinja }}",
		"${HOME} $(id) `id`", "   ", "...", "-", "dag id with spaces", "%00%2e",
	};
	struct job_spec spec;
	struct job job, job2;
	char *longname, *longu;
	const char *prev_ids[sizeof(names) / sizeof(names[0]) + 2];
	size_t nprev = 0;

	memset(&spec, 0, sizeof(spec));
	spec.domain = "sales";
	spec.source_table = "public.customers";
	spec.label_column = "y";
	spec.problem_type = PT_MULTICLASS_CLASSIFICATION;
	spec.algorithm = ALG_VW_CLASSIFIER;
	spec.preset = PRESET_FAST;
	spec.feature_engineering_job_id = UUID2;
	spec.auto_trigger = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char id[37];
		snprintf(id, sizeof(id), "3c90c3cc-0d44-4b50-8888-%012zx", i);
		spec.name = names[i];
		job_init_from_spec(a, &job, &spec, id, "alice", "http://af.example:8080");
		ok(full_match(DAG_ID_RE, job.airflow_dag_id), "dag id for name \"%s\" is valid: %s",
				names[i], job.airflow_dag_id ? job.airflow_dag_id : "(null)");
		is_str(job.airflow_dag_url, arena_printf(a, "http://af.example:8080/dags/%s",
				job.airflow_dag_id ? job.airflow_dag_id : ""), "dag url for name \"%s\"", names[i]);
		for (size_t k = 0; k < nprev; k++)
			if (job.airflow_dag_id && strcmp(prev_ids[k], job.airflow_dag_id) == 0)
				ok(0, "dag id %s is unique", job.airflow_dag_id);
		if (job.airflow_dag_id)
			prev_ids[nprev++] = job.airflow_dag_id;
	}

	spec.name = "churn";
	job_init_from_spec(a, &job, &spec, UUID1, "alice", "http://ui");
	is_str(job.job_id, UUID1, "job_id copied");
	is_str(job.name, "churn", "name");
	is_str(job.domain, "sales", "domain");
	is_str(job.owner, "alice", "owner");
	is_str(job.source_table, "public.customers", "source_table");
	is_str(job.label_column, "y", "label_column");
	is_int(job.problem_type, PT_MULTICLASS_CLASSIFICATION, "problem_type");
	is_int(job.algorithm, ALG_VW_CLASSIFIER, "algorithm");
	is_int(job.preset, PRESET_FAST, "preset");
	is_int(job.status, ST_READY, "a new job is ready");
	is_str(job.feature_engineering_job_id, UUID2, "feature_engineering_job_id");
	ok(job.mlflow_experiment_name && *job.mlflow_experiment_name, "mlflow_experiment_name set");
	ok(job.registered_model_name && *job.registered_model_name, "registered_model_name set");
	ok(job.mlflow_run_id == NULL, "no mlflow_run_id yet");
	ok(job.error_message == NULL, "no error yet");
	ok(job.airflow_dag_run_id == NULL, "no run yet");
	is_int(job.trigger_attempts, 0, "no attempts yet");
	is_str(job.airflow_dag_url, arena_printf(a, "http://ui/dags/%s", job.airflow_dag_id),
			"airflow_dag_url = ui/dags/id");

	/* deterministic, and unique per job id for the same spec */
	job_init_from_spec(a, &job2, &spec, UUID1, "alice", "http://ui");
	is_str(job2.airflow_dag_id, job.airflow_dag_id, "same spec + id -> same dag id");
	job_init_from_spec(a, &job2, &spec, UUID2, "alice", "http://ui");
	ok(job.airflow_dag_id && job2.airflow_dag_id && strcmp(job.airflow_dag_id, job2.airflow_dag_id) != 0,
			"another job id -> another dag id");
	ok(full_match(DAG_ID_RE, job2.airflow_dag_id), "second dag id valid");
	/* ids differing only in the first or last hex digit */
	job_init_from_spec(a, &job2, &spec, "4c90c3cc-0d44-4b50-8888-8dd25736052a", "alice", "http://ui");
	ok(strcmp(job.airflow_dag_id, job2.airflow_dag_id) != 0, "first hex digit matters");

	/* the longest names and domains still give a valid id */
	longname = arena_alloc(a, 201);
	memset(longname, 'N', 200);
	longu = arena_alloc(a, 200 * 4 + 1);
	for (int i = 0; i < 200; i++)
		memcpy(longu + 4 * i, "\xf0\x9f\x98\x80", 4);
	spec.domain = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"; /* 64 */
	spec.name = longname;
	job_init_from_spec(a, &job, &spec, UUID1, "alice", "http://ui");
	ok(full_match(DAG_ID_RE, job.airflow_dag_id), "200-char name + 64-char domain: valid dag id (%zu chars)",
			job.airflow_dag_id ? strlen(job.airflow_dag_id) : 0);
	spec.name = longu;
	job_init_from_spec(a, &job2, &spec, UUID2, "alice", "http://ui");
	ok(full_match(DAG_ID_RE, job2.airflow_dag_id), "200 emoji name: valid dag id");
	spec.name = "n";
	for (int i = 0; i < 2; i++) {
		char *nm = arena_alloc(a, 201);
		memset(nm, 'N', 200);
		nm[199] = (char)('A' + i);     /* names equal for their first 199 chars */
		spec.name = nm;
		job_init_from_spec(a, i ? &job2 : &job, &spec, i ? UUID2 : UUID1, "alice", "http://ui");
	}
	ok(strcmp(job.airflow_dag_id, job2.airflow_dag_id) != 0, "long names of two jobs -> distinct ids");

	/* run ids */
	spec.name = "churn";
	job_init_from_spec(a, &job, &spec, UUID1, "alice", "http://ui");
	{
		const char *r1 = job_run_id(a, &job, 1), *r1b = job_run_id(a, &job, 1);
		const char *r2 = job_run_id(a, &job, 2), *r99 = job_run_id(a, &job, 99999);
		ok(full_match(RUN_ID_RE, r1), "run id 1 is valid: %s", r1 ? r1 : "(null)");
		ok(full_match(RUN_ID_RE, r99), "run id 99999 is valid");
		is_str(r1, r1b, "run id is deterministic");
		ok(r1 && r2 && strcmp(r1, r2) != 0, "attempts 1 and 2 differ");
		job_init_from_spec(a, &job2, &spec, UUID2, "alice", "http://ui");
		ok(strcmp(r1, job_run_id(a, &job2, 1)) != 0, "other job -> other run id");
		ok(strlen(r1) <= 250, "run id fits Airflow's 250");
		/* the store builds run ids as prefix || attempt (src/store.c SQL_TRIGGER) */
		is_str(arena_printf(a, "%s%d", job_run_id_prefix(a, UUID1), 2), r2,
				"prefix + attempt = the run id");
	}
}

/* ---- job -> JSON ------------------------------------------------------- */

static void test_to_json(struct arena *a)
{
	static const char *const seed_fields[] = {
		"job_id", "name", "domain", "owner", "source_table", "problem_type", "algorithm", "preset",
		"status", "created_at", "updated_at", "rendered_dag", "mlflow_run_id",
		"mlflow_experiment_name", "registered_model_name", "airflow_dag_id", "airflow_dag_url",
		"error_message", "feature_engineering_job_id",
	};
	static const char *const nullable[] = {
		"rendered_dag", "mlflow_run_id", "mlflow_experiment_name", "registered_model_name",
		"airflow_dag_id", "airflow_dag_url", "error_message", "feature_engineering_job_id",
		"dispatched_at",
	};
	struct job job;
	json_object *o, *v, *back;
	const char *text;

	memset(&job, 0, sizeof(job));
	snprintf(job.job_id, sizeof(job.job_id), "%s", UUID1);
	job.name = "churn \"x\"";
	job.domain = "sales";
	job.owner = "alice";
	job.source_table = "t";
	job.label_column = "label";
	job.problem_type = PT_CONTEXTUAL_BANDIT;
	job.algorithm = ALG_VW_CONTEXTUAL_BANDIT;
	job.preset = PRESET_BEST_QUALITY;
	job.status = ST_FAILED;
	job.created_at = "2023-11-07T05:31:56Z";
	job.updated_at = "2023-11-07T05:32:00Z";
	job.sync_age_s = -1;

	o = job_to_json(&job);
	ok(o && json_object_is_type(o, json_type_object), "job_to_json gives an object");
	for (size_t i = 0; i < sizeof(seed_fields) / sizeof(seed_fields[0]); i++)
		ok(json_object_object_get_ex(o, seed_fields[i], NULL), "has field %s", seed_fields[i]);
	for (size_t i = 0; i < sizeof(nullable) / sizeof(nullable[0]); i++)
		ok(json_object_object_get_ex(o, nullable[i], &v) && v == NULL, "%s is null when unset", nullable[i]);
#define STR_FIELD(k, want) do { \
	ok(json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string), k " is a string"); \
	is_str(json_object_get_string(v), want, k " value"); } while (0)
	STR_FIELD("job_id", UUID1);
	STR_FIELD("name", "churn \"x\"");
	STR_FIELD("domain", "sales");
	STR_FIELD("owner", "alice");
	STR_FIELD("source_table", "t");
	STR_FIELD("problem_type", "contextual_bandit");
	STR_FIELD("algorithm", "vw_contextual_bandit");
	STR_FIELD("preset", "best_quality");
	STR_FIELD("status", "failed");
	STR_FIELD("created_at", "2023-11-07T05:31:56Z");
	STR_FIELD("updated_at", "2023-11-07T05:32:00Z");
	json_object_put(o);
	job.dispatched_at = "2023-11-07T05:31:58Z";
	o = job_to_json(&job);
	STR_FIELD("dispatched_at", "2023-11-07T05:31:58Z");
	job.dispatched_at = NULL;
	json_object_put(o);
	o = job_to_json(&job);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	back = json_tokener_parse(text);
	ok(back && json_object_equal(o, back), "serialises and parses back to the same object");
	json_object_put(back);
	json_object_put(o);

	job.rendered_dag = "from airflow import DAG\n";
	job.mlflow_run_id = "abc123";
	job.mlflow_experiment_name = "automl/sales/churn";
	job.registered_model_name = "automl_sales_churn";
	job.airflow_dag_id = "automl_sales_churn_x";
	job.airflow_dag_url = "http://ui/dags/automl_sales_churn_x";
	job.error_message = "boom";
	job.feature_engineering_job_id = UUID2;
	job.status = ST_COMPLETE;
	o = job_to_json(&job);
	STR_FIELD("rendered_dag", "from airflow import DAG\n");
	STR_FIELD("mlflow_run_id", "abc123");
	STR_FIELD("mlflow_experiment_name", "automl/sales/churn");
	STR_FIELD("registered_model_name", "automl_sales_churn");
	STR_FIELD("airflow_dag_id", "automl_sales_churn_x");
	STR_FIELD("airflow_dag_url", "http://ui/dags/automl_sales_churn_x");
	STR_FIELD("error_message", "boom");
	STR_FIELD("feature_engineering_job_id", UUID2);
	STR_FIELD("status", "complete");
#undef STR_FIELD
	json_object_put(o);

	/* every status spelling shows through */
	for (int s = 0; s < ST__MAX; s++) {
		job.status = (enum job_status)s;
		o = job_to_json(&job);
		ok(json_object_object_get_ex(o, "status", &v) &&
				strcmp(json_object_get_string(v), status_str((enum job_status)s)) == 0,
				"status %s in JSON", status_str((enum job_status)s));
		json_object_put(o);
	}
	(void)a;
}

/* ---- out of memory ----------------------------------------------------- */

/* Fail the Nth arena allocation for every N until parsing gets through: the
 * result is AE_OK with every field present, or AE_NOMEM, never half a spec. */
static void test_oom(struct arena *a)
{
	static const char body[] = "{\"name\":\"Full job\",\"domain\":\"risk\",\"source_table\":\"s.t\","
		"\"problem_type\":\"ranking\",\"algorithm\":\"lightgbm_ranker\",\"preset\":\"fast\","
		"\"label_column\":\"y\",\"feature_engineering_job_id\":\"" UUID1 "\",\"auto_trigger\":false}";
	int half = 0, other = 0, succeeded = 0, n;

	for (n = 1; n <= 64 && !succeeded; n++) {
		struct job_spec spec;
		json_object *detail = NULL;
		enum aerr rc;

		arena_reset(a);
		arena_fail_after(n);
		rc = job_spec_parse(a, body, strlen(body), &spec, &detail);
		arena_fail_after(0);
		if (rc == AE_OK) {
			if (!spec.name || !spec.domain || !spec.source_table || !spec.label_column ||
			    !spec.feature_engineering_job_id || strcmp(spec.feature_engineering_job_id, UUID1) != 0)
				half++;
			else
				succeeded = 1;
		} else if (rc != AE_NOMEM || detail != NULL) {
			other++;
		}
		json_object_put(detail);
	}
	ok(succeeded, "parsing succeeds once allocations do (after %d)", n - 1);
	is_int(half, 0, "out of memory never yields AE_OK with a field missing");
	is_int(other, 0, "out of memory is AE_NOMEM, without a detail array");

	/* derived names under out of memory: no crash, a URL only with an id */
	for (n = 1; n <= 8; n++) {
		struct job_spec spec;
		struct job job;
		memset(&spec, 0, sizeof(spec));
		spec.name = "n";
		spec.domain = "d";
		spec.source_table = "t";
		spec.label_column = "label";
		arena_reset(a);
		arena_fail_after(n);
		job_init_from_spec(a, &job, &spec, UUID1, "o", "http://ui");
		arena_fail_after(0);
		ok(job.airflow_dag_url == NULL || job.airflow_dag_id != NULL,
				"OOM at allocation %d: no dag url without a dag id", n);
	}
	arena_reset(a);
}

int main(void)
{
	struct arena *a = arena_new();

	if (!a) {
		ok(0, "arena_new");
		return done_testing();
	}
	test_enums();
	test_fits();
	test_status_rules();
	test_uuid();
	test_utf8();
	test_spec_valid(a);
	test_spec_every_field_bad(a);
	test_spec_malformed(a);
	test_spec_name(a);
	test_spec_fields(a);
	test_init_from_spec(a);
	test_to_json(a);
	test_oom(a);
	arena_free(a);
	return done_testing();
}
