/* submit.c - the submit pipeline of an update: card PINs and management
 * key, one CMP request for all keys, certificates written, read back and
 * tested, certConf / pkiConf, journal and audit; see
 * include/raterm/engine.h (rt_update_submit). */
#include "raterm/cmp.h"
#include "raterm/csr.h"
#include "raterm/engine.h"
#include "raterm/journal.h"
#include "raterm/util.h"
#include "raterm/x509.h"
#include "engine_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#define PIN_CAP 16
#define MGMT_CAP 32

/* The PIV default management key (SP 800-73-4 test cards, YubiKey). */

typedef struct pins pins;

/* PIN callback of the card signers: the profile's PIN-always key (PIV
 * 9C) gets the second PIN when there are two. */
typedef struct {
	pins *p;
	unsigned which;
} pin_pick;

/* What one plan step needs and gets. */
typedef struct {
	const rt_plan_step *st;
	const rt_key_row *row;
	uint8_t spki_buf[1200];
	cmp_buf spki;		/* points into spki_buf */
	cmp_buf subject;	/* points into the row's certificate or
				 * subject_buf */
	uint8_t subject_buf[1024];	/* typed by the officer, DER */
	uint8_t *exts;		/* DER Extensions (malloc'ed), NULL none */
	size_t exts_len;
	mbedtls_x509_crt crt;	/* the row's certificate, parsed */
	bool have_crt;
	const uint8_t *cert;	/* issued (owned by the txn) */
	size_t cert_len;
	bool on_card;		/* written, read back and tested */
	bool keep;		/* accepted in certConf */
	pin_pick pp;		/* PIN of the POPO signer */
} step_ctx;

struct pins {
	char pin[2][PIN_CAP];
	size_t pin_len[2];
	unsigned npins;
	bool second_own;	/* the second PIN is a PIN of its own: never
				 * the first in its place */
};

static rt_err *
pin_from_store(void *ctx, const char *prompt, char *buf, size_t cap,
    size_t *len)
{
	(void)prompt;
	pin_pick *pp = ctx;
	unsigned w = pp->which < pp->p->npins ? pp->which : 0;
	if (pp->p->npins == 0)
		return rt_err_new(RT_E_PERMISSION, NULL, "no card PIN given");
	if (w != pp->which && pp->p->second_own)
		return rt_err_new(RT_E_PERMISSION, NULL, "the key signs with the "
		    "card's PIN %u, which was not asked (the plan's PINs: %u)",
		    pp->which + 1, pp->p->npins);
	if (pp->p->pin_len[w] > cap)
		return rt_err_new(RT_E_ARG, NULL, "PIN too long");
	memcpy(buf, pp->p->pin[w], pp->p->pin_len[w]);
	*len = pp->p->pin_len[w];
	return NULL;
}

static void
progress(const rt_update_dialogs *d, const rt_plan_step *st, const char *what)
{
	if (d != NULL && d->progress != NULL)
		d->progress(d->ctx, st, what);
}

/* The officer asked to cancel (polled between steps only). */
static bool
cancelled(const rt_update_dialogs *d)
{
	return d != NULL && d->cancel != NULL && d->cancel(d->ctx);
}

static const char *
slot_str(uint8_t slot, char *buf)
{
	return piv_slot_name(slot, buf, 4);
}

/* The public key (SPKI) and subject of a step's request. */
static rt_err *
fill_template(rt_card *card, const rt_update *u, int row, step_ctx *sc)
{
	const rt_procedure *proc = u->proc;
	char s[4];
	const rt_key_row *r = sc->row;
	mbedtls_x509_crt_init(&sc->crt);
	if (r->has_cert && r->der != NULL) {
		if (mbedtls_x509_crt_parse_der(&sc->crt, r->der, r->der_len) != 0)
			return rt_err_new(RT_E_CERT, NULL, "slot %s: its certificate "
			    "does not parse", slot_str(r->slot, s));
		sc->have_crt = true;
		int n = mbedtls_pk_write_pubkey_der(&sc->crt.pk, sc->spki_buf,
		    sizeof(sc->spki_buf));
		if (n <= 0)
			return rt_err_new(RT_E_CRYPTO, NULL, "slot %s: public key "
			    "cannot be encoded", s);
		sc->spki = (cmp_buf){ sc->spki_buf + sizeof(sc->spki_buf) -
		    (size_t)n, (size_t)n };
		sc->subject = (cmp_buf){ sc->crt.subject_raw.p,
		    sc->crt.subject_raw.len };
	} else {
		mbedtls_pk_context pk;
		mbedtls_pk_init(&pk);
		rt_err *e = rt_card_public_key(card, r->slot, &pk);
		if (e != NULL) {
			mbedtls_pk_free(&pk);
			return rt_err_wrap(e, "slot %s: public key", slot_str(
			    r->slot, s));
		}
		int n = mbedtls_pk_write_pubkey_der(&pk, sc->spki_buf,
		    sizeof(sc->spki_buf));
		mbedtls_pk_free(&pk);
		if (n <= 0)
			return rt_err_new(RT_E_CRYPTO, NULL, "slot %s: public key "
			    "cannot be encoded", s);
		sc->spki = (cmp_buf){ sc->spki_buf + sizeof(sc->spki_buf) -
		    (size_t)n, (size_t)n };
	}
	switch (proc->subject) {
	case RT_SRC_TC:
	case RT_SRC_CARD:
		if (!sc->have_crt)
			return rt_err_new(RT_E_RULE, NULL, "slot %s: the subject "
			    "comes from the slot's certificate and there is none",
			    slot_str(r->slot, s));
		break;
	default: {
		size_t len = 0;
		rt_err *e;
		if (u->req[row].subject[0] == '\0')
			return rt_err_new(RT_E_USAGE, NULL, "slot %s: subject: "
			    "procedure '%s' has the subject typed by the officer "
			    "and none was given", slot_str(r->slot, s),
			    proc->name);
		if ((e = rt_dn_encode(u->req[row].subject, sc->subject_buf,
		    sizeof(sc->subject_buf), &len)) != NULL)
			return rt_err_wrap(e, "slot %s: subject",
			    slot_str(r->slot, s));
		sc->subject = (cmp_buf){ sc->subject_buf, len };
		break;
	}
	}
	return eng_build_extensions(u, row, &sc->exts, &sc->exts_len);
}

