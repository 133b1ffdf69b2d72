/*
 * fetch: the upstream HTTP(S) client. libcurl multi driven by libevent on
 * the proxy's event loop (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION), so no
 * request ever blocks the loop.
 *
 * What it enforces on every request: only http and https (also on
 * redirects), no signals, connect and transfer timeouts, a body cap counted
 * in the write callback (CURLOPT_MAXFILESIZE only catches an honest
 * Content-Length), capped response headers. What it does for the caller:
 * Docker token auth (one token request and one retry per request, tokens
 * cached per realm/service/scope/user until they expire) and HTTP Basic
 * when the server asks for it and credentials were given.
 *
 * What it does not do: decompress (the bytes are the registry's bytes),
 * retry on transport errors, or follow redirects unless asked.
 *
 * Reentrancy: curl must not see curl_multi_remove_handle() from inside its
 * own callbacks, so a request cancelled while curl is on the stack is only
 * marked and reaped when curl returns (ctx->in_curl, reap()).
 */
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <jansson.h>

#include "proxy/proxy_int.h"

struct sockinfo {
	struct event		 ev;
	struct fetch_ctx	*ctx;
	curl_socket_t		 fd;
	LIST_ENTRY(sockinfo)	 entry;
};

struct token {
	char		*key;		/* realm \n service \n scope \n user */
	char		*value;
	struct timespec	 expires;	/* CLOCK_MONOTONIC */
};

struct hdr {
	char	*name;
	char	*value;
};

/* A growing body; the fetch layer caps the total (max_len) before it grows. */
struct buf {
	uint8_t	*p;
	size_t	 len;
	size_t	 cap;
};

/* Which token a URL prefix was last answered with, to send it up front. */
struct hint {
	char	*prefix;	/* origin + path up to the repository, \n user */
	char	*token_key;
};

/* A kept-alive connection of a finished direct request, for the next one to its origin. */
struct idle {
	LIST_ENTRY(idle)	 entry;
	struct fetch_ctx	*ctx;
	char			*origin;	/* "http://host:port" as in the URL */
	evutil_socket_t		 fd;
	struct event		*ev;		/* readable (closed, or unasked bytes) or too old */
};

struct fetch_req {
	struct fetch_ctx	*ctx;
	TAILQ_ENTRY(fetch_req)	 entry;
	CURL			*easy;
	struct curl_slist	*slist;
	char			 errbuf[CURL_ERROR_SIZE];

	/* copies of the caller's request */
	char			*url;
	char			*ca_file;
	char			*username;
	char			*password;
	char			**headers;
	size_t			 nheaders;
	long			 connect_timeout_ms;
	long			 timeout_ms;
	long			 low_speed_bps;
	long			 low_speed_s;
	long			 buffer_size;
	size_t			 max_len;
	int			 follow;
	int			 head;
	int			 post;
	const uint8_t		*post_body;	/* POST: borrowed, sent on every attempt */
	size_t			 post_len;
	char			*post_ctype;	/* "Content-Type: ..." or NULL */
	char			 method[8];	/* an upload's method */
	struct evbuffer		*upload;	/* borrowed request body, drained as sent */
	uint64_t		 upload_len;
	int			 token_auth;
	struct fetch_handlers	 h;
	void			*arg;
	void			(*arg_free)(void *);	/* arg is ours (fetch_get): free it with r */

	/* the current attempt */
	struct hdr		*hdrs;
	size_t			 nhdrs;
	size_t			 hdr_bytes;
	int			 hdr_overflow;
	uint64_t		 nbytes;
	int			 delivered;	/* on_headers called */
	int			 swallow;	/* reading a 401 body before a retry */
	int			 toobig;
	int			 aborted;
	int			 pause_wanted;
	int			 attempt;
	char			*auth_line;	/* "Authorization: Bearer ..." for the retry */
	int			 basic;		/* retry with Basic */

	struct fetch_req	*token_req;	/* pending token request */
	char			*token_key;
	char			*proactive_key;	/* token sent up front, from a hint */
	struct buf		 tokbuf;	/* its body */
	int			 cancelled;
	int			 in_multi;

	/* a direct request (see "direct" below) */
	int			 dstate;	/* DS_* */
	evutil_socket_t		 dfd;		/* the adopted socket, or -1 */
	struct event		*drev;		/* readable, with the idle limit */
	struct event		*dwev;		/* writable, while the request goes out */
	struct evbuffer		*dbuf;		/* the request, then what was read */
	uint64_t		 dremain;	/* body bytes still to come */
	int			 dstatus;
	int			 dkeep;		/* the response lets the connection be kept */
	int			 dend;		/* the upstream's end waits behind the bytes */
	int			 dreused;	/* sent on a kept-alive connection */
};

TAILQ_HEAD(reqlist, fetch_req);

struct fetch_ctx {
	struct event_base	*base;
	CURLM			*multi;
	struct event		 timer;
	LIST_HEAD(socklist, sockinfo) socks;
	struct reqlist		 reqs;
	struct reqlist		 zombies;	/* cancelled while curl was on the stack */
	int			 in_curl;
	struct token		 tokens[FETCH_MAX_TOKENS];
	size_t			 ntokens;
	struct hint		 hints[FETCH_MAX_TOKENS];
	size_t			 nhints;
	size_t			 hint_next;	/* next slot to overwrite when full */
	int			 env_proxy;	/* a proxy is set in the environment: no direct requests */
	int			 early_close;	/* the loop reports a peer's end (EV_CLOSED) */
	struct fetch_stats	 stats;
	LIST_HEAD(idlelist, idle) idle;		/* newest first */
	size_t			 nidle;
	size_t			 direct_budget;	/* shared by the direct reads under way */
	size_t			 direct_chain;	/* bytes in one block of a direct read */
	size_t			 ndirect;	/* direct requests under way (not DS_NONE) */
};

static void	req_free(struct fetch_req *);
static void	direct_end(struct fetch_req *);
static void	idle_drop(struct idle *);
static int	attempt_start(struct fetch_req *);
static void	finish(struct fetch_req *, int status, const char *error);

/* ---- small helpers ---------------------------------------------------- */

static void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void
mono_now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

/* Append len bytes to b, doubling its capacity. Returns 0, or -1 (out of memory). */
static int
buf_append(struct buf *b, const uint8_t *p, size_t len)
{
	uint8_t	*n;
	size_t	 ncap;

	if (len > b->cap - b->len) {
		ncap = b->cap ? b->cap : 16384;
		while (ncap - b->len < len)
			ncap *= 2;
		if ((n = realloc(b->p, ncap)) == NULL)
			return -1;
		b->p = n;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	return 0;
}

static void
buf_clear(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* r->auth_line = "Authorization: Bearer <tok>". Returns 0, or -1 (out of memory, no line). */
static int
set_bearer(struct fetch_req *r, const char *tok)
{
	size_t n = sizeof("Authorization: Bearer ") + strlen(tok);

	wipe_free(r->auth_line);
	if ((r->auth_line = malloc(n)) == NULL)
		return -1;
	snprintf(r->auth_line, n, "Authorization: Bearer %s", tok);
	return 0;
}

static void
hdrs_clear(struct fetch_req *r)
{
	size_t i;

	for (i = 0; i < r->nhdrs; i++) {
		free(r->hdrs[i].name);
		free(r->hdrs[i].value);
	}
	free(r->hdrs);
	r->hdrs = NULL;
	r->nhdrs = 0;
	r->hdr_bytes = 0;
}

/* ---- curl <-> libevent ------------------------------------------------ */

static void	check_done(struct fetch_ctx *);

static void
reap(struct fetch_ctx *ctx)
{
	struct fetch_req *r;

	if (ctx->in_curl > 0)
		return;
	while ((r = TAILQ_FIRST(&ctx->zombies)) != NULL) {
		TAILQ_REMOVE(&ctx->zombies, r, entry);
		TAILQ_INSERT_TAIL(&ctx->reqs, r, entry);
		req_free(r);
	}
}

static void
socket_action(struct fetch_ctx *ctx, curl_socket_t fd, int what)
{
	int running;

	ctx->in_curl++;
	curl_multi_socket_action(ctx->multi, fd, what, &running);
	ctx->in_curl--;
	reap(ctx);
	check_done(ctx);
}

static void
event_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct fetch_ctx *ctx = arg;
	int what = 0;

	if (kind & EV_READ)
		what |= CURL_CSELECT_IN;
	if (kind & EV_WRITE)
		what |= CURL_CSELECT_OUT;
	socket_action(ctx, fd, what);
}

static void
timer_ev_cb(evutil_socket_t fd, short kind, void *arg)
{
	(void)fd;
	(void)kind;
	socket_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int
curl_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct fetch_ctx	*ctx = arg;
	struct timeval		 tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(&ctx->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(&ctx->timer, &tv);
	return 0;
}

static int
curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct fetch_ctx	*ctx = arg;
	struct sockinfo		*si = sockp;
	short			 kind = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (si != NULL) {
			event_del(&si->ev);
			LIST_REMOVE(si, entry);
			free(si);
			curl_multi_assign(ctx->multi, fd, NULL);
		}
		return 0;
	}
	if (si == NULL) {
		if ((si = calloc(1, sizeof(*si))) == NULL)
			return -1;
		si->ctx = ctx;
		si->fd = fd;
		LIST_INSERT_HEAD(&ctx->socks, si, entry);
		curl_multi_assign(ctx->multi, fd, si);
	} else
		event_del(&si->ev);
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	event_assign(&si->ev, ctx->base, fd, kind, event_cb, ctx);
	if (event_add(&si->ev, NULL) == -1)
		return -1;
	return 0;
}

