#!/usr/bin/env bash
# dctproxy side-by-side benchmark (`make bench`). NOT a test: it prints
# figures and ratios against the targets, it never fails on timing. It exits
# non-zero only when a component cannot be started or dctproxy stops serving.
#
# In one run, all on 127.0.0.1 in a temp dir:
#   - the integration lab (tests/lab/lab.sh, LAB_LOG_LEVEL=error);
#   - a 512 MiB deterministic blob pushed into library/big, a manifest
#     library/big:bench referencing it, signed with the lab's notary client;
#   - dctproxy (build/dctproxy, the -O2 build) in gateway mode, pinned to
#     the lab's root keys, enforced;
#   - nginx proxy_pass in front of the same registry (tests/bench/nginx-proxy.conf);
#   - nginx serving the manifest bytes as a static file (nginx-static.conf).
# Both nginx run one worker process; dctproxy is single-threaded too.
#
# Measures: warm GET manifest by tag (wrk, 64 connections, 2 threads,
# BENCH_SECONDS each, six Accept lines as dockerd), HEAD manifest (curl
# --parallel, 64 at once, fixed count), blob download MB/s with 1 and 8
# clients, dctproxy VmRSS during the 8-client run and VmHWM after.
# Results: stdout and build/bench-results.txt.
#
# Knobs: BENCH_SECONDS (10), BENCH_HEAD_COUNT (10000), BENCH_BLOB_MIB (512),
# BENCH_BLOB_ROUNDS (10),
# BENCH_PARTS (which measurements: "manifest head blob"), BENCH_KEEP=1 keeps
# the temp dir.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
DCTPROXY=${DCTPROXY:-$root/build/dctproxy}
RESULTS=$root/build/bench-results.txt
SECS=${BENCH_SECONDS:-10}
HEAD_COUNT=${BENCH_HEAD_COUNT:-10000}
BLOB_MIB=${BENCH_BLOB_MIB:-512}
PARTS=" ${BENCH_PARTS:-manifest head blob} "
part() { case $PARTS in *" $1 "*) return 0 ;; esac; return 1; }
CONNS=64
THREADS=2

say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in wrk nginx curl jq openssl sha256sum notary; do
	command -v "$tool" >/dev/null || die "missing tool: $tool (run make deps-bench)"
done
[ -x "$DCTPROXY" ] || die "no $DCTPROXY (run make all)"

W=$(mktemp -d -t dctproxy-bench.XXXXXX)
chmod 755 "$W"	# nginx workers run as nobody and read the static root
LAB=$W/lab
PIDS=()	# PIDs we started (besides the lab's, which lab.sh stop handles)
SAMPLER=
FAILED=0

