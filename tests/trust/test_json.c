/*
 * trust/json.c: strict parsing and canonical JSON, checked against hand-
 * written vectors and against every signature in tests/fixtures (the
 * signatures only verify over byte-exact canonical output).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit.h"
#include "trust/trust_int.h"

/* Canonical form of the object in text; NULL if it does not parse or canonicalise. */
static char *
canon(const char *text, size_t *lenp)
{
	struct trust_error	 err;
	json_t			*v;
	uint8_t			*out = NULL;
	size_t			 len = 0;
	char			*s;

	if (tjson_parse((const uint8_t *)text, strlen(text), 4096, &v, &err) == -1)
		return NULL;
	if (tjson_canonical(v, &out, &len) == -1) {
		json_decref(v);
		return NULL;
	}
	json_decref(v);
	if ((s = malloc(len + 1)) != NULL) {
		memcpy(s, out, len);
		s[len] = '\0';
	}
	free(out);
	if (lenp != NULL)
		*lenp = len;
	return s;
}

#define CANON_EQ(in, want) do {						\
	char *c_ = canon((in), NULL);					\
	int ok_ = c_ != NULL && strcmp(c_, (want)) == 0;		\
	if (!ok_) {							\
		unit_fail(__FILE__, __LINE__, "canonical(%s) == %s, expected %s", \
		    (in), c_ ? c_ : "(error)", (want));			\
	}								\
	free(c_);							\
} while (0)

UNIT_TEST(json_canonical_key_order)
{
	/* Bytewise: upper case before lower case, ASCII before UTF-8 lead bytes. */
	CANON_EQ("{\"b\":1,\"a\":2,\"B\":3,\"\xc3\xa9\":4,\"z\":5,\"ab\":6,\"\":7}",
	    "{\"\":7,\"B\":3,\"a\":2,\"ab\":6,\"b\":1,\"z\":5,\"\xc3\xa9\":4}");
	/*
	 * U+FB01 (EF AC 81) sorts before U+1F600 (F0 9F 98 80) by bytes,
	 * after it by UTF-16 code units (FB01 > D83D): the classic trap.
	 */
	CANON_EQ("{\"\\ud83d\\ude00\":1,\"\\ufb01\":2}",
	    "{\"\xef\xac\x81\":2,\"\xf0\x9f\x98\x80\":1}");
	/* Whitespace anywhere disappears. */
	CANON_EQ("{\n  \"k\" : [ 1 , 2 ] ,\t\"j\" : { }\r\n}",
	    "{\"j\":{},\"k\":[1,2]}");
}

UNIT_TEST(json_canonical_escaping)
{
	size_t	 len;
	char	*c;
	/* Wire form: \" \\ escaped, <>& as \u escapes, control bytes escaped. */
	const char *in = "{\"s\":\"q\\\"b\\\\s \\u003c\\u003e\\u0026 <>& "
	    "\\u0001\\n\\t\\u001f\\u007f \\u00fcn\\u00ef\\u20ac \\u2028 \\/\"}";
	/* Canonical: only \" and \\ escaped, everything else raw. */
	static const char want[] = "{\"s\":\"q\\\"b\\\\s <>& <>& "
	    "\x01\n\t\x1f\x7f \xc3\xbcn\xc3\xaf\xe2\x82\xac \xe2\x80\xa8 /\"}";

	c = canon(in, &len);
	T_ASSERT(c != NULL);
	T_EQ_INT(len, sizeof(want) - 1);
	T_ASSERT(memcmp(c, want, len) == 0);
	free(c);
	/* Keys are escaped the same way. */
	CANON_EQ("{\"a\\\"\\\\\\u003c\":true}", "{\"a\\\"\\\\<\":true}");
}

