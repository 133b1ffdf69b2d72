/*
 * Parsing and checking of single Notary metadata files: the envelope,
 * the structure rules of each role type (notary tuf/data/{root,targets,
 * snapshot,timestamp}.go), signatures against a role's keys and
 * threshold (tuf/signed/verify.go), expiry, and hashes against the parent
 * (tuf/data/types.go CheckHashes).
 *
 * Stricter than Notary on purpose (docs/ARCHITECTURE.md): field names
 * match exactly (Go matches case-insensitively), duplicate keys are
 * rejected (Go keeps the last), versions must be JSON integers, a key
 * whose listed ID differs from its content is an error even when no role
 * uses it.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "certs/certs.h"
#include "trust/tuf_int.h"

const char *const trole_names[TROLE_NBASE] = {
	"root", "targets", "snapshot", "timestamp"
};

/* ---- time ---------------------------------------------------------- */

static int
digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
ttime_parse(const char *s, time_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0, n;
	int64_t t;

	if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) ||
	    *s++ != '-' || digits(&s, 2, &d) || (*s != 'T' && *s != 't'))
		return -1;
	s++;
	if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) ||
	    *s++ != ':' || digits(&s, 2, &sec))
		return -1;
	if (*s == '.') {	/* fractional seconds: ignored, at most 9 digits */
		s++;
		for (n = 0; isdigit((unsigned char)*s); n++, s++)
			;
		if (n == 0 || n > 9)
			return -1;
	}
	if (*s == 'Z' || *s == 'z')
		s++;
	else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) ||
		    oh > 23 || om > 59)
			return -1;
	} else
		return -1;
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    h > 23 || mi > 59 || sec > 59)
		return -1;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= (int64_t)sign * (oh * 3600 + om * 60);
	if (sizeof(time_t) < 8 && (t > INT_MAX || t < INT_MIN))
		return -1;
	*out = (time_t)t;
	return 0;
}

void
ttime_format(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%a %b %e %H:%M:%S UTC %Y",
	    &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/* ---- envelope ------------------------------------------------------ */

static int
is_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return s[64] == '\0';
}

static const char *
get_str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void
tmeta_clear(struct tmeta *m)
{
	size_t i;

	for (i = 0; i < m->nsigs; i++)
		free(m->sigs[i].sig);
	free(m->sigs);
	free(m->canon);
	free(m->raw);
	memset(m, 0, sizeof(*m));
}

/*
 * Parse the envelope {"signed":{...},"signatures":[...]}, check _type,
 * version >= 1 and expires, compute the canonical signed bytes. On
 * success *signedp is the "signed" object, a new reference the caller
 * drops once it has parsed the role's fields: nothing reads the tree later.
 */
