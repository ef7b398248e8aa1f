/* cmd_update.c - `raterm update`: read the card, apply the update rules
 * under a procedure, run the TC controls it requires, print the plan;
 * submission to the CM host plugs in through rt_update_submit(). */
#include "cli.h"
#include "cli_crypto.h"
#include "raterm/config.h"
#include "raterm/contents.h"
#include "raterm/engine.h"
#include "raterm/piv.h"
#include "raterm/tc.h"
#include "raterm/cmp.h"
#include "raterm/journal.h"
#include "raterm/job.h"
#include "raterm/softtoken.h"
#include "raterm/util.h"
#include "raterm/x509.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <libgen.h>

static const char update_help[] =
"usage: raterm update [-c FILE] [-r READER] --procedure NAME\n"
"                     --action SLOT=ACTION... [--dry-run] [--json] [--yes]\n"
"                     [--subject SLOT=DN] [--san SLOT=TYPE:VALUE]\n"
"                     [--qc [SLOT=]STATEMENT]\n"
"                     [--officer-reader R | --officer-token FILE]\n"
"                     [--server URL] [--trust FILE] [--pin-fd N]\n"
"       raterm update [-c FILE] --batch JOB.yaml [--dry-run] [--json] [--yes]\n"
"                     [--pin-fd N] [other options as above]\n"
"\n"
"Updates the certificates of the card in READER: one action per key\n"
"(blank, issue, redo, add) under a procedure of the configuration. The\n"
"rules are applied first (each refusal names its reason, exit status 9);\n"
"on a card with transport certificates the procedure's TC controls run\n"
"(the card PIN is asked on the terminal where a key needs it, or read as\n"
"'card=PIN' from --pin-fd) and must pass. Then the plan is printed: per\n"
"key, what the card holds now and what it will hold, and what each new\n"
"certificate is requested with: subject, subjectAltName, QC statements.\n"
"\n"
"Where the procedure has the subject or the subjectAltName typed by the\n"
"officer (subject: officer, san: officer), --subject and --san give them\n"
"per key; a value still missing is asked on the terminal (not with\n"
"--pin-fd or without a terminal: then it is a usage error, exit 2, before\n"
"anything is sent). --qc adds a QC statement the procedure lets the\n"
"officer add (qc_statements.officer_may_add; others are refused, exit 9).\n"
"\n"
"Without --dry-run the plan is submitted after a confirmation (--yes\n"
"skips it): one CMP request for all keys signed by the officer, the\n"
"certificates written to the card (Redo) or saved on the station (Issue),\n"
"read back and tested, then confirmed to the CM host; one line per key\n"
"says what happened. Exit status 0 only when every key succeeded.\n"
"\n"
"With --batch the reader, the procedure and the actions come from a job\n"
"file (docs/configuration.md, 'Update job files'): one card, or a cards:\n"
"list updated one after another (on_failure: stop, the default, or\n"
"continue); a summary line per card follows, and the exit status is 0\n"
"only when every card succeeded, else that of the first card that\n"
"failed. -r, --procedure and --action are refused with --batch; a setting\n"
"the job file gives (server, trust, officer, ...) may not be given on the\n"
"command line too. PINs are never in a job file: the terminal or --pin-fd\n"
"(read once; its lines serve every card).\n"
"\n"
"  -c, --config FILE       the station configuration\n"
"  -r, --reader READER     the target card's reader (as for 'raterm show');\n"
"                          default: readers.target of the configuration\n"
"  --procedure NAME        a procedure ('raterm procedures' lists them)\n"
"  --action SLOT=ACTION    e.g. 9a=redo (repeatable; other keys stay blank)\n"
"  --subject SLOT=DN       the subject typed by the officer, e.g.\n"
"                          '9c=CN=Jane Doe,O=Example,C=DE' (procedures with\n"
"                          subject: officer)\n"
"  --san SLOT=TYPE:VALUE   a subjectAltName typed by the officer, TYPE email,\n"
"                          upn or dns, e.g. 9c=email:jane@example.org\n"
"                          (repeatable; procedures with san: officer)\n"
"  --qc [SLOT=]STATEMENT   add a QC statement (compliance, sscd, esign, eseal,\n"
"                          web) to SLOT, or to every key with an action\n"
"                          (repeatable; officer_may_add of the procedure)\n""  --batch JOB.yaml        reader(s), procedure and actions from a job file\n"
"  --dry-run               print the plan and stop (exit 0 if it is valid)\n"
"  --json                  the plan as JSON\n"
"  -y, --yes               submit without asking\n"
"  --transport-ca FILE     overrides transport_cas of the configuration\n"
"  --attestation-root FILE overrides attestation_roots\n"
"  --server URL            overrides cmhost.url\n"
"  --trust FILE            overrides cmhost.trust (CMP response trust)\n"
"  --tls-ca FILE           HTTPS: trust only this CA bundle for TLS\n"
"  --timeout SECONDS       per HTTP exchange (default 60)\n"
"  --officer-reader R      the officer's card (default: readers.officer)\n"
"  --officer-slot SLOT     its signing key (default: officer.slot, 9c)\n"
"  --officer-token FILE    a software officer token instead (not\n"
"                          recommended); --officer-cert FILE its certificate\n"
"  --pin-fd N              read the secrets from file descriptor N, one per\n"
"                          line: signature= (officer PIN or passphrase),\n"
"                          card= (target card PIN), card2= (its second PIN),\n"
"                          operator= (management key in hex, or 'default')\n"
"  -v, --verbose           print each CMP message exchanged\n";

#define MAX_ACTIONS PIV_NUM_CERT_SLOTS

typedef struct {
	uint8_t slot;
	rt_action action;
	unsigned line;		/* in the job file; 0: the command line */
} slot_action;

static int
parse_action(const char *s, slot_action *out)
{
	const char *eq = strchr(s, '=');
	char slot[8];
	if (eq == NULL || (size_t)(eq - s) >= sizeof(slot))
		return -1;
	memcpy(slot, s, (size_t)(eq - s));
	slot[eq - s] = '\0';
	out->line = 0;
	if (!piv_slot_parse(slot, &out->slot) || piv_cert_tag(out->slot) == 0)
		return -1;
	return rt_action_parse(eq + 1, &out->action) ? 0 : -1;
}

/* --subject 9c=DN, --san 9c=email:a@b, --qc [9c=]esign */
static int
parse_req(const char *s, char kind, rt_job_req *out)
{
	const char *eq = strchr(s, '=');
	char slot[8];
	memset(out, 0, sizeof(*out));
	out->kind = kind;
	if (eq != NULL && (size_t)(eq - s) < sizeof(slot)) {
		memcpy(slot, s, (size_t)(eq - s));
		slot[eq - s] = '\0';
		if (piv_slot_parse(slot, &out->slot) &&
		    piv_cert_tag(out->slot) != 0)
			s = eq + 1;
		else
			out->slot = 0;
	}
	if ((out->slot == 0 && kind != 'q') || s[0] == '\0' ||
	    strlen(s) >= sizeof(out->value))
		return -1;
	if (kind == 'a' && strchr(s, ':') == NULL)
		return -1;
	snprintf(out->value, sizeof(out->value), "%s", s);
	return 0;
}

