/*
 * cmhost_inproc.h - cmhost's CMP service in the same process as its
 * client, for tests: no HTTP, no port. A cmp_client made with
 * cmh_inproc_client_opts() hands every DER request to cmh_service_http()
 * and gets its DER answer back (cmp_client_opts.transport), so that a
 * whole `raterm update` submit (engine + CMP + cmhost + database) runs in
 * one test binary.
 *
 * The CM host uses the PKI and configuration of a `cmhost init`
 * directory (a fresh temporary one unless the caller names one) and a
 * SQLite database of its own. Faults can be injected per CMP body type:
 * the request never reaches the service (CM host unreachable), or it is
 * handled and its answer lost (the outcome unknown to the client).
 *
 * Part of libcmhost. Not thread-safe: one client at a time.
 */
#ifndef RATERM_CMHOST_INPROC_H
#define RATERM_CMHOST_INPROC_H

#include <stdbool.h>

#include "raterm/cmhost.h"
#include "raterm/cmhost_db.h"
#include "raterm/cmp.h"
#include "raterm/err.h"
#include "raterm/signer.h"

typedef struct cmh_inproc cmh_inproc;

typedef struct {
	/* A `cmhost init` directory to use (its cmhost.yaml, CA and officer
	 * PKI); NULL: a new one in a temporary directory, removed by
	 * cmh_inproc_free. */
	const char *dir;
	/* The SQLite database; NULL: a new file in a temporary directory
	 * (DIR itself when made here), removed by cmh_inproc_free. */
	const char *db_path;
	/* true: requests are handled as if they came over plain HTTP that
	 * listen.mgmt_keys_over_http does not allow (no management keys);
	 * false: as over HTTPS. */
	bool plain_http;
} cmh_inproc_opts;

/* Starts the service (o may be NULL: all defaults). Errors: IO (temporary
 * directory), those of cmh_init, cmh_config_load, cmh_ca_load,
 * cmh_db_open, cmh_service_new. */
rt_err *cmh_inproc_new(const cmh_inproc_opts *o, cmh_inproc **out) RT_MUST;
void cmh_inproc_free(cmh_inproc *ip);

/* Points client options at the service: transport, transport_ctx, url
 * ("inproc:cmhost"), trust (the demo root, owned by ip). The rest of co
 * (signer, log, ...) is left to the caller. */
void cmh_inproc_client_opts(cmh_inproc *ip, cmp_client_opts *co);

/* The demo officer (software token officer.key / officer-chain.pem,
 * "raterm Demo Officer", management_keys: true). Free it with
 * rt_signer_free before cmh_inproc_free. Errors: those of rt_signer_soft. */
rt_err *cmh_inproc_officer(cmh_inproc *ip, rt_signer **out) RT_MUST;

/* The directory of the PKI and config, the config, the database. */
const char *cmh_inproc_dir(const cmh_inproc *ip);
cmh_config *cmh_inproc_config(cmh_inproc *ip);
cmh_db *cmh_inproc_db(cmh_inproc *ip);

typedef enum {
	CMH_INPROC_DELIVER = 0,	/* handled and answered */
	CMH_INPROC_DROP,	/* never reaches the service (CMP_HTTP) */
	CMH_INPROC_LOSE_ANSWER,	/* handled, the answer lost (CMP_HTTP) */
} cmh_inproc_fault;

/* What happens to requests of body type `type` (CMP_BODY_*) from now on;
 * -1: every type. */
void cmh_inproc_fault_set(cmh_inproc *ip, int type, cmh_inproc_fault f);
/* Requests of body type `type` that reached the service (-1: all), and
 * the transport calls made (delivered or not). */
unsigned cmh_inproc_handled(const cmh_inproc *ip, int type);
unsigned cmh_inproc_calls(const cmh_inproc *ip);

#endif
