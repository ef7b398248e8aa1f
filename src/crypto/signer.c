/* signer.c - the signer interface, hashes, RSA encodings, random; see
 * include/raterm/signer.h */
#include "raterm/signer.h"
#include "raterm/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/rsa.h>

struct rt_signer {
	const rt_signer_ops *ops;
	void *impl;
	mbedtls_pk_context pub;
	rt_keytype type;
	size_t bits;
	mbedtls_x509_crt chain;
	bool has_chain;
	char desc[160];
};

/* ---- hashes ------------------------------------------------------------- */

size_t
rt_hash_len(rt_hash h)
{
	switch (h) {
	case RT_HASH_SHA1: return 20;
	case RT_HASH_SHA256: return 32;
	case RT_HASH_SHA384: return 48;
	case RT_HASH_SHA512: return 64;
	default: return 0;
	}
}

const char *
rt_hash_name(rt_hash h)
{
	switch (h) {
	case RT_HASH_SHA1: return "SHA1";
	case RT_HASH_SHA256: return "SHA256";
	case RT_HASH_SHA384: return "SHA384";
	case RT_HASH_SHA512: return "SHA512";
	default: return "NONE";
	}
}

rt_hash
rt_hash_from_name(const char *s)
{
	static const rt_hash all[] = { RT_HASH_SHA1, RT_HASH_SHA256,
	    RT_HASH_SHA384, RT_HASH_SHA512 };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *n = rt_hash_name(all[i]);
		if (strcasecmp(s, n) == 0 ||
		    (strncasecmp(s, "sha-", 4) == 0 && strcasecmp(s + 4, n + 3) == 0))
			return all[i];
	}
	return RT_HASH_NONE;
}

mbedtls_md_type_t
rt_hash_md(rt_hash h)
{
	switch (h) {
	case RT_HASH_SHA1: return MBEDTLS_MD_SHA1;
	case RT_HASH_SHA256: return MBEDTLS_MD_SHA256;
	case RT_HASH_SHA384: return MBEDTLS_MD_SHA384;
	case RT_HASH_SHA512: return MBEDTLS_MD_SHA512;
	default: return MBEDTLS_MD_NONE;
	}
}

const char *
rt_scheme_name(rt_scheme s)
{
	switch (s) {
	case RT_SCHEME_PKCS1: return "PKCS1";
	case RT_SCHEME_PSS: return "PSS";
	case RT_SCHEME_ECDSA: return "ECDSA";
	default: return "DEFAULT";
	}
}

rt_scheme
rt_scheme_from_name(const char *s)
{
	if (strcasecmp(s, "pkcs1") == 0 || strcasecmp(s, "pkcs1v15") == 0)
		return RT_SCHEME_PKCS1;
	if (strcasecmp(s, "pss") == 0)
		return RT_SCHEME_PSS;
	if (strcasecmp(s, "ecdsa") == 0)
		return RT_SCHEME_ECDSA;
	return RT_SCHEME_DEFAULT;
}

rt_err *
rt_hash_data(rt_hash h, const void *data, size_t len, uint8_t *out)
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(rt_hash_md(h));
	if (md == NULL)
		return rt_err_new(RT_E_ARG, NULL, "no such hash (%d)", (int)h);
	if (mbedtls_md(md, data, len, out) != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "%s failed", rt_hash_name(h));
	return NULL;
}

rt_keytype
rt_pk_keytype(const mbedtls_pk_context *pk)
{
	mbedtls_pk_type_t t = mbedtls_pk_get_type(pk);
	if (t == MBEDTLS_PK_RSA)
		return RT_KEY_RSA;
	if (t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECDSA) {
		const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
		if (ec->grp.id == MBEDTLS_ECP_DP_SECP256R1)
			return RT_KEY_EC_P256;
		if (ec->grp.id == MBEDTLS_ECP_DP_SECP384R1)
			return RT_KEY_EC_P384;
	}
	return RT_KEY_NONE;
}

