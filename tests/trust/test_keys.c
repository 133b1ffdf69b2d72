/*
 * trust/keys.c and trust/encoding.c: key IDs against every fixture,
 * canonical root key IDs from dct-semantics.md section 6, and each
 * signature method with keys generated here (positive and negative).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "certs/certs.h"
#include "tests/unit.h"
#include "trust/trust_int.h"

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

/* ---- encoding ------------------------------------------------------ */

UNIT_TEST(b64_roundtrip_and_rejects)
{
	static const char	*bad[] = {
		"QQ=", "Q===", "====", "QQ=A", "QR==", "QUI=x", "QUJ=",
		"QQ==\n", " QQ==", "QU I=", "QUJD\nQUJD", "QU-_", "QQ==QQ==",
	};
	uint8_t			*out;
	size_t			 len, i;
	char			*enc;

	T_EQ_INT(tb64_decode("QUJD", 4, &out, &len), 0);
	T_EQ_INT(len, 3);
	T_ASSERT(memcmp(out, "ABC", 3) == 0);
	free(out);
	T_EQ_INT(tb64_decode("QUI=", 4, &out, &len), 0);
	T_EQ_INT(len, 2);
	T_ASSERT(memcmp(out, "AB", 2) == 0);
	free(out);
	T_EQ_INT(tb64_decode("QQ==", 4, &out, &len), 0);
	T_EQ_INT(len, 1);
	T_EQ_INT(out[0], 'A');
	free(out);
	T_EQ_INT(tb64_decode("", 0, &out, &len), 0);
	T_EQ_INT(len, 0);
	free(out);
	/* Only inlen characters count: no NUL needed. */
	T_EQ_INT(tb64_decode("QUJDQUJD", 4, &out, &len), 0);
	T_EQ_INT(len, 3);
	free(out);
	T_EQ_INT(tb64_decode("+/+/", 4, &out, &len), 0);
	T_EQ_INT(len, 3);
	T_EQ_INT(out[0], 0xfb);
	T_EQ_INT(out[2], 0xbf);
	free(out);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = (uint8_t *)1;
		if (tb64_decode(bad[i], strlen(bad[i]), &out, &len) != -1)
			unit_fail(__FILE__, __LINE__, "\"%s\" decoded", bad[i]);
		T_ASSERT(out == NULL);
	}
	T_EQ_INT(tb64_encode((const uint8_t *)"AB", 2, &enc), 0);
	T_EQ_STR(enc, "QUI=");
	free(enc);
	T_EQ_INT(tb64_encode((const uint8_t *)"", 0, &enc), 0);
	T_EQ_STR(enc, "");
	free(enc);
}

UNIT_TEST(hex_encode_decode)
{
	static const uint8_t	in[] = { 0x00, 0x9f, 0xab, 0xff };
	uint8_t			out[4];
	char			hex[9];

	thex(in, sizeof(in), hex);
	T_EQ_STR(hex, "009fabff");
	T_EQ_INT(thex_decode("009FabfF", out, 4), 0);
	T_ASSERT(memcmp(out, in, 4) == 0);
	T_EQ_INT(thex_decode("009fabf", out, 4), -1);	/* short */
	T_EQ_INT(thex_decode("009fabff0", out, 4), -1);	/* long */
	T_EQ_INT(thex_decode("009fabfg", out, 4), -1);	/* not hex */
	T_EQ_INT(thex_decode("", out, 0), 0);
}

/* ---- key IDs of every fixture key ---------------------------------- */

/*
 * Parse each key of a {"<id>": key} map and check the computed ID.
 * Returns the number checked, or fails the test.
 */
