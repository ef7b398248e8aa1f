/*
 * contents.h - the Contents model: what a card holds, one row per key.
 *
 * Read from a card through its card profile (card.h); the UI and the CLI
 * only read this model. A row exists for every slot with a certificate,
 * and for every slot where the card's metadata shows a key without one.
 *
 * APDU budget of rt_contents_read() on PIV: SELECT (done by rt_card_open), one GET
 * DATA per object (CHUID, 24 certificate objects), GET SERIAL, one VERIFY
 * without data (PIN retries), and GET METADATA only for the primary slots
 * (9A 9C 9D 9E) that hold no certificate — or for every empty slot with
 * RT_CONTENTS_ALL_SLOTS.
 */
#ifndef RATERM_CONTENTS_H
#define RATERM_CONTENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "raterm/err.h"
#include "raterm/card.h"
#include "raterm/tc.h"
#include "raterm/x509.h"

/* Whether a row's certificate is revoked, as its issuer's OCSP responder
 * or CRL says (revocation.h fills it; a Contents just read has every row
 * RT_REV_NOT_CHECKED with why ""). The screen shows it per row. */
typedef enum {
	RT_REV_NOT_CHECKED = 0,	/* why says why ("" not asked) */
	RT_REV_GOOD,
	RT_REV_REVOKED,		/* at, reason */
	RT_REV_UNKNOWN,		/* the responder does not know the certificate */
} rt_rev_state;

typedef struct {
	rt_rev_state state;
	time_t at;		/* REVOKED: the revocation time */
	int reason;		/* REVOKED: CRLReason, -1 none (cmp_reason_name) */
	char source[8];		/* "ocsp" or "crl" who answered; "" none */
	time_t checked;		/* when it was asked; 0 not asked */
	char why[240];		/* NOT_CHECKED: why; otherwise a note
				 * ("OCSP: <error>" when the CRL answered) */
} rt_rev_status;

/* A key's certificate named as `raterm show`, the screen and --action
 * name it: the key ("9a", "02") for its first certificate (cert_index 0)
 * or a new one (RT_CARD_CERT_NEW), "02.1" for its further ones. Returns
 * buf (cap >= 8). */
char *rt_key_name(uint8_t slot, int cert_index, char *buf, size_t cap);

/* "good", "revoked", "unknown", "not checked" */
const char *rt_rev_state_name(rt_rev_state s);

typedef struct {
	uint8_t slot;
	char alg[16];		/* "RSA2048", "ECCP256", ... or "" if unknown */
	bool key_known;		/* the card's metadata reports a key */
	uint8_t pin_policy, touch_policy, origin;	/* 0: unknown */
	bool has_cert;
	rt_cert_info cert;
	uint8_t *der;		/* the certificate (owned by the model) */
	size_t der_len;
	bool tc;		/* issued by a configured transport CA */
	bool expired, not_yet_valid;
	int cert_index;		/* which of the key's certificates (card.h) */
	uint8_t pin;		/* which card PIN its signatures take
				 * (rt_card_key_pin: 0 the PIN, 1 the second,
				 * e.g. PKCS#15's signature PIN) */
	char error[240];	/* the object exists but could not be read */
	rt_rev_status rev;	/* revocation (revocation.h); NOT_CHECKED
				 * until asked */
} rt_key_row;

/* A CA certificate on the card (profiles with ca_certs_on_card). */
typedef struct {
	bool has_cert;
	rt_cert_info cert;
	uint8_t *der;		/* owned by the model */
	size_t der_len;
	char label[65];
	char error[240];
} rt_ca_row;

#define RT_MAX_CA 8

/* Most keys a card of any profile shows (PIV: 24 certificate slots). */
#define RT_MAX_KEYS 32

typedef struct {
	char reader[256];
	char profile[8];	/* "piv" */
	bool has_guid;
	uint8_t guid[16];
	bool has_chuid_expiry;
	char chuid_expiry[9];
	bool has_serial;
	uint32_t serial;
	int pin_retries;	/* -1: unknown (already verified) */
	bool has_metadata;	/* the card offers key metadata */
	rt_key_row rows[RT_MAX_KEYS];
	size_t nrows;
	rt_ca_row ca[RT_MAX_CA];	/* the card's CA certificates */
	size_t nca;
	uint64_t apdus;		/* APDUs spent reading */
} rt_contents;

#define RT_CONTENTS_ALL_SLOTS 0x01

/* Reads the card's contents. tcas may be NULL (no TC marking). `now` is the
 * time against which validity is judged. A certificate that does not parse
 * becomes a row with `error` set, not a failure of the whole read.
 * Errors: those of the card (CARD_REMOVED, TLV, ...). */
rt_err *rt_contents_read(rt_card *c, const rt_castore *tcas, time_t now,
    unsigned flags, rt_contents *out) RT_MUST;
void rt_contents_free(rt_contents *ct);

/* ---- TC verification ------------------------------------------------------ */

/* Flags of rt_contents_verify_tc. */
#define RT_TC_ALL_CERTS 0x01	/* treat every certificate as a claimed TC */
#define RT_TC_ALL_IF_NONE 0x02	/* ... when none is issued by a transport CA
				 * (so a card from an unknown transport CA
				 * fails with TC_UNKNOWN_CA, not silence) */

/* Verifies every TC of a Contents model (tc.h, rt_tc_verify_slot): rows
 * with tc set, and rows whose issuer name is a transport CA's (a forged TC
 * is still verified, and fails). res holds up to cap results; *n their
 * number. Stops early only when the card is gone (CARD_REMOVED etc.
 * returned) or a PIN was refused or cannot be asked (never tried again on
 * the next slot). Errors: ARG (no transport CAs), card errors. */
rt_err *rt_contents_verify_tc(rt_card *c, const rt_contents *ct,
    const rt_tc_config *cfg, unsigned flags, rt_tc_result *res, size_t cap,
    size_t *n) RT_MUST;

#endif
