/* test_auth.c - TAP tests of bearer-token verification, domain access and the PSK.
 * Tokens are signed here with cjose (HS256 oct key, fresh RSA and EC P-256 keys
 * whose public halves go into a JWKS file in a temporary directory). */
#define _GNU_SOURCE 1
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjose/cjose.h>
#include <json-c/json.h>

#include "arena.h"
#include "auth.h"
#include "config.h"
#include "tap.h"

#define NOW ((time_t)1700000000)
#define SECRET "0123456789abcdef0123456789abcdef"   /* 32 bytes */

static cjose_jwk_t *hs_key, *rsa_key, *ec_key, *ec_enc_key, *ec2_key, *ec384_key;
static char *rsa_pub_json;      /* public JWK JSON of rsa_key, as written to the JWKS */
static char tmpdir[256];
static char jwks_path[300], jwks2_path[300], jwks_bad_path[300], jwks_enc_path[300];
static char jwks_small_path[300];
static char authz_buf[20000];

static void die(const char *what)
{
	printf("Bail out! %s\n", what);
	exit(2);
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		die("strdup");
	return d;
}

/* Signs claims with jwk, adding header member raw_name = raw_json when given; caller frees. */
static char *sign_raw(const cjose_jwk_t *jwk, const char *alg, const char *kid, const char *claims,
		const char *raw_name, const char *raw_json)
{
	cjose_err err;
	cjose_header_t *h = cjose_header_new(&err);
	cjose_jws_t *jws;
	const char *ser = NULL;
	char *out;

	if (!h || !cjose_header_set(h, CJOSE_HDR_ALG, alg, &err))
		die("header");
	if (!cjose_header_set(h, "typ", "JWT", &err))
		die("typ");
	if (kid && !cjose_header_set(h, CJOSE_HDR_KID, kid, &err))
		die("kid");
	if (raw_name && !cjose_header_set_raw(h, raw_name, raw_json, &err))
		die("raw header");
	jws = cjose_jws_sign(jwk, h, (const uint8_t *)claims, strlen(claims), &err);
	if (!jws || !cjose_jws_export(jws, &ser, &err))
		die(err.message ? err.message : "sign");
	out = xstrdup(ser);
	cjose_jws_release(jws);
	cjose_header_release(h);
	return out;
}

/* Signs claims with jwk; caller frees. kid may be NULL. */
static char *sign(const cjose_jwk_t *jwk, const char *alg, const char *kid, const char *claims)
{
	return sign_raw(jwk, alg, kid, claims, NULL, NULL);
}

static char *b64u(const char *s, size_t n)
{
	char *o = NULL;
	size_t olen = 0;
	cjose_err err;
	char *r;

	if (!cjose_base64url_encode((const uint8_t *)s, n, &o, &olen, &err))
		die("b64u");
	r = strndup(o, olen);
	cjose_get_dealloc()(o);
	if (!r)
		die("strndup");
	return r;
}

/* header.payload.sig from raw JSON parts and a literal signature segment. */
static char *hand_token(const char *header, const char *payload, const char *sig)
{
	char *h = b64u(header, strlen(header)), *p = b64u(payload, strlen(payload));
	size_t n = strlen(h) + strlen(p) + strlen(sig) + 3;
	char *t = malloc(n);

	if (!t)
		die("malloc");
	snprintf(t, n, "%s.%s.%s", h, p, sig);
	free(h);
	free(p);
	return t;
}

static const char *bearer(const char *tok)
{
	snprintf(authz_buf, sizeof(authz_buf), "Bearer %s", tok);
	return authz_buf;
}

static char *claims_fmt(const char *extra, long exp_off)
{
	char *s = NULL;

	if (asprintf(&s, "{\"sub\":\"alice\",\"exp\":%lld%s%s}", (long long)NOW + exp_off,
			extra && *extra ? "," : "", extra ? extra : "") < 0)
		die("asprintf");
	return s;
}

/* Runs auth_authenticate; returns the why (NULL on success) and fills *p. */
static enum aerr run(const struct auth_keys *k, const struct config *cfg, struct arena *a,
		const char *authz, struct principal *p, const char **why)
{
	*why = "unset";
	return auth_authenticate(k, cfg, a, authz, NOW, p, why);
}

/* Signs claims and expects rejection with reason want. */
static void expect_reject(const struct auth_keys *k, const struct config *cfg, struct arena *a,
		const char *tok, const char *want, const char *name)
{
	struct principal p;
	const char *why;
	enum aerr rc = run(k, cfg, a, bearer(tok), &p, &why);

	is_int(rc, AE_UNAUTHORIZED, "%s: rejected", name);
	is_str(why, want, "%s: reason", name);
	ok(p.sub == NULL && p.ndomains == 0 && !p.admin, "%s: principal left empty", name);
}

static void expect_accept(const struct auth_keys *k, const struct config *cfg, struct arena *a,
		const char *tok, const char *name)
{
	struct principal p;
	const char *why;
	enum aerr rc = run(k, cfg, a, bearer(tok), &p, &why);

	is_int(rc, AE_OK, "%s: accepted", name);
	is_str(why, NULL, "%s: no reason", name);
	is_str(p.sub, "alice", "%s: sub", name);
}

static cjose_jwk_t *gen_rsa(size_t bits, const char *kid)
{
	static const uint8_t e[] = { 0x01, 0x00, 0x01 };
	cjose_err err;
	cjose_jwk_t *k = cjose_jwk_create_RSA_random(bits, e, sizeof(e), &err);

	if (!k || !cjose_jwk_set_kid(k, kid, strlen(kid), &err))
		die("rsa key");
	return k;
}

