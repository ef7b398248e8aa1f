/* x509write.c - certificates and CRLs signed by any signer; see
 * include/raterm/x509write.h */
#include "raterm/x509write.h"
#include "der.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/sha1.h>

#define OID_BASIC_CONSTRAINTS "2.5.29.19"
#define OID_AKI               "2.5.29.35"
#define OID_CRL_NUMBER        "2.5.29.20"
#define OID_REASON_CODE       "2.5.29.21"

static rt_err *
der_take(const rt_der *d, uint8_t **der, size_t *len, const char *what)
{
	rt_err *e = der_check(d);
	if (e != NULL)
		return rt_err_wrap(e, "%s", what);
	if ((*der = malloc(d->len)) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "%s", what);
	memcpy(*der, d->p, d->len);
	*len = d->len;
	return NULL;
}

static rt_err *
der_copy(const rt_der *d, uint8_t *out, size_t cap, size_t *len,
    const char *what)
{
	rt_err *e = der_check(d);
	if (e == NULL && d->len > cap)
		e = rt_err_new(RT_E_TOO_BIG, NULL, "%s: %zu bytes, room for %zu",
		    what, d->len, cap);
	if (e == NULL) {
		memcpy(out, d->p, d->len);
		*len = d->len;
	}
	return e;
}

void
rt_signed_alg(const rt_signer *s, rt_hash *h, rt_scheme *sch)
{
	rt_keytype kt = rt_signer_keytype(s);
	if (*h == RT_HASH_NONE)
		*h = rt_pk_default_hash(rt_signer_pk(s));
	if (*sch == RT_SCHEME_DEFAULT)
		*sch = kt == RT_KEY_RSA ? RT_SCHEME_PKCS1 : RT_SCHEME_ECDSA;
}

rt_err *
der_signed(rt_signer *s, rt_hash h, rt_scheme sch, const uint8_t *tbs,
    size_t tbs_len, const uint8_t *tail, size_t tail_len, uint8_t **der,
    size_t *len)
{
	uint8_t dg[64], *sig = NULL;
	size_t sig_len = 0;
	rt_der body, out;
	rt_err *e;

	*der = NULL;
	der_init(&body);
	der_init(&out);
	if ((e = rt_hash_data(h, tbs, tbs_len, dg)) != NULL)
		goto out;
	size_t cap = rt_signer_max_sig(s) + 1;
	if ((sig = malloc(cap)) == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "signature");
		goto out;
	}
	sig[0] = 0x00;	/* BIT STRING: no unused bits */
	if ((e = rt_signer_sign(s, h, sch, dg, rt_hash_len(h), sig + 1, cap - 1,
	    &sig_len)) != NULL)
		goto out;
	der_raw(&body, tbs, tbs_len);
	if ((e = rt_sig_alg_der(&body, rt_signer_keytype(s), h, sch)) != NULL)
		goto out;
	der_tlv(&body, 0x03, sig, sig_len + 1);
	if (tail_len > 0)
		der_raw(&body, tail, tail_len);
	der_wrap(&out, 0x30, &body);
	e = der_take(&out, der, len, "signed structure");
out:
	free(sig);
	der_free(&body);
	der_free(&out);
	return e;
}

rt_err *
der_sign_body(rt_signer *s, rt_hash h, rt_scheme sch, const rt_der *body,
    const char *what, uint8_t **der, size_t *len)
{
	rt_der tbs;
	der_init(&tbs);
	der_wrap(&tbs, 0x30, body);
	rt_err *e = der_check(&tbs);
	if (e != NULL)
		e = rt_err_wrap(e, "%s", what);
	else
		e = der_signed(s, h, sch, tbs.p, tbs.len, NULL, 0, der, len);
	der_free(&tbs);
	return e;
}

/* extensions [tag] EXPLICIT SEQUENCE OF Extension (tag 0: the bare
 * SEQUENCE) */
static void
exts_add(rt_der *d, uint8_t tag, const rt_ext *exts, size_t n)
{
	rt_der all, seq;
	if (n == 0)
		return;
	der_init(&all);
	der_init(&seq);
	der_exts(&all, exts, n);
	der_wrap(&seq, 0x30, &all);
	if (tag != 0)
		der_wrap(d, tag, &seq);
	else
		der_raw(d, seq.p, seq.len);
	der_free(&all);
	der_free(&seq);
}

