/* Unit tests: the station's revocation check (src/engine/revocation.c,
 * issue 12's `raterm show --check-revocation`) over a Contents filled by
 * hand and a scripted fetch callback that records the URLs asked and
 * answers per URL (and serial): an OCSP response signed on the fly for
 * the request's CertID and nonce, a CRL, an HTTP error. A CA (and another
 * one) made here with software keys; certificates with and without
 * authorityInfoAccess / cRLDistributionPoints. Covers OCSP good / revoked
 * / unknown, the URL chosen (revocation.ocsp_url > AIA > the CM host's
 * /ocsp, "none"), OCSP answers refused (another key, a nonce not the
 * request's, no answer for the CertID, thisUpdate ahead, nextUpdate
 * passed, tryLater, garbage) falling back to the CRL, CRLs listed / not /
 * refused, an issuer unknown, each URL that failed asked once and each
 * CRL fetched once, rows without a certificate untouched; and
 * rt_crl_check (src/crypto/revinfo.c) directly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "raterm/contents.h"
#include "raterm/csr.h"
#include "raterm/ocsp.h"
#include "raterm/revocation.h"
#include "raterm/signer.h"
#include "raterm/softtoken.h"
#include "raterm/util.h"
#include "raterm/x509.h"
#include "raterm/x509write.h"

#define AIA_URL "http://aia.test/ocsp"
#define CRL_URL "http://crl.test/ca.crl"
#define OTHER_AIA "http://other.test/ocsp"
#define CMH_URL "http://h:1/cmp"
#define CMH_OCSP "http://h:1/ocsp"
#define OPT_URL "http://opt.test/ocsp"

static void
ok(rt_err *e)
{
	if (e != NULL) {
		char m[512];
		rt_err_format(e, m, sizeof(m));
		print_error("%s\n", m);
		rt_err_free(e);
		fail();
	}
}

/* ---- a CA, certificates, CRLs ------------------------------------------- */

typedef struct {
	rt_signer *s;
	uint8_t *der;
	size_t len;
	uint8_t kid[20];
	mbedtls_x509_crt crt;
} ca_t;

static ca_t ca, other, responder, not_responder;
static time_t now;
static uint8_t leaf_spki[200];
static size_t leaf_spki_len;

/* A fresh P-256 key: its SubjectPublicKeyInfo into spki, its signer. */
static void
make_key(uint8_t *spki, size_t cap, size_t *spki_len, rt_signer **s)
{
	mbedtls_pk_context pk;
	mbedtls_pk_init(&pk);
	assert_int_equal(mbedtls_pk_setup(&pk,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	    mbedtls_pk_ec(pk), rt_rng, NULL), 0);
	uint8_t buf[200];
	int n = mbedtls_pk_write_pubkey_der(&pk, buf, sizeof(buf));
	assert_true(n > 0 && (size_t)n <= cap);
	memcpy(spki, buf + sizeof(buf) - n, (size_t)n);
	*spki_len = (size_t)n;
	if (s != NULL)
		ok(rt_signer_key(&pk, "test key", s));
	mbedtls_pk_free(&pk);
}

/* A key and its certificate: a self-signed CA (by NULL), or issued by
 * `by` for an OCSP responder (with id-kp-OCSPSigning when eku). */
static void
make_ca(const char *dn, ca_t *c, const ca_t *by, bool eku)
{
	uint8_t spki[200], name[128], v[32];
	size_t spki_len, name_len, v_len;
	static const uint8_t serial[] = { 0x01 };
	static const char *const ocsp_signing[] = { "OCSPSigning" };
	make_key(spki, sizeof(spki), &spki_len, &c->s);
	ok(rt_dn_encode(dn, name, sizeof(name), &name_len));
	rt_ext x = { "2.5.29.19", true, v, 0 };
	if (by == NULL)
		ok(rt_ext_basic_constraints(true, -1, v, sizeof(v), &v_len));
	else if (eku)
		ok(rt_ext_eku(ocsp_signing, 1, v, sizeof(v), &v_len));
	else
		ok(rt_ext_basic_constraints(false, -1, v, sizeof(v), &v_len));
	if (by != NULL && eku)
		x.oid = "2.5.29.37";
	x.len = v_len;
	rt_cert_tmpl t = { .serial = serial, .serial_len = 1,
	    .issuer = by ? by->crt.subject_raw.p : name,
	    .issuer_len = by ? by->crt.subject_raw.len : name_len,
	    .subject = name, .subject_len = name_len,
	    .not_before = now - 86400, .not_after = now + 86400 * 30,
	    .spki = spki, .spki_len = spki_len, .exts = &x, .nexts = 1 };
	ok(rt_cert_write(&t, by ? by->s : c->s, &c->der, &c->len));
	ok(rt_key_id(spki, spki_len, c->kid));
	mbedtls_x509_crt_init(&c->crt);
	assert_int_equal(mbedtls_x509_crt_parse_der(&c->crt, c->der, c->len),
	    0);
}

static void
free_ca(ca_t *c)
{
	rt_signer_free(c->s);
	free(c->der);
	mbedtls_x509_crt_free(&c->crt);
}

