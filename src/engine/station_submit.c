/* station_submit.c - the station's plan, submit, CM host session,
 * journal operations and recovery, and the dialog table the engine sees
 * (the PINs of one submit kept in the station's locked page); see
 * include/raterm/station.h. */
#include "raterm/station.h"

#include "engine_int.h"
#include "station_int.h"
#include "raterm/piv.h"
#include "raterm/signer.h"
#include "raterm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the dialogs the engine sees: PINs kept for one submit ---------------- */

static void
with_tries(char *out, size_t cap, const char *prompt, int tries)
{
	if (tries >= 0)
		snprintf(out, cap, "%s, %d tr%s left", prompt, tries, tries == 1 ?
		    "y" : "ies");
	else
		snprintf(out, cap, "%s", prompt);
}

static rt_err *
kept_card_pin(rt_station *st, unsigned which, const char *prompt, char *buf,
    size_t cap, size_t *len)
{
	const rt_update_dialogs *d = st->outer;
	unsigned w = which == 2 ? 1 : 0;
	if (!st->sec->card_set[w]) {
		char p[600];
		int tries = -1;
		if (st->tcard != NULL) {
			rt_err *re = rt_card_pin_retries(st->tcard, &tries);
			rt_err_free(re);
		}
		with_tries(p, sizeof(p), prompt, tries);
		if (d == NULL || d->card_pin == NULL)
			return rt_err_new(RT_E_USAGE, NULL, "%s: needed and there "
			    "is no dialog to ask for it", which == 2 ?
			    "the card's second PIN" : "the card's PIN");
		size_t l = 0;
		rt_err *e = d->card_pin(d->ctx, which, p, st->sec->card[w],
		    PIN_CAP, &l);
		if (e != NULL) {
			rt_wipe(st->sec->card[w], PIN_CAP);
			return e;
		}
		st->sec->card_len[w] = l;
		st->sec->card_set[w] = true;
	}
	if (st->sec->card_len[w] > cap)
		return rt_err_new(RT_E_ARG, NULL, "PIN too long");
	memcpy(buf, st->sec->card[w], st->sec->card_len[w]);
	*len = st->sec->card_len[w];
	return NULL;
}

static rt_err *
dl_card_pin(void *ctx, unsigned which, const char *prompt, char *buf,
    size_t cap, size_t *len)
{
	return kept_card_pin(ctx, which, prompt, buf, cap, len);
}

/* rt_pin_cb of the TC controls: the card's first PIN. */
static rt_err *
tc_pin_cb(void *ctx, const char *prompt, char *buf, size_t cap, size_t *len)
{
	return kept_card_pin(ctx, 1, prompt, buf, cap, len);
}

/* ... and the card's second PIN (a key with a PIN of its own). */
static rt_err *
tc_pin2_cb(void *ctx, const char *prompt, char *buf, size_t cap, size_t *len)
{
	return kept_card_pin(ctx, 2, prompt, buf, cap, len);
}

static rt_err *
dl_typed(void *ctx, uint8_t slot, const char *field, const char *prompt,
    char *buf, size_t cap, size_t *len)
{
	rt_station *st = ctx;
	const rt_update_dialogs *d = st->outer;
	if (d == NULL || d->typed == NULL) {
		char s[4];
		return rt_err_new(RT_E_USAGE, NULL, "slot %s: %s: not given and "
		    "there is no dialog to ask for it",
		    piv_slot_name(slot, s, sizeof(s)), field);
	}
	return d->typed(d->ctx, slot, field, prompt, buf, cap, len);
}

static rt_err *
dl_operator(void *ctx, const char *prompt, uint8_t *buf, size_t cap,
    size_t *len)
{
	rt_station *st = ctx;
	const rt_update_dialogs *d = st->outer;
	if (d == NULL || d->operator_credential == NULL)
		return rt_err_new(RT_E_PERMISSION, NULL, "the operator credential "
		    "is needed and there is no dialog to ask for it");
	return d->operator_credential(d->ctx, prompt, buf, cap, len);
}

static rt_err *
dl_operator_pin(void *ctx, const char *prompt, char *buf, size_t cap,
    size_t *len)
{
	rt_station *st = ctx;
	const rt_update_dialogs *d = st->outer;
	if (d == NULL || d->operator_pin == NULL)
		return rt_err_new(RT_E_PERMISSION, NULL, "the card's SO PIN is "
		    "needed and there is no dialog to ask for it");
	return d->operator_pin(d->ctx, prompt, buf, cap, len);
}

static rt_err *
dl_replace(void *ctx, const rt_plan *p, bool *replace)
{
	rt_station *st = ctx;
	const rt_update_dialogs *d = st->outer;
	*replace = false;
	if (d == NULL || d->replace_ca_certs == NULL)
		return NULL;
	return d->replace_ca_certs(d->ctx, p, replace);
}

