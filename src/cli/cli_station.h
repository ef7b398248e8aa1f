/* cli_station.h - the command line's side of the station (src/cli only):
 * the options every station command shares, the dialog table answered on
 * the terminal or from --pin-fd, and the signal handling of a submit. */
#ifndef RATERM_CLI_STATION_H
#define RATERM_CLI_STATION_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "cli_crypto.h"
#include "raterm/config.h"
#include "raterm/engine.h"
#include "raterm/station.h"

/* The options that reach the station, the same in every command. */
typedef struct {
	const char *config;			/* -c, --config */
	const char *server, *trust, *tls_ca;
	const char *officer_reader, *officer_token, *officer_cert;
	const char *officer_chain;
	const char *transport_ca, *attestation_root;
	uint8_t officer_slot;
	long timeout;
	int pin_fd;				/* -1: the terminal */
	bool yes, verbose, ignore_open;
} cli_station_opts;

/* getopt_long codes of the shared options (2001...) and their table
 * entries; 'c' and 'v' are the short forms of --config and --verbose. */
#define CLI_STATION_LONG_OPTS \
	{ "config", required_argument, NULL, 'c' }, \
	{ "server", required_argument, NULL, 2001 }, \
	{ "trust", required_argument, NULL, 2002 }, \
	{ "tls-ca", required_argument, NULL, 2003 }, \
	{ "officer-reader", required_argument, NULL, 2004 }, \
	{ "officer-slot", required_argument, NULL, 2005 }, \
	{ "officer-token", required_argument, NULL, 2006 }, \
	{ "officer-cert", required_argument, NULL, 2007 }, \
	{ "officer-chain", required_argument, NULL, 2008 }, \
	{ "timeout", required_argument, NULL, 2009 }, \
	{ "pin-fd", required_argument, NULL, 2010 }, \
	{ "transport-ca", required_argument, NULL, 2011 }, \
	{ "attestation-root", required_argument, NULL, 2012 }, \
	{ "verbose", no_argument, NULL, 'v' }

/* Takes option c if it is a shared one: 1 taken, 0 not one, -1 a bad
 * value (usage error printed). */
int cli_station_opt(const char *cmd, int c, const char *arg,
    cli_station_opts *o);
/* The usage error for options given together that exclude each other
 * (0 when fine, else 2 with the message printed). */
int cli_station_check(const char *cmd, const cli_station_opts *o);

/* Loads the configuration as every command does: -c FILE (must load),
 * else $RATERM_CONFIG or the default file; when that default does not
 * exist and `required` is false, the defaults (readers auto, officer
 * slot 9c) serve and the options give the rest. */
rt_err *cli_config_load(const cli_station_opts *o, bool required,
    rt_config **out) RT_MUST;

/* The station's options from the command's; reader: -r (NULL: the
 * configuration's). Readers open as cli_open_reader opens them; the
 * software token's warning goes to stderr, -v's CMP log too. */
void cli_station_fill(const cli_global *g, const cli_station_opts *o,
    const char *reader, rt_station_opts *so);
/* Opens the station of the command (cli_station_fill). */
rt_err *cli_station_open(const cli_global *g, const rt_config *cfg,
    const cli_station_opts *o, const char *reader, rt_station **out)
    RT_MUST;

/* The terminal (or --pin-fd) side of the station's dialog table. */
typedef struct {
	const char *cmd;		/* "update": prefix of progress lines */
	cli_secrets *sec;
	bool no_tty;			/* --pin-fd given */
	const char *job;		/* NULL: the command line */
} cli_dialog_ctx;

/* Fills every entry of d with the terminal dialogs over dc. */
void cli_dialogs(cli_dialog_ctx *dc, rt_update_dialogs *d);

/* Ctrl-C, SIGTERM, SIGHUP during a submit: the first Ctrl-C asks the
 * station to cancel between steps (the dialogs' cancel); a second one, or
 * SIGTERM/SIGHUP, ends raterm at once with a message naming the journal
 * operation left open (st's busy operation). st NULL: back to defaults. */
void cli_station_signals(rt_station *st);

#endif
