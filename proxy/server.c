/*
 * server: `dctproxy serve`, the verifying Registry HTTP API v2 proxy.
 *
 * This file owns the process: listeners (libevent evhttp, plain or TLS),
 * signals (SIGTERM/SIGINT drain, SIGHUP reload, SIGUSR1 audit reopen), the
 * lifetime of a client request (struct preq), request parsing and routing,
 * and the responses. The verdicts live in gate.c, the pass-through in
 * stream.c, the counters behind /metrics in metrics.c.
 *
 * For the metrics, a request ends once: when it is finished from our side
 * (preq_finish, after the reply is written or the client left), or at the
 * latest when it is freed. A connection counts as open from its first
 * request until evhttp closes it: while a request runs, its close callback
 * is on_close(); between requests it is on_idle_close().
 *
 * Everything a client sends is capped before it is looked at: header
 * bytes and body bytes by evhttp, the URI length, the repository name
 * (distribution grammar, 255 bytes), the tag ([\w][\w.-]{0,127}) and the
 * digest (sha256:<64 lower-case hex>, nothing else).
 *
 * Pushes and deletes are answered 405 with a registry error, except in
 * repositories that allow_push names: there they pass through unverified
 * (stream_push), with bodies read whole by evhttp up to PROXY_MAX_PUSH_BODY.
 */
#include <sys/types.h>

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "certs/certs.h"
#include "config/config.h"
#include "proxy/proxy.h"
#include "proxy/server_int.h"

void
proxy_log(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dctproxy: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static long
elapsed_ms(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)((now.tv_sec - t0->tv_sec) * 1000 +
	    (now.tv_nsec - t0->tv_nsec) / 1000000);
}

/* ---- preq lifetime ---------------------------------------------------- */

/* Count p in the duration histogram and the bytes sent, once. */
static void
preq_observe(struct preq *p)
{
	struct timespec	now;
	double		s;

	if (p->observed)
		return;
	p->observed = 1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	s = (double)(now.tv_sec - p->t0.tv_sec) + (double)(now.tv_nsec - p->t0.tv_nsec) / 1e9;
	metrics_request(p->srv->metrics, p->route, s, p->sent);
}

/* A connection between two requests: only its end matters (open connections). */
static void
on_idle_close(struct evhttp_connection *conn, void *arg)
{
	struct server *srv = arg;

	metrics_conn_closed(srv->metrics, conn);
}

static void	ready_leave(struct preq *);

static void
preq_free(struct preq *p)
{
	struct server *srv = p->srv;

	preq_observe(p);
	if (p->up != NULL)
		fetch_req_cancel(p->up);
	ready_leave(p);
	stream_unhook(p);
	gate_free(p);
	config_free(p->cfg);
	free(p->body);
	if (p->chunk != NULL)
		evbuffer_free(p->chunk);
	TAILQ_REMOVE(&srv->inflight, p, entry);
	srv->ninflight--;
	free(p);
	if (srv->draining && srv->ninflight == 0)
		event_base_loopbreak(srv->base);
}

/*
 * Every caller has let go of p->req (on_complete, on_close, or a path that
 * found it NULL); the connection's close callback was handed over by then.
 */
void
preq_finish(struct preq *p)
{
	if (p->flushing)
		return;		/* on_complete() or on_close() will finish */
	preq_observe(p);
	stream_unhook(p);
	if (p->pending == 0)
		preq_free(p);
}

/* The client closed the connection (or evhttp gave up on it). */
static void
on_close(struct evhttp_connection *conn, void *arg)
{
	struct preq *p = arg;

	metrics_conn_closed(p->srv->metrics, conn);
	if (p->up != NULL) {
		fetch_req_cancel(p->up);
		p->up = NULL;
	}
	if (p->req != NULL) {
		/*
		 * While we still work on it, evhttp detaches the request from
		 * the dying connection and it is ours to free; once handed over
		 * (flushing), evhttp frees it with the connection.
		 */
		if (!p->flushing && evhttp_request_get_connection(p->req) == NULL)
			evhttp_request_free(p->req);
		p->req = NULL;
	}
	p->flushing = 0;
	p->conn = NULL;
	if (!p->audited && (p->kind == PK_MANIFEST || p->kind == PK_BLOB)) {
		if (p->decision == NULL) {
			p->decision = "deny";
			p->reason = "client-gone";
		}
		preq_note(p, "the client closed the connection");
		preq_audit(p);
	}
	preq_finish(p);
}

void
preq_note(struct preq *p, const char *text)
{
	size_t n = strlen(p->message);

	if (n > 0 && n + 2 < sizeof(p->message)) {
		memcpy(p->message + n, "; ", 3);
		n += 2;
	}
	if (snprintf(p->message + n, sizeof(p->message) - n, "%s", text) < 0)
		p->message[n] = '\0';
}

/*
 * The line is rendered once: the audit file and the webhooks get the same
 * bytes.
 */
void
preq_audit(struct preq *p)
{
	struct audit_rec	 r;
	char			 digest[DIGEST_STR_LEN], *line;

	if (p->audited || (p->kind != PK_MANIFEST && p->kind != PK_BLOB))
		return;
	p->audited = 1;
	memset(&r, 0, sizeof(r));
	r.kind = p->kind == PK_MANIFEST ? "manifest" : "blob";
	r.client = p->client;
	r.method = p->method;
	r.path = p->path;
	r.repo = p->repo;
	r.ref = p->ref;
	r.gun = p->gun;
	r.decision = p->decision ? p->decision : "deny";
	r.reason = p->reason;
	r.message = p->message;
	if (p->have_signed) {
		digest_format(p->signed_sha, digest);
		r.digest = digest;
	}
	r.role = p->signed_role;
	r.trust_note = p->trust_note;
	r.upstream_status = p->up_status;
	r.bytes = p->sent;
	r.duration_ms = elapsed_ms(&p->t0);
	clock_gettime(CLOCK_REALTIME, &r.at);
	r.line = line = audit_line(&r);
	if (line != NULL)
		audit_write(p->srv->audit, line);
	webhook_audit(p->srv->webhooks, &r);
	free(line);
	/* here and only here, so that the counters match the audit log line for line */
	metrics_decision(p->srv->metrics, r.kind, r.decision, r.reason);
}

