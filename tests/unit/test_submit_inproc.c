/* Unit tests: the whole submit of an update (rt_update_submit: engine +
 * PIV card layer + CMP client + cmhost's service + its SQLite database)
 * in one process - the target card is a vpiv core behind the in-process
 * transport, the CM host is cmhost's CMP service behind the client's
 * transport hook (cmhost_inproc.h), no HTTP, no pcscd.
 *
 * Covered: Redo with the management key the CM host holds (two round
 * trips: cr -> ip carrying the key, certConf -> pkiConf; no genm, no
 * operator credential asked), Redo without a key held or over plain HTTP
 * (the operator credential asked after the ip, before the write), the
 * operator credential cancelled (nothing written, both rejected at the
 * CM host), Issue (saved, no key asked), a wrong card PIN (nothing sent,
 * nothing issued), the CM host rejecting (nothing issued, the journal
 * closed), the write of the certificate answered 6F00 or a bare 9000
 * (read again: the old certificate, so rejected, nothing open), the CM
 * host lost before the certConf (the operation stays open; rt_recover_op
 * confirms what is on the card), the grace period run
 * out before recovery (revoked at the CM host: recorded, the Redo command
 * named), the cr's answer lost (outcome unknown, not "not issued"; with
 * no txStatus, closed with the CM host's revocation deciding), and `raterm cacerts` without an
 * officer (an unprotected genm answered; any other unprotected request
 * refused). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "raterm/card.h"
#include "raterm/cmhost.h"
#include "raterm/cmhost_db.h"
#include "raterm/cmhost_inproc.h"
#include "raterm/cmp.h"
#include "raterm/config.h"
#include "raterm/contents.h"
#include "raterm/engine.h"
#include "raterm/journal.h"
#include "raterm/signer.h"
#include "raterm/transport.h"
#include "raterm/util.h"
#include "raterm/vpiv.h"
#include "raterm/vpiv_transport.h"

#define CARD_PIN "123456"
/* the vpiv default management key (3DES) */
static const uint8_t default_mgmt[24] = {
	1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
};

static const char p_renew[] =
"name: renew\ndescription: renew the card's certificates\n"
"actions: [redo, issue]\nprofiles: {9a: piv-auth, 9c: piv-sign}\n"
"subject: card\n";
static const char p_badprofile[] =
"name: badprofile\ndescription: a profile the CM host does not know\n"
"actions: [redo]\nprofiles: {9a: nosuch}\nsubject: card\n";

static char pki_top[64];	/* cmhost init, once per run */
static char pki[128];

static void
ok(rt_err *e)
{
	if (e != NULL) {
		char m[1200];
		rt_err_format(e, m, sizeof(m));
		rt_err_free(e);
		fail_msg("unexpected error: %s", m);
	}
}

static void
expect(rt_err *e, rt_err_kind kind, const char *part)
{
	char m[1200];
	if (e == NULL)
		fail_msg("expected %s, got success", rt_err_kind_name(kind));
	rt_err_format(e, m, sizeof(m));
	if (!rt_err_has(e, kind) || (part != NULL && strstr(m, part) == NULL))
		fail_msg("expected %s with \"%s\", got: %s",
		    rt_err_kind_name(kind), part ? part : "", m);
	rt_err_free(e);
}

