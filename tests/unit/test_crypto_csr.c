/* Unit tests: PKCS#10 requests signed through the signer interface (RSA
 * PKCS#1 v1.5, RSA-PSS, ECDSA P-256/P-384), checked by `openssl req
 * -verify` and our own verifier; QC statements encode/decode round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raterm/csr.h"
#include "raterm/qc.h"
#include "raterm/signer.h"
#include "raterm/softtoken.h"
#include "../../src/crypto/der.h"
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
make_csr(const char *key, rt_scheme sch, rt_hash h, const char *out)
{
	rt_signer *s = signer(key);
	static const char *const emails[] = { "jane.doe@example.org" };
	static const char *const upns[] = { "jdoe@corp.example" };
	static const char *const dns[] = { "host.example.org", "alt.example.org" };
	static const char *const ekus[] = { "clientAuth", "emailProtection",
	    "smartcardLogon", "1.3.6.1.4.1.99999.1" };
	rt_qc qc = { .compliance = true, .sscd = true,
	    .types = RT_QC_TYPE_ESIGN, .retention_years = 15, .npds = 1 };
	snprintf(qc.pds[0].url, sizeof(qc.pds[0].url), "https://pds.example.org/en");
	snprintf(qc.pds[0].lang, sizeof(qc.pds[0].lang), "en");
	uint8_t *qder;
	size_t qlen;
	assert_null(rt_qc_encode(&qc, &qder, &qlen));
	rt_ext ext[] = { { RT_OID_QC_STATEMENTS, false, qder, qlen } };
	unsigned ku;
	assert_null(rt_ku_parse("digitalSignature, nonRepudiation", &ku));
	rt_csr_req r = {
		.subject = "CN=Jane Doe,O=Example Org,C=DE,serialNumber=12345678",
		.emails = emails, .nemails = 1, .upns = upns, .nupns = 1,
		.dns = dns, .ndns = 2, .key_usage = ku, .ekus = ekus, .nekus = 4,
		.exts = ext, .nexts = 1, .hash = h, .scheme = sch,
	};
	uint8_t *der;
	size_t len;
	rt_err *e = rt_csr_build(s, &r, &der, &len);
	if (e != NULL) {
		char b[512];
		rt_err_format(e, b, sizeof(b));
		fail_msg("%s", b);
	}
	assert_null(rt_csr_verify(der, len));
	char *pem;
	assert_null(rt_pem_encode("CERTIFICATE REQUEST", der, len, &pem));
	assert_int_equal(tu_write(out, pem, strlen(pem)), 0);
	/* a flipped signature bit is caught by our verifier */
	der[len - 3] ^= 0x10;
	rt_err *bad = rt_csr_verify(der, len);
	assert_non_null(bad);
	rt_err_free(bad);
	free(pem);
	free(der);
	free(qder);
	rt_signer_free(s);
}

