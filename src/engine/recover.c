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

/* "... transaction HEX ..." of a REQUEST record -> ts->txid */
static bool
txid_of(const rt_jrec *r, cmp_txn_state *ts)
{
	const char *t = strstr(r->text, "transaction ");
	char hex[80];
	size_t l = 0;
	if (t == NULL || sscanf(t, "transaction %79s", hex) != 1)
		return false;
	rt_err *e = rt_hex_decode(hex, strlen(hex), ts->txid, sizeof(ts->txid),
	    &l, 0);
	rt_err_free(e);
	if (e != NULL || l == 0)
		return false;
	ts->txid_len = l;
	return true;
}

static const char *
txc_name(cmp_txc_state s)
{
	switch (s) {
	case CMP_TXC_CONFIRMED: return "confirmed";
	case CMP_TXC_REJECTED: return "rejected";
	case CMP_TXC_REVOKED: return "revoked";
	default: return "waiting";
	}
}

void
rt_grace_fmt(time_t t, char *out, size_t cap)
{
	struct tm tm;
	out[0] = '\0';
	if (t > 0 && localtime_r(&t, &tm) != NULL)
		strftime(out, cap, "%Y-%m-%d %H:%M", &tm);
}

/* Whether the key holds the certificate among its certificates (a
 * PKCS#15 key may hold several: a row each). */
