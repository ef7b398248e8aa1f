/*
 * signer.h - the one signer interface of raterm.
 *
 * Every signature raterm makes (CMP protection, PKCS#10 CSRs, proofs of
 * possession) goes through an rt_signer: "sign this digest, made with this
 * hash, in this scheme". Implementations:
 *   - a key in a PIV card slot (rt_signer_card): the card signs, the PIN
 *     comes from a callback; slot 9C (or any key whose PIN policy is
 *     "always") is given the PIN again before every signature;
 *   - a software token (rt_signer_soft, softtoken.h): an encrypted key
 *     file; using it prints a warning every time;
 *   - anything else through rt_signer_new() (tests use it).
 *
 * Signatures come out in the form X.509 and CMP carry: RSA as the raw
 * big-endian signature (key size), ECDSA as a DER ECDSA-Sig-Value.
 *
 * Ownership: rt_signer_free() frees the signer, its implementation and
 * its certificate chain and wipes any PIN it kept. A card signer borrows
 * the piv_card: the card must outlive the signer.
 */
#ifndef RATERM_SIGNER_H
#define RATERM_SIGNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "raterm/err.h"
#include "raterm/piv.h"

typedef enum {
	RT_HASH_NONE = 0,
	RT_HASH_SHA1,		/* verification of old structures only */
	RT_HASH_SHA256,
	RT_HASH_SHA384,
	RT_HASH_SHA512,
} rt_hash;

typedef enum {
	RT_SCHEME_DEFAULT = 0,	/* PKCS1 for RSA keys, ECDSA for EC keys */
	RT_SCHEME_PKCS1,	/* RSASSA-PKCS1-v1_5 */
	RT_SCHEME_PSS,		/* RSASSA-PSS, MGF1 with the same hash,
				 * salt length = hash length */
	RT_SCHEME_ECDSA,
} rt_scheme;

typedef enum {
	RT_KEY_NONE = 0,
	RT_KEY_RSA,
	RT_KEY_EC_P256,
	RT_KEY_EC_P384,
} rt_keytype;

size_t rt_hash_len(rt_hash h);			/* 0 for NONE */
const char *rt_hash_name(rt_hash h);		/* "SHA256" */
rt_hash rt_hash_from_name(const char *s);	/* "sha256" -> SHA256, or NONE */
mbedtls_md_type_t rt_hash_md(rt_hash h);
const char *rt_scheme_name(rt_scheme s);	/* "PKCS1", "PSS", "ECDSA" */
rt_scheme rt_scheme_from_name(const char *s);	/* DEFAULT if unknown */

/* Hashes data. out must hold rt_hash_len(h) bytes. Errors: ARG, CRYPTO. */
rt_err *rt_hash_data(rt_hash h, const void *data, size_t len, uint8_t *out)
    RT_MUST;

/* The key type of a public key (RT_KEY_NONE for anything else). */
rt_keytype rt_pk_keytype(const mbedtls_pk_context *pk);
/* Keys from outside (extraCerts of a CMP message, a request's public
 * key, a card's certificate) are checked before they are used: RSA of
 * 2048 to RT_RSA_MAX_BITS bits with an odd public exponent of at most 32
 * bits, EC on P-256 or P-384. A huge modulus or exponent would cost
 * whoever verifies with it (an 8192-bit key with an 8191-bit exponent:
 * 0.37 s per signature). Errors: CERT naming `what` and the limit. */
#define RT_RSA_MAX_BITS 4096
rt_err *rt_pk_check_limits(const mbedtls_pk_context *pk, const char *what)
    RT_MUST;

/* The hash that suits a key: SHA384 for P-384, SHA256 otherwise. */
rt_hash rt_pk_default_hash(const mbedtls_pk_context *pk);

typedef struct rt_signer rt_signer;

typedef struct {
	const char *kind;	/* "card", "software", "test" */
	/* Signs `digest` (dlen == rt_hash_len(h)) with a scheme already
	 * checked against the key type. Writes at most cap bytes. */
	rt_err *(*sign)(void *impl, rt_hash h, rt_scheme scheme,
	    const uint8_t *digest, size_t dlen, uint8_t *sig, size_t cap,
	    size_t *sig_len);
	void (*free)(void *impl);	/* may be NULL; wipes secrets */
} rt_signer_ops;