static int
tmeta_parse(struct tmeta *m, const char *role, const char *type, const uint8_t *buf,
    size_t len, size_t cap, json_t **signedp, struct trust_error *err)
{
	json_t		*doc = NULL;
	const json_t	*signed_, *sigs, *s, *v;
	const char	*str;
	size_t		 i;
	int		 rc = -1;

	memset(m, 0, sizeof(*m));
	*signedp = NULL;
	snprintf(m->role, sizeof(m->role), "%s", role);
	if (tjson_parse(buf, len, cap, &doc, err) == -1)
		goto out;
	if ((m->raw = malloc(len ? len : 1)) == NULL) {
		trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(m->raw, buf, len);
	m->rawlen = len;
	signed_ = json_object_get(doc, "signed");
	sigs = json_object_get(doc, "signatures");
	if (!json_is_object(signed_) || !json_is_array(sigs)) {
		trust_seterr(err, TRUST_E_PARSE, "%s: metadata needs a \"signed\" object "
		    "and a \"signatures\" array", role);
		goto out;
	}
	if ((str = get_str(signed_, "_type")) == NULL || strcmp(str, type) != 0) {
		trust_seterr(err, TRUST_E_PARSE, "%s: _type is %s%s%s, expected \"%s\"",
		    role, str ? "\"" : "", str ? str : "missing", str ? "\"" : "", type);
		goto out;
	}
	v = json_object_get(signed_, "version");
	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		trust_seterr(err, TRUST_E_PARSE, "%s: version must be an integer >= 1", role);
		goto out;
	}
	m->version = json_integer_value(v);
	if ((str = get_str(signed_, "expires")) == NULL ||
	    ttime_parse(str, &m->expires) == -1) {
		trust_seterr(err, TRUST_E_PARSE, "%s: expires is not an RFC 3339 time", role);
		goto out;
	}
	if (json_array_size(sigs) > TRUST_MAX_SIGNATURES) {
		trust_seterr(err, TRUST_E_PARSE, "%s: %zu signatures, at most %d allowed",
		    role, json_array_size(sigs), TRUST_MAX_SIGNATURES);
		goto out;
	}
	if ((m->sigs = calloc(json_array_size(sigs) + 1, sizeof(*m->sigs))) == NULL) {
		trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
		goto out;
	}
	json_array_foreach(sigs, i, s) {
		const char *kid = get_str(s, "keyid"), *meth = get_str(s, "method");
		const char *sig = get_str(s, "sig");
		struct tsig *t = &m->sigs[m->nsigs];
		size_t j;

		if (kid == NULL || meth == NULL || sig == NULL || !is_hex64(kid) ||
		    strlen(meth) >= sizeof(t->method)) {
			trust_seterr(err, TRUST_E_PARSE, "%s: signature %zu is malformed",
			    role, i);
			goto out;
		}
		memcpy(t->keyid, kid, 65);
		for (j = 0; meth[j] != '\0'; j++)	/* notary lower-cases the method */
			t->method[j] = (char)tolower((unsigned char)meth[j]);
		t->method[j] = '\0';
		if (tb64_decode(sig, strlen(sig), &t->sig, &t->len) == -1) {
			trust_seterr(err, TRUST_E_PARSE, "%s: signature %zu is not base64",
			    role, i);
			goto out;
		}
		m->nsigs++;
	}
	if (tjson_canonical(signed_, &m->canon, &m->canonlen) == -1) {
		trust_seterr(err, TRUST_E_PARSE, "%s: signed part has no canonical form "
		    "(non-integral number)", role);
		goto out;
	}
	*signedp = json_incref((json_t *)(uintptr_t)signed_);
	rc = 0;
 out:
	if (rc == -1)
		tmeta_clear(m);
	json_decref(doc);
	return rc;
}

int64_t
tmeta_peek_version(const uint8_t *buf, size_t len)
{
	struct trust_error	 err;
	json_t			*doc;
	const json_t		*v;
	int64_t			 ver = -1;

	if (tjson_parse(buf, len, TRUST_MAX_METADATA_LEN, &doc, &err) == -1)
		return -1;
	v = json_object_get(json_object_get(doc, "signed"), "version");
	if (json_is_integer(v))
		ver = json_integer_value(v);
	json_decref(doc);
	return ver;
}

/* ---- keys and roles ------------------------------------------------ */

static void
keys_free(struct tkey **keys, size_t n)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < n; i++)
		tkey_free(keys[i]);
	free(keys);
}

/* Parse a "keys" object {id: key}: every listed ID must match the content. */
static int
keys_parse(const char *role, const json_t *obj, struct tkey ***out, size_t *nout,
    struct trust_error *err)
{
	struct tkey	**keys = NULL, *k;
	const char	 *id;
	const json_t	 *v;
	size_t		  n = 0;
	int		  rc = -1;

	if (!json_is_object(obj)) {
		trust_seterr(err, TRUST_E_PARSE, "%s: \"keys\" must be an object", role);
		goto out;
	}
	if (json_object_size(obj) > TRUST_MAX_KEYS) {
		trust_seterr(err, TRUST_E_PARSE, "%s: %zu keys, at most %d allowed", role,
		    json_object_size(obj), TRUST_MAX_KEYS);
		goto out;
	}
	if ((keys = calloc(json_object_size(obj) + 1, sizeof(*keys))) == NULL) {
		trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
		goto out;
	}
	json_object_foreach((json_t *)(uintptr_t)obj, id, v) {
		if (tkey_parse(v, &k, err) == -1) {
			char m[TRUST_ERRMSG_LEN];

			snprintf(m, sizeof(m), "%s", err ? err->msg : "");
			trust_seterr(err, err ? err->code : TRUST_E_PARSE, "%s: key %.16s: %s",
			    role, id, m);
			goto out;
		}
		keys[n++] = k;
		if (strcmp(k->id, id) != 0) {
			trust_seterr(err, TRUST_E_VALIDATION, "%s: key ID %s is not valid for "
			    "key content (computed %s)", role, id, k->id);
			goto out;
		}
	}
	*out = keys;
	*nout = n;
	keys = NULL;
	rc = 0;
 out:
	keys_free(keys, n);
	return rc;
}

