/* Unit tests: id-it-raterm-txStatus end to end, cmhost's service in
 * process (cmhost_inproc.h) behind raterm's CMP client: a cr whose answer
 * is lost is `waiting` at the CM host with its certificates, the
 * recipNonce a certConf must answer and the grace deadline, and the
 * certConf built from that answer is accepted; once confirmed, or
 * rejected, the transaction is `closed` with each certificate's state; a
 * transactionID never seen, or another officer's, is `unknown`; the query
 * changes nothing; every cp carries confirmWaitTime. */
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

#include "raterm/cmhost_inproc.h"
#include "raterm/cmp.h"
#include "raterm/csr.h"
#include "raterm/util.h"

typedef struct {
	cmh_inproc *ip;
	rt_signer *officer;
	cmp_client *c;
	uint8_t spki[200], subject[200];
	size_t spki_len, subject_len;
} fx;

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

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	cmp_client_opts co;
	mbedtls_pk_context pk;
	if (f == NULL)
		return -1;
	ok(cmh_inproc_new(NULL, &f->ip));
	ok(cmh_inproc_officer(f->ip, &f->officer));
	memset(&co, 0, sizeof(co));
	cmh_inproc_client_opts(f->ip, &co);
	co.signer = f->officer;
	ok(cmp_client_new(&co, &f->c));
	/* a P-256 key for the requests (its private half is not needed:
	 * raVerified) */
	mbedtls_pk_init(&pk);
	assert_int_equal(mbedtls_pk_setup(&pk,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	    mbedtls_pk_ec(pk), rt_rng, NULL), 0);
	int n = mbedtls_pk_write_pubkey_der(&pk, f->spki, sizeof(f->spki));
	assert_true(n > 0);
	memmove(f->spki, f->spki + sizeof(f->spki) - n, (size_t)n);
	f->spki_len = (size_t)n;
	mbedtls_pk_free(&pk);
	ok(rt_dn_encode("CN=Tx Status,O=raterm test", f->subject,
	    sizeof(f->subject), &f->subject_len));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;
	cmp_client_free(f->c);
	rt_signer_free(f->officer);
	cmh_inproc_free(f->ip);
	free(f);
	return 0;
}

/* A cr for two certificates under transactionID txid. */
static rt_err *
enroll(fx *f, const uint8_t *txid, cmp_txn **t)
{
	cmp_cert_req tmpl[2];
	static const char *const profiles[] = { "piv-auth", "piv-auth" };
	memset(tmpl, 0, sizeof(tmpl));
	for (int i = 0; i < 2; i++) {
		tmpl[i].subject = (cmp_buf){ f->subject, f->subject_len };
		tmpl[i].public_key = (cmp_buf){ f->spki, f->spki_len };
	}
	cmp_enroll_req q = { .type = CMP_BODY_CR, .tmpl = tmpl, .ntmpl = 2,
	    .profiles = profiles, .ra_verified = true, .txid = txid };
	return cmp_client_enroll(f->c, &q, t);
}

