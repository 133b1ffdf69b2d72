#!/usr/bin/env bash
# check_kubernetes.sh DIR: checks of dctproxy's Kubernetes manifests (DIR/*.yaml).
#
# One line per rule, "PASS k8s/<rule>" or "FAIL k8s/<rule>: <why>"; exit 1
# when any rule fails, 2 on a usage error. No yq or python: yamllint checks
# the syntax, then a small awk reader flattens block-style YAML into
# "path = value" lines (e.g. spec.template.spec.containers[0].
# securityContext.runAsNonRoot = true) that the rules query. The reader
# handles what manifests use: mappings, sequences ("- " items, compact or
# indented), plain and quoted scalars, flow sequences kept as text
# ("[ALL]"), block scalars (| and >, used for config.json), comments and
# "---" documents. It does not handle anchors, aliases or multi-line flow
# collections; a manifest using them fails yamllint-clean but reads wrong,
# so keep the manifests plain.
#
# Rules:
#   yamllint             every file passes yamllint (relaxed, long lines allowed)
#   replicas             every Deployment/StatefulSet has replicas >= 2
#   liveness-probe       every container: livenessProbe.httpGet.path /healthz, port 5000
#   readiness-probe      every container: readinessProbe.httpGet.path /readyz, port 5000
#   run-as-non-root      runAsNonRoot true and runAsUser a non-zero number
#                        (container, else pod securityContext)
#   read-only-root-fs    every container: readOnlyRootFilesystem true
#   no-privilege-escalation  every container: allowPrivilegeEscalation false
#   drop-all-capabilities    every container: capabilities.drop contains ALL,
#                        and nothing is added
#   seccomp-runtime-default  seccompProfile.type RuntimeDefault (container or pod)
#   resources-limits     every container: limits.memory and requests.memory,
#                        request <= limit, and requests.cpu
#   state-volume         a writable volume is mounted at /var/lib/dctproxy
#                        (needed with a read-only root fs)
#   networkpolicy-present  a NetworkPolicy selects the dctproxy pods with
#                        Egress, and one in another namespace admits only them
#   service-present      a Service selects the dctproxy pods and targets port 5000
#   configmap-json       the ConfigMap's config.json is valid JSON (jq) with
#                        listeners, state_dir and registries
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: check_kubernetes.sh DIR" >&2
	exit 2
