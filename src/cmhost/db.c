/* db.c - cmhost's database: the interface of include/raterm/cmhost_db.h
 * over a backend (src/cmhost/db_int.h: db_sqlite.c, db_pg.c), the schema
 * and its migrations, every query and the rules of the state machine,
 * once for both. A handle is a pool of connections (db_take, db_give).
 *
 * The invariants hold with several instances on one database (PostgreSQL,
 * READ COMMITTED): every state transition is an UPDATE ... WHERE state =
 * (what it must be) checked by its row count (a second certConf or rr of
 * the same certificate waits for the first's row lock, then finds the
 * state changed and changes nothing); a transaction ID and a nonce are
 * taken by INSERT ... ON CONFLICT DO NOTHING (the row count says who
 * took it); the sweep runs in one instance at a time (an advisory lock);
 * a transaction that fails on a serialization failure or a deadlock is
 * run again, at most DB_RETRIES times. */
#include "db_int.h"
#include "raterm/cmhost.h"
#include "raterm/cmhost_kek.h"
#include "raterm/signer.h"
#include "raterm/util.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_RETRIES	5
#define DB_MAX_ARGS	16

/* A handle is a pool of connections (PostgreSQL: database.pool of them;
 * SQLite: one): each call takes a free one (waiting while none is) and
 * gives it back. A connection is a struct cmh_db of its own (a slot: its
 * head is the handle); what the handle keeps is the head's. */
struct cmh_db {
	const dbops *ops;
	void *conn;		/* a slot's connection */
	cmh_db *head;		/* the handle (the handle: itself) */
	char label[320];
	unsigned found_version, version;
	bool in_txn;		/* a slot's, taken: in in_transaction */
	dbq_status last;	/* a slot's, taken: the last statement's
				 * failure */
	bool busy;		/* a slot: taken (under the head's mu) */
	/* the handle's */
	pthread_mutex_t mu;	/* the pool; kek */
	pthread_cond_t freed;	/* a slot given back */
	cmh_db *slots;
	unsigned nslots;
	const cmh_kek *kek;	/* borrowed; NULL: none configured */
	/* PostgreSQL: a connection outside the pool for the CRL (its lock
	 * and the revocations' notifications), made at its first use */
	pthread_mutex_t side_mu;
	cmh_db *side;
	char *url, *password_file;	/* to connect it */
};

/* A free connection of db's pool (db: the handle or one of its slots),
 * waiting until one is. */
static cmh_db *
db_take(cmh_db *db)
{
	cmh_db *h = db->head;
	pthread_mutex_lock(&h->mu);
	for (;;) {
		for (unsigned i = 0; i < h->nslots; i++)
			if (!h->slots[i].busy) {
				h->slots[i].busy = true;
				pthread_mutex_unlock(&h->mu);
				return &h->slots[i];
			}
		pthread_cond_wait(&h->freed, &h->mu);
	}
}

static void
db_give(cmh_db *slot)
{
	cmh_db *h = slot->head;
	pthread_mutex_lock(&h->mu);
	slot->busy = false;
	pthread_cond_signal(&h->freed);
	pthread_mutex_unlock(&h->mu);
}

static const cmh_kek *
kek_of(cmh_db *db)
{
	cmh_db *h = db->head;
	pthread_mutex_lock(&h->mu);
	const cmh_kek *k = h->kek;
	pthread_mutex_unlock(&h->mu);
	return k;
}

static void
kek_set(cmh_db *db, const cmh_kek *k)
{
	cmh_db *h = db->head;
	pthread_mutex_lock(&h->mu);
	h->kek = k;
	pthread_mutex_unlock(&h->mu);
}

static const char *const state_names[] = { "waiting", "confirmed", "rejected",
	"revoked" };

const char *
cmh_cert_state_name(cmh_cert_state s)
{
	return (unsigned)s < 4 ? state_names[s] : "?";
}

/* ---- schema and migrations ------------------------------------------------ */

/* Each migration once, in order, in a transaction with its row in
 * schema_version; never edited once released (a change is a new one).
 * The text is shared where the dialects agree, else one per backend. */
static const struct migration {
	const char *what;
	const char *shared;
	const char *text[2];	/* [DB_SQLITE], [DB_PG] when shared is NULL */
} migrations[] = {
	{ "certificates, transactions, nonces, management keys, audit", NULL, {
	/* SQLite: the schema of the databases made before the migrations
	 * (IF NOT EXISTS: those pass through it unchanged) */
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
	"  result TEXT NOT NULL);",
	/* PostgreSQL: the same tables; seq is SQLite's rowid (the order
	 * of insertion) */
	"CREATE TABLE certs ("
	"  seq BIGINT GENERATED ALWAYS AS IDENTITY,"
	"  serial TEXT PRIMARY KEY,"
	"  subject TEXT NOT NULL,"
	"  profile TEXT NOT NULL,"
	"  officer TEXT NOT NULL,"
	"  card TEXT NOT NULL DEFAULT '',"
	"  tid TEXT NOT NULL,"
	"  cert_req_id INTEGER NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN "
	"    ('waiting','confirmed','rejected','revoked')),"
	"  issued_at BIGINT NOT NULL,"
	"  not_after BIGINT NOT NULL,"
	"  state_at BIGINT NOT NULL,"
	"  revocation_reason INTEGER,"
	"  der BYTEA NOT NULL);"
	"CREATE INDEX certs_tid ON certs(tid, cert_req_id);"
	"CREATE INDEX certs_state ON certs(state, state_at);"
	"CREATE TABLE transactions ("
	"  tid TEXT PRIMARY KEY,"
	"  officer TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  expect_nonce TEXT,"
	"  created_at BIGINT NOT NULL,"
	"  updated_at BIGINT NOT NULL);"
	"CREATE TABLE nonces ("
	"  nonce TEXT PRIMARY KEY,"
	"  seen_at BIGINT NOT NULL);"
	"CREATE TABLE mgmt_keys ("
	"  card TEXT PRIMARY KEY,"
	"  alg TEXT NOT NULL,"
	"  key BYTEA NOT NULL,"
	"  updated_at BIGINT NOT NULL,"
	"  kek_id TEXT);"
	"CREATE TABLE meta ("
	"  name TEXT PRIMARY KEY,"
	"  value BYTEA NOT NULL);"
	"CREATE TABLE audit ("
	"  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	"  at BIGINT NOT NULL,"
	"  who TEXT NOT NULL,"
	"  station TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  result TEXT NOT NULL);" } },
	{ "indexes of cmhost certs and cmhost audit (--since, oldest first)",
	"CREATE INDEX IF NOT EXISTS certs_issued ON certs(issued_at);"
	"CREATE INDEX IF NOT EXISTS audit_at ON audit(at);", { NULL, NULL } },
	/* the current CRL of each CA, shared by every instance: one CRL
	 * number sequence (cmh_db_crl_put) */
	{ "the current CRL of each CA", NULL, {
	"CREATE TABLE crls ("
	"  ca TEXT PRIMARY KEY,"
	"  number INTEGER NOT NULL,"
	"  made_at INTEGER NOT NULL,"
	"  stamp INTEGER NOT NULL,"
	"  der BLOB NOT NULL);",
	"CREATE TABLE crls ("
	"  ca TEXT PRIMARY KEY,"
	"  number BIGINT NOT NULL,"
	"  made_at BIGINT NOT NULL,"
	"  stamp BIGINT NOT NULL,"
	"  der BYTEA NOT NULL);" } },
};
#define SCHEMA_LATEST ((unsigned)(sizeof(migrations) / sizeof(migrations[0])))

