/* db.c - cmhost's SQLite database; see include/raterm/cmhost_db.h and the
 * schema in docs/cmhost.md. One connection per handle, serialised by a
 * mutex; WAL journal, synchronous=NORMAL (a commit survives a crash of the
 * process; the last commits may be lost on power failure). */
#include "raterm/cmhost_db.h"
#include "raterm/cmhost_kek.h"
#include "raterm/signer.h"
#include "raterm/util.h"

#include <pthread.h>
#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* Prepared statements kept for the next use (by their SQL text): parsing
 * the SQL again costs more than running it (docs/bench.md). */
#define STMT_CACHE 48
typedef struct {
	char *sql;
	sqlite3_stmt *st;
	bool busy;
	uint64_t last;
} cached_stmt;

struct cmh_db {
	sqlite3 *h;
	pthread_mutex_t mu;
	cached_stmt sc[STMT_CACHE];	/* under mu */
	uint64_t sc_clock;
	const cmh_kek *kek;	/* borrowed; NULL: none configured */
};

static const char *const state_names[] = { "waiting", "confirmed", "rejected",
	"revoked" };

const char *
cmh_cert_state_name(cmh_cert_state s)
{
	return (unsigned)s < 4 ? state_names[s] : "?";
}

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS certs ("
	"  serial TEXT PRIMARY KEY,"
	"  subject TEXT NOT NULL,"
	"  profile TEXT NOT NULL,"
	"  officer TEXT NOT NULL,"
	"  card TEXT NOT NULL DEFAULT '',"
	"  tid TEXT NOT NULL,"
	"  cert_req_id INTEGER NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN "
	"    ('waiting','confirmed','rejected','revoked')),"
	"  issued_at INTEGER NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  state_at INTEGER NOT NULL,"
	"  revocation_reason INTEGER,"
	"  der BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS certs_tid ON certs(tid, cert_req_id);"
	"CREATE INDEX IF NOT EXISTS certs_state ON certs(state, state_at);"
	"CREATE TABLE IF NOT EXISTS transactions ("
	"  tid TEXT PRIMARY KEY,"
	"  officer TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  expect_nonce TEXT,"		/* NULL: closed */
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS nonces ("
	"  nonce TEXT PRIMARY KEY,"
	"  seen_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS mgmt_keys ("
	"  card TEXT PRIMARY KEY,"
	"  alg TEXT NOT NULL,"
	"  key BLOB NOT NULL,"		/* sealed under the KEK kek_id */
	"  updated_at INTEGER NOT NULL,"
	"  kek_id TEXT);"		/* NULL: in clear (an older database) */
	"CREATE TABLE IF NOT EXISTS meta ("
	"  name TEXT PRIMARY KEY,"
	"  value BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS audit ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"
	"  who TEXT NOT NULL,"
	"  station TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  result TEXT NOT NULL);"
	"PRAGMA user_version = 1;";

static rt_err *
dberr(cmh_db *db, const char *what)
{
	return rt_err_new(RT_E_IO, NULL, "database: %s: %s", what,
	    sqlite3_errmsg(db->h));
}

rt_err *
cmh_db_open(const char *path, cmh_db **out)
{
	cmh_db *db;
	char *msg = NULL;
	rt_err *e;

	*out = NULL;
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "database");
	pthread_mutex_init(&db->mu, NULL);
	/* the database holds card management keys: create it 0600 whatever
	 * the umask (SQLite gives its -wal and -shm files the database's
	 * mode), and take group and other rights from an existing one */
	if (strcmp(path, ":memory:") != 0) {
		int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		struct stat st;
		const char *why = NULL;
		if (fd < 0 || fstat(fd, &st) != 0)
			why = strerror(errno);
		else if (!S_ISREG(st.st_mode))
			why = "not a regular file";
		else if ((st.st_mode & 077) != 0 &&
		    fchmod(fd, st.st_mode & 0700) != 0)
			why = strerror(errno);
		if (why != NULL) {
			e = rt_err_new(RT_E_IO, NULL, "database %s: %s", path, why);
			if (fd >= 0)
				close(fd);
			cmh_db_close(db);
			return e;
		}
		close(fd);
	}
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		e = rt_err_new(RT_E_IO, NULL, "database %s: %s", path,
		    db->h ? sqlite3_errmsg(db->h) : "cannot open");
		cmh_db_close(db);
		return e;
	}
	sqlite3_busy_timeout(db->h, 10000);
	/* secure_delete: a replaced management key leaves no old bytes in
	 * free pages (secrets at rest) */
	if (sqlite3_exec(db->h, "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
	    "PRAGMA secure_delete=ON;", NULL, NULL,
	    &msg) != SQLITE_OK ||
	    sqlite3_exec(db->h, schema, NULL, NULL, &msg) != SQLITE_OK) {
		e = rt_err_new(RT_E_IO, NULL, "database %s: %s", path,
		    msg ? msg : "schema");
		sqlite3_free(msg);
		cmh_db_close(db);
		return e;
	}
	/* databases made before secrets at rest: their mgmt_keys rows are
	 * in clear, without kek_id (cmh_db_set_kek seals them) */
	sqlite3_stmt *probe;
	if (sqlite3_prepare_v2(db->h, "SELECT kek_id FROM mgmt_keys", -1,
	    &probe, NULL) == SQLITE_OK)
		sqlite3_finalize(probe);
	else if (sqlite3_exec(db->h, "ALTER TABLE mgmt_keys ADD COLUMN kek_id "
	    "TEXT", NULL, NULL, &msg) != SQLITE_OK) {
		e = rt_err_new(RT_E_IO, NULL, "database %s: mgmt_keys: %s", path,
		    msg ? msg : "cannot add kek_id");
		sqlite3_free(msg);
		cmh_db_close(db);
		return e;
	}
	*out = db;
	return NULL;
}

