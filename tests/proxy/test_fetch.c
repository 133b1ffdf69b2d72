/*
 * fetch.c against the misbehaving in-process server (tsrv.c): caps,
 * lies, timeouts, token auth, streaming with backpressure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "proxy/proxy_int.h"
#include "tests/proxy/tsrv.h"
#include "tests/unit.h"

struct got {
	int	done;
	int	status;
	size_t	len;
	char	body[8192];
	char	error[512];
	char	ctype[128];
};

struct env {
	struct event_base	*base;
	struct tsrv		*srv;
	struct fetch_ctx	*fc;
	char			 url[256];
};

static void
env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->base = event_base_new();
	T_ASSERT(e->base != NULL);
	e->srv = tsrv_new(e->base);
	T_ASSERT(e->srv != NULL);
	e->fc = fetch_ctx_new(e->base);
	T_ASSERT(e->fc != NULL);
}

static void
env_free(struct env *e)
{
	fetch_ctx_free(e->fc);
	tsrv_free(e->srv);
	event_base_free(e->base);
}

static const char *
url(struct env *e, const char *path)
{
	snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d%s", e->srv->port, path);
	return e->url;
}

static void
got_cb(const struct fetch_result *r, void *arg)
{
	struct got *g = arg;

	g->done = 1;
	g->status = r->status;
	g->len = r->len;
	memcpy(g->body, r->body, r->len < sizeof(g->body) - 1 ? r->len : sizeof(g->body) - 1);
	snprintf(g->error, sizeof(g->error), "%s", r->error ? r->error : "");
	snprintf(g->ctype, sizeof(g->ctype), "%s", r->content_type ? r->content_type : "");
}

static void
get(struct env *e, const char *path, const struct fetch_opts *o, struct got *g)
{
	memset(g, 0, sizeof(*g));
	T_EQ_INT(fetch_get(e->fc, url(e, path), o, got_cb, g), 0);
	T_EQ_INT(tsrv_run_until(e->base, &g->done, 1, 10000), 0);
}

static struct fetch_opts
opts(size_t max)
{
	struct fetch_opts o;

	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = 2000;
	o.timeout_ms = 5000;
	o.max_len = max;
	return o;
}

UNIT_TEST(fetch_ok)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);

	env_init(&e);
	get(&e, "/ok", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_INT(g.len, 11);
	T_EQ_STR(g.body, "hello world");
	T_EQ_STR(g.ctype, "text/plain");
	T_CONTAINS(e.srv->last_head, "User-Agent: dctproxy/");
	env_free(&e);
}

UNIT_TEST(fetch_honest_content_length_over_cap)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);

	env_init(&e);
	get(&e, "/big", &o, &g);
	T_EQ_INT(g.status, TRUST_FETCH_TOOBIG);
	T_EQ_INT(g.len, 0);
	o.max_len = 2000;	/* exactly the cap is fine */
	get(&e, "/big", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_INT(g.len, 2000);
	env_free(&e);
}

UNIT_TEST(fetch_endless_chunked_stops_at_cap)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(100000);
	int			never = 0;

	env_init(&e);
	get(&e, "/endless", &o, &g);
	T_EQ_INT(g.status, TRUST_FETCH_TOOBIG);
	T_CONTAINS(g.error, "over 100000 bytes");
	/* the connection is dropped, so the server stops writing */
	tsrv_run_until(e.base, &never, 1, 300);
	T_EQ_INT(e.srv->nconns, 0);
	T_ASSERT(e.srv->endless_sent < 8 * 1024 * 1024);
	env_free(&e);
}

UNIT_TEST(fetch_close_delimited_body_counted)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);

	env_init(&e);
	get(&e, "/noclen", &o, &g);
	T_EQ_INT(g.status, TRUST_FETCH_TOOBIG);
	o.max_len = 10000;
	get(&e, "/noclen", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_INT(g.len, 5000);
	env_free(&e);
}

UNIT_TEST(fetch_lying_content_length)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);

	env_init(&e);
	/* promises 1000, sends 10: a transport error, never a short 200 */
	get(&e, "/short", &o, &g);
	T_EQ_INT(g.status, TRUST_FETCH_NETERR);
	T_ASSERT(g.error[0] != '\0');
	/* promises 5, sends 100: we take the 5 we were promised */
	get(&e, "/understate", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_INT(g.len, 5);
	env_free(&e);
}

UNIT_TEST(fetch_bearer_token_auth)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);
	int			n;

	env_init(&e);
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_STR(g.body, "secret");
	T_EQ_INT(e.srv->ntoken, 1);
	T_EQ_STR(e.srv->token_query,
	    "service=reg.test&scope=repository%3Afoo%2Fbar%3Apull");
	T_EQ_STR(e.srv->last_path, "/auth");
	T_CONTAINS(e.srv->last_head, "\r\nAuthorization: Bearer tok-123\r\n");
	/* the token is cached and sent up front: one request, no challenge */
	n = e.srv->nrequests;
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_INT(e.srv->ntoken, 1);
	T_EQ_INT(e.srv->nrequests, n + 1);
	env_free(&e);
}

UNIT_TEST(fetch_bearer_refused_cached_token_is_replaced)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);
	int			n;

	env_init(&e);
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 200);
	/* the server revokes tok-123: the up-front token gets a 401, a new one is fetched */
	e.srv->rotate_token = 1;
	n = e.srv->nrequests;
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_INT(e.srv->ntoken, 2);
	T_EQ_INT(e.srv->nrequests, n + 3);
	T_CONTAINS(e.srv->last_head, "Authorization: Bearer tok-456");
	/* and the new one is what goes up front next time */
	n = e.srv->nrequests;
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_INT(e.srv->nrequests, n + 1);
	env_free(&e);
}

UNIT_TEST(fetch_bearer_with_credentials_sends_basic_to_realm)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);

	env_init(&e);
	o.username = "user";
	o.password = "pw";
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_INT(e.srv->ntoken, 1);
	/* the token request carried Basic; the retry the token */
	T_CONTAINS(e.srv->token_head, "\r\nAuthorization: Basic dXNlcjpwdw==\r\n");
	T_CONTAINS(e.srv->last_head, "Authorization: Bearer tok-123");
	env_free(&e);
}

UNIT_TEST(fetch_caller_authorization_passes_401_through)
{
	struct env		 e;
	struct got		 g;
	struct fetch_opts	 o = opts(1000);
	const char		*hdrs[] = { "Authorization: Bearer wrong" };

	env_init(&e);
	o.headers = hdrs;
	o.nheaders = 1;
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 401);
	T_EQ_INT(e.srv->ntoken, 0);
	T_CONTAINS(g.body, "UNAUTHORIZED");
	env_free(&e);
}

UNIT_TEST(fetch_basic_auth)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);

	env_init(&e);
	get(&e, "/basic", &o, &g);
	T_EQ_INT(g.status, 401);	/* no credentials: the 401 stands */
	o.username = "user";
	o.password = "pw";
	get(&e, "/basic", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_STR(g.body, "basic-ok");
	env_free(&e);
}

UNIT_TEST(fetch_timeout)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);

	env_init(&e);
	o.timeout_ms = 300;
	get(&e, "/slow", &o, &g);
	T_EQ_INT(g.status, TRUST_FETCH_NETERR);
	T_CONTAINS(g.error, "imed out");
	env_free(&e);
}

/* A buffered GET still waiting when its ctx goes: no callback, nothing leaked (ASan run). */
UNIT_TEST(fetch_get_pending_at_ctx_free)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);

	env_init(&e);
	memset(&g, 0, sizeof(g));
	T_EQ_INT(fetch_get(e.fc, url(&e, "/slow"), &o, got_cb, &g), 0);
	T_EQ_INT(tsrv_run_until(e.base, &e.srv->nheld, 1, 5000), 0);
	fetch_ctx_free(e.fc);
	e.fc = NULL;
	T_EQ_INT(g.done, 0);
	env_free(&e);
}

UNIT_TEST(fetch_redirects_only_when_asked)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);

	env_init(&e);
	get(&e, "/redirect", &o, &g);
	T_EQ_INT(g.status, 307);
	o.follow_redirects = 1;
	get(&e, "/redirect", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_STR(g.body, "hello world");
	env_free(&e);
}

UNIT_TEST(fetch_refused_connection)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);

	env_init(&e);
	memset(&g, 0, sizeof(g));
	/* port 1 on loopback: nothing listens */
	T_EQ_INT(fetch_get(e.fc, "http://127.0.0.1:1/x", &o, got_cb, &g), 0);
	T_EQ_INT(tsrv_run_until(e.base, &g.done, 1, 5000), 0);
	T_EQ_INT(g.status, TRUST_FETCH_NETERR);
	T_ASSERT(g.error[0] != '\0');
	env_free(&e);
}

UNIT_TEST(fetch_rejects_other_schemes_and_header_injection)
{
	struct env		 e;
	struct fetch_opts	 o = opts(1000);
	const char		*bad[] = { "X-A: b\r\nX-C: d" };

	env_init(&e);
	T_EQ_INT(fetch_get(e.fc, "ftp://127.0.0.1/x", &o, got_cb, NULL), -1);
	T_EQ_INT(fetch_get(e.fc, "file:///etc/passwd", &o, got_cb, NULL), -1);
	o.headers = bad;
	o.nheaders = 1;
	T_EQ_INT(fetch_get(e.fc, url(&e, "/ok"), &o, got_cb, NULL), -1);
	env_free(&e);
}