/* Headers on every answer of the Registry API. */
static void
common_headers(struct preq *p, struct evkeyvalq *h)
{
	evhttp_add_header(h, "Docker-Distribution-API-Version", "registry/2.0");
	if (p->srv->draining)
		evhttp_add_header(h, "Connection", "close");
}

/* The reply is on the wire: only now is the request over (drain waits for this). */
static void
on_complete(struct evhttp_request *req, void *arg)
{
	struct preq *p = arg;

	(void)req;
	if (p->conn != NULL)
		evhttp_connection_set_closecb(p->conn, on_idle_close, p->srv);
	p->req = NULL;
	p->flushing = 0;
	preq_audit(p);
	preq_finish(p);
}

void
preq_end(struct preq *p, int status, struct evbuffer *body, int stream_end)
{
	struct evhttp_request *req = p->req;

	if (req == NULL) {
		preq_audit(p);
		preq_finish(p);
		return;
	}
	/*
	 * evhttp owns req from here; we hear back from on_complete() when the
	 * last byte is written, or from on_close() when the client goes first.
	 * p must not be touched after the send: on_complete may free it.
	 */
	p->flushing = 1;
	evhttp_request_set_on_complete_cb(req, on_complete, p);
	if (stream_end)
		evhttp_send_reply_end(req);
	else
		evhttp_send_reply(req, status, NULL, p->head ? NULL : body);
}

void
preq_reply(struct preq *p, int status, struct evbuffer *body)
{
	preq_end(p, status, body, 0);
}

void
preq_error(struct preq *p, int status, const char *code, const char *msg)
{
	struct evbuffer	*b;
	json_t		*o;
	char		*s;
	char		 len[32];

	if (p->decision == NULL)
		p->decision = "deny";
	if (p->message[0] == '\0')
		snprintf(p->message, sizeof(p->message), "%s", msg);
	if (p->req == NULL) {
		preq_audit(p);
		preq_finish(p);
		return;
	}
	o = json_pack("{s:[{s:s,s:s,s:n}]}", "errors", "code", code, "message", msg, "detail");
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	b = evbuffer_new();
	if (b != NULL && s != NULL)
		evbuffer_add_printf(b, "%s\n", s);
	free(s);
	common_headers(p, evhttp_request_get_output_headers(p->req));
	evhttp_add_header(evhttp_request_get_output_headers(p->req), "Content-Type",
	    "application/json; charset=utf-8");
	snprintf(len, sizeof(len), "%zu", b ? evbuffer_get_length(b) : 0);
	evhttp_add_header(evhttp_request_get_output_headers(p->req), "Content-Length", len);
	preq_reply(p, status, b);
	if (b != NULL)
		evbuffer_free(b);
}

void
preq_deny(struct preq *p, const char *reason, const char *msg)
{
	p->decision = "deny";
	p->reason = reason;
	snprintf(p->message, sizeof(p->message), "%s", msg);
	preq_error(p, 403, "DENIED", msg);
}

void
preq_manifest(struct preq *p, const uint8_t *bytes, size_t len, const char *ctype,
    const uint8_t sha[32])
{
	struct evkeyvalq	*h;
	struct evbuffer		*b = NULL;
	char			 dig[DIGEST_STR_LEN], clen[32], etag[DIGEST_STR_LEN + 2];

	if (p->req == NULL) {
		preq_audit(p);
		preq_finish(p);
		return;
	}
	digest_format(sha, dig);
	snprintf(etag, sizeof(etag), "\"%s\"", dig);
	snprintf(clen, sizeof(clen), "%zu", len);
	h = evhttp_request_get_output_headers(p->req);
	common_headers(p, h);
	evhttp_add_header(h, "Content-Type", ctype && ctype[0] ? ctype : MT_DOCKER_V2);
	evhttp_add_header(h, "Content-Length", clen);
	evhttp_add_header(h, "Docker-Content-Digest", dig);
	evhttp_add_header(h, "ETag", etag);
	if (p->decision == NULL)
		p->decision = "allow";
	if (!p->head) {
		b = evbuffer_new();
		if (b == NULL || evbuffer_add(b, bytes, len) == -1) {
			if (b != NULL)
				evbuffer_free(b);
			preq_error(p, 500, "UNKNOWN", "out of memory");
			return;
		}
		p->sent = len;
	}
	preq_reply(p, 200, b);
	if (b != NULL)
		evbuffer_free(b);
}

#define PASS_LOCATION	1	/* only on a redirect, or rewritten for a push */
#define PASS_PUSH_ONLY	2	/* answers to pushes only */

/* Response headers of an upstream answer that a client may see. */
static const struct {
	const char	*name;
	int		 flags;
} pass_headers[] = {
	{ "Content-Type", 0 }, { "Content-Length", 0 }, { "Content-Range", 0 },
	{ "Accept-Ranges", 0 }, { "Docker-Content-Digest", 0 }, { "ETag", 0 },
	{ "Last-Modified", 0 }, { "Link", 0 }, { "WWW-Authenticate", 0 },
	{ "Location", PASS_LOCATION }, { "Docker-Upload-UUID", PASS_PUSH_ONLY },
	{ "Range", PASS_PUSH_ONLY }, { NULL, 0 }
};

void
preq_copy_headers(struct preq *p, struct fetch_req *r, int status)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(p->req);
	const char		*name, *value, *base = p->reg->upstream.base;
	size_t			 i, k, blen = strlen(base);

	common_headers(p, h);
	for (i = 0; fetch_req_header_at(r, i, &name, &value) == 0; i++)
		for (k = 0; pass_headers[k].name != NULL; k++) {
			if (strcasecmp(name, pass_headers[k].name) != 0)
				continue;
			if ((pass_headers[k].flags & PASS_PUSH_ONLY) && !p->push)
				break;
			if (pass_headers[k].flags & PASS_LOCATION) {
				/*
				 * A pull's Location only makes sense on a redirect we
				 * did not follow. A push's (the upload URL) must bring
				 * the client back here, not to the upstream: the
				 * upstream's own origin is cut off.
				 */
				if (!p->push && (status < 300 || status > 399))
					break;
				if (p->push && strncmp(value, base, blen) == 0 &&
				    value[blen] == '/')
					value += blen;
			}
			evhttp_add_header(h, pass_headers[k].name, value);
			break;
		}
}