UNIT_TEST(json_canonical_numbers)
{
	json_t	*v;
	uint8_t	*out;
	size_t	 len;

	CANON_EQ("{\"z\":0,\"i\":-42,\"big\":9223372036854775807,"
	    "\"neg\":-9223372036854775808}",
	    "{\"big\":9223372036854775807,\"i\":-42,"
	    "\"neg\":-9223372036854775808,\"z\":0}");
	/* Integral reals print as integers, as Go's int64(f) does. */
	CANON_EQ("{\"a\":1.0,\"b\":1e3,\"c\":-2.0E2,\"d\":0.0,\"e\":-0.0,\"f\":2.5e1}",
	    "{\"a\":1,\"b\":1000,\"c\":-200,\"d\":0,\"e\":0,\"f\":25}");
	/* Non-integral or out-of-int64 reals are not representable. */
	T_ASSERT(canon("{\"x\":1.5}", NULL) == NULL);
	T_ASSERT(canon("{\"x\":[0.1]}", NULL) == NULL);
	T_ASSERT(canon("{\"x\":1e19}", NULL) == NULL);
	T_ASSERT(canon("{\"x\":-1e300}", NULL) == NULL);
	/* Same through the API with a value built in memory. */
	v = json_pack("{s:f}", "x", 1.5);
	T_ASSERT(v != NULL);
	T_EQ_INT(tjson_canonical(v, &out, &len), -1);
	T_ASSERT(out == NULL);
	json_decref(v);
}

UNIT_TEST(json_canonical_nesting)
{
	CANON_EQ("{\"o\":{\"k\":[]},\"arr\":[3,[2,{\"y\":null,\"x\":true}],false,\"s\",{}]}",
	    "{\"arr\":[3,[2,{\"x\":true,\"y\":null}],false,\"s\",{}],\"o\":{\"k\":[]}}");
	json_t	*v, *inner;
	uint8_t	*out;
	size_t	 len;
	int	 d;

	CANON_EQ("{}", "{}");
	CANON_EQ("{\"a\":[[[]]]}", "{\"a\":[[[]]]}");
	/* Values built in memory are held to the same depth cap. */
	v = json_object();
	T_ASSERT(v != NULL);
	for (inner = v, d = 1; d < TJSON_MAX_DEPTH; d++) {
		T_EQ_INT(json_object_set_new(inner, "a", json_object()), 0);
		inner = json_object_get(inner, "a");
	}
	T_EQ_INT(tjson_canonical(v, &out, &len), 0);
	free(out);
	T_EQ_INT(json_object_set_new(inner, "a", json_object()), 0);
	T_EQ_INT(tjson_canonical(v, &out, &len), -1);
	json_decref(v);
}

UNIT_TEST(json_canonical_keyid_shape)
{
	json_t	*v;
	uint8_t	*out;
	size_t	 len;
	static const char want[] =
	    "{\"keytype\":\"ecdsa\",\"keyval\":{\"private\":null,\"public\":\"QUJD\"}}";

	/* The object whose hash is a key ID (built, not parsed). */
	v = json_pack("{s:{s:s,s:n},s:s}", "keyval", "public", "QUJD", "private",
	    "keytype", "ecdsa");
	T_ASSERT(v != NULL);
	T_EQ_INT(tjson_canonical(v, &out, &len), 0);
	json_decref(v);
	T_EQ_INT(len, sizeof(want) - 1);
	T_ASSERT(memcmp(out, want, len) == 0);
	free(out);
}

/* tjson_parse on len bytes of s; returns its result and frees any value. */
static int
parse_n(const char *s, size_t len, size_t max, struct trust_error *err)
{
	json_t	*v = NULL;
	int	 rc;

	memset(err, 0, sizeof(*err));
	rc = tjson_parse((const uint8_t *)s, len, max, &v, err);
	if (rc == 0 && v == NULL)
		rc = -2;
	if (rc == -1 && v != NULL)
		rc = -3;
	json_decref(v);
	return rc;
}

#define PARSE_OK(s) do {						\
	struct trust_error e_;						\
	int r_ = parse_n((s), sizeof(s) - 1, 4096, &e_);		\
	if (r_ != 0)							\
		unit_fail(__FILE__, __LINE__, "parse of %s failed: %s", #s, e_.msg); \
} while (0)

#define PARSE_BAD(s) do {						\
	struct trust_error e_;						\
	int r_ = parse_n((s), sizeof(s) - 1, 4096, &e_);		\
	if (r_ != -1 || e_.code != TRUST_E_PARSE)			\
		unit_fail(__FILE__, __LINE__, "parse of %s: rc %d code %d, " \
		    "expected a TRUST_E_PARSE refusal", #s, r_, (int)e_.code); \
} while (0)

