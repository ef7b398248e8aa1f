/* fuzz_cmhost_config.c - fuzz target for cmhost's configuration and
 * policy (src/cmhost/config.c, policy.c): the input up to its first NUL
 * byte is a cmhost.yaml; what follows, the DER Extensions of a request
 * (subject CN=Fuzz User,O=raterm, a P-256 key). Each profile the
 * configuration defines checks that request. Whatever the bytes, the
 * parser ends with a configuration or an error naming the line, and the
 * policy with an accepted request or a refusal.
 *
 * Built with libFuzzer (`make fuzz`, clang) or with the replay/mutation
 * driver in driver.c (`make fuzz-smoke`, part of `make check`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>

#include "raterm/cmhost.h"
#include "raterm/csr.h"
#include "raterm/signer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t spki[200], subject[200];
static size_t spki_len, subject_len;

static void
request_init(void)
{
	mbedtls_pk_context key;
	mbedtls_pk_init(&key);
	if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))
	    || mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
	    rt_rng, NULL))
		abort();
	int n = mbedtls_pk_write_pubkey_der(&key, spki, sizeof(spki));
	if (n <= 0)
		abort();
	memmove(spki, spki + sizeof(spki) - (size_t)n, (size_t)n);
	spki_len = (size_t)n;
	mbedtls_pk_free(&key);
	rt_err *e = rt_dn_encode("CN=Fuzz User,O=raterm", subject,
	    sizeof(subject), &subject_len);
	if (e != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (spki_len == 0)
		request_init();
	const uint8_t *nul = memchr(data, '\0', size);
	size_t tlen = nul != NULL ? (size_t)(nul - data) : size;
	cmh_config *c = NULL;
	rt_err *e = cmh_config_parse("/nonexistent/cmhost.yaml",
	    (const char *)data, tlen, &c);
	if (e != NULL) {
		rt_err_free(e);
		return 0;
	}
	cmh_request r = {
		.subject = subject, .subject_len = subject_len,
		.spki = spki, .spki_len = spki_len,
	};
	if (nul != NULL && size - tlen > 1) {
		r.exts = nul + 1;
		r.exts_len = size - tlen - 1;
	}
	char url[300];
	cmh_config_url(c, url, sizeof(url));
	for (size_t i = 0; i < c->nprofiles; i++) {
		cmh_checked chk;
		cmh_refusal ref;
		if (cmh_profile_find(c, c->profiles[i].name) == NULL)
			abort();
		if ((e = cmh_policy_check(&c->profiles[i], &r, &chk, &ref)) == NULL)
			cmh_checked_free(&chk);
		rt_err_free(e);
	}
	for (size_t i = 0; i < c->nofficers; i++)
		(void)cmh_officer_may_use(&c->officers[i], "user");
	cmh_config_free(c);
	return 0;
}
