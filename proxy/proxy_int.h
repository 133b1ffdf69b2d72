/*
 * proxy internals shared between the files of proxy/.
 */
#ifndef PROXY_PROXY_INT_H
#define PROXY_PROXY_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "trust/trust.h"

/* ---- fetch.c: buffered HTTP(S) GETs with libcurl multi on a libevent loop ----
 *
 * One fetch_ctx per event loop. Requests never block the loop. Every
 * response body is capped (bytes counted in the write callback, not only
 * CURLOPT_MAXFILESIZE); only http and https are allowed, redirects are
 * not followed unless asked. Docker token auth is handled inside: a 401
 * with a "Bearer realm=...,service=...,scope=..." challenge leads to one
 * token request (anonymous, or HTTP Basic with the given credentials) and
 * one retry; tokens are cached per realm/service/scope until they expire.
 */
#define FETCH_MAX_URL		4096
#define FETCH_MAX_HEADERS_LEN	(64 * 1024)	/* response header bytes kept */
#define FETCH_MAX_TOKEN_LEN	(64 * 1024)	/* a token response body */
#define FETCH_MAX_TOKENS	256		/* cached tokens */

struct fetch_ctx;

struct fetch_opts {
	const char		 *ca_file;	/* PEM bundle; NULL: system store */
	const char		 *username;	/* token/basic credentials, may be NULL */
	const char		 *password;
	long			  connect_timeout_ms;
	long			  timeout_ms;	/* whole transfer */
	size_t			  max_len;	/* body cap */
	const char *const	 *headers;	/* extra "Name: value" request headers */
	size_t			  nheaders;
	int			  follow_redirects;
};

struct fetch_result {
	int		 status;	/* HTTP status, or TRUST_FETCH_NETERR / TRUST_FETCH_TOOBIG */
	const uint8_t	*body;		/* borrowed for the callback */
	size_t		 len;
	const char	*error;		/* transport error text, or NULL */
	const char	*content_type;	/* or NULL */
};

typedef void	(*fetch_cb)(const struct fetch_result *, void *arg);

struct fetch_ctx	*fetch_ctx_new(struct event_base *);
/* Cancels pending requests without calling their callbacks. */
void			 fetch_ctx_free(struct fetch_ctx *);
/*
 * Start a GET of url. opts and its strings are copied. cb is called exactly
 * once, from the event loop, unless the ctx is freed first. Returns 0, or
 * -1 if the request could not be started (cb is then not called).
 */
int			 fetch_get(struct fetch_ctx *, const char *url,
			    const struct fetch_opts *, fetch_cb, void *arg);

/* ---- cli_trust.c: the synopses of `lookup` and `verify` (also for main.c's help) ---- */
extern const char	cli_lookup_usage[];
extern const char	cli_verify_usage[];

/* ---- notary.c: verified trust data per GUN, cached, on the event loop ---- */

/*
 * A Notary server and how to reach it. Read when an update starts (a
 * reload's new CA, credentials and timeouts apply to the next update of a
 * cached GUN).
 */
struct notary_server {
	const char	*url;		/* https://notary.example.com[:port], no trailing '/' */
	const char	*ca_file;	/* may be NULL */
	const char	*username;	/* may be NULL */
	const char	*password;
	long		 connect_timeout_ms;	/* 0: the smaller of timeout_ms and 10 s */
	long		 timeout_ms;	/* each metadata file; 0: 30 s */
};

struct notary;

/*
 * state_dir may be NULL (no persistence). freshness: seconds a verified
 * result is reused without asking the server again (it is never reused
 * past the earliest expiry of its metadata).
 */
struct notary	*notary_new(struct fetch_ctx *, const char *state_dir, time_t freshness);
void		 notary_free(struct notary *);
/* Change the freshness interval (a reload); applies to cached results too. */
void		 notary_set_freshness(struct notary *, time_t freshness);

/*
 * What an observer (the server's metrics) hears, with the server's URL:
 * FETCHED for each metadata file requested (also one that could not be
 * started); FETCH_FAILED for each that got no usable answer: a transport
 * failure, a body over its cap, or an HTTP status other than 2xx and 404
 * (a 404 means "no trust data", an answer, not a failure); UPDATE_REFUSED
 * once for an update that failed for its content (malformed, signatures,
 * expiry, rollback, hashes, too many files) with no fetch failure to
 * explain it. CACHE_ANSWER once for an update the server could not
 * serve that cached trust data answered (see notary_get). Local trouble
 * (out of memory, the state directory) is not reported.
 */