/* Would curl send a plain http request through a proxy named in the environment? */
static int
env_proxy(void)
{
	static const char *const names[] = { "http_proxy", "all_proxy", "ALL_PROXY" };
	const char	*v;
	size_t		 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((v = getenv(names[i])) != NULL && *v != '\0')
			return 1;
	return 0;
}

struct fetch_ctx *
fetch_ctx_new(struct event_base *base)
{
	static int		 global_done;
	struct fetch_ctx	*ctx;

	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return NULL;
		global_done = 1;
	}
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return NULL;
	ctx->base = base;
	LIST_INIT(&ctx->socks);
	LIST_INIT(&ctx->idle);
	TAILQ_INIT(&ctx->reqs);
	TAILQ_INIT(&ctx->zombies);
	if ((ctx->multi = curl_multi_init()) == NULL) {
		free(ctx);
		return NULL;
	}
	evtimer_assign(&ctx->timer, base, timer_ev_cb, ctx);
	ctx->env_proxy = env_proxy();
	ctx->early_close = (event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE) != 0;
	ctx->direct_budget = FETCH_DIRECT_BUDGET;
	ctx->direct_chain = FETCH_DIRECT_CHAIN;
	curl_multi_setopt(ctx->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(ctx->multi, CURLMOPT_SOCKETDATA, ctx);
	curl_multi_setopt(ctx->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(ctx->multi, CURLMOPT_TIMERDATA, ctx);
	return ctx;
}

void
fetch_ctx_free(struct fetch_ctx *ctx)
{
	struct fetch_req	*r;
	struct sockinfo		*si;
	size_t			 i;

	if (ctx == NULL)
		return;
	reap(ctx);	/* never called with curl on the stack */
	while ((r = TAILQ_FIRST(&ctx->reqs)) != NULL)
		req_free(r);
	while (!LIST_EMPTY(&ctx->idle))
		idle_drop(LIST_FIRST(&ctx->idle));
	curl_multi_cleanup(ctx->multi);
	while ((si = LIST_FIRST(&ctx->socks)) != NULL) {
		event_del(&si->ev);
		LIST_REMOVE(si, entry);
		free(si);
	}
	evtimer_del(&ctx->timer);
	for (i = 0; i < ctx->ntokens; i++) {
		free(ctx->tokens[i].key);
		wipe_free(ctx->tokens[i].value);
	}
	for (i = 0; i < ctx->nhints; i++) {
		free(ctx->hints[i].prefix);
		free(ctx->hints[i].token_key);
	}
	free(ctx);
}

/* ---- token cache --------------------------------------------------------- */

static int
ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void
token_drop(struct fetch_ctx *ctx, size_t i)
{
	free(ctx->tokens[i].key);
	wipe_free(ctx->tokens[i].value);
	ctx->tokens[i] = ctx->tokens[--ctx->ntokens];
}

static const char *
token_get(struct fetch_ctx *ctx, const char *key)
{
	struct timespec	now;
	size_t		i;

	mono_now(&now);
	for (i = 0; i < ctx->ntokens; i++) {
		if (strcmp(ctx->tokens[i].key, key) != 0)
			continue;
		if (ts_before(&ctx->tokens[i].expires, &now)) {
			token_drop(ctx, i);
			return NULL;
		}
		return ctx->tokens[i].value;
	}
	return NULL;
}

static void
token_put(struct fetch_ctx *ctx, const char *key, const char *value, long ttl)
{
	struct timespec	 now;
	char		*k, *v;
	size_t		 i, victim;

	mono_now(&now);
	for (i = 0; i < ctx->ntokens; i++)
		if (strcmp(ctx->tokens[i].key, key) == 0) {
			token_drop(ctx, i);
			break;
		}
	if (ctx->ntokens == FETCH_MAX_TOKENS) {
		/* evict the one that expires first (expired ones first of all) */
		victim = 0;
		for (i = 1; i < ctx->ntokens; i++)
			if (ts_before(&ctx->tokens[i].expires, &ctx->tokens[victim].expires))
				victim = i;
		token_drop(ctx, victim);
	}
	k = strdup(key);
	v = strdup(value);
	if (k == NULL || v == NULL) {
		free(k);
		wipe_free(v);
		return;
	}
	/* a few seconds of margin for the round trip that will use it */
	ctx->tokens[ctx->ntokens].key = k;
	ctx->tokens[ctx->ntokens].value = v;
	ctx->tokens[ctx->ntokens].expires.tv_sec = now.tv_sec + ttl - 5;
	ctx->tokens[ctx->ntokens].expires.tv_nsec = now.tv_nsec;
	ctx->ntokens++;
}

static void
token_forget(struct fetch_ctx *ctx, const char *key)
{
	size_t i;

	for (i = 0; i < ctx->ntokens; i++)
		if (strcmp(ctx->tokens[i].key, key) == 0) {
			token_drop(ctx, i);
			return;
		}
}

/*
 * The part of a URL a token is good for: origin and path up to the
 * repository ("/_trust/" for Notary, "/manifests/", "/blobs/", "/tags/"
 * for a registry), else up to the last '/'; then the user. NULL if too long.
 */
static char *
hint_prefix(const char *url, const char *user)
{
	static const char *const marks[] = { "/_trust/", "/manifests/", "/blobs/", "/tags/" };
	const char	*path, *cut = NULL, *m;
	size_t		 i, n;
	char		*out;

	if ((path = strstr(url, "://")) == NULL || (path = strchr(path + 3, '/')) == NULL)
		return NULL;
	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		for (m = strstr(path, marks[i]); m != NULL; m = strstr(m + 1, marks[i]))
			if (cut == NULL || m > cut)
				cut = m;
	if (cut == NULL)
		cut = strrchr(path, '/');
	n = (size_t)(cut - url);
	if (n > FETCH_MAX_URL || (out = malloc(n + 2 + (user ? strlen(user) : 0))) == NULL)
		return NULL;
	memcpy(out, url, n);
	out[n] = '\n';
	memcpy(out + n + 1, user ? user : "", (user ? strlen(user) : 0) + 1);
	return out;
}

static const char *
hint_get(struct fetch_ctx *ctx, const char *prefix)
{
	size_t i;

	for (i = 0; i < ctx->nhints; i++)
		if (strcmp(ctx->hints[i].prefix, prefix) == 0)
			return ctx->hints[i].token_key;
	return NULL;
}

static void
hint_put(struct fetch_ctx *ctx, char *prefix, const char *token_key)
{
	char	*k;
	size_t	 i;

	if ((k = strdup(token_key)) == NULL) {
		free(prefix);
		return;
	}
	for (i = 0; i < ctx->nhints; i++)
		if (strcmp(ctx->hints[i].prefix, prefix) == 0) {
			free(prefix);
			free(ctx->hints[i].token_key);
			ctx->hints[i].token_key = k;
			return;
		}
	if (ctx->nhints < FETCH_MAX_TOKENS)
		i = ctx->nhints++;
	else {
		i = ctx->hint_next++ % FETCH_MAX_TOKENS;
		free(ctx->hints[i].prefix);
		free(ctx->hints[i].token_key);
	}
	ctx->hints[i].prefix = prefix;
	ctx->hints[i].token_key = k;
}

/* Send the token a previous request to this repository needed, if still valid. */
static void
use_hint(struct fetch_req *r)
{
	const char	*key, *tok;
	char		*prefix;

	if (!r->token_auth || (prefix = hint_prefix(r->url, r->username)) == NULL)
		return;
	if ((key = hint_get(r->ctx, prefix)) != NULL &&
	    (tok = token_get(r->ctx, key)) != NULL &&
	    (r->proactive_key = strdup(key)) != NULL && set_bearer(r, tok) == -1) {
		free(r->proactive_key);
		r->proactive_key = NULL;
	}
	free(prefix);
}

/* ---- WWW-Authenticate ------------------------------------------------------ */

static int
is_tchar(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * challenge = scheme 1*SP param *( OWS "," OWS param )
 * param     = token BWS "=" BWS ( token / quoted-string )
 * Unknown params are skipped, a duplicate known one is an error.
 */
int
fetch_parse_challenge(const char *s, size_t len, struct fetch_challenge *out)
{
	char		 name[32], *dst;
	size_t		 i = 0, n, cap, nparams = 0;
	int		 seen_realm = 0, seen_service = 0, seen_scope = 0, *seen;

	memset(out, 0, sizeof(*out));
	if (len > FETCH_MAX_CHALLENGE)
		return -1;
	for (n = 0; i < len && is_tchar((unsigned char)s[i]); i++, n++) {
		if (n + 1 >= sizeof(out->scheme))
			return -1;
		out->scheme[n] = (char)tolower((unsigned char)s[i]);
	}
	if (n == 0 || i >= len || s[i] != ' ')
		return -1;
	while (i < len && s[i] == ' ')
		i++;
	for (;;) {
		if (++nparams > 16)
			return -1;
		for (n = 0; i < len && is_tchar((unsigned char)s[i]); i++, n++) {
			if (n + 1 >= sizeof(name))
				return -1;
			name[n] = (char)tolower((unsigned char)s[i]);
		}
		name[n] = '\0';
		if (n == 0)
			return -1;
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i >= len || s[i] != '=')
			return -1;
		i++;
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		dst = NULL;
		cap = 0;
		seen = NULL;
		if (strcmp(name, "realm") == 0) {
			dst = out->realm; cap = sizeof(out->realm); seen = &seen_realm;
		} else if (strcmp(name, "service") == 0) {
			dst = out->service; cap = sizeof(out->service); seen = &seen_service;
		} else if (strcmp(name, "scope") == 0) {
			dst = out->scope; cap = sizeof(out->scope); seen = &seen_scope;
		}
		if (seen != NULL) {
			if (*seen)
				return -1;
			*seen = 1;
		}
		n = 0;
		if (i < len && s[i] == '"') {
			for (i++; ; i++) {
				unsigned char c;

				if (i >= len)
					return -1;	/* unterminated */
				c = (unsigned char)s[i];
				if (c == '"')
					break;
				if (c == '\\') {
					if (++i >= len)
						return -1;
					c = (unsigned char)s[i];
				}
				if ((c < 0x20 && c != '\t') || c == 0x7f)
					return -1;
				if (dst != NULL) {
					if (n + 1 >= cap)
						return -1;
					dst[n] = (char)c;
				}
				n++;
			}
			i++;
		} else {
			for (; i < len && is_tchar((unsigned char)s[i]); i++, n++) {
				if (dst != NULL) {
					if (n + 1 >= cap)
						return -1;
					dst[n] = s[i];
				}
			}
			if (n == 0)
				return -1;
		}
		if (dst != NULL)
			dst[n] = '\0';
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len)
			return 0;
		if (s[i] != ',')
			return -1;
		i++;
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len)
			return -1;
	}
}

