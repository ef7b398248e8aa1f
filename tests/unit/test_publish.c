/* Unit tests: cmhost's CRL and OCSP answers from its database
 * (src/cmhost/publish.c), signed on libcrypto: waiting and confirmed
 * certificates are good, rejected and revoked ones revoked (with the
 * reason), others unknown; `openssl crl` and `openssl ocsp` verify what is
 * signed; a malformed request gets malformedRequest. */
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

#include "raterm/cmhost_db.h"
#include "raterm/cmhost_publish.h"
#include "raterm/ocsp.h"
#include "raterm/signer_ossl.h"
#include "raterm/util.h"
#include "crypto_testutil.h"

static mbedtls_x509_crt ca;
static mbedtls_pk_context key;
static rt_signer *signer;
static cmh_db *db;

#define S_WAIT "40000000000000000000000000000001"
#define S_CONF "40000000000000000000000000000002"
#define S_REJ  "40000000000000000000000000000003"
#define S_REV  "40000000000000000000000000000004"
#define S_NONE "40000000000000000000000000000005"

static void
add(const char *serial, cmh_cert_state st)
{
	cmh_cert_rec r;
	static const uint8_t der[] = { 0x30, 0x00 };
	memset(&r, 0, sizeof(r));
	snprintf(r.serial, sizeof(r.serial), "%s", serial);
	snprintf(r.subject, sizeof(r.subject), "CN=%s", serial);
	snprintf(r.tid, sizeof(r.tid), "t%s", serial);
	r.state = st == CMH_CERT_CONFIRMED ? CMH_CERT_CONFIRMED :
	    CMH_CERT_WAITING;
	r.issued_at = r.state_at = 1000;
	r.not_after = 4000000000LL;
	r.revocation_reason = -1;
	assert_null(cmh_db_cert_add(db, &r, der, sizeof(der)));
	if (st == CMH_CERT_REJECTED)
		assert_null(cmh_db_cert_confirm(db, r.tid, 0, false, 2000));
	if (st == CMH_CERT_REVOKED)
		assert_null(cmh_db_cert_revoke(db, serial, 1, 3000));
}

