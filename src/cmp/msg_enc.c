/* msg_enc.c - DER encoding and signature protection of PKIMessages;
 * see cmp.h */
#include "cmp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OID_REGCTRL_OLD_CERT_ID "1.3.6.1.5.5.7.5.1.5"
#define OID_CRL_REASON "2.5.29.21"

static const uint8_t null_dn[] = { 0x30, 0x00 };

/* GeneralName directoryName [4] (explicit: Name is a CHOICE). */
static void
enc_gname(rt_der *d, cmp_buf name)
{
	if (name.len == 0) {
		name.p = null_dn;
		name.len = sizeof(null_dn);
	}
	der_explicit(d, 0xA4, name);
}

static void
enc_freetext(rt_der *d, const cmp_buf *t, size_t n)
{
	rt_der s;
	der_init(&s);
	for (size_t i = 0; i < n; i++)
		der_tlv(&s, 0x0C, t[i].p, t[i].len);
	der_wrap(d, 0x30, &s);
	der_free(&s);
}

/* A named BIT STRING (DER: trailing zero bits dropped). */
static void
enc_bits(rt_der *d, uint32_t bits)
{
	uint8_t b[5] = { 0 };
	int top = -1;
	for (int i = 0; i < 32; i++)
		if (bits & (1u << i)) {
			b[1 + i / 8] |= (uint8_t)(0x80 >> (i % 8));
			top = i;
		}
	size_t nbytes = top < 0 ? 0 : (size_t)top / 8 + 1;
	b[0] = top < 0 ? 0 : (uint8_t)(7 - top % 8);
	der_tlv(d, 0x03, b, 1 + nbytes);
}

static void
enc_status(rt_der *d, const cmp_status *s)
{
	rt_der in;
	der_init(&in);
	der_int(&in, s->status);
	if (s->ntext > 0)
		enc_freetext(&in, s->text, s->ntext);
	if (s->fail_info != 0)
		enc_bits(&in, s->fail_info);
	der_wrap(d, 0x30, &in);
	der_free(&in);
}

/* [tag] EXPLICIT OCTET STRING */
static void
enc_tagged_octets(rt_der *d, uint8_t tag, cmp_buf b)
{
	rt_der o;
	der_init(&o);
	der_tlv(&o, 0x04, b.p, b.len);
	der_wrap(d, tag, &o);
	der_free(&o);
}

static void
enc_itav(rt_der *d, const cmp_itav *it)
{
	rt_der s;
	der_init(&s);
	der_tlv(&s, 0x06, it->oid.p, it->oid.len);
	der_buf(&s, it->value);
	der_wrap(d, 0x30, &s);
	der_free(&s);
}

static void
enc_header(rt_der *d, const cmp_header *h)
{
	rt_der in, t, gi;
	der_init(&in);
	der_int(&in, h->pvno);
	enc_gname(&in, h->sender);
	enc_gname(&in, h->recipient);
	if (h->message_time != 0) {
		der_init(&t);
		der_gtime(&t, h->message_time);
		der_wrap(&in, 0xA0, &t);
		der_free(&t);
	}
	if (h->protection_alg.len > 0)
		der_explicit(&in, 0xA1, h->protection_alg);
	if (h->sender_kid.len > 0)
		enc_tagged_octets(&in, 0xA2, h->sender_kid);
	if (h->recip_kid.len > 0)
		enc_tagged_octets(&in, 0xA3, h->recip_kid);
	if (h->transaction_id.len > 0)
		enc_tagged_octets(&in, 0xA4, h->transaction_id);
	if (h->sender_nonce.len > 0)
		enc_tagged_octets(&in, 0xA5, h->sender_nonce);
	if (h->recip_nonce.len > 0)
		enc_tagged_octets(&in, 0xA6, h->recip_nonce);
	der_init(&gi);
	if (h->implicit_confirm) {
		cmp_itav it = { 0 };
		static const uint8_t null[] = { 0x05, 0x00 };
		(void)cmp_oid_lookup(CMP_OID_IT_IMPLICIT_CONFIRM, &it.oid);
		it.value.p = null;
		it.value.len = 2;
		enc_itav(&gi, &it);
	}
	if (h->confirm_wait_time != 0) {
		rt_der s;
		cmp_buf oid;
		der_init(&s);
		(void)cmp_oid_lookup(CMP_OID_IT_CONFIRM_WAIT_TIME, &oid);
		der_tlv(&s, 0x06, oid.p, oid.len);
		der_gtime(&s, h->confirm_wait_time);
		der_wrap(&gi, 0x30, &s);
		der_free(&s);
	}
	if (h->ncert_profile > 0) {
		rt_der s;
		cmp_buf oid;
		der_init(&s);
		(void)cmp_oid_lookup(CMP_OID_IT_CERT_PROFILE, &oid);
		der_tlv(&s, 0x06, oid.p, oid.len);
		enc_freetext(&s, h->cert_profile, h->ncert_profile);
		der_wrap(&gi, 0x30, &s);
		der_free(&s);
	}
	if (h->card_id.len > 0) {
		rt_der s;
		cmp_buf oid;
		der_init(&s);
		(void)cmp_oid_lookup(CMP_OID_IT_CARD_ID, &oid);
		der_tlv(&s, 0x06, oid.p, oid.len);
		der_tlv(&s, 0x04, h->card_id.p, h->card_id.len);
		der_wrap(&gi, 0x30, &s);
		der_free(&s);
	}
	if (h->has_mgmt_key) {
		cmp_itav it = { .value = h->mgmt_key };
		(void)cmp_oid_lookup(CMP_OID_IT_CARD_MGMT_KEY, &it.oid);
		enc_itav(&gi, &it);
	}
	if (gi.len > 0) {
		rt_der seq;
		der_init(&seq);
		der_wrap(&seq, 0x30, &gi);
		der_wrap(&in, 0xA8, &seq);
		der_free(&seq);
	}
	der_free(&gi);
	der_wrap(d, 0x30, &in);
	der_free(&in);
}