/* ---- statements ---------------------------------------------------------- */

/* Runs sql with the arguments fmt describes: 't' text (NULL: SQL NULL),
 * 'i' int64, 'b' blob (pointer, size_t); *q: its rows (q_end). Outside a
 * transaction, a statement that met a serialization failure or a deadlock
 * is run again. Called with db->mu held. */
static rt_err *
q_vrun(cmh_db *db, void **q, const char *sql, const char *fmt, va_list ap)
{
	dbv a[DB_MAX_ARGS];
	int n = 0;
	for (const char *f = fmt; *f; f++, n++) {
		if (n == DB_MAX_ARGS)
			return rt_err_new(RT_E_INTERNAL, NULL, "database: more "
			    "than %d parameters", DB_MAX_ARGS);
		memset(&a[n], 0, sizeof(a[n]));
		switch (*f) {
		case 't':
			a[n].k = DBV_TEXT;
			a[n].s = va_arg(ap, const char *);
			break;
		case 'i':
			a[n].k = DBV_INT;
			a[n].i = va_arg(ap, int64_t);
			break;
		case 'b':
			a[n].k = DBV_BLOB;
			a[n].p = va_arg(ap, const void *);
			a[n].n = va_arg(ap, size_t);
			break;
		default:
			return rt_err_new(RT_E_INTERNAL, NULL, "database: "
			    "parameter type '%c'", *f);
		}
	}
	for (int attempt = 1;; attempt++) {
		dbq_status why;
		rt_err *e = db->ops->run(db->conn, sql, a, n, q, &why);
		if (e == NULL)
			return NULL;
		db->last = why;
		if (why != DBQ_RETRY || db->in_txn || attempt >= DB_RETRIES)
			return e;
		rt_err_free(e);
		nanosleep(&(struct timespec){ 0, attempt * 2000000L }, NULL);
	}
}

static rt_err *
q_run(cmh_db *db, void **q, const char *sql, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_err *e = q_vrun(db, q, sql, fmt, ap);
	va_end(ap);
	return e;
}

static void
q_end(cmh_db *db, void *q)
{
	db->ops->end(db->conn, q);
}

/* A statement without rows; *changes (may be NULL): the rows written. */
static rt_err *
q_exec(cmh_db *db, int64_t *changes, const char *sql, const char *fmt, ...)
{
	void *q;
	va_list ap;
	va_start(ap, fmt);
	rt_err *e = q_vrun(db, &q, sql, fmt, ap);
	va_end(ap);
	if (e != NULL)
		return e;
	if (changes != NULL)
		*changes = db->ops->changes(db->conn, q);
	q_end(db, q);
	return NULL;
}

/* The next row of q: true, or false at the end (*e: a failure). */
static bool
q_row(cmh_db *db, void *q, rt_err **e)
{
	return db->ops->next(db->conn, q, e) == 1;
}

static void
col_text(cmh_db *db, void *q, int i, char *out, size_t cap)
{
	snprintf(out, cap, "%s", db->ops->col_text(q, i));
}

/* One integer (the first column of the first row) of a query. */
static rt_err *
q_int(cmh_db *db, int64_t *v, const char *sql, const char *fmt, ...)
{
	void *q;
	rt_err *e = NULL;
	va_list ap;
	va_start(ap, fmt);
	rt_err *re = q_vrun(db, &q, sql, fmt, ap);
	va_end(ap);
	if (re != NULL)
		return re;
	if (q_row(db, q, &e))
		*v = db->ops->col_int(q, 0);
	else if (e == NULL)
		e = rt_err_new(RT_E_IO, NULL, "database %s: no row from %.40s",
		    db->label, sql);
	q_end(db, q);
	return e;
}

/* BEGIN ... COMMIT around fn's statements, all or nothing; run again
 * after a serialization failure or a deadlock (at most DB_RETRIES times).
 * Called with db->mu held. */
static rt_err *
in_txn_locked(cmh_db *db, rt_err *(*fn)(cmh_db *, void *), void *arg)
{
	rt_err *e;
	for (int attempt = 1;; attempt++) {
		db->in_txn = true;
		db->last = DBQ_OK;
		e = q_exec(db, NULL, db->ops->begin_sql, "");
		if (e == NULL)
			e = fn(db, arg);
		if (e == NULL && (e = q_exec(db, NULL, "COMMIT", "")) != NULL)
			e = rt_err_wrap(e, "database %s: commit", db->label);
		if (e != NULL) {
			dbq_status why = db->last;
			rt_err_free(q_exec(db, NULL, "ROLLBACK", ""));
			db->last = why;
		}
		db->in_txn = false;
		if (e == NULL || db->last != DBQ_RETRY || attempt >= DB_RETRIES)
			return e;
		rt_err_free(e);
		uint8_t jitter = 0;
		rt_err_free(rt_random(&jitter, 1));
		nanosleep(&(struct timespec){ 0, attempt * 2000000L +
		    jitter * 20000L }, NULL);
	}
}

static rt_err *
in_transaction(cmh_db *db, rt_err *(*fn)(cmh_db *, void *), void *arg)
{
	db = db_take(db);
	rt_err *e = in_txn_locked(db, fn, arg);
	db_give(db);
	return e;
}

/* ---- open, migrate -------------------------------------------------------- */

