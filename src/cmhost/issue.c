/* issue.c - the CA of cmhost: loading its certificate, key and chain, the
 * CMP signer, and issuing certificates through the one certificate writer
 * (x509write.h), the keys signing on libcrypto (signer_ossl.h); see
 * include/raterm/cmhost.h. */
#include "raterm/cmhost.h"
#include "raterm/csr.h"
#include "raterm/signer.h"
#include "raterm/signer_ossl.h"
#include "raterm/softtoken.h"
#include "raterm/util.h"
#include "raterm/x509write.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/oid.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

struct cmh_ca {
	mbedtls_x509_crt cert;		/* the issuing CA */
	mbedtls_pk_context key;
	mbedtls_x509_crt chain;		/* extraCerts: CMP signer, CA, ... root */
	mbedtls_x509_crt cmp_cert;	/* dedicated CMP signer (if any) */
	mbedtls_pk_context cmp_key;
	bool dedicated;
	mbedtls_x509_crt ocsp_cert;	/* delegated OCSP responder (if any) */
	mbedtls_pk_context ocsp_key;
	rt_signer *ocsp_signer;		/* NULL: the CA signs OCSP answers */
	rt_signer *signer;		/* CMP protection (CA or dedicated key) */
	rt_signer *ca_signer;		/* certificates, CRLs, OCSP: the CA key */
	uint8_t ca_key_id[20];		/* authorityKeyIdentifier */
};

/* Loads a private key: unencrypted PEM/DER, or encrypted with the first
 * line of pass_file (any form softtoken.h reads). */
static rt_err *
load_key(const char *path, const char *pass_file, mbedtls_pk_context *key)
{
	uint8_t *buf, *pass = NULL;
	size_t len, plen = 0;
	rt_err *e;
	int rc;

	if ((e = rt_file_read(path, 4u << 20, &buf, &len)) != NULL)
		return e;
	if (pass_file != NULL) {
		if ((e = rt_file_read(pass_file, 4u << 20, &pass,
		    &plen)) != NULL) {
			rt_wipe(buf, len);
			free(buf);
			return e;
		}
		plen = strcspn((char *)pass, "\r\n");
		mbedtls_x509_crt dummy;
		mbedtls_x509_crt_init(&dummy);
		e = rt_softkey_parse(buf, len, (char *)pass, plen, key, &dummy);
		mbedtls_x509_crt_free(&dummy);
		if (e != NULL)
			e = rt_err_wrap(e, "%s", path);
	} else {
		mbedtls_pk_init(key);
		size_t l = strstr((char *)buf, "-----BEGIN") ? len + 1 : len;
#if MBEDTLS_VERSION_MAJOR >= 3
		rc = mbedtls_pk_parse_key(key, buf, l, NULL, 0, rt_rng, NULL);
#else
		rc = mbedtls_pk_parse_key(key, buf, l, NULL, 0);
#endif
		if (rc != 0)
			e = rt_err_new(RT_E_FORMAT, NULL, "%s: not an unencrypted "
			    "private key (mbedTLS -0x%04x); an encrypted key needs "
			    "a key_pass_file", path, (unsigned)-rc);
	}
	if (pass != NULL) {
		rt_wipe(pass, plen);
		free(pass);
	}
	rt_wipe(buf, len);
	free(buf);
	return e;
}

static rt_err *
load_cert(const char *path, mbedtls_x509_crt *crt)
{
	int rc = mbedtls_x509_crt_parse_file(crt, path);
	if (rc != 0)
		return rt_err_new(RT_E_CERT, NULL, "%s: %s (mbedTLS -0x%04x)", path,
		    rc > 0 ? "some certificates do not parse" :
		    "no certificate could be read", (unsigned)(rc < 0 ? -rc : rc));
	return NULL;
}

/* A certificate and its private key, checked to match. */
static rt_err *
load_pair(const char *cert, const char *key, const char *pass_file,
    mbedtls_x509_crt *crt, mbedtls_pk_context *pk)
{
	rt_err *e;
	int rc;
	if ((e = load_cert(cert, crt)) != NULL ||
	    (e = load_key(key, pass_file, pk)) != NULL)
		return e;
#if MBEDTLS_VERSION_MAJOR >= 3
	rc = mbedtls_pk_check_pair(&crt->pk, pk, rt_rng, NULL);
#else
	rc = mbedtls_pk_check_pair(&crt->pk, pk);
#endif
	if (rc != 0)
		return rt_err_new(RT_E_CERT, NULL, "%s does not match the key in %s",
		    cert, key);
	return NULL;
}

