/*
 * card.c - the vp15 card core: APDU parsing, chaining, the file system and
 * the commands of an IsoApplet card (docs/vp15.md has the table).
 */
#include "vp15_int.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha1.h>

#include "raterm/signer.h"
#include "raterm/tlv.h"
#include "raterm/util.h"

/* The IsoApplet answers SELECT of its AID with API version 00.06 and its
 * features: extended APDUs (01), a secure random (02), ECC (04). */
const uint8_t vp15_isoapplet_aid[12] = {
	0xF2, 0x76, 0xA2, 0x88, 0xBC, 0xFB, 0xA6, 0x9D, 0x34, 0xF3, 0x10, 0x01,
};
static const uint8_t vp15_applet_info[3] = { 0x00, 0x06, 0x07 };

/* T=1; historical bytes: card capabilities 73 C0 21 C0 (extended Lc/Le,
 * chaining), card issuer's data "vp15". */
static const uint8_t vp15_atr_bytes[] = {
	0x3B, 0x8A, 0x80, 0x01, 0x80, 0x73, 0xC0, 0x21, 0xC0, 0x54, 0x76, 0x70,
	0x31, 0x35, 0x8F,
};

void vp15_set_trace(vp15 *c, FILE *f) { vcard_set_trace(&c->io, f); }
uint64_t vp15_apdu_count(const vp15 *c) { return vcard_apdu_count(&c->io); }
void vp15_fault_drop_at(vp15 *c, uint64_t n) { vcard_fault_drop_at(&c->io, n); }
void vp15_fault_sw_at(vp15 *c, uint64_t n, uint16_t sw) { vcard_fault_sw_at(&c->io, n, sw); }
void vp15_fault_stall_at(vp15 *c, uint64_t n, unsigned ms) { vcard_fault_stall_at(&c->io, n, ms); }

int
vp15_rng(void *ctx, unsigned char *out, size_t len)
{
	vp15 *c = ctx;
	return mbedtls_ctr_drbg_random(&c->drbg, out, len);
}

void vp15_key_clear(struct vp15_key *k) { vcard_key_clear(k, sizeof(*k), &k->pk); }

/* vp15's trace: every line begins "vp15 "; VERIFY, CHANGE REFERENCE
 * DATA, RESET RETRY COUNTER and PUT DATA (no PINs, no imported private
 * keys) are "vp15 > 00200081 <8 bytes not shown>"; a pull is
 * "vp15 < (card pulled at APDU N)". */
static const vcard_dialect vp15_dialect = {
	.name = "vp15", .prefix = "vp15 ",
	.redact_pre = " <", .redact_post = " bytes not shown>",
	.secret_ins = { 0x20, 0x24, 0x2C, 0xDB }, .nsecret = 4,
	.pulled = "pulled", .fault_note = "",
	.atr = vp15_atr_bytes, .atr_len = sizeof(vp15_atr_bytes),
};

rt_err *
vp15_blank(vp15 **out)
{
	vp15 *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "vp15 card");
	vcard_io_init(&c->io, &vp15_dialect);
	mbedtls_entropy_init(&c->entropy);
	mbedtls_ctr_drbg_init(&c->drbg);
	for (int i = 0; i < VP15_NKEYS; i++)
		vp15_key_clear(&c->keys[i]);
	static const char pers[] = "raterm vp15";
	int rc = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func,
	    &c->entropy, (const unsigned char *)pers, sizeof(pers) - 1);
	if (rc != 0) {
		vp15_free(c);
		return rt_err_new(RT_E_CRYPTO, NULL, "vp15: random generator: -0x%04x", -rc);
	}
	struct vp15_file *mf = &c->files[VP15_MF];
	mf->used = true;
	mf->df = true;
	mf->parent = -1;
	mf->fid = 0x3F00;
	/* The MF: everything allowed but deleting it. */
	memset(mf->sa, VP15_SC_ALWAYS, sizeof(mf->sa));
	mf->sa[0] = 0xFF;
	mf->sa[VP15_SA_DELETE_SELF] = VP15_SC_NEVER;
	c->cur_df = VP15_MF;
	c->cur_ef = -1;
	*out = c;
	return NULL;
}

void
vp15_file_drop(vp15 *c, int idx)
{
	for (int i = 0; i < VP15_MAX_FILES; i++)
		if (c->files[i].used && c->files[i].parent == idx)
			vp15_file_drop(c, i);
	struct vp15_file *f = &c->files[idx];
	if (f->data != NULL) {
		rt_wipe(f->data, f->size);
		free(f->data);
	}
	memset(f, 0, sizeof(*f));
}

void
vp15_free(vp15 *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < VP15_MAX_FILES; i++)
		if (c->files[i].used)
			vp15_file_drop(c, i);
	for (int i = 0; i < VP15_NKEYS; i++)
		vp15_key_clear(&c->keys[i]);
	if (c->chain != NULL) {
		rt_wipe(c->chain, VP15_MAX_CMD);
		free(c->chain);
	}
	if (c->resp != NULL) {
		rt_wipe(c->resp, c->resp_len);
		free(c->resp);
	}
	mbedtls_ctr_drbg_free(&c->drbg);
	mbedtls_entropy_free(&c->entropy);
	free(c->path);
	rt_wipe(c, sizeof(*c));
	free(c);
}

size_t vp15_atr(const vp15 *c, uint8_t *atr, size_t cap) { return vcard_atr(&c->io, atr, cap); }

void
vp15_reset(vp15 *c)
{
	memset(c->pin_ok, 0, sizeof(c->pin_ok));
	c->cur_df = VP15_MF;
	c->cur_ef = -1;
	c->se_set = false;
	c->chain_active = false;
	c->chain_len = 0;
	if (c->resp != NULL) {
		rt_wipe(c->resp, c->resp_len);
		free(c->resp);
		c->resp = NULL;
	}
	c->resp_len = c->resp_off = 0;
}

