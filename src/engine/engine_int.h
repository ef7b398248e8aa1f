/* engine_int.h - helpers shared inside src/engine (not installed). */
#ifndef RATERM_ENGINE_INT_H
#define RATERM_ENGINE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "raterm/contents.h"

/* Lowercase hex of b into out (cap >= 2n+1; truncated otherwise). */
void eng_hex(const uint8_t *b, size_t n, char *out, size_t cap);
/* Hex -> bytes; returns the byte count, 0 on bad input or overflow. */
size_t eng_unhex(const char *hex, size_t len, uint8_t *out, size_t cap);
/* "serial 10000001" / "GUID ..." / "(no serial or GUID)": how the plan,
 * the journal and the audit name a card. */
void eng_card_name(const rt_contents *ct, char *out, size_t cap);

#endif
