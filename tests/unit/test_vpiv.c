/* Unit tests of the vpiv card core, driven in process through vpiv_apdu. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <mbedtls/aes.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/des.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "raterm/piv.h"
#include "raterm/tlv.h"
#include "raterm/vpiv.h"
#include "raterm/vpiv_transport.h"

static const uint8_t default_mgmt[24] = {
	1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
};
static const uint8_t piv_aid[11] = {
	0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
};

static mbedtls_entropy_context ent;
static mbedtls_ctr_drbg_context drbg;

static int
group_setup(void **state)
{
	(void)state;
	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	return mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent,
	    (const unsigned char *)"t", 1);
}

static int
group_teardown(void **state)
{
	(void)state;
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&ent);
	return 0;
}

/* ---- APDU helpers ---- */

static uint8_t rbuf[70000];

/* One APDU; returns the SW, data copied to out (if not NULL). */
static uint16_t
tx(vpiv *v, const uint8_t *cmd, size_t n, uint8_t *out, size_t *olen)
{
	size_t rlen = 0;
	rt_err *e = vpiv_apdu(v, cmd, n, rbuf, sizeof(rbuf), &rlen);
	assert_null(e);
	assert_true(rlen >= 2);
	if (out != NULL)
		memcpy(out, rbuf, rlen - 2);
	if (olen != NULL)
		*olen = rlen - 2;
	return (uint16_t)(rbuf[rlen - 2] << 8 | rbuf[rlen - 1]);
}

static size_t
unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	while (*s) {
		if (*s == ' ') {
			s++;
			continue;
		}
		unsigned x;
		sscanf(s, "%2x", &x);
		out[n++] = (uint8_t)x;
		s += 2;
	}
	return n;
}

/* APDU from hex; a 61xx answer is collected with GET RESPONSE. */
static uint16_t
txh(vpiv *v, const char *hex, uint8_t *out, size_t *olen)
{
	uint8_t cmd[600];
	size_t n, got;
	uint16_t sw = tx(v, cmd, unhex(hex, cmd), out, &got);
	while ((sw >> 8) == 0x61) {
		uint8_t gr[5] = { 0x00, 0xC0, 0x00, 0x00, (uint8_t)sw };
		sw = tx(v, gr, 5, out ? out + got : NULL, &n);
		got += n;
	}
	if (olen != NULL)
		*olen = got;
	return sw;
}

/* Command with data (short or extended by size, chained with CLA 10 when
 * chain is set and the data is longer than 255 bytes), response collected
 * through GET RESPONSE. */
static uint16_t
cmd(vpiv *v, uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t *data, size_t len,
    bool chain, uint8_t *out, size_t *olen)
{
	static uint8_t c[70000];
	size_t got = 0, n;
	uint16_t sw;
	size_t off = 0;
	do {
		size_t part = len - off;
		bool more = false;
		if (chain && part > 255) {
			part = 255;
			more = true;
		}
		size_t k = 0;
		c[k++] = more ? 0x10 : 0x00;
		c[k++] = ins;
		c[k++] = p1;
		c[k++] = p2;
		if (part > 255) {
			c[k++] = 0;
			c[k++] = (uint8_t)(part >> 8);
			c[k++] = (uint8_t)part;
		} else if (part > 0) {
			c[k++] = (uint8_t)part;
		}
		memcpy(c + k, data + off, part);
		k += part;
		if (!more) {
			c[k++] = 0x00;  /* Le */
			if (part > 255)
				c[k++] = 0x00;
		}
		sw = tx(v, c, k, out ? out + got : NULL, &n);
		off += part;
		if (more) {
			assert_int_equal(sw, 0x9000);
			assert_int_equal(n, 0);
		}
	} while (off < len);
	got += n;
	while ((sw >> 8) == 0x61) {
		uint8_t gr[5] = { 0x00, 0xC0, 0x00, 0x00, (uint8_t)sw };
		sw = tx(v, gr, 5, out ? out + got : NULL, &n);
		got += n;
	}
	if (olen != NULL)
		*olen = got;
	return sw;
}

static void
select_piv(vpiv *v)
{
	assert_int_equal(txh(v, "00A4040009A00000030800001000", NULL, NULL), 0x9000);
}

static vpiv *
new_card(void)
{
	vpiv *v;
	vpiv_params p = { .serial = 4242 };
	assert_null(vpiv_create(NULL, &p, false, &v));
	select_piv(v);
	return v;
}

static void
mgmt_crypt(uint8_t alg, const uint8_t *key, size_t klen, bool enc,
    const uint8_t *in, uint8_t *out)
{
	if (alg == VPIV_ALG_3DES) {
		mbedtls_des3_context d;
		mbedtls_des3_init(&d);
		assert_int_equal(enc ? mbedtls_des3_set3key_enc(&d, key)
		    : mbedtls_des3_set3key_dec(&d, key), 0);
		assert_int_equal(mbedtls_des3_crypt_ecb(&d, in, out), 0);
		mbedtls_des3_free(&d);
	} else {
		mbedtls_aes_context a;
		mbedtls_aes_init(&a);
		assert_int_equal(enc ? mbedtls_aes_setkey_enc(&a, key, (unsigned)klen * 8)
		    : mbedtls_aes_setkey_dec(&a, key, (unsigned)klen * 8), 0);
		assert_int_equal(mbedtls_aes_crypt_ecb(&a, enc ? MBEDTLS_AES_ENCRYPT
		    : MBEDTLS_AES_DECRYPT, in, out), 0);
		mbedtls_aes_free(&a);
	}
}

/* Mutual authentication as yubico-piv-tool does it; returns the SW of
 * the second step (0 if the host rejected the card's answer). */
static uint16_t
mgmt_auth(vpiv *v, uint8_t alg, const uint8_t *key, size_t klen)
{
	size_t blk = alg == VPIV_ALG_3DES ? 8 : 16;
	uint8_t c[64] = { 0x00, 0x87, alg, 0x9B, 0x04, 0x7C, 0x02, 0x80, 0x00 };
	uint8_t r[64], w[16], chal[16], exp[16];
	size_t n;
	uint16_t sw = tx(v, c, 9, r, &n);
	if (sw != 0x9000)
		return sw;
	assert_int_equal(n, 4 + blk);
	assert_int_equal(r[0], 0x7C);
	assert_int_equal(r[2], 0x80);
	mgmt_crypt(alg, key, klen, false, r + 4, w);
	assert_int_equal(mbedtls_ctr_drbg_random(&drbg, chal, blk), 0);
	size_t k = 0;
	c[k++] = 0x00; c[k++] = 0x87; c[k++] = alg; c[k++] = 0x9B;
	c[k++] = (uint8_t)(4 + 2 * blk + 2);
	c[k++] = 0x7C; c[k++] = (uint8_t)(2 * blk + 4);
	c[k++] = 0x80; c[k++] = (uint8_t)blk; memcpy(c + k, w, blk); k += blk;
	c[k++] = 0x81; c[k++] = (uint8_t)blk; memcpy(c + k, chal, blk); k += blk;
	sw = tx(v, c, k, r, &n);
	if (sw != 0x9000)
		return sw;
	assert_int_equal(n, 4 + blk);
	assert_int_equal(r[2], 0x82);
	mgmt_crypt(alg, key, klen, true, chal, exp);
	return memcmp(exp, r + 4, blk) == 0 ? 0x9000 : 0;
}

static void
auth_default(vpiv *v)
{
	assert_int_equal(mgmt_auth(v, VPIV_ALG_3DES, default_mgmt, 24), 0x9000);
}