/* CertRequest ::= SEQUENCE { certReqId, certTemplate, controls } */
static void
enc_cert_request(rt_der *d, const cmp_cert_req *r)
{
	rt_der in, tpl;
	der_init(&in);
	der_init(&tpl);
	der_int(&in, r->cert_req_id);
	if (r->issuer.len > 0)
		der_explicit(&tpl, 0xA3, r->issuer);
	if (r->subject.len > 0)
		der_explicit(&tpl, 0xA5, r->subject);
	if (r->public_key.len > 0)
		der_retag(&tpl, 0xA6, r->public_key);
	if (r->extensions.len > 0)
		der_retag(&tpl, 0xA9, r->extensions);
	der_wrap(&in, 0x30, &tpl);
	if (r->old_cert_id.len > 0) {
		rt_der ctl, atv;
		der_init(&ctl);
		der_init(&atv);
		der_oid(&atv, OID_REGCTRL_OLD_CERT_ID);
		der_buf(&atv, r->old_cert_id);
		der_wrap(&ctl, 0x30, &atv);
		der_wrap(&in, 0x30, &ctl);
		der_free(&ctl);
		der_free(&atv);
	}
	der_wrap(d, 0x30, &in);
	der_free(&in);
	der_free(&tpl);
}

static void
enc_cert_req_msg(rt_der *d, const cmp_cert_req *r)
{
	rt_der in;
	der_init(&in);
	enc_cert_request(&in, r);
	if (r->popo == CMP_POPO_RA_VERIFIED)
		der_tlv(&in, 0x80, NULL, 0);
	else if (r->popo == CMP_POPO_SIGNATURE) {
		rt_der sk;
		der_init(&sk);
		der_buf(&sk, r->popo_alg);
		uint8_t *bs = malloc(r->popo_sig.len + 1);
		if (bs == NULL)
			sk.oom = true;
		else {
			bs[0] = 0;
			memcpy(bs + 1, r->popo_sig.p, r->popo_sig.len);
			der_tlv(&sk, 0x03, bs, r->popo_sig.len + 1);
			free(bs);
		}
		der_wrap(&in, 0xA1, &sk);
		der_free(&sk);
	}
	der_wrap(d, 0x30, &in);
	der_free(&in);
}

static void
enc_certs(rt_der *d, const cmp_buf *c, size_t n)
{
	rt_der s;
	der_init(&s);
	for (size_t i = 0; i < n; i++)
		der_buf(&s, c[i]);
	der_wrap(d, 0x30, &s);
	der_free(&s);
}

