#!/usr/bin/env bash
# Webhooks: dctproxy in front of the lab (lab.sh proxy-config) with one
# webhook, events "all", queue_length 8, pointing at tests/tools/hookrecv.
#   1. receiver slow (3 s per answer): a skopeo pull of a signed image
#      gives the signed manifest, a denied manifest GET answers 403 in well
#      under the receiver's delay; every audit line reaches the receiver,
#      byte for byte (the event is the audit line's object);
#   2. receiver killed (SIGKILL by PID): pulls are unaffected (200 / 403,
#      fast) and the failed attempts are reported on stderr;
#   3. receiver restarted on the same port: the events of the pulls made
#      while it was down arrive (matched against the audit log);
#   4. receiver down again, more denied requests than the queue holds: the
#      first 8 are kept and delivered after a restart, the rest are dropped,
#      reported on stderr with their count, and received + dropped equals
#      the number of audited verdicts;
# and SIGTERM stops the proxy cleanly (exit 0, no sanitizer report).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_lab
HOOKRECV=${HOOKRECV:-$TOP/build/tests/hookrecv}
if [ ! -x "$HOOKRECV" ]; then
	skip setup "build/tests/hookrecv not built (make tools)"
	exit 0
fi

RECV_PID=
T_STOP="PROXY_PID RECV_PID"
work_dir 50hooks

PORT=$(free_port)
HPORT=$(free_port)
while [ "$HPORT" = "$PORT" ]; do HPORT=$(free_port); done
PROXY=127.0.0.1:$PORT
DELAY_MS=3000
QUEUE=8
mkdir -p "$work/state"
bash "$TOP/tests/lab/lab.sh" proxy-config "$LAB_DIR" "$PROXY" "$work/state" "$work/audit.log" |
	jq --arg url "http://127.0.0.1:$HPORT/hook" --argjson q "$QUEUE" \
	'. + {metrics: {enabled: true}, webhooks: [{url: $url, events: "all", timeout_seconds: 10, queue_length: $q}]}' \
	>"$work/config.json"

