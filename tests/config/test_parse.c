/*
 * The small syntaxes: URLs (strict, by hand, no libcurl), listener
 * addresses, registry names, GUN patterns and the engine's matching rule,
 * key IDs, repository paths, role names.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "tests/unit.h"

static int
url_ok(const char *u, struct config_url *out, char *buf, size_t len)
{
	char err[128];

	return config_url_parse(u, out, buf, len, err, sizeof(err)) == 0;
}

/* The reason a URL is refused ("" if it is accepted). */
static const char *
url_err(const char *u)
{
	static char		err[128];
	static char		buf[4 * 512];
	struct config_url	url;

	if (config_url_parse(u, &url, buf, sizeof(buf), err, sizeof(err)) == 0)
		return "";
	return err;
}

UNIT_TEST(url_accepts_https_with_port_and_path)
{
	struct config_url	u;
	char			buf[1024];

	T_ASSERT(url_ok("https://notary.internal:4443/base/", &u, buf, sizeof(buf)));
	T_EQ_INT(u.https, 1);
	T_EQ_STR(u.host, "notary.internal");
	T_EQ_INT(u.port, 4443);
	T_EQ_INT(u.has_port, 1);
	T_EQ_STR(u.path, "/base/");
	T_EQ_STR(u.url, "https://notary.internal:4443/base/");
	T_EQ_STR(u.base, "https://notary.internal:4443/base");
}

UNIT_TEST(url_default_ports_and_bare_host)
{
	struct config_url	u;
	char			buf[1024];

	T_ASSERT(url_ok("http://registry", &u, buf, sizeof(buf)));
	T_EQ_INT(u.https, 0);
	T_EQ_INT(u.port, 80);
	T_EQ_INT(u.has_port, 0);
	T_EQ_STR(u.path, "");
	T_EQ_STR(u.base, "http://registry");
	T_ASSERT(url_ok("https://registry/", &u, buf, sizeof(buf)));
	T_EQ_INT(u.port, 443);
	T_EQ_STR(u.base, "https://registry");
	T_ASSERT(url_ok("https://10.0.0.1:5000", &u, buf, sizeof(buf)));
	T_EQ_STR(u.host, "10.0.0.1");
}

UNIT_TEST(url_ipv6_literal)
{
	struct config_url	u;
	char			buf[1024];

	T_ASSERT(url_ok("https://[::1]:4443/x", &u, buf, sizeof(buf)));
	T_EQ_STR(u.host, "::1");
	T_EQ_INT(u.port, 4443);
	T_ASSERT(url_ok("http://[2001:db8::5]", &u, buf, sizeof(buf)));
	T_EQ_STR(u.host, "2001:db8::5");
	T_EQ_INT(u.port, 80);
	T_CONTAINS(url_err("https://[::1"), "IPv6");
	T_CONTAINS(url_err("https://[zz::1]:5"), "IPv6");
	T_CONTAINS(url_err("https://[::1]x:5"), "IPv6");
	T_CONTAINS(url_err("https://[fe80::1%25eth0]/"), "percent");
}