fi
dir=$1
shopt -s nullglob
files=("$dir"/*.yaml "$dir"/*.yml)
fails=0
ok() { echo "PASS k8s/$1${2:+: $2}"; }
bad() { echo "FAIL k8s/$1: $2"; fails=$((fails + 1)); }

if [ ${#files[@]} -eq 0 ]; then
	bad yamllint "no *.yaml files in $dir"
	exit 1
fi

# ---- yamllint
if ! command -v yamllint >/dev/null 2>&1; then
	bad yamllint "yamllint is not installed (make deps installs it)"
else
	if out=$(yamllint -f parsable -d '{extends: relaxed, rules: {line-length: disable}}' "${files[@]}" 2>&1); then
		ok yamllint
	else
		bad yamllint "$(printf '%s\n' "$out" | grep -m3 error | tr '\n' ' ')"
	fi
fi

# ---- flatten: "S<TAB>doc<TAB>path<TAB>value" for scalars, "B<TAB>doc<TAB>path<TAB>line"
# for each line of a block scalar. Documents are numbered across all files.
flat=$(awk '
	function unq(s) {
		if (s ~ /^".*"$/ || s ~ /^\x27.*\x27$/) return substr(s, 2, length(s) - 2)
		return s
	}
	function strip_comment(s,   i, c, q) {
		q = ""
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (q != "") { if (c == q) q = ""; continue }
			if (c == "\"" || c == "\x27") { q = c; continue }
			if (c == "#" && (i == 1 || substr(s, i - 1, 1) ~ /[ \t]/)) return substr(s, 1, i - 1)
		}
		return s
	}
	function path(   i, p) {
		p = ""
		for (i = 1; i <= sp; i++)
			p = p (kind[i] == "seq" ? "[" cnt[i] "]" : (p == "" ? "" : ".") name[i])
		return p
	}
	function pop_to(lvl) {	# drop entries deeper than lvl (and keys at lvl: siblings)
		while (sp > 0 && (ind[sp] > lvl || (ind[sp] == lvl && kind[sp] == "key"))) sp--
	}
	# handle(text, indent): one node starting at column indent.
	function handle(s, in_,   k, v) {
		# sequence item(s)
		while (s ~ /^-([ \t]|$)/) {
			while (sp > 0 && (ind[sp] > in_ || (ind[sp] == in_ && kind[sp] == "key" && !open[sp]))) sp--
			if (sp > 0 && kind[sp] == "seq" && ind[sp] == in_) cnt[sp]++
			else { sp++; kind[sp] = "seq"; ind[sp] = in_; cnt[sp] = 0; open[sp] = 0 }
			if (sp > 1 && kind[sp - 1] == "key") open[sp - 1] = 0
			v = s; sub(/^-[ \t]*/, "", v)
			in_ = in_ + length(s) - length(v); s = v
			if (s == "") return
		}
		if (match(s, /^("[^"]*"|\x27[^\x27]*\x27|[^ \t:][^:]*):([ \t]|$)/)) {
			k = substr(s, 1, RLENGTH); sub(/:[ \t]*$/, "", k); k = unq(k)
			v = substr(s, RLENGTH + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
			pop_to(in_)
			sp++; kind[sp] = "key"; ind[sp] = in_; name[sp] = k; open[sp] = (v == "")
			if (v ~ /^[|>][-+0-9]*$/) { blk = 1; blkind = in_; blkpath = path(); blkstrip = -1; sp--; return }
			if (v != "") { printf "S\t%d\t%s\t%s\n", doc, path(), unq(v); sp-- }
			return
		}
		# a plain scalar item of a sequence
		printf "S\t%d\t%s\t%s\n", doc, path(), unq(s)
	}
	FNR == 1 { doc++; sp = 0; blk = 0 }
	{
		line = $0; sub(/\r$/, "", line)
		if (blk) {
			if (line ~ /^[ \t]*$/) { printf "B\t%d\t%s\t\n", doc, blkpath; next }
			match(line, /^ */)
			if (RLENGTH > blkind) {
				if (blkstrip < 0) blkstrip = RLENGTH
				printf "B\t%d\t%s\t%s\n", doc, blkpath, substr(line, blkstrip + 1)
				next
			}
			blk = 0
		}
		if (line ~ /^---/) { doc++; sp = 0; next }
		if (line ~ /^\.\.\.[ \t]*$/) next
		line = strip_comment(line)
		if (line ~ /^[ \t]*$/) next
		match(line, /^ */); in_ = RLENGTH
		handle(substr(line, in_ + 1), in_)
	}
' "${files[@]}")

# get DOC PATH: the scalar at PATH in DOC (empty if none).
# Scalars by "DOC|PATH", loaded once (the first occurrence wins, as before).
declare -A VAL=()
while IFS=$'\t' read -r t d p v; do
	[ "$t" = S ] && [ -z "${VAL[$d|$p]+x}" ] && VAL[$d|$p]=$v
done <<<"$flat"
get() { printf '%s\n' "${VAL[$1|$2]:-}"; }
# docs_of KIND...: document numbers whose kind is one of KIND.
docs_of() { printf '%s\n' "$flat" | awk -F'\t' -v ks=" $* " '$1 == "S" && $3 == "kind" && index(ks, " " $4 " ") { print $2 }'; }
# count DOC PREFIX: how many items the sequence at PREFIX has.
count() { printf '%s\n' "$flat" | awk -F'\t' -v d="$1" -v p="$2" '
	$2 == d && index($3, p "[") == 1 { s = substr($3, length(p) + 2); sub(/\].*/, "", s); if (s + 1 > n) n = s + 1 }
	END { print n + 0 }'; }
# seqvals DOC PATH: the items of a sequence at PATH (block or flow style), one per line.
seqvals() {
	local v
	v=$(get "$1" "$2")
	if [ -n "$v" ]; then
		printf '%s\n' "$v" | tr -d '[]"'"'" | tr ',' '\n' | sed 's/^ *//; s/ *$//' | grep -v '^$'
	else
		printf '%s\n' "$flat" | awk -F'\t' -v d="$1" -v p="$2" '$1 == "S" && $2 == d && index($3, p "[") == 1 && substr($3, length(p) + 1) ~ /^\[[0-9]+\]$/ { print $4 }' |
			sed 's/^ *//; s/ *$//'
	fi
}
# mem_bytes QUANTITY: a Kubernetes memory quantity in bytes (empty if unparsable).
mem_bytes() {
	awk -v q="$1" 'BEGIN {
		if (!match(q, /^[0-9]+(\.[0-9]+)?/)) exit
		n = substr(q, 1, RLENGTH); u = substr(q, RLENGTH + 1)
		m["" ] = 1; m["k"] = 1e3; m["M"] = 1e6; m["G"] = 1e9; m["T"] = 1e12
		m["Ki"] = 1024; m["Mi"] = 1048576; m["Gi"] = 1073741824; m["Ti"] = 1099511627776
		if (!(u in m)) exit
		printf "%.0f\n", n * m[u] }'
}

