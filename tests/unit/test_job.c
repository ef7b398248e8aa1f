/* Unit tests: update job files (job.h) - the single-card and the cards:
 * forms, defaults from the top level, overrides; every error names file,
 * line and field: broken YAML, wrong types, unknown keys, missing fields,
 * PIN keys refused, unknown procedures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "raterm/config.h"
#include "raterm/job.h"

static rt_job *
parse(const char *name, const char *text)
{
	rt_job *j;
	assert_null(rt_job_new(&j));
	(void)rt_job_parse(j, name, text, strlen(text));
	return j;
}

static void
dump(const rt_job *j)
{
	char buf[1200];
	for (size_t i = 0; i < j->ndiags; i++) {
		rt_cfg_diag_format(&j->diags[i], buf, sizeof(buf));
		fprintf(stderr, "  %s\n", buf);
	}
}

/* Asserts a diagnostic at file:line for field whose message has `part`. */
static void
expect_diag(const rt_job *j, const char *file, unsigned line,
    const char *field, const char *part)
{
	for (size_t i = 0; i < j->ndiags; i++) {
		const rt_cfg_diag *d = &j->diags[i];
		if (strcmp(d->file, file) == 0 && d->line == line &&
		    strcmp(d->field, field) == 0 && strstr(d->msg, part) != NULL)
			return;
	}
	fprintf(stderr, "wanted %s:%u: %s: ...%s...; have:\n", file, line, field,
	    part);
	dump(j);
	fail();
}

static void
expect_ok(const rt_job *j)
{
	if (j->nerrors != 0) {
		dump(j);
		fail();
	}
}

static void
test_single_card(void **state)
{
	(void)state;
	rt_job *j = parse("/jobs/one.yaml",
	    "# one card\n"
	    "reader: \"Virtual PCD 00 01\"\n"
	    "procedure: tc-redo\n"
	    "actions:\n"
	    "  9a: redo\n"
	    "  9C: Issue\n"
	    "  82: blank\n"
	    "officer:\n"
	    "  reader: \"Virtual PCD 00 00\"\n"
	    "  slot: 9c\n"
	    "server: https://cm.example/cmp\n"
	    "trust: pki/root.pem\n"
	    "transport_ca: /etc/raterm/tc.pem\n"
	    "timeout: 30\n");
	expect_ok(j);
	assert_int_equal(j->ncards, 1);
	assert_false(j->listed);
	assert_false(j->keep_going);
	const rt_job_card *c = &j->cards[0];
	assert_string_equal(c->reader, "Virtual PCD 00 01");
	assert_int_equal(c->reader_line, 2);
	assert_string_equal(c->procedure, "tc-redo");
	assert_int_equal(c->procedure_line, 3);
	assert_int_equal(c->nactions, 3);
	assert_int_equal(c->actions[0].slot, 0x9a);
	assert_int_equal(c->actions[0].action, RT_ACT_REDO);
	assert_int_equal(c->actions[0].line, 5);
	assert_int_equal(c->actions[1].slot, 0x9c);
	assert_int_equal(c->actions[1].action, RT_ACT_ISSUE);
	assert_int_equal(c->actions[2].slot, 0x82);
	assert_int_equal(c->actions[2].action, RT_ACT_BLANK);
	assert_string_equal(j->officer_reader.value, "Virtual PCD 00 00");
	assert_int_equal(j->officer_reader.line, 9);
	assert_int_equal(j->officer_slot, 0x9c);
	assert_string_equal(j->server.value, "https://cm.example/cmp");
	/* relative paths: against the job file's directory */
	assert_string_equal(j->trust.value, "/jobs/pki/root.pem");
	assert_int_equal(j->trust.line, 12);
	assert_string_equal(j->transport_ca.value, "/etc/raterm/tc.pem");
	assert_int_equal(j->timeout, 30);
	assert_int_equal(j->officer_token.line, 0);
	assert_int_equal(j->tls_ca.line, 0);
	rt_job_free(j);

	/* the reader is optional (the station's readers.target) */
	j = parse("j.yaml", "procedure: renew\nactions: {9a: redo}\n");
	expect_ok(j);
	assert_int_equal(j->ncards, 1);
	assert_string_equal(j->cards[0].reader, "");
	rt_job_free(j);
}

