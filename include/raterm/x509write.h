/*
 * x509write.h - X.509 certificates and CRLs written here (DER) and signed
 * by any signer (signer.h): a CA key in software, on a card, or behind
 * another crypto backend. One encoder for cmhost's issued and CA
 * certificates, vpiv's transport certificates and the CRLs; the signature
 * AlgorithmIdentifier is the one of rt_sig_alg_der (ECDSA: no
 * parameters, RFC 5758; RSA PKCS#1 v1.5: NULL; RSASSA-PSS: its
 * parameters).
 */
#ifndef RATERM_X509WRITE_H
#define RATERM_X509WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "raterm/csr.h"
#include "raterm/err.h"
#include "raterm/signer.h"

/* A certificate to sign. Names are DER (rt_dn_encode; the issuer's is
 * best taken raw from the issuer certificate's subject so that chains
 * match byte for byte). */
typedef struct {
	const uint8_t *serial;		/* unsigned big-endian, 1..20 bytes */
	size_t serial_len;
	const uint8_t *issuer;		/* DER Name */
	size_t issuer_len;
	const uint8_t *subject;		/* DER Name */
	size_t subject_len;
	time_t not_before, not_after;
	const uint8_t *spki;		/* DER SubjectPublicKeyInfo */
	size_t spki_len;
	const rt_ext *exts;		/* in this order; none: a v3 without */
	size_t nexts;
	rt_hash hash;			/* NONE: the issuer key's default */
	rt_scheme scheme;		/* DEFAULT: PKCS1 / ECDSA by key */
} rt_cert_tmpl;

/* Encodes and signs. *der malloc'ed. Errors: ARG (a bad field, named),
 * NOMEM, and those of the signer. */
rt_err *rt_cert_write(const rt_cert_tmpl *t, rt_signer *issuer, uint8_t **der,
    size_t *len) RT_MUST;

/* One revoked certificate of a CRL. */
typedef struct {
	const uint8_t *serial;		/* unsigned big-endian */
	size_t serial_len;
	time_t when;
	int reason;			/* CRLReason 0..10; -1: no reasonCode */
} rt_crl_entry;

typedef struct {
	const uint8_t *issuer;		/* DER Name of the CA */
	size_t issuer_len;
	const uint8_t *issuer_key_id;	/* authorityKeyIdentifier; NULL: none */
	size_t issuer_key_id_len;
	time_t this_update, next_update;
	uint64_t number;		/* cRLNumber */
	const rt_crl_entry *entries;
	size_t nentries;
	rt_hash hash;
	rt_scheme scheme;
} rt_crl_tmpl;

/* A v2 CRL (RFC 5280 5.1): entries with their reasonCode, the CRL
 * number and the authority key identifier as extensions. *der malloc'ed.
 * Errors: as rt_cert_write. */
rt_err *rt_crl_write(const rt_crl_tmpl *t, rt_signer *issuer, uint8_t **der,
    size_t *len) RT_MUST;

/* The hash and scheme a signer signs with when asked for NONE/DEFAULT. */
void rt_signed_alg(const rt_signer *s, rt_hash *h, rt_scheme *sch);

/* Extension values (extnValue contents), into out (cap bytes). */
/* BasicConstraints { cA, pathLenConstraint (-1: none) }. */
rt_err *rt_ext_basic_constraints(bool ca, int pathlen, uint8_t *out,
    size_t cap, size_t *len) RT_MUST;
/* KeyUsage (RT_KU_* bits). */
rt_err *rt_ext_key_usage(unsigned ku, uint8_t *out, size_t cap, size_t *len)
    RT_MUST;
/* ExtKeyUsageSyntax from names or dotted OIDs (rt_eku_oid). Errors: ARG
 * (an unknown name), TOO_BIG. */
rt_err *rt_ext_eku(const char *const *ekus, size_t n, uint8_t *out, size_t cap,
    size_t *len) RT_MUST;
/* The key identifier of a public key (RFC 5280 4.2.1.2 method 1: SHA-1
 * of the subjectPublicKey BIT STRING's bits), 20 bytes. Errors: ARG (not
 * a SubjectPublicKeyInfo). */
rt_err *rt_key_id(const uint8_t *spki, size_t len, uint8_t id[20]) RT_MUST;
/* SubjectKeyIdentifier / AuthorityKeyIdentifier { [0] keyIdentifier }. */
rt_err *rt_ext_ski(const uint8_t *id, size_t idlen, uint8_t *out, size_t cap,
    size_t *len) RT_MUST;
rt_err *rt_ext_aki(const uint8_t *id, size_t idlen, uint8_t *out, size_t cap,
    size_t *len) RT_MUST;

/* CRLDistributionPoints with one DistributionPoint whose fullName is
 * the URL (RFC 5280 4.2.1.13). Errors: TOO_BIG. */
rt_err *rt_ext_cdp(const char *url, uint8_t *out, size_t cap, size_t *len)
    RT_MUST;
/* AuthorityInfoAccessSyntax (RFC 5280 4.2.2.1): id-ad-ocsp with the OCSP
 * responder's URL and/or id-ad-caIssuers with the issuer certificate's
 * (either may be NULL, not both: ARG). Errors: ARG, TOO_BIG. */
rt_err *rt_ext_aia(const char *ocsp, const char *ca_issuers, uint8_t *out,
    size_t cap, size_t *len) RT_MUST;

#endif
