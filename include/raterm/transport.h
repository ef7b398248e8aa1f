/*
 * transport.h - how APDUs reach a card.
 *
 * A transport moves one command APDU to the card and one response APDU
 * (data + SW1 SW2) back; it knows nothing of chaining or status words
 * (see apdu.h). Implementations:
 *   - PC/SC through pcsc-lite (rt_pcsc_open), honouring PCSCLITE_CSOCK_NAME;
 *   - a scripted transport for unit tests (rt_script_open);
 *   - the in-process virtual card (rt_vpiv_transport, in libvpiv).
 *
 * Ownership: rt_transport_close() frees a transport and everything it
 * opened. Transports are not thread-safe.
 */
#ifndef RATERM_TRANSPORT_H
#define RATERM_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "raterm/err.h"
#include "raterm/util.h"	/* the hex codec (rt_hex_encode) moved there */

/* Largest response APDU: 65536 data bytes + SW. */
#define RT_APDU_MAX_RSP (65536 + 2)
/* Largest command APDU: header + extended Lc + 65535 + extended Le. */
#define RT_APDU_MAX_CMD (4 + 3 + 65535 + 2)

typedef struct rt_transport rt_transport;

typedef struct {
	const char *kind;	/* "pcsc", "script", "vcard" (vpiv, vp15) */
	/* Sends cmd, receives the response (data + SW) into rsp.
	 * Errors: CARD_REMOVED, NO_CARD, TRANSPORT, PCSC. */
	rt_err *(*transmit)(rt_transport *t, const uint8_t *cmd, size_t clen,
	    uint8_t *rsp, size_t cap, size_t *rlen);
	/* Exclusive access for a sequence of APDUs (may be NULL). */
	rt_err *(*begin)(rt_transport *t);
	void (*end)(rt_transport *t);
	void (*close)(rt_transport *t);
} rt_transport_ops;

struct rt_transport {
	const rt_transport_ops *ops;
	void *impl;
	char reader[256];	/* reader name, for messages */
	uint8_t atr[33];
	size_t atr_len;
	/* Whether extended-length APDUs may be sent: set from the ATR's card
	 * capabilities; cleared by the APDU layer when the card refuses. */
	bool ext_len;
	uint64_t apdu_count;	/* transmit() calls */
	FILE *trace;		/* if set, "> cmd" / "< rsp" hex lines */
};

rt_err *rt_transport_transmit(rt_transport *t, const uint8_t *cmd, size_t clen,
    uint8_t *rsp, size_t cap, size_t *rlen) RT_MUST;
rt_err *rt_transport_begin(rt_transport *t) RT_MUST;
void rt_transport_end(rt_transport *t);
void rt_transport_close(rt_transport *t);

/* Sets ext_len from the ATR's historical bytes (card capabilities, ISO
 * 7816-4 8.1.1.2.7, third software function byte bit 0x40). */
void rt_transport_atr_caps(rt_transport *t);

/* ---- PC/SC -------------------------------------------------------------- */

typedef struct {
	char name[256];
	bool card_present;
	bool in_use;		/* exclusively used by another application */
	uint8_t atr[33];
	size_t atr_len;
} rt_reader_info;

/* Lists readers. *out is malloc'ed (free()); *n may be 0.
 * Errors: NO_SERVICE (pcscd not running), PCSC. */
rt_err *rt_pcsc_list(rt_reader_info **out, size_t *n) RT_MUST;

/* Connects to the card in `reader`: the exact reader name, a number from
 * rt_pcsc_list's order, or a case-insensitive substring matching exactly one
 * reader. NULL: the only reader with a card. Errors: NO_SERVICE,
 * NO_READER, NO_CARD, SHARING, PCSC. */
rt_err *rt_pcsc_open(const char *reader, rt_transport **out) RT_MUST;

/* Waits up to timeout_ms for a card to come or go or a reader to be
 * added or removed (returns at once for 0); callers compare
 * rt_pcsc_list() before and after. Errors: NO_SERVICE, PCSC. */
rt_err *rt_pcsc_wait_change(int timeout_ms) RT_MUST;

/* ---- scripted (unit tests) ---------------------------------------------- */

/* `script` is a NULL-terminated array of lines: "> HEX" an expected command
 * (spaces ignored; "*" at the end matches any rest), "< HEX" the response
 * to give, "! removed" to fail with CARD_REMOVED. A command that differs
 * from the script fails with PROTOCOL naming the step. The script is not
 * copied: it must outlive the transport. */
rt_err *rt_script_open(const char *const *script, rt_transport **out) RT_MUST;
/* Number of script lines not yet consumed. */
size_t rt_script_left(const rt_transport *t);

#endif
