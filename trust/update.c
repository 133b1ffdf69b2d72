/*
 * The TUF update workflow as Notary's client performs it
 * (client/tufclient.go, tuf/builder.go; dct-semantics 5.6-5.9), written
 * as a state machine without I/O: trust_update_next() names the file to
 * fetch and its byte cap, trust_update_feed() delivers it.
 *
 *  1. root: the cached root if it still validates under the current pins
 *     (expired: it only vouches for its successor); else root.json.
 *  2. timestamp.json (1 MiB cap), signed by the root's timestamp role,
 *     version not below the trusted one, unexpired.
 *  3. snapshot.<sha256>.json, capped by and hashed against the timestamp;
 *     the trusted root must match the snapshot's root hashes.
 *  4. targets.<sha256>.json, likewise against the snapshot.
 *  5. delegations breadth-first, only those listed by a loaded parent and
 *     present in the snapshot; expired or under-threshold ones are
 *     skipped, any other failure is fatal.
 *  On any verification failure in 2-5 the root is updated (root.json, or
 *  root.<sha256>.json when the snapshot names it, walking <v>.root.json
 *  for rotations) and 2-5 are retried once; a second failure is final.
 *
 * Cached files whose hashes match what the parent signs are reused
 * instead of fetched. Versions in the cached state are floors; a file at
 * the same version as the trusted one must be byte-identical (stricter
 * than Notary: equal versions with other content mean a key signed two
 * histories).
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trust/tuf_int.h"

enum ustate {
	U_START,
	U_ROOT_GOT,		/* first bootstrap: root.json */
	U_TIMESTAMP,
	U_TIMESTAMP_GOT,
	U_SNAPSHOT,
	U_SNAPSHOT_GOT,
	U_TARGETS,
	U_TARGETS_GOT,
	U_DELEG,
	U_DELEG_GOT,
	U_ROOT_UPDATE,
	U_ROOT_UPDATE_GOT,
	U_ROOT_CHAIN,
	U_ROOT_CHAIN_GOT,
	U_DONE,
	U_FAILED,
};

/* A loaded delegation and the effective paths it may sign. */
struct dnode {
	struct ttargets	*t;
	char		**paths;
	size_t		  npaths;
	int		  restricted;	/* 0 only for "targets" */
	int		  depth;
};

/* A delegation waiting to be loaded: entry d of node parent. */
struct dpending {
	size_t	parent;
	size_t	d;
};

struct trust_update {
	char			 gun[TRUST_MAX_GUN_LEN + 1];
	const struct trust_pins	*pins;
	time_t			 now;
	int			 ignore_expiry;	/* a cache-only load that accepts expired data */
	struct trust_state	*cached;
	struct trust_state	*out;
	enum ustate		 st;

	struct troot		*root;		/* trusted root */
	struct troot		*newroot;	/* rotation target */
	int64_t			 chain_v;
	int			 rotations;
	int			 root_retried;	/* the one root update was used */
	int			 root_mismatch;	/* snapshot named another root */
	struct tfileinfo	 root_fi;

	struct tsnap		*ts, *snap;
	struct dnode		*nodes;		/* [0] is targets */
	size_t			 nnodes;
	struct dpending		*pend;
	size_t			 npend, pendhead;

	/* the fetch in flight and its answer */
	struct trust_fetch	 fetch;
	int			 asked;		/* request() named it: the caller fetches */
	int			 status;
	uint8_t			*body;
	size_t			 bodylen;
	int			 from_cache;	/* body is cached bytes, already matched */
	char			 detail[256];
	size_t			 nfetches;
	size_t			 nbytes;

	struct trust_error	 err;
	struct trust_repo	*repo;
};

static void
nodes_clear(struct trust_update *u)
{
	size_t i, j;

	for (i = 0; i < u->nnodes; i++) {
		ttargets_free(u->nodes[i].t);
		for (j = 0; j < u->nodes[i].npaths; j++)
			free(u->nodes[i].paths[j]);
		free(u->nodes[i].paths);
	}
	free(u->nodes);
	u->nodes = NULL;
	u->nnodes = 0;
	free(u->pend);
	u->pend = NULL;
	u->npend = u->pendhead = 0;
}

