/*
 * certs/certs.c: root certificates of the fixtures (CN, expiry, byte-exact
 * PEM re-encoding and IDs), Notary's ValidateCertificate rules, the chain
 * rules, CA pinning and TLS server contexts, with certificates generated
 * here by OpenSSL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certs/certs.h"
#include "tests/unit.h"
#include "trust/trust_int.h"

#define DAY		(24 * 60 * 60)
#define T_2026_01_01	((time_t)1767225600)
#define T_2026_07_01	((time_t)1782864000)
#define T_2026_08_01	((time_t)1785542400)

/* ---- fixtures ------------------------------------------------------- */

static const struct {
	const char	*file;
	const char	*gun;
} fx_roots[] = {
	{ "aepifanov+moby/daemon__trust__service_test.go--alpineMeta--root.json",
	  "docker.io/library/alpine" },
	{ "aepifanov+moby/testutil__fixtures__load__trust.go--trustDataGood--root.json",
	  "dockertrusttest.docker.io/library/busybox" },
	{ "aepifanov+moby/testutil__fixtures__load__trust.go--trustDataBad--root.json",
	  "dockertrusttest.docker.io/library/busybox" },
	{ "generated-notary-0.7.0/docker.io__test__canon--root.json",
	  "docker.io/test/canon" },
	{ "generated-notary-0.7.0/docker.io__test__repo--1.root.json",
	  "docker.io/test/repo" },
	{ "generated-notary-0.7.0/docker.io__test__repo--2.root.json",
	  "docker.io/test/repo" },
	{ "generated-notary-0.7.0/docker.io__test__repo--root.json",
	  "docker.io/test/repo" },
	{ "notaryproject+notary/fixtures__compatibility__notary0.1__tuf__docker.com__"
	  "notary0.1__samplerepo__metadata__root.json",
	  "docker.com/notary0.1/samplerepo" },
	{ "notaryproject+notary/fixtures__compatibility__notary0.3__tuf__docker.com__"
	  "notary0.3__tst__metadata__root.json",
	  "docker.com/notary0.3/tst" },
};
#define NOTARY03_ROOT	(fx_roots[8].file)
#define CONNAISSEUR_ROOT "sse-secure-systems+connaisseur/test__testdata__notaryv1__" \
	"trust_data__never-expire-with-delegations-image__root.json"

static json_t *
load(const char *rel)
{
	struct trust_error	 err;
	unsigned char		*buf;
	size_t			 len;
	json_t			*v = NULL;

	if ((buf = unit_read(unit_fixture(rel), &len)) == NULL)
		return NULL;
	if (tjson_parse(buf, len, TRUST_MAX_METADATA_LEN, &v, &err) == -1)
		v = NULL;
	free(buf);
	return v;
}

/* Decoded keyval.public of the root role's (first) key; *idp gets its key ID. */
static uint8_t *
root_pem(const char *rel, size_t *len, char id[65], char type[16])
{
	json_t		*doc, *s, *k, *pub;
	const char	*kid;
	uint8_t		*out = NULL;

	if ((doc = load(rel)) == NULL)
		return NULL;
	s = json_object_get(doc, "signed");
	kid = json_string_value(json_array_get(json_object_get(json_object_get(
	    json_object_get(s, "roles"), "root"), "keyids"), 0));
	k = json_object_get(json_object_get(s, "keys"), kid ? kid : "");
	pub = json_object_get(json_object_get(k, "keyval"), "public");
	if (kid != NULL && json_is_string(pub) &&
	    tb64_decode(json_string_value(pub), json_string_length(pub), &out, len) == 0) {
		snprintf(id, 65, "%s", kid);
		snprintf(type, 16, "%s", json_string_value(json_object_get(k, "keytype")));
	}
	json_decref(doc);
	return out;
}

static struct certs_chain *
root_chain(const char *rel)
{
	struct certs_chain	*c = NULL;
	uint8_t			*pem;
	size_t			 len;
	char			 id[65], type[16], err[CERTS_ERRLEN];

	if ((pem = root_pem(rel, &len, id, type)) == NULL)
		return NULL;
	if (certs_chain_parse(pem, len, &c, err) == -1)
		c = NULL;
	free(pem);
	return c;
}