typedef struct {
	uint8_t *der;
	size_t len;
} blob;

/* An end-entity certificate issued by c with the given serial and, when
 * not NULL, an AIA id-ad-ocsp URL and a CRL distribution point. */
static blob
issue(const ca_t *c, const uint8_t *serial, size_t serial_len,
    const char *aia, const char *cdp)
{
	uint8_t name[64], aia_v[128], cdp_v[128];
	size_t name_len, aia_len, cdp_len;
	rt_ext x[2];
	size_t n = 0;
	blob b;
	ok(rt_dn_encode("CN=card holder", name, sizeof(name), &name_len));
	if (aia != NULL) {
		ok(rt_ext_aia(aia, NULL, aia_v, sizeof(aia_v), &aia_len));
		x[n++] = (rt_ext){ "1.3.6.1.5.5.7.1.1", false, aia_v, aia_len };
	}
	if (cdp != NULL) {
		ok(rt_ext_cdp(cdp, cdp_v, sizeof(cdp_v), &cdp_len));
		x[n++] = (rt_ext){ "2.5.29.31", false, cdp_v, cdp_len };
	}
	rt_cert_tmpl t = { .serial = serial, .serial_len = serial_len,
	    .issuer = c->crt.subject_raw.p, .issuer_len = c->crt.subject_raw.len,
	    .subject = name, .subject_len = name_len,
	    .not_before = now - 3600, .not_after = now + 86400,
	    .spki = leaf_spki, .spki_len = leaf_spki_len, .exts = x,
	    .nexts = n };
	ok(rt_cert_write(&t, c->s, &b.der, &b.len));
	return b;
}

/* A CRL naming name_of as its issuer, signed by signer's key. */
static blob
make_crl(const ca_t *name_of, const ca_t *signer, long this_off,
    long next_off, const rt_crl_entry *ents, size_t n)
{
	blob b;
	rt_crl_tmpl t = { .issuer = name_of->crt.subject_raw.p,
	    .issuer_len = name_of->crt.subject_raw.len,
	    .issuer_key_id = signer->kid, .issuer_key_id_len = 20,
	    .this_update = now + this_off, .next_update = now + next_off,
	    .number = 7, .entries = ents, .nentries = n };
	ok(rt_crl_write(&t, signer->s, &b.der, &b.len));
	return b;
}

static const uint8_t s11[] = { 0x11 }, s12[] = { 0x12 }, s13[] = { 0x13 },
    s21[] = { 0x21 }, s31[] = { 0x31 }, s41[] = { 0x41 },
    shi[] = { 0x85, 0x01 };	/* high bit: DER INTEGER 00 85 01 */
static blob ee_aia, ee_aia2, ee_aia3, ee_cdp, ee_bare, ee_hi, ee_orphan;
static rt_castore *issuers;

/* ---- the scripted fetch -------------------------------------------------- */

enum { A_HTTP, A_OCSP, A_RAW };

typedef struct {
	const char *url;
	const char *serial;		/* the request's serial (hex of the
					 * magnitude); NULL: any */
	int kind;
	/* A_OCSP */
	rt_ocsp_status status;
	int reason;
	time_t revoked_at;
	long this_off, next_off;	/* from now; next_off 0: none */
	const ca_t *signer;		/* NULL: the CA */
	bool bad_nonce, no_nonce, other_serial;
	rt_ocsp_rsp_status rsp_status;	/* not SUCCESSFUL: an error answer */
	/* A_RAW */
	const uint8_t *raw;
	size_t raw_len;
} rule;

static rule rules[16];
static size_t nrules;
static char asked[32][256];
static size_t nasked;

static void
script_reset(void)
{
	memset(rules, 0, sizeof(rules));
	nrules = 0;
	nasked = 0;
}

static rule *
add_rule(const char *url, const char *serial, int kind)
{
	assert_true(nrules < sizeof(rules) / sizeof(rules[0]));
	rule *r = &rules[nrules++];
	memset(r, 0, sizeof(*r));
	r->url = url;
	r->serial = serial;
	r->kind = kind;
	r->reason = -1;
	r->this_off = -60;
	r->next_off = 3600;
	return r;
}

/* url answers the bytes of b */
static void
add_raw(const char *url, const blob *b)
{
	rule *r = add_rule(url, NULL, A_RAW);
	r->raw = b->der;
	r->raw_len = b->len;
}

static size_t
times_asked(const char *url)
{
	size_t n = 0;
	for (size_t i = 0; i < nasked; i++)
		if (strcmp(asked[i], url) == 0)
			n++;
	return n;
}

/* url was the only one asked, once */
static void
assert_only_asked(const char *url)
{
	assert_int_equal(nasked, 1);
	assert_string_equal(asked[0], url);
}