static void
enc_rev(rt_der *d, const cmp_rev_details *r)
{
	rt_der in, tpl;
	der_init(&in);
	der_init(&tpl);
	if (r->serial.len > 0)
		der_tlv(&tpl, 0x81, r->serial.p, r->serial.len);
	if (r->issuer.len > 0)
		der_explicit(&tpl, 0xA3, r->issuer);
	der_wrap(&in, 0x30, &tpl);
	if (r->reason >= 0) {
		rt_der exts, ext, val;
		uint8_t en[3] = { 0x0A, 0x01, (uint8_t)r->reason };
		der_init(&exts);
		der_init(&ext);
		der_init(&val);
		der_oid(&ext, OID_CRL_REASON);
		der_tlv(&ext, 0x04, en, sizeof(en));
		der_wrap(&exts, 0x30, &ext);
		der_wrap(&in, 0x30, &exts);
		der_free(&exts);
		der_free(&ext);
		der_free(&val);
	}
	der_wrap(d, 0x30, &in);
	der_free(&in);
	der_free(&tpl);
}

static rt_err *
need(size_t n, size_t min, const char *what)
{
	if (n < min)
		return rt_err_new(RT_E_ARG, NULL, "CMP %s without content", what);
	if (n > CMP_MAX_REQS)
		return rt_err_new(RT_E_ARG, NULL, "CMP %s: too many entries", what);
	return NULL;
}

static rt_err *
enc_body(rt_der *d, const cmp_msg *m)
{
	rt_der c, in;
	rt_err *e = NULL;
	const char *name = cmp_body_name(m->type);
	der_init(&c);
	switch (m->type) {
	case CMP_BODY_IR:
	case CMP_BODY_CR:
	case CMP_BODY_KUR:
		if ((e = need(m->nreq, 1, name)) != NULL)
			break;
		der_init(&in);
		for (size_t i = 0; i < m->nreq; i++)
			enc_cert_req_msg(&in, &m->req[i]);
		der_wrap(&c, 0x30, &in);
		der_free(&in);
		break;
	case CMP_BODY_P10CR:
		if (m->p10.len == 0) {
			e = rt_err_new(RT_E_ARG, NULL, "p10cr without a CSR");
			break;
		}
		der_buf(&c, m->p10);
		break;
	case CMP_BODY_IP:
	case CMP_BODY_CP:
	case CMP_BODY_KUP:
		if ((e = need(m->nresp, 0, name)) != NULL)
			break;
		if (m->nca_pubs > CMP_MAX_CERTS) {
			e = rt_err_new(RT_E_ARG, NULL, "too many caPubs");
			break;
		}
		der_init(&in);
		if (m->nca_pubs > 0) {
			rt_der cp;
			der_init(&cp);
			enc_certs(&cp, m->ca_pubs, m->nca_pubs);
			der_wrap(&in, 0xA1, &cp);
			der_free(&cp);
		}
		{
			rt_der list;
			der_init(&list);
			for (size_t i = 0; i < m->nresp; i++) {
				const cmp_cert_resp *r = &m->resp[i];
				rt_der cr;
				der_init(&cr);
				der_int(&cr, r->cert_req_id);
				enc_status(&cr, &r->status);
				if (r->cert.len > 0) {
					rt_der ckp, coe;
					der_init(&ckp);
					der_init(&coe);
					der_explicit(&coe, 0xA0, r->cert);
					der_wrap(&ckp, 0x30, &coe);
					der_buf(&cr, (cmp_buf){ ckp.p, ckp.len });
					if (ckp.oom)
						cr.oom = true;
					der_free(&ckp);
					der_free(&coe);
				}
				der_wrap(&list, 0x30, &cr);
				der_free(&cr);
			}
			der_wrap(&in, 0x30, &list);
			der_free(&list);
		}
		der_wrap(&c, 0x30, &in);
		der_free(&in);
		break;
	case CMP_BODY_CERTCONF:
		if ((e = need(m->nconf, 0, name)) != NULL)
			break;
		der_init(&in);
		for (size_t i = 0; i < m->nconf; i++) {
			const cmp_cert_status *s = &m->conf[i];
			rt_der cs;
			der_init(&cs);
			der_tlv(&cs, 0x04, s->cert_hash.p, s->cert_hash.len);
			der_int(&cs, s->cert_req_id);
			if (s->has_status)
				enc_status(&cs, &s->status);
			if (s->hash_alg.len > 0)
				der_explicit(&cs, 0xA0, s->hash_alg);
			der_wrap(&in, 0x30, &cs);
			der_free(&cs);
		}
		der_wrap(&c, 0x30, &in);
		der_free(&in);
		break;
	case CMP_BODY_PKICONF:
		der_tlv(&c, 0x05, NULL, 0);
		break;
	case CMP_BODY_RR:
		if ((e = need(m->nrev, 1, name)) != NULL)
			break;
		der_init(&in);
		for (size_t i = 0; i < m->nrev; i++)
			enc_rev(&in, &m->rev[i]);
		der_wrap(&c, 0x30, &in);
		der_free(&in);
		break;
	case CMP_BODY_RP: {
		if ((e = need(m->nrev_status, 1, name)) != NULL)
			break;
		rt_der list;
		der_init(&in);
		der_init(&list);
		for (size_t i = 0; i < m->nrev_status; i++)
			enc_status(&list, &m->rev_status[i]);
		der_wrap(&in, 0x30, &list);
		der_wrap(&c, 0x30, &in);
		der_free(&in);
		der_free(&list);
		break;
	}
	case CMP_BODY_GENM:
	case CMP_BODY_GENP:
		if (m->nitav > CMP_MAX_ITAVS) {
			e = rt_err_new(RT_E_ARG, NULL, "too many InfoTypeAndValues");
			break;
		}
		der_init(&in);
		for (size_t i = 0; i < m->nitav; i++)
			enc_itav(&in, &m->itav[i]);
		der_wrap(&c, 0x30, &in);
		der_free(&in);
		break;
	case CMP_BODY_ERROR:
		der_init(&in);
		enc_status(&in, &m->error);
		if (m->error_code >= 0)
			der_int(&in, m->error_code);
		if (m->nerror_details > 0)
			enc_freetext(&in, m->error_details, m->nerror_details <
			    CMP_MAX_TEXTS ? m->nerror_details : CMP_MAX_TEXTS);
		der_wrap(&c, 0x30, &in);
		der_free(&in);
		break;
	case CMP_BODY_POLLREQ:
	case CMP_BODY_POLLREP:
		if ((e = need(m->npoll, 1, name)) != NULL)
			break;
		der_init(&in);
		for (size_t i = 0; i < m->npoll; i++) {
			rt_der p;
			der_init(&p);
			der_int(&p, m->poll[i].cert_req_id);
			if (m->type == CMP_BODY_POLLREP) {
				der_int(&p, m->poll[i].check_after);
				if (m->poll[i].reason.len > 0)
					enc_freetext(&p, &m->poll[i].reason, 1);
			}
			der_wrap(&in, 0x30, &p);
			der_free(&p);
		}
		der_wrap(&c, 0x30, &in);
		der_free(&in);
		break;
	default:
		e = rt_err_new(RT_E_ARG, NULL, "cannot encode CMP body type %d",
		    m->type);
	}
	if (e == NULL)
		der_wrap(d, (uint8_t)(0xA0 | m->type), &c);
	der_free(&c);
	return e;
}

