#!/usr/bin/env bash
# 20_trust_attacks: every attack on the trust data is refused, with the
# right reason, and leaves nothing trusted behind.
#
# tests/tools/tufgen writes one Notary repository per scenario (see
# tests/tools/README.md), tests/tools/tufserve serves them over HTTPS as a
# (malicious) notary server, and `dctproxy lookup` is run against each:
#   - its verdict must match the scenario's expect file: the signed
#     "sha256:<hex> <size> <role>" on success, else exit 1 with
#     "reason: <code>: ..." on stderr and the engine-worded message;
#   - after a refusal the state directory is byte-identical to before
#     (sha256sum of every file), and for multi-phase scenarios the good
#     phase still verifies afterwards, also from a new process;
#   - rollback scenarios run phase1 then phase2 with the same --state;
#     rotation scenarios must follow the root chain;
#   - pinning: --pin-cert-id works, wrong pins are refused (validation).
# The same repositories are also checked with the real notary client
# (notary/<scenario> lines), which proves tufgen's output is what notary
# 0.7 accepts or refuses; those run even before `lookup` exists.
# Builds nothing: `make test` built the tools and the binaries.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

TUFGEN=${TUFGEN:-$TOP/build/tests/tufgen}
TUFSERVE=${TUFSERVE:-$TOP/build/tests/tufserve}
LOOKUP_TIMEOUT=90	# seconds one lookup may take (the endless body must be cut well before)

if [ ! -x "$TUFGEN" ] || [ ! -x "$TUFSERVE" ]; then
	skip setup "build/tests/tufgen or tufserve not built (make tools)"
	exit 0
fi

work=$(mktemp -d -t dct-attacks.XXXXXX)
srv_pid=
cleanup() {
	if [ -n "$srv_pid" ]; then
		kill "$srv_pid" 2>/dev/null
		wait "$srv_pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- TLS: a CA and a server certificate for 127.0.0.1 ----------------
if ! (cd "$work" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout ca.key -out ca.pem -days 3650 -subj /CN=dctproxy-attacks-ca &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 &&
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf &&
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	    -out srv.pem -days 3650 -extfile ext.cnf) >"$work/openssl.log" 2>&1; then
	fail setup "openssl: $(tail -3 "$work/openssl.log")"
	exit 1
fi

# ---- the repositories and the server ---------------------------------
if ! "$TUFGEN" "$work/gen" 2>"$work/tufgen.log"; then
	fail setup "tufgen: $(cat "$work/tufgen.log")"
	exit 1
fi
mkdir -p "$work/serve/attack.test" "$work/state"

# serve GUN [PHASE]: point the served tree for GUN at the scenario (or phase).
serve() {
	ln -sfn "$work/gen/$1${2:+/$2}" "$work/serve/$1"
}
while read -r gun n; do
	if [ "$n" = 1 ]; then serve "$gun"; else serve "$gun" phase1; fi
done <"$work/gen/index"

port=$(free_port)
"$TUFSERVE" --port "$port" --cert "$work/srv.pem" --key "$work/srv.key" \
    --root "$work/serve" 2>"$work/tufserve.log" &
srv_pid=$!
if ! wait_port "$port" 10; then
	fail setup "tufserve did not listen on $port: $(tail -3 "$work/tufserve.log")"
	exit 1
fi
server="https://127.0.0.1:$port"

pin_of() {	# pin_of DIR KIND -> the first root-key or cert-id of DIR/pins
	sed -n "s/^$2 //p" "$1/pins" | head -1
}
pins_of() {	# pins_of DIR -> --pin-root-key for every root-key line of DIR/pins
	sed -n 's/^root-key /--pin-root-key /p' "$1/pins" | tr '\n' ' '
}
state_sum() {	# every file below DIR with its sha256, in a stable order
	[ -d "$1" ] || return 0
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}
code_in() {	# code_in CODE "a|b|c"
	case "|$2|" in *"|$1|"*) return 0 ;; esac
	return 1
}

