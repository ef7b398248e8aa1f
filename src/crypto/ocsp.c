/* ocsp.c - OCSP requests and responses (RFC 6960) on buffers; see
 * include/raterm/ocsp.h */
#include "raterm/ocsp.h"
#include "raterm/csr.h"
#include "raterm/x509write.h"
#include "der.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>

#define OID_OCSP_BASIC   "1.3.6.1.5.5.7.48.1.1"
#define OID_OCSP_NONCE   "1.3.6.1.5.5.7.48.1.2"
#define OID_OCSP_SIGNING MBEDTLS_OID_OCSP_SIGNING

/* ---- reading ------------------------------------------------------------ */

typedef struct {
	unsigned char *p;
	const unsigned char *end;
} rd;

#define SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define CTX(n) (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | (n))
#define CTXP(n) (MBEDTLS_ASN1_CONTEXT_SPECIFIC | (n))

static rt_err *
bad(const char *what)
{
	return rt_err_new(RT_E_FORMAT, NULL, "OCSP: malformed %s", what);
}

/* Enters a TLV of tag: *in is the value, r advances past it. */
static bool
get(rd *r, int tag, rd *in)
{
	size_t l;
	unsigned char *p = r->p;
	if (mbedtls_asn1_get_tag(&p, r->end, &l, tag) != 0)
		return false;
	in->p = p;
	in->end = p + l;
	r->p = p + l;
	return true;
}

static bool
peek(const rd *r, int tag)
{
	return r->p < r->end && *r->p == tag;
}

static bool
done(const rd *r)
{
	return r->p == r->end;
}

/* GeneralizedTime YYYYMMDDhhmmssZ */
static bool
get_gtime(rd *r, time_t *t)
{
	rd v;
	struct tm tm;
	if (!get(r, MBEDTLS_ASN1_GENERALIZED_TIME, &v) || v.end - v.p != 15 ||
	    v.p[14] != 'Z')
		return false;
	for (int i = 0; i < 14; i++)
		if (v.p[i] < '0' || v.p[i] > '9')
			return false;
	memset(&tm, 0, sizeof(tm));
	int f[6], w[6] = { 4, 2, 2, 2, 2, 2 }, o = 0;
	for (int i = 0; i < 6; i++) {
		f[i] = 0;
		for (int j = 0; j < w[i]; j++)
			f[i] = f[i] * 10 + (v.p[o++] - '0');
	}
	tm.tm_year = f[0] - 1900;
	tm.tm_mon = f[1] - 1;
	tm.tm_mday = f[2];
	tm.tm_hour = f[3];
	tm.tm_min = f[4];
	tm.tm_sec = f[5];
	if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 ||
	    f[4] > 59 || f[5] > 60)
		return false;
	*t = timegm(&tm);
	return true;
}

static rt_hash
hash_of_md(mbedtls_md_type_t md)
{
	for (rt_hash h = RT_HASH_SHA1; h <= RT_HASH_SHA512; h++)
		if (rt_hash_md(h) == md)
			return h;
	return RT_HASH_NONE;
}

/* INTEGER -> magnitude (a positive serial of 1..20 bytes) */
static bool
get_serial(rd *r, uint8_t *out, size_t *len)
{
	rd v;
	if (!get(r, MBEDTLS_ASN1_INTEGER, &v) || v.p == v.end ||
	    (v.p[0] & 0x80))
		return false;
	while (v.end - v.p > 1 && v.p[0] == 0)
		v.p++;
	if ((size_t)(v.end - v.p) > 20)
		return false;
	*len = (size_t)(v.end - v.p);
	memcpy(out, v.p, *len);
	return true;
}

