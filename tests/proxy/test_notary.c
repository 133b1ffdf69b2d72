/*
 * notary.c on the event loop against tsrv serving a real Notary fixture
 * (sets/notary01, verified at 2026-11-22 with its root key pinned): the
 * cache and its key (GUN, server, pins), one update shared by concurrent
 * requests, the server's settings taken again for each update, and the
 * cache-only load when the server fails: the last result, the persisted
 * state, and expired data only under allow-expired-cached-trust-data
 * (sets/busybox-good, whose timestamp expired 2018-09-26).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "proxy/proxy_int.h"
#include "tests/proxy/tsrv.h"
#include "tests/unit.h"

#define T_2026_11_22	((time_t)1795305600)
#define GUN		"docker.com/notary0.1/samplerepo"
#define ID_N01_ROOT	"d0c623c8e70c70d42a8a8125c44a8598588b3f6e31d5c21a83cbc338dfde8a68"
#define LICENSE_SHA	"9395bac6fccb26bcb55efb083d1b4b0fe72a1c25f959f056c016120b3bb56a62"
#define T_2018_09_15	((time_t)1536969600)
#define T_2018_10_01	((time_t)1538352000)
#define BB_GUN		"dockertrusttest.docker.io/library/busybox"
#define ID_BB_ROOT	"70eb123c834fd4d2a591fc9a50f4a6d26598fb64a2f37a845296ebbcceae5e24"
#define BB_LATEST	"91ef6c1c52b166be02645b8efee30d1ee65362024f7da41c404681561734c465"

struct nenv {
	struct event_base	*base;
	struct tsrv		*srv;
	struct fetch_ctx	*fc;
	struct notary		*n;
	char			 url[64];
	char			 dir[4096];
	struct notary_server	 ns;
	const char		*ids[1];
	struct trust_pins	 pins;
	const char		*gun;		/* what get() asks: GUN by default, */
	const char		*tag;		/* LICENSE, */
	time_t			 now;		/* at 2026-11-22, */
	int			 allow_expired;	/* not allowing expired cached data */
	int			 nfailed;	/* observer: NOTARY_FETCH_FAILED */
	int			 ncache;	/* observer: NOTARY_CACHE_ANSWER */
};

struct got {
	int		 done;
	int		 ok;
	int		 code;
	char		 sha[65];
	char		 msg[1024];
	char		 note[1024];
	const char	*tag;
};

static void
observer(void *arg, const char *server, enum notary_event ev)
{
	struct nenv *e = arg;

	(void)server;
	if (ev == NOTARY_FETCH_FAILED)
		e->nfailed++;
	if (ev == NOTARY_CACHE_ANSWER)
		e->ncache++;
}

static void
nenv_init(struct nenv *e, time_t freshness)
{
	memset(e, 0, sizeof(*e));
	T_ASSERT((e->base = event_base_new()) != NULL);
	T_ASSERT((e->srv = tsrv_new(e->base)) != NULL);
	T_ASSERT((e->fc = fetch_ctx_new(e->base)) != NULL);
	T_ASSERT((e->n = notary_new(e->fc, NULL, freshness)) != NULL);
	notary_set_observer(e->n, observer, e);
	snprintf(e->dir, sizeof(e->dir), "%s", unit_fixture("sets/notary01"));
	e->srv->tuf_dir = e->dir;
	snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d", e->srv->port);
	e->ns.url = e->url;
	e->ns.timeout_ms = 5000;
	e->ids[0] = ID_N01_ROOT;
	e->pins.kind = TRUST_PIN_ROOT_KEYS;
	e->pins.ids = e->ids;
	e->pins.nids = 1;
	e->pins.key = "pins-1";
	e->gun = GUN;
	e->tag = "LICENSE";
	e->now = T_2026_11_22;
}

/*
 * The env for busybox-good instead, at 2018-09-15, with a fresh notary
 * persisting its state in dir (a process started anew on the same
 * state directory is another nenv_busybox on dir).
 */
static void
nenv_busybox(struct nenv *e, const char *state_dir)
{
	nenv_init(e, 0);	/* nothing is fresh: every request asks the server */
	notary_free(e->n);
	T_ASSERT((e->n = notary_new(e->fc, state_dir, 0)) != NULL);
	notary_set_observer(e->n, observer, e);
	snprintf(e->dir, sizeof(e->dir), "%s", unit_fixture("sets/busybox-good"));
	e->ids[0] = ID_BB_ROOT;
	e->gun = BB_GUN;
	e->tag = "latest";
	e->now = T_2018_09_15;
}

