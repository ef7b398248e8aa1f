/*
 * piv.h - the PIV card profile (NIST SP 800-73-4), with the YubiKey
 * extensions where the card offers them.
 *
 * Flow: open a transport (transport.h), piv_open() it (begins a card
 * transaction and SELECTs the PIV application), call operations, then
 * piv_close() (ends the transaction; the transport stays open and is
 * closed by its owner). Every operation maps the card's status words to
 * named errors here; callers never see raw status words except through
 * rt_err_sw_of() for messages.
 *
 * Common errors of every operation: CARD_REMOVED, TRANSPORT, PCSC (from the
 * transport), PROTOCOL and TLV (malformed replies), CARD_STATUS (status
 * words with no better name). Specific errors are listed per function.
 *
 * Secrets passed in (PINs, management keys) are never copied beyond the
 * APDU buffer, which is wiped after use. Nothing here retries a PIN.
 */
#ifndef RATERM_PIV_H
#define RATERM_PIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raterm/err.h"
#include "raterm/transport.h"

/* Algorithm identifiers (SP 800-78-4 table 6-2, YubiKey additions). */
typedef enum {
	PIV_ALG_NONE = 0x00,
	PIV_ALG_3DES = 0x03,
	PIV_ALG_RSA1024 = 0x06,
	PIV_ALG_RSA2048 = 0x07,
	PIV_ALG_RSA3072 = 0x05,
	PIV_ALG_RSA4096 = 0x16,
	PIV_ALG_AES128 = 0x08,
	PIV_ALG_AES192 = 0x0A,
	PIV_ALG_AES256 = 0x0C,
	PIV_ALG_ECCP256 = 0x11,
	PIV_ALG_ECCP384 = 0x14,
} piv_alg;

/* "RSA2048", "ECCP256", "3DES", ... or "UNKNOWN". */
const char *piv_alg_name(piv_alg a);
/* Parses a name as printed by piv_alg_name (case-insensitive). */
piv_alg piv_alg_from_name(const char *s);

/* Key slots (key references). */
#define PIV_SLOT_AUTH 0x9A
#define PIV_SLOT_MGMT 0x9B
#define PIV_SLOT_SIGN 0x9C
#define PIV_SLOT_KEYMGMT 0x9D
#define PIV_SLOT_CARDAUTH 0x9E
#define PIV_SLOT_RETIRED_FIRST 0x82
#define PIV_SLOT_RETIRED_LAST 0x95
#define PIV_SLOT_ATTEST 0xF9

/* The 24 key slots that can hold a certificate, in display order:
 * 9A 9C 9D 9E 82..95. */
extern const uint8_t piv_cert_slots[24];
#define PIV_NUM_CERT_SLOTS 24

/* Data-object tag of the certificate of `slot`; 0 for a slot without one. */
uint32_t piv_cert_tag(uint8_t slot);
/* "9a" style slot name into buf (cap >= 3). Parses "9a", "9A", "0x9a". */
const char *piv_slot_name(uint8_t slot, char *buf, size_t cap);
bool piv_slot_parse(const char *s, uint8_t *slot);

#define PIV_TAG_CHUID 0x5FC102
#define PIV_TAG_CCC 0x5FC107
#define PIV_TAG_DISCOVERY 0x7E
#define PIV_TAG_KEYHIST 0x5FC10C
#define PIV_TAG_ATTEST_CERT 0x5FFF01

typedef struct piv_card piv_card;

/* Begins a transaction on t and SELECTs the PIV application.
 * Errors: NOT_PIV (no PIV application), NOMEM. */
rt_err *piv_open(rt_transport *t, piv_card **out) RT_MUST;
/* Ends the transaction; does not close the transport. */
void piv_close(piv_card *c);
rt_transport *piv_transport(piv_card *c);

/* From the SELECT reply (application property template). */
typedef struct {
	uint8_t aid[16];
	size_t aid_len;
	char label[64];		/* application label 50, may be empty */
	piv_alg algs[16];	/* AC 80 entries */
	size_t nalgs;
} piv_app_info;
const piv_app_info *piv_app(const piv_card *c);

