/*
 * The trust policy: pin precedence as the EE engine resolves it through
 * notary PR #1496 (dct-semantics.md 1.3), the official-library-images
 * merge, repositories rules, GUN rewrite and registry lookup.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "tests/unit.h"

struct config	*cfgt_load(const char *json, struct config_errors *errs);
struct config	*cfgt_load_frag(const char *frag, struct config_errors *errs);
const char	*cfgt_ca(void);

#define A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define DOI "c15164663f80d58bf3d8d5a0cd08b8086cba02065feb00421fc2a5436c563210"

static struct config *
load(const char *frag)
{
	struct config_errors	errs;
	struct config		*cfg = cfgt_load_frag(frag, &errs);

	if (cfg == NULL)
		unit_fail(__FILE__, __LINE__, "config did not load: %s",
		    errs.n ? errs.msgs[0].msg : "?");
	return cfg;
}

/* Policy of gun; fails the test if it cannot be computed. */
static struct config_policy
pol(const struct config *cfg, const char *gun)
{
	struct config_policy p;

	if (config_policy_for(cfg, gun, &p) != 0)
		unit_fail(__FILE__, __LINE__, "policy for %s: %s", gun, p.explain);
	return p;
}

/* 1 if the policy pins exactly the one ID id. */
static int
pins_one(const struct config_policy *p, const char *id)
{
	return p->pins.nids == 1 && strcmp(p->pins.ids[0], id) == 0;
}

UNIT_TEST(policy_exact_beats_wildcard)
{
	/* ee verify_test.go: docker.io wildcard [good] + docker.io/trust ["hello"] fails */
	struct config		*cfg = load("\"content-trust\": {\"mode\": \"enforced\", "
	    "\"trust-pinning\": {\"root-keys\": {\"docker.io/*\": [\"" A "\"], "
	    "\"docker.io/trust\": [\"" B "\"]}}}");
	struct config_policy	 p = pol(cfg, "docker.io/trust"), q = pol(cfg, "docker.io/other");

	T_EQ_INT(p.pins.kind, TRUST_PIN_ROOT_KEYS);
	T_EQ_INT(p.pin_source, CONFIG_PIN_SRC_ROOT_KEYS_EXACT);
	T_ASSERT(pins_one(&p, B));
	T_EQ_STR(p.explain, "root-keys[\"docker.io/trust\"] (exact)");
	T_EQ_INT(q.pin_source, CONFIG_PIN_SRC_ROOT_KEYS_WILDCARD);
	T_ASSERT(pins_one(&q, A));
	T_EQ_STR(q.explain, "root-keys[\"docker.io/*\"] (wildcard)");
	config_free(cfg);
}

UNIT_TEST(policy_longest_wildcard_wins_lists_not_merged)
{
	struct config *cfg = load("\"content-trust\": {\"trust-pinning\": {"
	    "\"root-keys\": {\"docker.io/*\": [\"" A "\"], "
	    "\"docker.io/library/*\": [\"" C "\"], \"docker.io/lib*\": [\"" B "\"]}}}");
	struct config_policy p1 = pol(cfg, "docker.io/library/alpine");
	struct config_policy p2 = pol(cfg, "docker.io/libfoo/x");
	struct config_policy p3 = pol(cfg, "docker.io/acme/x");

	T_ASSERT(pins_one(&p1, C));
	T_EQ_STR(p1.pin_key, "docker.io/library/*");
	T_ASSERT(pins_one(&p2, B));
	T_ASSERT(pins_one(&p3, A));
	config_free(cfg);
}

UNIT_TEST(policy_star_is_catch_all_and_prefix_is_plain)
{
	struct config *cfg = load("\"content-trust\": {\"trust-pinning\": {"
	    "\"root-keys\": {\"*\": [\"" A "\"], \"docker.com/*\": [\"" B "\"]}}}");
	struct config_policy p1 = pol(cfg, "docker.io/trust");
	struct config_policy p2 = pol(cfg, "registry.example.com:5000/x/y");
	struct config_policy p3 = pol(cfg, "docker.com/notary");

	/* a docker.com/ wildcard does not match docker.io/trust (ee verify_test.go) */
	T_ASSERT(pins_one(&p1, A));
	T_EQ_STR(p1.pin_key, "*");
	T_ASSERT(pins_one(&p2, A));
	T_ASSERT(pins_one(&p3, B));
	config_free(cfg);
}

