/*
 * tufgen: generate Notary-format TUF repositories that attack a verifier.
 *
 *	tufgen OUTDIR
 *
 * Writes one repository per scenario under OUTDIR/attack.test/<scenario>/,
 * laid out as a notary server stores them (root.json, <v>.root.json,
 * timestamp.json, snapshot.json, targets.json, targets/<role>.json), plus:
 *
 *   expect	one line: "<code>[|<code>...] <tag> <message substring>" for a
 *		refusal (codes are trust_code_name() values), or
 *		"ok <tag> sha256:<hex> <size> <role>" for a success;
 *   pins	"root-key <canonical root key ID>" and "cert-id <cert ID>"
 *		lines, the IDs to pin: one pair per key of the root (for a
 *		rotation scenario, per root key of every phase, the first
 *		trusted one first);
 *   <role>.json.fault
 *		fault injection for tests/tools/tufserve;
 *   phase1/, phase2/
 *		multi-phase scenarios: the test serves phase1, then phase2
 *		with the same state; each phase has its own expect and pins,
 *		the top-level expect is the last phase's verdict.
 *
 * and OUTDIR/index, one line per scenario: "<gun> <number of phases>".
 *
 * Format as notary 0.7 writes it: {"signed":<canonical JSON>,"signatures":
 * [{"keyid":..,"method":"ecdsa","sig":base64(raw r||s)}]}; root keys are
 * ecdsa-x509 self-signed P-256 certificates with CN = GUN (extensions as
 * notary's NewCertificate sets them), other keys ecdsa (base64 DER SPKI),
 * snapshot and timestamp meta carry sha256 and sha512. Private keys are
 * derived from fixed seeds and every time is fixed, so the key IDs and all
 * unsigned bytes are the same on every run; only ECDSA signatures (and so
 * the certificates' signatures, cert IDs and file hashes) vary.
 *
 * The canonical JSON encoder, key IDs and signing here are written from
 * dct-semantics.md 5.2-5.4 independently of trust/, on purpose: the
 * generator is the oracle the verifier is tested against, and its output
 * is cross-checked with the real notary client (tests/tools/README.md).
 *
 * A test tool, not production code: any failure ends the process (die()).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define GUN_PREFIX	"attack.test/"
#define EXP_FUTURE	"2099-01-01T00:00:00Z"	/* metadata that must not expire */
#define EXP_PAST	"2021-01-01T00:00:00Z"	/* metadata that has expired */
#define CERT_FROM	"20200101000000Z"
#define CERT_TO		"21000101000000Z"
#define CERT_TO_PAST	"20210101000000Z"	/* root certificate that has expired */
#define OVERSIZE_LEN	100			/* snapshot's lie about targets' length */
#define MAX_KEYS	4			/* keys listed for, or signing, one role */
#define MAX_PHASES	2

/* ---- plumbing ------------------------------------------------------ */

static void die(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("tufgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die("out of memory");
	return p;
}

static char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = xmalloc(n);

	memcpy(p, s, n);
	return p;
}

/* A growable byte buffer. */
struct buf {
	uint8_t	*p;
	size_t	 len, cap;
};

static void
buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (b->p == NULL)
			die("out of memory");
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static void
digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out)
{
	unsigned int n;

	if (EVP_Digest(data, len, out, &n, md, NULL) != 1)
		die("EVP_Digest failed");
}

static char *
b64(const uint8_t *in, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

static void
hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* ---- canonical JSON (dct-semantics.md 5.2) -------------------------- */

static int
cmpstr(const void *a, const void *b)
{
	/* strcmp compares as unsigned char: bytewise UTF-8 order, as Go's. */
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
canon_string(struct buf *b, const char *s, size_t len)
{
	size_t i;

	buf_add(b, "\"", 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_add(b, "\\", 1);
		buf_add(b, &s[i], 1);
	}
	buf_add(b, "\"", 1);
}

static void
canon(struct buf *b, json_t *v)
{
	char num[32];
	const char *k, **keys;
	json_t *val;
	size_t i, n;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		n = json_object_size(v);
		keys = xmalloc(n * sizeof(*keys));
		i = 0;
		json_object_foreach(v, k, val)
			keys[i++] = k;
		qsort(keys, n, sizeof(*keys), cmpstr);
		buf_add(b, "{", 1);
		for (i = 0; i < n; i++) {
			if (i > 0)
				buf_add(b, ",", 1);
			canon_string(b, keys[i], strlen(keys[i]));
			buf_add(b, ":", 1);
			canon(b, json_object_get(v, keys[i]));
		}
		buf_add(b, "}", 1);
		free(keys);
		break;
	case JSON_ARRAY:
		buf_add(b, "[", 1);
		for (i = 0; i < json_array_size(v); i++) {
			if (i > 0)
				buf_add(b, ",", 1);
			canon(b, json_array_get(v, i));
		}
		buf_add(b, "]", 1);
		break;
	case JSON_STRING:
		canon_string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		buf_adds(b, num);
		break;
	case JSON_TRUE:
		buf_adds(b, "true");
		break;
	case JSON_FALSE:
		buf_adds(b, "false");
		break;
	case JSON_NULL:
		buf_adds(b, "null");
		break;
	case JSON_REAL:
	default:
		die("canonical JSON: unsupported value");
	}
}

/* ---- keys ---------------------------------------------------------- */

struct key {
	char		*seed;
	EVP_PKEY	*pk;
	const char	*keytype;	/* "ecdsa" or "ecdsa-x509" */
	char		*pub;		/* keyval.public */
	char		 id[65];	/* TUF key ID */
	char		 canon_id[65];	/* canonical ID: of the plain ecdsa key */
	struct key	*next;
};

/* Certificate for an ecdsa-x509 key. */
struct certdef {
	const char	*cn;
	const char	*not_after;	/* ASN.1 generalized time text */
	int		 sha1;		/* sign with ecdsa-with-SHA1 */
};

/* The generator's context: output directory and the key cache. */
struct gen {
	const char	*outdir;
	struct key	*keys;
	FILE		*index;
};

static json_t *
key_json(const char *keytype, const char *pub)
{
	json_t *o = json_pack("{s:s, s:{s:n, s:s}}", "keytype", keytype,
	    "keyval", "private", "public", pub);

	if (o == NULL)
		die("json_pack key");
	return o;
}

/* TUF key ID: hex(sha256(canonical key object)). */
static void
key_id(const char *keytype, const char *pub, char id[65])
{
	struct buf b = { 0 };
	json_t *o = key_json(keytype, pub);
	uint8_t d[32];

	canon(&b, o);
	digest(EVP_sha256(), b.p, b.len, d);
	hex(d, sizeof(d), id);
	json_decref(o);
	buf_free(&b);
}

/* A P-256 key whose private scalar is derived from seed. */
static EVP_PKEY *
derive_pkey(const char *seed)
{
	EC_GROUP *grp = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	BN_CTX *bctx = BN_CTX_new();
	BIGNUM *priv = BN_new();
	EC_POINT *pub = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pk = NULL;
	struct buf in = { 0 };
	uint8_t d[32], oct[65];
	unsigned char ctr = 0;

	if (grp == NULL || bctx == NULL || priv == NULL || bld == NULL || pctx == NULL)
		die("openssl allocation");
	do {
		in.len = 0;
		buf_adds(&in, "tufgen-key:");
		buf_adds(&in, seed);
		buf_add(&in, &ctr, 1);
		digest(EVP_sha256(), in.p, in.len, d);
		if (BN_bin2bn(d, sizeof(d), priv) == NULL)
			die("BN_bin2bn");
		ctr++;
	} while (BN_is_zero(priv) || BN_cmp(priv, EC_GROUP_get0_order(grp)) >= 0);
	if ((pub = EC_POINT_new(grp)) == NULL ||
	    EC_POINT_mul(grp, pub, priv, NULL, NULL, bctx) != 1 ||
	    EC_POINT_point2oct(grp, pub, POINT_CONVERSION_UNCOMPRESSED, oct,
	    sizeof(oct), bctx) != sizeof(oct))
		die("EC_POINT_mul");
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    "prime256v1", 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, oct,
	    sizeof(oct)) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		die("OSSL_PARAM_BLD");
	if (EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &pk, EVP_PKEY_KEYPAIR, params) != 1)
		die("EVP_PKEY_fromdata");
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(pctx);
	EC_POINT_free(pub);
	BN_clear_free(priv);
	BN_CTX_free(bctx);
	EC_GROUP_free(grp);
	buf_free(&in);
	return pk;
}

