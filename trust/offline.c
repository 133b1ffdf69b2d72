/*
 * The update workflow driven by files in a directory instead of a server
 * (`dctproxy verify`, tests): each request is answered from the file the
 * server would have served, a missing file is a 404.
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

int
trust_verify_dir(const char *dir, const char *gun, const struct trust_pins *pins,
    const struct trust_state *cached, time_t now, struct trust_repo **repo,
    struct trust_state **state, struct trust_error *err)
{
	struct trust_update	*u;
	struct trust_fetch	 f;
	enum trust_step		 step;
	char			 name[TRUST_MAX_PATH];
	uint8_t			*body = NULL;
	size_t			 len = 0;
	int			 status, rc = -1;

	if ((u = trust_update_new(gun, pins, cached, now)) == NULL)
		return trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
	while ((step = trust_update_next(u, &f)) == TRUST_STEP_FETCH) {
		status = map_path(f.path, name, sizeof(name)) == -1 ? 404 :
		    slurp(dir, name, f.max_len, &body, &len);
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
