/* Unit tests: the screen's view model (src/ui/view.c, keys.c) without
 * curses - what a Contents row shows, which Action entries are disabled
 * and why, what a procedure change resets, what Submit asks, the result
 * lines, the status line of a wrong PIN, the layout at 80x24 and larger,
 * text fitting in ASCII and UTF-8, the locked PIN field, the key map;
 * a PKCS#15 card: a key's certificates under it (02, 02.1), the CA
 * section, Add enabled, the action on a chosen certificate, Replace CA
 * certificate(s), what Submit asks (the SO PIN). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curses.h>
#include <cmocka.h>

#include "raterm/config.h"
#include "raterm/engine.h"
#include "../../src/ui/view.h"

static const char p_tc_redo[] =
"name: tc-redo\ndescription: TC card\nactions: [redo, issue]\n"
"tc_controls: all\nprofiles: {9a: piv-auth, 9c: piv-sign, 9d: piv-km, 9e: piv-ca}\n"
"subject: tc\nkey_algorithms: [ECCP256, RSA2048]\ncard_pins: 2\n"
"ca_certificates: {operator_credential: yes, write_to_card: no}\n";
static const char p_renew[] =
"name: renew\ndescription: in use\nactions: [redo, issue, add]\n"
"profiles: {9a: piv-auth, 9c: piv-sign}\nsubject: card\ncard_pins: 1\n";
static const char p_issue_only[] =
"name: issue-only\ndescription: d\nactions: [issue]\ntc_controls: [chain, possession]\n"
"profiles: {9a: piv-auth, 9c: piv-sign}\nsubject: tc\nkey_algorithms: [ECCP256]\n";

static const char p_p15[] =
"name: p15-update\ndescription: PKCS#15 card\nactions: [redo, add]\n"
"tc_controls: [chain, possession, binding]\n"
"profiles: {01: piv-auth, 02: piv-auth, 03: piv-sign}\nsubject: card\n"
"san: none\nkey_algorithms: [ECCP256]\ncard_pins: 2\n"
"ca_certificates: {operator_credential: yes, write: true}\n";

static rt_config *
procs(void)
{
	rt_config *c;
	assert_null(rt_config_new(&c));
	assert_int_equal(rt_config_parse_procedure(c, "tc-redo.yaml", p_tc_redo,
	    strlen(p_tc_redo)), 0);
	assert_int_equal(rt_config_parse_procedure(c, "renew.yaml", p_renew,
	    strlen(p_renew)), 0);
	assert_int_equal(rt_config_parse_procedure(c, "io.yaml", p_issue_only,
	    strlen(p_issue_only)), 0);
	assert_int_equal(rt_config_parse_procedure(c, "p15.yaml", p_p15,
	    strlen(p_p15)), 0);
	return c;
}

static void
add_row(rt_contents *ct, uint8_t slot, const char *alg, bool cert, bool tc,
    const char *cn)
{
	rt_key_row *r = &ct->rows[ct->nrows++];
	memset(r, 0, sizeof(*r));
	r->slot = slot;
	snprintf(r->alg, sizeof(r->alg), "%s", alg);
	r->key_known = true;
	r->has_cert = cert;
	r->tc = tc;
	if (cert) {
		snprintf(r->cert.subject_cn, sizeof(r->cert.subject_cn), "%s", cn);
		snprintf(r->cert.not_after, sizeof(r->cert.not_after),
		    "2027-11-24T12:00:00Z");
	}
}

static void
tc_card(rt_contents *ct)
{
	memset(ct, 0, sizeof(*ct));
	snprintf(ct->reader, sizeof(ct->reader), "vpiv 00 01");
	snprintf(ct->profile, sizeof(ct->profile), "piv");
	ct->has_serial = true;
	ct->serial = 10000001;
	ct->pin_retries = 3;
	add_row(ct, 0x9a, "ECCP256", true, true, "Card 10000001 Authentication");
	add_row(ct, 0x9c, "ECCP256", true, true, "Card 10000001 Signature");
	add_row(ct, 0x9d, "RSA2048", true, true, "Card 10000001 Key Management");
	add_row(ct, 0x9e, "ECCP256", false, false, NULL);
}

/* A PKCS#15 card: keys 01 and 03 with TCs, key 02 with two certificates
 * (the second added), a key 04 without one; one CA certificate. */