static rt_err *
certid_parse(rd *r, rt_ocsp_certid *id)
{
	rd c, alg, oid, h1, h2;
	mbedtls_md_type_t md;
	memset(id, 0, sizeof(*id));
	if (!get(r, SEQ, &c) || !get(&c, SEQ, &alg) ||
	    !get(&alg, MBEDTLS_ASN1_OID, &oid))
		return bad("CertID");
	if (peek(&alg, MBEDTLS_ASN1_NULL)) {
		rd n;
		if (!get(&alg, MBEDTLS_ASN1_NULL, &n) || n.p != n.end)
			return bad("CertID hashAlgorithm");
	}
	mbedtls_asn1_buf ob = { MBEDTLS_ASN1_OID, (size_t)(oid.end - oid.p),
	    oid.p };
	if (!done(&alg) || mbedtls_oid_get_md_alg(&ob, &md) != 0 ||
	    (id->hash = hash_of_md(md)) == RT_HASH_NONE)
		return rt_err_new(RT_E_FORMAT, NULL, "OCSP: CertID hash algorithm "
		    "not supported");
	id->hash_len = rt_hash_len(id->hash);
	if (!get(&c, MBEDTLS_ASN1_OCTET_STRING, &h1) ||
	    (size_t)(h1.end - h1.p) != id->hash_len ||
	    !get(&c, MBEDTLS_ASN1_OCTET_STRING, &h2) ||
	    (size_t)(h2.end - h2.p) != id->hash_len ||
	    !get_serial(&c, id->serial, &id->serial_len) || !done(&c))
		return bad("CertID");
	memcpy(id->name_hash, h1.p, id->hash_len);
	memcpy(id->key_hash, h2.p, id->hash_len);
	return NULL;
}

/* Extensions: the nonce (an OCTET STRING in extnValue, RFC 8954); other
 * extensions are ignored unless critical. */
static rt_err *
exts_nonce(rd *r, uint8_t *nonce, size_t *nonce_len)
{
	rd all;
	if (!get(r, SEQ, &all))
		return bad("extensions");
	while (!done(&all)) {
		rd x, oid, val;
		int crit = 0;
		if (!get(&all, SEQ, &x) || !get(&x, MBEDTLS_ASN1_OID, &oid))
			return bad("extension");
		if (peek(&x, MBEDTLS_ASN1_BOOLEAN) &&
		    mbedtls_asn1_get_bool(&x.p, x.end, &crit) != 0)
			return bad("extension");
		if (!get(&x, MBEDTLS_ASN1_OCTET_STRING, &val) || !done(&x))
			return bad("extension");
		char dotted[64];
		rt_oid_dotted(oid.p, (size_t)(oid.end - oid.p), dotted,
		    sizeof(dotted));
		if (strcmp(dotted, OID_OCSP_NONCE) == 0) {
			rd n = val, in;
			/* the nonce is an OCTET STRING; some clients send the
			 * bytes bare */
			if (!(get(&n, MBEDTLS_ASN1_OCTET_STRING, &in) && done(&n)))
				in = val;
			size_t l = (size_t)(in.end - in.p);
			if (l == 0 || l > RT_OCSP_NONCE_MAX)
				return rt_err_new(RT_E_TOO_BIG, NULL, "OCSP: nonce of "
				    "%zu bytes (1 to %d)", l, RT_OCSP_NONCE_MAX);
			memcpy(nonce, in.p, l);
			*nonce_len = l;
		} else if (crit) {
			return rt_err_new(RT_E_FORMAT, NULL, "OCSP: critical "
			    "extension %s not supported", dotted);
		}
	}
	return NULL;
}

/* ---- CertID -------------------------------------------------------------- */

rt_err *
rt_ocsp_certid_of(const uint8_t *issuer, size_t issuer_len,
    const uint8_t *serial, size_t serial_len, rt_hash h, rt_ocsp_certid *out)
{
	mbedtls_x509_crt crt;
	rt_err *e = NULL;
	memset(out, 0, sizeof(*out));
	while (serial_len > 1 && serial[0] == 0) {
		serial++;
		serial_len--;
	}
	if (serial_len == 0 || serial_len > 20 || rt_hash_len(h) == 0)
		return rt_err_new(RT_E_ARG, NULL, "OCSP CertID: serial of 1 to 20 "
		    "bytes and a hash expected");
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_der(&crt, issuer, issuer_len) != 0) {
		mbedtls_x509_crt_free(&crt);
		return rt_err_new(RT_E_CERT, NULL, "OCSP CertID: the issuer "
		    "certificate does not parse");
	}
	/* issuerKeyHash: over the subjectPublicKey BIT STRING's bits */
	rd r = { crt.pk_raw.p, crt.pk_raw.p + crt.pk_raw.len }, spki, alg, bits;
	if (!get(&r, SEQ, &spki) || !get(&spki, SEQ, &alg) ||
	    !get(&spki, MBEDTLS_ASN1_BIT_STRING, &bits) || bits.p == bits.end) {
		e = rt_err_new(RT_E_CERT, NULL, "OCSP CertID: issuer key");
		goto out;
	}
	out->hash = h;
	out->hash_len = rt_hash_len(h);
	if ((e = rt_hash_data(h, crt.subject_raw.p, crt.subject_raw.len,
	    out->name_hash)) != NULL || (e = rt_hash_data(h, bits.p + 1,
	    (size_t)(bits.end - bits.p) - 1, out->key_hash)) != NULL)
		goto out;
	memcpy(out->serial, serial, serial_len);
	out->serial_len = serial_len;
