/*
 * The update workflow and Docker resolution over the real Notary fixtures
 * (dct-semantics section 6), each at the clock and pins that section
 * gives, plus rollback floors, rotation and the state directory.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit.h"
#include "trust/tuf_int.h"

#define T_2026_11_22	((time_t)1795305600)	/* 2026-11-22T00:00:00Z */
#define T_2026_07_01	((time_t)1782864000)
#define T_2026_08_01	((time_t)1785542400)
#define T_2018_08_01	((time_t)1533081600)
#define T_2018_09_01	((time_t)1536969600)	/* 2018-09-15, inside the cert and timestamp window */

#define ID_N01_CERT	"4ff57dc987163053a12c066f2dd36b1ae6037a92f5416d381fe311a3db1868d8"
#define ID_N01_ROOT	"d0c623c8e70c70d42a8a8125c44a8598588b3f6e31d5c21a83cbc338dfde8a68"
#define ID_N03_ROOT	"f4eaf871a74aa3b3a0ff95cef2455a1e4d461639f5625418e76756fc5c948690"
#define ID_ALPINE_ROOT	"c15164663f80d58bf3d8d5a0cd08b8086cba02065feb00421fc2a5436c563210"
#define ID_BUSYBOX_ROOT	"70eb123c834fd4d2a591fc9a50f4a6d26598fb64a2f37a845296ebbcceae5e24"
#define ID_REPO_V3	"3ec92bbb58626a18a2df5feccb83a71842d55f7e2a955373b933b9efe9073ea9"

static struct trust_pins
pin(enum trust_pin_kind kind, const char *const *ids, size_t n)
{
	struct trust_pins p;

	memset(&p, 0, sizeof(p));
	p.kind = kind;
	p.ids = ids;
	p.nids = n;
	return p;
}

static const char *
set(const char *name)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s", unit_fixture("sets/"));
	strncat(buf, name, sizeof(buf) - strlen(buf) - 1);
	return buf;
}

static void
hex_of(const struct trust_target *t, char out[65])
{
	thex(t->sha256, 32, out);
}

/* Verify a set; on success look up tag and compare digest, size and role. */
static void
expect_tag(const char *setname, const char *gun, const struct trust_pins *p, time_t now,
    const char *tag, const char *hex, int64_t size, const char *role)
{
	struct trust_repo	*repo = NULL;
	struct trust_error	 err;
	struct trust_target	 t;
	char			 h[65];
	int			 rc;

	rc = trust_verify_dir(set(setname), gun, p, NULL, now, &repo, NULL, &err);
	if (rc != 0)
		unit_fail(__FILE__, __LINE__, "%s refused: %s: %s", setname,
		    trust_code_name(err.code), err.msg);
	rc = trust_repo_lookup_tag(repo, tag, &t, &err);
	if (rc == 0) {
		hex_of(&t, h);
		if (strcmp(h, hex) != 0 || t.length != size || strcmp(t.role, role) != 0) {
			char got[128];

			snprintf(got, sizeof(got), "%lld %s", (long long)t.length, t.role);
			trust_repo_free(repo);
			unit_fail(__FILE__, __LINE__, "%s:%s = %s %s", setname, tag, h, got);
		}
	}
	trust_repo_free(repo);
	if (rc != 0)
		unit_fail(__FILE__, __LINE__, "lookup %s: %s", tag, err.msg);
}

static struct trust_error
expect_refusal(const char *setname, const char *gun, const struct trust_pins *p,
    const struct trust_state *cached, time_t now, enum trust_code code)
{
	struct trust_repo	*repo = NULL;
	struct trust_error	 err;
	int			 rc;

	memset(&err, 0, sizeof(err));
	rc = trust_verify_dir(set(setname), gun, p, cached, now, &repo, NULL, &err);
	trust_repo_free(repo);
	if (rc == 0)
		unit_fail(__FILE__, __LINE__, "%s was accepted", setname);
	if (err.code != code)
		unit_fail(__FILE__, __LINE__, "%s: got %s (%s), expected %s", setname,
		    trust_code_name(err.code), err.msg, trust_code_name(code));
	return err;
}

