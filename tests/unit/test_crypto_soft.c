/* Unit tests: signature schemes (known answers against mbedTLS verify and
 * the openssl command line) and software tokens made by openssl at test
 * time: PKCS#8 PBES2 AES-256-CBC and 3DES, legacy PKCS#12 PBE, .p12 files
 * (AES and legacy 3DES), wrong passphrases, unencrypted keys refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>

#include "raterm/signer.h"
#include "raterm/softtoken.h"
#include "crypto_testutil.h"

#define PASS "s3cret pass"

static int
setup(void **state)
{
	(void)state;
	int rc = tu_sh(
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem &&"
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.pem &&"
	    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem &&"
	    "openssl req -x509 -new -key rsa.pem -subj /CN=Test-CA -days 30 -out ca.pem &&"
	    "openssl req -new -key ec.pem -subj /CN=officer -out ec.csr &&"
	    "openssl x509 -req -in ec.csr -CA ca.pem -CAkey rsa.pem -CAcreateserial -days 30 -out ec.crt &&"
	    "openssl pkcs8 -topk8 -in ec.pem -out ec_aes.pem -v2 aes-256-cbc -v2prf hmacWithSHA256 -passout pass:'" PASS "' &&"
	    "openssl pkcs8 -topk8 -in ec.pem -outform DER -out ec_des3.der -v2 des3 -passout pass:'" PASS "' &&"
	    "openssl pkcs8 -topk8 -in ec.pem -outform DER -out ec_p12pbe.der -v1 PBE-SHA1-3DES -passout pass:'" PASS "' &&"
	    "openssl pkcs8 -topk8 -in rsa.pem -out rsa_aes.pem -passout pass:'" PASS "' &&"
	    "openssl pkcs8 -topk8 -in ec384.pem -out ec384_aes.pem -passout pass:'" PASS "' &&"
	    "openssl pkcs12 -export -inkey ec.pem -in ec.crt -certfile ca.pem -passout pass:'" PASS "' -out ec.p12 &&"
	    "openssl pkcs12 -export -inkey ec.pem -in ec.crt -certfile ca.pem -passout pass:'" PASS "' -out ec_legacy.p12 "
	    "  -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1 &&"
	    "openssl pkcs12 -export -inkey ec.pem -in ec.crt -passout pass:'" PASS "' -out ec_plain.p12 -keypbe NONE -certpbe NONE &&"
	    "openssl pkey -in rsa.pem -traditional -out rsa_trad.pem &&"
	    "openssl pkey -in ec.pem -outform DER -out ec_plain.der &&"
	    "openssl pkey -in rsa.pem -traditional -aes256 -passout pass:'" PASS "' -out rsa_legacy_enc.pem &&"
	    "cat ec_aes.pem ec.crt ca.pem > ec_bundle.pem");
	return rc == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	tu_cleanup();
	return 0;
}

static rt_err *
load(const char *name, rt_signer **s, FILE *warn)
{
	return rt_signer_soft(tu_path(name), NULL, PASS, strlen(PASS), warn, s);
}

/* Verifies (digest, sig) with the openssl command line against pub. */
static int
openssl_verify(const mbedtls_pk_context *pub, rt_hash h, rt_scheme sch,
    const uint8_t *dg, size_t dlen, const uint8_t *sig, size_t slen)
{
	unsigned char pem[4096];
	if (mbedtls_pk_write_pubkey_pem((mbedtls_pk_context *)(uintptr_t)pub,
	    pem, sizeof(pem)) != 0)
		return -1;
	if (tu_write("v_pub.pem", pem, strlen((char *)pem)) ||
	    tu_write("v_dg.bin", dg, dlen) || tu_write("v_sig.bin", sig, slen))
		return -1;
	const char *hn = h == RT_HASH_SHA384 ? "sha384" : h == RT_HASH_SHA512 ?
	    "sha512" : "sha256";
	return tu_sh("openssl pkeyutl -verify -pubin -inkey v_pub.pem -in v_dg.bin "
	    "-sigfile v_sig.bin -pkeyopt digest:%s %s", hn,
	    sch == RT_SCHEME_PSS ? "-pkeyopt rsa_padding_mode:pss "
	    "-pkeyopt rsa_pss_saltlen:digest" : "");
}