/* The card's identity for the CM host's management key: the GUID, else
 * the serial as 4 bytes big-endian. */
static size_t
card_id(const rt_contents *ct, uint8_t out[16])
{
	if (ct->has_guid) {
		memcpy(out, ct->guid, 16);
		return 16;
	}
	if (ct->has_serial) {
		out[0] = (uint8_t)(ct->serial >> 24);
		out[1] = (uint8_t)(ct->serial >> 16);
		out[2] = (uint8_t)(ct->serial >> 8);
		out[3] = (uint8_t)ct->serial;
		return 4;
	}
	return 0;
}

/* Management-key authentication, after the cp (the cr's answer) and
 * before the first write: the key the CM host sent with the certificates (asked in the cr,
 * cmp_enroll_req.mgmt_key), else the operator credential from the dialog.
 * The transaction's copy of the key is wiped here. */
static rt_err *
auth_mgmt(const rt_submit_env *env, const rt_update_dialogs *d,
    cmp_txn *txn, const rt_contents *ct)
{
	uint8_t key[MGMT_CAP];
	size_t kl = 0;
	int alg = 0;
	const char *src = "the CM host's";
	rt_err *e;
	if (txn != NULL) {
		e = cmp_txn_mgmt_key(txn, &alg, key, sizeof(key), &kl);
		cmp_txn_wipe_mgmt_key(txn);
	} else {
		/* no request of keys: asked on its own (genm) */
		uint8_t cid[16];
		size_t cl = card_id(ct, cid);
		e = cl == 0 ? rt_err_new(RT_E_NOT_FOUND, NULL, "the card has no "
		    "identity to ask its operator credential for") :
		    cmp_client_mgmt_key(env->cmp, cid, cl, &alg, key, sizeof(key),
		    &kl);
	}
	if (e != NULL) {
		/* not held, not given to this officer or over this transport,
		 * or a CM host that does not know the InfoType: ask. A key
		 * that is malformed or of another card: stop. */
		if (!rt_err_has(e, RT_E_NOT_FOUND)) {
			rt_wipe(key, sizeof(key));
			return rt_err_wrap(e, "the card's management key");
		}
		rt_err_free(e);
		const rt_card_caps *caps = rt_card_caps_get(env->card);
		src = "the operator's";
		alg = 0;	/* the card's algorithm */
		if (caps->operator_is_pin) {
			/* a PIN (PKCS#15: the SO PIN), typed as one */
			if (d == NULL || d->operator_pin == NULL)
				return rt_err_new(RT_E_PERMISSION, NULL, "the CM host "
				    "holds no %s for this card and there is no dialog "
				    "to ask for it", caps->operator_name);
			char pin[MGMT_CAP];
			size_t pl = 0;
			char prompt[120];
			snprintf(prompt, sizeof(prompt), "%s of the card",
			    caps->operator_name);
			e = d->operator_pin(d->ctx, prompt, pin, sizeof(pin), &pl);
			if (e == NULL) {
				memcpy(key, pin, pl);
				kl = pl;
			}
			rt_wipe(pin, sizeof(pin));
			if (e != NULL)
				return e;
		} else {
			if (d == NULL || d->operator_credential == NULL)
				return rt_err_new(RT_E_PERMISSION, NULL, "the CM host "
				    "holds no management key for this card and no "
				    "operator credential was given");
			if ((e = d->operator_credential(d->ctx, "Operator "
			    "credential (the card's management key, hex, or "
			    "'default')", key, sizeof(key), &kl)) != NULL) {
				rt_wipe(key, sizeof(key));
				return e;
			}
			if (kl == 0)	/* the dialog said: the default key */
				src = "the default";
		}
	}
	e = rt_card_operator_auth(env->card, alg, kl ? key : NULL, kl);
	rt_wipe(key, sizeof(key));
	if (e != NULL)
		return rt_err_wrap(e, "%s authentication with %s %s",
		    rt_card_caps_get(env->card)->operator_name, src,
		    rt_card_caps_get(env->card)->operator_is_pin ? "PIN" : "key");
	return NULL;
}

static rt_err *
ask_pins(const rt_update *u, const rt_plan *p, const rt_submit_env *env,
    const rt_update_dialogs *d, pins *pn)
{
	char prompt[400];
	rt_err *e;
	if (d == NULL || d->card_pin == NULL)
		return rt_err_new(RT_E_PERMISSION, NULL, "the card's PIN is needed "
		    "and there is no dialog to ask for it");
	unsigned want = p->card_pins >= 2 ? 2 : 1;
	pn->second_own = p->second_pin_own;
	for (unsigned i = 0; i < want; i++) {
		snprintf(prompt, sizeof(prompt), "%s of the card in \"%s\" (%s)",
		    i == 0 ? "PIN" : "Second PIN (signature key)", u->ct->reader,
		    p->card);
		if ((e = d->card_pin(d->ctx, i + 1, prompt, pn->pin[i], PIN_CAP,
		    &pn->pin_len[i])) != NULL)
			return e;
		pn->npins = i + 1;
		if ((e = rt_card_verify_pin_n(env->card, i, pn->pin[i],
		    pn->pin_len[i])) != NULL)
			return rt_err_wrap(e, "%s of the card", i == 0 ? "PIN" :
			    "second PIN");
	}
	return NULL;
}

