/*
 * certs: X.509 handling for root keys, CA pinning and TLS listeners.
 *
 * Root keys in Notary metadata are PEM bundles; Notary parses them with
 * tuf/utils/x509.go LoadCertBundleFromPEM and checks them with
 * ValidateCertificate (dct-semantics.md 5.5). This file reproduces those
 * rules with OpenSSL and adds a few refusals where Go would reject the
 * encoding outright (trailing bytes after a certificate, compressed EC
 * points, malformed extensions) or where a block carries PEM headers.
 *
 * What it does not do: check the certificate's own signature outside CA
 * pinning (Notary does not either), KeyUsage/ExtKeyUsage, or revocation.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certs/certs.h"

struct certs_chain {
	X509	*cert[CERTS_MAX_CHAIN];	/* [0] the leaf, then intermediates */
	uint8_t	*der[CERTS_MAX_CHAIN];	/* the bytes as found, for re-encoding */
	size_t	 derlen[CERTS_MAX_CHAIN];
	size_t	 n;
};

static int
seterr(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Set err (may be NULL) and drop whatever OpenSSL queued; returns -1. */
static int
seterr(char *err, const char *fmt, ...)
{
	va_list	ap;

	ERR_clear_error();
	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, CERTS_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

/* Go's cert.IsCA: a valid basicConstraints extension with cA true. */
static int
is_ca(X509 *x)
{
	uint32_t	f = X509_get_extension_flags(x);

	return (f & EXFLAG_BCONS) && (f & EXFLAG_CA);
}

/*
 * Go's x509 parser only understands uncompressed EC points; a certificate
 * with a compressed one does not parse there, so it must not here.
 */
int
certs_ec_point_ok(EVP_PKEY *pk)
{
	char	form[32];
	size_t	len = 0;

	if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC)
		return 1;
	if (!EVP_PKEY_get_utf8_string_param(pk,
	    OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, form, sizeof(form), &len))
		return 0;
	return strcmp(form, "uncompressed") == 0;
}

/*
 * Parse one DER certificate, insisting that it is all of der, that
 * re-encoding gives the same bytes (DER, not BER) and that its extensions
 * are well-formed.
 */
static X509 *
parse_der(const uint8_t *der, size_t len)
{
	const unsigned char	*p = der;
	unsigned char		*re = NULL;
	X509			*x;
	int			 relen;

	if (len == 0 || len > CERTS_MAX_PEM_LEN)
		return NULL;
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL)
		return NULL;
	if (p != der + len)
		goto bad;
	relen = i2d_X509(x, &re);
	if (relen < 0 || (size_t)relen != len || memcmp(re, der, len) != 0)
		goto bad;
	if (X509_get_extension_flags(x) & EXFLAG_INVALID)
		goto bad;
	if (!certs_ec_point_ok(X509_get0_pubkey(x)))
		goto bad;
	OPENSSL_free(re);
	return x;
bad:
	OPENSSL_free(re);
	X509_free(x);
	return NULL;
}

void
certs_chain_free(struct certs_chain *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		X509_free(c->cert[i]);
		OPENSSL_free(c->der[i]);
	}
	free(c);
}

/*
 * Call fn for each PEM block of pem: every block must be a CERTIFICATE
 * without headers whose content parses (parse_der). fn takes ownership of
 * x and der (free with X509_free/OPENSSL_free) and returns 0 or -1 with
 * err set. Text outside blocks is ignored, as Go's pem.Decode does.
 * Returns the number of certificates (at least one) or -1 with err.
 */