void
preq_pass_upstream(struct preq *p, struct fetch_req *r, int status,
    const uint8_t *body, size_t len)
{
	struct evbuffer	*b = NULL;
	char		 clen[32];

	if (p->req == NULL) {
		preq_audit(p);
		preq_finish(p);
		return;
	}
	preq_copy_headers(p, r, status);
	evhttp_remove_header(evhttp_request_get_output_headers(p->req), "Content-Length");
	snprintf(clen, sizeof(clen), "%zu", len);
	evhttp_add_header(evhttp_request_get_output_headers(p->req), "Content-Length", clen);
	if (!p->head && len > 0 && (b = evbuffer_new()) != NULL) {
		evbuffer_add(b, body, len);
		p->sent = len;
	}
	preq_reply(p, status, b);
	if (b != NULL)
		evbuffer_free(b);
}

/* ---- upstream plumbing ---------------------------------------------------- */

int
preq_fetch(struct preq *p, struct preq_upstream *u, enum metrics_route route,
    const char *path, int with_query, const struct fetch_handlers *h)
{
	char	url[FETCH_MAX_URL];
	int	n;

	n = snprintf(url, sizeof(url), "%s%s%s%s", p->reg->upstream.base, path,
	    with_query && p->query ? "?" : "", with_query && p->query ? p->query : "");
	if (n < 0 || (size_t)n >= sizeof(url) ||
	    fetch_stream(p->srv->fetch, url, &u->o, &u->so, h, p, &p->up) == -1) {
		metrics_upstream(p->srv->metrics, route, TRUST_FETCH_NETERR);
		return -1;
	}
	return 0;
}

int
preq_body_append(struct fetch_req *r, const uint8_t *b, size_t len, void *arg)
{
	struct preq	*p = arg;
	uint8_t		*n;
	size_t		 ncap;

	(void)r;
	/* fetch caps the total at the request's max_len */
	if (len > p->body_cap - p->body_len) {
		ncap = p->body_cap ? p->body_cap : 8192;
		while (ncap - p->body_len < len)
			ncap *= 2;
		if ((n = realloc(p->body, ncap)) == NULL)
			return -1;
		p->body = n;
		p->body_cap = ncap;
	}
	memcpy(p->body + p->body_len, b, len);
	p->body_len += len;
	return 0;
}

/* Client request headers that go upstream. */
static const char *const fwd_headers[] = {
	"Accept", "Authorization", "Range", "If-Range", "If-None-Match",
	"If-Modified-Since", NULL
};

void
preq_upstream_init(struct preq *p, struct preq_upstream *u, int accept_all)
{
	static const char *const all[] = {
		"Accept: " MT_DOCKER_V2, "Accept: " MT_DOCKER_LIST,
		"Accept: " MT_OCI_MANIFEST, "Accept: " MT_OCI_INDEX,
	};
	struct fetch_opts	*o = &u->o;
	const char		**hdrs = u->hdrs;
	char			*store = u->store;
	struct evkeyvalq	*in;
	struct evkeyval		*kv;
	const struct config	*cfg = p->cfg;
	size_t			 n = 0, used = 0, k, l;
	int			 w;

	memset(o, 0, sizeof(*o));
	memset(&u->so, 0, sizeof(u->so));
	o->ca_file = p->reg->upstream_ca;
	if (p->reg->upstream_credentials != NULL) {
		o->username = p->reg->upstream_credentials->username;
		o->password = p->reg->upstream_credentials->password;
	}
	o->connect_timeout_ms = (long)cfg->connect_timeout_seconds * 1000;
	o->timeout_ms = (long)cfg->request_timeout_seconds * 1000;
	if (accept_all)
		for (k = 0; k < sizeof(all) / sizeof(all[0]); k++)
			hdrs[n++] = all[k];
	if (p->req != NULL) {
		in = evhttp_request_get_input_headers(p->req);
		TAILQ_FOREACH(kv, in, next) {
			for (k = 0; fwd_headers[k] != NULL; k++)
				if (strcasecmp(kv->key, fwd_headers[k]) == 0)
					break;
			if (fwd_headers[k] == NULL || n >= PROXY_MAX_FORWARD_HDRS)
				continue;
			l = strlen(fwd_headers[k]) + 2 + strlen(kv->value) + 1;
			if (used + l > sizeof(u->store) || strpbrk(kv->value, "\r\n") != NULL)
				continue;
			w = snprintf(store + used, sizeof(u->store) - used, "%s: %s",
			    fwd_headers[k], kv->value);
			if (w < 0)
				continue;
			hdrs[n++] = store + used;
			used += (size_t)w + 1;
		}
	}
	o->headers = hdrs;
	o->nheaders = n;
}

void
preq_notary_server(struct preq *p, struct notary_server *ns)
{
	memset(ns, 0, sizeof(*ns));
	ns->url = p->reg->notary.url.base;
	ns->ca_file = p->reg->notary.ca;
	if (p->reg->notary.credentials != NULL) {
		ns->username = p->reg->notary.credentials->username;
		ns->password = p->reg->notary.credentials->password;
	}
	ns->timeout_ms = (long)p->cfg->request_timeout_seconds * 1000;
	ns->connect_timeout_ms = (long)p->cfg->connect_timeout_seconds * 1000;
}

/* ---- /v2/ ping, /healthz, /readyz ------------------------------------------ */

static void
ping_done(struct fetch_req *r, int status, const char *error, void *arg)
{
	struct preq	*p = arg;
	struct evbuffer	*b;

	(void)error;
	p->up = NULL;
	p->up_status = status;
	metrics_upstream(p->srv->metrics, p->route, status);
	if (status == 401) {
		/* let the client see the challenge, so that `docker login` works */
		preq_pass_upstream(p, r, 401, p->body, p->body_len);
	} else if ((b = evbuffer_new()) != NULL) {
		common_headers(p, evhttp_request_get_output_headers(p->req));
		evhttp_add_header(evhttp_request_get_output_headers(p->req),
		    "Content-Type", "application/json; charset=utf-8");
		evbuffer_add(b, "{}", 2);
		preq_reply(p, 200, b);
		evbuffer_free(b);
	} else
		preq_error(p, 500, "UNKNOWN", "out of memory");
}

