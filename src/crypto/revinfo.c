/* revinfo.c - where a certificate's revocation is published (its
 * authorityInfoAccess OCSP URL, its CRL distribution point) and what a
 * CRL says of a serial, checked against the issuer; see x509.h */
#include "raterm/x509.h"
#include "raterm/csr.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#define OID_AIA "1.3.6.1.5.5.7.1.1"
#define OID_CDP "2.5.29.31"
#define OID_CRL_REASON "2.5.29.21"
#define SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define URI_TAG (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 6)
#define CTXC(n) (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | (n))
#define SKEW 300		/* seconds of clock skew allowed on thisUpdate */

/* id-ad-ocsp (1.3.6.1.5.5.7.48.1), DER contents */
static const unsigned char ad_ocsp[] = {
	0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01
};

/* The first http(s) URI among the GeneralNames in [p, end). 0: found,
 * 1: none, -1: malformed, -2: too long. */
static int
first_uri(unsigned char *p, const unsigned char *end, char *out, size_t cap)
{
	while (p < end) {
		size_t l;
		int tag = *p;
		p++;
		if (mbedtls_asn1_get_len(&p, end, &l) != 0)
			return -1;
		if (tag == URI_TAG && ((l > 7 && memcmp(p, "http://", 7) == 0) ||
		    (l > 8 && memcmp(p, "https://", 8) == 0))) {
			if (l >= cap)
				return -2;
			memcpy(out, p, l);
			out[l] = '\0';
			return 0;
		}
		p += l;
	}
	return 1;
}

static rt_err *
url_result(int rc, const char *what, char *out)
{
	if (rc == 0)
		return NULL;
	out[0] = '\0';
	if (rc == 1)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "%s: no http(s) URI", what);
	if (rc == -2)
		return rt_err_new(RT_E_TOO_BIG, NULL, "%s: URI too long", what);
	return rt_err_new(RT_E_FORMAT, NULL, "%s: malformed", what);
}

rt_err *
rt_cert_ocsp_url(const uint8_t *cert, size_t len, char *out, size_t cap)
{
	const uint8_t *v;
	size_t vl, l;
	rt_err *e;
	out[0] = '\0';
	if ((e = rt_cert_ext_find(cert, len, OID_AIA, &v, &vl, NULL)) != NULL)
		return rt_err_wrap(e, "authorityInfoAccess");
	unsigned char *p = (unsigned char *)(uintptr_t)v;
	const unsigned char *end = p + vl;
	if (mbedtls_asn1_get_tag(&p, end, &l, SEQ) != 0 || p + l != end)
		return url_result(-1, "authorityInfoAccess", out);
	int rc = 1;
	while (p < end && rc == 1) {
		unsigned char *ad_end;
		if (mbedtls_asn1_get_tag(&p, end, &l, SEQ) != 0)
			return url_result(-1, "authorityInfoAccess", out);
		ad_end = p + l;
		size_t ol;
		if (mbedtls_asn1_get_tag(&p, ad_end, &ol, MBEDTLS_ASN1_OID) != 0)
			return url_result(-1, "authorityInfoAccess", out);
		if (ol == sizeof(ad_ocsp) && memcmp(p, ad_ocsp, ol) == 0)
			rc = first_uri(p + ol, ad_end, out, cap);
		p = ad_end;
	}
	return url_result(rc, "authorityInfoAccess id-ad-ocsp", out);
}

rt_err *
rt_cert_crl_url(const uint8_t *cert, size_t len, char *out, size_t cap)
{
	const uint8_t *v;
	size_t vl, l;
	rt_err *e;
	out[0] = '\0';
	if ((e = rt_cert_ext_find(cert, len, OID_CDP, &v, &vl, NULL)) != NULL)
		return rt_err_wrap(e, "cRLDistributionPoints");
	unsigned char *p = (unsigned char *)(uintptr_t)v;
	const unsigned char *end = p + vl;
	if (mbedtls_asn1_get_tag(&p, end, &l, SEQ) != 0 || p + l != end)
		return url_result(-1, "cRLDistributionPoints", out);
	int rc = 1;
	while (p < end && rc == 1) {
		/* DistributionPoint { [0] DistributionPointName { fullName
		 * [0] GeneralNames } OPTIONAL, ... } */
		unsigned char *dp_end;
		if (mbedtls_asn1_get_tag(&p, end, &l, SEQ) != 0)
			return url_result(-1, "cRLDistributionPoints", out);
		dp_end = p + l;
		unsigned char *q = p;
		size_t nl, fl;
		if (mbedtls_asn1_get_tag(&q, dp_end, &nl, CTXC(0)) == 0 &&
		    mbedtls_asn1_get_tag(&q, q + nl, &fl, CTXC(0)) == 0)
			rc = first_uri(q, q + fl, out, cap);
		p = dp_end;
	}
	return url_result(rc, "cRLDistributionPoints fullName", out);
}

/* The CRLReason of a crlEntryExtensions (the SEQUENCE's TLV at ext->p,
 * inside the CRL's buffer [.., end)); -1 none. */