rt_hash
rt_pk_default_hash(const mbedtls_pk_context *pk)
{
	return rt_pk_keytype(pk) == RT_KEY_EC_P384 ? RT_HASH_SHA384 :
	    RT_HASH_SHA256;
}

/* ---- random ------------------------------------------------------------- */

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_entropy_context rng_entropy;
static mbedtls_ctr_drbg_context rng_drbg;
static bool rng_ready;

rt_err *
rt_random(void *buf, size_t len)
{
	static const char pers[] = "raterm rt_random";
	int rc = 0;
	pthread_mutex_lock(&rng_lock);
	if (!rng_ready) {
		mbedtls_entropy_init(&rng_entropy);
		mbedtls_ctr_drbg_init(&rng_drbg);
		rc = mbedtls_ctr_drbg_seed(&rng_drbg, mbedtls_entropy_func,
		    &rng_entropy, (const unsigned char *)pers, sizeof(pers) - 1);
		if (rc == 0)
			rng_ready = true;
		else {
			mbedtls_ctr_drbg_free(&rng_drbg);
			mbedtls_entropy_free(&rng_entropy);
		}
	}
	unsigned char *p = buf;
	while (rc == 0 && len > 0) {
		size_t n = len > MBEDTLS_CTR_DRBG_MAX_REQUEST ?
		    MBEDTLS_CTR_DRBG_MAX_REQUEST : len;
		rc = mbedtls_ctr_drbg_random(&rng_drbg, p, n);
		p += n;
		len -= n;
	}
	pthread_mutex_unlock(&rng_lock);
	if (rc != 0)
		return rt_err_new(RT_E_CRYPTO, NULL,
		    "random generator failed (mbedTLS -0x%04x)", (unsigned)-rc);
	return NULL;
}

int
rt_rng(void *p_rng, unsigned char *buf, size_t len)
{
	(void)p_rng;
	rt_err *e = rt_random(buf, len);
	if (e != NULL) {
		rt_err_free(e);
		return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
	}
	return 0;
}

/* ---- RSA and ECDSA encodings -------------------------------------------- */

rt_err *
rt_emsa_pkcs1_encode(rt_hash h, const uint8_t *digest, size_t dlen,
    size_t klen, uint8_t *out)
{
	const char *oid;
	size_t oid_len;
	uint8_t di[19 + 64];
	size_t di_len;

	if (dlen != rt_hash_len(h) || dlen == 0)
		return rt_err_new(RT_E_ARG, NULL, "%zu-byte digest for %s", dlen,
		    rt_hash_name(h));
	if (mbedtls_oid_get_oid_by_md(rt_hash_md(h), &oid, &oid_len) != 0)
		return rt_err_new(RT_E_ARG, NULL, "no OID for %s", rt_hash_name(h));
	/* DigestInfo ::= SEQ { SEQ { OID, NULL }, OCTET STRING } */
	di_len = 0;
	di[di_len++] = 0x30;
	di[di_len++] = (uint8_t)(8 + oid_len + dlen);
	di[di_len++] = 0x30;
	di[di_len++] = (uint8_t)(4 + oid_len);
	di[di_len++] = 0x06;
	di[di_len++] = (uint8_t)oid_len;
	memcpy(di + di_len, oid, oid_len);
	di_len += oid_len;
	di[di_len++] = 0x05;
	di[di_len++] = 0x00;
	di[di_len++] = 0x04;
	di[di_len++] = (uint8_t)dlen;
	memcpy(di + di_len, digest, dlen);
	di_len += dlen;
	if (klen < di_len + 11)
		return rt_err_new(RT_E_ARG, NULL, "%zu-byte RSA key too small for %s",
		    klen, rt_hash_name(h));
	out[0] = 0x00;
	out[1] = 0x01;
	memset(out + 2, 0xFF, klen - di_len - 3);
	out[klen - di_len - 1] = 0x00;
	memcpy(out + klen - di_len, di, di_len);
	return NULL;
}

