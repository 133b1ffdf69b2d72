/*
 * webhook: HTTP notifications of verdicts. Every audited verdict that a
 * configured webhook asks for (events "all": every one; "deny": decision
 * "deny" or "allow-permissive", i.e. verification failed) becomes one event,
 * the audit line's JSON object, POSTed to the webhook's URL through fetch.c
 * on the proxy's event loop.
 *
 * Nothing on the request path waits for a receiver: webhook_audit() only
 * copies the event and appends it to the queues; sending starts from a
 * zero-delay timer, outside the caller and outside any libcurl callback.
 * Per webhook:
 *   - at most queue_length events are held (waiting or being sent); an
 *     event arriving at a full queue is dropped (the queue keeps the oldest
 *     undelivered events, the first signs of whatever is going on);
 *   - at most WEBHOOK_MAX_INFLIGHT POSTs at once, one while it is failing;
 *   - an attempt succeeds on a 2xx; any other status, a transport error or
 *     timeout_seconds passing fails it. A failed event goes back to the head
 *     of the queue and the webhook pauses (1 s, doubling up to
 *     WEBHOOK_BACKOFF_MAX); after WEBHOOK_MAX_ATTEMPTS attempts the event is
 *     dropped;
 *   - failed attempts and drops are counted (webhook_stats) and reported on
 *     stderr at most once per WEBHOOK_REPORT_INTERVAL, so a dead receiver
 *     cannot flood the log.
 *
 * Reload: webhooks are matched by URL; a kept one keeps its queue and
 * counters and takes the new settings, a new one starts empty, a removed
 * one drops what it still holds. Shutdown (webhook_free) drops and counts
 * what is still held: the process does not wait for receivers; the audit
 * log is the durable record.
 *
 * What it does not do: persist events, follow redirects, authenticate or
 * sign requests.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "proxy/server_int.h"

/* An event's bytes, shared by the queues of every webhook that wants it. */
struct wbody {
	size_t	refs;
	size_t	len;
	char	data[];
};

struct hook;

struct wevent {
	TAILQ_ENTRY(wevent)	 entry;
	struct hook		*hook;
	struct wbody		*body;
	uint64_t		 seq;		/* arrival order */
	int			 attempts;
	struct fetch_req	*req;		/* while being sent */
};

TAILQ_HEAD(wevent_list, wevent);

struct hook {
	struct webhooks		*w;
	char			*url;
	char			*ca;		/* or NULL */
	enum config_webhook_events events;
	long			 timeout_ms;
	size_t			 queue_max;
	struct wevent_list	 waiting;	/* oldest first */
	struct wevent_list	 sending;
	size_t			 nsending;
	uint64_t		 seq;
	int			 failing;	/* failed attempts since the last success */
	int			 paused;	/* backing off */
	struct event		*ev_pump;
	struct event		*ev_retry;
	struct event		*ev_report;
	struct webhook_stats	 st;
	/* since the last report */
	uint64_t		 r_failed, r_full, r_attempts;
	char			 r_last[160];	/* why the last attempt failed */
	struct timespec		 r_at;		/* CLOCK_MONOTONIC of the last report */
	int			 reported;
};

struct webhooks {
	struct event_base	*base;
	struct fetch_ctx	*fetch;
	struct hook		**hooks;
	size_t			 nhooks;
	struct webhook_stats	 gone;		/* counters of webhooks a reload removed */
};

static void	pump(struct hook *);


static void
body_unref(struct wbody *b)
{
	if (b != NULL && --b->refs == 0)
		free(b);
}

static void
wevent_free(struct wevent *e)
{
	if (e->req != NULL)
		fetch_req_cancel(e->req);
	body_unref(e->body);
	free(e);
}

static uint64_t
dropped(const struct webhook_stats *s)
{
	return s->dropped_full + s->dropped_attempts + s->dropped_stop;
}

/* ---- reports on stderr ---------------------------------------------------- */

