/* db_pg.c - cmhost's database on PostgreSQL (src/cmhost/db_int.h), the
 * store several cmhost instances share (docs/scaling.md): a libpq
 * connection per slot of the handle's pool (db.c), parameters and
 * results in binary, READ COMMITTED transactions whose invariants rest on
 * conditional updates and their row counts (db.c), advisory locks for the
 * migrations and the confirm-grace sweep. A lost connection is made again
 * at the next call. */
#include "db_int.h"
#include "raterm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

/* type OIDs (catalog/pg_type_d.h, stable) */
#define OID_BOOL	16
#define OID_BYTEA	17
#define OID_INT8	20
#define OID_INT2	21
#define OID_INT4	23
#define OID_TEXT	25

#define PG_MAX_ARGS	16

/* Statements prepared on a session, by their SQL text and parameter
 * types: parsed and planned once, not at every call (PQexecParams does
 * both each time). A session made again starts with none. */
#define PG_STMT_CACHE	96

typedef struct {
	char *sql;
	char kinds[PG_MAX_ARGS + 1];	/* 't', 'i', 'b' per parameter */
} pg_stmt;

typedef struct {
	PGconn *pg;
	char label[256];	/* the URL without password */
	bool listening;		/* LISTEN cmh_revoked done on this session */
	pg_stmt stmts[PG_STMT_CACHE];	/* named "cmh<index>" */
	int nstmts;
} pg_conn;

#define PG_CHANNEL	"cmh_revoked"

typedef struct {
	PGresult *res;
	int row;		/* the current row; -1 before the first */
} pg_query;

static void
pg_quiet(void *arg, const char *msg)
{
	/* NOTICEs ("relation ... already exists, skipping") are not ours
	 * to print */
	(void)arg;
	(void)msg;
}

/* libpq's message without its trailing newline. */
static rt_err *
pg_err(pg_conn *c, const PGresult *res, const char *what)
{
	const char *m = res != NULL ? PQresultErrorMessage(res) : "";
	if (m == NULL || *m == '\0')
		m = PQerrorMessage(c->pg);
	size_t n = strlen(m);
	while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
		n--;
	return rt_err_new(RT_E_IO, NULL, "database %s: %s: %.*s", c->label,
	    what, (int)n, m);
}

static dbq_status
pg_status(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (s == NULL)
		return DBQ_FAIL;
	if (!strcmp(s, "23505"))		/* unique_violation */
		return DBQ_UNIQUE;
	if (!strcmp(s, "40001") || !strcmp(s, "40P01") ||	/* serialization,
								 * deadlock */
	    !strcmp(s, "55P03"))		/* lock_not_available */
		return DBQ_RETRY;
	return DBQ_FAIL;
}

/* Forgets the statements prepared (a new session has none). */
static void
stmts_forget(pg_conn *c)
{
	for (int i = 0; i < c->nstmts; i++)
		free(c->stmts[i].sql);
	c->nstmts = 0;
}

static void
pg_close(void *conn)
{
	pg_conn *c = conn;
	if (c == NULL)
		return;
	stmts_forget(c);
	PQfinish(c->pg);
	free(c);
}

/* The password of database.password_file: its first line. */
static rt_err *
pg_password(const char *file, char *out, size_t cap)
{
	uint8_t *d;
	size_t n;
	rt_err *e = rt_file_read(file, cap - 1, &d, &n);
	if (e != NULL)
		return rt_err_wrap(e, "database.password_file");
	size_t l = 0;
	while (l < n && d[l] != '\n' && d[l] != '\r')
		l++;
	memcpy(out, d, l);
	out[l] = '\0';
	rt_wipe(d, n);
	free(d);
	if (l == 0)
		return rt_err_new(RT_E_CONFIG, NULL, "database.password_file %s: "
		    "empty", file);
	return NULL;
}

static rt_err *
pg_open(const cmh_db_where *w, void **out)
{
	pg_conn *c;
	char pw[1024] = "";
	rt_err *e;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "database");
	cmh_db_url_redact(w->url, c->label, sizeof(c->label));
	if (w->password_file != NULL &&
	    (e = pg_password(w->password_file, pw, sizeof(pw))) != NULL) {
		pg_close(c);
		return e;
	}
	/* the URL expanded first, the password file's after it (it wins) */
	const char *const keys[] = { "dbname", "connect_timeout",
		"application_name", pw[0] ? "password" : NULL, NULL };
	const char *const vals[] = { w->url, "10", "cmhost", pw, NULL };
	c->pg = PQconnectdbParams(keys, vals, 1);
	rt_wipe(pw, sizeof(pw));
	if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
		e = c->pg == NULL ? rt_err_new(RT_E_NOMEM, NULL, "database") :
		    pg_err(c, NULL, "connect");
		pg_close(c);
		return e;
	}
	PQsetNoticeProcessor(c->pg, pg_quiet, NULL);
	*out = c;
	return NULL;
}

