/* piv.c - the PIV card profile; see include/raterm/piv.h */
#include "raterm/piv.h"
#include "raterm/apdu.h"
#include "raterm/tlv.h"
#include "raterm/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/aes.h>
#include <mbedtls/des.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ctr_drbg.h>
#include <zlib.h>

static const uint8_t piv_aid[] = {
	0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00
};

const uint8_t piv_cert_slots[24] = {
	0x9A, 0x9C, 0x9D, 0x9E,
	0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B,
	0x8C, 0x8D, 0x8E, 0x8F, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95,
};

struct piv_card {
	rt_transport *t;
	piv_app_info app;
	uint8_t *buf;		/* RT_APDU_MAX_RSP response buffer */
};

#define PIV_BUF RT_APDU_MAX_RSP

/* ---- names -------------------------------------------------------------- */

static const struct { piv_alg a; const char *name; } alg_names[] = {
	{ PIV_ALG_3DES, "3DES" }, { PIV_ALG_RSA1024, "RSA1024" },
	{ PIV_ALG_RSA2048, "RSA2048" }, { PIV_ALG_RSA3072, "RSA3072" },
	{ PIV_ALG_RSA4096, "RSA4096" }, { PIV_ALG_AES128, "AES128" },
	{ PIV_ALG_AES192, "AES192" }, { PIV_ALG_AES256, "AES256" },
	{ PIV_ALG_ECCP256, "ECCP256" }, { PIV_ALG_ECCP384, "ECCP384" },
};

const char *
piv_alg_name(piv_alg a)
{
	for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
		if (alg_names[i].a == a)
			return alg_names[i].name;
	return "UNKNOWN";
}

piv_alg
piv_alg_from_name(const char *s)
{
	for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
		if (strcasecmp(alg_names[i].name, s) == 0)
			return alg_names[i].a;
	return PIV_ALG_NONE;
}

uint32_t
piv_cert_tag(uint8_t slot)
{
	switch (slot) {
	case 0x9A: return 0x5FC105;
	case 0x9C: return 0x5FC10A;
	case 0x9D: return 0x5FC10B;
	case 0x9E: return 0x5FC101;
	case 0xF9: return 0x5FFF01;
	default:
		if (slot >= 0x82 && slot <= 0x95)
			return 0x5FC10Du + (uint32_t)(slot - 0x82);
		return 0;
	}
}

const char *
piv_slot_name(uint8_t slot, char *buf, size_t cap)
{
	snprintf(buf, cap, "%02x", slot);
	return buf;
}

bool
piv_slot_parse(const char *s, uint8_t *slot)
{
	char *end;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (strlen(s) != 2 || !isxdigit((unsigned char)s[0]) ||
	    !isxdigit((unsigned char)s[1]))
		return false;
	unsigned long v = strtoul(s, &end, 16);
	if (*end != '\0' || piv_cert_tag((uint8_t)v) == 0)
		return false;
	*slot = (uint8_t)v;
	return true;
}

/* ---- status words: the one table -------------------------------------- */

static const struct {
	uint16_t sw, mask;
	rt_err_kind kind;
	const char *what;
} sw_table[] = {
	{ 0x6982, 0xFFFF, RT_E_PERMISSION, "security status not satisfied" },
	{ 0x6983, 0xFFFF, RT_E_PIN_BLOCKED, "authentication method blocked" },
	{ 0x6984, 0xFFFF, RT_E_AUTH, "reference data not usable" },
	{ 0x6985, 0xFFFF, RT_E_CARD_STATUS, "conditions of use not satisfied" },
	{ 0x6A80, 0xFFFF, RT_E_CARD_STATUS, "incorrect data in the command" },
	{ 0x6A81, 0xFFFF, RT_E_NOT_SUPPORTED, "function not supported" },
	{ 0x6A82, 0xFFFF, RT_E_NOT_FOUND, "data object or application not found" },
	{ 0x6A84, 0xFFFF, RT_E_CARD_FULL, "not enough memory on the card" },
	{ 0x6A86, 0xFFFF, RT_E_CARD_STATUS, "incorrect P1/P2" },
	{ 0x6A88, 0xFFFF, RT_E_NOT_FOUND, "referenced data not found" },
	{ 0x6700, 0xFFFF, RT_E_PROTOCOL, "wrong length" },
	{ 0x6D00, 0xFFFF, RT_E_NOT_SUPPORTED, "instruction not supported" },
	{ 0x6E00, 0xFFFF, RT_E_NOT_SUPPORTED, "class not supported" },
	{ 0x6581, 0xFFFF, RT_E_CARD_STATUS, "memory failure" },
	{ 0x6400, 0xFF00, RT_E_CARD_STATUS, "execution error" },
	{ 0x6F00, 0xFF00, RT_E_CARD_STATUS, "no precise diagnosis" },
	{ 0x63C0, 0xFFF0, RT_E_PIN_WRONG, "verification failed" },
};

