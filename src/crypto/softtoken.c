/* softtoken.c - encrypted key files and PKCS#12 as signers; see
 * include/raterm/softtoken.h
 *
 * mbedTLS 2.28 parses PKCS#8 with PBES2/3DES and PKCS#12-PBE but neither
 * PBES2 with AES (what OpenSSL 3 writes) nor the PKCS#12 container, so
 * both are built here from its primitives: asn1parse, PBKDF2-HMAC, the
 * PKCS#12 KDF, HMAC and the block ciphers. */
#include "raterm/softtoken.h"
#include "raterm/util.h"
#include "crypto_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/cipher.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pkcs12.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/version.h>

#define ITER_MAX 10000000	/* refuse absurd iteration counts (DoS) */
#define P12_PWD_MAX 128		/* mbedTLS PKCS#12 KDF limit (bytes) */

/* OIDs (DER content bytes) */
#define OID_PKCS7_DATA		"\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01"
#define OID_PKCS7_ENCDATA	"\x2a\x86\x48\x86\xf7\x0d\x01\x07\x06"
#define OID_P12_PBE		"\x2a\x86\x48\x86\xf7\x0d\x01\x0c\x01"
#define OID_P12_BAG		"\x2a\x86\x48\x86\xf7\x0d\x01\x0c\x0a\x01"
#define OID_X509_CERT_TYPE	"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x16\x01"
#define OID_AES_CBC_PREFIX	"\x60\x86\x48\x01\x65\x03\x04\x01"

#define OID_IS(buf, lit) ((buf)->len == sizeof(lit) - 1 && \
	memcmp((buf)->p, lit, sizeof(lit) - 1) == 0)

int
rt_pk_parse_key(mbedtls_pk_context *pk, const unsigned char *key, size_t len,
    const unsigned char *pwd, size_t pwd_len)
{
#if MBEDTLS_VERSION_MAJOR >= 3
	return mbedtls_pk_parse_key(pk, key, len, pwd, pwd_len, rt_rng, NULL);
#else
	return mbedtls_pk_parse_key(pk, key, len, pwd, pwd_len);
#endif
}

static rt_err *
asn1_err(const char *what, int rc)
{
	return rt_err_new(RT_E_FORMAT, NULL, "malformed %s (mbedTLS -0x%04x)",
	    what, (unsigned)-rc);
}

/* ---- password-based decryption ----------------------------------------- */

static rt_err *
cbc_decrypt(mbedtls_cipher_type_t type, const uint8_t *key, size_t keylen,
    const uint8_t *iv, size_t ivlen, const uint8_t *ct, size_t ctlen,
    uint8_t **out, size_t *outlen)
{
	const mbedtls_cipher_info_t *ci = mbedtls_cipher_info_from_type(type);
	mbedtls_cipher_context_t ctx;
	size_t n1 = 0, n2 = 0;
	uint8_t *pt;
	int rc;

	if (ci == NULL)
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "cipher %d unavailable",
		    (int)type);
	if (keylen * 8 != (size_t)ci->key_bitlen || ivlen != ci->iv_size)
		return rt_err_new(RT_E_FORMAT, NULL, "key or IV length does not fit "
		    "%s", ci->name);
	if (ctlen == 0 || ctlen % ci->block_size)
		return rt_err_new(RT_E_FORMAT, NULL, "encrypted data of %zu bytes "
		    "is not a whole number of blocks", ctlen);
	if ((pt = malloc(ctlen + ci->block_size)) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "decryption");
	mbedtls_cipher_init(&ctx);
	if ((rc = mbedtls_cipher_setup(&ctx, ci)) != 0 ||
	    (rc = mbedtls_cipher_setkey(&ctx, key, (int)(keylen * 8),
	    MBEDTLS_DECRYPT)) != 0 ||
	    (rc = mbedtls_cipher_set_padding_mode(&ctx,
	    MBEDTLS_PADDING_PKCS7)) != 0 ||
	    (rc = mbedtls_cipher_set_iv(&ctx, iv, ivlen)) != 0 ||
	    (rc = mbedtls_cipher_reset(&ctx)) != 0 ||
	    (rc = mbedtls_cipher_update(&ctx, ct, ctlen, pt, &n1)) != 0 ||
	    (rc = mbedtls_cipher_finish(&ctx, pt + n1, &n2)) != 0) {
		mbedtls_cipher_free(&ctx);
		rt_wipe(pt, ctlen + ci->block_size);
		free(pt);
		if (rc == MBEDTLS_ERR_CIPHER_INVALID_PADDING)
			return rt_err_new(RT_E_PASSPHRASE, NULL, "wrong passphrase "
			    "(decryption gives bad padding)");
		return rt_err_new(RT_E_CRYPTO, NULL, "%s decryption failed "
		    "(mbedTLS -0x%04x)", ci->name, (unsigned)-rc);
	}
	mbedtls_cipher_free(&ctx);
	*out = pt;
	*outlen = n1 + n2;
	return NULL;
}

/* UTF-8 passphrase -> BMPString with the two-byte terminator (RFC 7292
 * appendix B.1). Bytes that are not valid UTF-8 are taken as Latin-1. */
