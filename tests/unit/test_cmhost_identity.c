/* Unit tests: who cmhost takes a request to be from (issue 11, defect 8),
 * its service in process: an officer certificate whose CN carries an
 * embedded NUL ("raterm Demo Officer\0evil") is no officer; a protected
 * request without messageTime is refused (badTime) while
 * require_message_time holds; requests whose protection does not verify
 * are audited as "unverified", never as the signer they claim, at most
 * audit_unverified_per_minute rows a minute per address; a key from
 * outside out of limits (an 8192-bit RSA key with a 4095-bit exponent) is
 * refused before any signature is checked with it (defect 5). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>
#include <sqlite3.h>

#include "raterm/cmhost_inproc.h"
#include "raterm/cmp.h"
#include "raterm/softtoken.h"
#include "raterm/util.h"
#include "raterm/x509write.h"

static void
ok(rt_err *e)
{
	if (e != NULL) {
		char m[400];
		rt_err_format(e, m, sizeof(m));
		print_error("%s\n", m);
		rt_err_free(e);
		fail();
	}
}

/* A certificate for a fresh key whose subject is the DER name `name`,
 * self-signed; its signer (the key) into *s. */
static void
make_cert(const uint8_t *name, size_t nlen, uint8_t **der, size_t *len,
    rt_signer **s)
{
	mbedtls_pk_context pk;
	uint8_t spki[200];
	mbedtls_pk_init(&pk);
	assert_int_equal(mbedtls_pk_setup(&pk,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	    mbedtls_pk_ec(pk), rt_rng, NULL), 0);
	int n = mbedtls_pk_write_pubkey_der(&pk, spki, sizeof(spki));
	assert_true(n > 0);
	ok(rt_signer_key(&pk, "test key", s));
	static const uint8_t serial[] = { 0x11 };
	time_t now = time(NULL);
	rt_cert_tmpl t = { .serial = serial, .serial_len = 1, .issuer = name,
	    .issuer_len = nlen, .subject = name, .subject_len = nlen,
	    .not_before = now - 60, .not_after = now + 3600,
	    .spki = spki + sizeof(spki) - n, .spki_len = (size_t)n };
	ok(rt_cert_write(&t, *s, der, len));
	mbedtls_pk_free(&pk);
}

/* Name { CN=<cn bytes> } */
static size_t
cn_name(const char *cn, size_t cnlen, uint8_t *out)
{
	size_t n = 0;
	out[n++] = 0x30; out[n++] = (uint8_t)(11 + cnlen);
	out[n++] = 0x31; out[n++] = (uint8_t)(9 + cnlen);
	out[n++] = 0x30; out[n++] = (uint8_t)(7 + cnlen);
	out[n++] = 0x06; out[n++] = 3; out[n++] = 0x55; out[n++] = 4;
	out[n++] = 3;
	out[n++] = 0x0C; out[n++] = (uint8_t)cnlen;
	memcpy(out + n, cn, cnlen);
	return n + cnlen;
}

static void
test_nul_in_cn(void **state)
{
	(void)state;
	cmh_inproc *ip;
	ok(cmh_inproc_new(NULL, &ip));
	const cmh_config *cfg = cmh_inproc_config(ip);
	static const char evil[] = "raterm Demo Officer\0evil";
	uint8_t name[64], *der;
	size_t nl, len;
	rt_signer *s;
	mbedtls_x509_crt crt;

	nl = cn_name(evil, sizeof(evil) - 1, name);
	make_cert(name, nl, &der, &len, &s);
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_der(&crt, der, len), 0);
	assert_null(cmh_officer_find(cfg, &crt));
	mbedtls_x509_crt_free(&crt);
	free(der);
	rt_signer_free(s);

	/* the exact name is the officer (the chain is checked elsewhere) */
	nl = cn_name("raterm Demo Officer", 19, name);
	make_cert(name, nl, &der, &len, &s);
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_der(&crt, der, len), 0);
	assert_non_null(cmh_officer_find(cfg, &crt));
	mbedtls_x509_crt_free(&crt);
	free(der);
	rt_signer_free(s);
	cmh_inproc_free(ip);
}

/* Sends a genm (caCerts) signed by s with messageTime t (0: none) straight
 * to the service; returns the decoded answer. */
static cmp_msg *
send_genm(cmh_inproc *ip, rt_signer *s, time_t t)
{
	cmp_client_opts co;
	cmp_msg m, *r = NULL;
	uint8_t tid[16], nonce[16], *der, *rsp;
	size_t len, rlen;
	memset(&co, 0, sizeof(co));
	cmh_inproc_client_opts(ip, &co);
	ok(rt_random(tid, sizeof(tid)));
	ok(rt_random(nonce, sizeof(nonce)));
	cmp_msg_init(&m);
	m.type = CMP_BODY_GENM;
	m.hdr.transaction_id = (cmp_buf){ tid, sizeof(tid) };
	m.hdr.sender_nonce = (cmp_buf){ nonce, sizeof(nonce) };
	m.hdr.message_time = t;
	m.nitav = 1;
	ok(cmp_itav_set(&m.itav[0], CMP_OID_IT_CA_CERTS));
	ok(cmp_msg_encode(&m, s, NULL, &der, &len));
	ok(co.transport(co.transport_ctx, der, len, &rsp, &rlen));
	free(der);
	ok(cmp_msg_decode(rsp, rlen, &r));
	free(rsp);
	return r;
}

