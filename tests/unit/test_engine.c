/* Unit tests: the update engine's rules (engine.h) on hand-made Contents -
 * every refusal, the procedures offered, TC results, the plan - and the
 * journal and audit log (journal.h): write, read, incomplete operations,
 * a crash simulated by a truncated last record. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "raterm/config.h"
#include "raterm/csr.h"
#include "raterm/engine.h"
#include "raterm/journal.h"
#include "../../src/engine/engine_int.h"

static const char p_tc_redo[] =
"name: tc-redo\ndescription: d\nactions: [redo, issue]\n"
"tc_controls: all\nprofiles: {9a: piv-auth, 9c: piv-sign, 9d: piv-km, 9e: piv-ca}\n"
"subject: tc\nkey_algorithms: [ECCP256, RSA2048]\ncard_pins: 2\n"
"ca_certificates: {operator_credential: yes, write_to_card: yes}\n";
static const char p_renew[] =
"name: renew\ndescription: d\nactions: [redo, issue, add]\n"
"profiles: {9a: piv-auth, 9c: piv-sign, 9e: piv-ca}\nsubject: card\n";
static const char p_issue_only[] =
"name: issue-only\ndescription: d\nactions: [issue]\ntc_controls: [chain, possession]\n"
"profiles: {9a: piv-auth}\nsubject: officer\nkey_algorithms: [ECCP384]\n";

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
		snprintf(r->cert.issuer_cn, sizeof(r->cert.issuer_cn), "%s",
		    tc ? "Transport CA" : "Issuing CA");
		snprintf(r->cert.not_after, sizeof(r->cert.not_after),
		    "2030-01-01T00:00:00Z");
	}
}

/* TC card: 9a, 9c TCs (ECCP256), 9d TC RSA2048, 9e key without cert */
static void
tc_card(rt_contents *ct)
{
	memset(ct, 0, sizeof(*ct));
	snprintf(ct->reader, sizeof(ct->reader), "vpiv 00 00");
	snprintf(ct->profile, sizeof(ct->profile), "piv");
	ct->has_serial = true;
	ct->serial = 10000001;
	add_row(ct, 0x9a, "ECCP256", true, true, "Card 9a");
	add_row(ct, 0x9c, "ECCP256", true, true, "Card 9c");
	add_row(ct, 0x9d, "RSA2048", true, true, "Card 9d");
	add_row(ct, 0x9e, "ECCP256", false, false, NULL);
}

/* card in use: 9a, 9c certificates, 9d unreadable */
static void
plain_card(rt_contents *ct)
{
	memset(ct, 0, sizeof(*ct));
	snprintf(ct->reader, sizeof(ct->reader), "vpiv 00 01");
	snprintf(ct->profile, sizeof(ct->profile), "piv");
	add_row(ct, 0x9a, "ECCP256", true, false, "Jane 9a");
	add_row(ct, 0x9c, "ECCP256", true, false, "Jane 9c");
	add_row(ct, 0x9d, "ECCP256", false, false, NULL);
	snprintf(ct->rows[2].error, sizeof(ct->rows[2].error), "does not parse");
	add_row(ct, 0x9e, "RSA1024", false, false, NULL);
}

/* Asserts a RULE refusal whose message contains part; frees e. */
static void
refused(rt_err *e, rt_err_kind kind, const char *part)
{
	assert_non_null(e);
	char buf[1024];
	rt_err_format(e, buf, sizeof(buf));
	if (rt_err_kind_of(e) != kind || strstr(buf, part) == NULL)
		fprintf(stderr, "unexpected: %s (wanted ...%s...)\n", buf, part);
	assert_int_equal(rt_err_kind_of(e), kind);
	assert_non_null(strstr(buf, part));
	rt_err_free(e);
}

static void
passed_tc(rt_update *u, bool fail_9c)
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
		snprintf(r[1].error, sizeof(r[1].error), "signature does not verify");
	}
	rt_update_set_tc_results(u, r, 3);
}

static void
test_caps(void **state)
{
	rt_contents ct;
	tc_card(&ct);
	const rt_card_caps *c = rt_card_caps_of(&ct);
	assert_string_equal(c->name, "PIV");
	assert_false(c->multi_cert_per_key);
	assert_false(c->ca_certs_on_card);
	assert_true(rt_contents_has_tc(&ct));
	plain_card(&ct);
	assert_false(rt_contents_has_tc(&ct));
}


/* A PKCS#15 card whose key 03 signs after a PIN of its own (the AODF's
 * signature PIN, caps.second_pin_own), under a procedure with card_pins:
 * 1: the plan asks the PIN each key takes (a Redo of 03 the second PIN
 * too, of 01 the first alone), never the procedure's count; on PIV the
 * procedure's count stands (its second PIN is the PIN again). */
