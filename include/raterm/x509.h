/*
 * x509.h - certificate facts for display and the Contents model, and a
 * set of CA certificates (transport CAs) to test "issued by".
 *
 * Buffer parsers on mbedTLS; nothing here touches a card.
 */
#ifndef RATERM_X509_H
#define RATERM_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <mbedtls/x509.h>

#include "raterm/err.h"

typedef struct {
	char subject[512];	/* RFC 4514-like, as mbedTLS prints it */
	char subject_cn[256];	/* "" if the subject has no CN */
	char issuer[512];
	char issuer_cn[256];
	char serial[132];	/* lowercase hex, no separators */
	char not_before[24];	/* "2026-11-24T12:00:00Z" */
	char not_after[24];
	time_t nb, na;		/* the same as seconds since the epoch */
	uint8_t sha256[32];	/* of the DER certificate */
	char key_alg[16];	/* "RSA2048", "ECCP256", "ECCP384", "RSA1024", ... */
	bool is_ca;
} rt_cert_info;

/* An mbedTLS certificate time as seconds since the epoch (UTC). */
time_t rt_x509_time_epoch(const mbedtls_x509_time *t);

/* Parses a DER certificate. Errors: CERT (does not parse). */
rt_err *rt_cert_info_parse(const uint8_t *der, size_t len, rt_cert_info *out)
    RT_MUST;

/* A set of CA certificates; opaque. */
typedef struct rt_castore rt_castore;

/* Loads a PEM/DER file, or every *.pem / *.crt / *.der file of a directory.
 * Errors: IO (missing), CERT (a file that does not parse, named). */
rt_err *rt_castore_load(const char *path, rt_castore **out) RT_MUST;
void rt_castore_free(rt_castore *s);
size_t rt_castore_count(const rt_castore *s);

/* True if the certificate's issuer name equals the subject of a CA in the
 * store and that CA's key verifies the certificate's signature (validity
 * dates are not considered: an expired TC is still a TC). */
bool rt_castore_issued(const rt_castore *s, const uint8_t *der, size_t len);

/* The CA certificates of the store as an mbedTLS chain (NULL if empty);
 * owned by the store. */
struct mbedtls_x509_crt;
const struct mbedtls_x509_crt *rt_castore_crts(const rt_castore *s);

/* Adds one DER certificate to *s (a new store when *s is NULL; free it
 * with rt_castore_free even after an error). Errors: CERT (does not
 * parse), NOMEM. */
rt_err *rt_castore_add(rt_castore **s, const uint8_t *der, size_t len)
    RT_MUST;
/* The CA of the store that issued the certificate (as rt_castore_issued
 * decides), NULL if none; owned by the store. */
const struct mbedtls_x509_crt *rt_castore_issuer(const rt_castore *s,
    const uint8_t *der, size_t len);

/* ---- revocation information (RFC 5280) ----------------------------------- */

/* The first http(s) URI of the certificate's authorityInfoAccess
 * id-ad-ocsp (rt_cert_ocsp_url) or of its crlDistributionPoints fullName
 * (rt_cert_crl_url), NUL-terminated in out. Errors: NOT_FOUND (no such
 * extension or URI), FORMAT (the extension does not parse), TOO_BIG (the
 * URI does not fit cap). */
rt_err *rt_cert_ocsp_url(const uint8_t *cert, size_t len, char *out,
    size_t cap) RT_MUST;
rt_err *rt_cert_crl_url(const uint8_t *cert, size_t len, char *out,
    size_t cap) RT_MUST;

/* What a CRL says of one serial. */
typedef struct {
	bool listed;		/* revoked */
	time_t revoked_at;	/* listed */
	int reason;		/* listed: CRLReason, -1 none */
	time_t this_update, next_update;	/* next_update 0: none */
} rt_crl_status;

/* Looks serial (magnitude, big-endian) up in the DER CRL crl after
 * checking it: issued by issuer (name) and signed by its key, thisUpdate
 * not after now (+ 5 minutes of clock skew), nextUpdate (when present)
 * not before now. Errors: FORMAT (does not parse), CRYPTO (another
 * issuer, the signature does not verify), CERT (not yet valid, or
 * expired: nextUpdate passed; both named with the dates). */
rt_err *rt_crl_check(const uint8_t *crl, size_t len,
    const struct mbedtls_x509_crt *issuer, const uint8_t *serial,
    size_t serial_len, time_t now, rt_crl_status *out) RT_MUST;

#endif
