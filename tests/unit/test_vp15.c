/* Unit tests of the vp15 card core, in process through the card layer's
 * transport and APDU exchange (chaining and 61xx handled there). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <mbedtls/pk.h>
#include <mbedtls/sha1.h>

#include "raterm/apdu.h"
#include "raterm/card.h"
#include "raterm/pkcs15.h"
#include "raterm/tlv.h"
#include "raterm/vp15.h"

typedef struct {
	rt_transport *t;
	uint8_t rsp[4096];
	size_t rlen;
	uint16_t sw;
} fx;

static void
send(fx *f, uint8_t ins, uint8_t p1, uint8_t p2, const void *data, size_t lc,
    size_t le)
{
	apdu_cmd c = { 0x00, ins, p1, p2, data, lc, le };
	rt_err *e = apdu_exchange(f->t, &c, f->rsp, sizeof(f->rsp), &f->rlen, &f->sw);
	assert_null(e);
}

static void
open_card(fx *f, vp15 *c)
{
	memset(f, 0, sizeof(*f));
	assert_null(rt_vp15_transport(c, true, "vp15 test", &f->t));
}

static vp15 *
blank(void)
{
	vp15 *c;
	assert_null(vp15_open(NULL, &c));
	return c;
}

/* CREATE FILE of an EF: FCP 62 {82 01, 83 fid, 80 size, 86 sa}. */
static void
create_ef(fx *f, uint16_t fid, size_t size, uint8_t update_sc)
{
	uint8_t fcp[32] = {
		0x62, 0x15, 0x82, 0x01, 0x01, 0x83, 0x02, (uint8_t)(fid >> 8), (uint8_t)fid,
		0x80, 0x02, (uint8_t)(size >> 8), (uint8_t)size,
		0x86, 0x08, 0xFF, 0x90, 0x00, 0x00, 0x00, 0x00, update_sc, 0x00,
	};
	send(f, 0xE0, 0, 0, fcp, 23, 0);
}

static void
create_df(fx *f, uint16_t fid)
{
	uint8_t fcp[] = {
		0x62, 0x11, 0x82, 0x01, 0x38, 0x83, 0x02, (uint8_t)(fid >> 8), (uint8_t)fid,
		0x86, 0x08, 0xFF, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x90,
	};
	send(f, 0xE0, 0, 0, fcp, sizeof(fcp), 0);
}

static void
set_pins(fx *f)
{
	send(f, 0x24, 0x01, 0x02, "0123456789abcdef", 16, 0);     /* PUK */
	assert_int_equal(f->sw, 0x9000);
	send(f, 0x24, 0x01, 0x01, "123456", 6, 0);                 /* PIN */
	assert_int_equal(f->sw, 0x9000);
}

