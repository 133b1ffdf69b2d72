/*
 * notary: verified trust data per GUN on the event loop.
 *
 * Drives trust/'s update state machine with fetch_get() against a Notary
 * server, persists the new trusted state (trust_store_save) and caches the
 * verified repository in memory. A cached result is reused until the
 * freshness interval or the earliest metadata expiry, whichever comes
 * first; concurrent requests for the same GUN, server and pins share one
 * update. When the server cannot be reached, Notary's cache-only load
 * (dct-semantics 1.6, tufclient.go:162-198): the result last verified here
 * stands while unexpired; without one (a restart during an outage) the
 * persisted state is verified alone. Past expiry, cached data serves only
 * requests whose policy sets allow-expired-cached-trust-data. Every such
 * answer carries a note saying so, and the observer hears of it.
 *
 * An observer (notary_set_observer; the server's metrics) hears of every
 * metadata request and every failure, with the server's URL.
 *
 * Lifetime: free the fetch_ctx (which cancels pending requests without
 * calling back) before notary_free(). State files are read and written on
 * the loop; they are a few KiB per GUN.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_int.h"

#define NOTARY_MAX_ENTRIES	4096	/* GUNs cached at once */
#define NOTARY_MAX_WAITERS	1024	/* requests waiting on one update */

struct waiter {
	notary_cb		 cb;
	void			*arg;
	int			 allow_expired;	/* this request's policy */
	TAILQ_ENTRY(waiter)	 entry;
};

struct entry {
	char			*gun;		/* the key: GUN, server, pins' key */
	char			*url;
	char			*pins_key;
	/* the server's settings, taken again when an update starts */
	char			*ca_file;
	char			*username;
	char			*password;
	long			 connect_timeout_ms;
	long			 timeout_ms;
	struct trust_repo	*repo;		/* last verified result, or NULL */
	time_t			 fetched;	/* ... on the callers' clock */
	time_t			 now;		/* the clock of the update in flight */
	struct trust_update	*u;		/* update in flight */
	struct trust_state	*cached;	/* ... the persisted state it started from */
	const struct trust_pins	*pins;		/* ... its pins (the first caller's) */
	int			 fetch_failed;	/* the update in flight reported a fetch failure */
	size_t			 nwaiters;
	TAILQ_HEAD(waiterhead, waiter) waiters;
	TAILQ_ENTRY(entry)	 lru;
	struct notary		*n;
};

struct notary {
	struct fetch_ctx	*fetch;
	char			*state_dir;
	time_t			 freshness;
	TAILQ_HEAD(entryhead, entry) entries;	/* most recently used first */
	size_t			 nentries;
	notary_observer		 observer;	/* may be NULL */
	void			*observer_arg;
};

static void	step(struct entry *);

struct notary *
notary_new(struct fetch_ctx *fetch, const char *state_dir, time_t freshness)
{
	struct notary *n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->fetch = fetch;
	n->freshness = freshness;
	TAILQ_INIT(&n->entries);
	if (state_dir != NULL && (n->state_dir = strdup(state_dir)) == NULL) {
		free(n);
		return NULL;
	}
	return n;
}

void
notary_set_freshness(struct notary *n, time_t freshness)
{
	n->freshness = freshness;
}

void
notary_set_observer(struct notary *n, notary_observer cb, void *arg)
{
	n->observer = cb;
	n->observer_arg = arg;
}

static void
report(struct entry *e, enum notary_event ev)
{
	if (ev == NOTARY_FETCH_FAILED)
		e->fetch_failed = 1;
	if (e->n->observer != NULL)
		e->n->observer(e->n->observer_arg, e->url, ev);
}

static void
entry_free(struct entry *e)
{
	struct waiter *w;

	while ((w = TAILQ_FIRST(&e->waiters)) != NULL) {
		TAILQ_REMOVE(&e->waiters, w, entry);
		free(w);
	}
	trust_update_free(e->u);
	trust_state_free(e->cached);
	trust_repo_free(e->repo);
	free(e->gun);
	free(e->url);
	free(e->pins_key);
	free(e->ca_file);
	free(e->username);
	if (e->password != NULL)
		explicit_bzero(e->password, strlen(e->password));
	free(e->password);
	free(e);
}

