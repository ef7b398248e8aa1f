/* Unit tests: cmhost's database - the certificate state machine (waiting,
 * confirmed, rejected, revoked; grace-time sweep), transactions and nonces
 * (replay), management keys, audit, and persistence across reopen; the
 * selections of `cmhost certs` and `cmhost audit` (cmh_db_certs_find,
 * cmh_db_audit_find); the schema's migrations; two handles (two instances)
 * racing on one database: a certConf, an rr, a nonce, a serial and the
 * sweep taken exactly once; the shared CRL's number sequence, its lock
 * (one holder) and the revocations told to the other handle
 * (LISTEN/NOTIFY); the pool of connections (threads more than
 * connections, the counts exact; lost connections made again).
 *
 * The same tests run on SQLite (a file in a temporary directory) and, when
 * CMH_TEST_PG_URL names a PostgreSQL database (tests/integ/t_cmhost_pg.sh),
 * on PostgreSQL: its schema is emptied before each test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <cmocka.h>

#include <libpq-fe.h>

#include "raterm/cmhost_db.h"
#include "raterm/cmhost_kek.h"

static char dir[64];
static char path[128];
static const char *pg_url;	/* the PostgreSQL run; NULL: SQLite */

/* The database `name` of the test: a file in dir (SQLite), or the one
 * PostgreSQL database. */
static rt_err *
opendb(const char *name, cmh_db **db)
{
	char p[160];
	if (pg_url != NULL)
		return cmh_db_open_at(&(cmh_db_where){ .url = pg_url,
		    .migrate = true }, db);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return cmh_db_open(p, db);
}

/* PostgreSQL: an empty schema for each test (what a new SQLite file is). */
static int
pg_empty(void **state)
{
	(void)state;
	if (pg_url == NULL)
		return 0;
	PGconn *c = PQconnectdb(pg_url);
	PGresult *r = PQexec(c, "SET client_min_messages = warning; "
	    "DROP SCHEMA public CASCADE; CREATE SCHEMA "
	    "public");
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "pg_empty: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/raterm-cmhdb.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const uint8_t some_der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };

static void
rec_fill(cmh_cert_rec *r, const char *serial, const char *tid, int id,
    cmh_cert_state st, int64_t at)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->serial, sizeof(r->serial), "%s", serial);
	snprintf(r->subject, sizeof(r->subject), "CN=%s", serial);
	snprintf(r->profile, sizeof(r->profile), "user");
	snprintf(r->officer, sizeof(r->officer), "alice");
	snprintf(r->card, sizeof(r->card), "card-1");
	snprintf(r->tid, sizeof(r->tid), "%s", tid);
	r->cert_req_id = id;
	r->state = st;
	r->issued_at = at;
	r->state_at = at;
	r->not_after = at + 86400;
}

static void
add(cmh_db *db, const char *serial, const char *tid, int id,
    cmh_cert_state st, int64_t at)
{
	cmh_cert_rec r;
	rec_fill(&r, serial, tid, id, st, at);
	assert_null(cmh_db_cert_add(db, &r, some_der, sizeof(some_der)));
}

static cmh_cert_state
state(cmh_db *db, const char *serial)
{
	cmh_cert_rec r;
	assert_null(cmh_db_cert_get(db, serial, &r, NULL, NULL));
	return r.state;
}

static void
expect_kind(rt_err *e, rt_err_kind k)
{
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), k);
	rt_err_free(e);
}

