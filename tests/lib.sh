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
# lab_json JQ-FILTER: query the lab record.
lab_json() { jq -r "$1" "$LAB_DIR/lab.json"; }

# A free TCP port on 127.0.0.1.
free_port() {
	local p
	while :; do
		p=$(( (RANDOM % 20000) + 20000 ))
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
