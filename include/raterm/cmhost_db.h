/*
 * cmhost_db.h - cmhost's database: issued certificates and their
 * confirmation state, revocations, CMP transactions and nonces (for replay
 * detection), per-card management keys, and the audit trail. Two backends
 * behind the one interface: SQLite (database.path, WAL; one machine) and
 * PostgreSQL (database.url; the store several instances share,
 * docs/scaling.md). The schema and its migrations are in docs/cmhost.md.
 *
 * Certificate states and the transitions allowed:
 *
 *   waiting --certConf accept--> confirmed --rr--> revoked
 *      |  \--certConf reject--> rejected --grace--> revoked
 *      \--grace time without certConf, or rr--------> revoked
 *
 * (a rejected certificate may also be revoked at once by rr). Every
 * transition is a conditional update checked by its row count, so that
 * with several instances on one PostgreSQL database a certConf, an rr or
 * the sweep of a certificate is applied exactly once. Every function is
 * safe to call from several threads on one handle: calls are serialised
 * by a mutex on the handle. Errors: IO (database failures, with the
 * backend's message), plus those listed.
 */
#ifndef RATERM_CMHOST_DB_H
#define RATERM_CMHOST_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raterm/err.h"

typedef enum {
	CMH_CERT_WAITING = 0,
	CMH_CERT_CONFIRMED,
	CMH_CERT_REJECTED,
	CMH_CERT_REVOKED,
	CMH_CERT_NSTATES		/* how many there are */
} cmh_cert_state;

const char *cmh_cert_state_name(cmh_cert_state s);	/* "waiting" */

typedef struct {
	char serial[48];	/* lowercase hex */
	char subject[512];
	char profile[64];
	char officer[128];	/* the officer's name from the config */
	char card[80];		/* the card the certificate is for, "" unknown */
	char tid[80];		/* CMP transactionID, hex */
	int cert_req_id;	/* certReqId within the transaction */
	cmh_cert_state state;
	int64_t issued_at;	/* seconds since the epoch */
	int64_t not_after;
	int64_t state_at;	/* when the state last changed */
	int revocation_reason;	/* CRLReason; -1 if not revoked */
} cmh_cert_rec;

typedef struct cmh_db cmh_db;

/* Where the database is: exactly one of path and url. */
typedef struct {
	const char *path;		/* SQLite: the file (database.path) */
	const char *url;		/* PostgreSQL: "postgresql://..."
					 * (database.url) */
	const char *password_file;	/* PostgreSQL: the password (its first
					 * line; database.password_file); NULL:
					 * none, or the URL's */
	bool migrate;			/* bring an older schema up to date;
					 * false: refuse it (PostgreSQL: run
					 * `cmhost db migrate`). SQLite always
					 * migrates. */
	unsigned pool;			/* PostgreSQL: connections kept
					 * (database.pool, 1..CMH_DB_POOL_MAX;
					 * 0: CMH_DB_POOL_DEFAULT); SQLite:
					 * always one */
} cmh_db_where;
#define CMH_DB_POOL_DEFAULT	4
#define CMH_DB_POOL_MAX		64

/* Opens the database of w. SQLite: created if needed, WAL mode, brought
 * to the current schema. PostgreSQL: a schema older than this cmhost's is
 * refused unless w->migrate (CONFIG, naming `cmhost db migrate`), a newer
 * one always (CONFIG). Errors: ARG (both or neither of path and url), IO
 * (cannot open or connect; a URL is named without its password). */
rt_err *cmh_db_open_at(const cmh_db_where *w, cmh_db **out) RT_MUST;
/* cmh_db_open_at of a path, or of a "postgresql://" URL (not migrated). */
rt_err *cmh_db_open(const char *path_or_url, cmh_db **out) RT_MUST;
/* (cmh_db_open_config, cmhost.h: of the configuration's database.) */
void cmh_db_close(cmh_db *db);
/* "SQLite /var/lib/cmhost/cmhost.db", "PostgreSQL postgresql://u@h/db"
 * (never a password). */
