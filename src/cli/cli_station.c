/* cli_station.c - the station's options, dialogs and signals on the
 * command line; see cli_station.h. */
#include "cli_station.h"

#include "raterm/piv.h"
#include "raterm/transport.h"
#include "raterm/util.h"

#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- options -------------------------------------------------------------- */

int
cli_station_opt(const char *cmd, int c, const char *arg, cli_station_opts *o)
{
	switch (c) {
	case 'c': o->config = arg; return 1;
	case 'v': o->verbose = true; return 1;
	case 2001: o->server = arg; return 1;
	case 2002: o->trust = arg; return 1;
	case 2003: o->tls_ca = arg; return 1;
	case 2004: o->officer_reader = arg; return 1;
	case 2005:
		if (!piv_slot_parse(arg, &o->officer_slot)) {
			cli_usage_error(cmd, "bad slot '%s'", arg);
			return -1;
		}
		return 1;
	case 2006: o->officer_token = arg; return 1;
	case 2007: o->officer_cert = arg; return 1;
	case 2008: o->officer_chain = arg; return 1;
	case 2009: {
		char *end;
		long v = strtol(arg, &end, 10);
		if (*arg == '\0' || *end != '\0' || v <= 0 || v > 86400) {
			cli_usage_error(cmd, "bad --timeout '%s' (seconds, 1 to "
			    "86400)", arg);
			return -1;
		}
		o->timeout = v;
		return 1;
	}
	case 2010:
		if ((o->pin_fd = cli_parse_fd(cmd, arg)) < 0)
			return -1;
		return 1;
	case 2011: o->transport_ca = arg; return 1;
	case 2012: o->attestation_root = arg; return 1;
	default: return 0;
	}
}

int
cli_station_check(const char *cmd, const cli_station_opts *o)
{
	if (o->officer_reader != NULL && o->officer_token != NULL)
		return cli_usage_error(cmd, "give --officer-reader or "
		    "--officer-token, not both");
	return 0;
}

rt_err *
cli_config_load(const cli_station_opts *o, bool required, rt_config **out)
{
	const char *path = rt_config_path(o->config);
	struct stat sb;
	*out = NULL;
	if (!required && o->config == NULL && getenv("RATERM_CONFIG") == NULL &&
	    stat(path, &sb) != 0)
		return rt_config_new(out);	/* no station configuration */
	rt_err *e = rt_config_load(path, out);
	if (e != NULL) {
		rt_config_free(*out);
		*out = NULL;
		return rt_err_wrap(e, "configuration %s", path);
	}
	return NULL;
}

static rt_err *
open_reader_cb(void *ctx, const char *name, rt_transport **out)
{
	return cli_open_reader(ctx, name, out);
}

void
cli_station_fill(const cli_global *g, const cli_station_opts *o,
    const char *reader, rt_station_opts *so)
{
	*so = (rt_station_opts){
		.target_reader = reader, .officer_reader = o->officer_reader,
		.officer_token = o->officer_token,
		.officer_cert = o->officer_cert,
		.officer_chain = o->officer_chain,
		.officer_slot = o->officer_slot,
		.server = o->server, .trust = o->trust, .tls_ca = o->tls_ca,
		.transport_ca = o->transport_ca,
		.attestation_root = o->attestation_root, .timeout = o->timeout,
		.cmp_log = o->verbose ? stderr : NULL, .warn = stderr,
		.open_reader = open_reader_cb, .open_ctx = (void *)g,
		.ignore_open = o->ignore_open,
	};
}

rt_err *
cli_station_open(const cli_global *g, const rt_config *cfg,
    const cli_station_opts *o, const char *reader, rt_station **out)
{
	rt_station_opts so;
	cli_station_fill(g, o, reader, &so);
	return rt_station_open(cfg, &so, out);
}

/* ---- dialogs -------------------------------------------------------------- */

static rt_err *
dlg_card_pin(void *ctx, unsigned which, const char *prompt, char *buf,
    size_t cap, size_t *len)
{
	cli_dialog_ctx *dc = ctx;
	return cli_secret_get(dc->sec, which == 2 ? "card2" : "card", prompt,
	    buf, cap, len);
}

