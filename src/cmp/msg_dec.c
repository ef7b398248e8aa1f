/* msg_dec.c - strict DER decoding of PKIMessages; see cmp.h */
#include "cmp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRY(x) do { if ((e = (x)) != NULL) return e; } while (0)

static const uint8_t oid_old_cert_id[] = { 0x2B, 6, 1, 5, 5, 7, 5, 1, 5 };
static const uint8_t oid_crl_reason[] = { 0x55, 0x1D, 0x15 };

static rt_err *
unsupported(const char *what)
{
	return rt_err_new(RT_E_CMP_UNSUPPORTED, NULL, "%s", what);
}

/* GeneralName: directoryName [4] Name only. */
static rt_err *
dec_gname(cmp_rd *r, const char *field, cmp_buf *name)
{
	rt_err *e;
	cmp_buf v;
	int tag = rd_peek(r);
	if (tag >= 0 && tag != 0xA4 && (tag & 0xC0) == 0x80)
		return rt_err_new(RT_E_CMP_UNSUPPORTED, NULL, "%s: only a "
		    "directoryName is accepted (GeneralName tag %02x)", field,
		    (unsigned)tag);
	TRY(rd_get(r, 0xA4, field, &v, NULL));
	cmp_rd in;
	rd_init(&in, v, field);
	TRY(rd_get(&in, 0x30, "Name", NULL, name));
	return rd_end(&in);
}

static rt_err *
dec_freetext(cmp_buf v, const char *field, cmp_buf *t, size_t max, size_t *n)
{
	rt_err *e;
	cmp_rd r;
	rd_init(&r, v, field);
	*n = 0;
	if (rd_at_end(&r))
		return cmp_fmt("%s: empty PKIFreeText", field);
	while (!rd_at_end(&r)) {
		cmp_buf s;
		TRY(rd_get(&r, 0x0C, "UTF8String", &s, NULL));
		if (*n < max)
			t[(*n)++] = s;
	}
	return NULL;
}

static rt_err *
dec_bits(cmp_buf v, uint32_t *bits)
{
	if (v.len == 0 || v.p[0] > 7 || (v.len == 1 && v.p[0] != 0))
		return cmp_fmt("PKIFailureInfo: malformed BIT STRING");
	if (v.len > 1 && (v.p[v.len - 1] & ((1u << v.p[0]) - 1)) != 0)
		return cmp_fmt("PKIFailureInfo: unused bits not zero");
	*bits = 0;
	for (size_t i = 1; i < v.len; i++)
		for (int k = 0; k < 8; k++)
			if (v.p[i] & (0x80 >> k)) {
				size_t bit = (i - 1) * 8 + (size_t)k;
				if (bit < CMP_FAILINFO_BITS)
					*bits |= 1u << bit;
				/* later bits: unknown failures, ignored */
			}
	return NULL;
}

static rt_err *
dec_status_v(cmp_buf v, cmp_status *s)
{
	rt_err *e;
	cmp_rd r;
	long st;
	bool has;
	cmp_buf t;
	rd_init(&r, v, "PKIStatusInfo");
	TRY(rd_int(&r, "status", &st));
	if (st < 0 || st > 6)
		return cmp_fmt("PKIStatusInfo: unknown status %ld", st);
	s->status = (int)st;
	TRY(rd_opt(&r, 0x30, "statusString", &t, NULL, &has));
	if (has)
		TRY(dec_freetext(t, "statusString", s->text, CMP_MAX_TEXTS,
		    &s->ntext));
	TRY(rd_opt(&r, 0x03, "failInfo", &t, NULL, &has));
	if (has)
		TRY(dec_bits(t, &s->fail_info));
	return rd_end(&r);
}

static rt_err *
dec_status(cmp_rd *r, cmp_status *s)
{
	rt_err *e;
	cmp_buf v;
	TRY(rd_get(r, 0x30, "PKIStatusInfo", &v, NULL));
	return dec_status_v(v, s);
}

static int
digits(const uint8_t *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* GeneralizedTime YYYYMMDDHHMMSS[.f+]Z */
static rt_err *
dec_gtime(cmp_rd *r, const char *field, time_t *out)
{
	rt_err *e;
	cmp_buf v;
	TRY(rd_get(r, 0x18, field, &v, NULL));
	if (v.len < 15 || v.p[v.len - 1] != 'Z')
		return cmp_fmt("%s: not a DER GeneralizedTime", field);
	if (v.len > 15) {
		if (v.p[14] != '.' || v.len < 17 || digits(v.p + 15,
		    (int)v.len - 16) < 0)
			return cmp_fmt("%s: not a DER GeneralizedTime", field);
	}
	struct tm tm = { 0 };
	tm.tm_year = digits(v.p, 4) - 1900;
	tm.tm_mon = digits(v.p + 4, 2) - 1;
	tm.tm_mday = digits(v.p + 6, 2);
	tm.tm_hour = digits(v.p + 8, 2);
	tm.tm_min = digits(v.p + 10, 2);
	tm.tm_sec = digits(v.p + 12, 2);
	if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 ||
	    tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
	    tm.tm_sec < 0 || tm.tm_sec > 60)
		return cmp_fmt("%s: bad time", field);
	*out = timegm(&tm);
	return NULL;
}