static void
sign_and_check(rt_signer *s, rt_hash h, rt_scheme sch)
{
	uint8_t dg[64], sig[1024];
	size_t slen;
	static const char msg[] = "raterm known-answer message";
	assert_null(rt_hash_data(h, msg, sizeof(msg) - 1, dg));
	rt_err *e = rt_signer_sign(s, h, sch, dg, rt_hash_len(h), sig, sizeof(sig),
	    &slen);
	if (e != NULL) {
		char b[512];
		rt_err_format(e, b, sizeof(b));
		fail_msg("%s", b);
	}
	assert_true(slen <= rt_signer_max_sig(s));
	assert_null(rt_sig_verify(rt_signer_pk(s), h, sch, dg, rt_hash_len(h),
	    sig, slen));
	assert_int_equal(openssl_verify(rt_signer_pk(s), h, sch, dg,
	    rt_hash_len(h), sig, slen), 0);
	/* a flipped bit must not verify */
	sig[slen / 2] ^= 0x01;
	rt_err *bad = rt_sig_verify(rt_signer_pk(s), h, sch, dg, rt_hash_len(h),
	    sig, slen);
	assert_non_null(bad);
	assert_int_equal(rt_err_kind_of(bad), RT_E_CRYPTO);
	rt_err_free(bad);
}

static void
test_pkcs8_aes_ec(void **state)
{
	(void)state;
	rt_signer *s;
	FILE *w = tmpfile();
	assert_null(load("ec_aes.pem", &s, w));
	assert_int_equal(rt_signer_keytype(s), RT_KEY_EC_P256);
	assert_string_equal(rt_signer_kind(s), "software");
	sign_and_check(s, RT_HASH_SHA256, RT_SCHEME_ECDSA);
	sign_and_check(s, RT_HASH_SHA384, RT_SCHEME_DEFAULT);
	/* the warning comes with every signature */
	char line[512];
	int n = 0;
	rewind(w);
	while (fgets(line, sizeof(line), w) != NULL)
		if (strstr(line, "software officer token is not recommended"))
			n++;
	assert_int_equal(n, 2);
	fclose(w);
	/* RSA scheme on an EC key is refused */
	uint8_t dg[32] = { 0 }, sig[512];
	size_t sl;
	rt_err *e = rt_signer_sign(s, RT_HASH_SHA256, RT_SCHEME_PSS, dg, 32, sig,
	    sizeof(sig), &sl);
	assert_int_equal(rt_err_kind_of(e), RT_E_ARG);
	rt_err_free(e);
	rt_signer_free(s);
}

static void
test_pkcs8_des3_and_p12pbe(void **state)
{
	(void)state;
	rt_signer *s;
	FILE *w = tmpfile();
	assert_null(load("ec_des3.der", &s, w));
	sign_and_check(s, RT_HASH_SHA256, RT_SCHEME_DEFAULT);
	rt_signer_free(s);
	assert_null(load("ec_p12pbe.der", &s, w));
	sign_and_check(s, RT_HASH_SHA256, RT_SCHEME_DEFAULT);
	rt_signer_free(s);
	fclose(w);
}

static void
test_rsa_schemes(void **state)
{
	(void)state;
	rt_signer *s;
	FILE *w = tmpfile();
	assert_null(load("rsa_aes.pem", &s, w));
	assert_int_equal(rt_signer_keytype(s), RT_KEY_RSA);
	sign_and_check(s, RT_HASH_SHA256, RT_SCHEME_PKCS1);
	sign_and_check(s, RT_HASH_SHA384, RT_SCHEME_PKCS1);
	sign_and_check(s, RT_HASH_SHA512, RT_SCHEME_PKCS1);
	sign_and_check(s, RT_HASH_SHA256, RT_SCHEME_PSS);
	sign_and_check(s, RT_HASH_SHA512, RT_SCHEME_PSS);
	rt_signer_free(s);
	/* legacy OpenSSL PEM encryption */
	assert_null(load("rsa_legacy_enc.pem", &s, w));
	sign_and_check(s, RT_HASH_SHA256, RT_SCHEME_DEFAULT);
	rt_signer_free(s);
	fclose(w);
}

