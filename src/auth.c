/* auth.c - bearer JWT -> principal, domain access, and the status PSK.
 * Signatures are checked by cjose only; this file pins each key to one
 * algorithm, checks the header and the claims, and never trusts a key or URL
 * named inside a token (jwk, jku, x5u, x5c are ignored). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1   /* explicit_bzero, strncasecmp */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjose/cjose.h>
#include <json-c/json.h>

#include "auth.h"
#include "jsonx.h"
#include "lim.h"
#include "valid.h"

#define AUTH_ADMIN_SCOPE "automl:admin"

enum key_alg { KA_HS256, KA_RS256, KA_ES256 };

static const struct {
	const char *name;
	enum key_alg alg;
	size_t sig_b64_len;   /* exact length of the signature segment; 0 = key-dependent */
} algs[] = {
	{ "HS256", KA_HS256, 43 },   /* 32-byte HMAC-SHA256 */
	{ "RS256", KA_RS256, 0 },    /* modulus size, checked by OpenSSL */
	{ "ES256", KA_ES256, 86 },   /* 64-byte R || S */
};

struct auth_key {
	cjose_jwk_t *jwk;     /* owned */
	char *kid;            /* owned, NULL when the JWK has no kid */
	enum key_alg alg;     /* the only algorithm this key verifies */
};

struct auth_keys {
	cjose_jwk_t *hs;          /* oct key of AUTOML_JWT_SECRET or NULL; owned, wiped on free */
	struct auth_key *keys;    /* keys of AUTOML_JWKS_FILE; owned */
	size_t nkeys;
};

/* ---- loading ------------------------------------------------------------ */

static void wipe_jwk_release(cjose_jwk_t *jwk)
{
	cjose_err cerr;

	if (!jwk)
		return;
	if (cjose_jwk_get_kty(jwk, &cerr) == CJOSE_JWK_KTY_OCT) {
		uint8_t *kd = cjose_jwk_get_keydata(jwk, &cerr);
		size_t bits = cjose_jwk_get_keysize(jwk, &cerr);

		if (kd && bits)
			explicit_bzero(kd, bits / 8);
	}
	cjose_jwk_release(jwk);
}

void auth_keys_free(struct auth_keys *k)
{
	size_t i;

	if (!k)
		return;
	wipe_jwk_release(k->hs);
	for (i = 0; i < k->nkeys; i++) {
		cjose_jwk_release(k->keys[i].jwk);
		free(k->keys[i].kid);
	}
	free(k->keys);
	free(k);
}

/* Reads at most LIM_JWKS_FILE bytes of path into *out (caller frees, NUL-terminated). */
static int read_file_capped(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t n = 0, got;
	int rc = -1;

	f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "AUTOML_JWKS_FILE: cannot open %s", path);
		goto out;
	}
	buf = malloc((size_t)LIM_JWKS_FILE + 1);
	if (!buf) {
		snprintf(err, errlen, "AUTOML_JWKS_FILE: out of memory");
		goto out;
	}
	for (;;) {
		got = fread(buf + n, 1, (size_t)LIM_JWKS_FILE + 1 - n, f);
		n += got;
		if (got == 0 || n > (size_t)LIM_JWKS_FILE)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "AUTOML_JWKS_FILE: read error on %s", path);
		goto out;
	}
	if (n > (size_t)LIM_JWKS_FILE) {
		snprintf(err, errlen, "AUTOML_JWKS_FILE: %s is larger than %ld bytes", path, LIM_JWKS_FILE);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (f)
		fclose(f);
	return rc;
}

/* A JSON string without embedded NUL bytes, or NULL. Borrowed from obj. */
static const char *json_cstr(struct json_object *obj)
{
	const char *s;

	if (!obj || !json_object_is_type(obj, json_type_string))
		return NULL;
	s = json_object_get_string(obj);
	if (!s || strlen(s) != (size_t)json_object_get_string_len(obj))
		return NULL;
	return s;
}

