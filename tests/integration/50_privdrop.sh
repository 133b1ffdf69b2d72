#!/usr/bin/env bash
# dctproxy serve started as root with "user" set, as an operator without
# systemd or a container would run it:
#   - it binds a plain and a TLS listener below 1024 and reads a TLS key
#     that only root can read, then runs as the user: /proc shows every
#     UID and GID (real, effective, saved, fs) as the user's, no group 0,
#     no capability, NoNewPrivs 1;
#   - it serves a signed pull; the state directory it created belongs to
#     the user and holds trust files written after the drop; the audit
#     file was handed to the user;
#   - SIGHUP works without the root-only key; a changed "user" is logged
#     as taking effect at the next start;
#   - SIGUSR1 after a logrotate-style rotation ("create" with the user as
#     owner) writes to the new file;
#   - a root-owned state directory holding only trust data (an earlier run
#     as root) is handed over; one holding anything else is refused and
#     left alone;
#   - a user that does not exist: exit non-zero, naming the user;
#   - root without "user": a warning, still NoNewPrivs; started as the
#     user itself: "already running unprivileged"; started as another
#     unprivileged user than configured: refused.
# Needs root. Uses the system user dctproxy-test, created (and removed at
# the end) if it does not exist.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip privdrop "needs root to test dropping privileges (running as uid $(id -u))"
	exit 0
fi
require_lab
for c in useradd userdel setpriv ss; do
	if ! command -v "$c" >/dev/null 2>&1; then
		fail tools "$c is missing"
		exit 1
	fi
done

