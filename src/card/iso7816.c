/* iso7816.c - ISO/IEC 7816-4 file-system commands (include/raterm/iso7816.h). */
#include "raterm/iso7816.h"

#include <stdlib.h>
#include <string.h>

#include "raterm/apdu.h"
#include "raterm/piv.h"
#include "raterm/tlv.h"
#include "raterm/util.h"

/* One exchange; a status word other than 9000 becomes the ISO error. */
static rt_err *
xfer(rt_transport *t, const char *op, const apdu_cmd *c, uint8_t *out,
    size_t cap, size_t *len)
{
	uint16_t sw;
	size_t n = 0;
	if (len != NULL)
		*len = 0;
	rt_err *e = apdu_exchange(t, c, out, cap, &n, &sw);
	if (e != NULL)
		return rt_err_wrap(e, "%s", op);
	if ((e = piv_sw_error(sw, op)) != NULL)
		return e;
	if (len != NULL)
		*len = n;
	return NULL;
}

rt_err *
iso_select_aid(rt_transport *t, const uint8_t *aid, size_t len, uint8_t *resp,
    size_t cap, size_t *rlen)
{
	uint8_t buf[258];
	apdu_cmd c = { .cla = 0x00, .ins = 0xA4, .p1 = 0x04, .p2 = 0x00,
	    .data = aid, .lc = len, .le = 256 };
	size_t n;
	rt_err *e = xfer(t, "SELECT application", &c, buf, sizeof(buf), &n);
	if (e != NULL)
		return e;
	if (resp != NULL) {
		if (n > cap)
			n = cap;
		memcpy(resp, buf, n);
		*rlen = n;
	}
	return NULL;
}

rt_err *
iso_select_path(rt_transport *t, const uint8_t *path, size_t len, size_t *size)
{
	*size = 0;
	if (len >= 2 && path[0] == 0x3F && path[1] == 0x00) {
		path += 2;
		len -= 2;
	}
	if (len == 0 || len % 2 != 0)
		return rt_err_new(RT_E_ARG, NULL, "SELECT: a path of %zu bytes", len);
	uint8_t buf[258];
	apdu_cmd c = { .cla = 0x00, .ins = 0xA4, .p1 = 0x08, .p2 = 0x04,
	    .data = path, .lc = len, .le = 256 };
	size_t n;
	char what[64], hex[33];
	rt_hex_encode(path, len, hex, sizeof(hex), RT_HEX_UPPER);
	snprintf(what, sizeof(what), "SELECT 3F00%s", hex);
	rt_err *e = xfer(t, what, &c, buf, sizeof(buf), &n);
	if (e != NULL)
		return e;
	if (n == 0)
		return NULL;                    /* a card that gives no FCP */
	const uint8_t *fcp, *v;
	size_t fl, vl;
	if ((e = tlv_find(buf, n, 0x62, &fcp, &fl)) != NULL &&
	    rt_err_has(e, RT_E_NOT_FOUND)) {
		rt_err_free(e);
		e = tlv_find(buf, n, 0x6F, &fcp, &fl);
	}
	if (e != NULL)
		return rt_err_new(RT_E_PROTOCOL, e, "%s: the FCP does not parse", what);
	if ((e = tlv_find(fcp, fl, 0x80, &v, &vl)) != NULL &&
	    rt_err_has(e, RT_E_NOT_FOUND)) {
		rt_err_free(e);
		e = tlv_find(fcp, fl, 0x81, &v, &vl);
	}
	if (e != NULL) {
		bool absent = rt_err_has(e, RT_E_NOT_FOUND);
		rt_err_free(e);
		return absent ? NULL : rt_err_new(RT_E_PROTOCOL, NULL, "%s: FCP", what);
	}
	if (vl == 0 || vl > 4)
		return rt_err_new(RT_E_PROTOCOL, NULL, "%s: file size of %zu bytes", what, vl);
	for (size_t i = 0; i < vl; i++)
		*size = *size << 8 | v[i];
	return NULL;
}

rt_err *
iso_read_file(rt_transport *t, const uint8_t *path, size_t plen, size_t max,
    uint8_t **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	size_t size;
	rt_err *e = iso_select_path(t, path, plen, &size);
	if (e != NULL)
		return e;
	if (size > max)
		return rt_err_new(RT_E_TOO_BIG, NULL, "EF of %zu bytes, at most %zu read",
		    size, max);
	uint8_t *b = malloc(size ? size : 1);
	if (b == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "EF of %zu bytes", size);
	size_t off = 0;
	while (off < size) {
		size_t want = size - off;
		if (want > 256)
			want = 256;
		if (off > 0x7FFF) {
			free(b);
			return rt_err_new(RT_E_TOO_BIG, NULL, "READ BINARY offset %zu", off);
		}
		apdu_cmd c = { .cla = 0x00, .ins = 0xB0, .p1 = (uint8_t)(off >> 8),
		    .p2 = (uint8_t)off, .le = want };
		size_t n;
		if ((e = xfer(t, "READ BINARY", &c, b + off, size - off, &n)) != NULL) {
			free(b);
			return e;
		}
		if (n == 0)
			break;          /* the card has less than it said */
		off += n;
	}
	*data = b;
	*len = off;
	return NULL;
}

rt_err *
iso_verify(rt_transport *t, uint8_t ref, const uint8_t *pin, size_t len,
    int *left)
{
	apdu_cmd c = { .cla = 0x00, .ins = 0x20, .p1 = 0x00, .p2 = ref,
	    .data = pin, .lc = pin ? len : 0 };
	uint16_t sw;
	size_t n;
	uint8_t buf[2];
	if (left != NULL)
		*left = -1;
	rt_err *e = apdu_exchange(t, &c, buf, sizeof(buf), &n, &sw);
	if (e != NULL)
		return rt_err_wrap(e, "VERIFY");
	if (pin == NULL && (sw & 0xFFF0) == 0x63C0) {
		if (left != NULL)
			*left = sw & 0x0F;
		return NULL;
	}
	if (pin == NULL && sw == 0x6983) {
		if (left != NULL)
			*left = 0;
	}
	return piv_sw_error(sw, "VERIFY");
}