/* The body goes to p->body: whatever happens to p, preq_free frees it. */
static void
do_ping(struct preq *p)
{
	static const struct fetch_handlers h = { NULL, preq_body_append, ping_done, NULL };
	struct preq_upstream u;

	preq_upstream_init(p, &u, 0);
	u.o.max_len = 64 * 1024;
	/* with our own upstream credentials we authenticate; else the client must */
	u.so.token_auth = p->reg->upstream_credentials != NULL;
	if (preq_fetch(p, &u, p->route, "/v2/", 0, &h) == -1)
		preq_error(p, 500, "UNKNOWN", "could not start the upstream request");
}

/*
 * /readyz: is every upstream and Notary server reachable? One check runs
 * at a time (srv->ready), whatever the number of probes: a probe that
 * comes while one runs waits for its answer. The check belongs to the
 * server, not to a probe: a probe that goes leaves the list of waiters,
 * the check ends by itself (at most its timeout later) or with the server.
 */
struct ready_check {
	struct ready	*rd;
	char		 url[CONFIG_MAX_URL_LEN + 8];
};

struct ready {
	struct server		*srv;
	struct preq_list	 waiters;	/* by wait_entry */
	size_t			 pending;	/* checks not yet answered */
	int			 ok;
	json_t			*detail;
	struct ready_check	 checks[];	/* 2 per registry: upstream, Notary */
};

#define READY_TIMEOUT_MS	5000	/* one check of one server */
#define READY_MAX_BODY		(64 * 1024)

/* p no longer waits for a check (answered, or gone). */
static void
ready_leave(struct preq *p)
{
	if (p->ready == NULL)
		return;
	TAILQ_REMOVE(&p->ready->waiters, p, wait_entry);
	p->ready = NULL;
}

/* Every check has answered: answer every waiter, free rd. */
static void
ready_answer(struct ready *rd)
{
	struct preq	*p;
	struct evbuffer	*b;
	char		*s;

	if (rd->srv->ready == rd)
		rd->srv->ready = NULL;
	s = json_dumps(rd->detail, JSON_COMPACT);
	while ((p = TAILQ_FIRST(&rd->waiters)) != NULL) {
		ready_leave(p);
		/* waiters still have their request: one that left was freed */
		if ((b = evbuffer_new()) != NULL)
			evbuffer_add_printf(b, "{\"ready\":%s,\"checks\":%s}\n",
			    rd->ok ? "true" : "false", s ? s : "[]");
		evhttp_add_header(evhttp_request_get_output_headers(p->req),
		    "Content-Type", "application/json");
		preq_reply(p, rd->ok ? 200 : 503, b);
		if (b != NULL)
			evbuffer_free(b);
	}
	free(s);
	json_decref(rd->detail);
	free(rd);
}

static void
ready_one(struct fetch_req *r, int status, const char *error, void *arg)
{
	struct ready_check	*c = arg;
	struct ready		*rd = c->rd;

	(void)r;
	/* reachable: any HTTP answer below 500 (401 is a healthy registry) */
	if (status <= 0 || status >= 500)
		rd->ok = 0;
	json_array_append_new(rd->detail, json_pack("{s:s,s:i,s:s}", "url", c->url,
	    "status", status, "error", error ? error : ""));
	if (--rd->pending == 0)
		ready_answer(rd);
}

/* Start a check of cfg's servers as srv->ready. Returns 0, or -1 on out of memory. */
static int
ready_start(struct server *srv, const struct config *cfg)
{
	static const struct fetch_handlers h = { NULL, NULL, ready_one, NULL };
	struct fetch_stream_opts so;
	struct ready		*rd;
	struct ready_check	*c;
	struct fetch_opts	 o;
	size_t			 i, n = 0;
	int			 pass;

	if ((rd = calloc(1, sizeof(*rd) + 2 * cfg->nregistries * sizeof(rd->checks[0]))) == NULL)
		return -1;
	if ((rd->detail = json_array()) == NULL) {
		free(rd);
		return -1;
	}
	rd->srv = srv;
	TAILQ_INIT(&rd->waiters);
	rd->ok = 1;
	memset(&so, 0, sizeof(so));
	so.token_auth = 1;
	for (i = 0; i < cfg->nregistries; i++)
		for (pass = 0; pass < 2; pass++) {
			const struct config_registry *reg = &cfg->registries[i];

			memset(&o, 0, sizeof(o));
			o.connect_timeout_ms = (long)cfg->connect_timeout_seconds * 1000;
			o.timeout_ms = READY_TIMEOUT_MS;
			o.max_len = READY_MAX_BODY;
			o.ca_file = pass == 0 ? reg->upstream_ca : reg->notary.ca;
			c = &rd->checks[n++];
			c->rd = rd;
			snprintf(c->url, sizeof(c->url), "%s/v2/", pass == 0 ?
			    reg->upstream.base : reg->notary.url.base);
			/* the body is read up to max_len and dropped */
			if (fetch_stream(srv->fetch, c->url, &o, &so, &h, c, NULL) == -1)
				rd->ok = 0;
			else
				rd->pending++;
		}
	srv->ready = rd;
	return 0;
}

static void
do_ready(struct preq *p)
{
	struct server *srv = p->srv;

	if (srv->ready == NULL && ready_start(srv, p->cfg) == -1) {
		preq_error(p, 500, "UNKNOWN", "out of memory");
		return;
	}
	p->ready = srv->ready;
	TAILQ_INSERT_TAIL(&p->ready->waiters, p, wait_entry);
	/* fetch never calls back before the loop runs: none started, answer now */
	if (p->ready->pending == 0)
		ready_answer(p->ready);
}

/* ---- /metrics ------------------------------------------------------------------- */

/* The counters, rendered from memory: no upstream, no audit line. */
static void
do_metrics(struct preq *p)
{
	struct evbuffer		*b;
	struct fetch_stats	 fs;

	fetch_get_stats(p->srv->fetch, &fs);
	if ((b = evbuffer_new()) == NULL ||
	    metrics_render(p->srv->metrics, p->srv->ninflight, p->srv->webhooks, &fs, b) == -1) {
		if (b != NULL)
			evbuffer_free(b);
		preq_error(p, 500, "UNKNOWN", "out of memory");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(p->req), "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	preq_reply(p, 200, b);
	evbuffer_free(b);
}

/* ---- parsing and routing -------------------------------------------------------- */

static int
tag_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > PROXY_MAX_TAG_LEN)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_';

		if (!word && (i == 0 || (c != '.' && c != '-')))
			return 0;
	}
	return 1;
}

