/* tc.c - transport-certificate verification and proof of possession; see
 * include/raterm/tc.h */
#include "raterm/tc.h"
#include "der.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#define OID_YUBICO_SERIAL "1.3.6.1.4.1.41482.3.7"

const char *
rt_tc_state_name(rt_tc_state s)
{
	switch (s) {
	case RT_TC_PASSED: return "passed";
	case RT_TC_FAILED: return "failed";
	case RT_TC_SKIPPED: return "skipped";
	default: return "not run";
	}
}

static time_t
cfg_now(const rt_tc_config *cfg)
{
	return cfg->now ? cfg->now : time(NULL);
}

/* Does `ca`'s key verify `crt`'s signature? */
static bool
signed_by(const mbedtls_x509_crt *crt, const mbedtls_x509_crt *ca)
{
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(crt->sig_md);
	if (md == NULL || mbedtls_md(md, crt->tbs.p, crt->tbs.len, hash) != 0)
		return false;
	return mbedtls_pk_verify_ext(crt->sig_pk, crt->sig_opts,
	    (mbedtls_pk_context *)(uintptr_t)&ca->pk, crt->sig_md, hash,
	    mbedtls_md_get_size(md), crt->sig.p, crt->sig.len) == 0;
}

static bool
issued_by_name(const mbedtls_x509_crt *crt, const mbedtls_x509_crt *ca)
{
	return crt->issuer_raw.len == ca->subject_raw.len &&
	    memcmp(crt->issuer_raw.p, ca->subject_raw.p, crt->issuer_raw.len) == 0;
}

static rt_err *
validity(const uint8_t *der, size_t len, time_t now, const char *what)
{
	rt_cert_info ci;
	rt_err *e = rt_cert_info_parse(der, len, &ci);
	if (e != NULL)
		return e;
	if (now > ci.na)
		return rt_err_new(RT_E_TC_EXPIRED, NULL, "%s expired on %s", what,
		    ci.not_after);
	if (now < ci.nb)
		return rt_err_new(RT_E_TC_NOT_YET_VALID, NULL, "%s not valid before "
		    "%s", what, ci.not_before);
	return NULL;
}

/* Finds the issuer of crt in `store`. kind_unknown / kind_sig name the
 * errors to give. */
static rt_err *
find_issuer(const mbedtls_x509_crt *crt, const mbedtls_x509_crt *store,
    const mbedtls_x509_crt **issuer, rt_err_kind kind_unknown,
    rt_err_kind kind_sig, const char *what)
{
	bool name_match = false;
	char dn[256];
	for (const mbedtls_x509_crt *ca = store; ca != NULL && ca->raw.len;
	    ca = ca->next) {
		if (!issued_by_name(crt, ca))
			continue;
		name_match = true;
		if (signed_by(crt, ca)) {
			*issuer = ca;
			return NULL;
		}
	}
	if (mbedtls_x509_dn_gets(dn, sizeof(dn), &crt->issuer) < 0)
		snprintf(dn, sizeof(dn), "?");
	if (!name_match)
		return rt_err_new(kind_unknown, NULL, "%s issuer \"%s\" is not a "
		    "configured %s", what, dn, kind_unknown == RT_E_TC_UNKNOWN_CA ?
		    "transport CA" : "attestation root");
	return rt_err_new(kind_sig, NULL, "%s signature does not verify with the "
	    "key of \"%s\" (tampered or forged)", what, dn);
}

