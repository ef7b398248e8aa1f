/* In-process tests (level 2): the PIV client and the Contents model against
 * the vpiv card core, without pcscd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "raterm/contents.h"
#include "raterm/piv.h"
#include "raterm/vpiv.h"
#include "raterm/vpiv_transport.h"

static const uint8_t default_mgmt[24] = {
	1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
};

typedef struct {
	vpiv *card;
	rt_transport *t;
	piv_card *piv;
} fx;

/* The Contents through the card-profile interface. */
static rt_err *
read_contents(fx *f, rt_contents *ct)
{
	rt_card *c = NULL;
	rt_err *e = rt_card_from_piv(f->piv, &c);
	if (e == NULL)
		e = rt_contents_read(c, NULL, time(NULL), 0, ct);
	rt_card_close(c);
	return e;
}

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	assert_null(vpiv_open(NULL, &f->card));
	assert_null(rt_vpiv_transport(f->card, false, "inproc", &f->t));
	assert_null(piv_open(f->t, &f->piv));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;
	piv_close(f->piv);
	rt_transport_close(f->t);
	vpiv_free(f->card);
	free(f);
	return 0;
}

/* A self-signed certificate for the card's EC public key point, made with a
 * throw-away software key as issuer (the card stores any DER). */
static size_t
make_cert(const piv_pubkey *pub, const char *cn, const char *nb,
    const char *na, uint8_t *out, size_t cap)
{
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_pk_context issuer, subj;
	mbedtls_x509write_cert w;
	mbedtls_mpi serial;
	char name[128];
	unsigned char buf[4096];

	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func,
	    &ent, NULL, 0), 0);
	mbedtls_pk_init(&issuer);
	mbedtls_pk_init(&subj);
	assert_int_equal(mbedtls_pk_setup(&issuer,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	    mbedtls_pk_ec(issuer), mbedtls_ctr_drbg_random, &drbg), 0);
	assert_int_equal(mbedtls_pk_setup(&subj,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	mbedtls_ecp_keypair *ec = mbedtls_pk_ec(subj);
	assert_int_equal(mbedtls_ecp_group_load(&ec->grp,
	    MBEDTLS_ECP_DP_SECP256R1), 0);
	assert_int_equal(mbedtls_ecp_point_read_binary(&ec->grp, &ec->Q,
	    pub->point, pub->point_len), 0);
	mbedtls_x509write_crt_init(&w);
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, &subj);
	mbedtls_x509write_crt_set_issuer_key(&w, &issuer);
	snprintf(name, sizeof(name), "CN=%s,O=raterm tests", cn);
	assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w, name), 0);
	assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&w,
	    "CN=Test Issuer,O=raterm tests"), 0);
	mbedtls_mpi_init(&serial);
	mbedtls_mpi_lset(&serial, 4242);
	mbedtls_x509write_crt_set_serial(&w, &serial);
	assert_int_equal(mbedtls_x509write_crt_set_validity(&w, nb, na), 0);
	int n = mbedtls_x509write_crt_der(&w, buf, sizeof(buf),
	    mbedtls_ctr_drbg_random, &drbg);
	assert_true(n > 0 && (size_t)n <= cap);
	memcpy(out, buf + sizeof(buf) - n, (size_t)n);
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&w);
	mbedtls_pk_free(&issuer);
	mbedtls_pk_free(&subj);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&ent);
	return (size_t)n;
}

static void
verify_ecdsa(const piv_pubkey *pub, const uint8_t *hash, const uint8_t *sig,
    size_t sig_len)
{
	mbedtls_ecdsa_context ctx;
	mbedtls_ecdsa_init(&ctx);
	assert_int_equal(mbedtls_ecp_group_load(&ctx.grp,
	    MBEDTLS_ECP_DP_SECP256R1), 0);
	assert_int_equal(mbedtls_ecp_point_read_binary(&ctx.grp, &ctx.Q,
	    pub->point, pub->point_len), 0);
	assert_int_equal(mbedtls_ecdsa_read_signature(&ctx, hash, 32, sig,
	    sig_len), 0);
	mbedtls_ecdsa_free(&ctx);
}