static rt_err *
mgf1_xor(rt_hash h, const uint8_t *seed, size_t seed_len, uint8_t *out,
    size_t out_len)
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(rt_hash_md(h));
	size_t hl = rt_hash_len(h);
	uint8_t buf[MBEDTLS_MD_MAX_SIZE], ctr[4];
	mbedtls_md_context_t ctx;
	int rc = 0;

	mbedtls_md_init(&ctx);
	if (md == NULL || (rc = mbedtls_md_setup(&ctx, md, 0)) != 0) {
		mbedtls_md_free(&ctx);
		return rt_err_new(RT_E_CRYPTO, NULL, "MGF1 set-up");
	}
	for (uint32_t c = 0, off = 0; off < out_len && rc == 0; c++) {
		ctr[0] = (uint8_t)(c >> 24);
		ctr[1] = (uint8_t)(c >> 16);
		ctr[2] = (uint8_t)(c >> 8);
		ctr[3] = (uint8_t)c;
		if ((rc = mbedtls_md_starts(&ctx)) || (rc = mbedtls_md_update(&ctx,
		    seed, seed_len)) || (rc = mbedtls_md_update(&ctx, ctr, 4)) ||
		    (rc = mbedtls_md_finish(&ctx, buf)))
			break;
		for (size_t i = 0; i < hl && off < out_len; i++, off++)
			out[off] ^= buf[i];
	}
	mbedtls_md_free(&ctx);
	rt_wipe(buf, sizeof(buf));
	return rc ? rt_err_new(RT_E_CRYPTO, NULL, "MGF1 failed") : NULL;
}

rt_err *
rt_emsa_pss_encode(rt_hash h, const uint8_t *digest, size_t dlen,
    size_t modbits, uint8_t *out, size_t klen)
{
	size_t hl = rt_hash_len(h), sl = hl;
	size_t embits = modbits - 1, emlen = (embits + 7) / 8;
	uint8_t mp[8 + 2 * MBEDTLS_MD_MAX_SIZE], hash[MBEDTLS_MD_MAX_SIZE];
	rt_err *e;

	if (dlen != hl || hl == 0)
		return rt_err_new(RT_E_ARG, NULL, "%zu-byte digest for %s", dlen,
		    rt_hash_name(h));
	if (modbits < 512 || klen != (modbits + 7) / 8 || emlen < hl + sl + 2)
		return rt_err_new(RT_E_ARG, NULL, "RSA key of %zu bits too small "
		    "for PSS with %s", modbits, rt_hash_name(h));
	/* M' = 00*8 || mHash || salt; H = Hash(M') */
	memset(mp, 0, 8);
	memcpy(mp + 8, digest, hl);
	if ((e = rt_random(mp + 8 + hl, sl)) != NULL)
		return e;
	if ((e = rt_hash_data(h, mp, 8 + hl + sl, hash)) != NULL)
		return e;
	/* EM = maskedDB || H || BC, DB = PS || 01 || salt */
	uint8_t *em = out + (klen - emlen);
	memset(out, 0, klen);
	size_t dblen = emlen - hl - 1;
	em[dblen - sl - 1] = 0x01;
	memcpy(em + dblen - sl, mp + 8 + hl, sl);
	memcpy(em + dblen, hash, hl);
	em[emlen - 1] = 0xBC;
	if ((e = mgf1_xor(h, hash, hl, em, dblen)) != NULL)
		return e;
	em[0] &= (uint8_t)(0xFF >> (8 * emlen - embits));
	rt_wipe(mp, sizeof(mp));
	return NULL;
}