/* Reads data object `tag`; copies the content of its 53 wrapper (for the
 * discovery object 7E: the 7E value) to buf. Errors: NOT_FOUND, PERMISSION,
 * TOO_BIG. */
rt_err *piv_read_object(piv_card *c, uint32_t tag, uint8_t *buf, size_t cap,
    size_t *len) RT_MUST;

/* Writes data object `tag` with content (wrapped in 53 here); requires
 * management-key authentication. Errors: PERMISSION, CARD_FULL, NOT_FOUND. */
rt_err *piv_write_object(piv_card *c, uint32_t tag, const uint8_t *content,
    size_t len) RT_MUST;

typedef struct {
	bool has_guid;
	uint8_t guid[16];
	bool has_expiry;
	char expiry[9];		/* YYYYMMDD */
	bool has_fascn;
	uint8_t fascn[25];
} piv_chuid;

/* Parses a CHUID object content (buffer parser, fuzzable). Errors: TLV. */
rt_err *piv_chuid_parse(const uint8_t *buf, size_t len, piv_chuid *out) RT_MUST;
/* Errors: NOT_FOUND when the card has no CHUID. */
rt_err *piv_read_chuid(piv_card *c, piv_chuid *out) RT_MUST;

/* YubiKey GET SERIAL / GET VERSION. Errors: NOT_SUPPORTED. */
rt_err *piv_get_serial(piv_card *c, uint32_t *serial) RT_MUST;
rt_err *piv_get_version(piv_card *c, uint8_t version[3]) RT_MUST;

/* Parses a certificate object content (70 cert, 71 CertInfo, optional 72,
 * FE) and returns the DER certificate in a malloc'ed buffer (free()),
 * inflating it when CertInfo says it is gzip-compressed.
 * Errors: TLV, FORMAT (inflate failed), NOT_FOUND (empty object). */
rt_err *piv_cert_parse(const uint8_t *buf, size_t len, uint8_t **der,
    size_t *der_len) RT_MUST;
/* Reads the certificate of `slot`. Errors: NOT_FOUND (no certificate). */
rt_err *piv_read_cert(piv_card *c, uint8_t slot, uint8_t **der,
    size_t *der_len) RT_MUST;
/* Writes / deletes the certificate of `slot` (uncompressed, CertInfo 00).
 * Requires management-key authentication. Errors: PERMISSION, CARD_FULL. */
rt_err *piv_write_cert(piv_card *c, uint8_t slot, const uint8_t *der,
    size_t len) RT_MUST;
rt_err *piv_delete_cert(piv_card *c, uint8_t slot) RT_MUST;

typedef struct {
	uint8_t *n;		/* RSA modulus (points into buf) */
	size_t n_len;
	uint8_t *e;		/* RSA public exponent */
	size_t e_len;
	uint8_t *point;		/* EC uncompressed point 04||X||Y */
	size_t point_len;
	uint8_t buf[1024];
} piv_pubkey;

/* Parses a 7F49 public-key template as returned by GENERATE or in
 * metadata (buffer parser). Errors: TLV, FORMAT. */
rt_err *piv_pubkey_parse(piv_alg alg, const uint8_t *buf, size_t len,
    piv_pubkey *out) RT_MUST;

/* PIN / touch policies (YubiKey values). */
#define PIV_PIN_POLICY_DEFAULT 0
#define PIV_PIN_POLICY_NEVER 1
#define PIV_PIN_POLICY_ONCE 2
#define PIV_PIN_POLICY_ALWAYS 3
#define PIV_TOUCH_POLICY_DEFAULT 0
#define PIV_TOUCH_POLICY_NEVER 1
#define PIV_TOUCH_POLICY_ALWAYS 2
#define PIV_TOUCH_POLICY_CACHED 3

typedef struct {
	piv_alg alg;
	uint8_t pin_policy;	/* 0 unknown */
	uint8_t touch_policy;	/* 0 unknown */
	uint8_t origin;		/* 1 generated, 2 imported, 0 unknown */
	bool is_default;	/* PIN/PUK/management key still default */
	int retries_total, retries_left;	/* -1 if not given */
	bool has_pubkey;
	piv_pubkey pub;
	bool has_default;	/* the reply had the default-value tag 05 */
} piv_metadata;

