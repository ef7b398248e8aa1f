/* kek.c - the key-encryption key of cmhost's card management keys; see
 * include/raterm/cmhost_kek.h. AES-256-GCM, scrypt and HMAC from
 * libcrypto (cmhost's crypto backend); randomness from rt_random. */
#include "raterm/cmhost_kek.h"
#include "raterm/cmhost.h"
#include "raterm/cmhost_db.h"
#include "raterm/signer.h"
#include "raterm/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

#define NONCE_LEN 12
#define TAG_LEN 16
#define BLOB_V1 1

struct cmh_kek {
	uint8_t key[CMH_KEK_LEN];
	char id[CMH_KEK_ID_LEN + 1];
	char source[512];
};

/* The identifier: HMAC-SHA256(kek, label), its first 8 bytes in hex. */
static rt_err *
kek_finish(cmh_kek *k, const char *source)
{
	static const char label[] = "raterm cmhost KEK identifier";
	uint8_t mac[32];
	unsigned ml = 0;
	snprintf(k->source, sizeof(k->source), "%s", source);
	if (HMAC(EVP_sha256(), k->key, CMH_KEK_LEN, (const uint8_t *)label,
	    sizeof(label) - 1, mac, &ml) == NULL || ml < CMH_KEK_ID_LEN / 2)
		return rt_err_new(RT_E_CRYPTO, NULL, "KEK %s: identifier", source);
	rt_hex_encode(mac, CMH_KEK_ID_LEN / 2, k->id, sizeof(k->id), 0);
	return NULL;
}

rt_err *
cmh_kek_load(const char *path, cmh_kek **out)
{
	struct stat st;
	uint8_t *data = NULL;
	size_t len = 0, n = 0;
	cmh_kek *k;
	rt_err *e;

	*out = NULL;
	if (stat(path, &st) != 0)
		return rt_err_new(RT_E_IO, NULL, "KEK file %s: %s", path,
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return rt_err_new(RT_E_IO, NULL, "KEK file %s: not a regular file",
		    path);
	if ((st.st_mode & 077) != 0)
		return rt_err_new(RT_E_CONFIG, NULL, "KEK file %s: mode %04o lets "
		    "group or others read the key-encryption key (chmod 600 %s)",
		    path, (unsigned)(st.st_mode & 07777), path);
	if ((e = rt_file_read_regular(path, 200, &data, &len)) != NULL)
		return rt_err_wrap(e, "KEK file %s", path);
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		rt_wipe(data, len);
		free(data);
		return rt_err_new(RT_E_NOMEM, NULL, "KEK");
	}
	if (len == CMH_KEK_LEN) {
		memcpy(k->key, data, CMH_KEK_LEN);
		n = CMH_KEK_LEN;
	} else {
		size_t l = len;
		while (l > 0 && (data[l - 1] == '\n' || data[l - 1] == '\r'))
			l--;
		if (l != 2 * CMH_KEK_LEN || (e = rt_hex_decode((const char *)data,
		    l, k->key, CMH_KEK_LEN, &n, 0)) != NULL) {
			if (l == 2 * CMH_KEK_LEN)
				rt_err_free(e);
			n = 0;
		}
	}
	rt_wipe(data, len);
	free(data);
	if (n != CMH_KEK_LEN) {
		cmh_kek_free(k);
		return rt_err_new(RT_E_FORMAT, NULL, "KEK file %s: not a key-"
		    "encryption key (32 bytes, or 64 hex digits on one line; "
		    "%zu bytes)", path, len);
	}
	if ((e = kek_finish(k, path)) != NULL) {
		cmh_kek_free(k);
		return e;
	}
	*out = k;
	return NULL;
}

rt_err *
cmh_kek_derive(const char *pass, size_t len, const uint8_t *salt,
    size_t salt_len, const char *source, cmh_kek **out)
{
	cmh_kek *k;
	rt_err *e;
	*out = NULL;
	if (len == 0)
		return rt_err_new(RT_E_ARG, NULL, "%s: empty passphrase", source);
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "KEK");
	/* N=2^15, r=8: 32 MiB, a fraction of a second once at start */
	if (EVP_PBE_scrypt(pass, len, salt, salt_len, 32768, 8, 1,
	    64u * 1024 * 1024, k->key, CMH_KEK_LEN) != 1) {
		cmh_kek_free(k);
		return rt_err_new(RT_E_CRYPTO, NULL, "%s: scrypt failed", source);
	}
	if ((e = kek_finish(k, source)) != NULL) {
		cmh_kek_free(k);
		return e;
	}
	*out = k;
	return NULL;
}

rt_err *
cmh_kek_generate_file(const char *path)
{
	uint8_t key[CMH_KEK_LEN];
	char hex[2 * CMH_KEK_LEN + 2];
	struct stat st;
	rt_err *e;
	if (lstat(path, &st) == 0)
		return rt_err_new(RT_E_ARG, NULL, "KEK file %s exists: not "
		    "replaced", path);
	if ((e = rt_random(key, sizeof(key))) != NULL)
		return e;
	rt_hex_encode(key, sizeof(key), hex, sizeof(hex), 0);
	rt_wipe(key, sizeof(key));
	size_t n = strlen(hex);
	hex[n++] = '\n';
	e = rt_file_write(path, hex, n, 0600);
	rt_wipe(hex, sizeof(hex));
	return e;
}