static int
check_key_map(const char *file, json_t *keys)
{
	struct trust_error	 err;
	struct tkey		*k;
	const char		*id;
	json_t			*kv;
	char			 again[65];
	int			 n = 0;

	json_object_foreach(keys, id, kv) {
		if (tkey_parse(kv, &k, &err) == -1)
			unit_fail(__FILE__, __LINE__, "%s: key %s: %s", file, id, err.msg);
		if (strcmp(k->id, id) != 0) {
			tkey_free(k);
			unit_fail(__FILE__, __LINE__, "%s: key %s has computed ID %s",
			    file, id, k->id);
		}
		/* Same ID from the raw bytes and the type name. */
		T_EQ_INT(tkey_compute_id(json_string_value(json_object_get(kv,
		    "keytype")), k->pub, k->publen, again), 0);
		T_EQ_STR(again, id);
		tkey_free(k);
		n++;
	}
	return n;
}

UNIT_TEST(keys_fixture_ids)
{
	static const char	*dirs[] = { "aepifanov+moby", "generated-notary-0.7.0",
		"notaryproject+notary", "sse-secure-systems+connaisseur" };
	struct dirent		*de;
	DIR			*d;
	json_t			*doc, *s;
	char			 rel[1024];
	size_t			 i;
	int			 nroot = 0, ndeleg = 0, nfiles = 0;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		T_ASSERT((d = opendir(unit_fixture(dirs[i]))) != NULL);
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", dirs[i], de->d_name);
			if ((doc = load(rel)) == NULL) {
				closedir(d);
				unit_fail(__FILE__, __LINE__, "%s does not load", rel);
			}
			nfiles++;
			s = json_object_get(doc, "signed");
			if (json_object_get(s, "keys") != NULL)
				nroot += check_key_map(rel, json_object_get(s, "keys"));
			if (json_object_get(json_object_get(s, "delegations"), "keys"))
				ndeleg += check_key_map(rel, json_object_get(
				    json_object_get(s, "delegations"), "keys"));
			json_decref(doc);
		}
		closedir(d);
	}
	T_EQ_INT(nfiles, 32);
	/* 10 root files: 8 with 4 keys, the v2 and v3 rotations with 5 and 6. */
	T_EQ_INT(nroot, 4 * 8 + 5 + 6);
	T_EQ_INT(ndeleg, 1 + 1 + 2);
}

/* The root role's key of a root.json, parsed. */
static struct tkey *
root_key(const char *rel)
{
	struct trust_error	 err;
	json_t			*doc, *s, *ids;
	struct tkey		*k = NULL;
	const char		*id;

	if ((doc = load(rel)) == NULL)
		return NULL;
	s = json_object_get(doc, "signed");
	ids = json_object_get(json_object_get(json_object_get(s, "roles"), "root"),
	    "keyids");
	id = json_string_value(json_array_get(ids, 0));
	if (id != NULL && tkey_parse(json_object_get(json_object_get(s, "keys"), id),
	    &k, &err) == -1)
		k = NULL;
	json_decref(doc);
	return k;
}

