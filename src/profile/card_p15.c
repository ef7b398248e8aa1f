/* card_p15.c - the PKCS#15 card profile (ISO/IEC 7816-15): the card
 * interface of include/raterm/card.h over the ISO file commands
 * (src/card/iso7816.c) and the PKCS#15 codec (src/card/pkcs15.c).
 * A key is named by its one-byte iD (key_num); a key shows once per
 * certificate whose iD is the key's (several certificates per key), or
 * once without one. CA certificates (CDF-trusted, and the CDF's authority
 * certificates with no private key) are listed apart (rt_card_ca_certs).
 * Writes: a certificate's EF first, then its directory file in one UPDATE
 * BINARY, then the EF it replaces deleted; the operator credential is
 * the SO PIN; signatures are MSE SET + PSO COMPUTE DIGITAL SIGNATURE
 * after the PIN the AODF gives the key. */
#include "profile_int.h"

#include "raterm/iso7816.h"
#include "raterm/pkcs15.h"
#include "raterm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The card holds several certificates per key (the CDF lists any number
 * per key iD) and CA certificates (CDF-trusted, or authority entries of
 * the CDF). */
static const rt_card_caps caps_p15 = {
	.name = "PKCS#15", .id = "pkcs15",
	.multi_cert_per_key = true, .ca_certs_on_card = true,
	.one_cert_reason = "",
	.no_ca_reason = "",
	.operator_name = "SO PIN",
	.operator_is_pin = true,
	.second_pin_own = true,
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
	p15_df *aodf, *prkdf, *pukdf, *cdf, *trusted;
	const p15_df *pending;          /* a CDF being written: its new EFs
					 * are not orphans */
	bool cdf_stale;			/* a CDF write failed: the card's
					 * may differ from cdf (holds_cert
					 * reads it again) */
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
	free(p->pukdf);
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
	    (e = read_df(p, P15_ODF_PUKDF, P15_DF_KEYS, &p->pukdf)) != NULL ||
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

/* The number a key has on the card interface: its iD when that is one
 * byte (vp15, `pkcs15-init --id 01`), the PKCS#15 way of naming a key and
 * matching its certificates; 0 (not addressable) for longer iDs such as
 * OpenSC's default SHA-1 iD. The card's own keyReference is only used to
 * sign. */
static uint8_t
key_num(const p15_key *k)
{
	return k->id.len == 1 ? k->id.b[0] : 0;
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

/* A listed certificate: one that does not read is noted in err (the
 * listing goes on); only a card gone away is an error. */
static rt_err *
read_listed(p15_prof *p, const p15_cert *c, uint8_t **der, size_t *len,
    char *err, size_t cap)
{
	rt_err *e = read_cert_at(p, c, der, len);
	if (e == NULL || prof_card_gone(e))
		return e;
	rt_err_format(e, err, cap);
	rt_err_free(e);
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
		for (int idx = 0;; idx++) {
			const p15_cert *c = cert_of(p, &k->id, &from);
			if (c == NULL && any)
				break;
			if (*n == cap)
				return rt_err_new(RT_E_TOO_BIG, NULL, "more than %zu keys and "
				    "certificates", cap);
			rt_card_key *o = &out[(*n)++];
			memset(o, 0, sizeof(*o));
			o->key = key_num(k);
			snprintf(o->alg, sizeof(o->alg), "%s", key_alg(k));
			o->key_known = true;
			o->cert_index = idx;
			if (o->key == 0) {
				snprintf(o->error, sizeof(o->error), "PKCS#15 key \"%s\": "
				    "an iD of %zu bytes (raterm names PKCS#15 keys by "
				    "one-byte iDs 01..ff)", k->common.label, k->id.len);
				break;
			}
			if (c == NULL)
				break;
			any = true;
			rt_err *e = read_listed(p, c, &o->der, &o->der_len, o->error,
			    sizeof(o->error));
			if (e != NULL)
				return e;
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
p_read_cert(void *impl, uint8_t key, uint8_t **der, size_t *len)
{
	p15_prof *p = impl;
	for (size_t i = 0; p->prkdf != NULL && i < p->prkdf->n; i++) {
		const p15_key *k = &p->prkdf->u.key[i];
		if (key == 0 || key_num(k) != key)
			continue;
		size_t from = 0;
		const p15_cert *c = cert_of(p, &k->id, &from);
		if (c != NULL)
			return read_cert_at(p, c, der, len);
	}
	return rt_err_new(RT_E_NOT_FOUND, NULL, "no certificate for key %02x", key);
}

static rt_err *
p_public_key(void *impl, uint8_t key, mbedtls_pk_context *pk)
{
	(void)impl; (void)pk;
	return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "PKCS#15 card, key %02x: "
	    "the public key of a key without certificate is not read (PuKDF)",
	    key);
}

/* ---- writing ------------------------------------------------------------ */

/* The private key object of key number key (key_num). */
static const p15_key *
key_obj(const p15_prof *p, uint8_t key)
{
	for (size_t i = 0; key != 0 && p->prkdf != NULL && i < p->prkdf->n; i++)
		if (key_num(&p->prkdf->u.key[i]) == key)
			return &p->prkdf->u.key[i];
	return NULL;
}

static bool
id_eq(const p15_id *a, const p15_id *b)
{
	return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

/* Whether some private key has the iD id. */
static bool
is_key_id(const p15_prof *p, const p15_id *id)
{
	for (size_t i = 0; p->prkdf != NULL && i < p->prkdf->n; i++)
		if (id_eq(&p->prkdf->u.key[i].id, id))
			return true;
	return false;
}

/* The CDF entry of the key's certificate number index, its position in
 * *pos. */
static const p15_cert *
cert_at(const p15_prof *p, const p15_key *k, int index, size_t *pos)
{
	int n = 0;
	for (size_t i = 0; p->cdf != NULL && i < p->cdf->n; i++) {
		if (!id_eq(&p->cdf->u.cert[i].id, &k->id))
			continue;
		if (n++ == index) {
			*pos = i;
			return &p->cdf->u.cert[i];
		}
	}
	return NULL;
}

/* Whether a loaded directory file names the EF at fp. */
static bool
path_used(const p15_prof *p, const uint8_t *fp, size_t fl)
{
	const p15_df *dfs[5] = { p->prkdf, p->pukdf, p->cdf, p->trusted,
	    p->pending };
	for (size_t d = 0; d < 5; d++) {
		if (dfs[d] == NULL)
			continue;
		for (size_t i = 0; i < dfs[d]->n; i++) {
			const p15_path *pp = dfs[d]->kind == P15_DF_CERTS ?
			    &dfs[d]->u.cert[i].path : &dfs[d]->u.key[i].path;
			uint8_t ep[P15_PATH_MAX];
			size_t el = 0;
			if (full_path(p, pp, ep, &el) == NULL && el == fl &&
			    memcmp(ep, fp, fl) == 0)
				return true;
		}
	}
	return false;
}

/* The full path of the directory file the ODF names with tag, and the DF
 * it is in (the path without its last FID). */
static rt_err *
df_where(const p15_prof *p, uint8_t tag, uint8_t *fp, size_t *fl)
{
	const p15_path *path = p15_odf_find(&p->odf, tag);
	if (path == NULL)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "PKCS#15: the ODF names no "
		    "directory file %02X", tag);
	rt_err *e = full_path(p, path, fp, fl);
	if (e == NULL && *fl < 4)
		e = rt_err_new(RT_E_FORMAT, NULL, "PKCS#15: directory file %02X at "
		    "a path of %zu bytes", tag, *fl);
	return e;
}

/* A free FID 34xx in the DF at df for a new certificate EF. An EF there
 * that no directory file names and that holds a certificate (or nothing
 * yet: zeros) is an orphan of a torn write (created but never written,
 * its CDF entry never written, or the old EF of a replacement not
 * deleted yet): every one up to the first free FID is deleted, and the
 * first FID so freed is taken. */
static rt_err *
new_cert_ef(p15_prof *p, const uint8_t *df, size_t dl, uint8_t *fp,
    size_t *fl)
{
	if (dl + 2 > P15_PATH_MAX)
		return rt_err_new(RT_E_FORMAT, NULL, "PKCS#15: DF path of %zu bytes",
		    dl);
	memcpy(fp, df, dl);
	*fl = dl + 2;
	unsigned take = 0;
	for (unsigned fid = 0x3400; fid <= 0x34FF; fid++) {
		fp[dl] = (uint8_t)(fid >> 8);
		fp[dl + 1] = (uint8_t)fid;
		if (path_used(p, fp, *fl))
			continue;
		uint8_t *data = NULL;
		size_t len = 0;
		rt_err *e = iso_read_file(p->t, fp, *fl, ISO_FILE_MAX, &data, &len);
		if (e != NULL && rt_err_has(e, RT_E_NOT_FOUND)) {
			rt_err_free(e);
			if (take == 0)
				take = fid;     /* free */
			fp[dl] = (uint8_t)(take >> 8);
			fp[dl + 1] = (uint8_t)take;
			return NULL;
		}
		if (e != NULL) {
			if (prof_card_gone(e))
				return e;
			rt_err_free(e);
			continue;               /* not ours to judge */
		}
		bool cert = (len >= 4 && data[0] == 0x30 && data[1] == 0x82) ||
		    (len > 0 && data[0] == 0x00);
		free(data);
		if (!cert)
			continue;
		if ((e = iso_delete_file(p->t, fp, *fl)) == NULL) {
			if (take == 0)
				take = fid;     /* an orphan, gone */
			continue;
		}
		if (prof_card_gone(e))
			return e;
		rt_err_free(e);
	}
	if (take != 0) {
		fp[dl] = (uint8_t)(take >> 8);
		fp[dl + 1] = (uint8_t)take;
		return NULL;
	}
	return rt_err_new(RT_E_CARD_FULL, NULL, "PKCS#15: no free certificate "
	    "EF 3400..34FF");
}

/* The security attributes for a new certificate EF: those of a
 * certificate EF already there, else the CDF's. */
static rt_err *
cert_sa(p15_prof *p, const uint8_t *cdf, size_t cl, uint8_t sa[8], bool *has)
{
	*has = false;
	for (size_t i = 0; p->cdf != NULL && i < p->cdf->n; i++) {
		uint8_t fp[P15_PATH_MAX];
		size_t fl;
		if (full_path(p, &p->cdf->u.cert[i].path, fp, &fl) != NULL)
			continue;
		rt_err *e = iso_file_sa(p->t, fp, fl, sa, has);
		if (e == NULL && *has)
			return NULL;
		if (e != NULL && prof_card_gone(e))
			return e;
		rt_err_free(e);
	}
	return iso_file_sa(p->t, cdf, cl, sa, has);
}

/* Creates the EF of a new certificate beside the CDF at cdf and writes
 * der into it; *path gets its path (absolute). */
static rt_err *
put_cert_ef(p15_prof *p, const uint8_t *cdf, size_t cl, const uint8_t *der,
    size_t len, p15_path *path)
{
	uint8_t fp[P15_PATH_MAX], sa[8];
	size_t fl = 0;
	bool has;
	rt_err *e;
	if ((e = cert_sa(p, cdf, cl, sa, &has)) != NULL ||
	    (e = new_cert_ef(p, cdf, cl - 2, fp, &fl)) != NULL)
		return e;
	uint16_t fid = (uint16_t)(fp[fl - 2] << 8 | fp[fl - 1]);
	if ((e = iso_create_ef(p->t, cdf, cl - 2, fid, len, has ? sa : NULL)) != NULL)
		return rt_err_wrap(e, "PKCS#15: the certificate's EF %04X", fid);
	if ((e = iso_update_file(p->t, fp, fl, der, len)) != NULL)
		return rt_err_wrap(e, "PKCS#15: writing the certificate into EF %04X",
		    fid);
	/* read back before the CDF names it: a write the card answered
	 * without doing (a bare 9000) leaves an orphan for the next write,
	 * never a CDF entry whose certificate does not read */
	uint8_t *back = NULL;
	size_t blen = 0;
	if ((e = iso_read_file(p->t, fp, fl, ISO_FILE_MAX, &back, &blen)) != NULL)
		return rt_err_wrap(e, "PKCS#15: reading EF %04X back", fid);
	bool same = blen >= len && memcmp(back, der, len) == 0;
	free(back);
	if (!same)
		return rt_err_new(RT_E_CARD_STATUS, NULL, "PKCS#15: EF %04X read "
		    "back does not hold the certificate written", fid);
	memset(path, 0, sizeof(*path));
	memcpy(path->b, fp, fl);
	path->len = fl;
	return NULL;
}

/* Writes directory file df (CDF or CDF-trusted, tag) whole, in one
 * UPDATE BINARY: the encoded objects, zeros to the end of the EF. */
static rt_err *
put_df(p15_prof *p, uint8_t tag, const p15_df *df)
{
	uint8_t fp[P15_PATH_MAX];
	size_t fl, size;
	rt_err *e;
	if ((e = df_where(p, tag, fp, &fl)) != NULL ||
	    (e = iso_select_path(p->t, fp, fl, &size)) != NULL)
		return e;
	if (size == 0 || size > ISO_FILE_MAX)
		return rt_err_new(RT_E_FORMAT, NULL, "PKCS#15: directory file %02X "
		    "of %zu bytes", tag, size);
	uint8_t *buf = calloc(1, size);
	if (buf == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "PKCS#15 directory file");
	size_t len;
	if ((e = p15_df_encode(df, buf, size, &len)) != NULL) {
		free(buf);
		return rt_err_new(RT_E_CARD_FULL, e, "PKCS#15: directory file %02X "
		    "(%zu bytes) has no room for another entry", tag, size);
	}
	e = iso_update_file(p->t, fp, fl, buf, size);
	if (e != NULL) {
		free(buf);
		return rt_err_wrap(e, "PKCS#15: writing directory file %02X", tag);
	}
	/* read back: a write answered without being done must not pass for
	 * done (a Redo would then delete the EF the old entry still names) */
	uint8_t *back = NULL;
	size_t blen = 0;
	e = iso_read_file(p->t, fp, fl, ISO_FILE_MAX, &back, &blen);
	bool same = e == NULL && blen == size && memcmp(back, buf, size) == 0;
	free(back);
	free(buf);
	if (e != NULL)
		return rt_err_wrap(e, "PKCS#15: reading directory file %02X back",
		    tag);
	if (!same)
		return rt_err_new(RT_E_CARD_STATUS, NULL, "PKCS#15: directory file "
		    "%02X read back does not hold what was written", tag);
	return NULL;
}

/* Deletes the EF of an entry no longer listed; failing, it stays an
 * orphan for the next write (only a card that went away is an error). */
static rt_err *
drop_ef(p15_prof *p, const p15_path *path)
{
	uint8_t fp[P15_PATH_MAX];
	size_t fl;
	rt_err *e = full_path(p, path, fp, &fl);
	if (e == NULL)
		e = iso_delete_file(p->t, fp, fl);
	if (e != NULL && !prof_card_gone(e)) {
		rt_err_free(e);
		e = NULL;
	}
	return e;
}

/* Redo (index >= 0): the new certificate's EF, then the CDF entry
 * pointing to it, then the old EF deleted. Add: the EF, then a new CDF
 * entry with the key's iD after the key's last certificate. */
static rt_err *
p_write_cert(void *impl, uint8_t key, int index, const uint8_t *der,
    size_t len)
{
	p15_prof *p = impl;
	const p15_key *k = key_obj(p, key);
	if (k == NULL)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "PKCS#15: no key %02x in the "
		    "PrKDF", key);
	if (p->cdf == NULL)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "PKCS#15: the card has no "
		    "CDF");
	if (len < 4 || der[0] != 0x30)
		return rt_err_new(RT_E_CERT, NULL, "PKCS#15, key %02x: not a DER "
		    "certificate", key);
	size_t pos = 0;
	const p15_cert *old = NULL;
	if (index != RT_CARD_CERT_NEW &&
	    (old = cert_at(p, k, index, &pos)) == NULL) {
		if (index != 0)
			return rt_err_new(RT_E_NOT_FOUND, NULL, "PKCS#15: key %02x has "
			    "no certificate %d", key, index);
		index = RT_CARD_CERT_NEW;       /* a key without one: added */
	}
	if (index == RT_CARD_CERT_NEW && p->cdf->n == P15_MAX_OBJECTS)
		return rt_err_new(RT_E_CARD_FULL, NULL, "PKCS#15: the CDF holds %d "
		    "certificates", P15_MAX_OBJECTS);
	uint8_t cdf[P15_PATH_MAX];
	size_t cl;
	p15_path np;
	rt_err *e;
	if ((e = df_where(p, P15_ODF_CDF, cdf, &cl)) != NULL ||
	    (e = put_cert_ef(p, cdf, cl, der, len, &np)) != NULL)
		return e;

	p15_df *df = malloc(sizeof(*df));
	if (df == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "PKCS#15 CDF");
	*df = *p->cdf;
	p15_path oldpath;
	if (old != NULL) {
		oldpath = old->path;
		p15_cert *c = &df->u.cert[pos];
		c->path = np;
		c->class_rest.len = 0;  /* identifier, hash: of the old one */
		c->type_rest.len = 0;
		/* the old label named the old certificate ("... TC") */
		snprintf(c->common.label, sizeof(c->common.label), "%s",
		    k->common.label[0] ? k->common.label : "Certificate");
		c->common.has_label = true;
	} else {
		/* after the key's last certificate, else at the end */
		size_t at = df->n;
		for (size_t i = 0; i < df->n; i++)
			if (id_eq(&df->u.cert[i].id, &k->id))
				at = i + 1;
		memmove(&df->u.cert[at + 1], &df->u.cert[at],
		    (df->n - at) * sizeof(df->u.cert[0]));
		df->n++;
		p15_cert *c = &df->u.cert[at];
		memset(c, 0, sizeof(*c));
		snprintf(c->common.label, sizeof(c->common.label), "%s",
		    k->common.label[0] ? k->common.label : "Certificate");
		c->common.has_label = true;
		c->common.flags = P15_OBJ_MODIFIABLE;
		c->common.has_flags = true;
		c->id = k->id;
		c->path = np;
	}
	if ((e = put_df(p, P15_ODF_CDF, df)) != NULL) {
		free(df);
		p->cdf_stale = true;
		return e;
	}
	free(p->cdf);
	p->cdf = df;
	if (old != NULL)
		return drop_ef(p, &oldpath);
	return NULL;
}

static rt_err *
p_holds_cert(void *impl, uint8_t key, const uint8_t *der, size_t len,
    bool *held)
{
	p15_prof *p = impl;
	const p15_key *k = key_obj(p, key);
	if (k == NULL)
		return NULL;
	/* after a CDF write that failed, the card's CDF, not the one kept:
	 * the CDF may have been written and only its read-back lost (the
	 * fault sweep: a READ BINARY of the read-back answered 6F00 or a
	 * bare 9000 left the new certificate on the card, and it was
	 * rejected). A CDF that cannot be read: the card cannot tell. */
	rt_err *e;
	if (p->cdf_stale) {
		p15_df *fresh = NULL;
		if ((e = read_df(p, P15_ODF_CDF, P15_DF_CERTS, &fresh)) != NULL)
			return e;
		if (fresh != NULL) {
			free(p->cdf);
			p->cdf = fresh;
		}
		p->cdf_stale = false;
	}
	for (int i = 0; !*held; i++) {
		size_t pos;
		const p15_cert *c = cert_at(p, k, i, &pos);
		if (c == NULL)
			break;
		uint8_t *back;
		size_t blen;
		e = read_cert_at(p, c, &back, &blen);
		if (e != NULL) {
			if (prof_card_gone(e))
				return e;
			rt_err_free(e);
			continue;
		}
		*held = blen == len && memcmp(back, der, len) == 0;
		free(back);
	}
	return NULL;
}

/* A CA certificate entry: every one of CDF-trusted, and the CDF's
 * authority certificates whose iD is no private key's. */
static bool
is_ca_entry(const p15_prof *p, const p15_df *df, size_t i)
{
	const p15_cert *c = &df->u.cert[i];
	return df == p->trusted || (c->authority && !is_key_id(p, &c->id));
}

static rt_err *
p_ca_certs(void *impl, rt_card_ca *out, size_t cap, size_t *n)
{
	p15_prof *p = impl;
	const p15_df *dfs[2] = { p->cdf, p->trusted };
	for (size_t d = 0; d < 2; d++) {
		for (size_t i = 0; dfs[d] != NULL && i < dfs[d]->n; i++) {
			if (!is_ca_entry(p, dfs[d], i))
				continue;
			if (*n == cap)
				return rt_err_new(RT_E_TOO_BIG, NULL, "more than %zu CA "
				    "certificates", cap);
			rt_card_ca *o = &out[(*n)++];
			memset(o, 0, sizeof(*o));
			const p15_cert *c = &dfs[d]->u.cert[i];
			snprintf(o->label, sizeof(o->label), "%s", c->common.label);
			rt_err *e = read_listed(p, c, &o->der, &o->der_len, o->error,
			    sizeof(o->error));
			if (e != NULL)
				return e;
		}
	}
	return NULL;
}

/* An iD for a new CA certificate that no object of the CDFs has. */
static void
new_ca_id(const p15_df *a, const p15_df *b, p15_id *id)
{
	for (unsigned v = 0xC1; v <= 0xFF; v++) {
		bool used = false;
		const p15_df *dfs[2] = { a, b };
		for (size_t d = 0; d < 2 && !used; d++)
			for (size_t i = 0; dfs[d] != NULL && i < dfs[d]->n; i++)
				if (dfs[d]->u.cert[i].id.len == 1 &&
				    dfs[d]->u.cert[i].id.b[0] == v)
					used = true;
		if (!used) {
			id->b[0] = (uint8_t)v;
			id->len = 1;
			return;
		}
	}
	id->b[0] = 0xC0;
	id->len = 1;
}

static bool
ca_listed(const rt_card_ca *ca, size_t n, const uint8_t *der, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (ca[i].der != NULL && ca[i].der_len == len &&
		    memcmp(ca[i].der, der, len) == 0)
			return true;
	return false;
}

/* CA certificates go where the card keeps them: CDF-trusted when the ODF
 * has one, else the CDF as authority certificates. The new EFs first,
 * then each directory file in one UPDATE BINARY (the target one first),
 * then the EFs of the entries removed. */
static rt_err *
p_write_ca_certs(void *impl, const rt_card_ca *ca, size_t n, bool replace)
{
	p15_prof *p = impl;
	if (p->cdf == NULL && p->trusted == NULL)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "PKCS#15: the card has no "
		    "CDF");
	for (size_t i = 0; i < n; i++)
		if (ca[i].der == NULL || ca[i].der_len < 4 || ca[i].der[0] != 0x30)
			return rt_err_new(RT_E_CERT, NULL, "CA certificate %zu: not a "
			    "DER certificate", i + 1);
	bool to_trusted = p->trusted != NULL;
	uint8_t tag = to_trusted ? P15_ODF_CDF_TRUSTED : P15_ODF_CDF;
	rt_card_ca have[P15_MAX_OBJECTS];
	size_t nh = 0;
	p15_df *nd[2] = { NULL, NULL };         /* new CDF, CDF-trusted */
	p15_path gone[2 * P15_MAX_OBJECTS];
	size_t ngone = 0;
	uint8_t where[P15_PATH_MAX];
	size_t wl;
	rt_err *e = p_ca_certs(p, have, P15_MAX_OBJECTS, &nh);
	if (e != NULL)
		goto out;
	const p15_df *od[2] = { p->cdf, p->trusted };
	for (size_t d = 0; d < 2; d++) {
		if (od[d] == NULL)
			continue;
		if ((nd[d] = malloc(sizeof(*nd[d]))) == NULL) {
			e = rt_err_new(RT_E_NOMEM, NULL, "PKCS#15 CDF");
			goto out;
		}
		*nd[d] = *od[d];
	}
	/* replace: the CA entries not among ca go (their EFs later); the
	 * index into `have` follows p_ca_certs' order */
	size_t hi = 0;
	for (size_t d = 0; d < 2; d++) {
		if (nd[d] == NULL)
			continue;
		size_t w = 0;
		for (size_t i = 0; i < od[d]->n; i++) {
			bool drop = false;
			if (is_ca_entry(p, od[d], i)) {
				const rt_card_ca *h = &have[hi++];
				drop = replace && (h->der == NULL ||
				    !ca_listed(ca, n, h->der, h->der_len));
			}
			if (drop)
				gone[ngone++] = od[d]->u.cert[i].path;
			else
				nd[d]->u.cert[w++] = od[d]->u.cert[i];
		}
		nd[d]->n = w;
	}
	p15_df *t = nd[to_trusted ? 1 : 0];
	if ((e = df_where(p, tag, where, &wl)) != NULL)
		goto out;
	p->pending = t;
	size_t added = 0;
	for (size_t i = 0; i < n; i++) {
		if (ca_listed(have, nh, ca[i].der, ca[i].der_len) ||
		    ca_listed(ca, i, ca[i].der, ca[i].der_len))
			continue;               /* on the card, or given twice */
		if (t->n == P15_MAX_OBJECTS) {
			e = rt_err_new(RT_E_CARD_FULL, NULL, "PKCS#15: directory "
			    "file %02X holds %d certificates", tag, P15_MAX_OBJECTS);
			goto out;
		}
		p15_cert *c = &t->u.cert[t->n];
		memset(c, 0, sizeof(*c));
		if ((e = put_cert_ef(p, where, wl, ca[i].der, ca[i].der_len,
		    &c->path)) != NULL)
			goto out;
		snprintf(c->common.label, sizeof(c->common.label), "%s",
		    ca[i].label[0] ? ca[i].label : "CA Certificate");
		c->common.has_label = true;
		c->common.flags = P15_OBJ_MODIFIABLE;
		c->common.has_flags = true;
		c->authority = true;
		new_ca_id(nd[0], nd[1], &c->id);
		t->n++;
		added++;
	}
	if (added == 0 && ngone == 0)
		goto out;                       /* the card has them all */
	/* the target directory file first: a tear after it leaves the new
	 * certificates listed and old ones still there, never one missing */
	if ((e = put_df(p, tag, t)) != NULL)
		goto out;
	uint8_t other = to_trusted ? P15_ODF_CDF : P15_ODF_CDF_TRUSTED;
	p15_df *o = nd[to_trusted ? 0 : 1];
	if (o != NULL && o->n != od[to_trusted ? 0 : 1]->n &&
	    (e = put_df(p, other, o)) != NULL)
		goto out;
	for (size_t d = 0; d < 2; d++) {
		if (nd[d] == NULL)
			continue;
		free(d == 0 ? p->cdf : p->trusted);
		if (d == 0)
			p->cdf = nd[d];
		else
			p->trusted = nd[d];
		nd[d] = NULL;
	}
	for (size_t i = 0; i < ngone && e == NULL; i++)
		e = drop_ef(p, &gone[i]);
out:
	p->pending = NULL;
	rt_card_ca_free(have, nh);
	free(nd[0]);
	free(nd[1]);
	return e;
}

