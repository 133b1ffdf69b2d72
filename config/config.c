/*
 * config/config.c: load and validate the configuration file.
 *
 * The file is read whole (capped), parsed by jansson with duplicate keys
 * refused and trailing bytes refused, then walked once, section by
 * section. Each section checks its own keys (unknown keys are errors),
 * types, ranges and syntaxes and reports every problem with a field path
 * ("registries[1].notary.url: scheme must be http or https"); the walk
 * goes on after an error so that one run shows them all. Cross-field rules
 * (unique names, the engine's "trust pinning cannot be empty") come last.
 *
 * Memory: everything a config points to lives in one arena owned by the
 * config, wiped and freed as a unit by the last config_free(); nothing
 * refers to the jansson tree after loading.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "config/config.h"

/* ---- arena ---- */

#define ARENA_CHUNK	(16 * 1024)
#define ARENA_ALIGN	16

struct arena_chunk {
	struct arena_chunk	*next;
	size_t			 size;
	size_t			 used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

struct config_priv {
	atomic_uint		 refs;
	struct arena_chunk	*chunks;
};

/* Zeroed memory that lives as long as the config. NULL on out of memory. */
static void *
arena_alloc(struct config_priv *pv, size_t n)
{
	struct arena_chunk	*c = pv->chunks;
	size_t			 sz;
	void			*p;

	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (n == 0)
		n = ARENA_ALIGN;
	if (c == NULL || c->size - c->used < n) {
		sz = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		if ((c = calloc(1, sizeof(*c) + sz)) == NULL)
			return NULL;
		c->size = sz;
		if (pv->chunks != NULL && n > ARENA_CHUNK) {
			/* A big one-off: keep the current chunk for small allocations. */
			c->next = pv->chunks->next;
			pv->chunks->next = c;
		} else {
			c->next = pv->chunks;
			pv->chunks = c;
		}
	}
	p = c->data + c->used;
	c->used += n;
	return p;
}

static void
arena_free(struct config_priv *pv)
{
	struct arena_chunk *c, *next;

	for (c = pv->chunks; c != NULL; c = next) {
		next = c->next;
		sodium_memzero(c->data, c->size);	/* credentials live here */
		free(c);
	}
	pv->chunks = NULL;
}

/* ---- loader context and messages ---- */

static void	bprintf(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* snprintf that truncates silently: messages and field paths only. */
static void
bprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

struct ld {
	struct config		*cfg;
	struct config_priv	*pv;
	struct config_errors	*errs;
	const char		*file;
	const char		*root;
	int			 flags;		/* CONFIG_LOAD_* */
	int			 oom;
};

static void	ld_msg(struct ld *, int, const char *, const char *, va_list)
		    __attribute__((format(printf, 4, 0)));

static void
ld_msg(struct ld *ld, int warning, const char *path, const char *fmt, va_list ap)
{
	struct config_message	*m;
	char			 text[CONFIG_ERRLEN];

	if (warning)
		ld->errs->nwarnings++;
	else
		ld->errs->nerrors++;
	if (ld->errs->n >= CONFIG_MAX_ERRORS)
		return;
	m = &ld->errs->msgs[ld->errs->n++];
	m->warning = warning;
	vsnprintf(text, sizeof(text), fmt, ap);
	if (path != NULL && path[0] != '\0')
		bprintf(m->msg, sizeof(m->msg), "%s: %s%s: %s", ld->file,
		    warning ? "warning: " : "", path, text);
	else
		bprintf(m->msg, sizeof(m->msg), "%s: %s%s", ld->file,
		    warning ? "warning: " : "", text);
}

static int	ld_err(struct ld *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	ld_warn(struct ld *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* Record an error at path; returns -1. */
static int
ld_err(struct ld *ld, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ld_msg(ld, 0, path, fmt, ap);
	va_end(ap);
	return -1;
}

static void
ld_warn(struct ld *ld, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ld_msg(ld, 1, path, fmt, ap);
	va_end(ap);
}

static void *
ld_alloc(struct ld *ld, size_t n)
{
	void *p;

	if ((p = arena_alloc(ld->pv, n)) == NULL && !ld->oom) {
		ld->oom = 1;
		ld_err(ld, NULL, "out of memory");
	}
	return p;
}

static const char *
ld_strdup(struct ld *ld, const char *s)
{
	size_t	 n = strlen(s) + 1;
	char	*p;

	if ((p = ld_alloc(ld, n)) != NULL)
		memcpy(p, s, n);
	return p;
}

/*
 * config_pins_key() of the pins these fields make, in the config's memory;
 * NULL on out of memory (recorded: the load fails).
 */
static const char *
ld_pins_key(struct ld *ld, enum trust_pin_kind kind, const char *const *ids,
    size_t nids, const unsigned char *ca_pem, size_t ca_len, int tofu)
{
	struct trust_pins	p;
	char			k[CONFIG_PINS_KEY_LEN];

	if (ld->oom)
		return NULL;	/* an ID may be missing */
	memset(&p, 0, sizeof(p));
	p.kind = kind;
	p.ids = ids;
	p.nids = nids;
	p.ca_pem = ca_pem;
	p.ca_len = ca_len;
	p.tofu = tofu;
	if (config_pins_key(&p, k) == -1) {
		ld->oom = 1;
		ld_err(ld, NULL, "out of memory");
		return NULL;
	}
	return ld_strdup(ld, k);
}

/* Field paths: "a.b", "a[3]", "a[\"key\"]". */
static const char *
path_key(char *buf, size_t len, const char *parent, const char *key)
{
	if (parent[0] == '\0')
		bprintf(buf, len, "%s", key);
	else
		bprintf(buf, len, "%s.%s", parent, key);
	return buf;
}

static const char *
path_idx(char *buf, size_t len, const char *parent, size_t i)
{
	bprintf(buf, len, "%s[%zu]", parent, i);
	return buf;
}

static const char *
path_map(char *buf, size_t len, const char *parent, const char *key)
{
	bprintf(buf, len, "%s[\"%.*s\"]", parent, 200, key);
	return buf;
}

#define PATHLEN	384

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:	return "an object";
	case JSON_ARRAY:	return "an array";
	case JSON_STRING:	return "a string";
	case JSON_INTEGER:	return "an integer";
	case JSON_REAL:		return "a number with a fraction or exponent";
	case JSON_TRUE:
	case JSON_FALSE:	return "a boolean";
	case JSON_NULL:		return "null";
	}
	return "something else";
}

/*
 * Unknown keys are errors: a misspelt optional key would otherwise be
 * silently ignored and its default used instead.
 */
static void
check_keys(struct ld *ld, json_t *obj, const char *path, const char *const *allowed)
{
	const char	*key;
	json_t		*v;
	char		 p[PATHLEN], list[256];
	size_t		 i, off;

	json_object_foreach(obj, key, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] != NULL)
			continue;
		list[0] = '\0';
		for (i = 0, off = 0; allowed[i] != NULL && off < sizeof(list); i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
			    i ? ", " : "", allowed[i]);
		ld_err(ld, path_key(p, sizeof(p), path, key),
		    "unknown key (allowed here: %s)", list);
	}
}

