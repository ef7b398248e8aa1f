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
 * temp file, fsync, rename) after every change; a NULL path keeps the card
 * in memory only.
 */
#ifndef RATERM_VPIV_H
#define RATERM_VPIV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "raterm/err.h"

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
 * FAULT error). sw_at: APDU N is answered with status word `sw` only. */
void vpiv_fault_drop_at(vpiv *v, uint64_t n);
void vpiv_fault_sw_at(vpiv *v, uint64_t n, uint16_t sw);

/* Largest response data returned at once to a short-Le command before
 * 61xx chaining (default 256); used to emulate readers. */
void vpiv_set_max_short_response(vpiv *v, size_t n);

/* ---- front end for vsmartcard's vpcd (src/vpiv/serve.c) ----------------
 * `vpiv serve` is implemented by vpiv_serve_main(); main.c dispatches to it
 * with argv starting at "serve". Returns the process exit status. */
int vpiv_serve_main(int argc, char **argv);

#endif
