#!/usr/bin/env bash
# dctproxy serve as an operator runs it, against the lab:
#   - a plain and a TLS listener; skopeo pulls over TLS with the CA pinned;
#   - a TLS ClientHello on the plain port (dockerd's first try) does not
#     hurt it;
#   - healthcheck command, /healthz, /readyz;
#   - SIGHUP to permissive: unsigned passes, audited "allow-permissive",
#     with every Accept line the client sent forwarded (the registry's own
#     digest comes back, not a schema1 conversion);
#   - SIGHUP with a broken file keeps the running config;
#   - SIGUSR1 reopens a rotated audit log;
#   - SIGTERM during a slow blob download: the download completes, then the
#     proxy exits 0.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_lab

work_dir 30ops

P1=$(free_port)
P2=$(free_port)
while [ "$P2" = "$P1" ]; do P2=$(free_port); done
ids=$(lab_json '[.repos[].root_key_ids | to_entries[] | .value[]] | unique')
mkdir -p "$work/state" "$work/certs"
cp "$LAB_CA" "$work/certs/ca.crt"

config() {	# MODE [RULES-JSON]
	jq -n --argjson rules "${2:-[]}" --arg p1 "127.0.0.1:$P1" --arg p2 "127.0.0.1:$P2" --arg state "$work/state" \
		--arg audit "$work/audit.log" --arg up "$LAB_REGISTRY_URL" --arg reg "$LAB_REGISTRY" \
		--arg nurl "$LAB_NOTARY_URL" --arg ca "$LAB_CA" --argjson ids "$ids" \
		--arg crt "$LAB_SERVER_CERT" --arg key "$LAB_SERVER_KEY" --arg mode "$1" '{
		listeners: [{address: $p1}, {address: $p2, tls: {certificate: $crt, key: $key}}],
		state_dir: $state,
		audit: {path: $audit},
		timeouts: {shutdown_grace_seconds: 20},
		registries: [
			{name: $p1, upstream: $up, gun_prefix: $reg, notary: {url: $nurl, ca: $ca}},
			{name: $p2, upstream: $up, gun_prefix: $reg, notary: {url: $nurl, ca: $ca}}
		],
		"content-trust": {mode: $mode, "trust-pinning": {
			"root-keys": {($reg + "/*"): $ids}, "official-library-images": false}},
		repositories: $rules
	}'
}
config enforced >"$work/config.json"

proxy_start "$work/config.json" "$work/serve.log" "$P1" "$P2"

tsel() { echo ".repos[] | select(.repo == \"$1\") | .tags[] | select(.tag == \"$2\")"; }
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
wait_log() {	# TEXT: until serve.log contains TEXT (5 s)
	local i
	for i in $(seq 1 50); do
		grep -qF "$1" "$work/serve.log" && return 0
		sleep 0.1
	done
	return 1
}

# TLS listener, CA pinned
if skopeo --policy "$LAB_SKOPEO_POLICY" copy --src-cert-dir "$work/certs" \
    "docker://127.0.0.1:$P2/library/alpine:signed" "dir:$work/tls-pull" >"$work/tls.log" 2>&1; then
	check_eq tls/pull-signed "$(lab_json "$(tsel library/alpine signed) | .signed_digest")" \
		"sha256:$(sha256sum "$work/tls-pull/manifest.json" | cut -d' ' -f1)"
else
	fail tls/pull-signed "$(tail -2 "$work/tls.log")"
fi
check_eq tls/healthz 200 "$(code --cacert "$LAB_CA" "https://127.0.0.1:$P2/healthz")"

# a TLS handshake on the plain port, as dockerd tries first
timeout 5 openssl s_client -connect "127.0.0.1:$P1" </dev/null >"$work/sclient.log" 2>&1
check_eq plain/survives-client-hello 200 "$(code "http://127.0.0.1:$P1/v2/")"

# health
if "$DCTPROXY" healthcheck -c "$work/config.json" >/dev/null 2>&1; then pass healthcheck/config; else fail healthcheck/config; fi
if "$DCTPROXY" healthcheck --url "http://127.0.0.1:$P1/healthz" >/dev/null 2>&1; then pass healthcheck/url; else fail healthcheck/url; fi
if "$DCTPROXY" healthcheck --url "http://127.0.0.1:1/healthz" >/dev/null 2>&1; then
	fail healthcheck/down-is-failure
else
	pass healthcheck/down-is-failure
fi
ready=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$P1/readyz")
check_contains readyz/ready "$ready" '"ready":true'
check_contains readyz/200 "$ready" ' 200'

# enforced: unsigned refused
check_eq enforced/unsigned-403 403 "$(code "http://127.0.0.1:$P1/v2/library/alpine/manifests/unsigned")"