void
cmh_db_close(cmh_db *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < STMT_CACHE; i++) {
		sqlite3_finalize(db->sc[i].st);
		free(db->sc[i].sql);
	}
	sqlite3_close(db->h);
	pthread_mutex_destroy(&db->mu);
	free(db);
}

/* ---- small statement helpers ------------------------------------------- */

/* A prepared statement for sql: the cached one when it is not in use,
 * else prepared (and cached in a free or the least recently used slot).
 * Called with db->mu held; give it back with stmt_done. */
static int
stmt_get(cmh_db *db, const char *sql, sqlite3_stmt **st)
{
	cached_stmt *slot = NULL;
	for (size_t i = 0; i < STMT_CACHE; i++) {
		cached_stmt *c = &db->sc[i];
		if (c->sql != NULL && !c->busy && strcmp(c->sql, sql) == 0) {
			c->busy = true;
			c->last = ++db->sc_clock;
			*st = c->st;
			return SQLITE_OK;
		}
		if (!c->busy && (slot == NULL || (slot->sql != NULL &&
		    (c->sql == NULL || c->last < slot->last))))
			slot = c;
	}
	int rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    st, NULL);
	char *copy;
	if (rc != SQLITE_OK || slot == NULL || (copy = strdup(sql)) == NULL)
		return rc;
	sqlite3_finalize(slot->st);
	free(slot->sql);
	slot->sql = copy;
	slot->st = *st;
	slot->busy = true;
	slot->last = ++db->sc_clock;
	return SQLITE_OK;
}

/* Done with a statement of stmt_get: reset for its next use, or
 * finalized when it is not cached. */
static void
stmt_done(cmh_db *db, sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < STMT_CACHE; i++)
		if (db->sc[i].st == st) {
			(void)sqlite3_reset(st);
			(void)sqlite3_clear_bindings(st);
			db->sc[i].busy = false;
			return;
		}
	stmt_done(db, st);
}

/* Prepares sql and binds args described by fmt: 't' text, 'i' int64,
 * 'b' blob (pointer, size_t), 'n' NULL. */
static rt_err *
prep(cmh_db *db, sqlite3_stmt **st, const char *sql, const char *fmt, ...)
{
	va_list ap;
	if (stmt_get(db, sql, st) != SQLITE_OK)
		return dberr(db, "prepare");
	va_start(ap, fmt);
	int idx = 1, rc = SQLITE_OK;
	for (const char *f = fmt; *f && rc == SQLITE_OK; f++, idx++) {
		switch (*f) {
		case 't': {
			const char *s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(*st, idx, s, -1, SQLITE_TRANSIENT)
			    : sqlite3_bind_null(*st, idx);
			break;
		}
		case 'i':
			rc = sqlite3_bind_int64(*st, idx, va_arg(ap, int64_t));
			break;
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);
			rc = sqlite3_bind_blob(*st, idx, p, (int)n, SQLITE_TRANSIENT);
			break;
		}
		default:
			rc = sqlite3_bind_null(*st, idx);
		}
	}
	va_end(ap);
	if (rc != SQLITE_OK) {
		rt_err *e = dberr(db, "bind");
		stmt_done(db, *st);
		*st = NULL;
		return e;
	}
	return NULL;
}

/* Runs a statement that returns no rows; *changes (may be NULL). */
static rt_err *
run(cmh_db *db, sqlite3_stmt *st, int *changes)
{
	int rc = sqlite3_step(st);
	stmt_done(db, st);
	if (rc != SQLITE_DONE)
		return dberr(db, "step");
	if (changes != NULL)
		*changes = sqlite3_changes(db->h);
	return NULL;
}

static void
col_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static cmh_cert_state
state_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, state_names[i]))
			return (cmh_cert_state)i;
	return CMH_CERT_WAITING;
}

#define REC_COLS "serial, subject, profile, officer, card, tid, cert_req_id, " \
	"state, issued_at, not_after, state_at, revocation_reason"

static void
rec_read(sqlite3_stmt *st, cmh_cert_rec *r)
{
	char state[16];
	memset(r, 0, sizeof(*r));
	col_text(st, 0, r->serial, sizeof(r->serial));
	col_text(st, 1, r->subject, sizeof(r->subject));
	col_text(st, 2, r->profile, sizeof(r->profile));
	col_text(st, 3, r->officer, sizeof(r->officer));
	col_text(st, 4, r->card, sizeof(r->card));
	col_text(st, 5, r->tid, sizeof(r->tid));
	r->cert_req_id = sqlite3_column_int(st, 6);
	col_text(st, 7, state, sizeof(state));
	r->state = state_parse(state);
	r->issued_at = sqlite3_column_int64(st, 8);
	r->not_after = sqlite3_column_int64(st, 9);
	r->state_at = sqlite3_column_int64(st, 10);
	r->revocation_reason = sqlite3_column_type(st, 11) == SQLITE_NULL ? -1 :
	    sqlite3_column_int(st, 11);
}