bool
vp15_operational(const vp15 *c)
{
	return c->pins[1].set;
}

/* ---- access conditions -------------------------------------------------- */

static bool
sc_ok(const vp15 *c, uint8_t sc)
{
	if (!vp15_operational(c))
		return true;            /* creation state */
	if (sc == VP15_SC_ALWAYS)
		return true;
	if (sc == VP15_SC_PIN)
		return c->pin_ok[1];
	if ((sc & 0xF0) == 0x90 && (sc & 0x0F) <= VP15_NPINS)
		return c->pin_ok[sc & 0x0F];
	return false;
}

/* ---- files -------------------------------------------------------------- */

static int
child_by_fid(const vp15 *c, int df, uint16_t fid)
{
	for (int i = 0; i < VP15_MAX_FILES; i++)
		if (c->files[i].used && c->files[i].parent == df &&
		    c->files[i].fid == fid)
			return i;
	return -1;
}

/* ISO 7816-4 SELECT by FID: the MF, a child of the current DF, the current
 * DF, its parent, a sibling of the current DF. */
static int
find_fid(const vp15 *c, uint16_t fid)
{
	if (fid == 0x3F00)
		return VP15_MF;
	int i = child_by_fid(c, c->cur_df, fid);
	if (i >= 0)
		return i;
	const struct vp15_file *df = &c->files[c->cur_df];
	if (df->fid == fid)
		return c->cur_df;
	if (df->parent >= 0) {
		if (c->files[df->parent].fid == fid)
			return df->parent;
		return child_by_fid(c, df->parent, fid);
	}
	return -1;
}

static int
find_path(const vp15 *c, int from, const uint8_t *p, size_t len)
{
	if (len == 0 || len % 2 != 0)
		return -1;
	int at = from;
	for (size_t i = 0; i < len; i += 2) {
		uint16_t fid = (uint16_t)(p[i] << 8 | p[i + 1]);
		if (i == 0 && fid == 0x3F00) {
			at = VP15_MF;
			continue;
		}
		if (!c->files[at].df)
			return -1;
		at = child_by_fid(c, at, fid);
		if (at < 0)
			return -1;
	}
	return at;
}

static int
find_aid(const vp15 *c, const uint8_t *aid, size_t len)
{
	for (int i = 0; i < VP15_MAX_FILES; i++) {
		const struct vp15_file *f = &c->files[i];
		if (f->used && f->df && f->aid_len == len && len > 0 &&
		    memcmp(f->aid, aid, len) == 0)
			return i;
	}
	return -1;
}

static size_t
total_ef_bytes(const vp15 *c)
{
	size_t n = 0;
	for (int i = 0; i < VP15_MAX_FILES; i++)
		if (c->files[i].used)
			n += c->files[i].size;
	return n;
}

/* The FCP template (62) of a file. */
static void
fcp_write(const vp15 *c, int idx, tlv_w *w)
{
	const struct vp15_file *f = &c->files[idx];
	uint8_t b[2];
	size_t m = tlv_w_open(w, 0x62);
	tlv_w_put_u8(w, 0x82, f->df ? 0x38 : 0x01);
	b[0] = (uint8_t)(f->fid >> 8);
	b[1] = (uint8_t)f->fid;
	tlv_w_put(w, 0x83, b, 2);
	if (!f->df) {
		b[0] = (uint8_t)(f->size >> 8);
		b[1] = (uint8_t)f->size;
		tlv_w_put(w, 0x80, b, 2);
	}
	if (f->aid_len > 0)
		tlv_w_put(w, 0x84, f->aid, f->aid_len);
	tlv_w_put_u8(w, 0x8A, 0x05);
	tlv_w_put(w, 0x86, f->sa, sizeof(f->sa));
	tlv_w_close(w, m);
}

/* ---- the response ----------------------------------------------------------- */

typedef struct {
	uint8_t cla, ins, p1, p2;
	const uint8_t *data;
	size_t lc;
	size_t ne;              /* 0: no Le; else at most this many bytes */
	bool ext;
} cmd_t;

typedef struct {
	uint8_t *buf;           /* response data (before the SW) */
	size_t cap, len;
} out_t;

static rt_err *
parse_apdu(const uint8_t *b, size_t n, cmd_t *c)
{
	memset(c, 0, sizeof(*c));
	if (n < 4)
		return rt_err_new(RT_E_ARG, NULL, "APDU of %zu bytes", n);
	c->cla = b[0];
	c->ins = b[1];
	c->p1 = b[2];
	c->p2 = b[3];
	if (n == 4)
		return NULL;
	if (n == 5) {
		c->ne = b[4] == 0 ? 256 : b[4];
		return NULL;
	}
	if (b[4] != 0) {
		size_t lc = b[4];
		if (n == 5 + lc || n == 6 + lc) {
			c->data = b + 5;
			c->lc = lc;
			if (n == 6 + lc)
				c->ne = b[5 + lc] == 0 ? 256 : b[5 + lc];
			return NULL;
		}
		return rt_err_new(RT_E_ARG, NULL, "APDU length");
	}
	/* extended */
	c->ext = true;
	if (n == 7) {
		size_t le = (size_t)b[5] << 8 | b[6];
		c->ne = le == 0 ? 65536 : le;
		return NULL;
	}
	size_t lc = (size_t)b[5] << 8 | b[6];
	if (lc == 0 || (n != 7 + lc && n != 9 + lc))
		return rt_err_new(RT_E_ARG, NULL, "APDU length");
	c->data = b + 7;
	c->lc = lc;
	if (n == 9 + lc) {
		size_t le = (size_t)b[7 + lc] << 8 | b[8 + lc];
		c->ne = le == 0 ? 65536 : le;
	}
	return NULL;
}

/* ---- commands --------------------------------------------------------------- */

