/* Unit tests: certificates and CRLs written by src/crypto/x509write.c and
 * signed through the signer interface (ECDSA P-256/P-384, RSA), with
 * OpenSSL as referee (`openssl verify`, `openssl crl -verify`,
 * `openssl verify -crl_check`); ECDSA AlgorithmIdentifiers carry no
 * parameters (RFC 5758). */
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

#include "raterm/csr.h"
#include "raterm/signer.h"
#include "raterm/softtoken.h"
#include "raterm/x509write.h"
#include "crypto_testutil.h"

#define PASS "pw"

static FILE *warn;

static int
setup(void **state)
{
	(void)state;
	warn = tmpfile();
	return tu_sh(
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem &&"
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.pem &&"
	    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem &&"
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ee.pem &&"
	    "openssl pkey -in ee.pem -pubout -outform DER -out ee.spki &&"
	    "for k in ec ec384 rsa; do openssl pkcs8 -topk8 -in $k.pem -out $k.p8 -passout pass:" PASS
	    " || exit 1; done") == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	fclose(warn);
	tu_cleanup();
	return 0;
}

static rt_signer *
signer(const char *name)
{
	rt_signer *s;
	assert_null(rt_signer_soft(tu_path(name), NULL, PASS, strlen(PASS), warn,
	    &s));
	return s;
}

static void
write_pem(const char *name, const char *label, const uint8_t *der, size_t len)
{
	char *pem;
	assert_null(rt_pem_encode(label, der, len, &pem));
	FILE *f = fopen(tu_path(name), "w");
	assert_non_null(f);
	fputs(pem, f);
	fclose(f);
	free(pem);
}

static size_t
signer_spki(rt_signer *s, uint8_t *buf, size_t cap, const uint8_t **p)
{
	int n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)(uintptr_t)
	    rt_signer_pk(s), buf, cap);
	assert_true(n > 0);
	*p = buf + cap - (size_t)n;
	return (size_t)n;
}

/* true if the DER holds the byte string needle */
static bool
has(const uint8_t *der, size_t len, const uint8_t *needle, size_t nlen)
{
	for (size_t i = 0; i + nlen <= len; i++)
		if (memcmp(der + i, needle, nlen) == 0)
			return true;
	return false;
}

/* A CA certificate (self-signed) and an end-entity certificate under it;
 * CA's DER name and key id out. */
