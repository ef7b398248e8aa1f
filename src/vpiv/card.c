/*
 * card.c - the command side of the virtual PIV card: APDU parsing (short
 * and extended), command chaining, response chaining (61xx / GET
 * RESPONSE), the command handlers of SP 800-73-4 part 2 and the YubiKey
 * extensions, trace and fault injection.
 */
#include "vpiv_int.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

typedef struct {
	uint8_t cla, ins, p1, p2;
	const uint8_t *data;
	size_t lc;
	size_t le;              /* valid if has_le; 256 / 65536 for 00 */
	bool has_le;
	bool ext;               /* extended length encoding */
} apdu;

static const uint8_t piv_aid[11] = {
	0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
};

/* YubiKey 5 (USB) ATR: T=1, historical bytes 80 73 C0 21 C0 "WYubiKey";
 * card capabilities 73 C0 21 C0: third byte C0 = command chaining and
 * extended Lc/Le. TCK 40. */
static const uint8_t vpiv_atr_bytes[] = {
	0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0,
	0x21, 0xC0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40,
};

void vpiv_set_trace(vpiv *v, FILE *f) { vcard_set_trace(&v->io, f); }
uint64_t vpiv_apdu_count(const vpiv *v) { return vcard_apdu_count(&v->io); }
void vpiv_fault_drop_at(vpiv *v, uint64_t n) { vcard_fault_drop_at(&v->io, n); }
void vpiv_fault_sw_at(vpiv *v, uint64_t n, uint16_t sw) { vcard_fault_sw_at(&v->io, n, sw); }
void vpiv_fault_stall_at(vpiv *v, uint64_t n, unsigned ms) { vcard_fault_stall_at(&v->io, n, ms); }

void
vpiv_set_max_short_response(vpiv *v, size_t n)
{
	v->max_short = n == 0 ? 1 : n > 256 ? 256 : n;
}

void
vpiv_volatile_reset(vpiv *v)
{
	v->pin_ok = false;
	v->pin_always_ok = false;
	v->mgmt_ok = false;
	v->auth_state = 0;
	mbedtls_platform_zeroize(v->auth_witness, sizeof(v->auth_witness));
	mbedtls_platform_zeroize(v->auth_challenge, sizeof(v->auth_challenge));
	v->chain_active = false;
	v->chain_len = 0;
	v->resp_len = v->resp_off = 0;
}

size_t vpiv_atr(const vpiv *v, uint8_t *atr, size_t cap) { return vcard_atr(&v->io, atr, cap); }

void
vpiv_reset(vpiv *v)
{
	vpiv_volatile_reset(v);
	v->selected = false;
}

/* ---- helpers ---- */

static bool
ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

/* A PIN/PUK field: 6..8 bytes then FF padding to 8. */
static bool
pin_format_ok(const uint8_t *p)
{
	size_t n = 0;
	while (n < 8 && p[n] != 0xFF)
		n++;
	if (n < 6)
		return false;
	for (size_t i = n; i < 8; i++)
		if (p[i] != 0xFF)
			return false;
	return true;
}

static uint16_t
commit(vpiv *v)
{
	rt_err *e = vpiv_save(v);
	if (e == NULL)
		return SW_OK;
	vcard_trace_err(&v->io, e);
	rt_err_free(e);
	return SW_MEMORY_FAILURE;
}

static uint16_t
retries_sw(uint8_t left)
{
	return (uint16_t)(0x63C0 | (left > 15 ? 15 : left));
}

static bool
parse_apdu(const uint8_t *b, size_t n, apdu *a)
{
	memset(a, 0, sizeof(*a));
	if (n < 4)
		return false;
	a->cla = b[0];
	a->ins = b[1];
	a->p1 = b[2];
	a->p2 = b[3];
	if (n == 4)
		return true;
	if (n == 5) {
		a->has_le = true;
		a->le = b[4] ? b[4] : 256;
		return true;
	}
	if (b[4] != 0) {
		a->lc = b[4];
		a->data = b + 5;
		if (n == 5 + a->lc)
			return true;
		if (n == 6 + a->lc) {
			a->has_le = true;
			a->le = b[5 + a->lc] ? b[5 + a->lc] : 256;
			return true;
		}
		return false;
	}
	/* extended */
	a->ext = true;
	if (n < 7)
		return false;
	size_t x = (size_t)b[5] << 8 | b[6];
	if (n == 7) {
		a->has_le = true;
		a->le = x ? x : 65536;
		return true;
	}
	if (x == 0)
		return false;
	a->lc = x;
	a->data = b + 7;
	if (n == 7 + x)
		return true;
	if (n == 9 + x) {
		size_t le = (size_t)b[7 + x] << 8 | b[8 + x];
		a->has_le = true;
		a->le = le ? le : 65536;
		return true;
	}
	return false;
}