UNIT_TEST(keys_canonical_root_ids)
{
	static const struct {
		const char	*file;
		const char	*cert_id;	/* NULL: only given abbreviated */
		const char	*canonical_id;
	} v[] = {
		{ "notaryproject+notary/fixtures__compatibility__notary0.1__tuf__"
		  "docker.com__notary0.1__samplerepo__metadata__root.json",
		  "4ff57dc987163053a12c066f2dd36b1ae6037a92f5416d381fe311a3db1868d8",
		  "d0c623c8e70c70d42a8a8125c44a8598588b3f6e31d5c21a83cbc338dfde8a68" },
		{ "notaryproject+notary/fixtures__compatibility__notary0.3__tuf__"
		  "docker.com__notary0.3__tst__metadata__root.json",
		  "354e203ba09dbe17807b6a9d191bff887167c06d121e738d849446a9c76c2866",
		  "f4eaf871a74aa3b3a0ff95cef2455a1e4d461639f5625418e76756fc5c948690" },
		{ "aepifanov+moby/daemon__trust__service_test.go--alpineMeta--root.json",
		  "a2489bcac7a79aa67b19b96c4a3bf0c675ffdf00c6d2fabe1a5df1115e80adce",
		  "c15164663f80d58bf3d8d5a0cd08b8086cba02065feb00421fc2a5436c563210" },
		{ "aepifanov+moby/testutil__fixtures__load__trust.go--trustDataGood--root.json",
		  "e7bdb78393989ec18c8de0eb0dbd7799e4335d8e4d6035792e73c1147efe1bf2",
		  "70eb123c834fd4d2a591fc9a50f4a6d26598fb64a2f37a845296ebbcceae5e24" },
		{ "aepifanov+moby/testutil__fixtures__load__trust.go--trustDataBad--root.json",
		  "81ec8b1d071770345d243c0f96e1d4b8039f15e29d418f17d0a6c0c01204aee9",
		  "8dde55db5a0c426d60a36808a90c216a224c41d43af796743caa7ec0e8c4bf27" },
		{ "generated-notary-0.7.0/docker.io__test__repo--root.json", NULL,
		  "3ec92bbb58626a18a2df5feccb83a71842d55f7e2a955373b933b9efe9073ea9" },
		{ "generated-notary-0.7.0/docker.io__test__canon--root.json", NULL,
		  "3ec92bbb58626a18a2df5feccb83a71842d55f7e2a955373b933b9efe9073ea9" },
	};
	struct tkey	*k;
	char		 id[65];
	size_t		 i;
	int		 rc;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if ((k = root_key(v[i].file)) == NULL)
			unit_fail(__FILE__, __LINE__, "%s: no root key", v[i].file);
		T_EQ_INT(k->type, TKEY_ECDSA_X509);
		T_ASSERT(k->chain != NULL);
		if (v[i].cert_id != NULL && strcmp(k->id, v[i].cert_id) != 0) {
			tkey_free(k);
			unit_fail(__FILE__, __LINE__, "%s: cert ID", v[i].file);
		}
		rc = tkey_canonical_id(k->chain, id);
		tkey_free(k);
		T_EQ_INT(rc, 0);
		T_EQ_STR(id, v[i].canonical_id);
	}
	/* The abbreviated v3 cert ID of section 6: 35f9df23...88fd. */
	k = root_key("generated-notary-0.7.0/docker.io__test__repo--root.json");
	T_ASSERT(k != NULL);
	rc = strncmp(k->id, "35f9df23", 8) == 0 && strcmp(k->id + 60, "88fd") == 0;
	tkey_free(k);
	T_ASSERT(rc);
	T_EQ_INT(tkey_canonical_id(NULL, id), -1);

	/*
	 * Connaisseur's root certificate is CA:TRUE: a key (its cert ID is
	 * right) but no leaf, so never a usable root key, as in Notary
	 * ("unable to retrieve valid leaf certificates").
	 */
	k = root_key("sse-secure-systems+connaisseur/test__testdata__notaryv1__"
	    "trust_data__never-expire-with-delegations-image__root.json");
	T_ASSERT(k != NULL);
	rc = strcmp(k->id, "52e8085cd75be93c5062130e08663a83a20f2eb9baf31f28eef4735e50f3a407")
	    == 0 && k->chain == NULL && k->pkey != NULL;
	tkey_free(k);
	T_ASSERT(rc);
}

UNIT_TEST(keys_type_names)
{
	enum tkey_type	t;

	T_EQ_INT(tkey_type_parse("ecdsa-x509", &t), 0);
	T_EQ_INT(t, TKEY_ECDSA_X509);
	T_EQ_INT(tkey_type_parse("ed25519", &t), 0);
	T_EQ_INT(t, TKEY_ED25519);
	T_EQ_INT(tkey_type_parse("ECDSA", &t), -1);
	T_EQ_INT(tkey_type_parse("rsa-x509 ", &t), -1);
	T_EQ_INT(tkey_type_parse("", &t), -1);
	T_EQ_STR(tkey_type_name(TKEY_RSA_X509), "rsa-x509");
	T_EQ_STR(tkey_type_name(TKEY_RSA), "rsa");
}

/* ---- signature methods with generated keys -------------------------- */