static void
nenv_free(struct nenv *e)
{
	fetch_ctx_free(e->fc);
	notary_free(e->n);
	tsrv_free(e->srv);
	event_base_free(e->base);
}

static void
on_repo(const struct trust_repo *repo, const struct trust_error *err, const char *note,
    void *arg)
{
	struct got		*g = arg;
	struct trust_target	 t;
	struct trust_error	 lerr;
	int			 i;

	g->done++;
	g->ok = repo != NULL;
	g->code = err != NULL ? (int)err->code : 0;
	snprintf(g->msg, sizeof(g->msg), "%s", err != NULL ? err->msg : "");
	snprintf(g->note, sizeof(g->note), "%s", note != NULL ? note : "");
	if (repo != NULL && trust_repo_lookup_tag(repo, g->tag, &t, &lerr) == 0)
		for (i = 0; i < 32; i++)
			snprintf(g->sha + 2 * i, 3, "%02x", t.sha256[i]);
}

/* notary_get for the env's GUN and clock; runs the loop until the answer came. */
static void
get(struct nenv *e, const struct notary_server *ns, const struct trust_pins *pins,
    struct got *g)
{
	memset(g, 0, sizeof(*g));
	g->tag = e->tag;
	T_EQ_INT(notary_get(e->n, ns, e->gun, pins, e->now, e->allow_expired, on_repo, g), 0);
	T_EQ_INT(tsrv_run_until(e->base, &g->done, 1, 10000), 0);
}

UNIT_TEST(notary_verifies_then_answers_from_the_cache)
{
	struct nenv	e;
	struct got	g;
	int		nreq;

	nenv_init(&e, 300);
	get(&e, &e.ns, &e.pins, &g);
	T_EQ_STR(g.msg, "");
	T_EQ_INT(g.ok, 1);
	T_EQ_STR(g.sha, LICENSE_SHA);
	nreq = e.srv->ntuf;
	T_ASSERT(nreq >= 3);	/* timestamp, snapshot, targets at least */
	/* fresh: answered at once, before the loop runs, without a request */
	memset(&g, 0, sizeof(g));
	g.tag = "LICENSE";
	T_EQ_INT(notary_get(e.n, &e.ns, GUN, &e.pins, T_2026_11_22, 0, on_repo, &g), 0);
	T_EQ_INT(g.done, 1);
	T_EQ_INT(g.ok, 1);
	T_EQ_STR(g.sha, LICENSE_SHA);
	T_EQ_INT(e.srv->ntuf, nreq);
	/* a reload that shortens the freshness applies to the cached result */
	notary_set_freshness(e.n, 0);
	get(&e, &e.ns, &e.pins, &g);
	T_EQ_INT(g.ok, 1);
	T_EQ_INT(e.srv->ntuf, 2 * nreq);
	nenv_free(&e);
}

/* Other pins or another server never reuse a result. */
UNIT_TEST(notary_cache_key_is_gun_server_and_pins)
{
	struct nenv		e;
	struct got		g;
	struct tsrv		*other;
	struct trust_pins	pins2;
	struct notary_server	ns2;
	char			url2[64];
	int			nreq;

	nenv_init(&e, 300);
	get(&e, &e.ns, &e.pins, &g);
	T_EQ_INT(g.ok, 1);
	nreq = e.srv->ntuf;
	pins2 = e.pins;
	pins2.key = "pins-2";
	get(&e, &e.ns, &pins2, &g);
	T_EQ_INT(g.ok, 1);
	T_EQ_INT(e.srv->ntuf, 2 * nreq);
	T_ASSERT((other = tsrv_new(e.base)) != NULL);
	other->tuf_dir = e.dir;
	snprintf(url2, sizeof(url2), "http://127.0.0.1:%d", other->port);
	ns2 = e.ns;
	ns2.url = url2;
	get(&e, &ns2, &e.pins, &g);
	T_EQ_INT(g.ok, 1);
	T_EQ_INT(other->ntuf, nreq);
	T_EQ_INT(e.srv->ntuf, 2 * nreq);
	/* and each is cached on its own */
	get(&e, &ns2, &e.pins, &g);
	get(&e, &e.ns, &pins2, &g);
	get(&e, &e.ns, &e.pins, &g);
	T_EQ_INT(g.ok, 1);
	T_EQ_INT(other->ntuf, nreq);
	T_EQ_INT(e.srv->ntuf, 2 * nreq);
	tsrv_free(other);
	nenv_free(&e);
}