/* ---- certificates --------------------------------------------------------- */

rt_err *
cmh_db_cert_add(cmh_db *db, const cmh_cert_rec *r, const uint8_t *der,
    size_t len)
{
	sqlite3_stmt *st;
	rt_err *e;
	pthread_mutex_lock(&db->mu);
	e = prep(db, &st, "INSERT INTO certs (" REC_COLS ", der) VALUES "
	    "(?,?,?,?,?,?,?,?,?,?,?,NULL,?)", "ttttttitiiib", r->serial,
	    r->subject, r->profile, r->officer, r->card, r->tid,
	    (int64_t)r->cert_req_id, cmh_cert_state_name(r->state),
	    r->issued_at, r->not_after, r->state_at, der, len);
	if (e == NULL) {
		int rc = sqlite3_step(st);
		stmt_done(db, st);
		if (rc == SQLITE_CONSTRAINT)
			e = rt_err_new(RT_E_ARG, NULL, "certificate %s already "
			    "recorded", r->serial);
		else if (rc != SQLITE_DONE)
			e = dberr(db, "insert certificate");
	}
	pthread_mutex_unlock(&db->mu);
	return e;
}

/* The state of a certificate (by serial or by tid + id); found false if
 * there is none. Called with the mutex held. */
static rt_err *
state_of(cmh_db *db, const char *serial, const char *tid, int id,
    bool *found, cmh_cert_state *s, char *serial_out, size_t cap)
{
	sqlite3_stmt *st;
	rt_err *e;
	char buf[16];
	if (serial != NULL)
		e = prep(db, &st, "SELECT state, serial FROM certs WHERE serial=?",
		    "t", serial);
	else
		e = prep(db, &st, "SELECT state, serial FROM certs WHERE tid=? "
		    "AND cert_req_id=?", "ti", tid, (int64_t)id);
	if (e != NULL)
		return e;
	int rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (*found) {
		col_text(st, 0, buf, sizeof(buf));
		*s = state_parse(buf);
		if (serial_out != NULL)
			col_text(st, 1, serial_out, cap);
	}
	stmt_done(db, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return dberr(db, "select state");
	return NULL;
}

static rt_err *
confirm_locked(cmh_db *db, const char *tid, int id, bool accepted,
    int64_t now)
{
	sqlite3_stmt *st;
	cmh_cert_state s;
	char serial[48];
	bool found;
	rt_err *e;

	e = state_of(db, NULL, tid, id, &found, &s, serial, sizeof(serial));
	if (e == NULL && !found)
		e = rt_err_new(RT_E_NOT_FOUND, NULL, "no certificate with "
		    "certReqId %d in transaction %s", id, tid);
	if (e == NULL && s != CMH_CERT_WAITING)
		e = rt_err_new(RT_E_ARG, NULL, "certificate %s is %s, not waiting "
		    "for confirmation", serial, cmh_cert_state_name(s));
	if (e == NULL)
		e = prep(db, &st, "UPDATE certs SET state=?, state_at=? WHERE "
		    "serial=? AND state='waiting'", "tit",
		    accepted ? "confirmed" : "rejected", now, serial);
	if (e == NULL)
		e = run(db, st, NULL);
	return e;
}

rt_err *
cmh_db_cert_confirm(cmh_db *db, const char *tid, int id, bool accepted,
    int64_t now)
{
	pthread_mutex_lock(&db->mu);
	rt_err *e = confirm_locked(db, tid, id, accepted, now);
	pthread_mutex_unlock(&db->mu);
	return e;
}

static rt_err *
revoke_locked(cmh_db *db, const char *serial, int reason, int64_t now)
{
	sqlite3_stmt *st;
	cmh_cert_state s;
	bool found;
	rt_err *e;

	e = state_of(db, serial, NULL, 0, &found, &s, NULL, 0);
	if (e == NULL && !found)
		e = rt_err_new(RT_E_NOT_FOUND, NULL, "no certificate with serial "
		    "%s in the database", serial);
	if (e == NULL && s == CMH_CERT_REVOKED)
		e = rt_err_new(RT_E_ARG, NULL, "certificate %s is already revoked",
		    serial);
	if (e == NULL)
		e = prep(db, &st, "UPDATE certs SET state='revoked', state_at=?, "
		    "revocation_reason=? WHERE serial=?", "iit", now,
		    (int64_t)(reason < 0 ? 0 : reason), serial);
	if (e == NULL)
		e = run(db, st, NULL);
	return e;
}

rt_err *
cmh_db_cert_revoke(cmh_db *db, const char *serial, int reason, int64_t now)
{
	pthread_mutex_lock(&db->mu);
	rt_err *e = revoke_locked(db, serial, reason, now);
	pthread_mutex_unlock(&db->mu);
	return e;
}

rt_err *
cmh_db_sweep(cmh_db *db, int64_t now, int64_t grace, unsigned *count)
{
	sqlite3_stmt *st;
	int n = 0;
	rt_err *e;

	pthread_mutex_lock(&db->mu);
	/* CRLReason 5: cessationOfOperation (never put into use). A rejected
	 * certificate has been revoked for relying parties since its
	 * rejection (unspecified): it keeps that time and reason, so that
	 * its OCSP answer and CRL entry do not change */
	e = prep(db, &st, "UPDATE certs SET state='revoked', state_at=CASE "
	    "state WHEN 'rejected' THEN state_at ELSE ?1 END, "
	    "revocation_reason=CASE state WHEN 'rejected' THEN 0 ELSE 5 END "
	    "WHERE state IN ('waiting','rejected') AND state_at <= ?2", "ii",
	    now, now - grace);
	if (e == NULL)
		e = run(db, st, &n);
	pthread_mutex_unlock(&db->mu);
	if (count != NULL)
		*count = (unsigned)n;
	return e;
}

rt_err *
cmh_db_cert_get(cmh_db *db, const char *serial, cmh_cert_rec *rec,
    uint8_t **der, size_t *len)
{
	sqlite3_stmt *st;
	rt_err *e;

	if (der != NULL)
		*der = NULL;
	pthread_mutex_lock(&db->mu);
	e = prep(db, &st, "SELECT " REC_COLS ", der FROM certs WHERE serial=?",
	    "t", serial);
	if (e == NULL) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			if (rec != NULL)
				rec_read(st, rec);
			if (der != NULL) {
				size_t n = (size_t)sqlite3_column_bytes(st, 12);
				if ((*der = malloc(n ? n : 1)) == NULL)
					e = rt_err_new(RT_E_NOMEM, NULL, "database");
				else {
					memcpy(*der, sqlite3_column_blob(st, 12), n);
					*len = n;
				}
			}
		} else if (rc == SQLITE_DONE)
			e = rt_err_new(RT_E_NOT_FOUND, NULL, "no certificate with "
			    "serial %s in the database", serial);
		else
			e = dberr(db, "select certificate");
		stmt_done(db, st);
	}
	pthread_mutex_unlock(&db->mu);
	return e;
}