static void
p15_card(rt_contents *ct)
{
	memset(ct, 0, sizeof(*ct));
	snprintf(ct->reader, sizeof(ct->reader), "vpiv 01 00");
	snprintf(ct->profile, sizeof(ct->profile), "pkcs15");
	ct->has_serial = true;
	ct->serial = 5000001;
	ct->pin_retries = 3;
	add_row(ct, 0x01, "ECCP256", true, true, "Card 5000001 Key 1");
	add_row(ct, 0x02, "ECCP256", true, false, "Card 5000001 Key 2");
	add_row(ct, 0x02, "ECCP256", true, false, "Card 5000001 Key 2 added");
	ct->rows[2].cert_index = 1;
	add_row(ct, 0x03, "ECCP256", true, true, "Card 5000001 Key 3");
	ct->rows[3].pin = 1;	/* the signature key: the signature PIN */
	rt_ca_row *ca = &ct->ca[ct->nca++];
	ca->has_cert = true;
	snprintf(ca->cert.subject_cn, sizeof(ca->cert.subject_cn),
	    "raterm Test Transport CA");
	snprintf(ca->cert.not_after, sizeof(ca->cert.not_after),
	    "2035-01-01T00:00:00Z");
}

static void
tc_results(rt_update *u, bool fail_9c)
{
	rt_tc_result r[3];
	memset(r, 0, sizeof(r));
	const uint8_t slots[3] = { 0x9a, 0x9c, 0x9d };
	for (int i = 0; i < 3; i++) {
		r[i].slot = slots[i];
		r[i].verified = true;
		r[i].chain = r[i].possession = r[i].binding = RT_TC_PASSED;
		r[i].attestation = RT_TC_SKIPPED;
	}
	if (fail_9c) {
		r[1].verified = false;
		r[1].possession = RT_TC_FAILED;
		r[1].failed = RT_E_TC_POSSESSION;
	}
	rt_update_set_tc_results(u, r, 3);
}

/* a row: slot, algorithm, TC common name, validity, TC status, action */
static void
test_row(void **state)
{
	rt_contents ct;
	rt_update u;
	ui_row_view rv;
	tc_card(&ct);
	rt_update_init(&u, &ct);
	ui_view_row(&ct, &u, 0, &rv);
	assert_string_equal(rv.slot, "9a");
	assert_string_equal(rv.alg, "ECCP256");
	assert_string_equal(rv.cert, "Card 10000001 Authentication");
	assert_true(rv.tc);
	assert_string_equal(rv.until, "2027-11-24");
	assert_string_equal(rv.status, "TC not checked");
	assert_false(rv.status_bad);
	assert_string_equal(rv.action, "Blank");
	assert_true(rv.blank);
	ui_view_row(&ct, &u, 3, &rv);
	assert_string_equal(rv.cert, "(key without certificate)");
	assert_string_equal(rv.status, "");
	assert_string_equal(rv.until, "");
	/* after the TC controls: verified / failed naming the control */
	tc_results(&u, true);
	ui_view_row(&ct, &u, 0, &rv);
	assert_string_equal(rv.status, "TC verified");
	ui_view_row(&ct, &u, 1, &rv);
	assert_string_equal(rv.status, "TC failed: possession");
	assert_true(rv.status_bad);
	/* an expired TC, not checked yet */
	rt_update_init(&u, &ct);
	ct.rows[2].expired = true;
	ui_view_row(&ct, &u, 2, &rv);
	assert_string_equal(rv.status, "TC expired");
	assert_true(rv.status_bad);
	/* an unreadable object */
	snprintf(ct.rows[3].error, sizeof(ct.rows[3].error), "bad TLV");
	ui_view_row(&ct, &u, 3, &rv);
	assert_string_equal(rv.cert, "(unreadable: bad TLV)");
	assert_true(rv.status_bad);
}

