/*
 * perso.c - vp15's own personalization, the card issuer's back door (no
 * APDUs, no access conditions): the PKCS#15 application as OpenSC's
 * isoApplet profile lays it out (EF.DIR, DF.PKCS15 5015 with ODF,
 * TokenInfo, AODF 4401, PrKDF 4402, PuKDF 4403, CDF 4404; public keys in
 * 33xx, certificates in 34xx; the same security conditions), written with
 * the PKCS#15 codec. It gives what pkcs15-init cannot on an IsoApplet: a
 * separate signature PIN for a key.
 */
#include "vp15_int.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "raterm/pkcs15.h"
#include "raterm/util.h"

#define PERSO_PIN      "123456"
#define PERSO_PUK      "0123456789abcdef"
#define PERSO_SIGN_PIN "654321"
#define PERSO_SO_PIN   "87654321"

/* sa bytes: FF, delete, -, -, -, write/create DF, update/create EF,
 * read/delete child */
static const uint8_t sa_open[8] = { 0xFF, 0, 0, 0, 0, 0, 0, 0 };
static const uint8_t sa_df[8] = { 0xFF, 0, 0, 0, 0, 0, 0, 0x90 };
static const uint8_t sa_dir[8] = { 0xFF, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x00 };
static const uint8_t sa_obj[8] = { 0xFF, 0x90, 0xFF, 0xFF, 0xFF, 0xFF, 0x90, 0x00 };

/* sa with the user PIN's condition (90) turned into the SO PIN's (95)
 * when the card has one. */
static const uint8_t *
sa_for(const vp15 *c, const uint8_t sa[8], uint8_t out[8])
{
	memcpy(out, sa, 8);
	if (c->pins[VP15_SO_PIN].set)
		for (int i = 1; i < 8; i++)
			if (out[i] == VP15_SC_PIN)
				out[i] = VP15_SC_PIN_REF(VP15_SO_PIN);
	return out;
}

static const uint8_t path_app[4] = { 0x3F, 0x00, 0x50, 0x15 };

enum { SIZE_AODF = 256, SIZE_KDF = 512, SIZE_CDF = 1024 };

/* A file under `parent` holding data[0..len) in an EF of `size` bytes. */
static rt_err *
put_file(vp15 *c, int parent, uint16_t fid, bool df, const uint8_t sa[8],
    size_t size, const uint8_t *data, size_t len, int *idx)
{
	struct vp15_file f;
	memset(&f, 0, sizeof(f));
	f.df = df;
	f.fid = fid;
	f.size = df ? 0 : size;
	sa_for(c, sa, f.sa);
	if (df) {
		memcpy(f.aid, p15_aid, sizeof(p15_aid));
		f.aid_len = sizeof(p15_aid);
	}
	if (len > f.size && !df)
		return rt_err_new(RT_E_TOO_BIG, NULL, "vp15: %zu bytes for EF %04X of %zu",
		    len, fid, f.size);
	int i = vp15_file_add(c, parent, &f);
	if (i < 0)
		return rt_err_new(i == -2 ? RT_E_ARG : RT_E_CARD_FULL, NULL,
		    "vp15: cannot create file %04X", fid);
	if (len > 0)
		memcpy(c->files[i].data, data, len);
	if (idx != NULL)
		*idx = i;
	return NULL;
}

static void
set_path(p15_path *p, const uint8_t *b, size_t len)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->b, b, len);
	p->len = len;
}

static void
app_path(p15_path *p, uint16_t fid)
{
	uint8_t b[6];
	memcpy(b, path_app, 4);
	b[4] = (uint8_t)(fid >> 8);
	b[5] = (uint8_t)fid;
	set_path(p, b, 6);
}

static void
pin_object(p15_pin *p, const char *label, uint8_t auth_id, int ref)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->common.label, sizeof(p->common.label), "%s", label);
	p->common.flags = P15_OBJ_PRIVATE | P15_OBJ_MODIFIABLE;
	p->auth_id.b[0] = auth_id;
	p->auth_id.len = 1;
	p->flags = P15_PIN_CASE_SENSITIVE | P15_PIN_INITIALIZED | P15_PIN_NEEDS_PADDING;
	p->type = P15_PIN_ASCII_NUMERIC;
	p->min_len = 4;
	p->stored_len = p->max_len = VP15_PIN_MAX;
	p->reference = ref;
	p->has_reference = true;
	p->pad_char = 0;
}