enum notary_event {
	NOTARY_FETCHED,
	NOTARY_FETCH_FAILED,
	NOTARY_UPDATE_REFUSED,
	NOTARY_CACHE_ANSWER,
};
typedef void	(*notary_observer)(void *arg, const char *server, enum notary_event);
/* Set (or with NULL clear) the observer; called on the loop, must not call back into n. */
void		 notary_set_observer(struct notary *, notary_observer, void *arg);

/*
 * Called once with the verified repository (borrowed: valid only during the
 * callback) or NULL and the error. note is NULL, or with a repository that
 * cached trust data gave because the server could not be reached, says so
 * (for the audit log).
 */
typedef void	(*notary_cb)(const struct trust_repo *, const struct trust_error *,
		    const char *note, void *arg);

/*
 * Verified trust data of gun from server under pins (both borrowed until
 * the callback). Results are cached per (GUN, server URL, pins->key):
 * pins->key must be set (config_pins_key). Concurrent requests for one
 * GUN share one update. now is the clock for all of it: verification,
 * freshness, and the cache-only load when the server cannot be reached
 * (the update's own now): the last result verified here while unexpired,
 * else the persisted state verified alone; data past its expiry only with
 * allow_expired (the policy's allow-expired-cached-trust-data). Returns 0,
 * or -1 (cb not called) on out of memory or without pins->key.
 */
int		 notary_get(struct notary *, const struct notary_server *,
		    const char *gun, const struct trust_pins *, time_t now,
		    int allow_expired, notary_cb, void *arg);

/* ==== fetch.c, continued: streaming requests (used by server.c) ==========
 *
 * fetch_get() above is a buffered wrapper around fetch_stream() with
 * token_auth on. In both, fetch_opts.max_len 0 means TRUST_MAX_METADATA_LEN,
 * and a token that answered a challenge for a URL prefix (origin and path
 * up to "/_trust/", "/manifests/", "/blobs/" or "/tags/") is sent up front
 * on the next request under that prefix while it is valid. A stream
 * delivers the final response (after followed redirects and at most one
 * token-auth retry) to three handlers. Response headers are capped at
 * FETCH_MAX_HEADERS_LEN bytes and FETCH_MAX_RESP_HEADERS lines.
 */
#define FETCH_MAX_RESP_HEADERS	128		/* header lines kept per response */
#define FETCH_MAX_CHALLENGE	4096		/* one WWW-Authenticate value */
#define FETCH_MAX_SWALLOW	(64 * 1024)	/* 401 body read before a retry */
#define FETCH_MAX_REDIRS	5
#define FETCH_TOKEN_MIN_TTL	60		/* docker: tokens live at least 60 s */
#define FETCH_TOKEN_MAX_TTL	(24 * 60 * 60)
#define FETCH_MAX_POST_LEN	(1024 * 1024)	/* a POST request body */
#define FETCH_DIRECT_IDLE_S	60		/* a direct request's idle limit by default */
#define FETCH_DIRECT_READ	(256 * 1024)	/* a direct read without buffer_size */
#define FETCH_DIRECT_BUDGET	(16 * 1024 * 1024)	/* direct reads at once, all together */
#define FETCH_DIRECT_MIN_READ	(64 * 1024)	/* ... but one read at least this */
#define FETCH_DIRECT_CHAIN	(1024 * 1024)	/* bytes in one block of a direct read */
#define FETCH_DIRECT_MAX_BLOCKS	32		/* ... blocks in one read at most */
#define FETCH_DIRECT_IDLE_MAX	16		/* kept-alive direct connections, all origins */
#define FETCH_DIRECT_KEEP_S	30		/* ... each kept this long at most */

struct fetch_req;

struct fetch_handlers {
	/*
	 * The final response's status and headers are known (query them with
	 * fetch_req_header*). Return 0 to go on, -1 to abort the transfer.
	 * May be NULL.
	 */
	int	(*on_headers)(struct fetch_req *, int status, void *arg);
	/*
	 * Body bytes, always consumed. Return 0 to go on, 1 to go on but
	 * deliver nothing more until fetch_req_resume(), -1 to abort.
	 * Must not call fetch_req_cancel() on this request (return -1).
	 */
	int	(*on_data)(struct fetch_req *, const uint8_t *, size_t, void *arg);
	/*
	 * Exactly once, from the event loop, unless cancelled: status is the
	 * HTTP status when the whole body arrived, else TRUST_FETCH_NETERR
	 * (transport failure, short body, abort; error says why) or
	 * TRUST_FETCH_TOOBIG. The request is freed when this returns.
	 */
	void	(*on_done)(struct fetch_req *, int status, const char *error, void *arg);
	/*
	 * Body bytes of a direct request (fetch_stream_opts.direct) as an
	 * evbuffer: the handler must take all of them (evbuffer_add_buffer
	 * moves the chains without a copy). Return values as on_data. A
	 * direct request that fell back to curl delivers through on_data.
	 */
	int	(*on_buffer)(struct fetch_req *, struct evbuffer *, void *arg);
};

