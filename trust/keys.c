/*
 * Keys, key IDs and signature verification with Notary's rules
 * (dct-semantics.md 5.3, 5.4; notary tuf/data/keys.go, tuf/signed/verifiers.go).
 *
 * A key is parsed once (tkey_parse/tkey_from_public) and checked for its
 * type then: DER SPKI that re-encodes to the same bytes for "ecdsa"/"rsa",
 * PEM certificates for the x509 types (struct tkey's chain is set only
 * when the bundle follows the root-key rules of certs_chain_parse: one
 * non-CA leaf first, then CAs), 32 raw bytes for ed25519, RSA moduli of
 * CERTS_MIN_RSA_BITS..TKEY_MAX_RSA_BITS bits, EC keys on the NIST curves
 * Go supports. Verification never fails loudly: a signature that does not
 * fit its key is simply not valid.
 *
 * Only public keys pass through here; nothing to wipe.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "certs/certs.h"
#include "trust/trust_int.h"

#define TKEY_MAX_RSA_BITS	8192	/* bounds the cost of one verification */
#define TKEY_MAX_PUBLIC_LEN	(64 * 1024) /* keyval.public after decoding (CERTS_MAX_PEM_LEN) */
#define TKEY_PSS_SALTLEN	32	/* rsa.PSSSaltLengthEqualsHash with SHA-256 */

static const struct {
	const char	*name;
	enum tkey_type	 type;
} key_types[] = {
	{ "ecdsa",	TKEY_ECDSA },
	{ "ecdsa-x509",	TKEY_ECDSA_X509 },
	{ "rsa",	TKEY_RSA },
	{ "rsa-x509",	TKEY_RSA_X509 },
	{ "ed25519",	TKEY_ED25519 },
};

int
tkey_type_parse(const char *s, enum tkey_type *t)
{
	size_t	i;

	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strcmp(s, key_types[i].name) == 0) {
			*t = key_types[i].type;
			return 0;
		}
	return -1;
}

const char *
tkey_type_name(enum tkey_type t)
{
	size_t	i;

	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (key_types[i].type == t)
			return key_types[i].name;
	return NULL;
}

int
tkey_compute_id(const char *keytype, const uint8_t *pub, size_t publen,
    char id[65])
{
	json_t		*obj = NULL;
	char		*b64 = NULL;
	uint8_t		*canon = NULL, md[SHA256_DIGEST_LENGTH];
	size_t		 clen;
	int		 rc = -1;

	if (tb64_encode(pub, publen, &b64) == -1)
		goto out;
	obj = json_pack("{s:s, s:{s:n, s:s}}", "keytype", keytype, "keyval",
	    "private", "public", b64);
	if (obj == NULL || tjson_canonical(obj, &canon, &clen) == -1)
		goto out;
	if (SHA256(canon, clen, md) == NULL)
		goto out;
	thex(md, sizeof(md), id);
	rc = 0;
out:
	json_decref(obj);
	free(b64);
	free(canon);
	return rc;
}

void
tkey_free(struct tkey *k)
{
	if (k == NULL)
		return;
	free(k->pub);
	EVP_PKEY_free(k->pkey);
	certs_chain_free(k->chain);
	free(k);
}

/* NIST curves only (Go's x509.ParsePKIXPublicKey), uncompressed points. */
static int
ec_key_ok(EVP_PKEY *pk)
{
	char	 buf[64];
	size_t	 len = 0;

	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC)
		return 0;
	if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
	    buf, sizeof(buf), &len))
		return 0;
	if (strcmp(buf, "prime256v1") != 0 && strcmp(buf, "secp384r1") != 0 &&
	    strcmp(buf, "secp521r1") != 0 && strcmp(buf, "secp224r1") != 0)
		return 0;
	return certs_ec_point_ok(pk);
}

static int
rsa_key_ok(EVP_PKEY *pk)
{
	int	bits;

	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)
		return 0;
	bits = EVP_PKEY_get_bits(pk);
	return bits >= CERTS_MIN_RSA_BITS && bits <= TKEY_MAX_RSA_BITS;
}

/* DER SPKI that is all of pub and re-encodes to exactly pub. */
static EVP_PKEY *
parse_spki(const uint8_t *pub, size_t publen)
{
	const unsigned char	*p = pub;
	unsigned char		*re = NULL;
	EVP_PKEY		*pk;
	int			 n;

	if ((pk = d2i_PUBKEY(NULL, &p, (long)publen)) == NULL)
		return NULL;
	if (p != pub + publen || (n = i2d_PUBKEY(pk, &re)) < 0 ||
	    (size_t)n != publen || memcmp(re, pub, publen) != 0) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	OPENSSL_free(re);
	return pk;
}

/*
 * Notary's LoadCertFromPEM: the public key of the first CERTIFICATE block
 * without headers that parses (other blocks are skipped). Stricter than
 * Go in that a malformed PEM block ends the search, and a certificate
 * must be exactly its DER bytes.
 */
