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
# PROXY: start dctproxy here once it exists, pointed at the lab, e.g.
#   "$here/../../dctproxy" --config ... &  echo $! >"$dir/pids/dctproxy.pid"
# (a PID file under $dir/pids is stopped by `lab.sh stop` with the rest).
# ---------------------------------------------------------------------------

echo
echo "Try:"
echo "  . $dir/lab.env"
echo "  skopeo inspect --tls-verify=false docker://\$LAB_REGISTRY/library/alpine:signed"
echo "  notary -c \$LAB_NOTARY_CLIENT_CONFIG lookup docker.io/library/alpine signed"
echo
echo "demo: running; Ctrl-C or SIGTERM (kill $$) stops it"
# Sleep in the background and wait, so that signals are handled at once.
while :; do
	sleep 3600 &
	spid=$!
	wait "$spid" 2>/dev/null
done
