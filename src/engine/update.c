/* update.c - per-key actions, the rules on them, and the plan; see
 * include/raterm/engine.h. */
#include "raterm/engine.h"
#include "raterm/text.h"
#include "raterm/util.h"
#include "engine_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const rt_card_caps *
rt_card_caps_of(const rt_contents *ct)
{
	return rt_card_caps_of_profile(ct != NULL ? ct->profile : NULL);
}

bool
rt_contents_has_tc(const rt_contents *ct)
{
	for (size_t i = 0; i < ct->nrows; i++)
		if (ct->rows[i].tc)
			return true;
	return false;
}

static uint8_t
first_tc_slot(const rt_contents *ct)
{
	for (size_t i = 0; i < ct->nrows; i++)
		if (ct->rows[i].tc)
			return ct->rows[i].slot;
	return 0;
}

void
rt_update_init(rt_update *u, const rt_contents *ct)
{
	memset(u, 0, sizeof(*u));
	u->ct = ct;
	u->caps = rt_card_caps_of(ct);
}

int
rt_update_row(const rt_update *u, uint8_t slot)
{
	int first = -1;
	for (size_t i = 0; i < u->ct->nrows; i++)
		if (u->ct->rows[i].slot == slot) {
			if (u->chosen[i])
				return (int)i;
			if (first < 0)
				first = (int)i;
		}
	return first;
}

rt_err *
rt_update_choose_cert(rt_update *u, uint8_t slot, int cert_index)
{
	char s[4];
	int to = -1, from = rt_update_row(u, slot);
	for (size_t i = 0; i < u->ct->nrows && to < 0; i++)
		if (u->ct->rows[i].slot == slot &&
		    u->ct->rows[i].cert_index == cert_index)
			to = (int)i;
	if (to < 0)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "key %s has no "
		    "certificate %d", piv_slot_name(slot, s, sizeof(s)),
		    cert_index);
	if (from == to)
		return NULL;
	/* what was chosen for the key goes with it */
	u->action[to] = u->action[from];
	u->req[to] = u->req[from];
	u->action[from] = RT_ACT_BLANK;
	memset(&u->req[from], 0, sizeof(u->req[from]));
	u->chosen[from] = false;
	u->chosen[to] = true;
	return NULL;
}

rt_err *
rt_update_check_procedure(const rt_update *u, const rt_procedure *p)
{
	char s[4];
	if (rt_contents_has_tc(u->ct) && p->tc_controls == 0)
		return rt_err_new(RT_E_RULE, NULL, "procedure '%s' has no "
		    "TC-authenticity controls: the card holds a transport "
		    "certificate (slot %s), so only procedures with TC controls "
		    "may be used", p->name,
		    piv_slot_name(first_tc_slot(u->ct), s, sizeof(s)));
	return NULL;
}

size_t
rt_update_offered(const rt_update *u, const rt_config *cfg,
    const rt_procedure **out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < cfg->nprocs && n < cap; i++) {
		rt_err *e = rt_update_check_procedure(u, &cfg->procs[i]);
		if (e == NULL)
			out[n++] = &cfg->procs[i];
		rt_err_free(e);
	}
	return n;
}

rt_err *
rt_update_set_procedure(rt_update *u, const rt_procedure *p)
{
	rt_err *e = rt_update_check_procedure(u, p);
	if (e != NULL)
		return e;
	if (u->proc != p) {
		u->tc_ran = false;	/* controls depend on the procedure */
		u->ntc = 0;
		/* what was typed or added was checked against the old one */
		memset(u->req, 0, sizeof(u->req));
	}
	u->proc = p;
	for (size_t i = 0; i < u->ct->nrows; i++) {
		if (u->action[i] == RT_ACT_BLANK)
			continue;
		e = rt_update_check_action(u, u->ct->rows[i].slot, u->action[i],
		    0);
		if (e != NULL) {
			u->action[i] = RT_ACT_BLANK;
			rt_err_free(e);
		}
	}
	return NULL;
}