void
cmh_db_url_redact(const char *url, char *out, size_t cap)
{
	const char *s = strstr(url, "://"), *at, *colon, *slash;
	size_t o = 0;
	if (cap == 0)
		return;
	out[0] = '\0';
	if (s == NULL) {
		snprintf(out, cap, "%s", "(not a URL)");
		return;
	}
	s += 3;
	slash = s + strcspn(s, "/?");
	at = memchr(s, '@', (size_t)(slash - s));
	colon = at != NULL ? memchr(s, ':', (size_t)(at - s)) : NULL;
	/* scheme://user[:password]@rest: without ":password" */
	o = (size_t)snprintf(out, cap, "%.*s", (int)((colon ? colon : s) - url),
	    url);
	if (o < cap)
		o += (size_t)snprintf(out + o, cap - o, "%s", colon ? at : s);
	/* ?...password=...&...: the value cut */
	char *p = strstr(out, "password=");
	if (p != NULL && p > out && (p[-1] == '?' || p[-1] == '&')) {
		char *end = p + 9 + strcspn(p + 9, "&");
		memmove(p + 9, end, strlen(end) + 1);
	}
}

/* The version of the schema: 0 for a database without schema_version
 * (new, or made before the migrations). */
static rt_err *
schema_version(cmh_db *db, unsigned *v)
{
	int64_t n = 0;
	rt_err *e = q_int(db, &n, db->ops->has_table_sql, "t",
	    "schema_version");
	if (e == NULL && n > 0)
		e = q_int(db, &n, "SELECT coalesce(max(version), 0) FROM "
		    "schema_version", "");
	*v = (unsigned)n;
	return e;
}

typedef struct {
	unsigned version;	/* the migration to apply */
	bool applied;
} migrating;

static rt_err *
migrate_fn(cmh_db *db, void *arg)
{
	migrating *m = arg;
	const struct migration *mg = &migrations[m->version - 1];
	const char *text = mg->shared ? mg->shared : mg->text[db->ops->dialect];
	dbq_status why;
	unsigned have;
	rt_err *e;

	m->applied = false;
	/* two instances migrating at once: the second waits, then finds it
	 * done */
	if (db->ops->schema_lock_sql != NULL &&
	    (e = q_exec(db, NULL, db->ops->schema_lock_sql, "")) != NULL)
		return e;
	if ((e = db->ops->script(db->conn, "CREATE TABLE IF NOT EXISTS "
	    "schema_version (version INTEGER PRIMARY KEY, description TEXT NOT "
	    "NULL, applied_at BIGINT NOT NULL)", &why)) != NULL ||
	    (e = schema_version(db, &have)) != NULL)
		return e;
	if (have >= m->version)
		return NULL;
	if ((e = db->ops->script(db->conn, text, &why)) != NULL) {
		db->last = why;
		return rt_err_wrap(e, "database %s: migration %u (%s)", db->label,
		    m->version, mg->what);
	}
	e = q_exec(db, NULL, "INSERT INTO schema_version (version, "
	    "description, applied_at) VALUES ($1, $2, $3)", "iti",
	    (int64_t)m->version, mg->what, (int64_t)time(NULL));
	m->applied = e == NULL;
	return e;
}

static rt_err *
migrate(cmh_db *db)
{
	rt_err *e;
	for (unsigned v = db->version + 1; v <= SCHEMA_LATEST; v++) {
		migrating m = { .version = v };
		if ((e = in_txn_locked(db, migrate_fn, &m)) != NULL)
			return e;
	}
	return schema_version(db, &db->version);
}

rt_err *
cmh_db_open_at(const cmh_db_where *w, cmh_db **out)
{
	cmh_db *db, *s0;
	rt_err *e;

	*out = NULL;
	if ((w->path == NULL) == (w->url == NULL))
		return rt_err_new(RT_E_ARG, NULL, "database: %s", w->path ?
		    "database.path and database.url: one or the other" :
		    "neither database.path nor database.url given");
	if (w->path == NULL && w->pool > CMH_DB_POOL_MAX)
		return rt_err_new(RT_E_ARG, NULL, "database: a pool of %u "
		    "connections, at most %u", w->pool, CMH_DB_POOL_MAX);
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "database");
	pthread_mutex_init(&db->mu, NULL);
	pthread_cond_init(&db->freed, NULL);
	pthread_mutex_init(&db->side_mu, NULL);
	db->head = db;
	if ((w->url != NULL && (db->url = strdup(w->url)) == NULL) ||
	    (w->password_file != NULL && (db->password_file =
	    strdup(w->password_file)) == NULL)) {
		cmh_db_close(db);
		return rt_err_new(RT_E_NOMEM, NULL, "database");
	}
	db->ops = w->path != NULL ? &cmh_db_sqlite_ops : &cmh_db_pg_ops;
	if (w->path != NULL)
		snprintf(db->label, sizeof(db->label), "%s", w->path);
	else
		cmh_db_url_redact(w->url, db->label, sizeof(db->label));
	/* SQLite: one connection (one writer at a time anyway) */
	unsigned n = w->path != NULL ? 1 : w->pool ? w->pool :
	    CMH_DB_POOL_DEFAULT;
	if ((db->slots = calloc(n, sizeof(*db->slots))) == NULL) {
		cmh_db_close(db);
		return rt_err_new(RT_E_NOMEM, NULL, "database");
	}
	db->nslots = n;
	for (unsigned i = 0; i < n; i++) {
		db->slots[i].head = db;
		db->slots[i].ops = db->ops;
		memcpy(db->slots[i].label, db->label, sizeof(db->label));
	}
	/* the first connection checks (and brings up) the schema, the
	 * others are made after it */
	s0 = &db->slots[0];
	if ((e = db->ops->open(w, &s0->conn)) != NULL) {
		cmh_db_close(db);
		return e;
	}
	e = schema_version(s0, &db->found_version);
	s0->version = db->found_version;
	if (e == NULL && s0->version > SCHEMA_LATEST)
		e = rt_err_new(RT_E_CONFIG, NULL, "database %s: schema version "
		    "%u is newer than this cmhost's (%u): run a newer cmhost",
		    db->label, s0->version, SCHEMA_LATEST);
	else if (e == NULL && s0->version < SCHEMA_LATEST) {
		if (w->migrate || db->ops->dialect == DB_SQLITE)
			e = migrate(s0);
		else
			e = rt_err_new(RT_E_CONFIG, NULL, "database %s: schema "
			    "version %u, this cmhost needs %u: run `cmhost db "
			    "migrate -c FILE` first", db->label, s0->version,
			    SCHEMA_LATEST);
	}
	if (e == NULL && db->ops->post_migrate != NULL)
		e = db->ops->post_migrate(s0->conn);
	db->version = s0->version;
	for (unsigned i = 1; e == NULL && i < n; i++)
		e = db->ops->open(w, &db->slots[i].conn);
	if (e != NULL) {
		cmh_db_close(db);
		return e;
	}
	*out = db;
	return NULL;
}