/* Imports one JWKS member. Returns 0 (added or skipped) or -1 with err set. */
static int load_jwk(struct auth_keys *k, struct json_object *jk, size_t idx, char *err, size_t errlen)
{
	struct json_object *v = NULL;
	const char *kty, *use, *crv, *kid = NULL, *jalg = NULL, *json;
	enum key_alg alg;
	cjose_jwk_t *jwk = NULL;
	cjose_err cerr;
	int rc = -1;

	if (!json_object_is_type(jk, json_type_object)) {
		snprintf(err, errlen, "AUTOML_JWKS_FILE: key %zu is not an object", idx);
		goto out;
	}
	if (json_object_object_get_ex(jk, "use", &v)) {
		use = json_cstr(v);
		if (use && strcmp(use, "enc") == 0) {
			rc = 0;   /* encryption key: not ours */
			goto out;
		}
	}
	kty = json_object_object_get_ex(jk, "kty", &v) ? json_cstr(v) : NULL;
	if (!kty) {
		snprintf(err, errlen, "AUTOML_JWKS_FILE: key %zu has no kty", idx);
		goto out;
	}
	if (strcmp(kty, "RSA") == 0) {
		alg = KA_RS256;
	} else if (strcmp(kty, "EC") == 0) {
		crv = json_object_object_get_ex(jk, "crv", &v) ? json_cstr(v) : NULL;
		if (!crv || strcmp(crv, "P-256") != 0) {
			rc = 0;   /* only P-256 (ES256) is accepted */
			goto out;
		}
		alg = KA_ES256;
	} else {
		rc = 0;       /* oct keys never come from a key set; others unsupported */
		goto out;
	}
	if (json_object_object_get_ex(jk, "alg", &v)) {
		jalg = json_cstr(v);
		if (!jalg || strcmp(jalg, algs[alg].name) != 0) {
			rc = 0;   /* key is declared for another algorithm */
			goto out;
		}
	}
	if (json_object_object_get_ex(jk, "kid", &v)) {
		kid = json_cstr(v);
		if (!kid) {
			snprintf(err, errlen, "AUTOML_JWKS_FILE: key %zu has a non-string kid", idx);
			goto out;
		}
	}
	json = json_object_to_json_string_ext(jk, JSON_C_TO_STRING_PLAIN);
	if (!json) {
		snprintf(err, errlen, "AUTOML_JWKS_FILE: out of memory");
		goto out;
	}
	jwk = cjose_jwk_import(json, strlen(json), &cerr);
	if (!jwk) {
		snprintf(err, errlen, "AUTOML_JWKS_FILE: key %zu cannot be imported", idx);
		goto out;
	}
	if (alg == KA_RS256) {
		if (cjose_jwk_get_kty(jwk, &cerr) != CJOSE_JWK_KTY_RSA ||
				cjose_jwk_get_keysize(jwk, &cerr) < LIM_RSA_MIN_BITS) {
			snprintf(err, errlen, "AUTOML_JWKS_FILE: RSA key %zu is shorter than %d bits",
					idx, LIM_RSA_MIN_BITS);
			goto out;
		}
	} else if (cjose_jwk_get_kty(jwk, &cerr) != CJOSE_JWK_KTY_EC ||
			cjose_jwk_EC_get_curve(jwk, &cerr) != CJOSE_JWK_EC_P_256) {
		snprintf(err, errlen, "AUTOML_JWKS_FILE: key %zu is not an EC P-256 key", idx);
		goto out;
	}
	k->keys[k->nkeys].jwk = jwk;
	k->keys[k->nkeys].alg = alg;
	k->keys[k->nkeys].kid = NULL;
	if (kid) {
		k->keys[k->nkeys].kid = strdup(kid);
		if (!k->keys[k->nkeys].kid) {
			snprintf(err, errlen, "AUTOML_JWKS_FILE: out of memory");
			goto out;
		}
	}
	k->nkeys++;
	jwk = NULL;
	rc = 0;
out:
	if (jwk)
		cjose_jwk_release(jwk);
	return rc;
}