static void
trole_clear(struct trole *r)
{
	size_t i;

	free(r->keyids);
	for (i = 0; i < r->npaths; i++)
		free(r->paths[i]);
	free(r->paths);
	memset(r, 0, sizeof(*r));
}

struct tkey *
tkeys_find(struct tkey *const *keys, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(keys[i]->id, id) == 0)
			return keys[i];
	return NULL;
}

/* {"keyids":[...],"threshold":N} (+ "name", "paths" for delegations). */
static int
trole_parse(const char *where, const char *name, const json_t *o, int deleg,
    struct tkey *const *keys, size_t nkeys, struct trole *r, struct trust_error *err)
{
	const json_t	*ids, *th, *paths, *v;
	const char	*s;
	size_t		 i;
	int		 rc = -1;

	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	ids = json_object_get(o, "keyids");
	th = json_object_get(o, "threshold");
	if (!json_is_array(ids) || !json_is_integer(th)) {
		trust_seterr(err, TRUST_E_PARSE, "%s: role %s needs keyids and an "
		    "integer threshold", where, name);
		goto out;
	}
	r->threshold = json_integer_value(th);
	if (r->threshold < 1) {
		trust_seterr(err, TRUST_E_PARSE, "%s: role %s has threshold %lld, "
		    "must be >= 1", where, name, (long long)r->threshold);
		goto out;
	}
	if (json_array_size(ids) > TRUST_MAX_ROLE_KEYS) {
		trust_seterr(err, TRUST_E_PARSE, "%s: role %s lists too many keys",
		    where, name);
		goto out;
	}
	if ((r->keyids = calloc(json_array_size(ids) + 1, sizeof(*r->keyids))) == NULL) {
		trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
		goto out;
	}
	json_array_foreach(ids, i, v) {
		if ((s = json_string_value(v)) == NULL || !is_hex64(s) ||
		    tkeys_find(keys, nkeys, s) == NULL) {
			trust_seterr(err, TRUST_E_PARSE, "%s: role %s lists key ID %s "
			    "that is not in \"keys\"", where, name, s ? s : "(not a string)");
			goto out;
		}
		memcpy(r->keyids[r->nkeyids++], s, 65);
	}
	if (deleg) {
		paths = json_object_get(o, "paths");
		if (json_object_get(o, "path_hash_prefixes") != NULL) {
			trust_seterr(err, TRUST_E_PARSE, "%s: role %s: path_hash_prefixes "
			    "are not supported by Notary", where, name);
			goto out;
		}
		/* no "paths": none (jansson takes NULL as an empty array) */
		if (paths != NULL && (!json_is_array(paths) ||
		    json_array_size(paths) > TRUST_MAX_PATHS)) {
			trust_seterr(err, TRUST_E_PARSE, "%s: role %s: paths must be an "
			    "array of at most %d strings", where, name, TRUST_MAX_PATHS);
			goto out;
		}
		r->paths = calloc(json_array_size(paths) + 1, sizeof(*r->paths));
		if (r->paths == NULL) {
			trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
			goto out;
		}
		json_array_foreach(paths, i, v) {
			if ((s = json_string_value(v)) == NULL ||
			    (r->paths[r->npaths] = strdup(s)) == NULL) {
				trust_seterr(err, TRUST_E_PARSE, "%s: role %s: paths must "
				    "be strings", where, name);
				goto out;
			}
			r->npaths++;
		}
	}
	rc = 0;
 out:
	if (rc == -1)
		trole_clear(r);
	return rc;
}

int
trole_name_valid(const char *name)
{
	size_t	i, len = strlen(name);

	/* notary data.IsDelegation: ^[-a-z0-9_/]+$, prefix targets/, < 256, clean */
	if (len >= 256 || strncmp(name, "targets/", 8) != 0 || len == 8)
		return 0;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_' || c == '/'))
			return 0;
		if (c == '/' && (name[i + 1] == '/' || name[i + 1] == '\0'))
			return 0;
	}
	return 1;
}

/* ---- root ---------------------------------------------------------- */

void
troot_free(struct troot *r)
{
	int i;

	if (r == NULL)
		return;
	tmeta_clear(&r->m);
	keys_free(r->keys, r->nkeys);
	for (i = 0; i < TROLE_NBASE; i++)
		trole_clear(&r->roles[i]);
	free(r);
}

