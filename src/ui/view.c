/* view.c - the screen's view model, without curses (see view.h). */
#include "view.h"

#include "raterm/piv.h"
#include "raterm/text.h"
#include "raterm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- text ------------------------------------------------------------------- */

/* Length in bytes of the UTF-8 sequence starting at p (1 for a bad one). */
static size_t
u8_len(const unsigned char *p)
{
	size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 :
	    (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 1;
	for (size_t k = 1; k < n; k++)
		if ((p[k] & 0xc0) != 0x80)
			return 1;
	return n;
}

int
ui_text_width(const char *src, bool utf8)
{
	if (utf8)
		return (int)rt_text_width(src);	/* display columns */
	int w = 0;
	const unsigned char *p = (const unsigned char *)src;
	while (*p) {
		p += utf8 ? u8_len(p) : 1;
		w++;
	}
	return w;
}

char *
ui_fit(char *dst, size_t cap, const char *src, int width, bool utf8)
{
	size_t o = 0;
	int col = 0;
	const unsigned char *p = (const unsigned char *)(src ? src : "");
	if (cap == 0)
		return dst;
	if (utf8) {
		/* display width, cut with "…", padded to the column */
		col = width > 0 ? (int)rt_text_fit(dst, cap, (const char *)p,
		    (size_t)width, true) : 0;
		o = strlen(dst);
		while (col < width && o + 1 < cap) {
			dst[o++] = ' ';
			col++;
		}
		dst[o] = '\0';
		return dst;
	}
	/* a terminal without UTF-8: one '?' per byte it cannot show */
	int total = ui_text_width((const char *)p, utf8);
	int room = total > width ? width - 1 : width;
	while (*p && col < room) {
		size_t n = utf8 ? u8_len(p) : 1;
		if (n == 1 && (*p < 0x20 || *p == 0x7f || (*p >= 0x80))) {
			if (o + 1 >= cap)
				break;
			dst[o++] = '?';
		} else {
			if (o + n >= cap)
				break;
			memcpy(dst + o, p, n);
			o += n;
		}
		p += n;
		col++;
	}
	if (total > width && width > 0 && o + 1 < cap) {
		dst[o++] = '~';
		col++;
	}
	while (col < width && o + 1 < cap) {
		dst[o++] = ' ';
		col++;
	}
	dst[o] = '\0';
	return dst;
}

size_t
ui_wrap(const char *text, int width, bool utf8,
    void (*emit)(void *ctx, const char *line), void *ctx)
{
	size_t count = 0;
	char line[1024];
	const char *p = text;
	if (width < 8)
		width = 8;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		size_t ind = 0;
		while (ind < ll && p[ind] == ' ')
			ind++;
		/* a two-column line ("  F2 or s   Submit: ..."): its
		 * continuations start under the second column */
		if (ind > 0) {
			size_t k = ind;
			while (k < ll && !(p[k] == ' ' && k + 1 < ll &&
			    p[k + 1] == ' '))
				k++;
			while (k < ll && p[k] == ' ')
				k++;
			if (k < ll && k <= (size_t)width / 2)
				ind = k;
		}
		if (ind > (size_t)width / 2)
			ind = (size_t)width / 2;
		size_t pos = 0;
		bool first = true;
		while (pos < ll || first) {
			size_t lead = first ? 0 : ind;
			size_t room = (size_t)width - lead;
			/* bytes of the next `room` columns */
			size_t take = 0;
			int cols = 0;
			while (pos + take < ll && cols < (int)room) {
				take += utf8 ? u8_len((const unsigned char *)
				    p + pos + take) : 1;
				cols++;
			}
			if (pos + take > ll)
				take = ll - pos;
			if (pos + take < ll) {
				/* break at the last space */
				size_t b = take;
				while (b > 0 && p[pos + b] != ' ')
					b--;
				if (b > 0)
					take = b;
			}
			size_t n = take < sizeof(line) - lead - 1 ? take :
			    sizeof(line) - lead - 1;
			memset(line, ' ', lead);
			memcpy(line + lead, p + pos, n);
			line[lead + n] = '\0';
			emit(ctx, line);
			count++;
			pos += take;
			while (pos < ll && p[pos] == ' ')
				pos++;
			first = false;
		}
		p += ll;
		if (*p == '\n')
			p++;
	}
	return count;
}