/* Saves an Issue certificate: DIR/<card>-<slot>-<serial>.pem. */
static rt_err *
save_issued(const char *dir, const rt_plan *p, uint8_t slot,
    const uint8_t *der, size_t len, const char *serial, char *path,
    size_t cap)
{
	char s[4], card[96];
	size_t o = 0;
	for (const char *c = p->card; *c && o + 1 < sizeof(card); c++)
		card[o++] = (*c == ' ') ? '-' : *c;
	card[o] = '\0';
	if (dir == NULL || dir[0] == '\0')
		return rt_err_new(RT_E_ARG, NULL, "no directory for issued "
		    "certificates");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return rt_err_new(RT_E_IO, NULL, "%s: %s", dir, strerror(errno));
	snprintf(path, cap, "%s/%s-%s-%s.pem", dir, card, slot_str(slot, s),
	    serial);
	char *pem = NULL;
	rt_err *e = rt_pem_encode("CERTIFICATE", der, len, &pem);
	if (e != NULL)
		return e;
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		free(pem);
		return rt_err_new(RT_E_IO, NULL, "%s: %s", path, strerror(errno));
	}
	bool ok = fputs(pem, f) >= 0;
	ok = fflush(f) == 0 && ok;
	ok = fclose(f) == 0 && ok;
	free(pem);
	if (!ok)
		return rt_err_new(RT_E_IO, NULL, "%s: write error", path);
	return NULL;
}

/* Reads the slot's certificate back, compares it and makes a test
 * signature with the card's key checked against the certificate. */
static rt_err *
check_on_card(rt_card *card, step_ctx *sc, pins *pn)
{
	bool same = false;
	rt_err *e = rt_card_holds_cert(card, sc->st->slot, sc->cert,
	    sc->cert_len, &same);
	if (e != NULL)
		return rt_err_wrap(e, "reading the certificate back");
	if (!same)
		return rt_err_new(RT_E_CARD_STATUS, NULL, "the certificate read "
		    "back differs from the one written");
	pin_pick pp = { pn, rt_card_key_pin(card, sc->st->slot) };
	rt_card_signer_spec so = {
		.key = sc->st->slot, .cert = sc->cert, .cert_len = sc->cert_len,
		.pin_cb = pin_from_store, .pin_ctx = &pp,
	};
	rt_signer *sg = NULL;
	if ((e = rt_card_signer(card, &so, &sg)) != NULL)
		return rt_err_wrap(e, "test signature");
	/* a signature that does not verify is made once more: a card that
	 * answered a step of it 9000 without doing it (MSE SET not applied,
	 * another key signed; no signature) passes the second time, a
	 * certificate of another key fails both (rejected as wrong) */
	uint8_t dig[32], sig[1024];
	for (int attempt = 0; attempt < 2; attempt++) {
		size_t sl = 0;
		e = rt_random(dig, sizeof(dig));
		if (e == NULL)
			e = rt_signer_sign(sg, RT_HASH_SHA256, RT_SCHEME_DEFAULT,
			    dig, sizeof(dig), sig, sizeof(sig), &sl);
		if (e == NULL)
			e = rt_sig_verify(rt_signer_pk(sg), RT_HASH_SHA256,
			    RT_SCHEME_DEFAULT, dig, sizeof(dig), sig, sl);
		if (e == NULL || !rt_err_has(e, RT_E_CRYPTO) || attempt == 1)
			break;
		rt_err_free(e);
	}
	rt_signer_free(sg);
	if (e != NULL)
		return rt_err_wrap(e, "test signature with the key against the "
		    "new certificate");
	return NULL;
}

/* " before YYYY-MM-DD HH:MM" of the CM host's grace deadline, "" if
 * unknown. */
static void
before(time_t t, char *out, size_t cap)
{
	char w[32];
	rt_grace_fmt(t, w, sizeof(w));
	snprintf(out, cap, "%s%s", w[0] ? " before " : "", w);
}

/* After a write whose answer or check failed: what the slot holds now.
 * 1: the new certificate; 0: another one or none (provably not written);
 * -1: the card cannot tell (pulled, not answering): unknown. */
static int
card_now_holds(rt_card *card, uint8_t slot, const uint8_t *cert, size_t len)
{
	bool held = false;
	rt_err *e = rt_card_holds_cert(card, slot, cert, len, &held);
	if (e != NULL) {
		rt_err_free(e);
		return -1;
	}
	return held;
}

static rt_err *
jappend(rt_jop_file *f, rt_jstep step, uint8_t slot, const char *action,
    const char *profile, const char *serial, const uint8_t *cert,
    size_t cert_len, const char *fmt, ...) RT_PRINTF(9, 10);

static rt_err *
jappend(rt_jop_file *f, rt_jstep step, uint8_t slot, const char *action,
    const char *profile, const char *serial, const uint8_t *cert,
    size_t cert_len, const char *fmt, ...)
{
	rt_jrec r;
	memset(&r, 0, sizeof(r));
	r.step = step;
	r.slot = slot;
	snprintf(r.action, sizeof(r.action), "%s", action ? action : "");
	snprintf(r.profile, sizeof(r.profile), "%s", profile ? profile : "");
	snprintf(r.serial, sizeof(r.serial), "%s", serial ? serial : "");
	r.cert = cert;
	r.cert_len = cert_len;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r.text, sizeof(r.text), fmt, ap);
	va_end(ap);
	rt_err *e = rt_journal_append(f, &r);
	return e ? rt_err_wrap(e, "journal (%s)", rt_jstep_name(step)) : NULL;
}

/* Opens the journal operation of plan p (BEGIN: card, reader,
 * procedure, officer); its id into id[0..cap). */
