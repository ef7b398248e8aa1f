/* station.c - the officer's station: readers, officer token, CM host
 * client, journal and audit around the update engine; see
 * include/raterm/station.h. */
#include "raterm/station.h"

#include "engine_int.h"
#include "station_int.h"
#include "raterm/cmp.h"
#include "raterm/piv.h"
#include "raterm/signer.h"
#include "raterm/softtoken.h"
#include "raterm/util.h"
#include "raterm/x509.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------- */

rt_err *
sta_open_reader(rt_station *st, const char *name, rt_transport **out)
{
	if (st->o.open_reader != NULL)
		return st->o.open_reader(st->o.open_ctx, name, out);
	return rt_pcsc_open(name, out);
}

void
sta_close_card(rt_transport **t, rt_card **c)
{
	rt_card_close(*c);
	*c = NULL;
	rt_transport_close(*t);
	*t = NULL;
}

void
sta_wipe_secrets(rt_station *st)
{
	if (st->sec != NULL)
		rt_wipe(st->sec, sizeof(*st->sec));
}

void
rt_station_forget_secrets(rt_station *st)
{
	if (st != NULL)
		sta_wipe_secrets(st);
}

void
sta_close_officer(rt_station *st)
{
	cmp_client_free(st->client);
	st->client = NULL;
	rt_signer_free(st->signer);
	st->signer = NULL;
	sta_close_card(&st->ot, &st->ocard);
}

const rt_config *
rt_station_config(const rt_station *st)
{
	return st->cfg;
}

rt_err *
rt_station_open(const rt_config *cfg, const rt_station_opts *o,
    rt_station **out)
{
	*out = NULL;
	rt_station *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "station");
	st->cfg = cfg;
	if (o != NULL)
		st->o = *o;
	mbedtls_x509_crt_init(&st->trust);
	/* the secrets' page stays in memory (no swap) and is wiped */
	st->sec = mmap(NULL, sizeof(secrets), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (st->sec == MAP_FAILED) {
		st->sec = NULL;
		rt_station_close(st);
		return rt_err_new(RT_E_NOMEM, NULL, "station secrets");
	}
	(void)mlock(st->sec, sizeof(secrets));
#ifdef MADV_DONTDUMP
	(void)madvise(st->sec, sizeof(secrets), MADV_DONTDUMP);
#endif
	/* the journal and the audit log are opened when an update or a
	 * recovery needs them (need_journal): reading cards and talking to
	 * the CM host work without them */
	char jcopy[RT_PATH_MAX];
	snprintf(jcopy, sizeof(jcopy), "%s", cfg->journal);
	snprintf(st->idir, sizeof(st->idir), "%s/issued", dirname(jcopy));
	*out = st;
	return NULL;
}

void
rt_station_close(rt_station *st)
{
	if (st == NULL)
		return;
	sta_close_officer(st);
	sta_close_card(&st->tt, &st->tcard);
	if (st->have_ct)
		rt_contents_free(&st->ct);
	rt_audit_close(st->audit);
	rt_journal_close(st->journal);
	rt_castore_free(st->tcas);
	rt_castore_free(st->roots);
	rt_castore_free(st->ocas);
	mbedtls_x509_crt_free(&st->trust);
	if (st->sec != NULL) {
		sta_wipe_secrets(st);
		munlock(st->sec, sizeof(secrets));
		munmap(st->sec, sizeof(secrets));
	}
	if (st->devnull != NULL)
		fclose(st->devnull);
	free(st->seen);
	free(st);
}

/* The CA sets of the configuration, loaded on first need. */
rt_err *
sta_load_cas(rt_station *st)
{
	const rt_config *cfg = st->cfg;
	rt_err *e;
	if (st->cas_loaded)
		return NULL;
	const char *tca = st->o.transport_ca ? st->o.transport_ca :
	    cfg->transport_cas;
	if (tca[0] && (e = rt_castore_load(tca, &st->tcas)) != NULL)
		return rt_err_wrap(e, "transport CAs");
	const char *roots = st->o.attestation_root ? st->o.attestation_root :
	    cfg->attestation_roots;
	if (roots[0] && (e = rt_castore_load(roots, &st->roots)) != NULL)
		return rt_err_wrap(e, "attestation roots");
	st->cas_loaded = true;
	return NULL;
}

