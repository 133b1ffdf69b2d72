/*
 * gate: the verdicts.
 *
 * Manifests by tag: the tag is resolved in the repository's verified trust
 * data (notary.c, trust_repo_resolve under the policy's required roles)
 * and the proxy answers with the bytes of the *signed digest*, fetched
 * from upstream by that digest and checked (length against the signed
 * length, sha256 against the signed hash) before a byte goes out. A tag
 * moved in the registry therefore still gives the signed content.
 *
 * Manifests by digest: allowed when a tag in targets/releases or targets
 * signs the digest (trust_repo_lookup_digest, the engine's reverse
 * lookup), or when it is a child of a verified manifest list / OCI index
 * of the same repository (refs). The bytes are checked against the
 * digest.
 *
 * Blobs: allowed when a verified manifest of the repository references
 * them (config and layers, refs). The bytes are not checked here (the
 * client checks them against the digest it asked for): what the gate
 * guarantees is that only content reachable from signed manifests passes.
 *
 * When a child or blob is not known (the proxy restarted, or the entry
 * was evicted), the repository is indexed: every manifest signed in
 * targets/releases or targets, and the children of signed lists, is
 * fetched, verified and recorded (at most PROXY_MAX_INDEX_FETCHES, and
 * once per PROXY_INDEX_INTERVAL per repository), and the question is asked
 * again.
 *
 * Mode permissive: the same verdicts, but a failure is logged as
 * "allow-permissive" and the client's request passes through unchanged.
 * Mode disabled: plain pass-through.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "proxy/server_int.h"

struct gindex {
	uint8_t		 todo[PROXY_MAX_INDEX_FETCHES][32];
	size_t		 ntodo;
	size_t		 next;
	void		(*then)(struct preq *);
};

void
gate_free(struct preq *p)
{
	free(p->index);
	p->index = NULL;
}

static void
set_signed(struct preq *p, const uint8_t sha[32], int64_t len, const char *role)
{
	p->have_signed = 1;
	memcpy(p->signed_sha, sha, 32);
	p->signed_len = len;
	snprintf(p->signed_role, sizeof(p->signed_role), "%s", role ? role : "");
}

/* The pass-through that permissive and allow-unsigned verdicts lead to. */
static void
pass(struct preq *p)
{
	if (p->kind == PK_BLOB)
		stream_pass(p, PROXY_MAX_BLOB_LEN, 1);
	else
		stream_pass(p, PROXY_MAX_MANIFEST_LEN, 0);
}

/* A verification failure: refuse, or let it pass under the policy. */
static void
verdict_fail(struct preq *p, const struct trust_error *err)
{
	char name[TRUST_MAX_GUN_LEN + 300], msg[1024];

	snprintf(name, sizeof(name), "%s/%s", p->reg->name, p->repo);
	trust_error_engine(err, name, p->ref, msg, sizeof(msg));
	snprintf(p->message, sizeof(p->message), "%s", msg);
	if (strstr(msg, err->msg) == NULL && err->msg[0] != '\0')
		preq_note(p, err->msg);
	p->reason = trust_code_name(err->code);
	if (p->pol.allow_unsigned &&
	    (err->code == TRUST_E_NOT_FOUND || err->code == TRUST_E_NO_TARGET)) {
		p->decision = "allow";
		p->reason = "unsigned-allowed";
		pass(p);
		return;
	}
	if (p->pol.mode == CONFIG_MODE_PERMISSIVE) {
		p->decision = "allow-permissive";
		pass(p);
		return;
	}
	p->decision = "deny";
	preq_error(p, 403, "DENIED", msg);
}

static void
ask_notary(struct preq *p, notary_cb cb)
{
	struct notary_server ns;

	preq_notary_server(p, &ns);
	p->pending++;
	/* the callback may come before notary_get returns: do not touch p after */
	if (notary_get(p->srv->notary, &ns, p->gun, &p->pol.pins, time(NULL),
	    p->pol.allow_expired_cache, cb, p) == -1) {
		p->pending--;
		p->reason = "internal";
		preq_error(p, 503, "UNAVAILABLE", "out of memory asking the trust server");
	}
}