static int
entry_reason(const mbedtls_x509_buf *ext, const unsigned char *end)
{
	unsigned char *p = ext->p;
	size_t l;
	if (p == NULL || ext->len == 0 ||
	    mbedtls_asn1_get_tag(&p, end, &l, SEQ) != 0)
		return -1;
	const unsigned char *e_end = p + l;
	while (p < e_end) {
		unsigned char *x_end, *oid;
		size_t ol, vl;
		int crit = 0;
		if (mbedtls_asn1_get_tag(&p, e_end, &l, SEQ) != 0)
			return -1;
		x_end = p + l;
		if (mbedtls_asn1_get_tag(&p, x_end, &ol, MBEDTLS_ASN1_OID) != 0)
			return -1;
		oid = p;
		p += ol;
		(void)mbedtls_asn1_get_bool(&p, x_end, &crit);
		if (mbedtls_asn1_get_tag(&p, x_end, &vl,
		    MBEDTLS_ASN1_OCTET_STRING) != 0)
			return -1;
		char dotted[32];
		mbedtls_asn1_buf ob = { MBEDTLS_ASN1_OID, ol, oid };
		if (mbedtls_oid_get_numeric_string(dotted, sizeof(dotted), &ob) > 0 &&
		    strcmp(dotted, OID_CRL_REASON) == 0) {
			int reason;
			size_t el;
			unsigned char *v = p;
			if (mbedtls_asn1_get_tag(&v, p + vl, &el,
			    MBEDTLS_ASN1_ENUMERATED) != 0 || el != 1)
				return -1;
			reason = v[0];
			return reason <= 10 ? reason : -1;
		}
		p = x_end;
	}
	return -1;
}

/* The magnitude of an INTEGER's contents (leading zero bytes dropped). */
static void
magnitude(const uint8_t **p, size_t *len)
{
	while (*len > 1 && (*p)[0] == 0) {
		(*p)++;
		(*len)--;
	}
}

static void
fmt_utc(time_t t, char *out, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

rt_err *
rt_crl_check(const uint8_t *der, size_t len, const mbedtls_x509_crt *issuer,
    const uint8_t *serial, size_t serial_len, time_t now, rt_crl_status *out)
{
	mbedtls_x509_crl crl;
	rt_err *e = NULL;
	char t1[24], t2[24];
	memset(out, 0, sizeof(*out));
	out->reason = -1;
	mbedtls_x509_crl_init(&crl);
	int rc = mbedtls_x509_crl_parse_der(&crl, der, len);
	if (rc != 0) {
		e = rt_err_new(RT_E_FORMAT, NULL, "CRL does not parse (mbedTLS "
		    "-0x%04x)", (unsigned)-rc);
		goto out;
	}
	if (crl.issuer_raw.len != issuer->subject_raw.len ||
	    memcmp(crl.issuer_raw.p, issuer->subject_raw.p,
	    crl.issuer_raw.len) != 0) {
		e = rt_err_new(RT_E_CRYPTO, NULL, "CRL: issued by another CA "
		    "than the certificate's");
		goto out;
	}
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(crl.sig_md);
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];
	if (md == NULL || mbedtls_md(md, crl.tbs.p, crl.tbs.len, hash) != 0 ||
	    mbedtls_pk_verify_ext(crl.sig_pk, crl.sig_opts,
	    (mbedtls_pk_context *)(uintptr_t)&issuer->pk, crl.sig_md, hash,
	    mbedtls_md_get_size(md), crl.sig.p, crl.sig.len) != 0) {
		e = rt_err_new(RT_E_CRYPTO, NULL, "CRL: the signature does not "
		    "verify with the issuer's key");
		goto out;
	}
	out->this_update = rt_x509_time_epoch(&crl.this_update);
	if (crl.next_update.year != 0)
		out->next_update = rt_x509_time_epoch(&crl.next_update);
	if (out->this_update > now + SKEW) {
		fmt_utc(out->this_update, t1, sizeof(t1));
		e = rt_err_new(RT_E_CERT, NULL, "CRL: not valid before %s", t1);
		goto out;
	}
	if (out->next_update != 0 && out->next_update < now) {
		fmt_utc(out->this_update, t1, sizeof(t1));
		fmt_utc(out->next_update, t2, sizeof(t2));
		e = rt_err_new(RT_E_CERT, NULL, "CRL of %s expired: nextUpdate "
		    "%s has passed", t1, t2);
		goto out;
	}
	magnitude(&serial, &serial_len);
	const unsigned char *crl_end = crl.raw.p + crl.raw.len;
	for (const mbedtls_x509_crl_entry *en = &crl.entry; en != NULL &&
	    en->raw.len != 0; en = en->next) {
		const uint8_t *sp = en->serial.p;
		size_t sl = en->serial.len;
		magnitude(&sp, &sl);
		if (sl != serial_len || memcmp(sp, serial, sl) != 0)
			continue;
		out->listed = true;
		out->revoked_at = rt_x509_time_epoch(&en->revocation_date);
		out->reason = entry_reason(&en->entry_ext, crl_end);
		break;
	}
out:
	mbedtls_x509_crl_free(&crl);
	return e;
}