static rt_err *
load_officer_cas(rt_station *st)
{
	rt_err *e;
	if (st->ocas_loaded)
		return NULL;
	if (st->cfg->officer.officer_cas[0] && (e = rt_castore_load(
	    st->cfg->officer.officer_cas, &st->ocas)) != NULL)
		return rt_err_wrap(e, "officer.officer_cas");
	st->ocas_loaded = true;
	return NULL;
}

static uint8_t officer_slot(const rt_station *st);

/* ---- readers -------------------------------------------------------------- */

static bool
is_pcsc_name(const char *name)
{
	return strncmp(name, "vpiv:", 5) != 0;
}

rt_err *
rt_station_find_readers(rt_station *st, rt_station_readers_info *info)
{
	const rt_config *cfg = st->cfg;
	bool software = st->o.officer_token != NULL ||
	    (st->o.officer_reader == NULL &&
	    cfg->officer.kind == RT_OFFICER_SOFTWARE);
	st->target_why[0] = '\0';
	st->target_kind = RT_E_OK;
	if (st->o.target_reader != NULL && !st->target_fixed) {
		snprintf(st->target_reader, sizeof(st->target_reader), "%s",
		    st->o.target_reader);
		st->target_fixed = true;
	}
	if (st->o.officer_reader != NULL)
		snprintf(st->officer_reader, sizeof(st->officer_reader), "%s",
		    st->o.officer_reader);
	bool need_target = !st->target_fixed;
	bool need_officer = st->o.officer_reader == NULL && !software;
	if (need_target && cfg->target_reader.match == RT_READER_NAME) {
		snprintf(st->target_reader, sizeof(st->target_reader), "%s",
		    cfg->target_reader.value);
		need_target = false;
	}
	if (need_officer && cfg->officer_reader.match == RT_READER_NAME) {
		snprintf(st->officer_reader, sizeof(st->officer_reader), "%s",
		    cfg->officer_reader.value);
		need_officer = false;
	}
	if (need_target || need_officer) {
		rt_station_readers sr;
		rt_err *le = load_officer_cas(st);
		if (le != NULL)
			return le;
		const char *held_o = !need_officer && st->officer_reader[0] ?
		    st->officer_reader : NULL;
		const char *held_t = !need_target && st->target_reader[0] ?
		    st->target_reader : NULL;
		rt_err *e = rt_station_readers_find(cfg,
		    cfg->officer_reader.match == RT_READER_AUTO ? st->ocas : NULL,
		    held_t, held_o, &sr);
		if (e != NULL && rt_err_kind_of(e) != RT_E_NO_READER &&
		    need_officer)
			return e;	/* no PC/SC: fatal when the officer needs it */
		if (e != NULL) {
			if (need_target) {
				st->target_reader[0] = '\0';
				st->target_kind = rt_err_kind_of(e);
				rt_err_format(e, st->target_why,
				    sizeof(st->target_why));
				/* the kind is given again by require_target */
				char *k = strrchr(st->target_why, '[');
				if (k != NULL && k > st->target_why)
					k[-1] = '\0';
			}
			rt_err_free(e);
		} else if (need_target)
			snprintf(st->target_reader, sizeof(st->target_reader),
			    "%s", sr.target);
		if (need_officer)
			snprintf(st->officer_reader, sizeof(st->officer_reader),
			    "%s", sr.officer);
	}
	st->readers_found = true;
	if (info != NULL) {
		memset(info, 0, sizeof(*info));
		snprintf(info->officer, sizeof(info->officer), "%s",
		    st->officer_reader);
		snprintf(info->target, sizeof(info->target), "%s",
		    st->target_reader);
		snprintf(info->target_why, sizeof(info->target_why), "%s",
		    st->target_why);
		rt_reader_info *r = NULL;
		size_t n = 0;
		rt_err *e = rt_pcsc_list(&r, &n);
		rt_err_free(e);
		for (size_t i = 0; i < n; i++) {
			if (strcmp(r[i].name, info->target) == 0)
				info->target_present = r[i].card_present;
			if (strcmp(r[i].name, info->officer) == 0)
				info->officer_present = r[i].card_present;
		}
		if (!is_pcsc_name(info->target))
			info->target_present = true;
		free(r);
	}
	return NULL;
}