const char *cmh_db_label(const cmh_db *db);
/* The schema's version when the handle was opened, now, and the one this
 * cmhost makes (docs/cmhost.md lists the migrations). */
void cmh_db_schema(const cmh_db *db, unsigned *found, unsigned *now,
    unsigned *latest);

/* Records an issued certificate in state rec->state (waiting, or confirmed
 * with implicit confirmation). Errors: ARG (serial exists). */
rt_err *cmh_db_cert_add(cmh_db *db, const cmh_cert_rec *rec,
    const uint8_t *der, size_t len) RT_MUST;

/* certConf for a waiting certificate of transaction tid: accepted ->
 * confirmed, else rejected. Errors: NOT_FOUND (no such certificate in the
 * transaction), ARG (not waiting: names its state). */
rt_err *cmh_db_cert_confirm(cmh_db *db, const char *tid, int cert_req_id,
    bool accepted, int64_t now) RT_MUST;

/* Revokes a certificate (any state but revoked). Errors: NOT_FOUND,
 * ARG (already revoked). */
rt_err *cmh_db_cert_revoke(cmh_db *db, const char *serial, int reason,
    int64_t now) RT_MUST;

/* Revokes every waiting or rejected certificate whose state is older than
 * `grace` seconds; *count (may be NULL) receives how many. */
rt_err *cmh_db_sweep(cmh_db *db, int64_t now, int64_t grace, unsigned *count)
    RT_MUST;

/* Looks a certificate up by serial; der/len may be NULL (else *der is
 * malloc'ed). Errors: NOT_FOUND. */
rt_err *cmh_db_cert_get(cmh_db *db, const char *serial, cmh_cert_rec *rec,
    uint8_t **der, size_t *len) RT_MUST;
/* The certificates of a transaction (every state), in certReqId order:
 * calls fn for each. */
rt_err *cmh_db_certs_of_tid(cmh_db *db, const char *tid,
    void (*fn)(void *ctx, const cmh_cert_rec *r), void *ctx) RT_MUST;
/* All certificates, oldest first. */
rt_err *cmh_db_certs_each(cmh_db *db,
    void (*fn)(void *ctx, const cmh_cert_rec *r), void *ctx) RT_MUST;
/* What cmh_db_certs_find selects: every given field must match (NULL, -1
 * or 0: any). */
typedef struct {
	int state;		/* cmh_cert_state; -1: any */
	const char *card;	/* the card as recorded (lowercase hex) */
	const char *officer;	/* the officer's name */
	const char *profile;
	int64_t since;		/* issued at or after (seconds); 0: any */
} cmh_cert_filter;
/* The certificates f selects (f NULL: all), oldest first; the selection
 * is made by the database. */
rt_err *cmh_db_certs_find(cmh_db *db, const cmh_cert_filter *f,
    void (*fn)(void *ctx, const cmh_cert_rec *r), void *ctx) RT_MUST;
/* A value that changes whenever a certificate is revoked or rejected
 * (the CRL publisher's cue to make a new CRL). */
rt_err *cmh_db_revoked_stamp(cmh_db *db, unsigned *stamp) RT_MUST;

/* The current CRL of a CA, shared by every instance on the database: one
 * CRL number sequence, each number made by one instance. */
typedef struct {
	uint64_t number;	/* its cRLNumber */
	int64_t made_at;	/* thisUpdate */
	unsigned stamp;		/* cmh_db_revoked_stamp it was made at */
	uint8_t *der;		/* malloc'ed */
	size_t len;
} cmh_db_crl;
/* The CRL recorded for ca (a name of the CA that changes with its key).
 * Errors: NOT_FOUND (none yet), IO. */
rt_err *cmh_db_crl_get(cmh_db *db, const char *ca, cmh_db_crl *out) RT_MUST;
/* Records crl as ca's current CRL if the one recorded is still number
 * prev_number (0: none yet) and crl's number is greater: *won. Not won:
 * another instance recorded one first (read it with cmh_db_crl_get).
 * Errors: IO. */
