/* Unit tests: OCSP requests and responses (src/crypto/ocsp.c) with
 * `openssl ocsp` as referee both ways: raterm parses the request OpenSSL
 * makes and OpenSSL verifies the response raterm signs (good, revoked
 * with reason, unknown, nonce echoed); raterm parses and verifies the
 * response OpenSSL's responder signs; malformed input is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "raterm/ocsp.h"
#include "raterm/signer.h"
#include "raterm/softtoken.h"
#include "raterm/x509write.h"
#include "crypto_testutil.h"

#define PASS "pw"

static FILE *warn;
static uint8_t *ca_der;
static size_t ca_len;

static int
setup(void **state)
{
	(void)state;
	warn = tmpfile();
	if (tu_sh(
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.pem &&"
	    "openssl pkcs8 -topk8 -in ca.pem -out ca.p8 -passout pass:" PASS " &&"
	    "openssl req -x509 -new -key ca.pem -subj '/CN=OCSP Test CA' -days 10"
	    " -addext basicConstraints=critical,CA:TRUE"
	    " -addext keyUsage=critical,keyCertSign,cRLSign -out ca.crt &&"
	    "openssl x509 -in ca.crt -outform DER -out ca.der &&"
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ee.pem &&"
	    "openssl req -new -key ee.pem -subj /CN=ee -out ee.csr &&"
	    "openssl x509 -req -in ee.csr -CA ca.crt -CAkey ca.pem -set_serial 0x42"
	    " -days 5 -out ee.crt &&"
	    "openssl ocsp -issuer ca.crt -cert ee.crt -reqout req.der -nonce &&"
	    "openssl ocsp -issuer ca.crt -cert ee.crt -reqout req-nononce.der -no_nonce")
	    != 0)
		return -1;
	ca_der = tu_read("ca.der", &ca_len);
	return ca_der != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	fclose(warn);
	free(ca_der);
	tu_cleanup();
	return 0;
}

/* assert_null for an rt_err, printing it */
static void
ok(rt_err *e)
{
	if (e != NULL) {
		char m[512];
		rt_err_format(e, m, sizeof(m));
		print_error("%s\n", m);
		rt_err_free(e);
		fail();
	}
}

static void
write_file(const char *name, const uint8_t *d, size_t n)
{
	FILE *f = fopen(tu_path(name), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(d, 1, n, f), n);
	fclose(f);
}

static void
ca_key_id(uint8_t kid[20])
{
	mbedtls_x509_crt c;
	mbedtls_x509_crt_init(&c);
	assert_int_equal(mbedtls_x509_crt_parse_der(&c, ca_der, ca_len), 0);
	assert_null(rt_key_id(c.pk_raw.p, c.pk_raw.len, kid));
	mbedtls_x509_crt_free(&c);
}

static void
test_request_from_openssl(void **state)
{
	(void)state;
	size_t len;
	uint8_t *der = tu_read("req.der", &len);
	rt_ocsp_req r;
	rt_ocsp_certid want;
	static const uint8_t serial[] = { 0x42 };
	assert_non_null(der);
	assert_null(rt_ocsp_req_parse(der, len, &r));
	assert_int_equal(r.n, 1);
	assert_true(r.nonce_len > 0);
	assert_null(rt_ocsp_certid_of(ca_der, ca_len, serial, 1, RT_HASH_SHA1,
	    &want));
	assert_true(rt_ocsp_certid_eq(&r.ids[0], &want));
	/* our own encoding parses back the same */
	uint8_t *mine;
	size_t mlen;
	rt_ocsp_req back;
	assert_null(rt_ocsp_req_encode(&r, &mine, &mlen));
	assert_null(rt_ocsp_req_parse(mine, mlen, &back));
	assert_int_equal(back.n, 1);
	assert_true(rt_ocsp_certid_eq(&back.ids[0], &want));
	assert_memory_equal(back.nonce, r.nonce, r.nonce_len);
	/* and OpenSSL reads it */
	write_file("mine.der", mine, mlen);
	assert_int_equal(tu_sh("openssl ocsp -reqin mine.der -req_text | "
	    "grep -q 'Serial Number: 42'"), 0);
	free(mine);

	/* truncations and trailing bytes are refused */
	for (size_t cut = 1; cut < len; cut += 3) {
		rt_err *e = rt_ocsp_req_parse(der, len - cut, &back);
		assert_non_null(e);
		rt_err_free(e);
	}
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, der, len);
	longer[len] = 0;
	rt_err *e = rt_ocsp_req_parse(longer, len + 1, &back);
	assert_non_null(e);
	rt_err_free(e);
	free(longer);
	free(der);
}