static void
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL ||
	    X509_add_ext(x, ext, -1) != 1)
		die("X509 extension %s", value);
	X509_EXTENSION_free(ext);
}

/*
 * Self-signed certificate as notary's utils.NewCertificate makes it:
 * CN only (PrintableString), KeyUsage digitalSignature|keyEncipherment
 * (critical), ExtKeyUsage codeSigning, BasicConstraints CA:FALSE
 * (critical), 128-bit serial. Returns the PEM text.
 */
static char *
make_cert(EVP_PKEY *pk, const char *seed, const struct certdef *cd)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIO *bio = BIO_new(BIO_s_mem());
	BIGNUM *serial;
	struct buf in = { 0 };
	uint8_t d[32];
	char *mem, *pem;
	long n;

	if (x == NULL || name == NULL || bio == NULL)
		die("openssl allocation");
	buf_adds(&in, "tufgen-serial:");
	buf_adds(&in, seed);
	digest(EVP_sha256(), in.p, in.len, d);
	d[0] = (uint8_t)((d[0] & 0x7f) | 0x40);
	if ((serial = BN_bin2bn(d, 16, NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) == NULL)
		die("serial");
	BN_free(serial);
	if (X509_set_version(x, 2) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", V_ASN1_PRINTABLESTRING,
	    (const unsigned char *)cd->cn, -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, name) != 1 ||
	    ASN1_TIME_set_string_X509(X509_getm_notBefore(x), CERT_FROM) != 1 ||
	    ASN1_TIME_set_string_X509(X509_getm_notAfter(x), cd->not_after) != 1 ||
	    X509_set_pubkey(x, pk) != 1)
		die("certificate fields for %s", cd->cn);
	add_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment");
	add_ext(x, NID_ext_key_usage, "codeSigning");
	add_ext(x, NID_basic_constraints, "critical,CA:FALSE");
	if (X509_sign(x, pk, cd->sha1 ? EVP_sha1() : EVP_sha256()) == 0)
		die("X509_sign for %s", cd->cn);
	if (PEM_write_bio_X509(bio, x) != 1)
		die("PEM_write_bio_X509");
	n = BIO_get_mem_data(bio, &mem);
	pem = xmalloc((size_t)n + 1);
	memcpy(pem, mem, (size_t)n);
	pem[n] = '\0';
	BIO_free(bio);
	X509_NAME_free(name);
	X509_free(x);
	buf_free(&in);
	return pem;
}

/*
 * The key named seed: created on first use, then the same object (so a
 * certificate is issued once and is byte-identical in every phase). cd
 * NULL makes an "ecdsa" key, else an "ecdsa-x509" key with that cert.
 */
static struct key *
key_get(struct gen *g, const char *seed, const struct certdef *cd)
{
	struct key *k;
	unsigned char *der = NULL;
	char *spki;
	int n;

	for (k = g->keys; k != NULL; k = k->next)
		if (strcmp(k->seed, seed) == 0)
			return k;
	k = xmalloc(sizeof(*k));
	memset(k, 0, sizeof(*k));
	k->seed = xstrdup(seed);
	k->pk = derive_pkey(seed);
	if ((n = i2d_PUBKEY(k->pk, &der)) <= 0)
		die("i2d_PUBKEY");
	spki = b64(der, (size_t)n);
	OPENSSL_free(der);
	key_id("ecdsa", spki, k->canon_id);
	if (cd == NULL) {
		k->keytype = "ecdsa";
		k->pub = spki;
	} else {
		char *pem = make_cert(k->pk, seed, cd);

		k->keytype = "ecdsa-x509";
		k->pub = b64((const uint8_t *)pem, strlen(pem));
		free(pem);
		free(spki);
	}
	key_id(k->keytype, k->pub, k->id);
	k->next = g->keys;
	g->keys = k;
	return k;
}

static void
keys_free(struct gen *g)
{
	struct key *k, *next;

	for (k = g->keys; k != NULL; k = next) {
		next = k->next;
		EVP_PKEY_free(k->pk);
		free(k->seed);
		free(k->pub);
		free(k);
	}
	g->keys = NULL;
}