static int
method_of(struct evhttp_request *req, char *buf, size_t len)
{
	const char *m;

	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:	m = "GET"; break;
	case EVHTTP_REQ_HEAD:	m = "HEAD"; break;
	case EVHTTP_REQ_POST:	m = "POST"; break;
	case EVHTTP_REQ_PUT:	m = "PUT"; break;
	case EVHTTP_REQ_PATCH:	m = "PATCH"; break;
	case EVHTTP_REQ_DELETE:	m = "DELETE"; break;
	default:		m = "OTHER"; break;
	}
	snprintf(buf, len, "%s", m);
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

/*
 * Split /v2/<name>/<kind>/<ref>. Returns 0 with p->kind/repo/ref set, or -1
 * with a registry error already sent.
 */
static int
parse_path(struct preq *p)
{
	const char	*path = p->path + 4;	/* after "/v2/" */
	const char	*slash, *kind_end;
	size_t		 n = strlen(path), rl;

	if (n >= 10 && strcmp(path + n - 10, "/tags/list") == 0) {
		p->kind = PK_TAGS;
		p->route = METRICS_ROUTE_TAGS;
		rl = n - 10;
		p->ref[0] = '\0';
	} else {
		if ((slash = strrchr(path, '/')) == NULL)
			goto notfound;
		if (strlen(slash + 1) >= sizeof(p->ref))
			goto badref;
		memcpy(p->ref, slash + 1, strlen(slash + 1) + 1);
		kind_end = slash;
		if ((size_t)(kind_end - path) > 10 &&
		    memcmp(kind_end - 10, "/manifests", 10) == 0) {
			p->kind = PK_MANIFEST;
			p->route = METRICS_ROUTE_MANIFEST;
			rl = (size_t)(kind_end - 10 - path);
		} else if ((size_t)(kind_end - path) > 6 &&
		    memcmp(kind_end - 6, "/blobs", 6) == 0) {
			p->kind = PK_BLOB;
			p->route = METRICS_ROUTE_BLOB;
			rl = (size_t)(kind_end - 6 - path);
		} else if (strstr(path, "/blobs/uploads") != NULL) {
			p->kind = PK_BLOB;
			p->route = METRICS_ROUTE_BLOB;
			p->ref[0] = '\0';
			rl = (size_t)(strstr(path, "/blobs/uploads") - path);
		} else
			goto notfound;
	}
	if (rl == 0 || rl > PROXY_MAX_REPO_LEN)
		goto badname;
	memcpy(p->repo, path, rl);
	p->repo[rl] = '\0';
	if (!config_repo_valid(p->repo))
		goto badname;
	return 0;
notfound:
	preq_error(p, 404, "NOT_FOUND", "unknown Registry API path");
	return -1;
badname:
	p->repo[0] = '\0';
	preq_error(p, 400, "NAME_INVALID", "invalid repository name");
	return -1;
badref:
	preq_error(p, 400, "MANIFEST_INVALID", "invalid reference");
	return -1;
}

