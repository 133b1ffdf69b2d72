/*
 * Loading: defaults, every field, the engine's validation wording, mode
 * parsing, files named by the config, error collection and caps, the
 * malformed configs of tests/config/bad (each with its expected message in
 * NAME.expect), the valid ones of tests/config/good, and check-config.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "tests/unit.h"

const char	*cfgt_dir(void);
const char	*cfgt_write(const char *name, const char *content);
struct config	*cfgt_load(const char *json, struct config_errors *errs);
struct config	*cfgt_load_frag(const char *frag, struct config_errors *errs);
int		 cfgt_has_msg(const struct config_errors *errs, const char *needle);
const char	*cfgt_ca(void);
void		 cfgt_tls(const char **cert, const char **key, const char **other_key);

#define A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

#define SKELETON_HEAD "{\"listeners\": [{\"address\": \"127.0.0.1:5000\"}]," \
	"\"registries\": [{\"name\": \"docker.io\", \"upstream\": " \
	"\"https://registry-1.docker.io\", \"notary\": {\"url\": \"https://notary.docker.io\"}}]"

/* Load frag; the test fails unless it is refused with a message containing needle. */
static void
expect_error(const char *frag, const char *needle, int line)
{
	struct config_errors	 errs;
	struct config		*cfg = cfgt_load_frag(frag, &errs);

	if (cfg != NULL) {
		config_free(cfg);
		unit_fail(__FILE__, line, "config loaded, expected \"%s\"", needle);
	}
	if (!cfgt_has_msg(&errs, needle))
		unit_fail(__FILE__, line, "no error contains \"%s\" (first: %s)", needle,
		    errs.n ? errs.msgs[0].msg : "none");
}
#define EXPECT_ERROR(frag, needle) expect_error(frag, needle, __LINE__)

static struct config *
expect_ok(const char *frag, struct config_errors *errs, int line)
{
	struct config *cfg = cfgt_load_frag(frag, errs);

	if (cfg == NULL)
		unit_fail(__FILE__, line, "config refused: %s",
		    errs->n ? errs->msgs[0].msg : "?");
	return cfg;
}
#define EXPECT_OK(frag, errs) expect_ok(frag, errs, __LINE__)

UNIT_TEST(load_minimal_defaults)
{
	struct config_errors	 errs;
	struct config		*cfg = EXPECT_OK("\"content-trust\": {\"trust-pinning\": "
	    "{\"official-library-images\": true}}", &errs);
	struct config		 c = *cfg;

	config_free(cfg);
	T_EQ_INT(errs.nerrors, 0);
	T_EQ_INT(c.nlisteners, 1);
	T_EQ_INT(c.nregistries, 2);
	T_EQ_INT(c.content_trust.present, 1);
	T_EQ_INT(c.content_trust.mode_present, 0);
	T_EQ_INT(c.content_trust.mode, CONFIG_MODE_ENFORCED);
	T_EQ_INT(c.trust_freshness_seconds, 300);
	T_EQ_INT(c.connect_timeout_seconds, 10);
	T_EQ_INT(c.request_timeout_seconds, 60);
	T_EQ_INT(c.idle_timeout_seconds, 120);
	T_EQ_INT(c.shutdown_grace_seconds, 30);
	T_EQ_INT(c.cache_manifest_bytes, 64 * 1024 * 1024);
	T_EQ_INT(c.metrics_enabled, 0);
	T_EQ_INT(c.nwebhooks, 0);
	T_EQ_INT(c.nrules, 0);
}