static int load_jwks(struct auth_keys *k, const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0, i, n;
	struct json_object *root = NULL, *arr = NULL;
	int rc;

	rc = read_file_capped(path, &text, &len, err, errlen);
	if (rc)
		goto out;
	rc = -1;
	root = jsonx_object(text, len);
	if (!root || !json_object_object_get_ex(root, "keys", &arr) ||
			!json_object_is_type(arr, json_type_array)) {
		snprintf(err, errlen, "AUTOML_JWKS_FILE: %s is not a JSON Web Key Set", path);
		goto out;
	}
	n = json_object_array_length(arr);
	if (n > 0) {
		k->keys = calloc(n, sizeof(*k->keys));
		if (!k->keys) {
			snprintf(err, errlen, "AUTOML_JWKS_FILE: out of memory");
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		rc = load_jwk(k, json_object_array_get_idx(arr, i), i, err, errlen);
		if (rc)
			goto out;
	}
	rc = -1;
	if (k->nkeys == 0) {
		snprintf(err, errlen, "AUTOML_JWKS_FILE: %s has no RSA or EC P-256 signing key", path);
		goto out;
	}
	rc = 0;
out:
	json_object_put(root);
	if (text) {
		explicit_bzero(text, len);   /* a careless key set may hold private parts */
		free(text);
	}
	return rc;
}

int auth_keys_load(struct auth_keys **out, const struct config *cfg, char *err, size_t errlen)
{
	struct auth_keys *k = NULL;
	cjose_err cerr;
	int have_secret, have_jwks, rc = -1;

	*out = NULL;
	have_secret = cfg->jwt_secret != NULL && cfg->jwt_secret_len > 0;
	have_jwks = cfg->jwks_file != NULL && cfg->jwks_file[0] != '\0';
	if (!have_secret && !have_jwks) {
		snprintf(err, errlen, "neither AUTOML_JWT_SECRET nor AUTOML_JWKS_FILE is set");
		goto out;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, errlen, "out of memory loading token keys");
		goto out;
	}
	if (have_secret) {
		if (cfg->jwt_secret_len < LIM_HS256_MIN_SECRET) {
			snprintf(err, errlen, "AUTOML_JWT_SECRET must be at least %d bytes", LIM_HS256_MIN_SECRET);
			goto out;
		}
		k->hs = cjose_jwk_create_oct_spec((const uint8_t *)cfg->jwt_secret,
				cfg->jwt_secret_len, &cerr);
		if (!k->hs) {
			snprintf(err, errlen, "AUTOML_JWT_SECRET: cannot create key");
			goto out;
		}
	}
	if (have_jwks) {
		rc = load_jwks(k, cfg->jwks_file, err, errlen);
		if (rc)
			goto out;
	}
	*out = k;
	k = NULL;
	rc = 0;
out:
	auth_keys_free(k);
	return rc;
}

/* ---- verification ------------------------------------------------------- */

/* The key that may verify a token of this alg and kid (NULL kid: the only one). */
static const cjose_jwk_t *pick_key(const struct auth_keys *k, enum key_alg alg, const char *kid)
{
	const cjose_jwk_t *found = NULL;
	size_t i, n = 0;

	if (alg == KA_HS256)
		return k->hs;
	for (i = 0; i < k->nkeys; i++) {
		if (k->keys[i].alg != alg)
			continue;
		if (kid) {
			if (k->keys[i].kid && strcmp(k->keys[i].kid, kid) == 0)
				return k->keys[i].jwk;
			continue;
		}
		found = k->keys[i].jwk;
		n++;
	}
	return n == 1 ? found : NULL;
}

/* ---- claims --------------------------------------------------------------- */

/* What the claim checks compare with: issuer and audience NULL when not configured. */
struct claims_ctx {
	int64_t now;
	const char *issuer, *audience;
};
#define CC(ctx) ((const struct claims_ctx *)(ctx))

static int expiry_check(struct vval *v, void *ctx) { return CC(ctx)->now >= v->i; }
static int early_check(struct vval *v, void *ctx) { return v->i > CC(ctx)->now + AUTH_LEEWAY_S; }
static int nonempty_check(struct vval *v, void *ctx) { return !*v->s; }
static int issuer_set(void *ctx) { return CC(ctx)->issuer != NULL; }
static int issuer_check(struct vval *v, void *ctx) { return strcmp(v->s, CC(ctx)->issuer) != 0; }
static int audience_set(void *ctx) { return CC(ctx)->audience != NULL; }
static int audience_check(struct vval *v, void *ctx) { return !valid_has(v, CC(ctx)->audience); }