static rt_err *
each(cmh_db *db, sqlite3_stmt *st, void (*fn)(void *, const cmh_cert_rec *),
    void *ctx)
{
	cmh_cert_rec r;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rec_read(st, &r);
		fn(ctx, &r);
	}
	stmt_done(db, st);
	return rc == SQLITE_DONE ? NULL : dberr(db, "select certificates");
}

rt_err *
cmh_db_certs_of_tid(cmh_db *db, const char *tid,
    void (*fn)(void *ctx, const cmh_cert_rec *r), void *ctx)
{
	sqlite3_stmt *st;
	rt_err *e;
	pthread_mutex_lock(&db->mu);
	e = prep(db, &st, "SELECT " REC_COLS " FROM certs WHERE tid=? ORDER BY "
	    "cert_req_id", "t", tid);
	if (e == NULL)
		e = each(db, st, fn, ctx);
	pthread_mutex_unlock(&db->mu);
	return e;
}

rt_err *
cmh_db_certs_each(cmh_db *db, void (*fn)(void *ctx, const cmh_cert_rec *r),
    void *ctx)
{
	return cmh_db_certs_find(db, NULL, fn, ctx);
}

rt_err *
cmh_db_certs_find(cmh_db *db, const cmh_cert_filter *f,
    void (*fn)(void *ctx, const cmh_cert_rec *r), void *ctx)
{
	static const cmh_cert_filter all = { .state = -1 };
	sqlite3_stmt *st;
	rt_err *e;
	if (f == NULL)
		f = &all;
	/* a NULL parameter selects everything: one statement for every
	 * combination of filters */
	pthread_mutex_lock(&db->mu);
	e = prep(db, &st, "SELECT " REC_COLS " FROM certs WHERE "
	    "(?1 IS NULL OR state = ?1) AND (?2 IS NULL OR card = ?2) AND "
	    "(?3 IS NULL OR officer = ?3) AND (?4 IS NULL OR profile = ?4) AND "
	    "issued_at >= ?5 ORDER BY issued_at, rowid", "tttti",
	    f->state < 0 ? NULL : cmh_cert_state_name((cmh_cert_state)f->state),
	    f->card, f->officer, f->profile, f->since > 0 ? f->since : INT64_MIN);
	if (e == NULL)
		e = each(db, st, fn, ctx);
	pthread_mutex_unlock(&db->mu);
	return e;
}

static rt_err *
count_of(cmh_db *db, const char *sql, unsigned *count)
{
	sqlite3_stmt *st;
	rt_err *e;
	pthread_mutex_lock(&db->mu);
	e = prep(db, &st, sql, "");
	if (e == NULL) {
		if (sqlite3_step(st) == SQLITE_ROW)
			*count = (unsigned)sqlite3_column_int64(st, 0);
		else
			e = dberr(db, "count");
		stmt_done(db, st);
	}
	pthread_mutex_unlock(&db->mu);
	return e;
}

rt_err *
cmh_db_cert_count(cmh_db *db, unsigned *count)
{
	return count_of(db, "SELECT count(*) FROM certs", count);
}