static uint16_t
cmd_select(vp15 *c, const cmd_t *k, out_t *o)
{
	int idx = -1;
	switch (k->p1) {
	case 0x00:
		if (k->lc == 0)
			idx = VP15_MF;
		else if (k->lc == 2)
			idx = find_fid(c, (uint16_t)(k->data[0] << 8 | k->data[1]));
		else
			return SW_WRONG_LENGTH;
		break;
	case 0x01:      /* child DF */
	case 0x02:      /* EF under the current DF */
		if (k->lc != 2)
			return SW_WRONG_LENGTH;
		idx = child_by_fid(c, c->cur_df, (uint16_t)(k->data[0] << 8 | k->data[1]));
		if (idx >= 0 && c->files[idx].df != (k->p1 == 0x01))
			idx = -1;
		break;
	case 0x04:
		if (k->lc == sizeof(vp15_isoapplet_aid) &&
		    memcmp(k->data, vp15_isoapplet_aid, k->lc) == 0) {
			/* the applet: its version; the MF selected */
			vp15_reset(c);
			memcpy(o->buf, vp15_applet_info, sizeof(vp15_applet_info));
			o->len = sizeof(vp15_applet_info);
			return SW_OK;
		}
		idx = find_aid(c, k->data, k->lc);
		break;
	case 0x08:
		idx = find_path(c, VP15_MF, k->data, k->lc);
		break;
	case 0x09:
		idx = find_path(c, c->cur_df, k->data, k->lc);
		break;
	default:
		return SW_WRONG_P1P2;
	}
	if (idx < 0)
		return SW_NOT_FOUND;
	if (c->files[idx].df) {
		c->cur_df = idx;
		c->cur_ef = -1;
	} else {
		c->cur_df = c->files[idx].parent;
		c->cur_ef = idx;
	}
	if ((k->p2 & 0x0C) == 0x0C)
		return SW_OK;
	tlv_w w;
	tlv_w_init(&w, o->buf, o->cap);
	fcp_write(c, idx, &w);
	if (tlv_w_finish(&w) != NULL)
		return SW_UNKNOWN;      /* cannot happen: the FCP is small */
	o->len = w.len;
	return SW_OK;
}

static uint16_t
cmd_read_binary(vp15 *c, const cmd_t *k, out_t *o)
{
	if (k->p1 & 0x80)
		return SW_FUNC_NOT_SUPP;        /* no short EF identifiers */
	if (c->cur_ef < 0)
		return SW_NO_EF;
	struct vp15_file *f = &c->files[c->cur_ef];
	if (!sc_ok(c, f->sa[VP15_SA_EF_READ]))
		return SW_SECURITY;
	size_t off = (size_t)k->p1 << 8 | k->p2;
	if (off > f->size)
		return SW_OFFSET;
	size_t n = f->size - off;
	if (n > k->ne)
		n = k->ne;
	if (n > o->cap)
		n = o->cap;
	memcpy(o->buf, f->data + off, n);
	o->len = n;
	if (n < k->ne && k->ne != 256 && k->ne != 65536)
		return 0x6282;          /* end of file before Ne bytes */
	return SW_OK;
}

static uint16_t
cmd_update_binary(vp15 *c, const cmd_t *k)
{
	if (k->p1 & 0x80)
		return SW_FUNC_NOT_SUPP;
	if (c->cur_ef < 0)
		return SW_NO_EF;
	struct vp15_file *f = &c->files[c->cur_ef];
	if (!sc_ok(c, f->sa[VP15_SA_EF_UPDATE]))
		return SW_SECURITY;
	size_t off = (size_t)k->p1 << 8 | k->p2;
	if (off > f->size)
		return SW_OFFSET;
	if (k->lc > f->size - off)
		return SW_WRONG_LENGTH;
	memcpy(f->data + off, k->data, k->lc);
	return SW_OK;
}

int
vp15_file_add(vp15 *c, int parent, const struct vp15_file *f)
{
	if (child_by_fid(c, parent, f->fid) >= 0 ||
	    (f->aid_len > 0 && find_aid(c, f->aid, f->aid_len) >= 0))
		return -2;
	if (f->size > VP15_MAX_EF || total_ef_bytes(c) + f->size > VP15_MAX_TOTAL)
		return -1;
	int slot = -1;
	for (int i = 0; i < VP15_MAX_FILES && slot < 0; i++)
		if (!c->files[i].used)
			slot = i;
	if (slot < 0)
		return -1;
	struct vp15_file nf = *f;
	nf.data = NULL;
	if (!nf.df) {
		nf.data = calloc(1, nf.size ? nf.size : 1);
		if (nf.data == NULL)
			return -1;
	}
	nf.used = true;
	nf.parent = parent;
	c->files[slot] = nf;
	return slot;
}

int
vp15_find_path(const vp15 *c, const uint8_t *p, size_t len)
{
	return find_path(c, VP15_MF, p, len);
}

