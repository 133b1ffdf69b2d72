/*
 * webhook.c and fetch.c's POST against an in-process evhttp receiver on
 * the test's event_base: what is sent (method, body, Content-Type), which
 * verdicts each webhook gets, retries after a failed attempt, the queue
 * cap, a reload that keeps one webhook and removes another, and shutdown
 * with events still queued (the sanitizer build checks nothing leaks).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "proxy/server_int.h"
#include "tests/proxy/tsrv.h"
#include "tests/unit.h"

#define RECV_MAX	16

struct recv {
	struct evhttp	*http;
	int		 port;
	int		 fail;		/* answer 500 to this many requests first */
	int		 hold;		/* never answer */
	int		 n;		/* requests answered 2xx */
	int		 nall;		/* requests seen */
	char		 method[8];
	char		 ctype[64];
	int		 expect_hdr;	/* an Expect header arrived */
	char		 path[RECV_MAX][64];
	char		 body[RECV_MAX][2048];
};

struct wenv {
	struct event_base	*base;
	struct fetch_ctx	*fc;
	struct recv		 rv;
	struct config		*cfg;
	struct webhooks		*w;
	char			 dir[64];
	char			 cfgpath[128];
};

static void
on_req(struct evhttp_request *req, void *arg)
{
	struct recv	*rv = arg;
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char	*v;
	size_t		 len = evbuffer_get_length(in);
	int		 i;

	rv->nall++;
	snprintf(rv->method, sizeof(rv->method), "%s",
	    evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "other");
	v = evhttp_find_header(h, "Content-Type");
	snprintf(rv->ctype, sizeof(rv->ctype), "%s", v ? v : "");
	if (evhttp_find_header(h, "Expect") != NULL)
		rv->expect_hdr = 1;
	if (rv->hold)
		return;		/* evhttp_free() frees it */
	if (rv->fail > 0) {
		rv->fail--;
		evhttp_send_reply(req, 500, "Internal Server Error", NULL);
		return;
	}
	if ((i = rv->n) < RECV_MAX) {
		snprintf(rv->path[i], sizeof(rv->path[i]), "%s", evhttp_request_get_uri(req));
		if (len >= sizeof(rv->body[i]))
			len = sizeof(rv->body[i]) - 1;
		evbuffer_copyout(in, rv->body[i], len);
		rv->body[i][len] = '\0';
	}
	rv->n++;
	evhttp_send_reply(req, 204, "No Content", NULL);
}

static int
recv_start(struct event_base *base, struct recv *rv)
{
	struct evhttp_bound_socket	*bs;
	struct sockaddr_in		 sin;
	socklen_t			 len = sizeof(sin);

	if ((rv->http = evhttp_new(base)) == NULL ||
	    (bs = evhttp_bind_socket_with_handle(rv->http, "127.0.0.1", 0)) == NULL ||
	    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &len) == -1)
		return -1;
	rv->port = ntohs(sin.sin_port);
	evhttp_set_gencb(rv->http, on_req, rv);
	return 0;
}

/* Run the loop until webhook i (-1: all) has delivered want events, or ms pass. */
static int
run_until_delivered(struct wenv *e, int i, uint64_t want, long ms)
{
	struct webhook_stats	st;
	int			n, tick = 0;

	for (n = 0; n < ms / 20; n++) {
		if (i < 0)
			webhook_totals(e->w, &st);
		else if (webhook_stats(e->w, (size_t)i, NULL, &st) == -1)
			return -1;
		if (st.delivered >= want)
			return 0;
		tick = 0;
		tsrv_run_until(e->base, &tick, 1, 20);
	}
	return -1;
}

/* A config whose "webhooks" value is hooks (a JSON array). */
static struct config *
load(struct wenv *e, const char *hooks)
{
	struct config_errors	*errs;
	struct config		*cfg = NULL;
	FILE			*f;

	T_ASSERT((f = fopen(e->cfgpath, "w")) != NULL);
	fprintf(f, "{\"listeners\":[{\"address\":\"127.0.0.1:1\"}],"
	    "\"state_dir\":\"%s\",\"registries\":[{\"name\":\"r.test\","
	    "\"upstream\":\"http://127.0.0.1:1\",\"notary\":{\"url\":\"https://127.0.0.1:1\"}}],"
	    "\"webhooks\":%s}\n", e->dir, hooks);
	T_EQ_INT(fclose(f), 0);
	T_ASSERT((errs = calloc(1, sizeof(*errs))) != NULL);
	if (config_load(e->cfgpath, &cfg, errs) == -1) {
		fprintf(stderr, "%s\n", errs->n ? errs->msgs[0].msg : "?");
		free(errs);
		T_ASSERT(0);
	}
	free(errs);
	return cfg;
}