rt_err *
cmh_db_cert_states(cmh_db *db, unsigned counts[CMH_CERT_NSTATES])
{
	sqlite3_stmt *st;
	rt_err *e;
	int rc;
	memset(counts, 0, CMH_CERT_NSTATES * sizeof(counts[0]));
	pthread_mutex_lock(&db->mu);
	e = prep(db, &st, "SELECT state, count(*) FROM certs GROUP BY state", "");
	if (e == NULL) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(st, 0);
			for (int i = 0; name != NULL && i < CMH_CERT_NSTATES; i++)
				if (strcmp(name, state_names[i]) == 0)
					counts[i] = (unsigned)sqlite3_column_int64(st,
					    1);
		}
		if (rc != SQLITE_DONE)
			e = dberr(db, "certificates by state");
		stmt_done(db, st);
	}
	pthread_mutex_unlock(&db->mu);
	return e;
}

rt_err *
cmh_db_ping(cmh_db *db)
{
	unsigned one = 0;
	return count_of(db, "SELECT 1", &one);
}

rt_err *
cmh_db_revoked_stamp(cmh_db *db, unsigned *stamp)
{
	/* changes whenever a certificate is revoked or rejected: their
	 * number plus the latest change, folded */
	return count_of(db, "SELECT count(*) * 1000003 + coalesce(max(state_at),"
	    " 0) FROM certs WHERE state IN ('revoked','rejected')", stamp);
}

rt_err *
cmh_db_audit_count(cmh_db *db, unsigned *count)
{
	return count_of(db, "SELECT count(*) FROM audit", count);
}

/* ---- transactions and nonces ---------------------------------------------- */

static rt_err *
txn_begin_locked(cmh_db *db, const char *tid, const char *officer,
    const char *kind, const char *expect_nonce, int64_t now)
{
	sqlite3_stmt *st;
	rt_err *e;
	e = prep(db, &st, "INSERT INTO transactions (tid, officer, kind, "
	    "expect_nonce, created_at, updated_at) VALUES (?,?,?,?,?,?)",
	    "ttttii", tid, officer, kind, expect_nonce, now, now);
	if (e == NULL) {
		int rc = sqlite3_step(st);
		stmt_done(db, st);
		if (rc == SQLITE_CONSTRAINT)
			e = rt_err_new(RT_E_AUTH, NULL, "transactionID %s was used "
			    "before (replay?)", tid);
		else if (rc != SQLITE_DONE)
			e = dberr(db, "insert transaction");
	}
	return e;
}

rt_err *
cmh_db_txn_begin(cmh_db *db, const char *tid, const char *officer,
    const char *kind, const char *expect_nonce, int64_t now)
{
	pthread_mutex_lock(&db->mu);
	rt_err *e = txn_begin_locked(db, tid, officer, kind, expect_nonce, now);
	pthread_mutex_unlock(&db->mu);
	return e;
}

static rt_err *
txn_continue_locked(cmh_db *db, const char *tid, const char *officer,
    const char *recip_nonce, const char *next_nonce, int64_t now)
{
	sqlite3_stmt *st;
	char who[128], expect[160];
	rt_err *e;

	e = prep(db, &st, "SELECT officer, expect_nonce FROM transactions WHERE "
	    "tid=? AND expect_nonce IS NOT NULL", "t", tid);
	if (e == NULL) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			col_text(st, 0, who, sizeof(who));
			col_text(st, 1, expect, sizeof(expect));
		} else if (rc == SQLITE_DONE)
			e = rt_err_new(RT_E_NOT_FOUND, NULL, "no open transaction "
			    "%s", tid);
		else
			e = dberr(db, "select transaction");
		stmt_done(db, st);
	}
	if (e == NULL && strcmp(who, officer) != 0)
		e = rt_err_new(RT_E_AUTH, NULL, "transaction %s belongs to "
		    "another officer", tid);
	if (e == NULL && (recip_nonce == NULL || strcmp(expect, recip_nonce)))
		e = rt_err_new(RT_E_AUTH, NULL, "recipNonce does not match the "
		    "senderNonce of our last message in transaction %s", tid);
	if (e == NULL)
		e = prep(db, &st, "UPDATE transactions SET expect_nonce=?, "
		    "updated_at=? WHERE tid=?", "tit", next_nonce, now, tid);
	if (e == NULL)
		e = run(db, st, NULL);
	return e;
}

rt_err *
cmh_db_txn_continue(cmh_db *db, const char *tid, const char *officer,
    const char *recip_nonce, const char *next_nonce, int64_t now)
{
	pthread_mutex_lock(&db->mu);
	rt_err *e = txn_continue_locked(db, tid, officer, recip_nonce,
	    next_nonce, now);
	pthread_mutex_unlock(&db->mu);
	return e;
}

/* BEGIN IMMEDIATE ... COMMIT around fn's statements, all or nothing. */
static rt_err *
in_transaction(cmh_db *db, rt_err *(*fn)(cmh_db *, void *), void *arg)
{
	char *msg = NULL;
	rt_err *e = NULL;
	pthread_mutex_lock(&db->mu);
	if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, &msg) !=
	    SQLITE_OK) {
		e = rt_err_new(RT_E_IO, NULL, "database: begin: %s", msg ? msg :
		    "?");
		sqlite3_free(msg);
		pthread_mutex_unlock(&db->mu);
		return e;
	}
	e = fn(db, arg);
	if (e == NULL && sqlite3_exec(db->h, "COMMIT", NULL, NULL, &msg) !=
	    SQLITE_OK) {
		e = rt_err_new(RT_E_IO, NULL, "database: commit: %s", msg ? msg :
		    "?");
		sqlite3_free(msg);
	}
	if (e != NULL)
		(void)sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&db->mu);
	return e;
}