static int
group_setup(void **state)
{
	bool created;
	(void)state;
	snprintf(pki_top, sizeof(pki_top), "/tmp/raterm-subinp.XXXXXX");
	if (mkdtemp(pki_top) == NULL)
		return -1;
	snprintf(pki, sizeof(pki), "%s/cmhost", pki_top);
	rt_err *e = cmh_init(pki, 0, &created);
	if (e != NULL) {
		rt_err_free(e);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki_top);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the fixture: a card, the CM host, the station's pieces ------------------ */

typedef struct {
	char dir[64];		/* journal, issued certificates, audit */
	char jdir[96], idir[96], audit_path[96];
	vpiv *v;		/* the target card (owned by the transport) */
	rt_transport *t;
	rt_card *card;
	rt_contents ct;
	bool have_ct;
	rt_config *cfg;
	rt_update u;
	cmh_inproc *cm;
	rt_signer *officer;
	cmp_client *cmp;
	rt_journal *journal;
	rt_audit *audit;
	rt_submit_env env;
	/* the dialogs */
	const char *pin;		/* the card PIN typed */
	bool op_cancel;			/* the operator credential dialog */
	int npin, nop;
} fx;

/* A card in use: P-256 keys in 9A and 9C with certificates of the CM
 * host's issuing CA. */
static vpiv *
plain_card(uint32_t serial)
{
	vpiv *v;
	vpiv_params p;
	char cp[200], kp[200];
	memset(&p, 0, sizeof(p));
	p.serial = serial;
	ok(vpiv_create(NULL, &p, false, &v));
	snprintf(cp, sizeof(cp), "%s/ca.pem", pki);
	snprintf(kp, sizeof(kp), "%s/ca.key", pki);
	static const struct { uint8_t slot; const char *subject; } k[] = {
		{ 0x9a, "CN=Jane Doe 9a,O=raterm demo" },
		{ 0x9c, "CN=Jane Doe 9c,O=raterm demo" },
	};
	for (size_t i = 0; i < 2; i++) {
		ok(vpiv_generate_key(v, k[i].slot, VPIV_ALG_ECCP256,
		    VPIV_POLICY_DEFAULT, VPIV_POLICY_DEFAULT));
		vpiv_issue_req r = { .ca_cert_path = cp, .ca_key_path = kp,
		    .subject = k[i].subject };
		ok(vpiv_issue_cert(v, k[i].slot, &r));
	}
	return v;
}

static void
open_cmp(fx *f)
{
	cmp_client_opts co;
	memset(&co, 0, sizeof(co));
	cmh_inproc_client_opts(f->cm, &co);
	co.signer = f->officer;
	cmp_client_free(f->cmp);
	f->cmp = NULL;
	ok(cmp_client_new(&co, &f->cmp));
	f->env.cmp = f->cmp;
}

/* The CM host (this test's database) with plain_http as given. */
static void
start_cmhost(fx *f, bool plain_http)
{
	cmh_inproc_opts o = { .dir = pki, .plain_http = plain_http };
	rt_signer_free(f->officer);
	f->officer = NULL;
	cmh_inproc_free(f->cm);
	ok(cmh_inproc_new(&o, &f->cm));
	ok(cmh_inproc_officer(f->cm, &f->officer));
	f->env.officer = f->officer;
	open_cmp(f);
}

/* (Re)reads the card's Contents and starts a new update model on it. */
static void
reload(fx *f)
{
	if (f->have_ct)
		rt_contents_free(&f->ct);
	ok(rt_contents_read(f->card, NULL, time(NULL), 0, &f->ct));
	f->have_ct = true;
	rt_update_init(&f->u, &f->ct);
}

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/raterm-subinp1.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->jdir, sizeof(f->jdir), "%s/journal", f->dir);
	snprintf(f->idir, sizeof(f->idir), "%s/issued", f->dir);
	snprintf(f->audit_path, sizeof(f->audit_path), "%s/audit.log", f->dir);
	f->v = plain_card(10000042);
	ok(rt_vpiv_transport(f->v, true, "target", &f->t));
	ok(rt_card_open(f->t, &f->card));
	ok(rt_config_new(&f->cfg));
	assert_int_equal(rt_config_parse_procedure(f->cfg, "renew.yaml", p_renew,
	    strlen(p_renew)), 0);
	assert_int_equal(rt_config_parse_procedure(f->cfg, "bad.yaml",
	    p_badprofile, strlen(p_badprofile)), 0);
	ok(rt_journal_open(f->jdir, &f->journal));
	ok(rt_audit_open(f->audit_path, &f->audit));
	f->env.card = f->card;
	f->env.journal = f->journal;
	f->env.audit = f->audit;
	f->env.officer_name = "demo-officer";
	f->env.issued_dir = f->idir;
	f->pin = CARD_PIN;
	start_cmhost(f, false);
	reload(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;
	char cmd[128];
	cmp_client_free(f->cmp);
	rt_signer_free(f->officer);
	cmh_inproc_free(f->cm);
	rt_journal_close(f->journal);
	rt_audit_close(f->audit);
	if (f->have_ct)
		rt_contents_free(&f->ct);
	rt_card_close(f->card);
	rt_transport_close(f->t);	/* frees the vpiv */
	rt_config_free(f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	free(f);
	return system(cmd) == 0 ? 0 : -1;
}

static rt_err *
d_pin(void *ctx, unsigned which, const char *prompt, char *buf, size_t cap,
    size_t *len)
{
	fx *f = ctx;
	(void)which;
	(void)prompt;
	f->npin++;
	*len = strlen(f->pin);
	assert_true(*len <= cap);
	memcpy(buf, f->pin, *len);
	return NULL;
}

static rt_err *
d_operator(void *ctx, const char *prompt, uint8_t *buf, size_t cap,
    size_t *len)
{
	fx *f = ctx;
	(void)prompt;
	f->nop++;
	if (f->op_cancel)
		return rt_err_new(RT_E_CANCELLED, NULL, "operator credential: "
		    "cancelled");
	assert_true(cap >= sizeof(default_mgmt));
	memcpy(buf, default_mgmt, sizeof(default_mgmt));
	*len = sizeof(default_mgmt);
	return NULL;
}

static rt_update_dialogs
dialogs(fx *f)
{
	rt_update_dialogs d;
	memset(&d, 0, sizeof(d));
	d.ctx = f;
	d.card_pin = d_pin;
	d.operator_credential = d_operator;
	return d;
}

/* The plan of one action on one slot with a procedure. */
static void
choose(fx *f, const char *proc, uint8_t slot, rt_action a, rt_plan *plan)
{
	const rt_procedure *p = rt_config_procedure(f->cfg, proc);
	assert_non_null(p);
	ok(rt_update_set_procedure(&f->u, p));
	ok(rt_update_set_action(&f->u, slot, a));
	ok(rt_update_plan(&f->u, plan));
	assert_int_equal(plan->nsteps, 1);
}

/* The card's identity as the CM host keys it (hex of the GUID). */
static void
card_hex(fx *f, char *out, size_t cap)
{
	assert_true(f->ct.has_guid);
	rt_hex_encode(f->ct.guid, 16, out, cap, 0);
}

static void
hold_default_key(fx *f)
{
	char card[40];
	card_hex(f, card, sizeof(card));
	ok(cmh_db_mgmt_key_set(cmh_inproc_db(f->cm), card, "3des", default_mgmt,
	    sizeof(default_mgmt), (int64_t)time(NULL)));
}

typedef struct {
	unsigned n, waiting, confirmed, rejected;
	char serial[48];
} cert_states;

static void
count_state(void *ctx, const cmh_cert_rec *r)
{
	cert_states *cs = ctx;
	cs->n++;
	cs->waiting += r->state == CMH_CERT_WAITING;
	cs->confirmed += r->state == CMH_CERT_CONFIRMED;
	cs->rejected += r->state == CMH_CERT_REJECTED;
	snprintf(cs->serial, sizeof(cs->serial), "%s", r->serial);
}

static cert_states
cm_certs(fx *f)
{
	cert_states cs;
	memset(&cs, 0, sizeof(cs));
	ok(cmh_db_certs_each(cmh_inproc_db(f->cm), count_state, &cs));
	return cs;
}

/* The serial (hex) of the certificate now in slot. */
static void
slot_serial(fx *f, uint8_t slot, char *out, size_t cap)
{
	uint8_t *der = NULL;
	size_t len = 0;
	rt_cert_info ci;
	ok(rt_card_read_cert(f->card, slot, &der, &len));
	ok(rt_cert_info_parse(der, len, &ci));
	assert_true(strlen(ci.serial) < cap);
	memcpy(out, ci.serial, strlen(ci.serial) + 1);
	free(der);
}

static size_t
incomplete_ops(fx *f, rt_jop **ops)
{
	size_t n = 0;
	ok(rt_journal_incomplete(f->journal, ops, &n));
	return n;
}

static int
pin_left(fx *f)
{
	int pt, pl, ut, ul;
	vpiv_retries(f->v, &pt, &pl, &ut, &ul);
	return pl;
}

/* ---- the tests ------------------------------------------------------------------ */

/* Redo with the key the CM host holds: cr -> ip (with the key), the
 * write, certConf -> pkiConf. Two exchanges, no genm, no operator
 * credential; the new certificate on the card, confirmed. */
static void
test_redo_key_held(void **state)
{
	fx *f = *state;
	rt_plan plan;
	rt_submit_result res;
	rt_update_dialogs d = dialogs(f);
	char before[48], after[48];
	cmp_client_stats st;

	hold_default_key(f);
	slot_serial(f, 0x9a, before, sizeof(before));
	choose(f, "renew", 0x9a, RT_ACT_REDO, &plan);
	ok(rt_update_submit(&f->u, &plan, &f->env, &d, &res));
	assert_int_equal(res.state[0], RT_STEP_DONE);
	assert_true(res.sent && res.issued && res.confirmed);
	assert_int_equal(f->nop, 0);
	assert_int_equal(f->npin, 1);
	assert_int_equal(cmh_inproc_handled(f->cm, CMP_BODY_CR), 1);
	assert_int_equal(cmh_inproc_handled(f->cm, CMP_BODY_CERTCONF), 1);
	assert_int_equal(cmh_inproc_handled(f->cm, CMP_BODY_GENM), 0);
	assert_int_equal(cmh_inproc_handled(f->cm, -1), 2);
	cmp_client_get_stats(f->cmp, &st);
	assert_int_equal(st.exchanges, 2);
	assert_int_equal(st.connections, 0);	/* no HTTP */
	slot_serial(f, 0x9a, after, sizeof(after));
	assert_string_not_equal(before, after);
	assert_string_equal(after, res.serial[0]);
	cert_states cs = cm_certs(f);
	assert_int_equal(cs.n, 1);
	assert_int_equal(cs.confirmed, 1);
	rt_jop *ops;
	assert_int_equal(incomplete_ops(f, &ops), 0);
	rt_jops_free(ops, 0);
}

/* No key held, and a key held but the request over plain HTTP (as
 * listen.mgmt_keys_over_http refuses): the operator credential is asked
 * once, after the ip; still two exchanges. */
static void
test_redo_operator_credential(void **state)
{
	fx *f = *state;
	rt_plan plan;
	rt_submit_result res;
	rt_update_dialogs d = dialogs(f);

	choose(f, "renew", 0x9a, RT_ACT_REDO, &plan);
	ok(rt_update_submit(&f->u, &plan, &f->env, &d, &res));
	assert_int_equal(res.state[0], RT_STEP_DONE);
	assert_int_equal(f->nop, 1);
	assert_int_equal(cmh_inproc_handled(f->cm, -1), 2);
	assert_int_equal(cm_certs(f).confirmed, 1);

	/* the key held, but not sent over plain HTTP */
	start_cmhost(f, true);
	hold_default_key(f);
	reload(f);
	choose(f, "renew", 0x9c, RT_ACT_REDO, &plan);
	ok(rt_update_submit(&f->u, &plan, &f->env, &d, &res));
	assert_int_equal(res.state[0], RT_STEP_DONE);
	assert_int_equal(f->nop, 2);
	assert_int_equal(cmh_inproc_handled(f->cm, -1), 2);
}

/* The operator credential dialog cancelled after the ip: nothing is
 * written, the certificate is rejected in the certConf, the operation is
 * complete. */
static void
test_operator_cancelled(void **state)
{
	fx *f = *state;
	rt_plan plan;
	rt_submit_result res;
	rt_update_dialogs d = dialogs(f);
	char before[48], after[48];

	f->op_cancel = true;
	slot_serial(f, 0x9a, before, sizeof(before));
	choose(f, "renew", 0x9a, RT_ACT_REDO, &plan);
	expect(rt_update_submit(&f->u, &plan, &f->env, &d, &res),
	    RT_E_CANCELLED, "nothing written");
	assert_int_equal(f->nop, 1);
	assert_true(res.issued && res.confirmed);
	assert_int_equal(res.state[0], RT_STEP_ROLLED_BACK);
	slot_serial(f, 0x9a, after, sizeof(after));
	assert_string_equal(before, after);
	cert_states cs = cm_certs(f);
	assert_int_equal(cs.n, 1);
	assert_int_equal(cs.rejected, 1);
	rt_jop *ops;
	assert_int_equal(incomplete_ops(f, &ops), 0);
	rt_jops_free(ops, 0);
}

/* Issue: the certificate is saved on the station, the card is not
 * written, so no management key is asked for. */
static void
test_issue(void **state)
{
	fx *f = *state;
	rt_plan plan;
	rt_submit_result res;
	rt_update_dialogs d = dialogs(f);
	char before[48], after[48];

	slot_serial(f, 0x9c, before, sizeof(before));
	choose(f, "renew", 0x9c, RT_ACT_ISSUE, &plan);
	ok(rt_update_submit(&f->u, &plan, &f->env, &d, &res));
	assert_int_equal(res.state[0], RT_STEP_DONE);
	assert_int_equal(f->nop, 0);
	assert_true(access(res.saved[0], R_OK) == 0);
	slot_serial(f, 0x9c, after, sizeof(after));
	assert_string_equal(before, after);
	assert_int_equal(cmh_inproc_handled(f->cm, -1), 2);
	assert_int_equal(cm_certs(f).confirmed, 1);
}

/* A wrong card PIN: stopped before anything is sent; one try spent. */
static void
test_wrong_pin(void **state)
{
	fx *f = *state;
	rt_plan plan;
	rt_submit_result res;
	rt_update_dialogs d = dialogs(f);

	f->pin = "999999";
	hold_default_key(f);
	choose(f, "renew", 0x9a, RT_ACT_REDO, &plan);
	expect(rt_update_submit(&f->u, &plan, &f->env, &d, &res),
	    RT_E_PIN_WRONG, NULL);
	assert_false(res.sent);
	assert_false(res.issued);
	assert_int_equal(cmh_inproc_calls(f->cm), 0);
	assert_int_equal(cm_certs(f).n, 0);
	assert_int_equal(pin_left(f), 2);
}

/* The CM host refuses the request (a profile it does not know): nothing
 * issued, the card unchanged, the journal operation closed. */
static void
test_rejected(void **state)
{
	fx *f = *state;
	rt_plan plan;
	rt_submit_result res;
	rt_update_dialogs d = dialogs(f);
	char before[48], after[48];

	hold_default_key(f);
	slot_serial(f, 0x9a, before, sizeof(before));
	choose(f, "badprofile", 0x9a, RT_ACT_REDO, &plan);
	expect(rt_update_submit(&f->u, &plan, &f->env, &d, &res),
	    RT_E_CMP_STATUS, "badCertTemplate");
	assert_true(res.sent);
	assert_false(res.issued);
	assert_int_equal(res.state[0], RT_STEP_FAILED);
	assert_string_equal(res.message[0], "not issued");
	assert_int_equal(f->nop, 0);
	slot_serial(f, 0x9a, after, sizeof(after));
	assert_string_equal(before, after);
	assert_int_equal(cm_certs(f).n, 0);
	assert_int_equal(cmh_inproc_handled(f->cm, CMP_BODY_CERTCONF), 0);
	rt_jop *ops;
	assert_int_equal(incomplete_ops(f, &ops), 0);
	rt_jops_free(ops, 0);
}

/* The 1-based APDU (counted from the trace's start) of the first PUT DATA
 * of slot 9a's certificate object (5FC105); 0 if none. */
static uint64_t
write_apdu(const char *trace)
{
	uint64_t n = 0;
	for (const char *l = trace; l != NULL && *l != '\0'; ) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		if (len > 2 && l[0] == '>') {
			n++;
			const char *h = strstr(l, "5C035FC105");
			if (len > 6 && memcmp(l + 4, "DB", 2) == 0 &&
			    h != NULL && (end == NULL || h < end))
				return n;
		}
		l = end ? end + 1 : NULL;
	}
	return 0;
}

