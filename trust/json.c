/*
 * Strict JSON parsing and canonical JSON.
 *
 * tjson_parse() is the only way metadata bytes become a json_t: a length
 * cap first, then jansson with duplicate keys rejected, then a walk that
 * bounds nesting. It refuses rather than repairs (Notary's Go decoder
 * would let the last duplicate win and replace invalid UTF-8 with U+FFFD;
 * we refuse both).
 *
 * tjson_canonical() reproduces docker/go's MarshalCanonical, the form
 * Notary signs (dct-semantics.md 5.2): no whitespace, keys sorted
 * bytewise, strings with only '"' and '\\' escaped, numbers as int64.
 *
 * Deliberate difference: Go decodes numbers into float64 before
 * re-encoding, so integers beyond 2^53 come out rounded there; jansson
 * keeps integers exact and we print them exactly. A signature is then
 * checked over the value that is actually in the file.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trust/trust_int.h"

/* ---- parsing ------------------------------------------------------- */

/*
 * Nesting depth of v, where a scalar is 0 and a container is one more
 * than its deepest member. Stops descending past limit (returns limit+1),
 * so recursion is bounded by TJSON_MAX_DEPTH whatever jansson accepted.
 */
static int
depth_exceeds(const json_t *v, int depth)
{
	const char	*k;
	json_t		*m;
	size_t		 i;

	if (!json_is_object(v) && !json_is_array(v))
		return 0;
	if (depth > TJSON_MAX_DEPTH)
		return 1;
	if (json_is_object(v)) {
		/* json_object_foreach wants a non-const object; it does not modify it. */
		json_object_foreach((json_t *)(uintptr_t)v, k, m)
			if (depth_exceeds(m, depth + 1))
				return 1;
	} else {
		json_array_foreach(v, i, m)
			if (depth_exceeds(m, depth + 1))
				return 1;
	}
	return 0;
}

int
tjson_parse(const uint8_t *buf, size_t len, size_t max_len, json_t **out,
    struct trust_error *err)
{
	json_error_t	 jerr;
	json_t		*v;

	*out = NULL;
	if (len > max_len)
		return trust_seterr(err, TRUST_E_PARSE,
		    "metadata is %zu bytes, over the limit of %zu", len, max_len);
	if (buf == NULL || len == 0)
		return trust_seterr(err, TRUST_E_PARSE, "metadata is empty");
	/*
	 * Without JSON_DECODE_ANY jansson wants an object or array at the
	 * top; without JSON_DISABLE_EOF_CHECK it rejects anything but
	 * whitespace after it; without JSON_ALLOW_NUL it rejects \u0000;
	 * it always rejects invalid UTF-8 and raw control characters in
	 * strings.
	 */
	v = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL)
		return trust_seterr(err, TRUST_E_PARSE,
		    "malformed JSON at line %d column %d: %s", jerr.line,
		    jerr.column, jerr.text);
	if (!json_is_object(v)) {
		json_decref(v);
		return trust_seterr(err, TRUST_E_PARSE,
		    "malformed JSON: top-level value is not an object");
	}
	if (depth_exceeds(v, 1)) {
		json_decref(v);
		return trust_seterr(err, TRUST_E_PARSE,
		    "malformed JSON: nesting deeper than %d", TJSON_MAX_DEPTH);
	}
	*out = v;
	return 0;
}

/* ---- canonical output ---------------------------------------------- */

/* A growable output buffer. */
struct cbuf {
	uint8_t	*p;
	size_t	 len;
	size_t	 cap;
};

static int
cb_put(struct cbuf *b, const void *src, size_t n)
{
	uint8_t	*np;
	size_t	 ncap;

	if (n > SIZE_MAX / 2 - b->len)
		return -1;
	if (b->len + n > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL)
			return -1;
		b->p = np;
		b->cap = ncap;
	}
	if (n > 0)
		memcpy(b->p + b->len, src, n);
	b->len += n;
	return 0;
}

static int
cb_putc(struct cbuf *b, char c)
{
	return cb_put(b, &c, 1);
}