static void
dl_progress(void *ctx, const rt_plan_step *s, const char *what)
{
	rt_station *st = ctx;
	const rt_update_dialogs *d = st->outer;
	if (d != NULL && d->progress != NULL)
		d->progress(d->ctx, s, what);
}

static bool
dl_cancel(void *ctx)
{
	rt_station *st = ctx;
	const rt_update_dialogs *d = st->outer;
	return d != NULL && d->cancel != NULL && d->cancel(d->ctx);
}

static void
inner_dialogs(rt_station *st, const rt_update_dialogs *outer,
    rt_update_dialogs *in)
{
	memset(in, 0, sizeof(*in));
	st->outer = outer;
	in->ctx = st;
	in->typed = dl_typed;
	in->card_pin = dl_card_pin;
	in->operator_credential = dl_operator;
	in->operator_pin = dl_operator_pin;
	in->replace_ca_certs = dl_replace;
	in->progress = dl_progress;
	in->cancel = dl_cancel;
}

/* ---- plan and submit ------------------------------------------------------ */

static rt_err *
need_journal(rt_station *st)
{
	const rt_config *cfg = st->cfg;
	rt_err *e;
	if (cfg->journal[0] == '\0' || cfg->audit[0] == '\0')
		return rt_err_new(RT_E_CONFIG, NULL, "journal and audit are "
		    "needed in the configuration (%s)", cfg->file[0] ?
		    cfg->file : "no configuration file");
	if (st->journal == NULL &&
	    (e = rt_journal_open(cfg->journal, &st->journal)) != NULL)
		return e;
	if (st->audit == NULL &&
	    (e = rt_audit_open(cfg->audit, &st->audit)) != NULL)
		return e;
	return NULL;
}

/* An operation of this card still open in the journal. */
static rt_err *
check_open_ops(rt_station *st)
{
	if (st->o.ignore_open)
		return NULL;
	rt_jop *ops = NULL;
	size_t n = 0;
	rt_err *e = rt_journal_incomplete(st->journal, &ops, &n);
	if (e != NULL)
		return e;
	for (size_t i = 0; i < n; i++)
		if (strcmp(ops[i].info.card, st->card_id) == 0) {
			e = rt_err_new(RT_E_RULE, NULL, "the card (%s) has an "
			    "incomplete update in the journal (%s, last step "
			    "%s): run 'raterm recover' first", st->card_id,
			    ops[i].id, rt_jstep_name(ops[i].last));
			break;
		}
	rt_jops_free(ops, n);
	return e;
}

rt_err *
rt_station_plan(rt_station *st, const rt_update_dialogs *d, bool dry,
    rt_plan *out)
{
	rt_err *e = NULL;
	rt_update_dialogs in;
	if (!st->have_ct)
		return rt_err_new(RT_E_ARG, NULL, "no card read yet (Reload)");
	rt_update *u = &st->u;
	inner_dialogs(st, d, &in);
	if (!dry && (e = rt_update_ask_typed(u, &in)) != NULL)
		goto out;
	if (rt_update_tc_needed(u)) {
		if ((e = sta_reopen_target(st)) != NULL)
			goto out;
		rt_tc_config base = {
			.transport_cas = st->tcas, .attest_roots = st->roots,
			.pin_cb = tc_pin_cb, .pin_ctx = st,
			.pin2_cb = tc_pin2_cb, .pin2_ctx = st,
		};
		e = rt_update_run_tc(u, st->tcard, &base);
		sta_close_card(&st->tt, &st->tcard);
		if (e != NULL)
			goto out;
		/* a control that could not run for want of the PIN, or on a
		 * refused PIN, is that error, not a failed control */
		for (size_t i = 0; i < u->ntc; i++) {
			rt_err_kind k = u->tc[i].failed;
			char sl[4];
			if (k != RT_E_USAGE && k != RT_E_PIN_WRONG &&
			    k != RT_E_PIN_BLOCKED)
				continue;
			e = rt_err_new(k, NULL, "the transport certificates' "
			    "controls need the card's PIN (possession is a "
			    "signature on the card), slot %s: %s",
			    piv_slot_name(u->tc[i].slot, sl, sizeof(sl)),
			    u->tc[i].error);
			/* no verdict on the TCs: they run again at the next
			 * plan, the PIN asked again (not a failed control
			 * that only a reload would clear) */
			u->tc_ran = false;
			u->ntc = 0;
			goto out;
		}
	}
	e = rt_update_plan(u, out);
out:
	st->outer = NULL;
	if (e != NULL && rt_err_has(e, RT_E_PIN_WRONG))
		sta_wipe_secrets(st);	/* a refused PIN is never given again */
	return e;
}

