/* cmd_update.c - `raterm update`: read the card, apply the update rules
 * under a procedure, run the TC controls it requires, print the plan;
 * submission to the CM host plugs in through rt_update_submit(). */
#include "cli.h"
#include "cli_crypto.h"
#include "cli_station.h"
#include "raterm/config.h"
#include "raterm/contents.h"
#include "raterm/engine.h"
#include "raterm/piv.h"
#include "raterm/tc.h"
#include "raterm/cmp.h"
#include "raterm/journal.h"
#include "raterm/job.h"
#include "raterm/softtoken.h"
#include "raterm/station.h"
#include "raterm/text.h"
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
#include <signal.h>

static const char update_help[] =
"usage: raterm update [-c FILE] [-r READER] --procedure NAME\n"
"                     --action SLOT=ACTION... [--dry-run] [--json] [--yes]\n"
"                     [--subject SLOT=DN] [--san SLOT=TYPE:VALUE]\n"
"                     [--qc [SLOT=]STATEMENT] [--replace-ca-certs]\n"
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
"  --action SLOT=ACTION    e.g. 9a=redo (repeatable; other keys stay blank);\n"
"                          SLOT.N=ACTION: the key's certificate N (0, 1, ...\n"
"                          as 'raterm show' lists them: PKCS#15 keys may\n"
"                          hold several), e.g. 02.1=redo\n"
"  --subject SLOT=DN       the subject typed by the officer, e.g.\n"
"                          '9c=CN=Jane Doe,O=Example,C=DE' (procedures with\n"
"                          subject: officer)\n"
"  --san SLOT=TYPE:VALUE   a subjectAltName typed by the officer, TYPE email,\n"
"                          upn or dns, e.g. 9c=email:jane@example.org\n"
"                          (repeatable; procedures with san: officer)\n"
"  --qc [SLOT=]STATEMENT   add a QC statement (compliance, sscd, esign, eseal,\n"
"                          web) to SLOT, or to every key with an action\n"
"                          (repeatable; officer_may_add of the procedure)\n""  --replace-ca-certs      Replace CA certificate(s): the CM host's CA\n"
"                          certificates replace those on the card (also\n"
"                          with no --action); the procedure must write CA\n"
"                          certificates (ca_certificates: {write: true});\n"
"                          without it such a procedure keeps the card's and\n"
"                          adds the missing\n"
"  --batch JOB.yaml        reader(s), procedure and actions from a job file\n"
"  --dry-run               print the plan and stop (exit 0 if it is valid)\n"
"  --json                  the plan as JSON\n"
"  -y, --yes               submit without asking\n"
"  --ignore-open           submit even though the journal holds an\n"
"                          incomplete update of this card (else refused:\n"
"                          run 'raterm recover' first)\n"
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
"                          operator= (management key in hex, or 'default';\n"
"                          a PKCS#15 card's SO PIN)\n"
"  -v, --verbose           print each CMP message exchanged\n";

#define MAX_ACTIONS RT_MAX_KEYS

typedef struct {
	uint8_t slot;
	int cert;		/* KEY.N: the key's certificate N; -1: none */
	rt_action action;
	unsigned line;		/* in the job file; 0: the command line */
} slot_action;

