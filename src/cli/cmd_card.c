/* cmd_card.c - `raterm readers` and `raterm show`. */
#include "cli.h"
#include "cli_crypto.h"
#include "cli_station.h"
#include "raterm/contents.h"
#include "raterm/piv.h"
#include "raterm/revocation.h"
#include "raterm/util.h"
#include "raterm/cmp.h"
#include "raterm/text.h"
#include "raterm/x509.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- readers ------------------------------------------------------------ */

static const char readers_help[] =
"usage: raterm readers [--json]\n"
"\n"
"Lists the smart-card readers PC/SC knows and whether each holds a card.\n"
"The number in the first column can be given to -r.\n";

int
cmd_readers(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c;
	(void)g;
	while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(readers_help, stdout);
			return 0;
		} else if (c == 'j')
			json = true;
		else
			return cli_usage_error("readers", "invalid option");
	}
	if (optind < argc)
		return cli_usage_error("readers", "unexpected argument '%s'",
		    argv[optind]);

	rt_reader_info *r;
	size_t n;
	rt_err *e = rt_pcsc_list(&r, &n);
	if (e != NULL)
		return cli_fail(e);
	if (json) {
		printf("[");
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"index\": %zu, \"name\": ", i ? ", " : "", i);
			rt_json_str(stdout, r[i].name);
			printf(", \"card\": %s, \"atr\": ",
			    r[i].card_present ? "true" : "false");
			if (r[i].card_present)
				json_hex(stdout, r[i].atr, r[i].atr_len);
			else
				printf("null");
			printf("}");
		}
		printf("]\n");
	} else if (n == 0) {
		printf("No smart-card reader found.\n");
	} else {
		/* 80 columns: a long reader name is cut (its number or a
		 * part of it still selects it with -r) */
		bool utf8 = rt_text_utf8_locale();
		char name[300];
		printf("%-3s %-5s %s\n", "#", "CARD", "READER");
		for (size_t i = 0; i < n; i++) {
			const char *use = r[i].in_use ? "  (in exclusive use)" : "";
			rt_text_fit(name, sizeof(name), r[i].name,
			    80 - 10 - strlen(use), utf8);
			printf("%-3zu %-5s %s%s\n", i,
			    r[i].card_present ? "yes" : "no", name, use);
		}
	}
	free(r);
	return 0;
}

/* ---- show --------------------------------------------------------------- */

static const char show_help[] =
"usage: raterm show [-c FILE] [-r READER] [--json] [--transport-ca FILE]\n"
"                   [--all-slots]\n"
"                   [--verify-tc [--attestation-root FILE] [--pin-fd N]]\n"
"                   [--check-revocation [--server URL] [--trust FILE]\n"
"                   [--tls-ca FILE]]\n"
"\n"
"Reads a card and prints its header (reader, profile, GUID, serial, PIN\n"
"retries) and its Contents: one line per key with its certificate.\n"
"\n"
"  -c, --config FILE     the station configuration (default $RATERM_CONFIG\n"
"                        or /etc/raterm/raterm.yaml, if it exists): its\n"
"                        transport_cas mark TCs, attestation_roots serve\n"
"                        --verify-tc\n"
"  -r, --reader READER   reader name, its number from 'raterm readers', or a\n"
"                        unique part of its name; default: the only reader\n"
"                        holding a card. vpiv:STATE opens a virtual card\n"
"                        file in process (for tests).\n"
"  --json                machine-readable output (see docs/cli.md)\n"
"  --transport-ca FILE   transport CA certificate(s) (PEM/DER file or a\n"
"                        directory); certificates they issued are marked TC\n"
"                        (default: transport_cas of the configuration)\n"
"  --all-slots           also ask the card's metadata for keys without a\n"
"                        certificate in the retired slots 82-95\n"
"  --verify-tc           verify each transport certificate (as 'raterm\n"
"                        verify-tc'; exit status 7 when one fails)\n"
"  --attestation-root FILE  with --verify-tc: attestation root(s)\n"
"  --pin-fd N            with --verify-tc: read 'card=PIN' from fd N\n"
"  --check-revocation    ask whether each certificate is revoked: OCSP (the\n"
"                        certificate's, else the CM host's /ocsp), the CRL\n"
"                        when OCSP does not answer (revocation.* in the\n"
"                        configuration); a certificate that cannot be\n"
"                        checked says why, and the exit status stays 0\n"
"  --server URL, --trust FILE, --tls-ca FILE  with --check-revocation: the\n"
"                        CM host (default cmhost.* of the configuration)\n";