rt_err *
piv_sw_error(uint16_t sw, const char *op)
{
	if (sw == SW_OK)
		return NULL;
	for (size_t i = 0; i < sizeof(sw_table) / sizeof(sw_table[0]); i++) {
		if ((sw & sw_table[i].mask) != sw_table[i].sw)
			continue;
		rt_err *e;
		if (sw_table[i].kind == RT_E_PIN_WRONG) {
			int left = sw & 0x0F;
			e = rt_err_sw(left ? RT_E_PIN_WRONG : RT_E_PIN_BLOCKED, sw,
			    "%s: %s, %d retr%s left", op, sw_table[i].what,
			    left, left == 1 ? "y" : "ies");
			rt_err_set_detail(e, left);
			return e;
		}
		return rt_err_sw(sw_table[i].kind, sw, "%s: %s", op,
		    sw_table[i].what);
	}
	return rt_err_sw(RT_E_CARD_STATUS, sw, "%s: unexpected card status %04X",
	    op, sw);
}

/* ---- exchange helper -------------------------------------------------- */

/* Sends an APDU; on success (9000) the response is in c->buf[0..*len).
 * Any other status word becomes the mapped error. */
static rt_err *
xfer(piv_card *c, const char *op, uint8_t ins, uint8_t p1, uint8_t p2,
    const uint8_t *data, size_t lc, size_t le, size_t *len)
{
	apdu_cmd cmd = { .cla = 0x00, .ins = ins, .p1 = p1, .p2 = p2,
	    .data = data, .lc = lc, .le = le };
	uint16_t sw;
	size_t n = 0;
	if (len != NULL)
		*len = 0;
	rt_err *e = apdu_exchange(c->t, &cmd, c->buf, PIV_BUF, &n, &sw);
	if (e != NULL)
		return rt_err_wrap(e, "%s", op);
	if (len != NULL)
		*len = n;
	return piv_sw_error(sw, op);
}

/* ---- open / select ----------------------------------------------------- */

static rt_err *
parse_apt(const uint8_t *buf, size_t len, piv_app_info *app)
{
	const uint8_t *v, *in;
	size_t vl, il;
	uint32_t tag;
	rt_err *e;
	tlv_cur c, ic;

	memset(app, 0, sizeof(*app));
	if (len == 0)
		return NULL;	/* some cards answer SELECT with no data */
	tlv_init(&c, buf, len);
	if ((e = tlv_expect(&c, 0x61, &v, &vl)) != NULL)
		return rt_err_wrap(e, "application property template");
	if ((e = tlv_end(&c)) != NULL)
		return rt_err_wrap(e, "SELECT reply");
	tlv_init(&c, v, vl);
	while (!tlv_at_end(&c)) {
		if ((e = tlv_next(&c, &tag, &in, &il)) != NULL)
			return rt_err_wrap(e, "application property template");
		switch (tag) {
		case 0x4F:
			if (il > sizeof(app->aid))
				il = sizeof(app->aid);
			memcpy(app->aid, in, il);
			app->aid_len = il;
			break;
		case 0x50:
			snprintf(app->label, sizeof(app->label), "%.*s",
			    (int)il, (const char *)in);
			for (char *p = app->label; *p; p++)
				if (!isprint((unsigned char)*p))
					*p = '?';
			break;
		case 0xAC:
			tlv_init(&ic, in, il);
			while (!tlv_at_end(&ic)) {
				const uint8_t *av;
				size_t al;
				uint32_t at;
				if ((e = tlv_next(&ic, &at, &av, &al)) != NULL)
					return rt_err_wrap(e, "algorithm list");
				if (at == 0x80 && al == 1 &&
				    app->nalgs < sizeof(app->algs) / sizeof(app->algs[0]))
					app->algs[app->nalgs++] = (piv_alg)av[0];
			}
			break;
		default:
			break;	/* 79, 5F50 URL, ...: not needed */
		}
	}
	return NULL;
}

rt_err *
piv_open(rt_transport *t, piv_card **out)
{
	piv_card *c = calloc(1, sizeof(*c));
	rt_err *e;
	size_t len;

	if (c == NULL || (c->buf = malloc(PIV_BUF)) == NULL) {
		free(c);
		return rt_err_new(RT_E_NOMEM, NULL, "PIV card");
	}
	c->t = t;
	if ((e = rt_transport_begin(t)) != NULL) {
		piv_close(c);
		return e;
	}
	e = xfer(c, "SELECT PIV application", 0xA4, 0x04, 0x00, piv_aid,
	    sizeof(piv_aid), 256, &len);
	if (e != NULL) {
		if (rt_err_has(e, RT_E_NOT_FOUND) ||
		    rt_err_has(e, RT_E_NOT_SUPPORTED) ||
		    rt_err_has(e, RT_E_CARD_STATUS))
			e = rt_err_new(RT_E_NOT_PIV, e,
			    "the card in \"%s\" has no PIV application", t->reader);
		piv_close(c);
		return e;
	}
	if ((e = parse_apt(c->buf, len, &c->app)) != NULL) {
		piv_close(c);
		return rt_err_new(RT_E_NOT_PIV, e,
		    "malformed PIV SELECT reply from \"%s\"", t->reader);
	}
	*out = c;
	return NULL;
}

