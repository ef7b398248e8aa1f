/*
 * state.c - the virtual card's state: creation, data objects, and the
 * state file (a line-oriented text format, see docs/vpiv.md), written
 * atomically (temp file, fsync, rename, fsync of the directory).
 */
#include "vpiv_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

static const uint8_t slot_table[VPIV_NSLOTS] = {
	0x9A, 0x9C, 0x9D, 0x9E,
	0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B,
	0x8C, 0x8D, 0x8E, 0x8F, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95,
	0xF9,
};

int
vpiv_slot_index(uint8_t slot)
{
	for (int i = 0; i < VPIV_NSLOTS; i++)
		if (slot_table[i] == slot)
			return i;
	return -1;
}

uint8_t
vpiv_slot_at(int index)
{
	return slot_table[index];
}

size_t
vpiv_slots(const uint8_t **slots)
{
	*slots = slot_table;
	return VPIV_NSLOTS;
}

uint8_t
vpiv_default_pin_policy(uint8_t slot)
{
	switch (slot) {
	case 0x9C: return VPIV_PIN_ALWAYS;
	case 0x9E: return VPIV_PIN_NEVER;
	case 0xF9: return VPIV_PIN_NEVER;
	default:   return VPIV_PIN_ONCE;
	}
}

uint32_t
vpiv_cert_object(uint8_t slot)
{
	switch (slot) {
	case 0x9A: return 0x5FC105;
	case 0x9C: return 0x5FC10A;
	case 0x9D: return 0x5FC10B;
	case 0x9E: return 0x5FC101;
	case 0xF9: return 0x5FFF01;
	default:
		if (slot >= 0x82 && slot <= 0x95)
			return 0x5FC10D + (uint32_t)(slot - 0x82);
		return 0;
	}
}

/* ---- hex ---- */

/* Hex of exactly the field's characters; 0 or -1. */
static int
unhex(const char *s, uint8_t *out, size_t cap, size_t *n)
{
	rt_err *e = rt_hex_decode(s, strlen(s), out, cap, n, 0);
	int rc = e != NULL ? -1 : 0;
	rt_err_free(e);
	return rc;
}

/* ---- data objects ---- */

struct vpiv_obj *
vpiv_obj_find(const vpiv *v, uint32_t tag)
{
	for (size_t i = 0; i < v->nobjs; i++)
		if (v->objs[i].tag == tag)
			return &v->objs[i];
	return NULL;
}

static size_t
obj_total(const vpiv *v)
{
	size_t t = 0;
	for (size_t i = 0; i < v->nobjs; i++)
		t += v->objs[i].len;
	return t;
}

rt_err *
vpiv_obj_set(vpiv *v, uint32_t tag, const uint8_t *data, size_t len)
{
	struct vpiv_obj *o = vpiv_obj_find(v, tag);
	if (len > VPIV_MAX_OBJECT)
		return rt_err_new(RT_E_TOO_BIG, NULL,
		    "object %X: %zu bytes, at most %d", tag, len, VPIV_MAX_OBJECT);
	if (len == 0) {
		if (o != NULL) {
			free(o->data);
			*o = v->objs[--v->nobjs];
		}
		return NULL;
	}
	if (obj_total(v) - (o ? o->len : 0) + len > VPIV_MAX_TOTAL)
		return rt_err_new(RT_E_CARD_FULL, NULL,
		    "object %X: card memory full", tag);
	uint8_t *copy = malloc(len);
	if (copy == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "object %X", tag);
	memcpy(copy, data, len);
	if (o == NULL) {
		struct vpiv_obj *n = realloc(v->objs, (v->nobjs + 1) * sizeof(*n));
		if (n == NULL) {
			free(copy);
			return rt_err_new(RT_E_NOMEM, NULL, "object %X", tag);
		}
		v->objs = n;
		o = &v->objs[v->nobjs++];
		o->tag = tag;
	} else {
		free(o->data);
	}
	o->data = copy;
	o->len = len;
	return NULL;
}

