/*
 * vpiv_int.h - internals of the virtual PIV card shared by the files of src/vpiv/.
 * Not a public header: the card's state, the slot table and the helpers
 * between the command dispatcher (card.c), persistence (state.c),
 * cryptography (keys.c) and personalization (perso.c).
 */
#ifndef VPIV_INT_H
#define VPIV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "raterm/csr.h"
#include "raterm/err.h"
#include "raterm/tlv.h"
#include "raterm/util.h"
#include "raterm/vcard.h"
#include "raterm/vcard_sw.h"
#include "raterm/vpiv.h"
#include "raterm/x509write.h"

#define VPIV_NSLOTS       25      /* 9A 9C 9D 9E, 82..95, F9 */
#define VPIV_MAX_OBJECT   16384   /* content bytes of one data object */
#define VPIV_MAX_TOTAL    (512 * 1024) /* all data objects together */
#define VPIV_MAX_CMD      (65536 + 1024) /* assembled command data */
#define VPIV_RESP_CAP     (65536 + 4096)

#define VPIV_VERSION_MAJOR 5
#define VPIV_VERSION_MINOR 4
#define VPIV_VERSION_PATCH 3

struct vpiv_key {
	bool present;
	uint8_t alg;            /* VPIV_ALG_RSA2048, _ECCP256, _ECCP384 */
	uint8_t pin_policy;     /* resolved: NEVER, ONCE or ALWAYS */
	uint8_t touch_policy;   /* resolved: NEVER, ALWAYS or CACHED (not enforced) */
	uint8_t origin;         /* VPIV_ORIGIN_GENERATED / _IMPORTED */
	mbedtls_pk_context pk;
};

struct vpiv_obj {
	uint32_t tag;
	uint8_t *data;
	size_t len;
};

struct vpiv {
	char *path;             /* NULL: memory only */

	/* persistent state */
	uint32_t serial;
	uint8_t guid[16];
	uint8_t pin[8], puk[8]; /* padded with FF */
	uint8_t pin_total, pin_left, puk_total, puk_left;
	bool pin_default, puk_default;
	uint8_t mgmt_alg;
	uint8_t mgmt_key[32];
	size_t mgmt_len;
	uint8_t mgmt_touch;
	bool mgmt_default;
	struct vpiv_key keys[VPIV_NSLOTS];
	struct vpiv_obj *objs;
	size_t nobjs;

	/* volatile (security status, protocol) */
	bool selected;
	bool pin_ok;            /* PIN verified since select/reset */
	bool pin_always_ok;     /* PIN verified and not yet consumed by an ALWAYS slot */
	bool mgmt_ok;
	uint8_t auth_witness[16];
	uint8_t auth_challenge[16];
	uint8_t auth_state;     /* 0 none, 1 witness sent, 2 challenge sent */
	uint8_t auth_alg;

	uint8_t *chain;         /* command chaining buffer */
	size_t chain_len;
	bool chain_active;
	uint8_t chain_ins, chain_p1, chain_p2;

	uint8_t *resp;          /* pending response data for GET RESPONSE */
	size_t resp_len, resp_off;
	size_t max_short;

	vcard_io io;            /* APDU count, faults, trace */

	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

/* ---- slots (state.c) ---- */
int vpiv_slot_index(uint8_t slot);          /* -1 if not a key slot */
uint8_t vpiv_slot_at(int index);
uint8_t vpiv_default_pin_policy(uint8_t slot);

/* ---- state.c ---- */
rt_err *vpiv_new_blank(const vpiv_params *p, vpiv **out) RT_MUST;
rt_err *vpiv_save(vpiv *v) RT_MUST;
rt_err *vpiv_load(const char *path, vpiv **out) RT_MUST;
struct vpiv_obj *vpiv_obj_find(const vpiv *v, uint32_t tag);
rt_err *vpiv_obj_set(vpiv *v, uint32_t tag, const uint8_t *data, size_t len) RT_MUST;
void vpiv_key_clear(struct vpiv_key *k);
void vpiv_factory_objects_reset(vpiv *v);   /* drops objects, rebuilds CHUID+CCC */
rt_err *vpiv_make_chuid(vpiv *v) RT_MUST;

/* ---- keys.c ---- */
rt_err *vk_rng_init(vpiv *v) RT_MUST;
int vk_rng(void *ctx, unsigned char *out, size_t len);
size_t vk_mgmt_block(uint8_t alg);           /* 8, 16; 0 unknown */
size_t vk_mgmt_keylen(uint8_t alg);          /* 24, 16, 24, 32; 0 unknown */
int vk_mgmt_crypt(const vpiv *v, bool encrypt, const uint8_t *in, uint8_t *out);
rt_err *vk_generate(vpiv *v, struct vpiv_key *k, uint8_t alg) RT_MUST;
/* The public key as a template `tag` (7F49, GET METADATA's 04) holding
 * 81/82 (RSA) or 86 (EC), written into w. */
void vk_pubkey_tlv(const struct vpiv_key *k, uint32_t tag, tlv_w *w);
/* Raw private operation: RSA on a modulus-sized block; ECDSA over a hash
 * (returns DER); ECDH with a peer point (returns X). Returns an SW. */
uint16_t vk_sign(vpiv *v, struct vpiv_key *k, const uint8_t *in, size_t inlen,
    uint8_t *out, size_t cap, size_t *olen);
uint16_t vk_ecdh(vpiv *v, struct vpiv_key *k, const uint8_t *pt, size_t ptlen,
    uint8_t *out, size_t cap, size_t *olen);
uint16_t vk_import(vpiv *v, struct vpiv_key *k, uint8_t alg,
    const uint8_t *data, size_t len);
/* The usual extensions of a certificate vpiv makes: basicConstraints,
 * keyUsage (RT_KU_*), subject key id of pub and, with issuer_pub, the
 * authority key id. */
typedef struct {
	uint8_t bc[16], ku[8], ski[32], aki[40];
	rt_ext x[4];
	size_t n;
} vk_exts;
rt_err *vk_exts_std(vk_exts *x, bool ca, unsigned ku,
    const mbedtls_pk_context *pub, const mbedtls_pk_context *issuer_pub)
    RT_MUST;
/* A certificate for pub signed with signkey through the one certificate
 * writer (x509write.h): issuer a DER name (NULL: self-signed, the
 * subject's), subject a DN string, validity YYYYMMDDhhmmss, a random
 * 16-byte serial. *der malloc'ed. Errors: ARG, CRYPTO, NOMEM. */
rt_err *vk_cert_write(vpiv *v, const mbedtls_pk_context *signkey,
    const uint8_t *issuer, size_t issuer_len, const char *subject,
    const mbedtls_pk_context *pub, const char nb[15], const char na[15],
    const rt_ext *exts, size_t nexts, uint8_t **der, size_t *len) RT_MUST;
/* Attestation statement for slot (DER into out). Returns an SW. */
uint16_t vk_attest(vpiv *v, uint8_t slot, uint8_t *out, size_t cap, size_t *olen);
/* Creates the attestation key (F9) and its self-signed certificate. */
rt_err *vk_attestation_init(vpiv *v) RT_MUST;
/* Writes the certificate into the object of slot (70 cert, 71 00, FE). */
rt_err *vk_store_cert(vpiv *v, uint8_t slot, const uint8_t *der, size_t len) RT_MUST;
void vk_now(char out[15], long offset_seconds);   /* YYYYMMDDhhmmss UTC */

/* ---- card.c ---- */
extern const vcard_dialect vpiv_dialect;  /* its trace's wording */
void vpiv_volatile_reset(vpiv *v);

#endif