/* DER SPKI of pk (malloc'd). */
static uint8_t *
spki(EVP_PKEY *pk, size_t *len)
{
	unsigned char	*der = NULL;
	uint8_t		*out;
	int		 n;

	if ((n = i2d_PUBKEY(pk, &der)) <= 0)
		return NULL;
	if ((out = malloc((size_t)n)) != NULL)
		memcpy(out, der, (size_t)n);
	OPENSSL_free(der);
	*len = (size_t)n;
	return out;
}

/*
 * Sign msg with pk: md (NULL for Ed25519), RSA padding and PSS salt
 * length when pad != 0. Returns a malloc'd signature (DER for ECDSA).
 */
static uint8_t *
sign(EVP_PKEY *pk, const EVP_MD *md, int pad, int salt, const uint8_t *msg,
    size_t msglen, size_t *siglen)
{
	EVP_MD_CTX	*ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX	*pctx = NULL;
	uint8_t		*sig = NULL;
	size_t		 n = 0;

	if (ctx == NULL || EVP_DigestSignInit(ctx, &pctx, md, NULL, pk) != 1)
		goto out;
	if (pad != 0 && EVP_PKEY_CTX_set_rsa_padding(pctx, pad) <= 0)
		goto out;
	if (pad == RSA_PKCS1_PSS_PADDING &&
	    (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0))
		goto out;
	if (EVP_DigestSign(ctx, NULL, &n, msg, msglen) != 1 ||
	    (sig = malloc(n)) == NULL)
		goto out;
	if (EVP_DigestSign(ctx, sig, &n, msg, msglen) != 1) {
		free(sig);
		sig = NULL;
		goto out;
	}
	*siglen = n;
out:
	EVP_MD_CTX_free(ctx);
	return sig;
}

/* DER ECDSA signature to raw r||s of half bytes each. */
static int
der_to_raw(const uint8_t *der, size_t len, size_t half, uint8_t *raw)
{
	const unsigned char	*p = der;
	ECDSA_SIG		*es;
	int			 ok;

	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
		return -1;
	ok = BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)half) == (int)half &&
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + half, (int)half) == (int)half;
	ECDSA_SIG_free(es);
	return ok ? 0 : -1;
}

static const uint8_t	msg[] = "{\"signed\":\"canonical bytes <>&\"}";
#define MSGLEN		(sizeof(msg) - 1)

static void
check_ecdsa_curve(const char *curve, size_t half)
{
	struct trust_error	 err;
	EVP_PKEY		*pk;
	struct tkey		*k;
	uint8_t			*pub, *der, raw[2 * 66 + 1], m2[MSGLEN];
	size_t			 publen, derlen;
	int			 v_ok, v_flip, v_msg, v_der, v_short, v_long, v_384;
	int			 v_pss, v_pkcs, v_ed, v_upper;

	pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	T_ASSERT(pk != NULL);
	pub = spki(pk, &publen);
	der = sign(pk, EVP_sha256(), 0, 0, msg, MSGLEN, &derlen);
	T_ASSERT(pub != NULL && der != NULL);
	T_EQ_INT(der_to_raw(der, derlen, half, raw), 0);
	T_EQ_INT(tkey_from_public(TKEY_ECDSA, pub, publen, &k, &err), 0);

	v_ok = tkey_verify(k, "ecdsa", raw, 2 * half, msg, MSGLEN);
	memcpy(m2, msg, MSGLEN);
	m2[3] ^= 0x20;
	v_msg = tkey_verify(k, "ecdsa", raw, 2 * half, m2, MSGLEN);
	v_der = tkey_verify(k, "ecdsa", der, derlen, msg, MSGLEN);
	v_short = tkey_verify(k, "ecdsa", raw, 2 * half - 1, msg, MSGLEN);
	raw[2 * half] = 0;
	v_long = tkey_verify(k, "ecdsa", raw, 2 * half + 1, msg, MSGLEN);
	v_pss = tkey_verify(k, "rsapss", raw, 2 * half, msg, MSGLEN);
	v_pkcs = tkey_verify(k, "rsapkcs1v15", raw, 2 * half, msg, MSGLEN);
	v_ed = tkey_verify(k, "eddsa", raw, 2 * half, msg, MSGLEN);
	v_upper = tkey_verify(k, "ECDSA", raw, 2 * half, msg, MSGLEN);
	raw[half + 5] ^= 0x01;
	v_flip = tkey_verify(k, "ecdsa", raw, 2 * half, msg, MSGLEN);
	free(der);
	/* SHA-256 for every curve: a SHA-384 signature must not verify on P-384. */
	der = sign(pk, EVP_sha384(), 0, 0, msg, MSGLEN, &derlen);
	T_ASSERT(der != NULL);
	T_EQ_INT(der_to_raw(der, derlen, half, raw), 0);
	v_384 = tkey_verify(k, "ecdsa", raw, 2 * half, msg, MSGLEN);
	free(der);
	free(pub);
	tkey_free(k);
	EVP_PKEY_free(pk);

	T_EQ_INT(v_ok, 1);
	T_EQ_INT(v_flip, 0);
	T_EQ_INT(v_msg, 0);
	T_EQ_INT(v_der, 0);	/* DER-encoded ECDSA is not Notary's format */
	T_EQ_INT(v_short, 0);
	T_EQ_INT(v_long, 0);
	T_EQ_INT(v_384, 0);
	T_EQ_INT(v_pss, 0);
	T_EQ_INT(v_pkcs, 0);
	T_EQ_INT(v_ed, 0);
	T_EQ_INT(v_upper, 0);
}