/* The PUT DATA of the new certificate answered by a bare 6F00 or 9000
 * (not written): the slot read again holds the old certificate, so it is
 * provably not on the card: rejected in the certConf, nothing left open.
 * (A write whose answer is lost after the card stored it is
 * t_update_recover's scenario 5, on the real stack.) */
static void
test_write_answer_bad(void **state)
{
	fx *f = *state;
	rt_plan plan;
	rt_submit_result res;
	rt_update_dialogs d = dialogs(f);
	char before[48], after[48];

	/* a first run, traced, finds the write's APDU */
	char *trace = NULL;
	size_t tl = 0;
	FILE *tf = open_memstream(&trace, &tl);
	assert_non_null(tf);
	hold_default_key(f);
	choose(f, "renew", 0x9a, RT_ACT_REDO, &plan);
	vpiv_set_trace(f->v, tf);
	ok(rt_update_submit(&f->u, &plan, &f->env, &d, &res));
	vpiv_set_trace(f->v, NULL);
	fclose(tf);
	uint64_t w = write_apdu(trace);
	free(trace);
	assert_true(w > 0);

	/* the same run on a fresh card, its write answered 6F00, then a
	 * bare 9000 (nothing stored either way) */
	static const uint16_t sws[] = { 0x6F00, 0x9000 };
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(teardown(state), 0);
		assert_int_equal(setup(state), 0);
		f = *state;
		d = dialogs(f);
		hold_default_key(f);
		slot_serial(f, 0x9a, before, sizeof(before));
		choose(f, "renew", 0x9a, RT_ACT_REDO, &plan);
		vpiv_fault_sw_at(f->v, vpiv_apdu_count(f->v) + w, sws[i]);
		rt_err_free(rt_update_submit(&f->u, &plan, &f->env, &d, &res));
		assert_true(res.issued);
		assert_false(res.unknown);
		assert_true(res.confirmed);	/* the certConf rejected it */
		assert_int_not_equal(res.state[0], RT_STEP_DONE);
		slot_serial(f, 0x9a, after, sizeof(after));
		assert_string_equal(before, after);
		cert_states cs = cm_certs(f);
		assert_int_equal(cs.rejected, 1);
		assert_int_equal(cs.confirmed, 0);
		rt_jop *ops;
		assert_int_equal(incomplete_ops(f, &ops), 0);
		rt_jops_free(ops, 0);
	}
}