/* Forget everything below the root, before the retry after a root update. */
static void
reset_below_root(struct trust_update *u)
{
	tsnap_free(u->ts);
	tsnap_free(u->snap);
	u->ts = u->snap = NULL;
	nodes_clear(u);
}

/*
 * Metadata expiry at the update's clock, unless it is a cache-only load
 * told to accept expired data (tupdate_ignore_expiry).
 */
static int
unexpired(const struct trust_update *u, const struct tmeta *m, struct trust_error *err)
{
	return u->ignore_expiry ? 0 : tmeta_check_expiry(m, u->now, err);
}

void
tupdate_ignore_expiry(struct trust_update *u)
{
	u->ignore_expiry = 1;
}

struct trust_update *
trust_update_new(const char *gun, const struct trust_pins *pins,
    const struct trust_state *cached, time_t now)
{
	struct trust_update	*u;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	snprintf(u->gun, sizeof(u->gun), "%s", gun);
	u->pins = pins;
	u->now = now;
	if ((u->cached = trust_state_dup(cached)) == NULL ||
	    (u->out = trust_state_new()) == NULL)
		goto fail;
	if (strlen(gun) > TRUST_MAX_GUN_LEN || *gun == '\0') {
		trust_seterr(&u->err, TRUST_E_VALIDATION, "invalid GUN");
		u->st = U_FAILED;
	}
	return u;
 fail:
	trust_update_free(u);
	return NULL;
}

void
trust_update_free(struct trust_update *u)
{
	if (u == NULL)
		return;
	trust_state_free(u->cached);
	trust_state_free(u->out);
	troot_free(u->root);
	troot_free(u->newroot);
	reset_below_root(u);
	free(u->body);
	trust_repo_free(u->repo);
	free(u);
}

const struct trust_error *
trust_update_error(const struct trust_update *u)
{
	return &u->err;
}

struct trust_repo *
trust_update_take_repo(struct trust_update *u)
{
	struct trust_repo *r = u->repo;

	u->repo = NULL;
	return r;
}

const struct trust_state *
trust_update_state(const struct trust_update *u)
{
	return u->st == U_DONE ? u->out : NULL;
}

void
trust_update_feed(struct trust_update *u, int status, const uint8_t *body, size_t len,
    const char *detail)
{
	free(u->body);
	u->body = NULL;
	u->bodylen = 0;
	u->from_cache = 0;
	u->status = status;
	snprintf(u->detail, sizeof(u->detail), "%s", detail ? detail : "");
	if (status == 200 && len > u->fetch.max_len)
		u->status = TRUST_FETCH_TOOBIG;		/* the fetcher must not, but */
	else if (status == 200) {
		if ((u->body = malloc(len ? len : 1)) == NULL) {
			u->status = TRUST_FETCH_NETERR;
			snprintf(u->detail, sizeof(u->detail), "out of memory");
			return;
		}
		memcpy(u->body, body, len);
		u->bodylen = len;
		u->nbytes += len;
	}
}

/* ---- helpers ------------------------------------------------------- */

/* End the update; u->err says why. */
static enum trust_step
stop(struct trust_update *u)
{
	u->st = U_FAILED;
	return TRUST_STEP_FAILED;
}

static enum trust_step
request(struct trust_update *u, enum ustate next, const char *role, size_t max_len,
    const char *path)
{
	if (++u->nfetches > TRUST_MAX_FETCHES || u->nbytes > TRUST_MAX_UPDATE_BYTES) {
		trust_seterr(&u->err, TRUST_E_BAD_RESPONSE, "trust server returned a bad "
		    "response: update of %s needs more than %d files or %d bytes",
		    u->gun, TRUST_MAX_FETCHES, TRUST_MAX_UPDATE_BYTES);
		return stop(u);
	}
	snprintf(u->fetch.path, sizeof(u->fetch.path), "%s", path);
	snprintf(u->fetch.role, sizeof(u->fetch.role), "%s", role);
	u->fetch.max_len = max_len;
	u->status = 0;
	u->asked = 1;
	u->st = next;
	return TRUST_STEP_FETCH;
}

