/*
 * Internals of the verifying server: server.c (listeners, signals, reload,
 * routing, responses), gate.c (the manifest gate), stream.c (upstream
 * pass-through with backpressure), cache.c (verified manifests and the
 * digests they reference), audit.c (the audit log), priv.c (giving up
 * root after start-up), webhook.c (verdicts POSTed to webhooks),
 * metrics.c (the counters behind /metrics).
 *
 * One event loop, one thread. A client request is a struct preq; it holds
 * a reference to the config it started under, so a SIGHUP reload never
 * changes the rules under a request in flight.
 */
#ifndef PROXY_SERVER_INT_H
#define PROXY_SERVER_INT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>

#include "config/config.h"
#include "proxy/proxy_int.h"
#include "trust/trust.h"

/*
 * Caps on what clients and upstreams control. Each is wired to the knob
 * that enforces it (evhttp_set_max_*, fetch max_len) or checked by hand.
 */
#define PROXY_MAX_HEADERS_LEN	(32 * 1024)	/* request line + headers (evhttp_set_max_headers_size) */
#define PROXY_MAX_BODY_LEN	(64 * 1024)	/* request bodies read when no push is allowed */
#define PROXY_MAX_PUSH_BODY	(512 * 1024 * 1024) /* ... and when some repository allows push */
#define PROXY_MAX_URI_LEN	2048		/* request URI, checked before parsing */
#define PROXY_MAX_REPO_LEN	255		/* distribution: repository name */
#define PROXY_MAX_TAG_LEN	128		/* distribution: [\w][\w.-]{0,127} */
#define PROXY_MAX_HOST_LEN	255		/* Host header */
#define PROXY_MAX_MANIFEST_LEN	(4 * 1024 * 1024) /* a manifest body (distribution: 4 MiB) */
#define PROXY_MAX_BLOB_LEN	((uint64_t)64 << 30) /* a blob streamed through */
#define PROXY_MAX_TAGS_LEN	(16 * 1024 * 1024) /* a tags/list or _catalog body */
#define PROXY_MAX_MANIFEST_REFS	4096		/* digests one manifest may reference */
#define PROXY_MAX_REFS		(256 * 1024)	/* referenced digests remembered, all repositories */
#define PROXY_MAX_FORWARD_HDRS	32		/* request headers forwarded upstream */
#define PROXY_MAX_INDEX_FETCHES	64		/* manifests one repository index may fetch */
#define PROXY_INDEX_INTERVAL	30		/* seconds between indexings of one repository */
#define PROXY_MAX_POLICY_RESOLVES 256		/* tags resolved under required roles per verdict */
/*
 * Blob streaming: an upstream read and a client write of up to BUFSZ. A
 * direct read takes 4 MiB at most, less when several transfers share
 * fetch's FETCH_DIRECT_BUDGET (16 MiB: 2 MiB each for 8); curl hands its
 * bytes out 16 KiB at a time (libcurl 7.88, whatever buffer_size says). A
 * direct transfer pauses while any of its bytes wait for the client, so it
 * holds one read; pausing it costs nothing. Through
 * curl, where a pause and resume cost system calls, the upstream pauses
 * while more than HWM waits and resumes below LWM (at most HWM + 16 KiB
 * held). Larger reads take fewer loop turns per byte: with one client,
 * reads of 2 MiB moved about 9 % more MB/s than reads of 1 MiB, and 4 MiB
 * some 5 % more again (measured side by side, as make bench does).
 */
#define PROXY_STREAM_HWM	(512 * 1024)	/* client output buffered before pausing curl */
#define PROXY_STREAM_LWM	(128 * 1024)	/* ... and drained below this before resuming */
#define PROXY_STREAM_BUFSZ	(4 * 1024 * 1024)	/* one upstream read / one client write of a blob */
#define PROXY_LOW_SPEED_BPS	1		/* upstream slower than this ... */
#define PROXY_LOW_SPEED_S	60		/* ... for this long is dropped */
#define PROXY_MAX_INFLIGHT	10000		/* requests served at once */

/* Manifest media types the proxy asks for when it fetches a signed digest. */
#define MT_DOCKER_V2	"application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_MANIFEST	"application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX	"application/vnd.oci.image.index.v1+json"

struct server;
struct audit;
struct webhooks;
struct mcache;
struct refs;
struct metrics;
struct ready;

/* A count for a "%llu" format. */
static inline unsigned long long
ull(uint64_t v)
{
	return (unsigned long long)v;
}

/*
 * What a request was, for the request-duration histogram (metrics.c).
 * OTHER is 0 so that a request counts as "other" until routed.
 */