/* The delegated OCSP responder: issued by the CA, for OCSP signing
 * (RFC 6960 4.2.2.2), valid now. */
static rt_err *
load_responder(const cmh_config *c, cmh_ca *ca)
{
	uint32_t flags = 0;
	rt_err *e;
	if ((e = load_pair(c->ocsp_cert, c->ocsp_key, c->ocsp_key_pass_file,
	    &ca->ocsp_cert, &ca->ocsp_key)) != NULL)
		return e;
	if (mbedtls_x509_crt_verify(&ca->ocsp_cert, &ca->cert, NULL, NULL,
	    &flags, NULL, NULL) != 0) {
		char why[200];
		mbedtls_x509_crt_verify_info(why, sizeof(why), "", flags);
		why[strcspn(why, "\n")] = '\0';
		return rt_err_new(RT_E_CERT, NULL, "%s: not a valid certificate "
		    "of the CA %s (%s)", c->ocsp_cert, c->ca_cert, why);
	}
	if (mbedtls_x509_crt_check_extended_key_usage(&ca->ocsp_cert,
	    MBEDTLS_OID_OCSP_SIGNING, MBEDTLS_OID_SIZE(MBEDTLS_OID_OCSP_SIGNING))
	    != 0 || ca->ocsp_cert.ext_types == 0 ||
	    !(ca->ocsp_cert.ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE))
		return rt_err_new(RT_E_CERT, NULL, "%s: an OCSP responder "
		    "certificate needs extendedKeyUsage id-kp-OCSPSigning",
		    c->ocsp_cert);
	return rt_signer_ossl(&ca->ocsp_key, "OCSP responder", &ca->ocsp_signer);
}

rt_err *
cmh_ca_load(const cmh_config *c, cmh_ca **out)
{
	cmh_ca *ca;
	rt_err *e;
	int rc;

	*out = NULL;
	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "CA");
	mbedtls_x509_crt_init(&ca->cert);
	mbedtls_x509_crt_init(&ca->chain);
	mbedtls_x509_crt_init(&ca->cmp_cert);
	mbedtls_pk_init(&ca->key);
	mbedtls_pk_init(&ca->cmp_key);
	mbedtls_x509_crt_init(&ca->ocsp_cert);
	mbedtls_pk_init(&ca->ocsp_key);
	if ((e = load_pair(c->ca_cert, c->ca_key, c->ca_key_pass_file,
	    &ca->cert, &ca->key)) != NULL)
		goto fail;
	if (!ca->cert.ca_istrue) {
		e = rt_err_new(RT_E_CERT, NULL, "%s is not a CA certificate",
		    c->ca_cert);
		goto fail;
	}
	mbedtls_pk_context *skey = &ca->key;
	mbedtls_x509_crt *scert = &ca->cert;
	if (c->cmp_cert != NULL) {
		if ((e = load_pair(c->cmp_cert, c->cmp_key, c->cmp_key_pass_file,
		    &ca->cmp_cert, &ca->cmp_key)) != NULL)
			goto fail;
		ca->dedicated = true;
		skey = &ca->cmp_key;
		scert = &ca->cmp_cert;
		if ((rc = mbedtls_x509_crt_parse_der(&ca->chain, scert->raw.p,
		    scert->raw.len)) != 0) {
			e = rt_err_new(RT_E_CERT, NULL, "chain");
			goto fail;
		}
	}
	/* the chain: the CA itself, then the chain file minus duplicates */
	if (mbedtls_x509_crt_parse_der(&ca->chain, ca->cert.raw.p,
	    ca->cert.raw.len) != 0) {
		e = rt_err_new(RT_E_CERT, NULL, "chain");
		goto fail;
	}
	if (c->ca_chain != NULL) {
		mbedtls_x509_crt file;
		mbedtls_x509_crt_init(&file);
		if ((e = load_cert(c->ca_chain, &file)) != NULL) {
			mbedtls_x509_crt_free(&file);
			goto fail;
		}
		for (mbedtls_x509_crt *x = &file; x != NULL && x->raw.len;
		    x = x->next) {
			bool dup = false;
			for (mbedtls_x509_crt *y = &ca->chain; y && y->raw.len;
			    y = y->next)
				dup |= y->raw.len == x->raw.len &&
				    !memcmp(y->raw.p, x->raw.p, x->raw.len);
			if (!dup && mbedtls_x509_crt_parse_der(&ca->chain, x->raw.p,
			    x->raw.len) != 0) {
				mbedtls_x509_crt_free(&file);
				e = rt_err_new(RT_E_CERT, NULL, "chain");
				goto fail;
			}
		}
		mbedtls_x509_crt_free(&file);
	}
	/* both keys sign on libcrypto (signer_ossl.h) */
	if ((e = rt_signer_ossl(skey, ca->dedicated ? "CMP signer" : "CA",
	    &ca->signer)) != NULL ||
	    (e = rt_signer_ossl(&ca->key, "CA", &ca->ca_signer)) != NULL ||
	    (c->ocsp_cert != NULL && (e = load_responder(c, ca)) != NULL) ||
	    (e = rt_key_id(ca->cert.pk_raw.p, ca->cert.pk_raw.len,
	    ca->ca_key_id)) != NULL)
		goto fail;
	for (mbedtls_x509_crt *x = &ca->chain; x != NULL && x->raw.len;
	    x = x->next)
		if ((e = rt_signer_add_cert(ca->signer, x->raw.p, x->raw.len))
		    != NULL)
			goto fail;
	*out = ca;
	return NULL;
