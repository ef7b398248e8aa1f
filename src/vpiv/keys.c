/*
 * keys.c - the card's cryptography on mbedTLS: random numbers, the
 * management key ciphers, slot key generation/import and private-key
 * operations, attestation certificates.
 */
#include "vpiv_int.h"
#include "raterm/softtoken.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/aes.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/des.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>

rt_err *
vk_rng_init(vpiv *v)
{
	static const char pers[] = "raterm vpiv";
	int rc = mbedtls_ctr_drbg_seed(&v->drbg, mbedtls_entropy_func, &v->entropy,
	    (const unsigned char *)pers, sizeof(pers) - 1);
	if (rc != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "vpiv: seeding DRBG: -0x%04x", -rc);
	return NULL;
}

int
vk_rng(void *ctx, unsigned char *out, size_t len)
{
	vpiv *v = ctx;
	while (len > 0) {
		size_t n = len > 1024 ? 1024 : len;
		int rc = mbedtls_ctr_drbg_random(&v->drbg, out, n);
		if (rc != 0)
			return rc;
		out += n;
		len -= n;
	}
	return 0;
}

size_t
vk_mgmt_block(uint8_t alg)
{
	switch (alg) {
	case VPIV_ALG_3DES: return 8;
	case VPIV_ALG_AES128: case VPIV_ALG_AES192: case VPIV_ALG_AES256: return 16;
	default: return 0;
	}
}

size_t
vk_mgmt_keylen(uint8_t alg)
{
	switch (alg) {
	case VPIV_ALG_3DES: return 24;
	case VPIV_ALG_AES128: return 16;
	case VPIV_ALG_AES192: return 24;
	case VPIV_ALG_AES256: return 32;
	default: return 0;
	}
}

/* One block in ECB mode with the management key. 0 on success. */
int
vk_mgmt_crypt(const vpiv *v, bool encrypt, const uint8_t *in, uint8_t *out)
{
	int rc;
	if (v->mgmt_alg == VPIV_ALG_3DES) {
		mbedtls_des3_context d;
		mbedtls_des3_init(&d);
		rc = encrypt ? mbedtls_des3_set3key_enc(&d, v->mgmt_key)
		    : mbedtls_des3_set3key_dec(&d, v->mgmt_key);
		if (rc == 0)
			rc = mbedtls_des3_crypt_ecb(&d, in, out);
		mbedtls_des3_free(&d);
		return rc;
	}
	mbedtls_aes_context a;
	mbedtls_aes_init(&a);
	unsigned bits = (unsigned)v->mgmt_len * 8;
	rc = encrypt ? mbedtls_aes_setkey_enc(&a, v->mgmt_key, bits)
	    : mbedtls_aes_setkey_dec(&a, v->mgmt_key, bits);
	if (rc == 0)
		rc = mbedtls_aes_crypt_ecb(&a, encrypt ? MBEDTLS_AES_ENCRYPT
		    : MBEDTLS_AES_DECRYPT, in, out);
	mbedtls_aes_free(&a);
	return rc;
}

static size_t
ec_field_bytes(const mbedtls_ecp_keypair *ec)
{
	return (ec->grp.pbits + 7) / 8;
}

rt_err *
vk_generate(vpiv *v, struct vpiv_key *k, uint8_t alg)
{
	int rc;
	mbedtls_pk_context pk;
	mbedtls_pk_init(&pk);
	if (alg == VPIV_ALG_RSA2048) {
		rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
		if (rc == 0)
			rc = mbedtls_rsa_gen_key(mbedtls_pk_rsa(pk), vk_rng, v, 2048, 65537);
	} else if (alg == VPIV_ALG_ECCP256 || alg == VPIV_ALG_ECCP384) {
		rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
		if (rc == 0)
			rc = mbedtls_ecp_gen_key(alg == VPIV_ALG_ECCP256 ?
			    MBEDTLS_ECP_DP_SECP256R1 : MBEDTLS_ECP_DP_SECP384R1,
			    mbedtls_pk_ec(pk), vk_rng, v);
	} else {
		return rt_err_new(RT_E_ARG, NULL, "unsupported key algorithm %02X", alg);
	}
	if (rc != 0) {
		mbedtls_pk_free(&pk);
		return rt_err_new(RT_E_CRYPTO, NULL, "key generation: -0x%04x", -rc);
	}
	vpiv_key_clear(k);
	k->pk = pk;             /* takes over the contexts */
	k->present = true;
	k->alg = alg;
	k->origin = VPIV_ORIGIN_GENERATED;
	return NULL;
}