/* Sends the next part of the pending response; `final_sw` when done. */
static size_t
deliver(vpiv *v, const apdu *a, uint16_t final_sw, uint8_t *rsp, size_t cap)
{
	size_t avail = v->resp_len - v->resp_off;
	size_t le = a->has_le ? a->le : a->ext ? 65536 : 256;
	size_t max = a->ext ? le : (le < v->max_short ? le : v->max_short);
	size_t n = avail < max ? avail : max;
	if (n > cap - 2)
		n = cap - 2;
	if (n > 0)
		memcpy(rsp, v->resp + v->resp_off, n);
	v->resp_off += n;
	if (v->resp_off < v->resp_len) {
		size_t rem = v->resp_len - v->resp_off;
		return vcard_put_sw(rsp, n, (uint16_t)(0x6100 | (rem > 255 ? 0 : rem)));
	}
	v->resp_len = v->resp_off = 0;
	return vcard_put_sw(rsp, n, final_sw);
}

/* ---- commands ---- */

/* The command's data is exactly one template `tag` (7C, AC): its
 * content in *in. */
static bool
template_open(const apdu *a, uint32_t tag, tlv_cur *in)
{
	const uint8_t *val;
	size_t len;
	tlv_cur c;
	tlv_init(&c, a->data, a->lc);
	rt_err *e = tlv_expect(&c, tag, &val, &len);
	if (e == NULL)
		e = tlv_end(&c);
	if (e != NULL) {
		rt_err_free(e);
		return false;
	}
	tlv_init(in, val, len);
	return true;
}

/* The next element of a template; false when it is malformed. */
static bool
template_next(tlv_cur *in, uint32_t *tag, const uint8_t **val, size_t *len)
{
	rt_err *e = tlv_next(in, tag, val, len);
	if (e == NULL)
		return true;
	rt_err_free(e);
	return false;
}

static uint16_t
cmd_select(vpiv *v, const apdu *a, tlv_w *w)
{
	if (a->p1 != 0x04 || (a->p2 != 0x00 && a->p2 != 0x0C))
		return SW_WRONG_P1P2;
	if (a->lc < 5 || a->lc > sizeof(piv_aid) || memcmp(a->data, piv_aid, a->lc) != 0)
		return SW_NOT_FOUND;
	/* (Re)selecting the application resets its security status, like
	 * a YubiKey. */
	vpiv_volatile_reset(v);
	v->selected = true;
	if (a->p2 == 0x0C)
		return SW_OK;
	static const uint8_t algs[] = {
		VPIV_ALG_3DES, VPIV_ALG_AES128, VPIV_ALG_AES192, VPIV_ALG_AES256,
		VPIV_ALG_RSA2048, VPIV_ALG_ECCP256, VPIV_ALG_ECCP384,
	};
	size_t apt = tlv_w_open(w, 0x61);
	tlv_w_put(w, 0x4F, piv_aid + 5, 6);
	size_t cta = tlv_w_open(w, 0x79);
	tlv_w_put(w, 0x4F, piv_aid, 5);
	tlv_w_close(w, cta);
	tlv_w_put(w, 0x50, "vpiv", 4);
	size_t ac = tlv_w_open(w, 0xAC);
	for (size_t i = 0; i < sizeof(algs); i++)
		tlv_w_put_u8(w, 0x80, algs[i]);
	tlv_w_put_u8(w, 0x06, 0x00);
	tlv_w_close(w, ac);
	tlv_w_close(w, apt);
	return SW_OK;
}

static bool
object_tag_ok(uint32_t tag)
{
	return (tag >= 0x5FC101 && tag <= 0x5FC123) ||
	    (tag >= 0x5FFF00 && tag <= 0x5FFF15) || tag == 0x7E || tag == 0x7F61;
}

static bool
object_needs_pin(uint32_t tag)
{
	return tag == 0x5FC103 || tag == 0x5FC108 || tag == 0x5FC109 || tag == 0x5FC121;
}