/* the dropdown: Add disabled on a TC row with the engine's reason */
static void
test_actions(void **state)
{
	rt_config *cfg = procs();
	rt_contents ct;
	rt_update u;
	ui_action_entry en[RT_ACT__COUNT];
	tc_card(&ct);
	rt_update_init(&u, &ct);
	/* no procedure: only Blank, the reason says to choose one */
	ui_view_actions(&u, 0, en);
	assert_true(en[RT_ACT_BLANK].enabled);
	assert_false(en[RT_ACT_REDO].enabled);
	assert_non_null(strstr(en[RT_ACT_REDO].reason, "procedure"));
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "tc-redo")));
	size_t cur = ui_view_actions(&u, 0, en);
	assert_int_equal(cur, RT_ACT_BLANK);
	assert_string_equal(en[RT_ACT_BLANK].title, "Blank");
	assert_string_equal(en[RT_ACT_ADD].title, "Add");
	assert_true(en[RT_ACT_BLANK].enabled);
	assert_true(en[RT_ACT_ISSUE].enabled);
	assert_true(en[RT_ACT_REDO].enabled);
	assert_false(en[RT_ACT_ADD].enabled);
	assert_non_null(strstr(en[RT_ACT_ADD].reason, "TC"));
	assert_null(rt_update_set_action(&u, 0x9a, RT_ACT_REDO));
	assert_int_equal(ui_view_actions(&u, 0, en), RT_ACT_REDO);
	/* 9e: a key without a certificate: no TC subject to take */
	ui_view_actions(&u, 3, en);
	assert_false(en[RT_ACT_REDO].enabled);
	assert_true(en[RT_ACT_REDO].reason[0] != '\0');
	/* a letter per action */
	rt_action a;
	assert_true(ui_action_of_letter('r', &a));
	assert_int_equal(a, RT_ACT_REDO);
	assert_true(ui_action_of_letter('a', &a));
	assert_int_equal(a, RT_ACT_ADD);
	assert_false(ui_action_of_letter('x', &a));
	rt_config_free(cfg);
}

/* a procedure change says which actions it resets */
static void
test_proc_resets(void **state)
{
	rt_config *cfg = procs();
	rt_contents ct;
	rt_update u;
	char buf[200];
	tc_card(&ct);
	rt_update_init(&u, &ct);
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "tc-redo")));
	assert_null(rt_update_set_action(&u, 0x9a, RT_ACT_REDO));
	assert_null(rt_update_set_action(&u, 0x9c, RT_ACT_ISSUE));
	assert_null(rt_update_set_action(&u, 0x9d, RT_ACT_REDO));
	size_t n = ui_view_proc_resets(&u, rt_config_procedure(cfg,
	    "issue-only"), buf, sizeof(buf));
	assert_int_equal(n, 2);
	assert_string_equal(buf, "9a Redo, 9d Redo");
	/* the model itself is untouched */
	assert_int_equal(u.action[0], RT_ACT_REDO);
	assert_int_equal(ui_view_proc_resets(&u, rt_config_procedure(cfg,
	    "tc-redo"), buf, sizeof(buf)), 0);
	rt_config_free(cfg);
}

/* what Submit asks after the plan */
static void
test_asks(void **state)
{
	rt_config *cfg = procs();
	rt_contents ct;
	rt_update u;
	rt_plan p;
	char lines[6][160];
	tc_card(&ct);
	rt_update_init(&u, &ct);
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "tc-redo")));
	assert_null(rt_update_set_action(&u, 0x9a, RT_ACT_REDO));
	tc_results(&u, false);
	assert_null(rt_update_plan(&u, &p));
	assert_int_equal(p.nsteps, 1);
	size_t n = ui_view_asks(&p, &u, true, lines, 6);
	/* the first PIN was typed for the TC controls: the second PIN and
	 * the operator credential remain */
	assert_int_equal(n, 2);
	assert_non_null(strstr(lines[0], "second PIN"));
	assert_non_null(strstr(lines[1], "operator credential"));
	n = ui_view_asks(&p, &u, false, lines, 6);
	assert_int_equal(n, 3);
	assert_string_equal(lines[0], "the PIN of the card");
	/* an empty plan asks nothing */
	p.nsteps = 0;
	assert_int_equal(ui_view_asks(&p, &u, false, lines, 6), 0);
	rt_config_free(cfg);
}

