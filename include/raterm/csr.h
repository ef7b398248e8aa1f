/*
 * csr.h - PKCS#10 certification requests signed by any signer (signer.h):
 * the card's key signs on the card, a software token in software.
 *
 * The request is written here (DER) rather than by mbedTLS's CSR writer,
 * so that one code path serves RSA PKCS#1 v1.5, RSA-PSS and ECDSA keys
 * whose private half mbedTLS never sees.
 */
#ifndef RATERM_CSR_H
#define RATERM_CSR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raterm/err.h"
#include "raterm/signer.h"

/* Key usage bits (X.509 KeyUsage, as mbedTLS's MBEDTLS_X509_KU_*). */
#define RT_KU_DIGITAL_SIGNATURE 0x0080
#define RT_KU_NON_REPUDIATION   0x0040
#define RT_KU_KEY_ENCIPHERMENT  0x0020
#define RT_KU_DATA_ENCIPHERMENT 0x0010
#define RT_KU_KEY_AGREEMENT     0x0008
#define RT_KU_KEY_CERT_SIGN     0x0004
#define RT_KU_CRL_SIGN          0x0002
#define RT_KU_ENCIPHER_ONLY     0x0001
#define RT_KU_DECIPHER_ONLY     0x8000

#define RT_OID_QC_STATEMENTS "1.3.6.1.5.5.7.1.3"
#define RT_OID_UPN "1.3.6.1.4.1.311.20.2.3"

/* An extension: OID in dotted form, the DER of its extnValue content. */
typedef struct {
	const char *oid;
	bool critical;
	const uint8_t *value;
	size_t len;
} rt_ext;

typedef struct {
	/* "CN=Jane Doe,O=Example,C=DE" (mbedTLS syntax: RFC 4514-like,
	 * most significant RDN first, "\," escapes; serialNumber, emailAddress,
	 * givenName, SN, title, DC, ... known). NULL or "": empty subject. */
	const char *subject;
	/* subjectAltName entries */
	const char *const *emails;	/* rfc822Name */
	size_t nemails;
	const char *const *upns;	/* otherName UPN (Microsoft) */
	size_t nupns;
	const char *const *dns;		/* dNSName */
	size_t ndns;
	unsigned key_usage;		/* RT_KU_*; 0: no extension */
	/* Extended key usage: dotted OIDs or names (serverAuth, clientAuth,
	 * codeSigning, emailProtection, timeStamping, OCSPSigning,
	 * smartcardLogon). */
	const char *const *ekus;
	size_t nekus;
	const rt_ext *exts;		/* further requested extensions */
	size_t nexts;
	rt_hash hash;			/* NONE: SHA384 for P-384, else SHA256 */
	rt_scheme scheme;		/* DEFAULT: PKCS1 / ECDSA */
} rt_csr_req;

/* Builds and signs a CSR; *der is malloc'ed (free()).
 * Errors: ARG (bad subject, OID, name), those of rt_signer_sign. */
rt_err *rt_csr_build(rt_signer *s, const rt_csr_req *r, uint8_t **der,
    size_t *len) RT_MUST;

/* Parses "digitalSignature,nonRepudiation" (also the short names
 * digitalSignature|ds, nonRepudiation|contentCommitment, keyEncipherment,
 * dataEncipherment, keyAgreement, keyCertSign, cRLSign, encipherOnly,
 * decipherOnly) into RT_KU_* bits. Errors: ARG naming the unknown word. */
rt_err *rt_ku_parse(const char *list, unsigned *ku) RT_MUST;

/* An EKU name or dotted OID -> dotted OID (NULL if unknown). */
const char *rt_eku_oid(const char *name);

/* DER -> PEM with "-----BEGIN label-----"; *pem malloc'ed, NUL-terminated.
 * Errors: NOMEM. */
rt_err *rt_pem_encode(const char *label, const uint8_t *der, size_t len,
    char **pem) RT_MUST;

/* Verifies a CSR's self-signature (what `openssl req -verify` checks).
 * Errors: FORMAT (does not parse), CRYPTO (signature). */
rt_err *rt_csr_verify(const uint8_t *der, size_t len) RT_MUST;

/* ---- certificate template pieces (CMP CertTemplate, src/engine) ---------------- */

#define RT_OID_SAN "2.5.29.17"

/* A DN in the syntax of rt_csr_req.subject ("CN=Jane Doe,O=Example,C=DE")
 * -> DER Name into out. Errors: ARG (empty, does not parse, an empty
 * attribute, longer than cap). */
rt_err *rt_dn_encode(const char *dn, uint8_t *out, size_t cap, size_t *len)
    RT_MUST;

/* The subjectAltName extension value (GeneralNames) of r's emails, upns
 * and dns (the rest of r is ignored); *der malloc'ed (free()).
 * Errors: ARG (no name), NOMEM. */
rt_err *rt_san_encode(const rt_csr_req *r, uint8_t **der, size_t *len)
    RT_MUST;

/* Extensions ::= SEQUENCE OF Extension of exts[0..n) (value: the DER of
 * the extnValue content); *der malloc'ed (free()). Errors: ARG (n 0, a
 * bad OID), NOMEM. */
rt_err *rt_exts_encode(const rt_ext *exts, size_t n, uint8_t **der,
    size_t *len) RT_MUST;

/* The extnValue content of extension `oid` (dotted) of the DER
 * certificate cert; *val points into cert. critical may be NULL.
 * Errors: NOT_FOUND (no such extension), FORMAT (does not parse). */
rt_err *rt_cert_ext_find(const uint8_t *cert, size_t len, const char *oid,
    const uint8_t **val, size_t *vlen, bool *critical) RT_MUST;

#endif