UNIT_TEST(json_parse_rejects)
{
	struct trust_error	err;

	PARSE_OK("{\"a\":1}");
	PARSE_OK("{\"a\":1} \n\t");		/* trailing whitespace is fine */
	PARSE_BAD("{\"a\":1,\"a\":2}");		/* duplicate key */
	PARSE_BAD("{\"o\":{\"b\":1,\"b\":1}}");	/* duplicate key, nested */
	PARSE_BAD("{\"a\":1} x");		/* trailing bytes */
	PARSE_BAD("{\"a\":1}{}");
	PARSE_BAD("{\"a\":1}\0");		/* trailing NUL byte */
	PARSE_BAD("{\"a\":\"x\\u0000y\"}");	/* NUL in a string */
	PARSE_BAD("{\"a\\u0000\":1}");		/* NUL in a key */
	PARSE_BAD("{\"a\":\"x\0y\"}");		/* raw NUL */
	PARSE_BAD("{\"a\":\"\xff\"}");		/* invalid UTF-8 */
	PARSE_BAD("{\"a\":\"\xc0\xaf\"}");	/* overlong encoding */
	PARSE_BAD("{\"a\":\"\xed\xa0\x80\"}");	/* encoded surrogate */
	PARSE_BAD("{\"\xc3\":1}");		/* truncated sequence in a key */
	PARSE_BAD("{\"a\":\"\n\"}");		/* raw control character */
	PARSE_BAD("[1]");			/* top level must be an object */
	PARSE_BAD("\"s\"");
	PARSE_BAD("1");
	PARSE_BAD("null");
	PARSE_BAD("");
	PARSE_BAD("{\"a\":1");			/* truncated */
	PARSE_BAD("{\"a\":01}");		/* not JSON */
	PARSE_BAD("{\"a\":99999999999999999999}"); /* beyond int64 */

	/* The length cap applies before parsing. */
	T_EQ_INT(parse_n("{\"a\":1}", 7, 7, &err), 0);
	T_EQ_INT(parse_n("{\"a\":1}", 7, 6, &err), -1);
	T_EQ_INT(err.code, TRUST_E_PARSE);
	T_CONTAINS(err.msg, "over the limit");
}

/* An object nested depth deep: {"a":{"a":...{}}}, or arrays inside one object. */
static char *
nested(int depth, int arrays)
{
	size_t	 n = (size_t)depth * 6 + 8, i, off = 0;
	char	*s = malloc(n);
	int	 d;

	if (s == NULL)
		return NULL;
	if (arrays) {
		off += (size_t)snprintf(s, n, "{\"a\":");
		for (d = 1; d < depth; d++)
			s[off++] = '[';
		for (d = 1; d < depth; d++)
			s[off++] = ']';
		s[off++] = '}';
	} else {
		for (d = 0; d < depth; d++) {
			memcpy(s + off, d == depth - 1 ? "{" : "{\"a\":", d == depth - 1 ? 1 : 5);
			off += d == depth - 1 ? 1 : 5;
		}
		for (i = 0; i < (size_t)depth; i++)
			s[off++] = '}';
	}
	s[off] = '\0';
	return s;
}

UNIT_TEST(json_parse_depth)
{
	struct trust_error	 err;
	char			*s;
	int			 arrays;

	for (arrays = 0; arrays <= 1; arrays++) {
		s = nested(TJSON_MAX_DEPTH, arrays);
		T_ASSERT(s != NULL);
		T_EQ_INT(parse_n(s, strlen(s), 4096, &err), 0);
		free(s);
		s = nested(TJSON_MAX_DEPTH + 1, arrays);
		T_ASSERT(s != NULL);
		T_EQ_INT(parse_n(s, strlen(s), 4096, &err), -1);
		free(s);
		T_EQ_INT(err.code, TRUST_E_PARSE);
		T_CONTAINS(err.msg, "nesting");
	}
	/* Far deeper than jansson's own limit: still a clean refusal. */
	s = nested(3000, 1);
	T_ASSERT(s != NULL);
	T_EQ_INT(parse_n(s, strlen(s), 65536, &err), -1);
	free(s);
}

/* ---- every fixture signature --------------------------------------- */

/*
 * Which keys sign each fixture: the file holding the role's keys (a root
 * for base roles and root rotations, the parent targets for a
 * delegation), the role, and for a rotated root the previous root too.
 * expect is how many distinct keys must have a valid signature.
 */