void
piv_close(piv_card *c)
{
	if (c == NULL)
		return;
	if (c->t != NULL)
		rt_transport_end(c->t);
	if (c->buf != NULL) {
		rt_wipe(c->buf, PIV_BUF);
		free(c->buf);
	}
	free(c);
}

rt_transport *piv_transport(piv_card *c) { return c->t; }
const piv_app_info *piv_app(const piv_card *c) { return &c->app; }

/* ---- data objects ------------------------------------------------------ */

static size_t
tag_bytes(uint32_t tag, uint8_t *b)
{
	size_t n = tlv_tag_size(tag);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(tag >> (8 * (n - 1 - i)));
	return n;
}

rt_err *
piv_read_object(piv_card *c, uint32_t tag, uint8_t *buf, size_t cap, size_t *len)
{
	uint8_t req[5];
	size_t n, rlen;
	const uint8_t *v;
	size_t vl;
	uint32_t got;
	tlv_cur cur;
	rt_err *e;
	char op[48];

	snprintf(op, sizeof(op), "GET DATA %X", tag);
	req[0] = 0x5C;
	n = tag_bytes(tag, req + 2);
	req[1] = (uint8_t)n;
	if ((e = xfer(c, op, 0xCB, 0x3F, 0xFF, req, n + 2, 65536, &rlen)))
		return e;
	tlv_init(&cur, c->buf, rlen);
	if ((e = tlv_next(&cur, &got, &v, &vl)) != NULL)
		return rt_err_wrap(e, "%s reply", op);
	if (got != (tag == PIV_TAG_DISCOVERY ? 0x7Eu : 0x53u))
		return rt_err_new(RT_E_TLV, NULL, "%s reply: unexpected tag %X",
		    op, got);
	if ((e = tlv_end(&cur)) != NULL)
		return rt_err_wrap(e, "%s reply", op);
	if (vl > cap)
		return rt_err_new(RT_E_TOO_BIG, NULL,
		    "%s: object of %zu bytes exceeds %zu", op, vl, cap);
	memcpy(buf, v, vl);
	*len = vl;
	return NULL;
}

rt_err *
piv_write_object(piv_card *c, uint32_t tag, const uint8_t *content, size_t len)
{
	uint8_t tb[3];
	size_t tn = tag_bytes(tag, tb);
	size_t cap = len + 16;
	uint8_t *req = malloc(cap);
	tlv_w w;
	rt_err *e;
	char op[48];

	if (req == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "PUT DATA");
	snprintf(op, sizeof(op), "PUT DATA %X", tag);
	tlv_w_init(&w, req, cap);
	tlv_w_put(&w, 0x5C, tb, tn);
	tlv_w_put(&w, 0x53, content, len);
	if ((e = tlv_w_finish(&w)) == NULL) {
		if (w.len > 65535)
			e = rt_err_new(RT_E_TOO_BIG, NULL, "%s: %zu bytes", op, w.len);
		else
			e = xfer(c, op, 0xDB, 0x3F, 0xFF, req, w.len, 0, NULL);
	}
	free(req);
	return e;
}

rt_err *
piv_chuid_parse(const uint8_t *buf, size_t len, piv_chuid *out)
{
	tlv_cur c;
	rt_err *e;
	memset(out, 0, sizeof(*out));
	tlv_init(&c, buf, len);
	while (!tlv_at_end(&c)) {
		uint32_t tag;
		const uint8_t *v;
		size_t vl;
		if ((e = tlv_next(&c, &tag, &v, &vl)) != NULL)
			return rt_err_wrap(e, "CHUID");
		switch (tag) {
		case 0x30:
			if (vl == sizeof(out->fascn)) {
				memcpy(out->fascn, v, vl);
				out->has_fascn = true;
			}
			break;
		case 0x34:
			if (vl != 16)
				return rt_err_new(RT_E_TLV, NULL,
				    "CHUID: GUID of %zu bytes, expected 16", vl);
			memcpy(out->guid, v, 16);
			out->has_guid = true;
			break;
		case 0x35:
			if (vl != 8)
				return rt_err_new(RT_E_TLV, NULL,
				    "CHUID: expiry of %zu bytes, expected 8", vl);
			for (size_t i = 0; i < 8; i++)
				if (!isdigit(v[i]))
					return rt_err_new(RT_E_TLV, NULL,
					    "CHUID: expiry is not YYYYMMDD");
			memcpy(out->expiry, v, 8);
			out->expiry[8] = '\0';
			out->has_expiry = true;
			break;
		default:
			break;
		}
	}
	return NULL;
}

rt_err *
piv_read_chuid(piv_card *c, piv_chuid *out)
{
	uint8_t buf[4096];
	size_t len;
	rt_err *e = piv_read_object(c, PIV_TAG_CHUID, buf, sizeof(buf), &len);
	if (e != NULL)
		return e;
	return piv_chuid_parse(buf, len, out);
}

rt_err *
piv_get_serial(piv_card *c, uint32_t *serial)
{
	size_t len = 0;
	rt_err *e = xfer(c, "GET SERIAL", 0xF8, 0, 0, NULL, 0, 256, &len);
	if (e != NULL)
		return e;
	if (len != 4)
		return rt_err_new(RT_E_PROTOCOL, NULL,
		    "GET SERIAL: %zu bytes, expected 4", len);
	*serial = (uint32_t)c->buf[0] << 24 | (uint32_t)c->buf[1] << 16 |
	    (uint32_t)c->buf[2] << 8 | c->buf[3];
	return NULL;
}

