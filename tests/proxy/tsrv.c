/*
 * The scriptable test server (see tsrv.h). Routes:
 *   /ok          200, "hello world", honest Content-Length
 *   /big         200, 2000 bytes, honest Content-Length
 *   /endless     200, chunked, never ends (stops only when the peer goes)
 *   /short       Content-Length 1000, 10 bytes, then close
 *   /understate  Content-Length 5, 100 bytes, then close
 *   /noclen      no Content-Length, 5000 bytes, close-delimited
 *   /auth        401 Bearer challenge unless "Authorization: Bearer tok-123"
 *                (the challenge is auth_challenge instead when that is set)
 *   /authendless as /auth, but the 401's body is chunked and never ends
 *                (counted in endless_sent like /endless)
 *   /token       the token endpoint for /auth (records its query; never
 *                answers while hold_token is set; its body is token_body
 *                when that is set)
 *   /basic       401 Basic challenge unless user:pw
 *   /slow        never answers
 *   /redirect    307 to /ok
 *   /blob        200, blob_len bytes of tsrv_blob_byte(), written as drained
 *   /die         Content-Length 100000, 50000 bytes, then close
 *   /badstatus   a malformed status line ("HTTP/1.1 2x0 OK"), then close
 *   /hugehead    a 200 whose head is over 64 KiB (80 header lines of 1 KiB)
 *   /headbytes/N a 200 ("ok") whose header lines, from the one after the
 *                status line to the blank line included, are N bytes
 *                (N = 21 or N >= 31; X-Pad lines of at most 1 KiB)
 *   /headlines/N a 200 ("ok") with N header lines (N >= 1): X-H-1: v1 ...
 *                X-H-<N-1>, then Content-Length
 *   /twoclen     200, "hello world" with Content-Length: 11 twice
 *   /lfhead      200, "hello", its head's lines ended by a bare LF, then close
 *   /okclose     200, "hello" with Content-Length and "Connection: close", then close
 *   /diefast     Content-Length 100000, the head and 30000 body bytes in
 *                one write(2), then shutdown(SHUT_WR) at once: the end of
 *                stream reaches the client with the bytes, not after them
 *   /empty       200, Content-Length: 0 (the connection stays open)
 *   /chunked     200, "hello world" in two chunks
 *   /stall       200, Content-Length 1000, the head and 10 bytes, then
 *                nothing (held open, counted in nheld)
 * and, as a fake registry for the server tests:
 *   /v2/                      200 {}
 *   /v2/<name>/blobs/sha256:b...  as /blob (HEAD: headers only; honours
 *                                 "Range: bytes=N-" with a 206)
 *   /v2/<name>/blobs/sha256:d...  as /die
 *   /v2/<name>/blobs/sha256:e...  as /endless
 *   /v2/<name>/blobs/sha256:f...  307 to /blob (object storage)
 *   /v2/<GUN>/_trust/tuf/<file>   from tuf_dir when that is set (tsrv.h)
 * drop_next set: the next request on any connection is answered by closing it.
 * fail_all set: every request is answered 503.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "tests/proxy/tsrv.h"
#include "tests/unit.h"

enum mode { M_IDLE, M_ENDLESS, M_BLOB, M_CLOSE_AFTER, M_SLOW, M_DONE };

struct tconn {
	struct tsrv		*srv;
	struct bufferevent	*bev;
	enum mode		 mode;
	size_t			 pos;		/* /blob: bytes written */
	size_t			 end;		/* /blob: stop here */
	struct tconn		*next, **prevp;
};

uint8_t
tsrv_blob_byte(size_t i)
{
	return (uint8_t)((i * 7 + (i >> 12)) & 0xff);
}

static void
conn_free(struct tconn *c)
{
	c->srv->nconns--;
	if (c->mode == M_SLOW)
		c->srv->nheld--;
	if (c->next != NULL)
		c->next->prevp = c->prevp;
	*c->prevp = c->next;
	bufferevent_free(c->bev);
	free(c);
}

