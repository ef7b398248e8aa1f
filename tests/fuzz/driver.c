/* driver.c - runs a libFuzzer-style target without libFuzzer (gcc, ASan):
 *
 *   fuzz-driver [-n ITERATIONS] [-s SEED] FILE...
 *
 * Feeds every FILE (the seed corpus), then ITERATIONS random mutations of
 * them (bit flips, byte changes, truncation, splicing, inserted lengths),
 * deterministic for a given seed. Prints "fuzz: N inputs, 0 crashes";
 * a crash is reported by the sanitizer and ends the run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXIN 70000

static uint64_t rng;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

int
main(int argc, char **argv)
{
	long iters = 10000;
	int i = 1;
	rng = 0x9E3779B97F4A7C15ull;
	for (; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			break;
		if (strcmp(argv[i], "-n") == 0)
			iters = atol(argv[i + 1]);
		else if (strcmp(argv[i], "-s") == 0)
			rng = strtoull(argv[i + 1], NULL, 0) | 1;
	}
	int nseeds = argc - i;
	if (nseeds <= 0) {
		fprintf(stderr, "usage: fuzz-driver [-n N] [-s SEED] FILE...\n");
		return 2;
	}
	uint8_t **seed = calloc((size_t)nseeds, sizeof(*seed));
	size_t *slen = calloc((size_t)nseeds, sizeof(*slen));
	uint8_t *buf = malloc(MAXIN);
	if (seed == NULL || slen == NULL || buf == NULL)
		return 1;
	for (int k = 0; k < nseeds; k++) {
		FILE *f = fopen(argv[i + k], "rb");
		if (f == NULL) {
			fprintf(stderr, "fuzz-driver: cannot read %s\n", argv[i + k]);
			return 1;
		}
		seed[k] = malloc(MAXIN);
		slen[k] = fread(seed[k], 1, MAXIN / 2, f);
		fclose(f);
		LLVMFuzzerTestOneInput(seed[k], slen[k]);
	}
	for (long n = 0; n < iters; n++) {
		int k = (int)(rnd() % (uint32_t)nseeds);
		size_t len = slen[k];
		memcpy(buf, seed[k], len);
		int muts = 1 + (int)(rnd() % 8);
		for (int m = 0; m < muts; m++) {
			switch (rnd() % 6) {
			case 0:
				if (len)
					buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
				break;
			case 1:
				if (len)
					buf[rnd() % len] = (uint8_t)rnd();
				break;
			case 2:
				if (len)
					len = rnd() % len;
				break;
			case 3: {	/* splice another seed's tail */
				int o = (int)(rnd() % (uint32_t)nseeds);
				size_t from = slen[o] ? rnd() % slen[o] : 0;
				size_t at = len ? rnd() % len : 0;
				size_t cnt = slen[o] - from;
				if (at + cnt > MAXIN)
					cnt = MAXIN - at;
				memcpy(buf + at, seed[o] + from, cnt);
				len = at + cnt;
				break;
			}
			case 4:	/* an interesting length byte */
				if (len) {
					static const uint8_t v[] = { 0x00, 0x7F, 0x80,
					    0x81, 0x82, 0x83, 0x84, 0xFF };
					buf[rnd() % len] = v[rnd() % sizeof(v)];
				}
				break;
			default:	/* duplicate a chunk */
				if (len && len < MAXIN / 2) {
					size_t a = rnd() % len, c = rnd() % (len - a + 1);
					memmove(buf + a + c, buf + a, len - a);
					len += c;
				}
				break;
			}
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("fuzz: %ld inputs, 0 crashes\n", iters + nseeds);
	for (int k = 0; k < nseeds; k++)
		free(seed[k]);
	free(seed);
	free(slen);
	free(buf);
	return 0;
}
