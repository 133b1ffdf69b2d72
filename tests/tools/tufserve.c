/*
 * tufserve: a notary-server stand-in for tests, malicious on demand.
 *
 *	tufserve --port P --cert F --key K --root DIR
 *
 * HTTPS on 127.0.0.1:P only (libevent evhttp over bufferevent_openssl),
 * serving notary-server's read API from files (dct-semantics.md 4):
 *
 *   GET /v2/					200 {}
 *   GET /v2/<GUN>/_trust/tuf/<role>.json	DIR/<GUN>/<role>.json
 *   GET /v2/<GUN>/_trust/tuf/<role>.<hex>.json	DIR/<GUN>/<role>.json, whatever
 *						the hash: a malicious server
 *   GET /v2/<GUN>/_trust/tuf/<v>.<role>.json	DIR/<GUN>/<v>.<role>.json
 *   anything missing				404 METADATA_NOT_FOUND (notary's body)
 *
 * Files are read on every request, so a test can swap what is served
 * (e.g. point the symlink DIR/<GUN> at phase2/) without a restart.
 *
 * Fault injection: if DIR/<GUN>/<file>.fault exists (file as mapped above,
 * e.g. timestamp.json.fault), its first line says how to misbehave:
 *   endless	200 with a chunked body that never ends: valid-looking JSON is
 *		sent as fast as the client reads it (the next chunk goes out
 *		when the previous one has drained) until the client
 *		disconnects, or ENDLESS_SECONDS pass;
 *   length N	Content-Length: N (more than the body), the body, then close;
 *   status N	answer with HTTP status N and an error body;
 *   delay MS	wait MS milliseconds, then serve normally.
 *
 * One line per request on stderr. SIGINT/SIGTERM stop the server cleanly.
 * A test tool: it trusts its command line and its DIR, not its clients.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define SERVE_MAX_FILE		(64L * 1024 * 1024)	/* largest file served */
#define SERVE_MAX_PATH		1024			/* a request path */
#define SERVE_IO_TIMEOUT	30			/* evhttp read/write timeout, s */
#define SERVE_MAX_HEADERS	(16 * 1024)		/* request header bytes */
#define ENDLESS_SECONDS		60			/* an endless body's lifetime */
#define ENDLESS_CHUNK		(16 * 1024)		/* bytes per chunk */
#define DELAY_MAX_MS		(10 * 60 * 1000)	/* longest "delay" */

#define NOT_FOUND_BODY	"{\"errors\":[{\"code\":\"METADATA_NOT_FOUND\"," \
	"\"message\":\"You have requested metadata that does not exist.\"," \
	"\"detail\":{}}]}"

struct server {
	struct event_base	*base;
	SSL_CTX			*ctx;
	struct evhttp		*http;
	const char		*root;
};

/* An endless reply or a delayed one, bound to one request. */
struct pending {
	struct server		*srv;
	struct evhttp_request	*req;
	struct event		*timer;
	char			 path[SERVE_MAX_PATH];	/* delay: what to serve */
	unsigned long		 chunks;		/* endless: chunks sent */
};

static void serve_file(struct server *, struct evhttp_request *, const char *, int);

static void
logreq(struct evhttp_request *req, int status, size_t len, const char *note)
{
	fprintf(stderr, "tufserve: GET %s -> %d %zu%s%s\n",
	    evhttp_request_get_uri(req), status, len, note ? " " : "",
	    note ? note : "");
}

