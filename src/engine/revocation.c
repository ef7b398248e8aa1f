/* revocation.c - whether the certificates of a Contents are revoked: OCSP
 * first, the CRL when OCSP gives no answer; see revocation.h */
#include "raterm/revocation.h"
#include "raterm/ocsp.h"
#include "raterm/signer.h"
#include "raterm/util.h"
#include "station_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#define SKEW 300		/* seconds of clock skew on thisUpdate */
#define MAX_FAILED 8		/* URLs that failed, not asked again */
#define MAX_CRLS 4		/* CRLs fetched in one check */

const char *
rt_rev_state_name(rt_rev_state s)
{
	switch (s) {
	case RT_REV_GOOD: return "good";
	case RT_REV_REVOKED: return "revoked";
	case RT_REV_UNKNOWN: return "unknown";
	default: return "not checked";
	}
}

/* What one check remembers: the URLs that failed (with why) and the CRLs
 * fetched. */
typedef struct {
	const rt_rev_opts *o;
	time_t now;
	struct { char url[RT_PATH_MAX]; char why[200]; } failed[MAX_FAILED];
	size_t nfailed;
	struct { char url[RT_PATH_MAX]; uint8_t *der; size_t len; }
	    crl[MAX_CRLS];
	size_t ncrl;
} check_ctx;

static const char *
failed_before(const check_ctx *x, const char *url)
{
	for (size_t i = 0; i < x->nfailed; i++)
		if (strcmp(x->failed[i].url, url) == 0)
			return x->failed[i].why;
	return NULL;
}

static void
remember_failed(check_ctx *x, const char *url, const rt_err *e)
{
	if (x->nfailed == MAX_FAILED)
		return;
	snprintf(x->failed[x->nfailed].url, sizeof(x->failed[0].url), "%s", url);
	rt_err_chain(e, x->failed[x->nfailed].why, sizeof(x->failed[0].why));
	x->nfailed++;
}

/* One exchange through o->fetch, a URL that failed once not asked again.
 * Errors: those of fetch (the URL's earlier one repeated). */
static rt_err *
fetch(check_ctx *x, const char *url, const char *ctype, const uint8_t *body,
    size_t len, const char *accept, uint8_t **rsp, size_t *rsp_len)
{
	const char *why = failed_before(x, url);
	if (why != NULL)
		return rt_err_new(RT_E_UNAVAILABLE, NULL, "%s", why);
	rt_err *e = x->o->fetch(x->o->fetch_ctx, url, ctype, body, len, accept,
	    x->o->timeout > 0 ? x->o->timeout : 10, rsp, rsp_len);
	if (e != NULL && (rt_err_kind_of(e) == RT_E_CMP_HTTP ||
	    rt_err_kind_of(e) == RT_E_UNAVAILABLE))
		remember_failed(x, url, e);
	return e;
}

rt_err *
rt_revocation_cmhost_ocsp(const char *cmhost_url, char *out, size_t cap)
{
	const char *p;
	if (strncmp(cmhost_url, "http://", 7) == 0)
		p = cmhost_url + 7;
	else if (strncmp(cmhost_url, "https://", 8) == 0)
		p = cmhost_url + 8;
	else
		return rt_err_new(RT_E_ARG, NULL, "the CM host's URL \"%s\" is not "
		    "http:// or https://", cmhost_url);
	size_t host = strcspn(p, "/?#");
	if (host == 0)
		return rt_err_new(RT_E_ARG, NULL, "the CM host's URL \"%s\" names "
		    "no host", cmhost_url);
	size_t origin = (size_t)(p - cmhost_url) + host;
	if (origin + sizeof("/ocsp") > cap)
		return rt_err_new(RT_E_TOO_BIG, NULL, "the CM host's URL is too "
		    "long");
	snprintf(out, cap, "%.*s/ocsp", (int)origin, cmhost_url);
	return NULL;
}

/* The OCSP URL to ask for a certificate; "" none (why says why). */
static void
ocsp_url_of(const check_ctx *x, const rt_key_row *r, char *url, size_t cap,
    char *why, size_t wcap)
{
	const rt_rev_opts *o = x->o;
	url[0] = '\0';
	if (o->ocsp_url != NULL && strcmp(o->ocsp_url, "none") == 0) {
		snprintf(why, wcap, "OCSP off (revocation.ocsp_url: none)");
		return;
	}
	if (o->ocsp_url != NULL && o->ocsp_url[0]) {
		snprintf(url, cap, "%s", o->ocsp_url);
		return;
	}
	rt_err *e = rt_cert_ocsp_url(r->der, r->der_len, url, cap);
	if (e == NULL)
		return;
	if (o->cmhost_url != NULL && o->cmhost_url[0]) {
		rt_err *e2 = rt_revocation_cmhost_ocsp(o->cmhost_url, url, cap);
		if (e2 == NULL) {
			rt_err_free(e);
			return;
		}
		rt_err_free(e2);
	}
	char m[160];
	rt_err_chain(e, m, sizeof(m));
	snprintf(why, wcap, "OCSP: %s, and no CM host", m);
	rt_err_free(e);
}

