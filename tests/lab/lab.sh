#!/usr/bin/env bash
# The integration lab: a real registry, notary-server + notary-signer and
# deterministic signed/unsigned images, all on 127.0.0.1 with free ports.
#
#   bash tests/lab/lab.sh start DIR   start everything, state under DIR, write
#                                     DIR/lab.env and DIR/lab.json
#   bash tests/lab/lab.sh stop DIR    kill exactly the PIDs in DIR/pids/*.pid
#   bash tests/lab/lab.sh show DIR    print a readable table of DIR/lab.json
#
# Only bash, openssl, jq, curl, tar, gzip, sha256sum, skopeo, ss and the
# notary / docker-registry binaries are used. LAB_LOG_LEVEL (default info)
# sets the log level of the servers; their logs are DIR/logs/*.log.
# What it builds, and the lab.json schema, are described in tests/lab/README.md.
set -euo pipefail

LAB_PASSPHRASE=dctproxy-lab-passphrase
LOG_LEVEL=${LAB_LOG_LEVEL:-info}
BIG_MIB=16

usage() { echo "usage: $0 start|stop|show DIR | proxy-config DIR ADDR STATE AUDIT" >&2; exit 2; }
say() { echo "lab: $*" >&2; }

# ---------------------------------------------------------------------------
# Processes. Every PID goes to DIR/pids/NAME.pid, with the kernel start time
# beside it (NAME.start) so that stop never kills a recycled PID.
proc_start_time() {	# PID -> field 22 of /proc/PID/stat
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo "${20}"
}