enum metrics_route {
	METRICS_ROUTE_OTHER,
	METRICS_ROUTE_PING,
	METRICS_ROUTE_MANIFEST,
	METRICS_ROUTE_BLOB,
	METRICS_ROUTE_TAGS,
	METRICS_ROUTE_CATALOG,
	METRICS_ROUTE_HEALTHZ,
	METRICS_ROUTE_READYZ,
	METRICS_ROUTE_METRICS,
	METRICS_ROUTE_N
};

enum preq_kind {
	PK_PING,	/* GET /v2/ */
	PK_MANIFEST,	/* /v2/<name>/manifests/<ref> */
	PK_BLOB,	/* /v2/<name>/blobs/<digest> */
	PK_TAGS,	/* /v2/<name>/tags/list */
	PK_CATALOG,	/* /v2/_catalog */
};

/* One client request. */
struct preq {
	struct server			*srv;
	struct evhttp_request		*req;		/* NULL once answered or gone */
	struct evhttp_connection	*conn;
	struct config			*cfg;		/* our reference */
	const struct config_registry	*reg;
	struct config_policy		 pol;
	enum preq_kind			 kind;
	enum metrics_route		 route;		/* set with kind, or by path */
	int				 head;		/* HEAD */
	int				 push;		/* passed through under allow_push */
	char				 method[8];
	char				 path[PROXY_MAX_URI_LEN + 1];	/* path, no query */
	const char			*query;		/* into uri, after '?', or NULL */
	char				 repo[PROXY_MAX_REPO_LEN + 1];
	char				 ref[PROXY_MAX_TAG_LEN + 8]; /* tag or sha256:<hex> */
	int				 by_digest;
	uint8_t				 digest[32];	/* when by_digest */
	char				 gun[TRUST_MAX_GUN_LEN + 1];
	char				 client[80];
	char				 auth_key[65];	/* preq_auth_key(): set once asked */
	int				 auth_known;
	struct timespec			 t0;

	/* the verdict */
	const char			*decision;	/* "allow", "deny", "allow-permissive" */
	const char			*reason;
	char				 message[1024];
	char				 trust_note[TRUST_ERRMSG_LEN + 256]; /* notary_cb's note */
	int				 have_signed;
	uint8_t				 signed_sha[32];
	int64_t				 signed_len;
	char				 signed_role[TRUST_MAX_ROLE_LEN + 1];

	/* upstream */
	struct fetch_req		*up;
	int				 up_status;
	uint8_t				*body;		/* buffered upstream body (preq_body_append) */
	size_t				 body_len;
	size_t				 body_cap;
	char				 up_ctype[256];

	/* streaming to the client */
	struct evbuffer			*chunk;
	int				 started;	/* reply line sent */
	int				 paused;
	size_t				 resume_below;	/* queued bytes that resume a paused transfer */
	struct evbuffer			*out;		/* the connection's output (while watched) */
	evutil_socket_t			 out_fd;	/* its plain socket for direct writes, or -1 */
	struct evbuffer_cb_entry	*out_cb;	/* our watch on it */
	struct event			*resume_ev;	/* resume the upstream from the loop */
	uint64_t			 sent;		/* body bytes handed to the client */

	/* a manifest fetched by digest for verification (gate.c) */
	uint8_t				 mf_sha[32];
	int64_t				 mf_want_len;	/* -1: unknown */
	void				(*mf_done)(struct preq *, int status, int verified,
					    const char *error, struct fetch_req *);
	struct gindex			*index;		/* indexing the repository (gate.c) */

	int				 audited;
	int				 observed;	/* counted in the duration histogram */
	int				 flushing;	/* reply handed to evhttp, not yet written */
	int				 pending;	/* callbacks we still wait for (notary) */
	struct ready			*ready;		/* the /readyz check we wait for, or NULL */
	TAILQ_ENTRY(preq)		 entry;		/* srv->inflight */
	TAILQ_ENTRY(preq)		 wait_entry;	/* ready->waiters, while ready is set */
};

TAILQ_HEAD(preq_list, preq);

struct gindex;

struct server {
	struct event_base	*base;
	struct config		*cfg;		/* current config (one reference) */
	const char		*cfg_path;
	struct fetch_ctx	*fetch;
	struct notary		*notary;
	struct audit		*audit;
	struct webhooks		*webhooks;
	struct mcache		*mcache;
	struct refs		*refs;
	struct metrics		*metrics;	/* lives as long as the server, across reloads */
	struct evhttp		**http;		/* one per listener */
	struct evhttp_bound_socket **bound;
	void			**ssl_ctx;	/* SSL_CTX per listener, or NULL */
	size_t			 nhttp;
	struct preq_list	 inflight;
	size_t			 ninflight;
	int			 draining;	/* SIGTERM received */
	struct event		*ev_term, *ev_int, *ev_hup, *ev_usr1, *ev_grace;
	uint64_t		 nrequests;
	int			 own_base;
	struct ready		*ready;		/* the /readyz check in flight, or NULL */
};