static cjose_jwk_t *gen_ec(const char *kid)
{
	cjose_err err;
	cjose_jwk_t *k = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);

	if (!k || !cjose_jwk_set_kid(k, kid, strlen(kid), &err))
		die("ec key");
	return k;
}

/* Public JWK of k as a json-c object with "use" (NULL: none). */
static struct json_object *pub_jwk(const cjose_jwk_t *k, const char *use)
{
	cjose_err err;
	char *json = cjose_jwk_to_json(k, false, &err);
	struct json_object *o;

	if (!json)
		die("to_json");
	o = json_tokener_parse(json);
	cjose_get_dealloc()(json);
	if (!o)
		die("parse jwk");
	if (use)
		json_object_object_add(o, "use", json_object_new_string(use));
	return o;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		die("write file");
}

/* Writes {"keys":[...]} of the given JWK objects (steals them). */
static void write_jwks(const char *path, struct json_object **keys, size_t n)
{
	struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_object_array_add(arr, keys[i]);
	json_object_object_add(root, "keys", arr);
	write_text(path, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
	json_object_put(root);
}

static void setup(void)
{
	const char *t = getenv("TMPDIR");
	struct json_object *keys[6], *rsa_pub;
	cjose_err err;
	cjose_jwk_t *small;

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_auth.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir))
		die("mkdtemp");
	snprintf(jwks_path, sizeof(jwks_path), "%s/jwks.json", tmpdir);
	snprintf(jwks2_path, sizeof(jwks2_path), "%s/jwks2.json", tmpdir);
	snprintf(jwks_bad_path, sizeof(jwks_bad_path), "%s/bad.json", tmpdir);
	snprintf(jwks_enc_path, sizeof(jwks_enc_path), "%s/enc.json", tmpdir);
	snprintf(jwks_small_path, sizeof(jwks_small_path), "%s/small.json", tmpdir);

	hs_key = cjose_jwk_create_oct_spec((const uint8_t *)SECRET, strlen(SECRET), &err);
	if (!hs_key)
		die("oct key");
	rsa_key = gen_rsa(2048, "rsa1");
	ec_key = gen_ec("ec1");
	ec_enc_key = gen_ec("ec-enc");
	ec2_key = gen_ec("ec2");
	ec384_key = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_384, &err);
	if (!ec384_key || !cjose_jwk_set_kid(ec384_key, "ec384", 5, &err))
		die("ec384 key");

	rsa_pub = pub_jwk(rsa_key, "sig");
	rsa_pub_json = xstrdup(json_object_to_json_string_ext(rsa_pub, JSON_C_TO_STRING_PLAIN));
	keys[0] = rsa_pub;
	keys[1] = pub_jwk(ec_key, NULL);
	keys[2] = pub_jwk(ec_enc_key, "enc");
	keys[3] = json_tokener_parse("{\"kty\":\"oct\",\"kid\":\"sym\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}");
	/* skipped: a P-384 key, and a P-256 key declared for another algorithm */
	keys[4] = pub_jwk(ec384_key, "sig");
	keys[5] = pub_jwk(ec2_key, "sig");
	json_object_object_add(keys[5], "kid", json_object_new_string("ec2-es384"));
	json_object_object_add(keys[5], "alg", json_object_new_string("ES384"));
	write_jwks(jwks_path, keys, 6);

	keys[0] = pub_jwk(ec_key, "sig");
	keys[1] = pub_jwk(ec2_key, "sig");
	write_jwks(jwks2_path, keys, 2);

	keys[0] = pub_jwk(ec_enc_key, "enc");
	write_jwks(jwks_enc_path, keys, 1);

	small = gen_rsa(1024, "small");
	keys[0] = pub_jwk(small, "sig");
	write_jwks(jwks_small_path, keys, 1);
	cjose_jwk_release(small);

	write_text(jwks_bad_path, "{\"keys\": [ {\"kty\": \"RSA\", ");
}

static void teardown(void)
{
	unlink(jwks_path);
	unlink(jwks2_path);
	unlink(jwks_bad_path);
	unlink(jwks_enc_path);
	unlink(jwks_small_path);
	rmdir(tmpdir);
	cjose_jwk_release(hs_key);
	cjose_jwk_release(rsa_key);
	cjose_jwk_release(ec_key);
	cjose_jwk_release(ec_enc_key);
	cjose_jwk_release(ec2_key);
	cjose_jwk_release(ec384_key);
	free(rsa_pub_json);
}

