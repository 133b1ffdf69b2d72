#!/usr/bin/env bash
# /metrics (Prometheus text format 0.0.4) against the lab:
#   - served only with "metrics": {"enabled": true} (404 otherwise, as any
#     unknown path; a SIGHUP turns it on), without upstream or Notary, and
#     never audited;
#   - after a pull sequence (signed tag, unsigned tag refused, pull by
#     digest of an unsigned manifest refused, a repository without trust
#     data, blobs, a bad tag), every dctproxy_decisions_total series equals
#     the audit log's count for its (kind, decision, reason), both ways;
#   - warm GETs of a verified manifest are cache hits, one per GET;
#   - trust fetches are counted for the lab's Notary URL, and its 404 for
#     a repository without trust data is not a failure; a dead Notary
#     server's fetches are failures;
#   - bytes_streamed per kind equals the audit log's bytes; the duration
#     histogram counts every manifest and blob request, buckets cumulative;
#   - N held-open keep-alive connections raise dctproxy_open_connections
#     by N, closing them brings it back.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_lab

DEAD_PID=
T_STOP="PROXY_PID DEAD_PID"
work_dir 50metrics

PORT=$(free_port)
PROXY=127.0.0.1:$PORT
mkdir -p "$work/state" "$work/dstate"
bash "$TOP/tests/lab/lab.sh" proxy-config "$LAB_DIR" "$PROXY" "$work/state" "$work/audit.log" |
	jq '. + {metrics: {enabled: true}}' >"$work/config.json"

proxy_start "$work/config.json" "$work/serve.log" "$PORT"

sk() { skopeo --policy "$LAB_SKOPEO_POLICY" "$@"; }
tsel() { echo ".repos[] | select(.repo == \"$1\") | .tags[] | select(.tag == \"$2\")"; }
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
scrape() { curl -s "http://$1/metrics" >"$work/m.txt"; }
# value NAME{LABELS}: the sample's value in the last scrape ("" when absent)
value() { awk -v k="$1" '$1 == k { print $2 }' "$work/m.txt"; }
audit_n() { [ -f "$work/audit.log" ] && wc -l <"$work/audit.log" || echo 0; }

# ---- a proxy whose upstream and Notary are down: metrics off, then on ----
DPORT=$(free_port)
while [ "$DPORT" = "$PORT" ]; do DPORT=$(free_port); done
DEAD=127.0.0.1:$(free_port)
dead_config() {	# ENABLED
	jq -n --arg addr "127.0.0.1:$DPORT" --arg state "$work/dstate" --arg audit "$work/daudit.log" \
		--arg dead "http://$DEAD" --argjson on "$1" '{
		listeners: [{address: $addr}], state_dir: $state, audit: {path: $audit},
		registries: [{name: $addr, upstream: $dead, notary: {url: $dead}}],
		"content-trust": {mode: "enforced", "trust-pinning": {
			"root-keys": {"*": ["0000000000000000000000000000000000000000000000000000000000000000"]}}},
		metrics: {enabled: $on}
	}'
}
dead_config false >"$work/dconfig.json"
"$DCTPROXY" serve -c "$work/dconfig.json" >"$work/dserve.log" 2>&1 &
DEAD_PID=$!
if wait_port "$DPORT" 10; then
	out=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$DPORT/metrics")
	check_contains disabled/404 "$out" ' 404'
	check_contains disabled/registry-error "$out" '"code":"NOT_FOUND"'
	dead_config true >"$work/dconfig.json"
	kill -HUP "$DEAD_PID"
	for i in $(seq 1 50); do grep -q reloaded "$work/dserve.log" && break; sleep 0.1; done
	hdr=$(curl -s -D - -o "$work/m.txt" "http://127.0.0.1:$DPORT/metrics" | tr -d '\r')
	check_contains enabled-by-reload/200 "$hdr" "HTTP/1.1 200"
	check_contains enabled-by-reload/content-type "$hdr" "Content-Type: text/plain; version=0.0.4"
	check_eq no-upstream-needed/build-info 1 "$(value "dctproxy_build_info{version=\"$("$DCTPROXY" --version | cut -d' ' -f2)\"}")"
	# the ping reaches nobody: an upstream error; a tag: trust fetch failures
	curl -s -o /dev/null "http://127.0.0.1:$DPORT/v2/"
	check_eq dead/manifest-refused 403 "$(code "http://127.0.0.1:$DPORT/v2/x/manifests/latest")"
	scrape "127.0.0.1:$DPORT"
	check_eq dead/upstream-error-ping 1 "$(value 'dctproxy_upstream_errors_total{kind="ping"}')"
	fetches=$(value "dctproxy_trust_fetches_total{server=\"http://$DEAD\"}")
	failures=$(value "dctproxy_trust_fetch_failures_total{server=\"http://$DEAD\"}")
	if [ "${fetches:-0}" -ge 1 ] && [ "$failures" = "$fetches" ]; then
		pass dead/trust-fetch-failures
	else
		fail dead/trust-fetch-failures "fetches '$fetches', failures '$failures'"
	fi
	check_eq dead/decision 1 \
		"$(value 'dctproxy_decisions_total{kind="manifest",decision="deny",reason="trust-server-unavailable"}')"
	proxy_stop_clean "$DEAD_PID" "$work/dserve.log" dead/
	DEAD_PID=