static rt_err *
ocsp_answer(const rule *r, const rt_ocsp_req *q, uint8_t **rsp,
    size_t *rsp_len)
{
	if (r->rsp_status != RT_OCSP_SUCCESSFUL)
		return rt_ocsp_error_write(r->rsp_status, rsp, rsp_len);
	const ca_t *sg = r->signer ? r->signer : &ca;
	rt_ocsp_single one = { .id = q->ids[0], .status = r->status,
	    .revoked_at = r->revoked_at, .reason = r->reason,
	    .this_update = now + r->this_off,
	    .next_update = r->next_off ? now + r->next_off : 0 };
	if (r->other_serial)
		one.id.serial[one.id.serial_len - 1] ^= 0x01;
	uint8_t nonce[RT_OCSP_NONCE_MAX];
	memcpy(nonce, q->nonce, q->nonce_len);
	if (r->bad_nonce)
		nonce[0] ^= 0x01;
	rt_ocsp_resp_tmpl t = { .responder_key_id = sg->kid,
	    .produced_at = now, .single = &one, .n = 1,
	    .nonce = r->no_nonce ? NULL : nonce,
	    .nonce_len = r->no_nonce ? 0 : q->nonce_len,
	    .signer_cert = sg->der, .signer_cert_len = sg->len };
	return rt_ocsp_resp_write(&t, sg->s, rsp, rsp_len);
}

static rt_err *
fake_fetch(void *ctx, const char *url, const char *ctype, const uint8_t *body,
    size_t len, const char *accept, long timeout, uint8_t **rsp,
    size_t *rsp_len)
{
	rt_ocsp_req q;
	char serial[48] = "";
	(void)ctx;
	assert_int_equal(timeout, 10);
	assert_true(nasked < sizeof(asked) / sizeof(asked[0]));
	snprintf(asked[nasked++], sizeof(asked[0]), "%s", url);
	if (body != NULL) {
		/* an OCSP request: one CertID, a 16-byte nonce */
		assert_string_equal(ctype, "application/ocsp-request");
		assert_string_equal(accept, "application/ocsp-response");
		ok(rt_ocsp_req_parse(body, len, &q));
		assert_int_equal(q.n, 1);
		assert_int_equal(q.nonce_len, 16);
		rt_hex_encode(q.ids[0].serial, q.ids[0].serial_len, serial,
		    sizeof(serial), 0);
	} else {
		assert_null(ctype);
		assert_string_equal(accept, "application/pkix-crl");
	}
	for (size_t i = 0; i < nrules; i++) {
		const rule *r = &rules[i];
		if (strcmp(r->url, url) != 0 || (r->serial != NULL &&
		    (body == NULL || strcmp(r->serial, serial) != 0)))
			continue;
		switch (r->kind) {
		case A_HTTP:
			return rt_err_new(RT_E_CMP_HTTP, NULL, "%s: HTTP 503",
			    url);
		case A_OCSP:
			assert_non_null(body);
			return ocsp_answer(r, &q, rsp, rsp_len);
		default:
			*rsp = malloc(r->raw_len);
			assert_non_null(*rsp);
			memcpy(*rsp, r->raw, r->raw_len);
			*rsp_len = r->raw_len;
			return NULL;
		}
	}
	return rt_err_new(RT_E_CMP_HTTP, NULL, "%s: connection refused", url);
}

/* ---- the Contents and the options ---------------------------------------- */

static rt_contents ct;

static void
set_rows(const blob *const *certs, size_t n)
{
	memset(&ct, 0, sizeof(ct));
	for (size_t i = 0; i < n; i++) {
		rt_key_row *r = &ct.rows[i];
		r->slot = (uint8_t)(0x9a + i);
		if (certs[i] == NULL)
			continue;
		r->has_cert = true;
		r->der = certs[i]->der;
		r->der_len = certs[i]->len;
		ok(rt_cert_info_parse(r->der, r->der_len, &r->cert));
	}
	ct.nrows = n;
}

static rt_rev_opts
opts(void)
{
	rt_rev_opts o = { .issuers = issuers, .fetch = fake_fetch,
	    .now = now };
	return o;
}

static void
assert_contains(const char *s, const char *part)
{
	if (strstr(s, part) == NULL) {
		print_error("\"%s\" does not contain \"%s\"\n", s, part);
		fail();
	}
}

/* ---- fixtures ------------------------------------------------------------ */

static int
setup(void **state)
{
	(void)state;
	now = time(NULL);
	make_ca("CN=Rev Test CA,O=raterm", &ca, NULL, false);
	make_ca("CN=Other CA,O=raterm", &other, NULL, false);
	make_ca("CN=Rev Test OCSP,O=raterm", &responder, &ca, true);
	make_ca("CN=Rev Test no OCSP,O=raterm", &not_responder, &ca, false);
	make_key(leaf_spki, sizeof(leaf_spki), &leaf_spki_len, NULL);
	ee_aia = issue(&ca, s11, 1, AIA_URL, CRL_URL);
	ee_aia2 = issue(&ca, s12, 1, AIA_URL, CRL_URL);
	ee_aia3 = issue(&ca, s13, 1, AIA_URL, CRL_URL);
	ee_cdp = issue(&ca, s21, 1, NULL, CRL_URL);
	ee_bare = issue(&ca, s31, 1, NULL, NULL);
	ee_hi = issue(&ca, shi, sizeof(shi), NULL, CRL_URL);
	ee_orphan = issue(&other, s41, 1, OTHER_AIA, CRL_URL);
	ok(rt_castore_add(&issuers, ca.der, ca.len));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	blob *all[] = { &ee_aia, &ee_aia2, &ee_aia3, &ee_cdp, &ee_bare, &ee_hi,
	    &ee_orphan };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		free(all[i]->der);
	rt_castore_free(issuers);
	free_ca(&ca);
	free_ca(&other);
	free_ca(&responder);
	free_ca(&not_responder);
	return 0;
}