static void
wenv_init(struct wenv *e)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "%s", unit_tmpdir());
	snprintf(e->cfgpath, sizeof(e->cfgpath), "%s/config.json", e->dir);
	T_ASSERT((e->base = event_base_new()) != NULL);
	T_ASSERT((e->fc = fetch_ctx_new(e->base)) != NULL);
	T_EQ_INT(recv_start(e->base, &e->rv), 0);
}

static void
wenv_free(struct wenv *e)
{
	webhook_free(e->w);
	fetch_ctx_free(e->fc);
	config_free(e->cfg);
	if (e->rv.http != NULL)
		evhttp_free(e->rv.http);
	event_base_free(e->base);
}

static struct audit_rec
rec(const char *path, const char *decision)
{
	struct audit_rec r;

	memset(&r, 0, sizeof(r));
	r.kind = "manifest";
	r.client = "127.0.0.1";
	r.method = "GET";
	r.path = path;
	r.repo = "library/alpine";
	r.ref = "latest";
	r.gun = "r.test/library/alpine";
	r.decision = decision;
	r.reason = strcmp(decision, "allow") == 0 ? NULL : "not-signed";
	r.message = "";
	r.role = "";
	r.at.tv_sec = 1700000000;
	r.at.tv_nsec = 123000000;
	return r;
}

static const char *
jstr(const char *body, const char *key, char *out, size_t len)
{
	json_t		*o = json_loads(body, 0, NULL);
	const char	*v = o ? json_string_value(json_object_get(o, key)) : NULL;

	snprintf(out, len, "%s", v ? v : "(none)");
	json_decref(o);
	return out;
}

static int
got_done(struct fetch_req *r, const uint8_t *p, size_t n, void *arg)
{
	(void)r;
	(void)p;
	(void)n;
	(void)arg;
	return 0;
}

static void
post_done(struct fetch_req *r, int status, const char *error, void *arg)
{
	(void)r;
	(void)error;
	*(int *)arg = status;
}

UNIT_TEST(fetch_post_sends_the_body)
{
	struct wenv		 e;
	struct fetch_opts	 o;
	struct fetch_stream_opts so;
	struct fetch_handlers	 h = { NULL, got_done, post_done, NULL };
	char			 url[128];
	int			 status = 0;
	static const char	 body[] = "{\"a\":1}";

	wenv_init(&e);
	memset(&o, 0, sizeof(o));
	o.timeout_ms = 5000;
	memset(&so, 0, sizeof(so));
	so.method = "POST";
	so.body = body;
	so.body_len = strlen(body);
	so.content_type = "application/json";
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", e.rv.port);
	T_EQ_INT(fetch_stream(e.fc, url, &o, &so, &h, &status, NULL), 0);
	T_EQ_INT(tsrv_run_until(e.base, &e.rv.n, 1, 5000), 0);
	T_EQ_INT(tsrv_run_until(e.base, &status, 1, 5000), 0);
	T_EQ_INT(status, 204);
	T_EQ_STR(e.rv.method, "POST");
	T_EQ_STR(e.rv.ctype, "application/json");
	T_EQ_INT(e.rv.expect_hdr, 0);
	T_EQ_STR(e.rv.path[0], "/hook");
	T_EQ_STR(e.rv.body[0], body);
	/* refused up front: an unknown method, a body over its cap, a split header */
	so.method = "PUT";
	T_EQ_INT(fetch_stream(e.fc, url, &o, &so, &h, &status, NULL), -1);
	so.method = "POST";
	so.body_len = FETCH_MAX_POST_LEN + 1;
	T_EQ_INT(fetch_stream(e.fc, url, &o, &so, &h, &status, NULL), -1);
	so.body_len = strlen(body);
	so.content_type = "application/json\r\nX-Evil: 1";
	T_EQ_INT(fetch_stream(e.fc, url, &o, &so, &h, &status, NULL), -1);
	wenv_free(&e);
}

