#!/usr/bin/env bash
# 05_deploy: the deployment artifacts under deploy/ are checked statically.
#
# 1. Each checker in tests/deploy/ passes every rule on the real files.
# 2. On the deliberately broken copies in tests/deploy/broken/ each checker
#    fails, naming the rules the copy breaks.
# 3. Mutations: one rule at a time is broken in a temporary copy of a real
#    file, and the checker must fail on that rule (so every rule can fail).
# 4. systemd-analyze verify accepts the real unit (ExecStart pointed at an
#    existing binary) and reports the broken unit's invalid directives.
# 5. The build stage copies everything `make` needs (make -n in a copy of
#    exactly those paths; every #include resolves inside it).
# 6. The ConfigMap's config.json and GATEWAY.md's example load with
#    `dctproxy check-config` (with a throwaway certificate under --root).
# 7. The nftables example parses (nft -c) and daemon.json is valid.
#
# Needs no lab and no docker engine (LAB_DIR may be unset).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

D=$TOP/tests/deploy
B=$D/broken
tmp=$(mktemp -d -t dctproxy-05deploy.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# relay PREFIX OUTPUT: re-emit a checker's PASS/FAIL/SKIP lines under this test.
relay() {
	local line rule rest
	while IFS= read -r line; do
		case "$line" in
		"PASS "*) rule=${line#PASS }; pass "$1/${rule%%:*}" ;;
		"FAIL "*) rule=${line#FAIL }; rest=${rule#*: }; fail "$1/${rule%%:*}" "$rest" ;;
		"SKIP "*) rule=${line#SKIP }; rest=${rule#*: }; skip "$1/${rule%%:*}" "$rest" ;;
		esac
	done <<<"$2"
}

# expect_fail NAME OUTPUT RC RULE...: the checker exited non-zero and failed each RULE.
expect_fail() {
	local name=$1 out=$2 rc=$3 r
	shift 3
	if [ "$rc" -eq 0 ]; then fail "$name/exit" "checker exited 0"; else pass "$name/exit"; fi
	for r in "$@"; do
		if printf '%s\n' "$out" | grep -q "^FAIL $r: "; then pass "$name/$r"
		else fail "$name/$r" "expected 'FAIL $r', got: $(printf '%s\n' "$out" | grep "^[A-Z]* $r\b" | head -1)"; fi
	done
}

# ---- 1. the real files
out=$(bash "$D/check_dockerfile.sh" "$TOP/deploy/Dockerfile" 2>&1); rc=$?
relay real "$out"; check_eq real/dockerfile-exit 0 "$rc"

out=$(bash "$D/check_systemd.sh" "$TOP/deploy/systemd/dctproxy.service" 2>&1); rc=$?
relay real "$out"; check_eq real/systemd-exit 0 "$rc"

out=$(bash "$D/check_kubernetes.sh" "$TOP/deploy/kubernetes" 2>&1); rc=$?
relay real "$out"; check_eq real/k8s-exit 0 "$rc"

# ---- 2. the broken copies
out=$(bash "$D/check_dockerfile.sh" "$B/Dockerfile" 2>&1); rc=$?
expect_fail broken "$out" "$rc" dockerfile/no-add dockerfile/nonroot-user \
	dockerfile/numeric-user dockerfile/healthcheck-no-curl dockerfile/multi-stage \
	dockerfile/base-debian-slim dockerfile/apt-same-run dockerfile/no-install-recommends \
	dockerfile/pinned-versions dockerfile/apt-lists-removed dockerfile/copy-needed-only \
	dockerfile/no-secrets dockerfile/setuid-stripped dockerfile/volume-state \
	dockerfile/build-deps-not-in-final dockerfile/exec-form

out=$(bash "$D/check_systemd.sh" "$B/dctproxy-no-nnp.service" 2>&1); rc=$?
expect_fail broken "$out" "$rc" systemd/NoNewPrivileges
# ... and nothing else: the copy differs from the real unit in that one line.
check_eq broken/systemd-only-NoNewPrivileges "FAIL systemd/NoNewPrivileges" \
	"$(printf '%s\n' "$out" | grep '^FAIL ' | cut -d: -f1 | tr '\n' ' ' | sed 's/ $//')"

out=$(bash "$D/check_kubernetes.sh" "$B/kubernetes" 2>&1); rc=$?
expect_fail broken "$out" "$rc" k8s/run-as-non-root k8s/liveness-probe \
	k8s/readiness-probe k8s/replicas k8s/read-only-root-fs \
	k8s/no-privilege-escalation k8s/drop-all-capabilities \
	k8s/seccomp-runtime-default k8s/resources-limits k8s/state-volume \
	k8s/networkpolicy-present k8s/service-present k8s/configmap-json

# ---- 3. mutations of the real files, one rule each
# mutate KIND RULE SED-SCRIPT: apply SED-SCRIPT to a copy of the real file
# (for k8s: to every file of a copy of the directory) and expect RULE to fail.
mutate() {
	local kind=$1 rule=$2 script=$3 target out rc
	rm -rf "$tmp/m"; mkdir -p "$tmp/m"
	case "$kind" in
	dockerfile)
		target=$tmp/m/Dockerfile
		sed -e "$script" "$TOP/deploy/Dockerfile" >"$target"
		out=$(bash "$D/check_dockerfile.sh" "$target" 2>&1); rc=$? ;;
	systemd)
		target=$tmp/m/dctproxy.service
		sed -e "$script" "$TOP/deploy/systemd/dctproxy.service" >"$target"
		out=$(bash "$D/check_systemd.sh" "$target" 2>&1); rc=$? ;;
	k8s)
		mkdir -p "$tmp/m/k"
		for f in "$TOP"/deploy/kubernetes/*.yaml; do
			sed -e "$script" "$f" >"$tmp/m/k/$(basename "$f")"
		done
		out=$(bash "$D/check_kubernetes.sh" "$tmp/m/k" 2>&1); rc=$? ;;
	esac
	if [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q "^FAIL $kind/$rule: "; then
		pass "mutant/$kind/$rule"
	else
		fail "mutant/$kind/$rule" "'$script' not caught (exit $rc): $(printf '%s\n' "$out" | grep '^FAIL' | head -2 | tr '\n' ' ')"
	fi
}

mutate dockerfile multi-stage 's/^COPY --from=build --chown=0:0 /COPY /'
mutate dockerfile base-debian-slim 's/^FROM debian:12\.[0-9]*-slim$/FROM debian:bookworm-slim/'
mutate dockerfile base-debian-slim 's/^FROM debian:12\.[0-9]*-slim AS build/FROM ubuntu:22.04 AS build/'
mutate dockerfile apt-same-run '0,/^RUN apt-get update \\/s//RUN true \\/'
mutate dockerfile no-install-recommends '0,/--no-install-recommends/s///'
mutate dockerfile pinned-versions 's/libjansson4=2\.14-2/libjansson4/'
mutate dockerfile apt-lists-removed '0,/rm -rf \/var\/lib\/apt\/lists\/\*/s//true/'
mutate dockerfile no-add 's/^COPY Makefile /ADD Makefile /'
mutate dockerfile copy-needed-only 's/^COPY proxy\/ proxy\//COPY . ./'
mutate dockerfile no-secrets 's/^EXPOSE 5000$/EXPOSE 5000\nENV NOTARY_PASSWORD=hunter2/'
mutate dockerfile no-secrets 's/^COPY config\/ config\//COPY deploy\/id_rsa \/root\/.ssh\/id_rsa/'
mutate dockerfile numeric-user 's/^USER 10001:10001$/USER dctproxy/'
mutate dockerfile nonroot-user 's/^USER 10001:10001$/USER 0:0/'
mutate dockerfile nonroot-user '/^USER /d'
mutate dockerfile dedicated-user 's/--uid 10001/--uid 10002/'
mutate dockerfile setuid-stripped 's/chmod a-s/chmod a-w/'
mutate dockerfile setuid-stripped 's/^EXPOSE 5000$/EXPOSE 5000\nRUN apt-get update \&\& apt-get install -y --no-install-recommends tini=0.19.0-1 \&\& rm -rf \/var\/lib\/apt\/lists\/*/'
mutate dockerfile expose 's/^EXPOSE 5000$/EXPOSE 8080/'
mutate dockerfile healthcheck-no-curl 's|CMD \["/usr/local/bin/dctproxy", "healthcheck", .*|CMD curl -f http://127.0.0.1:5000/healthz|'
mutate dockerfile healthcheck-no-curl 's|"healthcheck", "-c", "/etc/dctproxy/config.json"|"healthcheck"|'
mutate dockerfile healthcheck-no-curl 's/ca-certificates=20250419~deb12u2/ca-certificates=20250419~deb12u2 curl=7.88.1-10+deb12u15/'
mutate dockerfile volume-state '/^VOLUME /d'
mutate dockerfile build-deps-not-in-final 's/libssl3=/libssl-dev=/'
mutate dockerfile final-copy-from-build 's|^LABEL |COPY deploy/examples/daemon.json /etc/docker/daemon.json\nLABEL |'
mutate dockerfile exec-form 's|^ENTRYPOINT .*|ENTRYPOINT /usr/local/bin/dctproxy|'

