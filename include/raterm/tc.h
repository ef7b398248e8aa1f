/*
 * tc.h - transport-certificate (TC) verification and proof of possession.
 *
 * A TC is a certificate in a card slot issued by a configured transport
 * CA. Before a procedure may replace it, it must be proven genuine; four
 * controls, each failing with its own error kind (err.h) that the UI shows:
 *
 *   chain        TC_UNKNOWN_CA    issuer is not a configured transport CA
 *                TC_SIGNATURE     issuer found, signature does not verify
 *                TC_EXPIRED       TC (or its CA) past notAfter
 *                TC_NOT_YET_VALID TC (or its CA) before notBefore
 *                TC_CHAIN         the CA is not a CA (basicConstraints) or
 *                                 may not sign certificates (keyUsage), or
 *                                 the TC claims to be a CA
 *   possession   TC_POSSESSION    a fresh random challenge signed by the
 *                                 card's key in the slot does not verify
 *                                 with the TC's public key
 *   binding      TC_BINDING       the TC subject's serialNumber (or the
 *                                 configured attribute) is neither the card
 *                                 serial in decimal nor its GUID in hex
 *   attestation  TC_ATTESTATION   the card offers YubiKey-style attestation
 *                                 (INS F9) and the attestation certificate
 *                                 does not chain (via the card's F9
 *                                 certificate) to a configured attestation
 *                                 root, or attests another public key or
 *                                 another card serial
 * Checks run in that order and stop at the first failure. Attestation is
 * skipped (and said so) when the card does not offer it or no attestation
 * roots are configured, unless the configuration requires it.
 */
#ifndef RATERM_TC_H
#define RATERM_TC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <mbedtls/pk.h>

#include "raterm/err.h"
#include "raterm/piv.h"
#include "raterm/signer.h"
#include "raterm/x509.h"

typedef enum {
	RT_TC_BIND_AUTO = 0,	/* serial (decimal) or GUID (hex) */
	RT_TC_BIND_SERIAL,
	RT_TC_BIND_GUID,
	RT_TC_BIND_NONE,	/* binding not checked (reported as skipped) */
} rt_tc_bind;

typedef enum {
	RT_TC_ATTEST_IF_OFFERED = 0,
	RT_TC_ATTEST_REQUIRED,
	RT_TC_ATTEST_OFF,
} rt_tc_attest;

typedef struct {
	const rt_castore *transport_cas;	/* required */
	const rt_castore *attest_roots;		/* NULL: attestation skipped */
	rt_tc_bind bind;
	const char *bind_attr;	/* dotted OID; NULL: serialNumber 2.5.4.5 */
	rt_tc_attest attest;
	time_t now;		/* 0: the current time */
	rt_pin_cb pin_cb;	/* for slots whose key needs the PIN */
	void *pin_ctx;
	rt_pin_cb pin2_cb;	/* the card's second PIN where it is a PIN
				 * of its own (card.h second_pin_own) */
	void *pin2_ctx;
} rt_tc_config;

/* The card's identity for the binding control. */
typedef struct {
	bool has_serial;
	uint32_t serial;
	bool has_guid;
	uint8_t guid[16];
} rt_card_id;

typedef enum {
	RT_TC_NOT_RUN = 0,
	RT_TC_PASSED,
	RT_TC_FAILED,
	RT_TC_SKIPPED,
} rt_tc_state;

const char *rt_tc_state_name(rt_tc_state s);	/* "passed", ... */

typedef struct {
	uint8_t slot;
	bool verified;		/* all controls passed or were skipped */
	rt_tc_state chain, possession, binding, attestation;
	char skip_note[160];	/* why a control was skipped */
	rt_err_kind failed;	/* RT_E_OK when verified */
	char error[400];	/* the failure, one line */
} rt_tc_result;

/* The chain control alone (buffer-level, no card).
 * Errors: TC_UNKNOWN_CA, TC_SIGNATURE, TC_EXPIRED, TC_NOT_YET_VALID,
 * TC_CHAIN, CERT (does not parse), ARG (no transport CAs). */
rt_err *rt_tc_check_chain(const rt_tc_config *cfg, const uint8_t *der,
    size_t len) RT_MUST;

/* The binding control alone. Errors: TC_BINDING, CERT, ARG (bad OID). */
rt_err *rt_tc_check_binding(const rt_tc_config *cfg, const rt_card_id *id,
    const uint8_t *der, size_t len) RT_MUST;

/* Proof of possession: signs a fresh 32-byte random challenge (prefixed
 * with a raterm context string) with `s` and verifies the signature with
 * `expected`. Errors: TC_POSSESSION (does not verify), the signer's
 * errors (PIN_WRONG, CARD_REMOVED, ...). */
rt_err *rt_pop_challenge(rt_signer *s, const mbedtls_pk_context *expected)
    RT_MUST;

/* Verifies the TC in `slot` (DER `der`) on card `c`, filling *res.
 * Returns NULL when verified; otherwise the failure (its kind is also in
 * res->failed, its text in res->error). Card errors that stop a control
 * (CARD_REMOVED, PIN_WRONG, ...) are returned as they are. */
rt_err *rt_tc_verify_slot(piv_card *c, const rt_card_id *id, uint8_t slot,
    const uint8_t *der, size_t len, const rt_tc_config *cfg,
    rt_tc_result *res) RT_MUST;

/* The same controls on a key of any card profile: mk makes the signer
 * of the possession control for the key `slot` with its certificate;
 * attestation runs on the PIV application c, and with c NULL is skipped
 * (failed when configured required): the profile offers none. */
typedef rt_err *(*rt_tc_signer_fn)(void *ctx, uint8_t slot,
    const uint8_t *der, size_t len, const rt_tc_config *cfg,
    rt_signer **out);
rt_err *rt_tc_verify_key(rt_tc_signer_fn mk, void *mk_ctx, piv_card *c,
    const rt_card_id *id, uint8_t slot, const uint8_t *der, size_t len,
    const rt_tc_config *cfg, rt_tc_result *res) RT_MUST;

/* True when the certificate's issuer name is a transport CA's: it claims
 * to be a TC (a forged one is still verified, and fails). */
bool rt_tc_claimed(const rt_tc_config *cfg, const uint8_t *der, size_t len);

#endif
