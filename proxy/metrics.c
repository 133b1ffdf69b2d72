/*
 * metrics: the counters behind /metrics, and their text in the Prometheus
 * exposition format, version 0.0.4.
 *
 * One struct metrics per server, created at start and kept across SIGHUP
 * reloads (counters never go back to zero while the process lives). The
 * rest of the proxy reports events here; this file never looks at a
 * request, a connection or a configuration itself.
 *
 * Every label set is bounded: kinds, decisions, reasons and routes come
 * from fixed tables (a reason not in the table is counted as "other"),
 * and at most METRICS_MAX_SERVERS Notary servers get their own label
 * (further ones are counted under server="other"). Label values are
 * escaped as the format requires (backslash, double quote, newline).
 *
 * Open connections are a set of connection pointers: the pointers are
 * only compared, never followed, so a stale entry could only miscount,
 * never touch freed memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/server_int.h"

#ifndef DCTPROXY_VERSION
#define DCTPROXY_VERSION "unknown"
#endif

#define METRICS_CONN_BUCKETS	1024	/* hash buckets of the open-connection set */

/* Decision reasons, as preq_audit writes them; index 0 is "no reason". */
static const char *const reasons[] = {
	"none",
	/* trust_code_name() */
	"ok", "no-trust-data", "trust-server-unavailable", "bad-response",
	"malformed-metadata", "validation", "root-rotation", "threshold",
	"low-version", "expired", "checksum", "not-signed", "untrusted-role",
	"no-digest", "role-mismatch", "internal", "unknown",
	/* gate.c, server.c, stream.c */
	"signed", "child-of-signed-list", "referenced", "not-referenced",
	"unsigned-allowed", "trust-disabled", "policy", "too-large",
	"method-not-allowed", "client-gone", "upstream-error",
	"upstream-not-found", "upstream-unauthorized", "push-allowed",
	"other"		/* last: anything not listed above */
};
#define NREASONS	(sizeof(reasons) / sizeof(reasons[0]))

static const char *const decisions[] = { "allow", "deny", "allow-permissive", "other" };
#define NDECISIONS	(sizeof(decisions) / sizeof(decisions[0]))

static const char *const dkinds[] = { "manifest", "blob" };
#define NDKINDS		(sizeof(dkinds) / sizeof(dkinds[0]))

/* Indexed by enum metrics_route. */
static const char *const routes[METRICS_ROUTE_N] = {
	"other", "ping", "manifest", "blob", "tags", "catalog", "healthz",
	"readyz", "metrics"
};

/* Routes whose requests go upstream (dctproxy_upstream_errors_total{kind}). */
static const enum metrics_route upstream_routes[] = {
	METRICS_ROUTE_PING, METRICS_ROUTE_MANIFEST, METRICS_ROUTE_BLOB,
	METRICS_ROUTE_TAGS, METRICS_ROUTE_CATALOG
};
#define NUPSTREAM	(sizeof(upstream_routes) / sizeof(upstream_routes[0]))

/* Upper bounds of the duration buckets, in seconds, with their "le" text. */
static const double bucket_le[] = {
	.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60
};
static const char *const bucket_text[] = {
	"0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
	"2.5", "5", "10", "30", "60"
};
#define NBUCKETS	(sizeof(bucket_le) / sizeof(bucket_le[0]))

enum { BK_MANIFEST, BK_BLOB, BK_OTHER, BK_N };
static const char *const bytes_kinds[BK_N] = { "manifest", "blob", "other" };

struct hist {
	uint64_t	n[NBUCKETS + 1];	/* per bucket, not cumulative; last: above 60 s */
	uint64_t	count;
	double		sum;
};

struct tserver {
	char		*url;		/* NULL: the "other" slot */
	uint64_t	 fetches;
	uint64_t	 failures;
	uint64_t	 cache_answers;
};

struct cnode {
	const void	*conn;
	struct cnode	*next;
};

struct metrics {
	uint64_t	 decisions[NDKINDS][NDECISIONS][NREASONS];
	struct hist	 duration[METRICS_ROUTE_N];
	uint64_t	 cache_hits, cache_misses;
	struct tserver	 servers[METRICS_MAX_SERVERS + 1];	/* last: "other" */
	size_t		 nservers;
	uint64_t	 upstream_errors[METRICS_ROUTE_N];
	uint64_t	 bytes[BK_N];
	struct cnode	*conns[METRICS_CONN_BUCKETS];
	size_t		 nconns;
	/* webhook counters are kept by webhook.c and rendered from webhook_stats() */
};

struct metrics *
metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