static void
reply(struct tconn *c, const char *status, const char *extra, const char *body)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out, "HTTP/1.1 %s\r\nContent-Length: %zu\r\n%s\r\n%s",
	    status, strlen(body), extra ? extra : "", body);
}

static void
fill_blob(struct tconn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	uint8_t		 buf[16384];
	size_t		 n, i;

	/* keep at most 256 KiB queued: the test server streams too */
	while (c->pos < c->end && evbuffer_get_length(out) < 256 * 1024) {
		n = c->end - c->pos < sizeof(buf) ? c->end - c->pos : sizeof(buf);
		for (i = 0; i < n; i++)
			buf[i] = tsrv_blob_byte(c->pos + i);
		evbuffer_add(out, buf, n);
		c->pos += n;
		c->srv->blob_sent += n;
	}
}

static void
fill_endless(struct tconn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	static uint8_t	 chunk[4096];

	while (evbuffer_get_length(out) < 64 * 1024 &&
	    c->srv->endless_sent < (uint64_t)1 << 30) {
		evbuffer_add_printf(out, "%zx\r\n", sizeof(chunk));
		evbuffer_add(out, chunk, sizeof(chunk));
		evbuffer_add(out, "\r\n", 2);
		c->srv->endless_sent += sizeof(chunk);
	}
}

/* A 200 whose header lines after the status line, blank line included, are n bytes. */
static void
head_bytes(struct tconn *c, size_t n)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	char		 pad[1001];
	size_t		 take;

	/* "Content-Length: 2\r\n" and the blank line: 21 bytes; "X-Pad: " v "\r\n": 9 + v */
	n = n < 21 ? 0 : n - 21;
	memset(pad, 'p', sizeof(pad));
	evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\n");
	while (n > 0) {
		take = n < 1009 ? n : 1009;
		if (n - take > 0 && n - take < 10)
			take = n - 10;	/* leave room for one more line of at least 10 */
		if (take < 10)
			take = 10;	/* n < 10 at the start: a little over */
		evbuffer_add_printf(out, "X-Pad: %.*s\r\n", (int)(take - 9), pad);
		n -= take < n ? take : n;
	}
	evbuffer_add_printf(out, "Content-Length: 2\r\n\r\nok");
}

/*
 * TUF metadata from tuf_dir, or a 404: name is a file there (no '/', no
 * leading '.'); <role>.<sha256 hex>.json, as Notary clients ask by hash,
 * is <role>.json.
 */
static void
tuf_file(struct tconn *c, const char *name)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	const char	*dot = strchr(name, '.');
	char		 file[256], path[4096];
	unsigned char	*body = NULL;
	size_t		 len;

	c->srv->ntuf++;
	if (dot != NULL && strlen(dot) == 1 + 64 + 5 &&
	    strspn(dot + 1, "0123456789abcdef") == 64 && strcmp(dot + 65, ".json") == 0)
		snprintf(file, sizeof(file), "%.*s.json", (int)(dot - name), name);
	else
		snprintf(file, sizeof(file), "%s", name);
	if (strchr(file, '/') != NULL || file[0] == '.' ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", c->srv->tuf_dir, file) >= sizeof(path) ||
	    (body = unit_read(path, &len)) == NULL) {
		reply(c, "404 Not Found", NULL, "{\"errors\":[{\"code\":\"METADATA_NOT_FOUND\"}]}");
		return;
	}
	evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
	    "Content-Type: application/json\r\n\r\n", len);
	evbuffer_add(out, body, len);
	free(body);
}

