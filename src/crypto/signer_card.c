/* signer_card.c - a signer over a PIV card slot; see signer.h */
#include "raterm/signer.h"
#include "raterm/util.h"
#include "crypto_int.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/rsa.h>

typedef struct {
	piv_card *card;
	uint8_t slot;
	piv_alg alg;
	uint8_t policy;
	size_t klen, modbits, ec_len;
	rt_pin_cb cb;
	void *cb_ctx;
	bool keep;
	bool have_pin;
	bool pin_refused;	/* the card refused a PIN: never try another */
	char pin[16];
	size_t pin_len;
	unsigned verifies;
	char prompt[320];
} card_impl;

static void
card_free(void *p)
{
	card_impl *ci = p;
	if (ci == NULL)
		return;
	rt_wipe(ci->pin, sizeof(ci->pin));
	free(ci);
}

static rt_err *
card_verify(card_impl *ci)
{
	char buf[64];
	size_t len = 0;
	rt_err *e;

	if (ci->pin_refused)
		return rt_err_new(RT_E_PIN_WRONG, NULL, "slot %02x: the card "
		    "refused the PIN given; it is not tried again", ci->slot);
	if (!ci->have_pin) {
		if (ci->cb == NULL)
			return rt_err_new(RT_E_PERMISSION, NULL, "slot %02x needs the "
			    "card PIN and none can be asked for", ci->slot);
		e = ci->cb(ci->cb_ctx, ci->prompt, buf, sizeof(buf), &len);
		if (e != NULL) {
			rt_wipe(buf, sizeof(buf));
			return e;
		}
		if (len > sizeof(ci->pin)) {
			rt_wipe(buf, sizeof(buf));
			return rt_err_new(RT_E_PIN_FORMAT, NULL, "PIN longer than "
			    "%zu characters", sizeof(ci->pin));
		}
		memcpy(ci->pin, buf, len);
		ci->pin_len = len;
		ci->have_pin = true;
		rt_wipe(buf, sizeof(buf));
	}
	e = piv_verify_pin(ci->card, ci->pin, ci->pin_len);
	ci->verifies++;
	if (rt_err_has(e, RT_E_PIN_WRONG) || rt_err_has(e, RT_E_PIN_BLOCKED))
		ci->pin_refused = true;	/* a callback would give it again */
	if (e != NULL || !ci->keep) {
		/* never retry a wrong PIN, and forget it */
		rt_wipe(ci->pin, sizeof(ci->pin));
		ci->pin_len = 0;
		ci->have_pin = false;
	}
	return e;
}

static rt_err *
card_sign(void *p, rt_hash h, rt_scheme scheme, const uint8_t *digest,
    size_t dlen, uint8_t *sig, size_t cap, size_t *sig_len)
{
	card_impl *ci = p;
	uint8_t in[512], out[1024];
	size_t in_len, out_len;
	rt_err *e;

	if (scheme == RT_SCHEME_PKCS1) {
		if (ci->klen > sizeof(in))
			return rt_err_new(RT_E_ARG, NULL, "RSA key too large");
		e = rt_emsa_pkcs1_encode(h, digest, dlen, ci->klen, in);
		in_len = ci->klen;
	} else if (scheme == RT_SCHEME_PSS) {
		if (ci->klen > sizeof(in))
			return rt_err_new(RT_E_ARG, NULL, "RSA key too large");
		e = rt_emsa_pss_encode(h, digest, dlen, ci->modbits, in, ci->klen);
		in_len = ci->klen;
	} else {
		/* the card truncates longer digests; shorter ones are padded on
		 * the left, which keeps their integer value (SEC 1, 4.1.3) */
		e = NULL;
		if (dlen >= ci->ec_len) {
			memcpy(in, digest, ci->ec_len);
		} else {
			memset(in, 0, ci->ec_len - dlen);
			memcpy(in + ci->ec_len - dlen, digest, dlen);
		}
		in_len = ci->ec_len;
	}
	if (e != NULL)
		return e;
	if (ci->policy == PIV_PIN_POLICY_ALWAYS &&
	    (e = card_verify(ci)) != NULL)
		goto out;
	e = piv_sign(ci->card, ci->slot, ci->alg, in, in_len, out, sizeof(out),
	    &out_len);
	if (e != NULL && rt_err_kind_of(e) == RT_E_PERMISSION &&
	    ci->policy != PIV_PIN_POLICY_NEVER) {
		/* the card wants the PIN (policy once, not yet verified; or a
		 * policy the card did not tell) */
		rt_err_free(e);
		if ((e = card_verify(ci)) != NULL)
			goto out;
		e = piv_sign(ci->card, ci->slot, ci->alg, in, in_len, out,
		    sizeof(out), &out_len);
	}
	if (e != NULL)
		goto out;
	if (ci->klen != 0) {
		/* raw RSA: exactly the key length */
		if (out_len > ci->klen || ci->klen > cap) {
			e = rt_err_new(RT_E_PROTOCOL, NULL, "card returned a %zu-byte "
			    "RSA signature for a %zu-byte key", out_len, ci->klen);
			goto out;
		}
		memset(sig, 0, ci->klen - out_len);
		memcpy(sig + ci->klen - out_len, out, out_len);
		*sig_len = ci->klen;
	} else {
		if (out_len > cap) {
			e = rt_err_new(RT_E_TOO_BIG, NULL, "signature");
			goto out;
		}
		memcpy(sig, out, out_len);
		*sig_len = out_len;
	}
out:
	rt_wipe(in, sizeof(in));
	return e;
}