static void
check_openssl(const char *file, const char *sigalg)
{
	assert_int_equal(tu_sh("openssl req -in %s -noout -verify", file), 0);
	assert_int_equal(tu_sh("openssl req -in %s -noout -text > %s.txt", file,
	    file), 0);
	static const char *want[] = {
		"Subject: CN = Jane Doe, O = Example Org, C = DE, serialNumber = 12345678",
		"email:jane.doe@example.org", "DNS:host.example.org",
		"DNS:alt.example.org", "othername: UPN:",	/* openssl 3.0 */
		"Digital Signature, Non Repudiation", "TLS Web Client Authentication",
		"E-mail Protection", "Microsoft Smartcard Login",
		"1.3.6.1.4.1.99999.1", "qcStatements",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (tu_sh("grep -q -F '%s' %s.txt", want[i], file) != 0)
			fail_msg("%s: no \"%s\" in openssl req -text", file, want[i]);
	if (tu_sh("grep -q -F '%s' %s.txt", sigalg, file) != 0)
		fail_msg("%s: signature algorithm %s not shown", file, sigalg);
}

static void
test_csr_rsa(void **state)
{
	(void)state;
	make_csr("rsa.p8", RT_SCHEME_PKCS1, RT_HASH_SHA256, "rsa.csr");
	check_openssl("rsa.csr", "sha256WithRSAEncryption");
	make_csr("rsa.p8", RT_SCHEME_PKCS1, RT_HASH_SHA512, "rsa512.csr");
	check_openssl("rsa512.csr", "sha512WithRSAEncryption");
}

static void
test_csr_pss(void **state)
{
	(void)state;
	make_csr("rsa.p8", RT_SCHEME_PSS, RT_HASH_SHA256, "pss.csr");
	check_openssl("pss.csr", "rsassaPss");
	assert_int_equal(tu_sh("grep -q 'Salt Length: 0x20' pss.csr.txt"), 0);
}

static void
test_csr_ec(void **state)
{
	(void)state;
	make_csr("ec.p8", RT_SCHEME_DEFAULT, RT_HASH_NONE, "ec.csr");
	check_openssl("ec.csr", "ecdsa-with-SHA256");
	make_csr("ec384.p8", RT_SCHEME_ECDSA, RT_HASH_NONE, "ec384.csr");
	check_openssl("ec384.csr", "ecdsa-with-SHA384");
}

static void
test_csr_minimal_and_errors(void **state)
{
	(void)state;
	rt_signer *s = signer("ec.p8");
	rt_csr_req r = { .subject = "CN=only" };
	uint8_t *der;
	size_t len;
	assert_null(rt_csr_build(s, &r, &der, &len));
	assert_null(rt_csr_verify(der, len));
	char *pem;
	assert_null(rt_pem_encode("CERTIFICATE REQUEST", der, len, &pem));
	assert_int_equal(tu_write("min.csr", pem, strlen(pem)), 0);
	assert_int_equal(tu_sh("openssl req -in min.csr -noout -verify"), 0);
	free(pem);
	free(der);
	r.subject = "XX=nonsense";
	rt_err *e = rt_csr_build(s, &r, &der, &len);
	assert_int_equal(rt_err_kind_of(e), RT_E_ARG);
	rt_err_free(e);
	static const char *const bad_eku[] = { "noSuchUsage" };
	rt_csr_req r2 = { .subject = "CN=x", .ekus = bad_eku, .nekus = 1 };
	e = rt_csr_build(s, &r2, &der, &len);
	assert_int_equal(rt_err_kind_of(e), RT_E_ARG);
	rt_err_free(e);
	unsigned ku;
	e = rt_ku_parse("digitalSignature,bogus", &ku);
	assert_int_equal(rt_err_kind_of(e), RT_E_ARG);
	rt_err_free(e);
	/* PSS on an EC key */
	rt_csr_req r3 = { .subject = "CN=x", .scheme = RT_SCHEME_PSS };
	e = rt_csr_build(s, &r3, &der, &len);
	assert_int_equal(rt_err_kind_of(e), RT_E_ARG);
	rt_err_free(e);
	rt_signer_free(s);
}

static void
test_qc_roundtrip(void **state)
{
	(void)state;
	rt_qc a = { .compliance = true, .sscd = true,
	    .types = RT_QC_TYPE_ESIGN | RT_QC_TYPE_ESEAL, .retention_years = 10,
	    .npds = 2, .ncc = 1 };
	snprintf(a.pds[0].url, sizeof(a.pds[0].url), "https://x.example/pds-en.pdf");
	snprintf(a.pds[0].lang, 3, "en");
	snprintf(a.pds[1].url, sizeof(a.pds[1].url), "https://x.example/pds-de.pdf");
	snprintf(a.pds[1].lang, 3, "de");
	snprintf(a.cc[0], 3, "DE");
	snprintf(a.semantics, sizeof(a.semantics), "0.4.0.194121.1.1");
	uint8_t *der;
	size_t len;
	assert_null(rt_qc_encode(&a, &der, &len));
	rt_qc b;
	assert_null(rt_qc_decode(der, len, &b));
	assert_true(b.compliance);
	assert_true(b.sscd);
	assert_int_equal(b.types, RT_QC_TYPE_ESIGN | RT_QC_TYPE_ESEAL);
	assert_int_equal(b.retention_years, 10);
	assert_int_equal(b.npds, 2);
	assert_string_equal(b.pds[1].url, "https://x.example/pds-de.pdf");
	assert_string_equal(b.pds[1].lang, "de");
	assert_int_equal(b.ncc, 1);
	assert_string_equal(b.cc[0], "DE");
	assert_string_equal(b.semantics, "0.4.0.194121.1.1");
	assert_int_equal(b.nother, 0);
	char text[512];
	rt_qc_describe(&b, text, sizeof(text));
	assert_non_null(strstr(text, "QcCompliance"));
	assert_non_null(strstr(text, "QcType=eSign+eSeal"));
	assert_non_null(strstr(text, "QcRetentionPeriod=10"));
	/* openssl parses it as DER */
	assert_int_equal(tu_write("qc.der", der, len), 0);
	assert_int_equal(tu_sh("openssl asn1parse -inform DER -in qc.der > qc.txt && "
	    "grep -q 0.4.0.1862.1.6.1 qc.txt"), 0);
	/* truncations are malformed, never a crash */
	for (size_t n = 0; n < len; n++) {
		rt_err *e = rt_qc_decode(der, n, &b);
		assert_non_null(e);
		assert_int_equal(rt_err_kind_of(e), RT_E_FORMAT);
		rt_err_free(e);
	}
	free(der);
	/* a known-answer encoding: QcCompliance + QcSSCD */
	rt_qc c = { .compliance = true, .sscd = true };
	static const uint8_t kat[] = { 0x30, 0x14, 0x30, 0x08, 0x06, 0x06, 0x04,
	    0x00, 0x8e, 0x46, 0x01, 0x01, 0x30, 0x08, 0x06, 0x06, 0x04, 0x00,
	    0x8e, 0x46, 0x01, 0x04 };
	assert_null(rt_qc_encode(&c, &der, &len));
	assert_int_equal(len, sizeof(kat));
	assert_memory_equal(der, kat, sizeof(kat));
	free(der);
	/* bad input */
	rt_qc d = { .npds = 1 };
	snprintf(d.pds[0].url, sizeof(d.pds[0].url), "http://insecure");
	snprintf(d.pds[0].lang, 3, "en");
	rt_err *e = rt_qc_encode(&d, &der, &len);
	assert_int_equal(rt_err_kind_of(e), RT_E_ARG);
	rt_err_free(e);
	rt_qc empty = { 0 };
	e = rt_qc_encode(&empty, &der, &len);
	assert_int_equal(rt_err_kind_of(e), RT_E_ARG);
	rt_err_free(e);
}

static void
test_oid(void **state)
{
	(void)state;
	uint8_t b[32];
	size_t n;
	char t[64];
	assert_null(rt_oid_encode("1.2.840.113549.1.9.14", b, sizeof(b), &n));
	assert_int_equal(n, 9);
	assert_memory_equal(b, "\x2a\x86\x48\x86\xf7\x0d\x01\x09\x0e", 9);
	rt_oid_dotted(b, n, t, sizeof(t));
	assert_string_equal(t, "1.2.840.113549.1.9.14");
	assert_null(rt_oid_encode("2.999.3", b, sizeof(b), &n));
	rt_oid_dotted(b, n, t, sizeof(t));
	assert_string_equal(t, "2.999.3");
	rt_err *e = rt_oid_encode("1.x.3", b, sizeof(b), &n);
	assert_int_equal(rt_err_kind_of(e), RT_E_ARG);
	rt_err_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oid),
		cmocka_unit_test(test_qc_roundtrip),
		cmocka_unit_test(test_csr_rsa),
		cmocka_unit_test(test_csr_pss),
		cmocka_unit_test(test_csr_ec),
		cmocka_unit_test(test_csr_minimal_and_errors),
	};
	return cmocka_run_group_tests_name("crypto_csr", tests, setup, teardown);
}