static void
set_pin(vp15 *c, int ref, const char *v)
{
	struct vp15_pin *p = &c->pins[ref];
	memset(p, 0, sizeof(*p));
	memcpy(p->val, v, strlen(v));
	p->len = strlen(v);
	p->set = true;
	p->total = p->left = 3;
}

static rt_err *
gen_key(vp15 *c, int ref, uint8_t pin_ref)
{
	struct vp15_key *k = &c->keys[ref];
	vp15_key_clear(k);
	int rc = mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (rc == 0)
		rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(k->pk),
		    vp15_rng, c);
	if (rc != 0) {
		vp15_key_clear(k);
		return rt_err_new(RT_E_CRYPTO, NULL, "vp15: key generation: -0x%04x", -rc);
	}
	k->present = true;
	k->pin_ref = pin_ref;
	return NULL;
}

rt_err *
vp15_personalize(vp15 *c, const vp15_perso *p)
{
	int nkeys = p->nkeys > 0 ? p->nkeys : 2;
	if (nkeys > 8)
		return rt_err_new(RT_E_ARG, NULL, "vp15: at most 8 keys");
	for (int i = 1; i < VP15_MAX_FILES; i++)
		if (c->files[i].used || vp15_operational(c))
			return rt_err_new(RT_E_ARG, NULL, "vp15: the card is not blank");
	uint8_t *buf = malloc(4096);
	p15_df *df = calloc(1, sizeof(*df));
	rt_err *e = NULL;
	size_t len;
	int app;
	if (buf == NULL || df == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "vp15: personalize");
		goto out;
	}

	/* the SO PIN first: the files below get its condition */
	if (p->so_pin)
		set_pin(c, VP15_SO_PIN, PERSO_SO_PIN);

	/* EF.DIR and the application DF */
	p15_dir dir;
	memset(&dir, 0, sizeof(dir));
	dir.n = 1;
	memcpy(dir.app[0].aid, p15_aid, sizeof(p15_aid));
	dir.app[0].aid_len = sizeof(p15_aid);
	snprintf(dir.app[0].label, sizeof(dir.app[0].label), "%s", p->label ? p->label : "vp15");
	memcpy(dir.app[0].path, path_app, sizeof(path_app));
	dir.app[0].path_len = sizeof(path_app);
	if ((e = p15_dir_encode(&dir, buf, 4096, &len)) != NULL ||
	    (e = put_file(c, VP15_MF, 0x2F00, false, sa_open, 128, buf, len, NULL)) != NULL ||
	    (e = put_file(c, VP15_MF, 0x5015, true, sa_df, 0, NULL, 0, &app)) != NULL)
		goto out;

	/* ODF, TokenInfo */
	p15_odf odf;
	memset(&odf, 0, sizeof(odf));
	const uint8_t tags[4] = { P15_ODF_AODF, P15_ODF_PRKDF, P15_ODF_PUKDF, P15_ODF_CDF };
	for (int i = 0; i < 4; i++) {
		odf.e[i].tag = tags[i];
		app_path(&odf.e[i].path, (uint16_t)(0x4401 + i));
	}
	odf.n = 4;
	p15_tokeninfo ti;
	memset(&ti, 0, sizeof(ti));
	ti.serial[0] = (uint8_t)(p->serial >> 24);
	ti.serial[1] = (uint8_t)(p->serial >> 16);
	ti.serial[2] = (uint8_t)(p->serial >> 8);
	ti.serial[3] = (uint8_t)p->serial;
	ti.serial_len = 4;
	snprintf(ti.manufacturer, sizeof(ti.manufacturer), "raterm vp15");
	snprintf(ti.label, sizeof(ti.label), "%s", p->label ? p->label : "vp15");
	if ((e = p15_odf_encode(&odf, buf, 4096, &len)) != NULL ||
	    (e = put_file(c, app, 0x5031, false, sa_open, 256, buf, len, NULL)) != NULL ||
	    (e = p15_tokeninfo_encode(&ti, buf, 4096, &len)) != NULL ||
	    (e = put_file(c, app, 0x5032, false, sa_open, len, buf, len, NULL)) != NULL)
		goto out;

	/* PINs: the user PIN (1) and its PUK (2); the signature PIN (3) and
	 * its PUK (4, the same value) for the last key */
	memset(df, 0, sizeof(*df));
	df->kind = P15_DF_AODF;
	pin_object(&df->u.pin[df->n++], "User PIN", 0x01, 1);
	if (p->sign_pin)
		pin_object(&df->u.pin[df->n++], "Signature PIN", 0x03, 3);
	if (p->so_pin) {
		p15_pin *so = &df->u.pin[df->n++];
		pin_object(so, "Security Officer PIN", 0x05, VP15_SO_PIN);
		so->flags |= P15_PIN_SO;
	}
	if ((e = p15_df_encode(df, buf, 4096, &len)) != NULL ||
	    (e = put_file(c, app, 0x4401, false, sa_dir, SIZE_AODF, buf, len, NULL)) != NULL)
		goto out;
	set_pin(c, 1, PERSO_PIN);
	set_pin(c, 2, PERSO_PUK);
	if (p->sign_pin) {
		set_pin(c, 3, PERSO_SIGN_PIN);
		set_pin(c, 4, PERSO_PUK);
	}

	/* keys: the private key objects, the public keys in 33xx */
	p15_df *pub = calloc(1, sizeof(*pub));
	if (pub == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "vp15: personalize");
		goto out;
	}
	memset(df, 0, sizeof(*df));
	df->kind = pub->kind = P15_DF_KEYS;
	for (int i = 0; i < nkeys && e == NULL; i++) {
		bool sign = p->sign_pin && i == nkeys - 1;
		if ((e = gen_key(c, i, sign ? 3 : 1)) != NULL)
			break;
		p15_key *k = &df->u.key[df->n++];
		snprintf(k->common.label, sizeof(k->common.label), "%s Key %d",
		    sign ? "Signature" : "Authentication", i);
		k->common.flags = P15_OBJ_PRIVATE | P15_OBJ_MODIFIABLE;
		k->common.auth_id.b[0] = sign ? 0x03 : 0x01;
		k->common.auth_id.len = 1;
		k->type = P15_KEY_EC;
		k->id.b[0] = (uint8_t)(i + 1);
		k->id.len = 1;
		k->usage = sign ? P15_USAGE_SIGN | P15_USAGE_NON_REPUDIATION : P15_USAGE_SIGN;
		k->native = -1;
		k->access = P15_ACCESS_SENSITIVE | P15_ACCESS_ALWAYS_SENSITIVE |
		    P15_ACCESS_NEVER_EXTRACTABLE | P15_ACCESS_LOCAL;
		k->has_access = true;
		k->key_ref = i;
		set_path(&k->path, path_app, sizeof(path_app));
		memcpy(k->type_rest.b, "\x02\x02\x01\x00", 4);        /* 256 bits */
		k->type_rest.len = 4;

		p15_key *pk = &pub->u.key[pub->n++];
		*pk = *k;
		pk->common.flags = P15_OBJ_MODIFIABLE;
		pk->common.auth_id.len = 0;
		pk->usage = P15_USAGE_VERIFY;
		pk->has_access = false;
		pk->access = 0;
		pk->key_ref = -1;
		app_path(&pk->path, (uint16_t)(0x3300 + i));
		pk->type_rest.len = 0;
		uint8_t spki[200];
		size_t slen;
		if ((e = vp15_key_pubkey_der(c, (uint8_t)i, spki, sizeof(spki), &slen)) == NULL)
			e = put_file(c, app, (uint16_t)(0x3300 + i), false, sa_obj, slen,
			    spki, slen, NULL);
	}
	if (e == NULL && (e = p15_df_encode(df, buf, 4096, &len)) == NULL)
		e = put_file(c, app, 0x4402, false, sa_dir, SIZE_KDF, buf, len, NULL);
	if (e == NULL && (e = p15_df_encode(pub, buf, 4096, &len)) == NULL)
		e = put_file(c, app, 0x4403, false, sa_dir, SIZE_KDF, buf, len, NULL);
	free(pub);
	/* an empty CDF for the certificates to come */
	if (e == NULL)
		e = put_file(c, app, 0x4404, false, sa_dir, SIZE_CDF, NULL, 0, NULL);
	if (e == NULL)
		e = vp15_save(c);