static int
pem_each(const uint8_t *pem, size_t len,
    int (*fn)(void *, X509 *, uint8_t *, size_t, char *), void *arg, char *err)
{
	BIO		*bio;
	X509		*x;
	char		*name = NULL, *header = NULL;
	unsigned char	*data = NULL;
	long		 dlen = 0;
	unsigned long	 e;
	int		 rc = -1, n = 0;

	if (len > (size_t)INT_MAX)
		return seterr(err, "PEM data too long");
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return seterr(err, "out of memory");
	for (;;) {
		if (!PEM_read_bio(bio, &name, &header, &data, &dlen)) {
			e = ERR_peek_last_error();
			if (ERR_GET_LIB(e) != ERR_LIB_PEM ||
			    ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
				seterr(err, "malformed PEM data");
			else if (n == 0)
				seterr(err, "no certificates found in PEM data");
			else {
				ERR_clear_error();
				rc = n;
			}
			break;
		}
		if (strcmp(name, "CERTIFICATE") != 0) {
			seterr(err, "invalid PEM block type: %.64s", name);
			break;
		}
		if (header[0] != '\0') {
			seterr(err, "PEM headers are not allowed in a certificate block");
			break;
		}
		if ((x = parse_der(data, (size_t)dlen)) == NULL) {
			seterr(err, "certificate %d does not parse", n + 1);
			break;
		}
		n++;
		if (fn(arg, x, data, (size_t)dlen, err) == -1) {
			data = NULL;
			break;
		}
		data = NULL;
		OPENSSL_free(name);
		OPENSSL_free(header);
		name = header = NULL;
	}
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	return rc;
}

/* pem_each callback: append to a chain, at most CERTS_MAX_CHAIN. */
static int
chain_add(void *arg, X509 *x, uint8_t *der, size_t len, char *err)
{
	struct certs_chain	*c = arg;

	if (c->n >= CERTS_MAX_CHAIN) {
		X509_free(x);
		OPENSSL_free(der);
		return seterr(err, "more than %d certificates in PEM bundle",
		    CERTS_MAX_CHAIN);
	}
	c->cert[c->n] = x;
	c->der[c->n] = der;
	c->derlen[c->n] = len;
	c->n++;
	return 0;
}

int
certs_chain_parse(const uint8_t *pem, size_t len, struct certs_chain **out,
    char err[CERTS_ERRLEN])
{
	struct certs_chain	*c;
	size_t			 i;

	*out = NULL;
	if (len > CERTS_MAX_PEM_LEN)
		return seterr(err, "PEM bundle of %zu bytes is over the limit of %d",
		    len, CERTS_MAX_PEM_LEN);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return seterr(err, "out of memory");
	if (pem_each(pem, len, chain_add, c, err) == -1)
		goto bad;
	if (is_ca(c->cert[0])) {
		seterr(err, "first certificate is a CA certificate, not a leaf");
		goto bad;
	}
	for (i = 1; i < c->n; i++)
		if (!is_ca(c->cert[i])) {
			seterr(err, "more than one leaf (non-CA) certificate");
			goto bad;
		}
	*out = c;
	return 0;
bad:
	certs_chain_free(c);
	return -1;
}

X509 *
certs_chain_leaf(const struct certs_chain *c)
{
	return c->cert[0];
}

EVP_PKEY *
certs_chain_pubkey(const struct certs_chain *c)
{
	return X509_get0_pubkey(c->cert[0]);
}

size_t
certs_chain_nintermediates(const struct certs_chain *c)
{
	return c->n - 1;
}

/*
 * The leaf's SubjectPublicKeyInfo re-encoded from the parsed key, as Go's
 * x509.MarshalPKIXPublicKey(cert.PublicKey) does for CanonicalKeyID.
 */
int
certs_leaf_spki(const struct certs_chain *c, uint8_t **der, size_t *len)
{
	EVP_PKEY	*pk = certs_chain_pubkey(c);
	unsigned char	*p;
	uint8_t		*buf;
	int		 n;

	*der = NULL;
	*len = 0;
	if (pk == NULL || (n = i2d_PUBKEY(pk, NULL)) <= 0)
		return seterr(NULL, "no public key");
	if ((buf = malloc((size_t)n)) == NULL)
		return -1;
	p = buf;
	if (i2d_PUBKEY(pk, &p) != n) {
		free(buf);
		return seterr(NULL, "cannot encode public key");
	}
	*der = buf;
	*len = (size_t)n;
	return 0;
}

/* Go's pkix.Name keeps the last CommonName attribute; so do we. */
int
certs_leaf_cn(const struct certs_chain *c, char *buf, size_t len)
{
	X509_NAME	*name = X509_get_subject_name(c->cert[0]);
	X509_NAME_ENTRY	*ent;
	unsigned char	*utf8 = NULL;
	int		 i, last = -1, n;

	if (name == NULL || len == 0)
		return -1;
	for (i = -1; (i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0;)
		last = i;
	if (last < 0 || (ent = X509_NAME_get_entry(name, last)) == NULL)
		return -1;
	if ((n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ent))) < 0)
		return seterr(NULL, "bad CN");
	if ((size_t)n >= len || memchr(utf8, '\0', (size_t)n) != NULL) {
		OPENSSL_free(utf8);
		return -1;
	}
	memcpy(buf, utf8, (size_t)n);
	buf[n] = '\0';
	OPENSSL_free(utf8);
	return 0;
}