rt_err *cmh_db_crl_put(cmh_db *db, const char *ca, uint64_t prev_number,
    const cmh_db_crl *crl, bool *won) RT_MUST;
void cmh_db_crl_free(cmh_db_crl *c);
/* One instance at a time makes the CRL. PostgreSQL: a transaction on a
 * connection of the handle's own (outside the pool) holding
 * pg_try_advisory_xact_lock(6516072, 3); *got false: another instance
 * holds it now (nothing held). SQLite: *got always (one instance). Held
 * until cmh_db_crl_unlock (or until this instance's connection dies).
 * Errors: IO (not got). */
rt_err *cmh_db_crl_lock(cmh_db *db, bool *got) RT_MUST;
void cmh_db_crl_unlock(cmh_db *db);
/* Whether the database tells of other instances' revocations (PostgreSQL:
 * LISTEN/NOTIFY; SQLite: no, one instance). */
bool cmh_db_can_notify(const cmh_db *db);
/* Waits at most timeout_ms for a revocation or rejection on any instance
 * (a NOTIFY in each revoking transaction; LISTEN on the connection of
 * cmh_db_crl_lock): *revoked. Also *revoked when the listening began
 * anew (first call, connection made again: one may have been missed).
 * Without notifications: sleeps, *revoked false. Errors: IO (the
 * connection lost: made again at the next call). */
rt_err *cmh_db_revoked_wait(cmh_db *db, int timeout_ms, bool *revoked)
    RT_MUST;
/* Number of certificates (all states). */
rt_err *cmh_db_cert_count(cmh_db *db, unsigned *count) RT_MUST;
/* The number of certificates in each state (counts[cmh_cert_state]). */
rt_err *cmh_db_cert_states(cmh_db *db, unsigned counts[CMH_CERT_NSTATES])
    RT_MUST;
/* Whether the database answers (a trivial query). Errors: IO. */
rt_err *cmh_db_ping(cmh_db *db) RT_MUST;

/* ---- CMP transactions and replay ------------------------------------------ */

/* Starts a transaction: tid must never have been seen. `expect_nonce` is
 * the senderNonce of our response (the recipNonce the next message of the
 * transaction must carry). Errors: AUTH ("transactionID in use"). */
rt_err *cmh_db_txn_begin(cmh_db *db, const char *tid, const char *officer,
    const char *kind, const char *expect_nonce, int64_t now) RT_MUST;
/* The continuation of an open transaction (certConf): the officer and
 * the expected nonce must match; `next_nonce` replaces the expected nonce,
 * NULL closes the transaction. Errors: NOT_FOUND (no open transaction),
 * AUTH (other officer, or recipNonce mismatch). */
rt_err *cmh_db_txn_continue(cmh_db *db, const char *tid, const char *officer,
    const char *recip_nonce, const char *next_nonce, int64_t now) RT_MUST;
/* A transaction's officer and the senderNonce its next message must
 * answer ("" when the transaction is closed), read only (txStatus).
 * Errors: NOT_FOUND. */
rt_err *cmh_db_txn_get(cmh_db *db, const char *tid, char *officer,
    size_t ocap, char *expect_nonce, size_t ncap) RT_MUST;
/* A whole certConf in one database transaction: the transaction's
 * continuation (as cmh_db_txn_continue, closing it) and the confirmation
 * or rejection of certReqIds ids[0..n) (as cmh_db_cert_confirm); any
 * failure applies nothing. Errors: those of both. */
rt_err *cmh_db_certconf(cmh_db *db, const char *tid, const char *officer,
    const char *recip_nonce, const int *ids, const bool *accept, size_t n,
    int64_t now) RT_MUST;
/* A whole rr in one database transaction: its transaction record and the
 * revocation of serials[0..n) with reasons[i]; any failure applies
 * nothing. Errors: those of cmh_db_txn_begin and cmh_db_cert_revoke. */
