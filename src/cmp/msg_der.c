/* msg_der.c - strict DER reader, writer helpers, algorithm identifiers,
 * names and status texts for the CMP module; see cmp_int.h, cmp.h */
#include "cmp_int.h"
#include "raterm/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509.h>

/* ---- reader ------------------------------------------------------------------ */

rt_err *
cmp_fmt(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return rt_err_new(RT_E_CMP_FORMAT, NULL, "%s", buf);
}

void
rd_init(cmp_rd *r, cmp_buf b, const char *what)
{
	r->p = b.p;
	r->end = b.p + b.len;
	r->what = what;
}

bool
rd_at_end(const cmp_rd *r)
{
	return r->p >= r->end;
}

int
rd_peek(const cmp_rd *r)
{
	return r->p < r->end ? r->p[0] : -1;
}

rt_err *
rd_any(cmp_rd *r, int *tag, cmp_buf *val, cmp_buf *whole)
{
	const uint8_t *s = r->p;
	size_t avail = (size_t)(r->end - r->p);
	if (avail < 2)
		return cmp_fmt("%s: truncated element", r->what);
	if ((s[0] & 0x1F) == 0x1F)
		return cmp_fmt("%s: multi-byte tag %02x refused", r->what, s[0]);
	size_t hl = 2, len = s[1];
	if (s[1] == 0x80)
		return cmp_fmt("%s: indefinite length refused", r->what);
	if (s[1] > 0x80) {
		size_t n = s[1] & 0x7F;
		if (n > 4)
			return cmp_fmt("%s: length of %zu bytes refused", r->what, n);
		if (avail < 2 + n)
			return cmp_fmt("%s: truncated length", r->what);
		len = 0;
		for (size_t i = 0; i < n; i++)
			len = (len << 8) | s[2 + i];
		if (s[2] == 0 || len < 0x80)
			return cmp_fmt("%s: non-minimal length (not DER)", r->what);
		hl = 2 + n;
	}
	if (len > avail - hl)
		return cmp_fmt("%s: element of %zu bytes runs past its container "
		    "(%zu left)", r->what, len, avail - hl);
	*tag = s[0];
	if (val != NULL) {
		val->p = s + hl;
		val->len = len;
	}
	if (whole != NULL) {
		whole->p = s;
		whole->len = hl + len;
	}
	r->p = s + hl + len;
	return NULL;
}

rt_err *
rd_get(cmp_rd *r, int tag, const char *field, cmp_buf *val, cmp_buf *whole)
{
	if (rd_at_end(r))
		return cmp_fmt("%s: %s missing", r->what, field);
	if (rd_peek(r) != tag)
		return cmp_fmt("%s: %s: expected tag %02x, found %02x", r->what,
		    field, (unsigned)tag, (unsigned)rd_peek(r));
	int t;
	cmp_buf v = { 0 }, w = { 0 };
	rt_err *e = rd_any(r, &t, &v, &w);
	if (e != NULL)
		return rt_err_wrap(e, "%s", field);
	if (val != NULL)
		*val = v;
	if (whole != NULL)
		*whole = w;
	return NULL;
}

rt_err *
rd_opt(cmp_rd *r, int tag, const char *field, cmp_buf *val, cmp_buf *whole,
    bool *present)
{
	*present = rd_peek(r) == tag;
	if (!*present)
		return NULL;
	return rd_get(r, tag, field, val, whole);
}

rt_err *
rd_end(const cmp_rd *r)
{
	if (!rd_at_end(r))
		return cmp_fmt("%s: %zu unexpected trailing bytes (tag %02x)",
		    r->what, (size_t)(r->end - r->p), (unsigned)r->p[0]);
	return NULL;
}

rt_err *
rd_long(cmp_buf v, const char *field, long *out)
{
	if (v.len == 0)
		return cmp_fmt("%s: empty INTEGER", field);
	if (v.len > sizeof(long))
		return cmp_fmt("%s: INTEGER too large", field);
	if (v.len > 1 && ((v.p[0] == 0x00 && !(v.p[1] & 0x80)) ||
	    (v.p[0] == 0xFF && (v.p[1] & 0x80))))
		return cmp_fmt("%s: non-minimal INTEGER (not DER)", field);
	unsigned long u = (v.p[0] & 0x80) ? ~0UL : 0;
	for (size_t i = 0; i < v.len; i++)
		u = (u << 8) | v.p[i];
	*out = (long)u;
	return NULL;
}