static void
print_plan_json(const rt_plan *p, const rt_update *u)
{
	char s[4], qc[200];
	printf("{\"reader\": ");
	json_str(stdout, p->reader);
	printf(", \"card\": ");
	json_str(stdout, p->card);
	printf(", \"procedure\": ");
	json_str(stdout, p->procedure[0] ? p->procedure : NULL);
	printf(", \"tc_card\": %s, \"tc_verified\": %s, \"steps\": [",
	    rt_contents_has_tc(u->ct) ? "true" : "false",
	    p->tc_verified ? "true" : "false");
	for (size_t i = 0; i < p->nsteps; i++) {
		const rt_plan_step *st = &p->steps[i];
		printf("%s\n  {\"slot\": \"%s\", \"action\": \"%s\", "
		    "\"algorithm\": ", i ? "," : "",
		    piv_slot_name(st->slot, s, sizeof(s)),
		    rt_action_name(st->action));
		json_str(stdout, st->alg[0] ? st->alg : NULL);
		printf(", \"profile\": ");
		json_str(stdout, st->profile);
		printf(", \"tc\": %s, \"writes_card\": %s, \"before\": ",
		    st->tc ? "true" : "false", st->writes_card ? "true" : "false");
		json_str(stdout, st->before);
		printf(", \"after\": ");
		json_str(stdout, st->after);
		printf(", \"subject\": ");
		json_str(stdout, st->subject[0] ? st->subject : NULL);
		printf(", \"subject_source\": \"%s\", \"san\": ",
		    rt_source_name(st->subject_src));
		json_str(stdout, st->san[0] ? st->san : NULL);
		printf(", \"san_source\": \"%s\", \"qc\": ",
		    rt_source_name(st->san_src));
		if (st->has_qc) {
			rt_qc_describe(&st->qc, qc, sizeof(qc));
			json_str(stdout, qc);
		} else
			printf("null");
		printf(", \"to_be_typed\": [");
		bool first = true;
		if (st->missing & RT_REQ_NEED_SUBJECT) {
			printf("\"subject\"");
			first = false;
		}
		for (unsigned t = RT_SAN_EMAIL; t <= RT_SAN_DNS; t <<= 1)
			if (st->missing & RT_REQ_NEED_SAN(t)) {
				printf("%s\"%s\"", first ? "" : ", ",
				    rt_san_type_name(t));
				first = false;
			}
		printf("]}");
	}
	printf("%s], \"card_pins\": %u, \"operator_credential\": %s, "
	    "\"write_ca_certs\": %s, \"qc\": ", p->nsteps ? "\n" : "",
	    p->card_pins, p->operator_credential ? "true" : "false",
	    p->write_ca_certs ? "true" : "false");
	if (p->has_qc) {
		rt_qc_describe(&p->qc, qc, sizeof(qc));
		json_str(stdout, qc);
	} else
		printf("null");
	printf(", \"notes\": [");
	for (size_t i = 0; i < p->nnotes; i++) {
		printf("%s", i ? ", " : "");
		json_str(stdout, p->notes[i]);
	}
	printf("]}\n");
}

static void
print_tc_results(const rt_update *u)
{
	char s[4];
	for (size_t i = 0; i < u->ntc; i++) {
		const rt_tc_result *r = &u->tc[i];
		fprintf(stderr, "raterm update: TC in slot %s: chain %s, "
		    "possession %s, binding %s, attestation %s: ",
		    piv_slot_name(r->slot, s, sizeof(s)),
		    rt_tc_state_name(r->chain), rt_tc_state_name(r->possession),
		    rt_tc_state_name(r->binding),
		    rt_tc_state_name(r->attestation));
		if (r->verified)
			fprintf(stderr, "verified\n");
		else
			fprintf(stderr, "FAILED, %s: %s\n",
			    rt_err_kind_name(r->failed), r->error);
	}
}

/* Picks the readers from the configuration where the command line does
 * not name them: a name is used as it is; a pattern must match exactly one
 * reader holding a card; auto: the target is the one reader holding a
 * card that is not the officer's (a card with an officer certificate from
 * officer.officer_cas), the officer's is that card. want_officer: the
 * officer reader is needed too (it may stay "" otherwise). */
static rt_err *
station_readers(const rt_config *cfg, bool want_target, char *target,
    bool want_officer, char *officer, size_t cap, const char *target_held,
    const char *officer_held)
{
	if ((!want_target || cfg->target_reader.match == RT_READER_NAME) &&
	    (!want_officer || cfg->officer_reader.match == RT_READER_NAME)) {
		if (want_target)
			snprintf(target, cap, "%s", cfg->target_reader.value);
		if (want_officer)
			snprintf(officer, cap, "%s", cfg->officer_reader.value);
		return NULL;
	}
	rt_castore *ocas = NULL;
	rt_err *e;
	if (cfg->officer_reader.match == RT_READER_AUTO &&
	    cfg->officer.officer_cas[0] &&
	    (e = rt_castore_load(cfg->officer.officer_cas, &ocas)) != NULL)
		return rt_err_wrap(e, "officer.officer_cas");
	rt_station_readers sr;
	e = rt_station_readers_find(cfg, ocas, target_held, officer_held, &sr);
	rt_castore_free(ocas);
	if (e != NULL && !want_target && rt_err_kind_of(e) == RT_E_NO_READER) {
		/* only the officer is wanted: several target cards (a job of
		 * several cards), or none, are no error here */
		rt_err_free(e);
		e = NULL;
	}
	if (e != NULL)
		return e;
	if (want_target)
		snprintf(target, cap, "%s", sr.target);
	if (want_officer) {
		if (sr.officer[0] == '\0')
			return rt_err_new(RT_E_NO_READER, NULL, "no officer card "
			    "found (readers.officer: a card with a certificate "
			    "from officer.officer_cas); use --officer-reader");
		snprintf(officer, cap, "%s", sr.officer);
	}
	return NULL;
}

/* ---- submit ------------------------------------------------------------------------ */

typedef struct {
	const char *server, *trust, *tls_ca;
	const char *officer_reader, *officer_token, *officer_cert;
	const char *held_target;	/* the target card's reader, open here */
	uint8_t officer_slot;
	long timeout;
	bool yes, verbose;
} submit_opts;

typedef struct {
	cli_secrets *sec;
	bool json;
} dialog_ctx;

