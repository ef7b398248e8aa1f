/* qc.c - QC statements (RFC 3739, ETSI EN 319 412-5); see include/raterm/qc.h */
#include "raterm/qc.h"
#include "der.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>

#define QCS "0.4.0.1862.1"
#define OID_COMPLIANCE QCS ".1"
#define OID_LIMIT QCS ".2"
#define OID_RETENTION QCS ".3"
#define OID_SSCD QCS ".4"
#define OID_PDS QCS ".5"
#define OID_TYPE QCS ".6"
#define OID_CC QCS ".7"
#define OID_PKIX_V2 "1.3.6.1.5.5.7.11.2"

static void
stmt(rt_der *seq, const char *oid, const rt_der *info)
{
	rt_der s;
	der_init(&s);
	der_oid(&s, oid);
	if (info != NULL)
		der_raw(&s, info->p, info->len);
	der_wrap(seq, 0x30, &s);
	der_free(&s);
}

static bool
printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7E)
			return false;
	return true;
}

rt_err *
rt_qc_encode(const rt_qc *qc, uint8_t **der, size_t *len)
{
	rt_der seq, info, tmp, out;
	rt_err *e = NULL;

	*der = NULL;
	der_init(&seq);
	der_init(&out);
	if (qc->semantics[0]) {
		/* SemanticsInformation ::= SEQ { semanticsIdentifier OID } */
		der_init(&info);
		der_init(&tmp);
		der_oid(&tmp, qc->semantics);
		der_wrap(&info, 0x30, &tmp);
		stmt(&seq, OID_PKIX_V2, &info);
		der_free(&info);
		der_free(&tmp);
	}
	if (qc->compliance)
		stmt(&seq, OID_COMPLIANCE, NULL);
	if (qc->retention_years < 0) {
		e = rt_err_new(RT_E_ARG, NULL, "negative QC retention period");
		goto out;
	}
	if (qc->retention_years > 0) {
		der_init(&info);
		der_int(&info, qc->retention_years);
		stmt(&seq, OID_RETENTION, &info);
		der_free(&info);
	}
	if (qc->sscd)
		stmt(&seq, OID_SSCD, NULL);
	if (qc->npds > 0) {
		/* PdsLocations ::= SEQ OF SEQ { url IA5String, language
		 * PrintableString (SIZE(2)) } */
		der_init(&info);
		der_init(&tmp);
		for (size_t i = 0; i < qc->npds && i < RT_QC_MAX_PDS; i++) {
			const rt_qc_pds *p = &qc->pds[i];
			if (strncmp(p->url, "https://", 8) != 0 || !printable(p->url) ||
			    strlen(p->lang) != 2 || !isalpha((unsigned char)p->lang[0]) ||
			    !isalpha((unsigned char)p->lang[1])) {
				der_free(&info);
				der_free(&tmp);
				e = rt_err_new(RT_E_ARG, NULL, "QcPDS needs an https URL and "
				    "a two-letter language (\"%s\", \"%s\")", p->url,
				    p->lang);
				goto out;
			}
			rt_der loc;
			der_init(&loc);
			der_str(&loc, 0x16, p->url);
			der_str(&loc, 0x13, p->lang);
			der_wrap(&tmp, 0x30, &loc);
			der_free(&loc);
		}
		der_wrap(&info, 0x30, &tmp);
		stmt(&seq, OID_PDS, &info);
		der_free(&info);
		der_free(&tmp);
	}
	if (qc->types != 0) {
		der_init(&info);
		der_init(&tmp);
		if (qc->types & RT_QC_TYPE_ESIGN)
			der_oid(&tmp, OID_TYPE ".1");
		if (qc->types & RT_QC_TYPE_ESEAL)
			der_oid(&tmp, OID_TYPE ".2");
		if (qc->types & RT_QC_TYPE_WEB)
			der_oid(&tmp, OID_TYPE ".3");
		der_wrap(&info, 0x30, &tmp);
		stmt(&seq, OID_TYPE, &info);
		der_free(&info);
		der_free(&tmp);
	}
	if (qc->ncc > 0) {
		der_init(&info);
		der_init(&tmp);
		for (size_t i = 0; i < qc->ncc && i < RT_QC_MAX_CC; i++) {
			if (strlen(qc->cc[i]) != 2 || !isalpha((unsigned char)qc->cc[i][0])
			    || !isalpha((unsigned char)qc->cc[i][1])) {
				der_free(&info);
				der_free(&tmp);
				e = rt_err_new(RT_E_ARG, NULL, "QcCClegislation: \"%s\" is "
				    "not a country code", qc->cc[i]);
				goto out;
			}
			der_str(&tmp, 0x13, qc->cc[i]);
		}
		der_wrap(&info, 0x30, &tmp);
		stmt(&seq, OID_CC, &info);
		der_free(&info);
		der_free(&tmp);
	}
	if (seq.len == 0 && !seq.oom && !seq.bad) {
		e = rt_err_new(RT_E_ARG, NULL, "no QC statement chosen");
		goto out;
	}
	der_wrap(&out, 0x30, &seq);
	if ((e = der_check(&out)) != NULL)
		goto out;
	if ((*der = malloc(out.len)) == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "QC statements");
		goto out;
	}
	memcpy(*der, out.p, out.len);
	*len = out.len;
