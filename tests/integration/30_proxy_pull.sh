#!/usr/bin/env bash
# dctproxy serve in front of the lab (gateway mode: the proxy is the
# registry HOST:PORT, GUNs are the lab registry's; mirror mode: Host
# "localhost:PORT" falls to the docker.io entry, GUNs docker.io/...), pinned
# to the lab's root keys, enforced. skopeo pulls through it:
#   - signed / OCI / manifest list (one platform and --all) / delegation:
#     the manifest bytes hash to the signed digest;
#   - moved tag: the originally signed content, not the registry's current;
#   - refusals (403 DENIED, engine wording): unsigned tag, repository
#     without trust data, pull by digest of an unsigned image, a blob of an
#     unsigned image by digest;
#   - the audit log has exactly one decision line per manifest request;
#   - HEAD by tag gives the signed digest in Docker-Content-Digest;
#   - pushes are refused with 405.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_lab

work_dir 30pull

PORT=$(free_port)
PROXY=127.0.0.1:$PORT
MIRROR=localhost:$PORT
mkdir -p "$work/state"
bash "$TOP/tests/lab/lab.sh" proxy-config "$LAB_DIR" "$PROXY" "$work/state" "$work/audit.log" \
	>"$work/config.json"

proxy_start "$work/config.json" "$work/serve.log" "$PORT"

sk() { skopeo --policy "$LAB_SKOPEO_POLICY" "$@"; }
tsel() { echo ".repos[] | select(.repo == \"$1\") | .tags[] | select(.tag == \"$2\")"; }
audit_lines() { grep -c "\"path\":\"$1\"" "$work/audit.log" 2>/dev/null || true; }

# pull HOST REPO TAG NAME [--all]: skopeo copy to dir:, check the manifest hash.
pull() {
	local host=$1 repo=$2 tag=$3 name=$4 all=${5:-} d want got
	d=$work/pull-$name
	if sk copy --src-tls-verify=false $all "docker://$host/$repo:$tag" "dir:$d" \
	    >"$work/$name.log" 2>&1; then
		pass "pull/$name"
	else
		fail "pull/$name" "$(tail -2 "$work/$name.log")"
		return
	fi
	want=$(lab_json "$(tsel "$repo" "$tag") | .signed_digest")
	if [ -n "$all" ] || [ "$(lab_json "$(tsel "$repo" "$tag") | .children // [] | length")" = 0 ]; then
		got=sha256:$(sha256sum "$d/manifest.json" | cut -d' ' -f1)
		check_eq "pull/$name/manifest-is-signed-digest" "$want" "$got"
	else
		# one platform of a signed list: the amd64 child it lists
		want=$(lab_json "$(tsel "$repo" "$tag") | .children[] | select(.platform == \"linux/amd64\") | .digest")
		got=sha256:$(sha256sum "$d/manifest.json" | cut -d' ' -f1)
		check_eq "pull/$name/manifest-is-signed-child" "$want" "$got"
	fi
}

pull "$PROXY" library/alpine signed gw-signed
pull "$PROXY" library/alpine oci gw-oci
pull "$PROXY" library/alpine multi gw-multi
pull "$PROXY" library/alpine multi gw-multi-all --all
pull "$PROXY" team/app signed gw-delegation
pull "$PROXY" library/big latest gw-big
pull "$MIRROR" library/alpine signed mirror-signed
pull "$MIRROR" library/alpine multi mirror-multi
pull "$MIRROR" team/app signed mirror-delegation

# moved: the registry's tag now points elsewhere; we serve what was signed.
moved_signed=$(lab_json "$(tsel library/alpine moved) | .signed_digest")
moved_reg=$(lab_json "$(tsel library/alpine moved) | .registry_digest")
pull "$PROXY" library/alpine moved gw-moved
if [ "$moved_signed" != "$moved_reg" ]; then pass moved/lab-really-moved; else fail moved/lab-really-moved; fi

# refusals
refused() {	# NAME WANT-IN-MESSAGE skopeo-args...
	local name=$1 want=$2; shift 2
	if sk copy --src-tls-verify=false "$@" "dir:$work/refused-$name" >"$work/r-$name.log" 2>&1; then
		fail "refused/$name" "the pull succeeded"
	else
		check_contains "refused/$name" "$(cat "$work/r-$name.log")" "$want"
	fi
}
refused unsigned-tag "denied: no trust signature found for $PROXY/library/alpine:unsigned" \
	"docker://$PROXY/library/alpine:unsigned"
refused no-trust-data "denied: no trust data available for repository $PROXY/library/nosig." \
	"docker://$PROXY/library/nosig:latest"
unsigned_digest=$(lab_json "$(tsel library/alpine unsigned) | .registry_digest")
refused unsigned-by-digest "denied: no trust signature found" \
	"docker://$PROXY/library/alpine@$unsigned_digest"
refused mirror-unsigned "denied: no trust signature found for docker.io/library/alpine:unsigned" \
	"docker://$MIRROR/library/alpine:unsigned"

# a blob of the unsigned image (its layer), by digest
ublob=$(lab_json "$(tsel library/alpine unsigned) | .blobs[-1]")
out=$(curl -s -w ' %{http_code}' "http://$PROXY/v2/library/alpine/blobs/$ublob")
check_contains refused/unsigned-blob "$out" '"code":"DENIED"'
check_contains refused/unsigned-blob-403 "$out" ' 403'
check_contains refused/unsigned-blob-reason "$out" "is not referenced by any signed manifest"
# a blob of a signed image passes, with the registry's bytes
sblob=$(lab_json "$(tsel library/alpine signed) | .blobs[-1]")
got=sha256:$(curl -s "http://$PROXY/v2/library/alpine/blobs/$sblob" | sha256sum | cut -d' ' -f1)
check_eq blob/signed-layer-bytes "$sblob" "$got"

# HEAD by tag: the signed digest, no body, the signed length
hdr=$(curl -sI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"http://$PROXY/v2/library/alpine/manifests/moved" | tr -d '\r')
check_contains head/moved-digest "$hdr" "Docker-Content-Digest: $moved_signed"
check_eq head/moved-length "$(lab_json "$(tsel library/alpine moved) | .size")" "$(header Content-Length "$hdr")"

# pushes are refused
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
	--data '{}' "http://$PROXY/v2/library/alpine/manifests/evil")
