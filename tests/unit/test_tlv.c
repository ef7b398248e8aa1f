/* Unit tests: BER-TLV reader/writer and the error model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "raterm/err.h"
#include "raterm/tlv.h"

static void
test_read_simple(void **state)
{
	(void)state;
	const uint8_t b[] = { 0x53, 0x03, 0x01, 0x02, 0x03, 0x5F, 0xC1, 0x02, 0x00 };
	tlv_cur c;
	uint32_t tag;
	const uint8_t *v;
	size_t l;
	tlv_init(&c, b, sizeof(b));
	assert_null(tlv_next(&c, &tag, &v, &l));
	assert_int_equal(tag, 0x53);
	assert_int_equal(l, 3);
	assert_int_equal(v[2], 3);
	assert_null(tlv_next(&c, &tag, &v, &l));
	assert_int_equal(tag, 0x5FC102);
	assert_int_equal(l, 0);
	assert_true(tlv_at_end(&c));
	assert_null(tlv_end(&c));
}

static void
test_long_lengths(void **state)
{
	(void)state;
	static uint8_t b[4 + 300];
	b[0] = 0x70; b[1] = 0x82; b[2] = 0x01; b[3] = 0x2C;
	tlv_cur c;
	uint32_t tag;
	const uint8_t *v;
	size_t l;
	tlv_init(&c, b, sizeof(b));
	assert_null(tlv_next(&c, &tag, &v, &l));
	assert_int_equal(l, 300);
	assert_null(tlv_end(&c));
}

static void
expect_err(const uint8_t *b, size_t n, rt_err_kind k)
{
	tlv_cur c;
	uint32_t tag;
	const uint8_t *v;
	size_t l;
	tlv_init(&c, b, n);
	rt_err *e = tlv_next(&c, &tag, &v, &l);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), k);
	rt_err_free(e);
}

static void
test_truncated(void **state)
{
	(void)state;
	const uint8_t value_short[] = { 0x53, 0x05, 0x01 };
	const uint8_t no_len[] = { 0x53 };
	const uint8_t len_short[] = { 0x53, 0x82, 0x01 };
	const uint8_t tag_short[] = { 0x5F };
	const uint8_t indefinite[] = { 0x53, 0x80, 0x00, 0x00 };
	const uint8_t huge_len[] = { 0x53, 0x85, 1, 1, 1, 1, 1 };
	const uint8_t long_tag[] = { 0x5F, 0xC1, 0x82, 0x01, 0x00 };
	expect_err(value_short, sizeof(value_short), RT_E_TLV);
	expect_err(no_len, sizeof(no_len), RT_E_TLV);
	expect_err(len_short, sizeof(len_short), RT_E_TLV);
	expect_err(tag_short, sizeof(tag_short), RT_E_TLV);
	expect_err(indefinite, sizeof(indefinite), RT_E_TLV);
	expect_err(huge_len, sizeof(huge_len), RT_E_TLV);
	expect_err(long_tag, sizeof(long_tag), RT_E_TLV);
}

static void
test_trailing(void **state)
{
	(void)state;
	const uint8_t b[] = { 0x53, 0x01, 0xAA, 0x00 };
	tlv_cur c;
	const uint8_t *v;
	size_t l;
	tlv_init(&c, b, sizeof(b));
	assert_null(tlv_expect(&c, 0x53, &v, &l));
	rt_err *e = tlv_end(&c);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_TLV);
	rt_err_free(e);
	/* wrong tag leaves the cursor in place */
	tlv_init(&c, b, sizeof(b));
	e = tlv_expect(&c, 0x54, &v, &l);
	assert_non_null(e);
	rt_err_free(e);
	assert_int_equal(c.off, 0);
}

static void
test_find(void **state)
{
	(void)state;
	const uint8_t b[] = { 0x80, 0x01, 0x11, 0x81, 0x02, 0xAB, 0xCD };
	const uint8_t *v;
	size_t l;
	assert_null(tlv_find(b, sizeof(b), 0x81, &v, &l));
	assert_int_equal(l, 2);
	assert_int_equal(v[1], 0xCD);
	rt_err *e = tlv_find(b, sizeof(b), 0x82, &v, &l);
	assert_int_equal(rt_err_kind_of(e), RT_E_NOT_FOUND);
	rt_err_free(e);
}

static void
test_writer(void **state)
{
	(void)state;
	uint8_t buf[600], val[300];
	tlv_w w;
	memset(val, 0x5A, sizeof(val));
	tlv_w_init(&w, buf, sizeof(buf));
	size_t m = tlv_w_open(&w, 0x7C);
	tlv_w_put(&w, 0x82, NULL, 0);
	tlv_w_put(&w, 0x81, val, sizeof(val));
	tlv_w_close(&w, m);
	assert_null(tlv_w_finish(&w));
	/* 7C 82 0131 | 82 00 | 81 82 012C ... */
	assert_int_equal(w.len, 4 + 2 + 4 + 300);
	assert_int_equal(buf[0], 0x7C);
	assert_int_equal(buf[1], 0x82);
	assert_int_equal(buf[2], 0x01);
	assert_int_equal(buf[3], 0x32);
	tlv_cur c;
	const uint8_t *v, *iv;
	size_t l, il;
	tlv_init(&c, buf, w.len);
	assert_null(tlv_expect(&c, 0x7C, &v, &l));
	assert_null(tlv_end(&c));
	assert_null(tlv_find(v, l, 0x81, &iv, &il));
	assert_int_equal(il, 300);
	/* three-byte tags */
	tlv_w_init(&w, buf, sizeof(buf));
	tlv_w_put_u8(&w, 0x5FC105, 7);
	assert_null(tlv_w_finish(&w));
	assert_int_equal(w.len, 5);
	assert_int_equal(buf[2], 0x05);
}

static void
test_writer_overflow(void **state)
{
	(void)state;
	uint8_t buf[8], val[16] = { 0 };
	tlv_w w;
	tlv_w_init(&w, buf, sizeof(buf));
	tlv_w_put(&w, 0x53, val, sizeof(val));
	tlv_w_put_u8(&w, 0x01, 1);
	rt_err *e = tlv_w_finish(&w);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_TOO_BIG);
	rt_err_free(e);
}

static void
test_err_chain(void **state)
{
	(void)state;
	char buf[256];
	rt_err *e = rt_err_sw(RT_E_PIN_WRONG, 0x63C2, "VERIFY PIN: 2 retries left");
	rt_err_set_detail(e, 2);
	e = rt_err_wrap(e, "officer card");
	assert_int_equal(rt_err_kind_of(e), RT_E_PIN_WRONG);
	assert_int_equal(rt_err_detail(e), 2);
	assert_int_equal(rt_err_sw_of(e), 0x63C2);
	assert_true(rt_err_has(e, RT_E_PIN_WRONG));
	assert_false(rt_err_has(e, RT_E_TLV));
	rt_err_format(e, buf, sizeof(buf));
	assert_string_equal(buf,
	    "officer card: VERIFY PIN: 2 retries left [PIN_WRONG, SW 63C2]");
	assert_int_equal(rt_err_exit_code(e), 5);
	assert_string_equal(rt_err_kind_name(RT_E_NO_READER), "NO_READER");
	rt_err_free(e);
	rt_err_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_simple),
		cmocka_unit_test(test_long_lengths),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_trailing),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_writer_overflow),
		cmocka_unit_test(test_err_chain),
	};
	return cmocka_run_group_tests_name("tlv", tests, NULL, NULL);
}