mutate systemd User 's/^User=dctproxy$/User=root/'
mutate systemd ExecStart 's|^ExecStart=.*|ExecStart=/usr/local/bin/dctproxy check-config -c /etc/dctproxy/config.json|'
mutate systemd ExecReload '/^ExecReload=/d'
mutate systemd StateDirectory '/^StateDirectory=/d'
mutate systemd LogsDirectory 's/^LogsDirectory=dctproxy$/LogsDirectory=other/'
mutate systemd ProtectSystem 's/^ProtectSystem=strict/ProtectSystem=full/'
mutate systemd ProtectHome 's/^ProtectHome=yes/ProtectHome=no/'
mutate systemd PrivateTmp '/^PrivateTmp=/d'
mutate systemd MemoryDenyWriteExecute '/^MemoryDenyWriteExecute=/d'
mutate systemd CapabilityBoundingSet 's/^CapabilityBoundingSet=.*/CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SYS_ADMIN/'
mutate systemd AmbientCapabilities 's/^AmbientCapabilities=.*/AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW/'
mutate systemd RestrictAddressFamilies 's/^RestrictAddressFamilies=.*/RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK/'
mutate systemd SystemCallFilter '/^SystemCallFilter=@system-service/d'
mutate systemd SystemCallArchitectures '/^SystemCallArchitectures=/d'
mutate systemd UMask 's/^UMask=0077/UMask=0022/'
if command -v systemd-analyze >/dev/null 2>&1 && systemd-analyze security --help 2>&1 | grep -q -- --offline; then
	mutate systemd exposure '/^\(Protect\|Private\|Restrict\|Lock\|Memory\|System\|Capability\|NoNew\)/d'
