#include "testutil.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

char *test_tmpdir(const char *tag)
{
	const char *base = getenv("MU_TEST_TMP");
	char *dir = NULL;

	if (!base || !*base)
		base = "/tmp";
	mkdir(base, 0700);
	if (asprintf(&dir, "%s/%s-%d-XXXXXX", base, tag, (int)getpid()) < 0 || !mkdtemp(dir)) {
		perror("test_tmpdir");
		exit(1);
	}
	return dir;
}

int test_run(const struct test *tests, size_t n, int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	size_t ran = 0;

	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (only && strncmp(tests[i].path, only, strlen(only)))
			continue;
		tests[i].fn();
		printf("ok %s\n", tests[i].path);
		ran++;
	}
	if (!ran) {
		fprintf(stderr, "no test matched\n");
		return 1;
	}
	printf("%zu passed, 0 failed\n", ran);
	return 0;
}
