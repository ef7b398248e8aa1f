/*
 * pkcs15.c - the PKCS#15 codec (include/raterm/pkcs15.h): DER on buffers
 * over the one TLV reader and writer (src/util/tlv.c). No APDUs here.
 */
#include "raterm/pkcs15.h"

#include <string.h>

#include "raterm/tlv.h"

const uint8_t p15_aid[12] = {
	0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35,
};

/* ---- reading ------------------------------------------------------------ */

static rt_err *
fmt(const char *what, const char *why)
{
	return rt_err_new(RT_E_FORMAT, NULL, "PKCS#15 %s: %s", what, why);
}

static rt_err *
next(tlv_cur *c, const char *what, uint32_t *tag, const uint8_t **v, size_t *n)
{
	rt_err *e = tlv_next(c, tag, v, n);
	return e ? rt_err_wrap(e, "PKCS#15 %s", what) : NULL;
}

/* Whether the next element has `tag` (nothing is consumed). */
static bool
peek(const tlv_cur *c, uint32_t tag)
{
	tlv_cur d = *c;
	uint32_t t;
	const uint8_t *v;
	size_t n;
	rt_err *e = tlv_next(&d, &t, &v, &n);
	if (e != NULL) {
		rt_err_free(e);
		return false;
	}
	return t == tag;
}

static rt_err *
expect(tlv_cur *c, uint32_t tag, const char *what, tlv_cur *in)
{
	uint32_t t;
	const uint8_t *v;
	size_t n;
	rt_err *e = next(c, what, &t, &v, &n);
	if (e != NULL)
		return e;
	if (t != tag)
		return rt_err_new(RT_E_FORMAT, NULL, "PKCS#15 %s: tag %X where %X belongs",
		    what, t, tag);
	tlv_init(in, v, n);
	return NULL;
}

static rt_err *
get_bytes(tlv_cur *c, uint32_t tag, const char *what, uint8_t *out,
    size_t cap, size_t *len)
{
	tlv_cur in;
	rt_err *e = expect(c, tag, what, &in);
	if (e != NULL)
		return e;
	if (in.len > cap)
		return rt_err_new(RT_E_TOO_BIG, NULL, "PKCS#15 %s: %zu bytes, at most %zu",
		    what, in.len, cap);
	if (in.len > 0)
		memcpy(out, in.buf, in.len);
	*len = in.len;
	return NULL;
}

/* A string into a NUL-terminated buffer of P15_LABEL_MAX + 1. */
static rt_err *
get_str(tlv_cur *c, uint32_t tag, const char *what, char *out)
{
	size_t len = 0;
	rt_err *e = get_bytes(c, tag, what, (uint8_t *)out, P15_LABEL_MAX, &len);
	if (e != NULL)
		return e;
	if (memchr(out, '\0', len) != NULL)
		return fmt(what, "a NUL byte in the string");
	out[len] = '\0';
	return NULL;
}

/* A non-negative INTEGER (or ENUMERATED, [0]) of at most 31 bits, DER. */
static rt_err *
get_int(tlv_cur *c, uint32_t tag, const char *what, int *out)
{
	tlv_cur in;
	rt_err *e = expect(c, tag, what, &in);
	if (e != NULL)
		return e;
	const uint8_t *v = in.buf;
	size_t n = in.len;
	if (n == 0 || n > 4 || (v[0] & 0x80) ||
	    (n > 1 && v[0] == 0x00 && !(v[1] & 0x80)))
		return fmt(what, "not a small non-negative DER integer");
	uint32_t x = 0;
	for (size_t i = 0; i < n; i++)
		x = x << 8 | v[i];
	if (x > 0x7FFFFFFF)
		return fmt(what, "integer too large");
	*out = (int)x;
	return NULL;
}