UNIT_TEST(policy_cert_ids_take_precedence_without_fallback)
{
	/*
	 * notary-pr1496 "should fail even though the correct KeyID is
	 * provided, because there is an invalid cert ID which takes
	 * precedence": only the cert-ids list is handed to trust/.
	 */
	struct config *cfg = load("\"content-trust\": {\"trust-pinning\": {"
	    "\"root-keys\": {\"docker.io/library/alpine\": [\"" A "\"]}, "
	    "\"cert-ids\": {\"docker.io/library/alpine\": [\"" B "\"], "
	    "\"docker.io/*\": [\"" C "\"]}}}");
	struct config_policy p1 = pol(cfg, "docker.io/library/alpine");
	struct config_policy p2 = pol(cfg, "docker.io/acme/x");

	T_EQ_INT(p1.pins.kind, TRUST_PIN_CERT_IDS);
	T_EQ_INT(p1.pin_source, CONFIG_PIN_SRC_CERT_IDS_EXACT);
	T_ASSERT(pins_one(&p1, B));
	T_EQ_STR(p1.explain, "cert-ids[\"docker.io/library/alpine\"] (exact)");
	/* a cert-ids wildcard still comes before a root-keys exact match */
	T_EQ_INT(p2.pins.kind, TRUST_PIN_CERT_IDS);
	T_EQ_INT(p2.pin_source, CONFIG_PIN_SRC_CERT_IDS_WILDCARD);
	T_ASSERT(pins_one(&p2, C));
	config_free(cfg);
}

UNIT_TEST(policy_cert_ids_wildcard_beats_root_keys_exact)
{
	struct config *cfg = load("\"content-trust\": {\"trust-pinning\": {"
	    "\"root-keys\": {\"docker.io/trust\": [\"" A "\"]}, "
	    "\"cert-ids\": {\"docker.io/*\": [\"" B "\"]}}}");
	struct config_policy p = pol(cfg, "docker.io/trust");

	T_EQ_INT(p.pins.kind, TRUST_PIN_CERT_IDS);
	T_ASSERT(pins_one(&p, B));
	config_free(cfg);
}

UNIT_TEST(policy_official_list_merged)
{
	struct config *cfg = load("\"content-trust\": {\"mode\": \"enforced\", "
	    "\"trust-pinning\": {\"official-library-images\": true}}");
	struct config_policy p1 = pol(cfg, "docker.io/library/alpine");
	struct config_policy p2 = pol(cfg, "docker.io/acme/app");
	size_t i, hit = 0;

	T_EQ_INT(cfg->content_trust.nroot_keys, 1);
	T_EQ_INT(cfg->content_trust.root_keys[0].official, 1);
	T_EQ_INT(p1.pins.kind, TRUST_PIN_ROOT_KEYS);
	T_EQ_INT(p1.pin_source, CONFIG_PIN_SRC_OFFICIAL);
	T_EQ_INT(p1.pins.nids, 19);
	for (i = 0; i < p1.pins.nids; i++)
		hit += strcmp(p1.pins.ids[i], DOI) == 0;
	T_EQ_INT(hit, 1);
	T_EQ_STR(p1.explain, "root-keys[\"docker.io/library/*\"] (official-library-images)");
	T_EQ_INT(p2.pins.kind, TRUST_PIN_NONE);
	T_EQ_INT(p2.pins.tofu, 0);
	T_CONTAINS(p2.explain, "invalid trust pinning specified");
	config_free(cfg);
}

UNIT_TEST(policy_official_overridden_by_more_specific_user_key)
{
	struct config *cfg = load("\"content-trust\": {\"trust-pinning\": {"
	    "\"official-library-images\": true, "
	    "\"root-keys\": {\"docker.io/library/alpine\": [\"" A "\"]}}}");
	struct config_policy p1 = pol(cfg, "docker.io/library/alpine");
	struct config_policy p2 = pol(cfg, "docker.io/library/nginx");

	T_ASSERT(pins_one(&p1, A));
	T_EQ_INT(p1.pin_source, CONFIG_PIN_SRC_ROOT_KEYS_EXACT);
	T_EQ_INT(p2.pin_source, CONFIG_PIN_SRC_OFFICIAL);
	T_EQ_INT(p2.pins.nids, 19);
	config_free(cfg);
}

