/*
 * libFuzzer target for the metadata parsers: tjson_parse, tjson_canonical
 * and tkey_parse, built from the production sources.
 *
 * Properties checked (abort on violation):
 *  - canonical output of a parsed value parses again, and canonicalising
 *    that gives the same bytes (canonical JSON is a fixed point);
 *  - a key that parses has an ID equal to tkey_compute_id over its type
 *    and public bytes.
 * Any "keys" object in "signed" (root) or "signed.delegations" (targets)
 * has each member run through tkey_parse, and each signature through
 * tkey_verify against every parsed key, so that the crypto input
 * handling sees hostile bytes. Everything is freed: leaks are findings.
 *
 * Seeds: tests/fixtures/<set>/ (real Notary metadata).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trust/tuf_int.h"

#define FUZZ_MAX_LEN	(1024 * 1024)
#define FUZZ_MAX_KEYS	16	/* keys tried per file: bounds RSA/EC work per input */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * The metadata parsers of every role type over the same bytes, and the
 * root checks on whatever parses as a root (clock and GUN fixed).
 */
static void
fuzz_metadata(const uint8_t *data, size_t size)
{
	struct trust_error	 err;
	struct troot		*r = NULL;
	struct ttargets		*t = NULL;
	struct tsnap		*s = NULL;
	struct trust_pins	 pins;

	memset(&pins, 0, sizeof(pins));
	pins.tofu = 1;
	if (troot_parse(data, size, &r, &err) == 0) {
		(void)troot_validate(r, NULL, "docker.io/library/alpine", &pins, 1,
		    (time_t)1795305600, 1, &err);
		troot_free(r);
	}
	if (ttargets_parse("targets/releases", data, size, &t, &err) == 0)
		ttargets_free(t);
	if (tsnap_parse("snapshot", data, size, &s, &err) == 0)
		tsnap_free(s);
	if (tsnap_parse("timestamp", data, size, &s, &err) == 0)
		tsnap_free(s);
	(void)tmeta_peek_version(data, size);
}

static void
check_fixed_point(const uint8_t *c1, size_t l1)
{
	struct trust_error	 err;
	json_t			*v2 = NULL;
	uint8_t			*c2 = NULL;
	size_t			 l2 = 0;

	/*
	 * Canonical output escapes only '"' and '\\', so a string holding a
	 * control character is canonical but not JSON (Notary cannot
	 * publish such a name either). Nothing else may fail to re-parse.
	 */
	if (tjson_parse(c1, l1, SIZE_MAX, &v2, &err) == -1) {
		size_t i;

		for (i = 0; i < l1; i++)
			if (c1[i] < 0x20)
				return;
		abort();
	}
	if (tjson_canonical(v2, &c2, &l2) == -1 || l2 != l1 ||
	    memcmp(c1, c2, l1) != 0)
		abort();
	free(c2);
	json_decref(v2);
}

static void
fuzz_keys(const json_t *keys, struct tkey **out, size_t *nout)
{
	struct trust_error	 err;
	struct tkey		*k;
	const char		*id;
	json_t			*kv;
	char			 again[65];

	if (!json_is_object(keys))
		return;
	json_object_foreach((json_t *)(uintptr_t)keys, id, kv) {
		if (*nout >= FUZZ_MAX_KEYS)
			return;
		if (tkey_parse(kv, &k, &err) == -1)
			continue;
		if (tkey_compute_id(tkey_type_name(k->type), k->pub, k->publen,
		    again) == -1 || strcmp(again, k->id) != 0)
			abort();
		/* A key with a chain has an EC or RSA leaf: it has a canonical ID. */
		if (k->chain != NULL && tkey_canonical_id(k->chain, again) == -1)
			abort();
		out[(*nout)++] = k;
	}
}

static void
fuzz_signatures(const json_t *doc, struct tkey *const *keys, size_t nkeys)
{
	const json_t	*sigs = json_object_get(doc, "signatures"), *s;
	uint8_t		*msg = NULL, *sig;
	size_t		 msglen, siglen, i, j;

	if (!json_is_array(sigs) || nkeys == 0 ||
	    tjson_canonical(json_object_get(doc, "signed"), &msg, &msglen) == -1)
		return;
	for (i = 0; i < json_array_size(sigs) && i < 8; i++) {
		const json_t *m, *b;

		s = json_array_get(sigs, i);
		m = json_object_get(s, "method");
		b = json_object_get(s, "sig");
		if (!json_is_string(m) || !json_is_string(b))
			continue;
		if (tb64_decode(json_string_value(b), json_string_length(b), &sig,
		    &siglen) == -1)
			continue;
		for (j = 0; j < nkeys; j++)
			(void)tkey_verify(keys[j], json_string_value(m), sig, siglen,
			    msg, msglen);
		free(sig);
	}
	free(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trust_error	 err;
	struct tkey		*keys[FUZZ_MAX_KEYS];
	json_t			*v = NULL, *signed_;
	uint8_t			*c1 = NULL;
	size_t			 l1 = 0, nkeys = 0, i;

	if (tjson_parse(data, size, FUZZ_MAX_LEN, &v, &err) == -1)
		return 0;
	if (tjson_canonical(v, &c1, &l1) == 0) {
		check_fixed_point(c1, l1);
		free(c1);
	}
	signed_ = json_object_get(v, "signed");
	if (json_is_object(signed_) && json_is_array(json_object_get(v, "signatures"))) {
		fuzz_keys(json_object_get(signed_, "keys"), keys, &nkeys);
		fuzz_keys(json_object_get(json_object_get(signed_, "delegations"), "keys"),
		    keys, &nkeys);
		fuzz_signatures(v, keys, nkeys);
		for (i = 0; i < nkeys; i++)
			tkey_free(keys[i]);
	}
	json_decref(v);
	fuzz_metadata(data, size);
	return 0;
}
