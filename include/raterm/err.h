/*
 * err.h - the one error model of raterm.
 *
 * A fallible function returns `rt_err *`: NULL on success, otherwise an
 * error object that carries a kind (from the single table below), a message,
 * optionally the card status word that caused it, and a cause chain.
 *
 * Ownership: the caller of a function that returned an error owns it and
 * must pass it on (as a cause, or returned upward) or free it with
 * rt_err_free(). rt_err_free(NULL) is a no-op. Out-of-memory while building
 * an error yields a static error object that rt_err_free() ignores.
 */
#ifndef RATERM_ERR_H
#define RATERM_ERR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define RT_MUST __attribute__((warn_unused_result))
#define RT_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* X(name, exit code, short description). Exit codes are documented in
 * raterm(1): 1 generic, 2 usage, 3 reader/card absent, 4 card protocol,
 * 5 authentication/PIN, 6 data format, 7 verification failed (a
 * transport certificate or a proof of possession; a CMP message's
 * protection), 8 the CM host refused the request or is unreachable,
 * 9 an update rule refuses the requested action (engine.h). */
#define RT_ERR_KINDS(X)                                                     \
	X(OK,            0, "no error")                                     \
	X(NOMEM,         1, "out of memory")                                \
	X(INTERNAL,      1, "internal error")                               \
	X(ARG,           2, "invalid argument")                             \
	X(USAGE,         2, "usage error")                                  \
	X(IO,            1, "input/output error")                           \
	X(PCSC,          3, "PC/SC error")                                  \
	X(NO_SERVICE,    3, "PC/SC service not available")                  \
	X(NO_READER,     3, "reader not found")                             \
	X(NO_CARD,       3, "no card in reader")                            \
	X(CARD_REMOVED,  3, "card removed")                                 \
	X(CARD_CHANGED,  3, "not the card that was read")                   \
	X(SHARING,       3, "card in use by another application")           \
	X(TRANSPORT,     4, "card transport error")                         \
	X(PROTOCOL,      4, "card protocol error")                          \
	X(NOT_PIV,       4, "not a PIV card")                               \
	X(NOT_FOUND,     4, "not found on card")                            \
	X(NOT_SUPPORTED, 4, "not supported by the card")                    \
	X(CARD_FULL,     4, "card memory full")                             \
	X(CARD_STATUS,   4, "card returned an error status")                \
	X(FAULT,         4, "injected fault")                               \
	X(PIN_WRONG,     5, "wrong PIN")                                    \
	X(PIN_BLOCKED,   5, "PIN blocked")                                  \
	X(PIN_FORMAT,    5, "PIN does not meet the card's rules")           \
	X(PERMISSION,    5, "security status not satisfied")                \
	X(AUTH,          5, "authentication failed")                        \
	X(TLV,           6, "malformed TLV data")                           \
	X(TOO_BIG,       6, "data too large")                               \
	X(CERT,          6, "certificate error")                            \
	X(FORMAT,        6, "malformed data")                               \
	X(CRYPTO,        1, "cryptographic error")                          \
	X(PASSPHRASE,    5, "wrong passphrase or corrupted key file")       \
	X(KEY_UNENCRYPTED, 6, "private key file is not encrypted")          \
	X(TC_UNKNOWN_CA, 7, "TC not issued by a configured transport CA")   \
	X(TC_SIGNATURE,  7, "TC signature does not verify")                 \
	X(TC_EXPIRED,    7, "TC or its CA expired")                         \
	X(TC_NOT_YET_VALID, 7, "TC or its CA not yet valid")                \
	X(TC_CHAIN,      7, "TC chain violates CA constraints or key usage") \
	X(TC_POSSESSION, 7, "card does not hold the certified key")         \
	X(TC_BINDING,    7, "TC bound to another card")                     \
	X(TC_ATTESTATION, 7, "key attestation does not match")             \
	X(CMP_FORMAT,    6, "malformed CMP message")                        \
	X(CMP_UNSUPPORTED, 6, "CMP content not supported")                  \
	X(CMP_PROTECTION, 7, "CMP message protection does not verify")      \
	X(CMP_TRUST,     7, "CMP signer not trusted")                       \
	X(CMP_MISMATCH,  7, "CMP response does not match the request")      \
	X(CMP_STATUS,    8, "CM host refused the request")                  \
	X(CMP_HTTP,      8, "CM host not reachable or HTTP error")          \
	X(CONFIG,        2, "configuration error")                          \
	X(RULE,          9, "refused by the update rules")                  \
	X(CANCELLED,    10, "cancelled by the officer")                     \
	X(UNAVAILABLE,   1, "not available in this version")

typedef enum {
#define RT_X_(n, c, d) RT_E_##n,
	RT_ERR_KINDS(RT_X_)
#undef RT_X_
	RT_E__COUNT
} rt_err_kind;

typedef struct rt_err rt_err;

/* Creates an error of `kind` with a printf-style message, taking ownership
 * of `cause` (may be NULL). Never returns NULL. */
rt_err *rt_err_new(rt_err_kind kind, rt_err *cause, const char *fmt, ...)
	RT_PRINTF(3, 4) RT_MUST;

/* Like rt_err_new, recording the ISO 7816 status word that caused it. */
rt_err *rt_err_sw(rt_err_kind kind, uint16_t sw, const char *fmt, ...)
	RT_PRINTF(3, 4) RT_MUST;

/* Wraps `cause` in a new error of the same kind with added context. */
rt_err *rt_err_wrap(rt_err *cause, const char *fmt, ...) RT_PRINTF(2, 3) RT_MUST;

void rt_err_free(rt_err *e);

rt_err_kind rt_err_kind_of(const rt_err *e);
const char *rt_err_msg(const rt_err *e);
const rt_err *rt_err_cause(const rt_err *e);
/* The status word recorded on this error or any of its causes, 0 if none. */
uint16_t rt_err_sw_of(const rt_err *e);
/* An integer detail (retries left for PIN errors), -1 if none. */
int rt_err_detail(const rt_err *e);
void rt_err_set_detail(rt_err *e, int detail);
/* True if `e` or any cause has `kind`. */
bool rt_err_has(const rt_err *e, rt_err_kind kind);

const char *rt_err_kind_name(rt_err_kind kind);   /* "PIN_WRONG" */
const char *rt_err_kind_desc(rt_err_kind kind);
int rt_err_exit_code(const rt_err *e);            /* see RT_ERR_KINDS */

/* One line: "msg: cause msg: ... [KIND, SW 6982]" where KIND is the
 * outermost kind and SW the first status word in the chain. */
void rt_err_format(const rt_err *e, char *buf, size_t len);
/* The messages alone: "msg: cause msg: ..." (a why shown to the officer,
 * where rt_err_msg would lose the causes a wrapped error carries). */
void rt_err_chain(const rt_err *e, char *buf, size_t len);

#endif