static void
test_result(void **state)
{
	rt_plan p;
	rt_submit_result res;
	char line[700];
	memset(&p, 0, sizeof(p));
	memset(&res, 0, sizeof(res));
	p.nsteps = 2;
	p.steps[0].slot = 0x9a;
	p.steps[0].action = RT_ACT_REDO;
	p.steps[1].slot = 0x9c;
	p.steps[1].action = RT_ACT_REDO;
	res.state[0] = RT_STEP_DONE;
	snprintf(res.message[0], sizeof(res.message[0]), "written to the card, "
	    "read back and tested");
	snprintf(res.serial[0], sizeof(res.serial[0]), "49963ec6");
	res.state[1] = RT_STEP_FAILED;
	snprintf(res.message[1], sizeof(res.message[1]), "card removed");
	res.sent = res.issued = true;
	rt_submit_result_line(&p, &res, 0, line, sizeof(line));
	assert_string_equal(line, "9a  Redo   done     written to the card, "
	    "read back and tested (serial 49963ec6) [not confirmed]");
	rt_submit_result_line(&p, &res, 1, line, sizeof(line));
	assert_string_equal(line, "9c  Redo   FAILED   card removed");
	assert_non_null(strstr(ui_view_result_end(&res), "NOT confirmed"));
	res.confirmed = true;
	assert_non_null(strstr(ui_view_result_end(&res), "Confirmed"));
}

/* a wrong PIN: the tries left on the status line */
static void
test_error(void **state)
{
	char buf[800];
	rt_err *e = rt_err_new(RT_E_PIN_WRONG, NULL, "wrong PIN");
	rt_err_set_detail(e, 2);
	e = rt_err_wrap(e, "Signature PIN");
	ui_view_error("Submit", e, buf, sizeof(buf));
	assert_non_null(strstr(buf, "Submit: wrong PIN: 2 tries left"));
	rt_err_free(e);
	e = rt_err_new(RT_E_PIN_WRONG, NULL, "wrong PIN");
	rt_err_set_detail(e, 1);
	ui_view_error("", e, buf, sizeof(buf));
	assert_non_null(strstr(buf, "1 try left"));
	rt_err_free(e);
	e = rt_err_new(RT_E_CMP_HTTP, NULL, "connection refused");
	ui_view_error("Submit", e, buf, sizeof(buf));
	assert_non_null(strstr(buf, "Submit: connection refused"));
	rt_err_free(e);
}

static void
test_layout(void **state)
{
	ui_layout L;
	ui_layout_of(79, 24, &L);
	assert_true(L.too_small);
	ui_layout_of(80, 23, &L);
	assert_true(L.too_small);
	ui_layout_of(80, 24, &L);
	assert_false(L.too_small);
	assert_int_equal(L.y_keys, 23);
	assert_int_equal(L.y_status, 22);
	assert_true(L.nrows_vis >= 4);
	assert_true(L.w_cert >= 28);	/* "Card 10000001 Authentication" */
	assert_true(L.x_action + L.w_action <= 79);
	assert_true(L.x_status + L.w_status < L.x_action);
	assert_true(L.x_help + 8 <= 80);
	ui_layout_of(100, 40, &L);
	assert_false(L.too_small);
	assert_true(L.nrows_vis >= 24);	/* every PIV slot fits */
	assert_true(L.x_action + L.w_action <= 99);
}

static void
test_fit(void **state)
{
	char b[64];
	assert_string_equal(ui_fit(b, sizeof(b), "abc", 5, false), "abc  ");
	assert_string_equal(ui_fit(b, sizeof(b), "abcdef", 4, false), "abc~");
	/* C locale: bytes outside ASCII and controls become '?' */
	assert_string_equal(ui_fit(b, sizeof(b), "J\xc3\xbcrg\x1b", 6, false),
	    "J??rg?");
	/* UTF-8: one column per code point */
	assert_string_equal(ui_fit(b, sizeof(b), "J\xc3\xbcrg", 5, true),
	    "J\xc3\xbcrg ");
	assert_int_equal(ui_text_width("J\xc3\xbcrg", true), 4);
	assert_string_equal(ui_fit(b, sizeof(b), "x\ny", 3, true), "x?y");
}