/* ---- the Contents table -------------------------------------------------------- */

static const rt_tc_result *
tc_result_of(const rt_update *u, uint8_t slot)
{
	if (u == NULL || !u->tc_ran)
		return NULL;
	for (size_t k = 0; k < u->ntc; k++)
		if (u->tc[k].slot == slot)
			return &u->tc[k];
	return NULL;
}

/* The control that failed, by name. */
static const char *
failed_control(const rt_tc_result *r)
{
	if (r->chain == RT_TC_FAILED)
		return "chain";
	if (r->possession == RT_TC_FAILED)
		return "possession";
	if (r->binding == RT_TC_FAILED)
		return "binding";
	if (r->attestation == RT_TC_FAILED)
		return "attestation";
	switch (r->failed) {
	case RT_E_TC_POSSESSION: return "possession";
	case RT_E_TC_BINDING: return "binding";
	case RT_E_TC_ATTESTATION: return "attestation";
	case RT_E_TC_EXPIRED: return "expired";
	case RT_E_OK: return "not run";
	default: return "chain";
	}
}

void
ui_view_tc_status(const rt_contents *ct, const rt_update *u, size_t i,
    char *buf, size_t cap, bool *bad)
{
	const rt_key_row *r = &ct->rows[i];
	const rt_tc_result *res = tc_result_of(u, r->slot);
	*bad = false;
	buf[0] = '\0';
	if (!r->tc && res == NULL)
		return;
	if (res != NULL && res->verified)
		snprintf(buf, cap, "TC verified");
	else if (res != NULL) {
		snprintf(buf, cap, "TC failed: %s", failed_control(res));
		*bad = true;
	} else if (r->expired) {
		snprintf(buf, cap, "TC expired");
		*bad = true;
	} else
		snprintf(buf, cap, "TC not checked");
}

size_t
ui_view_nrows(const rt_contents *ct)
{
	if (ct == NULL)
		return 0;
	if (ct->nca == 0 && !rt_card_caps_of(ct)->ca_certs_on_card)
		return ct->nrows;
	return ct->nrows + 1 + ct->nca;
}

char *
ui_row_key(const rt_contents *ct, size_t i, char *buf, size_t cap)
{
	/* a key's further certificates: KEY.N, as raterm show and --action */
	return rt_key_name(ct->rows[i].slot, ct->rows[i].cert_index, buf, cap);
}

/* The Certificate and Until columns of a certificate (a key's or a CA
 * certificate): unreadable (error), its subject's common name, or none. */
static void
cert_cols(const char *error, bool has_cert, const rt_cert_info *c,
    const char *none, ui_row_view *out)
{
	if (error[0]) {
		snprintf(out->cert, sizeof(out->cert), "(unreadable: %s)",
		    error);
		out->status_bad = true;
	} else if (has_cert) {
		/* a long subject is cut: the column shows far less */
		snprintf(out->cert, sizeof(out->cert), "%.*s",
		    (int)sizeof(out->cert) - 1, c->subject_cn[0] ?
		    c->subject_cn : c->subject);
		snprintf(out->until, sizeof(out->until), "%.10s", c->not_after);
	} else
		snprintf(out->cert, sizeof(out->cert), "%s", none);
}

/* A CA certificate's line, or the section's heading (the choice of
 * Replace CA certificate(s)). */
