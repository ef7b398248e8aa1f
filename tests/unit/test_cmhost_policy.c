/* Unit tests: `cmhost init` (demo PKI, idempotent, encrypted officer key),
 * officer lookup and roles, profile checks on requests (subject rules, key
 * types, SAN, key usage, EKU, QC statements, critical extensions), and
 * issuance (the certificate chains to the demo root, carries the profile's
 * extensions and the subject as requested). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "raterm/cmhost.h"
#include "raterm/csr.h"
#include "raterm/signer.h"
#include "raterm/softtoken.h"
#include "raterm/x509.h"

static char dir[64];
static cmh_config *cfg;
static cmh_ca *ca;
static mbedtls_pk_context key;		/* a P-256 subject key */
static uint8_t spki[200];
static size_t spki_len;

static int
setup(void **state)
{
	char path[128];
	bool created;
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/raterm-cmhpol.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/demo", dir);
	rt_err *e = cmh_init(path, 18000, &created);
	if (e != NULL || !created)
		return -1;
	snprintf(path, sizeof(path), "%s/demo/cmhost.yaml", dir);
	if ((e = cmh_config_load(path, &cfg)) != NULL) {
		char m[300];
		rt_err_format(e, m, sizeof(m));
		fprintf(stderr, "%s\n", m);
		return -1;
	}
	if ((e = cmh_ca_load(cfg, &ca)) != NULL)
		return -1;
	mbedtls_pk_init(&key);
	if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))
	    || mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
	    rt_rng, NULL))
		return -1;
	int n = mbedtls_pk_write_pubkey_der(&key, spki, sizeof(spki));
	if (n <= 0)
		return -1;
	memmove(spki, spki + sizeof(spki) - (size_t)n, (size_t)n);
	spki_len = (size_t)n;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];
	(void)state;
	cmh_ca_free(ca);
	cmh_config_free(cfg);
	mbedtls_pk_free(&key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* DER Name from "CN=x,O=y" */
static size_t
mkname(const char *s, uint8_t *out, size_t cap)
{
	mbedtls_asn1_named_data *head = NULL;
	unsigned char *p = out + cap;
	assert_int_equal(mbedtls_x509_string_to_names(&head, s), 0);
	int n = mbedtls_x509_write_names(&p, out, head);
	mbedtls_asn1_free_named_data_list(&head);
	assert_true(n > 0);
	memmove(out, p, (size_t)n);
	return (size_t)n;
}

/* Extensions { ext } with one extension oid/critical/value */
static size_t
mkexts(const char *oid, size_t oid_len, bool crit, const uint8_t *v,
    size_t vl, uint8_t *out, size_t cap)
{
	unsigned char *p = out + cap;
	int len = 0;
	len += mbedtls_asn1_write_octet_string(&p, out, v, vl);
	if (crit)
		len += mbedtls_asn1_write_bool(&p, out, 1);
	len += mbedtls_asn1_write_oid(&p, out, oid, oid_len);
	len += mbedtls_asn1_write_len(&p, out, (size_t)len);
	len += mbedtls_asn1_write_tag(&p, out, 0x30);
	len += mbedtls_asn1_write_len(&p, out, (size_t)len);
	len += mbedtls_asn1_write_tag(&p, out, 0x30);
	memmove(out, p, (size_t)len);
	return (size_t)len;
}

static void
expect_refusal(const char *profile, const cmh_request *r, uint32_t fi,
    const char *why)
{
	cmh_checked c;
	cmh_refusal ref;
	rt_err *e = cmh_policy_check(cmh_profile_find(cfg, profile), r, &c, &ref);
	if (e == NULL) {
		cmh_checked_free(&c);
		fail_msg("accepted, expected: %s", why);
	}
	rt_err_free(e);
	assert_int_equal(ref.fail_info, fi);
	if (strstr(ref.why, why) == NULL)
		fail_msg("'%s' does not contain '%s'", ref.why, why);
}

static void
test_init(void **state)
{
	char path[160];
	struct stat st1, st2;
	bool created = true;
	rt_signer *s;
	(void)state;
	snprintf(path, sizeof(path), "%s/demo/ca.pem", dir);
	assert_int_equal(stat(path, &st1), 0);
	snprintf(path, sizeof(path), "%s/demo", dir);
	assert_null(cmh_init(path, 0, &created));
	assert_false(created);
	snprintf(path, sizeof(path), "%s/demo/ca.pem", dir);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st1.st_mtime, st2.st_mtime);
	assert_int_equal(st1.st_ino, st2.st_ino);
	snprintf(path, sizeof(path), "%s/demo/officer.key", dir);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(st1.st_mode & 077, 0);

	/* the officer token opens with the passphrase of officer.pass, and
	 * not without it */
	char pass[64], kp[160], cp[160];
	snprintf(path, sizeof(path), "%s/demo/officer.pass", dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(pass, sizeof(pass), f));
	fclose(f);
	pass[strcspn(pass, "\n")] = '\0';
	assert_int_equal(strlen(pass), 24);
	snprintf(kp, sizeof(kp), "%s/demo/officer.key", dir);
	snprintf(cp, sizeof(cp), "%s/demo/officer.pem", dir);
	FILE *devnull = fopen("/dev/null", "w");
	assert_null(rt_signer_soft(kp, cp, pass, strlen(pass), devnull, &s));
	rt_signer_free(s);
	rt_err *e = rt_signer_soft(kp, cp, "wrong", 5, devnull, &s);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_PASSPHRASE);
	rt_err_free(e);
	fclose(devnull);

	/* the officer certificate is found and may use every profile */
	mbedtls_x509_crt oc;
	mbedtls_x509_crt_init(&oc);
	assert_int_equal(mbedtls_x509_crt_parse_file(&oc, cp), 0);
	const cmh_officer *o = cmh_officer_find(cfg, &oc);
	assert_non_null(o);
	assert_string_equal(o->name, "demo-officer");
	assert_true(cmh_officer_may_use(o, "qualified"));
	/* the CA certificate is no officer */
	assert_null(cmh_officer_find(cfg, cmh_ca_cert(ca)));
	mbedtls_x509_crt_free(&oc);
}