static size_t
cap_for(const struct tfileinfo *fi, size_t hard)
{
	return fi->length >= 0 && (uint64_t)fi->length < hard ? (size_t)fi->length : hard;
}

/* Turn the answer to the last fetch into an error, or 0 for a 200. */
static int
answer(struct trust_update *u)
{
	switch (u->status) {
	case 200:
		return 0;
	case TRUST_FETCH_NETERR:
		return trust_seterr(&u->err, TRUST_E_UNAVAILABLE, "unable to reach trust "
		    "server: %s", u->detail);
	case TRUST_FETCH_TOOBIG:
		return trust_seterr(&u->err, TRUST_E_BAD_RESPONSE, "trust server returned "
		    "a bad response: %s is larger than %zu bytes", u->fetch.path,
		    u->fetch.max_len);
	case 404:
		if (strcmp(u->fetch.role, "root") == 0 && u->root == NULL)
			return trust_seterr(&u->err, TRUST_E_NOT_FOUND, "trust server "
			    "does not have trust data for %s", u->gun);
		return trust_seterr(&u->err, TRUST_E_NOT_FOUND, "%s trust data "
		    "unavailable.  Has a notary repository been initialized?",
		    u->fetch.role);
	case 401:
		return trust_seterr(&u->err, TRUST_E_UNAVAILABLE, "you are not authorized "
		    "to perform this operation: server returned 401.");
	default:
		return trust_seterr(&u->err, TRUST_E_UNAVAILABLE, "unable to reach trust "
		    "server at this time: %d.", u->status);
	}
}

static int64_t
floor_of(const struct trust_update *u, const char *role)
{
	const uint8_t	*b;
	size_t		 len;
	int64_t		 v;

	if ((b = trust_state_get(u->cached, role, &len)) == NULL)
		return 0;
	v = tmeta_peek_version(b, len);
	return v < 0 ? 0 : v;
}

/*
 * Rollback rules: never below the trusted version; equal means identical.
 * The trusted bytes themselves (a reused cached file) pass without being
 * parsed again; no trusted file is floor 0, which every version passes.
 */
static int
check_version(struct trust_update *u, const struct tmeta *m)
{
	const uint8_t	*b;
	size_t		 len;
	int64_t		 fl;

	if ((b = trust_state_get(u->cached, m->role, &len)) == NULL ||
	    (len == m->rawlen && memcmp(b, m->raw, len) == 0))
		return 0;
	fl = floor_of(u, m->role);
	if (m->version < fl)
		return trust_seterr(&u->err, TRUST_E_LOW_VERSION, "%s version %lld is "
		    "lower than current version %lld", m->role, (long long)m->version,
		    (long long)fl);
	if (m->version == fl)
		return trust_seterr(&u->err, TRUST_E_LOW_VERSION, "%s version %lld was "
		    "already trusted with different content", m->role,
		    (long long)m->version);
	return 0;
}

/* Cached bytes of role if they match the hashes the parent signs. */
static const uint8_t *
cached_match(struct trust_update *u, const struct tfileinfo *fi, size_t *lenp)
{
	const uint8_t *b;

	if ((b = trust_state_get(u->cached, fi->role, lenp)) == NULL)
		return NULL;
	return tfileinfo_check(fi, b, *lenp, NULL) == 0 ? b : NULL;
}

/* Answer the next step from cached bytes, as if they had been fetched. */
static enum trust_step
use_cached(struct trust_update *u, enum ustate next, const char *role,
    const uint8_t *b, size_t len)
{
	snprintf(u->fetch.path, sizeof(u->fetch.path), "(cached %s)", role);
	snprintf(u->fetch.role, sizeof(u->fetch.role), "%s", role);
	u->fetch.max_len = len;
	trust_update_feed(u, 200, b, len, NULL);
	u->nbytes -= len;	/* not downloaded */
	u->from_cache = u->status == 200;
	u->st = next;
	return TRUST_STEP_FETCH;
}

