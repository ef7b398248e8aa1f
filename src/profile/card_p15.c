/* card_p15.c - the PKCS#15 card profile (ISO/IEC 7816-15), read-only for
 * now: the card interface of include/raterm/card.h over the ISO file
 * commands (src/card/iso7816.c) and the PKCS#15 codec (src/card/pkcs15.c).
 * The key references are the PrKDF's keyReference; a key shows once per
 * certificate whose iD is the key's (several certificates per key), or
 * once without one. CA certificates (authority, no private key) are not
 * keys and are not listed here. */
#include "profile_int.h"

#include "raterm/iso7816.h"
#include "raterm/pkcs15.h"
#include "raterm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The card holds several certificates per key and CA certificates, but
 * this profile does not write yet: Add and Replace CA certificate(s) stay
 * off with that reason. */
static const rt_card_caps caps_p15 = {
	.name = "PKCS#15", .id = "pkcs15",
	.multi_cert_per_key = false, .ca_certs_on_card = false,
	.one_cert_reason = "raterm reads PKCS#15 cards but does not write them yet",
	.no_ca_reason = "raterm reads PKCS#15 cards but does not write them yet",
	.operator_name = "SO PIN",
};

/* The IsoApplet's AID: its cards answer only after it is selected. */
static const uint8_t isoapplet_aid[12] = {
	0xF2, 0x76, 0xA2, 0x88, 0xBC, 0xFB, 0xA6, 0x9D, 0x34, 0xF3, 0x10, 0x01,
};

typedef struct {
	rt_transport *t;
	uint8_t app[P15_PATH_MAX];      /* DF.PKCS15 */
	size_t app_len;
	p15_tokeninfo ti;
	bool has_ti;
	p15_odf odf;
	p15_df *aodf, *prkdf, *cdf, *trusted;
} p15_prof;

static void
p_close(void *impl)
{
	p15_prof *p = impl;
	if (p == NULL)
		return;
	rt_transport_end(p->t);
	free(p->aodf);
	free(p->prkdf);
	free(p->cdf);
	free(p->trusted);
	free(p);
}

/* A path of the ODF or the CDF: absolute (3F00...) or relative to the
 * application DF. */
static rt_err *
full_path(const p15_prof *p, const p15_path *in, uint8_t *out, size_t *len)
{
	if (in->len >= 2 && in->b[0] == 0x3F && in->b[1] == 0x00) {
		memcpy(out, in->b, in->len);
		*len = in->len;
		return NULL;
	}
	if (p->app_len + in->len > P15_PATH_MAX)
		return rt_err_new(RT_E_FORMAT, NULL, "PKCS#15: a path of %zu bytes",
		    p->app_len + in->len);
	memcpy(out, p->app, p->app_len);
	memcpy(out + p->app_len, in->b, in->len);
	*len = p->app_len + in->len;
	return NULL;
}

static rt_err *
read_at(p15_prof *p, const p15_path *path, uint8_t **data, size_t *len)
{
	uint8_t fp[P15_PATH_MAX];
	size_t fl = 0;
	rt_err *e = full_path(p, path, fp, &fl);
	if (e == NULL)
		e = iso_read_file(p->t, fp, fl, ISO_FILE_MAX, data, len);
	return e;
}

/* Reads the directory file the ODF names with `tag` into *out (NULL and
 * no error when the ODF has none). */
static rt_err *
read_df(p15_prof *p, uint8_t tag, p15_df_kind kind, p15_df **out)
{
	const p15_path *path = p15_odf_find(&p->odf, tag);
	*out = NULL;
	if (path == NULL)
		return NULL;
	uint8_t *data;
	size_t len;
	rt_err *e = read_at(p, path, &data, &len);
	if (e != NULL)
		return rt_err_wrap(e, "PKCS#15 directory file %X", tag);
	p15_df *df = calloc(1, sizeof(*df));
	if (df == NULL) {
		free(data);
		return rt_err_new(RT_E_NOMEM, NULL, "PKCS#15 directory file");
	}
	e = p15_df_parse(kind, data, len, df, NULL);
	free(data);
	if (e != NULL) {
		free(df);
		return e;
	}
	*out = df;
	return NULL;
}