/* Reads the 5C tag list holding one tag. */
static bool
read_tag_list(tlv_cur *c, uint32_t *tag)
{
	const uint8_t *val;
	size_t len;
	rt_err *e = tlv_expect(c, 0x5C, &val, &len);
	if (e != NULL) {
		rt_err_free(e);
		return false;
	}
	if (len < 1 || len > 3)
		return false;
	*tag = 0;
	for (size_t i = 0; i < len; i++)
		*tag = *tag << 8 | val[i];
	return true;
}

static uint16_t
cmd_get_data(vpiv *v, const apdu *a, tlv_w *w)
{
	uint32_t tag;
	tlv_cur c;
	if (a->p1 != 0x3F || a->p2 != 0xFF)
		return SW_WRONG_P1P2;
	tlv_init(&c, a->data, a->lc);
	if (!read_tag_list(&c, &tag) || !tlv_at_end(&c))
		return SW_WRONG_DATA;
	if (object_needs_pin(tag) && !v->pin_ok)
		return SW_SECURITY;
	struct vpiv_obj *o = vpiv_obj_find(v, tag);
	if (o == NULL)
		return SW_NOT_FOUND;
	tlv_w_put(w, (tag == 0x7E || tag == 0x7F61) ? tag : 0x53, o->data, o->len);
	return SW_OK;
}

static uint16_t
cmd_put_data(vpiv *v, const apdu *a)
{
	uint32_t tag, t;
	const uint8_t *val;
	size_t len;
	tlv_cur c;
	rt_err *e;
	if (a->p1 != 0x3F || a->p2 != 0xFF)
		return SW_WRONG_P1P2;
	if (!v->mgmt_ok)
		return SW_SECURITY;
	tlv_init(&c, a->data, a->lc);
	if (a->lc > 0 && (a->data[0] == 0x7E ||
	    (a->lc > 1 && a->data[0] == 0x7F && a->data[1] == 0x61))) {
		/* discovery object / BIT group template: written whole */
		if ((e = tlv_next(&c, &tag, &val, &len)) != NULL) {
			rt_err_free(e);
			return SW_WRONG_DATA;
		}
	} else {
		if (!read_tag_list(&c, &tag))
			return SW_WRONG_DATA;
		if ((e = tlv_next(&c, &t, &val, &len)) != NULL) {
			rt_err_free(e);
			return SW_WRONG_DATA;
		}
		if (t != 0x53 && t != tag)
			return SW_WRONG_DATA;
	}
	if (!tlv_at_end(&c) || !object_tag_ok(tag))
		return SW_WRONG_DATA;
	e = vpiv_obj_set(v, tag, val, len);
	if (e != NULL) {
		uint16_t sw = rt_err_kind_of(e) == RT_E_NOMEM ? SW_MEMORY_FAILURE
		    : SW_NO_SPACE;
		rt_err_free(e);
		return sw;
	}
	if (tag == 0x5FC102) {
		/* keep the GUID in step with a written CHUID */
		const uint8_t *g;
		size_t gl;
		e = tlv_find(val, len, 0x34, &g, &gl);
		if (e == NULL && gl == 16)
			memcpy(v->guid, g, 16);
		rt_err_free(e);
	}
	return commit(v);
}

static uint16_t
cmd_verify(vpiv *v, const apdu *a)
{
	if (a->p1 != 0x00 && a->p1 != 0xFF)
		return SW_WRONG_P1P2;
	if (a->p2 != 0x80)
		return SW_REF_NOT_FOUND;
	if (a->p1 == 0xFF) {
		if (a->lc != 0)
			return SW_WRONG_DATA;
		v->pin_ok = v->pin_always_ok = false;
		return SW_OK;
	}
	if (a->lc == 0) {
		if (v->pin_left == 0)
			return SW_BLOCKED;
		return v->pin_ok ? SW_OK : retries_sw(v->pin_left);
	}
	if (a->lc != 8)
		return SW_WRONG_DATA;
	if (v->pin_left == 0)
		return SW_BLOCKED;
	if (!ct_equal(a->data, v->pin, 8)) {
		v->pin_left--;
		v->pin_ok = v->pin_always_ok = false;
		uint16_t sw = commit(v);
		return sw != SW_OK ? sw : retries_sw(v->pin_left);
	}
	v->pin_ok = v->pin_always_ok = true;
	if (v->pin_left != v->pin_total) {
		v->pin_left = v->pin_total;
		return commit(v);
	}
	return SW_OK;
}

static const uint8_t default_pin[8] = { '1', '2', '3', '4', '5', '6', 0xFF, 0xFF };
static const uint8_t default_puk[8] = { '1', '2', '3', '4', '5', '6', '7', '8' };

