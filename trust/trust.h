/*
 * trust: Notary v1 (TUF) verification with Docker's semantics.
 *
 * The pure core of dctproxy. Bytes and a clock go in, a verdict comes out:
 * this module performs no network I/O and includes neither libevent nor
 * libcurl. The only I/O it does is reading and atomically replacing its own
 * persisted state files (trust_store_*).
 *
 * The update workflow is "sans I/O": trust_update_next() says which file to
 * fetch next (a path below <server>/v2/<GUN>/_trust/tuf/ and a byte cap), the
 * caller fetches it however it likes (curl multi on the proxy's event loop,
 * files on disk for `dctproxy verify`) and hands the result to
 * trust_update_feed(). The same code therefore serves the proxy, `lookup`
 * and the offline verifier.
 *
 * Rules follow Notary 0.7 and the Docker EE engine; the places where we are
 * deliberately stricter are listed in docs/ARCHITECTURE.md.
 */
#ifndef TRUST_TRUST_H
#define TRUST_TRUST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Caps on everything a Notary server (or a metadata file on disk) controls.
 */
#define TRUST_MAX_TIMESTAMP_LEN	(1024 * 1024)	/* notary MaxTimestampSize */
#define TRUST_MAX_ROOT_LEN	(1024 * 1024)	/* root.json; notary allows 100 MiB */
#define TRUST_MAX_METADATA_LEN	(16 * 1024 * 1024) /* any file, whatever its meta length says */
#define TRUST_MAX_UPDATE_BYTES	(64 * 1024 * 1024) /* all bytes one update may download */
#define TRUST_MAX_FETCHES	512		/* files one update may request */
#define TRUST_MAX_DELEGATIONS	256		/* delegated roles loaded per repository */
#define TRUST_MAX_DELEGATION_DEPTH 16		/* targets/a/b/... nesting */
#define TRUST_MAX_ROOT_ROTATIONS 64		/* <v>.root.json steps in one update */
#define TRUST_MAX_KEYS		256		/* keys listed in one file */
#define TRUST_MAX_ROLE_KEYS	64		/* key IDs listed for one role */
#define TRUST_MAX_SIGNATURES	64		/* signatures on one file */
#define TRUST_MAX_TARGETS	65536		/* targets in one file */
#define TRUST_MAX_PATHS		1024		/* path prefixes in one delegation */
#define TRUST_MAX_NAME_LEN	1024		/* a target name */
#define TRUST_MAX_GUN_LEN	255		/* a GUN */
#define TRUST_MAX_ROLE_LEN	255		/* notary: delegation names < 256 chars */
#define TRUST_MAX_PATH		512		/* a fetch path below .../_trust/tuf/ */

/* Structured error: a code for machines, a message with context for logs. */
enum trust_code {
	TRUST_OK = 0,
	TRUST_E_NOT_FOUND,	/* no trust data for the GUN (404 on root.json or a needed file) */
	TRUST_E_UNAVAILABLE,	/* server unreachable, 5xx, 401: error contacting trust server */
	TRUST_E_BAD_RESPONSE,	/* body over its cap: notary ErrMaliciousServer */
	TRUST_E_PARSE,		/* malformed JSON or metadata structure */
	TRUST_E_VALIDATION,	/* root not trusted: CN, certificate, pins, key IDs, key types */
	TRUST_E_ROTATION,	/* new root not signed by the previous root */
	TRUST_E_THRESHOLD,	/* fewer valid signatures than the role's threshold */
	TRUST_E_LOW_VERSION,	/* rollback: version below the trusted one */
	TRUST_E_EXPIRED,	/* metadata past its expiry at the injected clock */
	TRUST_E_CHECKSUM,	/* bytes do not match the hashes the parent signed */
	TRUST_E_NO_TARGET,	/* the tag or digest is not signed */
	TRUST_E_UNTRUSTED_ROLE,	/* found only in a role the policy does not trust */
	TRUST_E_NO_DIGEST,	/* the target carries no sha256 */
	TRUST_E_ROLE_MISMATCH,	/* required signer roles disagree on the digest */
	TRUST_E_INTERNAL,	/* out of memory, state directory I/O */
};

#define TRUST_ERRMSG_LEN	512

struct trust_error {
	enum trust_code	code;
	char		msg[TRUST_ERRMSG_LEN];
};

/* Short stable name of a code ("expired", "low-version"...), for audit reason codes. */
const char	*trust_code_name(enum trust_code);