/*
 * The typed getters return 1 if the field is present and valid (and set
 * *out), 0 if it is absent (nothing reported), -1 if it is present but
 * invalid (reported).
 */
static int
get_obj(struct ld *ld, json_t *obj, const char *key, const char *path, json_t **out)
{
	json_t	*v = json_object_get(obj, key);
	char	 p[PATHLEN];

	if (v == NULL)
		return 0;
	if (!json_is_object(v))
		return ld_err(ld, path_key(p, sizeof(p), path, key),
		    "must be an object, not %s", type_name(v));
	*out = v;
	return 1;
}

static int
get_array(struct ld *ld, json_t *obj, const char *key, const char *path,
    size_t max, json_t **out)
{
	json_t	*v = json_object_get(obj, key);
	char	 p[PATHLEN];

	if (v == NULL)
		return 0;
	path_key(p, sizeof(p), path, key);
	if (!json_is_array(v))
		return ld_err(ld, p, "must be an array, not %s", type_name(v));
	if (json_array_size(v) > max)
		return ld_err(ld, p, "more than %zu entries", max);
	*out = v;
	return 1;
}

/* A string value: non-empty, at most max bytes, no control characters. */
static int
check_str(struct ld *ld, json_t *v, const char *p, size_t max, const char **out)
{
	const char	*s;
	size_t		 n, i;

	if (!json_is_string(v))
		return ld_err(ld, p, "must be a string, not %s", type_name(v));
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0)
		return ld_err(ld, p, "must not be empty");
	if (n > max)
		return ld_err(ld, p, "longer than %zu bytes", max);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return ld_err(ld, p, "contains a control character");
	*out = s;
	return 1;
}

static int
get_str(struct ld *ld, json_t *obj, const char *key, const char *path, size_t max,
    const char **out)
{
	json_t	*v = json_object_get(obj, key);
	char	 p[PATHLEN];

	if (v == NULL)
		return 0;
	return check_str(ld, v, path_key(p, sizeof(p), path, key), max, out);
}

static int
get_int(struct ld *ld, json_t *obj, const char *key, const char *path,
    long long min, long long max, long long *out)
{
	json_t		*v = json_object_get(obj, key);
	char		 p[PATHLEN];
	long long	 n;

	if (v == NULL)
		return 0;
	path_key(p, sizeof(p), path, key);
	if (!json_is_integer(v))
		return ld_err(ld, p, "must be an integer, not %s", type_name(v));
	n = (long long)json_integer_value(v);
	if (n < min || n > max)
		return ld_err(ld, p, "must be from %lld to %lld (got %lld)", min, max, n);
	*out = n;
	return 1;
}

static int
get_bool(struct ld *ld, json_t *obj, const char *key, const char *path, int *out)
{
	json_t	*v = json_object_get(obj, key);
	char	 p[PATHLEN];

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return ld_err(ld, path_key(p, sizeof(p), path, key),
		    "must be true or false, not %s", type_name(v));
	*out = json_is_true(v);
	return 1;
}

static void
missing(struct ld *ld, const char *path, const char *key)
{
	char p[PATHLEN];

	ld_err(ld, path_key(p, sizeof(p), path, key), "is required");
}

/* ---- files ---- */

/* An absolute path without "." or ".." segments; 1 valid, -1 reported. */
static int
check_abs_path(struct ld *ld, const char *p, const char *s)
{
	const char *q;

	if (strlen(s) > CONFIG_MAX_PATH_LEN)
		return ld_err(ld, p, "path longer than %d bytes", CONFIG_MAX_PATH_LEN);
	if (s[0] != '/')
		return ld_err(ld, p, "\"%s\" is not an absolute path", s);
	for (q = s; (q = strstr(q, "/.")) != NULL; q++)
		if (q[2] == '/' || q[2] == '\0' ||
		    (q[2] == '.' && (q[3] == '/' || q[3] == '\0')))
			return ld_err(ld, p, "\"%s\": \".\" and \"..\" segments are not allowed", s);
	return 1;
}

/*
 * Read a whole regular file (below ld->root if set), at most cap bytes,
 * into *buf (malloc'd, NUL-terminated, not counted). 0 or -1 reported.
 */
