/*
 * config: the configuration file, the trust policy, `dctproxy check-config`.
 *
 * One JSON object (the README's "Configuration" section is the field-by-field reference). It
 * carries the Docker EE engine's daemon.json "content-trust" block
 * verbatim (dct-semantics.md 1.1-1.3) plus our extensions: listeners,
 * registries (upstream, Notary server, GUN rewrite), per-repository rules
 * (CA pinning, TOFU, required signer roles), audit, caches, timeouts,
 * webhooks.
 *
 * Loading is strict: duplicate keys, unknown keys, wrong types, values out
 * of range, malformed URLs and addresses, unreadable certificate files are
 * all errors; every error found is reported (up to CONFIG_MAX_ERRORS), not
 * only the first. Nothing is repaired.
 *
 * What it does not do: no network, no DNS, no user lookup (the `user` is
 * checked for syntax only; the server resolves it at start), and no
 * libcurl/libevent (it links with the pure core only). It reads the config
 * file and the certificate/CA/key files it names, nothing else.
 *
 * Ownership and reload: a struct config is immutable once config_load()
 * returns it, so it may be read concurrently without locks. It is
 * reference counted: a SIGHUP reload loads a new config, swaps the
 * server's pointer, and drops the server's reference to the old one;
 * requests that took a reference with config_ref() keep the old one valid
 * until they config_free() it. Every pointer handed out (registries,
 * policies, pins, strings) is borrowed from the config and lives as long as
 * the reference that produced it.
 */
#ifndef CONFIG_CONFIG_H
#define CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "trust/trust.h"

/*
 * Caps on the configuration file. It is written by the operator, not by a
 * peer, but a cap still turns a mistake (a 2 GiB file, a generated list
 * gone wrong) into a clear error instead of memory exhaustion.
 */
#define CONFIG_MAX_FILE_LEN	(1024 * 1024)	/* the config file itself */
#define CONFIG_MAX_ERRORS	64		/* messages kept by config_load() */
#define CONFIG_ERRLEN		512		/* one message, with file and field path */
#define CONFIG_MAX_LISTENERS	32		/* "listeners" entries */
#define CONFIG_MAX_REGISTRIES	64		/* "registries" entries */
#define CONFIG_MAX_WEBHOOKS	16		/* "webhooks" entries */
#define CONFIG_MAX_WEBHOOK_QUEUE 10000		/* webhooks[].queue_length */
#define CONFIG_WEBHOOK_QUEUE	1024		/* ... its default */
#define CONFIG_MAX_RULES	1024		/* "repositories" entries */
#define CONFIG_MAX_PIN_KEYS	1024		/* keys of root-keys, and of cert-ids */
#define CONFIG_MAX_PIN_IDS	64		/* IDs in one root-keys/cert-ids list */
#define CONFIG_MAX_ROLES	16		/* required_roles of one rule */
#define CONFIG_MAX_PUSH		64		/* allow_push patterns of one registry */
#define CONFIG_MAX_PATH_LEN	1024		/* a file or directory path */
#define CONFIG_MAX_URL_LEN	2048		/* a URL */
#define CONFIG_MAX_HOST_LEN	253		/* a DNS name (RFC 1035) */
#define CONFIG_MAX_NAME_LEN	255		/* registry name HOST[:PORT], a GUN pattern */
#define CONFIG_MAX_CRED_LEN	4096		/* a username or password (tokens are long) */
#define CONFIG_MAX_USER_LEN	32		/* a login name (useradd's limit) */
#define CONFIG_MAX_PEM_LEN	(1024 * 1024)	/* a CA bundle, certificate or key file */
#define CONFIG_EXPLAIN_LEN	512		/* config_policy.explain */

/* The engine's modes (dct-semantics.md 1.2). */
enum config_mode {
	CONFIG_MODE_DISABLED = 0,	/* no verification at all */
	CONFIG_MODE_PERMISSIVE,		/* verify, log failures, let the request through */
	CONFIG_MODE_ENFORCED,		/* verify, refuse on failure */
};

/* "disabled", "permissive", "enforced". */
const char	*config_mode_name(enum config_mode);

/* ---- errors ---- */

struct config_message {
	int	warning;		/* 1: a warning (the config still loads) */
	char	msg[CONFIG_ERRLEN];	/* "FILE:LINE:COL: text" or "FILE: field.path: text" */
};

struct config_errors {
	size_t			nerrors;	/* errors found (may exceed those kept) */
	size_t			nwarnings;	/* warnings found */
	size_t			n;		/* messages kept in msgs[] */
	struct config_message	msgs[CONFIG_MAX_ERRORS];
};

/* ---- parsed pieces ---- */