const char *
preq_auth_key(struct preq *p)
{
	const char	*a;
	uint8_t		 md[32];
	unsigned int	 mdlen = 0;

	if (p->auth_known)
		return p->auth_key;
	p->auth_known = 1;
	/*
	 * "x" never matches a cached entry's "": no request (the gate only
	 * asks while there is one), or the digest failed.
	 */
	memcpy(p->auth_key, "x", 2);
	if (p->req == NULL)
		return p->auth_key;
	a = evhttp_find_header(evhttp_request_get_input_headers(p->req), "Authorization");
	if (a == NULL)
		p->auth_key[0] = '\0';
	else if (EVP_Digest(a, strlen(a), md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32)
		trust_hex(md, 32, p->auth_key);
	return p->auth_key;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct server		*srv = arg;
	struct preq		*p;
	const char		*uri, *q, *host;
	char			*addr = NULL;
	ev_uint16_t		 port = 0;
	size_t			 plen;
	int			 readonly, push;
	char			 msg[512];

	if (srv->ninflight >= PROXY_MAX_INFLIGHT) {
		evhttp_send_error(req, 503, "Too many requests");
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		evhttp_send_error(req, 503, "Out of memory");
		return;
	}
	p->srv = srv;
	p->req = req;
	p->conn = evhttp_request_get_connection(req);
	p->cfg = config_ref(srv->cfg);
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	TAILQ_INSERT_TAIL(&srv->inflight, p, entry);
	srv->ninflight++;
	srv->nrequests++;
	metrics_conn_seen(srv->metrics, p->conn);
	evhttp_connection_set_closecb(p->conn, on_close, p);
	evhttp_connection_get_peer(p->conn, &addr, &port);
	snprintf(p->client, sizeof(p->client), "%s:%u", addr ? addr : "?", port);
	readonly = method_of(req, p->method, sizeof(p->method));
	p->head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;

	uri = evhttp_request_get_uri(req);
	if (uri == NULL || strlen(uri) > PROXY_MAX_URI_LEN) {
		preq_error(p, 414, "UNSUPPORTED", "request URI too long");
		return;
	}
	q = strchr(uri, '?');
	plen = q ? (size_t)(q - uri) : strlen(uri);
	memcpy(p->path, uri, plen);
	p->path[plen] = '\0';
	p->query = q ? q + 1 : NULL;
	if (strpbrk(p->path, "%\\") != NULL || (p->query && strpbrk(p->query, " \"<>\\^`{|}") != NULL)) {
		preq_error(p, 400, "UNSUPPORTED", "malformed request path");
		return;
	}

	if (strcmp(p->path, "/healthz") == 0) {
		struct evbuffer *b = evbuffer_new();

		p->route = METRICS_ROUTE_HEALTHZ;

		if (b != NULL)
			evbuffer_add_printf(b, "ok\n");
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
		preq_reply(p, 200, b);
		if (b != NULL)
			evbuffer_free(b);
		return;
	}
	if (strcmp(p->path, "/readyz") == 0) {
		p->route = METRICS_ROUTE_READYZ;
		do_ready(p);
		return;
	}
	/* disabled: not there at all, like any unknown path */
	if (strcmp(p->path, "/metrics") == 0 && p->cfg->metrics_enabled) {
		p->route = METRICS_ROUTE_METRICS;
		if (!readonly) {
			preq_error(p, 405, "UNSUPPORTED", "method not allowed");
			return;
		}
		do_metrics(p);
		return;
	}
	if (strcmp(p->path, "/v2") != 0 && strncmp(p->path, "/v2/", 4) != 0) {
		preq_error(p, 404, "NOT_FOUND", "not found");
		return;
	}
	host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	if (host != NULL && strlen(host) > PROXY_MAX_HOST_LEN) {
		preq_error(p, 400, "UNSUPPORTED", "Host header too long");
		return;
	}
	if ((p->reg = config_registry_for_host(p->cfg, host)) == NULL) {
		snprintf(msg, sizeof(msg), "no registry is configured for host %s",
		    host ? host : "(none)");
		preq_error(p, 404, "NAME_UNKNOWN", msg);
		return;
	}
	if (strcmp(p->path, "/v2") == 0 || strcmp(p->path, "/v2/") == 0) {
		p->kind = PK_PING;
		p->route = METRICS_ROUTE_PING;
		if (!readonly) {
			preq_error(p, 405, "UNSUPPORTED", "method not allowed");
			return;
		}
		do_ping(p);
		return;
	}
	if (strcmp(p->path, "/v2/_catalog") == 0) {
		p->kind = PK_CATALOG;
		p->route = METRICS_ROUTE_CATALOG;
		if (!readonly) {
			preq_error(p, 405, "UNSUPPORTED", "method not allowed");
			return;
		}
		stream_pass(p, PROXY_MAX_TAGS_LEN, 0);
		return;
	}
	if (parse_path(p) == -1)
		return;
	if (config_gun(p->reg, p->repo, p->gun, sizeof(p->gun)) == -1) {
		preq_error(p, 400, "NAME_INVALID", "repository name too long for a GUN");
		return;
	}
	push = (p->kind == PK_MANIFEST || p->kind == PK_BLOB) &&
	    config_push_allowed(p->reg, p->repo);
	if (!readonly || (p->ref[0] == '\0' && p->kind != PK_TAGS)) {
		if (push) {
			stream_push(p);
			return;
		}
		p->reason = "method-not-allowed";
		snprintf(msg, sizeof(msg), "%s %s is not allowed through this proxy: "
		    "dctproxy serves verified pulls only (allow_push names the "
		    "repositories where pushes pass)", p->method,
		    p->kind == PK_MANIFEST ? "of manifests" : p->kind == PK_BLOB ?
		    "of blobs" : "here");
		snprintf(p->message, sizeof(p->message), "%s", msg);
		preq_error(p, 405, "UNSUPPORTED", msg);
		return;
	}
	/* a client about to push asks whether the registry has a blob already */
	if (push && p->kind == PK_BLOB && p->head) {
		stream_push(p);
		return;
	}
	if (config_policy_for(p->cfg, p->gun, &p->pol) == -1) {
		preq_deny(p, "policy", p->pol.explain);
		return;
	}
	switch (p->kind) {
	case PK_TAGS:
		stream_pass(p, PROXY_MAX_TAGS_LEN, 0);
		return;
	case PK_MANIFEST:
		if (strchr(p->ref, ':') != NULL) {
			if (digest_parse(p->ref, p->digest) == -1) {
				preq_error(p, 400, "DIGEST_INVALID",
				    "only sha256:<64 lower-case hex> digests are accepted");
				return;
			}
			p->by_digest = 1;
		} else if (!tag_valid(p->ref)) {
			preq_error(p, 400, "TAG_INVALID", "invalid tag");
			return;
		}
		gate_manifest(p);
		return;
	case PK_BLOB:
		if (digest_parse(p->ref, p->digest) == -1) {
			preq_error(p, 400, "DIGEST_INVALID",
			    "only sha256:<64 lower-case hex> digests are accepted");
			return;
		}
		p->by_digest = 1;
		gate_blob(p);
		return;
	default:
		preq_error(p, 404, "NOT_FOUND", "not found");
	}
}

/* ---- listeners, signals, lifecycle ------------------------------------------------ */

static struct bufferevent *
tls_bevcb(struct event_base *base, void *arg)
{
	SSL			*ssl = SSL_new(arg);
	struct bufferevent	*bev;

	if (ssl == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/*
 * Request bodies evhttp reads: tiny, unless some repository allows push
 * (a layer arrives as one PATCH and is held whole: evhttp 2.1 cannot hand
 * a server a request body piece by piece).
 */
static ev_ssize_t
body_cap(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nregistries; i++)
		if (cfg->registries[i].nallow_push > 0)
			return PROXY_MAX_PUSH_BODY;
	return PROXY_MAX_BODY_LEN;
}

static int
listen_all(struct server *srv)
{
	const struct config	*cfg = srv->cfg;
	struct timeval		 tv;
	char			 err[CERTS_ERRLEN];
	size_t			 i;

	srv->nhttp = cfg->nlisteners;
	srv->http = calloc(cfg->nlisteners, sizeof(*srv->http));
	srv->bound = calloc(cfg->nlisteners, sizeof(*srv->bound));
	srv->ssl_ctx = calloc(cfg->nlisteners, sizeof(*srv->ssl_ctx));
	if (srv->http == NULL || srv->bound == NULL || srv->ssl_ctx == NULL)
		return -1;
	for (i = 0; i < cfg->nlisteners; i++) {
		const struct config_listener *l = &cfg->listeners[i];
		struct evhttp *h;

		if ((h = srv->http[i] = evhttp_new(srv->base)) == NULL)
			return -1;
		evhttp_set_max_headers_size(h, PROXY_MAX_HEADERS_LEN);
		evhttp_set_max_body_size(h, body_cap(cfg));
		tv.tv_sec = cfg->idle_timeout_seconds;
		tv.tv_usec = 0;
		evhttp_set_timeout_tv(h, &tv);
		evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
		    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE);
		evhttp_set_default_content_type(h, "application/json");
		evhttp_set_gencb(h, on_request, srv);
		if (l->tls != NULL) {
			SSL_CTX *ctx = certs_server_ctx(l->tls->certificate, l->tls->key, err);

			if (ctx == NULL) {
				proxy_log("listener %s: %s", l->address, err);
				return -1;
			}
			srv->ssl_ctx[i] = ctx;
			evhttp_set_bevcb(h, tls_bevcb, ctx);
		}
		srv->bound[i] = evhttp_bind_socket_with_handle(h, l->host, l->port);
		if (srv->bound[i] == NULL) {
			proxy_log("listener %s: cannot listen: %s", l->address, strerror(errno));
			return -1;
		}
		proxy_log("listening on %s%s", l->address, l->tls ? " (TLS)" : "");
	}
	return 0;
}

static void
on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)what;
	proxy_log("shutdown grace period over with %zu requests in flight", srv->ninflight);
	event_base_loopbreak(srv->base);
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 tv;
	size_t		 i;

	(void)what;
	if (srv->draining) {
		proxy_log("second signal: stopping now");
		event_base_loopbreak(srv->base);
		return;
	}
	srv->draining = 1;
	proxy_log("signal %d: no longer accepting; %zu requests in flight", (int)sig,
	    srv->ninflight);
	for (i = 0; i < srv->nhttp; i++)
		if (srv->bound[i] != NULL) {
			evhttp_del_accept_socket(srv->http[i], srv->bound[i]);
			srv->bound[i] = NULL;
		}
	if (srv->ninflight == 0) {
		event_base_loopbreak(srv->base);
		return;
	}
	if (srv->ev_grace != NULL)
		return;
	tv.tv_sec = srv->cfg->shutdown_grace_seconds;
	tv.tv_usec = 0;
	srv->ev_grace = evtimer_new(srv->base, on_grace, srv);
	if (srv->ev_grace != NULL)
		evtimer_add(srv->ev_grace, &tv);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct server		*srv = arg;
	struct config		*ncfg = NULL, *old;
	struct config_errors	*errs;
	struct audit		*na;
	char			 err[256];
	size_t			 i;

	(void)sig;
	(void)what;
	if ((errs = calloc(1, sizeof(*errs))) == NULL)
		return;
	/* listeners are not rebound: their keys, maybe root's alone, are not read */
	if (config_load_flags(srv->cfg_path, NULL, CONFIG_LOAD_NO_LISTENER_FILES, &ncfg,
	    errs) == -1) {
		proxy_log("reload of %s failed; keeping the running configuration:",
		    srv->cfg_path);
		for (i = 0; i < errs->n; i++)
			proxy_log("  %s", errs->msgs[i].msg);
		free(errs);
		return;
	}
	free(errs);
	priv_reload(srv->cfg, ncfg);
	if (strcmp(ncfg->audit_path, audit_path(srv->audit)) != 0) {
		if ((na = audit_open(ncfg->audit_path, err, sizeof(err))) == NULL)
			proxy_log("reload: audit log %s: %s; keeping %s", ncfg->audit_path,
			    err, audit_path(srv->audit));
		else {
			audit_free(srv->audit);
			srv->audit = na;
		}
	}
	mcache_set_max(srv->mcache, ncfg->cache_manifest_bytes);
	webhook_reconfigure(srv->webhooks, ncfg);
	/*
	 * What verified manifests reference was decided under the old policy
	 * (pins, required roles): forget it. Cached manifest bytes stay; they
	 * are only served after a verdict under the new policy.
	 */
	{
		struct refs *nr = refs_new(PROXY_MAX_REFS);

		if (nr != NULL) {
			refs_free(srv->refs);
			srv->refs = nr;
		}
	}
	old = srv->cfg;
	srv->cfg = ncfg;
	config_free(old);	/* requests in flight keep their own reference */
	notary_set_freshness(srv->notary, (time_t)srv->cfg->trust_freshness_seconds);
	for (i = 0; i < srv->nhttp; i++)	/* new connections */
		evhttp_set_max_body_size(srv->http[i], body_cap(srv->cfg));
	proxy_log("reloaded %s", srv->cfg_path);
}

