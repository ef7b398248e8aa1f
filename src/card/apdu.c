/* apdu.c - APDU chaining and length handling; see include/raterm/apdu.h */
#include "raterm/apdu.h"
#include "raterm/util.h"

#include <stdlib.h>
#include <string.h>

#define MAX_GET_RESPONSE 1024	/* bound on 61xx rounds */

rt_err *
apdu_encode(const apdu_cmd *c, int ext, uint8_t *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	size_t need = 4 + (c->lc ? (ext ? 3 : 1) + c->lc : 0) +
	    (c->le ? (ext ? (c->lc ? 2 : 3) : 1) : 0);
	if (c->lc > (ext ? 65535u : 255u))
		return rt_err_new(RT_E_ARG, NULL, "APDU data of %zu bytes too long",
		    c->lc);
	if (need > cap)
		return rt_err_new(RT_E_ARG, NULL, "APDU buffer too small");
	buf[n++] = c->cla;
	buf[n++] = c->ins;
	buf[n++] = c->p1;
	buf[n++] = c->p2;
	if (c->lc) {
		if (ext) {
			buf[n++] = 0;
			buf[n++] = (uint8_t)(c->lc >> 8);
		}
		buf[n++] = (uint8_t)c->lc;
		memcpy(buf + n, c->data, c->lc);
		n += c->lc;
	}
	if (c->le) {
		size_t le = c->le;
		if (ext) {
			if (!c->lc)
				buf[n++] = 0;
			le = le >= 65536 ? 0 : le;
			buf[n++] = (uint8_t)(le >> 8);
			buf[n++] = (uint8_t)le;
		} else
			buf[n++] = le >= 256 ? 0 : (uint8_t)le;
	}
	*len = n;
	return NULL;
}

/* Appends response data to out, bounded by cap. */
static rt_err *
append(uint8_t *out, size_t cap, size_t *have, const uint8_t *data, size_t n)
{
	if (n > cap - *have)
		return rt_err_new(RT_E_TOO_BIG, NULL,
		    "card response larger than %zu bytes", cap);
	if (n > 0)
		memcpy(out + *have, data, n);
	*have += n;
	return NULL;
}

/* One transmit plus 61xx / 6Cxx handling for a single (unchained) APDU. */
static rt_err *
exchange_one(rt_transport *t, const apdu_cmd *c, int ext, uint8_t *out,
    size_t cap, size_t *outlen, uint16_t *sw, uint8_t *cbuf, uint8_t *rbuf)
{
	size_t clen, rlen, have = 0;
	apdu_cmd cur = *c;
	rt_err *e;
	int resent = 0;

	for (;;) {
		if ((e = apdu_encode(&cur, ext, cbuf, RT_APDU_MAX_CMD, &clen)))
			return e;
		if ((e = rt_transport_transmit(t, cbuf, clen, rbuf,
		    RT_APDU_MAX_RSP, &rlen)))
			return e;
		uint8_t sw1 = rbuf[rlen - 2], sw2 = rbuf[rlen - 1];
		if (sw1 == 0x6C && !resent && c->le) {
			/* wrong Le: the card says how many bytes it has */
			cur.le = sw2 ? sw2 : 256;
			resent = 1;
			continue;
		}
		if ((e = append(out, cap, &have, rbuf, rlen - 2)) != NULL)
			return e;
		if (sw1 != 0x61) {
			*outlen = have;
			*sw = (uint16_t)(sw1 << 8 | sw2);
			return NULL;
		}
		break;
	}
	/* 61xx: GET RESPONSE until the card is done. */
	for (int round = 0; round < MAX_GET_RESPONSE; round++) {
		uint8_t sw2 = rbuf[rlen - 1];
		apdu_cmd gr = { .cla = c->cla & 0x0F, .ins = 0xC0,
		    .le = sw2 ? sw2 : 256 };
		if ((e = apdu_encode(&gr, 0, cbuf, RT_APDU_MAX_CMD, &clen)))
			return e;
		if ((e = rt_transport_transmit(t, cbuf, clen, rbuf,
		    RT_APDU_MAX_RSP, &rlen)))
			return e;
		if ((e = append(out, cap, &have, rbuf, rlen - 2)) != NULL)
			return e;
		if (rbuf[rlen - 2] != 0x61) {
			*outlen = have;
			*sw = (uint16_t)(rbuf[rlen - 2] << 8 | rbuf[rlen - 1]);
			return NULL;
		}
	}
	return rt_err_new(RT_E_PROTOCOL, NULL,
	    "card kept answering 61xx after %d GET RESPONSE commands",
	    MAX_GET_RESPONSE);
}

static rt_err *
exchange_short(rt_transport *t, const apdu_cmd *c, uint8_t *out, size_t cap,
    size_t *outlen, uint16_t *sw, uint8_t *cbuf, uint8_t *rbuf)
{
	size_t off = 0;
	rt_err *e;
	/* command chaining for data over 255 bytes */
	while (c->lc - off > 255) {
		apdu_cmd part = { .cla = c->cla | 0x10, .ins = c->ins,
		    .p1 = c->p1, .p2 = c->p2, .data = c->data + off, .lc = 255 };
		size_t dummy;
		if ((e = exchange_one(t, &part, 0, out, cap, &dummy, sw, cbuf, rbuf)))
			return e;
		if (*sw != SW_OK) {
			*outlen = 0;
			return NULL;	/* the caller maps the status word */
		}
		off += 255;
	}
	apdu_cmd last = *c;
	last.data = c->data != NULL ? c->data + off : NULL;
	last.lc = c->lc - off;
	if (last.le > 256)
		last.le = 256;
	return exchange_one(t, &last, 0, out, cap, outlen, sw, cbuf, rbuf);
}

rt_err *
apdu_exchange(rt_transport *t, const apdu_cmd *c, uint8_t *out, size_t cap,
    size_t *outlen, uint16_t *sw)
{
	uint8_t *cbuf = malloc(RT_APDU_MAX_CMD);
	uint8_t *rbuf = malloc(RT_APDU_MAX_RSP);
	rt_err *e;

	*outlen = 0;
	if (cbuf == NULL || rbuf == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "APDU buffers");
		goto out;
	}
	bool want_ext = c->lc > 255 || c->le > 256;
	if (want_ext && t->ext_len) {
		e = exchange_one(t, c, 1, out, cap, outlen, sw, cbuf, rbuf);
		if (e != NULL || *sw != 0x6700)
			goto out;
		/* the card refused extended length: fall back for good */
		t->ext_len = false;
	}
	e = exchange_short(t, c, out, cap, outlen, sw, cbuf, rbuf);
out:
	if (cbuf)
		rt_wipe(cbuf, RT_APDU_MAX_CMD);	/* may hold a PIN */
	free(cbuf);
	free(rbuf);
	return e;
}