/* ---- PINs and the SO PIN ------------------------------------------------- */

/* The AODF's PIN with authId id. */
static const p15_pin *
pin_by_auth(const p15_prof *p, const p15_id *id)
{
	for (size_t i = 0; p->aodf != NULL && i < p->aodf->n; i++)
		if (id_eq(&p->aodf->u.pin[i].auth_id, id))
			return &p->aodf->u.pin[i];
	return NULL;
}

/* Which of the card's PINs (0: the user PIN, 1: the second one, e.g. the
 * signature PIN) protects key: its place among the PINs that are neither
 * SO nor unblocking PINs. */
static unsigned
key_pin_index(const p15_prof *p, uint8_t key)
{
	const p15_key *k = key_obj(p, key);
	const p15_pin *kp = k != NULL ? pin_by_auth(p, &k->common.auth_id) : NULL;
	unsigned n = 0;
	for (size_t i = 0; kp != NULL && p->aodf != NULL && i < p->aodf->n; i++) {
		const p15_pin *pin = &p->aodf->u.pin[i];
		if (pin->flags & (P15_PIN_UNBLOCKING | P15_PIN_SO))
			continue;
		if (pin == kp)
			return n;
		n++;
	}
	return 0;
}

static unsigned
p_key_pin(void *impl, uint8_t key)
{
	return key_pin_index(impl, key);
}