static void
fmt_date(const char *iso, char *out, size_t cap)
{
	/* "2026-11-24T12:00:00Z" -> "2026-11-24" */
	snprintf(out, cap, "%.10s", iso);
}

static void
flags_str(const rt_key_row *r, char *out, size_t cap)
{
	out[0] = '\0';
	size_t o = 0;
#define ADD(s) do { o += (size_t)snprintf(out + o, cap > o ? cap - o : 0, \
	"%s%s", o ? "," : "", s); } while (0)
	if (r->tc) ADD("TC");
	if (r->expired) ADD("expired");
	if (r->not_yet_valid) ADD("not-yet-valid");
	if (r->error[0]) ADD("unreadable");
	if (r->rev.state == RT_REV_REVOKED) ADD("REVOKED");
	if (!r->has_cert && r->key_known && !r->error[0]) ADD("no-cert");
#undef ADD
}

/* One row of the Contents table in 80 columns: names cut to their
 * column with an ellipsis and aligned by display width (UTF-8); flags
 * that do not fit the last 8 columns go on under the FLAGS column,
 * split at commas. */
static void
print_row(const char *slot, const char *alg, const char *cert,
    const char *issuer, const char *date, const char *flags, bool utf8)
{
	enum { FLAGS_COL = 72, FLAGS_W = 80 - FLAGS_COL };
	printf("%-4s %-9s ", slot, alg);
	rt_text_pad(stdout, cert, 28, utf8);
	putchar(' ');
	rt_text_pad(stdout, issuer, 16, utf8);
	printf(" %-10s", date);
	const char *p = flags;
	bool first = true;
	while (*p) {
		/* as many whole flags as fit */
		size_t take = strlen(p);
		while (take > FLAGS_W) {
			size_t c = take - 1;
			while (c > 0 && p[c - 1] != ',')
				c--;
			if (c == 0)
				break;
			take = c;
		}
		if (!first)
			printf("\n%*s", FLAGS_COL - 1, "");
		printf(" %.*s", (int)take, p);
		p += take;
		first = false;
	}
	putchar('\n');
}

/* "revoked 2026-12-05T10:00:00Z keyCompromise (OCSP)", "good (CRL)",
 * "not checked: why" */
static void
rev_words(const rt_rev_status *v, char *out, size_t cap)
{
	char at[24] = "";
	const char *src = strcmp(v->source, "ocsp") == 0 ? "OCSP" :
	    strcmp(v->source, "crl") == 0 ? "CRL" : "";
	if (v->state == RT_REV_NOT_CHECKED) {
		snprintf(out, cap, "not checked: %s", v->why[0] ? v->why :
		    "not asked");
		return;
	}
	if (v->state == RT_REV_REVOKED)
		rt_time_iso(v->at, -1, at, sizeof(at));
	snprintf(out, cap, "%s%s%s%s%s (%s)", rt_rev_state_name(v->state),
	    at[0] ? " " : "", at, v->state == RT_REV_REVOKED && v->reason >= 0 ?
	    " " : "", v->state == RT_REV_REVOKED && v->reason >= 0 ?
	    cmp_reason_name(v->reason) : "", src);
}

