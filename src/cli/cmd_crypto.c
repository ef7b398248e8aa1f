/* cmd_crypto.c - `raterm csr`, `raterm verify-tc`, and the TC verification
 * that `raterm show --verify-tc` prints. */
#include "cli.h"
#include "cli_crypto.h"
#include "cli_station.h"
#include "raterm/contents.h"
#include "raterm/csr.h"
#include "raterm/piv.h"
#include "raterm/qc.h"
#include "raterm/signer.h"
#include "raterm/tc.h"
#include "raterm/util.h"
#include "raterm/x509.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/x509_crt.h>

/* ---- csr ------------------------------------------------------------------ */

static const char csr_help[] =
"usage: raterm csr [-r READER] --slot SLOT [--subject DN] [-o FILE] [options]\n"
"\n"
"Makes a PKCS#10 certification request for the key in a card slot, signed\n"
"on the card. The card PIN is asked on the terminal when the key needs it\n"
"(or read from --pin-fd).\n"
"\n"
"  -r, --reader READER   reader (as for 'raterm show')\n"
"  --slot SLOT           9a, 9c, 9d, 9e or 82..95\n"
"  --subject DN          \"CN=Jane Doe,O=Example,C=DE\"; default: the subject\n"
"                        of the slot's current certificate\n"
"  --email ADDR          subjectAltName rfc822Name (repeatable)\n"
"  --upn NAME            subjectAltName UPN otherName (repeatable)\n"
"  --dns NAME            subjectAltName dNSName (repeatable)\n"
"  --key-usage LIST      e.g. digitalSignature,nonRepudiation\n"
"  --eku LIST            e.g. clientAuth,emailProtection,smartcardLogon or OIDs\n"
"  --qc LIST             QC statements: compliance,sscd,esign,eseal,web\n"
"  --qc-retention YEARS  QcRetentionPeriod\n"
"  --qc-pds URL@LANG     QcPDS location (repeatable), e.g. https://x/pds@en\n"
"  --hash HASH           sha256, sha384 or sha512 (default by key)\n"
"  --pss                 RSA-PSS instead of PKCS#1 v1.5 (RSA keys)\n"
"  -o, --out FILE        write the request there (default: stdout)\n"
"  --der                 DER instead of PEM\n"
"  --pin-fd N            read 'card=PIN' from file descriptor N\n";

#define MAX_LIST 16

static bool
push(const char **arr, size_t *n, const char *v)
{
	if (*n >= MAX_LIST)
		return false;
	arr[(*n)++] = v;
	return true;
}

static size_t
split_list(char *s, const char **out, size_t max)
{
	size_t n = 0;
	for (char *tok = strtok(s, ","); tok != NULL && n < max;
	    tok = strtok(NULL, ","))
		out[n++] = tok;
	return n;
}

static rt_err *
parse_qc(char *list, rt_qc *qc)
{
	const char *w[MAX_LIST];
	size_t n = split_list(list, w, MAX_LIST);
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(w[i], "compliance") == 0)
			qc->compliance = true;
		else if (strcasecmp(w[i], "sscd") == 0)
			qc->sscd = true;
		else if (strcasecmp(w[i], "esign") == 0)
			qc->types |= RT_QC_TYPE_ESIGN;
		else if (strcasecmp(w[i], "eseal") == 0)
			qc->types |= RT_QC_TYPE_ESEAL;
		else if (strcasecmp(w[i], "web") == 0)
			qc->types |= RT_QC_TYPE_WEB;
		else
			return rt_err_new(RT_E_USAGE, NULL, "--qc: unknown statement "
			    "\"%s\"", w[i]);
	}
	return NULL;
}