/* KEY=ACTION, or KEY.N=ACTION for the key's certificate N (0, 1, ... as
 * `raterm show` lists them; a PKCS#15 key may hold several). */
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
	out->cert = -1;
	char *dot = strchr(slot, '.');
	if (dot != NULL) {
		char *end;
		*dot = '\0';
		long n = strtol(dot + 1, &end, 10);
		if (dot[1] == '\0' || *end != '\0' || n < 0 || n >= RT_MAX_KEYS)
			return -1;
		out->cert = (int)n;
	}
	if (!rt_key_parse(slot, &out->slot))
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
		if (rt_key_parse(slot, &out->slot))
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
	rt_json_str(stdout, p->reader);
	printf(", \"card\": ");
	rt_json_str(stdout, p->card);
	printf(", \"procedure\": ");
	rt_json_str(stdout, p->procedure[0] ? p->procedure : NULL);
	printf(", \"tc_card\": %s, \"tc_verified\": %s, \"steps\": [",
	    rt_contents_has_tc(u->ct) ? "true" : "false",
	    p->tc_verified ? "true" : "false");
	for (size_t i = 0; i < p->nsteps; i++) {
		const rt_plan_step *st = &p->steps[i];
		printf("%s\n  {\"slot\": \"%s\", \"action\": \"%s\", "
		    "\"algorithm\": ", i ? "," : "",
		    piv_slot_name(st->slot, s, sizeof(s)),
		    rt_action_name(st->action));
		rt_json_str(stdout, st->alg[0] ? st->alg : NULL);
		printf(", \"profile\": ");
		rt_json_str(stdout, st->profile);
		printf(", \"tc\": %s, \"writes_card\": %s, \"before\": ",
		    st->tc ? "true" : "false", st->writes_card ? "true" : "false");
		rt_json_str(stdout, st->before);
		printf(", \"after\": ");
		rt_json_str(stdout, st->after);
		printf(", \"subject\": ");
		rt_json_str(stdout, st->subject[0] ? st->subject : NULL);
		printf(", \"subject_source\": \"%s\", \"san\": ",
		    rt_source_name(st->subject_src));
		rt_json_str(stdout, st->san[0] ? st->san : NULL);
		printf(", \"san_source\": \"%s\", \"qc\": ",
		    rt_source_name(st->san_src));
		if (st->has_qc) {
			rt_qc_describe(&st->qc, qc, sizeof(qc));
			rt_json_str(stdout, qc);
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
		rt_json_str(stdout, qc);
	} else
		printf("null");
	printf(", \"notes\": [");
	for (size_t i = 0; i < p->nnotes; i++) {
		printf("%s", i ? ", " : "");
		rt_json_str(stdout, p->notes[i]);
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

/* One `raterm update`: the station (opened once for every card of a
 * job) and the secrets of --pin-fd (read once). */
typedef struct {
	const cli_global *g;
	const rt_config *cfg;
	cli_station_opts so;
	bool dry_run, json;
	cli_secrets *sec;
	rt_station *st;
} update_run;

static void
print_result(const rt_plan *plan, const rt_submit_result *res)
{
	printf("Result%s%s%s:\n", res->op_id[0] ? " (journal " : "",
	    res->op_id, res->op_id[0] ? ")" : "");
	for (size_t i = 0; i < plan->nsteps; i++) {
		char line[700];
		rt_submit_result_line(plan, res, i, line, sizeof(line));
		printf("  %s\n", line);
	}
	if (plan->write_ca_certs)
		printf("  CA certificates %s %s%s%s%s\n", rt_step_state_name(
		    res->ca_state), res->ca_message, res->ca_op_id[0] ?
		    " (journal " : "", res->ca_op_id, res->ca_op_id[0] ? ")" : "");
	if (plan->nsteps == 0)
		return;
	printf("%s\n", res->confirmed ? "Confirmed to the CM host "
	    "(certConf, pkiConf)." : res->unknown && !res->issued ? "The "
	    "request was sent and its answer lost: the CM host may have "
	    "issued; nothing was written to the card. Run 'raterm recover'." :
	    res->issued ? "NOT confirmed to the CM host: run 'raterm "
	    "recover'." : res->sent ? "Nothing was issued." : "Nothing was "
	    "sent.");
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
	bool replace_ca;		/* --replace-ca-certs */
} card_args;

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

/* The card printer's feed or eject (printer: in raterm.yaml), said on
 * stderr. */
static rt_err *
run_printer(rt_station *st, rt_printer_step step)
{
	int status = -1;
	char out[200];
	rt_err *e = rt_station_printer(st, step, &status, out, sizeof(out));
	if (e == NULL && status >= 0)
		fprintf(stderr, "raterm update: printer %s: done%s%s\n",
		    step == RT_PRINTER_FEED ? "feed" : "eject", out[0] ? ": " :
		    "", out);
	return e;
}

/* Reads the card, plans, prints the plan and (without --dry-run)
 * submits. *nothing: the plan was empty. */
static rt_err *
update_card(update_run *r, const card_args *a, bool *nothing)
{
	rt_err *e = NULL;
	rt_station *st = r->st;
	bool fed = false;
	*nothing = false;
	if (a->reader != NULL)
		e = rt_station_set_target(st, a->reader);
	else if ((e = rt_station_set_target(st, NULL)) == NULL &&
	    (e = rt_station_find_readers(st, NULL)) == NULL)
		e = rt_station_require_target(st);
	if (e == NULL && (e = run_printer(st, RT_PRINTER_FEED)) == NULL)
		fed = true;
	if (e != NULL || (e = rt_station_reload(st)) != NULL)
		goto out;
	rt_update *u = rt_station_update(st);
	if ((e = rt_update_set_procedure(u, a->proc)) != NULL)
		goto out;
	for (size_t i = 0; i < a->nacts; i++)
		if ((a->acts[i].cert >= 0 && (e = rt_update_choose_cert(u,
		    a->acts[i].slot, a->acts[i].cert)) != NULL) ||
		    (e = rt_update_set_action(u, a->acts[i].slot,
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
	if ((e = apply_reqs(u, a)) != NULL)
		goto out;
	if (a->replace_ca && (e = rt_update_set_ca_certs(u, true)) != NULL)
		goto out;
	if (r->sec == NULL &&
	    (e = cli_secrets_open(r->so.pin_fd, &r->sec)) != NULL)
		goto out;
	cli_dialog_ctx dc = { "update", r->sec, r->so.pin_fd >= 0, a->job };
	rt_update_dialogs d;
	cli_dialogs(&dc, &d);
	rt_plan plan;
	if ((e = rt_station_plan(st, &d, r->dry_run, &plan)) != NULL) {
		if (u->tc_ran)
			print_tc_results(u);
		goto out;
	}
	if (r->json)
		print_plan_json(&plan, u);
	else
		rt_plan_print(&plan, stdout);
	fflush(stdout);
	*nothing = plan.nsteps == 0 && !plan.write_ca_certs;
	if (r->dry_run || *nothing)
		goto out;
	rt_submit_result res;
	cli_station_signals(st);
	e = rt_station_submit(st, &d, r->so.yes ? RT_SUBMIT_YES : 0, &plan,
	    &res);
	cli_station_signals(NULL);
	if (res.sent || plan.write_ca_certs)
		print_result(&plan, &res);
	fflush(stdout);
out:
	if (fed) {
		/* the printer ejects the card, whatever became of it */
		rt_err *pe = run_printer(st, RT_PRINTER_EJECT);
		if (pe != NULL && e == NULL)
			e = pe;
		else
			rt_err_free(pe);
	}
	rt_station_forget_secrets(st);
	if (r->sec != NULL) {
		/* what this card needed is asked again for the next one */
		cli_secret_forget(r->sec, "card");
		cli_secret_forget(r->sec, "card2");
		cli_secret_forget(r->sec, "operator");
		cli_secret_forget(r->sec, "signature");
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

/* The reader a job's card was read in (or would have been). */
static const char *
job_reader(const rt_job *job, const card_result *res, size_t i)
{
	return res[i].reader[0] ? res[i].reader : job->cards[i].reader[0] ?
	    job->cards[i].reader : "readers.target";
}

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
		rt_json_str(stdout, job->file);
		printf(", \"dry_run\": %s, \"cards\": [", dry_run ? "true" :
		    "false");
		for (size_t i = 0; i < job->ncards; i++) {
			const card_result *cr = &res[i];
			printf("%s\n  {\"card\": %zu, \"line\": %u, \"reader\": ",
			    i ? "," : "", i + 1, job->cards[i].line);
			rt_json_str(stdout, cr->reader[0] ? cr->reader : NULL);
			printf(", \"result\": \"%s\", \"exit\": %d, \"error\": ",
			    cr->state == CARD_DONE ? (cr->nothing ? "nothing to do"
			    : done) : cr->state == CARD_FAILED ? "failed" :
			    "not run", cr->rc);
			rt_json_str(stdout, cr->state == CARD_FAILED ? cr->error :
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
	/* the readers' column as wide as its widest name (at most 34) */
	size_t rw = 0;
	bool utf8 = rt_text_utf8_locale();
	for (size_t i = 0; i < job->ncards; i++) {
		size_t w = rt_text_width(job_reader(job, res, i)) + 2;
		if (w > rw)
			rw = w;
	}
	if (rw > 34)
		rw = 34;
	for (size_t i = 0; i < job->ncards; i++) {
		char where[32], quoted[300];
		const card_result *cr = &res[i];
		snprintf(where, sizeof(where), "(line %u)", job->cards[i].line);
		snprintf(quoted, sizeof(quoted), "\"%s\"", job_reader(job, res,
		    i));
		printf("  card %-2zu %-10s ", i + 1, where);
		rt_text_pad(stdout, quoted, rw, utf8);
		printf("  ");
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
		CLI_STATION_LONG_OPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "reader", required_argument, NULL, 'r' },
		{ "procedure", required_argument, NULL, 'P' },
		{ "action", required_argument, NULL, 'a' },
		{ "batch", required_argument, NULL, 'b' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "yes", no_argument, NULL, 'y' },
		{ "subject", required_argument, NULL, 1010 },
		{ "san", required_argument, NULL, 1011 },
		{ "qc", required_argument, NULL, 1012 },
		{ "ignore-open", no_argument, NULL, 1013 },
		{ "replace-ca-certs", no_argument, NULL, 1014 },
		{ NULL, 0, NULL, 0 },
	};
	const char *reader = NULL, *proc_name = NULL;
	static rt_job_req reqs[RT_JOB_MAX_REQS];
	size_t nreqs = 0;
	const char *batch = NULL;
	slot_action acts[MAX_ACTIONS];
	size_t nacts = 0;
	bool replace_ca = false;
	update_run r;
	int c, sr;
	memset(&r, 0, sizeof(r));
	r.g = g;
	r.so.pin_fd = -1;

	while ((c = getopt_long(argc, argv, "hc:r:jyv", opts, NULL)) != -1) {
		if ((sr = cli_station_opt("update", c, optarg, &r.so)) < 0)
			return 2;
		if (sr == 1)
			continue;
		switch (c) {
		case 'h': fputs(update_help, stdout); return 0;
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
		case 1013: r.so.ignore_open = true; break;
		case 1014: replace_ca = true; break;
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
	if (batch != NULL && replace_ca)
		return cli_usage_error("update", "--replace-ca-certs is for one "
		    "card, not with --batch");
	if (batch != NULL && (reader != NULL || proc_name != NULL || nacts))
		return cli_usage_error("update", "--batch takes the reader, the "
		    "procedure and the actions from the job file; not with %s",
		    reader != NULL ? "-r/--reader" : proc_name != NULL ?
		    "--procedure" : "--action");
	if (batch == NULL && proc_name == NULL)
		return cli_usage_error("update", "--procedure NAME is required "
		    "('raterm procedures' lists them), or --batch JOB.yaml");
	if (batch == NULL && (sr = cli_station_check("update", &r.so)) != 0)
		return sr;

	rt_config *cfg = NULL;
	rt_job *job = NULL;
	card_result *res = NULL;
	int rc = 0;
	rt_err *e = cli_config_load(&r.so, true, &cfg);
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
		    !merge_opt(&r.so.transport_ca, &job->transport_ca,
		    "--transport-ca",
		    "transport_ca", f) ||
		    !merge_opt(&r.so.attestation_root, &job->attestation_root,
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
	if ((e = cli_station_open(g, cfg, &r.so, NULL, &r.st)) != NULL)
		goto out;

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
		ca.replace_ca = replace_ca;
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
			ca.acts[k].cert = -1;
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
	rt_station_close(r.st);
	cli_secrets_free(r.sec);
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
		CLI_STATION_LONG_OPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "reader", required_argument, NULL, 'r' },
		{ "list", no_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *reader = NULL;
	bool list = false;
	int c, sr;
	cli_station_opts so = { .pin_fd = -1 };
	while ((c = getopt_long(argc, argv, "hc:r:lv", opts, NULL)) != -1) {
		if ((sr = cli_station_opt("recover", c, optarg, &so)) < 0)
			return 2;
		if (sr == 1)
			continue;
		switch (c) {
		case 'h': fputs(recover_help, stdout); return 0;
		case 'r': reader = optarg; break;
		case 'l': list = true; break;
		default: return cli_usage_error("recover", "invalid option");
		}
	}
	if ((sr = cli_station_check("recover", &so)) != 0)
		return sr;
	if (optind < argc)
		return cli_usage_error("recover", "unexpected argument '%s'",
		    argv[optind]);

	rt_config *cfg = NULL;
	cli_secrets *sec = NULL;
	rt_jop *ops = NULL;
	size_t nops = 0;
	rt_station *st = NULL;
	bool left = false;
	rt_err *e = cli_config_load(&so, true, &cfg);
	if (e != NULL)
		goto out;
	if ((e = cli_station_open(g, cfg, &so, reader, &st)) != NULL)
		goto out;
	if ((e = rt_station_open_ops(st, &ops, &nops)) != NULL)
		goto out;
	if (nops == 0) {
		printf("No incomplete operations in %s.\n", cfg->journal);
		goto out;
	}
	printf("Incomplete operations in %s:\n", cfg->journal);
	for (size_t i = 0; i < nops; i++)
		if (ops[i].unreadable[0])
			printf("  %s  CORRUPT: %s\n", ops[i].id, ops[i].unreadable);
		else {
			printf("  %s  card \"%s\", procedure %s, last step %s%s%s\n",
			    ops[i].id, ops[i].info.card, ops[i].info.procedure,
			    rt_jstep_name(ops[i].last), ops[i].torn ? " (torn "
			    "last record ignored)" : "", ops[i].corrupt ?
			    " (CORRUPT)" : "");
			time_t cb = rt_jop_confirm_by(&ops[i]);
			if (cb > 0) {
				char when[32];
				rt_grace_fmt(cb, when, sizeof(when));
				printf("      the CM host revokes what is not confirmed "
				    "%s %s\n", cb > time(NULL) ? "at" : "since", when);
			}
		}
	fflush(stdout);
	if (list) {
		left = true;
		goto out;
	}
	if ((e = cli_secrets_open(so.pin_fd, &sec)) != NULL)
		goto out;
	cli_dialog_ctx dc = { "recover", sec, so.pin_fd >= 0, NULL };
	rt_update_dialogs d;
	cli_dialogs(&dc, &d);
	for (size_t i = 0; i < nops; i++) {
		rt_recover_result rr;
		if (ops[i].unreadable[0]) {
			/* nothing to recover from: left for a person to look at;
			 * the other operations go on */
			printf("%s:\n  not finished: the journal file cannot be read "
			    "(%s); look at it and remove it by hand\n", ops[i].id,
			    ops[i].unreadable);
			left = true;
			continue;
		}
		rt_err *oe = rt_station_recover(st, &ops[i], &d, &rr);
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
	rt_station_recover_done(st);
out:
	fflush(stdout);
	rt_jops_free(ops, nops);
	rt_station_close(st);
	cli_secrets_free(sec);
	rt_config_free(cfg);
	if (e != NULL)
		return cli_fail(e);
	return left ? 1 : 0;
}