static void
ca_row(const rt_contents *ct, const rt_update *u, size_t k,
    ui_row_view *out)
{
	if (k == 0) {
		out->kind = UI_ROW_CA_HEAD;
		snprintf(out->slot, sizeof(out->slot), "CA");
		if (ct->nca == 0)
			snprintf(out->cert, sizeof(out->cert), "CA certificates: "
			    "none");
		else
			snprintf(out->cert, sizeof(out->cert), "CA certificates: "
			    "%zu", ct->nca);
		bool asked = u != NULL && u->ca_asked;
		if (asked)
			snprintf(out->status, sizeof(out->status), "%s",
			    u->ca_replace ? "replace all" : "add missing");
		snprintf(out->action, sizeof(out->action), "%s", asked ?
		    "Write" : "Blank");
		out->blank = !asked;
		return;
	}
	const rt_ca_row *r = &ct->ca[k - 1];
	out->kind = UI_ROW_CA;
	cert_cols(r->error, r->has_cert, &r->cert, r->label[0] ? r->label :
	    "(no certificate)", out);
	out->blank = true;
}

void
ui_view_row(const rt_contents *ct, const rt_update *u, size_t i,
    ui_row_view *out)
{
	memset(out, 0, sizeof(*out));
	if (i >= ct->nrows) {
		ca_row(ct, u, i - ct->nrows, out);
		return;
	}
	const rt_key_row *r = &ct->rows[i];
	out->kind = UI_ROW_KEY;
	ui_row_key(ct, i, out->slot, sizeof(out->slot));
	out->more = i > 0 && ct->rows[i - 1].slot == r->slot;
	const char *alg = r->alg[0] ? r->alg : r->has_cert ?
	    r->cert.key_alg : "";
	if (!out->more)	/* the key once: its algorithm on its first line */
		snprintf(out->alg, sizeof(out->alg), "%s", alg[0] ? alg : "?");
	out->tc = r->tc;
	cert_cols(r->error, r->has_cert, &r->cert, "(key without certificate)",
	    out);
	bool bad = false;
	ui_view_tc_status(ct, u, i, out->status, sizeof(out->status), &bad);
	out->status_bad = out->status_bad || bad;
	if (!r->tc && out->status[0] == '\0' && r->has_cert && r->expired) {
		snprintf(out->status, sizeof(out->status), "expired");
		out->status_bad = true;
	}
	/* what the issuer's OCSP responder or CRL said (revocation.h): a
	 * revoked certificate says so before anything else */
	if (r->has_cert && r->rev.state == RT_REV_REVOKED) {
		snprintf(out->status, sizeof(out->status), "REVOKED");
		out->status_bad = true;
	} else if (r->has_cert && r->rev.state == RT_REV_UNKNOWN &&
	    out->status[0] == '\0') {
		snprintf(out->status, sizeof(out->status), "unknown to CA");
		out->status_bad = true;
	}
	rt_action a = (u != NULL && i < RT_MAX_KEYS) ? u->action[i] :
	    RT_ACT_BLANK;
	snprintf(out->action, sizeof(out->action), "%s", rt_action_title(a));
	out->blank = a == RT_ACT_BLANK;
}

/* Whether row i is not its key's chosen row (another certificate of the
 * key carries the key's action). */
static bool
other_cert(const rt_update *u, size_t i)
{
	return rt_update_row(u, u->ct->rows[i].slot) != (int)i;
}