UNIT_TEST(load_every_field)
{
	const char		*cert, *key, *other;
	char			 json[8192];
	struct config_errors	 errs;
	struct config		*cfg;
	const struct config_registry *r;

	cfgt_tls(&cert, &key, &other);
	snprintf(json, sizeof(json),
	    "{\"listeners\": [{\"address\": \"127.0.0.1:5000\"},"
	    " {\"address\": \"[::1]:5443\", \"tls\": {\"certificate\": \"%s\", \"key\": \"%s\"}}],"
	    "\"state_dir\": \"/var/lib/dctproxy-test\", \"user\": \"dctproxy\","
	    "\"audit\": {\"path\": \"/var/log/dctproxy/audit.log\"},"
	    "\"cache\": {\"manifest_bytes\": 1048576, \"trust_freshness_seconds\": 0},"
	    "\"timeouts\": {\"connect_seconds\": 3, \"request_seconds\": 30,"
	    " \"idle_seconds\": 90, \"shutdown_grace_seconds\": 0},"
	    "\"metrics\": {\"enabled\": true},"
	    "\"webhooks\": [{\"url\": \"https://hooks.example/x\", \"events\": \"all\","
	    " \"ca\": \"%s\", \"timeout_seconds\": 7, \"queue_length\": 3},"
	    " {\"url\": \"http://127.0.0.1:9/h\"}],"
	    "\"registries\": [{\"name\": \"registry.example.com:5000\","
	    " \"upstream\": \"https://registry.internal:5000/\", \"upstream_ca\": \"%s\","
	    " \"upstream_credentials\": {\"username\": \"proxy\", \"password\": \"s3cret\"},"
	    " \"notary\": {\"url\": \"https://notary.internal:4443\", \"ca\": \"%s\","
	    "   \"credentials\": {\"username\": \"n\", \"password\": \"p\"}},"
	    " \"gun_prefix\": \"notary.example.com/org\", \"allow_push\": [\"ci/*\"]}],"
	    "\"content-trust\": {\"mode\": \"permissive\", \"allow-expired-cached-trust-data\": true,"
	    " \"trust-pinning\": {\"root-keys\": {\"notary.example.com/org/*\": [\"" A "\"]},"
	    "  \"cert-ids\": {\"notary.example.com/org/app\": [\"" A "\"]},"
	    "  \"official-library-images\": false}},"
	    "\"repositories\": [{\"match\": \"notary.example.com/other/*\", \"mode\": \"enforced\","
	    " \"ca\": \"%s\", \"required_roles\": [\"targets/releases\", \"targets/security\"],"
	    " \"allow_unsigned\": false}]}",
	    cert, key, cfgt_ca(), cfgt_ca(), cfgt_ca(), cfgt_ca());
	cfg = cfgt_load(json, &errs);
	T_ASSERT(cfg != NULL);
	T_EQ_INT(errs.nerrors, 0);
	T_EQ_INT(errs.nwarnings, 0);
	T_EQ_INT(cfg->nlisteners, 2);
	T_ASSERT(cfg->listeners[0].tls == NULL);
	T_EQ_STR(cfg->listeners[1].host, "::1");
	T_EQ_INT(cfg->listeners[1].ipv6, 1);
	T_EQ_INT(cfg->listeners[1].port, 5443);
	T_EQ_STR(cfg->listeners[1].tls->certificate, cert);
	T_EQ_STR(cfg->listeners[1].tls->key, key);
	T_EQ_STR(cfg->state_dir, "/var/lib/dctproxy-test");
	T_EQ_STR(cfg->user, "dctproxy");
	T_EQ_STR(cfg->audit_path, "/var/log/dctproxy/audit.log");
	T_EQ_INT(cfg->cache_manifest_bytes, 1048576);
	T_EQ_INT(cfg->trust_freshness_seconds, 0);
	T_EQ_INT(cfg->connect_timeout_seconds, 3);
	T_EQ_INT(cfg->request_timeout_seconds, 30);
	T_EQ_INT(cfg->idle_timeout_seconds, 90);
	T_EQ_INT(cfg->shutdown_grace_seconds, 0);
	T_EQ_INT(cfg->metrics_enabled, 1);
	T_EQ_INT(cfg->nwebhooks, 2);
	T_EQ_INT(cfg->webhooks[0].events, CONFIG_WEBHOOK_ALL);
	T_EQ_INT(cfg->webhooks[0].timeout_seconds, 7);
	T_EQ_INT(cfg->webhooks[1].events, CONFIG_WEBHOOK_DENY);
	T_EQ_INT(cfg->webhooks[1].timeout_seconds, 5);
	T_EQ_INT(cfg->webhooks[0].queue_length, 3);
	T_EQ_INT(cfg->webhooks[1].queue_length, CONFIG_WEBHOOK_QUEUE);
	T_ASSERT(cfg->webhooks[1].ca == NULL);
	r = &cfg->registries[0];
	T_EQ_STR(r->name, "registry.example.com:5000");
	T_EQ_INT(r->mirror, 0);
	T_EQ_STR(r->upstream.base, "https://registry.internal:5000");
	T_EQ_STR(r->upstream_ca, cfgt_ca());
	T_EQ_STR(r->upstream_credentials->username, "proxy");
	T_EQ_STR(r->upstream_credentials->password, "s3cret");
	T_EQ_STR(r->notary.url.host, "notary.internal");
	T_EQ_INT(r->notary.url.port, 4443);
	T_EQ_STR(r->notary.credentials->username, "n");
	T_EQ_STR(r->gun_prefix, "notary.example.com/org");
	T_EQ_INT(r->nallow_push, 1);
	T_EQ_INT(cfg->content_trust.mode, CONFIG_MODE_PERMISSIVE);
	T_EQ_INT(cfg->content_trust.allow_expired_cached_trust_data, 1);
	T_EQ_INT(cfg->content_trust.nroot_keys, 1);
	T_EQ_INT(cfg->content_trust.ncert_ids, 1);
	T_EQ_INT(cfg->nrules, 1);
	T_EQ_INT(cfg->rules[0].nrequired_roles, 2);
	T_EQ_INT(cfg->rules[0].has_allow_unsigned, 1);
	T_ASSERT(cfg->rules[0].ca_len > 0);
	config_free(cfg);
}

UNIT_TEST(mode_omitted_is_enforced_misspelt_is_error)
{
	struct config_errors	 errs;
	struct config		*cfg = EXPECT_OK("\"content-trust\": {\"trust-pinning\": "
	    "{\"root-keys\": {\"*\": [\"" A "\"]}}}", &errs);

	T_EQ_INT(cfg->content_trust.mode, CONFIG_MODE_ENFORCED);
	config_free(cfg);
	EXPECT_ERROR("\"content-trust\": {\"mode\": \"enforce\", \"trust-pinning\": "
	    "{\"root-keys\": {\"*\": [\"" A "\"]}}}",
	    "content-trust.mode: must be one of \"disabled\", \"permissive\", "
	    "\"enforced\" (got \"enforce\")");
	EXPECT_ERROR("\"content-trust\": {\"mode\": \"Enforced\", \"trust-pinning\": "
	    "{\"root-keys\": {\"*\": [\"" A "\"]}}}", "content-trust.mode: must be one of");
	EXPECT_ERROR("\"content-trust\": {\"mode\": true, \"trust-pinning\": "
	    "{\"root-keys\": {\"*\": [\"" A "\"]}}}",
	    "content-trust.mode: must be a string, not a boolean");
	EXPECT_ERROR("\"repositories\": [{\"match\": \"*\", \"tofu\": true, \"mode\": \"strict\"}]",
	    "repositories[0].mode: must be one of");
}