cleanup() {
	local rc=$? p
	if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2>/dev/null || true; fi
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	bash "$root/tests/lab/lab.sh" stop "$LAB" >/dev/null 2>&1 || true
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
		say "work dir kept: $W"
		rm -f "$W/blob.bin"
	else
		rm -rf "$W"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	local p
	while :; do
		p=$(( (RANDOM % 5000) + 10000 ))	# as tests/lib.sh: below the lab's and the ephemeral ports
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
wait_port() {	# PORT PID SECONDS
	local i
	for i in $(seq 1 $(( $3 * 10 ))); do
		kill -0 "$2" 2>/dev/null || return 1
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%s\", $1 }"; }

T0=$(now)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------
# 1. The lab.
say "starting the lab (LAB_LOG_LEVEL=error) in $LAB"
LAB_LOG_LEVEL=error timeout 180 bash "$root/tests/lab/lab.sh" start "$LAB" >"$W/lab-start.log" 2>&1 ||
	{ tail -n 30 "$W/lab-start.log" >&2; die "the lab did not start"; }
# shellcheck disable=SC1091
. "$LAB/lab.env"
REG=$LAB_REGISTRY_URL

# ---------------------------------------------------------------------------
# 2. The big blob, its manifest library/big:bench, signed.
REPO=library/big
TAG=bench
GUN=$LAB_REGISTRY/$REPO
say "creating a ${BLOB_MIB} MiB blob (AES-128-CTR of zeros, fixed key) and pushing it"
head -c $(( BLOB_MIB * 1048576 )) /dev/zero |
	openssl enc -aes-128-ctr -nosalt -K 00000000000000000000000000000000 \
		-iv 00000000000000000000000000000000 >"$W/blob.bin"
BLOB_SIZE=$(stat -c %s "$W/blob.bin")
BLOB=sha256:$(sha256sum "$W/blob.bin" | cut -d' ' -f1)

push_blob() {	# FILE DIGEST
	local loc code
	loc=$(curl -fsS -X POST -D - -o /dev/null "$REG/v2/$REPO/blobs/uploads/" |
		tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	[ -n "$loc" ] || die "blob upload: no Location from POST /v2/$REPO/blobs/uploads/"
	case $loc in /*) loc=$REG$loc ;; esac
	case $loc in *\?*) loc="$loc&digest=$2" ;; *) loc="$loc?digest=$2" ;; esac
	code=$(curl -sS -o "$W/upload.out" -w '%{http_code}' -X PUT \
		-H 'Content-Type: application/octet-stream' --data-binary "@$1" "$loc")
	[ "$code" = 201 ] || die "blob upload PUT of $2: HTTP $code: $(head -c 300 "$W/upload.out")"
}
# --data-binary @file reads the whole file into memory; use -T for the big one.
push_big() {
	local loc code
	loc=$(curl -fsS -X POST -D - -o /dev/null "$REG/v2/$REPO/blobs/uploads/" |
		tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	case $loc in /*) loc=$REG$loc ;; esac
	case $loc in *\?*) loc="$loc&digest=$BLOB" ;; *) loc="$loc?digest=$BLOB" ;; esac
	code=$(curl -sS -o "$W/upload.out" -w '%{http_code}' -T "$W/blob.bin" \
		-H 'Content-Type: application/octet-stream' "$loc")
	[ "$code" = 201 ] || die "big blob upload: HTTP $code: $(head -c 300 "$W/upload.out")"
}
push_big
rm -f "$W/blob.bin"

printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
	"$BLOB" >"$W/config.json"
CFG=sha256:$(sha256sum "$W/config.json" | cut -d' ' -f1)
push_blob "$W/config.json" "$CFG"
printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%d,"digest":"%s"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%d,"digest":"%s"}]}' \
	"$(stat -c %s "$W/config.json")" "$CFG" "$BLOB_SIZE" "$BLOB" >"$W/manifest.json"
MAN=sha256:$(sha256sum "$W/manifest.json" | cut -d' ' -f1)
MAN_SIZE=$(stat -c %s "$W/manifest.json")
code=$(curl -sS -o "$W/upload.out" -w '%{http_code}' -X PUT \
	-H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' \
	--data-binary "@$W/manifest.json" "$REG/v2/$REPO/manifests/$TAG")
[ "$code" = 201 ] || die "manifest PUT: HTTP $code: $(head -c 300 "$W/upload.out")"
say "signing $GUN:$TAG ($MAN) with the lab's notary client"
{
	notary -c "$LAB_NOTARY_CLIENT_CONFIG" addhash "$GUN" "$TAG" "$MAN_SIZE" --sha256 "${MAN#sha256:}" &&
		notary -c "$LAB_NOTARY_CLIENT_CONFIG" publish "$GUN"
} >"$W/notary-sign.log" 2>&1 || { cat "$W/notary-sign.log" >&2; die "signing $GUN:$TAG failed"; }

# ---------------------------------------------------------------------------
# 3. dctproxy, nginx proxy, nginx static.
P_DCT=$(free_port)
ids=$(jq -c '[.repos[].root_key_ids | to_entries[] | .value[]] | unique' "$LAB_JSON")
mkdir -p "$W/dct/state"
jq -n --arg addr "127.0.0.1:$P_DCT" --arg state "$W/dct/state" --arg audit "$W/dct/audit.log" \
	--arg up "$REG" --arg reg "$LAB_REGISTRY" --arg nurl "$LAB_NOTARY_URL" \
	--arg ca "$LAB_CA" --argjson ids "$ids" '{
	listeners: [{address: $addr}],
	state_dir: $state,
	audit: {path: $audit},
	timeouts: {request_seconds: 600},
	registries: [{name: $addr, upstream: $up, gun_prefix: $reg, notary: {url: $nurl, ca: $ca}}],
	"content-trust": {mode: "enforced", "trust-pinning": {"root-keys": {($reg + "/*"): $ids}}}
}' >"$W/dct/config.json"
"$DCTPROXY" serve -c "$W/dct/config.json" >"$W/dct/serve.log" 2>&1 </dev/null &
DCT_PID=$!
PIDS+=("$DCT_PID")
wait_port "$P_DCT" "$DCT_PID" 10 ||
	{ tail -n 20 "$W/dct/serve.log" >&2; die "dctproxy is not listening on 127.0.0.1:$P_DCT"; }

start_nginx() {	# NAME TEMPLATE PORT -> sets NGX_PID
	local d=$W/$1
	mkdir -p "$d/tmp" "$d/static"
	sed -e "s|@DIR@|$d|g" -e "s|@PORT@|$3|g" -e "s|@UPSTREAM@|$LAB_REGISTRY|g" \
		"$here/$2" >"$d/nginx.conf"
	chmod -R a+rwX "$d"
	nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf" >"$d/stdout.log" 2>&1 </dev/null &
	NGX_PID=$!
	PIDS+=("$NGX_PID")
	wait_port "$3" "$NGX_PID" 10 ||
		{ cat "$d/error.log" "$d/stdout.log" >&2 2>/dev/null; die "nginx ($1) did not start"; }
}
P_NGX=$(free_port)
start_nginx nginx-proxy nginx-proxy.conf "$P_NGX"
# The worker does the proxying; its CPU time is compared with dctproxy's.
NGX_WORKER=
for _ in $(seq 1 20); do
	NGX_WORKER=$(pgrep -P "$NGX_PID" | head -n 1 || true)
	[ -z "$NGX_WORKER" ] || break
	sleep 0.1
done
P_STA=$(free_port)
mkdir -p "$W/nginx-static/static/v2/library/alpine/manifests"
curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	-o "$W/nginx-static/static/v2/library/alpine/manifests/signed" "$REG/v2/library/alpine/manifests/signed"
start_nginx nginx-static nginx-static.conf "$P_STA"

DCT=127.0.0.1:$P_DCT NGX=127.0.0.1:$P_NGX STA=127.0.0.1:$P_STA
MPATH=/v2/library/alpine/manifests/signed
ACCEPT=(-H 'Accept: application/vnd.docker.distribution.manifest.v2+json'
	-H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json'
	-H 'Accept: application/vnd.oci.image.index.v1+json'
	-H 'Accept: application/vnd.oci.image.manifest.v1+json'
	-H 'Accept: application/vnd.docker.distribution.manifest.v1+prettyjws'
	-H 'Accept: application/json')

dct_alive() {
	kill -0 "$DCT_PID" 2>/dev/null && return 0
	FAILED=1
	say "dctproxy (PID $DCT_PID) is gone; last lines of its log:"
	tail -n 30 "$W/dct/serve.log" >&2
	return 1
}

# Warm-up: pull both manifests through dctproxy (verifies the trust data,
# fills the verified cache, records the big blob as referenced).
DCT_OK=1
warm() {	# PATH WANT-DIGEST
	local out code got
	out=$(curl -sS -D "$W/warm.hdr" -o "$W/warm.body" -w '%{http_code}' "${ACCEPT[@]}" "http://$DCT$1") || true
	code=$out
	got=$(tr -d '\r' <"$W/warm.hdr" | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
	if [ "$code" != 200 ] || [ "$got" != "$2" ]; then
		say "dctproxy warm-up GET $1: HTTP $code, digest '$got' (want $2): $(head -c 400 "$W/warm.body")"
		DCT_OK=0 FAILED=1
	fi
}
SIGNED=$(jq -r '.repos[] | select(.repo == "library/alpine") | .tags[] | select(.tag == "signed") | .signed_digest' "$LAB_JSON")
warm "$MPATH" "$SIGNED"
warm "/v2/$REPO/manifests/$TAG" "$MAN"
warm "$MPATH" "$SIGNED"	# now from the cache
dct_alive || DCT_OK=0
if [ $DCT_OK = 0 ]; then
	say "dctproxy failed the warm-up; its figures are not measured. Log tail:"
	tail -n 30 "$W/dct/serve.log" >&2
fi
T_SETUP=$(now)
say "set up in $(calc "$T_SETUP - $T0") s: dctproxy $DCT (PID $DCT_PID), nginx proxy $NGX, nginx static $STA, registry $LAB_REGISTRY"

# ---------------------------------------------------------------------------
# 4. Warm GET manifest (wrk).
declare -A RPS P99 P50 NOTE
run_wrk() {	# NAME HOSTPORT
	local name=$1 hp=$2 line
	say "wrk GET $MPATH via $name: $CONNS connections, $THREADS threads, ${SECS}s"
	timeout $(( SECS + 30 )) wrk -t "$THREADS" -c "$CONNS" -d "${SECS}s" --timeout 5s \
		-s "$here/manifest.lua" "http://$hp$MPATH" -- "$hp" "$MPATH" >"$W/wrk-$name.out" 2>&1 || true
	line=$(grep '^BENCH ' "$W/wrk-$name.out" || true)
	if [ -z "$line" ]; then
		RPS[$name]=- P99[$name]=- P50[$name]=- NOTE[$name]="wrk failed: $(tail -n 3 "$W/wrk-$name.out" | tr '\n' ' ')"
		return
	fi
	kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $line"; }
	RPS[$name]=$(kv rps)
	P99[$name]=$(calc "$(kv p99_us) / 1000")
	P50[$name]=$(calc "$(kv p50_us) / 1000")
	local errs
	errs=$(( $(kv err_connect) + $(kv err_read) + $(kv err_write) + $(kv err_timeout) + $(kv err_status) ))
	NOTE[$name]=""
	[ "$errs" = 0 ] || NOTE[$name]="ERRORS: connect $(kv err_connect) read $(kv err_read) write $(kv err_write) timeout $(kv err_timeout) non-2xx $(kv err_status)"
}
if part manifest; then
	if [ $DCT_OK = 1 ]; then run_wrk dctproxy "$DCT"; dct_alive || DCT_OK=0; fi
	run_wrk nginx-proxy "$NGX"
	run_wrk nginx-static "$STA"
fi

# ---------------------------------------------------------------------------
# 5. HEAD manifest: Debian's wrk 4.1.0 never completes a HEAD, so curl
# --parallel (64 at once, HTTP/1.1 keep-alive, one process) sends a fixed
# count; req/s = count / wall time. curl's own CPU shares the 2 cores, so
# this is a lower bound on the server's capacity, comparable only between
# the three targets of this run.
declare -A HRPS HNOTE
run_head() {	# NAME HOSTPORT
	local name=$1 hp=$2 i t0 t1 ok
	say "HEAD $MPATH via $name: $HEAD_COUNT requests, 64 in parallel (curl)"
	: >"$W/head-$name.cfg"
	for i in $(seq 1 "$HEAD_COUNT"); do
		printf 'url = "http://%s%s"\noutput = "/dev/null"\n' "$hp" "$MPATH"
	done >>"$W/head-$name.cfg"
	t0=$(now)
	timeout 120 curl -sS -Z --parallel-max 64 -I --max-time 10 "${ACCEPT[@]}" \
		-w '%{http_code}\n' -K "$W/head-$name.cfg" >"$W/head-$name.out" 2>"$W/head-$name.err" || true
	t1=$(now)
	ok=$(grep -c '^200$' "$W/head-$name.out" || true)
	HRPS[$name]=$(calc "$ok / ($t1 - $t0)")
	HNOTE[$name]=""
	[ "$ok" = "$HEAD_COUNT" ] || HNOTE[$name]="only $ok of $HEAD_COUNT answered 200 ($(sort "$W/head-$name.out" | uniq -c | tr -s ' \n' ' '))"
	HRPS[$name]=$(calc "int(${HRPS[$name]} * 10 + 0.5) / 10")
}
if part head; then
	if [ $DCT_OK = 1 ]; then run_head dctproxy "$DCT"; dct_alive || DCT_OK=0; fi
	run_head nginx-proxy "$NGX"
	run_head nginx-static "$STA"
fi

# ---------------------------------------------------------------------------
# 6. Blob throughput, 1 and 8 clients; dctproxy RSS sampled during 8 clients.
declare -A MBS MBS_R BNOTE BCPU BTICKS BBYTES BWALL
# Each figure is the median of BLOB_ROUNDS rounds, the targets interleaved
# within a round: one 512 MiB download takes half a second, too short for
# one sample to stand for the machine.
BLOB_ROUNDS=${BENCH_BLOB_ROUNDS:-10}
median() {	# numbers -> their median
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
		else print int((v[NR / 2] + v[NR / 2 + 1]) / 2 + 0.5) }'
}
BPATH=/v2/$REPO/blobs/$BLOB
cpu_ticks() {	# PID -> utime + stime in clock ticks
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo $(( ${12} + ${13} ))
}
HZ=$(getconf CLK_TCK)
run_blob() {	# NAME HOSTPORT CLIENTS
	local name=$1 hp=$2 n=$3 i t0 t1 bad=0 total=0 pids=() code size c0=0 cpid=
	say "blob $BLOB_MIB MiB via $name, $n client(s)"
	case $name in dctproxy) cpid=$DCT_PID ;; nginx-proxy) cpid=$NGX_WORKER ;; esac
	[ -z "$cpid" ] || c0=$(cpu_ticks "$cpid")
	t0=$(now)
	for i in $(seq 1 "$n"); do
		curl -sS -o /dev/null --max-time 300 -w '%{http_code} %{size_download}\n' \
			"http://$hp$BPATH" >"$W/blob-$name-$n-$i.out" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || true; done
	t1=$(now)
	for i in $(seq 1 "$n"); do
		read -r code size <"$W/blob-$name-$n-$i.out" || { code=err size=0; }
		if [ "$code" = 200 ] && [ "$size" = "$BLOB_SIZE" ]; then
			total=$(( total + size ))
		else
			bad=$(( bad + 1 ))
			BNOTE[$name-$n]="client $i: $(head -c 200 "$W/blob-$name-$n-$i.out")"
		fi
	done
	MBS_R[$name-$n]="${MBS_R[$name-$n]:-} $(calc "int($total / 1000000 / ($t1 - $t0) + 0.5)")"
	if [ -n "$cpid" ]; then
		# CPU time per GB moved, summed over the rounds: less sensitive to other load than MB/s
		BTICKS[$name-$n]=$(( ${BTICKS[$name-$n]:-0} + $(cpu_ticks "$cpid") - c0 ))
		BBYTES[$name-$n]=$(( ${BBYTES[$name-$n]:-0} + total ))
		BWALL[$name-$n]=$(calc "${BWALL[$name-$n]:-0} + $t1 - $t0")
	fi
	[ $bad = 0 ] || BNOTE[$name-$n]="$bad of $n downloads failed; ${BNOTE[$name-$n]}"
}
# VmRSS of PID every 0.1 s, appended to FILE until stopped (every round's
# 8-client run adds to it). Shell builtins only, one fork (sleep) per
# sample, and run alike for dctproxy and the nginx worker: the sampler's
# CPU must not tilt the comparison on 2 cores.
rss_sampler_start() {	# PID FILE
	( while [ -e "/proc/$1" ]; do
		while read -r k v _; do
			[ "$k" = VmRSS: ] && echo "$v"
		done <"/proc/$1/status" 2>/dev/null
		sleep 0.1
	done ) >>"$2" &
	SAMPLER=$!
}
rss_sampler_stop() {
	kill "$SAMPLER" 2>/dev/null || true
	wait "$SAMPLER" 2>/dev/null || true
	SAMPLER=
}
rss_max() {	# FILE: the largest sample (KiB), or - without one
	local m
	m=$(sort -n "$1" 2>/dev/null | tail -n 1)
	echo "${m:--}"
}
HWM_KB=-
blob_dctproxy() {	# CLIENTS
	local n=$1
	if [ $DCT_OK = 1 ]; then
		[ "$n" != 8 ] || rss_sampler_start "$DCT_PID" "$W/rss.samples"
		run_blob dctproxy "$DCT" "$n"
		[ "$n" != 8 ] || rss_sampler_stop
		if dct_alive; then
			HWM_KB=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$DCT_PID/status")
		else
			DCT_OK=0
		fi
	fi
}
blob_nginx() {	# CLIENTS
	local n=$1
	[ "$n" != 8 ] || [ -z "$NGX_WORKER" ] || rss_sampler_start "$NGX_WORKER" "$W/rss-nginx.samples"
	run_blob nginx-proxy "$NGX" "$n"
	[ "$n" != 8 ] || [ -z "$NGX_WORKER" ] || rss_sampler_stop
}
# The two proxies take turns going first (odd rounds dctproxy, even rounds
# nginx; with an even count of rounds each goes first as often), so neither
# always meets the machine in the same state. A 1-client download is short
# (half a second): each round runs two per proxy, in mirrored order (A B B
# A), for twice the samples at little cost.
for round in $(seq 1 "$BLOB_ROUNDS"); do
	for n in 1 8; do
		part blob || break
		say "round $round of $BLOB_ROUNDS"
		if [ $(( round % 2 )) = 1 ]; then
			blob_dctproxy "$n"; blob_nginx "$n"
			[ "$n" != 1 ] || { blob_nginx "$n"; blob_dctproxy "$n"; }
		else
			blob_nginx "$n"; blob_dctproxy "$n"
			[ "$n" != 1 ] || { blob_dctproxy "$n"; blob_nginx "$n"; }
		fi
		run_blob registry "$LAB_REGISTRY" "$n"
	done
done
RSS_MAX_KB=$(rss_max "$W/rss.samples")
NGX_RSS_KB=$(rss_max "$W/rss-nginx.samples")
for k in "${!MBS_R[@]}"; do
	# shellcheck disable=SC2086
	MBS[$k]=$(median ${MBS_R[$k]})
done
for k in "${!BTICKS[@]}"; do
	BCPU[$k]=$(awk -v t="${BTICKS[$k]}" -v hz="$HZ" -v w="${BWALL[$k]}" -v gb="$(calc "${BBYTES[$k]} / 1e9")" 'BEGIN {
		printf "%.2f s CPU per GB (%.1f s of %.1f s wall)", (gb > 0 ? t / hz / gb : 0), t / hz, w }')
done

# One more download through dctproxy, not timed: the bytes hash to the digest.
BLOB_CHECK="not checked"
if [ $DCT_OK = 1 ] && part blob; then
	got=sha256:$(curl -sS --max-time 300 "http://$DCT$BPATH" | sha256sum | cut -d' ' -f1)
	if [ "$got" = "$BLOB" ]; then BLOB_CHECK="bytes via dctproxy hash to $BLOB"
	else BLOB_CHECK="MISMATCH: bytes via dctproxy hash to $got, want $BLOB"; FAILED=1; fi
	dct_alive || DCT_OK=0
fi
AUDIT_LINES=$(wc -l <"$W/dct/audit.log" 2>/dev/null || echo 0)
AUDIT_BYTES=$(stat -c %s "$W/dct/audit.log" 2>/dev/null || echo 0)

# ---------------------------------------------------------------------------
# 7. Report.
ratio() {	# A B -> A/B with 2 decimals, or - when either is missing
	case "$1$2" in *-*|'') echo -; return ;; esac
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'
}
verdict() {	# VALUE OP LIMIT
	case "$1" in -|'') echo "not measured"; return ;; esac
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
		ok = (op == ">=") ? (v >= l) : (v <= l)
		print ok ? "meets target" : "BELOW target" }'
}
g() { local v=${1:-}; echo "${v:--}"; }
{
	echo "dctproxy benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -r)"
	echo "dctproxy $("$DCTPROXY" --version 2>&1 | head -n 1) ($DCTPROXY), git $(git -C "$root" rev-parse --short HEAD 2>/dev/null)$(git -C "$root" diff --quiet HEAD -- proxy trust certs config 2>/dev/null || echo ' +uncommitted changes')"
	echo "all on 127.0.0.1; load generators share the cores with the servers."
	echo "load average before the run: $LOAD0 (anything else running on the machine skews every figure)"
	echo "nginx: 1 worker process (dctproxy is single-threaded too); proxy: upstream keepalive 64,"
	echo "  proxy_http_version 1.1, proxy_buffers 8 256k, proxy_buffer_size 256k, proxy_max_temp_file_size 0, access_log off."
	echo "registry: docker-registry 2.8, log level error. dctproxy: gateway mode, enforced, audit log to a file."
	echo
	echo "Warm GET manifest by tag ($MPATH, six dockerd Accept lines), wrk -t$THREADS -c$CONNS -d${SECS}s:"
	printf '  %-14s %12s %10s %10s  %s\n' target req/s p50_ms p99_ms note
	for t in dctproxy nginx-proxy nginx-static; do
		printf '  %-14s %12s %10s %10s  %s\n' "$t" "$(g "${RPS[$t]:-}")" "$(g "${P50[$t]:-}")" \
			"$(g "${P99[$t]:-}")" "${NOTE[$t]:-}"
	done
	echo
	echo "HEAD manifest by tag, curl --parallel --parallel-max 64, $HEAD_COUNT requests (curl is single-threaded: a lower bound):"
	printf '  %-14s %12s  %s\n' target req/s note
	for t in dctproxy nginx-proxy nginx-static; do
		printf '  %-14s %12s  %s\n' "$t" "$(g "${HRPS[$t]:-}")" "${HNOTE[$t]:-}"
	done
	echo
	echo "Blob download, $BLOB_MIB MiB layer of $REPO:$TAG, curl -o /dev/null, MB/s (10^6 B/s, aggregate):"
	printf '  %-14s %10s %10s  %s\n' target 1-client 8-clients note
	for t in dctproxy nginx-proxy registry; do
		printf '  %-14s %10s %10s  %s\n' "$t" "$(g "${MBS[$t-1]:-}")" "$(g "${MBS[$t-8]:-}")" \
			"${BNOTE[$t-1]:-}${BNOTE[$t-8]:-}"
	done
	echo "  (registry = direct, no proxy: the upstream's own ceiling)"
	echo "  medians of $(( BLOB_ROUNDS * 2 )) downloads (1 client) and $BLOB_ROUNDS rounds (8 clients); every MB/s, 1 client | 8 clients:"
	for t in dctproxy nginx-proxy registry; do
		printf '    %-14s %s |%s\n' "$t" "${MBS_R[$t-1]:-}" "${MBS_R[$t-8]:-}"
	done
	for t in dctproxy nginx-proxy; do
		[ -z "${BCPU[$t-1]:-}${BCPU[$t-8]:-}" ] ||
			echo "  $t: 1 client ${BCPU[$t-1]:-?}; 8 clients ${BCPU[$t-8]:-?}"
	done
	echo "  check: $BLOB_CHECK"
	echo
	rss_mib=- hwm_mib=-
	[ "$RSS_MAX_KB" = - ] || [ -z "$RSS_MAX_KB" ] || rss_mib=$(calc "int($RSS_MAX_KB / 1024 * 10 + 0.5) / 10")
	[ "$HWM_KB" = - ] || [ -z "$HWM_KB" ] || hwm_mib=$(calc "int($HWM_KB / 1024 * 10 + 0.5) / 10")
	# VmRSS and VmHWM come from per-CPU cached counters and can disagree by
	# a few pages: the peak is the larger of the two.
	peak_mib=$(awk -v a="$rss_mib" -v b="$hwm_mib" 'BEGIN {
		if (a == "-" && b == "-") print "-"; else if (a == "-") print b; else if (b == "-") print a;
		else print (a + 0 > b + 0) ? a : b }')
	echo "dctproxy memory: max VmRSS sampled every 0.1 s during the 8-client blob run: $rss_mib MiB;"
	echo "  VmHWM (peak RSS over the whole run, incl. the manifest load) after it: $hwm_mib MiB"
	[ "$NGX_RSS_KB" = - ] || [ -z "$NGX_RSS_KB" ] ||
		echo "  nginx-proxy worker, for comparison: max VmRSS sampled alike during its 8-client run: $(calc "int($NGX_RSS_KB / 1024 * 10 + 0.5) / 10") MiB"
	echo "dctproxy audit log: $AUDIT_LINES lines, $(( AUDIT_BYTES / 1048576 )) MiB"
	echo
	r1=$(ratio "${RPS[dctproxy]:-}" "${RPS[nginx-proxy]:-}")
	r2=$(ratio "${RPS[dctproxy]:-}" "${RPS[nginx-static]:-}")
	r3=$(ratio "${MBS[dctproxy-1]:-}" "${MBS[nginx-proxy-1]:-}")
	r4=$(ratio "${MBS[dctproxy-8]:-}" "${MBS[nginx-proxy-8]:-}")
	h1=$(ratio "${HRPS[dctproxy]:-}" "${HRPS[nginx-proxy]:-}")
	h2=$(ratio "${HRPS[dctproxy]:-}" "${HRPS[nginx-static]:-}")
	echo "Ratios against the targets of the issue (informative; this is not a test):"
	printf '  %-52s %8s  %s\n' "warm GET req/s dctproxy / nginx proxy   (>= 10x)" "$r1" "$(verdict "$r1" '>=' 10)"
	printf '  %-52s %8s  %s\n' "warm GET req/s dctproxy / static nginx  (>= 0.3x)" "$r2" "$(verdict "$r2" '>=' 0.3)"
	printf '  %-52s %8s  %s\n' "blob MB/s dctproxy / nginx proxy, 1 client  (>= 1.0x)" "$r3" "$(verdict "$r3" '>=' 1.0)"
	printf '  %-52s %8s  %s\n' "blob MB/s dctproxy / nginx proxy, 8 clients (>= 1.0x)" "$r4" "$(verdict "$r4" '>=' 1.0)"
	printf '  %-52s %8s  %s\n' "peak RSS MiB, max(VmHWM, sampled VmRSS) (<= 32 MiB)" "$peak_mib" "$(verdict "$peak_mib" '<=' 32)"
	printf '  %-52s %8s  %s\n' "HEAD req/s dctproxy / nginx proxy (no target; curl)" "$h1" ""
	printf '  %-52s %8s  %s\n' "HEAD req/s dctproxy / static nginx (no target; curl)" "$h2" ""
	if [ $DCT_OK = 0 ] || [ $FAILED = 1 ]; then
		echo
		echo "dctproxy FAILED during the run (see above and its log); its figures are missing or invalid."
	fi
	echo
	echo "total run time: $(calc "int($(now) - $T0)") s"
} | tee "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
say "results written to $RESULTS"
if [ $FAILED = 1 ]; then
	say "dctproxy log tail ($W/dct/serve.log):"
	tail -n 30 "$W/dct/serve.log" >&2
	exit 1
fi
