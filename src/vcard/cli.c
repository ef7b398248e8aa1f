/*
 * cli.c - what the virtual cards' programs (vpiv, vp15) share: the main
 * that picks a command, and how an error ends a command.
 */
#include "raterm/vcard.h"

#include <string.h>

#include "raterm/util.h"

int
vcard_fail(const char *prog, rt_err *e)
{
	char buf[1024];
	rt_err_format(e, buf, sizeof(buf));
	fprintf(stderr, "%s: %s\n", prog, buf);
	int code = rt_err_exit_code(e);
	rt_err_free(e);
	return code ? code : 1;
}

bool
vcard_is_help(const char *s)
{
	return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

int
vcard_main(const char *prog, void (*usage)(FILE *f), bool version,
    const vcard_cmd *cmds, int argc, char **argv)
{
	rt_no_core_dumps();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (vcard_is_help(cmd)) {
		usage(stdout);
		return 0;
	}
	if (version && strcmp(cmd, "--version") == 0) {
		printf("%s %s\n", prog, RATERM_VERSION);
		return 0;
	}
	for (; cmds->name != NULL; cmds++)
		if (strcmp(cmd, cmds->name) == 0)
			return cmds->run(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
	usage(stderr);
	return 2;
}