static void
allowed_list(const rt_procedure *p, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (unsigned a = RT_ACT_ISSUE; a < RT_ACT__COUNT; a++)
		if (p->allowed[a])
			o += (size_t)snprintf(out + o, cap > o ? cap - o : 0,
			    "%s%s", o ? ", " : "", rt_action_title((rt_action)a));
}

static void
alg_list(const rt_procedure *p, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < p->nalgorithms; i++)
		o += (size_t)snprintf(out + o, cap > o ? cap - o : 0, "%s%s",
		    o ? ", " : "", piv_alg_name(p->algorithms[i]));
}

/* The TC controls' verdict for the card: NULL when every TC passed. */
static rt_err *
tc_verdict(const rt_update *u)
{
	char s[4];
	const char *pn = u->proc ? u->proc->name : "?";
	if (!u->tc_ran)
		return rt_err_new(RT_E_RULE, NULL, "the card holds transport "
		    "certificates and the TC controls of procedure '%s' have "
		    "not run yet", pn);
	for (size_t i = 0; i < u->ntc; i++)
		if (!u->tc[i].verified)
			return rt_err_new(RT_E_RULE, NULL, "TC control failed on "
			    "slot %s (%s: %s): no key of this card may be "
			    "updated", piv_slot_name(u->tc[i].slot, s, sizeof(s)),
			    rt_err_kind_name(u->tc[i].failed), u->tc[i].error);
	return NULL;
}

rt_err *
rt_update_check_action(const rt_update *u, uint8_t slot, rt_action a,
    unsigned flags)
{
	char s[4], list[128];
	const char *an = rt_action_title(a);
	piv_slot_name(slot, s, sizeof(s));
	int i = rt_update_row(u, slot);
	if (i < 0)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "the card holds no key "
		    "in slot %s", s);
	const rt_key_row *r = &u->ct->rows[i];
	if ((unsigned)a >= RT_ACT__COUNT)
		return rt_err_new(RT_E_ARG, NULL, "bad action %d", (int)a);
	if (a == RT_ACT_BLANK)
		return NULL;
	if (r->error[0])
		return rt_err_new(RT_E_RULE, NULL, "%s refused on slot %s: its "
		    "certificate cannot be read (%s)", an, s, r->error);
	if (!r->has_cert && !r->key_known)
		return rt_err_new(RT_E_RULE, NULL, "%s refused on slot %s: no "
		    "key in the slot", an, s);
	if (a == RT_ACT_ADD) {
		/* any certificate of the key a TC, not only the chosen one */
		bool tc = false;
		for (size_t k = 0; k < u->ct->nrows; k++)
			tc |= u->ct->rows[k].slot == slot && u->ct->rows[k].tc;
		if (tc)
			return rt_err_new(RT_E_RULE, NULL, "Add refused on slot "
			    "%s: the key holds a transport certificate and Add "
			    "would keep the TC on the card; use Redo to replace "
			    "it", s);
		if (!u->caps->multi_cert_per_key)
			return rt_err_new(RT_E_RULE, NULL, "Add not possible on "
			    "slot %s: %s", s, u->caps->one_cert_reason);
	}
	const rt_procedure *p = u->proc;
	if (p == NULL)
		return rt_err_new(RT_E_RULE, NULL, "%s on slot %s: choose a "
		    "procedure first", an, s);
	rt_err *e = rt_update_check_procedure(u, p);
	if (e != NULL)
		return e;
	if (!p->allowed[a]) {
		allowed_list(p, list, sizeof(list));
		return rt_err_new(RT_E_RULE, NULL, "%s refused on slot %s: "
		    "procedure '%s' does not allow it (it allows: %s)", an, s,
		    p->name, list);
	}
	if (rt_procedure_profile(p, slot) == NULL)
		return rt_err_new(RT_E_RULE, NULL, "%s refused on slot %s: "
		    "procedure '%s' has no certificate profile for this slot",
		    an, s, p->name);
	if (!rt_procedure_alg_ok(p, r->alg)) {
		alg_list(p, list, sizeof(list));
		return rt_err_new(RT_E_RULE, NULL, "%s refused on slot %s: key "
		    "algorithm %s is not accepted by procedure '%s' (it "
		    "accepts: %s)", an, s, r->alg[0] ? r->alg : "unknown",
		    p->name, list);
	}
	if (p->subject == RT_SRC_TC && !r->tc)
		return rt_err_new(RT_E_RULE, NULL, "%s refused on slot %s: "
		    "procedure '%s' takes the subject from the transport "
		    "certificate and the slot holds none", an, s, p->name);
	if (p->subject == RT_SRC_CARD && !r->has_cert)
		return rt_err_new(RT_E_RULE, NULL, "%s refused on slot %s: "
		    "procedure '%s' takes the subject from the slot's "
		    "certificate and the slot holds none", an, s, p->name);
	if ((flags & RT_CHECK_TC_RESULTS) && rt_contents_has_tc(u->ct)) {
		if ((e = tc_verdict(u)) != NULL)
			return rt_err_wrap(e, "%s on slot %s", an, s);
	}
	return NULL;
}