TUSER=dctproxy-test
work=$(mktemp -d -t dctproxy-50priv.XXXXXX)
PROXY_PID=
CREATED_USER=
stop_proxy() {
	if [ -n "$PROXY_PID" ] && kill -0 "$PROXY_PID" 2>/dev/null; then
		kill -TERM "$PROXY_PID" 2>/dev/null
		wait "$PROXY_PID" 2>/dev/null
	fi
	PROXY_PID=
}
cleanup() {
	stop_proxy
	rm -rf "$work"
	if [ -n "$CREATED_USER" ]; then
		userdel "$TUSER" >/dev/null 2>&1 || echo "50_privdrop: could not remove user $TUSER" >&2
	fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# The user: an existing one is used only if it is unprivileged; it is never deleted.
if id -u "$TUSER" >/dev/null 2>&1; then
	if [ "$(id -u "$TUSER")" -eq 0 ] || [ "$(id -g "$TUSER")" -eq 0 ] ||
	    id -G "$TUSER" | tr ' ' '\n' | grep -qx 0; then
		fail test-user "existing user $TUSER is root or in group 0; refusing to use it"
		exit 1
	fi
else
	if ! useradd --system --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin "$TUSER" >"$work/useradd.log" 2>&1; then
		fail test-user "useradd: $(cat "$work/useradd.log")"
		exit 1
	fi
	CREATED_USER=1
fi
TUID=$(id -u "$TUSER")
TGID=$(id -g "$TUSER")

# A free port in 600-1000 on 127.0.0.1 (nothing listening on it on any address).
low_port() {
	local p i
	for i in $(seq 1 100); do
		p=$(( (RANDOM % 401) + 600 ))
		[ "$p" = "${1:-}" ] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
		    [ -z "$(ss -Htln "( sport = :$p )")" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
if ! P=$(low_port) || ! PT=$(low_port "$P"); then
	fail low-port "no free port in 600-1000"
	exit 1
fi

# The user must pass through $work: it reads the config on SIGHUP and
# libcurl reads the Notary CA bundle for every connection, after the drop.
chmod 0755 "$work"
cp "$LAB_CA" "$work/ca.pem"
chmod 0644 "$work/ca.pem"
# The TLS key, readable by root alone (read before the drop).
mkdir -m 0700 "$work/tls"
cp "$LAB_SERVER_CERT" "$work/tls/server.pem"
cp "$LAB_SERVER_KEY" "$work/tls/server-key.pem"
chmod 0600 "$work/tls/server-key.pem"
mkdir -m 0755 "$work/audit"		# root's: the user cannot create files here

config() {	# ADDR-PORT STATE USER(or "") [MODE]
	bash "$TOP/tests/lab/lab.sh" proxy-config "$LAB_DIR" "127.0.0.1:$1" "$2" \
	    "$work/audit/audit.log" | jq --arg user "$3" --arg ca "$work/ca.pem" \
	    --arg tls "127.0.0.1:$PT" --arg crt "$work/tls/server.pem" \
	    --arg key "$work/tls/server-key.pem" --arg mode "${4:-enforced}" '
		(if $user == "" then del(.user) else .user = $user end)
		| .registries[].notary.ca = $ca
		| .listeners += [{address: $tls, tls: {certificate: $crt, key: $key}}]
		| .["content-trust"].mode = $mode'
}
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
wait_log() {	# FILE TEXT: until FILE contains TEXT (5 s)
	local i
	for i in $(seq 1 50); do
		grep -qF "$2" "$1" && return 0
		sleep 0.1
	done
	return 1
}
status_field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }
start() {	# CONFIG LOG PORT [setpriv args...]: start serve, wait until it serves
	local cfg=$1 log=$2 port=$3
	shift 3
	if [ $# -gt 0 ]; then
		setpriv "$@" -- "$DCTPROXY" serve -c "$cfg" >"$log" 2>&1 &
	else
		"$DCTPROXY" serve -c "$cfg" >"$log" 2>&1 &
	fi
	PROXY_PID=$!
	wait_port "$port" 15 || return 1
	# the port answers before the drop is done: wait for the start to finish
	for _ in $(seq 1 100); do
		grep -q '^dctproxy: serving (' "$log" && return 0
		kill -0 "$PROXY_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# serve must exit non-zero by itself (within 20 s); prints its output.
must_fail() {	# CONFIG LOG [setpriv args...]
	local cfg=$1 log=$2 rc
	shift 2
	if [ $# -gt 0 ]; then
		timeout 20 setpriv "$@" -- "$DCTPROXY" serve -c "$cfg" >"$log" 2>&1
	else
		timeout 20 "$DCTPROXY" serve -c "$cfg" >"$log" 2>&1
	fi
	rc=$?
	echo "$rc"
}

signed=$(lab_json '.repos[] | select(.repo == "library/alpine") | .tags[]
	| select(.tag == "signed") | .signed_digest')
gun_dir=$(jq -rn --arg g "$LAB_REGISTRY/library/alpine" '$g | @uri')	# as trust/state.c names it
accept='Accept: application/vnd.docker.distribution.manifest.v2+json'

# ---------------------------------------------------------------------------
# 1. root -> user
config "$P" "$work/state" "$TUSER" >"$work/config.json"
chmod 0644 "$work/config.json"
if ! start "$work/config.json" "$work/serve.log" "$P" || ! wait_port "$PT" 5; then
	fail drop/starts "not listening on $P and $PT; log: $(tail -5 "$work/serve.log")"
	exit 1
fi
pass drop/starts
check_contains drop/log "$(cat "$work/serve.log")" "running as user $TUSER (uid $TUID, gid $TGID)"
check_eq drop/ping 200 "$(code "http://127.0.0.1:$P/v2/")"
check_eq drop/tls-ping 200 "$(code --cacert "$work/ca.pem" "https://127.0.0.1:$PT/v2/")"
hdr=$(curl -s -D - -o /dev/null -H "$accept" \
	"http://127.0.0.1:$P/v2/library/alpine/manifests/signed" | tr -d '\r')
check_contains drop/signed-pull-200 "$hdr" "HTTP/1.1 200"
check_eq drop/signed-pull-digest "$signed" \
	"$(printf '%s\n' "$hdr" | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')"
check_eq drop/unsigned-refused 403 "$(code -H "$accept" \
	"http://127.0.0.1:$P/v2/library/alpine/manifests/unsigned")"

# /proc: Uid and Gid lines are real, effective, saved, fs.
check_eq proc/uid "$TUID $TUID $TUID $TUID" "$(status_field "$PROXY_PID" Uid | tr -s ' \t' ' ')"
check_eq proc/gid "$TGID $TGID $TGID $TGID" "$(status_field "$PROXY_PID" Gid | tr -s ' \t' ' ')"
groups=$(status_field "$PROXY_PID" Groups | tr -s ' \t' '\n' | sed '/^$/d' | sort -n | tr '\n' ' ')
if printf '%s' "$groups" | tr ' ' '\n' | grep -qx 0; then fail proc/no-group-0 "Groups: $groups"; else pass proc/no-group-0; fi
check_eq proc/groups-are-users "$(id -G "$TUSER" | tr ' ' '\n' | sort -n | tr '\n' ' ')" \
	"$groups"
check_eq proc/no-new-privs 1 "$(status_field "$PROXY_PID" NoNewPrivs)"
check_eq proc/cap-eff 0000000000000000 "$(status_field "$PROXY_PID" CapEff)"
check_eq proc/cap-prm 0000000000000000 "$(status_field "$PROXY_PID" CapPrm)"
check_eq proc/cap-amb 0000000000000000 "$(status_field "$PROXY_PID" CapAmb)"

# state: created by serve (it did not exist), the user's, trust files written after the drop
check_eq state/dir-owner "$TUID $TGID 700" "$(stat -c '%u %g %a' "$work/state")"
check_contains state/created-log "$(cat "$work/serve.log")" "state directory $work/state: created, owned by $TUSER"
for f in root.json timestamp.json snapshot.json targets.json; do
	if [ -f "$work/state/$gun_dir/$f" ]; then
		check_eq "state/$f-owner" "$TUID" "$(stat -c %u "$work/state/$gun_dir/$f")"
	else
		fail "state/$f-owner" "no $work/state/$gun_dir/$f: $(ls -R "$work/state" | head -20)"
	fi
done
check_eq state/nothing-root-owned "" "$(find "$work/state" ! -user "$TUSER" -print)"

# audit: handed to the user (group kept), the pull is in it
check_eq audit/owner "$TUID 0" "$(stat -c '%u %g' "$work/audit/audit.log")"
check_contains audit/pull-logged "$(grep '"reference":"signed"' "$work/audit/audit.log")" '"decision":"allow"'
check_contains audit/rotation-note "$(cat "$work/serve.log")" \
	"note: $TUSER cannot create files in $work/audit"

# the premise of the reload check: the user cannot read the key
if setpriv --reuid="$TUID" --regid="$TGID" --init-groups -- cat "$work/tls/server-key.pem" \
    >/dev/null 2>&1; then
	fail reload/key-unreadable "the user can read the TLS key; the reload check proves nothing"
else
	pass reload/key-unreadable
fi
# SIGHUP: permissive mode, and "user" changed (logged, not applied)
config "$P" "$work/state" nobody permissive >"$work/config.json"
kill -HUP "$PROXY_PID"
if wait_log "$work/serve.log" "reloaded"; then pass reload/ok; else fail reload/ok "$(tail -3 "$work/serve.log")"; fi
check_contains reload/user-change-logged "$(cat "$work/serve.log")" \
	"reload: \"user\" changed from $TUSER to nobody; it takes effect at the next start"
check_eq reload/permissive-applied 200 "$(code -H "$accept" \
	"http://127.0.0.1:$P/v2/library/alpine/manifests/unsigned")"
check_eq reload/still-the-user "$TUID $TUID $TUID $TUID" "$(status_field "$PROXY_PID" Uid | tr -s ' \t' ' ')"

# SIGUSR1 after rotation: logrotate's "create" gives the new file to the user
mv "$work/audit/audit.log" "$work/audit/audit.log.1"
install -m 0640 -o "$TUSER" -g root /dev/null "$work/audit/audit.log"
kill -USR1 "$PROXY_PID"
if wait_log "$work/serve.log" "audit log reopened"; then pass rotate/reopened; else fail rotate/reopened "$(tail -3 "$work/serve.log")"; fi
code -H "$accept" "http://127.0.0.1:$P/v2/library/alpine/manifests/signed" >/dev/null
check_eq rotate/new-file-written 1 "$(grep -c '"reference":"signed"' "$work/audit/audit.log")"

kill -TERM "$PROXY_PID"
wait "$PROXY_PID"
check_eq drop/exit-0 0 "$?"
PROXY_PID=

# ---------------------------------------------------------------------------
# 2. a root-owned state directory with trust data (an earlier run as root) is handed over
chown -R 0:0 "$work/state"
config "$P" "$work/state" "$TUSER" >"$work/config.json"
if start "$work/config.json" "$work/serve2.log" "$P"; then
	check_contains handover/log "$(cat "$work/serve2.log")" "state directory $work/state: handed over, owned by $TUSER"
	check_eq handover/nothing-root-owned "" "$(find "$work/state" ! -user "$TUSER" -print)"
	check_eq handover/pull 200 "$(code -H "$accept" "http://127.0.0.1:$P/v2/library/alpine/manifests/signed")"
else
	fail handover/starts "$(tail -5 "$work/serve2.log")"
fi
stop_proxy

# ... but not one that holds anything else
mkdir -m 0755 "$work/notstate"
echo x >"$work/notstate/passwd"
config "$P" "$work/notstate" "$TUSER" >"$work/config-bad-state.json"
rc=$(must_fail "$work/config-bad-state.json" "$work/serve3.log")
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then pass foreign-state/exit-nonzero; else fail foreign-state/exit-nonzero "rc $rc"; fi
check_contains foreign-state/message "$(cat "$work/serve3.log")" "passwd does not look like trust data; not handing it to $TUSER"
check_eq foreign-state/untouched "0 0 " "$(stat -c %u "$work/notstate" "$work/notstate/passwd" | tr '\n' ' ')"

# ---------------------------------------------------------------------------
# 3. a user that does not exist
nouser="dctproxy-nosuch-$$"
while id -u "$nouser" >/dev/null 2>&1; do nouser="$nouser"x; done
config "$P" "$work/state" "$nouser" >"$work/config-nouser.json"
rc=$(must_fail "$work/config-nouser.json" "$work/serve4.log")
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then pass nouser/exit-nonzero; else fail nouser/exit-nonzero "rc $rc"; fi
check_contains nouser/message "$(cat "$work/serve4.log")" "user \"$nouser\" ($work/config-nouser.json): no such user"

# ---------------------------------------------------------------------------
# 4. root without "user": a warning, no_new_privs all the same
config "$P" "$work/state-root" "" >"$work/config-root.json"
if start "$work/config-root.json" "$work/serve5.log" "$P"; then
	check_contains root/warning "$(cat "$work/serve5.log")" "warning: running as root"
	check_eq root/uid "0 0 0 0" "$(status_field "$PROXY_PID" Uid | tr -s ' \t' ' ')"
	check_eq root/no-new-privs 1 "$(status_field "$PROXY_PID" NoNewPrivs)"
else
	fail root/starts "$(tail -5 "$work/serve5.log")"
fi
stop_proxy

# ---------------------------------------------------------------------------
# 5. started unprivileged (high ports, no key: as under systemd User=)
H=$(free_port)
install -d -o "$TUSER" -g "$TGID" -m 0700 "$work/state-user"
config "$H" "$work/state-user" "$TUSER" | jq 'del(.listeners[1]) | .audit.path = "-"' \
	>"$work/config-self.json"
config "$H" "$work/state-user" nobody | jq 'del(.listeners[1]) | .audit.path = "-"' \
	>"$work/config-other.json"
chmod 0644 "$work/config-self.json" "$work/config-other.json"
asuser=(--reuid="$TUID" --regid="$TGID" --init-groups)
if start "$work/config-self.json" "$work/serve6.log" "$H" "${asuser[@]}"; then
	check_contains self/log "$(cat "$work/serve6.log")" "already running unprivileged as uid $TUID (user $TUSER)"
	check_eq self/no-new-privs 1 "$(status_field "$PROXY_PID" NoNewPrivs)"
	check_eq self/ping 200 "$(code "http://127.0.0.1:$H/v2/")"
else
	fail self/starts "$(tail -5 "$work/serve6.log")"
fi
stop_proxy
rc=$(must_fail "$work/config-other.json" "$work/serve7.log" "${asuser[@]}")
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then pass other-user/exit-nonzero; else fail other-user/exit-nonzero "rc $rc"; fi
check_contains other-user/message "$(cat "$work/serve7.log")" \
	"user \"nobody\" (uid $(id -u nobody)) is configured in $work/config-other.json, but dctproxy runs as uid $TUID without root and cannot switch"

[ "$T_FAILS" -eq 0 ]