static bool
is_pg_url(const char *s)
{
	return strncmp(s, "postgresql://", 13) == 0 ||
	    strncmp(s, "postgres://", 11) == 0;
}

rt_err *
cmh_db_open(const char *path_or_url, cmh_db **out)
{
	cmh_db_where w = { 0 };
	if (is_pg_url(path_or_url))
		w.url = path_or_url;
	else
		w.path = path_or_url;
	return cmh_db_open_at(&w, out);
}

rt_err *
cmh_db_open_config(const cmh_config *c, bool migrate_it, cmh_db **out)
{
	cmh_db_where w = { .path = c->db_path, .url = c->db_url,
		.password_file = c->db_password_file, .migrate = migrate_it,
		.pool = c->db_pool };
	return cmh_db_open_at(&w, out);
}

void
cmh_db_close(cmh_db *db)
{
	if (db == NULL)
		return;
	for (unsigned i = 0; i < db->nslots; i++)
		if (db->slots[i].conn != NULL)
			db->ops->close(db->slots[i].conn);
	free(db->slots);
	if (db->side != NULL && db->side->conn != NULL)
		db->ops->close(db->side->conn);
	free(db->side);
	if (db->url != NULL)
		rt_wipe(db->url, strlen(db->url));	/* may hold a password */
	free(db->url);
	free(db->password_file);
	pthread_mutex_destroy(&db->side_mu);
	pthread_cond_destroy(&db->freed);
	pthread_mutex_destroy(&db->mu);
	free(db);
}

const char *
cmh_db_label(const cmh_db *db)
{
	static __thread char buf[340];
	snprintf(buf, sizeof(buf), "%s %s", db->ops->name, db->label);
	return buf;
}

void
cmh_db_schema(const cmh_db *db, unsigned *found, unsigned *now,
    unsigned *latest)
{
	if (found != NULL)
		*found = db->found_version;
	if (now != NULL)
		*now = db->version;
	if (latest != NULL)
		*latest = SCHEMA_LATEST;
}

/* ---- certificates --------------------------------------------------------- */

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
rec_read(cmh_db *db, void *q, cmh_cert_rec *r)
{
	const dbops *o = db->ops;
	memset(r, 0, sizeof(*r));
	col_text(db, q, 0, r->serial, sizeof(r->serial));
	col_text(db, q, 1, r->subject, sizeof(r->subject));
	col_text(db, q, 2, r->profile, sizeof(r->profile));
	col_text(db, q, 3, r->officer, sizeof(r->officer));
	col_text(db, q, 4, r->card, sizeof(r->card));
	col_text(db, q, 5, r->tid, sizeof(r->tid));
	r->cert_req_id = (int)o->col_int(q, 6);
	r->state = state_parse(o->col_text(q, 7));
	r->issued_at = o->col_int(q, 8);
	r->not_after = o->col_int(q, 9);
	r->state_at = o->col_int(q, 10);
	r->revocation_reason = o->isnull(q, 11) ? -1 : (int)o->col_int(q, 11);
}

rt_err *
cmh_db_cert_add(cmh_db *db, const cmh_cert_rec *r, const uint8_t *der,
    size_t len)
{
	rt_err *e;
	db = db_take(db);
	db->last = DBQ_OK;
	e = q_exec(db, NULL, "INSERT INTO certs (" REC_COLS ", der) VALUES "
	    "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,NULL,$12)", "ttttttitiiib",
	    r->serial, r->subject, r->profile, r->officer, r->card, r->tid,
	    (int64_t)r->cert_req_id, cmh_cert_state_name(r->state),
	    r->issued_at, r->not_after, r->state_at, der, len);
	if (e != NULL && db->last == DBQ_UNIQUE) {
		rt_err_free(e);
		e = rt_err_new(RT_E_ARG, NULL, "certificate %s already recorded",
		    r->serial);
	}
	db_give(db);
	return e;
}

/* Tells the other instances that a certificate was revoked or rejected
 * (PostgreSQL: NOTIFY, sent at the commit of the transaction it is in),
 * their cue to make the CRL again (cmh_db_revoked_wait). */
static rt_err *
notify_revoked(cmh_db *db)
{
	if (db->ops->notify_sql == NULL)
		return NULL;
	return q_exec(db, NULL, db->ops->notify_sql, "");
}

/* The state of a certificate (by serial, or by tid + id): why a
 * conditional update changed nothing. found false if there is none. */
static rt_err *
state_of(cmh_db *db, const char *serial, const char *tid, int id,
    bool *found, cmh_cert_state *s, char *serial_out, size_t cap)
{
	void *q;
	rt_err *e = NULL, *re;
	if (serial != NULL)
		re = q_run(db, &q, "SELECT state, serial FROM certs WHERE "
		    "serial = $1", "t", serial);
	else
		re = q_run(db, &q, "SELECT state, serial FROM certs WHERE "
		    "tid = $1 AND cert_req_id = $2", "ti", tid, (int64_t)id);
	if (re != NULL)
		return re;
	*found = q_row(db, q, &e);
	if (*found) {
		*s = state_parse(db->ops->col_text(q, 0));
		if (serial_out != NULL)
			col_text(db, q, 1, serial_out, cap);
	}
	q_end(db, q);
	return e;
}

static rt_err *
confirm_locked(cmh_db *db, const char *tid, int id, bool accepted,
    int64_t now)
{
	cmh_cert_state s;
	char serial[48];
	int64_t n = 0;
	bool found;
	rt_err *e;

	/* waiting -> confirmed or rejected, once */
	e = q_exec(db, &n, "UPDATE certs SET state = $1, state_at = $2 WHERE "
	    "tid = $3 AND cert_req_id = $4 AND state = 'waiting'", "titi",
	    accepted ? "confirmed" : "rejected", now, tid, (int64_t)id);
	if (e == NULL && n > 0 && !accepted)
		e = notify_revoked(db);
	if (e != NULL || n > 0)
		return e;
	if ((e = state_of(db, NULL, tid, id, &found, &s, serial,
	    sizeof(serial))) != NULL)
		return e;
	if (!found)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "no certificate with "
		    "certReqId %d in transaction %s", id, tid);
	return rt_err_new(RT_E_ARG, NULL, "certificate %s is %s, not waiting "
	    "for confirmation", serial, cmh_cert_state_name(s));
}

