/*
 * dctproxy: entry point and subcommand dispatch.
 *
 * Each subcommand lives with the module it exercises; this file only routes
 * argv to it. Exit status: 0 success, 1 refused / failed, 2 usage error.
 */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "proxy/proxy.h"
#include "proxy/proxy_int.h"

struct command {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*synopsis;
	const char	*what;
};

static const struct command commands[] = {
	{ "check-config", config_cli_check,
	    "check-config -c FILE [--root DIR] [--explain GUN]",
	    "Validate a configuration file; print the trust policy of GUN." },
	{ "lookup", cli_lookup, cli_lookup_usage,
	    "Fetch and verify GUN's trust data; print the signed digest of TAG." },
	{ "serve", cli_serve,
	    "serve -c FILE",
	    "Run the verifying registry proxy (SIGHUP reloads FILE, SIGUSR1 reopens the audit log)." },
	{ "healthcheck", cli_healthcheck,
	    "healthcheck (-c FILE | --url URL)",
	    "Ask a running proxy's /healthz; exit 0 when it answers 200." },
	{ "verify", cli_verify, cli_verify_usage,
	    "Verify metadata files on disk offline; print the trusted targets or TAG." },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: dctproxy <command> [options]\n"
	    "       dctproxy --help | --version\n\n"
	    "Docker Content Trust verification proxy for the Registry HTTP API v2.\n\n"
	    "commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n      %s\n", commands[i].synopsis, commands[i].what);
}

int
main(int argc, char *argv[])
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("dctproxy %s\n", DCTPROXY_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "dctproxy: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