/* ---- OCSP ------------------------------------------------------------------ */

static void
test_ocsp_states(void **state)
{
	(void)state;
	script_reset();
	add_rule(AIA_URL, "11", A_OCSP)->status = RT_OCSP_GOOD;
	rule *r = add_rule(AIA_URL, "12", A_OCSP);
	r->status = RT_OCSP_REVOKED;
	r->reason = 1;
	r->revoked_at = now - 7200;
	add_rule(AIA_URL, "13", A_OCSP)->status = RT_OCSP_UNKNOWN;
	const blob *rows[] = { &ee_aia, &ee_aia2, &ee_aia3 };
	set_rows(rows, 3);
	assert_string_equal(ct.rows[0].cert.serial, "11");
	rt_rev_opts o = opts();
	rt_revocation_check(&ct, &o);

	assert_int_equal(ct.rows[0].rev.state, RT_REV_GOOD);
	assert_int_equal(ct.rows[1].rev.state, RT_REV_REVOKED);
	assert_int_equal(ct.rows[1].rev.at, now - 7200);
	assert_int_equal(ct.rows[1].rev.reason, 1);
	assert_int_equal(ct.rows[2].rev.state, RT_REV_UNKNOWN);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(ct.rows[i].rev.source, "ocsp");
		assert_string_equal(ct.rows[i].rev.why, "");
		assert_int_equal(ct.rows[i].rev.checked, now);
		if (i != 1) {
			assert_int_equal(ct.rows[i].rev.reason, -1);
			assert_int_equal(ct.rows[i].rev.at, 0);
		}
	}
	/* OCSP answered: no CRL asked */
	assert_int_equal(nasked, 3);
	assert_int_equal(times_asked(AIA_URL), 3);
	assert_string_equal(rt_rev_state_name(RT_REV_GOOD), "good");
	assert_string_equal(rt_rev_state_name(RT_REV_REVOKED), "revoked");
	assert_string_equal(rt_rev_state_name(RT_REV_UNKNOWN), "unknown");
	assert_string_equal(rt_rev_state_name(RT_REV_NOT_CHECKED),
	    "not checked");
}

/* A serial whose first byte has the high bit (DER 00 85 01): the CertID
 * carries its magnitude, the responder's answer names it. */
static void
test_ocsp_serial_leading_zero(void **state)
{
	(void)state;
	script_reset();
	rule *r = add_rule(CMH_OCSP, "8501", A_OCSP);
	r->status = RT_OCSP_REVOKED;
	r->reason = 4;
	r->revoked_at = now - 60;
	const blob *rows[] = { &ee_hi };
	set_rows(rows, 1);
	assert_string_equal(ct.rows[0].cert.serial, "008501");
	rt_rev_opts o = opts();
	o.cmhost_url = CMH_URL;
	rt_revocation_check(&ct, &o);
	assert_int_equal(ct.rows[0].rev.state, RT_REV_REVOKED);
	assert_int_equal(ct.rows[0].rev.reason, 4);
	assert_string_equal(ct.rows[0].rev.source, "ocsp");
}

static void
test_url_choice(void **state)
{
	(void)state;
	blob crl = make_crl(&ca, &ca, -60, 3600, NULL, 0);
	const blob *one[] = { &ee_aia };
	rt_rev_opts o;

	/* revocation.ocsp_url first, even with an AIA */
	script_reset();
	add_rule(OPT_URL, NULL, A_OCSP);
	set_rows(one, 1);
	o = opts();
	o.ocsp_url = OPT_URL;
	o.cmhost_url = CMH_URL;
	rt_revocation_check(&ct, &o);
	assert_int_equal(ct.rows[0].rev.state, RT_REV_GOOD);
	assert_only_asked(OPT_URL);

	/* then the AIA; the CM host's /ocsp for a certificate without */
	script_reset();
	add_rule(AIA_URL, NULL, A_OCSP);
	add_rule(CMH_OCSP, NULL, A_OCSP)->status = RT_OCSP_UNKNOWN;
	const blob *two[] = { &ee_aia, &ee_cdp };
	set_rows(two, 2);
	o = opts();
	o.ocsp_url = "";
	o.cmhost_url = CMH_URL;
	rt_revocation_check(&ct, &o);
	assert_int_equal(nasked, 2);
	assert_string_equal(asked[0], AIA_URL);
	assert_string_equal(asked[1], CMH_OCSP);
	assert_int_equal(ct.rows[0].rev.state, RT_REV_GOOD);
	assert_int_equal(ct.rows[1].rev.state, RT_REV_UNKNOWN);

	/* "none": the CRL only */
	script_reset();
	add_raw(CRL_URL, &crl);
	set_rows(one, 1);
	o = opts();
	o.ocsp_url = "none";
	o.cmhost_url = CMH_URL;
	rt_revocation_check(&ct, &o);
	assert_only_asked(CRL_URL);
	assert_int_equal(ct.rows[0].rev.state, RT_REV_GOOD);
	assert_string_equal(ct.rows[0].rev.source, "crl");
	assert_contains(ct.rows[0].rev.why, "OCSP off");

	/* no AIA and no CM host: the CRL, why saying so */
	script_reset();
	add_raw(CRL_URL, &crl);
	const blob *cdp[] = { &ee_cdp };
	set_rows(cdp, 1);
	o = opts();
	rt_revocation_check(&ct, &o);
	assert_only_asked(CRL_URL);
	assert_int_equal(ct.rows[0].rev.state, RT_REV_GOOD);
	assert_contains(ct.rows[0].rev.why, "OCSP: ");
	assert_contains(ct.rows[0].rev.why, "no CM host");

	/* neither OCSP nor a CRL distribution point */
	script_reset();
	const blob *bare[] = { &ee_bare };
	set_rows(bare, 1);
	o = opts();
	rt_revocation_check(&ct, &o);
	assert_int_equal(nasked, 0);
	assert_int_equal(ct.rows[0].rev.state, RT_REV_NOT_CHECKED);
	assert_contains(ct.rows[0].rev.why, "OCSP: ");
	assert_contains(ct.rows[0].rev.why, "CRL: ");
	free(crl.der);
}