static void test_load(void)
{
	struct config cfg;
	struct auth_keys *k = (struct auth_keys *)&cfg;   /* must be reset to NULL on failure */
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	err[0] = '\0';
	is_int(auth_keys_load(&k, &cfg, err, sizeof(err)), -1, "load: neither secret nor JWKS fails");
	ok(k == NULL, "load: out is NULL on failure");
	ok(strstr(err, "AUTOML_JWT_SECRET") && strstr(err, "AUTOML_JWKS_FILE"), "load: error names both keys");

	cfg.jwt_secret = (char *)"short-secret";
	cfg.jwt_secret_len = strlen(cfg.jwt_secret);
	is_int(auth_keys_load(&k, &cfg, err, sizeof(err)), -1, "load: a secret under 32 bytes fails");
	ok(strstr(err, "AUTOML_JWT_SECRET") && !strstr(err, "short-secret"),
			"load: error names the key, not the secret");

	memset(&cfg, 0, sizeof(cfg));
	cfg.jwks_file = (char *)"/nonexistent/jwks.json";
	is_int(auth_keys_load(&k, &cfg, err, sizeof(err)), -1, "load: missing JWKS file fails");
	cfg.jwks_file = jwks_bad_path;
	is_int(auth_keys_load(&k, &cfg, err, sizeof(err)), -1, "load: truncated JWKS fails");
	cfg.jwks_file = jwks_enc_path;
	is_int(auth_keys_load(&k, &cfg, err, sizeof(err)), -1, "load: JWKS with only an enc key fails");
	cfg.jwks_file = jwks_small_path;
	is_int(auth_keys_load(&k, &cfg, err, sizeof(err)), -1, "load: 1024-bit RSA key fails");
	ok(strstr(err, "2048") != NULL, "load: says why the RSA key was refused");

	cfg.jwks_file = jwks_path;
	is_int(auth_keys_load(&k, &cfg, err, sizeof(err)), 0, "load: JWKS only");
	ok(k != NULL, "load: keys returned");
	auth_keys_free(k);
	auth_keys_free(NULL);
}

static void test_syntax(const struct auth_keys *k, const struct config *cfg, struct arena *a)
{
	struct principal p;
	const char *why;
	char *good = NULL, *claims = claims_fmt(NULL, 3600), *t = NULL, *big;
	size_t n;

	good = sign(hs_key, "HS256", NULL, claims);

	is_int(run(k, cfg, a, NULL, &p, &why), AE_UNAUTHORIZED, "no header: rejected");
	is_str(why, "missing bearer token", "no header: reason");
	is_int(run(k, cfg, a, "", &p, &why), AE_UNAUTHORIZED, "empty header: rejected");
	is_str(why, "missing bearer token", "empty header: reason");
	is_int(run(k, cfg, a, "Basic YWxpY2U6cHc=", &p, &why), AE_UNAUTHORIZED, "Basic scheme: rejected");
	is_str(why, "missing bearer token", "Basic scheme: reason");
	is_int(run(k, cfg, a, "Bearer", &p, &why), AE_UNAUTHORIZED, "bare Bearer: rejected");
	is_str(why, "missing bearer token", "bare Bearer: reason");
	is_int(run(k, cfg, a, "Bearer ", &p, &why), AE_UNAUTHORIZED, "Bearer + space: rejected");
	is_str(why, "missing bearer token", "Bearer + space: reason");
	snprintf(authz_buf, sizeof(authz_buf), "Bearer%s", good);
	is_int(run(k, cfg, a, authz_buf, &p, &why), AE_UNAUTHORIZED, "no space after Bearer: rejected");
	snprintf(authz_buf, sizeof(authz_buf), "Token %s", good);
	is_int(run(k, cfg, a, authz_buf, &p, &why), AE_UNAUTHORIZED, "other scheme: rejected");
	is_str(why, "missing bearer token", "other scheme: reason");

	snprintf(authz_buf, sizeof(authz_buf), "Bearer  %s", good);
	is_int(run(k, cfg, a, authz_buf, &p, &why), AE_UNAUTHORIZED, "two spaces: rejected");
	is_str(why, "malformed token", "two spaces: reason");
	snprintf(authz_buf, sizeof(authz_buf), "Bearer %s ", good);
	is_int(run(k, cfg, a, authz_buf, &p, &why), AE_UNAUTHORIZED, "trailing space: rejected");
	snprintf(authz_buf, sizeof(authz_buf), "Bearer %s\n", good);
	is_int(run(k, cfg, a, authz_buf, &p, &why), AE_UNAUTHORIZED, "trailing newline: rejected");
	snprintf(authz_buf, sizeof(authz_buf), "Bearer %s=", good);
	is_int(run(k, cfg, a, authz_buf, &p, &why), AE_UNAUTHORIZED, "padding: rejected");
	is_int(run(k, cfg, a, "Bearer !!!garbage!!!", &p, &why), AE_UNAUTHORIZED, "garbage: rejected");
	is_str(why, "malformed token", "garbage: reason");
	is_int(run(k, cfg, a, "Bearer abc.def", &p, &why), AE_UNAUTHORIZED, "two parts: rejected");
	is_str(why, "malformed token", "two parts: reason");
	snprintf(authz_buf, sizeof(authz_buf), "Bearer %s.x", good);
	is_int(run(k, cfg, a, authz_buf, &p, &why), AE_UNAUTHORIZED, "four parts: rejected");
	is_str(why, "malformed token", "four parts: reason");
	is_int(run(k, cfg, a, "Bearer ...", &p, &why), AE_UNAUTHORIZED, "dots only: rejected");
	is_int(run(k, cfg, a, "Bearer e30.e30.AAAA", &p, &why), AE_UNAUTHORIZED, "no alg: rejected");
	is_str(why, "malformed token", "no alg: reason");
	is_int(run(k, cfg, a, "Bearer bm90IGpzb24.e30.AAAA", &p, &why), AE_UNAUTHORIZED,
			"header not JSON: rejected");

	/* the scheme is case-insensitive (RFC 7235) */
	snprintf(authz_buf, sizeof(authz_buf), "bearer %s", good);
	is_int(run(k, cfg, a, authz_buf, &p, &why), AE_OK, "lower-case bearer: accepted");

	/* 8 KiB limit: a validly signed token just over it is refused, just under accepted */
	free(claims);
	for (n = 5900; n <= 6300; n += 400) {
		big = malloc(n + 32);
		if (!big)
			die("malloc");
		memcpy(big, "\"pad\":\"", 7);
		memset(big + 7, 'x', n);
		memcpy(big + 7 + n, "\"", 2);
		claims = claims_fmt(big, 3600);
		free(big);
		t = sign(hs_key, "HS256", NULL, claims);
		free(claims);
		claims = NULL;
		if (n == 5900) {
			ok(strlen(t) < 8192, "near-limit token is under 8 KiB (%zu)", strlen(t));
			expect_accept(k, cfg, a, t, "token under 8 KiB");
		} else {
			ok(strlen(t) > 8192, "big token is over 8 KiB (%zu)", strlen(t));
			expect_reject(k, cfg, a, t, "malformed token", "token over 8 KiB");
		}
		free(t);
	}
	free(good);
}