rt_err *
cmp_msg_encode(cmp_msg *m, rt_signer *signer, const cmp_protect_opts *o,
    uint8_t **der, size_t *len)
{
	static const cmp_protect_opts none = { 0 };
	cmp_header h = m->hdr;
	cmp_buf extra[CMP_MAX_CERTS];
	size_t nextra = m->nextra_certs;
	rt_der alg, pp, hb, msg, sig_bs;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	rt_err *e = NULL;

	if (o == NULL)
		o = &none;
	if (h.transaction_id.len == 0 || h.sender_nonce.len == 0)
		return rt_err_new(RT_E_ARG, NULL, "CMP %s without transactionID or "
		    "senderNonce", cmp_body_name(m->type));
	if (nextra > CMP_MAX_CERTS || h.ncert_profile > CMP_MAX_REQS)
		return rt_err_new(RT_E_ARG, NULL, "too many extraCerts/profiles");
	if (h.card_id.len > CMP_CARD_ID_MAX)
		return rt_err_new(RT_E_ARG, NULL, "cardId of %zu bytes (at most "
		    "%d)", h.card_id.len, CMP_CARD_ID_MAX);
	if (nextra > 0)
		memcpy(extra, m->extra_certs, nextra * sizeof(extra[0]));
	if (h.pvno == 0) {
		h.pvno = 2;
		for (size_t i = 0; i < m->nconf; i++)
			if (m->conf[i].hash_alg.len > 0)
				h.pvno = 3;
	}
	der_init(&alg);
	der_init(&pp);
	der_init(&hb);
	der_init(&msg);
	der_init(&sig_bs);
	rt_hash hash = o->hash;
	if (signer != NULL) {
		const mbedtls_x509_crt *chain = rt_signer_chain(signer);
		if (hash == RT_HASH_NONE)
			hash = rt_pk_default_hash(rt_signer_pk(signer));
		if ((e = rt_sig_alg_der(&alg, rt_signer_keytype(signer), hash,
		    o->scheme)) != NULL)
			goto out;
		if ((e = der_check(&alg)) != NULL)
			goto out;
		h.protection_alg.p = alg.p;
		h.protection_alg.len = alg.len;
		if (chain != NULL && h.sender.len == 0) {
			h.sender.p = chain->subject_raw.p;
			h.sender.len = chain->subject_raw.len;
		}
		if (chain != NULL && h.sender_kid.len == 0)
			h.sender_kid = cmp_crt_ski(chain);
		if (nextra == 0 && !o->no_extra_certs)
			for (const mbedtls_x509_crt *c = chain; c != NULL &&
			    c->raw.p != NULL && nextra < CMP_MAX_CERTS; c = c->next) {
				extra[nextra].p = c->raw.p;
				extra[nextra++].len = c->raw.len;
			}
	} else
		h.protection_alg.len = 0;

	enc_header(&hb, &h);
	if ((e = enc_body(&hb, m)) != NULL)
		goto out;
	if ((e = der_check(&hb)) != NULL)
		goto out;
	der_wrap(&pp, 0x30, &hb);
	if ((e = der_check(&pp)) != NULL)
		goto out;
	der_raw(&msg, hb.p, hb.len);
	if (signer != NULL) {
		size_t cap = rt_signer_max_sig(signer);
		sig = malloc(cap + 1);
		if (sig == NULL) {
			e = rt_err_new(RT_E_NOMEM, NULL, "signature");
			goto out;
		}
		sig[0] = 0;	/* unused bits */
		if ((e = rt_signer_sign_data(signer, hash, o->scheme, pp.p, pp.len,
		    sig + 1, cap, &sig_len)) != NULL) {
			e = rt_err_wrap(e, "CMP protection");
			goto out;
		}
		der_tlv(&sig_bs, 0x03, sig, sig_len + 1);
		der_wrap(&msg, 0xA0, &sig_bs);
	}
	if (nextra > 0) {
		rt_der ec;
		der_init(&ec);
		enc_certs(&ec, extra, nextra);
		der_wrap(&msg, 0xA1, &ec);
		der_free(&ec);
	}
	{
		rt_der top;
		der_init(&top);
		der_wrap(&top, 0x30, &msg);
		if ((e = der_check(&top)) != NULL) {
			der_free(&top);
			goto out;
		}
		*der = malloc(top.len);
		if (*der == NULL)
			e = rt_err_new(RT_E_NOMEM, NULL, "CMP message");
		else {
			memcpy(*der, top.p, top.len);
			*len = top.len;
		}
		der_free(&top);
	}
out:
	free(sig);
	der_free(&alg);
	der_free(&pp);
	der_free(&hb);
	der_free(&msg);
	der_free(&sig_bs);
	return e;
}

