/*
 * The verified repository and lookups over it with Docker's semantics
 * (dct-semantics 1.5, 3, 5.8): a tag resolves through targets/releases
 * (and its subtree) first, then targets and every other delegation; the
 * first hit wins and must be in targets/releases or targets. Digests are
 * reverse-looked-up over those two roles only.
 *
 * Roles are stored in load order (targets, then delegations breadth-first),
 * which is the order of Notary's walk. Targets outside a delegation's
 * effective paths were dropped when the role was added.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "trust/tuf_int.h"

#define RELEASES	"targets/releases"

struct repo_role {
	char			*name;
	struct trust_target	*targets;
	size_t			 ntargets;
};

struct trust_repo {
	time_t			 expires;
	struct repo_role	*roles;
	size_t			 nroles;
	struct trust_target	*all;		/* flat view for iteration (trepo_finish) */
	size_t			 nall;
};

struct trust_repo *
trepo_new(time_t expires)
{
	struct trust_repo *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->expires = expires;
	return r;
}

static int
path_allowed(const char *name, char *const *paths, size_t npaths)
{
	size_t i;

	for (i = 0; i < npaths; i++)
		if (strncmp(name, paths[i], strlen(paths[i])) == 0)
			return 1;
	return 0;
}

int
trepo_add_role(struct trust_repo *r, const struct ttargets *t, char *const *paths,
    size_t npaths, int restricted)
{
	struct repo_role	*nr, *role;
	size_t			 i;

	if ((nr = reallocarray(r->roles, r->nroles + 1, sizeof(*nr))) == NULL)
		return -1;
	r->roles = nr;
	role = &r->roles[r->nroles];
	memset(role, 0, sizeof(*role));
	if ((role->name = strdup(t->m.role)) == NULL ||
	    (role->targets = calloc(t->ntargets + 1, sizeof(*role->targets))) == NULL) {
		free(role->name);
		return -1;
	}
	r->nroles++;
	for (i = 0; i < t->ntargets; i++) {
		const struct ttarget *x = &t->targets[i];
		struct trust_target *y = &role->targets[role->ntargets];

		if (restricted && !path_allowed(x->name, paths, npaths))
			continue;	/* outside the delegation's paths: not signed */
		if ((y->name = strdup(x->name)) == NULL)
			return -1;
		y->role = role->name;
		y->has_sha256 = x->has_sha256;
		memcpy(y->sha256, x->sha256, 32);
		y->length = x->length;
		role->ntargets++;
	}
	return 0;
}

void
trust_repo_free(struct trust_repo *r)
{
	size_t i, j;

	if (r == NULL)
		return;
	for (i = 0; i < r->nroles; i++) {
		for (j = 0; j < r->roles[i].ntargets; j++)
			free((char *)(uintptr_t)r->roles[i].targets[j].name);
		free(r->roles[i].targets);
		free(r->roles[i].name);
	}
	free(r->roles);
	free(r->all);
	free(r);
}

time_t
trust_repo_expires(const struct trust_repo *r)
{
	return r->expires;
}

int
trepo_finish(struct trust_repo *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->nroles; i++)
		n += r->roles[i].ntargets;
	if ((r->all = calloc(n + 1, sizeof(*r->all))) == NULL)
		return -1;
	for (i = 0; i < r->nroles; i++) {
		memcpy(&r->all[r->nall], r->roles[i].targets,
		    r->roles[i].ntargets * sizeof(*r->all));
		r->nall += r->roles[i].ntargets;
	}
	return 0;
}

size_t
trust_repo_ntargets(const struct trust_repo *r)
{
	return r->nall;
}

const struct trust_target *
trust_repo_target(const struct trust_repo *r, size_t i)
{
	return i < r->nall ? &r->all[i] : NULL;
}

static const struct trust_target *
role_find(const struct repo_role *role, const char *tag)
{
	size_t i;

	for (i = 0; i < role->ntargets; i++)
		if (strcmp(role->targets[i].name, tag) == 0)
			return &role->targets[i];
	return NULL;
}