static rt_err *
p_load(p15_prof *p)
{
	uint8_t *data;
	size_t len;
	rt_err *e;

	/* An IsoApplet card: its applet first (others answer 6A82). */
	e = iso_select_aid(p->t, isoapplet_aid, sizeof(isoapplet_aid), NULL, 0, NULL);
	if (e != NULL && prof_card_gone(e))
		return e;
	rt_err_free(e);

	/* EF.DIR names the application's DF; without one, 3F00 5015. */
	memcpy(p->app, "\x3F\x00\x50\x15", 4);
	p->app_len = 4;
	e = iso_read_file(p->t, (const uint8_t *)"\x3F\x00\x2F\x00", 4, ISO_FILE_MAX,
	    &data, &len);
	if (e == NULL) {
		p15_dir dir;
		rt_err *pe = p15_dir_parse(data, len, &dir);
		free(data);
		if (pe != NULL)
			return pe;
		for (size_t i = 0; i < dir.n; i++) {
			const p15_app *a = &dir.app[i];
			if (a->aid_len == sizeof(p15_aid) && memcmp(a->aid, p15_aid,
			    sizeof(p15_aid)) == 0 && a->path_len >= 2) {
				memcpy(p->app, a->path, a->path_len);
				p->app_len = a->path_len;
				break;
			}
		}
	} else if (prof_card_gone(e)) {
		return e;
	} else {
		rt_err_free(e);
	}

	/* ODF (5031) and TokenInfo (5032) in the application's DF */
	p15_path odf = { .b = { 0x50, 0x31 }, .len = 2 };
	if ((e = read_at(p, &odf, &data, &len)) != NULL)
		return rt_err_wrap(e, "PKCS#15 ODF");
	e = p15_odf_parse(data, len, &p->odf);
	free(data);
	if (e != NULL)
		return e;
	p15_path ti = { .b = { 0x50, 0x32 }, .len = 2 };
	if ((e = read_at(p, &ti, &data, &len)) == NULL) {
		e = p15_tokeninfo_parse(data, len, &p->ti);
		free(data);
		if (e != NULL)
			return e;
		p->has_ti = true;
	} else if (prof_card_gone(e)) {
		return e;
	} else {
		rt_err_free(e);
	}
	if ((e = read_df(p, P15_ODF_AODF, P15_DF_AODF, &p->aodf)) != NULL ||
	    (e = read_df(p, P15_ODF_PRKDF, P15_DF_KEYS, &p->prkdf)) != NULL ||
	    (e = read_df(p, P15_ODF_CDF, P15_DF_CERTS, &p->cdf)) != NULL ||
	    (e = read_df(p, P15_ODF_CDF_TRUSTED, P15_DF_CERTS, &p->trusted)) != NULL)
		return e;
	return NULL;
}

rt_err *
prof_p15_open(rt_transport *t, void **impl)
{
	*impl = NULL;
	p15_prof *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "PKCS#15 card");
	p->t = t;
	rt_err *e = rt_transport_begin(t);
	if (e != NULL) {
		free(p);
		return e;
	}
	if ((e = p_load(p)) != NULL) {
		p_close(p);
		if (prof_card_gone(e))
			return e;
		return rt_err_new(RT_E_NOT_PIV, e, "the card in \"%s\" has no PKCS#15 "
		    "application raterm can read", t->reader);
	}
	*impl = p;
	return NULL;
}

static rt_err *
p_ident(void *impl, rt_card_ident *out)
{
	p15_prof *p = impl;
	/* TokenInfo's serial number as the card's serial when it fits */
	if (p->has_ti && p->ti.serial_len > 0 && p->ti.serial_len <= 4) {
		uint32_t s = 0;
		for (size_t i = 0; i < p->ti.serial_len; i++)
			s = s << 8 | p->ti.serial[i];
		out->has_serial = true;
		out->serial = s;
	}
	return NULL;
}

