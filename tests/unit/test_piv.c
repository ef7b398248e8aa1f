/* Unit tests: the PIV profile against the scripted transport, and its
 * buffer parsers (CHUID, certificate objects, metadata, public keys). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "raterm/piv.h"
#include "raterm/transport.h"

#define SELECT "> 00A4040009A00000030800001000 00"
#define APT "< 6111 4F0600001000 0100 7907 4F05A000000308 9000"

static piv_card *
open_piv(const char *const *script, rt_transport **tp, bool ext)
{
	rt_transport *t;
	piv_card *c;
	assert_null(rt_script_open(script, &t));
	t->ext_len = ext;
	assert_null(piv_open(t, &c));
	*tp = t;
	return c;
}

static void
done(piv_card *c, rt_transport *t)
{
	assert_int_equal(rt_script_left(t), 0);
	piv_close(c);
	rt_transport_close(t);
}

static void
test_select(void **state)
{
	(void)state;
	const char *const script[] = { SELECT, APT, NULL };
	rt_transport *t;
	piv_card *c = open_piv(script, &t, false);
	assert_int_equal(piv_app(c)->aid_len, 6);
	done(c, t);
}

static void
test_not_piv(void **state)
{
	(void)state;
	const char *const script[] = { SELECT, "< 6A82", NULL };
	rt_transport *t;
	piv_card *c;
	assert_null(rt_script_open(script, &t));
	rt_err *e = piv_open(t, &c);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_NOT_PIV);
	assert_int_equal(rt_err_sw_of(e), 0x6A82);
	rt_err_free(e);
	rt_transport_close(t);
}

static void
test_malformed_select(void **state)
{
	(void)state;
	const char *const script[] = { SELECT, "< 6105 4F0600 9000", NULL };
	rt_transport *t;
	piv_card *c;
	assert_null(rt_script_open(script, &t));
	rt_err *e = piv_open(t, &c);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_NOT_PIV);
	assert_true(rt_err_has(e, RT_E_TLV));
	rt_err_free(e);
	rt_transport_close(t);
}

static void
test_chuid(void **state)
{
	(void)state;
	const char *const script[] = { SELECT, APT,
		"> 00CB3FFF05 5C035FC102 00",
		"< 5320 3410 00112233445566778899AABBCCDDEEFF"
		"3508 3230333031323331 3E00 FE00 9000",
		NULL };
	rt_transport *t;
	piv_card *c = open_piv(script, &t, false);
	piv_chuid ch;
	assert_null(piv_read_chuid(c, &ch));
	assert_true(ch.has_guid);
	assert_int_equal(ch.guid[15], 0xFF);
	assert_true(ch.has_expiry);
	assert_string_equal(ch.expiry, "20301231");
	done(c, t);
}

static void
test_chuid_bad(void **state)
{
	(void)state;
	piv_chuid ch;
	const uint8_t short_guid[] = { 0x34, 0x02, 0x00, 0x11 };
	const uint8_t bad_expiry[] = { 0x35, 0x08, 'x', '0', '3', '0', '1', '2',
	    '3', '1' };
	const uint8_t truncated[] = { 0x34, 0x10, 0x00 };
	rt_err *e = piv_chuid_parse(short_guid, sizeof(short_guid), &ch);
	assert_int_equal(rt_err_kind_of(e), RT_E_TLV);
	rt_err_free(e);
	e = piv_chuid_parse(bad_expiry, sizeof(bad_expiry), &ch);
	assert_int_equal(rt_err_kind_of(e), RT_E_TLV);
	rt_err_free(e);
	e = piv_chuid_parse(truncated, sizeof(truncated), &ch);
	assert_int_equal(rt_err_kind_of(e), RT_E_TLV);
	rt_err_free(e);
}

static void
test_read_cert_and_missing(void **state)
{
	(void)state;
	const char *const script[] = { SELECT, APT,
		"> 00CB3FFF000005 5C035FC105 0000",
		"< 530B 7005 3003020101 7100 FE00 9000",
		"> 00CB3FFF000005 5C035FC10A 0000", "< 6A82",
		"> 00CB3FFF000005 5C035FC10B 0000", "< 5300 9000",
		NULL };
	rt_transport *t;
	piv_card *c = open_piv(script, &t, true);
	uint8_t *der;
	size_t len;
	assert_null(piv_read_cert(c, 0x9A, &der, &len));
	assert_int_equal(len, 5);
	assert_memory_equal(der, "\x30\x03\x02\x01\x01", 5);
	free(der);
	rt_err *e = piv_read_cert(c, 0x9C, &der, &len);
	assert_int_equal(rt_err_kind_of(e), RT_E_NOT_FOUND);
	rt_err_free(e);
	e = piv_read_cert(c, 0x9D, &der, &len);
	assert_int_equal(rt_err_kind_of(e), RT_E_NOT_FOUND);
	rt_err_free(e);
	done(c, t);
}

static void
test_cert_object_trailing(void **state)
{
	(void)state;
	uint8_t *der;
	size_t len;
	/* garbage after the object's content */
	const uint8_t obj[] = { 0x70, 0x02, 0x30, 0x00, 0x71, 0x00, 0xFE };
	rt_err *e = piv_cert_parse(obj, sizeof(obj), &der, &len);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_TLV);
	rt_err_free(e);
}

