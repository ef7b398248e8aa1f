/*
 * cmhost.h - the reference CM host (certificate manager server): its
 * configuration, certificate profiles and policy checks, issuance, the demo
 * PKI of `cmhost init`, and the server around them.
 *
 * Layers (src/cmhost/):
 *   config.c  YAML configuration (libyaml); every error names file, line
 *             and field; unknown keys are errors.
 *   policy.c  officer roles and certificate profiles: is this officer
 *             allowed this profile, does this request fit it.
 *   issue.c   certificates from a checked request (mbedTLS).
 *   db.c      the database (cmhost_db.h).
 *   pki.c     `cmhost init DIR`: demo PKI and config.
 *   server.c  HTTP(S) with libmicrohttpd, CMP dispatch.
 *
 * Ownership: every *_free() frees what the matching constructor returned;
 * strings in the structures below belong to the structure.
 */
#ifndef RATERM_CMHOST_H
#define RATERM_CMHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>

#include "raterm/cmp.h"
#include "raterm/err.h"
#include "raterm/qc.h"

/* ---- configuration ------------------------------------------------------ */

/* Key types a profile accepts (subject public keys). */
#define CMH_KT_RSA   0x01
#define CMH_KT_P256  0x02
#define CMH_KT_P384  0x04

/* Subject alternative name types a request may carry. */
#define CMH_SAN_EMAIL 0x01
#define CMH_SAN_UPN   0x02
#define CMH_SAN_DNS   0x04
#define CMH_SAN_URI   0x08
#define CMH_SAN_IP    0x10

/* QC statements the RA may add (profile qc.ra_may_add). */
#define CMH_QC_COMPLIANCE  0x01
#define CMH_QC_SSCD        0x02
#define CMH_QC_TYPE        0x04
#define CMH_QC_RETENTION   0x08
#define CMH_QC_PDS         0x10
#define CMH_QC_LEGISLATION 0x20
#define CMH_QC_SEMANTICS   0x40

typedef struct {
	char *attr;		/* short name: "O" */
	char *value;
} cmh_attr_value;

typedef struct {
	char *name;
	int line;			/* where it was defined */
	unsigned validity_days;
	unsigned key_types;		/* CMH_KT_* */
	unsigned min_rsa_bits;
	char **subj_required;		/* short names, e.g. "CN" */
	size_t nsubj_required;
	char **subj_allowed;		/* nsubj_allowed 0: any attribute */
	size_t nsubj_allowed;
	cmh_attr_value *subj_fixed;	/* must be present with this value */
	size_t nsubj_fixed;
	unsigned san_types;		/* CMH_SAN_*; 0: no SAN allowed */
	unsigned key_usage;		/* RT_KU_* (csr.h) */
	char **ekus;			/* dotted OIDs */
	size_t nekus;
	bool has_qc_fixed;
	rt_qc qc_fixed;			/* statements every certificate gets */
	unsigned qc_may_add;		/* CMH_QC_* */
	/* where relying parties learn of revocations, put into every
	 * certificate (crlDistributionPoints, authorityInfoAccess): the
	 * top-level revocation.* URLs unless the profile's `revocation`
	 * overrides them or opts out (`none`); NULL: not put in */
	char *crl_url, *ocsp_url, *ca_issuers_url;
	unsigned rev_own;		/* parse time: CMH_REV_* the profile set */
} cmh_profile;

/* cmh_profile.rev_own: which URLs the profile gave itself. */
#define CMH_REV_CRL     0x1
#define CMH_REV_OCSP    0x2
#define CMH_REV_ISSUERS 0x4

typedef struct {
	char *name;			/* for the audit trail and roles */
	int line;
	char *subject;			/* exact subject DN as mbedTLS prints it */
	char *cn;			/* or: the subject's common name */
	char **profiles;		/* profiles the officer may use ("*": all) */
	size_t nprofiles;
	bool revoke;			/* may revoke (rr) */
	bool mgmt_keys;			/* may fetch card management keys */
} cmh_officer;