struct fetch_stream_opts {
	const char	*method;	/* "GET" (NULL), "HEAD" or "POST" */
	int		 token_auth;	/* answer 401 challenges here (else pass them on) */
	long		 low_speed_bps;	/* abort when slower than this ... */
	long		 low_speed_s;	/* ... for this long (0: off) */
	long		 buffer_size;	/* curl's receive buffer (0: curl's 16 KiB); large for bulk */
	/*
	 * A bulk GET: read the body straight into blocks on_buffer gets in an
	 * evbuffer (by reference), buffer_size bytes a read at most (and at
	 * most a share of the budget, fetch_ctx_set_direct_budget), when the
	 * URL is plain http, no
	 * proxy is set in the environment, timeout_ms is 0 and on_buffer is
	 * given; the idle limit is low_speed_s (0: FETCH_DIRECT_IDLE_S). Only
	 * a 200 or 206 with one Content-Length and no Transfer-Encoding is
	 * read so; any other answer (a challenge, a redirect, an error) is
	 * dropped unread and the request runs again through curl as usual.
	 */
	int		 direct;
	/*
	 * POST: the request body, borrowed (sent again on a token-auth retry):
	 * it must stay unchanged until on_done, or until fetch_req_cancel()
	 * called outside fetch's handlers returns.
	 */
	const void	*body;
	size_t		 body_len;	/* at most FETCH_MAX_POST_LEN bytes */
	const char	*content_type;	/* POST, upload: its Content-Type, or NULL */
	/*
	 * An upload (method POST, PUT, PATCH or DELETE): the request body is
	 * read from this evbuffer (borrowed until on_done; drained as sent),
	 * upload_len bytes, its exact length now. One attempt: no token auth
	 * retry, no redirects.
	 */
	struct evbuffer	*upload;
	uint64_t	 upload_len;
};

/*
 * Start a request. opts, sopts and their strings are copied, except
 * sopts->body and sopts->upload (borrowed, see above); the handlers struct
 * is copied. Returns 0 and the request in *out (may be NULL), or -1, also
 * for: a method other than GET, HEAD and POST without an upload, or other
 * than POST, PUT, PATCH and DELETE with one; an upload whose evbuffer does
 * not hold exactly upload_len bytes; a POST body over its cap; a
 * Content-Type with CR or LF.
 * If opts->headers carries an "Authorization:" header, token_auth is off.
 */
int		 fetch_stream(struct fetch_ctx *, const char *url,
		    const struct fetch_opts *, const struct fetch_stream_opts *,
		    const struct fetch_handlers *, void *arg, struct fetch_req **out);
/* Direct requests (fetch_stream_opts.direct) so far, for /metrics. */
struct fetch_stats {
	uint64_t	direct;		/* bodies read directly */
	uint64_t	fallback;	/* answers that sent the request back through curl */
	uint64_t	reused;		/* direct requests sent on a kept-alive connection */
	uint64_t	retried;	/* ... of them, sent again on a new one: the kept one had gone */
};
void		 fetch_get_stats(const struct fetch_ctx *, struct fetch_stats *);
/*
 * The bytes the direct requests under way share per read (budget,
 * FETCH_DIRECT_BUDGET unless set): each read takes at most its share, in
 * blocks of chain bytes (FETCH_DIRECT_CHAIN) that the delivered evbuffer
 * holds by reference.
 */
void		 fetch_ctx_set_direct_budget(struct fetch_ctx *, size_t budget, size_t chain);
/* The most the next direct body read of a request would take now. */
size_t		 fetch_req_read_size(const struct fetch_req *);
/* Deliver body bytes again after on_data returned 1. */
void		 fetch_req_resume(struct fetch_req *);
/* Stop and free the request; no handler is called afterwards. */
void		 fetch_req_cancel(struct fetch_req *);
/* First value of a response header (case-insensitive name), or NULL. */
const char	*fetch_req_header(const struct fetch_req *, const char *name);
/* The i-th response header line; returns 0, or -1 past the end. */
int		 fetch_req_header_at(const struct fetch_req *, size_t i,
		    const char **name, const char **value);

/* A parsed WWW-Authenticate challenge (RFC 7235, one challenge per value). */
struct fetch_challenge {
	char	scheme[16];		/* "bearer" or "basic", lower-cased */
	char	realm[FETCH_MAX_URL];
	char	service[512];
	char	scope[1024];
};

/* Strict parse of one challenge (len bytes). Returns 0, or -1 when malformed or over a cap. */
int		 fetch_parse_challenge(const char *, size_t, struct fetch_challenge *);

#endif
