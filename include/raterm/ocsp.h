/*
 * ocsp.h - OCSP (RFC 6960) messages on buffers: the request a relying
 * party sends (raterm asks the CM host), the request a responder parses
 * (cmhost), the BasicOCSPResponse a responder signs through the signer
 * interface, and the response a client parses and verifies.
 *
 * Strict DER both ways: lengths checked, no trailing bytes, bounded
 * counts (RT_OCSP_MAX). Times are GeneralizedTime (RFC 6960 4.2.2.1).
 */
#ifndef RATERM_OCSP_H
#define RATERM_OCSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "raterm/err.h"
#include "raterm/signer.h"

#define RT_OCSP_MAX 16		/* certificates per request / response */
#define RT_OCSP_NONCE_MAX 32	/* RFC 8954: 1..32 bytes */

/* CertID: the issuer by hashes of its name and key, and the serial. */
typedef struct {
	rt_hash hash;			/* SHA1 (usual) or SHA256 */
	uint8_t name_hash[64], key_hash[64];
	size_t hash_len;
	uint8_t serial[20];		/* magnitude, big-endian */
	size_t serial_len;
} rt_ocsp_certid;

/* The CertID of serial under the issuer certificate issuer (DER). Errors:
 * CERT (issuer does not parse), ARG (serial length, hash). */
rt_err *rt_ocsp_certid_of(const uint8_t *issuer, size_t issuer_len,
    const uint8_t *serial, size_t serial_len, rt_hash h, rt_ocsp_certid *out)
    RT_MUST;
/* True if both name the same certificate (same hash algorithm). */
bool rt_ocsp_certid_eq(const rt_ocsp_certid *a, const rt_ocsp_certid *b);

typedef struct {
	rt_ocsp_certid ids[RT_OCSP_MAX];
	size_t n;
	uint8_t nonce[RT_OCSP_NONCE_MAX];
	size_t nonce_len;		/* 0: no nonce extension */
} rt_ocsp_req;

/* An unsigned request. *der malloc'ed. Errors: ARG, NOMEM. */
rt_err *rt_ocsp_req_encode(const rt_ocsp_req *r, uint8_t **der, size_t *len)
    RT_MUST;
/* Parses a request (a signed one too: its signature is ignored, as
 * cmhost does not require one). Errors: FORMAT (malformed, named),
 * TOO_BIG (more than RT_OCSP_MAX certificates or a longer nonce). */
rt_err *rt_ocsp_req_parse(const uint8_t *der, size_t len, rt_ocsp_req *out)
    RT_MUST;

typedef enum {
	RT_OCSP_GOOD = 0, RT_OCSP_REVOKED = 1, RT_OCSP_UNKNOWN = 2
} rt_ocsp_status;

typedef struct {
	rt_ocsp_certid id;
	rt_ocsp_status status;
	time_t revoked_at;		/* REVOKED */
	int reason;			/* REVOKED: CRLReason, -1 none */
	time_t this_update, next_update;	/* next_update 0: none */
} rt_ocsp_single;

/* The responseStatus of an OCSPResponse. */
typedef enum {
	RT_OCSP_SUCCESSFUL = 0, RT_OCSP_MALFORMED = 1, RT_OCSP_INTERNAL = 2,
	RT_OCSP_TRY_LATER = 3, RT_OCSP_SIG_REQUIRED = 5,
	RT_OCSP_UNAUTHORIZED = 6
} rt_ocsp_rsp_status;

typedef struct {
	const uint8_t *responder_key_id;	/* ResponderID byKey, 20 bytes */
	time_t produced_at;
	const rt_ocsp_single *single;
	size_t n;
	const uint8_t *nonce;			/* echoed; NULL: none */
	size_t nonce_len;
	const uint8_t *signer_cert;		/* the certificate of the key
						 * that signs (the CA's, or a
						 * delegated responder's), put
						 * into certs so that clients
						 * find it; NULL: none */
	size_t signer_cert_len;
} rt_ocsp_resp_tmpl;

/* A successful OCSPResponse with a BasicOCSPResponse signed by s.
 * *der malloc'ed. Errors: ARG, NOMEM, those of the signer. */
rt_err *rt_ocsp_resp_write(const rt_ocsp_resp_tmpl *t, rt_signer *s,
    uint8_t **der, size_t *len) RT_MUST;
/* An OCSPResponse without responseBytes (status not SUCCESSFUL). */
rt_err *rt_ocsp_error_write(rt_ocsp_rsp_status st, uint8_t **der,
    size_t *len) RT_MUST;

typedef struct {
	rt_ocsp_rsp_status status;
	time_t produced_at;
	rt_ocsp_single single[RT_OCSP_MAX];
	size_t n;
	uint8_t nonce[RT_OCSP_NONCE_MAX];
	size_t nonce_len;
} rt_ocsp_resp;

/* Parses an OCSPResponse and, when successful, checks its signature:
 * by the issuer's key (issuer: DER certificate), or by a responder
 * certificate included in the response that the issuer signed and that
 * has the OCSPSigning extended key usage. Errors: FORMAT (malformed),
 * CRYPTO (the signature does not verify, or the responder is not
 * authorized), CERT (issuer does not parse). */
rt_err *rt_ocsp_resp_parse(const uint8_t *der, size_t len,
    const uint8_t *issuer, size_t issuer_len, rt_ocsp_resp *out) RT_MUST;

const char *rt_ocsp_status_name(rt_ocsp_status s);	/* "good", ... */

#endif