rt_err *
rt_ecdsa_raw_to_der(const uint8_t *rs, size_t rs_len, uint8_t *out,
    size_t cap, size_t *len)
{
	mbedtls_mpi r, s;
	unsigned char buf[2 * 72 + 16];
	unsigned char *p = buf + sizeof(buf);
	int n, tot = 0;

	if (rs_len == 0 || rs_len % 2 || rs_len > 132)
		return rt_err_new(RT_E_ARG, NULL, "raw ECDSA signature of %zu bytes",
		    rs_len);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	if (mbedtls_mpi_read_binary(&r, rs, rs_len / 2) ||
	    mbedtls_mpi_read_binary(&s, rs + rs_len / 2, rs_len / 2) ||
	    (n = mbedtls_asn1_write_mpi(&p, buf, &s)) < 0 || (tot += n, 0) ||
	    (n = mbedtls_asn1_write_mpi(&p, buf, &r)) < 0 || (tot += n, 0) ||
	    (n = mbedtls_asn1_write_len(&p, buf, (size_t)tot)) < 0 || (tot += n, 0) ||
	    (n = mbedtls_asn1_write_tag(&p, buf, 0x30)) < 0 || (tot += n, 0)) {
		mbedtls_mpi_free(&r);
		mbedtls_mpi_free(&s);
		return rt_err_new(RT_E_CRYPTO, NULL, "ECDSA signature encoding");
	}
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	if ((size_t)tot > cap)
		return rt_err_new(RT_E_TOO_BIG, NULL, "ECDSA signature");
	memcpy(out, p, (size_t)tot);
	*len = (size_t)tot;
	return NULL;
}

/* ---- verification ------------------------------------------------------- */

rt_err *
rt_sig_verify(const mbedtls_pk_context *pk, rt_hash h, rt_scheme scheme,
    const uint8_t *digest, size_t dlen, const uint8_t *sig, size_t sig_len)
{
	mbedtls_pk_context *k = (mbedtls_pk_context *)(uintptr_t)pk;
	rt_keytype kt = rt_pk_keytype(pk);
	int rc;

	if (dlen != rt_hash_len(h) || dlen == 0)
		return rt_err_new(RT_E_ARG, NULL, "%zu-byte digest for %s", dlen,
		    rt_hash_name(h));
	if (scheme == RT_SCHEME_DEFAULT)
		scheme = kt == RT_KEY_RSA ? RT_SCHEME_PKCS1 : RT_SCHEME_ECDSA;
	if (kt == RT_KEY_NONE || (kt == RT_KEY_RSA) != (scheme != RT_SCHEME_ECDSA))
		return rt_err_new(RT_E_ARG, NULL, "scheme %s does not fit the key",
		    rt_scheme_name(scheme));
	if (scheme == RT_SCHEME_PSS) {
		mbedtls_pk_rsassa_pss_options o = {
			.mgf1_hash_id = rt_hash_md(h),
			.expected_salt_len = (int)rt_hash_len(h),
		};
		rc = mbedtls_pk_verify_ext(MBEDTLS_PK_RSASSA_PSS, &o, k,
		    rt_hash_md(h), digest, dlen, sig, sig_len);
	} else
		rc = mbedtls_pk_verify(k, rt_hash_md(h), digest, dlen, sig, sig_len);
	if (rc != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "%s/%s signature does not "
		    "verify (mbedTLS -0x%04x)", rt_scheme_name(scheme),
		    rt_hash_name(h), (unsigned)-rc);
	return NULL;
}

/* ---- the signer object -------------------------------------------------- */

rt_err *
rt_signer_new(const rt_signer_ops *ops, void *impl,
    const mbedtls_pk_context *pub, const char *desc, rt_signer **out)
{
	unsigned char der[2048];
	rt_signer *s;
	int n;

	*out = NULL;
	rt_keytype kt = rt_pk_keytype(pub);
	if (kt == RT_KEY_NONE) {
		if (ops->free)
			ops->free(impl);
		return rt_err_new(RT_E_ARG, NULL, "unsupported key type for a "
		    "signer (RSA, EC P-256 and P-384 are supported)");
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		if (ops->free)
			ops->free(impl);
		return rt_err_new(RT_E_NOMEM, NULL, "signer");
	}
	s->ops = ops;
	s->impl = impl;
	s->type = kt;
	mbedtls_pk_init(&s->pub);
	mbedtls_x509_crt_init(&s->chain);
	n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)(uintptr_t)pub,
	    der, sizeof(der));
	if (n < 0 || mbedtls_pk_parse_public_key(&s->pub, der + sizeof(der) - n,
	    (size_t)n) != 0) {
		rt_signer_free(s);
		return rt_err_new(RT_E_CRYPTO, NULL, "cannot copy the public key");
	}
	s->bits = mbedtls_pk_get_bitlen(&s->pub);
	snprintf(s->desc, sizeof(s->desc), "%s", desc ? desc : ops->kind);
	*out = s;
	return NULL;
}