UNIT_TEST(fetch_challenge_parser)
{
	struct fetch_challenge	 c;
	const char		*s;

#define P(str) fetch_parse_challenge((str), strlen(str), &c)
	s = "Bearer realm=\"https://auth.example/token\",service=\"registry.example\","
	    "scope=\"repository:a/b:pull\"";
	T_EQ_INT(P(s), 0);
	T_EQ_STR(c.scheme, "bearer");
	T_EQ_STR(c.realm, "https://auth.example/token");
	T_EQ_STR(c.service, "registry.example");
	T_EQ_STR(c.scope, "repository:a/b:pull");
	T_EQ_INT(P("bearer realm=\"r\\\"q\" , error=\"invalid_token\""), 0);
	T_EQ_STR(c.realm, "r\"q");
	T_EQ_STR(c.service, "");
	T_EQ_INT(P("Basic realm=test"), 0);
	T_EQ_STR(c.scheme, "basic");
	T_EQ_STR(c.realm, "test");
	T_EQ_INT(P("Bearer"), -1);			/* no params */
	T_EQ_INT(P("Bearer realm=\"x"), -1);		/* unterminated */
	T_EQ_INT(P("Bearer realm=\"a\",realm=\"b\""), -1); /* duplicate */
	T_EQ_INT(P("Bearer realm=\"a\","), -1);		/* trailing comma */
	T_EQ_INT(P("Bearer realm=\"a\" x"), -1);	/* junk */
	T_EQ_INT(P("Bearer realm=\"a\nb\""), -1);	/* control character */
	T_EQ_INT(P("Bearer =x"), -1);
#undef P
}

/* ---- caps of the curl path ---- */

/* Response header bytes (after the status line, blank line included) are capped. */
UNIT_TEST(fetch_headers_bytes_cap)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);
	char			path[64];

	env_init(&e);
	snprintf(path, sizeof(path), "/headbytes/%d", FETCH_MAX_HEADERS_LEN);
	get(&e, path, &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_STR(g.body, "ok");
	snprintf(path, sizeof(path), "/headbytes/%d", FETCH_MAX_HEADERS_LEN + 1);
	get(&e, path, &o, &g);
	T_EQ_INT(g.status, TRUST_FETCH_NETERR);
	T_EQ_STR(g.error, "response headers over their cap");
	T_EQ_INT(g.len, 0);
	get(&e, "/hugehead", &o, &g);
	T_EQ_INT(g.status, TRUST_FETCH_NETERR);
	T_EQ_STR(g.error, "response headers over their cap");
	env_free(&e);
}

struct hcount {
	int	done;
	int	status;
	int	hstatus;
	size_t	nlines;		/* fetch_req_header_at() entries */
	int	bad;		/* an entry not as /headlines/N writes it */
	char	error[256];
};

static int
hc_headers(struct fetch_req *r, int status, void *arg)
{
	struct hcount	*h = arg;
	const char	*name, *value;
	char		 want[32];

	h->hstatus = status;
	for (h->nlines = 0; fetch_req_header_at(r, h->nlines, &name, &value) == 0;
	    h->nlines++) {
		if (h->nlines + 1 < FETCH_MAX_RESP_HEADERS) {
			snprintf(want, sizeof(want), "X-H-%zu", h->nlines + 1);
			if (strcmp(name, want) != 0 || value[0] != 'v' ||
			    strcmp(value + 1, want + 4) != 0)
				h->bad = 1;
		} else if (strcmp(name, "Content-Length") != 0 || strcmp(value, "2") != 0)
			h->bad = 1;
	}
	return 0;
}

static void
hc_done(struct fetch_req *r, int status, const char *error, void *arg)
{
	struct hcount *h = arg;

	(void)r;
	h->done = 1;
	h->status = status;
	snprintf(h->error, sizeof(h->error), "%s", error ? error : "");
}

/* Header lines are capped in number; exactly the cap is fine and all are visible. */
UNIT_TEST(fetch_header_lines_cap)
{
	struct env		e;
	struct hcount		h;
	struct fetch_opts	o = opts(1000);
	struct fetch_handlers	hd = { hc_headers, NULL, hc_done, NULL };
	struct got		g;
	char			path[64];

	env_init(&e);
	memset(&h, 0, sizeof(h));
	snprintf(path, sizeof(path), "/headlines/%d", FETCH_MAX_RESP_HEADERS);
	/* the curl path: no fetch_stream_opts, so not direct */
	T_EQ_INT(fetch_stream(e.fc, url(&e, path), &o, NULL, &hd, &h, NULL), 0);
	T_EQ_INT(tsrv_run_until(e.base, &h.done, 1, 10000), 0);
	T_EQ_INT(h.status, 200);
	T_EQ_INT(h.hstatus, 200);
	T_EQ_INT(h.nlines, FETCH_MAX_RESP_HEADERS);
	T_EQ_INT(h.bad, 0);
	snprintf(path, sizeof(path), "/headlines/%d", FETCH_MAX_RESP_HEADERS + 1);
	get(&e, path, &o, &g);
	T_EQ_INT(g.status, TRUST_FETCH_NETERR);
	T_EQ_STR(g.error, "response headers over their cap");
	env_free(&e);
}

/* A token response body of n bytes: {"token":"tok-123","pad":"ppp..."}. */
static char *
token_body_of(size_t n)
{
	static const char	head[] = "{\"token\":\"tok-123\",\"pad\":\"";
	char			*b;

	T_ASSERT(n > sizeof(head) + 2);
	b = malloc(n + 1);
	T_ASSERT(b != NULL);
	memcpy(b, head, sizeof(head) - 1);
	memset(b + sizeof(head) - 1, 'p', n - (sizeof(head) - 1) - 2);
	memcpy(b + n - 2, "\"}", 3);
	return b;
}

UNIT_TEST(fetch_token_body_cap)
{
	struct env		 e;
	struct got		 g;
	struct fetch_opts	 o = opts(1000);
	char			*body;

	env_init(&e);
	/* exactly the cap: the token is used */
	body = token_body_of(FETCH_MAX_TOKEN_LEN);
	T_EQ_INT(strlen(body), FETCH_MAX_TOKEN_LEN);
	e.srv->token_body = body;
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_STR(g.body, "secret");
	T_EQ_INT(e.srv->ntoken, 1);
	T_EQ_INT(e.srv->nrequests, 3);
	free(body);
	fetch_ctx_free(e.fc);	/* forget the cached token */
	T_ASSERT((e.fc = fetch_ctx_new(e.base)) != NULL);

	/* one byte over: no token, no retry; the 401 stands with the reason */
	body = token_body_of(FETCH_MAX_TOKEN_LEN + 1);
	e.srv->token_body = body;
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 401);
	T_CONTAINS(g.error, "token request failed");
	T_CONTAINS(g.error, "over 65536 bytes");
	T_EQ_INT(e.srv->ntoken, 2);
	T_EQ_INT(e.srv->nrequests, 5);
	T_EQ_STR(e.srv->last_path, "/token?service=reg.test&scope=repository%3Afoo%2Fbar%3Apull");
	free(body);

	/* the normal flow still works on the same ctx */
	e.srv->token_body = NULL;
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_STR(g.body, "secret");
	T_EQ_INT(e.srv->ntoken, 3);
	env_free(&e);
}

/*
 * A 401 whose body never ends before the token retry: fetch reads at most
 * FETCH_MAX_SWALLOW bytes of it, drops that connection (write_cb returns
 * 0) and goes on with the token request and the retry all the same.
 */
UNIT_TEST(fetch_401_body_swallow_cap)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(1000);
	struct timespec		t0, t1;
	double			dt;

	env_init(&e);
	o.timeout_ms = 20000;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	get(&e, "/authendless", &o, &g);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	T_EQ_INT(g.status, 200);
	T_EQ_STR(g.body, "secret");
	T_EQ_STR(g.error, "");
	T_EQ_INT(e.srv->ntoken, 1);
	T_EQ_INT(e.srv->nrequests, 3);
	T_EQ_STR(e.srv->last_path, "/authendless");
	T_CONTAINS(e.srv->last_head, "\r\nAuthorization: Bearer tok-123\r\n");
	/* stopped at the cap, not at the transfer timeout nor the server's 1 GiB */
	T_ASSERT(dt < 5.0);
	T_ASSERT(e.srv->endless_sent < 8 * 1024 * 1024);
	env_free(&e);
}

/*
 * A challenge whose 401 body (honest Content-Length) is over the caller's
 * max_len is answered all the same: that body is not the caller's. The
 * caller's own body is still held to max_len.
 */
UNIT_TEST(fetch_401_body_over_max_len_still_answered)
{
	struct env		e;
	struct got		g;
	struct fetch_opts	o = opts(10);	/* /auth's 401 body is 36 bytes */

	env_init(&e);
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_STR(g.body, "secret");
	T_EQ_INT(e.srv->ntoken, 1);
	T_EQ_INT(e.srv->nrequests, 3);
	get(&e, "/big", &o, &g);
	T_EQ_INT(g.status, TRUST_FETCH_TOOBIG);
	T_CONTAINS(g.error, "over 10 bytes");
	T_EQ_INT(g.len, 0);
	env_free(&e);
}

/* An unanswerable challenge: the 401 goes to the caller as it is, no token request. */
static void
unanswered(struct env *e, const char *challenge)
{
	struct got		g;
	struct fetch_opts	o = opts(1000);
	int			n = e->srv->nrequests;

	e->srv->auth_challenge = challenge;
	get(e, "/auth", &o, &g);
	T_EQ_INT(g.status, 401);
	T_EQ_STR(g.error, "");
	T_CONTAINS(g.body, "UNAUTHORIZED");
	T_EQ_STR(g.ctype, "application/json");
	T_EQ_INT(e->srv->ntoken, 0);
	T_EQ_INT(e->srv->nrequests, n + 1);
}