/* The n-th user PIN (see key_pin_index); NULL when there is none. */
static const p15_pin *
nth_pin(const p15_prof *p, unsigned which)
{
	unsigned n = 0;
	for (size_t i = 0; p->aodf != NULL && i < p->aodf->n; i++) {
		const p15_pin *pin = &p->aodf->u.pin[i];
		if (pin->flags & (P15_PIN_UNBLOCKING | P15_PIN_SO))
			continue;
		if (n++ == which)
			return pin;
	}
	return NULL;
}

/* VERIFY of an AODF PIN with its length rules and padding. */
static rt_err *
verify_obj(p15_prof *p, const p15_pin *ap, const char *what, const char *pin,
    size_t len)
{
	int maxl = ap->max_len >= 0 ? ap->max_len : ap->stored_len;
	if ((int)len < ap->min_len || (maxl > 0 && (int)len > maxl) || len > 64)
		return rt_err_new(RT_E_PIN_FORMAT, NULL, "the %s has %d to %d "
		    "characters", what, ap->min_len, maxl);
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
	if (e != NULL)
		return rt_err_wrap(e, "%s \"%s\" (reference %d)", what,
		    ap->common.label, ap->reference);
	return NULL;
}

static rt_err *
p_verify_pin_n(void *impl, unsigned which, const char *pin, size_t len)
{
	p15_prof *p = impl;
	const p15_pin *ap = nth_pin(p, which);
	if (ap == NULL && which == 0)
		ap = user_pin(p);
	if (ap == NULL)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "PKCS#15: the AODF has no "
		    "PIN %u", which + 1);
	return verify_obj(p, ap, which == 0 ? "PIN" : "second PIN", pin, len);
}

