/* Unit tests: CMP messages. Encode/decode round trips of every body the
 * module knows, signature protection verified against a test PKI made by
 * openssl at test time (ECDSA, RSA PKCS#1 and PSS), messages written by
 * `openssl cmp -reqout` (p10cr, cr, kur, rr, genm) decoded and verified,
 * and strict rejection: every truncation, trailing bytes, non-DER
 * lengths, broken protection, untrusted signer, wrong transactionID and
 * recipNonce, unsupported content. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <mbedtls/x509_crt.h>

#include "raterm/cmp.h"
#include "raterm/signer.h"
#include "raterm/softtoken.h"
#include "crypto_testutil.h"

#define PASS "officer pass"

static FILE *devnull;
static mbedtls_x509_crt trust;

static int
setup(void **state)
{
	(void)state;
	devnull = fopen("/dev/null", "w");
	/* the test runs from the repository root (make) */
	if (system("test -f scripts/mkpki.sh") != 0)
		return -1;
	char cwd[256];
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	int rc = tu_sh(
	    "sh '%s/scripts/mkpki.sh' pki >/dev/null &&"
	    "printf 'keyUsage=critical,digitalSignature\\nsubjectKeyIdentifier=hash\\n' > ee.ext &&"
	    "printf 'keyUsage=critical,keyEncipherment\\n' > noks.ext &&"
	    /* officer (EC, RSA), server, an untrusted signer */
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out off.key &&"
	    "openssl req -new -key off.key -subj '/O=raterm test/CN=Officer One' -out off.csr &&"
	    "openssl x509 -req -in off.csr -CA pki/officer-ca.pem -CAkey pki/officer-ca.key -set_serial 11 -days 30 -extfile ee.ext -out off.pem &&"
	    "openssl pkcs8 -topk8 -in off.key -out off_enc.pem -v2 aes-256-cbc -passout pass:'" PASS "' &&"
	    "cat off.pem pki/officer-ca.pem > off_chain.pem &&"
	    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out offr.key &&"
	    "openssl req -new -key offr.key -subj '/O=raterm test/CN=Officer RSA' -out offr.csr &&"
	    "openssl x509 -req -in offr.csr -CA pki/officer-ca.pem -CAkey pki/officer-ca.key -set_serial 12 -days 30 -extfile ee.ext -out offr.pem &&"
	    "openssl pkcs8 -topk8 -in offr.key -out offr_enc.pem -v2 aes-256-cbc -passout pass:'" PASS "' &&"
	    "cat offr.pem pki/officer-ca.pem > offr_chain.pem &&"
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out rogue.key &&"
	    "openssl req -x509 -new -key rogue.key -subj '/CN=Rogue' -days 30 -out rogue.pem &&"
	    "openssl pkcs8 -topk8 -in rogue.key -out rogue_enc.pem -v2 aes-256-cbc -passout pass:'" PASS "' &&"
	    /* an end-entity request and certificate */
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ee.key &&"
	    "openssl req -new -key ee.key -subj '/CN=Jane User' -addext keyUsage=digitalSignature -outform DER -out ee.csr &&"
	    "openssl x509 -req -in ee.csr -inform DER -CA pki/issuing.pem -CAkey pki/issuing.key -set_serial 0x0101 -days 30 -outform DER -out ee.der &&"
	    "openssl x509 -in ee.der -inform DER -out ee.pem &&"
	    /* requests written by openssl cmp (no server: -reqout is written first) */
	    "O='-server 127.0.0.1:1 -path pkix/ -cert off.pem -key off.key -extracerts pki/officer-ca.pem -trusted pki/root.pem -recipient /CN=CA -msg_timeout 2 -certout got.pem' &&"
	    "(openssl cmp -cmd p10cr $O -csr ee.csr -reqout o_p10cr.der -implicit_confirm || true) &&"
	    "(openssl cmp -cmd cr $O -newkey ee.key -subject /CN=Jane -reqout o_cr.der || true) &&"
	    "(openssl cmp -cmd cr $O -newkey ee.key -subject /CN=Jane -popo 0 -reqout o_cr_ra.der || true) &&"
	    "(openssl cmp -cmd kur $O -newkey ee.key -oldcert ee.pem -reqout o_kur.der || true) &&"
	    "(openssl cmp -cmd rr $O -oldcert ee.pem -revreason 4 -reqout o_rr.der || true) &&"
	    "(openssl cmp -cmd genm $O -reqout o_genm.der || true) &&"
	    "test -s o_p10cr.der && test -s o_cr.der && test -s o_rr.der && test -s o_genm.der",
	    cwd);
	if (rc != 0) {
		fprintf(stderr, "setup failed, see %s/log\n", tu_tmpdir());
		return -1;
	}
	mbedtls_x509_crt_init(&trust);
	if (mbedtls_x509_crt_parse_file(&trust, tu_path("pki/root.pem")) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	mbedtls_x509_crt_free(&trust);
	fclose(devnull);
	tu_cleanup();
	return 0;
}

static rt_signer *
soft(const char *key, const char *chain)
{
	rt_signer *s = NULL;
	rt_err *e = rt_signer_soft(tu_path(key), tu_path(chain), PASS,
	    strlen(PASS), devnull, &s);
	assert_null(e);
	return s;
}

static uint8_t txid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
static uint8_t nonce[16] = { 0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7 };
static uint8_t nonce2[16] = { 0xB0, 0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6 };

