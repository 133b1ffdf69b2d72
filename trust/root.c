/*
 * Root validation as Notary's trustpinning.ValidateRoot (certs.go) applies
 * it, with the pinning modes of the EE engine (notary PR #1496):
 *
 *  - only x509 root keys count; the leaf CN must match the GUN and the
 *    leaf must be valid at the clock (dct-semantics 5.5);
 *  - each key is rebuilt from its leaf and valid intermediates and its ID
 *    recomputed (certs.go:168), so a signature only counts for the key the
 *    certificate really is;
 *  - the pins decide which of those keys may be trusted (cert IDs,
 *    canonical root key IDs, CA chain, or TOFU);
 *  - the root must be signed by its own threshold of kept keys and, on
 *    rotation, by the previous root's threshold of its keys (expiry of the
 *    previous certificates ignored, certs.go:113-137).
 *
 * Deliberate difference: pins are applied to every root we come to trust,
 * including one loaded from the state directory (Notary skips them for a
 * cached root); intermediate roots of a rotation chain are checked for
 * continuity only, the final root for pins.
 */
#include <stdlib.h>
#include <string.h>

#include "certs/certs.h"
#include "trust/tuf_int.h"

/* Keys rebuilt from certificates, with the IDs notary would recompute. */
struct kept {
	struct tkey	**keys;
	size_t		  n;
};

static void
kept_free(struct kept *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		tkey_free(k->keys[i]);
	free(k->keys);
	k->keys = NULL;
	k->n = 0;
}

static int
id_listed(const char *id, const struct trust_pins *pins)
{
	size_t i;

	for (i = 0; i < pins->nids; i++)
		if (pins->ids[i] != NULL && strcmp(pins->ids[i], id) == 0)
			return 1;
	return 0;
}

/*
 * Rebuild the root-role keys of r that pass CN and certificate checks and
 * (when pins is set) the pins. *pinfail is set when a key was refused only
 * by the pins; why receives the last reason a key was dropped.
 */
static int
rebuild_keys(const struct troot *r, const char *gun, const struct trust_pins *pins,
    time_t now, int check_expiry, struct kept *out, int *pinfail, char *why,
    size_t whylen)
{
	const struct trole	*role = &r->roles[TROLE_ROOT];
	struct tkey		*k, *nk;
	char			 cn[TRUST_MAX_GUN_LEN + 2], cerr[CERTS_ERRLEN], cid[65];
	uint8_t			*pem = NULL;
	size_t			 i, pemlen;
	int			 rc = -1;

	if ((out->keys = calloc(role->nkeyids + 1, sizeof(*out->keys))) == NULL)
		return -1;
	for (i = 0; i < role->nkeyids; i++) {
		k = tkeys_find(r->keys, r->nkeys, role->keyids[i]);
		if (k == NULL || k->chain == NULL) {
			snprintf(why, whylen, "root key %.12s has no leaf (non-CA) "
			    "x509 certificate", role->keyids[i]);
			continue;
		}
		if (certs_leaf_cn(k->chain, cn, sizeof(cn)) == -1 ||
		    !certs_cn_matches(cn, gun)) {
			snprintf(why, whylen, "root certificate CN does not match the "
			    "GUN %s", gun);
			continue;
		}
		if (certs_check(certs_chain_leaf(k->chain), now, check_expiry, cerr) == -1) {
			snprintf(why, whylen, "root certificate for %.100s: %.120s", cn, cerr);
			continue;
		}
		if (certs_chain_pem(k->chain, now, check_expiry, &pem, &pemlen) == -1 ||
		    tkey_from_public(k->type, pem, pemlen, &nk, NULL) == -1)
			goto out;
		free(pem);
		pem = NULL;
		if (pins != NULL) {
			int ok = 0;

			switch (pins->kind) {
			case TRUST_PIN_CERT_IDS:
				ok = id_listed(nk->id, pins);
				break;
			case TRUST_PIN_ROOT_KEYS:
				ok = tkey_canonical_id(k->chain, cid) == 0 &&
				    id_listed(cid, pins);
				break;
			case TRUST_PIN_CA:
				ok = certs_verify_ca(k->chain, pins->ca_pem, pins->ca_len, now,
				    cerr) == 0;
				if (!ok)
					snprintf(why, whylen, "%s", cerr);
				break;
			case TRUST_PIN_NONE:
				ok = 1;
				break;
			}
			if (!ok) {
				*pinfail = 1;
				tkey_free(nk);
				continue;
			}
		}
		out->keys[out->n++] = nk;
	}
	rc = 0;
 out:
	free(pem);
	return rc;
}