/* ECDSA P-256 over SHA-256 of msg, as base64 of raw r||s (32 bytes each). */
static char *
sign(const struct key *k, const uint8_t *msg, size_t len, int corrupt)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[80];
	const unsigned char *p = der;
	size_t derlen = sizeof(der);
	ECDSA_SIG *sig;
	const BIGNUM *r, *s;
	uint8_t raw[64];

	if (md == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k->pk) != 1 ||
	    EVP_DigestSign(md, der, &derlen, msg, len) != 1)
		die("EVP_DigestSign");
	EVP_MD_CTX_free(md);
	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
		die("d2i_ECDSA_SIG");
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
		die("BN_bn2binpad");
	ECDSA_SIG_free(sig);
	if (corrupt)
		raw[10] ^= 0x01;	/* one flipped bit: a forged signature */
	return b64(raw, sizeof(raw));
}

/* ---- metadata files -------------------------------------------------- */

/* Who signs a file: keys in order (a key may repeat), one maybe corrupted. */
struct signers {
	struct key	*k[MAX_KEYS];
	size_t		 n;
	int		 corrupt;	/* corrupt the first signature */
};

/*
 * The wire bytes of a metadata file, as notary writes them: signed is the
 * canonical form of the object (notary marshals it canonically and embeds
 * it as raw JSON), then the signatures in keyid, method, sig order.
 */
static void
wire(struct buf *out, json_t *signed_, const struct signers *sg)
{
	struct buf c = { 0 };
	size_t i;

	canon(&c, signed_);
	buf_adds(out, "{\"signed\":");
	buf_add(out, c.p, c.len);
	buf_adds(out, ",\"signatures\":[");
	for (i = 0; i < sg->n; i++) {
		char *sig = sign(sg->k[i], c.p, c.len, sg->corrupt && i == 0);

		if (i > 0)
			buf_adds(out, ",");
		buf_adds(out, "{\"keyid\":\"");
		buf_adds(out, sg->k[i]->id);
		buf_adds(out, "\",\"method\":\"ecdsa\",\"sig\":\"");
		buf_adds(out, sig);
		buf_adds(out, "\"}");
		free(sig);
	}
	buf_adds(out, "]}");
	buf_free(&c);
	json_decref(signed_);
}

/* {"hashes":{"sha256":..,"sha512":..},"length":N} of bytes (length may lie). */
static json_t *
meta_of(const struct buf *b, long length)
{
	uint8_t d256[32], d512[64];
	char *h256, *h512;
	json_t *o;

	digest(EVP_sha256(), b->p, b->len, d256);
	digest(EVP_sha512(), b->p, b->len, d512);
	h256 = b64(d256, sizeof(d256));
	h512 = b64(d512, sizeof(d512));
	o = json_pack("{s:{s:s, s:s}, s:I}", "hashes", "sha256", h256,
	    "sha512", h512, "length", (json_int_t)(length ? length : (long)b->len));
	if (o == NULL)
		die("json_pack meta");
	free(h256);
	free(h512);
	return o;
}

/* A role's entry in root: {"keyids":[...],"threshold":N}. */
struct roledef {
	struct key	*k[MAX_KEYS];
	size_t		 n;
	int		 threshold;
};

static json_t *
keyids(const struct roledef *r)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < r->n; i++)
		json_array_append_new(a, json_string(r->k[i]->id));
	return a;
}

struct rootdef {
	int		 version;
	const char	*expires;
	struct roledef	 root, targets, snapshot, timestamp;
	struct signers	 sg;
};

static void
add_keys(json_t *keys, const struct roledef *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		json_object_set_new(keys, r->k[i]->id,
		    key_json(r->k[i]->keytype, r->k[i]->pub));
}

static void
build_root(struct buf *out, const struct rootdef *rd)
{
	json_t *keys = json_object(), *s;

	add_keys(keys, &rd->root);
	add_keys(keys, &rd->targets);
	add_keys(keys, &rd->snapshot);
	add_keys(keys, &rd->timestamp);
	s = json_pack("{s:s, s:b, s:s, s:o, s:{s:{s:o, s:i}, s:{s:o, s:i}, "
	    "s:{s:o, s:i}, s:{s:o, s:i}}, s:i}",
	    "_type", "Root", "consistent_snapshot", 0, "expires", rd->expires,
	    "keys", keys, "roles",
	    "root", "keyids", keyids(&rd->root), "threshold", rd->root.threshold,
	    "snapshot", "keyids", keyids(&rd->snapshot), "threshold",
	    rd->snapshot.threshold,
	    "targets", "keyids", keyids(&rd->targets), "threshold",
	    rd->targets.threshold,
	    "timestamp", "keyids", keyids(&rd->timestamp), "threshold",
	    rd->timestamp.threshold,
	    "version", rd->version);
	if (s == NULL)
		die("json_pack root");
	wire(out, s, &rd->sg);
}

/* ---- scenarios -------------------------------------------------------- */

/* A fake image manifest standing for a tag's target: its digest and size. */
struct image {
	uint8_t	sha256[32];
	long	size;
};

static void
image(const char *gun, const char *tag, const char *variant, struct image *im)
{
	char m[512];
	int n = snprintf(m, sizeof(m),
	    "{\"schemaVersion\":2,\"tufgen\":\"%s:%s:%s\"}", gun, tag, variant);

	if (n < 0 || (size_t)n >= sizeof(m))
		die("image name too long");
	digest(EVP_sha256(), m, (size_t)n, im->sha256);
	im->size = n;
}

static json_t *
target_json(const struct image *im)
{
	char *h = b64(im->sha256, sizeof(im->sha256));
	json_t *o = json_pack("{s:{s:s}, s:I}", "hashes", "sha256", h,
	    "length", (json_int_t)im->size);

	free(h);
	return o;
}

/*
 * One repository (one phase of a scenario). Fields default (spec_init) to a
 * good repository: root v1 with key A, one key per role, threshold 1,
 * versions 1, nothing expired, tag "v1" in targets.
 */
struct spec {
	char		 gun[128];
	struct rootdef	 root;
	const struct buf *root_bytes;	/* served root.json if not built from root */
	const struct buf *vroots[4];	/* <v>.root.json for v = 1..4, may be NULL */

	struct key	*ts, *sn;
	struct signers	 ts_sg, sn_sg, tg_sg, del_sg;
	int		 v_ts, v_sn, v_tg, v_del;
	const char	*exp_ts, *exp_sn, *exp_tg, *exp_del;