/* The bytes of the last answer against the hashes the parent lists. */
static int
listed_ok(struct trust_update *u, const struct tfileinfo *fi)
{
	if (u->from_cache)
		return 0;	/* cached_match() checked them against fi */
	return tfileinfo_check(fi, u->body, u->bodylen, &u->err);
}

/*
 * The file a parent lists (fi): from the cache when its bytes match the
 * parent's hashes, else "<role>.<sha256>.json" capped by the listed length.
 */
static enum trust_step
fetch_listed(struct trust_update *u, enum ustate next, const char *role,
    const struct tfileinfo *fi)
{
	const uint8_t	*b;
	char		 hex[65], path[TRUST_MAX_PATH];
	size_t		 len;

	if ((b = cached_match(u, fi, &len)) != NULL)
		return use_cached(u, next, role, b, len);
	thex(fi->sha256, 32, hex);
	snprintf(path, sizeof(path), "%s.%s.json", role, hex);
	return request(u, next, role, cap_for(fi, TRUST_MAX_METADATA_LEN), path);
}

/*
 * A failure after the root was trusted: update the root and retry once
 * (tufclient.go:26-56), unless the failure is one a new root cannot cure.
 */
static enum trust_step
failed(struct trust_update *u)
{
	enum trust_code c = u->err.code;

	if (!u->root_retried && c != TRUST_E_UNAVAILABLE && c != TRUST_E_INTERNAL &&
	    c != TRUST_E_BAD_RESPONSE && u->root != NULL) {
		u->root_retried = 1;
		reset_below_root(u);
		u->st = U_ROOT_UPDATE;
		return TRUST_STEP_FETCH;	/* caller loops */
	}
	return stop(u);
}

/* Adopt r as the trusted root. */
static void
trust_root(struct trust_update *u, struct troot *r)
{
	troot_free(u->root);
	u->root = r;
}

/* ---- states -------------------------------------------------------- */

static enum trust_step
st_start(struct trust_update *u)
{
	struct troot	*r = NULL;
	struct trust_error e;
	const uint8_t	*b;
	size_t		 len;

	if ((b = trust_state_get(u->cached, "root", &len)) != NULL &&
	    troot_parse(b, len, &r, &e) == 0 &&
	    troot_validate(r, NULL, u->gun, u->pins, 0, u->now, 0, &e) == 0) {
		trust_root(u, r);
		/* expired: it may only vouch for its successor (tufclient.go:357) */
		u->st = unexpired(u, &r->m, NULL) == 0 ? U_TIMESTAMP :
		    U_ROOT_UPDATE;
		if (u->st == U_ROOT_UPDATE)
			u->root_retried = 1;
		return TRUST_STEP_FETCH;
	}
	/* none, or it no longer passes the pins: bootstrap from the server */
	troot_free(r);
	return request(u, U_ROOT_GOT, "root", TRUST_MAX_ROOT_LEN, "root.json");
}

static enum trust_step
st_root_got(struct trust_update *u)
{
	struct troot	*r = NULL;
	int64_t		 fl = floor_of(u, "root");

	if (answer(u) == -1 || troot_parse(u->body, u->bodylen, &r, &u->err) == -1 ||
	    troot_validate(r, NULL, u->gun, u->pins, 1, u->now, 1, &u->err) == -1)
		goto fail;
	if (r->m.version < fl) {
		trust_seterr(&u->err, TRUST_E_LOW_VERSION, "root version %lld is lower "
		    "than current version %lld", (long long)r->m.version, (long long)fl);
		goto fail;
	}
	trust_root(u, r);
	u->st = U_TIMESTAMP;
	return TRUST_STEP_FETCH;
 fail:
	troot_free(r);
	return stop(u);
}