rt_err *
rt_tc_check_chain(const rt_tc_config *cfg, const uint8_t *der, size_t len)
{
	const mbedtls_x509_crt *store = rt_castore_crts(cfg->transport_cas);
	const mbedtls_x509_crt *ca = NULL;
	mbedtls_x509_crt crt;
	time_t now = cfg_now(cfg);
	rt_err *e;
	int rc;
	char dn[256];

	if (store == NULL)
		return rt_err_new(RT_E_ARG, NULL, "no transport CA configured");
	mbedtls_x509_crt_init(&crt);
	if ((rc = mbedtls_x509_crt_parse_der(&crt, der, len)) != 0) {
		mbedtls_x509_crt_free(&crt);
		return rt_err_new(RT_E_CERT, NULL, "TC does not parse (mbedTLS "
		    "-0x%04x)", (unsigned)-rc);
	}
	if ((e = find_issuer(&crt, store, &ca, RT_E_TC_UNKNOWN_CA,
	    RT_E_TC_SIGNATURE, "TC")) != NULL)
		goto out;
	if ((e = validity(der, len, now, "TC")) != NULL)
		goto out;
	if (mbedtls_x509_dn_gets(dn, sizeof(dn), &ca->subject) < 0)
		snprintf(dn, sizeof(dn), "?");
	char what[300];
	snprintf(what, sizeof(what), "transport CA \"%s\"", dn);
	if ((e = validity(ca->raw.p, ca->raw.len, now, what)) != NULL)
		goto out;
	if (!ca->ca_istrue) {
		e = rt_err_new(RT_E_TC_CHAIN, NULL, "%s is not a CA "
		    "(basicConstraints)", what);
		goto out;
	}
	if (mbedtls_x509_crt_check_key_usage(ca, MBEDTLS_X509_KU_KEY_CERT_SIGN)) {
		e = rt_err_new(RT_E_TC_CHAIN, NULL, "%s may not sign certificates "
		    "(keyUsage lacks keyCertSign)", what);
		goto out;
	}
	if (crt.ca_istrue) {
		e = rt_err_new(RT_E_TC_CHAIN, NULL, "the TC is a CA certificate");
		goto out;
	}
	if (mbedtls_x509_crt_check_key_usage(&crt,
	    MBEDTLS_X509_KU_DIGITAL_SIGNATURE) &&
	    mbedtls_x509_crt_check_key_usage(&crt, MBEDTLS_X509_KU_KEY_AGREEMENT) &&
	    mbedtls_x509_crt_check_key_usage(&crt,
	    MBEDTLS_X509_KU_KEY_ENCIPHERMENT)) {
		e = rt_err_new(RT_E_TC_CHAIN, NULL, "the TC's keyUsage allows no "
		    "use of its key");
		goto out;
	}
out:
	mbedtls_x509_crt_free(&crt);
	return e;
}

static bool
eq_nocase_nodash(const char *a, size_t alen, const char *b)
{
	size_t j = 0;
	for (size_t i = 0; i < alen; i++) {
		if (a[i] == '-')
			continue;
		if (b[j] == '\0' || tolower((unsigned char)a[i]) !=
		    tolower((unsigned char)b[j]))
			return false;
		j++;
	}
	return b[j] == '\0';
}

rt_err *
rt_tc_check_binding(const rt_tc_config *cfg, const rt_card_id *id,
    const uint8_t *der, size_t len)
{
	const char *attr = cfg->bind_attr ? cfg->bind_attr : "2.5.4.5";
	uint8_t oid[64];
	size_t olen;
	mbedtls_x509_crt crt;
	rt_err *e;
	int rc;

	if (cfg->bind == RT_TC_BIND_NONE)
		return NULL;
	if ((e = rt_oid_encode(attr, oid, sizeof(oid), &olen)) != NULL)
		return rt_err_wrap(e, "TC binding attribute");
	mbedtls_x509_crt_init(&crt);
	if ((rc = mbedtls_x509_crt_parse_der(&crt, der, len)) != 0) {
		mbedtls_x509_crt_free(&crt);
		return rt_err_new(RT_E_CERT, NULL, "TC does not parse");
	}
	char serial[16] = "", guid[33] = "", val[128] = "";
	if (id->has_serial)
		snprintf(serial, sizeof(serial), "%u", id->serial);
	if (id->has_guid)
		for (int i = 0; i < 16; i++)
			snprintf(guid + 2 * i, 3, "%02x", id->guid[i]);
	bool found = false, match = false;
	for (const mbedtls_x509_name *n = &crt.subject; n != NULL; n = n->next) {
		if (n->oid.len != olen || memcmp(n->oid.p, oid, olen) != 0)
			continue;
		found = true;
		const char *v = (const char *)n->val.p;
		size_t vl = n->val.len;
		snprintf(val, sizeof(val), "%.*s", (int)(vl < 100 ? vl : 100), v);
		if ((cfg->bind == RT_TC_BIND_AUTO || cfg->bind == RT_TC_BIND_SERIAL) &&
		    serial[0] && vl == strlen(serial) && memcmp(v, serial, vl) == 0)
			match = true;
		if ((cfg->bind == RT_TC_BIND_AUTO || cfg->bind == RT_TC_BIND_GUID) &&
		    guid[0] && eq_nocase_nodash(v, vl, guid))
			match = true;
	}
	mbedtls_x509_crt_free(&crt);
	if (match)
		return NULL;
	if (!found)
		return rt_err_new(RT_E_TC_BINDING, NULL, "the TC subject has no %s "
		    "attribute to bind it to a card", cfg->bind_attr ? attr :
		    "serialNumber");
	if (cfg->bind == RT_TC_BIND_SERIAL && !serial[0])
		return rt_err_new(RT_E_TC_BINDING, NULL, "the card does not tell its "
		    "serial number");
	if (cfg->bind == RT_TC_BIND_GUID && !guid[0])
		return rt_err_new(RT_E_TC_BINDING, NULL, "the card has no GUID");
	return rt_err_new(RT_E_TC_BINDING, NULL, "the TC is bound to \"%s\", this "
	    "card is serial %s, GUID %s", val, serial[0] ? serial : "(none)",
	    guid[0] ? guid : "(none)");
}