static void
test_select_applet_and_files(void **state)
{
	(void)state;
	fx f;
	vp15 *c = blank();
	open_card(&f, c);
	send(&f, 0xA4, 0x04, 0x00, vp15_isoapplet_aid, 12, 256);
	assert_int_equal(f.sw, 0x9000);
	assert_int_equal(f.rlen, 3);
	assert_memory_equal(f.rsp, "\x00\x06\x07", 3);

	create_df(&f, 0x5015);
	assert_int_equal(f.sw, 0x9000);
	create_ef(&f, 0x4401, 300, 0x90);
	assert_int_equal(f.sw, 0x9000);
	create_ef(&f, 0x4401, 10, 0x90);                /* the same FID again */
	assert_int_equal(f.sw, 0x6A89);

	/* by path from the MF, with the FCP */
	send(&f, 0xA4, 0x08, 0x00, "\x50\x15\x44\x01", 4, 256);
	assert_int_equal(f.sw, 0x9000);
	const uint8_t *v;
	size_t vlen;
	assert_null(tlv_find(f.rsp, f.rlen, 0x62, &v, &vlen));
	const uint8_t *sz;
	size_t szlen;
	assert_null(tlv_find(v, vlen, 0x80, &sz, &szlen));
	assert_int_equal(szlen, 2);
	assert_int_equal(sz[0] << 8 | sz[1], 300);

	/* creation state: writing needs nothing yet; 300 bytes through an
	 * update of 255 and one of 45, read back in two */
	uint8_t data[300];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	send(&f, 0xD6, 0x00, 0x00, data, 255, 0);
	assert_int_equal(f.sw, 0x9000);
	send(&f, 0xD6, 0x00, 0xFF, data + 255, 45, 0);
	assert_int_equal(f.sw, 0x9000);
	send(&f, 0xB0, 0x00, 0x00, NULL, 0, 256);
	assert_int_equal(f.sw, 0x9000);
	assert_int_equal(f.rlen, 256);
	assert_memory_equal(f.rsp, data, 256);
	send(&f, 0xB0, 0x01, 0x00, NULL, 0, 256);
	assert_int_equal(f.rlen, 44);
	assert_memory_equal(f.rsp, data + 256, 44);
	send(&f, 0xB0, 0x01, 0x2D, NULL, 0, 1);         /* offset 301 > size */
	assert_int_equal(f.sw, 0x6B00);
	send(&f, 0xD6, 0x01, 0x20, data, 20, 0);        /* beyond the end */
	assert_int_equal(f.sw, 0x6700);

	/* not found; a sibling by FID; DELETE FILE of the EF */
	send(&f, 0xA4, 0x00, 0x0C, "\x47\x11", 2, 0);
	assert_int_equal(f.sw, 0x6A82);
	send(&f, 0xA4, 0x00, 0x0C, "\x3F\x00", 2, 0);
	send(&f, 0xA4, 0x00, 0x0C, "\x50\x15", 2, 0);
	assert_int_equal(f.sw, 0x9000);
	send(&f, 0xE4, 0x00, 0x00, "\x44\x01", 2, 0);
	assert_int_equal(f.sw, 0x9000);
	send(&f, 0xA4, 0x02, 0x0C, "\x44\x01", 2, 0);
	assert_int_equal(f.sw, 0x6A82);

	/* malformed: an FCP without a FID, a bad template, a short APDU */
	send(&f, 0xE0, 0, 0, "\x62\x03\x82\x01\x01", 5, 0);
	assert_int_equal(f.sw, 0x6A80);
	send(&f, 0xE0, 0, 0, "\x30\x00", 2, 0);
	assert_int_equal(f.sw, 0x6A80);
	uint8_t r[8];
	size_t rl;
	assert_null(vp15_apdu(c, (const uint8_t *)"\x00\xA4\x00", 3, r, sizeof(r), &rl));
	assert_int_equal(rl, 2);
	assert_memory_equal(r, "\x67\x00", 2);
	rt_transport_close(f.t);
}

static void
test_pins_and_access(void **state)
{
	(void)state;
	fx f;
	vp15 *c = blank();
	open_card(&f, c);
	create_ef(&f, 0x4404, 16, 0x90);
	assert_false(vp15_operational(c));
	set_pins(&f);
	assert_true(vp15_operational(c));

	/* the PIN set by CHANGE REFERENCE DATA cannot be set again without it */
	send(&f, 0x24, 0x01, 0x01, "654321", 6, 0);
	assert_int_equal(f.sw, 0x6985);
	/* access conditions now apply: update needs the PIN, read does not */
	send(&f, 0xA4, 0x00, 0x0C, "\x44\x04", 2, 0);
	send(&f, 0xD6, 0x00, 0x00, "x", 1, 0);
	assert_int_equal(f.sw, 0x6982);
	send(&f, 0xB0, 0x00, 0x00, NULL, 0, 16);
	assert_int_equal(f.sw, 0x9000);

	/* a wrong PIN costs one try, VERIFY without data tells them */
	send(&f, 0x20, 0x00, 0x01, "000000", 6, 0);
	assert_int_equal(f.sw, 0x63C2);
	send(&f, 0x20, 0x00, 0x01, NULL, 0, 0);
	assert_int_equal(f.sw, 0x63C2);
	bool set;
	int total, left;
	vp15_pin_info(c, 1, &set, &total, &left);
	assert_true(set);
	assert_int_equal(left, 2);
	/* OpenSC pads with 00 to 16 bytes: the same PIN */
	send(&f, 0x20, 0x00, 0x01, "123456\0\0\0\0\0\0\0\0\0\0", 16, 0);
	assert_int_equal(f.sw, 0x9000);
	vp15_pin_info(c, 1, &set, &total, &left);
	assert_int_equal(left, 3);
	send(&f, 0xD6, 0x00, 0x00, "x", 1, 0);
	assert_int_equal(f.sw, 0x9000);

	/* blocked after three wrong; the PUK unblocks and sets a new PIN */
	for (int i = 0; i < 3; i++)
		send(&f, 0x20, 0x00, 0x01, "999999", 6, 0);
	assert_int_equal(f.sw, 0x6983);
	send(&f, 0x20, 0x00, 0x01, "123456", 6, 0);
	assert_int_equal(f.sw, 0x6983);
	send(&f, 0x2C, 0x00, 0x01, "0123456789abcdefFFFFFF", 16, 0);   /* PUK only: P1 00 needs a new PIN */
	assert_int_equal(f.sw, 0x6700);
	send(&f, 0x2C, 0x00, 0x01, "0123456789abcdef2468", 20, 0);
	assert_int_equal(f.sw, 0x9000);
	send(&f, 0x20, 0x00, 0x01, "2468", 4, 0);
	assert_int_equal(f.sw, 0x9000);
	/* CHANGE REFERENCE DATA: old || new */
	send(&f, 0x24, 0x00, 0x01, "24681357", 8, 0);
	assert_int_equal(f.sw, 0x9000);
	send(&f, 0x20, 0x00, 0x01, "1357", 4, 0);
	assert_int_equal(f.sw, 0x9000);

	/* a reset forgets the verified PIN */
	vp15_reset(c);
	send(&f, 0xA4, 0x08, 0x0C, "\x44\x04", 2, 0);
	send(&f, 0xD6, 0x00, 0x00, "y", 1, 0);
	assert_int_equal(f.sw, 0x6982);
	rt_transport_close(f.t);
}

