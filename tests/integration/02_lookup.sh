#!/usr/bin/env bash
# dctproxy lookup against the lab's real notary-server agrees with what the
# reference client signed (lab.json, proven by 01_lab), under a cert-ID pin
# and a canonical-root-key pin; refuses unsigned tags, a repository without
# trust data and a wrong pin, each with the engine's wording.
. "$(dirname "$0")/../lib.sh"

state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
lk() { "$DCTPROXY" lookup --server "$LAB_NOTARY_URL" --ca "$LAB_CA" --state "$state" "$@"; }

while read -r repo gun; do
	cert=$(lab_json ".repos[] | select(.repo==\"$repo\") | .root_cert_ids[\"$gun\"][0]")
	key=$(lab_json ".repos[] | select(.repo==\"$repo\") | .root_key_ids[\"$gun\"][0]")
	while read -r tag digest size role; do
		if [ "$digest" = null ]; then
			out=$(lk --pin-root-key "$key" "$gun" "$tag" 2>&1); rc=$?
			check_eq "refuse-unsigned:$gun:$tag:rc" 1 "$rc"
			check_contains "refuse-unsigned:$gun:$tag:msg" "$out" \
			    "no trust signature found for $gun:$tag: No valid trust data for $tag"
			continue
		fi
		check_eq "root-key-pin:$gun:$tag" "$digest $size $role" \
		    "$(lk --pin-root-key "$key" "$gun" "$tag" 2>&1)"
		check_eq "cert-id-pin:$gun:$tag" "$digest $size $role" \
		    "$(lk --pin-cert-id "$cert" "$gun" "$tag" 2>&1)"
	done < <(lab_json ".repos[] | select(.repo==\"$repo\") | .tags[] | \"\(.tag) \(.signed_digest) \(.size) \(.role)\"")
done < <(lab_json '.repos[] | .repo as $r | .guns[] | "\($r) \(.)"')

# a repository with no trust data at all
key=$(lab_json '[.repos[].root_key_ids[]][0][0]')
for gun in $(lab_json '.repos[] | select(.repo=="library/nosig") | .unsigned_guns[]'); do
	out=$(lk --pin-root-key "$key" "$gun" latest 2>&1); rc=$?
	check_eq "refuse-no-trust-data:$gun:rc" 1 "$rc"
	check_contains "refuse-no-trust-data:$gun:msg" "$out" \
	    "no trust data available for repository $gun."
done

# wrong pins, with a fresh state so no cached root is involved
gun=docker.io/library/alpine
cert=$(lab_json ".repos[] | select(.repo==\"library/alpine\") | .root_cert_ids[\"$gun\"][0]")
fresh=$(mktemp -d)
out=$("$DCTPROXY" lookup --server "$LAB_NOTARY_URL" --ca "$LAB_CA" --state "$fresh" \
    --pin-root-key "$(printf '%064d' 0)" "$gun" signed 2>&1); rc=$?
check_eq "wrong-root-key-pin:rc" 1 "$rc"
check_contains "wrong-root-key-pin:msg" "$out" "potential malicious behavior - trust data mismatch for repository $gun: could not validate the path to a trusted root: unable to match any certificates to trust_pinning config"
out=$("$DCTPROXY" lookup --server "$LAB_NOTARY_URL" --ca "$LAB_CA" --state "$fresh" \
    --pin-root-key "$cert" "$gun" signed 2>&1); rc=$?
check_eq "cert-id-as-root-key-refused:rc" 1 "$rc"
out=$("$DCTPROXY" lookup --server "$LAB_NOTARY_URL" --ca "$LAB_CA" --state "$fresh" "$gun" signed 2>&1); rc=$?
check_eq "no-pin-no-tofu-refused:rc" 1 "$rc"
check_contains "no-pin-no-tofu-refused:msg" "$out" "invalid trust pinning specified"
check_eq "refusals-persist-nothing" "" "$(ls -A "$fresh")"
out=$("$DCTPROXY" lookup --server "$LAB_NOTARY_URL" --ca "$LAB_CA" --state "$fresh" --tofu "$gun" signed 2>&1)
check_eq "tofu-allowed-when-asked" "$(lab_json '.repos[] | select(.repo=="library/alpine") | .tags[] | select(.tag=="signed") | "\(.signed_digest) \(.size) \(.role)"')" "$out"
rm -rf "$fresh"

# the state directory holds what was verified, and a reverse lookup by digest works
check_eq "state-persisted" yes "$([ -f "$state/docker.io%2Flibrary%2Falpine/timestamp.json" ] && echo yes)"
d=$(lab_json '.repos[] | select(.repo=="library/alpine") | .tags[] | select(.tag=="oci") | .signed_digest')
key=$(lab_json ".repos[] | select(.repo==\"library/alpine\") | .root_key_ids[\"$gun\"][0]")
check_eq "reverse-lookup-by-digest" "oci 401 targets" "$(lk --pin-root-key "$key" "$gun" "$d" 2>&1)"
# an unreachable trust server fails closed with the engine's wording
out=$("$DCTPROXY" lookup --server "https://127.0.0.1:1" --ca "$LAB_CA" --pin-root-key "$key" "$gun" signed 2>&1); rc=$?
check_eq "unreachable-server:rc" 1 "$rc"
check_contains "unreachable-server:msg" "$out" "error contacting trust server"
exit $((T_FAILS > 0))