/* ---- server.c: the server ---- */

/* One line "dctproxy: ..." on stderr (the service log). */
void	proxy_log(const char *, ...) __attribute__((format(printf, 1, 2)));

/*
 * Load path, bind the listeners, set up fetch/notary/caches/audit on base
 * (NULL: a new one, freed by server_free). signals: install the signal
 * events and drop privileges (the command); tests pass 0. Returns 0, or
 * -1 with the reason on stderr (call server_free() anyway).
 */
int	server_setup(struct server *, const char *path, struct event_base *, int signals);
void	server_free(struct server *);
/* What SIGTERM does: stop accepting, break the loop when nothing is in flight. */
void	server_drain(struct server *);
/* What SIGHUP does. */
void	server_reload(struct server *);

/* ---- server.c: responses and lifecycle of a preq ---- */

/* A registry-style error {"errors":[{"code":code,"message":msg}]} and the end of p. */
void	preq_error(struct preq *, int status, const char *code, const char *msg);
/* Refuse: 403 DENIED with msg, audit deny/reason. */
void	preq_deny(struct preq *, const char *reason, const char *msg);
/* Answer with a verified manifest (HEAD: headers only). */
void	preq_manifest(struct preq *, const uint8_t *, size_t, const char *ctype,
	    const uint8_t sha[32]);
/* Pass an upstream answer (a 401 and its challenges, a 404) through, buffered. */
void	preq_pass_upstream(struct preq *, struct fetch_req *, int status,
	    const uint8_t *, size_t);
/* Copy the upstream headers a client may see onto p's reply. */
void	preq_copy_headers(struct preq *, struct fetch_req *, int status);
/*
 * Send a complete reply (body may be NULL; HEAD drops it). p ends (audit,
 * free) once evhttp has written it, or when the client goes away. Do not
 * touch p after the call.
 */
void	preq_reply(struct preq *, int status, struct evbuffer *body);
/* The same for a reply started with evhttp_send_reply_start (stream_end 1). */
void	preq_end(struct preq *, int status, struct evbuffer *body, int stream_end);
/* Append text to p's audit message ("; "-separated). */
void	preq_note(struct preq *, const char *text);
/* Write p's audit line (and its webhook event, and its count) if not yet written. */
void	preq_audit(struct preq *);
/* The client's request is finished from our side; free p when nothing waits. */
void	preq_finish(struct preq *);
/*
 * Hex sha256 of the client's Authorization header ("" without one), the
 * client part of the verified-manifest cache key; computed on first use.
 */
const char *preq_auth_key(struct preq *);

/*
 * An upstream request of p being prepared: preq_upstream_init() fills o
 * (timeouts, CA, p's registry credentials, the client's forwarded headers;
 * accept_all: all manifest types in Accept) and zeroes so; the caller
 * adjusts both (max_len at least; hdrs has room for 8 more headers after
 * o.nheaders) and calls preq_fetch(). Not to be copied: o points into it.
 */
struct preq_upstream {
	struct fetch_opts		 o;
	struct fetch_stream_opts	 so;
	const char			*hdrs[PROXY_MAX_FORWARD_HDRS + 8];
	char				 store[PROXY_MAX_HEADERS_LEN];
};
void	preq_upstream_init(struct preq *, struct preq_upstream *, int accept_all);
/*
 * Start the request of u for path on p's upstream (with_query: plus the
 * client's query), handlers h with arg p, into p->up. Returns 0, or -1
 * when it could not be started (the URL is too long, or fetch refused),
 * counted as an upstream error of route; h is then not called.
 */
int	preq_fetch(struct preq *, struct preq_upstream *, enum metrics_route,
	    const char *path, int with_query, const struct fetch_handlers *h);
/* A fetch on_data handler (arg: the preq) that appends to p->body; fetch caps the total. */
int	preq_body_append(struct fetch_req *, const uint8_t *, size_t, void *arg);
/* Notary server of p's registry. */
void	preq_notary_server(struct preq *, struct notary_server *);

/* ---- gate.c ---- */
void	gate_manifest(struct preq *);
void	gate_blob(struct preq *);
/* Free p's gate state (index job). */
void	gate_free(struct preq *);