static rt_err *
p_verify_pin(void *impl, const char *pin, size_t len)
{
	return p_verify_pin_n(impl, 0, pin, len);
}

/* The SO PIN: the AODF's PIN with the soPin flag; a card without one
 * (OpenSC's IsoApplet profile: one PIN, reference 1, guards the directory
 * files) writes under its user PIN, which is then the SO PIN. cred: the
 * PIN's characters; NULL: no documented default. */
static rt_err *
p_operator_auth(void *impl, int alg, const uint8_t *cred, size_t len)
{
	p15_prof *p = impl;
	(void)alg;
	const p15_pin *so = NULL;
	for (size_t i = 0; p->aodf != NULL && i < p->aodf->n && so == NULL; i++)
		if ((p->aodf->u.pin[i].flags & (P15_PIN_SO | P15_PIN_UNBLOCKING)) ==
		    P15_PIN_SO)
			so = &p->aodf->u.pin[i];
	if (so == NULL)
		so = user_pin(p);
	if (so == NULL)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "PKCS#15: no SO PIN in the "
		    "AODF");
	if (cred == NULL)
		return rt_err_new(RT_E_ARG, NULL, "PKCS#15 cards have no documented "
		    "default SO PIN: give the card's SO PIN");
	rt_err *e = verify_obj(p, so, "SO PIN", (const char *)cred, len);
	if (e != NULL && rt_err_has(e, RT_E_PIN_WRONG))
		return rt_err_new(RT_E_AUTH, e, "the SO PIN was refused");
	return e;
}