static void
on_usr1(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;

	(void)sig;
	(void)what;
	if (audit_reopen(srv->audit) == 0)
		proxy_log("audit log reopened");
}

void
server_free(struct server *srv)
{
	struct preq	*p;
	size_t		 i;

	/* detach every request from its client before evhttp frees them */
	for (p = TAILQ_FIRST(&srv->inflight); p != NULL; p = TAILQ_NEXT(p, entry)) {
		stream_unhook(p);
		if (p->req != NULL && p->conn != NULL)
			evhttp_connection_set_closecb(p->conn, NULL, NULL);
		if (p->req != NULL && p->flushing)
			evhttp_request_set_on_complete_cb(p->req, NULL, NULL);
		p->req = NULL;
		p->flushing = 0;
		if (p->up != NULL) {
			fetch_req_cancel(p->up);
			p->up = NULL;
		}
	}
	for (i = 0; i < srv->nhttp; i++)
		if (srv->http != NULL && srv->http[i] != NULL)
			evhttp_free(srv->http[i]);
	webhook_free(srv->webhooks);	/* before fetch: it cancels its requests */
	srv->webhooks = NULL;
	/* fetch first: it drops the notary's and /readyz's requests without calling back */
	fetch_ctx_free(srv->fetch);
	srv->fetch = NULL;
	notary_free(srv->notary);
	srv->draining = 0;
	while ((p = TAILQ_FIRST(&srv->inflight)) != NULL)
		preq_free(p);
	if (srv->ready != NULL) {	/* its waiters are gone with them */
		json_decref(srv->ready->detail);
		free(srv->ready);
	}
	for (i = 0; i < srv->nhttp; i++)
		if (srv->ssl_ctx != NULL && srv->ssl_ctx[i] != NULL)
			SSL_CTX_free(srv->ssl_ctx[i]);
	free(srv->http);
	free(srv->bound);
	free(srv->ssl_ctx);
	mcache_free(srv->mcache);
	refs_free(srv->refs);
	audit_free(srv->audit);
	/* last: evhttp_free() and preq_free() above still report to it */
	metrics_free(srv->metrics);
	if (srv->ev_term) event_free(srv->ev_term);
	if (srv->ev_int) event_free(srv->ev_int);
	if (srv->ev_hup) event_free(srv->ev_hup);
	if (srv->ev_usr1) event_free(srv->ev_usr1);
	if (srv->ev_grace) event_free(srv->ev_grace);
	config_free(srv->cfg);
	if (srv->own_base && srv->base != NULL)
		event_base_free(srv->base);
	memset(srv, 0, sizeof(*srv));
}

