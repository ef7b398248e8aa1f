/* Unit tests: the id-it-raterm-txStatus codec (include/raterm/cmp.h),
 * and an empty CMP body:
 * request and response round trips (unknown, waiting with recipNonce and
 * confirmBy, closed with per-certificate states), the exact DER, and
 * malformed values refused; the HTTP response buffer wiped whenever it
 * gives a block up (grown or dropped). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raterm/cmp.h"
#include "../../src/cmp/cmp_int.h"

static const uint8_t txid[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16 };
static const uint8_t nonce[] = { 0xAA, 0xBB, 0xCC, 0xDD };
static const uint8_t cert1[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
static const uint8_t cert2[] = { 0x30, 0x03, 0x02, 0x01, 0x02 };

static void
ok(rt_err *e)
{
	if (e != NULL) {
		char m[300];
		rt_err_format(e, m, sizeof(m));
		print_error("%s\n", m);
		rt_err_free(e);
		fail();
	}
}

static void
bad(const uint8_t *der, size_t len, bool response)
{
	cmp_tx_status s;
	rt_err *e = cmp_tx_status_parse((cmp_buf){ der, len }, response, &s);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_CMP_FORMAT));
	rt_err_free(e);
}

static void
test_request(void **state)
{
	(void)state;
	cmp_tx_status q, got;
	uint8_t *der;
	size_t len;
	memset(&q, 0, sizeof(q));
	q.txid = (cmp_buf){ txid, sizeof(txid) };
	ok(cmp_tx_status_encode(&q, false, &der, &len));
	/* SEQUENCE { OCTET STRING txid } */
	assert_int_equal(len, 2 + 2 + sizeof(txid));
	assert_int_equal(der[0], 0x30);
	assert_int_equal(der[2], 0x04);
	ok(cmp_tx_status_parse((cmp_buf){ der, len }, false, &got));
	assert_true(cmp_buf_eq(got.txid, q.txid));
	/* trailing bytes, truncation: refused */
	for (size_t n = 0; n < len; n++)
		bad(der, n, false);
	free(der);
}

static void
test_response(void **state)
{
	(void)state;
	cmp_tx_status s, got;
	uint8_t *der;
	size_t len;

	/* unknown: no certificates */
	memset(&s, 0, sizeof(s));
	s.txid = (cmp_buf){ txid, sizeof(txid) };
	s.status = CMP_TX_UNKNOWN;
	ok(cmp_tx_status_encode(&s, true, &der, &len));
	ok(cmp_tx_status_parse((cmp_buf){ der, len }, true, &got));
	assert_int_equal(got.status, CMP_TX_UNKNOWN);
	assert_int_equal(got.ncerts, 0);
	assert_int_equal(got.recip_nonce.len, 0);
	assert_int_equal((long)got.confirm_by, 0);
	free(der);

	/* waiting: recipNonce, confirmBy, two certificates */
	s.status = CMP_TX_WAITING;
	s.recip_nonce = (cmp_buf){ nonce, sizeof(nonce) };
	s.confirm_by = 1893456000;	/* 2030-01-01 */
	s.ncerts = 2;
	s.certs[0] = (cmp_tx_cert){ 0, CMP_TXC_WAITING, { cert1, sizeof(cert1) } };
	s.certs[1] = (cmp_tx_cert){ 1, CMP_TXC_WAITING, { cert2, sizeof(cert2) } };
	ok(cmp_tx_status_encode(&s, true, &der, &len));
	ok(cmp_tx_status_parse((cmp_buf){ der, len }, true, &got));
	assert_int_equal(got.status, CMP_TX_WAITING);
	assert_true(cmp_buf_eq(got.recip_nonce, s.recip_nonce));
	assert_int_equal((long)got.confirm_by, 1893456000L);
	assert_int_equal(got.ncerts, 2);
	assert_int_equal(got.certs[1].cert_req_id, 1);
	assert_true(cmp_buf_eq(got.certs[1].cert, s.certs[1].cert));
	for (size_t n = 0; n < len; n++)
		bad(der, n, true);
	free(der);

	/* closed: per-certificate states */
	s.status = CMP_TX_CLOSED;
	s.recip_nonce.len = 0;
	s.confirm_by = 0;
	s.certs[0].state = CMP_TXC_CONFIRMED;
	s.certs[1].state = CMP_TXC_REVOKED;
	ok(cmp_tx_status_encode(&s, true, &der, &len));
	ok(cmp_tx_status_parse((cmp_buf){ der, len }, true, &got));
	assert_int_equal(got.status, CMP_TX_CLOSED);
	assert_int_equal(got.certs[0].state, CMP_TXC_CONFIRMED);
	assert_int_equal(got.certs[1].state, CMP_TXC_REVOKED);
	free(der);
}

