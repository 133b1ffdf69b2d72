/*
 * Runner for the unit tests registered with UNIT_TEST (see unit.h).
 * Usage: unit-<module> [substring]   runs the tests whose name contains it.
 * Fixtures are found under $DCT_FIXTURES, else tests/fixtures relative to
 * the working directory (make runs from the top of the tree).
 */
#define _XOPEN_SOURCE 700	/* nftw */

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit.h"

#define UNIT_MAX_TMPDIRS	256

static struct unit_test	*head, **tail = &head;
static jmp_buf		 unit_jmp;
static int		 unit_result;	/* 0 pass, 1 fail, 2 skip */
static const char	*unit_prog = "unit";
static const char	*unit_cur;

void
unit_register(struct unit_test *t)
{
	*tail = t;
	tail = &t->next;
}

void
unit_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s/%s: %s:%d: ", unit_prog, unit_cur, file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	unit_result = 1;
	longjmp(unit_jmp, 1);
}

void
unit_skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIP %s/%s: ", unit_prog, unit_cur);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	unit_result = 2;
	longjmp(unit_jmp, 1);
}

const char *
unit_fixture(const char *rel)
{
	static char	 buf[4096];
	const char	*dir = getenv("DCT_FIXTURES");

	snprintf(buf, sizeof(buf), "%s/%s", dir ? dir : "tests/fixtures", rel);
	return buf;
}

unsigned char *
unit_read(const char *path, size_t *lenp)
{
	FILE		*f;
	unsigned char	*buf = NULL;
	long		 n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			*lenp = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

static char	unit_tmpdirs[UNIT_MAX_TMPDIRS][64];
static int	unit_ntmpdirs;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) == -1)
		fprintf(stderr, "unit: cannot remove %s\n", path);
	return 0;
}

static void
rm_tmpdirs(void)
{
	int i;

	for (i = 0; i < unit_ntmpdirs; i++)
		nftw(unit_tmpdirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
unit_tmpdir(void)
{
	char *d;

	if (unit_ntmpdirs == UNIT_MAX_TMPDIRS)
		unit_fail(__FILE__, __LINE__, "more than %d temporary directories",
		    UNIT_MAX_TMPDIRS);
	d = unit_tmpdirs[unit_ntmpdirs];
	snprintf(d, sizeof(unit_tmpdirs[0]), "/tmp/dctproxy-unit.XXXXXX");
	if (mkdtemp(d) == NULL)
		unit_fail(__FILE__, __LINE__, "mkdtemp: cannot make %s", d);
	if (unit_ntmpdirs++ == 0)
		atexit(rm_tmpdirs);
	return d;
}

int
main(int argc, char *argv[])
{
	/* static: they live across setjmp/longjmp (-Wclobbered) */
	static struct unit_test	*t;
	static int		 np, nf, ns;
	const char		*p;

	if ((p = strrchr(argv[0], '/')) != NULL)
		unit_prog = p + 1;
	else
		unit_prog = argv[0];
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (t = head; t != NULL; t = t->next) {
		if (argc > 1 && strstr(t->name, argv[1]) == NULL)
			continue;
		unit_cur = t->name;
		unit_result = 0;
		if (setjmp(unit_jmp) == 0)
			t->fn();
		switch (unit_result) {
		case 0:
			printf("PASS %s/%s\n", unit_prog, t->name);
			np++;
			break;
		case 1:
			nf++;
			break;
		default:
			ns++;
			break;
		}
	}
	printf("%d passed, %d failed, %d skipped\n", np, nf, ns);
	return nf == 0 ? 0 : 1;
}