static void
test_message_time(void **state)
{
	(void)state;
	cmh_inproc *ip;
	rt_signer *off;
	ok(cmh_inproc_new(NULL, &ip));
	ok(cmh_inproc_officer(ip, &off));
	cmp_msg *r = send_genm(ip, off, time(NULL));
	assert_int_equal(r->type, CMP_BODY_GENP);
	cmp_msg_free(r);
	r = send_genm(ip, off, 0);
	assert_int_equal(r->type, CMP_BODY_ERROR);
	assert_true(r->error.fail_info & CMP_FI_BAD_TIME);
	cmp_msg_free(r);
	rt_signer_free(off);
	cmh_inproc_free(ip);
}

static void
test_unverified_audit(void **state)
{
	(void)state;
	cmh_inproc *ip;
	rt_signer *s;
	uint8_t name[64], *der;
	size_t nl, len;
	ok(cmh_inproc_new(NULL, &ip));
	/* a signer no officer CA issued, claiming the officer's name */
	nl = cn_name("raterm Demo Officer", 19, name);
	make_cert(name, nl, &der, &len, &s);
	ok(rt_signer_add_cert(s, der, len));
	free(der);
	for (int i = 0; i < 45; i++) {
		cmp_msg *r = send_genm(ip, s, time(NULL));
		assert_int_equal(r->type, CMP_BODY_ERROR);
		cmp_msg_free(r);
	}
	rt_signer_free(s);
	/* the audit: at most 30 unverified rows, none naming an officer */
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(cmh_inproc_config(ip)->db_path, &db,
	    SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT "
	    "SUM(who='unverified'), SUM(who!='unverified') FROM audit",
	    -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int unv = sqlite3_column_int(st, 0), other = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* a minute boundary may add one summary row */
	assert_true(unv >= 30 && unv <= 31);
	assert_int_equal(other, 0);
	cmh_inproc_free(ip);
}

/* An RSA public key of `bits` bits with a public exponent of `ebits` bits
 * (not a usable key: only its size matters), as SubjectPublicKeyInfo. */
static size_t
huge_rsa_spki(size_t bits, size_t ebits, uint8_t *out, size_t cap,
    mbedtls_pk_context *pk)
{
	uint8_t n[1024], e[1024];
	assert_true(bits / 8 <= sizeof(n) && ebits / 8 <= sizeof(e));
	ok(rt_random(n, bits / 8));
	ok(rt_random(e, (ebits + 7) / 8));
	n[0] |= 0x80;
	n[bits / 8 - 1] |= 1;
	e[0] |= 0x40;
	e[(ebits + 7) / 8 - 1] |= 1;
	mbedtls_pk_init(pk);
	assert_int_equal(mbedtls_pk_setup(pk,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
	assert_int_equal(mbedtls_rsa_import_raw(mbedtls_pk_rsa(*pk), n,
	    bits / 8, NULL, 0, NULL, 0, NULL, 0, e, (ebits + 7) / 8), 0);
	assert_int_equal(mbedtls_rsa_complete(mbedtls_pk_rsa(*pk)), 0);
	int l = mbedtls_pk_write_pubkey_der(pk, out, cap);
	assert_true(l > 0);
	memmove(out, out + cap - l, (size_t)l);
	return (size_t)l;
}

/* Keys from outside are checked before use (defect 5): a protection
 * certificate with an 8192-bit RSA key and a 4095-bit exponent is refused
 * before any signature is checked with it; the limits themselves. */
static void
test_hostile_key(void **state)
{
	(void)state;
	mbedtls_pk_context pk, small;
	uint8_t spki[2600], name[64], *der;
	size_t sl, nl, len;
	rt_signer *s;
	rt_err *e;

	sl = huge_rsa_spki(8192, 4095, spki, sizeof(spki), &pk);
	e = rt_pk_check_limits(&pk, "test key");
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_CERT));
	rt_err_free(e);
	mbedtls_pk_free(&pk);
	uint8_t tmp[2600];
	huge_rsa_spki(2048, 17, tmp, sizeof(tmp), &pk);
	ok(rt_pk_check_limits(&pk, "a 2048-bit key, e=65537"));
	mbedtls_pk_free(&pk);
	huge_rsa_spki(2048, 33, tmp, sizeof(tmp), &pk);
	e = rt_pk_check_limits(&pk, "a 33-bit exponent");
	assert_non_null(e);
	rt_err_free(e);
	mbedtls_pk_free(&pk);

	/* the hostile certificate in a CMP message's extraCerts */
	cmh_inproc *ip;
	ok(cmh_inproc_new(NULL, &ip));
	mbedtls_pk_init(&small);
	assert_int_equal(mbedtls_pk_setup(&small,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	    mbedtls_pk_ec(small), rt_rng, NULL), 0);
	ok(rt_signer_key(&small, "hostile", &s));
	nl = cn_name("raterm Demo Officer", 19, name);
	static const uint8_t serial[] = { 0x12 };
	time_t now = time(NULL);
	rt_cert_tmpl t = { .serial = serial, .serial_len = 1, .issuer = name,
	    .issuer_len = nl, .subject = name, .subject_len = nl,
	    .not_before = now - 60, .not_after = now + 3600, .spki = spki,
	    .spki_len = sl };
	ok(rt_cert_write(&t, s, &der, &len));
	ok(rt_signer_add_cert(s, der, len));
	free(der);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 10; i++) {
		cmp_msg *r = send_genm(ip, s, time(NULL));
		assert_int_equal(r->type, CMP_BODY_ERROR);
		assert_true(r->error.fail_info & CMP_FI_SIGNER_NOT_TRUSTED);
		cmp_msg_free(r);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("hostile requests: %.2f ms each (refused before any "
	    "signature check)\n", ((double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) / 10);
	rt_signer_free(s);
	mbedtls_pk_free(&small);
	cmh_inproc_free(ip);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nul_in_cn),
		cmocka_unit_test(test_message_time),
		cmocka_unit_test(test_unverified_audit),
		cmocka_unit_test(test_hostile_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