static enum trust_step
st_timestamp_got(struct trust_update *u)
{
	if (answer(u) == -1 ||
	    tsnap_parse("timestamp", u->body, u->bodylen, &u->ts, &u->err) == -1 ||
	    tmeta_verify(&u->ts->m, troot_role(u->root, TROLE_TIMESTAMP), u->root->keys,
	    u->root->nkeys, &u->err) == -1 || check_version(u, &u->ts->m) == -1 ||
	    unexpired(u, &u->ts->m, &u->err) == -1)
		return failed(u);
	u->st = U_SNAPSHOT;
	return TRUST_STEP_FETCH;
}

static enum trust_step
st_snapshot(struct trust_update *u)
{
	return fetch_listed(u, U_SNAPSHOT_GOT, "snapshot", tsnap_find(u->ts, "snapshot"));
}

static enum trust_step
st_snapshot_got(struct trust_update *u)
{
	const struct tfileinfo *rfi;

	if (answer(u) == -1 || listed_ok(u, tsnap_find(u->ts, "snapshot")) == -1 ||
	    tsnap_parse("snapshot", u->body, u->bodylen, &u->snap, &u->err) == -1 ||
	    tmeta_verify(&u->snap->m, troot_role(u->root, TROLE_SNAPSHOT), u->root->keys,
	    u->root->nkeys, &u->err) == -1 || check_version(u, &u->snap->m) == -1 ||
	    unexpired(u, &u->snap->m, &u->err) == -1)
		return failed(u);
	/* the trusted root must be the one the snapshot signs (builder.go:530) */
	rfi = tsnap_find(u->snap, "root");
	if (tfileinfo_check(rfi, u->root->m.raw, u->root->m.rawlen, &u->err) == -1) {
		u->root_mismatch = 1;
		u->root_fi = *rfi;
		trust_seterr(&u->err, TRUST_E_CHECKSUM, "root: the snapshot signs a "
		    "different root than the trusted version %lld",
		    (long long)u->root->m.version);
		return failed(u);
	}
	u->st = U_TARGETS;
	return TRUST_STEP_FETCH;
}

static enum trust_step
st_targets(struct trust_update *u)
{
	return fetch_listed(u, U_TARGETS_GOT, "targets", tsnap_find(u->snap, "targets"));
}

static int
push_children(struct trust_update *u, size_t parent)
{
	struct dpending	*np;
	size_t		 i, n = u->nodes[parent].t->ndelegs;

	if (n == 0)
		return 0;
	if (u->npend + n > TRUST_MAX_DELEGATIONS)
		return trust_seterr(&u->err, TRUST_E_PARSE, "%s: more than %d "
		    "delegations", u->gun, TRUST_MAX_DELEGATIONS);
	if ((np = reallocarray(u->pend, u->npend + n, sizeof(*np))) == NULL)
		return trust_seterr(&u->err, TRUST_E_INTERNAL, "out of memory");
	u->pend = np;
	for (i = 0; i < n; i++) {
		u->pend[u->npend].parent = parent;
		u->pend[u->npend].d = i;
		u->npend++;
	}
	return 0;
}

/* Add a loaded role with its effective paths (child paths within the parent's). */
static int
add_node(struct trust_update *u, struct ttargets *t, ssize_t pidx,
    const struct trole *d)
{
	const struct dnode	*parent;
	struct dnode		*nn, *n;
	size_t			 i, j;
	int			 ok;

	if ((nn = reallocarray(u->nodes, u->nnodes + 1, sizeof(*nn))) == NULL)
		return trust_seterr(&u->err, TRUST_E_INTERNAL, "out of memory");
	u->nodes = nn;	/* pointers into the old array are gone: index only */
	n = &u->nodes[u->nnodes];
	memset(n, 0, sizeof(*n));
	n->t = t;
	u->nnodes++;
	if (pidx < 0)
		return 0;
	parent = &u->nodes[pidx];
	n->restricted = 1;
	n->depth = parent->depth + 1;
	if ((n->paths = calloc(d->npaths + 1, sizeof(*n->paths))) == NULL)
		return trust_seterr(&u->err, TRUST_E_INTERNAL, "out of memory");
	for (i = 0; i < d->npaths; i++) {
		/* notary RestrictChild: keep a child path only within a parent path */
		ok = !parent->restricted;
		for (j = 0; !ok && j < parent->npaths; j++)
			ok = strncmp(d->paths[i], parent->paths[j],
			    strlen(parent->paths[j])) == 0;
		if (ok && (n->paths[n->npaths++] = strdup(d->paths[i])) == NULL)
			return trust_seterr(&u->err, TRUST_E_INTERNAL, "out of memory");
	}
	return 0;
}