static rt_err *
bmp_password(const char *pass, size_t plen, uint8_t *out, size_t cap,
    size_t *olen)
{
	const unsigned char *p = (const unsigned char *)pass;
	size_t o = 0;
	for (size_t i = 0; i < plen;) {
		uint32_t cp = p[i];
		size_t n = 1;
		if (cp >= 0xC2 && cp <= 0xDF && i + 1 < plen &&
		    (p[i + 1] & 0xC0) == 0x80) {
			cp = ((cp & 0x1F) << 6) | (p[i + 1] & 0x3F);
			n = 2;
		} else if (cp >= 0xE0 && cp <= 0xEF && i + 2 < plen &&
		    (p[i + 1] & 0xC0) == 0x80 && (p[i + 2] & 0xC0) == 0x80) {
			cp = ((cp & 0x0F) << 12) | ((uint32_t)(p[i + 1] & 0x3F) << 6) |
			    (p[i + 2] & 0x3F);
			n = 3;
		} else if (cp >= 0xF0)
			return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "passphrase "
			    "characters outside the Basic Multilingual Plane");
		if (o + 4 > cap)
			return rt_err_new(RT_E_TOO_BIG, NULL, "passphrase too long for "
			    "PKCS#12 (at most %d characters)", P12_PWD_MAX / 2 - 1);
		out[o++] = (uint8_t)(cp >> 8);
		out[o++] = (uint8_t)cp;
		i += n;
	}
	out[o++] = 0;
	out[o++] = 0;
	*olen = o;
	return NULL;
}

/* PKCS#12 KDF (RFC 7292 B.2) of `id` (1 key, 2 IV, 3 MAC). */
static rt_err *
p12_kdf(const char *pass, size_t plen, const uint8_t *salt, size_t slen,
    mbedtls_md_type_t md, int id, int iter, uint8_t *out, size_t olen)
{
	uint8_t bmp[P12_PWD_MAX];
	size_t blen = 0;
	rt_err *e = bmp_password(pass, plen, bmp, sizeof(bmp), &blen);
	if (e != NULL)
		return e;
	int rc = mbedtls_pkcs12_derivation(out, olen, bmp, blen, salt, slen,
	    md, id, iter);
	rt_wipe(bmp, sizeof(bmp));
	if (rc != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "PKCS#12 key derivation failed "
		    "(mbedTLS -0x%04x)", (unsigned)-rc);
	return NULL;
}

static rt_err *
get_iter(unsigned char **p, const unsigned char *end, int *iter)
{
	int rc = mbedtls_asn1_get_int(p, end, iter);
	if (rc != 0)
		return asn1_err("iteration count", rc);
	if (*iter < 1 || *iter > ITER_MAX)
		return rt_err_new(RT_E_FORMAT, NULL, "iteration count %d out of "
		    "range", *iter);
	return NULL;
}

