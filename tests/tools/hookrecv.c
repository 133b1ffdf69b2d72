/*
 * hookrecv: a webhook receiver for tests.
 *
 *	hookrecv --port P --out FILE [--delay-ms N] [--status N]
 *
 * HTTP on 127.0.0.1:P only (libevent evhttp). Every POST body is appended
 * to FILE as one line (CR and LF inside a body become spaces), flushed
 * before the answer goes out, then answered with --status (default 204)
 * after --delay-ms milliseconds (default 0; the wait is a timer, so slow
 * answers overlap). Other methods get 405 and are not recorded.
 *
 * One line per request on stderr. SIGINT/SIGTERM stop it cleanly.
 * A test tool: it trusts its command line, not its clients (bodies are
 * capped at RECV_MAX_BODY by evhttp).
 */
#include <sys/queue.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#define RECV_MAX_BODY		(1024 * 1024)		/* a request body */
#define RECV_MAX_HEADERS	(16 * 1024)		/* request header bytes */
#define RECV_IO_TIMEOUT		30			/* evhttp read/write timeout, s */
#define RECV_MAX_DELAY_MS	(10 * 60 * 1000)	/* longest --delay-ms */

struct pending;
TAILQ_HEAD(pending_list, pending);

struct recv {
	struct event_base	*base;
	struct pending_list	 delayed;
	FILE			*out;
	long			 delay_ms;
	int			 status;
	unsigned long		 n;
};

struct pending {
	struct recv		*rv;
	struct evhttp_request	*req;
	struct event		*ev;
	TAILQ_ENTRY(pending)	 entry;
};

static int
parse_long(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static void
answer(struct recv *rv, struct evhttp_request *req)
{
	evhttp_send_reply(req, rv->status, rv->status < 300 ? "OK" : "Error", NULL);
}

static void
on_delay(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	(void)fd;
	(void)what;
	/* a client gone meanwhile: evhttp_send_reply() frees the orphan request */
	answer(p->rv, p->req);
	TAILQ_REMOVE(&p->rv->delayed, p, entry);
	event_free(p->ev);
	free(p);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct recv	*rv = arg;
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	struct pending	*p;
	struct timeval	 tv;
	unsigned char	*b;
	size_t		 i, len = evbuffer_get_length(in);

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_send_reply(req, 405, "Method Not Allowed", NULL);
		return;
	}
	if ((b = evbuffer_pullup(in, -1)) == NULL && len > 0) {
		evhttp_send_reply(req, 500, "Error", NULL);
		return;
	}
	for (i = 0; i < len; i++)
		if (b[i] == '\r' || b[i] == '\n')
			b[i] = ' ';
	if (len > 0)
		fwrite(b, 1, len, rv->out);
	fputc('\n', rv->out);
	fflush(rv->out);
	rv->n++;
	fprintf(stderr, "hookrecv: #%lu POST %s %zu bytes\n", rv->n,
	    evhttp_request_get_uri(req), len);
	if (rv->delay_ms == 0) {
		answer(rv, req);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->ev = evtimer_new(rv->base, on_delay, p)) == NULL) {
		free(p);
		answer(rv, req);
		return;
	}
	p->rv = rv;
	p->req = req;
	TAILQ_INSERT_TAIL(&rv->delayed, p, entry);
	tv.tv_sec = rv->delay_ms / 1000;
	tv.tv_usec = (rv->delay_ms % 1000) * 1000;
	evtimer_add(p->ev, &tv);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

static int
usage(void)
{
	fprintf(stderr, "usage: hookrecv --port P --out FILE [--delay-ms N] [--status N]\n");
	return 2;
}

int
main(int argc, char *argv[])
{
	struct recv	 rv;
	struct evhttp	*http = NULL;
	struct event	*sigint = NULL, *sigterm = NULL;
	struct pending	*p;
	const char	*out = NULL;
	long		 port = 0, v;
	int		 i, rc = 1;

	memset(&rv, 0, sizeof(rv));
	TAILQ_INIT(&rv.delayed);
	rv.status = 204;
	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0) {
			if (parse_long(argv[i + 1], 1, 65535, &port) != 0)
				return usage();
		} else if (strcmp(argv[i], "--out") == 0)
			out = argv[i + 1];
		else if (strcmp(argv[i], "--delay-ms") == 0) {
			if (parse_long(argv[i + 1], 0, RECV_MAX_DELAY_MS, &rv.delay_ms) != 0)
				return usage();
		} else if (strcmp(argv[i], "--status") == 0) {
			if (parse_long(argv[i + 1], 100, 599, &v) != 0)
				return usage();
			rv.status = (int)v;
		} else
			return usage();
	}
	if (i != argc || port == 0 || out == NULL)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	if ((rv.out = fopen(out, "a")) == NULL) {
		fprintf(stderr, "hookrecv: %s: %s\n", out, strerror(errno));
		return 1;
	}
	if ((rv.base = event_base_new()) == NULL || (http = evhttp_new(rv.base)) == NULL)
		goto out;
	evhttp_set_max_body_size(http, RECV_MAX_BODY);
	evhttp_set_max_headers_size(http, RECV_MAX_HEADERS);
	evhttp_set_timeout(http, RECV_IO_TIMEOUT);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(http, on_request, &rv);
	if (evhttp_bind_socket(http, "127.0.0.1", (ev_uint16_t)port) != 0) {
		fprintf(stderr, "hookrecv: cannot listen on 127.0.0.1:%ld\n", port);
		goto out;
	}
	if ((sigint = evsignal_new(rv.base, SIGINT, on_signal, rv.base)) == NULL ||
	    (sigterm = evsignal_new(rv.base, SIGTERM, on_signal, rv.base)) == NULL ||
	    evsignal_add(sigint, NULL) != 0 || evsignal_add(sigterm, NULL) != 0)
		goto out;
	fprintf(stderr, "hookrecv: listening on 127.0.0.1:%ld\n", port);
	event_base_dispatch(rv.base);
	rc = 0;
out:
	while ((p = TAILQ_FIRST(&rv.delayed)) != NULL) {
		TAILQ_REMOVE(&rv.delayed, p, entry);
		event_free(p->ev);	/* the request goes with evhttp_free() */
		free(p);
	}
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (http != NULL)
		evhttp_free(http);
	if (rv.base != NULL)
		event_base_free(rv.base);
	fclose(rv.out);
	return rc;
}