/* Asks url about the certificate of serial issued by issuer. */
static rt_err *
ask_ocsp(check_ctx *x, const char *url, const mbedtls_x509_crt *issuer, const uint8_t *serial, size_t serial_len,
    rt_rev_status *st)
{
	rt_ocsp_req req;
	uint8_t *der = NULL, *rsp = NULL;
	size_t len = 0, rsp_len = 0;
	rt_ocsp_resp *res = NULL;
	rt_err *e;
	memset(&req, 0, sizeof(req));
	req.n = 1;
	req.nonce_len = 16;
	if ((e = rt_ocsp_certid_of(issuer->raw.p, issuer->raw.len, serial,
	    serial_len, RT_HASH_SHA1, &req.ids[0])) != NULL ||
	    (e = rt_random(req.nonce, req.nonce_len)) != NULL ||
	    (e = rt_ocsp_req_encode(&req, &der, &len)) != NULL)
		goto out;
	if ((e = fetch(x, url, "application/ocsp-request", der, len,
	    "application/ocsp-response", &rsp, &rsp_len)) != NULL)
		goto out;
	if ((res = calloc(1, sizeof(*res))) == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "OCSP response");
		goto out;
	}
	if ((e = rt_ocsp_resp_parse(rsp, rsp_len, issuer->raw.p,
	    issuer->raw.len, res)) != NULL) {
		e = rt_err_wrap(e, "%s", url);
		goto out;
	}
	if (res->status != RT_OCSP_SUCCESSFUL) {
		e = rt_err_new(RT_E_UNAVAILABLE, NULL, "%s: the responder answered "
		    "%s", url, res->status == RT_OCSP_MALFORMED ? "malformedRequest" :
		    res->status == RT_OCSP_INTERNAL ? "internalError" :
		    res->status == RT_OCSP_TRY_LATER ? "tryLater" :
		    res->status == RT_OCSP_SIG_REQUIRED ? "sigRequired" :
		    res->status == RT_OCSP_UNAUTHORIZED ? "unauthorized" :
		    "an unknown status");
		goto out;
	}
	/* a responder may leave the nonce out (RFC 8954); one it echoes
	 * must be ours, else the answer may be a replay */
	if (res->nonce_len != 0 && (res->nonce_len != req.nonce_len ||
	    memcmp(res->nonce, req.nonce, req.nonce_len) != 0)) {
		e = rt_err_new(RT_E_CRYPTO, NULL, "%s: the answer's nonce is not "
		    "the request's", url);
		goto out;
	}
	const rt_ocsp_single *one = NULL;
	for (size_t i = 0; i < res->n && one == NULL; i++)
		if (rt_ocsp_certid_eq(&res->single[i].id, &req.ids[0]))
			one = &res->single[i];
	if (one == NULL) {
		e = rt_err_new(RT_E_FORMAT, NULL, "%s: the answer does not name "
		    "the certificate asked about", url);
		goto out;
	}
	char t[24];
	if (one->this_update > x->now + SKEW) {
		rt_time_iso(one->this_update, -1, t, sizeof(t));
		e = rt_err_new(RT_E_CERT, NULL, "%s: the answer is not valid "
		    "before %s", url, t);
		goto out;
	}
	if (one->next_update != 0 && one->next_update < x->now) {
		rt_time_iso(one->next_update, -1, t, sizeof(t));
		e = rt_err_new(RT_E_CERT, NULL, "%s: the answer expired at %s",
		    url, t);
		goto out;
	}
	st->state = one->status == RT_OCSP_GOOD ? RT_REV_GOOD :
	    one->status == RT_OCSP_REVOKED ? RT_REV_REVOKED : RT_REV_UNKNOWN;
	st->at = one->status == RT_OCSP_REVOKED ? one->revoked_at : 0;
	st->reason = one->status == RT_OCSP_REVOKED ? one->reason : -1;
	snprintf(st->source, sizeof(st->source), "ocsp");
out:
	free(der);
	free(rsp);
	free(res);
	return e;
}

/* The CRL at url, fetched once per check: kept by x, or *mine (the cache
 * full) and the caller frees it. */