static void
test_states(void **st)
{
	cmh_db *db;
	(void)st;
	assert_null(opendb("t.db", &db));
	add(db, "01", "t1", 0, CMH_CERT_WAITING, 1000);
	add(db, "02", "t1", 1, CMH_CERT_WAITING, 1000);
	add(db, "03", "t2", 0, CMH_CERT_WAITING, 1000);
	add(db, "04", "t3", 0, CMH_CERT_CONFIRMED, 1000);	/* implicit */
	add(db, "05", "t4", 0, CMH_CERT_WAITING, 1500);
	expect_kind(cmh_db_cert_add(db, &(cmh_cert_rec){ .serial = "01" },
	    (const uint8_t *)"x", 1), RT_E_ARG);

	/* certConf: accept 01, reject 02; a second certConf is refused */
	assert_null(cmh_db_cert_confirm(db, "t1", 0, true, 1010));
	assert_null(cmh_db_cert_confirm(db, "t1", 1, false, 1010));
	assert_int_equal(state(db, "01"), CMH_CERT_CONFIRMED);
	assert_int_equal(state(db, "02"), CMH_CERT_REJECTED);
	expect_kind(cmh_db_cert_confirm(db, "t1", 0, true, 1020), RT_E_ARG);
	expect_kind(cmh_db_cert_confirm(db, "t1", 7, true, 1020), RT_E_NOT_FOUND);
	expect_kind(cmh_db_cert_confirm(db, "tx", 0, true, 1020), RT_E_NOT_FOUND);

	/* grace 600 s at 1605: the rejected 02 and the unconfirmed 03 go
	 * (state since 1010 and 1000), 05 (since 1500) stays waiting */
	unsigned n = 99;
	assert_null(cmh_db_sweep(db, 1605, 600, &n));
	assert_int_equal(n, 1);		/* 03 only: 02 changed at 1010 */
	assert_int_equal(state(db, "03"), CMH_CERT_REVOKED);
	assert_int_equal(state(db, "02"), CMH_CERT_REJECTED);
	assert_null(cmh_db_sweep(db, 1610, 600, &n));
	assert_int_equal(n, 1);
	assert_int_equal(state(db, "02"), CMH_CERT_REVOKED);
	assert_int_equal(state(db, "05"), CMH_CERT_WAITING);
	{
		/* the rejected one keeps the time and reason relying parties
		 * saw since its rejection; the unconfirmed one never used */
		cmh_cert_rec g;
		assert_null(cmh_db_cert_get(db, "02", &g, NULL, NULL));
		assert_int_equal(g.state_at, 1010);
		assert_int_equal(g.revocation_reason, 0);
		assert_null(cmh_db_cert_get(db, "03", &g, NULL, NULL));
		assert_int_equal(g.state_at, 1605);
		assert_int_equal(g.revocation_reason, 5);
	}
	assert_int_equal(state(db, "01"), CMH_CERT_CONFIRMED);
	/* a swept certificate cannot be confirmed any more */
	expect_kind(cmh_db_cert_confirm(db, "t2", 0, true, 1700), RT_E_ARG);

	/* rr */
	cmh_cert_rec r;
	assert_null(cmh_db_cert_revoke(db, "01", 1, 1700));
	assert_null(cmh_db_cert_get(db, "01", &r, NULL, NULL));
	assert_int_equal(r.state, CMH_CERT_REVOKED);
	assert_int_equal(r.revocation_reason, 1);
	assert_int_equal(r.state_at, 1700);
	expect_kind(cmh_db_cert_revoke(db, "01", 1, 1701), RT_E_ARG);
	expect_kind(cmh_db_cert_revoke(db, "ff", 1, 1701), RT_E_NOT_FOUND);
	assert_null(cmh_db_cert_get(db, "04", &r, NULL, NULL));
	assert_int_equal(r.revocation_reason, -1);
	assert_string_equal(r.card, "card-1");
	assert_string_equal(r.officer, "alice");
	uint8_t *der;
	size_t len;
	assert_null(cmh_db_cert_get(db, "04", NULL, &der, &len));
	assert_int_equal(len, 5);
	free(der);
	unsigned cnt;
	assert_null(cmh_db_cert_count(db, &cnt));
	assert_int_equal(cnt, 5);
	cmh_db_close(db);

	/* persistent */
	assert_null(opendb("t.db", &db));
	assert_int_equal(state(db, "05"), CMH_CERT_WAITING);
	assert_string_equal(cmh_cert_state_name(CMH_CERT_REJECTED), "rejected");
	cmh_db_close(db);
}

static void
test_replay(void **st)
{
	cmh_db *db;
	(void)st;
	assert_null(opendb("t.db", &db));
	assert_null(cmh_db_nonce_use(db, "aa01", 1));
	expect_kind(cmh_db_nonce_use(db, "aa01", 2), RT_E_AUTH);
	assert_null(cmh_db_txn_begin(db, "tid1", "alice", "p10cr", "n1", 1));
	expect_kind(cmh_db_txn_begin(db, "tid1", "alice", "p10cr", "n2", 2),
	    RT_E_AUTH);
	/* certConf: wrong officer, wrong recipNonce, then right */
	expect_kind(cmh_db_txn_continue(db, "tid1", "bob", "n1", NULL, 3),
	    RT_E_AUTH);
	expect_kind(cmh_db_txn_continue(db, "tid1", "alice", "nX", NULL, 3),
	    RT_E_AUTH);
	assert_null(cmh_db_txn_continue(db, "tid1", "alice", "n1", NULL, 3));
	/* closed: no second certConf */
	expect_kind(cmh_db_txn_continue(db, "tid1", "alice", "n1", NULL, 4),
	    RT_E_NOT_FOUND);
	/* a closed transaction's ID is still burnt */
	expect_kind(cmh_db_txn_begin(db, "tid1", "alice", "cr", "n3", 5),
	    RT_E_AUTH);
	cmh_db_close(db);
}