/* Set err (may be NULL) to code and a printf-style message; returns -1. */
int		 trust_seterr(struct trust_error *, enum trust_code, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/*
 * The refusal in the Docker engine's words (dct-semantics.md 1.7), e.g.
 * "no trust data available for repository docker.io/library/alpine." or
 * "potential malicious behavior - trust data has insufficient signatures
 * for remote repository ...: <detail>". name is the repository as the
 * client named it, ref the tag or digest. Always NUL-terminates buf.
 */
void		 trust_error_engine(const struct trust_error *, const char *name,
		    const char *ref, char *buf, size_t len);

/*
 * Root pinning for one GUN, as resolved by the policy (config/). Borrowed:
 * must outlive any trust_update using it.
 */
enum trust_pin_kind {
	TRUST_PIN_NONE = 0,	/* no pin: trust on first use iff tofu is set */
	TRUST_PIN_CERT_IDS,	/* root certificate key IDs (daemon.json cert-ids) */
	TRUST_PIN_ROOT_KEYS,	/* canonical root key IDs (daemon.json root-keys) */
	TRUST_PIN_CA,		/* leaf must chain to a CA in ca_pem */
};

struct trust_pins {
	enum trust_pin_kind	  kind;
	const char *const	 *ids;		/* lower-case hex, CERT_IDS/ROOT_KEYS */
	size_t			  nids;
	const unsigned char	 *ca_pem;	/* PEM bundle, CA */
	size_t			  ca_len;
	int			  tofu;		/* NONE only: allow trust on first use */
	const char		 *key;		/* not used by trust/: identifies these pins for
						 * a cache (config_pins_key), or NULL */
};

/*
 * Raw bytes of the last verified metadata of one GUN, keyed by role
 * ("root", "timestamp", "snapshot", "targets", "targets/releases", ...).
 * This is what is persisted and what gives version floors (rollback
 * protection) to the next update.
 */
struct trust_state;

struct trust_state	*trust_state_new(void);
/* A copy of s (NULL: an empty state); NULL only on out of memory. */
struct trust_state	*trust_state_dup(const struct trust_state *s);
void			 trust_state_free(struct trust_state *);
/* Copies the bytes. Returns 0, or -1 on bad role name or out of memory. */
int			 trust_state_set(struct trust_state *, const char *role,
			    const uint8_t *, size_t);
/* Borrowed bytes of role, or NULL. */
const uint8_t		*trust_state_get(const struct trust_state *, const char *role,
			    size_t *lenp);
size_t			 trust_state_count(const struct trust_state *);
/* The i-th role name (stable order), for iteration. */
const char		*trust_state_role(const struct trust_state *, size_t i);

/*
 * Persisted trusted state: <dir>/<encoded GUN>/<role>.json, every file
 * replaced atomically (write to a temporary file, fsync, rename, fsync the
 * directory), so a crash never leaves a half-written file; a file already
 * holding the role's bytes is not rewritten. Files of roles a repository
 * dropped are kept (their versions stay floors); loading refuses a
 * directory with more role files than a state may hold. A missing GUN
 * directory loads as an empty state. Returns 0 or -1 with err set.
 */
int	trust_store_load(const char *dir, const char *gun, struct trust_state **,
	    struct trust_error *);
int	trust_store_save(const char *dir, const char *gun, const struct trust_state *,
	    struct trust_error *);

/*
 * A verified repository: every target of every loaded role. Owned by the
 * caller of trust_update_take_repo(); immutable afterwards, so it may be
 * shared read-only.
 */
struct trust_repo;

struct trust_target {
	const char	*name;		/* the tag */
	const char	*role;		/* role that signed it, e.g. "targets/releases" */
	uint8_t		 sha256[32];
	int		 has_sha256;
	int64_t		 length;
};

void		 trust_repo_free(struct trust_repo *);
/* Earliest expiry among the metadata the verdict rests on. */
time_t		 trust_repo_expires(const struct trust_repo *);
size_t		 trust_repo_ntargets(const struct trust_repo *);
/* The i-th target, roles in load order (targets, then delegations breadth-first). */
const struct trust_target *trust_repo_target(const struct trust_repo *, size_t);

/*
 * Tag -> signed target with Docker's semantics: walk targets/releases and
 * its subtree first, then targets and every other delegation; the first hit
 * wins and must be in exactly "targets/releases" or "targets", otherwise
 * TRUST_E_UNTRUSTED_ROLE; absent: TRUST_E_NO_TARGET; no sha256:
 * TRUST_E_NO_DIGEST. Returns 0 and fills *out (pointers borrowed from repo).
 */
int	trust_repo_lookup_tag(const struct trust_repo *, const char *tag,
	    struct trust_target *out, struct trust_error *);

/*
 * Tag resolved under a policy's required roles: with nroles == 0 this is
 * trust_repo_lookup_tag(); otherwise the tag must be signed in every listed
 * role with the same sha256 (TRUST_E_ROLE_MISMATCH if not).
 */
int	trust_repo_resolve(const struct trust_repo *, const char *tag,
	    const char *const *roles, size_t nroles, struct trust_target *out,
	    struct trust_error *);

/*
 * Digest -> a tag signing it, by reverse lookup over targets/releases and
 * targets only (the EE engine's rule). TRUST_E_NO_TARGET when none does.
 */
int	trust_repo_lookup_digest(const struct trust_repo *, const uint8_t sha256[32],
	    struct trust_target *out, struct trust_error *);

/*
 * The update workflow (TUF client update as Notary performs it).
 */
struct trust_update;

enum trust_step {
	TRUST_STEP_FETCH,	/* fetch the file described, then trust_update_feed() */
	TRUST_STEP_DONE,	/* verified: take the repo and the new state */
	TRUST_STEP_FAILED,	/* refused: see trust_update_error() */
};

struct trust_fetch {
	char	path[TRUST_MAX_PATH];	/* below .../_trust/tuf/, e.g. "snapshot.<hex>.json" */
	char	role[TRUST_MAX_ROLE_LEN + 1]; /* "root", "timestamp", "targets/releases"... */
	size_t	max_len;		/* body cap: longer bodies are TRUST_FETCH_TOOBIG */
};

/* Pseudo HTTP statuses for trust_update_feed(). */
#define TRUST_FETCH_NETERR	(-1)	/* transport failure: refused, TLS, timeout */
#define TRUST_FETCH_TOOBIG	(-2)	/* body (or Content-Length) over max_len */

/*
 * Start an update of gun at clock now. pins is borrowed; cached (may be
 * NULL) is copied and supplies the cached root and the version floors.
 * Returns NULL only on out of memory.
 */
struct trust_update	*trust_update_new(const char *gun, const struct trust_pins *,
			    const struct trust_state *cached, time_t now);
void			 trust_update_free(struct trust_update *);
enum trust_step		 trust_update_next(struct trust_update *, struct trust_fetch *);
/*
 * Result of the fetch last asked for: status is the HTTP status or a
 * TRUST_FETCH_* value; body is borrowed for the call. detail (may be NULL)
 * describes a transport failure for the error message.
 */
void			 trust_update_feed(struct trust_update *, int status,
			    const uint8_t *body, size_t len, const char *detail);
const struct trust_error *trust_update_error(const struct trust_update *);
/* After DONE: the verified repository (caller owns it) and the state to persist. */
struct trust_repo	*trust_update_take_repo(struct trust_update *);
const struct trust_state *trust_update_state(const struct trust_update *);

/* Small helpers shared with the proxy and the command line. */
void	trust_hex(const uint8_t *, size_t, char *out);	/* out: 2*len+1 bytes */
int	trust_hex_decode(const char *, uint8_t *, size_t);	/* exactly 2*len hex digits */
int	trust_time_parse(const char *rfc3339, time_t *);	/* 0 or -1 */
int	trust_role_valid(const char *);		/* "targets" or a delegation name */

/*
 * Run a whole update against metadata files in a directory laid out as a
 * Notary server stores them: root.json, <N>.root.json, timestamp.json,
 * snapshot.json, targets.json, targets/<role>.json. Hash-named requests
 * (snapshot.<hex>.json) are served from the plain file, whose hash is then
 * checked as usual. Used by `dctproxy verify` and the tests. On success
 * returns 0 with *repo and, if state is not NULL, the new state in *state
 * (both owned by the caller). Returns -1 with err set otherwise.
 */
int	trust_verify_dir(const char *dir, const char *gun, const struct trust_pins *,
	    const struct trust_state *cached, time_t now, struct trust_repo **repo,
	    struct trust_state **state, struct trust_error *);

/*
 * Cache-only load, Notary's fallback when the server cannot be reached
 * (dct-semantics 1.6): the update workflow run against cached alone, each
 * request answered with the cached bytes of its role. The cached root must
 * still pass pins; signatures, thresholds, versions and hashes are checked
 * as for a download. Metadata past its expiry is refused (TRUST_E_EXPIRED),
 * unless allow_expired (the engine's allow-expired-cached-trust-data):
 * then every "expires" is ignored. (The cached root's certificates are
 * not checked for expiry either way, as in any update: Notary loads a
 * cached root allowing expiry.) TRUST_E_NOT_FOUND without a cached root. Returns 0 with *repo (the
 * caller's), or -1 with err set.
 */
int	trust_verify_cached(const char *gun, const struct trust_pins *,
	    const struct trust_state *cached, time_t now, int allow_expired,
	    struct trust_repo **repo, struct trust_error *);

#endif