rt_err *
cmh_db_cert_confirm(cmh_db *db, const char *tid, int id, bool accepted,
    int64_t now)
{
	db = db_take(db);
	rt_err *e = confirm_locked(db, tid, id, accepted, now);
	db_give(db);
	return e;
}

static rt_err *
revoke_locked(cmh_db *db, const char *serial, int reason, int64_t now)
{
	cmh_cert_state s;
	int64_t n = 0;
	bool found;
	rt_err *e;

	/* any state but revoked -> revoked, once */
	e = q_exec(db, &n, "UPDATE certs SET state = 'revoked', state_at = $1, "
	    "revocation_reason = $2 WHERE serial = $3 AND state <> 'revoked'",
	    "iit", now, (int64_t)(reason < 0 ? 0 : reason), serial);
	if (e == NULL && n > 0)
		e = notify_revoked(db);
	if (e != NULL || n > 0)
		return e;
	if ((e = state_of(db, serial, NULL, 0, &found, &s, NULL, 0)) != NULL)
		return e;
	if (!found)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "no certificate with "
		    "serial %s in the database", serial);
	return rt_err_new(RT_E_ARG, NULL, "certificate %s is already revoked",
	    serial);
}

rt_err *
cmh_db_cert_revoke(cmh_db *db, const char *serial, int reason, int64_t now)
{
	db = db_take(db);
	rt_err *e = revoke_locked(db, serial, reason, now);
	db_give(db);
	return e;
}

typedef struct {
	int64_t now, grace, count;
} sweeping;

static rt_err *
sweep_fn(cmh_db *db, void *arg)
{
	sweeping *w = arg;
	int64_t mine = 1;
	rt_err *e;
	w->count = 0;
	/* one instance sweeps at a time; the others have nothing to do */
	if (db->ops->sweep_lock_sql != NULL &&
	    ((e = q_int(db, &mine, db->ops->sweep_lock_sql, "")) != NULL ||
	    !mine))
		return e;
	/* CRLReason 5: cessationOfOperation (never put into use). A rejected
	 * certificate has been revoked for relying parties since its
	 * rejection (unspecified): it keeps that time and reason, so that
	 * its OCSP answer and CRL entry do not change */
	e = q_exec(db, &w->count, "UPDATE certs SET state = 'revoked', "
	    "state_at = CASE state WHEN 'rejected' THEN state_at ELSE $1 END, "
	    "revocation_reason = CASE state WHEN 'rejected' THEN 0 ELSE 5 END "
	    "WHERE state IN ('waiting','rejected') AND state_at <= $2", "ii",
	    w->now, w->now - w->grace);
	if (e == NULL && w->count > 0)
		e = notify_revoked(db);
	return e;
}

rt_err *
cmh_db_sweep(cmh_db *db, int64_t now, int64_t grace, unsigned *count)
{
	sweeping w = { .now = now, .grace = grace };
	rt_err *e = in_transaction(db, sweep_fn, &w);
	if (count != NULL)
		*count = e == NULL ? (unsigned)w.count : 0;
	return e;
}

rt_err *
cmh_db_cert_get(cmh_db *db, const char *serial, cmh_cert_rec *rec,
    uint8_t **der, size_t *len)
{
	void *q;
	rt_err *e = NULL;

	if (der != NULL)
		*der = NULL;
	db = db_take(db);
	if ((e = q_run(db, &q, "SELECT " REC_COLS ", der FROM certs WHERE "
	    "serial = $1", "t", serial)) != NULL) {
		db_give(db);
		return e;
	}
	if (q_row(db, q, &e)) {
		if (rec != NULL)
			rec_read(db, q, rec);
		if (der != NULL) {
			size_t n;
			const void *b = db->ops->col_blob(q, 12, &n);
			if ((*der = malloc(n ? n : 1)) == NULL)
				e = rt_err_new(RT_E_NOMEM, NULL, "database");
			else {
				memcpy(*der, b, n);
				*len = n;
			}
		}
	} else if (e == NULL)
		e = rt_err_new(RT_E_NOT_FOUND, NULL, "no certificate with "
		    "serial %s in the database", serial);
	q_end(db, q);
	db_give(db);
	return e;
}

/* fn for each row of q (certificate records). */
static rt_err *
each(cmh_db *db, void *q, void (*fn)(void *, const cmh_cert_rec *),
    void *ctx)
{
	cmh_cert_rec r;
	rt_err *e = NULL;
	while (q_row(db, q, &e)) {
		rec_read(db, q, &r);
		fn(ctx, &r);
	}
	q_end(db, q);
	return e;
}

rt_err *
cmh_db_certs_of_tid(cmh_db *db, const char *tid,
    void (*fn)(void *ctx, const cmh_cert_rec *r), void *ctx)
{
	void *q;
	rt_err *e;
	db = db_take(db);
	e = q_run(db, &q, "SELECT " REC_COLS " FROM certs WHERE tid = $1 "
	    "ORDER BY cert_req_id", "t", tid);
	if (e == NULL)
		e = each(db, q, fn, ctx);
	db_give(db);
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
	char sql[512];
	void *q;
	rt_err *e;
	if (f == NULL)
		f = &all;
	/* a NULL parameter selects everything: one statement for every
	 * combination of filters; oldest first, then in the order written */
	snprintf(sql, sizeof(sql), "SELECT " REC_COLS " FROM certs WHERE "
	    "($1 IS NULL OR state = $1) AND ($2 IS NULL OR card = $2) AND "
	    "($3 IS NULL OR officer = $3) AND ($4 IS NULL OR profile = $4) AND "
	    "issued_at >= $5 ORDER BY issued_at, %s", db->ops->rowid);
	db = db_take(db);
	e = q_run(db, &q, sql, "tttti",
	    f->state < 0 ? NULL : cmh_cert_state_name((cmh_cert_state)f->state),
	    f->card, f->officer, f->profile, f->since > 0 ? f->since : INT64_MIN);
	if (e == NULL)
		e = each(db, q, fn, ctx);
	db_give(db);
	return e;
}