UNIT_TEST(keys_ecdsa_p256)
{
	check_ecdsa_curve("P-256", 32);
}

UNIT_TEST(keys_ecdsa_p384)
{
	check_ecdsa_curve("P-384", 48);
}

UNIT_TEST(keys_ecdsa_p521)
{
	check_ecdsa_curve("P-521", 66);
}

UNIT_TEST(keys_rsa_methods)
{
	struct trust_error	 err;
	EVP_PKEY		*pk;
	struct tkey		*k;
	uint8_t			*pub, *pss, *pss20, *pssmax, *pkcs, *pss384;
	size_t			 publen, l_pss, l_pss20, l_pssmax, l_pkcs, l_pss384;
	int			 r[12];

	pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	T_ASSERT(pk != NULL);
	pub = spki(pk, &publen);
	pss = sign(pk, EVP_sha256(), RSA_PKCS1_PSS_PADDING, 32, msg, MSGLEN, &l_pss);
	pss20 = sign(pk, EVP_sha256(), RSA_PKCS1_PSS_PADDING, 20, msg, MSGLEN, &l_pss20);
	pssmax = sign(pk, EVP_sha256(), RSA_PKCS1_PSS_PADDING, RSA_PSS_SALTLEN_MAX,
	    msg, MSGLEN, &l_pssmax);
	pss384 = sign(pk, EVP_sha384(), RSA_PKCS1_PSS_PADDING, 32, msg, MSGLEN, &l_pss384);
	pkcs = sign(pk, EVP_sha256(), RSA_PKCS1_PADDING, 0, msg, MSGLEN, &l_pkcs);
	T_ASSERT(pub && pss && pss20 && pssmax && pss384 && pkcs);
	T_EQ_INT(tkey_from_public(TKEY_RSA, pub, publen, &k, &err), 0);

	r[0] = tkey_verify(k, "rsapss", pss, l_pss, msg, MSGLEN);
	r[1] = tkey_verify(k, "rsapkcs1v15", pkcs, l_pkcs, msg, MSGLEN);
	r[2] = tkey_verify(k, "rsapkcs1v15", pss, l_pss, msg, MSGLEN);
	r[3] = tkey_verify(k, "rsapss", pkcs, l_pkcs, msg, MSGLEN);
	r[4] = tkey_verify(k, "rsapss", pss20, l_pss20, msg, MSGLEN);
	r[5] = tkey_verify(k, "rsapss", pssmax, l_pssmax, msg, MSGLEN);
	r[6] = tkey_verify(k, "rsapss", pss384, l_pss384, msg, MSGLEN);
	r[7] = tkey_verify(k, "ecdsa", pss, l_pss, msg, MSGLEN);
	r[8] = tkey_verify(k, "eddsa", pss, l_pss, msg, MSGLEN);
	r[9] = tkey_verify(k, "rsa", pss, l_pss, msg, MSGLEN);
	r[10] = tkey_verify(k, "rsapss", pss, l_pss - 1, msg, MSGLEN);
	pss[100] ^= 0x80;
	pkcs[100] ^= 0x80;
	r[11] = tkey_verify(k, "rsapss", pss, l_pss, msg, MSGLEN) ||
	    tkey_verify(k, "rsapkcs1v15", pkcs, l_pkcs, msg, MSGLEN);
	free(pub);
	free(pss);
	free(pss20);
	free(pssmax);
	free(pss384);
	free(pkcs);
	tkey_free(k);
	EVP_PKEY_free(pk);
	T_EQ_INT(r[0], 1);
	T_EQ_INT(r[1], 1);
	T_EQ_INT(r[2], 0);	/* method decides the padding */
	T_EQ_INT(r[3], 0);
	T_EQ_INT(r[4], 0);	/* PSS salt must be exactly 32 */
	T_EQ_INT(r[5], 0);
	T_EQ_INT(r[6], 0);	/* SHA-256 only */
	T_EQ_INT(r[7], 0);	/* wrong method for the key type */
	T_EQ_INT(r[8], 0);
	T_EQ_INT(r[9], 0);
	T_EQ_INT(r[10], 0);	/* truncated */
	T_EQ_INT(r[11], 0);	/* flipped bit */
}