/* ---- the signer ---------------------------------------------------------- */

enum { P15_SIG_RSA_PKCS1 = 0x11, P15_SIG_ECDSA_HASH = 0x22 };

typedef struct {
	p15_prof *p;
	uint8_t key;                    /* its number (key_num) */
	uint8_t ref;                    /* the card's keyReference */
	const p15_pin *pin;             /* NULL: none needed */
	rt_pin_cb pin_cb;
	void *pin_ctx;
	bool refused;                   /* a PIN the card refused */
	char prompt[400];
} p15_sig;

static rt_err *
sig_pin(p15_sig *s)
{
	if (s->refused)
		return rt_err_new(RT_E_PIN_WRONG, NULL, "%s: refused before, not "
		    "presented again", s->prompt);
	if (s->pin == NULL || s->pin_cb == NULL)
		return rt_err_new(RT_E_PERMISSION, NULL, "key %02x: its PIN is "
		    "needed and none can be asked", s->key);
	char buf[64];
	size_t len = 0;
	rt_err *e = s->pin_cb(s->pin_ctx, s->prompt, buf, sizeof(buf), &len);
	if (e == NULL)
		e = verify_obj(s->p, s->pin, "PIN", buf, len);
	rt_wipe(buf, sizeof(buf));
	if (e != NULL && (rt_err_has(e, RT_E_PIN_WRONG) ||
	    rt_err_has(e, RT_E_PIN_BLOCKED)))
		s->refused = true;
	return e;
}