out:
	mbedtls_x509_crt_free(&crt);
	return e;
}

bool
rt_ocsp_certid_eq(const rt_ocsp_certid *a, const rt_ocsp_certid *b)
{
	return a->hash == b->hash && a->hash_len == b->hash_len &&
	    a->serial_len == b->serial_len &&
	    memcmp(a->name_hash, b->name_hash, a->hash_len) == 0 &&
	    memcmp(a->key_hash, b->key_hash, a->hash_len) == 0 &&
	    memcmp(a->serial, b->serial, a->serial_len) == 0;
}

static rt_err *
certid_write(rt_der *d, const rt_ocsp_certid *id)
{
	const char *oid;
	size_t olen;
	rt_der c, alg;
	if (mbedtls_oid_get_oid_by_md(rt_hash_md(id->hash), &oid, &olen) != 0)
		return rt_err_new(RT_E_ARG, NULL, "OCSP CertID: no OID for %s",
		    rt_hash_name(id->hash));
	der_init(&c);
	der_init(&alg);
	der_tlv(&alg, 0x06, oid, olen);
	der_tlv(&alg, 0x05, NULL, 0);
	der_wrap(&c, 0x30, &alg);
	der_tlv(&c, 0x04, id->name_hash, id->hash_len);
	der_tlv(&c, 0x04, id->key_hash, id->hash_len);
	der_uint(&c, id->serial, id->serial_len);
	der_wrap(d, 0x30, &c);
	der_free(&c);
	der_free(&alg);
	return NULL;
}

/* [tag] EXPLICIT Extensions { nonce } */
static void
nonce_ext(rt_der *d, uint8_t tag, const uint8_t *nonce, size_t len)
{
	rt_der v, x, all, seq;
	der_init(&v);
	der_init(&x);
	der_init(&all);
	der_init(&seq);
	der_tlv(&v, 0x04, nonce, len);
	der_oid(&x, OID_OCSP_NONCE);
	der_wrap(&x, 0x04, &v);
	der_wrap(&all, 0x30, &x);
	der_wrap(&seq, 0x30, &all);
	der_wrap(d, tag, &seq);
	der_free(&v);
	der_free(&x);
	der_free(&all);
	der_free(&seq);
}

static rt_err *
take(rt_der *d, uint8_t **der, size_t *len, const char *what)
{
	rt_err *e = der_check(d);
	if (e == NULL && (*der = malloc(d->len)) == NULL)
		e = rt_err_new(RT_E_NOMEM, NULL, "%s", what);
	if (e == NULL) {
		memcpy(*der, d->p, d->len);
		*len = d->len;
	}
	der_free(d);
	return e;
}

/* ---- requests -------------------------------------------------------------- */

rt_err *
rt_ocsp_req_encode(const rt_ocsp_req *r, uint8_t **der, size_t *len)
{
	rt_der list, tbs, body, out;
	rt_err *e = NULL;
	*der = NULL;
	if (r->n == 0 || r->n > RT_OCSP_MAX || r->nonce_len > RT_OCSP_NONCE_MAX)
		return rt_err_new(RT_E_ARG, NULL, "OCSP request: 1 to %d "
		    "certificates and a nonce of at most %d bytes", RT_OCSP_MAX,
		    RT_OCSP_NONCE_MAX);
	der_init(&list);
	der_init(&tbs);
	der_init(&body);
	der_init(&out);
	for (size_t i = 0; i < r->n && e == NULL; i++) {
		rt_der one;
		der_init(&one);
		e = certid_write(&one, &r->ids[i]);
		der_wrap(&list, 0x30, &one);
		der_free(&one);
	}
	if (e == NULL) {
		der_wrap(&body, 0x30, &list);
		if (r->nonce_len > 0)
			nonce_ext(&body, 0xA2, r->nonce, r->nonce_len);
		der_wrap(&tbs, 0x30, &body);
		der_wrap(&out, 0x30, &tbs);
		e = take(&out, der, len, "OCSP request");
	}
	der_free(&list);
	der_free(&tbs);
	der_free(&body);
	der_free(&out);
	return e;
}