static int
setup(void **state)
{
	(void)state;
	if (tu_sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
	    "-out ca.pem && openssl req -x509 -new -key ca.pem -subj "
	    "'/CN=Publish Test CA' -days 10 -addext "
	    "basicConstraints=critical,CA:TRUE -addext "
	    "keyUsage=critical,keyCertSign,cRLSign -out ca.crt && "
	    "openssl req -x509 -new -key ca.pem -subj '/CN=Other CA' -days 10 "
	    "-out other.crt && openssl x509 -in other.crt -outform DER "
	    "-out other.der") != 0)
		return -1;
	mbedtls_x509_crt_init(&ca);
	mbedtls_pk_init(&key);
	if (mbedtls_x509_crt_parse_file(&ca, tu_path("ca.crt")) != 0 ||
	    mbedtls_pk_parse_keyfile(&key, tu_path("ca.pem"), NULL) != 0)
		return -1;
	rt_err *e = rt_signer_ossl(&key, "CA", &signer);
	if (e == NULL)
		e = cmh_db_open(tu_path("cmhost.db"), &db);
	if (e != NULL) {
		rt_err_free(e);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	cmh_db_close(db);
	rt_signer_free(signer);
	mbedtls_pk_free(&key);
	mbedtls_x509_crt_free(&ca);
	tu_cleanup();
	return 0;
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
test_crl(void **state)
{
	(void)state;
	add(S_WAIT, CMH_CERT_WAITING);
	add(S_CONF, CMH_CERT_CONFIRMED);
	add(S_REJ, CMH_CERT_REJECTED);
	add(S_REV, CMH_CERT_REVOKED);
	uint8_t *der;
	size_t len;
	assert_null(cmh_crl_make(&ca, signer, db, time(NULL), 3600, 5, &der,
	    &len));
	write_file("ca.crl", der, len);
	free(der);
	assert_int_equal(tu_sh("openssl crl -inform DER -in ca.crl -CAfile ca.crt "
	    "-noout -text > crl.txt 2>&1 && grep -q 'verify OK' crl.txt && "
	    "test $(grep -c 'Serial Number:' crl.txt) = 2 && "
	    "grep -qi 'Serial Number: " S_REJ "' crl.txt && "
	    "grep -qi 'Serial Number: " S_REV "' crl.txt && "
	    "grep -q 'Key Compromise' crl.txt && "
	    "grep -q 'X509v3 CRL Number: *$' crl.txt"), 0);
}

static void
certid(const char *hex, const uint8_t *issuer, size_t ilen, rt_ocsp_certid *id)
{
	uint8_t sn[20];
	size_t n;
	assert_null(rt_hex_decode(hex, strlen(hex), sn, sizeof(sn), &n, 0));
	assert_null(rt_ocsp_certid_of(issuer, ilen, sn, n, RT_HASH_SHA1, id));
}

static void
test_ocsp(void **state)
{
	(void)state;
	size_t olen = 0;
	uint8_t *other = tu_read("other.der", &olen);
	rt_ocsp_req q;
	memset(&q, 0, sizeof(q));
	certid(S_WAIT, ca.raw.p, ca.raw.len, &q.ids[0]);
	certid(S_CONF, ca.raw.p, ca.raw.len, &q.ids[1]);
	certid(S_REJ, ca.raw.p, ca.raw.len, &q.ids[2]);
	certid(S_REV, ca.raw.p, ca.raw.len, &q.ids[3]);
	certid(S_NONE, ca.raw.p, ca.raw.len, &q.ids[4]);
	certid(S_CONF, other, olen, &q.ids[5]);	/* another issuer */
	q.n = 6;
	memcpy(q.nonce, "0123456789abcdef", 16);
	q.nonce_len = 16;
	uint8_t *req, *rsp;
	size_t rlen, plen;
	assert_null(rt_ocsp_req_encode(&q, &req, &rlen));
	assert_null(cmh_ocsp_answer(&ca, &ca, signer, db, req, rlen, time(NULL),
	    3600, &rsp, &plen));
	write_file("req.der", req, rlen);
	write_file("rsp.der", rsp, plen);
	rt_ocsp_resp p;
	assert_null(rt_ocsp_resp_parse(rsp, plen, ca.raw.p, ca.raw.len, &p));
	assert_int_equal(p.n, 6);
	assert_int_equal(p.single[0].status, RT_OCSP_GOOD);
	assert_int_equal(p.single[1].status, RT_OCSP_GOOD);
	assert_int_equal(p.single[2].status, RT_OCSP_REVOKED);
	assert_int_equal(p.single[3].status, RT_OCSP_REVOKED);
	assert_int_equal(p.single[3].reason, 1);
	assert_int_equal((long)p.single[3].revoked_at, 3000);
	assert_int_equal(p.single[4].status, RT_OCSP_UNKNOWN);
	assert_int_equal(p.single[5].status, RT_OCSP_UNKNOWN);
	assert_int_equal(p.nonce_len, 16);
	free(req);
	free(rsp);
	/* OpenSSL verifies responses whose CertIDs all name the signer */
	q.n = 5;
	assert_null(rt_ocsp_req_encode(&q, &req, &rlen));
	assert_null(cmh_ocsp_answer(&ca, &ca, signer, db, req, rlen, time(NULL),
	    3600, &rsp, &plen));
	write_file("req.der", req, rlen);
	write_file("rsp.der", rsp, plen);
	assert_int_equal(tu_sh("openssl ocsp -respin rsp.der -reqin req.der "
	    "-CAfile ca.crt -resp_text > ocsp.txt 2>&1 && "
	    "grep -q 'Response verify OK' ocsp.txt && "
	    "test $(grep -c 'Cert Status: revoked' ocsp.txt) = 2 && "
	    "grep -q 'Revocation Reason: keyCompromise' ocsp.txt"), 0);
	free(req);
	free(rsp);
	free(other);

	/* garbage: malformedRequest, signed nothing */
	static const uint8_t junk[] = { 0x30, 0x03, 0x01, 0x01 };
	assert_null(cmh_ocsp_answer(&ca, &ca, signer, db, junk, sizeof(junk),
	    time(NULL), 3600, &rsp, &plen));
	assert_null(rt_ocsp_resp_parse(rsp, plen, ca.raw.p, ca.raw.len, &p));
	assert_int_equal(p.status, RT_OCSP_MALFORMED);
	free(rsp);
}

static void
test_publisher(void **state)
{
	(void)state;
	cmh_publisher *p;
	uint8_t *a, *b;
	size_t al, bl;
	uint64_t na, nb;
	time_t now = time(NULL);
	assert_null(cmh_publisher_new(&ca, signer, db, 600, tu_path("pub.crl"),
	    &p));
	assert_null(cmh_publisher_crl(p, now, &a, &al, &na));
	/* the same CRL until it is half expired or something is revoked */
	assert_null(cmh_publisher_crl(p, now + 10, &b, &bl, &nb));
	assert_int_equal(na, nb);
	assert_int_equal(al, bl);
	assert_memory_equal(a, b, al);
	free(b);
	assert_null(cmh_publisher_crl(p, now + 300, &b, &bl, &nb));
	assert_true(nb > na);
	free(b);
	/* a revocation: a new CRL, one more entry, a higher number, the file */
	assert_null(cmh_db_cert_revoke(db, S_CONF, 4, now));
	assert_null(cmh_publisher_crl(p, now + 300, &b, &bl, &nb));
	assert_true(nb > na + 300);
	assert_true(bl > al);
	assert_int_equal(tu_sh("openssl crl -inform DER -in pub.crl -CAfile ca.crt "
	    "-noout -text > pub.txt 2>&1 && grep -q 'verify OK' pub.txt && "
	    "test $(grep -c 'Serial Number:' pub.txt) = 3 && "
	    "grep -q Superseded pub.txt"), 0);
	free(a);
	free(b);
	cmh_publisher_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crl),
		cmocka_unit_test(test_ocsp),
		cmocka_unit_test(test_publisher),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