/* [tag] EXPLICIT OCTET STRING */
static rt_err *
dec_tagged_octets(cmp_rd *r, int tag, const char *field, cmp_buf *out,
    bool *has)
{
	rt_err *e;
	cmp_buf v;
	TRY(rd_opt(r, tag, field, &v, NULL, has));
	if (!*has)
		return NULL;
	cmp_rd in;
	rd_init(&in, v, field);
	TRY(rd_get(&in, 0x04, field, out, NULL));
	if (out->len == 0)
		return cmp_fmt("%s: empty", field);
	return rd_end(&in);
}

static rt_err *
dec_general_info(cmp_msg *m, cmp_buf v)
{
	rt_err *e;
	cmp_rd r, seq;
	cmp_buf sv;
	rd_init(&r, v, "generalInfo");
	TRY(rd_get(&r, 0x30, "generalInfo", &sv, NULL));
	TRY(rd_end(&r));
	rd_init(&seq, sv, "generalInfo");
	if (rd_at_end(&seq))
		return cmp_fmt("generalInfo: empty");
	while (!rd_at_end(&seq)) {
		cmp_buf itv;
		cmp_itav it = { 0 };
		TRY(rd_get(&seq, 0x30, "InfoTypeAndValue", &itv, NULL));
		cmp_rd ir;
		rd_init(&ir, itv, "InfoTypeAndValue");
		TRY(rd_get(&ir, 0x06, "infoType", &it.oid, NULL));
		if (cmp_itav_is(&it, CMP_OID_IT_IMPLICIT_CONFIRM)) {
			cmp_buf n;
			TRY(rd_get(&ir, 0x05, "implicitConfirm", &n, NULL));
			if (n.len != 0)
				return cmp_fmt("implicitConfirm: not NULL");
			m->hdr.implicit_confirm = true;
		} else if (cmp_itav_is(&it, CMP_OID_IT_CONFIRM_WAIT_TIME)) {
			TRY(dec_gtime(&ir, "confirmWaitTime",
			    &m->hdr.confirm_wait_time));
		} else if (cmp_itav_is(&it, CMP_OID_IT_CERT_PROFILE)) {
			cmp_buf pv;
			TRY(rd_get(&ir, 0x30, "certProfile", &pv, NULL));
			TRY(dec_freetext(pv, "certProfile", m->hdr.cert_profile,
			    CMP_MAX_REQS, &m->hdr.ncert_profile));
		} else if (cmp_itav_is(&it, CMP_OID_IT_CARD_ID)) {
			cmp_buf id;
			if (rd_peek(&ir) != 0x04)
				return cmp_fmt("cardId: not an OCTET STRING");
			TRY(rd_get(&ir, 0x04, "cardId", &id, NULL));
			if (id.len == 0 || id.len > CMP_CARD_ID_MAX)
				return cmp_fmt("cardId: %zu bytes (1 to %d)",
				    id.len, CMP_CARD_ID_MAX);
			if (m->hdr.card_id.len != 0)
				return cmp_fmt("cardId: more than once");
			m->hdr.card_id = id;
		} else if (cmp_itav_is(&it, CMP_OID_IT_CARD_MGMT_KEY)) {
			/* CardMgmtKeyReq / CardMgmtKey, or no value: the
			 * CM host gives no key */
			if (m->hdr.has_mgmt_key)
				return cmp_fmt("cardMgmtKey: more than once");
			m->hdr.has_mgmt_key = true;
			if (!rd_at_end(&ir)) {
				if (rd_peek(&ir) != 0x30)
					return cmp_fmt("cardMgmtKey: not a "
					    "SEQUENCE");
				TRY(rd_get(&ir, 0x30, "cardMgmtKey", NULL,
				    &m->hdr.mgmt_key));
			}
		} else {
			/* unknown: ignored, but must be well-formed */
			int t;
			if (!rd_at_end(&ir))
				TRY(rd_any(&ir, &t, NULL, NULL));
		}
		TRY(rd_end(&ir));
	}
	return NULL;
}

