/* signer_ossl.c - a signer on OpenSSL's libcrypto (cmhost's CA and CMP
 * keys) and a verifier (what cmhost receives); see
 * include/raterm/signer_ossl.h */
#include "raterm/signer_ossl.h"
#include "raterm/util.h"

#include <limits.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/err.h>
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

/* ---- the verifier ---------------------------------------------------------- */

/* The limits of rt_pk_check_limits (signer.h), on libcrypto's key; and
 * whether the scheme fits it. */
static rt_err *
ossl_check_key(EVP_PKEY *k, rt_scheme *scheme)
{
	int id = EVP_PKEY_get_base_id(k);
	if (id == EVP_PKEY_RSA) {
		int bits = EVP_PKEY_get_bits(k);
		BIGNUM *e = NULL;
		int ebits = 0, odd = 0;
		if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e) == 1) {
			ebits = BN_num_bits(e);
			odd = BN_is_odd(e);
		}
		BN_free(e);
		if (bits < 2048 || bits > RT_RSA_MAX_BITS)
			return rt_err_new(RT_E_CERT, NULL, "the public key: an RSA "
			    "key of %d bits (2048 to %d accepted)", bits,
			    RT_RSA_MAX_BITS);
		if (ebits < 2 || ebits > 32 || !odd)
			return rt_err_new(RT_E_CERT, NULL, "the public key: an RSA "
			    "public exponent of %d bits (an odd number of at most "
			    "32 bits accepted, usually 65537)", ebits);
		if (*scheme == RT_SCHEME_DEFAULT)
			*scheme = RT_SCHEME_PKCS1;
		if (*scheme != RT_SCHEME_PKCS1 && *scheme != RT_SCHEME_PSS)
			return rt_err_new(RT_E_ARG, NULL, "algorithm %s does not fit "
			    "the key", rt_scheme_name(*scheme));
		return NULL;
	}
	if (id == EVP_PKEY_EC) {
		char g[64];
		size_t gl = 0;
		if (EVP_PKEY_get_group_name(k, g, sizeof(g), &gl) != 1 ||
		    (strcmp(g, "prime256v1") != 0 && strcmp(g, "secp384r1") != 0))
			return rt_err_new(RT_E_CERT, NULL, "the public key: an EC "
			    "key on a curve other than P-256 or P-384");
		if (*scheme == RT_SCHEME_DEFAULT)
			*scheme = RT_SCHEME_ECDSA;
		if (*scheme != RT_SCHEME_ECDSA)
			return rt_err_new(RT_E_ARG, NULL, "algorithm %s does not fit "
			    "the key", rt_scheme_name(*scheme));
		return NULL;
	}
	return rt_err_new(RT_E_CERT, NULL, "the public key: a key of a type "
	    "other than RSA or EC");
}

/* An EC public key on P-256 or P-384 from its SubjectPublicKeyInfo,
 * without libcrypto's decoders: d2i_PUBKEY costs about 140 us in OpenSSL
 * 3.0 (it tries every key manager), this about 20 us (docs/bench.md). The
 * import checks the point is on the curve. NULL: not such a key (then
 * d2i_PUBKEY and ossl_check_key decide). */
static EVP_PKEY *
ec_pubkey(const uint8_t *spki, size_t len)
{
	unsigned char *p = (unsigned char *)(uintptr_t)spki, *end = p + len;
	mbedtls_asn1_buf alg, params;
	const char *group = NULL;
	size_t l;
	if (mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE) != 0 || p + l != end ||
	    mbedtls_asn1_get_alg(&p, end, &alg, &params) != 0 ||
	    MBEDTLS_OID_CMP(MBEDTLS_OID_EC_ALG_UNRESTRICTED, &alg) != 0 ||
	    params.tag != MBEDTLS_ASN1_OID)
		return NULL;
	if (MBEDTLS_OID_CMP(MBEDTLS_OID_EC_GRP_SECP256R1, &params) == 0)
		group = "prime256v1";
	else if (MBEDTLS_OID_CMP(MBEDTLS_OID_EC_GRP_SECP384R1, &params) == 0)
		group = "secp384r1";
	if (group == NULL || mbedtls_asn1_get_bitstring_null(&p, end, &l) != 0 ||
	    p + l != end || l == 0)
		return NULL;
	OSSL_PARAM ps[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
		    (char *)(uintptr_t)group, 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, p, l),
		OSSL_PARAM_construct_end(),
	};
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	if (c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
	    EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, ps) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(c);
	return k;
}