void
notary_free(struct notary *n)
{
	struct entry *e;

	if (n == NULL)
		return;
	while ((e = TAILQ_FIRST(&n->entries)) != NULL) {
		TAILQ_REMOVE(&n->entries, e, lru);
		entry_free(e);
	}
	free(n->state_dir);
	free(n);
}

/*
 * The entry of (GUN, server, pins), made if need be. The pins' key was
 * computed when the pins were made (config_pins_key), so a policy change
 * never reuses a result and no request hashes anything.
 */
static struct entry *
entry_get(struct notary *n, const struct notary_server *srv, const char *gun,
    const struct trust_pins *pins)
{
	struct entry	*e;

	TAILQ_FOREACH(e, &n->entries, lru)
		if (strcmp(e->gun, gun) == 0 && strcmp(e->url, srv->url) == 0 &&
		    strcmp(e->pins_key, pins->key) == 0) {
			TAILQ_REMOVE(&n->entries, e, lru);
			TAILQ_INSERT_HEAD(&n->entries, e, lru);
			return e;
		}
	/* evict the least recently used idle entry when full */
	if (n->nentries >= NOTARY_MAX_ENTRIES) {
		struct entry *victim = NULL;

		TAILQ_FOREACH(e, &n->entries, lru)
			if (e->u == NULL)
				victim = e;	/* the last idle one is the least recent */
		if (victim != NULL) {
			TAILQ_REMOVE(&n->entries, victim, lru);
			entry_free(victim);
			n->nentries--;
		}
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	TAILQ_INIT(&e->waiters);
	e->n = n;
	if ((e->gun = strdup(gun)) == NULL || (e->url = strdup(srv->url)) == NULL ||
	    (e->pins_key = strdup(pins->key)) == NULL) {
		entry_free(e);
		return NULL;
	}
	TAILQ_INSERT_HEAD(&n->entries, e, lru);
	n->nentries++;
	return e;
}

/*
 * Take srv's CA, credentials and timeouts for the update about to start:
 * a reload may have changed them since the entry was made. Returns 0, or
 * -1 on out of memory (e unchanged).
 */
static int
entry_settings(struct entry *e, const struct notary_server *srv)
{
	char *ca = NULL, *user = NULL, *pass = NULL;

	if ((srv->ca_file != NULL && (ca = strdup(srv->ca_file)) == NULL) ||
	    (srv->username != NULL && (user = strdup(srv->username)) == NULL) ||
	    (srv->password != NULL && (pass = strdup(srv->password)) == NULL)) {
		free(ca);
		free(user);
		free(pass);
		return -1;
	}
	free(e->ca_file);
	free(e->username);
	if (e->password != NULL)
		explicit_bzero(e->password, strlen(e->password));
	free(e->password);
	e->ca_file = ca;
	e->username = user;
	e->password = pass;
	e->timeout_ms = srv->timeout_ms > 0 ? srv->timeout_ms : 30000;
	e->connect_timeout_ms = srv->connect_timeout_ms > 0 ? srv->connect_timeout_ms :
	    e->timeout_ms < 10000 ? e->timeout_ms : 10000;
	return 0;
}

static int
fresh(const struct entry *e, time_t now)
{
	return e->repo != NULL && now <= trust_repo_expires(e->repo) &&
	    now < e->fetched + e->n->freshness;
}

/*
 * Deliver an outcome to every waiter: repo (with note) if not NULL; else
 * expired (with expired_note) to those whose policy allows expired cached
 * data; else err. Callbacks may start new requests.
 */
static void
finish_with(struct entry *e, const struct trust_repo *repo, const char *note,
    const struct trust_repo *expired, const char *expired_note,
    const struct trust_error *err)
{
	struct waiterhead	 ws;
	struct waiter		*w;

	TAILQ_INIT(&ws);
	TAILQ_CONCAT(&ws, &e->waiters, entry);
	e->nwaiters = 0;
	while ((w = TAILQ_FIRST(&ws)) != NULL) {
		TAILQ_REMOVE(&ws, w, entry);
		if (repo != NULL)
			w->cb(repo, NULL, note, w->arg);
		else if (expired != NULL && w->allow_expired)
			w->cb(expired, NULL, expired_note, w->arg);
		else
			w->cb(NULL, err, NULL, w->arg);
		free(w);
	}
}

/* The same outcome for every waiter. */
static void
finish(struct entry *e, const struct trust_repo *repo, const struct trust_error *err)
{
	finish_with(e, repo, NULL, NULL, NULL, err);
}

/* Does a waiter's policy allow expired cached data? */
static int
any_allows_expired(const struct entry *e)
{
	const struct waiter *w;

	TAILQ_FOREACH(w, &e->waiters, entry)
		if (w->allow_expired)
			return 1;
	return 0;
}

static void
on_fetched(const struct fetch_result *r, void *arg)
{
	struct entry *e = arg;

	if (r->status <= 0 || ((r->status < 200 || r->status > 299) && r->status != 404))
		report(e, NOTARY_FETCH_FAILED);
	trust_update_feed(e->u, r->status, r->body, r->len, r->error);
	step(e);
}

static void
done(struct entry *e)
{
	const struct trust_state	*st = trust_update_state(e->u);
	struct trust_repo		*repo = trust_update_take_repo(e->u);
	struct trust_error		 err;

	trust_state_free(e->cached);
	e->cached = NULL;
	if (e->n->state_dir != NULL && st != NULL &&
	    trust_store_save(e->n->state_dir, e->gun, st, &err) == -1) {
		/* rollback protection would be lost: refuse rather than serve */
		trust_repo_free(repo);
		trust_update_free(e->u);
		e->u = NULL;
		finish(e, NULL, &err);
		return;
	}
	trust_update_free(e->u);
	e->u = NULL;
	trust_repo_free(e->repo);
	e->repo = repo;
	e->fetched = e->now;
	finish(e, e->repo, NULL);
}

/*
 * The server could not be reached (err: TRUST_E_UNAVAILABLE): the
 * cache-only load. The result last verified here if unexpired; without
 * one, the persisted state (cached) verified alone at the update's clock,
 * kept as the entry's result (not fresh: the next request asks the server
 * again). Data past its expiry goes only to waiters that allow it (the
 * state verified again ignoring expiry). The rest are refused with err,
 * which then says why the cache could not serve.
 */
static void
fallback(struct entry *e, struct trust_error *err, const struct trust_state *cached)
{
	struct trust_repo	*disk = NULL, *stale = NULL;
	const struct trust_repo	*ok = NULL, *expired = NULL;
	struct trust_error	 cerr, ignored;
	char			 note[TRUST_ERRMSG_LEN + 64], enote[2 * TRUST_ERRMSG_LEN + 128];
	char			 why[TRUST_ERRMSG_LEN], when[32];
	time_t			 exp;
	struct tm		 tm;

	memset(&cerr, 0, sizeof(cerr));
	if (e->repo != NULL) {
		exp = trust_repo_expires(e->repo);
		if (e->now <= exp)
			ok = e->repo;
		else {
			expired = e->repo;
			if (gmtime_r(&exp, &tm) == NULL ||
			    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
				snprintf(when, sizeof(when), "%lld", (long long)exp);
			trust_seterr(&cerr, TRUST_E_EXPIRED, "the trust data last verified "
			    "expired at %s", when);
		}
	} else if (trust_verify_cached(e->gun, e->pins, cached, e->now, 0, &disk, &cerr) == 0) {
		ok = e->repo = disk;
	} else if (cerr.code == TRUST_E_EXPIRED && any_allows_expired(e) &&
	    trust_verify_cached(e->gun, e->pins, cached, e->now, 1, &stale, &ignored) == 0)
		expired = stale;
	snprintf(note, sizeof(note), "trust server unreachable (%s): answered from "
	    "cached trust data", err->msg);
	snprintf(enote, sizeof(enote), "trust server unreachable (%s): answered from "
	    "cached trust data past its expiry (%s), as allow-expired-cached-trust-data "
	    "permits", err->msg, cerr.msg);
	if (ok == NULL) {
		memcpy(why, err->msg, sizeof(why));
		/* with expired data at hand, err goes only to waiters that do not allow it */
		trust_seterr(err, err->code, "%s; cached trust data: %s%s", why,
		    cerr.code == TRUST_E_NOT_FOUND ? "none" : cerr.msg,
		    cerr.code == TRUST_E_EXPIRED && (expired != NULL || !any_allows_expired(e)) ?
		    " (allow-expired-cached-trust-data is off)" : "");
	}
	if (ok != NULL || expired != NULL)
		report(e, NOTARY_CACHE_ANSWER);
	finish_with(e, ok, note, expired, enote, err);
	trust_repo_free(stale);
}

static void
failed(struct entry *e, const struct trust_error *uerr)
{
	struct trust_error	 err = *uerr;
	struct trust_state	*cached = e->cached;

	if (err.code != TRUST_E_NOT_FOUND && err.code != TRUST_E_INTERNAL && !e->fetch_failed)
		report(e, NOTARY_UPDATE_REFUSED);
	trust_update_free(e->u);
	e->u = NULL;
	e->cached = NULL;	/* a callback may start the next update */
	if (err.code == TRUST_E_UNAVAILABLE)
		fallback(e, &err, cached);
	else
		finish(e, NULL, &err);
	trust_state_free(cached);
}

static void
step(struct entry *e)
{
	struct trust_fetch	 f;
	struct fetch_opts	 o;
	struct trust_error	 err;
	enum trust_step		 s;
	char			 url[FETCH_MAX_URL];

	s = trust_update_next(e->u, &f);
	if (s == TRUST_STEP_DONE) {
		done(e);
		return;
	}
	if (s == TRUST_STEP_FAILED) {
		failed(e, trust_update_error(e->u));
		return;
	}
	if ((size_t)snprintf(url, sizeof(url), "%s/v2/%s/_trust/tuf/%s", e->url, e->gun,
	    f.path) >= sizeof(url)) {
		report(e, NOTARY_FETCHED);
		report(e, NOTARY_FETCH_FAILED);
		trust_update_feed(e->u, TRUST_FETCH_NETERR, NULL, 0, "URL too long");
		step(e);
		return;
	}
	memset(&o, 0, sizeof(o));
	o.ca_file = e->ca_file;
	o.username = e->username;
	o.password = e->password;
	o.connect_timeout_ms = e->connect_timeout_ms;
	o.timeout_ms = e->timeout_ms;
	/* fetch treats 0 as "default cap": ask for 1 and let trust refuse 1 byte */
	o.max_len = f.max_len > 0 ? f.max_len : 1;
	report(e, NOTARY_FETCHED);
	if (fetch_get(e->n->fetch, url, &o, on_fetched, e) == -1) {
		report(e, NOTARY_FETCH_FAILED);
		trust_seterr(&err, TRUST_E_INTERNAL, "cannot start a request to %s", url);
		failed(e, &err);
	}
}

int
notary_get(struct notary *n, const struct notary_server *srv, const char *gun,
    const struct trust_pins *pins, time_t now, int allow_expired, notary_cb cb,
    void *arg)
{
	struct entry		*e;
	struct waiter		*w;
	struct trust_state	*cached = NULL;
	struct trust_error	 err;

	if (pins->key == NULL || (e = entry_get(n, srv, gun, pins)) == NULL)
		return -1;
	if (e->u == NULL && fresh(e, now)) {
		cb(e->repo, NULL, NULL, arg);
		return 0;
	}
	if (e->nwaiters >= NOTARY_MAX_WAITERS || (w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	w->cb = cb;
	w->arg = arg;
	w->allow_expired = allow_expired;
	TAILQ_INSERT_TAIL(&e->waiters, w, entry);
	e->nwaiters++;
	if (e->u != NULL)
		return 0;	/* joins the update in flight */
	if (entry_settings(e, srv) == -1) {
		trust_seterr(&err, TRUST_E_INTERNAL, "out of memory");
		finish(e, NULL, &err);
		return 0;
	}
	if (n->state_dir != NULL &&
	    trust_store_load(n->state_dir, gun, &cached, &err) == -1) {
		finish(e, NULL, &err);
		return 0;
	}
	e->fetch_failed = 0;
	e->now = now;
	e->pins = pins;
	e->u = trust_update_new(gun, pins, cached, now);
	trust_state_free(e->cached);
	e->cached = cached;	/* for the cache-only load if the server fails */
	if (e->u == NULL) {
		trust_state_free(e->cached);
		e->cached = NULL;
		trust_seterr(&err, TRUST_E_INTERNAL, "out of memory");
		finish(e, NULL, &err);
		return 0;
	}
	step(e);
	return 0;
}