static rt_err *
dlg_card_pin(void *ctx, unsigned which, const char *prompt, char *buf,
    size_t cap, size_t *len)
{
	dialog_ctx *dc = ctx;
	return cli_secret_get(dc->sec, which == 2 ? "card2" : "card", prompt,
	    buf, cap, len);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static rt_err *
dlg_operator(void *ctx, const char *prompt, uint8_t *buf, size_t cap,
    size_t *len)
{
	dialog_ctx *dc = ctx;
	char hex[130];
	size_t hl = 0;
	rt_err *e = cli_secret_get(dc->sec, "operator", prompt, hex,
	    sizeof(hex) - 1, &hl);
	if (e != NULL)
		return e;
	hex[hl] = '\0';
	*len = 0;
	if (strcmp(hex, "default") == 0) {
		rt_wipe(hex, sizeof(hex));
		return NULL;	/* the card's default management key */
	}
	if (hl == 0 || hl % 2 != 0 || hl / 2 > cap) {
		rt_wipe(hex, sizeof(hex));
		return rt_err_new(RT_E_ARG, NULL, "operator credential: expected "
		    "the management key in hex (48 digits for 3DES/AES-192) or "
		    "'default'");
	}
	for (size_t i = 0; i < hl / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			rt_wipe(hex, sizeof(hex));
			rt_wipe(buf, cap);
			return rt_err_new(RT_E_ARG, NULL, "operator credential: "
			    "not hex");
		}
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = hl / 2;
	rt_wipe(hex, sizeof(hex));
	return NULL;
}

static void
dlg_progress(void *ctx, const rt_plan_step *st, const char *what)
{
	char s[4];
	(void)ctx;
	if (st != NULL)
		fprintf(stderr, "raterm update: %s: %s\n",
		    piv_slot_name(st->slot, s, sizeof(s)), what);
	else
		fprintf(stderr, "raterm update: %s\n", what);
}

static rt_err *
confirm_tty(bool *yes)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	*yes = false;
	if (fd < 0)
		return rt_err_new(RT_E_USAGE, NULL, "no terminal to confirm the "
		    "update on; give --yes");
	const char q[] = "Submit this plan to the CM host and write the card? "
	    "[y/N] ";
	ssize_t w = write(fd, q, sizeof(q) - 1);
	(void)w;
	char c = 0, first = 0;
	while (read(fd, &c, 1) == 1 && c != '\n')
		if (first == 0)
			first = c;
	close(fd);
	*yes = first == 'y' || first == 'Y';
	return NULL;
}

static rt_err *
add_chain_file(rt_signer *sg, const char *path)
{
	mbedtls_x509_crt chain;
	mbedtls_x509_crt_init(&chain);
	if (mbedtls_x509_crt_parse_file(&chain, path) != 0) {
		mbedtls_x509_crt_free(&chain);
		return rt_err_new(RT_E_CERT, NULL, "%s: certificates do not parse",
		    path);
	}
	rt_err *e = NULL;
	for (mbedtls_x509_crt *c = &chain; c != NULL && c->raw.p != NULL &&
	    e == NULL; c = c->next)
		e = rt_signer_add_cert(sg, c->raw.p, c->raw.len);
	mbedtls_x509_crt_free(&chain);
	return e;
}

static const char *
state_name(rt_step_state st)
{
	switch (st) {
	case RT_STEP_DONE: return "done";
	case RT_STEP_FAILED: return "FAILED";
	case RT_STEP_ROLLED_BACK: return "rejected";
	default: return "not run";
	}
}

/* The station's side of a submission or a recovery: the officer's
 * signer, the CM host, the journal and the audit log. */
typedef struct {
	rt_transport *ot;
	piv_card *ocard;
	rt_signer *signer;
	cmp_client *client;
	rt_journal *journal;
	rt_audit *audit;
	mbedtls_x509_crt trust;
	char officer[RT_PATH_MAX + 16];
	char idir[RT_PATH_MAX + 16];
	cli_pin_ctx opc;
} station;

static void
station_close(station *st)
{
	rt_audit_close(st->audit);
	rt_journal_close(st->journal);
	cmp_client_free(st->client);
	rt_signer_free(st->signer);
	piv_close(st->ocard);
	rt_transport_close(st->ot);
	mbedtls_x509_crt_free(&st->trust);
}

/* Journal and audit only (need_cmp false), or everything. */
static rt_err *
station_open(const cli_global *g, const rt_config *cfg, const submit_opts *o,
    cli_secrets *sec, bool need_cmp, station *st)
{
	rt_err *e;
	char oreader[256];
	memset(st, 0, sizeof(*st));
	mbedtls_x509_crt_init(&st->trust);
	if (cfg->journal[0] == '\0' || cfg->audit[0] == '\0')
		return rt_err_new(RT_E_CONFIG, NULL, "journal and audit are "
		    "needed in the configuration");
	if ((e = rt_journal_open(cfg->journal, &st->journal)) != NULL ||
	    (e = rt_audit_open(cfg->audit, &st->audit)) != NULL)
		return e;
	char jcopy[RT_PATH_MAX];
	snprintf(jcopy, sizeof(jcopy), "%s", cfg->journal);
	snprintf(st->idir, sizeof(st->idir), "%s/issued", dirname(jcopy));
	if (!need_cmp)
		return NULL;
	const char *server = o->server ? o->server : cfg->cmhost_url;
	const char *trust_path = o->trust ? o->trust : cfg->cmhost_trust;
	if (server[0] == '\0')
		return rt_err_new(RT_E_USAGE, NULL, "no CM host: cmhost.url in the "
		    "configuration or --server");
	if (trust_path[0] == '\0')
		return rt_err_new(RT_E_USAGE, NULL, "no trust anchor for the CM "
		    "host's responses: cmhost.trust or --trust");
	if (mbedtls_x509_crt_parse_file(&st->trust, trust_path) != 0)
		return rt_err_new(RT_E_CERT, NULL, "%s: no trust anchor "
		    "certificate that parses", trust_path);
	/* the officer */
	const char *token = o->officer_token;
	const char *token_cert = o->officer_cert;
	if (token == NULL && o->officer_reader == NULL &&
	    cfg->officer.kind == RT_OFFICER_SOFTWARE) {
		token = cfg->officer.key_file;
		if (token_cert == NULL && cfg->officer.cert_file[0])
			token_cert = cfg->officer.cert_file;
	}
	if (token != NULL) {
		char pass[256], prompt[RT_PATH_MAX + 64];
		size_t plen = 0;
		snprintf(prompt, sizeof(prompt), "Passphrase of the officer token "
		    "%s", token);
		if ((e = cli_secret_get(sec, "signature", prompt, pass,
		    sizeof(pass), &plen)) != NULL)
			return e;
		e = rt_signer_soft(token, token_cert, pass, plen, NULL,
		    &st->signer);
		rt_wipe(pass, sizeof(pass));
		if (e != NULL)
			return e;
	} else {
		const char *r = o->officer_reader;
		if (r == NULL) {
			if ((e = station_readers(cfg, false, NULL, true, oreader,
			    sizeof(oreader), o->held_target, NULL)) != NULL)
				return e;
			r = oreader;
		}
		st->opc.secrets = sec;
		st->opc.name = "signature";
		rt_card_signer_opts so = { .slot = o->officer_slot ?
		    o->officer_slot : (cfg->officer.slot ? cfg->officer.slot :
		    PIV_SLOT_SIGN), .pin_cb = cli_pin_cb, .pin_ctx = &st->opc,
		    .keep_pin = true, .label = "the officer's card" };
		if ((e = cli_open_reader(g, r, &st->ot)) != NULL ||
		    (e = piv_open(st->ot, &st->ocard)) != NULL ||
		    (e = rt_signer_card(st->ocard, &so, &st->signer)) != NULL)
			return rt_err_wrap(e, "the officer's card");
	}
	const mbedtls_x509_crt *oc = rt_signer_chain(st->signer);
	if (oc == NULL)
		return rt_err_new(RT_E_CERT, NULL, "the officer key has no "
		    "certificate (CMP protection needs one)");
	if (token != NULL && cfg->officer.officer_cas[0] && oc->next == NULL) {
		/* send the officer CA along when the token holds only the leaf */
		rt_err *ce = add_chain_file(st->signer, cfg->officer.officer_cas);
		rt_err_free(ce);
	}
	if (mbedtls_x509_dn_gets(st->officer, sizeof(st->officer),
	    &oc->subject) < 0)
		snprintf(st->officer, sizeof(st->officer), "(officer)");
	cmp_client_opts co = {
		.url = server, .tls_ca = o->tls_ca, .total_timeout = o->timeout,
		.trust = &st->trust, .signer = st->signer,
		.log = o->verbose ? stderr : NULL,
	};
	return cmp_client_new(&co, &st->client);
}