rt_err *
cmp_popo_sign(cmp_cert_req *req, rt_signer *s, uint8_t **buf)
{
	rt_der cr, alg;
	rt_err *e;
	der_init(&cr);
	der_init(&alg);
	rt_hash h = rt_pk_default_hash(rt_signer_pk(s));
	enc_cert_request(&cr, req);
	if ((e = der_check(&cr)) != NULL ||
	    (e = rt_sig_alg_der(&alg, rt_signer_keytype(s), h,
	    RT_SCHEME_DEFAULT)) != NULL || (e = der_check(&alg)) != NULL)
		goto out;
	size_t cap = rt_signer_max_sig(s);
	uint8_t *b = malloc(alg.len + cap);
	if (b == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "POPO");
		goto out;
	}
	memcpy(b, alg.p, alg.len);
	size_t sl;
	if ((e = rt_signer_sign_data(s, h, RT_SCHEME_DEFAULT, cr.p, cr.len,
	    b + alg.len, cap, &sl)) != NULL) {
		free(b);
		e = rt_err_wrap(e, "proof of possession");
		goto out;
	}
	req->popo = CMP_POPO_SIGNATURE;
	req->popo_alg.p = b;
	req->popo_alg.len = alg.len;
	req->popo_sig.p = b + alg.len;
	req->popo_sig.len = sl;
	*buf = b;