UNIT_TEST(notary01_root_key_pin)
{
	const char *ids[] = { ID_N01_ROOT };
	struct trust_pins p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);

	expect_tag("notary01", "docker.com/notary0.1/samplerepo", &p, T_2026_11_22,
	    "LICENSE", "9395bac6fccb26bcb55efb083d1b4b0fe72a1c25f959f056c016120b3bb56a62",
	    11309, "targets");
}

UNIT_TEST(notary01_cert_id_pin)
{
	const char *ids[] = { "00", ID_N01_CERT };
	struct trust_pins p = pin(TRUST_PIN_CERT_IDS, ids, 2);

	expect_tag("notary01", "docker.com/notary0.1/samplerepo", &p, T_2026_11_22,
	    "LICENSE", "9395bac6fccb26bcb55efb083d1b4b0fe72a1c25f959f056c016120b3bb56a62",
	    11309, "targets");
}

UNIT_TEST(notary01_cert_id_in_root_keys_refused)
{
	const char *ids[] = { ID_N01_CERT };
	struct trust_pins p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);
	struct trust_error e;

	e = expect_refusal("notary01", "docker.com/notary0.1/samplerepo", &p, NULL,
	    T_2026_11_22, TRUST_E_VALIDATION);
	T_CONTAINS(e.msg, "unable to match any certificates to trust_pinning config");
}

UNIT_TEST(notary01_canonical_id_in_cert_ids_refused)
{
	const char *ids[] = { ID_N01_ROOT };
	struct trust_pins p = pin(TRUST_PIN_CERT_IDS, ids, 1);

	expect_refusal("notary01", "docker.com/notary0.1/samplerepo", &p, NULL,
	    T_2026_11_22, TRUST_E_VALIDATION);
}

UNIT_TEST(notary01_wrong_gun_refused)
{
	struct trust_pins p = pin(TRUST_PIN_NONE, NULL, 0);
	struct trust_error e;

	p.tofu = 1;
	e = expect_refusal("notary01", "docker.com/notary0.1/other", &p, NULL,
	    T_2026_11_22, TRUST_E_VALIDATION);
	T_CONTAINS(e.msg, "CN does not match");
}

UNIT_TEST(no_pin_no_tofu_refused)
{
	struct trust_pins p = pin(TRUST_PIN_NONE, NULL, 0);
	struct trust_error e;

	e = expect_refusal("notary01", "docker.com/notary0.1/samplerepo", &p, NULL,
	    T_2026_11_22, TRUST_E_VALIDATION);
	T_CONTAINS(e.msg, "invalid trust pinning specified");
}

UNIT_TEST(notary03_releases_rsapss_before_cert_expiry)
{
	const char *ids[] = { ID_N03_ROOT };
	struct trust_pins p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);

	expect_tag("notary03", "docker.com/notary0.3/tst", &p, T_2026_07_01, "hello",
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0,
	    "targets/releases");
}

UNIT_TEST(notary03_root_cert_expired)
{
	const char *ids[] = { ID_N03_ROOT };
	struct trust_pins p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);
	struct trust_error e;

	e = expect_refusal("notary03", "docker.com/notary0.3/tst", &p, NULL,
	    T_2026_08_01, TRUST_E_VALIDATION);
	T_CONTAINS(e.msg, "unable to retrieve valid leaf certificates");
}

UNIT_TEST(alpine_official_key)
{
	const char *ids[] = { ID_ALPINE_ROOT };
	struct trust_pins p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);

	expect_tag("alpine", "docker.io/library/alpine", &p, T_2018_08_01, "latest",
	    "7043076348bf5040220df6ad703798fd8593a0918d06d3ce30c6c93be117e430", 2029,
	    "targets");
}

UNIT_TEST(alpine_expired_today)
{
	const char *ids[] = { ID_ALPINE_ROOT };
	struct trust_pins p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);

	/* the root certificate expired 2025-08-08, before anything else is read */
	expect_refusal("alpine", "docker.io/library/alpine", &p, NULL, T_2026_11_22,
	    TRUST_E_VALIDATION);
}

UNIT_TEST(alpine_timestamp_expired)
{
	const char *ids[] = { ID_ALPINE_ROOT };
	struct trust_pins p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);
	struct trust_error e;

	e = expect_refusal("alpine", "docker.io/library/alpine", &p, NULL,
	    T_2018_08_01 + 5 * 86400, TRUST_E_EXPIRED);
	T_CONTAINS(e.msg, "timestamp expired at");
}