	int		 tg_latest;	/* targets signs latest */
	const char	*tg_variant;	/* which image targets' latest is */
	const char	*del_name;	/* a delegation of targets, or NULL */
	struct key	*del_key;
	const char	*del_path;	/* its single path prefix */
	int		 del_latest;	/* the delegation signs latest */
	int		 del_absent;	/* in snapshot meta, but not served */
	int		 del_unlisted;	/* served, but not in snapshot meta */

	const char	*checksum;	/* role whose served bytes differ from its parent's hash */
	long		 targets_len;	/* snapshot's length for targets (0: real) */
	const char	*fault_role;	/* tufserve fault sidecar */
	const char	*fault;
	const char	*ts_raw;	/* served instead of the real timestamp.json */
};

static struct key *
scen_key(struct gen *g, const char *gun, const char *name, const struct certdef *cd)
{
	char seed[256];

	snprintf(seed, sizeof(seed), "%s/%s", gun, name);
	return key_get(g, seed, cd);
}

static struct key *
root_key(struct gen *g, const char *gun, const char *name)
{
	struct certdef cd = { gun, CERT_TO, 0 };

	return scen_key(g, gun, name, &cd);
}

static void
spec_init(struct gen *g, struct spec *s, const char *scenario)
{
	struct key *a, *tg;

	memset(s, 0, sizeof(*s));
	snprintf(s->gun, sizeof(s->gun), "%s%s", GUN_PREFIX, scenario);
	a = root_key(g, s->gun, "root-A");
	tg = scen_key(g, s->gun, "targets", NULL);
	s->ts = scen_key(g, s->gun, "timestamp", NULL);
	s->sn = scen_key(g, s->gun, "snapshot", NULL);
	s->root.version = 1;
	s->root.expires = EXP_FUTURE;
	s->root.root = (struct roledef){ { a }, 1, 1 };
	s->root.targets = (struct roledef){ { tg }, 1, 1 };
	s->root.snapshot = (struct roledef){ { s->sn }, 1, 1 };
	s->root.timestamp = (struct roledef){ { s->ts }, 1, 1 };
	s->root.sg = (struct signers){ { a }, 1, 0 };
	s->ts_sg = (struct signers){ { s->ts }, 1, 0 };
	s->sn_sg = (struct signers){ { s->sn }, 1, 0 };
	s->tg_sg = (struct signers){ { tg }, 1, 0 };
	s->v_ts = s->v_sn = s->v_tg = s->v_del = 1;
	s->exp_ts = s->exp_sn = s->exp_tg = s->exp_del = EXP_FUTURE;
	s->tg_variant = "targets";
	s->del_path = "";
}

static void
spec_delegate(struct gen *g, struct spec *s, const char *role, const char *cn)
{
	struct certdef cd = { cn, CERT_TO, 0 };
	char seed[64];

	snprintf(seed, sizeof(seed), "delegation-%s", cn);
	s->del_name = role;
	s->del_key = scen_key(g, s->gun, seed, &cd);
	s->del_sg = (struct signers){ { s->del_key }, 1, 0 };
}

static void
mkdirs(const char *path)
{
	char tmp[1024];
	size_t i, n = strlen(path);

	if (n >= sizeof(tmp))
		die("path too long: %s", path);
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == '\0') {
			char c = tmp[i];

			tmp[i] = '\0';
			if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
				die("mkdir %s: %s", tmp, strerror(errno));
			tmp[i] = c;
		}
	}
}

/* Write bytes to dir/name, creating directories (name may hold a '/'). */
static void
write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[1024];
	char *slash;
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		die("path too long");
	if ((slash = strrchr(path, '/')) != NULL) {
		*slash = '\0';
		mkdirs(path);
		*slash = '/';
	}
	if ((f = fopen(path, "wb")) == NULL)
		die("%s: %s", path, strerror(errno));
	if (fwrite(data, 1, len, f) != len || fclose(f) != 0)
		die("%s: write failed", path);
}

static void
write_text(const char *dir, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
write_text(const char *dir, const char *name, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(text))
		die("text too long");
	write_file(dir, name, text, (size_t)n);
}

/*
 * pins: "root-key <canonical ID>" and "cert-id <cert ID>" for each root
 * key given; the test pins every root-key line (the first is the root a
 * client first trusts).
 */
static void
write_pins(const char *dir, struct key *const *keys, size_t n)
{
	struct buf b = { 0 };
	size_t i;

	for (i = 0; i < n; i++) {
		buf_adds(&b, "root-key ");
		buf_adds(&b, keys[i]->canon_id);
		buf_adds(&b, "\ncert-id ");
		buf_adds(&b, keys[i]->id);
		buf_adds(&b, "\n");
	}
	write_file(dir, "pins", b.p, b.len);
	buf_free(&b);
}

/* The targets-type file of a role: a delegation-listing targets or a leaf. */
static void
build_targets(struct buf *out, const struct spec *s, int is_delegation,
    int version, const char *variant)
{
	struct image im;
	json_t *tgts = json_object(), *dkeys = json_object(), *droles = json_array();
	json_t *t;

	if (!is_delegation) {
		image(s->gun, "v1", "targets", &im);
		json_object_set_new(tgts, "v1", target_json(&im));
		if (s->tg_latest) {
			image(s->gun, "latest", variant, &im);
			json_object_set_new(tgts, "latest", target_json(&im));
		}
		if (s->del_name != NULL) {
			json_object_set_new(dkeys, s->del_key->id,
			    key_json(s->del_key->keytype, s->del_key->pub));
			json_array_append_new(droles, json_pack(
			    "{s:[s], s:s, s:[s], s:i}", "keyids", s->del_key->id,
			    "name", s->del_name, "paths", s->del_path, "threshold", 1));
		}
	} else if (s->del_latest) {
		image(s->gun, "latest", variant, &im);
		json_object_set_new(tgts, "latest", target_json(&im));
	}
	t = json_pack("{s:s, s:{s:o, s:o}, s:s, s:o, s:i}", "_type", "Targets",
	    "delegations", "keys", dkeys, "roles", droles,
	    "expires", is_delegation ? s->exp_del : s->exp_tg,
	    "targets", tgts, "version", version);
	if (t == NULL)
		die("json_pack targets");
	wire(out, t, is_delegation ? &s->del_sg : &s->tg_sg);
}