static const char *
key_alg(const p15_key *k)
{
	if (k->type == P15_KEY_RSA)
		return "RSA";
	/* EC: PrivateECKeyAttributes' keyInfo / fieldLength (INTEGER) */
	if (k->type_rest.len >= 3 && k->type_rest.b[0] == 0x02) {
		int bits = 0;
		for (size_t i = 2; i < k->type_rest.len && i < 2u + k->type_rest.b[1]; i++)
			bits = bits << 8 | k->type_rest.b[i];
		if (bits == 256)
			return "ECCP256";
		if (bits == 384)
			return "ECCP384";
	}
	return "EC";
}

/* The first certificate with the key's iD at or after *from. */
static const p15_cert *
cert_of(const p15_prof *p, const p15_id *id, size_t *from)
{
	if (p->cdf == NULL)
		return NULL;
	for (size_t i = *from; i < p->cdf->n; i++) {
		const p15_cert *c = &p->cdf->u.cert[i];
		if (c->id.len == id->len && memcmp(c->id.b, id->b, id->len) == 0) {
			*from = i + 1;
			return c;
		}
	}
	*from = p->cdf->n;
	return NULL;
}

static rt_err *
read_cert_at(p15_prof *p, const p15_cert *c, uint8_t **der, size_t *len)
{
	uint8_t *data;
	size_t n;
	rt_err *e = read_at(p, &c->path, &data, &n);
	if (e != NULL)
		return e;
	/* the EF may be larger than the certificate: its DER length */
	if (n < 4 || data[0] != 0x30 || data[1] != 0x82) {
		free(data);
		return rt_err_new(RT_E_CERT, NULL, "not a DER certificate");
	}
	size_t clen = 4 + ((size_t)data[2] << 8 | data[3]);
	if (clen > n) {
		free(data);
		return rt_err_new(RT_E_CERT, NULL, "certificate of %zu bytes in an EF of %zu",
		    clen, n);
	}
	*der = data;
	*len = clen;
	return NULL;
}

static rt_err *
p_keys(void *impl, unsigned flags, rt_card_key *out, size_t cap, size_t *n,
    bool *has_metadata)
{
	p15_prof *p = impl;
	(void)flags;
	(void)has_metadata;
	if (p->prkdf == NULL)
		return NULL;
	for (size_t i = 0; i < p->prkdf->n; i++) {
		const p15_key *k = &p->prkdf->u.key[i];
		size_t from = 0;
		bool any = false;
		for (;;) {
			const p15_cert *c = cert_of(p, &k->id, &from);
			if (c == NULL && any)
				break;
			if (*n == cap)
				return rt_err_new(RT_E_TOO_BIG, NULL, "more than %zu keys and "
				    "certificates", cap);
			rt_card_key *o = &out[(*n)++];
			memset(o, 0, sizeof(*o));
			o->key = (uint8_t)(k->key_ref >= 0 ? k->key_ref : 0);
			snprintf(o->alg, sizeof(o->alg), "%s", key_alg(k));
			o->key_known = true;
			if (c == NULL)
				break;
			any = true;
			rt_err *e = read_cert_at(p, c, &o->der, &o->der_len);
			if (e != NULL) {
				if (prof_card_gone(e))
					return e;
				rt_err_format(e, o->error, sizeof(o->error));
				rt_err_free(e);
			}
		}
	}
	return NULL;
}

/* The user PIN: the first PIN of the AODF that is not an unblocking or
 * SO PIN. */
static const p15_pin *
user_pin(const p15_prof *p)
{
	if (p->aodf == NULL)
		return NULL;
	for (size_t i = 0; i < p->aodf->n; i++) {
		const p15_pin *pin = &p->aodf->u.pin[i];
		if (!(pin->flags & (P15_PIN_UNBLOCKING | P15_PIN_SO)))
			return pin;
	}
	return p->aodf->n > 0 ? &p->aodf->u.pin[0] : NULL;
}