static const uint8_t default_fascn[25] = {
	0xD4, 0xE7, 0x39, 0xDA, 0x73, 0x9C, 0xED, 0x39, 0xCE, 0x73, 0x9D,
	0x83, 0x68, 0x58, 0x21, 0x08, 0x42, 0x10, 0x84, 0x21, 0xC8, 0x42,
	0x10, 0xC3, 0xEB,
};

rt_err *
vpiv_make_chuid(vpiv *v)
{
	uint8_t buf[128];
	tlv_w w;
	tlv_w_init(&w, buf, sizeof(buf));
	tlv_w_put(&w, 0x30, default_fascn, sizeof(default_fascn));
	tlv_w_put(&w, 0x34, v->guid, 16);
	tlv_w_put(&w, 0x35, "20301231", 8);
	tlv_w_put(&w, 0x3E, NULL, 0);
	tlv_w_put(&w, 0xFE, NULL, 0);
	rt_err *e = tlv_w_finish(&w);
	if (e == NULL)
		e = vpiv_obj_set(v, 0x5FC102, buf, w.len);
	return e;
}

static rt_err *
make_ccc(vpiv *v)
{
	uint8_t id[21] = { 0xA0, 0x00, 0x00, 0x01, 0x16, 0xFF, 0x02 };
	uint8_t buf[128];
	tlv_w w;
	memcpy(id + 7, v->guid, 14);
	tlv_w_init(&w, buf, sizeof(buf));
	tlv_w_put(&w, 0xF0, id, sizeof(id));
	tlv_w_put_u8(&w, 0xF1, 0x21);
	tlv_w_put_u8(&w, 0xF2, 0x21);
	tlv_w_put(&w, 0xF3, NULL, 0);
	tlv_w_put_u8(&w, 0xF4, 0x00);
	tlv_w_put_u8(&w, 0xF5, 0x10);
	tlv_w_put(&w, 0xF6, NULL, 0);
	tlv_w_put(&w, 0xF7, NULL, 0);
	tlv_w_put(&w, 0xFA, NULL, 0);
	tlv_w_put(&w, 0xFB, NULL, 0);
	tlv_w_put(&w, 0xFC, NULL, 0);
	tlv_w_put(&w, 0xFD, NULL, 0);
	tlv_w_put(&w, 0xFE, NULL, 0);
	rt_err *e = tlv_w_finish(&w);
	if (e == NULL)
		e = vpiv_obj_set(v, 0x5FC107, buf, w.len);
	return e;
}

static rt_err *
make_discovery(vpiv *v)
{
	static const uint8_t disc[] = {
		0x4F, 0x0B, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10,
		0x00, 0x01, 0x00,
		0x5F, 0x2F, 0x02, 0x40, 0x00,
	};
	return vpiv_obj_set(v, 0x7E, disc, sizeof(disc));
}

void
vpiv_factory_objects_reset(vpiv *v)
{
	/* keep the attestation certificate, like a YubiKey */
	size_t j = 0;
	for (size_t i = 0; i < v->nobjs; i++) {
		if (v->objs[i].tag == 0x5FFF01)
			v->objs[j++] = v->objs[i];
		else
			free(v->objs[i].data);
	}
	v->nobjs = j;
	rt_err_free(vpiv_make_chuid(v));
	rt_err_free(make_ccc(v));
	rt_err_free(make_discovery(v));
}

void vpiv_key_clear(struct vpiv_key *k) { vcard_key_clear(k, sizeof(*k), &k->pk); }

/* ---- creation, open, free ---- */

static const uint8_t default_mgmt[24] = {
	1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
};

static rt_err *
pad_secret(const char *s, size_t minlen, const char *what, uint8_t out[8])
{
	size_t n = strlen(s);
	if (n < minlen || n > 8)
		return rt_err_new(RT_E_PIN_FORMAT, NULL,
		    "%s must be %zu to 8 characters", what, minlen);
	for (size_t i = 0; i < n; i++)
		if ((uint8_t)s[i] == 0xFF)
			return rt_err_new(RT_E_PIN_FORMAT, NULL,
			    "%s contains a 0xFF byte", what);
	memset(out, 0xFF, 8);
	memcpy(out, s, n);
	return NULL;
}