static void
verify_pin(vpiv *v, const char *pin)
{
	uint8_t c[13] = { 0x00, 0x20, 0x00, 0x80, 0x08 };
	memset(c + 5, 0xFF, 8);
	memcpy(c + 5, pin, strlen(pin));
	assert_int_equal(tx(v, c, 13, NULL, NULL), 0x9000);
}

/* Generates a key; returns the 7F49 value in pub. */
static void
generate(vpiv *v, uint8_t slot, uint8_t alg, uint8_t *pub, size_t *plen)
{
	uint8_t d[5] = { 0xAC, 0x03, 0x80, 0x01, alg };
	uint8_t r[600];
	size_t n;
	assert_int_equal(cmd(v, 0x47, 0x00, slot, d, 5, false, r, &n), 0x9000);
	const uint8_t *val;
	size_t vlen;
	tlv_cur cur;
	tlv_init(&cur, r, n);
	assert_null(tlv_expect(&cur, 0x7F49, &val, &vlen));
	assert_null(tlv_end(&cur));
	memcpy(pub, val, vlen);
	*plen = vlen;
}

/* GENERAL AUTHENTICATE 7C{82 00, 81 in}; returns SW and the 82 value. */
static uint16_t
sign_raw(vpiv *v, uint8_t alg, uint8_t slot, const uint8_t *in, size_t inlen,
    uint8_t *sig, size_t *slen)
{
	uint8_t d[600], r[600];
	tlv_w w;
	size_t n;
	tlv_w_init(&w, d, sizeof(d));
	size_t m = tlv_w_open(&w, 0x7C);
	tlv_w_put(&w, 0x82, NULL, 0);
	tlv_w_put(&w, 0x81, in, inlen);
	tlv_w_close(&w, m);
	assert_null(tlv_w_finish(&w));
	uint16_t sw = cmd(v, 0x87, alg, slot, d, w.len, true, r, &n);
	if (sw != 0x9000)
		return sw;
	const uint8_t *dyn, *val;
	size_t dl, vl;
	assert_null(tlv_find(r, n, 0x7C, &dyn, &dl));
	assert_null(tlv_find(dyn, dl, 0x82, &val, &vl));
	memcpy(sig, val, vl);
	*slen = vl;
	return sw;
}

static void
ec_verify(mbedtls_ecp_group_id gid, const uint8_t *pub7f49, size_t plen,
    const uint8_t *hash, size_t hlen, const uint8_t *sig, size_t slen)
{
	const uint8_t *pt;
	size_t ptl;
	assert_null(tlv_find(pub7f49, plen, 0x86, &pt, &ptl));
	mbedtls_ecdsa_context ec;
	mbedtls_ecdsa_init(&ec);
	assert_int_equal(mbedtls_ecp_group_load(&ec.grp, gid), 0);
	assert_int_equal(mbedtls_ecp_point_read_binary(&ec.grp, &ec.Q, pt, ptl), 0);
	assert_int_equal(mbedtls_ecdsa_read_signature(&ec, hash, hlen, sig, slen), 0);
	mbedtls_ecdsa_free(&ec);
}

/* ---- tests ---- */

static void
test_atr(void **state)
{
	(void)state;
	vpiv *v;
	uint8_t atr[33];
	assert_null(vpiv_open(NULL, &v));
	size_t n = vpiv_atr(v, atr, sizeof(atr));
	assert_true(n >= 2 && n <= 33);
	assert_int_equal(atr[0], 0x3B);
	uint8_t x = 0;
	for (size_t i = 1; i < n; i++)
		x ^= atr[i];
	assert_int_equal(x, 0);   /* TCK */
	/* historical bytes: compact TLV 73 with extended length bit */
	size_t k = atr[1] & 0x0F;
	const uint8_t *h = atr + n - 1 - k;
	assert_int_equal(h[0], 0x80);
	assert_int_equal(h[1], 0x73);
	assert_true(h[4] & 0x40);
	vpiv_free(v);
}

static void
test_select(void **state)
{
	(void)state;
	vpiv *v;
	uint8_t r[300];
	size_t n;
	assert_null(vpiv_open(NULL, &v));
	assert_int_equal(txh(v, "00FD0000", NULL, NULL), 0x6D00);  /* not selected */
	assert_int_equal(txh(v, "00A4040005A000000309", NULL, NULL), 0x6A82);
	assert_int_equal(txh(v, "00A404000CA000000308", r, &n), 0x6700);
	assert_int_equal(txh(v, "00A404000BA000000308000010000100 00", r, &n), 0x9000);
	const uint8_t *apt, *val;
	size_t al, vl;
	tlv_cur c;
	tlv_init(&c, r, n);
	assert_null(tlv_expect(&c, 0x61, &apt, &al));
	assert_null(tlv_end(&c));
	assert_null(tlv_find(apt, al, 0x4F, &val, &vl));
	assert_int_equal(vl, 6);
	assert_memory_equal(val, piv_aid + 5, 6);
	assert_null(tlv_find(apt, al, 0x79, &val, &vl));
	assert_null(tlv_find(apt, al, 0x50, &val, &vl));
	assert_null(tlv_find(apt, al, 0xAC, &val, &vl));
	const uint8_t *oid;
	size_t ol;
	assert_null(tlv_find(val, vl, 0x06, &oid, &ol));
	/* partial AID */
	assert_int_equal(txh(v, "00A4040005A000000308", NULL, NULL), 0x9000);
	assert_int_equal(txh(v, "00FD0000", r, &n), 0x9000);
	assert_int_equal(n, 3);
	assert_memory_equal(r, "\x05\x04\x03", 3);
	assert_int_equal(txh(v, "00F80000", r, &n), 0x9000);
	assert_int_equal(n, 4);
	assert_int_equal((uint32_t)r[0] << 24 | r[1] << 16 | r[2] << 8 | r[3], vpiv_serial(v));
	vpiv_free(v);
}

static void
test_apdu_errors(void **state)
{
	(void)state;
	vpiv *v = new_card();
	assert_int_equal(txh(v, "00A404", NULL, NULL), 0x6700);
	assert_int_equal(txh(v, "00CB3FFF055C035FC1", NULL, NULL), 0x6700);
	assert_int_equal(txh(v, "80FD0000", NULL, NULL), 0x6E00);
	assert_int_equal(txh(v, "00120000", NULL, NULL), 0x6D00);
	assert_int_equal(txh(v, "00C0000000", NULL, NULL), 0x6985);
	assert_int_equal(txh(v, "00CB3FFE055C035FC10200", NULL, NULL), 0x6A86);
	assert_int_equal(txh(v, "00CB3FFF045C035FC1", NULL, NULL), 0x6A80);
	uint8_t small[2];
	size_t rlen;
	uint8_t c[4] = { 0, 0xFD, 0, 0 };
	rt_err *e = vpiv_apdu(v, c, 4, small, 1, &rlen);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_ARG);
	rt_err_free(e);
	vpiv_free(v);
}