static rt_err *
jbegin(const rt_update *u, const rt_plan *p, const rt_submit_env *env,
    char *id, size_t cap, rt_jop_file **jf)
{
	rt_jop_info info;
	memset(&info, 0, sizeof(info));
	snprintf(info.card, sizeof(info.card), "%s", p->card);
	snprintf(info.reader, sizeof(info.reader), "%s", p->reader);
	snprintf(info.procedure, sizeof(info.procedure), "%s", u->proc->name);
	snprintf(info.officer, sizeof(info.officer), "%s",
	    env->officer_name ? env->officer_name : "");
	return rt_journal_begin(env->journal, &info, id, cap, jf);
}

static void
set_msg(rt_submit_result *res, size_t i, rt_step_state st, const char *fmt,
    ...) RT_PRINTF(4, 5);

static void
set_msg(rt_submit_result *res, size_t i, rt_step_state st, const char *fmt,
    ...)
{
	va_list ap;
	res->state[i] = st;
	va_start(ap, fmt);
	vsnprintf(res->message[i], sizeof(res->message[i]), fmt, ap);
	va_end(ap);
}

static void
audit_all(const rt_update *u, const rt_plan *p, const rt_submit_env *env,
    const rt_submit_result *res)
{
	if (env->audit == NULL)
		return;
	for (size_t i = 0; i < p->nsteps; i++) {
		char result[300];
		const rt_step_state st = res->state[i];
		snprintf(result, sizeof(result), "%s%s%s",
		    st == RT_STEP_DONE ? "ok" : st == RT_STEP_NOT_RUN ?
		    "not run" : st == RT_STEP_ROLLED_BACK ? "rejected" : "failed",
		    res->message[i][0] ? ": " : "", res->message[i]);
		rt_audit_line l = {
			.officer = env->officer_name ? env->officer_name : "",
			.card = p->card, .slot = p->steps[i].slot,
			.action = rt_action_name(p->steps[i].action),
			.procedure = u->proc->name, .serial = res->serial[i],
			.result = result,
		};
		rt_err *e = rt_audit_append(env->audit, &l);
		rt_err_free(e);	/* best effort: the journal is the record */
	}
}

/* The operator credential in one submit: presented once at most. */
typedef enum { AUTH_NOT_TRIED = 0, AUTH_OK, AUTH_REFUSED } auth_state;

static rt_err *submit_keys(rt_update *u, const rt_plan *p,
    const rt_submit_env *env, const rt_update_dialogs *d,
    rt_submit_result *res, auth_state *auth) RT_MUST;
static rt_err *submit_ca_certs(rt_update *u, const rt_plan *p,
    const rt_submit_env *env, const rt_update_dialogs *d, auth_state auth,
    rt_submit_result *res) RT_MUST;

rt_err *
rt_update_submit(rt_update *u, const rt_plan *p, const rt_submit_env *env,
    const rt_update_dialogs *d, rt_submit_result *res)
{
	rt_submit_result dummy;
	if (res == NULL)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	auth_state auth = AUTH_NOT_TRIED;
	rt_err *e = NULL;
	if (p->nsteps > 0)
		e = submit_keys(u, p, env, d, res, &auth);
	/* the CA certificates after the keys, unless the keys' outcome is
	 * still open (the card is then for `raterm recover` first) */
	if (p->write_ca_certs && !res->unknown) {
		rt_err *ce = submit_ca_certs(u, p, env, d, auth, res);
		if (e == NULL)
			e = ce;
		else
			rt_err_free(ce);
	}
	return e;
}

