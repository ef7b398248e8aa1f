/* cmd_cmp.c - `raterm request`, `raterm revoke`, `raterm cacerts`: the CM
 * host over CMP (cmp.h), requests signed by the officer's card or a
 * software token. */
#include "cli.h"
#include "cli_crypto.h"
#include "cli_station.h"
#include "raterm/cmp.h"
#include "raterm/config.h"
#include "raterm/csr.h"
#include "raterm/piv.h"
#include "raterm/signer.h"
#include "raterm/softtoken.h"
#include "raterm/util.h"
#include "raterm/x509.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

static const char common_help[] =
"CM host and officer options:\n"
"  --server URL           the CM host's CMP endpoint (http:// or https://)\n"
"  --trust FILE           the CM host's trust anchor(s) (PEM); responses must\n"
"                         be signed by a certificate that chains to them\n"
"  --tls-ca FILE          HTTPS: trust only this CA bundle for the TLS server\n"
"  --timeout SECONDS      per HTTP exchange (default 60; connect: 10)\n"
"  --officer-reader R     the officer's card (as for 'raterm show'); default:\n"
"                         readers.officer of the configuration (auto: the\n"
"                         card holding an officer certificate)\n"
"  --officer-slot SLOT    its signing key (default 9c)\n"
"  --officer-token FILE   a software officer token (encrypted key file or\n"
"                         .p12) instead of a card; not recommended\n"
"  --officer-cert FILE    the token's certificate (+ chain) if the key file\n"
"                         holds none\n"
"  --officer-chain FILE   CA certificates sent with the officer's certificate\n"
"  --pin-fd N             read 'signature=PIN-or-passphrase' from fd N; the\n"
"                         terminal is asked otherwise (never argv)\n"
"  -c, --config FILE      station configuration (default $RATERM_CONFIG or\n"
"                         /etc/raterm/raterm.yaml): the CM host URL and\n"
"                         trust, the officer token and the procedures are\n"
"                         taken from it where no option gives them\n"
"  -v, --verbose          print each CMP message exchanged\n";

static const char request_help[] =
"usage: raterm request [-c FILE] --csr FILE (--profile NAME | --procedure NAME)\n"
"                      [--server URL] [--trust FILE] [--officer-reader R |\n"
"                      --officer-token FILE] [-o FILE] [options]\n"
"\n"
"Enrolls a PKCS#10 request at the CM host: the request is signed by the\n"
"officer, the certificate profile travels as id-it-certProfile, the issued\n"
"certificate is written to -o FILE (PEM; default stdout) and then confirmed\n"
"(certConf), or rejected if it cannot be written.\n"
"\n"
"  --csr FILE             the request (PEM or DER), e.g. from 'raterm csr'\n"
"  --profile NAME         the CM host's certificate profile\n"
"  --procedure NAME       a token procedure: its CM host profile is used\n"
"  --slot SLOT            with --procedure: the slot whose profile to use\n"
"                         (needed when the procedure has one per slot)\n"
"  --cmd p10cr|cr         p10cr (default) sends the CSR as is; cr sends a\n"
"                         CRMF request with raVerified (the RA checked the\n"
"                         CSR's signature)\n"
"  --implicit-confirm     ask the CM host to skip certConf\n"
"  --card HEX             the card the certificate is for (its CHUID GUID,\n"
"                         or its serial as 8 hex digits), recorded by the\n"
"                         CM host (id-it-raterm-cardId)\n"
"  -o, --out FILE         write the certificate there\n"
"\n";

static const char revoke_help[] =
"usage: raterm revoke [-c FILE] --cert FILE [--reason REASON] [--server URL]\n"
"                     [--trust FILE] [--officer-reader R | --officer-token FILE]\n"
"                     [options]\n"
"\n"
"Asks the CM host to revoke a certificate (rr/rp).\n"
"\n"
"  --cert FILE            the certificate (PEM or DER)\n"
"  --reason REASON        unspecified, keyCompromise, cACompromise,\n"
"                         affiliationChanged, superseded,\n"
"                         cessationOfOperation, certificateHold,\n"
"                         removeFromCRL, privilegeWithdrawn, aACompromise\n"
"                         (or its number); default: none given\n"
"\n";

static const char cacerts_help[] =
"usage: raterm cacerts [-c FILE] [--server URL] [--trust FILE] [-o FILE]\n"
"                      [options]\n"
"\n"
"Fetches the CA certificates from the CM host (genm id-it-caCerts) and\n"
"writes them as PEM to -o FILE (default stdout). They are public: the\n"
"request is sent unprotected, with no officer card or PIN, unless\n"
"--officer-reader or --officer-token is given (for a CM host that wants\n"
"every request signed); the answer must be signed by a certificate that\n"
"chains to the CM host's trust anchor (cmhost.trust or --trust).\n"
"\n"
"  -o, --out FILE         write the certificates there\n"
"\n";