static void
test_get_data(void **state)
{
	(void)state;
	vpiv *v = new_card();
	uint8_t r[4096], g[16];
	size_t n;
	const uint8_t *val, *x;
	size_t vl, xl;

	assert_int_equal(txh(v, "00CB3FFF035C017E00", r, &n), 0x9000);
	assert_null(tlv_find(r, n, 0x7E, &val, &vl));
	assert_null(tlv_find(val, vl, 0x4F, &x, &xl));
	assert_memory_equal(x, piv_aid, 11);
	assert_null(tlv_find(val, vl, 0x5F2F, &x, &xl));

	assert_int_equal(txh(v, "00CB3FFF055C035FC10200", r, &n), 0x9000);
	tlv_cur c;
	tlv_init(&c, r, n);
	assert_null(tlv_expect(&c, 0x53, &val, &vl));
	assert_null(tlv_end(&c));
	assert_null(tlv_find(val, vl, 0x30, &x, &xl));
	assert_int_equal(xl, 25);
	assert_null(tlv_find(val, vl, 0x34, &x, &xl));
	assert_int_equal(xl, 16);
	vpiv_guid(v, g);
	assert_memory_equal(x, g, 16);
	assert_null(tlv_find(val, vl, 0x35, &x, &xl));
	assert_int_equal(xl, 8);
	assert_null(tlv_find(val, vl, 0x3E, &x, &xl));
	assert_int_equal(xl, 0);
	assert_null(tlv_find(val, vl, 0xFE, &x, &xl));

	assert_int_equal(txh(v, "00CB3FFF055C035FC10700", r, &n), 0x9000);  /* CCC */
	assert_int_equal(txh(v, "00CB3FFF055C035FC10600", r, &n), 0x6A82);  /* security object */
	assert_int_equal(txh(v, "00CB3FFF055C035FC10500", r, &n), 0x6A82);  /* empty 9A */
	assert_int_equal(txh(v, "00CB3FFF055C035FC10900", r, &n), 0x6982);  /* printed: PIN */
	assert_int_equal(txh(v, "00CB3FFF055C035FFF0100", r, &n), 0x9000);  /* attestation */
	vpiv_free(v);
}

static void
test_put_get_chaining(void **state)
{
	(void)state;
	vpiv *v = new_card();
	static uint8_t obj[3000], d[3100], r[70000];
	size_t n;
	for (size_t i = 0; i < sizeof(obj); i++)
		obj[i] = (uint8_t)(i * 7);
	tlv_w w;
	tlv_w_init(&w, d, sizeof(d));
	tlv_w_put(&w, 0x5C, "\x5F\xC1\x05", 3);
	size_t m = tlv_w_open(&w, 0x53);
	tlv_w_put(&w, 0x70, obj, 2990);
	tlv_w_put(&w, 0x71, "\x00", 1);
	tlv_w_put(&w, 0xFE, NULL, 0);
	tlv_w_close(&w, m);
	assert_null(tlv_w_finish(&w));

	assert_int_equal(cmd(v, 0xDB, 0x3F, 0xFF, d, w.len, true, NULL, NULL), 0x6982);
	auth_default(v);
	assert_int_equal(cmd(v, 0xDB, 0x3F, 0xFF, d, w.len, true, NULL, NULL), 0x9000);

	/* short Le: 61xx chaining */
	uint64_t before = vpiv_apdu_count(v);
	assert_int_equal(cmd(v, 0xCB, 0x3F, 0xFF, d, 5, false, r, &n), 0x9000);
	assert_int_equal(n, w.len - 5);
	assert_memory_equal(r, d + 5, n);
	uint64_t apdus = vpiv_apdu_count(v) - before;
	assert_int_equal(apdus, (n + 255) / 256);

	/* a reader that takes 100 bytes at a time */
	vpiv_set_max_short_response(v, 100);
	before = vpiv_apdu_count(v);
	assert_int_equal(cmd(v, 0xCB, 0x3F, 0xFF, d, 5, false, r, &n), 0x9000);
	assert_int_equal(n, w.len - 5);
	assert_int_equal(vpiv_apdu_count(v) - before, (n + 99) / 100);
	vpiv_set_max_short_response(v, 256);

	/* short Le smaller than the data: Le bytes then 61xx */
	uint8_t c1[11] = { 0x00, 0xCB, 0x3F, 0xFF, 0x05, 0x5C, 0x03, 0x5F, 0xC1, 0x05, 0x10 };
	uint16_t sw = tx(v, c1, 11, r, &n);
	assert_int_equal(n, 16);
	assert_int_equal(sw, 0x6100);

	/* extended Le: all in one response */
	uint8_t c2[13] = { 0x00, 0xCB, 0x3F, 0xFF, 0x00, 0x00, 0x05, 0x5C, 0x03, 0x5F,
	    0xC1, 0x05 };
	c2[12] = 0;
	uint8_t c3[14];
	memcpy(c3, c2, 12);
	c3[12] = 0x00;
	c3[13] = 0x00;
	assert_int_equal(tx(v, c3, 14, r, &n), 0x9000);
	assert_int_equal(n, w.len - 5);
	assert_memory_equal(r, d + 5, n);

	/* extended Lc, no chaining */
	assert_int_equal(cmd(v, 0xDB, 0x3F, 0xFF, d, w.len, false, NULL, NULL), 0x9000);

	/* a chain abandoned by another command is dropped */
	uint8_t part[260] = { 0x10, 0xDB, 0x3F, 0xFF, 0xFF };
	memcpy(part + 5, d, 255);
	assert_int_equal(tx(v, part, 260, NULL, NULL), 0x9000);
	assert_int_equal(txh(v, "00FD0000", r, &n), 0x9000);
	assert_int_equal(n, 3);

	/* delete with empty 53 */
	assert_int_equal(txh(v, "00DB3FFF075C035FC1055300", NULL, NULL), 0x9000);
	assert_int_equal(txh(v, "00CB3FFF055C035FC10500", r, &n), 0x6A82);
	/* unknown object */
	assert_int_equal(txh(v, "00DB3FFF085C03123456530100", NULL, NULL), 0x6A80);
	/* discovery written directly with its own tag */
	assert_int_equal(txh(v, "00DB3FFF0F7E0D4F06A000000308005F2F024000", NULL, NULL),
	    0x9000);
	assert_int_equal(txh(v, "00CB3FFF035C017E00", r, &n), 0x9000);
	assert_int_equal(n, 15);
	assert_memory_equal(r, "\x7E\x0D\x4F\x06", 4);
	vpiv_free(v);
}

static void
test_pin(void **state)
{
	(void)state;
	vpiv *v = new_card();
	uint8_t r[64];
	size_t n;
	assert_int_equal(txh(v, "0020008000", NULL, NULL), 0x63C3);
	assert_int_equal(txh(v, "00200080", NULL, NULL), 0x63C3);
	assert_int_equal(txh(v, "002000800831323334353637FF", NULL, NULL), 0x63C2);
	assert_int_equal(txh(v, "0020008006313233343536", NULL, NULL), 0x6A80);
	verify_pin(v, "123456");
	assert_int_equal(txh(v, "00200080", NULL, NULL), 0x9000);
	assert_int_equal(txh(v, "0020FF80", NULL, NULL), 0x9000);
	assert_int_equal(txh(v, "00200080", NULL, NULL), 0x63C3);
	assert_int_equal(txh(v, "00200081", NULL, NULL), 0x6A88);

	/* block the PIN */
	assert_int_equal(txh(v, "002000800831313131313131FF", NULL, NULL), 0x63C2);
	assert_int_equal(txh(v, "002000800831313131313131FF", NULL, NULL), 0x63C1);
	assert_int_equal(txh(v, "002000800831313131313131FF", NULL, NULL), 0x63C0);
	assert_int_equal(txh(v, "0020008008313233343536FFFF", NULL, NULL), 0x6983);
	assert_int_equal(txh(v, "00200080", NULL, NULL), 0x6983);
	assert_int_equal(txh(v, "00F7008000", r, &n), 0x9000);
	const uint8_t *val;
	size_t vl;
	assert_null(tlv_find(r, n, 0x06, &val, &vl));
	assert_int_equal(vl, 2);
	assert_int_equal(val[0], 3);
	assert_int_equal(val[1], 0);
	int pt, pl, ut, ul;
	vpiv_retries(v, &pt, &pl, &ut, &ul);
	assert_int_equal(pl, 0);

	/* unblock: wrong PUK, then right PUK with a new PIN */
	assert_int_equal(txh(v, "002C0080103131313131313131 363534333231FFFF", NULL, NULL),
	    0x63C2);
	assert_int_equal(txh(v, "002C00801031323334353637 38 3635343332 31FFFF", NULL, NULL),
	    0x9000);
	assert_int_equal(txh(v, "0020008008313233343536FFFF", NULL, NULL), 0x63C2);
	verify_pin(v, "654321");
	assert_int_equal(txh(v, "00F7008100", r, &n), 0x9000);
	assert_null(tlv_find(r, n, 0x06, &val, &vl));
	assert_int_equal(val[1], 3);

	/* change PIN: wrong old, bad new format, then right */
	assert_int_equal(txh(v, "0024008010313131313131FFFF 3131FFFFFFFFFFFF", NULL, NULL),
	    0x6A80);
	assert_int_equal(txh(v, "0024008010313131313131FFFF 31313232333334FF", NULL, NULL),
	    0x63C2);
	assert_int_equal(txh(v, "0024008010363534333231FFFF 31313232333334FF", NULL, NULL),
	    0x9000);
	verify_pin(v, "1122334");
	/* change PUK */
	assert_int_equal(txh(v, "00240081103132333435363738 3837363534333231", NULL, NULL),
	    0x9000);
	assert_int_equal(txh(v, "00F7008100", r, &n), 0x9000);
	assert_null(tlv_find(r, n, 0x05, &val, &vl));
	assert_int_equal(val[0], 0);   /* no longer the default */
	vpiv_free(v);
}