UNIT_TEST(keys_rsa_1024_rejected)
{
	struct trust_error	 err;
	EVP_PKEY		*pk;
	struct tkey		*k = NULL;
	uint8_t			*pub;
	size_t			 publen;
	int			 rc;

	pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	T_ASSERT(pk != NULL);
	pub = spki(pk, &publen);
	EVP_PKEY_free(pk);
	T_ASSERT(pub != NULL);
	rc = tkey_from_public(TKEY_RSA, pub, publen, &k, &err);
	free(pub);
	T_EQ_INT(rc, -1);
	T_ASSERT(k == NULL);
	T_EQ_INT(err.code, TRUST_E_VALIDATION);
	T_CONTAINS(err.msg, "2048");
}

UNIT_TEST(keys_type_mismatch_rejected)
{
	struct trust_error	 err;
	EVP_PKEY		*ec, *rsa;
	struct tkey		*k;
	uint8_t			*ecpub, *rsapub, *longer;
	size_t			 eclen, rsalen;
	int			 r[6];

	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	T_ASSERT(ec != NULL && rsa != NULL);
	ecpub = spki(ec, &eclen);
	rsapub = spki(rsa, &rsalen);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
	T_ASSERT(ecpub != NULL && rsapub != NULL);
	longer = malloc(eclen + 1);
	T_ASSERT(longer != NULL);
	memcpy(longer, ecpub, eclen);
	longer[eclen] = 0;

	r[0] = tkey_from_public(TKEY_ECDSA, rsapub, rsalen, &k, &err);
	r[1] = tkey_from_public(TKEY_RSA, ecpub, eclen, &k, &err);
	r[2] = tkey_from_public(TKEY_ECDSA, longer, eclen + 1, &k, &err);
	r[3] = tkey_from_public(TKEY_ED25519, ecpub, 31, &k, &err);
	r[4] = tkey_from_public(TKEY_ECDSA_X509, ecpub, eclen, &k, &err);
	r[5] = tkey_from_public(TKEY_ECDSA, ecpub, 0, &k, &err);
	free(ecpub);
	free(rsapub);
	free(longer);
	T_EQ_INT(r[0], -1);
	T_EQ_INT(r[1], -1);
	T_EQ_INT(r[2], -1);	/* trailing byte after the SPKI */
	T_EQ_INT(r[3], -1);	/* ed25519 must be 32 bytes */
	T_EQ_INT(r[4], -1);	/* x509 wants PEM */
	T_EQ_INT(r[5], -1);
}

