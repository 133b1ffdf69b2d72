/*
 * config/parse.c: the small syntaxes inside the configuration file: URLs,
 * listener addresses, registry host names, GUNs and GUN patterns,
 * repository paths, TUF role names, key IDs.
 *
 * Each checker accepts exactly the documented form and rejects everything
 * else with a reason; none of them repairs its input. No libcurl here (the
 * config module links with the pure core only), so URLs are parsed by
 * hand, to a deliberately small subset of RFC 3986.
 */
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"

static int
seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c);
}

static int
is_alnum(int c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int
is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * A decimal port of n characters at s: 1-5 digits, no sign, no leading
 * zero, value 1-65535.
 */
static int
port_parse(const char *s, size_t n, uint16_t *port)
{
	unsigned long	v = 0;
	size_t		i;

	if (n == 0 || n > 5 || s[0] == '0')
		return -1;
	for (i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/*
 * A DNS name (or dotted IPv4, which has the same shape) of n characters:
 * labels of [A-Za-z0-9-], 1-63 long, not starting or ending with '-',
 * no empty label (so no leading, trailing or double dot), at most
 * CONFIG_MAX_HOST_LEN in all.
 */
static int
hostname_ok(const char *s, size_t n)
{
	size_t	i, label = 0;

	if (n == 0 || n > CONFIG_MAX_HOST_LEN)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && c != '-')
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[n - 1] != '-';
}

/*
 * A host of n characters as it appears in an authority: a DNS name or
 * IPv4 address, or "[IPv6]" (no zone identifier). The host without
 * brackets goes to out.
 */
static int
host_parse(const char *s, size_t n, char *out, size_t outlen, int *ipv6,
    char *err, size_t errlen)
{
	unsigned char	addr[16];
	char		tmp[64];

	*ipv6 = 0;
	if (n == 0)
		return seterr(err, errlen, "host is empty");
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(tmp))
			return seterr(err, errlen, "malformed IPv6 address");
		memcpy(tmp, s + 1, n - 2);
		tmp[n - 2] = '\0';
		if (inet_pton(AF_INET6, tmp, addr) != 1)
			return seterr(err, errlen, "malformed IPv6 address");
		if (n - 2 >= outlen)
			return seterr(err, errlen, "host too long");
		memcpy(out, tmp, n - 1);
		*ipv6 = 1;
		return 0;
	}
	if (!hostname_ok(s, n))
		return seterr(err, errlen,
		    "host must be a DNS name, an IPv4 address or a bracketed IPv6 address");
	if (n >= outlen)
		return seterr(err, errlen, "host too long");
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* Path characters (RFC 3986 pchar and '/'), '%' checked by the caller. */
static int
path_char_ok(int c)
{
	return is_alnum(c) || strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

int
config_url_parse(const char *url, struct config_url *out, char *buf, size_t len,
    char *err, size_t errlen)
{
	const char	*p, *auth, *aend, *colon, *path;
	size_t		 n, i, alen;
	char		*w;
	int		 ipv6;

	memset(out, 0, sizeof(*out));
	n = strlen(url);
	if (n == 0)
		return seterr(err, errlen, "URL is empty");
	if (n > CONFIG_MAX_URL_LEN)
		return seterr(err, errlen, "URL longer than %d bytes", CONFIG_MAX_URL_LEN);
	if (len < 4 * (n + 1))
		return seterr(err, errlen, "URL buffer too small");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c >= 0x7f)
			return seterr(err, errlen,
			    "URL contains a space, a control or a non-ASCII character");
	}
	if (strncmp(url, "https://", 8) == 0) {
		out->https = 1;
		auth = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		auth = url + 7;
	} else
		return seterr(err, errlen, "scheme must be http or https");

	for (aend = auth; *aend != '\0' && *aend != '/' && *aend != '?' &&
	    *aend != '#'; aend++)
		;
	alen = (size_t)(aend - auth);
	if (memchr(auth, '@', alen) != NULL)
		return seterr(err, errlen,
		    "userinfo (user:password@) is not allowed in a URL, use credentials");
	if (memchr(auth, '%', alen) != NULL)
		return seterr(err, errlen, "percent-encoding is not allowed in the host");

	/* Port: after the last ':' that is not inside brackets. */
	colon = NULL;
	for (p = auth; p < aend; p++) {
		if (*p == ']')
			colon = NULL;
		else if (*p == ':')
			colon = p;
	}
	if (auth[0] == '[') {
		const char *rb = memchr(auth, ']', alen);

		if (rb == NULL || (colon != NULL && colon < rb))
			return seterr(err, errlen, "malformed IPv6 address");
		if (rb + 1 != aend && rb + 1 != colon)
			return seterr(err, errlen, "malformed IPv6 address");
	}

	w = buf;
	/* url */
	out->url = w;
	memcpy(w, url, n + 1);
	w += n + 1;
	/* host */
	out->host = w;
	if (host_parse(auth, colon ? (size_t)(colon - auth) : alen, w,
	    n + 1, &ipv6, err, errlen) == -1)
		return -1;
	w += strlen(w) + 1;
	if (colon != NULL) {
		if (port_parse(colon + 1, (size_t)(aend - colon - 1), &out->port) == -1)
			return seterr(err, errlen, "port must be a number from 1 to 65535");
		out->has_port = 1;
	} else
		out->port = out->https ? 443 : 80;

	/* path */
	path = aend;
	for (p = path; *p != '\0'; p++) {
		if (*p == '?' || *p == '#')
			return seterr(err, errlen,
			    "a query or fragment is not allowed in this URL");
		if (*p == '%') {
			if (!is_hex((unsigned char)p[1]) || !is_hex((unsigned char)p[2]))
				return seterr(err, errlen, "malformed percent-encoding in the path");
			p += 2;
			continue;
		}
		if (!path_char_ok((unsigned char)*p))
			return seterr(err, errlen, "character '%c' is not allowed in the path", *p);
	}
	for (p = path; *p != '\0'; ) {
		const char	*seg = p + 1, *e = strchr(seg, '/');
		size_t		 sl = e ? (size_t)(e - seg) : strlen(seg);

		if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
			return seterr(err, errlen, "\".\" and \"..\" path segments are not allowed");
		p = seg + sl;
	}
	out->path = w;
	memcpy(w, path, strlen(path) + 1);
	w += strlen(path) + 1;

	/* base: the URL without a trailing '/' */
	out->base = w;
	memcpy(w, url, n + 1);
	if (n > 0 && w[n - 1] == '/' && path[0] != '\0')
		w[n - 1] = '\0';
	return 0;
}