int
cmd_csr(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "reader", required_argument, NULL, 'r' },
		{ "slot", required_argument, NULL, 's' },
		{ "subject", required_argument, NULL, 'S' },
		{ "email", required_argument, NULL, 'E' },
		{ "upn", required_argument, NULL, 'U' },
		{ "dns", required_argument, NULL, 'D' },
		{ "key-usage", required_argument, NULL, 'K' },
		{ "eku", required_argument, NULL, 'X' },
		{ "qc", required_argument, NULL, 'Q' },
		{ "qc-retention", required_argument, NULL, 'R' },
		{ "qc-pds", required_argument, NULL, 'P' },
		{ "hash", required_argument, NULL, 'H' },
		{ "pss", no_argument, NULL, 'p' },
		{ "out", required_argument, NULL, 'o' },
		{ "der", no_argument, NULL, 'd' },
		{ "pin-fd", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *reader = NULL, *subject = NULL, *out_path = NULL;
	const char *emails[MAX_LIST], *upns[MAX_LIST], *dns[MAX_LIST];
	const char *ekus[MAX_LIST];
	size_t nemails = 0, nupns = 0, ndns = 0, nekus = 0;
	rt_csr_req req = { 0 };
	rt_qc qc = { 0 };
	bool want_qc = false, der_out = false, have_slot = false;
	uint8_t slot = 0;
	int c, pin_fd = -1;
	rt_err *e;

	while ((c = getopt_long(argc, argv, "hr:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(csr_help, stdout); return 0;
		case 'r': reader = optarg; break;
		case 's':
			if (!piv_slot_parse(optarg, &slot) || slot == PIV_SLOT_ATTEST)
				return cli_usage_error("csr", "bad slot '%s'", optarg);
			have_slot = true;
			break;
		case 'S': subject = optarg; break;
		case 'E':
			if (!push(emails, &nemails, optarg))
				return cli_usage_error("csr", "too many --email");
			break;
		case 'U':
			if (!push(upns, &nupns, optarg))
				return cli_usage_error("csr", "too many --upn");
			break;
		case 'D':
			if (!push(dns, &ndns, optarg))
				return cli_usage_error("csr", "too many --dns");
			break;
		case 'K':
			if ((e = rt_ku_parse(optarg, &req.key_usage)) != NULL) {
				int rc = cli_usage_error("csr", "--key-usage: %s",
				    rt_err_msg(e));
				rt_err_free(e);
				return rc;
			}
			break;
		case 'X':
			nekus += split_list(optarg, ekus + nekus, MAX_LIST - nekus);
			break;
		case 'Q':
			if ((e = parse_qc(optarg, &qc)) != NULL) {
				int rc = cli_usage_error("csr", "%s", rt_err_msg(e));
				rt_err_free(e);
				return rc;
			}
			want_qc = true;
			break;
		case 'R':
			qc.retention_years = atoi(optarg);
			if (qc.retention_years <= 0)
				return cli_usage_error("csr", "bad --qc-retention");
			want_qc = true;
			break;
		case 'P': {
			char *at = strrchr(optarg, '@');
			if (at == NULL || qc.npds >= RT_QC_MAX_PDS)
				return cli_usage_error("csr", "--qc-pds wants URL@LANG");
			snprintf(qc.pds[qc.npds].url, sizeof(qc.pds[0].url), "%.*s",
			    (int)(at - optarg), optarg);
			snprintf(qc.pds[qc.npds].lang, 3, "%s", at + 1);
			qc.npds++;
			want_qc = true;
			break;
		}
		case 'H':
			req.hash = rt_hash_from_name(optarg);
			if (req.hash == RT_HASH_NONE || req.hash == RT_HASH_SHA1)
				return cli_usage_error("csr", "bad --hash '%s'", optarg);
			break;
		case 'p': req.scheme = RT_SCHEME_PSS; break;
		case 'o': out_path = optarg; break;
		case 'd': der_out = true; break;
		case 'f':
			if ((pin_fd = cli_parse_fd("csr", optarg)) < 0)
				return 2;
			break;
		default: return cli_usage_error("csr", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error("csr", "unexpected argument '%s'",
		    argv[optind]);
	if (!have_slot)
		return cli_usage_error("csr", "--slot is required");

	rt_transport *t = NULL;
	piv_card *card = NULL;
	rt_signer *s = NULL;
	cli_secrets *sec = NULL;
	uint8_t *qder = NULL, *der = NULL;
	size_t qlen = 0, len = 0;
	char subj_buf[512], *pem = NULL;
	rt_ext ext[1];

	if ((e = cli_secrets_open(pin_fd, &sec)) != NULL)
		goto out;
	if (want_qc) {
		if ((e = rt_qc_encode(&qc, &qder, &qlen)) != NULL)
			goto out;
		ext[0] = (rt_ext){ RT_OID_QC_STATEMENTS, false, qder, qlen };
		req.exts = ext;
		req.nexts = 1;
	}
	if ((e = cli_open_reader(g, reader, &t)) != NULL)
		goto out;
	if ((e = piv_open(t, &card)) != NULL)
		goto out;
	cli_pin_ctx pc = { sec, "card" };
	rt_card_signer_opts so = { .slot = slot, .pin_cb = cli_pin_cb,
	    .pin_ctx = &pc };
	if ((e = rt_signer_card(card, &so, &s)) != NULL)
		goto out;
	if (subject == NULL) {
		const mbedtls_x509_crt *crt = rt_signer_chain(s);
		if (crt == NULL || mbedtls_x509_dn_gets(subj_buf, sizeof(subj_buf),
		    &crt->subject) < 0) {
			e = rt_err_new(RT_E_USAGE, NULL, "the slot has no certificate to "
			    "take the subject from: give --subject");
			goto out;
		}
		subject = subj_buf;
	}
	req.subject = subject;
	req.emails = emails;
	req.nemails = nemails;
	req.upns = upns;
	req.nupns = nupns;
	req.dns = dns;
	req.ndns = ndns;
	req.ekus = ekus;
	req.nekus = nekus;
	if ((e = rt_csr_build(s, &req, &der, &len)) != NULL)
		goto out;
	FILE *f = stdout;
	if (out_path != NULL && (f = fopen(out_path, "wb")) == NULL) {
		e = rt_err_new(RT_E_IO, NULL, "%s: cannot create", out_path);
		goto out;
	}
	if (der_out)
		fwrite(der, 1, len, f);
	else if ((e = rt_pem_encode("CERTIFICATE REQUEST", der, len, &pem)) == NULL)
		fputs(pem, f);
	if (f != stdout && fclose(f) != 0 && e == NULL)
		e = rt_err_new(RT_E_IO, NULL, "%s: write error", out_path);
out:
	free(pem);
	free(der);
	free(qder);
	rt_signer_free(s);
	piv_close(card);
	rt_transport_close(t);
	cli_secrets_free(sec);
	return e ? cli_fail(e) : 0;
}

/* ---- TC verification output ---------------------------------------------- */

static void
print_results_text(const rt_tc_result *r, size_t n)
{
	char slot[4];
	if (n == 0) {
		printf("No certificate on the card to verify.\n");
		return;
	}
	printf("%-4s %-9s %-7s %-10s %-8s %-11s %s\n", "SLOT", "TC", "CHAIN",
	    "POSSESSION", "BINDING", "ATTESTATION", "ERROR");
	for (size_t i = 0; i < n; i++) {
		printf("%-4s %-9s %-7s %-10s %-8s %-11s %s%s%s\n",
		    piv_slot_name(r[i].slot, slot, sizeof(slot)),
		    r[i].verified ? "verified" : "FAILED",
		    rt_tc_state_name(r[i].chain), rt_tc_state_name(r[i].possession),
		    rt_tc_state_name(r[i].binding),
		    rt_tc_state_name(r[i].attestation),
		    r[i].verified ? "" : rt_err_kind_name(r[i].failed),
		    r[i].verified ? "" : ": ", r[i].verified ? "" : r[i].error);
	}
	for (size_t i = 0; i < n; i++)
		if (r[i].skip_note[0])
			printf("slot %s: %s\n", piv_slot_name(r[i].slot, slot,
			    sizeof(slot)), r[i].skip_note);
}

static void
print_results_json(const rt_tc_result *r, size_t n)
{
	char slot[4];
	printf("[");
	for (size_t i = 0; i < n; i++) {
		printf("%s\n  {\"slot\": \"%s\", \"verified\": %s, \"error\": ",
		    i ? "," : "", piv_slot_name(r[i].slot, slot, sizeof(slot)),
		    r[i].verified ? "true" : "false");
		rt_json_str(stdout, r[i].verified ? NULL :
		    rt_err_kind_name(r[i].failed));
		printf(", \"message\": ");
		rt_json_str(stdout, r[i].verified ? NULL : r[i].error);
		printf(", \"checks\": {\"chain\": \"%s\", \"possession\": \"%s\", "
		    "\"binding\": \"%s\", \"attestation\": \"%s\"}, \"note\": ",
		    rt_tc_state_name(r[i].chain), rt_tc_state_name(r[i].possession),
		    rt_tc_state_name(r[i].binding),
		    rt_tc_state_name(r[i].attestation));
		rt_json_str(stdout, r[i].skip_note[0] ? r[i].skip_note : NULL);
		printf("}");
	}
	printf("%s]", n ? "\n" : "");
}

static int
results_status(const rt_tc_result *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!r[i].verified) {
			/* the exit code of the failure's kind (7 for TC controls) */
			rt_err *e = rt_err_new(r[i].failed, NULL, "x");
			int code = rt_err_exit_code(e);
			rt_err_free(e);
			return code ? code : 1;
		}
	return 0;
}

/* Loads what o names; fills cfg. */
static rt_err *
tc_setup(const cli_tc_opts *o, const rt_castore *given, rt_castore **tcas,
    rt_castore **roots, rt_tc_config *cfg)
{
	rt_err *e;
	*tcas = NULL;
	*roots = NULL;
	memset(cfg, 0, sizeof(*cfg));
	if (given == NULL || rt_castore_count(given) == 0) {
		const char *p = o->transport_ca ? o->transport_ca :
		    RT_DEFAULT_TRANSPORT_CA;
		if ((e = rt_castore_load(p, tcas)) != NULL) {
			if (o->transport_ca == NULL) {
				rt_err_free(e);
				return rt_err_new(RT_E_USAGE, NULL, "no transport CA "
				    "configured (%s): give --transport-ca",
				    RT_DEFAULT_TRANSPORT_CA);
			}
			return rt_err_wrap(e, "--transport-ca");
		}
		given = *tcas;
	}
	if (o->attest_root != NULL &&
	    (e = rt_castore_load(o->attest_root, roots)) != NULL)
		return rt_err_wrap(e, "--attestation-root");
	cfg->transport_cas = given;
	cfg->attest_roots = *roots;
	cfg->attest = o->require_attestation ? RT_TC_ATTEST_REQUIRED :
	    RT_TC_ATTEST_IF_OFFERED;
	cfg->bind = o->bind;
	cfg->bind_attr = o->bind_attr;
	return NULL;
}

int
cli_show_verify_tc(rt_card *card, const rt_contents *ct,
    const rt_castore *tcas, const cli_tc_opts *o, bool json)
{
	rt_castore *own = NULL, *roots = NULL;
	cli_secrets *sec = NULL;
	rt_tc_config cfg;
	rt_tc_result res[RT_MAX_KEYS];
	size_t n = 0;
	rt_err *e;
	int rc;

	if ((e = tc_setup(o, tcas, &own, &roots, &cfg)) != NULL)
		goto fail;
	if ((e = cli_secrets_open(o->pin_fd, &sec)) != NULL)
		goto fail;
	cli_pin_ctx pc = { sec, "card" };
	cfg.pin_cb = cli_pin_cb;
	cfg.pin_ctx = &pc;
	if ((e = rt_contents_verify_tc(card, ct, &cfg, RT_TC_ALL_IF_NONE, res,
	    RT_MAX_KEYS, &n)) != NULL)
		goto fail;
	if (json) {
		printf(", \"tc_verification\": ");
		print_results_json(res, n);
	} else {
		printf("\nTransport certificates:\n");
		print_results_text(res, n);
	}
	rc = results_status(res, n);
	cli_secrets_free(sec);
	rt_castore_free(own);
	rt_castore_free(roots);
	return rc;
fail:
	if (json)
		printf(", \"tc_verification\": null");
	fflush(stdout);
	cli_secrets_free(sec);
	rt_castore_free(own);
	rt_castore_free(roots);
	return cli_fail(e);
}

/* ---- verify-tc ------------------------------------------------------------ */

static const char verify_tc_help[] =
"usage: raterm verify-tc [-c FILE] [-r READER] [--transport-ca FILE] [--json]\n"
"                        [options]\n"
"\n"
"Verifies every transport certificate (TC) on the card: chain to a\n"
"transport CA (signature, validity, CA constraints, key usage), possession\n"
"(a random challenge signed by the card's key), binding to this card\n"
"(subject serialNumber = card serial or GUID) and, where the card offers\n"
"it, key attestation. When no certificate is issued by a transport CA,\n"
"every certificate on the card is checked (and fails TC_UNKNOWN_CA).\n"
"The card PIN is asked only where a slot's PIN policy requires it.\n"
"\n"
"  -c, --config FILE         the station configuration (as for 'raterm\n"
"                            show'): transport_cas, attestation_roots\n"
"  -r, --reader READER       reader (as for 'raterm show')\n"
"  --transport-ca FILE       transport CA certificate(s): PEM/DER file or\n"
"                            directory (default: transport_cas of the\n"
"                            configuration, else " RT_DEFAULT_TRANSPORT_CA ")\n"
"  --attestation-root FILE   attestation root certificate(s); without it\n"
"                            attestation is skipped\n"
"  --require-attestation     fail when the card cannot attest a TC key\n"
"  --bind auto|serial|guid|none  what the TC subject must name (default auto:\n"
"                            card serial in decimal or GUID in hex)\n"
"  --bind-attr OID           subject attribute to compare (default\n"
"                            serialNumber, 2.5.4.5)\n"
"  --slot SLOT               verify only this slot (as a claimed TC)\n"
"  --json                    [{\"slot\", \"verified\", \"error\", ...}]\n"
"  --pin-fd N                read 'card=PIN' from file descriptor N\n"
"\n"
"Exit status 0 when every TC verifies, 7 when a TC control fails (the\n"
"error names it: TC_UNKNOWN_CA, TC_SIGNATURE, TC_EXPIRED, TC_NOT_YET_VALID,\n"
"TC_CHAIN, TC_POSSESSION, TC_BINDING, TC_ATTESTATION), else as raterm(1).\n";

int
cli_parse_bind(const char *s, rt_tc_bind *b);
int
cli_parse_bind(const char *s, rt_tc_bind *b)
{
	if (strcmp(s, "auto") == 0) *b = RT_TC_BIND_AUTO;
	else if (strcmp(s, "serial") == 0) *b = RT_TC_BIND_SERIAL;
	else if (strcmp(s, "guid") == 0) *b = RT_TC_BIND_GUID;
	else if (strcmp(s, "none") == 0) *b = RT_TC_BIND_NONE;
	else return -1;
	return 0;
}

int
cmd_verify_tc(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "reader", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "transport-ca", required_argument, NULL, 'T' },
		{ "attestation-root", required_argument, NULL, 'A' },
		{ "require-attestation", no_argument, NULL, 'q' },
		{ "bind", required_argument, NULL, 'b' },
		{ "bind-attr", required_argument, NULL, 'B' },
		{ "slot", required_argument, NULL, 's' },
		{ "pin-fd", required_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	cli_tc_opts o = { .pin_fd = -1 };
	cli_station_opts so = { .pin_fd = -1 };
	const char *reader = NULL;
	bool json = false, have_slot = false;
	uint8_t slot = 0;
	int c;

	while ((c = getopt_long(argc, argv, "hc:r:j", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(verify_tc_help, stdout); return 0;
		case 'c': so.config = optarg; break;
		case 'r': reader = optarg; break;
		case 'j': json = true; break;
		case 'T': o.transport_ca = optarg; break;
		case 'A': o.attest_root = optarg; break;
		case 'q': o.require_attestation = true; break;
		case 'b':
			if (cli_parse_bind(optarg, &o.bind) != 0)
				return cli_usage_error("verify-tc", "bad --bind '%s'",
				    optarg);
			break;
		case 'B': o.bind_attr = optarg; break;
		case 's':
			if (!piv_slot_parse(optarg, &slot) || slot == PIV_SLOT_ATTEST)
				return cli_usage_error("verify-tc", "bad slot '%s'",
				    optarg);
			have_slot = true;
			break;
		case 'f':
			if ((o.pin_fd = cli_parse_fd("verify-tc", optarg)) < 0)
				return 2;
			break;
		default: return cli_usage_error("verify-tc", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error("verify-tc", "unexpected argument '%s'",
		    argv[optind]);

	rt_castore *tcas = NULL, *roots = NULL;
	rt_transport *t = NULL;
	rt_card *card = NULL;
	cli_secrets *sec = NULL;
	rt_contents ct;
	bool have_ct = false;
	rt_tc_config cfg;
	rt_tc_result res[RT_MAX_KEYS];
	size_t n = 0;
	int rc = 0;
	rt_err *e;

	/* the station configuration's transport CAs and attestation roots
	 * where no option names them */
	rt_config *scfg = NULL;
	if ((e = cli_config_load(&so, false, &scfg)) != NULL)
		goto out;
	if (o.transport_ca == NULL && scfg->transport_cas[0])
		o.transport_ca = scfg->transport_cas;
	if (o.attest_root == NULL && scfg->attestation_roots[0])
		o.attest_root = scfg->attestation_roots;
	e = tc_setup(&o, NULL, &tcas, &roots, &cfg);
	if (e != NULL)
		goto out;
	if ((e = cli_secrets_open(o.pin_fd, &sec)) != NULL)
		goto out;
	cli_pin_ctx pc = { sec, "card" };
	cfg.pin_cb = cli_pin_cb;
	cfg.pin_ctx = &pc;
	if ((e = cli_open_reader(g, reader, &t)) != NULL)
		goto out;
	if ((e = rt_card_open(t, &card)) != NULL)
		goto out;
	if ((e = rt_contents_read(card, tcas, time(NULL), 0, &ct)) != NULL) {
		e = rt_err_wrap(e, "reading the card in \"%s\"", t->reader);
		goto out;
	}
	have_ct = true;
	if (have_slot) {
		const rt_key_row *row = NULL;
		for (size_t i = 0; i < ct.nrows; i++)
			if (ct.rows[i].slot == slot && ct.rows[i].has_cert)
				row = &ct.rows[i];
		if (row == NULL) {
			e = rt_err_new(RT_E_NOT_FOUND, NULL, "slot %02x holds no "
			    "certificate", slot);
			goto out;
		}
		rt_card_id id = { .has_serial = ct.has_serial, .serial = ct.serial,
		    .has_guid = ct.has_guid };
		memcpy(id.guid, ct.guid, 16);
		e = rt_card_verify_tc(card, &id, slot, row->der, row->der_len, &cfg,
		    &res[0]);
		n = 1;
		if (e != NULL && res[0].failed == RT_E_OK) {
			/* not a control failure: not judged */
			goto out;
		}
		rt_err_free(e);
		e = NULL;
	} else if ((e = rt_contents_verify_tc(card, &ct, &cfg, RT_TC_ALL_IF_NONE,
	    res, RT_MAX_KEYS, &n)) != NULL)
		goto out;
	if (json) {
		print_results_json(res, n);
		printf("\n");
	} else
		print_results_text(res, n);
	rc = results_status(res, n);
out:
	if (have_ct)
		rt_contents_free(&ct);
	rt_card_close(card);
	rt_transport_close(t);
	cli_secrets_free(sec);
	rt_castore_free(tcas);
	rt_castore_free(roots);
	rt_config_free(scfg);
	return e ? cli_fail(e) : rc;
}
