/* csr.c - PKCS#10 requests with an external signer; see include/raterm/csr.h */
#include "raterm/csr.h"
#include "raterm/x509write.h"
#include "der.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/base64.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_csr.h>

static const struct {
	const char *name, *oid;
} eku_names[] = {
	{ "serverAuth", "1.3.6.1.5.5.7.3.1" },
	{ "clientAuth", "1.3.6.1.5.5.7.3.2" },
	{ "codeSigning", "1.3.6.1.5.5.7.3.3" },
	{ "emailProtection", "1.3.6.1.5.5.7.3.4" },
	{ "timeStamping", "1.3.6.1.5.5.7.3.8" },
	{ "OCSPSigning", "1.3.6.1.5.5.7.3.9" },
	{ "smartcardLogon", "1.3.6.1.4.1.311.20.2.2" },
	{ "msSmartcardLogin", "1.3.6.1.4.1.311.20.2.2" },
	{ "pkinitKDC", "1.3.6.1.5.2.3.5" },
	{ "pkinitClient", "1.3.6.1.5.2.3.4" },
};

const char *
rt_eku_oid(const char *name)
{
	uint8_t b[64];
	size_t n;
	for (size_t i = 0; i < sizeof(eku_names) / sizeof(eku_names[0]); i++)
		if (strcasecmp(name, eku_names[i].name) == 0)
			return eku_names[i].oid;
	rt_err *e = rt_oid_encode(name, b, sizeof(b), &n);
	if (e == NULL)
		return name;
	rt_err_free(e);
	return NULL;
}

static const struct {
	const char *name;
	unsigned bit;
} ku_names[] = {
	{ "digitalSignature", RT_KU_DIGITAL_SIGNATURE },
	{ "nonRepudiation", RT_KU_NON_REPUDIATION },
	{ "contentCommitment", RT_KU_NON_REPUDIATION },
	{ "keyEncipherment", RT_KU_KEY_ENCIPHERMENT },
	{ "dataEncipherment", RT_KU_DATA_ENCIPHERMENT },
	{ "keyAgreement", RT_KU_KEY_AGREEMENT },
	{ "keyCertSign", RT_KU_KEY_CERT_SIGN },
	{ "cRLSign", RT_KU_CRL_SIGN },
	{ "encipherOnly", RT_KU_ENCIPHER_ONLY },
	{ "decipherOnly", RT_KU_DECIPHER_ONLY },
};

rt_err *
rt_ku_parse(const char *list, unsigned *ku)
{
	char w[64];
	*ku = 0;
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ", ");
		if (n > 0) {
			bool found = false;
			if (n >= sizeof(w))
				n = sizeof(w) - 1;
			memcpy(w, p, n);
			w[n] = '\0';
			for (size_t i = 0; i < sizeof(ku_names) / sizeof(ku_names[0]);
			    i++)
				if (strcasecmp(w, ku_names[i].name) == 0) {
					*ku |= ku_names[i].bit;
					found = true;
				}
			if (!found)
				return rt_err_new(RT_E_ARG, NULL, "unknown key usage "
				    "\"%s\"", w);
		}
		p += n;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return NULL;
}

static void
ext_add(rt_der *exts, const char *oid, bool critical, const rt_der *val)
{
	rt_der e;
	der_init(&e);
	der_oid(&e, oid);
	if (critical)
		der_bool(&e, true);
	der_wrap(&e, 0x04, val);
	der_wrap(exts, 0x30, &e);
	der_free(&e);
}

static rt_err *
subject_der(const char *subject, rt_der *d)
{
	mbedtls_asn1_named_data *names = NULL;
	unsigned char buf[2048], *p = buf + sizeof(buf);
	int rc;
	if (subject == NULL || subject[0] == '\0') {
		der_tlv(d, 0x30, NULL, 0);
		return NULL;
	}
	if ((rc = mbedtls_x509_string_to_names(&names, subject)) != 0) {
		mbedtls_asn1_free_named_data_list(&names);
		return rt_err_new(RT_E_ARG, NULL, "subject \"%s\" does not parse "
		    "(mbedTLS -0x%04x; use e.g. CN=Jane Doe,O=Example,C=DE)",
		    subject, (unsigned)-rc);
	}
	rc = mbedtls_x509_write_names(&p, buf, names);
	mbedtls_asn1_free_named_data_list(&names);
	if (rc < 0)
		return rt_err_new(RT_E_ARG, NULL, "subject too long");
	der_raw(d, p, (size_t)rc);
	return NULL;
}

static void
san_add(rt_der *san, const rt_csr_req *r)
{
	for (size_t i = 0; i < r->nemails; i++)
		der_str(san, 0x81, r->emails[i]);		/* [1] rfc822Name */
	for (size_t i = 0; i < r->nupns; i++) {
		/* [0] otherName { type-id, [0] EXPLICIT UTF8String } */
		rt_der on, v, s;
		der_init(&on);
		der_init(&v);
		der_init(&s);
		der_oid(&on, RT_OID_UPN);
		der_str(&s, 0x0C, r->upns[i]);
		der_wrap(&on, 0xA0, &s);
		der_wrap(san, 0xA0, &on);
		der_free(&on);
		der_free(&v);
		der_free(&s);
	}
	for (size_t i = 0; i < r->ndns; i++)
		der_str(san, 0x82, r->dns[i]);		/* [2] dNSName */
}

