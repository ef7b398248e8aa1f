/* der.c - forward DER writer and OID text; see der.h */
#include "der.h"
#include "raterm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
der_init(rt_der *d)
{
	memset(d, 0, sizeof(*d));
}

void
der_free(rt_der *d)
{
	if (d->p != NULL) {
		rt_wipe(d->p, d->cap);
		free(d->p);
	}
	memset(d, 0, sizeof(*d));
}

static bool
grow(rt_der *d, size_t n)
{
	if (d->oom || d->bad)
		return false;
	if (d->len + n <= d->cap)
		return true;
	size_t cap = d->cap ? d->cap : 256;
	while (cap < d->len + n)
		cap *= 2;
	uint8_t *p = malloc(cap);
	if (p == NULL) {
		d->oom = true;
		return false;
	}
	if (d->p != NULL) {
		memcpy(p, d->p, d->len);
		rt_wipe(d->p, d->cap);
		free(d->p);
	}
	d->p = p;
	d->cap = cap;
	return true;
}

void
der_raw(rt_der *d, const void *v, size_t len)
{
	if (len == 0 || !grow(d, len))
		return;
	memcpy(d->p + d->len, v, len);
	d->len += len;
}

void
der_tlv(rt_der *d, uint8_t tag, const void *v, size_t len)
{
	uint8_t h[6];
	size_t n = 0;
	h[n++] = tag;
	if (len < 0x80)
		h[n++] = (uint8_t)len;
	else if (len < 0x100) {
		h[n++] = 0x81;
		h[n++] = (uint8_t)len;
	} else if (len < 0x10000) {
		h[n++] = 0x82;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else if (len < 0x1000000) {
		h[n++] = 0x83;
		h[n++] = (uint8_t)(len >> 16);
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else {
		d->bad = true;
		snprintf(d->why, sizeof(d->why), "DER value of %zu bytes", len);
		return;
	}
	der_raw(d, h, n);
	der_raw(d, v, len);
}

void
der_wrap(rt_der *d, uint8_t tag, const rt_der *in)
{
	if (in->oom || in->bad) {
		d->oom |= in->oom;
		d->bad |= in->bad;
		if (in->bad)
			memcpy(d->why, in->why, sizeof(d->why));
		return;
	}
	der_tlv(d, tag, in->p, in->len);
}

rt_err *
rt_oid_encode(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	unsigned long arcs[64];
	size_t n = 0, o = 0;
	const char *p = s;
	while (*p) {
		char *end;
		if (*p < '0' || *p > '9' || n == 64)
			goto bad;
		arcs[n++] = strtoul(p, &end, 10);
		p = end;
		if (*p == '.')
			p++;
		else if (*p != '\0')
			goto bad;
	}
	if (n < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39))
		goto bad;
	for (size_t i = 1; i < n; i++) {
		/* the first two arcs share one subidentifier */
		unsigned long v = i == 1 ? arcs[0] * 40 + arcs[1] : arcs[i];
		uint8_t tmp[10];
		size_t k = 0;
		do {
			tmp[k++] = (uint8_t)(v & 0x7F);
			v >>= 7;
		} while (v);
		if (o + k > cap)
			goto bad;
		while (k > 0) {
			k--;
			out[o++] = (uint8_t)(tmp[k] | (k ? 0x80 : 0));
		}
	}
	*len = o;
	return NULL;
bad:
	return rt_err_new(RT_E_ARG, NULL, "\"%s\" is not an object identifier", s);
}

void
rt_oid_dotted(const uint8_t *oid, size_t len, char *out, size_t cap)
{
	size_t o = 0;
	unsigned long v = 0;
	bool first = true;
	out[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		v = (v << 7) | (oid[i] & 0x7F);
		if (oid[i] & 0x80)
			continue;
		int w;
		if (first) {
			unsigned long a = v < 80 ? v / 40 : 2;
			w = snprintf(out + o, cap > o ? cap - o : 0, "%lu.%lu", a,
			    v - a * 40);
			first = false;
		} else
			w = snprintf(out + o, cap > o ? cap - o : 0, ".%lu", v);
		o += (size_t)w;
		v = 0;
	}
	if (o >= cap && cap > 0)
		out[cap - 1] = '\0';
}

void
der_oid(rt_der *d, const char *dotted)
{
	uint8_t b[64];
	size_t n;
	rt_err *e = rt_oid_encode(dotted, b, sizeof(b), &n);
	if (e != NULL) {
		d->bad = true;
		snprintf(d->why, sizeof(d->why), "%s", rt_err_msg(e));
		rt_err_free(e);
		return;
	}
	der_tlv(d, 0x06, b, n);
}

void
der_int(rt_der *d, long v)
{
	uint8_t b[9];
	size_t n = 0;
	unsigned long long u = (unsigned long long)v;
	int i;
	for (i = 7; i > 0; i--) {
		uint8_t top = (uint8_t)(u >> (8 * i));
		uint8_t next = (uint8_t)(u >> (8 * (i - 1)));
		if (!((top == 0x00 && !(next & 0x80)) ||
		    (top == 0xFF && (next & 0x80))))
			break;
	}
	for (; i >= 0; i--)
		b[n++] = (uint8_t)(u >> (8 * i));
	der_tlv(d, 0x02, b, n);
}

void
der_bool(rt_der *d, bool v)
{
	uint8_t b = v ? 0xFF : 0x00;
	der_tlv(d, 0x01, &b, 1);
}

void
der_str(rt_der *d, uint8_t tag, const char *s)
{
	der_tlv(d, tag, s, strlen(s));
}

void
der_uint(rt_der *d, const uint8_t *v, size_t len)
{
	uint8_t zero = 0;
	while (len > 0 && v[0] == 0) {
		v++;
		len--;
	}
	if (len == 0) {
		der_tlv(d, 0x02, &zero, 1);
		return;
	}
	rt_der in;
	der_init(&in);
	if (v[0] & 0x80)
		der_raw(&in, &zero, 1);
	der_raw(&in, v, len);
	der_wrap(d, 0x02, &in);
	der_free(&in);
}

static void
time_str(rt_der *d, time_t t, bool utc)
{
	struct tm tm;
	char b[64];
	if (gmtime_r(&t, &tm) == NULL) {
		d->bad = true;
		snprintf(d->why, sizeof(d->why), "time out of range");
		return;
	}
	int y = tm.tm_year + 1900;
	if (utc) {
		snprintf(b, sizeof(b), "%02d%02d%02d%02d%02d%02dZ", y % 100,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		der_tlv(d, 0x17, b, 13);
	} else if (y >= 0 && y <= 9999) {
		snprintf(b, sizeof(b), "%04d%02d%02d%02d%02d%02dZ", y,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		der_tlv(d, 0x18, b, 15);
	} else {
		d->bad = true;
		snprintf(d->why, sizeof(d->why), "year %d out of range", y);
	}
}

void
der_time(rt_der *d, time_t t)
{
	/* UTCTime for 1950..2049: -631152000 is 1950-01-01, 2524608000 is
	 * 2050-01-01 */
	time_str(d, t, t >= (time_t)-631152000 && t < (time_t)2524608000LL);
}

void
der_gtime(rt_der *d, time_t t)
{
	time_str(d, t, false);
}

void
der_key_usage(rt_der *d, unsigned ku)
{
	uint8_t b[3];
	int last = -1;
	/* bit i of the BIT STRING: i = 0..7 in byte 0 (MSB first), 8 in byte 1 */
	for (int i = 0; i < 9; i++) {
		unsigned mask = i < 8 ? (0x80u >> i) : 0x8000u;
		if (ku & mask)
			last = i;
	}
	if (last < 0) {
		b[0] = 0;
		der_tlv(d, 0x03, b, 1);
		return;
	}
	size_t nbytes = (size_t)last / 8 + 1;
	b[1] = (uint8_t)(ku & 0xFF);
	b[2] = (uint8_t)((ku >> 8) & 0x80);
	b[0] = (uint8_t)(nbytes * 8 - (size_t)last - 1);
	der_tlv(d, 0x03, b, 1 + nbytes);
}

rt_err *
der_check(const rt_der *d)
{
	if (d->oom)
		return rt_err_new(RT_E_NOMEM, NULL, "DER encoding");
	if (d->bad)
		return rt_err_new(RT_E_ARG, NULL, "%s", d->why);
	return NULL;
}