static rt_err *
sig_sign(void *impl, rt_hash h, rt_scheme scheme, const uint8_t *digest,
    size_t dlen, uint8_t *sig, size_t cap, size_t *sig_len)
{
	p15_sig *s = impl;
	uint8_t in[512];
	size_t inlen;
	uint8_t alg;
	if (scheme == RT_SCHEME_ECDSA) {
		alg = P15_SIG_ECDSA_HASH;
		memcpy(in, digest, dlen);
		inlen = dlen;
	} else if (scheme == RT_SCHEME_PKCS1) {
		/* the card pads: it takes the DigestInfo, the tail of EMSA */
		uint8_t em[512];
		size_t klen = cap < sizeof(em) ? cap : sizeof(em);
		if (klen > 256)
			klen = 256;
		rt_err *e = rt_emsa_pkcs1_encode(h, digest, dlen, klen, em);
		if (e != NULL)
			return e;
		size_t i = 2;
		while (i < klen && em[i] == 0xFF)
			i++;
		inlen = klen - i - 1;
		memcpy(in, em + i + 1, inlen);
		alg = P15_SIG_RSA_PKCS1;
	} else {
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "PKCS#15 card: %s "
		    "signatures", rt_scheme_name(scheme));
	}
	rt_err *e = iso_sign(s->p->t, s->ref, alg, in, inlen, sig, cap, sig_len);
	if (e != NULL && rt_err_has(e, RT_E_PERMISSION)) {
		rt_err_free(e);
		if ((e = sig_pin(s)) == NULL)
			e = iso_sign(s->p->t, s->ref, alg, in, inlen, sig, cap, sig_len);
	}
	return e;
}