/* P-256 as OpenSC's pkcs15-init sends it for GENERATE (81..87). */
static size_t
p256_params(uint8_t *out)
{
	static const char *hex[] = {
		"81", "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF",
		"82", "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC",
		"83", "5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B",
		"84", "046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"
		      "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5",
		"85", "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
		"87", "0001",
	};
	size_t n = 0;
	for (size_t i = 0; i < 12; i += 2) {
		size_t len;
		out[n++] = (uint8_t)strtoul(hex[i], NULL, 16);
		assert_null(rt_hex_decode(hex[i + 1], strlen(hex[i + 1]), out + n + 1, 100, &len, 0));
		out[n] = (uint8_t)len;
		n += 1 + len;
	}
	return n;
}

static void
test_generate_and_sign(void **state)
{
	(void)state;
	fx f;
	vp15 *c = blank();
	open_card(&f, c);
	set_pins(&f);
	uint8_t params[300];
	size_t plen = p256_params(params);

	send(&f, 0x22, 0x41, 0x00, "\x80\x01\xEC\x84\x01\x03", 6, 0);
	assert_int_equal(f.sw, 0x9000);
	send(&f, 0x46, 0x00, 0x00, params, plen, 256);
	assert_int_equal(f.sw, 0x6982);                 /* the PIN first */
	send(&f, 0x20, 0x00, 0x01, "123456", 6, 0);
	/* the answer (> 256 bytes) comes through GET RESPONSE */
	send(&f, 0x46, 0x00, 0x00, params, plen, 65536);
	assert_int_equal(f.sw, 0x9000);
	const uint8_t *v, *q;
	size_t vlen, qlen;
	assert_null(tlv_find(f.rsp, f.rlen, 0x7F49, &v, &vlen));
	assert_int_equal(vlen, plen + 2 + 65);
	assert_memory_equal(v, params, plen);
	assert_null(tlv_find(v, vlen, 0x86, &q, &qlen));
	assert_int_equal(qlen, 65);

	uint8_t der[200];
	size_t dlen;
	assert_null(vp15_key_pubkey_der(c, 3, der, sizeof(der), &dlen));
	mbedtls_pk_context pub;
	mbedtls_pk_init(&pub);
	assert_int_equal(mbedtls_pk_parse_public_key(&pub, der, dlen), 0);

	/* 21: the card hashes with SHA-1 (OpenSC 0.23's ECDSA-SHA1) */
	send(&f, 0x22, 0x41, 0xB6, "\x80\x01\x21\x81\x02\x50\x15\x84\x01\x03", 10, 0);
	assert_int_equal(f.sw, 0x9000);
	const char msg[] = "raterm vp15";
	send(&f, 0x2A, 0x9E, 0x9A, msg, sizeof(msg) - 1, 256);
	assert_int_equal(f.sw, 0x9000);
	uint8_t h[32];
	assert_int_equal(mbedtls_sha1_ret((const uint8_t *)msg, sizeof(msg) - 1, h), 0);
	assert_int_equal(mbedtls_pk_verify(&pub, MBEDTLS_MD_SHA1, h, 20, f.rsp, f.rlen), 0);
	/* 22: over the host's hash */
	memset(h, 0x5A, sizeof(h));
	send(&f, 0x22, 0x41, 0xB6, "\x80\x01\x22\x84\x01\x03", 6, 0);
	send(&f, 0x2A, 0x9E, 0x9A, h, 32, 256);
	assert_int_equal(f.sw, 0x9000);
	assert_int_equal(mbedtls_pk_verify(&pub, MBEDTLS_MD_SHA256, h, 32, f.rsp, f.rlen), 0);
	mbedtls_pk_free(&pub);

	/* no key at 4; after a reset the PIN is needed again */
	send(&f, 0x22, 0x41, 0xB6, "\x80\x01\x22\x84\x01\x04", 6, 0);
	send(&f, 0x2A, 0x9E, 0x9A, h, 32, 256);
	assert_int_equal(f.sw, 0x6A88);
	vp15_reset(c);
	send(&f, 0x22, 0x41, 0xB6, "\x80\x01\x22\x84\x01\x03", 6, 0);
	send(&f, 0x2A, 0x9E, 0x9A, h, 32, 256);
	assert_int_equal(f.sw, 0x6982);
	/* a curve the card does not know */
	params[5] ^= 1;
	send(&f, 0x20, 0x00, 0x01, "123456", 6, 0);
	send(&f, 0x22, 0x41, 0x00, "\x80\x01\xEC\x84\x01\x05", 6, 0);
	send(&f, 0x46, 0x00, 0x00, params, plen, 256);
	assert_int_equal(f.sw, 0x6A81);
	rt_transport_close(f.t);
}

