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

#endif