/* Wraps an implementation. `pub` is copied (through its DER form); `desc`
 * names the signer in messages ("card slot 9c", "software token x.p12").
 * On failure impl is freed with ops->free. Errors: ARG (key type
 * unsupported), NOMEM. */
rt_err *rt_signer_new(const rt_signer_ops *ops, void *impl,
    const mbedtls_pk_context *pub, const char *desc, rt_signer **out) RT_MUST;
void rt_signer_free(rt_signer *s);

/* Appends a DER certificate to the signer's chain (the first one is the
 * signer's own certificate). Errors: CERT. */
rt_err *rt_signer_add_cert(rt_signer *s, const uint8_t *der, size_t len)
    RT_MUST;

/* Signs a digest. scheme DEFAULT picks PKCS1 / ECDSA by key type.
 * Errors: ARG (digest length, scheme not fitting the key), TOO_BIG (cap),
 * plus those of the implementation (card: PIN_WRONG, PIN_BLOCKED,
 * PERMISSION, CARD_REMOVED, ...; software: CRYPTO). */
rt_err *rt_signer_sign(rt_signer *s, rt_hash h, rt_scheme scheme,
    const uint8_t *digest, size_t dlen, uint8_t *sig, size_t cap,
    size_t *sig_len) RT_MUST;
/* Hashes data with h and signs the digest. */
rt_err *rt_signer_sign_data(rt_signer *s, rt_hash h, rt_scheme scheme,
    const void *data, size_t len, uint8_t *sig, size_t cap, size_t *sig_len)
    RT_MUST;

/* Largest signature the signer makes (for buffers). */
size_t rt_signer_max_sig(const rt_signer *s);
const mbedtls_pk_context *rt_signer_pk(const rt_signer *s);
rt_keytype rt_signer_keytype(const rt_signer *s);
/* The signer's certificate chain, leaf first; NULL if it has none. */
const mbedtls_x509_crt *rt_signer_chain(const rt_signer *s);
const char *rt_signer_kind(const rt_signer *s);
const char *rt_signer_desc(const rt_signer *s);

/* Verifies a signature made as rt_signer_sign makes it.
 * Errors: CRYPTO (does not verify; message says why), ARG. */
rt_err *rt_sig_verify(const mbedtls_pk_context *pk, rt_hash h,
    rt_scheme scheme, const uint8_t *digest, size_t dlen,
    const uint8_t *sig, size_t sig_len) RT_MUST;

/* ---- verifiers ------------------------------------------------------------
 * The signature checks a server makes on what it receives (CMP protection,
 * proofs of possession, PKCS#10 requests) go through an rt_verifier, so
 * that the backend can be chosen where the code is linked: mbedTLS
 * (rt_verifier_mbedtls, the default wherever NULL is given) in raterm and
 * the tools, OpenSSL's libcrypto in cmhost (rt_verifier_ossl,
 * signer_ossl.h). The caller keeps the encoders and parsers; a verifier
 * gets the key as its DER SubjectPublicKeyInfo and the signed bytes. */
typedef struct rt_verifier rt_verifier;
struct rt_verifier {
	const char *kind;	/* "mbedTLS", "libcrypto" */
	/* Verifies sig over data, hashed with h, in scheme (DEFAULT: by key
	 * type) with the key of spki, which is first checked as
	 * rt_pk_check_limits checks keys. Thread-safe. */
	rt_err *(*verify)(const rt_verifier *v, const uint8_t *spki,
	    size_t spki_len, rt_hash h, rt_scheme scheme, const void *data,
	    size_t len, const uint8_t *sig, size_t sig_len);
	void *ctx;		/* the implementation's */
};
extern const rt_verifier rt_verifier_mbedtls;

/* Verifies with v (NULL: rt_verifier_mbedtls). Errors: CRYPTO (does not
 * verify), ARG (the scheme or hash does not fit the key: the message
 * says so), CERT (the key does not parse, or is out of the limits). */