check_eq push/put-manifest-405 405 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$PROXY/v2/library/alpine/blobs/uploads/")
check_eq push/post-upload-405 405 "$code"

# bad names, tags and digests are refused before anything else
check_eq parse/bad-name 400 "$(curl -s -o /dev/null -w '%{http_code}' "http://$PROXY/v2/Library/alpine/manifests/signed")"
check_eq parse/bad-tag 400 "$(curl -s -o /dev/null -w '%{http_code}' "http://$PROXY/v2/library/alpine/manifests/.x")"
check_eq parse/bad-digest 400 "$(curl -s -o /dev/null -w '%{http_code}' "http://$PROXY/v2/library/alpine/manifests/sha512:00")"

# audit: exactly one decision line per manifest request
p=/v2/library/alpine/manifests/oci
before=$(audit_lines "$p")
for i in 1 2 3; do curl -s -o /dev/null "http://$PROXY$p"; curl -s -o /dev/null -I "http://$PROXY$p"; done
check_eq audit/one-line-per-manifest-request $((before + 6)) "$(audit_lines "$p")"
p=/v2/library/alpine/manifests/unsigned
before=$(audit_lines "$p")
for i in 1 2; do curl -s -o /dev/null "http://$PROXY$p"; done
check_eq audit/one-line-per-denied-request $((before + 2)) "$(audit_lines "$p")"
line=$(grep '"path":"/v2/library/alpine/manifests/moved"' "$work/audit.log" | head -1)
check_contains audit/fields-decision "$line" '"decision":"allow"'
check_contains audit/fields-digest "$line" "\"digest\":\"$moved_signed\""
check_contains audit/fields-role "$line" '"role":"targets"'
check_contains audit/fields-gun "$line" "\"gun\":\"$LAB_REGISTRY/library/alpine\""
line=$(grep '"path":"/v2/library/alpine/manifests/unsigned"' "$work/audit.log" | head -1)
check_contains audit/deny-reason "$line" '"reason":"not-signed"'
line=$(grep "\"path\":\"/v2/library/alpine/blobs/$sblob\"" "$work/audit.log" | tail -1)
check_eq audit/blob-line-bytes "$(curl -s "http://$PROXY/v2/library/alpine/blobs/$sblob" | wc -c)" \
	"$(printf '%s' "$line" | jq -r .bytes)"
if jq -e . "$work/audit.log" >/dev/null 2>&1; then pass audit/every-line-is-json; else fail audit/every-line-is-json; fi

# tags/list passes through (what the registry lists, signed or not)
body=$(curl -s -w ' %{http_code}' "http://$PROXY/v2/library/alpine/tags/list")
check_eq tags-list-200 200 "${body##* }"
check_eq tags-list-is-the-registrys "$(curl -s "$LAB_REGISTRY_URL/v2/library/alpine/tags/list" | jq -c '.tags | sort')" \
	"$(printf '%s' "${body% *}" | jq -c '.tags | sort')"

# the proxy stops cleanly on SIGTERM, without a sanitizer report
proxy_stop_clean "$PROXY_PID" "$work/serve.log"
exit 0