static void
test_mgmt_auth(void **state)
{
	(void)state;
	vpiv *v = new_card();
	uint8_t wrong[24];
	memcpy(wrong, default_mgmt, 24);
	wrong[0] ^= 0x10;
	assert_int_equal(mgmt_auth(v, VPIV_ALG_3DES, wrong, 24), 0x6982);
	assert_int_equal(mgmt_auth(v, VPIV_ALG_AES192, default_mgmt, 24), 0x6A86);
	auth_default(v);
	/* step 2 without step 1 */
	uint8_t r[64];
	size_t n;
	assert_int_equal(txh(v, "0087039B167C14 8008 0102030405060708 8108 0102030405060708",
	    r, &n), 0x6982);

	/* external authentication: 81 00, then 82 = E(challenge) */
	assert_int_equal(txh(v, "0087039B047C02810000", r, &n), 0x9000);
	assert_int_equal(n, 12);
	uint8_t c[32] = { 0x00, 0x87, 0x03, 0x9B, 0x0C, 0x7C, 0x0A, 0x82, 0x08 };
	mgmt_crypt(VPIV_ALG_3DES, default_mgmt, 24, true, r + 4, c + 9);
	assert_int_equal(tx(v, c, 17, NULL, NULL), 0x9000);

	/* SET MANAGEMENT KEY to AES-128, then authenticate with it */
	static const uint8_t aes[16] = { 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8,
	    0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8 };
	uint8_t sm[24] = { 0x00, 0xFF, 0xFF, 0xFF, 19, 0x08, 0x9B, 16 };
	memcpy(sm + 8, aes, 16);
	assert_int_equal(tx(v, sm, 24, NULL, NULL), 0x9000);
	assert_int_equal(txh(v, "00F7009B00", r, &n), 0x9000);
	const uint8_t *val;
	size_t vl;
	assert_null(tlv_find(r, n, 0x01, &val, &vl));
	assert_int_equal(val[0], VPIV_ALG_AES128);
	assert_null(tlv_find(r, n, 0x05, &val, &vl));
	assert_int_equal(val[0], 0);
	select_piv(v);
	assert_int_equal(mgmt_auth(v, VPIV_ALG_3DES, default_mgmt, 24), 0x6A86);
	assert_int_equal(mgmt_auth(v, VPIV_ALG_AES128, aes, 16), 0x9000);
	vpiv_free(v);

	/* cards created with AES-192 (default key) and AES-256 */
	vpiv_params p = { .mgmt_alg = VPIV_ALG_AES192 };
	assert_null(vpiv_create(NULL, &p, false, &v));
	select_piv(v);
	assert_int_equal(mgmt_auth(v, VPIV_ALG_AES192, default_mgmt, 24), 0x9000);
	vpiv_free(v);
	uint8_t k256[32];
	for (int i = 0; i < 32; i++)
		k256[i] = (uint8_t)(0x40 + i);
	p.mgmt_alg = VPIV_ALG_AES256;
	p.mgmt_key = k256;
	p.mgmt_len = 32;
	assert_null(vpiv_create(NULL, &p, false, &v));
	select_piv(v);
	assert_int_equal(mgmt_auth(v, VPIV_ALG_AES256, k256, 32), 0x9000);
	vpiv_free(v);
	p.mgmt_key = NULL;
	rt_err *e = vpiv_create(NULL, &p, false, &v);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_ARG);
	rt_err_free(e);
}

/* GET METADATA on 80 / 81 / 9B answers like a YubiKey 5.3+: the PIN and
 * PUK with algorithm FF, "default value" (05) and retries (06); the
 * management key with its algorithm, policy and 05. The card layer's
 * piv_default_creds reads it without spending a try. */
static void
test_default_creds(void **state)
{
	(void)state;
	vpiv *v = new_card();
	uint8_t r[64];
	size_t n;
	uint8_t ypin[] = { 0x01, 0x01, 0xFF, 0x05, 0x01, 0x01, 0x06, 0x02, 0x03, 0x03 };
	assert_int_equal(txh(v, "00F7008000", r, &n), 0x9000);
	assert_int_equal(n, sizeof(ypin));
	assert_memory_equal(r, ypin, n);
	assert_int_equal(txh(v, "00F7008100", r, &n), 0x9000);
	assert_memory_equal(r, ypin, n);
	uint8_t ymgm[] = { 0x01, 0x01, 0x03, 0x02, 0x02, 0x00, 0x01, 0x05, 0x01, 0x01 };
	assert_int_equal(txh(v, "00F7009B00", r, &n), 0x9000);
	assert_int_equal(n, sizeof(ymgm));
	assert_memory_equal(r, ymgm, n);

	/* through the card layer */
	rt_transport *t;
	piv_card *c;
	unsigned def, known;
	assert_null(rt_vpiv_transport(v, false, "inproc", &t));
	assert_null(piv_open(t, &c));
	assert_null(piv_default_creds(c, &def, &known));
	assert_int_equal(known, PIV_DEFAULT_PIN | PIV_DEFAULT_PUK | PIV_DEFAULT_MGMT);
	assert_int_equal(def, PIV_DEFAULT_PIN | PIV_DEFAULT_PUK | PIV_DEFAULT_MGMT);
	int left;
	assert_null(piv_pin_retries(c, &left));
	assert_int_equal(left, 3);	/* no try spent */
	/* a new PIN: only the PUK and the management key stay default */
	assert_null(piv_change_ref(c, false, "123456", 6, "24681357", 8));
	assert_null(piv_default_creds(c, &def, NULL));
	assert_int_equal(def, PIV_DEFAULT_PUK | PIV_DEFAULT_MGMT);
	assert_null(piv_change_ref(c, true, "12345678", 8, "87654321", 8));
	/* the PIN set back to the default value with the PUK is default again */
	assert_null(piv_unblock_pin(c, "87654321", 8, "123456", 6));
	assert_null(piv_default_creds(c, &def, NULL));
	assert_int_equal(def, PIV_DEFAULT_PIN | PIV_DEFAULT_MGMT);
	assert_null(piv_change_ref(c, false, "123456", 6, "135791", 6));
	/* a new management key */
	assert_null(piv_auth_mgmt(c, PIV_ALG_3DES, default_mgmt, 24));
	uint8_t sm[32] = { 0x00, 0xFF, 0xFF, 0xFF, 27, 0x03, 0x9B, 24 };
	for (int i = 0; i < 24; i++)
		sm[8 + i] = (uint8_t)(0x30 + i);
	assert_int_equal(tx(v, sm, 32, NULL, NULL), 0x9000);
	assert_null(piv_default_creds(c, &def, &known));
	assert_int_equal(def, 0);
	assert_int_equal(known, PIV_DEFAULT_PIN | PIV_DEFAULT_PUK | PIV_DEFAULT_MGMT);
	piv_close(c);
	rt_transport_close(t);
	vpiv_free(v);

	/* a card created with its own PIN and PUK */
	vpiv_params p = { .serial = 7, .pin = "13572468", .puk = "24681357" };
	assert_null(vpiv_create(NULL, &p, false, &v));
	assert_null(rt_vpiv_transport(v, false, "inproc", &t));
	assert_null(piv_open(t, &c));
	assert_null(piv_default_creds(c, &def, NULL));
	assert_int_equal(def, PIV_DEFAULT_MGMT);
	piv_close(c);
	rt_transport_close(t);
	vpiv_free(v);
}