static void
test_subject_rules(void **state)
{
	uint8_t name[300];
	cmh_request r = { .spki = spki, .spki_len = spki_len };
	(void)state;
	r.subject = name;
	r.subject_len = mkname("O=x", name, sizeof(name));
	expect_refusal("user", &r, CMP_FI_BAD_CERT_TEMPLATE,
	    "requires subject attribute CN");
	r.subject_len = mkname("CN=a,ST=Bavaria", name, sizeof(name));
	expect_refusal("user", &r, CMP_FI_BAD_CERT_TEMPLATE,
	    "subject attribute ST is not allowed");
	r.subject_len = mkname("CN=a", name, sizeof(name));
	expect_refusal("qualified", &r, CMP_FI_BAD_CERT_TEMPLATE,
	    "requires subject attribute C");
	r.subject_len = 2;
	memcpy(name, "\x30\x00", 2);
	expect_refusal("user", &r, CMP_FI_BAD_CERT_TEMPLATE, "subject is empty");
	r.subject_len = mkname("CN=a\x01z", name, sizeof(name));
	expect_refusal("user", &r, CMP_FI_BAD_CERT_TEMPLATE, "control");
	r.subject_len = mkname("CN=a", name, sizeof(name));
	r.spki_len = 10;
	expect_refusal("user", &r, CMP_FI_BAD_DATA_FORMAT, "public key");
}

static void
test_fixed_and_keys(void **state)
{
	static const char y[] =
	    "database: {path: x.db}\n"
	    "ca: {cert: c, key: k}\n"
	    "officer_cas: [o]\n"
	    "profiles:\n"
	    "  - name: fixed\n"
	    "    key_types: [p384, rsa]\n"
	    "    subject: {fixed: {O: Example}}\n";
	cmh_config *c;
	cmh_checked ck;
	cmh_refusal ref;
	uint8_t name[300];
	(void)state;
	assert_null(cmh_config_parse("f.yaml", y, strlen(y), &c));
	const cmh_profile *p = cmh_profile_find(c, "fixed");
	cmh_request r = { .spki = spki, .spki_len = spki_len, .subject = name };
	r.subject_len = mkname("CN=a,O=Example", name, sizeof(name));
	rt_err *e = cmh_policy_check(p, &r, &ck, &ref);
	assert_non_null(e);		/* P-256 not allowed */
	rt_err_free(e);
	assert_int_equal(ref.fail_info, CMP_FI_BAD_ALG);
	cmh_profile *pw = (cmh_profile *)p;
	pw->key_types |= CMH_KT_P256;
	assert_null(cmh_policy_check(p, &r, &ck, &ref));
	assert_string_equal(ck.subject_str, "CN=a, O=Example");
	cmh_checked_free(&ck);
	r.subject_len = mkname("CN=a,O=Other", name, sizeof(name));
	e = cmh_policy_check(p, &r, &ck, &ref);
	assert_non_null(e);
	rt_err_free(e);
	assert_non_null(strstr(ref.why, "requires O=Example"));
	r.subject_len = mkname("CN=a", name, sizeof(name));
	e = cmh_policy_check(p, &r, &ck, &ref);
	assert_non_null(e);
	rt_err_free(e);
	cmh_config_free(c);
}