rt_err *
rt_pop_challenge(rt_signer *s, const mbedtls_pk_context *expected)
{
	static const char ctx[] = "raterm proof of possession v1\n";
	uint8_t msg[sizeof(ctx) - 1 + 32], dg[64], sig[1100];
	size_t sl;
	rt_err *e;
	rt_hash h = rt_pk_default_hash(expected);

	memcpy(msg, ctx, sizeof(ctx) - 1);
	if ((e = rt_random(msg + sizeof(ctx) - 1, 32)) != NULL)
		return e;
	if ((e = rt_hash_data(h, msg, sizeof(msg), dg)) != NULL)
		return e;
	if (rt_pk_keytype(expected) != rt_signer_keytype(s))
		return rt_err_new(RT_E_TC_POSSESSION, NULL, "the key in %s is not "
		    "of the certified key's type", rt_signer_desc(s));
	if ((e = rt_signer_sign(s, h, RT_SCHEME_DEFAULT, dg, rt_hash_len(h), sig,
	    sizeof(sig), &sl)) != NULL)
		return e;
	if ((e = rt_sig_verify(expected, h, RT_SCHEME_DEFAULT, dg, rt_hash_len(h),
	    sig, sl)) != NULL)
		return rt_err_new(RT_E_TC_POSSESSION, e, "the challenge signed by "
		    "%s does not verify with the certified public key: the card "
		    "does not hold that key", rt_signer_desc(s));
	return NULL;
}

static bool
pk_equal(const mbedtls_pk_context *a, const mbedtls_pk_context *b)
{
	unsigned char da[1200], db[1200];
	int la = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)(uintptr_t)a,
	    da, sizeof(da));
	int lb = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)(uintptr_t)b,
	    db, sizeof(db));
	return la > 0 && la == lb && memcmp(da + sizeof(da) - la,
	    db + sizeof(db) - lb, (size_t)la) == 0;
}

/* The Yubico serial extension of an attestation certificate, if any. */
static bool
attested_serial(const mbedtls_x509_crt *crt, uint32_t *serial)
{
	uint8_t oid[32];
	size_t olen;
	rt_err *e = rt_oid_encode(OID_YUBICO_SERIAL, oid, sizeof(oid), &olen);
	if (e != NULL) {
		rt_err_free(e);
		return false;
	}
	/* walk the extensions: [3] { SEQ OF Extension } */
	unsigned char *p = crt->v3_ext.p;
	if (p == NULL)
		return false;
	const unsigned char *end = p + crt->v3_ext.len;
	size_t l;
	if (mbedtls_asn1_get_tag(&p, end, &l,
	    MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 3) != 0 ||
	    mbedtls_asn1_get_tag(&p, end, &l, 0x30) != 0)
		return false;
	while (p < end) {
		const unsigned char *xend;
		size_t ol, vl;
		if (mbedtls_asn1_get_tag(&p, end, &l, 0x30) != 0)
			return false;
		xend = p + l;
		if (mbedtls_asn1_get_tag(&p, xend, &ol, 0x06) != 0)
			return false;
		bool hit = ol == olen && memcmp(p, oid, olen) == 0;
		p += ol;
		if (p < xend && *p == 0x01)
			p += 3;		/* critical BOOLEAN */
		if (hit && mbedtls_asn1_get_tag(&p, xend, &vl, 0x04) == 0) {
			int v;
			unsigned char *q = p;
			if (mbedtls_asn1_get_int(&q, p + vl, &v) == 0 && v >= 0) {
				*serial = (uint32_t)v;
				return true;
			}
			return false;
		}
		p = (unsigned char *)(uintptr_t)xend;
	}
	return false;
}

/* The attestation control. *skipped is set (with a note) when it did not
 * run. */
