/* db_sqlite.c - cmhost's database on SQLite (src/cmhost/db_int.h): one
 * connection per handle (db.c serialises the calls), WAL journal,
 * synchronous=NORMAL (a commit survives a crash of the process; the last
 * commits may be lost on power failure), secure_delete (a replaced
 * management key leaves no old bytes in free pages). */
#include "db_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

typedef struct {
	sqlite3 *h;
	cached_stmt sc[STMT_CACHE];
	uint64_t sc_clock;
} sq_conn;

typedef struct {
	sqlite3_stmt *st;
	int rc;			/* of the first step */
	bool started;		/* next() gave the first step's row */
} sq_query;

static rt_err *
sq_err(sq_conn *c, const char *what)
{
	return rt_err_new(RT_E_IO, NULL, "database: %s: %s", what,
	    sqlite3_errmsg(c->h));
}

static dbq_status
sq_status(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		return DBQ_UNIQUE;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return DBQ_RETRY;
	default:
		return DBQ_FAIL;
	}
}

static void
sq_close(void *conn)
{
	sq_conn *c = conn;
	if (c == NULL)
		return;
	for (size_t i = 0; i < STMT_CACHE; i++) {
		sqlite3_finalize(c->sc[i].st);
		free(c->sc[i].sql);
	}
	sqlite3_close(c->h);
	free(c);
}

/* The database holds card management keys: created 0600 whatever the
 * umask (SQLite gives its -wal and -shm files the database's mode), group
 * and other rights taken from an existing one. */
static rt_err *
sq_file_mode(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;
	const char *why = NULL;
	if (fd < 0 || fstat(fd, &st) != 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if ((st.st_mode & 077) != 0 && fchmod(fd, st.st_mode & 0700) != 0)
		why = strerror(errno);
	if (fd >= 0)
		close(fd);
	return why == NULL ? NULL : rt_err_new(RT_E_IO, NULL, "database %s: %s",
	    path, why);
}

static rt_err *
sq_open(const cmh_db_where *w, void **out)
{
	sq_conn *c;
	char *msg = NULL;
	rt_err *e;

	*out = NULL;
	if (strcmp(w->path, ":memory:") != 0 &&
	    (e = sq_file_mode(w->path)) != NULL)
		return e;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "database");
	if (sqlite3_open_v2(w->path, &c->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		e = rt_err_new(RT_E_IO, NULL, "database %s: %s", w->path,
		    c->h ? sqlite3_errmsg(c->h) : "cannot open");
		sq_close(c);
		return e;
	}
	sqlite3_busy_timeout(c->h, 10000);
	if (sqlite3_exec(c->h, "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
	    "PRAGMA secure_delete=ON;", NULL, NULL, &msg) != SQLITE_OK) {
		e = rt_err_new(RT_E_IO, NULL, "database %s: %s", w->path,
		    msg ? msg : "pragmas");
		sqlite3_free(msg);
		sq_close(c);
		return e;
	}
	*out = c;
	return NULL;
}

/* A prepared statement for sql: the cached one when it is not in use,
 * else prepared (and cached in a free or the least recently used slot). */
static int
stmt_get(sq_conn *c, const char *sql, sqlite3_stmt **st)
{
	cached_stmt *slot = NULL;
	for (size_t i = 0; i < STMT_CACHE; i++) {
		cached_stmt *s = &c->sc[i];
		if (s->sql != NULL && !s->busy && strcmp(s->sql, sql) == 0) {
			s->busy = true;
			s->last = ++c->sc_clock;
			*st = s->st;
			return SQLITE_OK;
		}
		if (!s->busy && (slot == NULL || (slot->sql != NULL &&
		    (s->sql == NULL || s->last < slot->last))))
			slot = s;
	}
	int rc = sqlite3_prepare_v3(c->h, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    st, NULL);
	char *copy;
	if (rc != SQLITE_OK || slot == NULL || (copy = strdup(sql)) == NULL)
		return rc;
	sqlite3_finalize(slot->st);
	free(slot->sql);
	slot->sql = copy;
	slot->st = *st;
	slot->busy = true;
	slot->last = ++c->sc_clock;
	return SQLITE_OK;
}

/* Done with a statement of stmt_get: reset for its next use, or finalized
 * when it is not cached. */
static void
stmt_done(sq_conn *c, sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < STMT_CACHE; i++)
		if (c->sc[i].st == st) {
			(void)sqlite3_reset(st);
			(void)sqlite3_clear_bindings(st);
			c->sc[i].busy = false;
			return;
		}
	sqlite3_finalize(st);
}

static int
bind(sqlite3_stmt *st, const dbv *args, int nargs)
{
	int rc = SQLITE_OK;
	for (int i = 0; i < nargs && rc == SQLITE_OK; i++) {
		char name[16];
		snprintf(name, sizeof(name), "$%d", i + 1);
		int idx = sqlite3_bind_parameter_index(st, name);
		if (idx == 0)
			continue;	/* not used by this statement */
		const dbv *a = &args[i];
		switch (a->k) {
		case DBV_TEXT:
			rc = a->s ? sqlite3_bind_text(st, idx, a->s, -1,
			    SQLITE_TRANSIENT) : sqlite3_bind_null(st, idx);
			break;
		case DBV_INT:
			rc = sqlite3_bind_int64(st, idx, a->i);
			break;
		case DBV_BLOB:
			rc = sqlite3_bind_blob(st, idx, a->p, (int)a->n,
			    SQLITE_TRANSIENT);
			break;
		}
	}
	return rc;
}