/* The REVOCATION section when a check was made. */
static void
print_revocation(const rt_contents *ct)
{
	bool asked = false;
	char at[24], key[8], words[400];
	for (size_t i = 0; i < ct->nrows && !asked; i++)
		asked = ct->rows[i].rev.checked != 0 || ct->rows[i].rev.why[0];
	if (!asked)
		return;
	printf("\nREVOCATION");
	for (size_t i = 0; i < ct->nrows; i++)
		if (ct->rows[i].rev.checked != 0) {
			rt_time_iso(ct->rows[i].rev.checked, -1, at, sizeof(at));
			printf(" (asked %s)", at);
			break;
		}
	printf("\n");
	for (size_t i = 0; i < ct->nrows; i++) {
		const rt_key_row *r = &ct->rows[i];
		if (!r->has_cert)
			continue;
		rt_key_name(r->slot, r->cert_index, key, sizeof(key));
		rev_words(&r->rev, words, sizeof(words));
		printf("%-5s %s\n", key, words);
		if (r->rev.state != RT_REV_NOT_CHECKED && r->rev.why[0])
			printf("%-5s (%s)\n", "", r->rev.why);
	}
}

static void
print_text(const rt_contents *ct)
{
	char date[16], flags[64];
	printf("Reader:   %s\n", ct->reader);
	printf("Profile:  %s\n", rt_card_caps_of_profile(ct->profile)->name);
	if (ct->has_guid) {
		printf("GUID:     ");
		for (int i = 0; i < 16; i++)
			printf("%02x", ct->guid[i]);
		printf("\n");
	} else
		printf("GUID:     (no CHUID)\n");
	if (ct->has_serial)
		printf("Serial:   %u\n", ct->serial);
	else
		printf("Serial:   (not offered by the card)\n");
	if (ct->pin_retries >= 0)
		printf("PIN:      %d retr%s left%s\n", ct->pin_retries,
		    ct->pin_retries == 1 ? "y" : "ies",
		    ct->pin_retries == 0 ? " (blocked)" : "");
	else
		printf("PIN:      verified in this session\n");
	printf("\n");
	if (ct->nrows == 0) {
		printf("No keys or certificates on the card.\n");
		return;
	}
	bool utf8 = rt_text_utf8_locale();
	printf("%-4s %-9s %-28s %-16s %-10s %s\n", "SLOT", "ALGORITHM",
	    "CERTIFICATE", "ISSUER", "NOT AFTER", "FLAGS");
	for (size_t i = 0; i < ct->nrows; i++) {
		const rt_key_row *r = &ct->rows[i];
		char key[8];
		/* a key's further certificates: KEY.N, as --action takes it */
		rt_key_name(r->slot, r->cert_index, key, sizeof(key));
		flags_str(r, flags, sizeof(flags));
		date[0] = '\0';
		if (r->has_cert)
			fmt_date(r->cert.not_after, date, sizeof(date));
		print_row(key, r->alg[0] ? r->alg : "?", !r->has_cert ?
		    (r->error[0] ? "(unreadable certificate)" :
		    "(key without certificate)") : r->cert.subject_cn[0] ?
		    r->cert.subject_cn : r->cert.subject,
		    r->has_cert ? r->cert.issuer_cn : "", date, flags, utf8);
	}
	print_revocation(ct);
	if (ct->nca == 0)
		return;
	printf("\nCA CERTIFICATES\n");
	for (size_t i = 0; i < ct->nca; i++) {
		const rt_ca_row *r = &ct->ca[i];
		date[0] = '\0';
		if (r->has_cert)
			fmt_date(r->cert.not_after, date, sizeof(date));
		print_row("CA", "", r->has_cert ? (r->cert.subject_cn[0] ?
		    r->cert.subject_cn : r->cert.subject) : "(unreadable "
		    "certificate)", r->has_cert ? r->cert.issuer_cn : "", date,
		    r->error[0] ? "unreadable" : "", utf8);
	}
}