static vpiv *
alloc_card(void)
{
	vpiv *v = calloc(1, sizeof(*v));
	if (v == NULL)
		return NULL;
	v->chain = malloc(VPIV_MAX_CMD);
	v->resp = malloc(VPIV_RESP_CAP);
	if (v->chain == NULL || v->resp == NULL) {
		free(v->chain);
		free(v->resp);
		free(v);
		return NULL;
	}
	for (int i = 0; i < VPIV_NSLOTS; i++)
		mbedtls_pk_init(&v->keys[i].pk);
	v->max_short = 256;
	vcard_io_init(&v->io, &vpiv_dialect);
	mbedtls_entropy_init(&v->entropy);
	mbedtls_ctr_drbg_init(&v->drbg);
	return v;
}

rt_err *
vpiv_new_blank(const vpiv_params *p, vpiv **out)
{
	static const vpiv_params defaults;
	rt_err *e;
	if (p == NULL)
		p = &defaults;
	*out = NULL;
	vpiv *v = alloc_card();
	if (v == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "vpiv: new card");
	if ((e = vk_rng_init(v)) != NULL)
		goto fail;

	if (p->serial != 0) {
		v->serial = p->serial;
	} else {
		uint8_t r[4];
		vk_rng(v, r, 4);
		v->serial = 10000000u + ((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 |
		    (uint32_t)r[2] << 8 | r[3]) % 90000000u;
	}
	if (p->guid != NULL)
		memcpy(v->guid, p->guid, 16);
	else
		vk_rng(v, v->guid, 16);

	if ((e = pad_secret(p->pin ? p->pin : "123456", 6, "PIN", v->pin)) != NULL ||
	    (e = pad_secret(p->puk ? p->puk : "12345678", 6, "PUK", v->puk)) != NULL)
		goto fail;
	v->pin_default = p->pin == NULL || strcmp(p->pin, "123456") == 0;
	v->puk_default = p->puk == NULL || strcmp(p->puk, "12345678") == 0;
	v->pin_total = v->pin_left = 3;
	v->puk_total = v->puk_left = 3;

	v->mgmt_alg = p->mgmt_alg ? p->mgmt_alg : VPIV_ALG_3DES;
	v->mgmt_len = vk_mgmt_keylen(v->mgmt_alg);
	if (v->mgmt_len == 0) {
		e = rt_err_new(RT_E_ARG, NULL,
		    "unknown management key algorithm %02X", v->mgmt_alg);
		goto fail;
	}
	if (p->mgmt_key != NULL) {
		if (p->mgmt_len != v->mgmt_len) {
			e = rt_err_new(RT_E_ARG, NULL,
			    "management key must be %zu bytes for algorithm %02X, got %zu",
			    v->mgmt_len, v->mgmt_alg, p->mgmt_len);
			goto fail;
		}
		memcpy(v->mgmt_key, p->mgmt_key, v->mgmt_len);
	} else if (v->mgmt_len == 24) {
		memcpy(v->mgmt_key, default_mgmt, 24);
	} else {
		e = rt_err_new(RT_E_ARG, NULL,
		    "management key algorithm %02X has no default key: give one",
		    v->mgmt_alg);
		goto fail;
	}
	v->mgmt_default = v->mgmt_len == 24 &&
	    memcmp(v->mgmt_key, default_mgmt, 24) == 0;

	vpiv_factory_objects_reset(v);
	if ((e = vk_attestation_init(v)) != NULL)
		goto fail;
	*out = v;
	return NULL;
fail:
	vpiv_free(v);
	return rt_err_wrap(e, "creating a card");
}

void
vpiv_free(vpiv *v)
{
	if (v == NULL)
		return;
	for (int i = 0; i < VPIV_NSLOTS; i++)
		vpiv_key_clear(&v->keys[i]);
	for (int i = 0; i < VPIV_NSLOTS; i++)
		mbedtls_pk_free(&v->keys[i].pk);
	for (size_t i = 0; i < v->nobjs; i++) {
		mbedtls_platform_zeroize(v->objs[i].data, v->objs[i].len);
		free(v->objs[i].data);
	}
	free(v->objs);
	if (v->chain != NULL) {
		mbedtls_platform_zeroize(v->chain, VPIV_MAX_CMD);
		free(v->chain);
	}
	if (v->resp != NULL) {
		mbedtls_platform_zeroize(v->resp, VPIV_RESP_CAP);
		free(v->resp);
	}
	mbedtls_ctr_drbg_free(&v->drbg);
	mbedtls_entropy_free(&v->entropy);
	free(v->path);
	mbedtls_platform_zeroize(v, sizeof(*v));
	free(v);
}

rt_err *
vpiv_create(const char *path, const vpiv_params *p, bool overwrite, vpiv **out)
{
	rt_err *e;
	vpiv *v;
	*out = NULL;
	if (path != NULL && !overwrite && access(path, F_OK) == 0)
		return rt_err_new(RT_E_IO, NULL,
		    "%s: state file exists (use --force to overwrite)", path);
	if ((e = vpiv_new_blank(p, &v)) != NULL)
		return e;
	if (path != NULL) {
		v->path = strdup(path);
		if (v->path == NULL) {
			vpiv_free(v);
			return rt_err_new(RT_E_NOMEM, NULL, "vpiv");
		}
		if ((e = vpiv_save(v)) != NULL) {
			vpiv_free(v);
			return e;
		}
	}
	*out = v;
	return NULL;
}

rt_err *
vpiv_open(const char *state_path, vpiv **out)
{
	*out = NULL;
	if (state_path != NULL && access(state_path, F_OK) == 0)
		return vpiv_load(state_path, out);
	return vpiv_create(state_path, NULL, false, out);
}

/* ---- state file ---- */

/*
 * Format (text, one record per line, hex for binary; see docs/vpiv.md):
 *   vpiv-state 1
 *   serial N | guid HEX | pin HEX tries-total tries-left default
 *   puk HEX total left default | mgmt ALG HEX touch default
 *   key SLOT ALG PIN TOUCH ORIGIN DERHEX | obj TAG HEX
 *   end
 */

static int
write_state(const void *card, FILE *f)
{
	const vpiv *v = card;
	fprintf(f, "# virtual PIV card (raterm vpiv): TEST MATERIAL, keys in clear\n");
	fprintf(f, "serial %u\n", v->serial);
	fprintf(f, "guid ");
	rt_hex_write(f, v->guid, 16, 0);
	fprintf(f, "\npin ");
	rt_hex_write(f, v->pin, 8, 0);
	fprintf(f, " %u %u %d\npuk ", v->pin_total, v->pin_left, v->pin_default);
	rt_hex_write(f, v->puk, 8, 0);
	fprintf(f, " %u %u %d\n", v->puk_total, v->puk_left, v->puk_default);
	fprintf(f, "mgmt %02x ", v->mgmt_alg);
	rt_hex_write(f, v->mgmt_key, v->mgmt_len, 0);
	fprintf(f, " %u %d\n", v->mgmt_touch, v->mgmt_default);
	for (int i = 0; i < VPIV_NSLOTS; i++) {
		const struct vpiv_key *k = &v->keys[i];
		if (!k->present)
			continue;
		fprintf(f, "key %02x %02x %u %u %u ", vpiv_slot_at(i), k->alg,
		    k->pin_policy, k->touch_policy, k->origin);
		if (vcard_key_write(f, &k->pk) != 0)
			return -1;
		putc('\n', f);
	}
	for (size_t i = 0; i < v->nobjs; i++) {
		fprintf(f, "obj %x ", v->objs[i].tag);
		rt_hex_write(f, v->objs[i].data, v->objs[i].len, 0);
		putc('\n', f);
	}
	return 0;
}

rt_err *
vpiv_save(vpiv *v)
{
	return vcard_state_save(v->path, "vpiv", write_state, v);
}

static rt_err *
perr(const char *path, unsigned line, const char *what)
{
	return rt_err_new(RT_E_FORMAT, NULL, "%s:%u: %s", path, line, what);
}

static int
parse_uint(const char *s, int base, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(s, &end, base);
	if (errno != 0 || end == s || *end != '\0' || x > max || s[0] == '-')
		return -1;
	*out = x;
	return 0;
}

static rt_err *
load_line(vpiv *v, const char *path, unsigned ln, char *line, uint8_t *bin,
    size_t bincap, bool *seen_end, unsigned *have)
{
	char *f[8];
	int n = vcard_fields(line, f, 8);
	unsigned long a, b, c, d;
	size_t blen;

	if (n == 0 || f[0][0] == '#')
		return NULL;
	if (*seen_end)
		return perr(path, ln, "data after 'end'");
	if (strcmp(f[0], "end") == 0) {
		*seen_end = true;
		return NULL;
	}
	if (strcmp(f[0], "serial") == 0 && n == 2) {
		if (parse_uint(f[1], 10, 0xFFFFFFFFul, &a) != 0)
			return perr(path, ln, "bad serial");
		v->serial = (uint32_t)a;
		*have |= 1;
	} else if (strcmp(f[0], "guid") == 0 && n == 2) {
		if (unhex(f[1], v->guid, 16, &blen) != 0 || blen != 16)
			return perr(path, ln, "bad guid");
		*have |= 2;
	} else if ((strcmp(f[0], "pin") == 0 || strcmp(f[0], "puk") == 0) && n == 5) {
		bool is_pin = f[0][1] == 'i';
		uint8_t *dst = is_pin ? v->pin : v->puk;
		if (unhex(f[1], dst, 8, &blen) != 0 || blen != 8 ||
		    parse_uint(f[2], 10, 255, &a) != 0 || a == 0 ||
		    parse_uint(f[3], 10, a, &b) != 0 ||
		    parse_uint(f[4], 10, 1, &c) != 0)
			return perr(path, ln, is_pin ? "bad pin record" : "bad puk record");
		if (is_pin) {
			v->pin_total = (uint8_t)a; v->pin_left = (uint8_t)b;
			v->pin_default = c != 0;
			*have |= 4;
		} else {
			v->puk_total = (uint8_t)a; v->puk_left = (uint8_t)b;
			v->puk_default = c != 0;
			*have |= 8;
		}
	} else if (strcmp(f[0], "mgmt") == 0 && n == 5) {
		if (parse_uint(f[1], 16, 255, &a) != 0 || vk_mgmt_keylen((uint8_t)a) == 0 ||
		    unhex(f[2], v->mgmt_key, 32, &blen) != 0 ||
		    blen != vk_mgmt_keylen((uint8_t)a) ||
		    parse_uint(f[3], 10, 1, &b) != 0 || parse_uint(f[4], 10, 1, &c) != 0)
			return perr(path, ln, "bad mgmt record");
		v->mgmt_alg = (uint8_t)a;
		v->mgmt_len = blen;
		v->mgmt_touch = (uint8_t)b;
		v->mgmt_default = c != 0;
		*have |= 16;
	} else if (strcmp(f[0], "key") == 0 && n == 7) {
		int idx;
		if (parse_uint(f[1], 16, 255, &a) != 0 || (idx = vpiv_slot_index((uint8_t)a)) < 0)
			return perr(path, ln, "bad key slot");
		if (parse_uint(f[2], 16, 255, &b) != 0 ||
		    (b != VPIV_ALG_RSA2048 && b != VPIV_ALG_ECCP256 && b != VPIV_ALG_ECCP384) ||
		    parse_uint(f[3], 10, 3, &c) != 0 || c == 0 ||
		    parse_uint(f[4], 10, 3, &d) != 0 || d == 0)
			return perr(path, ln, "bad key record");
		unsigned long origin;
		if (parse_uint(f[5], 10, 2, &origin) != 0 || origin == 0)
			return perr(path, ln, "bad key origin");
		if (unhex(f[6], bin, bincap, &blen) != 0)
			return perr(path, ln, "bad key hex");
		struct vpiv_key *k = &v->keys[idx];
		vpiv_key_clear(k);
		if (mbedtls_pk_parse_key(&k->pk, bin, blen, NULL, 0) != 0) {
			mbedtls_pk_free(&k->pk);
			mbedtls_pk_init(&k->pk);
			return perr(path, ln, "key does not parse");
		}
		mbedtls_pk_type_t t = mbedtls_pk_get_type(&k->pk);
		bool ok = (b == VPIV_ALG_RSA2048 && t == MBEDTLS_PK_RSA &&
		    mbedtls_pk_get_bitlen(&k->pk) == 2048) ||
		    (b == VPIV_ALG_ECCP256 && t == MBEDTLS_PK_ECKEY &&
		    mbedtls_pk_ec(k->pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1) ||
		    (b == VPIV_ALG_ECCP384 && t == MBEDTLS_PK_ECKEY &&
		    mbedtls_pk_ec(k->pk)->grp.id == MBEDTLS_ECP_DP_SECP384R1);
		k->present = true;
		if (!ok) {
			vpiv_key_clear(k);
			return perr(path, ln, "key does not match its algorithm");
		}
		k->alg = (uint8_t)b;
		k->pin_policy = (uint8_t)c;
		k->touch_policy = (uint8_t)d;
		k->origin = (uint8_t)origin;
	} else if (strcmp(f[0], "obj") == 0 && n == 3) {
		if (parse_uint(f[1], 16, 0xFFFFFF, &a) != 0 || a == 0)
			return perr(path, ln, "bad object tag");
		if (unhex(f[2], bin, bincap, &blen) != 0 || blen == 0)
			return perr(path, ln, "bad object data");
		rt_err *e = vpiv_obj_set(v, (uint32_t)a, bin, blen);
		if (e != NULL)
			return rt_err_wrap(e, "%s:%u", path, ln);
	} else {
		return perr(path, ln, "unknown or malformed record");
	}
	return NULL;
}

rt_err *
vpiv_load(const char *path, vpiv **out)
{
	rt_err *e = NULL;
	char *line = NULL;
	size_t cap = 0;
	unsigned ln = 0, have = 0;
	bool seen_end = false;
	*out = NULL;

	FILE *f = fopen(path, "r");
	if (f == NULL)
		return rt_err_new(RT_E_IO, NULL, "%s: %s", path, strerror(errno));
	vpiv *v = alloc_card();
	uint8_t *bin = malloc(VPIV_MAX_OBJECT);
	if (v == NULL || bin == NULL) {
		fclose(f);
		free(bin);
		vpiv_free(v);
		return rt_err_new(RT_E_NOMEM, NULL, "%s", path);
	}
	if ((e = vk_rng_init(v)) != NULL)
		goto out;
	ssize_t r;
	while ((r = getline(&line, &cap, f)) >= 0) {
		ln++;
		if (ln == 1) {
			if (strncmp(line, "vpiv-state 1", 12) != 0 ||
			    (line[12] != '\n' && line[12] != '\0' && line[12] != '\r')) {
				e = perr(path, ln, "not a vpiv state file (version 1)");
				goto out;
			}
			continue;
		}
		if ((e = load_line(v, path, ln, line, bin, VPIV_MAX_OBJECT, &seen_end, &have)) != NULL)
			goto out;
	}
	if (ferror(f)) {
		e = rt_err_new(RT_E_IO, NULL, "%s: read error", path);
		goto out;
	}
	if (!seen_end) {
		e = perr(path, ln, "truncated (no 'end' line)");
		goto out;
	}
	if (have != 31) {
		e = perr(path, ln, "missing serial, guid, pin, puk or mgmt record");
		goto out;
	}
	v->path = strdup(path);
	if (v->path == NULL)
		e = rt_err_new(RT_E_NOMEM, NULL, "%s", path);
out:
	if (line != NULL) {
		mbedtls_platform_zeroize(line, cap);
		free(line);
	}
	mbedtls_platform_zeroize(bin, VPIV_MAX_OBJECT);
	free(bin);
	fclose(f);
	if (e != NULL) {
		vpiv_free(v);
		return e;
	}
	*out = v;
	return NULL;
}