static void
base(cmp_msg *m, int type)
{
	cmp_msg_init(m);
	m->type = type;
	m->hdr.transaction_id = (cmp_buf){ txid, sizeof(txid) };
	m->hdr.sender_nonce = (cmp_buf){ nonce, sizeof(nonce) };
	m->hdr.message_time = 1800000000;
}

static cmp_msg *
roundtrip(cmp_msg *m, rt_signer *s, const cmp_protect_opts *o,
    uint8_t **der_out, size_t *len_out)
{
	uint8_t *der = NULL;
	size_t len = 0;
	cmp_msg *d = NULL;
	rt_err *e = cmp_msg_encode(m, s, o, &der, &len);
	if (e != NULL) {
		char buf[512];
		rt_err_format(e, buf, sizeof(buf));
		fail_msg("encode: %s", buf);
	}
	e = cmp_msg_decode(der, len, &d);
	if (e != NULL) {
		char buf[512];
		rt_err_format(e, buf, sizeof(buf));
		fail_msg("decode: %s", buf);
	}
	/* the re-encoding of the decoded model is byte-identical */
	uint8_t *der2 = NULL;
	size_t len2 = 0;
	if (s == NULL) {
		assert_null(cmp_msg_encode(d, NULL, NULL, &der2, &len2));
		assert_int_equal(len, len2);
		assert_memory_equal(der, der2, len);
		free(der2);
	}
	if (der_out != NULL) {
		*der_out = der;
		*len_out = len;
	} else
		free(der);
	return d;
}

static void
expect_ok(rt_err *e)
{
	if (e != NULL) {
		char buf[512];
		rt_err_format(e, buf, sizeof(buf));
		rt_err_free(e);
		fail_msg("unexpected error: %s", buf);
	}
}

static void
expect_kind(rt_err *e, rt_err_kind k)
{
	assert_non_null(e);
	if (rt_err_kind_of(e) != k) {
		char buf[512];
		rt_err_format(e, buf, sizeof(buf));
		rt_err_free(e);
		fail_msg("expected %s, got: %s", rt_err_kind_name(k), buf);
	}
	rt_err_free(e);
}

/* ---- round trips ----------------------------------------------------------- */

static void
test_cr_roundtrip(void **state)
{
	(void)state;
	size_t csr_len, cert_len;
	uint8_t *csr = tu_read("ee.csr", &csr_len);
	uint8_t *cert = tu_read("ee.der", &cert_len);
	assert_non_null(csr);
	cmp_msg m;
	base(&m, CMP_BODY_CR);
	m.hdr.implicit_confirm = true;
	m.hdr.cert_profile[0] = cmp_buf_str("tls-client");
	m.hdr.ncert_profile = 1;
	m.nreq = 2;
	expect_ok(cmp_req_from_csr(csr, csr_len, &m.req[0]));
	expect_ok(cmp_req_from_csr(csr, csr_len, &m.req[1]));
	assert_true(m.req[0].extensions.len > 0);
	m.req[0].popo = CMP_POPO_RA_VERIFIED;
	m.req[1].cert_req_id = 1;
	m.req[1].popo = CMP_POPO_RA_VERIFIED;
	expect_ok(cmp_rev_from_cert(cert, cert_len, -1, &m.rev[0]));
	cmp_msg *d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_int_equal(d->type, CMP_BODY_CR);
	assert_int_equal(d->hdr.pvno, 2);
	assert_true(d->hdr.implicit_confirm);
	assert_int_equal(d->hdr.ncert_profile, 1);
	assert_true(cmp_buf_eq(d->hdr.cert_profile[0], cmp_buf_str("tls-client")));
	assert_int_equal(d->hdr.message_time, 1800000000);
	assert_int_equal(d->nreq, 2);
	assert_int_equal(d->req[1].cert_req_id, 1);
	assert_true(cmp_buf_eq(d->req[0].subject, m.req[0].subject));
	assert_true(cmp_buf_eq(d->req[0].public_key, m.req[0].public_key));
	assert_true(cmp_buf_eq(d->req[0].extensions, m.req[0].extensions));
	assert_int_equal(d->req[0].popo, CMP_POPO_RA_VERIFIED);
	assert_true(cmp_buf_eq(d->hdr.transaction_id, m.hdr.transaction_id));
	cmp_msg_free(d);
	free(csr);
	free(cert);
}

/* The offset of id-it-raterm-cardId's OID TLV in der (asserted found). */
static size_t
find_card_id(const uint8_t *der, size_t len)
{
	cmp_itav it = { 0 };
	expect_ok(cmp_itav_set(&it, CMP_OID_IT_CARD_ID));
	for (size_t i = 0; i + 2 + it.oid.len <= len; i++)
		if (der[i] == 0x06 && der[i + 1] == it.oid.len &&
		    memcmp(der + i + 2, it.oid.p, it.oid.len) == 0)
			return i;
	fail_msg("id-it-raterm-cardId not in the message");
	return 0;
}

static void
expect_fmt_named(rt_err *e, const char *name)
{
	char buf[512];
	assert_non_null(e);
	rt_err_format(e, buf, sizeof(buf));
	if (rt_err_kind_of(e) != RT_E_CMP_FORMAT || strstr(buf, name) == NULL)
		fail_msg("expected CMP_FORMAT naming %s, got: %s", name, buf);
	rt_err_free(e);
}

/* A minimal unprotected genm (NULL-DN names, empty body) whose
 * generalInfo is { id-it-raterm-cardId, the TLV val } (vlen < 90). */