static rt_err *
submit_keys(rt_update *u, const rt_plan *p, const rt_submit_env *env,
    const rt_update_dialogs *d, rt_submit_result *res, auth_state *auth)
{
	char s[4];
	if (u->proc == NULL)
		return rt_err_new(RT_E_RULE, NULL, "no procedure chosen");
	if (env == NULL || env->card == NULL || env->cmp == NULL ||
	    env->journal == NULL || p->nsteps > CMP_MAX_REQS)
		return rt_err_new(RT_E_ARG, NULL, "submit: the card, the CM host "
		    "and the journal are needed (and at most %d keys)",
		    CMP_MAX_REQS);

	step_ctx *sc = calloc(p->nsteps, sizeof(*sc));
	pins pn;
	memset(&pn, 0, sizeof(pn));
	if (sc == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "submit");
	rt_err *e = NULL, *first = NULL;
	rt_jop_file *jf = NULL;
	cmp_txn *txn = NULL;
	bool writes = false, popo_sig;
	cmp_cert_req tmpl[CMP_MAX_REQS];
	const char *profiles[CMP_MAX_REQS];
	rt_signer *popo[CMP_MAX_REQS];
	memset(tmpl, 0, sizeof(tmpl));
	memset(popo, 0, sizeof(popo));

	/* 1. the values the officer types (asked now if still missing), the
	 * rules again, and the templates: nothing is sent before */
	if ((e = rt_update_ask_typed(u, d)) != NULL)
		goto out;
	for (size_t i = 0; i < p->nsteps; i++) {
		const rt_plan_step *st = &p->steps[i];
		int row = rt_update_row(u, st->slot);
		sc[i].st = st;
		if (row < 0 || u->action[row] != st->action) {
			e = rt_err_new(RT_E_RULE, NULL, "the plan no longer matches "
			    "the chosen actions (slot %s)", slot_str(st->slot, s));
			goto out;
		}
		if ((e = rt_update_check_action(u, st->slot, st->action,
		    RT_CHECK_TC_RESULTS)) != NULL)
			goto out;
		sc[i].row = &u->ct->rows[row];
		if ((e = fill_template(env->card, u, row, &sc[i])) != NULL)
			goto out;
		tmpl[i].subject = sc[i].subject;
		tmpl[i].public_key = sc[i].spki;
		tmpl[i].extensions = (cmp_buf){ sc[i].exts, sc[i].exts_len };
		profiles[i] = st->profile;
		writes = writes || st->writes_card;
	}
	/* possession: TC controls passed on a TC card -> raVerified; else
	 * the card's key signs the request (POPO) */
	popo_sig = !(rt_contents_has_tc(u->ct) && u->tc_ran);

	/* 2. the card PINs, before anything is issued (the management key
	 * comes with the certificates: 4.) */
	if (writes || popo_sig) {
		if ((e = ask_pins(u, p, env, d, &pn)) != NULL)
			goto out;
	}
	if (popo_sig) {
		for (size_t i = 0; i < p->nsteps; i++) {
			sc[i].pp.p = &pn;
			sc[i].pp.which = rt_card_key_pin(env->card, p->steps[i].slot);
			rt_card_signer_spec so = {
				.key = p->steps[i].slot, .cert = sc[i].row->der,
				.cert_len = sc[i].row->der_len,
				.pin_cb = pin_from_store, .pin_ctx = &sc[i].pp,
			};
			if ((e = rt_card_signer(env->card, &so, &popo[i])) != NULL)
				goto out;
		}
	}

	if (cancelled(d)) {
		e = rt_err_new(RT_E_CANCELLED, NULL, "cancelled: nothing was sent "
		    "and the card is unchanged");
		goto out;
	}

	/* 3. the journal, then one request for all keys */
	if ((e = jbegin(u, p, env, res->op_id, sizeof(res->op_id), &jf)) !=
	    NULL)
		goto out;
	if (env->busy_op != NULL && env->busy_cap > 0)
		snprintf(env->busy_op, env->busy_cap, "%s", res->op_id);
	for (size_t i = 0; i < p->nsteps; i++) {
		const rt_plan_step *st = &p->steps[i];
		if ((e = jappend(jf, RT_J_PLAN, st->slot, rt_action_name(
		    st->action), st->profile, NULL, NULL, 0, "%s", st->after)) !=
		    NULL)
			goto out;
	}
	/* the transactionID, journaled before the request leaves: a lost
	 * answer can then be asked about (txStatus) by `raterm recover` */
	uint8_t txid[CMP_TXID_LEN];
	char txhex[2 * CMP_TXID_LEN + 1];
	if ((e = rt_random(txid, sizeof(txid))) != NULL)
		goto out;
	rt_hex_encode(txid, sizeof(txid), txhex, sizeof(txhex), 0);
	if ((e = jappend(jf, RT_J_REQUEST, 0, NULL, NULL, NULL, NULL, 0,
	    "cr for %zu key(s), POPO %s, transaction %s", p->nsteps, popo_sig ?
	    "signature" : "raVerified", txhex)) != NULL)
		goto out;
	progress(d, NULL, "sending the request to the CM host");
	uint8_t cid[16];
	cmp_enroll_req q = {
		.type = CMP_BODY_CR, .tmpl = tmpl, .ntmpl = p->nsteps,
		.profiles = profiles, .ra_verified = !popo_sig,
		.popo_signers = popo_sig ? popo : NULL,
		/* the CM host records which card the certificates are for,
		 * by the identity it keeps management keys under */
		.card_id = cid, .card_id_len = card_id(u->ct, cid),
		/* the card will be written: its management key, asked in
		 * the same request, comes back with the certificates */
		.mgmt_key = writes,
		.txid = txid,
	};
	if (q.card_id_len == 0)
		q.mgmt_key = false;	/* no identity to ask it for */
	res->sent = true;
	if ((e = cmp_client_enroll(env->cmp, &q, &txn)) != NULL) {
		/* not issued when the CM host refused or the request never
		 * reached it; an answer lost or unusable leaves it unknown */
		bool unknown = !cmp_err_not_sent(e) && (rt_err_has(e,
		    RT_E_CMP_HTTP) || rt_err_has(e, RT_E_CMP_PROTECTION) ||
		    rt_err_has(e, RT_E_CMP_TRUST) || rt_err_has(e,
		    RT_E_CMP_MISMATCH) || rt_err_has(e, RT_E_CMP_FORMAT));
		if (unknown) {
			res->unknown = true;
			/* sent, no usable answer: the CM host may have issued.
			 * Nothing was written (raterm writes only what it
			 * received); the operation stays open until `raterm
			 * recover` asks the CM host (txStatus) and rejects what
			 * it issued */
			for (size_t i = 0; i < p->nsteps; i++)
				set_msg(res, i, RT_STEP_FAILED, "%s", "outcome unknown: "
				    "the CM host may have issued; not on the card; "
				    "'raterm recover' rejects it (what is not "
				    "confirmed is revoked after the CM host's grace "
				    "period anyway)");
			e = rt_err_wrap(e, "the request was sent and its answer "
			    "lost: the CM host may have issued; nothing was "
			    "written to the card; the operation stays open in the "
			    "journal (%s): run 'raterm recover'", res->op_id);
			goto out;
		}
		for (size_t i = 0; i < p->nsteps; i++)
			set_msg(res, i, RT_STEP_FAILED, "%s", "not issued");
		rt_err *je = jappend(jf, RT_J_ABORT, 0, NULL, NULL, NULL, NULL, 0,
		    "%s", "request failed: nothing issued");
		rt_err_free(je);
		goto out;
	}
	res->issued = true;
	{
		/* what recovery needs to send the certConf later */
		cmp_txn_state ts;
		char tx[40], nn[260];
		cmp_txn_get_state(txn, &ts);
		rt_hex_encode(ts.txid, ts.txid_len, tx, sizeof(tx), 0);
		rt_hex_encode(ts.peer_nonce, ts.peer_nonce_len, nn,
		    sizeof(nn), 0);
		res->confirm_by = cmp_txn_confirm_by(txn);
		if ((e = jappend(jf, RT_J_ISSUED, 0, NULL, NULL, NULL, NULL, 0,
		    "transaction %s server-nonce %s confirm-by %lld", tx, nn,
		    (long long)res->confirm_by)) != NULL)
			goto out;
	}
	for (size_t i = 0; i < p->nsteps; i++) {
		cmp_buf c = cmp_txn_cert(txn, i);
		rt_cert_info ci;
		sc[i].cert = c.p;
		sc[i].cert_len = c.len;
		if (rt_cert_info_parse(c.p, c.len, &ci) == NULL)
			snprintf(res->serial[i], sizeof(res->serial[i]), "%s",
			    ci.serial);
		if ((e = jappend(jf, RT_J_ISSUED, p->steps[i].slot,
		    rt_action_name(p->steps[i].action), p->steps[i].profile,
		    res->serial[i], c.p, c.len, "issued")) != NULL)
			goto out;	/* open in the journal: recover rejects */
	}

	/* 4. management-key authentication before the first write: the key
	 * the CM host sent in the cp, else the operator credential dialog.
	 * Failing or cancelled, nothing is written or kept: every
	 * certificate is rejected in the certConf below. */
	bool card_auth_ok = true;
	if (writes) {
		progress(d, NULL, "authenticating to the card");
		rt_err *ae = auth_mgmt(env, d, txn, u->ct);
		*auth = ae == NULL ? AUTH_OK : AUTH_REFUSED;
		if (ae != NULL) {
			char m[200];
			card_auth_ok = false;
			rt_err_format(ae, m, sizeof(m));
			for (size_t i = 0; i < p->nsteps; i++)
				set_msg(res, i, RT_STEP_FAILED, "not stored (%s): "
				    "rejected", m);
			/* the CONFIRM record below says what is rejected */
			first = rt_err_wrap(ae, "management-key authentication: "
			    "nothing written, the certificates are rejected");
		}
	}

	/* 5. the card (Redo) or the station (Issue). A write whose answer or
	 * check fails is decided by reading the slot again: the new
	 * certificate there is on the card, another one (or none) is not;
	 * a card that cannot tell leaves it unknown, and nothing unknown is
	 * ever rejected: no certConf then, the operation stays open for
	 * `raterm recover` with the card */
	size_t unknown_at = p->nsteps;
	for (size_t i = 0; i < p->nsteps && card_auth_ok; i++) {
		const rt_plan_step *st = &p->steps[i];
		rt_err *se = NULL;
		if (unknown_at < p->nsteps) {
			set_msg(res, i, RT_STEP_NOT_RUN, "not written (the card "
			    "stopped answering before)");
			continue;
		}
		if (st->writes_card && cancelled(d)) {
			/* between two writes: what is not on the card yet is
			 * rejected in the certConf below */
			se = rt_err_new(RT_E_CANCELLED, NULL, "cancelled before "
			    "the write: not on the card, rejected");
		} else if (st->action == RT_ACT_ISSUE) {
			se = save_issued(env->issued_dir, p, st->slot, sc[i].cert,
			    sc[i].cert_len, res->serial[i], res->saved[i],
			    sizeof(res->saved[i]));
			if (se == NULL)
				se = jappend(jf, RT_J_WRITTEN, st->slot,
				    rt_action_name(st->action), st->profile,
				    res->serial[i], NULL, 0, "saved as %s",
				    res->saved[i]);
			if (se == NULL) {
				sc[i].keep = true;
				set_msg(res, i, RT_STEP_DONE, "issued, saved as %s",
				    res->saved[i]);
				progress(d, st, "saved");
			}
		} else {
			const char *how = "written to the card, read back and "
			    "tested";
			if ((e = jappend(jf, RT_J_WRITE, st->slot, rt_action_name(
			    st->action), st->profile, res->serial[i], NULL, 0,
			    "%s", st->action == RT_ACT_ADD ? "adding a certificate "
			    "beside the key's" : "replacing the slot's certificate"))
			    != NULL)
				goto out;
			progress(d, st, "writing");
			se = rt_card_write_cert(env->card, st->slot,
			    st->cert_index, sc[i].cert, sc[i].cert_len);
			if (se != NULL)
				se = rt_err_wrap(se, "writing the certificate");
			else
				se = check_on_card(env->card, &sc[i], &pn);
			/* a test signature that does not verify is a wrong
			 * certificate (rejected); any other failure is decided
			 * by what the card holds now */
			if (se != NULL && !rt_err_has(se, RT_E_CRYPTO)) {
				int held = card_now_holds(env->card, st->slot,
				    sc[i].cert, sc[i].cert_len);
				if (held == 1) {
					rt_err_free(se);
					se = NULL;
					how = "written to the card (read again after an "
					    "interrupted check)";
				} else if (held < 0) {
					unknown_at = i;
				}
			}
			if (se == NULL) {
				sc[i].on_card = sc[i].keep = true;
				if ((e = jappend(jf, RT_J_WRITTEN, st->slot,
				    rt_action_name(st->action), st->profile,
				    res->serial[i], NULL, 0, "%s", how)) != NULL)
					goto out;
				set_msg(res, i, RT_STEP_DONE, "%s", how);
				progress(d, st, "written");
			}
		}
		if (se != NULL) {
			char m[200];
			rt_err_format(se, m, sizeof(m));
			if (unknown_at == i)
				set_msg(res, i, RT_STEP_FAILED, "outcome unknown, "
				    "'raterm recover' with the card decides: %s", m);
			else
				set_msg(res, i, RT_STEP_FAILED, "%s", m);
			if (first == NULL)
				first = rt_err_wrap(se, "slot %s", slot_str(st->slot,
				    s));
			else
				rt_err_free(se);
		}
	}
	if (unknown_at < p->nsteps) {
		res->unknown = true;
		/* no certConf: it would have to reject what may be on the
		 * card. The journal keeps the operation open. */
		char when[48];
		before(res->confirm_by, when, sizeof(when));
		e = rt_err_wrap(first, "the operation stays open (%s): whether "
		    "the card holds the new certificate of slot %s is unknown; "
		    "nothing is confirmed: put the card back and run 'raterm "
		    "recover'%s", res->op_id, slot_str(p->steps[unknown_at].slot,
		    s), when);
		first = NULL;
		goto out;
	}

	/* 6. certConf: accept what is kept, reject the rest */
	bool acc[CMP_MAX_REQS];
	const char *why[CMP_MAX_REQS];
	char list[200];
	size_t lo = 0;
	list[0] = '\0';
	for (size_t i = 0; i < p->nsteps; i++) {
		acc[i] = sc[i].keep;
		why[i] = sc[i].keep ? NULL : "the certificate could not be "
		    "stored on the card";
		lo += (size_t)snprintf(list + lo, lo < sizeof(list) ?
		    sizeof(list) - lo : 0, "%s%s=%s", lo ? " " : "",
		    slot_str(p->steps[i].slot, s), acc[i] ? "accept" : "reject");
	}
	if ((e = jappend(jf, RT_J_CONFIRM, 0, NULL, NULL, NULL, NULL, 0, "%s",
	    list)) != NULL)
		goto out;
	progress(d, NULL, "confirming to the CM host");
	if ((e = cmp_client_confirm_each(env->cmp, txn, acc, why)) != NULL) {
		for (size_t i = 0; i < p->nsteps; i++)
			if (res->state[i] == RT_STEP_DONE) {
				res->state[i] = RT_STEP_FAILED;
				snprintf(res->message[i], sizeof(res->message[i]),
				    "%s", "not confirmed: the CM host did not answer "
				    "certConf (raterm recover)");
			}
		char when[48];
		before(res->confirm_by, when, sizeof(when));
		res->unknown = true;
		e = rt_err_wrap(e, "certificates %s; the operation stays open "
		    "in the journal (%s): whether the CM host applied the "
		    "certConf is unknown: run 'raterm recover'%s", list,
		    res->op_id, when);
		goto out;
	}
	res->confirmed = true;
	for (size_t i = 0; i < p->nsteps; i++)
		if (!acc[i])
			res->state[i] = RT_STEP_ROLLED_BACK;
	if ((e = jappend(jf, RT_J_CONFIRMED, 0, NULL, NULL, NULL, NULL, 0,
	    "pkiConf")) != NULL)
		goto out;
	e = jappend(jf, RT_J_END, 0, NULL, NULL, NULL, NULL, 0, "%s", list);
out:
	if (res->sent)
		audit_all(u, p, env, res);
	if (e == NULL) {
		e = first;
		first = NULL;
	}
	rt_err_free(first);
	rt_journal_file_close(jf);
	cmp_txn_free(txn);
	for (size_t i = 0; i < p->nsteps; i++) {
		rt_signer_free(popo[i]);
		mbedtls_x509_crt_free(&sc[i].crt);
		free(sc[i].exts);
	}
	free(sc);
	rt_wipe(&pn, sizeof(pn));
	return e;
}