static void
test_extensions(void **state)
{
	uint8_t name[300], ext[600];
	cmh_request r = { .spki = spki, .spki_len = spki_len, .subject = name };
	(void)state;
	r.subject_len = mkname("CN=a", name, sizeof(name));
	r.exts = ext;
	/* SAN: an email is fine for "user", a DNS name is not */
	static const uint8_t san_email[] = { 0x30, 0x0b, 0x81, 0x09, 'a', '@',
		'b', '.', 'e', 'x', 'a', 'm', 'p' };
	static const uint8_t san_dns[] = { 0x30, 0x05, 0x82, 0x03, 'a', '.',
		'b' };
	r.exts_len = mkexts(MBEDTLS_OID_SUBJECT_ALT_NAME, 3, false, san_dns,
	    sizeof(san_dns), ext, sizeof(ext));
	expect_refusal("user", &r, CMP_FI_BAD_CERT_TEMPLATE,
	    "does not allow a subjectAltName DNS");
	/* key usage beyond the profile */
	static const uint8_t ku_sign[] = { 0x03, 0x02, 0x01, 0x06 };
	r.exts_len = mkexts(MBEDTLS_OID_KEY_USAGE, 3, true, ku_sign,
	    sizeof(ku_sign), ext, sizeof(ext));
	expect_refusal("user", &r, CMP_FI_BAD_CERT_TEMPLATE,
	    "key usage exceeds");
	/* EKU not in the profile: serverAuth */
	static const uint8_t eku_srv[] = { 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
		0x01, 0x05, 0x05, 0x07, 0x03, 0x01 };
	r.exts_len = mkexts(MBEDTLS_OID_EXTENDED_KEY_USAGE, 3, false, eku_srv,
	    sizeof(eku_srv), ext, sizeof(ext));
	expect_refusal("user", &r, CMP_FI_BAD_CERT_TEMPLATE,
	    "extended key usage 1.3.6.1.5.5.7.3.1");
	/* an unknown critical extension */
	static const uint8_t nul[] = { 0x05, 0x00 };
	r.exts_len = mkexts("\x2a\x03\x04", 3, true, nul, sizeof(nul), ext,
	    sizeof(ext));
	expect_refusal("user", &r, CMP_FI_UNACCEPTED_EXTENSION,
	    "critical extension 1.2.3.4 not supported");
	/* a CA certificate */
	static const uint8_t bc_ca[] = { 0x30, 0x03, 0x01, 0x01, 0xff };
	r.exts_len = mkexts(MBEDTLS_OID_BASIC_CONSTRAINTS, 3, true, bc_ca,
	    sizeof(bc_ca), ext, sizeof(ext));
	expect_refusal("user", &r, CMP_FI_BAD_CERT_TEMPLATE, "CA certificate");
	/* QC: the RA may add PDS to "qualified" but not a QcType the profile
	 * does not fix (eSeal) nor list in ra_may_add */
	rt_qc q;
	uint8_t *qd;
	size_t ql;
	memset(&q, 0, sizeof(q));
	q.types = RT_QC_TYPE_ESEAL;
	assert_null(rt_qc_encode(&q, &qd, &ql));
	r.subject_len = mkname("CN=a,C=DE", name, sizeof(name));
	r.exts_len = mkexts("\x2b\x06\x01\x05\x05\x07\x01\x03", 8, false, qd, ql,
	    ext, sizeof(ext));
	free(qd);
	expect_refusal("qualified", &r, CMP_FI_UNACCEPTED_EXTENSION,
	    "does not let the RA add QcType");
	/* a good request: SAN email + PDS added to "qualified" */
	memset(&q, 0, sizeof(q));
	snprintf(q.pds[0].url, sizeof(q.pds[0].url), "https://example.org/pds");
	snprintf(q.pds[0].lang, sizeof(q.pds[0].lang), "en");
	q.npds = 1;
	assert_null(rt_qc_encode(&q, &qd, &ql));
	r.exts_len = mkexts("\x2b\x06\x01\x05\x05\x07\x01\x03", 8, false, qd, ql,
	    ext, sizeof(ext));
	free(qd);
	cmh_checked ck;
	cmh_refusal ref;
	assert_null(cmh_policy_check(cmh_profile_find(cfg, "qualified"), &r,
	    &ck, &ref));
	assert_true(ck.has_qc);
	assert_true(ck.qc.compliance);		/* fixed by the profile */
	assert_true(ck.qc.sscd);
	assert_int_equal(ck.qc.npds, 1);	/* added by the RA */
	cmh_checked_free(&ck);
	/* SAN email for user */
	r.subject_len = mkname("CN=a", name, sizeof(name));
	r.exts_len = mkexts(MBEDTLS_OID_SUBJECT_ALT_NAME, 3, false, san_email,
	    sizeof(san_email), ext, sizeof(ext));
	assert_null(cmh_policy_check(cmh_profile_find(cfg, "user"), &r, &ck,
	    &ref));
	assert_non_null(ck.san);
	cmh_checked_free(&ck);
}

