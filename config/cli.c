/*
 * config/cli.c: `dctproxy check-config`.
 *
 *   dctproxy check-config -c FILE [--root DIR] [--explain GUN]
 *
 * Loads FILE exactly as the server would. Valid: prints "FILE: ok" on
 * stdout (warnings on stderr) and exits 0; with --explain, then prints the
 * effective policy of GUN. Invalid: prints every error on stderr, one per
 * line, and exits 1. Usage errors exit 2.
 */
#include <stdio.h>
#include <string.h>

#include "config/config.h"

static const char usage_text[] =
    "usage: dctproxy check-config -c FILE [--root DIR] [--explain GUN]\n"
    "  -c, --config FILE   the configuration file to check\n"
    "  --root DIR          open the certificate, key and CA files it names below DIR\n"
    "  --explain GUN       print the effective trust policy for GUN\n";

static int
usage(void)
{
	fputs(usage_text, stderr);
	return 2;
}

static const char *
kind_name(enum trust_pin_kind k)
{
	switch (k) {
	case TRUST_PIN_NONE:		return "none";
	case TRUST_PIN_CERT_IDS:	return "cert-ids (root certificate IDs)";
	case TRUST_PIN_ROOT_KEYS:	return "root-keys (canonical root key IDs)";
	case TRUST_PIN_CA:		return "ca (leaf certificate must chain to the CA bundle)";
	}
	return "unknown";
}

static void
explain(const struct config_policy *pol, const char *gun)
{
	size_t i;

	printf("gun: %s\n", gun);
	if (pol->rule != NULL)
		printf("rule: repositories[%d] \"%s\" (%s)\n", pol->rule_index,
		    pol->rule->match,
		    config_pattern_match(pol->rule->match, gun) == SIZE_MAX ?
		    "exact" : "wildcard");
	else
		printf("rule: none\n");
	printf("mode: %s (%s)\n", config_mode_name(pol->mode), pol->mode_from);
	printf("pinning: %s\n", pol->explain);
	printf("pin kind: %s\n", kind_name(pol->pins.kind));
	for (i = 0; i < pol->pins.nids; i++)
		printf("  id: %s\n", pol->pins.ids[i]);
	if (pol->pins.kind == TRUST_PIN_CA)
		printf("  ca: %s (%zu bytes)\n", pol->ca_file, pol->pins.ca_len);
	printf("tofu: %s\n", pol->pins.tofu ? "yes (first root seen is trusted)" : "no");
	if (pol->nrequired_roles == 0)
		printf("required roles: Docker default (targets/releases, then targets)\n");
	else {
		printf("required roles (all must sign the same digest):");
		for (i = 0; i < pol->nrequired_roles; i++)
			printf(" %s", pol->required_roles[i]);
		printf("\n");
	}
	printf("allow unsigned: %s\n", pol->allow_unsigned ? "yes" : "no");
	printf("allow expired cached trust data: %s\n",
	    pol->allow_expired_cache ? "yes" : "no");
	if (pol->mode == CONFIG_MODE_DISABLED)
		printf("verdict: not verified (mode disabled)\n");
	else if (pol->pins.kind == TRUST_PIN_NONE && !pol->pins.tofu)
		printf("verdict: every pull %s (invalid trust pinning specified)\n",
		    pol->mode == CONFIG_MODE_ENFORCED ? "is refused" :
		    "fails verification and is let through (permissive)");
}

int
config_cli_check(int argc, char **argv)
{
	struct config_errors	 errs;
	struct config		*cfg = NULL;
	struct config_policy	 pol;
	const char		*file = NULL, *root = NULL, *gun = NULL;
	int			 i, rc;
	size_t			 k;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (i + 1 >= argc)
			return usage();
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
			file = argv[++i];
		else if (strcmp(a, "--root") == 0)
			root = argv[++i];
		else if (strcmp(a, "--explain") == 0)
			gun = argv[++i];
		else
			return usage();
	}
	if (file == NULL)
		return usage();

	rc = config_load_under(file, root, &cfg, &errs);
	for (k = 0; k < errs.n; k++)
		fprintf(stderr, "%s\n", errs.msgs[k].msg);
	if (errs.nerrors + errs.nwarnings > errs.n)
		fprintf(stderr, "%s: %zu more messages not shown\n", file,
		    errs.nerrors + errs.nwarnings - errs.n);
	if (rc == -1) {
		fprintf(stderr, "%s: %zu error%s\n", file, errs.nerrors,
		    errs.nerrors == 1 ? "" : "s");
		return 1;
	}
	printf("%s: ok\n", file);
	rc = 0;
	if (gun != NULL) {
		if (config_policy_for(cfg, gun, &pol) == -1) {
			fprintf(stderr, "dctproxy check-config: --explain: %s\n", pol.explain);
			rc = 1;
		} else
			explain(&pol, gun);
	}
	config_free(cfg);
	return rc;
}