/* subject, san and qc per key slot: at the top for one card or every
 * card of a list that gives none, per card replacing the top's; errors
 * name file:line and the field. */
static void
test_typed_values(void **state)
{
	(void)state;
	rt_job *j = parse("q.yaml",
	    "procedure: qualified-sign\n"			/* 1 */
	    "actions: {9c: redo, 9a: redo}\n"		/* 2 */
	    "subject: {9a: \"CN=Jane Doe,O=Example\"}\n"	/* 3 */
	    "san:\n"					/* 4 */
	    "  9c: [\"email:jane@example.org\", \"upn:jd@corp\"]\n"	/* 5 */
	    "  9a: dns:host.example.org\n"		/* 6 */
	    "qc: [esign]\n");				/* 7 */
	expect_ok(j);
	const rt_job_card *c = &j->cards[0];
	assert_int_equal(c->nreqs, 5);
	assert_int_equal(c->reqs[0].kind, 's');
	assert_int_equal(c->reqs[0].slot, 0x9a);
	assert_string_equal(c->reqs[0].value, "CN=Jane Doe,O=Example");
	assert_int_equal(c->reqs[0].line, 3);
	assert_int_equal(c->reqs[1].kind, 'a');
	assert_int_equal(c->reqs[1].slot, 0x9c);
	assert_string_equal(c->reqs[1].value, "email:jane@example.org");
	assert_string_equal(c->reqs[2].value, "upn:jd@corp");
	assert_int_equal(c->reqs[3].slot, 0x9a);
	assert_string_equal(c->reqs[3].value, "dns:host.example.org");
	assert_int_equal(c->reqs[3].line, 6);
	assert_int_equal(c->reqs[4].kind, 'q');
	assert_int_equal(c->reqs[4].slot, 0);
	assert_string_equal(c->reqs[4].value, "esign");
	rt_job_free(j);

	j = parse("l.yaml",
	    "procedure: qualified-sign\n"
	    "actions: {9c: redo}\n"
	    "san: {9c: [\"email:all@example.org\"]}\n"
	    "cards:\n"
	    "  - reader: A\n"
	    "  - reader: B\n"
	    "    san: {9c: email:b@example.org}\n"
	    "    qc: {9c: [sscd]}\n");
	expect_ok(j);
	assert_int_equal(j->ncards, 2);
	assert_int_equal(j->cards[0].nreqs, 1);
	assert_string_equal(j->cards[0].reqs[0].value, "email:all@example.org");
	assert_int_equal(j->cards[1].nreqs, 2);
	assert_string_equal(j->cards[1].reqs[0].value, "email:b@example.org");
	assert_int_equal(j->cards[1].reqs[1].kind, 'q');
	assert_int_equal(j->cards[1].reqs[1].slot, 0x9c);
	rt_job_free(j);

	j = parse("bad.yaml",
	    "procedure: qualified-sign\n"		/* 1 */
	    "actions: {9c: redo}\n"			/* 2 */
	    "subject: \"CN=x\"\n"			/* 3 */
	    "san:\n"				/* 4 */
	    "  9c: [\"jane@example.org\"]\n"	/* 5 */
	    "  9z: email:a@b\n"			/* 6 */
	    "qc: {9c: ~}\n");			/* 7 */
	expect_diag(j, "bad.yaml", 3, "subject", "expected a mapping of key "
	    "slot to a DN");
	expect_diag(j, "bad.yaml", 5, "san.9c[1]", "expected TYPE:VALUE");
	expect_diag(j, "bad.yaml", 6, "san.9z", "expected a PIV key slot");
	expect_diag(j, "bad.yaml", 7, "qc.9c", "expected a QC statement");
	assert_int_equal(j->nerrors, 4);
	assert_int_equal(j->ncards, 0);
	rt_job_free(j);
}

