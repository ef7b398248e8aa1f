/* policy.c - officer roles and certificate profiles; see
 * include/raterm/cmhost.h. Everything here works on buffers: the request's
 * subject Name, SubjectPublicKeyInfo and requested Extensions in DER. */
#include "raterm/cmhost.h"
#include "raterm/csr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>

#define OID_SAN "\x55\x1d\x11"
#define OID_KU  "\x55\x1d\x0f"
#define OID_EKU "\x55\x1d\x25"
#define OID_BC  "\x55\x1d\x13"
#define OID_SKID "\x55\x1d\x0e"
#define OID_QCS "\x2b\x06\x01\x05\x05\x07\x01\x03"
#define OID_UPN "\x2b\x06\x01\x04\x01\x82\x37\x14\x02\x03"

#define OID_IS(buf, lit) ((buf).len == sizeof(lit) - 1 && \
	memcmp((buf).p, lit, sizeof(lit) - 1) == 0)

/* ---- officers --------------------------------------------------------------- */

static bool
name_cn(const mbedtls_x509_name *n, const mbedtls_x509_buf **cn)
{
	*cn = NULL;
	for (; n != NULL; n = n->next)
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0) {
			if (*cn != NULL)
				return false;	/* two CNs: no officer */
			*cn = &n->val;
		}
	return *cn != NULL;
}

const cmh_officer *
cmh_officer_find(const cmh_config *c, const mbedtls_x509_crt *crt)
{
	char dn[512];
	const mbedtls_x509_buf *cn;
	if (mbedtls_x509_dn_gets(dn, sizeof(dn), &crt->subject) < 0)
		dn[0] = '\0';
	bool has_cn = name_cn(&crt->subject, &cn);
	for (size_t i = 0; i < c->nofficers; i++) {
		const cmh_officer *o = &c->officers[i];
		/* the subject as mbedTLS prints it (control bytes become '?') */
		if (o->subject != NULL && dn[0] && !strcmp(o->subject, dn))
			return o;
		/* the CN compared as the exact bytes of its value: a value
		 * with an embedded NUL ("Officer\0evil") is not "Officer" */
		if (o->cn != NULL && has_cn && cn->len == strlen(o->cn) &&
		    memcmp(cn->p, o->cn, cn->len) == 0)
			return o;
	}
	return NULL;
}

bool
cmh_officer_may_use(const cmh_officer *o, const char *profile)
{
	for (size_t i = 0; i < o->nprofiles; i++)
		if (!strcmp(o->profiles[i], "*") || !strcmp(o->profiles[i], profile))
			return true;
	return false;
}

/* ---- requests ---------------------------------------------------------------- */

void
cmh_checked_free(cmh_checked *c)
{
	if (c == NULL)
		return;
	mbedtls_x509_name *n = c->subject ? c->subject->next : NULL;
	while (n != NULL) {
		mbedtls_x509_name *nx = n->next;
		free(n);
		n = nx;
	}
	free(c->subject);
	free(c->subject_der);
	mbedtls_pk_free(&c->pub);
	free(c->san);
	memset(c, 0, sizeof(*c));
}

static rt_err *
refuse(cmh_refusal *ref, uint32_t fi, const char *fmt, ...) RT_PRINTF(3, 4);

static rt_err *
refuse(cmh_refusal *ref, uint32_t fi, const char *fmt, ...)
{
	va_list ap;
	ref->fail_info = fi;
	va_start(ap, fmt);
	vsnprintf(ref->why, sizeof(ref->why), fmt, ap);
	va_end(ap);
	return rt_err_new(RT_E_ARG, NULL, "%s", ref->why);
}

/* Canonical short name of a configured attribute name. */
static const char *
canon_attr(const char *a)
{
	if (!strcmp(a, "E"))
		return "emailAddress";
	if (!strcmp(a, "givenName"))
		return "GN";
	if (!strcmp(a, "UID"))
		return "uid";
	return a;
}

static const char *
attr_name(const mbedtls_x509_name *n, char *buf, size_t cap)
{
	const char *s;
	static const char org_id[] = "\x55\x04\x61";	/* 2.5.4.97 */
	if (mbedtls_oid_get_attr_short_name(&n->oid, &s) == 0)
		return s;
	if (OID_IS(n->oid, org_id))
		return "organizationIdentifier";
	if (mbedtls_oid_get_numeric_string(buf, cap, &n->oid) < 0)
		snprintf(buf, cap, "?");
	return buf;
}

