/*
 * vp15.h - the virtual PKCS#15 card: an ISO 7816-4 file-system card that
 * speaks the IsoApplet interface (the APDU set of the IsoApplet JavaCard
 * applet, bound by OpenSC's isoApplet driver), so that OpenSC's pkcs15-init
 * personalizes it as a third party would (docs/vp15.md).
 *
 * The card: an MF (3F00) with DFs and transparent EFs addressed by FID,
 * path or DF name, each file with the IsoApplet's eight security condition
 * bytes (tag 86 of the FCP: 00 always, 90 the user PIN, FF never); a user
 * PIN (reference 1) and its PUK (reference 2); sixteen private keys
 * (references 0..15, EC P-256/P-384 or RSA 2048) that sign after the PIN.
 * Until the user PIN is set the card is in its creation state and every
 * access condition is met (IsoApplet's STATE_CREATION).
 *
 * Ownership: vp15_open() returns a handle freed by vp15_free(), which wipes
 * PINs and keys. State is saved to the state file (temp file, fsync,
 * rename) after every change; a NULL path keeps the card in memory.
 */
#ifndef RATERM_VP15_H
#define RATERM_VP15_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "raterm/err.h"
#include "raterm/transport.h"
#include "raterm/vcard.h"

typedef struct vp15 vp15;

/* The IsoApplet's AID (SELECT by DF name answers its API version). */
extern const uint8_t vp15_isoapplet_aid[12];

/* Opens the card stored at `path`; a missing file gives a blank card (an
 * empty MF, no PIN: creation state) saved there. NULL: a blank card in
 * memory. Errors: IO, FORMAT, NOMEM, CRYPTO. */
rt_err *vp15_open(const char *path, vp15 **out) RT_MUST;
/* Creates a blank card at `path`, refusing an existing file unless
 * overwrite. Errors: IO, NOMEM, CRYPTO. */
rt_err *vp15_create(const char *path, bool overwrite, vp15 **out) RT_MUST;
void vp15_free(vp15 *c);

/* One command APDU (short or extended; CLA 0x10 chaining) in, response
 * data + SW out (cap >= 2). Card-level failures are status words.
 * Errors: FAULT (the card is pulled at this APDU: nothing written), ARG. */
rt_err *vp15_apdu(vp15 *c, const uint8_t *cmd, size_t clen, uint8_t *rsp,
    size_t cap, size_t *rlen) RT_MUST;
/* Power cycle: PINs unverified, MF selected, security environment gone. */
void vp15_reset(vp15 *c);
/* The ATR (cap >= 33); returns its length. */
size_t vp15_atr(const vp15 *c, uint8_t *atr, size_t cap);

void vp15_set_trace(vp15 *c, FILE *f);
uint64_t vp15_apdu_count(const vp15 *c);
/* Faults as vpiv's (vcard.h), counted in APDUs since open, 1-based. */
void vp15_fault_drop_at(vp15 *c, uint64_t n);
void vp15_fault_sw_at(vp15 *c, uint64_t n, uint16_t sw);
void vp15_fault_stall_at(vp15 *c, uint64_t n, unsigned ms);

/* ---- inspection (vp15 info, tests) -------------------------------------- */

/* Visits every file depth first: depth 0 is the MF. path is the FIDs from
 * the MF (2 bytes each, MF included). */
typedef void (*vp15_file_fn)(void *arg, int depth, const uint8_t *path,
    size_t plen, bool df, const uint8_t *aid, size_t aid_len,
    const uint8_t sa[8], const uint8_t *data, size_t size);
void vp15_walk(const vp15 *c, vp15_file_fn fn, void *arg);

/* The content of the EF at `path` (FIDs from the MF, MF included), valid
 * until the next change. Errors: NOT_FOUND. */
rt_err *vp15_file_get(const vp15 *c, const uint8_t *path, size_t plen,
    const uint8_t **data, size_t *len) RT_MUST;

/* PIN reference 1..4: whether set, tries total and left. */
void vp15_pin_info(const vp15 *c, uint8_t ref, bool *set, int *total,
    int *left);
/* Whether the user PIN is set (the card left its creation state). */
bool vp15_operational(const vp15 *c);

/* Key reference 0..15: the public key as DER SubjectPublicKeyInfo.
 * Errors: ARG, NOT_FOUND (no key), TOO_BIG. */
rt_err *vp15_key_pubkey_der(const vp15 *c, uint8_t ref, uint8_t *buf,
    size_t cap, size_t *len) RT_MUST;

/* ---- personalization (perso.c): the issuer's back door, no PIN asked --- */

/* A blank card becomes a PKCS#15 card laid out as OpenSC's isoApplet
 * profile does (EF.DIR; DF 5015: ODF, TokenInfo, AODF 4401, PrKDF 4402,
 * PuKDF 4403, CDF 4404 empty; the same security conditions): user PIN
 * 123456 (reference 1, auth ID 01) and PUK 0123456789abcdef (2); EC P-256
 * keys 0..nkeys-1 generated on the card, iD = reference + 1; with
 * sign_pin the last key signs only after the Signature PIN 654321
 * (reference 3, auth ID 03, PUK at 4); with so_pin an SO PIN 87654321
 * (reference 5, auth ID 05, the AODF's soPin flag) is what the directory
 * files, the certificate EFs and deleting in DF 5015 need (security
 * condition 95) instead of the user PIN. Test PINs, documented, never
 * secrets. Errors: ARG (not blank, nkeys), CARD_FULL, CRYPTO, IO. */
typedef struct {
	int nkeys;              /* 0: 2; at most 8 */
	bool sign_pin;
	bool so_pin;
	uint32_t serial;        /* TokenInfo's serial number (4 bytes) */
	const char *label;      /* NULL: "vp15" */
} vp15_perso;
rt_err *vp15_personalize(vp15 *c, const vp15_perso *p) RT_MUST;

/* Stores a DER certificate in the next free EF 34xx of DF 5015 and its
 * entry in the CDF: for key key_ref (iD: the key's), or, key_ref -1, as a
 * CA certificate (authority, an iD of its own). Errors: NOT_FOUND (no CDF,
 * no such key), CERT (not a certificate), CARD_FULL, IO. */
rt_err *vp15_add_cert(vp15 *c, int key_ref, const uint8_t *der, size_t len,
    const char *label) RT_MUST;

/* ---- in-process transport ------------------------------------------------ */

/* Binds a transport to `card` (take: freed on close). A FAULT becomes
 * CARD_REMOVED. */
rt_err *rt_vp15_transport(vp15 *card, bool take, const char *name,
    rt_transport **out) RT_MUST;

/* vp15's card ops (vcard.h): `vp15 serve` runs the vpcd front end with
 * them (vcard_serve_main), the transport above binds through them. */
extern const vcard_ops vp15_card_ops;

#endif
