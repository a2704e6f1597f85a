/* Fuzz driver for builds without libFuzzer: runs every file of the corpus
 * directories through the harness, then deterministic mutations of each
 * (bit flips, truncations, byte insertions), so the smoke run in ctest
 * exercises the decoder under ASan/UBSan with any compiler. */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUTATIONS_PER_SEED 2000
#define REPLAY_INPUT_MAX (1u << 20)

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* splitmix64: deterministic so failures reproduce */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void mutate_and_run(const uint8_t *seed, size_t n)
{
	uint8_t *buf = malloc(n + 16);

	for (int m = 0; m < MUTATIONS_PER_SEED; m++) {
		size_t len = n;

		memcpy(buf, seed, n);
		switch (rng() % 4) {
		case 0: /* flip a few bits */
			for (int k = 0, flips = 1 + (int)(rng() % 4); k < flips && len; k++)
				buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
			break;
		case 1: /* truncate */
			len = len ? (size_t)(rng() % len) : 0;
			break;
		case 2: /* set a byte to an edge value */
			if (len)
				buf[rng() % len] = (uint8_t[]){ 0, 1, 0x7f, 0x80, 0xff }[rng() % 5];
			break;
		default: /* insert bytes */
			for (int k = 0, ins = 1 + (int)(rng() % 16); k < ins; k++) {
				size_t at = len ? (size_t)(rng() % (len + 1)) : 0;
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = (uint8_t)rng();
				len++;
			}
			break;
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	free(buf);
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (!f)
		return -1;
	buf = malloc(REPLAY_INPUT_MAX);
	n = fread(buf, 1, REPLAY_INPUT_MAX, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	mutate_and_run(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned files = 0;

	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;

		if (!d) {
			if (run_file(argv[i]) == 0)
				files++;
			continue;
		}
		while ((e = readdir(d))) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (run_file(path) == 0)
				files++;
		}
		closedir(d);
	}
	if (!files) {
		fprintf(stderr, "no corpus files found\n");
		return 1;
	}
	printf("replayed %u seeds with %d mutations each\n", files, MUTATIONS_PER_SEED);
	return 0;
}
