/* Unit tests of the PKCS#15 profile's writes against the in-process vp15
 * card: Redo replaces exactly the chosen certificate, Add writes one
 * beside the key's others, CA certificates replaced or kept and added,
 * the SO PIN as operator credential (a wrong one costs one try), signing
 * with the key's PIN (two PINs), the order of a write and its orphans. */
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
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>

#include "raterm/apdu.h"
#include "raterm/card.h"
#include "raterm/contents.h"
#include "raterm/csr.h"
#include "raterm/iso7816.h"
#include "raterm/signer.h"
#include "raterm/vp15.h"
#include "raterm/x509.h"
#include "raterm/x509write.h"

/* ---- a software CA (the test's issuer) -------------------------------- */

static rt_err *
ca_sign(void *impl, rt_hash h, rt_scheme scheme, const uint8_t *digest,
    size_t dlen, uint8_t *sig, size_t cap, size_t *sig_len)
{
	(void)scheme;
	int rc = mbedtls_pk_sign(impl, rt_hash_md(h), digest, dlen, sig, sig_len,
	    rt_rng, NULL);
	assert_true(*sig_len <= cap);
	return rc == 0 ? NULL : rt_err_new(RT_E_CRYPTO, NULL, "sign");
}

static void
ca_free(void *impl)
{
	mbedtls_pk_free(impl);
	free(impl);
}

static const rt_signer_ops ca_ops = { "test", ca_sign, ca_free };

typedef struct {
	rt_signer *s;
	uint8_t name[128];
	size_t name_len;
	uint8_t spki[200];
	size_t spki_len;
} test_ca;

static void
ca_new(test_ca *ca, const char *dn)
{
	mbedtls_pk_context *pk = calloc(1, sizeof(*pk));
	assert_non_null(pk);
	mbedtls_pk_init(pk);
	assert_int_equal(mbedtls_pk_setup(pk,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	    mbedtls_pk_ec(*pk), rt_rng, NULL), 0);
	int n = mbedtls_pk_write_pubkey_der(pk, ca->spki, sizeof(ca->spki));
	assert_true(n > 0);
	memmove(ca->spki, ca->spki + sizeof(ca->spki) - (size_t)n, (size_t)n);
	ca->spki_len = (size_t)n;
	assert_null(rt_signer_new(&ca_ops, pk, pk, "test CA", &ca->s));
	assert_null(rt_dn_encode(dn, ca->name, sizeof(ca->name), &ca->name_len));
}

/* A certificate for spki (NULL: the CA's own, self-signed) with serial. */
static uint8_t *
issue(test_ca *ca, const uint8_t *spki, size_t spki_len, const char *dn,
    uint8_t serial, size_t *len)
{
	uint8_t name[128];
	size_t nl;
	assert_null(rt_dn_encode(dn, name, sizeof(name), &nl));
	time_t now = time(NULL);
	rt_cert_tmpl t = {
		.serial = &serial, .serial_len = 1,
		.issuer = ca->name, .issuer_len = ca->name_len,
		.subject = name, .subject_len = nl,
		.not_before = now - 60, .not_after = now + 86400,
		.spki = spki ? spki : ca->spki,
		.spki_len = spki ? spki_len : ca->spki_len,
	};
	uint8_t *der;
	assert_null(rt_cert_write(&t, ca->s, &der, len));
	return der;
}

/* ---- fixture: a personalized vp15 with an SO PIN and a signature PIN --- */

typedef struct {
	vp15 *c;
	rt_transport *t;
	rt_card *card;
	test_ca ca;
} fx;

/* A certificate for the card's key number key (its iD: vp15's key
 * reference + 1). */
static uint8_t *
key_cert(fx *f, uint8_t key, uint8_t serial, size_t *len)
{
	uint8_t spki[200];
	size_t sl;
	uint8_t ref = (uint8_t)(key - 1);
	assert_null(vp15_key_pubkey_der(f->c, ref, spki, sizeof(spki), &sl));
	char dn[64];
	snprintf(dn, sizeof(dn), "CN=key %u serial %u", ref, serial);
	return issue(&f->ca, spki, sl, dn, serial, len);
}

