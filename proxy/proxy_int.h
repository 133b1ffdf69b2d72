/*
 * proxy internals shared between the files of proxy/.
 */
#ifndef PROXY_PROXY_INT_H
#define PROXY_PROXY_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

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

/* ---- notary.c: verified trust data per GUN, cached, on the event loop ---- */

struct notary_server {
	const char	*url;		/* https://notary.example.com[:port] */
	const char	*ca_file;	/* may be NULL */
	const char	*username;	/* may be NULL */
	const char	*password;
	long		 timeout_ms;
};

struct notary;

/*
 * state_dir may be NULL (no persistence). freshness: seconds a verified
 * result is reused without asking the server again (it is never reused
 * past the earliest expiry of its metadata).
 */
struct notary	*notary_new(struct fetch_ctx *, const char *state_dir, time_t freshness);
void		 notary_free(struct notary *);

/*
 * Called once with the verified repository (borrowed: valid only during the
 * callback) or NULL and the error.
 */
typedef void	(*notary_cb)(const struct trust_repo *, const struct trust_error *,
		    void *arg);

/*
 * Verified trust data of gun from server under pins (both borrowed until
 * the callback). Concurrent requests for one GUN share one update.
 * Returns 0, or -1 (cb not called) on out of memory.
 */
int		 notary_get(struct notary *, const struct notary_server *,
		    const char *gun, const struct trust_pins *, time_t now,
		    notary_cb, void *arg);

#endif