/* The Signature PIN (or passphrase), asked once and checked at once. */
static rt_err *
signature_ready(rt_station *st, const rt_update_dialogs *d)
{
	rt_err *e;
	bool soft = sta_officer_software(st);
	if (!soft && (e = sta_open_officer_card(st)) != NULL)
		return e;
	if (!st->sec->sig_set) {
		char prompt[400], p[450];
		int tries = -1;
		if (soft)
			snprintf(prompt, sizeof(prompt), "Passphrase of the officer "
			    "token %.300s", sta_token_path(st));
		else {
			rt_err *re = rt_card_pin_retries(st->ocard, &tries);
			rt_err_free(re);
			snprintf(prompt, sizeof(prompt), "Signature PIN (the "
			    "officer's card in \"%s\"", st->officer_reader);
		}
		with_tries(p, sizeof(p), prompt, tries);
		if (!soft)
			strncat(p, ")", sizeof(p) - strlen(p) - 1);
		if (d == NULL || d->signature_pin == NULL)
			return rt_err_new(RT_E_USAGE, NULL, "the Signature PIN is "
			    "needed and there is no dialog to ask for it");
		size_t l = 0;
		if ((e = d->signature_pin(d->ctx, p, st->sec->sig, PIN_CAP,
		    &l)) != NULL) {
			rt_wipe(st->sec->sig, PIN_CAP);
			return e;
		}
		st->sec->sig_len = l;
		st->sec->sig_set = true;
	}
	/* verified now, before anything is sent: a wrong PIN stops here
	 * and is forgotten at once (a recovery keeps the PIN for its next
	 * operation: a refused one is asked again, never presented again) */
	if (soft)
		e = sta_open_officer_soft(st);
	else if ((e = rt_card_verify_pin(st->ocard, st->sec->sig,
	    st->sec->sig_len)) != NULL)
		e = rt_err_wrap(e, "Signature PIN (the officer's card in "
		    "\"%s\")", st->officer_reader);
	if (e != NULL) {
		rt_wipe(st->sec->sig, PIN_CAP);
		st->sec->sig_len = 0;
		st->sec->sig_set = false;
	}
	return e;
}

/* The CM host client; signed: protected by the officer's signer (open
 * already), else a client for the one request a CM host answers
 * unprotected (caCerts). */
static rt_err *
open_cmhost_as(rt_station *st, bool signed_)
{
	const rt_config *cfg = st->cfg;
	if (st->client != NULL)
		return NULL;
	const char *server = st->o.server ? st->o.server : cfg->cmhost_url;
	const char *trust = st->o.trust ? st->o.trust : cfg->cmhost_trust;
	if (server[0] == '\0')
		return rt_err_new(RT_E_USAGE, NULL, "no CM host: cmhost.url in the "
		    "configuration or --server");
	if (trust[0] == '\0')
		return rt_err_new(RT_E_USAGE, NULL, "no trust anchor for the CM "
		    "host's responses: cmhost.trust or --trust");
	if (!st->trust_loaded) {
		if (mbedtls_x509_crt_parse_file(&st->trust, trust) != 0)
			return rt_err_new(RT_E_CERT, NULL, "%s: no trust anchor "
			    "certificate that parses", trust);
		st->trust_loaded = true;
	}
	if (signed_) {
		const mbedtls_x509_crt *oc = rt_signer_chain(st->signer);
		rt_err *e;
		if (oc == NULL)
			return rt_err_new(RT_E_CERT, NULL, "the officer key has no "
			    "certificate (CMP protection needs one)");
		if (st->o.officer_chain != NULL && (e = sta_add_chain_file(
		    st->signer, st->o.officer_chain)) != NULL)
			return e;
		if (!st->officer_known || st->oinfo.subject[0] == '\0')
			sta_name_from_crt(oc, &st->oinfo);
	}
	cmp_client_opts co = {
		.url = server, .tls_ca = st->o.tls_ca,
		.total_timeout = st->o.timeout, .trust = &st->trust,
		.signer = signed_ ? st->signer : NULL, .log = st->o.cmp_log,
	};
	if (st->o.cmp_hook != NULL)
		st->o.cmp_hook(st->o.cmp_hook_ctx, &co);
	return cmp_client_new(&co, &st->client);
}

static rt_err *
open_cmhost(rt_station *st)
{
	return open_cmhost_as(st, true);
}