static void
test_pkcs15_pins(void **state)
{
	(void)state;
	static const char p1[] =
	    "name: p15one\ndescription: d\nactions: [redo, add]\n"
	    "profiles: {01: piv-auth, 03: piv-sign}\nsubject: card\n"
	    "card_pins: 1\n";
	rt_config *cfg = procs();
	assert_int_equal(rt_config_parse_procedure(cfg, "p1.yaml", p1,
	    strlen(p1)), 0);
	const rt_procedure *pp = rt_config_procedure(cfg, "p15one");
	assert_non_null(pp);
	rt_contents ct;
	memset(&ct, 0, sizeof(ct));
	snprintf(ct.profile, sizeof(ct.profile), "pkcs15");
	ct.has_serial = true;
	ct.serial = 5000001;
	add_row(&ct, 0x01, "ECCP256", true, false, "Key 1");
	add_row(&ct, 0x03, "ECCP256", true, false, "Key 3");
	ct.rows[1].pin = 1;		/* the signature PIN's key */
	rt_update u;
	rt_update_init(&u, &ct);
	assert_true(u.caps->second_pin_own);
	assert_null(rt_update_set_procedure(&u, pp));
	rt_plan plan;
	assert_null(rt_update_set_action(&u, 0x03, RT_ACT_REDO));
	assert_null(rt_update_plan(&u, &plan));
	assert_int_equal(plan.nsteps, 1);
	assert_int_equal(plan.steps[0].pin, 1);
	assert_true(plan.second_pin_own);
	assert_int_equal(plan.card_pins, 2);
	char *txt = NULL;
	size_t tl = 0;
	FILE *f = open_memstream(&txt, &tl);
	assert_non_null(f);
	rt_plan_print(&plan, f);
	fclose(f);
	assert_non_null(strstr(txt, "Card PINs needed: 2 (the PIN, and the "
	    "second PIN of key 03)"));
	free(txt);
	/* with key 01 too: still the two, each key its own */
	assert_null(rt_update_set_action(&u, 0x01, RT_ACT_REDO));
	assert_null(rt_update_plan(&u, &plan));
	assert_int_equal(plan.nsteps, 2);
	assert_int_equal(plan.steps[0].pin, 0);
	assert_int_equal(plan.card_pins, 2);
	/* key 01 alone: the first PIN alone */
	assert_null(rt_update_set_action(&u, 0x03, RT_ACT_BLANK));
	assert_null(rt_update_plan(&u, &plan));
	assert_int_equal(plan.nsteps, 1);
	assert_int_equal(plan.card_pins, 1);
	/* PIV: 9c's PIN is the PIN again; the procedure says how often */
	static const char p2[] =
	    "name: pivone\ndescription: d\nactions: [redo]\n"
	    "profiles: {9a: piv-auth, 9c: piv-sign}\nsubject: card\n"
	    "card_pins: 1\n";
	assert_int_equal(rt_config_parse_procedure(cfg, "p2.yaml", p2,
	    strlen(p2)), 0);
	rt_contents piv;
	plain_card(&piv);
	piv.rows[1].pin = 1;
	rt_update_init(&u, &piv);
	assert_false(u.caps->second_pin_own);
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "pivone")));
	assert_null(rt_update_set_action(&u, 0x9c, RT_ACT_REDO));
	assert_null(rt_update_plan(&u, &plan));
	assert_int_equal(plan.card_pins, 1);
	rt_config_free(cfg);
}

/* A PKCS#15 card: key 01 with a TC, key 02 with two certificates, CA
 * certificates on the card. Add where the profile allows it (not on the
 * TC), Redo of exactly the chosen certificate, Replace CA certificate(s)
 * under a procedure that writes them only. */
static void
test_pkcs15_rules(void **state)
{
	static const char p15[] =
	    "name: p15\ndescription: d\nactions: [redo, add]\n"
	    "tc_controls: [chain, possession]\n"
	    "profiles: {01: piv-auth, 02: piv-auth}\nsubject: card\n"
	    "ca_certificates: {operator_credential: yes, write: true}\n";
	rt_config *cfg = procs();
	assert_int_equal(rt_config_parse_procedure(cfg, "p15.yaml", p15,
	    strlen(p15)), 0);
	const rt_procedure *pp = rt_config_procedure(cfg, "p15");
	const rt_procedure *io = rt_config_procedure(cfg, "issue-only");
	assert_non_null(pp);
	rt_contents ct;
	memset(&ct, 0, sizeof(ct));
	snprintf(ct.profile, sizeof(ct.profile), "pkcs15");
	ct.has_serial = true;
	ct.serial = 5000001;
	add_row(&ct, 0x01, "ECCP256", true, true, "Key 1 TC");
	add_row(&ct, 0x02, "ECCP256", true, false, "Key 2 a");
	add_row(&ct, 0x02, "ECCP256", true, false, "Key 2 b");
	ct.rows[2].cert_index = 1;
	rt_update u;
	rt_update_init(&u, &ct);
	assert_true(u.caps->multi_cert_per_key);
	assert_true(u.caps->ca_certs_on_card);
	assert_null(rt_update_set_procedure(&u, pp));
	rt_tc_result tr;                /* the TC's controls passed */
	memset(&tr, 0, sizeof(tr));
	tr.slot = 0x01;
	tr.verified = true;
	tr.chain = tr.possession = RT_TC_PASSED;
	rt_update_set_tc_results(&u, &tr, 1);
	rt_err *e = rt_update_check_action(&u, 0x01, RT_ACT_ADD, 0);
	assert_true(rt_err_has(e, RT_E_RULE));
	assert_non_null(strstr(rt_err_msg(e), "transport certificate"));
	rt_err_free(e);
	assert_null(rt_update_set_action(&u, 0x02, RT_ACT_REDO));
	assert_int_equal(rt_update_row(&u, 0x02), 1);
	/* the key's second certificate: the action goes with the choice */
	assert_null(rt_update_choose_cert(&u, 0x02, 1));
	assert_int_equal(rt_update_row(&u, 0x02), 2);
	assert_int_equal(u.action[1], RT_ACT_BLANK);
	assert_int_equal(u.action[2], RT_ACT_REDO);
	e = rt_update_choose_cert(&u, 0x02, 5);
	assert_true(rt_err_has(e, RT_E_NOT_FOUND));
	rt_err_free(e);
	rt_plan plan;
	assert_null(rt_update_plan(&u, &plan));
	assert_int_equal(plan.nsteps, 1);
	assert_int_equal(plan.steps[0].cert_index, 1);
	assert_true(plan.write_ca_certs);
	assert_false(plan.replace_ca_certs);
	/* Add: a new certificate */
	assert_null(rt_update_set_action(&u, 0x02, RT_ACT_ADD));
	assert_null(rt_update_plan(&u, &plan));
	assert_int_equal(plan.steps[0].cert_index, RT_CARD_CERT_NEW);
	/* Replace CA certificate(s) alone */
	assert_null(rt_update_set_action(&u, 0x02, RT_ACT_BLANK));
	assert_null(rt_update_set_ca_certs(&u, true));
	assert_null(rt_update_plan(&u, &plan));
	assert_int_equal(plan.nsteps, 0);
	assert_true(plan.write_ca_certs && plan.replace_ca_certs);
	assert_int_equal(plan.card_pins, 0);
	/* a key whose first certificate is a TC: Add refused with its second
	 * certificate chosen too */
	rt_contents cttc = ct;
	cttc.rows[1].tc = true;
	rt_update utc;
	rt_update_init(&utc, &cttc);
	assert_null(rt_update_set_procedure(&utc, pp));
	rt_update_set_tc_results(&utc, &tr, 1);
	assert_null(rt_update_choose_cert(&utc, 0x02, 1));
	e = rt_update_check_action(&utc, 0x02, RT_ACT_ADD, 0);
	assert_true(rt_err_has(e, RT_E_RULE));
	assert_non_null(strstr(rt_err_msg(e), "transport certificate"));
	rt_err_free(e);
	/* refused under a procedure that does not write them, and on PIV */
	rt_update u2;
	rt_update_init(&u2, &ct);
	assert_null(rt_update_set_procedure(&u2, io));
	e = rt_update_set_ca_certs(&u2, true);
	assert_true(rt_err_has(e, RT_E_RULE));
	assert_non_null(strstr(rt_err_msg(e), "does not write CA certificates"));
	rt_err_free(e);
	snprintf(ct.profile, sizeof(ct.profile), "piv");
	rt_update_init(&u2, &ct);
	e = rt_update_set_ca_certs(&u2, true);
	assert_true(rt_err_has(e, RT_E_RULE));
	assert_non_null(strstr(rt_err_msg(e), "a PIV card holds no CA certificates"));
	rt_err_free(e);
	rt_config_free(cfg);
}