static void
report(struct hook *t)
{
	char fail[256] = "", drop[128] = "";

	if (t->r_failed == 0 && t->r_full == 0 && t->r_attempts == 0)
		return;
	if (t->r_failed > 0)
		snprintf(fail, sizeof(fail), "failed attempts %llu (last: %s), ",
		    ull(t->r_failed), t->r_last);
	if (t->r_full + t->r_attempts > 0)
		snprintf(drop, sizeof(drop), "dropped %llu (queue full %llu, after %d "
		    "attempts %llu), ", ull(t->r_full + t->r_attempts), ull(t->r_full),
		    WEBHOOK_MAX_ATTEMPTS, ull(t->r_attempts));
	proxy_log("webhook %s: %s%ssince start: delivered %llu, failed attempts %llu, "
	    "dropped %llu, queued %llu", t->url, fail, drop, ull(t->st.delivered),
	    ull(t->st.failed), ull(dropped(&t->st)), ull(t->st.queued));
	t->r_failed = t->r_full = t->r_attempts = 0;
	clock_gettime(CLOCK_MONOTONIC, &t->r_at);
	t->reported = 1;
}

static void
on_report(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	report(arg);
}

/* Something went wrong: report now, or at the end of the interval. */
static void
trouble(struct hook *t)
{
	struct timespec	now;
	struct timeval	tv;
	long		ms;

	if (evtimer_pending(t->ev_report, NULL))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long)(now.tv_sec - t->r_at.tv_sec) * 1000 +
	    (now.tv_nsec - t->r_at.tv_nsec) / 1000000;
	if (!t->reported || ms >= WEBHOOK_REPORT_INTERVAL * 1000L) {
		report(t);
		return;
	}
	ms = WEBHOOK_REPORT_INTERVAL * 1000L - ms;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(t->ev_report, &tv);
}

/* ---- delivery ----------------------------------------------------------- */

static void
schedule(struct hook *t)
{
	struct timeval zero = { 0, 0 };

	if (!evtimer_pending(t->ev_pump, NULL))
		evtimer_add(t->ev_pump, &zero);
}

static void
on_pump(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pump(arg);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct hook *t = arg;

	(void)fd;
	(void)what;
	t->paused = 0;
	pump(t);
}

/* Back in the queue, in arrival order ahead of everything not yet tried. */
static void
requeue(struct hook *t, struct wevent *e)
{
	struct wevent *n;

	for (n = TAILQ_FIRST(&t->waiting); n != NULL && n->seq < e->seq;
	    n = TAILQ_NEXT(n, entry))
		;
	if (n != NULL)
		TAILQ_INSERT_BEFORE(n, e, entry);
	else
		TAILQ_INSERT_TAIL(&t->waiting, e, entry);
}

/* An attempt of e (no longer in any list) failed. */
static void
failed(struct hook *t, struct wevent *e, const char *why)
{
	struct timeval	tv;
	int		delay;

	t->st.failed++;
	t->r_failed++;
	snprintf(t->r_last, sizeof(t->r_last), "%s", why);
	if (++e->attempts >= WEBHOOK_MAX_ATTEMPTS) {
		t->st.dropped_attempts++;
		t->r_attempts++;
		t->st.queued--;
		wevent_free(e);
	} else
		requeue(t, e);
	if (!t->paused) {
		/* one pause per failure streak step, however many were in flight */
		delay = t->failing < 6 ? 1 << t->failing : WEBHOOK_BACKOFF_MAX;
		if (delay > WEBHOOK_BACKOFF_MAX)
			delay = WEBHOOK_BACKOFF_MAX;
		t->failing++;
		t->paused = 1;
		tv.tv_sec = delay;
		tv.tv_usec = 0;
		evtimer_add(t->ev_retry, &tv);
	}
	trouble(t);
}

static void
sent(struct fetch_req *req, int status, const char *error, void *arg)
{
	struct wevent	*e = arg;
	struct hook	*t = e->hook;
	char		 why[160];

	(void)req;
	e->req = NULL;		/* fetch frees it when we return */
	TAILQ_REMOVE(&t->sending, e, entry);
	t->nsending--;
	if (status >= 200 && status <= 299) {
		t->st.delivered++;
		t->st.queued--;
		t->failing = 0;
		wevent_free(e);
	} else {
		if (status > 0)
			snprintf(why, sizeof(why), "HTTP %d", status);
		else
			snprintf(why, sizeof(why), "%s", error ? error : "transfer failed");
		failed(t, e, why);
	}
	schedule(t);
}

