/*
 * softtoken.h - software tokens: an encrypted private key in a file, with
 * its certificate chain, as a signer (signer.h).
 *
 * Accepted files (PEM or DER):
 *   - PKCS#8 EncryptedPrivateKeyInfo ("ENCRYPTED PRIVATE KEY") with
 *     PBES2 (PBKDF2 with HMAC-SHA1/224/256/384/512; AES-128/192/256-CBC or
 *     DES-EDE3-CBC) or PKCS#12 PBE (SHA-1 with 3-key or 2-key 3DES-CBC);
 *   - legacy OpenSSL PEM encryption ("Proc-Type: 4,ENCRYPTED");
 *   - PKCS#12 (.p12/.pfx) files: the container is parsed here (PFX,
 *     authenticated safe, encrypted and plain SafeContents, shrouded key
 *     bags and certificate bags) and its MAC checked (PKCS#12 KDF with
 *     SHA-1/256/384/512). Certificate bags encrypted with RC2 or RC4 (the
 *     oldest exports) are refused with NOT_SUPPORTED.
 * An unencrypted private key (PKCS#8, RSA or EC PEM/DER, a plain key bag)
 * is refused with KEY_UNENCRYPTED. Only DER (definite lengths) is read.
 *
 * Passphrases are taken as bytes (UTF-8); PKCS#12 converts them to
 * BMPString as the standard says. Nothing here keeps or logs them; the
 * decrypted key material is wiped when no longer needed.
 */
#ifndef RATERM_SOFTTOKEN_H
#define RATERM_SOFTTOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "raterm/err.h"
#include "raterm/signer.h"

/* Parses a key file's contents (buf need not be NUL-terminated) into key
 * (initialised here; free with mbedtls_pk_free) and appends the
 * certificates it contains to chain (an initialised chain; the one whose
 * public key matches the key first, when the file holds one).
 * Errors: KEY_UNENCRYPTED, PASSPHRASE (wrong passphrase: bad padding, MAC
 * mismatch or a key that does not parse after decryption), NOT_SUPPORTED
 * (algorithm), FORMAT (not a key file we know / malformed), NOMEM. */
rt_err *rt_softkey_parse(const uint8_t *buf, size_t len, const char *pass,
    size_t pass_len, mbedtls_pk_context *key, mbedtls_x509_crt *chain)
    RT_MUST;

/* Opens a software token: key file (any form above) and optionally a
 * certificate file (PEM/DER, chain leaf first) when the key file carries
 * none. The key must match the first certificate. Every signature prints
 * a warning on `warn` (NULL: stderr) that a software officer token is not
 * recommended: the signer keeps `warn`, which must stay open as long as
 * the signer lives. Errors: those of rt_softkey_parse, IO (file), CERT (does
 * not parse, or key and certificate do not match). */
rt_err *rt_signer_soft(const char *key_path, const char *cert_path,
    const char *pass, size_t pass_len, FILE *warn, rt_signer **out) RT_MUST;

/* A signer over a private key held in memory (copied: the caller keeps
 * and frees its own); no warning per signature. For test cards and
 * keys a server loads itself. Errors: CRYPTO, NOMEM, ARG (key type). */
rt_err *rt_signer_key(const mbedtls_pk_context *key, const char *desc,
    rt_signer **out) RT_MUST;

#endif