UNIT_TEST(fetch_challenge_over_caps_not_answered)
{
	struct env	 e;
	struct got	 g;
	struct fetch_opts o = opts(1000);
	char		*ch;
	size_t		 plen;
	int		 len;

	env_init(&e);
	ch = malloc(2 * FETCH_MAX_CHALLENGE);
	T_ASSERT(ch != NULL);

	/* a valid challenge padded to exactly FETCH_MAX_CHALLENGE bytes is answered */
	len = snprintf(ch, 2 * FETCH_MAX_CHALLENGE, "Bearer realm=\"http://127.0.0.1:%d/token\","
	    "service=\"reg.test\",scope=\"repository:foo/bar:pull\",pad=\"", e.srv->port);
	plen = FETCH_MAX_CHALLENGE - (size_t)len - 1;
	memset(ch + len, 'x', plen);
	memcpy(ch + len + plen, "\"", 2);
	T_EQ_INT(strlen(ch), FETCH_MAX_CHALLENGE);
	e.srv->auth_challenge = ch;
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_INT(e.srv->ntoken, 1);
	fetch_ctx_free(e.fc);	/* forget the cached token and the hint */
	T_ASSERT((e.fc = fetch_ctx_new(e.base)) != NULL);
	e.srv->ntoken = 0;

	/* one byte more: not answered */
	memcpy(ch + len + plen, "x\"", 3);
	T_EQ_INT(strlen(ch), FETCH_MAX_CHALLENGE + 1);
	unanswered(&e, ch);

	/* a realm longer than FETCH_MAX_URL (so the challenge is over its cap too) */
	len = snprintf(ch, 2 * FETCH_MAX_CHALLENGE, "Bearer realm=\"http://127.0.0.1:%d/", e.srv->port);
	memset(ch + len, 't', FETCH_MAX_URL);
	memcpy(ch + len + FETCH_MAX_URL, "\"", 2);
	unanswered(&e, ch);

	/* a realm that fits, but escaped scopes push the token URL past FETCH_MAX_URL */
	len = snprintf(ch, 2 * FETCH_MAX_CHALLENGE, "Bearer realm=\"http://127.0.0.1:%d/token\","
	    "service=\"", e.srv->port);
	memset(ch + len, '/', 500);		/* each one "%2F" in the URL */
	len += 500;
	len += snprintf(ch + len, 16, "\",scope=\"");
	memset(ch + len, '/', 1000);
	memcpy(ch + len + 1000, "\"", 2);
	T_ASSERT(strlen(ch) < FETCH_MAX_CHALLENGE);
	e.srv->auth_challenge = ch;
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 401);
	T_EQ_STR(g.error, "token request URL too long");
	T_EQ_INT(e.srv->ntoken, 0);
	e.srv->auth_challenge = NULL;
	free(ch);
	env_free(&e);
}

/* fetch_parse_challenge's caps, each at its limit and one over. */
UNIT_TEST(fetch_challenge_parser_caps)
{
	struct fetch_challenge	 c;
	char			*s;
	size_t			 n;

#define P(str) fetch_parse_challenge((str), strlen(str), &c)
	s = malloc(2 * FETCH_MAX_CHALLENGE);
	T_ASSERT(s != NULL);
	/* the whole value: FETCH_MAX_CHALLENGE bytes */
	n = (size_t)snprintf(s, FETCH_MAX_CHALLENGE, "Bearer realm=\"");
	memset(s + n, 'r', FETCH_MAX_CHALLENGE - n - 1);
	memcpy(s + FETCH_MAX_CHALLENGE - 1, "\"", 2);
	T_EQ_INT(P(s), 0);
	T_EQ_INT(strlen(c.realm), FETCH_MAX_CHALLENGE - n - 1);
	memcpy(s + FETCH_MAX_CHALLENGE - 1, "r\"", 3);
	T_EQ_INT(P(s), -1);
	/* the length given counts, not the NUL: a short len cuts the quote off */
	T_EQ_INT(fetch_parse_challenge(s, FETCH_MAX_CHALLENGE - 1, &c), -1);
	/* service: 511 bytes fit, 512 do not */
	n = (size_t)snprintf(s, FETCH_MAX_CHALLENGE, "Bearer service=\"");
	memset(s + n, 's', sizeof(c.service) - 1);
	memcpy(s + n + sizeof(c.service) - 1, "\"", 2);
	T_EQ_INT(P(s), 0);
	T_EQ_INT(strlen(c.service), sizeof(c.service) - 1);
	memset(s + n, 's', sizeof(c.service));
	memcpy(s + n + sizeof(c.service), "\"", 2);
	T_EQ_INT(P(s), -1);
	/* scope, unquoted: 1023 fit, 1024 do not */
	n = (size_t)snprintf(s, FETCH_MAX_CHALLENGE, "Bearer scope=");
	memset(s + n, 'a', sizeof(c.scope) - 1);
	s[n + sizeof(c.scope) - 1] = '\0';
	T_EQ_INT(P(s), 0);
	T_EQ_INT(strlen(c.scope), sizeof(c.scope) - 1);
	memset(s + n, 'a', sizeof(c.scope));
	s[n + sizeof(c.scope)] = '\0';
	T_EQ_INT(P(s), -1);
	/* an unknown param is skipped whatever its length (under the whole cap) */
	n = (size_t)snprintf(s, FETCH_MAX_CHALLENGE, "Bearer realm=r,x=\"");
	memset(s + n, 'x', 3000);
	memcpy(s + n + 3000, "\"", 2);
	T_EQ_INT(P(s), 0);
	T_EQ_STR(c.realm, "r");
	/* scheme: 15 characters fit, 16 do not; a param name: 31 fit, 32 do not */
	T_EQ_INT(P("Abcdefghijklmno realm=r"), 0);
	T_EQ_STR(c.scheme, "abcdefghijklmno");
	T_EQ_INT(P("Abcdefghijklmnop realm=r"), -1);
	T_EQ_INT(P("Bearer abcdefghijklmnopqrstuvwxyz01234=1"), 0);
	T_EQ_INT(P("Bearer abcdefghijklmnopqrstuvwxyz012345=1"), -1);
	/* 16 params fit, 17 do not */
	T_EQ_INT(P("Bearer a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1,j=1,k=1,l=1,m=1,n=1,o=1,realm=r"), 0);
	T_EQ_STR(c.realm, "r");
	T_EQ_INT(P("Bearer a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1,j=1,k=1,l=1,m=1,n=1,o=1,p=1,"
	    "realm=r"), -1);
	free(s);
#undef P
}

/* A token that cannot go into a header line is refused: no retry with it. */
UNIT_TEST(fetch_token_invalid_characters)
{
	struct env		 e;
	struct got		 g;
	struct fetch_opts	 o = opts(1000);
	static const char *const bodies[][2] = {
		{ "{\"token\":\"tok 123\"}",			/* a space */
		    "token contains invalid characters" },
		{ "{\"token\":\"tok-\\u00e9\"}",		/* not ASCII */
		    "token contains invalid characters" },
		{ "{\"access_token\":\"tok-123\\r\\nX: y\"}",	/* a line break */
		    "token contains invalid characters" },
		{ "{\"token\":\"tok-\\u007f\"}",		/* DEL */
		    "token contains invalid characters" },
		/* a NUL inside: jansson refuses the document before fetch looks */
		{ "{\"token\":\"tok-123\\u0000x\"}",
		    "token response is not a JSON object" },
	};
	size_t			 i;
	int			 n;

	env_init(&e);
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		e.srv->token_body = bodies[i][0];
		n = e.srv->nrequests;
		get(&e, "/auth", &o, &g);
		T_EQ_INT(g.status, 401);
		T_EQ_STR(g.error, bodies[i][1]);
		T_EQ_INT(e.srv->ntoken, (int)i + 1);
		T_EQ_INT(e.srv->nrequests, n + 2);	/* the 401 and the token request */
		T_CONTAINS(e.srv->last_path, "/token");
	}
	/* nothing was cached: a good token is fetched and used */
	e.srv->token_body = NULL;
	get(&e, "/auth", &o, &g);
	T_EQ_INT(g.status, 200);
	T_EQ_INT(e.srv->ntoken, (int)i + 1);
	env_free(&e);
}

/*
 * expires_in is clamped to FETCH_TOKEN_MAX_TTL (and raised to
 * FETCH_TOKEN_MIN_TTL): a huge one does not wrap the expiry into the past
 * (the token would then be fetched again at once), a negative one still
 * keeps the token for a while.
 */
UNIT_TEST(fetch_token_ttl_clamped)
{
	struct env		 e;
	struct got		 g;
	struct fetch_opts	 o = opts(1000);
	static const char *const bodies[] = {
		"{\"token\":\"tok-123\",\"expires_in\":9223372036854775807}",
		"{\"token\":\"tok-123\",\"expires_in\":-9223372036854775807}",
		"{\"token\":\"tok-123\",\"expires_in\":0}",
	};
	size_t			 i;
	int			 n;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		env_init(&e);
		e.srv->token_body = bodies[i];
		get(&e, "/auth", &o, &g);
		T_EQ_INT(g.status, 200);
		T_EQ_INT(e.srv->ntoken, 1);
		/* still cached: sent up front, one request, no new token */
		n = e.srv->nrequests;
		get(&e, "/auth", &o, &g);
		T_EQ_INT(g.status, 200);
		T_EQ_INT(e.srv->ntoken, 1);
		T_EQ_INT(e.srv->nrequests, n + 1);
		env_free(&e);
	}
}

/* ---- streaming ---- */

struct sstate {
	struct env		*e;
	struct fetch_req	*req;
	int			 done;
	int			 status;
	int			 hstatus;
	int			 npause;
	int			 pause_every;
	int			 abort_after;
	size_t			 got;
	int			 bad_byte;
	char			 clen[32];
	char			 error[256];
};

static int
s_headers(struct fetch_req *r, int status, void *arg)
{
	struct sstate	*s = arg;
	const char	*cl = fetch_req_header(r, "content-length");

	s->hstatus = status;
	snprintf(s->clen, sizeof(s->clen), "%s", cl ? cl : "");
	return 0;
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sstate *s = arg;

	(void)fd;
	(void)what;
	if (!s->done)
		fetch_req_resume(s->req);
}

