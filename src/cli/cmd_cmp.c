/* cmd_cmp.c - `raterm request`, `raterm revoke`, `raterm cacerts`: the CM
 * host over CMP (cmp.h), requests signed by the officer's card or a
 * software token. */
#include "cli.h"
#include "cli_crypto.h"
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
"  --officer-reader R     the officer's card (as for 'raterm show')\n"
"  --officer-slot SLOT    its signing key (default 9c)\n"
"  --officer-token FILE   a software officer token (encrypted key file or\n"
"                         .p12) instead of a card; not recommended\n"
"  --officer-cert FILE    the token's certificate (+ chain) if the key file\n"
"                         holds none\n"
"  --officer-chain FILE   CA certificates sent with the officer's certificate\n"
"  --pin-fd N             read 'signature=PIN-or-passphrase' from fd N; the\n"
"                         terminal is asked otherwise (never argv)\n"
"  --config FILE          station configuration (default $RATERM_CONFIG or\n"
"                         /etc/raterm/raterm.yaml): the CM host URL and\n"
"                         trust, the officer token and the procedures are\n"
"                         taken from it where no option gives them\n"
"  -v, --verbose          print each CMP message exchanged\n";

static const char request_help[] =
"usage: raterm request --csr FILE (--profile NAME | --procedure NAME)\n"
"                      --server URL --trust FILE (--officer-reader R |\n"
"                      --officer-token FILE) [-o FILE] [options]\n"
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
"usage: raterm revoke --cert FILE [--reason REASON] --server URL --trust FILE\n"
"                     (--officer-reader R | --officer-token FILE) [options]\n"
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
"usage: raterm cacerts --server URL --trust FILE (--officer-reader R |\n"
"                      --officer-token FILE) [-o FILE] [options]\n"
"\n"
"Fetches the CA certificates from the CM host (genm id-it-caCerts) and\n"
"writes them as PEM to -o FILE (default stdout).\n"
"\n"
"  -o, --out FILE         write the certificates there\n"
"\n";

typedef struct {
	const char *server, *trust, *tls_ca;
	const char *officer_reader, *officer_token, *officer_cert;
	const char *officer_chain;
	uint8_t officer_slot;
	long timeout;
	int pin_fd;
	bool verbose;
	const char *config;	/* -c/--config FILE */
	rt_config *cfg;		/* loaded when something is taken from it */
} cmp_cli_opts;

/* The options the three commands share. Returns 1 if `c` was one of
 * them, 0 if not, -1 on a bad value (message printed). */
static int
common_opt(const char *cmd, int c, const char *arg, cmp_cli_opts *o)
{
	switch (c) {
	case 1011: o->config = arg; return 1;
	case 1001: o->server = arg; return 1;
	case 1002: o->trust = arg; return 1;
	case 1003: o->tls_ca = arg; return 1;
	case 1004: o->officer_reader = arg; return 1;
	case 1005:
		if (!piv_slot_parse(arg, &o->officer_slot)) {
			cli_usage_error(cmd, "bad slot '%s'", arg);
			return -1;
		}
		return 1;
	case 1006: o->officer_token = arg; return 1;
	case 1007: o->officer_cert = arg; return 1;
	case 1008: o->officer_chain = arg; return 1;
	case 1009:
		o->timeout = atol(arg);
		if (o->timeout <= 0) {
			cli_usage_error(cmd, "bad --timeout '%s'", arg);
			return -1;
		}
		return 1;
	case 1010:
		if ((o->pin_fd = cli_parse_fd(cmd, arg)) < 0)
			return -1;
		return 1;
	case 'v': o->verbose = true; return 1;
	default: return 0;
	}
}

#define COMMON_LONG_OPTS \
	{ "server", required_argument, NULL, 1001 }, \
	{ "trust", required_argument, NULL, 1002 }, \
	{ "tls-ca", required_argument, NULL, 1003 }, \
	{ "officer-reader", required_argument, NULL, 1004 }, \
	{ "officer-slot", required_argument, NULL, 1005 }, \
	{ "officer-token", required_argument, NULL, 1006 }, \
	{ "officer-cert", required_argument, NULL, 1007 }, \
	{ "officer-chain", required_argument, NULL, 1008 }, \
	{ "timeout", required_argument, NULL, 1009 }, \
	{ "pin-fd", required_argument, NULL, 1010 }, \
	{ "config", required_argument, NULL, 1011 }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, 'h' }