static rt_err *
dec_header(cmp_msg *m, cmp_buf v)
{
	rt_err *e;
	cmp_rd r;
	cmp_buf t;
	long pvno;
	bool has;
	cmp_header *h = &m->hdr;
	rd_init(&r, v, "PKIHeader");
	TRY(rd_int(&r, "pvno", &pvno));
	if (pvno != 2 && pvno != 3)
		return rt_err_new(RT_E_CMP_UNSUPPORTED, NULL, "pvno %ld not "
		    "supported (2 or 3)", pvno);
	h->pvno = (int)pvno;
	TRY(dec_gname(&r, "sender", &h->sender));
	TRY(dec_gname(&r, "recipient", &h->recipient));
	TRY(rd_opt(&r, 0xA0, "messageTime", &t, NULL, &has));
	if (has) {
		cmp_rd in;
		rd_init(&in, t, "messageTime");
		TRY(dec_gtime(&in, "messageTime", &h->message_time));
		TRY(rd_end(&in));
	}
	TRY(rd_opt(&r, 0xA1, "protectionAlg", &t, NULL, &has));
	if (has) {
		cmp_rd in;
		rd_init(&in, t, "protectionAlg");
		TRY(rd_get(&in, 0x30, "AlgorithmIdentifier", NULL,
		    &h->protection_alg));
		TRY(rd_end(&in));
	}
	TRY(dec_tagged_octets(&r, 0xA2, "senderKID", &h->sender_kid, &has));
	TRY(dec_tagged_octets(&r, 0xA3, "recipKID", &h->recip_kid, &has));
	TRY(dec_tagged_octets(&r, 0xA4, "transactionID", &h->transaction_id,
	    &has));
	TRY(dec_tagged_octets(&r, 0xA5, "senderNonce", &h->sender_nonce, &has));
	TRY(dec_tagged_octets(&r, 0xA6, "recipNonce", &h->recip_nonce, &has));
	TRY(rd_opt(&r, 0xA7, "freeText", &t, NULL, &has));
	if (has) {
		cmp_rd in;
		cmp_buf ft, dummy[1];
		size_t n;
		rd_init(&in, t, "freeText");
		TRY(rd_get(&in, 0x30, "freeText", &ft, NULL));
		TRY(rd_end(&in));
		TRY(dec_freetext(ft, "freeText", dummy, 1, &n));
	}
	TRY(rd_opt(&r, 0xA8, "generalInfo", &t, NULL, &has));
	if (has)
		TRY(dec_general_info(m, t));
	return rd_end(&r);
}

/* Rebuilds "30 len contents" in the message's arena. */
static rt_err *
resequence(cmp_msg *m, cmp_buf content, cmp_buf *out)
{
	rt_der d;
	der_init(&d);
	der_tlv(&d, 0x30, content.p, content.len);
	rt_err *e = der_check(&d);
	if (e == NULL) {
		uint8_t *p = cmp_msg_alloc(m, d.len);
		if (p == NULL)
			e = rt_err_new(RT_E_NOMEM, NULL, "CMP decode");
		else {
			memcpy(p, d.p, d.len);
			out->p = p;
			out->len = d.len;
		}
	}
	der_free(&d);
	return e;
}

static rt_err *
dec_template(cmp_msg *m, cmp_buf v, cmp_cert_req *q)
{
	rt_err *e;
	cmp_rd r;
	rd_init(&r, v, "CertTemplate");
	while (!rd_at_end(&r)) {
		int tag;
		cmp_buf val;
		const uint8_t *start = r.p;
		TRY(rd_any(&r, &tag, &val, NULL));
		cmp_rd in;
		switch (tag) {
		case 0xA3:	/* issuer */
		case 0xA5:	/* subject */
			rd_init(&in, val, tag == 0xA3 ? "issuer" : "subject");
			TRY(rd_get(&in, 0x30, "Name", NULL, tag == 0xA3 ?
			    &q->issuer : &q->subject));
			TRY(rd_end(&in));
			break;
		case 0xA6:	/* publicKey, implicit SubjectPublicKeyInfo */
			TRY(resequence(m, val, &q->public_key));
			break;
		case 0xA9:	/* extensions, implicit SEQUENCE OF Extension */
			rd_init(&in, val, "extensions");
			while (!rd_at_end(&in))
				TRY(rd_get(&in, 0x30, "Extension", NULL, NULL));
			TRY(resequence(m, val, &q->extensions));
			break;
		case 0x80:	/* version */
		case 0xA4:	/* validity */
			break;	/* advisory; the CA decides */
		default:
			(void)start;
			return rt_err_new(RT_E_CMP_UNSUPPORTED, NULL, "CertTemplate: "
			    "field [%d] not supported", tag & 0x1F);
		}
	}
	return NULL;
}

static rt_err *
dec_cert_request(cmp_msg *m, cmp_buf whole, cmp_cert_req *q)
{
	rt_err *e;
	cmp_rd r;
	cmp_buf v, tpl;
	bool has;
	q->cert_req = whole;
	rd_init(&r, whole, "CertRequest");
	TRY(rd_get(&r, 0x30, "CertRequest", &v, NULL));
	rd_init(&r, v, "CertRequest");
	TRY(rd_int(&r, "certReqId", &q->cert_req_id));
	TRY(rd_get(&r, 0x30, "certTemplate", &tpl, NULL));
	TRY(dec_template(m, tpl, q));
	TRY(rd_opt(&r, 0x30, "controls", &v, NULL, &has));
	if (has) {
		cmp_rd c;
		rd_init(&c, v, "controls");
		while (!rd_at_end(&c)) {
			cmp_buf atv, oid;
			cmp_rd a;
			TRY(rd_get(&c, 0x30, "AttributeTypeAndValue", &atv, NULL));
			rd_init(&a, atv, "control");
			TRY(rd_get(&a, 0x06, "type", &oid, NULL));
			if (oid.len == sizeof(oid_old_cert_id) && memcmp(oid.p,
			    oid_old_cert_id, oid.len) == 0) {
				TRY(rd_get(&a, 0x30, "oldCertID", NULL,
				    &q->old_cert_id));
			} else {
				char d[64];
				rt_oid_dotted(oid.p, oid.len, d, sizeof(d));
				return rt_err_new(RT_E_CMP_UNSUPPORTED, NULL, "control "
				    "%s not supported", d);
			}
			TRY(rd_end(&a));
		}
	}
	return rd_end(&r);
}