static void
test_offered(void **state)
{
	rt_config *cfg = procs();
	rt_contents ct;
	rt_update u;
	const rt_procedure *out[8];
	tc_card(&ct);
	rt_update_init(&u, &ct);
	size_t n = rt_update_offered(&u, cfg, out, 8);
	assert_int_equal(n, 2);	/* only those with TC controls */
	assert_string_equal(out[0]->name, "tc-redo");
	assert_string_equal(out[1]->name, "issue-only");
	refused(rt_update_set_procedure(&u, rt_config_procedure(cfg, "renew")),
	    RT_E_RULE, "procedure 'renew' has no TC-authenticity controls: the "
	    "card holds a transport certificate (slot 9a)");
	assert_null(u.proc);

	plain_card(&ct);
	rt_update_init(&u, &ct);
	assert_int_equal(rt_update_offered(&u, cfg, out, 8), 3);
	rt_config_free(cfg);
}

static void
test_add_refusals(void **state)
{
	rt_config *cfg = procs();
	rt_contents ct;
	rt_update u;
	tc_card(&ct);
	rt_update_init(&u, &ct);
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "tc-redo")));
	/* Add on a TC key: refused with the reason, before anything else */
	refused(rt_update_set_action(&u, 0x9a, RT_ACT_ADD), RT_E_RULE,
	    "Add refused on slot 9a: the key holds a transport certificate and "
	    "Add would keep the TC on the card");
	/* Add on PIV: one certificate per key */
	refused(rt_update_set_action(&u, 0x9e, RT_ACT_ADD), RT_E_RULE,
	    "Add not possible on slot 9e: a PIV card holds one certificate per key");
	plain_card(&ct);
	rt_update_init(&u, &ct);
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "renew")));
	/* renew allows Add, PIV does not */
	refused(rt_update_check_action(&u, 0x9a, RT_ACT_ADD, 0), RT_E_RULE,
	    "a PIV card holds one certificate per key");
	assert_int_equal(u.action[0], RT_ACT_BLANK);
	rt_config_free(cfg);
}

static void
test_procedure_rules(void **state)
{
	rt_config *cfg = procs();
	rt_contents ct;
	rt_update u;
	plain_card(&ct);
	rt_update_init(&u, &ct);
	refused(rt_update_set_action(&u, 0x9a, RT_ACT_REDO), RT_E_RULE,
	    "choose a procedure first");
	assert_null(rt_update_check_action(&u, 0x9a, RT_ACT_BLANK, 0));
	refused(rt_update_check_action(&u, 0x82, RT_ACT_REDO, 0), RT_E_NOT_FOUND,
	    "no key in slot 82");
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "issue-only")));
	refused(rt_update_set_action(&u, 0x9a, RT_ACT_REDO), RT_E_RULE,
	    "Redo refused on slot 9a: procedure 'issue-only' does not allow it "
	    "(it allows: Issue)");
	refused(rt_update_set_action(&u, 0x9a, RT_ACT_ISSUE), RT_E_RULE,
	    "key algorithm ECCP256 is not accepted by procedure 'issue-only' "
	    "(it accepts: ECCP384)");
	refused(rt_update_set_action(&u, 0x9c, RT_ACT_ISSUE), RT_E_RULE,
	    "procedure 'issue-only' has no certificate profile for this slot");
	refused(rt_update_set_action(&u, 0x9d, RT_ACT_ISSUE), RT_E_RULE,
	    "its certificate cannot be read (does not parse)");

	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "renew")));
	refused(rt_update_set_action(&u, 0x9e, RT_ACT_REDO), RT_E_RULE,
	    "takes the subject from the slot's certificate and the slot holds none");
	assert_null(rt_update_set_action(&u, 0x9a, RT_ACT_REDO));
	assert_null(rt_update_set_action(&u, 0x9c, RT_ACT_ISSUE));
	assert_false(rt_update_tc_needed(&u));	/* no TC on the card */
	/* switching procedure resets actions it does not allow */
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "issue-only")));
	assert_int_equal(u.action[0], RT_ACT_BLANK);
	assert_int_equal(u.action[1], RT_ACT_BLANK);
	rt_config_free(cfg);
}

