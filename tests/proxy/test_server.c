/*
 * The server in-process (server_setup on the test's event_base) in front of
 * the misbehaving test upstream (tsrv.c), in mode "disabled" so that no
 * Notary is involved: what is tested here is the plumbing — streaming with
 * backpressure, failures mid-transfer, HEAD and Range pass-through, client
 * disconnects, a TLS ClientHello on the plain port, timeouts, drain and
 * reload. The verdicts are tested against the real lab in
 * tests/integration/30_proxy_*.sh.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "proxy/server_int.h"
#include "tests/proxy/tsrv.h"
#include "tests/unit.h"

struct senv {
	struct event_base	*base;
	struct tsrv		*up;
	struct server		 srv;
	struct fetch_ctx	*fc;
	int			 port;
	int			 metrics;	/* write "metrics": {"enabled": true} */
	char			 dir[64];
	char			 cfg[128];
	char			 url[512];
};

static int
free_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
write_config(struct senv *e, const char *mode, int idle, int upport)
{
	FILE *f;

	if ((f = fopen(e->cfg, "w")) == NULL)
		return -1;
	fprintf(f, "{\"listeners\":[{\"address\":\"127.0.0.1:%d\"}],"
	    "\"state_dir\":\"%s\",\"audit\":{\"path\":\"%s/audit.log\"},"
	    "\"timeouts\":{\"idle_seconds\":%d,\"shutdown_grace_seconds\":5},"
	    "\"registries\":[{\"name\":\"127.0.0.1:%d\",\"upstream\":\"http://127.0.0.1:%d\","
	    "\"notary\":{\"url\":\"https://127.0.0.1:1\"}}],"
	    "\"content-trust\":{\"mode\":\"%s\"},\"metrics\":{\"enabled\":%s}}\n",
	    e->port, e->dir, e->dir, idle, e->port, upport, mode,
	    e->metrics ? "true" : "false");
	return fclose(f);
}

static void
senv_init_metrics(struct senv *e, int idle, int metrics)
{
	memset(e, 0, sizeof(*e));
	e->metrics = metrics;
	snprintf(e->dir, sizeof(e->dir), "%s", unit_tmpdir());
	snprintf(e->cfg, sizeof(e->cfg), "%s/config.json", e->dir);
	T_ASSERT((e->base = event_base_new()) != NULL);
	T_ASSERT((e->up = tsrv_new(e->base)) != NULL);
	T_ASSERT((e->port = free_port()) > 0);
	T_EQ_INT(write_config(e, "disabled", idle, e->up->port), 0);
	T_EQ_INT(server_setup(&e->srv, e->cfg, e->base, 0), 0);
	T_ASSERT((e->fc = fetch_ctx_new(e->base)) != NULL);
}

static void
senv_init(struct senv *e, int idle)
{
	senv_init_metrics(e, idle, 0);
}

static void
senv_free(struct senv *e)
{
	fetch_ctx_free(e->fc);
	server_free(&e->srv);
	tsrv_free(e->up);
	event_base_free(e->base);
}

static const char *
purl(struct senv *e, const char *path)
{
	snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d%s", e->port, path);
	return e->url;
}

#define BLOB_B	"/v2/lib/x/blobs/sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define BLOB_F	"/v2/lib/x/blobs/sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define BLOB_D	"/v2/lib/x/blobs/sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

struct client {
	struct senv		*e;
	struct fetch_req	*req;
	int			 done;
	int			 status;
	int			 hstatus;
	size_t			 got;
	size_t			 offset;	/* expected pattern offset (Range) */
	int			 bad;
	char			 clen[32];
	char			 crange[64];
	char			 dcdigest[80];
	/* pacing */
	size_t			 pause_at;	/* pause once when got >= this (0: never) */
	long			 pause_ms;
	size_t			 pace_every;	/* pause every this many bytes */
	long			 pace_ms;
	size_t			 next_pace;
	uint64_t		 upstream_ahead;	/* tsrv blob_sent when paused */
	size_t			 got_at_pause;
	size_t			 cancel_at;
	int			 cancelled;
};