rt_err *
rt_station_submit(rt_station *st, const rt_update_dialogs *d, unsigned flags,
    const rt_plan *plan, rt_submit_result *res)
{
	rt_err *e = NULL;
	rt_update_dialogs in;
	memset(res, 0, sizeof(*res));
	if (!st->have_ct)
		return rt_err_new(RT_E_ARG, NULL, "no card read yet (Reload)");
	if (plan->nsteps == 0 && !plan->write_ca_certs) {
		sta_wipe_secrets(st);	/* nothing to do; a kept PIN ends here too */
		return NULL;
	}
	if ((e = need_journal(st)) != NULL || (e = check_open_ops(st)) != NULL)
		goto out;
	/* the card shown is the card in the reader (checked again when it
	 * is used; the reader stays free while the officer answers) */
	if ((e = sta_reopen_target(st)) != NULL)
		goto out;
	sta_close_card(&st->tt, &st->tcard);
	if (!(flags & RT_SUBMIT_YES)) {
		bool yes = false;
		if (d == NULL || d->confirm == NULL) {
			e = rt_err_new(RT_E_USAGE, NULL, "no one to confirm the "
			    "plan: nothing was sent");
			goto out;
		}
		if ((e = d->confirm(d->ctx, plan, &yes)) != NULL)
			goto out;
		if (!yes) {
			e = rt_err_new(RT_E_CANCELLED, NULL, "not confirmed: nothing "
			    "was sent and the card is unchanged");
			goto out;
		}
	}
	if ((e = signature_ready(st, d)) != NULL)
		goto out;
	if (d != NULL && d->cancel != NULL && d->cancel(d->ctx)) {
		e = rt_err_new(RT_E_CANCELLED, NULL, "cancelled: nothing was sent "
		    "and the card is unchanged");
		goto out;
	}
	if ((e = open_cmhost(st)) != NULL)
		goto out;
	if ((e = sta_reopen_target(st)) != NULL)
		goto out;
	inner_dialogs(st, d, &in);
	rt_submit_env env = {
		.card = st->tcard, .officer = st->signer, .cmp = st->client,
		.journal = st->journal, .audit = st->audit,
		.officer_name = st->oinfo.subject, .issued_dir = st->idir,
		.busy_op = st->busy, .busy_cap = sizeof(st->busy),
	};
	e = rt_update_submit(&st->u, plan, &env, &in, res);
out:
	st->outer = NULL;
	st->busy[0] = '\0';
	sta_wipe_secrets(st);
	sta_close_officer(st);
	sta_close_card(&st->tt, &st->tcard);
	return e;
}

rt_err *
rt_station_cmhost(rt_station *st, const rt_update_dialogs *d,
    cmp_client **out)
{
	rt_err *e;
	*out = NULL;
	if ((e = signature_ready(st, d)) != NULL ||
	    (e = open_cmhost(st)) != NULL) {
		rt_station_cmhost_done(st);
		return e;
	}
	*out = st->client;
	return NULL;
}

rt_err *
rt_station_cmhost_public(rt_station *st, cmp_client **out)
{
	*out = NULL;
	sta_close_officer(st);
	rt_err *e = open_cmhost_as(st, false);
	if (e == NULL)
		*out = st->client;
	return e;
}

void
rt_station_cmhost_done(rt_station *st)
{
	sta_wipe_secrets(st);
	sta_close_officer(st);
}

const char *
rt_station_busy_op(const rt_station *st)
{
	return st->busy;
}

/* ---- the journal ---------------------------------------------------------- */

rt_err *
rt_station_open_ops(rt_station *st, rt_jop **ops, size_t *n)
{
	*ops = NULL;
	*n = 0;
	rt_err *e = need_journal(st);
	if (e != NULL)
		return e;
	return rt_journal_incomplete(st->journal, ops, n);
}

rt_err *
rt_station_recover(rt_station *st, const rt_jop *op,
    const rt_update_dialogs *d, rt_recover_result *res)
{
	rt_err *e;
	rt_contents ct;
	bool have_ct = false;
	memset(res, 0, sizeof(*res));
	if ((e = need_journal(st)) != NULL)
		return e;
	/* the card now in the target reader decides what was written */
	if (!st->readers_found) {
		e = rt_station_find_readers(st, NULL);
		rt_err_free(e);
	}
	if (st->target_reader[0] != '\0') {
		rt_err *re = sta_open_target(st);	/* no card: none to look at */
		if (re == NULL) {
			re = rt_contents_read(st->tcard, NULL, time(NULL), 0, &ct);
			have_ct = re == NULL;
		}
		rt_err_free(re);
		sta_close_card(&st->tt, &st->tcard);
	}
	if ((e = signature_ready(st, d)) == NULL &&
	    (e = open_cmhost(st)) == NULL) {
		rt_submit_env env = {
			.cmp = st->client, .journal = st->journal,
			.audit = st->audit, .officer_name = st->oinfo.subject,
		};
		e = rt_recover_op(op, have_ct ? &ct : NULL, &env, res);
	}
	if (have_ct)
		rt_contents_free(&ct);
	return e;
}

void
rt_station_recover_done(rt_station *st)
{
	rt_station_cmhost_done(st);
}