/* One CMP command: the options, the configuration, the station and the
 * secrets of --pin-fd. */
typedef struct {
	cli_station_opts o;
	rt_config *cfg;
	rt_station *st;
	cli_secrets *sec;
	cli_dialog_ctx dc;
	rt_update_dialogs d;
} cmp_cmd;

/* Loads the configuration (required with -c or when a procedure is
 * named) and opens the station; then the CM host client: protected by
 * the officer's signature (Signature PIN verified at once), or without
 * an officer (officer false: the unprotected caCerts genm). */
static rt_err *
cmd_open(const cli_global *g, const char *cmd, cmp_cmd *cc, bool need_cfg,
    bool officer, cmp_client **client)
{
	rt_err *e;
	if (cc->cfg == NULL &&
	    (e = cli_config_load(&cc->o, need_cfg, &cc->cfg)) != NULL)
		return e;
	if ((e = cli_station_open(g, cc->cfg, &cc->o, NULL, &cc->st)) != NULL)
		return e;
	if (!officer)
		return rt_station_cmhost_public(cc->st, client);
	if ((e = cli_secrets_open(cc->o.pin_fd, &cc->sec)) != NULL)
		return e;
	cc->dc = (cli_dialog_ctx){ cmd, cc->sec, cc->o.pin_fd >= 0, NULL };
	cli_dialogs(&cc->dc, &cc->d);
	return rt_station_cmhost(cc->st, &cc->d, client);
}

static void
cmd_close(cmp_cmd *cc)
{
	if (cc->st != NULL)
		rt_station_cmhost_done(cc->st);
	rt_station_close(cc->st);
	cli_secrets_free(cc->sec);
	rt_config_free(cc->cfg);
}

static rt_err *
write_pem(FILE *f, const char *label, const uint8_t *der, size_t len)
{
	char *pem = NULL;
	rt_err *e = rt_pem_encode(label, der, len, &pem);
	if (e != NULL)
		return e;
	fputs(pem, f);
	free(pem);
	return NULL;
}

/* ---- request ------------------------------------------------------------------- */