static void
test_compressed_cert(void **state)
{
	(void)state;
	uint8_t plain[1500], gz[2048], obj[2100];
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i % 7);
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = plain;
	z.avail_in = sizeof(plain);
	z.next_out = gz;
	z.avail_out = sizeof(gz);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t gzlen = z.total_out;
	deflateEnd(&z);
	size_t n = 0;
	obj[n++] = 0x70;
	obj[n++] = 0x82;
	obj[n++] = (uint8_t)(gzlen >> 8);
	obj[n++] = (uint8_t)gzlen;
	memcpy(obj + n, gz, gzlen);
	n += gzlen;
	obj[n++] = 0x71; obj[n++] = 0x01; obj[n++] = 0x01;
	obj[n++] = 0xFE; obj[n++] = 0x00;
	uint8_t *der;
	size_t len;
	assert_null(piv_cert_parse(obj, n, &der, &len));
	assert_int_equal(len, sizeof(plain));
	assert_memory_equal(der, plain, len);
	free(der);
	/* corrupt the compressed stream */
	for (size_t i = 4 + gzlen / 3; i < 4 + gzlen / 2; i++)
		obj[i] ^= 0x5A;
	rt_err *e = piv_cert_parse(obj, n, &der, &len);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_FORMAT);
	rt_err_free(e);
}

static void
test_pin(void **state)
{
	(void)state;
	const char *const script[] = { SELECT, APT,
		"> 00200080", "< 63C3",
		"> 0020008008 313131313131FFFF", "< 63C2",
		"> 0020008008 3132333435363738", "< 9000",
		"> 0020008008 313131313131FFFF", "< 6983",
		NULL };
	rt_transport *t;
	piv_card *c = open_piv(script, &t, false);
	int retries;
	assert_null(piv_pin_retries(c, &retries));
	assert_int_equal(retries, 3);
	rt_err *e = piv_verify_pin(c, "111111", 6);
	assert_int_equal(rt_err_kind_of(e), RT_E_PIN_WRONG);
	assert_int_equal(rt_err_detail(e), 2);
	rt_err_free(e);
	assert_null(piv_verify_pin(c, "12345678", 8));
	e = piv_verify_pin(c, "111111", 6);
	assert_int_equal(rt_err_kind_of(e), RT_E_PIN_BLOCKED);
	rt_err_free(e);
	/* a PIN of the wrong length never reaches the card */
	e = piv_verify_pin(c, "12345", 5);
	assert_int_equal(rt_err_kind_of(e), RT_E_PIN_FORMAT);
	rt_err_free(e);
	done(c, t);
}

