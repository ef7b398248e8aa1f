/* Unit tests: secrets at rest - cmhost's key-encryption key (kek.c) and
 * the management keys sealed under it in the database (db.c): a stolen
 * database holds no key in clear, a wrong KEK is named, rows kept in
 * clear by an older database are sealed, rotation is all or nothing, a
 * row moved to another card does not open, key files readable by others
 * are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "raterm/cmhost_db.h"
#include "raterm/cmhost_kek.h"
#include "raterm/util.h"

static char dir[64];

static const uint8_t mk[24] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
	0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
};

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/raterm-kek.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
expect_kind(rt_err *e, rt_err_kind k, const char *needle)
{
	assert_non_null(e);
	if (rt_err_kind_of(e) != k || (needle != NULL &&
	    strstr(rt_err_msg(e), needle) == NULL))
		fail_msg("got %s: %s", rt_err_kind_name(rt_err_kind_of(e)),
		    rt_err_msg(e));
	rt_err_free(e);
}

static void
pathof(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static bool
holds(const uint8_t *d, size_t len, const void *b, size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(d + i, b, n) == 0)
			return true;
	return false;
}

/* Whether the file at path holds the bytes b (binary) or their hex. */
static bool
file_has(const char *path, const uint8_t *b, size_t n)
{
	uint8_t *d;
	size_t len;
	char hex[2 * sizeof(mk) + 1], HEX[sizeof(hex)];
	bool found;
	assert_null(rt_file_read(path, 1 << 24, &d, &len));
	rt_hex_encode(b, n, hex, sizeof(hex), 0);
	rt_hex_encode(b, n, HEX, sizeof(HEX), RT_HEX_UPPER);
	found = holds(d, len, b, n) || holds(d, len, hex, 2 * n) ||
	    holds(d, len, HEX, 2 * n);
	free(d);
	return found;
}

static void
test_kek_file(void **st)
{
	char p[160];
	cmh_kek *k, *k2;
	uint8_t *blob, *out;
	size_t bl, ol;
	(void)st;
	pathof(p, sizeof(p), "a.key");
	assert_null(cmh_kek_generate_file(p));
	struct stat sb;
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	expect_kind(cmh_kek_generate_file(p), RT_E_ARG, "exists");
	assert_null(cmh_kek_load(p, &k));
	assert_int_equal(strlen(cmh_kek_id(k)), CMH_KEK_ID_LEN);
	assert_string_equal(cmh_kek_source(k), p);
	/* sealed: fresh nonce each time, opens only for the same card and
	 * algorithm */
	assert_null(cmh_kek_seal(k, "0a0b", "3des", mk, sizeof(mk), &blob, &bl));
	assert_false(holds(blob, bl, mk, sizeof(mk)));
	assert_null(cmh_kek_open(k, "0a0b", "3des", blob, bl, &out, &ol));
	assert_int_equal(ol, sizeof(mk));
	assert_memory_equal(out, mk, sizeof(mk));
	free(out);
	expect_kind(cmh_kek_open(k, "0a0c", "3des", blob, bl, &out, &ol),
	    RT_E_CRYPTO, "card 0a0c does not open");
	expect_kind(cmh_kek_open(k, "0a0b", "aes192", blob, bl, &out, &ol),
	    RT_E_CRYPTO, p);
	blob[bl - 1] ^= 1;
	expect_kind(cmh_kek_open(k, "0a0b", "3des", blob, bl, &out, &ol),
	    RT_E_CRYPTO, NULL);
	expect_kind(cmh_kek_open(k, "0a0b", "3des", blob, 5, &out, &ol),
	    RT_E_FORMAT, NULL);
	free(blob);
	/* 32 raw bytes work too; another key has another identifier */
	pathof(p, sizeof(p), "raw.key");
	assert_null(rt_file_write(p, mk, 24, 0600));
	expect_kind(cmh_kek_load(p, &k2), RT_E_FORMAT, "raw.key");
	uint8_t raw[32] = { 9 };
	assert_null(rt_file_write(p, raw, sizeof(raw), 0600));
	assert_null(cmh_kek_load(p, &k2));
	assert_string_not_equal(cmh_kek_id(k), cmh_kek_id(k2));
	cmh_kek_free(k2);
	/* readable by others: refused, naming the file and the fix */
	assert_int_equal(chmod(p, 0644), 0);
	expect_kind(cmh_kek_load(p, &k2), RT_E_CONFIG, "chmod 600");
	pathof(p, sizeof(p), "missing.key");
	expect_kind(cmh_kek_load(p, &k2), RT_E_IO, "missing.key");
	cmh_kek_free(k);
	/* a passphrase: the same salt gives the same key */
	uint8_t salt[CMH_KEK_SALT_LEN] = { 1, 2, 3 };
	assert_null(cmh_kek_derive("correct horse", 13, salt, sizeof(salt),
	    "database.kek_passphrase", &k));
	assert_null(cmh_kek_derive("correct horse", 13, salt, sizeof(salt),
	    "database.kek_passphrase", &k2));
	assert_string_equal(cmh_kek_id(k), cmh_kek_id(k2));
	cmh_kek_free(k2);
	assert_null(cmh_kek_derive("correct horsf", 13, salt, sizeof(salt),
	    "database.kek_passphrase", &k2));
	assert_string_not_equal(cmh_kek_id(k), cmh_kek_id(k2));
	cmh_kek_free(k2);
	cmh_kek_free(k);
	expect_kind(cmh_kek_derive("", 0, salt, sizeof(salt), "x", &k),
	    RT_E_ARG, NULL);
}