rt_err *
rt_update_set_action(rt_update *u, uint8_t slot, rt_action a)
{
	rt_err *e = rt_update_check_action(u, slot, a, 0);
	if (e != NULL)
		return e;
	u->action[rt_update_row(u, slot)] = a;
	return NULL;
}

bool
rt_update_tc_needed(const rt_update *u)
{
	if (u->tc_ran || !rt_contents_has_tc(u->ct))
		return false;
	for (size_t i = 0; i < u->ct->nrows; i++)
		if (u->action[i] != RT_ACT_BLANK)
			return true;
	return false;
}

void
rt_update_tc_config(const rt_update *u, const rt_tc_config *base,
    rt_tc_config *out)
{
	*out = *base;
	unsigned tcc = u->proc ? u->proc->tc_controls : 0;
	if (!(tcc & RT_TCC_BINDING))
		out->bind = RT_TC_BIND_NONE;
	if (!(tcc & RT_TCC_ATTESTATION))
		out->attest = RT_TC_ATTEST_OFF;
	else
		out->attest = u->proc->attestation_required ?
		    RT_TC_ATTEST_REQUIRED : RT_TC_ATTEST_IF_OFFERED;
}

rt_err *
rt_update_run_tc(rt_update *u, rt_card *card, const rt_tc_config *base)
{
	if (u->proc == NULL || u->proc->tc_controls == 0)
		return rt_err_new(RT_E_ARG, NULL, "no procedure with TC controls "
		    "chosen");
	rt_tc_config cfg;
	rt_update_tc_config(u, base, &cfg);
	size_t n = 0;
	u->tc_ran = false;
	u->ntc = 0;
	rt_err *e = rt_contents_verify_tc(card, u->ct, &cfg, 0, u->tc,
	    RT_MAX_KEYS, &n);
	if (e != NULL)
		return e;
	u->ntc = n;
	u->tc_ran = true;
	return NULL;
}

void
rt_update_set_tc_results(rt_update *u, const rt_tc_result *res, size_t n)
{
	if (n > RT_MAX_KEYS)
		n = RT_MAX_KEYS;
	memcpy(u->tc, res, n * sizeof(*res));
	u->ntc = n;
	u->tc_ran = true;
}

/* ---- the plan --------------------------------------------------------------------- */