/* ---- requests ----------------------------------------------------------- */

static int
response_status(struct fetch_req *r)
{
	long code = 0;

	if (r->easy != NULL)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	return (int)code;
}

static void
attempt_end(struct fetch_req *r)
{
	if (r->easy != NULL) {
		if (r->in_multi)
			curl_multi_remove_handle(r->ctx->multi, r->easy);
		r->in_multi = 0;
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	curl_slist_free_all(r->slist);
	r->slist = NULL;
}

static void
req_free(struct fetch_req *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->arg_free != NULL && r->arg != NULL)
		r->arg_free(r->arg);	/* cancelled or freed before on_done */
	if (r->token_req != NULL)
		req_free(r->token_req);
	attempt_end(r);
	direct_end(r);
	TAILQ_REMOVE(&r->ctx->reqs, r, entry);
	hdrs_clear(r);
	free(r->url);
	free(r->ca_file);
	free(r->username);
	wipe_free(r->password);
	for (i = 0; i < r->nheaders; i++)
		wipe_free(r->headers[i]);
	free(r->headers);
	wipe_free(r->auth_line);
	free(r->post_ctype);
	free(r->token_key);
	free(r->proactive_key);
	buf_clear(&r->tokbuf);
	free(r);
}

/* The challenge this 401 offers that we can answer, or 0. */
static int
pick_challenge(struct fetch_req *r, struct fetch_challenge *out)
{
	struct fetch_challenge	c;
	size_t			i;
	int			basic = 0;

	for (i = 0; i < r->nhdrs; i++) {
		if (strcasecmp(r->hdrs[i].name, "WWW-Authenticate") != 0)
			continue;
		if (fetch_parse_challenge(r->hdrs[i].value,
		    strlen(r->hdrs[i].value), &c) == -1)
			continue;
		if (strcmp(c.scheme, "bearer") == 0 &&
		    (strncmp(c.realm, "https://", 8) == 0 ||
		    strncmp(c.realm, "http://", 7) == 0)) {
			*out = c;
			return 1;
		}
		if (strcmp(c.scheme, "basic") == 0 && r->username != NULL)
			basic = 1;
	}
	if (basic) {
		memset(out, 0, sizeof(*out));
		memcpy(out->scheme, "basic", 6);
		return 1;
	}
	return 0;
}

static int
wants_auth(struct fetch_req *r, int status)
{
	struct fetch_challenge c;

	return status == 401 && r->token_auth && r->attempt == 0 &&
	    pick_challenge(r, &c);
}

static int
deliver_headers(struct fetch_req *r, int status)
{
	r->delivered = 1;
	if (r->h.on_headers != NULL && r->h.on_headers(r, status, r->arg) == -1) {
		r->aborted = 1;
		return -1;
	}
	return 0;
}

/*
 * One response header line of len bytes (its CRLF may be included) into
 * r->hdrs. The blank line, obs-fold and lines with NUL or without a
 * "token:" are ignored. Returns 0, or -1 over a cap (hdr_overflow) or out
 * of memory.
 */
static int
hdr_line(struct fetch_req *r, const char *p, size_t len)
{
	size_t		 nlen, vstart;
	struct hdr	*nh;
	char		*name, *value;

	r->hdr_bytes += len;
	if (r->hdr_bytes > FETCH_MAX_HEADERS_LEN) {
		r->hdr_overflow = 1;
		return -1;
	}
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	if (len == 0 || p[0] == ' ' || p[0] == '\t' || memchr(p, '\0', len) != NULL)
		return 0;	/* end of headers; obs-fold and NUL: ignored */
	for (nlen = 0; nlen < len && is_tchar((unsigned char)p[nlen]); nlen++)
		;
	if (nlen == 0 || nlen == len || p[nlen] != ':')
		return 0;
	if (r->nhdrs >= FETCH_MAX_RESP_HEADERS) {
		r->hdr_overflow = 1;
		return -1;
	}
	for (vstart = nlen + 1; vstart < len && (p[vstart] == ' ' || p[vstart] == '\t'); vstart++)
		;
	while (len > vstart && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if ((nh = reallocarray(r->hdrs, r->nhdrs + 1, sizeof(*nh))) == NULL)
		return -1;
	r->hdrs = nh;
	name = strndup(p, nlen);
	value = strndup(p + vstart, len - vstart);
	if (name == NULL || value == NULL) {
		free(name);
		free(value);
		return -1;
	}
	r->hdrs[r->nhdrs].name = name;
	r->hdrs[r->nhdrs].value = value;
	r->nhdrs++;
	return 0;
}

static size_t
header_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct fetch_req	*r = ud;
	size_t			 len = size * nmemb;

	if (r->cancelled)
		return 0;
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* a new response (redirect, 100, the retry): forget the last */
		hdrs_clear(r);
		return len;
	}
	return hdr_line(r, p, len) == 0 ? len : 0;
}

static size_t
write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct fetch_req	*r = ud;
	size_t			 len = size * nmemb;
	int			 rc, status;

	if (r->cancelled)
		return 0;
	if (!r->delivered && !r->swallow) {
		status = response_status(r);
		if (wants_auth(r, status))
			r->swallow = 1;
		else if (deliver_headers(r, status) == -1)
			return 0;
	}
	if (r->swallow) {
		/* the body of a 401 we are about to answer: read and drop */
		r->nbytes += len;
		return r->nbytes > FETCH_MAX_SWALLOW ? 0 : len;
	}
	if (r->pause_wanted)
		return CURL_WRITEFUNC_PAUSE;	/* curl keeps these bytes */
	if (len > r->max_len || r->nbytes > r->max_len - len) {
		r->toobig = 1;
		return 0;
	}
	r->nbytes += len;
	if (r->h.on_data == NULL)
		return len;
	rc = r->h.on_data(r, (const uint8_t *)p, len, r->arg);
	if (rc < 0) {
		r->aborted = 1;
		return 0;
	}
	if (rc == 1)
		r->pause_wanted = 1;
	return len;
}

static int
slist_add(struct curl_slist **l, const char *line)
{
	struct curl_slist *n;

	if ((n = curl_slist_append(*l, line)) == NULL)
		return 0;
	*l = n;
	return 1;
}

/* An upload's body: handed to curl straight from the caller's evbuffer. */
static size_t
read_cb(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct fetch_req	*r = ud;
	int			 n;

	if (r->cancelled)
		return CURL_READFUNC_ABORT;
	n = evbuffer_remove(r->upload, buf, size * nmemb);
	return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

static int
attempt_start(struct fetch_req *r)
{
	CURL	*e;
	size_t	 i;

	hdrs_clear(r);
	r->nbytes = 0;
	r->delivered = r->swallow = r->toobig = r->aborted = r->pause_wanted = 0;
	r->hdr_overflow = 0;
	r->errbuf[0] = '\0';
	if ((e = r->easy = curl_easy_init()) == NULL)
		return -1;
	for (i = 0; i < r->nheaders; i++)
		if (!slist_add(&r->slist, r->headers[i]))
			return -1;
	if (r->auth_line != NULL &&
	    !slist_add(&r->slist, r->auth_line))
		return -1;
	/* "Expect:" off: no 100-continue round trip before a small body */
	if ((r->post || r->upload != NULL) &&
	    ((r->post_ctype != NULL && !slist_add(&r->slist, r->post_ctype)) ||
	    !slist_add(&r->slist, "Expect:")))
		return -1;
	if (curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK)
		return -1;
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "dctproxy/" DCTPROXY_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	/*
	 * An honest Content-Length over the cap ends the transfer early; while
	 * a 401 could still be answered, not below FETCH_MAX_SWALLOW: curl
	 * applies it to the 401's body too, which is not the caller's (write_cb
	 * counts the caller's bytes against max_len all the same).
	 */
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(r->token_auth &&
	    r->attempt == 0 && r->max_len < FETCH_MAX_SWALLOW ? FETCH_MAX_SWALLOW : r->max_len));
	if (r->connect_timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
	if (r->timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	if (r->buffer_size > 0)
		curl_easy_setopt(e, CURLOPT_BUFFERSIZE, r->buffer_size);
	if (r->low_speed_s > 0) {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, r->low_speed_bps);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, r->low_speed_s);
	}
	if (r->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, r->ca_file);
	if (r->follow) {
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)FETCH_MAX_REDIRS);
	}
	if (r->head)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	if (r->upload != NULL) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, r);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->upload_len);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	}
	if (r->post) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->post_body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->post_len);
	}
	if (r->slist != NULL)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->slist);
	if (r->basic) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, r->username);
		curl_easy_setopt(e, CURLOPT_PASSWORD, r->password ? r->password : "");
	}
	if (curl_multi_add_handle(r->ctx->multi, e) != CURLM_OK)
		return -1;
	r->in_multi = 1;
	return 0;
}

