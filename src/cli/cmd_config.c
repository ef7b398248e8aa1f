/* cmd_config.c - `raterm check-config` and `raterm procedures`. */
#include "cli.h"
#include "raterm/text.h"
#include "raterm/config.h"
#include "raterm/job.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

/* ---- check-config ----------------------------------------------------------- */

static const char check_help[] =
"usage: raterm check-config [-c FILE] [--strict] [--job JOB.yaml ...]\n"
"\n"
"Validates the station configuration and every procedure of its\n"
"procedures directory, and the update job files named by --job (as\n"
"raterm update --batch reads them, against these procedures). Prints one\n"
"line per problem (FILE:LINE: FIELD: MESSAGE) and exits 2 when there is\n"
"an error; 0 when all is valid. Referenced files that do not exist (CA\n"
"certificates, trust anchors, token files) are warnings, errors with\n"
"--strict.\n"
"\n"
"  -c, --config FILE   the station configuration (default: $RATERM_CONFIG,\n"
"                      else " RT_CONFIG_DEFAULT ")\n"
"  --strict            missing referenced files are errors\n"
"  --job FILE          also check this update job file (repeatable)\n";

int
cmd_check_config(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "config", required_argument, NULL, 'c' },
		{ "strict", no_argument, NULL, 's' },
		{ "job", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL, *jobs[16];
	size_t njobs = 0;
	bool strict = false;
	int c;
	(void)g;
	while ((c = getopt_long(argc, argv, "hc:", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(check_help, stdout); return 0;
		case 'c': cfg_path = optarg; break;
		case 's': strict = true; break;
		case 'j':
			if (njobs == sizeof(jobs) / sizeof(jobs[0]))
				return cli_usage_error("check-config", "at most %zu "
				    "--job files", njobs);
			jobs[njobs++] = optarg;
			break;
		default: return cli_usage_error("check-config", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error("check-config", "unexpected argument '%s'",
		    argv[optind]);
	const char *path = rt_config_path(cfg_path);
	rt_config *cfg = NULL;
	rt_err *e = rt_config_load(path, &cfg);
	if (cfg == NULL)
		return cli_fail(e);
	rt_err_free(e);
	rt_config_check_files(cfg, strict);
	char line[1200];
	for (size_t i = 0; i < cfg->ndiags; i++) {
		rt_cfg_diag_format(&cfg->diags[i], line, sizeof(line));
		printf("%s\n", line);
	}
	int rc = cfg->nerrors ? 2 : 0;
	if (rc == 0)
		printf("%s: valid; %zu procedure%s (%s)\n", path, cfg->nprocs,
		    cfg->nprocs == 1 ? "" : "s", cfg->procedures_dir);
	else
		fprintf(stderr, "raterm check-config: %zu error%s in %s and its "
		    "procedures\n", cfg->nerrors, cfg->nerrors == 1 ? "" : "s",
		    path);
	for (size_t k = 0; k < njobs; k++) {
		rt_job *job = NULL;
		e = rt_job_load(jobs[k], cfg, &job);
		if (job == NULL) {
			rt_config_free(cfg);
			return cli_fail(e);
		}
		rt_err_free(e);
		for (size_t i = 0; i < job->ndiags; i++) {
			rt_cfg_diag_format(&job->diags[i], line, sizeof(line));
			printf("%s\n", line);
		}
		if (job->nerrors == 0)
			printf("%s: valid; %zu card%s\n", jobs[k], job->ncards,
			    job->ncards == 1 ? "" : "s");
		else {
			fprintf(stderr, "raterm check-config: %zu error%s in %s\n",
			    job->nerrors, job->nerrors == 1 ? "" : "s", jobs[k]);
			rc = 2;
		}
		rt_job_free(job);
	}
	rt_config_free(cfg);
	return rc;
}

/* ---- procedures ---------------------------------------------------------------- */

static const char procs_help[] =
"usage: raterm procedures [-c FILE] [--json]\n"
"\n"
"Lists the configured procedures: the actions each allows, its TC controls,\n"
"the CM host certificate profile per key slot and what the card needs.\n"
"\n"
"  -c, --config FILE   the station configuration\n"
"  --json              machine-readable output\n";

static void
tcc_str(unsigned tcc, char *out, size_t cap)
{
	static const char *const n[] = { "chain", "possession", "binding",
	    "attestation" };
	size_t o = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < 4; i++)
		if (tcc & (1u << i))
			o += (size_t)snprintf(out + o, cap > o ? cap - o : 0,
			    "%s%s", o ? "," : "", n[i]);
	if (o == 0)
		snprintf(out, cap, "none");
}

static void
actions_str(const rt_procedure *p, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (unsigned a = RT_ACT_ISSUE; a < RT_ACT__COUNT; a++)
		if (p->allowed[a])
			o += (size_t)snprintf(out + o, cap > o ? cap - o : 0,
			    "%s%s", o ? "," : "", rt_action_name((rt_action)a));
}

static void
print_procs_json(const rt_config *cfg)
{
	char slot[4], buf[128];
	printf("[");
	for (size_t i = 0; i < cfg->nprocs; i++) {
		const rt_procedure *p = &cfg->procs[i];
		printf("%s\n  {\"name\": ", i ? "," : "");
		rt_json_str(stdout, p->name);
		printf(", \"description\": ");
		rt_json_str(stdout, p->description);
		printf(", \"file\": ");
		rt_json_str(stdout, p->file);
		printf(", \"actions\": [");
		int k = 0;
		for (unsigned a = RT_ACT_ISSUE; a < RT_ACT__COUNT; a++)
			if (p->allowed[a])
				printf("%s\"%s\"", k++ ? ", " : "",
				    rt_action_name((rt_action)a));
		printf("], \"tc_controls\": [");
		static const char *const n[] = { "chain", "possession",
		    "binding", "attestation" };
		k = 0;
		for (unsigned b = 0; b < 4; b++)
			if (p->tc_controls & (1u << b))
				printf("%s\"%s\"", k++ ? ", " : "", n[b]);
		printf("], \"attestation_required\": %s, \"profiles\": {",
		    p->attestation_required ? "true" : "false");
		for (size_t j = 0; j < p->nprofiles; j++) {
			printf("%s\"%s\": ", j ? ", " : "",
			    piv_slot_name(p->profiles[j].slot, slot, sizeof(slot)));
			rt_json_str(stdout, p->profiles[j].profile);
		}
		printf("}, \"subject\": \"%s\", \"san\": \"%s\", "
		    "\"key_algorithms\": [", rt_source_name(p->subject),
		    rt_source_name(p->san));
		for (size_t j = 0; j < p->nalgorithms; j++)
			printf("%s\"%s\"", j ? ", " : "",
			    piv_alg_name(p->algorithms[j]));
		printf("], \"qc_fixed\": ");
		if (p->has_qc_fixed) {
			rt_qc_describe(&p->qc_fixed, buf, sizeof(buf));
			rt_json_str(stdout, buf);
		} else
			printf("null");
		printf(", \"card_pins\": %u, \"operator_credential\": %s, "
		    "\"write_ca_certs\": %s}", p->card_pins,
		    p->operator_credential ? "true" : "false",
		    p->write_ca_certs ? "true" : "false");
	}
	printf("%s]\n", cfg->nprocs ? "\n" : "");
}

/* A line of the procedures table under the ACTIONS column. */
static void
indent17(void *ctx, const char *line)
{
	(void)ctx;
	printf("%17s%s\n", "", line);
}

int
cmd_procedures(cli_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL;
	bool json = false;
	int c;
	(void)g;
	while ((c = getopt_long(argc, argv, "hc:j", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(procs_help, stdout); return 0;
		case 'c': cfg_path = optarg; break;
		case 'j': json = true; break;
		default: return cli_usage_error("procedures", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error("procedures", "unexpected argument '%s'",
		    argv[optind]);
	rt_config *cfg = NULL;
	rt_err *e = rt_config_load(rt_config_path(cfg_path), &cfg);
	if (e != NULL) {
		rt_config_free(cfg);
		return cli_fail(e);
	}
	if (json) {
		print_procs_json(cfg);
		rt_config_free(cfg);
		return 0;
	}
	char acts[64], tcc[64], slot[4];
	/* 80 columns: the row, then the profiles and the description
	 * wrapped under the ACTIONS column */
	printf("%-16s %-15s %s\n", "PROCEDURE", "ACTIONS", "TC CONTROLS");
	for (size_t i = 0; i < cfg->nprocs; i++) {
		const rt_procedure *p = &cfg->procs[i];
		char profs[600];
		size_t po = 0;
		actions_str(p, acts, sizeof(acts));
		tcc_str(p->tc_controls, tcc, sizeof(tcc));
		printf("%-16s %-15s %s\n", p->name, acts, tcc);
		profs[0] = '\0';
		for (size_t j = 0; j < p->nprofiles && po < sizeof(profs); j++)
			po += (size_t)snprintf(profs + po, sizeof(profs) - po,
			    "%s%s=%s", j ? " " : "profiles: ",
			    piv_slot_name(p->profiles[j].slot, slot, sizeof(slot)),
			    p->profiles[j].profile);
		if (profs[0])
			(void)rt_text_wrap(profs, 80 - 17, 0, indent17, NULL);
		(void)rt_text_wrap(p->description, 80 - 17, 0, indent17, NULL);
	}
	rt_config_free(cfg);
	return 0;
}