int
cmd_request(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_STATION_LONG_OPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "csr", required_argument, NULL, 3001 },
		{ "profile", required_argument, NULL, 'P' },
		{ "procedure", required_argument, NULL, 'R' },
		{ "slot", required_argument, NULL, 'S' },
		{ "cmd", required_argument, NULL, 'C' },
		{ "implicit-confirm", no_argument, NULL, 'I' },
		{ "out", required_argument, NULL, 'o' },
		{ "card", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	cmp_cmd cc = { .o = { .pin_fd = -1 } };
	const char *csr_path = NULL, *profile = NULL, *procedure = NULL;
	const char *out_path = NULL;
	uint8_t card[CMP_CARD_ID_MAX];
	size_t card_len = 0;
	rt_err *he;
	int type = CMP_BODY_P10CR, c, r;
	bool implicit = false, have_slot = false;
	uint8_t slot = 0;

	while ((c = getopt_long(argc, argv, "hc:vo:", opts, NULL)) != -1) {
		if ((r = cli_station_opt("request", c, optarg, &cc.o)) < 0)
			return 2;
		if (r == 1)
			continue;
		switch (c) {
		case 'h':
			fputs(request_help, stdout);
			fputs(common_help, stdout);
			return 0;
		case 3001: csr_path = optarg; break;
		case 'P': profile = optarg; break;
		case 'R': procedure = optarg; break;
		case 'S':
			if (!piv_slot_parse(optarg, &slot))
				return cli_usage_error("request", "bad slot '%s'", optarg);
			have_slot = true;
			break;
		case 'C':
			if (strcmp(optarg, "p10cr") == 0)
				type = CMP_BODY_P10CR;
			else if (strcmp(optarg, "cr") == 0)
				type = CMP_BODY_CR;
			else
				return cli_usage_error("request", "--cmd is p10cr or cr");
			break;
		case 'I': implicit = true; break;
		case 'o': out_path = optarg; break;
		case 'D':
			if ((he = rt_hex_decode(optarg, strlen(optarg), card,
			    sizeof(card), &card_len, RT_HEX_LOOSE))
			    != NULL || card_len == 0) {
				rt_err_free(he);
				return cli_usage_error("request", "--card: the card's "
				    "GUID or serial in hex (1 to %d bytes)",
				    CMP_CARD_ID_MAX);
			}
			break;
		default: return cli_usage_error("request", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error("request", "unexpected argument '%s'",
		    argv[optind]);
	if (csr_path == NULL)
		return cli_usage_error("request", "--csr FILE is required");
	if (procedure != NULL && profile != NULL)
		return cli_usage_error("request", "give --procedure or --profile, "
		    "not both");
	if (profile == NULL && procedure == NULL)
		return cli_usage_error("request", "--profile NAME or --procedure "
		    "NAME is required");
	if ((r = cli_station_check("request", &cc.o)) != 0)
		return r;
	rt_err *e = NULL;
	if ((e = cli_config_load(&cc.o, procedure != NULL, &cc.cfg)) != NULL)
		return cli_fail(e);
	if (procedure != NULL) {
		const rt_procedure *p = rt_config_procedure(cc.cfg, procedure);
		if (p == NULL) {
			r = cli_fail(rt_err_new(RT_E_USAGE, NULL, "no procedure "
			    "\"%s\" in %s (see 'raterm procedures')", procedure,
			    cc.cfg->file));
			goto early;
		}
		if (have_slot)
			profile = rt_procedure_profile(p, slot);
		else {
			/* one profile for every slot: no need to say which */
			for (size_t i = 0; i < p->nprofiles; i++) {
				if (profile != NULL &&
				    strcmp(profile, p->profiles[i].profile) != 0) {
					r = cli_usage_error("request", "procedure \"%s\" "
					    "names a profile per slot: give --slot",
					    procedure);
					goto early;
				}
				profile = p->profiles[i].profile;
			}
		}
		if (profile == NULL) {
			r = cli_fail(rt_err_new(RT_E_USAGE, NULL, "procedure \"%s\" "
			    "names no CM host profile%s", procedure,
			    have_slot ? " for this slot" : ""));
			goto early;
		}
	}

	cmp_client *client = NULL;
	cmp_txn *txn = NULL;
	mbedtls_x509_csr csr;
	mbedtls_x509_csr_init(&csr);
	if (mbedtls_x509_csr_parse_file(&csr, csr_path) != 0) {
		mbedtls_x509_csr_free(&csr);
		rt_config_free(cc.cfg);
		return cli_fail(rt_err_new(RT_E_FORMAT, NULL, "%s: not a PKCS#10 "
		    "request", csr_path));
	}
	if ((e = cmd_open(g, "request", &cc, procedure != NULL, true,
	    &client)) != NULL)
		goto out;
	const uint8_t *csrs[1] = { csr.raw.p };
	size_t lens[1] = { csr.raw.len };
	cmp_enroll_req q = {
		.type = type, .csr = csrs, .csr_len = lens, .ncsr = 1,
		.profile = profile, .implicit_confirm = implicit,
		.ra_verified = true, .card_id = card, .card_id_len = card_len,
	};
	if ((e = cmp_client_enroll(client, &q, &txn)) != NULL)
		goto out;
	cmp_buf cert = cmp_txn_cert(txn, 0);
	FILE *f = stdout;
	rt_err *we = NULL;
	if (out_path != NULL && (f = fopen(out_path, "w")) == NULL)
		we = rt_err_new(RT_E_IO, NULL, "%s: cannot create", out_path);
	if (we == NULL)
		we = write_pem(f, "CERTIFICATE", cert.p, cert.len);
	if (f != NULL && f != stdout && fclose(f) != 0 && we == NULL)
		we = rt_err_new(RT_E_IO, NULL, "%s: write error", out_path);
	if (we != NULL) {
		/* not stored: tell the CM host so it revokes the certificate */
		rt_err *ce = cmp_client_confirm(client, txn, false,
		    "certificate could not be stored");
		if (ce != NULL)
			rt_err_free(ce);
		e = we;
		goto out;
	}
	if ((e = cmp_client_confirm(client, txn, true, NULL)) != NULL)
		goto out;
	if (out_path != NULL) {
		rt_cert_info ci;
		if (rt_cert_info_parse(cert.p, cert.len, &ci) == NULL)
			printf("Issued: %s (serial %s, valid until %s)%s\n",
			    ci.subject, ci.serial, ci.not_after,
			    cmp_txn_implicit(txn) ? ", confirmed implicitly" :
			    ", confirmed");
	}
out:
	cmp_txn_free(txn);
	cmd_close(&cc);
	mbedtls_x509_csr_free(&csr);
	return e ? cli_fail(e) : 0;
early:
	rt_config_free(cc.cfg);
	return r;
}

/* ---- revoke --------------------------------------------------------------------- */

int
cmd_revoke(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_STATION_LONG_OPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "cert", required_argument, NULL, 3001 },
		{ "reason", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	cmp_cmd cc = { .o = { .pin_fd = -1 } };
	const char *cert_path = NULL;
	int reason = -1, c, r;

	while ((c = getopt_long(argc, argv, "hc:v", opts, NULL)) != -1) {
		if ((r = cli_station_opt("revoke", c, optarg, &cc.o)) < 0)
			return 2;
		if (r == 1)
			continue;
		switch (c) {
		case 'h':
			fputs(revoke_help, stdout);
			fputs(common_help, stdout);
			return 0;
		case 3001: cert_path = optarg; break;
		case 'R': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg != '\0' && *end == '\0')
				reason = v >= 0 && v <= 10 && v != 7 ? (int)v : -2;
			else
				reason = cmp_reason_from_name(optarg);
			if (reason < 0)
				return cli_usage_error("revoke", "unknown --reason '%s'",
				    optarg);
			break;
		}
		default: return cli_usage_error("revoke", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error("revoke", "unexpected argument '%s'",
		    argv[optind]);
	if (cert_path == NULL)
		return cli_usage_error("revoke", "--cert FILE is required");
	if ((r = cli_station_check("revoke", &cc.o)) != 0)
		return r;
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_file(&crt, cert_path) != 0) {
		mbedtls_x509_crt_free(&crt);
		return cli_fail(rt_err_new(RT_E_CERT, NULL, "%s: not a certificate",
		    cert_path));
	}
	cmp_client *client = NULL;
	rt_err *e = cmd_open(g, "revoke", &cc, false, true, &client);
	if (e == NULL)
		e = cmp_client_revoke(client, crt.raw.p, crt.raw.len, reason);
	if (e == NULL) {
		char name[256];
		mbedtls_x509_dn_gets(name, sizeof(name), &crt.subject);
		printf("Revoked: %s%s%s\n", name, reason >= 0 ? ", reason " : "",
		    reason >= 0 ? cmp_reason_name(reason) : "");
	}
	cmd_close(&cc);
	mbedtls_x509_crt_free(&crt);
	return e ? cli_fail(e) : 0;
}

/* ---- cacerts -------------------------------------------------------------------- */

int
cmd_cacerts(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_STATION_LONG_OPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	cmp_cmd cc = { .o = { .pin_fd = -1 } };
	const char *out_path = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "hc:vo:", opts, NULL)) != -1) {
		if ((r = cli_station_opt("cacerts", c, optarg, &cc.o)) < 0)
			return 2;
		if (r == 1)
			continue;
		switch (c) {
		case 'h':
			fputs(cacerts_help, stdout);
			fputs(common_help, stdout);
			return 0;
		case 'o': out_path = optarg; break;
		default: return cli_usage_error("cacerts", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error("cacerts", "unexpected argument '%s'",
		    argv[optind]);
	if ((r = cli_station_check("cacerts", &cc.o)) != 0)
		return r;
	cmp_client *client = NULL;
	uint8_t **certs = NULL;
	size_t *lens = NULL, n = 0;
	/* the CA certificates are public: without an officer named on the
	 * command line no card and no PIN (an unprotected genm, which cmhost
	 * answers; the answer is verified against the trust). A CM host that
	 * wants every request protected gets the officer's signature when
	 * --officer-reader or --officer-token is given. */
	rt_err *e = cmd_open(g, "cacerts", &cc, false,
	    cc.o.officer_reader != NULL || cc.o.officer_token != NULL, &client);
	if (e == NULL)
		e = cmp_client_cacerts(client, &certs, &lens, &n);
	if (e == NULL) {
		FILE *f = stdout;
		if (out_path != NULL && (f = fopen(out_path, "w")) == NULL)
			e = rt_err_new(RT_E_IO, NULL, "%s: cannot create", out_path);
		for (size_t i = 0; e == NULL && i < n; i++)
			e = write_pem(f, "CERTIFICATE", certs[i], lens[i]);
		if (f != NULL && f != stdout && fclose(f) != 0 && e == NULL)
			e = rt_err_new(RT_E_IO, NULL, "%s: write error", out_path);
		if (e == NULL && out_path != NULL)
			printf("%zu CA certificate%s written to %s\n", n,
			    n == 1 ? "" : "s", out_path);
	}
	cmp_certs_free(certs, lens, n);
	cmd_close(&cc);
	return e ? cli_fail(e) : 0;
}