static uint16_t
cmd_create_file(vp15 *c, const cmd_t *k)
{
	tlv_cur t, in;
	uint32_t tag;
	const uint8_t *v, *fcp;
	size_t vlen, fcplen;
	tlv_init(&t, k->data, k->lc);
	rt_err *e = tlv_next(&t, &tag, &fcp, &fcplen);
	if (e != NULL || (tag != 0x62 && tag != 0x6F) || !tlv_at_end(&t)) {
		rt_err_free(e);
		return SW_WRONG_DATA;
	}
	struct vp15_file nf;
	memset(&nf, 0, sizeof(nf));
	bool have_fid = false, have_desc = false;
	memset(nf.sa, VP15_SC_ALWAYS, sizeof(nf.sa));
	nf.sa[0] = 0xFF;
	tlv_init(&in, fcp, fcplen);
	while (!tlv_at_end(&in)) {
		if ((e = tlv_next(&in, &tag, &v, &vlen)) != NULL) {
			rt_err_free(e);
			return SW_WRONG_DATA;
		}
		switch (tag) {
		case 0x80:
		case 0x81:
			if (vlen == 0 || vlen > 4)
				return SW_WRONG_DATA;
			nf.size = 0;
			for (size_t i = 0; i < vlen; i++)
				nf.size = nf.size << 8 | v[i];
			break;
		case 0x82:
			if (vlen < 1)
				return SW_WRONG_DATA;
			nf.df = (v[0] & 0x38) == 0x38;
			if (!nf.df && (v[0] & 0x07) != 0x01)
				return SW_FUNC_NOT_SUPP;        /* transparent EFs only */
			have_desc = true;
			break;
		case 0x83:
			if (vlen != 2)
				return SW_WRONG_DATA;
			nf.fid = (uint16_t)(v[0] << 8 | v[1]);
			have_fid = true;
			break;
		case 0x84:
			if (vlen == 0 || vlen > sizeof(nf.aid))
				return SW_WRONG_DATA;
			memcpy(nf.aid, v, vlen);
			nf.aid_len = vlen;
			break;
		case 0x86:
			if (vlen != sizeof(nf.sa) || v[0] != 0xFF)
				return SW_WRONG_DATA;
			memcpy(nf.sa, v, vlen);
			break;
		default:
			break;          /* 85, 8A, A1, ...: not kept */
		}
	}
	if (!have_fid || !have_desc || nf.fid == 0x3F00 || nf.fid == 0xFFFF)
		return SW_WRONG_DATA;
	if (nf.df)
		nf.size = 0;
	if (nf.size > VP15_MAX_EF || total_ef_bytes(c) + nf.size > VP15_MAX_TOTAL)
		return SW_NO_SPACE;
	struct vp15_file *parent = &c->files[c->cur_df];
	if (!sc_ok(c, parent->sa[nf.df ? VP15_SA_DF_CREATE_DF : VP15_SA_DF_CREATE_EF]))
		return SW_SECURITY;
	int slot = vp15_file_add(c, c->cur_df, &nf);
	if (slot == -2)
		return SW_EXISTS;
	if (slot < 0)
		return SW_NO_SPACE;
	/* The new file is the current one. */
	if (nf.df) {
		c->cur_df = slot;
		c->cur_ef = -1;
	} else {
		c->cur_ef = slot;
	}
	return SW_OK;
}

static uint16_t
cmd_delete_file(vp15 *c, const cmd_t *k)
{
	int idx;
	if (k->lc == 2)
		idx = child_by_fid(c, c->cur_df, (uint16_t)(k->data[0] << 8 | k->data[1]));
	else if (k->lc == 0)
		idx = c->cur_ef >= 0 ? c->cur_ef : c->cur_df;
	else
		return SW_WRONG_LENGTH;
	if (idx < 0)
		return SW_NOT_FOUND;
	if (idx == VP15_MF)
		return SW_CONDITIONS;
	if (!sc_ok(c, c->files[idx].sa[VP15_SA_DELETE_SELF]))
		return SW_SECURITY;
	int parent = c->files[idx].parent;
	vp15_file_drop(c, idx);
	/* What was selected may be gone: the parent is current. */
	c->cur_df = parent;
	c->cur_ef = -1;
	return SW_OK;
}

/* ---- PINs --------------------------------------------------------------- */

/* PINs are compared without the pad bytes (00) OpenSC may add. */
static size_t
pin_unpadded(const uint8_t *p, size_t len)
{
	while (len > 0 && p[len - 1] == 0x00)
		len--;
	return len;
}

static bool
pin_match(const struct vp15_pin *p, const uint8_t *v, size_t len)
{
	len = pin_unpadded(v, len);
	uint8_t diff = (uint8_t)(len != p->len);
	for (size_t i = 0; i < p->len && i < len; i++)
		diff |= p->val[i] ^ v[i];
	return diff == 0;
}

static uint16_t
pin_check(vp15 *c, uint8_t ref, const uint8_t *v, size_t len)
{
	struct vp15_pin *p = &c->pins[ref];
	if (p->left == 0)
		return SW_BLOCKED;
	if (!pin_match(p, v, len)) {
		p->left--;
		c->pin_ok[ref] = false;
		return p->left == 0 ? SW_BLOCKED : (uint16_t)(0x63C0 | p->left);
	}
	p->left = p->total;
	c->pin_ok[ref] = true;
	return SW_OK;
}

static uint16_t
pin_set(vp15 *c, uint8_t ref, const uint8_t *v, size_t len)
{
	len = pin_unpadded(v, len);
	if (len < 4 || len > VP15_PIN_MAX)
		return SW_WRONG_DATA;
	struct vp15_pin *p = &c->pins[ref];
	rt_wipe(p->val, sizeof(p->val));
	memcpy(p->val, v, len);
	p->len = len;
	p->set = true;
	p->total = p->left = 3;
	return SW_OK;
}

static bool
pin_ref_ok(uint8_t ref)
{
	return ref >= 1 && ref <= VP15_NPINS;
}

static uint16_t
cmd_verify(vp15 *c, const cmd_t *k)
{
	uint8_t ref = k->p2 & 0x7F;
	if (k->p1 != 0x00 || !pin_ref_ok(ref))
		return SW_WRONG_P1P2;
	struct vp15_pin *p = &c->pins[ref];
	if (!p->set)
		return SW_REF_NOT_FOUND;
	if (k->lc == 0) {
		if (c->pin_ok[ref])
			return SW_OK;
		return p->left == 0 ? SW_BLOCKED : (uint16_t)(0x63C0 | p->left);
	}
	return pin_check(c, ref, k->data, k->lc);
}

/* P1 00: old || new (the old PIN's length is the stored one's, or the
 * padded length OpenSC uses: VP15_PIN_MAX); P1 01: new only, allowed in
 * the creation state and for a PIN not set yet. */