rt_err *cmh_db_revoke_all(cmh_db *db, const char *tid, const char *officer,
    const char *kind, const char *const *serials, const int *reasons,
    size_t n, int64_t now) RT_MUST;
/* Records a senderNonce; a nonce seen before is refused (AUTH). */
rt_err *cmh_db_nonce_use(cmh_db *db, const char *nonce_hex, int64_t now)
    RT_MUST;

/* ---- management keys and audit ------------------------------------------- */

/* Management keys are kept sealed under a key-encryption key (KEK,
 * cmhost_kek.h) that is not in the database; each row names its KEK's
 * identifier. */
struct cmh_kek;
/* Gives the database its KEK (borrowed: it must outlive the handle or
 * the next cmh_db_set_kek/rekey). Refuses a KEK that is not the one of
 * the rows already sealed (CRYPTO, naming the KEK's source and both
 * identifiers); seals the rows an older database kept in clear, in one
 * transaction (*migrated, may be NULL: how many). */
rt_err *cmh_db_set_kek(cmh_db *db, const struct cmh_kek *k,
    unsigned *migrated) RT_MUST;
/* Rotation: every row opened with the current KEK and sealed under `to`
 * in one transaction (nothing changes on any failure); `to` is then the
 * handle's KEK. *count (may be NULL): the rows. Errors: CONFIG (no KEK
 * set), those of cmh_db_mgmt_key_get. */
rt_err *cmh_db_rekey(cmh_db *db, const struct cmh_kek *to, unsigned *count)
    RT_MUST;
/* The salt of a passphrase KEK (len bytes), made at random the first time
 * and kept in the database. */
rt_err *cmh_db_kek_salt(cmh_db *db, uint8_t *salt, size_t len) RT_MUST;
/* Stores (replaces) the management key of a card, sealed under the KEK.
 * card: the card's identifier as the station sends it (GUID hex or
 * serial). Errors: CONFIG (no KEK set: no key is stored in clear). */
rt_err *cmh_db_mgmt_key_set(cmh_db *db, const char *card, const char *alg,
    const uint8_t *key, size_t len, int64_t now) RT_MUST;
/* The key in clear. Errors: NOT_FOUND, CONFIG (sealed, no KEK set),
 * CRYPTO (another KEK's row, or altered). *key is malloc'ed (wipe and
 * free it). */
rt_err *cmh_db_mgmt_key_get(cmh_db *db, const char *card, char *alg,
    size_t alg_cap, uint8_t **key, size_t *len) RT_MUST;

/* Appends to the audit trail. who: officer name or "-"; station: the
 * client's address; action: "p10cr", "rr", ...; result: "ok" or the
 * refusal reason. */
rt_err *cmh_db_audit(cmh_db *db, int64_t now, const char *who,
    const char *station, const char *action, const char *detail,
    const char *result) RT_MUST;
typedef struct {
	int64_t id;		/* in the order written */
	int64_t at;		/* seconds since the epoch */
	char who[256];
	char station[128];
	char action[32];
	char detail[1024];
	char result[512];
} cmh_audit_rec;
/* What cmh_db_audit_find selects (NULL or 0: any). */
typedef struct {
	const char *who;	/* the officer (or "cmhost-admin", "unverified") */
	const char *action;	/* "cr", "rr", "revoke", "mgmt-key", ... */
	const char *card;	/* records whose detail names the card ("card HEX") */
	int64_t since;		/* at or after (seconds); 0: any */
} cmh_audit_filter;
/* The audit records f selects (f NULL: all), oldest first; the selection
 * is made by the database. Longer fields are cut to the record's. */
rt_err *cmh_db_audit_find(cmh_db *db, const cmh_audit_filter *f,
    void (*fn)(void *ctx, const cmh_audit_rec *r), void *ctx) RT_MUST;
/* Number of audit records (tests). */
rt_err *cmh_db_audit_count(cmh_db *db, unsigned *count) RT_MUST;

#endif
