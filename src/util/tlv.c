/* tlv.c - BER-TLV reader and writer; see include/raterm/tlv.h */
#include "raterm/tlv.h"

#include <string.h>

void
tlv_init(tlv_cur *c, const uint8_t *buf, size_t len)
{
	c->buf = buf;
	c->len = buf ? len : 0;
	c->off = 0;
}

bool
tlv_at_end(const tlv_cur *c)
{
	return c->off >= c->len;
}

rt_err *
tlv_next(tlv_cur *c, uint32_t *tag, const uint8_t **val, size_t *vlen)
{
	size_t start = c->off, off = c->off;
	const uint8_t *b = c->buf;
	uint32_t t;

	if (off >= c->len)
		return rt_err_new(RT_E_TLV, NULL, "TLV: no data at offset %zu", off);
	t = b[off++];
	if ((t & 0x1F) == 0x1F) {
		/* multi-byte tag: up to two more bytes */
		int n = 0;
		do {
			if (off >= c->len)
				return rt_err_new(RT_E_TLV, NULL,
				    "TLV: truncated tag at offset %zu", start);
			if (++n > 2)
				return rt_err_new(RT_E_TLV, NULL,
				    "TLV: tag too long at offset %zu", start);
			t = (t << 8) | b[off];
		} while (b[off++] & 0x80);
	}
	if (off >= c->len)
		return rt_err_new(RT_E_TLV, NULL,
		    "TLV: missing length for tag %X at offset %zu", t, start);
	size_t l = b[off++];
	if (l == 0x80)
		return rt_err_new(RT_E_TLV, NULL,
		    "TLV: indefinite length for tag %X at offset %zu", t, start);
	if (l > 0x80) {
		size_t n = l & 0x7F;
		if (n > 3)
			return rt_err_new(RT_E_TLV, NULL,
			    "TLV: length of %zu bytes for tag %X at offset %zu",
			    n, t, start);
		if (c->len - off < n)
			return rt_err_new(RT_E_TLV, NULL,
			    "TLV: truncated length for tag %X at offset %zu", t, start);
		l = 0;
		for (size_t i = 0; i < n; i++)
			l = (l << 8) | b[off++];
	}
	if (c->len - off < l)
		return rt_err_new(RT_E_TLV, NULL,
		    "TLV: value of tag %X at offset %zu needs %zu bytes, %zu left",
		    t, start, l, c->len - off);
	*tag = t;
	*val = b + off;
	*vlen = l;
	c->off = off + l;
	return NULL;
}

rt_err *
tlv_expect(tlv_cur *c, uint32_t tag, const uint8_t **val, size_t *vlen)
{
	uint32_t t;
	size_t at = c->off;
	rt_err *e = tlv_next(c, &t, val, vlen);
	if (e != NULL)
		return e;
	if (t != tag) {
		c->off = at;
		return rt_err_new(RT_E_TLV, NULL,
		    "TLV: expected tag %X at offset %zu, found %X", tag, at, t);
	}
	return NULL;
}

rt_err *
tlv_end(const tlv_cur *c)
{
	if (c->off < c->len)
		return rt_err_new(RT_E_TLV, NULL,
		    "TLV: %zu unexpected trailing bytes at offset %zu",
		    c->len - c->off, c->off);
	return NULL;
}

rt_err *
tlv_find(const uint8_t *buf, size_t len, uint32_t tag,
    const uint8_t **val, size_t *vlen)
{
	tlv_cur c;
	tlv_init(&c, buf, len);
	while (!tlv_at_end(&c)) {
		uint32_t t;
		const uint8_t *v;
		size_t l;
		rt_err *e = tlv_next(&c, &t, &v, &l);
		if (e != NULL)
			return e;
		if (t == tag) {
			*val = v;
			*vlen = l;
			return NULL;
		}
	}
	return rt_err_new(RT_E_NOT_FOUND, NULL, "tag %X not present", tag);
}

size_t
tlv_tag_size(uint32_t tag)
{
	return tag > 0xFFFF ? 3 : tag > 0xFF ? 2 : 1;
}

size_t
tlv_len_size(size_t len)
{
	return len < 0x80 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 4;
}

void
tlv_w_init(tlv_w *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf ? cap : 0;
	w->len = 0;
	w->overflow = false;
}

void
tlv_w_raw(tlv_w *w, const void *data, size_t len)
{
	if (w->overflow || w->cap - w->len < len) {
		w->overflow = true;
		return;
	}
	if (len > 0)
		memmove(w->buf + w->len, data, len);
	w->len += len;
}

static void
put_tag(tlv_w *w, uint32_t tag)
{
	uint8_t b[3];
	size_t n = tlv_tag_size(tag);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(tag >> (8 * (n - 1 - i)));
	tlv_w_raw(w, b, n);
}

static size_t
enc_len(uint8_t *b, size_t len)
{
	size_t n = tlv_len_size(len);
	if (n == 1) {
		b[0] = (uint8_t)len;
		return 1;
	}
	b[0] = (uint8_t)(0x80 | (n - 1));
	for (size_t i = 1; i < n; i++)
		b[i] = (uint8_t)(len >> (8 * (n - 1 - i)));
	return n;
}

void
tlv_w_put(tlv_w *w, uint32_t tag, const void *val, size_t len)
{
	uint8_t lb[4];
	put_tag(w, tag);
	tlv_w_raw(w, lb, enc_len(lb, len));
	tlv_w_raw(w, val, len);
}

void
tlv_w_put_u8(tlv_w *w, uint32_t tag, uint8_t v)
{
	tlv_w_put(w, tag, &v, 1);
}

size_t
tlv_w_open(tlv_w *w, uint32_t tag)
{
	put_tag(w, tag);
	tlv_w_raw(w, "\0", 1);	/* one-byte length placeholder */
	return w->len;
}

void
tlv_w_close(tlv_w *w, size_t mark)
{
	uint8_t lb[4];
	if (w->overflow || mark > w->len || mark == 0)
		return;
	size_t vlen = w->len - mark;
	size_t n = enc_len(lb, vlen);
	if (n > 1) {
		if (w->cap - w->len < n - 1) {
			w->overflow = true;
			return;
		}
		memmove(w->buf + mark + n - 1, w->buf + mark, vlen);
		w->len += n - 1;
	}
	memcpy(w->buf + mark - 1, lb, n);
}

rt_err *
tlv_w_finish(const tlv_w *w)
{
	if (w->overflow)
		return rt_err_new(RT_E_TOO_BIG, NULL,
		    "TLV: encoding exceeds the %zu-byte buffer", w->cap);
	return NULL;
}