/* notary trustpinning.MatchCNToGun */
int
certs_cn_matches(const char *cn, const char *gun)
{
	size_t	n = strlen(cn);

	if (n > 0 && cn[n - 1] == '*') {
		while (n > 0 && cn[n - 1] == '*')
			n--;
		return strncmp(cn, gun, n) == 0;
	}
	return strcmp(cn, gun) == 0;
}

/* Signature digests Go (and we) refuse; Notary lists the SHA-1 ones. */
static int
weak_digest(int md_nid)
{
	return md_nid == NID_sha1 || md_nid == NID_md5 || md_nid == NID_md4 ||
	    md_nid == NID_md2 || md_nid == NID_md5_sha1;
}

/* notary tuf/utils/x509.go ValidateCertificate */
int
certs_check(X509 *x, time_t now, int check_expiry, char err[CERTS_ERRLEN])
{
	const ASN1_TIME	*nb = X509_get0_notBefore(x), *na = X509_get0_notAfter(x);
	EVP_PKEY	*pk;
	int		 md_nid = NID_undef, pk_nid = NID_undef, c, bits;

	if (nb == NULL || na == NULL || (c = ASN1_TIME_compare(nb, na)) == -2)
		return seterr(err, "certificate has malformed validity dates");
	if (c > 0)
		return seterr(err, "certificate validity window is invalid: "
		    "NotBefore is after NotAfter");
	if (!OBJ_find_sigid_algs(X509_get_signature_nid(x), &md_nid, &pk_nid))
		md_nid = NID_undef;
	if (weak_digest(md_nid))
		return seterr(err, "certificate uses a weak signature algorithm (%s)",
		    OBJ_nid2sn(md_nid));
	if ((pk = X509_get0_pubkey(x)) == NULL)
		return seterr(err, "certificate public key does not parse");
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA ||
	    EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA_PSS) {
		bits = EVP_PKEY_get_bits(pk);
		if (bits < CERTS_MIN_RSA_BITS)
			return seterr(err, "RSA bit length %d is too short "
			    "(minimum %d)", bits, CERTS_MIN_RSA_BITS);
	}
	if (!check_expiry)
		return 0;
	if ((c = ASN1_TIME_cmp_time_t(na, now)) == -2)
		return seterr(err, "certificate has malformed NotAfter");
	if (c < 0)
		return seterr(err, "certificate is expired");
	if (now > (time_t)(INT64_MAX - CERTS_NOTBEFORE_LEEWAY) ||
	    (c = ASN1_TIME_cmp_time_t(nb, now + CERTS_NOTBEFORE_LEEWAY)) == -2)
		return seterr(err, "certificate has malformed NotBefore");
	if (c > 0)
		return seterr(err, "certificate is not valid yet");
	return 0;
}

int
certs_chain_pem(const struct certs_chain *c, time_t now, int check_expiry,
    uint8_t **pem, size_t *len)
{
	BIO		*bio;
	char		*p;
	long		 n;
	size_t		 i;
	int		 rc = -1;

	*pem = NULL;
	*len = 0;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	for (i = 0; i < c->n; i++) {
		if (i > 0 && certs_check(c->cert[i], now, check_expiry, NULL) == -1)
			continue;	/* notary drops failing intermediates silently */
		/* Go's pem.Encode: no headers, base64 in 64-column lines */
		if (PEM_write_bio(bio, PEM_STRING_X509, "", c->der[i],
		    (long)c->derlen[i]) <= 0)
			goto out;
	}
	if ((n = BIO_get_mem_data(bio, &p)) <= 0)
		goto out;
	if ((*pem = malloc((size_t)n)) == NULL)
		goto out;
	memcpy(*pem, p, (size_t)n);
	*len = (size_t)n;
	rc = 0;
out:
	BIO_free(bio);
	return rc;
}

struct ca_load {
	X509_STORE	*store;
	time_t		 now;
	size_t		 nseen;
	size_t		 nkept;
};