/* The CM host's CA certificates to the card (plan's write_ca_certs), a
 * journal operation of its own: BEGIN, PLAN (ca-certs), the caCerts
 * asked, the operator credential (unless the keys' step gave it; never
 * again when it refused it), WRITE, the write and its read-back,
 * WRITTEN, END; refused or failed before the write:
 * ABORT. A card that stops answering in the middle leaves it open:
 * `raterm recover` ends it (the card keeps what it holds, a new Replace
 * CA certificate(s) settles it). */
static rt_err *
submit_ca_certs(rt_update *u, const rt_plan *p, const rt_submit_env *env,
    const rt_update_dialogs *d, auth_state auth, rt_submit_result *res)
{
	uint8_t **certs = NULL;
	size_t *lens = NULL, n = 0;
	rt_card_ca ca[CMP_MAX_CERTS];
	rt_jop_file *jf = NULL;
	rt_err *e;
	bool replace = p->replace_ca_certs;
	const char *how;
	res->ca_state = RT_STEP_FAILED;
	if (u->proc == NULL || env == NULL || env->card == NULL ||
	    env->cmp == NULL || env->journal == NULL)
		return rt_err_new(RT_E_ARG, NULL, "CA certificates: the card, the "
		    "CM host and the journal are needed");
	if (auth == AUTH_REFUSED) {
		/* the credential failed for the keys: never presented twice */
		e = rt_err_new(RT_E_PERMISSION, NULL, "CA certificates not "
		    "written: the %s was refused above (it is not tried a second "
		    "time)", rt_card_caps_get(env->card)->operator_name);
		goto fail;
	}
	if (!replace && d != NULL && d->replace_ca_certs != NULL &&
	    (e = d->replace_ca_certs(d->ctx, p, &replace)) != NULL)
		goto fail;
	how = replace ? "replacing the card's CA certificates" :
	    "keeping the card's CA certificates, adding the missing";
	progress(d, NULL, "asking the CM host for its CA certificates");
	if ((e = cmp_client_cacerts(env->cmp, &certs, &lens, &n)) != NULL) {
		e = rt_err_wrap(e, "the CM host's CA certificates");
		goto fail;
	}
	if (n == 0 || n > CMP_MAX_CERTS) {
		e = rt_err_new(RT_E_CMP_FORMAT, NULL, "the CM host sent %zu CA "
		    "certificates", n);
		goto fail;
	}
	memset(ca, 0, sizeof(ca));
	for (size_t i = 0; i < n; i++) {
		rt_cert_info ci;
		ca[i].der = certs[i];
		ca[i].der_len = lens[i];
		if (rt_cert_info_parse(certs[i], lens[i], &ci) == NULL)
			snprintf(ca[i].label, sizeof(ca[i].label), "%.64s",
			    ci.subject_cn[0] ? ci.subject_cn : ci.subject);
	}

	if ((e = jbegin(u, p, env, res->ca_op_id, sizeof(res->ca_op_id),
	    &jf)) != NULL ||
	    (e = jappend(jf, RT_J_PLAN, 0, "ca-certs", NULL, NULL, NULL, 0,
	    "%zu CA certificate(s) of the CM host, %s", n, how)) != NULL)
		goto fail;
	if (auth != AUTH_OK) {
		progress(d, NULL, "authenticating to the card");
		if ((e = auth_mgmt(env, d, NULL, u->ct)) != NULL) {
			rt_err *je = jappend(jf, RT_J_ABORT, 0, "ca-certs", NULL, NULL,
			    NULL, 0, "%s", "operator credential refused: nothing "
			    "written");
			rt_err_free(je);
			goto fail;
		}
	}
	if ((e = jappend(jf, RT_J_WRITE, 0, "ca-certs", NULL, NULL, NULL, 0,
	    "%s", how)) != NULL)
		goto fail;
	progress(d, NULL, "writing the CA certificates");
	e = rt_card_write_ca_certs(env->card, ca, n, replace);
	/* read back: every one there, and with replace nothing else */
	rt_card_ca back[CMP_MAX_CERTS * 2];
	size_t nb = 0, found = 0;
	rt_err *re = rt_card_ca_certs(env->card, back, CMP_MAX_CERTS * 2, &nb);
	if (re == NULL) {
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < nb; j++)
				if (back[j].der != NULL && back[j].der_len ==
				    ca[i].der_len && memcmp(back[j].der, ca[i].der,
				    ca[i].der_len) == 0) {
					found++;
					break;
				}
		rt_card_ca_free(back, nb);
	}
	if (e == NULL && re == NULL && (found != n || (replace && nb != n)))
		e = rt_err_new(RT_E_CARD_STATUS, NULL, "the card's CA "
		    "certificates read back: %zu of %zu there, %zu in all", found,
		    n, nb);
	if (e == NULL && re != NULL) {
		e = re;
		re = NULL;
	}
	rt_err_free(re);
	if (e != NULL) {
		if (rt_card_gone(e)) {
			/* the card cannot tell: open for `raterm recover` */
			e = rt_err_wrap(e, "writing the CA certificates (the operation "
			    "%s stays open: put the card back and run 'raterm "
			    "recover')", res->ca_op_id);
			goto fail;
		}
		rt_err *je = jappend(jf, RT_J_ABORT, 0, "ca-certs", NULL, NULL, NULL,
		    0, "%s", "the write failed: a new Replace CA certificate(s) "
		    "settles the card");
		rt_err_free(je);
		e = rt_err_wrap(e, "writing the CA certificates");
		goto fail;
	}
	if ((e = jappend(jf, RT_J_WRITTEN, 0, "ca-certs", NULL, NULL, NULL, 0,
	    "%zu CA certificate(s) on the card, read back", n)) != NULL ||
	    (e = jappend(jf, RT_J_END, 0, "ca-certs", NULL, NULL, NULL, 0, "%s",
	    "CA certificates written")) != NULL)
		goto fail;
	res->ca_state = RT_STEP_DONE;
	snprintf(res->ca_message, sizeof(res->ca_message), "%zu CA "
	    "certificate(s) of the CM host on the card (%s), read back", n,
	    replace ? "replaced" : "the missing added");
	progress(d, NULL, "CA certificates written");
	rt_journal_file_close(jf);
	cmp_certs_free(certs, lens, n);
	return NULL;