static rt_err *
dec_cert_req_msgs(cmp_msg *m, cmp_buf v)
{
	rt_err *e;
	cmp_rd r;
	rd_init(&r, v, "CertReqMessages");
	if (rd_at_end(&r))
		return cmp_fmt("CertReqMessages: empty");
	while (!rd_at_end(&r)) {
		cmp_buf crm, cr, pv;
		bool has;
		int tag;
		if (m->nreq == CMP_MAX_REQS)
			return unsupported("more certificate requests than "
			    "supported in one message");
		cmp_cert_req *q = &m->req[m->nreq++];
		TRY(rd_get(&r, 0x30, "CertReqMsg", &crm, NULL));
		cmp_rd in;
		rd_init(&in, crm, "CertReqMsg");
		TRY(rd_get(&in, 0x30, "certReq", NULL, &cr));
		TRY(dec_cert_request(m, cr, q));
		tag = rd_peek(&in);
		if (tag == 0x80) {
			TRY(rd_get(&in, 0x80, "raVerified", &pv, NULL));
			if (pv.len != 0)
				return cmp_fmt("raVerified: not NULL");
			q->popo = CMP_POPO_RA_VERIFIED;
		} else if (tag == 0xA1) {
			cmp_rd s;
			cmp_buf bs;
			TRY(rd_get(&in, 0xA1, "POPOSigningKey", &pv, NULL));
			rd_init(&s, pv, "POPOSigningKey");
			if (rd_peek(&s) == 0xA0)
				return unsupported("POPOSigningKey with poposkInput");
			TRY(rd_get(&s, 0x30, "algorithmIdentifier", NULL,
			    &q->popo_alg));
			TRY(rd_get(&s, 0x03, "signature", &bs, NULL));
			TRY(rd_end(&s));
			if (bs.len < 2 || bs.p[0] != 0)
				return cmp_fmt("POPO signature: bad BIT STRING");
			q->popo_sig.p = bs.p + 1;
			q->popo_sig.len = bs.len - 1;
			q->popo = CMP_POPO_SIGNATURE;
		} else if (tag == 0xA2 || tag == 0xA3)
			return unsupported("POPO by key encipherment or key "
			    "agreement not supported");
		TRY(rd_opt(&in, 0x30, "regInfo", NULL, NULL, &has));
		TRY(rd_end(&in));
	}
	return NULL;
}

static rt_err *
dec_certs(cmp_buf v, const char *field, cmp_buf *out, size_t max, size_t *n)
{
	rt_err *e;
	cmp_rd r;
	rd_init(&r, v, field);
	*n = 0;
	if (rd_at_end(&r))
		return cmp_fmt("%s: empty", field);
	while (!rd_at_end(&r)) {
		if (*n == max)
			return unsupported("too many certificates");
		TRY(rd_get(&r, 0x30, "Certificate", NULL, &out[(*n)++]));
	}
	return NULL;
}

static rt_err *
dec_cert_rep(cmp_msg *m, cmp_buf v)
{
	rt_err *e;
	cmp_rd r, list;
	cmp_buf t;
	bool has;
	rd_init(&r, v, "CertRepMessage");
	TRY(rd_opt(&r, 0xA1, "caPubs", &t, NULL, &has));
	if (has) {
		cmp_rd in;
		cmp_buf s;
		rd_init(&in, t, "caPubs");
		TRY(rd_get(&in, 0x30, "caPubs", &s, NULL));
		TRY(rd_end(&in));
		TRY(dec_certs(s, "caPubs", m->ca_pubs, CMP_MAX_CERTS,
		    &m->nca_pubs));
	}
	TRY(rd_get(&r, 0x30, "response", &t, NULL));
	TRY(rd_end(&r));
	rd_init(&list, t, "response");
	while (!rd_at_end(&list)) {
		cmp_buf crv;
		cmp_rd c;
		if (m->nresp == CMP_MAX_REQS)
			return unsupported("too many certificate responses");
		cmp_cert_resp *cr = &m->resp[m->nresp++];
		TRY(rd_get(&list, 0x30, "CertResponse", &crv, NULL));
		rd_init(&c, crv, "CertResponse");
		TRY(rd_int(&c, "certReqId", &cr->cert_req_id));
		TRY(dec_status(&c, &cr->status));
		TRY(rd_opt(&c, 0x30, "certifiedKeyPair", &t, NULL, &has));
		if (has) {
			cmp_rd k, x;
			cmp_buf cv;
			rd_init(&k, t, "CertifiedKeyPair");
			if (rd_peek(&k) == 0xA1)
				return unsupported("encrypted certificate not "
				    "supported");
			TRY(rd_get(&k, 0xA0, "certificate", &cv, NULL));
			rd_init(&x, cv, "certificate");
			TRY(rd_get(&x, 0x30, "Certificate", NULL, &cr->cert));
			TRY(rd_end(&x));
			if (!rd_at_end(&k) && rd_peek(&k) == 0xA0)
				return unsupported("central key generation (privateKey) "
				    "not supported");
			TRY(rd_opt(&k, 0xA1, "publicationInfo", NULL, NULL, &has));
			TRY(rd_end(&k));
		}
		TRY(rd_opt(&c, 0x04, "rspInfo", NULL, NULL, &has));
		TRY(rd_end(&c));
	}
	return NULL;
}