enum { C_EXP, C_NBF, C_IAT, C_SUB, C_ISS, C_AUD, C_SCOPE, C_DOMAINS, C__MAX };

/* In the order they are checked; an ill-typed claim is "malformed token
 * claims", except where lax makes it count as absent. iss and aud only when
 * configured; aud as one string or an array, scope as words or an array. */
static const struct vfield claim_fields[C__MAX] = {
	[C_EXP] = { "exp", V_NUMBER, 1, .check = expiry_check, .missing = "missing exp claim",
		.msg = "token expired" },
	[C_NBF] = { "nbf", V_NUMBER, 0, .check = early_check, .msg = "token not yet valid" },
	[C_IAT] = { "iat", V_NUMBER, 0, .check = early_check, .msg = "token not yet valid" },
	[C_SUB] = { "sub", V_STRING, 1, .lax = 1, .check = nonempty_check, .msg = "missing sub claim" },
	[C_ISS] = { "iss", V_STRING, 1, .lax = 1, .when = issuer_set, .check = issuer_check,
		.msg = "wrong issuer" },
	[C_AUD] = { "aud", V_STRINGS, 1, .lone = VL_ONE, .lax = 1, .when = audience_set,
		.check = audience_check, .msg = "wrong audience" },
	[C_SCOPE] = { "scope", V_STRINGS, 0, .lone = VL_WORDS },
	[C_DOMAINS] = { "domains", V_STRINGS, 0 },
};

/* Checks the claims and fills *p from the arena. */
static enum aerr check_claims(struct json_object *claims, const struct config *cfg,
		struct arena *a, time_t now, struct principal *p, const char **why)
{
	struct claims_ctx ctx = {
		(int64_t)now,
		cfg->jwt_issuer && *cfg->jwt_issuer ? cfg->jwt_issuer : NULL,
		cfg->jwt_audience && *cfg->jwt_audience ? cfg->jwt_audience : NULL,
	};
	struct vval v[C__MAX];
	enum aerr rc = valid_claims(a, claims, claim_fields, C__MAX, &ctx, v, why);

	if (rc)
		return rc;
	p->sub = v[C_SUB].s;
	p->admin = valid_has(&v[C_SCOPE], AUTH_ADMIN_SCOPE);
	p->domains = v[C_DOMAINS].strs;
	p->ndomains = v[C_DOMAINS].n;
	return AE_OK;
}

/* "Bearer <token>": the token, or NULL. The scheme is case-insensitive (RFC 7235). */
static const char *bearer_token(const char *authz)
{
	if (!authz || strncasecmp(authz, "Bearer ", 7) != 0)
		return NULL;
	return authz + 7;
}

static int is_b64url(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '_';
}

enum aerr auth_authenticate(const struct auth_keys *k, const struct config *cfg,
		struct arena *a, const char *authz, time_t now,
		struct principal *p, const char **why)
{
	const char *tok, *dot1 = NULL, *dot2 = NULL, *alg_s, *kid = NULL, *calg;
	size_t len, i, ndots = 0, siglen;
	uint8_t *hdr_bytes = NULL, *plain = NULL;
	size_t hdr_len = 0, plain_len = 0;
	struct json_object *hdr = NULL, *claims = NULL, *v = NULL;
	const cjose_jwk_t *jwk;
	cjose_jws_t *jws = NULL;
	cjose_err cerr;
	enum key_alg alg = KA_HS256;
	int known = 0;
	enum aerr rc = AE_UNAUTHORIZED;

