/* recover.c - completing or rolling back an interrupted update from its
 * journal; see include/raterm/engine.h (rt_recover_op). */
#include "raterm/cmp.h"
#include "raterm/engine.h"
#include "raterm/journal.h"
#include "raterm/util.h"
#include "engine_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const rt_jrec *issued;	/* the ISSUED record of the key */
	bool write_announced;	/* a WRITE record: the card may hold it */
	bool written;		/* a WRITTEN record */
	bool accept;
	const char *why;
} rec_key;

static rt_err *
japp(rt_jop_file *f, rt_jstep step, const rt_jrec *about, const char *fmt,
    ...) RT_PRINTF(4, 5);

static rt_err *
japp(rt_jop_file *f, rt_jstep step, const rt_jrec *about, const char *fmt,
    ...)
{
	rt_jrec r;
	memset(&r, 0, sizeof(r));
	r.step = step;
	if (about != NULL) {
		r.slot = about->slot;
		memcpy(r.action, about->action, sizeof(r.action));
		memcpy(r.profile, about->profile, sizeof(r.profile));
		memcpy(r.serial, about->serial, sizeof(r.serial));
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r.text, sizeof(r.text), fmt, ap);
	va_end(ap);
	rt_err *e = rt_journal_append(f, &r);
	return e ? rt_err_wrap(e, "journal (%s)", rt_jstep_name(step)) : NULL;
}

static bool
card_holds(const rt_contents *ct, uint8_t slot, const uint8_t *der, size_t len)
{
	for (size_t i = 0; i < ct->nrows; i++)
		if (ct->rows[i].slot == slot)
			return ct->rows[i].has_cert && ct->rows[i].der_len == len &&
			    memcmp(ct->rows[i].der, der, len) == 0;
	return false;
}

static void
audit_keys(const rt_jop *op, const rt_submit_env *env, const rec_key *k,
    size_t n, const char *outcome)
{
	if (env->audit == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		char result[300];
		snprintf(result, sizeof(result), "recovered: %s%s%s", k[i].accept ?
		    "accepted" : "rejected", k[i].why ? " - " : "", k[i].why ?
		    k[i].why : "");
		if (outcome != NULL)
			snprintf(result, sizeof(result), "recovered: %s", outcome);
		rt_audit_line l = {
			.officer = env->officer_name ? env->officer_name :
			    op->info.officer,
			.card = op->info.card, .slot = k[i].issued->slot,
			.action = k[i].issued->action,
			.procedure = op->info.procedure,
			.serial = k[i].issued->serial, .result = result,
		};
		rt_err *e = rt_audit_append(env->audit, &l);
		rt_err_free(e);
	}
}