static int
s_data(struct fetch_req *r, const uint8_t *p, size_t len, void *arg)
{
	struct sstate	*s = arg;
	size_t		 i;

	(void)r;
	for (i = 0; i < len; i++)
		if (p[i] != tsrv_blob_byte(s->got + i))
			s->bad_byte = 1;
	s->got += len;
	if (s->abort_after > 0 && s->got >= (size_t)s->abort_after)
		return -1;
	if (s->pause_every > 0 && ++s->npause % s->pause_every == 0) {
		struct timeval tv = { 0, 1000 };

		event_base_once(s->e->base, -1, EV_TIMEOUT, resume_cb, s, &tv);
		return 1;
	}
	return 0;
}

static void
s_done(struct fetch_req *r, int status, const char *error, void *arg)
{
	struct sstate *s = arg;

	(void)r;
	s->done = 1;
	s->status = status;
	snprintf(s->error, sizeof(s->error), "%s", error ? error : "");
}

static void
stream(struct env *e, const char *path, const char *method, struct sstate *s)
{
	struct fetch_opts		o = opts(64 * 1024 * 1024);
	struct fetch_stream_opts	so;
	struct fetch_handlers		h = { s_headers, s_data, s_done, NULL };

	memset(&so, 0, sizeof(so));
	so.method = method;
	so.token_auth = 1;
	s->e = e;
	o.timeout_ms = 20000;
	T_EQ_INT(fetch_stream(e->fc, url(e, path), &o, &so, &h, s, &s->req), 0);
	T_EQ_INT(tsrv_run_until(e->base, &s->done, 1, 20000), 0);
}

UNIT_TEST(stream_pause_and_resume)
{
	struct env	e;
	struct sstate	s;

	env_init(&e);
	memset(&s, 0, sizeof(s));
	s.pause_every = 3;
	stream(&e, "/blob", NULL, &s);
	T_EQ_INT(s.status, 200);
	T_EQ_INT(s.hstatus, 200);
	T_EQ_STR(s.clen, "4194304");
	T_EQ_INT(s.got, 4194304);
	T_EQ_INT(s.bad_byte, 0);
	T_ASSERT(s.npause >= 3);
	env_free(&e);
}

UNIT_TEST(stream_upstream_dies_mid_body)
{
	struct env	e;
	struct sstate	s;

	env_init(&e);
	memset(&s, 0, sizeof(s));
	stream(&e, "/die", NULL, &s);
	T_EQ_INT(s.hstatus, 200);
	T_EQ_INT(s.status, TRUST_FETCH_NETERR);
	T_EQ_INT(s.got, 50000);
	env_free(&e);
}

UNIT_TEST(stream_abort_from_handler)
{
	struct env	e;
	struct sstate	s;

	env_init(&e);
	memset(&s, 0, sizeof(s));
	s.abort_after = 100000;
	stream(&e, "/blob", NULL, &s);
	T_EQ_INT(s.status, TRUST_FETCH_NETERR);
	T_CONTAINS(s.error, "aborted");
	T_ASSERT(s.got < 4194304);
	env_free(&e);
}

UNIT_TEST(stream_head)
{
	struct env	e;
	struct sstate	s;

	env_init(&e);
	memset(&s, 0, sizeof(s));
	stream(&e, "/ok", "HEAD", &s);
	T_EQ_INT(s.status, 200);
	T_EQ_STR(s.clen, "11");
	T_EQ_INT(s.got, 0);
	T_CONTAINS(e.srv->last_head, "Host: 127.0.0.1");
	env_free(&e);
}

UNIT_TEST(stream_head_401_token_retry)
{
	struct env	e;
	struct sstate	s;

	env_init(&e);
	memset(&s, 0, sizeof(s));
	stream(&e, "/auth", "HEAD", &s);
	T_EQ_INT(s.status, 200);
	T_EQ_INT(e.srv->ntoken, 1);
	env_free(&e);
}

UNIT_TEST(stream_cancel_from_outside)
{
	struct env		e;
	struct sstate		s;
	struct fetch_opts	o = opts(1000);
	struct fetch_handlers	h = { s_headers, s_data, s_done, NULL };
	int			never = 0;

	env_init(&e);
	memset(&s, 0, sizeof(s));
	T_EQ_INT(fetch_stream(e.fc, url(&e, "/slow"), &o, NULL, &h, &s, &s.req), 0);
	tsrv_run_until(e.base, &never, 1, 100);
	fetch_req_cancel(s.req);
	tsrv_run_until(e.base, &never, 1, 100);
	T_EQ_INT(s.done, 0);
	T_EQ_INT(e.srv->nconns, 0);
	env_free(&e);
}

/* Cancelling a request whose token request is pending cancels that too. */
UNIT_TEST(stream_cancel_with_pending_token)
{
	struct env		e;
	struct sstate		s;
	struct fetch_opts	o = opts(1000);
	struct fetch_stream_opts so;
	struct fetch_handlers	h = { s_headers, s_data, s_done, NULL };
	int			never = 0;

	env_init(&e);
	e.srv->hold_token = 1;
	memset(&s, 0, sizeof(s));
	memset(&so, 0, sizeof(so));
	so.token_auth = 1;
	T_EQ_INT(fetch_stream(e.fc, url(&e, "/auth"), &o, &so, &h, &s, &s.req), 0);
	T_EQ_INT(tsrv_run_until(e.base, &e.srv->ntoken, 1, 5000), 0);
	T_EQ_INT(e.srv->nheld, 1);
	fetch_req_cancel(s.req);
	tsrv_run_until(e.base, &never, 1, 100);
	T_EQ_INT(e.srv->nheld, 0);
	T_EQ_INT(e.srv->nconns, 0);
	T_EQ_INT(e.srv->ntoken, 1);
	T_EQ_INT(s.done, 0);
	env_free(&e);
}

UNIT_TEST(stream_many_concurrent)
{
	struct env		 e;
	struct sstate		 s[16];
	struct fetch_opts	 o = opts(64 * 1024 * 1024);
	struct fetch_handlers	 h = { s_headers, s_data, s_done, NULL };
	size_t			 i;
	int			 all = 0, never = 0;

	env_init(&e);
	e.srv->blob_len = 256 * 1024;
	o.timeout_ms = 20000;
	memset(s, 0, sizeof(s));
	for (i = 0; i < 16; i++) {
		s[i].e = &e;
		s[i].pause_every = (int)(i % 3);
		T_EQ_INT(fetch_stream(e.fc, url(&e, "/blob"), &o, NULL, &h, &s[i], &s[i].req), 0);
	}
	for (int round = 0; round < 200 && !all; round++) {
		tsrv_run_until(e.base, &never, 1, 50);
		all = 1;
		for (i = 0; i < 16; i++)
			all &= s[i].done;
	}
	T_ASSERT(all);
	for (i = 0; i < 16; i++) {
		T_EQ_INT(s[i].status, 200);
		T_EQ_INT(s[i].got, 256 * 1024);
		T_EQ_INT(s[i].bad_byte, 0);
	}
	env_free(&e);
}

/* ---- direct requests (fetch_stream_opts.direct) ----
 *
 * The body is read by fetch itself into evbuffer chains (on_buffer); any
 * answer but a framed 200/206 goes through curl again (on_data). Each test
 * checks which path the bytes took, with the handler counts and
 * fetch_get_stats().
 */

struct dreq {
	struct env		*e;
	struct fetch_req	*req;
	int			 done;
	int			 status;
	int			 hstatus;
	int			 nbuf;		/* on_buffer calls */
	int			 ndata;		/* on_data calls */
	int			 late;		/* a handler called after on_done or cancel */
	int			 cancelled;
	int			 pattern;	/* the body is /blob's, from offset */
	size_t			 offset;
	size_t			 got;
	size_t			 maxbuf;	/* the largest on_buffer delivery */
	int			 maxchains;	/* ... the most chains in one */
	size_t			 maxchain;	/* ... the largest chain */
	int			 bad;		/* a byte off the pattern */
	int			 pause_at;	/* return 1 from this delivery (1-based) */
	int			 abort_at;	/* return -1 from this delivery */
	int			 cancel_at;	/* cancel from a timer after this delivery */
	int			 pace;		/* pause every delivery, resume 1 ms later */
	int			 leftover;	/* on_buffer saw bytes left in its evbuffer */
	int			 probe;		/* measure the chains' unused space */
	size_t			 spare;		/* ... summed over deliveries */
	char			 clen[32];
	char			 body[8192];
	char			 error[256];
};

static void
d_take(struct dreq *d, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (d->pattern && p[i] != tsrv_blob_byte(d->offset + d->got + i))
			d->bad = 1;
		if (d->got + i < sizeof(d->body) - 1)
			d->body[d->got + i] = (char)p[i];
	}
	d->got += len;
}

static void
d_cancel_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dreq *d = arg;

	(void)fd;
	(void)what;
	if (!d->done && !d->cancelled) {
		d->cancelled = 1;
		fetch_req_cancel(d->req);
	}
}

static void
d_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dreq *d = arg;

	(void)fd;
	(void)what;
	if (!d->done && !d->cancelled)
		fetch_req_resume(d->req);
}

/* The return value for delivery n (on_buffer and on_data alike). */
static int
d_verdict(struct dreq *d, int n)
{
	struct timeval tv = { 0, 0 };

	if (d->pace) {
		tv.tv_usec = 1000;
		event_base_once(d->e->base, -1, EV_TIMEOUT, d_resume_cb, d, &tv);
		return 1;
	}
	if (n == d->abort_at)
		return -1;
	if (n == d->cancel_at) {
		event_base_once(d->e->base, -1, EV_TIMEOUT, d_cancel_cb, d, &tv);
		return 0;
	}
	return n == d->pause_at ? 1 : 0;
}

static int
d_headers(struct fetch_req *r, int status, void *arg)
{
	struct dreq	*d = arg;
	const char	*cl = fetch_req_header(r, "Content-Length");

	if (d->done || d->cancelled)
		d->late = 1;
	d->hstatus = status;
	snprintf(d->clen, sizeof(d->clen), "%s", cl ? cl : "");
	return 0;
}