UNIT_TEST(url_rejects_rather_than_repairs)
{
	T_CONTAINS(url_err("ftp://host/"), "scheme must be http or https");
	T_CONTAINS(url_err("HTTPS://host/"), "scheme must be http or https");
	T_CONTAINS(url_err("file:///etc/passwd"), "scheme must be http or https");
	T_CONTAINS(url_err("host:5000"), "scheme must be http or https");
	T_CONTAINS(url_err("https:/host"), "scheme must be http or https");
	T_CONTAINS(url_err(""), "empty");
	T_CONTAINS(url_err("https://"), "host is empty");
	T_CONTAINS(url_err("https:///path"), "host is empty");
	T_CONTAINS(url_err("https://user:pw@host/"), "userinfo");
	T_CONTAINS(url_err("https://host/?q=1"), "query or fragment");
	T_CONTAINS(url_err("https://host/x#frag"), "query or fragment");
	T_CONTAINS(url_err("https://host?x"), "query or fragment");
	T_CONTAINS(url_err("https://host:0/"), "port must be a number from 1 to 65535");
	T_CONTAINS(url_err("https://host:65536/"), "port must be a number from 1 to 65535");
	T_CONTAINS(url_err("https://host:/"), "port must be a number from 1 to 65535");
	T_CONTAINS(url_err("https://host:44a3/"), "port must be a number from 1 to 65535");
	T_CONTAINS(url_err("https://host:-1/"), "port must be a number from 1 to 65535");
	T_CONTAINS(url_err("https://host:0443/"), "port must be a number from 1 to 65535");
	T_CONTAINS(url_err("https://ho_st/"), "host must be");
	T_CONTAINS(url_err("https://-host/"), "host must be");
	T_CONTAINS(url_err("https://host-/"), "host must be");
	T_CONTAINS(url_err("https://a..b/"), "host must be");
	T_CONTAINS(url_err("https://host./"), "host must be");
	T_CONTAINS(url_err("https://h%41st/"), "percent");
	T_CONTAINS(url_err("https://host /"), "space");
	T_CONTAINS(url_err("https://host/a b"), "space");
	T_CONTAINS(url_err("https://h\xc3\xa9st/"), "non-ASCII");
	T_CONTAINS(url_err("https://host/a/../b"), "\"..\" path segments");
	T_CONTAINS(url_err("https://host/./b"), "path segments");
	T_CONTAINS(url_err("https://host/%zz"), "percent-encoding");
	T_CONTAINS(url_err("https://host/a\\b"), "not allowed in the path");
	T_EQ_STR(url_err("https://host/a%20b/c..d/.x"), "");
}

UNIT_TEST(url_length_and_label_caps)
{
	char	long_label[80], u[200];

	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	snprintf(u, sizeof(u), "https://%s.example/", long_label);
	T_CONTAINS(url_err(u), "host must be");
	long_label[63] = '\0';
	snprintf(u, sizeof(u), "https://%s.example/", long_label);
	T_EQ_STR(url_err(u), "");
}

UNIT_TEST(listener_addresses)
{
	char		host[64], err[128];
	int		v6;
	uint16_t	port;

	T_EQ_INT(config_addr_parse("127.0.0.1:5000", host, sizeof(host), &v6, &port,
	    err, sizeof(err)), 0);
	T_EQ_STR(host, "127.0.0.1");
	T_EQ_INT(port, 5000);
	T_EQ_INT(v6, 0);
	T_EQ_INT(config_addr_parse("[::1]:443", host, sizeof(host), &v6, &port,
	    err, sizeof(err)), 0);
	T_EQ_STR(host, "::1");
	T_EQ_INT(v6, 1);
	T_EQ_INT(port, 443);
	T_EQ_INT(config_addr_parse("0.0.0.0:65535", host, sizeof(host), &v6, &port,
	    err, sizeof(err)), 0);

	T_EQ_INT(config_addr_parse("127.0.0.1:0", host, sizeof(host), &v6, &port,
	    err, sizeof(err)), -1);
	T_CONTAINS(err, "port");
	T_EQ_INT(config_addr_parse("127.0.0.1:70000", host, sizeof(host), &v6, &port,
	    err, sizeof(err)), -1);
	T_EQ_INT(config_addr_parse("127.0.0.1", host, sizeof(host), &v6, &port,
	    err, sizeof(err)), -1);
	T_EQ_INT(config_addr_parse(":5000", host, sizeof(host), &v6, &port,
	    err, sizeof(err)), -1);
	T_EQ_INT(config_addr_parse("localhost:5000", host, sizeof(host), &v6, &port,
	    err, sizeof(err)), -1);
	T_CONTAINS(err, "literal");
	T_EQ_INT(config_addr_parse("::1:5000", host, sizeof(host), &v6, &port,
	    err, sizeof(err)), -1);
	T_EQ_INT(config_addr_parse("[::1]5000", host, sizeof(host), &v6, &port,
	    err, sizeof(err)), -1);
	T_EQ_INT(config_addr_parse("127.0.0.01:5000", host, sizeof(host), &v6, &port,
	    err, sizeof(err)), -1);
	T_EQ_INT(config_addr_parse("256.0.0.1:5000", host, sizeof(host), &v6, &port,
	    err, sizeof(err)), -1);
}