static int
c_headers(struct fetch_req *r, int status, void *arg)
{
	struct client	*c = arg;
	const char	*v;

	c->hstatus = status;
	v = fetch_req_header(r, "Content-Length");
	snprintf(c->clen, sizeof(c->clen), "%s", v ? v : "");
	v = fetch_req_header(r, "Content-Range");
	snprintf(c->crange, sizeof(c->crange), "%s", v ? v : "");
	v = fetch_req_header(r, "Docker-Distribution-API-Version");
	snprintf(c->dcdigest, sizeof(c->dcdigest), "%s", v ? v : "");
	return 0;
}

static void
c_resume(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	if (c->got_at_pause > 0 && c->upstream_ahead == 0)
		c->upstream_ahead = c->e->up->blob_sent;
	if (!c->done && !c->cancelled)
		fetch_req_resume(c->req);
}

static void
c_cancel(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	if (!c->done && !c->cancelled) {
		c->cancelled = 1;
		fetch_req_cancel(c->req);
	}
}

static int
c_data(struct fetch_req *r, const uint8_t *p, size_t len, void *arg)
{
	struct client	*c = arg;
	struct timeval	 tv;
	size_t		 i;

	(void)r;
	for (i = 0; i < len; i++)
		if (p[i] != tsrv_blob_byte(c->offset + c->got + i))
			c->bad = 1;
	c->got += len;
	if (c->cancel_at > 0 && c->got >= c->cancel_at && !c->cancelled) {
		tv.tv_sec = 0;
		tv.tv_usec = 1000;
		event_base_once(c->e->base, -1, EV_TIMEOUT, c_cancel, c, &tv);
		return 1;
	}
	if (c->pause_at > 0 && c->got >= c->pause_at && c->got_at_pause == 0) {
		c->got_at_pause = c->got;
		tv.tv_sec = c->pause_ms / 1000;
		tv.tv_usec = (c->pause_ms % 1000) * 1000;
		event_base_once(c->e->base, -1, EV_TIMEOUT, c_resume, c, &tv);
		return 1;
	}
	if (c->pace_every > 0 && c->got >= c->next_pace) {
		c->next_pace = c->got + c->pace_every;
		tv.tv_sec = 0;
		tv.tv_usec = c->pace_ms * 1000;
		event_base_once(c->e->base, -1, EV_TIMEOUT, c_resume, c, &tv);
		return 1;
	}
	return 0;
}

static void
c_done(struct fetch_req *r, int status, const char *error, void *arg)
{
	struct client *c = arg;

	(void)r;
	(void)error;
	c->done = 1;
	c->status = status;
}

static void
request(struct senv *e, struct client *c, const char *path, const char *method,
    const char *hdr, long wait_ms)
{
	struct fetch_opts		o;
	struct fetch_stream_opts	so;
	struct fetch_handlers		h = { c_headers, c_data, c_done, NULL };
	const char			*hdrs[1];

	c->e = e;
	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = 2000;
	o.timeout_ms = 30000;
	o.max_len = 256 * 1024 * 1024;
	if (hdr != NULL) {
		hdrs[0] = hdr;
		o.headers = hdrs;
		o.nheaders = 1;
	}
	memset(&so, 0, sizeof(so));
	so.method = method;
	T_EQ_INT(fetch_stream(e->fc, purl(e, path), &o, &so, &h, c, &c->req), 0);
	if (wait_ms > 0)
		T_EQ_INT(tsrv_run_until(e->base, &c->done, 1, wait_ms), 0);
}

UNIT_TEST(server_ping_and_healthz)
{
	struct senv	e;
	struct client	c;

	senv_init(&e, 30);
	memset(&c, 0, sizeof(c));
	request(&e, &c, "/v2/", NULL, NULL, 5000);
	T_EQ_INT(c.status, 200);
	T_EQ_STR(c.dcdigest, "registry/2.0");
	/* the 200 is the upstream's answer: any status but 401 would be one too */
	T_EQ_INT(e.up->nrequests, 1);
	T_EQ_STR(e.up->last_path, "/v2/");
	memset(&c, 0, sizeof(c));
	request(&e, &c, "/healthz", NULL, NULL, 5000);
	T_EQ_INT(c.status, 200);
	memset(&c, 0, sizeof(c));
	request(&e, &c, "/nope", NULL, NULL, 5000);
	T_EQ_INT(c.status, 404);
	senv_free(&e);
}

/*
 * An upstream that takes connections and never answers: a listening socket
 * nobody accepts on (the kernel completes the handshake). Returns the fd.
 */
