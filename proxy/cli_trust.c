/*
 * `dctproxy lookup` and `dctproxy verify`: the trust verifier on the
 * command line. lookup runs the same notary client as the proxy (fetch on
 * a private event loop); verify runs the update offline over files.
 *
 * Output on success: "sha256:<hex> <size> <role>" for a tag (lookup by
 * digest prints "<tag> <size> <role>"), exit 0. On refusal: the Docker
 * engine's wording on stderr, then "reason: <code>: <detail>", exit 1.
 * Usage errors exit 2.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config/config.h"
#include "proxy/proxy.h"
#include "proxy/proxy_int.h"

const char cli_lookup_usage[] =
    "lookup [--server URL] [--ca FILE] [--username USER] [--password-env VAR]\n"
    "          [--state DIR] [--pin-cert-id ID]... [--pin-root-key ID]... [--pin-ca FILE]\n"
    "          [--tofu] [--role ROLE]... [--at RFC3339] GUN TAG|sha256:DIGEST";
const char cli_verify_usage[] =
    "verify --dir DIR --gun GUN [--at RFC3339] [--state DIR] [--pin-cert-id ID]...\n"
    "          [--pin-root-key ID]... [--pin-ca FILE] [--tofu] [--role ROLE]... [TAG]";

struct cli_trust {
	const char		*server;
	const char		*ca;
	const char		*state;
	const char		*dir;
	const char		*gun;
	const char		*tag;
	const char		*user;
	const char		*password;
	const char		*ids[CONFIG_MAX_PIN_IDS];
	const char		*roles[CONFIG_MAX_ROLES];
	size_t			 nroles;
	uint8_t			*ca_pem;
	struct trust_pins	 pins;
	time_t			 now;
	int			 status;
};

static int
usage(const char *cmd)
{
	fprintf(stderr, "usage: dctproxy %s\n", strcmp(cmd, "lookup") == 0 ?
	    cli_lookup_usage : cli_verify_usage);
	return 2;
}

static int
set_kind(struct cli_trust *c, enum trust_pin_kind k)
{
	if (c->pins.kind != TRUST_PIN_NONE && c->pins.kind != k) {
		fprintf(stderr, "dctproxy: use one pinning mechanism per repository\n");
		return -1;
	}
	c->pins.kind = k;
	return 0;
}

static uint8_t *
read_all(const char *path, size_t max, size_t *lenp)
{
	FILE	*f;
	uint8_t	*buf;
	size_t	 n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if ((buf = malloc(max + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	if (n > max) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	*lenp = n;
	return buf;
}

/* Parse the options both commands share. Returns the index of the first operand or -1. */
static int
parse(struct cli_trust *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "ca", required_argument, NULL, 'c' },
		{ "state", required_argument, NULL, 'S' },
		{ "dir", required_argument, NULL, 'd' },
		{ "gun", required_argument, NULL, 'g' },
		{ "at", required_argument, NULL, 'a' },
		{ "pin-cert-id", required_argument, NULL, 'C' },
		{ "pin-root-key", required_argument, NULL, 'K' },
		{ "pin-ca", required_argument, NULL, 'A' },
		{ "tofu", no_argument, NULL, 'T' },
		{ "role", required_argument, NULL, 'r' },
		{ "username", required_argument, NULL, 'u' },
		{ "password-env", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 }
	};
	size_t	len;
	int	ch;

	optind = 1;
	c->now = time(NULL);
	c->pins.ids = c->ids;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's': c->server = optarg; break;
		case 'c': c->ca = optarg; break;
		case 'S': c->state = optarg; break;
		case 'd': c->dir = optarg; break;
		case 'g': c->gun = optarg; break;
		case 'u': c->user = optarg; break;
		case 'P':
			if ((c->password = getenv(optarg)) == NULL) {
				fprintf(stderr, "dctproxy: %s is not set\n", optarg);
				return -1;
			}
			break;
		case 'a':
			if (trust_time_parse(optarg, &c->now) == -1) {
				fprintf(stderr, "dctproxy: --at: not an RFC 3339 time: %s\n",
				    optarg);
				return -1;
			}
			break;
		case 'C':
		case 'K':
			if (!config_id_valid(optarg)) {
				fprintf(stderr, "dctproxy: pin %s: expected 64 lower-case "
				    "hex digits\n", optarg);
				return -1;
			}
			if (set_kind(c, ch == 'C' ? TRUST_PIN_CERT_IDS :
			    TRUST_PIN_ROOT_KEYS) == -1 || c->pins.nids >= CONFIG_MAX_PIN_IDS)
				return -1;
			c->ids[c->pins.nids++] = optarg;
			break;
		case 'A':
			if (set_kind(c, TRUST_PIN_CA) == -1)
				return -1;
			free(c->ca_pem);	/* the last --pin-ca counts */
			c->pins.ca_pem = NULL;
			if ((c->ca_pem = read_all(optarg, CONFIG_MAX_PEM_LEN, &len)) == NULL) {
				fprintf(stderr, "dctproxy: --pin-ca %s: %s\n", optarg,
				    strerror(errno));
				return -1;
			}
			c->pins.ca_pem = c->ca_pem;
			c->pins.ca_len = len;
			break;
		case 'T': c->pins.tofu = 1; break;
		case 'r':
			if (c->nroles >= CONFIG_MAX_ROLES || !trust_role_valid(optarg)) {
				fprintf(stderr, "dctproxy: --role %s: not a valid role\n",
				    optarg);
				return -1;
			}
			c->roles[c->nroles++] = optarg;
			break;
		default:
			return -1;
		}
	}
	return optind;
}