out:
	der_free(&seq);
	der_free(&out);
	return e;
}

static rt_err *
bad(const char *what)
{
	return rt_err_new(RT_E_FORMAT, NULL, "malformed QC statements: %s", what);
}

static void
copy_str(char *dst, size_t cap, const unsigned char *p, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = (p[i] < 0x20 || p[i] > 0x7E) ? '?' : (char)p[i];
	dst[n] = '\0';
}

static bool
oid_is(const char *dotted, const unsigned char *p, size_t n)
{
	char buf[80];
	rt_oid_dotted(p, n, buf, sizeof(buf));
	return strcmp(buf, dotted) == 0;
}

rt_err *
rt_qc_decode(const uint8_t *der, size_t len, rt_qc *out)
{
	unsigned char *p = (unsigned char *)(uintptr_t)der;
	const unsigned char *end = der + len;
	size_t l;

	memset(out, 0, sizeof(*out));
	if (mbedtls_asn1_get_tag(&p, end, &l, 0x30) != 0 || p + l != end)
		return bad("not a SEQUENCE");
	while (p < end) {
		const unsigned char *send;
		size_t ol;
		if (mbedtls_asn1_get_tag(&p, end, &l, 0x30) != 0)
			return bad("statement");
		send = p + l;
		if (mbedtls_asn1_get_tag(&p, send, &ol, 0x06) != 0)
			return bad("statement id");
		const unsigned char *oid = p;
		p += ol;
		if (oid_is(OID_COMPLIANCE, oid, ol))
			out->compliance = true;
		else if (oid_is(OID_SSCD, oid, ol))
			out->sscd = true;
		else if (oid_is(OID_RETENTION, oid, ol)) {
			int y;
			if (mbedtls_asn1_get_int(&p, send, &y) != 0 || y < 0)
				return bad("QcRetentionPeriod");
			out->retention_years = y;
		} else if (oid_is(OID_TYPE, oid, ol)) {
			const unsigned char *tend;
			if (mbedtls_asn1_get_tag(&p, send, &l, 0x30) != 0)
				return bad("QcType");
			tend = p + l;
			while (p < tend) {
				if (mbedtls_asn1_get_tag(&p, tend, &l, 0x06) != 0)
					return bad("QcType entry");
				if (oid_is(OID_TYPE ".1", p, l))
					out->types |= RT_QC_TYPE_ESIGN;
				else if (oid_is(OID_TYPE ".2", p, l))
					out->types |= RT_QC_TYPE_ESEAL;
				else if (oid_is(OID_TYPE ".3", p, l))
					out->types |= RT_QC_TYPE_WEB;
				p += l;
			}
		} else if (oid_is(OID_PDS, oid, ol)) {
			const unsigned char *tend;
			if (mbedtls_asn1_get_tag(&p, send, &l, 0x30) != 0)
				return bad("QcPDS");
			tend = p + l;
			while (p < tend) {
				const unsigned char *lend;
				if (mbedtls_asn1_get_tag(&p, tend, &l, 0x30) != 0)
					return bad("PdsLocation");
				lend = p + l;
				rt_qc_pds tmp;
				if (mbedtls_asn1_get_tag(&p, lend, &l, 0x16) != 0)
					return bad("PdsLocation url");
				copy_str(tmp.url, sizeof(tmp.url), p, l);
				p += l;
				if (mbedtls_asn1_get_tag(&p, lend, &l, 0x13) != 0 || l != 2)
					return bad("PdsLocation language");
				copy_str(tmp.lang, sizeof(tmp.lang), p, l);
				p += l;
				if (p != lend)
					return bad("PdsLocation trailing data");
				if (out->npds < RT_QC_MAX_PDS)
					out->pds[out->npds++] = tmp;
			}
		} else if (oid_is(OID_CC, oid, ol)) {
			const unsigned char *tend;
			if (mbedtls_asn1_get_tag(&p, send, &l, 0x30) != 0)
				return bad("QcCClegislation");
			tend = p + l;
			while (p < tend) {
				if (mbedtls_asn1_get_tag(&p, tend, &l, 0x13) != 0 || l != 2)
					return bad("QcCClegislation entry");
				if (out->ncc < RT_QC_MAX_CC)
					copy_str(out->cc[out->ncc++], 3, p, l);
				p += l;
			}
		} else if (oid_is(OID_PKIX_V2, oid, ol)) {
			/* SemanticsInformation ::= SEQ { semanticsIdentifier OID
			 *   OPTIONAL, nameRegistrationAuthorities OPTIONAL } */
			if (p < send) {
				const unsigned char *tend;
				if (mbedtls_asn1_get_tag(&p, send, &l, 0x30) != 0)
					return bad("SemanticsInformation");
				tend = p + l;
				if (p < tend && *p == 0x06) {
					if (mbedtls_asn1_get_tag(&p, tend, &l, 0x06) != 0)
						return bad("semanticsIdentifier");
					rt_oid_dotted(p, l, out->semantics,
					    sizeof(out->semantics));
				}
				p = (unsigned char *)(uintptr_t)tend;
			}
		} else if (oid_is(OID_LIMIT, oid, ol)) {
			/* MonetaryValue ::= SEQ { currency CHOICE { PrintableString,
			 *   INTEGER }, amount INTEGER, exponent INTEGER } */
			const unsigned char *tend;
			int a, x;
			if (mbedtls_asn1_get_tag(&p, send, &l, 0x30) != 0)
				return bad("QcLimitValue");
			tend = p + l;
			if (p < tend && *p == 0x13) {
				if (mbedtls_asn1_get_tag(&p, tend, &l, 0x13) != 0)
					return bad("QcLimitValue currency");
				copy_str(out->limit_currency, sizeof(out->limit_currency),
				    p, l);
				p += l;
			} else {
				int c;
				if (mbedtls_asn1_get_int(&p, tend, &c) != 0)
					return bad("QcLimitValue currency");
				snprintf(out->limit_currency, sizeof(out->limit_currency),
				    "%d", c % 10000);
			}
			if (mbedtls_asn1_get_int(&p, tend, &a) != 0 ||
			    mbedtls_asn1_get_int(&p, tend, &x) != 0 || p != tend)
				return bad("QcLimitValue amount");
			out->has_limit = true;
			out->limit_amount = a;
			out->limit_exponent = x;
		} else if (out->nother < RT_QC_MAX_OTHER) {
			rt_oid_dotted(oid, ol, out->other[out->nother],
			    sizeof(out->other[0]));
			out->nother++;
		}
		p = (unsigned char *)(uintptr_t)send;
	}
	return NULL;
}