static rt_err *
get_crl(check_ctx *x, const char *url, const uint8_t **der, size_t *len,
    bool *mine)
{
	*mine = false;
	for (size_t i = 0; i < x->ncrl; i++)
		if (strcmp(x->crl[i].url, url) == 0) {
			*der = x->crl[i].der;
			*len = x->crl[i].len;
			return NULL;
		}
	uint8_t *b = NULL;
	size_t bl = 0;
	rt_err *e = fetch(x, url, NULL, NULL, 0, "application/pkix-crl", &b,
	    &bl);
	if (e != NULL)
		return e;
	*der = b;
	*len = bl;
	if (x->ncrl == MAX_CRLS) {
		*mine = true;
		return NULL;
	}
	snprintf(x->crl[x->ncrl].url, sizeof(x->crl[0].url), "%s", url);
	x->crl[x->ncrl].der = b;
	x->crl[x->ncrl].len = bl;
	x->ncrl++;
	return NULL;
}

static rt_err *
ask_crl(check_ctx *x, const rt_key_row *r, const mbedtls_x509_crt *issuer,
    const uint8_t *serial, size_t serial_len, rt_rev_status *st)
{
	char url[RT_PATH_MAX];
	const uint8_t *der;
	size_t len;
	rt_crl_status cs;
	rt_err *e;
	if ((e = rt_cert_crl_url(r->der, r->der_len, url, sizeof(url))) != NULL)
		return e;
	bool mine;
	if ((e = get_crl(x, url, &der, &len, &mine)) != NULL)
		return e;
	e = rt_crl_check(der, len, issuer, serial, serial_len, x->now, &cs);
	if (mine)
		free((void *)(uintptr_t)der);
	if (e != NULL)
		return rt_err_wrap(e, "%s", url);
	st->state = cs.listed ? RT_REV_REVOKED : RT_REV_GOOD;
	st->at = cs.listed ? cs.revoked_at : 0;
	st->reason = cs.listed ? cs.reason : -1;
	snprintf(st->source, sizeof(st->source), "crl");
	return NULL;
}

/* A row's why, cut to its size (what OCSP said and what the CRL said
 * may together be longer: the end is dropped). */
static void RT_PRINTF(2, 3)
set_why(rt_rev_status *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->why, sizeof(st->why), fmt, ap);
	va_end(ap);
}

static void
check_row(check_ctx *x, rt_key_row *r)
{
	const rt_rev_opts *o = x->o;
	rt_rev_status *st = &r->rev;
	memset(st, 0, sizeof(*st));
	st->reason = -1;
	st->checked = x->now;
	const mbedtls_x509_crt *issuer = rt_castore_issuer(o->issuers, r->der,
	    r->der_len);
	if (issuer == NULL) {
		/* a transport certificate is no CM host CA's: say what it
		 * is rather than blame the issuers */
		snprintf(st->why, sizeof(st->why), "issuer unknown (%s%.60s is "
		    "not among the CA certificates known)%s%.120s", r->tc ?
		    "a transport certificate: " : "", r->cert.issuer_cn[0] ?
		    r->cert.issuer_cn : r->cert.issuer, !r->tc &&
		    o->issuers_why && o->issuers_why[0] ? ": " : "", !r->tc &&
		    o->issuers_why ? o->issuers_why : "");
		return;
	}
	uint8_t serial[64];
	size_t serial_len;
	char m[200];
	rt_err *e = rt_hex_decode(r->cert.serial, strlen(r->cert.serial),
	    serial, sizeof(serial), &serial_len, 0);
	if (e != NULL) {
		rt_err_chain(e, m, sizeof(m));
		snprintf(st->why, sizeof(st->why), "serial: %s", m);
		rt_err_free(e);
		return;
	}
	char url[RT_PATH_MAX], ocsp_why[240] = "";
	ocsp_url_of(x, r, url, sizeof(url), ocsp_why, sizeof(ocsp_why));
	if (url[0]) {
		e = ask_ocsp(x, url, issuer, serial, serial_len, st);
		if (e == NULL)
			return;
		rt_err_chain(e, m, sizeof(m));
		snprintf(ocsp_why, sizeof(ocsp_why), "OCSP: %s", m);
		rt_err_free(e);
	}
	if (o->no_crl) {
		set_why(st, "%s; CRL off (revocation.crl: false)", ocsp_why);
		return;
	}
	e = ask_crl(x, r, issuer, serial, serial_len, st);
	if (e == NULL) {
		/* the CRL answered: why keeps what OCSP said */
		snprintf(st->why, sizeof(st->why), "%s", ocsp_why);
		return;
	}
	rt_err_chain(e, m, sizeof(m));
	set_why(st, "%s; CRL: %s", ocsp_why, m);
	rt_err_free(e);
}