out:
	if (e != NULL) {        /* back to a blank card */
		for (int i = 1; i < VP15_MAX_FILES; i++)
			if (c->files[i].used && c->files[i].parent == VP15_MF)
				vp15_file_drop(c, i);
		for (int i = 0; i < VP15_NKEYS; i++)
			vp15_key_clear(&c->keys[i]);
		memset(c->pins, 0, sizeof(c->pins));
	}
	free(buf);
	free(df);
	return e;
}

rt_err *
vp15_add_cert(vp15 *c, int key_ref, const uint8_t *der, size_t der_len,
    const char *label)
{
	int cdf = vp15_find_path(c, (const uint8_t *)"\x3F\x00\x50\x15\x44\x04", 6);
	int app = vp15_find_path(c, path_app, sizeof(path_app));
	if (cdf < 0 || app < 0)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "vp15: no CDF (personalize first)");
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	int rc = mbedtls_x509_crt_parse_der(&crt, der, der_len);
	mbedtls_x509_crt_free(&crt);
	if (rc != 0)
		return rt_err_new(RT_E_CERT, NULL, "vp15: not a certificate (-0x%04x)", -rc);
	if (key_ref >= 0 && (key_ref >= VP15_NKEYS || !c->keys[key_ref].present))
		return rt_err_new(RT_E_NOT_FOUND, NULL, "vp15: no key %d", key_ref);

	struct vp15_file *f = &c->files[cdf];
	p15_df *df = calloc(1, sizeof(*df));
	uint8_t *buf = malloc(f->size);
	rt_err *e = NULL;
	size_t len;
	if (df == NULL || buf == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "vp15: add a certificate");
		goto out;
	}
	if ((e = p15_df_parse(P15_DF_CERTS, f->data, f->size, df, NULL)) != NULL)
		goto out;
	if (df->n == P15_MAX_OBJECTS) {
		e = rt_err_new(RT_E_CARD_FULL, NULL, "vp15: the CDF is full");
		goto out;
	}
	/* the next free certificate EF, an iD: the key's, or a new one */
	uint16_t fid = 0x3400;
	uint8_t fp[6];
	memcpy(fp, path_app, 4);
	for (;; fid++) {
		fp[4] = (uint8_t)(fid >> 8);
		fp[5] = (uint8_t)fid;
		if (vp15_find_path(c, fp, 6) < 0)
			break;
	}
	p15_cert *ct = &df->u.cert[df->n];
	memset(ct, 0, sizeof(*ct));
	snprintf(ct->common.label, sizeof(ct->common.label), "%s", label ? label :
	    key_ref >= 0 ? "Certificate" : "CA Certificate");
	ct->common.flags = P15_OBJ_MODIFIABLE;
	ct->id.len = 1;
	ct->id.b[0] = key_ref >= 0 ? (uint8_t)(key_ref + 1) : (uint8_t)(0xC0 + (fid & 0x0F));
	ct->authority = key_ref < 0;
	app_path(&ct->path, fid);
	df->n++;
	if ((e = p15_df_encode(df, buf, f->size, &len)) != NULL) {
		e = rt_err_new(RT_E_CARD_FULL, e, "vp15: the CDF has no room for another entry");
		goto out;
	}
	if ((e = put_file(c, app, fid, false, sa_obj, der_len, der, der_len, NULL)) != NULL)
		goto out;
	memset(f->data, 0, f->size);
	memcpy(f->data, buf, len);
	e = vp15_save(c);
out:
	free(df);
	free(buf);
	return e;
}