static bool
card_holds(const rt_contents *ct, uint8_t slot, const uint8_t *der, size_t len)
{
	for (size_t i = 0; i < ct->nrows; i++)
		if (ct->rows[i].slot == slot && ct->rows[i].has_cert &&
		    ct->rows[i].der_len == len &&
		    memcmp(ct->rows[i].der, der, len) == 0)
			return true;
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

/* The PLAN record of the i-th request (the cr lists the keys in plan
 * order); NULL if there is none. */
static const rt_jrec *
plan_rec(const rt_jop *op, size_t i)
{
	size_t k = 0;
	for (size_t j = 0; j < op->nrecs; j++)
		if (op->recs[j].step == RT_J_PLAN && k++ == i)
			return &op->recs[j];
	return NULL;
}

static void
audit_one(const rt_jop *op, const rt_submit_env *env, const rt_jrec *plan,
    const char *serial, const char *result)
{
	if (env->audit == NULL)
		return;
	rt_audit_line l = {
		.officer = env->officer_name ? env->officer_name :
		    op->info.officer,
		.card = op->info.card, .slot = plan ? plan->slot : 0,
		.action = plan ? plan->action : "", .procedure = op->info.procedure,
		.serial = serial, .result = result,
	};
	rt_err *e = rt_audit_append(env->audit, &l);
	rt_err_free(e);
}

/* The request's answer was lost (nothing journaled as issued): what the
 * CM host says decides. Nothing was written to the card. */
static rt_err *
recover_lost_answer(const rt_jop *op, const rt_submit_env *env,
    rt_jop_file *f, const cmp_txn_state *ts, const cmp_tx_status *st,
    rt_recover_result *res)
{
	char s[4], when[32];
	rt_err *e;
	if (st->status == CMP_TX_UNKNOWN) {
		snprintf(res->summary, sizeof(res->summary), "the CM host has no "
		    "such transaction: nothing was issued; closed (ABORT)");
		e = japp(f, RT_J_ABORT, NULL, "recovered: the CM host issued "
		    "nothing (txStatus unknown)");
		res->finished = e == NULL;
		return e;
	}
	res->nissued = st->ncerts;
	cmp_buf certs[CMP_TX_MAX_CERTS];
	bool acc[CMP_TX_MAX_CERTS];
	const char *why[CMP_TX_MAX_CERTS];
	char serial[CMP_TX_MAX_CERTS][132];
	for (size_t i = 0; i < st->ncerts; i++) {
		rt_cert_info ci;
		const rt_jrec *pl = plan_rec(op, (size_t)st->certs[i].cert_req_id);
		certs[i] = st->certs[i].cert;
		acc[i] = false;
		why[i] = "the answer to the request was lost: not on the card";
		serial[i][0] = '\0';
		if (rt_cert_info_parse(certs[i].p, certs[i].len, &ci) == NULL)
			snprintf(serial[i], sizeof(serial[i]), "%.64s", ci.serial);
		snprintf(res->line[res->nlines++], sizeof(res->line[0]),
		    "%s serial %.64s: %s at the CM host, not on the card%s",
		    pl ? piv_slot_name(pl->slot, s, sizeof(s)) : "?", serial[i],
		    st->status == CMP_TX_WAITING ? "issued" :
		    txc_name(st->certs[i].state), st->status == CMP_TX_WAITING ?
		    ": reject" : "");
	}
	if (st->status == CMP_TX_CLOSED) {
		snprintf(res->summary, sizeof(res->summary), "the CM host had "
		    "closed the transaction: %zu certificate(s), none on the "
		    "card; closed (ABORT)", st->ncerts);
		for (size_t i = 0; i < st->ncerts; i++) {
			char r[120];
			snprintf(r, sizeof(r), "recovered: %s at the CM host, not on "
			    "the card", txc_name(st->certs[i].state));
			audit_one(op, env, plan_rec(op, (size_t)
			    st->certs[i].cert_req_id), serial[i], r);
		}
		e = japp(f, RT_J_ABORT, NULL, "recovered: the CM host had closed "
		    "the transaction; nothing on the card");
		res->finished = e == NULL;
		return e;
	}
	/* waiting: reject everything at once, in the certConf it waits for */
	cmp_txn_state rs = *ts;
	cmp_txn *txn = NULL;
	memcpy(rs.peer_nonce, st->recip_nonce.p, st->recip_nonce.len);
	rs.peer_nonce_len = st->recip_nonce.len;
	if ((e = cmp_txn_resume(&rs, certs, st->ncerts, &txn)) != NULL)
		return e;
	if ((e = japp(f, RT_J_CONFIRM, NULL, "recovered: reject the %zu "
	    "certificate(s) of a lost answer", st->ncerts)) != NULL) {
		cmp_txn_free(txn);
		return e;
	}
	e = cmp_client_confirm_each(env->cmp, txn, acc, why);
	cmp_txn_free(txn);
	if (e != NULL) {
		rt_grace_fmt(st->confirm_by, when, sizeof(when));
		return rt_err_wrap(e, "operation %s stays open (the CM host "
		    "revokes what it issued at %s anyway)", op->id, when);
	}
	for (size_t i = 0; i < st->ncerts; i++)
		audit_one(op, env, plan_rec(op, (size_t)st->certs[i].cert_req_id),
		    serial[i], "recovered: rejected (the answer to the request "
		    "was lost; not on the card)");
	res->nrejected = st->ncerts;
	snprintf(res->summary, sizeof(res->summary), "the CM host had issued "
	    "%zu certificate(s) whose answer was lost: rejected at once, none "
	    "is on the card; closed (ABORT)", st->ncerts);
	if ((e = japp(f, RT_J_CONFIRMED, NULL, "recovered: pkiConf")) == NULL)
		e = japp(f, RT_J_ABORT, NULL, "recovered: the certificates of a "
		    "lost answer rejected");
	res->finished = e == NULL;
	return e;
}

time_t
rt_jop_confirm_by(const rt_jop *op)
{
	for (size_t i = 0; i < op->nrecs; i++) {
		const rt_jrec *r = &op->recs[i];
		const char *c;
		long long t;
		if (r->step == RT_J_ISSUED && r->slot == 0 &&
		    (c = strstr(r->text, "confirm-by ")) != NULL &&
		    sscanf(c, "confirm-by %lld", &t) == 1)
			return (time_t)t;
	}
	return 0;
}

/* An operation writing CA certificates (PLAN ca-certs) whose WRITE has
 * no WRITTEN. */
static bool
ca_write_open(const rt_jop *op)
{
	bool write = false;
	for (size_t i = 0; i < op->nrecs; i++) {
		const rt_jrec *r = &op->recs[i];
		if (strcmp(r->action, "ca-certs") != 0)
			continue;
		if (r->step == RT_J_WRITE)
			write = true;
		if (r->step == RT_J_WRITTEN)
			write = false;
	}
	return write;
}

rt_err *
rt_recover_op(const rt_jop *op, const rt_contents *ct,
    const rt_submit_env *env, rt_recover_result *res)
{
	rec_key k[CMP_MAX_REQS];
	size_t n = 0;
	bool confirmed = false, have_state = false, have_txid = false;
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
		if (r->step == RT_J_REQUEST)
			have_txid = txid_of(r, &ts);
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
				have_txid |= have_state;
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
	/* what the CM host knows of the transaction (id-it-raterm-txStatus;
	 * a CM host that does not answer it leaves the journal to decide) */
	cmp_tx_status st;
	uint8_t *stbuf = NULL;
	bool asked = false;
	if (!confirmed && have_txid && env->cmp != NULL) {
		rt_err *se = cmp_client_tx_status(env->cmp, ts.txid, ts.txid_len,
		    &st, &stbuf);
		if (se != NULL && rt_err_has(se, RT_E_CMP_HTTP)) {
			e = rt_err_wrap(se, "operation %s stays open: the CM host "
			    "is needed", op->id);
			goto out;
		}
		asked = se == NULL;
		rt_err_free(se);
	}
	if (n == 0) {
		if (asked) {
			e = recover_lost_answer(op, env, f, &ts, &st, res);
			goto out;
		}
		if (have_txid) {
			snprintf(res->summary, sizeof(res->summary), "the request "
			    "was sent and no certificate was received: the CM host "
			    "does not say whether it issued (no txStatus); nothing "
			    "is on the card, and what it may have issued is revoked "
			    "after its grace period; closed (ABORT)");
			audit_one(op, env, NULL, "", "recovered: unknown at the "
			    "CA, not on the card (no txStatus)");
			e = japp(f, RT_J_ABORT, NULL, "recovered: no answer "
			    "received; the CM host does not tell; nothing on the "
			    "card");
		} else if (ca_write_open(op)) {
			/* CA certificates (public, not issued): the card keeps
			 * what it holds; writing them again settles it */
			snprintf(res->summary, sizeof(res->summary), "the CA "
			    "certificates' write was interrupted: the card may "
			    "hold some of them; run 'raterm update --procedure %s "
			    "--replace-ca-certs' again; closed (ABORT)",
			    op->info.procedure);
			e = japp(f, RT_J_ABORT, NULL, "recovered: the CA "
			    "certificates' write interrupted; written again by a "
			    "new Replace CA certificate(s)");
		} else {
			snprintf(res->summary, sizeof(res->summary), "nothing was "
			    "issued: closed (ABORT)");
			e = japp(f, RT_J_ABORT, NULL, "recovered: nothing was "
			    "issued");
		}
		res->finished = e == NULL;
		goto out;
	}
	if (asked && st.status == CMP_TX_CLOSED) {
		/* the certConf had been applied (its answer lost), or the
		 * grace period ran out: record what is true */
		size_t nrev = 0;
		for (size_t i = 0; i < n; i++) {
			const rt_jrec *r = k[i].issued;
			cmp_txc_state cs = CMP_TXC_WAITING;
			for (size_t j = 0; j < st.ncerts; j++)
				if (st.certs[j].cert.len == r->cert_len &&
				    memcmp(st.certs[j].cert.p, r->cert,
				    r->cert_len) == 0)
					cs = st.certs[j].state;
			bool on = strcmp(r->action, "issue") != 0 && ct != NULL &&
			    card_holds(ct, r->slot, r->cert, r->cert_len);
			k[i].accept = cs == CMP_TXC_CONFIRMED;
			k[i].why = txc_name(cs);
			if (k[i].accept)
				res->naccepted++;
			else
				res->nrejected++;
			if (cs == CMP_TXC_REVOKED && (on || (k[i].write_announced &&
			    ct == NULL))) {
				nrev++;
				snprintf(res->line[res->nlines++], sizeof(res->line[0]),
				    "%s %.8s serial %.64s: revoked by the CM host (not "
				    "confirmed within its grace period) but %s the "
				    "card: redo it: raterm update --procedure %.40s "
				    "--action %s=redo", piv_slot_name(r->slot, s,
				    sizeof(s)), r->action, r->serial, on ? "on" :
				    "maybe on", op->info.procedure, piv_slot_name(
				    r->slot, s, sizeof(s)));
			} else
				snprintf(res->line[res->nlines++], sizeof(res->line[0]),
				    "%s %.8s serial %.64s: %s at the CM host%s",
				    piv_slot_name(r->slot, s, sizeof(s)), r->action,
				    r->serial, txc_name(cs), on ? ", on the card" : "");
		}
		snprintf(res->summary, sizeof(res->summary), "the CM host had "
		    "already closed the transaction: %zu confirmed, %zu not%s; "
		    "closed (END)", res->naccepted, res->nrejected, nrev ?
		    "; a revoked certificate on the card needs a Redo" : "");
		for (size_t i = 0; i < n; i++)
			k[i].why = k[i].accept ? "confirmed at the CM host" :
			    "not confirmed at the CM host";
		audit_keys(op, env, k, n, NULL);
		e = japp(f, RT_J_END, NULL, "recovered: the CM host had closed the "
		    "transaction (%zu confirmed, %zu not)", res->naccepted,
		    res->nrejected);
		res->finished = e == NULL;
		goto out;
	}
	if (asked && st.status == CMP_TX_UNKNOWN) {
		snprintf(res->summary, sizeof(res->summary), "the CM host does "
		    "not know the transaction any more: nothing can be "
		    "confirmed; closed (ABORT)");
		for (size_t i = 0; i < n; i++)
			k[i].why = "the CM host does not know the transaction";
		audit_keys(op, env, k, n, NULL);
		e = japp(f, RT_J_ABORT, NULL, "recovered: transaction unknown at "
		    "the CM host");
		res->finished = e == NULL;
		goto out;
	}
	if (asked && st.recip_nonce.len > 0 &&
	    st.recip_nonce.len <= sizeof(ts.peer_nonce)) {
		/* waiting: answer the nonce the CM host expects now */
		memcpy(ts.peer_nonce, st.recip_nonce.p, st.recip_nonce.len);
		ts.peer_nonce_len = st.recip_nonce.len;
		have_state = true;
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
	free(stbuf);
	rt_journal_file_close(f);
	return e;
}
