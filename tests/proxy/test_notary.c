/*
 * notary.c on the event loop against tsrv serving a real Notary fixture
 * (sets/notary01, verified at 2026-11-22 with its root key pinned): the
 * cache and its key (GUN, server, pins), one update shared by concurrent
 * requests, the server's settings taken again for each update, and the
 * fallback to an unexpired result when the server fails.
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
	int			 nfailed;	/* observer: NOTARY_FETCH_FAILED */
};

struct got {
	int	done;
	int	ok;
	int	code;
	char	sha[65];
	char	msg[1024];
};

static void
observer(void *arg, const char *server, enum notary_event ev)
{
	struct nenv *e = arg;

	(void)server;
	if (ev == NOTARY_FETCH_FAILED)
		e->nfailed++;
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
on_repo(const struct trust_repo *repo, const struct trust_error *err, void *arg)
{
	struct got		*g = arg;
	struct trust_target	 t;
	struct trust_error	 lerr;
	int			 i;

	g->done++;
	g->ok = repo != NULL;
	g->code = err != NULL ? (int)err->code : 0;
	snprintf(g->msg, sizeof(g->msg), "%s", err != NULL ? err->msg : "");
	if (repo != NULL && trust_repo_lookup_tag(repo, "LICENSE", &t, &lerr) == 0)
		for (i = 0; i < 32; i++)
			snprintf(g->sha + 2 * i, 3, "%02x", t.sha256[i]);
}

/* notary_get for the env's GUN; runs the loop until the answer came. */
static void
get(struct nenv *e, const struct notary_server *ns, const struct trust_pins *pins,
    struct got *g)
{
	memset(g, 0, sizeof(*g));
	T_EQ_INT(notary_get(e->n, ns, GUN, pins, T_2026_11_22, on_repo, g), 0);
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
	T_EQ_INT(notary_get(e.n, &e.ns, GUN, &e.pins, T_2026_11_22, on_repo, &g), 0);
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
	for (i = 0; i < 3; i++)
		T_EQ_INT(notary_get(e.n, &e.ns, GUN, &e.pins, T_2026_11_22, on_repo, &g[i]), 0);
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
	nenv_free(&e);
}