UNIT_TEST(policy_official_replaced_by_same_key)
{
	struct config *cfg = load("\"content-trust\": {\"trust-pinning\": {"
	    "\"official-library-images\": true, "
	    "\"root-keys\": {\"docker.io/library/*\": [\"" A "\", \"" B "\"]}}}");
	struct config_policy p = pol(cfg, "docker.io/library/alpine");

	T_EQ_INT(cfg->content_trust.nroot_keys, 1);
	T_EQ_INT(p.pins.nids, 2);
	T_EQ_STR(p.pins.ids[0], A);
	T_EQ_STR(p.pins.ids[1], B);
	T_EQ_INT(p.pin_source, CONFIG_PIN_SRC_ROOT_KEYS_WILDCARD);
	config_free(cfg);
}

UNIT_TEST(policy_official_not_overridden_by_less_specific_key)
{
	struct config *cfg = load("\"content-trust\": {\"trust-pinning\": {"
	    "\"official-library-images\": true, "
	    "\"root-keys\": {\"docker.io/*\": [\"" A "\"], \"*\": [\"" B "\"]}}}");
	struct config_policy p1 = pol(cfg, "docker.io/library/alpine");
	struct config_policy p2 = pol(cfg, "docker.io/acme/x");
	struct config_policy p3 = pol(cfg, "quay.io/x/y");

	T_EQ_INT(p1.pin_source, CONFIG_PIN_SRC_OFFICIAL);
	T_EQ_INT(p1.pins.nids, 19);
	T_ASSERT(pins_one(&p2, A));
	T_ASSERT(pins_one(&p3, B));
	config_free(cfg);
}

UNIT_TEST(policy_official_false_adds_nothing)
{
	struct config *cfg = load("\"content-trust\": {\"trust-pinning\": {"
	    "\"official-library-images\": false, "
	    "\"root-keys\": {\"docker.io/acme/*\": [\"" A "\"]}}}");
	struct config_policy p = pol(cfg, "docker.io/library/alpine");

	T_EQ_INT(p.pins.kind, TRUST_PIN_NONE);
	T_EQ_INT(p.pin_source, CONFIG_PIN_SRC_NONE);
	config_free(cfg);
}

UNIT_TEST(policy_rule_ca_after_pins)
{
	char			frag[2048];
	struct config		*cfg;
	struct config_policy	 p1, p2;

	snprintf(frag, sizeof(frag), "\"content-trust\": {\"trust-pinning\": {"
	    "\"root-keys\": {\"docker.io/acme/pinned\": [\"" A "\"]}}},"
	    "\"repositories\": [{\"match\": \"docker.io/acme/*\", \"ca\": \"%s\"}]",
	    cfgt_ca());
	cfg = load(frag);
	p1 = pol(cfg, "docker.io/acme/app");
	p2 = pol(cfg, "docker.io/acme/pinned");
	T_EQ_INT(p1.pins.kind, TRUST_PIN_CA);
	T_EQ_INT(p1.pin_source, CONFIG_PIN_SRC_RULE_CA);
	T_ASSERT(p1.pins.ca_pem != NULL && p1.pins.ca_len > 0);
	T_EQ_INT(p1.rule_index, 0);
	T_EQ_STR(p1.ca_file, cfgt_ca());
	T_CONTAINS(p1.explain, "repositories[0] \"docker.io/acme/*\" (wildcard): ca ");
	/* root-keys come first (notary: Cert ID, Key ID, CA, TOFU) */
	T_EQ_INT(p2.pins.kind, TRUST_PIN_ROOT_KEYS);
	T_ASSERT(pins_one(&p2, A));
	T_EQ_INT(p2.rule_index, 0);
	config_free(cfg);
}