static void
count_line(void *ctx, const char *line)
{
	size_t *n = ctx;
	assert_true(strlen(line) <= 20);
	(*n)++;
}

static void
test_wrap(void **state)
{
	size_t n = 0;
	assert_int_equal(ui_wrap("one two three four five six seven eight\n"
	    "  nine ten", 20, false, count_line, &n), 3);
	assert_int_equal(n, 3);
}

/* the PIN field: locked page, wiped on clear, shown as stars or nothing */
static void
test_pin_field(void **state)
{
	ui_field f;
	char out[64];
	size_t len;
	assert_null(ui_field_init(&f, 16, true));
	for (const char *p = "123456"; *p; p++)
		assert_true(ui_field_put(&f, *p));
	assert_false(ui_field_put(&f, '\n'));
	assert_int_equal(f.len, 6);
	ui_field_show(&f, true, out, sizeof(out), 10);
	assert_string_equal(out, "******    ");
	ui_field_show(&f, false, out, sizeof(out), 10);
	assert_string_equal(out, "          ");
	assert_null(strstr(out, "123"));
	ui_field_back(&f);
	assert_true(ui_field_copy(&f, out, sizeof(out), &len));
	assert_int_equal(len, 5);
	assert_memory_equal(out, "12345", 5);
	assert_int_equal(f.buf[5], 0);	/* the deleted byte is wiped */
	ui_field_clear(&f);
	assert_int_equal(f.len, 0);
	for (size_t i = 0; i < f.cap; i++)
		assert_int_equal(f.buf[i], 0);
	/* full: no more */
	for (int i = 0; i < 20; i++)
		(void)ui_field_put(&f, '7');
	assert_int_equal(f.len, 15);
	ui_field_free(&f);
	assert_null(f.buf);
	/* a text field shows its end */
	assert_null(ui_field_init(&f, 64, false));
	for (const char *p = "CN=Jane Doe,O=Example"; *p; p++)
		assert_true(ui_field_put(&f, *p));
	ui_field_show(&f, true, out, sizeof(out), 8);
	assert_string_equal(out, "Example ");
	ui_field_free(&f);
}

static void
test_keys(void **state)
{
	rt_action a = RT_ACT_BLANK;
	assert_int_equal(ui_cmd_of(KEY_F(1), false, true, &a), UI_CMD_HELP);
	assert_int_equal(ui_cmd_of(KEY_F(2), true, false, &a), UI_CMD_SUBMIT);
	assert_int_equal(ui_cmd_of(KEY_F(5), false, true, &a), UI_CMD_RELOAD);
	assert_int_equal(ui_cmd_of(KEY_F(10), true, false, &a), UI_CMD_QUIT);
	assert_int_equal(ui_cmd_of(KEY_BTAB, false, true, &a), UI_CMD_PREV);
	assert_int_equal(ui_cmd_of('\t', true, false, &a), UI_CMD_NEXT);
	/* letters outside text fields */
	assert_int_equal(ui_cmd_of('s', false, true, &a), UI_CMD_SUBMIT);
	assert_int_equal(ui_cmd_of('l', false, false, &a), UI_CMD_RELOAD);
	assert_int_equal(ui_cmd_of('q', false, false, &a), UI_CMD_QUIT);
	assert_int_equal(ui_cmd_of('?', false, false, &a), UI_CMD_HELP);
	assert_int_equal(ui_cmd_of('r', false, true, &a), UI_CMD_SET_ACTION);
	assert_int_equal(a, RT_ACT_REDO);
	assert_int_equal(ui_cmd_of('r', false, false, &a), UI_CMD_NONE);
	/* in the PIN field every letter is part of the PIN */
	assert_int_equal(ui_cmd_of('q', true, false, &a), UI_CMD_CHAR);
	assert_int_equal(ui_cmd_of('s', true, false, &a), UI_CMD_CHAR);
	assert_int_equal(ui_cmd_of(127, true, false, &a), UI_CMD_BACKSPACE);
	assert_int_equal(ui_cmd_of(27, true, false, &a), UI_CMD_ESC);
	assert_int_equal(ui_cmd_of(' ', false, true, &a), UI_CMD_ENTER);
	assert_int_equal(ui_cmd_of('c', false, true, &a), UI_CMD_QC);
	assert_int_equal(ui_cmd_of('c', false, false, &a), UI_CMD_NONE);
	/* C: Replace CA certificate(s), outside text fields */
	assert_int_equal(ui_cmd_of('C', false, true, &a), UI_CMD_CA);
	assert_int_equal(ui_cmd_of('C', false, false, &a), UI_CMD_CA);
	assert_int_equal(ui_cmd_of('C', true, false, &a), UI_CMD_CHAR);
}

