/*
 * db_int.h - the backends of cmhost's database (private to src/cmhost/db*.c).
 *
 * db.c holds every query and the rules of the state machine once; a backend
 * (db_sqlite.c, db_pg.c) only connects, runs one SQL statement with its
 * parameters and hands back its rows. The SQL is written once, in the
 * dialect both SQLite and PostgreSQL accept: $1, $2, ... parameters,
 * INSERT ... ON CONFLICT, UPDATE ... WHERE state = ... with its row count;
 * where they differ (column types, the order of insertion, the lock of a
 * transaction) the backend's dialect strings say it.
 */
#ifndef CMHOST_DB_INT_H
#define CMHOST_DB_INT_H

#include "raterm/cmhost_db.h"

/* A parameter of a statement. */
typedef enum { DBV_TEXT, DBV_INT, DBV_BLOB } dbv_kind;
typedef struct {
	dbv_kind k;
	const char *s;		/* DBV_TEXT; NULL: SQL NULL (of type text) */
	int64_t i;		/* DBV_INT */
	const void *p;		/* DBV_BLOB */
	size_t n;
} dbv;

/* How a statement failed: the callers act on the first two. */
typedef enum {
	DBQ_OK = 0,
	DBQ_UNIQUE,		/* a unique constraint: the row exists */
	DBQ_RETRY,		/* serialization failure, deadlock, busy: run
				 * the transaction again */
	DBQ_FAIL		/* anything else (the message says) */
} dbq_status;

enum { DB_SQLITE, DB_PG };

typedef struct dbops {
	const char *name;		/* "SQLite", "PostgreSQL" */
	/* dialect */
	const char *begin_sql;		/* a transaction that writes */
	const char *rowid;		/* the order of insertion of certs */
	const char *has_table_sql;	/* $1 a table name -> count */
	const char *schema_lock_sql;	/* NULL: none needed (one writer) */
	const char *sweep_lock_sql;	/* NULL: none: true when this
					 * connection may sweep now */
	const char *keys_lock_sql;	/* NULL: none: the management keys
					 * kept still while they are resealed */
	const char *crl_lock_sql;	/* NULL: none (one instance): true
					 * when this instance may make the CRL
					 * now (held to the transaction's end) */
	const char *notify_sql;		/* NULL: none: tells the other
					 * instances a certificate was revoked
					 * (at the commit) */
	int dialect;			/* DB_SQLITE, DB_PG: which text of a
					 * migration */

	/* conn: the backend's connection; label: what errors name (never
	 * a password) */
	rt_err *(*open)(const cmh_db_where *w, void **conn);
	void (*close)(void *conn);
	/* Runs sql with args; *q: its rows (a query in progress, given back
	 * with end) unless an error is returned; *why: the kind of failure. */
	rt_err *(*run)(void *conn, const char *sql, const dbv *args, int nargs,
	    void **q, dbq_status *why);
	/* Several statements without parameters (the migrations). */
	rt_err *(*script)(void *conn, const char *sql, dbq_status *why);
	/* The next row: 1, 0 at the end, -1 on failure (then *e). */
	int (*next)(void *conn, void *q, rt_err **e);
	int64_t (*changes)(void *conn, void *q);	/* rows written */
	bool (*isnull)(void *q, int col);
	int64_t (*col_int)(void *q, int col);
	const char *(*col_text)(void *q, int col);	/* never NULL */
	const void *(*col_blob)(void *q, int col, size_t *n);
	void (*end)(void *conn, void *q);
	/* after the migrations (SQLite: databases older than them) */
	rt_err *(*post_migrate)(void *conn);
	/* The revocations of the other instances (NULL: none). listen: the
	 * connection's socket, LISTENing on the channel of notify_sql
	 * (*fresh: just begun, on a new or remade connection: something may
	 * have been missed); notified: *got whether a notification arrived
	 * (reads what the socket holds, never waits). */
	rt_err *(*listen)(void *conn, int *fd, bool *fresh);
	rt_err *(*notified)(void *conn, bool *got);
} dbops;

extern const dbops cmh_db_sqlite_ops;
extern const dbops cmh_db_pg_ops;

/* The URL without its password (what logs and errors may show). */
void cmh_db_url_redact(const char *url, char *out, size_t cap);

#endif