UNIT_TEST(no_content_trust_block_is_enforced_with_warning)
{
	struct config_errors	 errs;
	struct config		*cfg = EXPECT_OK("", &errs);
	struct config_policy	 p;

	T_EQ_INT(cfg->content_trust.present, 0);
	T_EQ_INT(cfg->content_trust.mode, CONFIG_MODE_ENFORCED);
	T_EQ_INT(errs.nwarnings, 1);
	T_EQ_INT(errs.msgs[0].warning, 1);
	T_CONTAINS(errs.msgs[0].msg, "warning: content-trust: absent");
	T_EQ_INT(config_policy_for(cfg, "docker.io/library/alpine", &p), 0);
	config_free(cfg);
	T_EQ_INT(p.mode, CONFIG_MODE_ENFORCED);
	T_EQ_INT(p.pins.kind, TRUST_PIN_NONE);
	T_EQ_INT(p.pins.tofu, 0);
}

UNIT_TEST(engine_wording_root_key_lists_cannot_be_empty)
{
	EXPECT_ERROR("\"content-trust\": {\"mode\": \"enforced\", \"trust-pinning\": "
	    "{\"root-keys\": {\"docker.io/library/*\": []}, \"official-library-images\": true}}",
	    "content-trust.trust-pinning.root-keys[\"docker.io/library/*\"]: "
	    "invalid content trust configuration - root key lists cannot be empty");
}

UNIT_TEST(engine_wording_trust_pinning_cannot_be_empty)
{
	static const char *const empties[] = {
		"\"content-trust\": {}",
		"\"content-trust\": {\"mode\": \"enforced\"}",
		"\"content-trust\": {\"mode\": \"permissive\", \"trust-pinning\": {}}",
		"\"content-trust\": {\"trust-pinning\": {\"root-keys\": {}, \"cert-ids\": {}}}",
		"\"content-trust\": {\"trust-pinning\": {\"official-library-images\": false}}",
		("\"content-trust\": {\"mode\": \"enforced\"}, \"repositories\": "
		    "[{\"match\": \"*\", \"tofu\": false}]"),
		("\"content-trust\": {\"mode\": \"disabled\"}, \"repositories\": "
		    "[{\"match\": \"docker.io/x/*\", \"mode\": \"enforced\"}]"),
	};
	size_t i;

	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++)
		EXPECT_ERROR(empties[i], "content-trust.trust-pinning: invalid content "
		    "trust configuration - trust pinning cannot be empty");
}

UNIT_TEST(pinning_present_in_any_form)
{
	struct config_errors	 errs;
	char			 frag[1024];
	static const char *const ok[] = {
		"\"content-trust\": {\"trust-pinning\": {\"official-library-images\": true}}",
		"\"content-trust\": {\"trust-pinning\": {\"root-keys\": {\"*\": [\"" A "\"]}}}",
		"\"content-trust\": {\"trust-pinning\": {\"cert-ids\": {\"x.io/y\": [\"" A "\"]}}}",
		/* our extension: a rule's tofu counts as pinning */
		("\"content-trust\": {\"mode\": \"enforced\"}, \"repositories\": "
		    "[{\"match\": \"*\", \"tofu\": true}]"),
		/* disabled everywhere: nothing to pin */
		"\"content-trust\": {\"mode\": \"disabled\"}",
	};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		config_free(EXPECT_OK(ok[i], &errs));
	/* a rule's CA counts as pinning */
	snprintf(frag, sizeof(frag), "\"content-trust\": {\"mode\": \"enforced\"}, "
	    "\"repositories\": [{\"match\": \"docker.io/acme/*\", \"ca\": \"%s\"}]",
	    cfgt_ca());
	config_free(EXPECT_OK(frag, &errs));
	T_EQ_INT(errs.nerrors, 0);
}

UNIT_TEST(disabled_mode_warns)
{
	struct config_errors	 errs;
	struct config		*cfg = EXPECT_OK("\"content-trust\": {\"mode\": \"disabled\"}",
	    &errs);

	T_EQ_INT(cfg->content_trust.mode, CONFIG_MODE_DISABLED);
	config_free(cfg);
	T_ASSERT(cfgt_has_msg(&errs, "warning: content-trust.mode: \"disabled\""));
}

UNIT_TEST(shadowed_rule_warns)
{
	struct config_errors	 errs;
	struct config		*cfg = EXPECT_OK("\"content-trust\": {\"trust-pinning\": "
	    "{\"root-keys\": {\"docker.io/*\": [\"" A "\"]}}}, \"repositories\": "
	    "[{\"match\": \"docker.io/acme/*\", \"tofu\": true}]", &errs);

	config_free(cfg);
	T_EQ_INT(errs.nwarnings, 1);
	T_ASSERT(cfgt_has_msg(&errs, "repositories[0]: \"tofu\" is never used for "
	    "\"docker.io/acme/*\": root-keys[\"docker.io/*\"] takes precedence"));
}