typedef struct {
	const char *tid, *officer, *recip_nonce, *kind;
	const int *ids;
	const bool *accept;
	const char *const *serials;
	const int *reasons;
	size_t n;
	int64_t now;
} batch;

static rt_err *
certconf_fn(cmh_db *db, void *arg)
{
	const batch *b = arg;
	rt_err *e = txn_continue_locked(db, b->tid, b->officer, b->recip_nonce,
	    NULL, b->now);
	for (size_t i = 0; e == NULL && i < b->n; i++)
		e = confirm_locked(db, b->tid, b->ids[i], b->accept[i], b->now);
	return e;
}

rt_err *
cmh_db_certconf(cmh_db *db, const char *tid, const char *officer,
    const char *recip_nonce, const int *ids, const bool *accept, size_t n,
    int64_t now)
{
	batch b = { .tid = tid, .officer = officer, .recip_nonce = recip_nonce,
	    .ids = ids, .accept = accept, .n = n, .now = now };
	return in_transaction(db, certconf_fn, &b);
}

static rt_err *
revoke_fn(cmh_db *db, void *arg)
{
	const batch *b = arg;
	rt_err *e = txn_begin_locked(db, b->tid, b->officer, b->kind, NULL,
	    b->now);
	for (size_t i = 0; e == NULL && i < b->n; i++)
		e = revoke_locked(db, b->serials[i], b->reasons[i], b->now);
	return e;
}

rt_err *
cmh_db_revoke_all(cmh_db *db, const char *tid, const char *officer,
    const char *kind, const char *const *serials, const int *reasons,
    size_t n, int64_t now)
{
	batch b = { .tid = tid, .officer = officer, .kind = kind,
	    .serials = serials, .reasons = reasons, .n = n, .now = now };
	return in_transaction(db, revoke_fn, &b);
}

rt_err *
cmh_db_txn_get(cmh_db *db, const char *tid, char *officer, size_t ocap,
    char *expect_nonce, size_t ncap)
{
	sqlite3_stmt *st;
	rt_err *e;
	officer[0] = expect_nonce[0] = '\0';
	pthread_mutex_lock(&db->mu);
	e = prep(db, &st, "SELECT officer, expect_nonce FROM transactions WHERE "
	    "tid=?", "t", tid);
	if (e == NULL) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			col_text(st, 0, officer, ocap);
			col_text(st, 1, expect_nonce, ncap);
		} else if (rc == SQLITE_DONE)
			e = rt_err_new(RT_E_NOT_FOUND, NULL, "no transaction %s", tid);
		else
			e = dberr(db, "select transaction");
		stmt_done(db, st);
	}
	pthread_mutex_unlock(&db->mu);
	return e;
}

rt_err *
cmh_db_nonce_use(cmh_db *db, const char *nonce, int64_t now)
{
	sqlite3_stmt *st;
	rt_err *e;
	pthread_mutex_lock(&db->mu);
	e = prep(db, &st, "INSERT INTO nonces (nonce, seen_at) VALUES (?,?)",
	    "ti", nonce, now);
	if (e == NULL) {
		int rc = sqlite3_step(st);
		stmt_done(db, st);
		if (rc == SQLITE_CONSTRAINT)
			e = rt_err_new(RT_E_AUTH, NULL, "senderNonce %s was used "
			    "before (replay?)", nonce);
		else if (rc != SQLITE_DONE)
			e = dberr(db, "insert nonce");
	}
	pthread_mutex_unlock(&db->mu);
	return e;
}

/* ---- management keys, audit ----------------------------------------------- */

/* Management keys are sealed under the KEK (cmhost_kek.h) with the card
 * and algorithm as associated data; kek_id names the KEK of each row.
 * Without a KEK none is stored: a stolen database gives no card's key. */

static rt_err *
no_kek(const char *card)
{
	return rt_err_new(RT_E_CONFIG, NULL, "management key of card %s: no "
	    "key-encryption key configured (database.kek_file or "
	    "database.kek_passphrase): cmhost keeps no management key in "
	    "clear", card);
}

static rt_err *
mgmt_put_locked(cmh_db *db, const cmh_kek *k, const char *card,
    const char *alg, const uint8_t *key, size_t len, int64_t now)
{
	sqlite3_stmt *st;
	uint8_t *blob;
	size_t bl;
	rt_err *e;
	if ((e = cmh_kek_seal(k, card, alg, key, len, &blob, &bl)) != NULL)
		return e;
	e = prep(db, &st, "INSERT OR REPLACE INTO mgmt_keys (card, alg, key, "
	    "updated_at, kek_id) VALUES (?,?,?,?,?)", "ttbit", card, alg, blob,
	    bl, now, cmh_kek_id(k));
	free(blob);
	return e != NULL ? e : run(db, st, NULL);
}

rt_err *
cmh_db_mgmt_key_set(cmh_db *db, const char *card, const char *alg,
    const uint8_t *key, size_t len, int64_t now)
{
	rt_err *e;
	pthread_mutex_lock(&db->mu);
	e = db->kek == NULL ? no_kek(card) :
	    mgmt_put_locked(db, db->kek, card, alg, key, len, now);
	pthread_mutex_unlock(&db->mu);
	return e;
}

