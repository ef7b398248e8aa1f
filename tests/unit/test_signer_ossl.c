/* Unit tests: the libcrypto signer of cmhost (src/cmhost/signer_ossl.c):
 * ECDSA P-256/P-384 and RSA PKCS#1 v1.5 / PSS signatures verified by
 * mbedTLS (rt_sig_verify), a certificate written by the one certificate
 * writer and signed on libcrypto verified by `openssl verify`, and
 * signatures from several threads at once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <cmocka.h>

#include <mbedtls/pk.h>

#include "raterm/signer.h"
#include "raterm/signer_ossl.h"
#include "raterm/x509write.h"
#include "crypto_testutil.h"

static int
setup(void **state)
{
	(void)state;
	return tu_sh(
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem &&"
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.pem &&"
	    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem")
	    == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	tu_cleanup();
	return 0;
}

static rt_signer *
ossl(const char *name, mbedtls_pk_context *pk)
{
	rt_signer *s;
	mbedtls_pk_init(pk);
#if MBEDTLS_VERSION_MAJOR >= 3
	assert_int_equal(mbedtls_pk_parse_keyfile(pk, tu_path(name), NULL,
	    NULL, NULL), 0);
#else
	assert_int_equal(mbedtls_pk_parse_keyfile(pk, tu_path(name), NULL), 0);
#endif
	assert_null(rt_signer_ossl(pk, name, &s));
	return s;
}

static void
sign_verify(const char *key, rt_hash h, rt_scheme sch)
{
	mbedtls_pk_context pk;
	rt_signer *s = ossl(key, &pk);
	uint8_t dg[64], sig[1024];
	size_t n;
	assert_null(rt_hash_data(h, "raterm", 6, dg));
	assert_null(rt_signer_sign(s, h, sch, dg, rt_hash_len(h), sig,
	    sizeof(sig), &n));
	assert_null(rt_sig_verify(&pk, h, sch, dg, rt_hash_len(h), sig, n));
	dg[0] ^= 1;
	rt_err *e = rt_sig_verify(&pk, h, sch, dg, rt_hash_len(h), sig, n);
	assert_non_null(e);
	rt_err_free(e);
	rt_signer_free(s);
	mbedtls_pk_free(&pk);
}

static void
test_signatures(void **state)
{
	(void)state;
	sign_verify("ec.pem", RT_HASH_SHA256, RT_SCHEME_DEFAULT);
	sign_verify("ec384.pem", RT_HASH_SHA384, RT_SCHEME_ECDSA);
	sign_verify("rsa.pem", RT_HASH_SHA256, RT_SCHEME_PKCS1);
	sign_verify("rsa.pem", RT_HASH_SHA256, RT_SCHEME_PSS);
}

static void
test_certificate(void **state)
{
	(void)state;
	mbedtls_pk_context pk;
	rt_signer *s = ossl("ec.pem", &pk);
	uint8_t name[256], spki[300], *der;
	size_t name_len, len;
	int n = mbedtls_pk_write_pubkey_der(&pk, spki, sizeof(spki));
	assert_true(n > 0);
	assert_null(rt_dn_encode("CN=libcrypto CA", name, sizeof(name),
	    &name_len));
	uint8_t bc[16];
	size_t bc_len;
	assert_null(rt_ext_basic_constraints(true, -1, bc, sizeof(bc), &bc_len));
	rt_ext x = { "2.5.29.19", true, bc, bc_len };
	static const uint8_t serial[] = { 1 };
	time_t now = time(NULL);
	rt_cert_tmpl t = { .serial = serial, .serial_len = 1,
	    .issuer = name, .issuer_len = name_len, .subject = name,
	    .subject_len = name_len, .not_before = now - 10,
	    .not_after = now + 100, .spki = spki + sizeof(spki) - n,
	    .spki_len = (size_t)n, .exts = &x, .nexts = 1 };
	assert_null(rt_cert_write(&t, s, &der, &len));
	FILE *f = fopen(tu_path("ca.der"), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(der, 1, len, f), len);
	fclose(f);
	assert_int_equal(tu_sh("openssl x509 -inform DER -in ca.der -out ca.crt "
	    "&& openssl verify -CAfile ca.crt ca.crt"), 0);
	free(der);
	rt_signer_free(s);
	mbedtls_pk_free(&pk);
}

static void *
sign_many(void *arg)
{
	rt_signer *s = arg;
	uint8_t dg[32] = { 7 }, sig[200];
	size_t n;
	for (int i = 0; i < 200; i++) {
		rt_err *e = rt_signer_sign(s, RT_HASH_SHA256, RT_SCHEME_DEFAULT,
		    dg, sizeof(dg), sig, sizeof(sig), &n);
		if (e != NULL) {
			rt_err_free(e);
			return (void *)1;
		}
	}
	return NULL;
}

static void
test_threads(void **state)
{
	(void)state;
	mbedtls_pk_context pk;
	rt_signer *s = ossl("ec.pem", &pk);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, sign_many, s), 0);
	for (int i = 0; i < 4; i++) {
		void *r;
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
	rt_signer_free(s);
	mbedtls_pk_free(&pk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signatures),
		cmocka_unit_test(test_certificate),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