/* Fills what no option gave from the station configuration: the CM host
 * URL and trust, the officer token. Loads the configuration only when it
 * is needed (or named with -c); a configuration that does not load is an
 * error only then. Returns 0, or an exit status (message printed). */
static int
load_config(const char *cmd, cmp_cli_opts *o, bool need)
{
	if (o->cfg != NULL)
		return 0;
	if (!need && o->config == NULL && o->server != NULL && o->trust != NULL &&
	    (o->officer_reader != NULL || o->officer_token != NULL))
		return 0;
	const char *path = rt_config_path(o->config);
	rt_err *e = rt_config_load(path, &o->cfg);
	if (e != NULL) {
		if (!need && o->config == NULL && rt_err_has(e, RT_E_IO)) {
			rt_err_free(e);	/* no station config: options only */
			rt_config_free(o->cfg);
			o->cfg = NULL;
			return 0;
		}
		rt_config_free(o->cfg);
		o->cfg = NULL;
		return cli_fail(rt_err_wrap(e, "%s: configuration %s", cmd, path));
	}
	rt_config *c = o->cfg;
	if (o->server == NULL && c->cmhost_url[0])
		o->server = c->cmhost_url;
	if (o->trust == NULL && c->cmhost_trust[0])
		o->trust = c->cmhost_trust;
	if (o->officer_reader == NULL && o->officer_token == NULL) {
		if (c->officer.kind == RT_OFFICER_SOFTWARE) {
			o->officer_token = c->officer.key_file;
			if (o->officer_cert == NULL && c->officer.cert_file[0])
				o->officer_cert = c->officer.cert_file;
		} else if (c->officer_reader.match == RT_READER_NAME) {
			o->officer_reader = c->officer_reader.value;
			if (o->officer_slot == 0)
				o->officer_slot = c->officer.slot;
		}
	}
	return 0;
}

static int
check_common(const char *cmd, const cmp_cli_opts *o)
{
	if (o->server == NULL)
		return cli_usage_error(cmd, "--server URL is required");
	if (o->trust == NULL)
		return cli_usage_error(cmd, "--trust FILE (the CM host's trust "
		    "anchor) is required");
	if ((o->officer_reader == NULL) == (o->officer_token == NULL))
		return cli_usage_error(cmd, "give one of --officer-reader and "
		    "--officer-token");
	return 0;
}

/* The session: officer signer, trust, client. */
typedef struct {
	rt_transport *t;
	piv_card *card;
	rt_signer *signer;
	cli_secrets *sec;
	mbedtls_x509_crt trust;
	cmp_client *client;
	cli_pin_ctx pc;
} session;

static rt_err *
add_chain_file(rt_signer *s, const char *path)
{
	mbedtls_x509_crt chain;
	mbedtls_x509_crt_init(&chain);
	if (mbedtls_x509_crt_parse_file(&chain, path) != 0) {
		mbedtls_x509_crt_free(&chain);
		return rt_err_new(RT_E_CERT, NULL, "%s: certificates do not parse",
		    path);
	}
	rt_err *e = NULL;
	for (mbedtls_x509_crt *c = &chain; c != NULL && c->raw.p != NULL && e ==
	    NULL; c = c->next)
		e = rt_signer_add_cert(s, c->raw.p, c->raw.len);
	mbedtls_x509_crt_free(&chain);
	return e;
}