/* ---- stream.c: pass the client's request upstream, stream the answer ---- */
/* max_len: the body cap; follow: follow redirects upstream-side (object storage). */
void	stream_pass(struct preq *, uint64_t max_len, int follow);
/*
 * Stop watching p's connection output (before the connection may go or
 * carry another request). Safe to call more than once.
 */
void	stream_unhook(struct preq *);
/* A request to a repository that allow_push names, passed through with its body. */
void	stream_push(struct preq *);

/* ---- cache.c ---- */
struct mcache	*mcache_new(uint64_t max_bytes);
void		 mcache_free(struct mcache *);
void		 mcache_set_max(struct mcache *, uint64_t);
/* Borrowed bytes of a verified manifest, or NULL. key: gun, auth key, digest. */
const uint8_t	*mcache_get(struct mcache *, const char *gun, const char *auth,
		    const uint8_t sha[32], size_t *len, const char **ctype);
void		 mcache_put(struct mcache *, const char *gun, const char *auth,
		    const uint8_t sha[32], const uint8_t *, size_t, const char *ctype);

/* What a digest is to a repository: a manifest child of a verified list, or a blob. */
#define REF_CHILD	1
#define REF_BLOB	2
struct refs	*refs_new(size_t max);
void		 refs_free(struct refs *);
int		 refs_has(struct refs *, const char *gun, const uint8_t sha[32], int kind);
/*
 * Record what a verified manifest references; the child manifests of a
 * list/index also go to children (up to max, count in *nchildren; may be
 * NULL). Returns 0, or -1 when it is not parseable JSON.
 */
int		 refs_add_manifest(struct refs *, const char *gun, const uint8_t *, size_t,
		    uint8_t (*children)[32], size_t max, size_t *nchildren);
/*
 * May gun be indexed now (gate.c)? Yes at most once per PROXY_INDEX_INTERVAL
 * per repository; a yes marks it. The marks belong to refs, so a reload
 * (new refs) forgets them with what they indexed. PROXY_INDEX_MARKS
 * repositories are remembered; the oldest mark goes first.
 */
#define PROXY_INDEX_MARKS	64
int		 refs_index_allowed(struct refs *, const char *gun, time_t now);
/* Parse "sha256:<64 lower-case hex>" exactly. Returns 0 or -1. */
int		 digest_parse(const char *, uint8_t out[32]);
/* Write "sha256:<64 lower-case hex>" and a NUL. */
#define DIGEST_STR_LEN	72
void		 digest_format(const uint8_t sha[32], char out[DIGEST_STR_LEN]);

/* ---- audit.c ---- */
struct audit_rec {
	const char	*kind;		/* "manifest", "blob", "ping", "tags" */
	const char	*client;
	const char	*method;
	const char	*path;
	const char	*repo;
	const char	*ref;
	const char	*gun;
	const char	*decision;
	const char	*reason;
	const char	*message;
	const char	*digest;	/* signed digest, or NULL */
	const char	*role;
	const char	*trust_note;	/* cached trust data answered: why, or NULL */
	int		 upstream_status;
	uint64_t	 bytes;
	long		 duration_ms;
	struct timespec	 at;		/* CLOCK_REALTIME of the verdict */
	/*
	 * The record rendered by audit_line(), or NULL. preq_audit renders it
	 * once for the audit file and the webhooks; webhook_audit renders
	 * records without one itself.
	 */
	const char	*line;
};

/* path "-" is stdout. Returns NULL with err on failure. */
struct audit	*audit_open(const char *path, char *err, size_t errlen);
/* Reopen the file (SIGUSR1, after rotation). Returns 0 or -1 (the old one stays). */
int		 audit_reopen(struct audit *);
const char	*audit_path(const struct audit *);
/* The audit file's descriptor, or -1 for standard output. */
int		 audit_fd(const struct audit *);
void		 audit_free(struct audit *);
/* One audit line: the record as compact JSON (malloc'd, no newline), or NULL on out of memory. */
char		*audit_line(const struct audit_rec *);
/* Append line (from audit_line) and a newline to the file, flushed. */
void		 audit_write(struct audit *, const char *line);

/* ---- webhook.c: verdicts POSTed to the configured webhooks ---- */
#define WEBHOOK_MAX_INFLIGHT	4		/* POSTs at once per webhook (1 while failing) */
#define WEBHOOK_MAX_ATTEMPTS	8		/* attempts per event before it is dropped */
#define WEBHOOK_BACKOFF_MAX	60		/* seconds; pauses after a failure: 1, 2, 4 ... */
#define WEBHOOK_MAX_RESPONSE	(64 * 1024)	/* a receiver's response body read */
#define WEBHOOK_REPORT_INTERVAL	10		/* seconds between failure/drop reports per webhook */