/* pem_each callback: keep CA certificates that pass certs_check(now, 1). */
static int
ca_add(void *arg, X509 *x, uint8_t *der, size_t len, char *err)
{
	struct ca_load	*l = arg;
	int		 rc = 0;

	(void)len;
	l->nseen++;
	if (certs_check(x, l->now, 1, NULL) == 0) {
		if (X509_STORE_add_cert(l->store, x))
			l->nkept++;
		else
			rc = seterr(err, "cannot add CA certificate %zu", l->nseen);
	}
	X509_free(x);
	OPENSSL_free(der);
	return rc;
}

/*
 * notary trustpinning caCheck: leaf.Verify({Roots: pinned CAs,
 * Intermediates: the bundle's CA certificates}) at our clock. Partial
 * chains are not allowed: the path must end at a pinned certificate.
 * X509_V_FLAG_X509_STRICT is not set: it enforces RFC 5280 profile rules
 * (authority key identifiers, critical basicConstraints...) that Go's
 * verifier does not, and would refuse chains Notary accepts.
 */
int
certs_verify_ca(const struct certs_chain *c, const uint8_t *ca_pem, size_t ca_len,
    time_t now, char err[CERTS_ERRLEN])
{
	struct ca_load		 l = { NULL, now, 0, 0 };
	X509_STORE_CTX		*ctx = NULL;
	X509_VERIFY_PARAM	*param;
	STACK_OF(X509)		*untrusted = NULL;
	size_t			 i;
	int			 rc = -1, vr;

	if (ca_pem == NULL || ca_len == 0)
		return seterr(err, "no CA certificates provided");
	if (ca_len > CERTS_MAX_CA_LEN)
		return seterr(err, "CA bundle of %zu bytes is over the limit of %d",
		    ca_len, CERTS_MAX_CA_LEN);
	if ((l.store = X509_STORE_new()) == NULL ||
	    (untrusted = sk_X509_new_null()) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL) {
		seterr(err, "out of memory");
		goto out;
	}
	if (pem_each(ca_pem, ca_len, ca_add, &l, err) == -1)
		goto out;
	if (l.nkept == 0) {
		seterr(err, "invalid CA certs provided");
		goto out;
	}
	for (i = 1; i < c->n; i++)
		if (!sk_X509_push(untrusted, c->cert[i])) {
			seterr(err, "out of memory");
			goto out;
		}
	if (!X509_STORE_CTX_init(ctx, l.store, c->cert[0], untrusted)) {
		seterr(err, "cannot set up certificate verification");
		goto out;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, now);
	X509_VERIFY_PARAM_clear_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
	X509_VERIFY_PARAM_set_depth(param, CERTS_MAX_CHAIN + 1);
	/* 112-bit security: no SHA-1 signatures, no RSA under 2048 bits. */
	X509_VERIFY_PARAM_set_auth_level(param, 2);
	if (X509_verify_cert(ctx) != 1) {
		vr = X509_STORE_CTX_get_error(ctx);
		seterr(err, "certificate does not chain to a pinned CA: %s",
		    X509_verify_cert_error_string(vr));
		goto out;
	}
	rc = 0;
out:
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);	/* the certificates belong to c */
	X509_STORE_free(l.store);
	ERR_clear_error();
	return rc;
}

/*
 * A TLS server context for a listener: the certificate chain and private
 * key from PEM files (the key must match the leaf), TLS 1.2 minimum, no
 * renegotiation, server cipher preference.
 */
SSL_CTX *
certs_server_ctx(const char *cert_file, const char *key_file,
    char err[CERTS_ERRLEN])
{
	SSL_CTX		*ctx;
	unsigned long	 e;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		seterr(err, "cannot create TLS context");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		seterr(err, "cannot require TLS 1.2");
		goto bad;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		e = ERR_peek_last_error();
		seterr(err, "cannot load certificate chain %s: %s", cert_file,
		    ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "error");
		goto bad;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		e = ERR_peek_last_error();
		seterr(err, "cannot load private key %s: %s", key_file,
		    ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "error");
		goto bad;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		seterr(err, "private key %s does not match certificate %s",
		    key_file, cert_file);
		goto bad;
	}
	return ctx;
bad:
	SSL_CTX_free(ctx);
	return NULL;
}