static rt_err *
dec_cert_conf(cmp_msg *m, cmp_buf v)
{
	rt_err *e;
	cmp_rd r;
	rd_init(&r, v, "CertConfirmContent");
	while (!rd_at_end(&r)) {
		cmp_buf sv, t;
		cmp_rd s;
		bool has;
		if (m->nconf == CMP_MAX_REQS)
			return unsupported("too many CertStatus");
		cmp_cert_status *cs = &m->conf[m->nconf++];
		TRY(rd_get(&r, 0x30, "CertStatus", &sv, NULL));
		rd_init(&s, sv, "CertStatus");
		TRY(rd_get(&s, 0x04, "certHash", &cs->cert_hash, NULL));
		TRY(rd_int(&s, "certReqId", &cs->cert_req_id));
		TRY(rd_opt(&s, 0x30, "statusInfo", &t, NULL, &has));
		if (has) {
			cs->has_status = true;
			TRY(dec_status_v(t, &cs->status));
		}
		TRY(rd_opt(&s, 0xA0, "hashAlg", &t, NULL, &has));
		if (has) {
			cmp_rd a;
			rd_init(&a, t, "hashAlg");
			TRY(rd_get(&a, 0x30, "AlgorithmIdentifier", NULL,
			    &cs->hash_alg));
			TRY(rd_end(&a));
		}
		TRY(rd_end(&s));
	}
	return NULL;
}

static rt_err *
dec_rev_req(cmp_msg *m, cmp_buf v)
{
	rt_err *e;
	cmp_rd r;
	rd_init(&r, v, "RevReqContent");
	if (rd_at_end(&r))
		return cmp_fmt("RevReqContent: empty");
	while (!rd_at_end(&r)) {
		cmp_buf rv, tpl, t;
		cmp_rd d, tr;
		bool has;
		if (m->nrev == CMP_MAX_REQS)
			return unsupported("too many RevDetails");
		cmp_rev_details *rd = &m->rev[m->nrev++];
		rd->reason = -1;
		TRY(rd_get(&r, 0x30, "RevDetails", &rv, NULL));
		rd_init(&d, rv, "RevDetails");
		TRY(rd_get(&d, 0x30, "certDetails", &tpl, NULL));
		rd_init(&tr, tpl, "certDetails");
		while (!rd_at_end(&tr)) {
			int tag;
			cmp_buf val;
			cmp_rd in;
			TRY(rd_any(&tr, &tag, &val, NULL));
			if (tag == 0x81) {
				rd->serial = val;
				if (val.len == 0)
					return cmp_fmt("certDetails: empty serial");
			} else if (tag == 0xA3) {
				rd_init(&in, val, "issuer");
				TRY(rd_get(&in, 0x30, "Name", NULL, &rd->issuer));
				TRY(rd_end(&in));
			} else if (tag == 0xA5 || tag == 0xA6 || tag == 0xA9 ||
			    tag == 0x80 || tag == 0xA4 || tag == 0xA2)
				;	/* identifying copies: not needed */
			else
				return unsupported("certDetails: unknown field");
		}
		TRY(rd_opt(&d, 0x30, "crlEntryDetails", &t, NULL, &has));
		if (has) {
			cmp_rd x;
			rd_init(&x, t, "crlEntryDetails");
			while (!rd_at_end(&x)) {
				cmp_buf ev, oid, val;
				cmp_rd er;
				bool crit = false;
				TRY(rd_get(&x, 0x30, "Extension", &ev, NULL));
				rd_init(&er, ev, "Extension");
				TRY(rd_get(&er, 0x06, "extnID", &oid, NULL));
				if (rd_peek(&er) == 0x01) {
					cmp_buf b;
					TRY(rd_get(&er, 0x01, "critical", &b, NULL));
					crit = b.len == 1 && b.p[0] != 0;
				}
				TRY(rd_get(&er, 0x04, "extnValue", &val, NULL));
				TRY(rd_end(&er));
				if (oid.len == sizeof(oid_crl_reason) && memcmp(oid.p,
				    oid_crl_reason, oid.len) == 0) {
					cmp_rd en;
					cmp_buf ev2;
					long reason;
					rd_init(&en, val, "reasonCode");
					TRY(rd_get(&en, 0x0A, "CRLReason", &ev2, NULL));
					TRY(rd_end(&en));
					TRY(rd_long(ev2, "CRLReason", &reason));
					if (reason < 0 || reason > 10 || reason == 7)
						return cmp_fmt("CRLReason %ld", reason);
					rd->reason = (int)reason;
				} else if (crit)
					return unsupported("crlEntryDetails: unknown "
					    "critical extension");
			}
		}
		TRY(rd_end(&d));
	}
	return NULL;
}

static rt_err *
dec_rev_rep(cmp_msg *m, cmp_buf v)
{
	rt_err *e;
	cmp_rd r, s;
	cmp_buf t;
	bool has;
	rd_init(&r, v, "RevRepContent");
	TRY(rd_get(&r, 0x30, "status", &t, NULL));
	rd_init(&s, t, "status");
	if (rd_at_end(&s))
		return cmp_fmt("RevRepContent: no status");
	while (!rd_at_end(&s)) {
		if (m->nrev_status == CMP_MAX_REQS)
			return unsupported("too many revocation statuses");
		TRY(dec_status(&s, &m->rev_status[m->nrev_status++]));
	}
	TRY(rd_opt(&r, 0xA0, "revCerts", NULL, NULL, &has));
	TRY(rd_opt(&r, 0xA1, "crls", NULL, NULL, &has));
	return rd_end(&r);
}