UNIT_TEST(busybox_good_pinned)
{
	const char *ids[] = { ID_BUSYBOX_ROOT };
	struct trust_pins p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);

	expect_tag("busybox-good", "dockertrusttest.docker.io/library/busybox", &p,
	    T_2018_09_01, "latest",
	    "91ef6c1c52b166be02645b8efee30d1ee65362024f7da41c404681561734c465",
	    527, "targets");
}

/*
 * Cache-only load (trust_verify_cached): the state a download left,
 * verified alone. busybox-good is the EE engine's fixture for
 * allow-expired-cached-trust-data: its timestamp expired 2018-09-26 while
 * the root certificate runs to 2028.
 */
#define T_2018_10_01	((time_t)1538352000)
#define BUSYBOX_GUN	"dockertrusttest.docker.io/library/busybox"
#define BUSYBOX_LATEST	"91ef6c1c52b166be02645b8efee30d1ee65362024f7da41c404681561734c465"

/* The state of busybox-good after a download at 2018-09-15. */
static struct trust_state *
busybox_state(const struct trust_pins *p)
{
	struct trust_repo	*repo = NULL;
	struct trust_state	*st = NULL;
	struct trust_error	 err;

	if (trust_verify_dir(set("busybox-good"), BUSYBOX_GUN, p, NULL, T_2018_09_01,
	    &repo, &st, &err) != 0)
		unit_fail(__FILE__, __LINE__, "busybox-good refused: %s", err.msg);
	trust_repo_free(repo);
	return st;
}

/* trust_verify_cached, then latest's digest, or the error code's name. */
static void
cached_latest(const struct trust_pins *p, const struct trust_state *st, time_t now,
    int allow_expired, char out[640])
{
	struct trust_repo	*repo = NULL;
	struct trust_error	 err;
	struct trust_target	 t;

	memset(&err, 0, sizeof(err));
	if (trust_verify_cached(BUSYBOX_GUN, p, st, now, allow_expired, &repo, &err) != 0)
		snprintf(out, 640, "%s: %s", trust_code_name(err.code), err.msg);
	else if (trust_repo_lookup_tag(repo, "latest", &t, &err) != 0)
		snprintf(out, 640, "lookup: %s", err.msg);
	else
		hex_of(&t, out);
	trust_repo_free(repo);
}

/* Unexpired, the state verifies alone; expired, only with allow_expired. */
UNIT_TEST(cached_state_verifies_alone)
{
	const char *ids[] = { ID_BUSYBOX_ROOT };
	struct trust_pins p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);
	struct trust_state *st = busybox_state(&p);
	char got[640];

	cached_latest(&p, st, T_2018_09_01, 0, got);
	T_EQ_STR(got, BUSYBOX_LATEST);
	cached_latest(&p, st, T_2018_10_01, 0, got);
	T_CONTAINS(got, "expired: ");
	T_CONTAINS(got, "timestamp expired at");
	cached_latest(&p, st, T_2018_10_01, 1, got);
	T_EQ_STR(got, BUSYBOX_LATEST);
	trust_state_free(st);
}

UNIT_TEST(cached_state_is_checked_like_a_download)
{
	const char *ids[] = { ID_BUSYBOX_ROOT }, *other[] = { ID_ALPINE_ROOT };
	struct trust_pins p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);
	struct trust_pins po = pin(TRUST_PIN_ROOT_KEYS, other, 1);
	struct trust_state *st = busybox_state(&p), *empty = trust_state_new();
	const uint8_t *b;
	uint8_t *copy;
	size_t len;
	char got[640];

	/* pins the cached root does not pass */
	cached_latest(&po, st, T_2018_10_01, 1, got);
	T_CONTAINS(got, "validation: ");
	/* nothing cached */
	cached_latest(&p, empty, T_2018_09_01, 1, got);
	T_CONTAINS(got, "no-trust-data: ");
	cached_latest(&p, NULL, T_2018_09_01, 1, got);
	T_CONTAINS(got, "no-trust-data: ");
	/* a changed byte in the cached targets: its hash no longer matches the snapshot */
	T_ASSERT((b = trust_state_get(st, "targets", &len)) != NULL);
	T_ASSERT((copy = malloc(len)) != NULL);
	memcpy(copy, b, len);
	copy[len / 2] ^= 0x01;
	T_ASSERT(trust_state_set(st, "targets", copy, len) == 0);
	free(copy);
	cached_latest(&p, st, T_2018_10_01, 1, got);
	T_CONTAINS(got, "checksum: ");
	trust_state_free(empty);
	trust_state_free(st);
}