static rt_err *
get_bool(tlv_cur *c, const char *what, bool *out)
{
	tlv_cur in;
	rt_err *e = expect(c, 0x01, what, &in);
	if (e != NULL)
		return e;
	if (in.len != 1 || (in.buf[0] != 0x00 && in.buf[0] != 0xFF))
		return fmt(what, "not a DER boolean");
	*out = in.buf[0] == 0xFF;
	return NULL;
}

/* A BIT STRING of named bits (at most 32): bit 0 is the first. */
static rt_err *
get_bits(tlv_cur *c, const char *what, uint32_t *out)
{
	tlv_cur in;
	rt_err *e = expect(c, 0x03, what, &in);
	if (e != NULL)
		return e;
	const uint8_t *v = in.buf;
	size_t n = in.len;
	if (n == 0 || v[0] > 7 || (n == 1 && v[0] != 0))
		return fmt(what, "malformed bit string");
	if (n - 1 > 4)
		return rt_err_new(RT_E_TOO_BIG, NULL, "PKCS#15 %s: %zu bits", what, (n - 1) * 8);
	if (n > 1 && (v[n - 1] & ((1u << v[0]) - 1)) != 0)
		return fmt(what, "unused bits set");
	/* DER: a named-bit list ends with its last one bit */
	if (n > 1 && (v[n - 1] & (1u << v[0])) == 0)
		return fmt(what, "not DER (trailing zero bits)");
	uint32_t x = 0;
	for (size_t i = 1; i < n; i++)
		for (int j = 0; j < 8; j++)
			if (v[i] & (0x80 >> j))
				x |= P15_BIT((i - 1) * 8 + (size_t)j);
	*out = x;
	return NULL;
}

/* The rest of a constructed value, raw. */
static rt_err *
get_rest(tlv_cur *c, const char *what, p15_raw *out)
{
	size_t n = c->len - c->off;
	if (n > sizeof(out->b))
		return rt_err_new(RT_E_TOO_BIG, NULL, "PKCS#15 %s: %zu bytes of optional "
		    "fields, at most %zu", what, n, sizeof(out->b));
	/* still well-formed TLVs */
	tlv_cur d = *c;
	while (!tlv_at_end(&d)) {
		uint32_t t;
		const uint8_t *v;
		size_t l;
		rt_err *e = next(&d, what, &t, &v, &l);
		if (e != NULL)
			return e;
	}
	if (n > 0)
		memcpy(out->b, c->buf + c->off, n);
	out->len = n;
	c->off = c->len;
	return NULL;
}

/* Path ::= SEQUENCE { efidOrPath OCTET STRING, index INTEGER OPTIONAL,
 * length [0] INTEGER OPTIONAL } */
static rt_err *
get_path(tlv_cur *c, const char *what, p15_path *p)
{
	tlv_cur in;
	rt_err *e = expect(c, 0x30, what, &in);
	if (e == NULL)
		e = get_bytes(&in, 0x04, what, p->b, sizeof(p->b), &p->len);
	if (e != NULL)
		return e;
	if (p->len == 0 || p->len % 2 != 0)
		return fmt(what, "a path is whole file identifiers");
	size_t n = in.len - in.off;
	if (n > sizeof(p->rest))
		return fmt(what, "path index and length too long");
	if (n > 0)
		memcpy(p->rest, in.buf + in.off, n);
	p->rest_len = n;
	if (n > 0) {
		int x;
		if (peek(&in, 0x02) && (e = get_int(&in, 0x02, what, &x)) != NULL)
			return e;
		if (peek(&in, 0x80) && (e = get_int(&in, 0x80, what, &x)) != NULL)
			return e;
		if ((e = tlv_end(&in)) != NULL)
			return rt_err_wrap(e, "PKCS#15 %s", what);
	}
	return NULL;
}

/* Where the data ends: nothing but one pad byte (00 or FF) may follow. */
static rt_err *
check_padding(const uint8_t *buf, size_t len, size_t off, const char *what)
{
	for (size_t i = off; i < len; i++)
		if (buf[i] != buf[off] || (buf[off] != 0x00 && buf[off] != 0xFF))
			return rt_err_new(RT_E_FORMAT, NULL, "PKCS#15 %s: %zu bytes after the "
			    "data at offset %zu are not padding", what, len - off, off);
	return NULL;
}