static void
test_lost_cp(void **state)
{
	fx *f = *state;
	uint8_t txid[CMP_TXID_LEN], *buf;
	cmp_txn *t = NULL;
	cmp_tx_status s;
	ok(rt_random(txid, sizeof(txid)));

	/* the cr is handled, its answer lost: unknown to the client */
	cmh_inproc_fault_set(f->ip, CMP_BODY_CR, CMH_INPROC_LOSE_ANSWER);
	rt_err *e = enroll(f, txid, &t);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_CMP_HTTP));
	rt_err_free(e);
	cmh_inproc_fault_set(f->ip, -1, CMH_INPROC_DELIVER);

	/* the CM host says: waiting, two certificates, the nonce, the end of
	 * the grace period */
	time_t before = time(NULL);
	ok(cmp_client_tx_status(f->c, txid, sizeof(txid), &s, &buf));
	assert_int_equal(s.status, CMP_TX_WAITING);
	assert_int_equal(s.ncerts, 2);
	assert_int_equal(s.certs[0].state, CMP_TXC_WAITING);
	assert_true(s.recip_nonce.len > 0);
	assert_true(s.confirm_by >= before + 500);	/* grace 600 s */

	/* the certConf the client owes, from that answer: both rejected
	 * (nothing was written to the card) */
	cmp_txn_state ts;
	cmp_buf certs[2] = { s.certs[0].cert, s.certs[1].cert };
	memset(&ts, 0, sizeof(ts));
	memcpy(ts.txid, txid, sizeof(txid));
	ts.txid_len = sizeof(txid);
	memcpy(ts.peer_nonce, s.recip_nonce.p, s.recip_nonce.len);
	ts.peer_nonce_len = s.recip_nonce.len;
	ok(cmp_txn_resume(&ts, certs, 2, &t));
	free(buf);
	bool acc[2] = { false, false };
	ok(cmp_client_confirm_each(f->c, t, acc, NULL));
	cmp_txn_free(t);

	/* closed, both rejected; asking again changes nothing */
	for (int k = 0; k < 2; k++) {
		ok(cmp_client_tx_status(f->c, txid, sizeof(txid), &s, &buf));
		assert_int_equal(s.status, CMP_TX_CLOSED);
		assert_int_equal(s.ncerts, 2);
		assert_int_equal(s.certs[0].state, CMP_TXC_REJECTED);
		assert_int_equal(s.certs[1].state, CMP_TXC_REJECTED);
		assert_int_equal(s.recip_nonce.len, 0);
		free(buf);
	}
}

static void
test_lost_pkiconf(void **state)
{
	fx *f = *state;
	uint8_t txid[CMP_TXID_LEN], *buf;
	cmp_txn *t = NULL;
	cmp_tx_status s;
	ok(rt_random(txid, sizeof(txid)));
	time_t before = time(NULL);
	ok(enroll(f, txid, &t));
	/* the cp said how long the CM host waits for the certConf */
	assert_true(cmp_txn_confirm_by(t) >= before + 590);
	assert_true(cmp_txn_confirm_by(t) <= time(NULL) + 600);
	/* the certConf accepts both; its answer is lost */
	cmh_inproc_fault_set(f->ip, CMP_BODY_CERTCONF, CMH_INPROC_LOSE_ANSWER);
	bool acc[2] = { true, true };
	rt_err *e = cmp_client_confirm_each(f->c, t, acc, NULL);
	assert_non_null(e);
	rt_err_free(e);
	cmh_inproc_fault_set(f->ip, -1, CMH_INPROC_DELIVER);
	cmp_txn_free(t);
	/* the truth: closed, both confirmed */
	ok(cmp_client_tx_status(f->c, txid, sizeof(txid), &s, &buf));
	assert_int_equal(s.status, CMP_TX_CLOSED);
	assert_int_equal(s.certs[0].state, CMP_TXC_CONFIRMED);
	assert_int_equal(s.certs[1].state, CMP_TXC_CONFIRMED);
	free(buf);
}

static void
test_unknown(void **state)
{
	fx *f = *state;
	uint8_t txid[CMP_TXID_LEN], *buf;
	cmp_tx_status s;
	ok(rt_random(txid, sizeof(txid)));
	ok(cmp_client_tx_status(f->c, txid, sizeof(txid), &s, &buf));
	assert_int_equal(s.status, CMP_TX_UNKNOWN);
	assert_int_equal(s.ncerts, 0);
	free(buf);
	/* a cr that never reached the CM host: unknown too */
	cmp_txn *t = NULL;
	cmh_inproc_fault_set(f->ip, CMP_BODY_CR, CMH_INPROC_DROP);
	rt_err *e = enroll(f, txid, &t);
	assert_non_null(e);
	rt_err_free(e);
	cmh_inproc_fault_set(f->ip, -1, CMH_INPROC_DELIVER);
	ok(cmp_client_tx_status(f->c, txid, sizeof(txid), &s, &buf));
	assert_int_equal(s.status, CMP_TX_UNKNOWN);
	free(buf);
}