rt_err *
rt_cert_write(const rt_cert_tmpl *t, rt_signer *issuer, uint8_t **der,
    size_t *len)
{
	rt_der body, tmp;
	rt_hash h = t->hash;
	rt_scheme sch = t->scheme;
	rt_err *e;
	static const uint8_t v3 = 2;

	*der = NULL;
	if (t->serial_len == 0 || t->serial_len > 20 || t->issuer_len == 0 ||
	    t->spki_len == 0 || t->not_after < t->not_before)
		return rt_err_new(RT_E_ARG, NULL, "certificate: %s",
		    t->serial_len == 0 || t->serial_len > 20 ? "serial of 1 to 20 "
		    "bytes expected" : t->issuer_len == 0 ? "no issuer name" :
		    t->spki_len == 0 ? "no public key" : "notAfter before "
		    "notBefore");
	rt_signed_alg(issuer, &h, &sch);
	der_init(&body);
	der_init(&tmp);
	der_int(&tmp, v3);
	der_wrap(&body, 0xA0, &tmp);			/* version [0] v3 */
	der_uint(&body, t->serial, t->serial_len);
	if ((e = rt_sig_alg_der(&body, rt_signer_keytype(issuer), h, sch)) !=
	    NULL)
		goto out;
	der_raw(&body, t->issuer, t->issuer_len);
	der_free(&tmp);
	der_init(&tmp);
	der_time(&tmp, t->not_before);
	der_time(&tmp, t->not_after);
	der_wrap(&body, 0x30, &tmp);			/* validity */
	if (t->subject_len > 0)
		der_raw(&body, t->subject, t->subject_len);
	else
		der_tlv(&body, 0x30, NULL, 0);		/* empty subject */
	der_raw(&body, t->spki, t->spki_len);
	exts_add(&body, 0xA3, t->exts, t->nexts);	/* extensions [3] */
	e = der_sign_body(issuer, h, sch, &body, "certificate", der, len);
out:
	der_free(&body);
	der_free(&tmp);
	return e;
}

rt_err *
rt_crl_write(const rt_crl_tmpl *t, rt_signer *issuer, uint8_t **der,
    size_t *len)
{
	rt_der body, list, tmp;
	rt_hash h = t->hash;
	rt_scheme sch = t->scheme;
	rt_err *e;

	*der = NULL;
	if (t->issuer_len == 0 || t->next_update < t->this_update)
		return rt_err_new(RT_E_ARG, NULL, "CRL: %s", t->issuer_len == 0 ?
		    "no issuer name" : "nextUpdate before thisUpdate");
	rt_signed_alg(issuer, &h, &sch);
	der_init(&body);
	der_init(&list);
	der_init(&tmp);
	der_int(&body, 1);				/* v2 */
	if ((e = rt_sig_alg_der(&body, rt_signer_keytype(issuer), h, sch)) !=
	    NULL)
		goto out;
	der_raw(&body, t->issuer, t->issuer_len);
	der_time(&body, t->this_update);
	der_time(&body, t->next_update);
	for (size_t i = 0; i < t->nentries; i++) {
		const rt_crl_entry *r = &t->entries[i];
		rt_der ent;
		der_init(&ent);
		if (r->serial_len == 0 || r->serial_len > 20 || r->reason < -1 ||
		    r->reason > 10 || r->reason == 7) {
			der_free(&ent);
			e = rt_err_new(RT_E_ARG, NULL, "CRL entry %zu: %s", i,
			    r->serial_len == 0 || r->serial_len > 20 ? "serial of "
			    "1 to 20 bytes expected" : "reason code out of range");
			goto out;
		}
		der_uint(&ent, r->serial, r->serial_len);
		der_time(&ent, r->when);
		if (r->reason >= 0) {
			uint8_t v[3] = { 0x0A, 1, (uint8_t)r->reason };
			rt_ext x = { OID_REASON_CODE, false, v, sizeof(v) };
			exts_add(&ent, 0, &x, 1);
		}
		der_wrap(&list, 0x30, &ent);
		der_free(&ent);
	}
	if (t->nentries > 0)
		der_wrap(&body, 0x30, &list);	/* revokedCertificates */
	/* crlExtensions [0]: authorityKeyIdentifier, cRLNumber */
	{
		rt_ext x[2];
		size_t n = 0, aki_len = 0;
		uint8_t aki[64], nb[8];
		if (t->issuer_key_id != NULL) {
			if ((e = rt_ext_aki(t->issuer_key_id, t->issuer_key_id_len,
			    aki, sizeof(aki), &aki_len)) != NULL)
				goto out;
			x[n++] = (rt_ext){ OID_AKI, false, aki, aki_len };
		}
		for (int i = 0; i < 8; i++)
			nb[i] = (uint8_t)(t->number >> (56 - 8 * i));
		der_uint(&tmp, nb, sizeof(nb));
		x[n++] = (rt_ext){ OID_CRL_NUMBER, false, tmp.p, tmp.len };
		exts_add(&body, 0xA0, x, n);
	}
	e = der_sign_body(issuer, h, sch, &body, "CRL", der, len);
out:
	der_free(&body);
	der_free(&list);
	der_free(&tmp);
	return e;
}

rt_err *
rt_ext_basic_constraints(bool ca, int pathlen, uint8_t *out, size_t cap,
    size_t *len)
{
	rt_der in, d;
	der_init(&in);
	der_init(&d);
	if (ca) {
		der_bool(&in, true);
		if (pathlen >= 0)
			der_int(&in, pathlen);
	}
	der_wrap(&d, 0x30, &in);
	rt_err *e = der_copy(&d, out, cap, len, "basicConstraints");
	der_free(&in);
	der_free(&d);
	return e;
}

