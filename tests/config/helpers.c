/*
 * Helpers for the config unit tests: temporary files, loading a config
 * from a string, and a throw-away certificate authority (OpenSSL) for the
 * fields that name PEM files. Declared again at the top of each test file
 * (tests/config has no header of its own).
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config/config.h"
#include "tests/unit.h"

const char	*cfgt_dir(void);
const char	*cfgt_write(const char *name, const char *content);
struct config	*cfgt_load(const char *json, struct config_errors *errs);
struct config	*cfgt_load_frag(const char *frag, struct config_errors *errs);
int		 cfgt_has_msg(const struct config_errors *errs, const char *needle);
const char	*cfgt_ca(void);
void		 cfgt_tls(const char **cert, const char **key, const char **other_key);

static const char *dir;

/* A private temporary directory (unit_tmpdir: removed at exit), made once. */
const char *
cfgt_dir(void)
{
	if (dir == NULL)
		dir = unit_tmpdir();
	return dir;
}

/* Write content to <dir>/name; returns the path (static, one of 8 slots). */
const char *
cfgt_write(const char *name, const char *content)
{
	static char	 paths[8][512];
	static int	 slot;
	char		*p = paths[slot++ % 8];
	FILE		*f;

	snprintf(p, 512, "%s/%s", cfgt_dir(), name);
	if ((f = fopen(p, "w")) == NULL)
		unit_fail(__FILE__, __LINE__, "cannot write %s", p);
	fputs(content, f);
	fclose(f);
	return p;
}

struct config *
cfgt_load(const char *json, struct config_errors *errs)
{
	struct config *cfg = NULL;

	if (config_load(cfgt_write("t.json", json), &cfg, errs) == -1)
		return NULL;
	return cfg;
}

/*
 * A valid skeleton (one listener, a docker.io mirror) plus frag, which is
 * spliced in as further top-level members (e.g. a "content-trust" block).
 */
struct config *
cfgt_load_frag(const char *frag, struct config_errors *errs)
{
	char	*buf;
	size_t	 n = strlen(frag) + 1024;

	struct config *cfg;

	if ((buf = malloc(n)) == NULL)
		return NULL;
	snprintf(buf, n, "{\"listeners\": [{\"address\": \"127.0.0.1:5000\"}],\n"
	    "\"registries\": [{\"name\": \"docker.io\", "
	    "\"upstream\": \"https://registry-1.docker.io\", "
	    "\"notary\": {\"url\": \"https://notary.docker.io\"}},\n"
	    "{\"name\": \"registry.example.com:5000\", "
	    "\"upstream\": \"http://127.0.0.1:5001\", "
	    "\"notary\": {\"url\": \"http://127.0.0.1:4443\"}, "
	    "\"gun_prefix\": \"notary.example.com/mirror\"}]%s%s}",
	    frag[0] ? ",\n" : "", frag);
	cfg = cfgt_load(buf, errs);
	free(buf);
	return cfg;
}

int
cfgt_has_msg(const struct config_errors *errs, const char *needle)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		if (strstr(errs->msgs[i].msg, needle) != NULL)
			return 1;
	return 0;
}

static EVP_PKEY *
new_key(void)
{
	return EVP_EC_gen("P-256");
}

static void
write_key(const char *path, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
		unit_fail(__FILE__, __LINE__, "cannot write %s", path);
	fclose(f);
}

static void
write_cert(const char *path, EVP_PKEY *k, const char *cn, int ca)
{
	X509		*x = X509_new();
	X509_NAME	*nm;
	X509_EXTENSION	*ext;
	X509V3_CTX	 ctx;
	FILE		*f;

	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_set_pubkey(x, k);
	nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn,
	    -1, -1, 0);
	X509_set_issuer_name(x, nm);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
	    ca ? "critical,CA:TRUE" : "CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!X509_sign(x, k, EVP_sha256()))
		unit_fail(__FILE__, __LINE__, "X509_sign failed");
	if ((f = fopen(path, "w")) == NULL || !PEM_write_X509(f, x))
		unit_fail(__FILE__, __LINE__, "cannot write %s", path);
	fclose(f);
	X509_free(x);
}

/* A CA bundle file (one self-signed CA certificate); created once. */
const char *
cfgt_ca(void)
{
	static char	 path[512];
	EVP_PKEY	*k;

	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "%s/ca.pem", cfgt_dir());
		if ((k = new_key()) == NULL)
			unit_fail(__FILE__, __LINE__, "EC key generation failed");
		write_cert(path, k, "dctproxy unit test CA", 1);
		EVP_PKEY_free(k);
	}
	return path;
}

/* A server certificate, its key, and an unrelated key; created once. */
void
cfgt_tls(const char **cert, const char **key, const char **other_key)
{
	static char	 c[512], k[512], o[512];
	EVP_PKEY	*pk, *ok;

	if (c[0] == '\0') {
		snprintf(c, sizeof(c), "%s/server.pem", cfgt_dir());
		snprintf(k, sizeof(k), "%s/server.key", cfgt_dir());
		snprintf(o, sizeof(o), "%s/other.key", cfgt_dir());
		if ((pk = new_key()) == NULL || (ok = new_key()) == NULL)
			unit_fail(__FILE__, __LINE__, "EC key generation failed");
		write_cert(c, pk, "127.0.0.1", 0);
		write_key(k, pk);
		write_key(o, ok);
		chmod(k, 0600);
		EVP_PKEY_free(pk);
		EVP_PKEY_free(ok);
	}
	*cert = c;
	*key = k;
	*other_key = o;
}