static rt_err *
check_attestation(piv_card *c, const rt_card_id *id, uint8_t slot,
    const mbedtls_pk_context *tc_pk, const rt_tc_config *cfg, bool *skipped,
    char *note, size_t note_cap)
{
	const mbedtls_x509_crt *roots = rt_castore_crts(cfg->attest_roots);
	mbedtls_x509_crt att, f9;
	const mbedtls_x509_crt *issuer;
	uint8_t *der = NULL, *f9der = NULL;
	size_t len, f9len;
	rt_err *e;
	int rc;

	*skipped = false;
	if (cfg->attest == RT_TC_ATTEST_OFF) {
		*skipped = true;
		snprintf(note, note_cap, "attestation not checked (configured off)");
		return NULL;
	}
	if (c == NULL) {
		if (cfg->attest == RT_TC_ATTEST_REQUIRED)
			return rt_err_new(RT_E_TC_ATTESTATION, NULL, "attestation is "
			    "required but the card's profile offers none");
		*skipped = true;
		snprintf(note, note_cap, "attestation not checked (the card's "
		    "profile offers none)");
		return NULL;
	}
	if (roots == NULL) {
		if (cfg->attest == RT_TC_ATTEST_REQUIRED)
			return rt_err_new(RT_E_TC_ATTESTATION, NULL, "attestation is "
			    "required but no attestation root is configured");
		*skipped = true;
		snprintf(note, note_cap, "attestation not checked (no attestation "
		    "root configured)");
		return NULL;
	}
	if ((e = piv_attest(c, slot, &der, &len)) != NULL) {
		if (rt_err_kind_of(e) == RT_E_NOT_SUPPORTED &&
		    cfg->attest != RT_TC_ATTEST_REQUIRED) {
			rt_err_free(e);
			*skipped = true;
			snprintf(note, note_cap, "the card does not offer attestation");
			return NULL;
		}
		if (rt_err_has(e, RT_E_CARD_REMOVED) || rt_err_has(e, RT_E_TRANSPORT)
		    || rt_err_has(e, RT_E_PCSC))
			return e;
		return rt_err_new(RT_E_TC_ATTESTATION, e, "the card refuses to "
		    "attest the key (imported rather than generated on the card?)");
	}
	mbedtls_x509_crt_init(&att);
	mbedtls_x509_crt_init(&f9);
	if ((rc = mbedtls_x509_crt_parse_der(&att, der, len)) != 0) {
		e = rt_err_new(RT_E_TC_ATTESTATION, NULL, "the attestation "
		    "certificate does not parse (mbedTLS -0x%04x)", (unsigned)-rc);
		goto out;
	}
	if ((e = piv_read_cert(c, PIV_SLOT_ATTEST, &f9der, &f9len)) != NULL) {
		if (rt_err_has(e, RT_E_CARD_REMOVED))
			goto out;
		e = rt_err_new(RT_E_TC_ATTESTATION, e, "no attestation (F9) "
		    "certificate on the card");
		goto out;
	}
	if ((rc = mbedtls_x509_crt_parse_der(&f9, f9der, f9len)) != 0) {
		e = rt_err_new(RT_E_TC_ATTESTATION, NULL, "the card's F9 certificate "
		    "does not parse");
		goto out;
	}
	if (!issued_by_name(&att, &f9) || !signed_by(&att, &f9)) {
		e = rt_err_new(RT_E_TC_ATTESTATION, NULL, "the attestation "
		    "certificate is not signed by the card's attestation key");
		goto out;
	}
	/* the F9 certificate: a configured root itself, or issued by one */
	bool anchored = false;
	for (const mbedtls_x509_crt *r = roots; r != NULL && r->raw.len;
	    r = r->next)
		if (r->raw.len == f9.raw.len &&
		    memcmp(r->raw.p, f9.raw.p, f9.raw.len) == 0)
			anchored = true;
	if (!anchored) {
		if ((e = find_issuer(&f9, roots, &issuer, RT_E_TC_ATTESTATION,
		    RT_E_TC_ATTESTATION, "attestation (F9) certificate")) != NULL)
			goto out;
	}
	if (!pk_equal(&att.pk, tc_pk)) {
		e = rt_err_new(RT_E_TC_ATTESTATION, NULL, "the card attests another "
		    "public key than the TC's");
		goto out;
	}
	uint32_t as;
	if (id->has_serial && attested_serial(&att, &as) && as != id->serial) {
		e = rt_err_new(RT_E_TC_ATTESTATION, NULL, "the attestation names "
		    "card serial %u, this card is %u", as, id->serial);
		goto out;
	}
out:
	mbedtls_x509_crt_free(&att);
	mbedtls_x509_crt_free(&f9);
	free(der);
	free(f9der);
	return e;
}