UNIT_TEST(certs_fixture_leaf_cn_is_gun)
{
	struct certs_chain	*c;
	char			 cn[256], err[CERTS_ERRLEN];
	uint8_t			*pem;
	size_t			 i, len;
	char			 id[65], type[16];
	int			 rc;

	for (i = 0; i < sizeof(fx_roots) / sizeof(fx_roots[0]); i++) {
		if ((c = root_chain(fx_roots[i].file)) == NULL)
			unit_fail(__FILE__, __LINE__, "%s: no chain", fx_roots[i].file);
		rc = certs_leaf_cn(c, cn, sizeof(cn));
		T_EQ_INT(certs_chain_nintermediates(c), 0);
		T_ASSERT(certs_chain_leaf(c) != NULL && certs_chain_pubkey(c) != NULL);
		certs_chain_free(c);
		T_EQ_INT(rc, 0);
		T_EQ_STR(cn, fx_roots[i].gun);
		T_ASSERT(certs_cn_matches(cn, fx_roots[i].gun));
	}
	/* The CN must fit the buffer. */
	c = root_chain(fx_roots[0].file);
	T_ASSERT(c != NULL);
	rc = certs_leaf_cn(c, cn, strlen("docker.io/library/alpine"));
	certs_chain_free(c);
	T_EQ_INT(rc, -1);
	/* Connaisseur's root certificate is a CA certificate: no leaf. */
	pem = root_pem(CONNAISSEUR_ROOT, &len, id, type);
	T_ASSERT(pem != NULL);
	rc = certs_chain_parse(pem, len, &c, err);
	free(pem);
	T_EQ_INT(rc, -1);
	T_CONTAINS(err, "CA certificate");
}

/*
 * For every x509 root key in every fixture: certs_chain_pem gives back
 * the exact PEM bytes (Go's pem.Encode, which is also PEM_write_bio_X509's
 * format), and the key ID recomputed over them is the listed one.
 */
UNIT_TEST(certs_fixture_chain_pem_exact)
{
	json_t			*doc, *keys, *k;
	const char		*kid, *kt;
	struct certs_chain	*c;
	uint8_t			*pem, *re;
	size_t			 i, len, relen;
	char			 id[65], err[CERTS_ERRLEN];
	BIO			*bio;
	char			*p;
	long			 n;
	int			 checked = 0, same;

	for (i = 0; i < sizeof(fx_roots) / sizeof(fx_roots[0]); i++) {
		T_ASSERT((doc = load(fx_roots[i].file)) != NULL);
		keys = json_object_get(json_object_get(doc, "signed"), "keys");
		json_object_foreach(keys, kid, k) {
			json_t *pub = json_object_get(json_object_get(k, "keyval"), "public");

			kt = json_string_value(json_object_get(k, "keytype"));
			if (strcmp(kt, "ecdsa-x509") != 0 && strcmp(kt, "rsa-x509") != 0)
				continue;
			T_EQ_INT(tb64_decode(json_string_value(pub), json_string_length(pub),
			    &pem, &len), 0);
			if (certs_chain_parse(pem, len, &c, err) == -1)
				unit_fail(__FILE__, __LINE__, "%s: %s", kid, err);
			T_EQ_INT(certs_chain_pem(c, T_2026_01_01, 0, &re, &relen), 0);
			T_EQ_INT(relen, len);
			T_ASSERT(memcmp(re, pem, len) == 0);
			T_EQ_INT(tkey_compute_id(kt, re, relen, id), 0);
			T_EQ_STR(id, kid);
			/* And OpenSSL's own PEM writer agrees byte for byte. */
			T_ASSERT((bio = BIO_new(BIO_s_mem())) != NULL);
			T_ASSERT(PEM_write_bio_X509(bio, certs_chain_leaf(c)) == 1);
			n = BIO_get_mem_data(bio, &p);
			same = n > 0 && (size_t)n == len && memcmp(p, pem, len) == 0;
			BIO_free(bio);
			T_ASSERT(same);
			free(re);
			free(pem);
			certs_chain_free(c);
			checked++;
		}
		json_decref(doc);
	}
	/* 9 root files; 2.root.json and root.json also keep older root certs. */
	T_EQ_INT(checked, 9 + 1 + 2);
}