int
troot_parse(const uint8_t *buf, size_t len, struct troot **out, struct trust_error *err)
{
	struct troot	*r;
	json_t		*signed_ = NULL;
	const json_t	*roles, *o;
	int		 i, rc = -1;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
	if (tmeta_parse(&r->m, "root", "Root", buf, len, TRUST_MAX_ROOT_LEN, &signed_,
	    err) == -1)
		goto out;
	if (keys_parse("root", json_object_get(signed_, "keys"), &r->keys, &r->nkeys,
	    err) == -1)
		goto out;
	roles = json_object_get(signed_, "roles");
	if (!json_is_object(roles)) {
		trust_seterr(err, TRUST_E_PARSE, "root: \"roles\" must be an object");
		goto out;
	}
	for (i = 0; i < TROLE_NBASE; i++) {
		if ((o = json_object_get(roles, trole_names[i])) == NULL) {
			trust_seterr(err, TRUST_E_PARSE, "root: role %s is missing",
			    trole_names[i]);
			goto out;
		}
		if (trole_parse("root", trole_names[i], o, 0, r->keys, r->nkeys,
		    &r->roles[i], err) == -1)
			goto out;
	}
	*out = r;
	r = NULL;
	rc = 0;
 out:
	json_decref(signed_);
	troot_free(r);
	return rc;
}

const struct trole *
troot_role(const struct troot *r, enum trole_base b)
{
	return &r->roles[b];
}

/* ---- targets ------------------------------------------------------- */

void
ttargets_free(struct ttargets *t)
{
	size_t i;

	if (t == NULL)
		return;
	tmeta_clear(&t->m);
	for (i = 0; i < t->ntargets; i++)
		free(t->targets[i].name);
	free(t->targets);
	keys_free(t->keys, t->nkeys);
	for (i = 0; i < t->ndelegs; i++)
		trole_clear(&t->delegs[i]);
	free(t->delegs);
	free(t);
}

/* {"hashes":{"sha256":b64,...},"length":N}; sha256 is optional for targets. */
static int
hashes_parse(const char *where, const char *name, const json_t *o, int need256,
    int *has256, uint8_t sha256[32], int *has512, uint8_t sha512[64], int64_t *length,
    struct trust_error *err)
{
	const json_t	*h = json_object_get(o, "hashes"), *l = json_object_get(o, "length");
	const char	*s;
	uint8_t		*d = NULL;
	size_t		 dlen;
	int		 rc = -1;

	*has256 = 0;
	if (has512)
		*has512 = 0;
	if (!json_is_object(h) || !json_is_integer(l) || json_integer_value(l) < 0) {
		trust_seterr(err, TRUST_E_PARSE, "%s: %s needs hashes and a length",
		    where, name);
		goto out;
	}
	*length = json_integer_value(l);
	if ((s = json_string_value(json_object_get(h, "sha256"))) != NULL) {
		if (tb64_decode(s, strlen(s), &d, &dlen) == -1 || dlen != 32) {
			trust_seterr(err, TRUST_E_PARSE, "%s: %s: malformed sha256", where,
			    name);
			goto out;
		}
		memcpy(sha256, d, 32);
		*has256 = 1;
		free(d);
		d = NULL;
	} else if (json_object_get(h, "sha256") != NULL) {
		trust_seterr(err, TRUST_E_PARSE, "%s: %s: malformed sha256", where, name);
		goto out;
	}
	if (has512 && (s = json_string_value(json_object_get(h, "sha512"))) != NULL) {
		if (tb64_decode(s, strlen(s), &d, &dlen) == -1 || dlen != 64) {
			trust_seterr(err, TRUST_E_PARSE, "%s: %s: malformed sha512", where,
			    name);
			goto out;
		}
		memcpy(sha512, d, 64);
		*has512 = 1;
	}
	if (need256 && !*has256) {
		trust_seterr(err, TRUST_E_PARSE, "%s: %s has no sha256 hash", where, name);
		goto out;
	}
	rc = 0;
 out:
	free(d);
	return rc;
}

/* Is child a direct child of parent ("targets/a" of "targets")? */
static int
direct_child(const char *parent, const char *child)
{
	size_t pl = strlen(parent);

	return strncmp(child, parent, pl) == 0 && child[pl] == '/' &&
	    strchr(child + pl + 1, '/') == NULL;
}