static int
hanging_upstream(int *port)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(fd, 16) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/*
 * Pings and /readyz waiting for their upstream when a client leaves and
 * the server stops: nothing may leak (the sanitizer run checks). evhttp
 * does not read a connection while its request is unanswered, so the
 * client that leaves is only noticed when the server stops.
 */
UNIT_TEST(server_ping_and_readyz_pending_when_the_server_stops)
{
	struct senv	e;
	struct client	c, c2, c3;
	int		never = 0, hang, hport = 0;

	senv_init(&e, 30);
	T_ASSERT((hang = hanging_upstream(&hport)) != -1);
	T_EQ_INT(write_config(&e, "disabled", 30, hport), 0);
	server_reload(&e.srv);
	memset(&c, 0, sizeof(c));
	memset(&c2, 0, sizeof(c2));
	memset(&c3, 0, sizeof(c3));
	request(&e, &c, "/v2/", NULL, NULL, 0);
	request(&e, &c2, "/v2/", NULL, NULL, 0);
	request(&e, &c3, "/readyz", NULL, NULL, 0);
	tsrv_run_until(e.base, &never, 1, 300);
	T_EQ_INT(e.srv.ninflight, 3);
	T_EQ_INT(c.done + c2.done + c3.done, 0);
	fetch_req_cancel(c.req);
	tsrv_run_until(e.base, &never, 1, 100);
	senv_free(&e);
	close(hang);
}

/*
 * Probes of /readyz at once share one check: one request to the upstream,
 * one answer for all (here 503: the upstream hangs up, Notary is not there).
 */
UNIT_TEST(server_readyz_probes_share_one_check)
{
	struct senv	e;
	struct client	c[3];
	int		never = 0, hang, hport = 0, fds[8], n = 0, i, fd;

	senv_init(&e, 30);
	T_ASSERT((hang = hanging_upstream(&hport)) != -1);
	T_EQ_INT(write_config(&e, "disabled", 30, hport), 0);
	server_reload(&e.srv);
	memset(c, 0, sizeof(c));
	for (i = 0; i < 3; i++)
		request(&e, &c[i], "/readyz", NULL, NULL, 0);
	tsrv_run_until(e.base, &never, 1, 300);
	T_EQ_INT(e.srv.ninflight, 3);
	fcntl(hang, F_SETFL, O_NONBLOCK);
	while (n < 8 && (fd = accept(hang, NULL, NULL)) != -1)
		fds[n++] = fd;
	for (i = 0; i < n; i++)
		close(fds[i]);
	T_EQ_INT(n, 1);
	for (i = 0; i < 3; i++) {
		T_EQ_INT(tsrv_run_until(e.base, &c[i].done, 1, 5000), 0);
		T_EQ_INT(c[i].status, 503);
	}
	senv_free(&e);
	close(hang);
}

/*
 * The repositories indexed lately go with the digests they indexed when a
 * reload starts a new refs: else a blob of a repository indexed just
 * before a reload would be refused for PROXY_INDEX_INTERVAL.
 */
UNIT_TEST(server_reload_forgets_index_marks)
{
	struct senv	e;
	time_t		now = time(NULL);

	senv_init(&e, 30);
	T_EQ_INT(refs_index_allowed(e.srv.refs, "r.test/lib/x", now), 1);
	T_EQ_INT(refs_index_allowed(e.srv.refs, "r.test/lib/x", now + 1), 0);
	T_EQ_INT(refs_index_allowed(e.srv.refs, "r.test/lib/y", now + 1), 1);
	T_EQ_INT(refs_index_allowed(e.srv.refs, "r.test/lib/x", now + PROXY_INDEX_INTERVAL), 1);
	T_EQ_INT(refs_index_allowed(e.srv.refs, "r.test/lib/y", now + 2), 0);
	server_reload(&e.srv);
	T_EQ_INT(refs_index_allowed(e.srv.refs, "r.test/lib/y", now + 2), 1);
	senv_free(&e);
}