static void
test_generate_sign_ec(void **state)
{
	(void)state;
	vpiv *v = new_card();
	uint8_t pub[200], sig[200], hash[32], r[300];
	size_t pl, sl, n;
	uint8_t gen[5] = { 0xAC, 0x03, 0x80, 0x01, 0x11 };
	assert_int_equal(cmd(v, 0x47, 0, 0x9A, gen, 5, false, r, &n), 0x6982);
	auth_default(v);
	assert_int_equal(cmd(v, 0x47, 0, 0x9B, gen, 5, false, r, &n), 0x6A86);
	gen[4] = 0x99;
	assert_int_equal(cmd(v, 0x47, 0, 0x9A, gen, 5, false, r, &n), 0x6A80);
	generate(v, 0x9A, VPIV_ALG_ECCP256, pub, &pl);
	assert_int_equal(pl, 2 + 65);

	assert_int_equal(mbedtls_sha256_ret((const unsigned char *)"to be signed", 12, hash, 0), 0);
	assert_int_equal(sign_raw(v, 0x11, 0x9A, hash, 32, sig, &sl), 0x6982);
	verify_pin(v, "123456");
	assert_int_equal(sign_raw(v, 0x14, 0x9A, hash, 32, sig, &sl), 0x6A86);
	assert_int_equal(sign_raw(v, 0x11, 0x9A, hash, 32, sig, &sl), 0x9000);
	ec_verify(MBEDTLS_ECP_DP_SECP256R1, pub, pl, hash, 32, sig, sl);
	/* PIN once: a second signature needs no new VERIFY */
	assert_int_equal(sign_raw(v, 0x11, 0x9A, hash, 32, sig, &sl), 0x9000);
	ec_verify(MBEDTLS_ECP_DP_SECP256R1, pub, pl, hash, 32, sig, sl);
	assert_int_equal(sign_raw(v, 0x11, 0x82, hash, 32, sig, &sl), 0x6A88);

	/* 9C: P-384, PIN always */
	uint8_t pub2[200];
	size_t pl2;
	generate(v, 0x9C, VPIV_ALG_ECCP384, pub2, &pl2);
	assert_int_equal(pl2, 2 + 97);
	uint8_t h48[48];
	memset(h48, 0x5A, sizeof(h48));
	assert_int_equal(sign_raw(v, 0x14, 0x9C, h48, 48, sig, &sl), 0x6982);
	verify_pin(v, "123456");
	assert_int_equal(txh(v, "00FD0000", NULL, NULL), 0x9000);
	assert_int_equal(sign_raw(v, 0x14, 0x9C, h48, 48, sig, &sl), 0x6982);
	verify_pin(v, "123456");
	assert_int_equal(sign_raw(v, 0x14, 0x9C, h48, 48, sig, &sl), 0x9000);
	ec_verify(MBEDTLS_ECP_DP_SECP384R1, pub2, pl2, h48, 48, sig, sl);
	assert_int_equal(sign_raw(v, 0x14, 0x9C, h48, 48, sig, &sl), 0x6982);
	verify_pin(v, "123456");
	/* a SHA-256 hash with a P-384 key */
	assert_int_equal(sign_raw(v, 0x14, 0x9C, hash, 32, sig, &sl), 0x9000);
	ec_verify(MBEDTLS_ECP_DP_SECP384R1, pub2, pl2, hash, 32, sig, sl);

	/* 9E: PIN never, works after a power cycle */
	uint8_t pub3[200];
	size_t pl3;
	generate(v, 0x9E, VPIV_ALG_ECCP256, pub3, &pl3);
	vpiv_reset(v);
	assert_int_equal(txh(v, "00FD0000", NULL, NULL), 0x6D00);
	select_piv(v);
	assert_int_equal(sign_raw(v, 0x11, 0x9E, hash, 32, sig, &sl), 0x9000);
	ec_verify(MBEDTLS_ECP_DP_SECP256R1, pub3, pl3, hash, 32, sig, sl);
	assert_int_equal(sign_raw(v, 0x11, 0x9A, hash, 32, sig, &sl), 0x6982);

	/* metadata */
	assert_int_equal(txh(v, "00F7009A00", r, &n), 0x9000);
	const uint8_t *val;
	size_t vl;
	assert_null(tlv_find(r, n, 0x01, &val, &vl));
	assert_int_equal(val[0], 0x11);
	assert_null(tlv_find(r, n, 0x02, &val, &vl));
	assert_int_equal(vl, 2);
	assert_int_equal(val[0], VPIV_PIN_ONCE);
	assert_int_equal(val[1], VPIV_TOUCH_NEVER);
	assert_null(tlv_find(r, n, 0x03, &val, &vl));
	assert_int_equal(val[0], VPIV_ORIGIN_GENERATED);
	assert_null(tlv_find(r, n, 0x04, &val, &vl));
	assert_int_equal(vl, pl);
	assert_memory_equal(val, pub, pl);
	assert_int_equal(txh(v, "00F7009C00", r, &n), 0x9000);
	assert_null(tlv_find(r, n, 0x02, &val, &vl));
	assert_int_equal(val[0], VPIV_PIN_ALWAYS);
	assert_int_equal(txh(v, "00F7008200", r, &n), 0x6A88);
	vpiv_free(v);
}