size_t
ui_view_actions(const rt_update *u, size_t i,
    ui_action_entry out[RT_ACT__COUNT])
{
	size_t cur = 0;
	rt_update tmp;
	if (u != NULL && i < u->ct->nrows && other_cert(u, i)) {
		/* the rules as they would be with this certificate chosen */
		tmp = *u;
		rt_err *e = rt_update_choose_cert(&tmp, u->ct->rows[i].slot,
		    u->ct->rows[i].cert_index);
		rt_err_free(e);
		tmp.action[i] = RT_ACT_BLANK;
		u = &tmp;
	}
	for (int a = 0; a < RT_ACT__COUNT; a++) {
		ui_action_entry *en = &out[a];
		memset(en, 0, sizeof(*en));
		en->action = (rt_action)a;
		en->title = rt_action_title((rt_action)a);
		if (u == NULL || i >= u->ct->nrows) {
			en->enabled = a == RT_ACT_BLANK;
			if (!en->enabled)
				snprintf(en->reason, sizeof(en->reason),
				    u == NULL ? "no card read: Reload (F5) first" :
				    "not a key: the CA certificates' line "
				    "(Enter or C: Replace CA certificate(s))");
			continue;
		}
		rt_err *e = rt_update_check_action(u, u->ct->rows[i].slot,
		    (rt_action)a, 0);
		en->enabled = e == NULL;
		if (e != NULL) {
			snprintf(en->reason, sizeof(en->reason), "%s",
			    rt_err_msg(e));
			rt_err_free(e);
		}
		if (u->action[i] == (rt_action)a)
			cur = (size_t)a;
	}
	return cur;
}

rt_err *
ui_row_set_action(rt_update *u, size_t i, rt_action a, char *moved,
    size_t cap)
{
	if (moved != NULL && cap > 0)
		moved[0] = '\0';
	if (i >= u->ct->nrows)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "line %zu of the Contents "
		    "is not a key", i + 1);
	const rt_key_row *r = &u->ct->rows[i];
	if (!other_cert(u, i))
		return rt_update_set_action(u, r->slot, a);
	if (a == RT_ACT_BLANK)
		return NULL;	/* the key's action is on another line */
	int from = rt_update_row(u, r->slot);
	rt_update tmp = *u;
	rt_err *e = rt_update_choose_cert(&tmp, r->slot, r->cert_index);
	if (e == NULL)
		e = rt_update_set_action(&tmp, r->slot, a);
	if (e != NULL)
		return e;
	if (moved != NULL && from >= 0 && u->action[from] != RT_ACT_BLANK)
		ui_row_key(u->ct, (size_t)from, moved, cap);
	*u = tmp;
	return NULL;
}

/* ---- Replace CA certificate(s) --------------------------------------------- */

ui_ca_choice
ui_view_ca_choices(const rt_update *u, ui_ca_entry out[UI_CA__COUNT])
{
	static const char *const title[UI_CA__COUNT] = {
		"Replace the card's CA certificates",
		"Keep them, add the missing",
		"No Replace CA certificate(s)",
	};
	static const char *const desc[UI_CA__COUNT] = {
		"the CM host's CA certificates; the card's others removed",
		"the card's CA certificates stay; the CM host's missing added",
		"CA certificates only as the procedure writes them with keys",
	};
	for (int c = 0; c < UI_CA__COUNT; c++) {
		ui_ca_entry *en = &out[c];
		memset(en, 0, sizeof(*en));
		en->title = title[c];
		en->desc = desc[c];
		en->enabled = true;
		if (c == UI_CA_NONE)
			continue;
		if (u == NULL) {
			en->enabled = false;
			snprintf(en->reason, sizeof(en->reason), "no card read: "
			    "Reload (F5) first");
			continue;
		}
		rt_update tmp = *u;	/* what the engine would say */
		rt_err *e = rt_update_set_ca_certs(&tmp, c == UI_CA_REPLACE);
		if (e != NULL) {
			en->enabled = false;
			snprintf(en->reason, sizeof(en->reason), "%s",
			    rt_err_msg(e));
			rt_err_free(e);
		}
	}
	if (u == NULL || !u->ca_asked)
		return UI_CA_NONE;
	return u->ca_replace ? UI_CA_REPLACE : UI_CA_KEEP;
}

rt_err *
ui_ca_set(rt_update *u, ui_ca_choice c)
{
	if (c == UI_CA_NONE) {
		u->ca_asked = false;
		u->ca_replace = false;
		return NULL;
	}
	return rt_update_set_ca_certs(u, c == UI_CA_REPLACE);
}