/* a PKCS#15 card: each key once, its certificates under it, the CA
 * section after the keys; a PIV card has none */
static void
test_p15_rows(void **state)
{
	rt_contents ct;
	rt_update u;
	ui_row_view rv;
	char k[8];
	tc_card(&ct);
	assert_int_equal(ui_view_nrows(&ct), 4);	/* PIV: no CA section */
	p15_card(&ct);
	rt_update_init(&u, &ct);
	assert_int_equal(ui_view_nrows(&ct), 4 + 1 + 1);
	ui_view_row(&ct, &u, 1, &rv);
	assert_int_equal(rv.kind, UI_ROW_KEY);
	assert_string_equal(rv.slot, "02");
	assert_string_equal(rv.alg, "ECCP256");
	assert_false(rv.more);
	ui_view_row(&ct, &u, 2, &rv);
	assert_string_equal(rv.slot, "02.1");	/* as raterm show, --action */
	assert_string_equal(rv.alg, "");	/* the key once */
	assert_true(rv.more);
	assert_string_equal(rv.cert, "Card 5000001 Key 2 added");
	assert_string_equal(rv.action, "Blank");
	assert_string_equal(ui_row_key(&ct, 2, k, sizeof(k)), "02.1");
	ui_view_row(&ct, &u, 3, &rv);
	assert_string_equal(rv.slot, "03");
	assert_string_equal(rv.status, "TC not checked");
	/* the CA section: its heading, then each CA certificate */
	ui_view_row(&ct, &u, 4, &rv);
	assert_int_equal(rv.kind, UI_ROW_CA_HEAD);
	assert_string_equal(rv.slot, "CA");
	assert_string_equal(rv.cert, "CA certificates: 1");
	assert_string_equal(rv.action, "Blank");
	assert_true(rv.blank);
	ui_view_row(&ct, &u, 5, &rv);
	assert_int_equal(rv.kind, UI_ROW_CA);
	assert_string_equal(rv.cert, "raterm Test Transport CA");
	assert_string_equal(rv.until, "2035-01-01");
	assert_string_equal(rv.action, "");
	/* a PKCS#15 card without CA certificates still has the heading */
	ct.nca = 0;
	assert_int_equal(ui_view_nrows(&ct), 5);
	ui_view_row(&ct, &u, 4, &rv);
	assert_string_equal(rv.cert, "CA certificates: none");
}

/* Add enabled on PKCS#15 (not on a TC); an action on a key's further
 * certificate chooses it: Redo replaces exactly that one */
/* the TC controls passed on keys 01 and 03 */
static void
p15_tc_results(rt_update *u)
{
	tc_results(u, false);
	u->tc[0].slot = 0x01;
	u->tc[1].slot = 0x03;
	u->ntc = 2;
}