static void
test_issue(void **state)
{
	uint8_t name[300], ext[600], *der;
	size_t len;
	char serial[48], path[160];
	cmh_checked ck;
	cmh_refusal ref;
	(void)state;
	static const uint8_t san_email[] = { 0x30, 0x0b, 0x81, 0x09, 'a', '@',
		'b', '.', 'e', 'x', 'a', 'm', 'p' };
	cmh_request r = { .spki = spki, .spki_len = spki_len, .subject = name };
	/* PrintableString C, UTF8 CN with a non-ASCII letter */
	r.subject_len = mkname("CN=J\xc3\xbcrgen,O=Example,C=DE", name,
	    sizeof(name));
	r.exts = ext;
	r.exts_len = mkexts(MBEDTLS_OID_SUBJECT_ALT_NAME, 3, false, san_email,
	    sizeof(san_email), ext, sizeof(ext));
	const cmh_profile *p = cmh_profile_find(cfg, "user");
	assert_null(cmh_policy_check(p, &r, &ck, &ref));
	time_t now = time(NULL);
	assert_null(cmh_issue(ca, p, &ck, now, &der, &len, serial));
	cmh_checked_free(&ck);
	assert_int_equal(strlen(serial), 32);

	mbedtls_x509_crt crt, root;
	mbedtls_x509_crt_init(&crt);
	mbedtls_x509_crt_init(&root);
	assert_int_equal(mbedtls_x509_crt_parse_der(&crt, der, len), 0);
	assert_int_equal(mbedtls_x509_crt_parse_der(&crt,
	    cmh_ca_cert(ca)->raw.p, cmh_ca_cert(ca)->raw.len), 0);
	snprintf(path, sizeof(path), "%s/demo/root.pem", dir);
	assert_int_equal(mbedtls_x509_crt_parse_file(&root, path), 0);
	uint32_t flags;
	assert_int_equal(mbedtls_x509_crt_verify(&crt, &root, NULL, NULL, &flags,
	    NULL, NULL), 0);
	/* the subject as requested, byte for byte */
	assert_int_equal(crt.subject_raw.len, r.subject_len);
	assert_memory_equal(crt.subject_raw.p, name, r.subject_len);
	assert_int_equal(crt.issuer_raw.len, cmh_ca_cert(ca)->subject_raw.len);
	assert_true(crt.key_usage & MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
	assert_true(crt.ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE);
	assert_true(crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);
	assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(&crt,
	    MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), 0);
	assert_false(crt.ca_istrue);
	char hex[48];
	for (size_t i = 0; i < crt.serial.len; i++)
		snprintf(hex + 2 * i, 3, "%02x", crt.serial.p[i]);
	assert_string_equal(hex, serial);
	/* validity: 365 days */
	rt_cert_info ci;
	assert_null(rt_cert_info_parse(der, len, &ci));
	assert_true(ci.na - ci.nb >= 365 * 86400 && ci.na - ci.nb <= 365 * 86400 + 120);
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&root);
	free(der);
}