UNIT_TEST(busybox_bad_root_refused)
{
	const char *ids[] = { ID_BUSYBOX_ROOT };
	struct trust_pins p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);
	struct trust_error e;

	e = expect_refusal("busybox-bad", "dockertrusttest.docker.io/library/busybox",
	    &p, NULL, T_2018_09_01, TRUST_E_VALIDATION);
	T_CONTAINS(e.msg, "unable to match any certificates");
}

UNIT_TEST(connaisseur_no_leaf_refused_under_pulled_gun)
{
	struct trust_pins p = pin(TRUST_PIN_NONE, NULL, 0);
	struct trust_error e;

	/* the leaf check comes before CN matching (notary01_wrong_gun_refused) */
	p.tofu = 1;
	e = expect_refusal("connaisseur", "docker.io/securesystemsengineering/sample",
	    &p, NULL, T_2026_11_22, TRUST_E_VALIDATION);
	T_CONTAINS(e.msg, "has no leaf (non-CA) x509 certificate");
}

UNIT_TEST(connaisseur_ca_leaf_refused)
{
	struct trust_pins p = pin(TRUST_PIN_NONE, NULL, 0);
	struct trust_error e;

	/* even under its own CN: the only root certificate is a CA, not a leaf */
	p.tofu = 1;
	e = expect_refusal("connaisseur", "securesystems.de", &p, NULL, T_2026_11_22,
	    TRUST_E_VALIDATION);
	T_CONTAINS(e.msg, "unable to retrieve valid leaf certificates");
}

UNIT_TEST(repo_releases_before_targets)
{
	const char *ids[] = { ID_REPO_V3 };
	struct trust_pins p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);

	expect_tag("test-repo", "docker.io/test/repo", &p, T_2026_11_22, "latest",
	    "9fe3ca260ff3d1fb39915ff47c75a38f5222bd6c6fda8e3eb9895db344f3ec20", 15,
	    "targets/releases");
	expect_tag("test-repo", "docker.io/test/repo", &p, T_2026_11_22, "v1",
	    "34f58ec994ca8f2dbeccd12f4df2dce2189b73e13dd34203958c459bdaf8306a", 15,
	    "targets");
}

UNIT_TEST(repo_required_roles_and_digest_lookup)
{
	const char		*ids[] = { ID_REPO_V3 };
	const char		*roles[] = { "targets/releases", "targets" };
	struct trust_pins	 p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);
	struct trust_repo	*repo = NULL;
	struct trust_error	 err;
	struct trust_target	 t;
	uint8_t			 d[32];
	char			 name[64];
	int			 a, b, c, e, f;

	T_ASSERT(trust_verify_dir(set("test-repo"), "docker.io/test/repo", &p, NULL,
	    T_2026_11_22, &repo, NULL, &err) == 0);
	/* targets and releases disagree on latest: a policy requiring both refuses */
	a = trust_repo_resolve(repo, "latest", roles, 2, &t, &err);
	b = err.code;
	/* requiring only targets gives targets' digest */
	c = trust_repo_resolve(repo, "latest", roles + 1, 1, &t, &err);
	e = memcmp(t.sha256, "\x8f\x16\x9e\xce", 4);
	thex_decode("34f58ec994ca8f2dbeccd12f4df2dce2189b73e13dd34203958c459bdaf8306a",
	    d, 32);
	f = trust_repo_lookup_digest(repo, d, &t, &err);
	snprintf(name, sizeof(name), "%s", f == 0 ? t.name : "");
	trust_repo_free(repo);
	T_EQ_INT(a, -1);
	T_EQ_INT(b, TRUST_E_ROLE_MISMATCH);
	T_EQ_INT(c, 0);
	T_EQ_INT(e, 0);
	T_EQ_INT(f, 0);
	T_EQ_STR(name, "v1");
}