static void
fx_open(fx *f)
{
	assert_null(rt_card_open(f->t, &f->card));
}

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_null(vp15_open(NULL, &f->c));
	vp15_perso p = { .nkeys = 3, .sign_pin = true, .so_pin = true,
	    .serial = 5000001 };
	assert_null(vp15_personalize(f->c, &p));
	assert_null(rt_vp15_transport(f->c, true, "vp15 test", &f->t));
	ca_new(&f->ca, "CN=Test CA,O=raterm");
	fx_open(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;
	rt_card_close(f->card);
	rt_transport_close(f->t);
	rt_signer_free(f->ca.s);
	free(f);
	return 0;
}

static void
so_pin(fx *f)
{
	assert_null(rt_card_operator_auth(f->card, 0,
	    (const uint8_t *)"87654321", 8));
}

static bool
exists(fx *f, uint16_t fid)
{
	uint8_t p[6] = { 0x3F, 0x00, 0x50, 0x15, (uint8_t)(fid >> 8),
	    (uint8_t)fid };
	size_t size;
	rt_err *e = iso_select_path(f->t, p, 6, &size);
	bool found = e == NULL;
	if (e != NULL)
		assert_true(rt_err_has(e, RT_E_NOT_FOUND));
	rt_err_free(e);
	return found;
}

/* The key references and certificate serials as the card lists them. */
static void
expect_keys(fx *f, const uint8_t *keys, const int *serials, const int *idx,
    size_t n)
{
	rt_card_key k[16];
	size_t got;
	assert_null(rt_card_keys(f->card, 0, k, 16, &got, NULL));
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(k[i].key, keys[i]);
		assert_int_equal(k[i].cert_index, idx[i]);
		if (serials[i] < 0) {
			assert_null(k[i].der);
			continue;
		}
		rt_cert_info ci;
		assert_non_null(k[i].der);
		assert_null(rt_cert_info_parse(k[i].der, k[i].der_len, &ci));
		char want[8];
		snprintf(want, sizeof(want), "%02X", serials[i]);
		assert_string_equal(ci.serial, want);
	}
	rt_card_keys_free(k, got);
}

static void
test_caps_and_so_pin(void **state)
{
	fx *f = *state;
	const rt_card_caps *caps = rt_card_caps_get(f->card);
	assert_true(caps->multi_cert_per_key);
	assert_true(caps->ca_certs_on_card);
	assert_true(caps->operator_is_pin);
	size_t len;
	uint8_t *a = key_cert(f, 1, 0x10, &len);

	/* without the SO PIN the card refuses; nothing is listed */
	rt_err *e = rt_card_write_cert(f->card, 1, RT_CARD_CERT_NEW, a, len);
	assert_true(rt_err_has(e, RT_E_PERMISSION));
	rt_err_free(e);
	/* the user PIN is not the SO PIN here */
	assert_null(rt_card_verify_pin(f->card, "123456", 6));
	e = rt_card_write_cert(f->card, 1, RT_CARD_CERT_NEW, a, len);
	assert_true(rt_err_has(e, RT_E_PERMISSION));
	rt_err_free(e);
	/* a wrong SO PIN costs exactly one try of the SO PIN */
	bool set;
	int total, left;
	e = rt_card_operator_auth(f->card, 0, (const uint8_t *)"11111111", 8);
	assert_true(rt_err_has(e, RT_E_AUTH));
	assert_true(rt_err_has(e, RT_E_PIN_WRONG));
	rt_err_free(e);
	vp15_pin_info(f->c, 5, &set, &total, &left);
	assert_int_equal(left, 2);
	vp15_pin_info(f->c, 1, &set, &total, &left);
	assert_int_equal(left, 3);
	e = rt_card_operator_auth(f->card, 0, NULL, 0);
	assert_true(rt_err_has(e, RT_E_ARG));
	rt_err_free(e);
	so_pin(f);
	vp15_pin_info(f->c, 5, &set, &total, &left);
	assert_int_equal(left, 3);
	/* the refused tries left empty EFs behind: orphans, taken again */
	assert_null(rt_card_write_cert(f->card, 1, RT_CARD_CERT_NEW, a, len));
	assert_false(exists(f, 0x3401));
	const uint8_t keys[] = { 1, 2, 3 };
	const int ser[] = { 0x10, -1, -1 }, idx[] = { 0, 0, 0 };
	expect_keys(f, keys, ser, idx, 3);
	free(a);
}

