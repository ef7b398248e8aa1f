/* contents.c - the Contents model; see include/raterm/contents.h */
#include "raterm/contents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
is_primary(uint8_t slot)
{
	return slot == 0x9A || slot == 0x9C || slot == 0x9D || slot == 0x9E;
}

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
rt_contents_read(piv_card *c, const rt_castore *tcas, time_t now,
    unsigned flags, rt_contents *out)
{
	rt_transport *t = piv_transport(c);
	uint64_t start = t->apdu_count;
	bool try_meta = true;
	rt_err *e;

	memset(out, 0, sizeof(*out));
	snprintf(out->reader, sizeof(out->reader), "%s", t->reader);
	snprintf(out->profile, sizeof(out->profile), "piv");
	out->pin_retries = -1;

	piv_chuid ch;
	e = piv_read_chuid(c, &ch);
	if (e == NULL) {
		out->has_guid = ch.has_guid;
		memcpy(out->guid, ch.guid, sizeof(out->guid));
		out->has_chuid_expiry = ch.has_expiry;
		memcpy(out->chuid_expiry, ch.expiry, sizeof(out->chuid_expiry));
	} else if (rt_err_kind_of(e) == RT_E_NOT_FOUND)
		rt_err_free(e);
	else
		goto fail;

	e = piv_get_serial(c, &out->serial);
	if (e == NULL)
		out->has_serial = true;
	else if (rt_err_kind_of(e) == RT_E_NOT_SUPPORTED ||
	    rt_err_kind_of(e) == RT_E_NOT_FOUND ||
	    rt_err_kind_of(e) == RT_E_CARD_STATUS)
		rt_err_free(e);
	else
		goto fail;

	if ((e = piv_pin_retries(c, &out->pin_retries)) != NULL) {
		if (rt_err_has(e, RT_E_CARD_REMOVED) ||
		    rt_err_has(e, RT_E_TRANSPORT) || rt_err_has(e, RT_E_PCSC))
			goto fail;
		rt_err_free(e);	/* the header shows "unknown" */
		out->pin_retries = -1;
	}

	for (size_t i = 0; i < PIV_NUM_CERT_SLOTS; i++) {
		uint8_t slot = piv_cert_slots[i];
		rt_key_row *r = &out->rows[out->nrows];
		uint8_t *der = NULL;
		size_t len = 0;

		memset(r, 0, sizeof(*r));
		r->slot = slot;
		e = piv_read_cert(c, slot, &der, &len);
		if (e == NULL) {
			fill_cert(r, der, len, tcas, now);
			out->nrows++;
			continue;
		}
		if (rt_err_has(e, RT_E_CARD_REMOVED) ||
		    rt_err_has(e, RT_E_TRANSPORT) || rt_err_has(e, RT_E_PCSC) ||
		    rt_err_has(e, RT_E_NOMEM))
			goto fail;
		if (rt_err_kind_of(e) != RT_E_NOT_FOUND) {
			/* the object is there but broken: show it as such */
			rt_err_format(e, r->error, sizeof(r->error));
			rt_err_free(e);
			out->nrows++;
			continue;
		}
		rt_err_free(e);
		if (!try_meta || (!is_primary(slot) &&
		    !(flags & RT_CONTENTS_ALL_SLOTS)))
			continue;
		piv_metadata md;
		e = piv_get_metadata(c, slot, &md);
		if (e != NULL) {
			if (rt_err_kind_of(e) == RT_E_NOT_SUPPORTED)
				try_meta = false;
			else if (rt_err_has(e, RT_E_CARD_REMOVED) ||
			    rt_err_has(e, RT_E_TRANSPORT) || rt_err_has(e, RT_E_PCSC))
				goto fail;
			rt_err_free(e);
			continue;
		}
		out->has_metadata = true;
		r->key_known = true;
		snprintf(r->alg, sizeof(r->alg), "%s", piv_alg_name(md.alg));
		r->pin_policy = md.pin_policy;
		r->touch_policy = md.touch_policy;
		r->origin = md.origin;
		out->nrows++;
	}
	out->apdus = t->apdu_count - start;
	return NULL;
fail:
	rt_contents_free(out);
	return e;
}

void
rt_contents_free(rt_contents *ct)
{
	for (size_t i = 0; i < ct->nrows; i++) {
		free(ct->rows[i].der);
		ct->rows[i].der = NULL;
	}
	ct->nrows = 0;
}

/* ---- TC verification of a Contents ------------------------------------------ */

static bool
card_gone(const rt_err *e)
{
	return rt_err_has(e, RT_E_CARD_REMOVED) || rt_err_has(e, RT_E_NO_CARD) ||
	    rt_err_has(e, RT_E_TRANSPORT) || rt_err_has(e, RT_E_PCSC);
}

rt_err *
rt_contents_verify_tc(piv_card *c, const rt_contents *ct,
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
		rt_err *e = rt_tc_verify_slot(c, &id, r->slot, r->der, r->der_len,
		    cfg, &res[*n]);
		(*n)++;
		if (e != NULL && card_gone(e))
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
