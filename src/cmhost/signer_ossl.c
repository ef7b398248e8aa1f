/* signer_ossl.c - a signer on OpenSSL's libcrypto (cmhost's CA and CMP
 * keys); see include/raterm/signer_ossl.h */
#include "raterm/signer_ossl.h"
#include "raterm/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

typedef struct {
	EVP_PKEY *key;
} ossl_impl;

static const EVP_MD *
md_of(rt_hash h)
{
	switch (h) {
	case RT_HASH_SHA1: return EVP_sha1();
	case RT_HASH_SHA256: return EVP_sha256();
	case RT_HASH_SHA384: return EVP_sha384();
	case RT_HASH_SHA512: return EVP_sha512();
	default: return NULL;
	}
}

static rt_err *
ossl_sign(void *impl, rt_hash h, rt_scheme scheme, const uint8_t *digest,
    size_t dlen, uint8_t *sig, size_t cap, size_t *sig_len)
{
	ossl_impl *oi = impl;
	const EVP_MD *md = md_of(h);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(oi->key, NULL);
	size_t n = cap;
	int ok = ctx != NULL && md != NULL && EVP_PKEY_sign_init(ctx) > 0 &&
	    EVP_PKEY_CTX_set_signature_md(ctx, md) > 0;
	if (ok && EVP_PKEY_get_base_id(oi->key) == EVP_PKEY_RSA) {
		if (scheme == RT_SCHEME_PSS)
			ok = EVP_PKEY_CTX_set_rsa_padding(ctx,
			    RSA_PKCS1_PSS_PADDING) > 0 &&
			    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0 &&
			    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx,
			    RSA_PSS_SALTLEN_DIGEST) > 0;
		else
			ok = EVP_PKEY_CTX_set_rsa_padding(ctx,
			    RSA_PKCS1_PADDING) > 0;
	}
	if (ok)
		ok = EVP_PKEY_sign(ctx, sig, &n, digest, dlen) > 0;
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		return rt_err_new(RT_E_CRYPTO, NULL, "libcrypto signature failed "
		    "(%s, %s)", rt_hash_name(h), rt_scheme_name(scheme));
	*sig_len = n;
	return NULL;
}

static void
ossl_free(void *impl)
{
	ossl_impl *oi = impl;
	if (oi == NULL)
		return;
	EVP_PKEY_free(oi->key);		/* libcrypto clears the key material */
	free(oi);
}

static const rt_signer_ops ossl_ops = {
	.kind = "libcrypto",
	.sign = ossl_sign,
	.free = ossl_free,
};

rt_err *
rt_signer_ossl(const mbedtls_pk_context *key, const char *desc,
    rt_signer **out)
{
	uint8_t der[5120];
	*out = NULL;
	int n = mbedtls_pk_write_key_der((mbedtls_pk_context *)(uintptr_t)key,
	    der, sizeof(der));
	if (n <= 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "%s: the private key cannot be "
		    "encoded (mbedTLS -0x%04x)", desc, (unsigned)-n);
	ossl_impl *oi = calloc(1, sizeof(*oi));
	if (oi == NULL) {
		rt_wipe(der, sizeof(der));
		return rt_err_new(RT_E_NOMEM, NULL, "%s", desc);
	}
	const unsigned char *p = der + sizeof(der) - n;
	oi->key = d2i_AutoPrivateKey(NULL, &p, n);
	rt_wipe(der, sizeof(der));
	if (oi->key == NULL) {
		free(oi);
		return rt_err_new(RT_E_CRYPTO, NULL, "%s: libcrypto does not take "
		    "the private key", desc);
	}
	/* the public half, for rt_signer_new, as mbedTLS knows it */
	return rt_signer_new(&ossl_ops, oi, key, desc, out);
}