static bool
in_list(char *const *l, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(canon_attr(l[i]), s))
			return true;
	return false;
}

static rt_err *
check_subject(const cmh_profile *p, cmh_checked *out, cmh_refusal *ref)
{
	char nb[64];
	bool present[64] = { false };

	for (const mbedtls_x509_name *n = out->subject; n != NULL; n = n->next) {
		const char *a = attr_name(n, nb, sizeof(nb));
		if (n->next_merged)
			return refuse(ref, CMP_FI_BAD_CERT_TEMPLATE, "subject has a "
			    "multi-valued RDN (%s+...): not allowed", a);
		if (p->nsubj_allowed > 0 &&
		    !in_list(p->subj_allowed, p->nsubj_allowed, a))
			return refuse(ref, CMP_FI_BAD_CERT_TEMPLATE, "subject "
			    "attribute %s is not allowed by profile %s", a,
			    p->name);
		if (n->val.len == 0 || n->val.len > 256)
			return refuse(ref, CMP_FI_BAD_CERT_TEMPLATE, "subject "
			    "attribute %s is empty or longer than 256 bytes", a);
		for (size_t i = 0; i < n->val.len; i++)
			if (n->val.p[i] < 0x20 || n->val.p[i] == 0x7f)
				return refuse(ref, CMP_FI_BAD_CERT_TEMPLATE, "subject "
				    "attribute %s contains control characters", a);
		for (size_t i = 0; i < p->nsubj_required && i < 64; i++)
			if (!strcmp(canon_attr(p->subj_required[i]), a))
				present[i] = true;
	}
	for (size_t i = 0; i < p->nsubj_required && i < 64; i++)
		if (!present[i])
			return refuse(ref, CMP_FI_BAD_CERT_TEMPLATE, "profile %s "
			    "requires subject attribute %s", p->name,
			    p->subj_required[i]);
	for (size_t i = 0; i < p->nsubj_fixed; i++) {
		const cmh_attr_value *f = &p->subj_fixed[i];
		bool ok = false;
		for (const mbedtls_x509_name *n = out->subject; n != NULL;
		    n = n->next) {
			if (strcmp(attr_name(n, nb, sizeof(nb)), canon_attr(f->attr)))
				continue;
			ok = n->val.len == strlen(f->value) &&
			    !memcmp(n->val.p, f->value, n->val.len);
			if (!ok)
				break;
		}
		if (!ok)
			return refuse(ref, CMP_FI_BAD_CERT_TEMPLATE, "profile %s "
			    "requires %s=%s in the subject", p->name, f->attr,
			    f->value);
	}
	return NULL;
}

static rt_err *
check_key(const cmh_profile *p, cmh_checked *out, const cmh_request *r,
    cmh_refusal *ref)
{
	mbedtls_pk_init(&out->pub);
	if (r->spki == NULL || r->spki_len == 0)
		return refuse(ref, CMP_FI_BAD_CERT_TEMPLATE, "the request has no "
		    "public key");
	if (mbedtls_pk_parse_public_key(&out->pub, r->spki, r->spki_len) != 0)
		return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "the public key does "
		    "not parse");
	rt_err *le = rt_pk_check_limits(&out->pub, "the request's public key");
	if (le != NULL) {
		char m[200];
		rt_err_format(le, m, sizeof(m));
		rt_err_free(le);
		return refuse(ref, CMP_FI_BAD_ALG, "%s", m);
	}
	switch (rt_pk_keytype(&out->pub)) {
	case RT_KEY_RSA:
		if (!(p->key_types & CMH_KT_RSA))
			break;
		if (mbedtls_pk_get_bitlen(&out->pub) < p->min_rsa_bits)
			return refuse(ref, CMP_FI_BAD_ALG, "RSA key of %zu bits; "
			    "profile %s needs at least %u",
			    mbedtls_pk_get_bitlen(&out->pub), p->name,
			    p->min_rsa_bits);
		return NULL;
	case RT_KEY_EC_P256:
		if (p->key_types & CMH_KT_P256)
			return NULL;
		break;
	case RT_KEY_EC_P384:
		if (p->key_types & CMH_KT_P384)
			return NULL;
		break;
	default:
		return refuse(ref, CMP_FI_BAD_ALG, "key type not supported "
		    "(RSA, P-256 and P-384 are)");
	}
	return refuse(ref, CMP_FI_BAD_ALG, "key type not allowed by profile %s",
	    p->name);
}