static void
test_keys_audit(void **st)
{
	cmh_db *db;
	uint8_t *k;
	size_t len;
	char alg[16], kp[160];
	unsigned n;
	cmh_kek *kek;
	(void)st;
	assert_null(opendb("t.db", &db));
	/* management keys are kept under a key-encryption key
	 * (test_cmhost_kek.c tests that part) */
	snprintf(kp, sizeof(kp), "%s/kek.key", dir);
	assert_null(cmh_kek_generate_file(kp));
	assert_null(cmh_kek_load(kp, &kek));
	assert_null(cmh_db_set_kek(db, kek, NULL));
	expect_kind(cmh_db_mgmt_key_get(db, "c1", alg, sizeof(alg), &k, &len),
	    RT_E_NOT_FOUND);
	assert_null(cmh_db_mgmt_key_set(db, "c1", "aes192",
	    (const uint8_t *)"0123456789abcdef01234567", 24, 1));
	assert_null(cmh_db_mgmt_key_set(db, "c1", "aes128",
	    (const uint8_t *)"0123456789abcdef", 16, 2));
	assert_null(cmh_db_mgmt_key_get(db, "c1", alg, sizeof(alg), &k, &len));
	assert_string_equal(alg, "aes128");
	assert_int_equal(len, 16);
	assert_memory_equal(k, "0123456789abcdef", 16);
	free(k);
	assert_null(cmh_db_audit(db, 1, "alice", "127.0.0.1:4000", "p10cr",
	    "CN=x", "ok"));
	assert_null(cmh_db_audit(db, 2, NULL, NULL, "rr", NULL, "notAuthorized"));
	assert_null(cmh_db_audit_count(db, &n));
	assert_int_equal(n, 2);
	cmh_db_close(db);
	cmh_kek_free(kek);
	/* a database that cannot be created, or reached */
	expect_kind(cmh_db_open("/nonexistent/dir/x.db", &db), RT_E_IO);
	expect_kind(cmh_db_open("postgresql://cmhost:s3cret@127.0.0.1:1/x",
	    &db), RT_E_IO);
}

/* ---- the selections of cmhost certs and cmhost audit ---------------------- */

typedef struct {
	char got[512];		/* the serials (or audit ids), space-separated */
	size_t n;
} picked;

static void
picked_add(picked *p, const char *what)
{
	size_t l = strlen(p->got);
	snprintf(p->got + l, sizeof(p->got) - l, "%s%s", l ? " " : "", what);
	p->n++;
}

static void
pick_cert(void *ctx, const cmh_cert_rec *r)
{
	picked_add(ctx, r->serial);
}

static const char *
certs(cmh_db *db, const cmh_cert_filter *f)
{
	static picked p;
	memset(&p, 0, sizeof(p));
	assert_null(cmh_db_certs_find(db, f, pick_cert, &p));
	return p.got;
}

static void
add_as(cmh_db *db, const char *serial, const char *officer,
    const char *profile, const char *card, int64_t at)
{
	cmh_cert_rec r;
	static const uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	memset(&r, 0, sizeof(r));
	snprintf(r.serial, sizeof(r.serial), "%s", serial);
	snprintf(r.subject, sizeof(r.subject), "CN=%s", serial);
	snprintf(r.profile, sizeof(r.profile), "%s", profile);
	snprintf(r.officer, sizeof(r.officer), "%s", officer);
	snprintf(r.card, sizeof(r.card), "%s", card);
	snprintf(r.tid, sizeof(r.tid), "t%s", serial);
	r.state = CMH_CERT_WAITING;
	r.issued_at = r.state_at = at;
	r.not_after = at + 86400;
	assert_null(cmh_db_cert_add(db, &r, der, sizeof(der)));
}

static void
test_certs_find(void **st)
{
	cmh_db *db;
	(void)st;
	assert_null(opendb("find.db", &db));
	assert_string_equal(certs(db, NULL), "");
	add_as(db, "a1", "alice", "user", "0a0b", 100);
	add_as(db, "a2", "alice", "piv-auth", "0a0b", 200);
	add_as(db, "b1", "bob", "user", "0c0d", 300);
	add_as(db, "b2", "bob", "user", "", 400);
	assert_null(cmh_db_cert_confirm(db, "ta2", 0, true, 210));
	assert_null(cmh_db_cert_confirm(db, "tb1", 0, false, 310));
	/* as a CMP rr revokes: a transaction and the certificate */
	const char *sv[] = { "a1" };
	int why[] = { 1 };
	assert_null(cmh_db_revoke_all(db, "admin01", "cmhost-admin", "revoke",
	    sv, why, 1, 500));

	/* no filter: all, oldest first */
	assert_string_equal(certs(db, NULL), "a1 a2 b1 b2");
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state = -1 }),
	    "a1 a2 b1 b2");
	/* each filter alone */
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state =
	    CMH_CERT_REVOKED }), "a1");
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state =
	    CMH_CERT_CONFIRMED }), "a2");
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state =
	    CMH_CERT_REJECTED }), "b1");
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state =
	    CMH_CERT_WAITING }), "b2");
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state = -1,
	    .card = "0a0b" }), "a1 a2");
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state = -1,
	    .card = "0a" }), "");		/* whole values, no prefix */
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state = -1,
	    .officer = "bob" }), "b1 b2");
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state = -1,
	    .profile = "user" }), "a1 b1 b2");
	/* since: issued at or after */
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state = -1,
	    .since = 200 }), "a2 b1 b2");
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state = -1,
	    .since = 401 }), "");
	/* together: every one must hold */
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state = -1,
	    .officer = "alice", .profile = "user" }), "a1");
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state =
	    CMH_CERT_WAITING, .officer = "bob", .since = 350 }), "b2");
	assert_string_equal(certs(db, &(cmh_cert_filter){ .state =
	    CMH_CERT_REVOKED, .officer = "bob" }), "");
	/* the revocation column's data */
	cmh_cert_rec r;
	assert_null(cmh_db_cert_get(db, "a1", &r, NULL, NULL));
	assert_int_equal(r.revocation_reason, 1);
	assert_int_equal(r.state_at, 500);
	/* the admin's revocation burnt its transactionID as an rr does */
	expect_kind(cmh_db_txn_begin(db, "admin01", "x", "rr", NULL, 600),
	    RT_E_AUTH);
	/* and it is seen by the CRL publisher's stamp */
	unsigned s1, s2;
	assert_null(cmh_db_revoked_stamp(db, &s1));
	const char *sv2[] = { "b2" };
	assert_null(cmh_db_revoke_all(db, "admin02", "cmhost-admin", "revoke",
	    sv2, why, 1, 600));
	assert_null(cmh_db_revoked_stamp(db, &s2));
	assert_int_not_equal(s1, s2);
	/* a revoked certificate is not revoked twice; nothing applied */
	expect_kind(cmh_db_revoke_all(db, "admin03", "cmhost-admin", "revoke",
	    sv2, why, 1, 700), RT_E_ARG);
	assert_null(cmh_db_txn_begin(db, "admin03", "x", "rr", NULL, 700));
	cmh_db_close(db);
}