static rt_err *
session_open(const cli_global *g, const cmp_cli_opts *o, session *ss)
{
	rt_err *e;
	memset(ss, 0, sizeof(*ss));
	mbedtls_x509_crt_init(&ss->trust);
	if (mbedtls_x509_crt_parse_file(&ss->trust, o->trust) != 0)
		return rt_err_new(RT_E_CERT, NULL, "%s: no trust anchor certificate "
		    "that parses", o->trust);
	if ((e = cli_secrets_open(o->pin_fd, &ss->sec)) != NULL)
		return e;
	if (o->officer_token != NULL) {
		char pass[256], prompt[300];
		size_t plen = 0;
		snprintf(prompt, sizeof(prompt), "Passphrase of the officer token %s",
		    o->officer_token);
		if ((e = cli_secret_get(ss->sec, "signature", prompt, pass,
		    sizeof(pass), &plen)) != NULL)
			return e;
		e = rt_signer_soft(o->officer_token, o->officer_cert, pass, plen,
		    NULL, &ss->signer);
		rt_wipe(pass, sizeof(pass));
		if (e != NULL)
			return e;
	} else {
		ss->pc.secrets = ss->sec;
		ss->pc.name = "signature";
		rt_card_signer_opts so = { .slot = o->officer_slot ?
		    o->officer_slot : 0x9C, .pin_cb = cli_pin_cb,
		    .pin_ctx = &ss->pc,
		    .keep_pin = true };
		if ((e = cli_open_reader(g, o->officer_reader, &ss->t)) != NULL)
			return e;
		if ((e = piv_open(ss->t, &ss->card)) != NULL)
			return e;
		if ((e = rt_signer_card(ss->card, &so, &ss->signer)) != NULL)
			return e;
	}
	if (rt_signer_chain(ss->signer) == NULL)
		return rt_err_new(RT_E_CERT, NULL, "the officer key has no "
		    "certificate (CMP protection needs one)");
	if (o->officer_chain != NULL &&
	    (e = add_chain_file(ss->signer, o->officer_chain)) != NULL)
		return e;
	cmp_client_opts co = {
		.url = o->server,
		.tls_ca = o->tls_ca,
		.total_timeout = o->timeout,
		.trust = &ss->trust,
		.signer = ss->signer,
		.log = o->verbose ? stderr : NULL,
	};
	return cmp_client_new(&co, &ss->client);
}

