#!/usr/bin/env bash
# Push and delete through the proxy where allow_push says so, refused
# everywhere else:
#   - skopeo copies an image into pushed/app through the proxy; the
#     registry then holds it with the source's digest; pulling it back
#     through the proxy is refused (it is not signed);
#   - an upload by hand: POST gives a Location that leads back to the proxy
#     (not to the upstream), PUT ?digest= with a 5 MiB body lands the blob;
#     HEAD of that blob passes (a pushing client's existence check), GET of
#     it is refused (no verified manifest references it);
#   - DELETE of the pushed manifest passes; the registry no longer has it;
#   - a push to library/alpine is 405 with a message naming allow_push;
#   - every push request is audited allow/push-allowed, every refusal
#     deny/method-not-allowed;
#   - after a reload without allow_push, a request body over 64 KiB is
#     refused by size (413) and pushes are 405 again.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_lab

work_dir 42push

PORT=$(free_port)
PROXY=127.0.0.1:$PORT
mkdir -p "$work/state"
bash "$TOP/tests/lab/lab.sh" proxy-config "$LAB_DIR" "$PROXY" "$work/state" "$work/audit.log" \
	>"$work/base.json"
jq --arg me "$PROXY" '(.registries[] | select(.name == $me)) += {allow_push: ["pushed/*"]}' \
	"$work/base.json" >"$work/config.json"
proxy_start "$work/config.json" "$work/serve.log" "$PORT"

ACCEPT='Accept: application/vnd.docker.distribution.manifest.v2+json'
src_digest=$(lab_json '.repos[] | select(.repo=="library/alpine") | .tags[] | select(.tag=="signed") | .registry_digest')

# 1. skopeo pushes through the proxy
if skopeo copy --src-tls-verify=false --dest-tls-verify=false \
	"docker://$LAB_REGISTRY/library/alpine:signed" "docker://$PROXY/pushed/app:v1" \
	>"$work/copy.log" 2>&1; then
	pass skopeo-push-through-proxy
else
	fail skopeo-push-through-proxy "$(tail -5 "$work/copy.log")"
fi
got=$(skopeo inspect --tls-verify=false --raw "docker://$LAB_REGISTRY/pushed/app:v1" 2>/dev/null | sha256sum | cut -d' ' -f1)
check_eq registry-has-pushed-manifest "$src_digest" "sha256:$got"
body=$(curl -s -H "$ACCEPT" -w ' %{http_code}' "http://$PROXY/v2/pushed/app/manifests/v1")
check_eq pull-of-pushed-unsigned-refused 403 "${body##* }"
check_contains pull-of-pushed-says-why "$body" '"code":"DENIED"'

# 2. an upload by hand
head -c $((5 * 1048576)) /dev/urandom >"$work/blob"
bdig=sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)
loc=$(curl -s -X POST -D - -o /dev/null "http://$PROXY/v2/pushed/app/blobs/uploads/" |
	tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
case "$loc" in
/v2/pushed/app/blobs/uploads/*) pass upload-location-leads-back ;;
*) fail upload-location-leads-back "Location '$loc'" ;;
esac
case "$loc" in *"$LAB_REGISTRY"*) fail location-hides-upstream "$loc" ;; *) pass location-hides-upstream ;; esac
case "$loc" in *\?*) put="$loc&digest=$bdig" ;; *) put="$loc?digest=$bdig" ;; esac
code=$(curl -s -o "$work/put.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/octet-stream' \
	--data-binary "@$work/blob" "http://$PROXY$put")
check_eq blob-put-created 201 "$code"
hdr=$(curl -s -I "http://$PROXY/v2/pushed/app/blobs/$bdig" | tr -d '\r')
check_contains blob-head-passes "$hdr" " 200"
check_eq blob-head-length $((5 * 1048576)) "$(header Content-Length "$hdr")"
code=$(curl -s -o "$work/get.out" -w '%{http_code}' "http://$PROXY/v2/pushed/app/blobs/$bdig")
check_eq blob-get-unreferenced-refused 403 "$code"
direct=$(curl -s "$LAB_REGISTRY_URL/v2/pushed/app/blobs/$bdig" | sha256sum | cut -d' ' -f1)
check_eq registry-has-the-blob "$bdig" "sha256:$direct"

# 3. delete the pushed manifest
code=$(curl -s -o "$work/del.out" -w '%{http_code}' -X DELETE "http://$PROXY/v2/pushed/app/manifests/$src_digest")
check_eq delete-passes 202 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$ACCEPT" "$LAB_REGISTRY_URL/v2/pushed/app/manifests/$src_digest")
check_eq registry-deleted-it 404 "$code"

# 4. elsewhere pushes are refused
body=$(curl -s -X POST -w ' %{http_code}' "http://$PROXY/v2/library/alpine/blobs/uploads/")
check_eq push-elsewhere-405 405 "${body##* }"
check_contains push-elsewhere-says-why "$body" "allow_push"
if skopeo copy --src-tls-verify=false --dest-tls-verify=false \
	"docker://$LAB_REGISTRY/library/alpine:signed" "docker://$PROXY/library/alpine:pwned" \
	>"$work/copy2.log" 2>&1; then
	fail skopeo-push-elsewhere-refused "skopeo copy succeeded"
else
	pass skopeo-push-elsewhere-refused
fi
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$ACCEPT" "$LAB_REGISTRY_URL/v2/library/alpine/manifests/pwned")
check_eq nothing-landed-elsewhere 404 "$code"

# 5. the audit log
bad=$(jq -r 'select(.method != "GET" and .method != "HEAD") |
	select((.repository | startswith("pushed/")) and (.decision != "allow" or .reason != "push-allowed")) | .path' \
	"$work/audit.log")
check_eq pushes-audited-push-allowed "" "$bad"
n=$(jq -r 'select(.method == "PUT" and .repository == "pushed/app" and (.path | contains("/manifests/")))' "$work/audit.log" | grep -c '"method"')
check_eq manifest-put-audited 1 "$n"
# our POST and skopeo's manifest PUT (its blob checks found the layers there)
n=$(jq -r 'select(.repository == "library/alpine" and .decision == "deny" and .reason == "method-not-allowed") | .method' "$work/audit.log" | sort | tr '\n' ' ')
check_eq refusals-audited "POST PUT " "$n"

# 6. reload without allow_push: bodies are capped small again, pushes refused
cp "$work/base.json" "$work/config.json"
kill -HUP "$PROXY_PID"
for _ in $(seq 1 50); do grep -q "reloaded" "$work/serve.log" && break; sleep 0.1; done
head -c 100000 /dev/zero >"$work/100k"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH --data-binary "@$work/100k" "http://$PROXY$loc")
check_eq big-body-refused-by-size 413 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$PROXY/v2/pushed/app/blobs/uploads/")
check_eq push-405-after-reload 405 "$code"
check_eq proxy-still-running yes "$(kill -0 "$PROXY_PID" 2>/dev/null && echo yes)"
proxy_stop_clean "$PROXY_PID" "$work/serve.log"
exit 0
