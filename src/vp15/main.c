/*
 * main.c - the vp15 command: create and inspect virtual PKCS#15 cards;
 * `vp15 serve` runs them behind vsmartcard's vpcd through the front end
 * the virtual cards share (src/vcard/serve.c, vcard_serve_main).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/pem.h>
#include <mbedtls/x509_crt.h>

#include "raterm/util.h"
#include "raterm/vp15.h"
#include "raterm/vcard.h"

static void
usage_main(FILE *f)
{
	fprintf(f,
	    "usage: vp15 COMMAND [options]\n"
	    "\n"
	    "Virtual PKCS#15 card for tests: an ISO 7816-4 file-system card with\n"
	    "the IsoApplet interface, personalized by OpenSC's pkcs15-init.\n"
	    "\n"
	    "commands:\n"
	    "  init STATE [--force]  create a blank card (creation state: no PIN)\n"
	    "  personalize STATE [--keys N] [--sign-pin] [--so-pin] [--serial N]\n"
	    "                        [--label L] a blank card becomes a PKCS#15 card (isoApplet\n"
	    "                        profile's layout): PIN 123456, PUK 0123456789abcdef,\n"
	    "                        N EC P-256 keys (default 2); --sign-pin: the last\n"
	    "                        key signs after the Signature PIN 654321;\n"
	    "                        --so-pin: an SO PIN 87654321 guards the directory\n"
	    "                        files and certificate EFs\n"
	    "  add-cert STATE (--key REF | --authority) CERT [--label L]\n"
	    "                        a certificate (PEM or DER) and its CDF entry\n"
	    "  pubkey STATE REF      the public key of key REF (PEM)\n"
	    "  info STATE            show the card's files, PINs and keys\n"
	    "  serve ...             run cards behind vsmartcard's vpcd (vp15 serve --help)\n");
}

static int
cmd_init(int argc, char **argv)
{
	const char *path = NULL;
	bool force = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = true;
		else if (argv[i][0] == '-' || path != NULL) {
			fprintf(stderr, "vp15 init: unexpected argument '%s'\n", argv[i]);
			return 2;
		} else
			path = argv[i];
	}
	if (path == NULL) {
		fprintf(stderr, "usage: vp15 init STATE [--force]\n");
		return 2;
	}
	vp15 *c;
	rt_err *e = vp15_create(path, force, &c);
	if (e != NULL)
		return vcard_fail("vp15", e);
	vp15_free(c);
	printf("vp15: blank card in %s\n", path);
	return 0;
}



/* A number of the command line (decimal or 0x hex), at most max. */
static bool
number(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	if (s == NULL || s[0] == '\0' || s[0] == '-')
		return false;
	*out = strtoul(s, &end, 0);
	return *end == '\0' && *out <= max;
}

static int
cmd_personalize(int argc, char **argv)
{
	const char *path = NULL;
	vp15_perso p = { .nkeys = 2 };
	unsigned long v;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--sign-pin") == 0) {
			p.sign_pin = true;
		} else if (strcmp(a, "--so-pin") == 0) {
			p.so_pin = true;
		} else if (strcmp(a, "--keys") == 0 && number(val, 8, &v) && v > 0) {
			p.nkeys = (int)v;
			i++;
		} else if (strcmp(a, "--serial") == 0 && number(val, 0xFFFFFFFFul, &v)) {
			p.serial = (uint32_t)v;
			i++;
		} else if (strcmp(a, "--label") == 0 && val != NULL) {
			p.label = val;
			i++;
		} else if (a[0] != '-' && path == NULL) {
			path = a;
		} else {
			fprintf(stderr, "vp15 personalize: bad argument '%s'\n", a);
			return 2;
		}
	}
	if (path == NULL) {
		fprintf(stderr, "usage: vp15 personalize STATE [--keys N] [--sign-pin] "
		    "[--so-pin] [--serial N] [--label L]\n");
		return 2;
	}
	vp15 *c;
	rt_err *e = vp15_open(path, &c);
	if (e == NULL)
		e = vp15_personalize(c, &p);
	vp15_free(c);
	if (e != NULL)
		return vcard_fail("vp15", e);
	printf("vp15: %s personalized: %d keys%s\n", path, p.nkeys,
	    p.sign_pin ? ", the last one with the Signature PIN" : "");
	return 0;
}