UNIT_TEST(registry_names)
{
	char err[128];

	T_EQ_INT(config_hostport_check("docker.io", err, sizeof(err)), 0);
	T_EQ_INT(config_hostport_check("registry.example.com:5000", err, sizeof(err)), 0);
	T_EQ_INT(config_hostport_check("localhost:5000", err, sizeof(err)), 0);
	T_EQ_INT(config_hostport_check("10.1.2.3", err, sizeof(err)), 0);
	T_EQ_INT(config_hostport_check("https://docker.io", err, sizeof(err)), -1);
	T_EQ_INT(config_hostport_check("docker.io/library", err, sizeof(err)), -1);
	T_EQ_INT(config_hostport_check("host:0", err, sizeof(err)), -1);
	T_CONTAINS(err, "port");
	T_EQ_INT(config_hostport_check("host:", err, sizeof(err)), -1);
	T_EQ_INT(config_hostport_check("", err, sizeof(err)), -1);
}

UNIT_TEST(pattern_match_is_notary_wildcard_match)
{
	/* exact */
	T_EQ_INT(config_pattern_match("docker.io/trust", "docker.io/trust") == SIZE_MAX, 1);
	T_EQ_INT(config_pattern_match("docker.io/trust", "docker.io/trust2"), 0);
	/* plain string prefix before the final '*' */
	T_EQ_INT(config_pattern_match("docker.io/*", "docker.io/trust"), 1 + strlen("docker.io/"));
	T_ASSERT(config_pattern_match("docker.com/n*", "docker.com/notary") > 0);
	T_EQ_INT(config_pattern_match("docker.com/*", "docker.io/trust"), 0);
	/* "*" matches everything, with the lowest wildcard score */
	T_EQ_INT(config_pattern_match("*", "anything/at/all"), 1);
	/* no mid-string globbing */
	T_EQ_INT(config_pattern_match("docker.io/*/alpine", "docker.io/library/alpine"), 0);
	/* a longer prefix is a more specific (larger) match; exact beats all */
	T_ASSERT(config_pattern_match("docker.io/endophage/b*", "docker.io/endophage/bar") >
	    config_pattern_match("docker.io/endophage/*", "docker.io/endophage/bar"));
	T_ASSERT(config_pattern_match("docker.io/endophage/bar", "docker.io/endophage/bar") >
	    config_pattern_match("docker.io/endophage/b*", "docker.io/endophage/bar"));
}

UNIT_TEST(ids_are_64_lower_hex)
{
	T_ASSERT(config_id_valid("c15164663f80d58bf3d8d5a0cd08b8086cba02065feb00421fc2a5436c563210"));
	T_ASSERT(!config_id_valid("C15164663f80d58bf3d8d5a0cd08b8086cba02065feb00421fc2a5436c563210"));
	T_ASSERT(!config_id_valid("c15164663f80d58bf3d8d5a0cd08b8086cba02065feb00421fc2a5436c56321"));
	T_ASSERT(!config_id_valid("c15164663f80d58bf3d8d5a0cd08b8086cba02065feb00421fc2a5436c5632100"));
	T_ASSERT(!config_id_valid("g15164663f80d58bf3d8d5a0cd08b8086cba02065feb00421fc2a5436c563210"));
	T_ASSERT(!config_id_valid(""));
}

