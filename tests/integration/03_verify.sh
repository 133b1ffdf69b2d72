#!/usr/bin/env bash
# dctproxy verify: the offline verifier over the real Notary fixtures, at the
# clocks and pins of the trust specification's test vectors.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

sets=$TOP/tests/fixtures/sets
v() { "$DCTPROXY" verify "$@" 2>&1; }

check_eq repo/releases-wins \
    "sha256:9fe3ca260ff3d1fb39915ff47c75a38f5222bd6c6fda8e3eb9895db344f3ec20 15 targets/releases" \
    "$(v --dir "$sets/test-repo" --gun docker.io/test/repo --at 2026-11-22T00:00:00Z \
        --pin-root-key 3ec92bbb58626a18a2df5feccb83a71842d55f7e2a955373b933b9efe9073ea9 latest)"
check_eq alpine/official-key \
    "sha256:7043076348bf5040220df6ad703798fd8593a0918d06d3ce30c6c93be117e430 2029 targets" \
    "$(v --dir "$sets/alpine" --gun docker.io/library/alpine --at 2018-08-01T00:00:00Z \
        --pin-root-key c15164663f80d58bf3d8d5a0cd08b8086cba02065feb00421fc2a5436c563210 latest)"
out=$(v --dir "$sets/alpine" --gun docker.io/library/alpine \
    --pin-root-key c15164663f80d58bf3d8d5a0cd08b8086cba02065feb00421fc2a5436c563210 latest)
check_contains alpine/today-refused "$out" "reason: validation"
check_eq notary01/listing \
    "LICENSE sha256:9395bac6fccb26bcb55efb083d1b4b0fe72a1c25f959f056c016120b3bb56a62 11309 targets" \
    "$(v --dir "$sets/notary01" --gun docker.com/notary0.1/samplerepo \
        --pin-cert-id 4ff57dc987163053a12c066f2dd36b1ae6037a92f5416d381fe311a3db1868d8)"
out=$(v --dir "$sets/notary01" --gun docker.com/notary0.1/samplerepo \
    --pin-cert-id 4ff57dc987163053a12c066f2dd36b1ae6037a92f5416d381fe311a3db1868d8 nope)
check_contains notary01/unsigned-tag "$out" "No valid trust data for nope"
"$DCTPROXY" verify --dir "$sets/notary01" >/dev/null 2>&1
check_eq usage-exit-2 2 $?
exit $((T_FAILS > 0))
