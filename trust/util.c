/*
 * Public wrappers of trust/ internals that the proxy and the command line
 * need: hex, RFC 3339 time, role names.
 */
#include <string.h>

#include "trust/tuf_int.h"

void
trust_hex(const uint8_t *in, size_t len, char *out)
{
	thex(in, len, out);
}

int
trust_hex_decode(const char *in, uint8_t *out, size_t len)
{
	return thex_decode(in, out, len);
}

int
trust_time_parse(const char *s, time_t *t)
{
	return ttime_parse(s, t);
}

int
trust_role_valid(const char *role)
{
	return strcmp(role, "targets") == 0 || trole_name_valid(role);
}