/* A manual driver that records the paths the workflow asks for. */
static int
drive(const char *setname, const char *gun, const struct trust_pins *p,
    const struct trust_state *cached, time_t now, char *paths, size_t plen,
    struct trust_error *err)
{
	struct trust_update	*u = trust_update_new(gun, p, cached, now);
	struct trust_fetch	 f;
	enum trust_step		 s;
	char			 file[4096], name[600];
	uint8_t			*buf;
	size_t			 len, n;
	int			 rc;

	paths[0] = '\0';
	while ((s = trust_update_next(u, &f)) == TRUST_STEP_FETCH) {
		strncat(paths, f.path, plen - strlen(paths) - 1);
		strncat(paths, " ", plen - strlen(paths) - 1);
		snprintf(name, sizeof(name), "%s", f.path);
		n = strlen(name);
		if (n > 70 && name[n - 70] == '.')	/* role.<hex>.json -> role.json */
			memmove(name + n - 70, ".json", 6);
		snprintf(file, sizeof(file), "%s/%s", set(setname), name);
		if ((buf = unit_read(file, &len)) == NULL)
			trust_update_feed(u, 404, NULL, 0, NULL);
		else
			trust_update_feed(u, 200, buf, len, NULL);
		free(buf);
	}
	rc = s == TRUST_STEP_DONE ? 0 : -1;
	*err = *trust_update_error(u);
	trust_update_free(u);
	return rc;
}

UNIT_TEST(repo_rotation_chain_from_v1)
{
	const char		*ids[] = { ID_REPO_V3 };
	struct trust_pins	 p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);
	struct trust_state	*st = trust_state_new();
	struct trust_error	 err;
	uint8_t			*v1;
	size_t			 len;
	char			 paths[4096];
	int			 rc;

	/* a client that trusted root v1 (TOFU) must walk 2.root.json to v3 */
	v1 = unit_read(unit_fixture("sets/test-repo/1.root.json"), &len);
	T_ASSERT(v1 != NULL);
	T_ASSERT(trust_state_set(st, "root", v1, len) == 0);
	free(v1);
	p.kind = TRUST_PIN_NONE;
	p.tofu = 1;
	rc = drive("test-repo", "docker.io/test/repo", &p, st, T_2026_11_22, paths,
	    sizeof(paths), &err);
	trust_state_free(st);
	if (rc != 0)
		unit_fail(__FILE__, __LINE__, "%s: %s", trust_code_name(err.code), err.msg);
	T_CONTAINS(paths, "2.root.json");
	T_CONTAINS(paths, "timestamp.json");
}

UNIT_TEST(repo_rotation_pins_apply_to_new_root)
{
	const char		*ids[] = { "1111111111111111111111111111111111111111111111111111111111111111" };
	struct trust_pins	 p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);
	struct trust_state	*st = trust_state_new();
	struct trust_error	 err;
	uint8_t			*v1;
	size_t			 len;
	char			 paths[4096];
	int			 rc;

	/* pinned to a key that is not v3's: the rotated root is refused */
	v1 = unit_read(unit_fixture("sets/test-repo/1.root.json"), &len);
	T_ASSERT(v1 != NULL);
	T_ASSERT(trust_state_set(st, "root", v1, len) == 0);
	free(v1);
	rc = drive("test-repo", "docker.io/test/repo", &p, st, T_2026_11_22, paths,
	    sizeof(paths), &err);
	trust_state_free(st);
	T_EQ_INT(rc, -1);
	T_EQ_INT(err.code, TRUST_E_VALIDATION);
}