static bool
at_padding(const tlv_cur *c)
{
	return !tlv_at_end(c) && (c->buf[c->off] == 0x00 || c->buf[c->off] == 0xFF);
}

/* ---- writing ------------------------------------------------------------ */

static void
put_int(tlv_w *w, uint32_t tag, int x)
{
	uint8_t b[5];
	size_t n = 0;
	uint32_t u = (uint32_t)x;
	uint8_t tmp[4] = { (uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u };
	size_t i = 0;
	while (i < 3 && tmp[i] == 0)
		i++;
	if (tmp[i] & 0x80)
		b[n++] = 0x00;
	memcpy(b + n, tmp + i, 4 - i);
	n += 4 - i;
	tlv_w_put(w, tag, b, n);
}

static void
put_bits(tlv_w *w, uint32_t bits)
{
	uint8_t b[5] = { 0 };
	int hi = -1;
	for (int i = 0; i < 32; i++)
		if (bits & P15_BIT(i))
			hi = i;
	if (hi < 0) {
		tlv_w_put(w, 0x03, b, 1);
		return;
	}
	size_t nbytes = (size_t)hi / 8 + 1;
	b[0] = (uint8_t)(7 - hi % 8);
	for (int i = 0; i <= hi; i++)
		if (bits & P15_BIT(i))
			b[1 + i / 8] |= (uint8_t)(0x80 >> (i % 8));
	tlv_w_put(w, 0x03, b, 1 + nbytes);
}

static void
put_path(tlv_w *w, const p15_path *p)
{
	size_t m = tlv_w_open(w, 0x30);
	tlv_w_put(w, 0x04, p->b, p->len);
	tlv_w_raw(w, p->rest, p->rest_len);
	tlv_w_close(w, m);
}

static rt_err *
finish(const tlv_w *w, size_t *len, const char *what)
{
	rt_err *e = tlv_w_finish(w);
	if (e != NULL)
		return rt_err_wrap(e, "PKCS#15 %s", what);
	*len = w->len;
	return NULL;
}

/* ---- EF.DIR ------------------------------------------------------------- */

rt_err *
p15_dir_parse(const uint8_t *buf, size_t len, p15_dir *out)
{
	memset(out, 0, sizeof(*out));
	tlv_cur c;
	rt_err *e;
	tlv_init(&c, buf, len);
	while (!tlv_at_end(&c) && !at_padding(&c)) {
		if (out->n == P15_MAX_APPS)
			return rt_err_new(RT_E_TOO_BIG, NULL, "PKCS#15 EF.DIR: more than %d "
			    "applications", P15_MAX_APPS);
		p15_app *a = &out->app[out->n];
		tlv_cur in;
		if ((e = expect(&c, 0x61, "EF.DIR application template", &in)) != NULL ||
		    (e = get_bytes(&in, 0x4F, "EF.DIR AID", a->aid, sizeof(a->aid), &a->aid_len)) != NULL)
			return e;
		if (peek(&in, 0x50) && (e = get_str(&in, 0x50, "EF.DIR label", a->label)) != NULL)
			return e;
		if (peek(&in, 0x51) && (e = get_bytes(&in, 0x51, "EF.DIR path", a->path,
		    sizeof(a->path), &a->path_len)) != NULL)
			return e;
		if ((e = get_rest(&in, "EF.DIR application template", &a->rest)) != NULL)
			return e;
		out->n++;
	}
	return check_padding(buf, len, c.off, "EF.DIR");
}

rt_err *
p15_dir_encode(const p15_dir *d, uint8_t *buf, size_t cap, size_t *len)
{
	tlv_w w;
	tlv_w_init(&w, buf, cap);
	for (size_t i = 0; i < d->n && i < P15_MAX_APPS; i++) {
		const p15_app *a = &d->app[i];
		size_t m = tlv_w_open(&w, 0x61);
		tlv_w_put(&w, 0x4F, a->aid, a->aid_len);
		if (a->label[0] != '\0')
			tlv_w_put(&w, 0x50, a->label, strlen(a->label));
		if (a->path_len > 0)
			tlv_w_put(&w, 0x51, a->path, a->path_len);
		tlv_w_raw(&w, a->rest.b, a->rest.len);
		tlv_w_close(&w, m);
	}
	return finish(&w, len, "EF.DIR");
}

/* ---- ODF ---------------------------------------------------------------- */

rt_err *
p15_odf_parse(const uint8_t *buf, size_t len, p15_odf *out)
{
	memset(out, 0, sizeof(*out));
	tlv_cur c;
	rt_err *e;
	tlv_init(&c, buf, len);
	while (!tlv_at_end(&c) && !at_padding(&c)) {
		if (out->n == P15_MAX_ODF)
			return rt_err_new(RT_E_TOO_BIG, NULL, "PKCS#15 ODF: more than %d entries",
			    P15_MAX_ODF);
		uint32_t t;
		const uint8_t *v;
		size_t n;
		if ((e = next(&c, "ODF", &t, &v, &n)) != NULL)
			return e;
		if (t < P15_ODF_PRKDF || t > P15_ODF_AODF)
			return rt_err_new(RT_E_FORMAT, NULL, "PKCS#15 ODF: unknown entry %X", t);
		tlv_cur in;
		tlv_init(&in, v, n);
		out->e[out->n].tag = (uint8_t)t;
		if ((e = get_path(&in, "ODF path", &out->e[out->n].path)) != NULL)
			return e;
		if ((e = tlv_end(&in)) != NULL)
			return rt_err_wrap(e, "PKCS#15 ODF entry %X", t);
		out->n++;
	}
	return check_padding(buf, len, c.off, "ODF");
}

rt_err *
p15_odf_encode(const p15_odf *o, uint8_t *buf, size_t cap, size_t *len)
{
	tlv_w w;
	tlv_w_init(&w, buf, cap);
	for (size_t i = 0; i < o->n && i < P15_MAX_ODF; i++) {
		size_t m = tlv_w_open(&w, o->e[i].tag);
		put_path(&w, &o->e[i].path);
		tlv_w_close(&w, m);
	}
	return finish(&w, len, "ODF");
}

const p15_path *
p15_odf_find(const p15_odf *o, uint8_t tag)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->e[i].tag == tag)
			return &o->e[i].path;
	return NULL;
}