UNIT_TEST(webhook_events_deny_and_all)
{
	struct wenv		 e;
	struct webhook_stats	 st;
	struct audit_rec	 r;
	const char		*u;
	char			 hooks[512], v[128];
	int			 i, ndeny = 0, nall = 0;

	wenv_init(&e);
	snprintf(hooks, sizeof(hooks), "[{\"url\":\"http://127.0.0.1:%d/deny\"},"
	    "{\"url\":\"http://127.0.0.1:%d/all\",\"events\":\"all\"}]", e.rv.port, e.rv.port);
	e.cfg = load(&e, hooks);
	T_ASSERT((e.w = webhook_new(e.base, e.fc, e.cfg)) != NULL);
	r = rec("/v2/library/alpine/manifests/a", "allow");
	webhook_audit(e.w, &r);
	r = rec("/v2/library/alpine/manifests/b", "deny");
	webhook_audit(e.w, &r);
	r = rec("/v2/library/alpine/manifests/c", "allow-permissive");
	webhook_audit(e.w, &r);
	T_EQ_INT(e.rv.nall, 0);		/* nothing is sent from inside the call */
	T_EQ_INT(run_until_delivered(&e, -1, 5, 5000), 0);
	tsrv_run_until(e.base, &e.rv.n, 6, 300);
	T_EQ_INT(e.rv.n, 5);
	for (i = 0; i < e.rv.n; i++) {
		if (strcmp(e.rv.path[i], "/deny") == 0) {
			ndeny++;
			T_ASSERT(strcmp(jstr(e.rv.body[i], "decision", v, sizeof(v)), "allow") != 0);
		} else if (strcmp(e.rv.path[i], "/all") == 0)
			nall++;
		/* the audit line's object, with the verdict's own time */
		T_EQ_STR(jstr(e.rv.body[i], "time", v, sizeof(v)), "2023-11-14T22:13:20.123Z");
		T_EQ_STR(jstr(e.rv.body[i], "gun", v, sizeof(v)), "r.test/library/alpine");
		T_EQ_STR(jstr(e.rv.body[i], "kind", v, sizeof(v)), "manifest");
	}
	T_EQ_INT(ndeny, 2);
	T_EQ_INT(nall, 3);
	T_EQ_INT(webhook_stats(e.w, 0, &u, &st), 0);
	T_CONTAINS(u, "/deny");
	T_EQ_INT(st.events, 2);
	T_EQ_INT(st.delivered, 2);
	T_EQ_INT(st.queued, 0);
	T_EQ_INT(webhook_stats(e.w, 1, &u, &st), 0);
	T_EQ_INT(st.delivered, 3);
	T_EQ_INT(webhook_stats(e.w, 2, &u, &st), -1);
	wenv_free(&e);
}

UNIT_TEST(webhook_failed_attempt_is_retried)
{
	struct wenv		 e;
	struct webhook_stats	 st;
	struct audit_rec	 r;
	char			 hooks[256], v[128], v2[128];

	wenv_init(&e);
	snprintf(hooks, sizeof(hooks), "[{\"url\":\"http://127.0.0.1:%d/h\"}]", e.rv.port);
	e.cfg = load(&e, hooks);
	T_ASSERT((e.w = webhook_new(e.base, e.fc, e.cfg)) != NULL);
	e.rv.fail = 1;
	r = rec("/v2/x/manifests/first", "deny");
	webhook_audit(e.w, &r);
	r = rec("/v2/x/manifests/second", "deny");
	webhook_audit(e.w, &r);
	/*
	 * Both go out at once; the one that gets the 500 is sent again after
	 * a 1 s pause (two in flight: no order between them).
	 */
	T_EQ_INT(run_until_delivered(&e, 0, 2, 6000), 0);
	T_EQ_INT(e.rv.n, 2);
	T_EQ_INT(e.rv.nall, 3);
	jstr(e.rv.body[0], "path", v, sizeof(v));
	T_ASSERT(strcmp(v, "/v2/x/manifests/first") == 0 ||
	    strcmp(v, "/v2/x/manifests/second") == 0);
	T_ASSERT(strcmp(jstr(e.rv.body[1], "path", v2, sizeof(v2)), v) != 0);
	T_EQ_INT(webhook_stats(e.w, 0, NULL, &st), 0);
	T_EQ_INT(st.failed, 1);
	T_EQ_INT(st.delivered, 2);
	T_EQ_INT(st.dropped_attempts + st.dropped_full + st.dropped_stop, 0);
	wenv_free(&e);
}