UNIT_TEST(ids_checked_with_field_path)
{
	EXPECT_ERROR("\"content-trust\": {\"trust-pinning\": {\"root-keys\": "
	    "{\"docker.io/x\": [\"" A "\", \"ABCDEF\"]}}}",
	    "content-trust.trust-pinning.root-keys[\"docker.io/x\"][1]: \"ABCDEF\" is not "
	    "64 lower-case hex digits (a canonical root key ID)");
	EXPECT_ERROR("\"content-trust\": {\"trust-pinning\": {\"cert-ids\": "
	    "{\"docker.io/x\": [\"" A "0\"]}}}",
	    "content-trust.trust-pinning.cert-ids[\"docker.io/x\"][0]");
	EXPECT_ERROR("\"content-trust\": {\"trust-pinning\": {\"cert-ids\": "
	    "{\"docker.io/x\": [12]}}}", "cert-ids[\"docker.io/x\"][0]: must be a string");
	EXPECT_ERROR("\"content-trust\": {\"trust-pinning\": {\"cert-ids\": "
	    "{\"docker.io/x\": []}}}", "cert ID lists cannot be empty");
	EXPECT_ERROR("\"content-trust\": {\"trust-pinning\": {\"root-keys\": "
	    "{\"docker.io/*/x\": [\"" A "\"]}}}", "root-keys[\"docker.io/*/x\"]: not a GUN");
	EXPECT_ERROR("\"content-trust\": {\"trust-pinning\": {\"root-keys\": "
	    "{\"docker.io/x\": \"" A "\"}}}", "must be an array of IDs, not a string");
}

UNIT_TEST(errors_are_all_collected)
{
	struct config_errors	 errs;
	struct config		*cfg;

	cfg = cfgt_load("{\"listeners\": [{\"address\": \"localhost:5000\"}],"
	    "\"registries\": [{\"name\": \"docker.io\", \"upstream\": \"ftp://x\","
	    " \"notary\": {\"url\": \"https://n?x\"}, \"bogus\": 1}],"
	    "\"timeouts\": {\"connect_seconds\": 0},"
	    "\"content-trust\": {\"mode\": \"enforce\", \"trust-pinning\": "
	    "{\"official-library-images\": true}}}", &errs);
	T_ASSERT(cfg == NULL);
	T_EQ_INT(errs.nerrors, 6);
	T_ASSERT(cfgt_has_msg(&errs, "listeners[0].address: \"localhost:5000\": "));
	T_ASSERT(cfgt_has_msg(&errs, "registries[0].upstream: \"ftp://x\": scheme must be "
	    "http or https"));
	T_ASSERT(cfgt_has_msg(&errs, "registries[0].notary.url: \"https://n?x\": a query"));
	T_ASSERT(cfgt_has_msg(&errs, "registries[0].bogus: unknown key (allowed here: name, "));
	T_ASSERT(cfgt_has_msg(&errs, "timeouts.connect_seconds: must be from 1 to 300 (got 0)"));
	T_ASSERT(cfgt_has_msg(&errs, "content-trust.mode: must be one of"));
	/* every message names the file */
	T_ASSERT(strncmp(errs.msgs[0].msg, cfgt_dir(), strlen(cfgt_dir())) == 0);
}

UNIT_TEST(error_count_is_capped)
{
	char			*json;
	size_t			 i, off = 0, cap = 100 * 64 + 512;
	struct config_errors	 errs;
	struct config		*cfg;

	json = malloc(cap);
	T_ASSERT(json != NULL);
	off += (size_t)snprintf(json + off, cap - off, "%s, \"repositories\": [", SKELETON_HEAD);
	for (i = 0; i < 100; i++)
		off += (size_t)snprintf(json + off, cap - off, "%s{\"match\": \"x%zu\", \"x\": 1}",
		    i ? "," : "", i);
	snprintf(json + off, cap - off, "]}");
	cfg = cfgt_load(json, &errs);
	free(json);
	T_ASSERT(cfg == NULL);
	T_EQ_INT(errs.n, CONFIG_MAX_ERRORS);
	T_ASSERT(errs.nerrors >= 100);
}

UNIT_TEST(syntax_errors_have_line_and_column)
{
	struct config_errors	 errs;
	const char		*p = cfgt_write("syntax.json", "{\n  \"listeners\": [\n    1,\n  ]\n}\n");
	struct config		*cfg;
	char			 want[600];

	T_EQ_INT(config_load(p, &cfg, &errs), -1);
	T_ASSERT(cfg == NULL);
	T_EQ_INT(errs.nerrors, 1);
	snprintf(want, sizeof(want), "%s:4:3: ", p);
	T_CONTAINS(errs.msgs[0].msg, want);

	p = cfgt_write("dup.json", "{\"state_dir\": \"/a\", \"state_dir\": \"/b\"}");
	T_EQ_INT(config_load(p, &cfg, &errs), -1);
	T_CONTAINS(errs.msgs[0].msg, "duplicate object key");
	p = cfgt_write("trailing.json", "{} {}");
	T_EQ_INT(config_load(p, &cfg, &errs), -1);
	T_CONTAINS(errs.msgs[0].msg, "end of file expected");
	p = cfgt_write("array.json", "[]");
	T_EQ_INT(config_load(p, &cfg, &errs), -1);
	T_CONTAINS(errs.msgs[0].msg, "the top level must be a JSON object");
	p = cfgt_write("empty.json", "");
	T_EQ_INT(config_load(p, &cfg, &errs), -1);
	T_CONTAINS(errs.msgs[0].msg, "is empty");
}

UNIT_TEST(file_size_cap)
{
	struct config_errors	 errs;
	struct config		*cfg;
	char			*big = malloc(CONFIG_MAX_FILE_LEN + 2);
	const char		*p;

	T_ASSERT(big != NULL);
	memset(big, ' ', CONFIG_MAX_FILE_LEN + 1);
	big[0] = '{';
	big[CONFIG_MAX_FILE_LEN] = '}';
	big[CONFIG_MAX_FILE_LEN + 1] = '\0';
	p = cfgt_write("big.json", big);
	free(big);
	T_EQ_INT(config_load(p, &cfg, &errs), -1);
	T_CONTAINS(errs.msgs[0].msg, "is larger than 1048576 bytes");
	T_EQ_INT(config_load("/nonexistent/dctproxy.json", &cfg, &errs), -1);
	T_CONTAINS(errs.msgs[0].msg, "cannot open /nonexistent/dctproxy.json");
}

