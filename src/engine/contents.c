/* contents.c - the Contents model; see include/raterm/contents.h */
#include "raterm/contents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
fill_cert(rt_key_row *r, uint8_t *der, size_t len, const rt_castore *tcas,
    time_t now)
{
	rt_err *e = rt_cert_info_parse(der, len, &r->cert);
	if (e != NULL) {
		rt_err_format(e, r->error, sizeof(r->error));
		rt_err_free(e);
		free(der);
		return;
	}
	r->has_cert = true;
	r->der = der;
	r->der_len = len;
	if (r->alg[0] == '\0')
		memcpy(r->alg, r->cert.key_alg, sizeof(r->alg));
	r->expired = now > r->cert.na;
	r->not_yet_valid = now < r->cert.nb;
	r->tc = rt_castore_issued(tcas, der, len);
}

rt_err *
rt_contents_read(rt_card *c, const rt_castore *tcas, time_t now,
    unsigned flags, rt_contents *out)
{
	rt_transport *t = rt_card_transport(c);
	uint64_t start = t->apdu_count;
	rt_err *e;

	memset(out, 0, sizeof(*out));
	snprintf(out->reader, sizeof(out->reader), "%s", t->reader);
	snprintf(out->profile, sizeof(out->profile), "%s",
	    rt_card_caps_get(c)->id);
	out->pin_retries = -1;

	rt_card_ident id;
	if ((e = rt_card_ident_read(c, &id)) != NULL)
		goto fail;
	out->has_guid = id.has_guid;
	memcpy(out->guid, id.guid, sizeof(out->guid));
	out->has_chuid_expiry = id.has_expiry;
	memcpy(out->chuid_expiry, id.expiry, sizeof(out->chuid_expiry));
	out->has_serial = id.has_serial;
	out->serial = id.serial;

	if ((e = rt_card_pin_retries(c, &out->pin_retries)) != NULL) {
		if (rt_err_has(e, RT_E_CARD_REMOVED) ||
		    rt_err_has(e, RT_E_TRANSPORT) || rt_err_has(e, RT_E_PCSC))
			goto fail;
		rt_err_free(e);	/* the header shows "unknown" */
		out->pin_retries = -1;
	}

	rt_card_key keys[RT_MAX_KEYS];
	size_t nk = 0;
	if ((e = rt_card_keys(c, (flags & RT_CONTENTS_ALL_SLOTS) ?
	    RT_CARD_KEYS_ALL : 0, keys, RT_MAX_KEYS, &nk,
	    &out->has_metadata)) != NULL)
		goto fail;
	for (size_t i = 0; i < nk; i++) {
		rt_key_row *r = &out->rows[out->nrows++];
		memset(r, 0, sizeof(*r));
		r->slot = keys[i].key;
		memcpy(r->alg, keys[i].alg, sizeof(r->alg));
		r->key_known = keys[i].key_known;
		r->pin_policy = keys[i].pin_policy;
		r->touch_policy = keys[i].touch_policy;
		r->origin = keys[i].origin;
		r->cert_index = keys[i].cert_index;
		r->pin = rt_card_key_pin(c, r->slot) >= 1 ? 1 : 0;
		memcpy(r->error, keys[i].error, sizeof(r->error));
		if (keys[i].der != NULL) {
			fill_cert(r, keys[i].der, keys[i].der_len, tcas, now);
			keys[i].der = NULL;	/* the row owns it now */
		}
	}

	rt_card_ca ca[RT_MAX_CA];
	size_t nca = 0;
	if ((e = rt_card_ca_certs(c, ca, RT_MAX_CA, &nca)) != NULL)
		goto fail;
	for (size_t i = 0; i < nca; i++) {
		rt_ca_row *r = &out->ca[out->nca++];
		memset(r, 0, sizeof(*r));
		memcpy(r->label, ca[i].label, sizeof(r->label));
		memcpy(r->error, ca[i].error, sizeof(r->error));
		if (ca[i].der == NULL)
			continue;
		rt_err *pe = rt_cert_info_parse(ca[i].der, ca[i].der_len, &r->cert);
		if (pe != NULL) {
			rt_err_format(pe, r->error, sizeof(r->error));
			rt_err_free(pe);
			free(ca[i].der);
			continue;
		}
		r->has_cert = true;
		r->der = ca[i].der;	/* the row owns it now */
		r->der_len = ca[i].der_len;
	}
	out->apdus = t->apdu_count - start;
	return NULL;
fail:
	rt_contents_free(out);
	return e;
}