static rt_err *
pbes2_decrypt(unsigned char *p, const unsigned char *end, const uint8_t *ct,
    size_t ctlen, const char *pass, size_t plen, uint8_t **out, size_t *outlen)
{
	mbedtls_asn1_buf kdf_oid, enc_oid, prf_oid, salt, iv;
	unsigned char *kend, *pend;
	size_t len;
	int rc, iter, keylen = 0;
	mbedtls_md_type_t prf = MBEDTLS_MD_SHA1;
	mbedtls_cipher_type_t ctype;
	size_t need_key, need_iv;
	uint8_t key[32];
	rt_err *e;

	/* PBES2-params ::= SEQ { keyDerivationFunc AlgId, encryptionScheme } */
	if ((rc = mbedtls_asn1_get_tag(&p, end, &len,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
		return asn1_err("PBES2 parameters", rc);
	end = p + len;
	if ((rc = mbedtls_asn1_get_tag(&p, end, &len,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
		return asn1_err("PBES2 key derivation function", rc);
	kend = p + len;
	kdf_oid.tag = MBEDTLS_ASN1_OID;
	if ((rc = mbedtls_asn1_get_tag(&p, kend, &kdf_oid.len,
	    MBEDTLS_ASN1_OID)) != 0)
		return asn1_err("PBES2 key derivation function", rc);
	kdf_oid.p = p;
	p += kdf_oid.len;
	if (!OID_IS(&kdf_oid, MBEDTLS_OID_PKCS5_PBKDF2))
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "PBES2 key derivation "
		    "other than PBKDF2 (scrypt?)");
	/* PBKDF2-params ::= SEQ { salt OCTET STRING, iterationCount INTEGER,
	 *   keyLength INTEGER OPTIONAL, prf AlgId DEFAULT hmacWithSHA1 } */
	if ((rc = mbedtls_asn1_get_tag(&p, kend, &len,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
		return asn1_err("PBKDF2 parameters", rc);
	pend = p + len;
	if ((rc = mbedtls_asn1_get_tag(&p, pend, &salt.len,
	    MBEDTLS_ASN1_OCTET_STRING)) != 0)
		return asn1_err("PBKDF2 salt (other sources unsupported)", rc);
	salt.p = p;
	p += salt.len;
	if ((e = get_iter(&p, pend, &iter)) != NULL)
		return e;
	if (p < pend && *p == MBEDTLS_ASN1_INTEGER &&
	    (rc = mbedtls_asn1_get_int(&p, pend, &keylen)) != 0)
		return asn1_err("PBKDF2 key length", rc);
	if (p < pend) {
		mbedtls_asn1_buf params;
		if ((rc = mbedtls_asn1_get_alg(&p, pend, &prf_oid, &params)) != 0)
			return asn1_err("PBKDF2 PRF", rc);
		if (OID_IS(&prf_oid, MBEDTLS_OID_HMAC_SHA1))
			prf = MBEDTLS_MD_SHA1;
		else if (OID_IS(&prf_oid, MBEDTLS_OID_HMAC_SHA224))
			prf = MBEDTLS_MD_SHA224;
		else if (OID_IS(&prf_oid, MBEDTLS_OID_HMAC_SHA256))
			prf = MBEDTLS_MD_SHA256;
		else if (OID_IS(&prf_oid, MBEDTLS_OID_HMAC_SHA384))
			prf = MBEDTLS_MD_SHA384;
		else if (OID_IS(&prf_oid, MBEDTLS_OID_HMAC_SHA512))
			prf = MBEDTLS_MD_SHA512;
		else
			return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "PBKDF2 PRF");
	}
	if (p != pend)
		return rt_err_new(RT_E_FORMAT, NULL, "trailing PBKDF2 parameters");
	p = kend;
	/* encryptionScheme AlgId { OID, IV } */
	mbedtls_asn1_buf enc_params;
	if ((rc = mbedtls_asn1_get_alg(&p, end, &enc_oid, &enc_params)) != 0)
		return asn1_err("PBES2 encryption scheme", rc);
	if (enc_oid.len == 9 && memcmp(enc_oid.p, OID_AES_CBC_PREFIX, 8) == 0 &&
	    (enc_oid.p[8] == 2 || enc_oid.p[8] == 22 || enc_oid.p[8] == 42)) {
		need_key = enc_oid.p[8] == 2 ? 16 : enc_oid.p[8] == 22 ? 24 : 32;
		ctype = need_key == 16 ? MBEDTLS_CIPHER_AES_128_CBC :
		    need_key == 24 ? MBEDTLS_CIPHER_AES_192_CBC :
		    MBEDTLS_CIPHER_AES_256_CBC;
		need_iv = 16;
	} else if (OID_IS(&enc_oid, MBEDTLS_OID_DES_EDE3_CBC)) {
		need_key = 24;
		need_iv = 8;
		ctype = MBEDTLS_CIPHER_DES_EDE3_CBC;
	} else
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "PBES2 cipher (AES-CBC "
		    "and DES-EDE3-CBC are supported)");
	if (enc_params.tag != MBEDTLS_ASN1_OCTET_STRING ||
	    enc_params.len != need_iv)
		return rt_err_new(RT_E_FORMAT, NULL, "PBES2 IV");
	iv = enc_params;
	if (keylen != 0 && (size_t)keylen != need_key)
		return rt_err_new(RT_E_FORMAT, NULL, "PBKDF2 key length %d does not "
		    "fit the cipher", keylen);

	mbedtls_md_context_t md;
	mbedtls_md_init(&md);
	if ((rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(prf), 1)) != 0 ||
	    (rc = mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)pass,
	    plen, salt.p, salt.len, (unsigned)iter, (uint32_t)need_key,
	    key)) != 0) {
		mbedtls_md_free(&md);
		rt_wipe(key, sizeof(key));
		return rt_err_new(RT_E_CRYPTO, NULL, "PBKDF2 failed (mbedTLS "
		    "-0x%04x)", (unsigned)-rc);
	}
	mbedtls_md_free(&md);
	e = cbc_decrypt(ctype, key, need_key, iv.p, iv.len, ct, ctlen, out,
	    outlen);
	rt_wipe(key, sizeof(key));
	return e;
}

static rt_err *
p12pbe_decrypt(uint8_t which, unsigned char *p, const unsigned char *end,
    const uint8_t *ct, size_t ctlen, const char *pass, size_t plen,
    uint8_t **out, size_t *outlen)
{
	mbedtls_asn1_buf salt;
	uint8_t key[24], iv[8];
	size_t len;
	int rc, iter;
	rt_err *e;

	if (which != 3 && which != 4)	/* 1, 2 RC4; 5, 6 RC2 */
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "PKCS#12 PBE with %s "
		    "(export the file again with AES or 3DES)",
		    which <= 2 ? "RC4" : "RC2");
	if ((rc = mbedtls_asn1_get_tag(&p, end, &len,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
		return asn1_err("PKCS#12 PBE parameters", rc);
	end = p + len;
	if ((rc = mbedtls_asn1_get_tag(&p, end, &salt.len,
	    MBEDTLS_ASN1_OCTET_STRING)) != 0)
		return asn1_err("PKCS#12 PBE salt", rc);
	salt.p = p;
	p += salt.len;
	if ((e = get_iter(&p, end, &iter)) != NULL)
		return e;
	size_t klen = which == 3 ? 24 : 16;
	if ((e = p12_kdf(pass, plen, salt.p, salt.len, MBEDTLS_MD_SHA1, 1, iter,
	    key, klen)) != NULL ||
	    (e = p12_kdf(pass, plen, salt.p, salt.len, MBEDTLS_MD_SHA1, 2, iter,
	    iv, sizeof(iv))) != NULL)
		goto out;
	if (which == 4)
		memcpy(key + 16, key, 8);	/* two-key 3DES: K1 K2 K1 */
	e = cbc_decrypt(MBEDTLS_CIPHER_DES_EDE3_CBC, key, 24, iv, 8, ct, ctlen,
	    out, outlen);
out:
	rt_wipe(key, sizeof(key));
	rt_wipe(iv, sizeof(iv));
	return e;
}

/* Decrypts ct with the password-based scheme alg_oid/params. */
static rt_err *
pbe_decrypt(const mbedtls_asn1_buf *oid, unsigned char *params,
    const unsigned char *pend, const uint8_t *ct, size_t ctlen,
    const char *pass, size_t plen, uint8_t **out, size_t *outlen)
{
	if (OID_IS(oid, MBEDTLS_OID_PKCS5_PBES2))
		return pbes2_decrypt(params, pend, ct, ctlen, pass, plen, out,
		    outlen);
	if (oid->len == sizeof(OID_P12_PBE) && memcmp(oid->p, OID_P12_PBE,
	    sizeof(OID_P12_PBE) - 1) == 0)
		return p12pbe_decrypt(oid->p[sizeof(OID_P12_PBE) - 1], params, pend,
		    ct, ctlen, pass, plen, out, outlen);
	return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "password-based encryption "
	    "scheme (PBES2 and PKCS#12 3DES are supported; PBES1 is not)");
}

/* AlgorithmIdentifier with its raw parameters (p left after it). */
static rt_err *
get_alg_raw(unsigned char **p, const unsigned char *end, mbedtls_asn1_buf *oid,
    unsigned char **params, const unsigned char **pend)
{
	size_t len;
	int rc;
	if ((rc = mbedtls_asn1_get_tag(p, end, &len,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
		return asn1_err("algorithm identifier", rc);
	const unsigned char *aend = *p + len;
	oid->tag = MBEDTLS_ASN1_OID;
	if ((rc = mbedtls_asn1_get_tag(p, aend, &oid->len, MBEDTLS_ASN1_OID)) != 0)
		return asn1_err("algorithm identifier", rc);
	oid->p = *p;
	*p += oid->len;
	*params = *p;
	*pend = aend;
	*p = (unsigned char *)(uintptr_t)aend;
	return NULL;
}

/* EncryptedPrivateKeyInfo -> the decrypted key parsed into pk. */
static rt_err *
epki_parse(const uint8_t *der, size_t len, const char *pass, size_t plen,
    mbedtls_pk_context *pk)
{
	unsigned char *p = (unsigned char *)(uintptr_t)der, *params;
	const unsigned char *end = der + len, *pend;
	mbedtls_asn1_buf oid;
	size_t l, ctlen;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	rt_err *e;
	int rc;

	if ((rc = mbedtls_asn1_get_tag(&p, end, &l,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
		return asn1_err("EncryptedPrivateKeyInfo", rc);
	end = p + l;
	if ((e = get_alg_raw(&p, end, &oid, &params, &pend)) != NULL)
		return e;
	if ((rc = mbedtls_asn1_get_tag(&p, end, &ctlen,
	    MBEDTLS_ASN1_OCTET_STRING)) != 0)
		return asn1_err("EncryptedPrivateKeyInfo data", rc);
	if (p + ctlen != end)
		return rt_err_new(RT_E_FORMAT, NULL, "trailing data after "
		    "EncryptedPrivateKeyInfo");
	if ((e = pbe_decrypt(&oid, params, pend, p, ctlen, pass, plen, &pt,
	    &ptlen)) != NULL)
		return e;
	mbedtls_pk_init(pk);
	rc = rt_pk_parse_key(pk, pt, ptlen, NULL, 0);
	rt_wipe(pt, ptlen);
	free(pt);
	if (rc != 0) {
		mbedtls_pk_free(pk);
		return rt_err_new(RT_E_PASSPHRASE, NULL, "wrong passphrase (the "
		    "decrypted key does not parse, mbedTLS -0x%04x)", (unsigned)-rc);
	}
	return NULL;
}

/* ---- PKCS#12 ----------------------------------------------------------- */

typedef struct {
	const char *pass;
	size_t plen;
	mbedtls_pk_context *key;
	bool have_key;
	mbedtls_x509_crt certs;	/* in file order */
} p12_ctx;

static rt_err *
p12_safe_contents(p12_ctx *x, const uint8_t *buf, size_t len, int depth)
{
	unsigned char *p = (unsigned char *)(uintptr_t)buf;
	const unsigned char *end = buf + len;
	size_t l;
	int rc;
	rt_err *e;

	if (depth > 2)
		return rt_err_new(RT_E_FORMAT, NULL, "PKCS#12 bags nested too deep");
	if ((rc = mbedtls_asn1_get_tag(&p, end, &l,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0 ||
	    p + l != end)
		return asn1_err("PKCS#12 SafeContents", rc ? rc : -1);
	while (p < end) {
		mbedtls_asn1_buf oid;
		unsigned char *bend;
		if ((rc = mbedtls_asn1_get_tag(&p, end, &l,
		    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
			return asn1_err("PKCS#12 SafeBag", rc);
		bend = p + l;
		if ((rc = mbedtls_asn1_get_tag(&p, bend, &oid.len,
		    MBEDTLS_ASN1_OID)) != 0)
			return asn1_err("PKCS#12 SafeBag type", rc);
		oid.p = p;
		p += oid.len;
		if ((rc = mbedtls_asn1_get_tag(&p, bend, &l,
		    MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED)) != 0)
			return asn1_err("PKCS#12 SafeBag value", rc);
		unsigned char *val = p;
		size_t vlen = l;
		p = bend;	/* attributes (friendlyName, localKeyId) ignored */
		uint8_t type = 0;
		if (oid.len == sizeof(OID_P12_BAG) && memcmp(oid.p, OID_P12_BAG,
		    sizeof(OID_P12_BAG) - 1) == 0)
			type = oid.p[sizeof(OID_P12_BAG) - 1];
		switch (type) {
		case 1:		/* keyBag: a plain PrivateKeyInfo */
			return rt_err_new(RT_E_KEY_UNENCRYPTED, NULL, "the PKCS#12 "
			    "file holds an unencrypted private key");
		case 2:		/* pkcs8ShroudedKeyBag */
			if (x->have_key)
				return rt_err_new(RT_E_FORMAT, NULL, "the PKCS#12 file "
				    "holds more than one private key");
			if ((e = epki_parse(val, vlen, x->pass, x->plen,
			    x->key)) != NULL)
				return rt_err_wrap(e, "PKCS#12 key bag");
			x->have_key = true;
			break;
		case 3: {	/* certBag ::= SEQ { certId, [0] { OCTET } } */
			unsigned char *q = val;
			const unsigned char *cend = val + vlen;
			mbedtls_asn1_buf cid;
			size_t cl;
			if ((rc = mbedtls_asn1_get_tag(&q, cend, &cl,
			    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0 ||
			    (rc = mbedtls_asn1_get_tag(&q, cend, &cid.len,
			    MBEDTLS_ASN1_OID)) != 0)
				return asn1_err("PKCS#12 certificate bag", rc);
			cid.p = q;
			q += cid.len;
			if (!OID_IS(&cid, OID_X509_CERT_TYPE))
				break;	/* SDSI certificates: not ours */
			if ((rc = mbedtls_asn1_get_tag(&q, cend, &cl,
			    MBEDTLS_ASN1_CONTEXT_SPECIFIC |
			    MBEDTLS_ASN1_CONSTRUCTED)) != 0 ||
			    (rc = mbedtls_asn1_get_tag(&q, cend, &cl,
			    MBEDTLS_ASN1_OCTET_STRING)) != 0)
				return asn1_err("PKCS#12 certificate bag", rc);
			if ((rc = mbedtls_x509_crt_parse_der(&x->certs, q, cl)) != 0)
				return rt_err_new(RT_E_CERT, NULL, "a certificate in the "
				    "PKCS#12 file does not parse (mbedTLS -0x%04x)",
				    (unsigned)-rc);
			break;
		}
		case 6:		/* safeContentsBag */
			if ((e = p12_safe_contents(x, val, vlen, depth + 1)) != NULL)
				return e;
			break;
		default:	/* CRL and secret bags: ignored */
			break;
		}
	}
	return NULL;
}

static rt_err *
p12_mac_check(const char *pass, size_t plen, const uint8_t *data, size_t dlen,
    unsigned char *p, const unsigned char *end)
{
	mbedtls_asn1_buf oid, params, mac, salt;
	mbedtls_md_type_t mdt;
	uint8_t key[MBEDTLS_MD_MAX_SIZE], calc[MBEDTLS_MD_MAX_SIZE];
	size_t l;
	int rc, iter = 1;
	rt_err *e;

	/* MacData ::= SEQ { mac DigestInfo, macSalt OCTET STRING,
	 *                   iterations INTEGER DEFAULT 1 } */
	if ((rc = mbedtls_asn1_get_tag(&p, end, &l,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
		return asn1_err("PKCS#12 MacData", rc);
	end = p + l;
	if ((rc = mbedtls_asn1_get_tag(&p, end, &l,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0 ||
	    (rc = mbedtls_asn1_get_alg(&p, p + l, &oid, &params)) != 0 ||
	    (rc = mbedtls_asn1_get_tag(&p, end, &mac.len,
	    MBEDTLS_ASN1_OCTET_STRING)) != 0)
		return asn1_err("PKCS#12 MAC", rc);
	mac.p = p;
	p += mac.len;
	if ((rc = mbedtls_asn1_get_tag(&p, end, &salt.len,
	    MBEDTLS_ASN1_OCTET_STRING)) != 0)
		return asn1_err("PKCS#12 MAC salt", rc);
	salt.p = p;
	p += salt.len;
	if (p < end && (e = get_iter(&p, end, &iter)) != NULL)
		return e;
	if (mbedtls_oid_get_md_alg(&oid, &mdt) != 0)
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "PKCS#12 MAC algorithm "
		    "(PBMAC1?)");
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(mdt);
	size_t hl = md ? mbedtls_md_get_size(md) : 0;
	if (hl == 0 || mac.len != hl)
		return rt_err_new(RT_E_FORMAT, NULL, "PKCS#12 MAC length");
	if ((e = p12_kdf(pass, plen, salt.p, salt.len, mdt, 3, iter, key,
	    hl)) != NULL)
		return e;
	rc = mbedtls_md_hmac(md, key, hl, data, dlen, calc);
	rt_wipe(key, sizeof(key));
	if (rc != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "PKCS#12 MAC computation");
	unsigned char diff = 0;
	for (size_t i = 0; i < hl; i++)
		diff |= (unsigned char)(calc[i] ^ mac.p[i]);
	if (diff != 0)
		return rt_err_new(RT_E_PASSPHRASE, NULL, "wrong passphrase (the "
		    "PKCS#12 MAC does not verify)");
	return NULL;
}

static rt_err *
p12_parse(p12_ctx *x, const uint8_t *der, size_t len)
{
	unsigned char *p = (unsigned char *)(uintptr_t)der;
	const unsigned char *end = der + len;
	mbedtls_asn1_buf oid;
	size_t l, as_len;
	int rc, ver;
	rt_err *e;

	if ((rc = mbedtls_asn1_get_tag(&p, end, &l,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
		return asn1_err("PKCS#12 PFX", rc);
	end = p + l;
	if ((rc = mbedtls_asn1_get_int(&p, end, &ver)) != 0 || ver != 3)
		return rt_err_new(RT_E_FORMAT, NULL, "PKCS#12 version");
	/* authSafe ContentInfo { data, [0] { OCTET STRING } } */
	if ((rc = mbedtls_asn1_get_tag(&p, end, &l,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0 ||
	    (rc = mbedtls_asn1_get_tag(&p, end, &oid.len, MBEDTLS_ASN1_OID)) != 0)
		return asn1_err("PKCS#12 authSafe", rc);
	oid.p = p;
	p += oid.len;
	if (!OID_IS(&oid, OID_PKCS7_DATA))
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "PKCS#12 with public-key "
		    "integrity mode");
	if ((rc = mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONTEXT_SPECIFIC |
	    MBEDTLS_ASN1_CONSTRUCTED)) != 0 ||
	    (rc = mbedtls_asn1_get_tag(&p, end, &as_len,
	    MBEDTLS_ASN1_OCTET_STRING)) != 0)
		return asn1_err("PKCS#12 authSafe content (BER?)", rc);
	const uint8_t *as = p;
	p += as_len;
	if (p < end) {
		if ((e = p12_mac_check(x->pass, x->plen, as, as_len, p, end)) != NULL)
			return e;
	}
	/* AuthenticatedSafe ::= SEQ OF ContentInfo */
	p = (unsigned char *)(uintptr_t)as;
	end = as + as_len;
	if ((rc = mbedtls_asn1_get_tag(&p, end, &l,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
		return asn1_err("PKCS#12 AuthenticatedSafe", rc);
	end = p + l;
	while (p < end) {
		unsigned char *cend;
		if ((rc = mbedtls_asn1_get_tag(&p, end, &l,
		    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
			return asn1_err("PKCS#12 ContentInfo", rc);
		cend = p + l;
		if ((rc = mbedtls_asn1_get_tag(&p, cend, &oid.len,
		    MBEDTLS_ASN1_OID)) != 0)
			return asn1_err("PKCS#12 ContentInfo", rc);
		oid.p = p;
		p += oid.len;
		if ((rc = mbedtls_asn1_get_tag(&p, cend, &l,
		    MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED)) != 0)
			return asn1_err("PKCS#12 ContentInfo content", rc);
		if (OID_IS(&oid, OID_PKCS7_DATA)) {
			if ((rc = mbedtls_asn1_get_tag(&p, cend, &l,
			    MBEDTLS_ASN1_OCTET_STRING)) != 0)
				return asn1_err("PKCS#12 data", rc);
			if ((e = p12_safe_contents(x, p, l, 0)) != NULL)
				return e;
		} else if (OID_IS(&oid, OID_PKCS7_ENCDATA)) {
			/* EncryptedData ::= SEQ { version, EncryptedContentInfo
			 *   SEQ { contentType, AlgId, [0] IMPLICIT OCTET STRING } } */
			unsigned char *params;
			const unsigned char *pend;
			int v;
			if ((rc = mbedtls_asn1_get_tag(&p, cend, &l,
			    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0 ||
			    (rc = mbedtls_asn1_get_int(&p, cend, &v)) != 0 ||
			    (rc = mbedtls_asn1_get_tag(&p, cend, &l,
			    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0 ||
			    (rc = mbedtls_asn1_get_tag(&p, cend, &l,
			    MBEDTLS_ASN1_OID)) != 0)
				return asn1_err("PKCS#12 EncryptedData", rc);
			p += l;
			mbedtls_asn1_buf alg;
			if ((e = get_alg_raw(&p, cend, &alg, &params, &pend)) != NULL)
				return e;
			if ((rc = mbedtls_asn1_get_tag(&p, cend, &l,
			    MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0)) != 0)
				return asn1_err("PKCS#12 encrypted content (BER?)", rc);
			uint8_t *pt;
			size_t ptlen;
			if ((e = pbe_decrypt(&alg, params, pend, p, l, x->pass, x->plen,
			    &pt, &ptlen)) != NULL)
				return rt_err_wrap(e, "PKCS#12 certificates");
			e = p12_safe_contents(x, pt, ptlen, 0);
			rt_wipe(pt, ptlen);
			free(pt);
			if (e != NULL)
				return e;
		} else
			return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "PKCS#12 content "
			    "type (public-key privacy mode)");
		p = cend;
	}
	if (!x->have_key)
		return rt_err_new(RT_E_FORMAT, NULL, "the PKCS#12 file holds no "
		    "private key");
	return NULL;
}

/* ---- the file forms -------------------------------------------------- */

static bool
pub_equal(const mbedtls_pk_context *a, const mbedtls_pk_context *b)
{
	unsigned char da[1200], db[1200];
	int la = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)(uintptr_t)a,
	    da, sizeof(da));
	int lb = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)(uintptr_t)b,
	    db, sizeof(db));
	return la > 0 && la == lb && memcmp(da + sizeof(da) - la,
	    db + sizeof(db) - lb, (size_t)la) == 0;
}

/* Appends certs to chain, the one matching key first. */
static rt_err *
order_chain(const mbedtls_x509_crt *certs, const mbedtls_pk_context *key,
    mbedtls_x509_crt *chain)
{
	const mbedtls_x509_crt *c, *leaf = NULL;
	int rc;
	for (c = certs; c != NULL && c->raw.len; c = c->next)
		if (pub_equal(&c->pk, key)) {
			leaf = c;
			break;
		}
	if (leaf != NULL &&
	    (rc = mbedtls_x509_crt_parse_der(chain, leaf->raw.p, leaf->raw.len)))
		goto fail;
	for (c = certs; c != NULL && c->raw.len; c = c->next)
		if (c != leaf &&
		    (rc = mbedtls_x509_crt_parse_der(chain, c->raw.p, c->raw.len)))
			goto fail;
	return NULL;
fail:
	return rt_err_new(RT_E_CERT, NULL, "certificate (mbedTLS -0x%04x)",
	    (unsigned)-rc);
}

static bool
contains(const uint8_t *buf, size_t len, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(buf + i, s, n) == 0)
			return true;
	return false;
}

/* DER dispatch: PFX, EncryptedPrivateKeyInfo, or a plain key. */
static rt_err *
der_parse(const uint8_t *der, size_t len, const char *pass, size_t plen,
    mbedtls_pk_context *key, mbedtls_x509_crt *certs)
{
	unsigned char *p = (unsigned char *)(uintptr_t)der;
	const unsigned char *end = der + len;
	size_t l;
	int rc;

	if ((rc = mbedtls_asn1_get_tag(&p, end, &l,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
		return rt_err_new(RT_E_FORMAT, NULL, "not a key file (neither PEM "
		    "nor DER)");
	end = p + l;
	if (p < end && *p == (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
		return epki_parse(der, len, pass, plen, key);
	int ver;
	if (mbedtls_asn1_get_int(&p, end, &ver) != 0)
		return rt_err_new(RT_E_FORMAT, NULL, "not a key file");
	if (ver == 3) {
		p12_ctx x = { .pass = pass, .plen = plen, .key = key };
		mbedtls_x509_crt_init(&x.certs);
		rt_err *e = p12_parse(&x, der, len);
		if (e == NULL)
			e = order_chain(&x.certs, key, certs);
		if (e != NULL && x.have_key)
			mbedtls_pk_free(key);
		mbedtls_x509_crt_free(&x.certs);
		return e;
	}
	return rt_err_new(RT_E_KEY_UNENCRYPTED, NULL, "the private key is not "
	    "encrypted: raterm refuses unprotected key files (encrypt it, e.g. "
	    "openssl pkcs8 -topk8 -v2 aes-256-cbc)");
}

rt_err *
rt_softkey_parse(const uint8_t *buf, size_t len, const char *pass,
    size_t pass_len, mbedtls_pk_context *key, mbedtls_x509_crt *chain)
{
	rt_err *e;

	mbedtls_pk_init(key);
	if (!contains(buf, len, "-----BEGIN "))
		return der_parse(buf, len, pass, pass_len, key, chain);

	/* PEM: NUL-terminated copy for the mbedTLS PEM reader */
	unsigned char *z = malloc(len + 1);
	mbedtls_x509_crt certs;
	mbedtls_pem_context pem;
	size_t used;
	int rc;
	if (z == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "key file");
	memcpy(z, buf, len);
	z[len] = '\0';
	mbedtls_x509_crt_init(&certs);
	mbedtls_pem_init(&pem);
	if (contains(buf, len, "-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
		rc = mbedtls_pem_read_buffer(&pem,
		    "-----BEGIN ENCRYPTED PRIVATE KEY-----",
		    "-----END ENCRYPTED PRIVATE KEY-----", z, NULL, 0, &used);
		if (rc != 0)
			e = asn1_err("PEM", rc);
		else
			e = epki_parse(pem.buf, pem.buflen, pass, pass_len, key);
	} else if ((contains(buf, len, "-----BEGIN RSA PRIVATE KEY-----") ||
	    contains(buf, len, "-----BEGIN EC PRIVATE KEY-----")) &&
	    contains(buf, len, "Proc-Type: 4,ENCRYPTED")) {
		rc = rt_pk_parse_key(key, z, len + 1, (const unsigned char *)pass,
		    pass_len);
		if (rc == MBEDTLS_ERR_PK_PASSWORD_MISMATCH ||
		    rc == MBEDTLS_ERR_PEM_PASSWORD_MISMATCH)
			e = rt_err_new(RT_E_PASSPHRASE, NULL, "wrong passphrase");
		else if (rc != 0)
			e = rt_err_new(RT_E_FORMAT, NULL, "encrypted PEM key does not "
			    "parse (mbedTLS -0x%04x)", (unsigned)-rc);
		else
			e = NULL;
	} else if (contains(buf, len, "PRIVATE KEY-----")) {
		e = rt_err_new(RT_E_KEY_UNENCRYPTED, NULL, "the private key is not "
		    "encrypted: raterm refuses unprotected key files (encrypt it, "
		    "e.g. openssl pkcs8 -topk8 -v2 aes-256-cbc)");
	} else
		e = rt_err_new(RT_E_FORMAT, NULL, "no private key in the PEM file");
	mbedtls_pem_free(&pem);
	if (e == NULL && contains(buf, len, "-----BEGIN CERTIFICATE-----")) {
		if ((rc = mbedtls_x509_crt_parse(&certs, z, len + 1)) < 0)
			e = rt_err_new(RT_E_CERT, NULL, "a certificate in the key file "
			    "does not parse (mbedTLS -0x%04x)", (unsigned)-rc);
		else
			e = order_chain(&certs, key, chain);
		if (e != NULL)
			mbedtls_pk_free(key);
	}
	mbedtls_x509_crt_free(&certs);
	rt_wipe(z, len);
	free(z);
	return e;
}

/* ---- the signer ------------------------------------------------------- */

typedef struct {
	mbedtls_pk_context key;
	FILE *warn;
	bool quiet;		/* a key in memory (rt_signer_key): no warning */
	char path[256];
} soft_impl;

static void
soft_free(void *p)
{
	soft_impl *si = p;
	if (si == NULL)
		return;
	mbedtls_pk_free(&si->key);	/* zeroizes the key material */
	free(si);
}

static rt_err *
soft_sign(void *p, rt_hash h, rt_scheme scheme, const uint8_t *digest,
    size_t dlen, uint8_t *sig, size_t cap, size_t *sig_len)
{
	soft_impl *si = p;
	int rc;

	if (!si->quiet)
		fprintf(si->warn ? si->warn : stderr, "raterm: warning: signing "
		    "with the software token %s: a software officer token is not "
		    "recommended, use an officer card\n", si->path);
	if (scheme == RT_SCHEME_PSS) {
		mbedtls_rsa_context *rsa = mbedtls_pk_rsa(si->key);
		size_t klen = mbedtls_rsa_get_len(rsa);
		if (klen > cap)
			return rt_err_new(RT_E_TOO_BIG, NULL, "signature buffer");
		mbedtls_rsa_set_padding(rsa, MBEDTLS_RSA_PKCS_V21, rt_hash_md(h));
#if MBEDTLS_VERSION_MAJOR >= 3
		rc = mbedtls_rsa_rsassa_pss_sign(rsa, rt_rng, NULL, rt_hash_md(h),
		    (unsigned)dlen, digest, sig);
#else
		rc = mbedtls_rsa_rsassa_pss_sign(rsa, rt_rng, NULL,
		    MBEDTLS_RSA_PRIVATE, rt_hash_md(h), (unsigned)dlen, digest, sig);
#endif
		mbedtls_rsa_set_padding(rsa, MBEDTLS_RSA_PKCS_V15, MBEDTLS_MD_NONE);
		*sig_len = klen;
	} else {
		uint8_t tmp[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
		size_t n = 0;
#if MBEDTLS_VERSION_MAJOR >= 3
		rc = mbedtls_pk_sign(&si->key, rt_hash_md(h), digest, dlen, tmp,
		    sizeof(tmp), &n, rt_rng, NULL);
#else
		rc = mbedtls_pk_sign(&si->key, rt_hash_md(h), digest, dlen, tmp, &n,
		    rt_rng, NULL);
#endif
		if (rc == 0 && n > cap)
			return rt_err_new(RT_E_TOO_BIG, NULL, "signature buffer");
		if (rc == 0)
			memcpy(sig, tmp, n);
		*sig_len = n;
	}
	if (rc != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "software signature failed "
		    "(mbedTLS -0x%04x)", (unsigned)-rc);
	return NULL;
}

static const rt_signer_ops soft_ops = {
	.kind = "software",
	.sign = soft_sign,
	.free = soft_free,
};

rt_err *
rt_signer_key(const mbedtls_pk_context *key, const char *desc,
    rt_signer **out)
{
	uint8_t der[5120];
	soft_impl *si;
	rt_err *e;
	*out = NULL;
	int n = mbedtls_pk_write_key_der((mbedtls_pk_context *)(uintptr_t)key,
	    der, sizeof(der));
	if (n <= 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "%s: the private key cannot be "
		    "encoded (mbedTLS -0x%04x)", desc, (unsigned)-n);
	if ((si = calloc(1, sizeof(*si))) == NULL) {
		rt_wipe(der, sizeof(der));
		return rt_err_new(RT_E_NOMEM, NULL, "%s", desc);
	}
	mbedtls_pk_init(&si->key);
	int rc = mbedtls_pk_parse_key(&si->key, der + sizeof(der) - n,
	    (size_t)n, NULL, 0);
	rt_wipe(der, sizeof(der));
	if (rc != 0) {
		soft_free(si);
		return rt_err_new(RT_E_CRYPTO, NULL, "%s: the private key does not "
		    "parse back (mbedTLS -0x%04x)", desc, (unsigned)-rc);
	}
	si->quiet = true;
	snprintf(si->path, sizeof(si->path), "%s", desc);
	if ((e = rt_signer_new(&soft_ops, si, &si->key, desc, out)) != NULL)
		return e;	/* si freed by rt_signer_new */
	return NULL;
}

rt_err *
rt_signer_soft(const char *key_path, const char *cert_path, const char *pass,
    size_t pass_len, FILE *warn, rt_signer **out)
{
	mbedtls_x509_crt chain, extra;
	soft_impl *si;
	uint8_t *buf = NULL;
	size_t len = 0;
	rt_err *e;
	int rc;

	*out = NULL;
	if ((e = rt_file_read(key_path, 1u << 24, &buf, &len)) != NULL)
		return e;
	if ((si = calloc(1, sizeof(*si))) == NULL) {
		free(buf);
		return rt_err_new(RT_E_NOMEM, NULL, "software token");
	}
	mbedtls_x509_crt_init(&chain);
	mbedtls_x509_crt_init(&extra);
	e = rt_softkey_parse(buf, len, pass, pass_len, &si->key, &chain);
	rt_wipe(buf, len);
	free(buf);
	if (e != NULL) {
		free(si);
		mbedtls_x509_crt_free(&chain);
		return rt_err_wrap(e, "%s", key_path);
	}
	si->warn = warn;
	snprintf(si->path, sizeof(si->path), "%s", key_path);
	if (cert_path != NULL) {
		if ((rc = mbedtls_x509_crt_parse_file(&extra, cert_path)) != 0) {
			e = rt_err_new(RT_E_CERT, NULL, "%s: %s (mbedTLS -0x%04x)",
			    cert_path, rc > 0 ? "some certificates do not parse" :
			    "no certificate could be read",
			    (unsigned)(rc < 0 ? -rc : rc));
			goto fail;
		}
		mbedtls_x509_crt_free(&chain);
		mbedtls_x509_crt_init(&chain);
		if ((e = order_chain(&extra, &si->key, &chain)) != NULL)
			goto fail;
	}
	if (chain.raw.len != 0 && !pub_equal(&chain.pk, &si->key)) {
		e = rt_err_new(RT_E_CERT, NULL, "%s: no certificate matches the "
		    "private key", cert_path ? cert_path : key_path);
		goto fail;
	}
	char desc[300];
	snprintf(desc, sizeof(desc), "software token %s", key_path);
	mbedtls_pk_context *pub = &si->key;
	if ((e = rt_signer_new(&soft_ops, si, pub, desc, out)) != NULL) {
		si = NULL;	/* freed by rt_signer_new */
		goto fail;
	}
	si = NULL;
	for (const mbedtls_x509_crt *c = &chain; c != NULL && c->raw.len;
	    c = c->next)
		if ((e = rt_signer_add_cert(*out, c->raw.p, c->raw.len)) != NULL) {
			rt_signer_free(*out);
			*out = NULL;
			goto fail;
		}
	mbedtls_x509_crt_free(&chain);
	mbedtls_x509_crt_free(&extra);
	return NULL;
fail:
	soft_free(si);
	mbedtls_x509_crt_free(&chain);
	mbedtls_x509_crt_free(&extra);
	return e;
}