void
rt_revocation_check(rt_contents *ct, const rt_rev_opts *o)
{
	check_ctx *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		rt_revocation_not_checked(ct, "out of memory");
		return;
	}
	x->o = o;
	x->now = o->now ? o->now : time(NULL);
	for (size_t i = 0; i < ct->nrows; i++) {
		rt_key_row *r = &ct->rows[i];
		if (r->has_cert && r->der != NULL)
			check_row(x, r);
	}
	for (size_t i = 0; i < x->ncrl; i++)
		free(x->crl[i].der);
	free(x);
}

void
rt_revocation_not_checked(rt_contents *ct, const char *why)
{
	for (size_t i = 0; i < ct->nrows; i++) {
		rt_key_row *r = &ct->rows[i];
		if (!r->has_cert)
			continue;
		memset(&r->rev, 0, sizeof(r->rev));
		r->rev.reason = -1;
		snprintf(r->rev.why, sizeof(r->rev.why), "%s", why);
	}
}

/* ---- the station's check ---------------------------------------------------- */

static rt_err *
client_fetch(void *ctx, const char *url, const char *ctype,
    const uint8_t *body, size_t len, const char *accept, long timeout,
    uint8_t **rsp, size_t *rsp_len)
{
	return cmp_client_http(ctx, url, ctype, body, len, accept, timeout, rsp,
	    rsp_len);
}

/* Adds a DER certificate to the issuers; one that does not parse is left
 * out (the rows it issued say issuer unknown). */
static void
add_issuer(rt_castore **s, const uint8_t *der, size_t len)
{
	rt_err_free(rt_castore_add(s, der, len));
}

rt_err *
rt_station_check_revocation(rt_station *st, rt_contents *ct)
{
	const rt_config *cfg = st->cfg;
	if (ct == NULL) {
		if (!st->have_ct)
			return rt_err_new(RT_E_ARG, NULL, "no card read yet");
		ct = &st->ct;
	}
	const char *server = st->o.server ? st->o.server : cfg->cmhost_url;
	if (cfg->rev_check_off) {
		rt_revocation_not_checked(ct, "revocation checks are off "
		    "(revocation.check: off)");
		return rt_err_new(RT_E_USAGE, NULL, "%s: revocation.check is off",
		    cfg->file[0] ? cfg->file : "the configuration");
	}
	if (server[0] == '\0') {
		rt_revocation_not_checked(ct, "offline: no CM host (cmhost.url)");
		return rt_err_new(RT_E_USAGE, NULL, "the station is offline (no "
		    "cmhost.url or --server): revocation not checked");
	}
	cmp_client *c = NULL;
	rt_err *e = rt_station_cmhost_public(st, &c);
	if (e != NULL) {
		char why[240];
		char m[200];
		rt_err_chain(e, m, sizeof(m));
		snprintf(why, sizeof(why), "the CM host: %s", m);
		rt_err_free(e);
		rt_revocation_not_checked(ct, why);
		sta_close_officer(st);
		return NULL;
	}
	/* issuers: the CM host's CA certificates (a verified genp), its trust
	 * anchors, the card's own CA certificates */
	rt_castore *issuers = NULL;
	uint8_t **certs = NULL;
	size_t *lens = NULL, n = 0;
	char issuers_why[240] = "";
	e = cmp_client_cacerts(c, &certs, &lens, &n);
	if (e != NULL) {
		char m[200];
		rt_err_chain(e, m, sizeof(m));
		snprintf(issuers_why, sizeof(issuers_why), "the CM host's CA "
		    "certificates: %s", m);
		rt_err_free(e);
	}
	for (size_t i = 0; i < n; i++)
		add_issuer(&issuers, certs[i], lens[i]);
	cmp_certs_free(certs, lens, n);
	for (const mbedtls_x509_crt *t = &st->trust; st->trust_loaded &&
	    t != NULL && t->raw.len != 0; t = t->next)
		add_issuer(&issuers, t->raw.p, t->raw.len);
	for (size_t i = 0; i < ct->nca; i++)
		if (ct->ca[i].has_cert)
			add_issuer(&issuers, ct->ca[i].der, ct->ca[i].der_len);
	rt_rev_opts o = {
		.issuers = issuers, .cmhost_url = server,
		.ocsp_url = cfg->rev_ocsp_url, .no_crl = cfg->rev_crl_off,
		.timeout = cfg->rev_timeout, .fetch = client_fetch,
		.fetch_ctx = c, .issuers_why = issuers_why,
	};
	rt_revocation_check(ct, &o);
	rt_castore_free(issuers);
	sta_close_officer(st);
	return NULL;
}