static uint16_t
cmd_change(vpiv *v, const apdu *a)
{
	if (a->p1 != 0x00)
		return SW_WRONG_P1P2;
	if (a->p2 != 0x80 && a->p2 != 0x81)
		return SW_REF_NOT_FOUND;
	if (a->lc != 16)
		return SW_WRONG_DATA;
	bool is_pin = a->p2 == 0x80;
	uint8_t *ref = is_pin ? v->pin : v->puk;
	uint8_t *left = is_pin ? &v->pin_left : &v->puk_left;
	uint8_t total = is_pin ? v->pin_total : v->puk_total;
	if (*left == 0)
		return SW_BLOCKED;
	if (!pin_format_ok(a->data + 8))
		return SW_WRONG_DATA;
	if (!ct_equal(a->data, ref, 8)) {
		(*left)--;
		if (is_pin)
			v->pin_ok = v->pin_always_ok = false;
		uint16_t sw = commit(v);
		return sw != SW_OK ? sw : retries_sw(*left);
	}
	memcpy(ref, a->data + 8, 8);
	*left = total;
	if (is_pin) {
		v->pin_default = memcmp(ref, default_pin, 8) == 0;
		v->pin_ok = v->pin_always_ok = true;
	} else {
		v->puk_default = memcmp(ref, default_puk, 8) == 0;
	}
	return commit(v);
}

static uint16_t
cmd_reset_retry(vpiv *v, const apdu *a)
{
	if (a->p1 != 0x00)
		return SW_WRONG_P1P2;
	if (a->p2 != 0x80)
		return SW_REF_NOT_FOUND;
	if (a->lc != 16)
		return SW_WRONG_DATA;
	if (v->puk_left == 0)
		return SW_BLOCKED;
	if (!pin_format_ok(a->data + 8))
		return SW_WRONG_DATA;
	if (!ct_equal(a->data, v->puk, 8)) {
		v->puk_left--;
		uint16_t sw = commit(v);
		return sw != SW_OK ? sw : retries_sw(v->puk_left);
	}
	memcpy(v->pin, a->data + 8, 8);
	v->pin_default = memcmp(v->pin, default_pin, 8) == 0;
	v->pin_left = v->pin_total;
	v->puk_left = v->puk_total;
	return commit(v);
}

/* Management key authentication (key reference 9B). */
static uint16_t
auth_mgmt(vpiv *v, const apdu *a, tlv_w *w, const uint8_t *const *t,
    const size_t *tl)
{
	size_t blk = vk_mgmt_block(v->mgmt_alg);
	uint8_t buf[16];
	uint8_t state = v->auth_state;
	v->auth_state = 0;
	if (a->p1 != v->mgmt_alg)
		return SW_WRONG_P1P2;
	/* t[0]=80 witness, t[1]=81 challenge, t[2]=82 response */
	if (t[0] != NULL && tl[0] == 0 && t[1] == NULL && t[2] == NULL) {
		/* step 1 of mutual authentication: encrypted witness */
		v->mgmt_ok = false;
		vk_rng(v, v->auth_witness, blk);
		if (vk_mgmt_crypt(v, true, v->auth_witness, buf) != 0)
			return SW_UNKNOWN;
		size_t m = tlv_w_open(w, 0x7C);
		tlv_w_put(w, 0x80, buf, blk);
		tlv_w_close(w, m);
		v->auth_state = 1;
		v->auth_alg = a->p1;
		return SW_OK;
	}
	if (t[0] != NULL && tl[0] == blk && t[1] != NULL && tl[1] == blk &&
	    (t[2] == NULL || tl[2] == 0)) {
		/* step 2: decrypted witness and the host's challenge */
		if (state != 1 || v->auth_alg != a->p1 ||
		    !ct_equal(t[0], v->auth_witness, blk))
			return SW_SECURITY;
		if (vk_mgmt_crypt(v, true, t[1], buf) != 0)
			return SW_UNKNOWN;
		v->mgmt_ok = true;
		size_t m = tlv_w_open(w, 0x7C);
		tlv_w_put(w, 0x82, buf, blk);
		tlv_w_close(w, m);
		return SW_OK;
	}
	if (t[1] != NULL && tl[1] == 0 && t[0] == NULL && t[2] == NULL) {
		/* external authentication, step 1: a clear challenge */
		v->mgmt_ok = false;
		vk_rng(v, v->auth_challenge, blk);
		size_t m = tlv_w_open(w, 0x7C);
		tlv_w_put(w, 0x81, v->auth_challenge, blk);
		tlv_w_close(w, m);
		v->auth_state = 2;
		v->auth_alg = a->p1;
		return SW_OK;
	}
	if (t[2] != NULL && tl[2] == blk && t[0] == NULL && t[1] == NULL) {
		/* external authentication, step 2: the encrypted challenge */
		if (state != 2 || v->auth_alg != a->p1)
			return SW_SECURITY;
		if (vk_mgmt_crypt(v, true, v->auth_challenge, buf) != 0)
			return SW_UNKNOWN;
		if (!ct_equal(buf, t[2], blk))
			return SW_SECURITY;
		v->mgmt_ok = true;
		return SW_OK;
	}
	return SW_WRONG_DATA;
}

