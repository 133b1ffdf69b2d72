#!/usr/bin/env bash
# Runs every test and ends with "N passed, N failed, N skipped".
#
# 1. unit tests (build/tests/unit-*), 2. the same under ASan/UBSan
# (build-san/tests/unit-*), 3. a bounded fuzz run under the sanitizers,
# 4. integration tests (tests/integration/*.sh) against one shared lab
# (tests/lab/lab.sh) and the sanitizer build of dctproxy.
#
# Every test prints PASS/FAIL/SKIP lines; this script counts them.
# TESTS_ONLY=unit|integration limits the run; TESTS_FILTER=substr picks
# integration scripts by name. Stages 2 and 3 run only with TESTS_SAN=1,
# which `make test` sets after building build-san/ in the same run, so a
# stale sanitizer build is never what passes.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
log=$(mktemp -t dctproxy-tests.XXXXXX)
only=${TESTS_ONLY:-all}
export DCT_FIXTURES="$top/tests/fixtures"

# run_bin KIND NAME COMMAND...: run one test, copy its PASS/FAIL/SKIP lines
# to the log and add "FAIL NAME: ..." when it did not finish or its exit
# status says more than its lines. KIND unit: a binary of tests/unit.c,
# finished when it printed its "N passed, N failed, N skipped" line, and
# its status must be 1 when it counted failures, else 0 (a sanitizer report
# at exit changes it). KIND script: finished when it printed at least one
# result line and bash reported no syntax error or unbound variable in it;
# status 0, or 1 with a FAIL line.
run_bin() {
	local kind=$1 name=$2; shift 2
	local out rc nf why=
	out=$("$@" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -E '^(PASS|FAIL|SKIP) ' | tee -a "$log"
	if [ "$kind" = unit ]; then
		nf=$(printf '%s\n' "$out" |
		    sed -nE 's/^[0-9]+ passed, ([0-9]+) failed, [0-9]+ skipped$/\1/p' | tail -1)
		if [ -z "$nf" ]; then
			why="did not finish (exit status $rc)"
		elif [ $rc -ne $((nf > 0)) ]; then
			why="exited $rc after $nf failures"
		fi
	elif ! printf '%s\n' "$out" | grep -qE '^(PASS|FAIL|SKIP) '; then
		why="did not finish (exit status $rc, no result)"
	elif printf '%s\n' "$out" | grep -qE ': line [0-9]+: .*(syntax error|unbound variable)'; then
		why="did not finish: $(printf '%s\n' "$out" |
		    grep -E ': line [0-9]+: .*(syntax error|unbound variable)' | head -1)"
	elif [ $rc -gt 1 ] || { [ $rc -eq 1 ] && ! printf '%s\n' "$out" | grep -q '^FAIL '; }; then
		why="exited $rc"
	fi
	if [ -n "$why" ]; then
		echo "FAIL $name: $why" | tee -a "$log"
		printf '%s\n' "$out" | tail -40
	fi
}

if [ "$only" = all ] || [ "$only" = unit ]; then
	if lint_out=$(make --no-print-directory lint 2>&1); then
		echo "PASS lint: banned functions, cppcheck, -Werror build" | tee -a "$log"
	else
		echo "FAIL lint: $(printf '%s\n' "$lint_out" | tail -5 | tr '\n' ' ')" | tee -a "$log"
	fi
	for b in build/tests/unit-*; do
		[ -x "$b" ] && run_bin unit "$(basename "$b")" "$b"
	done
	if [ "${TESTS_SAN:-}" != 1 ]; then
		echo "SKIP sanitizers: unit tests and fuzz run under the sanitizers only from make test (TESTS_SAN=1)" |
		    tee -a "$log"
	else
		export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
		for b in build-san/tests/unit-*; do
			[ -x "$b" ] && run_bin unit "san/$(basename "$b")" \
			    bash -o pipefail -c "'$b' | sed -E 's#^(PASS|FAIL|SKIP) #\\1 san/#'"
		done
		if [ -x build-san/tests/fuzz-metadata ]; then
			corpus=$(mktemp -d)
			if build-san/tests/fuzz-metadata -max_total_time="${FUZZ_SMOKE_SECONDS:-30}" \
			    -max_len=65536 -print_final_stats=0 "$corpus" tests/fixtures/*/ \
			    >"$corpus.log" 2>&1; then
				echo "PASS fuzz/metadata: $(grep -Eo 'Done [0-9]+ runs' "$corpus.log" | head -1)" | tee -a "$log"
			else
				echo "FAIL fuzz/metadata: finding, see below" | tee -a "$log"
				tail -40 "$corpus.log"
			fi
			rm -rf "$corpus" "$corpus.log"
		fi
	fi
fi

if [ "$only" = all ] || [ "$only" = integration ]; then
	labdir=$(mktemp -d -t dctproxy-lab.XXXXXX)
	stop_lab() { bash tests/lab/lab.sh stop "$labdir" >/dev/null 2>&1; }
	trap stop_lab EXIT INT TERM
	if bash tests/lab/lab.sh start "$labdir"; then
		export LAB_DIR="$labdir"
		for t in tests/integration/*.sh; do
			[ -f "$t" ] || continue
			case "$t" in *"${TESTS_FILTER:-}"*) ;; *) continue ;; esac
			echo "--- $t"
			run_bin script "$(basename "$t" .sh)" bash "$t"
		done
	else
		echo "FAIL lab: the integration lab did not start (see above)" | tee -a "$log"
	fi
	stop_lab
	trap - EXIT INT TERM
	rm -rf "$labdir"
fi

np=$(grep -c '^PASS ' "$log"); nf=$(grep -c '^FAIL ' "$log"); ns=$(grep -c '^SKIP ' "$log")
rm -f "$log"
echo "$np passed, $nf failed, $ns skipped"
[ "$nf" -eq 0 ] && [ "$np" -gt 0 ]