/*
 * A URL as we accept it: http or https, a host (DNS name, IPv4 or
 * bracketed IPv6), optional port 1-65535, optional path; no userinfo, no
 * query, no fragment, no percent-encoding outside the path, no "." or ".."
 * path segments.
 */
struct config_url {
	const char	*url;		/* as written */
	const char	*base;		/* as written, without a trailing '/' */
	int		 https;		/* 1 https, 0 http */
	const char	*host;		/* without brackets */
	uint16_t	 port;		/* explicit, else 443 / 80 */
	int		 has_port;	/* the URL named a port */
	const char	*path;		/* "" or "/..." as written */
};

struct config_credentials {
	const char	*username;
	const char	*password;	/* wiped when the config is freed */
};

struct config_tls {
	const char	*certificate;	/* PEM chain file, checked at load */
	const char	*key;		/* PEM private key file, checked to match */
};

struct config_listener {
	const char		*address;	/* as written: "127.0.0.1:5000", "[::1]:5000" */
	const char		*host;		/* literal IP, without brackets */
	int			 ipv6;
	uint16_t		 port;
	const struct config_tls	*tls;		/* NULL: plain HTTP */
};

struct config_notary {
	struct config_url			 url;
	const char				*ca;	/* CA bundle path, or NULL: system store */
	const struct config_credentials		*credentials;	/* or NULL */
};

struct config_registry {
	const char			*name;		/* HOST[:PORT] as clients name it */
	int				 mirror;	/* name is "docker.io" */
	struct config_url		 upstream;
	const char			*upstream_ca;	/* or NULL */
	const struct config_credentials	*upstream_credentials; /* or NULL */
	struct config_notary		 notary;
	const char			*gun_prefix;	/* GUN = gun_prefix "/" repo; NULL: name */
	const char *const		*allow_push;	/* repo patterns where push/delete pass */
	size_t				 nallow_push;
};

enum config_webhook_events {
	CONFIG_WEBHOOK_DENY = 0,	/* failed verifications: "deny", "allow-permissive" */
	CONFIG_WEBHOOK_ALL,		/* every verdict */
};

struct config_webhook {
	struct config_url		 url;
	enum config_webhook_events	 events;
	const char			*ca;		/* or NULL */
	int				 timeout_seconds;
	int				 queue_length;	/* events held at most */
};

/* A "repositories" rule: our extension, matched by GUN pattern. */
struct config_rule {
	const char		*match;		/* GUN or GUN-prefix "*" */
	int			 has_mode;
	enum config_mode	 mode;
	const char		*ca;		/* CA bundle path, or NULL */
	const unsigned char	*ca_pem;	/* its bytes, read at load */
	size_t			 ca_len;
	int			 tofu;
	const char *const	*required_roles;
	size_t			 nrequired_roles;
	int			 has_allow_unsigned;
	int			 allow_unsigned;
	const char		*pins_key;	/* ca or tofu: config_pins_key() of its pins */
};

/* One root-keys or cert-ids entry after the official-library-images merge. */
struct config_pin_entry {
	const char		*key;		/* GUN or GUN-prefix "*" */
	const char *const	*ids;		/* 64 lower-case hex each */
	size_t			 nids;
	int			 official;	/* the built-in Docker Official Images list */
	const char		*pins_key;	/* config_pins_key() of its pins */
};

struct config_content_trust {
	int				 present;	/* the file had a "content-trust" block */
	int				 mode_present;	/* ... and it had a "mode" */
	enum config_mode		 mode;
	int				 official_library_images;
	int				 allow_expired_cached_trust_data;
	const struct config_pin_entry	*cert_ids;
	size_t				 ncert_ids;
	const struct config_pin_entry	*root_keys;	/* merged with the official list */
	size_t				 nroot_keys;
};

/*
 * The loaded configuration. Read-only for everyone: fields are plain
 * members for convenience, not for writing.
 */
struct config {
	const char			*path;		/* the file it was loaded from */
	const struct config_listener	*listeners;
	size_t				 nlisteners;
	const char			*state_dir;
	const char			*user;		/* or NULL: keep the starting user */
	const char			*audit_path;	/* "-": stdout */
	uint64_t			 cache_manifest_bytes;
	int				 trust_freshness_seconds;
	int				 connect_timeout_seconds;
	int				 request_timeout_seconds;
	int				 idle_timeout_seconds;
	int				 shutdown_grace_seconds;
	int				 metrics_enabled;
	const struct config_webhook	*webhooks;
	size_t				 nwebhooks;
	const struct config_registry	*registries;
	size_t				 nregistries;
	struct config_content_trust	 content_trust;
	const struct config_rule	*rules;
	size_t				 nrules;
	const char			*unpinned_key;	/* config_pins_key() of no pins */
	struct config_priv		*priv;		/* memory and reference count */
};