static uint16_t
cmd_general_auth(vpiv *v, const apdu *a, tlv_w *w)
{
	/* t[]: 80, 81, 82, 85 */
	const uint8_t *t[4] = { NULL, NULL, NULL, NULL };
	size_t tl[4] = { 0, 0, 0, 0 };
	tlv_cur in;
	uint32_t tag;
	const uint8_t *val;
	size_t len;
	int i;

	if (!template_open(a, 0x7C, &in))
		return SW_WRONG_DATA;
	while (!tlv_at_end(&in)) {
		if (!template_next(&in, &tag, &val, &len))
			return SW_WRONG_DATA;
		switch (tag) {
		case 0x80: i = 0; break;
		case 0x81: i = 1; break;
		case 0x82: i = 2; break;
		case 0x85: i = 3; break;
		default: return SW_WRONG_DATA;
		}
		if (t[i] != NULL)
			return SW_WRONG_DATA;
		t[i] = val;
		tl[i] = len;
	}
	if (a->p2 == 0x9B)
		return auth_mgmt(v, a, w, t, tl);

	v->auth_state = 0;
	int idx = vpiv_slot_index(a->p2);
	if (idx < 0 || a->p2 == 0xF9)
		return SW_WRONG_P1P2;
	struct vpiv_key *k = &v->keys[idx];
	if (!k->present)
		return SW_REF_NOT_FOUND;
	if (a->p1 != k->alg)
		return SW_WRONG_P1P2;
	/* request: 82 empty, then 81 (sign/decrypt) or 85 (ECDH) */
	if (t[2] == NULL || tl[2] != 0 || t[0] != NULL || (t[1] == NULL) == (t[3] == NULL))
		return SW_WRONG_DATA;
	if (k->pin_policy == VPIV_PIN_ONCE && !v->pin_ok)
		return SW_SECURITY;
	if (k->pin_policy == VPIV_PIN_ALWAYS) {
		if (!v->pin_ok || !v->pin_always_ok)
			return SW_SECURITY;
		v->pin_always_ok = false;
	}
	uint8_t out[512];
	size_t olen = 0;
	uint16_t sw = t[1] != NULL
	    ? vk_sign(v, k, t[1], tl[1], out, sizeof(out), &olen)
	    : vk_ecdh(v, k, t[3], tl[3], out, sizeof(out), &olen);
	if (sw == SW_OK) {
		size_t m = tlv_w_open(w, 0x7C);
		tlv_w_put(w, 0x82, out, olen);
		tlv_w_close(w, m);
	}
	mbedtls_platform_zeroize(out, sizeof(out));
	return sw;
}

static bool
policy_byte(const uint8_t *val, size_t len, uint8_t *out)
{
	if (len != 1 || val[0] > 3)
		return false;
	*out = val[0];
	return true;
}

static void
apply_policies(struct vpiv_key *k, uint8_t slot, uint8_t pin, uint8_t touch)
{
	k->pin_policy = pin ? pin : vpiv_default_pin_policy(slot);
	k->touch_policy = touch ? touch : VPIV_TOUCH_NEVER;
}