recv_start() {	# [DELAY-MS]
	"$HOOKRECV" --port "$HPORT" --out "$work/received" --delay-ms "${1:-0}" \
		>>"$work/recv.log" 2>&1 &
	RECV_PID=$!
	wait_port "$HPORT" 10
}
recv_kill() {
	kill -KILL "$RECV_PID" 2>/dev/null
	wait "$RECV_PID" 2>/dev/null
	RECV_PID=
}
nlines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
# wait_lines FILE N SECONDS: until FILE has at least N lines
wait_lines() {
	local i
	for i in $(seq 1 $(($3 * 10))); do
		[ "$(nlines "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# lines FILE FROM TO: lines FROM..TO (1-based), sorted
lines() { sed -n "$2,$3p" "$1" | sort; }
code_time() { curl -s -o /dev/null -w '%{http_code} %{time_total}' "$@"; }
under() { awk -v t="$1" -v max="$2" 'BEGIN { exit !(t < max) }'; }
sk() { skopeo --policy "$LAB_SKOPEO_POLICY" "$@"; }
tsel() { echo ".repos[] | select(.repo == \"$1\") | .tags[] | select(.tag == \"$2\")"; }

if ! recv_start "$DELAY_MS"; then
	fail receiver-starts "$(tail -3 "$work/recv.log")"
	exit 1
fi
proxy_start "$work/config.json" "$work/serve.log" "$PORT"

# ---- 1. a slow receiver -----------------------------------------------------
signed=$(lab_json "$(tsel library/alpine signed) | .signed_digest")
t0=$(date +%s.%N)
if sk copy --src-tls-verify=false "docker://$PROXY/library/alpine:signed" "dir:$work/pull" \
    >"$work/pull.log" 2>&1; then
	check_eq slow/pull-signed "$signed" "sha256:$(sha256sum "$work/pull/manifest.json" | cut -d' ' -f1)"
else
	fail slow/pull-signed "$(tail -2 "$work/pull.log")"
fi
pull_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
# the pull's verdicts (manifest, blobs) are all queued behind 3 s answers by now
read -r code t <<<"$(code_time "http://$PROXY/v2/library/alpine/manifests/unsigned")"
check_eq slow/unsigned-403 403 "$code"
if under "$t" 1.0; then pass slow/denied-fast; else fail slow/denied-fast "took $t s with a ${DELAY_MS} ms receiver"; fi
read -r code t <<<"$(code_time "http://$PROXY/v2/library/alpine/manifests/signed")"
check_eq slow/signed-200 200 "$code"
if under "$t" 1.0; then pass slow/allowed-fast; else fail slow/allowed-fast "took $t s"; fi
n_events=$(nlines "$work/audit.log")
if [ "$n_events" -ge 4 ] && [ "$n_events" -le "$QUEUE" ]; then
	pass slow/audited
else
	fail slow/audited "$n_events audit lines (the test expects 4..$QUEUE)"
fi
# the pull made several verdicts, each answered by the receiver only after 3 s
if under "$pull_s" "$(( (n_events - 2) * DELAY_MS / 1000 ))"; then
	pass slow/pull-not-delayed
else
	fail slow/pull-not-delayed "the pull took $pull_s s"
fi
if wait_lines "$work/received" "$n_events" 20; then pass slow/all-received; else
	fail slow/all-received "$(nlines "$work/received") of $n_events"
fi
check_eq slow/events-are-audit-lines "$(lines "$work/audit.log" 1 "$n_events")" \
	"$(lines "$work/received" 1 "$n_events")"
# let the last slow answers land, so nothing is in flight when the receiver dies
sleep $((DELAY_MS / 1000 + 1))
if grep -q 'failed attempts' "$work/serve.log"; then
	fail slow/no-failures "$(grep 'webhook' "$work/serve.log" | head -3)"
else
	pass slow/no-failures
fi

# ---- 2. the receiver killed ---------------------------------------------
recv_kill
a0=$(nlines "$work/audit.log")
r0=$(nlines "$work/received")
read -r code t <<<"$(code_time "http://$PROXY/v2/library/alpine/manifests/unsigned")"
check_eq down/unsigned-403 403 "$code"
if under "$t" 1.0; then pass down/denied-fast; else fail down/denied-fast "took $t s"; fi
read -r code t <<<"$(code_time "http://$PROXY/v2/library/alpine/manifests/signed")"
check_eq down/signed-200 200 "$code"
if under "$t" 1.0; then pass down/allowed-fast; else fail down/allowed-fast "took $t s"; fi
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$PROXY/v2/library/nosig/manifests/latest")
check_eq down/no-trust-data-403 403 "$code"
a1=$(nlines "$work/audit.log")
check_eq down/audited 3 $((a1 - a0))
sleep 1.5
check_contains down/failure-reported "$(grep "webhook http://127.0.0.1:$HPORT/hook" "$work/serve.log")" \
	"failed attempts"

# ---- 3. back on the same port: the queued events arrive -------------------
recv_start 0 || fail up/receiver-restarts "$(tail -3 "$work/recv.log")"
if wait_lines "$work/received" $((r0 + 3)) 15; then pass up/queued-delivered; else
	fail up/queued-delivered "$(( $(nlines "$work/received") - r0 )) of 3 after 15 s"
fi
pd() { jq -r '"\(.path) \(.decision)"'; }
check_eq up/events-match-audit "$(sed -n "$((a0 + 1)),${a1}p" "$work/audit.log" | pd | sort)" \
	"$(sed -n "$((r0 + 1)),\$p" "$work/received" | pd | sort)"
check_eq up/events-are-audit-lines "$(lines "$work/audit.log" $((a0 + 1)) "$a1")" \
	"$(lines "$work/received" $((r0 + 1)) $((r0 + 3)))"
sleep 0.5

# ---- 4. a full queue ------------------------------------------------------
recv_kill
a2=$(nlines "$work/audit.log")
r2=$(nlines "$work/received")
N=$((QUEUE + 5))
for i in $(seq 1 "$N"); do
	curl -s -o /dev/null "http://$PROXY/v2/library/alpine/manifests/unsigned"
done
a3=$(nlines "$work/audit.log")
check_eq full/audited "$N" $((a3 - a2))
sleep 1
recv_start 0 || fail full/receiver-restarts "$(tail -3 "$work/recv.log")"
if wait_lines "$work/received" $((r2 + QUEUE)) 20; then pass full/kept-delivered; else
	fail full/kept-delivered "$(( $(nlines "$work/received") - r2 )) of $QUEUE after 20 s"
fi
sleep 1
check_eq full/received-the-queue "$QUEUE" $(( $(nlines "$work/received") - r2 ))
# the newest are the ones dropped: what arrived is the first QUEUE verdicts
check_eq full/oldest-kept "$(lines "$work/audit.log" $((a2 + 1)) $((a2 + QUEUE)))" \
	"$(lines "$work/received" $((r2 + 1)) $((r2 + QUEUE)))"

# /metrics counts the same: what was queued, delivered, refused for a full queue
m=$(curl -sS --max-time 5 "http://$PROXY/metrics")
mval() { printf '%s\n' "$m" | sed -n "s|^dctproxy_webhook_$1{url=\"http://127.0.0.1:$HPORT/hook\"} ||p"; }
check_eq metrics/dropped-queue-full $((N - QUEUE)) "$(mval dropped_queue_full_total)"
check_eq metrics/delivered "$(nlines "$work/received")" "$(mval delivered_total)"
ev=$(mval events_total)
dq=$(mval dropped_queue_full_total)
if [[ "$ev" =~ ^[0-9]+$ && "$dq" =~ ^[0-9]+$ ]]; then
	check_eq metrics/events-plus-dropped-is-audited "$(nlines "$work/audit.log")" $((ev + dq))
else
	fail metrics/events-plus-dropped-is-audited "events_total '$ev', dropped_queue_full_total '$dq'"
fi

proxy_stop_clean "$PROXY_PID" "$work/serve.log"
hook_log=$(grep "webhook http://127.0.0.1:$HPORT/hook" "$work/serve.log")
# the drops are reported, at most once per 10 s (the last report comes with
# the stop), and the reports add up to the drops
reports=$(printf '%s\n' "$hook_log" | grep -v stopping | grep 'queue full')
check_contains full/drops-reported "$reports" "(queue full "
nrep=$(printf '%s\n' "$reports" | grep -c 'queue full')
if [ "$nrep" -le 2 ]; then pass full/reports-rate-limited; else
	fail full/reports-rate-limited "$nrep report lines for $((N - QUEUE)) drops"
fi
reported=$(printf '%s\n' "$reports" | grep -o 'dropped [0-9]* (queue full' | awk '{ s += $2 } END { print s + 0 }')
check_eq full/reports-add-up $((N - QUEUE)) "$reported"
final=$(printf '%s\n' "$hook_log" | grep 'stopping' | tail -1)
check_contains stop/summary "$final" "dropped $((N - QUEUE)) (queue full $((N - QUEUE)),"
dropped=$(printf '%s\n' "$final" | sed -n 's/.* dropped \([0-9]*\) (queue full.*/\1/p')
delivered=$(printf '%s\n' "$final" | sed -n 's/.*delivered \([0-9]*\),.*/\1/p')
received=$(nlines "$work/received")
total=$(nlines "$work/audit.log")
check_eq stop/received-plus-dropped-is-audited "$total" $((received + ${dropped:-0}))
check_eq stop/delivered-is-received "$received" "${delivered:-none}"
exit 0