/* cmhost's certConf is checked whole, then applied in one database
 * transaction (issue 11, defect 4): a wrong certHash is refused and the
 * transaction stays open, so the correct retry is confirmed; a certConf
 * naming a certReqId the transaction did not issue is refused, never
 * pkiConf'd, nothing applied. */
static void
test_certconf_atomic(void **state)
{
	fx *f = *state;
	uint8_t txid[CMP_TXID_LEN], *buf;
	cmp_txn *t = NULL, *bad = NULL;
	cmp_txn_state ts;
	cmp_tx_status s;
	ok(rt_random(txid, sizeof(txid)));
	ok(enroll(f, txid, &t));
	cmp_txn_get_state(t, &ts);

	/* a wrong certHash (a certificate that is not the one issued) */
	cmp_buf c0 = cmp_txn_cert(t, 0), c1 = cmp_txn_cert(t, 1);
	uint8_t *wrong = malloc(c1.len);
	memcpy(wrong, c1.p, c1.len);
	wrong[c1.len - 3] ^= 1;
	cmp_buf certs[3] = { c0, { wrong, c1.len }, c1 };
	ok(cmp_txn_resume(&ts, certs, 2, &bad));
	bool acc[3] = { true, true, true };
	rt_err *e = cmp_client_confirm_each(f->c, bad, acc, NULL);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_CMP_STATUS));
	char em[400];
	rt_err_format(e, em, sizeof(em));
	assert_non_null(strstr(em, "certHash"));
	rt_err_free(e);
	cmp_txn_free(bad);
	ok(cmp_client_tx_status(f->c, txid, sizeof(txid), &s, &buf));
	assert_int_equal(s.status, CMP_TX_WAITING);	/* nothing applied */
	assert_int_equal(s.certs[0].state, CMP_TXC_WAITING);
	free(buf);

	/* a certReqId the transaction did not issue (2) */
	certs[1] = c1;
	certs[2] = c1;
	ok(cmp_txn_resume(&ts, certs, 3, &bad));
	e = cmp_client_confirm_each(f->c, bad, acc, NULL);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_CMP_STATUS));
	rt_err_format(e, em, sizeof(em));
	assert_non_null(strstr(em, "certReqId 2"));
	rt_err_free(e);
	cmp_txn_free(bad);

	/* the correct certConf still works */
	ok(cmp_client_confirm_each(f->c, t, acc, NULL));
	ok(cmp_client_tx_status(f->c, txid, sizeof(txid), &s, &buf));
	assert_int_equal(s.status, CMP_TX_CLOSED);
	assert_int_equal(s.certs[0].state, CMP_TXC_CONFIRMED);
	assert_int_equal(s.certs[1].state, CMP_TXC_CONFIRMED);
	free(buf);
	free(wrong);

	/* rr listing one certificate twice: refused whole, nothing revoked,
	 * the audit says refused */
	cmp_msg m, *r = NULL;
	cmp_msg_init(&m);
	m.type = CMP_BODY_RR;
	m.nrev = 2;
	ok(cmp_rev_from_cert(c0.p, c0.len, 1, &m.rev[0]));
	ok(cmp_rev_from_cert(c0.p, c0.len, 1, &m.rev[1]));
	e = cmp_client_exchange(f->c, &m, &r);
	assert_non_null(e);
	rt_err_format(e, em, sizeof(em));
	assert_non_null(strstr(em, "twice"));
	rt_err_free(e);
	cmp_msg_free(r);
	ok(cmp_client_tx_status(f->c, txid, sizeof(txid), &s, &buf));
	assert_int_equal(s.certs[0].state, CMP_TXC_CONFIRMED);
	free(buf);
	/* the same certificate once: revoked, answered accepted */
	ok(cmp_client_revoke(f->c, c0.p, c0.len, 1));
	ok(cmp_client_tx_status(f->c, txid, sizeof(txid), &s, &buf));
	assert_int_equal(s.certs[0].state, CMP_TXC_REVOKED);
	assert_int_equal(s.certs[1].state, CMP_TXC_CONFIRMED);
	free(buf);
	cmp_txn_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lost_cp),
		cmocka_unit_test(test_lost_pkiconf),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_certconf_atomic),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