int
config_addr_parse(const char *addr, char *host, size_t hostlen, int *ipv6,
    uint16_t *port, char *err, size_t errlen)
{
	const char	*colon;
	unsigned char	 bin[16];
	char		 tmp[64];
	size_t		 hl;

	*ipv6 = 0;
	if ((colon = strrchr(addr, ':')) == NULL)
		return seterr(err, errlen,
		    "address must be IPV4:PORT or [IPV6]:PORT (e.g. 127.0.0.1:5000)");
	if (port_parse(colon + 1, strlen(colon + 1), port) == -1)
		return seterr(err, errlen, "port must be a number from 1 to 65535");
	hl = (size_t)(colon - addr);
	if (hl == 0)
		return seterr(err, errlen,
		    "address must be IPV4:PORT or [IPV6]:PORT (e.g. 127.0.0.1:5000)");
	if (addr[0] == '[') {
		if (hl < 3 || addr[hl - 1] != ']' || hl - 2 >= sizeof(tmp))
			return seterr(err, errlen, "malformed IPv6 address (write [::1]:5000)");
		memcpy(tmp, addr + 1, hl - 2);
		tmp[hl - 2] = '\0';
		if (inet_pton(AF_INET6, tmp, bin) != 1)
			return seterr(err, errlen, "malformed IPv6 address (write [::1]:5000)");
		*ipv6 = 1;
	} else {
		if (hl >= sizeof(tmp))
			return seterr(err, errlen, "host must be a literal IP address");
		memcpy(tmp, addr, hl);
		tmp[hl] = '\0';
		if (inet_pton(AF_INET, tmp, bin) != 1)
			return seterr(err, errlen,
			    "host must be a literal IPv4 address or a bracketed IPv6 address");
	}
	if (strlen(tmp) >= hostlen)
		return seterr(err, errlen, "address too long");
	memcpy(host, tmp, strlen(tmp) + 1);
	return 0;
}

