/*
 * audit: one JSON object per line for every verdict the proxy makes (one
 * per manifest request, one per blob transfer, written when the transfer
 * ends). The file is opened for append and reopened on SIGUSR1 so that
 * logrotate can move it away; "-" writes to stdout.
 *
 * Writes are plain blocking stdio writes flushed per line: a line is
 * small, and an audit trail that lags behind the verdicts is worse than a
 * short stall of the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "proxy/server_int.h"

struct audit {
	char	*path;
	FILE	*f;
	int	 is_stdout;
};

static FILE *
open_append(const char *path, char *err, size_t errlen)
{
	FILE	*f;
	int	 fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1 || (f = fdopen(fd, "a")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	return f;
}

struct audit *
audit_open(const char *path, char *err, size_t errlen)
{
	struct audit *a;

	if ((a = calloc(1, sizeof(*a))) == NULL || (a->path = strdup(path)) == NULL) {
		free(a);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (strcmp(path, "-") == 0) {
		a->f = stdout;
		a->is_stdout = 1;
		return a;
	}
	if ((a->f = open_append(path, err, errlen)) == NULL) {
		free(a->path);
		free(a);
		return NULL;
	}
	return a;
}

int
audit_reopen(struct audit *a)
{
	FILE *f;
	char  err[256];

	if (a->is_stdout)
		return 0;
	if ((f = open_append(a->path, err, sizeof(err))) == NULL) {
		proxy_log("audit: reopen failed, keeping the old file: %s", err);
		return -1;
	}
	fclose(a->f);
	a->f = f;
	return 0;
}

const char *
audit_path(const struct audit *a)
{
	return a->path;
}

int
audit_fd(const struct audit *a)
{
	return a->is_stdout ? -1 : fileno(a->f);
}

void
audit_free(struct audit *a)
{
	if (a == NULL)
		return;
	if (!a->is_stdout && a->f != NULL)
		fclose(a->f);
	else if (a->f != NULL)
		fflush(a->f);
	free(a->path);
	free(a);
}

/* Values may carry bytes from peers: keep printable ASCII, mark the rest. */
static void
set_str(json_t *o, const char *k, const char *v)
{
	char	buf[2048];
	size_t	i;

	if (v == NULL || v[0] == '\0')
		return;
	for (i = 0; i < sizeof(buf) - 1 && v[i] != '\0'; i++)
		buf[i] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
	json_object_set_new(o, k, json_stringn(buf, i));
}

char *
audit_line(const struct audit_rec *r)
{
	struct tm	 tm;
	char		 t[64], ms[16], *line;
	json_t		*o;

	gmtime_r(&r->at.tv_sec, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ms, sizeof(ms), ".%03dZ", (int)(r->at.tv_nsec / 1000000) % 1000);
	strncat(t, ms, sizeof(t) - strlen(t) - 1);
	if ((o = json_object()) == NULL)
		return NULL;
	set_str(o, "time", t);
	set_str(o, "kind", r->kind);
	set_str(o, "client", r->client);
	set_str(o, "method", r->method);
	set_str(o, "path", r->path);
	set_str(o, "repository", r->repo);
	set_str(o, "reference", r->ref);
	set_str(o, "gun", r->gun);
	set_str(o, "decision", r->decision);
	set_str(o, "reason", r->reason);
	set_str(o, "message", r->message);
	set_str(o, "digest", r->digest);
	set_str(o, "role", r->role);
	set_str(o, "trust_note", r->trust_note);
	if (r->upstream_status != 0)
		json_object_set_new(o, "upstream_status", json_integer(r->upstream_status));
	json_object_set_new(o, "bytes", json_integer((json_int_t)r->bytes));
	json_object_set_new(o, "duration_ms", json_integer(r->duration_ms));
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return line;
}

void
audit_write(struct audit *a, const char *line)
{
	if (a == NULL || a->f == NULL)
		return;
	fprintf(a->f, "%s\n", line);
	fflush(a->f);
}