static void test_hs256(const struct auth_keys *k, const struct config *cfg, struct arena *a)
{
	struct principal p;
	const char *why;
	char *c, *t, *h, *alt;
	enum aerr rc;

	c = claims_fmt("\"domains\":[\"sales\",\"fraud\"],\"iat\":1699999000,\"nbf\":1699999000", 3600);
	t = sign(hs_key, "HS256", NULL, c);
	rc = run(k, cfg, a, bearer(t), &p, &why);
	is_int(rc, AE_OK, "HS256: accepted");
	is_str(why, NULL, "HS256: no reason");
	is_str(p.sub, "alice", "HS256: sub");
	is_int(p.ndomains, 2, "HS256: two domains");
	if (p.ndomains == 2) {
		is_str(p.domains[0], "sales", "HS256: first domain");
		is_str(p.domains[1], "fraud", "HS256: second domain");
	}
	is_int(p.admin, 0, "HS256: not admin");
	ok(principal_may_access(&p, "sales"), "may access own domain sales");
	ok(principal_may_access(&p, "fraud"), "may access own domain fraud");
	ok(!principal_may_access(&p, "hr"), "may not access other domain");
	ok(!principal_may_access(&p, "sale"), "may not access a prefix of a domain");
	ok(!principal_may_access(&p, NULL), "may not access NULL domain");
	ok(!principal_may_access(NULL, "sales"), "NULL principal may access nothing");

	/* bad signature: change one signature character, then a payload character */
	alt = xstrdup(t);
	h = strrchr(alt, '.') + 5;
	*h = *h == 'A' ? 'B' : 'A';
	expect_reject(k, cfg, a, alt, "bad signature", "HS256 flipped signature byte");
	free(alt);
	alt = xstrdup(t);
	h = strchr(alt, '.') + 3;
	*h = *h == 'A' ? 'B' : 'A';
	is_int(run(k, cfg, a, bearer(alt), &p, &why), AE_UNAUTHORIZED, "HS256 tampered payload: rejected");
	free(alt);
	free(t);
	free(c);

	/* a token signed with another secret */
	{
		cjose_err err;
		cjose_jwk_t *other = cjose_jwk_create_oct_spec((const uint8_t *)"ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", 32, &err);

		c = claims_fmt(NULL, 3600);
		t = sign(other, "HS256", NULL, c);
		expect_reject(k, cfg, a, t, "bad signature", "HS256 other secret");
		free(t);
		free(c);
		cjose_jwk_release(other);
	}

	/* domains absent: none; sub checks */
	c = claims_fmt(NULL, 3600);
	t = sign(hs_key, "HS256", NULL, c);
	rc = run(k, cfg, a, bearer(t), &p, &why);
	is_int(rc, AE_OK, "no domains claim: accepted");
	is_int(p.ndomains, 0, "no domains claim: zero domains");
	ok(!principal_may_access(&p, "sales"), "no domains claim: no access");
	free(t);
	free(c);

	/* arena exhaustion is AE_NOMEM, not a crash or a leak */
	c = claims_fmt("\"domains\":[\"sales\"]", 3600);
	t = sign(hs_key, "HS256", NULL, c);
	arena_fail_after(1);
	rc = run(k, cfg, a, bearer(t), &p, &why);
	arena_fail_after(0);
	is_int(rc, AE_NOMEM, "arena failure: AE_NOMEM");
	ok(p.sub == NULL, "arena failure: principal left empty");
	free(t);
	free(c);
}