struct fx_file {
	const char	*dir;
	const char	*file;
	const char	*keys;		/* root.json or parent targets file */
	const char	*role;
	const char	*prev_root;	/* root rotation: previous root, or NULL */
	int		 expect;
};

#define AEP	"aepifanov+moby"
#define ALP	"daemon__trust__service_test.go--alpineMeta--"
#define TDG	"testutil__fixtures__load__trust.go--trustDataGood--"
#define TDB	"testutil__fixtures__load__trust.go--trustDataBad--"
#define GEN	"generated-notary-0.7.0"
#define NOT	"notaryproject+notary"
#define N01	"fixtures__compatibility__notary0.1__tuf__docker.com__notary0.1__samplerepo__metadata__"
#define N03	"fixtures__compatibility__notary0.3__tuf__docker.com__notary0.3__tst__metadata__"
#define CON	"sse-secure-systems+connaisseur"
#define CNS	"test__testdata__notaryv1__trust_data__never-expire-with-delegations-image__"

static const struct fx_file fx_files[] = {
	{ AEP, ALP "root.json",		ALP "root.json", "root", NULL, 1 },
	{ AEP, ALP "timestamp.json",	ALP "root.json", "timestamp", NULL, 1 },
	{ AEP, ALP "snapshot.json",	ALP "root.json", "snapshot", NULL, 1 },
	{ AEP, ALP "targets.json",	ALP "root.json", "targets", NULL, 1 },
	{ AEP, TDB "root.json",		TDB "root.json", "root", NULL, 1 },
	{ AEP, TDG "root.json",		TDG "root.json", "root", NULL, 1 },
	{ AEP, TDG "timestamp.json",	TDG "root.json", "timestamp", NULL, 1 },
	{ AEP, TDG "snapshot.json",	TDG "root.json", "snapshot", NULL, 1 },
	{ AEP, TDG "targets.json",	TDG "root.json", "targets", NULL, 1 },
	{ GEN, "docker.io__test__canon--root.json", "docker.io__test__canon--root.json",
	    "root", NULL, 1 },
	{ GEN, "docker.io__test__canon--targets.json", "docker.io__test__canon--root.json",
	    "targets", NULL, 1 },
	{ GEN, "docker.io__test__repo--1.root.json", "docker.io__test__repo--1.root.json",
	    "root", NULL, 1 },
	/* Rotations: signed by the new root key and the previous one. */
	{ GEN, "docker.io__test__repo--2.root.json", "docker.io__test__repo--2.root.json",
	    "root", "docker.io__test__repo--1.root.json", 2 },
	{ GEN, "docker.io__test__repo--root.json", "docker.io__test__repo--root.json",
	    "root", "docker.io__test__repo--2.root.json", 2 },
	{ GEN, "docker.io__test__repo--timestamp.json", "docker.io__test__repo--root.json",
	    "timestamp", NULL, 1 },
	{ GEN, "docker.io__test__repo--snapshot.json", "docker.io__test__repo--root.json",
	    "snapshot", NULL, 1 },
	{ GEN, "docker.io__test__repo--targets.json", "docker.io__test__repo--root.json",
	    "targets", NULL, 1 },
	{ GEN, "docker.io__test__repo--targets__releases.json",
	    "docker.io__test__repo--targets.json", "targets/releases", NULL, 1 },
	{ NOT, N01 "root.json",		N01 "root.json", "root", NULL, 1 },
	{ NOT, N01 "timestamp.json",	N01 "root.json", "timestamp", NULL, 1 },
	{ NOT, N01 "snapshot.json",	N01 "root.json", "snapshot", NULL, 1 },
	{ NOT, N01 "targets.json",	N01 "root.json", "targets", NULL, 1 },
	{ NOT, N03 "root.json",		N03 "root.json", "root", NULL, 1 },
	{ NOT, N03 "timestamp.json",	N03 "root.json", "timestamp", NULL, 1 },
	{ NOT, N03 "snapshot.json",	N03 "root.json", "snapshot", NULL, 1 },
	{ NOT, N03 "targets.json",	N03 "root.json", "targets", NULL, 1 },
	{ NOT, N03 "targets__releases.json", N03 "targets.json", "targets/releases", NULL, 1 },
	{ CON, CNS "root.json",		CNS "root.json", "root", NULL, 1 },
	{ CON, CNS "timestamp.json",	CNS "root.json", "timestamp", NULL, 1 },
	{ CON, CNS "snapshot.json",	CNS "root.json", "snapshot", NULL, 1 },
	{ CON, CNS "targets.json",	CNS "root.json", "targets", NULL, 1 },
	{ CON, CNS "targets__releases.json", CNS "targets.json", "targets/releases", NULL, 1 },
};
#define NFX	(sizeof(fx_files) / sizeof(fx_files[0]))