UNIT_TEST(official_list_is_appendix_a)
{
	size_t i;

	T_EQ_INT(config_official_nroot_keys, 19);
	for (i = 0; i < config_official_nroot_keys; i++) {
		T_ASSERT(config_id_valid(config_official_root_keys[i]));
		if (i > 0)
			T_ASSERT(strcmp(config_official_root_keys[i - 1],
			    config_official_root_keys[i]) < 0);
	}
	T_EQ_STR(config_official_root_keys[0],
	    "00981ccd5e43972e8885e6363a0318d9a02cab371311cd23ffd459c4731b9530");
	/* the DOI key verified against the real alpine root.json (dct-semantics 1.3) */
	T_EQ_STR(config_official_root_keys[15],
	    "c15164663f80d58bf3d8d5a0cd08b8086cba02065feb00421fc2a5436c563210");
	T_EQ_STR(config_official_root_keys[18],
	    "ee3aafa9fec9d3e458dcf56e025e5ebdc99183bd82cbe812d0d55853adc85ff1");
}

UNIT_TEST(gun_and_pattern_syntax)
{
	T_ASSERT(config_gun_valid("docker.io/library/alpine"));
	T_ASSERT(config_gun_valid("registry.example.com:5000/team/app"));
	T_ASSERT(!config_gun_valid(""));
	T_ASSERT(!config_gun_valid("/docker.io/x"));
	T_ASSERT(!config_gun_valid("docker.io/x/"));
	T_ASSERT(!config_gun_valid("docker.io//x"));
	T_ASSERT(!config_gun_valid("docker.io/x y"));
	T_ASSERT(!config_gun_valid("docker.io/*"));

	T_ASSERT(config_pattern_valid("*"));
	T_ASSERT(config_pattern_valid("docker.io/*"));
	T_ASSERT(config_pattern_valid("docker.io/lib*"));
	T_ASSERT(config_pattern_valid("docker.io/library/alpine"));
	T_ASSERT(!config_pattern_valid(""));
	T_ASSERT(!config_pattern_valid("docker.io/*/alpine"));
	T_ASSERT(!config_pattern_valid("docker.io/**"));
	T_ASSERT(!config_pattern_valid("/x*"));
	T_ASSERT(!config_pattern_valid("docker.io/x/"));
}

UNIT_TEST(repository_paths)
{
	T_ASSERT(config_repo_valid("library/alpine"));
	T_ASSERT(config_repo_valid("alpine"));
	T_ASSERT(config_repo_valid("my-org/team_a/app.v2"));
	T_ASSERT(config_repo_valid("a/b__c/d---e"));
	T_ASSERT(!config_repo_valid(""));
	T_ASSERT(!config_repo_valid("Library/alpine"));
	T_ASSERT(!config_repo_valid("/alpine"));
	T_ASSERT(!config_repo_valid("alpine/"));
	T_ASSERT(!config_repo_valid("a//b"));
	T_ASSERT(!config_repo_valid("a/../b"));
	T_ASSERT(!config_repo_valid("a/-b"));
	T_ASSERT(!config_repo_valid("a/b_"));
	T_ASSERT(!config_repo_valid("a/b___c"));
	T_ASSERT(!config_repo_valid("a/b._c"));
	T_ASSERT(!config_repo_valid("a:b"));
}

UNIT_TEST(role_names_as_notary_isdelegation)
{
	T_ASSERT(config_role_valid("targets"));
	T_ASSERT(config_role_valid("targets/releases"));
	T_ASSERT(config_role_valid("targets/security"));
	T_ASSERT(config_role_valid("targets/a/b-c_d"));
	T_ASSERT(!config_role_valid("targets/"));
	T_ASSERT(!config_role_valid("targets/Releases"));
	T_ASSERT(!config_role_valid("targets//x"));
	T_ASSERT(!config_role_valid("targets/x/"));
	T_ASSERT(!config_role_valid("targets/x.y"));
	T_ASSERT(!config_role_valid("root"));
	T_ASSERT(!config_role_valid("snapshot"));
	T_ASSERT(!config_role_valid("releases"));
}