static void
reply(struct evhttp_request *req, int status, const char *ctype,
    const void *body, size_t len, const char *note)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL || evbuffer_add(b, body, len) != 0) {
		evbuffer_free(b);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	if (ctype != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", ctype);
	logreq(req, status, len, note);
	evhttp_send_reply(req, status, NULL, b);
	evbuffer_free(b);
}

static void
reply_json_error(struct evhttp_request *req, int status, const char *code,
    const char *message)
{
	char body[256];
	int n = snprintf(body, sizeof(body),
	    "{\"errors\":[{\"code\":\"%s\",\"message\":\"%s\",\"detail\":{}}]}",
	    code, message);

	reply(req, status, "application/json; charset=utf-8", body, (size_t)n,
	    NULL);
}

/* ---- pending requests: endless bodies and delays -------------------- */

static void
pending_free(struct pending *p)
{
	if (p == NULL)
		return;
	if (p->timer != NULL)
		event_free(p->timer);
	free(p);
}

/*
 * The connection of a pending request is going away. If evhttp detached
 * the request (the client disconnected mid-reply), freeing it is ours;
 * otherwise the connection frees it.
 */
static void
pending_closed(struct evhttp_connection *evcon, void *arg)
{
	struct pending *p = arg;

	(void)evcon;
	if (p->chunks > 0)
		fprintf(stderr, "tufserve: endless body: connection closed after %lu "
		    "chunks (%lu bytes)\n", p->chunks,
		    p->chunks * (unsigned long)ENDLESS_CHUNK);
	if (evhttp_request_get_connection(p->req) == NULL)
		evhttp_send_reply_end(p->req);	/* frees a detached request */
	pending_free(p);
}

static struct pending *
pending_new(struct server *srv, struct evhttp_request *req,
    void (*fire)(evutil_socket_t, short, void *))
{
	struct pending *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->srv = srv;
	p->req = req;
	if ((p->timer = evtimer_new(srv->base, fire, p)) == NULL) {
		free(p);
		return NULL;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    pending_closed, p);
	return p;
}

/* Stop watching the connection: the request completes normally now. */
static void
pending_done(struct pending *p)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(p->req);

	if (evcon != NULL)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	pending_free(p);
}

static void endless_more(struct pending *);

static void
endless_written(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	endless_more(arg);
}

/* One more chunk, sent when the previous one has left the output buffer. */
static void
endless_more(struct pending *p)
{
	struct evbuffer *b = evbuffer_new();
	size_t start;

	if (b == NULL)
		return;
	if (p->chunks == 0)
		evbuffer_add_printf(b, "{\"signed\":{\"_type\":\"Timestamp\","
		    "\"expires\":\"2099-01-01T00:00:00Z\",\"meta\":{");
	start = evbuffer_get_length(b);
	while (evbuffer_get_length(b) - start < ENDLESS_CHUNK - 64)
		evbuffer_add_printf(b, "\"pad%lu-%zu\":{\"length\":1},",
		    p->chunks, evbuffer_get_length(b));
	p->chunks++;
	evhttp_send_reply_chunk_with_cb(p->req, b, endless_written, p);
	evbuffer_free(b);
}

static void
endless_expired(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	struct evhttp_request *req = p->req;

	(void)fd;
	(void)what;
	fprintf(stderr, "tufserve: endless body: stopped after %d s (%lu chunks)\n",
	    ENDLESS_SECONDS, p->chunks);
	pending_done(p);
	evhttp_send_reply_end(req);
}

