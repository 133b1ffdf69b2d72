/*
 * fetch.c against the misbehaving in-process server (tsrv.c): caps,
 * lies, timeouts, token auth, streaming with backpressure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