static void
test_policies_and_ecdh(void **state)
{
	(void)state;
	vpiv *v = new_card();
	uint8_t r[300], pub[200];
	size_t n, pl;
	auth_default(v);
	/* 9D with PIN policy never via AA */
	uint8_t gen[8] = { 0xAC, 0x06, 0x80, 0x01, 0x11, 0xAA, 0x01, 0x01 };
	assert_int_equal(cmd(v, 0x47, 0, 0x9D, gen, 8, false, r, &n), 0x9000);
	const uint8_t *pv, *pt;
	size_t pvl, ptl;
	assert_null(tlv_find(r, n, 0x7F49, &pv, &pvl));
	memcpy(pub, pv, pvl);
	pl = pvl;
	assert_null(tlv_find(pub, pl, 0x86, &pt, &ptl));

	/* host key */
	mbedtls_ecp_group g;
	mbedtls_mpi d, z, zc;
	mbedtls_ecp_point q, cq;
	mbedtls_ecp_group_init(&g);
	mbedtls_mpi_init(&d);
	mbedtls_mpi_init(&z);
	mbedtls_mpi_init(&zc);
	mbedtls_ecp_point_init(&q);
	mbedtls_ecp_point_init(&cq);
	assert_int_equal(mbedtls_ecp_group_load(&g, MBEDTLS_ECP_DP_SECP256R1), 0);
	assert_int_equal(mbedtls_ecdh_gen_public(&g, &d, &q, mbedtls_ctr_drbg_random, &drbg), 0);
	uint8_t hq[65];
	size_t hql;
	assert_int_equal(mbedtls_ecp_point_write_binary(&g, &q, MBEDTLS_ECP_PF_UNCOMPRESSED,
	    &hql, hq, sizeof(hq)), 0);
	uint8_t ga[80] = { 0x7C, 0x45, 0x82, 0x00, 0x85, 0x41 };
	memcpy(ga + 6, hq, 65);
	assert_int_equal(cmd(v, 0x87, 0x11, 0x9D, ga, 71, false, r, &n), 0x9000);
	const uint8_t *dyn, *sx;
	size_t dl, sxl;
	assert_null(tlv_find(r, n, 0x7C, &dyn, &dl));
	assert_null(tlv_find(dyn, dl, 0x82, &sx, &sxl));
	assert_int_equal(sxl, 32);
	assert_int_equal(mbedtls_ecp_point_read_binary(&g, &cq, pt, ptl), 0);
	assert_int_equal(mbedtls_ecdh_compute_shared(&g, &zc, &cq, &d,
	    mbedtls_ctr_drbg_random, &drbg), 0);
	uint8_t exp[32];
	assert_int_equal(mbedtls_mpi_write_binary(&zc, exp, 32), 0);
	assert_memory_equal(exp, sx, 32);
	/* a point not on the curve */
	ga[6 + 64] ^= 1;
	assert_int_equal(cmd(v, 0x87, 0x11, 0x9D, ga, 71, false, r, &n), 0x6A80);
	mbedtls_ecp_group_free(&g);
	mbedtls_mpi_free(&d);
	mbedtls_mpi_free(&z);
	mbedtls_mpi_free(&zc);
	mbedtls_ecp_point_free(&q);
	mbedtls_ecp_point_free(&cq);

	/* import an EC key into 82 and sign with it */
	mbedtls_ecp_keypair kp;
	mbedtls_ecp_keypair_init(&kp);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, &kp,
	    mbedtls_ctr_drbg_random, &drbg), 0);
	uint8_t imp[40] = { 0x06, 0x20 };
	assert_int_equal(mbedtls_mpi_write_binary(&kp.d, imp + 2, 32), 0);
	imp[34] = 0xAA; imp[35] = 0x01; imp[36] = 0x01;
	assert_int_equal(cmd(v, 0xFE, 0x11, 0x82, imp, 37, false, NULL, NULL), 0x9000);
	uint8_t hash[32], sig[100];
	size_t sl;
	memset(hash, 0x33, 32);
	assert_int_equal(sign_raw(v, 0x11, 0x82, hash, 32, sig, &sl), 0x9000);
	assert_int_equal(mbedtls_ecdsa_read_signature((mbedtls_ecdsa_context *)&kp, hash, 32,
	    sig, sl), 0);
	assert_int_equal(txh(v, "00F7008200", r, &n), 0x9000);
	const uint8_t *val;
	size_t vl;
	assert_null(tlv_find(r, n, 0x03, &val, &vl));
	assert_int_equal(val[0], VPIV_ORIGIN_IMPORTED);
	/* no attestation for imported keys */
	assert_int_equal(txh(v, "00F9820000", r, &n), 0x6A80);
	mbedtls_ecp_keypair_free(&kp);
	vpiv_free(v);
}

static void
test_rsa(void **state)
{
	(void)state;
	vpiv *v = new_card();
	uint8_t pub[600], sig[300], in[256];
	size_t pl, sl;
	auth_default(v);
	generate(v, 0x9D, VPIV_ALG_RSA2048, pub, &pl);
	const uint8_t *mod, *exp;
	size_t ml, el;
	assert_null(tlv_find(pub, pl, 0x81, &mod, &ml));
	assert_null(tlv_find(pub, pl, 0x82, &exp, &el));
	assert_int_equal(ml, 256);

	/* PKCS#1 v1.5 type 1 block over a short message */
	memset(in, 0xFF, sizeof(in));
	in[0] = 0x00;
	in[1] = 0x01;
	in[256 - 33] = 0x00;
	memset(in + 256 - 32, 0xAB, 32);
	verify_pin(v, "123456");
	assert_int_equal(sign_raw(v, 0x07, 0x9D, in, 100, sig, &sl), 0x6A80);
	assert_int_equal(sign_raw(v, 0x07, 0x9D, in, 256, sig, &sl), 0x9000);
	assert_int_equal(sl, 256);

	mbedtls_rsa_context rsa;
	mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
	assert_int_equal(mbedtls_rsa_import_raw(&rsa, mod, ml, NULL, 0, NULL, 0, NULL, 0,
	    exp, el), 0);
	assert_int_equal(mbedtls_rsa_complete(&rsa), 0);
	uint8_t back[256];
	assert_int_equal(mbedtls_rsa_public(&rsa, sig, back), 0);
	assert_memory_equal(back, in, 256);
	mbedtls_rsa_free(&rsa);

	/* attestation of an RSA key */
	uint8_t r[4096];
	size_t n;
	assert_int_equal(txh(v, "00F99D0000", r, &n), 0x9000);
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_der(&crt, r, n), 0);
	assert_int_equal(mbedtls_pk_get_type(&crt.pk), MBEDTLS_PK_RSA);
	mbedtls_x509_crt_free(&crt);
	vpiv_free(v);
}

static void
test_attest(void **state)
{
	(void)state;
	vpiv *v = new_card();
	uint8_t pub[200], r[4096], ao[4096];
	size_t pl, n, an;
	assert_int_equal(txh(v, "00F99A0000", r, &n), 0x6A88);
	auth_default(v);
	generate(v, 0x9A, VPIV_ALG_ECCP256, pub, &pl);
	assert_int_equal(txh(v, "00F99A0000", r, &n), 0x9000);
	assert_int_equal(txh(v, "00CB3FFF055C035FFF0100", ao, &an), 0x9000);
	const uint8_t *o, *ader;
	size_t ol, al;
	assert_null(tlv_find(ao, an, 0x53, &o, &ol));
	assert_null(tlv_find(o, ol, 0x70, &ader, &al));

	mbedtls_x509_crt ca, leaf;
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&leaf);
	assert_int_equal(mbedtls_x509_crt_parse_der(&ca, ader, al), 0);
	assert_int_equal(mbedtls_x509_crt_parse_der(&leaf, r, n), 0);
	uint32_t flags = 0;
	assert_int_equal(mbedtls_x509_crt_verify(&leaf, &ca, NULL, NULL, &flags, NULL, NULL), 0);
	/* the attested key is the slot's key */
	const uint8_t *pt;
	size_t ptl;
	assert_null(tlv_find(pub, pl, 0x86, &pt, &ptl));
	uint8_t q[65];
	size_t ql;
	const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(leaf.pk);
	assert_int_equal(mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q,
	    MBEDTLS_ECP_PF_UNCOMPRESSED, &ql, q, sizeof(q)), 0);
	assert_int_equal(ql, ptl);
	assert_memory_equal(q, pt, ql);
	char dn[256];
	assert_true(mbedtls_x509_dn_gets(dn, sizeof(dn), &leaf.subject) > 0);
	assert_non_null(strstr(dn, "Attestation 9a"));
	/* serial extension 1.3.6.1.4.1.41482.3.7 = INTEGER 4242 */
	static const uint8_t ext_sn[] = { 0x06, 0x0A, 0x2B, 6, 1, 4, 1, 0x82, 0xC4, 0x0A, 3, 7,
	    0x04, 0x04, 0x02, 0x02, 0x10, 0x92 };
	bool found = false;
	for (size_t i = 0; i + sizeof(ext_sn) <= n; i++)
		if (memcmp(r + i, ext_sn, sizeof(ext_sn)) == 0)
			found = true;
	assert_true(found);
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&leaf);
	vpiv_free(v);
}

