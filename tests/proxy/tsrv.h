/*
 * A scriptable raw HTTP/1.1 server for the proxy's unit tests, on the
 * test's own event_base and 127.0.0.1:<ephemeral>. It writes responses by
 * hand so it can misbehave: lie about Content-Length, never end a chunked
 * body, stall, die mid-body, answer auth challenges.
 */
#ifndef TESTS_PROXY_TSRV_H
#define TESTS_PROXY_TSRV_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct tconn;

#define TSRV_MAX_HEAD	(64 * 1024)

struct tsrv {
	struct event_base		*base;
	struct evconnlistener		*lis;
	int				 port;
	/* what the last request looked like */
	char				 last_path[2048];
	char				 last_head[TSRV_MAX_HEAD];
	char				 token_query[2048];
	char				 token_head[4096];	/* headers of the last /token request */
	int				 ntoken;	/* token requests served */
	int				 rotate_token;	/* set: /auth wants tok-456, /token gives it */
	int				 hold_token;	/* set: /token requests are never answered */
	const char			*auth_challenge;	/* set: /auth's WWW-Authenticate value */
	const char			*token_body;	/* set: /token's body (200, JSON) */
	int				 nrequests;
	int				 naccepted;	/* connections accepted */
	int				 drop_next;	/* set: the next request is answered by closing */
	uint64_t			 endless_sent;	/* bytes of /endless written */
	uint64_t			 blob_sent;	/* bytes of /blob bodies written */
	int				 blobs_done;	/* /blob bodies handed whole to the kernel */
	int				 nconns;	/* open connections */
	int				 nheld;		/* of them, held unanswered (/slow, hold_token) */
	/* set: GET /v2/<GUN>/_trust/tuf/<file> serves tuf_dir/<file> (404 when missing) */
	const char			*tuf_dir;
	int				 ntuf;		/* ... such requests */
	int				 fail_all;	/* set: every request is answered 503 */
	/* set: TUF requests without "Authorization: Basic <tuf_basic>" get a Basic challenge */
	const char			*tuf_basic;
	/* for /blob: a large body with a known pattern */
	size_t				 blob_len;
	struct tconn			*conns;		/* open connections */
};

struct tsrv	*tsrv_new(struct event_base *);
void		 tsrv_free(struct tsrv *);
/* Byte i of /blob's body. */
uint8_t		 tsrv_blob_byte(size_t i);

/*
 * Run base's loop until *count >= want or ms milliseconds pass; 0 when the
 * count was reached, else -1. A flag is a count with want 1; an int that
 * stays 0 makes it a plain "run for ms".
 */
int		 tsrv_run_until(struct event_base *, const int *count, int want, long ms);
/* A blocking TCP connection to 127.0.0.1:port: the socket, or -1. */
int		 tsrv_connect(int port);

#endif