static json_t *
load_fixture(const char *dir, const char *file)
{
	struct trust_error	 err;
	char			 rel[1024];
	unsigned char		*buf;
	size_t			 len;
	json_t			*v = NULL;

	snprintf(rel, sizeof(rel), "%s/%s", dir, file);
	if ((buf = unit_read(unit_fixture(rel), &len)) == NULL)
		return NULL;
	if (tjson_parse(buf, len, TRUST_MAX_METADATA_LEN, &v, &err) == -1)
		v = NULL;
	free(buf);
	return v;
}

/*
 * The role's key IDs and key map in doc (a root, or the parent targets of
 * a delegation). Borrowed references; NULL if absent.
 */
static void
role_keys(json_t *doc, const char *role, json_t **ids, json_t **keys)
{
	json_t	*signed_ = json_object_get(doc, "signed"), *d, *r;
	size_t	 i;

	*ids = *keys = NULL;
	if (strchr(role, '/') == NULL) {
		*ids = json_object_get(json_object_get(json_object_get(signed_,
		    "roles"), role), "keyids");
		*keys = json_object_get(signed_, "keys");
		return;
	}
	d = json_object_get(signed_, "delegations");
	json_array_foreach(json_object_get(d, "roles"), i, r)
		if (json_is_string(json_object_get(r, "name")) &&
		    strcmp(json_string_value(json_object_get(r, "name")), role) == 0)
			*ids = json_object_get(r, "keyids");
	*keys = json_object_get(d, "keys");
}

static int
listed(json_t *ids, const char *id)
{
	json_t	*v;
	size_t	 i;

	json_array_foreach(ids, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
			return 1;
	return 0;
}

/*
 * Count the distinct keys of the role (from up to two key sources) with a
 * valid signature on doc. -1 on a structural problem; a key whose computed
 * ID differs from the signature's keyid also counts as a failure (-2).
 * If msg_flip, one byte of the canonical bytes is changed first.
 */
static int
count_valid(json_t *doc, json_t *ids[2], json_t *keys[2], int msg_flip)
{
	struct trust_error	 err;
	json_t			*sigs, *s;
	uint8_t			*msg = NULL, *sig;
	size_t			 msglen, siglen, i, j;
	const char		*done[16];
	size_t			 ndone = 0, d;
	struct tkey		*k;
	int			 n = 0, dup;

	if (tjson_canonical(json_object_get(doc, "signed"), &msg, &msglen) == -1)
		return -1;
	if (msg_flip)
		msg[msglen / 2] ^= 0x01;
	sigs = json_object_get(doc, "signatures");
	json_array_foreach(sigs, i, s) {
		const char *id = json_string_value(json_object_get(s, "keyid"));
		const char *method = json_string_value(json_object_get(s, "method"));
		json_t *js = json_object_get(s, "sig");

		if (id == NULL || method == NULL || !json_is_string(js))
			goto fail;
		for (j = 0; j < 2; j++) {
			if (ids[j] == NULL || !listed(ids[j], id))
				continue;
			if (tkey_parse(json_object_get(keys[j], id), &k, &err) == -1)
				goto fail;
			if (strcmp(k->id, id) != 0) {
				tkey_free(k);
				free(msg);
				return -2;
			}
			if (tb64_decode(json_string_value(js), json_string_length(js),
			    &sig, &siglen) == -1) {
				tkey_free(k);
				goto fail;
			}
			if (tkey_verify(k, method, sig, siglen, msg, msglen)) {
				for (dup = 0, d = 0; d < ndone; d++)
					dup |= strcmp(done[d], id) == 0;
				if (!dup && ndone < 16) {
					done[ndone++] = id;
					n++;
				}
			}
			free(sig);
			tkey_free(k);
		}
	}
	free(msg);
	return n;
fail:
	free(msg);
	return -1;
}

/* The fixture table covers exactly the files on disk. */
UNIT_TEST(json_fixture_table_complete)
{
	static const char	*dirs[] = { AEP, GEN, NOT, CON };
	struct dirent		*de;
	DIR			*d;
	size_t			 i, k, seen = 0;
	int			 found;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		d = opendir(unit_fixture(dirs[i]));
		T_ASSERT(d != NULL);
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			for (found = 0, k = 0; k < NFX; k++)
				if (strcmp(fx_files[k].dir, dirs[i]) == 0 &&
				    strcmp(fx_files[k].file, de->d_name) == 0)
					found = 1;
			if (!found) {
				closedir(d);
				unit_fail(__FILE__, __LINE__,
				    "fixture %s/%s is not in the table", dirs[i],
				    de->d_name);
			}
			seen++;
		}
		closedir(d);
	}
	T_EQ_INT(seen, NFX);
	T_EQ_INT(NFX, 32);
}