int
config_hostport_check(const char *s, char *err, size_t errlen)
{
	const char	*colon = strchr(s, ':');
	size_t		 hl = colon ? (size_t)(colon - s) : strlen(s);
	uint16_t	 port;

	if (strlen(s) > CONFIG_MAX_NAME_LEN)
		return seterr(err, errlen, "longer than %d characters", CONFIG_MAX_NAME_LEN);
	if (strchr(s, '/') != NULL || (colon != NULL && strchr(colon + 1, ':') != NULL))
		return seterr(err, errlen,
		    "must be HOST or HOST:PORT as clients write it (no scheme, no path)");
	if (!hostname_ok(s, hl))
		return seterr(err, errlen,
		    "must be HOST or HOST:PORT with HOST a DNS name or IPv4 address");
	if (colon != NULL && port_parse(colon + 1, strlen(colon + 1), &port) == -1)
		return seterr(err, errlen, "port must be a number from 1 to 65535");
	return 0;
}

size_t
config_pattern_match(const char *pattern, const char *name)
{
	size_t pl = strlen(pattern);

	if (pl > 0 && pattern[pl - 1] == '*') {
		if (strncmp(pattern, name, pl - 1) == 0)
			return pl;	/* 1 + prefix length */
		return 0;
	}
	return strcmp(pattern, name) == 0 ? SIZE_MAX : 0;
}

int
config_id_valid(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!is_digit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return 0;
	return s[64] == '\0';
}

/* GUN characters; ok_prefix: n may end in '/' or be empty (a pattern prefix). */
static int
gun_chars_ok(const char *s, size_t n, int ok_prefix)
{
	size_t i;

	if (n == 0)
		return ok_prefix;
	if (n > TRUST_MAX_GUN_LEN || s[0] == '/')
		return 0;
	if (!ok_prefix && s[n - 1] == '/')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!is_alnum(c) && c != '.' && c != '_' && c != ':' && c != '/' && c != '-')
			return 0;
		if (c == '/' && i > 0 && s[i - 1] == '/')
			return 0;
	}
	return 1;
}

int
config_gun_valid(const char *s)
{
	return gun_chars_ok(s, strlen(s), 0);
}

int
config_pattern_valid(const char *s)
{
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] == '*')
		return gun_chars_ok(s, n - 1, 1);
	return n > 0 && gun_chars_ok(s, n, 0);
}

/* One path component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* */
static int
component_ok(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !is_lower_alnum((unsigned char)s[0]))
		return 0;
	while (i < n) {
		while (i < n && is_lower_alnum((unsigned char)s[i]))
			i++;
		if (i == n)
			return 1;
		if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else
			return 0;
		if (i == n || !is_lower_alnum((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

int
config_repo_valid(const char *s)
{
	const char	*p = s, *e;
	size_t		 n = strlen(s);

	if (n == 0 || n > TRUST_MAX_GUN_LEN)
		return 0;
	for (;;) {
		e = strchr(p, '/');
		if (!component_ok(p, e ? (size_t)(e - p) : strlen(p)))
			return 0;
		if (e == NULL)
			return 1;
		p = e + 1;
	}
}

int
config_role_valid(const char *s)
{
	return trust_role_valid(s);
}