static void
describe_before(const rt_key_row *r, char *out, size_t cap)
{
	const char *cn = r->cert.subject_cn[0] ? r->cert.subject_cn :
	    r->cert.subject;
	if (r->error[0])
		snprintf(out, cap, "(unreadable certificate)");
	else if (!r->has_cert)
		snprintf(out, cap, "(key without certificate)");
	else if (r->tc)
		snprintf(out, cap, "TC \"%s\" from %s, until %.10s", cn,
		    r->cert.issuer_cn, r->cert.not_after);
	else
		snprintf(out, cap, "\"%s\" from %s, until %.10s%s", cn,
		    r->cert.issuer_cn, r->cert.not_after,
		    r->expired ? " (expired)" : "");
}

rt_err *
rt_update_plan(const rt_update *u, rt_plan *out)
{
	memset(out, 0, sizeof(*out));
	const rt_contents *ct = u->ct;
	snprintf(out->reader, sizeof(out->reader), "%s", ct->reader);
	eng_card_name(ct, out->card, sizeof(out->card));
	if (u->proc != NULL)
		snprintf(out->procedure, sizeof(out->procedure), "%s",
		    u->proc->name);
	bool writes = false;
	for (size_t i = 0; i < ct->nrows; i++) {
		rt_action a = u->action[i];
		if (a == RT_ACT_BLANK)
			continue;
		const rt_key_row *r = &ct->rows[i];
		rt_err *e = rt_update_check_action(u, r->slot, a,
		    RT_CHECK_TC_RESULTS);
		if (e != NULL)
			return e;
		rt_plan_step *st = &out->steps[out->nsteps++];
		st->slot = r->slot;
		st->action = a;
		st->tc = r->tc;
		st->cert_index = a == RT_ACT_ADD ? RT_CARD_CERT_NEW : r->cert_index;
		st->pin = r->pin;
		snprintf(st->alg, sizeof(st->alg), "%s", r->alg);
		const char *prof = rt_procedure_profile(u->proc, r->slot);
		snprintf(st->profile, sizeof(st->profile), "%s", prof);
		describe_before(r, st->before, sizeof(st->before));
		eng_plan_request(u, (int)i, st);
		switch (a) {
		case RT_ACT_REDO:
			st->writes_card = true;
			snprintf(st->after, sizeof(st->after), "new certificate "
			    "(profile %s) %s", prof, r->has_cert ?
			    (r->tc ? "replaces the TC on the card" :
			    "replaces it on the card") : "written to the card");
			break;
		case RT_ACT_ISSUE:
			snprintf(st->after, sizeof(st->after), "card unchanged; "
			    "secondary certificate (profile %s) kept at the CM "
			    "host and on the station", prof);
			break;
		case RT_ACT_ADD:
			st->writes_card = true;
			snprintf(st->after, sizeof(st->after), "additional "
			    "certificate (profile %s) stored beside it",
			    prof);
			break;
		default:
			break;
		}
		writes = writes || st->writes_card;
	}
	if (out->nsteps == 0 && !u->ca_asked)
		return NULL;
	const rt_procedure *p = u->proc;
	out->tc_verified = rt_contents_has_tc(ct) && u->tc_ran;
	out->card_pins = out->nsteps > 0 ? p->card_pins : 0;
	/* where the second PIN is a PIN of its own (PKCS#15: the AODF's
	 * signature PIN), the keys say which PINs are asked, not the
	 * procedure: the first PIN (it opens the card's files), and the
	 * second where a key of the plan signs with it; never the first
	 * presented to the second */
	out->second_pin_own = u->caps->second_pin_own;
	if (out->second_pin_own && out->nsteps > 0) {
		out->card_pins = 1;
		for (size_t i = 0; i < out->nsteps; i++)
			if (out->steps[i].pin >= 1)
				out->card_pins = 2;
	}
	out->operator_credential = p->operator_credential && writes;
	out->has_qc = p->has_qc_fixed;
	out->qc = p->qc_fixed;
	if (p->write_ca_certs) {
		if (u->caps->ca_certs_on_card) {
			out->write_ca_certs = true;
			out->replace_ca_certs = u->ca_replace;
			out->operator_credential = p->operator_credential;
		} else
			snprintf(out->notes[out->nnotes++], sizeof(out->notes[0]),
			    "CA certificates are not written: the %s profile "
			    "cannot hold them on the card", u->caps->name);
	}
	return NULL;
}