static void
test_cards_list(void **state)
{
	(void)state;
	rt_job *j = parse("batch.yaml",
	    "procedure: tc-redo\n"
	    "actions: {9a: redo, 9c: redo}\n"
	    "on_failure: continue\n"
	    "officer:\n"
	    "  token: officer.p12\n"
	    "  cert: officer.pem\n"
	    "cards:\n"
	    "  - reader: \"Virtual PCD 00 01\"\n"
	    "  - reader: \"Virtual PCD 00 02\"\n"
	    "    actions:\n"
	    "      9d: issue\n"
	    "  - reader: \"Virtual PCD 00 03\"\n"
	    "    procedure: renew\n");
	expect_ok(j);
	assert_true(j->listed);
	assert_true(j->keep_going);
	assert_int_equal(j->ncards, 3);
	assert_string_equal(j->officer_token.value, "officer.p12");
	assert_string_equal(j->officer_cert.value, "officer.pem");
	/* card 1: everything from the top level */
	assert_string_equal(j->cards[0].field, "cards[1]");
	assert_int_equal(j->cards[0].line, 8);
	assert_string_equal(j->cards[0].procedure, "tc-redo");
	assert_true(j->cards[0].procedure_shared);
	assert_int_equal(j->cards[0].nactions, 2);
	/* card 2: its own actions replace the top level's */
	assert_int_equal(j->cards[1].nactions, 1);
	assert_int_equal(j->cards[1].actions[0].slot, 0x9d);
	assert_int_equal(j->cards[1].actions[0].action, RT_ACT_ISSUE);
	/* card 3: its own procedure */
	assert_string_equal(j->cards[2].procedure, "renew");
	assert_false(j->cards[2].procedure_shared);
	assert_int_equal(j->cards[2].procedure_line, 13);
	assert_int_equal(j->cards[2].nactions, 2);
	rt_job_free(j);

	/* one card in the list: the reader may come from the station */
	j = parse("b1.yaml", "cards:\n  - {procedure: renew, actions: {9a: redo}}\n");
	expect_ok(j);
	assert_int_equal(j->ncards, 1);
	assert_true(j->listed);
	rt_job_free(j);
}

