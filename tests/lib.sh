# Shared helpers for integration tests (sourced). Each check prints one
# PASS/FAIL/SKIP line that tests/run.sh counts. Tests run with LAB_DIR set
# by tests/run.sh; lab.env there describes the running lab.
set -u
T_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DCTPROXY=${DCTPROXY:-$TOP/build-san/dctproxy}
[ -x "$DCTPROXY" ] || DCTPROXY=$TOP/build/dctproxy
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -n "${LAB_DIR:-}" ] && [ -f "$LAB_DIR/lab.env" ]; then
	# shellcheck disable=SC1091
	. "$LAB_DIR/lab.env"
fi
T_FAILS=0

pass() { echo "PASS $T_NAME/$1"; }
fail() { echo "FAIL $T_NAME/$1: ${2:-}"; T_FAILS=$((T_FAILS + 1)); }
skip() { echo "SKIP $T_NAME/$1: ${2:-}"; }

# check NAME EXPECTED ACTUAL: pass when equal.
check_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}
# check_contains NAME HAYSTACK NEEDLE
check_contains() {
	case "$2" in *"$3"*) pass "$1" ;; *) fail "$1" "'$3' not in: $(printf '%s' "$2" | head -c 600)" ;; esac
}
# header NAME HEADERS: the value of each NAME: line of HEADERS (an HTTP
# response head, CRs already removed), one per line; NAME in any case.
header() { printf '%s\n' "$2" | sed -n "s/^$1:[[:blank:]]*//Ip"; }
# lab_json JQ-FILTER: query the lab record.
lab_json() { jq -r "$1" "$LAB_DIR/lab.json"; }

# A free TCP port on 127.0.0.1, in 10000-14999: below the lab's ports
# (15000-30999) and the kernel's ephemeral range (from 32768 by default),
# where an outgoing connection may hold any port and a bind then fails.
free_port() {
	local p
	while :; do
		p=$(( (RANDOM % 5000) + 10000 ))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
# wait_port PORT [SECONDS]: until something listens on 127.0.0.1:PORT.
wait_port() {
	local i
	for i in $(seq 1 $(( ${2:-10} * 10 ))); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# require_lab: FAIL lab-present and exit unless run through tests/run.sh
# with a running lab.
require_lab() {
	if [ -z "${LAB_DIR:-}" ] || [ ! -f "$LAB_DIR/lab.json" ]; then
		fail lab-present "LAB_DIR is not set or has no lab.json (run through tests/run.sh)"
		exit 1
	fi
}

# work_dir TAG: set work to a new directory, removed at exit (kept when
# KEEP_WORK is set) after every process whose PID is in one of the
# variables named in T_STOP has been sent SIGTERM and reaped.
T_STOP=PROXY_PID
PROXY_PID=
work_dir() {
	work=$(mktemp -d -t "dctproxy-$1.XXXXXX") || exit 1
	trap t_cleanup EXIT
}
t_cleanup() {
	local v pid
	for v in $T_STOP; do
		pid=${!v:-}
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}

# proxy_start CONFIG LOG PORT...: dctproxy serve -c CONFIG in the
# background, its output in LOG, its PID in PROXY_PID; PASS proxy-starts
# once it listens on every PORT of 127.0.0.1 (10 s each), else FAIL and exit.
proxy_start() {
	local conf=$1 log=$2 p
	shift 2
	"$DCTPROXY" serve -c "$conf" >"$log" 2>&1 &
	PROXY_PID=$!
	for p in "$@"; do
		if ! wait_port "$p" 10; then
			fail proxy-starts "not listening on $p; log: $(tail -5 "$log")"
			exit 1
		fi
	done
	pass proxy-starts
}

# proxy_stopped PID LOG [PREFIX]: reap a proxy already sent SIGTERM, then
# check PREFIXsigterm-exit-0 and PREFIXsanitizers-clean (no ASan, LSan or
# UBSan report in LOG; LeakSanitizer reports only at exit, so LOG is read
# after the process is gone). Clears PROXY_PID when PID is it.
proxy_stopped() {
	local pid=$1 log=$2 pre=${3:-} rc=0
	wait "$pid" || rc=$?
	[ "$pid" != "$PROXY_PID" ] || PROXY_PID=
	check_eq "${pre}sigterm-exit-0" 0 "$rc"
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$log"; then
		fail "${pre}sanitizers-clean" "$(grep -E -A5 'AddressSanitizer|LeakSanitizer|runtime error' "$log" | head -30)"
	else
		pass "${pre}sanitizers-clean"
	fi
}
# proxy_stop_clean PID LOG [PREFIX]: SIGTERM, then proxy_stopped.
proxy_stop_clean() {
	kill -TERM "$1"
	proxy_stopped "$@"
}
