#!/usr/bin/env bash
# check_systemd.sh UNIT: static checks of dctproxy's systemd service unit.
#
# One line per rule, "PASS systemd/<rule>" or "FAIL systemd/<rule>: <why>";
# exit 1 when any rule fails, 2 on a usage error. Rules are named after the
# directive they check. Only the [Service] section is read; continuation
# lines are joined; a directive given several times is read the way systemd
# reads it (lists accumulate, an empty assignment resets, otherwise the last
# one wins).
#
# systemd-analyze verify (does systemd accept the unit at all) is run by
# tests/integration/05_deploy.sh, because it needs ExecStart to exist.
#
# Rules:
#   User                      User= set and not root, or DynamicUser=yes
#   ExecStart                 runs dctproxy serve
#   ExecReload                sends SIGHUP to $MAINPID
#   StateDirectory, LogsDirectory   contain "dctproxy"
#   NoNewPrivileges ProtectHome PrivateTmp PrivateDevices ProtectKernelTunables
#   ProtectKernelModules ProtectKernelLogs ProtectControlGroups ProtectClock
#   ProtectHostname LockPersonality MemoryDenyWriteExecute RestrictNamespaces
#   RestrictRealtime RestrictSUIDSGID
#                             = yes
#   ProtectSystem             = strict
#   CapabilityBoundingSet     exactly CAP_NET_BIND_SERVICE
#   AmbientCapabilities       nothing beyond CAP_NET_BIND_SERVICE
#   RestrictAddressFamilies   an allow-list within AF_INET AF_INET6 AF_UNIX
#   SystemCallFilter          an allow-list including @system-service
#   SystemCallArchitectures   = native
#   UMask                     no group or other permissions (..77)
#   exposure                  systemd-analyze security --offline=yes scores at
#                             most MAX_EXPOSURE (default 2.0); SKIP without a
#                             systemd-analyze that knows --offline (< 252)
set -u

if [ $# -ne 1 ] || [ ! -r "$1" ]; then
	echo "usage: check_systemd.sh UNIT-FILE" >&2
	exit 2
fi
unit=$1
max_exposure=${MAX_EXPOSURE:-2.0}

# [Service] assignments as KEY<TAB>VALUE, in file order.
svc=$(awk '
	{ sub(/\r$/, "") }
	cont { line = line " " $0 }
	!cont { line = $0 }
	/\\$/ { sub(/\\$/, "", line); cont = 1; next }
	{ cont = 0 }
	line ~ /^[ \t]*[#;]/ || line ~ /^[ \t]*$/ { next }
	line ~ /^[ \t]*\[/ { sect = line; gsub(/[ \t]/, "", sect); next }
	sect == "[Service]" && line ~ /=/ {
		k = line; sub(/=.*/, "", k); gsub(/[ \t]/, "", k)
		v = line; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t]+$/, "", v)
		printf "%s\t%s\n", k, v
	}
' "$unit")

# Loaded once: LAST[k] the last assignment, LIST[k] the accumulated list
# (an empty assignment resets it), SEEN[k] set when assigned at all.
declare -A LAST=() LIST=() SEEN=()
while IFS=$'\t' read -r k v; do
	[ -n "$k" ] || continue
	SEEN[$k]=1; LAST[$k]=$v
	if [ -z "$v" ]; then LIST[$k]=""; else LIST[$k]="${LIST[$k]:+${LIST[$k]} }$v"; fi
done <<<"$svc"
# last KEY: the value of the last assignment (empty when unset).
last() { printf '%s\n' "${LAST[$1]:-}"; }
# list KEY: the accumulated list (space-separated).
list() { printf '%s\n' "${LIST[$1]:-}"; }
# isset KEY: assigned at all.
isset() { [ -n "${SEEN[$1]:-}" ]; }
truthy() { case "${1,,}" in yes|true|on|1) return 0 ;; *) return 1 ;; esac; }
# words LIST: one word per line.
words() { tr -s "[:blank:]" "\n" <<<"$1" | grep -v "^$"; }

fails=0
ok() { echo "PASS systemd/$1${2:+: $2}"; }
bad() { echo "FAIL systemd/$1: $2"; fails=$((fails + 1)); }

# User
if truthy "$(last DynamicUser)"; then
	ok User "DynamicUser=yes"
else
	u=$(last User)
	case "$u" in
	"") bad User "neither User= nor DynamicUser=yes: the service runs as root" ;;
	root|0) bad User "User=$u" ;;
	*) ok User ;;
	esac
fi