static int
d_buffer(struct fetch_req *r, struct evbuffer *buf, void *arg)
{
	struct dreq	*d = arg;
	uint8_t		 tmp[65536];
	size_t		 len = evbuffer_get_length(buf);
	int		 n;

	(void)r;
	if (d->done || d->cancelled)
		d->late = 1;
	d->nbuf++;
	if (len > d->maxbuf)
		d->maxbuf = len;
	if ((n = evbuffer_peek(buf, -1, NULL, NULL, 0)) > d->maxchains)
		d->maxchains = n;
	if (n > 0 && n <= 64) {
		struct evbuffer_iovec	v[64];
		int			i;

		evbuffer_peek(buf, -1, NULL, v, n);
		for (i = 0; i < n; i++)
			if (v[i].iov_len > d->maxchain)
				d->maxchain = v[i].iov_len;
	}
	if (d->probe) {
		struct evbuffer_iovec v;

		/* one vector: the free space of the last chain (or a new small one) */
		if (evbuffer_reserve_space(buf, 1, &v, 1) == 1) {
			d->spare += v.iov_len;
			evbuffer_commit_space(buf, &v, 0);
		}
	}
	while ((n = evbuffer_remove(buf, tmp, sizeof(tmp))) > 0)
		d_take(d, tmp, (size_t)n);
	if (evbuffer_get_length(buf) != 0)
		d->leftover = 1;
	return d_verdict(d, d->nbuf + d->ndata);
}

static int
d_data(struct fetch_req *r, const uint8_t *p, size_t len, void *arg)
{
	struct dreq *d = arg;

	(void)r;
	if (d->done || d->cancelled)
		d->late = 1;
	d->ndata++;
	d_take(d, p, len);
	return d_verdict(d, d->nbuf + d->ndata);
}

static void
d_done(struct fetch_req *r, int status, const char *error, void *arg)
{
	struct dreq *d = arg;

	(void)r;
	if (d->done || d->cancelled)
		d->late = 1;
	d->done = 1;
	d->status = status;
	snprintf(d->error, sizeof(d->error), "%s", error ? error : "");
}

static struct fetch_opts
dopts(void)
{
	struct fetch_opts o;

	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = 2000;
	o.max_len = 256 * 1024 * 1024;
	return o;		/* timeout_ms 0: direct requests need it */
}

static struct fetch_stream_opts
dsopts(void)
{
	struct fetch_stream_opts so;

	memset(&so, 0, sizeof(so));
	so.token_auth = 1;
	so.direct = 1;
	return so;
}

/* Start a direct-asking GET of path; d is reset but for its knobs. */
static int
dstart(struct env *e, const char *path, const struct fetch_opts *o,
    const struct fetch_stream_opts *so, struct dreq *d)
{
	struct fetch_handlers h = { d_headers, d_data, d_done, d_buffer };

	d->e = e;
	return fetch_stream(e->fc, url(e, path), o, so, &h, d, &d->req);
}

/* A direct-asking GET of path with the default options, run to its end. */
static void
dget(struct env *e, const char *path, struct dreq *d)
{
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();

	T_EQ_INT(dstart(e, path, &o, &so, d), 0);
	T_EQ_INT(tsrv_run_until(e->base, &d->done, 1, 20000), 0);
}

static struct fetch_stats
stats(struct env *e)
{
	struct fetch_stats st;

	fetch_get_stats(e->fc, &st);
	return st;
}

/* Open file descriptors of this process (a leaked socket shows here). */
static int
nfds(void)
{
	char	path[64];
	int	fd, n = 0;

	for (fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

UNIT_TEST(direct_blob_read_whole)
{
	struct env			 e;
	struct dreq			 d;
	struct fetch_opts		 o = dopts();
	struct fetch_stream_opts	 so = dsopts();
	const char			*hdrs[] = { "X-Caller: blob-1" };
	char				 host[64];
	struct fetch_stats		 st;

	env_init(&e);
	e.srv->blob_len = 3 * 1024 * 1024 + 123;
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	o.headers = hdrs;
	o.nheaders = 1;
	so.buffer_size = 64 * 1024;
	T_EQ_INT(dstart(&e, "/blob", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 20000), 0);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.hstatus, 200);
	T_EQ_STR(d.clen, "3145851");
	T_EQ_INT(d.got, 3 * 1024 * 1024 + 123);
	T_EQ_INT(d.bad, 0);
	T_EQ_INT(d.ndata, 0);
	T_ASSERT(d.nbuf > 1);
	T_EQ_INT(d.leftover, 0);
	/* one read is buffer_size bytes at most */
	T_ASSERT(d.maxbuf <= 64 * 1024);
	st = stats(&e);
	T_EQ_INT(st.direct, 1);
	T_EQ_INT(st.fallback, 0);
	/* the request fetch wrote itself */
	snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", e.srv->port);
	T_CONTAINS(e.srv->last_head, host);
	T_ASSERT(strstr(e.srv->last_head, "Connection:") == NULL);	/* kept alive */
	T_CONTAINS(e.srv->last_head, "\r\nX-Caller: blob-1\r\n");
	T_CONTAINS(e.srv->last_head, "\r\nUser-Agent: dctproxy/");
	T_EQ_STR(e.srv->last_path, "/blob");
	T_EQ_INT(e.srv->nrequests, 1);
	env_free(&e);
}

UNIT_TEST(direct_range_206)
{
	struct env			 e;
	struct dreq			 d;
	struct fetch_opts		 o = dopts();
	struct fetch_stream_opts	 so = dsopts();
	const char			*hdrs[] = { "Range: bytes=1000000-" };

	env_init(&e);
	e.srv->blob_len = 2 * 1024 * 1024;
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	d.offset = 1000000;
	o.headers = hdrs;
	o.nheaders = 1;
	T_EQ_INT(dstart(&e, "/blob", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 20000), 0);
	T_EQ_INT(d.status, 206);
	T_EQ_INT(d.got, 2 * 1024 * 1024 - 1000000);
	T_EQ_INT(d.bad, 0);
	T_EQ_INT(d.ndata, 0);
	T_CONTAINS(e.srv->last_head, "\r\nRange: bytes=1000000-\r\n");
	T_EQ_INT(stats(&e).direct, 1);
	env_free(&e);
}

UNIT_TEST(direct_fallback_redirect_followed)
{
	struct env			e;
	struct dreq			d;
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();

	env_init(&e);
	e.srv->blob_len = 300000;
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	o.follow_redirects = 1;
	T_EQ_INT(dstart(&e, "/redirect-blob", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 20000), 0);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 300000);
	T_EQ_INT(d.bad, 0);
	T_EQ_INT(d.nbuf, 0);
	T_ASSERT(d.ndata > 0);
	T_EQ_STR(e.srv->last_path, "/blob");
	/* the direct 307, then curl's 307 and the blob */
	T_EQ_INT(e.srv->nrequests, 3);
	T_EQ_INT(stats(&e).fallback, 1);
	T_EQ_INT(stats(&e).direct, 0);
	env_free(&e);
}

/*
 * A challenge goes through curl, which fetches the token and retries; the
 * next request sends the token up front and is read directly.
 */
UNIT_TEST(direct_fallback_bearer_challenge)
{
	struct env	e;
	struct dreq	d;

	env_init(&e);
	memset(&d, 0, sizeof(d));
	dget(&e, "/auth", &d);
	T_EQ_INT(d.status, 200);
	T_EQ_STR(d.body, "secret");
	T_EQ_INT(d.nbuf, 0);
	T_EQ_INT(d.ndata, 1);
	T_EQ_INT(e.srv->ntoken, 1);
	T_CONTAINS(e.srv->last_head, "\r\nAuthorization: Bearer tok-123\r\n");
	T_EQ_INT(stats(&e).fallback, 1);
	T_EQ_INT(stats(&e).direct, 0);

	memset(&d, 0, sizeof(d));
	dget(&e, "/auth", &d);
	T_EQ_INT(d.status, 200);
	T_EQ_STR(d.body, "secret");
	T_EQ_INT(d.nbuf, 1);
	T_EQ_INT(d.ndata, 0);
	T_EQ_INT(e.srv->ntoken, 1);
	T_CONTAINS(e.srv->last_head, "\r\nAuthorization: Bearer tok-123\r\n");
	T_ASSERT(strstr(e.srv->last_head, "Connection:") == NULL);	/* kept alive */
	T_EQ_INT(stats(&e).fallback, 1);
	T_EQ_INT(stats(&e).direct, 1);

	/* the token sent up front is refused: curl again, a new token, then direct with it */
	e.srv->rotate_token = 1;
	memset(&d, 0, sizeof(d));
	dget(&e, "/auth", &d);
	T_EQ_INT(d.status, 200);
	T_EQ_STR(d.body, "secret");
	T_EQ_INT(d.ndata, 1);
	T_EQ_INT(e.srv->ntoken, 2);
	T_EQ_INT(stats(&e).fallback, 2);
	memset(&d, 0, sizeof(d));
	dget(&e, "/auth", &d);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.nbuf, 1);
	T_CONTAINS(e.srv->last_head, "\r\nAuthorization: Bearer tok-456\r\n");
	T_EQ_INT(e.srv->ntoken, 2);
	T_EQ_INT(stats(&e).direct, 2);
	env_free(&e);
}