void
rt_qc_describe(const rt_qc *qc, char *buf, size_t cap)
{
	size_t o = 0;
	buf[0] = '\0';
#define ADD(...) do { if (o < cap) { o += (size_t)snprintf(buf + o, cap - o, \
	"%s", o ? ", " : ""); } if (o < cap) { o += (size_t)snprintf(buf + o, \
	cap - o, __VA_ARGS__); } } while (0)
	if (qc->semantics[0])
		ADD("semantics=%s", qc->semantics);
	if (qc->compliance)
		ADD("QcCompliance");
	if (qc->sscd)
		ADD("QcSSCD");
	if (qc->types)
		ADD("QcType=%s%s%s%s%s", qc->types & RT_QC_TYPE_ESIGN ? "eSign" : "",
		    (qc->types & RT_QC_TYPE_ESIGN) && (qc->types & ~1u) ? "+" : "",
		    qc->types & RT_QC_TYPE_ESEAL ? "eSeal" : "",
		    (qc->types & RT_QC_TYPE_WEB) && (qc->types & 3u) ? "+" : "",
		    qc->types & RT_QC_TYPE_WEB ? "web" : "");
	if (qc->retention_years)
		ADD("QcRetentionPeriod=%d", qc->retention_years);
	for (size_t i = 0; i < qc->npds; i++)
		ADD("QcPDS=%s (%s)", qc->pds[i].url, qc->pds[i].lang);
	for (size_t i = 0; i < qc->ncc; i++)
		ADD("QcCClegislation=%s", qc->cc[i]);
	if (qc->has_limit)
		ADD("QcLimitValue=%ld*10^%ld %s", qc->limit_amount,
		    qc->limit_exponent, qc->limit_currency);
	for (size_t i = 0; i < qc->nother; i++)
		ADD("%s", qc->other[i]);
#undef ADD
	if (o >= cap && cap > 0)
		buf[cap - 1] = '\0';
}
