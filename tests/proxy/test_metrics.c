/*
 * metrics.c without a server: the counters fed by hand, the exposition
 * text checked line by line (label escaping, bounded label sets, the
 * histogram's cumulative buckets, the open-connection set).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/server_int.h"
#include "tests/unit.h"

/* The exposition of m as a NUL-terminated string (caller frees). */
static char *
render(const struct metrics *m, size_t inflight)
{
	struct evbuffer	*b = evbuffer_new();
	char		*s = NULL;
	size_t		 n;

	if (b != NULL && metrics_render(m, inflight, NULL, NULL, b) == 0) {
		n = evbuffer_get_length(b);
		if ((s = malloc(n + 1)) != NULL) {
			evbuffer_remove(b, s, n);
			s[n] = '\0';
		}
	}
	if (b != NULL)
		evbuffer_free(b);
	return s;
}

/* The value of the sample named exactly key (name and labels), or -1. */
static long long
sample(const char *text, const char *key)
{
	const char	*p = text;
	size_t		 kl = strlen(key);

	while ((p = strstr(p, key)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[kl] == ' ')
			return strtoll(p + kl + 1, NULL, 10);
		p += kl;
	}
	return -1;
}

static size_t
count_lines(const char *text, const char *prefix)
{
	const char	*p = text;
	size_t		 n = 0, pl = strlen(prefix);

	while (*p != '\0') {
		if (strncmp(p, prefix, pl) == 0)
			n++;
		if ((p = strchr(p, '\n')) == NULL)
			break;
		p++;
	}
	return n;
}

UNIT_TEST(metrics_label_values_escaped)
{
	struct metrics	*m;
	char		*s;

	T_ASSERT((m = metrics_new()) != NULL);
	metrics_notary_event(m, "https://n\"1\\x\ny", NOTARY_FETCHED);
	metrics_notary_event(m, "https://n\"1\\x\ny", NOTARY_FETCH_FAILED);
	s = render(m, 0);
	metrics_free(m);
	T_ASSERT(s != NULL);
	T_EQ_INT(sample(s, "dctproxy_trust_fetches_total{server=\"https://n\\\"1\\\\x\\ny\"}"), 1);
	T_EQ_INT(sample(s, "dctproxy_trust_fetch_failures_total{server=\"https://n\\\"1\\\\x\\ny\"}"), 1);
	/* no raw newline inside a sample line: every line is a comment or name{...} value */
	T_ASSERT(strstr(s, "\ny\"") == NULL);
	free(s);
}