rt_err *
rt_ext_key_usage(unsigned ku, uint8_t *out, size_t cap, size_t *len)
{
	rt_der d;
	der_init(&d);
	der_key_usage(&d, ku);
	rt_err *e = der_copy(&d, out, cap, len, "keyUsage");
	der_free(&d);
	return e;
}

rt_err *
rt_ext_eku(const char *const *ekus, size_t n, uint8_t *out, size_t cap,
    size_t *len)
{
	rt_der seq, d;
	rt_err *e = NULL;
	der_init(&seq);
	der_init(&d);
	for (size_t i = 0; i < n && e == NULL; i++) {
		const char *oid = rt_eku_oid(ekus[i]);
		if (oid == NULL)
			e = rt_err_new(RT_E_ARG, NULL, "unknown extended key usage "
			    "\"%s\"", ekus[i]);
		else
			der_oid(&seq, oid);
	}
	der_wrap(&d, 0x30, &seq);
	if (e == NULL)
		e = der_copy(&d, out, cap, len, "extendedKeyUsage");
	der_free(&seq);
	der_free(&d);
	return e;
}

rt_err *
rt_key_id(const uint8_t *spki, size_t len, uint8_t id[20])
{
	unsigned char *p = (unsigned char *)(uintptr_t)spki;
	const unsigned char *end = spki + len;
	size_t l;
	bool ok = mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE) == 0 && p + l == end &&
	    mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE) == 0;
	if (ok) {
		p += l;		/* the algorithm */
		ok = mbedtls_asn1_get_tag(&p, end, &l,
		    MBEDTLS_ASN1_BIT_STRING) == 0 && p + l == end && l >= 1 &&
		    p[0] == 0;
	}
	if (!ok)
		return rt_err_new(RT_E_ARG, NULL, "key identifier: not a "
		    "SubjectPublicKeyInfo");
	if (mbedtls_sha1_ret(p + 1, l - 1, id) != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "key identifier: SHA-1");
	return NULL;
}

rt_err *
rt_ext_ski(const uint8_t *id, size_t idlen, uint8_t *out, size_t cap,
    size_t *len)
{
	rt_der d;
	der_init(&d);
	der_tlv(&d, 0x04, id, idlen);
	rt_err *e = der_copy(&d, out, cap, len, "subjectKeyIdentifier");
	der_free(&d);
	return e;
}

rt_err *
rt_ext_aki(const uint8_t *id, size_t idlen, uint8_t *out, size_t cap,
    size_t *len)
{
	rt_der in, d;
	der_init(&in);
	der_init(&d);
	der_tlv(&in, 0x80, id, idlen);	/* [0] keyIdentifier */
	der_wrap(&d, 0x30, &in);
	rt_err *e = der_copy(&d, out, cap, len, "authorityKeyIdentifier");
	der_free(&in);
	der_free(&d);
	return e;
}

/* GeneralName uniformResourceIdentifier [6] IA5String. */
static void
der_uri(rt_der *d, const char *url)
{
	der_tlv(d, 0x86, url, strlen(url));
}

rt_err *
rt_ext_cdp(const char *url, uint8_t *out, size_t cap, size_t *len)
{
	rt_der names, dpn, dp, dps, d;
	der_init(&names);
	der_init(&dpn);
	der_init(&dp);
	der_init(&dps);
	der_init(&d);
	/* SEQUENCE OF DistributionPoint { [0] { fullName [0] GeneralNames } } */
	der_uri(&names, url);
	der_wrap(&dpn, 0xa0, &names);
	der_wrap(&dp, 0xa0, &dpn);
	der_wrap(&dps, 0x30, &dp);
	der_wrap(&d, 0x30, &dps);
	rt_err *e = der_copy(&d, out, cap, len, "cRLDistributionPoints");
	der_free(&names);
	der_free(&dpn);
	der_free(&dp);
	der_free(&dps);
	der_free(&d);
	return e;
}

rt_err *
rt_ext_aia(const char *ocsp, const char *ca_issuers, uint8_t *out, size_t cap,
    size_t *len)
{
	static const struct { const char *oid; } m[2] = {
		{ "1.3.6.1.5.5.7.48.1" },	/* id-ad-ocsp */
		{ "1.3.6.1.5.5.7.48.2" },	/* id-ad-caIssuers */
	};
	const char *url[2] = { ocsp, ca_issuers };
	rt_der all, d;
	der_init(&all);
	der_init(&d);
	for (size_t i = 0; i < 2; i++) {
		rt_der ad;
		if (url[i] == NULL)
			continue;
		der_init(&ad);
		der_oid(&ad, m[i].oid);
		der_uri(&ad, url[i]);
		der_wrap(&all, 0x30, &ad);
		der_free(&ad);
	}
	der_wrap(&d, 0x30, &all);
	rt_err *e = ocsp == NULL && ca_issuers == NULL ? rt_err_new(RT_E_ARG,
	    NULL, "authorityInfoAccess: no URL") :
	    der_copy(&d, out, cap, len, "authorityInfoAccess");
	der_free(&all);
	der_free(&d);
	return e;
}