static void
handle(struct tconn *c, const char *method, const char *path, const char *head)
{
	struct tsrv	*s = c->srv;
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	char		 extra[1024], body[8192];
	const char	*q;
	size_t		 i, n;

	s->nrequests++;
	snprintf(s->last_path, sizeof(s->last_path), "%s", path);
	snprintf(s->last_head, sizeof(s->last_head), "%s", head);
	if (s->fail_all) {
		reply(c, "503 Service Unavailable", NULL, "down");
		return;
	}
	if (s->tuf_dir != NULL && strncmp(path, "/v2/", 4) == 0 &&
	    (q = strstr(path, "/_trust/tuf/")) != NULL) {
		snprintf(body, sizeof(body), "\r\nAuthorization: Basic %s\r\n",
		    s->tuf_basic != NULL ? s->tuf_basic : "");
		if (s->tuf_basic != NULL && strstr(head, body) == NULL)
			reply(c, "401 Unauthorized", "WWW-Authenticate: Basic realm=\"notary\"\r\n",
			    "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
		else
			tuf_file(c, q + 12);
		return;
	}
	if (strncmp(path, "/v2/", 4) == 0 && (q = strstr(path, "/blobs/sha256:")) != NULL) {
		switch (q[14]) {
		case 'b':
			path = "/blob";
			break;
		case 'd':
			path = "/die";
			break;
		case 'e':
			path = "/endless";
			break;
		case 'f':
			path = "/redirect-blob";
			break;
		}
	}
	if (strcmp(path, "/v2/") == 0)
		reply(c, "200 OK", "Content-Type: application/json\r\n", "{}");
	else if (strcmp(path, "/blob") == 0 && strcmp(method, "HEAD") == 0)
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
		    "Content-Type: application/octet-stream\r\n\r\n", s->blob_len);
	else if (strcmp(path, "/blob") == 0 && (q = strstr(head, "\r\nRange: bytes=")) != NULL) {
		c->pos = strtoul(q + 15, NULL, 10);
		if (c->pos > s->blob_len)
			c->pos = s->blob_len;
		c->end = s->blob_len;
		evbuffer_add_printf(out, "HTTP/1.1 206 Partial Content\r\nContent-Length: %zu\r\n"
		    "Content-Range: bytes %zu-%zu/%zu\r\n\r\n", s->blob_len - c->pos,
		    c->pos, s->blob_len - 1, s->blob_len);
		c->mode = M_BLOB;
		fill_blob(c);
	} else if (strcmp(path, "/ok") == 0)
		reply(c, "200 OK", "Content-Type: text/plain\r\n", "hello world");
	else if (strcmp(path, "/big") == 0) {
		memset(body, 'b', 2000);
		body[2000] = '\0';
		reply(c, "200 OK", NULL, body);
	} else if (strcmp(path, "/endless") == 0) {
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
		c->mode = M_ENDLESS;
		fill_endless(c);
	} else if (strcmp(path, "/short") == 0) {
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
		c->mode = M_CLOSE_AFTER;
	} else if (strcmp(path, "/understate") == 0) {
		memset(body, 'u', 100);
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
		evbuffer_add(out, body, 100);
		c->mode = M_CLOSE_AFTER;
	} else if (strcmp(path, "/badstatus") == 0) {
		evbuffer_add_printf(out, "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok");
		c->mode = M_CLOSE_AFTER;
	} else if (strcmp(path, "/hugehead") == 0) {
		memset(body, 'p', 1000);
		body[1000] = '\0';
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\n");
		for (i = 0; i < 80; i++)
			evbuffer_add_printf(out, "X-Pad-%zu: %s\r\n", i, body);
		evbuffer_add_printf(out, "Content-Length: 2\r\n\r\nok");
		c->mode = M_CLOSE_AFTER;
	} else if (strncmp(path, "/headbytes/", 11) == 0) {
		head_bytes(c, strtoul(path + 11, NULL, 10));
	} else if (strncmp(path, "/headlines/", 11) == 0) {
		n = strtoul(path + 11, NULL, 10);
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\n");
		for (i = 1; i < n; i++)
			evbuffer_add_printf(out, "X-H-%zu: v%zu\r\n", i, i);
		evbuffer_add_printf(out, "Content-Length: 2\r\n\r\nok");
	} else if (strcmp(path, "/lfhead") == 0) {
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello");
		c->mode = M_CLOSE_AFTER;
	} else if (strcmp(path, "/okclose") == 0) {
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
		    "Connection: close\r\n\r\nhello");
		c->mode = M_CLOSE_AFTER;
	} else if (strcmp(path, "/diefast") == 0) {
		int	fd = bufferevent_getfd(c->bev), sz = 512 * 1024;
		char	*b;
		size_t	k, hl;

		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		if ((b = malloc(30100)) == NULL)
			abort();
		hl = (size_t)snprintf(b, 100, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
		for (k = 0; k < 30000; k++)
			b[hl + k] = (char)tsrv_blob_byte(k);
		if (write(fd, b, hl + 30000) != (ssize_t)(hl + 30000))
			abort();	/* the test would not test what it says */
		free(b);
		shutdown(fd, SHUT_WR);	/* the FIN right behind the bytes */
		c->mode = M_DONE;	/* nothing more is read or written */
	} else if (strcmp(path, "/twoclen") == 0)
		reply(c, "200 OK", "Content-Length: 11\r\n", "hello world");
	else if (strcmp(path, "/empty") == 0)
		reply(c, "200 OK", NULL, "");
	else if (strcmp(path, "/chunked") == 0)
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n");
	else if (strcmp(path, "/stall") == 0) {
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
		    "0123456789");
		c->mode = M_SLOW;
		s->nheld++;
	} else if (strcmp(path, "/noclen") == 0) {
		memset(body, 'n', 5000);
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
		evbuffer_add(out, body, 5000);
		c->mode = M_CLOSE_AFTER;
	} else if (strcmp(path, "/auth") == 0 || strcmp(path, "/authendless") == 0) {
		if (strstr(head, s->rotate_token ? "\r\nAuthorization: Bearer tok-456\r\n" :
		    "\r\nAuthorization: Bearer tok-123\r\n") != NULL)
			reply(c, "200 OK", NULL, "secret");
		else if (strcmp(path, "/authendless") == 0) {
			evbuffer_add_printf(out, "HTTP/1.1 401 Unauthorized\r\n"
			    "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\","
			    "service=\"reg.test\",scope=\"repository:foo/bar:pull\"\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n", s->port);
			c->mode = M_ENDLESS;
			fill_endless(c);
		} else {
			if (s->auth_challenge != NULL)
				evbuffer_add_printf(out, "HTTP/1.1 401 Unauthorized\r\n"
				    "WWW-Authenticate: %s\r\n", s->auth_challenge);
			else
				evbuffer_add_printf(out, "HTTP/1.1 401 Unauthorized\r\n"
				    "WWW-Authenticate: Bearer "
				    "realm=\"http://127.0.0.1:%d/token\",service=\"reg.test\","
				    "scope=\"repository:foo/bar:pull\"\r\n", s->port);
			q = "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}";
			evbuffer_add_printf(out, "Content-Type: application/json\r\n"
			    "Content-Length: %zu\r\n\r\n%s", strlen(q), q);
		}
	} else if (strncmp(path, "/token", 6) == 0) {
		s->ntoken++;
		q = strchr(path, '?');
		snprintf(s->token_query, sizeof(s->token_query), "%s", q ? q + 1 : "");
		snprintf(s->token_head, sizeof(s->token_head), "%s", head);
		if (s->hold_token) {
			c->mode = M_SLOW;
			s->nheld++;
			return;
		}
		reply(c, "200 OK", "Content-Type: application/json\r\n", s->token_body ?
		    s->token_body : s->rotate_token ?
		    "{\"access_token\":\"tok-456\",\"expires_in\":300}" :
		    "{\"token\":\"tok-123\",\"expires_in\":300}");
	} else if (strcmp(path, "/basic") == 0) {
		/* dXNlcjpwdw== is base64("user:pw") */
		if (strstr(head, "\r\nAuthorization: Basic dXNlcjpwdw==\r\n") != NULL)
			reply(c, "200 OK", NULL, "basic-ok");
		else
			reply(c, "401 Unauthorized",
			    "WWW-Authenticate: Basic realm=\"test\"\r\n", "no");
	} else if (strcmp(path, "/slow") == 0) {
		c->mode = M_SLOW;
		s->nheld++;
	} else if (strcmp(path, "/redirect-blob") == 0) {
		snprintf(extra, sizeof(extra), "Location: http://127.0.0.1:%d/blob\r\n", s->port);
		reply(c, "307 Temporary Redirect", extra, "");
	} else if (strcmp(path, "/redirect") == 0) {
		snprintf(extra, sizeof(extra), "Location: http://127.0.0.1:%d/ok\r\n", s->port);
		reply(c, "307 Temporary Redirect", extra, "");
	} else if (strcmp(path, "/blob") == 0 || strcmp(path, "/die") == 0) {
		c->pos = 0;
		if (path[1] == 'b') {
			c->end = s->blob_len;
			evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
			    "Content-Type: application/octet-stream\r\n\r\n", s->blob_len);
		} else {
			c->end = 50000;
			evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
		}
		c->mode = M_BLOB;
		fill_blob(c);
	} else
		reply(c, "404 Not Found", NULL, "not found");
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct tconn		*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 p;
	char			*head, *sp1, *sp2;
	size_t			 n;

	while (c->mode == M_IDLE) {
		p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (p.pos < 0) {
			if (evbuffer_get_length(in) > TSRV_MAX_HEAD)
				conn_free(c);
			return;
		}
		n = (size_t)p.pos + 4;
		if ((head = malloc(n + 1)) == NULL)
			return;
		evbuffer_remove(in, head, n);
		head[n] = '\0';
		sp1 = strchr(head, ' ');
		sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (sp1 == NULL || sp2 == NULL) {
			free(head);
			conn_free(c);
			return;
		}
		*sp1 = '\0';
		*sp2 = '\0';
		if (c->srv->drop_next) {
			/* answered by closing: c is gone, nothing more is read */
			c->srv->drop_next = 0;
			c->srv->nrequests++;
			free(head);
			conn_free(c);
			return;
		}
		handle(c, head, sp1 + 1, sp2 + 1);
		free(head);
	}
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct tconn *c = arg;

	(void)bev;
	switch (c->mode) {
	case M_ENDLESS:
		fill_endless(c);
		break;
	case M_BLOB:
		fill_blob(c);
		if (c->pos == c->end &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
			if (c->end != c->srv->blob_len) {
				conn_free(c);	/* /die */
				return;
			}
			c->srv->blobs_done++;
			c->mode = M_IDLE;
			read_cb(c->bev, c);
		}
		break;
	case M_CLOSE_AFTER:
		conn_free(c);
		break;
	default:
		break;
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(arg);
}