UNIT_TEST(webhook_full_queue_drops_new_events)
{
	struct wenv		 e;
	struct webhook_stats	 st;
	struct audit_rec	 r;
	char			 hooks[256];
	int			 i, never = 0;

	wenv_init(&e);
	/* nobody listens on port 1 */
	e.cfg = load(&e, "[{\"url\":\"http://127.0.0.1:1/h\",\"queue_length\":2}]");
	T_ASSERT((e.w = webhook_new(e.base, e.fc, e.cfg)) != NULL);
	for (i = 0; i < 5; i++) {
		r = rec("/v2/x/manifests/t", "deny");
		webhook_audit(e.w, &r);
	}
	tsrv_run_until(e.base, &never, 1, 300);
	T_EQ_INT(webhook_stats(e.w, 0, NULL, &st), 0);
	T_EQ_INT(st.events, 2);
	T_EQ_INT(st.dropped_full, 3);
	T_EQ_INT(st.queued, 2);
	T_ASSERT(st.failed >= 1);
	T_EQ_INT(st.delivered, 0);

	/* a reload that points elsewhere: the old webhook's events are dropped */
	snprintf(hooks, sizeof(hooks), "[{\"url\":\"http://127.0.0.1:%d/h\"}]", e.rv.port);
	config_free(e.cfg);
	e.cfg = load(&e, hooks);
	webhook_reconfigure(e.w, e.cfg);
	webhook_totals(e.w, &st);
	T_EQ_INT(st.dropped_full, 3);
	T_EQ_INT(st.dropped_stop, 2);
	T_EQ_INT(st.queued, 0);
	r = rec("/v2/x/manifests/t", "deny");
	webhook_audit(e.w, &r);
	T_EQ_INT(run_until_delivered(&e, -1, 1, 5000), 0);
	webhook_totals(e.w, &st);
	T_EQ_INT(st.delivered, 1);
	T_EQ_INT(st.events, 3);
	wenv_free(&e);
}

UNIT_TEST(webhook_reload_keeps_a_webhook_by_url)
{
	struct wenv		 e;
	struct webhook_stats	 st;
	struct audit_rec	 r;
	char			 hooks[256];

	wenv_init(&e);
	snprintf(hooks, sizeof(hooks), "[{\"url\":\"http://127.0.0.1:%d/h\"}]", e.rv.port);
	e.cfg = load(&e, hooks);
	T_ASSERT((e.w = webhook_new(e.base, e.fc, e.cfg)) != NULL);
	r = rec("/v2/x/manifests/t", "deny");
	webhook_audit(e.w, &r);
	/* reloaded before anything was sent: same URL, now "all" */
	snprintf(hooks, sizeof(hooks), "[{\"url\":\"http://127.0.0.1:%d/h\",\"events\":\"all\"}]",
	    e.rv.port);
	config_free(e.cfg);
	e.cfg = load(&e, hooks);
	webhook_reconfigure(e.w, e.cfg);
	r = rec("/v2/x/manifests/t", "allow");
	webhook_audit(e.w, &r);
	T_EQ_INT(run_until_delivered(&e, 0, 2, 5000), 0);
	T_EQ_INT(e.rv.n, 2);
	T_EQ_INT(webhook_stats(e.w, 0, NULL, &st), 0);
	T_EQ_INT(st.dropped_stop, 0);
	wenv_free(&e);
}

UNIT_TEST(webhook_free_with_events_in_flight)
{
	struct wenv		 e;
	struct audit_rec	 r;
	int			 i, never = 0;
	char			 hooks[256];

	wenv_init(&e);
	e.rv.hold = 1;		/* takes the requests, never answers */
	snprintf(hooks, sizeof(hooks), "[{\"url\":\"http://127.0.0.1:%d/h\","
	    "\"timeout_seconds\":60}]", e.rv.port);
	e.cfg = load(&e, hooks);
	T_ASSERT((e.w = webhook_new(e.base, e.fc, e.cfg)) != NULL);
	for (i = 0; i < 10; i++) {
		r = rec("/v2/x/manifests/t", "deny");
		webhook_audit(e.w, &r);
	}
	T_EQ_INT(tsrv_run_until(e.base, &e.rv.nall, WEBHOOK_MAX_INFLIGHT, 5000), 0);
	tsrv_run_until(e.base, &never, 1, 200);
	T_EQ_INT(e.rv.nall, WEBHOOK_MAX_INFLIGHT);	/* no more at once */
	wenv_free(&e);		/* cancels, drops, frees: ASan checks */
}