rt_err *
piv_get_version(piv_card *c, uint8_t version[3])
{
	size_t len = 0;
	rt_err *e = xfer(c, "GET VERSION", 0xFD, 0, 0, NULL, 0, 256, &len);
	if (e != NULL)
		return e;
	if (len != 3)
		return rt_err_new(RT_E_PROTOCOL, NULL,
		    "GET VERSION: %zu bytes, expected 3", len);
	memcpy(version, c->buf, 3);
	return NULL;
}

/* ---- certificates ------------------------------------------------------ */

static rt_err *
inflate_cert(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
	size_t cap = 16384;
	uint8_t *buf = NULL;
	z_stream z;
	int rc;

	for (;;) {
		uint8_t *nb = realloc(buf, cap);
		if (nb == NULL) {
			free(buf);
			return rt_err_new(RT_E_NOMEM, NULL, "inflate");
		}
		buf = nb;
		memset(&z, 0, sizeof(z));
		if (inflateInit2(&z, 15 + 32) != Z_OK) {
			free(buf);
			return rt_err_new(RT_E_NOMEM, NULL, "inflate");
		}
		z.next_in = (Bytef *)(uintptr_t)in;
		z.avail_in = (uInt)in_len;
		z.next_out = buf;
		z.avail_out = (uInt)cap;
		rc = inflate(&z, Z_FINISH);
		size_t produced = z.total_out;
		inflateEnd(&z);
		if (rc == Z_STREAM_END) {
			*out = buf;
			*out_len = produced;
			return NULL;
		}
		if (rc == Z_BUF_ERROR && z.avail_out == 0 && cap < 262144) {
			cap *= 4;
			continue;
		}
		free(buf);
		return rt_err_new(RT_E_FORMAT, NULL,
		    "compressed certificate does not inflate (zlib %d)", rc);
	}
}

rt_err *
piv_cert_parse(const uint8_t *buf, size_t len, uint8_t **der, size_t *der_len)
{
	const uint8_t *cert = NULL;
	size_t cert_len = 0;
	uint8_t info = 0;
	tlv_cur c;
	rt_err *e;

	if (len == 0)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "empty certificate object");
	tlv_init(&c, buf, len);
	while (!tlv_at_end(&c)) {
		uint32_t tag;
		const uint8_t *v;
		size_t vl;
		if ((e = tlv_next(&c, &tag, &v, &vl)) != NULL)
			return rt_err_wrap(e, "certificate object");
		if (tag == 0x70) {
			cert = v;
			cert_len = vl;
		} else if (tag == 0x71) {
			if (vl > 1)
				return rt_err_new(RT_E_TLV, NULL,
				    "certificate object: CertInfo of %zu bytes", vl);
			info = vl ? v[0] : 0;
		}
	}
	if (cert == NULL || cert_len == 0)
		return rt_err_new(RT_E_NOT_FOUND, NULL,
		    "certificate object holds no certificate");
	if (info & 0x01)
		return inflate_cert(cert, cert_len, der, der_len);
	*der = malloc(cert_len);
	if (*der == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "certificate");
	memcpy(*der, cert, cert_len);
	*der_len = cert_len;
	return NULL;
}

rt_err *
piv_read_cert(piv_card *c, uint8_t slot, uint8_t **der, size_t *der_len)
{
	uint32_t tag = piv_cert_tag(slot);
	uint8_t *buf;
	size_t len;
	rt_err *e;

	if (tag == 0)
		return rt_err_new(RT_E_ARG, NULL, "slot %02x holds no certificate",
		    slot);
	if ((buf = malloc(65536)) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "certificate buffer");
	e = piv_read_object(c, tag, buf, 65536, &len);
	if (e == NULL)
		e = piv_cert_parse(buf, len, der, der_len);
	free(buf);
	if (e != NULL)
		return rt_err_wrap(e, "slot %02x", slot);
	return NULL;
}

rt_err *
piv_write_cert(piv_card *c, uint8_t slot, const uint8_t *der, size_t len)
{
	uint32_t tag = piv_cert_tag(slot);
	size_t cap = len + 16;
	uint8_t *obj;
	tlv_w w;
	rt_err *e;

	if (tag == 0)
		return rt_err_new(RT_E_ARG, NULL, "slot %02x holds no certificate",
		    slot);
	if ((obj = malloc(cap)) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "certificate object");
	tlv_w_init(&w, obj, cap);
	tlv_w_put(&w, 0x70, der, len);
	tlv_w_put_u8(&w, 0x71, 0x00);
	tlv_w_put(&w, 0xFE, NULL, 0);
	if ((e = tlv_w_finish(&w)) == NULL)
		e = piv_write_object(c, tag, obj, w.len);
	free(obj);
	if (e != NULL)
		return rt_err_wrap(e, "writing the certificate of slot %02x", slot);
	return NULL;
}