/* A row's key in clear (kek NULL: a row in clear is given as it is). */
static rt_err *
mgmt_open_row(sqlite3_stmt *st, const cmh_kek *k, const char *card,
    const char *alg, uint8_t **key, size_t *len)
{
	const uint8_t *b = sqlite3_column_blob(st, 1);
	size_t n = (size_t)sqlite3_column_bytes(st, 1);
	const unsigned char *kid = sqlite3_column_text(st, 2);
	*key = NULL;
	if (kid != NULL) {
		if (k == NULL)
			return no_kek(card);
		if (strcmp((const char *)kid, cmh_kek_id(k)) != 0)
			return rt_err_new(RT_E_CRYPTO, NULL, "the management key "
			    "of card %s is encrypted under key-encryption key %s, "
			    "not under %s (key %s): wrong KEK", card, kid,
			    cmh_kek_source(k), cmh_kek_id(k));
		return cmh_kek_open(k, card, alg, b, n, key, len);
	}
	if ((*key = malloc(n ? n : 1)) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "database");
	memcpy(*key, b, n);
	*len = n;
	return NULL;
}

rt_err *
cmh_db_mgmt_key_get(cmh_db *db, const char *card, char *alg, size_t alg_cap,
    uint8_t **key, size_t *len)
{
	sqlite3_stmt *st;
	rt_err *e;
	*key = NULL;
	pthread_mutex_lock(&db->mu);
	e = prep(db, &st, "SELECT alg, key, kek_id FROM mgmt_keys WHERE card=?",
	    "t", card);
	if (e == NULL) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			col_text(st, 0, alg, alg_cap);
			e = mgmt_open_row(st, db->kek, card, alg, key, len);
		} else if (rc == SQLITE_DONE)
			e = rt_err_new(RT_E_NOT_FOUND, NULL, "no management key for "
			    "card %s", card);
		else
			e = dberr(db, "select management key");
		stmt_done(db, st);
	}
	pthread_mutex_unlock(&db->mu);
	return e;
}

/* Re-seals every row under `to` (rows in clear, or under `from`); called
 * in a transaction. */
typedef struct {
	const cmh_kek *from, *to;
	bool clear_only;	/* only the rows in clear */
	unsigned count;
} reseal;

static rt_err *
reseal_fn(cmh_db *db, void *arg)
{
	reseal *r = arg;
	sqlite3_stmt *st;
	rt_err *e;
	struct row { char card[128], alg[16]; uint8_t *key; size_t len;
		int64_t at; } *rows = NULL;
	size_t n = 0, cap = 0;
	int rc = SQLITE_DONE;

	if ((e = prep(db, &st, r->clear_only ? "SELECT card, key, kek_id, alg, "
	    "updated_at FROM mgmt_keys WHERE kek_id IS NULL" : "SELECT card, "
	    "key, kek_id, alg, updated_at FROM mgmt_keys", "")) != NULL)
		return e;
	while (e == NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			struct row *nr = realloc(rows, (cap = cap ? 2 * cap : 16) *
			    sizeof(*rows));
			if (nr == NULL) {
				e = rt_err_new(RT_E_NOMEM, NULL, "database");
				break;
			}
			rows = nr;
		}
		struct row *w = &rows[n];
		col_text(st, 0, w->card, sizeof(w->card));
		col_text(st, 3, w->alg, sizeof(w->alg));
		w->at = sqlite3_column_int64(st, 4);
		if ((e = mgmt_open_row(st, r->from, w->card, w->alg, &w->key,
		    &w->len)) == NULL)
			n++;
	}
	if (e == NULL && rc != SQLITE_DONE)
		e = dberr(db, "select management keys");
	stmt_done(db, st);
	for (size_t i = 0; i < n; i++) {
		if (e == NULL)
			e = mgmt_put_locked(db, r->to, rows[i].card, rows[i].alg,
			    rows[i].key, rows[i].len, rows[i].at);
		rt_wipe(rows[i].key, rows[i].len);
		free(rows[i].key);
	}
	free(rows);
	if (e == NULL)
		r->count = (unsigned)n;
	return e;
}

rt_err *
cmh_db_set_kek(cmh_db *db, const cmh_kek *k, unsigned *migrated)
{
	sqlite3_stmt *st;
	char other[CMH_KEK_ID_LEN + 8] = "";
	rt_err *e;
	if (migrated != NULL)
		*migrated = 0;
	/* the rows must be this KEK's: a wrong file is named at start, not
	 * at the first request */
	pthread_mutex_lock(&db->mu);
	e = prep(db, &st, "SELECT kek_id FROM mgmt_keys WHERE kek_id IS NOT "
	    "NULL AND kek_id <> ? LIMIT 1", "t", cmh_kek_id(k));
	if (e == NULL) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			col_text(st, 0, other, sizeof(other));
		else if (rc != SQLITE_DONE)
			e = dberr(db, "select management keys");
		stmt_done(db, st);
	}
	pthread_mutex_unlock(&db->mu);
	if (e == NULL && other[0] != '\0')
		return rt_err_new(RT_E_CRYPTO, NULL, "%s: not the key-encryption "
		    "key of this database (its management keys are under key %s, "
		    "this is key %s): wrong KEK", cmh_kek_source(k), other,
		    cmh_kek_id(k));
	if (e != NULL)
		return e;
	reseal r = { .from = NULL, .to = k, .clear_only = true };
	if ((e = in_transaction(db, reseal_fn, &r)) != NULL)
		return rt_err_wrap(e, "sealing the management keys kept in clear");
	pthread_mutex_lock(&db->mu);
	/* the pages that held them in clear are overwritten now, not at some
	 * later checkpoint */
	if (r.count > 0)
		(void)sqlite3_exec(db->h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL,
		    NULL, NULL);
	db->kek = k;
	pthread_mutex_unlock(&db->mu);
	if (migrated != NULL)
		*migrated = r.count;
	return NULL;
}