static void
build_snapshot(struct buf *out, const struct spec *s, int version,
    const struct buf *root, const struct buf *tg, const struct buf *del)
{
	json_t *meta = json_object(), *t;

	json_object_set_new(meta, "root", meta_of(root, 0));
	json_object_set_new(meta, "targets", meta_of(tg, s->targets_len));
	if (s->del_name != NULL && !s->del_unlisted)
		json_object_set_new(meta, s->del_name, meta_of(del, 0));
	t = json_pack("{s:s, s:s, s:o, s:i}", "_type", "Snapshot",
	    "expires", s->exp_sn, "meta", meta, "version", version);
	if (t == NULL)
		die("json_pack snapshot");
	wire(out, t, &s->sn_sg);
}

static void
build_timestamp(struct buf *out, const struct spec *s, const struct buf *sn)
{
	json_t *t = json_pack("{s:s, s:s, s:{s:o}, s:i}", "_type", "Timestamp",
	    "expires", s->exp_ts, "meta", "snapshot", meta_of(sn, 0),
	    "version", s->v_ts);

	if (t == NULL)
		die("json_pack timestamp");
	wire(out, t, &s->ts_sg);
}

/*
 * Build and write one repository into dir. For s->checksum = role, the
 * parent lists the hash of the honest file while the server holds a
 * variant properly re-signed by that role's key (version + 1, and for
 * targets roles latest pointing at an "evil" image): same length, other
 * bytes. Fills the images for the expectation.
 */
static void
emit_repo(const struct spec *s, const char *dir)
{
	struct buf root = { 0 }, tg = { 0 }, del = { 0 }, sn = { 0 }, ts = { 0 };
	struct buf served = { 0 };
	const struct buf *rootp = s->root_bytes;
	const char *cs = s->checksum ? s->checksum : "";
	char name[64];
	size_t v;

	mkdirs(dir);
	if (rootp == NULL) {
		build_root(&root, &s->root);
		rootp = &root;
	}
	build_targets(&tg, s, 0, s->v_tg, s->tg_variant);
	if (s->del_name != NULL)
		build_targets(&del, s, 1, s->v_del, "releases");
	build_snapshot(&sn, s, s->v_sn, rootp, &tg, &del);
	build_timestamp(&ts, s, &sn);

	if (strcmp(cs, "root") == 0) {
		struct rootdef rd = s->root;

		rd.version++;
		build_root(&served, &rd);
		write_file(dir, "root.json", served.p, served.len);
	} else
		write_file(dir, "root.json", rootp->p, rootp->len);
	for (v = 0; v < sizeof(s->vroots) / sizeof(s->vroots[0]); v++) {
		if (s->vroots[v] == NULL)
			continue;
		snprintf(name, sizeof(name), "%zu.root.json", v + 1);
		write_file(dir, name, s->vroots[v]->p, s->vroots[v]->len);
	}
	if (s->ts_raw != NULL)
		write_file(dir, "timestamp.json", s->ts_raw, strlen(s->ts_raw));
	else
		write_file(dir, "timestamp.json", ts.p, ts.len);
	if (strcmp(cs, "snapshot") == 0) {
		build_snapshot(&served, s, s->v_sn + 1, rootp, &tg, &del);
		write_file(dir, "snapshot.json", served.p, served.len);
	} else
		write_file(dir, "snapshot.json", sn.p, sn.len);
	if (strcmp(cs, "targets") == 0) {
		build_targets(&served, s, 0, s->v_tg + 1, "evil");
		write_file(dir, "targets.json", served.p, served.len);
	} else
		write_file(dir, "targets.json", tg.p, tg.len);
	if (s->del_name != NULL && !s->del_absent) {
		snprintf(name, sizeof(name), "%s.json", s->del_name);
		if (s->checksum != NULL && strcmp(cs, s->del_name) == 0) {
			build_targets(&served, s, 1, s->v_del + 1, "evil");
			write_file(dir, name, served.p, served.len);
		} else
			write_file(dir, name, del.p, del.len);
	}
	if (s->checksum != NULL && served.len == 0)
		die("%s: unknown checksum role %s", s->gun, s->checksum);
	if (s->fault != NULL) {
		snprintf(name, sizeof(name), "%s.json.fault", s->fault_role);
		write_text(dir, name, "%s\n", s->fault);
	}
	write_pins(dir, s->root.root.k, s->root.root.n);
	buf_free(&root);
	buf_free(&tg);
	buf_free(&del);
	buf_free(&sn);
	buf_free(&ts);
	buf_free(&served);
}

/* "ok latest sha256:<hex> <size> <role>" for the image variant signed by role. */
static void
expect_ok(const struct spec *s, const char *dir, const char *variant, const char *role)
{
	struct image im;
	char h[65];

	image(s->gun, "latest", variant, &im);
	hex(im.sha256, sizeof(im.sha256), h);
	write_text(dir, "expect", "ok latest sha256:%s %ld %s\n", h, im.size, role);
}

/* Reason codes and a substring of the engine-worded message (trust/error.c). */
enum msg {
	M_THRESHOLD, M_EXPIRED, M_LOW_VERSION, M_MISMATCH, M_CONTACT,
	M_NOT_SIGNED, M_NO_DATA, M_MALICIOUS,
};

static void
expect_refused(const struct spec *s, const char *dir, const char *codes, enum msg m)
{
	char msg[256];

	switch (m) {
	case M_THRESHOLD:
		snprintf(msg, sizeof(msg), "trust data has insufficient signatures "
		    "for remote repository %s", s->gun);
		break;
	case M_EXPIRED:
		snprintf(msg, sizeof(msg), "expired");
		break;
	case M_LOW_VERSION:
		snprintf(msg, sizeof(msg), "trust data version is lower than expected "
		    "for remote repository %s", s->gun);
		break;
	case M_MISMATCH:
		snprintf(msg, sizeof(msg), "trust data mismatch for repository %s", s->gun);
		break;
	case M_CONTACT:
		snprintf(msg, sizeof(msg), "error contacting trust server");
		break;
	case M_NOT_SIGNED:
		snprintf(msg, sizeof(msg), "no trust signature found for %s:latest", s->gun);
		break;
	case M_MALICIOUS:	/* common to the low-version and mismatch wordings */
		snprintf(msg, sizeof(msg), "potential malicious behavior - trust data");
		break;
	case M_NO_DATA:
	default:
		snprintf(msg, sizeof(msg), "no trust data available for repository %s.",
		    s->gun);
		break;
	}
	write_text(dir, "expect", "%s latest %s\n", codes, msg);
}