static int
cmd_add_cert(int argc, char **argv)
{
	const char *path = NULL, *cert = NULL, *label = NULL;
	long key = -2;
	unsigned long v;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--authority") == 0) {
			key = -1;
		} else if (strcmp(a, "--key") == 0 && number(val, 15, &v)) {
			key = (long)v;
			i++;
		} else if (strcmp(a, "--label") == 0 && val != NULL) {
			label = val;
			i++;
		} else if (a[0] != '-' && path == NULL) {
			path = a;
		} else if (a[0] != '-' && cert == NULL) {
			cert = a;
		} else {
			fprintf(stderr, "vp15 add-cert: bad argument '%s'\n", a);
			return 2;
		}
	}
	if (path == NULL || cert == NULL || key == -2) {
		fprintf(stderr, "usage: vp15 add-cert STATE (--key REF | --authority) "
		    "CERT [--label L]\n");
		return 2;
	}
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	int rc = mbedtls_x509_crt_parse_file(&crt, cert);
	if (rc != 0) {
		mbedtls_x509_crt_free(&crt);
		fprintf(stderr, "vp15: %s: not a certificate (mbedTLS -0x%04x)\n", cert, -rc);
		return 1;
	}
	vp15 *c;
	rt_err *e = vp15_open(path, &c);
	if (e == NULL)
		e = vp15_add_cert(c, (int)key, crt.raw.p, crt.raw.len, label);
	vp15_free(c);
	mbedtls_x509_crt_free(&crt);
	return e ? vcard_fail("vp15", e) : 0;
}

static int
cmd_pubkey(int argc, char **argv)
{
	unsigned long ref;
	if (argc != 3 || !number(argv[2], 15, &ref)) {
		fprintf(stderr, "usage: vp15 pubkey STATE REF\n");
		return 2;
	}
	vp15 *c;
	uint8_t der[600];
	unsigned char pem[1200];
	size_t len, olen;
	rt_err *e = vp15_open(argv[1], &c);
	if (e == NULL)
		e = vp15_key_pubkey_der(c, (uint8_t)ref, der, sizeof(der), &len);
	vp15_free(c);
	if (e != NULL)
		return vcard_fail("vp15", e);
	if (mbedtls_pem_write_buffer("-----BEGIN PUBLIC KEY-----\n",
	    "-----END PUBLIC KEY-----\n", der, len, pem, sizeof(pem), &olen) != 0)
		return 1;
	fputs((const char *)pem, stdout);
	return 0;
}

static const char *
sc_name(uint8_t b)
{
	static const char *pin_n[] = { "PIN", "PIN", "PIN 2", "PIN 3", "PIN 4",
	    "SO PIN" };
	if ((b & 0xF0) == 0x90 && (b & 0x0F) <= 5)
		return pin_n[b & 0x0F];
	return b == 0x00 ? "always" : b == 0xFF ? "never" : "?";
}

static void
info_file(void *arg, int depth, const uint8_t *path, size_t plen, bool df,
    const uint8_t *aid, size_t aid_len, const uint8_t sa[8],
    const uint8_t *data, size_t size)
{
	(void)arg;
	(void)data;
	printf("%*s", 2 + 2 * depth, "");
	(void)rt_hex_write(stdout, path + plen - 2, 2, RT_HEX_UPPER);
	if (df) {
		printf(" DF");
		if (aid_len > 0) {
			printf(" aid ");
			(void)rt_hex_write(stdout, aid, aid_len, RT_HEX_UPPER);
		}
		printf(" create-ef %s delete %s\n", sc_name(sa[6]), sc_name(sa[1]));
	} else {
		printf(" EF %zu bytes read %s update %s delete %s\n", size,
		    sc_name(sa[7]), sc_name(sa[6]), sc_name(sa[1]));
	}
}

static int
cmd_info(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: vp15 info STATE\n");
		return 2;
	}
	vp15 *c;
	rt_err *e = vp15_open(argv[1], &c);
	if (e != NULL)
		return vcard_fail("vp15", e);
	printf("State:    %s\n", vp15_operational(c) ? "operational (user PIN set)" :
	    "creation (no user PIN: every access condition is met)");
	for (uint8_t r = 1; r <= 5; r++) {
		bool set;
		int total, left;
		vp15_pin_info(c, r, &set, &total, &left);
		if (set)
			printf("PIN %u:    %d of %d tries left\n", r, left, total);
	}
	for (uint8_t k = 0; k < 16; k++) {
		uint8_t der[600];
		size_t len;
		rt_err *ke = vp15_key_pubkey_der(c, k, der, sizeof(der), &len);
		if (ke != NULL) {
			rt_err_free(ke);
			continue;
		}
		printf("Key %u:    public key %zu bytes (DER)\n", k, len);
	}
	printf("Files:\n");
	vp15_walk(c, info_file, NULL);
	vp15_free(c);
	return 0;
}

static int
cmd_serve(int argc, char **argv)
{
	return vcard_serve_main(&vp15_card_ops, argc, argv);
}

int
main(int argc, char **argv)
{
	static const vcard_cmd cmds[] = {
		{ "init", cmd_init },
		{ "info", cmd_info },
		{ "personalize", cmd_personalize },
		{ "add-cert", cmd_add_cert },
		{ "pubkey", cmd_pubkey },
		{ "serve", cmd_serve },
		{ NULL, NULL },
	};
	return vcard_main("vp15", usage_main, false, cmds, argc, argv);
}
