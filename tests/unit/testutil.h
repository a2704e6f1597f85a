/* Minimal test runner: each test executable lists its tests by path and
 * runs them all (or those whose path starts with argv[1]). A failed check
 * prints file:line and the expression and ends the process with status 1,
 * so ctest reports the executable as failed. */
#ifndef MU_TESTUTIL_H
#define MU_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

struct test {
	const char *path;
	void (*fn)(void);
};

#define CHECK(expr)                                                                   \
	do {                                                                           \
		if (!(expr)) {                                                         \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
			exit(1);                                                       \
		}                                                                      \
	} while (0)

/* Expects a call to return exactly want (0, -errno or MU_E_*). */
#define CHECK_RET(call, want)                                                         \
	do {                                                                           \
		int got_ = (call);                                                     \
		if (got_ != (want)) {                                                  \
			fprintf(stderr, "%s:%d: %s returned %d (%s), wanted %d (%s)\n", __FILE__, \
				__LINE__, #call, got_, mu_strerror(got_), (int)(want),  \
				mu_strerror(want));                                    \
			exit(1);                                                       \
		}                                                                      \
	} while (0)

#define CHECK_OK(call) CHECK_RET(call, 0)

/* For calls returning a length or an error. */
#define CHECK_LEN(call)                                                               \
	({                                                                             \
		int got_ = (call);                                                     \
		if (got_ < 0) {                                                        \
			fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
				mu_strerror(got_));                                    \
			exit(1);                                                       \
		}                                                                      \
		got_;                                                                  \
	})

/* A fresh empty directory under MU_TEST_TMP (or /tmp) for one test. Caller
 * frees the returned string. */
char *test_tmpdir(const char *tag);

int test_run(const struct test *tests, size_t n, int argc, char **argv);

#define TEST_MAIN(table)                                                              \
	int main(int argc, char **argv)                                                \
	{                                                                              \
		return test_run(table, sizeof(table) / sizeof(table[0]), argc, argv);  \
	}

#endif