UNIT_TEST(server_blob_streams_with_backpressure)
{
	struct senv	e;
	struct client	c;

	senv_init(&e, 30);
	e.up->blob_len = 64 * 1024 * 1024;
	memset(&c, 0, sizeof(c));
	/* the client stops reading after 1 MiB for 700 ms */
	c.pause_at = 1024 * 1024;
	c.pause_ms = 700;
	request(&e, &c, BLOB_B, NULL, NULL, 60000);
	T_EQ_INT(c.status, 200);
	T_EQ_STR(c.clen, "67108864");
	T_EQ_INT(c.got, 64 * 1024 * 1024);
	T_EQ_INT(c.bad, 0);
	/*
	 * While the client was stalled, the upstream could only run ahead by
	 * the proxy's high-water mark plus socket and curl buffers, not the
	 * whole blob.
	 */
	if (getenv("TEST_VERBOSE") != NULL)
		fprintf(stderr, "upstream ahead by %llu bytes at the pause\n",
		    (unsigned long long)c.upstream_ahead);
	T_ASSERT(c.upstream_ahead > 0);
	T_ASSERT(c.upstream_ahead < 24 * 1024 * 1024);
	senv_free(&e);
}

UNIT_TEST(server_blob_redirect_followed_upstream_side)
{
	struct senv	e;
	struct client	c;

	senv_init(&e, 30);
	e.up->blob_len = 300000;
	memset(&c, 0, sizeof(c));
	request(&e, &c, BLOB_F, NULL, NULL, 10000);
	T_EQ_INT(c.status, 200);
	T_EQ_INT(c.got, 300000);
	T_EQ_INT(c.bad, 0);
	T_EQ_STR(e.up->last_path, "/blob");
	senv_free(&e);
}

UNIT_TEST(server_blob_upstream_dies_midway_fails_the_client)
{
	struct senv	e;
	struct client	c;

	senv_init(&e, 30);
	memset(&c, 0, sizeof(c));
	request(&e, &c, BLOB_D, NULL, NULL, 10000);
	/* the status line said 200 with 100000 bytes; the client must not see a complete 200 */
	T_EQ_INT(c.hstatus, 200);
	T_EQ_STR(c.clen, "100000");
	T_EQ_INT(c.status, TRUST_FETCH_NETERR);
	T_ASSERT(c.got < 100000);
	senv_free(&e);
}

UNIT_TEST(server_blob_head_and_range)
{
	struct senv	e;
	struct client	c;

	senv_init(&e, 30);
	e.up->blob_len = 100000;
	memset(&c, 0, sizeof(c));
	request(&e, &c, BLOB_B, "HEAD", NULL, 5000);
	T_EQ_INT(c.status, 200);
	T_EQ_STR(c.clen, "100000");
	T_EQ_INT(c.got, 0);
	memset(&c, 0, sizeof(c));
	c.offset = 1000;
	request(&e, &c, BLOB_B, NULL, "Range: bytes=1000-", 5000);
	T_EQ_INT(c.status, 206);
	T_EQ_STR(c.crange, "bytes 1000-99999/100000");
	T_EQ_INT(c.got, 99000);
	T_EQ_INT(c.bad, 0);
	T_CONTAINS(e.up->last_head, "\r\nRange: bytes=1000-\r\n");
	senv_free(&e);
}

UNIT_TEST(server_client_disconnect_cancels_upstream)
{
	struct senv	e;
	struct client	c;
	int		never = 0;

	senv_init(&e, 30);
	e.up->blob_len = 64 * 1024 * 1024;
	memset(&c, 0, sizeof(c));
	c.cancel_at = 512 * 1024;
	request(&e, &c, BLOB_B, NULL, NULL, 0);
	tsrv_run_until(e.base, &c.cancelled, 1, 10000);
	T_ASSERT(c.cancelled);
	tsrv_run_until(e.base, &never, 1, 500);
	T_EQ_INT(e.srv.ninflight, 0);
	T_EQ_INT(e.up->nconns, 0);
	T_ASSERT(e.up->blob_sent < 64 * 1024 * 1024);
	senv_free(&e);
}

UNIT_TEST(server_slow_reader_longer_than_idle_timeout)
{
	struct senv	e;
	struct client	c;

	/* idle timeout 1 s; the transfer takes longer but never stalls 1 s */
	senv_init(&e, 1);
	e.up->blob_len = 6 * 1024 * 1024;
	memset(&c, 0, sizeof(c));
	c.pace_every = 256 * 1024;
	c.pace_ms = 80;
	c.next_pace = c.pace_every;
	request(&e, &c, BLOB_B, NULL, NULL, 30000);
	T_EQ_INT(c.status, 200);
	T_EQ_INT(c.got, 6 * 1024 * 1024);
	T_EQ_INT(c.bad, 0);
	senv_free(&e);
}