static const char p_typed[] =
"name: typed\ndescription: d\nactions: [issue, redo]\n"
"profiles: {9a: piv-auth, 9c: piv-sign}\nsubject: officer\nsan: officer\n"
"san_types: [email, upn]\n"
"qc_statements: {fixed: [compliance], officer_may_add: [esign], "
"retention_years: 7}\n";

/* The typed-value dialog of the tests: answers in order. */
typedef struct {
	const char *answers[4];
	size_t next;
	char fields[4][16];
} script;

static rt_err *
scripted(void *ctx, uint8_t slot, const char *field, const char *prompt,
    char *buf, size_t cap, size_t *len)
{
	script *sc = ctx;
	(void)slot;
	(void)prompt;
	assert_true(sc->next < 4 && sc->answers[sc->next] != NULL);
	snprintf(sc->fields[sc->next], sizeof(sc->fields[0]), "%s", field);
	const char *a = sc->answers[sc->next++];
	assert_true(strlen(a) <= cap);
	memcpy(buf, a, strlen(a));
	*len = strlen(a);
	return NULL;
}

/* Subject and SAN typed by the officer, QC statements fixed + added: the
 * setters' checks (slot and field named), what the dialog is asked, the
 * plan, and the Extensions of the CertTemplate. */
static void
test_typed_requests(void **state)
{
	rt_config *cfg;
	rt_contents ct;
	rt_update u;
	rt_plan plan;
	assert_null(rt_config_new(&cfg));
	assert_int_equal(rt_config_parse_procedure(cfg, "typed.yaml", p_typed,
	    strlen(p_typed)), 0);
	/* the same under another name (parsed before any procedure pointer
	 * is taken: parsing may move them) */
	char p2[sizeof(p_typed) + 1];
	snprintf(p2, sizeof(p2), "name: other%s", p_typed + strlen("name: typed"));
	assert_int_equal(rt_config_parse_procedure(cfg, "other.yaml", p2,
	    strlen(p2)), 0);
	const rt_procedure *p = rt_config_procedure(cfg, "typed");
	plain_card(&ct);
	rt_update_init(&u, &ct);
	refused(rt_update_set_subject(&u, 0x9a, "CN=x"), RT_E_RULE,
	    "slot 9a: subject: choose the procedure first");
	assert_null(rt_update_set_procedure(&u, p));
	assert_null(rt_update_set_action(&u, 0x9a, RT_ACT_ISSUE));
	refused(rt_update_set_subject(&u, 0x82, "CN=x"), RT_E_NOT_FOUND,
	    "slot 82: subject: the card holds no key there");
	refused(rt_update_set_subject(&u, 0x9a, "Nonsense=1"), RT_E_ARG,
	    "slot 9a: subject: subject \"Nonsense=1\" does not parse");
	refused(rt_update_set_subject(&u, 0x9a, "CN="), RT_E_ARG,
	    "has an empty attribute");
	refused(rt_update_add_san(&u, 0x9a, "dns:host.example.org"), RT_E_RULE,
	    "slot 9a: dns: procedure 'typed' allows subjectAltName types "
	    "email, upn only");
	refused(rt_update_add_san(&u, 0x9a, "email:jane"), RT_E_ARG,
	    "slot 9a: email 'jane': expected local@domain");
	refused(rt_update_add_san(&u, 0x9a, "mail:jane@x.org"), RT_E_ARG,
	    "unknown type 'mail'");
	refused(rt_update_add_qc(&u, 0x9a, "sscd"), RT_E_RULE,
	    "slot 9a: QC statement sscd: procedure 'typed' does not let the "
	    "officer add it (officer_may_add: esign)");
	refused(rt_update_add_qc(&u, 0x9a, "gold"), RT_E_ARG,
	    "unknown QC statement 'gold'");
	assert_null(rt_update_add_qc(&u, 0x9a, "esign"));

	/* the plan shows what is still to be typed */
	assert_int_equal(rt_update_missing(&u, 0x9a), RT_REQ_NEED_SUBJECT |
	    RT_REQ_NEED_SAN(RT_SAN_EMAIL | RT_SAN_UPN));
	assert_null(rt_update_plan(&u, &plan));
	assert_string_equal(plan.steps[0].subject, "");
	assert_int_equal(plan.steps[0].subject_src, RT_SRC_OFFICER);
	assert_true(plan.steps[0].has_qc);
	assert_true(plan.steps[0].qc.compliance);
	assert_int_equal(plan.steps[0].qc.types, RT_QC_TYPE_ESIGN);
	assert_int_equal(plan.steps[0].qc.retention_years, 7);
	/* no dialog: a usage error naming slot and field */
	refused(rt_update_ask_typed(&u, NULL), RT_E_USAGE,
	    "slot 9a: subject: procedure 'typed' has the subject typed by the "
	    "officer and none was given");
	/* a dialog: subject, then email, then upn left empty */
	script sc = { { "CN=Jane Doe,O=Example", "jane@example.org", "", NULL },
	    0, { "" } };
	rt_update_dialogs d = { .ctx = &sc, .typed = scripted };
	assert_null(rt_update_ask_typed(&u, &d));
	assert_int_equal(sc.next, 3);
	assert_string_equal(sc.fields[0], "subject");
	assert_string_equal(sc.fields[1], "email");
	assert_string_equal(sc.fields[2], "upn");
	assert_int_equal(rt_update_missing(&u, 0x9a), 0);
	assert_null(rt_update_plan(&u, &plan));
	assert_string_equal(plan.steps[0].subject, "CN=Jane Doe,O=Example");
	assert_string_equal(plan.steps[0].san, "email:jane@example.org");

	/* the CertTemplate's Extensions: the SAN and the qcStatements */
	uint8_t *der;
	size_t len;
	assert_null(eng_build_extensions(&u, 0, &der, &len));
	assert_non_null(der);
	/* wrap as a certificate-shaped TBS to look the extensions up with
	 * rt_cert_ext_find: SEQ { SEQ { INT, SEQ, SEQ, SEQ, SEQ, SEQ, [3] } } */
	uint8_t cert[1024];
	size_t o = 0, tbs_len = 3 + 5 * 2 + 4 + len;
	assert_true(len < 700);
	cert[o++] = 0x30; cert[o++] = 0x82;
	cert[o++] = (uint8_t)((tbs_len + 4) >> 8);
	cert[o++] = (uint8_t)(tbs_len + 4);
	cert[o++] = 0x30; cert[o++] = 0x82;
	cert[o++] = (uint8_t)(tbs_len >> 8); cert[o++] = (uint8_t)tbs_len;
	cert[o++] = 0x02; cert[o++] = 0x01; cert[o++] = 0x01;
	for (int i = 0; i < 5; i++) {
		cert[o++] = 0x30;
		cert[o++] = 0x00;
	}
	cert[o++] = 0xA3; cert[o++] = 0x82;
	cert[o++] = (uint8_t)(len >> 8); cert[o++] = (uint8_t)len;
	memcpy(cert + o, der, len);
	o += len;
	const uint8_t *v;
	size_t vl;
	char desc[200];
	assert_null(rt_cert_ext_find(cert, o, RT_OID_SAN, &v, &vl, NULL));
	eng_san_describe(v, vl, desc, sizeof(desc));
	assert_string_equal(desc, "email:jane@example.org");
	assert_null(rt_cert_ext_find(cert, o, RT_OID_QC_STATEMENTS, &v, &vl,
	    NULL));
	rt_qc q;
	assert_null(rt_qc_decode(v, vl, &q));
	assert_true(q.compliance);
	assert_false(q.sscd);
	assert_int_equal(q.types, RT_QC_TYPE_ESIGN);
	assert_int_equal(q.retention_years, 7);
	refused(rt_cert_ext_find(cert, o, "2.5.29.15", &v, &vl, NULL),
	    RT_E_NOT_FOUND, "no extension 2.5.29.15");
	free(der);

	/* a new procedure forgets what was typed for the old one */
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "other")));
	assert_int_equal(rt_update_missing(&u, 0x9a), RT_REQ_NEED_SUBJECT |
	    RT_REQ_NEED_SAN(RT_SAN_EMAIL | RT_SAN_UPN));
	rt_config_free(cfg);
}