rt_err *
piv_delete_cert(piv_card *c, uint8_t slot)
{
	uint32_t tag = piv_cert_tag(slot);
	rt_err *e;
	if (tag == 0)
		return rt_err_new(RT_E_ARG, NULL, "slot %02x holds no certificate",
		    slot);
	if ((e = piv_write_object(c, tag, NULL, 0)) != NULL)
		return rt_err_wrap(e, "deleting the certificate of slot %02x", slot);
	return NULL;
}

/* ---- keys -------------------------------------------------------------- */

static bool
is_rsa(piv_alg a)
{
	return a == PIV_ALG_RSA1024 || a == PIV_ALG_RSA2048 ||
	    a == PIV_ALG_RSA3072 || a == PIV_ALG_RSA4096;
}

static size_t
ec_size(piv_alg a)
{
	return a == PIV_ALG_ECCP256 ? 32 : a == PIV_ALG_ECCP384 ? 48 : 0;
}

rt_err *
piv_pubkey_parse(piv_alg alg, const uint8_t *buf, size_t len, piv_pubkey *out)
{
	tlv_cur c;
	const uint8_t *v;
	size_t vl;
	rt_err *e;

	memset(out, 0, sizeof(*out));
	if (len > sizeof(out->buf))
		return rt_err_new(RT_E_TOO_BIG, NULL, "public key of %zu bytes", len);
	memcpy(out->buf, buf, len);
	tlv_init(&c, out->buf, len);
	if ((e = tlv_expect(&c, 0x7F49, &v, &vl)) != NULL)
		return rt_err_wrap(e, "public key");
	if ((e = tlv_end(&c)) != NULL)
		return rt_err_wrap(e, "public key");
	tlv_init(&c, v, vl);
	while (!tlv_at_end(&c)) {
		uint32_t tag;
		const uint8_t *iv;
		size_t il;
		if ((e = tlv_next(&c, &tag, &iv, &il)) != NULL)
			return rt_err_wrap(e, "public key");
		if (tag == 0x81) {
			out->n = (uint8_t *)(uintptr_t)iv;
			out->n_len = il;
		} else if (tag == 0x82) {
			out->e = (uint8_t *)(uintptr_t)iv;
			out->e_len = il;
		} else if (tag == 0x86) {
			out->point = (uint8_t *)(uintptr_t)iv;
			out->point_len = il;
		}
	}
	if (is_rsa(alg)) {
		if (out->n == NULL || out->e == NULL || out->n_len == 0 ||
		    out->e_len == 0 || out->e_len > 8)
			return rt_err_new(RT_E_FORMAT, NULL,
			    "RSA public key lacks modulus or exponent");
	} else if (ec_size(alg)) {
		if (out->point == NULL || out->point_len != 1 + 2 * ec_size(alg) ||
		    out->point[0] != 0x04)
			return rt_err_new(RT_E_FORMAT, NULL,
			    "EC public key is not an uncompressed %s point",
			    piv_alg_name(alg));
	} else
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL,
		    "public key of algorithm %02x", alg);
	return NULL;
}

rt_err *
piv_metadata_parse(const uint8_t *buf, size_t len, piv_metadata *out)
{
	tlv_cur c;
	rt_err *e;
	const uint8_t *pk = NULL;
	size_t pk_len = 0;

	memset(out, 0, sizeof(*out));
	out->retries_total = out->retries_left = -1;
	tlv_init(&c, buf, len);
	while (!tlv_at_end(&c)) {
		uint32_t tag;
		const uint8_t *v;
		size_t vl;
		if ((e = tlv_next(&c, &tag, &v, &vl)) != NULL)
			return rt_err_wrap(e, "metadata");
		switch (tag) {
		case 0x01:
			if (vl != 1)
				return rt_err_new(RT_E_TLV, NULL, "metadata: algorithm");
			out->alg = (piv_alg)v[0];
			break;
		case 0x02:
			if (vl != 2)
				return rt_err_new(RT_E_TLV, NULL, "metadata: policy");
			out->pin_policy = v[0];
			out->touch_policy = v[1];
			break;
		case 0x03:
			if (vl != 1)
				return rt_err_new(RT_E_TLV, NULL, "metadata: origin");
			out->origin = v[0];
			break;
		case 0x04:
			pk = v;
			pk_len = vl;
			break;
		case 0x05:
			out->is_default = vl == 1 && v[0] != 0;
			out->has_default = vl == 1;
			break;
		case 0x06:
			if (vl != 2)
				return rt_err_new(RT_E_TLV, NULL, "metadata: retries");
			out->retries_total = v[0];
			out->retries_left = v[1];
			break;
		default:
			break;
		}
	}
	if (pk != NULL && (is_rsa(out->alg) || ec_size(out->alg))) {
		/* metadata carries the 7F49 value without its tag; re-wrap */
		uint8_t tmp[1024];
		tlv_w w;
		tlv_w_init(&w, tmp, sizeof(tmp));
		tlv_w_put(&w, 0x7F49, pk, pk_len);
		if ((e = tlv_w_finish(&w)) != NULL)
			return rt_err_wrap(e, "metadata: public key");
		if ((e = piv_pubkey_parse(out->alg, tmp, w.len, &out->pub)))
			return rt_err_wrap(e, "metadata");
		out->has_pubkey = true;
	}
	return NULL;
}