static enum trust_step
st_targets_got(struct trust_update *u)
{
	struct ttargets *t = NULL;

	if (answer(u) == -1 || listed_ok(u, tsnap_find(u->snap, "targets")) == -1 ||
	    ttargets_parse("targets", u->body, u->bodylen, &t, &u->err) == -1 ||
	    tmeta_verify(&t->m, troot_role(u->root, TROLE_TARGETS), u->root->keys,
	    u->root->nkeys, &u->err) == -1 || check_version(u, &t->m) == -1 ||
	    unexpired(u, &t->m, &u->err) == -1)
		goto fail;
	if (add_node(u, t, -1, NULL) == -1) {
		ttargets_free(t);
		goto fail;
	}
	if (push_children(u, 0) == -1)
		goto fail;
	u->st = U_DELEG;
	return TRUST_STEP_FETCH;
 fail:
	if (u->nnodes == 0)
		ttargets_free(t);
	return failed(u);
}

static const struct trole *
pending_role(const struct trust_update *u, const struct dpending *p)
{
	return &u->nodes[p->parent].t->delegs[p->d];
}

static enum trust_step
st_deleg(struct trust_update *u)
{
	const struct dpending	*p;
	const struct trole	*d;
	const struct tfileinfo	*fi;

	for (;;) {
		if (u->pendhead == u->npend) {
			u->st = U_DONE;
			return TRUST_STEP_FETCH;
		}
		p = &u->pend[u->pendhead];
		d = pending_role(u, p);
		/* only roles the snapshot lists are fetched (tufclient.go:213-243) */
		if ((fi = tsnap_find(u->snap, d->name)) != NULL)
			break;
		u->pendhead++;
	}
	if (u->nodes[p->parent].depth + 1 > TRUST_MAX_DELEGATION_DEPTH) {
		trust_seterr(&u->err, TRUST_E_PARSE, "%s: delegations nested deeper than %d",
		    d->name, TRUST_MAX_DELEGATION_DEPTH);
		return failed(u);
	}
	return fetch_listed(u, U_DELEG_GOT, d->name, fi);
}

static enum trust_step
st_deleg_got(struct trust_update *u)
{
	const struct dpending	*p = &u->pend[u->pendhead];
	const struct trole	*d = pending_role(u, p);
	const struct dnode	*parent = &u->nodes[p->parent];
	struct ttargets		*t = NULL;
	struct trust_error	 e;

	if (answer(u) == -1 || listed_ok(u, tsnap_find(u->snap, d->name)) == -1 ||
	    ttargets_parse(d->name, u->body, u->bodylen, &t, &u->err) == -1)
		goto fatal;
	/* expired or under-threshold delegations are skipped (tufclient.go:229) */
	if (tmeta_verify(&t->m, d, parent->t->keys, parent->t->nkeys, &e) == -1 ||
	    unexpired(u, &t->m, &e) == -1) {
		if (e.code != TRUST_E_THRESHOLD && e.code != TRUST_E_EXPIRED) {
			u->err = e;
			goto fatal;
		}
		ttargets_free(t);
		u->pendhead++;
		u->st = U_DELEG;
		return TRUST_STEP_FETCH;
	}
	if (check_version(u, &t->m) == -1)
		goto fatal;
	if (add_node(u, t, (ssize_t)p->parent, d) == -1) {
		if (u->nnodes == 0 || u->nodes[u->nnodes - 1].t != t)
			ttargets_free(t);
		return failed(u);
	}
	u->pendhead++;
	if (push_children(u, u->nnodes - 1) == -1)
		return failed(u);
	u->st = U_DELEG;
	return TRUST_STEP_FETCH;
 fatal:
	ttargets_free(t);
	return failed(u);
}