UNIT_TEST(server_upstream_unreachable_is_502)
{
	struct senv	e;
	struct client	c;

	senv_init(&e, 30);
	/* point the registry at a port nobody listens on */
	T_EQ_INT(write_config(&e, "disabled", 30, 1), 0);
	server_reload(&e.srv);
	memset(&c, 0, sizeof(c));
	request(&e, &c, BLOB_B, NULL, NULL, 10000);
	T_EQ_INT(c.status, 502);
	senv_free(&e);
}

UNIT_TEST(server_reload_invalid_config_keeps_the_old)
{
	struct senv	 e;
	struct client	 c;
	struct config	*before;
	FILE		*f;

	senv_init(&e, 30);
	before = e.srv.cfg;
	T_ASSERT((f = fopen(e.cfg, "w")) != NULL);
	fprintf(f, "{\"listeners\": 3}\n");
	fclose(f);
	server_reload(&e.srv);
	T_ASSERT(e.srv.cfg == before);
	memset(&c, 0, sizeof(c));
	request(&e, &c, BLOB_B, "HEAD", NULL, 5000);
	T_EQ_INT(c.status, 200);
	senv_free(&e);
}

UNIT_TEST(server_survives_tls_client_hello_on_plain_port)
{
	static const uint8_t hello[] = {
		0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
		21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 0x00, 0x00, 0x02, 0x13,
		0x01, 0x01, 0x00, 0x00, 0x00, '\r', '\n', '\r', '\n'
	};
	struct senv		e;
	struct client		c;
	struct sockaddr_in	sin;
	char			buf[512];
	ssize_t			n;
	int			fd, never = 0, closed = 0, i;

	senv_init(&e, 30);
	T_ASSERT((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)e.port);
	T_EQ_INT(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	T_EQ_INT(write(fd, hello, sizeof(hello)), (long)sizeof(hello));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (i = 0; i < 20 && !closed; i++) {
		tsrv_run_until(e.base, &never, 1, 50);
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		if (n == 0 || (n == -1 && errno != EAGAIN))
			closed = 1;
	}
	close(fd);
	T_ASSERT(closed);
	memset(&c, 0, sizeof(c));
	request(&e, &c, "/v2/", NULL, NULL, 5000);
	T_EQ_INT(c.status, 200);
	senv_free(&e);
}

UNIT_TEST(server_drain_lets_transfers_finish)
{
	struct senv	e;
	struct client	c, c2;
	int		never = 0;

	senv_init(&e, 30);
	e.up->blob_len = 64 * 1024 * 1024;
	memset(&c, 0, sizeof(c));
	c.pause_at = 512 * 1024;
	c.pause_ms = 300;
	request(&e, &c, BLOB_B, NULL, NULL, 0);
	tsrv_run_until(e.base, &never, 1, 100);
	T_EQ_INT(e.srv.ninflight, 1);
	server_drain(&e.srv);
	T_EQ_INT(tsrv_run_until(e.base, &c.done, 1, 10000), 0);
	T_EQ_INT(c.status, 200);
	T_EQ_INT(c.got, 64 * 1024 * 1024);
	T_EQ_INT(e.srv.ninflight, 0);
	/* and no new connections are taken (a new client: no reused connection) */
	fetch_ctx_free(e.fc);
	T_ASSERT((e.fc = fetch_ctx_new(e.base)) != NULL);
	memset(&c2, 0, sizeof(c2));
	request(&e, &c2, "/v2/", NULL, NULL, 5000);
	T_EQ_INT(c2.status, TRUST_FETCH_NETERR);
	senv_free(&e);
}

/* ---- /metrics ---------------------------------------------------------------- */

struct got {
	int	 done;
	int	 status;
	char	 ctype[128];
	char	*body;
};

static void
got_cb(const struct fetch_result *r, void *arg)
{
	struct got *g = arg;

	g->done = 1;
	g->status = r->status;
	snprintf(g->ctype, sizeof(g->ctype), "%s", r->content_type ? r->content_type : "");
	if ((g->body = malloc(r->len + 1)) != NULL) {
		memcpy(g->body, r->body ? (const char *)r->body : "", r->len);
		g->body[r->len] = '\0';
	}
}

/* GET path, buffered; the caller frees g->body. */
static void
get(struct senv *e, struct got *g, const char *path)
{
	struct fetch_opts o;

	memset(g, 0, sizeof(*g));
	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = 2000;
	o.timeout_ms = 5000;
	o.max_len = 1024 * 1024;
	T_EQ_INT(fetch_get(e->fc, purl(e, path), &o, got_cb, g), 0);
	T_EQ_INT(tsrv_run_until(e->base, &g->done, 1, 5000), 0);
}

UNIT_TEST(server_metrics_only_when_enabled)
{
	struct senv	e;
	struct got	g;
	struct client	c;

	senv_init(&e, 30);
	get(&e, &g, "/metrics");
	free(g.body);
	T_EQ_INT(g.status, 404);
	senv_free(&e);

	senv_init_metrics(&e, 30, 1);
	memset(&c, 0, sizeof(c));
	request(&e, &c, BLOB_B, "HEAD", NULL, 5000);
	T_EQ_INT(c.status, 200);
	get(&e, &g, "/metrics");
	T_EQ_INT(g.status, 200);
	T_EQ_STR(g.ctype, "text/plain; version=0.0.4; charset=utf-8");
	T_CONTAINS(g.body, "\ndctproxy_decisions_total{kind=\"blob\",decision=\"allow\","
	    "reason=\"trust-disabled\"} 1\n");
	T_CONTAINS(g.body, "\ndctproxy_request_duration_seconds_count{route=\"blob\"} 1\n");
	/* the scrape itself is not in its own answer, and is in flight */
	T_CONTAINS(g.body, "\ndctproxy_request_duration_seconds_count{route=\"metrics\"} 0\n");
	T_CONTAINS(g.body, "\ndctproxy_requests_in_flight 1\n");
	free(g.body);
	get(&e, &g, "/metrics");
	T_CONTAINS(g.body, "\ndctproxy_request_duration_seconds_count{route=\"metrics\"} 1\n");
	free(g.body);
	senv_free(&e);
}

/* A raw client connection that sent GET /healthz and read the answer. */
static int
held_conn(struct senv *e)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	struct sockaddr_in	sin;
	char			buf[1024];
	size_t			got = 0;
	ssize_t			n;
	int			fd, never = 0, i;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)e->port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (i = 0; i < 100; i++) {
		tsrv_run_until(e->base, &never, 1, 20);
		while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\nok\n") != NULL)
			return fd;
	}
	close(fd);
	return -1;
}