int
ttargets_parse(const char *role, const uint8_t *buf, size_t len, struct ttargets **out,
    struct trust_error *err)
{
	struct ttargets	*t;
	json_t		*signed_ = NULL;
	const json_t	*tg, *dl, *roles, *v;
	const char	*name;
	size_t		 i;
	int		 rc = -1;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
	if (tmeta_parse(&t->m, role, "Targets", buf, len, TRUST_MAX_METADATA_LEN,
	    &signed_, err) == -1)
		goto out;
	tg = json_object_get(signed_, "targets");
	if (!json_is_object(tg) || json_object_size(tg) > TRUST_MAX_TARGETS) {
		trust_seterr(err, TRUST_E_PARSE, "%s: \"targets\" must be an object of "
		    "at most %d entries", role, TRUST_MAX_TARGETS);
		goto out;
	}
	if ((t->targets = calloc(json_object_size(tg) + 1, sizeof(*t->targets))) == NULL) {
		trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
		goto out;
	}
	json_object_foreach((json_t *)(uintptr_t)tg, name, v) {
		struct ttarget *x = &t->targets[t->ntargets];

		if (strlen(name) > TRUST_MAX_NAME_LEN) {
			trust_seterr(err, TRUST_E_PARSE, "%s: target name longer than %d",
			    role, TRUST_MAX_NAME_LEN);
			goto out;
		}
		if (hashes_parse(role, name, v, 0, &x->has_sha256, x->sha256, NULL, NULL,
		    &x->length, err) == -1)
			goto out;
		if ((x->name = strdup(name)) == NULL) {
			trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
			goto out;
		}
		t->ntargets++;
	}
	dl = json_object_get(signed_, "delegations");
	if (dl == NULL || json_is_null(dl)) {
		rc = 0;
		goto done;
	}
	if (!json_is_object(dl)) {
		trust_seterr(err, TRUST_E_PARSE, "%s: \"delegations\" must be an object", role);
		goto out;
	}
	if (keys_parse(role, json_object_get(dl, "keys"), &t->keys, &t->nkeys, err) == -1)
		goto out;
	roles = json_object_get(dl, "roles");
	if (roles != NULL && !json_is_null(roles) && (!json_is_array(roles) ||
	    json_array_size(roles) > TRUST_MAX_DELEGATIONS)) {
		trust_seterr(err, TRUST_E_PARSE, "%s: delegations.roles must be an array "
		    "of at most %d roles", role, TRUST_MAX_DELEGATIONS);
		goto out;
	}
	if ((t->delegs = calloc(json_array_size(roles) + 1, sizeof(*t->delegs))) == NULL) {
		trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
		goto out;
	}
	json_array_foreach(roles, i, v) {
		if ((name = get_str(v, "name")) == NULL || !trole_name_valid(name) ||
		    !direct_child(role, name)) {
			trust_seterr(err, TRUST_E_PARSE, "%s: delegation %s is not a valid "
			    "direct child role", role, name ? name : "(unnamed)");
			goto out;
		}
		if (trole_parse(role, name, v, 1, t->keys, t->nkeys, &t->delegs[i],
		    err) == -1)
			goto out;
		t->ndelegs++;
	}
	rc = 0;
 done:
	*out = t;
	t = NULL;
 out:
	json_decref(signed_);
	ttargets_free(t);
	return rc;
}

/* ---- snapshot and timestamp --------------------------------------- */

void
tsnap_free(struct tsnap *s)
{
	if (s == NULL)
		return;
	tmeta_clear(&s->m);
	free(s->files);
	free(s);
}

int
tsnap_parse(const char *role, const uint8_t *buf, size_t len, struct tsnap **out,
    struct trust_error *err)
{
	struct tsnap	*s;
	json_t		*signed_ = NULL;
	const json_t	*meta, *v;
	const char	*name;
	int		 ts = strcmp(role, "timestamp") == 0, rc = -1;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
	if (tmeta_parse(&s->m, role, ts ? "Timestamp" : "Snapshot", buf, len,
	    ts ? TRUST_MAX_TIMESTAMP_LEN : TRUST_MAX_METADATA_LEN, &signed_, err) == -1)
		goto out;
	meta = json_object_get(signed_, "meta");
	if (!json_is_object(meta) || json_object_size(meta) > TRUST_MAX_DELEGATIONS + 8) {
		trust_seterr(err, TRUST_E_PARSE, "%s: \"meta\" must be an object of at "
		    "most %d entries", role, TRUST_MAX_DELEGATIONS + 8);
		goto out;
	}
	if ((s->files = calloc(json_object_size(meta) + 1, sizeof(*s->files))) == NULL) {
		trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
		goto out;
	}
	json_object_foreach((json_t *)(uintptr_t)meta, name, v) {
		struct tfileinfo *f = &s->files[s->nfiles];

		if (strlen(name) > TRUST_MAX_ROLE_LEN) {
			trust_seterr(err, TRUST_E_PARSE, "%s: meta name too long", role);
			goto out;
		}
		snprintf(f->role, sizeof(f->role), "%s", name);
		if (hashes_parse(role, name, v, 1, &f->has_sha256, f->sha256,
		    &f->has_sha512, f->sha512, &f->length, err) == -1)
			goto out;
		s->nfiles++;
	}
	/* notary: snapshot needs root and targets, timestamp needs snapshot */
	if (ts ? tsnap_find(s, "snapshot") == NULL :
	    (tsnap_find(s, "root") == NULL || tsnap_find(s, "targets") == NULL)) {
		trust_seterr(err, TRUST_E_PARSE, "%s: meta lacks %s", role,
		    ts ? "snapshot" : "root or targets");
		goto out;
	}
	*out = s;
	s = NULL;
	rc = 0;
 out:
	json_decref(signed_);
	tsnap_free(s);
	return rc;
}

