/*
 * config/policy.c: from a loaded config and a GUN to the effective trust
 * policy; registry lookup by Host; GUN construction.
 *
 * Pure functions over an immutable config: no allocation, no I/O, safe to
 * call concurrently. The pinning precedence is notary PR #1496's
 * NewTrustPinChecker as the Docker EE engine calls it (dct-semantics.md
 * 1.3): cert-ids, then root-keys, then (our extension, standing in for
 * notary's "ca" map which the engine does not expose) a repositories
 * rule's CA, then its TOFU. The engine always disables TOFU; we allow it
 * only where a rule says so.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"

/*
 * ee: daemon/trust/doi_root_keys.go (dct-semantics.md Appendix A): the
 * canonical root key IDs of the Docker Official Images, pinned under the
 * root-keys wildcard key for docker.io/library/ when
 * "official-library-images" is true.
 */
const char *const config_official_root_keys[] = {
	"00981ccd5e43972e8885e6363a0318d9a02cab371311cd23ffd459c4731b9530", /* rapidoid */
	"1036f959981fdbc94bd617d34e6ca72749b64b7acf0e5c9b856400d77c2a233e", /* emqx */
	"178c56227f727505bc3181c7fd33af583a6bd5dabdec6c9b3b2faa104386168a", /* open-liberty, rust */
	"26488584f9b21efa90d15e8865c6fa22876e1b3bfc87ec79ba0d7e8aad720a03", /* hitch, matomo, ... */
	"2f1e6afeea89d56c92ed39ce661f6b29d93b20a1f1b082bc18ff0913b6bb73b5", /* api-firewall, teamspeak */
	"35ecc5282ec9e9571910bd6fddd7e3b676ef3a480011b4d6e2e7a9ba9d1af1c7", /* amazoncorretto, ... */
	"487731f3a9ef2a094d456b37ea7880def4ced3de6f7876ed6258527ac35bcca2", /* caddy, flink, ... */
	"5a740b368b3b71088472e55d17e3a9e7e4bc9ef338bbf3fff3b8475911d803f7", /* adminer */
	"6e6beebc7346e7e7320166407b940f4283c8acb0c4940fac8c6f5c0b8dbcf3bb", /* dart, spark, swipl */
	"8530a0b0ff0d2c4db50c990faa9ba15d3593292f66312df1cb510a769388ccfa", /* nextcloud, node, ... */
	"93a7bb6c0b1e5c74a141f6e4612e6f2cca1c5e29ce86fd70c61ab2b302ac5275", /* almalinux, fluentd, ... */
	"99185eb2ab3ccb10f8fa9f354c8c6e7bae8101c4a01dc4021e7a0446e17a50ae", /* clefos, swift, ... */
	"993134909608be52c5d833a9c6fd4626dc5b78502b4bf74bfc9bc62d290f18a0", /* znc */
	"ac05a3f109ffedf8460a16f287747b04a3db877603a259a31b6ac55cd2b4ff50", /* haxe */
	"b4147b452cbb17b56eeaca3600244082bb73b2a82f986c8d549eee92baa360a1", /* geonetwork, sapmachine */
	"c15164663f80d58bf3d8d5a0cd08b8086cba02065feb00421fc2a5436c563210", /* alpine, busybox, ... */
	"c6faa6d9c53edc26a372c20875f24407584674b834c719aca8c2a781a3fab49d", /* archlinux, ... */
	"ee3512f3b31a4a2ac723f31acf1850c1e4a0da124766a3e89c474af6b5c828eb", /* mediawiki */
	"ee3aafa9fec9d3e458dcf56e025e5ebdc99183bd82cbe812d0d55853adc85ff1", /* alt, sl, xwiki */
};
const size_t config_official_nroot_keys =
    sizeof(config_official_root_keys) / sizeof(config_official_root_keys[0]);

const char *
config_mode_name(enum config_mode m)
{
	switch (m) {
	case CONFIG_MODE_DISABLED:	return "disabled";
	case CONFIG_MODE_PERMISSIVE:	return "permissive";
	case CONFIG_MODE_ENFORCED:	return "enforced";
	}
	return "unknown";
}

/*
 * The entry of ents whose key matches gun most specifically: the exact
 * key, else the longest trailing-'*' prefix (notary wildcardMatch). Lists
 * are never merged. *score receives config_pattern_match()'s value.
 */
static const struct config_pin_entry *
best_pin(const struct config_pin_entry *ents, size_t n, const char *gun, size_t *score)
{
	const struct config_pin_entry	*best = NULL;
	size_t				 i, s;

	*score = 0;
	for (i = 0; i < n; i++)
		if ((s = config_pattern_match(ents[i].key, gun)) > *score) {
			*score = s;
			best = &ents[i];
		}
	return best;
}

static const struct config_rule *
best_rule(const struct config *cfg, const char *gun, int *index, size_t *score)
{
	const struct config_rule	*best = NULL;
	size_t				 i, s;

	*score = 0;
	*index = -1;
	for (i = 0; i < cfg->nrules; i++)
		if (cfg->rules[i].match != NULL &&
		    (s = config_pattern_match(cfg->rules[i].match, gun)) > *score) {
			*score = s;
			best = &cfg->rules[i];
			*index = (int)i;
		}
	return best;
}