static void
serve_endless(struct server *srv, struct evhttp_request *req)
{
	struct timeval tv = { ENDLESS_SECONDS, 0 };
	struct pending *p = pending_new(srv, req, endless_expired);

	if (p == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evtimer_add(p->timer, &tv);
	logreq(req, 200, 0, "[endless]");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; charset=utf-8");
	evhttp_send_reply_start(req, 200, "OK");
	endless_more(p);
}

static void
delay_fired(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	struct server *srv = p->srv;
	struct evhttp_request *req = p->req;
	char path[SERVE_MAX_PATH];

	(void)fd;
	(void)what;
	memcpy(path, p->path, sizeof(path));
	pending_done(p);
	serve_file(srv, req, path, 0);
}

static void
serve_delayed(struct server *srv, struct evhttp_request *req, const char *path,
    long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct pending *p = pending_new(srv, req, delay_fired);

	if (p == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	snprintf(p->path, sizeof(p->path), "%s", path);
	evtimer_add(p->timer, &tv);
}

/* ---- files ------------------------------------------------------------ */

/* Read a whole file (at most max bytes). Returns NULL if absent or too big. */
static char *
slurp(const char *path, long max, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > max ||
	    fseek(f, 0, SEEK_SET) != 0 || (p = malloc((size_t)n + 1)) == NULL ||
	    fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		fclose(f);
		return NULL;
	}
	fclose(f);
	p[n] = '\0';
	*lenp = (size_t)n;
	return p;
}

static int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || (*end != '\0' && *end != '\n') ||
	    v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Serve DIR/<gun>/<file> (path), applying its fault unless nofault. */
static void
serve_file(struct server *srv, struct evhttp_request *req, const char *path,
    int use_fault)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char fpath[SERVE_MAX_PATH + 8], *fault = NULL, *body;
	size_t flen, len;
	long n;

	snprintf(fpath, sizeof(fpath), "%s.fault", path);
	if (use_fault)
		fault = slurp(fpath, 4096, &flen);
	if (fault != NULL && strncmp(fault, "delay ", 6) == 0 &&
	    parse_long(fault + 6, 0, DELAY_MAX_MS, &n) == 0) {
		free(fault);
		serve_delayed(srv, req, path, n);
		return;
	}
	if (fault != NULL && strncmp(fault, "status ", 7) == 0 &&
	    parse_long(fault + 7, 100, 599, &n) == 0) {
		free(fault);
		reply_json_error(req, (int)n, "UNKNOWN", "injected status");
		return;
	}
	if (fault != NULL && strncmp(fault, "endless", 7) == 0) {
		free(fault);
		serve_endless(srv, req);
		return;
	}
	if ((body = slurp(path, SERVE_MAX_FILE, &len)) == NULL) {
		free(fault);
		reply(req, 404, "application/json; charset=utf-8", NOT_FOUND_BODY,
		    strlen(NOT_FOUND_BODY), NULL);
		return;
	}
	if (fault != NULL && strncmp(fault, "length ", 7) == 0 &&
	    parse_long(fault + 7, 0, LONG_MAX, &n) == 0) {
		char cl[32];

		snprintf(cl, sizeof(cl), "%ld", n);
		evhttp_add_header(h, "Content-Length", cl);
		evhttp_add_header(h, "Connection", "close");
		reply(req, 200, "text/plain; charset=utf-8", body, len,
		    "[length lie]");
	} else {
		if (fault != NULL)
			fprintf(stderr, "tufserve: %s: unknown fault ignored\n", fpath);
		evhttp_add_header(h, "Cache-Control",
		    "public, max-age=300, s-maxage=300, must-revalidate");
		reply(req, 200, "text/plain; charset=utf-8", body, len, NULL);
	}
	free(fault);
	free(body);
}

/* A GUN or file path: [A-Za-z0-9._:/-], no empty, "." or ".." segment. */
static int
safe_path(const char *s, size_t len)
{
	size_t i, seg = 0;

	if (len == 0 || s[0] == '/' || s[len - 1] == '/')
		return 0;
	for (i = 0; i <= len; i++) {
		char c = i < len ? s[i] : '/';

		if (c == '/') {
			if (i == seg || (i - seg == 1 && s[seg] == '.') ||
			    (i - seg == 2 && s[seg] == '.' && s[seg + 1] == '.'))
				return 0;
			seg = i + 1;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
		    c == '-'))
			return 0;
	}
	return 1;
}

static int
is_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

/*
 * The local file name for a requested metadata file: "<role>.<hex>.json"
 * (hex of 64, 96 or 128 digits) maps to "<role>.json"; everything else
 * ("<role>.json", "<v>.<role>.json") to itself. Returns 0 or -1.
 */
static int
map_file(const char *file, char *out, size_t outlen)
{
	size_t len = strlen(file), base;
	const char *dot;

	if (len < 6 || strcmp(file + len - 5, ".json") != 0)
		return -1;
	base = len - 5;
	for (dot = file + base - 1; dot > file && *dot != '.' && *dot != '/'; dot--)
		;
	if (*dot == '.') {
		size_t hlen = (size_t)(file + base - dot - 1);

		if ((hlen == 64 || hlen == 96 || hlen == 128) && is_hex(dot + 1, hlen)) {
			if ((size_t)snprintf(out, outlen, "%.*s.json",
			    (int)(dot - file), file) >= outlen)
				return -1;
			return 0;
		}
	}
	if ((size_t)snprintf(out, outlen, "%s", file) >= outlen)
		return -1;
	return 0;
}

