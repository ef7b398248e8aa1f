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

#include <stdbool.h>
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

/* Selects the EF at path and writes data[0..len) at offset 0 in one
 * UPDATE BINARY (chained or extended as the transport allows: the card
 * applies all of it or none). Errors: those of iso_select_path,
 * PERMISSION (6982: the access condition is not met), TOO_BIG (over the
 * EF or 65535 bytes). */
rt_err *iso_update_file(rt_transport *t, const uint8_t *path, size_t plen,
    const uint8_t *data, size_t len) RT_MUST;

/* Creates a transparent EF fid of size bytes in the DF at df (a path from
 * the MF), with the IsoApplet's security attributes sa[8] (tag 86; NULL:
 * the card's default). Errors: EXISTS... as NOT_FOUND/PERMISSION/
 * CARD_FULL (6A84) from the ISO table, ARG. */
rt_err *iso_create_ef(rt_transport *t, const uint8_t *df, size_t dlen,
    uint16_t fid, size_t size, const uint8_t *sa) RT_MUST;

/* Deletes the file at path (SELECT, then DELETE FILE of the current
 * file). Errors: NOT_FOUND, PERMISSION, card and transport errors. */
rt_err *iso_delete_file(rt_transport *t, const uint8_t *path, size_t plen)
    RT_MUST;

/* The security attributes (FCP tag 86, 8 bytes) of the file at path;
 * *has false when the FCP has none. Selects the file. */
rt_err *iso_file_sa(rt_transport *t, const uint8_t *path, size_t plen,
    uint8_t sa[8], bool *has) RT_MUST;

/* MSE SET (22 41 B6: algorithm alg, key reference key) and PSO COMPUTE
 * DIGITAL SIGNATURE (2A 9E 9A) over data: the signature into
 * out[0..cap). Errors: PERMISSION (the key's PIN not verified),
 * NOT_FOUND, card and transport errors. */
rt_err *iso_sign(rt_transport *t, uint8_t key, uint8_t alg,
    const uint8_t *data, size_t len, uint8_t *out, size_t cap, size_t *olen)
    RT_MUST;

/* VERIFY of PIN reference ref. pin NULL: the tries left without spending
 * one (*left: -1 when the PIN is verified already and the card does not
 * say). Errors: PIN_WRONG (detail: tries left), PIN_BLOCKED, NOT_FOUND. */
rt_err *iso_verify(rt_transport *t, uint8_t ref, const uint8_t *pin,
    size_t len, int *left) RT_MUST;

#endif