/* One `raterm update`: the station settings shared by every card of a
 * job, and what is opened once and kept for the next cards (the secrets
 * of --pin-fd are read once; the officer's signer, the CM host client,
 * the journal and the audit log are opened on the first submission). */
typedef struct {
	const cli_global *g;
	const rt_config *cfg;
	submit_opts so;
	bool dry_run, json;
	int pin_fd;
	const char *root_path;
	rt_castore *tcas, *roots;
	bool roots_loaded;
	cli_secrets *sec;
	station st;
	bool st_open;
} update_run;

static void
run_station_close(update_run *r)
{
	station_close(&r->st);
	memset(&r->st, 0, sizeof(r->st));
	mbedtls_x509_crt_init(&r->st.trust);
	r->st_open = false;
}

/* Everything after the plan: officer signer, CM host, journal, submit. */
static rt_err *
run_submit(update_run *r, rt_update *u, const rt_plan *plan, piv_card *card)
{
	rt_err *e = NULL;
	if (!r->so.yes) {
		/* nothing is opened when there is nobody to confirm */
		int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return rt_err_new(RT_E_USAGE, NULL, "no terminal to "
			    "confirm the update on; give --yes");
		close(fd);
	}
	/* the officer's flow: the Signature PIN (or the software token's
	 * passphrase, when it is loaded), then Submit, then what the target
	 * card needs */
	if (!r->st_open) {
		run_station_close(r);
		if ((e = station_open(r->g, r->cfg, &r->so, r->sec, true,
		    &r->st)) != NULL) {
			run_station_close(r);
			return e;
		}
		r->st_open = true;
	}
	station *st = &r->st;
	if (st->ocard != NULL && !cli_secret_known(r->sec, "signature")) {
		char pin[16], prompt[320];
		size_t pl = 0;
		snprintf(prompt, sizeof(prompt), "Signature PIN (the officer's "
		    "card in \"%s\")", st->ot->reader);
		e = cli_secret_get(r->sec, "signature", prompt, pin, sizeof(pin),
		    &pl);
		rt_wipe(pin, sizeof(pin));
		if (e != NULL)
			return e;
	}
	if (!r->so.yes) {
		bool yes;
		if ((e = confirm_tty(&yes)) != NULL)
			return e;
		if (!yes)
			return rt_err_new(RT_E_USAGE, NULL, "not confirmed: nothing "
			    "was sent and the card is unchanged");
	}
	dialog_ctx dc = { r->sec, false };
	rt_update_dialogs d = {
		.ctx = &dc, .card_pin = dlg_card_pin,
		.operator_credential = dlg_operator, .progress = dlg_progress,
	};
	rt_submit_env env = {
		.card = card, .officer = st->signer, .cmp = st->client,
		.journal = st->journal, .audit = st->audit,
		.officer_name = st->officer, .issued_dir = st->idir,
	};
	rt_submit_result res;
	e = rt_update_submit(u, plan, &env, &d, &res);
	if (res.sent) {
		char s[4];
		printf("Result%s%s%s:\n", res.op_id[0] ? " (journal " : "",
		    res.op_id, res.op_id[0] ? ")" : "");
		for (size_t i = 0; i < plan->nsteps; i++) {
			const rt_plan_step *ps = &plan->steps[i];
			printf("  %-3s %-6s %-8s %s%s%s%s%s\n",
			    piv_slot_name(ps->slot, s, sizeof(s)),
			    rt_action_title(ps->action), state_name(res.state[i]),
			    res.message[i], res.serial[i][0] ? " (serial " : "",
			    res.serial[i], res.serial[i][0] ? ")" : "",
			    res.state[i] == RT_STEP_DONE && !res.confirmed ?
			    " [not confirmed]" : "");
		}
		printf("%s\n", res.confirmed ? "Confirmed to the CM host "
		    "(certConf, pkiConf)." : res.issued ? "NOT confirmed to the "
		    "CM host: run 'raterm recover'." : "Nothing was issued.");
	}
	/* after a failure the next card starts with a fresh officer session
	 * and CM host client */
	if (e != NULL)
		run_station_close(r);
	return e;
}

/* What one card gets: from the command line or from a job file (then
 * job/field name where an action came from, for the rules' refusals). */
typedef struct {
	const char *reader;		/* NULL: readers.target */
	const rt_procedure *proc;
	slot_action acts[MAX_ACTIONS];
	size_t nacts;
	rt_job_req reqs[RT_JOB_MAX_REQS];	/* --subject, --san, --qc */
	size_t nreqs;
	const char *job;		/* NULL: the command line */
	const char *field;		/* "" or "cards[2]" */
} card_args;

/* The typed-value dialog of the command line: the terminal, unless
 * --pin-fd is given or there is none; then the error says which option
 * (or job key) gives the value. */
typedef struct {
	bool no_tty;			/* --pin-fd given */
	const char *job;		/* NULL: the command line */
} typed_ctx;

static rt_err *
dlg_typed(void *ctx, uint8_t slot, const char *field, const char *prompt,
    char *buf, size_t cap, size_t *len)
{
	typed_ctx *tc = ctx;
	char s[4], hint[200];
	bool subj = strcmp(field, "subject") == 0;
	piv_slot_name(slot, s, sizeof(s));
	if (tc->job != NULL)
		snprintf(hint, sizeof(hint), "give %s: {%s: %s} in %s", subj ?
		    "subject" : "san", s, subj ? "\"CN=...\"" : field, tc->job);
	else if (subj)
		snprintf(hint, sizeof(hint), "give --subject %s=DN", s);
	else
		snprintf(hint, sizeof(hint), "give --san %s=%s:VALUE", s, field);
	if (tc->no_tty)
		return rt_err_new(RT_E_USAGE, NULL, "slot %s: %s: not given and "
		    "not asked with --pin-fd; %s", s, field, hint);
	rt_err *e = cli_ask_text(prompt, buf, cap, len);
	if (e != NULL && rt_err_kind_of(e) == RT_E_USAGE) {
		rt_err_free(e);
		return rt_err_new(RT_E_USAGE, NULL, "slot %s: %s: not given and "
		    "no terminal to ask for it; %s", s, field, hint);
	}
	return e;
}