bool
ui_action_of_letter(int ch, rt_action *a)
{
	switch (ch) {
	case 'b': *a = RT_ACT_BLANK; return true;
	case 'i': *a = RT_ACT_ISSUE; return true;
	case 'r': *a = RT_ACT_REDO; return true;
	case 'a': *a = RT_ACT_ADD; return true;
	default: return false;
	}
}

size_t
ui_view_proc_resets(const rt_update *u, const rt_procedure *p, char *buf,
    size_t cap)
{
	size_t n = 0, o = 0;
	if (cap)
		buf[0] = '\0';
	if (u == NULL || p == NULL)
		return 0;
	/* what set_procedure keeps: try it on a copy */
	rt_update tmp = *u;
	rt_err *e = rt_update_set_procedure(&tmp, p);
	if (e != NULL) {
		rt_err_free(e);
		return 0;
	}
	for (size_t i = 0; i < u->ct->nrows && i < RT_MAX_KEYS; i++) {
		if (u->action[i] == RT_ACT_BLANK || tmp.action[i] == u->action[i])
			continue;
		char s[4];
		int k = snprintf(buf + o, cap > o ? cap - o : 0, "%s%s %s",
		    n ? ", " : "", piv_slot_name(u->ct->rows[i].slot, s,
		    sizeof(s)), rt_action_title(u->action[i]));
		if (k > 0 && o + (size_t)k < cap)
			o += (size_t)k;
		n++;
	}
	return n;
}

/* ---- submit ------------------------------------------------------------------- */

size_t
ui_view_asks(const rt_plan *p, const rt_update *u, bool card_pin_kept,
    char lines[][160], size_t cap)
{
	size_t n = 0;
	const rt_card_caps *caps = u != NULL ? u->caps : NULL;
#define ASK(...) do { if (n < cap) snprintf(lines[n++], 160, __VA_ARGS__); } while (0)
	if (p == NULL || (p->nsteps == 0 && !p->write_ca_certs))
		return 0;
	if (p->card_pins >= 1 && !card_pin_kept)
		ASK("the PIN of the card");
	if (p->card_pins >= 2)
		ASK("%s", caps != NULL && caps->second_pin_own ? "the card's "
		    "second PIN (its signature PIN)" : "the card's second PIN "
		    "(its signature key asks again)");
	if (p->operator_credential && caps != NULL && caps->operator_is_pin)
		ASK("the operator credential (the card's %s), unless the CM "
		    "host holds it", caps->operator_name);
	else if (p->operator_credential)
		ASK("the operator credential (the card's management key), "
		    "unless the CM host holds it");
	if (p->write_ca_certs && !(u != NULL && u->ca_asked))
		ASK("whether the card's CA certificates are replaced or kept "
		    "(the missing added)");
	else if (!p->write_ca_certs && caps != NULL &&
	    !caps->ca_certs_on_card) {
		bool ca = false;
		for (size_t i = 0; i < p->nnotes; i++)
			if (strstr(p->notes[i], "CA certificate") != NULL)
				ca = true;
		if (ca)
			ASK("Replace CA certificate(s): not possible on %s",
			    caps->name ? caps->name : "this card");
	}
#undef ASK
	return n;
}

int
ui_view_result_row(const rt_contents *ct, const rt_plan_step *st,
    const char *serial)
{
	int first = -1, same = -1;
	for (size_t r = 0; r < ct->nrows; r++) {
		const rt_key_row *k = &ct->rows[r];
		if (k->slot != st->slot)
			continue;
		if (serial != NULL && serial[0] && k->has_cert &&
		    strcmp(k->cert.serial, serial) == 0)
			return (int)r;
		if (first < 0)
			first = (int)r;
		if (same < 0 && st->action != RT_ACT_ADD &&
		    k->cert_index == st->cert_index)
			same = (int)r;
	}
	return same >= 0 ? same : first;
}