static void
test_cmhost_ocsp_url(void **state)
{
	(void)state;
	char out[64];
	rt_err *e;
	ok(rt_revocation_cmhost_ocsp("http://h:1/cmp", out, sizeof(out)));
	assert_string_equal(out, "http://h:1/ocsp");
	ok(rt_revocation_cmhost_ocsp("https://h/x/y?z", out, sizeof(out)));
	assert_string_equal(out, "https://h/ocsp");
	ok(rt_revocation_cmhost_ocsp("http://h", out, sizeof(out)));
	assert_string_equal(out, "http://h/ocsp");
	ok(rt_revocation_cmhost_ocsp("https://h?q", out, sizeof(out)));
	assert_string_equal(out, "https://h/ocsp");
	static const char *const bad[] = { "ftp://h/cmp", "h:1/cmp", "",
	    "HTTP:/h", "http://", "https:///cmp" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = rt_revocation_cmhost_ocsp(bad[i], out, sizeof(out));
		if (e == NULL) {
			print_error("\"%s\" accepted: %s\n", bad[i], out);
			fail();
		}
		assert_int_equal(rt_err_kind_of(e), RT_E_ARG);
		rt_err_free(e);
	}
	/* exactly fits: "http://h:1" + "/ocsp" + NUL = 16 */
	ok(rt_revocation_cmhost_ocsp("http://h:1/cmp", out, 16));
	assert_string_equal(out, "http://h:1/ocsp");
	e = rt_revocation_cmhost_ocsp("http://h:1/cmp", out, 15);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_TOO_BIG);
	rt_err_free(e);
}

/* Each refused OCSP answer falls back to the CRL: the state is the CRL's,
 * why keeps what OCSP said. */