UNIT_TEST(certs_cn_matching)
{
	T_ASSERT(certs_cn_matches("docker.com/notary", "docker.com/notary"));
	T_ASSERT(certs_cn_matches("docker.com/**", "docker.com/notary"));
	T_ASSERT(certs_cn_matches("docker.com/*", "docker.com/notary"));
	T_ASSERT(certs_cn_matches("docker.com/n*", "docker.com/notary"));
	T_ASSERT(certs_cn_matches("*", "anything/at/all"));
	T_ASSERT(!certs_cn_matches("test/*/wild", "test/test/wild"));
	T_ASSERT(!certs_cn_matches("docker.com/", "docker.com/notary"));	/* prefix needs '*' */
	T_ASSERT(!certs_cn_matches("docker.com/notary", "docker.com/notary2"));
	T_ASSERT(!certs_cn_matches("docker.com/notary2", "docker.com/notary"));
	T_ASSERT(!certs_cn_matches("docker.io/*", "docker.com/notary"));
	T_ASSERT(!certs_cn_matches("Docker.com/notary", "docker.com/notary"));
	T_ASSERT(!certs_cn_matches("", "docker.com/notary"));
}

UNIT_TEST(certs_notary03_root_expiry)
{
	struct certs_chain	*c;
	struct tm		 tm;
	time_t			 na;
	char			 e1[CERTS_ERRLEN], e2[CERTS_ERRLEN];
	int			 r[6];

	T_ASSERT((c = root_chain(NOTARY03_ROOT)) != NULL);
	/* notAfter 2026-07-25 22:56:32 UTC */
	T_ASSERT(ASN1_TIME_to_tm(X509_get0_notAfter(certs_chain_leaf(c)), &tm) == 1);
	na = timegm(&tm);
	r[0] = certs_check(certs_chain_leaf(c), T_2026_07_01, 1, e1);
	r[1] = certs_check(certs_chain_leaf(c), T_2026_08_01, 1, e2);
	r[2] = certs_check(certs_chain_leaf(c), T_2026_08_01, 0, NULL);
	r[3] = certs_check(certs_chain_leaf(c), na, 1, NULL);
	r[4] = certs_check(certs_chain_leaf(c), na + 1, 1, NULL);
	r[5] = certs_check(certs_chain_leaf(c), (time_t)2000000000 * 2, 0, NULL);
	certs_chain_free(c);
	T_EQ_INT(na, (time_t)1785020192);
	T_EQ_INT(r[0], 0);
	T_EQ_INT(r[1], -1);
	T_CONTAINS(e2, "expired");
	T_EQ_INT(r[2], 0);
	T_EQ_INT(r[3], 0);	/* now == NotAfter is still valid */
	T_EQ_INT(r[4], -1);
	T_EQ_INT(r[5], 0);
}

/* ---- generated certificates ---------------------------------------- */

static EVP_PKEY *
ec_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;
	int		 ok;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/*
 * A certificate for key, signed by signer (issuer NULL: self-signed),
 * valid [nb, na], CA or leaf, signature digest md.
 */