/* ---- TokenInfo ---------------------------------------------------------- */

rt_err *
p15_tokeninfo_parse(const uint8_t *buf, size_t len, p15_tokeninfo *out)
{
	memset(out, 0, sizeof(*out));
	tlv_cur c, in;
	rt_err *e;
	tlv_init(&c, buf, len);
	if ((e = expect(&c, 0x30, "TokenInfo", &in)) != NULL ||
	    (e = get_int(&in, 0x02, "TokenInfo version", &out->version)) != NULL ||
	    (e = get_bytes(&in, 0x04, "TokenInfo serial number", out->serial,
	    sizeof(out->serial), &out->serial_len)) != NULL)
		return e;
	if (peek(&in, 0x0C) && (e = get_str(&in, 0x0C, "TokenInfo manufacturer",
	    out->manufacturer)) != NULL)
		return e;
	if (peek(&in, 0x80) && (e = get_str(&in, 0x80, "TokenInfo label", out->label)) != NULL)
		return e;
	if ((e = get_bits(&in, "TokenInfo flags", &out->flags)) != NULL ||
	    (e = get_rest(&in, "TokenInfo", &out->rest)) != NULL)
		return e;
	return check_padding(buf, len, c.off, "TokenInfo");
}

rt_err *
p15_tokeninfo_encode(const p15_tokeninfo *t, uint8_t *buf, size_t cap,
    size_t *len)
{
	tlv_w w;
	tlv_w_init(&w, buf, cap);
	size_t m = tlv_w_open(&w, 0x30);
	put_int(&w, 0x02, t->version);
	tlv_w_put(&w, 0x04, t->serial, t->serial_len);
	if (t->manufacturer[0] != '\0')
		tlv_w_put(&w, 0x0C, t->manufacturer, strlen(t->manufacturer));
	if (t->label[0] != '\0')
		tlv_w_put(&w, 0x80, t->label, strlen(t->label));
	put_bits(&w, t->flags);
	tlv_w_raw(&w, t->rest.b, t->rest.len);
	tlv_w_close(&w, m);
	return finish(&w, len, "TokenInfo");
}