static void
test_state_file(void **state)
{
	(void)state;
	char path[] = "/tmp/test_vp15.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	vp15 *c;
	assert_null(vp15_create(path, false, &c));
	fx f;
	open_card(&f, c);
	create_df(&f, 0x5015);
	create_ef(&f, 0x5031, 8, 0x90);
	send(&f, 0xD6, 0, 0, "\xA8\x06\x30\x04\x04\x02\x44\x04", 8, 0);
	set_pins(&f);
	send(&f, 0x20, 0x00, 0x01, "111111", 6, 0);
	uint8_t params[300];
	size_t plen = p256_params(params);
	send(&f, 0x20, 0x00, 0x01, "123456", 6, 0);
	send(&f, 0x20, 0x00, 0x01, "111111", 6, 0);  /* 2 left */
	send(&f, 0x22, 0x41, 0x00, "\x80\x01\xEC\x84\x01\x00", 6, 0);
	/* verified before the wrong one: still verified? no: a wrong PIN
	 * clears it */
	send(&f, 0x46, 0x00, 0x00, params, plen, 65536);
	assert_int_equal(f.sw, 0x6982);
	send(&f, 0x20, 0x00, 0x01, "123456", 6, 0);
	send(&f, 0x20, 0x00, 0x01, "111111", 6, 0);  /* 2 left, not verified */
	vp15_reset(c);
	send(&f, 0x20, 0x00, 0x01, "123456", 6, 0);
	send(&f, 0x46, 0x00, 0x00, params, plen, 65536);
	assert_int_equal(f.sw, 0x6985);              /* MSE SET gone with the reset */
	send(&f, 0x22, 0x41, 0x00, "\x80\x01\xEC\x84\x01\x00", 6, 0);
	send(&f, 0x46, 0x00, 0x00, params, plen, 65536);
	assert_int_equal(f.sw, 0x9000);
	send(&f, 0x20, 0x00, 0x01, "111111", 6, 0);  /* 2 left */
	uint8_t der1[200], der2[200];
	size_t l1, l2;
	assert_null(vp15_key_pubkey_der(c, 0, der1, sizeof(der1), &l1));
	rt_transport_close(f.t);

	assert_null(vp15_open(path, &c));
	assert_true(vp15_operational(c));
	bool set;
	int total, left;
	vp15_pin_info(c, 1, &set, &total, &left);
	assert_int_equal(left, 2);
	vp15_pin_info(c, 2, &set, &total, &left);
	assert_true(set);
	assert_int_equal(left, 3);
	assert_null(vp15_key_pubkey_der(c, 0, der2, sizeof(der2), &l2));
	assert_int_equal(l1, l2);
	assert_memory_equal(der1, der2, l1);
	const uint8_t *data;
	size_t len;
	assert_null(vp15_file_get(c, (const uint8_t *)"\x3F\x00\x50\x15\x50\x31", 6, &data, &len));
	assert_int_equal(len, 8);
	assert_memory_equal(data, "\xA8\x06\x30\x04\x04\x02\x44\x04", 8);
	vp15_free(c);

	/* a damaged state file is refused, naming the line */
	FILE *fp = fopen(path, "a");
	assert_non_null(fp);
	fclose(fp);
	uint8_t *raw;
	assert_null(rt_file_read(path, 1 << 22, &raw, &len));
	fp = fopen(path, "w");
	fprintf(fp, "vp15-state 1\nfile 3 9 ef 4401 - - 4 00\nend\n");
	fclose(fp);
	rt_err *e = vp15_open(path, &c);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_FORMAT));
	rt_err_free(e);
	fp = fopen(path, "w");
	fwrite(raw, 1, len / 2, fp);            /* cut short */
	fclose(fp);
	e = vp15_open(path, &c);
	assert_non_null(e);
	rt_err_free(e);
	free(raw);
	unlink(path);
}