fail:
	rt_err_format(e, res->ca_message, sizeof(res->ca_message));
	rt_journal_file_close(jf);
	cmp_certs_free(certs, lens, n);
	return e;
}

rt_err *
rt_operator_credential_parse(char *text, size_t len, uint8_t *buf,
    size_t cap, size_t *out)
{
	rt_err *he = NULL;
	*out = 0;
	if (len == 7 && memcmp(text, "default", 7) == 0) {
		rt_wipe(text, len);
		return NULL;	/* the card's default key, named */
	}
	bool ok = len > 0 && len % 2 == 0 && len / 2 <= cap &&
	    (he = rt_hex_decode(text, len, buf, cap, out, 0)) == NULL;
	rt_err_free(he);
	rt_wipe(text, len);
	if (ok)
		return NULL;
	rt_wipe(buf, cap);
	*out = 0;
	return rt_err_new(RT_E_ARG, NULL, "operator credential: expected the "
	    "management key in hex (48 digits for 3DES/AES-192) or 'default'");
}

void
rt_submit_result_line(const rt_plan *p, const rt_submit_result *res,
    size_t i, char *buf, size_t cap)
{
	char s[8];
	const rt_plan_step *ps = &p->steps[i];
	/* a Redo of a key's further certificate: "02.1" */
	snprintf(buf, cap, "%-3s %-6s %-8s %s%s%s%s%s",
	    rt_key_name(ps->slot, ps->action == RT_ACT_REDO ? ps->cert_index :
	    0, s, sizeof(s)), rt_action_title(ps->action),
	    rt_step_state_name(res->state[i]), res->message[i],
	    res->serial[i][0] ? " (serial " : "", res->serial[i],
	    res->serial[i][0] ? ")" : "",
	    res->state[i] == RT_STEP_DONE && !res->confirmed ?
	    " [not confirmed]" : "");
}

const char *
rt_step_state_name(rt_step_state st)
{
	switch (st) {
	case RT_STEP_DONE: return "done";
	case RT_STEP_FAILED: return "FAILED";
	case RT_STEP_ROLLED_BACK: return "rejected";
	default: return "not run";
	}
}