rt_err *
piv_get_metadata(piv_card *c, uint8_t slot, piv_metadata *out)
{
	size_t len;
	char op[32];
	snprintf(op, sizeof(op), "GET METADATA %02x", slot);
	rt_err *e = xfer(c, op, 0xF7, 0x00, slot, NULL, 0, 1024, &len);
	if (e != NULL) {
		if (rt_err_sw_of(e) == 0x6A86 || rt_err_sw_of(e) == 0x6E00 ||
		    rt_err_sw_of(e) == 0x6D00) {
			rt_err_free(e);
			return rt_err_new(RT_E_NOT_SUPPORTED, NULL,
			    "the card offers no key metadata");
		}
		return e;
	}
	return piv_metadata_parse(c->buf, len, out);
}

rt_err *
piv_default_creds(piv_card *c, unsigned *defaults, unsigned *known)
{
	static const struct { uint8_t ref; unsigned bit; } refs[] = {
		{ 0x80, PIV_DEFAULT_PIN }, { 0x81, PIV_DEFAULT_PUK },
		{ PIV_SLOT_MGMT, PIV_DEFAULT_MGMT },
	};
	unsigned def = 0, got = 0;
	*defaults = 0;
	if (known != NULL)
		*known = 0;
	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		piv_metadata md;
		rt_err *e = piv_get_metadata(c, refs[i].ref, &md);
		if (e != NULL && (rt_err_kind_of(e) == RT_E_NOT_SUPPORTED ||
		    rt_err_kind_of(e) == RT_E_NOT_FOUND ||
		    rt_err_kind_of(e) == RT_E_CARD_STATUS)) {
			/* this reference has no metadata on this card */
			rt_err_free(e);
			continue;
		}
		if (e != NULL)
			return rt_err_wrap(e, "asking the card for default "
			    "credentials");
		if (!md.has_default)
			continue;
		got |= refs[i].bit;
		if (md.is_default)
			def |= refs[i].bit;
	}
	if (got == 0)
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "the card does not "
		    "tell whether its PIN, PUK or management key are default");
	*defaults = def;
	if (known != NULL)
		*known = got;
	return NULL;
}

/* ---- PIN --------------------------------------------------------------- */

static rt_err *
pad_pin(const char *pin, size_t len, uint8_t out[8], const char *what)
{
	if (len < 6 || len > 8)
		return rt_err_new(RT_E_PIN_FORMAT, NULL,
		    "%s must be 6 to 8 characters, not %zu", what, len);
	memset(out, 0xFF, 8);
	memcpy(out, pin, len);
	return NULL;
}

rt_err *
piv_pin_retries(piv_card *c, int *retries)
{
	apdu_cmd cmd = { .ins = 0x20, .p1 = 0x00, .p2 = 0x80 };
	uint16_t sw;
	size_t n;
	rt_err *e = apdu_exchange(c->t, &cmd, c->buf, PIV_BUF, &n, &sw);
	if (e != NULL)
		return rt_err_wrap(e, "reading the PIN retry counter");
	if (sw == SW_OK) {
		*retries = -1;
		return NULL;
	}
	if ((sw & 0xFFF0) == 0x63C0) {
		*retries = sw & 0x0F;
		return NULL;
	}
	if (sw == 0x6983) {
		*retries = 0;
		return NULL;
	}
	return piv_sw_error(sw, "reading the PIN retry counter");
}

rt_err *
piv_verify_pin(piv_card *c, const char *pin, size_t len)
{
	uint8_t data[8];
	rt_err *e = pad_pin(pin, len, data, "the PIN");
	if (e == NULL)
		e = xfer(c, "VERIFY PIN", 0x20, 0x00, 0x80, data, 8, 0, NULL);
	rt_wipe(data, sizeof(data));
	return e;
}

rt_err *
piv_change_ref(piv_card *c, bool puk, const char *old, size_t old_len,
    const char *new_, size_t new_len)
{
	uint8_t data[16];
	const char *what = puk ? "the PUK" : "the PIN";
	rt_err *e = pad_pin(old, old_len, data, what);
	if (e == NULL)
		e = pad_pin(new_, new_len, data + 8, puk ? "the new PUK" : "the new PIN");
	if (e == NULL)
		e = xfer(c, puk ? "CHANGE PUK" : "CHANGE PIN", 0x24, 0x00,
		    puk ? 0x81 : 0x80, data, 16, 0, NULL);
	rt_wipe(data, sizeof(data));
	return e;
}

rt_err *
piv_unblock_pin(piv_card *c, const char *puk, size_t puk_len,
    const char *new_pin, size_t new_len)
{
	uint8_t data[16];
	rt_err *e = pad_pin(puk, puk_len, data, "the PUK");
	if (e == NULL)
		e = pad_pin(new_pin, new_len, data + 8, "the new PIN");
	if (e == NULL)
		e = xfer(c, "RESET RETRY COUNTER", 0x2C, 0x00, 0x80, data, 16, 0,
		    NULL);
	rt_wipe(data, sizeof(data));
	return e;
}