static int
verify_with(const struct tmeta *m, const struct trole *tmpl, const struct kept *kept,
    struct trust_error *err)
{
	struct trole	role;
	size_t		i;
	int		rc;

	memset(&role, 0, sizeof(role));
	snprintf(role.name, sizeof(role.name), "%s", tmpl->name);
	role.threshold = tmpl->threshold;
	if ((role.keyids = calloc(kept->n + 1, sizeof(*role.keyids))) == NULL)
		return trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
	for (i = 0; i < kept->n; i++)
		memcpy(role.keyids[i], kept->keys[i]->id, 65);
	role.nkeyids = kept->n;
	rc = tmeta_verify(m, &role, kept->keys, kept->n, err);
	free(role.keyids);
	return rc;
}

int
troot_validate(const struct troot *r, const struct troot *prev, const char *gun,
    const struct trust_pins *pins, int first_bootstrap, time_t now, int check_expiry,
    struct trust_error *err)
{
	struct kept	 own = { NULL, 0 }, old = { NULL, 0 };
	char		 why[256] = "no root certificates";
	int		 pinfail = 0, dummy = 0, rc = -1;

	if (pins != NULL && pins->kind == TRUST_PIN_NONE && !pins->tofu &&
	    first_bootstrap) {
		trust_seterr(err, TRUST_E_VALIDATION, "could not validate the path to a "
		    "trusted root: invalid trust pinning specified");
		goto out;
	}
	/* 1. continuity: signed by the previous root's threshold of its keys */
	if (prev != NULL) {
		if (rebuild_keys(prev, gun, NULL, now, 0, &old, &dummy, why,
		    sizeof(why)) == -1) {
			trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
			goto out;
		}
		if (verify_with(&r->m, &prev->roles[TROLE_ROOT], &old, err) == -1) {
			if (err != NULL && err->code == TRUST_E_THRESHOLD)
				trust_seterr(err, TRUST_E_ROTATION, "root rotation failed: "
				    "root version %lld is not signed by the trusted root "
				    "version %lld: %s", (long long)r->m.version,
				    (long long)prev->m.version, err->msg);
			goto out;
		}
	}
	/* 2. its own certificates, under the pins */
	if (rebuild_keys(r, gun, pins, now, check_expiry, &own, &pinfail, why,
	    sizeof(why)) == -1) {
		trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
		goto out;
	}
	if (own.n == 0) {
		if (pinfail)
			trust_seterr(err, TRUST_E_VALIDATION, "could not validate the path "
			    "to a trusted root: unable to match any certificates to "
			    "trust_pinning config");
		else
			trust_seterr(err, TRUST_E_VALIDATION, "could not validate the path "
			    "to a trusted root: unable to retrieve valid leaf certificates "
			    "(%s)", why);
		goto out;
	}
	/* 3. signed by its own threshold of the kept keys */
	if (verify_with(&r->m, &r->roles[TROLE_ROOT], &own, err) == -1) {
		if (err != NULL && err->code == TRUST_E_THRESHOLD) {
			char m[TRUST_ERRMSG_LEN];

			snprintf(m, sizeof(m), "%s", err->msg);
			trust_seterr(err, TRUST_E_VALIDATION, "failed to validate "
			    "integrity of roots: %s", m);
		}
		goto out;
	}
	if (check_expiry && tmeta_check_expiry(&r->m, now, err) == -1)
		goto out;
	rc = 0;
 out:
	kept_free(&own);
	kept_free(&old);
	return rc;
}