rt_err *
rd_int(cmp_rd *r, const char *field, long *out)
{
	cmp_buf v;
	rt_err *e = rd_get(r, 0x02, field, &v, NULL);
	if (e == NULL)
		e = rd_long(v, field, out);
	return e;
}

/* ---- writer helpers ---------------------------------------------------------- */

void
der_buf(rt_der *d, cmp_buf b)
{
	der_raw(d, b.p, b.len);
}

void
der_retag(rt_der *d, uint8_t tag, cmp_buf b)
{
	cmp_rd r;
	int t;
	cmp_buf v;
	rd_init(&r, b, "re-tag");
	rt_err *e = rd_any(&r, &t, &v, NULL);
	if (e != NULL || !rd_at_end(&r)) {
		rt_err_free(e);
		d->bad = true;
		snprintf(d->why, sizeof(d->why), "malformed DER value for tag %02x",
		    tag);
		return;
	}
	der_tlv(d, tag, v.p, v.len);
}

void
der_explicit(rt_der *d, uint8_t tag, cmp_buf b)
{
	der_tlv(d, tag, b.p, b.len);
}

/* ---- signature algorithms ------------------------------------------------------- */

static rt_hash
hash_from_md(mbedtls_md_type_t md)
{
	switch (md) {
	case MBEDTLS_MD_SHA1: return RT_HASH_SHA1;
	case MBEDTLS_MD_SHA256: return RT_HASH_SHA256;
	case MBEDTLS_MD_SHA384: return RT_HASH_SHA384;
	case MBEDTLS_MD_SHA512: return RT_HASH_SHA512;
	default: return RT_HASH_NONE;
	}
}

rt_err *
cmp_sig_alg_parse(cmp_buf alg, rt_hash *h, rt_scheme *s)
{
	unsigned char *p = (unsigned char *)alg.p;
	mbedtls_x509_buf oid, params;
	mbedtls_md_type_t md;
	mbedtls_pk_type_t pk;
	void *opts = NULL;
	char name[64];
	if (mbedtls_x509_get_alg(&p, p + alg.len, &oid, &params) != 0 ||
	    p != alg.p + alg.len)
		return rt_err_new(RT_E_CMP_FORMAT, NULL, "malformed "
		    "AlgorithmIdentifier");
	if (mbedtls_x509_get_sig_alg(&oid, &params, &md, &pk, &opts) != 0) {
		rt_oid_dotted(oid.p, oid.len, name, sizeof(name));
		return rt_err_new(RT_E_CMP_UNSUPPORTED, NULL, "signature algorithm "
		    "%s not supported (MAC protection is not either)", name);
	}
	rt_err *e = NULL;
	*h = hash_from_md(md);
	if (pk == MBEDTLS_PK_RSASSA_PSS) {
		const mbedtls_pk_rsassa_pss_options *po = opts;
		*s = RT_SCHEME_PSS;
		if (po->mgf1_hash_id != md || (po->expected_salt_len !=
		    MBEDTLS_RSA_SALT_LEN_ANY && po->expected_salt_len !=
		    (int)rt_hash_len(*h)))
			e = rt_err_new(RT_E_CMP_UNSUPPORTED, NULL, "RSASSA-PSS with "
			    "a different MGF1 hash or salt length");
	} else if (pk == MBEDTLS_PK_RSA)
		*s = RT_SCHEME_PKCS1;
	else if (pk == MBEDTLS_PK_ECDSA)
		*s = RT_SCHEME_ECDSA;
	else
		e = rt_err_new(RT_E_CMP_UNSUPPORTED, NULL, "signature algorithm "
		    "not supported");
	if (e == NULL && (*h == RT_HASH_NONE || *h == RT_HASH_SHA1))
		e = rt_err_new(RT_E_CMP_UNSUPPORTED, NULL, "signature hash not "
		    "accepted (SHA-256, SHA-384, SHA-512)");
	free(opts);
	return e;
}