/* Bodies not framed by exactly one Content-Length, and a 404: curl reads them. */
UNIT_TEST(direct_fallback_unframed_and_errors)
{
	struct env	e;
	struct dreq	d;
	size_t		i;

	env_init(&e);
	memset(&d, 0, sizeof(d));
	dget(&e, "/noclen", &d);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 5000);
	for (i = 0; i < 5000; i++)
		T_ASSERT(d.body[i] == 'n');
	T_EQ_INT(d.nbuf, 0);
	T_EQ_INT(stats(&e).fallback, 1);

	memset(&d, 0, sizeof(d));
	dget(&e, "/twoclen", &d);
	T_EQ_INT(d.status, 200);
	T_EQ_STR(d.body, "hello world");
	T_EQ_INT(d.nbuf, 0);
	T_EQ_INT(d.ndata, 1);
	T_EQ_INT(stats(&e).fallback, 2);

	memset(&d, 0, sizeof(d));
	dget(&e, "/chunked", &d);
	T_EQ_INT(d.status, 200);
	T_EQ_STR(d.body, "hello world");
	T_EQ_INT(d.nbuf, 0);
	T_EQ_INT(stats(&e).fallback, 3);

	memset(&d, 0, sizeof(d));
	dget(&e, "/nothing-here", &d);
	T_EQ_INT(d.status, 404);
	T_EQ_INT(d.hstatus, 404);
	T_EQ_STR(d.body, "not found");
	T_EQ_INT(d.nbuf, 0);
	T_EQ_INT(stats(&e).fallback, 4);

	/* a head with bare-LF line ends goes to curl, which reads it */
	memset(&d, 0, sizeof(d));
	dget(&e, "/lfhead", &d);
	T_EQ_INT(d.status, 200);
	T_EQ_STR(d.body, "hello");
	T_EQ_INT(d.nbuf, 0);
	T_EQ_INT(stats(&e).fallback, 5);
	T_EQ_INT(stats(&e).direct, 0);
	env_free(&e);
}

/* Paused, nothing is delivered and the upstream is held back; resumed, all of it comes. */
UNIT_TEST(direct_pause_and_resume)
{
	struct env			e;
	struct dreq			d;
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();
	int				never = 0;

	env_init(&e);
	e.srv->blob_len = 16 * 1024 * 1024;
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	d.pause_at = 1;
	so.buffer_size = 64 * 1024;
	T_EQ_INT(dstart(&e, "/blob", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.nbuf, 1, 5000), 0);
	tsrv_run_until(e.base, &never, 1, 200);
	T_EQ_INT(d.nbuf, 1);
	T_EQ_INT(d.done, 0);
	/* the socket buffers fill, then the server can write no more */
	T_ASSERT(e.srv->blob_sent < 16 * 1024 * 1024);
	fetch_req_resume(d.req);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 20000), 0);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 16 * 1024 * 1024);
	T_EQ_INT(d.bad, 0);
	T_ASSERT(d.nbuf > 2);
	T_EQ_INT(d.ndata, 0);
	T_EQ_INT(d.late, 0);
	env_free(&e);
}

/*
 * Paused while the whole body is already in the socket: no new edge will
 * come for it, so the resume itself must read it.
 */
UNIT_TEST(direct_pause_after_upstream_sent_all)
{
	struct env			e;
	struct dreq			d;
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();
	int				never = 0;

	env_init(&e);
	e.srv->blob_len = 48 * 1024;
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	d.pause_at = 1;
	so.buffer_size = 4096;
	T_EQ_INT(dstart(&e, "/blob", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.nbuf, 1, 5000), 0);
	T_EQ_INT(tsrv_run_until(e.base, &e.srv->blobs_done, 1, 5000), 0);
	tsrv_run_until(e.base, &never, 1, 200);
	T_EQ_INT(d.nbuf, 1);
	T_ASSERT(d.got < 48 * 1024);
	T_EQ_INT(d.done, 0);
	fetch_req_resume(d.req);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 5000), 0);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 48 * 1024);
	T_EQ_INT(d.bad, 0);
	T_ASSERT(d.nbuf > 2);
	env_free(&e);
}

/*
 * Paused while the upstream sends the rest of a short body and closes:
 * the resume reads the bytes in one short read with the end of stream
 * behind them, which raises no new edge. The failure comes at once, not
 * after the idle limit.
 */
UNIT_TEST(direct_pause_then_upstream_dies)
{
	struct env			e;
	struct dreq			d;
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();
	int				never = 0;

	env_init(&e);
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	d.pause_at = 1;
	so.buffer_size = 64 * 1024;
	so.low_speed_bps = 1;
	so.low_speed_s = 30;
	T_EQ_INT(dstart(&e, "/die", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.nbuf, 1, 5000), 0);
	tsrv_run_until(e.base, &never, 1, 300);
	T_EQ_INT(e.srv->nconns, 0);	/* all sent, and closed */
	T_EQ_INT(d.nbuf, 1);
	T_ASSERT(d.got < 50000);
	T_EQ_INT(d.done, 0);
	fetch_req_resume(d.req);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 3000), 0);
	T_EQ_INT(d.status, TRUST_FETCH_NETERR);
	T_CONTAINS(d.error, "with 50000 body bytes still to come");
	T_EQ_INT(d.got, 50000);
	T_EQ_INT(d.bad, 0);
	env_free(&e);
}

/*
 * The direct requests under way share the read budget, counted from their
 * start: each read takes at most budget / n, as whole blocks of the chain
 * size, or below one block a power of two, never below
 * FETCH_DIRECT_MIN_READ. The deliveries keep to it.
 */
UNIT_TEST(direct_reads_share_the_budget)
{
	struct env			e;
	struct dreq			d[3];
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();
	int				i, never = 0;
	const size_t			budget = 512 * 1024, chain = 64 * 1024;
	const size_t			len = 8 * 1024 * 1024;

	env_init(&e);
	e.srv->blob_len = len;
	fetch_ctx_set_direct_budget(e.fc, budget, chain);
	so.buffer_size = 4 * 1024 * 1024;
	memset(d, 0, sizeof(d));
	for (i = 0; i < 3; i++) {
		d[i].pattern = 1;
		d[i].pause_at = 1;
		T_EQ_INT(dstart(&e, "/blob", &o, &so, &d[i]), 0);
	}
	/* under way from the start, before any byte came */
	T_EQ_INT(fetch_req_read_size(d[0].req), 2 * chain);	/* a share of 170 KiB: 2 chains */
	for (i = 0; i < 3; i++)
		T_EQ_INT(tsrv_run_until(e.base, &d[i].nbuf, 1, 5000), 0);
	tsrv_run_until(e.base, &never, 1, 200);
	/* d[0] reads while the others wait, paused */
	d[0].maxbuf = 0;
	fetch_req_resume(d[0].req);
	T_EQ_INT(tsrv_run_until(e.base, &d[0].done, 1, 20000), 0);
	T_EQ_INT(d[0].status, 200);
	T_EQ_INT(d[0].got, len);
	T_EQ_INT(d[0].bad, 0);
	T_ASSERT(d[0].maxbuf <= 2 * chain);
	T_ASSERT(d[0].maxchain <= chain);
	/* two left: 4 chains each */
	T_EQ_INT(fetch_req_read_size(d[1].req), 4 * chain);
	d[1].maxbuf = 0;
	fetch_req_resume(d[1].req);
	T_EQ_INT(tsrv_run_until(e.base, &d[1].done, 1, 20000), 0);
	T_EQ_INT(d[1].got, len);
	T_EQ_INT(d[1].bad, 0);
	T_ASSERT(d[1].maxbuf <= 4 * chain);
	/* alone: 8 chains, then the caller's buffer_size caps it */
	T_EQ_INT(fetch_req_read_size(d[2].req), 8 * chain);
	fetch_ctx_set_direct_budget(e.fc, 64 * 1024 * 1024, chain);
	T_EQ_INT(fetch_req_read_size(d[2].req), (4 * 1024 * 1024) / chain * chain);
	/* below one chain: a power of two less a chain header */
	fetch_ctx_set_direct_budget(e.fc, 3 * 128 * 1024, FETCH_DIRECT_CHAIN);
	T_EQ_INT(fetch_req_read_size(d[2].req), 256 * 1024);
	/* never below the floor */
	fetch_ctx_set_direct_budget(e.fc, 1024, FETCH_DIRECT_CHAIN);
	T_EQ_INT(fetch_req_read_size(d[2].req), FETCH_DIRECT_MIN_READ);
	fetch_ctx_set_direct_budget(e.fc, 3 * 128 * 1024, FETCH_DIRECT_CHAIN);
	d[2].maxbuf = 0;
	d[2].maxchains = 0;
	fetch_req_resume(d[2].req);
	T_EQ_INT(tsrv_run_until(e.base, &d[2].done, 1, 20000), 0);
	T_EQ_INT(d[2].got, len);
	T_EQ_INT(d[2].bad, 0);
	T_ASSERT(d[2].maxbuf <= 256 * 1024);
	T_EQ_INT(d[2].maxchains, 1);
	env_free(&e);
}

/* Pause at every delivery, resumed from a timer each time. */
UNIT_TEST(direct_pause_every_delivery)
{
	struct env			e;
	struct dreq			d;
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();

	env_init(&e);
	e.srv->blob_len = 2 * 1024 * 1024 + 7;
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	d.pace = 1;
	so.buffer_size = 32 * 1024;
	T_EQ_INT(dstart(&e, "/blob", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 30000), 0);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 2 * 1024 * 1024 + 7);
	T_EQ_INT(d.bad, 0);
	T_ASSERT(d.nbuf >= 64);
	T_EQ_INT(d.late, 0);
	env_free(&e);
}

UNIT_TEST(direct_upstream_dies_mid_body)
{
	struct env	e;
	struct dreq	d;

	env_init(&e);
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	dget(&e, "/die", &d);
	T_EQ_INT(d.hstatus, 200);
	T_EQ_INT(d.status, TRUST_FETCH_NETERR);
	T_CONTAINS(d.error, "with 50000 body bytes still to come");
	T_EQ_INT(d.got, 50000);
	T_EQ_INT(d.bad, 0);
	T_EQ_INT(d.ndata, 0);
	T_EQ_INT(stats(&e).direct, 1);
	T_EQ_INT(stats(&e).fallback, 0);
	env_free(&e);
}

