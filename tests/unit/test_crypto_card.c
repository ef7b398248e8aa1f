/* Unit tests: the card signer against the in-process vpiv core - PIN
 * handling per policy (9C: before every signature; 9A: once; 9E: never),
 * a wrong PIN is returned and not retried, every scheme verifies with
 * mbedTLS; proof of possession and TC binding without pcscd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raterm/piv.h"
#include "raterm/signer.h"
#include "raterm/tc.h"
#include "raterm/vpiv.h"
#include "raterm/vpiv_transport.h"

typedef struct {
	rt_transport *t;
	piv_card *c;
	vpiv *v;
} fix;

typedef struct {
	const char *pin;
	int calls;
} pin_src;

static rt_err *
pin_cb(void *ctx, const char *prompt, char *buf, size_t cap, size_t *len)
{
	pin_src *p = ctx;
	(void)prompt;
	p->calls++;
	size_t n = strlen(p->pin);
	if (n > cap)
		return rt_err_new(RT_E_ARG, NULL, "too long");
	memcpy(buf, p->pin, n);
	*len = n;
	return NULL;
}

static int
setup(void **state)
{
	fix *f = calloc(1, sizeof(*f));
	vpiv_params p = { .serial = 4242 };
	if (vpiv_create(NULL, &p, false, &f->v) != NULL)
		return -1;
	if (vpiv_generate_key(f->v, 0x9A, VPIV_ALG_ECCP256, 0, 0) != NULL ||
	    vpiv_generate_key(f->v, 0x9C, VPIV_ALG_ECCP384, 0, 0) != NULL ||
	    vpiv_generate_key(f->v, 0x9D, VPIV_ALG_RSA2048, 0, 0) != NULL ||
	    vpiv_generate_key(f->v, 0x9E, VPIV_ALG_ECCP256, 0, 0) != NULL)
		return -1;
	if (rt_vpiv_transport(f->v, true, "vpiv-test", &f->t) != NULL)
		return -1;
	if (piv_open(f->t, &f->c) != NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fix *f = *state;
	piv_close(f->c);
	rt_transport_close(f->t);
	free(f);
	return 0;
}

static void
sign_verify(rt_signer *s, rt_hash h, rt_scheme sch)
{
	uint8_t dg[64], sig[1024];
	size_t sl;
	assert_null(rt_hash_data(h, "card", 4, dg));
	rt_err *e = rt_signer_sign(s, h, sch, dg, rt_hash_len(h), sig,
	    sizeof(sig), &sl);
	if (e != NULL) {
		char b[512];
		rt_err_format(e, b, sizeof(b));
		fail_msg("%s", b);
	}
	assert_null(rt_sig_verify(rt_signer_pk(s), h, sch, dg, rt_hash_len(h),
	    sig, sl));
}

static void
test_9c_pin_always(void **state)
{
	fix *f = *state;
	pin_src ps = { "123456", 0 };
	rt_card_signer_opts o = { .slot = 0x9C, .pin_cb = pin_cb, .pin_ctx = &ps };
	rt_signer *s;
	assert_null(rt_signer_card(f->c, &o, &s));
	assert_int_equal(rt_signer_keytype(s), RT_KEY_EC_P384);
	assert_string_equal(rt_signer_kind(s), "card");
	sign_verify(s, RT_HASH_SHA384, RT_SCHEME_ECDSA);
	sign_verify(s, RT_HASH_SHA256, RT_SCHEME_ECDSA);	/* shorter digest */
	sign_verify(s, RT_HASH_SHA512, RT_SCHEME_ECDSA);	/* truncated */
	/* a VERIFY before each of the three signatures, PIN asked each time */
	assert_int_equal(rt_signer_card_pin_verifies(s), 3);
	assert_int_equal(ps.calls, 3);
	rt_signer_free(s);
	/* keep_pin: asked once, still verified before every signature */
	ps.calls = 0;
	o.keep_pin = true;
	assert_null(rt_signer_card(f->c, &o, &s));
	sign_verify(s, RT_HASH_SHA384, RT_SCHEME_ECDSA);
	sign_verify(s, RT_HASH_SHA384, RT_SCHEME_ECDSA);
	assert_int_equal(rt_signer_card_pin_verifies(s), 2);
	assert_int_equal(ps.calls, 1);
	rt_signer_free(s);
}