UNIT_TEST(repo_rotation_missing_intermediate_refused)
{
	struct trust_pins	 p = pin(TRUST_PIN_NONE, NULL, 0);
	struct trust_state	*st = trust_state_new();
	struct trust_repo	*repo = NULL;
	struct trust_error	 err;
	uint8_t			*v1;
	size_t			 len;
	char			 cmd[8192];
	const char		*dir = unit_tmpdir();
	int			 rc;

	/* the same repository without 2.root.json: v3 cannot be reached from v1 */
	snprintf(cmd, sizeof(cmd), "cp -rL '%s'/. '%s' && rm '%s/2.root.json'",
	    set("test-repo"), dir, dir);
	T_ASSERT(system(cmd) == 0);
	v1 = unit_read(unit_fixture("sets/test-repo/1.root.json"), &len);
	T_ASSERT(v1 != NULL);
	T_ASSERT(trust_state_set(st, "root", v1, len) == 0);
	free(v1);
	p.tofu = 1;
	rc = trust_verify_dir(dir, "docker.io/test/repo", &p, st, T_2026_11_22, &repo,
	    NULL, &err);
	trust_state_free(st);
	trust_repo_free(repo);
	T_EQ_INT(rc, -1);
	T_EQ_INT(err.code, TRUST_E_NOT_FOUND);
}

UNIT_TEST(rollback_floor_from_state)
{
	const char		*ids[] = { ID_REPO_V3 };
	struct trust_pins	 p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);
	struct trust_state	*st = trust_state_new();
	const char		*fake = "{\"signed\":{\"version\":999},\"signatures\":[]}";
	struct trust_error	 e;

	/* a state that trusted timestamp version 999 refuses the fixture's */
	T_ASSERT(trust_state_set(st, "timestamp", (const uint8_t *)fake, strlen(fake)) == 0);
	e = expect_refusal("test-repo", "docker.io/test/repo", &p, st, T_2026_11_22,
	    TRUST_E_LOW_VERSION);
	trust_state_free(st);
	T_CONTAINS(e.msg, "lower than current version 999");
}

UNIT_TEST(state_store_roundtrip_and_warm_update)
{
	const char		*ids[] = { ID_REPO_V3 };
	struct trust_pins	 p = pin(TRUST_PIN_ROOT_KEYS, ids, 1);
	struct trust_state	*st = NULL, *loaded = NULL;
	struct trust_repo	*repo = NULL;
	struct trust_error	 err;
	char			 paths[4096];
	const char		*dir = unit_tmpdir();
	const uint8_t		*a, *b;
	size_t			 al, bl;
	int			 rc1, rc2, rc3, same;

	rc1 = trust_verify_dir(set("test-repo"), "docker.io/test/repo", &p, NULL,
	    T_2026_11_22, &repo, &st, &err);
	trust_repo_free(repo);
	T_EQ_INT(rc1, 0);
	rc2 = trust_store_save(dir, "docker.io/test/repo", st, &err) |
	    trust_store_load(dir, "docker.io/test/repo", &loaded, &err);
	a = trust_state_get(st, "targets/releases", &al);
	b = trust_state_get(loaded, "targets/releases", &bl);
	same = a != NULL && b != NULL && al == bl && memcmp(a, b, al) == 0 &&
	    trust_state_count(st) == trust_state_count(loaded);
	/* warm: only timestamp.json is fetched, the rest matches the hashes */
	rc3 = drive("test-repo", "docker.io/test/repo", &p, loaded, T_2026_11_22, paths,
	    sizeof(paths), &err);
	if (rc3 != 0)
		printf("# warm update: %s: %s\n", trust_code_name(err.code), err.msg);
	trust_state_free(st);
	trust_state_free(loaded);
	T_EQ_INT(rc2, 0);
	T_ASSERT(same);
	T_EQ_INT(rc3, 0);
	T_EQ_STR(paths, "timestamp.json ");
}

/* inode of dir/name, or 0 */
static ino_t
inode_of(const char *dir, const char *name)
{
	char		path[4096];
	struct stat	st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 ? st.st_ino : 0;
}