static void
session_close(session *ss)
{
	cmp_client_free(ss->client);
	rt_signer_free(ss->signer);
	piv_close(ss->card);
	rt_transport_close(ss->t);
	cli_secrets_free(ss->sec);
	mbedtls_x509_crt_free(&ss->trust);
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
		COMMON_LONG_OPTS,
		{ "csr", required_argument, NULL, 'c' },
		{ "profile", required_argument, NULL, 'P' },
		{ "procedure", required_argument, NULL, 'R' },
		{ "slot", required_argument, NULL, 'S' },
		{ "cmd", required_argument, NULL, 'C' },
		{ "implicit-confirm", no_argument, NULL, 'I' },
		{ "out", required_argument, NULL, 'o' },
		{ "card", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	cmp_cli_opts o = { .pin_fd = -1 };
	const char *csr_path = NULL, *profile = NULL, *procedure = NULL;
	const char *out_path = NULL;
	uint8_t card[CMP_CARD_ID_MAX];
	size_t card_len = 0;
	rt_err *he;
	int type = CMP_BODY_P10CR, c, r;
	bool implicit = false, have_slot = false;
	uint8_t slot = 0;

	while ((c = getopt_long(argc, argv, "hvo:", opts, NULL)) != -1) {
		if ((r = common_opt("request", c, optarg, &o)) < 0)
			return 2;
		if (r == 1)
			continue;
		switch (c) {
		case 'h':
			fputs(request_help, stdout);
			fputs(common_help, stdout);
			return 0;
		case 'c': csr_path = optarg; break;
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
			if ((he = rt_unhex(optarg, card, sizeof(card), &card_len))
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
	if ((r = load_config("request", &o, procedure != NULL)) != 0)
		return r;
	if (procedure != NULL) {
		const rt_procedure *p = rt_config_procedure(o.cfg, procedure);
		if (p == NULL) {
			r = cli_fail(rt_err_new(RT_E_USAGE, NULL, "no procedure "
			    "\"%s\" in %s (see 'raterm procedures')", procedure,
			    o.cfg->file));
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
	if ((r = check_common("request", &o)) != 0)
		goto early;

	session ss;
	rt_err *e = NULL;
	cmp_txn *txn = NULL;
	mbedtls_x509_csr csr;
	mbedtls_x509_csr_init(&csr);
	if (mbedtls_x509_csr_parse_file(&csr, csr_path) != 0) {
		mbedtls_x509_csr_free(&csr);
		return cli_fail(rt_err_new(RT_E_FORMAT, NULL, "%s: not a PKCS#10 "
		    "request", csr_path));
	}
	if ((e = session_open(g, &o, &ss)) != NULL)
		goto out;
	const uint8_t *csrs[1] = { csr.raw.p };
	size_t lens[1] = { csr.raw.len };
	cmp_enroll_req q = {
		.type = type, .csr = csrs, .csr_len = lens, .ncsr = 1,
		.profile = profile, .implicit_confirm = implicit,
		.ra_verified = true, .card_id = card, .card_id_len = card_len,
	};
	if ((e = cmp_client_enroll(ss.client, &q, &txn)) != NULL)
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
		rt_err *ce = cmp_client_confirm(ss.client, txn, false,
		    "certificate could not be stored");
		if (ce != NULL)
			rt_err_free(ce);
		e = we;
		goto out;
	}
	if ((e = cmp_client_confirm(ss.client, txn, true, NULL)) != NULL)
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
	session_close(&ss);
	mbedtls_x509_csr_free(&csr);
	rt_config_free(o.cfg);
	return e ? cli_fail(e) : 0;
early:
	rt_config_free(o.cfg);
	return r;
}

/* ---- revoke --------------------------------------------------------------------- */

int
cmd_revoke(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_LONG_OPTS,
		{ "cert", required_argument, NULL, 'c' },
		{ "reason", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	cmp_cli_opts o = { .pin_fd = -1 };
	const char *cert_path = NULL;
	int reason = -1, c, r;

	while ((c = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		if ((r = common_opt("revoke", c, optarg, &o)) < 0)
			return 2;
		if (r == 1)
			continue;
		switch (c) {
		case 'h':
			fputs(revoke_help, stdout);
			fputs(common_help, stdout);
			return 0;
		case 'c': cert_path = optarg; break;
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
	if ((r = load_config("revoke", &o, false)) != 0)
		return r;
	if ((r = check_common("revoke", &o)) != 0) {
		rt_config_free(o.cfg);
		return r;
	}
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_file(&crt, cert_path) != 0) {
		mbedtls_x509_crt_free(&crt);
		rt_config_free(o.cfg);
		return cli_fail(rt_err_new(RT_E_CERT, NULL, "%s: not a certificate",
		    cert_path));
	}
	session ss;
	rt_err *e = session_open(g, &o, &ss);
	if (e == NULL)
		e = cmp_client_revoke(ss.client, crt.raw.p, crt.raw.len, reason);
	if (e == NULL) {
		char name[256];
		mbedtls_x509_dn_gets(name, sizeof(name), &crt.subject);
		printf("Revoked: %s%s%s\n", name, reason >= 0 ? ", reason " : "",
		    reason >= 0 ? cmp_reason_name(reason) : "");
	}
	session_close(&ss);
	mbedtls_x509_crt_free(&crt);
	rt_config_free(o.cfg);
	return e ? cli_fail(e) : 0;
}

/* ---- cacerts -------------------------------------------------------------------- */

int
cmd_cacerts(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_LONG_OPTS,
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	cmp_cli_opts o = { .pin_fd = -1 };
	const char *out_path = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "hvo:", opts, NULL)) != -1) {
		if ((r = common_opt("cacerts", c, optarg, &o)) < 0)
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
	if ((r = load_config("cacerts", &o, false)) != 0)
		return r;
	if ((r = check_common("cacerts", &o)) != 0) {
		rt_config_free(o.cfg);
		return r;
	}
	session ss;
	uint8_t **certs = NULL;
	size_t *lens = NULL, n = 0;
	rt_err *e = session_open(g, &o, &ss);
	if (e == NULL)
		e = cmp_client_cacerts(ss.client, &certs, &lens, &n);
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
	session_close(&ss);
	rt_config_free(o.cfg);
	return e ? cli_fail(e) : 0;
}