UNIT_TEST(keys_eddsa)
{
	struct trust_error	 err;
	struct tkey		*k;
	unsigned char		 pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	unsigned char		 sig[crypto_sign_BYTES];
	int			 r[6];

	T_ASSERT(sodium_init() >= 0);
	crypto_sign_keypair(pk, sk);
	crypto_sign_detached(sig, NULL, msg, MSGLEN, sk);
	sodium_memzero(sk, sizeof(sk));
	T_EQ_INT(tkey_from_public(TKEY_ED25519, pk, sizeof(pk), &k, &err), 0);
	T_ASSERT(k->pkey == NULL);
	r[0] = tkey_verify(k, "eddsa", sig, sizeof(sig), msg, MSGLEN);
	r[1] = tkey_verify(k, "ed25519", sig, sizeof(sig), msg, MSGLEN);
	r[2] = tkey_verify(k, "ecdsa", sig, sizeof(sig), msg, MSGLEN);
	r[3] = tkey_verify(k, "eddsa", sig, sizeof(sig) - 1, msg, MSGLEN);
	r[4] = tkey_verify(k, "eddsa", sig, sizeof(sig), msg, MSGLEN - 1);
	sig[10] ^= 0x04;
	r[5] = tkey_verify(k, "eddsa", sig, sizeof(sig), msg, MSGLEN);
	tkey_free(k);
	T_EQ_INT(r[0], 1);
	T_EQ_INT(r[1], 0);	/* the method is "eddsa", never "ed25519" */
	T_EQ_INT(r[2], 0);
	T_EQ_INT(r[3], 0);
	T_EQ_INT(r[4], 0);
	T_EQ_INT(r[5], 0);
}

UNIT_TEST(keys_parse_rejects)
{
	struct trust_error	 err;
	struct tkey		*k;
	json_t			*v;
	static const char	*bad[] = {
		"{\"keytype\":\"ed25519\",\"keyval\":{\"public\":"
		    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"private\":\"AA==\"}}",
		"{\"keytype\":\"ed448\",\"keyval\":{\"public\":\"AAAA\",\"private\":null}}",
		"{\"keytype\":\"ed25519\",\"keyval\":{\"public\":"
		    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"private\":null}}",
		"{\"keytype\":\"ed25519\",\"keyval\":{\"private\":null}}",
		"{\"keytype\":\"ed25519\"}",
		"{\"keyval\":{\"public\":\"AAAA\"}}",
		"{\"keytype\":1,\"keyval\":{\"public\":\"AAAA\"}}",
		"{\"keytype\":\"ed25519\",\"keyval\":{\"public\":1}}",
	};
	size_t			 i;
	int			 rc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = json_loads(bad[i], 0, NULL);
		T_ASSERT(v != NULL);
		k = (struct tkey *)1;
		rc = tkey_parse(v, &k, &err);
		json_decref(v);
		if (rc != -1 || k != NULL)
			unit_fail(__FILE__, __LINE__, "key %s accepted", bad[i]);
	}
	/* A well-formed ed25519 key, private absent or null: same ID. */
	v = json_loads("{\"keytype\":\"ed25519\",\"keyval\":{\"public\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}}", 0, NULL);
	T_ASSERT(v != NULL);
	rc = tkey_parse(v, &k, &err);
	json_decref(v);
	T_EQ_INT(rc, 0);
	T_EQ_INT(k->publen, 32);
	T_EQ_INT(k->type, TKEY_ED25519);
	/* sha256 of {"keytype":"ed25519","keyval":{"private":null,"public":"AAAA...A="}} */
	{
		char	id[65];

		T_EQ_INT(tkey_compute_id("ed25519", k->ed25519, 32, id), 0);
		T_EQ_STR(k->id, id);
	}
	tkey_free(k);
	tkey_free(NULL);
}

/* ---- fixture signatures with the rarer methods ---------------------- */

/*
 * Verify signature i of file (dir-relative) with key id from the key map
 * at path keys_in (a "keys" or "delegations.keys" object of keysfile).
 */