static void
pump(struct hook *t)
{
	struct fetch_opts	 o;
	struct fetch_stream_opts so;
	struct fetch_handlers	 h;
	struct wevent		*e;
	size_t			 limit;

	memset(&o, 0, sizeof(o));
	o.ca_file = t->ca;
	o.connect_timeout_ms = t->timeout_ms;
	o.timeout_ms = t->timeout_ms;
	o.max_len = WEBHOOK_MAX_RESPONSE;
	memset(&so, 0, sizeof(so));
	so.method = "POST";
	so.content_type = "application/json";
	memset(&h, 0, sizeof(h));
	h.on_done = sent;		/* the response body is read (up to max_len) and dropped */
	limit = t->failing > 0 ? 1 : WEBHOOK_MAX_INFLIGHT;
	while (!t->paused && t->nsending < limit &&
	    (e = TAILQ_FIRST(&t->waiting)) != NULL) {
		TAILQ_REMOVE(&t->waiting, e, entry);
		so.body = e->body->data;
		so.body_len = e->body->len;
		if (fetch_stream(t->w->fetch, t->url, &o, &so, &h, e, &e->req) == -1) {
			failed(t, e, "could not start the request");
			continue;
		}
		TAILQ_INSERT_TAIL(&t->sending, e, entry);
		t->nsending++;
	}
}

/* ---- webhooks ------------------------------------------------------------ */

/* Take c's settings. Returns 0, or -1 on out of memory (t unchanged). */
static int
hook_set(struct hook *t, const struct config_webhook *c)
{
	char *ca = NULL;

	if (c->ca != NULL && (ca = strdup(c->ca)) == NULL)
		return -1;
	free(t->ca);
	t->ca = ca;
	t->events = c->events;
	t->timeout_ms = (long)c->timeout_seconds * 1000;
	t->queue_max = c->queue_length > 0 ? (size_t)c->queue_length : 1;
	return 0;
}

static void
hook_free(struct hook *t)
{
	struct wevent *e;

	if (t == NULL)
		return;
	while ((e = TAILQ_FIRST(&t->sending)) != NULL) {
		TAILQ_REMOVE(&t->sending, e, entry);
		wevent_free(e);
	}
	while ((e = TAILQ_FIRST(&t->waiting)) != NULL) {
		TAILQ_REMOVE(&t->waiting, e, entry);
		wevent_free(e);
	}
	if (t->ev_pump != NULL)
		event_free(t->ev_pump);
	if (t->ev_retry != NULL)
		event_free(t->ev_retry);
	if (t->ev_report != NULL)
		event_free(t->ev_report);
	free(t->url);
	free(t->ca);
	free(t);
}

static struct hook *
hook_new(struct webhooks *w, const struct config_webhook *c)
{
	struct hook *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->w = w;
	TAILQ_INIT(&t->waiting);
	TAILQ_INIT(&t->sending);
	if ((t->url = strdup(c->url.url)) == NULL || hook_set(t, c) == -1 ||
	    (t->ev_pump = evtimer_new(w->base, on_pump, t)) == NULL ||
	    (t->ev_retry = evtimer_new(w->base, on_retry, t)) == NULL ||
	    (t->ev_report = evtimer_new(w->base, on_report, t)) == NULL) {
		hook_free(t);
		return NULL;
	}
	return t;
}

/* Stop t: what it holds is dropped and counted, the totals are logged. */
static void
hook_stop(struct hook *t, const char *why)
{
	uint64_t n = t->st.queued;

	report(t);
	t->st.dropped_stop += n;
	t->st.queued = 0;
	if (t->st.events + t->st.dropped_full > 0)
		proxy_log("webhook %s: %s, undelivered events dropped %llu; since start: "
		    "delivered %llu, failed attempts %llu, dropped %llu (queue full %llu, "
		    "after %d attempts %llu, at stop %llu)", t->url, why, ull(n),
		    ull(t->st.delivered), ull(t->st.failed), ull(dropped(&t->st)),
		    ull(t->st.dropped_full), WEBHOOK_MAX_ATTEMPTS,
		    ull(t->st.dropped_attempts), ull(t->st.dropped_stop));
}

static void
stats_add(struct webhook_stats *to, const struct webhook_stats *s)
{
	to->events += s->events;
	to->delivered += s->delivered;
	to->failed += s->failed;
	to->dropped_full += s->dropped_full;
	to->dropped_attempts += s->dropped_attempts;
	to->dropped_stop += s->dropped_stop;
	to->queued += s->queued;
}

