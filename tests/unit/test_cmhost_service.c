/* Unit tests: cmhost's CMP service without HTTP - requests encoded with the
 * project's CMP module and signed by the demo officer's software token:
 * p10cr with certProfile (unknown, not fitting, good), certConf with a
 * wrong recipNonce and a wrong certHash, then a good one; a replayed
 * transactionID with a fresh nonce; genm for a card management key (none
 * held, held, officer without the role); the card of a certificate
 * (id-it-raterm-cardId, inherited by kur); unprotected requests (caCerts
 * alone answered while unprotected_cacerts is on, everything else
 * refused); the management key asked in a cr's generalInfo. */
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
#include <mbedtls/x509_csr.h>

#include "raterm/cmhost.h"
#include "raterm/cmhost_db.h"
#include "raterm/cmhost_kek.h"
#include "raterm/cmp.h"
#include "raterm/signer.h"
#include "raterm/softtoken.h"
#include "raterm/x509.h"

static char dir[64];
static cmh_config *cfg;
static cmh_ca *ca;
static cmh_db *db;
static cmh_kek *kek;		/* cmhost init's kek.key */
static cmh_service *svc;
static rt_signer *officer;
static FILE *devnull;

static int
setup(void **state)
{
	char path[160], kp[160], cp[160], pass[64];
	bool created;
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/raterm-cmhsvc.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/d", dir);
	if (cmh_init(path, 18001, &created) != NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/d/cmhost.yaml", dir);
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

typedef struct {
	uint8_t tid[16], nonce[16];
} ids;

static void
fresh(cmp_msg *m, ids *id, int type)
{
	cmp_msg_init(m);
	assert_null(rt_random(id->tid, sizeof(id->tid)));
	assert_null(rt_random(id->nonce, sizeof(id->nonce)));
	m->type = type;
	m->hdr.transaction_id = (cmp_buf){ id->tid, sizeof(id->tid) };
	m->hdr.sender_nonce = (cmp_buf){ id->nonce, sizeof(id->nonce) };
	m->hdr.message_time = time(NULL);
}

/* Sends m protected by `by` (NULL: unprotected), as over a transport that
 * is confidential or not; returns the decoded answer (its protection
 * verified against the demo root). */
static cmp_msg *
send_as(cmp_msg *m, rt_signer *by, bool confidential)
{
	uint8_t *der, *rsp;
	size_t len, rlen;
	cmp_msg *r;
	char path[160];
	assert_null(cmp_msg_encode(m, by, NULL, &der, &len));
	cmh_req_info info;
	memset(&info, 0, sizeof(info));
	assert_null(cmh_service_http(svc, der, len, "test", confidential, &rsp,
	    &rlen, &info));
	free(der);
	/* what the request log gets: the body type and an outcome, always */
	assert_string_equal(info.body, cmp_body_name(m->type));
	assert_true(info.outcome[0] != '\0');
	assert_true(info.officer[0] != '\0');
	assert_null(cmp_msg_decode(rsp, rlen, &r));
	free(rsp);
	mbedtls_x509_crt root;
	mbedtls_x509_crt_init(&root);
	snprintf(path, sizeof(path), "%s/d/root.pem", dir);
	assert_int_equal(mbedtls_x509_crt_parse_file(&root, path), 0);
	cmp_verify_opts vo;
	memset(&vo, 0, sizeof(vo));
	vo.trust = &root;
	vo.transaction_id = m->hdr.transaction_id;
	vo.recip_nonce = m->hdr.sender_nonce;
	assert_null(cmp_msg_verify(r, &vo, NULL));
	mbedtls_x509_crt_free(&root);
	return r;
}

/* Sends m signed by the officer, in process (confidential). */
static cmp_msg *
send(cmp_msg *m)
{
	return send_as(m, officer, true);
}

/* Sends m signed by the officer as over plain HTTP that
 * listen.mgmt_keys_over_http does not allow; the answer must not hold
 * `secret` anywhere. Returns it decoded. */
static cmp_msg *
send_plain(cmp_msg *m, const uint8_t *secret, size_t n)
{
	uint8_t *der, *rsp;
	size_t len, rlen;
	cmp_msg *r;
	assert_null(cmp_msg_encode(m, officer, NULL, &der, &len));
	assert_null(cmh_service_http(svc, der, len, "test", false, &rsp,
	    &rlen, NULL));
	free(der);
	for (size_t i = 0; i + n <= rlen; i++)
		assert_false(memcmp(rsp + i, secret, n) == 0);
	assert_null(cmp_msg_decode(rsp, rlen, &r));
	free(rsp);
	return r;
}

static void
expect_error(cmp_msg *r, uint32_t fi, const char *text)
{
	char buf[300];
	assert_int_equal(r->type, CMP_BODY_ERROR);
	cmp_status_format(&r->error, buf, sizeof(buf));
	if (!(r->error.fail_info & fi) || strstr(buf, text) == NULL)
		fail_msg("unexpected error: %s", buf);
	cmp_msg_free(r);
}

static size_t
mkcsr(const char *subject, uint8_t *out, size_t cap)
{
	mbedtls_pk_context k;
	mbedtls_x509write_csr w;
	mbedtls_pk_init(&k);
	mbedtls_x509write_csr_init(&w);
	assert_int_equal(mbedtls_pk_setup(&k,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	    mbedtls_pk_ec(k), rt_rng, NULL), 0);
	mbedtls_x509write_csr_set_key(&w, &k);
	mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
	assert_int_equal(mbedtls_x509write_csr_set_subject_name(&w, subject), 0);
	int n = mbedtls_x509write_csr_der(&w, out, cap, rt_rng, NULL);
	assert_true(n > 0);
	memmove(out, out + cap - (size_t)n, (size_t)n);
	mbedtls_x509write_csr_free(&w);
	mbedtls_pk_free(&k);
	return (size_t)n;
}

static void
test_enroll_confirm(void **state)
{
	cmp_msg m, c;
	ids id, cid;
	uint8_t csr[1024];
	size_t csr_len;
	cmp_msg *r;
	(void)state;

	/* unknown profile, profile not fitting (qualified needs C) */
	csr_len = mkcsr("CN=Svc Test,O=raterm demo", csr, sizeof(csr));
	fresh(&m, &id, CMP_BODY_P10CR);
	m.p10 = (cmp_buf){ csr, csr_len };
	m.hdr.cert_profile[0] = cmp_buf_str("nosuch");
	m.hdr.ncert_profile = 1;
	expect_error(send(&m), CMP_FI_BAD_CERT_TEMPLATE, "unknown certProfile");
	fresh(&m, &id, CMP_BODY_P10CR);
	m.p10 = (cmp_buf){ csr, csr_len };
	m.hdr.cert_profile[0] = cmp_buf_str("qualified");
	m.hdr.ncert_profile = 1;
	expect_error(send(&m), CMP_FI_BAD_CERT_TEMPLATE, "requires subject "
	    "attribute C");

	/* good: certProfile user */
	fresh(&m, &id, CMP_BODY_P10CR);
	m.p10 = (cmp_buf){ csr, csr_len };
	m.hdr.cert_profile[0] = cmp_buf_str("user");
	m.hdr.ncert_profile = 1;
	r = send(&m);
	assert_int_equal(r->type, CMP_BODY_CP);
	assert_int_equal(r->nresp, 1);
	assert_int_equal(r->resp[0].cert_req_id, -1);
	assert_int_equal(r->resp[0].status.status, CMP_STATUS_ACCEPTED);
	uint8_t cert[2048], srv_nonce[64], h[64];
	size_t cert_len = r->resp[0].cert.len, nl = r->hdr.sender_nonce.len, hl;
	memcpy(cert, r->resp[0].cert.p, cert_len);
	memcpy(srv_nonce, r->hdr.sender_nonce.p, nl);
	cmp_msg_free(r);
	assert_null(cmp_cert_hash(cert, cert_len, h, &hl));

	/* certConf: wrong recipNonce */
	fresh(&c, &cid, CMP_BODY_CERTCONF);
	c.hdr.transaction_id = (cmp_buf){ id.tid, sizeof(id.tid) };
	c.hdr.recip_nonce = (cmp_buf){ cid.nonce, sizeof(cid.nonce) };
	c.conf[0].cert_hash = (cmp_buf){ h, hl };
	c.conf[0].cert_req_id = -1;
	c.nconf = 1;
	expect_error(send(&c), CMP_FI_BAD_RECIPIENT_NONCE, "recipNonce");
	/* the transaction is still open: a wrong certHash */
	uint8_t bad[64];
	memcpy(bad, h, hl);
	bad[0] ^= 1;
	fresh(&c, &cid, CMP_BODY_CERTCONF);
	c.hdr.transaction_id = (cmp_buf){ id.tid, sizeof(id.tid) };
	c.hdr.recip_nonce = (cmp_buf){ srv_nonce, nl };
	c.conf[0].cert_hash = (cmp_buf){ bad, hl };
	c.conf[0].cert_req_id = -1;
	c.nconf = 1;
	expect_error(send(&c), CMP_FI_BAD_CERT_ID, "certHash");
	/* nothing was applied (issue 11, defect 4): the transaction stays
	 * open and the correct certConf is confirmed */
	fresh(&c, &cid, CMP_BODY_CERTCONF);
	c.hdr.transaction_id = (cmp_buf){ id.tid, sizeof(id.tid) };
	c.hdr.recip_nonce = (cmp_buf){ srv_nonce, nl };
	c.conf[0].cert_hash = (cmp_buf){ h, hl };
	c.conf[0].cert_req_id = -1;
	c.nconf = 1;
	r = send(&c);
	assert_int_equal(r->type, CMP_BODY_PKICONF);
	cmp_msg_free(r);
	/* and now the transaction is closed */
	fresh(&c, &cid, CMP_BODY_CERTCONF);
	c.hdr.transaction_id = (cmp_buf){ id.tid, sizeof(id.tid) };
	c.hdr.recip_nonce = (cmp_buf){ srv_nonce, nl };
	c.conf[0].cert_hash = (cmp_buf){ h, hl };
	c.conf[0].cert_req_id = -1;
	c.nconf = 1;
	expect_error(send(&c), CMP_FI_BAD_REQUEST, "no open transaction");

	/* a new enrollment, confirmed properly */
	fresh(&m, &id, CMP_BODY_P10CR);
	m.p10 = (cmp_buf){ csr, csr_len };
	r = send(&m);
	assert_int_equal(r->type, CMP_BODY_CP);
	cert_len = r->resp[0].cert.len;
	memcpy(cert, r->resp[0].cert.p, cert_len);
	nl = r->hdr.sender_nonce.len;
	memcpy(srv_nonce, r->hdr.sender_nonce.p, nl);
	cmp_msg_free(r);
	assert_null(cmp_cert_hash(cert, cert_len, h, &hl));
	fresh(&c, &cid, CMP_BODY_CERTCONF);
	c.hdr.transaction_id = (cmp_buf){ id.tid, sizeof(id.tid) };
	c.hdr.recip_nonce = (cmp_buf){ srv_nonce, nl };
	c.conf[0].cert_hash = (cmp_buf){ h, hl };
	c.conf[0].cert_req_id = -1;
	c.nconf = 1;
	r = send(&c);
	assert_int_equal(r->type, CMP_BODY_PKICONF);
	cmp_msg_free(r);
	rt_cert_info ci;
	cmh_cert_rec rec;
	assert_null(rt_cert_info_parse(cert, cert_len, &ci));
	assert_null(cmh_db_cert_get(db, ci.serial, &rec, NULL, NULL));
	assert_int_equal(rec.state, CMH_CERT_CONFIRMED);
	assert_string_equal(rec.profile, "user");		/* default */
	assert_string_equal(rec.officer, "demo-officer");

	/* the same transactionID again, with a fresh nonce */
	uint8_t keep_tid[16];
	memcpy(keep_tid, id.tid, 16);
	fresh(&m, &id, CMP_BODY_P10CR);
	m.hdr.transaction_id = (cmp_buf){ keep_tid, sizeof(keep_tid) };
	m.p10 = (cmp_buf){ csr, csr_len };
	expect_error(send(&m), CMP_FI_TRANSACTION_ID_IN_USE, "used before");
}

/* id-it-raterm-cardId: recorded (hex) with the certificate and in the
 * audit; a kur without it inherits the old certificate's card. */
static void
test_card_id(void **state)
{
	static const uint8_t card[4] = { 0x02, 0x62, 0x5a, 0x01 };
	cmp_msg m, *r;
	ids id;
	uint8_t csr[1024], cert[2048];
	size_t csr_len, cert_len;
	rt_cert_info ci;
	cmh_cert_rec rec;
	(void)state;

	csr_len = mkcsr("CN=Card Id Test,O=raterm demo", csr, sizeof(csr));
	fresh(&m, &id, CMP_BODY_P10CR);
	m.p10 = (cmp_buf){ csr, csr_len };
	m.hdr.implicit_confirm = true;
	m.hdr.card_id = (cmp_buf){ card, sizeof(card) };
	r = send(&m);
	assert_int_equal(r->type, CMP_BODY_CP);
	cert_len = r->resp[0].cert.len;
	memcpy(cert, r->resp[0].cert.p, cert_len);
	cmp_msg_free(r);
	assert_null(rt_cert_info_parse(cert, cert_len, &ci));
	assert_null(cmh_db_cert_get(db, ci.serial, &rec, NULL, NULL));
	assert_string_equal(rec.card, "02625a01");

	/* kur of it without cardId: the same card */
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_der(&crt, cert, cert_len), 0);
	uint8_t cid[64];
	size_t sl = crt.serial.len;
	assert_true(sl < 40);
	/* CertId ::= SEQUENCE { issuer [4] NULL-DN, serialNumber INTEGER } */
	cid[0] = 0x30;
	cid[1] = (uint8_t)(6 + sl);
	memcpy(cid + 2, "\xA4\x02\x30\x00\x02", 5);
	cid[7] = (uint8_t)sl;
	memcpy(cid + 8, crt.serial.p, sl);
	mbedtls_x509_crt_free(&crt);
	csr_len = mkcsr("CN=Card Id Test,O=raterm demo", csr, sizeof(csr));
	fresh(&m, &id, CMP_BODY_KUR);
	m.nreq = 1;
	assert_null(cmp_req_from_csr(csr, csr_len, &m.req[0]));
	m.req[0].popo = CMP_POPO_RA_VERIFIED;
	m.req[0].old_cert_id = (cmp_buf){ cid, 8 + sl };
	m.hdr.implicit_confirm = true;
	r = send(&m);
	assert_int_equal(r->type, CMP_BODY_KUP);
	cert_len = r->resp[0].cert.len;
	memcpy(cert, r->resp[0].cert.p, cert_len);
	cmp_msg_free(r);
	assert_null(rt_cert_info_parse(cert, cert_len, &ci));
	assert_null(cmh_db_cert_get(db, ci.serial, &rec, NULL, NULL));
	assert_string_equal(rec.card, "02625a01");

	/* without cardId: unknown */
	fresh(&m, &id, CMP_BODY_P10CR);
	m.p10 = (cmp_buf){ csr, csr_len };
	m.hdr.implicit_confirm = true;
	r = send(&m);
	assert_int_equal(r->type, CMP_BODY_CP);
	assert_null(rt_cert_info_parse(r->resp[0].cert.p, r->resp[0].cert.len,
	    &ci));
	cmp_msg_free(r);
	assert_null(cmh_db_cert_get(db, ci.serial, &rec, NULL, NULL));
	assert_string_equal(rec.card, "");
}

static void
test_mgmt_key(void **state)
{
	static const uint8_t card[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
		0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	static const uint8_t key[24] = "0123456789abcdef01234567";
	cmp_msg m;
	ids id;
	uint8_t *val;
	size_t vlen;
	cmp_msg *r;
	cmp_mgmt_key k;
	(void)state;

	memset(&k, 0, sizeof(k));
	k.card_id = (cmp_buf){ card, sizeof(card) };
	assert_null(cmp_mgmt_key_encode(&k, false, &val, &vlen));
	/* none held: the InfoType without a value */
	fresh(&m, &id, CMP_BODY_GENM);
	assert_null(cmp_itav_set(&m.itav[0], CMP_OID_IT_CARD_MGMT_KEY));
	m.itav[0].value = (cmp_buf){ val, vlen };
	m.nitav = 1;
	r = send(&m);
	assert_int_equal(r->type, CMP_BODY_GENP);
	assert_int_equal(r->nitav, 1);
	assert_true(cmp_itav_is(&r->itav[0], CMP_OID_IT_CARD_MGMT_KEY));
	assert_int_equal(r->itav[0].value.len, 0);
	cmp_msg_free(r);
	/* held */
	assert_null(cmh_db_mgmt_key_set(db, "00112233445566778899aabbccddeeff",
	    "aes192", key, sizeof(key), 1));
	fresh(&m, &id, CMP_BODY_GENM);
	assert_null(cmp_itav_set(&m.itav[0], CMP_OID_IT_CARD_MGMT_KEY));
	m.itav[0].value = (cmp_buf){ val, vlen };
	m.nitav = 1;
	r = send(&m);
	assert_int_equal(r->type, CMP_BODY_GENP);
	assert_int_equal(r->nitav, 1);
	cmp_mgmt_key got;
	assert_null(cmp_mgmt_key_parse(r->itav[0].value, true, &got));
	assert_int_equal(got.alg, 10);
	assert_int_equal(got.key.len, sizeof(key));
	assert_memory_equal(got.key.p, key, sizeof(key));
	assert_true(cmp_buf_eq(got.card_id, k.card_id));
	cmp_msg_free(r);
	/* an officer without the role */
	((cmh_officer *)&cfg->officers[0])->mgmt_keys = false;
	fresh(&m, &id, CMP_BODY_GENM);
	assert_null(cmp_itav_set(&m.itav[0], CMP_OID_IT_CARD_MGMT_KEY));
	m.itav[0].value = (cmp_buf){ val, vlen };
	m.nitav = 1;
	expect_error(send(&m), CMP_FI_NOT_AUTHORIZED, "management keys");
	((cmh_officer *)&cfg->officers[0])->mgmt_keys = true;
	/* plain HTTP that listen.mgmt_keys_over_http does not allow: refused,
	 * and the answer does not carry the key */
	fresh(&m, &id, CMP_BODY_GENM);
	assert_null(cmp_itav_set(&m.itav[0], CMP_OID_IT_CARD_MGMT_KEY));
	m.itav[0].value = (cmp_buf){ val, vlen };
	m.nitav = 1;
	expect_error(send_plain(&m, key, sizeof(key)), CMP_FI_NOT_AUTHORIZED,
	    "HTTPS only");
	/* caCerts: the chain */
	fresh(&m, &id, CMP_BODY_GENM);
	assert_null(cmp_itav_set(&m.itav[0], CMP_OID_IT_CA_CERTS));
	m.nitav = 1;
	r = send(&m);
	cmp_buf certs[4];
	size_t n;
	assert_null(cmp_certs_parse(r->itav[0].value, certs, 4, &n));
	assert_int_equal(n, 2);
	cmp_msg_free(r);
	free(val);
	unsigned audits;
	assert_null(cmh_db_audit_count(db, &audits));
	assert_true(audits >= 4);
}

/* A cr for a new key, raVerified, for `card` (NULL: none), asking for a
 * management key with the CardMgmtKeyReq `mk` (NULL: not). */
static void
cr_for(cmp_msg *m, ids *id, const uint8_t *card, size_t card_len,
    const cmp_buf *mk, uint8_t *csr, size_t cap)
{
	size_t csr_len = mkcsr("CN=Cr Test,O=raterm demo", csr, cap);
	fresh(m, id, CMP_BODY_CR);
	m->nreq = 1;
	assert_null(cmp_req_from_csr(csr, csr_len, &m->req[0]));
	m->req[0].cert_req_id = 0;
	m->req[0].popo = CMP_POPO_RA_VERIFIED;
	m->hdr.implicit_confirm = true;
	if (card != NULL)
		m->hdr.card_id = (cmp_buf){ card, card_len };
	if (mk != NULL) {
		m->hdr.has_mgmt_key = true;
		m->hdr.mgmt_key = *mk;
	}
}

/* r is a cp that issued the certificate and answers the management key
 * request in its generalInfo. */
static void
cp_with_mgmt_key(const cmp_msg *r)
{
	assert_int_equal(r->type, CMP_BODY_CP);
	assert_int_equal(r->resp[0].status.status, CMP_STATUS_ACCEPTED);
	assert_true(r->hdr.has_mgmt_key);
}

/* A genm asking for `a` and, unless NULL, `b`. */
static void
genm_of(cmp_msg *m, ids *id, const char *a, const char *b)
{
	fresh(m, id, CMP_BODY_GENM);
	assert_null(cmp_itav_set(&m->itav[m->nitav++], a));
	if (b != NULL)
		assert_null(cmp_itav_set(&m->itav[m->nitav++], b));
}

/* m sent without protection is refused. */
static void
refused_unprotected(cmp_msg *m)
{
	expect_error(send_as(m, NULL, true), CMP_FI_BAD_MESSAGE_CHECK,
	    "not protected");
}

/* unprotected_cacerts: an unprotected genm for caCerts alone is answered
 * (protected, verified by send_as) while the switch is on; every other
 * unprotected request is refused, and so is that one with the switch
 * off. */
static void
test_unprotected(void **state)
{
	cmp_msg m, *r;
	ids id;
	uint8_t csr[1024];
	cmp_buf certs[4];
	size_t n;
	unsigned a0, a1;
	(void)state;

	assert_true(cfg->unprotected_cacerts);		/* the default */
	assert_null(cmh_db_audit_count(db, &a0));
	genm_of(&m, &id, CMP_OID_IT_CA_CERTS, NULL);
	r = send_as(&m, NULL, false);
	assert_int_equal(r->type, CMP_BODY_GENP);
	assert_true(r->protection.len > 0);
	assert_int_equal(r->nitav, 1);
	assert_true(cmp_itav_is(&r->itav[0], CMP_OID_IT_CA_CERTS));
	assert_null(cmp_certs_parse(r->itav[0].value, certs, 4, &n));
	assert_int_equal(n, 2);
	cmp_msg_free(r);
	assert_null(cmh_db_audit_count(db, &a1));
	assert_int_equal(a1, a0 + 1);			/* audited all the same */

	/* caCerts and another InfoType: not the public request alone */
	genm_of(&m, &id, CMP_OID_IT_CA_CERTS, CMP_OID_IT_ROOT_CA_KEY_UPDATE);
	refused_unprotected(&m);
	/* another InfoType alone */
	genm_of(&m, &id, CMP_OID_IT_ROOT_CA_KEY_UPDATE, NULL);
	refused_unprotected(&m);
	/* a cr */
	cr_for(&m, &id, NULL, 0, NULL, csr, sizeof(csr));
	refused_unprotected(&m);
	/* the switch off: caCerts alone refused too, signed still answered */
	cfg->unprotected_cacerts = false;
	genm_of(&m, &id, CMP_OID_IT_CA_CERTS, NULL);
	refused_unprotected(&m);
	genm_of(&m, &id, CMP_OID_IT_CA_CERTS, NULL);
	r = send(&m);
	assert_int_equal(r->type, CMP_BODY_GENP);
	cmp_msg_free(r);
	cfg->unprotected_cacerts = true;
}

/* id-it-raterm-cardMgmtKey in a cr's generalInfo, answered in the cp's:
 * the key when held (over a confidential transport), the InfoType
 * without a value when none is held or the transport is plain HTTP (the
 * certificate issued all the same, the key nowhere in the answer); a
 * request for another card than the cr's cardId is refused. */
static void
test_cr_mgmt_key(void **state)
{
	static const uint8_t card[8] = { 0xc0, 0xff, 0xee, 0, 1, 2, 3, 4 };
	static const uint8_t other[8] = { 0xc0, 0xff, 0xee, 0, 1, 2, 3, 5 };
	static const uint8_t key[32] = "fedcba9876543210fedcba9876543210";
	cmp_msg m, *r;
	ids id;
	uint8_t csr[1024], *val, *oval;
	size_t vlen, ovlen;
	cmp_mgmt_key k, got;
	(void)state;

	memset(&k, 0, sizeof(k));
	k.card_id = (cmp_buf){ card, sizeof(card) };
	assert_null(cmp_mgmt_key_encode(&k, false, &val, &vlen));
	k.card_id = (cmp_buf){ other, sizeof(other) };
	assert_null(cmp_mgmt_key_encode(&k, false, &oval, &ovlen));
	cmp_buf req = { val, vlen }, oreq = { oval, ovlen };

	/* none held */
	cr_for(&m, &id, card, sizeof(card), &req, csr, sizeof(csr));
	r = send(&m);
	cp_with_mgmt_key(r);
	assert_int_equal(r->hdr.mgmt_key.len, 0);
	cmp_msg_free(r);

	/* held */
	assert_null(cmh_db_mgmt_key_set(db, "c0ffee0001020304", "aes256", key,
	    sizeof(key), 1));
	cr_for(&m, &id, card, sizeof(card), &req, csr, sizeof(csr));
	r = send(&m);
	cp_with_mgmt_key(r);
	assert_null(cmp_mgmt_key_parse(r->hdr.mgmt_key, true, &got));
	assert_int_equal(got.alg, 12);
	assert_true(cmp_buf_eq(got.card_id, (cmp_buf){ card, sizeof(card) }));
	assert_int_equal(got.key.len, sizeof(key));
	assert_memory_equal(got.key.p, key, sizeof(key));
	cmp_msg_free(r);

	/* held, over plain HTTP: issued, the key not sent */
	cr_for(&m, &id, card, sizeof(card), &req, csr, sizeof(csr));
	r = send_plain(&m, key, sizeof(key));
	cp_with_mgmt_key(r);
	assert_int_equal(r->hdr.mgmt_key.len, 0);
	cmp_msg_free(r);

	/* the key of another card than the cr's */
	cr_for(&m, &id, card, sizeof(card), &oreq, csr, sizeof(csr));
	expect_error(send(&m), CMP_FI_BAD_REQUEST, "another card");
	free(val);
	free(oval);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enroll_confirm),
		cmocka_unit_test(test_mgmt_key),
		cmocka_unit_test(test_card_id),
		cmocka_unit_test(test_unprotected),
		cmocka_unit_test(test_cr_mgmt_key),
	};
	return cmocka_run_group_tests_name("cmhost_service", tests, setup,
	    teardown);
}