static void
test_p384(void **state)
{
	(void)state;
	rt_signer *s;
	FILE *w = tmpfile();
	assert_null(load("ec384_aes.pem", &s, w));
	assert_int_equal(rt_signer_keytype(s), RT_KEY_EC_P384);
	assert_int_equal(rt_pk_default_hash(rt_signer_pk(s)), RT_HASH_SHA384);
	sign_and_check(s, RT_HASH_SHA384, RT_SCHEME_ECDSA);
	sign_and_check(s, RT_HASH_SHA256, RT_SCHEME_ECDSA);
	rt_signer_free(s);
	fclose(w);
}

static void
check_chain(rt_signer *s)
{
	const mbedtls_x509_crt *c = rt_signer_chain(s);
	char dn[256];
	assert_non_null(c);
	assert_true(mbedtls_x509_dn_gets(dn, sizeof(dn), &c->subject) > 0);
	assert_string_equal(dn, "CN=officer");
	assert_non_null(c->next);
	assert_true(c->next->raw.len > 0);
	assert_true(mbedtls_x509_dn_gets(dn, sizeof(dn), &c->next->subject) > 0);
	assert_string_equal(dn, "CN=Test-CA");
}

static void
test_p12(void **state)
{
	(void)state;
	rt_signer *s;
	FILE *w = tmpfile();
	assert_null(load("ec.p12", &s, w));
	check_chain(s);
	sign_and_check(s, RT_HASH_SHA256, RT_SCHEME_DEFAULT);
	rt_signer_free(s);
	assert_null(load("ec_legacy.p12", &s, w));
	check_chain(s);
	sign_and_check(s, RT_HASH_SHA256, RT_SCHEME_DEFAULT);
	rt_signer_free(s);
	/* a PEM bundle: encrypted key + certificates */
	assert_null(load("ec_bundle.pem", &s, w));
	check_chain(s);
	rt_signer_free(s);
	/* key file + separate certificate file */
	assert_null(rt_signer_soft(tu_path("ec_aes.pem"), tu_path("ec.crt"), PASS,
	    strlen(PASS), w, &s));
	assert_non_null(rt_signer_chain(s));
	rt_signer_free(s);
	/* a certificate that does not belong to the key */
	rt_err *e = rt_signer_soft(tu_path("ec_aes.pem"), tu_path("ca.pem"), PASS,
	    strlen(PASS), w, &s);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_CERT);
	rt_err_free(e);
	fclose(w);
}

static void
test_wrong_passphrase(void **state)
{
	(void)state;
	static const char *files[] = { "ec_aes.pem", "ec_des3.der",
	    "ec_p12pbe.der", "ec.p12", "ec_legacy.p12", "rsa_legacy_enc.pem" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		rt_signer *s = NULL;
		rt_err *e = rt_signer_soft(tu_path(files[i]), NULL, "wrong", 5, NULL,
		    &s);
		assert_non_null(e);
		if (rt_err_kind_of(e) != RT_E_PASSPHRASE) {
			char b[512];
			rt_err_format(e, b, sizeof(b));
			fail_msg("%s: %s", files[i], b);
		}
		assert_null(s);
		rt_err_free(e);
	}
}

static void
test_unencrypted_refused(void **state)
{
	(void)state;
	static const char *files[] = { "ec.pem", "rsa.pem", "rsa_trad.pem",
	    "ec_plain.der", "ec_plain.p12" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		rt_signer *s = NULL;
		rt_err *e = load(files[i], &s, NULL);
		assert_non_null(e);
		if (rt_err_kind_of(e) != RT_E_KEY_UNENCRYPTED) {
			char b[512];
			rt_err_format(e, b, sizeof(b));
			fail_msg("%s: %s", files[i], b);
		}
		assert_string_equal(rt_err_kind_name(rt_err_kind_of(e)),
		    "KEY_UNENCRYPTED");
		rt_err_free(e);
	}
	/* not a key file at all; a missing file */
	rt_signer *s;
	rt_err *e = load("ec.csr", &s, NULL);
	assert_int_equal(rt_err_kind_of(e), RT_E_FORMAT);
	rt_err_free(e);
	e = load("nonexistent.pem", &s, NULL);
	assert_int_equal(rt_err_kind_of(e), RT_E_IO);
	rt_err_free(e);
}

