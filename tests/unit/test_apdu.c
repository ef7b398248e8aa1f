/* Unit tests: APDU encoding and chaining against the scripted transport. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "raterm/apdu.h"
#include "raterm/transport.h"

static rt_transport *
open_script(const char *const *script, bool ext)
{
	rt_transport *t;
	assert_null(rt_script_open(script, &t));
	t->ext_len = ext;
	return t;
}

static void
test_encode(void **state)
{
	(void)state;
	uint8_t buf[300], data[3] = { 1, 2, 3 };
	size_t n;
	apdu_cmd c = { .cla = 0, .ins = 0xCB, .p1 = 0x3F, .p2 = 0xFF,
	    .data = data, .lc = 3, .le = 256 };
	assert_null(apdu_encode(&c, 0, buf, sizeof(buf), &n));
	assert_int_equal(n, 4 + 1 + 3 + 1);
	assert_int_equal(buf[8], 0x00);
	assert_null(apdu_encode(&c, 1, buf, sizeof(buf), &n));
	assert_int_equal(n, 4 + 3 + 3 + 2);
	assert_int_equal(buf[4], 0x00);
	assert_int_equal(buf[6], 0x03);
	c.lc = 0;
	c.le = 65536;
	assert_null(apdu_encode(&c, 1, buf, sizeof(buf), &n));
	assert_int_equal(n, 7);
	assert_memory_equal(buf + 4, "\x00\x00\x00", 3);
	c.le = 0;
	assert_null(apdu_encode(&c, 0, buf, sizeof(buf), &n));
	assert_int_equal(n, 4);
}

static void
test_get_response_chain(void **state)
{
	(void)state;
	const char *const script[] = {
		"> 00CB3FFF 03 5C017E 00", "< 0102 6104",
		"> 00C0000004", "< 03040506 6102",
		"> 00C0000002", "< 0708 9000",
		NULL,
	};
	rt_transport *t = open_script(script, false);
	uint8_t q[] = { 0x5C, 0x01, 0x7E }, out[16];
	size_t n;
	uint16_t sw;
	apdu_cmd c = { .ins = 0xCB, .p1 = 0x3F, .p2 = 0xFF, .data = q, .lc = 3,
	    .le = 65536 };
	assert_null(apdu_exchange(t, &c, out, sizeof(out), &n, &sw));
	assert_int_equal(sw, 0x9000);
	assert_int_equal(n, 8);
	assert_memory_equal(out, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_int_equal(rt_script_left(t), 0);
	assert_int_equal(t->apdu_count, 3);
	rt_transport_close(t);
}

static void
test_response_too_big(void **state)
{
	(void)state;
	const char *const script[] = {
		"> 00CB3FFF00", "< 01020304 6104",
		"> 00C0000004", "< 05060708 9000",
		NULL,
	};
	rt_transport *t = open_script(script, false);
	uint8_t out[6];
	size_t n;
	uint16_t sw;
	apdu_cmd c = { .ins = 0xCB, .p1 = 0x3F, .p2 = 0xFF, .le = 256 };
	rt_err *e = apdu_exchange(t, &c, out, sizeof(out), &n, &sw);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_TOO_BIG);
	rt_err_free(e);
	rt_transport_close(t);
}

static void
test_wrong_le(void **state)
{
	(void)state;
	const char *const script[] = {
		"> 00F8000000", "< 6C04",
		"> 00F8000004", "< 00BC614E 9000",
		NULL,
	};
	rt_transport *t = open_script(script, false);
	uint8_t out[8];
	size_t n;
	uint16_t sw;
	apdu_cmd c = { .ins = 0xF8, .le = 256 };
	assert_null(apdu_exchange(t, &c, out, sizeof(out), &n, &sw));
	assert_int_equal(sw, 0x9000);
	assert_int_equal(n, 4);
	rt_transport_close(t);
}

static char long_cmd1[2 * 270 + 32], long_cmd2[64];

static void
test_command_chaining(void **state)
{
	(void)state;
	uint8_t data[300];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	/* first part: CLA 10, 255 bytes; second: CLA 00, 45 bytes */
	char *p = long_cmd1;
	p += sprintf(p, "> 10DB3FFFFF");
	for (size_t i = 0; i < 255; i++)
		p += sprintf(p, "%02X", data[i]);
	p = long_cmd2;
	p += sprintf(p, "> 00DB3FFF2D");
	for (size_t i = 255; i < 260; i++)
		p += sprintf(p, "%02X", data[i]);
	sprintf(p, "*");
	const char *const script[] = {
		long_cmd1, "< 9000",
		long_cmd2, "< 9000",
		NULL,
	};
	rt_transport *t = open_script(script, false);
	uint8_t out[8];
	size_t n;
	uint16_t sw;
	apdu_cmd c = { .ins = 0xDB, .p1 = 0x3F, .p2 = 0xFF, .data = data,
	    .lc = sizeof(data) };
	assert_null(apdu_exchange(t, &c, out, sizeof(out), &n, &sw));
	assert_int_equal(sw, 0x9000);
	assert_int_equal(rt_script_left(t), 0);
	rt_transport_close(t);
}