/* The public key's elements, without the template. */
static void
pubkey_elements(const struct vpiv_key *k, tlv_w *w)
{
	uint8_t buf[600];
	if (mbedtls_pk_get_type(&k->pk) == MBEDTLS_PK_RSA) {
		const mbedtls_rsa_context *r = mbedtls_pk_rsa(k->pk);
		size_t nlen = mbedtls_mpi_size(&r->N), elen = mbedtls_mpi_size(&r->E);
		if (nlen > sizeof(buf) || elen > sizeof(buf) ||
		    mbedtls_mpi_write_binary(&r->N, buf, nlen) != 0) {
			w->overflow = true;
			return;
		}
		tlv_w_put(w, 0x81, buf, nlen);
		if (mbedtls_mpi_write_binary(&r->E, buf, elen) != 0) {
			w->overflow = true;
			return;
		}
		tlv_w_put(w, 0x82, buf, elen);
	} else {
		const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(k->pk);
		size_t olen;
		if (mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q,
		    MBEDTLS_ECP_PF_UNCOMPRESSED, &olen, buf, sizeof(buf)) != 0) {
			w->overflow = true;
			return;
		}
		tlv_w_put(w, 0x86, buf, olen);
	}
}

void
vk_pubkey_tlv(const struct vpiv_key *k, uint32_t tag, tlv_w *w)
{
	size_t m = tlv_w_open(w, tag);
	pubkey_elements(k, w);
	tlv_w_close(w, m);
}

