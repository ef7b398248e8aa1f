/*
 * apdu.h - APDU exchange over a transport, written once:
 *   - short and extended length (extended only when the transport allows
 *     it; a card answering 6700 to an extended APDU turns it off and the
 *     command is sent again in short form);
 *   - command chaining (CLA bit 0x10) when Lc exceeds 255 in short form;
 *   - response chaining: 61xx answered with GET RESPONSE until done;
 *   - 6Cxx answered by resending with the Le the card asked for.
 * Every copy is bounded by the caller's buffer. The final status word is
 * returned raw: mapping it to a named error is the caller's (the card
 * profile's) job, next to the command that received it.
 */
#ifndef RATERM_APDU_H
#define RATERM_APDU_H

#include <stddef.h>
#include <stdint.h>

#include "raterm/err.h"
#include "raterm/transport.h"

typedef struct {
	uint8_t cla, ins, p1, p2;
	const uint8_t *data;
	size_t lc;		/* 0..65535 */
	/* Expected response length: 0 means "no Le field" (no data
	 * expected); otherwise the maximum the caller can take (values above
	 * 256 ask for extended Le where allowed). */
	size_t le;
} apdu_cmd;

#define SW_OK 0x9000

/* Exchanges `c`, collecting all response data into out[0..cap).
 * *sw receives the final status word. Errors: transport errors
 * (CARD_REMOVED, TRANSPORT, ...), TOO_BIG when the response exceeds cap,
 * PROTOCOL for malformed exchanges (e.g. endless 61xx). */
rt_err *apdu_exchange(rt_transport *t, const apdu_cmd *c, uint8_t *out,
    size_t cap, size_t *outlen, uint16_t *sw) RT_MUST;

/* Encodes c into buf (exposed for tests). ext: extended form.
 * Errors: ARG if c does not fit the chosen form. */
rt_err *apdu_encode(const apdu_cmd *c, int ext, uint8_t *buf, size_t cap,
    size_t *len) RT_MUST;

#endif
