/*
 * journal.h - the durable journal of card updates, and the audit log.
 *
 * Journal: a directory with one append-only file per operation (one card
 * update), "<id>.journal". Before each step that changes the card or the
 * CM host, the engine appends a record of what is about to happen, and
 * after each answer a record of what was received (issued certificates
 * included), each made durable (fsync of the file; on creation also of the
 * directory) before the step runs. After a crash, a pulled card or a lost
 * connection, `raterm recover` lists the operations without an END or
 * ABORT record (rt_journal_incomplete) and completes or rolls them back.
 *
 * Record format: one line per record,
 *     "RTJ1 <crc32 hex8> <payload>\n"
 * where payload is space-separated key=value fields (values
 * percent-encoded; certificates in base64) and the CRC-32 covers the
 * payload. A crash while appending leaves at most a torn last record (no
 * newline, or a CRC that does not match): the reader ignores it and flags
 * the operation `torn`. A bad record before the last one is corruption:
 * the operation is still listed (never silently dropped) with `corrupt`.
 *
 * No function here takes a secret: there is no field for a PIN, a
 * passphrase or a management key, and free-text fields are for
 * descriptions only (rt_journal_append refuses text containing "pin=").
 *
 * Audit log: one line per key and operation (who, card, slot, action,
 * procedure, certificate serial, result), appended with O_APPEND and
 * fsync'ed, never a PIN.
 */
#ifndef RATERM_JOURNAL_H
#define RATERM_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "raterm/err.h"

typedef enum {
	RT_J_BEGIN = 0,		/* operation opened: card, procedure, officer */
	RT_J_PLAN,		/* one per key: slot, action, profile */
	RT_J_REQUEST,		/* about to send the CMP request */
	RT_J_ISSUED,		/* received: a certificate for a slot */
	RT_J_WRITE,		/* about to write a certificate to the card */
	RT_J_WRITTEN,		/* written and read back */
	RT_J_CONFIRM,		/* about to send certConf (accept / reject) */
	RT_J_CONFIRMED,		/* pkiConf received */
	RT_J_ROLLBACK,		/* about to undo a step (note says which) */
	RT_J_END,		/* operation complete */
	RT_J_ABORT,		/* operation abandoned, consistent state */
	RT_J__COUNT
} rt_jstep;

const char *rt_jstep_name(rt_jstep s);	/* "begin", "issued", ... */

typedef struct {
	rt_jstep step;
	time_t at;		/* set by append when 0 */
	uint8_t slot;		/* 0: not about one key */
	char action[8];		/* "redo", "issue", "add" or "" */
	char profile[64];
	char serial[132];	/* certificate serial (hex) or "" */
	char text[256];		/* description; never a secret */
	const uint8_t *cert;	/* DER, may be NULL (append: borrowed) */
	size_t cert_len;
} rt_jrec;

/* The header of an operation (its BEGIN record). */
typedef struct {
	char card[96];		/* "serial 10000001" */
	char reader[256];
	char procedure[64];
	char officer[256];
	char txid[64];		/* CMP transactionID (hex), "" until known */
} rt_jop_info;

typedef struct rt_journal rt_journal;

/* Opens (creating it with mode 0700 when missing) the journal directory.
 * Errors: IO. */
rt_err *rt_journal_open(const char *dir, rt_journal **out) RT_MUST;
void rt_journal_close(rt_journal *j);

/* An open operation: its file. */
typedef struct rt_jop_file rt_jop_file;

/* Creates a new operation file (O_EXCL), writes and syncs its BEGIN
 * record, then syncs the directory. *id (cap >= 64) gets its id.
 * Errors: IO. */
rt_err *rt_journal_begin(rt_journal *j, const rt_jop_info *info,
    char *id, size_t cap, rt_jop_file **out) RT_MUST;
/* Re-opens an existing operation for appending (recovery). Errors: IO,
 * NOT_FOUND. */
rt_err *rt_journal_reopen(rt_journal *j, const char *id, rt_jop_file **out)
    RT_MUST;
/* Appends one record and fsyncs it before returning. Errors: IO, ARG
 * (text that looks like a secret, bad step). */
rt_err *rt_journal_append(rt_jop_file *f, const rt_jrec *r) RT_MUST;
/* Closes the file (does not end the operation: append END/ABORT first). */
void rt_journal_file_close(rt_jop_file *f);

/* An operation read back. Records' certificates are owned by it. */
typedef struct {
	char id[64];
	char path[600];
	rt_jop_info info;
	time_t started;
	rt_jrec *recs;		/* BEGIN excluded */
	size_t nrecs;
	bool complete;		/* ends with END or ABORT */
	bool torn;		/* the last record was incomplete (ignored) */
	bool corrupt;		/* a bad record before the last one, or the
				 * file could not be read at all */
	char unreadable[200];	/* why it could not be read ("" if read:
				 * larger than 16 MiB, a symbolic link, not a
				 * regular file) */
	rt_jstep last;		/* the last valid record's step */
} rt_jop;

/* Reads one operation file. Errors: IO, FORMAT (no valid BEGIN). */
rt_err *rt_journal_read(rt_journal *j, const char *id, rt_jop *out) RT_MUST;
void rt_jop_free(rt_jop *op);

/* Lists the operations that are not complete, oldest first: *ops is an
 * array of *n (free with rt_jops_free). A file without a valid BEGIN, or
 * one that cannot be read (too large, a link, not a regular file; opened
 * with O_NOFOLLOW), is listed with corrupt set (and `unreadable` saying
 * why): it never hides the others. Errors: IO (the directory), NOMEM. */
rt_err *rt_journal_incomplete(rt_journal *j, rt_jop **ops, size_t *n) RT_MUST;
void rt_jops_free(rt_jop *ops, size_t n);

/* ---- audit log --------------------------------------------------------------- */

typedef struct rt_audit rt_audit;

typedef struct {
	time_t at;		/* 0: now */
	const char *officer;	/* who */
	const char *card;	/* "serial 10000001" */
	uint8_t slot;
	const char *action;	/* "redo" */
	const char *procedure;
	const char *serial;	/* issued certificate serial, NULL/"" none */
	const char *result;	/* "ok", "refused: ...", "failed: ..." */
} rt_audit_line;

/* Opens (creates, mode 0600) the audit log for appending. Errors: IO. */
rt_err *rt_audit_open(const char *path, rt_audit **out) RT_MUST;
void rt_audit_close(rt_audit *a);
/* Appends one line and fsyncs it:
 *   2026-01-02T03:04:05Z officer="..." card="..." slot=9a action=redo
 *   procedure=tc-redo serial=01ab result="ok"
 * Quotes and backslashes in values are escaped; control characters
 * dropped. Errors: IO, ARG (a value that looks like a PIN: "pin="). */
rt_err *rt_audit_append(rt_audit *a, const rt_audit_line *l) RT_MUST;

/* CRC-32 (IEEE 802.3), exposed for tests. */
uint32_t rt_crc32(const void *data, size_t len);

#endif