/* SEQUENCE { INTEGER r, INTEGER s } into out (at its start). */
static int
ecdsa_der(const mbedtls_mpi *r, const mbedtls_mpi *s, uint8_t *out, size_t cap,
    size_t *olen)
{
	uint8_t buf[160];
	unsigned char *p = buf + sizeof(buf);
	int len = 0, rc;
	if ((rc = mbedtls_asn1_write_mpi(&p, buf, s)) < 0)
		return rc;
	len += rc;
	if ((rc = mbedtls_asn1_write_mpi(&p, buf, r)) < 0)
		return rc;
	len += rc;
	if ((rc = mbedtls_asn1_write_len(&p, buf, (size_t)len)) < 0)
		return rc;
	len += rc;
	if ((rc = mbedtls_asn1_write_tag(&p, buf,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
		return rc;
	len += rc;
	if ((size_t)len > cap)
		return -1;
	memcpy(out, p, (size_t)len);
	*olen = (size_t)len;
	return 0;
}

uint16_t
vk_sign(vpiv *v, struct vpiv_key *k, const uint8_t *in, size_t inlen,
    uint8_t *out, size_t cap, size_t *olen)
{
	if (mbedtls_pk_get_type(&k->pk) == MBEDTLS_PK_RSA) {
		mbedtls_rsa_context *r = mbedtls_pk_rsa(k->pk);
		size_t n = mbedtls_rsa_get_len(r);
		if (inlen != n || cap < n)
			return SW_WRONG_DATA;
		if (mbedtls_rsa_private(r, vk_rng, v, in, out) != 0)
			return SW_WRONG_DATA;
		*olen = n;
		return SW_OK;
	}
	mbedtls_ecp_keypair *ec = mbedtls_pk_ec(k->pk);
	mbedtls_mpi r, s;
	uint16_t sw = SW_OK;
	if (inlen == 0 || inlen > 128)
		return SW_WRONG_DATA;
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	/* mbedTLS truncates a longer hash to the order's bit length, as ECDSA
	 * specifies; a shorter one is the same integer as its left-padding. */
	if (mbedtls_ecdsa_sign(&ec->grp, &r, &s, &ec->d, in, inlen, vk_rng, v) != 0 ||
	    ecdsa_der(&r, &s, out, cap, olen) != 0)
		sw = SW_UNKNOWN;
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return sw;
}

uint16_t
vk_ecdh(vpiv *v, struct vpiv_key *k, const uint8_t *pt, size_t ptlen,
    uint8_t *out, size_t cap, size_t *olen)
{
	if (mbedtls_pk_get_type(&k->pk) != MBEDTLS_PK_ECKEY)
		return SW_WRONG_P1P2;
	mbedtls_ecp_keypair *ec = mbedtls_pk_ec(k->pk);
	size_t fb = ec_field_bytes(ec);
	mbedtls_ecp_point q;
	mbedtls_mpi z;
	uint16_t sw = SW_OK;
	if (ptlen != 1 + 2 * fb || cap < fb)
		return SW_WRONG_DATA;
	mbedtls_ecp_point_init(&q);
	mbedtls_mpi_init(&z);
	if (mbedtls_ecp_point_read_binary(&ec->grp, &q, pt, ptlen) != 0 ||
	    mbedtls_ecp_check_pubkey(&ec->grp, &q) != 0)
		sw = SW_WRONG_DATA;
	else if (mbedtls_ecdh_compute_shared(&ec->grp, &z, &q, &ec->d, vk_rng, v) != 0 ||
	    mbedtls_mpi_write_binary(&z, out, fb) != 0)
		sw = SW_UNKNOWN;
	else
		*olen = fb;
	mbedtls_ecp_point_free(&q);
	mbedtls_mpi_free(&z);
	return sw;
}

uint16_t
vk_import(vpiv *v, struct vpiv_key *k, uint8_t alg, const uint8_t *data, size_t len)
{
	const uint8_t *val[7] = { 0 };
	size_t vlen[7] = { 0 };
	tlv_cur c;
	tlv_init(&c, data, len);
	while (!tlv_at_end(&c)) {
		uint32_t t;
		const uint8_t *vv;
		size_t l;
		rt_err *e = tlv_next(&c, &t, &vv, &l);
		if (e != NULL) {
			rt_err_free(e);
			return SW_WRONG_DATA;
		}
		if (t >= 1 && t <= 6) {
			val[t] = vv;
			vlen[t] = l;
		} else if (t != 0xAA && t != 0xAB) {
			return SW_WRONG_DATA;
		}
	}
	mbedtls_pk_context pk;
	mbedtls_pk_init(&pk);
	int rc;
	if (alg == VPIV_ALG_RSA2048) {
		for (int i = 1; i <= 5; i++)
			if (val[i] == NULL || vlen[i] == 0 || vlen[i] > 128)
				return SW_WRONG_DATA;
		rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
		if (rc == 0) {
			mbedtls_rsa_context *r = mbedtls_pk_rsa(pk);
			static const uint8_t e65537[] = { 1, 0, 1 };
			rc = mbedtls_rsa_import_raw(r, NULL, 0, val[1], vlen[1], val[2],
			    vlen[2], NULL, 0, e65537, 3);
			if (rc == 0)
				rc = mbedtls_rsa_complete(r);
			if (rc == 0)
				rc = mbedtls_rsa_check_privkey(r);
			if (rc == 0 && mbedtls_rsa_get_len(r) != 256)
				rc = -1;
		}
	} else if (alg == VPIV_ALG_ECCP256 || alg == VPIV_ALG_ECCP384) {
		mbedtls_ecp_group_id gid = alg == VPIV_ALG_ECCP256 ?
		    MBEDTLS_ECP_DP_SECP256R1 : MBEDTLS_ECP_DP_SECP384R1;
		size_t fb = alg == VPIV_ALG_ECCP256 ? 32 : 48;
		if (val[6] == NULL || vlen[6] != fb)
			return SW_WRONG_DATA;
		rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
		if (rc == 0) {
			mbedtls_ecp_keypair *ec = mbedtls_pk_ec(pk);
			rc = mbedtls_ecp_read_key(gid, ec, val[6], vlen[6]);
			if (rc == 0)
				rc = mbedtls_ecp_mul(&ec->grp, &ec->Q, &ec->d, &ec->grp.G,
				    vk_rng, v);
		}
	} else {
		return SW_WRONG_P1P2;
	}
	if (rc != 0) {
		mbedtls_pk_free(&pk);
		return SW_WRONG_DATA;
	}
	vpiv_key_clear(k);
	k->pk = pk;
	k->present = true;
	k->alg = alg;
	k->origin = VPIV_ORIGIN_IMPORTED;
	return SW_OK;
}

void
vk_now(char out[15], long offset_seconds)
{
	time_t t = time(NULL) + offset_seconds;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 15, "%Y%m%d%H%M%S", &tm);
}

/* YYYYMMDDhhmmss UTC -> seconds; -1 if it does not parse */
static time_t
vk_time(const char t[15])
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(t, "%4d%2d%2d%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return (time_t)-1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

static rt_err *
vk_spki(const mbedtls_pk_context *pk, uint8_t *buf, size_t cap,
    const uint8_t **p, size_t *len)
{
	int n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)(uintptr_t)pk,
	    buf, cap);
	if (n <= 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "public key: mbedTLS -0x%04x",
		    (unsigned)-n);
	*p = buf + cap - (size_t)n;
	*len = (size_t)n;
	return NULL;
}

rt_err *
vk_exts_std(vk_exts *x, bool ca, unsigned ku, const mbedtls_pk_context *pub,
    const mbedtls_pk_context *issuer_pub)
{
	uint8_t buf[1200], kid[20];
	const uint8_t *spki = NULL;
	size_t len = 0;
	rt_err *e;
	x->n = 0;
	if ((e = rt_ext_basic_constraints(ca, ca ? 0 : -1, x->bc, sizeof(x->bc),
	    &len)) != NULL)
		return e;
	x->x[x->n++] = (rt_ext){ "2.5.29.19", true, x->bc, len };
	if ((e = rt_ext_key_usage(ku, x->ku, sizeof(x->ku), &len)) != NULL)
		return e;
	x->x[x->n++] = (rt_ext){ "2.5.29.15", true, x->ku, len };
	if ((e = vk_spki(pub, buf, sizeof(buf), &spki, &len)) != NULL ||
	    (e = rt_key_id(spki, len, kid)) != NULL ||
	    (e = rt_ext_ski(kid, sizeof(kid), x->ski, sizeof(x->ski), &len)) !=
	    NULL)
		return e;
	x->x[x->n++] = (rt_ext){ "2.5.29.14", false, x->ski, len };
	if (issuer_pub != NULL) {
		if ((e = vk_spki(issuer_pub, buf, sizeof(buf), &spki, &len)) !=
		    NULL || (e = rt_key_id(spki, len, kid)) != NULL ||
		    (e = rt_ext_aki(kid, sizeof(kid), x->aki, sizeof(x->aki),
		    &len)) != NULL)
			return e;
		x->x[x->n++] = (rt_ext){ "2.5.29.35", false, x->aki, len };
	}
	return NULL;
}

rt_err *
vk_cert_write(vpiv *v, const mbedtls_pk_context *signkey,
    const uint8_t *issuer, size_t issuer_len, const char *subject,
    const mbedtls_pk_context *pub, const char nb[15], const char na[15],
    const rt_ext *exts, size_t nexts, uint8_t **der, size_t *len)
{
	uint8_t name[1024], sn[16], spkibuf[1200];
	const uint8_t *spki = NULL;
	size_t name_len, spki_len = 0;
	rt_signer *s = NULL;
	rt_err *e;

	*der = NULL;
	if ((e = rt_dn_encode(subject, name, sizeof(name), &name_len)) != NULL ||
	    (e = vk_spki(pub, spkibuf, sizeof(spkibuf), &spki, &spki_len)) !=
	    NULL)
		return e;
	vk_rng(v, sn, sizeof(sn));
	sn[0] = (uint8_t)((sn[0] & 0x7F) | 0x40);
	rt_cert_tmpl t = {
		.serial = sn, .serial_len = sizeof(sn),
		.issuer = issuer ? issuer : name,
		.issuer_len = issuer ? issuer_len : name_len,
		.subject = name, .subject_len = name_len,
		.not_before = vk_time(nb), .not_after = vk_time(na),
		.spki = spki, .spki_len = spki_len,
		.exts = exts, .nexts = nexts,
	};
	if (t.not_before == (time_t)-1 || t.not_after == (time_t)-1)
		return rt_err_new(RT_E_ARG, NULL, "validity %s..%s does not parse",
		    nb, na);
	if ((e = rt_signer_key(signkey, "vpiv issuing key", &s)) != NULL)
		return e;
	e = rt_cert_write(&t, s, der, len);
	rt_signer_free(s);
	return e;
}

rt_err *
vk_store_cert(vpiv *v, uint8_t slot, const uint8_t *der, size_t len)
{
	uint32_t tag = vpiv_cert_object(slot);
	if (tag == 0)
		return rt_err_new(RT_E_ARG, NULL, "slot %02X has no certificate object", slot);
	size_t cap = len + 16;
	uint8_t *buf = malloc(cap);
	if (buf == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "certificate object");
	tlv_w w;
	tlv_w_init(&w, buf, cap);
	tlv_w_put(&w, 0x70, der, len);
	tlv_w_put_u8(&w, 0x71, 0x00);
	tlv_w_put(&w, 0xFE, NULL, 0);
	rt_err *e = tlv_w_finish(&w);
	if (e == NULL)
		e = vpiv_obj_set(v, tag, buf, w.len);
	free(buf);
	return e;
}

rt_err *
vk_attestation_init(vpiv *v)
{
	struct vpiv_key *k = &v->keys[vpiv_slot_index(0xF9)];
	rt_err *e = vk_generate(v, k, VPIV_ALG_ECCP256);
	if (e != NULL)
		return e;
	k->pin_policy = VPIV_PIN_NEVER;
	k->touch_policy = VPIV_TOUCH_NEVER;

	char name[128];
	snprintf(name, sizeof(name), "CN=vpiv PIV Attestation %u,O=raterm test",
	    v->serial);
	vk_exts x;
	uint8_t *der = NULL;
	size_t dlen = 0;
	e = vk_exts_std(&x, true, RT_KU_KEY_CERT_SIGN | RT_KU_CRL_SIGN, &k->pk,
	    NULL);
	if (e == NULL)
		e = vk_cert_write(v, &k->pk, NULL, 0, name, &k->pk,
		    "20200101000000", "20991231235959", x.x, x.n, &der, &dlen);
	if (e != NULL)
		return rt_err_wrap(e, "attestation certificate");
	e = vk_store_cert(v, 0xF9, der, dlen);
	free(der);
	return e;
}

static void
fmt_time(const mbedtls_x509_time *t, char out[15])
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%04u%02u%02u%02u%02u%02u",
	    (unsigned)t->year % 10000, (unsigned)t->mon % 100, (unsigned)t->day % 100,
	    (unsigned)t->hour % 100, (unsigned)t->min % 100, (unsigned)t->sec % 100);
	memcpy(out, tmp, 14);
	out[14] = '\0';
}

