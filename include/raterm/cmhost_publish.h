/*
 * cmhost_publish.h - what relying parties learn of cmhost's certificates:
 * a CRL of the issuing CA and OCSP answers, both from the database and
 * signed by the CA key (through the signer interface).
 *
 * States as relying parties see them (docs/cmhost.md):
 *   waiting (issued, certConf awaited)  good
 *   confirmed                           good
 *   rejected (certConf rejected it)     revoked, reason unspecified
 *   revoked (rr, or grace ran out)      revoked, with its reason
 *   not issued by this CA / unknown     unknown (OCSP); absent (CRL)
 */
#ifndef RATERM_CMHOST_PUBLISH_H
#define RATERM_CMHOST_PUBLISH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <mbedtls/x509_crt.h>

#include "raterm/cmhost_db.h"
#include "raterm/err.h"
#include "raterm/signer.h"

/* A v2 CRL of ca_cert's certificates in db: thisUpdate now, nextUpdate
 * now + validity seconds, CRL number `number`. *der malloc'ed. Errors:
 * IO (database), NOMEM, those of the signer. */
rt_err *cmh_crl_make(const mbedtls_x509_crt *ca_cert, rt_signer *ca_signer,
    cmh_db *db, time_t now, int64_t validity, uint64_t number, uint8_t **der,
    size_t *len) RT_MUST;

/* The OCSP answer to request req (DER), signed by resp_signer whose
 * certificate resp_cert is ca_cert itself or a delegated responder's (it
 * goes into the answer's certs and names the responder by key): one
 * SingleResponse per CertID,
 * unknown for another issuer or a serial not in db, the nonce echoed,
 * nextUpdate now + validity; a malformed request gets the
 * malformedRequest response (never an error). *rsp malloc'ed. Errors:
 * NOMEM, IO, those of the signer (the caller answers HTTP 500 /
 * internalError). */
rt_err *cmh_ocsp_answer(const mbedtls_x509_crt *ca_cert,
    const mbedtls_x509_crt *resp_cert, rt_signer *resp_signer, cmh_db *db,
    const uint8_t *req, size_t len, time_t now, int64_t validity,
    uint8_t **rsp, size_t *rsp_len) RT_MUST;

/* The CA's current CRL, kept in memory and in a file for publishing
 * elsewhere: made when first asked, again when a certificate was revoked
 * or rejected since (the database's revocation stamp says so: any
 * instance's revocation, the grace-period sweep), and before half its
 * validity has passed. The CRL is the database's (cmh_db_crl_get/put):
 * every instance on one database serves the same CRL; a new one is made
 * by the one instance holding the CRL lock (cmh_db_crl_lock: PostgreSQL's
 * advisory lock; the others wait for its record, at most 2 s, then serve
 * the recorded one) and recorded with a conditional write, so CRL numbers
 * are one strictly increasing sequence (at least the seconds of
 * thisUpdate, also across restarts). PostgreSQL: a thread of the
 * publisher waits for the revocations of every instance (LISTEN/NOTIFY,
 * cmh_db_revoked_wait) and makes the CRL again at once (and its file).
 * Thread-safe. Borrows ca_cert, signer and db. */
typedef struct cmh_publisher cmh_publisher;
rt_err *cmh_publisher_new(const mbedtls_x509_crt *ca_cert, rt_signer *signer,
    cmh_db *db, int64_t crl_validity, const char *crl_file,
    cmh_publisher **out) RT_MUST;
void cmh_publisher_free(cmh_publisher *p);
/* A copy of the current CRL (made anew if dirty or half expired);
 * *der malloc'ed; *number its CRL number (may be NULL). Errors: those of
 * cmh_crl_make, IO (the file). */
rt_err *cmh_publisher_crl(cmh_publisher *p, time_t now, uint8_t **der,
    size_t *len, uint64_t *number) RT_MUST;
/* The nextUpdate of the current CRL; 0 when none was made yet. */
time_t cmh_publisher_next_update(cmh_publisher *p);

#endif