fail:
	cmh_ca_free(ca);
	return e;
}

void
cmh_ca_free(cmh_ca *ca)
{
	if (ca == NULL)
		return;
	rt_signer_free(ca->signer);
	rt_signer_free(ca->ca_signer);
	rt_signer_free(ca->ocsp_signer);
	mbedtls_x509_crt_free(&ca->ocsp_cert);
	mbedtls_pk_free(&ca->ocsp_key);
	mbedtls_x509_crt_free(&ca->cert);
	mbedtls_x509_crt_free(&ca->chain);
	mbedtls_x509_crt_free(&ca->cmp_cert);
	mbedtls_pk_free(&ca->key);
	mbedtls_pk_free(&ca->cmp_key);
	free(ca);
}

const mbedtls_x509_crt *
cmh_ca_cert(const cmh_ca *ca)
{
	return &ca->cert;
}

const mbedtls_x509_crt *
cmh_ca_chain(const cmh_ca *ca)
{
	return &ca->chain;
}

struct rt_signer *
cmh_ca_cmp_signer(const cmh_ca *ca)
{
	return ca->signer;
}

const mbedtls_x509_crt *
cmh_ca_cmp_cert(const cmh_ca *ca)
{
	return ca->dedicated ? &ca->cmp_cert : &ca->cert;
}

struct rt_signer *
cmh_ca_signer(const cmh_ca *ca)
{
	return ca->ca_signer;
}

struct rt_signer *
cmh_ca_ocsp_signer(const cmh_ca *ca, const mbedtls_x509_crt **cert)
{
	if (ca->ocsp_signer != NULL) {
		*cert = &ca->ocsp_cert;
		return ca->ocsp_signer;
	}
	*cert = &ca->cert;
	return ca->ca_signer;
}

/* ---- issuance ------------------------------------------------------------------ */

static time_t
x509_epoch(const mbedtls_x509_time *t)
{
	int y = t->year, m = t->mon, d = t->day;
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	long days = era * 146097 + doe - 719468;
	return (time_t)days * 86400 + t->hour * 3600 + t->min * 60 + t->sec;
}

