/*
 * signer_ossl.h - a signer (signer.h) whose private-key operations run on
 * OpenSSL's libcrypto: cmhost's CA and CMP keys; and a verifier on
 * libcrypto for what cmhost receives. The CA signs every
 * certificate, every CMP answer and every OCSP response, and libcrypto
 * does ECDSA P-256 many times faster than mbedTLS 2.28 on the same CPU
 * (docs/bench.md). Only cmhost links libcrypto; the station raterm stays
 * on mbedTLS. Everything above the signer (certificate, CRL, OCSP and CMP
 * encoders) is shared.
 */
#ifndef RATERM_SIGNER_OSSL_H
#define RATERM_SIGNER_OSSL_H

#include <mbedtls/pk.h>

#include "raterm/err.h"
#include "raterm/signer.h"

/* A signer over a copy of the private key `key` (mbedTLS's form, as the
 * configuration loaded it); `desc` names it in messages. Thread-safe: one
 * signer may sign from several threads at once. Errors: CRYPTO (libcrypto
 * refuses the key), ARG (key type), NOMEM. */
rt_err *rt_signer_ossl(const mbedtls_pk_context *key, const char *desc,
    rt_signer **out) RT_MUST;

/* The verifier (signer.h) on libcrypto: cmhost's checks of CMP protection,
 * proofs of possession and PKCS#10 signatures. Thread-safe; the key limits
 * and the scheme's fit are those of rt_verifier_mbedtls. */
extern const rt_verifier rt_verifier_ossl;

#endif