static void
test_change_unblock(void **state)
{
	(void)state;
	const char *const script[] = { SELECT, APT,
		"> 0024008010 313233343536FFFF 363534333231FFFF", "< 9000",
		"> 002C008010 3132333435363738 313131313131FFFF", "< 63C1",
		NULL };
	rt_transport *t;
	piv_card *c = open_piv(script, &t, false);
	assert_null(piv_change_ref(c, false, "123456", 6, "654321", 6));
	rt_err *e = piv_unblock_pin(c, "12345678", 8, "111111", 6);
	assert_int_equal(rt_err_kind_of(e), RT_E_PIN_WRONG);
	assert_int_equal(rt_err_detail(e), 1);
	rt_err_free(e);
	done(c, t);
}

static void
test_generate_and_sign(void **state)
{
	(void)state;
	char pk[300];
	char *p = pk;
	p += sprintf(p, "< 7F4943 8641 04");
	for (int i = 0; i < 64; i++)
		p += sprintf(p, "%02X", i);
	sprintf(p, " 9000");
	const char *const script[] = { SELECT, APT,
		"> 004700 9A05 AC03800111 00", pk,
		"> 0087119A26 7C24 8200 8120 *", "< 7C0A 8208 3006020101020101 9000",
		"> 0087119A26 *", "< 6982",
		NULL };
	rt_transport *t;
	piv_card *c = open_piv(script, &t, false);
	piv_pubkey pub;
	assert_null(piv_generate(c, 0x9A, PIV_ALG_ECCP256, 0, 0, &pub));
	assert_int_equal(pub.point_len, 65);
	assert_int_equal(pub.point[0], 0x04);
	uint8_t hash[48] = { 0 }, out[128];
	size_t olen;
	/* a 48-byte hash is truncated to 32 bytes for P-256 */
	assert_null(piv_sign(c, 0x9A, PIV_ALG_ECCP256, hash, 48, out,
	    sizeof(out), &olen));
	assert_int_equal(olen, 8);
	rt_err *e = piv_sign(c, 0x9A, PIV_ALG_ECCP256, hash, 32, out,
	    sizeof(out), &olen);
	assert_int_equal(rt_err_kind_of(e), RT_E_PERMISSION);
	assert_int_equal(rt_err_sw_of(e), 0x6982);
	rt_err_free(e);
	done(c, t);
}

static void
test_metadata(void **state)
{
	(void)state;
	piv_metadata md;
	uint8_t buf[100];
	size_t n = 0;
	const uint8_t head[] = { 0x01, 0x01, 0x11, 0x02, 0x02, 0x02, 0x01,
	    0x03, 0x01, 0x01, 0x04, 0x43, 0x86, 0x41 };
	memcpy(buf, head, sizeof(head));
	n = sizeof(head);
	buf[n++] = 0x04;
	for (int i = 0; i < 64; i++)
		buf[n++] = (uint8_t)i;
	assert_null(piv_metadata_parse(buf, n, &md));
	assert_int_equal(md.alg, PIV_ALG_ECCP256);
	assert_int_equal(md.pin_policy, PIV_PIN_POLICY_ONCE);
	assert_int_equal(md.touch_policy, PIV_TOUCH_POLICY_NEVER);
	assert_int_equal(md.origin, 1);
	assert_true(md.has_pubkey);
	assert_int_equal(md.pub.point_len, 65);
	/* a truncated reply */
	rt_err *e = piv_metadata_parse(buf, n - 3, &md);
	assert_non_null(e);
	rt_err_free(e);
}

/* Default PIN / PUK / management key from GET METADATA, as a YubiKey
 * 5.3+ answers it; an older card (INS not supported) cannot tell. */