/* The encodings the card signer uses (EMSA PKCS#1 v1.5 and PSS + the raw
 * RSA operation), checked against mbedTLS's own signature: PKCS#1 v1.5 is
 * deterministic, so the two must be byte-for-byte equal. */
static void
test_emsa_known_answer(void **state)
{
	(void)state;
	mbedtls_pk_context pk;
	size_t len = 0;
	unsigned char *pem = tu_read("rsa.pem", &len);
	assert_non_null(pem);
	pem = realloc(pem, len + 1);
	pem[len] = 0;
	mbedtls_pk_init(&pk);
#if MBEDTLS_VERSION_MAJOR >= 3
	assert_int_equal(mbedtls_pk_parse_key(&pk, pem, len + 1, NULL, 0, rt_rng,
	    NULL), 0);
#else
	assert_int_equal(mbedtls_pk_parse_key(&pk, pem, len + 1, NULL, 0), 0);
#endif
	free(pem);
	mbedtls_rsa_context *rsa = mbedtls_pk_rsa(pk);
	const rt_hash hs[] = { RT_HASH_SHA256, RT_HASH_SHA384, RT_HASH_SHA512 };
	for (size_t i = 0; i < 3; i++) {
		uint8_t dg[64], em[256], raw[256], ref[256];
		size_t rl = 0;
		assert_null(rt_hash_data(hs[i], "kat", 3, dg));
		assert_null(rt_emsa_pkcs1_encode(hs[i], dg, rt_hash_len(hs[i]), 256,
		    em));
		assert_int_equal(mbedtls_rsa_private(rsa, rt_rng, NULL, em, raw), 0);
#if MBEDTLS_VERSION_MAJOR >= 3
		assert_int_equal(mbedtls_pk_sign(&pk, rt_hash_md(hs[i]), dg,
		    rt_hash_len(hs[i]), ref, sizeof(ref), &rl, rt_rng, NULL), 0);
#else
		assert_int_equal(mbedtls_pk_sign(&pk, rt_hash_md(hs[i]), dg,
		    rt_hash_len(hs[i]), ref, &rl, rt_rng, NULL), 0);
#endif
		assert_int_equal(rl, 256);
		assert_memory_equal(raw, ref, 256);
		/* PSS: randomised, so verify instead */
		assert_null(rt_emsa_pss_encode(hs[i], dg, rt_hash_len(hs[i]), 2048,
		    em, 256));
		assert_int_equal(mbedtls_rsa_private(rsa, rt_rng, NULL, em, raw), 0);
		assert_null(rt_sig_verify(&pk, hs[i], RT_SCHEME_PSS, dg,
		    rt_hash_len(hs[i]), raw, 256));
		assert_int_equal(openssl_verify(&pk, hs[i], RT_SCHEME_PSS, dg,
		    rt_hash_len(hs[i]), raw, 256), 0);
	}
	mbedtls_pk_free(&pk);
	/* wrong digest length */
	uint8_t em[256], dg[32] = { 0 };
	rt_err *e = rt_emsa_pkcs1_encode(RT_HASH_SHA384, dg, 32, 256, em);
	assert_int_equal(rt_err_kind_of(e), RT_E_ARG);
	rt_err_free(e);
}

static void
test_names(void **state)
{
	(void)state;
	assert_int_equal(rt_hash_from_name("sha-384"), RT_HASH_SHA384);
	assert_int_equal(rt_hash_from_name("SHA256"), RT_HASH_SHA256);
	assert_int_equal(rt_hash_from_name("md5"), RT_HASH_NONE);
	assert_int_equal(rt_scheme_from_name("pss"), RT_SCHEME_PSS);
	uint8_t a[32], b[32];
	assert_null(rt_random(a, sizeof(a)));
	assert_null(rt_random(b, sizeof(b)));
	assert_memory_not_equal(a, b, 32);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_pkcs8_aes_ec),
		cmocka_unit_test(test_pkcs8_des3_and_p12pbe),
		cmocka_unit_test(test_rsa_schemes),
		cmocka_unit_test(test_p384),
		cmocka_unit_test(test_p12),
		cmocka_unit_test(test_wrong_passphrase),
		cmocka_unit_test(test_unencrypted_refused),
		cmocka_unit_test(test_emsa_known_answer),
	};
	return cmocka_run_group_tests_name("crypto_soft", tests, setup, teardown);
}