static uint8_t *
genm_with_card_id(const uint8_t *val, size_t vlen, size_t *len)
{
	cmp_itav it = { 0 };
	expect_ok(cmp_itav_set(&it, CMP_OID_IT_CARD_ID));
	size_t itav = 2 + it.oid.len + vlen, hdr = 3 + 4 + 4 + 2 + 2 + 2 + itav;
	size_t all = 2 + hdr + 4;
	assert_true(all < 128);
	uint8_t *d = malloc(2 + all), *p = d;
	assert_non_null(d);
	*p++ = 0x30; *p++ = (uint8_t)all;
	*p++ = 0x30; *p++ = (uint8_t)hdr;
	*p++ = 0x02; *p++ = 0x01; *p++ = 0x02;			/* pvno */
	*p++ = 0xA4; *p++ = 0x02; *p++ = 0x30; *p++ = 0x00;	/* sender */
	*p++ = 0xA4; *p++ = 0x02; *p++ = 0x30; *p++ = 0x00;	/* recipient */
	*p++ = 0xA8; *p++ = (uint8_t)(4 + itav);
	*p++ = 0x30; *p++ = (uint8_t)(2 + itav);
	*p++ = 0x30; *p++ = (uint8_t)itav;
	*p++ = 0x06; *p++ = (uint8_t)it.oid.len;
	memcpy(p, it.oid.p, it.oid.len);
	p += it.oid.len;
	memcpy(p, val, vlen);
	p += vlen;
	*p++ = 0xB5; *p++ = 0x02; *p++ = 0x30; *p++ = 0x00;	/* genm */
	*len = (size_t)(p - d);
	assert_int_equal(*len, 2 + all);
	return d;
}

/* generalInfo id-it-raterm-cardId: round trip, absent, refusals. */
static void
test_card_id(void **state)
{
	(void)state;
	static const uint8_t guid[16] = { 0x3a, 0x1b, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 0x99, 0x01 };
	static const uint8_t ser[2] = { 0xAA, 0xBB };
	static uint8_t big[CMP_CARD_ID_MAX + 1];
	cmp_msg m, *d;
	uint8_t *der;
	size_t len;

	/* with certProfile and implicitConfirm, the GUID form */
	base(&m, CMP_BODY_GENM);
	m.hdr.implicit_confirm = true;
	m.hdr.cert_profile[0] = cmp_buf_str("piv-auth");
	m.hdr.ncert_profile = 1;
	m.hdr.card_id = (cmp_buf){ guid, sizeof(guid) };
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_true(cmp_buf_eq(d->hdr.card_id, m.hdr.card_id));
	assert_true(d->hdr.implicit_confirm);
	assert_int_equal(d->hdr.ncert_profile, 1);
	cmp_msg_free(d);
	/* absent */
	base(&m, CMP_BODY_GENM);
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_int_equal(d->hdr.card_id.len, 0);
	cmp_msg_free(d);
	/* longer than CMP_CARD_ID_MAX: not encoded */
	base(&m, CMP_BODY_GENM);
	m.hdr.card_id = (cmp_buf){ big, sizeof(big) };
	expect_kind(cmp_msg_encode(&m, NULL, NULL, &der, &len), RT_E_ARG);

	/* hand-built messages with generalInfo { { cardId, value } } */
	uint8_t val[2 + CMP_CARD_ID_MAX + 1];
	val[0] = 0x04;
	val[1] = 2;
	memcpy(val + 2, ser, 2);
	der = genm_with_card_id(val, 4, &len);
	expect_ok(cmp_msg_decode(der, len, &d));
	assert_true(cmp_buf_eq(d->hdr.card_id, (cmp_buf){ ser, 2 }));
	cmp_msg_free(d);
	free(der);
	/* not an OCTET STRING (UTF8String) */
	val[0] = 0x0C;
	der = genm_with_card_id(val, 4, &len);
	expect_fmt_named(cmp_msg_decode(der, len, &d), "cardId");
	free(der);
	/* empty */
	val[0] = 0x04;
	val[1] = 0;
	der = genm_with_card_id(val, 2, &len);
	expect_fmt_named(cmp_msg_decode(der, len, &d), "cardId");
	free(der);
	/* longer than CMP_CARD_ID_MAX */
	val[1] = CMP_CARD_ID_MAX + 1;
	memset(val + 2, 0x5A, CMP_CARD_ID_MAX + 1);
	der = genm_with_card_id(val, sizeof(val), &len);
	expect_fmt_named(cmp_msg_decode(der, len, &d), "cardId");
	free(der);
	/* CMP_CARD_ID_MAX is fine */
	val[1] = CMP_CARD_ID_MAX;
	der = genm_with_card_id(val, sizeof(val) - 1, &len);
	expect_ok(cmp_msg_decode(der, len, &d));
	assert_int_equal(d->hdr.card_id.len, CMP_CARD_ID_MAX);
	cmp_msg_free(d);
	free(der);
	/* an OCTET STRING and more: trailing bytes in the InfoTypeAndValue */
	val[1] = 1;
	val[3] = 0x05;
	val[4] = 0x00;
	der = genm_with_card_id(val, 5, &len);
	expect_kind(cmp_msg_decode(der, len, &d), RT_E_CMP_FORMAT);
	free(der);
	/* no value at all */
	der = genm_with_card_id(val, 0, &len);
	expect_kind(cmp_msg_decode(der, len, &d), RT_E_CMP_FORMAT);
	free(der);
	/* an unknown InfoType of raterm's arc (<arc>.1.3) with any value:
	 * ignored */
	val[0] = 0x0C;
	val[1] = 1;
	der = genm_with_card_id(val, 3, &len);
	size_t o = find_card_id(der, len);
	der[o + 1 + der[o + 1]] = 0x03;
	expect_ok(cmp_msg_decode(der, len, &d));
	assert_int_equal(d->hdr.card_id.len, 0);
	cmp_msg_free(d);
	free(der);
}