static void
test_reset_card(void **state)
{
	(void)state;
	vpiv *v = new_card();
	uint8_t pub[200];
	size_t pl;
	assert_int_equal(txh(v, "00FB0000", NULL, NULL), 0x6985);
	auth_default(v);
	generate(v, 0x9A, VPIV_ALG_ECCP256, pub, &pl);
	for (int i = 0; i < 3; i++)
		assert_int_equal(txh(v, "002000800831313131313131FF", NULL, NULL),
		    0x63C0 | (2 - i));
	assert_int_equal(txh(v, "00FB0000", NULL, NULL), 0x6985);
	for (int i = 0; i < 3; i++)
		assert_int_equal(txh(v, "002C008010 3131313131313131 3131313131313131", NULL,
		    NULL), 0x63C0 | (2 - i));
	assert_int_equal(txh(v, "002C00801031323334353637 38 3635343332 31FFFF", NULL, NULL),
	    0x6983);
	assert_int_equal(txh(v, "00FB0000", NULL, NULL), 0x9000);
	verify_pin(v, "123456");
	vpiv_slot_info si;
	assert_null(vpiv_slot_get(v, 0x9A, &si));
	assert_false(si.present);
	assert_null(vpiv_slot_get(v, 0xF9, &si));
	assert_true(si.present);
	auth_default(v);
	vpiv_free(v);
}

static char tmpdir[64];

static const char *
tmp_path(const char *name)
{
	static char p[128];
	if (tmpdir[0] == '\0') {
		strcpy(tmpdir, "/tmp/raterm-vpiv.XXXXXX");
		assert_non_null(mkdtemp(tmpdir));
	}
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return p;
}

static void
test_persistence(void **state)
{
	(void)state;
	char path[128];
	strcpy(path, tmp_path("card.state"));
	unlink(path);
	vpiv *v;
	uint8_t pub[200], pub2[200], g1[16], g2[16], r[300];
	size_t pl, n;
	assert_null(vpiv_open(path, &v));
	assert_int_equal(access(path, F_OK), 0);
	uint32_t serial = vpiv_serial(v);
	vpiv_guid(v, g1);
	select_piv(v);
	assert_int_equal(txh(v, "002000800831313131313131FF", NULL, NULL), 0x63C2);
	auth_default(v);
	generate(v, 0x9C, VPIV_ALG_ECCP256, pub, &pl);
	assert_int_equal(txh(v, "00DB3FFF0C5C035FC1065305AABBCCDDEE", NULL, NULL), 0x9000);
	/* new management key */
	uint8_t sm[32] = { 0x00, 0xFF, 0xFF, 0xFF, 27, 0x03, 0x9B, 24 };
	for (int i = 0; i < 24; i++)
		sm[8 + i] = (uint8_t)(0x20 + i);
	assert_int_equal(tx(v, sm, 32, NULL, NULL), 0x9000);
	vpiv_free(v);

	assert_null(vpiv_open(path, &v));
	assert_int_equal(vpiv_serial(v), serial);
	vpiv_guid(v, g2);
	assert_memory_equal(g1, g2, 16);
	int pt, pleft, ut, ul;
	vpiv_retries(v, &pt, &pleft, &ut, &ul);
	assert_int_equal(pleft, 2);
	select_piv(v);
	assert_int_equal(txh(v, "00F7009C00", r, &n), 0x9000);
	const uint8_t *val;
	size_t vl;
	assert_null(tlv_find(r, n, 0x04, &val, &vl));
	memcpy(pub2, val, vl);
	assert_int_equal(vl, pl);
	assert_memory_equal(pub, pub2, pl);
	assert_int_equal(txh(v, "00CB3FFF055C035FC10600", r, &n), 0x9000);
	assert_memory_equal(r, "\x53\x05\xAA\xBB\xCC\xDD\xEE", 7);
	assert_int_equal(mgmt_auth(v, VPIV_ALG_3DES, default_mgmt, 24), 0x6982);
	assert_int_equal(mgmt_auth(v, VPIV_ALG_3DES, sm + 8, 24), 0x9000);
	/* the persisted key still signs */
	uint8_t hash[32], sig[100];
	size_t sl;
	memset(hash, 0x11, 32);
	verify_pin(v, "123456");
	assert_int_equal(sign_raw(v, 0x11, 0x9C, hash, 32, sig, &sl), 0x9000);
	ec_verify(MBEDTLS_ECP_DP_SECP256R1, pub, pl, hash, 32, sig, sl);
	vpiv_free(v);

	/* vpiv_create refuses to overwrite */
	rt_err *e = vpiv_create(path, NULL, false, &v);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_IO);
	rt_err_free(e);

	/* a damaged state file */
	FILE *f = fopen(path, "r+");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	assert_int_equal(ftruncate(fileno(f), size - 4), 0);
	fclose(f);
	e = vpiv_open(path, &v);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_FORMAT);
	rt_err_free(e);
	f = fopen(path, "w");
	fputs("not a card\n", f);
	fclose(f);
	e = vpiv_open(path, &v);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_FORMAT);
	rt_err_free(e);
	unlink(path);
}

static void
test_faults_and_trace(void **state)
{
	(void)state;
	vpiv *v = new_card();
	char *buf = NULL;
	size_t blen = 0;
	FILE *tf = open_memstream(&buf, &blen);
	assert_non_null(tf);
	vpiv_set_trace(v, tf);
	uint64_t c = vpiv_apdu_count(v);
	assert_int_equal(c, 1);
	vpiv_fault_sw_at(v, c + 1, 0x6F00);
	vpiv_fault_drop_at(v, c + 3);
	assert_int_equal(txh(v, "00FD0000", NULL, NULL), 0x6F00);
	verify_pin(v, "123456");
	uint8_t cmdb[4] = { 0x00, 0xFD, 0x00, 0x00 }, rb[16];
	size_t rlen = 99;
	rt_err *e = vpiv_apdu(v, cmdb, 4, rb, sizeof(rb), &rlen);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_FAULT);
	assert_int_equal(rlen, 0);
	rt_err_free(e);
	/* power was lost: not selected, PIN no longer verified */
	assert_int_equal(txh(v, "00FD0000", NULL, NULL), 0x6D00);
	select_piv(v);
	assert_int_equal(txh(v, "00200080", NULL, NULL), 0x63C3);
	assert_int_equal(vpiv_apdu_count(v), c + 6);
	vpiv_set_trace(v, NULL);
	fclose(tf);
	assert_non_null(strstr(buf, "> 00FD0000\n< 6F00\n"));
	assert_non_null(strstr(buf, "> 00200080 [9 bytes redacted]\n< 9000\n"));
	assert_null(strstr(buf, "313233343536"));
	assert_non_null(strstr(buf, "card removed"));
	assert_non_null(strstr(buf, "> 00A4040009A00000030800001000\n< 61"));
	free(buf);
	vpiv_free(v);
}