/* --subject/--san/--qc (or the job's subject/san/qc) on the update. */
static rt_err *
apply_reqs(rt_update *u, const card_args *a)
{
	char s[4], f[80];
	for (size_t i = 0; i < a->nreqs; i++) {
		const rt_job_req *q = &a->reqs[i];
		rt_err *e = NULL;
		if (q->kind == 's')
			e = rt_update_set_subject(u, q->slot, q->value);
		else if (q->kind == 'a')
			e = rt_update_add_san(u, q->slot, q->value);
		else if (q->slot != 0)
			e = rt_update_add_qc(u, q->slot, q->value);
		else {
			bool any = false;
			for (size_t k = 0; k < a->nacts && e == NULL; k++)
				if (a->acts[k].action != RT_ACT_BLANK) {
					any = true;
					e = rt_update_add_qc(u, a->acts[k].slot,
					    q->value);
				}
			if (!any)
				e = rt_err_new(RT_E_USAGE, NULL, "QC statement %s: "
				    "no key with an action", q->value);
		}
		if (e == NULL)
			continue;
		if (a->job != NULL) {
			snprintf(f, sizeof(f), "%s%s%s%s%s", a->field,
			    a->field[0] ? "." : "", q->kind == 's' ? "subject" :
			    q->kind == 'a' ? "san" : "qc", q->slot ? "." : "",
			    q->slot ? piv_slot_name(q->slot, s, sizeof(s)) : "");
			e = rt_err_wrap(e, "%s:%u: %s", a->job, q->line, f);
		}
		return e;
	}
	return NULL;
}

/* Reads the card, plans, prints the plan and (without --dry-run)
 * submits. *nothing: the plan was empty. */
static rt_err *
update_card(update_run *r, const card_args *a, bool *nothing)
{
	rt_transport *t = NULL;
	piv_card *card = NULL;
	rt_contents ct;
	bool have_ct = false;
	char rbuf[256];
	const char *reader = a->reader;
	rt_err *e = NULL;
	*nothing = false;
	if (reader == NULL) {
		if ((e = station_readers(r->cfg, true, rbuf, false, NULL,
		    sizeof(rbuf), NULL, r->st_open && r->st.ot != NULL ?
		    r->st.ot->reader : NULL)) != NULL)
			goto out;
		reader = rbuf;
	}
	if ((e = cli_open_reader(r->g, reader, &t)) != NULL)
		goto out;
	if ((e = piv_open(t, &card)) != NULL)
		goto out;
	if ((e = rt_contents_read(card, r->tcas, time(NULL), 0, &ct)) != NULL) {
		e = rt_err_wrap(e, "reading the card in \"%s\"", t->reader);
		goto out;
	}
	have_ct = true;

	rt_update u;
	rt_update_init(&u, &ct);
	if ((e = rt_update_set_procedure(&u, a->proc)) != NULL)
		goto out;
	for (size_t i = 0; i < a->nacts; i++)
		if ((e = rt_update_set_action(&u, a->acts[i].slot,
		    a->acts[i].action)) != NULL) {
			if (a->job != NULL) {
				char s[4], f[64];
				snprintf(f, sizeof(f), "%s%sactions.%s", a->field,
				    a->field[0] ? "." : "", piv_slot_name(
				    a->acts[i].slot, s, sizeof(s)));
				e = rt_err_wrap(e, "%s:%u: %s", a->job,
				    a->acts[i].line, f);
			}
			goto out;
		}
	if ((e = apply_reqs(&u, a)) != NULL)
		goto out;
	if (!r->dry_run) {
		/* what the officer still has to type, before any PIN is asked
		 * and anything is sent (a dry run shows it as missing) */
		typed_ctx tcx = { r->pin_fd >= 0, a->job };
		rt_update_dialogs td = { .ctx = &tcx, .typed = dlg_typed };
		if ((e = rt_update_ask_typed(&u, &td)) != NULL)
			goto out;
	}
	if (rt_update_tc_needed(&u)) {
		if (!r->roots_loaded && r->root_path != NULL) {
			if ((e = rt_castore_load(r->root_path, &r->roots)) != NULL) {
				e = rt_err_wrap(e, "attestation roots");
				goto out;
			}
			r->roots_loaded = true;
		}
		if (r->sec == NULL &&
		    (e = cli_secrets_open(r->pin_fd, &r->sec)) != NULL)
			goto out;
		cli_pin_ctx pc = { r->sec, "card" };
		rt_tc_config base = {
			.transport_cas = r->tcas, .attest_roots = r->roots,
			.pin_cb = cli_pin_cb, .pin_ctx = &pc,
		};
		if ((e = rt_update_run_tc(&u, card, &base)) != NULL)
			goto out;
	}
	rt_plan plan;
	if ((e = rt_update_plan(&u, &plan)) != NULL) {
		if (u.tc_ran)
			print_tc_results(&u);
		goto out;
	}
	if (r->json)
		print_plan_json(&plan, &u);
	else
		rt_plan_print(&plan, stdout);
	fflush(stdout);
	*nothing = plan.nsteps == 0;
	if (r->dry_run || plan.nsteps == 0)
		goto out;
	if (r->sec == NULL && (e = cli_secrets_open(r->pin_fd, &r->sec)) != NULL)
		goto out;
	r->so.held_target = t->reader;
	e = run_submit(r, &u, &plan, card);
	r->so.held_target = NULL;
	fflush(stdout);
out:
	if (have_ct)
		rt_contents_free(&ct);
	piv_close(card);
	rt_transport_close(t);
	if (r->sec != NULL) {
		/* what this card needed is asked again for the next one */
		cli_secret_forget(r->sec, "card");
		cli_secret_forget(r->sec, "card2");
		cli_secret_forget(r->sec, "operator");
	}
	return e;
}

/* ---- --batch JOB.yaml ------------------------------------------------------------------ */

/* A setting given both on the command line and in the job is refused;
 * else the job's value is taken. Returns false (printed) on a conflict. */
static bool
merge_opt(const char **cli, const rt_job_opt *jo, const char *opt,
    const char *key, const char *job)
{
	if (jo->line == 0)
		return true;
	if (*cli != NULL) {
		(void)cli_usage_error("update", "%s is given on the command line "
		    "and in %s:%u (%s); give it in one place", opt, job, jo->line,
		    key);
		return false;
	}
	*cli = jo->value;
	return true;
}

typedef enum { CARD_NOT_RUN = 0, CARD_DONE, CARD_FAILED } card_state;

typedef struct {
	card_state state;
	bool nothing;
	int rc;
	char reader[256];
	char error[600];
} card_result;