static void
sig_free(void *impl)
{
	p15_sig *s = impl;
	rt_wipe(s, sizeof(*s));
	free(s);
}

static const rt_signer_ops p15_signer_ops = {
	.kind = "card", .sign = sig_sign, .free = sig_free,
};

/* MSE SET + PSO COMPUTE DIGITAL SIGNATURE with the key; the key's PIN
 * (the AODF's PIN of the key's authId) asked when the card wants it. */
static rt_err *
p_signer(void *impl, const rt_card_signer_spec *sp, rt_signer **out)
{
	p15_prof *p = impl;
	const p15_key *k = key_obj(p, sp->key);
	if (k == NULL)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "PKCS#15: no key %02x",
		    sp->key);
	uint8_t *der = NULL;
	size_t len = 0;
	rt_err *e;
	if (sp->cert == NULL && (e = p_read_cert(p, sp->key, &der, &len)) != NULL)
		return e;
	const uint8_t *cd = sp->cert != NULL ? sp->cert : der;
	size_t cl = sp->cert != NULL ? sp->cert_len : len;
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_der(&crt, cd, cl) != 0) {
		free(der);
		return rt_err_new(RT_E_CERT, NULL, "PKCS#15, key %02x: its "
		    "certificate does not parse", sp->key);
	}
	p15_sig *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		mbedtls_x509_crt_free(&crt);
		free(der);
		return rt_err_new(RT_E_NOMEM, NULL, "PKCS#15 signer");
	}
	s->p = p;
	s->key = sp->key;
	if (k->key_ref < 0 || k->key_ref > 0xFF) {
		mbedtls_x509_crt_free(&crt);
		free(der);
		free(s);
		return rt_err_new(RT_E_FORMAT, NULL, "PKCS#15 key %02x: no "
		    "keyReference in the PrKDF", sp->key);
	}
	s->ref = (uint8_t)k->key_ref;
	s->pin = k->common.auth_id.len ? pin_by_auth(p, &k->common.auth_id) : NULL;
	s->pin_cb = sp->pin_cb;
	s->pin_ctx = sp->pin_ctx;
	char desc[400];
	snprintf(desc, sizeof(desc), "%s%skey %02x in \"%s\"",
	    sp->label ? sp->label : "", sp->label ? " (" : "", sp->key,
	    p->t->reader);
	if (sp->label)
		snprintf(desc + strlen(desc), sizeof(desc) - strlen(desc), ")");
	snprintf(s->prompt, sizeof(s->prompt), "%s of the card in \"%s\"",
	    s->pin != NULL ? s->pin->common.label : "PIN", p->t->reader);
	e = rt_signer_new(&p15_signer_ops, s, &crt.pk, desc, out);
	if (e == NULL)
		e = rt_signer_add_cert(*out, cd, cl);
	mbedtls_x509_crt_free(&crt);
	free(der);
	if (e != NULL) {
		rt_signer_free(*out);
		*out = NULL;
	}
	return e;
}