/* The CM host lost before the certConf: the certificate is on the card,
 * waiting at the CM host, the operation open; rt_recover_op sends the
 * certConf with the journal's transaction and ends it. */
static void
test_lost_before_certconf(void **state)
{
	fx *f = *state;
	rt_plan plan;
	rt_submit_result res;
	rt_update_dialogs d = dialogs(f);
	char after[48];

	hold_default_key(f);
	choose(f, "renew", 0x9a, RT_ACT_REDO, &plan);
	cmh_inproc_fault_set(f->cm, CMP_BODY_CERTCONF, CMH_INPROC_DROP);
	expect(rt_update_submit(&f->u, &plan, &f->env, &d, &res),
	    RT_E_CMP_HTTP, "stays open");
	assert_true(res.issued);
	assert_false(res.confirmed);
	slot_serial(f, 0x9a, after, sizeof(after));
	assert_string_equal(after, res.serial[0]);
	cert_states cs = cm_certs(f);
	assert_int_equal(cs.waiting, 1);

	rt_jop *ops;
	assert_int_equal(incomplete_ops(f, &ops), 1);
	/* recovery: the CM host is back; the station's client is new */
	cmh_inproc_fault_set(f->cm, -1, CMH_INPROC_DELIVER);
	open_cmp(f);
	reload(f);
	rt_recover_result rr;
	ok(rt_recover_op(&ops[0], &f->ct, &f->env, &rr));
	assert_true(rr.finished);
	assert_int_equal(rr.nissued, 1);
	assert_int_equal(rr.naccepted, 1);
	rt_jops_free(ops, 1);
	cs = cm_certs(f);
	assert_int_equal(cs.confirmed, 1);
	assert_int_equal(incomplete_ops(f, &ops), 0);
	rt_jops_free(ops, 0);
}