static EVP_PKEY *
first_cert_pubkey(const uint8_t *pem, size_t len)
{
	BIO			*bio;
	X509			*x;
	EVP_PKEY		*pk = NULL;
	char			*name = NULL, *header = NULL;
	unsigned char		*data = NULL;
	const unsigned char	*p;
	long			 dlen;

	if (len > CERTS_MAX_PEM_LEN ||
	    (bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return NULL;
	while (pk == NULL && PEM_read_bio(bio, &name, &header, &data, &dlen)) {
		if (strcmp(name, "CERTIFICATE") == 0 && header[0] == '\0') {
			p = data;
			if ((x = d2i_X509(NULL, &p, dlen)) != NULL) {
				if (p == data + dlen &&
				    !(X509_get_extension_flags(x) & EXFLAG_INVALID))
					pk = X509_get_pubkey(x);
				X509_free(x);
			}
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
	}
	BIO_free(bio);
	ERR_clear_error();
	return pk;
}

int
tkey_from_public(enum tkey_type type, const uint8_t *pub, size_t publen,
    struct tkey **out, struct trust_error *err)
{
	struct tkey	*k;
	const char	*name = tkey_type_name(type);
	char		 cerr[CERTS_ERRLEN];

	*out = NULL;
	if (name == NULL)
		return trust_seterr(err, TRUST_E_VALIDATION, "unknown key type");
	if (publen == 0 || publen > TKEY_MAX_PUBLIC_LEN)
		return trust_seterr(err, TRUST_E_VALIDATION,
		    "%s public key of %zu bytes is out of range", name, publen);
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->pub = malloc(publen)) == NULL) {
		free(k);
		return trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
	}
	k->type = type;
	memcpy(k->pub, pub, publen);
	k->publen = publen;

	switch (type) {
	case TKEY_ECDSA:
	case TKEY_RSA:
		if ((k->pkey = parse_spki(pub, publen)) == NULL) {
			trust_seterr(err, TRUST_E_VALIDATION,
			    "%s public key is not a DER SubjectPublicKeyInfo", name);
			goto bad;
		}
		break;
	case TKEY_ECDSA_X509:
	case TKEY_RSA_X509:
		/*
		 * A bundle that follows the root-key rules gets a chain;
		 * any other usable certificate (a self-signed CA cert as a
		 * delegation key, say) is still a key, as in Notary, but
		 * has no chain and so can never be a root key.
		 */
		if (certs_chain_parse(pub, publen, &k->chain, cerr) == 0) {
			k->pkey = certs_chain_pubkey(k->chain);
			if (k->pkey != NULL && !EVP_PKEY_up_ref(k->pkey))
				k->pkey = NULL;
		} else if ((k->pkey = first_cert_pubkey(pub, publen)) == NULL) {
			trust_seterr(err, TRUST_E_VALIDATION,
			    "%s public key: %s", name, cerr);
			goto bad;
		}
		if (k->pkey == NULL) {
			trust_seterr(err, TRUST_E_VALIDATION,
			    "%s certificate has no usable public key", name);
			goto bad;
		}
		break;
	case TKEY_ED25519:
		if (publen != sizeof(k->ed25519)) {
			trust_seterr(err, TRUST_E_VALIDATION,
			    "ed25519 public key is %zu bytes, not 32", publen);
			goto bad;
		}
		memcpy(k->ed25519, pub, publen);
		break;
	}
	if ((type == TKEY_ECDSA || type == TKEY_ECDSA_X509) && !ec_key_ok(k->pkey)) {
		trust_seterr(err, TRUST_E_VALIDATION,
		    "%s key is not an uncompressed P-224/256/384/521 key", name);
		goto bad;
	}
	if ((type == TKEY_RSA || type == TKEY_RSA_X509) && !rsa_key_ok(k->pkey)) {
		trust_seterr(err, TRUST_E_VALIDATION,
		    "%s key is not an RSA key of %d to %d bits", name,
		    CERTS_MIN_RSA_BITS, TKEY_MAX_RSA_BITS);
		goto bad;
	}
	if (tkey_compute_id(name, pub, publen, k->id) == -1) {
		trust_seterr(err, TRUST_E_INTERNAL, "cannot compute key ID");
		goto bad;
	}
	ERR_clear_error();
	*out = k;
	return 0;
bad:
	ERR_clear_error();
	tkey_free(k);
	return -1;
}

int
tkey_parse(const json_t *obj, struct tkey **out, struct trust_error *err)
{
	const json_t	*jt, *jv, *jpub, *jpriv;
	enum tkey_type	 type;
	uint8_t		*pub = NULL;
	size_t		 publen;
	int		 rc;

	*out = NULL;
	if (!json_is_object(obj))
		return trust_seterr(err, TRUST_E_PARSE, "key is not an object");
	jt = json_object_get(obj, "keytype");
	jv = json_object_get(obj, "keyval");
	if (!json_is_string(jt) || !json_is_object(jv))
		return trust_seterr(err, TRUST_E_PARSE,
		    "key lacks a string \"keytype\" or an object \"keyval\"");
	if (tkey_type_parse(json_string_value(jt), &type) == -1)
		return trust_seterr(err, TRUST_E_VALIDATION,
		    "unsupported key type \"%.64s\"", json_string_value(jt));
	jpub = json_object_get(jv, "public");
	jpriv = json_object_get(jv, "private");
	if (!json_is_string(jpub))
		return trust_seterr(err, TRUST_E_PARSE,
		    "key lacks a string \"keyval.public\"");
	if (jpriv != NULL && !json_is_null(jpriv))
		return trust_seterr(err, TRUST_E_PARSE,
		    "key carries private material");
	if (json_string_length(jpub) > TKEY_MAX_PUBLIC_LEN / 3 * 4 + 4)
		return trust_seterr(err, TRUST_E_VALIDATION,
		    "public key of %zu base64 characters is too long",
		    json_string_length(jpub));
	if (tb64_decode(json_string_value(jpub), json_string_length(jpub),
	    &pub, &publen) == -1)
		return trust_seterr(err, TRUST_E_PARSE,
		    "keyval.public is not standard base64");
	rc = tkey_from_public(type, pub, publen, out, err);
	free(pub);
	return rc;
}

/* Raw r||s (each half ceil(bits/8) bytes) to the DER form EVP wants. */
static int
ecdsa_raw_to_der(const EVP_PKEY *pk, const uint8_t *sig, size_t siglen,
    unsigned char **der, size_t *derlen)
{
	ECDSA_SIG	*es;
	BIGNUM		*r, *s;
	size_t		 half;
	int		 n;

	*der = NULL;
	half = ((size_t)EVP_PKEY_get_bits(pk) + 7) / 8;
	if (half == 0 || siglen != 2 * half)
		return -1;
	r = BN_bin2bn(sig, (int)half, NULL);
	s = BN_bin2bn(sig + half, (int)half, NULL);
	if (r == NULL || s == NULL || (es = ECDSA_SIG_new()) == NULL) {
		BN_free(r);
		BN_free(s);
		return -1;
	}
	if (!ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return -1;
	}
	n = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return -1;
	*derlen = (size_t)n;
	return 0;
}

/* EVP verification with SHA-256; pad is 0 (ECDSA) or an RSA padding mode. */
static int
evp_verify(EVP_PKEY *pk, int pad, const uint8_t *sig, size_t siglen,
    const uint8_t *msg, size_t msglen)
{
	EVP_MD_CTX	*md;
	EVP_PKEY_CTX	*pctx = NULL;
	int		 ok = 0;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return 0;
	if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pk) != 1)
		goto out;
	if (pad != 0 && EVP_PKEY_CTX_set_rsa_padding(pctx, pad) <= 0)
		goto out;
	if (pad == RSA_PKCS1_PSS_PADDING &&
	    (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, TKEY_PSS_SALTLEN) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0))
		goto out;
	ok = EVP_DigestVerify(md, sig, siglen, msg, msglen) == 1;