static void
refuse(const struct trust_error *err, const char *gun, const char *ref)
{
	char msg[1024];

	trust_error_engine(err, gun, ref, msg, sizeof(msg));
	fprintf(stderr, "%s\nreason: %s: %s\n", msg, trust_code_name(err->code), err->msg);
}

/* Print the answer for tag (or every target when tag is NULL). Returns exit status. */
static int
answer(const struct trust_repo *repo, const char *gun, const char *tag,
    const char *const *roles, size_t nroles)
{
	struct trust_error		 err;
	struct trust_target		 t;
	const struct trust_target	*x;
	uint8_t				 d[32];
	char				 hex[65];
	size_t				 i;

	if (tag == NULL) {
		for (i = 0; i < trust_repo_ntargets(repo); i++) {
			x = trust_repo_target(repo, i);
			trust_hex(x->sha256, 32, hex);
			printf("%s sha256:%s %lld %s\n", x->name, x->has_sha256 ? hex : "-",
			    (long long)x->length, x->role);
		}
		return 0;
	}
	if (strncmp(tag, "sha256:", 7) == 0) {
		if (trust_hex_decode(tag + 7, d, 32) == -1) {
			fprintf(stderr, "invalid image digest provided\n");
			return 1;
		}
		if (trust_repo_lookup_digest(repo, d, &t, &err) == -1) {
			refuse(&err, gun, tag);
			return 1;
		}
		printf("%s %lld %s\n", t.name, (long long)t.length, t.role);
		return 0;
	}
	if (trust_repo_resolve(repo, tag, roles, nroles, &t, &err) == -1) {
		refuse(&err, gun, tag);
		return 1;
	}
	trust_hex(t.sha256, 32, hex);
	printf("sha256:%s %lld %s\n", hex, (long long)t.length, t.role);
	return 0;
}

int
cli_verify(int argc, char **argv)
{
	struct cli_trust	 c;
	struct trust_repo	*repo = NULL;
	struct trust_state	*cached = NULL, *st = NULL;
	struct trust_error	 err;
	int			 i, rc = 1;

	memset(&c, 0, sizeof(c));
	if ((i = parse(&c, argc, argv)) == -1 || c.dir == NULL || c.gun == NULL ||
	    argc - i > 1) {
		free(c.ca_pem);
		return usage("verify");
	}
	c.tag = i < argc ? argv[i] : NULL;
	if (c.state != NULL && trust_store_load(c.state, c.gun, &cached, &err) == -1) {
		refuse(&err, c.gun, c.tag ? c.tag : "");
		goto out;
	}
	if (trust_verify_dir(c.dir, c.gun, &c.pins, cached, c.now, &repo,
	    c.state ? &st : NULL, &err) == -1) {
		refuse(&err, c.gun, c.tag ? c.tag : "");
		goto out;
	}
	if (c.state != NULL && trust_store_save(c.state, c.gun, st, &err) == -1) {
		refuse(&err, c.gun, c.tag ? c.tag : "");
		goto out;
	}
	rc = answer(repo, c.gun, c.tag, c.roles, c.nroles);
 out:
	trust_state_free(cached);
	trust_state_free(st);
	trust_repo_free(repo);
	free(c.ca_pem);
	return rc;
}