static void
test_add_and_redo(void **state)
{
	fx *f = *state;
	so_pin(f);
	size_t la, lb, lc, ld;
	uint8_t *a = key_cert(f, 1, 0x20, &la);
	uint8_t *b = key_cert(f, 1, 0x21, &lb);
	uint8_t *c = key_cert(f, 1, 0x22, &lc);
	uint8_t *d = key_cert(f, 2, 0x30, &ld);

	assert_null(rt_card_write_cert(f->card, 1, 0, a, la));     /* none yet */
	assert_null(rt_card_write_cert(f->card, 2, 0, d, ld));
	assert_null(rt_card_write_cert(f->card, 1, RT_CARD_CERT_NEW, b, lb));
	bool held;
	assert_null(rt_card_holds_cert(f->card, 1, b, lb, &held));
	assert_true(held);
	assert_null(rt_card_holds_cert(f->card, 2, b, lb, &held));
	assert_false(held);
	{
		const uint8_t keys[] = { 1, 1, 2, 3 };
		const int ser[] = { 0x20, 0x21, 0x30, -1 }, idx[] = { 0, 1, 0, 0 };
		expect_keys(f, keys, ser, idx, 4);
	}
	/* Redo of the second certificate: the first stays, the old EF goes */
	assert_null(rt_card_write_cert(f->card, 1, 1, c, lc));
	{
		const uint8_t keys[] = { 1, 1, 2, 3 };
		const int ser[] = { 0x20, 0x22, 0x30, -1 }, idx[] = { 0, 1, 0, 0 };
		expect_keys(f, keys, ser, idx, 4);
	}
	assert_null(rt_card_holds_cert(f->card, 1, b, lb, &held));
	assert_false(held);
	rt_err *e = rt_card_write_cert(f->card, 1, 5, c, lc);
	assert_true(rt_err_has(e, RT_E_NOT_FOUND));
	rt_err_free(e);
	e = rt_card_write_cert(f->card, 10, 0, c, lc);
	assert_true(rt_err_has(e, RT_E_NOT_FOUND));
	rt_err_free(e);
	/* what another open of the card reads: the same */
	rt_card_close(f->card);
	vp15_reset(f->c);
	fx_open(f);
	{
		const uint8_t keys[] = { 1, 1, 2, 3 };
		const int ser[] = { 0x20, 0x22, 0x30, -1 }, idx[] = { 0, 1, 0, 0 };
		expect_keys(f, keys, ser, idx, 4);
	}
	/* 3 certificate EFs: 3400, 3401 and 3403 (Redo's new one); 3402,
	 * the replaced one, deleted */
	for (unsigned fid = 0x3400; fid < 0x3405; fid++)
		assert_int_equal(exists(f, (uint16_t)fid), fid != 0x3402 &&
		    fid != 0x3404);
	free(a);
	free(b);
	free(c);
	free(d);
}