static uint16_t
cmd_change_reference(vp15 *c, const cmd_t *k)
{
	uint8_t ref = k->p2 & 0x7F;
	if (!pin_ref_ok(ref))
		return SW_WRONG_P1P2;
	struct vp15_pin *p = &c->pins[ref];
	if (k->p1 == 0x01) {
		if (vp15_operational(c) && p->set)
			return SW_CONDITIONS;
		return pin_set(c, ref, k->data, k->lc);
	}
	if (k->p1 != 0x00)
		return SW_WRONG_P1P2;
	if (!p->set)
		return SW_REF_NOT_FOUND;
	size_t oldlen = p->len;
	if (k->lc >= 2 * VP15_PIN_MAX && k->lc > oldlen + VP15_PIN_MAX)
		oldlen = VP15_PIN_MAX;
	if (k->lc <= oldlen)
		return SW_WRONG_LENGTH;
	uint16_t sw = pin_check(c, ref, k->data, oldlen);
	if (sw != SW_OK)
		return sw;
	return pin_set(c, ref, k->data + oldlen, k->lc - oldlen);
}

/* The PUK of PIN `ref` is `ref + 1` (IsoApplet: PIN 1, PUK 2). P1 00:
 * PUK || new PIN; P1 01: PUK (unblocks). */
static uint16_t
cmd_reset_retry(vp15 *c, const cmd_t *k)
{
	uint8_t ref = k->p2 & 0x7F;
	if (!pin_ref_ok(ref) || ref + 1 >= VP15_SO_PIN)
		return SW_WRONG_P1P2;   /* the SO PIN has no PUK, is none */
	struct vp15_pin *pin = &c->pins[ref], *puk = &c->pins[ref + 1];
	if (!pin->set || !puk->set)
		return SW_REF_NOT_FOUND;
	size_t puklen;
	if (k->p1 == 0x01)
		puklen = k->lc;
	else if (k->p1 == 0x00)
		puklen = k->lc > puk->len + VP15_PIN_MAX ? VP15_PIN_MAX : puk->len;
	else
		return SW_WRONG_P1P2;
	if (k->lc < puklen || (k->p1 == 0x00 && k->lc == puklen))
		return SW_WRONG_LENGTH;
	uint16_t sw = pin_check(c, ref + 1, k->data, puklen);
	c->pin_ok[ref + 1] = false;
	if (sw != SW_OK)
		return sw;
	if (k->p1 == 0x00) {
		sw = pin_set(c, ref, k->data + puklen, k->lc - puklen);
		if (sw != SW_OK)
			return sw;
	}
	pin->left = pin->total;
	return SW_OK;
}

/* ---- keys --------------------------------------------------------------- */

static uint16_t
cmd_mse(vp15 *c, const cmd_t *k)
{
	if (k->p1 != 0x41 && k->p1 != 0x81)
		return SW_WRONG_P1P2;
	if (k->p2 != 0x00 && k->p2 != 0xB6 && k->p2 != 0xB8)
		return SW_WRONG_P1P2;
	tlv_cur t;
	uint32_t tag;
	const uint8_t *v;
	size_t vlen;
	bool alg = false, key = false;
	tlv_init(&t, k->data, k->lc);
	while (!tlv_at_end(&t)) {
		rt_err *e = tlv_next(&t, &tag, &v, &vlen);
		if (e != NULL) {
			rt_err_free(e);
			return SW_WRONG_DATA;
		}
		if (tag == 0x80 && vlen == 1) {
			c->se_alg = v[0];
			alg = true;
		} else if ((tag == 0x83 || tag == 0x84) && vlen == 1) {
			if (v[0] >= VP15_NKEYS)
				return SW_REF_NOT_FOUND;
			c->se_key = v[0];
			key = true;
		} else if (tag == 0x81) {
			/* a file reference: the key is named by 83/84 */
		} else {
			return SW_WRONG_DATA;
		}
	}
	if (!alg || !key) {
		c->se_set = false;
		return SW_WRONG_DATA;
	}
	c->se_set = true;
	return SW_OK;
}

/* Which named curve explicit parameters (81 prime) describe. */
static int
curve_of_prime(const uint8_t *p, size_t len, mbedtls_ecp_group_id *id)
{
	static const mbedtls_ecp_group_id ids[] = {
		MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_SECP384R1,
	};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		mbedtls_ecp_group g;
		uint8_t buf[66];
		mbedtls_ecp_group_init(&g);
		int ok = mbedtls_ecp_group_load(&g, ids[i]) == 0 &&
		    mbedtls_mpi_size(&g.P) == len &&
		    mbedtls_mpi_write_binary(&g.P, buf, len) == 0 &&
		    memcmp(buf, p, len) == 0;
		mbedtls_ecp_group_free(&g);
		if (ok) {
			*id = ids[i];
			return 0;
		}
	}
	return -1;
}