static enum trust_step
st_root_update(struct trust_update *u)
{
	char hex[65], path[TRUST_MAX_PATH];

	if (u->root_mismatch) {
		thex(u->root_fi.sha256, 32, hex);
		snprintf(path, sizeof(path), "root.%s.json", hex);
		return request(u, U_ROOT_UPDATE_GOT, "root",
		    cap_for(&u->root_fi, TRUST_MAX_ROOT_LEN), path);
	}
	return request(u, U_ROOT_UPDATE_GOT, "root", TRUST_MAX_ROOT_LEN, "root.json");
}

static enum trust_step
st_root_update_got(struct trust_update *u)
{
	struct troot		*r = NULL;
	struct trust_error	 e;
	int64_t			 fl = floor_of(u, "root");

	u->root_mismatch = 0;
	if (fl < u->root->m.version)
		fl = u->root->m.version;
	if (answer(u) == -1 || troot_parse(u->body, u->bodylen, &r, &u->err) == -1)
		goto fail;
	if (r->m.version < fl) {
		trust_seterr(&u->err, TRUST_E_LOW_VERSION, "root version %lld is lower "
		    "than current version %lld", (long long)r->m.version, (long long)fl);
		goto fail;
	}
	if (r->m.rawlen == u->root->m.rawlen &&
	    memcmp(r->m.raw, u->root->m.raw, r->m.rawlen) == 0) {
		/* no new root: retry below it, with an unexpired root only */
		troot_free(r);
		if (unexpired(u, &u->root->m, &u->err) == -1)
			return stop(u);
		u->st = U_TIMESTAMP;
		return TRUST_STEP_FETCH;
	}
	if (troot_validate(r, u->root, u->gun, u->pins, 0, u->now, 1, &e) == 0) {
		trust_root(u, r);
		u->st = U_TIMESTAMP;
		return TRUST_STEP_FETCH;
	}
	if (e.code != TRUST_E_ROTATION || r->m.version <= u->root->m.version + 1) {
		u->err = e;
		goto fail;
	}
	/* not signed by our root: walk <v>.root.json up to it */
	troot_free(u->newroot);
	u->newroot = r;
	u->chain_v = u->root->m.version + 1;
	u->st = U_ROOT_CHAIN;
	return TRUST_STEP_FETCH;
 fail:
	troot_free(r);
	return stop(u);
}

static enum trust_step
st_root_chain(struct trust_update *u)
{
	char v[32];

	if (u->chain_v == u->newroot->m.version) {
		struct troot *r = u->newroot;

		u->newroot = NULL;
		if (troot_validate(r, u->root, u->gun, u->pins, 0, u->now, 1,
		    &u->err) == -1) {
			troot_free(r);
			return stop(u);
		}
		trust_root(u, r);
		u->st = U_TIMESTAMP;
		return TRUST_STEP_FETCH;
	}
	if (++u->rotations > TRUST_MAX_ROOT_ROTATIONS) {
		trust_seterr(&u->err, TRUST_E_ROTATION, "root rotation failed: more than "
		    "%d intermediate roots", TRUST_MAX_ROOT_ROTATIONS);
		return stop(u);
	}
	snprintf(v, sizeof(v), "%lld.root.json", (long long)u->chain_v);
	return request(u, U_ROOT_CHAIN_GOT, "root", TRUST_MAX_ROOT_LEN, v);
}