/*
 * Counters of one webhook. events + dropped_full is every verdict it
 * wanted; events = delivered + dropped_attempts + dropped_stop + queued.
 */
struct webhook_stats {
	uint64_t	events;			/* accepted into the queue */
	uint64_t	delivered;		/* answered with a 2xx */
	uint64_t	failed;			/* failed attempts (other status, transport, timeout) */
	uint64_t	dropped_full;		/* refused on arrival: queue full (or out of memory) */
	uint64_t	dropped_attempts;	/* given up after WEBHOOK_MAX_ATTEMPTS */
	uint64_t	dropped_stop;		/* still held at shutdown or when a reload removed it */
	uint64_t	queued;			/* held now, waiting or being sent */
};

/*
 * The webhooks of cfg (none is fine), sending through fetch on base. The
 * config is not kept. Returns NULL on out of memory. webhook_free() must
 * come before fetch_ctx_free(fetch); it drops (and counts, and logs) what
 * is still queued.
 */
struct webhooks	*webhook_new(struct event_base *, struct fetch_ctx *, const struct config *);
void		 webhook_free(struct webhooks *);
/* A reload: webhooks are matched by URL; see webhook.c. */
void		 webhook_reconfigure(struct webhooks *, const struct config *);
/*
 * Queue the event of an audited verdict (its audit line: r->line, or
 * rendered here) for every webhook that wants it. Never waits.
 */
void		 webhook_audit(struct webhooks *, const struct audit_rec *);
/* Counters of the i-th webhook, its URL in *url (borrowed until a reload); -1 past the end. */
int		 webhook_stats(const struct webhooks *, size_t i, const char **url,
		    struct webhook_stats *);
/* Counters of all webhooks since start, including ones a reload removed. */
void		 webhook_totals(const struct webhooks *, struct webhook_stats *);

/* ---- priv.c: dropping root after start-up ---- */

/*
 * Called by server_setup() (signals set) once the config is loaded, the
 * audit log open and the listeners bound. As root with cfg->user: prepare
 * the state directory and the audit file for the user, switch to the user
 * and its groups, verify that root cannot be regained. As root without
 * user: warn. Not root with user: the process must already be that user.
 * Always: no_new_privs. Returns 0, or -1 with the reason on stderr (the
 * caller must not serve).
 */
int	priv_drop(struct server *);
/*
 * On reload: log what ncfg changes that only a restart applies (user,
 * state_dir; the listeners, their TLS certificates and keys: one line).
 */
void	priv_reload(const struct config *old, const struct config *ncfg);

/* ---- metrics.c: counters for /metrics (Prometheus text format 0.0.4) ----
 *
 * Every function takes a NULL struct metrics and then does nothing. Label
 * values come from fixed tables; at most METRICS_MAX_SERVERS Notary
 * servers are told apart, later ones count as server="other".
 */
#define METRICS_MAX_SERVERS	64	/* distinct server labels of the trust-fetch counters */

struct metrics	*metrics_new(void);
void		 metrics_free(struct metrics *);
/*
 * One audit line (preq_audit): kind "manifest" or "blob" (others are not
 * counted), decision (NULL: "deny"), reason (NULL or "": "none"; not in
 * the table: "other").
 */
void		 metrics_decision(struct metrics *, const char *kind, const char *decision,
		    const char *reason);
/* A request ended after seconds, with bytes of body handed to the client. */
void		 metrics_request(struct metrics *, enum metrics_route, double seconds,
		    uint64_t bytes);
/* A lookup in the verified-manifest cache (mcache_get) found the bytes, or not. */
void		 metrics_cache_lookup(struct metrics *, int hit);
/* An upstream request of route ended with status; an error when <= 0 or >= 500. */
void		 metrics_upstream(struct metrics *, enum metrics_route, int status);
/* notary.c's observer (notary_set_observer); arg is the struct metrics. */
void		 metrics_notary_event(void *arg, const char *server, enum notary_event);
/*
 * Open client connections. conn is only compared, never dereferenced;
 * seen adds it once, closed removes it (absent: nothing happens).
 */
void		 metrics_conn_seen(struct metrics *, const void *conn);
void		 metrics_conn_closed(struct metrics *, const void *conn);
size_t		 metrics_conn_count(const struct metrics *);
/*
 * Append the exposition text to b, the counters of the webhooks w and of
 * direct upstream reads fs (each may be NULL) included; inflight: requests
 * in flight now. Returns 0 or -1.
 */
int		 metrics_render(const struct metrics *, size_t inflight, const struct webhooks *w,
		    const struct fetch_stats *fs, struct evbuffer *b);

#endif