static void
test_ocsp_refused(void **state)
{
	(void)state;
	rt_crl_entry ent = { s11, 1, now - 5000, 1 };
	blob crl = make_crl(&ca, &ca, -60, 3600, &ent, 1);
	static const uint8_t garbage[] = { 0x30, 0x03, 'a', 'b', 'c' };
	static const struct {
		const char *name, *why;
	} cases[] = {
		{ "another key", "signature does not verify" },
		{ "nonce", "nonce is not the request's" },
		{ "certid", "does not name the certificate" },
		{ "future", "not valid before" },
		{ "expired", "expired at" },
		{ "tryLater", "tryLater" },
		{ "garbage", "malformed OCSPResponse" },
		{ "internalError", "internalError" },
		{ "responder without OCSPSigning", "OCSP response signature" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		script_reset();
		rule *r = add_rule(AIA_URL, NULL, A_OCSP);
		switch (i) {
		case 0: r->signer = &other; break;
		case 1: r->bad_nonce = true; break;
		case 2: r->other_serial = true; break;
		case 3: r->this_off = 301 + 60; break;
		case 4: r->this_off = -7200; r->next_off = -1; break;
		case 5: r->rsp_status = RT_OCSP_TRY_LATER; break;
		case 6: r->kind = A_RAW; r->raw = garbage;
			r->raw_len = sizeof(garbage); break;
		case 7: r->rsp_status = RT_OCSP_INTERNAL; break;
		case 8: r->signer = &not_responder; break;
		}
		add_raw(CRL_URL, &crl);
		const blob *rows[] = { &ee_aia, &ee_aia2 };
		set_rows(rows, 2);
		rt_rev_opts o = opts();
		rt_revocation_check(&ct, &o);
		const rt_rev_status *a = &ct.rows[0].rev, *b = &ct.rows[1].rev;
		print_message("%s: %s\n", cases[i].name, a->why);
		assert_int_equal(a->state, RT_REV_REVOKED);
		assert_int_equal(a->reason, 1);
		assert_int_equal(a->at, now - 5000);
		assert_string_equal(a->source, "crl");
		assert_int_equal(b->state, RT_REV_GOOD);
		assert_string_equal(b->source, "crl");
		assert_int_equal(b->reason, -1);
		assert_true(strncmp(a->why, "OCSP: ", 6) == 0);
		assert_true(strncmp(b->why, "OCSP: ", 6) == 0);
		assert_contains(a->why, cases[i].why);
		/* an answer was had: the responder asked for each row, the
		 * CRL fetched once */
		assert_int_equal(times_asked(AIA_URL), 2);
		assert_int_equal(times_asked(CRL_URL), 1);
	}

	/* accepted: thisUpdate within the 5 minutes of skew, no nonce
	 * echoed (RFC 8954), no nextUpdate, a responder the CA delegated */
	for (int i = 0; i < 4; i++) {
		script_reset();
		rule *r = add_rule(AIA_URL, NULL, A_OCSP);
		r->status = RT_OCSP_REVOKED;
		if (i == 0)
			r->this_off = 240;
		else if (i == 1)
			r->no_nonce = true;
		else if (i == 2)
			r->next_off = 0;
		else
			r->signer = &responder;
		const blob *rows[] = { &ee_aia };
		set_rows(rows, 1);
		rt_rev_opts o = opts();
		rt_revocation_check(&ct, &o);
		assert_int_equal(ct.rows[0].rev.state, RT_REV_REVOKED);
		assert_string_equal(ct.rows[0].rev.source, "ocsp");
		assert_int_equal(times_asked(CRL_URL), 0);
	}
	free(crl.der);
}

/* ---- CRL ------------------------------------------------------------------ */

static void
test_crl(void **state)
{
	(void)state;
	rt_crl_entry ents[] = {
		{ s11, 1, now - 7200, 1 },		/* keyCompromise */
		{ shi, sizeof(shi), now - 300, 5 },	/* cessationOfOperation */
	};
	blob good = make_crl(&ca, &ca, -60, 3600, ents, 2);
	blob crls[] = {
		make_crl(&other, &other, -60, 3600, ents, 2),
		make_crl(&ca, &other, -60, 3600, ents, 2),
		make_crl(&ca, &ca, -7200, -3600, ents, 2),
		make_crl(&ca, &ca, 3600, 7200, ents, 2),
		{ (uint8_t *)strdup("not a CRL"), 9 },
	};
	static const char *const whys[] = {
		"issued by another CA", "does not verify", "expired",
		"not valid before", "does not parse",
	};
	const blob *rows[] = { &ee_aia, &ee_aia2, &ee_hi };
	rt_rev_opts o;

	/* listed (time, reason) and not listed; OCSP failing */
	script_reset();
	add_rule(AIA_URL, NULL, A_HTTP);
	add_raw(CRL_URL, &good);
	set_rows(rows, 3);
	o = opts();
	rt_revocation_check(&ct, &o);
	assert_int_equal(ct.rows[0].rev.state, RT_REV_REVOKED);
	assert_int_equal(ct.rows[0].rev.reason, 1);
	assert_int_equal(ct.rows[0].rev.at, now - 7200);
	assert_int_equal(ct.rows[1].rev.state, RT_REV_GOOD);
	assert_int_equal(ct.rows[1].rev.reason, -1);
	assert_int_equal(ct.rows[1].rev.at, 0);
	assert_int_equal(ct.rows[2].rev.state, RT_REV_REVOKED);
	assert_int_equal(ct.rows[2].rev.reason, 5);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(ct.rows[i].rev.source, "crl");
		assert_contains(ct.rows[i].rev.why, "OCSP: ");
	}
	assert_contains(ct.rows[0].rev.why, "HTTP 503");
	assert_contains(ct.rows[1].rev.why, "HTTP 503");
	/* the responder that failed asked once, the CRL fetched once */
	assert_int_equal(times_asked(AIA_URL), 1);
	assert_int_equal(times_asked(CRL_URL), 1);
	assert_int_equal(nasked, 2);

	/* CRLs refused: not checked, why naming OCSP and the CRL */
	for (size_t i = 0; i < sizeof(crls) / sizeof(crls[0]); i++) {
		script_reset();
		add_rule(AIA_URL, NULL, A_HTTP);
		add_raw(CRL_URL, &crls[i]);
		set_rows(rows, 3);
		o = opts();
		rt_revocation_check(&ct, &o);
		print_message("%s\n", ct.rows[0].rev.why);
		for (size_t j = 0; j < 3; j++) {
			const rt_rev_status *s = &ct.rows[j].rev;
			assert_int_equal(s->state, RT_REV_NOT_CHECKED);
			assert_string_equal(s->source, "");
			assert_int_equal(s->reason, -1);
			assert_true(strncmp(s->why, "OCSP: ", 6) == 0);
			assert_contains(s->why, "; CRL: ");
			assert_contains(s->why, CRL_URL);
			assert_contains(s->why, whys[i]);
		}
		assert_int_equal(times_asked(CRL_URL), 1);
	}

	/* revocation.crl: false */
	script_reset();
	add_rule(AIA_URL, NULL, A_HTTP);
	add_raw(CRL_URL, &good);
	set_rows(rows, 1);
	o = opts();
	o.no_crl = true;
	rt_revocation_check(&ct, &o);
	assert_int_equal(ct.rows[0].rev.state, RT_REV_NOT_CHECKED);
	assert_contains(ct.rows[0].rev.why, "OCSP: ");
	assert_contains(ct.rows[0].rev.why, "CRL off");
	assert_int_equal(times_asked(CRL_URL), 0);

	/* the CRL unreachable: asked once for the three rows */
	script_reset();
	add_rule(AIA_URL, NULL, A_HTTP);
	add_rule(CRL_URL, NULL, A_HTTP);
	set_rows(rows, 3);
	o = opts();
	rt_revocation_check(&ct, &o);
	for (size_t j = 0; j < 3; j++) {
		assert_int_equal(ct.rows[j].rev.state, RT_REV_NOT_CHECKED);
		assert_contains(ct.rows[j].rev.why, "CRL: " CRL_URL ": HTTP 503");
	}
	assert_int_equal(times_asked(AIA_URL), 1);
	assert_int_equal(times_asked(CRL_URL), 1);

	free(good.der);
	for (size_t i = 0; i < sizeof(crls) / sizeof(crls[0]); i++)
		free(crls[i].der);
}