/* Run the loop until the open-connection gauge is want (2 s at most). */
static size_t
conns_settle(struct senv *e, size_t want)
{
	int never = 0, i;

	for (i = 0; i < 100 && metrics_conn_count(e->srv.metrics) != want; i++)
		tsrv_run_until(e->base, &never, 1, 20);
	return metrics_conn_count(e->srv.metrics);
}

UNIT_TEST(server_metrics_open_connections)
{
	struct senv	e;
	int		fds[4], silent, i;

	senv_init_metrics(&e, 30, 1);
	for (i = 0; i < 4; i++)
		T_ASSERT((fds[i] = held_conn(&e)) != -1);
	T_EQ_INT(conns_settle(&e, 4), 4);
	/* a connection counts from its first request: a silent one does not */
	silent = socket(AF_INET, SOCK_STREAM, 0);
	{
		struct sockaddr_in sin;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons((uint16_t)e.port);
		T_EQ_INT(connect(silent, (struct sockaddr *)&sin, sizeof(sin)), 0);
	}
	T_EQ_INT(conns_settle(&e, 5), 4);
	close(silent);
	close(fds[0]);
	close(fds[1]);
	T_EQ_INT(conns_settle(&e, 2), 2);
	/* the server goes away with idle connections open: their close callbacks run */
	senv_free(&e);
	close(fds[2]);
	close(fds[3]);
}

/* ---- direct upstream reads (fetch_stream_opts.direct) ------------------------ */

/*
 * A blob GET reads the upstream directly; /metrics counts it, and counts a
 * redirect (object storage) as a fallback to curl.
 */