else
	fail dead/proxy-starts "$(tail -5 "$work/dserve.log")"
fi

# ---- before any pull: served from memory, not audited ----
scrape "$PROXY"
check_eq fresh/no-decisions "" "$(grep '^dctproxy_decisions_total' "$work/m.txt")"
check_eq fresh/in-flight-is-the-scrape 1 "$(value dctproxy_requests_in_flight)"
check_eq fresh/not-audited 0 "$(audit_n)"

# ---- the pull sequence ----
if sk copy --src-tls-verify=false "docker://$PROXY/library/alpine:signed" "dir:$work/signed" \
    >"$work/signed.log" 2>&1; then
	pass pull/signed
else
	fail pull/signed "$(tail -2 "$work/signed.log")"
fi
if sk copy --src-tls-verify=false "docker://$PROXY/library/alpine:unsigned" "dir:$work/u" \
    >"$work/u.log" 2>&1; then
	fail pull/unsigned-refused "the pull succeeded"
else
	check_contains pull/unsigned-refused "$(cat "$work/u.log")" "no trust signature found"
fi
unsigned_digest=$(lab_json "$(tsel library/alpine unsigned) | .registry_digest")
if sk copy --src-tls-verify=false "docker://$PROXY/library/alpine@$unsigned_digest" "dir:$work/ud" \
    >"$work/ud.log" 2>&1; then
	fail pull/unsigned-digest-refused "the pull succeeded"
else
	check_contains pull/unsigned-digest-refused "$(cat "$work/ud.log")" "no trust signature found"
fi
check_eq pull/no-trust-data-403 403 "$(code "http://$PROXY/v2/library/nosig/manifests/latest")"
sblob=$(lab_json "$(tsel library/alpine signed) | .blobs[-1]")
ublob=$(lab_json "$(tsel library/alpine unsigned) | .blobs[-1]")
check_eq pull/signed-blob-200 200 "$(code "http://$PROXY/v2/library/alpine/blobs/$sblob")"
check_eq pull/unsigned-blob-403 403 "$(code "http://$PROXY/v2/library/alpine/blobs/$ublob")"
check_eq pull/bad-tag-400 400 "$(code "http://$PROXY/v2/library/alpine/manifests/.x")"
# a tags/list request: not audited, but a request of route "tags"
curl -s -o /dev/null "http://$PROXY/v2/library/alpine/tags/list"

# warm GETs: every one answered from the verified cache
scrape "$PROXY"
hits0=$(value dctproxy_verified_cache_hits_total)
misses0=$(value dctproxy_verified_cache_misses_total)
K=5
for i in $(seq 1 $K); do
	curl -s -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"http://$PROXY/v2/library/alpine/manifests/signed"
done
scrape "$PROXY"
check_eq cache/hit-per-warm-get $((hits0 + K)) "$(value dctproxy_verified_cache_hits_total)"
check_eq cache/no-miss-on-warm-get "$misses0" "$(value dctproxy_verified_cache_misses_total)"
if [ "$(value dctproxy_verified_cache_hits_total)" -gt 0 ]; then pass cache/hits-positive; else fail cache/hits-positive; fi

# ---- the final scrape against the audit log ----
lines_before=$(audit_n)
scrape "$PROXY"
check_eq scrape/not-audited "$lines_before" "$(audit_n)"
if grep -q '"path":"/metrics"' "$work/audit.log"; then fail scrape/no-metrics-line; else pass scrape/no-metrics-line; fi

jq -s -r 'group_by([.kind, .decision, (.reason // "none")])[] |
	"\(.[0].kind) \(.[0].decision) \(.[0].reason // "none") \(length)"' "$work/audit.log" |
	sort >"$work/from-audit.txt"
sed -nE 's/^dctproxy_decisions_total\{kind="([^"]*)",decision="([^"]*)",reason="([^"]*)"\} ([0-9]+)$/\1 \2 \3 \4/p' \
	"$work/m.txt" | sort >"$work/from-metrics.txt"
if diff "$work/from-audit.txt" "$work/from-metrics.txt" >"$work/decisions.diff"; then
	pass decisions/equal-audit-log
else
	fail decisions/equal-audit-log "$(tr '\n' ' ' <"$work/decisions.diff")"
fi
# the sequence must have produced these (else the comparison proves little)
for want in "manifest allow signed" "manifest deny not-signed" "manifest deny no-trust-data" \
    "manifest deny none" "blob allow referenced" "blob deny not-referenced"; do
	if grep -q "^$want " "$work/from-metrics.txt"; then
		pass "decisions/has/${want// /-}"
	else
		fail "decisions/has/${want// /-}" "$(tr '\n' ';' <"$work/from-metrics.txt")"
	fi