static void
test_9a_pin_once_and_wrong_pin(void **state)
{
	fix *f = *state;
	vpiv_reset(f->v);	/* drops the PIN verified by the last test */
	piv_close(f->c);
	rt_err *e0 = piv_open(f->t, &f->c);
	assert_null(e0);
	pin_src bad = { "999999", 0 };
	rt_card_signer_opts o = { .slot = 0x9A, .pin_cb = pin_cb, .pin_ctx = &bad };
	rt_signer *s;
	assert_null(rt_signer_card(f->c, &o, &s));
	uint8_t dg[32] = { 1 }, sig[128];
	size_t sl;
	rt_err *e = rt_signer_sign(s, RT_HASH_SHA256, RT_SCHEME_DEFAULT, dg, 32,
	    sig, sizeof(sig), &sl);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_PIN_WRONG));
	assert_int_equal(bad.calls, 1);		/* not retried */
	rt_err_free(e);
	/* the next signature of the same signer does not try it again */
	e = rt_signer_sign(s, RT_HASH_SHA256, RT_SCHEME_DEFAULT, dg, 32, sig,
	    sizeof(sig), &sl);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_PIN_WRONG));
	assert_int_equal(bad.calls, 1);
	assert_int_equal(rt_signer_card_pin_verifies(s), 1);
	rt_err_free(e);
	rt_signer_free(s);
	pin_src good = { "123456", 0 };
	o.pin_ctx = &good;
	assert_null(rt_signer_card(f->c, &o, &s));
	sign_verify(s, RT_HASH_SHA256, RT_SCHEME_DEFAULT);
	sign_verify(s, RT_HASH_SHA256, RT_SCHEME_DEFAULT);
	assert_int_equal(good.calls, 1);	/* policy once */
	assert_int_equal(rt_signer_card_pin_verifies(s), 1);
	rt_signer_free(s);
}

static void
test_9d_rsa_schemes_9e_no_pin(void **state)
{
	fix *f = *state;
	pin_src ps = { "123456", 0 };
	rt_card_signer_opts o = { .slot = 0x9D, .pin_cb = pin_cb, .pin_ctx = &ps };
	rt_signer *s;
	assert_null(rt_signer_card(f->c, &o, &s));
	assert_int_equal(rt_signer_keytype(s), RT_KEY_RSA);
	sign_verify(s, RT_HASH_SHA256, RT_SCHEME_PKCS1);
	sign_verify(s, RT_HASH_SHA512, RT_SCHEME_PKCS1);
	sign_verify(s, RT_HASH_SHA256, RT_SCHEME_PSS);
	sign_verify(s, RT_HASH_SHA384, RT_SCHEME_PSS);
	/* proof of possession with the slot's own public key */
	assert_null(rt_pop_challenge(s, rt_signer_pk(s)));
	rt_signer_free(s);
	pin_src none = { "", 0 };
	rt_card_signer_opts o9e = { .slot = 0x9E, .pin_cb = pin_cb,
	    .pin_ctx = &none };
	assert_null(rt_signer_card(f->c, &o9e, &s));
	sign_verify(s, RT_HASH_SHA256, RT_SCHEME_ECDSA);
	assert_int_equal(none.calls, 0);
	rt_signer_free(s);
}

static void
test_pop_wrong_key(void **state)
{
	fix *f = *state;
	rt_signer *a, *e9;
	pin_src ps = { "123456", 0 };
	rt_card_signer_opts oa = { .slot = 0x9A, .pin_cb = pin_cb, .pin_ctx = &ps };
	rt_card_signer_opts oe = { .slot = 0x9E };
	assert_null(rt_signer_card(f->c, &oa, &a));
	assert_null(rt_signer_card(f->c, &oe, &e9));
	/* the 9E key signs, 9A's public key is expected: not possessed */
	rt_err *e = rt_pop_challenge(e9, rt_signer_pk(a));
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_TC_POSSESSION);
	assert_string_equal(rt_err_kind_name(rt_err_kind_of(e)), "TC_POSSESSION");
	rt_err_free(e);
	rt_signer_free(a);
	rt_signer_free(e9);
	/* an empty slot has no key */
	rt_card_signer_opts o82 = { .slot = 0x82 };
	e = rt_signer_card(f->c, &o82, &a);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_NOT_FOUND);
	rt_err_free(e);
}

static void
test_attest_in_process(void **state)
{
	fix *f = *state;
	uint8_t *der;
	size_t len;
	assert_null(piv_attest(f->c, 0x9A, &der, &len));
	assert_true(len > 100 && der[0] == 0x30);
	free(der);
	rt_err *e = piv_attest(f->c, 0x83, &der, &len);	/* empty slot */
	assert_non_null(e);
	rt_err_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_9c_pin_always),
		cmocka_unit_test(test_9a_pin_once_and_wrong_pin),
		cmocka_unit_test(test_9d_rsa_schemes_9e_no_pin),
		cmocka_unit_test(test_pop_wrong_key),
		cmocka_unit_test(test_attest_in_process),
	};
	return cmocka_run_group_tests_name("crypto_card", tests, setup, teardown);
}
