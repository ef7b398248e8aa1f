/*
 * cmhost_cache.h - cmhost's cache of validated officer certificate chains.
 *
 * A request's protection certificate (the officer's) is validated against
 * the officer CAs once; later requests with the same certificate cost one
 * signature check. An entry (key: SHA-256 of the certificate's DER) holds
 * until the earliest notAfter of the chain it was validated with, and only
 * while the database's revocation stamp (cmh_db_revoked_stamp) is the one
 * it was validated under: any revocation or rejection in cmhost's
 * database, which also makes a new CRL, drops every entry's standing (the
 * service reads the stamp once a second at most; an officer certificate
 * of cmhost's own CA is looked up by its serial on every request). The
 * cache belongs to the service (cmh_service), so a configuration reload,
 * which makes a new service, starts with an empty one. Thread-safe;
 * bounded: when full, the least recently used entry makes room (one
 * expired or revoked is never used again).
 */
#ifndef RATERM_CMHOST_CACHE_H
#define RATERM_CMHOST_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "raterm/err.h"

typedef struct cmh_chain_cache cmh_chain_cache;

/* A cache of at most max entries (0: 256). Errors: NOMEM. */
rt_err *cmh_chain_cache_new(size_t max, cmh_chain_cache **out) RT_MUST;
void cmh_chain_cache_free(cmh_chain_cache *c);

/* Whether cert was validated under revocation stamp `stamp` and its chain
 * is still valid at now; serial (cap bytes) receives the serial it was
 * kept with ("" for none). */
bool cmh_chain_cache_get(cmh_chain_cache *c, const uint8_t *cert,
    size_t len, unsigned stamp, time_t now, char *serial, size_t cap);
/* Records cert as validated under `stamp`, its chain valid until
 * not_after; serial (NULL or "": none) is the certificate's serial in
 * cmhost's database when cmhost's CA issued it, for the caller to look
 * its state up on every use. */
void cmh_chain_cache_put(cmh_chain_cache *c, const uint8_t *cert,
    size_t len, unsigned stamp, time_t not_after, const char *serial);
/* Entries held, and chains validated (puts) since the cache was made. */
size_t cmh_chain_cache_size(cmh_chain_cache *c);
unsigned long cmh_chain_cache_validations(cmh_chain_cache *c);

/* The chains a service validated so far (its cache's validations). */
struct cmh_service;
unsigned long cmh_service_chain_validations(const struct cmh_service *s);

#endif
