/*
 * stream: pass a client's request upstream and stream the answer back.
 *
 * Used for what needs no verification of its bytes here: blobs the gate
 * allowed (their digest was verified as referenced by a signed manifest;
 * the client checks the bytes against the digest), tags/list, _catalog,
 * and manifests in permissive or disabled mode.
 *
 * Nothing is held whole: upstream bytes go to the client connection as
 * they come, and when the connection's output buffer is above a high-water
 * mark the upstream transfer is paused until it is at or below a low one
 * (a callback on the output evbuffer sees it drain; the resume runs from
 * the loop, not inside libevent's write path). Through curl the marks are
 * PROXY_STREAM_HWM and PROXY_STREAM_LWM: resuming before the buffer is
 * empty keeps the client socket fed while curl's next bytes come, and
 * spares pauses, which cost curl system calls. A direct read pauses as
 * soon as any of its bytes are left queued and resumes when none are: its
 * pause is free, the client socket's own buffer feeds the client
 * meanwhile, and the transfer holds one read at a time. The upstream
 * Content-Length is passed on, so evhttp sends the body as-is; without one
 * the client gets chunked encoding.
 *
 * Blob GETs ask fetch for a direct read (fetch_stream_opts.direct: from a
 * plain-http upstream the body is read into blocks without curl's copy)
 * and take the evbuffer holding them in s_buffer; on a plain client
 * connection with nothing queued they are written to the socket at once,
 * while still in the cache, as nginx does. Other bodies come through
 * s_data, copied.
 *
 * Failure after the status line was sent cannot be reported with a status
 * any more: the connection is closed before the promised length (or
 * without the final chunk), so the client sees a failed transfer, never a
 * short body presented as complete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>

#include "proxy/server_int.h"

/* From the loop: the client's output drained below the low watermark. */
static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct preq *p = arg;

	(void)fd;
	(void)what;
	if (p->paused && p->up != NULL) {
		p->paused = 0;
		fetch_req_resume(p->up);
	}
}

/* Any change of the client's output buffer; wake the transfer when low. */
static void
out_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct preq *p = arg;

	if (p->paused && info->n_deleted > 0 && p->resume_ev != NULL &&
	    evbuffer_get_length(buf) <= p->resume_below)
		event_active(p->resume_ev, EV_TIMEOUT, 0);
}

void
stream_unhook(struct preq *p)
{
	if (p->out_cb != NULL && p->out != NULL)
		evbuffer_remove_cb_entry(p->out, p->out_cb);
	p->out_cb = NULL;
	p->out = NULL;
	p->out_fd = -1;
	if (p->resume_ev != NULL)
		event_free(p->resume_ev);
	p->resume_ev = NULL;
	p->paused = 0;
}

/* Watch the output buffer of p's connection (once per transfer). */
static int
watch_output(struct preq *p)
{
	struct bufferevent *bev;

	if (p->out_cb != NULL)
		return 0;
	if (p->conn == NULL || (bev = evhttp_connection_get_bufferevent(p->conn)) == NULL)
		return -1;
	if (p->resume_ev == NULL &&
	    (p->resume_ev = event_new(p->srv->base, -1, 0, resume_cb, p)) == NULL)
		return -1;
	p->out = bufferevent_get_output(bev);
	if ((p->out_cb = evbuffer_add_cb(p->out, out_changed, p)) == NULL) {
		p->out = NULL;
		return -1;
	}
	/* TLS writes go through the bufferevent; a plain socket may be written here */
	p->out_fd = bufferevent_openssl_get_ssl(bev) == NULL ? bufferevent_getfd(bev) : -1;
	return 0;
}

static int
s_headers(struct fetch_req *r, int status, void *arg)
{
	struct preq *p = arg;

	p->up_status = status;
	if (p->req == NULL)
		return -1;
	if (p->head)
		return 0;	/* all of it at the end */
	preq_copy_headers(p, r, status);
	evhttp_send_reply_start(p->req, status, NULL);
	p->started = 1;
	return 0;
}