static void
handle(struct evhttp_request *req, void *arg)
{
	static const char marker[] = "/_trust/tuf/";
	struct server *srv = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	const char *gun, *mark, *file;
	char local[SERVE_MAX_PATH], full[SERVE_MAX_PATH + 8];
	size_t gunlen;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		reply_json_error(req, 405, "UNSUPPORTED", "read-only server");
		return;
	}
	if (path == NULL || strncmp(path, "/v2", 3) != 0) {
		reply(req, 404, "text/plain", "not found\n", 10, NULL);
		return;
	}
	if (strcmp(path, "/v2/") == 0 || strcmp(path, "/v2") == 0) {
		reply(req, 200, "application/json; charset=utf-8", "{}", 2, NULL);
		return;
	}
	gun = path + 4;
	if (path[3] != '/' || (mark = strstr(gun, marker)) == NULL) {
		reply(req, 404, "application/json; charset=utf-8", NOT_FOUND_BODY,
		    strlen(NOT_FOUND_BODY), NULL);
		return;
	}
	gunlen = (size_t)(mark - gun);
	file = mark + sizeof(marker) - 1;
	if (!safe_path(gun, gunlen) || !safe_path(file, strlen(file)) ||
	    map_file(file, local, sizeof(local)) != 0 ||
	    (size_t)snprintf(full, sizeof(full), "%s/%.*s/%s", srv->root,
	    (int)gunlen, gun, local) >= SERVE_MAX_PATH) {
		reply(req, 404, "application/json; charset=utf-8", NOT_FOUND_BODY,
		    strlen(NOT_FOUND_BODY), NULL);
		return;
	}
	serve_file(srv, req, full, 1);
}

/* ---- TLS and main ------------------------------------------------------ */

static struct bufferevent *
make_bev(struct event_base *base, void *arg)
{
	struct server *srv = arg;
	SSL *ssl = SSL_new(srv->ctx);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static SSL_CTX *
tls_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_print_errors_fp(stderr);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static void
usage(void)
{
	fprintf(stderr, "usage: tufserve --port P --cert FILE --key FILE --root DIR\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct server srv = { 0 };
	const char *cert = NULL, *key = NULL;
	struct event *sigint = NULL, *sigterm = NULL;
	long port = -1;
	int i, rc = 1;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0) {
			if (parse_long(argv[i + 1], 1, 65535, &port) != 0)
				usage();
		} else if (strcmp(argv[i], "--cert") == 0)
			cert = argv[i + 1];
		else if (strcmp(argv[i], "--key") == 0)
			key = argv[i + 1];
		else if (strcmp(argv[i], "--root") == 0)
			srv.root = argv[i + 1];
		else
			usage();
	}
	if (i != argc || port < 0 || cert == NULL || key == NULL || srv.root == NULL)
		usage();
	signal(SIGPIPE, SIG_IGN);

	if ((srv.ctx = tls_ctx(cert, key)) == NULL ||
	    (srv.base = event_base_new()) == NULL ||
	    (srv.http = evhttp_new(srv.base)) == NULL)
		goto out;
	evhttp_set_bevcb(srv.http, make_bev, &srv);
	evhttp_set_gencb(srv.http, handle, &srv);
	evhttp_set_timeout(srv.http, SERVE_IO_TIMEOUT);
	evhttp_set_max_headers_size(srv.http, SERVE_MAX_HEADERS);
	evhttp_set_max_body_size(srv.http, 0);
	evhttp_set_allowed_methods(srv.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	if (evhttp_bind_socket(srv.http, "127.0.0.1", (ev_uint16_t)port) != 0) {
		fprintf(stderr, "tufserve: cannot bind 127.0.0.1:%ld\n", port);
		goto out;
	}
	if ((sigint = evsignal_new(srv.base, SIGINT, on_signal, srv.base)) == NULL ||
	    (sigterm = evsignal_new(srv.base, SIGTERM, on_signal, srv.base)) == NULL ||
	    event_add(sigint, NULL) != 0 || event_add(sigterm, NULL) != 0)
		goto out;
	fprintf(stderr, "tufserve: serving %s on https://127.0.0.1:%ld\n",
	    srv.root, port);
	event_base_dispatch(srv.base);
	rc = 0;
out:
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (srv.http != NULL)
		evhttp_free(srv.http);	/* closes connections: pending_closed() frees */
	if (srv.base != NULL)
		event_base_free(srv.base);
	SSL_CTX_free(srv.ctx);
	return rc;
}