static void
test_default_creds(void **state)
{
	(void)state;
	const char *const yk[] = { SELECT, APT,
		"> 00F70080 00", "< 0101FF 050101 06020303 9000",
		"> 00F70081 00", "< 0101FF 050100 06020303 9000",
		"> 00F7009B 00", "< 010103 02020001 050101 9000",
		NULL };
	rt_transport *t;
	piv_card *c = open_piv(yk, &t, false);
	unsigned def, known;
	assert_null(piv_default_creds(c, &def, &known));
	assert_int_equal(def, PIV_DEFAULT_PIN | PIV_DEFAULT_MGMT);
	assert_int_equal(known, PIV_DEFAULT_PIN | PIV_DEFAULT_PUK |
	    PIV_DEFAULT_MGMT);
	done(c, t);

	const char *const old[] = { SELECT, APT,
		"> 00F70080 00", "< 6D00",
		"> 00F70081 00", "< 6D00",
		"> 00F7009B 00", "< 6D00",
		NULL };
	c = open_piv(old, &t, false);
	rt_err *e = piv_default_creds(c, &def, &known);
	assert_int_equal(rt_err_kind_of(e), RT_E_NOT_SUPPORTED);
	assert_int_equal(def, 0);
	assert_int_equal(known, 0);
	rt_err_free(e);
	done(c, t);

	/* metadata without the default-value tag tells nothing */
	const char *const notag[] = { SELECT, APT,
		"> 00F70080 00", "< 0101FF 06020303 9000",
		"> 00F70081 00", "< 6A88",
		"> 00F7009B 00", "< 010103 02020001 050100 9000",
		NULL };
	c = open_piv(notag, &t, false);
	assert_null(piv_default_creds(c, &def, &known));
	assert_int_equal(def, 0);
	assert_int_equal(known, PIV_DEFAULT_MGMT);
	done(c, t);

	/* a card pulled in the middle is an error, not "unknown" */
	const char *const pulled[] = { SELECT, APT,
		"! removed",
		NULL };
	c = open_piv(pulled, &t, false);
	e = piv_default_creds(c, &def, &known);
	assert_true(rt_err_has(e, RT_E_CARD_REMOVED));
	rt_err_free(e);
	done(c, t);
}

static void
test_sw_table(void **state)
{
	(void)state;
	static const struct { uint16_t sw; rt_err_kind k; } cases[] = {
		{ 0x6982, RT_E_PERMISSION }, { 0x6983, RT_E_PIN_BLOCKED },
		{ 0x6A82, RT_E_NOT_FOUND }, { 0x6A84, RT_E_CARD_FULL },
		{ 0x6D00, RT_E_NOT_SUPPORTED }, { 0x63C0, RT_E_PIN_BLOCKED },
		{ 0x63C5, RT_E_PIN_WRONG }, { 0x6F42, RT_E_CARD_STATUS },
		{ 0x1234, RT_E_CARD_STATUS },
	};
	assert_null(piv_sw_error(0x9000, "x"));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rt_err *e = piv_sw_error(cases[i].sw, "op");
		assert_int_equal(rt_err_kind_of(e), cases[i].k);
		assert_int_equal(rt_err_sw_of(e), cases[i].sw);
		rt_err_free(e);
	}
}

static void
test_slots(void **state)
{
	(void)state;
	uint8_t s;
	assert_true(piv_slot_parse("9a", &s));
	assert_int_equal(s, 0x9A);
	assert_true(piv_slot_parse("0x95", &s));
	assert_int_equal(piv_cert_tag(0x95), 0x5FC120);
	assert_false(piv_slot_parse("9b", &s));
	assert_false(piv_slot_parse("zz", &s));
	assert_false(piv_slot_parse("9a0", &s));
	assert_int_equal(piv_alg_from_name("eccp384"), PIV_ALG_ECCP384);
	assert_string_equal(piv_alg_name(PIV_ALG_RSA2048), "RSA2048");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_not_piv),
		cmocka_unit_test(test_malformed_select),
		cmocka_unit_test(test_chuid),
		cmocka_unit_test(test_chuid_bad),
		cmocka_unit_test(test_read_cert_and_missing),
		cmocka_unit_test(test_cert_object_trailing),
		cmocka_unit_test(test_compressed_cert),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_change_unblock),
		cmocka_unit_test(test_generate_and_sign),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_default_creds),
		cmocka_unit_test(test_sw_table),
		cmocka_unit_test(test_slots),
	};
	return cmocka_run_group_tests_name("piv", tests, NULL, NULL);
}
