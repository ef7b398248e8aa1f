/*
 * card.h - a card, whatever its application: the card-profile interface
 * the engine and the station talk to (src/profile, between the card and
 * crypto layers below and the engine above). A profile (PIV today, in
 * src/profile/card_piv.c over src/card/piv.c; a PKCS#15 profile next)
 * answers with its keys and their certificates, its PIN, its operator
 * credential, signers on its keys, the TC controls, and what it can hold
 * (capabilities: several certificates per key, CA certificates).
 *
 * Key references are one byte (PIV: the slot, 9a 9c 9d 9e 82..95). A
 * card is opened on a transport inside one PC/SC transaction, which
 * rt_card_close ends (the transport stays open).
 */
#ifndef RATERM_CARD_H
#define RATERM_CARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/pk.h>

#include "raterm/err.h"
#include "raterm/signer.h"
#include "raterm/tc.h"
#include "raterm/transport.h"

typedef struct rt_card rt_card;

/* What a profile can hold and do; the update rules read it. */
typedef struct {
	const char *name;		/* "PIV" */
	const char *id;			/* "piv" (Contents.profile) */
	bool multi_cert_per_key;	/* Add possible */
	bool ca_certs_on_card;		/* CA certificates can be written */
	const char *one_cert_reason;	/* why Add is not possible */
	const char *no_ca_reason;	/* why CA certificates are not */
	const char *operator_name;	/* "management key" */
	bool operator_is_pin;		/* the credential is typed as a PIN
					 * (PKCS#15: the SO PIN), not in hex */
	bool second_pin_own;		/* the second PIN is a PIN of its own
					 * (PKCS#15's signature PIN), not the
					 * first again (PIV) */
	/* The key whose every signature asks the PIN again (PIV: 9C, PIN
	 * policy always): the "second PIN" of an update; 0: none. */
	uint8_t pin_always_key;
} rt_card_caps;

/* The card's identity (binding control, same-card check). */
typedef struct {
	bool has_guid;
	uint8_t guid[16];
	bool has_expiry;
	char expiry[9];			/* YYYYMMDD */
	bool has_serial;
	uint32_t serial;
} rt_card_ident;

/* One key of the card as the profile lists it. */
typedef struct {
	uint8_t key;			/* key reference (PIV slot) */
	char alg[16];			/* "ECCP256", ... "" unknown */
	bool key_known;			/* the card's metadata reports a key */
	uint8_t pin_policy, touch_policy, origin;	/* 0: unknown */
	uint8_t *der;			/* its certificate (malloc'ed), NULL */
	size_t der_len;
	int cert_index;			/* which of the key's certificates
					 * (0, 1, ... in the card's order; the
					 * index rt_card_write_cert takes) */
	char error[240];		/* a certificate object that is there
					 * but does not read */
} rt_card_key;

/* A CA certificate on the card (rt_card_ca_certs): not bound to a key. */
typedef struct {
	uint8_t *der;			/* malloc'ed, NULL when unreadable */
	size_t der_len;
	char label[65];			/* the card's label, "" none */
	char error[240];		/* listed but does not read */
} rt_card_ca;

/* rt_card_write_cert's index for a certificate added beside the key's
 * others (Add). */
#define RT_CARD_CERT_NEW (-1)

/* A signer on a key of the card (rt_card_signer). */
typedef struct {
	uint8_t key;
	const uint8_t *cert;		/* its certificate; NULL: from the card */
	size_t cert_len;
	rt_pin_cb pin_cb;		/* NULL: signatures needing a PIN fail */
	void *pin_ctx;
	const char *label;		/* "the officer's card" (messages) */
} rt_card_signer_spec;

/* Flags of rt_card_keys. */
#define RT_CARD_KEYS_ALL 0x01	/* ask the metadata of every empty key
				 * reference too (PIV: retired slots) */

