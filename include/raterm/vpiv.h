/*
 * vpiv.h - the virtual PIV card: a card core that takes command APDUs and
 * returns response APDUs, with persistent state.
 *
 * It implements PIV (NIST SP 800-73-4) plus the YubiKey extensions that
 * tools expect (GET VERSION, GET SERIAL, GET METADATA, SET MANAGEMENT KEY,
 * ATTEST, RESET), so yubico-piv-tool and OpenSC treat it like a card.
 * The same core runs in process (unit tests, in-process transport) and
 * behind pcscd through vsmartcard's vpcd driver (vpiv serve).
 *
 * Ownership: vpiv_open() returns a handle freed by vpiv_free(), which wipes
 * all key material. State is written to the state file (atomically:
 * temp file, fsync, rename; vcard.h) after every change; a NULL path
 * keeps the card in memory only.
 */
#ifndef RATERM_VPIV_H
#define RATERM_VPIV_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "raterm/err.h"
#include "raterm/vcard.h"

typedef struct vpiv vpiv;

/* Opens the card stored at `state_path`; if the file does not exist, a
 * blank card (default PIN 123456, PUK 12345678, default 3DES management
 * key 010203..08 x3, fresh random GUID and serial) is created and saved
 * there. NULL path: a blank in-memory card. Errors: IO, FORMAT, NOMEM. */
rt_err *vpiv_open(const char *state_path, vpiv **out) RT_MUST;
void vpiv_free(vpiv *v);

/* Processes one command APDU (short or extended). Writes response data
 * followed by SW1 SW2 into rsp; cap must be >= 2. Card-level failures are
 * status words, not errors. Errors: FAULT when fault injection says the
 * card is pulled at this APDU (nothing is written then), ARG on cap < 2. */
rt_err *vpiv_apdu(vpiv *v, const uint8_t *cmd, size_t clen,
    uint8_t *rsp, size_t cap, size_t *rlen) RT_MUST;

/* Power cycle: drops PIN and management-key authentication, deselects. */
void vpiv_reset(vpiv *v);

/* Copies the ATR into atr (cap >= 33); returns its length. The ATR's
 * historical bytes announce extended-length support. */
size_t vpiv_atr(const vpiv *v, uint8_t *atr, size_t cap);

/* APDU trace (one line per command and response, hex) or NULL to stop. */
void vpiv_set_trace(vpiv *v, FILE *f);
/* Number of command APDUs processed since open. */
uint64_t vpiv_apdu_count(const vpiv *v);

/* Fault injection, counted in APDUs since open (1-based); 0 disables.
 * drop_at: the card is "pulled" when APDU N arrives (vpiv_apdu returns a
 * FAULT error). sw_at: APDU N is answered with status word `sw` only.
 * stall_at: the card sleeps `ms` milliseconds before it handles APDU N (a
 * slow card; lets a test act while a client waits at a chosen step). */
void vpiv_fault_drop_at(vpiv *v, uint64_t n);
void vpiv_fault_sw_at(vpiv *v, uint64_t n, uint16_t sw);
void vpiv_fault_stall_at(vpiv *v, uint64_t n, unsigned ms);

/* Largest response data returned at once to a short-Le command before
 * 61xx chaining (default 256); used to emulate readers. */
void vpiv_set_max_short_response(vpiv *v, size_t n);

/* ---- front end for vsmartcard's vpcd (src/vcard/serve.c) -------------
 * `vpiv serve` is vcard_serve_main() with vpiv's card ops; main.c
 * dispatches to it with argv starting at "serve". Returns the process
 * exit status. */
int vpiv_serve_main(int argc, char **argv);
/* vpiv's card ops (src/vpiv/transport.c, vcard.h). */
extern const vcard_ops vpiv_card_ops;

/* ---- personalization and inspection (src/vpiv/perso.c) -----------------
 * Direct access to the card's state, used by `vpiv init/personalize/info`
 * and by tests. Every change is saved like an APDU-driven one. None of
 * these functions checks PIN or management-key authentication: they are
 * the card issuer's back door, not part of the card's interface. */

/* Algorithm identifiers (P1 of GENERAL AUTHENTICATE, GET METADATA tag 01). */
enum {
	VPIV_ALG_3DES    = 0x03,
	VPIV_ALG_AES128  = 0x08,
	VPIV_ALG_AES192  = 0x0A,
	VPIV_ALG_AES256  = 0x0C,
	VPIV_ALG_RSA2048 = 0x07,
	VPIV_ALG_ECCP256 = 0x11,
	VPIV_ALG_ECCP384 = 0x14,
};

/* PIN and touch policies (YubiKey encoding); DEFAULT picks the slot's. */
enum {
	VPIV_POLICY_DEFAULT = 0,
	VPIV_PIN_NEVER = 1, VPIV_PIN_ONCE = 2, VPIV_PIN_ALWAYS = 3,
	VPIV_TOUCH_NEVER = 1, VPIV_TOUCH_ALWAYS = 2, VPIV_TOUCH_CACHED = 3,
};