rt_err *rt_verify_data(const rt_verifier *v, const uint8_t *spki,
    size_t spki_len, rt_hash h, rt_scheme scheme, const void *data,
    size_t len, const uint8_t *sig, size_t sig_len) RT_MUST;

/* ---- RSA encodings (EMSA), used by signers whose key only does the raw
 * RSA operation; exposed for tests. out has klen bytes. Errors: ARG. */
rt_err *rt_emsa_pkcs1_encode(rt_hash h, const uint8_t *digest, size_t dlen,
    size_t klen, uint8_t *out) RT_MUST;
/* modbits: the RSA modulus length in bits. */
rt_err *rt_emsa_pss_encode(rt_hash h, const uint8_t *digest, size_t dlen,
    size_t modbits, uint8_t *out, size_t klen) RT_MUST;
/* ECDSA (r, s) as two big-endian halves -> DER ECDSA-Sig-Value. */
rt_err *rt_ecdsa_raw_to_der(const uint8_t *rs, size_t rs_len, uint8_t *out,
    size_t cap, size_t *len) RT_MUST;

/* ---- the card signer ----------------------------------------------------- */

/* Asks for a PIN: `prompt` says which ("PIN of the card in reader X").
 * Writes it (no NUL needed) to buf and its length to *len. The callback
 * owns its copies; the signer wipes buf after use.
 * Errors: whatever the callback returns (e.g. USAGE when cancelled). */
typedef rt_err *(*rt_pin_cb)(void *ctx, const char *prompt, char *buf,
    size_t cap, size_t *len);

typedef struct {
	uint8_t slot;
	/* Key algorithm; PIV_ALG_NONE: from the certificate or the metadata. */
	piv_alg alg;
	/* PIN policy (PIV_PIN_POLICY_*); DEFAULT: from the card's metadata,
	 * else the slot's default (9C always, 9E never, others once). */
	uint8_t pin_policy;
	/* The certificate of the key (DER); NULL: read the slot's certificate,
	 * or when there is none take the public key from the metadata. */
	const uint8_t *cert;
	size_t cert_len;
	rt_pin_cb pin_cb;	/* NULL: signatures needing a PIN fail */
	void *pin_ctx;
	/* Keep the PIN (wiped when the signer is freed) so that a key with
	 * PIN policy "always" asks the callback only once. */
	bool keep_pin;
	/* Whose card it is, for messages (e.g. "the officer's card"): the
	 * signer is then described as `LABEL (slot 9C in "READER")`, so an
	 * error such as a wrong PIN names the card; NULL: "card slot 9c". */
	const char *label;
} rt_card_signer_opts;

/* A signer for the key in a card slot. Reads the certificate and/or
 * metadata as needed. Signing: with policy "always" the PIN is verified
 * right before every signature; otherwise the signature is tried and the
 * PIN asked and verified only when the card says it is needed. A wrong PIN
 * is returned (PIN_WRONG with retries left), never retried: once the card
 * refused a PIN, every later signature of this signer fails with PIN_WRONG
 * without a VERIFY (a PIN callback reading --pin-fd would give the same
 * PIN again).
 * Errors: NOT_FOUND (no key / no public key to be had), ARG, CERT, and
 * the card's errors. */
rt_err *rt_signer_card(piv_card *c, const rt_card_signer_opts *o,
    rt_signer **out) RT_MUST;
/* Number of PIN verifications the card signer has done (tests). */
unsigned rt_signer_card_pin_verifies(const rt_signer *s);

/* A public key from a PIV public-key template. Errors: FORMAT, CRYPTO. */
rt_err *rt_pk_from_piv(piv_alg alg, const piv_pubkey *pub,
    mbedtls_pk_context *pk) RT_MUST;

/* ---- secure random ----------------------------------------------------- */

/* Fills buf from a CTR_DRBG seeded by the system entropy source
 * (thread-safe). Errors: CRYPTO. */
rt_err *rt_random(void *buf, size_t len) RT_MUST;
/* mbedTLS-style f_rng over rt_random (p_rng unused). */
int rt_rng(void *p_rng, unsigned char *buf, size_t len);

#endif