/* The certConf never arrived and the grace period ran out (the CM host's
 * sweep revoked the certificate): recovery records the truth (closed,
 * revoked), sends no certConf, and names the Redo that replaces the
 * revoked certificate on the card. */
static void
test_grace_ran_out(void **state)
{
	fx *f = *state;
	rt_plan plan;
	rt_submit_result res;
	rt_update_dialogs d = dialogs(f);
	unsigned swept = 0;

	hold_default_key(f);
	choose(f, "renew", 0x9a, RT_ACT_REDO, &plan);
	cmh_inproc_fault_set(f->cm, CMP_BODY_CERTCONF, CMH_INPROC_DROP);
	expect(rt_update_submit(&f->u, &plan, &f->env, &d, &res),
	    RT_E_CMP_HTTP, "stays open");
	assert_true(res.issued);
	ok(cmh_db_sweep(cmh_inproc_db(f->cm), (int64_t)time(NULL) + 3600, 0,
	    &swept));
	assert_int_equal(swept, 1);

	rt_jop *ops;
	assert_int_equal(incomplete_ops(f, &ops), 1);
	cmh_inproc_fault_set(f->cm, -1, CMH_INPROC_DELIVER);
	open_cmp(f);
	reload(f);
	rt_recover_result rr;
	ok(rt_recover_op(&ops[0], &f->ct, &f->env, &rr));
	assert_true(rr.finished);
	assert_int_equal(rr.naccepted, 0);
	assert_non_null(strstr(rr.summary, "needs a Redo"));
	assert_int_equal(rr.nlines, 1);
	assert_non_null(strstr(rr.line[0], "revoked by the CM host"));
	assert_non_null(strstr(rr.line[0], "raterm update --procedure renew "
	    "--action 9a=redo"));
	rt_jops_free(ops, 1);
	assert_int_equal(incomplete_ops(f, &ops), 0);
	rt_jops_free(ops, 0);
}