static void
test_ca_certs(void **state)
{
	fx *f = *state;
	so_pin(f);
	rt_card_ca in[3];
	memset(in, 0, sizeof(in));
	in[0].der = issue(&f->ca, NULL, 0, "CN=Test CA,O=raterm", 1,
	    &in[0].der_len);
	snprintf(in[0].label, sizeof(in[0].label), "Test CA");
	test_ca other;
	ca_new(&other, "CN=Other CA,O=raterm");
	in[1].der = issue(&other, NULL, 0, "CN=Other CA,O=raterm", 2,
	    &in[1].der_len);
	in[2] = in[0];                  /* given twice: written once */

	rt_card_ca out[8];
	size_t n;
	/* two at once: each its own EF */
	assert_null(rt_card_write_ca_certs(f->card, in, 2, true));
	assert_null(rt_card_ca_certs(f->card, out, 8, &n));
	assert_int_equal(n, 2);
	assert_memory_equal(out[0].der, in[0].der, in[0].der_len);
	assert_memory_equal(out[1].der, in[1].der, in[1].der_len);
	rt_card_ca_free(out, n);
	assert_null(rt_card_write_ca_certs(f->card, in, 1, true));
	assert_null(rt_card_ca_certs(f->card, out, 8, &n));
	assert_int_equal(n, 1);
	assert_string_equal(out[0].label, "Test CA");
	assert_memory_equal(out[0].der, in[0].der, in[0].der_len);
	rt_card_ca_free(out, n);
	/* keep and add the missing: the one on the card is not doubled */
	assert_null(rt_card_write_ca_certs(f->card, in, 3, false));
	assert_null(rt_card_ca_certs(f->card, out, 8, &n));
	assert_int_equal(n, 2);
	rt_card_ca_free(out, n);
	/* replace: only the other one stays */
	assert_null(rt_card_write_ca_certs(f->card, &in[1], 1, true));
	rt_card_close(f->card);
	vp15_reset(f->c);
	fx_open(f);
	assert_null(rt_card_ca_certs(f->card, out, 8, &n));
	assert_int_equal(n, 1);
	assert_memory_equal(out[0].der, in[1].der, in[1].der_len);
	rt_card_ca_free(out, n);
	/* CA certificates are not keys */
	rt_card_key k[8];
	assert_null(rt_card_keys(f->card, 0, k, 8, &n, NULL));
	assert_int_equal(n, 3);
	rt_card_keys_free(k, n);
	/* not a certificate */
	rt_card_ca bad = { .der = (uint8_t *)"\x02\x01\x00", .der_len = 3 };
	rt_err *e = rt_card_write_ca_certs(f->card, &bad, 1, false);
	assert_true(rt_err_has(e, RT_E_CERT));
	rt_err_free(e);
	free(in[0].der);
	free(in[1].der);
	rt_signer_free(other.s);
}

typedef struct {
	const char *pin;
	unsigned asked;
} pin_ctx;

static rt_err *
give_pin(void *ctx, const char *prompt, char *buf, size_t cap, size_t *len)
{
	(void)prompt;
	pin_ctx *p = ctx;
	p->asked++;
	*len = strlen(p->pin);
	assert_true(*len <= cap);
	memcpy(buf, p->pin, *len);
	return NULL;
}

static void
sign_check(rt_signer *s, rt_err_kind fails)
{
	uint8_t dig[32], sig[200];
	size_t sl;
	memset(dig, 0x5A, sizeof(dig));
	rt_err *e = rt_signer_sign(s, RT_HASH_SHA256, RT_SCHEME_DEFAULT, dig,
	    sizeof(dig), sig, sizeof(sig), &sl);
	if (fails != RT_E_OK) {
		assert_true(rt_err_has(e, fails));
		rt_err_free(e);
		return;
	}
	assert_null(e);
	assert_null(rt_sig_verify(rt_signer_pk(s), RT_HASH_SHA256,
	    RT_SCHEME_DEFAULT, dig, sizeof(dig), sig, sl));
}

static void
test_signer_two_pins(void **state)
{
	fx *f = *state;
	so_pin(f);
	size_t la, lc;
	uint8_t *a = key_cert(f, 1, 0x40, &la);
	uint8_t *c = key_cert(f, 3, 0x41, &lc);
	assert_null(rt_card_write_cert(f->card, 1, 0, a, la));
	assert_null(rt_card_write_cert(f->card, 3, 0, c, lc));
	assert_int_equal(rt_card_key_pin(f->card, 1), 0);
	assert_int_equal(rt_card_key_pin(f->card, 3), 1);
	/* the Contents carry it to the plan: each row the PIN its key takes */
	rt_contents ct;
	assert_null(rt_contents_read(f->card, NULL, time(NULL), 0, &ct));
	for (size_t i = 0; i < ct.nrows; i++)
		assert_int_equal(ct.rows[i].pin, ct.rows[i].slot == 3 ? 1 : 0);
	rt_contents_free(&ct);
	vp15_reset(f->c);

	/* key 0: the user PIN, asked once when the card wants it */
	pin_ctx pc = { "123456", 0 };
	rt_card_signer_spec sp = { .key = 1, .pin_cb = give_pin, .pin_ctx = &pc };
	rt_signer *s;
	assert_null(rt_card_signer(f->card, &sp, &s));
	sign_check(s, RT_E_OK);
	sign_check(s, RT_E_OK);
	assert_int_equal(pc.asked, 1);
	rt_signer_free(s);

	/* key 2: the signature PIN; the user PIN is refused once and never
	 * presented again */
	bool set;
	int total, left;
	pin_ctx bad = { "123456", 0 };
	sp = (rt_card_signer_spec){ .key = 3, .pin_cb = give_pin, .pin_ctx = &bad };
	assert_null(rt_card_signer(f->card, &sp, &s));
	sign_check(s, RT_E_PIN_WRONG);
	sign_check(s, RT_E_PIN_WRONG);
	assert_int_equal(bad.asked, 1);
	rt_signer_free(s);
	vp15_pin_info(f->c, 3, &set, &total, &left);
	assert_int_equal(left, 2);
	vp15_pin_info(f->c, 1, &set, &total, &left);
	assert_int_equal(left, 3);
	pin_ctx good = { "654321", 0 };
	sp.pin_ctx = &good;
	assert_null(rt_card_signer(f->card, &sp, &s));
	sign_check(s, RT_E_OK);
	rt_signer_free(s);
	/* the second PIN through the card interface */
	rt_err *e = rt_card_verify_pin_n(f->card, 1, "000000", 6);
	assert_true(rt_err_has(e, RT_E_PIN_WRONG));
	rt_err_free(e);
	assert_null(rt_card_verify_pin_n(f->card, 1, "654321", 6));
	free(a);
	free(c);
}