void
metrics_free(struct metrics *m)
{
	struct cnode	*c, *next;
	size_t		 i;

	if (m == NULL)
		return;
	for (i = 0; i < METRICS_CONN_BUCKETS; i++)
		for (c = m->conns[i]; c != NULL; c = next) {
			next = c->next;
			free(c);
		}
	for (i = 0; i < m->nservers; i++)
		free(m->servers[i].url);
	free(m);
}

static size_t
index_of(const char *const *table, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n - 1; i++)
		if (strcmp(table[i], s) == 0)
			return i;
	return n - 1;
}

void
metrics_decision(struct metrics *m, const char *kind, const char *decision,
    const char *reason)
{
	size_t k, d, r;

	if (m == NULL || kind == NULL)
		return;
	if (strcmp(kind, "manifest") == 0)
		k = 0;
	else if (strcmp(kind, "blob") == 0)
		k = 1;
	else
		return;
	d = index_of(decisions, NDECISIONS, decision ? decision : "deny");
	r = reason == NULL || reason[0] == '\0' ? 0 : index_of(reasons, NREASONS, reason);
	m->decisions[k][d][r]++;
}

void
metrics_request(struct metrics *m, enum metrics_route route, double seconds,
    uint64_t bytes)
{
	struct hist	*h;
	size_t		 i;

	if (m == NULL)
		return;
	if ((unsigned)route >= METRICS_ROUTE_N)
		route = METRICS_ROUTE_OTHER;
	if (seconds < 0)
		seconds = 0;
	h = &m->duration[route];
	for (i = 0; i < NBUCKETS && seconds > bucket_le[i]; i++)
		;
	h->n[i]++;
	h->count++;
	h->sum += seconds;
	if (route == METRICS_ROUTE_MANIFEST)
		m->bytes[BK_MANIFEST] += bytes;
	else if (route == METRICS_ROUTE_BLOB)
		m->bytes[BK_BLOB] += bytes;
	else
		m->bytes[BK_OTHER] += bytes;
}

void
metrics_cache_lookup(struct metrics *m, int hit)
{
	if (m == NULL)
		return;
	if (hit)
		m->cache_hits++;
	else
		m->cache_misses++;
}

void
metrics_upstream(struct metrics *m, enum metrics_route route, int status)
{
	if (m == NULL || (status > 0 && status < 500))
		return;
	if ((unsigned)route >= METRICS_ROUTE_N)
		route = METRICS_ROUTE_OTHER;
	m->upstream_errors[route]++;
}

static struct tserver *
server_slot(struct metrics *m, const char *url)
{
	struct tserver	*s;
	size_t		 i;

	for (i = 0; i < m->nservers; i++)
		if (strcmp(m->servers[i].url, url) == 0)
			return &m->servers[i];
	s = &m->servers[METRICS_MAX_SERVERS];	/* "other" */
	if (m->nservers < METRICS_MAX_SERVERS &&
	    (m->servers[m->nservers].url = strdup(url)) != NULL)
		s = &m->servers[m->nservers++];
	return s;
}

void
metrics_notary_event(void *arg, const char *server, enum notary_event ev)
{
	struct metrics	*m = arg;
	struct tserver	*s;

	if (m == NULL || server == NULL)
		return;
	s = server_slot(m, server);
	if (ev == NOTARY_FETCHED)
		s->fetches++;
	else if (ev == NOTARY_CACHE_ANSWER)
		s->cache_answers++;
	else
		s->failures++;
}

static size_t
conn_bucket(const void *conn)
{
	uintptr_t v = (uintptr_t)conn;

	v ^= v >> 17;
	v *= (uintptr_t)0x9e3779b97f4a7c15ULL;
	return (size_t)(v >> 7) % METRICS_CONN_BUCKETS;
}

void
metrics_conn_seen(struct metrics *m, const void *conn)
{
	struct cnode	*c;
	size_t		 b;

	if (m == NULL || conn == NULL)
		return;
	b = conn_bucket(conn);
	for (c = m->conns[b]; c != NULL; c = c->next)
		if (c->conn == conn)
			return;
	if ((c = malloc(sizeof(*c))) == NULL)
		return;		/* not counted, and so never uncounted */
	c->conn = conn;
	c->next = m->conns[b];
	m->conns[b] = c;
	m->nconns++;
}

void
metrics_conn_closed(struct metrics *m, const void *conn)
{
	struct cnode	**pp, *c;

	if (m == NULL || conn == NULL)
		return;
	for (pp = &m->conns[conn_bucket(conn)]; (c = *pp) != NULL; pp = &c->next)
		if (c->conn == conn) {
			*pp = c->next;
			free(c);
			m->nconns--;
			return;
		}
}

size_t
metrics_conn_count(const struct metrics *m)
{
	return m == NULL ? 0 : m->nconns;
}