static rt_err *
check_san(const cmh_profile *p, const uint8_t *v, size_t len, cmh_refusal *ref)
{
	unsigned char *q = (unsigned char *)v, *end = q + len;
	size_t l;
	if (mbedtls_asn1_get_tag(&q, end, &l, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE) != 0 || q + l != end || l == 0)
		return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed "
		    "subjectAltName");
	while (q < end) {
		unsigned char tag = *q++;
		if (mbedtls_asn1_get_len(&q, end, &l) != 0)
			return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed "
			    "subjectAltName");
		unsigned type = 0;
		const char *what = "?";
		switch (tag) {
		case 0x81: type = CMH_SAN_EMAIL; what = "email"; break;
		case 0x82: type = CMH_SAN_DNS; what = "DNS"; break;
		case 0x86: type = CMH_SAN_URI; what = "URI"; break;
		case 0x87: type = CMH_SAN_IP; what = "IP"; break;
		case 0xa0: {
			unsigned char *o = q;
			size_t ol;
			if (mbedtls_asn1_get_tag(&o, q + l, &ol, MBEDTLS_ASN1_OID)
			    == 0 && ol == sizeof(OID_UPN) - 1 &&
			    !memcmp(o, OID_UPN, ol)) {
				type = CMH_SAN_UPN;
				what = "UPN";
			} else
				what = "otherName";
			break;
		}
		default:
			what = "name of another type";
		}
		if (type == 0 || !(p->san_types & type))
			return refuse(ref, CMP_FI_BAD_CERT_TEMPLATE, "profile %s "
			    "does not allow a subjectAltName %s", p->name, what);
		for (size_t i = 0; type != CMH_SAN_UPN && type != CMH_SAN_IP &&
		    i < l; i++)
			if (q[i] < 0x21 || q[i] > 0x7e)
				return refuse(ref, CMP_FI_BAD_CERT_TEMPLATE,
				    "subjectAltName %s with a character outside "
				    "printable ASCII", what);
		q += l;
	}
	return NULL;
}

static rt_err *
check_qc(const cmh_profile *p, const uint8_t *v, size_t len, cmh_checked *out,
    cmh_refusal *ref)
{
	rt_qc q;
	rt_err *e = rt_qc_decode(v, len, &q);
	if (e != NULL) {
		rt_err_free(e);
		return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed "
		    "qcStatements");
	}
	/* a statement the profile fixes anyway may be asked for too (the
	 * RA's procedure names what a qualified certificate carries) */
	const rt_qc *fx = &p->qc_fixed;
	bool hf = p->has_qc_fixed;
	struct { bool has, fixed; unsigned bit; const char *name; } st[] = {
		{ q.compliance, hf && fx->compliance, CMH_QC_COMPLIANCE,
		  "QcCompliance" },
		{ q.sscd, hf && fx->sscd, CMH_QC_SSCD, "QcSSCD" },
		{ q.types != 0, hf && (q.types & ~fx->types) == 0, CMH_QC_TYPE,
		  "QcType" },
		{ q.retention_years != 0, hf && q.retention_years ==
		  fx->retention_years, CMH_QC_RETENTION, "QcRetentionPeriod" },
		{ q.npds != 0, false, CMH_QC_PDS, "QcPDS" },
		{ q.ncc != 0, false, CMH_QC_LEGISLATION, "QcCClegislation" },
		{ q.semantics[0] != '\0', hf && !strcmp(q.semantics,
		  fx->semantics), CMH_QC_SEMANTICS, "semantics identifier" },
	};
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		if (st[i].has && !st[i].fixed && !(p->qc_may_add & st[i].bit))
			return refuse(ref, CMP_FI_UNACCEPTED_EXTENSION, "profile %s "
			    "does not let the RA add %s", p->name, st[i].name);
	if (q.has_limit || q.nother > 0)
		return refuse(ref, CMP_FI_UNACCEPTED_EXTENSION, "QC statement %s "
		    "not supported", q.has_limit ? "QcLimitValue" : q.other[0]);
	/* merge into the profile's fixed statements */
	rt_qc *m = &out->qc;
	m->compliance |= q.compliance;
	m->sscd |= q.sscd;
	m->types |= q.types;
	if (m->retention_years == 0)
		m->retention_years = q.retention_years;
	if (m->npds == 0) {
		memcpy(m->pds, q.pds, sizeof(q.pds));
		m->npds = q.npds;
	}
	for (size_t i = 0; i < q.ncc; i++) {
		bool dup = false;
		for (size_t j = 0; j < m->ncc; j++)
			dup |= !strcmp(m->cc[j], q.cc[i]);
		if (!dup && m->ncc < RT_QC_MAX_CC)
			memcpy(m->cc[m->ncc++], q.cc[i], 3);
	}
	if (m->semantics[0] == '\0')
		memcpy(m->semantics, q.semantics, sizeof(m->semantics));
	out->has_qc = true;
	return NULL;
}