static void
respond(rt_ocsp_status st, int reason, const char *reqfile, const char *out)
{
	size_t len;
	uint8_t *der = tu_read(reqfile, &len), kid[20], *resp;
	size_t rlen;
	rt_ocsp_req r;
	rt_signer *s;
	assert_null(rt_ocsp_req_parse(der, len, &r));
	ca_key_id(kid);
	time_t now = time(NULL);
	rt_ocsp_single one = { .id = r.ids[0], .status = st,
	    .revoked_at = now - 100, .reason = reason, .this_update = now - 1,
	    .next_update = now + 3600 };
	rt_ocsp_resp_tmpl t = { .responder_key_id = kid, .produced_at = now,
	    .single = &one, .n = 1,
	    .nonce = r.nonce_len ? r.nonce : NULL, .nonce_len = r.nonce_len,
	    .signer_cert = ca_der, .signer_cert_len = ca_len };
	assert_null(rt_signer_soft(tu_path("ca.p8"), NULL, PASS, strlen(PASS),
	    warn, &s));
	assert_null(rt_ocsp_resp_write(&t, s, &resp, &rlen));
	write_file(out, resp, rlen);

	/* our own parser verifies it and reads the same answer */
	rt_ocsp_resp p;
	ok(rt_ocsp_resp_parse(resp, rlen, ca_der, ca_len, &p));
	assert_int_equal(p.status, RT_OCSP_SUCCESSFUL);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.single[0].status, st);
	assert_true(rt_ocsp_certid_eq(&p.single[0].id, &r.ids[0]));
	assert_int_equal(p.nonce_len, r.nonce_len);
	if (st == RT_OCSP_REVOKED)
		assert_int_equal(p.single[0].reason, reason);
	/* a flipped bit in the signed data (the responder id): refused */
	size_t at = 0;
	for (size_t i = 0; i + 20 <= rlen && at == 0; i++)
		if (memcmp(resp + i, kid, 20) == 0)
			at = i;
	assert_true(at > 0);
	resp[at + 5] ^= 0x01;
	rt_err *e = rt_ocsp_resp_parse(resp, rlen, ca_der, ca_len, &p);
	assert_non_null(e);
	rt_err_free(e);
	free(resp);
	rt_signer_free(s);
	free(der);
}

static void
test_response_to_openssl(void **state)
{
	(void)state;
	/* -reqin: OpenSSL checks that the nonce is echoed */
	respond(RT_OCSP_GOOD, -1, "req.der", "good.der");
	assert_int_equal(tu_sh("openssl ocsp -respin good.der -reqin req.der "
	    "-CAfile ca.crt -resp_text > good.txt 2>&1 && "
	    "grep -q 'Response verify OK' good.txt && "
	    "grep -q 'Cert Status: good' good.txt && "
	    "! grep -q 'Nonce Verify error' good.txt"), 0);
	respond(RT_OCSP_REVOKED, 1, "req.der", "rev.der");
	assert_int_equal(tu_sh("openssl ocsp -respin rev.der -reqin req.der "
	    "-CAfile ca.crt -resp_text > rev.txt 2>&1 && "
	    "grep -q 'Response verify OK' rev.txt && "
	    "grep -q 'Cert Status: revoked' rev.txt && "
	    "grep -q 'Revocation Reason: keyCompromise' rev.txt"), 0);
	/* -issuer/-cert: OpenSSL matches the CertID to the certificate */
	respond(RT_OCSP_UNKNOWN, -1, "req-nononce.der", "unk.der");
	assert_int_equal(tu_sh("openssl ocsp -respin unk.der -issuer ca.crt "
	    "-cert ee.crt -no_nonce -CAfile ca.crt > unk.txt 2>&1 && "
	    "grep -q 'Response verify OK' unk.txt && "
	    "grep -q 'ee.crt: unknown' unk.txt"), 0);
}

static void
test_response_from_openssl(void **state)
{
	(void)state;
	/* OpenSSL's responder, from an index: revoked (cACompromise) */
	assert_int_equal(tu_sh("exp=$(date -u -d '+5 days' +%%y%%m%%d%%H%%M%%SZ) && "
	    "rev=$(date -u -d '-1 hour' +%%y%%m%%d%%H%%M%%SZ) && "
	    "printf 'R\\t%%s\\t%%s,CACompromise\\t42\\tunknown\\t/CN=ee\\n' "
	    "$exp $rev > index.txt && "
	    "openssl ocsp -index index.txt -rsigner ca.crt -rkey ca.pem -CA ca.crt "
	    "-reqin req.der -respout ossl.der -ndays 1"), 0);
	size_t len;
	uint8_t *der = tu_read("ossl.der", &len);
	rt_ocsp_resp p;
	assert_non_null(der);
	ok(rt_ocsp_resp_parse(der, len, ca_der, ca_len, &p));
	assert_int_equal(p.n, 1);
	assert_int_equal(p.single[0].status, RT_OCSP_REVOKED);
	assert_int_equal(p.single[0].reason, 2);
	assert_true(p.nonce_len > 0);
	assert_true(p.single[0].next_update > p.single[0].this_update);
	free(der);

	/* an error response: status only */
	uint8_t *err;
	size_t elen;
	assert_null(rt_ocsp_error_write(RT_OCSP_MALFORMED, &err, &elen));
	ok(rt_ocsp_resp_parse(err, elen, ca_der, ca_len, &p));
	assert_int_equal(p.status, RT_OCSP_MALFORMED);
	assert_int_equal(p.n, 0);
	write_file("err.der", err, elen);
	assert_int_equal(tu_sh("openssl ocsp -respin err.der -resp_text 2>&1 | "
	    "grep -q malformedrequest"), 0);
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_from_openssl),
		cmocka_unit_test(test_response_to_openssl),
		cmocka_unit_test(test_response_from_openssl),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
