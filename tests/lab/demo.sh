#!/usr/bin/env bash
# `make run`: start the integration lab in a temporary directory, show what
# it holds, and keep it running until Ctrl-C or SIGTERM, then stop it.
# Needs no TTY. LAB_DIR=/some/dir keeps the state there instead (not removed).
set -u
here=$(cd "$(dirname "$0")" && pwd)

if [ -n "${LAB_DIR:-}" ]; then
	dir=$LAB_DIR keep=1
	mkdir -p "$dir"
else
	dir=$(mktemp -d -t dctproxy-demo.XXXXXX) keep=0
fi

stopping=0 spid=
cleanup() {
	[ "$stopping" -eq 0 ] || return
	stopping=1
	[ -z "$spid" ] || kill "$spid" 2>/dev/null
	echo
	echo "demo: stopping the lab"
	bash "$here/lab.sh" stop "$dir"
	[ "$keep" -eq 1 ] || rm -rf "$dir"
}
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

echo "demo: starting the lab in $dir"
if ! bash "$here/lab.sh" start "$dir"; then
	echo "demo: the lab did not start" >&2
	exit 1
fi
echo
bash "$here/lab.sh" show "$dir"

# ---------------------------------------------------------------------------
# dctproxy in front of the lab, enforced, pinned to the lab's root key, in
# gateway mode (clients pull 127.0.0.1:PORT/repo:tag) and mirror mode (a
# docker daemon's registry-mirrors entry: Docker Hub names, GUN docker.io/...).
# Its PID file under $dir/pids is stopped by `lab.sh stop` with the rest.
# ---------------------------------------------------------------------------
# shellcheck disable=SC1091
. "$dir/lab.env"
bin=$here/../../build/dctproxy
port=5000
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
proxy=127.0.0.1:$port
mkdir -p "$dir/dctproxy-state"
bash "$here/lab.sh" proxy-config "$dir" "$proxy" "$dir/dctproxy-state" "$dir/audit.log" \
	>"$dir/dctproxy.json"
"$bin" check-config -c "$dir/dctproxy.json" || exit 1
"$bin" serve -c "$dir/dctproxy.json" >"$dir/logs/dctproxy.log" 2>&1 &
echo $! >"$dir/pids/dctproxy.pid"
for _ in $(seq 1 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
echo
echo "dctproxy listens on $proxy (config $dir/dctproxy.json, audit log $dir/audit.log)"
echo
echo "A signed image is pulled, with the signed digest:"
echo "  skopeo copy --src-tls-verify=false docker://$proxy/library/alpine:signed dir:/tmp/signed"
echo "An unsigned tag is refused with the reason:"
echo "  skopeo copy --src-tls-verify=false docker://$proxy/library/alpine:unsigned dir:/tmp/unsigned"
echo "A repository without trust data is refused:"
echo "  skopeo inspect --tls-verify=false docker://$proxy/library/nosig:latest"
echo "With a docker daemon, add \"insecure-registries\": [\"$proxy\"] to daemon.json, then:"
echo "  docker pull $proxy/library/alpine:signed     # pulled"
echo "  docker pull $proxy/library/alpine:unsigned   # denied: no trust signature found ..."
echo "As a mirror (daemon.json \"registry-mirrors\": [\"http://$proxy\"]) pulls of"
echo "library/alpine are verified against GUN docker.io/library/alpine."
echo "Every decision:  tail -f $dir/audit.log"
echo
echo "demo: running; Ctrl-C or SIGTERM (kill $$) stops it"
# Sleep in the background and wait, so that signals are handled at once.
while :; do
	sleep 3600 &
	spid=$!
	wait "$spid" 2>/dev/null
done