typedef struct {
	char *file;			/* the config file, as given */
	/* listen */
	char *address;			/* default 127.0.0.1 */
	unsigned port;			/* default 8829 */
	char *path;			/* default /cmp */
	unsigned threads;		/* default 4 */
	char *tls_cert, *tls_key;	/* both or neither: HTTPS */
	/* listen.mgmt_keys_over_http: whether card management keys (which
	 * travel in clear inside the signed genp) are handed out over plain
	 * HTTP: only to loopback clients (default), to anyone, or never.
	 * Over HTTPS they always are (to officers with management_keys). */
	enum { CMH_MGMT_HTTP_LOOPBACK, CMH_MGMT_HTTP_ANY,
	    CMH_MGMT_HTTP_NEVER } mgmt_over_http;
	unsigned max_request;		/* bytes, default 256 KiB */
	/* limits against slow or many connections (listen.*): connections
	 * at once from one address (default 16), seconds a connection may
	 * stay idle (default 10), seconds one request may take from its
	 * headers to its last body byte (default 15) */
	unsigned per_client;
	unsigned idle_timeout;
	unsigned request_timeout;
	/* listen.trusted_proxies: addresses whose X-Forwarded-For names the
	 * client (a load balancer); from any other peer the header is
	 * ignored */
	char **trusted_proxies;
	size_t ntrusted_proxies;
	/* log: one line per request and the errors, plain or JSON
	 * (log.format), to log.file or stderr (log_file NULL) */
	bool log_json;
	char *log_file;
	char *pidfile;			/* may be NULL */
	char *default_profile;		/* for requests without certProfile */
	unsigned max_skew;		/* messageTime tolerance (s), 0: off */
	/* require_message_time: a protected request without messageTime is
	 * refused (badTime); RFC 9483 recommends the field, and without it
	 * the clock-skew check cannot be made. Default true. */
	bool require_message_time;
	/* audit_unverified_per_minute: requests whose protection does not
	 * verify are audited as "unverified" (never as the signer they
	 * claim), at most this many per minute and client address; the rest
	 * are counted in one summary row. Default 30. */
	unsigned audit_unverified;
	/* unprotected_cacerts: an unprotected genm asking for id-it-caCerts
	 * only is answered (the CA certificates are public; a station asks
	 * them without an officer); every other unprotected request is
	 * refused. Default true. */
	bool unprotected_cacerts;
	/* revocation: the CRL (GET /crl/ca.crl, and crl_file when set) and
	 * the OCSP responder (/ocsp) of the issuing CA */
	unsigned crl_validity;		/* seconds to nextUpdate, default 86400 */
	unsigned ocsp_validity;		/* seconds to an answer's nextUpdate,
					 * default 3600 */
	char *crl_file;			/* NULL: not written to a file */
	/* revocation.crl_url, ocsp_url, ca_issuers_url: what profiles put
	 * into the certificates they issue (cmh_profile) */
	char *crl_url, *ocsp_url, *ca_issuers_url;
	/* database: exactly one of path (SQLite) and url (PostgreSQL,
	 * "postgresql://..."; its password in password_file rather than in
	 * the URL) */
	char *db_path;
	char *db_url, *db_password_file;
	unsigned db_pool;		/* database.pool (PostgreSQL): 0 default */
	unsigned grace_seconds;		/* confirmation grace time, default 600 */
	/* the key-encryption key of the card management keys (kept apart
	 * from the database, cmhost_kek.h): a file, or a passphrase asked on
	 * the terminal at start (database.kek_passphrase: ask); neither: no
	 * management key can be stored */
	char *kek_file;
	bool kek_ask;
	/* ca */
	char *ca_cert, *ca_key, *ca_key_pass_file, *ca_chain;
	char *cmp_cert, *cmp_key, *cmp_key_pass_file;	/* dedicated signer */
	/* a delegated OCSP responder (RFC 6960 4.2.2.2): a certificate the
	 * CA issued with extendedKeyUsage id-kp-OCSPSigning, and its key;
	 * NULL: the CA signs the OCSP answers */
	char *ocsp_cert, *ocsp_key, *ocsp_key_pass_file;
	/* officers */
	char **officer_cas;
	size_t nofficer_cas;
	cmh_officer *officers;
	size_t nofficers;
	cmh_profile *profiles;
	size_t nprofiles;
} cmh_config;