static void test_claims(const struct auth_keys *k, const struct config *cfg, struct arena *a)
{
	struct principal p;
	const char *why;
	char *c, *t;
	char buf[512];
	long long now = (long long)NOW;
	struct { const char *fmt; long long arg; const char *why; const char *name; } tc[] = {
		{ "{\"sub\":\"alice\",\"exp\":%lld}", now - 1, "token expired", "expired 1 s ago" },
		{ "{\"sub\":\"alice\",\"exp\":%lld}", now - 86400, "token expired", "expired a day ago" },
		{ "{\"sub\":\"alice\",\"exp\":%lld}", now, "token expired", "exp == now" },
		{ "{\"sub\":\"alice\",\"exp\":%lld}", now + 1, NULL, "exp 1 s ahead" },
		{ "{\"sub\":\"alice\",\"exp\":%lld.5}", now + 10, NULL, "fractional exp" },
		{ "{\"sub\":\"alice\",\"iat\":%lld}", now, "missing exp claim", "exp missing" },
		{ "{\"sub\":\"alice\",\"exp\":\"%lld\"}", now + 60, "malformed token claims", "exp as string" },
		{ "{\"sub\":\"alice\",\"exp\":null,\"x\":%lld}", now, "malformed token claims", "exp null" },
		{ "{\"sub\":\"alice\",\"exp\":true,\"x\":%lld}", now, "malformed token claims", "exp boolean" },
		{ "{\"sub\":\"alice\",\"exp\":9999999999,\"nbf\":%lld}", now + 61, "token not yet valid", "nbf 61 s ahead" },
		{ "{\"sub\":\"alice\",\"exp\":9999999999,\"nbf\":%lld}", now + 3600, "token not yet valid", "nbf an hour ahead" },
		{ "{\"sub\":\"alice\",\"exp\":9999999999,\"nbf\":%lld}", now + 60, NULL, "nbf 60 s ahead (leeway)" },
		{ "{\"sub\":\"alice\",\"exp\":9999999999,\"nbf\":%lld}", now + 30, NULL, "nbf 30 s ahead (leeway)" },
		{ "{\"sub\":\"alice\",\"exp\":9999999999,\"nbf\":%lld}", now - 30, NULL, "nbf in the past" },
		{ "{\"sub\":\"alice\",\"exp\":9999999999,\"nbf\":\"%lld\"}", now, "malformed token claims", "nbf as string" },
		{ "{\"sub\":\"alice\",\"exp\":9999999999,\"iat\":%lld}", now + 61, "token not yet valid", "iat 61 s ahead" },
		{ "{\"sub\":\"alice\",\"exp\":9999999999,\"iat\":%lld}", now + 59, NULL, "iat 59 s ahead (leeway)" },
		{ "{\"sub\":\"alice\",\"exp\":9999999999,\"iat\":%lld}", now - 100, NULL, "iat in the past" },
		{ "{\"exp\":%lld}", now + 60, "missing sub claim", "sub missing" },
		{ "{\"sub\":\"\",\"exp\":%lld}", now + 60, "missing sub claim", "sub empty" },
		{ "{\"sub\":42,\"exp\":%lld}", now + 60, "missing sub claim", "sub a number" },
		{ "{\"sub\":\"al\\u0000ice\",\"exp\":%lld}", now + 60, "missing sub claim", "sub with NUL" },
		{ "{\"sub\":\"alice\",\"exp\":%lld,\"domains\":\"sales\"}", now + 60, "malformed token claims", "domains a string" },
		{ "{\"sub\":\"alice\",\"exp\":%lld,\"domains\":[\"sales\",7]}", now + 60, "malformed token claims", "domains with a number" },
		{ "{\"sub\":\"alice\",\"exp\":%lld,\"domains\":[\"sa\\u0000les\"]}", now + 60, "malformed token claims", "domain with NUL" },
		{ "{\"sub\":\"alice\",\"exp\":%lld,\"domains\":null}", now + 60, "malformed token claims", "domains null" },
		{ "{\"sub\":\"alice\",\"exp\":%lld,\"scope\":7}", now + 60, "malformed token claims", "scope a number" },
		{ "{\"sub\":\"alice\",\"exp\":%lld,\"scope\":[\"a\",{}]}", now + 60, "malformed token claims", "scope array with object" },
		{ "[\"sub\",%lld]", now + 60, "malformed token claims", "claims an array" },
		{ "{\"sub\":\"alice\",\"exp\":%lld} x", now + 60, "malformed token claims", "claims with trailing garbage" },
		{ "{\"sub\":\"alice\",\"exp\":%lld,}", now + 60, "malformed token claims", "claims with trailing comma" },
	};
	size_t i;
	enum aerr rc;

	for (i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
		/* tc[i].fmt holds one "%lld": split there (no non-literal formats) */
		const char *at = strstr(tc[i].fmt, "%lld");

		if (!at)
			die("case without %lld");
		snprintf(buf, sizeof(buf), "%.*s%lld%s", (int)(at - tc[i].fmt), tc[i].fmt, tc[i].arg, at + 4);
		t = sign(hs_key, "HS256", NULL, buf);
		rc = run(k, cfg, a, bearer(t), &p, &why);
		if (tc[i].why) {
			is_int(rc, AE_UNAUTHORIZED, "%s: rejected", tc[i].name);
			is_str(why, tc[i].why, "%s: reason", tc[i].name);
		} else {
			is_int(rc, AE_OK, "%s: accepted", tc[i].name);
			is_str(p.sub, "alice", "%s: sub", tc[i].name);
		}
		free(t);
	}

	/* admin scope, string and array forms */
	c = claims_fmt("\"scope\":\"openid automl:admin profile\"", 3600);
	t = sign(hs_key, "HS256", NULL, c);
	rc = run(k, cfg, a, bearer(t), &p, &why);
	is_int(rc, AE_OK, "scope string: accepted");
	is_int(p.admin, 1, "scope string with automl:admin: admin");
	ok(principal_may_access(&p, "anything"), "admin may access any domain");
	free(t);
	free(c);

	c = claims_fmt("\"scope\":[\"openid\",\"automl:admin\"],\"domains\":[]", 3600);
	t = sign(hs_key, "HS256", NULL, c);
	rc = run(k, cfg, a, bearer(t), &p, &why);
	is_int(rc, AE_OK, "scope array: accepted");
	is_int(p.admin, 1, "scope array with automl:admin: admin");
	is_int(p.ndomains, 0, "empty domains array: zero domains");
	ok(principal_may_access(&p, "hr"), "admin (array scope) may access any domain");
	free(t);
	free(c);

	c = claims_fmt("\"scope\":\"automl:admins automl:read\",\"domains\":[\"sales\"]", 3600);
	t = sign(hs_key, "HS256", NULL, c);
	rc = run(k, cfg, a, bearer(t), &p, &why);
	is_int(rc, AE_OK, "scope without admin: accepted");
	is_int(p.admin, 0, "automl:admins is not automl:admin");
	ok(!principal_may_access(&p, "hr"), "non-admin may not access other domain");
	free(t);
	free(c);

	c = claims_fmt("\"scope\":\"xautoml:admin\"", 3600);
	t = sign(hs_key, "HS256", NULL, c);
	rc = run(k, cfg, a, bearer(t), &p, &why);
	is_int(rc == AE_OK && p.admin == 0, 1, "xautoml:admin is not admin");
	free(t);
	free(c);

	c = claims_fmt("\"admin\":true,\"scope\":\"\"", 3600);
	t = sign(hs_key, "HS256", NULL, c);
	rc = run(k, cfg, a, bearer(t), &p, &why);
	is_int(rc == AE_OK && p.admin == 0, 1, "empty scope and other claims: not admin");
	free(t);
	free(c);
}

