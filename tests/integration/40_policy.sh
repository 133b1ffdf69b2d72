#!/usr/bin/env bash
# Policy through the proxy, against the lab:
#   - a cert-ids pin admits a signed image; a wrong root-keys pin refuses it
#     with the engine's message;
#   - a GUN rewrite: a mirror pull of library/alpine is verified against
#     trust data published under another GUN (the lab registry's own);
#   - a reload that tightens the policy refuses the next pull while a blob
#     transfer that was already running completes intact.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_lab
CURL_PID=
T_STOP="CURL_PID PROXY_PID"
work_dir 40policy

PORT=$(free_port)
PROXY=127.0.0.1:$PORT
MIRROR=localhost:$PORT
ACCEPT='Accept: application/vnd.docker.distribution.manifest.v2+json'
rgun=$LAB_REGISTRY/library/alpine
cert=$(lab_json ".repos[] | select(.repo==\"library/alpine\") | .root_cert_ids[\"$rgun\"][0]")
keys=$(lab_json '[.repos[].root_key_ids | to_entries[] | .value[]] | unique')
signed=$(lab_json '.repos[] | select(.repo=="library/alpine") | .tags[] | select(.tag=="signed") | .signed_digest')
bigd=$(lab_json '.repos[] | select(.repo=="library/big") | .tags[0].signed_digest')
bigblob=$(lab_json '.repos[] | select(.repo=="library/big") | .tags[0].blobs[-1]')

# config PINNING-JSON: mirror "docker.io" whose GUNs are rewritten to the lab registry's
config() {
	jq -n --arg addr "$PROXY" --arg state "$work/state" --arg audit "$work/audit.log" \
	    --arg up "$LAB_REGISTRY_URL" --arg reg "$LAB_REGISTRY" --arg nurl "$LAB_NOTARY_URL" \
	    --arg ca "$LAB_CA" --argjson pin "$1" '{
		listeners: [{address: $addr}], state_dir: $state, audit: {path: $audit},
		registries: [{name: "docker.io", upstream: $up, gun_prefix: $reg,
		    notary: {url: $nurl, ca: $ca}}],
		"content-trust": {mode: "enforced", "trust-pinning": $pin}}'
}
manifest() {	# HOST REPO TAG -> "code digest"
	curl -s -o "$work/m" -w '%{http_code}' -H "$ACCEPT" "http://$1/v2/$2/manifests/$3"
	echo " sha256:$(sha256sum "$work/m" | cut -d' ' -f1)"
}

mkdir -p "$work/state"
config "$(jq -n --arg g "$rgun" --arg c "$cert" --argjson k "$keys" --arg r "$LAB_REGISTRY" \
    '{"cert-ids": {($g): [$c]}, "root-keys": {($r + "/*"): $k}}')" >"$work/good.json"
config "$(jq -n --arg r "$LAB_REGISTRY" '{"root-keys": {($r + "/*"): ["'"$(printf '%064d' 1)"'"]}}')" \
    >"$work/tight.json"
"$DCTPROXY" check-config -c "$work/good.json" >/dev/null && "$DCTPROXY" check-config -c "$work/tight.json" >/dev/null
check_eq configs-valid 0 $?

cp "$work/good.json" "$work/config.json"
proxy_start "$work/config.json" "$work/serve.log" "$PORT"

# cert-ids pin + GUN rewrite: Docker Hub name through the mirror, GUN of the lab registry
check_eq cert-id-pin/rewrite/signed-pulled "200 $signed" "$(manifest "$MIRROR" library/alpine signed)"
check_contains rewrite/audit-gun "$(tail -1 "$work/audit.log")" "\"gun\":\"$rgun\""
check_contains rewrite/audit-allow "$(tail -1 "$work/audit.log")" '"decision":"allow"'
out=$(curl -s -H "$ACCEPT" "http://$MIRROR/v2/library/alpine/manifests/unsigned")
check_contains rewrite/unsigned-refused "$out" "No valid trust data for unsigned"

# a running blob transfer (rate-limited: about 4 s for 16 MiB) survives a tightening reload
check_eq big/manifest "200 $bigd" "$(manifest "$MIRROR" library/big latest)"
curl -s --limit-rate 4M -o "$work/blob" -w '%{http_code}' \
    "http://$MIRROR/v2/library/big/blobs/$bigblob" >"$work/blob.code" &
CURL_PID=$!
sleep 1
cp "$work/tight.json" "$work/config.json"
kill -HUP "$PROXY_PID"
sleep 0.5
code=$(curl -s -o "$work/deny" -w '%{http_code}' -H "$ACCEPT" \
    "http://$MIRROR/v2/library/alpine/manifests/signed")
check_eq tightened/next-pull-refused 403 "$code"
check_contains tightened/engine-message "$(cat "$work/deny")" \
    "potential malicious behavior - trust data mismatch for repository"
check_contains tightened/pin-reason "$(cat "$work/deny")" \
    "unable to match any certificates to trust_pinning config"
wait "$CURL_PID"; CURL_PID=
check_eq tightened/running-blob-completes 200 "$(cat "$work/blob.code")"
check_eq tightened/running-blob-intact "$bigblob" "sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)"
check_eq proxy-still-running yes "$(kill -0 "$PROXY_PID" 2>/dev/null && echo yes)"
proxy_stop_clean "$PROXY_PID" "$work/serve.log"
exit $((T_FAILS > 0))