/* Loads a config file. Relative paths in it are made relative to the
 * file's directory. Errors: IO (cannot read), FORMAT ("FILE:LINE: FIELD:
 * what is wrong"; also YAML syntax errors with their line), NOMEM. */
rt_err *cmh_config_load(const char *path, cmh_config **out) RT_MUST;
/* The same from a buffer; `name` is used in messages and as the base for
 * relative paths (its directory). */
rt_err *cmh_config_parse(const char *name, const char *text, size_t len,
    cmh_config **out) RT_MUST;
void cmh_config_free(cmh_config *c);
/* Opens the database of c (database.path or database.url, cmhost_db.h's
 * cmh_db_open_at); migrate: bring an older schema up to date. */
struct cmh_db;
rt_err *cmh_db_open_config(const cmh_config *c, bool migrate,
    struct cmh_db **out) RT_MUST;
/* The URL the config serves: "http://127.0.0.1:8829/cmp". */
void cmh_config_url(const cmh_config *c, char *buf, size_t cap);

const cmh_profile *cmh_profile_find(const cmh_config *c, const char *name);

/* ---- policy -------------------------------------------------------------- */

/* A policy decision that went against the request: the failure bit and
 * the reason, for the CMP error and the audit trail. */
typedef struct {
	uint32_t fail_info;	/* CMP_FI_* bits (cmp.h) */
	char why[200];
} cmh_refusal;

/* The officer entry matching an officer certificate (by subject or CN);
 * NULL if the certificate belongs to no configured officer. */
const cmh_officer *cmh_officer_find(const cmh_config *c,
    const mbedtls_x509_crt *crt);
/* True if the officer may use the profile. */
bool cmh_officer_may_use(const cmh_officer *o, const char *profile);

/* What a certification request asks for, in the forms both PKCS#10 and
 * CRMF give it. */
typedef struct {
	const uint8_t *subject;		/* DER Name (SEQUENCE) */
	size_t subject_len;
	const uint8_t *spki;		/* DER SubjectPublicKeyInfo */
	size_t spki_len;
	/* DER Extensions (SEQUENCE OF Extension) requested; may be NULL */
	const uint8_t *exts;
	size_t exts_len;
} cmh_request;

/* The checked, normalised content of a request: what issue() puts in the
 * certificate besides what the profile fixes. Free with cmh_checked_free. */
typedef struct {
	uint8_t *subject_der;		/* the request's subject Name (owned) */
	size_t subject_der_len;
	mbedtls_x509_name *subject;	/* parsed, points into subject_der */
	char subject_str[512];		/* printed, for records */
	mbedtls_pk_context pub;
	uint8_t *san;			/* SAN extension value, or NULL */
	size_t san_len;
	bool has_qc;			/* the profile's + the RA's statements */
	rt_qc qc;
} cmh_checked;

void cmh_checked_free(cmh_checked *c);

/* Checks a request against a profile. Returns NULL and fills `out` when it
 * fits; otherwise returns FORMAT/ARG/CRYPTO with `ref` naming the failure
 * bit and the reason (nothing is issued). Errors carry the reason too. */
rt_err *cmh_policy_check(const cmh_profile *p, const cmh_request *r,
    cmh_checked *out, cmh_refusal *ref) RT_MUST;

/* ---- CA and issuance ----------------------------------------------------- */

typedef struct cmh_ca cmh_ca;

/* Loads the CA (and dedicated CMP signer) of a config. Errors: IO, CERT
 * (certificate and key do not match), PASSPHRASE, FORMAT. */