/*
 * The end of stream comes with the last bytes, in one edge: a short read
 * does not mean the upstream is merely slow. Fails at once, not after the
 * idle limit.
 */
UNIT_TEST(direct_upstream_dies_with_the_bytes)
{
	struct env			e;
	struct dreq			d;
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();

	env_init(&e);
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	so.buffer_size = 1024 * 1024;
	so.low_speed_bps = 1;
	so.low_speed_s = 30;
	T_EQ_INT(dstart(&e, "/diefast", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 3000), 0);
	T_EQ_INT(d.hstatus, 200);
	T_EQ_INT(d.status, TRUST_FETCH_NETERR);
	T_CONTAINS(d.error, "with 70000 body bytes still to come");
	T_EQ_INT(d.got, 30000);
	T_EQ_INT(d.bad, 0);
	T_EQ_INT(stats(&e).direct, 1);
	env_free(&e);
}

UNIT_TEST(direct_short_body)
{
	struct env	e;
	struct dreq	d;

	env_init(&e);
	memset(&d, 0, sizeof(d));
	dget(&e, "/short", &d);
	T_EQ_INT(d.status, TRUST_FETCH_NETERR);
	T_CONTAINS(d.error, "with 990 body bytes still to come");
	T_EQ_INT(d.got, 10);
	T_EQ_STR(d.body, "0123456789");
	env_free(&e);
}

UNIT_TEST(direct_malformed_status_line)
{
	struct env	e;
	struct dreq	d;

	env_init(&e);
	memset(&d, 0, sizeof(d));
	dget(&e, "/badstatus", &d);
	T_EQ_INT(d.status, TRUST_FETCH_NETERR);
	T_CONTAINS(d.error, "malformed HTTP status line");
	T_EQ_INT(d.hstatus, 0);
	T_EQ_INT(d.got, 0);
	T_EQ_INT(stats(&e).direct, 0);
	T_EQ_INT(stats(&e).fallback, 0);
	env_free(&e);
}

UNIT_TEST(direct_head_over_cap)
{
	struct env	e;
	struct dreq	d;

	env_init(&e);
	memset(&d, 0, sizeof(d));
	dget(&e, "/hugehead", &d);
	T_EQ_INT(d.status, TRUST_FETCH_NETERR);
	T_CONTAINS(d.error, "response headers over their cap");
	T_EQ_INT(d.hstatus, 0);
	T_EQ_INT(d.got, 0);
	T_EQ_INT(stats(&e).fallback, 0);
	env_free(&e);
}

/* An upstream silent after the head: dropped after low_speed_s, not FETCH_DIRECT_IDLE_S. */
UNIT_TEST(direct_idle_limit)
{
	struct env			e;
	struct dreq			d;
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();
	double				t0, dt;
	int				never = 0;

	env_init(&e);
	memset(&d, 0, sizeof(d));
	so.low_speed_bps = 1;
	so.low_speed_s = 1;
	t0 = mono_s();
	T_EQ_INT(dstart(&e, "/stall", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 10000), 0);
	dt = mono_s() - t0;
	T_EQ_INT(d.status, TRUST_FETCH_NETERR);
	T_CONTAINS(d.error, "no data from the upstream for 1 s");
	T_EQ_INT(d.hstatus, 200);
	T_EQ_INT(d.got, 10);
	T_ASSERT(dt >= 0.9 && dt < 3.0);
	/* the connection is gone */
	tsrv_run_until(e.base, &never, 1, 200);
	T_EQ_INT(e.srv->nheld, 0);
	T_EQ_INT(e.srv->nconns, 0);
	env_free(&e);
}

/* A failed connect does not go to curl again: it would fail alike. */
UNIT_TEST(direct_refused_connection)
{
	struct env			e;
	struct dreq			d;
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();
	struct fetch_handlers		h = { d_headers, d_data, d_done, d_buffer };

	env_init(&e);
	memset(&d, 0, sizeof(d));
	d.e = &e;
	T_EQ_INT(fetch_stream(e.fc, "http://127.0.0.1:1/blob", &o, &so, &h, &d, &d.req), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 5000), 0);
	T_EQ_INT(d.status, TRUST_FETCH_NETERR);
	T_ASSERT(d.error[0] != '\0');
	T_EQ_INT(d.hstatus, 0);
	T_EQ_INT(d.nbuf + d.ndata, 0);
	T_EQ_INT(stats(&e).fallback, 0);
	T_EQ_INT(stats(&e).direct, 0);
	env_free(&e);
}

UNIT_TEST(direct_abort_from_handler)
{
	struct env	e;
	struct dreq	d;
	int		never = 0;

	env_init(&e);
	e.srv->blob_len = 32 * 1024 * 1024;
	memset(&d, 0, sizeof(d));
	d.abort_at = 2;
	dget(&e, "/blob", &d);
	T_EQ_INT(d.status, TRUST_FETCH_NETERR);
	T_CONTAINS(d.error, "aborted by the caller");
	T_EQ_INT(d.nbuf, 2);
	T_EQ_INT(d.late, 0);
	T_ASSERT(d.got < 32 * 1024 * 1024);
	/* the upstream connection is closed */
	tsrv_run_until(e.base, &never, 1, 300);
	T_EQ_INT(e.srv->nconns, 0);
	T_ASSERT(e.srv->blob_sent < 32 * 1024 * 1024);
	env_free(&e);
}

UNIT_TEST(direct_content_length_over_cap)
{
	struct env			e;
	struct dreq			d;
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();

	env_init(&e);
	e.srv->blob_len = 100001;
	memset(&d, 0, sizeof(d));
	o.max_len = 100000;
	T_EQ_INT(dstart(&e, "/blob", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 5000), 0);
	T_EQ_INT(d.status, TRUST_FETCH_TOOBIG);
	T_CONTAINS(d.error, "over 100000 bytes");
	T_EQ_INT(d.hstatus, 0);
	T_EQ_INT(d.got, 0);
	T_EQ_INT(stats(&e).fallback, 0);
	/* exactly the cap is fine */
	e.srv->blob_len = 100000;
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	T_EQ_INT(dstart(&e, "/blob", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 5000), 0);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 100000);
	T_EQ_INT(d.bad, 0);
	T_EQ_INT(stats(&e).direct, 1);
	env_free(&e);
}

/* Content-Length 5 and 100 bytes in the same write as the head: the 5 promised. */
UNIT_TEST(direct_bytes_past_content_length_dropped)
{
	struct env	e;
	struct dreq	d;

	env_init(&e);
	memset(&d, 0, sizeof(d));
	dget(&e, "/understate", &d);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 5);
	T_EQ_STR(d.body, "uuuuu");
	T_EQ_INT(d.nbuf, 1);
	T_EQ_INT(d.ndata, 0);
	T_EQ_INT(stats(&e).direct, 1);
	env_free(&e);
}

/*
 * fetch_req_cancel() from outside the handlers in each state of a direct
 * request: no handler afterwards, the upstream connection closed, no
 * descriptor left open (and no memory: the sanitizer run).
 */
static void
direct_cancel_case(int blob_mib, int cancel_at, int pause_at, const char *path,
    int connected)
{
	struct env	e;
	struct dreq	d;
	int		never = 0, fds0, nbuf;

	env_init(&e);
	e.srv->blob_len = (size_t)blob_mib * 1024 * 1024;
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	d.cancel_at = cancel_at;
	d.pause_at = pause_at;
	fds0 = nfds();
	{
		struct fetch_opts		o = dopts();
		struct fetch_stream_opts	so = dsopts();

		so.buffer_size = 64 * 1024;
		T_EQ_INT(dstart(&e, path, &o, &so, &d), 0);
	}
	if (cancel_at > 0)
		T_EQ_INT(tsrv_run_until(e.base, &d.cancelled, 1, 10000), 0);
	else {
		if (pause_at > 0)
			T_EQ_INT(tsrv_run_until(e.base, &d.nbuf, pause_at, 10000), 0);
		else if (connected)
			T_EQ_INT(tsrv_run_until(e.base, &e.srv->nheld, 1, 5000), 0);
		if (connected)
			tsrv_run_until(e.base, &never, 1, 50);
		d.cancelled = 1;
		fetch_req_cancel(d.req);
	}
	nbuf = d.nbuf;
	tsrv_run_until(e.base, &never, 1, 300);
	T_EQ_INT(d.nbuf, nbuf);
	T_EQ_INT(d.done, 0);
	T_EQ_INT(d.late, 0);
	T_EQ_INT(d.bad, 0);
	if (pause_at > 0 || cancel_at > 0)
		T_ASSERT(d.got > 0 && d.got < (size_t)blob_mib * 1024 * 1024);
	T_EQ_INT(e.srv->nconns, 0);
	T_EQ_INT(nfds(), fds0);
	env_free(&e);
}

UNIT_TEST(direct_cancel_mid_body)
{
	direct_cancel_case(64, 3, 0, "/blob", 1);
}

UNIT_TEST(direct_cancel_while_paused)
{
	direct_cancel_case(64, 0, 2, "/blob", 1);
}

UNIT_TEST(direct_cancel_waiting_for_the_head)
{
	direct_cancel_case(1, 0, 0, "/slow", 1);
}

UNIT_TEST(direct_cancel_while_connecting)
{
	direct_cancel_case(1, 0, 0, "/blob", 0);
}