static void
test_empty_card(void **state)
{
	fx *f = *state;
	rt_contents ct;
	assert_null(read_contents(f, &ct));
	assert_int_equal(ct.nrows, 0);
	assert_true(ct.has_guid);
	assert_true(ct.has_serial);
	assert_int_equal(ct.pin_retries, 3);
	rt_contents_free(&ct);
}

static void
test_generate_sign_write_read(void **state)
{
	fx *f = *state;
	piv_pubkey pub;
	uint8_t hash[32], sig[128], cert[2048];
	size_t sig_len;

	/* generating needs the management key */
	rt_err *e = piv_generate(f->piv, 0x9A, PIV_ALG_ECCP256, 0, 0, &pub);
	assert_int_equal(rt_err_kind_of(e), RT_E_PERMISSION);
	rt_err_free(e);
	assert_null(piv_auth_mgmt(f->piv, PIV_ALG_3DES, default_mgmt, 24));
	assert_null(piv_generate(f->piv, 0x9A, PIV_ALG_ECCP256, 0, 0, &pub));
	assert_int_equal(pub.point_len, 65);

	/* 9A signs after the PIN was verified once */
	mbedtls_sha256_ret((const unsigned char *)"hello", 5, hash, 0);
	e = piv_sign(f->piv, 0x9A, PIV_ALG_ECCP256, hash, 32, sig, sizeof(sig),
	    &sig_len);
	assert_int_equal(rt_err_kind_of(e), RT_E_PERMISSION);
	rt_err_free(e);
	assert_null(piv_verify_pin(f->piv, "123456", 6));
	assert_null(piv_sign(f->piv, 0x9A, PIV_ALG_ECCP256, hash, 32, sig,
	    sizeof(sig), &sig_len));
	verify_ecdsa(&pub, hash, sig, sig_len);

	size_t clen = make_cert(&pub, "Alice Example", "20250101000000",
	    "20450101000000", cert, sizeof(cert));
	assert_null(piv_write_cert(f->piv, 0x9A, cert, clen));
	uint8_t *der;
	size_t der_len;
	assert_null(piv_read_cert(f->piv, 0x9A, &der, &der_len));
	assert_int_equal(der_len, clen);
	assert_memory_equal(der, cert, clen);
	free(der);

	/* an expired certificate in 9D, a key without certificate in 9C */
	assert_null(piv_generate(f->piv, 0x9D, PIV_ALG_ECCP256, 0, 0, &pub));
	clen = make_cert(&pub, "Old Key", "20100101000000", "20200101000000",
	    cert, sizeof(cert));
	assert_null(piv_write_cert(f->piv, 0x9D, cert, clen));
	assert_null(piv_generate(f->piv, 0x9C, PIV_ALG_ECCP256, 0, 0, &pub));

	rt_contents ct;
	assert_null(read_contents(f, &ct));
	assert_int_equal(ct.nrows, 3);
	assert_int_equal(ct.rows[0].slot, 0x9A);
	assert_true(ct.rows[0].has_cert);
	assert_string_equal(ct.rows[0].cert.subject_cn, "Alice Example");
	assert_string_equal(ct.rows[0].cert.issuer_cn, "Test Issuer");
	assert_string_equal(ct.rows[0].alg, "ECCP256");
	assert_false(ct.rows[0].expired);
	assert_int_equal(ct.rows[1].slot, 0x9C);
	assert_false(ct.rows[1].has_cert);
	assert_true(ct.rows[1].key_known);
	assert_int_equal(ct.rows[2].slot, 0x9D);
	assert_true(ct.rows[2].expired);
	rt_contents_free(&ct);

	/* delete: the slot disappears from the Contents (its key stays) */
	assert_null(piv_delete_cert(f->piv, 0x9D));
	e = piv_read_cert(f->piv, 0x9D, &der, &der_len);
	assert_int_equal(rt_err_kind_of(e), RT_E_NOT_FOUND);
	rt_err_free(e);
}