rt_err *
cmh_db_rekey(cmh_db *db, const cmh_kek *to, unsigned *count)
{
	rt_err *e;
	if (count != NULL)
		*count = 0;
	if (db->kek == NULL)
		return rt_err_new(RT_E_CONFIG, NULL, "rekey: no key-encryption "
		    "key configured to open the management keys with");
	reseal r = { .from = db->kek, .to = to, .clear_only = false };
	if ((e = in_transaction(db, reseal_fn, &r)) != NULL)
		return rt_err_wrap(e, "rekey (nothing changed)");
	pthread_mutex_lock(&db->mu);
	db->kek = to;
	pthread_mutex_unlock(&db->mu);
	if (count != NULL)
		*count = r.count;
	return NULL;
}

rt_err *
cmh_db_kek_salt(cmh_db *db, uint8_t *salt, size_t len)
{
	sqlite3_stmt *st;
	rt_err *e;
	int rc;
	pthread_mutex_lock(&db->mu);
	/* made once, by whichever instance comes first */
	if ((e = rt_random(salt, len)) == NULL &&
	    (e = prep(db, &st, "INSERT OR IGNORE INTO meta (name, value) VALUES "
	    "('kek_salt', ?)", "b", salt, len)) == NULL)
		e = run(db, st, NULL);
	if (e == NULL && (e = prep(db, &st, "SELECT value FROM meta WHERE "
	    "name='kek_salt'", "")) == NULL) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && (size_t)sqlite3_column_bytes(st, 0) == len)
			memcpy(salt, sqlite3_column_blob(st, 0), len);
		else
			e = rc == SQLITE_ROW ? rt_err_new(RT_E_FORMAT, NULL,
			    "database: the KEK salt is not %zu bytes", len) :
			    dberr(db, "select KEK salt");
		stmt_done(db, st);
	}
	pthread_mutex_unlock(&db->mu);
	return e;
}

rt_err *
cmh_db_audit(cmh_db *db, int64_t now, const char *who, const char *station,
    const char *action, const char *detail, const char *result)
{
	sqlite3_stmt *st;
	rt_err *e;
	pthread_mutex_lock(&db->mu);
	e = prep(db, &st, "INSERT INTO audit (at, who, station, action, detail, "
	    "result) VALUES (?,?,?,?,?,?)", "itttt" "t", now, who ? who : "-",
	    station ? station : "-", action, detail ? detail : "",
	    result ? result : "ok");
	if (e == NULL)
		e = run(db, st, NULL);
	pthread_mutex_unlock(&db->mu);
	return e;
}

rt_err *
cmh_db_audit_find(cmh_db *db, const cmh_audit_filter *f,
    void (*fn)(void *ctx, const cmh_audit_rec *r), void *ctx)
{
	static const cmh_audit_filter all;
	sqlite3_stmt *st;
	cmh_audit_rec r;
	rt_err *e;
	int rc;
	if (f == NULL)
		f = &all;
	pthread_mutex_lock(&db->mu);
	/* the card as the service writes it: "card HEX: ..." (and "card HEX"
	 * alone); LIKE's wildcards are escaped in the card */
	e = prep(db, &st, "SELECT id, at, who, station, action, detail, result "
	    "FROM audit WHERE (?1 IS NULL OR who = ?1) AND "
	    "(?2 IS NULL OR action = ?2) AND (?3 IS NULL OR detail = 'card ' || "
	    "?3 OR detail LIKE 'card ' || replace(replace(replace(?3, '\\', "
	    "'\\\\'), '%', '\\%'), '_', '\\_') || ':%' ESCAPE '\\') AND "
	    "at >= ?4 ORDER BY id", "ttti", f->who, f->action, f->card,
	    f->since > 0 ? f->since : INT64_MIN);
	if (e != NULL) {
		pthread_mutex_unlock(&db->mu);
		return e;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r.id = sqlite3_column_int64(st, 0);
		r.at = sqlite3_column_int64(st, 1);
		col_text(st, 2, r.who, sizeof(r.who));
		col_text(st, 3, r.station, sizeof(r.station));
		col_text(st, 4, r.action, sizeof(r.action));
		col_text(st, 5, r.detail, sizeof(r.detail));
		col_text(st, 6, r.result, sizeof(r.result));
		fn(ctx, &r);
	}
	stmt_done(db, st);
	e = rc == SQLITE_DONE ? NULL : dberr(db, "select audit records");
	pthread_mutex_unlock(&db->mu);
	return e;
}
