/* Unit tests: cmhost's officer chain cache (cmhost_cache.h) and the
 * verifiers behind the CMP checks (signer.h, signer_ossl.h).
 *   - the cache alone: a hit until notAfter, none under another
 *     revocation stamp, the least recently used entry evicted when full,
 *     the serial an entry is kept with;
 *   - the service: a second request of the same officer does not validate
 *     the chain again, another officer's does; an officer whose
 *     certificate (issued by cmhost's CA) is revoked in the database is
 *     refused at once, another officer's chain is validated again once
 *     the revocation stamp is read again (the next second), and a request
 *     at the chain's notAfter validates it again;
 *   - rt_verifier_ossl and rt_verifier_mbedtls agree: a good ECDSA and RSA
 *     (PKCS#1, PSS) signature, a changed one, a scheme that does not fit
 *     the key, an RSA key out of the limits; a PKCS#10 request and a POPO
 *     (P-384) checked through each, good, changed and cut short. */
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
#include <mbedtls/x509_csr.h>

#include "raterm/cmhost.h"
#include "raterm/cmhost_cache.h"
#include "raterm/cmhost_db.h"
#include "raterm/cmhost_kek.h"
#include "raterm/cmp.h"
#include "raterm/signer.h"
#include "raterm/signer_ossl.h"
#include "raterm/softtoken.h"
#include "raterm/util.h"
#include "raterm/x509.h"

static char dir[64];
static cmh_config *cfg;
static cmh_ca *ca;
static cmh_db *db;
static cmh_kek *kek;
static cmh_service *svc;
static rt_signer *officer;	/* the demo officer (officer CA) */
static FILE *devnull;

/* cmhost init's demo, with cmhost's own CA as an officer CA too and an
 * officer whose certificate that CA issues ("CA Issued Officer") */