out:
	der_free(&cr);
	der_free(&alg);
	return e;
}

rt_err *
cmp_certs_encode(const cmp_buf *certs, size_t n, uint8_t **der, size_t *len)
{
	rt_der d;
	der_init(&d);
	enc_certs(&d, certs, n);
	rt_err *e = der_check(&d);
	if (e == NULL) {
		*der = malloc(d.len);
		if (*der == NULL)
			e = rt_err_new(RT_E_NOMEM, NULL, "certificates");
		else {
			memcpy(*der, d.p, d.len);
			*len = d.len;
		}
	}
	der_free(&d);
	return e;
}

static rt_err *
der_out(rt_der *d, uint8_t **der, size_t *len)
{
	rt_err *e = der_check(d);
	if (e == NULL) {
		*der = malloc(d->len ? d->len : 1);
		if (*der == NULL)
			e = rt_err_new(RT_E_NOMEM, NULL, "DER");
		else {
			memcpy(*der, d->p, d->len);
			*len = d->len;
		}
	}
	der_free(d);
	return e;
}

rt_err *
cmp_root_update_encode(const cmp_root_update *u, uint8_t **der, size_t *len)
{
	rt_der in, d;
	der_init(&in);
	der_init(&d);
	if (u->new_with_new.len == 0)
		return rt_err_new(RT_E_ARG, NULL, "rootCaKeyUpdate without "
		    "newWithNew");
	der_buf(&in, u->new_with_new);
	if (u->new_with_old.len > 0)
		der_explicit(&in, 0xA0, u->new_with_old);
	if (u->old_with_new.len > 0)
		der_explicit(&in, 0xA1, u->old_with_new);
	der_wrap(&d, 0x30, &in);
	der_free(&in);
	return der_out(&d, der, len);
}

rt_err *
cmp_mgmt_key_encode(const cmp_mgmt_key *k, bool response, uint8_t **der,
    size_t *len)
{
	rt_der in, d;
	der_init(&in);
	der_init(&d);
	der_tlv(&in, 0x04, k->card_id.p, k->card_id.len);
	if (response) {
		der_int(&in, k->alg);
		der_tlv(&in, 0x04, k->key.p, k->key.len);
	}
	der_wrap(&d, 0x30, &in);
	der_free(&in);
	return der_out(&d, der, len);
}

rt_err *
cmp_tx_status_encode(const cmp_tx_status *s, bool response, uint8_t **der,
    size_t *len)
{
	rt_der in, d, list;
	*der = NULL;
	if (s->txid.len == 0 || s->ncerts > CMP_TX_MAX_CERTS ||
	    (unsigned)s->status > CMP_TX_CLOSED)
		return rt_err_new(RT_E_ARG, NULL, "txStatus: a transactionID, a "
		    "known status and at most %d certificates", CMP_TX_MAX_CERTS);
	der_init(&in);
	der_init(&d);
	der_init(&list);
	der_tlv(&in, 0x04, s->txid.p, s->txid.len);
	if (response) {
		uint8_t st = (uint8_t)s->status;
		der_tlv(&in, 0x0A, &st, 1);
		rt_der t;
		der_init(&t);
		if (s->recip_nonce.len > 0) {
			der_tlv(&t, 0x04, s->recip_nonce.p, s->recip_nonce.len);
			der_explicit(&in, 0xA0, (cmp_buf){ t.p, t.len });
		}
		if (s->confirm_by != 0) {
			der_free(&t);
			der_init(&t);
			der_gtime(&t, s->confirm_by);
			der_explicit(&in, 0xA1, (cmp_buf){ t.p, t.len });
		}
		der_free(&t);
		for (size_t i = 0; i < s->ncerts; i++) {
			const cmp_tx_cert *c = &s->certs[i];
			uint8_t cs = (uint8_t)c->state;
			rt_der one;
			der_init(&one);
			der_int(&one, c->cert_req_id);
			der_tlv(&one, 0x0A, &cs, 1);
			der_buf(&one, c->cert);
			der_wrap(&list, 0x30, &one);
			der_free(&one);
		}
		der_wrap(&in, 0x30, &list);
	}
	der_wrap(&d, 0x30, &in);
	der_free(&in);
	der_free(&list);
	return der_out(&d, der, len);
}