static rt_err *
dec_gen(cmp_msg *m, cmp_buf v)
{
	rt_err *e;
	cmp_rd r;
	rd_init(&r, v, "GenMsgContent");
	while (!rd_at_end(&r)) {
		cmp_buf iv;
		cmp_rd in;
		int tag;
		if (m->nitav == CMP_MAX_ITAVS)
			return unsupported("too many InfoTypeAndValues");
		cmp_itav *it = &m->itav[m->nitav++];
		TRY(rd_get(&r, 0x30, "InfoTypeAndValue", &iv, NULL));
		rd_init(&in, iv, "InfoTypeAndValue");
		TRY(rd_get(&in, 0x06, "infoType", &it->oid, NULL));
		if (!rd_at_end(&in))
			TRY(rd_any(&in, &tag, NULL, &it->value));
		TRY(rd_end(&in));
	}
	return NULL;
}

static rt_err *
dec_error(cmp_msg *m, cmp_buf v)
{
	rt_err *e;
	cmp_rd r;
	cmp_buf t;
	bool has;
	rd_init(&r, v, "ErrorMsgContent");
	TRY(dec_status(&r, &m->error));
	TRY(rd_opt(&r, 0x02, "errorCode", &t, NULL, &has));
	if (has)
		TRY(rd_long(t, "errorCode", &m->error_code));
	TRY(rd_opt(&r, 0x30, "errorDetails", &t, NULL, &has));
	if (has)
		TRY(dec_freetext(t, "errorDetails", m->error_details,
		    CMP_MAX_TEXTS, &m->nerror_details));
	return rd_end(&r);
}

static rt_err *
dec_poll(cmp_msg *m, cmp_buf v, bool rep)
{
	rt_err *e;
	cmp_rd r;
	rd_init(&r, v, rep ? "PollRepContent" : "PollReqContent");
	if (rd_at_end(&r))
		return cmp_fmt("%s: empty", r.what);
	while (!rd_at_end(&r)) {
		cmp_buf pv, t;
		cmp_rd p;
		bool has;
		if (m->npoll == CMP_MAX_REQS)
			return unsupported("too many poll entries");
		cmp_poll *pl = &m->poll[m->npoll++];
		TRY(rd_get(&r, 0x30, "poll entry", &pv, NULL));
		rd_init(&p, pv, "poll entry");
		TRY(rd_int(&p, "certReqId", &pl->cert_req_id));
		if (rep) {
			TRY(rd_int(&p, "checkAfter", &pl->check_after));
			if (pl->check_after < 0)
				return cmp_fmt("checkAfter negative");
			TRY(rd_opt(&p, 0x30, "reason", &t, NULL, &has));
			if (has) {
				size_t n;
				TRY(dec_freetext(t, "reason", &pl->reason, 1, &n));
			}
		}
		TRY(rd_end(&p));
	}
	return NULL;
}

static rt_err *
dec_body(cmp_msg *m, int tag, cmp_buf v)
{
	rt_err *e;
	cmp_rd r;
	cmp_buf c;
	m->type = tag & 0x1F;
	rd_init(&r, v, cmp_body_name(m->type));
	switch (m->type) {
	case CMP_BODY_IR:
	case CMP_BODY_CR:
	case CMP_BODY_KUR:
		TRY(rd_get(&r, 0x30, "CertReqMessages", &c, NULL));
		TRY(dec_cert_req_msgs(m, c));
		break;
	case CMP_BODY_P10CR:
		TRY(rd_get(&r, 0x30, "CertificationRequest", NULL, &m->p10));
		break;
	case CMP_BODY_IP:
	case CMP_BODY_CP:
	case CMP_BODY_KUP:
		TRY(rd_get(&r, 0x30, "CertRepMessage", &c, NULL));
		TRY(dec_cert_rep(m, c));
		break;
	case CMP_BODY_CERTCONF:
		TRY(rd_get(&r, 0x30, "CertConfirmContent", &c, NULL));
		TRY(dec_cert_conf(m, c));
		break;
	case CMP_BODY_PKICONF:
		TRY(rd_get(&r, 0x05, "PKIConfirmContent", &c, NULL));
		if (c.len != 0)
			return cmp_fmt("pkiconf: not NULL");
		break;
	case CMP_BODY_RR:
		TRY(rd_get(&r, 0x30, "RevReqContent", &c, NULL));
		TRY(dec_rev_req(m, c));
		break;
	case CMP_BODY_RP:
		TRY(rd_get(&r, 0x30, "RevRepContent", &c, NULL));
		TRY(dec_rev_rep(m, c));
		break;
	case CMP_BODY_GENM:
	case CMP_BODY_GENP:
		TRY(rd_get(&r, 0x30, "GenMsgContent", &c, NULL));
		TRY(dec_gen(m, c));
		break;
	case CMP_BODY_ERROR:
		TRY(rd_get(&r, 0x30, "ErrorMsgContent", &c, NULL));
		TRY(dec_error(m, c));
		break;
	case CMP_BODY_POLLREQ:
	case CMP_BODY_POLLREP:
		TRY(rd_get(&r, 0x30, "PollContent", &c, NULL));
		TRY(dec_poll(m, c, m->type == CMP_BODY_POLLREP));
		break;
	default:
		return rt_err_new(RT_E_CMP_UNSUPPORTED, NULL, "CMP body type %s "
		    "[%d] not supported", cmp_body_name(m->type), m->type);
	}
	return rd_end(&r);
}