static void
test_tc_rules(void **state)
{
	rt_config *cfg = procs();
	rt_contents ct;
	rt_update u;
	rt_plan plan;
	tc_card(&ct);
	rt_update_init(&u, &ct);
	const rt_procedure *p = rt_config_procedure(cfg, "tc-redo");
	assert_null(rt_update_set_procedure(&u, p));
	assert_null(rt_update_set_action(&u, 0x9a, RT_ACT_REDO));
	assert_null(rt_update_set_action(&u, 0x9c, RT_ACT_ISSUE));
	refused(rt_update_set_action(&u, 0x9e, RT_ACT_REDO), RT_E_RULE,
	    "takes the subject from the transport certificate and the slot "
	    "holds none");
	assert_true(rt_update_tc_needed(&u));
	/* the plan needs the controls to have run ... */
	refused(rt_update_plan(&u, &plan), RT_E_RULE,
	    "TC controls of procedure 'tc-redo' have not run yet");
	/* ... and passed on every TC of the card */
	passed_tc(&u, true);
	assert_false(rt_update_tc_needed(&u));
	refused(rt_update_plan(&u, &plan), RT_E_RULE,
	    "TC control failed on slot 9c (TC_POSSESSION: signature does not "
	    "verify): no key of this card may be updated");
	passed_tc(&u, false);
	assert_null(rt_update_plan(&u, &plan));
	assert_int_equal(plan.nsteps, 2);
	assert_true(plan.tc_verified);
	assert_int_equal(plan.steps[0].slot, 0x9a);
	assert_int_equal(plan.steps[0].action, RT_ACT_REDO);
	assert_true(plan.steps[0].writes_card);
	assert_string_equal(plan.steps[0].profile, "piv-auth");
	assert_non_null(strstr(plan.steps[0].before, "TC \"Card 9a\" from Transport CA"));
	assert_non_null(strstr(plan.steps[0].after, "replaces the TC on the card"));
	assert_int_equal(plan.steps[1].action, RT_ACT_ISSUE);
	assert_false(plan.steps[1].writes_card);
	assert_non_null(strstr(plan.steps[1].after, "card unchanged"));
	assert_int_equal(plan.card_pins, 2);
	assert_true(plan.operator_credential);
	assert_false(plan.write_ca_certs);	/* PIV cannot hold CA certificates */
	assert_int_equal(plan.nnotes, 1);
	assert_non_null(strstr(plan.notes[0], "PIV profile cannot hold them"));
	assert_string_equal(plan.card, "serial 10000001");

	/* TC configuration follows the procedure */
	rt_tc_config base = { .bind = RT_TC_BIND_AUTO, .attest = RT_TC_ATTEST_REQUIRED };
	rt_tc_config out;
	rt_update_tc_config(&u, &base, &out);
	assert_int_equal(out.bind, RT_TC_BIND_AUTO);
	assert_int_equal(out.attest, RT_TC_ATTEST_IF_OFFERED);
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "issue-only")));
	rt_update_tc_config(&u, &base, &out);
	assert_int_equal(out.bind, RT_TC_BIND_NONE);
	assert_int_equal(out.attest, RT_TC_ATTEST_OFF);
	/* the new procedure's controls have not run */
	assert_false(u.tc_ran);

	char *txt = NULL;
	size_t tl = 0;
	FILE *f = open_memstream(&txt, &tl);
	rt_plan_print(&plan, f);
	fclose(f);
	assert_non_null(strstr(txt, "9a  Redo   ECCP256  TC \"Card 9a\""));
	assert_non_null(strstr(txt, "-> new certificate (profile piv-auth) replaces the TC"));
	assert_non_null(strstr(txt, "Card PINs needed: 2"));
	free(txt);
	rt_config_free(cfg);
}

