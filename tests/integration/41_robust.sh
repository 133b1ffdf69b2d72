#!/usr/bin/env bash
# The proxy keeps serving after hostile clients: a malformed request line,
# oversized headers, an oversized URL, a client that disconnects mid-blob,
# and a TLS ClientHello on the plain port; each hostile request gets an
# error (or a closed connection), never a crash, and a signed pull still works.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_lab
work_dir 41robust

PORT=$(free_port)
PROXY=127.0.0.1:$PORT
mkdir -p "$work/state"
bash "$TOP/tests/lab/lab.sh" proxy-config "$LAB_DIR" "$PROXY" "$work/state" "$work/audit.log" \
    >"$work/config.json"
proxy_start "$work/config.json" "$work/serve.log" "$PORT"

# raw REQUEST: send bytes, return the status line (or "closed")
raw() {
	local line
	line=$(exec 3<>"/dev/tcp/127.0.0.1/$PORT"; printf '%b' "$1" >&3; timeout 5 head -1 <&3 | tr -d '\r')
	echo "${line:-closed}"
}
alive() { curl -s -o /dev/null -w '%{http_code}' "http://$PROXY/v2/"; }

out=$(raw 'GARBAGE\r\n\r\n')
case "$out" in "HTTP/1."*" 400"*|closed) pass malformed-request-line ;; *) fail malformed-request-line "$out" ;; esac
check_eq alive-after-malformed 200 "$(alive)"

big=$(head -c 100000 /dev/zero | tr '\0' a)
out=$(raw "GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: $big\r\n\r\n")
case "$out" in "HTTP/1."*" 4"??*|closed) pass oversized-headers-refused ;; *) fail oversized-headers-refused "$out" ;; esac
check_eq alive-after-oversized-headers 200 "$(alive)"

code=$(curl -s -o /dev/null -w '%{http_code}' "http://$PROXY/v2/$(head -c 20000 /dev/zero | tr '\0' a)/manifests/x")
case "$code" in 4??|000) pass oversized-url-refused ;; *) fail oversized-url-refused "$code" ;; esac

raw '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03' >/dev/null
check_eq alive-after-tls-hello 200 "$(alive)"

# a client that reads one chunk of a blob and goes away
ACCEPT='Accept: application/vnd.docker.distribution.manifest.v2+json'
curl -s -o /dev/null -H "$ACCEPT" "http://$PROXY/v2/library/big/manifests/latest"
blob=$(lab_json '.repos[] | select(.repo=="library/big") | .tags[0].blobs[-1]')
curl -s "http://$PROXY/v2/library/big/blobs/$blob" 2>/dev/null | head -c 100000 >/dev/null
check_eq alive-after-client-disconnect 200 "$(alive)"
line=$(grep "\"kind\":\"blob\"" "$work/audit.log" | tail -1)
check_contains disconnect-audited "$line" "\"decision\":\"allow\""
check_contains disconnect-audited-as-gone "$line" "the client closed the connection"
size=$(header Content-Length "$(curl -sI "$LAB_REGISTRY_URL/v2/library/big/blobs/$blob" | tr -d '\r')")
sent=$(printf '%s' "$line" | jq -r .bytes)
if [ -n "$size" ] && [ "${sent:-x}" -lt "$size" ] 2>/dev/null; then
	pass disconnect-audited-part
else
	fail disconnect-audited-part "audited $sent bytes of a $size-byte blob"
fi

want=$(lab_json '.repos[] | select(.repo=="library/alpine") | .tags[] | select(.tag=="signed") | .signed_digest')
got=$(curl -s -H "$ACCEPT" "http://$PROXY/v2/library/alpine/manifests/signed" | sha256sum | cut -d' ' -f1)
check_eq signed-pull-still-works "$want" "sha256:$got"
check_eq proxy-still-running yes "$(kill -0 "$PROXY_PID" 2>/dev/null && echo yes)"
proxy_stop_clean "$PROXY_PID" "$work/serve.log"
exit $((T_FAILS > 0))