static rt_err *
decode(cmp_msg *m)
{
	rt_err *e;
	cmp_rd top, r;
	cmp_buf v, hdr, body, t;
	int tag;
	bool has;
	cmp_buf all = { m->raw, m->raw_len };
	rd_init(&top, all, "PKIMessage");
	TRY(rd_get(&top, 0x30, "PKIMessage", &v, NULL));
	TRY(rd_end(&top));
	rd_init(&r, v, "PKIMessage");
	TRY(rd_get(&r, 0x30, "header", &hdr, NULL));
	const uint8_t *pp_start = v.p;	/* the header's TLV */
	TRY(dec_header(m, hdr));
	tag = rd_peek(&r);
	if (tag < 0 || (tag & 0xE0) != 0xA0)
		return cmp_fmt("PKIMessage: no body");
	TRY(rd_any(&r, &tag, &body, NULL));
	TRY(dec_body(m, tag, body));
	/* ProtectedPart ::= SEQUENCE { header, body } */
	cmp_buf hb = { pp_start, (size_t)(r.p - pp_start) };
	TRY(resequence(m, hb, &m->protected_part));
	TRY(rd_opt(&r, 0xA0, "protection", &t, NULL, &has));
	if (has) {
		cmp_rd in;
		cmp_buf bs;
		rd_init(&in, t, "protection");
		TRY(rd_get(&in, 0x03, "PKIProtection", &bs, NULL));
		TRY(rd_end(&in));
		if (bs.len < 2 || bs.p[0] != 0)
			return cmp_fmt("protection: bad BIT STRING");
		m->protection.p = bs.p + 1;
		m->protection.len = bs.len - 1;
		if (m->hdr.protection_alg.len == 0)
			return cmp_fmt("protection without protectionAlg");
	} else if (m->hdr.protection_alg.len > 0)
		return cmp_fmt("protectionAlg without protection");
	TRY(rd_opt(&r, 0xA1, "extraCerts", &t, NULL, &has));
	if (has) {
		cmp_rd in;
		cmp_buf s;
		rd_init(&in, t, "extraCerts");
		TRY(rd_get(&in, 0x30, "extraCerts", &s, NULL));
		TRY(rd_end(&in));
		TRY(dec_certs(s, "extraCerts", m->extra_certs, CMP_MAX_CERTS,
		    &m->nextra_certs));
	}
	TRY(rd_end(&r));
	if (m->hdr.protection_alg.len > 0)
		TRY(cmp_sig_alg_parse(m->hdr.protection_alg, &m->prot_hash,
		    &m->prot_scheme));
	return NULL;
}

rt_err *
cmp_msg_decode(const uint8_t *der, size_t len, cmp_msg **out)
{
	cmp_msg *m;
	rt_err *e = cmp_msg_new(&m);
	if (e != NULL)
		return e;
	m->raw = malloc(len ? len : 1);
	if (m->raw == NULL) {
		cmp_msg_free(m);
		return rt_err_new(RT_E_NOMEM, NULL, "CMP message");
	}
	if (len > 0)	/* an empty body: der may be NULL */
		memcpy(m->raw, der, len);
	m->raw_len = len;
	if ((e = decode(m)) != NULL) {
		cmp_msg_free(m);
		if (rt_err_kind_of(e) == RT_E_CMP_FORMAT)
			return rt_err_wrap(e, "malformed CMP message");
		return e;
	}
	*out = m;
	return NULL;
}

/* ---- values of InfoTypeAndValues ----------------------------------------------- */

rt_err *
cmp_certs_parse(cmp_buf value, cmp_buf *certs, size_t max, size_t *n)
{
	rt_err *e;
	cmp_rd r;
	cmp_buf s;
	rd_init(&r, value, "caCerts");
	TRY(rd_get(&r, 0x30, "caCerts", &s, NULL));
	TRY(rd_end(&r));
	return dec_certs(s, "caCerts", certs, max, n);
}

rt_err *
cmp_root_update_parse(cmp_buf value, cmp_root_update *u)
{
	rt_err *e;
	cmp_rd r, in, x;
	cmp_buf s, t;
	bool has;
	memset(u, 0, sizeof(*u));
	rd_init(&r, value, "rootCaKeyUpdate");
	TRY(rd_get(&r, 0x30, "RootCaKeyUpdateContent", &s, NULL));
	TRY(rd_end(&r));
	rd_init(&in, s, "RootCaKeyUpdateContent");
	TRY(rd_get(&in, 0x30, "newWithNew", NULL, &u->new_with_new));
	TRY(rd_opt(&in, 0xA0, "newWithOld", &t, NULL, &has));
	if (has) {
		rd_init(&x, t, "newWithOld");
		TRY(rd_get(&x, 0x30, "Certificate", NULL, &u->new_with_old));
		TRY(rd_end(&x));
	}
	TRY(rd_opt(&in, 0xA1, "oldWithNew", &t, NULL, &has));
	if (has) {
		rd_init(&x, t, "oldWithNew");
		TRY(rd_get(&x, 0x30, "Certificate", NULL, &u->old_with_new));
		TRY(rd_end(&x));
	}
	return rd_end(&in);
}