/* ---- objects ------------------------------------------------------------ */

static rt_err *
common_parse(tlv_cur *c, p15_common *o)
{
	tlv_cur in;
	rt_err *e = expect(c, 0x30, "common object attributes", &in);
	if (e != NULL)
		return e;
	if (peek(&in, 0x0C)) {
		if ((e = get_str(&in, 0x0C, "object label", o->label)) != NULL)
			return e;
		o->has_label = true;
	}
	if (peek(&in, 0x03)) {
		if ((e = get_bits(&in, "object flags", &o->flags)) != NULL)
			return e;
		o->has_flags = true;
	}
	if (peek(&in, 0x04) && (e = get_bytes(&in, 0x04, "object authId",
	    o->auth_id.b, sizeof(o->auth_id.b), &o->auth_id.len)) != NULL)
		return e;
	return get_rest(&in, "common object attributes", &o->rest);
}

static void
common_encode(tlv_w *w, const p15_common *o)
{
	size_t m = tlv_w_open(w, 0x30);
	if (o->has_label || o->label[0] != '\0')
		tlv_w_put(w, 0x0C, o->label, strlen(o->label));
	if (o->has_flags || o->flags != 0)
		put_bits(w, o->flags);
	if (o->auth_id.len > 0)
		tlv_w_put(w, 0x04, o->auth_id.b, o->auth_id.len);
	tlv_w_raw(w, o->rest.b, o->rest.len);
	tlv_w_close(w, m);
}

/* PIN object: SEQUENCE { common, SEQUENCE { authId, ... }, [1] { PinAttributes } } */
static rt_err *
pin_parse(tlv_cur *obj, p15_pin *p)
{
	tlv_cur cls, ta, pa;
	rt_err *e;
	p->max_len = -1;
	p->pad_char = -1;
	if ((e = common_parse(obj, &p->common)) != NULL ||
	    (e = expect(obj, 0x30, "authentication object attributes", &cls)) != NULL ||
	    (e = get_bytes(&cls, 0x04, "PIN authId", p->auth_id.b, sizeof(p->auth_id.b),
	    &p->auth_id.len)) != NULL ||
	    (e = tlv_end(&cls)) != NULL)
		return e;
	if (peek(obj, 0xA0))
		return fmt("PIN object", "sub-class attributes are not expected");
	if ((e = expect(obj, 0xA1, "PIN type attributes", &ta)) != NULL ||
	    (e = expect(&ta, 0x30, "PIN attributes", &pa)) != NULL ||
	    (e = tlv_end(&ta)) != NULL ||
	    (e = get_bits(&pa, "PIN flags", &p->flags)) != NULL ||
	    (e = get_int(&pa, 0x0A, "PIN type", &p->type)) != NULL ||
	    (e = get_int(&pa, 0x02, "PIN minimum length", &p->min_len)) != NULL ||
	    (e = get_int(&pa, 0x02, "PIN stored length", &p->stored_len)) != NULL)
		return e;
	if (p->type > P15_PIN_UTF8 && p->type != 3 && p->type != 4)
		return fmt("PIN type", "unknown");
	if (peek(&pa, 0x02) && (e = get_int(&pa, 0x02, "PIN maximum length", &p->max_len)) != NULL)
		return e;
	if (peek(&pa, 0x80)) {
		if ((e = get_int(&pa, 0x80, "PIN reference", &p->reference)) != NULL)
			return e;
		p->has_reference = true;
	}
	if (peek(&pa, 0x04)) {
		uint8_t pad[1];
		size_t n;
		if ((e = get_bytes(&pa, 0x04, "PIN pad character", pad, 1, &n)) != NULL)
			return e;
		if (n != 1)
			return fmt("PIN pad character", "not one byte");
		p->pad_char = pad[0];
	}
	if (peek(&pa, 0x18)) {          /* lastPinChange: kept raw with the path */
		return get_rest(&pa, "PIN attributes", &p->rest);
	}
	if (peek(&pa, 0x30) && (e = get_path(&pa, "PIN path", &p->path)) != NULL)
		return e;
	return get_rest(&pa, "PIN attributes", &p->rest);
}

