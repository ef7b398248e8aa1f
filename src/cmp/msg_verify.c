/* msg_verify.c - protection verification, POPO, and helpers that fill the
 * model from CSRs and certificates; see cmp.h */
#include "cmp_int.h"
#include "raterm/csr.h"
#include "raterm/x509.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

static rt_hash
hash_of_md(mbedtls_md_type_t md)
{
	switch (md) {
	case MBEDTLS_MD_SHA1: return RT_HASH_SHA1;
	case MBEDTLS_MD_SHA256: return RT_HASH_SHA256;
	case MBEDTLS_MD_SHA384: return RT_HASH_SHA384;
	case MBEDTLS_MD_SHA512: return RT_HASH_SHA512;
	default: return RT_HASH_NONE;
	}
}

/* Checks that sig over data verifies with the key spki in (h, scheme),
 * with the verifier v (NULL: mbedTLS). */
static rt_err *
check_sig(const rt_verifier *v, cmp_buf spki, rt_hash h, rt_scheme s,
    cmp_buf data, cmp_buf sig, rt_err_kind kind, const char *what)
{
	rt_err *e = rt_verify_data(v, spki.p, spki.len, h, s, data.p, data.len,
	    sig.p, sig.len);
	if (e == NULL)
		return NULL;
	if (rt_err_kind_of(e) == RT_E_CRYPTO)
		return rt_err_new(kind, e, "%s: signature does not verify", what);
	return rt_err_new(kind, e, "%s", what);
}

/* The verification callback of mbedTLS: the earliest notAfter of the
 * chain it builds. */
static int
chain_not_after(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	time_t *na = ctx, t = rt_x509_time_epoch(&crt->valid_to);
	(void)depth;
	(void)flags;
	if (*na == 0 || t < *na)
		*na = t;
	return 0;
}

static void
free_crts(mbedtls_x509_crt *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mbedtls_x509_crt_free(&c[i]);
}

/* Validates the chain of the protection certificate lc (all[leaf]): the
 * leaf, then the other certificates as intermediates, to o->trust; tells
 * o->chain_validated. */
static rt_err *
verify_chain(const cmp_verify_opts *o, const cmp_buf *all, size_t n,
    size_t leaf, const mbedtls_x509_crt *lc, const char *body)
{
	mbedtls_x509_crt chain;
	rt_err *e = NULL;
	time_t na = 0;
	mbedtls_x509_crt_init(&chain);
	int rc = mbedtls_x509_crt_parse_der_nocopy(&chain, all[leaf].p,
	    all[leaf].len);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (i != leaf)
			rc = mbedtls_x509_crt_parse_der_nocopy(&chain, all[i].p,
			    all[i].len);
	if (rc == 0) {
		uint32_t flags = 0;
		rc = mbedtls_x509_crt_verify_with_profile(&chain,
		    (mbedtls_x509_crt *)o->trust, NULL,
		    &mbedtls_x509_crt_profile_default, NULL, &flags,
		    chain_not_after, &na);
		if (rc != 0) {
			char info[512];
			mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
			for (char *p = info; *p; p++)
				if (*p == '\n')
					*p = (p[1] ? ';' : '\0');
			char name[256];
			mbedtls_x509_dn_gets(name, sizeof(name), &lc->subject);
			e = rt_err_new(RT_E_CMP_TRUST, NULL, "%s signer \"%s\" does not "
			    "chain to the CM host trust: %s", body, name,
			    flags ? info : "verification failed");
		}
	} else
		e = rt_err_new(RT_E_CMP_FORMAT, NULL, "extraCerts do not parse");
	mbedtls_x509_crt_free(&chain);
	if (e == NULL && o->chain_validated != NULL)
		o->chain_validated(o->chain_ctx, all[leaf], na);
	return e;
}