done

fetches=$(value "dctproxy_trust_fetches_total{server=\"$LAB_NOTARY_URL\"}")
if [ "${fetches:-0}" -gt 0 ]; then pass trust/fetches-counted; else fail trust/fetches-counted "got '$fetches'"; fi
check_eq trust/404-is-not-a-failure 0 "$(value "dctproxy_trust_fetch_failures_total{server=\"$LAB_NOTARY_URL\"}")"

for k in blob manifest; do
	want=$(jq -s "[.[] | select(.kind == \"$k\") | .bytes] | add // 0" "$work/audit.log")
	check_eq "bytes/$k-equals-audit" "$want" "$(value "dctproxy_bytes_streamed_total{kind=\"$k\"}")"
	want=$(jq -s "[.[] | select(.kind == \"$k\")] | length" "$work/audit.log")
	check_eq "duration/$k-count-equals-requests" "$want" \
		"$(value "dctproxy_request_duration_seconds_count{route=\"$k\"}")"
done
if [ "$(value 'dctproxy_bytes_streamed_total{kind="blob"}')" -gt 0 ]; then pass bytes/blob-positive; else fail bytes/blob-positive; fi
# the lab's registry is plain http without auth: every allowed blob GET is
# read directly (no curl transfer), none falls back
want=$(jq -s '[.[] | select(.kind == "blob" and .decision == "allow" and .method == "GET")] | length' "$work/audit.log")
if [ "$want" -gt 0 ]; then pass direct/blob-gets-seen; else fail direct/blob-gets-seen "no allowed blob GET in the audit log"; fi
check_eq direct/reads-equal-allowed-blob-gets "$want" "$(value dctproxy_upstream_direct_reads_total)"
check_eq direct/no-fallbacks 0 "$(value dctproxy_upstream_direct_fallbacks_total)"
# the registry keeps connections alive: after the first, direct reads reuse one
reused=$(value dctproxy_upstream_direct_reused_total)
if [ "$want" -ge 2 ] && [ "${reused:-0}" -ge 1 ] && [ "${reused:-0}" -lt "$want" ]; then
	pass direct/connections-reused
else
	fail direct/connections-reused "reused '$reused' of $want direct reads"
fi
# every route's buckets are cumulative and end at _count
bad=$(awk '
	/^dctproxy_request_duration_seconds_bucket/ {
		match($1, /route="[^"]*"/); r = substr($1, RSTART, RLENGTH)
		if (r in last && $2 < last[r]) print "decreasing " $1
		last[r] = $2; if ($1 ~ /le="\+Inf"/) inf[r] = $2
	}
	/^dctproxy_request_duration_seconds_count/ {
		match($1, /route="[^"]*"/); r = substr($1, RSTART, RLENGTH)
		if (!(r in inf) || inf[r] != $2) print "+Inf != count " r
		n++
	}
	END { if (n != 9) print "routes: " n }' "$work/m.txt")
check_eq duration/buckets-cumulative "" "$bad"
m1=$(value 'dctproxy_request_duration_seconds_count{route="metrics"}')
scrape "$PROXY"
check_eq duration/scrape-counted-once $((m1 + 1)) "$(value 'dctproxy_request_duration_seconds_count{route="metrics"}')"
check_eq duration/tags-counted 1 "$(value 'dctproxy_request_duration_seconds_count{route="tags"}')"

# ---- open connections: N keep-alive connections held open ----
# wait_open WANT: scrape until dctproxy_open_connections == WANT (the
# scraper's own connection included), 5 s at most
wait_open() {
	local i
	for i in $(seq 1 50); do
		scrape "$PROXY"
		[ "$(value dctproxy_open_connections)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
if wait_open 1; then pass conns/quiet-is-the-scraper; else fail conns/quiet-is-the-scraper "got $(value dctproxy_open_connections)"; fi
N=5
fds=()
for i in $(seq 1 $N); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n' "$PROXY" >&"$fd"
	got=
	while IFS= read -r -t 5 line <&"$fd"; do
		line=${line%$'\r'}
		if [ "$line" = ok ]; then got=ok; break; fi
	done
	[ "$got" = ok ] || fail "conns/held-$i-answered"
	fds+=("$fd")
done
if wait_open $((N + 1)); then pass conns/up-by-n; else fail conns/up-by-n "want $((N + 1)), got $(value dctproxy_open_connections)"; fi
for fd in "${fds[@]}"; do exec {fd}>&-; done
if wait_open 1; then pass conns/back-after-close; else fail conns/back-after-close "got $(value dctproxy_open_connections)"; fi

# ---- stop ----
proxy_stop_clean "$PROXY_PID" "$work/serve.log"
exit 0