rt_err *
rt_ocsp_req_parse(const uint8_t *der, size_t len, rt_ocsp_req *out)
{
	rd r = { (unsigned char *)(uintptr_t)der, der + len }, req, tbs, list;
	rt_err *e;
	memset(out, 0, sizeof(*out));
	if (!get(&r, SEQ, &req) || !done(&r) || !get(&req, SEQ, &tbs))
		return bad("OCSPRequest");
	if (peek(&req, CTX(0))) {
		rd sig;
		if (!get(&req, CTX(0), &sig))
			return bad("optionalSignature");
	}
	if (!done(&req))
		return bad("OCSPRequest");
	if (peek(&tbs, CTX(0))) {
		rd v, vi;
		if (!get(&tbs, CTX(0), &v) || !get(&v, MBEDTLS_ASN1_INTEGER, &vi) ||
		    vi.end - vi.p != 1 || vi.p[0] != 0)
			return rt_err_new(RT_E_FORMAT, NULL, "OCSP: request version "
			    "not v1");
	}
	if (peek(&tbs, CTX(1))) {
		rd name;
		if (!get(&tbs, CTX(1), &name))
			return bad("requestorName");
	}
	if (!get(&tbs, SEQ, &list))
		return bad("requestList");
	while (!done(&list)) {
		rd one;
		if (out->n == RT_OCSP_MAX)
			return rt_err_new(RT_E_TOO_BIG, NULL, "OCSP: more than %d "
			    "certificates in one request", RT_OCSP_MAX);
		if (!get(&list, SEQ, &one))
			return bad("Request");
		if ((e = certid_parse(&one, &out->ids[out->n])) != NULL)
			return e;
		if (peek(&one, CTX(0))) {
			rd ext;
			uint8_t ign[RT_OCSP_NONCE_MAX];
			size_t il = 0;
			if (!get(&one, CTX(0), &ext) ||
			    (e = exts_nonce(&ext, ign, &il)) != NULL)
				return e ? e : bad("singleRequestExtensions");
		}
		if (!done(&one))
			return bad("Request");
		out->n++;
	}
	if (out->n == 0)
		return bad("requestList (empty)");
	if (peek(&tbs, CTX(2))) {
		rd ext;
		if (!get(&tbs, CTX(2), &ext))
			return bad("requestExtensions");
		if ((e = exts_nonce(&ext, out->nonce, &out->nonce_len)) != NULL)
			return e;
		if (!done(&ext))
			return bad("requestExtensions");
	}
	return done(&tbs) ? NULL : bad("TBSRequest");
}

/* ---- responses ------------------------------------------------------------- */

rt_err *
rt_ocsp_error_write(rt_ocsp_rsp_status st, uint8_t **der, size_t *len)
{
	rt_der body, out;
	uint8_t v = (uint8_t)st;
	*der = NULL;
	if (st == RT_OCSP_SUCCESSFUL)
		return rt_err_new(RT_E_ARG, NULL, "OCSP: a successful response "
		    "needs its BasicOCSPResponse");
	der_init(&body);
	der_init(&out);
	der_tlv(&body, 0x0A, &v, 1);
	der_wrap(&out, 0x30, &body);
	der_free(&body);
	return take(&out, der, len, "OCSP response");
}