int
server_setup(struct server *srv, const char *path, struct event_base *base, int signals)
{
	struct config_errors	*errs;
	char			 err[256];
	size_t			 i;
	int			 rc;

	memset(srv, 0, sizeof(*srv));
	TAILQ_INIT(&srv->inflight);
	srv->cfg_path = path;
	if ((errs = calloc(1, sizeof(*errs))) == NULL)
		return -1;
	rc = config_load(path, &srv->cfg, errs);
	for (i = 0; i < errs->n; i++)	/* the errors, or the warnings */
		fprintf(stderr, "%s\n", errs->msgs[i].msg);
	free(errs);
	if (rc == -1)
		return -1;

	srv->base = base;
	if (base == NULL) {
		srv->own_base = 1;
		srv->base = event_base_new();
	}
	if (srv->base == NULL ||
	    (srv->metrics = metrics_new()) == NULL ||
	    (srv->fetch = fetch_ctx_new(srv->base)) == NULL ||
	    (srv->webhooks = webhook_new(srv->base, srv->fetch, srv->cfg)) == NULL ||
	    (srv->mcache = mcache_new(srv->cfg->cache_manifest_bytes)) == NULL ||
	    (srv->refs = refs_new(PROXY_MAX_REFS)) == NULL) {
		proxy_log("out of memory");
		return -1;
	}
	if ((srv->audit = audit_open(srv->cfg->audit_path, err, sizeof(err))) == NULL) {
		proxy_log("audit log: %s", err);
		return -1;
	}
	if ((srv->notary = notary_new(srv->fetch, srv->cfg->state_dir,
	    (time_t)srv->cfg->trust_freshness_seconds)) == NULL) {
		proxy_log("cannot set up the notary client");
		return -1;
	}
	notary_set_observer(srv->notary, metrics_notary_event, srv->metrics);
	if (listen_all(srv) == -1)
		return -1;
	if (!signals)
		return 0;
	if (priv_drop(srv) == -1)
		return -1;
	srv->ev_term = evsignal_new(srv->base, SIGTERM, on_term, srv);
	srv->ev_int = evsignal_new(srv->base, SIGINT, on_term, srv);
	srv->ev_hup = evsignal_new(srv->base, SIGHUP, on_hup, srv);
	srv->ev_usr1 = evsignal_new(srv->base, SIGUSR1, on_usr1, srv);
	if (srv->ev_term == NULL || srv->ev_int == NULL || srv->ev_hup == NULL ||
	    srv->ev_usr1 == NULL || evsignal_add(srv->ev_term, NULL) == -1 ||
	    evsignal_add(srv->ev_int, NULL) == -1 || evsignal_add(srv->ev_hup, NULL) == -1 ||
	    evsignal_add(srv->ev_usr1, NULL) == -1) {
		proxy_log("cannot set up signal handling");
		return -1;
	}
	return 0;
}

void
server_drain(struct server *srv)
{
	on_term(0, 0, srv);
}

void
server_reload(struct server *srv)
{
	on_hup(SIGHUP, 0, srv);
}

static int
serve_usage(void)
{
	fprintf(stderr, "usage: dctproxy serve -c FILE\n");
	return 2;
}

int
cli_serve(int argc, char **argv)
{
	struct server	 srv;
	const char	*path = NULL;
	size_t		 i;
	int		 rc = 1;

	for (i = 1; i < (size_t)argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
		    i + 1 < (size_t)argc)
			path = argv[++i];
		else
			return serve_usage();
	}
	if (path == NULL)
		return serve_usage();
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Blob bytes pass through blocks and evbuffer chains that are
	 * allocated and freed by the megabyte. glibc would hand the freed top
	 * of the heap back to the kernel and fault it in again on the next
	 * one (page faults were a third of the CPU time of a blob transfer);
	 * keep the heap, and keep blocks out of mmap. What stays mapped is
	 * bounded by what the transfers hold (server_int.h).
	 */
	mallopt(M_MMAP_THRESHOLD, 2 * PROXY_STREAM_BUFSZ);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
	if (server_setup(&srv, path, NULL, 1) == -1)
		goto out;
	proxy_log("serving (%zu registries, pid %ld)", srv.cfg->nregistries, (long)getpid());
	event_base_dispatch(srv.base);
	proxy_log("stopped after %llu requests", (unsigned long long)srv.nrequests);
	rc = 0;
out:
	server_free(&srv);
	return rc;
}

/* ---- healthcheck ---------------------------------------------------------------- */

static size_t
discard(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

int
cli_healthcheck(int argc, char **argv)
{
	struct config_errors	*errs;
	struct config		*cfg = NULL;
	const char		*path = NULL, *url = NULL;
	char			 buf[512];
	CURL			*e;
	long			 code = 0;
	CURLcode		 res;
	size_t			 i;

	for (i = 1; i < (size_t)argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
		    i + 1 < (size_t)argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--url") == 0 && i + 1 < (size_t)argc)
			url = argv[++i];
		else {
			fprintf(stderr, "usage: dctproxy healthcheck (-c FILE | --url URL)\n");
			return 2;
		}
	}
	if (url == NULL) {
		if (path == NULL) {
			fprintf(stderr, "usage: dctproxy healthcheck (-c FILE | --url URL)\n");
			return 2;
		}
		if ((errs = calloc(1, sizeof(*errs))) == NULL)
			return 1;
		if (config_load(path, &cfg, errs) == -1) {
			for (i = 0; i < errs->n; i++)
				fprintf(stderr, "%s\n", errs->msgs[i].msg);
			free(errs);
			return 1;
		}
		free(errs);
		snprintf(buf, sizeof(buf), "%s://%s%s%s:%u/healthz",
		    cfg->listeners[0].tls ? "https" : "http",
		    cfg->listeners[0].ipv6 ? "[" : "", cfg->listeners[0].host,
		    cfg->listeners[0].ipv6 ? "]" : "", cfg->listeners[0].port);
		config_free(cfg);
	} else
		snprintf(buf, sizeof(buf), "%s", url);
	if ((e = curl_easy_init()) == NULL)
		return 1;
	curl_easy_setopt(e, CURLOPT_URL, buf);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	/* liveness of our own listener on this host: the certificate is not the point */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	res = curl_easy_perform(e);
	if (res == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	if (res != CURLE_OK) {
		fprintf(stderr, "dctproxy: healthcheck %s: %s\n", buf, curl_easy_strerror(res));
		return 1;
	}
	if (code != 200) {
		fprintf(stderr, "dctproxy: healthcheck %s: HTTP %ld\n", buf, code);
		return 1;
	}
	printf("ok\n");
	return 0;
}