/* Retry the request once with what start_auth() arranged. */
static void
retry(struct fetch_req *r)
{
	r->attempt = 1;
	if (attempt_start(r) == -1) {
		attempt_end(r);
		finish(r, TRUST_FETCH_NETERR, "out of memory starting a request");
	}
}

static int
token_data(struct fetch_req *tr, const uint8_t *p, size_t len, void *arg)
{
	struct fetch_req *r = arg;

	(void)tr;
	/* the fetch layer caps the total at FETCH_MAX_TOKEN_LEN */
	return buf_append(&r->tokbuf, p, len);
}

static void
token_done(struct fetch_req *tr, int status, const char *error, void *arg)
{
	struct fetch_req	*r = arg;
	json_t			*root = NULL, *v;
	json_error_t		 jerr;
	const char		*tok = NULL, *p;
	char			 msg[512];
	long			 ttl = FETCH_TOKEN_MIN_TTL;
	size_t			 n;

	(void)tr;
	r->token_req = NULL;
	if (status != 200) {
		if (status > 0)
			snprintf(msg, sizeof(msg), "token server answered %d", status);
		else
			snprintf(msg, sizeof(msg), "token request failed: %s",
			    error ? error : "unknown error");
		goto fail;
	}
	root = json_loadb((const char *)r->tokbuf.p, r->tokbuf.len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (root == NULL || !json_is_object(root)) {
		snprintf(msg, sizeof(msg), "token response is not a JSON object");
		goto fail;
	}
	if ((v = json_object_get(root, "token")) != NULL && json_is_string(v) &&
	    json_string_length(v) > 0)
		tok = json_string_value(v);
	else if ((v = json_object_get(root, "access_token")) != NULL &&
	    json_is_string(v) && json_string_length(v) > 0)
		tok = json_string_value(v);
	if (tok == NULL) {
		snprintf(msg, sizeof(msg), "token response carries no token");
		goto fail;
	}
	/* it goes into a header line: visible ASCII only */
	n = json_string_length(v);
	for (p = tok; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e)
			break;
	if ((size_t)(p - tok) != n) {
		snprintf(msg, sizeof(msg), "token contains invalid characters");
		goto fail;
	}
	if ((v = json_object_get(root, "expires_in")) != NULL && json_is_integer(v)) {
		json_int_t e = json_integer_value(v);

		if (e > FETCH_TOKEN_MAX_TTL)
			e = FETCH_TOKEN_MAX_TTL;
		if (e > ttl)
			ttl = (long)e;
	}
	if (set_bearer(r, tok) == -1) {
		snprintf(msg, sizeof(msg), "out of memory");
		goto fail;
	}
	token_put(r->ctx, r->token_key, tok, ttl);
	json_decref(root);
	buf_clear(&r->tokbuf);
	retry(r);
	return;
fail:
	json_decref(root);
	buf_clear(&r->tokbuf);
	finish(r, 401, msg);
}

static struct fetch_req	*req_new(struct fetch_ctx *, const char *,
			    const struct fetch_opts *, const struct fetch_stream_opts *,
			    const struct fetch_handlers *, void *);

static int
add_param(char *url, size_t cap, const char *name, const char *value)
{
	char	*esc;
	size_t	 len = strlen(url);
	int	 n;

	if ((esc = curl_easy_escape(NULL, value, 0)) == NULL)	/* NULL: curl >= 7.82 */
		return -1;
	n = snprintf(url + len, cap - len, "%c%s=%s",
	    strchr(url, '?') ? '&' : '?', name, esc);
	curl_free(esc);
	return n < 0 || (size_t)n >= cap - len ? -1 : 0;
}

/* Answer the 401 the last attempt got: token or Basic, then one retry. */
static void
start_auth(struct fetch_req *r)
{
	struct fetch_challenge	 c;
	struct fetch_opts	 o;
	struct fetch_stream_opts so;
	struct fetch_handlers	 th;
	struct fetch_req	*tr;
	const char		*tok;
	char			 url[FETCH_MAX_URL], *scope, *sp, *save = NULL;
	size_t			 klen;

	if (!pick_challenge(r, &c)) {
		finish(r, 401, "unauthorized");
		return;
	}
	if (strcmp(c.scheme, "basic") == 0) {
		r->basic = 1;
		retry(r);
		return;
	}
	klen = strlen(c.realm) + strlen(c.service) + strlen(c.scope) +
	    (r->username ? strlen(r->username) : 0) + 4;
	free(r->token_key);
	if ((r->token_key = malloc(klen)) == NULL) {
		finish(r, TRUST_FETCH_NETERR, "out of memory");
		return;
	}
	snprintf(r->token_key, klen, "%s\n%s\n%s\n%s", c.realm, c.service,
	    c.scope, r->username ? r->username : "");
	if (r->proactive_key != NULL && strcmp(r->proactive_key, r->token_key) == 0)
		token_forget(r->ctx, r->token_key);	/* it was refused: get a new one */
	if ((tok = token_get(r->ctx, r->token_key)) != NULL) {
		if (set_bearer(r, tok) == -1) {
			finish(r, TRUST_FETCH_NETERR, "out of memory");
			return;
		}
		retry(r);
		return;
	}

	/* GET realm?service=..&scope=..[&scope=..] (docker: one scope param each) */
	memcpy(url, c.realm, sizeof(url));	/* the same size, NUL-terminated */
	scope = strdup(c.scope);
	if (scope == NULL || (c.service[0] != '\0' &&
	    add_param(url, sizeof(url), "service", c.service) == -1)) {
		free(scope);
		finish(r, 401, "token request URL too long");
		return;
	}
	for (sp = strtok_r(scope, " ", &save); sp != NULL; sp = strtok_r(NULL, " ", &save))
		if (add_param(url, sizeof(url), "scope", sp) == -1) {
			free(scope);
			finish(r, 401, "token request URL too long");
			return;
		}
	free(scope);

	memset(&o, 0, sizeof(o));
	o.ca_file = r->ca_file;
	o.username = r->username;
	o.password = r->password;
	o.connect_timeout_ms = r->connect_timeout_ms;
	o.timeout_ms = r->timeout_ms > 0 ? r->timeout_ms : 30000;
	o.max_len = FETCH_MAX_TOKEN_LEN;
	memset(&so, 0, sizeof(so));
	memset(&th, 0, sizeof(th));
	th.on_data = token_data;
	th.on_done = token_done;
	if ((tr = req_new(r->ctx, url, &o, &so, &th, r)) == NULL) {
		finish(r, 401, "could not start the token request");
		return;
	}
	tr->basic = r->username != NULL;
	if (attempt_start(tr) == -1) {
		req_free(tr);
		finish(r, 401, "could not start the token request");
		return;
	}
	r->token_req = tr;
}

/* The end of a request: deliver what is left, call on_done, free. */
static void
finish(struct fetch_req *r, int status, const char *error)
{
	if (status > 0 && !r->delivered && deliver_headers(r, status) == -1) {
		status = TRUST_FETCH_NETERR;
		error = "aborted by the caller";
	}
	attempt_end(r);
	if (r->h.on_done != NULL)
		r->h.on_done(r, status, error, r->arg);
	req_free(r);
}

/* ---- direct: a bulk body read straight into evbuffer chains -----------------
 *
 * Why: curl hands body bytes out of its own buffer (one copy more per
 * byte, 16 KiB at a time with libcurl 7.88 whatever CURLOPT_BUFFERSIZE
 * says) and pausing and resuming a transfer costs
 * system calls and loop turns; streaming blobs at memory speed, that is
 * most of a proxy's work. So a GET with so->direct over plain http skips
 * curl's transfer:
 *   - curl only connects (CURLOPT_CONNECT_ONLY: name resolution, address
 *     choice and the connect timeout stay curl's) and lets go of the
 *     connection at once (CURLOPT_FORBID_REUSE); its close-socket callback
 *     adopts the connected socket instead of closing it (a socket is
 *     connected when getpeername() works and SO_ERROR is 0; sockets of
 *     failed attempts are closed as usual);
 *   - fetch writes the request itself: the same request line, Host,
 *     User-Agent, caller's headers and up-front token curl would send;
 *   - after a whole response that allows it (HTTP/1.1, no "Connection:
 *     close", nothing past Content-Length) the connection is kept for the
 *     next direct request to the same origin (as nginx keeps its upstream
 *     connections: a new one per blob started measurably slower): at most
 *     FETCH_DIRECT_IDLE_MAX, each FETCH_DIRECT_KEEP_S seconds, dropped as
 *     soon as it turns readable (closed by the upstream). A kept connection
 *     that fails before a byte of the answer arrives was closed meanwhile:
 *     the request goes out once more on a new one;
 *   - the response head is read and parsed here, capped like curl's;
 *   - a 200 or 206 with one plain Content-Length and no Transfer-Encoding
 *     is read with one readv(2) per read into blocks that the evbuffer
 *     on_buffer takes holds by reference, without a copy; the direct
 *     requests under way share a budget per read (direct_read_size). The
 *     read event is edge-triggered; while paused it is off the loop, and
 *     fetch_req_resume() adds it again and reads at once (no new edge
 *     would come for bytes that arrived meanwhile). A read shorter than
 *     asked for drained the socket: the next edge will come, unless the
 *     upstream's end came with the bytes (direct_end_waits);
 *   - any other answer (a 401 challenge, a redirect to object storage, an
 *     error status, a chunked or unframed body, a head whose lines end in
 *     a bare LF, which curl accepts) is dropped unread, the
 *     socket closed, and the request runs again as an ordinary curl
 *     transfer, which answers challenges and follows redirects.
 * Not direct: https (the TLS session would be curl's), a proxy in the
 * environment (the request line would be wrong for it), a total timeout.
 */
enum { DS_NONE, DS_CONNECT, DS_SEND, DS_HEAD, DS_BODY };

static void	direct_read(struct fetch_req *);

/*
 * Move r to state st, counting the direct requests under way: they share
 * the read budget (direct_read_size) from their start, so transfers that
 * begin together take their smaller shares at once.
 */
static void
direct_state(struct fetch_req *r, int st)
{
	if (r->dstate == DS_NONE && st != DS_NONE)
		r->ctx->ndirect++;
	else if (r->dstate != DS_NONE && st == DS_NONE)
		r->ctx->ndirect--;
	r->dstate = st;
}

static void
direct_events_free(struct fetch_req *r)
{
	if (r->drev != NULL)
		event_free(r->drev);
	if (r->dwev != NULL)
		event_free(r->dwev);
	r->drev = r->dwev = NULL;
}

/* Close the direct socket and its events; the request state stays. */
static void
direct_end(struct fetch_req *r)
{
	direct_events_free(r);
	if (r->dfd != -1)
		evutil_closesocket(r->dfd);
	r->dfd = -1;
	if (r->dbuf != NULL)
		evbuffer_free(r->dbuf);
	r->dbuf = NULL;
	direct_state(r, DS_NONE);
}

/* "http://host:port" of url (up to the path), or NULL. */
static char *
direct_origin(const char *url)
{
	const char *p;

	if ((p = strstr(url, "://")) == NULL)
		return NULL;
	if ((p = strchr(p + 3, '/')) == NULL)
		p = url + strlen(url);
	return strndup(url, (size_t)(p - url));
}

/* Take i out of the pool and free it, closing its socket unless that was taken (-1). */
static void
idle_drop(struct idle *i)
{
	LIST_REMOVE(i, entry);
	i->ctx->nidle--;
	event_free(i->ev);
	if (i->fd != -1)
		evutil_closesocket(i->fd);
	free(i->origin);
	free(i);
}

/* A kept connection became readable (closed, or bytes nobody asked for) or too old. */
static void
idle_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	idle_drop(arg);
}