/* ---- loading and lifetime ---- */

/*
 * Load and validate the file at path (at most CONFIG_MAX_FILE_LEN bytes).
 * On success returns 0 and *out holds a config with one reference; errs
 * (may be NULL) then holds only warnings. On failure returns -1, *out is
 * NULL and errs holds every error found (up to CONFIG_MAX_ERRORS kept;
 * nerrors counts them all). errs is always reset first.
 */
int		 config_load(const char *path, struct config **out,
		    struct config_errors *errs);

/*
 * As config_load(), but every absolute file path the config names
 * (certificates, keys, CA bundles) is opened below root instead of /, as
 * when checking a config destined for a container image. The paths stored
 * in the config stay as written. root NULL is config_load().
 */
int		 config_load_under(const char *path, const char *root,
		    struct config **out, struct config_errors *errs);

/*
 * As config_load_under(), with flags. CONFIG_LOAD_NO_LISTENER_FILES: the
 * listeners' certificate and key paths are checked for syntax only, the
 * files are not opened. For a reload in a server that has dropped root:
 * listeners are bound (and their keys read) once, at start, and the key
 * may be readable by root alone. Every other file is still read.
 */
#define CONFIG_LOAD_NO_LISTENER_FILES	0x1
int		 config_load_flags(const char *path, const char *root, int flags,
		    struct config **out, struct config_errors *errs);

/* Take another reference (thread-safe). Returns cfg. */
struct config	*config_ref(struct config *cfg);
/* Drop a reference; the last one frees everything (credentials wiped). NULL is a no-op. */
void		 config_free(struct config *cfg);

/* ---- policy ---- */

/* Where the pinning of a GUN came from, in precedence order. */
enum config_pin_source {
	CONFIG_PIN_SRC_NONE = 0,		/* nothing: invalid trust pinning specified */
	CONFIG_PIN_SRC_CERT_IDS_EXACT,
	CONFIG_PIN_SRC_CERT_IDS_WILDCARD,
	CONFIG_PIN_SRC_ROOT_KEYS_EXACT,
	CONFIG_PIN_SRC_ROOT_KEYS_WILDCARD,
	CONFIG_PIN_SRC_OFFICIAL,		/* the built-in list (docker.io/library/ wildcard) */
	CONFIG_PIN_SRC_RULE_CA,
	CONFIG_PIN_SRC_RULE_TOFU,
};

/*
 * The effective policy for one GUN. Every pointer is borrowed from the
 * config; pins.key is set (computed once, at load).
 */
struct config_policy {
	enum config_mode	 mode;
	const char		*mode_from;	/* why: "content-trust.mode", "repositories rule", ... */
	struct trust_pins	 pins;		/* feed to trust_update_new() */
	enum config_pin_source	 pin_source;
	const char		*pin_key;	/* matched cert-ids/root-keys key, or NULL */
	const char		*ca_file;	/* TRUST_PIN_CA: the bundle's path */
	const char *const	*required_roles; /* nrequired_roles == 0: Docker's default */
	size_t			 nrequired_roles; /* (targets/releases, then targets) */
	int			 allow_unsigned;
	int			 allow_expired_cache;	/* allow-expired-cached-trust-data */
	const struct config_rule *rule;		/* the repositories rule that matched, or NULL */
	int			 rule_index;	/* its index, or -1 */
	char			 explain[CONFIG_EXPLAIN_LEN]; /* which pin, and why */
};

/*
 * Resolve gun (a fully-qualified repository name) to its policy.
 *
 * Pinning precedence (notary PR #1496 as the EE engine uses it,
 * dct-semantics.md 1.3): cert-ids exact, cert-ids longest trailing-'*'
 * wildcard, root-keys exact, root-keys longest wildcard, then our
 * repositories rule's "ca", then its "tofu". Exactly one mechanism is
 * chosen; a GUN matching none gets pins.kind TRUST_PIN_NONE with tofu 0,
 * which trust/ refuses on first contact ("invalid trust pinning
 * specified"), and explain says so. Mode, required roles and
 * allow_unsigned come from the best-matching rule (same matching: exact,
 * then longest wildcard; one rule, never merged) or the global values.
 *
 * Returns 0 with *out filled, or -1 (out->explain says why) if gun is not
 * a valid GUN (empty, longer than TRUST_MAX_GUN_LEN, bad characters).
 */
int		 config_policy_for(const struct config *, const char *gun,
		    struct config_policy *out);