static void
pin_encode(tlv_w *w, const p15_pin *p)
{
	size_t m = tlv_w_open(w, 0x30);
	common_encode(w, &p->common);
	size_t mc = tlv_w_open(w, 0x30);
	tlv_w_put(w, 0x04, p->auth_id.b, p->auth_id.len);
	tlv_w_close(w, mc);
	size_t mt = tlv_w_open(w, 0xA1);
	size_t ma = tlv_w_open(w, 0x30);
	put_bits(w, p->flags);
	put_int(w, 0x0A, p->type);
	put_int(w, 0x02, p->min_len);
	put_int(w, 0x02, p->stored_len);
	if (p->max_len >= 0)
		put_int(w, 0x02, p->max_len);
	if (p->has_reference || p->reference != 0)
		put_int(w, 0x80, p->reference);
	if (p->pad_char >= 0) {
		uint8_t pad = (uint8_t)p->pad_char;
		tlv_w_put(w, 0x04, &pad, 1);
	}
	if (p->path.len > 0)
		put_path(w, &p->path);
	tlv_w_raw(w, p->rest.b, p->rest.len);
	tlv_w_close(w, ma);
	tlv_w_close(w, mt);
	tlv_w_close(w, m);
}

/* Key object: { common, CommonKeyAttributes, [0] sub-class, [1] { SEQUENCE
 * { value Path, rest } } } */
static rt_err *
key_parse(tlv_cur *obj, p15_key *k)
{
	tlv_cur cls, ta, attrs;
	rt_err *e;
	k->native = -1;
	k->key_ref = -1;
	if ((e = common_parse(obj, &k->common)) != NULL ||
	    (e = expect(obj, 0x30, "key attributes", &cls)) != NULL ||
	    (e = get_bytes(&cls, 0x04, "key iD", k->id.b, sizeof(k->id.b), &k->id.len)) != NULL ||
	    (e = get_bits(&cls, "key usage", &k->usage)) != NULL)
		return e;
	if (peek(&cls, 0x01)) {
		bool b;
		if ((e = get_bool(&cls, "key native", &b)) != NULL)
			return e;
		k->native = b;
	}
	if (peek(&cls, 0x03)) {
		if ((e = get_bits(&cls, "key access flags", &k->access)) != NULL)
			return e;
		k->has_access = true;
	}
	if (peek(&cls, 0x02) && (e = get_int(&cls, 0x02, "key reference", &k->key_ref)) != NULL)
		return e;
	if ((e = get_rest(&cls, "key attributes", &k->class_rest)) != NULL)
		return e;
	if (peek(obj, 0xA0)) {
		tlv_cur sub;
		if ((e = expect(obj, 0xA0, "key sub-class attributes", &sub)) != NULL ||
		    (e = get_rest(&sub, "key sub-class attributes", &k->subclass)) != NULL)
			return e;
		k->has_subclass = true;
	}
	if ((e = expect(obj, 0xA1, "key type attributes", &ta)) != NULL ||
	    (e = expect(&ta, 0x30, "key type attributes", &attrs)) != NULL ||
	    (e = tlv_end(&ta)) != NULL)
		return e;
	if (!peek(&attrs, 0x30))
		return fmt("key value", "only a path is supported");
	if ((e = get_path(&attrs, "key path", &k->path)) != NULL)
		return e;
	return get_rest(&attrs, "key type attributes", &k->type_rest);
}

