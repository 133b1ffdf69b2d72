/*
 * cache: what the proxy remembers between requests.
 *
 * mcache: verified manifest bytes by (GUN, client credentials, digest),
 * bounded by total bytes (config cache.manifest_bytes), least recently
 * used first out. The credentials are part of the key so that a manifest
 * fetched with one client's Authorization is never served to another
 * client: the upstream's access control stays in force.
 *
 * refs: the digests verified manifests of a repository reference: the
 * children of a verified manifest list or OCI index (REF_CHILD) and the
 * config and layer blobs of a verified manifest (REF_BLOB). Bounded in
 * entries (PROXY_MAX_REFS); least recently used first out. Losing an
 * entry only costs a re-verification (gate.c indexes the repository again).
 * refs also remembers which repositories were indexed lately, so that a
 * reload, which starts a new refs, starts the marks afresh too.
 *
 * Both are plain hash tables with chaining; the hash is FNV-1a, which is
 * fine because the keys are digests and repository names the proxy has
 * already verified or validated, not arbitrary attacker strings.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "proxy/server_int.h"

#define MCACHE_BUCKETS	4096
#define REFS_BUCKETS	65536

static uint64_t
fnv(uint64_t h, const void *p, size_t len)
{
	const uint8_t	*b = p;
	size_t		 i;

	for (i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_INIT	0xcbf29ce484222325ULL

int
digest_parse(const char *s, uint8_t out[32])
{
	/* lower case only: one spelling per digest (trust_hex_decode takes both) */
	if (strncmp(s, "sha256:", 7) != 0 || strlen(s + 7) != 64 ||
	    strspn(s + 7, "0123456789abcdef") != 64)
		return -1;
	return trust_hex_decode(s + 7, out, 32);
}

void
digest_format(const uint8_t sha[32], char out[DIGEST_STR_LEN])
{
	memcpy(out, "sha256:", 7);
	trust_hex(sha, 32, out + 7);
}

/* ---- mcache ---------------------------------------------------------- */

struct mentry {
	char			*gun;
	char			 auth[65];
	uint8_t			 sha[32];
	uint8_t			*bytes;
	size_t			 len;
	char			*ctype;
	struct mentry		*next;		/* bucket chain */
	TAILQ_ENTRY(mentry)	 lru;
};

struct mcache {
	struct mentry		*b[MCACHE_BUCKETS];
	TAILQ_HEAD(mlru, mentry)	 lru;		/* head: least recently used */
	uint64_t		 bytes;
	uint64_t		 max;
};

static size_t
mkey(const char *gun, const char *auth, const uint8_t sha[32])
{
	uint64_t h = fnv(FNV_INIT, sha, 32);

	h = fnv(h, gun, strlen(gun) + 1);
	h = fnv(h, auth, strlen(auth));
	return (size_t)(h % MCACHE_BUCKETS);
}

struct mcache *
mcache_new(uint64_t max)
{
	struct mcache *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	TAILQ_INIT(&c->lru);
	c->max = max;
	return c;
}