static void
test_faults_and_chaining(void **state)
{
	(void)state;
	fx f;
	vp15 *c = blank();
	open_card(&f, c);
	create_ef(&f, 0x4401, 600, 0x00);
	/* command chaining: 600 bytes in three pieces (CLA 10) */
	uint8_t big[600];
	memset(big, 0xA5, sizeof(big));
	uint8_t cmd[5 + 255];
	size_t rl;
	uint8_t r[300];
	for (int i = 0; i < 3; i++) {
		size_t n = i < 2 ? 255 : 90;
		cmd[0] = i < 2 ? 0x10 : 0x00;
		cmd[1] = 0xD6;
		cmd[2] = 0;
		cmd[3] = 0;
		cmd[4] = (uint8_t)n;
		memcpy(cmd + 5, big, n);
		assert_null(rt_transport_transmit(f.t, cmd, 5 + n, r, sizeof(r), &rl));
		assert_memory_equal(r + rl - 2, "\x90\x00", 2);
	}
	/* extended Le: the whole file at once */
	send(&f, 0xB0, 0, 0, NULL, 0, 600);
	assert_int_equal(f.sw, 0x9000);
	assert_int_equal(f.rlen, 600);
	assert_memory_equal(f.rsp, big, 600);

	/* faults: an SW at APDU N, a pulled card at APDU M */
	uint64_t n = vp15_apdu_count(c);
	vp15_fault_sw_at(c, n + 1, 0x6F00);
	vp15_fault_drop_at(c, n + 2);
	send(&f, 0xB0, 0, 0, NULL, 0, 1);
	assert_int_equal(f.sw, 0x6F00);
	apdu_cmd ac = { 0x00, 0xB0, 0, 0, NULL, 0, 1 };
	rt_err *e = apdu_exchange(f.t, &ac, f.rsp, sizeof(f.rsp), &f.rlen, &f.sw);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_CARD_REMOVED));
	rt_err_free(e);
	rt_transport_close(f.t);
}


/* ---- the PKCS#15 profile (src/profile/card_p15.c) over an in-process card
 * personalized here with the codec: PIN (ref 1, padded to 16 with 00),
 * keys 00 (iD 01) and 01 (iD 02), certificates: one for iD 01, two for
 * iD 02, a CA certificate (iD c1). */

/* Creates an EF under the current DF and writes data into it. */
static void
put_ef(fx *f, uint16_t fid, const uint8_t *data, size_t len)
{
	create_ef(f, fid, len, 0x90);
	assert_int_equal(f->sw, 0x9000);
	for (size_t off = 0; off < len; off += 200) {
		size_t n = len - off < 200 ? len - off : 200;
		send(f, 0xD6, (uint8_t)(off >> 8), (uint8_t)off, data + off, n, 0);
		assert_int_equal(f->sw, 0x9000);
	}
}

static void
set_path(p15_path *p, const char *fids, size_t len)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->b, fids, len);
	p->len = len;
}

/* A stand-in certificate: 30 82 00 10 and 16 bytes of `tag`. */
static void
fake_cert(uint8_t out[20], uint8_t tag)
{
	memcpy(out, "\x30\x82\x00\x10", 4);
	memset(out + 4, tag, 16);
}

