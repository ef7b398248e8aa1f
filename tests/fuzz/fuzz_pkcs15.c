/* fuzz_pkcs15.c - fuzz target for the PKCS#15 codec (src/card/pkcs15.c):
 * the first byte picks the structure (EF.DIR, ODF, TokenInfo, AODF,
 * PrKDF/PuKDF, CDF), the rest is the file. What parses is encoded again,
 * parsed again and encoded again: the two encodings must be equal (the
 * codec keeps what it does not interpret, so nothing is lost or invented
 * on the way), and nothing may be read or written out of bounds.
 *
 * Built with libFuzzer (`make fuzz`, clang) or with the replay/mutation
 * driver in driver.c (`make fuzz-smoke`, part of `make check`). Seeds:
 * tests/fuzz/corpus/pkcs15/ (the files of a vp15 card personalized by
 * vp15 and updated by raterm: Redo, Add, CA certificates). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raterm/pkcs15.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { CAP = 8192 };

/* Encodes what kind k parsed into out; false when it does not encode. */
static bool
encode(uint8_t k, const void *obj, uint8_t *out, size_t *len)
{
	rt_err *e;
	switch (k) {
	case 0: e = p15_dir_encode(obj, out, CAP, len); break;
	case 1: e = p15_odf_encode(obj, out, CAP, len); break;
	case 2: e = p15_tokeninfo_encode(obj, out, CAP, len); break;
	default: e = p15_df_encode(obj, out, CAP, len); break;
	}
	bool ok = e == NULL;
	rt_err_free(e);
	return ok;
}

static bool
parse(uint8_t k, const uint8_t *in, size_t len, void *obj)
{
	static const p15_df_kind kinds[3] = { P15_DF_AODF, P15_DF_KEYS,
	    P15_DF_CERTS };
	rt_err *e;
	switch (k) {
	case 0: e = p15_dir_parse(in, len, obj); break;
	case 1: e = p15_odf_parse(in, len, obj); break;
	case 2: e = p15_tokeninfo_parse(in, len, obj); break;
	default: e = p15_df_parse(kinds[k - 3], in, len, obj, NULL); break;
	}
	bool ok = e == NULL;
	rt_err_free(e);
	return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t k = data[0] % 6;
	void *a = calloc(1, sizeof(p15_df) + sizeof(p15_dir) + sizeof(p15_tokeninfo));
	void *b = calloc(1, sizeof(p15_df) + sizeof(p15_dir) + sizeof(p15_tokeninfo));
	uint8_t *e1 = malloc(CAP), *e2 = malloc(CAP);
	if (a == NULL || b == NULL || e1 == NULL || e2 == NULL)
		abort();
	size_t l1, l2;
	if (parse(k, data + 1, size - 1, a) && encode(k, a, e1, &l1)) {
		/* what it encodes parses, and encodes the same again */
		if (!parse(k, e1, l1, b) || !encode(k, b, e2, &l2) || l1 != l2 ||
		    memcmp(e1, e2, l1) != 0)
			abort();
	}
	free(a);
	free(b);
	free(e1);
	free(e2);
	return 0;
}
