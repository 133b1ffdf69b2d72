/*
 * Encoding helpers: standard base64 (RFC 4648 section 4, with padding) and
 * hex, as Notary's metadata uses them ("sig", "keyval.public" and the
 * hashes in "meta" are Go []byte, i.e. standard base64).
 *
 * Decoding is strict: no whitespace, no line breaks, length a multiple of
 * four, '=' only as one or two final characters, and the unused bits of
 * the last group zero, so that every accepted string is the one Go's
 * encoder would write for the decoded bytes. (Go's decoder is laxer: it
 * skips '\r' and '\n' and ignores non-zero trailing bits. Notary never
 * writes either form, so refusing them costs nothing.)
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "trust/trust_int.h"

/* Value of a base64 alphabet character, or -1. */
static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decode inlen characters of in (no NUL needed). Returns 0 and a malloc'd
 * buffer (at least one byte, so an empty result is still freeable) in
 * *out and *outlen, or -1 on malformed input or out of memory.
 */
int
tb64_decode(const char *in, size_t inlen, uint8_t **out, size_t *outlen)
{
	const unsigned char	*s = (const unsigned char *)in;
	uint8_t			*buf;
	size_t			 i, pad = 0;
	int			 n;

	*out = NULL;
	*outlen = 0;
	if (inlen % 4 != 0 || inlen > (size_t)INT_MAX)
		return -1;
	if (inlen > 0 && s[inlen - 1] == '=') {
		pad = 1;
		if (s[inlen - 2] == '=')
			pad = 2;
	}
	for (i = 0; i < inlen - pad; i++)
		if (b64val(s[i]) < 0)
			return -1;
	/* Unused low bits of the last group must be zero (canonical form). */
	if (pad == 2 && (b64val(s[inlen - 3]) & 0x0f) != 0)
		return -1;
	if (pad == 1 && (b64val(s[inlen - 2]) & 0x03) != 0)
		return -1;

	if ((buf = malloc(inlen / 4 * 3 + 1)) == NULL)
		return -1;
	if (inlen == 0) {
		*out = buf;
		return 0;
	}
	/*
	 * EVP_DecodeBlock decodes whole groups and counts the bytes the
	 * padding stands for as output; subtract them.
	 */
	n = EVP_DecodeBlock(buf, s, (int)inlen);
	if (n < 0 || (size_t)n != inlen / 4 * 3) {
		free(buf);
		return -1;
	}
	*out = buf;
	*outlen = (size_t)n - pad;
	return 0;
}

/* Encode inlen bytes; *out is a malloc'd NUL-terminated string. Returns 0 or -1. */
int
tb64_encode(const uint8_t *in, size_t inlen, char **out)
{
	size_t	 olen;
	char	*buf;

	*out = NULL;
	if (inlen > (size_t)INT_MAX / 4 * 3 - 3)
		return -1;
	olen = (inlen + 2) / 3 * 4;
	if ((buf = malloc(olen + 1)) == NULL)
		return -1;
	if (EVP_EncodeBlock((unsigned char *)buf, in, (int)inlen) != (int)olen) {
		free(buf);
		return -1;
	}
	buf[olen] = '\0';
	*out = buf;
	return 0;
}

/* Lower-case hex of inlen bytes into out (2*inlen+1 bytes, NUL-terminated). */
void
thex(const uint8_t *in, size_t inlen, char *out)
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < inlen; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * inlen] = '\0';
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode the NUL-terminated string in, which must be exactly 2*outlen hex
 * digits (either case), into out. Returns 0 or -1 (out is then unspecified).
 */
int
thex_decode(const char *in, uint8_t *out, size_t outlen)
{
	size_t	i;
	int	hi, lo;

	for (i = 0; i < outlen; i++) {
		if ((hi = hexval((unsigned char)in[2 * i])) < 0)
			return -1;
		if ((lo = hexval((unsigned char)in[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return in[2 * outlen] == '\0' ? 0 : -1;
}