static void
key_encode(tlv_w *w, const p15_key *k)
{
	size_t m = tlv_w_open(w, k->type);
	common_encode(w, &k->common);
	size_t mc = tlv_w_open(w, 0x30);
	tlv_w_put(w, 0x04, k->id.b, k->id.len);
	put_bits(w, k->usage);
	if (k->native >= 0) {
		uint8_t b = k->native ? 0xFF : 0x00;
		tlv_w_put(w, 0x01, &b, 1);
	}
	if (k->has_access || k->access != 0)
		put_bits(w, k->access);
	if (k->key_ref >= 0)
		put_int(w, 0x02, k->key_ref);
	tlv_w_raw(w, k->class_rest.b, k->class_rest.len);
	tlv_w_close(w, mc);
	if (k->has_subclass) {
		size_t ms = tlv_w_open(w, 0xA0);
		tlv_w_raw(w, k->subclass.b, k->subclass.len);
		tlv_w_close(w, ms);
	}
	size_t mt = tlv_w_open(w, 0xA1);
	size_t ma = tlv_w_open(w, 0x30);
	put_path(w, &k->path);
	tlv_w_raw(w, k->type_rest.b, k->type_rest.len);
	tlv_w_close(w, ma);
	tlv_w_close(w, mt);
	tlv_w_close(w, m);
}

/* X.509 certificate object: SEQUENCE { common, SEQUENCE { iD, authority,
 * ... }, [1] { SEQUENCE { value Path, rest } } } */
static rt_err *
cert_parse(tlv_cur *obj, p15_cert *ct)
{
	tlv_cur cls, ta, attrs;
	rt_err *e;
	if ((e = common_parse(obj, &ct->common)) != NULL ||
	    (e = expect(obj, 0x30, "certificate attributes", &cls)) != NULL ||
	    (e = get_bytes(&cls, 0x04, "certificate iD", ct->id.b, sizeof(ct->id.b),
	    &ct->id.len)) != NULL)
		return e;
	if (peek(&cls, 0x01) && (e = get_bool(&cls, "certificate authority", &ct->authority)) != NULL)
		return e;
	if ((e = get_rest(&cls, "certificate attributes", &ct->class_rest)) != NULL)
		return e;
	if (peek(obj, 0xA0))
		return fmt("certificate object", "sub-class attributes are not expected");
	if ((e = expect(obj, 0xA1, "certificate type attributes", &ta)) != NULL ||
	    (e = expect(&ta, 0x30, "X.509 certificate attributes", &attrs)) != NULL ||
	    (e = tlv_end(&ta)) != NULL)
		return e;
	if (!peek(&attrs, 0x30))
		return fmt("certificate value", "only a path is supported");
	if ((e = get_path(&attrs, "certificate path", &ct->path)) != NULL)
		return e;
	return get_rest(&attrs, "certificate type attributes", &ct->type_rest);
}

static void
cert_encode(tlv_w *w, const p15_cert *ct)
{
	size_t m = tlv_w_open(w, 0x30);
	common_encode(w, &ct->common);
	size_t mc = tlv_w_open(w, 0x30);
	tlv_w_put(w, 0x04, ct->id.b, ct->id.len);
	if (ct->authority) {
		uint8_t b = 0xFF;
		tlv_w_put(w, 0x01, &b, 1);
	}
	tlv_w_raw(w, ct->class_rest.b, ct->class_rest.len);
	tlv_w_close(w, mc);
	size_t mt = tlv_w_open(w, 0xA1);
	size_t ma = tlv_w_open(w, 0x30);
	put_path(w, &ct->path);
	tlv_w_raw(w, ct->type_rest.b, ct->type_rest.len);
	tlv_w_close(w, ma);
	tlv_w_close(w, mt);
	tlv_w_close(w, m);
}