workloads=$(docs_of Deployment StatefulSet DaemonSet)
if [ -z "$workloads" ]; then
	for r in replicas liveness-probe readiness-probe run-as-non-root read-only-root-fs \
		no-privilege-escalation drop-all-capabilities seccomp-runtime-default \
		resources-limits state-volume; do
		bad "$r" "no Deployment or StatefulSet in $dir"
	done
fi

declare -A WHY=()
flag() { if [ -z "${WHY[$1]:-}" ]; then WHY[$1]=$2; else WHY[$1]="${WHY[$1]}; $2"; fi; }
pod_labels=""
for d in $workloads; do
	kind=$(get "$d" kind); wname="$kind/$(get "$d" metadata.name)"
	pod_labels="$pod_labels $(get "$d" spec.template.metadata.labels.app.kubernetes.io/name)"
	if [ "$kind" != DaemonSet ]; then
		r=$(get "$d" spec.replicas)
		if ! [[ "$r" =~ ^[0-9]+$ ]]; then flag replicas "$wname: replicas '${r:-<unset: 1>}'"
		elif [ "$r" -lt 2 ]; then flag replicas "$wname: replicas $r < 2"; fi
	fi
	ps=spec.template.spec
	nc=$(count "$d" "$ps.containers")
	[ "$nc" -gt 0 ] || flag liveness-probe "$wname: no containers"
	pnonroot=$(get "$d" "$ps.securityContext.runAsNonRoot")
	puser=$(get "$d" "$ps.securityContext.runAsUser")
	pseccomp=$(get "$d" "$ps.securityContext.seccompProfile.type")
	# writable volumes (emptyDir or PVC) by name; StatefulSet claim templates count too
	writable=" $(printf '%s\n' "$flat" | awk -F'\t' -v d="$d" -v p="$ps.volumes" '
		$1 == "S" && $2 == d && index($3, p "[") == 1 && $3 ~ /\]\.name$/ { i = $3; sub(/\.name$/, "", i); nm[i] = $4 }
		$2 == d && index($3, p "[") == 1 && ($3 ~ /\]\.emptyDir/ || $3 ~ /\]\.persistentVolumeClaim/) { i = $3; sub(/\]\..*/, "]", i); w[i] = 1 }
		END { for (i in w) printf "%s ", nm[i] }') "
	writable="$writable$(printf '%s\n' "$flat" | awk -F'\t' -v d="$d" '$1 == "S" && $2 == d && $3 ~ /^spec\.volumeClaimTemplates\[[0-9]+\]\.metadata\.name$/ { printf "%s ", $4 }')"
	for ((c = 0; c < nc; c++)); do
		cp="$ps.containers[$c]"; cn="$wname container $(get "$d" "$cp.name")"
		for pr in liveness:/healthz readiness:/readyz; do
			rule=${pr%%:*}-probe; want=${pr#*:}
			path=$(get "$d" "$cp.${pr%%:*}Probe.httpGet.path")
			port=$(get "$d" "$cp.${pr%%:*}Probe.httpGet.port")
			if [ -z "$path" ]; then flag "$rule" "$cn: no ${pr%%:*}Probe.httpGet"
			elif [ "$path" != "$want" ]; then flag "$rule" "$cn: path '$path', want $want"
			elif [ "$port" != 5000 ]; then
				# a named port is fine if it names containerPort 5000
				pnum=$(printf '%s\n' "$flat" | awk -F'\t' -v d="$d" -v p="$cp.ports" -v n="$port" '
					$1 == "S" && $2 == d && index($3, p "[") == 1 && $3 ~ /\]\.name$/ && $4 == n { i = $3; sub(/\.name$/, "", i); want = i }
					$1 == "S" && $2 == d && index($3, p "[") == 1 && $3 ~ /\]\.containerPort$/ { i = $3; sub(/\.containerPort$/, "", i); cport[i] = $4 }
					END { if (want != "") print cport[want] }')
				[ "$pnum" = 5000 ] || flag "$rule" "$cn: port '$port', want 5000"
			fi
		done
		nonroot=$(get "$d" "$cp.securityContext.runAsNonRoot"); nonroot=${nonroot:-$pnonroot}
		user=$(get "$d" "$cp.securityContext.runAsUser"); user=${user:-$puser}
		[ "$nonroot" = true ] || flag run-as-non-root "$cn: runAsNonRoot '${nonroot:-<unset>}'"
		if ! [[ "$user" =~ ^[0-9]+$ ]] || [ "$user" = 0 ]; then
			flag run-as-non-root "$cn: runAsUser '${user:-<unset>}', want a non-zero UID (10001)"
		fi
		v=$(get "$d" "$cp.securityContext.readOnlyRootFilesystem")
		[ "$v" = true ] || flag read-only-root-fs "$cn: readOnlyRootFilesystem '${v:-<unset>}'"
		v=$(get "$d" "$cp.securityContext.allowPrivilegeEscalation")
		[ "$v" = false ] || flag no-privilege-escalation "$cn: allowPrivilegeEscalation '${v:-<unset: true>}'"
		v=$(get "$d" "$cp.securityContext.privileged")
		[ "$v" != true ] || flag no-privilege-escalation "$cn: privileged: true"
		seqvals "$d" "$cp.securityContext.capabilities.drop" | grep -qx ALL ||
			flag drop-all-capabilities "$cn: capabilities.drop does not contain ALL"
		add=$(seqvals "$d" "$cp.securityContext.capabilities.add" | tr '\n' ' ')
		[ -z "$add" ] || flag drop-all-capabilities "$cn: capabilities.add: $add"
		v=$(get "$d" "$cp.securityContext.seccompProfile.type"); v=${v:-$pseccomp}
		[ "$v" = RuntimeDefault ] || flag seccomp-runtime-default "$cn: seccompProfile.type '${v:-<unset: Unconfined>}'"
		lm=$(get "$d" "$cp.resources.limits.memory"); rm_=$(get "$d" "$cp.resources.requests.memory")
		rc=$(get "$d" "$cp.resources.requests.cpu")
		if [ -z "$lm" ]; then flag resources-limits "$cn: no resources.limits.memory"
		elif [ -z "$rm_" ]; then flag resources-limits "$cn: no resources.requests.memory"
		else
			lb=$(mem_bytes "$lm"); rb=$(mem_bytes "$rm_")
			if [ -z "$lb" ] || [ -z "$rb" ]; then flag resources-limits "$cn: unparsable memory '$rm_' / '$lm'"
			elif [ "$rb" -gt "$lb" ]; then flag resources-limits "$cn: requests.memory $rm_ > limits.memory $lm"; fi
		fi
		[ -n "$rc" ] || flag resources-limits "$cn: no resources.requests.cpu"
		# state volume: a mount at /var/lib/dctproxy of a writable volume
		sv=$(printf '%s\n' "$flat" | awk -F'\t' -v d="$d" -v p="$cp.volumeMounts" '
			$1 == "S" && $2 == d && index($3, p "[") == 1 && $3 ~ /\]\.mountPath$/ { i = $3; sub(/\.mountPath$/, "", i); mp[i] = $4 }
			$1 == "S" && $2 == d && index($3, p "[") == 1 && $3 ~ /\]\.name$/ { i = $3; sub(/\.name$/, "", i); nm[i] = $4 }
			$1 == "S" && $2 == d && index($3, p "[") == 1 && $3 ~ /\]\.readOnly$/ { i = $3; sub(/\.readOnly$/, "", i); ro[i] = $4 }
			END { for (i in mp) { m = mp[i]; sub(/\/$/, "", m); if (m == "/var/lib/dctproxy" && ro[i] != "true") print nm[i] } }')
		if [ -z "$sv" ]; then flag state-volume "$cn: nothing writable mounted at /var/lib/dctproxy"
		elif [[ "$writable" != *" $sv "* ]]; then flag state-volume "$cn: volume '$sv' at /var/lib/dctproxy is not an emptyDir or PersistentVolumeClaim"; fi
	done