/* More certificates than one check keeps CRLs for, several URLs: each
 * failed URL is asked once, the rows all answered. */
static void
test_many_urls(void **state)
{
	(void)state;
	char urls[6][64];
	blob certs[6], crl = make_crl(&ca, &ca, -60, 3600, NULL, 0);
	const blob *rows[6];
	script_reset();
	for (int i = 0; i < 6; i++) {
		uint8_t serial[] = { (uint8_t)(0x50 + i) };
		snprintf(urls[i], sizeof(urls[i]), "http://crl%d.test/ca.crl", i);
		certs[i] = issue(&ca, serial, 1, NULL, urls[i]);
		rows[i] = &certs[i];
		add_raw(urls[i], &crl);
	}
	add_rule(CMH_OCSP, NULL, A_HTTP);
	set_rows(rows, 6);
	rt_rev_opts o = opts();
	o.cmhost_url = CMH_URL;
	rt_revocation_check(&ct, &o);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(ct.rows[i].rev.state, RT_REV_GOOD);
		assert_string_equal(ct.rows[i].rev.source, "crl");
		assert_int_equal(times_asked(urls[i]), 1);
		free(certs[i].der);
	}
	assert_int_equal(times_asked(CMH_OCSP), 1);
	free(crl.der);
}

static void
test_issuer_unknown(void **state)
{
	(void)state;
	script_reset();
	add_rule(AIA_URL, NULL, A_OCSP);
	add_rule(OTHER_AIA, NULL, A_OCSP);
	const blob *rows[] = { &ee_orphan, &ee_aia };
	set_rows(rows, 2);
	rt_rev_opts o = opts();
	o.issuers_why = "the CM host's CA certificates: HTTP 500";
	rt_revocation_check(&ct, &o);
	const rt_rev_status *s = &ct.rows[0].rev;
	assert_int_equal(s->state, RT_REV_NOT_CHECKED);
	assert_contains(s->why, "issuer unknown");
	assert_contains(s->why, "Other CA");
	assert_contains(s->why, "HTTP 500");
	assert_int_equal(s->checked, now);
	assert_int_equal(ct.rows[1].rev.state, RT_REV_GOOD);
	assert_int_equal(times_asked(OTHER_AIA), 0);
	assert_int_equal(nasked, 1);

	/* no issuers at all */
	script_reset();
	o = opts();
	o.issuers = NULL;
	set_rows(rows, 2);
	rt_revocation_check(&ct, &o);
	assert_int_equal(nasked, 0);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(ct.rows[i].rev.state, RT_REV_NOT_CHECKED);
		assert_contains(ct.rows[i].rev.why, "issuer unknown");
	}
}

static void
test_rows_untouched(void **state)
{
	(void)state;
	script_reset();
	add_rule(AIA_URL, NULL, A_OCSP);
	const blob *rows[] = { NULL, &ee_aia, NULL };
	set_rows(rows, 3);
	snprintf(ct.rows[0].rev.why, sizeof(ct.rows[0].rev.why), "mark");
	ct.rows[2].rev.reason = 9;
	rt_rev_opts o = opts();
	rt_revocation_check(&ct, &o);
	assert_int_equal(ct.rows[1].rev.state, RT_REV_GOOD);
	assert_string_equal(ct.rows[0].rev.why, "mark");
	assert_int_equal(ct.rows[0].rev.checked, 0);
	assert_int_equal(ct.rows[2].rev.reason, 9);
	assert_int_equal(nasked, 1);

	rt_revocation_not_checked(&ct, "offline: no CM host (cmhost.url)");
	const rt_rev_status *s = &ct.rows[1].rev;
	assert_int_equal(s->state, RT_REV_NOT_CHECKED);
	assert_string_equal(s->why, "offline: no CM host (cmhost.url)");
	assert_int_equal(s->reason, -1);
	assert_string_equal(s->source, "");
	assert_int_equal(s->at, 0);
	assert_string_equal(ct.rows[0].rev.why, "mark");
	assert_int_equal(ct.rows[2].rev.reason, 9);
}