static const char *
policy_name(uint8_t p, bool touch)
{
	static const char *pin[] = { NULL, "never", "once", "always" };
	static const char *tch[] = { NULL, "never", "always", "cached" };
	if (p > 3)
		return NULL;
	return touch ? tch[p] : pin[p];
}

/* null when not asked, else {"state", "source", "revoked_at", "reason",
 * "checked_at", "why"} */
static void
json_rev(const rt_rev_status *v)
{
	char t[24];
	if (v->checked == 0 && v->why[0] == '\0') {
		printf("null");
		return;
	}
	printf("{\"state\": ");
	rt_json_str(stdout, rt_rev_state_name(v->state));
	printf(", \"source\": ");
	rt_json_str(stdout, v->source[0] ? v->source : NULL);
	printf(", \"revoked_at\": ");
	if (v->state == RT_REV_REVOKED)
		rt_time_iso(v->at, -1, t, sizeof(t));
	rt_json_str(stdout, v->state == RT_REV_REVOKED ? t : NULL);
	printf(", \"reason\": ");
	rt_json_str(stdout, v->state == RT_REV_REVOKED && v->reason >= 0 ?
	    cmp_reason_name(v->reason) : NULL);
	printf(", \"checked_at\": ");
	if (v->checked != 0)
		rt_time_iso(v->checked, -1, t, sizeof(t));
	rt_json_str(stdout, v->checked != 0 ? t : NULL);
	printf(", \"why\": ");
	rt_json_str(stdout, v->why[0] ? v->why : NULL);
	printf("}");
}

static void
print_json(const rt_contents *ct, bool keep_open)
{
	char slot[4];
	printf("{\"reader\": ");
	rt_json_str(stdout, ct->reader);
	printf(", \"profile\": ");
	rt_json_str(stdout, ct->profile);
	printf(", \"guid\": ");
	if (ct->has_guid)
		json_hex(stdout, ct->guid, 16);
	else
		printf("null");
	printf(", \"serial\": ");
	if (ct->has_serial)
		printf("%u", ct->serial);
	else
		printf("null");
	printf(", \"pin_retries\": ");
	if (ct->pin_retries >= 0)
		printf("%d", ct->pin_retries);
	else
		printf("null");
	printf(", \"chuid_expiry\": ");
	rt_json_str(stdout, ct->has_chuid_expiry ? ct->chuid_expiry : NULL);
	printf(", \"keys\": [");
	for (size_t i = 0; i < ct->nrows; i++) {
		const rt_key_row *r = &ct->rows[i];
		printf("%s\n  {\"slot\": \"%s\", \"algorithm\": ", i ? "," : "",
		    piv_slot_name(r->slot, slot, sizeof(slot)));
		rt_json_str(stdout, r->alg[0] ? r->alg : NULL);
		printf(", \"tc\": %s, \"expired\": %s, \"not_yet_valid\": %s",
		    r->tc ? "true" : "false", r->expired ? "true" : "false",
		    r->not_yet_valid ? "true" : "false");
		printf(", \"pin_policy\": ");
		rt_json_str(stdout, policy_name(r->pin_policy, false));
		printf(", \"touch_policy\": ");
		rt_json_str(stdout, policy_name(r->touch_policy, true));
		printf(", \"origin\": ");
		rt_json_str(stdout, r->origin == 1 ? "generated" :
		    r->origin == 2 ? "imported" : NULL);
		printf(", \"error\": ");
		rt_json_str(stdout, r->error[0] ? r->error : NULL);
		printf(", \"cert_index\": %d, \"certificate\": ", r->cert_index);
		if (!r->has_cert) {
			printf("null}");
			continue;
		}
		printf("{\"subject\": ");
		rt_json_str(stdout, r->cert.subject);
		printf(", \"subject_cn\": ");
		rt_json_str(stdout, r->cert.subject_cn);
		printf(", \"issuer\": ");
		rt_json_str(stdout, r->cert.issuer);
		printf(", \"issuer_cn\": ");
		rt_json_str(stdout, r->cert.issuer_cn);
		printf(", \"serial\": ");
		rt_json_str(stdout, r->cert.serial);
		printf(", \"not_before\": ");
		rt_json_str(stdout, r->cert.not_before);
		printf(", \"not_after\": ");
		rt_json_str(stdout, r->cert.not_after);
		printf(", \"sha256\": ");
		json_hex(stdout, r->cert.sha256, 32);
		printf("}, \"revocation\": ");
		json_rev(&r->rev);
		printf("}");
	}
	printf("\n], \"ca_certificates\": [");
	for (size_t i = 0; i < ct->nca; i++) {
		const rt_ca_row *r = &ct->ca[i];
		printf("%s\n  {\"label\": ", i ? "," : "");
		rt_json_str(stdout, r->label[0] ? r->label : NULL);
		printf(", \"subject\": ");
		rt_json_str(stdout, r->has_cert ? r->cert.subject : NULL);
		printf(", \"sha256\": ");
		if (r->has_cert)
			json_hex(stdout, r->cert.sha256, 32);
		else
			printf("null");
		printf(", \"error\": ");
		rt_json_str(stdout, r->error[0] ? r->error : NULL);
		printf("}");
	}
	printf("\n]");
	if (!keep_open)
		printf("}\n");
}