/* Requests that come while an update runs wait for it: one set of fetches. */
UNIT_TEST(notary_concurrent_requests_share_one_update)
{
	struct nenv	e;
	struct got	g[3];
	int		i, single;

	nenv_init(&e, 300);
	get(&e, &e.ns, &e.pins, &g[0]);
	single = e.srv->ntuf;
	nenv_free(&e);

	nenv_init(&e, 300);
	memset(g, 0, sizeof(g));
	for (i = 0; i < 3; i++) {
		g[i].tag = "LICENSE";
		T_EQ_INT(notary_get(e.n, &e.ns, GUN, &e.pins, T_2026_11_22, 0, on_repo, &g[i]), 0);
	}
	T_EQ_INT(g[0].done + g[1].done + g[2].done, 0);
	T_EQ_INT(tsrv_run_until(e.base, &g[2].done, 1, 10000), 0);
	for (i = 0; i < 3; i++) {
		T_EQ_INT(g[i].done, 1);
		T_EQ_INT(g[i].ok, 1);
		T_EQ_STR(g[i].sha, LICENSE_SHA);
	}
	T_EQ_INT(e.srv->ntuf, single);
	nenv_free(&e);
}

/*
 * An update takes the server's settings as they are when it starts (a
 * reload may have changed them): the credentials answering the server's
 * Basic challenge follow, and none are kept once they are gone.
 */
UNIT_TEST(notary_update_takes_current_settings)
{
	struct nenv		e;
	struct got		g;
	struct notary_server	ns;

	nenv_init(&e, 0);	/* nothing is fresh: every request updates */
	ns = e.ns;
	ns.username = "alice";
	ns.password = "pw1";
	e.srv->tuf_basic = "YWxpY2U6cHcx";	/* alice:pw1 */
	get(&e, &ns, &e.pins, &g);
	T_EQ_STR(g.msg, "");
	T_EQ_INT(g.ok, 1);
	T_CONTAINS(e.srv->last_head, "\r\nAuthorization: Basic YWxpY2U6cHcx\r\n");
	ns.username = "bob";
	ns.password = "pw2";
	e.srv->tuf_basic = "Ym9iOnB3Mg==";	/* bob:pw2 */
	get(&e, &ns, &e.pins, &g);
	T_EQ_STR(g.msg, "");
	T_EQ_INT(g.ok, 1);
	T_CONTAINS(e.srv->last_head, "\r\nAuthorization: Basic Ym9iOnB3Mg==\r\n");
	ns.username = NULL;
	ns.password = NULL;
	get(&e, &ns, &e.pins, &g);
	T_ASSERT(strstr(e.srv->last_head, "Authorization:") == NULL);
	T_ASSERT(e.nfailed >= 1);	/* the 401 */
	nenv_free(&e);
}

/*
 * A server that fails: an earlier, unexpired result stands (Notary's
 * fallback to its cached data); without one the request is refused.
 */
UNIT_TEST(notary_unreachable_server_falls_back_to_the_last_result)
{
	struct nenv	e;
	struct got	g;
	int		nreq;

	nenv_init(&e, 0);
	e.srv->fail_all = 1;
	get(&e, &e.ns, &e.pins, &g);
	T_EQ_INT(g.ok, 0);
	T_EQ_INT(g.code, TRUST_E_UNAVAILABLE);
	T_ASSERT(e.nfailed >= 1);
	e.srv->fail_all = 0;
	get(&e, &e.ns, &e.pins, &g);
	T_EQ_INT(g.ok, 1);
	e.srv->fail_all = 1;
	e.nfailed = 0;
	nreq = e.srv->nrequests;
	get(&e, &e.ns, &e.pins, &g);
	T_ASSERT(e.srv->nrequests > nreq);	/* it did ask */
	T_ASSERT(e.nfailed >= 1);
	T_EQ_INT(g.ok, 1);
	T_EQ_STR(g.sha, LICENSE_SHA);
	/* the answer says where it came from, and the observer heard of it */
	T_CONTAINS(g.note, "trust server unreachable (unable to reach trust server");
	T_CONTAINS(g.note, "answered from cached trust data");
	T_EQ_INT(e.ncache, 1);
	nenv_free(&e);
}