UNIT_TEST(state_store_leaves_unchanged_files_alone)
{
	struct trust_state	*st = trust_state_new();
	struct trust_error	 err;
	char			 gdir[256];
	const char		*dir = unit_tmpdir();
	ino_t			 root1, ts1, root2, ts2, root3, ts3;
	int			 rc1, rc2, rc3;

	T_ASSERT(st != NULL);
	snprintf(gdir, sizeof(gdir), "%s/docker.io%%2Ftest%%2Frepo", dir);
	T_ASSERT(trust_state_set(st, "root", (const uint8_t *)"r1", 2) == 0);
	T_ASSERT(trust_state_set(st, "timestamp", (const uint8_t *)"t1", 2) == 0);
	rc1 = trust_store_save(dir, "docker.io/test/repo", st, &err);
	root1 = inode_of(gdir, "root.json");
	ts1 = inode_of(gdir, "timestamp.json");
	/* the same bytes again: nothing is replaced */
	rc2 = trust_store_save(dir, "docker.io/test/repo", st, &err);
	root2 = inode_of(gdir, "root.json");
	ts2 = inode_of(gdir, "timestamp.json");
	/* a new timestamp: only its file is replaced */
	T_ASSERT(trust_state_set(st, "timestamp", (const uint8_t *)"t2", 2) == 0);
	rc3 = trust_store_save(dir, "docker.io/test/repo", st, &err);
	root3 = inode_of(gdir, "root.json");
	ts3 = inode_of(gdir, "timestamp.json");
	trust_state_free(st);
	T_EQ_INT(rc1, 0);
	T_EQ_INT(rc2, 0);
	T_EQ_INT(rc3, 0);
	T_ASSERT(root1 != 0 && ts1 != 0);
	T_EQ_INT(root2, root1);
	T_EQ_INT(ts2, ts1);
	T_EQ_INT(root3, root1);
	T_ASSERT(ts3 != 0 && ts3 != ts1);
}

UNIT_TEST(state_store_too_many_role_files_named)
{
	struct trust_state	*loaded = NULL;
	struct trust_error	 err;
	char			 path[512];
	const char		*dir = unit_tmpdir();
	FILE			*f;
	int			 i, rc;

	snprintf(path, sizeof(path), "%s/docker.io%%2Ftest%%2Frepo", dir);
	T_ASSERT(mkdir(path, 0700) == 0);
	/* delegation files pile up: one more than a state may hold */
	for (i = 0; i < TRUST_MAX_DELEGATIONS + 4 + 1; i++) {
		snprintf(path, sizeof(path), "%s/docker.io%%2Ftest%%2Frepo/"
		    "targets%%2Fr%d.json", dir, i);
		T_ASSERT((f = fopen(path, "w")) != NULL);
		fputs("{}", f);
		fclose(f);
	}
	rc = trust_store_load(dir, "docker.io/test/repo", &loaded, &err);
	trust_state_free(loaded);
	T_EQ_INT(rc, -1);
	T_EQ_INT(err.code, TRUST_E_INTERNAL);
	T_CONTAINS(err.msg, "more than 260 role files");
}

UNIT_TEST(engine_wording)
{
	struct trust_error	e;
	char			buf[512];

	trust_seterr(&e, TRUST_E_NOT_FOUND, "x");
	trust_error_engine(&e, "docker.io/library/alpine", "3", buf, sizeof(buf));
	T_EQ_STR(buf, "no trust data available for repository docker.io/library/alpine.");
	trust_seterr(&e, TRUST_E_NO_TARGET, "x");
	trust_error_engine(&e, "docker.io/library/alpine", "3", buf, sizeof(buf));
	T_EQ_STR(buf, "no trust signature found for docker.io/library/alpine:3: "
	    "No valid trust data for 3");
	trust_seterr(&e, TRUST_E_THRESHOLD, "timestamp: too few");
	trust_error_engine(&e, "r", "3", buf, sizeof(buf));
	T_CONTAINS(buf, "potential malicious behavior - trust data has insufficient "
	    "signatures for remote repository r: timestamp: too few");
}

UNIT_TEST(ttime_parse_rules)
{
	time_t t;

	T_ASSERT(ttime_parse("2026-12-06T09:51:58.81967261Z", &t) == 0);
	T_EQ_INT(t, 1796550718);
	T_ASSERT(ttime_parse("2026-12-06T10:51:58+01:00", &t) == 0);
	T_EQ_INT(t, 1796550718);
	T_ASSERT(ttime_parse("2026-02-29T00:00:00Z", &t) == -1);
	T_ASSERT(ttime_parse("2026-12-06T09:51:58", &t) == -1);
	T_ASSERT(ttime_parse("2026-12-06T09:51:58Zjunk", &t) == -1);
	T_ASSERT(ttime_parse("2026-12-06 09:51:58Z", &t) == -1);
}
