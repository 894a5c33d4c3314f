/* auth.h - bearer tokens -> principal, access rules, and the status PSK.
 * JWS verification is cjose's (no hand-rolled crypto); this module checks the
 * header's alg against the key type (no alg:none, no HS/RS confusion) and the
 * claims: exp required, nbf/iat with 60 s leeway, iss/aud when configured. */
#ifndef AUTOML_AUTH_H
#define AUTOML_AUTH_H
#include <stddef.h>
#include <time.h>
#include "arena.h"
#include "config.h"
#include "errors.h"

#define AUTH_LEEWAY_S 60

struct principal {
	const char *sub;            /* arena string */
	const char **domains;       /* arena array of arena strings */
	size_t ndomains;
	int admin;                  /* scope contains automl:admin */
};

struct auth_keys;   /* process-wide: HS256 secret and JWKS keys, loaded once */

/* Loads AUTOML_JWT_SECRET and/or AUTOML_JWKS_FILE. At least one must be set.
 * Returns 0, or -1 with err set. */
int auth_keys_load(struct auth_keys **out, const struct config *cfg, char *err, size_t errlen);
void auth_keys_free(struct auth_keys *k);

/* authz: the Authorization header value (may be NULL). On AE_OK *p is filled
 * with arena strings. On AE_UNAUTHORIZED *why is a short static public reason
 * ("missing bearer token", "token expired", "bad signature", ...). */
enum aerr auth_authenticate(const struct auth_keys *k, const struct config *cfg,
		struct arena *a, const char *authz, time_t now,
		struct principal *p, const char **why);

/* May the principal act in this domain? (admin: every domain) */
int principal_may_access(const struct principal *p, const char *domain);

/* Constant-time check of an Authorization-PSK header against cfg->status_psk.
 * False when no PSK is configured. */
int auth_psk_ok(const struct config *cfg, const char *header_value);

#endif