static void
test_nothing_to_do(void **state)
{
	rt_config *cfg = procs();
	rt_contents ct;
	rt_update u;
	rt_plan plan;
	rt_submit_result res;
	tc_card(&ct);
	rt_update_init(&u, &ct);
	/* no procedure, no action: a valid, empty plan; nothing is sent */
	assert_null(rt_update_plan(&u, &plan));
	assert_int_equal(plan.nsteps, 0);
	assert_null(rt_update_submit(&u, &plan, NULL, NULL, &res));
	assert_false(res.sent);
	char *txt = NULL;
	size_t tl = 0;
	FILE *f = open_memstream(&txt, &tl);
	rt_plan_print(&plan, f);
	fclose(f);
	assert_non_null(strstr(txt, "Nothing to do"));
	free(txt);
	/* a non-empty plan without a card, CM host and journal: refused
	 * before anything is sent */
	assert_null(rt_update_set_procedure(&u, rt_config_procedure(cfg,
	    "tc-redo")));
	assert_null(rt_update_set_action(&u, 0x9d, RT_ACT_REDO));
	passed_tc(&u, false);
	assert_null(rt_update_plan(&u, &plan));
	refused(rt_update_submit(&u, &plan, NULL, NULL, &res), RT_E_ARG,
	    "the card, the CM host and the journal are needed");
	assert_false(res.sent);
	rt_config_free(cfg);
}

static void
test_station_pick(void **state)
{
	rt_config *cfg;
	assert_null(rt_config_new(&cfg));
	rt_reader_cand c[4] = {
		{ .name = "vpiv 00 00", .card_present = true, .officer_card = true },
		{ .name = "vpiv 00 01", .card_present = true },
		{ .name = "vpiv 01 00", .card_present = false },
		{ .name = "Printer Encoder 0", .card_present = true },
	};
	rt_station_readers r;
	/* auto: the officer card is found, the target is ambiguous */
	refused(rt_station_pick(cfg, c, 4, &r), RT_E_NO_READER,
	    "readers.target (auto): 2 readers hold a matching card that is not "
	    "the officer's; expected one");
	assert_string_equal(r.officer, "vpiv 00 00");
	assert_null(rt_station_pick(cfg, c, 3, &r));
	assert_string_equal(r.officer, "vpiv 00 00");
	assert_string_equal(r.target, "vpiv 00 01");
	/* by pattern: the encoder */
	cfg->target_reader.match = RT_READER_PATTERN;
	snprintf(cfg->target_reader.value, sizeof(cfg->target_reader.value),
	    "Printer*");
	assert_null(rt_station_pick(cfg, c, 4, &r));
	assert_string_equal(r.target, "Printer Encoder 0");
	/* officer by name; target auto excludes it */
	cfg->target_reader.match = RT_READER_AUTO;
	cfg->officer_reader.match = RT_READER_NAME;
	snprintf(cfg->officer_reader.value, sizeof(cfg->officer_reader.value),
	    "Printer Encoder 0");
	refused(rt_station_pick(cfg, c, 4, &r), RT_E_NO_READER, "2 readers");
	c[0].card_present = false;
	assert_null(rt_station_pick(cfg, c, 4, &r));
	assert_string_equal(r.officer, "Printer Encoder 0");
	assert_string_equal(r.target, "vpiv 00 01");
	/* nothing at all */
	refused(rt_station_pick(cfg, c, 0, &r), RT_E_NO_READER, "0 readers");
	rt_config_free(cfg);
}

/* ---- journal ---------------------------------------------------------------- */

static char jdir[64];

static int
mkjdir(void **state)
{
	snprintf(jdir, sizeof(jdir), "/tmp/rt-journal-XXXXXX");
	assert_non_null(mkdtemp(jdir));
	return 0;
}

static int
rmjdir(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", jdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const uint8_t fake_cert[] = { 0x30, 0x82, 0x00, 0x04, 0xde, 0xad,
    0xbe, 0xef, 0x00, '\n', ' ', '%' };