static void
mentry_drop(struct mcache *c, struct mentry *e)
{
	struct mentry **pp = &c->b[mkey(e->gun, e->auth, e->sha)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	TAILQ_REMOVE(&c->lru, e, lru);
	c->bytes -= e->len;
	free(e->gun);
	free(e->bytes);
	free(e->ctype);
	free(e);
}

static void
mcache_trim(struct mcache *c)
{
	while (c->bytes > c->max && !TAILQ_EMPTY(&c->lru))
		mentry_drop(c, TAILQ_FIRST(&c->lru));
}

void
mcache_free(struct mcache *c)
{
	if (c == NULL)
		return;
	c->max = 0;
	mcache_trim(c);
	free(c);
}

void
mcache_set_max(struct mcache *c, uint64_t max)
{
	c->max = max;
	mcache_trim(c);
}

static struct mentry *
mfind(struct mcache *c, const char *gun, const char *auth, const uint8_t sha[32])
{
	struct mentry *e;

	for (e = c->b[mkey(gun, auth, sha)]; e != NULL; e = e->next)
		if (memcmp(e->sha, sha, 32) == 0 && strcmp(e->gun, gun) == 0 &&
		    strcmp(e->auth, auth) == 0)
			return e;
	return NULL;
}

const uint8_t *
mcache_get(struct mcache *c, const char *gun, const char *auth,
    const uint8_t sha[32], size_t *len, const char **ctype)
{
	struct mentry *e;

	if ((e = mfind(c, gun, auth, sha)) == NULL)
		return NULL;
	TAILQ_REMOVE(&c->lru, e, lru);
	TAILQ_INSERT_TAIL(&c->lru, e, lru);
	*len = e->len;
	*ctype = e->ctype;
	return e->bytes;
}

void
mcache_put(struct mcache *c, const char *gun, const char *auth,
    const uint8_t sha[32], const uint8_t *bytes, size_t len, const char *ctype)
{
	struct mentry	*e;
	size_t		 k;

	if (len > c->max || strlen(auth) >= sizeof(e->auth) ||
	    mfind(c, gun, auth, sha) != NULL)
		return;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	e->gun = strdup(gun);
	e->bytes = malloc(len ? len : 1);
	e->ctype = strdup(ctype ? ctype : "");
	if (e->gun == NULL || e->bytes == NULL || e->ctype == NULL) {
		free(e->gun);
		free(e->bytes);
		free(e->ctype);
		free(e);
		return;
	}
	memcpy(e->auth, auth, strlen(auth) + 1);
	memcpy(e->sha, sha, 32);
	memcpy(e->bytes, bytes, len);
	e->len = len;
	k = mkey(gun, auth, sha);
	e->next = c->b[k];
	c->b[k] = e;
	TAILQ_INSERT_TAIL(&c->lru, e, lru);
	c->bytes += len;
	mcache_trim(c);
}

/* ---- refs ------------------------------------------------------------- */

struct rentry {
	char			*gun;
	uint8_t			 sha[32];
	int			 kind;
	struct rentry		*next;
	TAILQ_ENTRY(rentry)	 lru;
};

/* A repository indexed lately (refs_index_allowed). */
struct index_mark {
	char	gun[TRUST_MAX_GUN_LEN + 1];
	time_t	at;
};

struct refs {
	struct rentry		**b;
	TAILQ_HEAD(rlru, rentry)	 lru;
	size_t			 n;
	size_t			 max;
	struct index_mark	 marks[PROXY_INDEX_MARKS];
	size_t			 mark_next;
};

static size_t
rkey(const char *gun, const uint8_t sha[32], int kind)
{
	uint64_t h = fnv(FNV_INIT, sha, 32);

	h = fnv(h, gun, strlen(gun));
	h = fnv(h, &kind, sizeof(kind));
	return (size_t)(h % REFS_BUCKETS);
}

struct refs *
refs_new(size_t max)
{
	struct refs *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->b = calloc(REFS_BUCKETS, sizeof(*r->b))) == NULL) {
		free(r);
		return NULL;
	}
	TAILQ_INIT(&r->lru);
	r->max = max;
	return r;
}