# ---- notary 0.7 as the oracle for the generated data -------------------
# notary list prints every tag with its role; "latest" must be there with
# the expected digest for ok, must not be signed by targets or
# targets/releases for not-signed / untrusted-role, and every other
# scenario must make notary fail.
notary_verdict() {	# notary_verdict NAME GUN TRUSTDIR EXPECT-LINE
	local name=$1 gun=$2 dir=$3 code tag rest out rc got role=targets
	read -r code tag rest <<<"$4"
	[ "$code" = ok ] && role=${rest##* }
	out=$(timeout 60 notary -s "$server" -d "$dir" --tlscacert "$work/ca.pem" \
	    list "$gun" -r "$role" 2>&1)
	rc=$?
	got=$(awk -v t="$tag" '$1 == t { print "sha256:" $2, $3, $4 }' <<<"$out")
	case "$code" in
	ok)
		check_eq "notary/$name" "0 $rest" "$rc $got" ;;
	not-signed|untrusted-role)
		case "$rc $got" in
		"0 "*" targets" | "0 "*" targets/releases")
			fail "notary/$name" "notary trusts $tag: $got" ;;
		"0 "*) pass "notary/$name" ;;
		*) fail "notary/$name" "notary failed: $(tail -1 <<<"$out")" ;;
		esac ;;
	*)
		if [ "$rc" -ne 0 ]; then pass "notary/$name"
		else fail "notary/$name" "notary accepted it: $(head -3 <<<"$out")"; fi ;;
	esac
}

if command -v notary >/dev/null 2>&1; then
	while read -r gun n; do
		name=${gun#attack.test/}
		nd="$work/notary/$name"
		if [ "$n" = 1 ]; then
			notary_verdict "$name" "$gun" "$nd" "$(cat "$work/gen/$gun/expect")"
		else
			notary_verdict "$name/phase1" "$gun" "$nd" "$(cat "$work/gen/$gun/phase1/expect")"
			serve "$gun" phase2
			notary_verdict "$name/phase2" "$gun" "$nd" "$(cat "$work/gen/$gun/phase2/expect")"
			serve "$gun" phase1
		fi
	done <"$work/gen/index"
else
	skip notary "the notary client is not installed"
fi

# ---- dctproxy lookup -------------------------------------------------
# lookup STATE GUN TAG PIN-ARGS...: sets L_RC, L_OUT, L_ERR.
lookup() {
	local state=$1 gun=$2 tag=$3
	shift 3
	mkdir -p "$state"
	L_OUT=$(timeout "$LOOKUP_TIMEOUT" "$DCTPROXY" lookup --server "$server" \
	    --ca "$work/ca.pem" --state "$state" "$@" "$gun" "$tag" 2>"$work/stderr")
	L_RC=$?
	L_ERR=$(cat "$work/stderr")
}

# verdict NAME EXPECT-LINE: the last lookup against "<code> <tag> <rest>".
# Returns 0 if it was refused (as expected or not), 1 if it succeeded.
verdict() {
	local name=$1 code tag rest reason
	read -r code tag rest <<<"$2"
	case "$L_ERR" in *"ERROR: AddressSanitizer"* | *"ERROR: LeakSanitizer"* | *"runtime error:"*)
		fail "$name" "sanitizer: $(grep -m1 -E 'ERROR|runtime error' <<<"$L_ERR")"
		return 0 ;;
	esac
	if [ "$L_RC" = 124 ]; then
		fail "$name" "lookup did not finish within ${LOOKUP_TIMEOUT}s"
		return 0
	fi
	reason=$(sed -n 's/^reason: \([a-z-]*\):.*/\1/p' <<<"$L_ERR" | head -1)
	if [ "$code" = ok ]; then
		if [ "$L_RC" = 0 ] && [ "$L_OUT" = "$rest" ]; then
			pass "$name"
		else
			fail "$name" "expected '$rest', got exit $L_RC '$L_OUT' $(tail -2 <<<"$L_ERR" | tr '\n' ' ')"
		fi
		[ "$L_RC" = 0 ] && return 1
		return 0
	fi
	if [ "$L_RC" != 1 ]; then
		fail "$name" "expected refusal ($code), got exit $L_RC '$L_OUT' $(tail -2 <<<"$L_ERR" | tr '\n' ' ')"
	elif ! code_in "$reason" "$code"; then
		fail "$name" "reason '$reason', expected $code: $(tail -2 <<<"$L_ERR" | tr '\n' ' ')"
	else
		case "$L_ERR" in
		*"$rest"*) pass "$name" ;;
		*) fail "$name" "message lacks '$rest': $(head -2 <<<"$L_ERR" | tr '\n' ' ')" ;;
		esac
	fi
	[ "$L_RC" = 0 ] && return 1
	return 0
}

# unchanged NAME BEFORE STATE: nothing was trusted by a refused run.
unchanged() {
	check_eq "$1/nothing-trusted" "$2" "$(state_sum "$3")"
}