static uint16_t
cmd_generate(vp15 *c, const cmd_t *k, out_t *o)
{
	if (!c->se_set)
		return SW_CONDITIONS;
	if (vp15_operational(c) && !c->pin_ok[1])
		return SW_SECURITY;
	struct vp15_key *key = &c->keys[c->se_key];
	mbedtls_pk_context pk;
	int rc;
	tlv_w w;
	tlv_w_init(&w, o->buf, o->cap);
	mbedtls_pk_init(&pk);
	if (c->se_alg == VP15_ALG_EC) {
		const uint8_t *prime;
		size_t plen;
		mbedtls_ecp_group_id id;
		rt_err *e = tlv_find(k->data, k->lc, 0x81, &prime, &plen);
		if (e != NULL) {
			rt_err_free(e);
			return SW_WRONG_DATA;
		}
		if (curve_of_prime(prime, plen, &id) != 0)
			return SW_FUNC_NOT_SUPP;
		rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
		if (rc == 0)
			rc = mbedtls_ecp_gen_key(id, mbedtls_pk_ec(pk), vp15_rng, c);
		if (rc != 0) {
			mbedtls_pk_free(&pk);
			return SW_UNKNOWN;
		}
		/* The parameters as sent, then the point. */
		uint8_t q[MBEDTLS_ECP_MAX_PT_LEN];
		size_t qlen;
		const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(pk);
		rc = mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q,
		    MBEDTLS_ECP_PF_UNCOMPRESSED, &qlen, q, sizeof(q));
		size_t m = tlv_w_open(&w, 0x7F49);
		tlv_w_raw(&w, k->data, k->lc);
		tlv_w_put(&w, 0x86, q, qlen);
		tlv_w_close(&w, m);
	} else if (c->se_alg == VP15_ALG_RSA2048) {
		rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
		if (rc == 0)
			rc = mbedtls_rsa_gen_key(mbedtls_pk_rsa(pk), vp15_rng, c, 2048, 65537);
		uint8_t n[256], e3[3];
		const mbedtls_rsa_context *r = mbedtls_pk_rsa(pk);
		if (rc == 0)
			rc = mbedtls_mpi_write_binary(&r->N, n, sizeof(n));
		if (rc == 0)
			rc = mbedtls_mpi_write_binary(&r->E, e3, sizeof(e3));
		if (rc == 0) {
			size_t m = tlv_w_open(&w, 0x7F49);
			tlv_w_put(&w, 0x81, n, sizeof(n));
			tlv_w_put(&w, 0x82, e3, sizeof(e3));
			tlv_w_close(&w, m);
		}
	} else {
		return SW_FUNC_NOT_SUPP;
	}
	rt_err *e = tlv_w_finish(&w);
	if (rc != 0 || e != NULL) {
		rt_err_free(e);
		mbedtls_pk_free(&pk);
		return SW_UNKNOWN;
	}
	vp15_key_clear(key);
	key->pk = pk;
	key->present = true;
	key->pin_ref = 1;
	o->len = w.len;
	return SW_OK;
}

/* PUT DATA (DB 3F FF) after MSE SET: the IsoApplet's key import (ISO
 * 7816-8 C.2). EC: E0 {81 p, 82 a, 83 b, 84 G, 85 n, 87 h, 88 d} (P-256 or
 * P-384 by the prime); RSA 2048: 7F48 {92 p, 93 q, 94 .. 96 the CRT
 * values, which are recomputed}, exponent 65537. */
static uint16_t
cmd_put_data(vp15 *c, const cmd_t *k)
{
	if (k->p1 != 0x3F || k->p2 != 0xFF)
		return SW_WRONG_P1P2;
	if (!c->se_set)
		return SW_CONDITIONS;
	if (vp15_operational(c) && !c->pin_ok[1])
		return SW_SECURITY;
	const uint8_t *v, *a, *b;
	size_t vlen, alen, blen;
	mbedtls_pk_context pk;
	int rc = -1;
	rt_err *e;
	mbedtls_pk_init(&pk);
	if (c->se_alg == VP15_ALG_EC) {
		mbedtls_ecp_group_id id;
		if ((e = tlv_find(k->data, k->lc, 0xE0, &v, &vlen)) != NULL ||
		    (e = tlv_find(v, vlen, 0x81, &a, &alen)) != NULL ||
		    (e = tlv_find(v, vlen, 0x88, &b, &blen)) != NULL) {
			rt_err_free(e);
			return SW_WRONG_DATA;
		}
		if (curve_of_prime(a, alen, &id) != 0)
			return SW_FUNC_NOT_SUPP;
		mbedtls_ecp_keypair *ec;
		if ((rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) == 0) {
			ec = mbedtls_pk_ec(pk);
			if ((rc = mbedtls_ecp_group_load(&ec->grp, id)) == 0 &&
			    (rc = mbedtls_mpi_read_binary(&ec->d, b, blen)) == 0 &&
			    (rc = mbedtls_ecp_check_privkey(&ec->grp, &ec->d)) == 0)
				rc = mbedtls_ecp_mul(&ec->grp, &ec->Q, &ec->d, &ec->grp.G,
				    vp15_rng, c);
		}
	} else if (c->se_alg == VP15_ALG_RSA2048) {
		if ((e = tlv_find(k->data, k->lc, 0x7F48, &v, &vlen)) != NULL ||
		    (e = tlv_find(v, vlen, 0x92, &a, &alen)) != NULL ||
		    (e = tlv_find(v, vlen, 0x93, &b, &blen)) != NULL) {
			rt_err_free(e);
			return SW_WRONG_DATA;
		}
		static const uint8_t e65537[3] = { 0x01, 0x00, 0x01 };
		if ((rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA))) == 0) {
			mbedtls_rsa_context *r = mbedtls_pk_rsa(pk);
			if ((rc = mbedtls_rsa_import_raw(r, NULL, 0, a, alen, b, blen,
			    NULL, 0, e65537, 3)) == 0 &&
			    (rc = mbedtls_rsa_complete(r)) == 0 &&
			    (rc = mbedtls_rsa_check_privkey(r)) == 0 &&
			    mbedtls_rsa_get_len(r) != 256)
				rc = -1;
		}
	} else {
		return SW_FUNC_NOT_SUPP;
	}
	if (rc != 0) {
		mbedtls_pk_free(&pk);
		return SW_WRONG_DATA;
	}
	struct vp15_key *key = &c->keys[c->se_key];
	vp15_key_clear(key);
	key->pk = pk;
	key->present = true;
	key->pin_ref = 1;
	return SW_OK;
}

/* PSO COMPUTE DIGITAL SIGNATURE: ECDSA (answered in DER, as the IsoApplet
 * does), or RSA PKCS#1 v1.5 over a DigestInfo. */