v=$(last ExecStart)
if [[ "$v" =~ dctproxy[[:space:]]+serve ]]; then ok ExecStart; else bad ExecStart "'$v' does not run dctproxy serve"; fi
v=$(last ExecReload)
if [[ "$v" =~ kill[[:space:]]+(-HUP|-s[[:space:]]+HUP|-SIGHUP|-1)[[:space:]]+\$\{?MAINPID ]]; then ok ExecReload; else bad ExecReload "'${v:-<unset>}' does not send SIGHUP to \$MAINPID"; fi

for k in StateDirectory LogsDirectory; do
	v=$(list "$k")
	if [[ " $v " == *" dctproxy "* ]]; then ok "$k"; else bad "$k" "'${v:-<unset>}' has no dctproxy directory"; fi
done

for k in NoNewPrivileges ProtectHome PrivateTmp PrivateDevices ProtectKernelTunables \
	ProtectKernelModules ProtectKernelLogs ProtectControlGroups ProtectClock \
	ProtectHostname LockPersonality MemoryDenyWriteExecute RestrictNamespaces \
	RestrictRealtime RestrictSUIDSGID; do
	v=$(last "$k")
	if truthy "$v"; then ok "$k"
	elif isset "$k"; then bad "$k" "$k=$v, want yes"
	else bad "$k" "not set (systemd's default is off)"; fi
done

v=$(last ProtectSystem)
if [ "$v" = strict ]; then ok ProtectSystem; else bad ProtectSystem "ProtectSystem=${v:-<unset>}, want strict"; fi

v=$(list CapabilityBoundingSet)
if [ "$(words "$v" | sort -u | tr '\n' ' ')" = "CAP_NET_BIND_SERVICE " ]; then
	ok CapabilityBoundingSet
else
	bad CapabilityBoundingSet "'${v:-<unset: all capabilities>}', want exactly CAP_NET_BIND_SERVICE"
fi

v=$(list AmbientCapabilities)
extra=$(words "$v" | grep -vx CAP_NET_BIND_SERVICE | tr '\n' ' ')
if [ -z "$extra" ]; then ok AmbientCapabilities; else bad AmbientCapabilities "grants $extra"; fi

v=$(list RestrictAddressFamilies)
if [ -z "$v" ]; then
	bad RestrictAddressFamilies "not set: every address family is allowed"
elif [[ "$v" == *"~"* ]]; then
	bad RestrictAddressFamilies "'$v' is a deny-list; use an allow-list"
else
	extra=$(words "$v" | grep -vxE 'AF_INET|AF_INET6|AF_UNIX' | tr '\n' ' ')
	if [ -z "$extra" ]; then ok RestrictAddressFamilies; else bad RestrictAddressFamilies "allows $extra"; fi
fi

# Allow-list assignments are those not starting with "~".
allow=$(printf '%s\n' "$svc" | awk -F'\t' '$1 == "SystemCallFilter" { if ($2 == "") v = ""; else if ($2 !~ /^~/) v = v " " $2 } END { print v }')
if [[ " $allow " == *" @system-service "* ]]; then ok SystemCallFilter; else bad SystemCallFilter "no SystemCallFilter=@system-service allow-list"; fi

v=$(last SystemCallArchitectures)
if [ "$v" = native ]; then ok SystemCallArchitectures; else bad SystemCallArchitectures "SystemCallArchitectures=${v:-<unset>}, want native"; fi

v=$(last UMask)
if [[ "$v" =~ ^0?[0-7]?77$ ]]; then ok UMask; else bad UMask "UMask=${v:-<unset: 0022>}, want 0077"; fi

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP systemd/exposure: systemd-analyze not installed"
elif ! out=$(systemd-analyze security --offline=yes "$unit" 2>&1); then
	if printf '%s\n' "$out" | grep -qi 'offline'; then
		echo "SKIP systemd/exposure: this systemd-analyze has no --offline (needs systemd >= 252)"
	else
		bad exposure "systemd-analyze security failed: $(printf '%s' "$out" | tail -3 | tr '\n' ' ')"
	fi
else
	score=$(printf '%s\n' "$out" | grep -Eo 'Overall exposure level for [^:]*: [0-9.]+' | grep -Eo '[0-9.]+$')
	if [ -z "$score" ]; then
		bad exposure "no score in systemd-analyze output"
	elif awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }'; then
		ok exposure "$score (max $max_exposure)"
	else
		bad exposure "$score exceeds $max_exposure"
	fi
fi

[ "$fails" -eq 0 ]
