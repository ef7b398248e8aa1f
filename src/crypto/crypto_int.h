/* crypto_int.h - shared internals of src/crypto (not a public header). */
#ifndef RATERM_CRYPTO_INT_H
#define RATERM_CRYPTO_INT_H

#include "raterm/signer.h"

/* The implementation of s if it was made with ops, else NULL. */
void *rt_signer_impl(const rt_signer *s, const rt_signer_ops *ops);

/* mbedtls_pk_parse_key across mbedTLS 2.x and 3.x. */
int rt_pk_parse_key(mbedtls_pk_context *pk, const unsigned char *key,
    size_t len, const unsigned char *pwd, size_t pwd_len);

#endif