/* Finds the DER certificate (tag 70) in a slot's certificate object. */
static int
cert_of_object(const vpiv *v, uint32_t tag, const uint8_t **der, size_t *len)
{
	struct vpiv_obj *o = vpiv_obj_find(v, tag);
	if (o == NULL)
		return -1;
	rt_err *e = tlv_find(o->data, o->len, 0x70, der, len);
	if (e != NULL) {
		rt_err_free(e);
		return -1;
	}
	return 0;
}

uint16_t
vk_attest(vpiv *v, uint8_t slot, uint8_t *out, size_t cap, size_t *olen)
{
	int idx = vpiv_slot_index(slot);
	if (idx < 0 || slot == 0xF9)
		return SW_WRONG_P1P2;
	struct vpiv_key *k = &v->keys[idx];
	struct vpiv_key *ak = &v->keys[vpiv_slot_index(0xF9)];
	if (!k->present)
		return SW_REF_NOT_FOUND;
	if (k->origin != VPIV_ORIGIN_GENERATED)
		return SW_WRONG_DATA;
	const uint8_t *ader;
	size_t alen;
	if (!ak->present || cert_of_object(v, 0x5FFF01, &ader, &alen) != 0)
		return SW_REF_NOT_FOUND;

	mbedtls_x509_crt ca;
	mbedtls_x509_crt_init(&ca);
	if (mbedtls_x509_crt_parse_der(&ca, ader, alen) != 0) {
		mbedtls_x509_crt_free(&ca);
		return SW_REF_NOT_FOUND;
	}
	char name[64], nb[15], na[15];
	snprintf(name, sizeof(name), "CN=YubiKey PIV Attestation %02x", slot);
	fmt_time(&ca.valid_from, nb);
	fmt_time(&ca.valid_to, na);

	const uint8_t fw[3] = { VPIV_VERSION_MAJOR, VPIV_VERSION_MINOR, VPIV_VERSION_PATCH };
	const uint8_t pol[2] = { k->pin_policy, k->touch_policy };
	const uint8_t ff[1] = { 0x01 };
	uint8_t snbuf[8];
	size_t snlen = 0;
	{
		/* DER INTEGER of the serial, positive and minimal */
		uint8_t b[5] = { 0, (uint8_t)(v->serial >> 24), (uint8_t)(v->serial >> 16),
		    (uint8_t)(v->serial >> 8), (uint8_t)v->serial };
		size_t s = 0;
		while (s < 4 && b[s] == 0 && !(b[s + 1] & 0x80))
			s++;
		snbuf[0] = 0x02;
		snbuf[1] = (uint8_t)(5 - s);
		memcpy(snbuf + 2, b + s, 5 - s);
		snlen = 2 + 5 - s;
	}

	/* YubiKey's attestation extensions (1.3.6.1.4.1.41482.3.x) */
	const rt_ext exts[] = {
		{ "1.3.6.1.4.1.41482.3.3", false, fw, sizeof(fw) },
		{ "1.3.6.1.4.1.41482.3.7", false, snbuf, snlen },
		{ "1.3.6.1.4.1.41482.3.8", false, pol, sizeof(pol) },
		{ "1.3.6.1.4.1.41482.3.9", false, ff, sizeof(ff) },
	};
	uint8_t *der = NULL;
	size_t dlen = 0;
	rt_err *e = vk_cert_write(v, &ak->pk, ca.subject_raw.p,
	    ca.subject_raw.len, name, &k->pk, nb, na, exts, 4, &der, &dlen);
	mbedtls_x509_crt_free(&ca);
	int rc = e == NULL && dlen <= cap ? 0 : -1;
	rt_err_free(e);
	if (rc == 0) {
		memcpy(out, der, dlen);
		*olen = dlen;
	}
	free(der);
	return rc == 0 ? SW_OK : SW_UNKNOWN;
}
