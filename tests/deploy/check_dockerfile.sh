#!/usr/bin/env bash
# check_dockerfile.sh FILE: static checks of dctproxy's container recipe.
#
# No docker engine runs where this project is tested, so the Dockerfile is
# checked as text. Each rule prints one line, "PASS dockerfile/<rule>" or
# "FAIL dockerfile/<rule>: <why>"; the exit status is 1 when any rule fails,
# 2 on a usage error.
#
# Parsing: line continuations (trailing backslash) are joined and comment
# lines inside a continuation are dropped, as the Docker builder does. The
# file is split into stages at each FROM; "final" is the last stage. Not
# handled: heredocs (RUN <<EOF) and a non-default `# escape=` directive; both
# are reported as failures rather than guessed at.
#
# Rules (the names tests/integration/05_deploy.sh asserts on):
#   multi-stage            >= 2 FROM, and the final stage copies from a build stage
#   base-debian-slim       every external base is debian 12 slim, pinned by a
#                          point-release or dated tag or by digest
#   apt-same-run           apt-get update and apt-get install in the same RUN,
#                          update first; no update-only RUN
#   no-install-recommends  every apt-get install has --no-install-recommends
#   pinned-versions        every package named to apt-get install is name=version
#   apt-lists-removed      each installing RUN removes /var/lib/apt/lists after it
#   no-add                 no ADD (COPY has no URL fetch or archive unpacking)
#   copy-needed-only       no COPY of the whole build context (. or ./)
#   no-secrets             no COPY of keys (*.key, *.pem, id_rsa, ...); no ENV/ARG
#                          named like a password, secret, token or private key
#   numeric-user           the final USER is numeric UID:GID
#   nonroot-user           the final stage has a USER and it is not root (uid/gid 0)
#   dedicated-user         the final stage creates that group and user by number
#   setuid-stripped        the final stage runs find / -perm /6000 ... chmod a-s,
#                          after its last package install
#   expose                 EXPOSE 5000
#   healthcheck-no-curl    a HEALTHCHECK exists, runs dctproxy healthcheck -c CONFIG
#                          (or --url URL), does not call curl/wget/nc, and
#                          the final stage installs no curl or wget
#   volume-state           VOLUME /var/lib/dctproxy (so the root fs can be read-only)
#   build-deps-not-in-final  no compiler, make, pkg-config or -dev package in the
#                          final stage
#   final-copy-from-build  every COPY in the final stage is COPY --from=<stage>
#   exec-form              ENTRYPOINT and CMD are JSON arrays (signals reach the
#                          daemon directly: SIGTERM stops it, SIGHUP reloads)
set -u