static uint16_t
cmd_pso(vp15 *c, const cmd_t *k, out_t *o)
{
	if (k->p1 != 0x9E || k->p2 != 0x9A)
		return SW_WRONG_P1P2;           /* signing only */
	if (!c->se_set)
		return SW_CONDITIONS;
	struct vp15_key *key = &c->keys[c->se_key];
	if (!key->present)
		return SW_REF_NOT_FOUND;
	if (!c->pin_ok[key->pin_ref])
		return SW_SECURITY;
	if (k->lc == 0)
		return SW_WRONG_LENGTH;
	int rc;
	if (mbedtls_pk_get_type(&key->pk) == MBEDTLS_PK_RSA) {
		if (c->se_alg != VP15_SIG_RSA_PKCS1)
			return SW_CONDITIONS;
		mbedtls_rsa_context *r = mbedtls_pk_rsa(key->pk);
		size_t n = mbedtls_rsa_get_len(r);
		if (o->cap < n || k->lc > n - 11)
			return SW_WRONG_LENGTH;
		rc = mbedtls_rsa_rsassa_pkcs1_v15_sign(r, vp15_rng, c,
		    MBEDTLS_RSA_PRIVATE, MBEDTLS_MD_NONE, (unsigned)k->lc,
		    k->data, o->buf);
		if (rc != 0)
			return SW_UNKNOWN;
		o->len = n;
		return SW_OK;
	}
	/* 21: the IsoApplet's ECDSA (JavaCard ALG_ECDSA_SHA): the card hashes
	 * the data with SHA-1, as OpenSC 0.23's isoApplet driver expects
	 * (ECDSA-SHA1 only); 22 (vp15's own): over a hash computed by the
	 * host (SHA-256 and others). */
	const uint8_t *h = k->data;
	size_t hlen = k->lc;
	uint8_t sha1[20];
	if (c->se_alg == VP15_SIG_ECDSA) {
		if (mbedtls_sha1_ret(k->data, k->lc, sha1) != 0)
			return SW_UNKNOWN;
		h = sha1;
		hlen = sizeof(sha1);
	} else if (c->se_alg != VP15_SIG_ECDSA_HASH) {
		return SW_CONDITIONS;
	} else if (k->lc > 64) {
		return SW_WRONG_LENGTH;
	}
	mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key->pk);
	mbedtls_mpi r, s;
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	uint8_t rs[2 * MBEDTLS_ECP_MAX_BYTES];
	size_t fl = mbedtls_mpi_size(&ec->grp.P);
	rc = mbedtls_ecdsa_sign(&ec->grp, &r, &s, &ec->d, h, hlen, vp15_rng, c);
	if (rc == 0)
		rc = mbedtls_mpi_write_binary(&r, rs, fl);
	if (rc == 0)
		rc = mbedtls_mpi_write_binary(&s, rs + fl, fl);
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	if (rc != 0)
		return SW_UNKNOWN;
	rt_err *e = rt_ecdsa_raw_to_der(rs, 2 * fl, o->buf, o->cap, &o->len);
	if (e != NULL) {
		rt_err_free(e);
		return SW_UNKNOWN;
	}
	return SW_OK;
}

static uint16_t
cmd_get_challenge(vp15 *c, const cmd_t *k, out_t *o)
{
	if (k->ne == 0 || k->ne > o->cap || k->ne > 256)
		return SW_WRONG_LENGTH;
	if (vp15_rng(c, o->buf, k->ne) != 0)
		return SW_UNKNOWN;
	o->len = k->ne;
	return SW_OK;
}

/* ---- dispatch ----------------------------------------------------------- */

static bool
changes_state(uint8_t ins)
{
	switch (ins) {
	case 0xD6: case 0xE0: case 0xE4: case 0x20: case 0x24: case 0x2C:
	case 0x46: case 0xDB:
		return true;
	default:
		return false;
	}
}

static uint16_t
dispatch(vp15 *c, const cmd_t *k, out_t *o)
{
	switch (k->ins) {
	case 0xA4: return cmd_select(c, k, o);
	case 0xB0: return cmd_read_binary(c, k, o);
	case 0xD6: return cmd_update_binary(c, k);
	case 0xE0: return cmd_create_file(c, k);
	case 0xE4: return cmd_delete_file(c, k);
	case 0x20: return cmd_verify(c, k);
	case 0x24: return cmd_change_reference(c, k);
	case 0x2C: return cmd_reset_retry(c, k);
	case 0x22: return cmd_mse(c, k);
	case 0x46: return cmd_generate(c, k, o);
	case 0xDB: return cmd_put_data(c, k);
	case 0x2A: return cmd_pso(c, k, o);
	case 0x84: return cmd_get_challenge(c, k, o);
	default:   return SW_INS_NOT_SUPP;
	}
}

/* Copies at most ne bytes of data into rsp; the rest waits for GET
 * RESPONSE (61xx). */
static void
respond(vp15 *c, const uint8_t *data, size_t len, size_t ne, uint16_t sw,
    uint8_t *rsp, size_t cap, size_t *rlen)
{
	size_t n = len;
	if (ne == 0)
		n = 0;
	if (n > ne)
		n = ne;
	if (n > cap - 2)
		n = cap - 2;
	if (n > 0)
		memcpy(rsp, data, n);
	if (n < len && ne != 0 && sw == SW_OK) {
		size_t rest = len - n;
		uint8_t *p = malloc(rest);
		if (p == NULL) {
			sw = SW_UNKNOWN;
			n = 0;
		} else {
			memcpy(p, data + n, rest);
			c->resp = p;
			c->resp_len = rest;
			c->resp_off = 0;
			sw = (uint16_t)(0x6100 | (rest > 255 ? 0 : rest));
		}
	}
	rsp[n] = (uint8_t)(sw >> 8);
	rsp[n + 1] = (uint8_t)sw;
	*rlen = n + 2;
}