/*
 * Keep r's connection for the next direct request to its origin: only
 * after a whole response that allows it (dkeep), at most
 * FETCH_DIRECT_IDLE_MAX of them (the oldest goes), each at most
 * FETCH_DIRECT_KEEP_S seconds, and dropped as soon as it turns readable.
 * r->dfd is the pool's afterwards (or closed).
 */
static void
direct_park(struct fetch_req *r)
{
	struct fetch_ctx	*ctx = r->ctx;
	struct idle		*i, *last;
	struct timeval		 tv = { FETCH_DIRECT_KEEP_S, 0 };

	direct_events_free(r);
	if ((i = calloc(1, sizeof(*i))) == NULL || (i->origin = direct_origin(r->url)) == NULL ||
	    (i->ev = event_new(ctx->base, r->dfd, EV_READ, idle_cb, i)) == NULL ||
	    event_add(i->ev, &tv) == -1) {
		if (i != NULL) {
			if (i->ev != NULL)
				event_free(i->ev);
			free(i->origin);
			free(i);
		}
		return;		/* direct_end() closes it */
	}
	if (ctx->nidle >= FETCH_DIRECT_IDLE_MAX) {
		LIST_FOREACH(last, &ctx->idle, entry)
			if (LIST_NEXT(last, entry) == NULL)
				break;
		idle_drop(last);
	}
	i->ctx = ctx;
	i->fd = r->dfd;
	LIST_INSERT_HEAD(&ctx->idle, i, entry);
	ctx->nidle++;
	r->dfd = -1;
}

/* The newest kept connection to r's origin, taken out of the pool, or -1. */
static evutil_socket_t
idle_take(struct fetch_req *r)
{
	struct idle	*i, *found = NULL;
	char		*origin;
	evutil_socket_t	 fd = -1;

	if ((origin = direct_origin(r->url)) == NULL)
		return -1;
	LIST_FOREACH(i, &r->ctx->idle, entry)
		if (strcmp(i->origin, origin) == 0) {
			found = i;
			break;
		}
	free(origin);
	if (found != NULL) {
		fd = found->fd;
		found->fd = -1;
		idle_drop(found);
	}
	return fd;
}

static int
direct_close_cb(void *clientp, curl_socket_t fd)
{
	struct fetch_req	*r = clientp;
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss), el = sizeof(int);
	int			 err = -1;

	if (r->dstate == DS_CONNECT && r->dfd == -1 &&
	    getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0) {
		r->dfd = fd;	/* ours from now on */
		return 0;
	}
	return evutil_closesocket(fd);
}

static int	direct_begin(struct fetch_req *, int now);

/*
 * Connect r: on a kept connection to its origin when there is one (the
 * request then goes out from the loop), else through curl (done_one()
 * hands the socket to direct_connected()). fresh: never a kept one.
 */
static int
direct_connect(struct fetch_req *r, int fresh)
{
	CURL *e;

	if (!fresh && (r->dfd = idle_take(r)) != -1) {
		r->dreused = 1;
		r->ctx->stats.reused++;
		return direct_begin(r, 0);
	}
	if ((e = r->easy = curl_easy_init()) == NULL)
		return -1;
	if (curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, direct_close_cb) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, r) != CURLE_OK)
		return -1;
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	if (r->connect_timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
	if (curl_multi_add_handle(r->ctx->multi, e) != CURLM_OK)
		return -1;
	r->in_multi = 1;
	direct_state(r, DS_CONNECT);
	return 0;
}

/* Give up the direct attempt and run r as an ordinary curl transfer. */
static void
direct_fallback(struct fetch_req *r)
{
	direct_end(r);
	hdrs_clear(r);
	r->ctx->stats.fallback++;
	r->nbytes = 0;
	if (attempt_start(r) == -1) {
		attempt_end(r);
		finish(r, TRUST_FETCH_NETERR, "out of memory starting a request");
	}
}

/* End r with a transport failure; what is a literal or the caller's buffer. */
static void
direct_fail(struct fetch_req *r, const char *what)
{
	direct_end(r);
	finish(r, TRUST_FETCH_NETERR, what);
}

/*
 * A kept connection that fails before a byte of the answer came had been
 * closed by the upstream meanwhile: send the request once more on a new
 * connection. Returns 1 when so (r goes on), 0 when the failure is r's.
 */
static int
direct_stale(struct fetch_req *r)
{
	if (!r->dreused || !(r->dstate == DS_SEND ||
	    (r->dstate == DS_HEAD && evbuffer_get_length(r->dbuf) == 0)))
		return 0;
	direct_end(r);
	r->dreused = 0;
	r->ctx->stats.retried++;
	if (direct_connect(r, 1) == -1) {
		attempt_end(r);
		direct_fail(r, "out of memory starting a request");
	}
	return 1;
}

static void
direct_idle_tv(const struct fetch_req *r, struct timeval *tv)
{
	tv->tv_sec = r->low_speed_s > 0 ? r->low_speed_s : FETCH_DIRECT_IDLE_S;
	tv->tv_usec = 0;
}

/*
 * want, or less when the socket holds less (FIONREAD, as evbuffer_read()
 * does): 1 when it holds nothing (the end, an error, or bytes just
 * arriving), so the read still tells which.
 */
static size_t
direct_avail(const struct fetch_req *r, size_t want)
{
	int avail;

	if (ioctl(r->dfd, FIONREAD, &avail) == 0 && avail >= 0 && (size_t)avail < want)
		return avail > 0 ? (size_t)avail : 1;
	return want;
}

/* What a direct read returns for readv(2)'s got (errno kept): 0 end, -2 nothing yet, -1 error. */
static ssize_t
direct_read_failed(ssize_t got)
{
	if (got == 0)
		return 0;
	return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -2 : -1;
}

/*
 * Read at most want bytes of the response head into r->dbuf with one
 * readv(2), into the free space of its last chain first (the head may
 * come in many small pieces; blocks, as direct_recv_body() reads, would
 * take one each). Returns the count, 0 at the end of the stream, -1 on
 * error (errno), -2 when nothing is there yet. The space reserved is what
 * the socket holds (direct_avail), not want: the body bytes read with the
 * head go to the caller in that chain. A count below want drained the
 * socket; bytes that come later raise a new edge, but an end of stream
 * that came with the bytes read does not (see direct_end_waits).
 */