void
ui_view_result_ca(const rt_plan *p, const rt_submit_result *res, char *buf,
    size_t cap)
{
	if (cap > 0)
		buf[0] = '\0';
	if (p == NULL || !p->write_ca_certs)
		return;
	snprintf(buf, cap, "CA certificates  %-8s %s%s%s%s",
	    rt_step_state_name(res->ca_state), res->ca_message[0] ?
	    res->ca_message : res->ca_state == RT_STEP_NOT_RUN ? "not written" :
	    "", res->ca_op_id[0] ? " (journal " : "", res->ca_op_id,
	    res->ca_op_id[0] ? ")" : "");
}

const char *
ui_view_result_end(const rt_submit_result *res)
{
	if (res->confirmed)
		return "Confirmed to the CM host (certConf, pkiConf).";
	if (res->unknown && !res->issued)
		return "The answer was lost: the CM host may have issued; the "
		    "card is unchanged (R recovers it).";
	if (res->issued)
		return "NOT confirmed to the CM host: the operation stays in "
		    "the journal (R recovers it).";
	if (res->sent)
		return "Nothing was issued; the card is unchanged.";
	return "Nothing was sent; the card is unchanged.";
}

void
ui_view_error(const char *what, const rt_err *e, char *buf, size_t cap)
{
	char msg[700];
	rt_err_format(e, msg, sizeof(msg));
	const char *pre = what && what[0] ? what : "";
	const char *sep = what && what[0] ? ": " : "";
	if (rt_err_has(e, RT_E_PIN_WRONG)) {
		int left = -1;
		for (const rt_err *c = e; c != NULL; c = rt_err_cause(c))
			if (rt_err_detail(c) >= 0) {
				left = rt_err_detail(c);
				break;
			}
		if (left >= 0)
			snprintf(buf, cap, "%s%swrong PIN: %d %s left, nothing "
			    "retried (%s)", pre, sep, left, left == 1 ? "try" :
			    "tries", msg);
		else
			snprintf(buf, cap, "%s%swrong PIN, nothing retried (%s)",
			    pre, sep, msg);
	} else if (rt_err_has(e, RT_E_PIN_BLOCKED))
		snprintf(buf, cap, "%s%sthe PIN is blocked (%s)", pre, sep, msg);
	else
		snprintf(buf, cap, "%s%s%s", pre, sep, msg);
}

/* ---- layout ---------------------------------------------------------------------- */

void
ui_layout_of(int w, int h, ui_layout *L)
{
	memset(L, 0, sizeof(*L));
	L->w = w;
	L->h = h;
	L->too_small = w < UI_MIN_W || h < UI_MIN_H;
	if (L->too_small)
		return;
	L->y_head = 0;			/* two header lines */
	L->y_warn = 2;
	L->y_box = 3;
	L->y_colhead = 4;
	L->y_rows = 5;
	L->y_keys = h - 1;
	L->y_status = h - 2;
	L->y_pin = h - 4;
	L->y_buttons = h - 4;
	L->y_proc = h - 6;		/* and its description below */
	L->y_boxend = h - 7;
	L->nrows_vis = L->y_boxend - L->y_rows;
	/* columns inside the box: 1 .. w-2 */
	L->x_slot = 2;
	L->w_slot = 4;
	L->x_alg = L->x_slot + L->w_slot + 1;
	L->w_alg = 7;
	L->x_cert = L->x_alg + L->w_alg + 1;
	L->w_action = 6;
	L->x_action = w - 2 - L->w_action;
	int rest = L->x_action - 1 - L->x_cert;	/* cert, until, status */
	L->w_until = 10;
	rest -= L->w_until + 2;
	L->w_status = 16;
	L->w_cert = rest - L->w_status;
	if (L->w_cert > 48) {
		L->w_status += L->w_cert - 48;
		L->w_cert = 48;
	}
	L->x_until = L->x_cert + L->w_cert + 1;
	L->x_status = L->x_until + L->w_until + 1;
	/* procedure: "Procedure: [name      v]  description" */
	L->x_proc = 13;
	L->w_proc = 24;
	/* PIN and buttons */
	L->x_pin = 17;
	L->w_pin = 20;
	L->x_reload = L->x_pin + L->w_pin + 4;
	L->x_submit = L->x_reload + 11;
	L->x_quit = L->x_submit + 11;
	L->x_help = L->x_quit + 9;
}