static void
make_pair(const char *key, rt_hash h, rt_scheme sch, uint8_t **ca_der,
    size_t *ca_len, uint8_t *name, size_t *name_len, uint8_t kid[20])
{
	rt_signer *s = signer(key);
	uint8_t spkibuf[1200], bc[16], ku[8], ski[32], aki[40];
	const uint8_t *spki;
	size_t spki_len = signer_spki(s, spkibuf, sizeof(spkibuf), &spki);
	size_t bc_len, ku_len, ski_len, aki_len;
	assert_null(rt_dn_encode("CN=Test CA,O=raterm,C=DE", name, 512,
	    name_len));
	assert_null(rt_key_id(spki, spki_len, kid));
	assert_null(rt_ext_basic_constraints(true, 0, bc, sizeof(bc), &bc_len));
	assert_null(rt_ext_key_usage(RT_KU_KEY_CERT_SIGN | RT_KU_CRL_SIGN, ku,
	    sizeof(ku), &ku_len));
	assert_null(rt_ext_ski(kid, 20, ski, sizeof(ski), &ski_len));
	assert_null(rt_ext_aki(kid, 20, aki, sizeof(aki), &aki_len));
	rt_ext exts[] = {
		{ "2.5.29.19", true, bc, bc_len },
		{ "2.5.29.15", true, ku, ku_len },
		{ "2.5.29.14", false, ski, ski_len },
		{ "2.5.29.35", false, aki, aki_len },
	};
	static const uint8_t serial[] = { 0x81, 0x02, 0x03 };
	time_t now = time(NULL);
	rt_cert_tmpl t = {
		.serial = serial, .serial_len = sizeof(serial),
		.issuer = name, .issuer_len = *name_len,
		.subject = name, .subject_len = *name_len,
		.not_before = now - 60, .not_after = now + 86400,
		.spki = spki, .spki_len = spki_len,
		.exts = exts, .nexts = 4, .hash = h, .scheme = sch,
	};
	assert_null(rt_cert_write(&t, s, ca_der, ca_len));
	write_pem("ca.crt", "CERTIFICATE", *ca_der, *ca_len);

	/* the end entity: a key from outside, P-256 */
	size_t ee_len = 0;
	uint8_t *ee_spki = tu_read("ee.spki", &ee_len);
	uint8_t ee_name[256], *ee;
	size_t ee_name_len, ee_der_len;
	assert_non_null(ee_spki);
	assert_null(rt_dn_encode("CN=Jane Doe,O=raterm,C=DE", ee_name,
	    sizeof(ee_name), &ee_name_len));
	assert_null(rt_ext_basic_constraints(false, -1, bc, sizeof(bc),
	    &bc_len));
	assert_null(rt_ext_key_usage(RT_KU_DIGITAL_SIGNATURE, ku, sizeof(ku),
	    &ku_len));
	rt_ext ee_exts[] = {
		{ "2.5.29.19", true, bc, bc_len },
		{ "2.5.29.15", true, ku, ku_len },
		{ "2.5.29.35", false, aki, aki_len },
	};
	static const uint8_t ee_serial[] = { 0x00, 0x00, 0x42 };
	rt_cert_tmpl et = {
		.serial = ee_serial, .serial_len = sizeof(ee_serial),
		.issuer = name, .issuer_len = *name_len,
		.subject = ee_name, .subject_len = ee_name_len,
		.not_before = now - 60, .not_after = now + 3600,
		.spki = ee_spki, .spki_len = ee_len,
		.exts = ee_exts, .nexts = 3, .hash = h, .scheme = sch,
	};
	assert_null(rt_cert_write(&et, s, &ee, &ee_der_len));
	write_pem("ee.crt", "CERTIFICATE", ee, ee_der_len);
	free(ee);
	free(ee_spki);
	rt_signer_free(s);
}

static void
check_key(const char *key, rt_hash h, rt_scheme sch)
{
	uint8_t *ca, name[512], kid[20];
	size_t ca_len, name_len;
	make_pair(key, h, sch, &ca, &ca_len, name, &name_len, kid);
	/* mbedTLS parses it and checks the self-signature */
	mbedtls_x509_crt crt;
	uint32_t flags = 0;
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_der(&crt, ca, ca_len), 0);
	assert_int_equal(mbedtls_x509_crt_verify(&crt, &crt, NULL, NULL, &flags,
	    NULL, NULL), 0);
	assert_int_equal(crt.version, 3);
	assert_true(crt.ca_istrue);
	mbedtls_x509_crt_free(&crt);
	/* OpenSSL: the chain verifies */
	assert_int_equal(tu_sh("openssl verify -CAfile ca.crt ee.crt"), 0);
	free(ca);
}

static void
test_cert_ecdsa_p256(void **state)
{
	(void)state;
	uint8_t *ca, name[512], kid[20];
	size_t ca_len, name_len;
	check_key("ec.p8", RT_HASH_NONE, RT_SCHEME_DEFAULT);
	make_pair("ec.p8", RT_HASH_NONE, RT_SCHEME_DEFAULT, &ca, &ca_len, name,
	    &name_len, kid);
	/* ecdsa-with-SHA256 without parameters, and never with a NULL */
	static const uint8_t alg[] = { 0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48,
	    0xCE, 0x3D, 0x04, 0x03, 0x02 };
	static const uint8_t alg_null[] = { 0x30, 0x0C, 0x06, 0x08, 0x2A, 0x86,
	    0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02, 0x05, 0x00 };
	assert_true(has(ca, ca_len, alg, sizeof(alg)));
	assert_false(has(ca, ca_len, alg_null, sizeof(alg_null)));
	/* the serial's sign byte: 0x81... becomes 00 81 02 03 */
	static const uint8_t ser[] = { 0x02, 0x04, 0x00, 0x81, 0x02, 0x03 };
	assert_true(has(ca, ca_len, ser, sizeof(ser)));
	free(ca);
}