UNIT_TEST(server_blob_direct_read_counted)
{
	struct senv		e;
	struct client		c;
	struct got		g;
	struct fetch_stats	st;

	senv_init_metrics(&e, 30, 1);
	e.up->blob_len = 5 * 1024 * 1024 + 3;
	memset(&c, 0, sizeof(c));
	request(&e, &c, BLOB_B, NULL, NULL, 20000);
	T_EQ_INT(c.status, 200);
	T_EQ_STR(c.clen, "5242883");
	T_EQ_INT(c.got, 5 * 1024 * 1024 + 3);
	T_EQ_INT(c.bad, 0);
	/* the proxy's upstream request was fetch's own */
	T_ASSERT(strstr(e.up->last_head, "Connection:") == NULL);	/* kept alive */
	fetch_get_stats(e.srv.fetch, &st);
	T_EQ_INT(st.direct, 1);
	T_EQ_INT(st.fallback, 0);
	get(&e, &g, "/metrics");
	T_EQ_INT(g.status, 200);
	T_CONTAINS(g.body, "\ndctproxy_upstream_direct_reads_total 1\n");
	T_CONTAINS(g.body, "\ndctproxy_upstream_direct_fallbacks_total 0\n");
	free(g.body);

	e.up->blob_len = 300000;
	memset(&c, 0, sizeof(c));
	request(&e, &c, BLOB_F, NULL, NULL, 20000);
	T_EQ_INT(c.status, 200);
	T_EQ_INT(c.got, 300000);
	T_EQ_INT(c.bad, 0);
	get(&e, &g, "/metrics");
	T_CONTAINS(g.body, "\ndctproxy_upstream_direct_reads_total 1\n");
	T_CONTAINS(g.body, "\ndctproxy_upstream_direct_fallbacks_total 1\n");
	free(g.body);
	senv_free(&e);
}

/*
 * A raw client on the plain listener that reads nothing for a while, then
 * slowly: the proxy writes the chains of direct reads to the socket,
 * queues what the socket does not take, pauses the upstream above the
 * high-water mark and resumes it; every byte arrives, in order.
 */
UNIT_TEST(server_blob_direct_slow_raw_reader)
{
	struct senv		 e;
	struct fetch_stats	 st;
	char			 req[512], head[8192];
	uint8_t			 buf[65536];
	const char		*eoh, *cl;
	size_t			 hlen = 0, got = 0, clen = 0, blen = 32 * 1024 * 1024, i, n0;
	uint64_t		 ahead = 0;
	ssize_t			 n;
	int			 fd, never = 0, tick, bad = 0, rcv = 32768, in_body = 0, eof = 0;

	senv_init(&e, 30);
	e.up->blob_len = blen;
	T_ASSERT((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	{
		struct sockaddr_in sin;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons((uint16_t)e.port);
		T_EQ_INT(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", BLOB_B, e.port);
	T_EQ_INT(write(fd, req, strlen(req)), (long)strlen(req));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	/* 600 ms without reading: the proxy must hold the upstream back */
	tsrv_run_until(e.base, &never, 1, 600);
	ahead = e.up->blob_sent;
	for (tick = 0; tick < 20000 && !eof && (!in_body || got < clen); tick++) {
		tsrv_run_until(e.base, &never, 1, 1);
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			eof = 1;
		if (n <= 0)
			continue;
		n0 = 0;
		if (!in_body) {
			size_t take = (size_t)n < sizeof(head) - 1 - hlen ? (size_t)n :
			    sizeof(head) - 1 - hlen;

			memcpy(head + hlen, buf, take);
			hlen += take;
			head[hlen] = '\0';
			if ((eoh = strstr(head, "\r\n\r\n")) == NULL)
				continue;
			in_body = 1;
			/* what came after the head in this read is body */
			n0 = (size_t)(eoh + 4 - head) - (hlen - take);
			T_ASSERT(strncmp(head, "HTTP/1.1 200 ", 13) == 0);
			T_ASSERT((cl = strstr(head, "\r\nContent-Length: ")) != NULL);
			clen = strtoul(cl + 18, NULL, 10);
		}
		for (i = n0; i < (size_t)n; i++, got++)
			if (got >= clen || buf[i] != tsrv_blob_byte(got))
				bad = 1;
	}
	close(fd);
	if (getenv("TEST_VERBOSE") != NULL)
		fprintf(stderr, "upstream ahead by %llu bytes before the reads\n",
		    (unsigned long long)ahead);
	T_EQ_INT(in_body, 1);
	T_EQ_INT(clen, blen);
	T_EQ_INT(got, blen);
	T_EQ_INT(bad, 0);
	T_ASSERT(ahead > 0 && ahead < 24 * 1024 * 1024);
	fetch_get_stats(e.srv.fetch, &st);
	T_EQ_INT(st.direct, 1);
	T_EQ_INT(st.fallback, 0);
	senv_free(&e);
}