rt_err *
cmp_msg_verify(const cmp_msg *m, const cmp_verify_opts *o, size_t *signer_idx)
{
	enum { MAXC = 2 * CMP_MAX_CERTS };
	mbedtls_x509_crt crts[MAXC];
	cmp_buf all[MAXC];
	size_t n = 0, own = m->nextra_certs, leaf = SIZE_MAX;
	rt_err *e = NULL;
	const char *body = cmp_body_name(m->type);

	if (o == NULL || o->trust == NULL)
		return rt_err_new(RT_E_ARG, NULL, "no CMP trust anchors");
	if (m->protection.len == 0)
		return rt_err_new(RT_E_CMP_PROTECTION, NULL, "%s message is not "
		    "protected", body);
	for (size_t i = 0; i < own && n < MAXC; i++)
		all[n++] = m->extra_certs[i];
	for (size_t i = 0; o->untrusted != NULL && i < o->nuntrusted &&
	    n < MAXC; i++)
		all[n++] = o->untrusted[i];
	if (n == 0)
		return rt_err_new(RT_E_CMP_PROTECTION, NULL, "%s message has no "
		    "protection certificate (extraCerts empty)", body);
	for (size_t i = 0; i < n; i++) {
		mbedtls_x509_crt_init(&crts[i]);
		if (mbedtls_x509_crt_parse_der_nocopy(&crts[i], all[i].p,
		    all[i].len) != 0) {
			free_crts(crts, i + 1);
			return rt_err_new(RT_E_CMP_FORMAT, NULL, "%s[%zu] does "
			    "not parse", i < own ? "extraCerts" : "earlier extraCerts",
			    i < own ? i : i - own);
		}
	}
	/* RFC 9483: the first extraCerts entry is the protection certificate;
	 * a senderKID picks it out of several if the first does not match;
	 * a later message may rely on the certificates sent before. */
	for (size_t i = 0; i < n && leaf == SIZE_MAX; i++) {
		cmp_buf ski = cmp_crt_ski(&crts[i]);
		cmp_buf subj = { crts[i].subject_raw.p, crts[i].subject_raw.len };
		if (m->hdr.sender_kid.len > 0 ? cmp_buf_eq(ski, m->hdr.sender_kid) :
		    (i < own || cmp_buf_eq(subj, m->hdr.sender)))
			leaf = i;
	}
	if (leaf == SIZE_MAX) {
		e = rt_err_new(RT_E_CMP_PROTECTION, NULL, "no protection "
		    "certificate with the senderKID of the %s message", body);
		goto out;
	}
	const mbedtls_x509_crt *lc = &crts[leaf];
	cmp_buf subj = { lc->subject_raw.p, lc->subject_raw.len };
	if (!cmp_buf_eq(subj, m->hdr.sender)) {
		e = rt_err_new(RT_E_CMP_PROTECTION, NULL, "%s message: sender is "
		    "not the subject of the protection certificate", body);
		goto out;
	}
	if (mbedtls_x509_crt_check_key_usage(lc,
	    MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0) {
		e = rt_err_new(RT_E_CMP_PROTECTION, NULL, "protection certificate "
		    "lacks keyUsage digitalSignature");
		goto out;
	}
	/* a chain validated before (the caller's cache) is not validated
	 * again: the certificate is the same bytes */
	bool known = o->chain_known != NULL && o->chain_known(o->chain_ctx,
	    all[leaf]);
	/* no key from outside is used before it is known to be of a
	 * reasonable size: the chain check verifies with every one */
	for (size_t i = 0; !known && i < n; i++)
		if ((e = rt_pk_check_limits(&crts[i].pk, i < own ? "extraCerts" :
		    "earlier extraCerts")) != NULL) {
			e = rt_err_new(RT_E_CMP_TRUST, e, "%s message: a certificate "
			    "key out of limits", body);
			goto out;
		}
	if (!known && (e = verify_chain(o, all, n, leaf, lc, body)) != NULL)
		goto out;
	/* the signature last: only a key that chains to the trust anchors is
	 * ever used (an untrusted sender costs no signature check) */
	cmp_buf spki = { lc->pk_raw.p, lc->pk_raw.len };
	if ((e = check_sig(o->verifier, spki, m->prot_hash, m->prot_scheme,
	    m->protected_part, m->protection, RT_E_CMP_PROTECTION,
	    "CMP protection")) != NULL) {
		e = rt_err_wrap(e, "%s message", body);
		goto out;
	}

	/* header checks */
	if (o->sender.len > 0 && !cmp_buf_eq(o->sender, m->hdr.sender)) {
		e = rt_err_new(RT_E_CMP_MISMATCH, NULL, "%s message from an "
		    "unexpected sender", body);
		goto out;
	}
	if (o->transaction_id.len > 0 && !cmp_buf_eq(o->transaction_id,
	    m->hdr.transaction_id)) {
		e = rt_err_new(RT_E_CMP_MISMATCH, NULL, "%s message: transactionID "
		    "does not match", body);
		goto out;
	}
	if (o->recip_nonce.len > 0 && !cmp_buf_eq(o->recip_nonce,
	    m->hdr.recip_nonce)) {
		e = rt_err_new(RT_E_CMP_MISMATCH, NULL, "%s message: recipNonce is "
		    "not our senderNonce", body);
		goto out;
	}
	if (o->max_skew > 0 && m->hdr.message_time != 0) {
		time_t now = o->now ? o->now : time(NULL);
		double d = difftime(m->hdr.message_time, now);
		if (d > (double)o->max_skew || -d > (double)o->max_skew) {
			e = rt_err_new(RT_E_CMP_MISMATCH, NULL, "%s message: "
			    "messageTime off by %.0f s", body, d);
			goto out;
		}
	}
	if (signer_idx != NULL)
		*signer_idx = leaf;
out:
	free_crts(crts, n);
	return e;
}

rt_err *
cmp_popo_verify(const cmp_msg *m, size_t i)
{
	return cmp_popo_verify_with(m, i, NULL);
}

rt_err *
cmp_popo_verify_with(const cmp_msg *m, size_t i, const rt_verifier *v)
{
	if (i >= m->nreq || m->req[i].popo != CMP_POPO_SIGNATURE)
		return rt_err_new(RT_E_ARG, NULL, "request %zu has no POPO "
		    "signature", i);
	const cmp_cert_req *q = &m->req[i];
	rt_hash h;
	rt_scheme s;
	rt_err *e = cmp_sig_alg_parse(q->popo_alg, &h, &s);
	if (e != NULL)
		return e;
	if (q->public_key.len == 0)
		return rt_err_new(RT_E_CMP_FORMAT, NULL, "request %zu: no usable "
		    "public key in the template", i);
	e = check_sig(v, q->public_key, h, s, q->cert_req, q->popo_sig,
	    RT_E_CMP_PROTECTION, "proof of possession");
	if (e != NULL && rt_err_kind_of(rt_err_cause(e)) == RT_E_CERT)
		return rt_err_new(RT_E_CMP_FORMAT, e, "request %zu: no usable "
		    "public key in the template", i);
	return e;
}

#define TRYF(x) do { if ((e = (x)) != NULL) goto bad; } while (0)

rt_err *
cmp_req_from_csr(const uint8_t *csr, size_t len, cmp_cert_req *out)
{
	return cmp_req_from_csr_with(csr, len, NULL, out);
}

/* The CSR's signature (the rest of r after certificationRequestInfo,
 * whose DER is tbs) checked by v. */
static rt_err *
csr_sig_check(cmp_rd *r, cmp_buf tbs, cmp_buf spki, const rt_verifier *v)
{
	cmp_buf alg, bits;
	rt_hash h;
	rt_scheme sch;
	rt_err *e;
	if ((e = rd_get(r, 0x30, "signatureAlgorithm", NULL, &alg)) != NULL ||
	    (e = rd_get(r, 0x03, "signature", &bits, NULL)) != NULL ||
	    (e = rd_end(r)) != NULL)
		return e;
	if (bits.len < 2 || bits.p[0] != 0)
		return rt_err_new(RT_E_FORMAT, NULL, "CSR signature: not a whole "
		    "number of bytes");
	if ((e = cmp_sig_alg_parse(alg, &h, &sch)) != NULL)
		return rt_err_new(RT_E_FORMAT, e, "CSR signatureAlgorithm");
	e = rt_verify_data(v, spki.p, spki.len, h, sch, tbs.p, tbs.len,
	    bits.p + 1, bits.len - 1);
	if (e != NULL)
		return rt_err_new(rt_err_kind_of(e) == RT_E_CRYPTO ? RT_E_CRYPTO :
		    RT_E_FORMAT, e, "CSR signature does not verify");
	return NULL;
}

rt_err *
cmp_req_from_csr_with(const uint8_t *csr, size_t len, const rt_verifier *vf,
    cmp_cert_req *out)
{
	static const uint8_t oid_ext_req[] = { 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D,
	    0x01, 0x09, 0x0E };
	rt_err *e = vf == NULL ? rt_csr_verify(csr, len) : NULL;
	if (e != NULL)
		return e;
	cmp_rd top, r, cri, attrs;
	cmp_buf v, criv, criw, t;
	bool has;
	cmp_buf all = { csr, len };
	memset(out, 0, sizeof(*out));
	rd_init(&top, all, "CSR");
	TRYF(rd_get(&top, 0x30, "CertificationRequest", &v, NULL));
	TRYF(rd_end(&top));
	rd_init(&r, v, "CSR");
	TRYF(rd_get(&r, 0x30, "certificationRequestInfo", &criv, &criw));
	rd_init(&cri, criv, "certificationRequestInfo");
	long ver;
	TRYF(rd_int(&cri, "version", &ver));
	TRYF(rd_get(&cri, 0x30, "subject", NULL, &out->subject));
	TRYF(rd_get(&cri, 0x30, "subjectPKInfo", NULL, &out->public_key));
	TRYF(rd_opt(&cri, 0xA0, "attributes", &t, NULL, &has));
	TRYF(rd_end(&cri));
	if (vf != NULL && (e = csr_sig_check(&r, criw, out->public_key, vf)) !=
	    NULL) {
		if (rt_err_kind_of(e) == RT_E_CRYPTO)
			return e;
		goto bad;
	}
	if (out->subject.len == 2)	/* empty Name: leave to the CA */
		out->subject.len = 0;
	if (!has)
		return NULL;
	rd_init(&attrs, t, "attributes");
	while (!rd_at_end(&attrs)) {
		cmp_buf av, oid, set;
		cmp_rd a, s;
		TRYF(rd_get(&attrs, 0x30, "Attribute", &av, NULL));
		rd_init(&a, av, "Attribute");
		TRYF(rd_get(&a, 0x06, "type", &oid, NULL));
		TRYF(rd_get(&a, 0x31, "values", &set, NULL));
		TRYF(rd_end(&a));
		if (oid.len != sizeof(oid_ext_req) || memcmp(oid.p, oid_ext_req,
		    oid.len) != 0)
			continue;
		rd_init(&s, set, "extensionRequest");
		TRYF(rd_get(&s, 0x30, "Extensions", NULL, &out->extensions));
		TRYF(rd_end(&s));
	}
	return NULL;
bad:
	return rt_err_new(RT_E_FORMAT, e, "CSR");
}

rt_err *
cmp_rev_from_cert(const uint8_t *cert, size_t len, int reason,
    cmp_rev_details *out)
{
	mbedtls_x509_crt c;
	mbedtls_x509_crt_init(&c);
	if (mbedtls_x509_crt_parse_der_nocopy(&c, cert, len) != 0) {
		mbedtls_x509_crt_free(&c);
		return rt_err_new(RT_E_CERT, NULL, "certificate does not parse");
	}
	memset(out, 0, sizeof(*out));
	out->issuer.p = c.issuer_raw.p;
	out->issuer.len = c.issuer_raw.len;
	out->serial.p = c.serial.p;
	out->serial.len = c.serial.len;
	out->reason = reason;
	mbedtls_x509_crt_free(&c);
	return NULL;
}

rt_err *
cmp_cert_hash(const uint8_t *cert, size_t len, uint8_t *out, size_t *out_len)
{
	mbedtls_x509_crt c;
	mbedtls_x509_crt_init(&c);
	if (mbedtls_x509_crt_parse_der_nocopy(&c, cert, len) != 0) {
		mbedtls_x509_crt_free(&c);
		return rt_err_new(RT_E_CERT, NULL, "certificate does not parse");
	}
	rt_hash h = hash_of_md(c.sig_md);
	mbedtls_x509_crt_free(&c);
	if (h == RT_HASH_NONE)
		h = RT_HASH_SHA256;
	rt_err *e = rt_hash_data(h, cert, len, out);
	if (e == NULL)
		*out_len = rt_hash_len(h);
	return e;
}