if [ $# -ne 1 ] || [ ! -r "$1" ]; then
	echo "usage: check_dockerfile.sh DOCKERFILE" >&2
	exit 2
fi
file=$1

# Logical instructions, one per line: STAGE<TAB>LINE<TAB>INSTRUCTION<TAB>ARGS.
# STAGE is -1 before the first FROM. Tabs inside arguments become spaces.
norm=$(awk '
	function flush() {
		if (buf == "") return
		sub(/^[ \t]+/, "", buf)
		instr = buf; sub(/[ \t].*$/, "", instr)
		args = substr(buf, length(instr) + 1)
		sub(/^[ \t]+/, "", args); sub(/[ \t]+$/, "", args)
		gsub(/\t/, " ", args)
		instr = toupper(instr)
		if (instr == "FROM") stage++
		printf "%d\t%d\t%s\t%s\n", stage, start, instr, args
		buf = ""
	}
	BEGIN { stage = -1; buf = ""; cont = 0 }
	{
		line = $0
		sub(/\r$/, "", line)
		if (line ~ /^[ \t]*#/) {
			if (!cont && line ~ /^#[ \t]*escape[ \t]*=/ && line !~ /=[ \t]*\\[ \t]*$/)
				printf "-1\t%d\tESCAPE-DIRECTIVE\t%s\n", NR, line
			next
		}
		if (!cont && line ~ /^[ \t]*$/) next
		if (!cont) start = NR
		if (line ~ /\\[ \t]*$/) {
			sub(/\\[ \t]*$/, "", line)
			buf = buf " " line
			cont = 1
			next
		}
		buf = buf " " line
		cont = 0
		flush()
	}
	END { flush() }
' "$file")

S=(); L=(); I=(); A=()
while IFS=$'\t' read -r s l i a; do
	S+=("$s"); L+=("$l"); I+=("$i"); A+=("$a")
done <<<"$norm"
n=${#I[@]}
final=-1
for ((k = 0; k < n; k++)); do
	[ "${I[k]}" = FROM ] && final=${S[k]}
done

RULES=(multi-stage base-debian-slim apt-same-run no-install-recommends
	pinned-versions apt-lists-removed no-add copy-needed-only no-secrets
	numeric-user nonroot-user dedicated-user setuid-stripped expose
	healthcheck-no-curl volume-state build-deps-not-in-final
	final-copy-from-build exec-form)
declare -A WHY=()
flag() {	# RULE REASON: record a failure of RULE (first reasons kept).
	if [ -z "${WHY[$1]:-}" ]; then WHY[$1]=$2
	elif [ ${#WHY[$1]} -lt 300 ]; then WHY[$1]="${WHY[$1]}; $2"; fi
}

# apt_segments CMD: for each "apt-get|apt ... install" in a shell command,
# print "<position>\t<has --no-install-recommends>\t<package tokens>".
# Segments are split at &&, ||, ; and |. Option values of -o/-t are skipped.
apt_segments() {
	printf '%s\n' "$1" | awk '
	{
		cmd = $0; pos = 0
		while (cmd != "") {
			if (match(cmd, /&&|\|\||;|\|/)) {
				seg = substr(cmd, 1, RSTART - 1); adv = RSTART + RLENGTH - 1
			} else { seg = cmd; adv = length(cmd) }
			m = split(seg, t, /[ \t]+/)
			tool = 0; inst = 0; nir = 0; pk = ""
			for (j = 1; j <= m; j++) {
				if (t[j] == "") continue
				if (!tool) { if (t[j] ~ /(^|\/)apt(-get)?$/) tool = 1; continue }
				if (t[j] == "--no-install-recommends" || t[j] ~ /Install-Recommends=(false|0|no)/) nir = 1
				if (!inst) {
					if (t[j] == "-o" || t[j] == "-t") j++
					else if (t[j] == "install") inst = 1
					continue
				}
				if (t[j] == "-o" || t[j] == "-t" || t[j] == "--target-release") { j++; continue }
				if (t[j] ~ /^-/) continue
				pk = pk " " t[j]
			}
			if (inst) printf "%d\t%d\t%s\n", pos + 1, nir, substr(pk, 2)
			pos += adv; cmd = substr(cmd, adv + 1)
		}
	}'
}

# ---- multi-stage
nfrom=0; final_from_copy=0
for ((k = 0; k < n; k++)); do
	[ "${I[k]}" = FROM ] && nfrom=$((nfrom + 1))
	if [ "${I[k]}" = COPY ] && [ "${S[k]}" = "$final" ] && [[ "${A[k]}" =~ --from= ]]; then
		final_from_copy=1
	fi
done
[ "$nfrom" -ge 2 ] || flag multi-stage "$nfrom FROM instruction(s); build and runtime must be separate stages"
[ "$nfrom" -lt 2 ] || [ "$final_from_copy" = 1 ] ||
	flag multi-stage "the final stage copies nothing from a build stage (COPY --from=...)"

# ---- base-debian-slim (global ARG defaults before the first FROM are substituted)
declare -A GARG=() STAGENAME=()
for ((k = 0; k < n; k++)); do
	case "${I[k]}" in
	ESCAPE-DIRECTIVE)
		flag base-debian-slim "line ${L[k]}: a non-default escape directive is not supported by this checker" ;;
	ARG)
		if [ "${S[k]}" = -1 ] && [[ "${A[k]}" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
			GARG[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]//\"/}
		fi ;;
	FROM)
		read -r -a tok <<<"${A[k]}"
		img=""; j=0; sname=""
		while [ $j -lt ${#tok[@]} ]; do
			case "${tok[j]}" in --*) ;; *) img=${tok[j]}; break ;; esac
			j=$((j + 1))
		done
		for ((m = j + 1; m < ${#tok[@]} - 1; m++)); do
			if [ "${tok[m],,}" = as ]; then sname=${tok[m + 1],,}; fi
		done
		for v in "${!GARG[@]}"; do
			img=${img//\$\{$v\}/${GARG[$v]}}; img=${img//\$$v/${GARG[$v]}}
		done
		if [ -z "$img" ]; then
			flag base-debian-slim "line ${L[k]}: FROM without an image"
		elif [ -n "${STAGENAME[${img,,}]:-}" ]; then
			# FROM <earlier stage>: its base was checked where that stage began.
			:
		elif [[ "$img" == *'$'* ]]; then
			flag base-debian-slim "line ${L[k]}: base '$img' uses an ARG without a default"
		elif ! [[ "$img" =~ ^((docker\.io/)?library/|docker\.io/)?debian:(12|12\.[0-9]+|bookworm|bookworm-[0-9]{8})-slim(@sha256:[0-9a-f]{64})?$ ]]; then
			flag base-debian-slim "line ${L[k]}: base '$img' is not debian:12.N-slim"
		elif ! [[ "$img" =~ @sha256: || "$img" =~ :12\.[0-9]+-slim || "$img" =~ :bookworm-[0-9]{8}-slim ]]; then
			flag base-debian-slim "line ${L[k]}: base '$img' is a moving tag; pin a point release (12.N-slim) and/or a digest"
		fi
		[ -z "$sname" ] || STAGENAME[$sname]=1 ;;
	esac
done
[ "$nfrom" -gt 0 ] || flag base-debian-slim "no FROM instruction"

# ---- apt rules, per RUN
for ((k = 0; k < n; k++)); do
	[ "${I[k]}" = RUN ] || continue
	cmd=${A[k]}; ln=${L[k]}
	case "$cmd" in *'<<'[A-Za-z\"\'-]*)
		flag apt-same-run "line $ln: heredoc RUN is not supported by this checker" ;;
	esac
	segs=$(apt_segments "$cmd")
	upd=$(printf '%s\n' "$cmd" | grep -bEo 'apt(-get)?[[:space:]]+([^&;|]*[[:space:]])?update' | head -1 | cut -d: -f1)
	if [ -z "$segs" ]; then
		[ -z "$upd" ] || flag apt-same-run "line $ln: apt-get update without an install in the same RUN (a cached stale index layer)"
		continue
	fi
	first_inst=$(printf '%s\n' "$segs" | head -1 | cut -f1)
	last_inst=$(printf '%s\n' "$segs" | tail -1 | cut -f1)
	if [ -z "$upd" ]; then
		flag apt-same-run "line $ln: apt-get install without apt-get update in the same RUN"
	elif [ "$upd" -ge "$first_inst" ]; then
		flag apt-same-run "line $ln: apt-get update comes after apt-get install"
	fi
	while IFS=$'\t' read -r _ nir pkgs; do
		[ "$nir" = 1 ] || flag no-install-recommends "line $ln: apt-get install without --no-install-recommends"
		[ -n "$pkgs" ] || flag pinned-versions "line $ln: apt-get install with no package names"
		for p in $pkgs; do
			[[ "$p" =~ ^[a-z0-9][a-z0-9+.-]*(:[a-z0-9]+)?=[^=[:space:]]+$ ]] ||
				flag pinned-versions "line $ln: '$p' has no =version"
			if [ "${S[k]}" = "$final" ]; then
				base=${p%%=*}; base=${base%%:*}
				case "$base" in
				*-dev|gcc|gcc-[0-9]*|g++|g++-[0-9]*|cpp|cpp-[0-9]*|clang|clang-[0-9]*|make|cmake|pkg-config|pkgconf|build-essential|binutils|autoconf|automake|libtool|git|gdb)
					flag build-deps-not-in-final "line $ln: final stage installs build package '$base'" ;;
				curl|wget)
					flag healthcheck-no-curl "line $ln: final stage installs '$base'" ;;
				esac
			fi
		done
	done <<<"$segs"
	rmpos=$(printf '%s\n' "$cmd" | grep -bEo 'rm[[:space:]]+(-[A-Za-z]+[[:space:]]+)+/var/lib/apt/lists' | tail -1 | cut -d: -f1)
	if [ -z "$rmpos" ]; then
		flag apt-lists-removed "line $ln: installs packages but does not rm -rf /var/lib/apt/lists/* in the same RUN"
	elif [ "$rmpos" -lt "$last_inst" ]; then
		flag apt-lists-removed "line $ln: apt lists are removed before the last install"
	fi
done

# ---- no-add, copy-needed-only, no-secrets
secret_re='(^|/)(id_rsa|id_dsa|id_ecdsa|id_ed25519|\.netrc|\.npmrc|\.git-credentials|\.dockercfg|\.docker)$|\.(key|pem|p12|pfx|jks|keystore)$|\.env$'
name_re='PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL'
for ((k = 0; k < n; k++)); do
	ln=${L[k]}
	case "${I[k]}" in
	ADD)
		flag no-add "line $ln: ADD ${A[k]} (use COPY; ADD fetches URLs and unpacks archives)" ;;
	esac
	case "${I[k]}" in
	ADD|COPY)
		read -r -a tok <<<"${A[k]//[\[\],\"]/ }"
		srcs=()
		for t in "${tok[@]}"; do case "$t" in --*) ;; *) srcs+=("$t") ;; esac; done
		from=0; [[ "${A[k]}" =~ --from= ]] && from=1
		for ((m = 0; m < ${#srcs[@]} - 1; m++)); do
			src=${srcs[m]}
			if [ $from = 0 ] && [[ "$src" =~ ^\.?/?\.?$|^\./?\*$ ]]; then
				flag copy-needed-only "line $ln: ${I[k]} of the whole build context ('$src'): .git, keys and anything else lying there enter a layer"
			fi
			if [[ "${src,,}" =~ $secret_re ]]; then
				flag no-secrets "line $ln: ${I[k]} of '$src' puts key material into a layer"
			fi
		done ;;
	ENV|ARG)
		# ENV K=V K2=V2 | ENV K V | ARG K[=V]
		if [[ "${A[k]}" =~ ^[A-Za-z_][A-Za-z0-9_]*[[:space:]] ]] && [[ ! "${A[k]}" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
			pairs=("${A[k]%% *}=${A[k]#* }")
		else
			read -r -a pairs <<<"${A[k]}"
		fi
		for pr in "${pairs[@]}"; do
			key=${pr%%=*}; val=""
			[[ "$pr" == *=* ]] && val=${pr#*=}
			if [[ "${key^^}" =~ $name_re ]]; then
				if [ "${I[k]}" = ARG ]; then
					flag no-secrets "line $ln: ARG $key: build arguments are recorded in the image history"
				elif [ -n "${val//[\"\']/}" ]; then
					flag no-secrets "line $ln: ENV $key has a value baked into the image"
				fi
			fi
		done ;;
	esac
done

# ---- final-stage rules
user=""; hc=""; hc_ln=""; ep=""; cmdi=""; expose=0; vol=0; strip_k=-1; last_inst_k=-1
mkgroup=""; mkuser=""
for ((k = 0; k < n; k++)); do
	[ "${S[k]}" = "$final" ] || continue
	a=${A[k]}
	case "${I[k]}" in
	USER) user=$a ;;
	HEALTHCHECK) hc=$a; hc_ln=${L[k]} ;;
	ENTRYPOINT) ep=$a ;;
	CMD) cmdi=$a ;;
	EXPOSE)
		for p in $a; do case "$p" in 5000|5000/tcp) expose=1 ;; esac; done ;;
	VOLUME)
		for p in ${a//[\[\],\"]/ }; do [ "${p%/}" = /var/lib/dctproxy ] && vol=1; done ;;
	COPY)
		[[ "$a" =~ --from= ]] || flag final-copy-from-build "line ${L[k]}: COPY $a takes files from the build context, not from a build stage" ;;
	RUN)
		[ -n "$(apt_segments "$a")" ] && last_inst_k=$k
		if [[ "$a" =~ find[[:space:]]+/[[:space:]].*-perm[[:space:]]+(/6000|/u\+s,g\+s|/ug\+s|/g\+s,u\+s|\+6000) ]] &&
		    [[ "$a" =~ chmod[[:space:]]+(a-s|ug-s|u-s,g-s|-s) ]]; then
			strip_k=$k
		fi
		if [[ "$a" =~ (groupadd|addgroup)[^\&\;\|]*(--gid|-g)[[:space:]=]+([0-9]+) ]]; then mkgroup=${BASH_REMATCH[3]}; fi
		if [[ "$a" =~ (useradd|adduser)[^\&\;\|]*(--uid|-u)[[:space:]=]+([0-9]+) ]]; then mkuser=${BASH_REMATCH[3]}; fi
		;;
	esac
done

if [ -z "$user" ]; then
	flag numeric-user "the final stage has no USER"
	flag nonroot-user "the final stage has no USER: the container runs as root"
	flag dedicated-user "the final stage has no USER"
else
	uid=${user%%:*}; gid=""
	[[ "$user" == *:* ]] && gid=${user#*:}
	[[ "$user" =~ ^[0-9]+:[0-9]+$ ]] ||
		flag numeric-user "USER '$user' is not numeric UID:GID (runAsNonRoot can only verify a numeric user)"
	if [ "$uid" = 0 ] || [ "$uid" = root ] || [ "$gid" = 0 ] || [ "$gid" = root ]; then
		flag nonroot-user "USER '$user' is root"
	fi
	if [[ "$uid" =~ ^[0-9]+$ ]] && [ "$uid" != 0 ]; then
		[ "$mkuser" = "$uid" ] || flag dedicated-user "no useradd --uid $uid in the final stage"
		if [ -n "$gid" ]; then
			[ "$mkgroup" = "$gid" ] || flag dedicated-user "no groupadd --gid $gid in the final stage"
		fi
	else
		flag dedicated-user "USER '$user' is not a dedicated numeric user"
	fi
fi

if [ "$strip_k" -lt 0 ]; then
	flag setuid-stripped "the final stage never runs find / -xdev -perm /6000 -type f -exec chmod a-s {} +"
elif [ "$last_inst_k" -gt "$strip_k" ]; then
	flag setuid-stripped "packages are installed (line ${L[last_inst_k]}) after setuid bits were stripped (line ${L[strip_k]})"
else
	# In the same RUN the strip must come after the install.
	if [ "$last_inst_k" -eq "$strip_k" ]; then
		sp=$(printf '%s\n' "${A[strip_k]}" | grep -bEo 'find[[:space:]]+/' | tail -1 | cut -d: -f1)
		ip=$(apt_segments "${A[strip_k]}" | tail -1 | cut -f1)
		[ "$sp" -gt "$ip" ] || flag setuid-stripped "line ${L[strip_k]}: setuid bits are stripped before the install in the same RUN"
	fi
fi

[ "$expose" = 1 ] || flag expose "no EXPOSE 5000 in the final stage"

if [ -z "$hc" ]; then
	flag healthcheck-no-curl "no HEALTHCHECK in the final stage"
elif [[ "${hc^^}" =~ ^NONE ]]; then
	flag healthcheck-no-curl "line $hc_ln: HEALTHCHECK NONE"
elif [[ "$hc" =~ (^|[^a-z])(curl|wget|nc)([^a-z]|$) ]]; then
	flag healthcheck-no-curl "line $hc_ln: HEALTHCHECK uses ${BASH_REMATCH[2]}; use the binary (dctproxy healthcheck)"
else
	# dctproxy healthcheck needs -c CONFIG or --url URL; bare, it exits 2 (usage).
	hcw=" ${hc//[\[\],\"]/ } "
	if ! [[ "$hcw" =~ dctproxy[[:space:]]+healthcheck[[:space:]]+(-c|--config|--url)[[:space:]]+[^[:space:]] ]]; then
		flag healthcheck-no-curl "line $hc_ln: HEALTHCHECK must run dctproxy healthcheck -c CONFIG (or --url URL); without them it exits 2"
	fi
fi

[ "$vol" = 1 ] || flag volume-state "no VOLUME /var/lib/dctproxy in the final stage: a read-only root fs leaves state unwritable"

[[ "$ep" =~ ^\[.*\]$ ]] || flag exec-form "ENTRYPOINT '${ep:-<none>}' is not a JSON array"
[ -z "$cmdi" ] || [[ "$cmdi" =~ ^\[.*\]$ ]] || flag exec-form "CMD '$cmdi' is not a JSON array"

fails=0
for r in "${RULES[@]}"; do
	if [ -n "${WHY[$r]:-}" ]; then
		echo "FAIL dockerfile/$r: ${WHY[$r]}"
		fails=$((fails + 1))
	else
		echo "PASS dockerfile/$r"
	fi
done
[ "$fails" -eq 0 ]