void
rt_signer_free(rt_signer *s)
{
	if (s == NULL)
		return;
	if (s->ops->free)
		s->ops->free(s->impl);
	mbedtls_pk_free(&s->pub);
	mbedtls_x509_crt_free(&s->chain);
	free(s);
}

rt_err *
rt_signer_add_cert(rt_signer *s, const uint8_t *der, size_t len)
{
	int rc = mbedtls_x509_crt_parse_der(&s->chain, der, len);
	if (rc != 0)
		return rt_err_new(RT_E_CERT, NULL, "certificate of %zu bytes does "
		    "not parse (mbedTLS -0x%04x)", len, (unsigned)-rc);
	s->has_chain = true;
	return NULL;
}

size_t
rt_signer_max_sig(const rt_signer *s)
{
	if (s->type == RT_KEY_RSA)
		return (s->bits + 7) / 8;
	return MBEDTLS_ECDSA_MAX_SIG_LEN(s->bits);
}

rt_err *
rt_signer_sign(rt_signer *s, rt_hash h, rt_scheme scheme, const uint8_t *digest,
    size_t dlen, uint8_t *sig, size_t cap, size_t *sig_len)
{
	if (dlen != rt_hash_len(h) || dlen == 0 || h == RT_HASH_SHA1)
		return rt_err_new(RT_E_ARG, NULL, "cannot sign a %zu-byte digest "
		    "as %s", dlen, rt_hash_name(h));
	if (scheme == RT_SCHEME_DEFAULT)
		scheme = s->type == RT_KEY_RSA ? RT_SCHEME_PKCS1 : RT_SCHEME_ECDSA;
	if ((s->type == RT_KEY_RSA) != (scheme != RT_SCHEME_ECDSA))
		return rt_err_new(RT_E_ARG, NULL, "%s: scheme %s does not fit the "
		    "key", s->desc, rt_scheme_name(scheme));
	rt_err *e = s->ops->sign(s->impl, h, scheme, digest, dlen, sig, cap,
	    sig_len);
	if (e != NULL)
		return rt_err_wrap(e, "signature with %s", s->desc);
	return NULL;
}

rt_err *
rt_signer_sign_data(rt_signer *s, rt_hash h, rt_scheme scheme,
    const void *data, size_t len, uint8_t *sig, size_t cap, size_t *sig_len)
{
	uint8_t dg[MBEDTLS_MD_MAX_SIZE];
	rt_err *e = rt_hash_data(h, data, len, dg);
	if (e != NULL)
		return e;
	return rt_signer_sign(s, h, scheme, dg, rt_hash_len(h), sig, cap,
	    sig_len);
}

const mbedtls_pk_context *
rt_signer_pk(const rt_signer *s)
{
	return &s->pub;
}

rt_keytype
rt_signer_keytype(const rt_signer *s)
{
	return s->type;
}

const mbedtls_x509_crt *
rt_signer_chain(const rt_signer *s)
{
	return s->has_chain ? &s->chain : NULL;
}

const char *
rt_signer_kind(const rt_signer *s)
{
	return s->ops->kind;
}

const char *
rt_signer_desc(const rt_signer *s)
{
	return s->desc;
}

void *
rt_signer_impl(const rt_signer *s, const rt_signer_ops *ops)
{
	return s != NULL && s->ops == ops ? s->impl : NULL;
}