static void
test_broken(void **state)
{
	(void)state;
	rt_job *j = parse("bad.yaml", "reader: [\n");
	assert_int_equal(j->nerrors, 1);
	expect_diag(j, "bad.yaml", 2, "", "YAML syntax error");
	rt_job_free(j);

	j = parse("empty.yaml", "");
	expect_diag(j, "empty.yaml", 0, "", "the file is empty");
	rt_job_free(j);

	j = parse("bad.yaml",
	    "procedure: tc-redo\n"		/* 1 */
	    "actions:\n"			/* 2 */
	    "  9a: replace\n"			/* 3 */
	    "  9z: redo\n"			/* 4 */
	    "  9c: redo\n"			/* 5 */
	    "  9C: issue\n"			/* 6 */
	    "colour: red\n"			/* 7 */
	    "server: ftp://cm\n"		/* 8 */
	    "timeout: soon\n"			/* 9 */
	    "on_failure: retry\n"		/* 10 */
	    "officer:\n"			/* 11 */
	    "  reader: R\n"			/* 12 */
	    "  token: t.p12\n"			/* 13 */
	    "  pin_fd: 3\n");			/* 14 */
	expect_diag(j, "bad.yaml", 3, "actions.9a",
	    "expected blank, issue, redo or add, got 'replace'");
	expect_diag(j, "bad.yaml", 4, "actions.9z", "expected a PIV key slot");
	expect_diag(j, "bad.yaml", 6, "actions.9C", "slot given twice (first on "
	    "line 5)");
	expect_diag(j, "bad.yaml", 7, "colour", "unknown key (expected one of: "
	    "reader, procedure, actions, subject, san, qc, cards");
	expect_diag(j, "bad.yaml", 8, "server", "expected an http:// or "
	    "https:// URL, got 'ftp://cm'");
	expect_diag(j, "bad.yaml", 9, "timeout", "expected a whole number from "
	    "1 to 3600, got 'soon'");
	expect_diag(j, "bad.yaml", 10, "on_failure", "expected stop or "
	    "continue, got 'retry'");
	expect_diag(j, "bad.yaml", 13, "officer.token", "reader (the officer's "
	    "card) or token (a software token), not both");
	expect_diag(j, "bad.yaml", 14, "officer.pin_fd", "PINs, passphrases and "
	    "keys are never read from a job file: they are asked on the "
	    "terminal or read from --pin-fd");
	assert_int_equal(j->nerrors, 9);
	assert_int_equal(j->ncards, 0);
	rt_job_free(j);

	/* wrong types */
	j = parse("t.yaml",
	    "reader: {name: x}\n"
	    "procedure: [a, b]\n"
	    "actions: [9a=redo]\n");
	expect_diag(j, "t.yaml", 1, "reader", "expected a text value, got a "
	    "mapping");
	expect_diag(j, "t.yaml", 2, "procedure", "expected a text value, got a "
	    "list");
	expect_diag(j, "t.yaml", 3, "actions", "expected a mapping of key slot "
	    "to action, e.g. {9a: redo, 9c: issue}, got a list");
	rt_job_free(j);

	j = parse("t.yaml", "- reader: x\n");
	expect_diag(j, "t.yaml", 1, "(document)", "expected a mapping of keys, "
	    "got a list");
	rt_job_free(j);
}

static void
test_missing(void **state)
{
	(void)state;
	rt_job *j = parse("m.yaml", "reader: x\n");
	expect_diag(j, "m.yaml", 1, "procedure", "missing (a procedure of the "
	    "station");
	expect_diag(j, "m.yaml", 1, "actions", "missing (the action per key "
	    "slot");
	assert_int_equal(j->nerrors, 2);
	rt_job_free(j);

	j = parse("m.yaml", "procedure: renew\nactions: {}\n");
	expect_diag(j, "m.yaml", 2, "actions", "expected at least one key slot");
	rt_job_free(j);

	j = parse("m.yaml",
	    "reader: top\n"			/* 1 */
	    "procedure: renew\n"		/* 2 */
	    "cards:\n"				/* 3 */
	    "  - reader: A\n"			/* 4 */
	    "    actions: {9a: redo}\n"		/* 5 */
	    "  - actions: {9a: redo}\n"		/* 6 */
	    "  - reader: A\n"			/* 7 */
	    "    actions: {9a: redo}\n"		/* 8 */
	    "  - reader: B\n"			/* 9 */
	    "  - reader: C\n"			/* 10 */
	    "    actions: {9a: redo}\n"		/* 11 */
	    "    colour: red\n");		/* 12 */
	expect_diag(j, "m.yaml", 1, "reader", "with cards:, each card names its "
	    "reader");
	expect_diag(j, "m.yaml", 6, "cards[2].reader", "missing (with several "
	    "cards, each names its reader)");
	expect_diag(j, "m.yaml", 7, "cards[3].reader", "the same reader as "
	    "cards[1] (line 4)");
	expect_diag(j, "m.yaml", 9, "cards[4].actions", "missing");
	expect_diag(j, "m.yaml", 12, "cards[5].colour", "unknown key (expected "
	    "one of: reader, procedure, actions, subject, san, qc)");
	rt_job_free(j);

	j = parse("m.yaml", "procedure: renew\ncards: []\n");
	expect_diag(j, "m.yaml", 2, "cards", "expected a list of cards");
	rt_job_free(j);
}