/* The card pulled at every APDU of a write in turn: afterwards every
 * certificate listed reads (never a CDF entry without its EF), the card
 * holds either the old state or the new certificate (Redo: never both,
 * never neither), and a write that answered holds the new one. */
static void
sweep(fx *f, uint8_t key, int index, const uint8_t *old, size_t ol,
    const uint8_t *der, size_t len)
{
	for (uint64_t k = 1; k < 60; k++) {
		so_pin(f);
		vp15_fault_drop_at(f->c, vp15_apdu_count(f->c) + k);
		rt_err *e = rt_card_write_cert(f->card, key, index, der, len);
		vp15_fault_drop_at(f->c, 0);
		rt_card_close(f->card);
		vp15_reset(f->c);
		fx_open(f);
		rt_card_key ks[16];
		size_t n;
		assert_null(rt_card_keys(f->card, 0, ks, 16, &n, NULL));
		for (size_t i = 0; i < n; i++)
			assert_string_equal(ks[i].error, "");
		rt_card_keys_free(ks, n);
		bool held_new, held_old = false;
		assert_null(rt_card_holds_cert(f->card, key, der, len, &held_new));
		if (old != NULL)
			assert_null(rt_card_holds_cert(f->card, key, old, ol,
			    &held_old));
		if (e == NULL)
			assert_true(held_new);
		rt_err_free(e);
		if (old != NULL)
			assert_true(held_new != held_old);
		if (held_new)
			return;
	}
	fail_msg("the write never went through");
}

static void
test_torn_writes(void **state)
{
	fx *f = *state;
	size_t la, lb, lc;
	uint8_t *a = key_cert(f, 2, 0x50, &la);
	uint8_t *b = key_cert(f, 2, 0x51, &lb);
	uint8_t *c = key_cert(f, 2, 0x52, &lc);
	sweep(f, 2, RT_CARD_CERT_NEW, NULL, 0, a, la);          /* Add */
	sweep(f, 2, RT_CARD_CERT_NEW, NULL, 0, b, lb);          /* Add */
	sweep(f, 2, 0, a, la, c, lc);                           /* Redo */
	{
		const uint8_t keys[] = { 1, 2, 2, 3 };
		const int ser[] = { -1, 0x52, 0x51, -1 }, idx[] = { 0, 0, 1, 0 };
		expect_keys(f, keys, ser, idx, 4);
	}
	/* the orphans of the torn writes: taken by the next write */
	so_pin(f);
	size_t ld;
	uint8_t *d = key_cert(f, 1, 0x53, &ld);
	assert_null(rt_card_write_cert(f->card, 1, RT_CARD_CERT_NEW, d, ld));
	unsigned efs = 0;
	for (unsigned fid = 0x3400; fid < 0x3410; fid++)
		efs += exists(f, (uint16_t)fid);
	assert_true(efs >= 3);
	free(a);
	free(b);
	free(c);
	free(d);
}