static rt_err *
tc_signer(void *ctx, uint8_t key, const uint8_t *der, size_t len,
    const rt_tc_config *cfg, rt_signer **out)
{
	rt_card_signer_spec sp = { .key = key, .cert = der, .cert_len = len,
	    .pin_cb = cfg->pin_cb, .pin_ctx = cfg->pin_ctx };
	return p_signer(ctx, &sp, out);
}

/* The TC controls of tc.h as on PIV: chain, possession (MSE SET + PSO
 * with the key, its PIN asked through cfg), binding to TokenInfo's
 * serial number; attestation: none on a PKCS#15 card (skipped, failed
 * where required). */
static rt_err *
p_verify_tc(void *impl, const rt_card_id *id, uint8_t key, const uint8_t *der,
    size_t len, const rt_tc_config *cfg, rt_tc_result *res)
{
	return rt_tc_verify_key(tc_signer, impl, NULL, id, key, der, len, cfg,
	    res);
}

const rt_card_ops prof_p15_ops = {
	.caps = &caps_p15,
	.ident = p_ident,
	.keys = p_keys,
	.pin_retries = p_pin_retries,
	.verify_pin = p_verify_pin,
	.read_cert = p_read_cert,
	.write_cert = p_write_cert,
	.holds_cert = p_holds_cert,
	.ca_certs = p_ca_certs,
	.write_ca_certs = p_write_ca_certs,
	.key_pin = p_key_pin,
	.verify_pin_n = p_verify_pin_n,
	.public_key = p_public_key,
	.operator_auth = p_operator_auth,
	.signer = p_signer,
	.verify_tc = p_verify_tc,
	.close = p_close,
};