static void
scen_dir(const struct gen *g, const struct spec *s, const char *phase,
    char *dir, size_t len)
{
	if ((size_t)snprintf(dir, len, "%s/%s%s%s", g->outdir, s->gun,
	    phase ? "/" : "", phase ? phase : "") >= len)
		die("path too long");
}

static void
index_add(struct gen *g, const char *gun, int phases)
{
	fprintf(g->index, "%s %d\n", gun, phases);
}

/* A single-phase scenario refused with codes/m. */
static void
single_refused(struct gen *g, const struct spec *s, const char *codes, enum msg m)
{
	char dir[1024];

	scen_dir(g, s, NULL, dir, sizeof(dir));
	emit_repo(s, dir);
	expect_refused(s, dir, codes, m);
	index_add(g, s->gun, 1);
}

static void
single_ok(struct gen *g, const struct spec *s, const char *variant, const char *role)
{
	char dir[1024];

	scen_dir(g, s, NULL, dir, sizeof(dir));
	emit_repo(s, dir);
	expect_ok(s, dir, variant, role);
	index_add(g, s->gun, 1);
}

/* Copy phase's expect to the scenario's top level (the final verdict). */
static void
copy_up(const struct gen *g, const struct spec *s, const char *phase, const char *file)
{
	char src[1100], dir[1024], text[1024];
	size_t n;
	FILE *f;

	scen_dir(g, s, phase, dir, sizeof(dir));
	snprintf(src, sizeof(src), "%s/%s", dir, file);
	if ((f = fopen(src, "rb")) == NULL)
		die("%s: %s", src, strerror(errno));
	n = fread(text, 1, sizeof(text), f);
	fclose(f);
	scen_dir(g, s, NULL, dir, sizeof(dir));
	write_file(dir, file, text, n);
}

/* ---- the scenarios ------------------------------------------------- */

static void
gen_basic(struct gen *g)
{
	struct spec s;
	struct key *t2;
	static const char *const roles[] = { "timestamp", "snapshot", "targets" };
	char name[64];
	size_t i;

	spec_init(g, &s, "good");
	s.tg_latest = 1;
	single_ok(g, &s, "targets", "targets");

	/* latest in targets/releases and (differently) in targets: releases wins. */
	spec_init(g, &s, "good-releases");
	s.tg_latest = 1;
	spec_delegate(g, &s, "targets/releases", "releases-signer");
	s.del_latest = 1;
	single_ok(g, &s, "releases", "targets/releases");

	/* Served slowly (tufserve "delay"): still fine. */
	spec_init(g, &s, "slow-timestamp");
	s.tg_latest = 1;
	s.fault_role = "timestamp";
	s.fault = "delay 300";
	single_ok(g, &s, "targets", "targets");

	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "bad-signature-%s", roles[i]);
		spec_init(g, &s, name);
		s.tg_latest = 1;
		if (i == 0)
			s.ts_sg.corrupt = 1;
		else if (i == 1)
			s.sn_sg.corrupt = 1;
		else
			s.tg_sg.corrupt = 1;
		single_refused(g, &s, "threshold", M_THRESHOLD);
	}

	/* notary: a root that fails its own threshold is ErrValidationFail. */
	spec_init(g, &s, "bad-signature-root");
	s.tg_latest = 1;
	s.root.sg.corrupt = 1;
	single_refused(g, &s, "validation|threshold", M_MISMATCH);

	/* A valid signature, but by the targets key, on the snapshot. */
	spec_init(g, &s, "snapshot-signed-by-targets-key");
	s.tg_latest = 1;
	s.sn_sg.k[0] = s.tg_sg.k[0];
	single_refused(g, &s, "threshold", M_THRESHOLD);

	/* targets role: two keys, threshold 2, only one signs. */
	spec_init(g, &s, "too-few-signatures");
	s.tg_latest = 1;
	t2 = scen_key(g, s.gun, "targets-2", NULL);
	s.root.targets.k[1] = t2;
	s.root.targets.n = 2;
	s.root.targets.threshold = 2;
	single_refused(g, &s, "threshold", M_THRESHOLD);

	/* threshold 2 met only by listing the same key's signature twice. */
	spec_init(g, &s, "duplicate-key");
	s.tg_latest = 1;
	t2 = scen_key(g, s.gun, "targets-2", NULL);
	s.root.targets.k[1] = t2;
	s.root.targets.n = 2;
	s.root.targets.threshold = 2;
	s.tg_sg.k[1] = s.tg_sg.k[0];
	s.tg_sg.n = 2;
	single_refused(g, &s, "threshold", M_THRESHOLD);

	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "expired-%s", roles[i]);
		spec_init(g, &s, name);
		s.tg_latest = 1;
		if (i == 0)
			s.exp_ts = EXP_PAST;
		else if (i == 1)
			s.exp_sn = EXP_PAST;
		else
			s.exp_tg = EXP_PAST;
		single_refused(g, &s, "expired", M_EXPIRED);
	}
}

static void
gen_meta(struct gen *g)
{
	struct spec s;

	spec_init(g, &s, "checksum-snapshot");
	s.tg_latest = 1;
	s.checksum = "snapshot";
	single_refused(g, &s, "checksum", M_MISMATCH);

	spec_init(g, &s, "checksum-targets");
	s.tg_latest = 1;
	s.checksum = "targets";
	single_refused(g, &s, "checksum", M_MISMATCH);

	/* A delegation failing its hash is fatal (only expiry/threshold skip it). */
	spec_init(g, &s, "checksum-releases");
	s.tg_latest = 1;
	spec_delegate(g, &s, "targets/releases", "releases-signer");
	s.del_latest = 1;
	s.checksum = "targets/releases";
	single_refused(g, &s, "checksum", M_MISMATCH);

	/* root.json differs from the root hash the snapshot lists. */
	spec_init(g, &s, "checksum-root");
	s.tg_latest = 1;
	s.checksum = "root";
	single_refused(g, &s, "checksum", M_MISMATCH);

	spec_init(g, &s, "oversized-targets");
	s.tg_latest = 1;
	s.targets_len = OVERSIZE_LEN;
	single_refused(g, &s, "bad-response", M_CONTACT);

	spec_init(g, &s, "endless-timestamp");
	s.tg_latest = 1;
	s.fault_role = "timestamp";
	s.fault = "endless";
	single_refused(g, &s, "bad-response", M_CONTACT);

	spec_init(g, &s, "server-error-timestamp");
	s.tg_latest = 1;
	s.fault_role = "timestamp";
	s.fault = "status 500";
	single_refused(g, &s, "trust-server-unavailable", M_CONTACT);

	/* The per-file cap comes from the parent's length, not just the global cap. */
	spec_init(g, &s, "endless-targets");
	s.tg_latest = 1;
	s.fault_role = "targets";
	s.fault = "endless";
	single_refused(g, &s, "bad-response", M_CONTACT);

	/* Root exists, timestamp 404 (and nothing cached to fall back on). */
	spec_init(g, &s, "missing-timestamp");
	s.tg_latest = 1;
	s.fault_role = "timestamp";
	s.fault = "status 404";
	single_refused(g, &s, "no-trust-data", M_NO_DATA);

	/* Not JSON: the engine says "no trust data available ...: <error>". */
	spec_init(g, &s, "malformed-timestamp");
	s.tg_latest = 1;
	s.ts_raw = "{\"signed\":{\"_type\":\"Timestamp\",\"version\":";
	single_refused(g, &s, "malformed-metadata", M_NO_DATA);

	/* Content-Length promises more than is sent (within the 1 MiB cap). */
	spec_init(g, &s, "truncated-timestamp");
	s.tg_latest = 1;
	s.fault_role = "timestamp";
	s.fault = "length 4000";
	single_refused(g, &s, "trust-server-unavailable", M_CONTACT);
}