static void
test_journal_roundtrip(void **state)
{
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/j", jdir);
	rt_journal *j;
	assert_null(rt_journal_open(sub, &j));	/* created */
	rt_jop_info info = { .card = "serial 10000001", .reader = "vpiv 00 01",
	    .procedure = "tc-redo", .officer = "CN=Olivia Officer, O=x" };
	char id[64];
	rt_jop_file *f;
	assert_null(rt_journal_begin(j, &info, id, sizeof(id), &f));
	rt_jrec r = { .step = RT_J_PLAN, .slot = 0x9a, .action = "redo",
	    .profile = "piv-auth", .text = "TC \"Card 9a\" -> new = 100%" };
	assert_null(rt_journal_append(f, &r));
	rt_jrec iss = { .step = RT_J_ISSUED, .slot = 0x9a, .serial = "01ab",
	    .cert = fake_cert, .cert_len = sizeof(fake_cert) };
	assert_null(rt_journal_append(f, &iss));
	rt_jrec bad = { .step = RT_J_WRITE, .text = "card PIN=123456" };
	refused(rt_journal_append(f, &bad), RT_E_ARG, "looks like a secret");
	rt_jrec beg = { .step = RT_J_BEGIN };
	refused(rt_journal_append(f, &beg), RT_E_ARG, "bad step");

	rt_jop op;
	assert_null(rt_journal_read(j, id, &op));
	assert_string_equal(op.info.card, "serial 10000001");
	assert_string_equal(op.info.officer, "CN=Olivia Officer, O=x");
	assert_int_equal(op.nrecs, 2);
	assert_int_equal(op.recs[0].step, RT_J_PLAN);
	assert_int_equal(op.recs[0].slot, 0x9a);
	assert_string_equal(op.recs[0].action, "redo");
	assert_string_equal(op.recs[0].text, "TC \"Card 9a\" -> new = 100%");
	assert_int_equal(op.recs[1].cert_len, sizeof(fake_cert));
	assert_memory_equal(op.recs[1].cert, fake_cert, sizeof(fake_cert));
	assert_string_equal(op.recs[1].serial, "01ab");
	assert_false(op.complete);
	assert_false(op.torn);
	assert_false(op.corrupt);
	assert_int_equal(op.last, RT_J_ISSUED);
	rt_jop_free(&op);

	rt_jop *ops;
	size_t n;
	assert_null(rt_journal_incomplete(j, &ops, &n));
	assert_int_equal(n, 1);
	assert_string_equal(ops[0].id, id);
	rt_jops_free(ops, n);

	rt_jrec end = { .step = RT_J_END };
	assert_null(rt_journal_append(f, &end));
	rt_journal_file_close(f);
	assert_null(rt_journal_incomplete(j, &ops, &n));
	assert_int_equal(n, 0);
	rt_jops_free(ops, n);
	refused(rt_journal_read(j, "../etc/passwd", &op), RT_E_ARG, "bad journal id");
	refused(rt_journal_reopen(j, "nope", &f), RT_E_NOT_FOUND, "nope");
	rt_journal_close(j);
}

static void
test_journal_crash(void **state)
{
	rt_journal *j;
	assert_null(rt_journal_open(jdir, &j));
	rt_jop_info info = { .card = "serial 2", .procedure = "tc-redo" };
	char id[64], id2[64];
	rt_jop_file *f;
	assert_null(rt_journal_begin(j, &info, id, sizeof(id), &f));
	rt_jrec r = { .step = RT_J_REQUEST, .text = "2 keys" };
	assert_null(rt_journal_append(f, &r));
	rt_jrec iss = { .step = RT_J_ISSUED, .slot = 0x9c, .serial = "77",
	    .cert = fake_cert, .cert_len = sizeof(fake_cert) };
	assert_null(rt_journal_append(f, &iss));
	rt_journal_file_close(f);

	/* crash while writing the last record: cut the file inside it */
	char path[256];
	snprintf(path, sizeof(path), "%s/%s.journal", jdir, id);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 7), 0);
	rt_jop op;
	assert_null(rt_journal_read(j, id, &op));
	assert_true(op.torn);
	assert_false(op.corrupt);
	assert_int_equal(op.nrecs, 1);
	assert_int_equal(op.last, RT_J_REQUEST);
	rt_jop_free(&op);

	/* a complete record whose CRC no longer matches, followed by more:
	 * corruption (listed, never dropped) */
	assert_null(rt_journal_reopen(j, id, &f));
	rt_jrec w = { .step = RT_J_WRITE, .slot = 0x9c };
	assert_null(rt_journal_append(f, &w));	/* after the torn bytes */
	rt_journal_file_close(f);
	assert_null(rt_journal_read(j, id, &op));
	/* the torn bytes and the new record share a line: one bad line in
	 * the middle is not possible here, the last line is the bad one */
	assert_true(op.torn || op.corrupt);
	rt_jop_free(&op);

	/* a second, complete operation is not listed */
	assert_null(rt_journal_begin(j, &info, id2, sizeof(id2), &f));
	rt_jrec ab = { .step = RT_J_ABORT, .text = "rolled back" };
	assert_null(rt_journal_append(f, &ab));
	rt_journal_file_close(f);
	/* a file with garbage only: listed as corrupt */
	char gpath[256];
	snprintf(gpath, sizeof(gpath), "%s/garbage.journal", jdir);
	FILE *g = fopen(gpath, "w");
	fputs("RTJ1 00000000 step=begin\n", g);
	fclose(g);
	rt_jop *ops;
	size_t n;
	assert_null(rt_journal_incomplete(j, &ops, &n));
	assert_int_equal(n, 2);
	bool saw_garbage = false, saw_id = false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ops[i].id, "garbage") == 0) {
			saw_garbage = true;
			assert_true(ops[i].corrupt);
		}
		if (strcmp(ops[i].id, id) == 0)
			saw_id = true;
		assert_true(strcmp(ops[i].id, id2) != 0);
	}
	assert_true(saw_garbage && saw_id);
	rt_jops_free(ops, n);
	rt_journal_close(j);
}