fi

mutate k8s yamllint 's/^  replicas: 2$/  replicas: 2\n  replicas: 3/'
mutate k8s replicas 's/^  replicas: 2$/  replicas: 1/'
mutate k8s liveness-probe 's|path: /healthz|path: /|'
mutate k8s readiness-probe 's/readinessProbe:/startupProbe:/'
mutate k8s run-as-non-root 's/runAsUser: 10001/runAsUser: 0/'
mutate k8s read-only-root-fs 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/'
mutate k8s no-privilege-escalation '/allowPrivilegeEscalation:/d'
mutate k8s drop-all-capabilities 's/drop: \["ALL"\]/drop: ["NET_RAW"]/'
mutate k8s seccomp-runtime-default 's/type: RuntimeDefault/type: Unconfined/'
mutate k8s resources-limits 's/memory: 32Mi/memory: 128Mi/'
mutate k8s state-volume 's|mountPath: /var/lib/dctproxy|mountPath: /var/lib/other|'
# The classic NetworkPolicy mistake: namespaceSelector and podSelector as two
# "from" peers (OR) instead of one (AND).
mutate k8s networkpolicy-present '/^        - namespaceSelector:$/,/^          podSelector:$/s/^          podSelector:$/        - podSelector:/'
mutate k8s service-present 's/targetPort: 5000/targetPort: 8080/g'
mutate k8s configmap-json 's/^      "state_dir": "\/var\/lib\/dctproxy",$/      "state_dir": "\/var\/lib\/dctproxy",,/'

# ---- 4. systemd-analyze verify
# verify NAME UNIT: run systemd-analyze verify on UNIT copied into a temp dir
# as dctproxy.service, with ExecStart pointed at a binary that exists. Any
# diagnostic naming the unit counts as a failure: systemd only *warns* about
# unknown keys and bad values (exit 0) and then ignores them, which for a
# hardening directive means running without it.
verify() {
	local unit=$1 out rc exe
	exe=/bin/true
	[ -x "$TOP/build/dctproxy" ] && exe=$TOP/build/dctproxy
	mkdir -p "$tmp/v"
	sed "s|^ExecStart=/usr/local/bin/dctproxy|ExecStart=$exe|" "$unit" >"$tmp/v/dctproxy.service"
	out=$(cd "$tmp/v" && systemd-analyze verify ./dctproxy.service 2>&1); rc=$?
	VERIFY_EXE=$exe
	VERIFY_OUT=$(printf '%s\n' "$out" | grep 'dctproxy\.service')
	[ "$rc" -eq 0 ] && [ -z "$VERIFY_OUT" ]
}
if ! command -v systemd-analyze >/dev/null 2>&1; then
	skip systemd-verify/real "systemd-analyze not installed"
	skip systemd-verify/broken-invalid "systemd-analyze not installed"