/* ---- rt_crl_check ----------------------------------------------------------- */

static void
test_crl_check(void **state)
{
	(void)state;
	static const uint8_t s42[] = { 0x42 }, z42[] = { 0x00, 0x00, 0x42 },
	    zhi[] = { 0x00, 0x85, 0x01 }, s43[] = { 0x43 },
	    s4200[] = { 0x42, 0x00 };
	rt_crl_entry ents[] = {
		{ shi, sizeof(shi), now - 100, -1 },	/* no reasonCode */
		{ s42, 1, now - 200, 1 },
	};
	blob crl = make_crl(&ca, &ca, -60, 3600, ents, 2);
	rt_crl_status cs;

	ok(rt_crl_check(crl.der, crl.len, &ca.crt, zhi, sizeof(zhi), now, &cs));
	assert_true(cs.listed);
	assert_int_equal(cs.reason, -1);
	assert_int_equal(cs.revoked_at, now - 100);
	assert_int_equal(cs.this_update, now - 60);
	assert_int_equal(cs.next_update, now + 3600);
	ok(rt_crl_check(crl.der, crl.len, &ca.crt, shi, sizeof(shi), now, &cs));
	assert_true(cs.listed);
	ok(rt_crl_check(crl.der, crl.len, &ca.crt, z42, sizeof(z42), now, &cs));
	assert_true(cs.listed);
	assert_int_equal(cs.reason, 1);
	assert_int_equal(cs.revoked_at, now - 200);
	ok(rt_crl_check(crl.der, crl.len, &ca.crt, s43, 1, now, &cs));
	assert_false(cs.listed);
	assert_int_equal(cs.reason, -1);
	ok(rt_crl_check(crl.der, crl.len, &ca.crt, s4200, 2, now, &cs));
	assert_false(cs.listed);

	/* the dates: within the skew, then beyond; nextUpdate passed */
	ok(rt_crl_check(crl.der, crl.len, &ca.crt, s43, 1, now - 60 - 299,
	    &cs));
	rt_err *e = rt_crl_check(crl.der, crl.len, &ca.crt, s43, 1,
	    now - 60 - 301, &cs);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_CERT);
	rt_err_free(e);
	e = rt_crl_check(crl.der, crl.len, &ca.crt, s43, 1, now + 3601, &cs);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_CERT);
	assert_non_null(strstr(rt_err_msg(e), "expired"));
	rt_err_free(e);
	/* another issuer */
	e = rt_crl_check(crl.der, crl.len, &other.crt, s43, 1, now, &cs);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_CRYPTO);
	rt_err_free(e);
	/* a flipped bit in the signed part */
	uint8_t *bad = malloc(crl.len);
	memcpy(bad, crl.der, crl.len);
	bad[crl.len / 3] ^= 0x01;
	e = rt_crl_check(bad, crl.len, &ca.crt, s43, 1, now, &cs);
	assert_non_null(e);
	rt_err_free(e);
	free(bad);
	/* truncations */
	for (size_t cut = 1; cut < crl.len; cut += 7) {
		e = rt_crl_check(crl.der, crl.len - cut, &ca.crt, s43, 1, now,
		    &cs);
		assert_non_null(e);
		rt_err_free(e);
	}
	free(crl.der);
}

static void
test_cert_urls(void **state)
{
	(void)state;
	char url[128];
	rt_err *e;
	ok(rt_cert_ocsp_url(ee_aia.der, ee_aia.len, url, sizeof(url)));
	assert_string_equal(url, AIA_URL);
	ok(rt_cert_crl_url(ee_aia.der, ee_aia.len, url, sizeof(url)));
	assert_string_equal(url, CRL_URL);
	e = rt_cert_ocsp_url(ee_cdp.der, ee_cdp.len, url, sizeof(url));
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_NOT_FOUND);
	assert_string_equal(url, "");
	rt_err_free(e);
	e = rt_cert_crl_url(ee_bare.der, ee_bare.len, url, sizeof(url));
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_NOT_FOUND);
	rt_err_free(e);
	e = rt_cert_crl_url(ee_aia.der, ee_aia.len, url, strlen(CRL_URL));
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_TOO_BIG);
	rt_err_free(e);
	ok(rt_cert_crl_url(ee_aia.der, ee_aia.len, url, strlen(CRL_URL) + 1));
	assert_string_equal(url, CRL_URL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ocsp_states),
		cmocka_unit_test(test_ocsp_serial_leading_zero),
		cmocka_unit_test(test_url_choice),
		cmocka_unit_test(test_cmhost_ocsp_url),
		cmocka_unit_test(test_ocsp_refused),
		cmocka_unit_test(test_crl),
		cmocka_unit_test(test_many_urls),
		cmocka_unit_test(test_issuer_unknown),
		cmocka_unit_test(test_rows_untouched),
		cmocka_unit_test(test_crl_check),
		cmocka_unit_test(test_cert_urls),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