static void
accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct tsrv	*s = arg;
	struct tconn	*c;

	(void)lis;
	(void)sa;
	(void)salen;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->srv = s;
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->nconns++;
	s->naccepted++;
	c->next = s->conns;
	if (c->next != NULL)
		c->next->prevp = &c->next;
	c->prevp = &s->conns;
	s->conns = c;
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

struct tsrv *
tsrv_new(struct event_base *base)
{
	struct tsrv		*s;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->base = base;
	s->blob_len = 4 * 1024 * 1024;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lis = evconnlistener_new_bind(base, accept_cb, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (s->lis == NULL ||
	    getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&sin, &len) == -1) {
		tsrv_free(s);
		return NULL;
	}
	s->port = ntohs(sin.sin_port);
	return s;
}

void
tsrv_free(struct tsrv *s)
{
	if (s == NULL)
		return;
	while (s->conns != NULL)
		conn_free(s->conns);
	if (s->lis != NULL)
		evconnlistener_free(s->lis);
	free(s);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

int
tsrv_run_until(struct event_base *base, const int *count, int want, long ms)
{
	struct event	*ev;
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };
	int		 expired = 0;

	if ((ev = evtimer_new(base, deadline_cb, &expired)) == NULL)
		return -1;
	evtimer_add(ev, &tv);
	while (*count < want && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	return *count >= want ? 0 : -1;
}

int
tsrv_connect(int port)
{
	struct sockaddr_in	sin;
	int			fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}