/* A connection lost (the server restarted): made again, once. */
static rt_err *
pg_alive(pg_conn *c)
{
	if (PQstatus(c->pg) == CONNECTION_OK)
		return NULL;
	c->listening = false;	/* a new session */
	stmts_forget(c);
	PQreset(c->pg);
	if (PQstatus(c->pg) == CONNECTION_OK)
		return NULL;
	return pg_err(c, NULL, "connection lost");
}

/* Runs sql as a statement prepared on c's session (prepared at its
 * first use; PQexecParams when the cache is full or the preparation
 * failed, which then reports the statement's own error). */
static PGresult *
run_prepared(pg_conn *c, const char *sql, int nargs, const Oid *types,
    const char *const *vals, const int *lens, const int *fmts)
{
	char kinds[PG_MAX_ARGS + 1], name[16];
	for (int i = 0; i < nargs; i++)
		kinds[i] = types[i] == OID_TEXT ? 't' : types[i] == OID_INT8 ?
		    'i' : 'b';
	kinds[nargs] = '\0';
	int k;
	for (k = 0; k < c->nstmts; k++)
		if (strcmp(c->stmts[k].kinds, kinds) == 0 &&
		    strcmp(c->stmts[k].sql, sql) == 0)
			break;
	if (k == c->nstmts) {
		char *copy;
		if (k == PG_STMT_CACHE || (copy = strdup(sql)) == NULL)
			return PQexecParams(c->pg, sql, nargs, types, vals, lens,
			    fmts, 1);
		snprintf(name, sizeof(name), "cmh%d", k);
		PGresult *p = PQprepare(c->pg, name, sql, nargs, types);
		bool ok = p != NULL && PQresultStatus(p) == PGRES_COMMAND_OK;
		PQclear(p);
		if (!ok) {
			free(copy);
			return PQexecParams(c->pg, sql, nargs, types, vals, lens,
			    fmts, 1);
		}
		c->stmts[k].sql = copy;
		memcpy(c->stmts[k].kinds, kinds, (size_t)nargs + 1);
		c->nstmts++;
	}
	snprintf(name, sizeof(name), "cmh%d", k);
	return PQexecPrepared(c->pg, name, nargs, vals, lens, fmts, 1);
}

static rt_err *
pg_run(void *conn, const char *sql, const dbv *args, int nargs, void **out,
    dbq_status *why)
{
	pg_conn *c = conn;
	Oid types[PG_MAX_ARGS];
	const char *vals[PG_MAX_ARGS];
	int lens[PG_MAX_ARGS], fmts[PG_MAX_ARGS];
	char nums[PG_MAX_ARGS][24];
	pg_query *q;
	rt_err *e;

	*out = NULL;
	*why = DBQ_FAIL;
	if (nargs > PG_MAX_ARGS)
		return rt_err_new(RT_E_ARG, NULL, "database: %d parameters, at "
		    "most %d", nargs, PG_MAX_ARGS);
	if ((e = pg_alive(c)) != NULL)
		return e;
	for (int i = 0; i < nargs; i++) {
		const dbv *a = &args[i];
		lens[i] = 0;
		fmts[i] = 0;
		switch (a->k) {
		case DBV_TEXT:
			types[i] = OID_TEXT;
			vals[i] = a->s;
			break;
		case DBV_INT:
			types[i] = OID_INT8;
			snprintf(nums[i], sizeof(nums[i]), "%lld", (long long)a->i);
			vals[i] = nums[i];
			break;
		case DBV_BLOB:
			types[i] = OID_BYTEA;
			vals[i] = a->p != NULL ? a->p : "";
			lens[i] = (int)a->n;
			fmts[i] = 1;
			break;
		}
	}
	PGresult *res = run_prepared(c, sql, nargs, types, vals, lens, fmts);
	ExecStatusType rs = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
		*why = pg_status(res);
		e = pg_err(c, res, "statement");
		PQclear(res);
		return e;
	}
	if ((q = malloc(sizeof(*q))) == NULL) {
		PQclear(res);
		return rt_err_new(RT_E_NOMEM, NULL, "database");
	}
	q->res = res;
	q->row = -1;
	*why = DBQ_OK;
	*out = q;
	return NULL;
}

static rt_err *
pg_script(void *conn, const char *sql, dbq_status *why)
{
	pg_conn *c = conn;
	rt_err *e;
	*why = DBQ_FAIL;
	if ((e = pg_alive(c)) != NULL)
		return e;
	PGresult *res = PQexec(c->pg, sql);
	ExecStatusType rs = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK) {
		*why = DBQ_OK;
		PQclear(res);
		return NULL;
	}
	*why = pg_status(res);
	e = pg_err(c, res, "script");
	PQclear(res);
	return e;
}