static void
gen_roles(struct gen *g)
{
	struct spec s;
	char dir[1024];

	/* targets/releases may sign only below "v1/": latest is not covered. */
	spec_init(g, &s, "delegation-outside-prefix");
	spec_delegate(g, &s, "targets/releases", "releases-signer");
	s.del_path = "v1/";
	s.del_latest = 1;
	single_refused(g, &s, "not-signed", M_NOT_SIGNED);

	/* Listed in snapshot, 404 on the server: fatal in notary. */
	spec_init(g, &s, "missing-delegation");
	s.tg_latest = 1;
	spec_delegate(g, &s, "targets/releases", "releases-signer");
	s.del_latest = 1;
	s.del_absent = 1;
	single_refused(g, &s, "no-trust-data", M_NO_DATA);

	/* Declared by targets but not in snapshot meta: notary skips it. */
	spec_init(g, &s, "releases-not-in-snapshot");
	s.tg_latest = 1;
	spec_delegate(g, &s, "targets/releases", "releases-signer");
	s.del_latest = 1;
	s.del_unlisted = 1;
	single_ok(g, &s, "targets", "targets");

	/* An under-threshold or expired releases is skipped: targets decides. */
	spec_init(g, &s, "releases-bad-signature");
	s.tg_latest = 1;
	spec_delegate(g, &s, "targets/releases", "releases-signer");
	s.del_latest = 1;
	s.del_sg.corrupt = 1;
	single_ok(g, &s, "targets", "targets");

	spec_init(g, &s, "releases-expired");
	s.tg_latest = 1;
	spec_delegate(g, &s, "targets/releases", "releases-signer");
	s.del_latest = 1;
	s.exp_del = EXP_PAST;
	single_ok(g, &s, "targets", "targets");

	spec_init(g, &s, "unsigned-tag");
	single_refused(g, &s, "not-signed", M_NOT_SIGNED);

	/* Found, but only in targets/alice: Docker trusts releases and targets only. */
	spec_init(g, &s, "other-delegation-only");
	spec_delegate(g, &s, "targets/alice", "alice");
	s.del_latest = 1;
	single_refused(g, &s, "untrusted-role", M_NO_DATA);

	/* No trust data at all: 404 on root.json. */
	spec_init(g, &s, "absent");
	scen_dir(g, &s, NULL, dir, sizeof(dir));
	mkdirs(dir);
	write_pins(dir, s.root.root.k, s.root.root.n);
	expect_refused(&s, dir, "no-trust-data", M_NO_DATA);
	index_add(g, s.gun, 1);
}

static void
gen_root_certs(struct gen *g)
{
	struct spec s;
	struct certdef cd;

	spec_init(g, &s, "wrong-cn");
	s.tg_latest = 1;
	cd = (struct certdef){ GUN_PREFIX "other", CERT_TO, 0 };
	s.root.root.k[0] = s.root.sg.k[0] = scen_key(g, s.gun, "root-other-cn", &cd);
	single_refused(g, &s, "validation", M_MISMATCH);

	spec_init(g, &s, "expired-root-cert");
	s.tg_latest = 1;
	cd = (struct certdef){ s.gun, CERT_TO_PAST, 0 };
	s.root.root.k[0] = s.root.sg.k[0] = scen_key(g, s.gun, "root-expired", &cd);
	single_refused(g, &s, "validation", M_MISMATCH);

	spec_init(g, &s, "sha1-root-cert");
	s.tg_latest = 1;
	cd = (struct certdef){ s.gun, CERT_TO, 1 };
	s.root.root.k[0] = s.root.sg.k[0] = scen_key(g, s.gun, "root-sha1", &cd);
	single_refused(g, &s, "validation", M_MISMATCH);
}

/*
 * Rollback of one role: phase1 has every version at 5, phase2 the attacked
 * role at 4 (properly signed) and everything else at 6.
 */
static void
gen_rollback(struct gen *g, const char *role)
{
	struct spec s;
	char name[64], dir[1024];
	int phase;

	snprintf(name, sizeof(name), "rollback-%s", role);
	for (phase = 1; phase <= MAX_PHASES; phase++) {
		int v = phase == 1 ? 5 : 6;

		spec_init(g, &s, name);
		s.tg_latest = 1;
		if (strcmp(role, "releases") == 0) {
			spec_delegate(g, &s, "targets/releases", "releases-signer");
			s.del_latest = 1;
		}
		s.v_ts = s.v_sn = s.v_tg = s.v_del = v;
		if (phase == 2) {
			if (strcmp(role, "timestamp") == 0)
				s.v_ts = 4;
			else if (strcmp(role, "snapshot") == 0)
				s.v_sn = 4;
			else if (strcmp(role, "targets") == 0)
				s.v_tg = 4;
			else
				s.v_del = 4;
		}
		scen_dir(g, &s, phase == 1 ? "phase1" : "phase2", dir, sizeof(dir));
		emit_repo(&s, dir);
		if (phase == 1)
			expect_ok(&s, dir, s.del_latest ? "releases" : "targets",
			    s.del_latest ? "targets/releases" : "targets");
		else
			expect_refused(&s, dir, "low-version", M_LOW_VERSION);
	}
	copy_up(g, &s, "phase2", "expect");
	copy_up(g, &s, "phase1", "pins");
	index_add(g, s.gun, 2);
}

