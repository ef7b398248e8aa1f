/* main.c - raterm command line: global options and command dispatch. */
#include "cli.h"
#include "raterm/util.h"
#include "raterm/vpiv_transport.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmd_ui.c: the officer's screen */
int cmd_ui(cli_global *g, int argc, char **argv);

static const char usage_text[] =
"usage: raterm [--trace FILE] [COMMAND [OPTIONS]]\n"
"\n"
"raterm updates the certificates on smart cards from a terminal.\n"
"\n"
"Commands:\n"
"  ui                 the officer's screen (full-screen, ncurses); also\n"
"                     'raterm' without a command on a terminal\n"
"  readers            list smart-card readers and whether a card is present\n"
"  show               print a card's header and its Contents (keys and\n"
"                     certificates)\n"
"  csr                make a PKCS#10 request for a card key, signed on the\n"
"                     card\n"
"  verify-tc          verify the card's transport certificates (chain,\n"
"                     possession, binding, attestation)\n"
"  pin                the target card's PIN and PUK: change, unblock,\n"
"                     retries\n"
"  request            enroll a CSR at the CM host (CMP), signed by the\n"
"                     officer's card or software token\n"
"  revoke             revoke a certificate at the CM host\n"
"  cacerts            fetch the CA certificates from the CM host\n"
"  update             plan and run an update of a card's certificates:\n"
"                     an action per key under a procedure\n"
"  recover            complete or roll back updates left incomplete in\n"
"                     the journal\n"
"  procedures         list the configured procedures and what they allow\n"
"  check-config       validate the station configuration and procedures\n"
"\n"
"Global options:\n"
"  --trace FILE       write every APDU to FILE (PINs and keys withheld)\n"
"  -h, --help         this help; 'raterm COMMAND --help' for a command\n"
"  -V, --version      print the version\n"
"\n"
"Exit status (the same for every command):\n"
"  0  success\n"
"  1  general error (memory, input/output, cryptography)\n"
"  2  usage or configuration error\n"
"  3  reader or card absent, card removed or in use, not the card that\n"
"     was read\n"
"  4  card protocol error (not PIV, unsupported, card full)\n"
"  5  wrong or blocked PIN, PUK or passphrase; authentication failed\n"
"  6  malformed data (card object, certificate, CMP message, file)\n"
"  7  verification failed (a transport certificate control, a CM host\n"
"     response's protection or trust)\n"
"  8  CM host refused the request or could not be reached\n"
"  9  refused by the update rules (procedure or card)\n"
"  10 cancelled by the officer (the confirmation declined)\n"
"PCSCLITE_CSOCK_NAME selects a pcscd socket other than the system one.\n"
"See raterm(1).\n";

int
cli_fail(rt_err *e)
{
	char buf[1024];
	rt_err_format(e, buf, sizeof(buf));
	fprintf(stderr, "raterm: %s\n", buf);
	int code = rt_err_exit_code(e);
	rt_err_free(e);
	return code ? code : 1;
}

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "raterm%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'raterm %s%s--help'.\n", cmd ? cmd : "",
	    cmd ? " " : "");
	return 2;
}

rt_err *
cli_open_reader(const cli_global *g, const char *spec, rt_transport **out)
{
	rt_err *e;
	if (spec != NULL && strncmp(spec, "vpiv:", 5) == 0)
		e = rt_vpiv_open_file(spec + 5, out);
	else
		e = rt_pcsc_open(spec, out);
	if (e == NULL)
		(*out)->trace = g->trace;
	return e;
}

void
json_hex(FILE *f, const unsigned char *b, size_t n)
{
	fputc('"', f);
	rt_hex_write(f, b, n, 0);
	fputc('"', f);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "trace", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	cli_global g = { 0 };
	int c, rc;

	rt_no_core_dumps();
	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("raterm %s\n", RATERM_VERSION);
			return 0;
		case 't':
			g.trace_path = optarg;
			break;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
			return cmd_ui(&g, 0, argv + optind);
		fputs(usage_text, stderr);
		fputs("raterm: the screen needs a terminal; without one give a "
		    "command\n", stderr);
		return 2;
	}
	if (g.trace_path != NULL) {
		g.trace = fopen(g.trace_path, "a");
		if (g.trace == NULL) {
			fprintf(stderr, "raterm: cannot open trace file %s\n",
			    g.trace_path);
			return 1;
		}
		setvbuf(g.trace, NULL, _IOLBF, 0);
	}
	const char *cmd = argv[optind];
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	optind = 0;	/* reset getopt for the command */
	if (strcmp(cmd, "ui") == 0)
		rc = cmd_ui(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "readers") == 0)
		rc = cmd_readers(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "show") == 0)
		rc = cmd_show(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "csr") == 0)
		rc = cmd_csr(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "verify-tc") == 0)
		rc = cmd_verify_tc(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "pin") == 0)
		rc = cmd_pin(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "request") == 0)
		rc = cmd_request(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "revoke") == 0)
		rc = cmd_revoke(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "cacerts") == 0)
		rc = cmd_cacerts(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "update") == 0)
		rc = cmd_update(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "recover") == 0)
		rc = cmd_recover(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "procedures") == 0)
		rc = cmd_procedures(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "check-config") == 0)
		rc = cmd_check_config(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		rc = 0;
	} else
		rc = cli_usage_error(NULL, "unknown command '%s'", cmd);
	if (g.trace != NULL)
		fclose(g.trace);
	return rc;
}
