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
#include "raterm/x509.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char update_help[] =
"usage: raterm update [-c FILE] [-r READER] --procedure NAME\n"
"                     --action SLOT=ACTION... [--dry-run] [--json]\n"
"                     [--transport-ca FILE] [--attestation-root FILE]\n"
"                     [--pin-fd N]\n"
"\n"
"Updates the certificates of the card in READER: one action per key\n"
"(blank, issue, redo, add) under a procedure of the configuration. The\n"
"rules are applied first (each refusal names its reason, exit status 9);\n"
"on a card with transport certificates the procedure's TC controls run\n"
"(the card PIN is asked on the terminal where a key needs it, or read as\n"
"'card=PIN' from --pin-fd) and must pass. Then the plan is printed: per\n"
"key, what the card holds now and what it will hold.\n"
"\n"
"  -c, --config FILE       the station configuration\n"
"  -r, --reader READER     the target card's reader (as for 'raterm show');\n"
"                          default: readers.target of the configuration\n"
"  --procedure NAME        a procedure ('raterm procedures' lists them)\n"
"  --action SLOT=ACTION    e.g. 9a=redo (repeatable; other keys stay blank)\n"
"  --dry-run               print the plan and stop (exit 0 if it is valid)\n"
"  --json                  the plan as JSON\n"
"  --transport-ca FILE     overrides transport_cas of the configuration\n"
"  --attestation-root FILE overrides attestation_roots\n"
"  --pin-fd N              read 'card=PIN' from file descriptor N\n"
"\n"
"Without --dry-run the plan would be submitted to the CM host; this\n"
"version cannot submit yet and stops with an error after the plan.\n";

#define MAX_ACTIONS PIV_NUM_CERT_SLOTS

typedef struct {
	uint8_t slot;
	rt_action action;
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
	if (!piv_slot_parse(slot, &out->slot) || piv_cert_tag(out->slot) == 0)
		return -1;
	return rt_action_parse(eq + 1, &out->action) ? 0 : -1;
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
		printf("}");
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

/* Picks the target reader from the configuration when -r is not given: a
 * name is used as it is; a pattern must match exactly one reader holding a
 * card; auto: the one reader holding a card that is not the officer's
 * (a card with an officer certificate from officer.officer_cas). */
static rt_err *
target_reader(const rt_config *cfg, char *out, size_t cap, const char **spec)
{
	const rt_reader_sel *sel = &cfg->target_reader;
	*spec = NULL;
	if (sel->match == RT_READER_NAME) {
		snprintf(out, cap, "%s", sel->value);
		*spec = out;
		return NULL;
	}
	rt_castore *ocas = NULL;
	rt_err *e;
	if (cfg->officer_reader.match == RT_READER_AUTO &&
	    cfg->officer.officer_cas[0] &&
	    (e = rt_castore_load(cfg->officer.officer_cas, &ocas)) != NULL)
		return rt_err_wrap(e, "officer.officer_cas");
	rt_station_readers sr;
	e = rt_station_readers_find(cfg, ocas, &sr);
	rt_castore_free(ocas);
	if (e != NULL)
		return e;
	snprintf(out, cap, "%s", sr.target);
	*spec = out;
	return NULL;
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
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "transport-ca", required_argument, NULL, 'T' },
		{ "attestation-root", required_argument, NULL, 'R' },
		{ "pin-fd", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL, *reader = NULL, *proc_name = NULL;
	const char *tca_path = NULL, *root_path = NULL;
	slot_action acts[MAX_ACTIONS];
	size_t nacts = 0;
	bool dry_run = false, json = false;
	int pin_fd = -1, c;

	while ((c = getopt_long(argc, argv, "hc:r:j", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(update_help, stdout); return 0;
		case 'c': cfg_path = optarg; break;
		case 'r': reader = optarg; break;
		case 'P': proc_name = optarg; break;
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
		case 'n': dry_run = true; break;
		case 'j': json = true; break;
		case 'T': tca_path = optarg; break;
		case 'R': root_path = optarg; break;
		case 'f':
			if ((pin_fd = cli_parse_fd("update", optarg)) < 0)
				return 2;
			break;
		default: return cli_usage_error("update", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error("update", "unexpected argument '%s'",
		    argv[optind]);
	if (proc_name == NULL)
		return cli_usage_error("update", "--procedure NAME is required "
		    "('raterm procedures' lists them)");

	rt_config *cfg = NULL;
	rt_castore *tcas = NULL, *roots = NULL;
	rt_transport *t = NULL;
	piv_card *card = NULL;
	cli_secrets *sec = NULL;
	rt_contents ct;
	bool have_ct = false;
	char rbuf[256];
	rt_err *e = rt_config_load(rt_config_path(cfg_path), &cfg);
	int rc = 0;
	if (e != NULL)
		goto out;
	const rt_procedure *proc = rt_config_procedure(cfg, proc_name);
	if (proc == NULL) {
		e = rt_err_new(RT_E_USAGE, NULL, "no procedure '%s' in %s "
		    "('raterm procedures' lists them)", proc_name,
		    cfg->procedures_dir);
		goto out;
	}
	if (tca_path == NULL)
		tca_path = cfg->transport_cas;
	if (root_path == NULL && cfg->attestation_roots[0])
		root_path = cfg->attestation_roots;
	if ((e = rt_castore_load(tca_path, &tcas)) != NULL) {
		e = rt_err_wrap(e, "transport CAs");
		goto out;
	}
	if (reader == NULL && (e = target_reader(cfg, rbuf, sizeof(rbuf),
	    &reader)) != NULL)
		goto out;
	if ((e = cli_open_reader(g, reader, &t)) != NULL)
		goto out;
	if ((e = piv_open(t, &card)) != NULL)
		goto out;
	if ((e = rt_contents_read(card, tcas, time(NULL), 0, &ct)) != NULL) {
		e = rt_err_wrap(e, "reading the card in \"%s\"", t->reader);
		goto out;
	}
	have_ct = true;

	rt_update u;
	rt_update_init(&u, &ct);
	if ((e = rt_update_set_procedure(&u, proc)) != NULL)
		goto out;
	for (size_t i = 0; i < nacts; i++)
		if ((e = rt_update_set_action(&u, acts[i].slot,
		    acts[i].action)) != NULL)
			goto out;
	if (rt_update_tc_needed(&u)) {
		if (root_path != NULL &&
		    (e = rt_castore_load(root_path, &roots)) != NULL) {
			e = rt_err_wrap(e, "attestation roots");
			goto out;
		}
		if ((e = cli_secrets_open(pin_fd, &sec)) != NULL)
			goto out;
		cli_pin_ctx pc = { sec, "card" };
		rt_tc_config base = {
			.transport_cas = tcas, .attest_roots = roots,
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
	if (json)
		print_plan_json(&plan, &u);
	else
		rt_plan_print(&plan, stdout);
	fflush(stdout);
	if (dry_run)
		goto out;
	rt_submit_result res;
	rt_submit_env env = { .card = card };
	e = rt_update_submit(&u, &plan, &env, NULL, &res);
out:
	if (have_ct)
		rt_contents_free(&ct);
	piv_close(card);
	rt_transport_close(t);
	cli_secrets_free(sec);
	rt_castore_free(tcas);
	rt_castore_free(roots);
	rt_config_free(cfg);
	return e ? cli_fail(e) : rc;
}