static rt_err *
p_pin_retries(void *impl, int *retries)
{
	p15_prof *p = impl;
	const p15_pin *pin = user_pin(p);
	if (pin == NULL)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "PKCS#15: no PIN in the AODF");
	return iso_verify(p->t, (uint8_t)pin->reference, NULL, 0, retries);
}

static rt_err *
p_verify_pin(void *impl, const char *pin, size_t len)
{
	p15_prof *p = impl;
	const p15_pin *ap = user_pin(p);
	if (ap == NULL)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "PKCS#15: no PIN in the AODF");
	int maxl = ap->max_len >= 0 ? ap->max_len : ap->stored_len;
	if ((int)len < ap->min_len || (maxl > 0 && (int)len > maxl) || len > 64)
		return rt_err_new(RT_E_PIN_FORMAT, NULL, "the PIN has %d to %d characters",
		    ap->min_len, maxl);
	uint8_t buf[64];
	size_t n = len;
	memcpy(buf, pin, len);
	if ((ap->flags & P15_PIN_NEEDS_PADDING) && ap->stored_len > 0 &&
	    (size_t)ap->stored_len <= sizeof(buf)) {
		memset(buf + len, ap->pad_char >= 0 ? ap->pad_char : 0x00,
		    (size_t)ap->stored_len - len);
		n = (size_t)ap->stored_len;
	}
	rt_err *e = iso_verify(p->t, (uint8_t)ap->reference, buf, n, NULL);
	rt_wipe(buf, sizeof(buf));
	return e;
}

static rt_err *
p_read_cert(void *impl, uint8_t key, uint8_t **der, size_t *len)
{
	p15_prof *p = impl;
	for (size_t i = 0; p->prkdf != NULL && i < p->prkdf->n; i++) {
		const p15_key *k = &p->prkdf->u.key[i];
		if (k->key_ref != key)
			continue;
		size_t from = 0;
		const p15_cert *c = cert_of(p, &k->id, &from);
		if (c != NULL)
			return read_cert_at(p, c, der, len);
	}
	return rt_err_new(RT_E_NOT_FOUND, NULL, "no certificate for key %02x", key);
}

static rt_err *
p_not_yet(const char *what)
{
	return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "PKCS#15 cards: %s is not "
	    "supported yet (read-only profile)", what);
}

static rt_err *
p_write_cert(void *impl, uint8_t key, const uint8_t *der, size_t len)
{
	(void)impl; (void)key; (void)der; (void)len;
	return p_not_yet("writing a certificate");
}

static rt_err *
p_public_key(void *impl, uint8_t key, mbedtls_pk_context *pk)
{
	(void)impl; (void)key; (void)pk;
	return p_not_yet("the public key of a key without certificate");
}

static rt_err *
p_operator_auth(void *impl, int alg, const uint8_t *cred, size_t len)
{
	(void)impl; (void)alg; (void)cred; (void)len;
	return p_not_yet("the SO PIN");
}

static rt_err *
p_signer(void *impl, const rt_card_signer_spec *sp, rt_signer **out)
{
	(void)impl; (void)sp; (void)out;
	return p_not_yet("signing");
}

static rt_err *
p_verify_tc(void *impl, const rt_card_id *id, uint8_t key, const uint8_t *der,
    size_t len, const rt_tc_config *cfg, rt_tc_result *res)
{
	(void)impl; (void)id; (void)key; (void)der; (void)len; (void)cfg; (void)res;
	return p_not_yet("the TC controls");
}

const rt_card_ops prof_p15_ops = {
	.caps = &caps_p15,
	.ident = p_ident,
	.keys = p_keys,
	.pin_retries = p_pin_retries,
	.verify_pin = p_verify_pin,
	.read_cert = p_read_cert,
	.write_cert = p_write_cert,
	.public_key = p_public_key,
	.operator_auth = p_operator_auth,
	.signer = p_signer,
	.verify_tc = p_verify_tc,
	.close = p_close,
};