/* id-it-raterm-cardMgmtKey in generalInfo: the request (CardMgmtKeyReq)
 * in a cr, the answer (CardMgmtKey, or no value) in an ip; a second entry
 * or a value that is not a SEQUENCE refused. */
static void
test_mgmt_key_general_info(void **state)
{
	(void)state;
	static const uint8_t guid[16] = { 0x1d, 0xb8, 0xbc, 0xaf, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0x7a, 0x01 };
	static const uint8_t key[24] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4,
	    5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	cmp_mgmt_key k = { { guid, sizeof(guid) }, 0, { 0 } }, got;
	cmp_msg m, *d;
	uint8_t *v, *der;
	size_t vl, len;

	/* the request rides in a genm's header here (any body carries it) */
	expect_ok(cmp_mgmt_key_encode(&k, false, &v, &vl));
	base(&m, CMP_BODY_GENM);
	m.hdr.card_id = (cmp_buf){ guid, sizeof(guid) };
	m.hdr.has_mgmt_key = true;
	m.hdr.mgmt_key = (cmp_buf){ v, vl };
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_true(d->hdr.has_mgmt_key);
	assert_true(cmp_buf_eq(d->hdr.mgmt_key, m.hdr.mgmt_key));
	expect_ok(cmp_mgmt_key_parse(d->hdr.mgmt_key, false, &got));
	assert_true(cmp_buf_eq(got.card_id, k.card_id));
	cmp_msg_free(d);
	free(v);

	/* the answer with a key, and without a value (none given) */
	k.alg = 3;
	k.key = (cmp_buf){ key, sizeof(key) };
	expect_ok(cmp_mgmt_key_encode(&k, true, &v, &vl));
	base(&m, CMP_BODY_PKICONF);
	m.hdr.has_mgmt_key = true;
	m.hdr.mgmt_key = (cmp_buf){ v, vl };
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	expect_ok(cmp_mgmt_key_parse(d->hdr.mgmt_key, true, &got));
	assert_int_equal(got.alg, 3);
	assert_true(cmp_buf_eq(got.key, k.key));
	cmp_msg_free(d);
	free(v);
	base(&m, CMP_BODY_PKICONF);
	m.hdr.has_mgmt_key = true;
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_true(d->hdr.has_mgmt_key);
	assert_int_equal(d->hdr.mgmt_key.len, 0);
	cmp_msg_free(d);
	/* absent */
	base(&m, CMP_BODY_PKICONF);
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_false(d->hdr.has_mgmt_key);
	cmp_msg_free(d);

	/* a value that is not a SEQUENCE: an OCTET STRING in its place
	 * (same length, so only the tag changes) */
	static const uint8_t seq[] = { 0x30, 0x03, 0x04, 0x01, 0x07 };
	base(&m, CMP_BODY_PKICONF);
	m.hdr.has_mgmt_key = true;
	m.hdr.mgmt_key = (cmp_buf){ seq, sizeof(seq) };
	expect_ok(cmp_msg_encode(&m, NULL, NULL, &der, &len));
	size_t o = 0;
	for (size_t i = 0; i + sizeof(seq) <= len; i++)
		if (memcmp(der + i, seq, sizeof(seq)) == 0)
			o = i;
	assert_true(o > 0);
	der[o] = 0x04;
	expect_kind(cmp_msg_decode(der, len, &d), RT_E_CMP_FORMAT);
	free(der);
}

static void
test_popo_signature(void **state)
{
	(void)state;
	size_t csr_len;
	uint8_t *csr = tu_read("ee.csr", &csr_len);
	uint8_t *buf = NULL;
	/* the officer's key as "the key being certified": template from its
	 * own CSR is not at hand, so use the officer's public key */
	rt_signer *s = soft("off_enc.pem", "off_chain.pem");
	cmp_msg m;
	base(&m, CMP_BODY_IR);
	m.nreq = 1;
	expect_ok(cmp_req_from_csr(csr, csr_len, &m.req[0]));
	const mbedtls_x509_crt *c = rt_signer_chain(s);
	static uint8_t spki[600];
	mbedtls_pk_context *pk = (mbedtls_pk_context *)&c->pk;
	int n = mbedtls_pk_write_pubkey_der(pk, spki, sizeof(spki));
	assert_true(n > 0);
	m.req[0].public_key = (cmp_buf){ spki + sizeof(spki) - n, (size_t)n };
	expect_ok(cmp_popo_sign(&m.req[0], s, &buf));
	cmp_msg *d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_int_equal(d->req[0].popo, CMP_POPO_SIGNATURE);
	expect_ok(cmp_popo_verify(d, 0));
	/* a changed template breaks the POPO */
	cmp_msg_free(d);
	m.req[0].subject = m.req[0].issuer;
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	expect_kind(cmp_popo_verify(d, 0), RT_E_CMP_PROTECTION);
	cmp_msg_free(d);
	free(buf);
	free(csr);
	rt_signer_free(s);
}