static X509 *
mkcert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn, int ca,
    time_t nb, time_t na, const EVP_MD *md)
{
	static long	 serial = 1;
	X509		*x;
	X509_NAME	*name;

	if ((x = X509_new()) == NULL)
		return NULL;
	name = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) ||
	    !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
	    ASN1_TIME_set(X509_getm_notBefore(x), nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), na) == NULL ||
	    !X509_set_pubkey(x, key) ||
	    !add_ext(x, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" :
	    "critical,CA:FALSE") ||
	    !add_ext(x, issuer, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" :
	    "critical,digitalSignature") ||
	    !add_ext(x, issuer, NID_subject_key_identifier, "hash") ||
	    (issuer != NULL &&
	    !add_ext(x, issuer, NID_authority_key_identifier, "keyid:always")) ||
	    X509_sign(x, signer, md) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* PEM of the given certificates, concatenated (malloc'd). */
static uint8_t *
pem_of(X509 *const *xs, size_t n, size_t *len)
{
	BIO	*bio = BIO_new(BIO_s_mem());
	uint8_t	*out = NULL;
	char	*p;
	long	 m;
	size_t	 i;

	if (bio == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (PEM_write_bio_X509(bio, xs[i]) != 1)
			goto out;
	if ((m = BIO_get_mem_data(bio, &p)) <= 0 || (out = malloc((size_t)m)) == NULL)
		goto out;
	memcpy(out, p, (size_t)m);
	*len = (size_t)m;
out:
	BIO_free(bio);
	return out;
}

/* Parse the PEM of certificates; returns certs_chain_parse's result. */
static int
parse_certs(X509 *const *xs, size_t n, struct certs_chain **c, char *err)
{
	uint8_t	*pem;
	size_t	 len;
	int	 rc;

	*c = NULL;
	if ((pem = pem_of(xs, n, &len)) == NULL)
		return -2;
	rc = certs_chain_parse(pem, len, c, err);
	free(pem);
	return rc;
}

UNIT_TEST(certs_check_notbefore_leeway)
{
	EVP_PKEY	*k = ec_key();
	X509		*x;
	const time_t	 nb = T_2026_01_01;
	char		 err[CERTS_ERRLEN];
	int		 r[4];

	T_ASSERT(k != NULL);
	x = mkcert(k, k, NULL, "leeway", 0, nb, nb + 365 * DAY, EVP_sha256());
	EVP_PKEY_free(k);
	T_ASSERT(x != NULL);
	r[0] = certs_check(x, nb, 1, NULL);
	r[1] = certs_check(x, nb - DAY, 1, NULL);	/* exactly one day early */
	r[2] = certs_check(x, nb - DAY - 1, 1, err);
	r[3] = certs_check(x, nb - 30 * DAY, 0, NULL);	/* no time checks */
	X509_free(x);
	T_EQ_INT(r[0], 0);
	T_EQ_INT(r[1], 0);
	T_EQ_INT(r[2], -1);
	T_CONTAINS(err, "not valid yet");
	T_EQ_INT(r[3], 0);
}

UNIT_TEST(certs_check_bad_window)
{
	EVP_PKEY	*k = ec_key();
	X509		*x;
	char		 err[CERTS_ERRLEN];
	int		 rc;

	T_ASSERT(k != NULL);
	x = mkcert(k, k, NULL, "backwards", 0, T_2026_07_01, T_2026_01_01, EVP_sha256());
	EVP_PKEY_free(k);
	T_ASSERT(x != NULL);
	rc = certs_check(x, T_2026_01_01, 0, err);
	X509_free(x);
	T_EQ_INT(rc, -1);
	T_CONTAINS(err, "NotBefore is after NotAfter");
}

UNIT_TEST(certs_check_sha1_rejected)
{
	EVP_PKEY	*k = ec_key();
	X509		*x1, *x256;
	char		 err[CERTS_ERRLEN];
	int		 r[3];

	T_ASSERT(k != NULL);
	x1 = mkcert(k, k, NULL, "sha1", 0, T_2026_01_01, T_2026_08_01, EVP_sha1());
	x256 = mkcert(k, k, NULL, "sha256", 0, T_2026_01_01, T_2026_08_01, EVP_sha256());
	EVP_PKEY_free(k);
	T_ASSERT(x1 != NULL && x256 != NULL);
	T_EQ_INT(X509_get_signature_nid(x1), NID_ecdsa_with_SHA1);
	r[0] = certs_check(x1, T_2026_07_01, 1, err);
	r[1] = certs_check(x1, T_2026_07_01, 0, NULL);	/* not a time rule */
	r[2] = certs_check(x256, T_2026_07_01, 1, NULL);
	X509_free(x1);
	X509_free(x256);
	T_EQ_INT(r[0], -1);
	T_CONTAINS(err, "SHA1");
	T_EQ_INT(r[1], -1);
	T_EQ_INT(r[2], 0);
}

UNIT_TEST(certs_check_rsa_size)
{
	EVP_PKEY	*k1024, *k2048;
	X509		*x1024, *x2048;
	char		 err[CERTS_ERRLEN];
	int		 r[2];

	k1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	k2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	T_ASSERT(k1024 != NULL && k2048 != NULL);
	x1024 = mkcert(k1024, k1024, NULL, "rsa1024", 0, T_2026_01_01, T_2026_08_01,
	    EVP_sha256());
	x2048 = mkcert(k2048, k2048, NULL, "rsa2048", 0, T_2026_01_01, T_2026_08_01,
	    EVP_sha256());
	EVP_PKEY_free(k1024);
	EVP_PKEY_free(k2048);
	T_ASSERT(x1024 != NULL && x2048 != NULL);
	r[0] = certs_check(x1024, T_2026_07_01, 0, err);
	r[1] = certs_check(x2048, T_2026_07_01, 1, NULL);
	X509_free(x1024);
	X509_free(x2048);
	T_EQ_INT(r[0], -1);
	T_CONTAINS(err, "RSA bit length 1024");
	T_EQ_INT(r[1], 0);
}

/* A root CA, an intermediate CA under it and a leaf under that. */
struct pki {
	EVP_PKEY	*kroot, *kint, *kleaf;
	X509		*root, *inter, *leaf;
};

static void
pki_free(struct pki *p)
{
	EVP_PKEY_free(p->kroot);
	EVP_PKEY_free(p->kint);
	EVP_PKEY_free(p->kleaf);
	X509_free(p->root);
	X509_free(p->inter);
	X509_free(p->leaf);
	memset(p, 0, sizeof(*p));
}

/* inter_na: NotAfter of the intermediate (to make it expire early). */
static int
pki_new(struct pki *p, const char *leaf_cn, time_t inter_na)
{
	memset(p, 0, sizeof(*p));
	p->kroot = ec_key();
	p->kint = ec_key();
	p->kleaf = ec_key();
	if (p->kroot == NULL || p->kint == NULL || p->kleaf == NULL)
		return -1;
	p->root = mkcert(p->kroot, p->kroot, NULL, "Test Root CA", 1,
	    T_2026_01_01 - 30 * DAY, T_2026_01_01 + 3650 * DAY, EVP_sha256());
	p->inter = mkcert(p->kint, p->kroot, p->root, "Test Intermediate CA", 1,
	    T_2026_01_01 - 30 * DAY, inter_na, EVP_sha256());
	p->leaf = mkcert(p->kleaf, p->kint, p->inter, leaf_cn, 0,
	    T_2026_01_01 - DAY, T_2026_01_01 + 365 * DAY, EVP_sha256());
	return p->root && p->inter && p->leaf ? 0 : -1;
}

UNIT_TEST(certs_chain_parse_rules)
{
	struct pki		 p;
	struct certs_chain	*c;
	char			 err[CERTS_ERRLEN];
	X509			*xs[CERTS_MAX_CHAIN + 1];
	int			 r[6];
	size_t			 i, nint = 0;

	T_EQ_INT(pki_new(&p, "docker.io/x/y", T_2026_01_01 + 3650 * DAY), 0);
	/* leaf first, then CAs: fine */
	xs[0] = p.leaf;
	xs[1] = p.inter;
	xs[2] = p.root;
	r[0] = parse_certs(xs, 3, &c, err);
	if (c != NULL)
		nint = certs_chain_nintermediates(c);
	certs_chain_free(c);
	/* a CA certificate first */
	xs[0] = p.inter;
	xs[1] = p.leaf;
	r[1] = parse_certs(xs, 2, &c, err);
	T_ASSERT(c == NULL);
	T_CONTAINS(err, "first certificate is a CA");
	/* two leaves */
	xs[0] = p.leaf;
	xs[1] = p.leaf;
	r[2] = parse_certs(xs, 2, &c, err);
	T_CONTAINS(err, "more than one leaf");
	/* only a CA */
	xs[0] = p.root;
	r[3] = parse_certs(xs, 1, &c, err);
	/* CERTS_MAX_CHAIN + 1 certificates */
	xs[0] = p.leaf;
	for (i = 1; i <= CERTS_MAX_CHAIN; i++)
		xs[i] = p.inter;
	r[4] = parse_certs(xs, CERTS_MAX_CHAIN + 1, &c, err);
	T_CONTAINS(err, "more than 8 certificates");
	r[5] = parse_certs(xs, CERTS_MAX_CHAIN, &c, err);
	certs_chain_free(c);
	pki_free(&p);
	T_EQ_INT(r[0], 0);
	T_EQ_INT(nint, 2);
	T_EQ_INT(r[1], -1);
	T_EQ_INT(r[2], -1);
	T_EQ_INT(r[3], -1);
	T_EQ_INT(r[4], -1);
	T_EQ_INT(r[5], 0);
}

UNIT_TEST(certs_chain_parse_rejects_other_pem)
{
	static const char	 pubkey_block[] =
	    "-----BEGIN PUBLIC KEY-----\n"
	    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEOXYta5TgdCwXTCnLU09W5T4M4r9f\n"
	    "QQrqJuADP6U7g5r9ICgPSmZuRHP/1AYUfOQW3baveKsT969EfELKj1lfCA==\n"
	    "-----END PUBLIC KEY-----\n";
	EVP_PKEY		*k = ec_key();
	X509			*x;
	struct certs_chain	*c = NULL;
	uint8_t			*pem, *buf, *big;
	size_t			 len, n;
	char			 err[CERTS_ERRLEN];
	int			 r[7];

	T_ASSERT(k != NULL);
	x = mkcert(k, k, NULL, "leaf", 0, T_2026_01_01, T_2026_08_01, EVP_sha256());
	EVP_PKEY_free(k);
	T_ASSERT(x != NULL);
	pem = pem_of(&x, 1, &len);
	X509_free(x);
	T_ASSERT(pem != NULL);
	buf = malloc(len + sizeof(pubkey_block) + 64);
	T_ASSERT(buf != NULL);

	/* A PUBLIC KEY block after the certificate. */
	memcpy(buf, pem, len);
	memcpy(buf + len, pubkey_block, sizeof(pubkey_block) - 1);
	r[0] = certs_chain_parse(buf, len + sizeof(pubkey_block) - 1, &c, err);
	T_CONTAINS(err, "invalid PEM block type: PUBLIC KEY");
	/* Text around blocks is ignored, as Go's pem.Decode does. */
	memcpy(buf, "junk\n", 5);
	memcpy(buf + 5, pem, len);
	memcpy(buf + 5 + len, "trailer\n", 8);
	r[1] = certs_chain_parse(buf, len + 13, &c, err);
	certs_chain_free(c);
	c = NULL;
	/* PEM headers inside the block. */
	n = strlen("-----BEGIN CERTIFICATE-----\n");
	memcpy(buf, pem, n);
	memcpy(buf + n, "Proc-Type: 4,ENCRYPTED\n\n", 24);
	memcpy(buf + n + 24, pem + n, len - n);
	r[2] = certs_chain_parse(buf, len + 24, &c, err);
	/* Nothing at all, and not PEM. */
	r[3] = certs_chain_parse((const uint8_t *)"", 0, &c, err);
	T_CONTAINS(err, "no certificates");
	r[4] = certs_chain_parse((const uint8_t *)"hello", 5, &c, err);
	/* A damaged base64 body. */
	memcpy(buf, pem, len);
	buf[n + 10] = '*';
	r[5] = certs_chain_parse(buf, len, &c, err);
	free(buf);
	/* Over the byte cap. */
	big = calloc(1, CERTS_MAX_PEM_LEN + 1);
	T_ASSERT(big != NULL);
	memcpy(big, pem, len);
	memset(big + len, '\n', CERTS_MAX_PEM_LEN + 1 - len);
	r[6] = certs_chain_parse(big, CERTS_MAX_PEM_LEN + 1, &c, err);
	free(big);
	free(pem);
	T_EQ_INT(r[0], -1);
	T_EQ_INT(r[1], 0);
	T_EQ_INT(r[2], -1);
	T_EQ_INT(r[3], -1);
	T_EQ_INT(r[4], -1);
	T_EQ_INT(r[5], -1);
	T_EQ_INT(r[6], -1);
	T_ASSERT(c == NULL);
}

UNIT_TEST(certs_chain_pem_drops_bad_intermediates)
{
	struct pki		 p;
	struct certs_chain	*c;
	X509			*xs[2];
	uint8_t			*leafpem, *both, *out1 = NULL, *out0 = NULL;
	size_t			 leaflen, bothlen, l1 = 0, l0 = 0;
	char			 err[CERTS_ERRLEN];
	int			 r[2];

	/* The intermediate expires 2026-02-01; the leaf later. */
	T_EQ_INT(pki_new(&p, "docker.io/x/y", T_2026_01_01 + 31 * DAY), 0);
	xs[0] = p.leaf;
	xs[1] = p.inter;
	leafpem = pem_of(xs, 1, &leaflen);
	both = pem_of(xs, 2, &bothlen);
	T_EQ_INT(parse_certs(xs, 2, &c, err), 0);
	r[0] = certs_chain_pem(c, T_2026_07_01, 1, &out1, &l1);
	r[1] = certs_chain_pem(c, T_2026_07_01, 0, &out0, &l0);
	certs_chain_free(c);
	pki_free(&p);
	T_ASSERT(leafpem != NULL && both != NULL);
	T_EQ_INT(r[0], 0);
	T_EQ_INT(r[1], 0);
	/* expired intermediate dropped with check_expiry, kept without */
	T_EQ_INT(l1, leaflen);
	T_ASSERT(memcmp(out1, leafpem, leaflen) == 0);
	T_EQ_INT(l0, bothlen);
	T_ASSERT(memcmp(out0, both, bothlen) == 0);
	free(out1);
	free(out0);
	free(leafpem);
	free(both);
}

UNIT_TEST(certs_verify_ca_pinning)
{
	struct pki		 p, other;
	struct certs_chain	*c, *direct;
	X509			*xs[2];
	uint8_t			*capem, *otherpem, *intpem, *both;
	size_t			 calen, otherlen, intlen, bothlen;
	char			 err[CERTS_ERRLEN], e_other[CERTS_ERRLEN], e_exp[CERTS_ERRLEN];
	int			 r[9];

	T_EQ_INT(pki_new(&p, "docker.io/x/y", T_2026_01_01 + 3650 * DAY), 0);
	T_EQ_INT(pki_new(&other, "docker.io/x/y", T_2026_01_01 + 3650 * DAY), 0);
	capem = pem_of(&p.root, 1, &calen);
	otherpem = pem_of(&other.root, 1, &otherlen);
	intpem = pem_of(&p.inter, 1, &intlen);
	xs[0] = other.root;
	xs[1] = p.root;
	both = pem_of(xs, 2, &bothlen);
	T_ASSERT(capem && otherpem && intpem && both);
	xs[0] = p.leaf;
	xs[1] = p.inter;
	T_EQ_INT(parse_certs(xs, 2, &c, err), 0);
	T_EQ_INT(parse_certs(xs, 1, &direct, err), 0);

	r[0] = certs_verify_ca(c, capem, calen, T_2026_01_01, err);
	r[1] = certs_verify_ca(c, both, bothlen, T_2026_01_01, NULL);
	r[2] = certs_verify_ca(c, otherpem, otherlen, T_2026_01_01, e_other);
	/* Without the intermediate the path is incomplete. */
	r[3] = certs_verify_ca(direct, capem, calen, T_2026_01_01, NULL);
	/* The intermediate alone is not a trust anchor: no partial chains. */
	r[4] = certs_verify_ca(c, intpem, intlen, T_2026_01_01, NULL);
	/* A CA that fails certs_check at now is dropped: none left. */
	r[5] = certs_verify_ca(c, capem, calen, T_2026_01_01 + 3651 * DAY, e_exp);
	/* The leaf is checked at the given time too. */
	r[6] = certs_verify_ca(c, capem, calen, T_2026_01_01 + 366 * DAY, NULL);
	r[7] = certs_verify_ca(c, (const uint8_t *)"nope", 4, T_2026_01_01, NULL);
	r[8] = certs_verify_ca(c, capem, CERTS_MAX_CA_LEN + 1, T_2026_01_01, NULL);
	certs_chain_free(c);
	certs_chain_free(direct);
	pki_free(&p);
	pki_free(&other);
	free(capem);
	free(otherpem);
	free(intpem);
	free(both);
	T_EQ_INT(r[0], 0);
	T_EQ_INT(r[1], 0);
	T_EQ_INT(r[2], -1);
	T_CONTAINS(e_other, "does not chain to a pinned CA");
	T_EQ_INT(r[3], -1);
	T_EQ_INT(r[4], -1);
	T_EQ_INT(r[5], -1);
	T_CONTAINS(e_exp, "invalid CA certs provided");
	T_EQ_INT(r[6], -1);
	T_EQ_INT(r[7], -1);
	T_EQ_INT(r[8], -1);
}

/* Write a PEM file with the certificate or the private key; returns 0. */
static int
write_pem(char *path, X509 *x, EVP_PKEY *k)
{
	FILE	*f;
	int	 fd, ok;

	if ((fd = mkstemp(path)) == -1)
		return -1;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return -1;
	}
	ok = x ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, k, NULL, NULL, 0,
	    NULL, NULL);
	return fclose(f) == 0 && ok ? 0 : -1;
}