typedef struct {
	const rt_card_caps *caps;
	rt_err *(*ident)(void *impl, rt_card_ident *out);
	rt_err *(*keys)(void *impl, unsigned flags, rt_card_key *out,
	    size_t cap, size_t *n, bool *has_metadata);
	rt_err *(*pin_retries)(void *impl, int *retries);
	rt_err *(*verify_pin)(void *impl, const char *pin, size_t len);
	rt_err *(*verify_pin_n)(void *impl, unsigned which, const char *pin,
	    size_t len);
	unsigned (*key_pin)(void *impl, uint8_t key);
	rt_err *(*read_cert)(void *impl, uint8_t key, uint8_t **der,
	    size_t *len);
	rt_err *(*write_cert)(void *impl, uint8_t key, int index,
	    const uint8_t *der, size_t len);
	rt_err *(*holds_cert)(void *impl, uint8_t key, const uint8_t *der,
	    size_t len, bool *held);
	rt_err *(*ca_certs)(void *impl, rt_card_ca *out, size_t cap,
	    size_t *n);
	rt_err *(*write_ca_certs)(void *impl, const rt_card_ca *ca, size_t n,
	    bool replace);
	rt_err *(*public_key)(void *impl, uint8_t key, mbedtls_pk_context *pk);
	rt_err *(*operator_auth)(void *impl, int alg, const uint8_t *cred,
	    size_t len);
	rt_err *(*signer)(void *impl, const rt_card_signer_spec *sp,
	    rt_signer **out);
	rt_err *(*verify_tc)(void *impl, const rt_card_id *id, uint8_t key,
	    const uint8_t *der, size_t len, const rt_tc_config *cfg,
	    rt_tc_result *res);
	void (*close)(void *impl);
} rt_card_ops;

/* Opens the card's application on t: each profile in turn (PIV).
 * Errors: NOT_PIV (no application raterm knows), NOMEM, transport. */
rt_err *rt_card_open(rt_transport *t, rt_card **out) RT_MUST;
/* The card interface over a PIV application already open (tools and
 * tests that hold one); rt_card_close then leaves it open. */
rt_err *rt_card_from_piv(struct piv_card *piv, rt_card **out) RT_MUST;
/* Ends the transaction; the transport stays open. NULL allowed. */
void rt_card_close(rt_card *c);

const rt_card_caps *rt_card_caps_get(const rt_card *c);
rt_transport *rt_card_transport(const rt_card *c);
/* The PIV application behind the card, NULL for other profiles (for the
 * PIV-only parts: the card signer, the TC controls, `raterm pin`). */
struct piv_card *rt_card_piv(rt_card *c);

/* Whether an error means the card (or its reader) went away or cannot
 * answer: CARD_REMOVED, NO_CARD, TRANSPORT, PCSC, or a fault injected by
 * a virtual card (FAULT: pulled). What the card holds is then unknown. */
bool rt_card_gone(const rt_err *e);

/* A key as the officer, a procedure, a job file or the journal names it:
 * two hex digits (an optional 0x), 01..ff: a PIV certificate slot (9a 9c
 * 9d 9e 82..95) or a PKCS#15 key's one-byte iD; whether the card has such
 * a key is the rules' to say. False for anything else (00 is no key). */
bool rt_key_parse(const char *s, uint8_t *key);

/* The capabilities of the profile named id ("piv"); unknown profiles get
 * the most restrictive set. */
const rt_card_caps *rt_card_caps_of_profile(const char *id);

/* Identity. Errors: card errors. */
rt_err *rt_card_ident_read(rt_card *c, rt_card_ident *out) RT_MUST;
/* The keys: every key with a certificate, and the keys the card's
 * metadata reports without one. out[] up to cap; free with
 * rt_card_keys_free. Errors: card errors (an unreadable certificate is
 * a key with `error`, not a failure). */
rt_err *rt_card_keys(rt_card *c, unsigned flags, rt_card_key *out,
    size_t cap, size_t *n, bool *has_metadata) RT_MUST;
void rt_card_keys_free(rt_card_key *k, size_t n);
/* Tries left of the card's (first) PIN without spending one; -1 when
 * the card does not say. Errors: PIN_BLOCKED, card errors. */
rt_err *rt_card_pin_retries(rt_card *c, int *retries) RT_MUST;
/* Errors: PIN_WRONG (detail: tries left), PIN_BLOCKED, PIN_FORMAT. */
rt_err *rt_card_verify_pin(rt_card *c, const char *pin, size_t len) RT_MUST;
/* The card's PIN number `which` (0: the PIN, 1: the second PIN, e.g.
 * PKCS#15's signature PIN; PIV: the one PIN again). Errors: those of
 * rt_card_verify_pin, NOT_FOUND (no such PIN). */