/*
 * The registry a request is for: the one whose name equals host (the Host
 * header; case-insensitive, the port must match exactly, absent = absent),
 * else the "docker.io" mirror if one is configured, else NULL. host may be
 * NULL (no Host header).
 */
const struct config_registry *config_registry_for_host(const struct config *,
		    const char *host);

/*
 * GUN of repo (a registry path such as "library/alpine", as the client
 * sent it) on registry reg: gun_prefix "/" repo, or name "/" repo.
 * Returns 0, or -1 if repo is not a valid repository path or the GUN would
 * exceed TRUST_MAX_GUN_LEN or len. buf is always NUL-terminated.
 */
int		 config_gun(const struct config_registry *reg, const char *repo,
		    char *buf, size_t len);

/* 1 if push/delete to repo (a registry path) passes through on reg. */
int		 config_push_allowed(const struct config_registry *reg, const char *repo);

/*
 * pins->key for pins: 64 hex digits of a SHA-256 over kind, tofu, the IDs
 * and the CA bundle (pins->key itself is ignored), so that equal pins get
 * equal keys and a cache keyed by it (proxy/notary.c) never reuses a
 * verdict across a change of pins. Called at load for every pin of the
 * config; the command line calls it for its own. Returns 0, or -1 (out of
 * memory) with out set to "".
 */
#define CONFIG_PINS_KEY_LEN	65
int		 config_pins_key(const struct trust_pins *, char out[CONFIG_PINS_KEY_LEN]);

/* ---- syntax helpers (also used by the loader; exposed for the proxy and tests) ---- */

/*
 * Parse url into *out, strictly (see struct config_url). The strings in
 * *out point into buf (len bytes), which must outlive it. Returns 0, or -1
 * with a reason in err ("scheme must be http or https", ...).
 */
int		 config_url_parse(const char *url, struct config_url *out,
		    char *buf, size_t len, char *err, size_t errlen);

/*
 * Parse a listener address "IPV4:PORT" or "[IPV6]:PORT" (literal addresses
 * only, port 1-65535). host receives the address without brackets.
 * Returns 0 or -1 with a reason in err.
 */
int		 config_addr_parse(const char *addr, char *host, size_t hostlen,
		    int *ipv6, uint16_t *port, char *err, size_t errlen);

/*
 * The engine's pattern rule for root-keys/cert-ids keys and our rules
 * (notary trustpinning wildcardMatch): a pattern without a trailing '*'
 * matches only itself; a pattern ending in '*' matches every name that
 * starts with the text before that '*' ("*" matches everything; no other
 * globbing). Returns 0 for no match, SIZE_MAX for an exact match, and
 * 1 + the prefix length for a wildcard match, so that a larger value is
 * always the more specific match.
 */
size_t		 config_pattern_match(const char *pattern, const char *name);

/* 1 if s is 64 lower-case hex digits (a root key or certificate ID). */
int		 config_id_valid(const char *s);

/*
 * 1 if s is a usable GUN: 1..TRUST_MAX_GUN_LEN characters from
 * [A-Za-z0-9._:/-], not starting or ending with '/', no "//".
 */
int		 config_gun_valid(const char *s);

/*
 * 1 if s is a GUN pattern: a GUN, or a GUN prefix followed by one final
 * '*' (the prefix may be empty or end in '/'). '*' anywhere else is
 * refused rather than treated as a literal that would never match.
 */
int		 config_pattern_valid(const char *s);

/*
 * 1 if s is a registry repository path as the distribution spec defines
 * it: '/'-separated components of [a-z0-9]+ joined by ".", "_", "__" or
 * runs of "-" (e.g. "library/alpine", "my-org/team_a/app.v2").
 */
int		 config_repo_valid(const char *s);

/*
 * 1 if s names a TUF targets role Docker can require: "targets", or a
 * delegation as notary's IsDelegation accepts it ("targets/" then
 * [-a-z0-9_/], shorter than 256, no empty, "." or ".." segments).
 */
int		 config_role_valid(const char *s);

/*
 * Check "HOST[:PORT]" (a registry name as clients write it): HOST a DNS
 * name or IPv4 address, PORT 1-65535. Returns 0 or -1 with a reason.
 */
int		 config_hostport_check(const char *s, char *err, size_t errlen);

/* The EE engine's Docker Official Images root key IDs (dct-semantics.md Appendix A). */
extern const char *const config_official_root_keys[];
extern const size_t	 config_official_nroot_keys;

/* ---- command line ---- */

/*
 * `dctproxy check-config -c FILE [--root DIR] [--explain GUN]`: prints
 * "FILE: ok" (and the effective policy of GUN) and returns 0, or prints
 * every error on stderr and returns 1; 2 on a usage error.
 */
int		 config_cli_check(int, char **);

#endif
