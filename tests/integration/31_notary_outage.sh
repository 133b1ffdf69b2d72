#!/usr/bin/env bash
# The Notary server goes away (dct-semantics 1.6, the cache-only load):
#   - a proxy pulls library/alpine:signed with skopeo while the lab's
#     notary-server is up; its state directory now holds the verified
#     metadata;
#   - a new proxy on the same state directory whose Notary server cannot
#     be reached (nothing listens there: an outage met at a restart):
#       - library/alpine:signed still pulls with skopeo, with the signed
#         digest, from the persisted state verified alone; its audit line
#         says so in trust_note and /metrics counts it;
#       - library/alpine:unsigned is still refused: the cached data does
#         not sign it;
#       - team/app:signed, never verified here, is refused with the
#         engine's "error contacting trust server" and "cached trust data:
#         none";
#       - the audit log holds one decision line per manifest request (as
#         many as /metrics counts).
# Expired cached data (allow-expired-cached-trust-data) needs a clock past
# the lab's expiry dates; tests/proxy/test_notary.c covers it.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_lab

work_dir 31outage

PORT=$(free_port)
PROXY=127.0.0.1:$PORT
DEAD=http://127.0.0.1:$(free_port)
mkdir -p "$work/state"
bash "$TOP/tests/lab/lab.sh" proxy-config "$LAB_DIR" "$PROXY" "$work/state" "$work/audit.log" \
	>"$work/up.json"
# the same, with the Notary server where nothing answers
jq --arg dead "$DEAD" '(.registries[].notary) = {url: $dead} | . + {metrics: {enabled: true}}' \
	"$work/up.json" >"$work/down.json"

sk() { skopeo --policy "$LAB_SKOPEO_POLICY" "$@"; }
tsel() { echo ".repos[] | select(.repo == \"$1\") | .tags[] | select(.tag == \"$2\")"; }
SIGNED=$(lab_json "$(tsel library/alpine signed) | .signed_digest")
pull() {	# NAME REF: skopeo copy through the proxy into $work/NAME; 0 on success
	sk copy --src-tls-verify=false "docker://$PROXY/$2" "dir:$work/$1" >"$work/$1.log" 2>&1
}
digest_of() { echo "sha256:$(sha256sum "$work/$1/manifest.json" | cut -d' ' -f1)"; }
audit_n() { [ -f "$work/audit.log" ] && wc -l <"$work/audit.log" || echo 0; }

# 1. The server is up: verify and persist.
proxy_start "$work/up.json" "$work/serve-up.log" "$PORT"
if pull up library/alpine:signed; then
	check_eq up/pull-signed "$SIGNED" "$(digest_of up)"
else
	fail up/pull-signed "$(tail -3 "$work/up.log")"
fi
proxy_stop_clean "$PROXY_PID" "$work/serve-up.log" up/
if [ -n "$(find "$work/state" -name 'timestamp.json' 2>/dev/null)" ]; then
	pass up/state-persisted
else
	fail up/state-persisted "no timestamp.json under $work/state"
fi
n0=$(audit_n)

# 2. Restarted while the Notary server cannot be reached.
proxy_start "$work/down.json" "$work/serve-down.log" "$PORT"
if pull down library/alpine:signed; then
	check_eq down/pull-signed-from-cache "$SIGNED" "$(digest_of down)"
else
	fail down/pull-signed-from-cache "$(tail -3 "$work/down.log")"
fi
line=$(grep '"kind":"manifest"' "$work/audit.log" | grep '"reference":"signed"' | tail -n 1)
check_eq down/audit-allow "allow" "$(jq -r .decision <<<"$line")"
check_contains down/audit-trust-note "$(jq -r '.trust_note // ""' <<<"$line")" \
	"answered from cached trust data"
check_contains down/audit-trust-note-names-server "$(jq -r '.trust_note // ""' <<<"$line")" \
	"trust server unreachable"
curl -s "http://$PROXY/metrics" >"$work/m.txt"
answers=$(awk -v k="dctproxy_trust_cache_answers_total{server=\"$DEAD\"}" '$1 == k { print $2 }' "$work/m.txt")
if [ -n "$answers" ] && [ "$answers" -ge 1 ]; then
	pass down/metrics-cache-answers
else
	fail down/metrics-cache-answers "got '$answers': $(grep cache_answers "$work/m.txt" | tr '\n' ' ')"
fi

if pull unsigned library/alpine:unsigned; then
	fail down/unsigned-refused "skopeo pulled it"
else
	check_contains down/unsigned-refused "$(cat "$work/unsigned.log")" "denied"
fi
if pull app team/app:signed; then
	fail down/never-verified-refused "skopeo pulled it"
else
	pass down/never-verified-refused
fi
line=$(grep '"kind":"manifest"' "$work/audit.log" | grep '"repository":"team/app"' | tail -n 1)
check_eq down/never-verified-audit-deny "deny" "$(jq -r .decision <<<"$line")"
check_contains down/never-verified-says-why "$(jq -r .message <<<"$line")" \
	"error contacting trust server"
check_contains down/never-verified-says-no-cache "$(jq -r .message <<<"$line")" \
	"cached trust data: none"
# one decision line per manifest request the proxy answered since the restart
curl -s "http://$PROXY/metrics" >"$work/m.txt"
served=$(awk '$1 == "dctproxy_request_duration_seconds_count{route=\"manifest\"}" { print $2 }' "$work/m.txt")
lines=$(tail -n +$((n0 + 1)) "$work/audit.log" | grep -c '"kind":"manifest"')
undecided=$(tail -n +$((n0 + 1)) "$work/audit.log" | jq -c 'select(.kind == "manifest" and .decision == null)' | wc -l)
if [ -n "$served" ] && [ "$served" -ge 3 ] && [ "$lines" = "$served" ] && [ "$undecided" = 0 ]; then
	pass audit/one-decision-per-manifest-request
else
	fail audit/one-decision-per-manifest-request "$lines lines ($undecided undecided), $served manifest requests"
fi
proxy_stop_clean "$PROXY_PID" "$work/serve-down.log" down/
exit $((T_FAILS > 0))