static void
test_p15_actions(void **state)
{
	rt_config *cfg = procs();
	rt_contents ct;
	rt_update u;
	ui_action_entry en[RT_ACT__COUNT];
	char moved[8];
	p15_card(&ct);
	rt_update_init(&u, &ct);
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "p15-update")));
	ui_view_actions(&u, 1, en);
	assert_true(en[RT_ACT_ADD].enabled);
	assert_true(en[RT_ACT_REDO].enabled);
	ui_view_actions(&u, 2, en);
	assert_true(en[RT_ACT_ADD].enabled);
	assert_true(en[RT_ACT_REDO].enabled);
	/* a TC: Add refused with the engine's reason, Redo allowed */
	ui_view_actions(&u, 0, en);
	assert_false(en[RT_ACT_ADD].enabled);
	assert_non_null(strstr(en[RT_ACT_ADD].reason, "transport certificate"));
	assert_true(en[RT_ACT_REDO].enabled);
	/* the CA lines are no key */
	ui_view_actions(&u, 4, en);
	assert_true(en[RT_ACT_BLANK].enabled);
	assert_false(en[RT_ACT_REDO].enabled);
	assert_non_null(strstr(en[RT_ACT_REDO].reason, "Replace CA"));
	rt_err *e = ui_row_set_action(&u, 4, RT_ACT_REDO, moved, sizeof(moved));
	assert_non_null(e);
	rt_err_free(e);
	/* Redo on 02.1: the certificate chosen, the row shows it */
	assert_null(ui_row_set_action(&u, 2, RT_ACT_REDO, moved, sizeof(moved)));
	assert_string_equal(moved, "");
	assert_int_equal(rt_update_row(&u, 0x02), 2);
	assert_int_equal(u.action[2], RT_ACT_REDO);
	assert_int_equal(u.action[1], RT_ACT_BLANK);
	assert_int_equal(ui_view_actions(&u, 2, en), RT_ACT_REDO);
	assert_int_equal(ui_view_actions(&u, 1, en), RT_ACT_BLANK);
	/* Blank on the other certificate changes nothing */
	assert_null(ui_row_set_action(&u, 1, RT_ACT_BLANK, moved, sizeof(moved)));
	assert_int_equal(u.action[2], RT_ACT_REDO);
	/* Add on 02: the key's action moves there, one at a time */
	assert_null(ui_row_set_action(&u, 1, RT_ACT_ADD, moved, sizeof(moved)));
	assert_string_equal(moved, "02.1");
	assert_int_equal(u.action[1], RT_ACT_ADD);
	assert_int_equal(u.action[2], RT_ACT_BLANK);
	rt_plan p;
	p15_tc_results(&u);
	assert_null(rt_update_plan(&u, &p));
	assert_int_equal(p.nsteps, 1);
	assert_int_equal(p.steps[0].cert_index, RT_CARD_CERT_NEW);
	/* Redo of 02.1 in the plan: that certificate */
	assert_null(ui_row_set_action(&u, 2, RT_ACT_REDO, moved, sizeof(moved)));
	assert_null(rt_update_plan(&u, &p));
	assert_int_equal(p.steps[0].cert_index, 1);
	/* after the submit, the card read again: the result on the line of
	 * the certificate issued, else on the one the step was on */
	snprintf(ct.rows[2].cert.serial, sizeof(ct.rows[2].cert.serial), "7c84");
	assert_int_equal(ui_view_result_row(&ct, &p.steps[0], "7c84"), 2);
	assert_int_equal(ui_view_result_row(&ct, &p.steps[0], "99"), 2);
	p.steps[0].action = RT_ACT_ADD;
	p.steps[0].cert_index = RT_CARD_CERT_NEW;
	assert_int_equal(ui_view_result_row(&ct, &p.steps[0], "99"), 1);
	assert_int_equal(ui_view_result_row(&ct, &p.steps[0], "7c84"), 2);
	/* refused: nothing moves */
	e = ui_row_set_action(&u, 0, RT_ACT_ADD, moved, sizeof(moved));
	assert_non_null(e);
	rt_err_free(e);
	assert_int_equal(u.action[0], RT_ACT_BLANK);
	assert_int_equal(u.action[2], RT_ACT_REDO);
	rt_config_free(cfg);
}

/* Replace CA certificate(s): refused on PIV and by a procedure that
 * writes none, with the engine's reason; replace / keep / none */
