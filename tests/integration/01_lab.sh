#!/usr/bin/env bash
# Proves the lab is real, using only the reference clients: for every signed
# tag under every GUN, `notary lookup` (a fresh, empty trust dir each time, TLS
# pinned to the lab CA) returns the digest `skopeo inspect` reports for the tag
# (for `moved`: the originally signed digest, which differs from the registry's
# current one); lookups fail for unsigned tags and for repos without trust
# data; lab.json's children and blobs exist in the registry.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_lab

work_dir 01lab

# lookup GUN TAG: `notary lookup` from scratch (a new trust dir per call: it
# runs in $(...), so no counter could carry over); prints its output,
# returns its rc.
lookup() {
	local td
	td=$(mktemp -d "$work/trust.XXXXXX") && mkdir "$td/trust" || return 1
	jq -n --arg td "$td/trust" --arg url "$LAB_NOTARY_URL" --arg ca "$LAB_CA" \
		'{trust_dir: $td, remote_server: {url: $url, root_ca: $ca}}' >"$td/config.json"
	notary -c "$td/config.json" lookup "$1" "$2" 2>&1
}

# skopeo_digest REPO TAG: the digest skopeo reports for the tag.
skopeo_digest() {
	skopeo inspect --tls-verify=false "docker://$LAB_REGISTRY/$1:$2" 2>"$work/skopeo.err" |
		jq -r '.Digest // empty'
}

# manifest_len REPO DIGEST: byte length of the manifest the registry serves.
manifest_len() {
	curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		-H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		-H 'Accept: application/vnd.oci.image.index.v1+json' \
		"$LAB_REGISTRY_URL/v2/$1/manifests/$2" | wc -c
}

http_code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

check_eq lab-json-registry "$LAB_REGISTRY" "$(lab_json .registry)"
check_eq notary-server-ping 200 "$(http_code --cacert "$LAB_CA" "$LAB_NOTARY_URL/v2/")"

for repo in $(lab_json '.repos[].repo'); do
	sel=".repos[] | select(.repo == \"$repo\")"
	for tag in $(lab_json "$sel | .tags[].tag"); do
		tsel="$sel | .tags[] | select(.tag == \"$tag\")"
		reg=$(lab_json "$tsel | .registry_digest")
		signed=$(lab_json "$tsel | .signed_digest // empty")
		size=$(lab_json "$tsel | .size // empty")
		sk=$(skopeo_digest "$repo" "$tag")
		check_eq "skopeo-digest-matches-lab-json/$repo:$tag" "$reg" "$sk"
		check_eq "registry-size-is-manifest-length/$repo:$tag" "$(lab_json "$tsel | .registry_size")" \
			"$(manifest_len "$repo" "$reg")"

		# Children of lists and all blobs must be in the registry.
		for child in $(lab_json "$tsel | .children[]?.digest"); do
			check_eq "child-manifest-present/$repo:$tag@${child:7:12}" 200 \
				"$(http_code -I -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
					"$LAB_REGISTRY_URL/v2/$repo/manifests/$child")"
		done
		for blob in $(lab_json "$tsel | (.blobs + (.signed_blobs // []))[]"); do
			check_eq "blob-present/$repo:$tag@${blob:7:12}" 200 \
				"$(http_code -I "$LAB_REGISTRY_URL/v2/$repo/blobs/$blob")"
		done

		if [ -n "$signed" ]; then
			check_eq "signed-size-is-manifest-length/$repo:$tag" "$size" "$(manifest_len "$repo" "$signed")"
			for gun in $(lab_json "$sel | .guns[]"); do
				out=$(lookup "$gun" "$tag"); rc=$?
				if [ $rc -ne 0 ]; then
					fail "notary-lookup/$gun:$tag" "rc=$rc: $out"
					continue
				fi
				# Output: "<tag> sha256:<hex> <size>" (notary 0.7.0; older versions print bare hex)
				read -r ltag ldig lsize <<<"$out"
				ldig=sha256:${ldig#sha256:}
				check_eq "notary-lookup-name/$gun:$tag" "$tag" "$ltag"
				check_eq "notary-lookup-size/$gun:$tag" "$size" "$lsize"
				check_eq "notary-lookup-is-signed-digest/$gun:$tag" "$signed" "$ldig"
				if [ "$tag" = moved ]; then
					if [ "$ldig" != "$sk" ] && [ "$sk" = "$reg" ]; then
						pass "moved-tag-differs-from-signed/$gun:$tag"
					else
						fail "moved-tag-differs-from-signed/$gun:$tag" \
							"notary $ldig, skopeo $sk, lab.json registry $reg"
					fi
				else
					check_eq "notary-lookup-equals-skopeo/$gun:$tag" "$sk" "$ldig"
				fi
			done
		else
			# Unsigned: no trust data for the tag under any of the repo's GUN forms.
			for gun in $(lab_json "$sel | (.guns + .unsigned_guns)[]"); do
				out=$(lookup "$gun" "$tag"); rc=$?
				if [ $rc -eq 0 ]; then
					fail "notary-lookup-fails/$gun:$tag" "lookup succeeded: $out"
				else
					case "$out" in
					*"No valid trust data for $tag"* | *"does not have trust data for $gun"*)
						pass "notary-lookup-fails/$gun:$tag" ;;
					*) fail "notary-lookup-fails/$gun:$tag" "unexpected error: $out" ;;
					esac
				fi
			done
		fi
	done
done

# The signing setup itself: one root key for all GUNs, per-GUN certificates,
# team/app signed only through targets/releases.
roots=$(lab_json '[.repos[].root_key_ids[][]] | unique | length')
check_eq one-canonical-root-key-for-all-guns 1 "$roots"
certs=$(lab_json '[.repos[].root_cert_ids[][]] | unique | length')
guns=$(lab_json '[.repos[].guns[]] | length')
check_eq distinct-root-cert-id-per-gun "$guns" "$certs"
for gun in $(lab_json '.repos[] | select(.repo == "team/app") | .guns[]'); do
	t=$(curl -fsS --cacert "$LAB_CA" "$LAB_NOTARY_URL/v2/$gun/_trust/tuf/targets.json")
	check_eq "team-app-targets-empty/$gun" 0 "$(jq '.signed.targets | length' <<<"$t")"
	check_eq "team-app-delegation-key/$gun" \
		"$(lab_json '.repos[] | select(.repo == "team/app") | .delegation_key_ids | join(",")')" \
		"$(jq -r '.signed.delegations.roles[] | select(.name == "targets/releases") | .keyids | join(",")' <<<"$t")"
done
big=$(lab_json '.repos[] | select(.repo == "library/big") | .tags[0].blobs[1]')
len=$(curl -fsS -o /dev/null -w '%{size_download}' "$LAB_REGISTRY_URL/v2/library/big/blobs/$big")
if [ "${len:-0}" -ge $((16 * 1024 * 1024)) ]; then pass big-blob-at-least-16MiB; else fail big-blob-at-least-16MiB "got $len bytes"; fi

[ "$T_FAILS" -eq 0 ]