/*
 * After queueing body bytes: 1 (pause the upstream) when more than hwm
 * bytes wait for the client, else 0. A paused transfer resumes once at
 * most lwm are left.
 */
static int
behind(struct preq *p, size_t hwm, size_t lwm)
{
	if (evbuffer_get_length(p->out) > hwm) {
		p->paused = 1;
		p->resume_below = lwm;
		return 1;
	}
	return 0;
}

static int
s_data(struct fetch_req *r, const uint8_t *buf, size_t len, void *arg)
{
	struct preq	*p = arg;

	(void)r;
	if (p->req == NULL || !p->started)
		return -1;
	if (evbuffer_add(p->chunk, buf, len) == -1)
		return -1;
	p->sent += len;
	evhttp_send_reply_chunk(p->req, p->chunk);
	if (watch_output(p) == -1)
		return -1;
	return behind(p, PROXY_STREAM_HWM, PROXY_STREAM_LWM);
}

/*
 * Body bytes of a direct upstream read: the chains move to the client's
 * output without a copy. The same accounting as s_data; paused while any
 * of them wait (see the top of this file).
 */
static int
s_buffer(struct fetch_req *r, struct evbuffer *buf, void *arg)
{
	struct preq	*p = arg;

	(void)r;
	if (p->req == NULL || !p->started || watch_output(p) == -1)
		return -1;
	p->sent += evbuffer_get_length(buf);
	/*
	 * With nothing queued before them, the bytes go to a plain client
	 * socket now, from the chains just read (still in the cache), as much
	 * as it takes; only the rest is queued. The order holds (the queue is
	 * empty), and evhttp does not count the bytes of a reply with a
	 * Content-Length (direct bodies always have one), so it ends the
	 * reply as usual once its queue is empty. A write error is left to
	 * the bufferevent, which meets it on the queued rest or the next write.
	 */
	if (p->out_fd != -1 && evbuffer_get_length(p->out) == 0)
		(void)evbuffer_write(buf, p->out_fd);
	if (evbuffer_get_length(buf) > 0)
		evhttp_send_reply_chunk(p->req, buf);
	return behind(p, 0, 0);
}

static void
s_done(struct fetch_req *r, int status, const char *error, void *arg)
{
	struct preq			*p = arg;
	struct evhttp_request		*req = p->req;
	struct evhttp_connection	*conn;

	p->up = NULL;
	stream_unhook(p);
	metrics_upstream(p->srv->metrics, p->route, status);
	if (req == NULL) {
		preq_audit(p);
		preq_finish(p);
		return;
	}
	if (status > 0) {
		if (p->started)
			preq_end(p, status, NULL, 1);
		else {
			preq_copy_headers(p, r, status);
			preq_reply(p, status, NULL);
		}
		return;
	}
	{
		char note[600];

		if (snprintf(note, sizeof(note), "upstream transfer failed: %s",
		    error ? error : "unknown error") < 0)
			note[0] = '\0';
		preq_note(p, note);
	}
	p->reason = "upstream-error";
	if (!p->started) {
		char msg[600];

		snprintf(msg, sizeof(msg), "error contacting the registry: %s",
		    error ? error : "unknown error");
		if (p->decision == NULL)
			p->decision = "deny";
		preq_error(p, 502, "UNAVAILABLE", msg);
		return;
	}
	/* the status line is out: fail the transfer by closing the connection */
	preq_audit(p);
	conn = evhttp_request_get_connection(req);
	p->req = NULL;
	if (conn != NULL) {
		evhttp_connection_set_closecb(conn, NULL, NULL);
		metrics_conn_closed(p->srv->metrics, conn);
		evhttp_connection_free(conn);
	}
	p->conn = NULL;
	preq_finish(p);
}

/* Send p's path and query upstream; the answer streams to the client. */
static void
start(struct preq *p, struct preq_upstream *u)
{
	static const struct fetch_handlers h = { s_headers, s_data, s_done, s_buffer };

	if (p->chunk == NULL && (p->chunk = evbuffer_new()) == NULL) {
		preq_error(p, 500, "UNKNOWN", "out of memory");
		return;
	}
	if (preq_fetch(p, u, p->route, p->path, 1, &h) == -1) {
		p->reason = "upstream-error";
		preq_error(p, 502, "UNAVAILABLE", "could not start the upstream request");
	}
}