/* The cr reached the CM host and its answer was lost: the outcome is
 * unknown - said so, not "not issued"; nothing written; the certificate
 * waits unconfirmed at the CM host (its grace sweep revokes it). A cr
 * that never left: "not issued". */
static void
test_cr_answer_lost(void **state)
{
	fx *f = *state;
	rt_plan plan;
	rt_submit_result res;
	rt_update_dialogs d = dialogs(f);

	hold_default_key(f);
	choose(f, "renew", 0x9a, RT_ACT_REDO, &plan);
	cmh_inproc_fault_set(f->cm, CMP_BODY_CR, CMH_INPROC_LOSE_ANSWER);
	expect(rt_update_submit(&f->u, &plan, &f->env, &d, &res),
	    RT_E_CMP_HTTP, "may have reached");
	assert_false(res.issued);
	assert_non_null(strstr(res.message[0], "outcome unknown"));
	assert_int_equal(cm_certs(f).waiting, 1);

	/* recovery where no CM host answers txStatus (env.cmp NULL takes
	 * the same branch as an openssl cmp server's error): nothing is on
	 * the card, the CM host's implicit revocation decides; closed */
	rt_jop *ops;
	rt_recover_result rr;
	assert_int_equal(incomplete_ops(f, &ops), 1);
	cmp_client *keep = f->env.cmp;
	f->env.cmp = NULL;
	ok(rt_recover_op(&ops[0], &f->ct, &f->env, &rr));
	f->env.cmp = keep;
	assert_true(rr.finished);
	assert_non_null(strstr(rr.summary, "does not say whether it issued"));
	assert_non_null(strstr(rr.summary, "revoked after its grace period"));
	rt_jops_free(ops, 1);
	assert_int_equal(incomplete_ops(f, &ops), 0);
	rt_jops_free(ops, 0);

	cmh_inproc_fault_set(f->cm, CMP_BODY_CR, CMH_INPROC_DROP);
	expect(rt_update_submit(&f->u, &plan, &f->env, &d, &res),
	    RT_E_CMP_HTTP, "unreachable");
	assert_string_equal(res.message[0], "not issued");
	assert_int_equal(cm_certs(f).n, 1);
}