/* The keys verified with lately (an officer's signs every request), so
 * that each is imported once: LRU, by their SubjectPublicKeyInfo. */
#define KEY_CACHE 8
#define KEY_CACHE_SPKI 128	/* EC keys; larger ones are not kept */
static struct {
	uint8_t spki[KEY_CACHE_SPKI];
	size_t len;
	EVP_PKEY *key;
	uint64_t last;
} key_cache[KEY_CACHE];
static uint64_t key_clock;
static pthread_mutex_t key_mu = PTHREAD_MUTEX_INITIALIZER;

/* The cached key of spki (a reference the caller frees), or NULL. */
static EVP_PKEY *
key_cached(const uint8_t *spki, size_t len)
{
	EVP_PKEY *k = NULL;
	if (len > KEY_CACHE_SPKI)
		return NULL;
	pthread_mutex_lock(&key_mu);
	for (size_t i = 0; i < KEY_CACHE && k == NULL; i++)
		if (key_cache[i].key != NULL && key_cache[i].len == len &&
		    memcmp(key_cache[i].spki, spki, len) == 0 &&
		    EVP_PKEY_up_ref(key_cache[i].key) == 1) {
			k = key_cache[i].key;
			key_cache[i].last = ++key_clock;
		}
	pthread_mutex_unlock(&key_mu);
	return k;
}

static void
key_keep(const uint8_t *spki, size_t len, EVP_PKEY *k)
{
	if (len > KEY_CACHE_SPKI || EVP_PKEY_up_ref(k) != 1)
		return;
	pthread_mutex_lock(&key_mu);
	size_t o = 0;
	for (size_t i = 1; i < KEY_CACHE; i++)
		if (key_cache[i].last < key_cache[o].last)
			o = i;
	EVP_PKEY *old = key_cache[o].key;
	memcpy(key_cache[o].spki, spki, len);
	key_cache[o].len = len;
	key_cache[o].key = k;
	key_cache[o].last = ++key_clock;
	pthread_mutex_unlock(&key_mu);
	EVP_PKEY_free(old);
}

static rt_err *
ossl_verify(const rt_verifier *v, const uint8_t *spki, size_t spki_len,
    rt_hash h, rt_scheme scheme, const void *data, size_t len,
    const uint8_t *sig, size_t sig_len)
{
	const EVP_MD *md = md_of(h);
	const unsigned char *p = spki;
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *c = NULL;
	EVP_PKEY_CTX *pc = NULL;
	rt_err *e;
	(void)v;
	if (md == NULL)
		return rt_err_new(RT_E_ARG, NULL, "hash %s", rt_hash_name(h));
	bool cached = (k = key_cached(spki, spki_len)) != NULL;
	if (!cached && (k = ec_pubkey(spki, spki_len)) == NULL &&
	    (spki_len > LONG_MAX || (k = d2i_PUBKEY(NULL, &p,
	    (long)spki_len)) == NULL || p != spki + spki_len)) {
		EVP_PKEY_free(k);
		ERR_clear_error();
		return rt_err_new(RT_E_CERT, NULL, "the public key does not parse");
	}
	if ((e = ossl_check_key(k, &scheme)) != NULL)
		goto out;
	if (!cached)
		key_keep(spki, spki_len, k);
	int ok = (c = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit(c, &pc, md, NULL, k) == 1;
	if (ok && scheme == RT_SCHEME_PSS)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) > 0 &&
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md) > 0 &&
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) > 0;
	else if (ok && scheme == RT_SCHEME_PKCS1)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) > 0;
	if (!ok)
		e = rt_err_new(RT_E_CRYPTO, NULL, "libcrypto cannot verify %s/%s",
		    rt_scheme_name(scheme), rt_hash_name(h));
	else if (EVP_DigestVerify(c, sig, sig_len, data, len) != 1)
		e = rt_err_new(RT_E_CRYPTO, NULL, "%s/%s signature does not "
		    "verify (libcrypto)", rt_scheme_name(scheme), rt_hash_name(h));
out:
	ERR_clear_error();
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return e;
}

const rt_verifier rt_verifier_ossl = {
	.kind = "libcrypto",
	.verify = ossl_verify,
};