UNIT_TEST(certs_server_ctx_load)
{
	EVP_PKEY	*k = ec_key(), *k2 = ec_key();
	X509		*x;
	SSL_CTX		*ctx;
	char		 cert[] = "/tmp/dct-cert-XXXXXX", key[] = "/tmp/dct-key-XXXXXX";
	char		 key2[] = "/tmp/dct-key2-XXXXXX";
	char		 err[CERTS_ERRLEN], e_mis[CERTS_ERRLEN], e_none[CERTS_ERRLEN];
	long		 minver = 0;
	int		 r[3];

	T_ASSERT(k != NULL && k2 != NULL);
	x = mkcert(k, k, NULL, "localhost", 0, T_2026_01_01, T_2026_01_01 + 3650 * DAY,
	    EVP_sha256());
	T_ASSERT(x != NULL);
	r[0] = write_pem(cert, x, NULL);
	r[1] = write_pem(key, NULL, k);
	r[2] = write_pem(key2, NULL, k2);
	X509_free(x);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	T_EQ_INT(r[0] + r[1] + r[2], 0);

	ctx = certs_server_ctx(cert, key, err);
	if (ctx != NULL) {
		minver = SSL_CTX_get_min_proto_version(ctx);
		SSL_CTX_free(ctx);
	}
	r[0] = ctx != NULL;
	ctx = certs_server_ctx(cert, key2, e_mis);
	r[1] = ctx == NULL;
	SSL_CTX_free(ctx);
	ctx = certs_server_ctx("/nonexistent/cert.pem", key, e_none);
	r[2] = ctx == NULL;
	SSL_CTX_free(ctx);
	unlink(cert);
	unlink(key);
	unlink(key2);
	T_ASSERT(r[0]);
	T_EQ_INT(minver, TLS1_2_VERSION);
	T_ASSERT(r[1]);
	T_CONTAINS(e_mis, key2);
	T_ASSERT(r[2]);
	T_CONTAINS(e_none, "cannot load certificate chain");
}
