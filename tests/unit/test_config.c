/* Unit tests: the station configuration and procedures (config.h) - every
 * error names file, line and field: broken YAML, wrong types, unknown
 * keys, missing required fields, bad cross-references. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "raterm/cmhost.h"
#include "raterm/config.h"

static const char station_ok[] =
"readers:\n"
"  officer: auto\n"
"  target: {pattern: \"vpiv*01\"}\n"
"officer:\n"
"  token: card\n"
"  slot: 9c\n"
"  officer_cas: pki/officer-ca.pem\n"
"cmhost:\n"
"  url: https://cm.example/cmp\n"
"  trust: /etc/ssl/cm.pem\n"
"transport_cas: pki/tca.pem\n"
"journal: /var/lib/raterm/journal\n"
"audit: /var/log/raterm/audit.log\n"
"procedures: procs\n";

static const char proc_ok[] =
"name: tc-redo\n"
"description: TC card\n"
"actions: [redo, issue]\n"
"tc_controls: [chain, possession, binding, attestation]\n"
"attestation: required\n"
"profiles:\n"
"  9a: piv-auth\n"
"  9c: piv-sign\n"
"subject: tc\n"
"key_algorithms: [ECCP256, RSA2048]\n"
"qc_statements:\n"
"  fixed: [compliance, esign]\n"
"  officer_may_add: [sscd]\n"
"  retention_years: 10\n"
"card_pins: 2\n"
"ca_certificates:\n"
"  operator_credential: yes\n"
"  write_to_card: no\n";

static rt_config *
fresh(void)
{
	rt_config *c;
	assert_null(rt_config_new(&c));
	return c;
}

/* Asserts that c has a diagnostic at file:line for field whose message
 * contains `part`. */
static void
expect_diag(const rt_config *c, const char *file, unsigned line,
    const char *field, const char *part)
{
	char buf[1200];
	for (size_t i = 0; i < c->ndiags; i++) {
		const rt_cfg_diag *d = &c->diags[i];
		if (strcmp(d->file, file) == 0 && d->line == line &&
		    strcmp(d->field, field) == 0 && strstr(d->msg, part) != NULL)
			return;
	}
	fprintf(stderr, "wanted %s:%u: %s: ...%s...; have:\n", file, line, field,
	    part);
	for (size_t i = 0; i < c->ndiags; i++) {
		rt_cfg_diag_format(&c->diags[i], buf, sizeof(buf));
		fprintf(stderr, "  %s\n", buf);
	}
	fail();
}

static void
test_station_ok(void **state)
{
	rt_config *c = fresh();
	assert_int_equal(rt_config_parse_station(c, "/etc/raterm/raterm.yaml",
	    station_ok, strlen(station_ok)), 0);
	assert_int_equal(c->ndiags, 0);
	assert_int_equal(c->officer_reader.match, RT_READER_AUTO);
	assert_int_equal(c->target_reader.match, RT_READER_PATTERN);
	assert_true(rt_reader_sel_matches(&c->target_reader, "vpiv 00 01"));
	assert_false(rt_reader_sel_matches(&c->target_reader, "vpiv 00 00"));
	assert_int_equal(c->officer.kind, RT_OFFICER_CARD);
	assert_int_equal(c->officer.slot, 0x9c);
	assert_string_equal(c->cmhost_url, "https://cm.example/cmp");
	/* relative paths: against the file's directory */
	assert_string_equal(c->transport_cas, "/etc/raterm/pki/tca.pem");
	assert_string_equal(c->officer.officer_cas,
	    "/etc/raterm/pki/officer-ca.pem");
	assert_string_equal(c->cmhost_trust, "/etc/ssl/cm.pem");
	assert_string_equal(c->procedures_dir, "/etc/raterm/procs");
	rt_config_free(c);
}

static void
test_procedure_ok(void **state)
{
	rt_config *c = fresh();
	assert_int_equal(rt_config_parse_procedure(c, "p.yaml", proc_ok,
	    strlen(proc_ok)), 0);
	assert_int_equal(c->nprocs, 1);
	const rt_procedure *p = rt_config_procedure(c, "tc-redo");
	assert_non_null(p);
	assert_true(p->allowed[RT_ACT_REDO]);
	assert_true(p->allowed[RT_ACT_ISSUE]);
	assert_false(p->allowed[RT_ACT_ADD]);
	assert_true(p->allowed[RT_ACT_BLANK]);
	assert_int_equal(p->tc_controls, RT_TCC_ALL);
	assert_true(p->attestation_required);
	assert_string_equal(rt_procedure_profile(p, 0x9a), "piv-auth");
	assert_null(rt_procedure_profile(p, 0x9d));
	assert_int_equal(p->subject, RT_SRC_TC);
	assert_true(rt_procedure_alg_ok(p, "ECCP256"));
	assert_false(rt_procedure_alg_ok(p, "ECCP384"));
	assert_false(rt_procedure_alg_ok(p, ""));
	assert_true(p->qc_fixed.compliance);
	assert_int_equal(p->qc_fixed.types, RT_QC_TYPE_ESIGN);
	assert_int_equal(p->qc_fixed.retention_years, 10);
	assert_int_equal(p->qc_optional, RT_QCO_SSCD);
	assert_int_equal(p->card_pins, 2);
	assert_true(p->operator_credential);
	assert_false(p->write_ca_certs);
	assert_int_equal(p->line, 1);
	rt_config_free(c);
}