static rt_err *
dlg_signature(void *ctx, const char *prompt, char *buf, size_t cap,
    size_t *len)
{
	cli_dialog_ctx *dc = ctx;
	return cli_secret_get(dc->sec, "signature", prompt, buf, cap, len);
}

static rt_err *
dlg_operator(void *ctx, const char *prompt, uint8_t *buf, size_t cap,
    size_t *len)
{
	cli_dialog_ctx *dc = ctx;
	char hex[130];
	size_t hl = 0;
	rt_err *e = cli_secret_get(dc->sec, "operator", prompt, hex,
	    sizeof(hex) - 1, &hl);
	if (e == NULL)
		e = rt_operator_credential_parse(hex, hl, buf, cap, len);
	rt_wipe(hex, sizeof(hex));
	if (e == NULL && *len == 0)
		fprintf(stderr, "raterm %s: operator credential: the card's "
		    "default management key, as given\n", dc->cmd);
	return e;
}

static rt_err *
dlg_operator_pin(void *ctx, const char *prompt, char *buf, size_t cap,
    size_t *len)
{
	cli_dialog_ctx *dc = ctx;
	return cli_secret_get(dc->sec, "operator", prompt, buf, cap, len);
}

static void
dlg_progress(void *ctx, const rt_plan_step *st, const char *what)
{
	cli_dialog_ctx *dc = ctx;
	char s[4];
	if (st != NULL)
		fprintf(stderr, "raterm %s: %s: %s\n", dc->cmd,
		    piv_slot_name(st->slot, s, sizeof(s)), what);
	else
		fprintf(stderr, "raterm %s: %s\n", dc->cmd, what);
}

static rt_err *
dlg_confirm(void *ctx, const rt_plan *p, bool *yes)
{
	(void)ctx;
	(void)p;		/* printed before */
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

/* The typed-value dialog: the terminal, unless --pin-fd is given or there
 * is none; then the error says which option (or job key) gives it. */
static rt_err *
dlg_typed(void *ctx, uint8_t slot, const char *field, const char *prompt,
    char *buf, size_t cap, size_t *len)
{
	cli_dialog_ctx *tc = ctx;
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

/* ---- signals -------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;
static rt_station *busy_station;

static bool
dlg_cancel(void *ctx)
{
	(void)ctx;
	return interrupted != 0;
}

static void
on_signal(int sig)
{
	if (sig == SIGINT && interrupted == 0) {
		interrupted = 1;
		static const char m[] = "\nraterm: cancelling after the current "
		    "step (Ctrl-C again to stop at once)\n";
		ssize_t w = write(2, m, sizeof(m) - 1);
		(void)w;
		return;
	}
	const char *op = busy_station ? rt_station_busy_op(busy_station) : "";
	static const char a[] = "\nraterm: interrupted";
	static const char b[] = "; the update is open in the journal (";
	static const char c[] = "): run 'raterm recover'\n";
	ssize_t w = write(2, a, sizeof(a) - 1);
	if (op[0]) {
		w = write(2, b, sizeof(b) - 1);
		w = write(2, op, strlen(op));
		w = write(2, c, sizeof(c) - 1);
	} else
		w = write(2, "\n", 1);
	(void)w;
	signal(sig, SIG_DFL);
	raise(sig);
}

void
cli_station_signals(rt_station *st)
{
	busy_station = st;
	interrupted = 0;
	signal(SIGINT, st != NULL ? on_signal : SIG_DFL);
	signal(SIGTERM, st != NULL ? on_signal : SIG_DFL);
	signal(SIGHUP, st != NULL ? on_signal : SIG_DFL);
}

void
cli_dialogs(cli_dialog_ctx *dc, rt_update_dialogs *d)
{
	memset(d, 0, sizeof(*d));
	d->ctx = dc;
	d->typed = dlg_typed;
	d->card_pin = dlg_card_pin;
	d->operator_credential = dlg_operator;
	d->operator_pin = dlg_operator_pin;
	d->progress = dlg_progress;
	d->signature_pin = dlg_signature;
	d->confirm = dlg_confirm;
	d->cancel = dlg_cancel;
}