static void
test_rep_roundtrip(void **state)
{
	(void)state;
	size_t cert_len, root_len;
	uint8_t *cert = tu_read("ee.der", &cert_len);
	assert_int_equal(tu_sh("openssl x509 -in pki/root.pem -outform DER -out root.der"), 0);
	uint8_t *root = tu_read("root.der", &root_len);
	cmp_msg m;
	base(&m, CMP_BODY_IP);
	m.hdr.recip_nonce = (cmp_buf){ nonce2, sizeof(nonce2) };
	m.nresp = 2;
	m.resp[0].cert = (cmp_buf){ cert, cert_len };
	m.resp[1].cert_req_id = 1;
	m.resp[1].status.status = CMP_STATUS_REJECTION;
	m.resp[1].status.fail_info = CMP_FI_BAD_POP | CMP_FI_DUPLICATE_CERT_REQ;
	m.resp[1].status.text[0] = cmp_buf_str("no");
	m.resp[1].status.ntext = 1;
	m.ca_pubs[0] = (cmp_buf){ root, root_len };
	m.nca_pubs = 1;
	cmp_msg *d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_int_equal(d->nresp, 2);
	assert_true(cmp_buf_eq(d->resp[0].cert, m.resp[0].cert));
	assert_int_equal(d->resp[1].status.fail_info, CMP_FI_BAD_POP |
	    CMP_FI_DUPLICATE_CERT_REQ);
	assert_int_equal(d->nca_pubs, 1);
	char buf[200];
	cmp_status_format(&d->resp[1].status, buf, sizeof(buf));
	assert_string_equal(buf, "rejection (badPOP, duplicateCertReq): no");
	rt_err *e = cmp_status_err(&d->resp[1].status, "request 1");
	assert_int_equal(rt_err_kind_of(e), RT_E_CMP_STATUS);
	rt_err_free(e);
	assert_null(cmp_status_err(&d->resp[0].status, "request 0"));
	cmp_msg_free(d);

	/* certConf with hash, rejection status, hashAlg -> pvno 3 */
	static const uint8_t sha256_alg[] = { 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86,
	    0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };
	uint8_t h[64];
	size_t hl;
	base(&m, CMP_BODY_CERTCONF);
	expect_ok(cmp_cert_hash(cert, cert_len, h, &hl));
	assert_int_equal(hl, 32);
	m.nconf = 2;
	m.conf[0].cert_hash = (cmp_buf){ h, hl };
	m.conf[1].cert_hash = (cmp_buf){ h, hl };
	m.conf[1].cert_req_id = 1;
	m.conf[1].has_status = true;
	m.conf[1].status.status = CMP_STATUS_REJECTION;
	m.conf[1].hash_alg = (cmp_buf){ sha256_alg, sizeof(sha256_alg) };
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_int_equal(d->hdr.pvno, 3);
	assert_int_equal(d->nconf, 2);
	assert_true(d->conf[1].has_status);
	assert_false(d->conf[0].has_status);
	cmp_msg_free(d);

	/* rr with reason, rp */
	base(&m, CMP_BODY_RR);
	m.nrev = 1;
	expect_ok(cmp_rev_from_cert(cert, cert_len, 1, &m.rev[0]));
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_int_equal(d->rev[0].reason, 1);
	assert_int_equal(d->rev[0].serial.len, 2);
	assert_true(cmp_buf_eq(d->rev[0].issuer, m.rev[0].issuer));
	cmp_msg_free(d);
	base(&m, CMP_BODY_RP);
	m.nrev_status = 1;
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_int_equal(d->rev_status[0].status, 0);
	cmp_msg_free(d);

	/* genm/genp: caCerts, rootCaKeyUpdate, card management key */
	uint8_t *cc = NULL, *ru = NULL, *mk = NULL;
	size_t ccl, rul, mkl;
	cmp_buf certs[2] = { { root, root_len }, { cert, cert_len } };
	expect_ok(cmp_certs_encode(certs, 2, &cc, &ccl));
	cmp_root_update up = { { root, root_len }, { cert, cert_len }, { 0 } };
	expect_ok(cmp_root_update_encode(&up, &ru, &rul));
	static const uint8_t card[16] = { 0x11, 0x22 }, key[24] = { 0x01, 0x02 };
	cmp_mgmt_key k = { { card, sizeof(card) }, 3, { key, sizeof(key) } };
	expect_ok(cmp_mgmt_key_encode(&k, true, &mk, &mkl));
	base(&m, CMP_BODY_GENP);
	m.nitav = 3;
	expect_ok(cmp_itav_set(&m.itav[0], CMP_OID_IT_CA_CERTS));
	m.itav[0].value = (cmp_buf){ cc, ccl };
	expect_ok(cmp_itav_set(&m.itav[1], CMP_OID_IT_ROOT_CA_KEY_UPDATE));
	m.itav[1].value = (cmp_buf){ ru, rul };
	expect_ok(cmp_itav_set(&m.itav[2], CMP_OID_IT_CARD_MGMT_KEY));
	m.itav[2].value = (cmp_buf){ mk, mkl };
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_int_equal(d->nitav, 3);
	assert_true(cmp_itav_is(&d->itav[0], CMP_OID_IT_CA_CERTS));
	assert_true(cmp_itav_is(&d->itav[2], CMP_OID_IT_CARD_MGMT_KEY));
	cmp_buf got[4];
	size_t ng;
	expect_ok(cmp_certs_parse(d->itav[0].value, got, 4, &ng));
	assert_int_equal(ng, 2);
	assert_true(cmp_buf_eq(got[1], certs[1]));
	cmp_root_update u2;
	expect_ok(cmp_root_update_parse(d->itav[1].value, &u2));
	assert_true(cmp_buf_eq(u2.new_with_old, certs[1]));
	assert_int_equal(u2.old_with_new.len, 0);
	cmp_mgmt_key k2;
	expect_ok(cmp_mgmt_key_parse(d->itav[2].value, true, &k2));
	assert_int_equal(k2.alg, 3);
	assert_true(cmp_buf_eq(k2.key, k.key));
	expect_kind(cmp_mgmt_key_parse(d->itav[2].value, false, &k2),
	    RT_E_CMP_FORMAT);
	cmp_msg_free(d);
	free(cc);
	free(ru);
	free(mk);

	/* error, pollReq, pollRep, pkiConf */
	base(&m, CMP_BODY_ERROR);
	m.error.status = CMP_STATUS_REJECTION;
	m.error.fail_info = CMP_FI_NOT_AUTHORIZED;
	m.error_code = 7;
	m.error_details[0] = cmp_buf_str("officer may not use profile x");
	m.nerror_details = 1;
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_int_equal(d->error.fail_info, CMP_FI_NOT_AUTHORIZED);
	assert_int_equal(d->error_code, 7);
	assert_int_equal(d->nerror_details, 1);
	cmp_msg_free(d);
	base(&m, CMP_BODY_POLLREP);
	m.npoll = 1;
	m.poll[0].check_after = 5;
	m.poll[0].reason = cmp_buf_str("officer approval");
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_int_equal(d->poll[0].check_after, 5);
	cmp_msg_free(d);
	base(&m, CMP_BODY_POLLREQ);
	m.npoll = 1;
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	cmp_msg_free(d);
	base(&m, CMP_BODY_PKICONF);
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	assert_int_equal(d->type, CMP_BODY_PKICONF);
	cmp_msg_free(d);
	free(cert);
	free(root);
}

