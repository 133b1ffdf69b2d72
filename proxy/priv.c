/*
 * priv: what `dctproxy serve` gives up before it serves.
 *
 * server_setup() first does everything that may need root: it loads the
 * configuration (certificates, keys and CA bundles are read and checked),
 * opens the audit log and binds the listeners (TLS contexts built, keys
 * read). Then priv_drop():
 *
 *   root, "user" set: the state directory is created if missing and handed
 *     to the user, the audit file too (so that trust data can be persisted
 *     and SIGUSR1 can reopen the log); the supplementary groups become the
 *     user's (initgroups), then setresgid, setresuid. Root must then be
 *     gone for good: setuid(0) and setgid(0) fail, real, effective and
 *     saved IDs are the user's, no group 0, no capability left. Then
 *     no_new_privs. Any failure is fatal: the proxy never serves as root
 *     when the operator asked it not to.
 *   root, no "user": a warning; the proxy keeps running as root.
 *   not root, "user" set: without root there is nothing to switch to, so
 *     the process must already be that user (a systemd User=, a container
 *     USER); any other user is refused: the files the operator prepared
 *     for "user" (state, audit, keys) would not be the ones in use.
 *   in every case: PR_SET_NO_NEW_PRIVS. The proxy executes nothing; this
 *     makes sure nothing it could execute would gain privileges.
 *
 * What it does not do: sandboxing (seccomp, chroot, namespaces), or
 * dropping capabilities a non-root start was given (systemd's ambient
 * CAP_NET_BIND_SERVICE; the unit's system call filter refuses capset).
 * After the drop the process is not dumpable (the kernel's rule on a UID
 * change): no core files, no ptrace by the user.
 */
#define _GNU_SOURCE	/* getresuid, getresgid, setresuid, setresgid */

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <linux/capability.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/server_int.h"

/*
 * Entries below an existing root-owned state directory handed over to the
 * user (one per GUN directory and per file in it). The directory is the
 * operator's, but a state_dir pointing at the wrong place must end in an
 * error, not in a walk over a whole file system.
 */
#define PRIV_MAX_STATE_ENTRIES	100000


/* The identity we drop to, copied out of getpwnam's static buffer. */
struct ident {
	const char	*name;
	uid_t		 uid;
	gid_t		 gid;
};

/*
 * Open the state directory, creating what is missing: parents 0755 (the
 * user must be able to pass through them), the directory itself 0700.
 * Modes are set explicitly, whatever the umask. *created: we made the
 * directory itself. Returns an fd or -1 (reported).
 */