/*
 * A bulk transfer on p's connection: let one write(2) take up to
 * PROXY_STREAM_BUFSZ (a bufferevent writes 16 KiB per call by default,
 * which costs a system call and a loop turn per 16 KiB).
 */
static void
stream_bulk(struct preq *p)
{
	struct bufferevent *bev;

	if (p->conn != NULL && (bev = evhttp_connection_get_bufferevent(p->conn)) != NULL)
		bufferevent_set_max_single_write(bev, PROXY_STREAM_BUFSZ);
}

void
stream_pass(struct preq *p, uint64_t max_len, int follow)
{
	struct preq_upstream u;

	if (p->req == NULL) {
		preq_finish(p);
		return;
	}
	preq_upstream_init(p, &u, 0);
	u.o.max_len = (size_t)max_len;
	u.o.follow_redirects = follow;
	u.so.method = p->head ? "HEAD" : "GET";
	u.so.token_auth = 1;
	if (p->kind == PK_BLOB) {
		/* a blob may take long: no total timeout, but no stall either */
		u.o.timeout_ms = 0;
		u.so.low_speed_bps = PROXY_LOW_SPEED_BPS;
		u.so.low_speed_s = PROXY_LOW_SPEED_S;
		u.so.buffer_size = PROXY_STREAM_BUFSZ;
		/* no total timeout above: a direct read applies low_speed_s as its idle limit */
		u.so.direct = !p->head;
		stream_bulk(p);
	}
	start(p, &u);
}

/*
 * A push or delete to a repository that allow_push names, or a request
 * that belongs to one (HEAD of a blob, GET of an upload's status): passed
 * to the upstream as the client sent it, with the client's own
 * credentials only (never the proxy's upstream_credentials: a push speaks
 * for the client). The request body was read whole by evhttp, at most
 * PROXY_MAX_PUSH_BODY bytes; it goes upstream from that buffer without a
 * copy. Nothing here is verified: what is pushed is checked when it is
 * pulled. Audited "allow", reason "push-allowed".
 */
void
stream_push(struct preq *p)
{
	struct preq_upstream	 u;
	struct evkeyvalq	*in;
	struct evbuffer		*body;
	const char		*cr;
	char			 crange[128];

	if (p->req == NULL) {
		preq_finish(p);
		return;
	}
	p->push = 1;
	p->decision = "allow";
	p->reason = "push-allowed";
	snprintf(p->message, sizeof(p->message), "%s passed to the registry: %s matches "
	    "allow_push", p->method, p->repo);
	in = evhttp_request_get_input_headers(p->req);
	preq_upstream_init(p, &u, 0);
	u.o.username = u.o.password = NULL;
	if ((cr = evhttp_find_header(in, "Content-Range")) != NULL &&
	    strpbrk(cr, "\r\n") == NULL &&
	    snprintf(crange, sizeof(crange), "Content-Range: %s", cr) < (int)sizeof(crange))
		u.hdrs[u.o.nheaders++] = crange;
	/* answers to pushes are small; a HEAD announces a blob's length */
	u.o.max_len = p->head ? PROXY_MAX_BLOB_LEN : PROXY_MAX_MANIFEST_LEN;
	u.o.timeout_ms = 0;			/* a layer may take long, but never stall */
	u.so.method = p->method;
	u.so.token_auth = 0;			/* the client answers challenges itself */
	u.so.low_speed_bps = PROXY_LOW_SPEED_BPS;
	u.so.low_speed_s = PROXY_LOW_SPEED_S;
	if (!p->head && strcmp(p->method, "GET") != 0) {
		body = evhttp_request_get_input_buffer(p->req);
		u.so.upload = body;
		u.so.upload_len = evbuffer_get_length(body);
		u.so.content_type = evhttp_find_header(in, "Content-Type");
	}
	start(p, &u);
}