static void
pick_audit(void *ctx, const cmh_audit_rec *r)
{
	char id[24];
	snprintf(id, sizeof(id), "%lld", (long long)r->id);
	picked_add(ctx, id);
}

static const char *
audits(cmh_db *db, const cmh_audit_filter *f)
{
	static picked p;
	memset(&p, 0, sizeof(p));
	assert_null(cmh_db_audit_find(db, f, pick_audit, &p));
	return p.got;
}

static void
test_audit_find(void **st)
{
	cmh_db *db;
	(void)st;
	assert_null(opendb("audit.db", &db));
	assert_string_equal(audits(db, NULL), "");
	assert_null(cmh_db_audit(db, 100, "alice", "127.0.0.1:1", "cr",
	    "card 0a0b: CN=x (user)", "ok"));
	assert_null(cmh_db_audit(db, 200, "bob", "127.0.0.1:2", "rr",
	    "5a5a (keyCompromise)", "ok"));
	assert_null(cmh_db_audit(db, 300, "cmhost-admin", "unix:root",
	    "mgmt-key", "card 0a0b", "ok: stored"));
	assert_null(cmh_db_audit(db, 400, "alice", "127.0.0.1:1", "cr",
	    "card 0a0bff: CN=y (user)", "ok"));
	assert_null(cmh_db_audit(db, 500, "alice", "127.0.0.1:1", "cr",
	    "card 0a_b: CN=z", "badPOP: x"));

	assert_string_equal(audits(db, NULL), "1 2 3 4 5");
	assert_string_equal(audits(db, &(cmh_audit_filter){ .who = "alice" }),
	    "1 4 5");
	assert_string_equal(audits(db, &(cmh_audit_filter){ .action = "rr" }),
	    "2");
	assert_string_equal(audits(db, &(cmh_audit_filter){ .since = 300 }),
	    "3 4 5");
	/* the card: the detail names it whole ("card HEX:" or "card HEX") */
	assert_string_equal(audits(db, &(cmh_audit_filter){ .card = "0a0b" }),
	    "1 3");
	assert_string_equal(audits(db, &(cmh_audit_filter){ .card = "0a0bff" }),
	    "4");
	/* LIKE's wildcards in the card match only themselves */
	assert_string_equal(audits(db, &(cmh_audit_filter){ .card = "0a_b" }),
	    "5");
	assert_string_equal(audits(db, &(cmh_audit_filter){ .card = "0a%" }),
	    "");
	assert_string_equal(audits(db, &(cmh_audit_filter){ .who = "alice",
	    .action = "cr", .card = "0a0b", .since = 50 }), "1");
	assert_string_equal(audits(db, &(cmh_audit_filter){ .who = "alice",
	    .since = 450 }), "5");
	cmh_db_close(db);
}

/* ---- schema ---------------------------------------------------------------- */