static void
rentry_drop(struct refs *r, struct rentry *e)
{
	struct rentry **pp = &r->b[rkey(e->gun, e->sha, e->kind)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	TAILQ_REMOVE(&r->lru, e, lru);
	r->n--;
	free(e->gun);
	free(e);
}

void
refs_free(struct refs *r)
{
	if (r == NULL)
		return;
	while (!TAILQ_EMPTY(&r->lru))
		rentry_drop(r, TAILQ_FIRST(&r->lru));
	free(r->b);
	free(r);
}

static struct rentry *
rfind(struct refs *r, const char *gun, const uint8_t sha[32], int kind)
{
	struct rentry *e;

	for (e = r->b[rkey(gun, sha, kind)]; e != NULL; e = e->next)
		if (e->kind == kind && memcmp(e->sha, sha, 32) == 0 &&
		    strcmp(e->gun, gun) == 0)
			return e;
	return NULL;
}

int
refs_has(struct refs *r, const char *gun, const uint8_t sha[32], int kind)
{
	struct rentry *e;

	if ((e = rfind(r, gun, sha, kind)) == NULL)
		return 0;
	TAILQ_REMOVE(&r->lru, e, lru);
	TAILQ_INSERT_TAIL(&r->lru, e, lru);
	return 1;
}

static void
refs_add(struct refs *r, const char *gun, const uint8_t sha[32], int kind)
{
	struct rentry	*e;
	size_t		 k;

	if (refs_has(r, gun, sha, kind))
		return;
	if (r->n >= r->max && !TAILQ_EMPTY(&r->lru))
		rentry_drop(r, TAILQ_FIRST(&r->lru));
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	if ((e->gun = strdup(gun)) == NULL) {
		free(e);
		return;
	}
	memcpy(e->sha, sha, 32);
	e->kind = kind;
	k = rkey(gun, sha, kind);
	e->next = r->b[k];
	r->b[k] = e;
	TAILQ_INSERT_TAIL(&r->lru, e, lru);
	r->n++;
}

int
refs_index_allowed(struct refs *r, const char *gun, time_t now)
{
	struct index_mark	*m;
	size_t			 i;

	for (i = 0; i < PROXY_INDEX_MARKS; i++) {
		m = &r->marks[i];
		if (strcmp(m->gun, gun) != 0)
			continue;
		/* a clock that went back does not hold indexing off */
		if (now - m->at < PROXY_INDEX_INTERVAL && now >= m->at)
			return 0;
		m->at = now;
		return 1;
	}
	m = &r->marks[r->mark_next++ % PROXY_INDEX_MARKS];
	snprintf(m->gun, sizeof(m->gun), "%s", gun);
	m->at = now;
	return 1;
}

/* Add the digest found at obj[key] (a descriptor's "digest"). */
static void
add_desc(struct refs *r, const char *gun, json_t *desc, const char *key, int kind,
    size_t *count, uint8_t (*children)[32], size_t max, size_t *nchildren)
{
	json_t	*d;
	uint8_t	 sha[32];

	if (!json_is_object(desc) || (d = json_object_get(desc, key)) == NULL ||
	    !json_is_string(d))
		return;
	if (digest_parse(json_string_value(d), sha) == -1)
		return;		/* other algorithms: never allowed through */
	if (++*count > PROXY_MAX_MANIFEST_REFS)
		return;
	refs_add(r, gun, sha, kind);
	if (kind == REF_CHILD && children != NULL && *nchildren < max)
		memcpy(children[(*nchildren)++], sha, 32);
}

int
refs_add_manifest(struct refs *r, const char *gun, const uint8_t *buf, size_t len,
    uint8_t (*children)[32], size_t max, size_t *nchildren)
{
	json_t		*root, *a, *v;
	json_error_t	 jerr;
	size_t		 i, count = 0;

	if (nchildren != NULL)
		*nchildren = 0;
	else
		children = NULL;
	if (len > PROXY_MAX_MANIFEST_LEN)
		return -1;
	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return -1;
	if (!json_is_object(root)) {
		json_decref(root);
		return -1;
	}
	/* manifest list / OCI index */
	if ((a = json_object_get(root, "manifests")) != NULL && json_is_array(a))
		for (i = 0; i < json_array_size(a); i++) {
			v = json_array_get(a, i);
			add_desc(r, gun, v, "digest", REF_CHILD, &count, children, max, nchildren);
		}
	/* image manifest: config and layers */
	add_desc(r, gun, json_object_get(root, "config"), "digest", REF_BLOB, &count,
	    NULL, 0, NULL);
	if ((a = json_object_get(root, "layers")) != NULL && json_is_array(a))
		for (i = 0; i < json_array_size(a); i++) {
			v = json_array_get(a, i);
			add_desc(r, gun, v, "digest", REF_BLOB, &count, NULL, 0, NULL);
		}
	/* schema 1 */
	if ((a = json_object_get(root, "fsLayers")) != NULL && json_is_array(a))
		for (i = 0; i < json_array_size(a); i++) {
			v = json_array_get(a, i);
			add_desc(r, gun, v, "blobSum", REF_BLOB, &count, NULL, 0, NULL);
		}
	json_decref(root);
	return 0;
}