static int
pg_next(void *conn, void *qv, rt_err **e)
{
	pg_query *q = qv;
	(void)conn;
	(void)e;
	if (q->row + 1 >= PQntuples(q->res))
		return 0;
	q->row++;
	return 1;
}

static int64_t
pg_changes(void *conn, void *qv)
{
	(void)conn;
	const char *n = PQcmdTuples(((pg_query *)qv)->res);
	return n != NULL && *n ? strtoll(n, NULL, 10) : 0;
}

static bool
pg_isnull(void *qv, int col)
{
	pg_query *q = qv;
	return PQgetisnull(q->res, q->row, col);
}

static int64_t
pg_col_int(void *qv, int col)
{
	pg_query *q = qv;
	const uint8_t *p = (const uint8_t *)PQgetvalue(q->res, q->row, col);
	int len = PQgetlength(q->res, q->row, col);
	uint64_t v = 0;
	if (PQgetisnull(q->res, q->row, col))
		return 0;
	switch (PQftype(q->res, col)) {
	case OID_INT8:
	case OID_INT4:
	case OID_INT2:
	case OID_BOOL:
		/* big-endian two's complement of len bytes */
		for (int i = 0; i < len; i++)
			v = v << 8 | p[i];
		if (len > 0 && len < 8 && (p[0] & 0x80))
			v |= ~(uint64_t)0 << (8 * len);
		return (int64_t)v;
	default:
		return strtoll((const char *)p, NULL, 10);
	}
}

static const char *
pg_col_text(void *qv, int col)
{
	pg_query *q = qv;
	return PQgetvalue(q->res, q->row, col);
}

static const void *
pg_col_blob(void *qv, int col, size_t *n)
{
	pg_query *q = qv;
	*n = (size_t)PQgetlength(q->res, q->row, col);
	return PQgetvalue(q->res, q->row, col);
}

static void
pg_end(void *conn, void *qv)
{
	pg_query *q = qv;
	(void)conn;
	if (q == NULL)
		return;
	PQclear(q->res);
	free(q);
}

static rt_err *
pg_listen(void *conn, int *fd, bool *fresh)
{
	pg_conn *c = conn;
	rt_err *e;
	*fresh = false;
	if ((e = pg_alive(c)) != NULL)
		return e;
	if (!c->listening) {
		PGresult *res = PQexec(c->pg, "LISTEN " PG_CHANNEL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			e = pg_err(c, res, "LISTEN");
			PQclear(res);
			return e;
		}
		PQclear(res);
		c->listening = true;
		*fresh = true;
	}
	*fd = PQsocket(c->pg);
	return NULL;
}

static rt_err *
pg_notified(void *conn, bool *got)
{
	pg_conn *c = conn;
	PGnotify *n;
	*got = false;
	if (PQconsumeInput(c->pg) != 1)
		return pg_err(c, NULL, "waiting for notifications");
	while ((n = PQnotifies(c->pg)) != NULL) {
		*got = true;
		PQfreemem(n);
	}
	return NULL;
}

const dbops cmh_db_pg_ops = {
	.name = "PostgreSQL",
	.begin_sql = "BEGIN",		/* READ COMMITTED */
	.rowid = "seq",
	.has_table_sql = "SELECT count(*) FROM pg_tables WHERE schemaname = "
	    "current_schema() AND tablename = $1",
	/* keys of pg_advisory_xact_lock: "cmh" and 0 (migrations), 1 (the
	 * sweep), 2 (the management keys' rekey), 3 (making the CRL) */
	.schema_lock_sql = "SELECT pg_advisory_xact_lock(6516072, 0)",
	.sweep_lock_sql = "SELECT pg_try_advisory_xact_lock(6516072, 1)",
	.keys_lock_sql = "LOCK TABLE mgmt_keys IN EXCLUSIVE MODE",
	.crl_lock_sql = "SELECT pg_try_advisory_xact_lock(6516072, 3)",
	.notify_sql = "NOTIFY " PG_CHANNEL,
	.dialect = DB_PG,
	.open = pg_open,
	.close = pg_close,
	.run = pg_run,
	.script = pg_script,
	.next = pg_next,
	.changes = pg_changes,
	.isnull = pg_isnull,
	.col_int = pg_col_int,
	.col_text = pg_col_text,
	.col_blob = pg_col_blob,
	.end = pg_end,
	.post_migrate = NULL,
	.listen = pg_listen,
	.notified = pg_notified,
};