lab_stop() {	# DIR
	local dir=$1 f pid name st waited alive=()
	[ -d "$dir/pids" ] || return 0
	for f in "$dir"/pids/*.pid; do
		[ -f "$f" ] || continue
		name=$(basename "$f" .pid)
		pid=$(cat "$f")
		rm -f "$f"
		case "$pid" in '' | *[!0-9]*) rm -f "$dir/pids/$name.start"; continue ;; esac
		if [ -f "$dir/pids/$name.start" ]; then
			st=$(proc_start_time "$pid" || true)
			if [ "$st" != "$(cat "$dir/pids/$name.start")" ]; then
				rm -f "$dir/pids/$name.start"
				continue	# gone, or the PID now belongs to someone else
			fi
			rm -f "$dir/pids/$name.start"
		fi
		if kill -TERM "$pid" 2>/dev/null; then alive+=("$pid"); fi
	done
	[ ${#alive[@]} -gt 0 ] || return 0
	for waited in $(seq 1 50); do
		local still=()
		for pid in "${alive[@]}"; do
			kill -0 "$pid" 2>/dev/null && still+=("$pid")
		done
		[ ${#still[@]} -gt 0 ] || return 0
		alive=("${still[@]}")
		[ "$waited" -lt 50 ] && sleep 0.1
	done
	for pid in "${alive[@]}"; do
		say "PID $pid did not stop on TERM, sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
	done
}

# launch NAME LOG CMD...: start CMD in the background, record its PID.
launch() {
	local name=$1 log=$2; shift 2
	"$@" >"$log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$D/pids/$name.pid"
	proc_start_time "$pid" >"$D/pids/$name.start" 2>/dev/null || true
	LAST_PID=$pid
}

# fail_component NAME LOG WHY: report, show the log tail, exit (the EXIT
# trap stops whatever was started).
fail_component() {
	say "component '$1' failed to start: $3"
	if [ -f "$2" ]; then
		say "last lines of $2:"
		tail -n 25 "$2" >&2
	fi
	exit 1
}

pick_port() {
	local p
	while :; do
		p=$(( (RANDOM % 16000) + 15000 ))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		echo "$p"
		return
	done
}

# listening_pid PORT PID: true when PID itself listens on 127.0.0.1:PORT.
listening_pid() {
	if command -v ss >/dev/null 2>&1; then
		ss -Hltnp "sport = :$1" 2>/dev/null | grep -q "pid=$2,"
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# wait_listen NAME LOG PORT PID SECONDS: 0 when up, 1 when the process died
# (caller may retry on another port), exits when it neither dies nor listens.
wait_listen() {
	local i
	for i in $(seq 1 $(( $5 * 20 ))); do
		if ! kill -0 "$4" 2>/dev/null; then return 1; fi
		if listening_pid "$3" "$4"; then return 0; fi
		sleep 0.05
	done
	fail_component "$1" "$2" "not listening on 127.0.0.1:$3 after $5 s"
}

# ---------------------------------------------------------------------------
# Certificates: one P-256 CA and one server/client certificate.
make_certs() {
	local c=$D/certs
	mkdir -p "$c"
	openssl ecparam -name prime256v1 -genkey -noout -out "$c/ca-key.pem" 2>/dev/null
	openssl req -new -x509 -key "$c/ca-key.pem" -out "$D/ca.pem" -days 3650 -sha256 \
		-subj "/CN=dctproxy lab CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	openssl ecparam -name prime256v1 -genkey -noout -out "$c/server-key.pem" 2>/dev/null
	openssl req -new -key "$c/server-key.pem" -subj "/CN=localhost" -out "$c/server.csr" 2>/dev/null
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=serverAuth,clientAuth" \
		"subjectAltName=IP:127.0.0.1,DNS:localhost" >"$c/server.ext"
	openssl x509 -req -in "$c/server.csr" -CA "$D/ca.pem" -CAkey "$c/ca-key.pem" \
		-set_serial "0x$(openssl rand -hex 8)" -days 825 -sha256 \
		-extfile "$c/server.ext" -out "$c/server.pem" 2>/dev/null
	rm -f "$c/server.csr" "$c/server.ext"
	# The delegation signer of team/app: its own P-256 key, self-signed cert.
	openssl ecparam -name prime256v1 -genkey -noout -out "$c/releases-key.pem" 2>/dev/null
	openssl req -new -x509 -key "$c/releases-key.pem" -out "$c/releases.pem" -days 3650 \
		-sha256 -subj "/CN=releases" 2>/dev/null
}

# ---------------------------------------------------------------------------
# Servers.
start_registry() {
	local port log=$D/logs/registry.log
	mkdir -p "$D/registry/data"
	for _ in 1 2 3; do
		port=$(pick_port)
		cat >"$D/registry/config.yml" <<EOF
version: 0.1
log:
  level: $LOG_LEVEL
  formatter: text
storage:
  filesystem:
    rootdirectory: $D/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  headers:
    X-Content-Type-Options: [nosniff]
EOF
		launch registry "$log" docker-registry serve "$D/registry/config.yml"
		if wait_listen registry "$log" "$port" "$LAST_PID" 15; then
			REG=127.0.0.1:$port
			REG_URL=http://$REG
			curl -fsS -o /dev/null "$REG_URL/v2/" ||
				fail_component registry "$log" "GET /v2/ failed"
			return 0
		fi
		grep -q 'address already in use' "$log" || break
		say "registry: port $port taken, retrying"
	done
	fail_component registry "$log" "process exited"
}

start_signer() {
	local port log=$D/logs/notary-signer.log
	for _ in 1 2 3; do
		port=$(pick_port)
		jq -n --arg addr "127.0.0.1:$port" --arg crt "$D/certs/server.pem" \
			--arg key "$D/certs/server-key.pem" --arg ca "$D/ca.pem" --arg lvl "$LOG_LEVEL" \
			'{server: {grpc_addr: $addr, tls_cert_file: $crt, tls_key_file: $key,
			   client_ca_file: $ca},
			  logging: {level: $lvl}, storage: {backend: "memory"}}' >"$D/notary/signer.json"
		launch notary-signer "$log" notary-signer -config "$D/notary/signer.json" -logf logfmt
		if wait_listen notary-signer "$log" "$port" "$LAST_PID" 15; then
			SIGNER_PORT=$port
			return 0
		fi
		grep -q 'address already in use' "$log" || break
		say "notary-signer: port $port taken, retrying"
	done
	fail_component notary-signer "$log" "process exited"
}

start_server() {
	local port log=$D/logs/notary-server.log i
	for _ in 1 2 3; do
		port=$(pick_port)
		jq -n --arg addr "127.0.0.1:$port" --arg crt "$D/certs/server.pem" \
			--arg key "$D/certs/server-key.pem" --arg ca "$D/ca.pem" --arg lvl "$LOG_LEVEL" \
			--arg sport "$SIGNER_PORT" \
			'{server: {http_addr: $addr, tls_cert_file: $crt, tls_key_file: $key},
			  trust_service: {type: "remote", hostname: "127.0.0.1", port: $sport,
			    tls_ca_file: $ca, key_algorithm: "ecdsa",
			    tls_client_cert: $crt, tls_client_key: $key},
			  logging: {level: $lvl}, storage: {backend: "memory"}}' >"$D/notary/server.json"
		launch notary-server "$log" notary-server -config "$D/notary/server.json" -logf logfmt
		if wait_listen notary-server "$log" "$port" "$LAST_PID" 15; then
			NOTARY_URL=https://127.0.0.1:$port
			for i in $(seq 1 50); do
				curl -fsS --cacert "$D/ca.pem" -o /dev/null "$NOTARY_URL/v2/" && return 0
				sleep 0.1
			done
			fail_component notary-server "$log" "GET /v2/ over TLS with the lab CA failed"
		fi
		grep -q 'address already in use' "$log" || break
		say "notary-server: port $port taken, retrying"
	done
	fail_component notary-server "$log" "process exited"
}

# ---------------------------------------------------------------------------
# Images, built by hand as skopeo dir: layouts.
MT_S2=application/vnd.docker.distribution.manifest.v2+json
MT_LIST=application/vnd.docker.distribution.manifest.list.v2+json
MT_OCI=application/vnd.oci.image.manifest.v1+json

sha_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { stat -c %s "$1"; }

# mkimage LAYOUT FORMAT(docker|oci) ARCH TEXT [BIG_MIB]
# Writes config and layer blobs into LAYOUT, the manifest to LAYOUT.m (not
# inside the layout), and sets M_DIGEST, M_SIZE, M_FILE, M_BLOBS.
mkimage() {
	local layout=$1 fmt=$2 arch=$3 text=$4 big=${5:-}
	local work root tar gz lhex lsize diffid cfg chex csize cmt lmt
	work=$(mktemp -d "$D/build/img.XXXXXX")
	root=$work/rootfs
	mkdir -p "$root/etc" "$layout"
	printf '%s\n' "$text" >"$root/etc/dctproxy-lab"
	if [ -n "$big" ]; then
		# Deterministic pseudo-random bytes: AES-CTR with a fixed key over zeros.
		head -c $(( big * 1024 * 1024 )) /dev/zero |
			openssl enc -aes-128-ctr -nosalt -K 00112233445566778899aabbccddeeff \
				-iv 00000000000000000000000000000000 >"$root/big.bin"
	fi
	tar=$work/layer.tar
	tar --mtime=@0 --owner=0 --group=0 --numeric-owner --sort=name \
		--mode='u+rwX,go+rX,go-w' -C "$root" -cf "$tar" .
	diffid=$(sha_of "$tar")
	gz=$work/layer.tar.gz
	if [ -n "$big" ]; then gzip -n -1 -c "$tar" >"$gz"; else gzip -n -9 -c "$tar" >"$gz"; fi
	lhex=$(sha_of "$gz"); lsize=$(size_of "$gz")
	mv "$gz" "$layout/$lhex"
	cfg=$work/config.json
	printf '{"architecture":"%s","config":{"Cmd":["/bin/sh"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Labels":{"org.dctproxy.lab":"%s"}},"created":"1970-01-01T00:00:00Z","history":[{"created":"1970-01-01T00:00:00Z","created_by":"dctproxy lab: %s"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$arch" "$text" "$text" "$diffid" >"$cfg"
	chex=$(sha_of "$cfg"); csize=$(size_of "$cfg")
	mv "$cfg" "$layout/$chex"
	if [ "$fmt" = oci ]; then
		cmt=application/vnd.oci.image.config.v1+json
		lmt=application/vnd.oci.image.layer.v1.tar+gzip
		M_FILE=$layout.m
		printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"%s","digest":"sha256:%s","size":%s}]}' \
			"$MT_OCI" "$cmt" "$chex" "$csize" "$lmt" "$lhex" "$lsize" >"$M_FILE"
	else
		cmt=application/vnd.docker.container.image.v1+json
		lmt=application/vnd.docker.image.rootfs.diff.tar.gzip
		M_FILE=$layout.m
		printf '{\n   "schemaVersion": 2,\n   "mediaType": "%s",\n   "config": {\n      "mediaType": "%s",\n      "size": %s,\n      "digest": "sha256:%s"\n   },\n   "layers": [\n      {\n         "mediaType": "%s",\n         "size": %s,\n         "digest": "sha256:%s"\n      }\n   ]\n}' \
			"$MT_S2" "$cmt" "$csize" "$chex" "$lmt" "$lsize" "$lhex" >"$M_FILE"
	fi
	M_DIGEST=sha256:$(sha_of "$M_FILE")
	M_SIZE=$(size_of "$M_FILE")
	M_BLOBS="sha256:$chex sha256:$lhex"
	printf 'Directory Transport Version: 1.1\n' >"$layout/version"
	rm -rf "$work"
}

# Per pushed image: the layout, its destination, and what goes into lab.json.
PUSH_SRC=() PUSH_DST=() PUSH_ALL=()
declare -A T_MT T_DIGEST T_SIZE T_BLOBS T_CHILDREN T_SIGNED T_SIGNED_SIZE T_SIGNED_BLOBS T_ROLE

# image REPO TAG FORMAT TEXT [BIG_MIB]: a single-platform image.
image() {
	local repo=$1 tag=$2 fmt=$3 text=$4 big=${5:-} layout
	layout=$D/build/layouts/${repo//\//_}_$tag
	mkimage "$layout" "$fmt" amd64 "$text" "$big"
	mv "$M_FILE" "$layout/manifest.json"
	local k=$repo:$tag
	if [ "$fmt" = oci ]; then T_MT[$k]=$MT_OCI; else T_MT[$k]=$MT_S2; fi
	T_DIGEST[$k]=$M_DIGEST T_SIZE[$k]=$M_SIZE T_BLOBS[$k]=$M_BLOBS T_CHILDREN[$k]=
	PUSH_SRC+=("$layout") PUSH_DST+=("$repo:$tag") PUSH_ALL+=("")
}

# image_list REPO TAG TEXT: a manifest list, linux/amd64 + linux/arm64 children.
image_list() {
	local repo=$1 tag=$2 text=$3 layout arch entries="" blobs="" children=""
	layout=$D/build/layouts/${repo//\//_}_$tag
	for arch in amd64 arm64; do
		mkimage "$layout" docker "$arch" "$text linux/$arch"
		mv "$M_FILE" "$layout/${M_DIGEST#sha256:}.manifest.json"
		[ -z "$entries" ] || entries+=","
		entries+=$(printf '\n      {\n         "mediaType": "%s",\n         "size": %s,\n         "digest": "%s",\n         "platform": {\n            "architecture": "%s",\n            "os": "linux"\n         }\n      }' \
			"$MT_S2" "$M_SIZE" "$M_DIGEST" "$arch")
		blobs+=" $M_BLOBS"
		children+=" $M_DIGEST=linux/$arch"
	done
	printf '{\n   "schemaVersion": 2,\n   "mediaType": "%s",\n   "manifests": [%s\n   ]\n}' \
		"$MT_LIST" "$entries" >"$layout/manifest.json"
	local k=$repo:$tag
	T_MT[$k]=$MT_LIST
	T_DIGEST[$k]=sha256:$(sha_of "$layout/manifest.json")
	T_SIZE[$k]=$(size_of "$layout/manifest.json")
	T_BLOBS[$k]=${blobs# } T_CHILDREN[$k]=${children# }
	PUSH_SRC+=("$layout") PUSH_DST+=("$repo:$tag") PUSH_ALL+=("--all")
}

skopeo_push() {	# LAYOUT REPO:TAG [--all]
	# shellcheck disable=SC2086
	skopeo --policy "$D/build/policy.json" copy -q $3 --preserve-digests \
		--dest-tls-verify=false "dir:$1" "docker://$REG/$2"
}

# push_all: push everything queued, in parallel, then check each digest.
push_all() {
	local i pids=() log=$D/logs/skopeo.log rc=0 k got
	for i in "${!PUSH_SRC[@]}"; do
		skopeo_push "${PUSH_SRC[$i]}" "${PUSH_DST[$i]}" "${PUSH_ALL[$i]}" >>"$log" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { say "skopeo push of ${PUSH_DST[$i]} failed"; rc=1; }
	done
	[ $rc -eq 0 ] || fail_component "image push (skopeo)" "$log" "see above"
	for i in "${!PUSH_DST[@]}"; do
		k=${PUSH_DST[$i]}
		got=$(registry_digest "${k%%:*}" "${k#*:}" "${T_MT[$k]}")
		[ "$got" = "${T_DIGEST[$k]}" ] || fail_component "image push (skopeo)" "$log" \
			"$k: registry digest $got differs from the layout's ${T_DIGEST[$k]}"
	done
	PUSH_SRC=() PUSH_DST=() PUSH_ALL=()
}

registry_digest() {	# REPO TAG MEDIATYPE
	curl -fsS -I -H "Accept: $3" "$REG_URL/v2/$1/manifests/$2" |
		tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p'
}

# ---------------------------------------------------------------------------
# Signing with the real notary client, as `docker trust sign` does.
notary_c() { notary -c "$D/notary/client/config.json" "$@"; }

# sign_gun GUN DELEGATION(yes|no) TAG... : init, server-managed snapshot key,
# optional targets/releases delegation, all targets, one final publish.
sign_gun() {
	local gun=$1 deleg=$2 log=$D/logs/notary-client.log tag k role=targets
	shift 2
	{
		notary_c init "$gun" &&
			notary_c key rotate "$gun" snapshot -r
	} >>"$log" 2>&1 || return 1
	if [ "$deleg" = yes ]; then
		role=targets/releases
		notary_c delegation add "$gun" targets/releases "$D/certs/releases.pem" \
			--all-paths >>"$log" 2>&1 || return 1
	fi
	for tag in "$@"; do
		k=${gun#*/}:$tag
		if [ "$role" = targets ]; then
			notary_c addhash "$gun" "$tag" "${T_SIGNED_SIZE[$k]}" \
				--sha256 "${T_SIGNED[$k]#sha256:}" >>"$log" 2>&1 || return 1
		else
			notary_c addhash "$gun" "$tag" "${T_SIGNED_SIZE[$k]}" \
				--sha256 "${T_SIGNED[$k]#sha256:}" -r "$role" >>"$log" 2>&1 || return 1
		fi
	done
	notary_c publish "$gun" >>"$log" 2>&1
}