static void
test_p15_ca(void **state)
{
	rt_config *cfg = procs();
	rt_contents ct;
	rt_update u;
	ui_ca_entry en[UI_CA__COUNT];
	ui_row_view rv;
	tc_card(&ct);
	rt_update_init(&u, &ct);
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "tc-redo")));
	assert_int_equal(ui_view_ca_choices(&u, en), UI_CA_NONE);
	assert_false(en[UI_CA_REPLACE].enabled);
	assert_false(en[UI_CA_KEEP].enabled);
	assert_non_null(strstr(en[UI_CA_REPLACE].reason, "not possible"));
	assert_true(en[UI_CA_NONE].enabled);
	rt_err *e = ui_ca_set(&u, UI_CA_REPLACE);
	assert_non_null(e);
	rt_err_free(e);
	assert_false(u.ca_asked);

	p15_card(&ct);
	rt_update_init(&u, &ct);
	ui_view_ca_choices(&u, en);	/* no procedure yet */
	assert_false(en[UI_CA_REPLACE].enabled);
	assert_non_null(strstr(en[UI_CA_REPLACE].reason, "procedure"));
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "p15-update")));
	assert_int_equal(ui_view_ca_choices(&u, en), UI_CA_NONE);
	assert_true(en[UI_CA_REPLACE].enabled);
	assert_true(en[UI_CA_KEEP].enabled);
	assert_null(ui_ca_set(&u, UI_CA_KEEP));
	assert_int_equal(ui_view_ca_choices(&u, en), UI_CA_KEEP);
	ui_view_row(&ct, &u, 4, &rv);
	assert_string_equal(rv.action, "Write");
	assert_string_equal(rv.status, "add missing");
	assert_null(ui_ca_set(&u, UI_CA_REPLACE));
	assert_int_equal(ui_view_ca_choices(&u, en), UI_CA_REPLACE);
	ui_view_row(&ct, &u, 4, &rv);
	assert_string_equal(rv.status, "replace all");
	/* alone: a plan without keys that writes them; Submit asks the SO
	 * PIN, not whether to replace (chosen) */
	rt_plan p;
	char lines[6][160];
	assert_null(rt_update_plan(&u, &p));
	assert_int_equal(p.nsteps, 0);
	assert_true(p.write_ca_certs);
	assert_true(p.replace_ca_certs);
	size_t n = ui_view_asks(&p, &u, false, lines, 6);
	assert_int_equal(n, 1);
	assert_non_null(strstr(lines[0], "SO PIN"));
	/* the result line */
	rt_submit_result res;
	char line[400];
	memset(&res, 0, sizeof(res));
	res.ca_state = RT_STEP_DONE;
	snprintf(res.ca_message, sizeof(res.ca_message), "2 CA certificate(s) "
	    "of the CM host on the card (replaced), read back");
	snprintf(res.ca_op_id, sizeof(res.ca_op_id), "op-1");
	ui_view_result_ca(&p, &res, line, sizeof(line));
	assert_string_equal(line, "CA certificates  done     2 CA "
	    "certificate(s) of the CM host on the card (replaced), read back "
	    "(journal op-1)");
	/* none: back to a plan with nothing to do */
	assert_null(ui_ca_set(&u, UI_CA_NONE));
	assert_null(rt_update_plan(&u, &p));
	assert_false(p.write_ca_certs);
	ui_view_result_ca(&p, &res, line, sizeof(line));
	assert_string_equal(line, "");
	/* with keys: the key that signs with the signature PIN has it asked
	 * (a key of the user PIN alone would not); whether to replace is
	 * asked when not chosen */
	assert_null(ui_row_set_action(&u, 1, RT_ACT_ADD, NULL, 0));
	p15_tc_results(&u);
	assert_null(rt_update_plan(&u, &p));
	n = ui_view_asks(&p, &u, true, lines, 6);
	assert_int_equal(n, 2);
	assert_non_null(strstr(lines[0], "SO PIN"));
	assert_null(ui_row_set_action(&u, 3, RT_ACT_REDO, NULL, 0));
	assert_null(rt_update_plan(&u, &p));
	n = ui_view_asks(&p, &u, true, lines, 6);
	assert_int_equal(n, 3);
	assert_non_null(strstr(lines[0], "signature PIN"));
	assert_non_null(strstr(lines[1], "SO PIN"));
	assert_non_null(strstr(lines[2], "replaced or kept"));
	rt_config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_row),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_proc_resets),
		cmocka_unit_test(test_asks),
		cmocka_unit_test(test_result),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_fit),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_pin_field),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_p15_rows),
		cmocka_unit_test(test_p15_actions),
		cmocka_unit_test(test_p15_ca),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