static void
test_chaining_stops_on_error(void **state)
{
	(void)state;
	uint8_t data[300] = { 0 };
	const char *const script[] = {
		"> 10DB3FFFFF*", "< 6982",
		NULL,
	};
	rt_transport *t = open_script(script, false);
	uint8_t out[8];
	size_t n;
	uint16_t sw;
	apdu_cmd c = { .ins = 0xDB, .p1 = 0x3F, .p2 = 0xFF, .data = data,
	    .lc = sizeof(data) };
	assert_null(apdu_exchange(t, &c, out, sizeof(out), &n, &sw));
	assert_int_equal(sw, 0x6982);
	assert_int_equal(rt_script_left(t), 0);
	rt_transport_close(t);
}

static void
test_extended_and_fallback(void **state)
{
	(void)state;
	const char *const script[] = {
		/* extended GET DATA refused with 6700: falls back to short */
		"> 00CB3FFF000003 5C017E 0000", "< 6700",
		"> 00CB3FFF03 5C017E 00", "< 7E00 9000",
		NULL,
	};
	rt_transport *t = open_script(script, true);
	uint8_t q[] = { 0x5C, 0x01, 0x7E }, out[16];
	size_t n;
	uint16_t sw;
	apdu_cmd c = { .ins = 0xCB, .p1 = 0x3F, .p2 = 0xFF, .data = q, .lc = 3,
	    .le = 65536 };
	assert_null(apdu_exchange(t, &c, out, sizeof(out), &n, &sw));
	assert_int_equal(sw, 0x9000);
	assert_int_equal(n, 2);
	assert_false(t->ext_len);
	rt_transport_close(t);
}

static void
test_card_removed(void **state)
{
	(void)state;
	const char *const script[] = {
		"> 00CB3FFF00", "< 0102 6110",
		"! removed",
		NULL,
	};
	rt_transport *t = open_script(script, false);
	uint8_t out[64];
	size_t n;
	uint16_t sw;
	apdu_cmd c = { .ins = 0xCB, .p1 = 0x3F, .p2 = 0xFF, .le = 256 };
	rt_err *e = apdu_exchange(t, &c, out, sizeof(out), &n, &sw);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_CARD_REMOVED);
	rt_err_free(e);
	rt_transport_close(t);
}

static void
test_atr_caps(void **state)
{
	(void)state;
	rt_transport t;
	memset(&t, 0, sizeof(t));
	/* YubiKey 5 NFC ATR: card capabilities 73 C0 21 C0 -> extended */
	const uint8_t yk[] = { 0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE,
	    0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0, 0x57, 0x59, 0x75, 0x62, 0x69,
	    0x4B, 0x65, 0x79, 0x40 };
	memcpy(t.atr, yk, sizeof(yk));
	t.atr_len = sizeof(yk);
	rt_transport_atr_caps(&t);
	assert_true(t.ext_len);
	/* the same with the extended-length bit cleared */
	t.atr[13] = 0x80;
	rt_transport_atr_caps(&t);
	assert_false(t.ext_len);
	/* truncated ATR: no crash, no extended length */
	t.atr_len = 5;
	rt_transport_atr_caps(&t);
	assert_false(t.ext_len);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_get_response_chain),
		cmocka_unit_test(test_response_too_big),
		cmocka_unit_test(test_wrong_le),
		cmocka_unit_test(test_command_chaining),
		cmocka_unit_test(test_chaining_stops_on_error),
		cmocka_unit_test(test_extended_and_fallback),
		cmocka_unit_test(test_card_removed),
		cmocka_unit_test(test_atr_caps),
	};
	return cmocka_run_group_tests_name("apdu", tests, NULL, NULL);
}