static rt_err *
sq_run(void *conn, const char *sql, const dbv *args, int nargs, void **out,
    dbq_status *why)
{
	sq_conn *c = conn;
	sq_query *q;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*why = DBQ_FAIL;
	if ((rc = stmt_get(c, sql, &st)) != SQLITE_OK) {
		*why = sq_status(rc);
		return sq_err(c, "prepare");
	}
	if (bind(st, args, nargs) != SQLITE_OK) {
		rt_err *e = sq_err(c, "bind");
		stmt_done(c, st);
		return e;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		/* the statement's own code (extended: which constraint) */
		rt_err *e = sq_err(c, "step");
		*why = sq_status(sqlite3_extended_errcode(c->h));
		if (*why == DBQ_UNIQUE && sqlite3_extended_errcode(c->h) !=
		    SQLITE_CONSTRAINT_PRIMARYKEY && sqlite3_extended_errcode(c->h)
		    != SQLITE_CONSTRAINT_UNIQUE)
			*why = DBQ_FAIL;
		stmt_done(c, st);
		return e;
	}
	if ((q = malloc(sizeof(*q))) == NULL) {
		stmt_done(c, st);
		return rt_err_new(RT_E_NOMEM, NULL, "database");
	}
	q->st = st;
	q->rc = rc;
	q->started = false;
	*why = DBQ_OK;
	*out = q;
	return NULL;
}

static rt_err *
sq_script(void *conn, const char *sql, dbq_status *why)
{
	sq_conn *c = conn;
	char *msg = NULL;
	int rc = sqlite3_exec(c->h, sql, NULL, NULL, &msg);
	*why = rc == SQLITE_OK ? DBQ_OK : sq_status(rc);
	if (rc == SQLITE_OK)
		return NULL;
	rt_err *e = rt_err_new(RT_E_IO, NULL, "database: %s", msg ? msg : "?");
	sqlite3_free(msg);
	return e;
}

static int
sq_next(void *conn, void *qv, rt_err **e)
{
	sq_query *q = qv;
	if (!q->started) {
		q->started = true;
		return q->rc == SQLITE_ROW;
	}
	if (q->rc != SQLITE_ROW)
		return 0;
	q->rc = sqlite3_step(q->st);
	if (q->rc == SQLITE_ROW)
		return 1;
	if (q->rc == SQLITE_DONE)
		return 0;
	*e = sq_err(conn, "step");
	return -1;
}

static int64_t
sq_changes(void *conn, void *q)
{
	(void)q;
	return sqlite3_changes(((sq_conn *)conn)->h);
}

static bool
sq_isnull(void *q, int col)
{
	return sqlite3_column_type(((sq_query *)q)->st, col) == SQLITE_NULL;
}

static int64_t
sq_col_int(void *q, int col)
{
	return sqlite3_column_int64(((sq_query *)q)->st, col);
}

static const char *
sq_col_text(void *q, int col)
{
	const unsigned char *t = sqlite3_column_text(((sq_query *)q)->st, col);
	return t ? (const char *)t : "";
}

static const void *
sq_col_blob(void *q, int col, size_t *n)
{
	sqlite3_stmt *st = ((sq_query *)q)->st;
	const void *p = sqlite3_column_blob(st, col);
	*n = (size_t)sqlite3_column_bytes(st, col);
	return p;
}

static void
sq_end(void *conn, void *qv)
{
	sq_query *q = qv;
	if (q == NULL)
		return;
	stmt_done(conn, q->st);
	free(q);
}

/* Databases made before secrets at rest: their mgmt_keys rows are in
 * clear, without kek_id (cmh_db_set_kek seals them). */
static rt_err *
sq_post_migrate(void *conn)
{
	sq_conn *c = conn;
	sqlite3_stmt *probe;
	char *msg = NULL;
	if (sqlite3_prepare_v2(c->h, "SELECT kek_id FROM mgmt_keys", -1,
	    &probe, NULL) == SQLITE_OK) {
		sqlite3_finalize(probe);
		return NULL;
	}
	if (sqlite3_exec(c->h, "ALTER TABLE mgmt_keys ADD COLUMN kek_id TEXT",
	    NULL, NULL, &msg) == SQLITE_OK)
		return NULL;
	rt_err *e = rt_err_new(RT_E_IO, NULL, "database: mgmt_keys: %s",
	    msg ? msg : "cannot add kek_id");
	sqlite3_free(msg);
	return e;
}

const dbops cmh_db_sqlite_ops = {
	.name = "SQLite",
	/* IMMEDIATE: the write lock at BEGIN, not at the first write (no
	 * deadlock between two readers that both want to write) */
	.begin_sql = "BEGIN IMMEDIATE",
	.rowid = "rowid",
	.has_table_sql = "SELECT count(*) FROM sqlite_master WHERE "
	    "type = 'table' AND name = $1",
	.schema_lock_sql = NULL,	/* BEGIN IMMEDIATE: one writer */
	.sweep_lock_sql = NULL,
	.dialect = DB_SQLITE,
	.open = sq_open,
	.close = sq_close,
	.run = sq_run,
	.script = sq_script,
	.next = sq_next,
	.changes = sq_changes,
	.isnull = sq_isnull,
	.col_int = sq_col_int,
	.col_text = sq_col_text,
	.col_blob = sq_col_blob,
	.end = sq_end,
	.post_migrate = sq_post_migrate,
};