static void
print_job_summary(const rt_job *job, const card_result *res, bool dry_run,
    bool json)
{
	size_t ndone = 0, nfailed = 0, nnot = 0;
	for (size_t i = 0; i < job->ncards; i++) {
		if (res[i].state == CARD_DONE)
			ndone++;
		else if (res[i].state == CARD_FAILED)
			nfailed++;
		else
			nnot++;
	}
	const char *done = dry_run ? "planned" : "done";
	if (json) {
		printf("{\"job\": ");
		json_str(stdout, job->file);
		printf(", \"dry_run\": %s, \"cards\": [", dry_run ? "true" :
		    "false");
		for (size_t i = 0; i < job->ncards; i++) {
			const card_result *cr = &res[i];
			printf("%s\n  {\"card\": %zu, \"line\": %u, \"reader\": ",
			    i ? "," : "", i + 1, job->cards[i].line);
			json_str(stdout, cr->reader[0] ? cr->reader : NULL);
			printf(", \"result\": \"%s\", \"exit\": %d, \"error\": ",
			    cr->state == CARD_DONE ? (cr->nothing ? "nothing to do"
			    : done) : cr->state == CARD_FAILED ? "failed" :
			    "not run", cr->rc);
			json_str(stdout, cr->state == CARD_FAILED ? cr->error :
			    NULL);
			printf("}");
		}
		printf("\n], \"done\": %zu, \"failed\": %zu, \"not_run\": %zu}\n",
		    ndone, nfailed, nnot);
		return;
	}
	printf("Job %s: %zu card%s, %zu %s, %zu failed, %zu not run\n",
	    job->file, job->ncards, job->ncards == 1 ? "" : "s", ndone, done,
	    nfailed, nnot);
	for (size_t i = 0; i < job->ncards; i++) {
		const card_result *cr = &res[i];
		char where[32];
		snprintf(where, sizeof(where), "(line %u)", job->cards[i].line);
		printf("  card %-2zu %-10s \"%s\"  ", i + 1, where,
		    cr->reader[0] ? cr->reader : job->cards[i].reader[0] ?
		    job->cards[i].reader : "readers.target");
		if (cr->state == CARD_DONE)
			printf("%s%s\n", done, cr->nothing ? " (nothing to do)" :
			    "");
		else if (cr->state == CARD_FAILED)
			printf("FAILED (exit %d): %s\n", cr->rc, cr->error);
		else
			printf("not run\n");
	}
}

/* Every diagnostic of a broken job, when there is more than the one the
 * final error names. */
static void
print_job_diags(const rt_job *job)
{
	if (job == NULL || job->nerrors < 2)
		return;
	for (size_t i = 0; i < job->ndiags; i++) {
		char b[1200];
		rt_cfg_diag_format(&job->diags[i], b, sizeof(b));
		fprintf(stderr, "raterm update: %s\n", b);
	}
}