UNIT_TEST(policy_rule_tofu_and_nothing)
{
	struct config *cfg = load("\"content-trust\": {\"trust-pinning\": {"
	    "\"root-keys\": {\"docker.io/library/*\": [\"" A "\"]}}},"
	    "\"repositories\": [{\"match\": \"docker.io/sandbox/*\", \"tofu\": true}]");
	struct config_policy p1 = pol(cfg, "docker.io/sandbox/x");
	struct config_policy p2 = pol(cfg, "docker.io/prod/x");

	T_EQ_INT(p1.pins.kind, TRUST_PIN_NONE);
	T_EQ_INT(p1.pins.tofu, 1);
	T_EQ_INT(p1.pin_source, CONFIG_PIN_SRC_RULE_TOFU);
	T_CONTAINS(p1.explain, "tofu");
	T_EQ_INT(p2.pins.kind, TRUST_PIN_NONE);
	T_EQ_INT(p2.pins.tofu, 0);
	T_EQ_INT(p2.rule_index, -1);
	T_EQ_STR(p2.explain, "no cert-ids, root-keys or repositories ca/tofu matches "
	    "docker.io/prod/x: invalid trust pinning specified");
	config_free(cfg);
}

/* Every policy carries its pins' key, computed at load: equal pins, equal keys. */
UNIT_TEST(policy_pins_key_set_once_at_load)
{
	struct config		*cfg, *cfg2;
	struct config_policy	 p[6], q;
	char			 frag[1024], k[CONFIG_PINS_KEY_LEN];
	size_t			 i, j;

	snprintf(frag, sizeof(frag), "\"content-trust\": {\"trust-pinning\": {"
	    "\"root-keys\": {\"docker.io/rk/*\": [\"" A "\"]},"
	    "\"cert-ids\": {\"docker.io/ci/*\": [\"" A "\"]}}},"
	    "\"repositories\": [{\"match\": \"docker.io/ca/*\", \"ca\": \"%s\"},"
	    "{\"match\": \"docker.io/tofu/*\", \"tofu\": true}]", cfgt_ca());
	cfg = load(frag);
	p[0] = pol(cfg, "docker.io/rk/x");
	p[1] = pol(cfg, "docker.io/ci/x");	/* same ID, other kind */
	p[2] = pol(cfg, "docker.io/ca/x");
	p[3] = pol(cfg, "docker.io/tofu/x");
	p[4] = pol(cfg, "docker.io/none/x");
	p[5] = pol(cfg, "docker.io/rk/y");	/* same entry as p[0] */
	for (i = 0; i < 6; i++) {
		T_ASSERT(p[i].pins.key != NULL && strlen(p[i].pins.key) == 64);
		T_EQ_INT(config_pins_key(&p[i].pins, k), 0);
		T_EQ_STR(p[i].pins.key, k);
	}
	for (i = 0; i < 5; i++)
		for (j = i + 1; j < 5; j++)
			T_ASSERT(strcmp(p[i].pins.key, p[j].pins.key) != 0);
	T_ASSERT(p[0].pins.key == p[5].pins.key);	/* no per-request work */
	/* the same pins in a reloaded config: the same key */
	cfg2 = load(frag);
	q = pol(cfg2, "docker.io/rk/x");
	T_EQ_STR(q.pins.key, p[0].pins.key);
	config_free(cfg2);
	config_free(cfg);
}

UNIT_TEST(policy_rule_matching_one_rule_never_merged)
{
	struct config *cfg = load("\"content-trust\": {\"mode\": \"enforced\", "
	    "\"trust-pinning\": {\"root-keys\": {\"x.io/pinned\": [\"" A "\"]}}},"
	    "\"repositories\": ["
	    "{\"match\": \"*\", \"tofu\": true, \"allow_unsigned\": true},"
	    "{\"match\": \"docker.io/acme/*\", \"mode\": \"permissive\", "
	    "  \"required_roles\": [\"targets/releases\", \"targets/security\"]},"
	    "{\"match\": \"docker.io/acme/app\", \"mode\": \"disabled\"},"
	    "{\"match\": \"docker.io/a*\", \"mode\": \"enforced\"}]");
	struct config_policy p0 = pol(cfg, "quay.io/any/thing");
	struct config_policy p1 = pol(cfg, "docker.io/acme/web");
	struct config_policy p2 = pol(cfg, "docker.io/acme/app");
	struct config_policy p3 = pol(cfg, "docker.io/alpha/x");

	T_EQ_INT(p0.rule_index, 0);
	T_EQ_INT(p0.pins.tofu, 1);
	T_EQ_INT(p0.allow_unsigned, 1);
	T_EQ_INT(p0.mode, CONFIG_MODE_ENFORCED);
	T_EQ_STR(p0.mode_from, "content-trust.mode");
	/* longest wildcard; the "*" rule's tofu and allow_unsigned are not inherited */
	T_EQ_INT(p1.rule_index, 1);
	T_EQ_INT(p1.mode, CONFIG_MODE_PERMISSIVE);
	T_EQ_STR(p1.mode_from, "repositories rule");
	T_EQ_INT(p1.pins.tofu, 0);
	T_EQ_INT(p1.allow_unsigned, 0);
	T_EQ_INT(p1.nrequired_roles, 2);
	T_EQ_STR(p1.required_roles[0], "targets/releases");
	T_EQ_STR(p1.required_roles[1], "targets/security");
	/* exact beats wildcard */
	T_EQ_INT(p2.rule_index, 2);
	T_EQ_INT(p2.mode, CONFIG_MODE_DISABLED);
	T_EQ_INT(p2.nrequired_roles, 0);
	T_EQ_INT(p3.rule_index, 3);
	T_EQ_INT(p3.mode, CONFIG_MODE_ENFORCED);
	config_free(cfg);
}

