/*
 * proxy: the verifying Registry HTTP API v2 reverse proxy, its upstream
 * client (libcurl multi on the libevent loop), the audit log, and the
 * command-line entry points that need the network.
 */
#ifndef PROXY_PROXY_H
#define PROXY_PROXY_H

/* Subcommands (argv[0] is the subcommand name). Exit status as main(). */
int	cli_lookup(int, char **);
int	cli_verify(int, char **);
/* `serve -c FILE`: run the proxy until SIGTERM/SIGINT (server.c). */
int	cli_serve(int, char **);
/* `healthcheck (-c FILE | --url URL)`: GET /healthz of a running proxy; 0 if 200. */
int	cli_healthcheck(int, char **);

#endif