/* The CA certificates without an officer: an unprotected genm for
 * caCerts is answered (and its answer verified); other unprotected
 * requests are refused; unprotected_cacerts: false refuses it too. */
static void
test_cacerts_unprotected(void **state)
{
	fx *f = *state;
	cmp_client_opts co;
	cmp_client *c = NULL;
	uint8_t **certs = NULL;
	size_t *lens = NULL, n = 0;
	uint8_t key[32];
	size_t kl;
	int alg;

	memset(&co, 0, sizeof(co));
	cmh_inproc_client_opts(f->cm, &co);
	ok(cmp_client_new(&co, &c));	/* no signer */
	ok(cmp_client_cacerts(c, &certs, &lens, &n));
	assert_int_equal(n, 2);		/* issuing CA, root */
	cmp_certs_free(certs, lens, n);
	/* no officer: nothing else is sent */
	expect(cmp_client_mgmt_key(c, f->ct.guid, 16, &alg, key, sizeof(key),
	    &kl), RT_E_ARG, "no officer signer");
	assert_int_equal(cmh_inproc_handled(f->cm, -1), 1);

	/* an unprotected request of another kind reaches cmhost: refused */
	cmp_msg m, *r = NULL;
	uint8_t tid[16], nonce[16], *der, *rsp;
	size_t len, rlen;
	cmp_msg_init(&m);
	m.type = CMP_BODY_GENM;
	assert_null(rt_random(tid, sizeof(tid)));
	assert_null(rt_random(nonce, sizeof(nonce)));
	m.hdr.transaction_id = (cmp_buf){ tid, sizeof(tid) };
	m.hdr.sender_nonce = (cmp_buf){ nonce, sizeof(nonce) };
	m.nitav = 1;
	ok(cmp_itav_set(&m.itav[0], CMP_OID_IT_ROOT_CA_KEY_UPDATE));
	ok(cmp_msg_encode(&m, NULL, NULL, &der, &len));
	ok(co.transport(co.transport_ctx, der, len, &rsp, &rlen));
	free(der);
	ok(cmp_msg_decode(rsp, rlen, &r));
	free(rsp);
	assert_int_equal(r->type, CMP_BODY_ERROR);
	assert_true(r->error.fail_info & CMP_FI_BAD_MESSAGE_CHECK);
	cmp_msg_free(r);

	/* switched off in the configuration */
	cmh_inproc_config(f->cm)->unprotected_cacerts = false;
	expect(cmp_client_cacerts(c, &certs, &lens, &n), RT_E_CMP_STATUS,
	    "not protected");
	cmh_inproc_config(f->cm)->unprotected_cacerts = true;
	cmp_client_free(c);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_redo_key_held),
		T(test_redo_operator_credential),
		T(test_operator_cancelled),
		T(test_issue),
		T(test_wrong_pin),
		T(test_rejected),
		T(test_write_answer_bad),
		T(test_lost_before_certconf),
		T(test_grace_ran_out),
		T(test_cr_answer_lost),
		T(test_cacerts_unprotected),
	};
#undef T
	return cmocka_run_group_tests_name("submit_inproc", tests, group_setup,
	    group_teardown);
}