static void
test_cert_ecdsa_p384(void **state)
{
	(void)state;
	check_key("ec384.p8", RT_HASH_NONE, RT_SCHEME_DEFAULT);
}

static void
test_cert_rsa(void **state)
{
	(void)state;
	check_key("rsa.p8", RT_HASH_SHA256, RT_SCHEME_PKCS1);
	check_key("rsa.p8", RT_HASH_SHA256, RT_SCHEME_PSS);
}

static void
test_crl(void **state)
{
	(void)state;
	uint8_t *ca, name[512], kid[20], *crl;
	size_t ca_len, name_len, crl_len;
	make_pair("ec.p8", RT_HASH_NONE, RT_SCHEME_DEFAULT, &ca, &ca_len, name,
	    &name_len, kid);
	rt_signer *s = signer("ec.p8");
	time_t now = time(NULL);
	static const uint8_t s1[] = { 0x42 }, s2[] = { 0x7F, 0xFF };
	rt_crl_entry ents[] = {
		{ s2, sizeof(s2), now - 10, -1 },
		{ s1, sizeof(s1), now - 5, 1 },		/* keyCompromise */
	};
	rt_crl_tmpl t = {
		.issuer = name, .issuer_len = name_len,
		.issuer_key_id = kid, .issuer_key_id_len = 20,
		.this_update = now - 1, .next_update = now + 3600, .number = 7,
		.entries = ents, .nentries = 2,
	};
	assert_null(rt_crl_write(&t, s, &crl, &crl_len));
	write_pem("ca.crl", "X509 CRL", crl, crl_len);
	free(crl);
	/* signed by the CA; lists the end entity (serial 0x42) */
	assert_int_equal(tu_sh("openssl crl -in ca.crl -CAfile ca.crt -noout "
	    "2>&1 | grep -q 'verify OK'"), 0);
	assert_int_equal(tu_sh("openssl crl -in ca.crl -noout -text | "
	    "grep -q 'Key Compromise'"), 0);
	assert_int_equal(tu_sh("openssl crl -in ca.crl -noout -crlnumber | "
	    "grep -q 'crlNumber=0x07'"), 0);
	assert_int_not_equal(tu_sh("openssl verify -crl_check -CAfile ca.crt "
	    "-CRLfile ca.crl ee.crt"), 0);
	assert_int_equal(tu_sh("openssl verify -crl_check -CAfile ca.crt "
	    "-CRLfile ca.crl ee.crt 2>&1 | grep -q 'certificate revoked'"), 0);

	/* an empty CRL: the end entity verifies with the CRL check */
	t.nentries = 0;
	t.number = 8;
	assert_null(rt_crl_write(&t, s, &crl, &crl_len));
	write_pem("ca.crl", "X509 CRL", crl, crl_len);
	free(crl);
	assert_int_equal(tu_sh("openssl verify -crl_check -CAfile ca.crt "
	    "-CRLfile ca.crl ee.crt"), 0);

	/* bad input: named, nothing written */
	rt_crl_entry bad = { s1, sizeof(s1), now, 7 };	/* 7 is unused */
	t.entries = &bad;
	t.nentries = 1;
	rt_err *e = rt_crl_write(&t, s, &crl, &crl_len);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_ARG));
	rt_err_free(e);
	rt_signer_free(s);
	free(ca);
}

static void
test_bad_template(void **state)
{
	(void)state;
	rt_signer *s = signer("ec.p8");
	uint8_t *der;
	size_t len;
	rt_cert_tmpl t = { .serial_len = 0 };
	rt_err *e = rt_cert_write(&t, s, &der, &len);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_ARG));
	rt_err_free(e);
	uint8_t kid[20];
	static const uint8_t junk[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	e = rt_key_id(junk, sizeof(junk), kid);
	assert_non_null(e);
	rt_err_free(e);
	rt_signer_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cert_ecdsa_p256),
		cmocka_unit_test(test_cert_ecdsa_p384),
		cmocka_unit_test(test_cert_rsa),
		cmocka_unit_test(test_crl),
		cmocka_unit_test(test_bad_template),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