while read -r gun n; do
	name=${gun#attack.test/}
	dir="$work/gen/$gun"
	state="$work/state/$name"
	if [ "$n" = 1 ]; then
		before=$(state_sum "$state")
		# shellcheck disable=SC2046
		lookup "$state" "$gun" latest $(pins_of "$dir")
		expect=$(cat "$dir/expect")
		if verdict "$name" "$expect"; then
			# A refusal of the tag alone (the trust data verified) may
			# persist the verified metadata; any other must not.
			case "${expect%% *}" in
			not-signed | untrusted-role) ;;
			*) unchanged "$name" "$before" "$state" ;;
			esac
		fi
		continue
	fi

	# Multi-phase: trust phase1, then face phase2 with the same state.
	pins=$(pins_of "$dir")
	serve "$gun" phase1
	# shellcheck disable=SC2086
	lookup "$state" "$gun" latest $pins
	verdict "$name/phase1" "$(cat "$dir/phase1/expect")"
	before=$(state_sum "$state")
	serve "$gun" phase2
	# shellcheck disable=SC2086
	lookup "$state" "$gun" latest $pins
	if verdict "$name/phase2" "$(cat "$dir/phase2/expect")"; then
		# Refused: again from a new process, then the good phase still works.
		# shellcheck disable=SC2086
		lookup "$state" "$gun" latest $pins
		verdict "$name/phase2-again" "$(cat "$dir/phase2/expect")"
		unchanged "$name" "$before" "$state"
		serve "$gun" phase1
		# shellcheck disable=SC2086
		lookup "$state" "$gun" latest $pins
		verdict "$name/phase1-again" "$(cat "$dir/phase1/expect")"
	else
		# Accepted (rotation): stays accepted; a fresh client pinned to
		# the new root accepts it; a fresh client pinned to the first
		# root only refuses it (nothing ties that key to the new root
		# for a client that never trusted the old one; notary agrees).
		# shellcheck disable=SC2086
		lookup "$state" "$gun" latest $pins
		verdict "$name/phase2-again" "$(cat "$dir/phase2/expect")"
		# shellcheck disable=SC2046
		lookup "$state.fresh" "$gun" latest $(pins_of "$dir/phase2")
		verdict "$name/phase2-fresh" "$(cat "$dir/phase2/expect")"
		before=$(state_sum "$state.old-pin")
		lookup "$state.old-pin" "$gun" latest --pin-root-key "$(pin_of "$dir" root-key)"
		verdict "$name/phase2-fresh-old-pin" \
		    "validation latest trust data mismatch for repository $gun" &&
		    unchanged "$name/phase2-fresh-old-pin" "$before" "$state.old-pin"
		serve "$gun" phase1
	fi
done <"$work/gen/index"

# ---- pinning variants on the good repository ---------------------------
good="$work/gen/attack.test/good"
other="$work/gen/attack.test/good-releases"
lookup "$work/state/pin-cert-id" attack.test/good latest \
    --pin-cert-id "$(pin_of "$good" cert-id)"
verdict pin-cert-id "$(cat "$good/expect")"
refused="validation latest trust data mismatch for repository attack.test/good"
n=0
for args in "--pin-root-key $(pin_of "$other" root-key)" \
    "--pin-cert-id $(pin_of "$other" cert-id)" \
    "--pin-root-key $(pin_of "$good" cert-id)" \
    "--pin-cert-id $(pin_of "$good" root-key)"; do
	n=$((n + 1))
	case $n in
	1) label=wrong-root-key ;;
	2) label=wrong-cert-id ;;
	3) label=cert-id-as-root-key ;;
	4) label=root-key-as-cert-id ;;
	esac
	st="$work/state/pin-$label"
	before=$(state_sum "$st")
	# shellcheck disable=SC2086
	lookup "$st" attack.test/good latest $args
	verdict "pin/$label" "$refused" && unchanged "pin/$label" "$before" "$st"
done

# A warm state keeps working (the persisted state verifies again).
lookup "$work/state/good" attack.test/good latest --pin-root-key "$(pin_of "$good" root-key)"
verdict good/warm "$(cat "$good/expect")"

# tufserve must still be alive after every attack it served, and stop
# cleanly (no sanitizer report when it is a SAN build: TUFSERVE=...).
if kill -0 "$srv_pid" 2>/dev/null; then
	pass tufserve-alive
	kill -TERM "$srv_pid"
	wait "$srv_pid"
	rc=$?
	srv_pid=
	if [ "$rc" = 0 ] && ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$work/tufserve.log"; then
		pass tufserve-exit
	else
		fail tufserve-exit "exit $rc: $(grep -m3 -E 'ERROR|runtime error' "$work/tufserve.log")"
	fi
else
	fail tufserve-alive "tufserve died: $(tail -5 "$work/tufserve.log")"
fi

[ "$T_FAILS" -eq 0 ]
