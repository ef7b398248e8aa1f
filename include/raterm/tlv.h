/*
 * tlv.h - BER-TLV reader and writer (ISO 7816-4 / X.690 subset used by PIV).
 *
 * Tags are up to 3 bytes and kept as the big-endian integer of their bytes
 * (0x5C, 0x7F49, 0x5FC105). Lengths use the definite forms 00..7F, 81 xx,
 * 82 xx xx, 83 xx xx xx; the indefinite form is refused.
 *
 * Reader: a cursor over a caller's buffer; nothing is copied and values
 * point into that buffer. tlv_end() refuses unread bytes, so a parser that
 * finishes with tlv_end() rejects trailing garbage; a value running past the
 * end of the buffer is refused at tlv_next().
 *
 * Writer: appends into a caller's fixed buffer; an overflow is sticky and
 * reported by tlv_w_finish(), so callers check once at the end.
 */
#ifndef RATERM_TLV_H
#define RATERM_TLV_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "raterm/err.h"

typedef struct {
	const uint8_t *buf;
	size_t len;
	size_t off;
} tlv_cur;

void tlv_init(tlv_cur *c, const uint8_t *buf, size_t len);
bool tlv_at_end(const tlv_cur *c);

/* Reads the next TLV. Errors: TLV (truncated tag, length or value;
 * indefinite or over-long length). */
rt_err *tlv_next(tlv_cur *c, uint32_t *tag, const uint8_t **val, size_t *vlen) RT_MUST;

/* Reads the next TLV and requires its tag to be `tag`. Errors: TLV. */
rt_err *tlv_expect(tlv_cur *c, uint32_t tag, const uint8_t **val, size_t *vlen) RT_MUST;

/* Errors: TLV if bytes remain unread. */
rt_err *tlv_end(const tlv_cur *c) RT_MUST;

/* Searches the top level of buf for `tag`. Errors: TLV on malformed data,
 * NOT_FOUND if absent (no error object allocated when found). */
rt_err *tlv_find(const uint8_t *buf, size_t len, uint32_t tag,
    const uint8_t **val, size_t *vlen) RT_MUST;

/* Number of bytes the encoding of a tag / length takes. */
size_t tlv_tag_size(uint32_t tag);
size_t tlv_len_size(size_t len);

typedef struct {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool overflow;
} tlv_w;

void tlv_w_init(tlv_w *w, uint8_t *buf, size_t cap);
void tlv_w_raw(tlv_w *w, const void *data, size_t len);
void tlv_w_put(tlv_w *w, uint32_t tag, const void *val, size_t len);
void tlv_w_put_u8(tlv_w *w, uint32_t tag, uint8_t v);
/* Opens a constructed TLV; returns a mark for tlv_w_close(). */
size_t tlv_w_open(tlv_w *w, uint32_t tag);
void tlv_w_close(tlv_w *w, size_t mark);
/* Errors: TOO_BIG if anything did not fit. */
rt_err *tlv_w_finish(const tlv_w *w) RT_MUST;

#endif
