/* cmd_pin.c - `raterm pin change | unblock | retries`: the target card's
 * PIN and PUK, as people know it from ykman. The PINs come from the
 * terminal (echo off) or --pin-fd lines, never from argv or the
 * environment; a PIN the card refuses is reported with the tries left and
 * never presented again. */
#include "cli.h"
#include "cli_crypto.h"
#include "cli_station.h"
#include "raterm/piv.h"
#include "raterm/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char pin_help[] =
"usage: raterm pin change [--puk] [-r READER] [-c FILE] [--pin-fd N]\n"
"       raterm pin unblock [-r READER] [-c FILE] [--pin-fd N]\n"
"       raterm pin retries [-r READER] [-c FILE] [--json]\n"
"\n"
"The PIN and PUK of the card in the target reader.\n"
"\n"
"  change        change the PIN (asks the current PIN, then the new one\n"
"                twice); with --puk the PUK instead\n"
"  unblock       set a new PIN with the PUK (a blocked or forgotten PIN)\n"
"  retries       the tries left of the PIN and the PUK, and whether the\n"
"                card still has its default PIN, PUK or management key\n"
"\n"
"  -r, --reader READER  the card's reader: its name, its number from\n"
"                       'raterm readers', or a unique part of its name;\n"
"                       default: readers.target of the configuration\n"
"                       (without one: the only reader holding a card)\n"
"  -c, --config FILE    station configuration (default $RATERM_CONFIG or\n"
"                       /etc/raterm/raterm.yaml)\n"
"  --puk                change: the PUK, not the PIN\n"
"  --pin-fd N           read the PINs from file descriptor N, one per line:\n"
"                       card=PIN (current PIN), puk=PUK, new=NEW (the new\n"
"                       PIN or PUK); without it they are asked on the\n"
"                       terminal with echo off, the new one twice\n"
"  --json               retries: machine-readable output\n"
"\n"
"The prompts show the tries left. A wrong PIN or PUK is reported with the\n"
"tries left and is never tried again: the card's counter goes down by\n"
"exactly one. Exit status 5 for a wrong or blocked PIN or PUK (raterm(1)).\n";

typedef enum { PIN_CHANGE, PIN_UNBLOCK, PIN_RETRIES } pin_op;

/* The target reader: -r, else the station's (readers.target of the
 * configuration; without a configuration file, the one reader holding a
 * card). The station is closed again: only the name is kept. */
static rt_err *
target_reader(const cli_global *g, const char *cfg_path, char *buf,
    size_t cap)
{
	cli_station_opts so = { .config = cfg_path, .pin_fd = -1 };
	rt_config *cfg = NULL;
	rt_station *st = NULL;
	rt_station_readers_info info;
	rt_err *e = cli_config_load(&so, false, &cfg);
	if (e == NULL)
		e = cli_station_open(g, cfg, &so, NULL, &st);
	if (e == NULL)
		e = rt_station_find_readers(st, &info);
	if (e == NULL && info.target[0] == '\0')
		e = rt_station_require_target(st);
	if (e == NULL)
		snprintf(buf, cap, "%s", info.target);
	rt_station_close(st);
	rt_config_free(cfg);
	return e;
}

/* Tries left (and the total, -1 unknown) of the PIN (puk false) or the
 * PUK, without spending one: the card's metadata where it offers it, else
 * for the PIN a VERIFY without data. The PUK has no such VERIFY: -1. */
static rt_err *
tries(piv_card *card, bool puk, int *left, int *total)
{
	piv_metadata md;
	*left = *total = -1;
	rt_err *e = piv_get_metadata(card, puk ? 0x81 : 0x80, &md);
	if (e == NULL && md.retries_left >= 0) {
		*left = md.retries_left;
		*total = md.retries_total;
		return NULL;
	}
	if (e != NULL && !rt_err_has(e, RT_E_NOT_SUPPORTED) &&
	    !rt_err_has(e, RT_E_NOT_FOUND) && !rt_err_has(e, RT_E_CARD_STATUS))
		return e;
	rt_err_free(e);
	return puk ? NULL : piv_pin_retries(card, left);
}

static void
tries_text(int left, char *buf, size_t cap)
{
	if (left < 0)
		buf[0] = '\0';
	else
		snprintf(buf, cap, " (%d tr%s left)", left,
		    left == 1 ? "y" : "ies");
}

/* The new PIN or PUK: --pin-fd line new=, or asked twice at the
 * terminal. Checked for the card's length rule before anything is sent. */