rt_err *
rt_update_set_ca_certs(rt_update *u, bool replace)
{
	if (!u->caps->ca_certs_on_card)
		return rt_err_new(RT_E_RULE, NULL, "Replace CA certificate(s) not "
		    "possible: %s", u->caps->no_ca_reason);
	if (u->proc == NULL)
		return rt_err_new(RT_E_RULE, NULL, "Replace CA certificate(s): "
		    "choose a procedure first");
	if (!u->proc->write_ca_certs)
		return rt_err_new(RT_E_RULE, NULL, "Replace CA certificate(s) "
		    "refused: procedure '%s' does not write CA certificates "
		    "(ca_certificates: {write: true})", u->proc->name);
	u->ca_asked = true;
	u->ca_replace = replace;
	return NULL;
}

/* ---- printing the plan in 80 columns ---------------------------------- */

typedef struct {
	FILE *f;
	size_t indent;
	bool first;
} wrap_out;

static void
wrap_line(void *ctx, const char *line)
{
	wrap_out *w = ctx;
	if (!w->first)
		fprintf(w->f, "%*s", (int)w->indent, "");
	fprintf(w->f, "%s\n", line);
	w->first = false;
}

/* Prints text on a line where `used` columns are taken, wrapped at 80
 * columns (display width, text.h); continuation lines start at column
 * `indent`. */
static void
print_wrapped(FILE *f, size_t cols, size_t used, size_t indent,
    const char *fmt, ...) RT_PRINTF(5, 6);

static void
print_wrapped(FILE *f, size_t cols, size_t used, size_t indent,
    const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	wrap_out w = { f, indent, true };
	if (cols < indent + 20)
		cols = indent + 20;	/* never narrower than 20 per line */
	if (cols < used + 10)
		cols = used + 10;
	(void)rt_text_wrap(text, cols - indent, cols - used, wrap_line, &w);
}

/* Detail lines start at column DETAIL, their continuations two further;
 * a step's row holds slot, action and algorithm in its first ROW
 * columns. */
enum { ROW = 22, DETAIL = 25 };

static void
plan_request(const rt_plan_step *st, FILE *f, size_t cols)
{
	char qc[200];
	if (st->subject[0]) {
		fprintf(f, "%*s", DETAIL, "");
		print_wrapped(f, cols, DETAIL, DETAIL + 2, "subject %s (%s)",
		    st->subject, rt_source_name(st->subject_src));
	} else {
		fprintf(f, "%*s", DETAIL, "");
		print_wrapped(f, cols, DETAIL, DETAIL + 2, "subject: %s",
		    st->subject_src == RT_SRC_OFFICER ?
		    "to be typed by the officer" :
		    "(none: the slot has no certificate)");
	}
	if (st->san[0]) {
		fprintf(f, "%*s", DETAIL, "");
		print_wrapped(f, cols, DETAIL, DETAIL + 2, "subjectAltName %s (%s)",
		    st->san, rt_source_name(st->san_src));
	} else if (st->san_src == RT_SRC_OFFICER) {
		fprintf(f, "%*s", DETAIL, "");
		print_wrapped(f, cols, DETAIL, DETAIL + 2,
		    "subjectAltName: to be typed by the officer");
	} else if (st->san_src != RT_SRC_NONE) {
		fprintf(f, "%*s", DETAIL, "");
		print_wrapped(f, cols, DETAIL, DETAIL + 2,
		    "subjectAltName: none (the certificate has none)");
	}
	if (st->has_qc) {
		rt_qc_describe(&st->qc, qc, sizeof(qc));
		fprintf(f, "%*s", DETAIL, "");
		print_wrapped(f, cols, DETAIL, DETAIL + 2, "QC statements %s", qc);
	}
}