static const rt_signer_ops card_ops = {
	.kind = "card",
	.sign = card_sign,
	.free = card_free,
};

rt_err *
rt_pk_from_piv(piv_alg alg, const piv_pubkey *pub, mbedtls_pk_context *pk)
{
	int rc;
	mbedtls_pk_init(pk);
	if (pub->n != NULL && pub->e != NULL) {
		if ((rc = mbedtls_pk_setup(pk,
		    mbedtls_pk_info_from_type(MBEDTLS_PK_RSA))) != 0)
			goto fail;
		mbedtls_rsa_context *rsa = mbedtls_pk_rsa(*pk);
		if ((rc = mbedtls_rsa_import_raw(rsa, pub->n, pub->n_len, NULL, 0,
		    NULL, 0, NULL, 0, pub->e, pub->e_len)) != 0 ||
		    (rc = mbedtls_rsa_complete(rsa)) != 0 ||
		    (rc = mbedtls_rsa_check_pubkey(rsa)) != 0)
			goto fail;
		return NULL;
	}
	if (pub->point != NULL) {
		mbedtls_ecp_group_id gid = alg == PIV_ALG_ECCP384 ?
		    MBEDTLS_ECP_DP_SECP384R1 : MBEDTLS_ECP_DP_SECP256R1;
		if ((rc = mbedtls_pk_setup(pk,
		    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0)
			goto fail;
		mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
		if ((rc = mbedtls_ecp_group_load(&ec->grp, gid)) != 0 ||
		    (rc = mbedtls_ecp_point_read_binary(&ec->grp, &ec->Q,
		    pub->point, pub->point_len)) != 0 ||
		    (rc = mbedtls_ecp_check_pubkey(&ec->grp, &ec->Q)) != 0)
			goto fail;
		return NULL;
	}
	return rt_err_new(RT_E_FORMAT, NULL, "public-key template holds no key");
fail:
	mbedtls_pk_free(pk);
	return rt_err_new(RT_E_CRYPTO, NULL, "bad %s public key from the card "
	    "(mbedTLS -0x%04x)", piv_alg_name(alg), (unsigned)-rc);
}

static piv_alg
alg_of(const mbedtls_pk_context *pk)
{
	switch (rt_pk_keytype(pk)) {
	case RT_KEY_EC_P256: return PIV_ALG_ECCP256;
	case RT_KEY_EC_P384: return PIV_ALG_ECCP384;
	case RT_KEY_RSA:
		switch (mbedtls_pk_get_bitlen(pk)) {
		case 1024: return PIV_ALG_RSA1024;
		case 2048: return PIV_ALG_RSA2048;
		case 3072: return PIV_ALG_RSA3072;
		case 4096: return PIV_ALG_RSA4096;
		default: return PIV_ALG_NONE;
		}
	default: return PIV_ALG_NONE;
	}
}

static bool
transport_error(const rt_err *e)
{
	return rt_err_has(e, RT_E_CARD_REMOVED) || rt_err_has(e, RT_E_TRANSPORT) ||
	    rt_err_has(e, RT_E_PCSC) || rt_err_has(e, RT_E_NO_CARD) ||
	    rt_err_has(e, RT_E_FAULT);
}

rt_err *
rt_signer_card(piv_card *c, const rt_card_signer_opts *o, rt_signer **out)
{
	mbedtls_pk_context pk;
	mbedtls_x509_crt crt;
	piv_metadata md;
	bool have_md = false, have_pk = false;
	uint8_t *der = NULL;
	size_t der_len = 0;
	card_impl *ci;
	char sname[4];
	rt_err *e;

	*out = NULL;
	mbedtls_pk_init(&pk);
	mbedtls_x509_crt_init(&crt);
	if (piv_cert_tag(o->slot) == 0 || o->slot == PIV_SLOT_ATTEST)
		return rt_err_new(RT_E_ARG, NULL, "slot %02x is not a key slot",
		    o->slot);
	piv_slot_name(o->slot, sname, sizeof(sname));

	e = piv_get_metadata(c, o->slot, &md);
	if (e == NULL)
		have_md = true;
	else if (transport_error(e))
		return e;
	else
		rt_err_free(e);

	if (o->cert != NULL) {
		if ((der = malloc(o->cert_len)) == NULL)
			return rt_err_new(RT_E_NOMEM, NULL, "certificate");
		memcpy(der, o->cert, o->cert_len);
		der_len = o->cert_len;
	} else if ((e = piv_read_cert(c, o->slot, &der, &der_len)) != NULL) {
		if (rt_err_kind_of(e) != RT_E_NOT_FOUND)
			return rt_err_wrap(e, "certificate of slot %s", sname);
		rt_err_free(e);
		der = NULL;
	}
	if (der != NULL) {
		int rc = mbedtls_x509_crt_parse_der(&crt, der, der_len);
		if (rc != 0) {
			free(der);
			mbedtls_x509_crt_free(&crt);
			return rt_err_new(RT_E_CERT, NULL, "certificate of slot %s does "
			    "not parse (mbedTLS -0x%04x)", sname, (unsigned)-rc);
		}
		have_pk = true;
	} else if (have_md && md.has_pubkey) {
		if ((e = rt_pk_from_piv(md.alg, &md.pub, &pk)) != NULL)
			return rt_err_wrap(e, "slot %s", sname);
		have_pk = true;
	}
	if (!have_pk) {
		mbedtls_x509_crt_free(&crt);
		return rt_err_new(RT_E_NOT_FOUND, NULL, "slot %s has no certificate "
		    "and the card does not tell its public key", sname);
	}
	const mbedtls_pk_context *pub = der != NULL ? &crt.pk : &pk;

	if ((ci = calloc(1, sizeof(*ci))) == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "card signer");
		goto out;
	}
	ci->card = c;
	ci->slot = o->slot;
	ci->alg = o->alg != PIV_ALG_NONE ? o->alg :
	    have_md && md.alg != PIV_ALG_NONE ? md.alg : alg_of(pub);
	ci->policy = o->pin_policy;
	if (ci->policy == PIV_PIN_POLICY_DEFAULT && have_md)
		ci->policy = md.pin_policy;
	if (ci->policy == PIV_PIN_POLICY_DEFAULT)
		ci->policy = o->slot == PIV_SLOT_SIGN ? PIV_PIN_POLICY_ALWAYS :
		    o->slot == PIV_SLOT_CARDAUTH ? PIV_PIN_POLICY_NEVER :
		    PIV_PIN_POLICY_ONCE;
	ci->cb = o->pin_cb;
	ci->cb_ctx = o->pin_ctx;
	ci->keep = o->keep_pin;
	snprintf(ci->prompt, sizeof(ci->prompt), "PIN of the card in \"%s\" "
	    "(slot %s)", piv_transport(c)->reader, sname);
	rt_keytype kt = rt_pk_keytype(pub);
	if (kt == RT_KEY_RSA) {
		ci->modbits = mbedtls_pk_get_bitlen(pub);
		ci->klen = (ci->modbits + 7) / 8;
	} else
		ci->ec_len = kt == RT_KEY_EC_P384 ? 48 : 32;
	if (alg_of(pub) != ci->alg) {
		e = rt_err_new(RT_E_CERT, NULL, "slot %s: the card says %s but the "
		    "certificate holds another key type", sname,
		    piv_alg_name(ci->alg));
		card_free(ci);
		goto out;
	}
	char desc[160];
	if (o->label != NULL)
		snprintf(desc, sizeof(desc), "%.40s (slot %s in \"%.96s\")", o->label,
		    sname, piv_transport(c)->reader);
	else
		snprintf(desc, sizeof(desc), "card slot %s", sname);
	if ((e = rt_signer_new(&card_ops, ci, pub, desc, out)) != NULL)
		goto out;
	if (der != NULL && (e = rt_signer_add_cert(*out, der, der_len)) != NULL) {
		rt_signer_free(*out);
		*out = NULL;
	}
out:
	free(der);
	mbedtls_x509_crt_free(&crt);
	mbedtls_pk_free(&pk);
	return e;
}

unsigned
rt_signer_card_pin_verifies(const rt_signer *s)
{
	const card_impl *ci = rt_signer_impl(s, &card_ops);
	return ci ? ci->verifies : 0;
}