static enum trust_step
st_root_chain_got(struct trust_update *u)
{
	struct troot *r = NULL;

	if (answer(u) == -1 || troot_parse(u->body, u->bodylen, &r, &u->err) == -1)
		goto fail;
	if (r->m.version != u->chain_v) {
		trust_seterr(&u->err, TRUST_E_ROTATION, "root rotation failed: "
		    "%lld.root.json has version %lld", (long long)u->chain_v,
		    (long long)r->m.version);
		goto fail;
	}
	/* intermediate roots: continuity only, expiry ignored (tufclient.go:140) */
	if (troot_validate(r, u->root, u->gun, NULL, 0, u->now, 0, &u->err) == -1)
		goto fail;
	trust_root(u, r);
	u->chain_v++;
	u->st = U_ROOT_CHAIN;
	return TRUST_STEP_FETCH;
 fail:
	troot_free(r);
	return stop(u);
}

static enum trust_step
st_done(struct trust_update *u)
{
	time_t	 exp;
	size_t	 i;
	int	 ok;

	exp = u->root->m.expires;
	if (u->ts->m.expires < exp)
		exp = u->ts->m.expires;
	if (u->snap->m.expires < exp)
		exp = u->snap->m.expires;
	for (i = 0; i < u->nnodes; i++)
		if (u->nodes[i].t->m.expires < exp)
			exp = u->nodes[i].t->m.expires;
	if ((u->repo = trepo_new(exp)) == NULL)
		goto oom;
	ok = trust_state_set(u->out, "root", u->root->m.raw, u->root->m.rawlen) == 0 &&
	    trust_state_set(u->out, "timestamp", u->ts->m.raw, u->ts->m.rawlen) == 0 &&
	    trust_state_set(u->out, "snapshot", u->snap->m.raw, u->snap->m.rawlen) == 0;
	for (i = 0; ok && i < u->nnodes; i++)
		ok = trepo_add_role(u->repo, u->nodes[i].t, u->nodes[i].paths,
		    u->nodes[i].npaths, u->nodes[i].restricted) == 0 &&
		    trust_state_set(u->out, u->nodes[i].t->m.role, u->nodes[i].t->m.raw,
		    u->nodes[i].t->m.rawlen) == 0;
	if (!ok || trepo_finish(u->repo) == -1)
		goto oom;
	return TRUST_STEP_DONE;
 oom:
	trust_repo_free(u->repo);
	u->repo = NULL;
	trust_seterr(&u->err, TRUST_E_INTERNAL, "out of memory");
	return stop(u);
}

enum trust_step
trust_update_next(struct trust_update *u, struct trust_fetch *f)
{
	enum trust_step	s = TRUST_STEP_FETCH;

	/* run states until one asks for a fetch or the update ends */
	for (;;) {
		switch (u->st) {
		case U_START:		s = st_start(u); break;
		case U_ROOT_GOT:	s = st_root_got(u); break;
		case U_TIMESTAMP:
			s = request(u, U_TIMESTAMP_GOT, "timestamp",
			    TRUST_MAX_TIMESTAMP_LEN, "timestamp.json");
			break;
		case U_TIMESTAMP_GOT:	s = st_timestamp_got(u); break;
		case U_SNAPSHOT:	s = st_snapshot(u); break;
		case U_SNAPSHOT_GOT:	s = st_snapshot_got(u); break;
		case U_TARGETS:		s = st_targets(u); break;
		case U_TARGETS_GOT:	s = st_targets_got(u); break;
		case U_DELEG:		s = st_deleg(u); break;
		case U_DELEG_GOT:	s = st_deleg_got(u); break;
		case U_ROOT_UPDATE:	s = st_root_update(u); break;
		case U_ROOT_UPDATE_GOT:	s = st_root_update_got(u); break;
		case U_ROOT_CHAIN:	s = st_root_chain(u); break;
		case U_ROOT_CHAIN_GOT:	s = st_root_chain_got(u); break;
		case U_DONE:		return u->repo != NULL ? TRUST_STEP_DONE : st_done(u);
		case U_FAILED:		return TRUST_STEP_FAILED;
		}
		if (s == TRUST_STEP_FAILED)
			return s;
		/* a state that issued a request waits for trust_update_feed() */
		if (u->asked) {
			u->asked = 0;
			*f = u->fetch;
			return TRUST_STEP_FETCH;
		}
	}
}