void
rt_plan_print_request(const rt_plan_step *st, FILE *f)
{
	plan_request(st, f, 80);
}

void
rt_plan_print(const rt_plan *p, FILE *f)
{
	rt_plan_print_cols(p, f, 80);
}

void
rt_plan_print_cols(const rt_plan *p, FILE *f, size_t cols)
{
	char s[4], qc[200];
	print_wrapped(f, cols, 0, 2, "Plan for the card in \"%s\" (%s)%s%s:",
	    p->reader, p->card, p->procedure[0] ? ", procedure " : "",
	    p->procedure);
	if (p->nsteps == 0 && !p->write_ca_certs) {
		fprintf(f, "Nothing to do: every key is Blank; nothing will be "
		    "sent.\n");
		return;
	}
	for (size_t i = 0; i < p->nsteps; i++) {
		const rt_plan_step *st = &p->steps[i];
		/* the row, then what the slot will hold under it; the long
		 * texts wrap under their column */
		fprintf(f, "  %-3s %-6s %-8s ", piv_slot_name(st->slot, s,
		    sizeof(s)), rt_action_title(st->action),
		    st->alg[0] ? st->alg : "?");
		print_wrapped(f, cols, ROW, DETAIL, "%s", st->before);
		fprintf(f, "%*s", ROW, "");
		print_wrapped(f, cols, ROW, DETAIL, "-> %s", st->after);
		plan_request(st, f, cols);
	}
	if (p->tc_verified)
		print_wrapped(f, cols, 0, 2, "Transport certificates: verified (every "
		    "control of the procedure passed).");
	char own[80] = "";
	unsigned nown = 0;
	for (size_t i = 0; p->second_pin_own && i < p->nsteps; i++) {
		size_t o = strlen(own);
		if (p->steps[i].pin >= 1 && o + 8 < sizeof(own)) {
			snprintf(own + o, sizeof(own) - o, "%s%s", o ? ", " : "",
			    piv_slot_name(p->steps[i].slot, s, sizeof(s)));
			nown++;
		}
	}
	if (p->second_pin_own && p->card_pins == 2)
		print_wrapped(f, cols, 0, 2, "Card PINs needed: 2 (the PIN, and "
		    "the second PIN of key%s %s)", nown > 1 ? "s" : "", own);
	else
		print_wrapped(f, cols, 0, 2, "Card PINs needed: %u%s",
		    p->card_pins, p->card_pins == 2 ? " (the signature key asks "
		    "again)" : "");
	if (p->write_ca_certs)
		print_wrapped(f, cols, 0, 2, "CA certificates: the CM host's, "
		    "written to the card (%s)", p->replace_ca_certs ? "replacing "
		    "the CA certificates on it" : "those on it kept, the missing "
		    "added");
	if (p->operator_credential)
		print_wrapped(f, cols, 0, 2, "Operator credential: needed to write "
		    "the card, unless the CM host holds it for this card");
	if (p->has_qc) {
		rt_qc_describe(&p->qc, qc, sizeof(qc));
		print_wrapped(f, cols, 0, 2, "QC statements: %s", qc);
	}
	for (size_t i = 0; i < p->nnotes; i++)
		print_wrapped(f, cols, 0, 2, "Note: %s", p->notes[i]);
}

void
eng_card_name(const rt_contents *ct, char *out, size_t cap)
{
	if (ct->has_serial)
		snprintf(out, cap, "serial %u", ct->serial);
	else if (ct->has_guid) {
		char g[33];
		rt_hex_encode(ct->guid, 16, g, sizeof(g), 0);
		snprintf(out, cap, "GUID %s", g);
	} else
		snprintf(out, cap, "(no serial or GUID)");
}