static void
test_sign_always_pin(void **state)
{
	fx *f = *state;
	piv_pubkey pub;
	uint8_t hash[32] = { 1 }, sig[128];
	size_t sig_len;
	assert_null(piv_auth_mgmt(f->piv, PIV_ALG_3DES, default_mgmt, 24));
	assert_null(piv_generate(f->piv, 0x9C, PIV_ALG_ECCP256, 0, 0, &pub));
	assert_null(piv_verify_pin(f->piv, "123456", 6));
	assert_null(piv_sign(f->piv, 0x9C, PIV_ALG_ECCP256, hash, 32, sig,
	    sizeof(sig), &sig_len));
	/* 9C: the PIN is needed again before the next signature */
	rt_err *e = piv_sign(f->piv, 0x9C, PIV_ALG_ECCP256, hash, 32, sig,
	    sizeof(sig), &sig_len);
	assert_int_equal(rt_err_kind_of(e), RT_E_PERMISSION);
	rt_err_free(e);
}

static void
test_pin_counter(void **state)
{
	fx *f = *state;
	int retries;
	rt_err *e = piv_verify_pin(f->piv, "000000", 6);
	assert_int_equal(rt_err_kind_of(e), RT_E_PIN_WRONG);
	assert_int_equal(rt_err_detail(e), 2);
	rt_err_free(e);
	assert_null(piv_pin_retries(f->piv, &retries));
	assert_int_equal(retries, 2);
	e = piv_verify_pin(f->piv, "000000", 6);
	rt_err_free(e);
	e = piv_verify_pin(f->piv, "000000", 6);
	assert_true(rt_err_has(e, RT_E_PIN_BLOCKED));
	rt_err_free(e);
	e = piv_verify_pin(f->piv, "123456", 6);
	assert_true(rt_err_has(e, RT_E_PIN_BLOCKED));
	rt_err_free(e);
	assert_null(piv_pin_retries(f->piv, &retries));
	assert_int_equal(retries, 0);
	/* unblock with the PUK, then the new PIN works */
	assert_null(piv_unblock_pin(f->piv, "12345678", 8, "654321", 6));
	assert_null(piv_verify_pin(f->piv, "654321", 6));
	assert_null(piv_change_ref(f->piv, false, "654321", 6, "123456", 6));
	assert_null(piv_verify_pin(f->piv, "123456", 6));
}

static void
test_wrong_mgmt_key(void **state)
{
	fx *f = *state;
	uint8_t key[24];
	memcpy(key, default_mgmt, sizeof(key));
	key[0] ^= 1;
	key[1] ^= 0xF0;
	rt_err *e = piv_auth_mgmt(f->piv, PIV_ALG_3DES, key, sizeof(key));
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_AUTH));
	rt_err_free(e);
	e = piv_auth_mgmt(f->piv, PIV_ALG_AES128, key, 16);
	assert_non_null(e);
	rt_err_free(e);
}

static void
test_card_pulled(void **state)
{
	fx *f = *state;
	rt_contents ct;
	vpiv_fault_drop_at(f->card, vpiv_apdu_count(f->card) + 3);
	rt_err *e = read_contents(f, &ct);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_CARD_REMOVED));
	rt_err_free(e);
}

static void
test_short_responses(void **state)
{
	fx *f = *state;
	piv_pubkey pub;
	uint8_t cert[2048];
	assert_null(piv_auth_mgmt(f->piv, PIV_ALG_3DES, default_mgmt, 24));
	assert_null(piv_generate(f->piv, 0x9E, PIV_ALG_ECCP256, 0, 0, &pub));
	size_t clen = make_cert(&pub, "Card Auth", "20250101000000",
	    "20450101000000", cert, sizeof(cert));
	/* a reader without extended length: chaining both ways */
	f->t->ext_len = false;
	assert_null(piv_write_cert(f->piv, 0x9E, cert, clen));
	uint64_t before = f->t->apdu_count;
	uint8_t *der;
	size_t der_len;
	assert_null(piv_read_cert(f->piv, 0x9E, &der, &der_len));
	assert_int_equal(der_len, clen);
	assert_memory_equal(der, cert, clen);
	assert_true(f->t->apdu_count - before >= 2);	/* GET RESPONSE used */
	free(der);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_card, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generate_sign_write_read,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sign_always_pin, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pin_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_mgmt_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_card_pulled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_responses, setup,
		    teardown),
	};
	return cmocka_run_group_tests_name("card+vpiv", tests, NULL, NULL);
}
