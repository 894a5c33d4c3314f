/* valid.h - declarative input fields, in the manner of kcgi's kvalid: a table
 * of fields (name, type, required, validator, message) and one walker per
 * source: a JSON request body, a query string's values, a JWT claims object.
 * Pure: no I/O; the walkers decide nothing but what the tables say. */
#ifndef AUTOML_VALID_H
#define AUTOML_VALID_H
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "arena.h"
#include "errors.h"

enum vtype {
	V_STRING,    /* NUL-free string of at most hi bytes (hi 0: no cap): s */
	V_ENUM,      /* one of spell's names: i its index, s its spelling */
	V_BOOL,      /* JSON true or false: i */
	V_UUID,      /* canonical 8-4-4-4-12 hex string: s */
	V_INT,       /* whole number in [lo, hi] (text: decimal): i */
	V_NUMBER,    /* JSON number, floored and saturated to int64 (a JWT NumericDate): i */
	V_STRINGS,   /* JSON array of NUL-free strings, at most hi (0: any): strs, n */
};

/* What a lone string is for V_STRINGS (JWT aud: one item; scope: its words). */
enum vlone { VL_REFUSED, VL_ONE, VL_WORDS };

/* The spellings of an enum, index = value. */
struct vspell {
	const char *const *names;
	int n;
};

/* One field's value. Absent (or failed): set 0 and the field's defaults. */
struct vval {
	int set;              /* the source gave this valid value */
	const char *s;        /* arena copy (body, claims), borrowed (text), static (V_ENUM) */
	int64_t i;
	const char **strs;    /* arena array of arena strings; NULL when n is 0 */
	size_t n;
};

struct vfield {
	const char *name;
	enum vtype type;
	int required;
	int64_t lo, hi;                      /* see enum vtype */
	const struct vspell *spell;          /* V_ENUM */
	enum vlone lone;                     /* V_STRINGS */
	int lax;                             /* a value of another type counts as absent */
	int (*when)(void *ctx);              /* NULL, or the field counts only when true */
	/* Pure and bounded. Sees a value of the right type; 0 when valid, else 1
	 * (msg) or 2 (msg2). May set v's parsed form (a query cursor's halves in
	 * strs), as kcgi's validators set kpair.parsed. */
	int (*check)(struct vval *v, void *ctx);
	const char *msg, *msg2;              /* what a failed check says */
	const char *code;                    /* its FastAPI error type */
	const char *missing;                 /* a missing required field says (NULL: see walkers) */
	int64_t def;                         /* i when absent */
	const char *def_s;                   /* s when absent */
};

/* Appends {"loc": [where, field], "msg": msg, "type": type} to detail (a
 * json array); field NULL: loc [where]. Nothing on out of memory. */
void detail_add(json_object *detail, const char *where, const char *field,
		const char *msg, const char *type);

/* The body walker. body must be one JSON object (strict, UTF-8 checked);
 * members not in f[] are extra_forbidden; JSON null is absent. Every bad field
 * appends one entry at ["body", name]: "Field required" (missing) when absent,
 * a per-type message (string_type, bool_type, uuid_parsing, ...) for another
 * type, msg (or msg2) and code when check() fails; a bad V_ENUM lists the
 * spellings, type enum. out[0..n) is filled (strings copied into a).
 * AE_OK, AE_VALIDATION (entries appended), AE_NOMEM. */
enum aerr valid_body(struct arena *a, const char *body, size_t len, const struct vfield *f,
		size_t n, void *ctx, struct vval *out, json_object *detail);

/* The query walker. text[i] is the value of f[i] (NULL: absent), borrowed.
 * Stops at the first bad field and appends one entry at ["query", name]:
 * "Field required" if missing, msg2 for check()'s 2, else msg and code
 * whatever went wrong (the body walker's message for a field without msg).
 * AE_OK or AE_VALIDATION. */
enum aerr valid_query(const struct vfield *f, size_t n, const char *const *text, void *ctx,
		struct vval *out, json_object *detail);

/* The claims walker, over a JWT claims object: JSON null is a value (of the
 * wrong type). Stops at the first bad field with *why (static): missing (or
 * msg) when absent, msg or msg2 when check() fails, "malformed token claims"
 * for another type. Strings are copied into a. AE_OK, AE_UNAUTHORIZED, AE_NOMEM. */
enum aerr valid_claims(struct arena *a, json_object *claims, const struct vfield *f, size_t n,
		void *ctx, struct vval *out, const char **why);

/* Does the V_STRINGS value v hold s? */
int valid_has(const struct vval *v, const char *s);

int uuid_valid(const char *s);   /* canonical 8-4-4-4-12 hex form */

#endif