rt_err *
cmh_issue(cmh_ca *ca, const cmh_profile *p, const cmh_checked *c, time_t now,
    uint8_t **der, size_t *len, char *serial)
{
	uint8_t snb[16], spki[2200], bc[16], ku[8], ski[32], aki[40], eku[512];
	uint8_t kid[20], *qc = NULL, cdp[1100], aia[2200];
	size_t qclen = 0, n;
	rt_ext x[10];
	size_t nx = 0;
	rt_err *e;

	*der = NULL;
	if ((e = rt_random(snb, sizeof(snb))) != NULL)
		return e;
	snb[0] = (snb[0] & 0x7f) | 0x40;	/* positive, 16 bytes, no 00 */
	rt_hex_encode(snb, sizeof(snb), serial, 2 * sizeof(snb) + 1, 0);
	time_t nat = now + (time_t)p->validity_days * 86400;
	time_t ca_na = x509_epoch(&ca->cert.valid_to);
	if (nat > ca_na)
		nat = ca_na;
	int sl = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)&c->pub, spki,
	    sizeof(spki));
	if (sl <= 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "the request's public key "
		    "(mbedTLS -0x%04x)", (unsigned)-sl);
	const uint8_t *sp = spki + sizeof(spki) - sl;

	/* extensions, as before: basicConstraints (not critical for an end
	 * entity), SKI, AKI, keyUsage (critical), EKU, SAN, qcStatements,
	 * CRL distribution point, authority information access */
	if ((e = rt_ext_basic_constraints(false, -1, bc, sizeof(bc), &n)) != NULL)
		goto out;
	x[nx++] = (rt_ext){ "2.5.29.19", false, bc, n };
	if ((e = rt_key_id(sp, (size_t)sl, kid)) != NULL ||
	    (e = rt_ext_ski(kid, sizeof(kid), ski, sizeof(ski), &n)) != NULL)
		goto out;
	x[nx++] = (rt_ext){ "2.5.29.14", false, ski, n };
	if ((e = rt_ext_aki(ca->ca_key_id, sizeof(ca->ca_key_id), aki,
	    sizeof(aki), &n)) != NULL)
		goto out;
	x[nx++] = (rt_ext){ "2.5.29.35", false, aki, n };
	if (p->key_usage != 0) {
		if ((e = rt_ext_key_usage(p->key_usage, ku, sizeof(ku), &n)) !=
		    NULL)
			goto out;
		x[nx++] = (rt_ext){ "2.5.29.15", true, ku, n };
	}
	if (p->nekus > 0) {
		if ((e = rt_ext_eku((const char *const *)p->ekus, p->nekus, eku,
		    sizeof(eku), &n)) != NULL)
			goto out;
		x[nx++] = (rt_ext){ "2.5.29.37", false, eku, n };
	}
	if (c->san != NULL)
		x[nx++] = (rt_ext){ "2.5.29.17", false, c->san, c->san_len };
	if (c->has_qc) {
		if ((e = rt_qc_encode(&c->qc, &qc, &qclen)) != NULL)
			goto out;
		x[nx++] = (rt_ext){ RT_OID_QC_STATEMENTS, false, qc, qclen };
	}
	/* where relying parties ask (revocation.*, the profile's own) */
	if (p->crl_url != NULL) {
		if ((e = rt_ext_cdp(p->crl_url, cdp, sizeof(cdp), &n)) != NULL)
			goto out;
		x[nx++] = (rt_ext){ "2.5.29.31", false, cdp, n };
	}
	if (p->ocsp_url != NULL || p->ca_issuers_url != NULL) {
		if ((e = rt_ext_aia(p->ocsp_url, p->ca_issuers_url, aia,
		    sizeof(aia), &n)) != NULL)
			goto out;
		x[nx++] = (rt_ext){ "1.3.6.1.5.5.7.1.1", false, aia, n };
	}
	rt_cert_tmpl t = {
		.serial = snb, .serial_len = sizeof(snb),
		.issuer = ca->cert.subject_raw.p,
		.issuer_len = ca->cert.subject_raw.len,
		.subject = c->subject_der, .subject_len = c->subject_der_len,
		.not_before = now - 60, .not_after = nat,
		.spki = sp, .spki_len = (size_t)sl,
		.exts = x, .nexts = nx,
	};
	e = rt_cert_write(&t, ca->ca_signer, der, len);
out:
	free(qc);
	return e ? rt_err_wrap(e, "issuing the certificate") : NULL;
}