static uint16_t
cmd_generate(vpiv *v, const apdu *a, tlv_w *w)
{
	tlv_cur in;
	uint32_t tag;
	const uint8_t *val;
	size_t len;
	int alg = -1;
	uint8_t pin = 0, touch = 0;

	if (a->p1 != 0x00)
		return SW_WRONG_P1P2;
	int idx = vpiv_slot_index(a->p2);
	if (idx < 0)
		return SW_WRONG_P1P2;
	if (!v->mgmt_ok)
		return SW_SECURITY;
	if (!template_open(a, 0xAC, &in))
		return SW_WRONG_DATA;
	while (!tlv_at_end(&in)) {
		if (!template_next(&in, &tag, &val, &len))
			return SW_WRONG_DATA;
		if (tag == 0x80 && len == 1)
			alg = val[0];
		else if (tag == 0xAA && policy_byte(val, len, &pin))
			;
		else if (tag == 0xAB && policy_byte(val, len, &touch))
			;
		else
			return SW_WRONG_DATA;
	}
	if (alg != VPIV_ALG_RSA2048 && alg != VPIV_ALG_ECCP256 && alg != VPIV_ALG_ECCP384)
		return SW_WRONG_DATA;
	struct vpiv_key *k = &v->keys[idx];
	rt_err *e = vk_generate(v, k, (uint8_t)alg);
	if (e != NULL) {
		rt_err_free(e);
		return SW_UNKNOWN;
	}
	apply_policies(k, a->p2, pin, touch);
	uint16_t sw = commit(v);
	if (sw != SW_OK)
		return sw;
	vk_pubkey_tlv(k, 0x7F49, w);
	return SW_OK;
}

static uint16_t
cmd_import(vpiv *v, const apdu *a)
{
	int idx = vpiv_slot_index(a->p2);
	uint8_t pin = 0, touch = 0;
	if (idx < 0)
		return SW_WRONG_P1P2;
	if (!v->mgmt_ok)
		return SW_SECURITY;
	const uint8_t *val;
	size_t len;
	rt_err *e = tlv_find(a->data, a->lc, 0xAA, &val, &len);
	if (e == NULL && !policy_byte(val, len, &pin))
		return SW_WRONG_DATA;
	rt_err_free(e);
	e = tlv_find(a->data, a->lc, 0xAB, &val, &len);
	if (e == NULL && !policy_byte(val, len, &touch))
		return SW_WRONG_DATA;
	rt_err_free(e);
	struct vpiv_key *k = &v->keys[idx];
	uint16_t sw = vk_import(v, k, a->p1, a->data, a->lc);
	if (sw != SW_OK)
		return sw;
	apply_policies(k, a->p2, pin, touch);
	return commit(v);
}

static uint16_t
cmd_metadata(vpiv *v, const apdu *a, tlv_w *w)
{
	if (a->p1 != 0x00)
		return SW_WRONG_P1P2;
	if (a->p2 == 0x80 || a->p2 == 0x81) {
		bool pin = a->p2 == 0x80;
		uint8_t r[2] = { pin ? v->pin_total : v->puk_total,
		    pin ? v->pin_left : v->puk_left };
		tlv_w_put_u8(w, 0x01, 0xFF);
		tlv_w_put_u8(w, 0x05, (pin ? v->pin_default : v->puk_default) ? 1 : 0);
		tlv_w_put(w, 0x06, r, 2);
		return SW_OK;
	}
	if (a->p2 == 0x9B) {
		uint8_t pol[2] = { 0x00, v->mgmt_touch ? VPIV_TOUCH_ALWAYS : VPIV_TOUCH_NEVER };
		tlv_w_put_u8(w, 0x01, v->mgmt_alg);
		tlv_w_put(w, 0x02, pol, 2);
		tlv_w_put_u8(w, 0x05, v->mgmt_default ? 1 : 0);
		return SW_OK;
	}
	int idx = vpiv_slot_index(a->p2);
	if (idx < 0 || !v->keys[idx].present)
		return SW_REF_NOT_FOUND;
	struct vpiv_key *k = &v->keys[idx];
	uint8_t pol[2] = { k->pin_policy, k->touch_policy };
	tlv_w_put_u8(w, 0x01, k->alg);
	tlv_w_put(w, 0x02, pol, 2);
	tlv_w_put_u8(w, 0x03, k->origin);
	vk_pubkey_tlv(k, 0x04, w);
	return SW_OK;
}

static uint16_t
cmd_set_mgmt(vpiv *v, const apdu *a)
{
	if (a->p1 != 0xFF || (a->p2 != 0xFF && a->p2 != 0xFE))
		return SW_WRONG_P1P2;
	if (!v->mgmt_ok)
		return SW_SECURITY;
	if (a->lc < 3 || a->data[1] != 0x9B)
		return SW_WRONG_DATA;
	size_t kl = vk_mgmt_keylen(a->data[0]);
	if (kl == 0 || a->data[2] != kl || a->lc != 3 + kl)
		return SW_WRONG_DATA;
	static const uint8_t def[24] = {
		1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
	};
	v->mgmt_alg = a->data[0];
	mbedtls_platform_zeroize(v->mgmt_key, sizeof(v->mgmt_key));
	memcpy(v->mgmt_key, a->data + 3, kl);
	v->mgmt_len = kl;
	v->mgmt_touch = a->p2 == 0xFE;
	v->mgmt_default = kl == 24 && memcmp(v->mgmt_key, def, 24) == 0;
	return commit(v);
}