rt_err *
cmp_mgmt_key_parse(cmp_buf value, bool response, cmp_mgmt_key *k)
{
	rt_err *e;
	cmp_rd r, in;
	cmp_buf s;
	long alg;
	memset(k, 0, sizeof(*k));
	rd_init(&r, value, "cardMgmtKey");
	TRY(rd_get(&r, 0x30, "cardMgmtKey", &s, NULL));
	TRY(rd_end(&r));
	rd_init(&in, s, "cardMgmtKey");
	TRY(rd_get(&in, 0x04, "cardId", &k->card_id, NULL));
	if (k->card_id.len == 0 || k->card_id.len > 64)
		return cmp_fmt("cardMgmtKey: bad cardId length");
	if (response) {
		TRY(rd_int(&in, "algorithm", &alg));
		if (alg != 3 && alg != 8 && alg != 10 && alg != 12)
			return cmp_fmt("cardMgmtKey: unknown algorithm %ld", alg);
		k->alg = (int)alg;
		TRY(rd_get(&in, 0x04, "key", &k->key, NULL));
		size_t want = alg == 8 ? 16 : alg == 12 ? 32 : 24;
		if (k->key.len != want)
			return cmp_fmt("cardMgmtKey: key of %zu bytes for algorithm "
			    "%ld", k->key.len, alg);
	}
	return rd_end(&in);
}

static rt_err *
dec_enum(cmp_rd *r, const char *field, long max, long *out)
{
	rt_err *e;
	cmp_buf v;
	TRY(rd_get(r, 0x0A, field, &v, NULL));
	TRY(rd_long(v, field, out));
	if (*out < 0 || *out > max)
		return cmp_fmt("%s: value %ld out of range", field, *out);
	return NULL;
}

rt_err *
cmp_tx_status_parse(cmp_buf value, bool response, cmp_tx_status *s)
{
	rt_err *e;
	cmp_rd r, in, list;
	cmp_buf seq, v;
	bool has;
	long l;
	memset(s, 0, sizeof(*s));
	rd_init(&r, value, "txStatus");
	TRY(rd_get(&r, 0x30, "txStatus", &seq, NULL));
	TRY(rd_end(&r));
	rd_init(&in, seq, "txStatus");
	TRY(rd_get(&in, 0x04, "transactionID", &s->txid, NULL));
	if (s->txid.len == 0 || s->txid.len > 64)
		return cmp_fmt("txStatus: transactionID of %zu bytes",
		    s->txid.len);
	if (!response)
		return rd_end(&in);
	TRY(dec_enum(&in, "status", CMP_TX_CLOSED, &l));
	s->status = (cmp_tx_state)l;
	TRY(rd_opt(&in, 0xA0, "recipNonce", &v, NULL, &has));
	if (has) {
		cmp_rd t;
		rd_init(&t, v, "recipNonce");
		TRY(rd_get(&t, 0x04, "recipNonce", &s->recip_nonce, NULL));
		TRY(rd_end(&t));
		if (s->recip_nonce.len == 0 || s->recip_nonce.len > 128)
			return cmp_fmt("txStatus: recipNonce of %zu bytes",
			    s->recip_nonce.len);
	}
	TRY(rd_opt(&in, 0xA1, "confirmBy", &v, NULL, &has));
	if (has) {
		cmp_rd t;
		rd_init(&t, v, "confirmBy");
		TRY(dec_gtime(&t, "confirmBy", &s->confirm_by));
		TRY(rd_end(&t));
	}
	TRY(rd_get(&in, 0x30, "certs", &v, NULL));
	TRY(rd_end(&in));
	if (s->status == CMP_TX_UNKNOWN && v.len != 0)
		return cmp_fmt("txStatus: certificates for an unknown transaction");
	rd_init(&list, v, "certs");
	while (!rd_at_end(&list)) {
		cmp_buf one;
		cmp_rd c;
		if (s->ncerts == CMP_TX_MAX_CERTS)
			return cmp_fmt("txStatus: more than %d certificates",
			    CMP_TX_MAX_CERTS);
		cmp_tx_cert *x = &s->certs[s->ncerts];
		TRY(rd_get(&list, 0x30, "TxCert", &one, NULL));
		rd_init(&c, one, "TxCert");
		TRY(rd_int(&c, "certReqId", &l));
		if (l < 0 || l > 1000000)
			return cmp_fmt("txStatus: certReqId %ld", l);
		x->cert_req_id = (int)l;
		TRY(dec_enum(&c, "state", CMP_TXC_REVOKED, &l));
		x->state = (cmp_txc_state)l;
		TRY(rd_get(&c, 0x30, "certificate", NULL, &x->cert));
		TRY(rd_end(&c));
		s->ncerts++;
	}
	return NULL;
}