cmp_buf
cmp_crt_ski(const mbedtls_x509_crt *c)
{
	static const uint8_t ski_oid[] = { 0x06, 0x03, 0x55, 0x1D, 0x0E };
	cmp_buf none = { 0 };
	const uint8_t *p = c->v3_ext.p, *end;
	if (p == NULL)
		return none;
	end = p + c->v3_ext.len;
	for (; p + sizeof(ski_oid) < end; p++) {
		if (memcmp(p, ski_oid, sizeof(ski_oid)) != 0)
			continue;
		cmp_rd r;
		cmp_buf rest = { p + sizeof(ski_oid),
		    (size_t)(end - p - sizeof(ski_oid)) }, ov, kid;
		int t;
		rd_init(&r, rest, "subjectKeyIdentifier");
		rt_err *e = NULL;
		if (rd_peek(&r) == 0x01)	/* critical */
			e = rd_any(&r, &t, NULL, NULL);
		if (e == NULL)
			e = rd_get(&r, 0x04, "extnValue", &ov, NULL);
		if (e == NULL) {
			rd_init(&r, ov, "subjectKeyIdentifier");
			e = rd_get(&r, 0x04, "keyIdentifier", &kid, NULL);
		}
		if (e == NULL)
			e = rd_end(&r);
		if (e != NULL) {
			rt_err_free(e);
			return none;
		}
		return kid;
	}
	return none;
}

/* ---- OIDs ------------------------------------------------------------------------ */

static const struct {
	const char *dotted;
	uint8_t der[24];
	size_t len;
} oids[] = {
	{ CMP_OID_IT_IMPLICIT_CONFIRM, { 0x2B, 6, 1, 5, 5, 7, 4, 13 }, 8 },
	{ CMP_OID_IT_CONFIRM_WAIT_TIME, { 0x2B, 6, 1, 5, 5, 7, 4, 14 }, 8 },
	{ CMP_OID_IT_CA_CERTS, { 0x2B, 6, 1, 5, 5, 7, 4, 17 }, 8 },
	{ CMP_OID_IT_ROOT_CA_KEY_UPDATE, { 0x2B, 6, 1, 5, 5, 7, 4, 18 }, 8 },
	{ CMP_OID_IT_ROOT_CA_CERT, { 0x2B, 6, 1, 5, 5, 7, 4, 20 }, 8 },
	{ CMP_OID_IT_CERT_PROFILE, { 0x2B, 6, 1, 5, 5, 7, 4, 21 }, 8 },
	{ CMP_OID_IT_CARD_MGMT_KEY, { 0x69, 0xbb, 0xb8, 0xde, 0xab, 0xe1, 0xfd,
	    0x92, 0xa2, 0xab, 0x88, 0xa7, 0xa3, 0xbd, 0xf9, 0xdc, 0xda, 0xf2,
	    0x7a, 0x01, 0x01 }, 21 },
	{ CMP_OID_IT_CARD_ID, { 0x69, 0xbb, 0xb8, 0xde, 0xab, 0xe1, 0xfd,
	    0x92, 0xa2, 0xab, 0x88, 0xa7, 0xa3, 0xbd, 0xf9, 0xdc, 0xda, 0xf2,
	    0x7a, 0x01, 0x02 }, 21 },
	{ CMP_OID_IT_TX_STATUS, { 0x69, 0xbb, 0xb8, 0xde, 0xab, 0xe1, 0xfd,
	    0x92, 0xa2, 0xab, 0x88, 0xa7, 0xa3, 0xbd, 0xf9, 0xdc, 0xda, 0xf2,
	    0x7a, 0x01, 0x03 }, 21 },
};

bool
cmp_oid_lookup(const char *dotted, cmp_buf *out)
{
	for (size_t i = 0; i < sizeof(oids) / sizeof(oids[0]); i++)
		if (strcmp(oids[i].dotted, dotted) == 0) {
			out->p = oids[i].der;
			out->len = oids[i].len;
			return true;
		}
	return false;
}

bool
cmp_itav_is(const cmp_itav *it, const char *oid)
{
	cmp_buf b;
	return cmp_oid_lookup(oid, &b) && cmp_buf_eq(b, it->oid);
}

rt_err *
cmp_itav_set(cmp_itav *it, const char *oid)
{
	if (!cmp_oid_lookup(oid, &it->oid))
		return rt_err_new(RT_E_ARG, NULL, "unknown InfoType %s", oid);
	return NULL;
}

/* ---- slices, names, status ------------------------------------------------------- */

cmp_buf
cmp_buf_str(const char *s)
{
	cmp_buf b = { (const uint8_t *)s, s != NULL ? strlen(s) : 0 };
	return b;
}