static int
fixture_sig(const char *file, const char *keysfile, int deleg, const char *method,
    enum tkey_type type)
{
	struct trust_error	 err;
	json_t			*doc, *kd, *s, *keys;
	struct tkey		*k = NULL;
	uint8_t			*canon = NULL, *sig = NULL;
	size_t			 clen, slen;
	const char		*id;
	int			 ok = -1;

	doc = load(file);
	kd = load(keysfile);
	if (doc == NULL || kd == NULL)
		goto out;
	s = json_array_get(json_object_get(doc, "signatures"), 0);
	id = json_string_value(json_object_get(s, "keyid"));
	if (id == NULL || strcmp(json_string_value(json_object_get(s, "method")),
	    method) != 0)
		goto out;
	keys = deleg ? json_object_get(json_object_get(json_object_get(kd, "signed"),
	    "delegations"), "keys") : json_object_get(json_object_get(kd, "signed"),
	    "keys");
	if (tkey_parse(json_object_get(keys, id), &k, &err) == -1 || k->type != type ||
	    strcmp(k->id, id) != 0)
		goto out;
	if (tjson_canonical(json_object_get(doc, "signed"), &canon, &clen) == -1 ||
	    tb64_decode(json_string_value(json_object_get(s, "sig")),
	    json_string_length(json_object_get(s, "sig")), &sig, &slen) == -1)
		goto out;
	ok = tkey_verify(k, method, sig, slen, canon, clen);
	/* The same signature under any other method is invalid. */
	if (ok == 1 && (tkey_verify(k, "ecdsa", sig, slen, canon, clen) +
	    tkey_verify(k, "eddsa", sig, slen, canon, clen) +
	    tkey_verify(k, "rsapss", sig, slen, canon, clen) +
	    tkey_verify(k, "rsapkcs1v15", sig, slen, canon, clen)) != 1)
		ok = -2;
out:
	free(canon);
	free(sig);
	tkey_free(k);
	json_decref(doc);
	json_decref(kd);
	return ok;
}

UNIT_TEST(keys_fixture_ed25519_timestamp)
{
	T_EQ_INT(fixture_sig("generated-notary-0.7.0/docker.io__test__repo--timestamp.json",
	    "generated-notary-0.7.0/docker.io__test__repo--root.json", 0, "eddsa",
	    TKEY_ED25519), 1);
}

UNIT_TEST(keys_fixture_rsa_x509_pss_delegation)
{
	T_EQ_INT(fixture_sig("notaryproject+notary/fixtures__compatibility__notary0.3__"
	    "tuf__docker.com__notary0.3__tst__metadata__targets__releases.json",
	    "notaryproject+notary/fixtures__compatibility__notary0.3__tuf__docker.com__"
	    "notary0.3__tst__metadata__targets.json", 1, "rsapss", TKEY_RSA_X509), 1);
}

/* A delegation key that is a self-signed CA certificate is still a key, but not a chain. */
UNIT_TEST(keys_fixture_ca_cert_delegation_key)
{
	struct trust_error	 err;
	struct tkey		*k;
	json_t			*doc;
	int			 nochain, haskey;

	T_EQ_INT(fixture_sig("generated-notary-0.7.0/docker.io__test__repo--targets__releases.json",
	    "generated-notary-0.7.0/docker.io__test__repo--targets.json", 1, "ecdsa",
	    TKEY_ECDSA_X509), 1);
	doc = load("generated-notary-0.7.0/docker.io__test__repo--targets.json");
	T_ASSERT(doc != NULL);
	{
		json_t		*keys = json_object_get(json_object_get(json_object_get(
		    doc, "signed"), "delegations"), "keys");
		const char	*id;
		json_t		*kv;

		k = NULL;
		json_object_foreach(keys, id, kv)
			if (k == NULL && tkey_parse(kv, &k, &err) == -1)
				k = NULL;
	}
	json_decref(doc);
	T_ASSERT(k != NULL);
	nochain = k->chain == NULL;
	haskey = k->pkey != NULL;
	tkey_free(k);
	T_ASSERT(nochain);	/* CA:TRUE, so never usable as a root key */
	T_ASSERT(haskey);
}