static rt_err *
check_ku(const cmh_profile *p, const uint8_t *v, size_t len, cmh_refusal *ref)
{
	unsigned char *q = (unsigned char *)v;
	mbedtls_asn1_bitstring bs;
	if (mbedtls_asn1_get_bitstring(&q, q + len, &bs) != 0 || q != v + len ||
	    bs.len > 2)
		return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed keyUsage");
	unsigned bits = 0;
	if (bs.len > 0)
		bits = bs.p[0];
	if (bs.len > 1)
		bits |= (unsigned)bs.p[1] << 8;
	if (bits & ~p->key_usage)
		return refuse(ref, CMP_FI_BAD_CERT_TEMPLATE, "requested key usage "
		    "exceeds profile %s", p->name);
	return NULL;
}

static rt_err *
check_eku(const cmh_profile *p, const uint8_t *v, size_t len, cmh_refusal *ref)
{
	unsigned char *q = (unsigned char *)v, *end = q + len;
	size_t l;
	char dotted[64];
	if (mbedtls_asn1_get_tag(&q, end, &l, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE) != 0 || q + l != end)
		return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed "
		    "extendedKeyUsage");
	while (q < end) {
		mbedtls_asn1_buf oid;
		if (mbedtls_asn1_get_tag(&q, end, &oid.len, MBEDTLS_ASN1_OID) != 0)
			return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed "
			    "extendedKeyUsage");
		oid.p = q;
		q += oid.len;
		if (mbedtls_oid_get_numeric_string(dotted, sizeof(dotted), &oid) < 0)
			return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed "
			    "extendedKeyUsage");
		bool ok = false;
		for (size_t i = 0; i < p->nekus; i++)
			ok |= !strcmp(p->ekus[i], dotted);
		if (!ok)
			return refuse(ref, CMP_FI_BAD_CERT_TEMPLATE, "extended key "
			    "usage %s not in profile %s", dotted, p->name);
	}
	return NULL;
}

