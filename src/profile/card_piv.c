/* card_piv.c - the PIV card profile (NIST SP 800-73-4, YubiKey): the card
 * interface of include/raterm/card.h over src/card/piv.c. Slots are the
 * key references; one certificate per key, no CA certificates; the
 * operator credential is the management key (9B). */
#include "profile_int.h"

#include "raterm/piv.h"
#include "raterm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const rt_card_caps caps_piv = {
	.name = "PIV", .id = "piv",
	.multi_cert_per_key = false, .ca_certs_on_card = false,
	.one_cert_reason = "a PIV card holds one certificate per key",
	.no_ca_reason = "a PIV card holds no CA certificates",
	.operator_name = "management key",
	.pin_always_key = PIV_SLOT_SIGN,
};

/* The management key of a PIV card as it leaves the factory (SP 800-78
 * test key, YubiKey default), used only when the officer names it. */
static const uint8_t default_mgmt[24] = {
	1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
};

rt_err *
prof_piv_open(rt_transport *t, void **impl)
{
	piv_card *c = NULL;
	rt_err *e = piv_open(t, &c);
	*impl = c;
	return e;
}

static void
p_close(void *impl)
{
	piv_close(impl);
}

static rt_err *
p_ident(void *impl, rt_card_ident *out)
{
	piv_card *c = impl;
	piv_chuid ch;
	rt_err *e = piv_read_chuid(c, &ch);
	if (e == NULL) {
		out->has_guid = ch.has_guid;
		memcpy(out->guid, ch.guid, sizeof(out->guid));
		out->has_expiry = ch.has_expiry;
		memcpy(out->expiry, ch.expiry, sizeof(out->expiry));
	} else if (rt_err_kind_of(e) == RT_E_NOT_FOUND)
		rt_err_free(e);
	else
		return e;
	e = piv_get_serial(c, &out->serial);
	if (e == NULL)
		out->has_serial = true;
	else if (rt_err_kind_of(e) == RT_E_NOT_SUPPORTED ||
	    rt_err_kind_of(e) == RT_E_NOT_FOUND ||
	    rt_err_kind_of(e) == RT_E_CARD_STATUS)
		rt_err_free(e);
	else
		return e;
	return NULL;
}

static bool
is_primary(uint8_t slot)
{
	return slot == 0x9A || slot == 0x9C || slot == 0x9D || slot == 0x9E;
}

/* One GET DATA per certificate object; GET METADATA only for the primary
 * slots without a certificate (every empty slot with RT_CARD_KEYS_ALL). */
static rt_err *
p_keys(void *impl, unsigned flags, rt_card_key *out, size_t cap, size_t *n,
    bool *has_metadata)
{
	piv_card *c = impl;
	bool try_meta = true;
	for (size_t i = 0; i < PIV_NUM_CERT_SLOTS && *n < cap; i++) {
		uint8_t slot = piv_cert_slots[i];
		rt_card_key *k = &out[*n];
		memset(k, 0, sizeof(*k));
		k->key = slot;
		rt_err *e = piv_read_cert(c, slot, &k->der, &k->der_len);
		if (e == NULL) {
			(*n)++;
			continue;
		}
		if (prof_card_gone(e))
			return e;
		if (rt_err_kind_of(e) != RT_E_NOT_FOUND) {
			/* the object is there but broken: show it as such */
			rt_err_format(e, k->error, sizeof(k->error));
			rt_err_free(e);
			(*n)++;
			continue;
		}
		rt_err_free(e);
		if (!try_meta || (!is_primary(slot) &&
		    !(flags & RT_CARD_KEYS_ALL)))
			continue;
		piv_metadata md;
		e = piv_get_metadata(c, slot, &md);
		if (e != NULL) {
			if (rt_err_kind_of(e) == RT_E_NOT_SUPPORTED)
				try_meta = false;
			else if (prof_card_gone(e))
				return e;
			rt_err_free(e);
			continue;
		}
		if (has_metadata != NULL)
			*has_metadata = true;
		k->key_known = true;
		snprintf(k->alg, sizeof(k->alg), "%s", piv_alg_name(md.alg));
		k->pin_policy = md.pin_policy;
		k->touch_policy = md.touch_policy;
		k->origin = md.origin;
		(*n)++;
	}
	return NULL;
}

static rt_err *
p_pin_retries(void *impl, int *retries)
{
	return piv_pin_retries(impl, retries);
}

static rt_err *
p_verify_pin(void *impl, const char *pin, size_t len)
{
	return piv_verify_pin(impl, pin, len);
}