/* ---- the exposition ------------------------------------------------- */

/*
 * A label value in the format's escaping: \ as \\, " as \", newline as
 * \n. out has room for 2 * strlen(in) + 1 bytes, or the value is cut.
 */
static void
escape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in != '\0' && o + 3 <= outlen; in++) {
		if (*in == '\\' || *in == '"' || *in == '\n') {
			out[o++] = '\\';
			out[o++] = *in == '\n' ? 'n' : *in;
		} else
			out[o++] = *in;
	}
	out[o] = '\0';
}

struct out {
	struct evbuffer	*b;
	int		 rc;
};

static void	put(struct out *, const char *, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (evbuffer_add_vprintf(o->b, fmt, ap) < 0)
		o->rc = -1;
	va_end(ap);
}

static void
header(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
render_decisions(const struct metrics *m, struct out *o)
{
	size_t k, d, r;

	header(o, "dctproxy_decisions_total", "counter",
	    "Verdicts written to the audit log, by request kind, decision and reason.");
	for (k = 0; k < NDKINDS; k++)
		for (d = 0; d < NDECISIONS; d++)
			for (r = 0; r < NREASONS; r++)
				if (m->decisions[k][d][r] != 0)
					put(o, "dctproxy_decisions_total{kind=\"%s\","
					    "decision=\"%s\",reason=\"%s\"} %llu\n", dkinds[k],
					    decisions[d], reasons[r], ull(m->decisions[k][d][r]));
}

static void
render_durations(const struct metrics *m, struct out *o)
{
	const struct hist	*h;
	uint64_t		 cum;
	size_t			 r, i;

	header(o, "dctproxy_request_duration_seconds", "histogram",
	    "Time from a request's arrival to the end of its answer, by route.");
	for (r = 0; r < METRICS_ROUTE_N; r++) {
		h = &m->duration[r];
		cum = 0;
		for (i = 0; i < NBUCKETS; i++) {
			cum += h->n[i];
			put(o, "dctproxy_request_duration_seconds_bucket{route=\"%s\","
			    "le=\"%s\"} %llu\n", routes[r], bucket_text[i], ull(cum));
		}
		put(o, "dctproxy_request_duration_seconds_bucket{route=\"%s\","
		    "le=\"+Inf\"} %llu\n", routes[r], ull(h->count));
		put(o, "dctproxy_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
		    routes[r], h->sum);
		put(o, "dctproxy_request_duration_seconds_count{route=\"%s\"} %llu\n",
		    routes[r], ull(h->count));
	}
}

/* The per-server counters, by their offset in struct tserver. */
static const struct {
	const char	*name, *help;
	size_t		 off;
} server_counters[] = {
	{ "dctproxy_trust_fetches_total",
	  "Trust metadata files requested from a Notary server.",
	  offsetof(struct tserver, fetches) },
	{ "dctproxy_trust_fetch_failures_total",
	  "Trust metadata fetches that failed (no answer, a body over its cap, "
	  "an HTTP status other than 2xx and 404), and updates refused for "
	  "their content, by Notary server.",
	  offsetof(struct tserver, failures) },
	{ "dctproxy_trust_cache_answers_total",
	  "Updates a Notary server could not serve that cached trust data "
	  "answered (the last verified result, or the persisted state verified "
	  "alone), by Notary server.",
	  offsetof(struct tserver, cache_answers) },
};

/* The uint64_t counter at offset off of the struct at base (tables of offsetof). */
static uint64_t
counter_at(const void *base, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

static void
render_servers(const struct metrics *m, struct out *o, size_t which)
{
	const struct tserver	*s;
	char			 esc[2 * FETCH_MAX_URL + 1];
	size_t			 i;

	header(o, server_counters[which].name, "counter", server_counters[which].help);
	for (i = 0; i <= METRICS_MAX_SERVERS; i++) {
		s = &m->servers[i];
		if (i >= m->nservers && (i < METRICS_MAX_SERVERS ||
		    (s->fetches == 0 && s->failures == 0 && s->cache_answers == 0)))
			continue;
		escape(s->url ? s->url : "other", esc, sizeof(esc));
		put(o, "%s{server=\"%s\"} %llu\n", server_counters[which].name, esc,
		    ull(counter_at(s, server_counters[which].off)));
	}
}

/* Webhook deliveries per configured URL (at most CONFIG_MAX_WEBHOOKS). */
static void
render_webhooks(const struct webhooks *w, struct out *o)
{
	static const struct {
		const char	*name, *help;
		size_t		 off;
	} c[] = {
		{ "dctproxy_webhook_events_total", "Events queued for a webhook.",
		    offsetof(struct webhook_stats, events) },
		{ "dctproxy_webhook_delivered_total", "Events a webhook answered with a 2xx.",
		    offsetof(struct webhook_stats, delivered) },
		{ "dctproxy_webhook_failed_attempts_total",
		    "Delivery attempts that failed (other status, transport, timeout).",
		    offsetof(struct webhook_stats, failed) },
		{ "dctproxy_webhook_dropped_queue_full_total",
		    "Events dropped on arrival because the webhook's queue was full.",
		    offsetof(struct webhook_stats, dropped_full) },
		{ "dctproxy_webhook_dropped_attempts_total",
		    "Events dropped after the last delivery attempt failed.",
		    offsetof(struct webhook_stats, dropped_attempts) },
		{ "dctproxy_webhook_queued", "Events waiting or being sent now.",
		    offsetof(struct webhook_stats, queued) },
	};
	struct webhook_stats	 st;
	const char		*url;
	char			 esc[2 * FETCH_MAX_URL + 1];
	size_t			 k, i;

	if (w == NULL || webhook_stats(w, 0, &url, &st) == -1)
		return;
	for (k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		header(o, c[k].name, k + 1 == sizeof(c) / sizeof(c[0]) ? "gauge" : "counter",
		    c[k].help);
		for (i = 0; webhook_stats(w, i, &url, &st) == 0; i++) {
			escape(url, esc, sizeof(esc));
			put(o, "%s{url=\"%s\"} %llu\n", c[k].name, esc,
			    ull(counter_at(&st, c[k].off)));
		}
	}
}

int
metrics_render(const struct metrics *m, size_t inflight, const struct webhooks *w,
    const struct fetch_stats *fs, struct evbuffer *b)
{
	struct out	o = { b, 0 };
	char		esc[128];
	size_t		i;

	if (m == NULL)
		return -1;
	escape(DCTPROXY_VERSION, esc, sizeof(esc));
	header(&o, "dctproxy_build_info", "gauge", "The running version; always 1.");
	put(&o, "dctproxy_build_info{version=\"%s\"} 1\n", esc);

	render_decisions(m, &o);
	render_durations(m, &o);

	header(&o, "dctproxy_verified_cache_hits_total", "counter",
	    "Lookups of verified manifests that found the bytes in memory.");
	put(&o, "dctproxy_verified_cache_hits_total %llu\n", ull(m->cache_hits));
	header(&o, "dctproxy_verified_cache_misses_total", "counter",
	    "Lookups of verified manifests that had to fetch from the registry.");
	put(&o, "dctproxy_verified_cache_misses_total %llu\n", ull(m->cache_misses));

	for (i = 0; i < sizeof(server_counters) / sizeof(server_counters[0]); i++)
		render_servers(m, &o, i);

	header(&o, "dctproxy_upstream_errors_total", "counter",
	    "Registry requests that failed (transport, a body over its cap) or "
	    "were answered 5xx, by request kind.");
	for (i = 0; i < NUPSTREAM; i++)
		put(&o, "dctproxy_upstream_errors_total{kind=\"%s\"} %llu\n",
		    routes[upstream_routes[i]], ull(m->upstream_errors[upstream_routes[i]]));

	header(&o, "dctproxy_bytes_streamed_total", "counter",
	    "Response body bytes handed to clients, by request kind.");
	for (i = 0; i < BK_N; i++)
		put(&o, "dctproxy_bytes_streamed_total{kind=\"%s\"} %llu\n", bytes_kinds[i],
		    ull(m->bytes[i]));

	if (fs != NULL) {
		header(&o, "dctproxy_upstream_direct_reads_total", "counter",
		    "Blob bodies read from a plain-http upstream straight into buffers, without curl.");
		put(&o, "dctproxy_upstream_direct_reads_total %llu\n", ull(fs->direct));
		header(&o, "dctproxy_upstream_direct_fallbacks_total", "counter",
		    "Direct blob requests whose answer (a challenge, a redirect, an error) went through curl again.");
		put(&o, "dctproxy_upstream_direct_fallbacks_total %llu\n", ull(fs->fallback));
		header(&o, "dctproxy_upstream_direct_reused_total", "counter",
		    "Direct blob requests sent on a kept-alive upstream connection.");
		put(&o, "dctproxy_upstream_direct_reused_total %llu\n", ull(fs->reused));
	}

	header(&o, "dctproxy_open_connections", "gauge",
	    "Client connections that have sent a request and are not closed yet.");
	put(&o, "dctproxy_open_connections %zu\n", m->nconns);
	header(&o, "dctproxy_requests_in_flight", "gauge",
	    "Requests being served, this scrape included.");
	put(&o, "dctproxy_requests_in_flight %zu\n", inflight);

	render_webhooks(w, &o);
	return o.rc;
}