rt_err *rt_card_verify_pin_n(rt_card *c, unsigned which, const char *pin,
    size_t len) RT_MUST;
/* Which of the card's PINs key's signatures take: 0 the PIN, 1 the
 * second (PIV: the PIN-always key; PKCS#15: the AODF's PIN of the key's
 * authId, counted among the PINs that are not SO or unblocking PINs). */
unsigned rt_card_key_pin(rt_card *c, uint8_t key);
/* Errors: NOT_FOUND (no certificate). */
rt_err *rt_card_read_cert(rt_card *c, uint8_t key, uint8_t **der,
    size_t *len) RT_MUST;
/* Writes certificate der for key: index (rt_card_key.cert_index) names
 * the certificate it replaces (Redo: exactly that one, the key's others
 * stay), RT_CARD_CERT_NEW adds it beside them (Add; profiles without
 * multi_cert_per_key refuse it). PIV: index 0 is the slot's certificate.
 * A PKCS#15 card gets the new certificate's EF first, then the CDF entry
 * in one UPDATE BINARY, then loses the old EF: a torn write leaves an EF
 * no CDF entry names (an orphan the next write removes), never a CDF
 * entry without its certificate. Needs the operator credential.
 * Errors: PERMISSION, CARD_FULL, NOT_FOUND (no such key or certificate),
 * NOT_SUPPORTED (Add where the profile holds one certificate per key,
 * with caps' reason). */
rt_err *rt_card_write_cert(rt_card *c, uint8_t key, int index,
    const uint8_t *der, size_t len) RT_MUST;
/* Whether key holds certificate der among its certificates (the read
 * back of a write, the decision after a torn one): *held. Errors: card
 * errors (a card that cannot tell). */
rt_err *rt_card_holds_cert(rt_card *c, uint8_t key, const uint8_t *der,
    size_t len, bool *held) RT_MUST;
/* The CA certificates on the card (PKCS#15: CDF-trusted, and authority
 * certificates of the CDF), up to cap; free with rt_card_ca_free. PIV:
 * none. Errors: card errors, TOO_BIG. */
rt_err *rt_card_ca_certs(rt_card *c, rt_card_ca *out, size_t cap,
    size_t *n) RT_MUST;
void rt_card_ca_free(rt_card_ca *ca, size_t n);
/* Writes the CA certificates ca[0..n) (der and label used): replace
 * removes the card's other CA certificates, else they are kept and only
 * those missing are added. Needs the operator credential. Errors:
 * NOT_SUPPORTED (profile without ca_certs_on_card, with caps' reason),
 * PERMISSION, CARD_FULL, CERT (not a certificate). */
rt_err *rt_card_write_ca_certs(rt_card *c, const rt_card_ca *ca, size_t n,
    bool replace) RT_MUST;
/* The public key of a key without a certificate (card metadata).
 * pk must be initialised. Errors: NOT_FOUND, NOT_SUPPORTED. */
rt_err *rt_card_public_key(rt_card *c, uint8_t key, mbedtls_pk_context *pk)
    RT_MUST;
/* Authenticates with the operator credential (PIV: the management key).
 * alg: the profile's algorithm number as the CM host gives it, 0: the
 * card's (metadata) or from the length; cred NULL: the card's documented
 * default credential, named explicitly by the officer. Errors: AUTH,
 * ARG, NOT_SUPPORTED. */
rt_err *rt_card_operator_auth(rt_card *c, int alg, const uint8_t *cred,
    size_t len) RT_MUST;
/* A signer on a key of the card (signer.h): PIN handling as the key's
 * policy says, a refused PIN never presented again. */
rt_err *rt_card_signer(rt_card *c, const rt_card_signer_spec *sp,
    rt_signer **out) RT_MUST;
/* The TC controls (tc.h) of the certificate der on key. */
rt_err *rt_card_verify_tc(rt_card *c, const rt_card_id *id, uint8_t key,
    const uint8_t *der, size_t len, const rt_tc_config *cfg,
    rt_tc_result *res) RT_MUST;

#endif