static rt_err *
p_verify_pin_n(void *impl, unsigned which, const char *pin, size_t len)
{
	(void)which;	/* one PIN: the second is the same again */
	return piv_verify_pin(impl, pin, len);
}

static unsigned
p_key_pin(void *impl, uint8_t key)
{
	(void)impl;
	return key == caps_piv.pin_always_key ? 1 : 0;
}

static rt_err *
p_read_cert(void *impl, uint8_t key, uint8_t **der, size_t *len)
{
	return piv_read_cert(impl, key, der, len);
}

static rt_err *
p_write_cert(void *impl, uint8_t key, int index, const uint8_t *der,
    size_t len)
{
	if (index != 0)
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "slot %02x, certificate "
		    "%d: %s", key, index, caps_piv.one_cert_reason);
	return piv_write_cert(impl, key, der, len);
}

static rt_err *
p_holds_cert(void *impl, uint8_t key, const uint8_t *der, size_t len,
    bool *held)
{
	uint8_t *back = NULL;
	size_t blen = 0;
	rt_err *e = piv_read_cert(impl, key, &back, &blen);
	if (e != NULL) {
		if (!rt_err_has(e, RT_E_NOT_FOUND))
			return e;
		rt_err_free(e);
		return NULL;
	}
	*held = blen == len && memcmp(back, der, len) == 0;
	free(back);
	return NULL;
}

/* A PIV card holds no CA certificates: none listed, none written. */
static rt_err *
p_ca_certs(void *impl, rt_card_ca *out, size_t cap, size_t *n)
{
	(void)impl; (void)out; (void)cap;
	*n = 0;
	return NULL;
}

static rt_err *
p_write_ca_certs(void *impl, const rt_card_ca *ca, size_t n, bool replace)
{
	(void)impl; (void)ca; (void)n; (void)replace;
	return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "CA certificates: %s",
	    caps_piv.no_ca_reason);
}

static rt_err *
p_public_key(void *impl, uint8_t key, mbedtls_pk_context *pk)
{
	piv_metadata md;
	char s[4];
	rt_err *e = piv_get_metadata(impl, key, &md);
	if (e != NULL)
		return e;
	if (!md.has_pubkey)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "slot %s: the card does "
		    "not give the public key", piv_slot_name(key, s, sizeof(s)));
	return rt_pk_from_piv(md.alg, &md.pub, pk);
}

static piv_alg
mgmt_alg_for(piv_card *card, size_t len)
{
	piv_metadata md;
	rt_err *e = piv_get_metadata(card, PIV_SLOT_MGMT, &md);
	if (e == NULL && md.alg != PIV_ALG_NONE)
		return md.alg;
	rt_err_free(e);
	switch (len) {
	case 16: return PIV_ALG_AES128;
	case 32: return PIV_ALG_AES256;
	default: return PIV_ALG_3DES;
	}
}

static rt_err *
p_operator_auth(void *impl, int alg, const uint8_t *cred, size_t len)
{
	piv_card *c = impl;
	if (cred == NULL) {
		cred = default_mgmt;
		len = sizeof(default_mgmt);
	}
	if (alg == 0)
		alg = (int)mgmt_alg_for(c, len);
	return piv_auth_mgmt(c, (piv_alg)alg, cred, len);
}

static rt_err *
p_signer(void *impl, const rt_card_signer_spec *sp, rt_signer **out)
{
	rt_card_signer_opts so = {
		.slot = sp->key, .cert = sp->cert, .cert_len = sp->cert_len,
		.pin_cb = sp->pin_cb, .pin_ctx = sp->pin_ctx,
		.label = sp->label,
	};
	return rt_signer_card(impl, &so, out);
}

static rt_err *
p_verify_tc(void *impl, const rt_card_id *id, uint8_t key,
    const uint8_t *der, size_t len, const rt_tc_config *cfg,
    rt_tc_result *res)
{
	return rt_tc_verify_slot(impl, id, key, der, len, cfg, res);
}

const rt_card_ops prof_piv_ops = {
	.caps = &caps_piv,
	.ident = p_ident,
	.keys = p_keys,
	.pin_retries = p_pin_retries,
	.verify_pin = p_verify_pin,
	.read_cert = p_read_cert,
	.verify_pin_n = p_verify_pin_n,
	.key_pin = p_key_pin,
	.write_cert = p_write_cert,
	.holds_cert = p_holds_cert,
	.ca_certs = p_ca_certs,
	.write_ca_certs = p_write_ca_certs,
	.public_key = p_public_key,
	.operator_auth = p_operator_auth,
	.signer = p_signer,
	.verify_tc = p_verify_tc,
	.close = p_close,
};