/* ---- fetching a manifest by digest, checked ------------------------------ */

static void
mf_fetched(struct fetch_req *r, int status, const char *error, void *arg)
{
	struct preq	*p = arg;
	const char	*ct;
	uint8_t		 md[32];
	unsigned int	 mdlen = 0;
	int		 verified = 0;
	char		 emsg[256];

	p->up = NULL;
	p->up_status = status;
	metrics_upstream(p->srv->metrics, METRICS_ROUTE_MANIFEST, status);
	if (status == 200) {
		ct = fetch_req_header(r, "Content-Type");
		snprintf(p->up_ctype, sizeof(p->up_ctype), "%s", ct ? ct : "");
		if (p->mf_want_len >= 0 && (int64_t)p->body_len != p->mf_want_len) {
			snprintf(emsg, sizeof(emsg), "the registry returned %zu bytes, "
			    "the signed length is %lld", p->body_len,
			    (long long)p->mf_want_len);
			error = emsg;
		} else if (EVP_Digest(p->body ? p->body : (const uint8_t *)"", p->body_len,
		    md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
			error = "cannot compute sha256";
		} else if (memcmp(md, p->mf_sha, 32) != 0) {
			char want[DIGEST_STR_LEN], got[DIGEST_STR_LEN];

			digest_format(p->mf_sha, want);
			digest_format(md, got);
			snprintf(emsg, sizeof(emsg), "the registry returned content "
			    "with digest %s instead of %s", got, want);
			error = emsg;
		} else
			verified = 1;
	} else if (status == TRUST_FETCH_TOOBIG && p->mf_want_len >= 0) {
		snprintf(emsg, sizeof(emsg), "the registry returned more than the "
		    "signed length of %lld bytes", (long long)p->mf_want_len);
		error = emsg;
	}
	p->mf_done(p, status, verified, error, r);
}

static void
fetch_manifest(struct preq *p, const uint8_t sha[32], int64_t want_len,
    void (*done)(struct preq *, int, int, const char *, struct fetch_req *))
{
	static const struct fetch_handlers h = { NULL, preq_body_append, mf_fetched, NULL };
	struct preq_upstream	u;
	char			path[PROXY_MAX_REPO_LEN + 128], dig[DIGEST_STR_LEN];

	memcpy(p->mf_sha, sha, 32);
	p->mf_want_len = want_len;
	p->mf_done = done;
	p->body_len = 0;
	digest_format(sha, dig);
	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", p->repo, dig);
	preq_upstream_init(p, &u, 1);
	u.o.max_len = want_len > 0 ? (size_t)want_len : PROXY_MAX_MANIFEST_LEN;
	u.so.token_auth = 1;
	if (preq_fetch(p, &u, METRICS_ROUTE_MANIFEST, path, 0, &h) == -1)
		done(p, TRUST_FETCH_NETERR, 0, "could not start the upstream request", NULL);
}

/* A verified manifest of p's repository from the cache (counted for the metrics), or NULL. */
static const uint8_t *
cache_get(struct preq *p, const uint8_t sha[32], size_t *len, const char **ctype)
{
	const uint8_t *b;

	b = mcache_get(p->srv->mcache, p->gun, preq_auth_key(p), sha, len, ctype);
	metrics_cache_lookup(p->srv->metrics, b != NULL);
	return b;
}

/* ---- serving a signed manifest ------------------------------------------------ */

static void
served(struct preq *p, int status, int verified, const char *error, struct fetch_req *r)
{
	char dig[DIGEST_STR_LEN], msg[1024];

	digest_format(p->signed_sha, dig);
	if (verified) {
		refs_add_manifest(p->srv->refs, p->gun, p->body, p->body_len, NULL, 0, NULL);
		mcache_put(p->srv->mcache, p->gun, preq_auth_key(p), p->signed_sha, p->body,
		    p->body_len, p->up_ctype);
		p->decision = "allow";
		preq_manifest(p, p->body, p->body_len, p->up_ctype, p->signed_sha);
		return;
	}
	if (status == 401 && r != NULL) {
		/* the registry wants the client to authenticate: pass its challenge on */
		p->decision = "deny";
		p->reason = "upstream-unauthorized";
		snprintf(p->message, sizeof(p->message), "the registry asks for "
		    "authentication to fetch %s", dig);
		preq_pass_upstream(p, r, 401, p->body, p->body_len);
		return;
	}
	if (status == 404) {
		p->reason = "upstream-not-found";
		snprintf(msg, sizeof(msg), "the signed manifest %s of %s:%s is not in the registry",
		    dig, p->repo, p->ref);
		preq_error(p, 404, "MANIFEST_UNKNOWN", msg);
		return;
	}
	if (status == 200 || status == TRUST_FETCH_TOOBIG) {
		snprintf(msg, sizeof(msg), "manifest for %s:%s does not match its signature: %s",
		    p->repo, p->ref, error ? error : "mismatch");
		preq_deny(p, "checksum", msg);
		return;
	}
	if (status > 0)
		snprintf(msg, sizeof(msg), "error contacting the registry: it answered %d "
		    "for the signed manifest %s", status, dig);
	else
		snprintf(msg, sizeof(msg), "error contacting the registry: %s",
		    error ? error : "unknown error");
	preq_deny(p, "upstream-error", msg);
}

static void
serve_signed(struct preq *p)
{
	const uint8_t	*b;
	const char	*ct;
	size_t		 len;
	char		 msg[256];

	if (p->pol.mode == CONFIG_MODE_PERMISSIVE) {
		p->decision = "allow";
		pass(p);
		return;
	}
	if ((b = cache_get(p, p->signed_sha, &len, &ct)) != NULL) {
		p->decision = "allow";
		preq_manifest(p, b, len, ct, p->signed_sha);
		return;
	}
	if (p->signed_len > PROXY_MAX_MANIFEST_LEN) {
		snprintf(msg, sizeof(msg), "the signed manifest is %lld bytes, over the "
		    "proxy's limit of %d", (long long)p->signed_len, PROXY_MAX_MANIFEST_LEN);
		preq_deny(p, "too-large", msg);
		return;
	}
	fetch_manifest(p, p->signed_sha, p->signed_len > 0 ? p->signed_len : -1, served);
}

/* ---- indexing a repository ------------------------------------------------------ */

static void
index_add(struct gindex *ix, const uint8_t sha[32])
{
	size_t i;

	for (i = 0; i < ix->ntodo; i++)
		if (memcmp(ix->todo[i], sha, 32) == 0)
			return;
	if (ix->ntodo < PROXY_MAX_INDEX_FETCHES)
		memcpy(ix->todo[ix->ntodo++], sha, 32);
}

static void
index_record(struct preq *p, const uint8_t *b, size_t len)
{
	uint8_t	children[PROXY_MAX_INDEX_FETCHES][32];
	size_t	n = 0, i;

	refs_add_manifest(p->srv->refs, p->gun, b, len, children,
	    PROXY_MAX_INDEX_FETCHES, &n);
	for (i = 0; i < n; i++)
		index_add(p->index, children[i]);
}

static void	index_step(struct preq *);

static void
index_fetched(struct preq *p, int status, int verified, const char *error,
    struct fetch_req *r)
{
	(void)status;
	(void)error;
	(void)r;
	if (verified) {
		mcache_put(p->srv->mcache, p->gun, preq_auth_key(p), p->mf_sha, p->body,
		    p->body_len, p->up_ctype);
		index_record(p, p->body, p->body_len);
	}
	index_step(p);
}

static void
index_step(struct preq *p)
{
	struct gindex	*ix = p->index;
	const uint8_t	*b, *sha;
	const char	*ct;
	size_t		 len;
	void		(*then)(struct preq *);

	while (ix->next < ix->ntodo) {
		sha = ix->todo[ix->next++];
		if ((b = cache_get(p, sha, &len, &ct)) != NULL) {
			index_record(p, b, len);
			continue;
		}
		fetch_manifest(p, sha, -1, index_fetched);
		return;
	}
	then = ix->then;
	gate_free(p);
	then(p);
}

/* Collect what the repository signs (releases/targets) and index it, then call then. */
static void
index_start(struct preq *p, const struct trust_repo *repo, void (*then)(struct preq *))
{
	const struct trust_target	*t;
	struct trust_target		 rt;
	struct trust_error		 e;
	size_t				 i, n, resolves = 0;

	if (p->pol.mode != CONFIG_MODE_ENFORCED ||
	    !refs_index_allowed(p->srv->refs, p->gun, time(NULL)) ||
	    (p->index = calloc(1, sizeof(*p->index))) == NULL) {
		then(p);
		return;
	}
	p->index->then = then;
	n = trust_repo_ntargets(repo);
	for (i = 0; i < n; i++) {
		t = trust_repo_target(repo, i);
		if (!t->has_sha256)
			continue;
		if (p->pol.nrequired_roles == 0) {
			if (strcmp(t->role, "targets") == 0 ||
			    strcmp(t->role, "targets/releases") == 0)
				index_add(p->index, t->sha256);
		} else if (resolves++ < PROXY_MAX_POLICY_RESOLVES &&
		    trust_repo_resolve(repo, t->name, p->pol.required_roles,
		    p->pol.nrequired_roles, &rt, &e) == 0)
			/* what the tag means under the policy, not what one role says */
			index_add(p->index, rt.sha256);
	}
	index_step(p);
}

/* ---- manifests ------------------------------------------------------------------- */

/* A digest no tag signs: served if a verified list of the repository has it (child). */
static void
digest_child(struct preq *p, int child)
{
	struct trust_error e;

	if (child) {
		set_signed(p, p->digest, -1, "");
		p->reason = "child-of-signed-list";
		serve_signed(p);
		return;
	}
	e.code = TRUST_E_NO_TARGET;
	snprintf(e.msg, sizeof(e.msg), "No valid trust data for %s", p->ref);
	verdict_fail(p, &e);
}

/* After indexing. */
static void
digest_unknown(struct preq *p)
{
	digest_child(p, refs_has(p->srv->refs, p->gun, p->digest, REF_CHILD));
}

/*
 * A digest is signed when a tag signs it: with Docker's default roles the
 * engine's reverse lookup (targets/releases, targets); with required roles,
 * a tag carrying the digest must also resolve to it under those roles, or a
 * pull by digest would bypass the policy.
 */
static int
digest_signed(struct preq *p, const struct trust_repo *repo, struct trust_target *out,
    struct trust_error *err)
{
	const struct trust_target	*t;
	size_t				 i, n, resolves = 0;

	if (p->pol.nrequired_roles == 0)
		return trust_repo_lookup_digest(repo, p->digest, out, err);
	n = trust_repo_ntargets(repo);
	for (i = 0; i < n && resolves < PROXY_MAX_POLICY_RESOLVES; i++) {
		t = trust_repo_target(repo, i);
		if (!t->has_sha256 || memcmp(t->sha256, p->digest, 32) != 0)
			continue;
		resolves++;
		if (trust_repo_resolve(repo, t->name, p->pol.required_roles,
		    p->pol.nrequired_roles, out, err) == 0 &&
		    memcmp(out->sha256, p->digest, 32) == 0)
			return 0;
	}
	return trust_seterr(err, TRUST_E_NO_TARGET, "no tag signs %s in every required role",
	    p->ref);
}

/* notary_cb's note, for the audit line. */
static void
trust_note(struct preq *p, const char *note)
{
	if (note != NULL)
		snprintf(p->trust_note, sizeof(p->trust_note), "%s", note);
}

static void
manifest_trust_cb(const struct trust_repo *repo, const struct trust_error *err,
    const char *note, void *arg)
{
	struct preq		*p = arg;
	struct trust_target	 t;
	struct trust_error	 e;

	p->pending--;
	trust_note(p, note);
	if (p->req == NULL) {		/* the client has gone */
		preq_finish(p);
		return;
	}
	if (repo == NULL) {
		verdict_fail(p, err);
		return;
	}
	memset(&e, 0, sizeof(e));
	if (!p->by_digest) {
		if (trust_repo_resolve(repo, p->ref, p->pol.required_roles,
		    p->pol.nrequired_roles, &t, &e) == -1) {
			verdict_fail(p, &e);
			return;
		}
		set_signed(p, t.sha256, t.length, t.role);
		p->reason = "signed";
		serve_signed(p);
		return;
	}
	if (digest_signed(p, repo, &t, &e) == 0) {
		set_signed(p, p->digest, t.length, t.role);
		p->reason = "signed";
		serve_signed(p);
		return;
	}
	if (refs_has(p->srv->refs, p->gun, p->digest, REF_CHILD)) {
		digest_child(p, 1);
		return;
	}
	index_start(p, repo, digest_unknown);
}

void
gate_manifest(struct preq *p)
{
	if (p->pol.mode == CONFIG_MODE_DISABLED) {
		p->decision = "allow";
		p->reason = "trust-disabled";
		stream_pass(p, PROXY_MAX_MANIFEST_LEN, 0);
		return;
	}
	ask_notary(p, manifest_trust_cb);
}

/* ---- blobs -------------------------------------------------------------------------- */

/* referenced: a verified manifest of the repository references the blob. */
static void
blob_decide(struct preq *p, int referenced)
{
	char dig[DIGEST_STR_LEN], msg[600];

	if (referenced) {
		p->decision = "allow";
		p->reason = "referenced";
		stream_pass(p, PROXY_MAX_BLOB_LEN, 1);
		return;
	}
	digest_format(p->digest, dig);
	snprintf(msg, sizeof(msg), "blob %s is not referenced by any signed manifest of %s/%s",
	    dig, p->reg->name, p->repo);
	p->reason = "not-referenced";
	snprintf(p->message, sizeof(p->message), "%s", msg);
	if (p->pol.mode == CONFIG_MODE_PERMISSIVE) {
		p->decision = "allow-permissive";
		stream_pass(p, PROXY_MAX_BLOB_LEN, 1);
		return;
	}
	preq_deny(p, "not-referenced", msg);
}

/* After indexing. */
static void
blob_verdict(struct preq *p)
{
	blob_decide(p, refs_has(p->srv->refs, p->gun, p->digest, REF_BLOB));
}

static void
blob_trust_cb(const struct trust_repo *repo, const struct trust_error *err,
    const char *note, void *arg)
{
	struct preq *p = arg;

	p->pending--;
	trust_note(p, note);
	if (p->req == NULL) {		/* the client has gone */
		preq_finish(p);
		return;
	}
	if (repo == NULL) {
		verdict_fail(p, err);
		return;
	}
	index_start(p, repo, blob_verdict);
}

void
gate_blob(struct preq *p)
{
	if (p->pol.mode == CONFIG_MODE_DISABLED) {
		p->decision = "allow";
		p->reason = "trust-disabled";
		stream_pass(p, PROXY_MAX_BLOB_LEN, 1);
		return;
	}
	if (refs_has(p->srv->refs, p->gun, p->digest, REF_BLOB)) {
		blob_decide(p, 1);
		return;
	}
	if (p->pol.mode == CONFIG_MODE_PERMISSIVE) {
		blob_decide(p, 0);
		return;
	}
	ask_notary(p, blob_trust_cb);
}