static int
setup(void **state)
{
	char path[160], kp[160], cp[160], pass[64];
	bool created;
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/raterm-chains.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/d", dir);
	if (cmh_init(path, 18002, &created) != NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/d/cmhost.yaml", dir);
	size_t n;
	char *y, *out;
	if (rt_file_read(path, 1 << 20, (uint8_t **)&y, &n) != NULL)
		return -1;
	const char *oc = "officer_cas:\n  - officer-ca.pem\n";
	const char *of = "officers:\n";
	char *a = strstr(y, oc), *b = strstr(y, of);
	if (a == NULL || b == NULL || b < a || (out = malloc(n + 512)) == NULL)
		return -1;
	a += strlen(oc);
	b += strlen(of);
	int k = snprintf(out, n + 512, "%.*s  - ca.pem\n%.*s  - name: ca-officer\n"
	    "    cn: CA Issued Officer\n    profiles: ['*']\n%.*s",
	    (int)(a - y), y, (int)(b - a), a, (int)(y + n - b), b);
	free(y);
	if (rt_file_write(path, out, (size_t)k, 0600) != NULL)
		return -1;
	free(out);
	if (cmh_config_load(path, &cfg) || cmh_ca_load(cfg, &ca) ||
	    cmh_db_open(cfg->db_path, &db) || cmh_kek_attach(cfg, db, &kek,
	    NULL) || cmh_service_new(cfg, ca, db, &svc))
		return -1;
	snprintf(path, sizeof(path), "%s/d/officer.pass", dir);
	FILE *f = fopen(path, "r");
	if (f == NULL || fgets(pass, sizeof(pass), f) == NULL)
		return -1;
	fclose(f);
	pass[strcspn(pass, "\n")] = '\0';
	snprintf(kp, sizeof(kp), "%s/d/officer.key", dir);
	snprintf(cp, sizeof(cp), "%s/d/officer-chain.pem", dir);
	devnull = fopen("/dev/null", "w");
	if (rt_signer_soft(kp, cp, pass, strlen(pass), devnull, &officer) != NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];
	(void)state;
	rt_signer_free(officer);
	cmh_service_free(svc);
	cmh_db_close(db);
	cmh_kek_free(kek);
	cmh_ca_free(ca);
	cmh_config_free(cfg);
	fclose(devnull);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the cache alone ---------------------------------------------------------- */

static void
test_cache(void **state)
{
	cmh_chain_cache *c;
	const uint8_t a[] = "certificate A", b[] = "certificate B",
	    d[] = "certificate D";
	char sn[80];
	(void)state;
	assert_null(cmh_chain_cache_new(2, &c));
	assert_false(cmh_chain_cache_get(c, a, sizeof(a), 7, 100, sn, sizeof(sn)));
	cmh_chain_cache_put(c, a, sizeof(a), 7, 200, NULL);
	assert_true(cmh_chain_cache_get(c, a, sizeof(a), 7, 100, sn, sizeof(sn)));
	assert_true(cmh_chain_cache_get(c, a, sizeof(a), 7, 199, sn, sizeof(sn)));
	/* expired at notAfter */
	assert_false(cmh_chain_cache_get(c, a, sizeof(a), 7, 200, sn, sizeof(sn)));
	cmh_chain_cache_put(c, a, sizeof(a), 7, 200, NULL);
	/* another revocation stamp: not trusted any more, and dropped */
	assert_false(cmh_chain_cache_get(c, a, sizeof(a), 8, 100, sn, sizeof(sn)));
	assert_false(cmh_chain_cache_get(c, a, sizeof(a), 7, 100, sn, sizeof(sn)));
	assert_int_equal(cmh_chain_cache_size(c), 0);
	/* bounded: the least recently used makes room */
	cmh_chain_cache_put(c, a, sizeof(a), 8, 200, NULL);
	cmh_chain_cache_put(c, b, sizeof(b), 8, 200, NULL);
	assert_true(cmh_chain_cache_get(c, a, sizeof(a), 8, 100, sn, sizeof(sn)));
	cmh_chain_cache_put(c, d, sizeof(d), 8, 200, NULL);
	assert_int_equal(cmh_chain_cache_size(c), 2);
	assert_true(cmh_chain_cache_get(c, a, sizeof(a), 8, 100, sn, sizeof(sn)));
	assert_false(cmh_chain_cache_get(c, b, sizeof(b), 8, 100, sn, sizeof(sn)));
	assert_true(cmh_chain_cache_get(c, d, sizeof(d), 8, 100, sn, sizeof(sn)));
	assert_string_equal(sn, "");
	/* the serial a certificate of cmhost's CA is kept with */
	cmh_chain_cache_put(c, b, sizeof(b), 8, 200, "4a01");
	assert_true(cmh_chain_cache_get(c, b, sizeof(b), 8, 100, sn, sizeof(sn)));
	assert_string_equal(sn, "4a01");
	assert_int_equal(cmh_chain_cache_validations(c), 6);
	cmh_chain_cache_free(c);
}

/* ---- the service ---------------------------------------------------------------- */

typedef struct {
	uint8_t tid[16], nonce[16];
} ids;

static void
fresh(cmp_msg *m, ids *id, int type, time_t now)
{
	cmp_msg_init(m);
	assert_null(rt_random(id->tid, sizeof(id->tid)));
	assert_null(rt_random(id->nonce, sizeof(id->nonce)));
	m->type = type;
	m->hdr.transaction_id = (cmp_buf){ id->tid, sizeof(id->tid) };
	m->hdr.sender_nonce = (cmp_buf){ id->nonce, sizeof(id->nonce) };
	m->hdr.message_time = now;
}

/* m signed by `by`, handled at `now`; the answer decoded. */
static cmp_msg *
send_at(cmp_msg *m, rt_signer *by, time_t now)
{
	uint8_t *der, *rsp;
	size_t len, rlen;
	cmp_msg *r;
	assert_null(cmp_msg_encode(m, by, NULL, &der, &len));
	assert_null(cmh_service_handle(svc, der, len, "test", now, &rsp, &rlen));
	free(der);
	assert_null(cmp_msg_decode(rsp, rlen, &r));
	free(rsp);
	return r;
}

/* A genm for caCerts by `by` at `now`: answered (genp) or refused with
 * failInfo fi. */
static void
genm_by(rt_signer *by, time_t now, uint32_t fi)
{
	cmp_msg m, *r;
	ids id;
	fresh(&m, &id, CMP_BODY_GENM, now);
	assert_null(cmp_itav_set(&m.itav[m.nitav++], CMP_OID_IT_CA_CERTS));
	r = send_at(&m, by, now);
	if (fi == 0)
		assert_int_equal(r->type, CMP_BODY_GENP);
	else {
		char buf[300];
		cmp_status_format(&r->error, buf, sizeof(buf));
		assert_int_equal(r->type, CMP_BODY_ERROR);
		if (!(r->error.fail_info & fi))
			fail_msg("unexpected error: %s", buf);
	}
	cmp_msg_free(r);
}

/* The CA Issued Officer: a P-256 key, its certificate issued by cmhost
 * (p10cr by the demo officer, profile user), a libcrypto signer. *serial
 * receives the certificate's serial as the database keeps it. */
static rt_signer *
ca_officer(char *serial, size_t cap)
{
	mbedtls_pk_context k;
	mbedtls_x509write_csr w;
	uint8_t csr[1024];
	cmp_msg m, *r;
	ids id;
	rt_signer *s;
	mbedtls_pk_init(&k);
	mbedtls_x509write_csr_init(&w);
	assert_int_equal(mbedtls_pk_setup(&k,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	    mbedtls_pk_ec(k), rt_rng, NULL), 0);
	mbedtls_x509write_csr_set_key(&w, &k);
	mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
	assert_int_equal(mbedtls_x509write_csr_set_subject_name(&w,
	    "CN=CA Issued Officer"), 0);
	int n = mbedtls_x509write_csr_der(&w, csr, sizeof(csr), rt_rng, NULL);
	assert_true(n > 0);
	fresh(&m, &id, CMP_BODY_P10CR, time(NULL));
	m.p10 = (cmp_buf){ csr + sizeof(csr) - n, (size_t)n };
	r = send_at(&m, officer, time(NULL));
	assert_int_equal(r->type, CMP_BODY_CP);
	assert_int_equal(r->resp[0].status.status, CMP_STATUS_ACCEPTED);
	assert_null(rt_signer_ossl(&k, "CA Issued Officer", &s));
	assert_null(rt_signer_add_cert(s, r->resp[0].cert.p, r->resp[0].cert.len));
	mbedtls_x509_crt c;
	mbedtls_x509_crt_init(&c);
	assert_int_equal(mbedtls_x509_crt_parse_der(&c, r->resp[0].cert.p,
	    r->resp[0].cert.len), 0);
	cmp_buf sn = { c.serial.p, c.serial.len };
	while (sn.len > 1 && sn.p[0] == 0) {
		sn.p++;
		sn.len--;
	}
	rt_hex_encode(sn.p, sn.len, serial, cap, 0);
	mbedtls_x509_crt_free(&c);
	cmp_msg_free(r);
	mbedtls_x509write_csr_free(&w);
	mbedtls_pk_free(&k);
	return s;
}

static void
test_service(void **state)
{
	char serial[80];
	time_t now = time(NULL);
	(void)state;

	unsigned long v0 = cmh_service_chain_validations(svc);
	genm_by(officer, now, 0);
	unsigned long v1 = cmh_service_chain_validations(svc);
	assert_int_equal(v1, v0 + (v0 == 0));	/* cached, or validated now */
	/* the same officer again: no chain validation */
	genm_by(officer, now, 0);
	genm_by(officer, now, 0);
	assert_int_equal(cmh_service_chain_validations(svc), v1);

	/* another officer (its certificate issued by cmhost; the issue revoked
	 * nothing, so the demo officer's entry still holds) */
	rt_signer *o2 = ca_officer(serial, sizeof(serial));
	assert_int_equal(cmh_service_chain_validations(svc), v1);
	genm_by(o2, now, 0);
	assert_int_equal(cmh_service_chain_validations(svc), v1 + 1);
	genm_by(o2, now, 0);
	assert_int_equal(cmh_service_chain_validations(svc), v1 + 1);

	/* o2's certificate revoked in the database: refused at its next
	 * request (its serial is looked up on every request), in the same
	 * second as the revocation */
	assert_null(cmh_db_cert_revoke(db, serial, 1, (int64_t)now));
	genm_by(o2, now, CMP_FI_CERT_REVOKED);
	genm_by(o2, now, CMP_FI_CERT_REVOKED);
	/* the demo officer (officer CA) once the revocation stamp is read
	 * again, the next second: its chain validated once again */
	unsigned long v2 = cmh_service_chain_validations(svc);
	genm_by(officer, now + 1, 0);
	assert_int_equal(cmh_service_chain_validations(svc), v2 + 1);
	genm_by(officer, now + 1, 0);
	assert_int_equal(cmh_service_chain_validations(svc), v2 + 1);
	genm_by(o2, now + 1, CMP_FI_CERT_REVOKED);

	/* at the officer certificate's notAfter the entry is not used: the
	 * chain is validated again (by mbedTLS, on the clock) */
	time_t na = rt_x509_time_epoch(&rt_signer_chain(officer)->valid_to);
	genm_by(officer, na - 1, 0);
	assert_int_equal(cmh_service_chain_validations(svc), v2 + 1);
	genm_by(officer, na, 0);
	assert_int_equal(cmh_service_chain_validations(svc), v2 + 2);
	rt_signer_free(o2);
}

/* ---- the verifiers ---------------------------------------------------------------- */

static void
both(const uint8_t *spki, size_t sl, rt_hash h, rt_scheme s, const void *d,
    size_t dl, const uint8_t *sig, size_t sigl, int kind)
{
	const rt_verifier *v[] = { &rt_verifier_mbedtls, &rt_verifier_ossl };
	for (size_t i = 0; i < 2; i++) {
		rt_err *e = rt_verify_data(v[i], spki, sl, h, s, d, dl, sig, sigl);
		if (kind == 0 && e != NULL) {
			char m[300];
			rt_err_format(e, m, sizeof(m));
			fail_msg("%s: %s", v[i]->kind, m);
		}
		if (kind != 0 && (e == NULL || (int)rt_err_kind_of(e) != kind))
			fail_msg("%s: %s where kind %d was expected", v[i]->kind,
			    e == NULL ? "verified" : rt_err_msg(e), kind);
		rt_err_free(e);
	}
}

static void
check_key(mbedtls_pk_context *k, rt_scheme s, rt_scheme wrong)
{
	static const char data[] = "the protected part of a PKIMessage";
	uint8_t spki[1200], *sp, dg[32], sig[600];
	size_t sigl;
	rt_signer *sg;
	int n = mbedtls_pk_write_pubkey_der(k, spki, sizeof(spki));
	assert_true(n > 0);
	sp = spki + sizeof(spki) - n;
	assert_null(rt_signer_ossl(k, "test key", &sg));
	assert_null(rt_hash_data(RT_HASH_SHA256, data, sizeof(data), dg));
	assert_null(rt_signer_sign(sg, RT_HASH_SHA256, s, dg, 32, sig,
	    sizeof(sig), &sigl));
	both(sp, (size_t)n, RT_HASH_SHA256, s, data, sizeof(data), sig, sigl, 0);
	both(sp, (size_t)n, RT_HASH_SHA256, s, data, sizeof(data) - 1, sig, sigl,
	    RT_E_CRYPTO);
	sig[sigl / 2] ^= 0x40;
	both(sp, (size_t)n, RT_HASH_SHA256, s, data, sizeof(data), sig, sigl,
	    RT_E_CRYPTO);
	both(sp, (size_t)n, RT_HASH_SHA256, wrong, data, sizeof(data), sig, sigl,
	    RT_E_ARG);
	both(sp, (size_t)n - 3, RT_HASH_SHA256, s, data, sizeof(data), sig, sigl,
	    RT_E_CERT);
	rt_signer_free(sg);
}

static void
test_verifiers(void **state)
{
	mbedtls_pk_context k;
	(void)state;
	mbedtls_pk_init(&k);
	assert_int_equal(mbedtls_pk_setup(&k,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	    mbedtls_pk_ec(k), rt_rng, NULL), 0);
	check_key(&k, RT_SCHEME_ECDSA, RT_SCHEME_PKCS1);
	mbedtls_pk_free(&k);

	mbedtls_pk_init(&k);
	assert_int_equal(mbedtls_pk_setup(&k,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
	assert_int_equal(mbedtls_rsa_gen_key(mbedtls_pk_rsa(k), rt_rng, NULL,
	    2048, 65537), 0);
	check_key(&k, RT_SCHEME_PKCS1, RT_SCHEME_ECDSA);
	check_key(&k, RT_SCHEME_PSS, RT_SCHEME_ECDSA);
	mbedtls_pk_free(&k);

	/* RSA 1024: out of the limits for both, before any signature */
	uint8_t spki[600], sig[128] = { 1 };
	mbedtls_pk_init(&k);
	assert_int_equal(mbedtls_pk_setup(&k,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
	assert_int_equal(mbedtls_rsa_gen_key(mbedtls_pk_rsa(k), rt_rng, NULL,
	    1024, 65537), 0);
	int n = mbedtls_pk_write_pubkey_der(&k, spki, sizeof(spki));
	assert_true(n > 0);
	both(spki + sizeof(spki) - n, (size_t)n, RT_HASH_SHA256, RT_SCHEME_PKCS1,
	    "x", 1, sig, sizeof(sig), RT_E_CERT);
	mbedtls_pk_free(&k);
}

/* A PKCS#10 request and a POPO signature checked through each verifier:
 * good, its signature changed (CRYPTO / CMP_PROTECTION), a CSR cut short
 * (FORMAT). */
static void
test_csr_popo(void **state)
{
	const rt_verifier *v[] = { NULL, &rt_verifier_mbedtls, &rt_verifier_ossl };
	mbedtls_pk_context k;
	mbedtls_x509write_csr w;
	uint8_t buf[1024], *csr, *pop = NULL;
	cmp_cert_req q;
	rt_signer *s;
	(void)state;
	mbedtls_pk_init(&k);
	mbedtls_x509write_csr_init(&w);
	assert_int_equal(mbedtls_pk_setup(&k,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP384R1,
	    mbedtls_pk_ec(k), rt_rng, NULL), 0);
	mbedtls_x509write_csr_set_key(&w, &k);
	mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA384);
	assert_int_equal(mbedtls_x509write_csr_set_subject_name(&w,
	    "CN=Verifier Test"), 0);
	int n = mbedtls_x509write_csr_der(&w, buf, sizeof(buf), rt_rng, NULL);
	assert_true(n > 0);
	csr = buf + sizeof(buf) - n;
	for (size_t i = 0; i < 3; i++) {
		assert_null(cmp_req_from_csr_with(csr, (size_t)n, v[i], &q));
		assert_true(q.public_key.len > 0 && q.subject.len > 0);
	}
	csr[n - 3] ^= 0x10;		/* in the signature */
	for (size_t i = 0; i < 3; i++) {
		rt_err *e = cmp_req_from_csr_with(csr, (size_t)n, v[i], &q);
		assert_non_null(e);
		assert_int_equal(rt_err_kind_of(e), RT_E_CRYPTO);
		rt_err_free(e);
	}
	csr[n - 3] ^= 0x10;
	for (size_t i = 0; i < 3; i++) {
		rt_err *e = cmp_req_from_csr_with(csr, (size_t)n - 1, v[i], &q);
		assert_non_null(e);
		assert_int_equal(rt_err_kind_of(e), RT_E_FORMAT);
		rt_err_free(e);
	}

	/* POPO: a cr's request signed by the key being certified (P-384) */
	cmp_msg m, *d;
	uint8_t *der;
	size_t len;
	cmp_msg_init(&m);
	assert_null(cmp_req_from_csr(csr, (size_t)n, &m.req[0]));
	m.type = CMP_BODY_CR;
	m.nreq = 1;
	assert_null(rt_signer_ossl(&k, "request key", &s));
	assert_null(cmp_popo_sign(&m.req[0], s, &pop));
	uint8_t tid[16] = { 1 }, nonce[16] = { 2 };
	m.hdr.transaction_id = (cmp_buf){ tid, sizeof(tid) };
	m.hdr.sender_nonce = (cmp_buf){ nonce, sizeof(nonce) };
	assert_null(cmp_msg_encode(&m, NULL, NULL, &der, &len));
	assert_null(cmp_msg_decode(der, len, &d));
	for (size_t i = 0; i < 3; i++)
		assert_null(cmp_popo_verify_with(d, 0, v[i]));
	((uint8_t *)(uintptr_t)d->req[0].popo_sig.p)[8] ^= 1;
	for (size_t i = 0; i < 3; i++) {
		rt_err *e = cmp_popo_verify_with(d, 0, v[i]);
		assert_non_null(e);
		assert_int_equal(rt_err_kind_of(e), RT_E_CMP_PROTECTION);
		rt_err_free(e);
	}
	cmp_msg_free(d);
	free(der);
	free(pop);
	rt_signer_free(s);
	mbedtls_x509write_csr_free(&w);
	mbedtls_pk_free(&k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_service),
		cmocka_unit_test(test_verifiers),
		cmocka_unit_test(test_csr_popo),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