UNIT_TEST(policy_mode_sources_and_expired_cache)
{
	struct config *c1 = load("\"content-trust\": {\"mode\": \"permissive\", "
	    "\"allow-expired-cached-trust-data\": true, "
	    "\"trust-pinning\": {\"root-keys\": {\"*\": [\"" A "\"]}}}");
	struct config *c2 = load("\"content-trust\": {"
	    "\"trust-pinning\": {\"root-keys\": {\"*\": [\"" A "\"]}}}");
	struct config *c3 = load("\"repositories\": [{\"match\": \"*\", \"tofu\": true}]");
	struct config_policy p1 = pol(c1, "docker.io/library/alpine");
	struct config_policy p2 = pol(c2, "docker.io/library/alpine");
	struct config_policy p3 = pol(c3, "docker.io/library/alpine");

	T_EQ_INT(p1.mode, CONFIG_MODE_PERMISSIVE);
	T_EQ_INT(p1.allow_expired_cache, 1);
	T_EQ_INT(p2.mode, CONFIG_MODE_ENFORCED);
	T_CONTAINS(p2.mode_from, "omitted");
	T_EQ_INT(p2.allow_expired_cache, 0);
	T_EQ_INT(p3.mode, CONFIG_MODE_ENFORCED);
	T_CONTAINS(p3.mode_from, "no content-trust block");
	config_free(c1);
	config_free(c2);
	config_free(c3);
}

UNIT_TEST(policy_rejects_invalid_gun)
{
	struct config		*cfg = load("\"repositories\": [{\"match\": \"*\", \"tofu\": true}]");
	struct config_policy	 p;
	char			 big[400];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	T_EQ_INT(config_policy_for(cfg, "", &p), -1);
	T_EQ_INT(config_policy_for(cfg, "docker.io//x", &p), -1);
	T_EQ_INT(config_policy_for(cfg, "docker.io/x y", &p), -1);
	T_EQ_INT(config_policy_for(cfg, big, &p), -1);
	T_CONTAINS(p.explain, "not a valid GUN");
	T_EQ_INT(config_policy_for(cfg, "docker.io/x/y", &p), 0);
	config_free(cfg);
}

UNIT_TEST(registry_for_host_gateway_and_mirror)
{
	struct config			*cfg = load("");
	const struct config_registry	*r;

	r = config_registry_for_host(cfg, "registry.example.com:5000");
	T_ASSERT(r != NULL);
	T_EQ_STR(r->name, "registry.example.com:5000");
	r = config_registry_for_host(cfg, "REGISTRY.Example.COM:5000");
	T_ASSERT(r != NULL && r->mirror == 0);
	/* port-exact: another port, or none, is not this registry: the mirror */
	r = config_registry_for_host(cfg, "registry.example.com");
	T_ASSERT(r != NULL && r->mirror);
	r = config_registry_for_host(cfg, "registry.example.com:5001");
	T_ASSERT(r != NULL && r->mirror);
	r = config_registry_for_host(cfg, NULL);
	T_ASSERT(r != NULL && r->mirror);
	T_EQ_STR(r->name, "docker.io");
	config_free(cfg);
}