const struct tfileinfo *
tsnap_find(const struct tsnap *s, const char *role)
{
	size_t i;

	for (i = 0; i < s->nfiles; i++)
		if (strcmp(s->files[i].role, role) == 0)
			return &s->files[i];
	return NULL;
}

/* ---- checks -------------------------------------------------------- */

int
tmeta_verify(const struct tmeta *m, const struct trole *role, struct tkey *const *keys,
    size_t nkeys, struct trust_error *err)
{
	char		(*seen)[65] = NULL;
	struct tkey	*k;
	size_t		 i, j, nseen = 0;
	int		 authorised, dup, rc = -1;

	if (m->nsigs == 0) {
		trust_seterr(err, TRUST_E_THRESHOLD, "%s: tuf: data has no signatures",
		    m->role);
		goto out;
	}
	if ((seen = calloc(m->nsigs, sizeof(*seen))) == NULL) {
		trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
		goto out;
	}
	for (i = 0; i < m->nsigs; i++) {
		const struct tsig *s = &m->sigs[i];

		authorised = 0;
		for (j = 0; j < role->nkeyids; j++)
			if (strcmp(role->keyids[j], s->keyid) == 0)
				authorised = 1;
		if (!authorised || (k = tkeys_find(keys, nkeys, s->keyid)) == NULL)
			continue;
		/* a key counts once towards the threshold, however often it signs */
		for (dup = 0, j = 0; j < nseen; j++)
			if (strcmp(seen[j], s->keyid) == 0)
				dup = 1;
		if (dup)
			continue;
		if (tkey_verify(k, s->method, s->sig, s->len, m->canon, m->canonlen) == 1)
			memcpy(seen[nseen++], s->keyid, 65);
	}
	if ((int64_t)nseen < role->threshold) {
		trust_seterr(err, TRUST_E_THRESHOLD, "%s: valid signatures did not meet "
		    "threshold for %s (%zu of %lld)", m->role, role->name, nseen,
		    (long long)role->threshold);
		goto out;
	}
	rc = 0;
 out:
	free(seen);
	return rc;
}

int
tmeta_check_expiry(const struct tmeta *m, time_t now, struct trust_error *err)
{
	char when[64];

	if (m->expires >= now)
		return 0;
	ttime_format(m->expires, when, sizeof(when));
	return trust_seterr(err, TRUST_E_EXPIRED, "%s expired at %s", m->role, when);
}

int
tfileinfo_check(const struct tfileinfo *fi, const uint8_t *buf, size_t len,
    struct trust_error *err)
{
	uint8_t		d[EVP_MAX_MD_SIZE];
	unsigned int	dl;

	if (!fi->has_sha256 && !fi->has_sha512)
		return trust_seterr(err, TRUST_E_CHECKSUM, "%s: no checksum to verify "
		    "against", fi->role);
	if (fi->has_sha256 && (EVP_Digest(buf, len, d, &dl, EVP_sha256(), NULL) != 1 ||
	    CRYPTO_memcmp(d, fi->sha256, 32) != 0))
		return trust_seterr(err, TRUST_E_CHECKSUM, "%s: checksum mismatch "
		    "(sha256 of %zu bytes)", fi->role, len);
	if (fi->has_sha512 && (EVP_Digest(buf, len, d, &dl, EVP_sha512(), NULL) != 1 ||
	    CRYPTO_memcmp(d, fi->sha512, 64) != 0))
		return trust_seterr(err, TRUST_E_CHECKSUM, "%s: checksum mismatch "
		    "(sha512 of %zu bytes)", fi->role, len);
	return 0;
}