static void
test_migrate(void **st)
{
	cmh_db *db;
	unsigned found, now, latest;
	rt_err *e;
	(void)st;
	if (pg_url != NULL) {
		/* an empty database is not migrated by the server: refused,
		 * naming the command */
		e = cmh_db_open_at(&(cmh_db_where){ .url = pg_url }, &db);
		assert_non_null(e);
		assert_int_equal(rt_err_kind_of(e), RT_E_CONFIG);
		assert_non_null(strstr(rt_err_msg(e), "cmhost db migrate"));
		rt_err_free(e);
	}
	/* the first open migrates (SQLite always, PostgreSQL when asked) */
	assert_null(opendb("m.db", &db));
	cmh_db_schema(db, &found, &now, &latest);
	assert_int_equal(found, 0);
	assert_true(latest >= 2);
	assert_int_equal(now, latest);
	add(db, "m1", "tm", 0, CMH_CERT_WAITING, 1);
	cmh_db_close(db);
	/* then it is current; the data stays */
	if (pg_url != NULL)
		assert_null(cmh_db_open_at(&(cmh_db_where){ .url = pg_url }, &db));
	else
		assert_null(opendb("m.db", &db));
	cmh_db_schema(db, &found, &now, &latest);
	assert_int_equal(found, latest);
	assert_int_equal(state(db, "m1"), CMH_CERT_WAITING);
	/* the label names the backend, never a password */
	assert_non_null(strstr(cmh_db_label(db), pg_url ? "PostgreSQL" :
	    "SQLite"));
	cmh_db_close(db);
	/* both or neither of path and url */
	expect_kind(cmh_db_open_at(&(cmh_db_where){ .path = "x", .url =
	    "postgresql://h/d" }, &db), RT_E_ARG);
	expect_kind(cmh_db_open_at(&(cmh_db_where){ .migrate = true }, &db),
	    RT_E_ARG);
	/* a password in a URL is never in an error */
	e = cmh_db_open("postgresql://cmhost:s3cret@127.0.0.1:1/x?password="
	    "s3cret&sslmode=disable", &db);
	assert_non_null(e);
	assert_null(strstr(rt_err_msg(e), "s3cret"));
	assert_non_null(strstr(rt_err_msg(e), "cmhost@127.0.0.1:1"));
	rt_err_free(e);
}

/* ---- two instances on one database ----------------------------------------- */

typedef struct {
	cmh_db *db;
	pthread_barrier_t *go;
	rt_err *(*fn)(cmh_db *, int, void *);
	int round;
	void *arg;
	rt_err *e;
} racer;

static void *
race_one(void *arg)
{
	racer *r = arg;
	pthread_barrier_wait(r->go);
	r->e = r->fn(r->db, r->round, r->arg);
	return NULL;
}

/* fn on both handles at once; how many succeeded (the others' errors
 * must be of kind `loser`). */
