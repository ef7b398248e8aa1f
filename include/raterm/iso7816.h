/*
 * iso7816.h - ISO/IEC 7816-4 file-system commands over a transport (card
 * layer, src/card/iso7816.c): SELECT by AID and by path, reading a whole
 * transparent EF, and VERIFY of a PIN reference. The PKCS#15 profile reads
 * its files with them; status words become errors through the one ISO
 * table (piv_sw_error: 6982 PERMISSION, 6983 PIN_BLOCKED, 63Cx PIN_WRONG
 * with the tries left, 6A82 NOT_FOUND, ...).
 */
#ifndef RATERM_ISO7816_H
#define RATERM_ISO7816_H

#include <stddef.h>
#include <stdint.h>

#include "raterm/err.h"
#include "raterm/transport.h"

/* Largest EF iso_read_file reads. */
#define ISO_FILE_MAX 32768

/* SELECT by DF name (P1 04). The answer, if any, into resp[0..cap)
 * (resp may be NULL). Errors: NOT_FOUND, card and transport errors. */
rt_err *iso_select_aid(rt_transport *t, const uint8_t *aid, size_t len,
    uint8_t *resp, size_t cap, size_t *rlen) RT_MUST;

/* SELECT by path from the MF (P1 08; a leading 3F00 is dropped), asking
 * for the FCP: *size receives the EF's size (tag 80 or 81), 0 for a DF
 * or a file that does not say. Errors: NOT_FOUND, PROTOCOL (an FCP that
 * does not parse), card and transport errors. */
rt_err *iso_select_path(rt_transport *t, const uint8_t *path, size_t len,
    size_t *size) RT_MUST;

/* Selects the EF at path and reads it whole (READ BINARY in pieces the
 * APDU layer can carry): *data malloc'ed (free()), *len its size.
 * Errors: those of iso_select_path, TOO_BIG (over max), NOMEM. */
rt_err *iso_read_file(rt_transport *t, const uint8_t *path, size_t plen,
    size_t max, uint8_t **data, size_t *len) RT_MUST;

/* VERIFY of PIN reference ref. pin NULL: the tries left without spending
 * one (*left: -1 when the PIN is verified already and the card does not
 * say). Errors: PIN_WRONG (detail: tries left), PIN_BLOCKED, NOT_FOUND. */
rt_err *iso_verify(rt_transport *t, uint8_t ref, const uint8_t *pin,
    size_t len, int *left) RT_MUST;

#endif