UNIT_TEST(registry_for_host_without_mirror)
{
	struct config_errors		 errs;
	struct config			*cfg;

	cfg = cfgt_load("{\"listeners\": [{\"address\": \"127.0.0.1:5000\"}],"
	    "\"registries\": [{\"name\": \"reg.local:5000\", \"upstream\": "
	    "\"http://127.0.0.1:5001\", \"notary\": {\"url\": \"http://127.0.0.1:4443\"}}],"
	    "\"repositories\": [{\"match\": \"*\", \"tofu\": true}]}", &errs);
	T_ASSERT(cfg != NULL);
	T_ASSERT(config_registry_for_host(cfg, "reg.local:5000") != NULL);
	T_ASSERT(config_registry_for_host(cfg, "other:5000") == NULL);
	T_ASSERT(config_registry_for_host(cfg, NULL) == NULL);
	config_free(cfg);
}

UNIT_TEST(gun_rewrite)
{
	struct config			*cfg = load("");
	const struct config_registry	*mirror = config_registry_for_host(cfg, "docker.io");
	const struct config_registry	*gw = config_registry_for_host(cfg,
					    "registry.example.com:5000");
	char				 buf[300], small[16], repo[300];

	T_EQ_INT(config_gun(mirror, "library/alpine", buf, sizeof(buf)), 0);
	T_EQ_STR(buf, "docker.io/library/alpine");
	T_EQ_INT(config_gun(gw, "team/app", buf, sizeof(buf)), 0);
	T_EQ_STR(buf, "notary.example.com/mirror/team/app");
	T_EQ_INT(config_gun(gw, "Team/app", buf, sizeof(buf)), -1);
	T_EQ_STR(buf, "");
	T_EQ_INT(config_gun(gw, "team//app", buf, sizeof(buf)), -1);
	T_EQ_INT(config_gun(gw, "../x", buf, sizeof(buf)), -1);
	T_EQ_INT(config_gun(mirror, "library/alpine", small, sizeof(small)), -1);
	T_EQ_STR(small, "");
	/* the GUN cap (TRUST_MAX_GUN_LEN) holds whatever the buffer size */
	memset(repo, 'a', 250);
	repo[250] = '\0';
	T_EQ_INT(config_gun(mirror, repo, buf, sizeof(buf)), -1);
	config_free(cfg);
}

UNIT_TEST(push_patterns)
{
	struct config_errors		 errs;
	struct config			*cfg;
	const struct config_registry	*r;

	cfg = cfgt_load("{\"listeners\": [{\"address\": \"127.0.0.1:5000\"}],"
	    "\"registries\": [{\"name\": \"reg.local\", \"upstream\": "
	    "\"http://127.0.0.1:5001\", \"notary\": {\"url\": \"http://127.0.0.1:4443\"},"
	    "\"allow_push\": [\"team/*\", \"ci/builder\"]}],"
	    "\"repositories\": [{\"match\": \"*\", \"tofu\": true}]}", &errs);
	T_ASSERT(cfg != NULL);
	r = &cfg->registries[0];
	T_EQ_INT(r->nallow_push, 2);
	T_EQ_INT(config_push_allowed(r, "team/app"), 1);
	T_EQ_INT(config_push_allowed(r, "team/a/b"), 1);
	T_EQ_INT(config_push_allowed(r, "ci/builder"), 1);
	T_EQ_INT(config_push_allowed(r, "ci/builder2"), 0);
	T_EQ_INT(config_push_allowed(r, "teams/app"), 0);
	T_EQ_INT(config_push_allowed(r, "team//x"), 0);
	config_free(cfg);
}

UNIT_TEST(refcount_keeps_old_config_alive)
{
	struct config		*cfg = load("\"repositories\": [{\"match\": \"*\", \"tofu\": true}]");
	struct config		*held = config_ref(cfg);
	struct config_policy	 p;

	T_ASSERT(held == cfg);
	config_free(cfg);		/* the server's reference, dropped on reload */
	T_EQ_INT(config_policy_for(held, "docker.io/x/y", &p), 0);	/* still valid */
	T_EQ_INT(p.pins.tofu, 1);
	config_free(held);		/* the request's reference: freed now */
	config_free(NULL);
}