static rt_err *
check_exts(const cmh_profile *p, const cmh_request *r, cmh_checked *out,
    cmh_refusal *ref)
{
	unsigned char *q = (unsigned char *)r->exts, *end = q + r->exts_len;
	size_t l;
	unsigned seen = 0;
	rt_err *e;

	if (mbedtls_asn1_get_tag(&q, end, &l, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE) != 0 || q + l != end)
		return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed extensions");
	while (q < end) {
		unsigned char *xe;
		mbedtls_asn1_buf oid;
		int crit = 0;
		size_t vl;
		if (mbedtls_asn1_get_tag(&q, end, &l, MBEDTLS_ASN1_CONSTRUCTED |
		    MBEDTLS_ASN1_SEQUENCE) != 0)
			return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed "
			    "extension");
		xe = q + l;
		if (mbedtls_asn1_get_tag(&q, xe, &oid.len, MBEDTLS_ASN1_OID) != 0)
			return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed "
			    "extension");
		oid.p = q;
		q += oid.len;
		if (q < xe && *q == MBEDTLS_ASN1_BOOLEAN &&
		    mbedtls_asn1_get_bool(&q, xe, &crit) != 0)
			return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed "
			    "extension");
		if (mbedtls_asn1_get_tag(&q, xe, &vl, MBEDTLS_ASN1_OCTET_STRING)
		    != 0 || q + vl != xe)
			return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed "
			    "extension");
		unsigned bit = 0;
		e = NULL;
		if (OID_IS(oid, OID_SAN)) {
			bit = 1;
			if ((e = check_san(p, q, vl, ref)) == NULL) {
				if ((out->san = malloc(vl)) == NULL)
					return rt_err_new(RT_E_NOMEM, NULL, "request");
				memcpy(out->san, q, vl);
				out->san_len = vl;
			}
		} else if (OID_IS(oid, OID_QCS)) {
			bit = 2;
			e = check_qc(p, q, vl, out, ref);
		} else if (OID_IS(oid, OID_KU)) {
			bit = 4;
			e = check_ku(p, q, vl, ref);
		} else if (OID_IS(oid, OID_EKU)) {
			bit = 8;
			e = check_eku(p, q, vl, ref);
		} else if (OID_IS(oid, OID_BC)) {
			unsigned char *b = q;
			size_t bl;
			int ca = 0;
			bit = 16;
			if (mbedtls_asn1_get_tag(&b, q + vl, &bl,
			    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
				return refuse(ref, CMP_FI_BAD_DATA_FORMAT,
				    "malformed basicConstraints");
			if (bl > 0 && mbedtls_asn1_get_bool(&b, q + vl, &ca) == 0 &&
			    ca)
				return refuse(ref, CMP_FI_BAD_CERT_TEMPLATE, "a CA "
				    "certificate was requested (basicConstraints "
				    "cA)");
		} else if (OID_IS(oid, OID_SKID)) {
			bit = 32;	/* ignored: the CA computes its own */
		} else if (crit) {
			char dotted[64];
			if (mbedtls_oid_get_numeric_string(dotted, sizeof(dotted),
			    &oid) < 0)
				snprintf(dotted, sizeof(dotted), "?");
			return refuse(ref, CMP_FI_UNACCEPTED_EXTENSION, "critical "
			    "extension %s not supported", dotted);
		}
		if (e != NULL)
			return e;
		if (bit != 0 && (seen & bit))
			return refuse(ref, CMP_FI_BAD_DATA_FORMAT, "an extension is "
			    "requested twice");
		seen |= bit;
		q = xe;
	}
	return NULL;
}

rt_err *
cmh_policy_check(const cmh_profile *p, const cmh_request *r, cmh_checked *out,
    cmh_refusal *ref)
{
	unsigned char *q, *end;
	size_t l;
	rt_err *e;

	memset(out, 0, sizeof(*out));
	memset(ref, 0, sizeof(*ref));
	mbedtls_pk_init(&out->pub);
	if (p->has_qc_fixed) {
		out->qc = p->qc_fixed;
		out->has_qc = true;
	}
	if (r->subject == NULL || r->subject_len == 0) {
		e = refuse(ref, CMP_FI_BAD_CERT_TEMPLATE, "the request has no "
		    "subject");
		goto fail;
	}
	if ((out->subject_der = malloc(r->subject_len)) == NULL ||
	    (out->subject = calloc(1, sizeof(*out->subject))) == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "request");
		goto fail;
	}
	memcpy(out->subject_der, r->subject, r->subject_len);
	out->subject_der_len = r->subject_len;
	q = out->subject_der;
	end = q + r->subject_len;
	if (mbedtls_asn1_get_tag(&q, end, &l, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE) != 0 || q + l != end) {
		e = refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed subject");
		goto fail;
	}
	if (l == 0) {
		e = refuse(ref, CMP_FI_BAD_CERT_TEMPLATE, "the subject is empty");
		goto fail;
	}
	if (mbedtls_x509_get_name(&q, end, out->subject) != 0 || q != end) {
		e = refuse(ref, CMP_FI_BAD_DATA_FORMAT, "malformed subject");
		goto fail;
	}
	if (mbedtls_x509_dn_gets(out->subject_str, sizeof(out->subject_str),
	    out->subject) < 0)
		snprintf(out->subject_str, sizeof(out->subject_str), "?");
	if ((e = check_subject(p, out, ref)) != NULL ||
	    (e = check_key(p, out, r, ref)) != NULL)
		goto fail;
	if (r->exts != NULL && r->exts_len > 0 &&
	    (e = check_exts(p, r, out, ref)) != NULL)
		goto fail;
	return NULL;
fail:
	if (ref->why[0] == '\0') {
		ref->fail_info = CMP_FI_SYSTEM_FAILURE;
		rt_err_format(e, ref->why, sizeof(ref->why));
	}
	cmh_checked_free(out);
	return e;
}