static rt_err *
count_of(cmh_db *db, const char *sql, unsigned *count)
{
	int64_t n = 0;
	db = db_take(db);
	rt_err *e = q_int(db, &n, sql, "");
	db_give(db);
	*count = (unsigned)n;
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
	void *q;
	rt_err *e = NULL;
	memset(counts, 0, CMH_CERT_NSTATES * sizeof(counts[0]));
	db = db_take(db);
	rt_err *re = q_run(db, &q, "SELECT state, count(*) FROM certs GROUP BY "
	    "state", "");
	if (re != NULL) {
		db_give(db);
		return rt_err_wrap(re, "certificates by state");
	}
	while (q_row(db, q, &e)) {
		const char *name = db->ops->col_text(q, 0);
		for (int i = 0; i < CMH_CERT_NSTATES; i++)
			if (strcmp(name, state_names[i]) == 0)
				counts[i] = (unsigned)db->ops->col_int(q, 1);
	}
	q_end(db, q);
	db_give(db);
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

/* ---- the shared CRL -------------------------------------------------------- */

void
cmh_db_crl_free(cmh_db_crl *c)
{
	if (c == NULL)
		return;
	free(c->der);
	memset(c, 0, sizeof(*c));
}

rt_err *
cmh_db_crl_get(cmh_db *db, const char *ca, cmh_db_crl *out)
{
	void *q;
	rt_err *e = NULL;
	memset(out, 0, sizeof(*out));
	db = db_take(db);
	if ((e = q_run(db, &q, "SELECT number, made_at, stamp, der FROM crls "
	    "WHERE ca = $1", "t", ca)) != NULL) {
		db_give(db);
		return e;
	}
	if (q_row(db, q, &e)) {
		size_t n;
		const void *b = db->ops->col_blob(q, 3, &n);
		out->number = (uint64_t)db->ops->col_int(q, 0);
		out->made_at = db->ops->col_int(q, 1);
		out->stamp = (unsigned)db->ops->col_int(q, 2);
		if ((out->der = malloc(n ? n : 1)) == NULL)
			e = rt_err_new(RT_E_NOMEM, NULL, "CRL");
		else {
			memcpy(out->der, b, n);
			out->len = n;
		}
	} else if (e == NULL)
		e = rt_err_new(RT_E_NOT_FOUND, NULL, "no CRL recorded for %s", ca);
	q_end(db, q);
	db_give(db);
	return e;
}

rt_err *
cmh_db_crl_put(cmh_db *db, const char *ca, uint64_t prev_number,
    const cmh_db_crl *crl, bool *won)
{
	int64_t n = 0;
	rt_err *e;
	*won = false;
	db = db_take(db);
	/* the instance whose write changes the row made the next CRL; the
	 * others take it from the database */
	if (prev_number == 0)
		e = q_exec(db, &n, "INSERT INTO crls (ca, number, made_at, stamp, "
		    "der) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (ca) DO NOTHING",
		    "tiiib", ca, (int64_t)crl->number, crl->made_at,
		    (int64_t)crl->stamp, crl->der, crl->len);
	else
		e = q_exec(db, &n, "UPDATE crls SET number = $2, made_at = $3, "
		    "stamp = $4, der = $5 WHERE ca = $1 AND number = $6 AND "
		    "number < $2", "tiiibi", ca, (int64_t)crl->number,
		    crl->made_at, (int64_t)crl->stamp, crl->der, crl->len,
		    (int64_t)prev_number);
	db_give(db);
	if (e == NULL)
		*won = n == 1;
	return e;
}

/* The side connection, made at its first use. Called with side_mu held. */
static rt_err *
side_conn(cmh_db *h, cmh_db **out)
{
	rt_err *e;
	if (h->side == NULL) {
		cmh_db_where w = { .url = h->url,
			.password_file = h->password_file };
		cmh_db *s = calloc(1, sizeof(*s));
		if (s == NULL)
			return rt_err_new(RT_E_NOMEM, NULL, "database");
		s->head = h;
		s->ops = h->ops;
		memcpy(s->label, h->label, sizeof(h->label));
		if ((e = h->ops->open(&w, &s->conn)) != NULL) {
			free(s);
			return rt_err_wrap(e, "the CRL's connection");
		}
		h->side = s;
	}
	*out = h->side;
	return NULL;
}

rt_err *
cmh_db_crl_lock(cmh_db *db, bool *got)
{
	cmh_db *h = db->head, *s;
	int64_t mine = 0;
	rt_err *e;
	*got = true;
	if (h->ops->crl_lock_sql == NULL)
		return NULL;
	pthread_mutex_lock(&h->side_mu);
	if ((e = side_conn(h, &s)) == NULL &&
	    (e = q_exec(s, NULL, h->ops->begin_sql, "")) == NULL) {
		if ((e = q_int(s, &mine, h->ops->crl_lock_sql, "")) != NULL ||
		    !mine)
			rt_err_free(q_exec(s, NULL, "ROLLBACK", ""));
	}
	*got = e == NULL && mine;
	if (!*got)
		pthread_mutex_unlock(&h->side_mu);
	return e;
}

void
cmh_db_crl_unlock(cmh_db *db)
{
	cmh_db *h = db->head;
	if (h->ops->crl_lock_sql == NULL)
		return;
	/* the transaction wrote nothing: its end lets the lock go */
	rt_err_free(q_exec(h->side, NULL, "ROLLBACK", ""));
	pthread_mutex_unlock(&h->side_mu);
}

bool
cmh_db_can_notify(const cmh_db *db)
{
	return db->ops->listen != NULL;
}

rt_err *
cmh_db_revoked_wait(cmh_db *db, int timeout_ms, bool *revoked)
{
	cmh_db *h = db->head, *s;
	int fd = -1;
	bool fresh = false;
	rt_err *e;
	*revoked = false;
	if (h->ops->listen == NULL) {
		nanosleep(&(struct timespec){ timeout_ms / 1000,
		    (timeout_ms % 1000) * 1000000L }, NULL);
		return NULL;
	}
	pthread_mutex_lock(&h->side_mu);
	if ((e = side_conn(h, &s)) == NULL &&
	    (e = h->ops->listen(s->conn, &fd, &fresh)) == NULL)
		e = h->ops->notified(s->conn, revoked);
	pthread_mutex_unlock(&h->side_mu);
	if (e != NULL || fresh || *revoked) {
		*revoked = *revoked || fresh;
		return e;
	}
	/* the wait without the connection's lock: a CRL may be made on it
	 * meanwhile (what it reads then is read again below) */
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	if (poll(&pf, 1, timeout_ms) == 0)
		return NULL;
	pthread_mutex_lock(&h->side_mu);
	e = h->ops->notified(h->side->conn, revoked);
	pthread_mutex_unlock(&h->side_mu);
	return e;
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
	int64_t n = 0;
	/* the instance whose INSERT writes the row has the ID */
	rt_err *e = q_exec(db, &n, "INSERT INTO transactions (tid, officer, "
	    "kind, expect_nonce, created_at, updated_at) VALUES ($1,$2,$3,$4,"
	    "$5,$6) ON CONFLICT (tid) DO NOTHING", "ttttii", tid, officer, kind,
	    expect_nonce, now, now);
	if (e == NULL && n == 0)
		e = rt_err_new(RT_E_AUTH, NULL, "transactionID %s was used "
		    "before (replay?)", tid);
	return e;
}

rt_err *
cmh_db_txn_begin(cmh_db *db, const char *tid, const char *officer,
    const char *kind, const char *expect_nonce, int64_t now)
{
	db = db_take(db);
	rt_err *e = txn_begin_locked(db, tid, officer, kind, expect_nonce, now);
	db_give(db);
	return e;
}

static rt_err *
txn_continue_locked(cmh_db *db, const char *tid, const char *officer,
    const char *recip_nonce, const char *next_nonce, int64_t now)
{
	char who[128], expect[160];
	int64_t n = 0;
	void *q;
	rt_err *e = NULL, *re;

	/* the expected nonce moves on once: a second message answering the
	 * same one (here or on another instance) finds it changed */
	re = q_exec(db, &n, "UPDATE transactions SET expect_nonce = $1, "
	    "updated_at = $2 WHERE tid = $3 AND officer = $4 AND "
	    "expect_nonce = $5", "titt" "t", next_nonce, now, tid, officer,
	    recip_nonce);
	if (re != NULL || n > 0)
		return re;
	if ((re = q_run(db, &q, "SELECT officer, expect_nonce FROM transactions "
	    "WHERE tid = $1 AND expect_nonce IS NOT NULL", "t", tid)) != NULL)
		return re;
	bool open = q_row(db, q, &e);
	if (open) {
		col_text(db, q, 0, who, sizeof(who));
		col_text(db, q, 1, expect, sizeof(expect));
	}
	q_end(db, q);
	if (e != NULL)
		return e;
	if (!open)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "no open transaction %s",
		    tid);
	if (strcmp(who, officer) != 0)
		return rt_err_new(RT_E_AUTH, NULL, "transaction %s belongs to "
		    "another officer", tid);
	return rt_err_new(RT_E_AUTH, NULL, "recipNonce does not match the "
	    "senderNonce of our last message in transaction %s", tid);
}