struct lookup_run {
	struct cli_trust	*c;
	struct event_base	*base;
	int			 rc;
	int			 done;
};

static void
on_trust(const struct trust_repo *repo, const struct trust_error *err, const char *note,
    void *arg)
{
	struct lookup_run *r = arg;

	if (note != NULL)
		fprintf(stderr, "dctproxy: %s\n", note);
	if (repo == NULL) {
		refuse(err, r->c->gun, r->c->tag);
		r->rc = 1;
	} else
		r->rc = answer(repo, r->c->gun, r->c->tag, r->c->roles, r->c->nroles);
	r->done = 1;
	event_base_loopbreak(r->base);
}

/* Docker's default: https://notary.docker.io for docker.io, else https://<registry>. */
static void
default_server(const char *gun, char *buf, size_t len)
{
	const char *slash = strchr(gun, '/');
	int hl = slash ? (int)(slash - gun) : (int)strlen(gun);

	if (strncmp(gun, "docker.io/", 10) == 0)
		snprintf(buf, len, "https://notary.docker.io");
	else
		snprintf(buf, len, "https://%.*s", hl, gun);
}

int
cli_lookup(int argc, char **argv)
{
	struct cli_trust	 c;
	struct lookup_run	 r;
	struct notary_server	 srv;
	struct fetch_ctx	*fetch = NULL;
	struct notary		*n = NULL;
	struct config_url	 u;
	char			 url[1024], ubuf[4 * (CONFIG_MAX_URL_LEN + 1)], err[128];
	char			 key[CONFIG_PINS_KEY_LEN];
	int			 i;

	memset(&c, 0, sizeof(c));
	memset(&r, 0, sizeof(r));
	if ((i = parse(&c, argc, argv)) == -1 || argc - i != 2) {
		free(c.ca_pem);
		return usage("lookup");
	}
	c.gun = argv[i];
	c.tag = argv[i + 1];
	if (strlen(c.gun) > TRUST_MAX_GUN_LEN || strchr(c.gun, '/') == NULL) {
		fprintf(stderr, "dctproxy: %s is not a GUN (host/repository)\n", c.gun);
		free(c.ca_pem);
		return 2;
	}
	if (c.server == NULL) {
		default_server(c.gun, url, sizeof(url));
		c.server = url;
	}
	if (config_url_parse(c.server, &u, ubuf, sizeof(ubuf), err, sizeof(err)) == -1) {
		fprintf(stderr, "dctproxy: --server %s: %s\n", c.server, err);
		free(c.ca_pem);
		return 2;
	}
	memset(&srv, 0, sizeof(srv));
	srv.url = u.base;
	srv.ca_file = c.ca;
	srv.username = c.user;
	srv.password = c.password;
	srv.timeout_ms = 30000;
	r.c = &c;
	r.rc = 1;
	if (config_pins_key(&c.pins, key) == -1) {
		fprintf(stderr, "dctproxy: out of memory\n");
		goto out;
	}
	c.pins.key = key;
	if ((r.base = event_base_new()) == NULL ||
	    (fetch = fetch_ctx_new(r.base)) == NULL ||
	    (n = notary_new(fetch, c.state, 0)) == NULL) {
		fprintf(stderr, "dctproxy: out of memory\n");
		goto out;
	}
	if (notary_get(n, &srv, c.gun, &c.pins, c.now, 0, on_trust, &r) == -1) {
		fprintf(stderr, "dctproxy: out of memory\n");
		goto out;
	}
	if (!r.done)	/* the answer may have come from the cache already */
		event_base_dispatch(r.base);
 out:
	fetch_ctx_free(fetch);
	notary_free(n);
	if (r.base != NULL)
		event_base_free(r.base);
	free(c.ca_pem);
	return r.rc;
}
