/*
 * A small unit-test harness. Each test is a function registered with
 * UNIT_TEST(name); the runner (tests/unit.c) runs them in registration order
 * and prints one line per test:
 *	PASS <binary>/<name>
 *	FAIL <binary>/<name>: <file>:<line>: <what>
 *	SKIP <binary>/<name>: <why>
 * then the summary "N passed, N failed, N skipped". tests/run.sh counts the
 * PASS/FAIL/SKIP lines of every binary and script.
 *
 * A failed assertion ends the test (the rest of its body would act on bad
 * state); cleanup that must run anyway belongs before the assertion.
 */
#ifndef TESTS_UNIT_H
#define TESTS_UNIT_H

#include <setjmp.h>
#include <stddef.h>
#include <string.h>

struct unit_test {
	const char		*name;
	void			(*fn)(void);
	struct unit_test	*next;
};

void	unit_register(struct unit_test *);
void	unit_fail(const char *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4), noreturn));
void	unit_skip(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* Path of a fixture below tests/fixtures (static buffer, valid until next call). */
const char	*unit_fixture(const char *);
/* Read a whole file; returns malloc'd bytes (NUL-terminated, not counted) or NULL. */
unsigned char	*unit_read(const char *, size_t *);
/*
 * A new empty directory /tmp/dctproxy-unit.XXXXXX (the runner's storage),
 * removed with all it holds when the runner exits, whether the test that
 * made it passed or failed (a failure longjmps past the test's own
 * cleanup). Fails the test when it cannot be made.
 */
const char	*unit_tmpdir(void);

#define UNIT_TEST(n)							\
	static void unit_fn_##n(void);					\
	static struct unit_test unit_t_##n = { #n, unit_fn_##n, NULL };	\
	__attribute__((constructor)) static void unit_reg_##n(void)	\
	{ unit_register(&unit_t_##n); }					\
	static void unit_fn_##n(void)

#define T_ASSERT(c) do {						\
	if (!(c))							\
		unit_fail(__FILE__, __LINE__, "assertion failed: %s", #c); \
} while (0)

#define T_EQ_INT(a, b) do {						\
	long long unit_a = (long long)(a), unit_b = (long long)(b);	\
	if (unit_a != unit_b)						\
		unit_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", \
		    #a, unit_a, #b, unit_b);				\
} while (0)

#define T_EQ_STR(a, b) do {						\
	const char *unit_a = (a), *unit_b = (b);			\
	if (unit_a == NULL || unit_b == NULL || strcmp(unit_a, unit_b) != 0) \
		unit_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", \
		    #a, unit_a ? unit_a : "(null)", unit_b ? unit_b : "(null)"); \
} while (0)

#define T_CONTAINS(hay, needle) do {					\
	const char *unit_h = (hay), *unit_n = (needle);			\
	if (unit_h == NULL || strstr(unit_h, unit_n) == NULL)		\
		unit_fail(__FILE__, __LINE__, "%s == \"%s\" does not contain \"%s\"", \
		    #hay, unit_h ? unit_h : "(null)", unit_n);		\
} while (0)

#endif