static void
personalize_p15(fx *f)
{
	uint8_t buf[2048];
	size_t len;
	p15_dir dir;
	memset(&dir, 0, sizeof(dir));
	dir.n = 1;
	memcpy(dir.app[0].aid, p15_aid, sizeof(p15_aid));
	dir.app[0].aid_len = sizeof(p15_aid);
	memcpy(dir.app[0].path, "\x3F\x00\x50\x15", 4);
	dir.app[0].path_len = 4;
	assert_null(p15_dir_encode(&dir, buf, sizeof(buf), &len));
	put_ef(f, 0x2F00, buf, len);
	send(f, 0xA4, 0x00, 0x0C, "\x3F\x00", 2, 0);
	create_df(f, 0x5015);

	p15_odf odf;
	memset(&odf, 0, sizeof(odf));
	const uint8_t tags[3] = { P15_ODF_AODF, P15_ODF_PRKDF, P15_ODF_CDF };
	for (int i = 0; i < 3; i++) {
		odf.e[i].tag = tags[i];
		set_path(&odf.e[i].path, "\x3F\x00\x50\x15\x44\x01", 6);
		odf.e[i].path.b[5] += (uint8_t)i;
	}
	odf.n = 3;
	assert_null(p15_odf_encode(&odf, buf, sizeof(buf), &len));
	put_ef(f, 0x5031, buf, len);
	p15_tokeninfo ti;
	memset(&ti, 0, sizeof(ti));
	memcpy(ti.serial, "\x12\x34\x56\x78", 4);
	ti.serial_len = 4;
	assert_null(p15_tokeninfo_encode(&ti, buf, sizeof(buf), &len));
	put_ef(f, 0x5032, buf, len);

	p15_df *df = calloc(1, sizeof(*df));
	df->kind = P15_DF_AODF;
	df->n = 1;
	p15_pin *pin = &df->u.pin[0];
	snprintf(pin->common.label, sizeof(pin->common.label), "User PIN");
	pin->auth_id.b[0] = 0xFF;
	pin->auth_id.len = 1;
	pin->flags = P15_PIN_CASE_SENSITIVE | P15_PIN_INITIALIZED | P15_PIN_NEEDS_PADDING;
	pin->type = P15_PIN_ASCII_NUMERIC;
	pin->min_len = 4;
	pin->stored_len = pin->max_len = 16;
	pin->reference = 1;
	pin->pad_char = 0;
	assert_null(p15_df_encode(df, buf, sizeof(buf), &len));
	put_ef(f, 0x4401, buf, len);

	memset(df, 0, sizeof(*df));
	df->kind = P15_DF_KEYS;
	df->n = 2;
	for (int i = 0; i < 2; i++) {
		p15_key *k = &df->u.key[i];
		k->type = P15_KEY_EC;
		k->id.b[0] = (uint8_t)(i + 1);
		k->id.len = 1;
		k->usage = P15_USAGE_SIGN;
		k->native = -1;
		k->key_ref = i;
		set_path(&k->path, "\x3F\x00\x50\x15", 4);
		memcpy(k->type_rest.b, "\x02\x02\x01\x00", 4);     /* 256 bits */
		k->type_rest.len = 4;
	}
	assert_null(p15_df_encode(df, buf, sizeof(buf), &len));
	put_ef(f, 0x4402, buf, len);

	memset(df, 0, sizeof(*df));
	df->kind = P15_DF_CERTS;
	df->n = 4;
	const uint8_t ids[4] = { 0x01, 0x02, 0x02, 0xC1 };
	for (int i = 0; i < 4; i++) {
		p15_cert *c = &df->u.cert[i];
		c->id.b[0] = ids[i];
		c->id.len = 1;
		c->authority = ids[i] == 0xC1;
		set_path(&c->path, "\x3F\x00\x50\x15\x34\x00", 6);
		c->path.b[5] += (uint8_t)i;
	}
	assert_null(p15_df_encode(df, buf, sizeof(buf), &len));
	put_ef(f, 0x4403, buf, len);
	free(df);
	for (int i = 0; i < 4; i++) {
		uint8_t cert[20];
		fake_cert(cert, (uint8_t)(0xA0 + i));
		put_ef(f, (uint16_t)(0x3400 + i), cert, sizeof(cert));
	}
	set_pins(f);
}