static ssize_t
direct_recv(struct fetch_req *r, size_t want)
{
	struct evbuffer_iovec	v[2];
	size_t			left, k;
	ssize_t			got;
	int			n, i;

	want = direct_avail(r, want);
	left = want;
	if ((n = evbuffer_reserve_space(r->dbuf, (ev_ssize_t)want, v, 2)) <= 0) {
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < n && left > 0; i++) {
		if (v[i].iov_len > left)
			v[i].iov_len = left;
		left -= v[i].iov_len;
	}
	n = i;
	got = readv(r->dfd, (struct iovec *)v, n);
	if (got <= 0) {
		int saved = errno;

		evbuffer_commit_space(r->dbuf, v, 0);
		errno = saved;
		return direct_read_failed(got);
	}
	for (i = 0, k = (size_t)got; i < n; i++) {
		if (v[i].iov_len > k)
			v[i].iov_len = k;
		k -= v[i].iov_len;
	}
	evbuffer_commit_space(r->dbuf, v, n);
	return got;
}

/*
 * After a short read of r: 1 when the end of the stream waits in the
 * socket (it came with the bytes read and raises no edge of its own), else
 * 0: nothing, or bytes that came since, which raise their own edge. The
 * loop tells with the event that brought the bytes (EV_CLOSED). A paused
 * request's event is off the loop and added again on resume, when epoll
 * reports what the socket holds by then, so an end that came during the
 * pause is told alike. A loop without EV_CLOSED costs a peek instead,
 * which reads no bytes (a trickle is not read in small pieces). Not told:
 * a reset that came with the last bytes (libevent reports an error or
 * hang-up as a plain read event); the request then fails at its idle
 * limit, as before any of this.
 */
static int
direct_end_waits(struct fetch_req *r)
{
	char	c;
	ssize_t	n;

	if (r->dend)
		return 1;
	if (r->ctx->early_close)
		return 0;
	n = recv(r->dfd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		return 1;
	return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

/*
 * The most one direct body read of r takes: buffer_size (FETCH_DIRECT_READ
 * when 0), but the n direct requests under way share the budget, budget
 * / n each, not below FETCH_DIRECT_MIN_READ. Asked again at every read, so a
 * share follows the count as transfers begin and end: one transfer alone
 * reads big (fewer loop turns per byte), many together stay within the
 * budget. Above one block (direct_recv_body) it is whole blocks; a share
 * below one is a power of two, as the blocks of a short read are.
 */
static size_t
direct_read_size(const struct fetch_req *r)
{
	size_t	want, share, p = FETCH_DIRECT_MIN_READ, chain = r->ctx->direct_chain;

	want = r->buffer_size > 0 ? (size_t)r->buffer_size : FETCH_DIRECT_READ;
	share = r->ctx->direct_budget / (r->ctx->ndirect > 0 ? r->ctx->ndirect : 1);
	if (share < FETCH_DIRECT_MIN_READ)
		share = FETCH_DIRECT_MIN_READ;
	if (share < want && share < chain) {
		while (p <= share / 2)
			p *= 2;
		want = p;
	} else if (share < want)
		want = share;
	if (want > chain)
		want = want / chain * chain;
	return want;
}

/* evbuffer's cleanup of a block direct_recv_body() read into. */
static void
direct_block_free(const void *data, size_t len, void *block)
{
	(void)data;
	(void)len;
	free(block);
}

/*
 * Read up to want body bytes (at most what the socket holds, direct_avail)
 * with one readv(2) into blocks of the chain size, added to r->dbuf by
 * reference: the caller takes them without a copy, and each is freed
 * when its bytes are gone. Every full block has one size, so the heap
 * reuses freed ones whatever the shares were (chains of mixed sizes
 * fragmented it: a process that had read 4 MiB chains alone later held
 * more for 8 transfers of 2 MiB); a short last block is a power of two,
 * so a small read holds little. Returns as direct_recv().
 */
static ssize_t
direct_recv_body(struct fetch_req *r, size_t want)
{
	struct iovec	v[FETCH_DIRECT_MAX_BLOCKS];
	size_t		chain = r->ctx->direct_chain, left, sz, len;
	ssize_t		got, rc = -1;
	int		n, i;

	want = direct_avail(r, want);
	memset(v, 0, sizeof(v));
	for (n = 0, left = want; left > 0 && n < FETCH_DIRECT_MAX_BLOCKS; n++) {
		v[n].iov_len = left < chain ? left : chain;
		for (sz = 4096; sz < v[n].iov_len; sz *= 2)
			;
		if ((v[n].iov_base = malloc(v[n].iov_len == chain ? chain : sz)) == NULL) {
			errno = ENOMEM;
			goto out;
		}
		left -= v[n].iov_len;
	}
	if ((got = readv(r->dfd, v, n)) <= 0) {
		rc = direct_read_failed(got);
		goto out;
	}
	for (i = 0, left = (size_t)got; i < n && left > 0; i++) {
		len = v[i].iov_len < left ? v[i].iov_len : left;
		if (evbuffer_add_reference(r->dbuf, v[i].iov_base, len, direct_block_free,
		    v[i].iov_base) == -1) {
			errno = ENOMEM;	/* -1: bytes read are lost, the request fails */
			goto out;
		}
		v[i].iov_base = NULL;	/* r->dbuf's now */
		left -= len;
	}
	rc = got;
out:
	for (i = 0; i < n; i++) {
		int saved = errno;

		free(v[i].iov_base);
		errno = saved;
	}
	return rc;
}

/* "HTTP/1.x NNN[ reason]" (len bytes, no CRLF): the status, or -1. */
static int
direct_status_line(const char *p, size_t len)
{
	if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
	    p[8] != ' ' || !isdigit((unsigned char)p[9]) ||
	    !isdigit((unsigned char)p[10]) || !isdigit((unsigned char)p[11]) ||
	    (len > 12 && p[12] != ' '))
		return -1;
	return (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
}

/*
 * May the body of r's parsed response be read directly? Sets dremain.
 * Returns 1 yes, 0 no (fall back to curl), -1 when the announced body is
 * over max_len (refused as curl's path would).
 */
static int
direct_framing(struct fetch_req *r)
{
	const char		*name, *value, *cl = NULL;
	unsigned long long	 n = 0;
	size_t			 i, ncl = 0;

	if (r->dstatus != 200 && r->dstatus != 206)
		return 0;
	for (i = 0; fetch_req_header_at(r, i, &name, &value) == 0; i++) {
		if (strcasecmp(name, "Transfer-Encoding") == 0)
			return 0;
		if (strcasecmp(name, "Content-Length") == 0) {
			cl = value;
			ncl++;
		}
	}
	if (ncl != 1 || *cl == '\0' || strlen(cl) > 19 || strspn(cl, "0123456789") != strlen(cl))
		return 0;
	n = strtoull(cl, NULL, 10);
	if (n > r->max_len)
		return -1;
	r->dremain = n;
	return 1;
}

/* Hand what dbuf holds of the body to the caller; 0 to go on, -1 when r has ended. */
static int
direct_deliver(struct fetch_req *r)
{
	size_t	len = evbuffer_get_length(r->dbuf);
	int	rc;

	if (len == 0)
		return 0;
	if (len > r->dremain) {
		/* bytes past Content-Length (only with the head): dropped, as curl does */
		struct evbuffer *b;

		if ((b = evbuffer_new()) == NULL ||
		    evbuffer_remove_buffer(r->dbuf, b, (size_t)r->dremain) != (int)r->dremain) {
			if (b != NULL)
				evbuffer_free(b);
			direct_fail(r, "out of memory");
			return -1;
		}
		evbuffer_free(r->dbuf);
		r->dbuf = b;
		len = (size_t)r->dremain;
		r->dkeep = 0;	/* the connection is out of step */
	}
	r->dremain -= len;
	r->nbytes += len;
	rc = len > 0 ? r->h.on_buffer(r, r->dbuf, r->arg) : 0;
	if (rc < 0) {
		r->aborted = 1;
		direct_fail(r, "aborted by the caller");
		return -1;
	}
	if (r->dremain == 0) {
		if (r->dkeep)
			direct_park(r);
		direct_end(r);
		finish(r, r->dstatus, NULL);
		return -1;
	}
	if (rc == 1) {
		/*
		 * Off the loop while paused: an upstream still sending would
		 * wake it for every segment, for nothing (the idle limit is
		 * off too). The resume reads what came meanwhile.
		 */
		r->pause_wanted = 1;
		event_del(r->drev);
	}
	return 0;
}

/* The head is in dbuf up to and including its blank line (headlen bytes). */
static void
direct_head(struct fetch_req *r, size_t headlen)
{
	const char	*h, *eol, *end, *name, *value;
	char		 msg[128];
	size_t		 i;

	if ((h = (const char *)evbuffer_pullup(r->dbuf, (ev_ssize_t)headlen)) == NULL) {
		direct_fail(r, "out of memory");
		return;
	}
	end = h + headlen;
	eol = memchr(h, '\n', headlen);
	if (eol == NULL || eol == h || eol[-1] != '\r' ||
	    (r->dstatus = direct_status_line(h, (size_t)(eol - 1 - h))) < 0) {
		direct_fail(r, "malformed HTTP status line from the upstream");
		return;
	}
	r->dkeep = h[7] == '1';		/* HTTP/1.1: persistent unless it says close */
	for (h = eol + 1; h < end; h = eol + 1) {
		eol = memchr(h, '\n', (size_t)(end - h));
		if (eol == NULL || hdr_line(r, h, (size_t)(eol + 1 - h)) == -1) {
			direct_fail(r, r->hdr_overflow ? "response headers over their cap" :
			    "out of memory");
			return;
		}
	}
	for (i = 0; fetch_req_header_at(r, i, &name, &value) == 0; i++)
		if (strcasecmp(name, "Connection") == 0)
			for (; *value != '\0'; value++)
				if (strncasecmp(value, "close", 5) == 0)
					r->dkeep = 0;
	switch (direct_framing(r)) {
	case 0:
		direct_fallback(r);
		return;
	case -1:
		snprintf(msg, sizeof(msg), "response body over %zu bytes", r->max_len);
		direct_end(r);
		r->toobig = 1;
		finish(r, TRUST_FETCH_TOOBIG, msg);
		return;
	}
	evbuffer_drain(r->dbuf, headlen);
	direct_state(r, DS_BODY);
	r->ctx->stats.direct++;
	if (deliver_headers(r, r->dstatus) == -1) {
		direct_fail(r, "aborted by the caller");
		return;
	}
	if (r->dremain == 0) {
		/* an empty body: complete now, there is nothing to read (nor can 0 bytes be read) */
		if (r->dkeep && evbuffer_get_length(r->dbuf) == 0)
			direct_park(r);
		direct_end(r);
		finish(r, r->dstatus, NULL);
		return;
	}
	if (direct_deliver(r) == -1)
		return;
	if (!r->pause_wanted)
		direct_read(r);
}

static void
direct_read(struct fetch_req *r)
{
	struct evbuffer_ptr	pos;
	char			msg[160];
	size_t			want, bufsz;
	ssize_t			got;

	for (;;) {
		if (r->dstate == DS_HEAD) {
			got = direct_recv(r, 16384);
			if (got == -2)
				return;
			if (got <= 0 && direct_stale(r))
				return;
			if (got < 0) {
				snprintf(msg, sizeof(msg), "receiving from the upstream: %s",
				    strerror(errno));
				direct_fail(r, msg);
				return;
			}
			pos = evbuffer_search(r->dbuf, "\r\n\r\n", 4, NULL);
			if (pos.pos >= 0 && (size_t)pos.pos + 4 <= FETCH_MAX_HEADERS_LEN) {
				direct_head(r, (size_t)pos.pos + 4);
				return;
			}
			if (pos.pos < 0 && evbuffer_search(r->dbuf, "\n\n", 2, NULL).pos >= 0) {
				/* lines ended by a bare LF: curl accepts them, let it read this one */
				direct_fallback(r);
				return;
			}
			if (pos.pos >= 0 || evbuffer_get_length(r->dbuf) > FETCH_MAX_HEADERS_LEN) {
				r->hdr_overflow = 1;
				direct_fail(r, "response headers over their cap");
				return;
			}
			if (got == 0) {
				direct_fail(r, "the upstream closed the connection before its response");
				return;
			}
			continue;
		}
		bufsz = direct_read_size(r);
		want = r->dremain < bufsz ? (size_t)r->dremain : bufsz;
		got = direct_recv_body(r, want);
		if (got == -2)
			return;
		if (got <= 0) {
			if (got == 0)
				snprintf(msg, sizeof(msg), "the upstream closed the connection "
				    "with %llu body bytes still to come",
				    (unsigned long long)r->dremain);
			else
				snprintf(msg, sizeof(msg), "receiving from the upstream: %s",
				    strerror(errno));
			direct_fail(r, msg);
			return;
		}
		if (direct_deliver(r) == -1 || r->pause_wanted)
			return;
		if ((size_t)got < want && !direct_end_waits(r))
			return;		/* drained; the next readable event brings more */
	}
}

static void
direct_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_req	*r = arg;
	char			 msg[96];

	(void)fd;
	if (what & EV_CLOSED)
		r->dend = 1;	/* see direct_end_waits */
	if (r->pause_wanted)
		return;		/* the caller's client is behind: neither read nor time out */
	if (what & EV_TIMEOUT) {
		snprintf(msg, sizeof(msg), "no data from the upstream for %ld s",
		    r->low_speed_s > 0 ? r->low_speed_s : (long)FETCH_DIRECT_IDLE_S);
		direct_fail(r, msg);
		return;
	}
	direct_read(r);
}

static void
direct_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_req	*r = arg;
	struct timeval		 tv;
	char			 msg[160];

	if (what & EV_TIMEOUT) {
		direct_fail(r, "the upstream accepted no request bytes in time");
		return;
	}
	if (evbuffer_write(r->dbuf, fd) == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR) {
		if (direct_stale(r))
			return;
		snprintf(msg, sizeof(msg), "sending to the upstream: %s", strerror(errno));
		direct_fail(r, msg);
		return;
	}
	if (evbuffer_get_length(r->dbuf) > 0) {
		if (!event_pending(r->dwev, EV_WRITE, NULL)) {
			direct_idle_tv(r, &tv);
			event_add(r->dwev, &tv);
		}
		return;
	}
	event_del(r->dwev);
	direct_state(r, DS_HEAD);
	direct_idle_tv(r, &tv);
	event_add(r->drev, &tv);
}