static void
test_yaml_syntax(void **state)
{
	static const char t[] = "name: x\ndescription: y\nactions: [redo\n";
	rt_config *c = fresh();
	assert_int_equal(rt_config_parse_procedure(c, "b.yaml", t, strlen(t)), 1);
	expect_diag(c, "b.yaml", 4, "", "YAML syntax error");
	assert_int_equal(c->nprocs, 0);
	rt_config_free(c);

	static const char t2[] = "readers:\n  officer: auto\n   target: x\n";
	c = fresh();
	assert_true(rt_config_parse_station(c, "s.yaml", t2, strlen(t2)) >= 1);
	expect_diag(c, "s.yaml", 3, "", "YAML syntax error");
	rt_config_free(c);

	c = fresh();
	assert_int_equal(rt_config_parse_procedure(c, "e.yaml", "", 0), 1);
	expect_diag(c, "e.yaml", 0, "", "empty");
	rt_config_free(c);

	static const char two[] = "name: a\n---\nname: b\n";
	c = fresh();
	assert_true(rt_config_parse_procedure(c, "2.yaml", two, strlen(two)) >= 1);
	expect_diag(c, "2.yaml", 3, "", "second YAML document");
	rt_config_free(c);

	static const char list[] = "- a\n- b\n";
	c = fresh();
	assert_int_equal(rt_config_parse_station(c, "l.yaml", list,
	    strlen(list)), 1);
	expect_diag(c, "l.yaml", 1, "(document)", "expected a mapping");
	rt_config_free(c);
}

static void
test_wrong_types(void **state)
{
	static const char t[] =
	"readers:\n"
	"  officer: [a]\n"
	"  target: {name: [x]}\n"
	"officer:\n"
	"  token: hardware\n"
	"  slot: 9b\n"
	"cmhost: http://x\n"
	"transport_cas: {a: b}\n"
	"journal: \"\"\n"
	"audit: a.log\n";
	rt_config *c = fresh();
	assert_true(rt_config_parse_station(c, "w.yaml", t, strlen(t)) >= 6);
	expect_diag(c, "w.yaml", 2, "readers.officer", "expected auto, {name");
	expect_diag(c, "w.yaml", 3, "readers.target.name", "expected a text value, got a list");
	expect_diag(c, "w.yaml", 5, "officer.token", "expected card or software, got 'hardware'");
	expect_diag(c, "w.yaml", 6, "officer.slot", "expected a PIV key slot");
	expect_diag(c, "w.yaml", 7, "cmhost", "expected a mapping of keys, got a scalar");
	expect_diag(c, "w.yaml", 8, "transport_cas", "expected a text value, got a mapping");
	rt_config_free(c);

	static const char p[] =
	"name: x\n"
	"description: d\n"
	"actions: [redo]\n"
	"profiles: [9a]\n"
	"card_pins: two\n"
	"ca_certificates:\n"
	"  write_to_card: 1\n"
	"tc_controls: [chain, possession, telepathy]\n"
	"key_algorithms: RSA512\n"
	"subject: database\n";
	c = fresh();
	assert_true(rt_config_parse_procedure(c, "p.yaml", p, strlen(p)) >= 6);
	expect_diag(c, "p.yaml", 4, "profiles", "expected a mapping of key slot");
	expect_diag(c, "p.yaml", 5, "card_pins", "expected a whole number from 1 to 2, got 'two'");
	expect_diag(c, "p.yaml", 7, "ca_certificates.write_to_card", "expected yes or no");
	expect_diag(c, "p.yaml", 8, "tc_controls", "expected chain, possession, binding or attestation, got 'telepathy'");
	expect_diag(c, "p.yaml", 9, "key_algorithms", "got 'RSA512'");
	expect_diag(c, "p.yaml", 10, "subject", "expected tc, card or officer");
	assert_int_equal(c->nprocs, 0);
	rt_config_free(c);
}

