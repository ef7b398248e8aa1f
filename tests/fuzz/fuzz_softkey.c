/* fuzz_softkey.c - fuzz target for software-token key files
 * (src/crypto/softtoken.c): the input is a key file (PEM or DER: PKCS#8
 * plain or encrypted, PKCS#12, SEC1, PKCS#1, with certificates), parsed
 * without a passphrase and with one. Whatever the bytes, the parser must
 * end with a key or an error (never a crash, a leak or an unbounded
 * key derivation).
 *
 * Built with libFuzzer (`make fuzz`, clang) or with the replay/mutation
 * driver in driver.c (`make fuzz-smoke`, part of `make check`). */
#include <stdint.h>
#include <stdlib.h>

#include "raterm/softtoken.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
parse(const uint8_t *data, size_t size, const char *pass, size_t plen)
{
	mbedtls_pk_context key;
	mbedtls_x509_crt chain;
	mbedtls_x509_crt_init(&chain);
	rt_err *e = rt_softkey_parse(data, size, pass, plen, &key, &chain);
	if (e == NULL)
		mbedtls_pk_free(&key);
	rt_err_free(e);
	mbedtls_x509_crt_free(&chain);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse(data, size, NULL, 0);
	parse(data, size, "fuzz-pass", 9);
	return 0;
}
