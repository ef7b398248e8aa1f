/* reqext.c - the pieces of a certificate template besides the key: a
 * subject Name from a DN string, the subjectAltName and Extensions
 * encodings, an extension looked up in a certificate; see
 * include/raterm/csr.h ("Certificate template pieces"). */
#include "raterm/csr.h"
#include "der.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/x509.h>

rt_err *
rt_dn_encode(const char *dn, uint8_t *out, size_t cap, size_t *len)
{
	mbedtls_asn1_named_data *names = NULL;
	unsigned char buf[2048], *p = buf + sizeof(buf);
	int rc;
	if (dn == NULL || dn[0] == '\0')
		return rt_err_new(RT_E_ARG, NULL, "empty subject (expected e.g. "
		    "CN=Jane Doe,O=Example,C=DE)");
	if ((rc = mbedtls_x509_string_to_names(&names, dn)) != 0) {
		mbedtls_asn1_free_named_data_list(&names);
		return rt_err_new(RT_E_ARG, NULL, "subject \"%s\" does not parse "
		    "(use e.g. CN=Jane Doe,O=Example,C=DE)", dn);
	}
	bool empty = names == NULL;
	for (mbedtls_asn1_named_data *n = names; n != NULL; n = n->next)
		if (n->val.len == 0)
			empty = true;
	rc = empty ? -1 : mbedtls_x509_write_names(&p, buf, names);
	mbedtls_asn1_free_named_data_list(&names);
	if (empty)
		return rt_err_new(RT_E_ARG, NULL, "subject \"%s\" has an empty "
		    "attribute (use e.g. CN=Jane Doe,O=Example,C=DE)", dn);
	if (rc < 0 || (size_t)rc > cap)
		return rt_err_new(RT_E_ARG, NULL, "subject \"%s\" too long", dn);
	memcpy(out, p, (size_t)rc);
	*len = (size_t)rc;
	return NULL;
}

static rt_err *
der_out(const rt_der *d, uint8_t **der, size_t *len)
{
	rt_err *e = der_check(d);
	if (e != NULL)
		return e;
	if ((*der = malloc(d->len)) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "extensions");
	memcpy(*der, d->p, d->len);
	*len = d->len;
	return NULL;
}

rt_err *
rt_san_encode(const rt_csr_req *r, uint8_t **der, size_t *len)
{
	rt_der names, seq;
	*der = NULL;
	if (r->nemails + r->nupns + r->ndns == 0)
		return rt_err_new(RT_E_ARG, NULL, "subjectAltName without names");
	der_init(&names);
	der_init(&seq);
	for (size_t i = 0; i < r->nemails; i++)
		der_str(&names, 0x81, r->emails[i]);		/* [1] rfc822Name */
	for (size_t i = 0; i < r->nupns; i++) {
		/* [0] otherName { type-id, [0] EXPLICIT UTF8String } */
		rt_der on, s;
		der_init(&on);
		der_init(&s);
		der_oid(&on, RT_OID_UPN);
		der_str(&s, 0x0C, r->upns[i]);
		der_wrap(&on, 0xA0, &s);
		der_wrap(&names, 0xA0, &on);
		der_free(&on);
		der_free(&s);
	}
	for (size_t i = 0; i < r->ndns; i++)
		der_str(&names, 0x82, r->dns[i]);		/* [2] dNSName */
	der_wrap(&seq, 0x30, &names);
	rt_err *e = der_out(&seq, der, len);
	der_free(&names);
	der_free(&seq);
	return e;
}

void
der_exts(rt_der *d, const rt_ext *exts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rt_der x;
		der_init(&x);
		der_oid(&x, exts[i].oid);
		if (exts[i].critical)
			der_bool(&x, true);
		der_tlv(&x, 0x04, exts[i].value, exts[i].len);
		der_wrap(d, 0x30, &x);
		der_free(&x);
	}
}

rt_err *
rt_exts_encode(const rt_ext *exts, size_t n, uint8_t **der, size_t *len)
{
	rt_der all, seq;
	*der = NULL;
	if (n == 0)
		return rt_err_new(RT_E_ARG, NULL, "no extensions to encode");
	der_init(&all);
	der_init(&seq);
	der_exts(&all, exts, n);
	der_wrap(&seq, 0x30, &all);
	rt_err *e = der_out(&seq, der, len);
	der_free(&all);
	der_free(&seq);
	return e;
}

#define CONS_SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define CTX(n) (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | (n))

rt_err *
rt_cert_ext_find(const uint8_t *cert, size_t clen, const char *oid,
    const uint8_t **val, size_t *vlen, bool *critical)
{
	uint8_t want[64];
	size_t wl, l;
	rt_err *e = rt_oid_encode(oid, want, sizeof(want), &wl);
	if (e != NULL)
		return e;
	unsigned char *p = (unsigned char *)(uintptr_t)cert, *end = p + clen;
	unsigned char *tend;
	/* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { ... } ... } */
	if (mbedtls_asn1_get_tag(&p, end, &l, CONS_SEQ) != 0 ||
	    mbedtls_asn1_get_tag(&p, end, &l, CONS_SEQ) != 0)
		goto bad;
	tend = p + l;
	if (p < tend && *p == CTX(0)) {		/* version */
		if (mbedtls_asn1_get_tag(&p, tend, &l, CTX(0)) != 0)
			goto bad;
		p += l;
	}
	/* serial, signature, issuer, validity, subject, spki */
	static const int tags[] = { MBEDTLS_ASN1_INTEGER, CONS_SEQ, CONS_SEQ,
	    CONS_SEQ, CONS_SEQ, CONS_SEQ };
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		if (mbedtls_asn1_get_tag(&p, tend, &l, tags[i]) != 0)
			goto bad;
		p += l;
	}
	while (p < tend) {
		int tag = *p;
		if (mbedtls_asn1_get_tag(&p, tend, &l, tag) != 0)
			goto bad;
		if (tag != CTX(3)) {	/* issuerUniqueID, subjectUniqueID */
			p += l;
			continue;
		}
		unsigned char *xend = p + l;
		if (mbedtls_asn1_get_tag(&p, xend, &l, CONS_SEQ) != 0 ||
		    p + l != xend)
			goto bad;
		while (p < xend) {
			unsigned char *oend, *op;
			size_t ol, vl;
			int crit = 0;
			if (mbedtls_asn1_get_tag(&p, xend, &l, CONS_SEQ) != 0)
				goto bad;
			oend = p + l;
			if (mbedtls_asn1_get_tag(&p, oend, &ol, MBEDTLS_ASN1_OID) != 0)
				goto bad;
			op = p;
			p += ol;
			if (p < oend && *p == MBEDTLS_ASN1_BOOLEAN &&
			    mbedtls_asn1_get_bool(&p, oend, &crit) != 0)
				goto bad;
			if (mbedtls_asn1_get_tag(&p, oend, &vl,
			    MBEDTLS_ASN1_OCTET_STRING) != 0 || p + vl != oend)
				goto bad;
			if (ol == wl && memcmp(op, want, wl) == 0) {
				*val = p;
				*vlen = vl;
				if (critical != NULL)
					*critical = crit != 0;
				return NULL;
			}
			p = oend;
		}
		break;
	}
	return rt_err_new(RT_E_NOT_FOUND, NULL, "the certificate has no "
	    "extension %s", oid);
bad:
	return rt_err_new(RT_E_FORMAT, NULL, "the certificate does not parse "
	    "(looking for extension %s)", oid);
}