/* A string with only '"' and '\\' escaped; every other byte verbatim. */
static int
put_string(struct cbuf *b, const char *s, size_t n)
{
	size_t	i, start = 0;

	if (cb_putc(b, '"') == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		if (cb_put(b, s + start, i - start) == -1 ||
		    cb_putc(b, '\\') == -1)
			return -1;
		start = i;	/* the quote or backslash itself follows */
	}
	if (cb_put(b, s + start, n - start) == -1)
		return -1;
	return cb_putc(b, '"');
}

static int
put_int(struct cbuf *b, long long v)
{
	char	tmp[32];
	int	n;

	n = snprintf(tmp, sizeof(tmp), "%lld", v);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	return cb_put(b, tmp, (size_t)n);
}

struct okey {
	const char	*k;
	size_t		 klen;
	json_t		*v;
};

/* Go's string order: bytewise, a proper prefix first. */
static int
okey_cmp(const void *a, const void *b)
{
	const struct okey	*x = a, *y = b;
	size_t			 n = x->klen < y->klen ? x->klen : y->klen;
	int			 c;

	if ((c = memcmp(x->k, y->k, n)) != 0)
		return c;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

static int	put_value(struct cbuf *, const json_t *, int);

static int
put_object(struct cbuf *b, const json_t *v, int depth)
{
	struct okey	*keys;
	void		*it;
	size_t		 n, i = 0;
	int		 rc = -1;

	n = json_object_size(v);
	if (n == 0)
		return cb_put(b, "{}", 2);
	if ((keys = calloc(n, sizeof(*keys))) == NULL)
		return -1;
	/* The iterator API wants a non-const object; it does not modify it. */
	for (it = json_object_iter((json_t *)(uintptr_t)v); it != NULL && i < n;
	    it = json_object_iter_next((json_t *)(uintptr_t)v, it), i++) {
		keys[i].k = json_object_iter_key(it);
		keys[i].klen = json_object_iter_key_len(it);
		keys[i].v = json_object_iter_value(it);
	}
	if (i != n)
		goto out;
	qsort(keys, n, sizeof(*keys), okey_cmp);
	if (cb_putc(b, '{') == -1)
		goto out;
	for (i = 0; i < n; i++) {
		if ((i > 0 && cb_putc(b, ',') == -1) ||
		    put_string(b, keys[i].k, keys[i].klen) == -1 ||
		    cb_putc(b, ':') == -1 ||
		    put_value(b, keys[i].v, depth + 1) == -1)
			goto out;
	}
	rc = cb_putc(b, '}');
out:
	free(keys);
	return rc;
}

static int
put_value(struct cbuf *b, const json_t *v, int depth)
{
	size_t	i;
	double	d;

	/* Values built in memory never went through tjson_parse's check. */
	if (depth > TJSON_MAX_DEPTH)
		return -1;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return put_object(b, v, depth);
	case JSON_ARRAY:
		if (cb_putc(b, '[') == -1)
			return -1;
		for (i = 0; i < json_array_size(v); i++)
			if ((i > 0 && cb_putc(b, ',') == -1) ||
			    put_value(b, json_array_get(v, i), depth + 1) == -1)
				return -1;
		return cb_putc(b, ']');
	case JSON_STRING:
		return put_string(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return put_int(b, (long long)json_integer_value(v));
	case JSON_REAL:
		/*
		 * Go: integral (math.Floor(f) == f) or an error, then
		 * int64(f). Outside the int64 range Go's conversion is
		 * undefined, so refuse that too.
		 */
		d = json_real_value(v);
		if (!isfinite(d) || floor(d) != d ||
		    d < -9223372036854775808.0 || d >= 9223372036854775808.0)
			return -1;
		return put_int(b, (long long)d);
	case JSON_TRUE:
		return cb_put(b, "true", 4);
	case JSON_FALSE:
		return cb_put(b, "false", 5);
	case JSON_NULL:
		return cb_put(b, "null", 4);
	}
	return -1;
}

int
tjson_canonical(const json_t *v, uint8_t **out, size_t *outlen)
{
	struct cbuf	b = { NULL, 0, 0 };

	*out = NULL;
	*outlen = 0;
	if (v == NULL || put_value(&b, v, 1) == -1) {
		free(b.p);
		return -1;
	}
	if (b.p == NULL && (b.p = malloc(1)) == NULL)
		return -1;
	*out = b.p;
	*outlen = b.len;
	return 0;
}