char *
rt_key_name(uint8_t slot, int cert_index, char *buf, size_t cap)
{
	char s[4];
	piv_slot_name(slot, s, sizeof(s));
	if (cert_index > 0)
		snprintf(buf, cap, "%s.%d", s, cert_index % 100);
	else
		snprintf(buf, cap, "%s", s);
	return buf;
}

void
rt_contents_free(rt_contents *ct)
{
	for (size_t i = 0; i < ct->nrows; i++) {
		free(ct->rows[i].der);
		ct->rows[i].der = NULL;
	}
	ct->nrows = 0;
	for (size_t i = 0; i < ct->nca; i++) {
		free(ct->ca[i].der);
		ct->ca[i].der = NULL;
	}
	ct->nca = 0;
}

/* ---- TC verification of a Contents ------------------------------------------ */

rt_err *
rt_contents_verify_tc(rt_card *c, const rt_contents *ct,
    const rt_tc_config *cfg, unsigned flags, rt_tc_result *res, size_t cap,
    size_t *n)
{
	rt_card_id id = { .has_serial = ct->has_serial, .serial = ct->serial,
	    .has_guid = ct->has_guid };
	bool pick[RT_MAX_KEYS] = { false }, any = false;
	memcpy(id.guid, ct->guid, sizeof(id.guid));
	*n = 0;
	if (rt_castore_count(cfg->transport_cas) == 0)
		return rt_err_new(RT_E_ARG, NULL, "no transport CA configured");
	for (size_t i = 0; i < ct->nrows && i < RT_MAX_KEYS; i++) {
		const rt_key_row *r = &ct->rows[i];
		if (!r->has_cert || r->der == NULL)
			continue;
		pick[i] = (flags & RT_TC_ALL_CERTS) || r->tc ||
		    rt_tc_claimed(cfg, r->der, r->der_len);
		any |= pick[i];
	}
	if (!any && (flags & RT_TC_ALL_IF_NONE))
		for (size_t i = 0; i < ct->nrows && i < RT_MAX_KEYS; i++)
			pick[i] = ct->rows[i].has_cert && ct->rows[i].der != NULL;
	for (size_t i = 0; i < ct->nrows && i < RT_MAX_KEYS && *n < cap;
	    i++) {
		const rt_key_row *r = &ct->rows[i];
		if (!pick[i])
			continue;
		/* a key behind a PIN of its own (PKCS#15's signature PIN)
		 * proves possession after that PIN, never the first one */
		rt_tc_config kc = *cfg;
		if (rt_card_caps_get(c)->second_pin_own &&
		    rt_card_key_pin(c, r->slot) == 1) {
			kc.pin_cb = cfg->pin2_cb;
			kc.pin_ctx = cfg->pin2_ctx;
		}
		rt_err *e = rt_card_verify_tc(c, &id, r->slot, r->der, r->der_len,
		    &kc, &res[*n]);
		(*n)++;
		if (e != NULL && rt_card_gone(e))
			return e;
		bool pin_failed = rt_err_has(e, RT_E_PIN_WRONG) ||
		    rt_err_has(e, RT_E_PIN_BLOCKED) ||
		    res[*n - 1].failed == RT_E_PIN_WRONG ||
		    res[*n - 1].failed == RT_E_PIN_BLOCKED;
		/* no way to ask for the PIN: the next slot cannot do better */
		bool no_pin = rt_err_has(e, RT_E_USAGE) ||
		    res[*n - 1].failed == RT_E_USAGE;
		rt_err_free(e);
		if (pin_failed || no_pin)
			break;	/* never try a wrong PIN again on the next slot */
	}
	return NULL;
}