rt_err *
rt_station_require_target(const rt_station *st)
{
	if (st->target_reader[0] != '\0')
		return NULL;
	return rt_err_new(st->target_kind != RT_E_OK ? st->target_kind :
	    RT_E_NO_READER, NULL, "%s", st->target_why[0] ? st->target_why :
	    "no target reader (readers.target, or -r)");
}

rt_err *
rt_station_set_target(rt_station *st, const char *reader)
{
	if (reader == NULL) {
		/* back to the configuration's choice */
		st->target_fixed = false;
		st->o.target_reader = NULL;
		st->target_reader[0] = '\0';
		st->readers_found = false;
		return NULL;
	}
	if (reader[0] == '\0')
		return rt_err_new(RT_E_ARG, NULL, "no reader name");
	if (strcmp(reader, st->officer_reader) == 0)
		return rt_err_new(RT_E_ARG, NULL, "\"%s\" is the officer's reader",
		    reader);
	snprintf(st->target_reader, sizeof(st->target_reader), "%s", reader);
	st->target_why[0] = '\0';
	st->target_fixed = true;
	return NULL;
}

static bool
holds_officer_cert(rt_station *st, const char *name)
{
	rt_err *le = load_officer_cas(st);
	rt_err_free(le);
	return eng_officer_card(st->o.open_reader, st->o.open_ctx, name,
	    officer_slot(st), st->ocas);
}

rt_err *
rt_station_list_readers(rt_station *st, rt_reader_cand *out, size_t cap,
    size_t *n)
{
	rt_reader_info *r = NULL;
	size_t nr = 0;
	*n = 0;
	rt_err *e = rt_pcsc_list(&r, &nr);
	if (e != NULL)
		return e;
	for (size_t i = 0; i < nr && *n < cap; i++) {
		rt_reader_cand *c = &out[(*n)++];
		memset(c, 0, sizeof(*c));
		snprintf(c->name, sizeof(c->name), "%s", r[i].name);
		c->card_present = r[i].card_present;
		if (c->card_present && !r[i].in_use)
			c->officer_card = holds_officer_cert(st, r[i].name);
	}
	free(r);
	return NULL;
}

/* ---- events --------------------------------------------------------------- */

static const rt_reader_info *
find_info(const rt_reader_info *r, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(r[i].name, name) == 0)
			return &r[i];
	return NULL;
}

/* The first difference between the states seen and now (NONE if none). */
static void
diff_states(const rt_reader_info *a, size_t na, const rt_reader_info *b,
    size_t nb, rt_station_event *ev)
{
	for (size_t i = 0; i < nb; i++) {
		const rt_reader_info *old = find_info(a, na, b[i].name);
		snprintf(ev->reader, sizeof(ev->reader), "%s", b[i].name);
		if (old == NULL) {
			ev->kind = RT_EV_READER_ADDED;
			return;
		}
		if (old->card_present != b[i].card_present) {
			ev->kind = b[i].card_present ? RT_EV_CARD_INSERTED :
			    RT_EV_CARD_REMOVED;
			return;
		}
		if (b[i].card_present && (old->atr_len != b[i].atr_len ||
		    memcmp(old->atr, b[i].atr, b[i].atr_len) != 0)) {
			/* another card within one poll: reported as inserted */
			ev->kind = RT_EV_CARD_INSERTED;
			return;
		}
	}
	for (size_t i = 0; i < na; i++)
		if (find_info(b, nb, a[i].name) == NULL) {
			snprintf(ev->reader, sizeof(ev->reader), "%s", a[i].name);
			ev->kind = RT_EV_READER_REMOVED;
			return;
		}
	ev->kind = RT_EV_NONE;
	ev->reader[0] = '\0';
}

