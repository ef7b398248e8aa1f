/*
 * revocation.h - whether the certificates of a Contents are revoked, as
 * their issuer's OCSP responder (RFC 6960) or CRL (RFC 5280) says: the
 * rt_rev_status of each row (contents.h), for `raterm show
 * --check-revocation` and the station's screen.
 *
 * Per certificate with a known issuer (a CA certificate given, whose name
 * and key match the certificate's issuer and signature):
 *   1. OCSP: a request with one CertID (SHA-1) and a 16-byte nonce, POSTed
 *      to revocation.ocsp_url when configured, else to the certificate's
 *      authorityInfoAccess id-ad-ocsp URL, else to the CM host's /ocsp;
 *      the answer must verify against the issuer (rt_ocsp_resp_parse: the
 *      CA or a delegated responder), echo the nonce when it carries one,
 *      name the CertID, and be current (thisUpdate not in the future,
 *      nextUpdate not passed).
 *   2. When OCSP gives no answer (unreachable, refused, not verifying),
 *      the CRL of the certificate's crlDistributionPoints (unless
 *      revocation.crl: false), checked by rt_crl_check against the issuer.
 * Never a failure of the whole check: a certificate whose issuer is
 * unknown, or whose responder and CRL both fail, is RT_REV_NOT_CHECKED
 * with the reason. Each URL that failed is not asked again in the same
 * check, and each CRL is fetched once.
 */
#ifndef RATERM_REVOCATION_H
#define RATERM_REVOCATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "raterm/contents.h"
#include "raterm/err.h"
#include "raterm/station.h"
#include "raterm/x509.h"

/* One HTTP exchange: GET url when body is NULL, else POST body as ctype;
 * the answer must have Content-Type accept (NULL: any). *rsp malloc'ed.
 * cmp_client_http is the station's; tests give their own. */
typedef rt_err *(*rt_rev_fetch_fn)(void *ctx, const char *url,
    const char *ctype, const uint8_t *body, size_t len, const char *accept,
    long timeout, uint8_t **rsp, size_t *rsp_len);

typedef struct {
	const rt_castore *issuers;	/* CA certificates that may have
					 * issued the card's certificates */
	const char *cmhost_url;		/* the CM host's URL (its /ocsp
					 * serves certificates without
					 * AIA); NULL / "": none */
	const char *ocsp_url;		/* every OCSP request here; "none":
					 * no OCSP; NULL / "": AIA, else
					 * the CM host's /ocsp */
	bool no_crl;			/* no CRL when OCSP gives no answer */
	long timeout;			/* seconds per exchange; 0: 10 */
	rt_rev_fetch_fn fetch;		/* required */
	void *fetch_ctx;
	time_t now;			/* 0: time(NULL) */
	const char *issuers_why;	/* why issuers may lack CAs (e.g. the
					 * CM host's caCerts failed): added
					 * to "issuer unknown" */
} rt_rev_opts;

/* Sets rows[i].rev of every row of ct with a certificate. */
void rt_revocation_check(rt_contents *ct, const rt_rev_opts *o);

/* Marks every row with a certificate RT_REV_NOT_CHECKED with why. */
void rt_revocation_not_checked(rt_contents *ct, const char *why);

/* The CM host's OCSP URL for cmhost_url ("http://host:port/cmp" ->
 * "http://host:port/ocsp"). Errors: ARG (not an http(s) URL, or no
 * host), TOO_BIG. */
rt_err *rt_revocation_cmhost_ocsp(const char *cmhost_url, char *out,
    size_t cap) RT_MUST;

/* The station's check of ct (NULL: the station's own Contents, read by
 * the last rt_station_reload; the screen shows its rows' rev after
 * this): issuers are the CM host's CA certificates (caCerts, the answer
 * verified against cmhost.trust), the trust anchors themselves and the
 * card's own CA certificates; the exchanges go through the CM host
 * client's HTTP (cmp_client_http: its TLS settings); revocation.* of the
 * configuration. Off, and every row NOT_CHECKED saying why, when the
 * station is offline (no CM host URL) or revocation.check is off: then
 * USAGE naming it (callers show it and go on). A CM host that does not
 * answer caCerts is no error (the rows say issuer unknown and why).
 * Errors: USAGE (offline, off), ARG (no Contents). */
rt_err *rt_station_check_revocation(rt_station *st, rt_contents *ct)
    RT_MUST;

#endif
