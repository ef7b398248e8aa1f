/*
 * cmhost_kek.h - the key-encryption key (KEK) under which cmhost keeps
 * card management keys in its database (secrets at rest, docs/cmhost.md).
 *
 * The KEK is kept apart from the database: a file of 32 random bytes
 * (raw, or 64 hex digits on one line) that only its owner may read
 * (`database.kek_file`), or derived from a passphrase asked on the
 * terminal at start (`database.kek_passphrase: ask`) with scrypt and a
 * salt stored in the database. Each management key is sealed with
 * AES-256-GCM (libcrypto): a fresh 12-byte nonce, the card identifier and
 * the key's algorithm as associated data (a row moved to another card, or
 * given another algorithm, does not open). The KEK has an identifier (a
 * keyed hash of it, never the key) stored beside each row, so that a
 * database knows which KEK its rows need and a rotation (`cmhost rekey`)
 * can tell old rows from new.
 *
 * Key material is wiped when freed.
 */
#ifndef RATERM_CMHOST_KEK_H
#define RATERM_CMHOST_KEK_H

#include <stddef.h>
#include <stdint.h>

#include "raterm/cmhost.h"
#include "raterm/cmhost_db.h"
#include "raterm/err.h"

#define CMH_KEK_LEN 32		/* AES-256 */
#define CMH_KEK_SALT_LEN 16	/* passphrase salt */
#define CMH_KEK_ID_LEN 16	/* hex digits of the identifier */

typedef struct cmh_kek cmh_kek;

/* Reads a KEK file: exactly 32 bytes, or 64 hex digits (a final newline
 * allowed). The file must be a regular file that neither group nor others
 * may access. Errors name the file: IO (missing, not a regular file),
 * CONFIG ("PATH: mode 0644 lets group or others read ... (chmod 600
 * PATH)"), FORMAT (another
 * length or content), NOMEM. */
rt_err *cmh_kek_load(const char *path, cmh_kek **out) RT_MUST;
/* Derives a KEK from a passphrase and the database's salt (scrypt,
 * N=32768, r=8, p=1). `source` names it in messages (the config key).
 * Errors: ARG (empty passphrase), CRYPTO, NOMEM. */
rt_err *cmh_kek_derive(const char *pass, size_t len, const uint8_t *salt,
    size_t salt_len, const char *source, cmh_kek **out) RT_MUST;
/* Writes a new KEK file at path (64 hex digits and a newline, mode 0600,
 * atomically); refuses to replace an existing file (ARG). Errors: IO,
 * CRYPTO (no randomness). */
rt_err *cmh_kek_generate_file(const char *path) RT_MUST;
/* Wipes and frees. */
void cmh_kek_free(cmh_kek *k);

/* The KEK's identifier: CMH_KEK_ID_LEN lowercase hex digits. */
const char *cmh_kek_id(const cmh_kek *k);
/* Where it came from, for messages: the file's path or the config key. */
const char *cmh_kek_source(const cmh_kek *k);

/* Seals a management key of card `card` (hex) and algorithm alg: *blob
 * (malloc'ed) is version 1 || nonce (12) || ciphertext || tag (16).
 * Errors: ARG (empty key), CRYPTO, NOMEM. */
rt_err *cmh_kek_seal(const cmh_kek *k, const char *card, const char *alg,
    const uint8_t *key, size_t len, uint8_t **blob, size_t *blob_len) RT_MUST;
/* Opens what cmh_kek_seal made for the same card and alg; *key
 * (malloc'ed: wipe and free it). Errors: CRYPTO ("the management key of
 * card C does not open under KEK SOURCE": another KEK, or the row was
 * altered or moved), FORMAT (not a sealed blob), NOMEM. */
rt_err *cmh_kek_open(const cmh_kek *k, const char *card, const char *alg,
    const uint8_t *blob, size_t blob_len, uint8_t **key, size_t *len) RT_MUST;

/* The KEK a configuration names (database.kek_file, or the passphrase
 * of database.kek_passphrase asked on the terminal with the database's
 * salt), given to db (cmh_db_set_kek: checked against the rows, rows in
 * clear sealed, *migrated of them). *out NULL when none is configured;
 * else it must outlive db's use of it. Errors: those of cmh_kek_load,
 * cmh_kek_derive, rt_tty_read (no terminal) and cmh_db_set_kek. */
rt_err *cmh_kek_attach(const cmh_config *c, cmh_db *db,
    cmh_kek **out, unsigned *migrated) RT_MUST;

#endif