static rt_err *
ask_new(cli_secrets *sec, bool from_fd, const char *what, char *buf,
    size_t cap, size_t *len)
{
	char p[80], again[16];
	size_t alen = 0;
	snprintf(p, sizeof(p), "New %s (6 to 8 characters)", what);
	rt_err *e = cli_secret_get(sec, "new", p, buf, cap, len);
	if (e != NULL)
		return e;
	if (*len < 6 || *len > 8)
		return rt_err_new(RT_E_PIN_FORMAT, NULL, "the new %s must be 6 "
		    "to 8 characters, not %zu; nothing changed", what, *len);
	if (from_fd)
		return NULL;
	snprintf(p, sizeof(p), "New %s again", what);
	e = cli_secret_get(sec, "new-again", p, again, sizeof(again), &alen);
	if (e == NULL && (alen != *len || memcmp(again, buf, alen) != 0))
		e = rt_err_new(RT_E_USAGE, NULL, "the two new %ss differ; "
		    "nothing changed", what);
	rt_wipe(again, sizeof(again));
	return e;
}

/* A refused PIN or PUK: the tries left, and what to do when blocked. */
static rt_err *
refused(rt_err *e, const char *what, const char *reader)
{
	if (rt_err_kind_of(e) == RT_E_PIN_WRONG) {
		int left = rt_err_detail(e);
		return rt_err_wrap(e, "wrong %s for the card in \"%s\", %d tr%s "
		    "left (not tried again); nothing changed", what, reader,
		    left, left == 1 ? "y" : "ies");
	}
	if (rt_err_kind_of(e) == RT_E_PIN_BLOCKED)
		return rt_err_wrap(e, "the %s of the card in \"%s\" is blocked%s",
		    what, reader, strcmp(what, "PIN") == 0 ?
		    " (raterm pin unblock sets a new one with the PUK)" :
		    " (only a reset of the PIV application helps)");
	return e;
}

static void
json_tries(const char *name, int left, int total)
{
	printf(", \"%s_retries\": ", name);
	if (left >= 0) printf("%d", left); else printf("null");
	printf(", \"%s_total\": ", name);
	if (total >= 0) printf("%d", total); else printf("null");
}

static rt_err *
op_retries(piv_card *card, const char *reader, bool json)
{
	int pl, pt, ul, ut;
	unsigned defaults = 0;
	rt_err *e;
	if ((e = tries(card, false, &pl, &pt)) != NULL ||
	    (e = tries(card, true, &ul, &ut)) != NULL)
		return e;
	bool known = true;
	e = piv_default_creds(card, &defaults, NULL);
	if (e != NULL && rt_err_kind_of(e) == RT_E_NOT_SUPPORTED) {
		rt_err_free(e);
		known = false;
	} else if (e != NULL)
		return e;
	if (json) {
		printf("{\"reader\": ");
		rt_json_str(stdout, reader);
		json_tries("pin", pl, pt);
		json_tries("puk", ul, ut);
		printf(", \"default_credentials\": ");
		cli_default_creds_json(stdout, known, defaults);
		printf("}\n");
		return NULL;
	}
	printf("Reader:  %s\n", reader);
	const struct { const char *name; int left, total; } r[2] = {
		{ "PIN", pl, pt }, { "PUK", ul, ut },
	};
	for (int i = 0; i < 2; i++) {
		printf("%s:     ", r[i].name);
		if (r[i].left < 0)
			printf("%s\n", i == 0 ? "verified in this session" :
			    "tries left not told by the card");
		else if (r[i].total > 0)
			printf("%d of %d tries left%s\n", r[i].left, r[i].total,
			    r[i].left == 0 ? " (blocked)" : "");
		else
			printf("%d tr%s left%s\n", r[i].left,
			    r[i].left == 1 ? "y" : "ies",
			    r[i].left == 0 ? " (blocked)" : "");
	}
	char words[64];
	if (defaults != 0)
		printf("Warning: the card still has the default %s\n",
		    cli_default_creds_words(defaults, words, sizeof(words)));
	return NULL;
}

/* change (PIN or PUK) and unblock. The card's transaction is held only
 * while it is asked, not while the officer types. */
