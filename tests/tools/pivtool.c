/* pivtool - drives raterm's card layer (src/card) from tests, so that what
 * raterm's PIV driver writes can be checked by other tools through pcscd.
 *
 *   pivtool -r READER generate SLOT ALG PUB.pem    (default management key)
 *   pivtool -r READER write-cert SLOT CERT.pem|CERT.der
 *   pivtool -r READER delete-cert SLOT
 *   pivtool -r READER sign SLOT ALG HASHFILE SIG.der  (PIN on stdin)
 *   pivtool -r READER verify-pin                      (PIN on stdin)
 *   pivtool -r READER change-pin                      (old, new on stdin)
 *   pivtool -r READER unblock-pin                     (PUK, new PIN on stdin)
 *   pivtool -r READER retries
 *   pivtool -r READER [-m ALG:KEYFILE] auth-mgmt      (key in hex in KEYFILE)
 *
 * -m (before the command) selects the management key for generate,
 * write-cert, delete-cert and auth-mgmt; default: the 3DES default key.
 *
 * READER may be vpiv:STATE for the in-process card. Test tool only: it uses
 * the default management key and is not installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>

#include "raterm/piv.h"
#include "raterm/transport.h"
#include "raterm/util.h"
#include "raterm/util.h"

static const uint8_t default_mgmt[24] = {
	1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
};

static int
fail(rt_err *e)
{
	char buf[1024];
	rt_err_format(e, buf, sizeof(buf));
	fprintf(stderr, "pivtool: %s\n", buf);
	rt_err_free(e);
	return 1;
}

static rt_err *
write_pub_pem(piv_alg alg, const piv_pubkey *pub, const char *path)
{
	mbedtls_pk_context pk;
	unsigned char pem[4096];
	int rc;
	mbedtls_pk_init(&pk);
	if (alg == PIV_ALG_ECCP256 || alg == PIV_ALG_ECCP384) {
		rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
		mbedtls_ecp_keypair *ec = mbedtls_pk_ec(pk);
		if (rc == 0)
			rc = mbedtls_ecp_group_load(&ec->grp, alg == PIV_ALG_ECCP256 ?
			    MBEDTLS_ECP_DP_SECP256R1 : MBEDTLS_ECP_DP_SECP384R1);
		if (rc == 0)
			rc = mbedtls_ecp_point_read_binary(&ec->grp, &ec->Q,
			    pub->point, pub->point_len);
	} else {
		rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
		if (rc == 0)
			rc = mbedtls_rsa_import_raw(mbedtls_pk_rsa(pk), pub->n,
			    pub->n_len, NULL, 0, NULL, 0, NULL, 0, pub->e, pub->e_len);
		if (rc == 0)
			rc = mbedtls_rsa_complete(mbedtls_pk_rsa(pk));
	}
	if (rc == 0)
		rc = mbedtls_pk_write_pubkey_pem(&pk, pem, sizeof(pem));
	mbedtls_pk_free(&pk);
	if (rc != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "public key: -0x%04x",
		    (unsigned)-rc);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return rt_err_new(RT_E_IO, NULL, "cannot write %s", path);
	fputs((const char *)pem, f);
	fclose(f);
	return NULL;
}

static rt_err *
read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return rt_err_new(RT_E_IO, NULL, "cannot read %s", path);
	*buf = malloc(65536);
	*len = fread(*buf, 1, 65535, f);
	fclose(f);
	(*buf)[*len] = 0;
	return NULL;
}

static piv_alg mgmt_alg = PIV_ALG_3DES;
static uint8_t mgmt_key[32];
static size_t mgmt_len;

static rt_err *
auth(piv_card *c)
{
	if (mgmt_len == 0)
		return piv_auth_mgmt(c, PIV_ALG_3DES, default_mgmt, 24);
	return piv_auth_mgmt(c, mgmt_alg, mgmt_key, mgmt_len);
}

static rt_err *
load_mgmt(const char *spec)
{
	char alg[16], hex[200];
	const char *colon = strchr(spec, ':');
	if (colon == NULL || (size_t)(colon - spec) >= sizeof(alg))
		return rt_err_new(RT_E_USAGE, NULL, "-m ALG:KEYFILE");
	memcpy(alg, spec, (size_t)(colon - spec));
	alg[colon - spec] = '\0';
	mgmt_alg = piv_alg_from_name(alg);
	FILE *f = fopen(colon + 1, "r");
	if (f == NULL)
		return rt_err_new(RT_E_IO, NULL, "cannot read %s", colon + 1);
	if (fgets(hex, sizeof(hex), f) == NULL)
		hex[0] = '\0';
	fclose(f);
	hex[strcspn(hex, "\r\n")] = '\0';
	rt_err *e = rt_hex_decode(hex, strlen(hex), mgmt_key, sizeof(mgmt_key),
	    &mgmt_len, RT_HEX_LOOSE);
	rt_wipe(hex, sizeof(hex));
	return e;
}

static rt_err *
read_pin(char *pin, size_t cap, size_t *len)
{
	if (fgets(pin, (int)cap, stdin) == NULL)
		return rt_err_new(RT_E_USAGE, NULL, "no PIN on standard input");
	*len = strcspn(pin, "\r\n");
	pin[*len] = '\0';
	return NULL;
}

int
main(int argc, char **argv)
{
	rt_transport *t = NULL;
	piv_card *c = NULL;
	rt_err *e = NULL;
	uint8_t slot = 0;

	if (argc < 4 || strcmp(argv[1], "-r") != 0) {
		fprintf(stderr, "usage: pivtool -r READER COMMAND ...\n");
		return 2;
	}
	if (argc > 5 && strcmp(argv[3], "-m") == 0) {
		if ((e = load_mgmt(argv[4])) != NULL)
			return fail(e);
		argv[4] = argv[2];
		argv[3] = argv[1];
		argv += 2;
		argc -= 2;
	}
	const char *cmd = argv[3];
	if (argc > 4 && !piv_slot_parse(argv[4], &slot)) {
		fprintf(stderr, "pivtool: bad slot %s\n", argv[4]);
		return 2;
	}
	if (strncmp(argv[2], "vpiv:", 5) == 0) {
		fprintf(stderr, "pivtool: in-process cards: use raterm -r vpiv:\n");
		return 2;
	}
	if ((e = rt_pcsc_open(argv[2], &t)) != NULL)
		return fail(e);
	if ((e = piv_open(t, &c)) != NULL)
		goto out;
	if (strcmp(cmd, "generate") == 0 && argc == 7) {
		piv_alg alg = piv_alg_from_name(argv[5]);
		piv_pubkey pub;
		if ((e = auth(c)) ||
		    (e = piv_generate(c, slot, alg, 0, 0, &pub)))
			goto out;
		e = write_pub_pem(alg, &pub, argv[6]);
	} else if (strcmp(cmd, "write-cert") == 0 && argc == 6) {
		uint8_t *buf, der[16384];
		size_t len, dlen = 0;
		if ((e = read_file(argv[5], &buf, &len)))
			goto out;
		if (strstr((char *)buf, "-----BEGIN") != NULL) {
			mbedtls_pem_context pem;
			size_t used;
			mbedtls_pem_init(&pem);
			if (mbedtls_pem_read_buffer(&pem, "-----BEGIN CERTIFICATE-----",
			    "-----END CERTIFICATE-----", buf, NULL, 0, &used) != 0 ||
			    pem.buflen > sizeof(der))
				e = rt_err_new(RT_E_FORMAT, NULL, "bad PEM %s", argv[5]);
			else {
				memcpy(der, pem.buf, pem.buflen);
				dlen = pem.buflen;
			}
			mbedtls_pem_free(&pem);
		} else if (len <= sizeof(der)) {
			memcpy(der, buf, len);
			dlen = len;
		}
		free(buf);
		if (e == NULL && (e = auth(c)) == NULL)
			e = piv_write_cert(c, slot, der, dlen);
	} else if (strcmp(cmd, "delete-cert") == 0 && argc == 5) {
		if ((e = auth(c)) == NULL)
			e = piv_delete_cert(c, slot);
	} else if (strcmp(cmd, "sign") == 0 && argc == 8) {
		char pin[64];
		size_t pl;
		uint8_t *hash, sig[1024];
		size_t hl, sl;
		piv_alg alg = piv_alg_from_name(argv[5]);
		if ((e = read_pin(pin, sizeof(pin), &pl)))
			goto out;
		e = piv_verify_pin(c, pin, pl);
		rt_wipe(pin, sizeof(pin));
		if (e || (e = read_file(argv[6], &hash, &hl)))
			goto out;
		e = piv_sign(c, slot, alg, hash, hl, sig, sizeof(sig), &sl);
		free(hash);
		if (e == NULL) {
			FILE *f = fopen(argv[7], "wb");
			if (f == NULL)
				e = rt_err_new(RT_E_IO, NULL, "cannot write %s", argv[7]);
			else {
				fwrite(sig, 1, sl, f);
				fclose(f);
			}
		}
	} else if (strcmp(cmd, "verify-pin") == 0 && argc == 4) {
		char pin[64];
		size_t pl;
		if ((e = read_pin(pin, sizeof(pin), &pl)) == NULL)
			e = piv_verify_pin(c, pin, pl);
		rt_wipe(pin, sizeof(pin));
	} else if (strcmp(cmd, "change-pin") == 0 && argc == 4) {
		char a[64], b[64];
		size_t al, bl;
		if ((e = read_pin(a, sizeof(a), &al)) == NULL &&
		    (e = read_pin(b, sizeof(b), &bl)) == NULL)
			e = piv_change_ref(c, false, a, al, b, bl);
		rt_wipe(a, sizeof(a));
		rt_wipe(b, sizeof(b));
	} else if (strcmp(cmd, "unblock-pin") == 0 && argc == 4) {
		char a[64], b[64];
		size_t al, bl;
		if ((e = read_pin(a, sizeof(a), &al)) == NULL &&
		    (e = read_pin(b, sizeof(b), &bl)) == NULL)
			e = piv_unblock_pin(c, a, al, b, bl);
		rt_wipe(a, sizeof(a));
		rt_wipe(b, sizeof(b));
	} else if (strcmp(cmd, "retries") == 0 && argc == 4) {
		int r;
		if ((e = piv_pin_retries(c, &r)) == NULL)
			printf("%d\n", r);
	} else if (strcmp(cmd, "auth-mgmt") == 0 && argc == 4) {
		e = auth(c);
	} else {
		fprintf(stderr, "pivtool: bad command or arguments\n");
		piv_close(c);
		rt_transport_close(t);
		return 2;
	}
out:
	piv_close(c);
	rt_transport_close(t);
	return e ? fail(e) : 0;
}