rt_err *
rt_recover_op(const rt_jop *op, const rt_contents *ct,
    const rt_submit_env *env, rt_recover_result *res)
{
	rec_key k[CMP_MAX_REQS];
	size_t n = 0;
	bool confirmed = false, have_state = false;
	cmp_txn_state ts;
	char s[4];
	memset(res, 0, sizeof(*res));
	memset(k, 0, sizeof(k));
	memset(&ts, 0, sizeof(ts));
	if (env == NULL || env->journal == NULL)
		return rt_err_new(RT_E_ARG, NULL, "recover: no journal");

	for (size_t i = 0; i < op->nrecs; i++) {
		const rt_jrec *r = &op->recs[i];
		if (r->step == RT_J_CONFIRMED)
			confirmed = true;
		if (r->step == RT_J_ISSUED && r->slot == 0) {
			char tx[64], nn[300];
			if (sscanf(r->text, "transaction %63s server-nonce %299s",
			    tx, nn) == 2) {
				size_t tl = 0, nl = 0;
				rt_err *he = rt_hex_decode(tx, strlen(tx),
				    ts.txid, sizeof(ts.txid), &tl, 0);
				if (he == NULL)
					he = rt_hex_decode(nn, strlen(nn),
					    ts.peer_nonce,
					    sizeof(ts.peer_nonce),
					    &nl, 0);
				have_state = he == NULL && tl > 0 && nl > 0;
				ts.txid_len = he == NULL ? tl : 0;
				ts.peer_nonce_len = he == NULL ? nl : 0;
				rt_err_free(he);
			}
		} else if (r->step == RT_J_ISSUED && r->cert != NULL &&
		    n < CMP_MAX_REQS) {
			k[n++].issued = r;
		}
		for (size_t j = 0; j < n; j++) {
			if (k[j].issued->slot != r->slot)
				continue;
			if (r->step == RT_J_WRITE)
				k[j].write_announced = true;
			if (r->step == RT_J_WRITTEN)
				k[j].written = true;
		}
	}
	res->nissued = n;

	rt_jop_file *f = NULL;
	rt_err *e = rt_journal_reopen(env->journal, op->id, &f);
	if (e != NULL)
		return e;
	if (n == 0) {
		snprintf(res->summary, sizeof(res->summary), "nothing was issued: "
		    "closed (ABORT)");
		e = japp(f, RT_J_ABORT, NULL, "recovered: nothing was issued");
		res->finished = e == NULL;
		goto out;
	}
	if (confirmed) {
		snprintf(res->summary, sizeof(res->summary), "the CM host had "
		    "answered the confirmation: closed (END)");
		e = japp(f, RT_J_END, NULL, "recovered: confirmation had been "
		    "received");
		res->finished = e == NULL;
		goto out;
	}
	/* the card is needed where a write was announced */
	char here[96] = "";
	if (ct != NULL)
		eng_card_name(ct, here, sizeof(here));
	for (size_t i = 0; i < n; i++) {
		if (strcmp(k[i].issued->action, "issue") != 0 &&
		    k[i].write_announced && strcmp(here, op->info.card) != 0) {
			res->skipped = true;
			snprintf(res->summary, sizeof(res->summary), "the card (%s) "
			    "is needed to see what was written%s%s%s: insert it "
			    "and run recover again", op->info.card, here[0] ?
			    "; the reader holds " : "", here, "");
			goto out;
		}
	}
	if (!have_state) {
		snprintf(res->summary, sizeof(res->summary), "the journal lacks "
		    "the CMP transaction: the CM host revokes what stays "
		    "unconfirmed; closed (ABORT)");
		for (size_t i = 0; i < n; i++)
			k[i].why = "no transaction to confirm";
		e = japp(f, RT_J_ABORT, NULL, "recovered: no CMP transaction "
		    "state; unconfirmed certificates are revoked by the CM host");
		audit_keys(op, env, k, n, NULL);
		res->finished = e == NULL;
		goto out;
	}
	/* decide per key */
	bool acc[CMP_MAX_REQS];
	const char *why[CMP_MAX_REQS];
	cmp_buf certs[CMP_MAX_REQS];
	char list[200];
	size_t lo = 0;
	list[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const rt_jrec *r = k[i].issued;
		certs[i] = (cmp_buf){ r->cert, r->cert_len };
		if (strcmp(r->action, "issue") == 0) {
			k[i].accept = k[i].written;
			k[i].why = k[i].written ? "saved on the station" :
			    "not saved on the station";
		} else if (!k[i].write_announced) {
			k[i].accept = false;
			k[i].why = "never written to the card";
		} else {
			k[i].accept = card_holds(ct, r->slot, r->cert, r->cert_len);
			k[i].why = k[i].accept ? "on the card" : "not on the card";
		}
		acc[i] = k[i].accept;
		why[i] = k[i].accept ? NULL : "the certificate is not on the card";
		if (k[i].accept)
			res->naccepted++;
		else
			res->nrejected++;
		snprintf(res->line[res->nlines++], sizeof(res->line[0]),
		    "%s %s serial %s: %s (%s)", piv_slot_name(r->slot, s,
		    sizeof(s)), r->action, r->serial, k[i].accept ? "accept" :
		    "reject", k[i].why);
		lo += (size_t)snprintf(list + lo, lo < sizeof(list) ?
		    sizeof(list) - lo : 0, "%s%s=%s", lo ? " " : "",
		    piv_slot_name(r->slot, s, sizeof(s)), acc[i] ? "accept" :
		    "reject");
	}
	cmp_txn *txn = NULL;
	if ((e = cmp_txn_resume(&ts, certs, n, &txn)) != NULL)
		goto out;
	if ((e = japp(f, RT_J_CONFIRM, NULL, "recovered: %s", list)) != NULL) {
		cmp_txn_free(txn);
		goto out;
	}
	e = cmp_client_confirm_each(env->cmp, txn, acc, why);
	cmp_txn_free(txn);
	if (e != NULL && rt_err_has(e, RT_E_CMP_STATUS)) {
		char m[200];
		rt_err_format(e, m, sizeof(m));
		rt_err_free(e);
		snprintf(res->summary, sizeof(res->summary), "the CM host refused "
		    "the confirmation (%s): closed (ABORT)", m);
		e = japp(f, RT_J_ABORT, NULL, "recovered: certConf refused");
		audit_keys(op, env, k, n, "certConf refused by the CM host");
		res->finished = e == NULL;
		goto out;
	}
	if (e != NULL) {
		e = rt_err_wrap(e, "operation %s stays open", op->id);
		goto out;
	}
	if ((e = japp(f, RT_J_CONFIRMED, NULL, "recovered: pkiConf")) != NULL ||
	    (e = japp(f, RT_J_END, NULL, "recovered: %s", list)) != NULL)
		goto out;
	audit_keys(op, env, k, n, NULL);
	res->finished = true;
	snprintf(res->summary, sizeof(res->summary), "confirmed to the CM "
	    "host: %zu accepted, %zu rejected; closed (END)", res->naccepted,
	    res->nrejected);
out:
	rt_journal_file_close(f);
	return e;
}