done
if [ -n "$workloads" ]; then
	for r in replicas liveness-probe readiness-probe run-as-non-root read-only-root-fs \
		no-privilege-escalation drop-all-capabilities seccomp-runtime-default \
		resources-limits state-volume; do
		if [ -n "${WHY[$r]:-}" ]; then bad "$r" "${WHY[$r]}"; else ok "$r"; fi
	done
fi
app=$(tr -s '[:blank:]' '\n' <<<"$pod_labels" | grep -v '^$' | head -1)
app=${app:-dctproxy}

# ---- networkpolicy-present
np_egress=""; np_ingress=""
for d in $(docs_of NetworkPolicy); do
	sel=$(get "$d" spec.podSelector.matchLabels.app.kubernetes.io/name)
	types=" $(seqvals "$d" spec.policyTypes | tr '\n' ' ')"
	[ "$sel" = "$app" ] && [[ "$types" == *" Egress "* ]] && np_egress="$np_egress $(get "$d" metadata.name)"
	# an Ingress policy in another namespace whose every "from" peer is the dctproxy pods
	if [[ "$types" == *" Ingress "* ]] && [ "$sel" != "$app" ]; then
		peers=$(printf '%s\n' "$flat" | awk -F'\t' -v d="$d" '$1 == "S" && $2 == d && $3 ~ /^spec\.ingress\[[0-9]+\]\.from\[[0-9]+\]/ { i = $3; sub(/\]\.[^\[]*$/, "]", i); sub(/\.(podSelector|namespaceSelector|ipBlock).*/, "", i); print i }' | sort -u)
		onlyus=1; npeers=0
		while IFS= read -r p; do
			[ -n "$p" ] || continue
			npeers=$((npeers + 1))
			[ "$(get "$d" "$p.podSelector.matchLabels.app.kubernetes.io/name")" = "$app" ] || onlyus=0
		done <<<"$peers"
		nrules=$(count "$d" spec.ingress)
		nfrom=$(printf '%s\n' "$flat" | awk -F'\t' -v d="$d" '$2 == d && $3 ~ /^spec\.ingress\[[0-9]+\]\.from\[/ { i = $3; sub(/\]\.from.*/, "", i); if (!(i in s)) { s[i] = 1; n++ } } END { print n + 0 }')
		# every ingress rule must have a "from" (a rule without one admits everyone)
		if [ "$npeers" -gt 0 ] && [ "$onlyus" = 1 ] && [ "$nfrom" = "$nrules" ]; then
			np_ingress="$np_ingress $(get "$d" metadata.namespace)/$(get "$d" metadata.name)"
		fi
	fi
