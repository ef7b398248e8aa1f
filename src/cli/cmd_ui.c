/* cmd_ui.c - `raterm ui` (and `raterm` alone on a terminal): the officer's
 * screen (src/ui) on the station of the configuration. */
#include "cli.h"
#include "cli_station.h"
#include "raterm/config.h"
#include "raterm/station.h"
#include "raterm/ui.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char ui_help[] =
"usage: raterm [ui] [-c FILE] [-r READER] [--officer-reader R |\n"
"                   --officer-token FILE [--officer-cert FILE]]\n"
"                   [--server URL] [--trust FILE] [--tls-ca FILE]\n"
"                   [--transport-ca FILE] [--pin-echo star|none]\n"
"                   [--ascii] [--no-mouse]\n"
"\n"
"Opens the officer's screen on the terminal: the Contents of the card in\n"
"the target reader with an action per key, the procedure, the Signature\n"
"PIN, Reload and Submit (docs/ui.md; F1 in the screen is its help).\n"
"'raterm' without a command does the same on a terminal.\n"
"\n"
"  -c, --config FILE       the station configuration\n"
"  -r, --reader READER     the target card's reader (default readers.target)\n"
"  --officer-reader R      the officer's card (default readers.officer)\n"
"  --officer-slot SLOT     its signing key (default officer.slot, 9c)\n"
"  --officer-token FILE    a software officer token (not recommended);\n"
"                          --officer-cert FILE its certificate\n"
"  --server URL            overrides cmhost.url\n"
"  --trust FILE            overrides cmhost.trust\n"
"  --tls-ca FILE           HTTPS: trust only this CA bundle for TLS\n"
"  --timeout SECONDS       per HTTP exchange (default 60)\n"
"  --officer-chain FILE    CA certificates sent with the officer's certificate\n"
"  --transport-ca FILE     overrides transport_cas\n"
"  --attestation-root FILE overrides attestation_roots\n"
"  --pin-echo star|none    PIN fields show one '*' per character or\n"
"                          nothing (default: ui.pin_echo, else star)\n"
"  --ascii                 ASCII line drawing (default in a non-UTF-8 locale,\n"
"                          or with ui.ascii: true)\n"
"  --no-mouse              leave the mouse to the terminal\n"
"\n"
"The screen needs a terminal of at least 80x24. NO_COLOR=1 turns colour\n"
"off.\n";

int
cmd_ui(cli_global *g, int argc, char **argv)
{
	enum { O_PINECHO = 256, O_ASCII, O_NOMOUSE };
	static const struct option opts[] = {
		CLI_STATION_LONG_OPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "reader", required_argument, NULL, 'r' },
		{ "pin-echo", required_argument, NULL, O_PINECHO },
		{ "ascii", no_argument, NULL, O_ASCII },
		{ "no-mouse", no_argument, NULL, O_NOMOUSE },
		{ NULL, 0, NULL, 0 },
	};
	cli_station_opts co = { .pin_fd = -1 };
	rt_ui_opts uo = { .pin_stars = true };
	const char *reader = NULL;
	bool echo_given = false;
	int c, r;
	while (argc > 0 &&
	    (c = getopt_long(argc, argv, "hc:r:", opts, NULL)) != -1) {
		if ((r = cli_station_opt("ui", c, optarg, &co)) < 0)
			return 2;
		if (r == 1)
			continue;
		switch (c) {
		case 'h':
			fputs(ui_help, stdout);
			return 0;
		case 'r': reader = optarg; break;
		case O_PINECHO:
			echo_given = true;
			if (strcmp(optarg, "star") == 0)
				uo.pin_stars = true;
			else if (strcmp(optarg, "none") == 0)
				uo.pin_stars = false;
			else
				return cli_usage_error("ui", "--pin-echo: star or "
				    "none, not '%s'", optarg);
			break;
		case O_ASCII: uo.ascii = true; break;
		case O_NOMOUSE: uo.no_mouse = true; break;
		default:
			fputs(ui_help, stderr);
			return 2;
		}
	}
	/* the screen asks its PINs itself and owns the terminal */
	if (co.pin_fd >= 0 || co.verbose)
		return cli_usage_error("ui", "%s is not for the screen",
		    co.pin_fd >= 0 ? "--pin-fd" : "-v/--verbose");
	if ((r = cli_station_check("ui", &co)) != 0)
		return r;
	if (argc > 0 && optind < argc)
		return cli_usage_error("ui", "unexpected argument '%s'",
		    argv[optind]);
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fputs(ui_help, stderr);
		fprintf(stderr, "raterm: the screen needs a terminal (stdin and "
		    "stdout); without one use the commands ('raterm --help')\n");
		return 2;
	}
	rt_config *cfg = NULL;
	const char *path = rt_config_path(co.config);
	rt_err *e = rt_config_load(path, &cfg);
	if (e != NULL) {
		for (size_t i = 0; cfg != NULL && i < cfg->ndiags; i++) {
			char line[1200];
			rt_cfg_diag_format(&cfg->diags[i], line, sizeof(line));
			fprintf(stderr, "%s\n", line);
		}
		rt_config_free(cfg);
		return cli_fail(e);
	}
	/* the configuration's ui: defaults, where no option says */
	if (!echo_given)
		uo.pin_stars = !cfg->ui_pin_none;
	if (cfg->ui_ascii)
		uo.ascii = true;
	rt_station_opts so;
	cli_station_fill(g, &co, reader, &so);
	so.warn = NULL;		/* the header shows the software token's warning */
	int rc = rt_ui_run(cfg, &so, &uo);
	rt_config_free(cfg);
	return rc;
}
