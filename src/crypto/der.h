/* der.h - a small forward DER writer for src/crypto (internal).
 *
 * Appends into a growing buffer; nested structures are built in their own
 * rt_der and wrapped with der_wrap(). Failures (memory, a bad OID) are
 * sticky and reported once by der_check(). */
#ifndef RATERM_CRYPTO_DER_H
#define RATERM_CRYPTO_DER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "raterm/err.h"
#include "raterm/csr.h"
#include "raterm/signer.h"

typedef struct {
	uint8_t *p;
	size_t len, cap;
	bool oom, bad;
	char why[96];
} rt_der;

void der_init(rt_der *d);
void der_free(rt_der *d);		/* wipes */
void der_raw(rt_der *d, const void *v, size_t len);
void der_tlv(rt_der *d, uint8_t tag, const void *v, size_t len);
void der_wrap(rt_der *d, uint8_t tag, const rt_der *in);
/* OID from dotted text ("1.3.6.1.5.5.7.3.2"). */
void der_oid(rt_der *d, const char *dotted);
void der_int(rt_der *d, long v);
void der_bool(rt_der *d, bool v);
void der_str(rt_der *d, uint8_t tag, const char *s);
/* INTEGER from an unsigned big-endian magnitude (leading zeros dropped,
 * a zero byte added when the top bit is set; empty: 0). */
void der_uint(rt_der *d, const uint8_t *v, size_t len);
/* Time as RFC 5280 wants it: UTCTime for 1950..2049, GeneralizedTime
 * otherwise, both in UTC with seconds and "Z". */
void der_time(rt_der *d, time_t t);
/* GeneralizedTime YYYYMMDDhhmmssZ (OCSP, and der_time from 2050). */
void der_gtime(rt_der *d, time_t t);
/* KeyUsage BIT STRING (RT_KU_* bits, csr.h), DER named-bit-list: trailing
 * zero bits dropped. */
void der_key_usage(rt_der *d, unsigned ku);
/* Errors: NOMEM, ARG (with the reason). */
rt_err *der_check(const rt_der *d) RT_MUST;

/* The AlgorithmIdentifier of a signature by a key of type kt with hash
 * h and scheme sch (DEFAULT: PKCS#1 v1.5 for RSA, ECDSA for EC):
 * ecdsa-with-SHAxxx, shaxxxWithRSAEncryption (NULL parameters) or
 * RSASSA-PSS with its parameters. The one encoder for CSRs, CMP
 * protection and POPO. Errors: ARG (no OID, a scheme not fitting the
 * key). */
rt_err *rt_sig_alg_der(rt_der *d, rt_keytype kt, rt_hash h, rt_scheme sch)
    RT_MUST;

/* SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING signature, tail }:
 * tbs signed as is by s (hash h and scheme sch resolved already, see
 * rt_signed_alg); tail (may be empty) appended raw inside the SEQUENCE
 * (an OCSP response's [0] certs). *der malloc'ed. */
rt_err *der_signed(rt_signer *s, rt_hash h, rt_scheme sch, const uint8_t *tbs,
    size_t tbs_len, const uint8_t *tail, size_t tail_len, uint8_t **der,
    size_t *len) RT_MUST;

/* SEQUENCE { body } as the to-be-signed part, checked (errors wrapped
 * with `what`), then signed as der_signed does. */
rt_err *der_sign_body(rt_signer *s, rt_hash h, rt_scheme sch,
    const rt_der *body, const char *what, uint8_t **der, size_t *len)
    RT_MUST;
/* Appends the Extension SEQUENCEs of exts[0..n) (the contents of an
 * Extensions SEQUENCE). */
void der_exts(rt_der *d, const rt_ext *exts, size_t n);
/* Dotted OID -> DER content bytes. Errors: ARG. */
rt_err *rt_oid_encode(const char *dotted, uint8_t *out, size_t cap,
    size_t *len) RT_MUST;
/* DER content bytes -> dotted text (truncated to cap). */
void rt_oid_dotted(const uint8_t *oid, size_t len, char *out, size_t cap);

#endif