rt_err *cmh_ca_load(const cmh_config *c, cmh_ca **out) RT_MUST;
void cmh_ca_free(cmh_ca *ca);
const mbedtls_x509_crt *cmh_ca_cert(const cmh_ca *ca);
/* The chain to send in extraCerts: the CMP signer's certificate first (when
 * dedicated), then the issuing CA up to the root. */
const mbedtls_x509_crt *cmh_ca_chain(const cmh_ca *ca);
/* The signer for CMP protection (signer.h); owned by ca. */
struct rt_signer;
struct rt_signer *cmh_ca_cmp_signer(const cmh_ca *ca);
/* The certificate of the CMP signer (the CA's own or the dedicated one). */
const mbedtls_x509_crt *cmh_ca_cmp_cert(const cmh_ca *ca);
/* The signer of the CA key (certificates, CRLs); owned by ca. */
struct rt_signer *cmh_ca_signer(const cmh_ca *ca);
/* The signer of OCSP answers and, in *cert, its certificate: the
 * delegated responder (ca.ocsp_cert) when configured, else the CA. */
struct rt_signer *cmh_ca_ocsp_signer(const cmh_ca *ca,
    const mbedtls_x509_crt **cert);

/* Issues a certificate for a checked request under a profile. `serial`
 * receives the lowercase hex serial (at least 41 bytes). *der is malloc'ed.
 * Errors: CRYPTO, NOMEM. */
rt_err *cmh_issue(cmh_ca *ca, const cmh_profile *p, const cmh_checked *c,
    time_t now, uint8_t **der, size_t *len, char *serial) RT_MUST;

/* ---- the CMP service -------------------------------------------------------- */

/* What cmhost does with a CMP request: verify the protection against the
 * officer CAs, find the officer and its role, refuse replays, check the
 * profile, issue / confirm / revoke / answer genm, record everything, and
 * answer with a message protected by the CMP signer. Thread-safe. */
typedef struct cmh_service cmh_service;
struct cmh_db;

/* Borrows c, ca and db (they must outlive the service). Loads the officer
 * CAs. Errors: CERT (an officer CA file), NOMEM. */
rt_err *cmh_service_new(const cmh_config *c, cmh_ca *ca, struct cmh_db *db,
    cmh_service **out) RT_MUST;
void cmh_service_free(cmh_service *s);

/* Handles one request at time `now`; *rsp is malloc'ed DER (a CMP answer,
 * an error message for every refusal). Errors only when no answer can be
 * made at all (NOMEM, the signer failing). */
rt_err *cmh_service_handle(cmh_service *s, const uint8_t *req, size_t len,
    const char *station, time_t now, uint8_t **rsp, size_t *rsp_len) RT_MUST;
/* What the service learned of one request, for the server's log and
 * metrics (cmhost_observe.h). */
typedef struct {
	char officer[128];		/* the verified officer, "-" */
	char body[16];			/* the request's body type, "?" */
	char serials[400];		/* certificates concerned, space-separated */
	char outcome[260];		/* "ok", or "failInfo: why" */
	bool refused;			/* answered with a CMP error */
	char error[300];		/* a failure that did not stop the
					 * answer, with its cause ("audit:
					 * ..."), for the log; "" none */
} cmh_req_info;

/* cmh_service_handle at time(NULL), as a cmh_handler_fn: when
 * `confidential` is false (plain HTTP that listen.mgmt_keys_over_http does
 * not allow), requests for card management keys are refused. */
rt_err *cmh_service_http(void *svc, const uint8_t *req, size_t len,
    const char *station, bool confidential, uint8_t **rsp,
    size_t *rsp_len, cmh_req_info *info) RT_MUST;

/* ---- the HTTP server ----------------------------------------------------------- */