/* The request r would send through curl, onto dbuf. Returns 0 or -1. */
static int
direct_request(struct fetch_req *r)
{
	CURLU	*u;
	char	*path = NULL, *query = NULL, *host = NULL, *port = NULL;
	size_t	 i;
	int	 rc = -1;

	if ((u = curl_url()) == NULL)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, r->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;
	if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT) != CURLUE_OK)
		port = NULL;	/* none, or the scheme's default: Host without one, as curl sends it */
	if (evbuffer_add_printf(r->dbuf, "GET %s%s%s HTTP/1.1\r\nHost: %s%s%s\r\n"
	    "User-Agent: dctproxy/" DCTPROXY_VERSION "\r\n", path, query ? "?" : "",
	    query ? query : "", host, port ? ":" : "", port ? port : "") < 0)
		goto out;
	for (i = 0; i < r->nheaders; i++)
		if (evbuffer_add_printf(r->dbuf, "%s\r\n", r->headers[i]) < 0)
			goto out;
	if (r->auth_line != NULL && evbuffer_add_printf(r->dbuf, "%s\r\n", r->auth_line) < 0)
		goto out;
	if (evbuffer_add(r->dbuf, "\r\n", 2) == -1)
		goto out;
	rc = 0;
out:
	curl_free(path);
	curl_free(query);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

/*
 * r->dfd is connected: write the request, now (from the loop) or when the
 * socket is writable (now 0: from fetch_stream(), where no handler may run
 * yet). Returns 0, or -1 (out of memory; r->dfd is closed).
 */
static int
direct_begin(struct fetch_req *r, int now)
{
	struct timeval tv;

	if (evutil_make_socket_nonblocking(r->dfd) == -1 ||
	    (r->dbuf = evbuffer_new()) == NULL ||
	    (r->drev = event_new(r->ctx->base, r->dfd, EV_READ | EV_PERSIST | EV_ET | EV_CLOSED,
	    direct_read_cb, r)) == NULL ||
	    (r->dwev = event_new(r->ctx->base, r->dfd, EV_WRITE | EV_PERSIST,
	    direct_write_cb, r)) == NULL ||
	    direct_request(r) == -1) {
		direct_end(r);
		return -1;
	}
	direct_state(r, DS_SEND);
	if (now)
		direct_write_cb(r->dfd, EV_WRITE, r);
	else {
		direct_idle_tv(r, &tv);
		if (event_add(r->dwev, &tv) == -1) {
			direct_end(r);
			return -1;
		}
	}
	return 0;
}

/* curl has connected (or failed to) and let go of the connection. */
static void
direct_connected(struct fetch_req *r, CURLcode res)
{
	char	msg[CURL_ERROR_SIZE + 64];

	attempt_end(r);		/* curl closes the connection: the socket is adopted */
	if (res != CURLE_OK || r->dfd == -1) {
		snprintf(msg, sizeof(msg), "%s", res != CURLE_OK ? (r->errbuf[0] ?
		    r->errbuf : curl_easy_strerror(res)) : "the connection was not handed over");
		direct_fail(r, msg);
		return;
	}
	if (direct_begin(r, 1) == -1)
		direct_fail(r, "out of memory starting a request");
}

static void
done_one(struct fetch_req *r, CURLcode res)
{
	char	msg[CURL_ERROR_SIZE + 64];
	int	status = response_status(r);

	if (r->cancelled)
		return;
	if (r->dstate == DS_CONNECT) {
		direct_connected(r, res);
		return;
	}
	if (r->swallow || (res == CURLE_OK && !r->delivered && wants_auth(r, status))) {
		attempt_end(r);
		start_auth(r);
		return;
	}
	if (r->toobig || res == CURLE_FILESIZE_EXCEEDED) {
		snprintf(msg, sizeof(msg), "response body over %zu bytes", r->max_len);
		finish(r, TRUST_FETCH_TOOBIG, msg);
	} else if (r->aborted)
		finish(r, TRUST_FETCH_NETERR, "aborted by the caller");
	else if (r->hdr_overflow)
		finish(r, TRUST_FETCH_NETERR, "response headers over their cap");
	else if (res != CURLE_OK) {
		snprintf(msg, sizeof(msg), "%s", r->errbuf[0] ? r->errbuf :
		    curl_easy_strerror(res));
		finish(r, TRUST_FETCH_NETERR, msg);
	} else if (status <= 0)
		finish(r, TRUST_FETCH_NETERR, "no HTTP response");
	else {
		if (status != 401 && r->attempt == 1 && !r->basic && r->token_key != NULL) {
			char *prefix = hint_prefix(r->url, r->username);

			if (prefix != NULL)
				hint_put(r->ctx, prefix, r->token_key);
		}
		finish(r, status, NULL);
	}
}