/* ---- protection --------------------------------------------------------------- */

static void
protect_verify(const char *key, const char *chain, rt_hash h, rt_scheme sch)
{
	rt_signer *s = soft(key, chain);
	cmp_msg m;
	cmp_protect_opts o = { .hash = h, .scheme = sch };
	base(&m, CMP_BODY_GENM);
	m.nitav = 1;
	expect_ok(cmp_itav_set(&m.itav[0], CMP_OID_IT_CA_CERTS));
	uint8_t *der;
	size_t len;
	cmp_msg *d = roundtrip(&m, s, &o, &der, &len);
	assert_int_equal(d->nextra_certs, 2);
	assert_true(d->hdr.sender_kid.len > 0);
	cmp_verify_opts vo = { .trust = &trust,
	    .transaction_id = { txid, sizeof(txid) } };
	size_t idx = 9;
	expect_ok(cmp_msg_verify(d, &vo, &idx));
	assert_int_equal(idx, 0);
	cmp_msg_free(d);

	/* every single-bit flip of the signature is refused */
	size_t siglen = 0;
	expect_ok(cmp_msg_decode(der, len, &d));
	siglen = d->protection.len;
	size_t sigoff = (size_t)(d->protection.p - d->raw);
	cmp_msg_free(d);
	for (size_t i = 0; i < siglen; i += 7) {
		der[sigoff + i] ^= 0x01;
		rt_err *e = cmp_msg_decode(der, len, &d);
		if (e == NULL) {	/* a DER ECDSA value may no longer parse */
			e = cmp_msg_verify(d, &vo, NULL);
			cmp_msg_free(d);
			expect_kind(e, RT_E_CMP_PROTECTION);
		} else
			rt_err_free(e);
		der[sigoff + i] ^= 0x01;
	}
	free(der);
	rt_signer_free(s);
}

static void
test_protection(void **state)
{
	(void)state;
	protect_verify("off_enc.pem", "off_chain.pem", RT_HASH_NONE,
	    RT_SCHEME_DEFAULT);
	protect_verify("off_enc.pem", "off_chain.pem", RT_HASH_SHA384,
	    RT_SCHEME_DEFAULT);
	protect_verify("offr_enc.pem", "offr_chain.pem", RT_HASH_SHA256,
	    RT_SCHEME_PKCS1);
	protect_verify("offr_enc.pem", "offr_chain.pem", RT_HASH_SHA256,
	    RT_SCHEME_PSS);
}

