/*
 * The update workflow driven without a server: by files in a directory
 * (`dctproxy verify`, tests), each request answered from the file the
 * server would have served, a missing file a 404; or by a persisted state
 * alone (trust_verify_cached: the cache-only load when the server cannot
 * be reached).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trust/tuf_int.h"

/*
 * Map a request path to a file: "<role>.<64 hex>.json" -> "<role>.json",
 * everything else as is. Rejects paths that could leave dir.
 */
static int
map_path(const char *req, char *out, size_t outlen)
{
	size_t	n = strlen(req), i;

	if (strstr(req, "..") != NULL || req[0] == '/' || n < 5)
		return -1;
	if (n > 70 && strcmp(req + n - 5, ".json") == 0 && req[n - 70] == '.') {
		for (i = n - 69; i < n - 5; i++)
			if (!((req[i] >= '0' && req[i] <= '9') || (req[i] >= 'a' && req[i] <= 'f')))
				break;
		if (i == n - 5) {
			if (n - 70 + 6 > outlen)
				return -1;
			memcpy(out, req, n - 70);
			memcpy(out + n - 70, ".json", 6);
			return 0;
		}
	}
	if (n + 1 > outlen)
		return -1;
	memcpy(out, req, n + 1);
	return 0;
}

/* Read dir/name: 200 and bytes, 404 when missing, TOOBIG past max. */
static int
slurp(const char *dir, const char *name, size_t max, uint8_t **out, size_t *lenp)
{
	char	path[4096];
	int	fd, rc, saved;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return 404;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT || errno == ENOTDIR ? 404 : TRUST_FETCH_NETERR;
	rc = tfile_read(fd, max, out, lenp);
	saved = errno;
	close(fd);
	errno = saved;
	if (rc == 0)
		return 200;
	return errno == EFBIG ? TRUST_FETCH_TOOBIG : TRUST_FETCH_NETERR;
}

/*
 * Where run() gets the file an update asks for: 200 and a malloc'd body,
 * 404, or a TRUST_FETCH_* status (errno set for TRUST_FETCH_NETERR).
 */
typedef int	(*source_fn)(const void *ctx, const struct trust_fetch *, uint8_t **body,
		    size_t *len);

/* The directory source of trust_verify_dir(). */
static int
dir_source(const void *ctx, const struct trust_fetch *f, uint8_t **body, size_t *len)
{
	char name[TRUST_MAX_PATH];

	if (map_path(f->path, name, sizeof(name)) == -1)
		return 404;
	return slurp(ctx, name, f->max_len, body, len);
}

/*
 * The state source of trust_verify_cached(): the cached bytes of the role
 * asked for (hash-named requests included; their hash is checked as
 * usual). A root at a given version (<N>.root.json, a rotation walk) is not
 * held: 404.
 */
static int
state_source(const void *ctx, const struct trust_fetch *f, uint8_t **body, size_t *len)
{
	const uint8_t	*b;
	size_t		 n;

	if (f->path[0] >= '0' && f->path[0] <= '9')
		return 404;
	if ((b = trust_state_get(ctx, f->role, &n)) == NULL)
		return 404;
	if (n > f->max_len)
		return TRUST_FETCH_TOOBIG;
	if ((*body = malloc(n > 0 ? n : 1)) == NULL)
		return TRUST_FETCH_NETERR;
	memcpy(*body, b, n);
	*len = n;
	return 200;
}

/* Drive u to its end, every request answered by src; then as trust_verify_dir(). */
static int
run(struct trust_update *u, source_fn src, const void *ctx, struct trust_repo **repo,
    struct trust_state **state, struct trust_error *err)
{
	struct trust_fetch	 f;
	enum trust_step		 step;
	uint8_t			*body = NULL;
	size_t			 len = 0;
	int			 status, rc = -1;

	while ((step = trust_update_next(u, &f)) == TRUST_STEP_FETCH) {
		status = src(ctx, &f, &body, &len);
		trust_update_feed(u, status, body, status == 200 ? len : 0,
		    status == TRUST_FETCH_NETERR ? strerror(errno) : NULL);
		free(body);
		body = NULL;
	}
	if (step != TRUST_STEP_DONE) {
		if (err != NULL)
			*err = *trust_update_error(u);
		goto out;
	}
	if (state != NULL &&
	    (*state = trust_state_dup(trust_update_state(u))) == NULL) {
		trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
		goto out;
	}
	*repo = trust_update_take_repo(u);
	rc = 0;
 out:
	trust_update_free(u);
	return rc;
}

int
trust_verify_dir(const char *dir, const char *gun, const struct trust_pins *pins,
    const struct trust_state *cached, time_t now, struct trust_repo **repo,
    struct trust_state **state, struct trust_error *err)
{
	struct trust_update *u;

	if ((u = trust_update_new(gun, pins, cached, now)) == NULL)
		return trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
	return run(u, dir_source, dir, repo, state, err);
}

int
trust_verify_cached(const char *gun, const struct trust_pins *pins,
    const struct trust_state *cached, time_t now, int allow_expired,
    struct trust_repo **repo, struct trust_error *err)
{
	struct trust_update	*u;
	size_t			 len;

	if (trust_state_get(cached, "root", &len) == NULL)
		return trust_seterr(err, TRUST_E_NOT_FOUND, "no cached trust data");
	if ((u = trust_update_new(gun, pins, cached, now)) == NULL)
		return trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
	if (allow_expired)
		tupdate_ignore_expiry(u);
	return run(u, state_source, cached, repo, NULL, err);
}