out:
	EVP_MD_CTX_free(md);
	return ok;
}

int
tkey_verify(const struct tkey *k, const char *method, const uint8_t *sig,
    size_t siglen, const uint8_t *msg, size_t msglen)
{
	unsigned char	*der = NULL;
	size_t		 derlen = 0;
	int		 ok = 0;

	if (k == NULL || method == NULL || sig == NULL || (msg == NULL && msglen > 0))
		return 0;
	if (strcmp(method, "ecdsa") == 0) {
		if ((k->type != TKEY_ECDSA && k->type != TKEY_ECDSA_X509) ||
		    k->pkey == NULL)
			return 0;
		if (ecdsa_raw_to_der(k->pkey, sig, siglen, &der, &derlen) == 0)
			ok = evp_verify(k->pkey, 0, der, derlen, msg, msglen);
		OPENSSL_free(der);
	} else if (strcmp(method, "rsapss") == 0 ||
	    strcmp(method, "rsapkcs1v15") == 0) {
		if ((k->type != TKEY_RSA && k->type != TKEY_RSA_X509) ||
		    k->pkey == NULL)
			return 0;
		/* Notary signs with exactly modulus-size signatures. */
		if (siglen != (size_t)EVP_PKEY_get_size(k->pkey))
			return 0;
		ok = evp_verify(k->pkey, strcmp(method, "rsapss") == 0 ?
		    RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING, sig, siglen,
		    msg, msglen);
	} else if (strcmp(method, "eddsa") == 0) {
		if (k->type != TKEY_ED25519 || siglen != crypto_sign_BYTES)
			return 0;
		if (sodium_init() < 0)
			return 0;
		ok = crypto_sign_verify_detached(sig, msg, msglen, k->ed25519) == 0;
	}
	ERR_clear_error();
	return ok;
}

int
tkey_canonical_id(const struct certs_chain *c, char id[65])
{
	EVP_PKEY	*pk;
	uint8_t		*der = NULL;
	size_t		 len;
	const char	*type;
	int		 rc;

	if (c == NULL || (pk = certs_chain_pubkey(c)) == NULL)
		return -1;
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_EC:
		type = "ecdsa";
		break;
	case EVP_PKEY_RSA:
		type = "rsa";
		break;
	default:
		return -1;
	}
	if (certs_leaf_spki(c, &der, &len) == -1)
		return -1;
	rc = tkey_compute_id(type, der, len, id);
	free(der);
	return rc;
}