/* A proxy in the environment when the ctx is made: the request goes through curl. */
UNIT_TEST(direct_not_with_env_proxy)
{
	struct env			 e;
	struct dreq			 d;
	struct fetch_opts		 o = dopts();
	struct fetch_stream_opts	 so = dsopts();
	struct fetch_ctx		*plain;
	int				 rc, ran;

	env_init(&e);
	e.srv->blob_len = 300000;
	plain = e.fc;
	/* curl would use the proxy but for no_proxy: it connects to tsrv itself */
	setenv("http_proxy", "http://127.0.0.1:1", 1);
	setenv("no_proxy", "127.0.0.1", 1);
	e.fc = fetch_ctx_new(e.base);
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	rc = e.fc != NULL ? dstart(&e, "/blob", &o, &so, &d) : -1;
	ran = rc == 0 ? tsrv_run_until(e.base, &d.done, 1, 10000) : -1;
	unsetenv("http_proxy");
	unsetenv("no_proxy");
	T_EQ_INT(rc, 0);
	T_EQ_INT(ran, 0);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 300000);
	T_EQ_INT(d.bad, 0);
	T_EQ_INT(d.nbuf, 0);
	T_ASSERT(d.ndata > 0);
	T_EQ_INT(stats(&e).direct, 0);
	T_EQ_INT(stats(&e).fallback, 0);
	/* curl's request, not fetch's own */
	T_ASSERT(strstr(e.srv->last_head, "Connection: close") == NULL);
	fetch_ctx_free(e.fc);
	e.fc = plain;
	env_free(&e);
}

/* Not direct: a total timeout, no on_buffer, HEAD. */
UNIT_TEST(direct_only_when_possible)
{
	struct env			e;
	struct dreq			d;
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();
	struct fetch_handlers		h = { d_headers, d_data, d_done, NULL };

	env_init(&e);
	e.srv->blob_len = 100000;
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	o.timeout_ms = 10000;
	T_EQ_INT(dstart(&e, "/blob", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 10000), 0);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 100000);
	T_EQ_INT(d.nbuf, 0);

	memset(&d, 0, sizeof(d));
	d.e = &e;
	d.pattern = 1;
	o.timeout_ms = 0;
	T_EQ_INT(fetch_stream(e.fc, url(&e, "/blob"), &o, &so, &h, &d, &d.req), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 10000), 0);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 100000);
	T_EQ_INT(d.bad, 0);

	memset(&d, 0, sizeof(d));
	so.method = "HEAD";
	T_EQ_INT(dstart(&e, "/blob", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 10000), 0);
	T_EQ_INT(d.status, 200);
	T_EQ_STR(d.clen, "100000");
	T_EQ_INT(d.got, 0);
	/* curl's requests, not fetch's own */
	T_ASSERT(strstr(e.srv->last_head, "Connection: close") == NULL);
	T_EQ_INT(stats(&e).direct, 0);
	T_EQ_INT(stats(&e).fallback, 0);
	env_free(&e);
}

/* Content-Length: 0 and nothing more on a connection kept open: a complete, empty 200. */
UNIT_TEST(direct_empty_body)
{
	struct env	e;
	struct dreq	d;

	env_init(&e);
	memset(&d, 0, sizeof(d));
	dget(&e, "/empty", &d);
	T_EQ_STR(d.error, "");
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.hstatus, 200);
	T_EQ_STR(d.clen, "0");
	T_EQ_INT(d.got, 0);
	T_EQ_INT(d.ndata, 0);
	T_EQ_INT(stats(&e).direct, 1);
	T_EQ_INT(stats(&e).fallback, 0);
	env_free(&e);
}

/* A finished direct read keeps its connection; the next one to the origin uses it. */
UNIT_TEST(direct_keepalive_reuses_connection)
{
	struct env	e;
	struct dreq	d;
	int		i, never = 0;

	env_init(&e);
	e.srv->blob_len = 1024 * 1024 + 7;
	for (i = 0; i < 3; i++) {
		memset(&d, 0, sizeof(d));
		d.pattern = 1;
		dget(&e, "/blob", &d);
		T_EQ_INT(d.status, 200);
		T_EQ_INT(d.got, 1024 * 1024 + 7);
		T_EQ_INT(d.bad, 0);
		T_EQ_INT(d.ndata, 0);
	}
	T_EQ_INT(stats(&e).direct, 3);
	T_EQ_INT(stats(&e).reused, 2);
	T_EQ_INT(stats(&e).retried, 0);
	T_EQ_INT(e.srv->naccepted, 1);
	T_ASSERT(strstr(e.srv->last_head, "Connection:") == NULL);
	/* the kept connection stays open on both sides until the ctx goes */
	tsrv_run_until(e.base, &never, 1, 100);
	T_EQ_INT(e.srv->nconns, 1);
	env_free(&e);
}

/* "Connection: close", bytes past Content-Length, a failed read: nothing is kept. */
UNIT_TEST(direct_keepalive_only_when_allowed)
{
	struct env	e;
	struct dreq	d;

	env_init(&e);
	e.srv->blob_len = 1000;
	memset(&d, 0, sizeof(d));
	dget(&e, "/okclose", &d);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 5);
	memset(&d, 0, sizeof(d));
	dget(&e, "/understate", &d);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 5);
	memset(&d, 0, sizeof(d));
	dget(&e, "/die", &d);
	T_EQ_INT(d.status, TRUST_FETCH_NETERR);
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	dget(&e, "/blob", &d);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 1000);
	T_EQ_INT(stats(&e).direct, 4);
	T_EQ_INT(stats(&e).reused, 0);
	T_EQ_INT(e.srv->naccepted, 4);
	env_free(&e);
}

/* A kept connection the upstream closed meanwhile: the request goes out again on a new one. */
UNIT_TEST(direct_keepalive_stale_connection_retried)
{
	struct env	e;
	struct dreq	d;
	int		fds;

	env_init(&e);
	e.srv->blob_len = 300000;
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	dget(&e, "/blob", &d);
	T_EQ_INT(d.got, 300000);
	fds = nfds();
	e.srv->drop_next = 1;
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	dget(&e, "/blob", &d);
	T_EQ_STR(d.error, "");
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 300000);
	T_EQ_INT(d.bad, 0);
	T_EQ_INT(stats(&e).reused, 1);
	T_EQ_INT(stats(&e).retried, 1);
	T_EQ_INT(e.srv->naccepted, 2);
	T_EQ_INT(e.srv->nrequests, 3);
	/* the dead socket is closed, the new one kept in its place */
	T_EQ_INT(nfds(), fds);
	env_free(&e);
}

/* The upstream closes an idle kept connection: it leaves the pool at once. */
UNIT_TEST(direct_keepalive_closed_idle_dropped)
{
	struct env	e;
	struct dreq	d;
	int		never = 0, fds;

	env_init(&e);
	e.srv->blob_len = 5000;
	fds = nfds();
	memset(&d, 0, sizeof(d));
	dget(&e, "/blob", &d);
	T_EQ_INT(d.got, 5000);
	T_EQ_INT(nfds(), fds + 2);	/* both ends of the kept connection */
	tsrv_free(e.srv);		/* closes the server's end */
	e.srv = tsrv_new(e.base);
	T_ASSERT(e.srv != NULL);
	tsrv_run_until(e.base, &never, 1, 100);
	/* the old listener is replaced by the new one; our kept socket was dropped */
	T_EQ_INT(nfds(), fds);
	env_free(&e);
}

/* Direct requests in every state when their ctx goes: no handler, nothing left open. */
UNIT_TEST(direct_pending_at_ctx_free)
{
	struct env			e;
	struct dreq			d[3];
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();
	int				never = 0, fds0, i;

	env_init(&e);
	e.srv->blob_len = 64 * 1024 * 1024;
	memset(d, 0, sizeof(d));
	/* a ctx holds descriptors of its own (curl's wakeup pair): count without it */
	fetch_ctx_free(e.fc);
	fds0 = nfds();
	T_ASSERT((e.fc = fetch_ctx_new(e.base)) != NULL);
	d[0].pause_at = 1;
	T_EQ_INT(dstart(&e, "/blob", &o, &so, &d[0]), 0);	/* paused mid-body */
	T_EQ_INT(dstart(&e, "/slow", &o, &so, &d[1]), 0);	/* waiting for the head */
	T_EQ_INT(tsrv_run_until(e.base, &d[0].nbuf, 1, 5000), 0);
	T_EQ_INT(tsrv_run_until(e.base, &e.srv->nheld, 1, 5000), 0);
	T_EQ_INT(dstart(&e, "/blob", &o, &so, &d[2]), 0);	/* not connected yet */
	fetch_ctx_free(e.fc);
	e.fc = NULL;
	tsrv_run_until(e.base, &never, 1, 300);
	for (i = 0; i < 3; i++) {
		T_EQ_INT(d[i].done, 0);
		T_EQ_INT(d[i].late, 0);
	}
	T_EQ_INT(d[0].nbuf, 1);
	T_EQ_INT(e.srv->nconns, 0);
	T_EQ_INT(nfds(), fds0);
	env_free(&e);
}

/*
 * The chains handed to on_buffer are sized to what a read found, not to
 * buffer_size: a caller that queues them (a slow client) holds memory in
 * proportion to the bytes, not 512 KiB per read of 16 KiB.
 */
UNIT_TEST(direct_short_reads_hold_little_memory)
{
	struct env			e;
	struct dreq			d;
	struct fetch_opts		o = dopts();
	struct fetch_stream_opts	so = dsopts();

	env_init(&e);
	e.srv->blob_len = 4 * 1024 * 1024;
	memset(&d, 0, sizeof(d));
	d.pattern = 1;
	d.probe = 1;
	so.buffer_size = 512 * 1024 - 512;	/* as stream.c asks */
	T_EQ_INT(dstart(&e, "/blob", &o, &so, &d), 0);
	T_EQ_INT(tsrv_run_until(e.base, &d.done, 1, 20000), 0);
	T_EQ_INT(d.status, 200);
	T_EQ_INT(d.got, 4 * 1024 * 1024);
	T_EQ_INT(d.bad, 0);
	if (getenv("TEST_VERBOSE") != NULL)
		fprintf(stderr, "%d deliveries, %zu bytes, %zu spare\n", d.nbuf, d.got, d.spare);
	/* tsrv writes 16 KiB at a time: most reads are short */
	T_ASSERT(d.nbuf > 16);
	T_ASSERT(d.spare <= 2 * d.got);
	env_free(&e);
}