/* What raterm's qualified-sign procedure asks for on 9c: the profile's
 * fixed statements repeated, a retention period and an email SAN, all
 * accepted by piv-sign-qualified and found in the certificate; what the
 * profiles do not allow is refused with the reason. */
static void
test_qualified_procedure(void **state)
{
	uint8_t name[300], *der, *qd, *exts;
	size_t len, ql, el;
	char serial[48];
	cmh_checked ck;
	cmh_refusal ref;
	(void)state;
	cmh_request r = { .spki = spki, .spki_len = spki_len, .subject = name };
	r.subject_len = mkname("CN=Jane Doe,O=Example", name, sizeof(name));
	rt_qc q;
	memset(&q, 0, sizeof(q));
	q.compliance = q.sscd = true;
	q.types = RT_QC_TYPE_ESIGN;
	q.retention_years = 10;
	assert_null(rt_qc_encode(&q, &qd, &ql));
	const char *em[] = { "jane@example.org" };
	rt_csr_req sq = { .emails = em, .nemails = 1 };
	uint8_t *san;
	size_t sl;
	assert_null(rt_san_encode(&sq, &san, &sl));
	rt_ext x[2] = {
		{ RT_OID_SAN, false, san, sl },
		{ RT_OID_QC_STATEMENTS, false, qd, ql },
	};
	assert_null(rt_exts_encode(x, 2, &exts, &el));
	r.exts = exts;
	r.exts_len = el;
	const cmh_profile *p = cmh_profile_find(cfg, "piv-sign-qualified");
	assert_non_null(p);
	assert_null(cmh_policy_check(p, &r, &ck, &ref));
	assert_true(ck.has_qc);
	assert_int_equal(ck.qc.retention_years, 10);
	assert_null(cmh_issue(ca, p, &ck, time(NULL), &der, &len, serial));
	cmh_checked_free(&ck);
	const uint8_t *v;
	size_t vl;
	assert_null(rt_cert_ext_find(der, len, RT_OID_SAN, &v, &vl, NULL));
	assert_int_equal(vl, sl);
	assert_memory_equal(v, san, sl);
	assert_null(rt_cert_ext_find(der, len, RT_OID_QC_STATEMENTS, &v, &vl,
	    NULL));
	rt_qc got;
	assert_null(rt_qc_decode(v, vl, &got));
	assert_true(got.compliance && got.sscd);
	assert_int_equal(got.types, RT_QC_TYPE_ESIGN);
	assert_int_equal(got.retention_years, 10);
	free(der);
	free(exts);
	/* the card-authentication profile takes no SAN */
	assert_null(rt_exts_encode(x, 1, &exts, &el));
	r.exts = exts;
	r.exts_len = el;
	expect_refusal("piv-cardauth", &r, CMP_FI_BAD_CERT_TEMPLATE,
	    "does not allow a subjectAltName email");
	free(exts);
	/* QC statements on a profile without qc */
	assert_null(rt_exts_encode(x + 1, 1, &exts, &el));
	r.exts = exts;
	r.exts_len = el;
	expect_refusal("piv-auth", &r, CMP_FI_UNACCEPTED_EXTENSION,
	    "does not let the RA add QcCompliance");
	free(exts);
	free(qd);
	/* eSeal is not what piv-sign-qualified issues */
	memset(&q, 0, sizeof(q));
	q.types = RT_QC_TYPE_ESEAL;
	assert_null(rt_qc_encode(&q, &qd, &ql));
	x[1].value = qd;
	x[1].len = ql;
	assert_null(rt_exts_encode(x + 1, 1, &exts, &el));
	r.exts = exts;
	r.exts_len = el;
	expect_refusal("piv-sign-qualified", &r, CMP_FI_UNACCEPTED_EXTENSION,
	    "does not let the RA add QcType");
	free(exts);
	free(qd);
	free(san);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_subject_rules),
		cmocka_unit_test(test_fixed_and_keys),
		cmocka_unit_test(test_extensions),
		cmocka_unit_test(test_issue),
		cmocka_unit_test(test_qualified_procedure),
	};
	return cmocka_run_group_tests_name("cmhost_policy", tests, setup,
	    teardown);
}