/* ---- fields ---------------------------------------------------------------------- */

rt_err *
ui_field_init(ui_field *f, size_t cap, bool secret)
{
	memset(f, 0, sizeof(*f));
	if (cap < 2)
		cap = 2;
	f->secret = secret;
	if (secret) {
		long pg = sysconf(_SC_PAGESIZE);
		size_t sz = pg > 0 ? (size_t)pg : 4096;
		if (cap > sz)
			cap = sz;
		void *m = mmap(NULL, sz, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return rt_err_new(RT_E_NOMEM, NULL, "PIN field");
		f->locked = mlock(m, sz) == 0;
#ifdef MADV_DONTDUMP
		(void)madvise(m, sz, MADV_DONTDUMP);
#endif
		f->buf = m;
	} else {
		f->buf = calloc(1, cap);
		if (f->buf == NULL)
			return rt_err_new(RT_E_NOMEM, NULL, "text field");
	}
	f->cap = cap;
	return NULL;
}

void
ui_field_free(ui_field *f)
{
	if (f->buf == NULL)
		return;
	rt_wipe(f->buf, f->cap);
	if (f->secret) {
		long pg = sysconf(_SC_PAGESIZE);
		size_t sz = pg > 0 ? (size_t)pg : 4096;
		if (f->locked)
			munlock(f->buf, sz);
		munmap(f->buf, sz);
	} else
		free(f->buf);
	memset(f, 0, sizeof(*f));
}

bool
ui_field_put(ui_field *f, int ch)
{
	if (f->buf == NULL || f->len + 1 >= f->cap)
		return false;
	if (ch < 0x20 || ch == 0x7f || ch > 0xff)
		return false;
	if (f->secret && ch > 0x7e)
		return false;	/* PINs: printable ASCII */
	f->buf[f->len++] = (char)ch;
	f->buf[f->len] = '\0';
	return true;
}

void
ui_field_back(ui_field *f)
{
	if (f->buf == NULL || f->len == 0)
		return;
	size_t n = f->len - 1;
	/* a whole UTF-8 sequence */
	while (n > 0 && ((unsigned char)f->buf[n] & 0xc0) == 0x80)
		n--;
	rt_wipe(f->buf + n, f->len - n);
	f->len = n;
}

void
ui_field_clear(ui_field *f)
{
	if (f->buf != NULL)
		rt_wipe(f->buf, f->cap);
	f->len = 0;
}

bool
ui_field_copy(const ui_field *f, char *out, size_t cap, size_t *len)
{
	if (f->buf == NULL || f->len + 1 > cap)
		return false;
	memcpy(out, f->buf, f->len);
	out[f->len] = '\0';
	*len = f->len;
	return true;
}

void
ui_field_show(const ui_field *f, bool stars, char *out, size_t cap,
    int width)
{
	if (f->secret) {
		size_t n = stars ? f->len : 0;
		if (n > (size_t)width)
			n = (size_t)width;
		size_t o = 0;
		for (; o < n && o + 1 < cap; o++)
			out[o] = '*';
		for (; o < (size_t)width && o + 1 < cap; o++)
			out[o] = ' ';
		out[o] = '\0';
		return;
	}
	/* the end of a long text stays visible */
	const char *s = f->buf ? f->buf : "";
	int tw = ui_text_width(s, true);
	while (tw > width - 1 && *s) {
		s += u8_len((const unsigned char *)s);
		tw--;
	}
	ui_fit(out, cap, s, width, true);
}