UNIT_TEST(tls_files_checked)
{
	const char	*cert, *key, *other;
	char		 frag[2048];

	cfgt_tls(&cert, &key, &other);
	snprintf(frag, sizeof(frag), "\"listeners\": [{\"address\": \"127.0.0.1:1\", "
	    "\"tls\": {\"certificate\": \"%s\", \"key\": \"%s\"}}]", cert, other);
	/* the skeleton already has "listeners": splice a whole config instead */
	{
		char			 json[4096];
		struct config_errors	 errs;

		snprintf(json, sizeof(json), "{%s, \"registries\": [{\"name\": \"r.io\", "
		    "\"upstream\": \"http://127.0.0.1:1\", \"notary\": {\"url\": "
		    "\"http://127.0.0.1:2\"}}], \"repositories\": [{\"match\": \"*\", "
		    "\"tofu\": true}]}", frag);
		T_ASSERT(cfgt_load(json, &errs) == NULL);
		T_ASSERT(cfgt_has_msg(&errs, "listeners[0].tls.key: "));
		T_ASSERT(cfgt_has_msg(&errs, "does not match the certificate"));

		snprintf(json, sizeof(json), "{\"listeners\": [{\"address\": \"127.0.0.1:1\", "
		    "\"tls\": {\"certificate\": \"%s\", \"key\": \"%s\"}}], \"registries\": "
		    "[{\"name\": \"r.io\", \"upstream\": \"http://127.0.0.1:1\", \"notary\": "
		    "{\"url\": \"http://127.0.0.1:2\"}}], \"repositories\": [{\"match\": \"*\", "
		    "\"tofu\": true}]}", key, cert);
		T_ASSERT(cfgt_load(json, &errs) == NULL);
		T_ASSERT(cfgt_has_msg(&errs, "listeners[0].tls.certificate: "));
		T_ASSERT(cfgt_has_msg(&errs, "contains no PEM certificate"));
		T_ASSERT(cfgt_has_msg(&errs, "no unencrypted PEM private key"));

		snprintf(json, sizeof(json), "{\"listeners\": [{\"address\": \"127.0.0.1:1\", "
		    "\"tls\": {\"certificate\": \"relative/cert.pem\"}}], \"registries\": "
		    "[{\"name\": \"r.io\", \"upstream\": \"http://127.0.0.1:1\", \"notary\": "
		    "{\"url\": \"http://127.0.0.1:2\"}}], \"repositories\": [{\"match\": \"*\", "
		    "\"tofu\": true}]}");
		T_ASSERT(cfgt_load(json, &errs) == NULL);
		T_ASSERT(cfgt_has_msg(&errs, "listeners[0].tls.certificate: \"relative/cert.pem\" "
		    "is not an absolute path"));
		T_ASSERT(cfgt_has_msg(&errs, "listeners[0].tls.key: is required"));
	}
}

/* A reload after dropping root: listener keys are not opened, every other file is. */
UNIT_TEST(reload_skips_listener_files)
{
	char			 json[2048];
	const char		*p;
	struct config_errors	 errs;
	struct config		*cfg;

	snprintf(json, sizeof(json), "{\"listeners\": [{\"address\": \"127.0.0.1:1\", "
	    "\"tls\": {\"certificate\": \"/nonexistent/c.pem\", \"key\": "
	    "\"/nonexistent/k.pem\"}}], \"registries\": [{\"name\": \"r.io\", "
	    "\"upstream\": \"http://127.0.0.1:1\", \"notary\": {\"url\": "
	    "\"http://127.0.0.1:2\"}}], \"repositories\": [{\"match\": \"*\", "
	    "\"tofu\": true}]}");
	p = cfgt_write("reload-tls.json", json);
	T_EQ_INT(config_load(p, &cfg, &errs), -1);
	T_ASSERT(cfgt_has_msg(&errs, "cannot open /nonexistent/k.pem"));
	T_EQ_INT(config_load_flags(p, NULL, CONFIG_LOAD_NO_LISTENER_FILES, &cfg, &errs), 0);
	T_EQ_STR(cfg->listeners[0].tls->certificate, "/nonexistent/c.pem");
	T_EQ_STR(cfg->listeners[0].tls->key, "/nonexistent/k.pem");
	config_free(cfg);

	/* paths are still checked */
	snprintf(json, sizeof(json), "{\"listeners\": [{\"address\": \"127.0.0.1:1\", "
	    "\"tls\": {\"certificate\": \"/c.pem\", \"key\": \"k.pem\"}}], "
	    "\"registries\": [{\"name\": \"r.io\", \"upstream\": \"http://127.0.0.1:1\", "
	    "\"notary\": {\"url\": \"http://127.0.0.1:2\"}}], \"repositories\": "
	    "[{\"match\": \"*\", \"tofu\": true}]}");
	p = cfgt_write("reload-tls-rel.json", json);
	T_EQ_INT(config_load_flags(p, NULL, CONFIG_LOAD_NO_LISTENER_FILES, &cfg, &errs), -1);
	T_ASSERT(cfgt_has_msg(&errs, "listeners[0].tls.key: \"k.pem\" is not an absolute path"));

	/* other files (a rule's CA bundle) are still read */
	snprintf(json, sizeof(json), "%s, \"repositories\": [{\"match\": \"*\", "
	    "\"ca\": \"/nonexistent/ca.pem\"}]}", SKELETON_HEAD);
	p = cfgt_write("reload-ca.json", json);
	T_EQ_INT(config_load_flags(p, NULL, CONFIG_LOAD_NO_LISTENER_FILES, &cfg, &errs), -1);
	T_ASSERT(cfgt_has_msg(&errs, "cannot open /nonexistent/ca.pem"));
}