static void test_algs(const struct auth_keys *k_jwks, const struct auth_keys *k_both,
		const struct config *cfg, struct arena *a)
{
	struct principal p;
	const char *why;
	char *c = claims_fmt("\"domains\":[\"sales\"]", 3600), *t, *t2, *dot;
	uint8_t *nraw = NULL;
	size_t nlen = 0;
	cjose_err err;
	cjose_jwk_t *conf;
	struct json_object *jo, *nv;
	enum aerr rc;
	char hdr[128];

	t = sign(rsa_key, "RS256", "rsa1", c);
	rc = run(k_jwks, cfg, a, bearer(t), &p, &why);
	is_int(rc, AE_OK, "RS256 by kid: accepted");
	is_str(p.sub, "alice", "RS256: sub");
	ok(p.ndomains == 1 && strcmp(p.domains[0], "sales") == 0, "RS256: domains");
	expect_accept(k_both, cfg, a, t, "RS256 with secret also configured");
	/* flip a signature byte */
	t2 = xstrdup(t);
	dot = strrchr(t2, '.') + 10;
	*dot = *dot == 'A' ? 'B' : 'A';
	expect_reject(k_jwks, cfg, a, t2, "bad signature", "RS256 flipped signature byte");
	free(t2);
	free(t);

	t = sign(rsa_key, "RS256", NULL, c);
	expect_accept(k_jwks, cfg, a, t, "RS256 without kid, one RSA key");
	free(t);

	t = sign(rsa_key, "RS256", "nope", c);
	expect_reject(k_jwks, cfg, a, t, "unknown key", "RS256 unknown kid");
	free(t);

	t = sign(ec_key, "ES256", "ec1", c);
	expect_accept(k_jwks, cfg, a, t, "ES256 by kid");
	t2 = xstrdup(t);
	dot = strrchr(t2, '.') + 10;
	*dot = *dot == 'A' ? 'B' : 'A';
	expect_reject(k_jwks, cfg, a, t2, "bad signature", "ES256 flipped signature byte");
	free(t2);
	/* signature segment one character short */
	t2 = xstrdup(t);
	t2[strlen(t2) - 1] = '\0';
	expect_reject(k_jwks, cfg, a, t2, "malformed token", "ES256 short signature");
	free(t2);
	free(t);

	t = sign(ec_key, "ES256", NULL, c);
	expect_accept(k_jwks, cfg, a, t, "ES256 without kid, one EC signing key");
	free(t);

	t = sign(ec_enc_key, "ES256", "ec-enc", c);
	expect_reject(k_jwks, cfg, a, t, "unknown key", "ES256 with an enc key's kid");
	free(t);

	/* cjose itself verifies "ES256" with a P-384 key: the key must not be loaded */
	t = sign(ec384_key, "ES256", "ec384", c);
	expect_reject(k_jwks, cfg, a, t, "unknown key", "ES256 naming a P-384 key");
	free(t);
	t = sign(ec2_key, "ES256", "ec2-es384", c);
	expect_reject(k_jwks, cfg, a, t, "unknown key", "ES256 naming a key with alg ES384");
	free(t);

	t = sign(ec2_key, "ES256", "ec1", c);
	expect_reject(k_jwks, cfg, a, t, "bad signature", "ES256 by another key under kid ec1");
	free(t);

	/* a key embedded in the header (jwk) is never trusted */
	{
		cjose_err e2;
		char *pub = cjose_jwk_to_json(ec2_key, false, &e2);

		if (!pub)
			die("ec2 json");
		t = sign_raw(ec2_key, "ES256", NULL, c, "jwk", pub);
		expect_reject(k_jwks, cfg, a, t, "bad signature", "ES256 signed by a key embedded as jwk");
		free(t);
		t = sign_raw(ec2_key, "ES256", "ec2", c, "jwk", pub);
		expect_reject(k_jwks, cfg, a, t, "unknown key", "ES256 with embedded jwk and its own kid");
		free(t);
		cjose_get_dealloc()(pub);
	}

	/* the oct key inside the JWKS must never be used */
	t = sign(hs_key, "HS256", "sym", c);
	expect_reject(k_jwks, cfg, a, t, "unknown key", "HS256 naming a JWKS oct key, JWKS only");
	free(t);

	/* kid of a key of the wrong type */
	t = sign(ec_key, "ES256", "ec1", c);
	dot = strchr(t, '.');
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"ec1\"}");
	t2 = b64u(hdr, strlen(hdr));
	{
		char *x = NULL;

		if (asprintf(&x, "%s%s", t2, dot) < 0)
			die("asprintf");
		expect_reject(k_jwks, cfg, a, x, "unknown key", "RS256 header naming an EC key");
		free(x);
	}
	free(t2);
	free(t);
	t = sign(rsa_key, "RS256", "rsa1", c);
	dot = strchr(t, '.');
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"rsa1\"}");
	t2 = b64u(hdr, strlen(hdr));
	{
		char *x = NULL;

		if (asprintf(&x, "%s%s", t2, dot) < 0)
			die("asprintf");
		is_int(run(k_jwks, cfg, a, bearer(x), &p, &why), AE_UNAUTHORIZED, "ES256 header naming an RSA key: rejected");
		free(x);
	}
	free(t2);
	free(t);

	/* algorithm confusion: HS256 keyed with the RSA public key's JWK JSON / modulus */
	conf = cjose_jwk_create_oct_spec((const uint8_t *)rsa_pub_json, strlen(rsa_pub_json), &err);
	if (!conf)
		die("confusion key");
	t = sign(conf, "HS256", "rsa1", c);
	expect_reject(k_jwks, cfg, a, t, "unknown key", "HS256 keyed with RSA public JWK JSON, JWKS only");
	expect_reject(k_both, cfg, a, t, "bad signature", "HS256 keyed with RSA public JWK JSON, both configured");
	free(t);
	t = sign(conf, "HS256", NULL, c);
	expect_reject(k_jwks, cfg, a, t, "unknown key", "HS256 keyed with RSA JWK JSON, no kid, JWKS only");
	free(t);
	cjose_jwk_release(conf);

	jo = json_tokener_parse(rsa_pub_json);
	if (!jo || !json_object_object_get_ex(jo, "n", &nv) ||
			!cjose_base64url_decode(json_object_get_string(nv), (size_t)json_object_get_string_len(nv),
				&nraw, &nlen, &err))
		die("modulus");
	conf = cjose_jwk_create_oct_spec(nraw, nlen, &err);
	if (!conf)
		die("confusion key 2");
	t = sign(conf, "HS256", "rsa1", c);
	expect_reject(k_jwks, cfg, a, t, "unknown key", "HS256 keyed with RSA modulus bytes, JWKS only");
	expect_reject(k_both, cfg, a, t, "bad signature", "HS256 keyed with RSA modulus bytes, both configured");
	free(t);
	cjose_jwk_release(conf);
	cjose_get_dealloc()(nraw);
	json_object_put(jo);

	/* alg none and other algorithms */
	t = xstrdup("eyJhbGciOiJub25lIn0..");
	expect_reject(k_both, cfg, a, t, "unsupported algorithm", "alg none, empty payload");
	free(t);
	t = hand_token("{\"alg\":\"none\"}", c, "");
	expect_reject(k_both, cfg, a, t, "unsupported algorithm", "alg none with claims");
	free(t);
	t = hand_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", c, "AAAA");
	expect_reject(k_both, cfg, a, t, "unsupported algorithm", "alg none with a signature");
	free(t);
	t = hand_token("{\"alg\":\"None\"}", c, "");
	expect_reject(k_both, cfg, a, t, "unsupported algorithm", "alg None");
	free(t);
	t = hand_token("{\"alg\":\"HS512\"}", c, "AAAA");
	expect_reject(k_both, cfg, a, t, "unsupported algorithm", "alg HS512");
	free(t);
	t = hand_token("{\"alg\":\"PS256\",\"kid\":\"rsa1\"}", c, "AAAA");
	expect_reject(k_both, cfg, a, t, "unsupported algorithm", "alg PS256");
	free(t);
	t = hand_token("{\"alg\":[\"HS256\"]}", c, "AAAA");
	expect_reject(k_both, cfg, a, t, "malformed token", "alg an array");
	free(t);
	t = hand_token("{\"alg\":\"HS256\",\"kid\":7}", c, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	expect_reject(k_both, cfg, a, t, "malformed token", "kid a number");
	free(t);
	t = hand_token("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", c,
			"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	expect_reject(k_both, cfg, a, t, "unsupported token header", "crit header");
	free(t);
	t = hand_token("{\"alg\":\"HS256\"}", c, "AAAA");
	expect_reject(k_both, cfg, a, t, "malformed token", "HS256 short signature");
	free(t);
	free(c);
}

static void test_two_ec(struct arena *a, const struct config *base)
{
	struct config cfg = *base;
	struct auth_keys *k = NULL;
	char err[256], *c = claims_fmt(NULL, 3600), *t;

	cfg.jwt_secret = NULL;
	cfg.jwt_secret_len = 0;
	cfg.jwks_file = jwks2_path;
	if (auth_keys_load(&k, &cfg, err, sizeof(err)) != 0)
		die(err);
	t = sign(ec_key, "ES256", NULL, c);
	expect_reject(k, &cfg, a, t, "unknown key", "ES256 without kid, two EC keys");
	free(t);
	t = sign(ec2_key, "ES256", "ec2", c);
	expect_accept(k, &cfg, a, t, "ES256 by kid among two EC keys");
	free(t);
	t = sign(rsa_key, "RS256", "rsa1", c);
	expect_reject(k, &cfg, a, t, "unknown key", "RS256 when the set has no RSA key");
	free(t);
	t = sign(hs_key, "HS256", NULL, c);
	expect_reject(k, &cfg, a, t, "unknown key", "HS256 when no secret is configured");
	free(t);
	free(c);
	auth_keys_free(k);
}

static void test_iss_aud(const struct auth_keys *k, const struct config *base, struct arena *a)
{
	struct config cfg = *base;
	char *c, *t;
	size_t i;
	static const struct { const char *extra; const char *why; const char *name; } tc[] = {
		{ "\"iss\":\"https://idp.example\",\"aud\":\"automl\"", NULL, "right iss and aud" },
		{ "\"iss\":\"https://idp.example\",\"aud\":[\"other\",\"automl\"]", NULL, "aud array containing ours" },
		{ "\"iss\":\"https://evil.example\",\"aud\":\"automl\"", "wrong issuer", "wrong iss" },
		{ "\"iss\":\"https://idp.example/\",\"aud\":\"automl\"", "wrong issuer", "iss with trailing slash" },
		{ "\"aud\":\"automl\"", "wrong issuer", "iss missing" },
		{ "\"iss\":[\"https://idp.example\"],\"aud\":\"automl\"", "wrong issuer", "iss an array" },
		{ "\"iss\":\"https://idp.example\",\"aud\":\"other\"", "wrong audience", "wrong aud" },
		{ "\"iss\":\"https://idp.example\",\"aud\":[\"other\",\"x\"]", "wrong audience", "aud array without ours" },
		{ "\"iss\":\"https://idp.example\",\"aud\":[]", "wrong audience", "aud empty array" },
		{ "\"iss\":\"https://idp.example\"", "wrong audience", "aud missing" },
		{ "\"iss\":\"https://idp.example\",\"aud\":\"automl2\"", "wrong audience", "aud with suffix" },
	};

	cfg.jwt_issuer = (char *)"https://idp.example";
	cfg.jwt_audience = (char *)"automl";
	for (i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
		c = claims_fmt(tc[i].extra, 3600);
		t = sign(hs_key, "HS256", NULL, c);
		if (tc[i].why)
			expect_reject(k, &cfg, a, t, tc[i].why, tc[i].name);
		else
			expect_accept(k, &cfg, a, t, tc[i].name);
		free(t);
		free(c);
	}
	/* not configured: iss/aud are not checked */
	c = claims_fmt("\"iss\":\"https://evil.example\",\"aud\":\"other\"", 3600);
	t = sign(hs_key, "HS256", NULL, c);
	expect_accept(k, base, a, t, "iss/aud ignored when not configured");
	free(t);
	free(c);
}

static void test_psk(void)
{
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	ok(!auth_psk_ok(&cfg, "anything"), "PSK unset: false");
	ok(!auth_psk_ok(&cfg, ""), "PSK unset, empty header: false");
	cfg.status_psk = (char *)"";
	ok(!auth_psk_ok(&cfg, ""), "PSK empty: false");
	cfg.status_psk = (char *)"s3cret-psk-value";
	ok(auth_psk_ok(&cfg, "s3cret-psk-value"), "PSK equal: true");
	ok(!auth_psk_ok(&cfg, "s3cret-psk-valuX"), "PSK last byte differs: false");
	ok(!auth_psk_ok(&cfg, "X3cret-psk-value"), "PSK first byte differs: false");
	ok(!auth_psk_ok(&cfg, "s3cret-psk"), "PSK prefix: false");
	ok(!auth_psk_ok(&cfg, "s3cret-psk-value2"), "PSK longer: false");
	ok(!auth_psk_ok(&cfg, ""), "PSK empty header: false");
	ok(!auth_psk_ok(&cfg, NULL), "PSK no header: false");
}

int main(void)
{
	struct config cfg_hs, cfg_jwks, cfg_both;
	struct auth_keys *k_hs = NULL, *k_jwks = NULL, *k_both = NULL;
	struct arena *a;
	char err[256];

	setup();
	a = arena_new();
	if (!a)
		die("arena");

	memset(&cfg_hs, 0, sizeof(cfg_hs));
	cfg_hs.jwt_secret = (char *)SECRET;
	cfg_hs.jwt_secret_len = strlen(SECRET);
	memset(&cfg_jwks, 0, sizeof(cfg_jwks));
	cfg_jwks.jwks_file = jwks_path;
	cfg_both = cfg_hs;
	cfg_both.jwks_file = jwks_path;

	is_int(auth_keys_load(&k_hs, &cfg_hs, err, sizeof(err)), 0, "load: secret only");
	is_int(auth_keys_load(&k_jwks, &cfg_jwks, err, sizeof(err)), 0, "load: JWKS only");
	is_int(auth_keys_load(&k_both, &cfg_both, err, sizeof(err)), 0, "load: secret and JWKS");
	if (!k_hs || !k_jwks || !k_both)
		die(err);

	test_load();
	test_syntax(k_hs, &cfg_hs, a);
	arena_reset(a);
	test_hs256(k_hs, &cfg_hs, a);
	arena_reset(a);
	test_claims(k_hs, &cfg_hs, a);
	arena_reset(a);
	test_algs(k_jwks, k_both, &cfg_jwks, a);
	arena_reset(a);
	test_two_ec(a, &cfg_jwks);
	test_iss_aud(k_hs, &cfg_hs, a);
	test_psk();

	auth_keys_free(k_hs);
	auth_keys_free(k_jwks);
	auth_keys_free(k_both);
	arena_free(a);
	teardown();
	return done_testing();
}