rt_err *
cmh_db_txn_continue(cmh_db *db, const char *tid, const char *officer,
    const char *recip_nonce, const char *next_nonce, int64_t now)
{
	db = db_take(db);
	rt_err *e = txn_continue_locked(db, tid, officer, recip_nonce,
	    next_nonce, now);
	db_give(db);
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
	void *q;
	rt_err *e = NULL;
	officer[0] = expect_nonce[0] = '\0';
	db = db_take(db);
	if ((e = q_run(db, &q, "SELECT officer, expect_nonce FROM transactions "
	    "WHERE tid = $1", "t", tid)) != NULL) {
		db_give(db);
		return e;
	}
	if (q_row(db, q, &e)) {
		col_text(db, q, 0, officer, ocap);
		col_text(db, q, 1, expect_nonce, ncap);
	} else if (e == NULL)
		e = rt_err_new(RT_E_NOT_FOUND, NULL, "no transaction %s", tid);
	q_end(db, q);
	db_give(db);
	return e;
}

rt_err *
cmh_db_nonce_use(cmh_db *db, const char *nonce, int64_t now)
{
	int64_t n = 0;
	db = db_take(db);
	/* one INSERT decides, whichever instance saw the nonce first */
	rt_err *e = q_exec(db, &n, "INSERT INTO nonces (nonce, seen_at) VALUES "
	    "($1, $2) ON CONFLICT (nonce) DO NOTHING", "ti", nonce, now);
	if (e == NULL && n == 0)
		e = rt_err_new(RT_E_AUTH, NULL, "senderNonce %s was used before "
		    "(replay?)", nonce);
	db_give(db);
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
	uint8_t *blob;
	size_t bl;
	rt_err *e;
	if ((e = cmh_kek_seal(k, card, alg, key, len, &blob, &bl)) != NULL)
		return e;
	e = q_exec(db, NULL, "INSERT INTO mgmt_keys (card, alg, key, updated_at, "
	    "kek_id) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (card) DO UPDATE SET "
	    "alg = excluded.alg, key = excluded.key, updated_at = "
	    "excluded.updated_at, kek_id = excluded.kek_id", "ttbit", card, alg,
	    blob, bl, now, cmh_kek_id(k));
	free(blob);
	return e;
}

rt_err *
cmh_db_mgmt_key_set(cmh_db *db, const char *card, const char *alg,
    const uint8_t *key, size_t len, int64_t now)
{
	rt_err *e;
	db = db_take(db);
	const cmh_kek *k = kek_of(db);
	e = k == NULL ? no_kek(card) :
	    mgmt_put_locked(db, k, card, alg, key, len, now);
	db_give(db);
	return e;
}

/* A row's key in clear (kek NULL: a row in clear is given as it is);
 * columns: 1 the key, 2 kek_id. */