static const char *
df_name(p15_df_kind kind)
{
	return kind == P15_DF_AODF ? "AODF" : kind == P15_DF_KEYS ? "key directory" :
	    "certificate directory";
}

rt_err *
p15_df_parse(p15_df_kind kind, const uint8_t *buf, size_t len, p15_df *out,
    size_t *used)
{
	memset(out, 0, sizeof(*out));
	out->kind = kind;
	tlv_cur c;
	rt_err *e = NULL;
	tlv_init(&c, buf, len);
	while (!tlv_at_end(&c) && !at_padding(&c)) {
		if (out->n == P15_MAX_OBJECTS)
			return rt_err_new(RT_E_TOO_BIG, NULL, "PKCS#15 %s: more than %d objects",
			    df_name(kind), P15_MAX_OBJECTS);
		uint32_t t;
		const uint8_t *v;
		size_t n;
		size_t at = c.off;
		if ((e = next(&c, df_name(kind), &t, &v, &n)) != NULL)
			return e;
		tlv_cur obj;
		tlv_init(&obj, v, n);
		if (kind == P15_DF_AODF) {
			if (t != 0x30)
				return rt_err_new(RT_E_FORMAT, NULL, "PKCS#15 AODF: object %zu at "
				    "offset %zu is not a PIN object (tag %X)", out->n, at, t);
			e = pin_parse(&obj, &out->u.pin[out->n]);
		} else if (kind == P15_DF_KEYS) {
			if (t != P15_KEY_RSA && t != P15_KEY_EC)
				return rt_err_new(RT_E_FORMAT, NULL, "PKCS#15 key directory: object "
				    "%zu at offset %zu is not an RSA or EC key (tag %X)", out->n, at, t);
			out->u.key[out->n].type = (uint8_t)t;
			e = key_parse(&obj, &out->u.key[out->n]);
		} else {
			if (t != 0x30)
				return rt_err_new(RT_E_FORMAT, NULL, "PKCS#15 certificate directory: "
				    "object %zu at offset %zu is not an X.509 certificate (tag %X)",
				    out->n, at, t);
			e = cert_parse(&obj, &out->u.cert[out->n]);
		}
		if (e == NULL)
			e = tlv_end(&obj);
		if (e != NULL)
			return rt_err_wrap(e, "PKCS#15 %s: object %zu at offset %zu",
			    df_name(kind), out->n, at);
		out->n++;
	}
	if (used != NULL)
		*used = c.off;
	return check_padding(buf, len, c.off, df_name(kind));
}

rt_err *
p15_df_encode(const p15_df *df, uint8_t *buf, size_t cap, size_t *len)
{
	tlv_w w;
	tlv_w_init(&w, buf, cap);
	if (df->n > P15_MAX_OBJECTS)
		return rt_err_new(RT_E_ARG, NULL, "PKCS#15 %s: %zu objects", df_name(df->kind), df->n);
	for (size_t i = 0; i < df->n; i++) {
		if (df->kind == P15_DF_AODF) {
			pin_encode(&w, &df->u.pin[i]);
		} else if (df->kind == P15_DF_KEYS) {
			const p15_key *k = &df->u.key[i];
			if (k->type != P15_KEY_RSA && k->type != P15_KEY_EC)
				return rt_err_new(RT_E_ARG, NULL, "PKCS#15 key %zu: type %X", i, k->type);
			key_encode(&w, k);
		} else {
			cert_encode(&w, &df->u.cert[i]);
		}
	}
	return finish(&w, len, df_name(df->kind));
}