static void
test_verify_refusals(void **state)
{
	(void)state;
	rt_signer *s = soft("off_enc.pem", "off_chain.pem");
	rt_signer *rogue = soft("rogue_enc.pem", "rogue.pem");
	cmp_msg m;
	base(&m, CMP_BODY_PKICONF);
	m.hdr.recip_nonce = (cmp_buf){ nonce2, sizeof(nonce2) };
	cmp_msg *d = roundtrip(&m, s, NULL, NULL, NULL);
	cmp_verify_opts vo = { .trust = &trust };
	expect_ok(cmp_msg_verify(d, &vo, NULL));
	static const uint8_t other[16] = { 9 };
	vo.transaction_id = (cmp_buf){ other, sizeof(other) };
	expect_kind(cmp_msg_verify(d, &vo, NULL), RT_E_CMP_MISMATCH);
	vo.transaction_id = (cmp_buf){ txid, sizeof(txid) };
	vo.recip_nonce = (cmp_buf){ nonce, sizeof(nonce) };
	expect_kind(cmp_msg_verify(d, &vo, NULL), RT_E_CMP_MISMATCH);
	vo.recip_nonce = (cmp_buf){ nonce2, sizeof(nonce2) };
	expect_ok(cmp_msg_verify(d, &vo, NULL));
	vo.sender = (cmp_buf){ (const uint8_t *)"\x30\x00", 2 };
	expect_kind(cmp_msg_verify(d, &vo, NULL), RT_E_CMP_MISMATCH);
	vo.sender.len = 0;
	vo.max_skew = 60;
	expect_kind(cmp_msg_verify(d, &vo, NULL), RT_E_CMP_MISMATCH);
	vo.now = 1800000030;
	expect_ok(cmp_msg_verify(d, &vo, NULL));
	vo.max_skew = 0;
	/* a trust store without the root */
	mbedtls_x509_crt other_trust;
	mbedtls_x509_crt_init(&other_trust);
	assert_int_equal(mbedtls_x509_crt_parse_file(&other_trust,
	    tu_path("rogue.pem")), 0);
	cmp_verify_opts vo2 = { .trust = &other_trust };
	expect_kind(cmp_msg_verify(d, &vo2, NULL), RT_E_CMP_TRUST);
	cmp_msg_free(d);

	/* an untrusted signer */
	d = roundtrip(&m, rogue, NULL, NULL, NULL);
	expect_kind(cmp_msg_verify(d, &vo, NULL), RT_E_CMP_TRUST);
	expect_ok(cmp_msg_verify(d, &vo2, NULL));
	cmp_msg_free(d);
	mbedtls_x509_crt_free(&other_trust);

	/* unprotected */
	d = roundtrip(&m, NULL, NULL, NULL, NULL);
	expect_kind(cmp_msg_verify(d, &vo, NULL), RT_E_CMP_PROTECTION);
	cmp_msg_free(d);

	/* sender not the protection certificate's subject */
	static const uint8_t dn[] = { 0x30, 0x0F, 0x31, 0x0D, 0x30, 0x0B, 0x06,
	    0x03, 0x55, 0x04, 0x03, 0x0C, 0x04, 'E', 'v', 'i', 'l' };
	m.hdr.sender = (cmp_buf){ dn, sizeof(dn) };
	d = roundtrip(&m, s, NULL, NULL, NULL);
	expect_kind(cmp_msg_verify(d, &vo, NULL), RT_E_CMP_PROTECTION);
	cmp_msg_free(d);
	m.hdr.sender.len = 0;

	/* protected by the officer, but extraCerts carry the rogue chain */
	const mbedtls_x509_crt *rc = rt_signer_chain(rogue);
	m.extra_certs[0] = (cmp_buf){ rc->raw.p, rc->raw.len };
	m.nextra_certs = 1;
	d = roundtrip(&m, s, NULL, NULL, NULL);
	expect_kind(cmp_msg_verify(d, &vo, NULL), RT_E_CMP_PROTECTION);
	cmp_msg_free(d);
	rt_signer_free(s);
	rt_signer_free(rogue);
}

/* ---- strict decoding ------------------------------------------------------------ */