UNIT_TEST(ca_files_checked)
{
	char		 frag[1024];
	const char	*notpem = cfgt_write("notpem.pem", "hello\n");
	const char	*mixed;
	char		 buf[8192];
	unsigned char	*ca;
	size_t		 n;

	snprintf(frag, sizeof(frag), "\"repositories\": [{\"match\": \"*\", \"ca\": \"%s\"}]",
	    notpem);
	EXPECT_ERROR(frag, "repositories[0].ca: ");
	EXPECT_ERROR(frag, "contains no PEM certificate");
	EXPECT_ERROR("\"repositories\": [{\"match\": \"*\", \"ca\": \"/nonexistent/ca.pem\"}]",
	    "repositories[0].ca: cannot open /nonexistent/ca.pem");
	snprintf(frag, sizeof(frag), "\"repositories\": [{\"match\": \"*\", \"ca\": \"%s\"}]",
	    cfgt_dir());
	EXPECT_ERROR(frag, "is not a regular file");

	/* a bundle with a private key in it is refused */
	ca = unit_read(cfgt_ca(), &n);
	T_ASSERT(ca != NULL);
	snprintf(buf, sizeof(buf), "%s-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	    (const char *)ca);
	free(ca);
	mixed = cfgt_write("mixed.pem", buf);
	snprintf(frag, sizeof(frag), "\"repositories\": [{\"match\": \"*\", \"ca\": \"%s\"}]",
	    mixed);
	EXPECT_ERROR(frag, "1 PEM blocks that are not valid certificates");
	snprintf(frag, sizeof(frag), "\"repositories\": [{\"match\": \"*\", \"ca\": \"%s\", "
	    "\"tofu\": true}]", cfgt_ca());
	EXPECT_ERROR(frag, "repositories[0]: \"ca\" and \"tofu\": true exclude each other");
}

UNIT_TEST(load_under_root)
{
	char			 json[2048], sub[600];
	const char		*p;
	struct config_errors	 errs;
	struct config		*cfg;

	/* the CA lives at <dir>/ca.pem; the config names it "/ca.pem" */
	(void)cfgt_ca();
	snprintf(json, sizeof(json), "%s, \"repositories\": [{\"match\": \"*\", "
	    "\"ca\": \"/ca.pem\"}]}", SKELETON_HEAD);
	p = cfgt_write("rooted.json", json);
	T_EQ_INT(config_load(p, &cfg, &errs), -1);
	T_ASSERT(cfgt_has_msg(&errs, "cannot open /ca.pem"));
	T_EQ_INT(config_load_under(p, cfgt_dir(), &cfg, &errs), 0);
	T_EQ_STR(cfg->rules[0].ca, "/ca.pem");
	config_free(cfg);
	snprintf(sub, sizeof(sub), "%s/nothing-here", cfgt_dir());
	T_EQ_INT(config_load_under(p, sub, &cfg, &errs), -1);
}

UNIT_TEST(field_types_and_ranges)
{
	EXPECT_ERROR("\"metrics\": {\"enabled\": \"yes\"}",
	    "metrics.enabled: must be true or false, not a string");
	EXPECT_ERROR("\"cache\": {\"manifest_bytes\": 1.5}",
	    "cache.manifest_bytes: must be an integer, not a number with a fraction");
	EXPECT_ERROR("\"cache\": {\"trust_freshness_seconds\": -1}",
	    "cache.trust_freshness_seconds: must be from 0 to 86400 (got -1)");
	EXPECT_ERROR("\"timeouts\": {\"request_seconds\": 99999}",
	    "timeouts.request_seconds: must be from 1 to 3600");
	EXPECT_ERROR("\"state_dir\": \"var/lib\"", "state_dir: \"var/lib\" is not an absolute path");
	EXPECT_ERROR("\"state_dir\": \"/var/../etc\"", "\"..\" segments are not allowed");
	EXPECT_ERROR("\"state_dir\": \"\"", "state_dir: must not be empty");
	EXPECT_ERROR("\"user\": \"bad user\"", "user: \"bad user\" is not a valid user name");
	EXPECT_ERROR("\"audit\": {\"path\": \"audit.log\"}", "audit.path: ");
	EXPECT_ERROR("\"audit\": []", "audit: must be an object, not an array");
	EXPECT_ERROR("\"webhooks\": [{\"url\": \"https://h/x\", \"events\": \"some\"}]",
	    "webhooks[0].events: must be \"deny\" or \"all\" (got \"some\")");
	EXPECT_ERROR("\"webhooks\": [{\"events\": \"all\"}]", "webhooks[0].url: is required");
	EXPECT_ERROR("\"webhooks\": [{\"url\": \"https://h/x\", \"timeout_seconds\": 0}]",
	    "webhooks[0].timeout_seconds: must be from 1 to 60");
	EXPECT_ERROR("\"webhooks\": [{\"url\": \"https://h/x\", \"queue_length\": 10001}]",
	    "webhooks[0].queue_length: must be from 1 to 10000");
	EXPECT_ERROR("\"webhooks\": {}", "webhooks: must be an array, not an object");
	EXPECT_ERROR("\"repositories\": [{\"match\": \"*\", \"tofu\": true, "
	    "\"required_roles\": []}]", "repositories[0].required_roles: must not be empty");
	EXPECT_ERROR("\"repositories\": [{\"match\": \"*\", \"tofu\": true, "
	    "\"required_roles\": [\"releases\"]}]",
	    "repositories[0].required_roles[0]: \"releases\" is not \"targets\"");
	EXPECT_ERROR("\"repositories\": [{\"match\": \"*\", \"tofu\": true, "
	    "\"required_roles\": [\"targets\", \"targets\"]}]",
	    "repositories[0].required_roles[1]: \"targets\" is listed twice");
	EXPECT_ERROR("\"repositories\": [{\"match\": \"*\", \"tofu\": true}, "
	    "{\"match\": \"*\"}]", "repositories[1].match: \"*\" is also repositories[0].match");
	EXPECT_ERROR("\"repositories\": [{\"tofu\": true}]", "repositories[0].match: is required");
	EXPECT_ERROR("\"repositories\": [\"*\"]", "repositories[0]: must be an object, not a string");
	EXPECT_ERROR("\"content-trust\": {\"trust-pinning\": {\"official-library-images\": 1}}",
	    "content-trust.trust-pinning.official-library-images: must be true or false");
	EXPECT_ERROR("\"content-trust\": {\"trust-pinning\": {\"official-library-images\": true},"
	    " \"allow-expired-cached-trust-data\": null}",
	    "content-trust.allow-expired-cached-trust-data: must be true or false, not null");
	EXPECT_ERROR("\"content-trust\": {\"trust-pinning\": {\"official-library-images\": true,"
	    " \"ca\": {}}}", "content-trust.trust-pinning.ca: unknown key");
	EXPECT_ERROR("\"content-trust\": {\"trust-pinning\": {\"official-library-images\": true},"
	    " \"trust_pinning\": {}}", "content-trust.trust_pinning: unknown key");
	EXPECT_ERROR("\"Listeners\": []", "Listeners: unknown key");
}

UNIT_TEST(registry_fields)
{
	struct config_errors	 errs;

	T_ASSERT(cfgt_load("{\"listeners\": [{\"address\": \"127.0.0.1:5000\"}],"
	    "\"registries\": [{\"name\": \"Reg.io\", \"upstream\": \"http://a\","
	    " \"notary\": {\"url\": \"http://b\"}}, {\"name\": \"reg.IO\", \"upstream\": "
	    "\"http://a\", \"notary\": {\"url\": \"http://b\"}, \"gun_prefix\": \"x/\","
	    " \"allow_push\": [\"Team/*\", \"a/*/b\"], \"upstream_credentials\": "
	    "{\"username\": \"a:b\"}}], \"repositories\": [{\"match\": \"*\", \"tofu\": true}]}",
	    &errs) == NULL);
	T_ASSERT(cfgt_has_msg(&errs, "registries[1].name: \"reg.IO\" is also registries[0].name"));
	T_ASSERT(cfgt_has_msg(&errs, "registries[1].gun_prefix: \"x/\" is not a valid GUN prefix"));
	T_ASSERT(cfgt_has_msg(&errs, "registries[1].allow_push[0]: \"Team/*\""));
	T_ASSERT(cfgt_has_msg(&errs, "registries[1].allow_push[1]: \"a/*/b\""));
	T_ASSERT(cfgt_has_msg(&errs, "registries[1].upstream_credentials.username: must not "
	    "contain ':'"));
	T_ASSERT(cfgt_has_msg(&errs, "registries[1].upstream_credentials.password: is required"));
	T_EQ_INT(errs.nerrors, 6);

	T_ASSERT(cfgt_load("{\"listeners\": [], \"registries\": []}", &errs) == NULL);
	T_ASSERT(cfgt_has_msg(&errs, "listeners: needs at least one listener"));
	T_ASSERT(cfgt_has_msg(&errs, "registries: needs at least one registry"));
	T_ASSERT(cfgt_load("{}", &errs) == NULL);
	T_ASSERT(cfgt_has_msg(&errs, "listeners: is required"));
	T_ASSERT(cfgt_has_msg(&errs, "registries: is required"));
	T_ASSERT(cfgt_load("{\"listeners\": [{\"address\": \"127.0.0.1:5000\"}, "
	    "{\"address\": \"127.0.0.1:5000\"}], \"registries\": [{\"name\": \"r\"}]}",
	    &errs) == NULL);
	T_ASSERT(cfgt_has_msg(&errs, "listeners[1].address: \"127.0.0.1:5000\" is also listeners[0]"));
	T_ASSERT(cfgt_has_msg(&errs, "registries[0].upstream: is required"));
	T_ASSERT(cfgt_has_msg(&errs, "registries[0].notary: is required"));
}

/* ---- the malformed and valid config files in the tree ---- */

static char *
trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* Each tests/config/DIR/x.json, in turn; returns how many there were. */
static size_t
each_json(const char *sub, void (*fn)(const char *dir, const char *name))
{
	char		 dir[600];
	DIR		*d;
	struct dirent	*de;
	size_t		 n = 0, len;

	snprintf(dir, sizeof(dir), "%s", unit_fixture("../config/"));
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "%s", sub);
	if ((d = opendir(dir)) == NULL)
		unit_fail(__FILE__, __LINE__, "cannot open %s", dir);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		fn(dir, de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void
check_bad(const char *dir, const char *name)
{
	char			 path[900], expect[900];
	unsigned char		*want;
	size_t			 len;
	struct config_errors	 errs;
	struct config		*cfg;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(expect, sizeof(expect), "%s/%.*s.expect", dir, (int)(strlen(name) - 5), name);
	if ((want = unit_read(expect, &len)) == NULL)
		unit_fail(__FILE__, __LINE__, "%s has no %s", name, expect);
	trim((char *)want);
	if (config_load(path, &cfg, &errs) == 0) {
		config_free(cfg);
		free(want);
		unit_fail(__FILE__, __LINE__, "%s loaded; expected its .expect message", name);
	}
	if (want[0] == '\0' || !cfgt_has_msg(&errs, (char *)want)) {
		char msg[CONFIG_ERRLEN + 1];

		snprintf(msg, sizeof(msg), "%s", errs.n ? errs.msgs[0].msg : "none");
		free(want);
		unit_fail(__FILE__, __LINE__, "%s: expected message not found; first: %s",
		    name, msg);
	}
	free(want);
}

static void
check_good(const char *dir, const char *name)
{
	char			 path[900];
	struct config_errors	 errs;
	struct config		*cfg;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (config_load(path, &cfg, &errs) != 0)
		unit_fail(__FILE__, __LINE__, "%s refused: %s", name,
		    errs.n ? errs.msgs[0].msg : "?");
	config_free(cfg);
}

UNIT_TEST(bad_configs_fail_with_expected_message)
{
	T_ASSERT(each_json("bad", check_bad) >= 20);
}

UNIT_TEST(good_configs_load)
{
	T_ASSERT(each_json("good", check_good) >= 3);
}

/* ---- check-config ---- */

static int
cli(const char *a1, const char *a2, const char *a3, const char *a4, const char *a5)
{
	char	*argv[7] = { (char *)(uintptr_t)"check-config" };
	int	 argc = 1, rc, out, err, null;

	if (a1) argv[argc++] = (char *)(uintptr_t)a1;
	if (a2) argv[argc++] = (char *)(uintptr_t)a2;
	if (a3) argv[argc++] = (char *)(uintptr_t)a3;
	if (a4) argv[argc++] = (char *)(uintptr_t)a4;
	if (a5) argv[argc++] = (char *)(uintptr_t)a5;
	argv[argc] = NULL;
	/* keep the harness's stdout to PASS/FAIL lines */
	fflush(stdout);
	fflush(stderr);
	if ((out = dup(1)) == -1 || (err = dup(2)) == -1 ||
	    (null = open("/dev/null", O_WRONLY)) == -1)
		unit_fail(__FILE__, __LINE__, "cannot redirect output");
	dup2(null, 1);
	dup2(null, 2);
	rc = config_cli_check(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(out, 1);
	dup2(err, 2);
	close(out);
	close(err);
	close(null);
	return rc;
}

UNIT_TEST(check_config_exit_codes)
{
	char		 json[1024];
	const char	*good, *bad;

	snprintf(json, sizeof(json), "%s, \"repositories\": [{\"match\": \"*\", "
	    "\"tofu\": true}]}", SKELETON_HEAD);
	good = cfgt_write("cli-good.json", json);
	bad = cfgt_write("cli-bad.json", "{\"listeners\": 1}");
	T_EQ_INT(cli("-c", good, NULL, NULL, NULL), 0);
	T_EQ_INT(cli("--config", good, "--explain", "docker.io/library/alpine", NULL), 0);
	T_EQ_INT(cli("-c", good, "--explain", "not a gun", NULL), 1);
	T_EQ_INT(cli("-c", bad, NULL, NULL, NULL), 1);
	T_EQ_INT(cli("-c", "/nonexistent.json", NULL, NULL, NULL), 1);
	T_EQ_INT(cli(NULL, NULL, NULL, NULL, NULL), 2);
	T_EQ_INT(cli("-c", NULL, NULL, NULL, NULL), 2);
	T_EQ_INT(cli("--bogus", "x", NULL, NULL, NULL), 2);
	T_EQ_INT(cli("-c", good, "--root", "/", NULL), 0);
}

/*
 * Robustness: every truncation and a spread of single-byte corruptions of
 * a full config must load or fail cleanly (run under ASan/UBSan by
 * `make test`), never crash or leak. No prefix that cuts into the JSON
 * object is JSON, so no such truncation may load (cutting only trailing
 * whitespace may); a refused corruption must say why.
 */
UNIT_TEST(mutations_fail_cleanly)
{
	unsigned char		*orig, *buf;
	size_t			 len, i, end, truncs_loaded = 0, subst_refused = 0;
	struct config_errors	 errs;
	struct config		*cfg;
	const char		*p;
	static const char	 subst[] = "\"{}[],:0a*/\\ \x01\xff";

	orig = unit_read(unit_fixture("../config/good/gateway_rules.json"), &len);
	T_ASSERT(orig != NULL);
	buf = malloc(len + 1);
	T_ASSERT(buf != NULL);
	for (end = len; end > 0 && strchr(" \t\r\n", orig[end - 1]) != NULL; end--)
		;
	T_ASSERT(end > 0 && orig[end - 1] == '}');
	for (i = 0; i < end; i += 3) {
		memcpy(buf, orig, i);
		buf[i] = '\0';
		p = cfgt_write("mut.json", (const char *)buf);
		if (config_load(p, &cfg, &errs) == 0) {
			truncs_loaded++;
			config_free(cfg);
		}
	}
	for (i = 0; i < len; i += 5) {
		memcpy(buf, orig, len + 1);
		buf[i] = (unsigned char)subst[i % (sizeof(subst) - 1)];
		p = cfgt_write("mut.json", (const char *)buf);
		if (config_load(p, &cfg, &errs) == 0)
			config_free(cfg);
		else {
			T_ASSERT(errs.nerrors > 0 && errs.n > 0);
			subst_refused++;
		}
	}
	free(buf);
	free(orig);
	T_EQ_INT(truncs_loaded, 0);
	T_ASSERT(subst_refused > 0);
}
