#!/usr/bin/env bash
# The real clients through dctproxy: a private dockerd (vfs, no networking,
# its own containerd) pulls
#   - directly (gateway: `docker pull 127.0.0.1:PORT/repo:tag`, which also
#     makes dockerd try TLS on the plain port first): signed, list, OCI,
#     delegation and moved tags end up under the signed digest; unsigned and
#     no-trust-data are refused with the engine's words in the error;
#   - as a registry mirror (`docker pull alpine:signed` with registry-mirrors
#     = http://localhost:PORT, GUN docker.io/library/alpine); refusals are not
#     pulled through dockerd here, because dockerd would then fall back to
#     Docker Hub (outside the lab's network);
# and `ctr images pull --plain-http` (containerd's resolver: HEAD with one
# comma-joined Accept, no /v2/ ping) through the same proxy.
# Skipped when dockerd/ctr are not installed or we are not root.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_lab
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null || [ "$(id -u)" != 0 ]; then
	skip dockerd "dockerd/docker not installed, or not root"
	exit 0
fi

work=$(mktemp -d -t dctproxy-30docker.XXXXXX)
PROXY_PID=
DOCKERD_PID=
cleanup() {
	local i
	for pid in "$DOCKERD_PID" "$PROXY_PID"; do
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null
		for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	done
	grep -q " $work/" /proc/mounts 2>/dev/null || rm -rf "$work"
}
trap cleanup EXIT

PORT=$(free_port)
PROXY=127.0.0.1:$PORT
mkdir -p "$work/state"
bash "$TOP/tests/lab/lab.sh" proxy-config "$LAB_DIR" "$PROXY" "$work/state" "$work/audit.log" \
	>"$work/config.json"
proxy_start "$work/config.json" "$work/serve.log" "$PORT"

jq -n --arg d "$work/docker" --arg sock "unix://$work/docker.sock" --arg reg "$PROXY" \
	--arg mirror "http://localhost:$PORT" '{
	"data-root": ($d + "/data"), "exec-root": ($d + "/exec"), pidfile: ($d + "/docker.pid"),
	hosts: [$sock], "storage-driver": "vfs", iptables: false, "ip-masq": false,
	bridge: "none", "insecure-registries": [$reg], "registry-mirrors": [$mirror]}' \
	>"$work/daemon.json"
dockerd --config-file "$work/daemon.json" >"$work/dockerd.log" 2>&1 &
DOCKERD_PID=$!
D() { timeout 120 docker -H "unix://$work/docker.sock" "$@"; }
up=0
for i in $(seq 1 100); do
	if D version >/dev/null 2>&1; then up=1; break; fi
	kill -0 "$DOCKERD_PID" 2>/dev/null || break
	sleep 0.2
done
if [ $up = 0 ]; then
	skip dockerd "dockerd did not start here: $(tail -3 "$work/dockerd.log" | tr '\n' ' ')"
	exit 0
fi
pass dockerd-starts

tsel() { echo ".repos[] | select(.repo == \"$1\") | .tags[] | select(.tag == \"$2\")"; }
repo_digest() { D image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$1" 2>/dev/null | sed -n 's/.*@//p' | head -1; }

dpull() {	# NAME REF REPO TAG
	if D pull "$2" >"$work/$1.log" 2>&1; then
		check_eq "docker/$1" "$(lab_json "$(tsel "$3" "$4") | .signed_digest")" "$(repo_digest "$2")"
	else
		fail "docker/$1" "$(tail -2 "$work/$1.log")"
	fi
}
dpull gw-signed "$PROXY/library/alpine:signed" library/alpine signed
dpull gw-multi "$PROXY/library/alpine:multi" library/alpine multi
dpull gw-oci "$PROXY/library/alpine:oci" library/alpine oci
dpull gw-delegation "$PROXY/team/app:signed" team/app signed
dpull gw-moved "$PROXY/library/alpine:moved" library/alpine moved
dpull mirror-signed "alpine:signed" library/alpine signed
dpull mirror-multi "alpine:multi" library/alpine multi

out=$(D pull "$PROXY/library/alpine:unsigned" 2>&1)
check_contains docker/gw-unsigned-refused "$out" \
	"denied: no trust signature found for $PROXY/library/alpine:unsigned"
out=$(D pull "$PROXY/library/nosig:latest" 2>&1)
check_contains docker/gw-nosig-refused "$out" \
	"denied: no trust data available for repository $PROXY/library/nosig."
# A mirror refusal makes dockerd fall back to Docker Hub (network, so not here):
# ask the mirror the way dockerd does instead.
code=$(curl -s -o /dev/null -w '%{http_code}' -I -H "Host: localhost:$PORT" \
	"http://$PROXY/v2/library/alpine/manifests/unsigned")
check_eq docker/mirror-unsigned-refused 403 "$code"
check_contains docker/mirror-unsigned-audited "$(grep '"path":"/v2/library/alpine/manifests/unsigned"' "$work/audit.log")" \
	'"gun":"docker.io/library/alpine","decision":"deny"'
# (the TLS-first attempt on the gateway's plain port is expected and not a mirror fallback)
if grep 'Attempting next endpoint' "$work/dockerd.log" | grep -q "localhost:$PORT"; then
	fail docker/mirror-never-fell-back "$(grep 'Attempting next endpoint' "$work/dockerd.log" | head -2)"
else
	pass docker/mirror-never-fell-back
fi

# containerd's resolver
S=$work/docker/exec/containerd/containerd.sock
if command -v ctr >/dev/null && [ -S "$S" ]; then
	C() { timeout 120 ctr --address "$S" -n dctproxy-test "$@"; }
	for t in signed multi moved; do
		if C images pull --plain-http "$PROXY/library/alpine:$t" >"$work/ctr-$t.log" 2>&1; then
			got=$(C images ls | awk -v r="$PROXY/library/alpine:$t" '$1 == r {print $3}')
			check_eq "ctr/$t" "$(lab_json "$(tsel library/alpine "$t") | .signed_digest")" "$got"
		else
			fail "ctr/$t" "$(tail -2 "$work/ctr-$t.log")"
		fi
	done
	out=$(C images pull --plain-http "$PROXY/library/alpine:unsigned" 2>&1)
	check_contains ctr/unsigned-refused "$out" "403 Forbidden"
else
	skip ctr "no ctr or no containerd socket at $S"
fi

proxy_stop_clean "$PROXY_PID" "$work/serve.log"
exit 0