bool
cmp_buf_eq(cmp_buf a, cmp_buf b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

const char *
cmp_body_name(int type)
{
	static const char *const names[] = {
		"ir", "ip", "cr", "cp", "p10cr", "popdecc", "popdecr", "kur",
		"kup", "krr", "krp", "rr", "rp", "ccr", "ccp", "ckuann", "cann",
		"rann", "crlann", "pkiconf", "nested", "genm", "genp", "error",
		"certConf", "pollReq", "pollRep",
	};
	if (type < 0 || (size_t)type >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[type];
}

const char *
cmp_failinfo_name(int bit)
{
	static const char *const names[] = {
#define CMP_X_(n, b, s) s,
		CMP_FAILINFO(CMP_X_)
#undef CMP_X_
	};
	if (bit < 0 || bit >= CMP_FAILINFO_BITS)
		return NULL;
	return names[bit];
}

const char *
cmp_status_name(int status)
{
	static const char *const names[] = {
		"accepted", "grantedWithMods", "rejection", "waiting",
		"revocationWarning", "revocationNotification", "keyUpdateWarning",
	};
	if (status < 0 || status > 6)
		return "?";
	return names[status];
}

void
cmp_status_format(const cmp_status *s, char *buf, size_t len)
{
	size_t o = 0;
#define PUT(...) do { \
	int w_ = snprintf(buf + o, len > o ? len - o : 0, __VA_ARGS__); \
	if (w_ > 0) o += (size_t)w_; \
} while (0)
	if (len == 0)
		return;
	buf[0] = '\0';
	PUT("%s", cmp_status_name(s->status));
	if (s->fail_info != 0) {
		const char *sep = " (";
		for (int b = 0; b < CMP_FAILINFO_BITS; b++)
			if (s->fail_info & (1u << b)) {
				PUT("%s%s", sep, cmp_failinfo_name(b));
				sep = ", ";
			}
		PUT(")");
	}
	for (size_t i = 0; i < s->ntext; i++) {
		PUT("%s", i == 0 ? ": " : "; ");
		for (size_t k = 0; k < s->text[i].len; k++) {
			char c = (char)s->text[i].p[k];
			PUT("%c", (c >= 0x20 && c != 0x7F) || (c & 0x80) ? c : '?');
		}
	}
#undef PUT
	if (o >= len)
		buf[len - 1] = '\0';
}

rt_err *
cmp_status_err(const cmp_status *s, const char *what)
{
	if (s->status == CMP_STATUS_ACCEPTED ||
	    s->status == CMP_STATUS_GRANTED_WITH_MODS)
		return NULL;
	char buf[512];
	cmp_status_format(s, buf, sizeof(buf));
	return rt_err_new(RT_E_CMP_STATUS, NULL, "%s: %s", what, buf);
}

static const char *const reasons[] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "certificateHold", NULL,
	"removeFromCRL", "privilegeWithdrawn", "aACompromise",
};

int
cmp_reason_from_name(const char *name)
{
	for (int i = 0; i < (int)(sizeof(reasons) / sizeof(reasons[0])); i++)
		if (reasons[i] != NULL && strcasecmp(reasons[i], name) == 0)
			return i;
	return -1;
}

const char *
cmp_reason_name(int reason)
{
	if (reason < 0 || reason >= (int)(sizeof(reasons) / sizeof(reasons[0])) ||
	    reasons[reason] == NULL)
		return "?";
	return reasons[reason];
}

/* ---- model lifetime ------------------------------------------------------------ */

struct arena_blk {
	struct arena_blk *next;
	size_t len;
	uint8_t data[];
};

void *
cmp_msg_alloc(cmp_msg *m, size_t len)
{
	struct arena_blk *b = malloc(sizeof(*b) + len);
	if (b == NULL)
		return NULL;
	b->next = m->arena;
	b->len = len;
	m->arena = b;
	return b->data;
}

void
cmp_msg_init(cmp_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->error_code = -1;
	for (size_t i = 0; i < CMP_MAX_REQS; i++)
		m->rev[i].reason = -1;
}

rt_err *
cmp_msg_new(cmp_msg **out)
{
	cmp_msg *m = malloc(sizeof(*m));
	if (m == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "CMP message");
	cmp_msg_init(m);
	*out = m;
	return NULL;
}

void
cmp_msg_free(cmp_msg *m)
{
	if (m == NULL)
		return;
	/* a decoded message may hold a card management key: wiped */
	struct arena_blk *b = m->arena;
	while (b != NULL) {
		struct arena_blk *n = b->next;
		rt_wipe(b->data, b->len);
		free(b);
		b = n;
	}
	if (m->raw != NULL)
		rt_wipe(m->raw, m->raw_len);
	free(m->raw);
	free(m);
}