static int
state_open(const char *dir, int *created)
{
	char	 buf[CONFIG_MAX_PATH_LEN + 1], *p, *slash;
	size_t	 len;
	int	 dfd, nfd, made, last;

	*created = 0;
	if ((len = (size_t)snprintf(buf, sizeof(buf), "%s", dir)) >= sizeof(buf) ||
	    buf[0] != '/') {
		proxy_log("state directory %s: not an absolute path", dir);
		return -1;
	}
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0';
	if (strcmp(buf, "/") == 0) {
		proxy_log("state directory %s: the root directory cannot be a state directory", dir);
		return -1;
	}
	if ((dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		proxy_log("state directory %s: /: %s", dir, strerror(errno));
		return -1;
	}
	for (p = buf + 1;; p = slash + 1) {
		p += strspn(p, "/");
		if ((slash = strchr(p, '/')) != NULL)
			*slash = '\0';
		last = slash == NULL;	/* no trailing '/' left */
		made = mkdirat(dfd, p, last ? 0700 : 0755) == 0;
		if (!made && errno != EEXIST) {
			proxy_log("state directory %s: cannot create %s: %s", dir, p, strerror(errno));
			close(dfd);
			return -1;
		}
		nfd = openat(dfd, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(dfd);
		if (nfd == -1) {
			proxy_log("state directory %s: %s: %s", dir, p, strerror(errno));
			return -1;
		}
		dfd = nfd;
		if (made && fchmod(dfd, last ? 0700 : 0755) == -1) {
			proxy_log("state directory %s: chmod %s: %s", dir, p, strerror(errno));
			close(dfd);
			return -1;
		}
		if (last) {
			*created = made;
			return dfd;
		}
	}
}

/* What trust/state.c writes: percent-encoded GUNs, role files, temporaries. */
static int
state_name_ok(const char *name, int depth)
{
	size_t n = strlen(name);

	if (n == 0 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._%-") != n)
		return 0;
	if (depth == 0)
		return 1;
	return strncmp(name, ".tmp.", 5) == 0 || (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

/*
 * Walk a root-owned state directory (depth 0: GUN directories, depth 1:
 * their files). apply 0 checks that everything looks like trust data
 * written by trust/state.c (directories, then regular files with one
 * link, owned by root or the user, nothing else); apply 1 hands each entry
 * to the user without following links. Returns 0, or -1 with why.
 */
static int
state_walk(int dfd, int depth, const struct ident *id, int apply, size_t *count,
    char *why, size_t whylen)
{
	DIR		*d = NULL;
	struct dirent	*de;
	struct stat	 st;
	int		 fd, sub, rc = -1;

	if ((fd = dup(dfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		snprintf(why, whylen, "cannot list it: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		goto out;
	}
	rewinddir(d);	/* the dup shares the offset an earlier walk left at the end */
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (++*count > PRIV_MAX_STATE_ENTRIES) {
			snprintf(why, whylen, "more than %d entries", PRIV_MAX_STATE_ENTRIES);
			goto out;
		}
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			snprintf(why, whylen, "%s: %s", de->d_name, strerror(errno));
			goto out;
		}
		if (!state_name_ok(de->d_name, depth) ||
		    (st.st_uid != 0 && st.st_uid != id->uid) ||
		    (depth == 0 && !S_ISDIR(st.st_mode)) ||
		    (depth == 1 && (!S_ISREG(st.st_mode) || st.st_nlink != 1))) {
			snprintf(why, whylen, "%s does not look like trust data", de->d_name);
			goto out;
		}
		if (depth == 1) {
			if (apply && fchownat(dfd, de->d_name, id->uid, id->gid,
			    AT_SYMLINK_NOFOLLOW) == -1) {
				snprintf(why, whylen, "chown %s: %s", de->d_name, strerror(errno));
				goto out;
			}
			continue;
		}
		sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub == -1) {
			snprintf(why, whylen, "%s: %s", de->d_name, strerror(errno));
			goto out;
		}
		if (state_walk(sub, 1, id, apply, count, why, whylen) == -1 ||
		    (apply && fchown(sub, id->uid, id->gid) == -1)) {
			if (why[0] == '\0')
				snprintf(why, whylen, "chown %s: %s", de->d_name, strerror(errno));
			close(sub);
			goto out;
		}
		close(sub);
	}
	if (errno != 0) {
		snprintf(why, whylen, "cannot list it: %s", strerror(errno));
		goto out;
	}
	rc = 0;
 out:
	if (d != NULL)
		closedir(d);
	return rc;
}

/*
 * Make the state directory the user's: created if missing; left alone if
 * the user owns it; if root owns it (an earlier run as root, or made by
 * hand) and it holds only trust data, handed over with its contents.
 * Anything else is refused: another owner, or a root-owned directory that
 * others may write to or that holds other files (state_dir pointing at
 * /etc must not give /etc away). Returns 0 or -1 (reported).
 */
static int
state_prepare(const char *dir, const struct ident *id)
{
	struct stat	 st;
	char		 why[512] = "";
	size_t		 count = 0;
	int		 dfd, created, rc = -1;

	if ((dfd = state_open(dir, &created)) == -1)
		return -1;
	if (fstat(dfd, &st) == -1) {
		proxy_log("state directory %s: %s", dir, strerror(errno));
		goto out;
	}
	if (st.st_uid == id->uid) {
		rc = 0;
		goto out;
	}
	if (st.st_uid != 0) {
		proxy_log("state directory %s is owned by uid %ld, neither root nor %s (uid %ld): "
		    "chown -R %s it", dir, (long)st.st_uid, id->name, (long)id->uid, id->name);
		goto out;
	}
	if (!created) {
		if (st.st_mode & (S_IWGRP | S_IWOTH)) {
			proxy_log("state directory %s is owned by root and writable by others: "
			    "not handing it to %s; use a directory of its own", dir, id->name);
			goto out;
		}
		if (state_walk(dfd, 0, id, 0, &count, why, sizeof(why)) == -1) {
			proxy_log("state directory %s: %s; not handing it to %s (if it is the "
			    "right directory, chown -R %s it)", dir, why, id->name, id->name);
			goto out;
		}
		count = 0;
		why[0] = '\0';
		if (state_walk(dfd, 0, id, 1, &count, why, sizeof(why)) == -1) {
			proxy_log("state directory %s: %s", dir, why);
			goto out;
		}
	}
	if (fchown(dfd, id->uid, id->gid) == -1) {
		proxy_log("state directory %s: chown to %s: %s", dir, id->name, strerror(errno));
		goto out;
	}
	proxy_log("state directory %s: %s, owned by %s", dir,
	    created ? "created" : "handed over", id->name);
	rc = 0;
 out:
	close(dfd);
	return rc;
}

/*
 * Give the open audit file to the user, so that a reopen (SIGUSR1) of the
 * same path after logrotate's "create" keeps working. Only a regular file
 * with one link that root owns: the directory may be writable by the user,
 * and a hard link planted there must not make root give away another file.
 * The group is kept (log readers). Not handing it over is not fatal: the
 * file is open and appends keep working.
 */
static void
audit_prepare(struct audit *a, const struct ident *id)
{
	struct stat	st;
	int		fd = audit_fd(a);

	if (fd == -1)
		return;		/* standard output */
	if (fstat(fd, &st) == -1) {
		proxy_log("audit log %s: %s", audit_path(a), strerror(errno));
		return;
	}
	if (st.st_uid == id->uid)
		return;
	if (st.st_uid != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		proxy_log("warning: audit log %s (owner uid %ld, %ld links) is not handed to %s; "
		    "reopening it on SIGUSR1 may fail", audit_path(a), (long)st.st_uid,
		    (long)st.st_nlink, id->name);
		return;
	}
	if (fchown(fd, id->uid, (gid_t)-1) == -1)
		proxy_log("warning: audit log %s: chown to %s: %s", audit_path(a), id->name,
		    strerror(errno));
}

/* Linux capabilities still held (effective or permitted); -1 if unknown. */
static int
caps_held(void)
{
	struct __user_cap_header_struct	h;
	struct __user_cap_data_struct	d[_LINUX_CAPABILITY_U32S_3];
	size_t				i;

	memset(&h, 0, sizeof(h));
	memset(d, 0, sizeof(d));
	h.version = _LINUX_CAPABILITY_VERSION_3;
	if (syscall(SYS_capget, &h, d) == -1)
		return -1;
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (d[i].effective != 0 || d[i].permitted != 0)
			return 1;
	return 0;
}

/* After setresuid: root must be gone for good. Returns 0, or -1 with why. */
static int
verify_dropped(const struct ident *id, char *why, size_t whylen)
{
	uid_t	 ru, eu, su;
	gid_t	 rg, eg, sg, *groups = NULL;
	int	 n, i, rc = -1;

	if (setuid(0) != -1 || setgid(0) != -1) {
		snprintf(why, whylen, "root can be regained");
		goto out;
	}
	if (getresuid(&ru, &eu, &su) == -1 || ru != id->uid || eu != id->uid ||
	    su != id->uid) {
		snprintf(why, whylen, "user IDs are not all %ld", (long)id->uid);
		goto out;
	}
	if (getresgid(&rg, &eg, &sg) == -1 || rg != id->gid || eg != id->gid ||
	    sg != id->gid) {
		snprintf(why, whylen, "group IDs are not all %ld", (long)id->gid);
		goto out;
	}
	if ((n = getgroups(0, NULL)) == -1 ||
	    (groups = calloc((size_t)n + 1, sizeof(*groups))) == NULL ||
	    (n = getgroups(n, groups)) == -1) {
		snprintf(why, whylen, "cannot read the supplementary groups");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (groups[i] == 0) {
			snprintf(why, whylen, "%s is a member of group 0", id->name);
			goto out;
		}
	if (caps_held() != 0) {
		snprintf(why, whylen, "capabilities are still held");
		goto out;
	}
	rc = 0;
 out:
	free(groups);
	return rc;
}

static int
no_new_privs(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		proxy_log("cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		proxy_log("no_new_privs did not stick");
		return -1;
	}
	return 0;
}

/* Look up name into *id. Returns 0, or -1 (reported). */
static int
lookup(const char *name, const char *cfgfile, struct ident *id)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(name)) == NULL) {
		if (errno != 0)
			proxy_log("user \"%s\" (%s): cannot look it up: %s", name, cfgfile,
			    strerror(errno));
		else
			proxy_log("user \"%s\" (%s): no such user", name, cfgfile);
		return -1;
	}
	id->name = name;
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	return 0;
}

/* As root: hand over state and audit files, switch to id, verify. */
static int
drop_to(struct server *srv, const struct ident *id)
{
	const struct config	*cfg = srv->cfg;
	char			 why[256], adir[CONFIG_MAX_PATH_LEN + 1], *slash;

	if (id->uid == 0 || id->gid == 0) {
		proxy_log("user \"%s\" (%s) has uid %ld, gid %ld: not an unprivileged user",
		    id->name, cfg->path, (long)id->uid, (long)id->gid);
		return -1;
	}
	if (state_prepare(cfg->state_dir, id) == -1)
		return -1;
	audit_prepare(srv->audit, id);
	if (initgroups(id->name, id->gid) == -1 || setresgid(id->gid, id->gid, id->gid) == -1 ||
	    setresuid(id->uid, id->uid, id->uid) == -1) {
		proxy_log("cannot drop privileges to user \"%s\": %s", id->name, strerror(errno));
		return -1;
	}
	if (verify_dropped(id, why, sizeof(why)) == -1) {
		proxy_log("dropping privileges to user \"%s\" failed: %s", id->name, why);
		return -1;
	}
	proxy_log("running as user %s (uid %ld, gid %ld)", id->name, (long)id->uid, (long)id->gid);

	/* As the user now: what it will need to do later. */
	if (access(cfg->state_dir, R_OK | W_OK | X_OK) == -1) {
		proxy_log("state directory %s is not usable by %s: %s (a parent directory "
		    "it cannot pass?)", cfg->state_dir, id->name, strerror(errno));
		return -1;
	}
	if (strcmp(cfg->audit_path, "-") != 0 &&
	    (size_t)snprintf(adir, sizeof(adir), "%s", cfg->audit_path) < sizeof(adir) &&
	    (slash = strrchr(adir, '/')) != NULL) {
		slash[slash == adir ? 1 : 0] = '\0';
		if (access(adir, W_OK | X_OK) == -1)
			proxy_log("note: %s cannot create files in %s: after a rotation, SIGUSR1 "
			    "reopens %s only if it exists (logrotate's \"create\" with owner "
			    "%s, or \"copytruncate\")", id->name, adir, cfg->audit_path,
			    id->name);
	}
	return 0;
}

int
priv_drop(struct server *srv)
{
	const struct config	*cfg = srv->cfg;
	struct ident		 id;
	uid_t			 ru, eu, su;

	if (geteuid() == 0) {
		if (cfg->user == NULL)
			proxy_log("warning: running as root: set \"user\" in %s to drop "
			    "privileges after start", cfg->path);
		else if (lookup(cfg->user, cfg->path, &id) == -1 || drop_to(srv, &id) == -1)
			return -1;
	} else if (cfg->user != NULL) {
		if (lookup(cfg->user, cfg->path, &id) == -1)
			return -1;
		if (getresuid(&ru, &eu, &su) == -1 || ru != id.uid || eu != id.uid ||
		    su != id.uid) {
			proxy_log("user \"%s\" (uid %ld) is configured in %s, but dctproxy runs as "
			    "uid %ld without root and cannot switch: start it as root or as "
			    "%s, or remove \"user\"", id.name, (long)id.uid, cfg->path,
			    (long)geteuid(), id.name);
			return -1;
		}
		proxy_log("already running unprivileged as uid %ld (user %s)", (long)id.uid,
		    id.name);
	}
	return no_new_privs();
}

static int
same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

void
priv_reload(const struct config *old, const struct config *ncfg)
{
	size_t i;

	if (!same(old->user, ncfg->user))
		proxy_log("reload: \"user\" changed from %s to %s; it takes effect at the next "
		    "start", old->user ? old->user : "(none)", ncfg->user ? ncfg->user : "(none)");
	if (!same(old->state_dir, ncfg->state_dir))
		proxy_log("reload: \"state_dir\" changed from %s to %s; it takes effect at the "
		    "next start", old->state_dir, ncfg->state_dir);
	/* listeners are not rebound: one line for whatever changed in them */
	if (old->nlisteners != ncfg->nlisteners) {
		proxy_log("reload: listeners changed; they take effect at the next start");
		return;
	}
	for (i = 0; i < ncfg->nlisteners; i++) {
		const struct config_listener *lo = &old->listeners[i], *ln = &ncfg->listeners[i];

		if (strcmp(lo->address, ln->address) != 0 || (lo->tls == NULL) != (ln->tls == NULL)) {
			proxy_log("reload: listeners changed; they take effect at the next start");
			return;
		}
	}
	for (i = 0; i < ncfg->nlisteners; i++) {
		const struct config_tls *a = old->listeners[i].tls, *b = ncfg->listeners[i].tls;

		if (a != NULL && b != NULL &&
		    (strcmp(a->certificate, b->certificate) != 0 || strcmp(a->key, b->key) != 0)) {
			proxy_log("reload: listener %s: certificate or key changed; it takes "
			    "effect at the next start", ncfg->listeners[i].address);
			return;
		}
	}
}