	memset(p, 0, sizeof(*p));
	*why = "malformed token";
	tok = bearer_token(authz);
	if (!tok || !*tok) {
		*why = "missing bearer token";
		goto out;
	}
	len = strnlen(tok, LIM_BEARER_TOKEN + 1);
	if (len > LIM_BEARER_TOKEN)
		goto out;
	for (i = 0; i < len; i++) {
		if (tok[i] == '.') {
			ndots++;
			if (ndots == 1)
				dot1 = tok + i;
			else if (ndots == 2)
				dot2 = tok + i;
		} else if (!is_b64url((unsigned char)tok[i])) {
			goto out;   /* whitespace, padding, anything else */
		}
	}
	if (ndots != 2 || dot1 == tok)
		goto out;

	/* The protected header, read by us before cjose sees the token. */
	if (!cjose_base64url_decode(tok, (size_t)(dot1 - tok), &hdr_bytes, &hdr_len, &cerr) || !hdr_bytes)
		goto out;
	hdr = jsonx_object((const char *)hdr_bytes, hdr_len);
	if (!hdr)
		goto out;
	alg_s = json_object_object_get_ex(hdr, "alg", &v) ? json_cstr(v) : NULL;
	if (!alg_s)
		goto out;
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (strcmp(alg_s, algs[i].name) == 0) {
			alg = algs[i].alg;
			known = 1;
		}
	}
	if (!known) {
		*why = "unsupported algorithm";
		goto out;
	}
	if (json_object_object_get_ex(hdr, "crit", &v) || json_object_object_get_ex(hdr, "b64", &v)) {
		*why = "unsupported token header";   /* we understand no extension */
		goto out;
	}
	if (json_object_object_get_ex(hdr, "kid", &v)) {
		kid = json_cstr(v);
		if (!kid)
			goto out;
	}
	jwk = k ? pick_key(k, alg, kid) : NULL;
	if (!jwk) {
		*why = "unknown key";
		goto out;
	}
	/* exact signature sizes: cjose 0.6.2 over-reads on short HMAC signatures */
	siglen = len - (size_t)(dot2 + 1 - tok);
	if (siglen == 0 || dot2 == dot1 + 1 ||
			(algs[alg].sig_b64_len && siglen != algs[alg].sig_b64_len))
		goto out;

	jws = cjose_jws_import(tok, len, &cerr);
	if (!jws)
		goto out;
	/* cjose parsed the header itself: it must see the same alg we checked */
	calg = cjose_header_get(cjose_jws_get_protected(jws), CJOSE_HDR_ALG, &cerr);
	if (!calg || strcmp(calg, algs[alg].name) != 0)
		goto out;
	if (!cjose_jws_verify(jws, jwk, &cerr)) {
		*why = "bad signature";
		goto out;
	}
	if (!cjose_jws_get_plaintext(jws, &plain, &plain_len, &cerr) || !plain)
		goto out;   /* borrowed from jws */
	claims = jsonx_object((const char *)plain, plain_len);
	if (!claims) {
		*why = "malformed token claims";
		goto out;
	}
	rc = check_claims(claims, cfg, a, now, p, why);
	if (rc == AE_OK)
		*why = NULL;
out:
	if (rc != AE_OK)
		memset(p, 0, sizeof(*p));
	json_object_put(claims);
	json_object_put(hdr);
	if (jws)
		cjose_jws_release(jws);
	if (hdr_bytes)
		cjose_get_dealloc()(hdr_bytes);
	return rc;
}

int principal_may_access(const struct principal *p, const char *domain)
{
	size_t i;

	if (!p || !p->sub || !domain)
		return 0;
	if (p->admin)
		return 1;
	for (i = 0; i < p->ndomains; i++) {
		if (p->domains[i] && strcmp(p->domains[i], domain) == 0)
			return 1;
	}
	return 0;
}

int auth_psk_ok(const struct config *cfg, const char *header_value)
{
	const volatile unsigned char *x, *y;
	size_t n, i;
	unsigned char diff = 0;

	if (!cfg || !cfg->status_psk || !cfg->status_psk[0] || !header_value)
		return 0;
	n = strlen(cfg->status_psk);
	if (strlen(header_value) != n)
		return 0;
	x = (const volatile unsigned char *)cfg->status_psk;
	y = (const volatile unsigned char *)header_value;
	for (i = 0; i < n; i++)
		diff |= (unsigned char)(x[i] ^ y[i]);
	return diff == 0;
}