static void
test_malformed(void **state)
{
	(void)state;
	/* status 3 does not exist */
	static const uint8_t st3[] = { 0x30, 0x08, 0x04, 0x01, 0x01, 0x0A, 0x01,
	    0x03, 0x30, 0x00 };
	bad(st3, sizeof(st3), true);
	/* an unknown transaction with certificates */
	static const uint8_t unk[] = { 0x30, 0x11, 0x04, 0x01, 0x01, 0x0A, 0x01,
	    0x00, 0x30, 0x09, 0x30, 0x07, 0x02, 0x01, 0x00, 0x0A, 0x01, 0x00,
	    0x30, 0x00 };
	bad(unk, sizeof(unk), true);
	/* an empty transactionID */
	static const uint8_t empty[] = { 0x30, 0x02, 0x04, 0x00 };
	bad(empty, sizeof(empty), false);
	/* the response's certs missing */
	static const uint8_t nocerts[] = { 0x30, 0x06, 0x04, 0x01, 0x01, 0x0A,
	    0x01, 0x02 };
	bad(nocerts, sizeof(nocerts), true);
	/* encoding refuses a status out of range */
	cmp_tx_status s;
	uint8_t *der;
	size_t len;
	memset(&s, 0, sizeof(s));
	s.txid = (cmp_buf){ txid, 1 };
	s.status = (cmp_tx_state)7;
	rt_err *e = cmp_tx_status_encode(&s, true, &der, &len);
	assert_non_null(e);
	rt_err_free(e);
}

/* An empty body (a CM host answering nothing, a client sending nothing)
 * is a format error, not a memcpy from NULL (UBSan). */
static void
test_empty_message(void **state)
{
	(void)state;
	cmp_msg *m = NULL;
	rt_err *e = cmp_msg_decode(NULL, 0, &m);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_CMP_FORMAT));
	assert_null(m);
	rt_err_free(e);
}

/* Every block the response buffer gives up is all zero when freed. */
static size_t released, released_dirty;

static void
on_released(const uint8_t *p, size_t cap)
{
	released++;
	for (size_t i = 0; i < cap; i++)
		if (p[i] != 0) {
			released_dirty++;
			return;
		}
}

static void
test_response_wiped(void **state)
{
	(void)state;
	cmp_rbuf b = { 0 };
	char chunk[5000];
	memset(chunk, 0x5A, sizeof(chunk));	/* a "management key" */
	cmp_rbuf_released = on_released;
	released = released_dirty = 0;
	assert_int_equal(cmp_rbuf_append(chunk, 1, 0, &b), 0);
	assert_int_equal(cmp_rbuf_append(chunk, 1, sizeof(chunk), &b),
	    sizeof(chunk));
	assert_int_equal(released, 0);
	/* 10000 bytes: the 8192-byte block is copied, then wiped and freed */
	assert_int_equal(cmp_rbuf_append(chunk, 1, sizeof(chunk), &b),
	    sizeof(chunk));
	assert_int_equal(released, 1);
	assert_int_equal(b.len, 2 * sizeof(chunk));
	assert_int_equal(b.p[0], 0x5A);
	assert_int_equal(b.p[b.len - 1], 0x5A);
	cmp_rbuf_release(&b);	/* an exchange that failed */
	assert_int_equal(released, 2);
	assert_int_equal(released_dirty, 0);
	assert_null(b.p);
	cmp_rbuf_release(&b);	/* twice: nothing */
	assert_int_equal(released, 2);
	/* too large: refused, nothing kept beyond the cap */
	cmp_rbuf big = { 0 };
	assert_int_equal(cmp_rbuf_append(chunk, 1, 1024 * 1024 + 1, &big), 0);
	assert_true(big.too_big);
	cmp_rbuf_released = NULL;
}

/* libcurl may never rewind a request body to send it again: the CM host
 * may have acted on the first (a cr issued twice). */
static void
test_no_resend(void **state)
{
	(void)state;
	assert_int_equal(cmp_http_seek(NULL, 0, SEEK_SET), 1);	/* FAIL */
	assert_int_equal(cmp_http_seek(NULL, 10, SEEK_CUR), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_response_wiped),
		cmocka_unit_test(test_no_resend),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