static uint16_t
cmd_attest(vpiv *v, const apdu *a, tlv_w *w)
{
	uint8_t *buf = malloc(4096);
	size_t len = 0;
	if (buf == NULL)
		return SW_MEMORY_FAILURE;
	uint16_t sw = vk_attest(v, a->p1, buf, 4096, &len);
	if (sw == SW_OK)
		tlv_w_raw(w, buf, len);
	free(buf);
	return sw;
}

static uint16_t
cmd_reset_card(vpiv *v, const apdu *a)
{
	if (a->p1 != 0 || a->p2 != 0)
		return SW_WRONG_P1P2;
	if (v->pin_left != 0 || v->puk_left != 0)
		return SW_CONDITIONS;
	for (int i = 0; i < VPIV_NSLOTS; i++)
		if (vpiv_slot_at(i) != 0xF9)
			vpiv_key_clear(&v->keys[i]);
	vpiv_factory_objects_reset(v);
	memcpy(v->pin, default_pin, 8);
	memcpy(v->puk, default_puk, 8);
	v->pin_total = v->pin_left = v->puk_total = v->puk_left = 3;
	v->pin_default = v->puk_default = true;
	v->mgmt_alg = VPIV_ALG_3DES;
	v->mgmt_len = 24;
	for (int i = 0; i < 24; i++)
		v->mgmt_key[i] = (uint8_t)(i % 8 + 1);
	v->mgmt_touch = 0;
	v->mgmt_default = true;
	vpiv_volatile_reset(v);
	return commit(v);
}

static uint16_t
cmd_set_pin_retries(vpiv *v, const apdu *a)
{
	if (a->p1 == 0 || a->p2 == 0)
		return SW_WRONG_P1P2;
	if (!v->mgmt_ok || !v->pin_ok)
		return SW_SECURITY;
	v->pin_total = v->pin_left = a->p1;
	v->puk_total = v->puk_left = a->p2;
	memcpy(v->pin, default_pin, 8);
	memcpy(v->puk, default_puk, 8);
	v->pin_default = v->puk_default = true;
	return commit(v);
}

static uint16_t
dispatch(vpiv *v, const apdu *a, tlv_w *w)
{
	if (a->ins == 0xA4)
		return cmd_select(v, a, w);
	if (!v->selected)
		return SW_INS_NOT_SUPP;
	switch (a->ins) {
	case 0xCB: return cmd_get_data(v, a, w);
	case 0xDB: return cmd_put_data(v, a);
	case 0x20: return cmd_verify(v, a);
	case 0x24: return cmd_change(v, a);
	case 0x2C: return cmd_reset_retry(v, a);
	case 0x87: return cmd_general_auth(v, a, w);
	case 0x47: return cmd_generate(v, a, w);
	case 0xFD: {
		const uint8_t ver[3] = { VPIV_VERSION_MAJOR, VPIV_VERSION_MINOR,
		    VPIV_VERSION_PATCH };
		tlv_w_raw(w, ver, 3);
		return SW_OK;
	}
	case 0xF8: {
		const uint8_t sn[4] = { (uint8_t)(v->serial >> 24), (uint8_t)(v->serial >> 16),
		    (uint8_t)(v->serial >> 8), (uint8_t)v->serial };
		tlv_w_raw(w, sn, 4);
		return SW_OK;
	}
	case 0xF7: return cmd_metadata(v, a, w);
	case 0xFF: return cmd_set_mgmt(v, a);
	case 0xF9: return cmd_attest(v, a, w);
	case 0xFB: return cmd_reset_card(v, a);
	case 0xFE: return cmd_import(v, a);
	case 0xFA: return cmd_set_pin_retries(v, a);
	default:   return SW_INS_NOT_SUPP;
	}
}

/* A part of a chained command joins the ones before; false (the chain
 * dropped) when the whole would be too long. */