rt_err *
rt_station_wait_event(rt_station *st, int timeout_ms, rt_station_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (!st->seen_init) {
		rt_err *e = rt_pcsc_list(&st->seen, &st->nseen);
		if (e != NULL)
			return e;
		st->seen_init = true;
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (bool waited = false;; waited = true) {
		rt_reader_info *now = NULL;
		size_t nnow = 0;
		/* a change since the last call is reported before any wait */
		rt_err *e = waited ? rt_pcsc_wait_change(timeout_ms) : NULL;
		if (e == NULL)
			e = rt_pcsc_list(&now, &nnow);
		if (e != NULL)
			return e;
		diff_states(st->seen, st->nseen, now, nnow, ev);
		if (ev->kind != RT_EV_NONE) {
			/* one change at a time: take only that one over */
			rt_reader_info *o = (rt_reader_info *)find_info(st->seen,
			    st->nseen, ev->reader);
			const rt_reader_info *nw = find_info(now, nnow,
			    ev->reader);
			if (ev->kind == RT_EV_READER_ADDED ||
			    ev->kind == RT_EV_READER_REMOVED) {
				free(st->seen);
				st->seen = now;
				st->nseen = nnow;
			} else {
				*o = *nw;
				free(now);
			}
			ev->is_target = strcmp(ev->reader, st->target_reader) == 0;
			ev->is_officer = strcmp(ev->reader,
			    st->officer_reader) == 0;
			return NULL;
		}
		free(now);
		if (!waited) {
			if (timeout_ms <= 0)
				return NULL;
			continue;
		}
		struct timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long ms = (t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= timeout_ms)
			return NULL;
		timeout_ms -= (int)ms;
		t0 = t1;
	}
}

/* ---- the officer ---------------------------------------------------------- */

bool
sta_officer_software(const rt_station *st)
{
	return st->o.officer_token != NULL || (st->o.officer_reader == NULL &&
	    st->cfg->officer.kind == RT_OFFICER_SOFTWARE);
}

const char *
sta_token_path(const rt_station *st)
{
	return st->o.officer_token ? st->o.officer_token :
	    st->cfg->officer.key_file;
}

static const char *
token_cert(const rt_station *st)
{
	if (st->o.officer_cert != NULL)
		return st->o.officer_cert;
	if (st->o.officer_token == NULL && st->cfg->officer.cert_file[0])
		return st->cfg->officer.cert_file;
	return NULL;
}

static uint8_t
officer_slot(const rt_station *st)
{
	return st->o.officer_slot ? st->o.officer_slot :
	    st->cfg->officer.slot ? st->cfg->officer.slot : PIV_SLOT_SIGN;
}

void
sta_name_from_crt(const mbedtls_x509_crt *c, rt_station_officer_info *oi)
{
	rt_cert_info ci;
	rt_err *e = rt_cert_info_parse(c->raw.p, c->raw.len, &ci);
	if (e != NULL) {
		rt_err_free(e);
		snprintf(oi->subject, sizeof(oi->subject), "(officer)");
		snprintf(oi->name, sizeof(oi->name), "(officer)");
		return;
	}
	snprintf(oi->subject, sizeof(oi->subject), "%s", ci.subject);
	snprintf(oi->name, sizeof(oi->name), "%.*s", (int)sizeof(oi->name) - 1,
	    ci.subject_cn[0] ? ci.subject_cn : ci.subject);
}

/* The Signature PIN callback of the officer's card signer: the PIN of
 * this submit, from the station's locked store. */
static rt_err *
sig_pin_cb(void *ctx, const char *prompt, char *buf, size_t cap, size_t *len)
{
	rt_station *st = ctx;
	(void)prompt;
	if (!st->sec->sig_set)
		return rt_err_new(RT_E_PERMISSION, NULL, "the Signature PIN was "
		    "not given");
	if (st->sec->sig_len > cap)
		return rt_err_new(RT_E_ARG, NULL, "PIN too long");
	memcpy(buf, st->sec->sig, st->sec->sig_len);
	*len = st->sec->sig_len;
	return NULL;
}

/* Connects the officer's card and makes its signer (no PIN yet). */
rt_err *
sta_open_officer_card(rt_station *st)
{
	rt_err *e;
	if (st->signer != NULL)
		return NULL;
	if (st->officer_reader[0] == '\0' && st->o.officer_reader != NULL)
		snprintf(st->officer_reader, sizeof(st->officer_reader), "%s",
		    st->o.officer_reader);
	if (st->officer_reader[0] == '\0' &&
	    (e = rt_station_find_readers(st, NULL)) != NULL)
		return e;
	if (st->officer_reader[0] == '\0')
		return rt_err_new(RT_E_NO_READER, NULL, "no officer card found "
		    "(readers.officer: a card with a certificate from "
		    "officer.officer_cas); use --officer-reader");
	rt_card_signer_spec so = {
		.key = officer_slot(st), .pin_cb = sig_pin_cb, .pin_ctx = st,
		.label = "the officer's card",
	};
	if ((e = sta_open_reader(st, st->officer_reader, &st->ot)) != NULL ||
	    (e = rt_card_open(st->ot, &st->ocard)) != NULL ||
	    (e = rt_card_signer(st->ocard, &so, &st->signer)) != NULL) {
		sta_close_officer(st);
		return rt_err_wrap(e, "the officer's card");
	}
	return NULL;
}

rt_err *
sta_add_chain_file(rt_signer *sg, const char *path)
{
	mbedtls_x509_crt chain;
	mbedtls_x509_crt_init(&chain);
	if (mbedtls_x509_crt_parse_file(&chain, path) != 0) {
		mbedtls_x509_crt_free(&chain);
		return rt_err_new(RT_E_CERT, NULL, "%s: certificates do not parse",
		    path);
	}
	rt_err *e = NULL;
	for (mbedtls_x509_crt *c = &chain; c != NULL && c->raw.p != NULL &&
	    e == NULL; c = c->next)
		e = rt_signer_add_cert(sg, c->raw.p, c->raw.len);
	mbedtls_x509_crt_free(&chain);
	return e;
}

/* The software token's signer, with the passphrase of this submit. */
rt_err *
sta_open_officer_soft(rt_station *st)
{
	if (st->signer != NULL)
		return NULL;
	if (st->warn == NULL && (st->warn = st->o.warn) == NULL &&
	    (st->warn = st->devnull = fopen("/dev/null", "w")) == NULL)
		return rt_err_new(RT_E_IO, NULL, "/dev/null");
	rt_err *e = rt_signer_soft(sta_token_path(st), token_cert(st),
	    st->sec->sig, st->sec->sig_len, st->warn, &st->signer);
	if (e != NULL)
		return e;
	const mbedtls_x509_crt *oc = rt_signer_chain(st->signer);
	if (oc != NULL && st->cfg->officer.officer_cas[0] && oc->next == NULL) {
		/* send the officer CA along when the token holds only the leaf */
		rt_err *ce = sta_add_chain_file(st->signer,
		    st->cfg->officer.officer_cas);
		rt_err_free(ce);
	}
	return NULL;
}

rt_err *
rt_station_officer_refresh(rt_station *st, rt_station_officer_info *out)
{
	st->officer_known = false;
	return rt_station_officer(st, out);
}

bool
rt_station_card_pin_kept(const rt_station *st)
{
	return st->sec != NULL && st->sec->card_set[0];
}

rt_err *
rt_station_officer(rt_station *st, rt_station_officer_info *out)
{
	rt_err *e = NULL;
	rt_station_officer_info *oi = &st->oinfo;
	if (!st->officer_known) {
		memset(oi, 0, sizeof(*oi));
		oi->pin_retries = -1;
		if (sta_officer_software(st)) {
			oi->software = true;
			snprintf(oi->warning, sizeof(oi->warning), "software "
			    "officer token %.150s: not recommended (use an "
			    "officer card)", sta_token_path(st));
			const char *cp = token_cert(st);
			mbedtls_x509_crt c;
			mbedtls_x509_crt_init(&c);
			if (cp != NULL && mbedtls_x509_crt_parse_file(&c, cp) == 0)
				sta_name_from_crt(&c, oi);
			mbedtls_x509_crt_free(&c);
		} else {
			if ((e = sta_open_officer_card(st)) != NULL)
				return e;
			const mbedtls_x509_crt *oc = rt_signer_chain(st->signer);
			if (oc != NULL)
				sta_name_from_crt(oc, oi);
			snprintf(oi->reader, sizeof(oi->reader), "%s",
			    st->officer_reader);
			int r = -1;
			rt_err *re = rt_card_pin_retries(st->ocard, &r);
			rt_err_free(re);
			oi->pin_retries = r;
			/* the reader is free while the officer thinks */
			sta_close_officer(st);
		}
		st->officer_known = true;
	}
	if (out != NULL)
		*out = *oi;
	return NULL;
}

/* ---- the target card ------------------------------------------------------ */

rt_err *
sta_open_target(rt_station *st)
{
	rt_err *e;
	if (st->tcard != NULL)
		return NULL;
	if ((!st->readers_found && !st->target_fixed) &&
	    (e = rt_station_find_readers(st, NULL)) != NULL)
		return e;
	if ((e = rt_station_require_target(st)) != NULL)
		return e;
	if ((e = sta_open_reader(st, st->target_reader, &st->tt)) != NULL ||
	    (e = rt_card_open(st->tt, &st->tcard)) != NULL) {
		sta_close_card(&st->tt, &st->tcard);
		return e;
	}
	return NULL;
}

/* *same: the card still holds the certificates the Contents show (one GET
 * DATA per certificate; empty slots are not read again). Errors: the
 * card's (removed, ...). */
static rt_err *
certs_unchanged(rt_card *c, const rt_contents *ct, bool *same)
{
	*same = true;
	for (size_t i = 0; i < ct->nrows && *same; i++) {
		const rt_key_row *r = &ct->rows[i];
		if (!r->has_cert)
			continue;
		/* among the key's certificates (PKCS#15: several) */
		rt_err *e = rt_card_holds_cert(c, r->slot, r->der, r->der_len,
		    same);
		if (e != NULL)
			return e;
	}
	return NULL;
}

/* Connects the target card again and checks it is the card read last and
 * holds what it held. */
rt_err *
sta_reopen_target(rt_station *st)
{
	rt_err *e;
	if (!st->have_ct)
		return rt_err_new(RT_E_ARG, NULL, "no card read yet (Reload)");
	if ((e = sta_load_cas(st)) != NULL || (e = sta_open_target(st)) != NULL)
		return e;
	/* the identity (CHUID, serial), then the certificates shown: a few
	 * APDUs, not the whole Contents again */
	rt_card_ident ci;
	rt_contents idc;
	bool unchanged = false;
	memset(&idc, 0, sizeof(idc));
	if ((e = rt_card_ident_read(st->tcard, &ci)) != NULL) {
		sta_close_card(&st->tt, &st->tcard);
		return rt_err_wrap(e, "reading the card in \"%s\" again",
		    st->target_reader);
	}
	idc.has_guid = ci.has_guid;
	memcpy(idc.guid, ci.guid, sizeof(idc.guid));
	idc.has_serial = ci.has_serial;
	idc.serial = ci.serial;
	char id[96];
	eng_card_name(&idc, id, sizeof(id));
	bool same = strcmp(id, st->card_id) == 0;
	if (same && (e = certs_unchanged(st->tcard, &st->ct, &unchanged)) !=
	    NULL) {
		sta_close_card(&st->tt, &st->tcard);
		return rt_err_wrap(e, "reading the card in \"%s\" again",
		    st->target_reader);
	}
	if (!same) {
		sta_close_card(&st->tt, &st->tcard);
		return rt_err_new(RT_E_CARD_CHANGED, NULL, "the card in \"%s\" "
		    "is %s, not %s that was read: reload", st->target_reader, id,
		    st->card_id);
	}
	if (!unchanged) {
		sta_close_card(&st->tt, &st->tcard);
		return rt_err_new(RT_E_CARD_CHANGED, NULL, "the certificates on "
		    "the card in \"%s\" (%s) changed since it was read: reload",
		    st->target_reader, id);
	}
	return NULL;
}

rt_err *
rt_station_reload(rt_station *st)
{
	rt_err *e;
	sta_close_card(&st->tt, &st->tcard);
	if (st->have_ct) {
		rt_contents_free(&st->ct);
		st->have_ct = false;
	}
	st->card_id[0] = '\0';
	sta_wipe_secrets(st);
	if ((e = sta_load_cas(st)) != NULL || (e = sta_open_target(st)) != NULL)
		return e;
	e = rt_contents_read(st->tcard, st->tcas, time(NULL), 0, &st->ct);
	sta_close_card(&st->tt, &st->tcard);
	if (e != NULL)
		return rt_err_wrap(e, "reading the card in \"%s\"",
		    st->target_reader);
	st->have_ct = true;
	eng_card_name(&st->ct, st->card_id, sizeof(st->card_id));
	rt_update_init(&st->u, &st->ct);
	const rt_procedure *p[2];
	if (rt_station_procedures(st, p, 2) == 1) {
		rt_err *pe = rt_update_set_procedure(&st->u, p[0]);
		rt_err_free(pe);
	}
	return NULL;
}

const rt_contents *
rt_station_contents(const rt_station *st)
{
	return st->have_ct ? &st->ct : NULL;
}

rt_update *
rt_station_update(rt_station *st)
{
	return st->have_ct ? &st->u : NULL;
}

const char *
rt_station_card_id(const rt_station *st)
{
	return st->card_id;
}

size_t
rt_station_procedures(const rt_station *st, const rt_procedure **out,
    size_t cap)
{
	if (!st->have_ct)
		return 0;
	return rt_update_offered(&st->u, st->cfg, out, cap);
}

/* ---- the card printer ------------------------------------------------------ */

rt_err *
rt_station_printer(rt_station *st, rt_printer_step step, int *status,
    char *out, size_t cap)
{
	const char *cmd = step == RT_PRINTER_FEED ? st->cfg->printer_feed :
	    st->cfg->printer_eject;
	const char *what = step == RT_PRINTER_FEED ? "feed" : "eject";
	*status = -1;
	if (out != NULL && cap > 0)
		out[0] = '\0';
	if (cmd[0] == '\0')
		return NULL;
	int pfd[2];
	if (pipe(pfd) != 0)
		return rt_err_new(RT_E_IO, NULL, "printer %s: pipe", what);
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return rt_err_new(RT_E_IO, NULL, "printer %s: fork", what);
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	/* its output (the first line is shown), for at most 120 s */
	char buf[512];
	size_t got = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		int r = poll(&pf, 1, 500);
		if (r > 0) {
			char tmp[256];
			ssize_t n = read(pfd[0], tmp, sizeof(tmp));
			if (n <= 0)
				break;
			for (ssize_t i = 0; i < n && got + 1 < sizeof(buf); i++)
				buf[got++] = tmp[i];
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > 120) {
			kill(pid, SIGKILL);
			break;
		}
	}
	close(pfd[0]);
	buf[got] = '\0';
	char *nl = strchr(buf, '\n');
	if (nl != NULL)
		*nl = '\0';
	if (out != NULL && cap > 0)
		snprintf(out, cap, "%s", buf);
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(ws))
		*status = WEXITSTATUS(ws);
	else
		*status = 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
	if (*status != 0)
		return rt_err_new(RT_E_IO, NULL, "printer %s (%s): exit status "
		    "%d%s%s", what, cmd, *status, buf[0] ? ": " : "", buf);
	return NULL;
}