static int
race(cmh_db *a, cmh_db *b, int round, rt_err *(*fn)(cmh_db *, int, void *),
    void *arg, rt_err_kind loser)
{
	pthread_barrier_t go;
	pthread_t t[2];
	racer r[2] = { { .db = a, .go = &go, .fn = fn, .round = round,
		.arg = arg }, { .db = b, .go = &go, .fn = fn, .round = round,
		.arg = arg } };
	int won = 0;
	pthread_barrier_init(&go, NULL, 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race_one, &r[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		if (r[i].e == NULL)
			won++;
		else {
			if (rt_err_kind_of(r[i].e) != loser)
				fprintf(stderr, "race: %s\n", rt_err_msg(r[i].e));
			assert_int_equal(rt_err_kind_of(r[i].e), loser);
			rt_err_free(r[i].e);
		}
	}
	pthread_barrier_destroy(&go);
	return won;
}

static rt_err *
do_certconf(cmh_db *db, int round, void *arg)
{
	char tid[16];
	int id = 0;
	bool yes = true;
	(void)arg;
	snprintf(tid, sizeof(tid), "tc%d", round);
	return cmh_db_certconf(db, tid, "alice", "n1", &id, &yes, 1, 2000);
}

static rt_err *
do_nonce(cmh_db *db, int round, void *arg)
{
	char n[16];
	(void)arg;
	snprintf(n, sizeof(n), "ee%02x", round);
	return cmh_db_nonce_use(db, n, 2000);
}

static rt_err *
do_rr(cmh_db *db, int round, void *arg)
{
	static int seq;
	char serial[16], tid[24];
	int why = 1;
	(void)arg;
	snprintf(serial, sizeof(serial), "c%02d", round);
	/* each rr has a transaction ID of its own */
	snprintf(tid, sizeof(tid), "rr%d", __atomic_add_fetch(&seq, 1,
	    __ATOMIC_SEQ_CST));
	const char *sv[] = { serial };
	return cmh_db_revoke_all(db, tid, "bob", "rr", sv, &why, 1, 3000);
}

static rt_err *
do_add(cmh_db *db, int round, void *arg)
{
	static const uint8_t der[] = { 0x30, 0x00 };
	cmh_cert_rec r = { .state = CMH_CERT_WAITING, .issued_at = 5000,
		.state_at = 5000 };
	(void)arg;
	snprintf(r.serial, sizeof(r.serial), "dup%02d", round);
	snprintf(r.tid, sizeof(r.tid), "td%d", round);
	return cmh_db_cert_add(db, &r, der, sizeof(der));
}

typedef struct {
	unsigned counts[2];
	int next;
} swept;

static rt_err *
do_sweep(cmh_db *db, int round, void *arg)
{
	swept *w = arg;
	unsigned n = 0;
	int me = __atomic_fetch_add(&w->next, 1, __ATOMIC_SEQ_CST);
	(void)round;
	rt_err *e = cmh_db_sweep(db, 9000, 600, &n);
	w->counts[me & 1] = n;
	return e;
}

static void
test_two_instances(void **st)
{
	cmh_db *a, *b;
	const int rounds = 12;
	(void)st;
	assert_null(opendb("two.db", &a));
	assert_null(opendb("two.db", &b));
	for (int i = 0; i < rounds; i++) {
		char tid[16], serial[16];
		snprintf(tid, sizeof(tid), "tc%d", i);
		snprintf(serial, sizeof(serial), "c%02d", i);
		/* cr on one instance ... */
		assert_null(cmh_db_txn_begin(a, tid, "alice", "cr", "n1", 1000));
		add(a, serial, tid, 0, CMH_CERT_WAITING, 1000);
	}
	for (int i = 0; i < rounds; i++) {
		/* ... its certConf sent to both at once: applied once */
		assert_int_equal(race(a, b, i, do_certconf, NULL,
		    RT_E_NOT_FOUND), 1);
		char serial[16];
		snprintf(serial, sizeof(serial), "c%02d", i);
		assert_int_equal(state(b, serial), CMH_CERT_CONFIRMED);
		/* a nonce seen by both: one of them takes it */
		assert_int_equal(race(a, b, i, do_nonce, NULL, RT_E_AUTH), 1);
		/* the same rr on both: one revocation */
		assert_int_equal(race(a, b, i, do_rr, NULL, RT_E_ARG), 1);
		assert_int_equal(state(a, serial), CMH_CERT_REVOKED);
		/* the same serial issued by both: one record */
		assert_int_equal(race(a, b, i, do_add, NULL, RT_E_ARG), 1);
	}
	/* the sweep on both at once: each unconfirmed certificate revoked
	 * once, whoever does it */
	for (int i = 0; i < 40; i++) {
		char serial[16], tid[16];
		snprintf(serial, sizeof(serial), "s%02d", i);
		snprintf(tid, sizeof(tid), "ts%d", i);
		add(i % 2 ? a : b, serial, tid, 0, CMH_CERT_WAITING, 7000);
	}
	swept w = { { 0, 0 }, 0 };
	assert_int_equal(race(a, b, 0, do_sweep, &w, RT_E_IO), 2);
	/* 40 plus the 12 dupNN left waiting since 5000 */
	assert_int_equal(w.counts[0] + w.counts[1], 40 + rounds);
	unsigned counts[CMH_CERT_NSTATES];
	assert_null(cmh_db_cert_states(a, counts));
	assert_int_equal(counts[CMH_CERT_WAITING], 0);
	assert_int_equal(counts[CMH_CERT_REVOKED], 40 + 2 * rounds);
	unsigned again = 9;
	assert_null(cmh_db_sweep(b, 9100, 600, &again));
	assert_int_equal(again, 0);
	cmh_db_close(a);
	cmh_db_close(b);
}

/* The shared CRL: the first record and each next one written by exactly
 * one of two instances (the conditional write), numbers only growing. */
static void
test_crl_sequence(void **st)
{
	cmh_db *a, *b;
	cmh_db_crl got;
	bool won;
	static uint8_t d1[] = { 0x30, 0x01, 0x01 }, d2[] = { 0x30, 0x01, 0x02 };
	(void)st;
	assert_null(opendb("crl.db", &a));
	assert_null(opendb("crl.db", &b));
	expect_kind(cmh_db_crl_get(a, "ca1", &got), RT_E_NOT_FOUND);
	cmh_db_crl c1 = { .number = 100, .made_at = 100, .stamp = 7,
	    .der = d1, .len = sizeof(d1) };
	assert_null(cmh_db_crl_put(a, "ca1", 0, &c1, &won));
	assert_true(won);
	/* B made one too from "none": A's is there, B's not written */
	cmh_db_crl c1b = c1;
	c1b.der = d2;
	assert_null(cmh_db_crl_put(b, "ca1", 0, &c1b, &won));
	assert_false(won);
	assert_null(cmh_db_crl_get(b, "ca1", &got));
	assert_int_equal(got.number, 100);
	assert_int_equal(got.stamp, 7);
	assert_int_equal(got.made_at, 100);
	assert_int_equal(got.len, sizeof(d1));
	assert_memory_equal(got.der, d1, sizeof(d1));
	cmh_db_crl_free(&got);
	/* the next: after 100, once */
	cmh_db_crl c2 = { .number = 101, .made_at = 160, .stamp = 8,
	    .der = d2, .len = sizeof(d2) };
	assert_null(cmh_db_crl_put(b, "ca1", 100, &c2, &won));
	assert_true(won);
	cmh_db_crl c2a = { .number = 102, .made_at = 161, .stamp = 8,
	    .der = d1, .len = sizeof(d1) };
	assert_null(cmh_db_crl_put(a, "ca1", 100, &c2a, &won));
	assert_false(won);	/* A read 100 before B wrote 101 */
	/* never a number that is not greater */
	cmh_db_crl back = { .number = 101, .made_at = 170, .stamp = 9,
	    .der = d1, .len = sizeof(d1) };
	assert_null(cmh_db_crl_put(a, "ca1", 101, &back, &won));
	assert_false(won);
	assert_null(cmh_db_crl_get(a, "ca1", &got));
	assert_int_equal(got.number, 101);
	assert_memory_equal(got.der, d2, sizeof(d2));
	cmh_db_crl_free(&got);
	/* another CA has its own */
	expect_kind(cmh_db_crl_get(a, "ca2", &got), RT_E_NOT_FOUND);
	cmh_db_close(a);
	cmh_db_close(b);
}

/* The CRL lock: one holder at a time (PostgreSQL; SQLite: one instance,
 * always got); a revocation on one handle told to the other
 * (PostgreSQL: LISTEN/NOTIFY), a rollback's not. */
static void
test_crl_lock_notify(void **st)
{
	cmh_db *a, *b;
	bool got, rev;
	(void)st;
	assert_null(opendb("lock.db", &a));
	assert_null(opendb("lock.db", &b));
	assert_null(cmh_db_crl_lock(a, &got));
	assert_true(got);
	assert_null(cmh_db_crl_lock(b, &got));
	assert_int_equal(got, pg_url == NULL);	/* PostgreSQL: A holds it */
	if (got)
		cmh_db_crl_unlock(b);
	cmh_db_crl_unlock(a);
	assert_null(cmh_db_crl_lock(b, &got));
	assert_true(got);
	cmh_db_crl_unlock(b);

	assert_int_equal(cmh_db_can_notify(b), pg_url != NULL);
	if (pg_url != NULL) {
		/* the first wait begins listening: "maybe missed" */
		assert_null(cmh_db_revoked_wait(b, 10, &rev));
		assert_true(rev);
		assert_null(cmh_db_revoked_wait(b, 50, &rev));
		assert_false(rev);
		add(a, "71", "tl", 0, CMH_CERT_WAITING, 1000);
		add(a, "72", "tl", 1, CMH_CERT_WAITING, 1000);
		assert_null(cmh_db_revoked_wait(b, 50, &rev));
		assert_false(rev);	/* issued: nothing to tell */
		assert_null(cmh_db_cert_revoke(a, "71", 1, 1100));
		assert_null(cmh_db_revoked_wait(b, 5000, &rev));
		assert_true(rev);
		assert_null(cmh_db_revoked_wait(b, 50, &rev));
		assert_false(rev);	/* told once */
		/* a rejection in a certConf, and the sweep: told too */
		assert_null(cmh_db_cert_confirm(a, "tl", 1, false, 1200));
		assert_null(cmh_db_revoked_wait(b, 5000, &rev));
		assert_true(rev);
		unsigned n = 0;
		assert_null(cmh_db_sweep(a, 5000, 600, &n));
		assert_int_equal(n, 1);
		assert_null(cmh_db_revoked_wait(b, 5000, &rev));
		assert_true(rev);
		/* an rr that fails (an unknown serial): nothing applied,
		 * nothing told */
		const char *sers[] = { "72", "nope" };
		int reasons[] = { 1, 1 };
		rt_err *fe = cmh_db_revoke_all(a, "tr1", "alice", "rr", sers,
		    reasons, 2, 1300);
		assert_non_null(fe);
		rt_err_free(fe);
		assert_null(cmh_db_revoked_wait(b, 200, &rev));
		assert_false(rev);
	} else {
		assert_null(cmh_db_revoked_wait(b, 10, &rev));
		assert_false(rev);
	}
	cmh_db_close(a);
	cmh_db_close(b);
}

/* ---- the pool -------------------------------------------------------------- */

#define POOL_THREADS	8
#define POOL_EACH	25

typedef struct {
	cmh_db *db;
	int t;
	int fails;
} pooler;

static void *
pool_one(void *arg)
{
	pooler *w = arg;
	for (int i = 0; i < POOL_EACH; i++) {
		char serial[32];
		cmh_cert_rec r;
		snprintf(serial, sizeof(serial), "p%d-%d", w->t, i);
		rec_fill(&r, serial, serial, 0, CMH_CERT_WAITING, 1000);
		rt_err *e = cmh_db_cert_add(w->db, &r, some_der,
		    sizeof(some_der));
		if (e == NULL)
			e = cmh_db_audit(w->db, 1000 + i, "alice", "st", "test",
			    serial, "ok");
		if (e == NULL && i % 5 == 0)
			e = cmh_db_cert_revoke(w->db, serial, 1, 2000);
		if (e == NULL && i % 5 == 1)
			e = cmh_db_cert_confirm(w->db, serial, 0, true, 2000);
		if (e != NULL) {
			fprintf(stderr, "pool: %s\n", rt_err_msg(e));
			rt_err_free(e);
			w->fails++;
		}
	}
	return NULL;
}

/* Connections to the test's database now (PostgreSQL), of cmhost. */
static int
pg_conns(void)
{
	PGconn *c = PQconnectdb(pg_url);
	PGresult *r = PQexec(c, "SELECT count(*) FROM pg_stat_activity WHERE "
	    "application_name = 'cmhost' AND datname = current_database()");
	int n = PQresultStatus(r) == PGRES_TUPLES_OK ?
	    atoi(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	PQfinish(c);
	return n;
}

/* Threads more than connections: each call takes a free one, waits while
 * none is; every write done once (the counts exact). PostgreSQL: the
 * handle keeps database.pool connections; SQLite one. */
static void
test_pool(void **st)
{
	(void)st;
	unsigned sizes[] = { 3, 1 };
	for (unsigned k = 0; k < 2; k++) {
		cmh_db *db;
		pthread_t t[POOL_THREADS];
		pooler w[POOL_THREADS];
		char name[16];
		assert_int_equal(pg_empty(NULL), 0);
		snprintf(name, sizeof(name), "pool%u.db", k);
		if (pg_url != NULL)
			assert_null(cmh_db_open_at(&(cmh_db_where){ .url = pg_url,
			    .migrate = true, .pool = sizes[k] }, &db));
		else
			assert_null(opendb(name, &db));
		if (pg_url != NULL)
			assert_int_equal(pg_conns(), (int)sizes[k]);
		for (int i = 0; i < POOL_THREADS; i++) {
			w[i] = (pooler){ .db = db, .t = i };
			assert_int_equal(pthread_create(&t[i], NULL, pool_one,
			    &w[i]), 0);
		}
		for (int i = 0; i < POOL_THREADS; i++) {
			pthread_join(t[i], NULL);
			assert_int_equal(w[i].fails, 0);
		}
		unsigned n = 0, counts[CMH_CERT_NSTATES];
		assert_null(cmh_db_cert_count(db, &n));
		assert_int_equal(n, POOL_THREADS * POOL_EACH);
		assert_null(cmh_db_audit_count(db, &n));
		assert_int_equal(n, POOL_THREADS * POOL_EACH);
		assert_null(cmh_db_cert_states(db, counts));
		assert_int_equal(counts[CMH_CERT_REVOKED],
		    POOL_THREADS * POOL_EACH / 5);
		assert_int_equal(counts[CMH_CERT_CONFIRMED],
		    POOL_THREADS * POOL_EACH / 5);
		cmh_db_close(db);
	}
	if (pg_url != NULL) {
		cmh_db *db;
		unsigned n = 0;
		expect_kind(cmh_db_open_at(&(cmh_db_where){ .url = pg_url,
		    .pool = CMH_DB_POOL_MAX + 1 }, &db), RT_E_ARG);
		/* connections lost (the server ended them): the call that
		 * finds its connection lost fails, naming it; the next use
		 * makes it again */
		assert_null(cmh_db_open_at(&(cmh_db_where){ .url = pg_url,
		    .pool = 2 }, &db));
		PGconn *c = PQconnectdb(pg_url);
		PGresult *r = PQexec(c, "SELECT pg_terminate_backend(pid) FROM "
		    "pg_stat_activity WHERE application_name = 'cmhost' AND "
		    "datname = current_database()");
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		assert_int_equal(PQntuples(r), 2);
		PQclear(r);
		PQfinish(c);
		rt_err *e = cmh_db_cert_count(db, &n);
		assert_non_null(e);
		assert_int_equal(rt_err_kind_of(e), RT_E_IO);
		assert_non_null(strstr(rt_err_msg(e), "postgresql://"));
		rt_err_free(e);
		for (int i = 0; i < 5; i++) {
			assert_null(cmh_db_cert_count(db, &n));
			assert_int_equal(n, POOL_THREADS * POOL_EACH);
		}
		cmh_db_close(db);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_states, pg_empty),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_keys_audit),
		cmocka_unit_test_setup(test_certs_find, pg_empty),
		cmocka_unit_test_setup(test_audit_find, pg_empty),
		cmocka_unit_test_setup(test_migrate, pg_empty),
		cmocka_unit_test_setup(test_two_instances, pg_empty),
		cmocka_unit_test_setup(test_crl_sequence, pg_empty),
		cmocka_unit_test_setup(test_crl_lock_notify, pg_empty),
		cmocka_unit_test(test_pool),
	};
	int fails = cmocka_run_group_tests_name("cmhost_db sqlite", tests,
	    setup, teardown);
	if ((pg_url = getenv("CMH_TEST_PG_URL")) != NULL && *pg_url != '\0')
		fails += cmocka_run_group_tests_name("cmhost_db postgresql",
		    tests, setup, teardown);
	return fails;
}