static void
test_profile_p15(void **state)
{
	(void)state;
	fx f;
	vp15 *c = blank();
	open_card(&f, c);
	personalize_p15(&f);
	vp15_reset(c);

	rt_card *card;
	assert_null(rt_card_open(f.t, &card));
	assert_string_equal(rt_card_caps_get(card)->id, "pkcs15");
	assert_null(rt_card_piv(card));
	rt_card_ident id;
	assert_null(rt_card_ident_read(card, &id));
	assert_true(id.has_serial);
	assert_int_equal(id.serial, 0x12345678);

	/* each key once per certificate, the CA certificate not a key */
	rt_card_key keys[8];
	size_t n;
	assert_null(rt_card_keys(card, 0, keys, 8, &n, NULL));
	assert_int_equal(n, 3);
	const uint8_t want_key[3] = { 0x01, 0x02, 0x02 };	/* iDs */
	for (size_t i = 0; i < n; i++) {
		uint8_t cert[20];
		fake_cert(cert, (uint8_t)(0xA0 + i));
		assert_int_equal(keys[i].key, want_key[i]);
		assert_string_equal(keys[i].alg, "ECCP256");
		assert_int_equal(keys[i].der_len, sizeof(cert));
		assert_memory_equal(keys[i].der, cert, sizeof(cert));
	}
	rt_card_keys_free(keys, n);
	uint8_t *der;
	size_t len;
	assert_null(rt_card_read_cert(card, 0x02, &der, &len));
	assert_int_equal(der[4], 0xA1);
	free(der);
	rt_err *e = rt_card_read_cert(card, 0x07, &der, &len);
	assert_true(rt_err_has(e, RT_E_NOT_FOUND));
	rt_err_free(e);

	/* the PIN: tries without spending one, padded as the AODF says, a
	 * wrong one costs exactly one try */
	int left;
	assert_null(rt_card_pin_retries(card, &left));
	assert_int_equal(left, 3);
	e = rt_card_verify_pin(card, "654321", 6);
	assert_true(rt_err_has(e, RT_E_PIN_WRONG));
	assert_int_equal(rt_err_detail(e), 2);
	rt_err_free(e);
	assert_null(rt_card_pin_retries(card, &left));
	assert_int_equal(left, 2);
	e = rt_card_verify_pin(card, "123", 3);
	assert_true(rt_err_has(e, RT_E_PIN_FORMAT));
	rt_err_free(e);
	assert_null(rt_card_verify_pin(card, "123456", 6));
	bool set;
	int total;
	vp15_pin_info(c, 1, &set, &total, &left);
	assert_int_equal(left, 3);
	/* what is written must be a certificate (the writes: test_p15_write) */
	e = rt_card_write_cert(card, 0x01, 0, (const uint8_t *)"\x30\x00", 2);
	assert_true(rt_err_has(e, RT_E_CERT));
	rt_err_free(e);
	rt_card_close(card);
	rt_transport_close(f.t);
}

/* vp15_personalize: the isoApplet layout the profile reads, a Signature
 * PIN for the last key; refusals. */
static void
test_personalize(void **state)
{
	(void)state;
	vp15 *c = blank();
	vp15_perso p = { .nkeys = 3, .sign_pin = true, .serial = 4000001 };
	assert_null(vp15_personalize(c, &p));
	rt_err *e = vp15_personalize(c, &p);
	assert_true(rt_err_has(e, RT_E_ARG));           /* not blank */
	rt_err_free(e);
	bool set;
	int total, left;
	vp15_pin_info(c, 3, &set, &total, &left);
	assert_true(set);
	e = vp15_add_cert(c, 0, (const uint8_t *)"\x30\x03\x02\x01\x01", 5, NULL);
	assert_true(rt_err_has(e, RT_E_CERT));
	rt_err_free(e);

	fx f;
	open_card(&f, c);
	rt_card *card;
	assert_null(rt_card_open(f.t, &card));
	rt_card_ident id;
	assert_null(rt_card_ident_read(card, &id));
	assert_int_equal(id.serial, 4000001);
	rt_card_key keys[8];
	size_t n;
	assert_null(rt_card_keys(card, 0, keys, 8, &n, NULL));
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(keys[i].key, i + 1);
		assert_null(keys[i].der);
	}
	rt_card_keys_free(keys, n);
	assert_null(rt_card_verify_pin(card, "123456", 6));
	rt_card_close(card);

	/* the signature key (2) needs the Signature PIN (3), the user PIN
	 * is not enough; key 0 signs after the user PIN */
	uint8_t h[32];
	memset(h, 0x11, sizeof(h));
	send(&f, 0x22, 0x41, 0xB6, "\x80\x01\x22\x84\x01\x02", 6, 0);
	send(&f, 0x2A, 0x9E, 0x9A, h, 32, 256);
	assert_int_equal(f.sw, 0x6982);
	send(&f, 0x20, 0x00, 0x03, "654321", 6, 0);
	assert_int_equal(f.sw, 0x9000);
	send(&f, 0x2A, 0x9E, 0x9A, h, 32, 256);
	assert_int_equal(f.sw, 0x9000);
	send(&f, 0x22, 0x41, 0xB6, "\x80\x01\x22\x84\x01\x00", 6, 0);
	send(&f, 0x2A, 0x9E, 0x9A, h, 32, 256);
	assert_int_equal(f.sw, 0x9000);
	rt_transport_close(f.t);
}