static int
in_releases_subtree(const char *name)
{
	size_t n = strlen(RELEASES);

	return strncmp(name, RELEASES, n) == 0 && (name[n] == '\0' || name[n] == '/');
}

int
trust_repo_lookup_tag(const struct trust_repo *r, const char *tag,
    struct trust_target *out, struct trust_error *err)
{
	const struct trust_target	*hit = NULL;
	size_t				 i;
	int				 pass;

	/* pass 0: targets/releases and its subtree; pass 1: everything else */
	for (pass = 0; pass < 2 && hit == NULL; pass++)
		for (i = 0; i < r->nroles && hit == NULL; i++)
			if (in_releases_subtree(r->roles[i].name) == (pass == 0))
				hit = role_find(&r->roles[i], tag);
	if (hit == NULL)
		return trust_seterr(err, TRUST_E_NO_TARGET, "No valid trust data for %s",
		    tag);
	if (strcmp(hit->role, RELEASES) != 0 && strcmp(hit->role, "targets") != 0)
		return trust_seterr(err, TRUST_E_UNTRUSTED_ROLE, "%s is signed only by "
		    "%s, which Docker does not trust for pulls", tag, hit->role);
	if (!hit->has_sha256)
		return trust_seterr(err, TRUST_E_NO_DIGEST, "no valid hash, expecting "
		    "sha256 for %s", tag);
	*out = *hit;
	return 0;
}

/* The tag as signed by exactly one role (e.g. "targets/security"). */
static int
lookup_in_role(const struct trust_repo *r, const char *tag, const char *role,
    struct trust_target *out, struct trust_error *err)
{
	const struct trust_target	*hit = NULL;
	size_t				 i;

	for (i = 0; i < r->nroles && hit == NULL; i++)
		if (strcmp(r->roles[i].name, role) == 0)
			hit = role_find(&r->roles[i], tag);
	if (hit == NULL)
		return trust_seterr(err, TRUST_E_NO_TARGET, "No valid trust data for %s "
		    "in required role %s", tag, role);
	if (!hit->has_sha256)
		return trust_seterr(err, TRUST_E_NO_DIGEST, "no valid hash, expecting "
		    "sha256 for %s in %s", tag, role);
	*out = *hit;
	return 0;
}

int
trust_repo_resolve(const struct trust_repo *r, const char *tag,
    const char *const *roles, size_t nroles, struct trust_target *out,
    struct trust_error *err)
{
	struct trust_target	first, t;
	size_t			i;

	if (nroles == 0)
		return trust_repo_lookup_tag(r, tag, out, err);
	for (i = 0; i < nroles; i++) {
		if (lookup_in_role(r, tag, roles[i], &t, err) == -1)
			return -1;
		if (i == 0)
			first = t;
		else if (CRYPTO_memcmp(first.sha256, t.sha256, 32) != 0 ||
		    first.length != t.length)
			return trust_seterr(err, TRUST_E_ROLE_MISMATCH, "%s signs a "
			    "different digest for %s than %s", roles[i], tag, roles[0]);
	}
	*out = first;
	return 0;
}

int
trust_repo_lookup_digest(const struct trust_repo *r, const uint8_t sha256[32],
    struct trust_target *out, struct trust_error *err)
{
	static const char *const order[] = { RELEASES, "targets" };
	const struct repo_role	*role;
	size_t			 i, j, k;

	for (k = 0; k < 2; k++)
		for (i = 0; i < r->nroles; i++) {
			role = &r->roles[i];
			if (strcmp(role->name, order[k]) != 0)
				continue;
			for (j = 0; j < role->ntargets; j++)
				if (role->targets[j].has_sha256 &&
				    CRYPTO_memcmp(role->targets[j].sha256, sha256, 32) == 0) {
					*out = role->targets[j];
					return 0;
				}
		}
	return trust_seterr(err, TRUST_E_NO_TARGET, "no signed tag has this digest");
}