else
	if verify "$TOP/deploy/systemd/dctproxy.service"; then
		pass "systemd-verify/real: ExecStart pointed at $VERIFY_EXE for the check"
	else
		fail systemd-verify/real "$(printf '%s' "$VERIFY_OUT" | head -5 | tr '\n' ' ')"
	fi
	if verify "$B/dctproxy-invalid.service"; then
		fail systemd-verify/broken-invalid "systemd-analyze verify accepted PrivateTemp= and ProtectSystem=sometimes"
	else
		check_contains systemd-verify/broken-invalid-key "$VERIFY_OUT" "Unknown key"
		check_contains systemd-verify/broken-invalid-value "$VERIFY_OUT" "sometimes"
	fi
fi

# ---- 5. the build stage's COPY lines bring in everything `make` needs
# (no engine here, so: copy the same paths into a temp context, let make plan
# the build there, and resolve every #include "..." inside that context).
ctx=$tmp/ctx; mkdir -p "$ctx"
srcs=$(awk '/^FROM /{n++} n == 1 && /^COPY / && !/--from=/ { for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i }' \
	"$TOP/deploy/Dockerfile")
for s in $srcs; do
	s=${s%/}; mkdir -p "$ctx/$(dirname "$s")"; cp -R "$TOP/$s" "$ctx/$s"
done
if out=$(make -n -C "$ctx" build/dctproxy 2>&1); then
	pass docker-context/make-plans
else
	fail docker-context/make-plans "$(printf '%s' "$out" | grep -m2 -i 'error\|no rule' | tr '\n' ' ')"
fi
missing=""
while IFS= read -r f; do
	while IFS= read -r inc; do
		[ -f "$ctx/$inc" ] || [ -f "$(dirname "$f")/$inc" ] || missing="$missing ${f#"$ctx"/}:$inc"
	done < <(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done < <(find "$ctx" -name '*.[ch]')
check_eq docker-context/includes-resolve "" "$missing"

# ---- 6. the sample configurations load with the real parser (check-config)
root=$tmp/root; mkdir -p "$root/etc/dctproxy/tls"
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 2 \
	-subj /CN=registry.example.com -addext subjectAltName=DNS:registry.example.com \
	-keyout "$root/etc/dctproxy/tls/tls.key" -out "$root/etc/dctproxy/tls/tls.crt" >/dev/null 2>&1
for n in registry.example.com.crt:tls.crt registry.example.com.key:tls.key ca.crt:tls.crt; do
	cp "$root/etc/dctproxy/tls/${n#*:}" "$root/etc/dctproxy/tls/${n%%:*}"
done
awk '/config.json: \|/ { f = 1; next } f && /^[^ ]/ { f = 0 } f && /^    / { sub(/^    /, ""); print }' \
	"$TOP/deploy/kubernetes/configmap.yaml" >"$tmp/configmap.json"
if out=$("$DCTPROXY" check-config -c "$tmp/configmap.json" --root "$root" 2>&1); then
	pass check-config/configmap
else
	fail check-config/configmap "$(printf '%s' "$out" | head -5 | tr '\n' ' ')"
fi
# The JSON block of GATEWAY.md, with its placeholder key ID filled in.
awk '/^```json/ { f = 1; next } /^```/ { f = 0 } f' "$TOP/deploy/examples/GATEWAY.md" |
	sed "s/<64-hex canonical root key ID>/$(printf '%064d' 0)/" >"$tmp/gateway.json"
if out=$("$DCTPROXY" check-config -c "$tmp/gateway.json" --root "$root" 2>&1); then
	pass check-config/gateway-example
else
	fail check-config/gateway-example "$(printf '%s' "$out" | head -5 | tr '\n' ' ')"
fi

# ---- 7. the examples
out=$(jq -e '."registry-mirrors" | length > 0 and all(startswith("https://"))' \
	"$TOP/deploy/examples/daemon.json" 2>&1)
check_eq examples/daemon-json "true" "$out"
if command -v nft >/dev/null 2>&1 && nft -c -f /dev/null >/dev/null 2>&1; then
	if out=$(nft -c -f "$TOP/deploy/examples/nftables-block-docker-hub.nft" 2>&1); then
		pass examples/nftables-syntax
	else
		fail examples/nftables-syntax "$(printf '%s' "$out" | head -3 | tr '\n' ' ')"
	fi
else
	skip examples/nftables-syntax "nft not installed or no netlink access (apt-get install nftables)"
fi

[ "$T_FAILS" -eq 0 ]