/* ---- management key ---------------------------------------------------- */

static rt_err *
block_crypt(piv_alg alg, const uint8_t *key, size_t key_len, bool enc,
    const uint8_t *in, uint8_t *out)
{
	int rc;
	if (alg == PIV_ALG_3DES) {
		mbedtls_des3_context d;
		mbedtls_des3_init(&d);
		rc = enc ? mbedtls_des3_set3key_enc(&d, key) :
		    mbedtls_des3_set3key_dec(&d, key);
		if (rc == 0)
			rc = mbedtls_des3_crypt_ecb(&d, in, out);
		mbedtls_des3_free(&d);
	} else {
		mbedtls_aes_context a;
		mbedtls_aes_init(&a);
		rc = enc ? mbedtls_aes_setkey_enc(&a, key, (unsigned)key_len * 8) :
		    mbedtls_aes_setkey_dec(&a, key, (unsigned)key_len * 8);
		if (rc == 0)
			rc = mbedtls_aes_crypt_ecb(&a, enc ? MBEDTLS_AES_ENCRYPT :
			    MBEDTLS_AES_DECRYPT, in, out);
		mbedtls_aes_free(&a);
	}
	if (rc != 0)
		return rt_err_new(RT_E_CRYPTO, NULL,
		    "management-key cipher failed (-0x%04x)", (unsigned)-rc);
	return NULL;
}

static rt_err *
random_bytes(uint8_t *buf, size_t len)
{
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	int rc;
	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent,
	    (const unsigned char *)"raterm-piv", 10);
	if (rc == 0)
		rc = mbedtls_ctr_drbg_random(&drbg, buf, len);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&ent);
	if (rc != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "random generator failed");
	return NULL;
}

rt_err *
piv_auth_mgmt(piv_card *c, piv_alg alg, const uint8_t *key, size_t key_len)
{
	size_t bs, want, len;
	uint8_t witness[16], plain[16], chal[16], expect[16], req[64];
	const uint8_t *v, *w;
	size_t vl, wl;
	tlv_cur cur;
	tlv_w tw;
	rt_err *e;

	switch (alg) {
	case PIV_ALG_3DES: bs = 8; want = 24; break;
	case PIV_ALG_AES128: bs = 16; want = 16; break;
	case PIV_ALG_AES192: bs = 16; want = 24; break;
	case PIV_ALG_AES256: bs = 16; want = 32; break;
	default:
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL,
		    "management key algorithm %s", piv_alg_name(alg));
	}
	if (key_len != want)
		return rt_err_new(RT_E_ARG, NULL,
		    "a %s management key has %zu bytes, not %zu",
		    piv_alg_name(alg), want, key_len);

	/* step 1: ask for a witness */
	static const uint8_t ask[] = { 0x7C, 0x02, 0x80, 0x00 };
	if ((e = xfer(c, "management key authentication", 0x87, (uint8_t)alg,
	    PIV_SLOT_MGMT, ask, sizeof(ask), 256, &len)) != NULL) {
		if (rt_err_sw_of(e) == 0x6A80 || rt_err_sw_of(e) == 0x6A86) {
			rt_err_free(e);
			return rt_err_new(RT_E_AUTH, NULL,
			    "the card's management key is not %s",
			    piv_alg_name(alg));
		}
		return e;
	}
	tlv_init(&cur, c->buf, len);
	if ((e = tlv_expect(&cur, 0x7C, &v, &vl)) || (e = tlv_end(&cur)))
		return rt_err_wrap(e, "management key witness");
	if ((e = tlv_find(v, vl, 0x80, &w, &wl)) != NULL)
		return rt_err_wrap(e, "management key witness");
	if (wl != bs)
		return rt_err_new(RT_E_PROTOCOL, NULL,
		    "management key witness of %zu bytes, expected %zu", wl, bs);
	memcpy(witness, w, bs);
	if ((e = block_crypt(alg, key, key_len, false, witness, plain)) ||
	    (e = random_bytes(chal, bs)) ||
	    (e = block_crypt(alg, key, key_len, true, chal, expect)))
		goto out;

	/* step 2: decrypted witness + our challenge */
	tlv_w_init(&tw, req, sizeof(req));
	size_t m = tlv_w_open(&tw, 0x7C);
	tlv_w_put(&tw, 0x80, plain, bs);
	tlv_w_put(&tw, 0x81, chal, bs);
	tlv_w_close(&tw, m);
	if ((e = tlv_w_finish(&tw)) != NULL)
		goto out;
	e = xfer(c, "management key authentication", 0x87, (uint8_t)alg,
	    PIV_SLOT_MGMT, req, tw.len, 256, &len);
	if (e != NULL) {
		if (rt_err_sw_of(e) == 0x6982 || rt_err_sw_of(e) == 0x63C0)
			e = rt_err_new(RT_E_AUTH, e, "wrong management key");
		goto out;
	}
	tlv_init(&cur, c->buf, len);
	if ((e = tlv_expect(&cur, 0x7C, &v, &vl)) || (e = tlv_end(&cur)) ||
	    (e = tlv_find(v, vl, 0x82, &w, &wl))) {
		e = rt_err_wrap(e, "management key response");
		goto out;
	}
	if (wl != bs || memcmp(w, expect, bs) != 0)
		e = rt_err_new(RT_E_AUTH, NULL,
		    "the card did not prove knowledge of the management key");