UNIT_TEST(json_fixture_signatures_verify)
{
	const struct fx_file	*f;
	json_t			*doc, *kd, *pd, *ids[2], *keys[2];
	size_t			 i, total = 0;
	int			 n, nflip;

	for (i = 0; i < NFX; i++) {
		f = &fx_files[i];
		doc = load_fixture(f->dir, f->file);
		kd = load_fixture(f->dir, f->keys);
		pd = f->prev_root ? load_fixture(f->dir, f->prev_root) : NULL;
		if (doc == NULL || kd == NULL || (f->prev_root && pd == NULL)) {
			json_decref(doc);
			json_decref(kd);
			json_decref(pd);
			unit_fail(__FILE__, __LINE__, "%s/%s: fixture does not load",
			    f->dir, f->file);
		}
		role_keys(kd, f->role, &ids[0], &keys[0]);
		ids[1] = keys[1] = NULL;
		if (pd != NULL)
			role_keys(pd, f->role, &ids[1], &keys[1]);
		n = count_valid(doc, ids, keys, 0);
		nflip = count_valid(doc, ids, keys, 1);
		if (n == f->expect && nflip == 0 &&
		    (size_t)n == json_array_size(json_object_get(doc, "signatures")))
			total += (size_t)n;
		json_decref(doc);
		json_decref(kd);
		json_decref(pd);
		if (n != f->expect || nflip != 0)
			unit_fail(__FILE__, __LINE__, "%s: %d valid signatures "
			    "(%d after a flipped byte), expected %d", f->file, n,
			    nflip, f->expect);
	}
	/* Every signature in every file verified: 30 single, 2 double. */
	T_EQ_INT(total, 34);
}

/* memmem without _GNU_SOURCE. */
static int
contains(const uint8_t *hay, size_t n, const char *needle)
{
	size_t	m = strlen(needle), i;

	for (i = 0; m <= n && i <= n - m; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

/* The canonical-JSON vector: only raw <>&, quote, backslash and UTF-8 verify. */
UNIT_TEST(json_fixture_canon_vector)
{
	json_t	*doc, *root, *ids[2] = { NULL, NULL }, *keys[2] = { NULL, NULL };
	json_t	*targets;
	uint8_t	*c;
	size_t	 len;
	int	 n;

	doc = load_fixture(GEN, "docker.io__test__canon--targets.json");
	root = load_fixture(GEN, "docker.io__test__canon--root.json");
	T_ASSERT(doc != NULL && root != NULL);
	targets = json_object_get(json_object_get(doc, "signed"), "targets");
	/* The names the vector is about, decoded from the wire escapes. */
	T_ASSERT(json_object_get(targets, "a<b>&c") != NULL);
	T_ASSERT(json_object_get(targets, "q\"b\\s") != NULL);
	T_ASSERT(json_object_get(targets, "x/y z") != NULL);
	T_ASSERT(json_object_get(targets, "\xc3\xbcn\xc3\xaf\xe2\x82\xac") != NULL);
	T_EQ_INT(tjson_canonical(json_object_get(doc, "signed"), &c, &len), 0);
	T_ASSERT(contains(c, len, "\"a<b>&c\""));
	T_ASSERT(contains(c, len, "\"q\\\"b\\\\s\""));
	T_ASSERT(!contains(c, len, "\\u00"));
	free(c);
	role_keys(root, "targets", &ids[0], &keys[0]);
	n = count_valid(doc, ids, keys, 0);
	json_decref(doc);
	json_decref(root);
	T_EQ_INT(n, 1);
}