rt_err *
rt_ocsp_resp_write(const rt_ocsp_resp_tmpl *t, rt_signer *s, uint8_t **der,
    size_t *len)
{
	rt_der rdata, body, list, tail, tmp, basic, out;
	rt_hash h = RT_HASH_NONE;
	rt_scheme sch = RT_SCHEME_DEFAULT;
	uint8_t *signed_der = NULL;
	size_t signed_len = 0;
	rt_err *e = NULL;

	*der = NULL;
	if (t->n == 0 || t->n > RT_OCSP_MAX || t->responder_key_id == NULL ||
	    t->nonce_len > RT_OCSP_NONCE_MAX)
		return rt_err_new(RT_E_ARG, NULL, "OCSP response: 1 to %d "
		    "answers, the responder's key id and a nonce of at most %d "
		    "bytes", RT_OCSP_MAX, RT_OCSP_NONCE_MAX);
	rt_signed_alg(s, &h, &sch);
	der_init(&rdata);
	der_init(&body);
	der_init(&list);
	der_init(&tail);
	der_init(&tmp);
	der_init(&basic);
	der_init(&out);
	der_tlv(&tmp, 0x04, t->responder_key_id, 20);
	der_wrap(&body, 0xA2, &tmp);			/* responderID byKey */
	der_gtime(&body, t->produced_at);
	for (size_t i = 0; i < t->n && e == NULL; i++) {
		const rt_ocsp_single *o = &t->single[i];
		rt_der one, st;
		der_init(&one);
		der_init(&st);
		e = certid_write(&one, &o->id);
		if (o->status == RT_OCSP_GOOD)
			der_tlv(&one, 0x80, NULL, 0);
		else if (o->status == RT_OCSP_UNKNOWN)
			der_tlv(&one, 0x82, NULL, 0);
		else {
			der_gtime(&st, o->revoked_at);
			if (o->reason >= 0) {
				rt_der rc;
				uint8_t v = (uint8_t)o->reason;
				der_init(&rc);
				der_tlv(&rc, 0x0A, &v, 1);
				der_wrap(&st, 0xA0, &rc);
				der_free(&rc);
			}
			der_wrap(&one, 0xA1, &st);
		}
		der_gtime(&one, o->this_update);
		if (o->next_update != 0) {
			rt_der nu;
			der_init(&nu);
			der_gtime(&nu, o->next_update);
			der_wrap(&one, 0xA0, &nu);
			der_free(&nu);
		}
		der_wrap(&list, 0x30, &one);
		der_free(&one);
		der_free(&st);
	}
	if (e != NULL)
		goto out;
	der_wrap(&body, 0x30, &list);
	if (t->nonce != NULL && t->nonce_len > 0)
		nonce_ext(&body, 0xA1, t->nonce, t->nonce_len);
	der_wrap(&rdata, 0x30, &body);
	if (t->signer_cert != NULL) {
		rt_der seq;
		der_init(&seq);
		der_raw(&seq, t->signer_cert, t->signer_cert_len);
		der_free(&tmp);
		der_init(&tmp);
		der_wrap(&tmp, 0x30, &seq);
		der_wrap(&tail, 0xA0, &tmp);
		der_free(&seq);
	}
	if ((e = der_check(&rdata)) != NULL || (e = der_check(&tail)) != NULL)
		goto out;
	if ((e = der_signed(s, h, sch, rdata.p, rdata.len, tail.p, tail.len,
	    &signed_der, &signed_len)) != NULL)
		goto out;
	/* OCSPResponse { successful, [0] { id-pkix-ocsp-basic, OCTET STRING } } */
	{
		uint8_t ok = 0;
		rt_der rb, seq;
		der_init(&rb);
		der_init(&seq);
		der_oid(&rb, OID_OCSP_BASIC);
		der_tlv(&rb, 0x04, signed_der, signed_len);
		der_wrap(&seq, 0x30, &rb);
		der_tlv(&basic, 0x0A, &ok, 1);
		der_wrap(&basic, 0xA0, &seq);
		der_wrap(&out, 0x30, &basic);
		der_free(&rb);
		der_free(&seq);
	}
	e = take(&out, der, len, "OCSP response");
out:
	free(signed_der);
	der_free(&rdata);
	der_free(&body);
	der_free(&list);
	der_free(&tail);
	der_free(&tmp);
	der_free(&basic);
	der_free(&out);
	return e;
}