static void
test_pins_refused(void **state)
{
	(void)state;
	static const char *const keys[] = { "pin", "PIN", "card_pin", "pin2",
	    "officer-pin", "puk", "passphrase", "password", "management_key",
	    "operator", "secrets", NULL };
	for (int i = 0; keys[i] != NULL; i++) {
		char text[200];
		snprintf(text, sizeof(text), "procedure: renew\n"
		    "actions: {9a: redo}\n%s: \"123456\"\n", keys[i]);
		rt_job *j = parse("p.yaml", text);
		expect_diag(j, "p.yaml", 3, keys[i], "PINs, passphrases and keys "
		    "are never read from a job file");
		assert_int_equal(j->nerrors, 1);
		rt_job_free(j);
	}
	/* inside a card and inside actions too */
	rt_job *j = parse("p.yaml",
	    "procedure: renew\n"
	    "cards:\n"
	    "  - reader: A\n"
	    "    pin: 123456\n"
	    "    actions: {9a: redo, pin: 123456}\n");
	expect_diag(j, "p.yaml", 4, "cards[1].pin", "never read from a job file");
	expect_diag(j, "p.yaml", 5, "cards[1].actions.pin", "never read from a "
	    "job file");
	rt_job_free(j);
	/* words that merely contain the letters are not PIN keys */
	j = parse("p.yaml", "procedure: renew\nactions: {9a: redo}\nmapping: x\n");
	expect_diag(j, "p.yaml", 3, "mapping", "unknown key");
	rt_job_free(j);
}

static void
test_check_procedures(void **state)
{
	(void)state;
	rt_config *cfg;
	assert_null(rt_config_new(&cfg));
	snprintf(cfg->procedures_dir, sizeof(cfg->procedures_dir), "/procs");
	static const char renew[] = "name: renew\ndescription: d\n"
	    "actions: [redo]\nprofiles: {9a: p}\n";
	assert_int_equal(rt_config_parse_procedure(cfg, "/procs/renew.yaml",
	    renew, strlen(renew)), 0);
	rt_job *j = parse("c.yaml",
	    "procedure: nope\n"			/* 1 */
	    "actions: {9a: redo}\n"		/* 2 */
	    "cards:\n"				/* 3 */
	    "  - reader: A\n"			/* 4 */
	    "  - reader: B\n"			/* 5 */
	    "  - reader: C\n"			/* 6 */
	    "    procedure: renew\n"		/* 7 */
	    "  - reader: D\n"			/* 8 */
	    "    procedure: other\n");		/* 9 */
	expect_ok(j);
	assert_int_equal(rt_job_check(j, cfg), 2);
	expect_diag(j, "c.yaml", 1, "procedure", "no procedure 'nope' in /procs");
	expect_diag(j, "c.yaml", 9, "cards[4].procedure", "no procedure 'other'");
	rt_job_free(j);
	rt_config_free(cfg);
}

static void
test_load(void **state)
{
	(void)state;
	char dir[] = "/tmp/rt-job-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/job.yaml", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("procedure: renew\nactions:\n  9a: redo\n  9c: remove\n"
	    "colour: red\n", f);
	fclose(f);
	rt_job *j = NULL;
	rt_err *e = rt_job_load(path, NULL, &j);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), RT_E_CONFIG);
	char want[400];
	snprintf(want, sizeof(want), "%s:4: actions.9c: expected blank, issue, "
	    "redo or add, got 'remove' (and 1 more errors in the job file)",
	    path);
	assert_string_equal(rt_err_msg(e), want);
	rt_err_free(e);
	rt_job_free(j);
	unlink(path);

	e = rt_job_load(path, NULL, &j);
	assert_non_null(e);
	assert_non_null(strstr(rt_err_msg(e), ":0: cannot read: "));
	rt_err_free(e);
	rt_job_free(j);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_card),
		cmocka_unit_test(test_cards_list),
		cmocka_unit_test(test_typed_values),
		cmocka_unit_test(test_broken),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_pins_refused),
		cmocka_unit_test(test_check_procedures),
		cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