done
if [ -z "$(docs_of NetworkPolicy)" ]; then bad networkpolicy-present "no NetworkPolicy in $dir"
elif [ -z "$np_egress" ]; then bad networkpolicy-present "no NetworkPolicy selects app.kubernetes.io/name=$app with policyTypes Egress"
elif [ -z "$np_ingress" ]; then bad networkpolicy-present "no Ingress NetworkPolicy (on the registry side) admits only the $app pods"
else ok networkpolicy-present; fi

# ---- service-present
svc_ok=""
for d in $(docs_of Service); do
	[ "$(get "$d" spec.selector.app.kubernetes.io/name)" = "$app" ] || continue
	np=$(count "$d" spec.ports)
	for ((i = 0; i < np; i++)); do
		t=$(get "$d" "spec.ports[$i].targetPort"); t=${t:-$(get "$d" "spec.ports[$i].port")}
		[ "$t" = 5000 ] || [ "$t" = https ] && svc_ok=1
	done
done
if [ -z "$(docs_of Service)" ]; then bad service-present "no Service in $dir"
elif [ -z "$svc_ok" ]; then bad service-present "no Service selects app.kubernetes.io/name=$app with targetPort 5000"
else ok service-present; fi

# ---- configmap-json
cm_ok=""; cm_why="no ConfigMap with a config.json key in $dir"
for d in $(docs_of ConfigMap); do
	json=$(printf '%s\n' "$flat" | awk -F'\t' -v d="$d" '$2 == d && $3 == "data.config.json" { print $4 }')
	[ -n "$json" ] || continue
	if ! command -v jq >/dev/null 2>&1; then cm_why="jq is not installed"; break; fi
	if ! err=$(printf '%s\n' "$json" | jq -e 'type == "object"' 2>&1 >/dev/null); then
		cm_why="$(get "$d" metadata.name) config.json is not a JSON object: $(printf '%s' "$err" | head -2 | tr '\n' ' ')"
	elif ! printf '%s\n' "$json" | jq -e 'has("listeners") and has("state_dir") and has("registries")' >/dev/null; then
		cm_why="$(get "$d" metadata.name) config.json lacks listeners, state_dir or registries"
	else
		cm_ok=1
	fi
done
if [ -n "$cm_ok" ]; then ok configmap-json; else bad configmap-json "$cm_why"; fi

[ "$fails" -eq 0 ]