/*
 * Root rotation. phase1: root v1 with key A (also as 1.root.json).
 * rotation-ok: phase2 root v2 with key B, signed by A and B.
 * rotation-chain: phase2 root v3 with key C signed by B and C only; the
 *   client must fetch 2.root.json (B, signed by A and B) to get there.
 * root-not-signed-by-old: phase2 root v2 with key B, signed by B only.
 * Timestamp, snapshot and targets are re-signed (version 2) in phase2.
 */
static void
gen_rotation(struct gen *g, const char *scenario)
{
	struct spec s;
	struct buf r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct key *a, *b, *c;
	char dir[1024];

	spec_init(g, &s, scenario);
	s.tg_latest = 1;
	a = s.root.root.k[0];
	b = root_key(g, s.gun, "root-B");
	c = root_key(g, s.gun, "root-C");
	build_root(&r1, &s.root);
	s.root_bytes = &r1;
	s.vroots[0] = &r1;
	scen_dir(g, &s, "phase1", dir, sizeof(dir));
	emit_repo(&s, dir);
	expect_ok(&s, dir, "targets", "targets");

	s.v_ts = s.v_sn = s.v_tg = 2;
	s.root.version = 2;
	s.root.root = (struct roledef){ { b }, 1, 1 };
	if (strcmp(scenario, "root-not-signed-by-old") == 0)
		s.root.sg = (struct signers){ { b }, 1, 0 };
	else
		s.root.sg = (struct signers){ { a, b }, 2, 0 };
	build_root(&r2, &s.root);
	s.root_bytes = &r2;
	if (strcmp(scenario, "root-not-signed-by-old") != 0)
		s.vroots[1] = &r2;
	if (strcmp(scenario, "rotation-chain") == 0) {
		s.root.version = 3;
		s.root.root = (struct roledef){ { c }, 1, 1 };
		s.root.sg = (struct signers){ { b, c }, 2, 0 };
		build_root(&r3, &s.root);
		s.root_bytes = &r3;
		s.vroots[2] = &r3;
	}
	scen_dir(g, &s, "phase2", dir, sizeof(dir));
	emit_repo(&s, dir);
	if (strcmp(scenario, "root-not-signed-by-old") == 0)
		expect_refused(&s, dir, "root-rotation", M_MISMATCH);
	else
		expect_ok(&s, dir, "targets", "targets");
	copy_up(g, &s, "phase2", "expect");
	/*
	 * Pin every root key of the scenario, the first-trusted one first:
	 * a rotation to a pinned key is accepted whether or not the verifier
	 * re-applies pins to rotated roots (notary does not, dctproxy does),
	 * and root-not-signed-by-old must then fail on continuity alone.
	 */
	scen_dir(g, &s, NULL, dir, sizeof(dir));
	{
		struct key *all[3] = { a, b, c };

		write_pins(dir, all, strcmp(scenario, "rotation-chain") == 0 ? 3 : 2);
	}
	index_add(g, s.gun, 2);
	buf_free(&r1);
	buf_free(&r2);
	buf_free(&r3);
}

/*
 * Root rollback: phase1 is a rotated repository (root v2 with key B,
 * signed by A and B); phase2 serves the old root v1 (key A, still validly
 * self-signed) with timestamp, snapshot and targets re-signed at version
 * 3 and pointing at it. Both keys are pinned, so the pins cannot be
 * what refuses it: v1 is older than the trusted v2 and not signed by B.
 */
static void
gen_root_rollback(struct gen *g)
{
	struct spec s;
	struct buf r1 = { 0 }, r2 = { 0 };
	struct key *a, *b, *all[2];
	struct rootdef v1;
	char dir[1024];

	spec_init(g, &s, "root-rollback");
	s.tg_latest = 1;
	a = s.root.root.k[0];
	b = root_key(g, s.gun, "root-B");
	v1 = s.root;
	build_root(&r1, &v1);
	s.root.version = 2;
	s.root.root = (struct roledef){ { b }, 1, 1 };
	s.root.sg = (struct signers){ { a, b }, 2, 0 };
	build_root(&r2, &s.root);
	s.vroots[0] = &r1;
	s.vroots[1] = &r2;
	s.root_bytes = &r2;
	s.v_ts = s.v_sn = s.v_tg = 2;
	scen_dir(g, &s, "phase1", dir, sizeof(dir));
	emit_repo(&s, dir);
	expect_ok(&s, dir, "targets", "targets");

	s.root = v1;
	s.root_bytes = &r1;
	s.vroots[1] = NULL;
	s.v_ts = s.v_sn = s.v_tg = 3;
	scen_dir(g, &s, "phase2", dir, sizeof(dir));
	emit_repo(&s, dir);
	/* v1 is both older and not signed by B: notary reports the latter. */
	expect_refused(&s, dir, "low-version|root-rotation", M_MALICIOUS);

	copy_up(g, &s, "phase2", "expect");
	scen_dir(g, &s, NULL, dir, sizeof(dir));
	all[0] = b;
	all[1] = a;
	write_pins(dir, all, 2);
	index_add(g, s.gun, 2);
	buf_free(&r1);
	buf_free(&r2);
}

int
main(int argc, char *argv[])
{
	struct gen g = { 0 };
	char path[1024];

	if (argc != 2) {
		fprintf(stderr, "usage: tufgen OUTDIR\n");
		return 2;
	}
	g.outdir = argv[1];
	mkdirs(g.outdir);
	snprintf(path, sizeof(path), "%s/index", g.outdir);
	if ((g.index = fopen(path, "w")) == NULL)
		die("%s: %s", path, strerror(errno));

	gen_basic(&g);
	gen_meta(&g);
	gen_roles(&g);
	gen_root_certs(&g);
	gen_rollback(&g, "timestamp");
	gen_rollback(&g, "snapshot");
	gen_rollback(&g, "targets");
	gen_rollback(&g, "releases");
	gen_rotation(&g, "rotation-ok");
	gen_rotation(&g, "rotation-chain");
	gen_rotation(&g, "root-not-signed-by-old");
	gen_root_rollback(&g);

	if (fclose(g.index) != 0)
		die("%s: write failed", path);
	keys_free(&g);
	return 0;
}