void
cmh_kek_free(cmh_kek *k)
{
	if (k == NULL)
		return;
	rt_wipe(k, sizeof(*k));
	free(k);
}

const char *
cmh_kek_id(const cmh_kek *k)
{
	return k->id;
}

const char *
cmh_kek_source(const cmh_kek *k)
{
	return k->source;
}

/* The associated data: the card and the algorithm, each with a NUL. */
static int
aad_add(EVP_CIPHER_CTX *c, const char *card, const char *alg)
{
	int l;
	return EVP_CipherUpdate(c, NULL, &l, (const uint8_t *)card,
	    (int)strlen(card) + 1) == 1 && EVP_CipherUpdate(c, NULL, &l,
	    (const uint8_t *)alg, (int)strlen(alg) + 1) == 1;
}

rt_err *
cmh_kek_seal(const cmh_kek *k, const char *card, const char *alg,
    const uint8_t *key, size_t len, uint8_t **blob, size_t *blob_len)
{
	EVP_CIPHER_CTX *c;
	uint8_t *b;
	size_t n = 1 + NONCE_LEN + len + TAG_LEN;
	int l = 0, l2 = 0;
	rt_err *e;

	*blob = NULL;
	if (len == 0 || len > 256)
		return rt_err_new(RT_E_ARG, NULL, "management key of card %s: "
		    "%zu bytes", card, len);
	if ((b = malloc(n)) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "KEK");
	b[0] = BLOB_V1;
	if ((e = rt_random(b + 1, NONCE_LEN)) != NULL) {
		free(b);
		return e;
	}
	if ((c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN,
	    NULL) != 1 ||
	    EVP_EncryptInit_ex(c, NULL, NULL, k->key, b + 1) != 1 ||
	    !aad_add(c, card, alg) ||
	    EVP_EncryptUpdate(c, b + 1 + NONCE_LEN, &l, key, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(c, b + 1 + NONCE_LEN + l, &l2) != 1 ||
	    (size_t)(l + l2) != len ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
	    b + 1 + NONCE_LEN + len) != 1) {
		EVP_CIPHER_CTX_free(c);
		free(b);
		return rt_err_new(RT_E_CRYPTO, NULL, "management key of card %s: "
		    "AES-GCM encryption failed", card);
	}
	EVP_CIPHER_CTX_free(c);
	*blob = b;
	*blob_len = n;
	return NULL;
}

rt_err *
cmh_kek_open(const cmh_kek *k, const char *card, const char *alg,
    const uint8_t *blob, size_t blob_len, uint8_t **key, size_t *len)
{
	EVP_CIPHER_CTX *c;
	uint8_t *p;
	int l = 0, l2 = 0;

	*key = NULL;
	if (blob_len <= 1 + NONCE_LEN + TAG_LEN || blob[0] != BLOB_V1)
		return rt_err_new(RT_E_FORMAT, NULL, "management key of card %s: "
		    "not an encrypted key (%zu bytes)", card, blob_len);
	size_t n = blob_len - 1 - NONCE_LEN - TAG_LEN;
	if ((p = malloc(n)) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "KEK");
	uint8_t tag[TAG_LEN];
	memcpy(tag, blob + blob_len - TAG_LEN, TAG_LEN);
	if ((c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN,
	    NULL) != 1 ||
	    EVP_DecryptInit_ex(c, NULL, NULL, k->key, blob + 1) != 1 ||
	    !aad_add(c, card, alg) ||
	    EVP_DecryptUpdate(c, p, &l, blob + 1 + NONCE_LEN, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1 ||
	    EVP_DecryptFinal_ex(c, p + l, &l2) != 1 || (size_t)(l + l2) != n) {
		EVP_CIPHER_CTX_free(c);
		rt_wipe(p, n);
		free(p);
		return rt_err_new(RT_E_CRYPTO, NULL, "the management key of card "
		    "%s does not open under the key-encryption key %s (another "
		    "KEK, or the row was altered)", card, k->source);
	}
	EVP_CIPHER_CTX_free(c);
	*key = p;
	*len = n;
	return NULL;
}

rt_err *
cmh_kek_attach(const cmh_config *c, cmh_db *db, cmh_kek **out,
    unsigned *migrated)
{
	uint8_t salt[CMH_KEK_SALT_LEN];
	char pass[512], prompt[600];
	size_t pl = 0;
	rt_err *e;

	*out = NULL;
	if (migrated != NULL)
		*migrated = 0;
	if (c->kek_file != NULL)
		e = cmh_kek_load(c->kek_file, out);
	else if (c->kek_ask) {
		if ((e = cmh_db_kek_salt(db, salt, sizeof(salt))) != NULL)
			return e;
		snprintf(prompt, sizeof(prompt), "key-encryption passphrase of %s",
		    cmh_db_label(db));
		if ((e = rt_tty_read(prompt, false, "database.kek_passphrase: ask "
		    "needs one (or use database.kek_file)", pass, sizeof(pass),
		    &pl)) != NULL)
			return e;
		e = cmh_kek_derive(pass, pl, salt, sizeof(salt),
		    "database.kek_passphrase", out);
		rt_wipe(pass, sizeof(pass));
	} else
		return NULL;
	if (e == NULL && (e = cmh_db_set_kek(db, *out, migrated)) != NULL) {
		cmh_kek_free(*out);
		*out = NULL;
	}
	return e;
}