static rt_err *
single_parse(rd *r, rt_ocsp_single *o)
{
	rt_err *e;
	rd one, st;
	memset(o, 0, sizeof(*o));
	o->reason = -1;
	if (!get(r, SEQ, &one))
		return bad("SingleResponse");
	if ((e = certid_parse(&one, &o->id)) != NULL)
		return e;
	if (peek(&one, CTXP(0))) {
		if (!get(&one, CTXP(0), &st) || st.p != st.end)
			return bad("certStatus good");
		o->status = RT_OCSP_GOOD;
	} else if (peek(&one, CTXP(2))) {
		if (!get(&one, CTXP(2), &st) || st.p != st.end)
			return bad("certStatus unknown");
		o->status = RT_OCSP_UNKNOWN;
	} else if (peek(&one, CTX(1))) {
		if (!get(&one, CTX(1), &st) || !get_gtime(&st, &o->revoked_at))
			return bad("RevokedInfo");
		if (peek(&st, CTX(0))) {
			rd rc, v;
			if (!get(&st, CTX(0), &rc) ||
			    !get(&rc, MBEDTLS_ASN1_ENUMERATED, &v) ||
			    v.end - v.p != 1 || v.p[0] > 10 || !done(&rc))
				return bad("revocationReason");
			o->reason = v.p[0];
		}
		if (!done(&st))
			return bad("RevokedInfo");
		o->status = RT_OCSP_REVOKED;
	} else
		return bad("certStatus");
	if (!get_gtime(&one, &o->this_update))
		return bad("thisUpdate");
	if (peek(&one, CTX(0))) {
		rd nu;
		if (!get(&one, CTX(0), &nu) || !get_gtime(&nu, &o->next_update) ||
		    !done(&nu))
			return bad("nextUpdate");
	}
	if (peek(&one, CTX(1))) {
		rd ext;
		if (!get(&one, CTX(1), &ext))
			return bad("singleExtensions");
	}
	return done(&one) ? NULL : bad("SingleResponse");
}

/* The key that may sign for issuer: the issuer's, or a responder
 * certificate's that issuer signed with id-kp-OCSPSigning. */
static rt_err *
responder_key(rd certs, mbedtls_x509_crt *issuer, mbedtls_x509_crt *resp,
    mbedtls_pk_context **pk)
{
	rd seq;
	*pk = &issuer->pk;
	if (certs.p == NULL)
		return NULL;
	if (!get(&certs, SEQ, &seq) || !done(&certs))
		return bad("certs");
	while (!done(&seq)) {
		rd c;
		unsigned char *start = seq.p;
		if (!get(&seq, SEQ, &c))
			return bad("certs");
		mbedtls_x509_crt_free(resp);
		mbedtls_x509_crt_init(resp);
		uint32_t flags = 0;
		size_t clen = (size_t)(c.end - start);
		if (clen == issuer->raw.len && memcmp(start, issuer->raw.p, clen) ==
		    0)
			continue;	/* the issuer itself */
		if (mbedtls_x509_crt_parse_der(resp, start, clen) != 0)
			return bad("responder certificate");
		/* RFC 6960 4.2.2.2: issued by the CA, with id-kp-OCSPSigning
		 * (mbedTLS accepts any usage when the extension is absent) */
		if (mbedtls_x509_crt_verify(resp, issuer, NULL, NULL, &flags, NULL,
		    NULL) == 0 && (resp->ext_types &
		    MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) &&
		    mbedtls_x509_crt_check_extended_key_usage(resp,
		    MBEDTLS_OID_OCSP_SIGNING, MBEDTLS_OID_SIZE(
		    MBEDTLS_OID_OCSP_SIGNING)) == 0) {
			*pk = &resp->pk;
			return NULL;
		}
	}
	return NULL;	/* none is a delegated responder: the issuer's key */
}