/* PUT DATA: an EC P-256 key imported (E0 {81..87, 88 d}) signs as the
 * known key; the trace does not show it. */
static void
test_import_ec(void **state)
{
	(void)state;
	fx f;
	vp15 *c = blank();
	open_card(&f, c);
	FILE *tr = tmpfile();
	assert_non_null(tr);
	vp15_set_trace(c, tr);
	set_pins(&f);
	send(&f, 0x20, 0x00, 0x01, "123456", 6, 0);

	mbedtls_pk_context key;
	mbedtls_pk_init(&key);
	assert_int_equal(mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	uint8_t d[32];
	memset(d, 0x42, sizeof(d));
	mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key);
	assert_int_equal(mbedtls_ecp_group_load(&ec->grp, MBEDTLS_ECP_DP_SECP256R1), 0);
	assert_int_equal(mbedtls_mpi_read_binary(&ec->d, d, sizeof(d)), 0);
	assert_int_equal(mbedtls_ecp_mul(&ec->grp, &ec->Q, &ec->d, &ec->grp.G, NULL, NULL), 0);
	/* import, then the card's public key is d G */
	uint8_t data[400];
	size_t plen = p256_params(data + 3);
	data[0] = 0xE0;
	data[1] = 0x81;
	data[2] = (uint8_t)(plen + 34);
	data[3 + plen] = 0x88;
	data[4 + plen] = 32;
	memcpy(data + 5 + plen, d, 32);
	send(&f, 0x22, 0x41, 0x00, "\x80\x01\xEC\x84\x01\x05", 6, 0);
	send(&f, 0xDB, 0x3F, 0xFF, data, 5 + plen + 32, 0);
	assert_int_equal(f.sw, 0x9000);
	uint8_t der[200];
	size_t dlen;
	assert_null(vp15_key_pubkey_der(c, 5, der, sizeof(der), &dlen));
	mbedtls_pk_context pub;
	mbedtls_pk_init(&pub);
	assert_int_equal(mbedtls_pk_parse_public_key(&pub, der, dlen), 0);
	assert_int_equal(mbedtls_pk_check_pair(&pub, &key), 0);

	uint8_t h[32];
	memset(h, 0x77, sizeof(h));
	send(&f, 0x22, 0x41, 0xB6, "\x80\x01\x22\x84\x01\x05", 6, 0);
	send(&f, 0x2A, 0x9E, 0x9A, h, 32, 256);
	assert_int_equal(f.sw, 0x9000);
	assert_int_equal(mbedtls_pk_verify(&pub, MBEDTLS_MD_SHA256, h, 32, f.rsp, f.rlen), 0);

	/* a private key outside the curve's order is refused */
	memset(data + 5 + plen, 0xFF, 32);
	send(&f, 0x22, 0x41, 0x00, "\x80\x01\xEC\x84\x01\x06", 6, 0);
	send(&f, 0xDB, 0x3F, 0xFF, data, 5 + plen + 32, 0);
	assert_int_equal(f.sw, 0x6A80);

	/* the trace: PUT DATA and VERIFY without their data */
	char line[1024];
	rewind(tr);
	int puts = 0;
	while (fgets(line, sizeof(line), tr) != NULL) {
		if (strncmp(line, "vp15 > 00DB3FFF", 15) == 0) {
			assert_memory_equal(line + 15, " <", 2);
			puts++;
		}
		assert_null(strstr(line, "4242424242424242"));
		assert_null(strstr(line, "313233343536"));
	}
	assert_int_equal(puts, 2);
	rt_transport_close(f.t);
	fclose(tr);
	mbedtls_pk_free(&pub);
	mbedtls_pk_free(&key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select_applet_and_files),
		cmocka_unit_test(test_pins_and_access),
		cmocka_unit_test(test_generate_and_sign),
		cmocka_unit_test(test_state_file),
		cmocka_unit_test(test_faults_and_chaining),
		cmocka_unit_test(test_profile_p15),
		cmocka_unit_test(test_personalize),
		cmocka_unit_test(test_import_ec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