static void
check_done(struct fetch_ctx *ctx)
{
	CURLMsg			*msg;
	struct fetch_req	*r;
	CURLcode		 res;
	int			 left;
	char			*priv;

	while ((msg = curl_multi_info_read(ctx->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		res = msg->data.result;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		r = (struct fetch_req *)(void *)priv;
		if (r != NULL)
			done_one(r, res);
	}
}

static struct fetch_req *
req_new(struct fetch_ctx *ctx, const char *url, const struct fetch_opts *o,
    const struct fetch_stream_opts *so, const struct fetch_handlers *h, void *arg)
{
	struct fetch_req	*r;
	size_t			 i;

	if (strlen(url) >= FETCH_MAX_URL ||
	    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return NULL;
	if (o->nheaders > 64)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->ctx = ctx;
	r->dfd = -1;
	TAILQ_INSERT_TAIL(&ctx->reqs, r, entry);
	r->h = *h;
	r->arg = arg;
	r->connect_timeout_ms = o->connect_timeout_ms;
	r->timeout_ms = o->timeout_ms;
	r->max_len = o->max_len > 0 ? o->max_len : TRUST_MAX_METADATA_LEN;
	r->follow = o->follow_redirects;
	if (so != NULL) {
		r->head = so->method != NULL && strcmp(so->method, "HEAD") == 0;
		r->post = so->method != NULL && strcmp(so->method, "POST") == 0;
		r->token_auth = so->token_auth;
		r->low_speed_bps = so->low_speed_bps;
		r->low_speed_s = so->low_speed_s;
		r->buffer_size = so->buffer_size;
		if (so->upload != NULL) {
			/* one attempt only: the body is consumed as it is sent */
			if (so->method == NULL || (strcmp(so->method, "POST") != 0 &&
			    strcmp(so->method, "PUT") != 0 && strcmp(so->method, "PATCH") != 0 &&
			    strcmp(so->method, "DELETE") != 0) ||
			    evbuffer_get_length(so->upload) != so->upload_len)
				goto fail;
			snprintf(r->method, sizeof(r->method), "%s", so->method);
			r->upload = so->upload;
			r->upload_len = so->upload_len;
			r->token_auth = 0;
			r->follow = 0;
			r->post = 0;
		} else if (so->method != NULL && !r->head && !r->post &&
		    strcmp(so->method, "GET") != 0)
			goto fail;
	}
	if (r->post) {
		if (so->body_len > FETCH_MAX_POST_LEN || (so->body_len > 0 && so->body == NULL))
			goto fail;
		/* never NULL: curl would read a NULL POSTFIELDS from a read callback */
		r->post_body = so->body != NULL ? so->body : (const uint8_t *)"";
		r->post_len = so->body_len;
	}
	if ((r->post || r->upload != NULL) && so->content_type != NULL) {
		size_t n = sizeof("Content-Type: ") + strlen(so->content_type);

		if (strpbrk(so->content_type, "\r\n") != NULL ||
		    (r->post_ctype = malloc(n)) == NULL)
			goto fail;
		snprintf(r->post_ctype, n, "Content-Type: %s", so->content_type);
	}
	if ((r->url = strdup(url)) == NULL ||
	    (o->ca_file && (r->ca_file = strdup(o->ca_file)) == NULL) ||
	    (o->username && (r->username = strdup(o->username)) == NULL) ||
	    (o->password && (r->password = strdup(o->password)) == NULL))
		goto fail;
	if (o->nheaders > 0 &&
	    (r->headers = calloc(o->nheaders, sizeof(*r->headers))) == NULL)
		goto fail;
	for (i = 0; i < o->nheaders; i++) {
		/* a header line must stay one line */
		if (strpbrk(o->headers[i], "\r\n") != NULL)
			goto fail;
		if ((r->headers[i] = strdup(o->headers[i])) == NULL)
			goto fail;
		r->nheaders++;
		if (strncasecmp(o->headers[i], "Authorization:", 14) == 0)
			r->token_auth = 0;	/* the caller speaks for itself */
	}
	return r;
fail:
	req_free(r);
	return NULL;
}

int
fetch_stream(struct fetch_ctx *ctx, const char *url, const struct fetch_opts *o,
    const struct fetch_stream_opts *so, const struct fetch_handlers *h, void *arg,
    struct fetch_req **out)
{
	struct fetch_req	*r;
	int			 direct;

	if (out != NULL)
		*out = NULL;
	if ((r = req_new(ctx, url, o, so, h, arg)) == NULL)
		return -1;
	use_hint(r);
	direct = so != NULL && so->direct && h->on_buffer != NULL && !ctx->env_proxy &&
	    r->upload == NULL && !r->head && !r->post && r->timeout_ms == 0 &&
	    strncmp(url, "http://", 7) == 0;
	if ((direct ? direct_connect(r, 0) : attempt_start(r)) == -1) {
		req_free(r);
		return -1;
	}
	if (out != NULL)
		*out = r;
	return 0;
}

void
fetch_req_cancel(struct fetch_req *r)
{
	struct fetch_ctx *ctx;

	if (r == NULL || r->cancelled)
		return;
	ctx = r->ctx;
	if (r->token_req != NULL) {
		fetch_req_cancel(r->token_req);
		r->token_req = NULL;
	}
	r->cancelled = 1;
	memset(&r->h, 0, sizeof(r->h));
	if (ctx->in_curl > 0) {
		TAILQ_REMOVE(&ctx->reqs, r, entry);
		TAILQ_INSERT_TAIL(&ctx->zombies, r, entry);
		return;
	}
	req_free(r);
}

void
fetch_req_resume(struct fetch_req *r)
{
	if (r == NULL || r->cancelled || !r->pause_wanted)
		return;
	r->pause_wanted = 0;
	if (r->dstate == DS_BODY) {
		struct timeval tv;

		/* edge-triggered, and off while paused: what came meanwhile raised no event */
		direct_idle_tv(r, &tv);
		event_add(r->drev, &tv);
		event_active(r->drev, EV_READ, 0);
		return;
	}
	if (r->easy == NULL)
		return;
	r->ctx->in_curl++;
	curl_easy_pause(r->easy, CURLPAUSE_CONT);
	r->ctx->in_curl--;
	reap(r->ctx);
}

size_t
fetch_req_read_size(const struct fetch_req *r)
{
	return direct_read_size(r);
}

void
fetch_ctx_set_direct_budget(struct fetch_ctx *ctx, size_t budget, size_t chain)
{
	ctx->direct_budget = budget;
	ctx->direct_chain = chain;
}

void
fetch_get_stats(const struct fetch_ctx *ctx, struct fetch_stats *out)
{
	*out = ctx->stats;
}

const char *
fetch_req_header(const struct fetch_req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nhdrs; i++)
		if (strcasecmp(r->hdrs[i].name, name) == 0)
			return r->hdrs[i].value;
	return NULL;
}

int
fetch_req_header_at(const struct fetch_req *r, size_t i, const char **name,
    const char **value)
{
	if (i >= r->nhdrs)
		return -1;
	*name = r->hdrs[i].name;
	*value = r->hdrs[i].value;
	return 0;
}

/* ---- fetch_get: the buffered form -------------------------------------- */

struct getstate {
	fetch_cb	 cb;
	void		*arg;
	struct buf	 body;
};

static void
get_free(void *arg)
{
	struct getstate *g = arg;

	buf_clear(&g->body);
	free(g);
}

/* on_done has freed what the request's arg pointed to. */
static void
fetch_req_disown(struct fetch_req *r)
{
	r->arg = NULL;
	r->arg_free = NULL;
}

static int
get_data(struct fetch_req *r, const uint8_t *p, size_t len, void *arg)
{
	struct getstate *g = arg;

	(void)r;
	/* the total is capped by the fetch layer (max_len) before we get here */
	return buf_append(&g->body, p, len);
}

static void
get_done(struct fetch_req *r, int status, const char *error, void *arg)
{
	struct getstate		*g = arg;
	struct fetch_result	 res;

	memset(&res, 0, sizeof(res));
	res.status = status;
	res.body = g->body.p ? g->body.p : (const uint8_t *)"";
	res.len = status > 0 ? g->body.len : 0;
	res.error = error;
	res.content_type = status > 0 ? fetch_req_header(r, "Content-Type") : NULL;
	g->cb(&res, g->arg);
	get_free(g);
	fetch_req_disown(r);
}

int
fetch_get(struct fetch_ctx *ctx, const char *url, const struct fetch_opts *o,
    fetch_cb cb, void *arg)
{
	struct getstate			*g;
	struct fetch_stream_opts	 so;
	struct fetch_handlers		 h;
	struct fetch_req		*r;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return -1;
	g->cb = cb;
	g->arg = arg;
	memset(&so, 0, sizeof(so));
	so.token_auth = 1;
	memset(&h, 0, sizeof(h));
	h.on_data = get_data;
	h.on_done = get_done;
	if (fetch_stream(ctx, url, o, &so, &h, g, &r) == -1) {
		free(g);
		return -1;
	}
	/* a request freed without on_done (fetch_ctx_free) takes g with it */
	r->arg_free = get_free;
	return 0;
}