static rt_err *
op_set(rt_transport *t, pin_op op, bool puk, cli_secrets *sec, bool from_fd)
{
	/* what is presented: the PIN (change), the PUK (change --puk, unblock) */
	bool by_puk = puk || op == PIN_UNBLOCK;
	const char *what = by_puk ? "PUK" : "PIN";
	const char *newwhat = puk ? "PUK" : "PIN";
	char cur[16], nw[16], prompt[400], tt[40];
	size_t cl = 0, nl = 0;
	int left, total;
	piv_card *card = NULL;
	rt_err *e = piv_open(t, &card);
	if (e == NULL)
		e = tries(card, by_puk, &left, &total);
	piv_close(card);
	card = NULL;
	if (e != NULL)
		return e;
	if (left == 0)
		return refused(rt_err_new(RT_E_PIN_BLOCKED, NULL, "no tries "
		    "left"), what, t->reader);
	tries_text(left, tt, sizeof(tt));
	snprintf(prompt, sizeof(prompt), "%s of the card in \"%s\"%s", what,
	    t->reader, tt);
	e = cli_secret_get(sec, by_puk ? "puk" : "card", prompt, cur,
	    sizeof(cur), &cl);
	if (e == NULL && (cl < 6 || cl > 8))
		e = rt_err_new(RT_E_PIN_FORMAT, NULL, "the %s must be 6 to 8 "
		    "characters, not %zu; not sent to the card", what, cl);
	if (e == NULL)
		e = ask_new(sec, from_fd, newwhat, nw, sizeof(nw), &nl);
	if (e == NULL)
		e = piv_open(t, &card);
	if (e == NULL) {
		if (op == PIN_UNBLOCK)
			e = piv_unblock_pin(card, cur, cl, nw, nl);
		else
			e = piv_change_ref(card, puk, cur, cl, nw, nl);
		if (e != NULL)
			e = refused(e, what, t->reader);
	}
	rt_wipe(cur, sizeof(cur));
	rt_wipe(nw, sizeof(nw));
	if (e == NULL) {
		if (op == PIN_UNBLOCK)
			printf("New PIN set on the card in \"%s\"; the PIN has "
			    "all its tries again.\n", t->reader);
		else
			printf("%s changed on the card in \"%s\".\n", newwhat,
			    t->reader);
	}
	piv_close(card);
	return e;
}

int
cmd_pin(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "reader", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "puk", no_argument, NULL, 'P' },
		{ "pin-fd", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *reader = NULL, *cfg_path = NULL, *sub = NULL;
	bool puk = false, json = false;
	int pin_fd = -1, c;
	pin_op op;

	if (argc >= 2 && argv[1][0] != '-') {
		sub = argv[1];
		argc--;
		argv++;
	}
	while ((c = getopt_long(argc, argv, "hr:c:", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(pin_help, stdout); return 0;
		case 'r': reader = optarg; break;
		case 'c': cfg_path = optarg; break;
		case 'P': puk = true; break;
		case 'j': json = true; break;
		case 'f':
			if ((pin_fd = cli_parse_fd("pin", optarg)) < 0)
				return 2;
			break;
		default: return cli_usage_error("pin", "invalid option");
		}
	}
	if (sub == NULL && optind < argc)
		sub = argv[optind++];
	if (optind < argc)
		return cli_usage_error("pin", "unexpected argument '%s'",
		    argv[optind]);
	if (sub == NULL)
		return cli_usage_error("pin", "which: change, unblock or retries?");
	if (strcmp(sub, "change") == 0)
		op = PIN_CHANGE;
	else if (strcmp(sub, "unblock") == 0)
		op = PIN_UNBLOCK;
	else if (strcmp(sub, "retries") == 0)
		op = PIN_RETRIES;
	else
		return cli_usage_error("pin", "unknown subcommand '%s' (change, "
		    "unblock, retries)", sub);
	if (puk && op != PIN_CHANGE)
		return cli_usage_error("pin", "--puk goes with 'change'");
	if (json && op != PIN_RETRIES)
		return cli_usage_error("pin", "--json goes with 'retries'");
	if (pin_fd >= 0 && op == PIN_RETRIES)
		return cli_usage_error("pin", "'retries' asks no PIN: no --pin-fd");

	char rbuf[256];
	const char *r = reader;
	rt_transport *t = NULL;
	piv_card *card = NULL;
	cli_secrets *sec = NULL;
	rt_err *e = NULL;

	/* the PINs first: nothing is read from the card without them */
	if (op != PIN_RETRIES && (e = cli_secrets_open(pin_fd, &sec)) != NULL)
		goto out;
	if (r == NULL) {
		if ((e = target_reader(g, cfg_path, rbuf, sizeof(rbuf))) != NULL)
			goto out;
		r = rbuf;
	}
	if ((e = cli_open_reader(g, r, &t)) != NULL)
		goto out;
	if (op == PIN_RETRIES) {
		if ((e = piv_open(t, &card)) == NULL)
			e = op_retries(card, t->reader, json);
	} else
		e = op_set(t, op, puk, sec, pin_fd >= 0);
out:
	fflush(stdout);
	piv_close(card);
	rt_transport_close(t);
	cli_secrets_free(sec);
	return e != NULL ? cli_fail(e) : 0;
}