int
cmd_update(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "config", required_argument, NULL, 'c' },
		{ "reader", required_argument, NULL, 'r' },
		{ "procedure", required_argument, NULL, 'P' },
		{ "action", required_argument, NULL, 'a' },
		{ "batch", required_argument, NULL, 'b' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "yes", no_argument, NULL, 'y' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "transport-ca", required_argument, NULL, 'T' },
		{ "attestation-root", required_argument, NULL, 'R' },
		{ "pin-fd", required_argument, NULL, 'f' },
		{ "server", required_argument, NULL, 1001 },
		{ "trust", required_argument, NULL, 1002 },
		{ "tls-ca", required_argument, NULL, 1003 },
		{ "officer-reader", required_argument, NULL, 1004 },
		{ "officer-slot", required_argument, NULL, 1005 },
		{ "officer-token", required_argument, NULL, 1006 },
		{ "officer-cert", required_argument, NULL, 1007 },
		{ "timeout", required_argument, NULL, 1009 },
		{ "subject", required_argument, NULL, 1010 },
		{ "san", required_argument, NULL, 1011 },
		{ "qc", required_argument, NULL, 1012 },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL, *reader = NULL, *proc_name = NULL;
	static rt_job_req reqs[RT_JOB_MAX_REQS];
	size_t nreqs = 0;
	const char *tca_path = NULL, *root_path = NULL, *batch = NULL;
	slot_action acts[MAX_ACTIONS];
	size_t nacts = 0;
	update_run r;
	int c;
	memset(&r, 0, sizeof(r));
	mbedtls_x509_crt_init(&r.st.trust);
	r.g = g;
	r.pin_fd = -1;

	while ((c = getopt_long(argc, argv, "hc:r:jyv", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(update_help, stdout); return 0;
		case 'c': cfg_path = optarg; break;
		case 'r': reader = optarg; break;
		case 'P': proc_name = optarg; break;
		case 'b': batch = optarg; break;
		case 'a':
			if (nacts >= MAX_ACTIONS)
				return cli_usage_error("update", "too many "
				    "--action");
			if (parse_action(optarg, &acts[nacts]) != 0)
				return cli_usage_error("update", "bad --action "
				    "'%s' (expected SLOT=ACTION, e.g. 9a=redo; "
				    "actions: blank, issue, redo, add)", optarg);
			for (size_t i = 0; i < nacts; i++)
				if (acts[i].slot == acts[nacts].slot)
					return cli_usage_error("update", "slot in "
					    "--action '%s' given twice", optarg);
			nacts++;
			break;
		case 'n': r.dry_run = true; break;
		case 'j': r.json = true; break;
		case 'y': r.so.yes = true; break;
		case 'v': r.so.verbose = true; break;
		case 'T': tca_path = optarg; break;
		case 'R': root_path = optarg; break;
		case 'f':
			if ((r.pin_fd = cli_parse_fd("update", optarg)) < 0)
				return 2;
			break;
		case 1001: r.so.server = optarg; break;
		case 1002: r.so.trust = optarg; break;
		case 1003: r.so.tls_ca = optarg; break;
		case 1004: r.so.officer_reader = optarg; break;
		case 1005:
			if (!piv_slot_parse(optarg, &r.so.officer_slot))
				return cli_usage_error("update", "bad slot '%s'",
				    optarg);
			break;
		case 1006: r.so.officer_token = optarg; break;
		case 1007: r.so.officer_cert = optarg; break;
		case 1009:
			r.so.timeout = atol(optarg);
			if (r.so.timeout <= 0)
				return cli_usage_error("update", "bad --timeout "
				    "'%s'", optarg);
			break;
		case 1010:
		case 1011:
		case 1012: {
			const char *opt = c == 1010 ? "--subject" : c == 1011 ?
			    "--san" : "--qc";
			if (nreqs >= RT_JOB_MAX_REQS)
				return cli_usage_error("update", "too many --subject, "
				    "--san and --qc");
			if (parse_req(optarg, c == 1010 ? 's' : c == 1011 ? 'a' :
			    'q', &reqs[nreqs]) != 0)
				return cli_usage_error("update", "bad %s '%s' "
				    "(expected %s)", opt, optarg, c == 1010 ?
				    "SLOT=DN, e.g. '9c=CN=Jane Doe,O=Example,C=DE'" :
				    c == 1011 ? "SLOT=TYPE:VALUE, e.g. "
				    "9c=email:jane@example.org" : "[SLOT=]STATEMENT, "
				    "e.g. 9c=esign");
			for (size_t i = 0; c == 1010 && i < nreqs; i++)
				if (reqs[i].kind == 's' && reqs[i].slot ==
				    reqs[nreqs].slot)
					return cli_usage_error("update", "--subject for "
					    "slot '%s' given twice", optarg);
			nreqs++;
			break;
		}
		default: return cli_usage_error("update", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error("update", "unexpected argument '%s'",
		    argv[optind]);
	if (batch != NULL && nreqs > 0)
		return cli_usage_error("update", "--batch takes subject, san and "
		    "qc from the job file; not with --subject, --san or --qc");
	if (batch != NULL && (reader != NULL || proc_name != NULL || nacts))
		return cli_usage_error("update", "--batch takes the reader, the "
		    "procedure and the actions from the job file; not with %s",
		    reader != NULL ? "-r/--reader" : proc_name != NULL ?
		    "--procedure" : "--action");
	if (batch == NULL && proc_name == NULL)
		return cli_usage_error("update", "--procedure NAME is required "
		    "('raterm procedures' lists them), or --batch JOB.yaml");
	if (batch == NULL && r.so.officer_reader != NULL &&
	    r.so.officer_token != NULL)
		return cli_usage_error("update", "give --officer-reader or "
		    "--officer-token, not both");

	rt_config *cfg = NULL;
	rt_job *job = NULL;
	card_result *res = NULL;
	int rc = 0;
	rt_err *e = rt_config_load(rt_config_path(cfg_path), &cfg);
	if (e != NULL)
		goto out;
	r.cfg = cfg;
	if (batch != NULL) {
		if ((e = rt_job_load(batch, cfg, &job)) != NULL) {
			print_job_diags(job);
			goto out;
		}
		const char *f = job->file;
		if (!merge_opt(&r.so.server, &job->server, "--server", "server",
		    f) ||
		    !merge_opt(&r.so.trust, &job->trust, "--trust", "trust", f) ||
		    !merge_opt(&r.so.tls_ca, &job->tls_ca, "--tls-ca", "tls_ca",
		    f) ||
		    !merge_opt(&tca_path, &job->transport_ca, "--transport-ca",
		    "transport_ca", f) ||
		    !merge_opt(&root_path, &job->attestation_root,
		    "--attestation-root", "attestation_root", f) ||
		    !merge_opt(&r.so.officer_reader, &job->officer_reader,
		    "--officer-reader", "officer.reader", f) ||
		    !merge_opt(&r.so.officer_token, &job->officer_token,
		    "--officer-token", "officer.token", f) ||
		    !merge_opt(&r.so.officer_cert, &job->officer_cert,
		    "--officer-cert", "officer.cert", f)) {
			rc = 2;
			goto out;
		}
		if (job->officer_slot_line != 0) {
			if (r.so.officer_slot != 0) {
				rc = cli_usage_error("update", "--officer-slot is "
				    "given on the command line and in %s:%u "
				    "(officer.slot); give it in one place", f,
				    job->officer_slot_line);
				goto out;
			}
			r.so.officer_slot = job->officer_slot;
		}
		if (job->timeout_line != 0) {
			if (r.so.timeout != 0) {
				rc = cli_usage_error("update", "--timeout is given "
				    "on the command line and in %s:%u (timeout); "
				    "give it in one place", f, job->timeout_line);
				goto out;
			}
			r.so.timeout = job->timeout;
		}
		if (r.so.officer_reader != NULL && r.so.officer_token != NULL) {
			rc = cli_usage_error("update", "the officer's card and a "
			    "software token are both given (command line and "
			    "%s); give one", f);
			goto out;
		}
	}
	if (tca_path == NULL)
		tca_path = cfg->transport_cas;
	if (root_path == NULL && cfg->attestation_roots[0])
		root_path = cfg->attestation_roots;
	r.root_path = root_path;
	if ((e = rt_castore_load(tca_path, &r.tcas)) != NULL) {
		e = rt_err_wrap(e, "transport CAs");
		goto out;
	}

	card_args ca;
	bool nothing;
	if (batch == NULL) {
		memset(&ca, 0, sizeof(ca));
		ca.reader = reader;
		if ((ca.proc = rt_config_procedure(cfg, proc_name)) == NULL) {
			e = rt_err_new(RT_E_USAGE, NULL, "no procedure '%s' in %s "
			    "('raterm procedures' lists them)", proc_name,
			    cfg->procedures_dir);
			goto out;
		}
		memcpy(ca.acts, acts, nacts * sizeof(acts[0]));
		ca.nacts = nacts;
		memcpy(ca.reqs, reqs, nreqs * sizeof(reqs[0]));
		ca.nreqs = nreqs;
		e = update_card(&r, &ca, &nothing);
		goto out;
	}
	if ((res = calloc(job->ncards, sizeof(*res))) == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "job results");
		goto out;
	}
	bool stopped = false;
	for (size_t i = 0; i < job->ncards && !stopped; i++) {
		const rt_job_card *jc = &job->cards[i];
		memset(&ca, 0, sizeof(ca));
		ca.reader = jc->reader[0] ? jc->reader : NULL;
		ca.proc = rt_config_procedure(cfg, jc->procedure);
		for (size_t k = 0; k < jc->nactions; k++) {
			ca.acts[k].slot = jc->actions[k].slot;
			ca.acts[k].action = jc->actions[k].action;
			ca.acts[k].line = jc->actions[k].line;
		}
		ca.nacts = jc->nactions;
		memcpy(ca.reqs, jc->reqs, jc->nreqs * sizeof(jc->reqs[0]));
		ca.nreqs = jc->nreqs;
		ca.job = job->file;
		ca.field = jc->field;
		if (job->listed && !r.json)
			printf("%s== Card %zu of %zu (%s:%u): reader %s%s%s, "
			    "procedure %s ==\n", i ? "\n" : "", i + 1,
			    job->ncards, job->file, jc->line,
			    ca.reader ? "\"" : "", ca.reader ? ca.reader :
			    "readers.target", ca.reader ? "\"" : "",
			    jc->procedure);
		fflush(stdout);
		snprintf(res[i].reader, sizeof(res[i].reader), "%s", jc->reader);
		rt_err *ce = update_card(&r, &ca, &nothing);
		if (ce == NULL) {
			res[i].state = CARD_DONE;
			res[i].nothing = nothing;
			continue;
		}
		res[i].state = CARD_FAILED;
		rt_err_format(ce, res[i].error, sizeof(res[i].error));
		if (!job->listed) {
			e = ce;		/* one card: as the command-line form */
			break;
		}
		res[i].rc = cli_fail(ce);
		if (rc == 0)
			rc = res[i].rc;
		if (!job->keep_going)
			stopped = true;
	}
	if (job->listed) {
		if (!r.json)
			printf("\n");
		print_job_summary(job, res, r.dry_run, r.json);
	}
out:
	fflush(stdout);
	run_station_close(&r);
	cli_secrets_free(r.sec);
	rt_castore_free(r.tcas);
	rt_castore_free(r.roots);
	rt_job_free(job);
	free(res);
	rt_config_free(cfg);
	return e ? cli_fail(e) : rc;
}

/* ---- recover ------------------------------------------------------------------------- */

static const char recover_help[] =
"usage: raterm recover [-c FILE] [-r READER] [--list]\n"
"                      [--officer-reader R | --officer-token FILE]\n"
"                      [--server URL] [--trust FILE] [--pin-fd N]\n"
"\n"
"Lists the updates the journal holds as incomplete (a crash, a pulled\n"
"card, a CM host that did not answer) and completes or rolls back each,\n"
"so that every certificate the CM host issued is either on the card (or\n"
"saved on the station, for Issue) and confirmed, or rejected: what the\n"
"card in READER holds decides (the operation's card must be inserted when\n"
"a write was started), the certConf goes to the CM host in the original\n"
"transaction, and the operation is closed in the journal.\n"
"\n"
"  -c, --config FILE       the station configuration\n"
"  -r, --reader READER     the reader of the operation's card (default:\n"
"                          readers.target)\n"
"  --list                  list only, change nothing\n"
"  --server, --trust, --tls-ca, --timeout, --officer-reader,\n"
"  --officer-slot, --officer-token, --officer-cert, --pin-fd, -v\n"
"                          as for 'raterm update'\n"
"\n"
"Exit status 0 when nothing is left incomplete.\n";

int
cmd_recover(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "config", required_argument, NULL, 'c' },
		{ "reader", required_argument, NULL, 'r' },
		{ "list", no_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "pin-fd", required_argument, NULL, 'f' },
		{ "server", required_argument, NULL, 1001 },
		{ "trust", required_argument, NULL, 1002 },
		{ "tls-ca", required_argument, NULL, 1003 },
		{ "officer-reader", required_argument, NULL, 1004 },
		{ "officer-slot", required_argument, NULL, 1005 },
		{ "officer-token", required_argument, NULL, 1006 },
		{ "officer-cert", required_argument, NULL, 1007 },
		{ "timeout", required_argument, NULL, 1009 },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL, *reader = NULL;
	bool list = false;
	int pin_fd = -1, c;
	submit_opts so = { 0 };
	while ((c = getopt_long(argc, argv, "hc:r:lv", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(recover_help, stdout); return 0;
		case 'c': cfg_path = optarg; break;
		case 'r': reader = optarg; break;
		case 'l': list = true; break;
		case 'v': so.verbose = true; break;
		case 'f':
			if ((pin_fd = cli_parse_fd("recover", optarg)) < 0)
				return 2;
			break;
		case 1001: so.server = optarg; break;
		case 1002: so.trust = optarg; break;
		case 1003: so.tls_ca = optarg; break;
		case 1004: so.officer_reader = optarg; break;
		case 1005:
			if (!piv_slot_parse(optarg, &so.officer_slot))
				return cli_usage_error("recover", "bad slot '%s'",
				    optarg);
			break;
		case 1006: so.officer_token = optarg; break;
		case 1007: so.officer_cert = optarg; break;
		case 1009:
			so.timeout = atol(optarg);
			if (so.timeout <= 0)
				return cli_usage_error("recover", "bad --timeout "
				    "'%s'", optarg);
			break;
		default: return cli_usage_error("recover", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error("recover", "unexpected argument '%s'",
		    argv[optind]);

	rt_config *cfg = NULL;
	cli_secrets *sec = NULL;
	rt_jop *ops = NULL;
	size_t nops = 0;
	station st;
	rt_transport *t = NULL;
	piv_card *card = NULL;
	rt_contents ct;
	bool have_ct = false, left = false;
	char rbuf[256];
	memset(&st, 0, sizeof(st));
	mbedtls_x509_crt_init(&st.trust);
	rt_err *e = rt_config_load(rt_config_path(cfg_path), &cfg);
	if (e != NULL)
		goto out;
	if ((e = station_open(g, cfg, &so, NULL, false, &st)) != NULL)
		goto out;
	if ((e = rt_journal_incomplete(st.journal, &ops, &nops)) != NULL)
		goto out;
	if (nops == 0) {
		printf("No incomplete operations in %s.\n", cfg->journal);
		goto out;
	}
	printf("Incomplete operations in %s:\n", cfg->journal);
	for (size_t i = 0; i < nops; i++)
		printf("  %s  card \"%s\", procedure %s, last step %s%s%s\n",
		    ops[i].id, ops[i].info.card, ops[i].info.procedure,
		    rt_jstep_name(ops[i].last), ops[i].torn ? " (torn last "
		    "record ignored)" : "", ops[i].corrupt ? " (CORRUPT)" : "");
	fflush(stdout);
	if (list) {
		left = true;
		goto out;
	}
	/* the card: where a write was started, it decides */
	if (reader == NULL) {
		rt_err *re = station_readers(cfg, true, rbuf, false, NULL,
		    sizeof(rbuf), NULL, NULL);
		if (re == NULL)
			reader = rbuf;
		rt_err_free(re);
	}
	if (reader != NULL) {
		rt_err *re = cli_open_reader(g, reader, &t);
		if (re == NULL)
			re = piv_open(t, &card);
		if (re == NULL)
			re = rt_contents_read(card, NULL, time(NULL), 0, &ct);
		if (re == NULL)
			have_ct = true;
		else {
			char m[300];
			rt_err_format(re, m, sizeof(m));
			fprintf(stderr, "raterm recover: no card to check (%s)\n", m);
			rt_err_free(re);
		}
	}
	if ((e = cli_secrets_open(pin_fd, &sec)) != NULL)
		goto out;
	station_close(&st);
	so.held_target = t != NULL ? t->reader : NULL;
	if ((e = station_open(g, cfg, &so, sec, true, &st)) != NULL)
		goto out;
	rt_submit_env env = {
		.cmp = st.client, .journal = st.journal, .audit = st.audit,
		.officer_name = st.officer,
	};
	for (size_t i = 0; i < nops; i++) {
		rt_recover_result rr;
		rt_err *oe = rt_recover_op(&ops[i], have_ct ? &ct : NULL, &env,
		    &rr);
		printf("%s:\n", ops[i].id);
		for (size_t j = 0; j < rr.nlines; j++)
			printf("  %s\n", rr.line[j]);
		if (oe != NULL) {
			char m[400];
			rt_err_format(oe, m, sizeof(m));
			printf("  not finished: %s\n", m);
			if (e == NULL)
				e = oe;
			else
				rt_err_free(oe);
			continue;
		}
		printf("  %s\n", rr.summary);
		if (!rr.finished)
			left = true;
	}
out:
	fflush(stdout);
	if (have_ct)
		rt_contents_free(&ct);
	piv_close(card);
	rt_transport_close(t);
	rt_jops_free(ops, nops);
	station_close(&st);
	cli_secrets_free(sec);
	rt_config_free(cfg);
	if (e != NULL)
		return cli_fail(e);
	return left ? 1 : 0;
}