# canonical_id KEYTYPE BASE64: TUF key ID (sha256 of the canonical key JSON).
canonical_id() {
	printf '{"keytype":"%s","keyval":{"private":null,"public":"%s"}}' "$1" "$2" |
		sha256sum | cut -d' ' -f1
}

# ---------------------------------------------------------------------------
lab_start() {
	local t0 t1 tp
	t0=$(date +%s.%N)
	mkdir -p "$D/pids" "$D/logs" "$D/build/layouts" "$D/notary/client/trust"
	trap 'rc=$?; if [ $rc -ne 0 ]; then say "start failed, stopping what was started"; lab_stop "$D"; fi' EXIT
	trap 'exit 130' INT TERM
	for f in "$D"/pids/*.pid; do
		[ -f "$f" ] && { say "$D already has a running lab (stop it first)"; exit 1; }
	done
	for tool in docker-registry notary notary-server notary-signer skopeo openssl jq curl tar gzip sha256sum; do
		command -v "$tool" >/dev/null || { say "missing tool: $tool (run make deps)"; exit 1; }
	done

	make_certs
	start_signer
	start_registry
	start_server
	tp=$(date +%s.%N)
	say "servers up: registry $REG, notary-server $NOTARY_URL, notary-signer 127.0.0.1:$SIGNER_PORT ($(elapsed "$t0" "$tp") s)"

	printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$D/build/policy.json"
	# --- images --------------------------------------------------------------
	image library/alpine signed docker "library/alpine:signed"
	image library/alpine oci oci "library/alpine:oci"
	image_list library/alpine multi "library/alpine:multi"
	image library/alpine unsigned docker "library/alpine:unsigned"
	image library/alpine moved docker "library/alpine:moved (the signed image)"
	image library/nosig latest docker "library/nosig:latest"
	image team/app signed docker "team/app:signed"
	image library/big latest docker "library/big:latest" "$BIG_MIB"
	push_all
	# The image that will overwrite 'moved' after it was signed.
	local moved_layout=$D/build/layouts/moved-after
	mkimage "$moved_layout" docker amd64 "library/alpine:moved (pushed over the signed image)"
	mv "$M_FILE" "$moved_layout/manifest.json"
	local moved_new=$M_DIGEST moved_new_blobs=$M_BLOBS moved_new_size=$M_SIZE
	local k
	for k in library/alpine:signed library/alpine:oci library/alpine:multi \
		library/alpine:moved team/app:signed library/big:latest; do
		T_SIGNED[$k]=${T_DIGEST[$k]} T_SIGNED_SIZE[$k]=${T_SIZE[$k]}
	done
	t1=$(date +%s.%N)
	say "images built and pushed ($(elapsed "$tp" "$t1") s)"

	# --- signing ---------------------------------------------------------------
	export NOTARY_ROOT_PASSPHRASE=$LAB_PASSPHRASE NOTARY_TARGETS_PASSPHRASE=$LAB_PASSPHRASE \
		NOTARY_SNAPSHOT_PASSPHRASE=$LAB_PASSPHRASE NOTARY_DELEGATION_PASSPHRASE=$LAB_PASSPHRASE
	jq -n --arg td "$D/notary/client/trust" --arg url "$NOTARY_URL" --arg ca "$D/ca.pem" \
		'{trust_dir: $td, remote_server: {url: $url, root_ca: $ca}}' >"$D/notary/client/config.json"
	local nlog=$D/logs/notary-client.log i
	# The first GUN doubles as the readiness check of notary-server -> signer:
	# the server's health endpoint reports the signer "ok" before it has ever
	# probed it, so only a real publish proves the chain works.
	for i in $(seq 1 20); do
		if sign_gun "docker.io/library/alpine" no signed oci multi moved; then break; fi
		[ "$i" -lt 20 ] || fail_component "notary-server/notary-signer" "$nlog" \
			"first publish failed for 10 s (server log: $D/logs/notary-server.log)"
		notary_c delete "docker.io/library/alpine" --remote >>"$nlog" 2>&1 || true
		sleep 0.5
	done
	notary_c key import "$D/certs/releases-key.pem" --role targets/releases >>"$nlog" 2>&1 ||
		fail_component "notary client" "$nlog" "key import of the delegation key failed"
	# The root key now exists, so the other GUNs can be signed in parallel
	# (each GUN's keys are separate files in the shared trust dir). A GUN
	# that fails is deleted and signed again on its own, once.
	local jobs=("$REG/library/alpine no signed oci multi moved"
		"docker.io/team/app yes signed" "$REG/team/app yes signed"
		"docker.io/library/big no latest" "$REG/library/big no latest")
	local gpids=() job rc=0
	for job in "${jobs[@]}"; do
		# shellcheck disable=SC2086
		sign_gun $job &
		gpids+=($!)
	done
	for i in "${!gpids[@]}"; do
		wait "${gpids[$i]}" && continue
		job=${jobs[$i]}
		say "signing ${job%% *} failed, retrying it alone"
		notary_c delete "${job%% *}" --remote >>"$nlog" 2>&1 || true
		# shellcheck disable=SC2086
		sign_gun $job || { say "signing ${job%% *} failed again"; rc=1; }
	done
	[ $rc -eq 0 ] || fail_component "notary client" "$nlog" "signing failed"
	# The role each signed tag was signed in (the same under both GUN forms).
	T_ROLE[library/alpine:signed]=targets T_ROLE[library/alpine:oci]=targets
	T_ROLE[library/alpine:multi]=targets T_ROLE[library/alpine:moved]=targets
	T_ROLE[team/app:signed]=targets/releases T_ROLE[library/big:latest]=targets

	# Now move the 'moved' tag to another image.
	PUSH_SRC=("$moved_layout") PUSH_DST=("library/alpine:moved") PUSH_ALL=("")
	T_SIGNED_BLOBS[library/alpine:moved]=${T_BLOBS[library/alpine:moved]}
	T_DIGEST[library/alpine:moved]=$moved_new T_BLOBS[library/alpine:moved]=$moved_new_blobs
	T_SIZE[library/alpine:moved]=$moved_new_size
	push_all
	local t2
	t2=$(date +%s.%N)
	say "signed 6 GUNs, moved library/alpine:moved ($(elapsed "$t1" "$t2") s)"

	write_records
	trap - EXIT INT TERM
	say "lab ready in $(elapsed "$t0" "$(date +%s.%N)") s: $D/lab.env, $D/lab.json"
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# json_list WORDS...: a JSON array of strings.
json_list() { jq -cn '$ARGS.positional' --args "$@"; }

# gun_ids GUN: read GUN's root.json and targets.json from notary-server,
# recompute and cross-check the IDs, emit
# {"cert":..,"canonical":..,"deleg":[..],"deleg_canonical":[..]}.
gun_ids() {
	local gun=$1 meta root cid pub canon want deleg dcanon dc id role
	meta=$D/build/meta/$gun
	mkdir -p "$meta"
	for role in root targets; do
		curl -fsS --cacert "$D/ca.pem" -o "$meta/$role.json" \
			"$NOTARY_URL/v2/$gun/_trust/tuf/$role.json" ||
			fail_component "trust records" /dev/null "cannot fetch $role.json of $gun from notary-server"
	done
	root=$meta/root.json
	cid=$(jq -r '.signed.roles.root.keyids[0]' "$root")
	pub=$(jq -r --arg id "$cid" '.signed.keys[$id].keyval.public' "$root")
	[ "$(jq -r --arg id "$cid" '.signed.keys[$id].keytype' "$root")" = ecdsa-x509 ] ||
		fail_component "trust records" /dev/null "$gun: root key is not ecdsa-x509"
	[ "$(canonical_id ecdsa-x509 "$pub")" = "$cid" ] ||
		fail_component "trust records" /dev/null "$gun: recomputed cert ID differs from $cid"
	canon=$(cert_canonical_id "$pub")
	want=$(grep -l '^role: root' "$D"/notary/client/trust/private/*.key | xargs -n1 basename | sed 's/\.key$//')
	[ "$(printf '%s\n' "$want" | wc -l)" = 1 ] ||
		fail_component "trust records" /dev/null "expected exactly one root key in the trust dir, got: $want"
	[ "$canon" = "$want" ] ||
		fail_component "trust records" /dev/null "$gun: canonical root key ID $canon differs from the key file $want.key"
	deleg=$(jq -c '[.signed.delegations.keys // {} | keys[]]' "$meta/targets.json")
	dcanon=()
	for id in $(jq -r '.[]' <<<"$deleg"); do
		pub=$(jq -r --arg id "$id" '.signed.delegations.keys[$id].keyval.public' "$meta/targets.json")
		[ "$(canonical_id ecdsa-x509 "$pub")" = "$id" ] ||
			fail_component "trust records" /dev/null "$gun: recomputed delegation key ID differs from $id"
		dc=$(cert_canonical_id "$pub")
		[ -f "$D/notary/client/trust/private/$dc.key" ] ||
			fail_component "trust records" /dev/null "$gun: no private key file $dc.key for delegation key $id"
		dcanon+=("$dc")
	done
	jq -cn --arg c "$cid" --arg k "$canon" --argjson d "$deleg" \
		--argjson dc "$(json_list "${dcanon[@]}")" \
		'{cert: $c, canonical: $k, deleg: $d, deleg_canonical: $dc}'
}

# cert_canonical_id BASE64-PEM: canonical key ID of the leaf certificate.
cert_canonical_id() {
	local spki
	spki=$(printf '%s' "$1" | base64 -d | openssl x509 -pubkey -noout |
		openssl pkey -pubin -outform DER | base64 -w0)
	canonical_id ecdsa "$spki"
}

write_records() {
	local repos=() repo tag k gun tags child children
	local -A ids_of
	for gun in docker.io/library/alpine "$REG/library/alpine" docker.io/team/app "$REG/team/app" \
		docker.io/library/big "$REG/library/big"; do
		ids_of[$gun]=$(gun_ids "$gun")
	done
	for repo in library/alpine library/nosig team/app library/big; do
		local taglist=() signed_guns=() unsigned_guns=()
		case $repo in
		library/alpine) taglist=(signed oci multi unsigned moved) ;;
		library/nosig) taglist=(latest) ;;
		team/app) taglist=(signed) ;;
		library/big) taglist=(latest) ;;
		esac
		for gun in "docker.io/$repo" "$REG/$repo"; do
			if [ -n "${ids_of[$gun]:-}" ]; then signed_guns+=("$gun"); else unsigned_guns+=("$gun"); fi
		done
		tags=()
		for tag in "${taglist[@]}"; do
			k=$repo:$tag
			children=()
			for child in ${T_CHILDREN[$k]}; do
				children+=("$(jq -cn --arg d "${child%%=*}" --arg p "${child#*=}" '{digest: $d, platform: $p}')")
			done
			# shellcheck disable=SC2086
			tags+=("$(jq -cn --arg tag "$tag" --arg mt "${T_MT[$k]}" --arg rd "${T_DIGEST[$k]}" \
				--arg sd "${T_SIGNED[$k]:-}" --arg sz "${T_SIGNED_SIZE[$k]:-}" \
				--arg role "${T_ROLE[$k]:-}" --arg rsz "${T_SIZE[$k]}" \
				--argjson blobs "$(json_list ${T_BLOBS[$k]})" \
				--argjson sblobs "$(json_list ${T_SIGNED_BLOBS[$k]:-})" \
				--argjson children "$(printf '%s\n' "${children[@]}" | jq -cs '.')" \
				'{tag: $tag, media_type: $mt, registry_digest: $rd, registry_size: ($rsz | tonumber),
				  signed_digest: (if $sd == "" then null else $sd end),
				  size: (if $sz == "" then null else ($sz | tonumber) end),
				  role: (if $role == "" then null else $role end),
				  blobs: $blobs}
				 + (if ($children | length) > 0 then {children: $children} else {} end)
				 + (if ($sblobs | length) > 0 then {signed_blobs: $sblobs} else {} end)')")
		done
		local idsjson='[]'
		for gun in "${signed_guns[@]}"; do
			idsjson=$(jq -c --arg g "$gun" --argjson i "${ids_of[$gun]}" '. + [{gun: $g} + $i]' <<<"$idsjson")
		done
		repos+=("$(jq -cn --arg repo "$repo" --argjson guns "$(json_list "${signed_guns[@]}")" \
			--argjson ug "$(json_list "${unsigned_guns[@]}")" --argjson ids "$idsjson" \
			--argjson tags "$(printf '%s\n' "${tags[@]}" | jq -cs '.')" \
			'{repo: $repo, guns: $guns, unsigned_guns: $ug,
			  root_cert_ids: ($ids | map({key: .gun, value: [.cert]}) | from_entries),
			  root_key_ids: ($ids | map({key: .gun, value: [.canonical]}) | from_entries),
			  delegation_key_ids: ($ids | map(.deleg[]) | unique),
			  delegation_canonical_key_ids: ($ids | map(.deleg_canonical[]) | unique),
			  tags: $tags}')")
	done
	printf '%s\n' "${repos[@]}" | jq -s --arg reg "$REG" --arg regurl "$REG_URL" \
		--arg nurl "$NOTARY_URL" --arg ca "$D/ca.pem" --arg cakey "$D/certs/ca-key.pem" \
		--arg cfg "$D/notary/client/config.json" --arg td "$D/notary/client/trust" \
		--arg sp "127.0.0.1:$SIGNER_PORT" --arg pass "$LAB_PASSPHRASE" \
		'{registry: $reg, registry_url: $regurl, notary_url: $nurl, ca: $ca, ca_key: $cakey,
		  notary_signer: $sp, notary_client_config: $cfg, trust_dir: $td,
		  notary_passphrase: $pass, repos: .}' >"$D/lab.json.tmp"
	mv "$D/lab.json.tmp" "$D/lab.json"

	{
		echo "# The dctproxy integration lab (tests/lab/lab.sh). Source this file."
		printf 'export LAB_DIR=%q\n' "$D"
		printf 'export LAB_REGISTRY=%q\n' "$REG"
		printf 'export LAB_REGISTRY_URL=%q\n' "$REG_URL"
		printf 'export LAB_NOTARY_URL=%q\n' "$NOTARY_URL"
		printf 'export LAB_NOTARY_SIGNER=%q\n' "127.0.0.1:$SIGNER_PORT"
		printf 'export LAB_CA=%q\n' "$D/ca.pem"
		printf 'export LAB_CA_KEY=%q\n' "$D/certs/ca-key.pem"
		printf 'export LAB_SERVER_CERT=%q\n' "$D/certs/server.pem"
		printf 'export LAB_SERVER_KEY=%q\n' "$D/certs/server-key.pem"
		printf 'export LAB_NOTARY_CLIENT_CONFIG=%q\n' "$D/notary/client/config.json"
		printf 'export LAB_TRUST_DIR=%q\n' "$D/notary/client/trust"
		printf 'export LAB_SKOPEO_POLICY=%q\n' "$D/build/policy.json"
		printf 'export LAB_JSON=%q\n' "$D/lab.json"
		printf 'export NOTARY_%s_PASSPHRASE=%q\n' ROOT "$LAB_PASSPHRASE" TARGETS "$LAB_PASSPHRASE" \
			SNAPSHOT "$LAB_PASSPHRASE" DELEGATION "$LAB_PASSPHRASE"
	} >"$D/lab.env"
}

lab_show() {
	local j=$1/lab.json
	[ -f "$j" ] || { say "no $j"; exit 1; }
	jq -r '"registry       \(.registry_url)",
	       "notary-server  \(.notary_url)  (CA \(.ca))",
	       "notary client  notary -c \(.notary_client_config)", ""' "$j"
	jq -r '(["REPOSITORY", "TAG", "MEDIA TYPE", "REGISTRY DIGEST", "SIGNED DIGEST", "SIGNED IN"] | @tsv),
		(.repos[] | .repo as $r | .tags[] |
		 [$r, .tag, (.media_type | sub("application/vnd\\.(docker\\.distribution\\.)?"; "")),
		  .registry_digest[0:19], ((.signed_digest // "-") | .[0:19]),
		  (.role // "(unsigned)")] | @tsv)' "$j" |
		awk -F '\t' '{ printf "%-15s %-9s %-27s %-20s %-20s %s\n", $1, $2, $3, $4, $5, $6 }'
	echo
	jq -r '.repos[] | .root_cert_ids as $c | .root_key_ids as $k |
		if (.guns | length) == 0 then "\(.repo): no trust data under \(.unsigned_guns | join(", "))"
		else (.guns[] | "GUN \(.)  root cert ID \($c[.][0][0:12])  canonical root key ID \($k[.][0][0:12])") end' "$j"
}

# The dctproxy configuration every lab user starts from: listening on ADDR,
# enforced, pinned to the lab's root keys, serving the lab registry both as
# a gateway (ADDR is the registry's name, GUNs under the lab registry) and
# as the "docker.io" mirror (GUNs docker.io/...).
lab_proxy_config() {	# DIR ADDR STATE AUDIT
	local env=$1/lab.env ids
	# shellcheck disable=SC1090
	. "$env"
	ids=$(jq -c '[.repos[].root_key_ids | to_entries[] | .value[]] | unique' "$1/lab.json")
	jq -n --arg addr "$2" --arg state "$3" --arg audit "$4" \
		--arg up "$LAB_REGISTRY_URL" --arg reg "$LAB_REGISTRY" --arg nurl "$LAB_NOTARY_URL" \
		--arg ca "$LAB_CA" --argjson ids "$ids" '{
		listeners: [{address: $addr}],
		state_dir: $state,
		audit: {path: $audit},
		registries: [
			{name: $addr, upstream: $up, gun_prefix: $reg, notary: {url: $nurl, ca: $ca}},
			{name: "docker.io", upstream: $up, notary: {url: $nurl, ca: $ca}}
		],
		"content-trust": {mode: "enforced", "trust-pinning": {
			"root-keys": {($reg + "/*"): $ids, "docker.io/*": $ids},
			"official-library-images": false}}
	}'
}

if [ "${1:-}" = proxy-config ]; then
	[ $# -eq 5 ] || usage
	lab_proxy_config "$2" "$3" "$4" "$5"
	exit
fi
[ $# -eq 2 ] || usage
case $1 in
start)
	mkdir -p "$2"
	D=$(cd "$2" && pwd)
	lab_start
	;;
stop) if [ -d "$2" ]; then lab_stop "$(cd "$2" && pwd)"; fi ;;
show) lab_show "$2" ;;
*) usage ;;
esac
