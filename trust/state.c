/*
 * Trusted state: the raw bytes of the last verified metadata of one GUN,
 * in memory (struct trust_state) and on disk (trust_store_*).
 *
 * On disk: <dir>/<encoded GUN>/<role>.json, with '/' in delegation names
 * encoded like the GUN, so every GUN is one flat directory. Each file is
 * replaced atomically: written to a temporary file in the same directory,
 * fsync'd, renamed over the old one, and the directory fsync'd; a file
 * whose bytes are already on disk is left alone. A crash
 * leaves either the old or the new file, never half of one; files of one
 * save may mix old and new versions, which the next update re-verifies
 * (the versions still act as floors).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trust/tuf_int.h"

#define STATE_MAX_ROLES		(TRUST_MAX_DELEGATIONS + 4)
#define STATE_MAX_FILE		TRUST_MAX_METADATA_LEN

struct state_file {
	char	*role;
	uint8_t	*buf;
	size_t	 len;
};

struct trust_state {
	struct state_file	*files;
	size_t			 n;
};

static int
role_ok(const char *role)
{
	return strcmp(role, "root") == 0 || strcmp(role, "timestamp") == 0 ||
	    strcmp(role, "snapshot") == 0 || strcmp(role, "targets") == 0 ||
	    trole_name_valid(role);
}

struct trust_state *
trust_state_new(void)
{
	return calloc(1, sizeof(struct trust_state));
}

void
trust_state_free(struct trust_state *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++) {
		free(s->files[i].role);
		free(s->files[i].buf);
	}
	free(s->files);
	free(s);
}

int
trust_state_set(struct trust_state *s, const char *role, const uint8_t *buf, size_t len)
{
	struct state_file	*f = NULL, *nf;
	uint8_t			*copy;
	size_t			 i;

	if (!role_ok(role) || len > STATE_MAX_FILE)
		return -1;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->files[i].role, role) == 0)
			f = &s->files[i];
	if (f == NULL && s->n >= STATE_MAX_ROLES)
		return -1;
	if ((copy = malloc(len ? len : 1)) == NULL)
		return -1;
	memcpy(copy, buf, len);
	if (f == NULL) {
		if ((nf = reallocarray(s->files, s->n + 1, sizeof(*nf))) == NULL) {
			free(copy);
			return -1;
		}
		s->files = nf;
		f = &s->files[s->n];
		if ((f->role = strdup(role)) == NULL) {
			free(copy);
			return -1;
		}
		s->n++;
	} else
		free(f->buf);
	f->buf = copy;
	f->len = len;
	return 0;
}

const uint8_t *
trust_state_get(const struct trust_state *s, const char *role, size_t *lenp)
{
	size_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->files[i].role, role) == 0) {
			*lenp = s->files[i].len;
			return s->files[i].buf;
		}
	return NULL;
}

struct trust_state *
trust_state_dup(const struct trust_state *s)
{
	struct trust_state	*d;
	size_t			 i;

	if ((d = trust_state_new()) == NULL)
		return NULL;
	for (i = 0; s != NULL && i < s->n; i++)
		if (trust_state_set(d, s->files[i].role, s->files[i].buf,
		    s->files[i].len) == -1) {
			trust_state_free(d);
			return NULL;
		}
	return d;
}

size_t
trust_state_count(const struct trust_state *s)
{
	return s == NULL ? 0 : s->n;
}

const char *
trust_state_role(const struct trust_state *s, size_t i)
{
	return i < s->n ? s->files[i].role : NULL;
}

/* ---- on disk -------------------------------------------------------- */

/* Percent-encode everything but [A-Za-z0-9._-]; "." and ".." cannot result. */
static int
encode(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (*in == '\0' || strcmp(in, ".") == 0 || strcmp(in, "..") == 0)
		return -1;
	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;

		if (o + 4 > outlen)
			return -1;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
			out[o++] = (char)c;
		else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* encode() writes upper case only */
}

static int
decode(const char *in, char *out, size_t outlen)
{
	size_t	o = 0;
	int	hi, lo;

	for (; *in != '\0'; in++) {
		if (o + 1 >= outlen)
			return -1;
		if (*in == '%') {
			if ((hi = hexval(in[1])) < 0 || (lo = hexval(in[2])) < 0)
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			in += 2;
		} else
			out[o++] = *in;
	}
	out[o] = '\0';
	return 0;
}

static int
gun_dir(const char *dir, const char *gun, char *buf, size_t len)
{
	char enc[3 * TRUST_MAX_GUN_LEN + 1];

	if (strlen(gun) > TRUST_MAX_GUN_LEN || encode(gun, enc, sizeof(enc)) == -1)
		return -1;
	if ((size_t)snprintf(buf, len, "%s/%s", dir, enc) >= len)
		return -1;
	return 0;
}