static void
test_unknown_keys(void **state)
{
	static const char t[] =
	"readers:\n"
	"  officer: auto\n"
	"  printer: auto\n"
	"cmhost:\n"
	"  url: http://x/cmp\n"
	"  timeout: 3\n"
	"transport_cas: t.pem\n"
	"journal: j\n"
	"audit: a\n"
	"colour: blue\n";
	rt_config *c = fresh();
	assert_int_equal(rt_config_parse_station(c, "u.yaml", t, strlen(t)), 3);
	expect_diag(c, "u.yaml", 3, "readers.printer", "unknown key (expected one of: officer, target)");
	expect_diag(c, "u.yaml", 6, "cmhost.timeout", "unknown key (expected one of: url, trust)");
	expect_diag(c, "u.yaml", 10, "colour", "unknown key");
	rt_config_free(c);

	static const char p[] =
	"name: x\ndescription: d\nactions: [redo]\nprofiles: {9a: p}\n"
	"qc_statements:\n  fixed: [sscd]\n  extra: 1\n"
	"name: y\n";
	c = fresh();
	assert_int_equal(rt_config_parse_procedure(c, "p.yaml", p, strlen(p)), 2);
	expect_diag(c, "p.yaml", 7, "qc_statements.extra", "unknown key");
	expect_diag(c, "p.yaml", 8, "name", "given twice");
	rt_config_free(c);
}

static void
test_missing_required(void **state)
{
	static const char t[] = "readers:\n  officer: auto\n";
	rt_config *c = fresh();
	assert_int_equal(rt_config_parse_station(c, "m.yaml", t, strlen(t)), 4);
	expect_diag(c, "m.yaml", 1, "cmhost", "missing");
	expect_diag(c, "m.yaml", 1, "transport_cas", "missing");
	expect_diag(c, "m.yaml", 1, "journal", "missing");
	expect_diag(c, "m.yaml", 1, "audit", "missing");
	rt_config_free(c);

	static const char s2[] =
	"officer:\n  token: software\ncmhost:\n  trust: x\n"
	"transport_cas: t\njournal: j\naudit: a\n";
	c = fresh();
	assert_int_equal(rt_config_parse_station(c, "s.yaml", s2, strlen(s2)), 2);
	expect_diag(c, "s.yaml", 2, "officer.key_file", "missing (token: software");
	expect_diag(c, "s.yaml", 4, "cmhost.url", "missing");
	rt_config_free(c);

	static const char p[] = "description: d\nsubject: tc\n";
	c = fresh();
	assert_true(rt_config_parse_procedure(c, "p.yaml", p, strlen(p)) >= 4);
	expect_diag(c, "p.yaml", 1, "name", "missing");
	expect_diag(c, "p.yaml", 1, "actions", "missing");
	expect_diag(c, "p.yaml", 1, "profiles", "missing");
	expect_diag(c, "p.yaml", 1, "subject", "needs tc_controls");
	rt_config_free(c);
}