rt_err *
rt_ocsp_resp_parse(const uint8_t *der, size_t len, const uint8_t *issuer,
    size_t issuer_len, rt_ocsp_resp *out)
{
	rd r = { (unsigned char *)(uintptr_t)der, der + len }, top, st, rb0, rb,
	    oid, oct, basic, tbs, alg, sig, certs = { NULL, NULL }, data, list;
	mbedtls_x509_crt ca, resp;
	rt_err *e = NULL;

	memset(out, 0, sizeof(*out));
	if (!get(&r, SEQ, &top) || !done(&r) ||
	    !get(&top, MBEDTLS_ASN1_ENUMERATED, &st) || st.end - st.p != 1)
		return bad("OCSPResponse");
	out->status = (rt_ocsp_rsp_status)st.p[0];
	if (out->status != RT_OCSP_SUCCESSFUL)
		return done(&top) ? NULL : bad("OCSPResponse");
	char dotted[64];
	if (!get(&top, CTX(0), &rb0) || !done(&top) || !get(&rb0, SEQ, &rb) ||
	    !done(&rb0) ||
	    !get(&rb, MBEDTLS_ASN1_OID, &oid) ||
	    !get(&rb, MBEDTLS_ASN1_OCTET_STRING, &oct) || !done(&rb))
		return bad("responseBytes");
	rt_oid_dotted(oid.p, (size_t)(oid.end - oid.p), dotted, sizeof(dotted));
	if (strcmp(dotted, OID_OCSP_BASIC) != 0)
		return rt_err_new(RT_E_FORMAT, NULL, "OCSP: response type %s not "
		    "supported", dotted);
	if (!get(&oct, SEQ, &basic) || !done(&oct))
		return bad("BasicOCSPResponse");
	unsigned char *tbs_start = basic.p;
	if (!get(&basic, SEQ, &tbs))
		return bad("tbsResponseData");
	size_t tbs_len = (size_t)(tbs.end - tbs_start);
	unsigned char *alg_start = basic.p;
	if (!get(&basic, SEQ, &alg) ||
	    !get(&basic, MBEDTLS_ASN1_BIT_STRING, &sig) || sig.p == sig.end ||
	    sig.p[0] != 0)
		return bad("signature");
	if (peek(&basic, CTX(0)) && !get(&basic, CTX(0), &certs))
		return bad("certs");
	if (!done(&basic))
		return bad("BasicOCSPResponse");

	/* ResponseData */
	data = tbs;
	if (peek(&data, CTX(0))) {
		rd v;
		if (!get(&data, CTX(0), &v))
			return bad("version");
	}
	{
		rd rid;
		if (!(get(&data, CTX(1), &rid) || get(&data, CTX(2), &rid)))
			return bad("responderID");
	}
	if (!get_gtime(&data, &out->produced_at) || !get(&data, SEQ, &list))
		return bad("ResponseData");
	while (!done(&list)) {
		if (out->n == RT_OCSP_MAX)
			return rt_err_new(RT_E_TOO_BIG, NULL, "OCSP: more than %d "
			    "answers", RT_OCSP_MAX);
		if ((e = single_parse(&list, &out->single[out->n])) != NULL)
			return e;
		out->n++;
	}
	if (peek(&data, CTX(1))) {
		rd ext;
		if (!get(&data, CTX(1), &ext) ||
		    (e = exts_nonce(&ext, out->nonce, &out->nonce_len)) != NULL)
			return e ? e : bad("responseExtensions");
	}
	if (!done(&data))
		return bad("ResponseData");

	/* the signature */
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&resp);
	if (mbedtls_x509_crt_parse_der(&ca, issuer, issuer_len) != 0) {
		e = rt_err_new(RT_E_CERT, NULL, "OCSP: the issuer certificate does "
		    "not parse");
		goto out;
	}
	mbedtls_pk_context *pk;
	if ((e = responder_key(certs, &ca, &resp, &pk)) != NULL)
		goto out;
	{
		mbedtls_x509_buf aoid, params;
		mbedtls_md_type_t md;
		mbedtls_pk_type_t pkt;
		void *opts = NULL;
		unsigned char *ap = alg_start;
		uint8_t dg[64];
		memset(&params, 0, sizeof(params));
		if (mbedtls_x509_get_alg(&ap, alg.end, &aoid, &params) != 0 ||
		    mbedtls_x509_get_sig_alg(&aoid, &params, &md, &pkt, &opts) !=
		    0) {
			e = rt_err_new(RT_E_FORMAT, NULL, "OCSP: signature algorithm "
			    "not supported");
			goto out;
		}
		free(opts);
		rt_hash h = hash_of_md(md);
		rt_scheme sch = pkt == MBEDTLS_PK_RSASSA_PSS ? RT_SCHEME_PSS :
		    pkt == MBEDTLS_PK_ECDSA ? RT_SCHEME_ECDSA : RT_SCHEME_PKCS1;
		if (h == RT_HASH_NONE || (e = rt_hash_data(h, tbs_start, tbs_len,
		    dg)) != NULL) {
			e = e ? e : rt_err_new(RT_E_FORMAT, NULL, "OCSP: hash");
			goto out;
		}
		if ((e = rt_sig_verify(pk, h, sch, dg, rt_hash_len(h), sig.p + 1,
		    (size_t)(sig.end - sig.p) - 1)) != NULL) {
			e = rt_err_wrap(e, "OCSP response signature (neither the "
			    "issuer nor a responder it authorized)");
			goto out;
		}
	}
out:
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&resp);
	return e;
}

const char *
rt_ocsp_status_name(rt_ocsp_status s)
{
	switch (s) {
	case RT_OCSP_GOOD: return "good";
	case RT_OCSP_REVOKED: return "revoked";
	default: return "unknown";
	}
}