/* Handles one CMP request body (DER) from `station` (the client's
 * address); `confidential`: it came over HTTPS, or over plain HTTP that
 * listen.mgmt_keys_over_http allows for secrets; *rsp (malloc'ed) is the DER answer, which is also what a
 * refusal produces (a CMP error message). An error return means no CMP
 * answer could be made: the client gets HTTP 500. */
typedef rt_err *(*cmh_handler_fn)(void *ctx, const uint8_t *req, size_t len,
    const char *station, bool confidential, uint8_t **rsp, size_t *rsp_len,
    cmh_req_info *info);

typedef struct cmh_server cmh_server;

/* Starts libmicrohttpd (thread pool of c->threads) on c->address:port,
 * HTTPS when c->tls_cert is set. Only POST to c->path with Content-Type
 * application/pkixcmp reaches fn (RFC 6712); other requests get 404, 405,
 * 415 or 413 (larger than c->max_request). fn runs on the pool's threads
 * concurrently. Errors: IO (address in use, TLS files), ARG (address). */
rt_err *cmh_server_start(const cmh_config *c, cmh_handler_fn fn, void *ctx,
    cmh_server **out) RT_MUST;
/* What is served besides CMP (the CRL, OCSP): method "GET" or "POST",
 * the path, the body (POST) and its Content-Type; *status (0: not
 * handled: 404), *ctype (static) and *rsp (malloc'ed) the answer. */
typedef rt_err *(*cmh_pub_fn)(void *ctx, const char *method,
    const char *url, const char *ctype_in, const uint8_t *body, size_t len,
    unsigned *status, const char **ctype, uint8_t **rsp, size_t *rsp_len);
/* cmh_server_start, and pub answers the requests for other paths. */
rt_err *cmh_server_start_pub(const cmh_config *c, cmh_handler_fn fn,
    void *ctx, cmh_pub_fn pub, void *pub_ctx, cmh_server **out) RT_MUST;
struct cmh_log;
struct cmh_metrics;
/* Everything a server may be given (cmhost serve). */
typedef struct {
	cmh_handler_fn fn;		/* CMP at listen.path */
	void *ctx;
	cmh_pub_fn pub;			/* other paths; NULL: 404 */
	void *pub_ctx;
	struct cmh_log *log;		/* one line per request, errors;
					 * NULL: errors to stderr */
	struct cmh_metrics *metrics;	/* requests counted; NULL: none */
} cmh_server_opts;
rt_err *cmh_server_start_opts(const cmh_config *c, const cmh_server_opts *o,
    cmh_server **out) RT_MUST;
/* The TLS certificate and key read again from their files (SIGHUP): new
 * connections get them, connections open keep theirs. Only with
 * listen.tls_cert; on error the old ones stay. Errors: IO, CERT (the files
 * do not load or do not match). */
rt_err *cmh_server_reload_tls(cmh_server *s, const char *cert,
    const char *key) RT_MUST;
/* Stops accepting, lets requests in progress finish (up to 10 s), stops. */
void cmh_server_stop(cmh_server *s);

/* ---- cmhost init ----------------------------------------------------------- */

/* Creates DIR (if needed) with a demo PKI and config (see docs/cmhost.md):
 * cmhost.yaml, root.pem, ca-chain.pem, ca.pem/.key, officer-ca.pem/.key,
 * officer.pem/.key (encrypted PKCS#8, PBES2 AES-256-CBC) + officer.pass.
 * port 0 picks the default. Does nothing to a DIR that already has
 * cmhost.yaml (*created false). Errors: IO, CRYPTO. */
rt_err *cmh_init(const char *dir, unsigned port, bool *created) RT_MUST;

/* Writes a PKCS#8 EncryptedPrivateKeyInfo (PBES2, PBKDF2-HMAC-SHA256,
 * AES-256-CBC) of key as PEM into *pem (malloc'ed). Errors: CRYPTO, NOMEM. */
rt_err *cmh_pkcs8_encrypt_pem(mbedtls_pk_context *key, const char *pass,
    char **pem) RT_MUST;

#endif