/* A write whose every APDU in turn the card answers with a bare 9000
 * (done nothing, said done): afterwards every certificate the CDF lists
 * reads (a certificate EF that was not written is never named; a CDF
 * write not done is not taken for done, so the old EF it still names
 * stays; a SELECT not done before DELETE FILE deletes nothing, never the
 * file still current: the CDF), and a Redo leaves the key one
 * certificate, the old or the new. */
static void
test_bare_9000(void **state)
{
	fx *f = *state;
	size_t la, lb;
	uint8_t *a = key_cert(f, 2, 0x60, &la);
	uint8_t *b = key_cert(f, 2, 0x61, &lb);
	so_pin(f);
	assert_null(rt_card_write_cert(f->card, 2, 0, a, la));
	const uint8_t *cur = a, *next = b;
	size_t cl = la, nl = lb;
	for (uint64_t k = 1; k < 60; k++) {
		so_pin(f);
		uint64_t at = vp15_apdu_count(f->c) + k;
		vp15_fault_sw_at(f->c, at, 0x9000);
		rt_err *e = rt_card_write_cert(f->card, 2, 0, next, nl);
		bool reached = vp15_apdu_count(f->c) >= at;
		vp15_fault_sw_at(f->c, 0, 0);
		rt_err_free(e);
		rt_card_close(f->card);
		vp15_reset(f->c);
		fx_open(f);
		rt_card_key ks[16];
		size_t n, certs2 = 0;
		assert_null(rt_card_keys(f->card, 0, ks, 16, &n, NULL));
		for (size_t i = 0; i < n; i++) {
			assert_string_equal(ks[i].error, "");
			certs2 += ks[i].key == 2 && ks[i].der != NULL;
		}
		rt_card_keys_free(ks, n);
		assert_int_equal(certs2, 1);
		bool held_new = false, held_old = false;
		assert_null(rt_card_holds_cert(f->card, 2, next, nl, &held_new));
		assert_null(rt_card_holds_cert(f->card, 2, cur, cl, &held_old));
		assert_true(held_new != held_old);
		if (held_new) {	/* the next Redo goes the other way */
			const uint8_t *t = cur;
			size_t tl = cl;
			cur = next, cl = nl, next = t, nl = tl;
		}
		if (!reached)
			break;
	}
	free(a);
	free(b);
}

/* After a write that failed at any one command (answered a bare 9000 or
 * 6F00 without being done), the same card handle must say what the card
 * holds, as the engine asks it right away: a CDF written whose read-back
 * was lost holds the new certificate (it once said not, from the CDF it
 * kept, and the certificate on the card was rejected). */
static void
test_holds_after_failed_write(void **state)
{
	fx *f = *state;
	static const uint16_t sws[] = { 0x9000, 0x6F00 };
	size_t la, lb;
	uint8_t *a = key_cert(f, 2, 0x62, &la);
	uint8_t *b = key_cert(f, 2, 0x63, &lb);
	so_pin(f);
	assert_null(rt_card_write_cert(f->card, 2, 0, a, la));
	const uint8_t *cur = a, *next = b;
	size_t cl = la, nl = lb;
	for (size_t w = 0; w < 2; w++)
		for (uint64_t k = 1; k < 60; k++) {
			so_pin(f);
			uint64_t at = vp15_apdu_count(f->c) + k;
			vp15_fault_sw_at(f->c, at, sws[w]);
			rt_err *e = rt_card_write_cert(f->card, 2, 0, next, nl);
			bool reached = vp15_apdu_count(f->c) >= at;
			vp15_fault_sw_at(f->c, 0, 0);
			bool failed = e != NULL;
			rt_err_free(e);
			bool same_new = false;
			assert_null(rt_card_holds_cert(f->card, 2, next, nl,
			    &same_new));
			rt_card_close(f->card);
			vp15_reset(f->c);
			fx_open(f);
			bool held_new = false;
			assert_null(rt_card_holds_cert(f->card, 2, next, nl,
			    &held_new));
			assert_int_equal(same_new, held_new);
			if (!failed)
				assert_true(held_new);
			if (held_new) {
				const uint8_t *t = cur;
				size_t tl = cl;
				cur = next, cl = nl, next = t, nl = tl;
			}
			if (!reached)
				break;
		}
	free(a);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_caps_and_so_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_and_redo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ca_certs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signer_two_pins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bare_9000, setup, teardown),
		cmocka_unit_test_setup_teardown(test_holds_after_failed_write, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