enum { VPIV_ORIGIN_GENERATED = 1, VPIV_ORIGIN_IMPORTED = 2 };

/* Parameters of a new card; zero/NULL fields take the defaults. */
typedef struct {
	uint32_t serial;              /* 0: random 8-digit serial */
	const uint8_t *guid;          /* 16 bytes; NULL: random */
	uint8_t mgmt_alg;             /* 0: 3DES */
	const uint8_t *mgmt_key;      /* NULL: default 010203..08 x3 (3DES,
	                               * AES-192); other algorithms need a key */
	size_t mgmt_len;
	const char *pin, *puk;        /* NULL: 123456 / 12345678 */
} vpiv_params;

/* Creates a new card (with CHUID, CCC, discovery object, attestation key
 * and self-signed attestation certificate) and saves it at `path` (NULL:
 * memory only). Refuses an existing file unless `overwrite`.
 * Errors: ARG (bad parameter), IO (file exists or cannot be written),
 * CRYPTO, NOMEM. */
rt_err *vpiv_create(const char *path, const vpiv_params *p, bool overwrite,
    vpiv **out) RT_MUST;

/* Key slots 9A 9C 9D 9E 82..95 F9; returns the count, fills *slots. */
size_t vpiv_slots(const uint8_t **slots);
/* The data object holding the slot's certificate (F9: 5FFF01), 0 if none. */
uint32_t vpiv_cert_object(uint8_t slot);

typedef struct {
	bool present;
	uint8_t alg, pin_policy, touch_policy, origin;
} vpiv_slot_info;

/* Errors: ARG (not a key slot). */
rt_err *vpiv_slot_get(const vpiv *v, uint8_t slot, vpiv_slot_info *out) RT_MUST;

/* Generates a key in `slot` (policies VPIV_POLICY_DEFAULT for the slot's).
 * Errors: ARG, CRYPTO, IO (save). */
rt_err *vpiv_generate_key(vpiv *v, uint8_t slot, uint8_t alg,
    uint8_t pin_policy, uint8_t touch_policy) RT_MUST;

/* The slot's public key as DER SubjectPublicKeyInfo.
 * Errors: ARG, NOT_FOUND (empty slot), TOO_BIG. */
rt_err *vpiv_slot_pubkey_der(const vpiv *v, uint8_t slot, uint8_t *buf,
    size_t cap, size_t *len) RT_MUST;

/* Data objects by tag (5FC102, 7E, ...): content without the 53 wrapper.
 * put with len 0 deletes. get returns a pointer valid until the next
 * change. Errors: ARG, TOO_BIG, CARD_FULL, IO; get: NOT_FOUND. */
rt_err *vpiv_put_object(vpiv *v, uint32_t tag, const uint8_t *data,
    size_t len) RT_MUST;
rt_err *vpiv_get_object(const vpiv *v, uint32_t tag, const uint8_t **data,
    size_t *len) RT_MUST;

/* Stores a DER certificate (not checked) in the slot's certificate object
 * in SP 800-73 form: 70 cert, 71 00, FE 00. Errors: as vpiv_put_object. */
rt_err *vpiv_put_cert(vpiv *v, uint8_t slot, const uint8_t *der,
    size_t len) RT_MUST;

uint32_t vpiv_serial(const vpiv *v);
void vpiv_guid(const vpiv *v, uint8_t guid[16]);
void vpiv_retries(const vpiv *v, int *pin_total, int *pin_left,
    int *puk_total, int *puk_left);
/* Management key algorithm and whether it is still the default key. */
uint8_t vpiv_mgmt_alg(const vpiv *v, bool *is_default);

enum { VPIV_BIND_NONE = 0, VPIV_BIND_SERIAL = 1, VPIV_BIND_GUID = 2 };

/* A certificate to issue for a slot's key, signed by a CA from files. */
typedef struct {
	const char *ca_cert_path;     /* PEM or DER */
	const char *ca_key_path;      /* PEM or DER private key */
	const char *ca_pass;          /* key password or NULL */
	const char *subject;          /* "CN=...,O=..." (mbedTLS syntax) */
	const char *not_before;       /* "YYYYMMDDhhmmss" UTC, NULL: now */
	const char *not_after;        /* NULL: not_before + days */
	int days;                     /* 0: 365 */
	int bind;                     /* VPIV_BIND_*: appends serialNumber= */
	bool is_ca;                   /* basicConstraints CA (slot F9) */
} vpiv_issue_req;

/* Issues a certificate for the key in `slot` and stores it in the slot's
 * certificate object. Errors: ARG, NOT_FOUND (empty slot), IO, CERT,
 * CRYPTO. */
rt_err *vpiv_issue_cert(vpiv *v, uint8_t slot, const vpiv_issue_req *r) RT_MUST;

#endif