static bool
chain_append(vpiv *v, const apdu *a)
{
	if (VPIV_MAX_CMD - v->chain_len < a->lc) {
		v->chain_active = false;
		v->chain_len = 0;
		return false;
	}
	if (a->lc > 0)
		memcpy(v->chain + v->chain_len, a->data, a->lc);
	v->chain_len += a->lc;
	return true;
}

static size_t
process(vpiv *v, const uint8_t *cmd, size_t clen, uint8_t *rsp, size_t cap)
{
	apdu a;
	if (!parse_apdu(cmd, clen, &a)) {
		v->resp_len = v->resp_off = 0;
		return vcard_put_sw(rsp, 0, SW_WRONG_LENGTH);
	}
	if ((a.cla & ~0x10) != 0) {
		v->resp_len = v->resp_off = 0;
		return vcard_put_sw(rsp, 0, SW_CLA_NOT_SUPP);
	}
	if (a.ins == 0xC0) {
		if (a.p1 != 0 || a.p2 != 0)
			return vcard_put_sw(rsp, 0, SW_WRONG_P1P2);
		if (v->resp_off >= v->resp_len)
			return vcard_put_sw(rsp, 0, SW_CONDITIONS);
		return deliver(v, &a, SW_OK, rsp, cap);
	}
	v->resp_len = v->resp_off = 0;

	if (v->chain_active && (a.ins != v->chain_ins || a.p1 != v->chain_p1 ||
	    a.p2 != v->chain_p2)) {
		/* a different command abandons the chain */
		v->chain_active = false;
		v->chain_len = 0;
	}
	if (a.cla & 0x10) {
		if (!v->chain_active) {
			v->chain_active = true;
			v->chain_len = 0;
			v->chain_ins = a.ins;
			v->chain_p1 = a.p1;
			v->chain_p2 = a.p2;
		}
		if (!chain_append(v, &a))
			return vcard_put_sw(rsp, 0, SW_WRONG_LENGTH);
		return vcard_put_sw(rsp, 0, SW_OK);
	}
	if (v->chain_active) {
		if (!chain_append(v, &a))
			return vcard_put_sw(rsp, 0, SW_WRONG_LENGTH);
		a.data = v->chain;
		a.lc = v->chain_len;
		v->chain_active = false;
	}

	tlv_w w;
	tlv_w_init(&w, v->resp, VPIV_RESP_CAP);
	uint16_t sw = dispatch(v, &a, &w);
	/* PIN policy ALWAYS: the VERIFY must come immediately before */
	if (a.ins != 0x20 && a.ins != 0x87)
		v->pin_always_ok = false;
	if (w.overflow)
		sw = SW_UNKNOWN;
	if (a.data == v->chain) {
		mbedtls_platform_zeroize(v->chain, v->chain_len);
		v->chain_len = 0;
	}
	v->resp_len = sw == SW_OK ? w.len : 0;
	v->resp_off = 0;
	return deliver(v, &a, sw, rsp, cap);
}

/* vpiv's trace: "> 00200080 [9 bytes redacted]" for VERIFY, CHANGE
 * REFERENCE DATA, RESET RETRY COUNTER and the YubiKey's SET MANAGEMENT KEY
 * and IMPORT KEY; a pull is "< (card removed at APDU N)". */
const vcard_dialect vpiv_dialect = {
	.name = "vpiv", .prefix = "",
	.redact_pre = " [", .redact_post = " bytes redacted]",
	.secret_ins = { 0x20, 0x24, 0x2C, 0xFF, 0xFE }, .nsecret = 5,
	.pulled = "removed", .fault_note = " (fault injection)",
	.atr = vpiv_atr_bytes, .atr_len = sizeof(vpiv_atr_bytes),
};

rt_err *
vpiv_apdu(vpiv *v, const uint8_t *cmd, size_t clen, uint8_t *rsp, size_t cap,
    size_t *rlen)
{
	bool sw_only;
	*rlen = 0;
	rt_err *e = vcard_arrive(&v->io, cmd, clen, cap, &sw_only);
	if (e != NULL) {
		/* the card is pulled: power is lost with it */
		if (rt_err_kind_of(e) == RT_E_FAULT)
			vpiv_reset(v);
		return e;
	}
	if (sw_only) {
		v->resp_len = v->resp_off = 0;
		*rlen = vcard_put_sw(rsp, 0, v->io.sw_value);
	} else {
		*rlen = process(v, cmd, clen, rsp, cap);
	}
	vcard_depart(&v->io, rsp, *rlen);
	return NULL;
}