int
tfile_read(int fd, size_t max, uint8_t **out, size_t *lenp)
{
	struct stat	 st;
	uint8_t		*buf = NULL;
	ssize_t		 r;
	size_t		 got = 0;

	if (fstat(fd, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	if ((uintmax_t)st.st_size > max) {
		errno = EFBIG;
		return -1;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		return -1;
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;	/* shrank while we read */
			free(buf);
			return -1;
		}
		got += (size_t)r;
	}
	*out = buf;
	*lenp = got;
	return 0;
}

/* dfd/name, not through a symbolic link, at most STATE_MAX_FILE bytes. */
static int
read_file(int dfd, const char *name, uint8_t **out, size_t *lenp)
{
	int fd, rc, saved;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	rc = tfile_read(fd, STATE_MAX_FILE, out, lenp);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
trust_store_load(const char *dir, const char *gun, struct trust_state **out,
    struct trust_error *err)
{
	struct trust_state	*s;
	struct dirent		*de;
	DIR			*d = NULL;
	char			 path[4096], role[TRUST_MAX_ROLE_LEN + 1], enc[1024];
	uint8_t			*buf = NULL;
	size_t			 len, nl;
	int			 rc = -1;

	if ((s = trust_state_new()) == NULL)
		return trust_seterr(err, TRUST_E_INTERNAL, "out of memory");
	if (gun_dir(dir, gun, path, sizeof(path)) == -1) {
		trust_seterr(err, TRUST_E_INTERNAL, "GUN %s cannot be stored", gun);
		goto out;
	}
	if ((d = opendir(path)) == NULL) {
		if (errno == ENOENT) {
			rc = 0;
			goto done;
		}
		trust_seterr(err, TRUST_E_INTERNAL, "unable to access trust cache for "
		    "%s: %s: %s", gun, path, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		nl = strlen(de->d_name);
		if (nl <= 5 || nl >= sizeof(enc) ||
		    strcmp(de->d_name + nl - 5, ".json") != 0)
			continue;	/* temporaries and strangers */
		memcpy(enc, de->d_name, nl - 5);
		enc[nl - 5] = '\0';
		if (decode(enc, role, sizeof(role)) == -1 || !role_ok(role))
			continue;
		/* files of roles a repository dropped stay (their floors do) */
		if (s->n >= STATE_MAX_ROLES && trust_state_get(s, role, &len) == NULL) {
			trust_seterr(err, TRUST_E_INTERNAL, "unable to access trust "
			    "cache for %s: %s holds more than %d role files", gun,
			    path, STATE_MAX_ROLES);
			goto out;
		}
		if (read_file(dirfd(d), de->d_name, &buf, &len) == -1 ||
		    trust_state_set(s, role, buf, len) == -1) {
			trust_seterr(err, TRUST_E_INTERNAL, "unable to access trust "
			    "cache for %s: cannot read %s/%s", gun, path, de->d_name);
			goto out;
		}
		free(buf);
		buf = NULL;
	}
	rc = 0;
 done:
	*out = s;
	s = NULL;
 out:
	free(buf);
	if (d != NULL)
		closedir(d);
	trust_state_free(s);
	return rc;
}

static int
mkdir_p(char *path)
{
	char *p;

	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return mkdir(path, 0700) == -1 && errno != EEXIST ? -1 : 0;
}

static int
write_atomic(int dfd, const char *name, const uint8_t *buf, size_t len)
{
	char	tmp[1200];
	size_t	off = 0;
	ssize_t	w;
	int	fd, rc = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), ".tmp.%ld.%s", (long)getpid(), name) >=
	    sizeof(tmp))
		return -1;
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	while (off < len) {
		w = write(fd, buf + off, len - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		off += (size_t)w;
	}
	if (fsync(fd) == -1)
		goto out;
	if (renameat(dfd, tmp, dfd, name) == -1)
		goto out;
	rc = 0;
 out:
	close(fd);
	if (rc == -1)
		unlinkat(dfd, tmp, 0);
	return rc;
}

int
trust_store_save(const char *dir, const char *gun, const struct trust_state *s,
    struct trust_error *err)
{
	char	 path[4096], enc[3 * TRUST_MAX_ROLE_LEN + 8];
	uint8_t	*old;
	size_t	 i, oldlen;
	int	 dfd = -1, same, renamed = 0, rc = -1;

	if (gun_dir(dir, gun, path, sizeof(path)) == -1) {
		trust_seterr(err, TRUST_E_INTERNAL, "GUN %s cannot be stored", gun);
		goto out;
	}
	if (mkdir_p(path) == -1 ||
	    (dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		trust_seterr(err, TRUST_E_INTERNAL, "unable to access trust cache for "
		    "%s: %s: %s", gun, path, strerror(errno));
		goto out;
	}
	for (i = 0; i < s->n; i++) {
		if (encode(s->files[i].role, enc, sizeof(enc) - 5) == -1)
			continue;
		strncat(enc, ".json", sizeof(enc) - strlen(enc) - 1);
		/* an unchanged role (most of them, on a warm update) is not rewritten */
		if (read_file(dfd, enc, &old, &oldlen) == 0) {
			same = oldlen == s->files[i].len &&
			    memcmp(old, s->files[i].buf, oldlen) == 0;
			free(old);
			if (same)
				continue;
		}
		if (write_atomic(dfd, enc, s->files[i].buf, s->files[i].len) == -1) {
			trust_seterr(err, TRUST_E_INTERNAL, "unable to write trust cache "
			    "for %s: %s/%s: %s", gun, path, enc, strerror(errno));
			goto out;
		}
		renamed = 1;
	}
	if (renamed && fsync(dfd) == -1) {
		trust_seterr(err, TRUST_E_INTERNAL, "unable to sync trust cache for %s: %s",
		    gun, strerror(errno));
		goto out;
	}
	rc = 0;
 out:
	if (dfd != -1)
		close(dfd);
	return rc;
}