/*
 * A restart during an outage: a new notary on the same state directory
 * has no result in memory; the persisted state, verified alone, answers
 * while it is unexpired. Past its expiry it answers only a request that
 * allows expired cached data, and the refusal says why the cache could
 * not serve.
 */
UNIT_TEST(notary_unreachable_server_falls_back_to_the_persisted_state)
{
	struct nenv	e, e2;
	struct got	g;
	const char	*state = unit_tmpdir();

	nenv_busybox(&e, state);
	get(&e, &e.ns, &e.pins, &g);	/* the server is up: verified and persisted */
	T_EQ_STR(g.msg, "");
	T_EQ_STR(g.sha, BB_LATEST);
	T_EQ_STR(g.note, "");
	nenv_free(&e);

	nenv_busybox(&e2, state);	/* "restarted", the server down */
	e2.srv->fail_all = 1;
	get(&e2, &e2.ns, &e2.pins, &g);
	T_EQ_STR(g.msg, "");
	T_EQ_STR(g.sha, BB_LATEST);
	T_CONTAINS(g.note, "answered from cached trust data");
	T_EQ_INT(e2.ncache, 1);
	nenv_free(&e2);

	nenv_busybox(&e2, state);	/* again, after the timestamp expired */
	e2.srv->fail_all = 1;
	e2.now = T_2018_10_01;
	get(&e2, &e2.ns, &e2.pins, &g);
	T_EQ_INT(g.ok, 0);
	T_EQ_INT(g.code, TRUST_E_UNAVAILABLE);
	T_CONTAINS(g.msg, "cached trust data: timestamp expired at");
	T_CONTAINS(g.msg, "(allow-expired-cached-trust-data is off)");
	T_EQ_INT(e2.ncache, 0);
	e2.allow_expired = 1;
	get(&e2, &e2.ns, &e2.pins, &g);
	T_EQ_STR(g.msg, "");
	T_EQ_STR(g.sha, BB_LATEST);
	T_CONTAINS(g.note, "past its expiry (timestamp expired at");
	T_CONTAINS(g.note, "allow-expired-cached-trust-data");
	T_EQ_INT(e2.ncache, 1);
	/* a server that answers never gives expired data, whatever the policy */
	e2.srv->fail_all = 0;
	get(&e2, &e2.ns, &e2.pins, &g);
	T_EQ_INT(g.ok, 0);
	T_EQ_INT(g.code, TRUST_E_EXPIRED);
	nenv_free(&e2);

	/* nothing persisted: the refusal says so */
	nenv_busybox(&e2, NULL);
	e2.srv->fail_all = 1;
	get(&e2, &e2.ns, &e2.pins, &g);
	T_EQ_INT(g.code, TRUST_E_UNAVAILABLE);
	T_CONTAINS(g.msg, "; cached trust data: none");
	nenv_free(&e2);
}

/*
 * The result last verified in this process, once expired, answers only
 * the requests that allow expired cached data: waiters of one update
 * each get what their own policy permits.
 */
UNIT_TEST(notary_expired_result_goes_only_to_requests_that_allow_it)
{
	struct nenv	e;
	struct got	g[2];
	int		i;

	nenv_busybox(&e, NULL);
	get(&e, &e.ns, &e.pins, &g[0]);
	T_EQ_STR(g[0].sha, BB_LATEST);
	e.srv->fail_all = 1;
	for (i = 0; i < 2; i++) {
		memset(&g[i], 0, sizeof(g[i]));
		g[i].tag = "latest";
		T_EQ_INT(notary_get(e.n, &e.ns, BB_GUN, &e.pins, T_2018_10_01, i, on_repo,
		    &g[i]), 0);
	}
	T_EQ_INT(tsrv_run_until(e.base, &g[1].done, 1, 10000), 0);
	T_EQ_INT(g[0].done, 1);
	T_EQ_INT(g[0].ok, 0);
	T_CONTAINS(g[0].msg, "cached trust data: the trust data last verified expired at "
	    "2018-09-26T18:14:19Z (allow-expired-cached-trust-data is off)");
	T_EQ_INT(g[1].ok, 1);
	T_EQ_STR(g[1].sha, BB_LATEST);
	T_CONTAINS(g[1].note, "past its expiry");
	nenv_free(&e);
}