struct webhooks *
webhook_new(struct event_base *base, struct fetch_ctx *fetch, const struct config *cfg)
{
	struct webhooks *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->base = base;
	w->fetch = fetch;
	webhook_reconfigure(w, cfg);
	return w;
}

void
webhook_reconfigure(struct webhooks *w, const struct config *cfg)
{
	struct hook	**nh = NULL, *t;
	size_t		  i, j, n = 0;

	if (cfg->nwebhooks > 0 &&
	    (nh = calloc(cfg->nwebhooks, sizeof(*nh))) == NULL) {
		proxy_log("webhooks: out of memory; keeping the running webhooks");
		return;
	}
	for (i = 0; i < cfg->nwebhooks; i++) {
		const struct config_webhook *c = &cfg->webhooks[i];

		t = NULL;
		for (j = 0; j < w->nhooks; j++)
			if (w->hooks[j] != NULL && strcmp(w->hooks[j]->url, c->url.url) == 0) {
				t = w->hooks[j];
				w->hooks[j] = NULL;
				if (hook_set(t, c) == -1)
					proxy_log("webhook %s: out of memory; keeping its old settings",
					    t->url);
				break;
			}
		if (t == NULL && (t = hook_new(w, c)) == NULL) {
			proxy_log("webhook %s: out of memory; not sending to it", c->url.url);
			continue;
		}
		nh[n++] = t;
		if (t->st.queued > 0)
			schedule(t);
	}
	for (j = 0; j < w->nhooks; j++)
		if ((t = w->hooks[j]) != NULL) {
			hook_stop(t, "removed by reload");
			stats_add(&w->gone, &t->st);
			hook_free(t);
		}
	free(w->hooks);
	w->hooks = nh;
	w->nhooks = n;
}

void
webhook_free(struct webhooks *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->nhooks; i++) {
		hook_stop(w->hooks[i], "stopping");
		hook_free(w->hooks[i]);
	}
	free(w->hooks);
	free(w);
}

static int
wants(const struct hook *t, const char *decision)
{
	if (t->events == CONFIG_WEBHOOK_ALL)
		return 1;
	return decision != NULL && (strcmp(decision, "deny") == 0 ||
	    strcmp(decision, "allow-permissive") == 0);
}

/* The event's bytes (the audit line) with one reference, or NULL. */
static struct wbody *
render(const struct audit_rec *r)
{
	struct wbody	*b = NULL;
	char		*s = NULL;
	const char	*line = r->line;
	size_t		 len;

	if (line == NULL && (line = s = audit_line(r)) == NULL)
		return NULL;
	len = strlen(line);
	if (len <= FETCH_MAX_POST_LEN && (b = malloc(sizeof(*b) + len + 1)) != NULL) {
		b->refs = 1;
		b->len = len;
		memcpy(b->data, line, len + 1);
	}
	free(s);
	return b;
}

void
webhook_audit(struct webhooks *w, const struct audit_rec *r)
{
	struct wbody	*b = NULL;
	struct wevent	*e;
	struct hook	*t;
	size_t		 i;

	if (w == NULL)
		return;
	for (i = 0; i < w->nhooks; i++) {
		t = w->hooks[i];
		if (!wants(t, r->decision))
			continue;
		if (b == NULL)
			b = render(r);
		if (b == NULL || t->st.queued >= t->queue_max ||
		    (e = calloc(1, sizeof(*e))) == NULL) {
			/* counted with the full-queue drops: refused on arrival */
			t->st.dropped_full++;
			t->r_full++;
			trouble(t);
			continue;
		}
		e->hook = t;
		e->body = b;
		b->refs++;
		e->seq = t->seq++;
		TAILQ_INSERT_TAIL(&t->waiting, e, entry);
		t->st.events++;
		t->st.queued++;
		schedule(t);
	}
	body_unref(b);
}

int
webhook_stats(const struct webhooks *w, size_t i, const char **url,
    struct webhook_stats *out)
{
	if (w == NULL || i >= w->nhooks)
		return -1;
	if (url != NULL)
		*url = w->hooks[i]->url;
	*out = w->hooks[i]->st;
	return 0;
}

void
webhook_totals(const struct webhooks *w, struct webhook_stats *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	if (w == NULL)
		return;
	stats_add(out, &w->gone);
	for (i = 0; i < w->nhooks; i++)
		stats_add(out, &w->hooks[i]->st);
}