UNIT_TEST(metrics_histogram_buckets_cumulative)
{
	static const double obs[] = { 0.0005, 0.003, 0.003, 0.2, 1.0, 7, 100 };
	struct metrics	*m;
	char		*s;
	size_t		 i;

	T_ASSERT((m = metrics_new()) != NULL);
	for (i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		metrics_request(m, METRICS_ROUTE_MANIFEST, obs[i], 10);
	metrics_request(m, METRICS_ROUTE_BLOB, 0.5, 1000);
	metrics_request(m, (enum metrics_route)99, 0.5, 1);	/* out of range: "other" */
	s = render(m, 0);
	metrics_free(m);
	T_ASSERT(s != NULL);
#define B(le) sample(s, "dctproxy_request_duration_seconds_bucket{route=\"manifest\",le=\"" le "\"}")
	T_EQ_INT(B("0.001"), 1);
	T_EQ_INT(B("0.005"), 3);
	T_EQ_INT(B("0.01"), 3);
	T_EQ_INT(B("0.25"), 4);
	T_EQ_INT(B("0.5"), 4);
	T_EQ_INT(B("1"), 5);	/* le is inclusive */
	T_EQ_INT(B("5"), 5);
	T_EQ_INT(B("10"), 6);
	T_EQ_INT(B("60"), 6);
	T_EQ_INT(B("+Inf"), 7);
#undef B
	T_EQ_INT(sample(s, "dctproxy_request_duration_seconds_count{route=\"manifest\"}"), 7);
	T_CONTAINS(s, "dctproxy_request_duration_seconds_sum{route=\"manifest\"} 108.206500\n");
	T_EQ_INT(sample(s, "dctproxy_request_duration_seconds_count{route=\"blob\"}"), 1);
	T_EQ_INT(sample(s, "dctproxy_request_duration_seconds_count{route=\"other\"}"), 1);
	T_EQ_INT(sample(s, "dctproxy_request_duration_seconds_count{route=\"ping\"}"), 0);
	/* 9 routes, 14 bounds + "+Inf" each */
	T_EQ_INT(count_lines(s, "dctproxy_request_duration_seconds_bucket{"), 9 * 15);
	T_EQ_INT(count_lines(s, "dctproxy_request_duration_seconds_count{"), 9);
	T_CONTAINS(s, "# TYPE dctproxy_request_duration_seconds histogram\n");
	T_EQ_INT(sample(s, "dctproxy_bytes_streamed_total{kind=\"manifest\"}"), 70);
	T_EQ_INT(sample(s, "dctproxy_bytes_streamed_total{kind=\"blob\"}"), 1000);
	T_EQ_INT(sample(s, "dctproxy_bytes_streamed_total{kind=\"other\"}"), 1);
	free(s);
}

UNIT_TEST(metrics_decision_labels_bounded)
{
	struct metrics	*m;
	char		*s, key[256];
	int		 code;

	T_ASSERT((m = metrics_new()) != NULL);
	/* every reason trust/ can produce has its own label */
	for (code = TRUST_OK; code <= TRUST_E_INTERNAL; code++)
		metrics_decision(m, "manifest", "deny", trust_code_name((enum trust_code)code));
	metrics_decision(m, "manifest", "allow", "signed");
	metrics_decision(m, "blob", NULL, NULL);
	metrics_decision(m, "blob", "allow-permissive", "");
	metrics_decision(m, "blob", "maybe", "a reason nobody wrote down");
	metrics_decision(m, "ping", "allow", "signed");	/* not a verdict kind */
	s = render(m, 0);
	metrics_free(m);
	T_ASSERT(s != NULL);
	for (code = TRUST_OK; code <= TRUST_E_INTERNAL; code++) {
		snprintf(key, sizeof(key), "dctproxy_decisions_total{kind=\"manifest\","
		    "decision=\"deny\",reason=\"%s\"}", trust_code_name((enum trust_code)code));
		T_EQ_INT(sample(s, key), 1);
	}
	T_EQ_INT(sample(s, "dctproxy_decisions_total{kind=\"manifest\",decision=\"allow\",reason=\"signed\"}"), 1);
	T_EQ_INT(sample(s, "dctproxy_decisions_total{kind=\"blob\",decision=\"deny\",reason=\"none\"}"), 1);
	T_EQ_INT(sample(s, "dctproxy_decisions_total{kind=\"blob\",decision=\"allow-permissive\",reason=\"none\"}"), 1);
	T_EQ_INT(sample(s, "dctproxy_decisions_total{kind=\"blob\",decision=\"other\",reason=\"other\"}"), 1);
	T_EQ_INT(count_lines(s, "dctproxy_decisions_total{"), TRUST_E_INTERNAL - TRUST_OK + 1 + 4);
	T_ASSERT(strstr(s, "dctproxy_decisions_total{kind=\"ping\"") == NULL);
	free(s);
}

UNIT_TEST(metrics_notary_servers_capped)
{
	struct metrics	*m;
	char		*s, url[64];
	int		 i;

	T_ASSERT((m = metrics_new()) != NULL);
	for (i = 0; i < METRICS_MAX_SERVERS + 3; i++) {
		snprintf(url, sizeof(url), "https://notary-%d.example", i);
		metrics_notary_event(m, url, NOTARY_FETCHED);
	}
	metrics_notary_event(m, "https://notary-0.example", NOTARY_FETCHED);
	metrics_notary_event(m, "https://notary-0.example", NOTARY_UPDATE_REFUSED);
	s = render(m, 0);
	metrics_free(m);
	T_ASSERT(s != NULL);
	T_EQ_INT(count_lines(s, "dctproxy_trust_fetches_total{"), METRICS_MAX_SERVERS + 1);
	T_EQ_INT(sample(s, "dctproxy_trust_fetches_total{server=\"https://notary-0.example\"}"), 2);
	T_EQ_INT(sample(s, "dctproxy_trust_fetch_failures_total{server=\"https://notary-0.example\"}"), 1);
	T_EQ_INT(sample(s, "dctproxy_trust_fetches_total{server=\"other\"}"), 3);
	T_EQ_INT(sample(s, "dctproxy_trust_fetches_total{server=\"https://notary-64.example\"}"), -1);
	free(s);
}

UNIT_TEST(metrics_counters_and_gauges)
{
	struct metrics	*m;
	char		*s;
	int		 a, b, c;

	T_ASSERT((m = metrics_new()) != NULL);
	metrics_cache_lookup(m, 1);
	metrics_cache_lookup(m, 1);
	metrics_cache_lookup(m, 0);
	metrics_upstream(m, METRICS_ROUTE_BLOB, 200);
	metrics_upstream(m, METRICS_ROUTE_BLOB, 404);
	metrics_upstream(m, METRICS_ROUTE_BLOB, TRUST_FETCH_NETERR);
	metrics_upstream(m, METRICS_ROUTE_BLOB, 503);
	metrics_upstream(m, METRICS_ROUTE_MANIFEST, TRUST_FETCH_TOOBIG);
	metrics_conn_seen(m, &a);
	metrics_conn_seen(m, &a);	/* the second request on a connection */
	metrics_conn_seen(m, &b);
	metrics_conn_seen(m, &c);
	metrics_conn_closed(m, &b);
	metrics_conn_closed(m, &b);	/* closed twice: once counted */
	T_EQ_INT(metrics_conn_count(m), 2);
	s = render(m, 7);
	T_ASSERT(s != NULL);
	T_EQ_INT(sample(s, "dctproxy_verified_cache_hits_total"), 2);
	T_EQ_INT(sample(s, "dctproxy_verified_cache_misses_total"), 1);
	T_EQ_INT(sample(s, "dctproxy_upstream_errors_total{kind=\"blob\"}"), 2);
	T_EQ_INT(sample(s, "dctproxy_upstream_errors_total{kind=\"manifest\"}"), 1);
	T_EQ_INT(sample(s, "dctproxy_upstream_errors_total{kind=\"ping\"}"), 0);
	T_EQ_INT(sample(s, "dctproxy_open_connections"), 2);
	T_EQ_INT(sample(s, "dctproxy_requests_in_flight"), 7);
	T_EQ_INT(sample(s, "dctproxy_build_info{version=\"" DCTPROXY_VERSION "\"}"), 1);
	T_CONTAINS(s, "# TYPE dctproxy_open_connections gauge\n");
	T_CONTAINS(s, "# TYPE dctproxy_verified_cache_hits_total counter\n");
	free(s);
	metrics_conn_closed(m, &a);
	metrics_conn_closed(m, &c);
	T_EQ_INT(metrics_conn_count(m), 0);
	metrics_free(m);
	/* a server that failed to set up has none: reporting is a no-op */
	metrics_decision(NULL, "manifest", "allow", "signed");
	metrics_request(NULL, METRICS_ROUTE_PING, 1, 1);
	metrics_conn_seen(NULL, &a);
	metrics_notary_event(NULL, "x", NOTARY_FETCHED);
	T_EQ_INT(metrics_conn_count(NULL), 0);
}
