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

/* SELECT by path (P1 08) asking for the FCP: its content (inside 62 or
 * 6F) into fcpbuf, *fl 0 when the card gives none; what: the command's
 * name for messages. */
static rt_err *
select_fcp(rt_transport *t, const uint8_t *path, size_t len, uint8_t *buf,
    size_t cap, const uint8_t **fcp, size_t *fl, char *what, size_t wcap)
{
	*fl = 0;
	*fcp = NULL;
	if (len >= 2 && path[0] == 0x3F && path[1] == 0x00) {
		path += 2;
		len -= 2;
	}
	if (len == 0 || len % 2 != 0)
		return rt_err_new(RT_E_ARG, NULL, "SELECT: a path of %zu bytes", len);
	apdu_cmd c = { .cla = 0x00, .ins = 0xA4, .p1 = 0x08, .p2 = 0x04,
	    .data = path, .lc = len, .le = 256 };
	size_t n;
	char hex[33];
	rt_hex_encode(path, len, hex, sizeof(hex), RT_HEX_UPPER);
	snprintf(what, wcap, "SELECT 3F00%s", hex);
	rt_err *e = xfer(t, what, &c, buf, cap, &n);
	if (e != NULL)
		return e;
	if (n == 0)
		return NULL;                    /* a card that gives no FCP */
	if ((e = tlv_find(buf, n, 0x62, fcp, fl)) != NULL &&
	    rt_err_has(e, RT_E_NOT_FOUND)) {
		rt_err_free(e);
		e = tlv_find(buf, n, 0x6F, fcp, fl);
	}
	if (e != NULL)
		return rt_err_new(RT_E_PROTOCOL, e, "%s: the FCP does not parse", what);
	return NULL;
}

rt_err *
iso_file_sa(rt_transport *t, const uint8_t *path, size_t plen, uint8_t sa[8],
    bool *has)
{
	uint8_t buf[258];
	char what[64];
	const uint8_t *fcp, *v;
	size_t fl, vl;
	*has = false;
	rt_err *e = select_fcp(t, path, plen, buf, sizeof(buf), &fcp, &fl, what,
	    sizeof(what));
	if (e != NULL || fl == 0)
		return e;
	if ((e = tlv_find(fcp, fl, 0x86, &v, &vl)) != NULL) {
		bool absent = rt_err_has(e, RT_E_NOT_FOUND);
		rt_err_free(e);
		return absent ? NULL : rt_err_new(RT_E_PROTOCOL, NULL, "%s: FCP", what);
	}
	if (vl == 8) {
		memcpy(sa, v, 8);
		*has = true;
	}
	return NULL;
}

/* SELECT by path and the EF's size (0 when the FCP gives none). strict
 * (before a command that changes the file): the answer must carry the
 * FCP naming the file (tag 83, the path's last FID), else the card may
 * still have another file current (a SELECT answered 9000 without being
 * done) and nothing is changed. */
