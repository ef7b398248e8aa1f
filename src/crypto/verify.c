/* verify.c - the mbedTLS verifier and rt_verify_data; see
 * include/raterm/signer.h */
#include "raterm/signer.h"

#include <mbedtls/pk.h>

static rt_err *
mbedtls_verify(const rt_verifier *v, const uint8_t *spki, size_t spki_len,
    rt_hash h, rt_scheme scheme, const void *data, size_t len,
    const uint8_t *sig, size_t sig_len)
{
	mbedtls_pk_context pk;
	uint8_t dg[64];
	rt_err *e;
	(void)v;
	mbedtls_pk_init(&pk);
	if (mbedtls_pk_parse_public_key(&pk, spki, spki_len) != 0) {
		mbedtls_pk_free(&pk);
		return rt_err_new(RT_E_CERT, NULL, "the public key does not parse");
	}
	rt_keytype kt = rt_pk_keytype(&pk);
	if ((e = rt_pk_check_limits(&pk, "the public key")) != NULL)
		goto out;
	if (scheme != RT_SCHEME_DEFAULT && (kt == RT_KEY_RSA) !=
	    (scheme == RT_SCHEME_PKCS1 || scheme == RT_SCHEME_PSS)) {
		e = rt_err_new(RT_E_ARG, NULL, "algorithm %s does not fit the "
		    "key", rt_scheme_name(scheme));
		goto out;
	}
	if ((e = rt_hash_data(h, data, len, dg)) == NULL)
		e = rt_sig_verify(&pk, h, scheme, dg, rt_hash_len(h), sig,
		    sig_len);
out:
	mbedtls_pk_free(&pk);
	return e;
}

const rt_verifier rt_verifier_mbedtls = {
	.kind = "mbedTLS",
	.verify = mbedtls_verify,
};

rt_err *
rt_verify_data(const rt_verifier *v, const uint8_t *spki, size_t spki_len,
    rt_hash h, rt_scheme scheme, const void *data, size_t len,
    const uint8_t *sig, size_t sig_len)
{
	if (v == NULL)
		v = &rt_verifier_mbedtls;
	return v->verify(v, spki, spki_len, h, scheme, data, len, sig, sig_len);
}