static void
test_cross_checks(void **state)
{
	static const char p[] =
	"name: x\ndescription: d\nactions: [blank]\nprofiles: {9a: p, 9A: q}\n"
	"tc_controls: [binding]\nattestation: required\nsan: officer\n";
	rt_config *c = fresh();
	assert_true(rt_config_parse_procedure(c, "x.yaml", p, strlen(p)) >= 4);
	expect_diag(c, "x.yaml", 1, "actions", "at least one of issue, redo, add");
	expect_diag(c, "x.yaml", 4, "profiles.9A", "slot given twice");
	expect_diag(c, "x.yaml", 5, "tc_controls", "chain and possession are required");
	expect_diag(c, "x.yaml", 6, "attestation", "only meaningful");
	expect_diag(c, "x.yaml", 1, "san_types", "san: officer needs");
	rt_config_free(c);

	/* the same name twice: the second names the first */
	static const char a[] = "name: dup\ndescription: d\nactions: redo\n"
	    "profiles: {9a: p}\n";
	c = fresh();
	assert_int_equal(rt_config_parse_procedure(c, "a.yaml", a, strlen(a)), 0);
	assert_int_equal(rt_config_parse_procedure(c, "b.yaml", a, strlen(a)), 1);
	expect_diag(c, "b.yaml", 1, "name", "already defined in a.yaml:1");
	assert_int_equal(c->nprocs, 1);
	rt_config_free(c);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_load_files(void **state)
{
	char dir[] = "/tmp/rt-config-XXXXXX", path[256], pdir[256];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/raterm.yaml", dir);
	snprintf(pdir, sizeof(pdir), "%s/procs", dir);
	assert_int_equal(mkdir(pdir, 0700), 0);
	write_file(path, station_ok);
	char pp[300];
	snprintf(pp, sizeof(pp), "%s/a.yaml", pdir);
	write_file(pp, proc_ok);
	snprintf(pp, sizeof(pp), "%s/ignored.txt", pdir);
	write_file(pp, "not: yaml: at all: [");
	rt_config *c = NULL;
	assert_null(rt_config_load(path, &c));
	assert_int_equal(c->nprocs, 1);
	rt_config_check_files(c, false);
	assert_int_equal(c->nerrors, 0);
	assert_true(c->ndiags >= 2);	/* the CA files do not exist */
	expect_diag(c, path, 11, "transport_cas", "No such file");
	rt_config_free(c);
	c = NULL;

	snprintf(pp, sizeof(pp), "%s/b.yml", pdir);
	write_file(pp, "name: b\ndescription: d\nactions: [redo]\nprofiles: {9a: x}\nfoo: 1\n");
	rt_err *e = rt_config_load(path, &c);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_CONFIG);
	assert_non_null(strstr(rt_err_msg(e), "b.yml:5: foo: unknown key"));
	rt_err_free(e);
	rt_config_free(c);
	c = NULL;

	snprintf(pp, sizeof(pp), "%s/nothere.yaml", dir);
	e = rt_config_load(pp, &c);
	assert_non_null(e);
	assert_non_null(c);
	expect_diag(c, pp, 0, "", "cannot read");
	rt_err_free(e);
	rt_config_free(c);

	/* path from the environment (never secrets) */
	setenv(RT_CONFIG_ENV, path, 1);
	assert_string_equal(rt_config_path(NULL), path);
	assert_string_equal(rt_config_path("x.yaml"), "x.yaml");
	unsetenv(RT_CONFIG_ENV);
	assert_string_equal(rt_config_path(NULL), RT_CONFIG_DEFAULT);

	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void
test_shipped_conf(void **state)
{
	/* the repository's conf/ (make check runs from the top directory) */
	rt_config *c = NULL;
	rt_err *e = rt_config_load("conf/raterm.yaml", &c);
	if (e != NULL) {
		char b[1200];
		rt_err_format(e, b, sizeof(b));
		fprintf(stderr, "%s\n", b);
	}
	assert_null(e);
	const rt_procedure *p = rt_config_procedure(c, "tc-redo");
	assert_non_null(p);
	assert_int_equal(p->tc_controls, RT_TCC_ALL);
	assert_true(p->allowed[RT_ACT_REDO] && p->allowed[RT_ACT_ISSUE]);
	assert_false(p->allowed[RT_ACT_ADD]);
	p = rt_config_procedure(c, "renew");
	assert_non_null(p);
	assert_int_equal(p->tc_controls, 0);
	assert_true(p->allowed[RT_ACT_ADD]);
	rt_config_free(c);
}

static void
test_actions(void **state)
{
	rt_action a;
	assert_true(rt_action_parse("Redo", &a));
	assert_int_equal(a, RT_ACT_REDO);
	assert_false(rt_action_parse("delete", &a));
	assert_string_equal(rt_action_name(RT_ACT_ADD), "add");
	assert_string_equal(rt_action_title(RT_ACT_BLANK), "Blank");
}

/* Nesting deeper than RT_YAML_MAX_DEPTH: one error naming the line, found
 * without composing the document (libyaml takes quadratic time: 100,000
 * levels cost 37 s before the cap); the same in cmhost's configuration. */
static void
test_yaml_depth(void **state)
{
	(void)state;
	size_t n = 100000, len;
	char *deep = malloc(6 + 2 * n);
	assert_non_null(deep);
	memcpy(deep, "\n\na: ", 5);
	memset(deep + 5, '[', n);
	memset(deep + 5 + n, ']', n);
	len = 5 + 2 * n;
	deep[len] = '\0';
	assert_int_equal(rt_yaml_too_deep(deep, len), 3);
	rt_config *c;
	assert_null(rt_config_new(&c));
	assert_true(rt_config_parse_station(c, "deep.yaml", deep, len) >= 1);
	assert_int_equal(c->ndiags, 1);
	assert_int_equal(c->diags[0].line, 3);
	assert_non_null(strstr(c->diags[0].msg, "nested deeper than 64"));
	rt_config_free(c);
	cmh_config *hc = NULL;
	rt_err *e = cmh_config_parse("cmhost.yaml", deep, len, &hc);
	assert_non_null(e);
	assert_non_null(strstr(rt_err_msg(e), "cmhost.yaml:3: nested deeper"));
	rt_err_free(e);
	/* 64 levels are fine as far as nesting goes */
	char ok[200];
	int k = snprintf(ok, sizeof(ok), "a: ");
	for (int i = 0; i < 63; i++)
		ok[k++] = '[';
	for (int i = 0; i < 63; i++)
		ok[k++] = ']';
	assert_int_equal(rt_yaml_too_deep(ok, (size_t)k), 0);
	free(deep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_station_ok),
		cmocka_unit_test(test_procedure_ok),
		cmocka_unit_test(test_yaml_syntax),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_cross_checks),
		cmocka_unit_test(test_load_files),
		cmocka_unit_test(test_shipped_conf),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_yaml_depth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