static int
read_file(struct ld *ld, const char *p, const char *file, size_t cap,
    unsigned char **buf, size_t *len)
{
	char		 full[CONFIG_MAX_PATH_LEN * 2 + 2];
	struct stat	 st;
	unsigned char	*b = NULL;
	size_t		 n = 0;
	ssize_t		 r;
	int		 fd = -1, rc = -1;

	*buf = NULL;
	if (ld->root != NULL)
		snprintf(full, sizeof(full), "%s%s", ld->root, file);
	else
		snprintf(full, sizeof(full), "%s", file);
	/* O_NONBLOCK: a FIFO must not hang the load; it is refused below. */
	if ((fd = open(full, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		ld_err(ld, p, "cannot open %s: %s", full, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		ld_err(ld, p, "%s is not a regular file", full);
		goto out;
	}
	if ((uintmax_t)st.st_size > cap) {
		ld_err(ld, p, "%s is larger than %zu bytes", full, cap);
		goto out;
	}
	if ((b = malloc(cap + 1)) == NULL) {
		ld_err(ld, p, "out of memory");
		goto out;
	}
	while (n <= cap) {
		r = read(fd, b + n, cap + 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			ld_err(ld, p, "cannot read %s: %s", full, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > cap) {
		ld_err(ld, p, "%s is larger than %zu bytes", full, cap);
		goto out;
	}
	if (n == 0) {
		ld_err(ld, p, "%s is empty", full);
		goto out;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;
	rc = 0;
out:
	if (b != NULL) {
		OPENSSL_cleanse(b, cap + 1);
		free(b);
	}
	if (fd != -1)
		close(fd);
	return rc;
}

static size_t
count_pem_blocks(const unsigned char *b, size_t n)
{
	static const char	 begin[] = "-----BEGIN ";
	size_t			 i, k = 0;

	for (i = 0; i + sizeof(begin) - 1 <= n; i++)
		if (memcmp(b + i, begin, sizeof(begin) - 1) == 0)
			k++;
	return k;
}

/*
 * Parse a PEM bundle of certificates; every PEM block must be a
 * certificate and there must be at least one. Returns the first
 * certificate (caller frees) or NULL with an error reported.
 */
static X509 *
parse_certs(struct ld *ld, const char *p, const char *file,
    const unsigned char *b, size_t n)
{
	BIO	*bio;
	X509	*x, *first = NULL;
	size_t	 ncerts = 0, nblocks;

	if (n > INT32_MAX || (bio = BIO_new_mem_buf(b, (int)n)) == NULL) {
		ld_err(ld, p, "out of memory");
		return NULL;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (first == NULL)
			first = x;
		else
			X509_free(x);
		ncerts++;
	}
	BIO_free(bio);
	ERR_clear_error();
	nblocks = count_pem_blocks(b, n);
	if (ncerts == 0) {
		ld_err(ld, p, "%s contains no PEM certificate", file);
		goto fail;
	}
	if (ncerts != nblocks) {
		ld_err(ld, p, "%s contains %zu PEM blocks that are not valid certificates",
		    file, nblocks - ncerts);
		goto fail;
	}
	return first;
fail:
	X509_free(first);
	return NULL;
}

/* A CA bundle path: absolute, readable, certificates only. Bytes kept if pem != NULL. */
static int
load_ca(struct ld *ld, const char *p, const char *file,
    const unsigned char **pem, size_t *pemlen)
{
	unsigned char	*b;
	size_t		 n;
	X509		*x;
	int		 rc = -1;

	if (check_abs_path(ld, p, file) == -1)
		return -1;
	if (read_file(ld, p, file, CONFIG_MAX_PEM_LEN, &b, &n) == -1)
		return -1;
	if ((x = parse_certs(ld, p, file, b, n)) != NULL) {
		X509_free(x);
		rc = 0;
		if (pem != NULL) {
			unsigned char *copy = ld_alloc(ld, n + 1);

			if (copy == NULL)
				rc = -1;
			else {
				memcpy(copy, b, n);
				*pem = copy;
				*pemlen = n;
			}
		}
	}
	free(b);
	return rc;
}

/* Refuse encrypted keys: the daemon starts unattended. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* ---- sections ---- */

static const struct config_credentials *
parse_credentials(struct ld *ld, json_t *obj, const char *key, const char *path)
{
	static const char *const keys[] = { "username", "password", NULL };
	struct config_credentials	*c;
	json_t				*o;
	const char			*u = NULL, *pw = NULL;
	char				 p[PATHLEN], pu[PATHLEN];
	int				 bad = 0;

	if (get_obj(ld, obj, key, path, &o) != 1)
		return NULL;
	path_key(p, sizeof(p), path, key);
	check_keys(ld, o, p, keys);
	switch (get_str(ld, o, "username", p, CONFIG_MAX_CRED_LEN, &u)) {
	case 0:
		missing(ld, p, "username");
		/* FALLTHROUGH */
	case -1:
		bad = 1;
		break;
	default:
		if (strchr(u, ':') != NULL) {
			ld_err(ld, path_key(pu, sizeof(pu), p, "username"),
			    "must not contain ':' (HTTP Basic authentication)");
			bad = 1;
		}
	}
	switch (get_str(ld, o, "password", p, CONFIG_MAX_CRED_LEN, &pw)) {
	case 0:
		missing(ld, p, "password");
		/* FALLTHROUGH */
	case -1:
		bad = 1;
	}
	if (bad || (c = ld_alloc(ld, sizeof(*c))) == NULL)
		return NULL;
	c->username = ld_strdup(ld, u);
	c->password = ld_strdup(ld, pw);
	return c;
}

/* A URL field; 1 valid, 0 absent, -1 reported. */
static int
get_url(struct ld *ld, json_t *obj, const char *key, const char *path,
    struct config_url *out)
{
	const char	*s;
	char		*buf, err[128], p[PATHLEN];
	size_t		 len;
	int		 r;

	if ((r = get_str(ld, obj, key, path, CONFIG_MAX_URL_LEN, &s)) != 1)
		return r;
	path_key(p, sizeof(p), path, key);
	len = 4 * (strlen(s) + 1);
	if ((buf = ld_alloc(ld, len)) == NULL)
		return -1;
	if (config_url_parse(s, out, buf, len, err, sizeof(err)) == -1) {
		if (strchr(s, '@') != NULL)	/* do not log a password */
			return ld_err(ld, p, "%s", err);
		return ld_err(ld, p, "\"%s\": %s", s, err);
	}
	return 1;
}

/* A CA path field; kept in *out. 1, 0 absent, -1 reported. */
static int
get_ca(struct ld *ld, json_t *obj, const char *key, const char *path,
    const char **out, const unsigned char **pem, size_t *pemlen)
{
	const char	*s;
	char		 p[PATHLEN];
	int		 r;

	if ((r = get_str(ld, obj, key, path, CONFIG_MAX_PATH_LEN, &s)) != 1)
		return r;
	if (load_ca(ld, path_key(p, sizeof(p), path, key), s, pem, pemlen) == -1)
		return -1;
	if ((*out = ld_strdup(ld, s)) == NULL)
		return -1;
	return 1;
}

static const struct config_tls *
parse_tls(struct ld *ld, json_t *obj, const char *path)
{
	static const char *const keys[] = { "certificate", "key", NULL };
	struct config_tls	*t;
	json_t			*o;
	const char		*cert = NULL, *key = NULL;
	char			 p[PATHLEN], pc[PATHLEN], pk[PATHLEN];
	unsigned char		*cb = NULL, *kb = NULL;
	size_t			 cn = 0, kn = 0;
	X509			*x = NULL;
	EVP_PKEY		*pkey = NULL;
	BIO			*bio = NULL;
	const struct config_tls	*ret = NULL;
	int			 rc, rk;

	if (get_obj(ld, obj, "tls", path, &o) != 1)
		return NULL;
	path_key(p, sizeof(p), path, "tls");
	check_keys(ld, o, p, keys);
	path_key(pc, sizeof(pc), p, "certificate");
	path_key(pk, sizeof(pk), p, "key");
	if ((rc = get_str(ld, o, "certificate", p, CONFIG_MAX_PATH_LEN, &cert)) == 0)
		missing(ld, p, "certificate");
	if ((rk = get_str(ld, o, "key", p, CONFIG_MAX_PATH_LEN, &key)) == 0)
		missing(ld, p, "key");
	if (ld->flags & CONFIG_LOAD_NO_LISTENER_FILES) {
		/* paths only: a reload does not bind, so it needs no key */
		if (rc == 1 && check_abs_path(ld, pc, cert) == -1)
			rc = -1;
		if (rk == 1 && check_abs_path(ld, pk, key) == -1)
			rk = -1;
		goto done;
	}
	if (rc == 1 && (check_abs_path(ld, pc, cert) == -1 ||
	    read_file(ld, pc, cert, CONFIG_MAX_PEM_LEN, &cb, &cn) == -1 ||
	    (x = parse_certs(ld, pc, cert, cb, cn)) == NULL))
		rc = -1;
	if (rk == 1 && (check_abs_path(ld, pk, key) == -1 ||
	    read_file(ld, pk, key, CONFIG_MAX_PEM_LEN, &kb, &kn) == -1))
		rk = -1;
	if (rk == 1) {
		if (kn > INT32_MAX || (bio = BIO_new_mem_buf(kb, (int)kn)) == NULL)
			rk = ld_err(ld, pk, "out of memory");
		else if ((pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase,
		    NULL)) == NULL)
			rk = ld_err(ld, pk, "%s: no unencrypted PEM private key", key);
	}
	if (rc == 1 && rk == 1 && X509_check_private_key(x, pkey) != 1)
		rk = ld_err(ld, pk, "%s does not match the certificate in %s", key, cert);
	ERR_clear_error();
 done:
	if (rc == 1 && rk == 1 && (t = ld_alloc(ld, sizeof(*t))) != NULL) {
		t->certificate = ld_strdup(ld, cert);
		t->key = ld_strdup(ld, key);
		ret = t;
	}
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	X509_free(x);
	free(cb);
	if (kb != NULL) {
		OPENSSL_cleanse(kb, kn);
		free(kb);
	}
	return ret;
}

static void
parse_listeners(struct ld *ld, json_t *root)
{
	static const char *const keys[] = { "address", "tls", NULL };
	struct config_listener	*ls;
	json_t			*arr, *o;
	size_t			 i, j, n;
	char			 p[PATHLEN], pa[PATHLEN], host[64], err[128];
	const char		*addr;

	switch (get_array(ld, root, "listeners", "", CONFIG_MAX_LISTENERS, &arr)) {
	case 0:
		missing(ld, "", "listeners");
		return;
	case -1:
		return;
	}
	if ((n = json_array_size(arr)) == 0) {
		ld_err(ld, "listeners", "needs at least one listener");
		return;
	}
	if ((ls = ld_alloc(ld, n * sizeof(*ls))) == NULL)
		return;
	json_array_foreach(arr, i, o) {
		path_idx(p, sizeof(p), "listeners", i);
		if (!json_is_object(o)) {
			ld_err(ld, p, "must be an object, not %s", type_name(o));
			continue;
		}
		check_keys(ld, o, p, keys);
		path_key(pa, sizeof(pa), p, "address");
		switch (get_str(ld, o, "address", p, 64, &addr)) {
		case 0:
			missing(ld, p, "address");
			break;
		case 1:
			if (config_addr_parse(addr, host, sizeof(host), &ls[i].ipv6,
			    &ls[i].port, err, sizeof(err)) == -1) {
				ld_err(ld, pa, "\"%s\": %s", addr, err);
				break;
			}
			ls[i].address = ld_strdup(ld, addr);
			ls[i].host = ld_strdup(ld, host);
			for (j = 0; j < i; j++)
				if (ls[j].host != NULL && ls[i].host != NULL &&
				    ls[j].port == ls[i].port &&
				    strcmp(ls[j].host, ls[i].host) == 0)
					ld_err(ld, pa, "\"%s\" is also listeners[%zu]", addr, j);
		}
		ls[i].tls = parse_tls(ld, o, p);
	}
	ld->cfg->listeners = ls;
	ld->cfg->nlisteners = n;
}

static int
user_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > CONFIG_MAX_USER_LEN || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static void
parse_general(struct ld *ld, json_t *root)
{
	static const char *const audit_keys[] = { "path", NULL };
	static const char *const cache_keys[] = { "manifest_bytes",
	    "trust_freshness_seconds", NULL };
	static const char *const timeout_keys[] = { "connect_seconds",
	    "request_seconds", "idle_seconds", "shutdown_grace_seconds", NULL };
	static const char *const metrics_keys[] = { "enabled", NULL };
	struct config	*cfg = ld->cfg;
	json_t		*o;
	const char	*s;
	long long	 v;

	cfg->state_dir = "/var/lib/dctproxy";
	cfg->audit_path = "-";
	cfg->cache_manifest_bytes = 64ULL * 1024 * 1024;
	cfg->trust_freshness_seconds = 300;
	cfg->connect_timeout_seconds = 10;
	cfg->request_timeout_seconds = 60;
	cfg->idle_timeout_seconds = 120;
	cfg->shutdown_grace_seconds = 30;

	if (get_str(ld, root, "state_dir", "", CONFIG_MAX_PATH_LEN, &s) == 1 &&
	    check_abs_path(ld, "state_dir", s) == 1)
		cfg->state_dir = ld_strdup(ld, s);
	if (get_str(ld, root, "user", "", CONFIG_MAX_USER_LEN, &s) == 1) {
		if (!user_valid(s))
			ld_err(ld, "user", "\"%s\" is not a valid user name", s);
		else
			cfg->user = ld_strdup(ld, s);
	}
	if (get_obj(ld, root, "audit", "", &o) == 1) {
		check_keys(ld, o, "audit", audit_keys);
		if (get_str(ld, o, "path", "audit", CONFIG_MAX_PATH_LEN, &s) == 1 &&
		    (strcmp(s, "-") == 0 || check_abs_path(ld, "audit.path", s) == 1))
			cfg->audit_path = ld_strdup(ld, s);
	}
	if (get_obj(ld, root, "cache", "", &o) == 1) {
		check_keys(ld, o, "cache", cache_keys);
		if (get_int(ld, o, "manifest_bytes", "cache", 0, 64LL << 30, &v) == 1)
			cfg->cache_manifest_bytes = (uint64_t)v;
		if (get_int(ld, o, "trust_freshness_seconds", "cache", 0, 86400, &v) == 1)
			cfg->trust_freshness_seconds = (int)v;
	}
	if (get_obj(ld, root, "timeouts", "", &o) == 1) {
		check_keys(ld, o, "timeouts", timeout_keys);
		if (get_int(ld, o, "connect_seconds", "timeouts", 1, 300, &v) == 1)
			cfg->connect_timeout_seconds = (int)v;
		if (get_int(ld, o, "request_seconds", "timeouts", 1, 3600, &v) == 1)
			cfg->request_timeout_seconds = (int)v;
		if (get_int(ld, o, "idle_seconds", "timeouts", 1, 86400, &v) == 1)
			cfg->idle_timeout_seconds = (int)v;
		if (get_int(ld, o, "shutdown_grace_seconds", "timeouts", 0, 3600, &v) == 1)
			cfg->shutdown_grace_seconds = (int)v;
	}
	if (get_obj(ld, root, "metrics", "", &o) == 1) {
		check_keys(ld, o, "metrics", metrics_keys);
		get_bool(ld, o, "enabled", "metrics", &cfg->metrics_enabled);
	}
}

static void
parse_webhooks(struct ld *ld, json_t *root)
{
	static const char *const keys[] = { "url", "events", "ca",
	    "timeout_seconds", "queue_length", NULL };
	struct config_webhook	*wh;
	json_t			*arr, *o;
	size_t			 i, n;
	char			 p[PATHLEN], pe[PATHLEN];
	const char		*s;
	long long		 v;

	if (get_array(ld, root, "webhooks", "", CONFIG_MAX_WEBHOOKS, &arr) != 1)
		return;
	if ((n = json_array_size(arr)) == 0)
		return;
	if ((wh = ld_alloc(ld, n * sizeof(*wh))) == NULL)
		return;
	json_array_foreach(arr, i, o) {
		path_idx(p, sizeof(p), "webhooks", i);
		if (!json_is_object(o)) {
			ld_err(ld, p, "must be an object, not %s", type_name(o));
			continue;
		}
		check_keys(ld, o, p, keys);
		if (get_url(ld, o, "url", p, &wh[i].url) == 0)
			missing(ld, p, "url");
		wh[i].events = CONFIG_WEBHOOK_DENY;
		if (get_str(ld, o, "events", p, 16, &s) == 1) {
			if (strcmp(s, "all") == 0)
				wh[i].events = CONFIG_WEBHOOK_ALL;
			else if (strcmp(s, "deny") != 0)
				ld_err(ld, path_key(pe, sizeof(pe), p, "events"),
				    "must be \"deny\" or \"all\" (got \"%s\")", s);
		}
		get_ca(ld, o, "ca", p, &wh[i].ca, NULL, NULL);
		wh[i].timeout_seconds = 5;
		if (get_int(ld, o, "timeout_seconds", p, 1, 60, &v) == 1)
			wh[i].timeout_seconds = (int)v;
		wh[i].queue_length = CONFIG_WEBHOOK_QUEUE;
		if (get_int(ld, o, "queue_length", p, 1, CONFIG_MAX_WEBHOOK_QUEUE, &v) == 1)
			wh[i].queue_length = (int)v;
	}
	ld->cfg->webhooks = wh;
	ld->cfg->nwebhooks = n;
}

/* An allow_push pattern: a repository path, or a path prefix and a final '*'. */
static int
push_pattern_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > TRUST_MAX_GUN_LEN)
		return 0;
	if (s[n - 1] != '*')
		return config_repo_valid(s);
	for (i = 0; i + 1 < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-' || c == '/'))
			return 0;
		if (c == '/' && (i == 0 || s[i - 1] == '/'))
			return 0;
	}
	return 1;
}

static void
parse_registries(struct ld *ld, json_t *root)
{
	static const char *const keys[] = { "name", "upstream", "upstream_ca",
	    "upstream_credentials", "notary", "gun_prefix", "allow_push", NULL };
	static const char *const nkeys[] = { "url", "ca", "credentials", NULL };
	struct config_registry	*rs;
	json_t			*arr, *o, *no, *pa, *pv;
	size_t			 i, j, k, n;
	char			 p[PATHLEN], pn[PATHLEN], pp[PATHLEN], err[128];
	const char		*s, **pats;

	switch (get_array(ld, root, "registries", "", CONFIG_MAX_REGISTRIES, &arr)) {
	case 0:
		missing(ld, "", "registries");
		return;
	case -1:
		return;
	}
	if ((n = json_array_size(arr)) == 0) {
		ld_err(ld, "registries", "needs at least one registry");
		return;
	}
	if ((rs = ld_alloc(ld, n * sizeof(*rs))) == NULL)
		return;
	json_array_foreach(arr, i, o) {
		path_idx(p, sizeof(p), "registries", i);
		if (!json_is_object(o)) {
			ld_err(ld, p, "must be an object, not %s", type_name(o));
			continue;
		}
		check_keys(ld, o, p, keys);

		path_key(pn, sizeof(pn), p, "name");
		switch (get_str(ld, o, "name", p, CONFIG_MAX_NAME_LEN, &s)) {
		case 0:
			missing(ld, p, "name");
			break;
		case 1:
			if (config_hostport_check(s, err, sizeof(err)) == -1) {
				ld_err(ld, pn, "\"%s\": %s", s, err);
				break;
			}
			rs[i].name = ld_strdup(ld, s);
			rs[i].mirror = strcmp(s, "docker.io") == 0;
			for (j = 0; j < i; j++)
				if (rs[j].name != NULL && strcasecmp(rs[j].name, s) == 0)
					ld_err(ld, pn, "\"%s\" is also registries[%zu].name",
					    s, j);
		}

		if (get_url(ld, o, "upstream", p, &rs[i].upstream) == 0)
			missing(ld, p, "upstream");
		get_ca(ld, o, "upstream_ca", p, &rs[i].upstream_ca, NULL, NULL);
		rs[i].upstream_credentials = parse_credentials(ld, o,
		    "upstream_credentials", p);

		path_key(pn, sizeof(pn), p, "notary");
		switch (get_obj(ld, o, "notary", p, &no)) {
		case 0:
			missing(ld, p, "notary");
			break;
		case 1:
			check_keys(ld, no, pn, nkeys);
			if (get_url(ld, no, "url", pn, &rs[i].notary.url) == 0)
				missing(ld, pn, "url");
			get_ca(ld, no, "ca", pn, &rs[i].notary.ca, NULL, NULL);
			rs[i].notary.credentials = parse_credentials(ld, no,
			    "credentials", pn);
		}

		path_key(pn, sizeof(pn), p, "gun_prefix");
		if (get_str(ld, o, "gun_prefix", p, TRUST_MAX_GUN_LEN, &s) == 1) {
			if (!config_gun_valid(s))
				ld_err(ld, pn, "\"%s\" is not a valid GUN prefix "
				    "(characters A-Za-z0-9._:/-, no leading, trailing or double '/')",
				    s);
			else
				rs[i].gun_prefix = ld_strdup(ld, s);
		}

		path_key(pn, sizeof(pn), p, "allow_push");
		if (get_array(ld, o, "allow_push", p, CONFIG_MAX_PUSH, &pa) == 1 &&
		    json_array_size(pa) > 0) {
			if ((pats = ld_alloc(ld, json_array_size(pa) *
			    sizeof(*pats))) == NULL)
				continue;
			k = 0;
			json_array_foreach(pa, j, pv) {
				path_idx(pp, sizeof(pp), pn, j);
				if (check_str(ld, pv, pp, TRUST_MAX_GUN_LEN, &s) != 1)
					continue;
				if (!push_pattern_valid(s)) {
					ld_err(ld, pp, "\"%s\" is not a repository path "
					    "or a path prefix followed by '*'", s);
					continue;
				}
				pats[k++] = ld_strdup(ld, s);
			}
			rs[i].allow_push = pats;
			rs[i].nallow_push = k;
		}
	}
	ld->cfg->registries = rs;
	ld->cfg->nregistries = n;
}

/* "disabled" | "permissive" | "enforced"; anything else is an error. */
static int
parse_mode(struct ld *ld, json_t *obj, const char *key, const char *path,
    enum config_mode *out)
{
	const char	*s;
	char		 p[PATHLEN];
	int		 r;

	if ((r = get_str(ld, obj, key, path, 64, &s)) != 1)
		return r;
	if (strcmp(s, "disabled") == 0)
		*out = CONFIG_MODE_DISABLED;
	else if (strcmp(s, "permissive") == 0)
		*out = CONFIG_MODE_PERMISSIVE;
	else if (strcmp(s, "enforced") == 0)
		*out = CONFIG_MODE_ENFORCED;
	else
		return ld_err(ld, path_key(p, sizeof(p), path, key),
		    "must be one of \"disabled\", \"permissive\", \"enforced\" (got \"%s\")",
		    s);
	return 1;
}

/*
 * root-keys or cert-ids: { "<GUN or GUN-prefix*>": ["<64 hex>", ...] }.
 * Entries are appended to *ents (capacity cap). Returns the number of
 * non-empty lists read.
 */
static size_t
parse_pin_map(struct ld *ld, json_t *map, const char *p, int root_keys,
    struct config_pin_entry *ents, size_t *nents)
{
	const char	*key, *s;
	json_t		*arr, *v;
	char		 pk[PATHLEN], pi[PATHLEN];
	const char	**ids;
	size_t		 i, k, good = 0;
	int		 bad;

	json_object_foreach(map, key, arr) {
		path_map(pk, sizeof(pk), p, key);
		bad = 0;
		if (strlen(key) > CONFIG_MAX_NAME_LEN || !config_pattern_valid(key)) {
			ld_err(ld, pk, "not a GUN or a GUN prefix followed by '*' "
			    "(characters A-Za-z0-9._:/-, '*' only at the end)");
			bad = 1;
		}
		if (!json_is_array(arr)) {
			ld_err(ld, pk, "must be an array of IDs, not %s", type_name(arr));
			continue;
		}
		if (json_array_size(arr) == 0) {
			/* ee: daemon/config/trust.go ValidateContentTrust */
			if (root_keys)
				ld_err(ld, pk, "invalid content trust configuration - "
				    "root key lists cannot be empty");
			else
				ld_err(ld, pk, "invalid content trust configuration - "
				    "cert ID lists cannot be empty");
			continue;
		}
		if (json_array_size(arr) > CONFIG_MAX_PIN_IDS) {
			ld_err(ld, pk, "more than %d IDs", CONFIG_MAX_PIN_IDS);
			continue;
		}
		if ((ids = ld_alloc(ld, json_array_size(arr) * sizeof(*ids))) == NULL)
			return good;
		k = 0;
		json_array_foreach(arr, i, v) {
			path_idx(pi, sizeof(pi), pk, i);
			if (!json_is_string(v)) {
				ld_err(ld, pi, "must be a string, not %s", type_name(v));
				bad = 1;
				continue;
			}
			s = json_string_value(v);
			if (json_string_length(v) != 64 || !config_id_valid(s)) {
				ld_err(ld, pi, "\"%.80s\" is not 64 lower-case hex digits "
				    "(a %s)", s, root_keys ? "canonical root key ID" :
				    "root certificate ID");
				bad = 1;
				continue;
			}
			ids[k++] = ld_strdup(ld, s);
		}
		good++;
		if (bad)
			continue;
		ents[*nents].key = ld_strdup(ld, key);
		ents[*nents].ids = ids;
		ents[*nents].nids = k;
		ents[*nents].pins_key = ld_pins_key(ld, root_keys ? TRUST_PIN_ROOT_KEYS :
		    TRUST_PIN_CERT_IDS, ids, k, NULL, 0, 0);
		(*nents)++;
	}
	return good;
}

static void
parse_content_trust(struct ld *ld, json_t *root, size_t *npinned)
{
	static const char *const keys[] = { "mode", "trust-pinning",
	    "allow-expired-cached-trust-data", NULL };
	static const char *const pkeys[] = { "root-keys", "cert-ids",
	    "official-library-images", NULL };
	struct config_content_trust	*ct = &ld->cfg->content_trust;
	struct config_pin_entry		*rk = NULL, *ci = NULL;
	json_t				*o, *tp, *m;
	size_t				 nrk = 0, nci = 0, nuser = 0, i, j, cap;
	const char			*P = "content-trust.trust-pinning";

	/*
	 * No block at all: the engine would not verify, but a verification
	 * proxy without a block is still a verification proxy, so the mode
	 * is enforced; with nothing pinned every GUN fails unless a
	 * repositories rule pins it (README.md, "Configuration").
	 */
	ct->mode = CONFIG_MODE_ENFORCED;
	*npinned = 0;
	if (get_obj(ld, root, "content-trust", "", &o) != 1)
		return;
	ct->present = 1;
	check_keys(ld, o, "content-trust", keys);
	/*
	 * Omitted mode: the EE docs say "disabled", the EE code verifies
	 * unless the mode is literally "disabled" (dct-semantics.md 1.2).
	 * We take the safe reading, enforced; a misspelt mode is an error
	 * here instead of the engine's silent "enforced".
	 */
	if (parse_mode(ld, o, "mode", "content-trust", &ct->mode) == 1)
		ct->mode_present = 1;
	get_bool(ld, o, "allow-expired-cached-trust-data", "content-trust",
	    &ct->allow_expired_cached_trust_data);
	if (get_obj(ld, o, "trust-pinning", "content-trust", &tp) != 1)
		return;
	check_keys(ld, tp, P, pkeys);
	get_bool(ld, tp, "official-library-images", P, &ct->official_library_images);

	if (get_obj(ld, tp, "root-keys", P, &m) != 1)
		m = NULL;
	else if (json_object_size(m) > CONFIG_MAX_PIN_KEYS) {
		ld_err(ld, "content-trust.trust-pinning.root-keys",
		    "more than %d keys", CONFIG_MAX_PIN_KEYS);
		m = NULL;
	}
	if (m != NULL || ct->official_library_images) {
		cap = 1 + (m != NULL ? json_object_size(m) : 0);	/* + the official entry */
		if ((rk = ld_alloc(ld, cap * sizeof(*rk))) == NULL)
			return;
		/*
		 * ee: daemon/trust/service.go combineRootKeys: the official
		 * list goes in under the key for docker.io/library/
		 * (wildcard), then the user's keys are copied over it.
		 */
		if (ct->official_library_images) {
			rk[0].key = "docker.io/library/*";
			rk[0].ids = config_official_root_keys;
			rk[0].nids = config_official_nroot_keys;
			rk[0].official = 1;
			rk[0].pins_key = ld_pins_key(ld, TRUST_PIN_ROOT_KEYS,
			    config_official_root_keys, config_official_nroot_keys, NULL, 0, 0);
			nrk = 1;
		}
	}
	if (m != NULL) {
		nuser = nrk;
		*npinned += parse_pin_map(ld, m, "content-trust.trust-pinning.root-keys", 1,
		    rk, &nrk);
		/* Same key as the official entry: the user's list replaces it. */
		if (ct->official_library_images)
			for (i = nuser; i < nrk; i++)
				if (strcmp(rk[i].key, "docker.io/library/*") == 0) {
					rk[0] = rk[i];
					for (j = i; j + 1 < nrk; j++)
						rk[j] = rk[j + 1];
					nrk--;
					break;
				}
	}
	if (get_obj(ld, tp, "cert-ids", P, &m) == 1) {
		if (json_object_size(m) > CONFIG_MAX_PIN_KEYS)
			ld_err(ld, "content-trust.trust-pinning.cert-ids",
			    "more than %d keys", CONFIG_MAX_PIN_KEYS);
		else if (json_object_size(m) > 0) {
			if ((ci = ld_alloc(ld, json_object_size(m) * sizeof(*ci))) == NULL)
				return;
			*npinned += parse_pin_map(ld, m,
			    "content-trust.trust-pinning.cert-ids", 0, ci, &nci);
		}
	}
	if (ct->official_library_images)
		(*npinned)++;
	ct->root_keys = rk;
	ct->nroot_keys = nrk;
	ct->cert_ids = ci;
	ct->ncert_ids = nci;
}

static void
parse_rules(struct ld *ld, json_t *root, size_t *npinned, int *anymode)
{
	static const char *const keys[] = { "match", "mode", "ca", "tofu",
	    "required_roles", "allow_unsigned", NULL };
	struct config_rule	*rs;
	json_t			*arr, *o, *ra, *rv;
	size_t			 i, j, n, k;
	char			 p[PATHLEN], pm[PATHLEN], pr[PATHLEN], pi[PATHLEN];
	const char		*s, **roles;

	*anymode = 0;
	if (get_array(ld, root, "repositories", "", CONFIG_MAX_RULES, &arr) != 1)
		return;
	if ((n = json_array_size(arr)) == 0)
		return;
	if ((rs = ld_alloc(ld, n * sizeof(*rs))) == NULL)
		return;
	json_array_foreach(arr, i, o) {
		path_idx(p, sizeof(p), "repositories", i);
		if (!json_is_object(o)) {
			ld_err(ld, p, "must be an object, not %s", type_name(o));
			continue;
		}
		check_keys(ld, o, p, keys);
		path_key(pm, sizeof(pm), p, "match");
		switch (get_str(ld, o, "match", p, CONFIG_MAX_NAME_LEN, &s)) {
		case 0:
			missing(ld, p, "match");
			break;
		case 1:
			if (!config_pattern_valid(s)) {
				ld_err(ld, pm, "\"%s\" is not a GUN or a GUN prefix "
				    "followed by '*' (characters A-Za-z0-9._:/-, "
				    "'*' only at the end)", s);
				break;
			}
			rs[i].match = ld_strdup(ld, s);
			for (j = 0; j < i; j++)
				if (rs[j].match != NULL && strcmp(rs[j].match, s) == 0)
					ld_err(ld, pm, "\"%s\" is also repositories[%zu].match",
					    s, j);
		}
		if (parse_mode(ld, o, "mode", p, &rs[i].mode) == 1) {
			rs[i].has_mode = 1;
			if (rs[i].mode != CONFIG_MODE_DISABLED)
				*anymode = 1;
		}
		get_ca(ld, o, "ca", p, &rs[i].ca, &rs[i].ca_pem, &rs[i].ca_len);
		get_bool(ld, o, "tofu", p, &rs[i].tofu);
		if (rs[i].tofu && json_object_get(o, "ca") != NULL)
			ld_err(ld, p, "\"ca\" and \"tofu\": true exclude each other "
			    "(a CA pin is never trusted on first use)");
		if (rs[i].ca != NULL || rs[i].tofu)
			(*npinned)++;
		/* the pins config_policy_for() hands out for this rule */
		if (rs[i].ca != NULL)
			rs[i].pins_key = ld_pins_key(ld, TRUST_PIN_CA, NULL, 0,
			    rs[i].ca_pem, rs[i].ca_len, 0);
		else if (rs[i].tofu)
			rs[i].pins_key = ld_pins_key(ld, TRUST_PIN_NONE, NULL, 0, NULL, 0, 1);
		if (get_bool(ld, o, "allow_unsigned", p, &rs[i].allow_unsigned) == 1)
			rs[i].has_allow_unsigned = 1;

		path_key(pr, sizeof(pr), p, "required_roles");
		if (get_array(ld, o, "required_roles", p, CONFIG_MAX_ROLES, &ra) == 1) {
			if (json_array_size(ra) == 0) {
				ld_err(ld, pr, "must not be empty (omit it for Docker's "
				    "default: targets/releases, then targets)");
				continue;
			}
			if ((roles = ld_alloc(ld, json_array_size(ra) *
			    sizeof(*roles))) == NULL)
				continue;
			k = 0;
			json_array_foreach(ra, j, rv) {
				path_idx(pi, sizeof(pi), pr, j);
				if (check_str(ld, rv, pi, TRUST_MAX_ROLE_LEN, &s) != 1)
					continue;
				if (!config_role_valid(s)) {
					ld_err(ld, pi, "\"%s\" is not \"targets\" or a "
					    "delegation \"targets/NAME\" ([-a-z0-9_/])", s);
					continue;
				}
				if (k > 0) {
					size_t x;

					for (x = 0; x < k; x++)
						if (strcmp(roles[x], s) == 0)
							break;
					if (x < k) {
						ld_err(ld, pi, "\"%s\" is listed twice", s);
						continue;
					}
				}
				roles[k++] = ld_strdup(ld, s);
			}
			rs[i].required_roles = roles;
			rs[i].nrequired_roles = k;
		}
	}
	ld->cfg->rules = rs;
	ld->cfg->nrules = n;
}

/*
 * 1 if every GUN that rule pattern rp matches is matched by pin key pk,
 * so that the pin always takes precedence over the rule's ca/tofu.
 */
static int
pin_covers(const char *pk, const char *rp)
{
	size_t pl = strlen(pk), rl = strlen(rp);

	if (pl > 0 && pk[pl - 1] == '*')
		return strncmp(pk, rp, pl - 1) == 0 && rl >= pl - 1;
	return strcmp(pk, rp) == 0;
}

static void
cross_checks(struct ld *ld, size_t npinned, int anymode)
{
	const struct config		*cfg = ld->cfg;
	const struct config_content_trust *ct = &cfg->content_trust;
	const struct config_pin_entry	*e;
	size_t				 i, j;
	char				 p[PATHLEN];

	if (!ct->present) {
		ld_warn(ld, "content-trust", "absent: every repository is verified "
		    "(enforced) and, without a repositories rule giving \"ca\" or "
		    "\"tofu\", refused with \"invalid trust pinning specified\"");
	} else if (npinned == 0 &&
	    (ct->mode != CONFIG_MODE_DISABLED || anymode)) {
		/*
		 * ee: daemon/config/trust.go ValidateContentTrust. Our
		 * extension: a repositories rule with "ca" or "tofu": true
		 * counts as pinning, and a globally disabled mode with no
		 * rule enabling verification needs none.
		 */
		ld_err(ld, "content-trust.trust-pinning", "invalid content trust "
		    "configuration - trust pinning cannot be empty");
	}
	if (ct->present && ct->mode == CONFIG_MODE_DISABLED && !anymode)
		ld_warn(ld, "content-trust.mode", "\"disabled\": nothing is verified");

	/* A rule's ca/tofu that can never apply is almost certainly a mistake. */
	for (i = 0; i < cfg->nrules; i++) {
		const struct config_rule *r = &cfg->rules[i];

		if (r->match == NULL || (r->ca == NULL && !r->tofu))
			continue;
		for (j = 0; j < ct->ncert_ids + ct->nroot_keys; j++) {
			e = j < ct->ncert_ids ? &ct->cert_ids[j] :
			    &ct->root_keys[j - ct->ncert_ids];
			if (!pin_covers(e->key, r->match))
				continue;
			path_idx(p, sizeof(p), "repositories", i);
			ld_warn(ld, p, "\"%s\" is never used for \"%s\": %s[\"%s\"] "
			    "takes precedence for every GUN it matches",
			    r->ca ? "ca" : "tofu", r->match,
			    j < ct->ncert_ids ? "cert-ids" : "root-keys", e->key);
			break;
		}
	}
}

/* ---- entry points ---- */

static int
load(struct ld *ld, const char *path)
{
	static const char *const keys[] = { "listeners", "state_dir", "user",
	    "audit", "cache", "timeouts", "metrics", "webhooks", "registries",
	    "content-trust", "repositories", NULL };
	unsigned char	*buf = NULL;
	size_t		 len = 0, npinned = 0, before;
	json_t		*root = NULL;
	json_error_t	 jerr;
	int		 anymode = 0;

	const char	*under = ld->root;
	int		 r;

	ld->root = NULL;	/* --root is for the files the config names */
	r = read_file(ld, "", path, CONFIG_MAX_FILE_LEN, &buf, &len);
	ld->root = under;
	if (r == -1)
		return -1;
	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	OPENSSL_cleanse(buf, len);	/* it may hold credentials */
	free(buf);
	if (root == NULL) {
		/* jansson: syntax, duplicate keys, trailing bytes, bad UTF-8. */
		ld->errs->nerrors++;
		if (ld->errs->n < CONFIG_MAX_ERRORS)
			snprintf(ld->errs->msgs[ld->errs->n++].msg, CONFIG_ERRLEN,
			    "%s:%d:%d: %s", ld->file, jerr.line, jerr.column,
			    jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return ld_err(ld, NULL, "the top level must be a JSON object");
	}
	if ((ld->cfg->path = ld_strdup(ld, path)) == NULL)
		goto out;
	check_keys(ld, root, "", keys);
	parse_listeners(ld, root);
	parse_general(ld, root);
	parse_webhooks(ld, root);
	parse_registries(ld, root);
	before = ld->errs->nerrors;
	parse_content_trust(ld, root, &npinned);
	parse_rules(ld, root, &npinned, &anymode);
	ld->cfg->unpinned_key = ld_pins_key(ld, TRUST_PIN_NONE, NULL, 0, NULL, 0, 0);
	/* Pins that failed to parse are not "empty": no second, misleading error. */
	cross_checks(ld, ld->errs->nerrors > before ? 1 : npinned, anymode);
out:
	json_decref(root);
	return ld->errs->nerrors > 0 ? -1 : 0;
}

int
config_load_under(const char *path, const char *root, struct config **out,
    struct config_errors *errs)
{
	return config_load_flags(path, root, 0, out, errs);
}

int
config_load_flags(const char *path, const char *root, int flags, struct config **out,
    struct config_errors *errs)
{
	struct config_errors	 local;
	struct ld		 ld;
	struct config		*cfg = NULL;
	struct config_priv	*pv = NULL;
	int			 rc = -1;

	*out = NULL;
	if (errs == NULL)
		errs = &local;
	memset(errs, 0, sizeof(*errs));
	memset(&ld, 0, sizeof(ld));
	ld.errs = errs;
	ld.file = path;
	ld.root = (root != NULL && root[0] != '\0') ? root : NULL;
	ld.flags = flags;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (pv = calloc(1, sizeof(*pv))) == NULL) {
		ld_err(&ld, NULL, "out of memory");
		goto out;
	}
	atomic_init(&pv->refs, 1);
	cfg->priv = pv;
	ld.cfg = cfg;
	ld.pv = pv;
	pv = NULL;
	if (load(&ld, path) == -1)
		goto out;
	*out = cfg;
	cfg = NULL;
	rc = 0;
out:
	free(pv);
	config_free(cfg);
	return rc;
}

int
config_load(const char *path, struct config **out, struct config_errors *errs)
{
	return config_load_under(path, NULL, out, errs);
}

int
config_pins_key(const struct trust_pins *p, char out[CONFIG_PINS_KEY_LEN])
{
	EVP_MD_CTX	*c;
	uint8_t		 d[32];
	char		 hdr[64];
	size_t		 i;
	int		 ok;

	out[0] = '\0';
	if ((c = EVP_MD_CTX_new()) == NULL)
		return -1;
	snprintf(hdr, sizeof(hdr), "%d/%d/%zu/", (int)p->kind, p->tofu, p->nids);
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(c, hdr, strlen(hdr)) == 1;
	/* IDs are 64 hex digits: with their NULs the encoding is unambiguous */
	for (i = 0; ok && i < p->nids; i++)
		ok = EVP_DigestUpdate(c, p->ids[i], strlen(p->ids[i]) + 1) == 1;
	if (ok && p->ca_pem != NULL)
		ok = EVP_DigestUpdate(c, p->ca_pem, p->ca_len) == 1;
	ok = ok && EVP_DigestFinal_ex(c, d, NULL) == 1;
	EVP_MD_CTX_free(c);
	if (!ok)
		return -1;
	trust_hex(d, sizeof(d), out);
	return 0;
}

struct config *
config_ref(struct config *cfg)
{
	if (cfg != NULL)
		atomic_fetch_add(&cfg->priv->refs, 1);
	return cfg;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	if (cfg->priv == NULL) {	/* half-built by config_load_under() */
		free(cfg);
		return;
	}
	if (atomic_fetch_sub(&cfg->priv->refs, 1) != 1)
		return;
	arena_free(cfg->priv);
	free(cfg->priv);
	sodium_memzero(cfg, sizeof(*cfg));
	free(cfg);
}