static rt_err *
mgmt_open_row(cmh_db *db, void *q, const cmh_kek *k, const char *card,
    const char *alg, uint8_t **key, size_t *len)
{
	size_t n;
	const uint8_t *b = db->ops->col_blob(q, 1, &n);
	*key = NULL;
	if (!db->ops->isnull(q, 2)) {
		const char *kid = db->ops->col_text(q, 2);
		if (k == NULL)
			return no_kek(card);
		if (strcmp(kid, cmh_kek_id(k)) != 0)
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
	void *q;
	rt_err *e = NULL;
	*key = NULL;
	db = db_take(db);
	if ((e = q_run(db, &q, "SELECT alg, key, kek_id FROM mgmt_keys WHERE "
	    "card = $1", "t", card)) != NULL) {
		db_give(db);
		return e;
	}
	if (q_row(db, q, &e)) {
		col_text(db, q, 0, alg, alg_cap);
		e = mgmt_open_row(db, q, kek_of(db), card, alg, key, len);
	} else if (e == NULL)
		e = rt_err_new(RT_E_NOT_FOUND, NULL, "no management key for "
		    "card %s", card);
	q_end(db, q);
	db_give(db);
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
	void *q;
	rt_err *e = NULL;
	struct row { char card[128], alg[16]; uint8_t *key; size_t len;
		int64_t at; } *rows = NULL;
	size_t n = 0, cap = 0;

	/* no other instance writes a key under the old KEK meanwhile */
	if (db->ops->keys_lock_sql != NULL &&
	    (e = q_exec(db, NULL, db->ops->keys_lock_sql, "")) != NULL)
		return e;
	if ((e = q_run(db, &q, r->clear_only ? "SELECT card, key, kek_id, alg, "
	    "updated_at FROM mgmt_keys WHERE kek_id IS NULL" : "SELECT card, "
	    "key, kek_id, alg, updated_at FROM mgmt_keys", "")) != NULL)
		return e;
	while (e == NULL && q_row(db, q, &e)) {
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
		col_text(db, q, 0, w->card, sizeof(w->card));
		col_text(db, q, 3, w->alg, sizeof(w->alg));
		w->at = db->ops->col_int(q, 4);
		if ((e = mgmt_open_row(db, q, r->from, w->card, w->alg, &w->key,
		    &w->len)) == NULL)
			n++;
	}
	q_end(db, q);
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
	char other[CMH_KEK_ID_LEN + 8] = "";
	void *q;
	rt_err *e = NULL;
	if (migrated != NULL)
		*migrated = 0;
	/* the rows must be this KEK's: a wrong file is named at start, not
	 * at the first request */
	db = db_take(db);
	e = q_run(db, &q, "SELECT kek_id FROM mgmt_keys WHERE kek_id IS NOT "
	    "NULL AND kek_id <> $1 LIMIT 1", "t", cmh_kek_id(k));
	if (e == NULL) {
		if (q_row(db, q, &e))
			col_text(db, q, 0, other, sizeof(other));
		q_end(db, q);
	}
	db_give(db);
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
	db = db_take(db);
	/* SQLite: the pages that held them in clear are overwritten now,
	 * not at some later checkpoint */
	if (r.count > 0 && db->ops->dialect == DB_SQLITE) {
		dbq_status why;
		rt_err_free(db->ops->script(db->conn,
		    "PRAGMA wal_checkpoint(TRUNCATE)", &why));
	}
	db_give(db);
	kek_set(db, k);
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
	const cmh_kek *from = kek_of(db);
	if (from == NULL)
		return rt_err_new(RT_E_CONFIG, NULL, "rekey: no key-encryption "
		    "key configured to open the management keys with");
	reseal r = { .from = from, .to = to, .clear_only = false };
	if ((e = in_transaction(db, reseal_fn, &r)) != NULL)
		return rt_err_wrap(e, "rekey (nothing changed)");
	kek_set(db, to);
	if (count != NULL)
		*count = r.count;
	return NULL;
}

rt_err *
cmh_db_kek_salt(cmh_db *db, uint8_t *salt, size_t len)
{
	void *q;
	rt_err *e;
	db = db_take(db);
	/* made once, by whichever instance comes first */
	if ((e = rt_random(salt, len)) == NULL)
		e = q_exec(db, NULL, "INSERT INTO meta (name, value) VALUES "
		    "('kek_salt', $1) ON CONFLICT (name) DO NOTHING", "b", salt,
		    len);
	if (e == NULL && (e = q_run(db, &q, "SELECT value FROM meta WHERE "
	    "name = 'kek_salt'", "")) == NULL) {
		size_t n = 0;
		if (q_row(db, q, &e)) {
			const void *b = db->ops->col_blob(q, 0, &n);
			if (n == len)
				memcpy(salt, b, len);
			else
				e = rt_err_new(RT_E_FORMAT, NULL, "database: the "
				    "KEK salt is not %zu bytes", len);
		} else if (e == NULL)
			e = rt_err_new(RT_E_IO, NULL, "database %s: no KEK salt",
			    db->label);
		q_end(db, q);
	}
	db_give(db);
	return e;
}

rt_err *
cmh_db_audit(cmh_db *db, int64_t now, const char *who, const char *station,
    const char *action, const char *detail, const char *result)
{
	db = db_take(db);
	rt_err *e = q_exec(db, NULL, "INSERT INTO audit (at, who, station, "
	    "action, detail, result) VALUES ($1,$2,$3,$4,$5,$6)", "itttt" "t",
	    now, who ? who : "-", station ? station : "-", action,
	    detail ? detail : "", result ? result : "ok");
	db_give(db);
	return e;
}

rt_err *
cmh_db_audit_find(cmh_db *db, const cmh_audit_filter *f,
    void (*fn)(void *ctx, const cmh_audit_rec *r), void *ctx)
{
	static const cmh_audit_filter all;
	cmh_audit_rec r;
	void *q;
	rt_err *e = NULL;
	if (f == NULL)
		f = &all;
	db = db_take(db);
	/* the card as the service writes it: "card HEX: ..." (and "card HEX"
	 * alone); LIKE's wildcards are escaped in the card */
	e = q_run(db, &q, "SELECT id, at, who, station, action, detail, result "
	    "FROM audit WHERE ($1 IS NULL OR who = $1) AND "
	    "($2 IS NULL OR action = $2) AND ($3 IS NULL OR detail = 'card ' || "
	    "$3 OR detail LIKE 'card ' || replace(replace(replace($3, '\\', "
	    "'\\\\'), '%', '\\%'), '_', '\\_') || ':%' ESCAPE '\\') AND "
	    "at >= $4 ORDER BY id", "ttti", f->who, f->action, f->card,
	    f->since > 0 ? f->since : INT64_MIN);
	if (e != NULL) {
		db_give(db);
		return e;
	}
	while (q_row(db, q, &e)) {
		r.id = db->ops->col_int(q, 0);
		r.at = db->ops->col_int(q, 1);
		col_text(db, q, 2, r.who, sizeof(r.who));
		col_text(db, q, 3, r.station, sizeof(r.station));
		col_text(db, q, 4, r.action, sizeof(r.action));
		col_text(db, q, 5, r.detail, sizeof(r.detail));
		col_text(db, q, 6, r.result, sizeof(r.result));
		fn(ctx, &r);
	}
	q_end(db, q);
	db_give(db);
	return e;
}