/* --check-revocation: the station's check (revocation.h) of ct; what
 * stops it (offline, off) is a warning, the rows say why. */
static void
check_revocation(const cli_global *g, const rt_config *cfg,
    const cli_station_opts *so, rt_contents *ct)
{
	rt_station *st = NULL;
	rt_err *e = cli_station_open(g, cfg, so, NULL, &st);
	if (e == NULL)
		e = rt_station_check_revocation(st, ct);
	else
		rt_revocation_not_checked(ct, rt_err_msg(e));
	if (e != NULL) {
		fprintf(stderr, "raterm: show: revocation not checked: %s\n",
		    rt_err_msg(e));
		rt_err_free(e);
	}
	rt_station_close(st);
}

int
cmd_show(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "reader", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "transport-ca", required_argument, NULL, 'T' },
		{ "all-slots", no_argument, NULL, 'A' },
		/* TC verification (src/cli/cmd_crypto.c) */
		{ "verify-tc", no_argument, NULL, 'V' },
		{ "attestation-root", required_argument, NULL, 'R' },
		{ "pin-fd", required_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "check-revocation", no_argument, NULL, 'K' },
		{ "server", required_argument, NULL, 2001 },
		{ "trust", required_argument, NULL, 2002 },
		{ "tls-ca", required_argument, NULL, 2003 },
		{ NULL, 0, NULL, 0 },
	};
	cli_station_opts so = { .pin_fd = -1 };
	bool check_rev = false;
	cli_tc_opts tco = { .pin_fd = -1 };
	bool verify_tc = false;
	int tc_rc = 0;
	const char *reader = NULL, *tca_path = NULL;
	bool json = false;
	unsigned flags = 0;
	int c;

	while ((c = getopt_long(argc, argv, "hc:r:j", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(show_help, stdout); return 0;
		case 'c': so.config = optarg; break;
		case 'r': reader = optarg; break;
		case 'j': json = true; break;
		case 'T': tca_path = optarg; break;
		case 'A': flags |= RT_CONTENTS_ALL_SLOTS; break;
		case 'V': verify_tc = true; break;
		case 'K': check_rev = true; break;
		case 2001: case 2002: case 2003:
			if (cli_station_opt("show", c, optarg, &so) < 0)
				return 2;
			break;
		case 'R': tco.attest_root = optarg; break;
		case 'f':
			if ((tco.pin_fd = cli_parse_fd("show", optarg)) < 0)
				return 2;
			break;
		default: return cli_usage_error("show", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error("show", "unexpected argument '%s'",
		    argv[optind]);

	rt_castore *tcas = NULL;
	rt_transport *t = NULL;
	rt_card *card = NULL;
	rt_contents ct;
	int bad_rows = 0;
	rt_err *e;

	/* the station configuration's transport CAs and attestation roots
	 * unless the options name them (no configuration: none) */
	rt_config *cfg = NULL;
	if ((e = cli_config_load(&so, false, &cfg)) != NULL)
		return cli_fail(e);
	if (tco.attest_root == NULL && cfg->attestation_roots[0])
		tco.attest_root = cfg->attestation_roots;
	if (tca_path != NULL &&
	    (e = rt_castore_load(tca_path, &tcas)) != NULL) {
		rt_config_free(cfg);
		return cli_fail(rt_err_wrap(e, "--transport-ca"));
	}
	if (tca_path == NULL && cfg->transport_cas[0]) {
		if ((e = rt_castore_load(cfg->transport_cas, &tcas)) != NULL) {
			rt_config_free(cfg);
			return cli_fail(rt_err_wrap(e, "%s: transport_cas",
			    cfg->file));
		}
		tca_path = cfg->transport_cas;
	}
	if ((e = cli_open_reader(g, reader, &t)) != NULL)
		goto out;
	if ((e = rt_card_open(t, &card)) != NULL)
		goto out;
	if ((e = rt_contents_read(card, tcas, time(NULL), flags, &ct)) != NULL) {
		e = rt_err_wrap(e, "reading the card in \"%s\"", t->reader);
		goto out;
	}
	/* default PIN / PUK / management key, where the card tells it
	 * without a try (GET METADATA); a card that cannot tell: nothing */
	unsigned defaults = 0;
	bool defaults_known = false;
	rt_err *de = rt_card_piv(card) != NULL ? piv_default_creds(
	    rt_card_piv(card), &defaults, NULL) : rt_err_new(RT_E_NOT_SUPPORTED,
	    NULL, "default credentials");
	if (de == NULL)
		defaults_known = true;
	else if (rt_err_kind_of(de) == RT_E_NOT_SUPPORTED)
		rt_err_free(de);
	else {
		rt_contents_free(&ct);
		e = rt_err_wrap(de, "reading the card in \"%s\"", t->reader);
		goto out;
	}
	if (check_rev)
		check_revocation(g, cfg, &so, &ct);
	if (json) {
		print_json(&ct, true);
		printf(", \"default_credentials\": ");
		cli_default_creds_json(stdout, defaults_known, defaults);
		if (!verify_tc)
			printf("}\n");
	} else {
		print_text(&ct);
		char words[64];
		if (defaults != 0)
			printf("\nWarning: the card still has the default %s\n",
			    cli_default_creds_words(defaults, words, sizeof(words)));
	}
	if (verify_tc) {
		tco.transport_ca = tca_path;
		tc_rc = cli_show_verify_tc(card, &ct, tcas, &tco, json);
		if (json)
			printf("}\n");
	}
	fflush(stdout);
	/* Unreadable certificate objects: the table shows the rest of the
	 * card; each bad object is also an error line and the exit status. */
	for (size_t i = 0; i < ct.nrows; i++)
		if (ct.rows[i].error[0]) {
			fprintf(stderr, "raterm: slot %02x on \"%s\": %s\n",
			    ct.rows[i].slot, t->reader, ct.rows[i].error);
			bad_rows++;
		}
	rt_contents_free(&ct);
out:
	rt_card_close(card);
	rt_transport_close(t);
	rt_castore_free(tcas);
	rt_config_free(cfg);
	if (e != NULL)
		return cli_fail(e);
	if (tc_rc != 0)
		return tc_rc;
	return bad_rows ? 6 : 0;	/* malformed data, see raterm(1) */
}