static void
test_db_sealed(void **st)
{
	char db_path[160], a[160], b[160];
	cmh_db *db;
	cmh_kek *ka, *kb;
	uint8_t *key;
	size_t kl;
	char alg[16];
	unsigned n;
	(void)st;
	pathof(db_path, sizeof(db_path), "s.db");
	pathof(a, sizeof(a), "s-a.key");
	pathof(b, sizeof(b), "s-b.key");
	assert_null(cmh_kek_generate_file(a));
	assert_null(cmh_kek_generate_file(b));
	assert_null(cmh_kek_load(a, &ka));
	assert_null(cmh_kek_load(b, &kb));

	/* without a KEK nothing is stored */
	assert_null(cmh_db_open(db_path, &db));
	expect_kind(cmh_db_mgmt_key_set(db, "0a0b", "3des", mk, sizeof(mk), 1),
	    RT_E_CONFIG, "database.kek_file");
	assert_null(cmh_db_set_kek(db, ka, &n));
	assert_int_equal(n, 0);
	assert_null(cmh_db_mgmt_key_set(db, "0a0b", "3des", mk, sizeof(mk), 1));
	assert_null(cmh_db_mgmt_key_get(db, "0a0b", alg, sizeof(alg), &key,
	    &kl));
	assert_string_equal(alg, "3des");
	assert_memory_equal(key, mk, sizeof(mk));
	free(key);
	cmh_db_close(db);
	/* the stolen file: no key, neither binary nor hex */
	assert_false(file_has(db_path, mk, sizeof(mk)));

	/* the stolen database without its KEK, or with another */
	assert_null(cmh_db_open(db_path, &db));
	expect_kind(cmh_db_mgmt_key_get(db, "0a0b", alg, sizeof(alg), &key,
	    &kl), RT_E_CONFIG, NULL);
	expect_kind(cmh_db_set_kek(db, kb, NULL), RT_E_CRYPTO, b);
	expect_kind(cmh_db_rekey(db, kb, NULL), RT_E_CONFIG, NULL);
	cmh_db_close(db);

	/* a row moved to another card does not open */
	sqlite3 *h;
	assert_int_equal(sqlite3_open(db_path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "INSERT INTO mgmt_keys SELECT 'ffff', "
	    "alg, key, updated_at, kek_id FROM mgmt_keys WHERE card='0a0b'",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_null(cmh_db_open(db_path, &db));
	assert_null(cmh_db_set_kek(db, ka, NULL));
	expect_kind(cmh_db_mgmt_key_get(db, "ffff", alg, sizeof(alg), &key,
	    &kl), RT_E_CRYPTO, "card ffff");
	/* ... and a rotation that meets it changes nothing */
	expect_kind(cmh_db_rekey(db, kb, NULL), RT_E_CRYPTO, "nothing changed");
	assert_null(cmh_db_mgmt_key_get(db, "0a0b", alg, sizeof(alg), &key,
	    &kl));
	free(key);
	cmh_db_close(db);
	assert_int_equal(sqlite3_open(db_path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "DELETE FROM mgmt_keys WHERE "
	    "card='ffff'", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);

	/* rotation: every row under the new KEK, the old one refused */
	assert_null(cmh_db_open(db_path, &db));
	assert_null(cmh_db_set_kek(db, ka, NULL));
	assert_null(cmh_db_mgmt_key_set(db, "0c0d", "aes128", mk, 16, 2));
	assert_null(cmh_db_rekey(db, kb, &n));
	assert_int_equal(n, 2);
	assert_null(cmh_db_mgmt_key_get(db, "0c0d", alg, sizeof(alg), &key,
	    &kl));
	assert_int_equal(kl, 16);
	assert_memory_equal(key, mk, 16);
	free(key);
	cmh_db_close(db);
	assert_null(cmh_db_open(db_path, &db));
	expect_kind(cmh_db_set_kek(db, ka, NULL), RT_E_CRYPTO, a);
	assert_null(cmh_db_set_kek(db, kb, NULL));
	assert_null(cmh_db_mgmt_key_get(db, "0a0b", alg, sizeof(alg), &key,
	    &kl));
	assert_memory_equal(key, mk, sizeof(mk));
	free(key);
	cmh_db_close(db);
	assert_false(file_has(db_path, mk, sizeof(mk)));
	cmh_kek_free(ka);
	cmh_kek_free(kb);
}

/* A database of before secrets at rest: its rows in clear are sealed at
 * the first open with a KEK. */
static void
test_db_migrate(void **st)
{
	char db_path[160], a[160];
	cmh_db *db;
	cmh_kek *ka;
	sqlite3 *h;
	uint8_t *key;
	size_t kl;
	char alg[16];
	unsigned n;
	(void)st;
	pathof(db_path, sizeof(db_path), "old.db");
	pathof(a, sizeof(a), "old.key");
	assert_int_equal(sqlite3_open(db_path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE mgmt_keys (card TEXT "
	    "PRIMARY KEY, alg TEXT NOT NULL, key BLOB NOT NULL, updated_at "
	    "INTEGER NOT NULL); INSERT INTO mgmt_keys VALUES ('0a0b', '3des', "
	    "X'010203040506070811121314151617182122232425262728', 5)", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_true(file_has(db_path, mk, sizeof(mk)));
	assert_null(cmh_db_open(db_path, &db));
	/* without a KEK the old row is still read (nothing new stored) */
	assert_null(cmh_db_mgmt_key_get(db, "0a0b", alg, sizeof(alg), &key,
	    &kl));
	assert_memory_equal(key, mk, sizeof(mk));
	free(key);
	assert_null(cmh_kek_generate_file(a));
	assert_null(cmh_kek_load(a, &ka));
	assert_null(cmh_db_set_kek(db, ka, &n));
	assert_int_equal(n, 1);
	assert_null(cmh_db_mgmt_key_get(db, "0a0b", alg, sizeof(alg), &key,
	    &kl));
	assert_memory_equal(key, mk, sizeof(mk));
	free(key);
	/* the salt of a passphrase KEK: made once, then kept */
	uint8_t s1[CMH_KEK_SALT_LEN], s2[CMH_KEK_SALT_LEN];
	assert_null(cmh_db_kek_salt(db, s1, sizeof(s1)));
	assert_null(cmh_db_kek_salt(db, s2, sizeof(s2)));
	assert_memory_equal(s1, s2, sizeof(s1));
	/* no page of the file nor of its WAL keeps the row in clear */
	char wal[200];
	snprintf(wal, sizeof(wal), "%s-wal", db_path);
	assert_false(file_has(db_path, mk, sizeof(mk)));
	assert_true(access(wal, F_OK) != 0 || !file_has(wal, mk, sizeof(mk)));
	cmh_db_close(db);
	assert_false(file_has(db_path, mk, sizeof(mk)));
	cmh_kek_free(ka);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kek_file),
		cmocka_unit_test(test_db_sealed),
		cmocka_unit_test(test_db_migrate),
	};
	return cmocka_run_group_tests_name("cmhost_kek", tests, setup, teardown);
}
