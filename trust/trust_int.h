/*
 * trust internals: the primitives the update workflow is built from.
 * Not for use outside trust/ (and its tests and fuzzers).
 */
#ifndef TRUST_TRUST_INT_H
#define TRUST_TRUST_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "trust/trust.h"

struct certs_chain;

/* ---- json.c: strict parsing and canonical JSON ---------------------- */

/*
 * Parse exactly len bytes as one JSON object. Rejects, rather than
 * repairs: more than max_len bytes, duplicate keys, NUL in strings, invalid
 * UTF-8, trailing bytes, a top-level value that is not an object, nesting
 * deeper than TJSON_MAX_DEPTH. Returns 0 and a new reference in *out, or
 * -1 with err set (TRUST_E_PARSE).
 */
#define TJSON_MAX_DEPTH		32
int	tjson_parse(const uint8_t *buf, size_t len, size_t max_len, json_t **out,
	    struct trust_error *err);

/*
 * Canonical JSON exactly as Notary signs it (docker/go MarshalCanonical):
 * no whitespace, object keys sorted bytewise, strings escape only '"' and
 * '\\' (every other byte raw, including control characters and non-ASCII),
 * numbers must be integral and are printed as int64 decimal (a real such
 * as 1.0 or 1e3 is printed as an integer; 1.5 is an error), true, false,
 * null literal, arrays in order. Returns 0 and a malloc'd buffer (not
 * NUL-terminated) in *out and *outlen, or -1 (not representable, or ENOMEM).
 */
int	tjson_canonical(const json_t *v, uint8_t **out, size_t *outlen);

/* ---- keys.c: keys, key IDs, signatures ---------------------------- */

enum tkey_type {
	TKEY_ECDSA,		/* "ecdsa": base64(DER SubjectPublicKeyInfo) */
	TKEY_ECDSA_X509,	/* "ecdsa-x509": base64(PEM certificate chain) */
	TKEY_RSA,		/* "rsa": base64(DER SubjectPublicKeyInfo) */
	TKEY_RSA_X509,		/* "rsa-x509": base64(PEM certificate chain) */
	TKEY_ED25519,		/* "ed25519": base64(raw 32 bytes) */
};

struct tkey {
	char			 id[65];	/* computed TUF key ID, lower-case hex */
	enum tkey_type		 type;
	uint8_t			*pub;		/* decoded keyval.public */
	size_t			 publen;
	EVP_PKEY		*pkey;		/* public key (all types but ED25519) */
	uint8_t			 ed25519[32];	/* ED25519 only */
	struct certs_chain	*chain;		/* x509 types, when the bundle follows the
						 * root-key rules (one non-CA leaf first);
						 * NULL otherwise: never a root key */
};

/* Keytype string <-> enum. Returns -1 / NULL for unknown. */
int		 tkey_type_parse(const char *, enum tkey_type *);
const char	*tkey_type_name(enum tkey_type);

/*
 * TUF key ID: hex(sha256(canonical({"keytype":T,"keyval":{"private":null,
 * "public":base64(pub)}}))). id must hold 65 bytes. Returns 0 or -1.
 */
int	tkey_compute_id(const char *keytype, const uint8_t *pub, size_t publen,
	    char id[65]);

/*
 * Parse a key object {"keytype":..,"keyval":{"public":..,"private":null}}
 * (as found in root "keys" and delegation "keys"). Decodes and checks the
 * public material for its type (an x509 type must hold a parseable PEM
 * chain; RSA keys must be >= 2048 bits; ed25519 exactly 32 bytes), fills
 * the computed ID. A non-null "private" is an error. Returns 0 and a new
 * key, or -1 with err set.
 */
int	tkey_parse(const json_t *obj, struct tkey **out, struct trust_error *err);

/* Build a key of the given type from raw public bytes (same checks as tkey_parse). */
int	tkey_from_public(enum tkey_type, const uint8_t *pub, size_t publen,
	    struct tkey **out, struct trust_error *err);

void	tkey_free(struct tkey *);

/*
 * Verify sig over msg with key under method (as in the signature's
 * "method", already lower-cased): "ecdsa" (raw r||s, SHA-256, any curve),
 * "rsapss" (SHA-256, MGF1-SHA-256, salt 32), "rsapkcs1v15" (SHA-256),
 * "eddsa" (Ed25519, libsodium). A method that does not fit the key type,
 * an unknown method or a malformed signature is simply invalid.
 * Returns 1 valid, 0 invalid.
 */
int	tkey_verify(const struct tkey *, const char *method, const uint8_t *sig,
	    size_t siglen, const uint8_t *msg, size_t msglen);

/*
 * Canonical root key ID of an x509 key (daemon.json "root-keys"): the ID
 * of the leaf certificate's public key as a plain "ecdsa"/"rsa" key, i.e.
 * tkey_compute_id("ecdsa"|"rsa", DER SPKI of the leaf). Returns 0 or -1.
 */
int	tkey_canonical_id(const struct certs_chain *, char id[65]);

/* ---- encoding helpers (OpenSSL EVP) -------------------------------- */

/* Standard base64 with padding. decode rejects bad characters and bad padding. */
int	tb64_decode(const char *in, size_t inlen, uint8_t **out, size_t *outlen);
int	tb64_encode(const uint8_t *in, size_t inlen, char **out);
void	thex(const uint8_t *in, size_t inlen, char *out);	/* out: 2*inlen+1 */
int	thex_decode(const char *in, uint8_t *out, size_t outlen); /* exactly 2*outlen lower/upper hex */

#endif
