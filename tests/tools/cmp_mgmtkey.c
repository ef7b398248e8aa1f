/* cmp_mgmtkey - asks a CM host for a card's management key (genm
 * id-it-raterm-cardMgmtKey, cmp_client_mgmt_key: what `raterm update`
 * does) with a software officer token, for the integration tests.
 *
 *   cmp_mgmtkey URL TLS_CA|- TRUST KEY CERT PASSFILE CARD_HEX
 *
 * Prints "alg=N key=HEX" and exits 0; 3: the CM host holds none; 4: the
 * CM host refused (its error on stderr); 1: other errors; 2: usage. */
#include "raterm/cmp.h"
#include "raterm/softtoken.h"
#include "raterm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

static int
unhex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(s);
	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: cmp_mgmtkey URL TLS_CA|- TRUST KEY CERT "
		    "PASSFILE CARD_HEX\n");
		return 2;
	}
	uint8_t card[32], key[64];
	size_t cl, kl = 0;
	char pass[256] = "";
	int alg = 0, rc = 1;
	if (unhex(argv[7], card, sizeof(card), &cl) != 0) {
		fprintf(stderr, "cmp_mgmtkey: bad CARD_HEX\n");
		return 2;
	}
	FILE *f = fopen(argv[6], "r");
	if (f == NULL || fgets(pass, sizeof(pass), f) == NULL) {
		fprintf(stderr, "cmp_mgmtkey: %s: cannot read\n", argv[6]);
		if (f != NULL)
			fclose(f);
		return 1;
	}
	fclose(f);
	pass[strcspn(pass, "\r\n")] = '\0';

	mbedtls_x509_crt trust;
	mbedtls_x509_crt_init(&trust);
	rt_signer *signer = NULL;
	cmp_client *c = NULL;
	rt_err *e = NULL;
	FILE *quiet = fopen("/dev/null", "w");
	if (mbedtls_x509_crt_parse_file(&trust, argv[3]) != 0)
		e = rt_err_new(RT_E_CERT, NULL, "%s: does not parse", argv[3]);
	if (e == NULL)
		e = rt_signer_soft(argv[4], argv[5], pass, strlen(pass),
		    quiet, &signer);
	rt_wipe(pass, sizeof(pass));
	if (e == NULL) {
		cmp_client_opts o = {
			.url = argv[1],
			.tls_ca = strcmp(argv[2], "-") ? argv[2] : NULL,
			.connect_timeout = 5,
			.total_timeout = 10,
			.trust = &trust,
			.signer = signer,
		};
		e = cmp_client_new(&o, &c);
	}
	if (e == NULL)
		e = cmp_client_mgmt_key(c, card, cl, &alg, key, sizeof(key), &kl);
	if (e == NULL) {
		printf("alg=%d key=", alg);
		for (size_t i = 0; i < kl; i++)
			printf("%02x", key[i]);
		printf("\n");
		rc = 0;
	} else {
		char m[600];
		rt_err_format(e, m, sizeof(m));
		fprintf(stderr, "cmp_mgmtkey: %s\n", m);
		rc = rt_err_has(e, RT_E_NOT_FOUND) ? 3 :
		    rt_err_has(e, RT_E_CMP_STATUS) ? 4 : 1;
		rt_err_free(e);
	}
	rt_wipe(key, sizeof(key));
	cmp_client_free(c);
	rt_signer_free(signer);
	mbedtls_x509_crt_free(&trust);
	if (quiet != NULL)
		fclose(quiet);
	return rc;
}