static void
test_strict(void **state)
{
	(void)state;
	rt_signer *s = soft("off_enc.pem", "off_chain.pem");
	size_t csr_len;
	uint8_t *csr = tu_read("ee.csr", &csr_len);
	cmp_msg m, *d;
	base(&m, CMP_BODY_P10CR);
	m.p10 = (cmp_buf){ csr, csr_len };
	m.hdr.implicit_confirm = true;
	uint8_t *der;
	size_t len;
	d = roundtrip(&m, s, NULL, &der, &len);
	cmp_msg_free(d);
	/* every truncation */
	for (size_t n = 0; n < len; n++) {
		rt_err *e = cmp_msg_decode(der, n, &d);
		assert_non_null(e);
		assert_int_equal(rt_err_kind_of(e), RT_E_CMP_FORMAT);
		rt_err_free(e);
	}
	/* trailing bytes */
	uint8_t *big = malloc(len + 2);
	memcpy(big, der, len);
	big[len] = 0x05;
	big[len + 1] = 0x00;
	expect_kind(cmp_msg_decode(big, len + 2, &d), RT_E_CMP_FORMAT);
	/* a trailing element inside the PKIMessage: lengthen the outer
	 * SEQUENCE (82 xx xx) by the two bytes */
	assert_int_equal(big[1], 0x82);
	size_t inner = ((size_t)big[2] << 8 | big[3]) + 2;
	big[2] = (uint8_t)(inner >> 8);
	big[3] = (uint8_t)inner;
	expect_kind(cmp_msg_decode(big, len + 2, &d), RT_E_CMP_FORMAT);
	free(big);
	/* non-minimal length: 30 82 00 xx is not DER */
	static const uint8_t nm[] = { 0x30, 0x81, 0x03, 0x02, 0x01, 0x02 };
	expect_kind(cmp_msg_decode(nm, sizeof(nm), &d), RT_E_CMP_FORMAT);
	/* indefinite length */
	static const uint8_t ind[] = { 0x30, 0x80, 0x02, 0x01, 0x02, 0, 0 };
	expect_kind(cmp_msg_decode(ind, sizeof(ind), &d), RT_E_CMP_FORMAT);
	/* every length byte grown by one is refused (no crash, no accept) */
	for (size_t i = 0; i < len; i++) {
		uint8_t save = der[i];
		der[i] = (uint8_t)(save + 1);
		rt_err *e = cmp_msg_decode(der, len, &d);
		if (e == NULL) {
			e = cmp_msg_verify(d, &(cmp_verify_opts){ .trust = &trust },
			    NULL);
			cmp_msg_free(d);
		}
		assert_non_null(e);
		rt_err_free(e);
		der[i] = save;
	}
	free(der);

	/* unsupported body (nested [20]) and pvno 1 */
	static const uint8_t nested[] = { 0x30, 0x11, 0x30, 0x0B, 0x02, 0x01,
	    0x02, 0xA4, 0x02, 0x30, 0x00, 0xA4, 0x02, 0x30, 0x00, 0xB4, 0x02,
	    0x30, 0x00 };
	expect_kind(cmp_msg_decode(nested, sizeof(nested), &d),
	    RT_E_CMP_UNSUPPORTED);
	static const uint8_t pv1[] = { 0x30, 0x11, 0x30, 0x0B, 0x02, 0x01,
	    0x01, 0xA4, 0x02, 0x30, 0x00, 0xA4, 0x02, 0x30, 0x00, 0xB3, 0x02,
	    0x05, 0x00 };
	expect_kind(cmp_msg_decode(pv1, sizeof(pv1), &d), RT_E_CMP_UNSUPPORTED);
	/* pvno 2 pkiconf without transactionID decodes (a minimal message) */
	static const uint8_t pv2[] = { 0x30, 0x11, 0x30, 0x0B, 0x02, 0x01,
	    0x02, 0xA4, 0x02, 0x30, 0x00, 0xA4, 0x02, 0x30, 0x00, 0xB3, 0x02,
	    0x05, 0x00 };
	expect_ok(cmp_msg_decode(pv2, sizeof(pv2), &d));
	assert_int_equal(d->type, CMP_BODY_PKICONF);
	assert_int_equal(d->hdr.sender.len, 2);
	cmp_msg_free(d);
	/* sender as rfc822Name: refused */
	static const uint8_t rfc[] = { 0x30, 0x10, 0x30, 0x0A, 0x02, 0x01,
	    0x02, 0x81, 0x01, 'a', 0xA4, 0x02, 0x30, 0x00, 0xB3, 0x02,
	    0x05, 0x00 };
	expect_kind(cmp_msg_decode(rfc, sizeof(rfc), &d), RT_E_CMP_UNSUPPORTED);
	free(csr);
	rt_signer_free(s);
}

/* ---- openssl cmp's requests ------------------------------------------------------- */

static cmp_msg *
load_verify(const char *name)
{
	size_t len;
	uint8_t *der = tu_read(name, &len);
	assert_non_null(der);
	cmp_msg *d = NULL;
	rt_err *e = cmp_msg_decode(der, len, &d);
	free(der);
	if (e != NULL) {
		char buf[512];
		rt_err_format(e, buf, sizeof(buf));
		fail_msg("%s: %s", name, buf);
	}
	cmp_verify_opts vo = { .trust = &trust, .max_skew = 600 };
	expect_ok(cmp_msg_verify(d, &vo, NULL));
	return d;
}

static void
test_openssl_requests(void **state)
{
	(void)state;
	cmp_msg *d = load_verify("o_p10cr.der");
	assert_int_equal(d->type, CMP_BODY_P10CR);
	assert_true(d->hdr.implicit_confirm);
	assert_int_equal(d->hdr.transaction_id.len, 16);
	assert_int_equal(d->hdr.sender_nonce.len, 16);
	size_t csr_len;
	uint8_t *csr = tu_read("ee.csr", &csr_len);
	assert_true(cmp_buf_eq(d->p10, (cmp_buf){ csr, csr_len }));
	free(csr);
	cmp_msg_free(d);

	d = load_verify("o_cr.der");
	assert_int_equal(d->type, CMP_BODY_CR);
	assert_int_equal(d->nreq, 1);
	assert_int_equal(d->req[0].popo, CMP_POPO_SIGNATURE);
	expect_ok(cmp_popo_verify(d, 0));
	assert_true(d->req[0].subject.len > 0);
	cmp_msg_free(d);

	d = load_verify("o_cr_ra.der");
	assert_int_equal(d->req[0].popo, CMP_POPO_RA_VERIFIED);
	cmp_msg_free(d);

	d = load_verify("o_kur.der");
	assert_int_equal(d->type, CMP_BODY_KUR);
	assert_true(d->req[0].old_cert_id.len > 0);
	expect_ok(cmp_popo_verify(d, 0));
	cmp_msg_free(d);

	d = load_verify("o_rr.der");
	assert_int_equal(d->type, CMP_BODY_RR);
	assert_int_equal(d->nrev, 1);
	assert_int_equal(d->rev[0].reason, 4);
	assert_int_equal(d->rev[0].serial.len, 2);
	assert_int_equal(d->rev[0].serial.p[0], 0x01);
	cmp_msg_free(d);

	d = load_verify("o_genm.der");
	assert_int_equal(d->type, CMP_BODY_GENM);
	cmp_msg_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cr_roundtrip),
		cmocka_unit_test(test_card_id),
		cmocka_unit_test(test_mgmt_key_general_info),
		cmocka_unit_test(test_popo_signature),
		cmocka_unit_test(test_rep_roundtrip),
		cmocka_unit_test(test_protection),
		cmocka_unit_test(test_verify_refusals),
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_openssl_requests),
	};
	return cmocka_run_group_tests_name("cmp_msg", tests, setup, teardown);
}