/* Parses a GET METADATA reply (buffer parser). Errors: TLV. */
rt_err *piv_metadata_parse(const uint8_t *buf, size_t len, piv_metadata *out)
    RT_MUST;
/* YubiKey GET METADATA for a key slot, 80 (PIN), 81 (PUK) or 9B.
 * Errors: NOT_SUPPORTED (card has no metadata), NOT_FOUND (empty slot). */
rt_err *piv_get_metadata(piv_card *c, uint8_t slot, piv_metadata *out) RT_MUST;

/* Credentials still at their factory default, as the card tells without
 * spending a try: YubiKey 5.3+ (and vpiv) GET METADATA on 80 (PIN), 81
 * (PUK) and 9B (management key), tag 05 "default value". Never found by
 * trying a default. *defaults gets the PIV_DEFAULT_* bits of those still
 * default, *known (may be NULL) those the card could tell about.
 * Errors: NOT_SUPPORTED (the card offers no such metadata: nothing known). */
#define PIV_DEFAULT_PIN 0x01
#define PIV_DEFAULT_PUK 0x02
#define PIV_DEFAULT_MGMT 0x04
rt_err *piv_default_creds(piv_card *c, unsigned *defaults, unsigned *known)
    RT_MUST;

/* Retries left for the PIV PIN without trying one (VERIFY with no data).
 * *retries is -1 when the PIN is already verified in this session and the
 * card does not say more. Errors: PIN_BLOCKED. */
rt_err *piv_pin_retries(piv_card *c, int *retries) RT_MUST;
/* Verifies the PIN (6..8 bytes). Errors: PIN_WRONG (rt_err_detail() holds
 * the retries left), PIN_BLOCKED, PIN_FORMAT. Never retried. */
rt_err *piv_verify_pin(piv_card *c, const char *pin, size_t len) RT_MUST;
/* Changes the PIN (puk=false) or PUK (puk=true). Errors as verify. */
rt_err *piv_change_ref(piv_card *c, bool puk, const char *old, size_t old_len,
    const char *new_, size_t new_len) RT_MUST;
/* Sets a new PIN with the PUK. Errors as verify (for the PUK). */
rt_err *piv_unblock_pin(piv_card *c, const char *puk, size_t puk_len,
    const char *new_pin, size_t new_len) RT_MUST;

/* Mutual authentication with the management key (9B). alg: 3DES,
 * AES128/192/256; key length must match. Errors: AUTH (wrong key),
 * ARG (bad key length), NOT_SUPPORTED (algorithm). */
rt_err *piv_auth_mgmt(piv_card *c, piv_alg alg, const uint8_t *key,
    size_t key_len) RT_MUST;

/* Generates a key pair in `slot`; requires management-key authentication.
 * Policies may be 0 (card default). Errors: PERMISSION, NOT_SUPPORTED. */
rt_err *piv_generate(piv_card *c, uint8_t slot, piv_alg alg,
    uint8_t pin_policy, uint8_t touch_policy, piv_pubkey *pub) RT_MUST;

/* GENERAL AUTHENTICATE with the key in `slot`: for RSA `in` is the padded
 * block (key size), for ECC the hash (truncated to the curve size here).
 * The signature (raw RSA, DER ECDSA-Sig-Value for ECC) goes to sig.
 * Errors: PERMISSION (PIN needed), NOT_FOUND (no key), TOO_BIG. */
rt_err *piv_sign(piv_card *c, uint8_t slot, piv_alg alg, const uint8_t *in,
    size_t in_len, uint8_t *sig, size_t cap, size_t *sig_len) RT_MUST;

/* Maps a status word of `op` to a named error (NULL for 9000). Exposed so
 * that the table can be tested; only the card layer calls it. */
rt_err *piv_sw_error(uint16_t sw, const char *op) RT_MUST;


/* YubiKey ATTEST (INS F9) of `slot`: the attestation certificate in a
 * malloc'ed buffer. Errors: NOT_SUPPORTED (card does not offer it),
 * NOT_FOUND (empty slot), CARD_STATUS (refused, e.g. imported key). */
rt_err *piv_attest(piv_card *c, uint8_t slot, uint8_t **der, size_t *len)
    RT_MUST;

#endif