static rt_err *
fail(rt_tc_result *res, rt_tc_state *st, rt_err *e)
{
	*st = RT_TC_FAILED;
	res->verified = false;
	res->failed = rt_err_kind_of(e);
	rt_err_format(e, res->error, sizeof(res->error));
	return e;
}

static rt_err *
piv_mk_signer(void *ctx, uint8_t slot, const uint8_t *der, size_t len,
    const rt_tc_config *cfg, rt_signer **out)
{
	rt_card_signer_opts o = { .slot = slot, .cert = der, .cert_len = len,
	    .pin_cb = cfg->pin_cb, .pin_ctx = cfg->pin_ctx };
	return rt_signer_card(ctx, &o, out);
}

rt_err *
rt_tc_verify_slot(piv_card *c, const rt_card_id *id, uint8_t slot,
    const uint8_t *der, size_t len, const rt_tc_config *cfg,
    rt_tc_result *res)
{
	return rt_tc_verify_key(piv_mk_signer, c, c, id, slot, der, len, cfg,
	    res);
}

rt_err *
rt_tc_verify_key(rt_tc_signer_fn mk, void *mk_ctx, piv_card *c,
    const rt_card_id *id, uint8_t slot, const uint8_t *der, size_t len,
    const rt_tc_config *cfg, rt_tc_result *res)
{
	mbedtls_x509_crt crt;
	rt_signer *s = NULL;
	rt_err *e;
	bool skipped;

	memset(res, 0, sizeof(*res));
	res->slot = slot;
	res->failed = RT_E_OK;

	if ((e = rt_tc_check_chain(cfg, der, len)) != NULL)
		return fail(res, &res->chain, e);
	res->chain = RT_TC_PASSED;

	if ((e = mk(mk_ctx, slot, der, len, cfg, &s)) != NULL) {
		if (rt_err_kind_of(e) == RT_E_CERT || rt_err_kind_of(e) ==
		    RT_E_NOT_FOUND)
			e = rt_err_new(RT_E_TC_POSSESSION, e, "the card's key in slot "
			    "%02x does not fit the TC", slot);
		return fail(res, &res->possession, e);
	}
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_der(&crt, der, len) != 0) {
		rt_signer_free(s);
		return fail(res, &res->possession, rt_err_new(RT_E_CERT, NULL,
		    "TC does not parse"));
	}
	e = rt_pop_challenge(s, &crt.pk);
	rt_signer_free(s);
	if (e != NULL) {
		mbedtls_x509_crt_free(&crt);
		return fail(res, &res->possession, e);
	}
	res->possession = RT_TC_PASSED;

	if (cfg->bind == RT_TC_BIND_NONE) {
		res->binding = RT_TC_SKIPPED;
		snprintf(res->skip_note, sizeof(res->skip_note), "binding not "
		    "checked (configured off)");
	} else if ((e = rt_tc_check_binding(cfg, id, der, len)) != NULL) {
		mbedtls_x509_crt_free(&crt);
		return fail(res, &res->binding, e);
	} else
		res->binding = RT_TC_PASSED;

	char note[160];
	e = check_attestation(c, id, slot, &crt.pk, cfg, &skipped, note,
	    sizeof(note));
	mbedtls_x509_crt_free(&crt);
	if (e != NULL)
		return fail(res, &res->attestation, e);
	if (skipped) {
		res->attestation = RT_TC_SKIPPED;
		size_t used = strlen(res->skip_note);
		snprintf(res->skip_note + used, sizeof(res->skip_note) - used,
		    "%s%s", used ? "; " : "", note);
	} else
		res->attestation = RT_TC_PASSED;
	res->verified = true;
	return NULL;
}

bool
rt_tc_claimed(const rt_tc_config *cfg, const uint8_t *der, size_t len)
{
	mbedtls_x509_crt crt;
	bool tc = false;
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_der(&crt, der, len) == 0)
		for (const mbedtls_x509_crt *ca = rt_castore_crts(cfg->transport_cas);
		    ca != NULL && ca->raw.len; ca = ca->next)
			if (issued_by_name(&crt, ca))
				tc = true;
	mbedtls_x509_crt_free(&crt);
	return tc;
}