/* Hostile journal files: one over 16 MiB (sparse), a symbolic link to
 * /dev/zero, a FIFO: each listed as CORRUPT with the reason, read without
 * hanging or reading them, and the real open operation still listed. */
static void
test_journal_hostile(void **state)
{
	char sub[128], path[300];
	snprintf(sub, sizeof(sub), "%s/hostile", jdir);
	rt_journal *j;
	assert_null(rt_journal_open(sub, &j));
	rt_jop_info info = { .card = "serial 3", .procedure = "tc-redo" };
	char id[64];
	rt_jop_file *f;
	assert_null(rt_journal_begin(j, &info, id, sizeof(id), &f));
	rt_jrec r = { .step = RT_J_REQUEST, .text = "1 key" };
	assert_null(rt_journal_append(f, &r));
	rt_journal_file_close(f);

	snprintf(path, sizeof(path), "%s/big.journal", sub);
	FILE *b = fopen(path, "w");
	assert_non_null(b);
	fclose(b);
	assert_int_equal(truncate(path, 17L << 20), 0);
	snprintf(path, sizeof(path), "%s/zero.journal", sub);
	assert_int_equal(symlink("/dev/zero", path), 0);
	snprintf(path, sizeof(path), "%s/fifo.journal", sub);
	assert_int_equal(mkfifo(path, 0600), 0);

	rt_jop *ops;
	size_t n;
	assert_null(rt_journal_incomplete(j, &ops, &n));
	assert_int_equal(n, 4);
	int unreadable = 0;
	bool saw_id = false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ops[i].id, id) == 0) {
			saw_id = true;
			assert_false(ops[i].corrupt);
			continue;
		}
		assert_true(ops[i].corrupt);
		assert_true(ops[i].unreadable[0] != '\0');
		if (strcmp(ops[i].id, "big") == 0)
			assert_non_null(strstr(ops[i].unreadable, "larger than"));
		if (strcmp(ops[i].id, "zero") == 0)
			assert_non_null(strstr(ops[i].unreadable, "symbolic link"));
		if (strcmp(ops[i].id, "fifo") == 0)
			assert_non_null(strstr(ops[i].unreadable, "not a regular"));
		unreadable++;
	}
	assert_int_equal(unreadable, 3);
	assert_true(saw_id);
	rt_jops_free(ops, n);
	rt_journal_close(j);
}

static void
test_journal_frame(void **state)
{
	/* CRC-32 check value */
	assert_int_equal(rt_crc32("123456789", 9), 0xCBF43926u);
	/* a journal path that is a file */
	char p[128];
	snprintf(p, sizeof(p), "%s/file", jdir);
	FILE *f = fopen(p, "w");
	fclose(f);
	rt_journal *j;
	refused(rt_journal_open(p, &j), RT_E_IO, "not a directory");
}

static void
test_audit(void **state)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/audit.log", jdir);
	rt_audit *a;
	assert_null(rt_audit_open(p, &a));
	rt_audit_line l = { .at = 1700000000, .officer = "CN=Olivia \"O\" Officer",
	    .card = "serial 10000001", .slot = 0x9a, .action = "redo",
	    .procedure = "tc-redo", .serial = "01ab", .result = "ok" };
	assert_null(rt_audit_append(a, &l));
	rt_audit_line l2 = { .at = 1700000001, .officer = "x", .card = "c",
	    .slot = 0x9c, .action = "issue", .procedure = "tc-redo",
	    .result = "failed: PIN_WRONG\n(2 left)" };
	assert_null(rt_audit_append(a, &l2));
	rt_audit_line l3 = l2;
	l3.result = "pin=1234";
	refused(rt_audit_append(a, &l3), RT_E_ARG, "looks like a secret");
	rt_audit_close(a);
	FILE *f = fopen(p, "r");
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_string_equal(buf,
	    "2023-11-14T22:13:20Z officer=\"CN=Olivia \\\"O\\\" Officer\" "
	    "card=\"serial 10000001\" slot=9a action=redo procedure=\"tc-redo\" "
	    "serial=01ab result=\"ok\"\n"
	    "2023-11-14T22:13:21Z officer=\"x\" card=\"c\" slot=9c action=issue "
	    "procedure=\"tc-redo\" serial=- result=\"failed: PIN_WRONG(2 left)\"\n");
	/* append-only: a second open appends */
	assert_null(rt_audit_open(p, &a));
	assert_null(rt_audit_append(a, &l));
	rt_audit_close(a);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_true((size_t)st.st_size > n);
	assert_int_equal(st.st_mode & 0777, 0600);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_pkcs15_rules),
		cmocka_unit_test(test_pkcs15_pins),
		cmocka_unit_test(test_offered),
		cmocka_unit_test(test_add_refusals),
		cmocka_unit_test(test_procedure_rules),
		cmocka_unit_test(test_tc_rules),
		cmocka_unit_test(test_typed_requests),
		cmocka_unit_test(test_nothing_to_do),
		cmocka_unit_test(test_station_pick),
		cmocka_unit_test_setup_teardown(test_journal_roundtrip, mkjdir, rmjdir),
		cmocka_unit_test_setup_teardown(test_journal_crash, mkjdir, rmjdir),
		cmocka_unit_test_setup_teardown(test_journal_frame, mkjdir, rmjdir),
		cmocka_unit_test_setup_teardown(test_journal_hostile, mkjdir, rmjdir),
		cmocka_unit_test_setup_teardown(test_audit, mkjdir, rmjdir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