int
config_policy_for(const struct config *cfg, const char *gun, struct config_policy *out)
{
	const struct config_content_trust	*ct = &cfg->content_trust;
	const struct config_pin_entry		*e;
	const struct config_rule		*r;
	size_t					 score, rscore;

	memset(out, 0, sizeof(*out));
	out->rule_index = -1;
	out->mode = ct->mode;
	out->pins.kind = TRUST_PIN_NONE;
	out->pins.key = cfg->unpinned_key;
	if (gun == NULL || !config_gun_valid(gun)) {
		snprintf(out->explain, sizeof(out->explain),
		    "\"%.200s\" is not a valid GUN", gun ? gun : "(null)");
		return -1;
	}

	/* The repositories rule: one, the most specific; never merged. */
	r = best_rule(cfg, gun, &out->rule_index, &rscore);
	out->rule = r;
	if (r != NULL && r->has_mode) {
		out->mode = r->mode;
		out->mode_from = "repositories rule";
	} else if (ct->mode_present)
		out->mode_from = "content-trust.mode";
	else if (ct->present)
		out->mode_from = "content-trust.mode omitted (treated as enforced)";
	else
		out->mode_from = "no content-trust block (treated as enforced)";
	out->allow_expired_cache = ct->allow_expired_cached_trust_data;
	if (r != NULL) {
		out->allow_unsigned = r->has_allow_unsigned ? r->allow_unsigned : 0;
		out->required_roles = r->required_roles;
		out->nrequired_roles = r->nrequired_roles;
	}

	/*
	 * Pinning, one mechanism per GUN (notary PR #1496 NewTrustPinChecker:
	 * "1. Cert ID 2. Key ID 3. CA 4. TOFU"). A matching cert-ids entry is
	 * used even if it will fail and root-keys would have succeeded.
	 */
	if ((e = best_pin(ct->cert_ids, ct->ncert_ids, gun, &score)) != NULL) {
		out->pins.kind = TRUST_PIN_CERT_IDS;
		out->pins.ids = e->ids;
		out->pins.nids = e->nids;
		out->pins.key = e->pins_key;
		out->pin_key = e->key;
		out->pin_source = score == SIZE_MAX ? CONFIG_PIN_SRC_CERT_IDS_EXACT :
		    CONFIG_PIN_SRC_CERT_IDS_WILDCARD;
		snprintf(out->explain, sizeof(out->explain), "cert-ids[\"%s\"] (%s)",
		    e->key, score == SIZE_MAX ? "exact" : "wildcard");
	} else if ((e = best_pin(ct->root_keys, ct->nroot_keys, gun, &score)) != NULL) {
		out->pins.kind = TRUST_PIN_ROOT_KEYS;
		out->pins.ids = e->ids;
		out->pins.nids = e->nids;
		out->pins.key = e->pins_key;
		out->pin_key = e->key;
		if (e->official)
			out->pin_source = CONFIG_PIN_SRC_OFFICIAL;
		else if (score == SIZE_MAX)
			out->pin_source = CONFIG_PIN_SRC_ROOT_KEYS_EXACT;
		else
			out->pin_source = CONFIG_PIN_SRC_ROOT_KEYS_WILDCARD;
		snprintf(out->explain, sizeof(out->explain), "root-keys[\"%s\"] (%s)",
		    e->key, e->official ? "official-library-images" :
		    score == SIZE_MAX ? "exact" : "wildcard");
	} else if (r != NULL && r->ca != NULL) {
		out->pins.kind = TRUST_PIN_CA;
		out->pins.ca_pem = r->ca_pem;
		out->pins.ca_len = r->ca_len;
		out->pins.key = r->pins_key;
		out->ca_file = r->ca;
		out->pin_source = CONFIG_PIN_SRC_RULE_CA;
		snprintf(out->explain, sizeof(out->explain),
		    "repositories[%d] \"%s\" (%s): ca %s", out->rule_index, r->match,
		    rscore == SIZE_MAX ? "exact" : "wildcard", r->ca);
	} else if (r != NULL && r->tofu) {
		out->pins.tofu = 1;
		out->pins.key = r->pins_key;
		out->pin_source = CONFIG_PIN_SRC_RULE_TOFU;
		snprintf(out->explain, sizeof(out->explain),
		    "repositories[%d] \"%s\" (%s): tofu (trust on first use)",
		    out->rule_index, r->match, rscore == SIZE_MAX ? "exact" : "wildcard");
	} else {
		out->pin_source = CONFIG_PIN_SRC_NONE;
		snprintf(out->explain, sizeof(out->explain),
		    "no cert-ids, root-keys or repositories ca/tofu matches %s: "
		    "invalid trust pinning specified", gun);
	}
	return 0;
}

const struct config_registry *
config_registry_for_host(const struct config *cfg, const char *host)
{
	const struct config_registry	*mirror = NULL;
	size_t				 i;

	for (i = 0; i < cfg->nregistries; i++) {
		const struct config_registry *r = &cfg->registries[i];

		if (r->name == NULL)
			continue;
		if (host != NULL && strcasecmp(r->name, host) == 0)
			return r;
		if (r->mirror && mirror == NULL)
			mirror = r;
	}
	return mirror;
}

int
config_gun(const struct config_registry *reg, const char *repo, char *buf, size_t len)
{
	const char	*prefix = reg->gun_prefix ? reg->gun_prefix : reg->name;
	int		 n;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	if (prefix == NULL || repo == NULL || !config_repo_valid(repo))
		return -1;
	n = snprintf(buf, len, "%s/%s", prefix, repo);
	if (n < 0 || (size_t)n >= len || n > TRUST_MAX_GUN_LEN) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

int
config_push_allowed(const struct config_registry *reg, const char *repo)
{
	size_t i;

	if (repo == NULL || !config_repo_valid(repo))
		return 0;
	for (i = 0; i < reg->nallow_push; i++)
		if (config_pattern_match(reg->allow_push[i], repo) != 0)
			return 1;
	return 0;
}