rt_err *
rt_csr_build(rt_signer *s, const rt_csr_req *r, uint8_t **der, size_t *len)
{
	rt_der body, exts, tmp, out;
	unsigned char spki[1200];
	int n;
	rt_err *e;

	*der = NULL;
	rt_keytype kt = rt_signer_keytype(s);
	rt_hash h = r->hash != RT_HASH_NONE ? r->hash :
	    rt_pk_default_hash(rt_signer_pk(s));
	rt_scheme sch = r->scheme != RT_SCHEME_DEFAULT ? r->scheme :
	    kt == RT_KEY_RSA ? RT_SCHEME_PKCS1 : RT_SCHEME_ECDSA;

	der_init(&body);
	der_init(&exts);
	der_init(&tmp);
	der_init(&out);
	der_int(&body, 0);
	if ((e = subject_der(r->subject, &body)) != NULL)
		goto out;
	n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)(uintptr_t)
	    rt_signer_pk(s), spki, sizeof(spki));
	if (n < 0) {
		e = rt_err_new(RT_E_CRYPTO, NULL, "cannot encode the public key");
		goto out;
	}
	der_raw(&body, spki + sizeof(spki) - n, (size_t)n);

	/* requested extensions */
	if (r->nemails + r->nupns + r->ndns > 0) {
		rt_der san;
		der_init(&san);
		san_add(&san, r);
		der_wrap(&tmp, 0x30, &san);
		ext_add(&exts, "2.5.29.17", false, &tmp);
		der_free(&san);
		der_free(&tmp);
		der_init(&tmp);
	}
	if (r->key_usage != 0) {
		der_key_usage(&tmp, r->key_usage);
		ext_add(&exts, "2.5.29.15", true, &tmp);
		der_free(&tmp);
		der_init(&tmp);
	}
	if (r->nekus > 0) {
		rt_der seq;
		der_init(&seq);
		for (size_t i = 0; i < r->nekus; i++) {
			const char *oid = rt_eku_oid(r->ekus[i]);
			if (oid == NULL) {
				der_free(&seq);
				e = rt_err_new(RT_E_ARG, NULL, "unknown extended key usage "
				    "\"%s\"", r->ekus[i]);
				goto out;
			}
			der_oid(&seq, oid);
		}
		der_wrap(&tmp, 0x30, &seq);
		ext_add(&exts, "2.5.29.37", false, &tmp);
		der_free(&seq);
		der_free(&tmp);
		der_init(&tmp);
	}
	for (size_t i = 0; i < r->nexts; i++) {
		der_raw(&tmp, r->exts[i].value, r->exts[i].len);
		if (r->exts[i].len == 0)
			der_tlv(&tmp, 0x05, NULL, 0);	/* empty: NULL */
		ext_add(&exts, r->exts[i].oid, r->exts[i].critical, &tmp);
		der_free(&tmp);
		der_init(&tmp);
	}
	/* attributes [0] IMPLICIT SET OF Attribute */
	if (exts.len > 0) {
		rt_der attr, set, seq;
		der_init(&attr);
		der_init(&set);
		der_init(&seq);
		der_wrap(&seq, 0x30, &exts);
		der_wrap(&set, 0x31, &seq);
		der_tlv(&attr, 0x06, MBEDTLS_OID_PKCS9_CSR_EXT_REQ,
		    sizeof(MBEDTLS_OID_PKCS9_CSR_EXT_REQ) - 1);
		der_raw(&attr, set.p, set.len);
		der_free(&set);
		der_init(&set);
		der_wrap(&set, 0x30, &attr);
		der_wrap(&body, 0xA0, &set);
		der_free(&attr);
		der_free(&set);
		der_free(&seq);
	} else
		der_tlv(&body, 0xA0, NULL, 0);
	/* sign the CertificationRequestInfo */
	e = der_sign_body(s, h, sch, &body, "CSR", der, len);
out:
	der_free(&body);
	der_free(&exts);
	der_free(&tmp);
	der_free(&out);
	return e;
}

rt_err *
rt_pem_encode(const char *label, const uint8_t *der, size_t len, char **pem)
{
	size_t b64len = 0;
	(void)mbedtls_base64_encode(NULL, 0, &b64len, der, len);
	unsigned char *b64 = malloc(b64len + 1);
	size_t cap = b64len + b64len / 64 + 2 * strlen(label) + 64;
	char *out = malloc(cap);
	if (b64 == NULL || out == NULL ||
	    mbedtls_base64_encode(b64, b64len + 1, &b64len, der, len) != 0) {
		free(b64);
		free(out);
		return rt_err_new(RT_E_NOMEM, NULL, "PEM");
	}
	size_t o = (size_t)snprintf(out, cap, "-----BEGIN %s-----\n", label);
	for (size_t i = 0; i < b64len; i += 64) {
		size_t n = b64len - i < 64 ? b64len - i : 64;
		memcpy(out + o, b64 + i, n);
		o += n;
		out[o++] = '\n';
	}
	snprintf(out + o, cap - o, "-----END %s-----\n", label);
	free(b64);
	*pem = out;
	return NULL;
}

rt_err *
rt_csr_verify(const uint8_t *der, size_t len)
{
	mbedtls_x509_csr csr;
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];
	int rc;
	mbedtls_x509_csr_init(&csr);
	if ((rc = mbedtls_x509_csr_parse_der(&csr, der, len)) != 0) {
		mbedtls_x509_csr_free(&csr);
		return rt_err_new(RT_E_FORMAT, NULL, "CSR does not parse (mbedTLS "
		    "-0x%04x)", (unsigned)-rc);
	}
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(csr.sig_md);
	if (md == NULL || mbedtls_md(md, csr.cri.p, csr.cri.len, hash) != 0)
		rc = -1;
	else
		rc = mbedtls_pk_verify_ext(csr.sig_pk, csr.sig_opts, &csr.pk,
		    csr.sig_md, hash, mbedtls_md_get_size(md), csr.sig.p,
		    csr.sig.len);
	mbedtls_x509_csr_free(&csr);
	if (rc != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "CSR signature does not "
		    "verify");
	return NULL;
}
