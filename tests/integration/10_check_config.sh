#!/usr/bin/env bash
# `dctproxy check-config` over the configs in the tree:
#   - every dctproxy config in deploy/examples and tests/config/good: exit 0
#     and "FILE: ok". The certificate, key and CA files they name are made
#     up (openssl) below a scratch directory passed as --root.
#   - every tests/config/bad/NAME.json: exit 1 and an error line containing
#     the substring in tests/config/bad/NAME.expect.
#   - --explain on the examples, and the usage exit status.
# Needs no lab: it only reads files.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1

if [ ! -x "$DCTPROXY" ]; then
	skip all "no dctproxy binary (make)"
	exit 0
fi
for tool in jq openssl; do
	if ! command -v "$tool" >/dev/null; then
		skip all "$tool is not installed"
		exit 0
	fi
done

scratch=$(mktemp -d -t dctproxy-check-config.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
root=$scratch/root
mkdir -p "$root"
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$scratch/key.pem" -out "$scratch/cert.pem" -days 2 \
    -subj /CN=dctproxy-check-config >/dev/null 2>&1; then
	fail setup "openssl could not make a test certificate"
	exit 1
fi

# Put a matching certificate/key pair at every listener's tls paths and a
# CA certificate at every "ca"/"upstream_ca" path named by config $1, below $root.
materialise() {
	local kind path
	jq -r '(.listeners[]? | .tls? // empty | "cert \(.certificate)", "key \(.key)"),
	    (.. | objects | (.ca?, .upstream_ca?) | strings | "ca \(.)")' "$1" 2>/dev/null |
	while read -r kind path; do
		case "$path" in /*) ;; *) continue ;; esac
		mkdir -p "$root$(dirname "$path")"
		case "$kind" in
		key) cp "$scratch/key.pem" "$root$path" ;;
		*) cp "$scratch/cert.pem" "$root$path" ;;
		esac
	done
}

check_ok() {	# NAME FILE
	local out rc
	materialise "$2"
	out=$("$DCTPROXY" check-config -c "$2" --root "$root" 2>"$scratch/err"); rc=$?
	if [ "$rc" -eq 0 ] && [ "$out" = "$2: ok" ]; then
		pass "$1"
	else
		fail "$1" "exit $rc: $(head -c 600 "$scratch/err") $out"
	fi
}

n=0
for f in deploy/examples/*.json; do
	[ -f "$f" ] || continue
	# dockerd's own daemon.json (registry-mirrors) lives there too: not ours.
	if ! jq -e 'has("listeners") or has("registries")' "$f" >/dev/null 2>&1; then
		echo "# $f: not a dctproxy config, not checked"
		continue
	fi
	check_ok "example/$(basename "$f" .json)" "$f"
	n=$((n + 1))
done
[ "$n" -ge 3 ] && pass examples-count || fail examples-count "only $n dctproxy examples in deploy/examples"

n=0
for f in tests/config/good/*.json; do
	[ -f "$f" ] || continue
	check_ok "good/$(basename "$f" .json)" "$f"
	n=$((n + 1))
done
[ "$n" -ge 3 ] && pass good-count || fail good-count "only $n files in tests/config/good"

n=0
for f in tests/config/bad/*.json; do
	[ -f "$f" ] || continue
	name=bad/$(basename "$f" .json)
	n=$((n + 1))
	exp=${f%.json}.expect
	if [ ! -s "$exp" ]; then
		fail "$name" "no $exp"
		continue
	fi
	want=$(head -n 1 "$exp")
	"$DCTPROXY" check-config -c "$f" >"$scratch/out" 2>"$scratch/err"; rc=$?
	if [ "$rc" -ne 1 ]; then
		fail "$name" "exit $rc, expected 1"
	elif ! grep -qF -- "$want" "$scratch/err"; then
		fail "$name" "'$want' not in: $(head -c 600 "$scratch/err")"
	elif [ -s "$scratch/out" ]; then
		fail "$name" "printed on stdout: $(head -c 200 "$scratch/out")"
	else
		pass "$name"
	fi
done
[ "$n" -ge 20 ] && pass bad-count || fail bad-count "only $n files in tests/config/bad"

# --explain: the policy the examples give some GUNs.
explain() {	# FILE GUN
	"$DCTPROXY" check-config -c "$1" --root "$root" --explain "$2" 2>/dev/null
}
out=$(explain deploy/examples/mirror-mode.json docker.io/library/alpine)
check_contains explain/official "$out" 'pinning: root-keys["docker.io/library/*"] (official-library-images)'
check_contains explain/official-doi-key "$out" "id: c15164663f80d58bf3d8d5a0cd08b8086cba02065feb00421fc2a5436c563210"
out=$(explain deploy/examples/mirror-mode.json docker.io/acme/sandbox-x)
check_contains explain/rule-mode "$out" "mode: permissive (repositories rule)"
out=$(explain deploy/examples/mirror-mode.json docker.io/other/app)
check_contains explain/unpinned "$out" "invalid trust pinning specified"
out=$(explain deploy/examples/gateway-mode.json registry.example.com/platform/base)
check_contains explain/cert-ids-first "$out" 'pinning: cert-ids["registry.example.com/platform/base"] (exact)'
out=$(explain deploy/examples/org-countersign.json notary.example.com/mirror/docker.io/library/redis)
check_contains explain/rule-ca "$out" 'repositories[1] "notary.example.com/mirror/docker.io/library/*" (wildcard): ca /etc/dctproxy/ca/org-signing-ca.pem'
check_contains explain/required-roles "$out" "targets/releases targets/security targets/qa"

# Usage errors exit 2; a missing file exits 1.
"$DCTPROXY" check-config >/dev/null 2>&1; check_eq usage-no-args 2 $?
"$DCTPROXY" check-config -c >/dev/null 2>&1; check_eq usage-missing-value 2 $?
"$DCTPROXY" check-config --frobnicate x >/dev/null 2>&1; check_eq usage-unknown-option 2 $?
"$DCTPROXY" check-config -c "$scratch/nonexistent.json" >/dev/null 2>&1; check_eq missing-file 1 $?

[ "$T_FAILS" -eq 0 ]