out:
	rt_wipe(plain, sizeof(plain));
	rt_wipe(req, sizeof(req));
	rt_wipe(expect, sizeof(expect));
	return e;
}

/* ---- generate / sign --------------------------------------------------- */

rt_err *
piv_generate(piv_card *c, uint8_t slot, piv_alg alg, uint8_t pin_policy,
    uint8_t touch_policy, piv_pubkey *pub)
{
	uint8_t req[16];
	tlv_w w;
	size_t len;
	rt_err *e;
	char op[48];

	if (!is_rsa(alg) && !ec_size(alg))
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL,
		    "cannot generate a %s key", piv_alg_name(alg));
	if (piv_cert_tag(slot) == 0 || slot == PIV_SLOT_ATTEST)
		return rt_err_new(RT_E_ARG, NULL, "slot %02x is not a key slot", slot);
	tlv_w_init(&w, req, sizeof(req));
	size_t m = tlv_w_open(&w, 0xAC);
	tlv_w_put_u8(&w, 0x80, (uint8_t)alg);
	if (pin_policy)
		tlv_w_put_u8(&w, 0xAA, pin_policy);
	if (touch_policy)
		tlv_w_put_u8(&w, 0xAB, touch_policy);
	tlv_w_close(&w, m);
	if ((e = tlv_w_finish(&w)) != NULL)
		return e;
	snprintf(op, sizeof(op), "GENERATE %s key in slot %02x",
	    piv_alg_name(alg), slot);
	if ((e = xfer(c, op, 0x47, 0x00, slot, req, w.len, 1024, &len)) != NULL)
		return e;
	if ((e = piv_pubkey_parse(alg, c->buf, len, pub)) != NULL)
		return rt_err_wrap(e, "%s", op);
	return NULL;
}

rt_err *
piv_sign(piv_card *c, uint8_t slot, piv_alg alg, const uint8_t *in,
    size_t in_len, uint8_t *sig, size_t cap, size_t *sig_len)
{
	uint8_t req[1100];
	tlv_w w;
	size_t len, vl, sl;
	const uint8_t *v, *s;
	tlv_cur cur;
	rt_err *e;
	char op[48];

	if (ec_size(alg) && in_len > ec_size(alg))
		in_len = ec_size(alg);	/* ECDSA uses the leftmost bits */
	if (in_len > 512)
		return rt_err_new(RT_E_ARG, NULL, "signature input of %zu bytes",
		    in_len);
	tlv_w_init(&w, req, sizeof(req));
	size_t m = tlv_w_open(&w, 0x7C);
	tlv_w_put(&w, 0x82, NULL, 0);
	tlv_w_put(&w, 0x81, in, in_len);
	tlv_w_close(&w, m);
	if ((e = tlv_w_finish(&w)) != NULL)
		return e;
	snprintf(op, sizeof(op), "signature with slot %02x", slot);
	if ((e = xfer(c, op, 0x87, (uint8_t)alg, slot, req, w.len, 1024, &len)))
		return e;
	tlv_init(&cur, c->buf, len);
	if ((e = tlv_expect(&cur, 0x7C, &v, &vl)) || (e = tlv_end(&cur)) ||
	    (e = tlv_find(v, vl, 0x82, &s, &sl)))
		return rt_err_wrap(e, "%s reply", op);
	if (sl > cap)
		return rt_err_new(RT_E_TOO_BIG, NULL, "%s: %zu-byte signature", op, sl);
	memcpy(sig, s, sl);
	*sig_len = sl;
	return NULL;
}

/* ---- attestation ---------------------------------------------------------- */

rt_err *
piv_attest(piv_card *c, uint8_t slot, uint8_t **der, size_t *len)
{
	apdu_cmd cmd = { .cla = 0x00, .ins = 0xF9, .p1 = slot, .p2 = 0x00,
	    .le = 256 };
	uint8_t *buf = malloc(8192);
	size_t n = 0;
	uint16_t sw;
	char op[48];
	rt_err *e;

	*der = NULL;
	if (buf == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "attestation");
	snprintf(op, sizeof(op), "ATTEST slot %02x", slot);
	if ((e = apdu_exchange(piv_transport(c), &cmd, buf, 8192, &n, &sw))) {
		free(buf);
		return rt_err_wrap(e, "%s", op);
	}
	if ((e = piv_sw_error(sw, op)) != NULL) {
		free(buf);
		return e;
	}
	/* YubiKeys answer the bare certificate; accept a 70 wrapper too */
	if (n > 4 && buf[0] == 0x70) {
		uint8_t *d;
		size_t dl;
		e = piv_cert_parse(buf, n, &d, &dl);
		free(buf);
		if (e != NULL)
			return rt_err_wrap(e, "%s reply", op);
		*der = d;
		*len = dl;
		return NULL;
	}
	*der = buf;
	*len = n;
	return NULL;
}
