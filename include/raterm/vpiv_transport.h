/*
 * vpiv_transport.h - the in-process transport: APDUs go straight into a
 * vpiv card core, without pcscd (test level 2, and `-r vpiv:STATE`).
 */
#ifndef RATERM_VPIV_TRANSPORT_H
#define RATERM_VPIV_TRANSPORT_H

#include <stdbool.h>

#include "raterm/transport.h"
#include "raterm/vpiv.h"

/* Binds a transport to `card` (rt_vcard_transport, vcard.h, with vpiv's
 * ops). take: the transport frees the card on close. A FAULT from the
 * card (injected pull) becomes CARD_REMOVED. */
rt_err *rt_vpiv_transport(vpiv *card, bool take, const char *name,
    rt_transport **out) RT_MUST;

/* Opens the card state file `path` (created blank if missing) in process.
 * Errors: those of vpiv_open. */
rt_err *rt_vpiv_open_file(const char *path, rt_transport **out) RT_MUST;

#endif