# SIGHUP to permissive
config permissive >"$work/config.json"
kill -HUP "$PROXY_PID"
if wait_log "reloaded"; then pass reload/permissive; else fail reload/permissive "$(tail -3 "$work/serve.log")"; fi
unsigned_reg=$(lab_json "$(tsel library/alpine unsigned) | .registry_digest")
# six Accept lines as dockerd sends them, schema2 last: all must reach the registry
hdr=$(curl -s -D - -o /dev/null \
	-H 'Accept: application/json' \
	-H 'Accept: application/vnd.docker.distribution.manifest.v1+prettyjws' \
	-H 'Accept: application/vnd.oci.image.index.v1+json' \
	-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	-H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
	-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"http://127.0.0.1:$P1/v2/library/alpine/manifests/unsigned" | tr -d '\r')
check_contains permissive/unsigned-passes "$hdr" "HTTP/1.1 200"
check_contains permissive/all-accepts-forwarded "$hdr" "Docker-Content-Digest: $unsigned_reg"
line=$(grep '"path":"/v2/library/alpine/manifests/unsigned"' "$work/audit.log" | tail -1)
check_contains permissive/audit-decision "$line" '"decision":"allow-permissive"'
check_contains permissive/audit-reason "$line" '"reason":"not-signed"'

# SIGHUP with a broken file: the running (permissive) config stays
echo '{"listeners": 5}' >"$work/config.json"
kill -HUP "$PROXY_PID"
if wait_log "keeping the running configuration"; then pass reload/broken-reported; else fail reload/broken-reported; fi
check_eq reload/broken-keeps-old 200 "$(code "http://127.0.0.1:$P1/v2/library/alpine/manifests/unsigned")"
config enforced >"$work/config.json"
kill -HUP "$PROXY_PID"
sleep 0.5
check_eq reload/back-to-enforced 403 "$(code "http://127.0.0.1:$P1/v2/library/alpine/manifests/unsigned")"

# required signer roles: targets/releases for everything. team/app is signed
# there; library/alpine only in targets, so neither its tag nor its signed
# digest (a pull by digest must not bypass the policy) nor its blobs pass.
config enforced "[{\"match\": \"$LAB_REGISTRY/*\", \"required_roles\": [\"targets/releases\"]}]" \
	>"$work/config.json"
kill -HUP "$PROXY_PID"
sleep 0.5
check_eq roles/delegation-tag-passes 200 "$(code "http://127.0.0.1:$P1/v2/team/app/manifests/signed")"
check_eq roles/targets-only-tag-refused 403 "$(code "http://127.0.0.1:$P1/v2/library/alpine/manifests/signed")"
asig=$(lab_json "$(tsel library/alpine signed) | .signed_digest")
check_eq roles/targets-only-digest-refused 403 "$(code "http://127.0.0.1:$P1/v2/library/alpine/manifests/$asig")"
ablob=$(lab_json "$(tsel library/alpine signed) | .blobs[-1]")
check_eq roles/targets-only-blob-refused 403 "$(code "http://127.0.0.1:$P1/v2/library/alpine/blobs/$ablob")"
tsig=$(lab_json "$(tsel team/app signed) | .signed_digest")
check_eq roles/delegation-digest-passes 200 "$(code "http://127.0.0.1:$P1/v2/team/app/manifests/$tsig")"
config enforced >"$work/config.json"
kill -HUP "$PROXY_PID"
sleep 0.5

# SIGUSR1 after rotation
mv "$work/audit.log" "$work/audit.log.1"
kill -USR1 "$PROXY_PID"
if wait_log "audit log reopened"; then pass audit/reopened; else fail audit/reopened; fi
curl -s -o /dev/null "http://127.0.0.1:$P1/v2/library/alpine/manifests/signed"
if grep -q '"path":"/v2/library/alpine/manifests/signed"' "$work/audit.log" 2>/dev/null; then
	pass audit/new-file-written
else
	fail audit/new-file-written
fi

# SIGTERM while a slow download is in flight: it completes, then exit 0
skopeo --policy "$LAB_SKOPEO_POLICY" copy --src-tls-verify=false \
	"docker://127.0.0.1:$P1/library/big:latest" "dir:$work/big" >/dev/null 2>&1
bigblob=$(lab_json "$(tsel library/big latest) | .blobs[-1]")
curl -s --limit-rate 4M -o "$work/big.blob" "http://127.0.0.1:$P1/v2/library/big/blobs/$bigblob" &
cpid=$!
sleep 1
kill -TERM "$PROXY_PID"
crc=0
wait "$cpid" || crc=$?
check_eq sigterm/download-completes 0 "$crc"
check_eq sigterm/download-intact "$bigblob" "sha256:$(sha256sum "$work/big.blob" | cut -d' ' -f1)"
proxy_stopped "$PROXY_PID" "$work/serve.log"
exit 0
