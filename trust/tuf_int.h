/*
 * trust internals: parsed Notary metadata and the checks of one file.
 * meta.c parses and verifies single files; update.c sequences them;
 * repo.c answers lookups over the verified result.
 */
#ifndef TRUST_TUF_INT_H
#define TRUST_TUF_INT_H

#include "trust/trust_int.h"

enum trole_base {
	TROLE_ROOT = 0,
	TROLE_TARGETS,
	TROLE_SNAPSHOT,
	TROLE_TIMESTAMP,
	TROLE_NBASE
};

extern const char *const trole_names[TROLE_NBASE];

struct tsig {
	char	 keyid[65];
	char	 method[32];
	uint8_t	*sig;
	size_t	 len;
};

/* The envelope common to every metadata file. */
struct tmeta {
	char		 role[TRUST_MAX_ROLE_LEN + 1];
	uint8_t		*raw;		/* exact bytes as downloaded */
	size_t		 rawlen;
	uint8_t		*canon;		/* canonical JSON of "signed": what is signed */
	size_t		 canonlen;
	int64_t		 version;
	time_t		 expires;
	struct tsig	*sigs;
	size_t		 nsigs;
};

/* A role's keys and threshold (root "roles" entries, delegation entries). */
struct trole {
	char		 name[TRUST_MAX_ROLE_LEN + 1];
	char		(*keyids)[65];
	size_t		 nkeyids;
	int64_t		 threshold;
	char		**paths;	/* delegations only; NULL for base roles */
	size_t		 npaths;
};

/* Hashes and length of a file as its parent lists it. */
struct tfileinfo {
	char		 role[TRUST_MAX_ROLE_LEN + 1];
	int64_t		 length;
	int		 has_sha256, has_sha512;
	uint8_t		 sha256[32];
	uint8_t		 sha512[64];
};

struct troot {
	struct tmeta	 m;
	struct tkey	**keys;
	size_t		 nkeys;
	struct trole	 roles[TROLE_NBASE];
};

struct ttarget {
	char		*name;
	int		 has_sha256;
	uint8_t		 sha256[32];
	int64_t		 length;
};

struct ttargets {
	struct tmeta	 m;
	struct ttarget	*targets;
	size_t		 ntargets;
	struct tkey	**keys;		/* delegation keys */
	size_t		 nkeys;
	struct trole	*delegs;
	size_t		 ndelegs;
};

/* snapshot and timestamp: a list of file infos. */
struct tsnap {
	struct tmeta	 m;
	struct tfileinfo *files;
	size_t		 nfiles;
};

/* Parse "2006-01-02T15:04:05.999999999Z07:00" strictly. Returns 0 or -1. */
int	ttime_parse(const char *, time_t *);
/* Format as notary's error messages do (UTC, "Mon Jan 2 15:04:05 UTC 2006"). */
void	ttime_format(time_t, char *, size_t);

/*
 * Parsers: take raw bytes (copied), check the envelope and the structure
 * rules of the role type (dct-semantics 5.1). role is the expected role
 * name. Return 0 or -1 with err (TRUST_E_PARSE / TRUST_E_VALIDATION).
 */
int	troot_parse(const uint8_t *, size_t, struct troot **, struct trust_error *);
int	ttargets_parse(const char *role, const uint8_t *, size_t, struct ttargets **,
	    struct trust_error *);
int	tsnap_parse(const char *role, const uint8_t *, size_t, struct tsnap **,
	    struct trust_error *);
void	troot_free(struct troot *);
void	ttargets_free(struct ttargets *);
void	tsnap_free(struct tsnap *);

/* Version of a metadata file without verifying it (for version floors). -1 if unreadable. */
int64_t	tmeta_peek_version(const uint8_t *, size_t);

const struct tfileinfo *tsnap_find(const struct tsnap *, const char *role);
/* The key with ID id among keys[0..n), or NULL. */
struct tkey *tkeys_find(struct tkey *const *keys, size_t n, const char *id);
const struct trole *troot_role(const struct troot *, enum trole_base);

/*
 * Count distinct authorised keys with a valid signature over m and compare
 * with role's threshold: TRUST_E_THRESHOLD when short. keys is the pool
 * the role's key IDs refer to.
 */
int	tmeta_verify(const struct tmeta *, const struct trole *, struct tkey *const *keys,
	    size_t nkeys, struct trust_error *);

/* Expiry at now: TRUST_E_EXPIRED "<role> expired at <time>". */
int	tmeta_check_expiry(const struct tmeta *, time_t now, struct trust_error *);

/* Bytes against the hashes the parent signed: TRUST_E_CHECKSUM on mismatch. */
int	tfileinfo_check(const struct tfileinfo *, const uint8_t *, size_t,
	    struct trust_error *);

/*
 * Validate a root as Notary's ValidateRoot (dct-semantics 5.5, 5.6, 2):
 * root-role certificates with CN matching gun, valid at now (unless
 * check_expiry is 0), passing pins (pins may be NULL for an intermediate
 * root in a rotation chain), signed by the root threshold of those keys,
 * and, when prev is given, also by prev's root threshold of prev's
 * certificates (expiry ignored). first_bootstrap tells whether pinning
 * with TRUST_PIN_NONE and tofu unset must refuse.
 */
int	troot_validate(const struct troot *r, const struct troot *prev, const char *gun,
	    const struct trust_pins *pins, int first_bootstrap, time_t now,
	    int check_expiry, struct trust_error *);

/*
 * update.c: metadata past its expiry ("expires") is accepted from now on
 * (a cache-only load under allow-expired-cached-trust-data, offline.c).
 */
void	tupdate_ignore_expiry(struct trust_update *);

/* Is name a valid delegation role name (targets/..., notary's grammar)? */
int	trole_name_valid(const char *);

/*
 * state.c: all of the regular file open on fd (the caller closes it), at
 * most max bytes. Returns 0 and a malloc'd buffer, or -1 with errno (EFBIG
 * past max, EINVAL for anything but a regular file, EIO if it shrank).
 */
int	tfile_read(int fd, size_t max, uint8_t **out, size_t *lenp);

/*
 * repo.c: build the verified repository from the loaded roles: trepo_new,
 * trepo_add_role per role in load order, then trepo_finish (the flat
 * target list). Each returns NULL / -1 on out of memory.
 */
struct trust_repo *trepo_new(time_t expires);
int	trepo_add_role(struct trust_repo *, const struct ttargets *,
	    char *const *paths, size_t npaths, int restricted);
int	trepo_finish(struct trust_repo *);

#endif