rt_err *
vp15_apdu(vp15 *c, const uint8_t *b, size_t n, uint8_t *rsp, size_t cap,
    size_t *rlen)
{
	bool sw_only;
	rt_err *e = vcard_arrive(&c->io, b, n, cap, &sw_only);
	if (e != NULL)
		return e;
	uint16_t sw;
	uint8_t *data = NULL;
	size_t dlen = 0, ne = 0;
	cmd_t k;
	e = parse_apdu(b, n, &k);
	if (sw_only) {
		rt_err_free(e);
		sw = c->io.sw_value;
		goto done;
	}
	if (e != NULL) {
		rt_err_free(e);
		sw = SW_WRONG_LENGTH;
		goto done;
	}
	ne = k.ne;
	if (k.ins == 0xC0) {            /* GET RESPONSE */
		if (c->resp == NULL) {
			sw = SW_CONDITIONS;
			goto done;
		}
		uint8_t *p = c->resp;
		size_t len = c->resp_len;
		c->resp = NULL;
		c->resp_len = 0;
		respond(c, p, len, ne ? ne : 256, SW_OK, rsp, cap, rlen);
		rt_wipe(p, len);
		free(p);
		vcard_depart(&c->io, rsp, *rlen);
		return NULL;
	}
	if (c->resp != NULL) {          /* an answer not fetched is dropped */
		rt_wipe(c->resp, c->resp_len);
		free(c->resp);
		c->resp = NULL;
		c->resp_len = 0;
	}
	if ((k.cla & ~0x10) != 0x00) {
		sw = SW_CLA_NOT_SUPP;
		goto done;
	}
	/* command chaining */
	if (k.cla & 0x10 || c->chain_active) {
		if (c->chain == NULL && (c->chain = malloc(VP15_MAX_CMD)) == NULL) {
			sw = SW_UNKNOWN;
			goto done;
		}
		if (c->chain_active && (k.ins != c->chain_ins || k.p1 != c->chain_p1 ||
		    k.p2 != c->chain_p2)) {
			c->chain_active = false;
			c->chain_len = 0;
			sw = SW_LAST_CMD_EXPECTED;
			goto done;
		}
		if (c->chain_len + k.lc > VP15_MAX_CMD) {
			c->chain_active = false;
			c->chain_len = 0;
			sw = SW_WRONG_LENGTH;
			goto done;
		}
		memcpy(c->chain + c->chain_len, k.data, k.lc);
		c->chain_len += k.lc;
		if (k.cla & 0x10) {
			c->chain_active = true;
			c->chain_ins = k.ins;
			c->chain_p1 = k.p1;
			c->chain_p2 = k.p2;
			sw = SW_OK;
			goto done;
		}
		c->chain_active = false;
		k.data = c->chain;
		k.lc = c->chain_len;
		c->chain_len = 0;
	}
	dlen = 0;
	data = malloc(VP15_MAX_CMD);
	if (data == NULL) {
		sw = SW_UNKNOWN;
		goto done;
	}
	out_t o = { data, VP15_MAX_CMD, 0 };
	sw = dispatch(c, &k, &o);
	dlen = o.len;
	if (changes_state(k.ins) && c->path != NULL) {
		rt_err *se = vp15_save(c);
		if (se != NULL) {
			vcard_trace_err(&c->io, se);
			rt_err_free(se);
			sw = SW_MEMORY_FAILURE;
			dlen = 0;
		}
	}
done:
	if (sw != SW_OK && (sw & 0xFF00) != 0x6200)
		dlen = 0;
	respond(c, data, dlen, ne, sw, rsp, cap, rlen);
	if (data != NULL) {
		rt_wipe(data, dlen);
		free(data);
	}
	vcard_depart(&c->io, rsp, *rlen);
	return NULL;
}

/* ---- inspection --------------------------------------------------------- */

static void
walk(const vp15 *c, int idx, int depth, uint8_t *path, vp15_file_fn fn, void *arg)
{
	const struct vp15_file *f = &c->files[idx];
	path[2 * depth] = (uint8_t)(f->fid >> 8);
	path[2 * depth + 1] = (uint8_t)f->fid;
	fn(arg, depth, path, 2 * (size_t)(depth + 1), f->df, f->aid, f->aid_len,
	    f->sa, f->data, f->size);
	if (!f->df || depth + 1 >= VP15_MAX_FILES)
		return;
	for (int i = 0; i < VP15_MAX_FILES; i++)
		if (c->files[i].used && c->files[i].parent == idx)
			walk(c, i, depth + 1, path, fn, arg);
}

void
vp15_walk(const vp15 *c, vp15_file_fn fn, void *arg)
{
	uint8_t path[2 * VP15_MAX_FILES];
	walk(c, VP15_MF, 0, path, fn, arg);
}

rt_err *
vp15_file_get(const vp15 *c, const uint8_t *path, size_t plen,
    const uint8_t **data, size_t *len)
{
	int idx = find_path(c, VP15_MF, path, plen);
	if (idx < 0 || c->files[idx].df)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "vp15: no EF at that path");
	*data = c->files[idx].data;
	*len = c->files[idx].size;
	return NULL;
}

void
vp15_pin_info(const vp15 *c, uint8_t ref, bool *set, int *total, int *left)
{
	*set = false;
	*total = *left = 0;
	if (!pin_ref_ok(ref))
		return;
	*set = c->pins[ref].set;
	*total = c->pins[ref].total;
	*left = c->pins[ref].left;
}

rt_err *
vp15_key_pubkey_der(const vp15 *c, uint8_t ref, uint8_t *buf, size_t cap,
    size_t *len)
{
	if (ref >= VP15_NKEYS)
		return rt_err_new(RT_E_ARG, NULL, "vp15: key reference %u", ref);
	const struct vp15_key *k = &c->keys[ref];
	if (!k->present)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "vp15: no key %u", ref);
	int n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)&k->pk, buf, cap);
	if (n < 0)
		return rt_err_new(RT_E_TOO_BIG, NULL, "vp15: public key of key %u", ref);
	memmove(buf, buf + cap - (size_t)n, (size_t)n);
	*len = (size_t)n;
	return NULL;
}
