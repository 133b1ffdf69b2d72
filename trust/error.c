/*
 * Structured trust errors and their rendering in the Docker engine's words
 * (dct-semantics.md 1.7, ee: daemon/trust/verify.go notaryError).
 */
#include <stdarg.h>
#include <stdio.h>

#include "trust/trust.h"

const char *
trust_code_name(enum trust_code code)
{
	switch (code) {
	case TRUST_OK:			return "ok";
	case TRUST_E_NOT_FOUND:		return "no-trust-data";
	case TRUST_E_UNAVAILABLE:	return "trust-server-unavailable";
	case TRUST_E_BAD_RESPONSE:	return "bad-response";
	case TRUST_E_PARSE:		return "malformed-metadata";
	case TRUST_E_VALIDATION:	return "validation";
	case TRUST_E_ROTATION:		return "root-rotation";
	case TRUST_E_THRESHOLD:		return "threshold";
	case TRUST_E_LOW_VERSION:	return "low-version";
	case TRUST_E_EXPIRED:		return "expired";
	case TRUST_E_CHECKSUM:		return "checksum";
	case TRUST_E_NO_TARGET:		return "not-signed";
	case TRUST_E_UNTRUSTED_ROLE:	return "untrusted-role";
	case TRUST_E_NO_DIGEST:		return "no-digest";
	case TRUST_E_ROLE_MISMATCH:	return "role-mismatch";
	case TRUST_E_INTERNAL:		return "internal";
	}
	return "unknown";
}

int
trust_seterr(struct trust_error *err, enum trust_code code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void
trust_error_engine(const struct trust_error *err, const char *name,
    const char *ref, char *buf, size_t len)
{
	const char *m = err->msg;

	if (len == 0)
		return;
	switch (err->code) {
	case TRUST_E_NOT_FOUND:
	case TRUST_E_UNTRUSTED_ROLE:
		snprintf(buf, len, "no trust data available for repository %s.", name);
		break;
	case TRUST_E_PARSE:
		snprintf(buf, len, "no trust data available for repository %s.: %s",
		    name, m);
		break;
	case TRUST_E_UNAVAILABLE:
	case TRUST_E_BAD_RESPONSE:
		snprintf(buf, len, "error contacting trust server: %s", m);
		break;
	case TRUST_E_VALIDATION:
	case TRUST_E_ROTATION:
	case TRUST_E_CHECKSUM:
		snprintf(buf, len, "potential malicious behavior - trust data mismatch "
		    "for repository %s: %s", name, m);
		break;
	case TRUST_E_LOW_VERSION:
		snprintf(buf, len, "potential malicious behavior - trust data version "
		    "is lower than expected for remote repository %s: %s", name, m);
		break;
	case TRUST_E_THRESHOLD:
		snprintf(buf, len, "potential malicious behavior - trust data has "
		    "insufficient signatures for remote repository %s: %s", name, m);
		break;
	case TRUST_E_NO_TARGET:
		snprintf(buf, len, "no trust signature found for %s:%s: "
		    "No valid trust data for %s", name, ref, ref);
		break;
	case TRUST_E_NO_DIGEST:
		snprintf(buf, len, "trust data has no valid digest for %s", ref);
		break;
	case TRUST_E_ROLE_MISMATCH:
		snprintf(buf, len, "signed image for %s:%s does not match across "
		    "required signers: %s", name, ref, m);
		break;
	case TRUST_E_EXPIRED:
	case TRUST_E_INTERNAL:
	case TRUST_OK:
	default:
		snprintf(buf, len, "%s", m);
		break;
	}
}
