/*
 * certs: X.509 and TLS material handling.
 *
 * Root-certificate checks as Notary applies them to root.json keys
 * (trustpinning/certs.go, tuf/utils/x509.go), CA-chain verification for CA
 * pinning, and loading of TLS certificates and keys for listeners. No
 * network I/O. Every time check takes an explicit clock.
 */
#ifndef CERTS_CERTS_H
#define CERTS_CERTS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define CERTS_MAX_PEM_LEN	(64 * 1024)	/* one key's PEM bundle */
#define CERTS_MAX_CHAIN		8		/* certificates in one bundle */
#define CERTS_MAX_CA_LEN	(1024 * 1024)	/* a pinned CA bundle */
#define CERTS_NOTBEFORE_LEEWAY	(24 * 60 * 60)	/* notary: NotBefore <= now + 1 day */
#define CERTS_MIN_RSA_BITS	2048

#define CERTS_ERRLEN		256

/* A parsed PEM bundle: one leaf (non-CA) certificate first, then CA intermediates. */
struct certs_chain;

/*
 * Parse a PEM bundle of CERTIFICATE blocks (len bytes, no NUL needed).
 * Notary's rules: only CERTIFICATE blocks (any other block type is an
 * error), at most CERTS_MAX_CHAIN, exactly one non-CA certificate and it
 * comes first, the rest are CA certificates. Returns 0 and a new chain, or
 * -1 with a message in err.
 */
int		 certs_chain_parse(const uint8_t *pem, size_t len,
		    struct certs_chain **out, char err[CERTS_ERRLEN]);
void		 certs_chain_free(struct certs_chain *);

/*
 * 0 if pk is an EC key whose point is not in uncompressed form (Go's
 * parsers refuse the others), 1 otherwise (other key types, NULL).
 */
int		 certs_ec_point_ok(EVP_PKEY *pk);

/* Borrowed leaf certificate and its public key. */
X509		*certs_chain_leaf(const struct certs_chain *);
EVP_PKEY	*certs_chain_pubkey(const struct certs_chain *);
size_t		 certs_chain_nintermediates(const struct certs_chain *);

/* DER SubjectPublicKeyInfo of the leaf; *der is malloc'd. Returns 0 or -1. */
int		 certs_leaf_spki(const struct certs_chain *, uint8_t **der, size_t *len);

/* Leaf subject CN into buf (NUL-terminated). Returns 0, or -1 if absent or too long. */
int		 certs_leaf_cn(const struct certs_chain *, char *buf, size_t len);

/*
 * Notary's CN rule: cn equals gun, or cn ends in '*' and, with all trailing
 * '*' removed, is a string prefix of gun. Returns 1 on match.
 */
int		 certs_cn_matches(const char *cn, const char *gun);

/*
 * Notary's ValidateCertificate on one certificate: NotBefore <= NotAfter;
 * signature algorithm not SHA-1 based; RSA keys >= CERTS_MIN_RSA_BITS; and
 * when check_expiry is set, now <= NotAfter and NotBefore <= now + 1 day.
 * Returns 0 valid, -1 with a message in err.
 */
int		 certs_check(X509 *, time_t now, int check_expiry, char err[CERTS_ERRLEN]);

/*
 * The chain re-encoded as Notary rebuilds root keys: the leaf followed by
 * those intermediates that pass certs_check(now, check_expiry), each as
 * "-----BEGIN CERTIFICATE-----\n", base64 in 64-column lines,
 * "-----END CERTIFICATE-----\n" (Go's pem.Encode). *pem is malloc'd.
 * Returns 0 or -1.
 */
int		 certs_chain_pem(const struct certs_chain *, time_t now, int check_expiry,
		    uint8_t **pem, size_t *len);

/*
 * CA pinning: verify the leaf, with the chain's intermediates, up to a CA
 * in ca_pem (a PEM bundle, at most CERTS_MAX_CA_LEN), at time now. CA
 * certificates that fail certs_check(now, 1) are dropped first; none left
 * is an error ("invalid CA certs provided"). Returns 0 or -1 with err.
 */
int		 certs_verify_ca(const struct certs_chain *, const uint8_t *ca_pem,
		    size_t ca_len, time_t now, char err[CERTS_ERRLEN]);

/*
 * TLS server context for a listener: certificate chain and private key
 * from PEM files, TLS 1.2 minimum. Returns a new SSL_CTX or NULL with err.
 */
SSL_CTX		*certs_server_ctx(const char *cert_file, const char *key_file,
		    char err[CERTS_ERRLEN]);

#endif