static rt_err *
select_path(rt_transport *t, const uint8_t *path, size_t len, bool strict,
    size_t *size)
{
	uint8_t buf[258];
	char what[64];
	const uint8_t *fcp, *v;
	size_t fl, vl;
	*size = 0;
	rt_err *e = select_fcp(t, path, len, buf, sizeof(buf), &fcp, &fl, what,
	    sizeof(what));
	if (e == NULL && strict) {
		if (fl == 0)
			return rt_err_new(RT_E_CARD_STATUS, NULL, "%s: answered "
			    "without the file's FCP: not known to be selected, "
			    "nothing changed", what);
		if ((e = tlv_find(fcp, fl, 0x83, &v, &vl)) != NULL)
			return rt_err_new(RT_E_CARD_STATUS, e, "%s: the FCP names no "
			    "file, nothing changed", what);
		if (vl != 2 || memcmp(v, path + len - 2, 2) != 0)
			return rt_err_new(RT_E_CARD_STATUS, NULL, "%s: the FCP names "
			    "another file, nothing changed", what);
	}
	if (e != NULL || fl == 0)
		return e;
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
iso_select_path(rt_transport *t, const uint8_t *path, size_t len, size_t *size)
{
	return select_path(t, path, len, false, size);
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

rt_err *
iso_update_file(rt_transport *t, const uint8_t *path, size_t plen,
    const uint8_t *data, size_t len)
{
	size_t size;
	rt_err *e = select_path(t, path, plen, true, &size);
	if (e != NULL)
		return e;
	if ((size > 0 && len > size) || len > 65535)
		return rt_err_new(RT_E_TOO_BIG, NULL, "UPDATE BINARY: %zu bytes for "
		    "an EF of %zu", len, size);
	apdu_cmd c = { .cla = 0x00, .ins = 0xD6, .p1 = 0, .p2 = 0,
	    .data = data, .lc = len };
	return xfer(t, "UPDATE BINARY", &c, NULL, 0, NULL);
}

rt_err *
iso_create_ef(rt_transport *t, const uint8_t *df, size_t dlen, uint16_t fid,
    size_t size, const uint8_t *sa)
{
	size_t dsize;
	rt_err *e = select_path(t, df, dlen, true, &dsize);
	if (e != NULL)
		return e;
	if (size == 0 || size > 0x7FFF)
		return rt_err_new(RT_E_ARG, NULL, "CREATE FILE %04X: %zu bytes", fid,
		    size);
	uint8_t fcp[32];
	size_t n = 0;
	fcp[n++] = 0x62;
	fcp[n++] = 0;                   /* length below */
	fcp[n++] = 0x80; fcp[n++] = 2;
	fcp[n++] = (uint8_t)(size >> 8); fcp[n++] = (uint8_t)size;
	fcp[n++] = 0x82; fcp[n++] = 1; fcp[n++] = 0x01;  /* transparent EF */
	fcp[n++] = 0x83; fcp[n++] = 2;
	fcp[n++] = (uint8_t)(fid >> 8); fcp[n++] = (uint8_t)fid;
	if (sa != NULL) {
		fcp[n++] = 0x86; fcp[n++] = 8;
		memcpy(fcp + n, sa, 8);
		n += 8;
	}
	fcp[1] = (uint8_t)(n - 2);
	char what[32];
	snprintf(what, sizeof(what), "CREATE FILE %04X", fid);
	apdu_cmd c = { .cla = 0x00, .ins = 0xE0, .p1 = 0, .p2 = 0,
	    .data = fcp, .lc = n };
	return xfer(t, what, &c, NULL, 0, NULL);
}

rt_err *
iso_delete_file(rt_transport *t, const uint8_t *path, size_t plen)
{
	size_t size;
	rt_err *e = select_path(t, path, plen, true, &size);
	if (e != NULL)
		return e;
	apdu_cmd c = { .cla = 0x00, .ins = 0xE4, .p1 = 0, .p2 = 0 };
	return xfer(t, "DELETE FILE", &c, NULL, 0, NULL);
}

rt_err *
iso_sign(rt_transport *t, uint8_t key, uint8_t alg, const uint8_t *data,
    size_t len, uint8_t *out, size_t cap, size_t *olen)
{
	uint8_t se[6] = { 0x80, 0x01, alg, 0x84, 0x01, key };
	apdu_cmd mse = { .cla = 0x00, .ins = 0x22, .p1 = 0x41, .p2 = 0xB6,
	    .data = se, .lc = sizeof(se) };
	rt_err *e = xfer(t, "MSE SET", &mse, NULL, 0, NULL);
	if (e != NULL)
		return e;
	apdu_cmd pso = { .cla = 0x00, .ins = 0x2A, .p1 = 0x9E, .p2 = 0x9A,
	    .data = data, .lc = len, .le = cap > 256 ? cap : 256 };
	return xfer(t, "PSO COMPUTE DIGITAL SIGNATURE", &pso, out, cap, olen);
}