/* --stall-at: the card waits, then handles the command as usual. */
static void
test_fault_stall(void **state)
{
	(void)state;
	vpiv *v = new_card();
	char *buf = NULL;
	size_t blen = 0;
	FILE *tf = open_memstream(&buf, &blen);
	assert_non_null(tf);
	vpiv_set_trace(v, tf);
	uint64_t c = vpiv_apdu_count(v);
	vpiv_fault_stall_at(v, c + 1, 150);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(txh(v, "00200080", NULL, NULL), 0x63C3);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 140);
	/* only that one */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(txh(v, "00200080", NULL, NULL), 0x63C3);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms < 140);
	vpiv_set_trace(v, NULL);
	fclose(tf);
	assert_non_null(strstr(buf, "> 00200080\n~ (stalling 150 ms at APDU 2)\n< 63C3\n"));
	free(buf);
	vpiv_free(v);
}

/* A throw-away CA (EC P-256) written to PEM files for vpiv_issue_cert. */
static void
make_ca(const char *cert_path, const char *key_path)
{
	mbedtls_pk_context k;
	mbedtls_x509write_cert w;
	mbedtls_mpi sn;
	static uint8_t buf[4096];
	mbedtls_pk_init(&k);
	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&sn);
	assert_int_equal(mbedtls_pk_setup(&k, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(k),
	    mbedtls_ctr_drbg_random, &drbg), 0);
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, &k);
	mbedtls_x509write_crt_set_issuer_key(&w, &k);
	assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w,
	    "CN=Unit Transport CA,O=raterm test"), 0);
	assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&w,
	    "CN=Unit Transport CA,O=raterm test"), 0);
	assert_int_equal(mbedtls_mpi_lset(&sn, 7), 0);
	assert_int_equal(mbedtls_x509write_crt_set_serial(&w, &sn), 0);
	assert_int_equal(mbedtls_x509write_crt_set_validity(&w, "20200101000000",
	    "20400101000000"), 0);
	assert_int_equal(mbedtls_x509write_crt_set_basic_constraints(&w, 1, -1), 0);
	assert_int_equal(mbedtls_x509write_crt_pem(&w, buf, sizeof(buf),
	    mbedtls_ctr_drbg_random, &drbg), 0);
	FILE *f = fopen(cert_path, "w");
	fputs((char *)buf, f);
	fclose(f);
	assert_int_equal(mbedtls_pk_write_key_pem(&k, buf, sizeof(buf)), 0);
	f = fopen(key_path, "w");
	fputs((char *)buf, f);
	fclose(f);
	mbedtls_mpi_free(&sn);
	mbedtls_x509write_crt_free(&w);
	mbedtls_pk_free(&k);
}

static void
test_personalize(void **state)
{
	(void)state;
	char cap[128], kp[128];
	strcpy(cap, tmp_path("ca.pem"));
	strcpy(kp, tmp_path("ca.key"));
	make_ca(cap, kp);
	vpiv *v = new_card();
	assert_null(vpiv_generate_key(v, 0x9A, VPIV_ALG_ECCP256, 0, 0));
	vpiv_issue_req req = {
		.ca_cert_path = cap, .ca_key_path = kp, .subject = "CN=TC Bob,O=raterm test",
		.not_before = "20240101000000", .days = 30, .bind = VPIV_BIND_SERIAL,
	};
	assert_null(vpiv_issue_cert(v, 0x9A, &req));
	/* read it back over APDUs */
	uint8_t r[4096];
	size_t n;
	assert_int_equal(txh(v, "00CB3FFF055C035FC10500", r, &n), 0x9000);
	const uint8_t *o, *der, *x;
	size_t ol, dl, xl;
	assert_null(tlv_find(r, n, 0x53, &o, &ol));
	assert_null(tlv_find(o, ol, 0x70, &der, &dl));
	assert_null(tlv_find(o, ol, 0x71, &x, &xl));
	assert_int_equal(xl, 1);
	assert_int_equal(x[0], 0);
	assert_null(tlv_find(o, ol, 0xFE, &x, &xl));
	mbedtls_x509_crt ca, leaf;
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&leaf);
	assert_int_equal(mbedtls_x509_crt_parse_file(&ca, cap), 0);
	assert_int_equal(mbedtls_x509_crt_parse_der(&leaf, der, dl), 0);
	uint32_t flags = 0;
	int rc = mbedtls_x509_crt_verify(&leaf, &ca, NULL, NULL, &flags, NULL, NULL);
	/* the certificate is valid in 2024 only: expiry is the only complaint */
	assert_true(rc == 0 || flags == MBEDTLS_X509_BADCERT_EXPIRED);
	char dn[256];
	assert_true(mbedtls_x509_dn_gets(dn, sizeof(dn), &leaf.subject) > 0);
	assert_string_equal(dn, "CN=TC Bob, O=raterm test, serialNumber=4242");
	assert_int_equal(leaf.valid_from.year, 2024);
	assert_int_equal(leaf.valid_to.mon, 1);
	assert_int_equal(leaf.valid_to.day, 31);
	/* ecdsa-with-SHA256 without parameters (RFC 5758), never NULL */
	static const uint8_t alg_null[] = { 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE,
	    0x3D, 0x04, 0x03, 0x02, 0x05, 0x00 };
	for (size_t i = 0; i + sizeof(alg_null) <= dl; i++)
		assert_memory_not_equal(der + i, alg_null, sizeof(alg_null));
	/* the key in the certificate is the slot's key */
	uint8_t spki[200];
	size_t sl;
	assert_null(vpiv_slot_pubkey_der(v, 0x9A, spki, sizeof(spki), &sl));
	uint8_t spki2[200];
	int m = mbedtls_pk_write_pubkey_der(&leaf.pk, spki2, sizeof(spki2));
	assert_int_equal((size_t)m, sl);
	assert_memory_equal(spki2 + sizeof(spki2) - m, spki, sl);

	/* guid binding, errors */
	req.bind = VPIV_BIND_GUID;
	assert_null(vpiv_issue_cert(v, 0x9A, &req));
	rt_err *e = vpiv_issue_cert(v, 0x9D, &req);
	assert_int_equal(rt_err_kind_of(e), RT_E_NOT_FOUND);
	rt_err_free(e);
	req.ca_key_path = cap;
	e = vpiv_issue_cert(v, 0x9A, &req);
	assert_non_null(e);
	rt_err_free(e);
	req.ca_key_path = kp;
	req.not_after = "20230101000000";
	e = vpiv_issue_cert(v, 0x9A, &req);
	assert_int_equal(rt_err_kind_of(e), RT_E_ARG);
	rt_err_free(e);
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&leaf);
	vpiv_free(v);
	unlink(cap);
	unlink(kp);
	rmdir(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_atr),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_apdu_errors),
		cmocka_unit_test(test_get_data),
		cmocka_unit_test(test_put_get_chaining),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_mgmt_auth),
		cmocka_unit_test(test_default_creds),
		cmocka_unit_test(test_generate_sign_ec),
		cmocka_unit_test(test_policies_and_ecdh),
		cmocka_unit_test(test_rsa),
		cmocka_unit_test(test_attest),
		cmocka_unit_test(test_reset_card),
		cmocka_unit_test(test_persistence),
		cmocka_unit_test(test_faults_and_trace),
		cmocka_unit_test(test_fault_stall),
		cmocka_unit_test(test_personalize),
	};
	return cmocka_run_group_tests_name("vpiv", tests, group_setup, group_teardown);
}
