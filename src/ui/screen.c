/*
 * screen.c - the officer's screen (ncurses): layout, drawing of what
 * changed, the main loop (keys, mouse, reader events, resize) and the
 * officer's commands (Reload, actions, procedure, Submit). The dialogs
 * are in dialog.c, what the screen shows is computed in view.c.
 *
 * Drawing: each part of the screen has a dirty bit; ui_draw draws only
 * the parts marked, into stdscr, and curses sends only the cells that
 * differ (wnoutrefresh + doupdate). Nothing is repainted periodically.
 */
#include "ui_int.h"

#include "raterm/piv.h"
#include "raterm/revocation.h"
#include "raterm/util.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 250		/* reader events are looked at this often */

/* ---- attributes, text ------------------------------------------------------- */

static void
init_attrs(ui *u)
{
	const char *nc = getenv("NO_COLOR");
	u->color = has_colors() && (nc == NULL || nc[0] == '\0');
	for (int i = 0; i < R__COUNT; i++)
		u->attr[i] = A_NORMAL;
	u->attr[R_HEAD] = A_REVERSE;
	u->attr[R_SEL] = A_REVERSE;
	u->attr[R_DIM] = A_DIM;
	u->attr[R_BAD] = A_BOLD;
	u->attr[R_GOOD] = A_NORMAL;
	u->attr[R_WARN] = A_BOLD;
	u->attr[R_KEY] = A_BOLD;
	u->attr[R_KEYLABEL] = A_REVERSE;
	u->attr[R_TITLE] = A_BOLD;
	if (!u->color)
		return;
	start_color();
	use_default_colors();
	init_pair(1, COLOR_BLACK, COLOR_CYAN);	/* header, key labels */
	init_pair(2, COLOR_RED, -1);
	init_pair(3, COLOR_GREEN, -1);
	init_pair(4, COLOR_YELLOW, -1);
	init_pair(5, COLOR_BLACK, COLOR_CYAN);
	u->attr[R_HEAD] = COLOR_PAIR(1);
	u->attr[R_KEYLABEL] = COLOR_PAIR(1);
	u->attr[R_BAD] = COLOR_PAIR(2) | A_BOLD;
	u->attr[R_GOOD] = COLOR_PAIR(3);
	u->attr[R_WARN] = COLOR_PAIR(4) | A_BOLD;
	u->attr[R_SEL] = COLOR_PAIR(5);
}

void
ui_put(ui *u, WINDOW *w, int y, int x, int width, int role, const char *text)
{
	char buf[1200];
	if (width <= 0)
		return;
	ui_fit(buf, sizeof(buf), text, width, u->utf8);
	wattrset(w, u->attr[role]);
	mvwaddstr(w, y, x, buf);
	wattrset(w, A_NORMAL);
}

void
ui_frame(ui *u, WINDOW *w, int y, int x, int h, int wd, const char *title)
{
	if (u->utf8 && !u->o.ascii) {
		mvwaddch(w, y, x, ACS_ULCORNER);
		mvwhline(w, y, x + 1, ACS_HLINE, wd - 2);
		mvwaddch(w, y, x + wd - 1, ACS_URCORNER);
		mvwvline(w, y + 1, x, ACS_VLINE, h - 2);
		mvwvline(w, y + 1, x + wd - 1, ACS_VLINE, h - 2);
		mvwaddch(w, y + h - 1, x, ACS_LLCORNER);
		mvwhline(w, y + h - 1, x + 1, ACS_HLINE, wd - 2);
		mvwaddch(w, y + h - 1, x + wd - 1, ACS_LRCORNER);
	} else {
		mvwaddch(w, y, x, '+');
		mvwhline(w, y, x + 1, '-', wd - 2);
		mvwaddch(w, y, x + wd - 1, '+');
		mvwvline(w, y + 1, x, '|', h - 2);
		mvwvline(w, y + 1, x + wd - 1, '|', h - 2);
		mvwaddch(w, y + h - 1, x, '+');
		mvwhline(w, y + h - 1, x + 1, '-', wd - 2);
		mvwaddch(w, y + h - 1, x + wd - 1, '+');
	}
	if (title != NULL && title[0]) {
		char t[200];
		snprintf(t, sizeof(t), " %s ", title);
		int tw = ui_text_width(t, u->utf8);
		if (tw > wd - 4)
			tw = wd - 4;
		ui_put(u, w, y, x + 2, tw, R_TITLE, t);
	}
}

void
ui_set_status(ui *u, int role, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(u->status, sizeof(u->status), fmt, ap);
	va_end(ap);
	u->status_role = role;
	u->dirty |= D_STATUS;
}

void
ui_status_err(ui *u, const char *what, const rt_err *e)
{
	ui_view_error(what, e, u->status, sizeof(u->status));
	u->status_role = R_BAD;
	u->dirty |= D_STATUS;
}

/* ---- drawing ------------------------------------------------------------------ */

static const rt_contents *
contents(ui *u)
{
	return rt_station_contents(u->st);
}

static void
draw_head(ui *u)
{
	const ui_layout *L = &u->L;
	char l0[1000], l1[800], t[64];
	if (u->have_officer && u->oinfo.software)
		snprintf(t, sizeof(t), " (software token)");
	else if (u->have_officer && u->oinfo.pin_retries >= 0)
		snprintf(t, sizeof(t), ", PIN %d %s left", u->oinfo.pin_retries,
		    u->oinfo.pin_retries == 1 ? "try" : "tries");
	else
		t[0] = '\0';
	if (u->have_officer)
		snprintf(l0, sizeof(l0), " raterm %s   Officer: %s%s%s%s%s",
		    u->host, u->oinfo.name[0] ? u->oinfo.name : "(unnamed)",
		    u->oinfo.reader[0] ? " in \"" : "", u->oinfo.reader,
		    u->oinfo.reader[0] ? "\"" : "", t);
	else
		snprintf(l0, sizeof(l0), " raterm %s   Officer: none (%s)",
		    u->host, u->officer_err[0] ? u->officer_err : "not found");
	ui_put(u, stdscr, L->y_head, 0, L->w, R_HEAD, l0);

	const rt_contents *ct = contents(u);
	const char *tr = u->rinfo.target[0] ? u->rinfo.target : "(none)";
	if (ct != NULL) {
		char id[80] = "", pin[48] = "";
		if (ct->has_serial)
			snprintf(id, sizeof(id), "   serial %u", ct->serial);
		if (ct->has_guid) {
			size_t o = strlen(id);
			snprintf(id + o, sizeof(id) - o, "   GUID ");
			o = strlen(id);
			(void)rt_hex_encode(ct->guid, sizeof(ct->guid), id + o,
			    sizeof(id) - o, 0);
		}
		if (ct->pin_retries >= 0)
			snprintf(pin, sizeof(pin), "   PIN %d %s left",
			    ct->pin_retries, ct->pin_retries == 1 ? "try" :
			    "tries");
		snprintf(l1, sizeof(l1), " Target: \"%s\"%s   %s%s%s", tr,
		    u->card_gone ? " (card removed)" : "",
		    rt_card_caps_of(ct)->name, pin, id);
	} else
		snprintf(l1, sizeof(l1), " Target: \"%s\"   no card read", tr);
	move(L->y_head + 1, 0);
	clrtoeol();
	ui_put(u, stdscr, L->y_head + 1, 0, L->w, u->card_gone ? R_WARN :
	    R_NORMAL, l1);
}

static void
draw_warn(ui *u)
{
	const ui_layout *L = &u->L;
	char w[600];
	w[0] = '\0';
	if (u->have_officer && u->oinfo.warning[0])
		snprintf(w, sizeof(w), "! %s", u->oinfo.warning);
	if (u->open_ops > 0) {
		size_t o = strlen(w);
		snprintf(w + o, sizeof(w) - o, "%s! %zu incomplete update%s in "
		    "the journal: R recovers", o ? "   " : "", u->open_ops,
		    u->open_ops == 1 ? "" : "s");
	}
	move(L->y_warn, 0);
	clrtoeol();
	if (w[0])
		ui_put(u, stdscr, L->y_warn, 1, L->w - 2, R_WARN, w);
}

static void
draw_contents(ui *u)
{
	const ui_layout *L = &u->L;
	const rt_contents *ct = contents(u);
	rt_update *up = rt_station_update(u->st);
	bool focus = u->focus == F_CONTENTS;
	if (u->dirty & D_FRAME)
		ui_frame(u, stdscr, L->y_box, 0, L->y_boxend - L->y_box + 1, L->w,
		    "Contents");
	int y = L->y_colhead;
	move(y, 1);
	for (int x = 1; x < L->w - 1; x++)
		addch(' ');
	ui_put(u, stdscr, y, L->x_slot, L->w_slot, R_TITLE, ct != NULL &&
	    strcmp(ct->profile, "piv") != 0 ? "Key" : "Slot");
	ui_put(u, stdscr, y, L->x_alg, L->w_alg, R_TITLE, "Alg");
	ui_put(u, stdscr, y, L->x_cert, L->w_cert, R_TITLE, "Certificate");
	ui_put(u, stdscr, y, L->x_until, L->w_until, R_TITLE, "Until");
	ui_put(u, stdscr, y, L->x_status, L->w_status, R_TITLE, "TC status");
	ui_put(u, stdscr, y, L->x_action, L->w_action, R_TITLE, "Action");
	size_t n = ui_view_nrows(ct);
	if (u->row >= n)
		u->row = n ? n - 1 : 0;
	if (u->row < u->top)
		u->top = u->row;
	if (L->nrows_vis > 0 && u->row >= u->top + (size_t)L->nrows_vis)
		u->top = u->row - (size_t)L->nrows_vis + 1;
	for (int k = 0; k < L->nrows_vis; k++) {
		size_t i = u->top + (size_t)k;
		y = L->y_rows + k;
		move(y, 1);
		for (int x = 1; x < L->w - 1; x++)
			addch(' ');
		if (ct == NULL) {
			if (k == 1)
				ui_put(u, stdscr, y, 3, L->w - 6, R_DIM,
				    u->target_err[0] ? u->target_err :
				    "No card read yet: F5 or l reads the card in "
				    "the target reader.");
			continue;
		}
		if (i >= n)
			continue;
		ui_row_view rv;
		ui_view_row(ct, up, i, &rv);
		bool sel = focus && i == u->row;
		int base = u->card_gone ? R_DIM : R_NORMAL;
		if (sel) {
			attrset(u->attr[R_SEL]);
			move(y, 1);
			for (int x = 1; x < L->w - 1; x++)
				addch(' ');
			attrset(A_NORMAL);
			base = R_SEL;
		} else if (i == u->row)
			mvaddch(y, 1, '>');
		ui_put(u, stdscr, y, L->x_slot, L->w_slot, base, rv.slot);
		ui_put(u, stdscr, y, L->x_alg, L->w_alg, base, rv.alg);
		ui_put(u, stdscr, y, L->x_cert, L->w_cert, base, rv.cert);
		ui_put(u, stdscr, y, L->x_until, L->w_until, base, rv.until);
		const char *status = rv.status;
		int srole = sel ? R_SEL : rv.status_bad ? R_BAD : base;
		if (rv.kind == UI_ROW_KEY && i < RT_MAX_KEYS && u->note[i][0]) {
			status = u->note[i];
			srole = sel ? R_SEL : u->note_role[i];
		} else if (rv.kind == UI_ROW_CA_HEAD && u->ca_note[0]) {
			status = u->ca_note;
			srole = sel ? R_SEL : u->ca_note_role;
		}
		ui_put(u, stdscr, y, L->x_status, L->w_status, srole, status);
		char act[16];
		snprintf(act, sizeof(act), "%-5s%s", rv.action, sel &&
		    rv.kind != UI_ROW_CA ? (u->utf8 && !u->o.ascii ?
		    "\xe2\x96\xbe" : "v") : " ");
		ui_put(u, stdscr, y, L->x_action, L->w_action, sel ? R_SEL :
		    rv.blank ? R_DIM : R_NORMAL, act);
	}
	/* more rows than fit: say so on the frame */
	char more[32] = "";
	if (ct != NULL && n > (size_t)L->nrows_vis)
		snprintf(more, sizeof(more), " %zu-%zu of %zu ", u->top + 1,
		    u->top + (size_t)L->nrows_vis < n ? u->top +
		    (size_t)L->nrows_vis : n, n);
	if (more[0])
		ui_put(u, stdscr, L->y_boxend, L->w - 2 - (int)strlen(more),
		    (int)strlen(more), R_NORMAL, more);
}

static const rt_procedure *
current_proc(ui *u)
{
	rt_update *up = rt_station_update(u->st);
	return up ? up->proc : NULL;
}

static void
draw_proc(ui *u)
{
	const ui_layout *L = &u->L;
	const rt_procedure *p = current_proc(u);
	char box[100];
	move(L->y_proc, 0);
	clrtoeol();
	move(L->y_proc + 1, 0);
	clrtoeol();
	ui_put(u, stdscr, L->y_proc, 1, 11, u->focus == F_PROC ? R_TITLE :
	    R_NORMAL, "Procedure:");
	const char *name = p ? p->name : u->nprocs ? "(choose one)" :
	    contents(u) ? "(none fits this card)" : "";
	snprintf(box, sizeof(box), "[%-*.*s %s]", L->w_proc - 4, L->w_proc - 4,
	    name, u->utf8 && !u->o.ascii ? "\xe2\x96\xbe" : "v");
	ui_put(u, stdscr, L->y_proc, L->x_proc, L->w_proc,
	    u->focus == F_PROC ? R_SEL : R_NORMAL, box);
	char info[120];
	snprintf(info, sizeof(info), "%zu offered for this card", u->nprocs);
	ui_put(u, stdscr, L->y_proc, L->x_proc + L->w_proc + 2,
	    L->w - L->x_proc - L->w_proc - 3, R_DIM, contents(u) ? info : "");
	if (p != NULL)
		ui_put(u, stdscr, L->y_proc + 1, L->x_proc, L->w - L->x_proc - 1,
		    R_DIM, p->description);
}

static void
draw_pin(ui *u)
{
	const ui_layout *L = &u->L;
	char f[128], b[32];
	move(L->y_pin, 0);
	clrtoeol();
	bool soft = u->have_officer && u->oinfo.software;
	ui_put(u, stdscr, L->y_pin, 1, 15, u->focus == F_PIN ? R_TITLE :
	    R_NORMAL, soft ? "Passphrase:" : "Signature PIN:");
	ui_field_show(&u->pin, u->o.pin_stars, f, sizeof(f), L->w_pin - 2);
	char box[160];
	snprintf(box, sizeof(box), "[%s]", f);
	ui_put(u, stdscr, L->y_pin, L->x_pin, L->w_pin, u->focus == F_PIN ?
	    R_SEL : R_NORMAL, box);
	if (!u->o.pin_stars && u->pin.len > 0)
		ui_put(u, stdscr, L->y_pin, L->x_pin + 1, 9, u->focus == F_PIN ?
		    R_SEL : R_DIM, "(entered)");
	static const char *const names[] = { "Reload", "Submit", "Quit" };
	const int xs[] = { L->x_reload, L->x_submit, L->x_quit };
	for (int i = 0; i < 3; i++) {
		snprintf(b, sizeof(b), "[ %s ]", names[i]);
		ui_put(u, stdscr, L->y_buttons, xs[i], (int)strlen(b),
		    u->focus == F_RELOAD + i ? R_SEL : R_NORMAL, b);
	}
	ui_put(u, stdscr, L->y_buttons, L->x_help, 8, u->focus == -1 ? R_SEL :
	    R_NORMAL, "[ Help ]");
}

typedef struct {
	ui *u;
	int n;
} status_lines;

static void
status_line(void *ctx, const char *line)
{
	status_lines *sl = ctx;
	const ui_layout *L = &sl->u->L;
	if (sl->n < 2)
		ui_put(sl->u, stdscr, L->y_status - 1 + sl->n, 1, L->w - 2,
		    sl->u->status_role, line);
	sl->n++;
}

/* The status line; a long message takes the line above it too. */
static void
draw_status(ui *u)
{
	const ui_layout *L = &u->L;
	move(L->y_status - 1, 0);
	clrtoeol();
	move(L->y_status, 0);
	clrtoeol();
	status_lines sl = { u, 0 };
	if (ui_text_width(u->status, u->utf8) <= L->w - 2)
		sl.n = 1;	/* one line: the lower one */
	ui_wrap(u->status, L->w - 2, u->utf8, status_line, &sl);
}

/* The card's profile holds CA certificates (Replace CA certificate(s)). */
static bool
ca_card(ui *u)
{
	const rt_contents *ct = contents(u);
	return ct != NULL && ui_view_nrows(ct) > ct->nrows;
}

static void
draw_keys(ui *u)
{
	const ui_layout *L = &u->L;
	const rt_contents *ct = contents(u);
	bool ca_line = ct != NULL && u->row >= ct->nrows;
	const char *enter = u->focus == F_CONTENTS ? (ca_line ? "CAcerts" :
	    "Action") :
	    u->focus == F_PROC ? "Choose" : u->focus == F_PIN ? "Done" :
	    "Press";
	struct { const char *k, *l; } keys[] = {
		{ "F1", "Help" }, { "F2", "Submit" }, { "F5", "Reload" },
		{ "F10", "Quit" }, { "Tab", "Next" }, { "Enter", enter },
		{ u->focus == F_CONTENTS ? "b/i/r/a" : NULL, "Set" },
		{ ca_card(u) ? "C" : NULL, "ReplCA" },
	};
	int x = 0;
	move(L->y_keys, 0);
	clrtoeol();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].k == NULL)
			continue;
		int kw = (int)strlen(keys[i].k), lw = (int)strlen(keys[i].l) + 1;
		if (x + kw + lw > L->w)
			break;
		ui_put(u, stdscr, L->y_keys, x, kw, R_KEY, keys[i].k);
		x += kw;
		ui_put(u, stdscr, L->y_keys, x, lw, R_KEYLABEL, keys[i].l);
		x += lw + 1;
	}
}

static void
place_cursor(ui *u)
{
	if (u->focus == F_PIN && !u->L.too_small) {
		size_t n = u->o.pin_stars ? u->pin.len : 0;
		if (n > (size_t)u->L.w_pin - 2)
			n = (size_t)u->L.w_pin - 2;
		move(u->L.y_pin, u->L.x_pin + 1 + (int)n);
		curs_set(1);
	} else
		curs_set(0);
}

void
ui_draw(ui *u)
{
	if (u->dirty == 0)
		return;
	if (u->L.too_small) {
		erase();
		char m[160];
		snprintf(m, sizeof(m), "raterm needs a terminal of at least "
		    "%dx%d (this one is %dx%d). Enlarge it, or F10/q quits.",
		    UI_MIN_W, UI_MIN_H, u->L.w, u->L.h);
		mvaddnstr(0, 0, m, u->L.w > 0 ? u->L.w * (u->L.h > 3 ? 3 : 1) :
		    0);
		u->dirty = 0;
		curs_set(0);
		wnoutrefresh(stdscr);
		doupdate();
		return;
	}
	if (u->dirty & D_FRAME)
		erase();
	if (u->dirty & D_HEAD)
		draw_head(u);
	if (u->dirty & D_WARN)
		draw_warn(u);
	if (u->dirty & (D_CONTENTS | D_FRAME))
		draw_contents(u);
	if (u->dirty & D_PROC)
		draw_proc(u);
	if (u->dirty & D_PIN)
		draw_pin(u);
	if (u->dirty & D_STATUS)
		draw_status(u);
	if (u->dirty & D_KEYS)
		draw_keys(u);
	u->dirty = 0;
	place_cursor(u);
	wnoutrefresh(stdscr);
	doupdate();
}

void
ui_relayout(ui *u)
{
	int h, w;
	getmaxyx(stdscr, h, w);
	ui_layout_of(w, h, &u->L);
	u->dirty = D_ALL;
}

/* ---- the officer's commands ---------------------------------------------------- */

static void
refresh_officer(ui *u)
{
	/* read again: the Signature PIN's tries left change with a submit */
	rt_err *e = rt_station_officer_refresh(u->st, &u->oinfo);
	u->have_officer = e == NULL;
	u->officer_err[0] = '\0';
	if (e != NULL) {
		rt_err_format(e, u->officer_err, sizeof(u->officer_err));
		rt_err_free(e);
	}
	u->dirty |= D_HEAD | D_WARN | D_PIN;
}

static void
count_open_ops(ui *u)
{
	rt_jop *ops = NULL;
	size_t n = 0;
	rt_err *e = rt_station_open_ops(u->st, &ops, &n);
	if (e == NULL) {
		u->open_ops = n;
		rt_jops_free(ops, n);
	}
	rt_err_free(e);
	u->dirty |= D_WARN;
}

static void
clear_notes(ui *u)
{
	memset(u->note, 0, sizeof(u->note));
	u->ca_note[0] = '\0';
	u->dirty |= D_CONTENTS;
}

/* After a read, once the screen shows the card (the main loop calls it
 * when rev_pending): asks whether the card's certificates are revoked
 * (the station's check: OCSP, else the CRL), unless revocation.check is
 * off; offline, the station says so on the rows only. The rows show
 * REVOKED; the status line names the revoked ones first, or adds why a
 * certificate of the CM host could not be checked. */
static void
check_revocation(ui *u)
{
	const rt_config *cfg = rt_station_config(u->st);
	const rt_contents *ct = contents(u);
	u->rev_pending = false;
	if (ct == NULL || u->card_gone || cfg->rev_check_off)
		return;
	size_t ncert = 0;
	for (size_t i = 0; i < ct->nrows; i++)
		ncert += ct->rows[i].has_cert;
	if (ncert == 0)
		return;
	rt_err *e = rt_station_check_revocation(u->st, NULL);
	u->dirty |= D_CONTENTS;
	if (e != NULL) {	/* offline or off: said on the rows only */
		rt_err_free(e);
		return;
	}
	char list[120] = "", key[8], keep[UI_STATUS_MAX];
	size_t nrev = 0, o = 0;
	const char *why = NULL;	/* the first certificate not checked */
	for (size_t i = 0; i < ct->nrows; i++) {
		const rt_key_row *r = &ct->rows[i];
		if (!r->has_cert)
			continue;
		if (r->rev.state == RT_REV_REVOKED) {
			ui_row_key(ct, i, key, sizeof(key));
			o += (size_t)snprintf(list + o, o < sizeof(list) ?
			    sizeof(list) - o : 0, "%s%s", nrev ? ", " : "", key);
			nrev++;
		} else if (r->rev.state == RT_REV_NOT_CHECKED && !r->tc &&
		    why == NULL)
			why = r->rev.why;
	}
	snprintf(keep, sizeof(keep), "%s", u->status);
	if (nrev > 0)
		ui_set_status(u, R_BAD, "REVOKED: %s (the CA says so: Redo or "
		    "Blank %s). %s", list, nrev == 1 ? "it" : "them", keep);
	else if (why != NULL)
		ui_set_status(u, u->status_role == R_NORMAL ? R_WARN :
		    u->status_role, "%s Revocation not checked: %.200s", keep,
		    why);
}

static void
reload(ui *u, bool quiet)
{
	clear_notes(u);
	u->target_err[0] = '\0';
	if (u->rinfo.target[0] == '\0') {
		rt_err *e = rt_station_find_readers(u->st, &u->rinfo);
		rt_err_free(e);
	}
	u->dirty |= D_HEAD | D_CONTENTS | D_PROC;
	rt_err *e = rt_station_reload(u->st);
	u->nprocs = 0;
	u->card_gone = false;
	if (e != NULL) {
		char m[500];
		ui_view_error("", e, m, sizeof(m));
		if (u->rinfo.target[0] == '\0' && u->rinfo.target_why[0])
			snprintf(u->target_err, sizeof(u->target_err),
			    "No target card: %.300s", u->rinfo.target_why);
		else
			snprintf(u->target_err, sizeof(u->target_err),
			    "No card read: %.380s", m);
		ui_set_status(u, R_BAD, "Reload: %s", m);
		rt_err_free(e);
		return;
	}
	u->nprocs = rt_station_procedures(u->st, u->procs, UI_MAX_PROCS);
	u->row = 0;
	u->top = 0;
	if (!quiet) {
		const rt_contents *ct = contents(u);
		const rt_procedure *p = current_proc(u);
		ui_set_status(u, R_NORMAL, "Read the card in \"%s\" (%s): %zu "
		    "key%s%s%s.", ct->reader, rt_station_card_id(u->st),
		    ct->nrows, ct->nrows == 1 ? "" : "s", p ? "; procedure " :
		    "", p ? p->name : "");
	}
	u->rev_pending = true;	/* asked once the screen shows the card */
}

/* The card printer (printer: in raterm.yaml): its command's result on
 * the status line; false when it failed. */
static bool
printer(ui *u, rt_printer_step step)
{
	int status = -1;
	char out[200];
	const char *what = step == RT_PRINTER_FEED ? "feed" : "eject";
	rt_err *e = rt_station_printer(u->st, step, &status, out, sizeof(out));
	if (e != NULL) {
		ui_status_err(u, "Printer", e);
		rt_err_free(e);
		return false;
	}
	if (status >= 0)
		ui_set_status(u, R_NORMAL, "Printer %s: done (exit status 0)%s%s",
		    what, out[0] ? ": " : "", out);
	return true;
}

/* Reload asked by the officer: the printer feeds a card first (when one
 * is configured). */
static void
feed_and_reload(ui *u)
{
	if (!printer(u, RT_PRINTER_FEED))
		return;
	reload(u, false);
}

static void
set_action(ui *u, rt_action a)
{
	rt_update *up = rt_station_update(u->st);
	const rt_contents *ct = contents(u);
	if (up == NULL || ct == NULL || u->row >= ui_view_nrows(ct)) {
		ui_set_status(u, R_BAD, "No card read: F5 reads it.");
		return;
	}
	if (u->row >= ct->nrows) {
		ui_set_status(u, R_BAD, "%s: not a key: Enter or C chooses "
		    "Replace CA certificate(s).", rt_action_title(a));
		return;
	}
	char s[8], moved[8];
	ui_row_key(ct, u->row, s, sizeof(s));
	rt_err *e = ui_row_set_action(up, u->row, a, moved, sizeof(moved));
	if (e != NULL) {
		ui_set_status(u, R_BAD, "%s", rt_err_msg(e));
		rt_err_free(e);
		return;
	}
	u->note[u->row][0] = '\0';
	u->dirty |= D_CONTENTS;
	if (moved[0])
		ui_set_status(u, R_NORMAL, "%s: %s (the key's action moved from "
		    "%s: one certificate of a key at a time).", s,
		    rt_action_title(a), moved);
	else
		ui_set_status(u, R_NORMAL, "%s: %s.", s, rt_action_title(a));
}

/* Replace CA certificate(s): replace the card's, keep them and add the
 * missing, or none; the entries the engine refuses say why. */
static void
ca_menu(ui *u)
{
	rt_update *up = rt_station_update(u->st);
	if (up == NULL) {
		ui_set_status(u, R_BAD, "No card read: F5 reads it.");
		return;
	}
	ui_ca_entry en[UI_CA__COUNT];
	ui_ca_choice cur = ui_view_ca_choices(up, en);
	const char *items[UI_CA__COUNT], *desc[UI_CA__COUNT];
	const char *reasons[UI_CA__COUNT];
	bool dis[UI_CA__COUNT];
	for (int i = 0; i < UI_CA__COUNT; i++) {
		items[i] = en[i].title;
		desc[i] = en[i].desc;
		dis[i] = !en[i].enabled;
		reasons[i] = en[i].reason;
	}
	int k = dlg_list(u, "Replace CA certificate(s)", items, desc, dis,
	    reasons, UI_CA__COUNT, (size_t)cur, -1, -1);
	if (k < 0)
		return;
	rt_err *e = ui_ca_set(up, (ui_ca_choice)k);
	if (e != NULL) {
		ui_status_err(u, "Replace CA certificate(s)", e);
		rt_err_free(e);
		return;
	}
	u->ca_note[0] = '\0';
	u->dirty |= D_CONTENTS;
	if (k == UI_CA_NONE)
		ui_set_status(u, R_NORMAL, "CA certificates: no Replace CA "
		    "certificate(s).");
	else
		ui_set_status(u, R_NORMAL, "CA certificates: the CM host's "
		    "written at Submit, %s.", k == UI_CA_REPLACE ? "replacing "
		    "the card's" : "keeping the card's and adding the missing");
}

/* The dropdown of the selected row. */
static void
action_menu(ui *u)
{
	const rt_contents *ct = contents(u);
	rt_update *up = rt_station_update(u->st);
	if (ct == NULL || up == NULL || ui_view_nrows(ct) == 0) {
		ui_set_status(u, R_BAD, "No card read: F5 reads it.");
		return;
	}
	if (u->row >= ct->nrows) {
		ca_menu(u);
		return;
	}
	ui_action_entry en[RT_ACT__COUNT];
	size_t cur = ui_view_actions(up, u->row, en);
	const char *items[RT_ACT__COUNT], *reasons[RT_ACT__COUNT];
	bool dis[RT_ACT__COUNT];
	for (int i = 0; i < RT_ACT__COUNT; i++) {
		items[i] = en[i].title;
		dis[i] = !en[i].enabled;
		reasons[i] = en[i].reason;
	}
	int y = u->L.y_rows + (int)(u->row - u->top) + 1;
	if (y + RT_ACT__COUNT + 2 > u->L.h - 2)
		y = u->L.y_rows + (int)(u->row - u->top) - RT_ACT__COUNT - 2;
	int k = dlg_list(u, NULL, items, NULL, dis, reasons, RT_ACT__COUNT, cur,
	    y, u->L.x_action - 14);
	if (k >= 0)
		set_action(u, (rt_action)k);
}

static void
proc_menu(ui *u)
{
	rt_update *up = rt_station_update(u->st);
	if (up == NULL) {
		ui_set_status(u, R_BAD, "No card read: F5 reads it.");
		return;
	}
	if (u->nprocs == 0) {
		ui_set_status(u, R_BAD, "No procedure of the configuration fits "
		    "this card%s.", rt_contents_has_tc(up->ct) ? " (it holds "
		    "transport certificates: only procedures with TC controls)"
		    : "");
		return;
	}
	const char *items[UI_MAX_PROCS], *desc[UI_MAX_PROCS];
	size_t cur = 0;
	for (size_t i = 0; i < u->nprocs; i++) {
		items[i] = u->procs[i]->name;
		desc[i] = u->procs[i]->description;
		if (u->procs[i] == up->proc)
			cur = i;
	}
	int k = dlg_list(u, "Procedure", items, desc, NULL, NULL, u->nprocs,
	    cur, -1, -1);
	if (k < 0 || u->procs[k] == up->proc)
		return;
	char reset[200];
	size_t nr = ui_view_proc_resets(up, u->procs[k], reset, sizeof(reset));
	rt_err *e = rt_update_set_procedure(up, u->procs[k]);
	if (e != NULL) {
		ui_status_err(u, "Procedure", e);
		rt_err_free(e);
		return;
	}
	clear_notes(u);
	u->dirty |= D_PROC | D_CONTENTS;
	if (up->ca_asked) {
		rt_update tmp = *up;
		e = rt_update_set_ca_certs(&tmp, up->ca_replace);
		if (e != NULL) {
			ui_status_err(u, "Replace CA certificate(s) reset", e);
			rt_err_free(e);
			rt_err_free(ui_ca_set(up, UI_CA_NONE));
			return;
		}
	}
	if (nr)
		ui_set_status(u, R_WARN, "Procedure %s: it does not allow %s; "
		    "reset to Blank.", u->procs[k]->name, reset);
	else
		ui_set_status(u, R_NORMAL, "Procedure %s.", u->procs[k]->name);
}

/* The QC statements the procedure lets the officer add, as a checklist
 * for the selected key (Enter adds or removes one, Esc closes); the
 * procedure's fixed statements are shown with it. */
static void
qc_menu(ui *u)
{
	static const struct {
		unsigned bit;
		const char *name, *title;
	} q[] = {
		{ RT_QCO_COMPLIANCE, "compliance", "QcCompliance" },
		{ RT_QCO_SSCD, "sscd", "QcSSCD" },
		{ RT_QCO_ESIGN, "esign", "QcType eSign" },
		{ RT_QCO_ESEAL, "eseal", "QcType eSeal" },
		{ RT_QCO_WEB, "web", "QcType web" },
	};
	rt_update *up = rt_station_update(u->st);
	const rt_contents *ct = contents(u);
	if (up == NULL || ct == NULL) {
		ui_set_status(u, R_BAD, "No card read: F5 reads it.");
		return;
	}
	if (u->row >= ct->nrows) {
		ui_set_status(u, R_BAD, "QC statements: choose a key's line.");
		return;
	}
	const rt_procedure *p = up->proc;
	char fixed[240] = "", s[4];
	piv_slot_name(ct->rows[u->row].slot, s, sizeof(s));
	if (p == NULL) {
		ui_set_status(u, R_BAD, "QC statements: choose a procedure first.");
		return;
	}
	if (p->has_qc_fixed)
		rt_qc_describe(&p->qc_fixed, fixed, sizeof(fixed));
	if (p->qc_optional == 0) {
		ui_set_status(u, R_NORMAL, "Procedure %s lets the officer add no "
		    "QC statements%s%s.", p->name, fixed[0] ? "; every "
		    "certificate gets " : "", fixed);
		return;
	}
	size_t sel = 0;
	for (;;) {
		char lines[5][64];
		const char *items[5];
		unsigned bits[5];
		size_t n = 0;
		for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
			if (!(p->qc_optional & q[i].bit))
				continue;
			snprintf(lines[n], sizeof(lines[n]), "[%c] %s",
			    up->req[u->row].qc_add & q[i].bit ? 'x' : ' ',
			    q[i].title);
			items[n] = lines[n];
			bits[n] = q[i].bit;
			n++;
		}
		char title[320];
		snprintf(title, sizeof(title), "QC statements of %s%s%s", s,
		    fixed[0] ? " (fixed: " : "", fixed[0] ? fixed : "");
		if (fixed[0])
			strncat(title, ")", sizeof(title) - strlen(title) - 1);
		int k = dlg_list(u, title, items, NULL, NULL, NULL, n, sel, -1,
		    -1);
		if (k < 0)
			break;
		sel = (size_t)k;
		if (up->req[u->row].qc_add & bits[k]) {
			up->req[u->row].qc_add &= ~bits[k];
			continue;
		}
		for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
			if (q[i].bit != bits[k])
				continue;
			rt_err *e = rt_update_add_qc(up, ct->rows[u->row].slot,
			    q[i].name);
			if (e != NULL) {
				ui_status_err(u, "QC statements", e);
				rt_err_free(e);
				return;
			}
		}
	}
	char added[120] = "";
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
		if (up->req[u->row].qc_add & q[i].bit) {
			size_t o = strlen(added);
			snprintf(added + o, sizeof(added) - o, "%s%s", o ? ", " :
			    "", q[i].title);
		}
	ui_set_status(u, R_NORMAL, "%s: QC statements added: %s%s%s.", s,
	    added[0] ? added : "none", fixed[0] ? "; fixed: " : "", fixed);
}

/* The status line of a line of the CA section. */
static void
show_ca_info(ui *u, const rt_contents *ct, const rt_update *up)
{
	size_t k = u->row - ct->nrows;
	if (k > 0) {
		const rt_ca_row *r = &ct->ca[k - 1];
		if (r->has_cert)
			ui_set_status(u, R_NORMAL, "CA certificate %s, issued by "
			    "%s, until %s", r->cert.subject, r->cert.issuer_cn[0] ?
			    r->cert.issuer_cn : r->cert.issuer, r->cert.not_after);
		else
			ui_set_status(u, R_BAD, "CA certificate %s: %s", r->label,
			    r->error[0] ? r->error : "no certificate");
		return;
	}
	ui_ca_entry en[UI_CA__COUNT];
	ui_ca_choice c = ui_view_ca_choices(up, en);
	if (!en[UI_CA_REPLACE].enabled)
		ui_set_status(u, R_NORMAL, "%zu CA certificate(s) on the card; %s",
		    ct->nca, en[UI_CA_REPLACE].reason);
	else
		ui_set_status(u, R_NORMAL, "%zu CA certificate(s) on the card; "
		    "Enter or C: Replace CA certificate(s) (now: %s).", ct->nca,
		    c == UI_CA_NONE ? "none" : en[c].title);
}

static void
show_row_info(ui *u)
{
	const rt_contents *ct = contents(u);
	rt_update *up = rt_station_update(u->st);
	if (ct == NULL || u->row >= ui_view_nrows(ct))
		return;
	if (u->row >= ct->nrows) {
		show_ca_info(u, ct, up);
		return;
	}
	const rt_key_row *r = &ct->rows[u->row];
	char s[8];
	ui_row_key(ct, u->row, s, sizeof(s));
	for (size_t k = 0; up != NULL && up->tc_ran && k < up->ntc; k++)
		if (up->tc[k].slot == r->slot && !up->tc[k].verified) {
			ui_set_status(u, R_BAD, "%s: TC control failed: %s", s,
			    up->tc[k].error);
			return;
		}
	if (r->has_cert)
		ui_set_status(u, R_NORMAL, "%s: %s, issued by %s, until %s", s,
		    r->cert.subject, r->cert.issuer_cn[0] ? r->cert.issuer_cn :
		    r->cert.issuer, r->cert.not_after);
	else if (r->error[0])
		ui_set_status(u, R_BAD, "%s: %s", s, r->error);
	else
		ui_set_status(u, R_NORMAL, "%s: a %s key without a certificate",
		    s, r->alg[0] ? r->alg : "");
}

static void
set_focus_quiet(ui *u, int f)
{
	u->focus = f;
	u->dirty |= D_CONTENTS | D_PROC | D_PIN | D_KEYS;
}

static void
do_submit(ui *u)
{
	rt_update *up = rt_station_update(u->st);
	if (up == NULL) {
		ui_set_status(u, R_BAD, "No card read: F5 reads the card first.");
		return;
	}
	if (u->card_gone) {
		ui_set_status(u, R_BAD, "The card was removed: put it back and "
		    "Reload (F5); nothing was sent.");
		return;
	}
	bool any = up->ca_asked;
	for (size_t i = 0; i < up->ct->nrows; i++)
		any = any || up->action[i] != RT_ACT_BLANK;
	if (!any) {
		ui_set_status(u, R_NORMAL, "Nothing to do: every key is Blank; "
		    "nothing was sent.");
		return;
	}
	if (u->pin.len == 0) {
		set_focus_quiet(u, F_PIN);
		ui_set_status(u, R_BAD, "Type the %s first (it is asked before "
		    "Submit), then F2.", u->have_officer && u->oinfo.software ?
		    "passphrase of the officer token" : "Signature PIN");
		return;
	}
	rt_update_dialogs d;
	ui_dialogs(u, &d);
	rt_plan plan;
	u->card_pin_kept = rt_update_tc_needed(up) ||
	    rt_station_card_pin_kept(u->st);
	clear_notes(u);
	ui_set_status(u, R_NORMAL, "Preparing the plan%s...",
	    u->card_pin_kept ? " (TC controls on the card)" : "");
	ui_draw(u);
	rt_err *e = rt_station_plan(u->st, &d, false, &plan);
	u->dirty |= D_CONTENTS | D_HEAD;
	if (e != NULL) {
		ui_status_err(u, "Submit", e);
		rt_err_free(e);
		rt_station_forget_secrets(u->st);
		return;
	}
	if (plan.nsteps == 0 && !plan.write_ca_certs) {
		ui_set_status(u, R_NORMAL, "Nothing to do: every key is Blank; "
		    "nothing was sent.");
		return;
	}
	rt_submit_result res;
	u->plan = &plan;
	e = rt_station_submit(u->st, &d, 0, &plan, &res);
	u->plan = NULL;
	ui_field_clear(&u->pin);	/* one submit, whatever the outcome */
	u->dirty |= D_PIN | D_CONTENTS;
	char ca_line[400];
	ui_view_result_ca(&plan, &res, ca_line, sizeof(ca_line));
	if (res.sent || plan.write_ca_certs) {
		char *text = NULL;
		size_t tl = 0;
		FILE *f = open_memstream(&text, &tl);
		size_t ndone = 0;
		if (f != NULL) {
			fprintf(f, "Result%s%s%s:\n", res.op_id[0] ?
			    " (journal " : "", res.op_id, res.op_id[0] ? ")" :
			    "");
			for (size_t i = 0; i < plan.nsteps; i++) {
				char line[700];
				rt_submit_result_line(&plan, &res, i, line,
				    sizeof(line));
				fprintf(f, "  %s\n", line);
				ndone += res.state[i] == RT_STEP_DONE;
			}
			if (ca_line[0])
				fprintf(f, "  %s\n", ca_line);
			if (plan.nsteps > 0)
				fprintf(f, "%s\n", ui_view_result_end(&res));
			if (!res.confirmed && (res.issued || res.unknown) &&
			    res.confirm_by > 0) {
				char when[32];
				rt_grace_fmt(res.confirm_by, when, sizeof(when));
				fprintf(f, "The CM host revokes what is not "
				    "confirmed at %s (its grace period): "
				    "recover before then.\n", when);
			}
			fclose(f);
		}
		for (size_t i = 0; i < plan.nsteps; i++) {
			int row = rt_update_row(up, plan.steps[i].slot);
			if (row < 0 || row >= RT_MAX_KEYS)
				continue;
			snprintf(u->note[row], sizeof(u->note[row]), "%s",
			    rt_step_state_name(res.state[i]));
			u->note_role[row] = res.state[i] == RT_STEP_DONE ?
			    R_GOOD : R_BAD;
		}
		if (plan.write_ca_certs) {
			snprintf(u->ca_note, sizeof(u->ca_note), "CA %s",
			    rt_step_state_name(res.ca_state));
			u->ca_note_role = res.ca_state == RT_STEP_DONE ? R_GOOD :
			    R_BAD;
		}
		u->dirty |= D_CONTENTS;
		if (e != NULL)
			ui_status_err(u, "Submit", e);
		else if (plan.nsteps == 0)
			ui_set_status(u, R_GOOD, "Update done: %s", ca_line);
		else
			ui_set_status(u, R_GOOD, "Update done: %zu of %zu key%s%s; "
			    "%s", ndone, plan.nsteps, plan.nsteps == 1 ? "" :
			    "s", plan.write_ca_certs ? (res.ca_state ==
			    RT_STEP_DONE ? ", CA certificates" :
			    ", CA certificates FAILED") : "",
			    ui_view_result_end(&res));
		rt_err_free(e);
		ui_draw(u);
		if (text != NULL)
			(void)dlg_text(u, "Result", text, false, NULL);
		free(text);
		char keep[UI_STATUS_MAX], keep_ca[sizeof(u->ca_note)];
		int keep_role = u->status_role, keep_ca_role = u->ca_note_role;
		snprintf(keep, sizeof(keep), "%s", u->status);
		snprintf(keep_ca, sizeof(keep_ca), "%s", u->ca_note);
		/* the card now holds what was written: read it again, the
		 * result stays on each row */
		reload(u, true);
		snprintf(u->ca_note, sizeof(u->ca_note), "%s", keep_ca);
		u->ca_note_role = keep_ca_role;
		const rt_contents *ct = contents(u);
		for (size_t i = 0; ct != NULL && i < plan.nsteps; i++) {
			int r = ui_view_result_row(ct, &plan.steps[i],
			    res.serial[i]);
			if (r < 0 || r >= RT_MAX_KEYS)
				continue;
			snprintf(u->note[r], sizeof(u->note[r]), "%s",
			    rt_step_state_name(res.state[i]));
			u->note_role[r] = res.state[i] == RT_STEP_DONE ?
			    R_GOOD : R_BAD;
		}
		count_open_ops(u);
		refresh_officer(u);
		set_focus_quiet(u, F_CONTENTS);
		snprintf(u->status, sizeof(u->status), "%s", keep);
		u->status_role = keep_role;
		u->dirty |= D_STATUS;
		/* the printer ejects the card it encoded (when configured) */
		if (u->st != NULL && rt_station_config(u->st)->printer_eject[0])
			(void)printer(u, RT_PRINTER_EJECT);
		return;
	}
	refresh_officer(u);
	if (e != NULL) {
		/* the header's tries left: refresh_officer read them again */
		ui_status_err(u, "Submit", e);
		rt_err_free(e);
	} else
		ui_set_status(u, R_NORMAL, "Nothing was sent.");
	/* the Signature PIN field is empty again: type it there */
	set_focus_quiet(u, F_PIN);
}

/* The journal's incomplete operations: recover now or later. */
static void
do_recover(ui *u, bool at_start)
{
	rt_jop *ops = NULL;
	size_t n = 0;
	rt_err *e = rt_station_open_ops(u->st, &ops, &n);
	if (e != NULL) {
		ui_status_err(u, "Journal", e);
		rt_err_free(e);
		return;
	}
	u->open_ops = n;
	u->dirty |= D_WARN;
	if (n == 0) {
		if (!at_start)
			ui_set_status(u, R_NORMAL, "No incomplete update in the "
			    "journal.");
		return;
	}
	char *text = NULL;
	size_t tl = 0;
	FILE *f = open_memstream(&text, &tl);
	if (f == NULL) {
		rt_jops_free(ops, n);
		return;
	}
	fprintf(f, "The journal holds %zu incomplete update%s (certificates "
	    "the CM host may have issued are not confirmed yet):\n", n,
	    n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		char when[32];
		time_t cb = rt_jop_confirm_by(&ops[i]);
		fprintf(f, "  %s  card %s, reader \"%s\", procedure %s, last "
		    "step %s\n", ops[i].id, ops[i].info.card, ops[i].info.reader,
		    ops[i].info.procedure, rt_jstep_name(ops[i].last));
		rt_grace_fmt(cb, when, sizeof(when));
		if (when[0] != '\0')
			fprintf(f, "    the CM host revokes what is not confirmed "
			    "%s %s\n", cb > time(NULL) ? "at" : "since", when);
	}
	fprintf(f, "Recovering confirms what is on the card (or saved) to "
	    "the CM host and rejects the rest; it needs the Signature PIN "
	    "and, for a written certificate, that card in the target "
	    "reader.\n");
	fclose(f);
	bool yes = dlg_text(u, "Incomplete updates", text, true,
	    "Recover now? y = now, n = later (the mark stays)");
	free(text);
	if (!yes) {
		rt_jops_free(ops, n);
		ui_set_status(u, R_WARN, "%zu incomplete update%s left in the "
		    "journal: R recovers.", n, n == 1 ? "" : "s");
		return;
	}
	rt_update_dialogs d;
	ui_dialogs(u, &d);
	text = NULL;
	f = open_memstream(&text, &tl);
	for (size_t i = 0; i < n && f != NULL; i++) {
		rt_recover_result res;
		ui_set_status(u, R_NORMAL, "Recovering %s...", ops[i].id);
		ui_draw(u);
		e = rt_station_recover(u->st, &ops[i], &d, &res);
		if (e != NULL) {
			char m[600];
			ui_view_error("", e, m, sizeof(m));
			fprintf(f, "%s: %s\n", ops[i].id, m);
			bool stop = rt_err_has(e, RT_E_PIN_WRONG) ||
			    rt_err_has(e, RT_E_CANCELLED);
			rt_err_free(e);
			if (stop)
				break;
			continue;
		}
		fprintf(f, "%s: %s\n", ops[i].id, res.summary);
		for (size_t k = 0; k < res.nlines; k++)
			fprintf(f, "  %s\n", res.line[k]);
	}
	rt_station_recover_done(u->st);
	rt_jops_free(ops, n);
	ui_field_clear(&u->pin);
	u->dirty |= D_PIN;
	if (f != NULL) {
		fclose(f);
		(void)dlg_text(u, "Recovery", text, false, NULL);
	}
	free(text);
	count_open_ops(u);
	ui_set_status(u, u->open_ops ? R_WARN : R_GOOD, "%zu incomplete "
	    "update%s left in the journal.", u->open_ops, u->open_ops == 1 ?
	    "" : "s");
}

/* The reader picker: which reader holds the target card. */
static void
pick_target(ui *u)
{
	rt_reader_cand c[16];
	size_t n = 0;
	rt_err *e = rt_station_list_readers(u->st, c, 16, &n);
	if (e != NULL) {
		ui_status_err(u, "Readers", e);
		rt_err_free(e);
		return;
	}
	if (n == 0) {
		ui_set_status(u, R_BAD, "No reader found.");
		return;
	}
	const char *items[16], *desc[16];
	char d[16][80];
	size_t cur = 0;
	for (size_t i = 0; i < n; i++) {
		items[i] = c[i].name;
		snprintf(d[i], sizeof(d[i]), "%s%s", c[i].card_present ?
		    "a card" : "no card", c[i].officer_card ?
		    " (the officer's card)" : strcmp(c[i].name,
		    u->rinfo.officer) == 0 ? " (the officer's reader)" : "");
		desc[i] = d[i];
		if (strcmp(c[i].name, u->rinfo.target) == 0)
			cur = i;
	}
	int k = dlg_list(u, "Target reader", items, desc, NULL, NULL, n, cur,
	    -1, -1);
	if (k < 0)
		return;
	if ((e = rt_station_set_target(u->st, c[k].name)) != NULL) {
		ui_status_err(u, "Target reader", e);
		rt_err_free(e);
		return;
	}
	snprintf(u->rinfo.target, sizeof(u->rinfo.target), "%s", c[k].name);
	reload(u, false);
}

/* Auto-selection found no single target: offer the picker when several
 * readers hold a card that is not the officer's. */
static void
maybe_pick_target(ui *u)
{
	if (u->rinfo.target[0] != '\0')
		return;
	rt_reader_cand c[16];
	size_t n = 0, cards = 0;
	rt_err *e = rt_station_list_readers(u->st, c, 16, &n);
	if (e != NULL) {
		rt_err_free(e);
		return;
	}
	for (size_t i = 0; i < n; i++)
		cards += c[i].card_present && !c[i].officer_card &&
		    strcmp(c[i].name, u->rinfo.officer) != 0;
	if (cards > 1)
		pick_target(u);
}

/* One reader event from the station. */
static void
on_event(ui *u, const rt_station_event *ev)
{
	switch (ev->kind) {
	case RT_EV_CARD_REMOVED:
		if (ev->is_target) {
			rt_station_forget_secrets(u->st);
			if (contents(u) != NULL)
				u->card_gone = true;
			u->dirty |= D_HEAD | D_CONTENTS;
			ui_set_status(u, R_WARN, "The card was removed from "
			    "\"%s\": put it back (or another card) to read it "
			    "again.", ev->reader);
		} else if (ev->is_officer) {
			u->dirty |= D_HEAD;
			ui_set_status(u, R_WARN, "The officer's card was removed "
			    "from \"%s\".", ev->reader);
		}
		break;
	case RT_EV_CARD_INSERTED:
		if (ev->is_target || u->rinfo.target[0] == '\0') {
			if (!ev->is_target) {
				rt_err *e = rt_station_find_readers(u->st,
				    &u->rinfo);
				rt_err_free(e);
				if (u->rinfo.target[0] == '\0')
					break;
			}
			reload(u, true);
			if (contents(u) != NULL)
				ui_set_status(u, R_NORMAL, "A card was put into "
				    "\"%s\": read it (%s); every action is Blank "
				    "again.", ev->reader,
				    rt_station_card_id(u->st));
		} else if (ev->is_officer) {
			refresh_officer(u);
			ui_set_status(u, R_NORMAL, "The officer's card is back in "
			    "\"%s\".", ev->reader);
		}
		break;
	case RT_EV_READER_ADDED:
	case RT_EV_READER_REMOVED:
		ui_set_status(u, R_NORMAL, "Reader \"%s\" %s.", ev->reader,
		    ev->kind == RT_EV_READER_ADDED ? "added" : "removed");
		if (ev->is_target && ev->kind == RT_EV_READER_REMOVED) {
			u->card_gone = contents(u) != NULL;
			u->dirty |= D_HEAD | D_CONTENTS;
		}
		break;
	default:
		break;
	}
}

static long
now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void
poll_events(ui *u)
{
	if (u->events_broken && now_ms() < u->events_retry_ms)
		return;
	for (int k = 0; k < 8; k++) {
		rt_station_event ev;
		rt_err *e = rt_station_wait_event(u->st, 0, &ev);
		if (e != NULL) {
			if (!u->events_broken)
				ui_status_err(u, "Reader events", e);
			rt_err_free(e);
			u->events_broken = true;
			u->events_retry_ms = now_ms() + 5000;
			return;
		}
		u->events_broken = false;
		if (ev.kind == RT_EV_NONE)
			return;
		on_event(u, &ev);
	}
}

static void
set_focus(ui *u, int f)
{
	if (f == u->focus)
		return;
	u->focus = f;
	u->dirty |= D_CONTENTS | D_PROC | D_PIN | D_KEYS;
	if (f == F_PIN)
		ui_set_status(u, R_NORMAL, "Type the %s (it is not shown); "
		    "Enter or Tab when done.", u->have_officer &&
		    u->oinfo.software ? "passphrase of the officer token" :
		    "Signature PIN of the officer's card");
	else if (f == F_CONTENTS)
		show_row_info(u);
}

static void
press(ui *u, int what)
{
	switch (what) {
	case F_RELOAD: feed_and_reload(u); break;
	case F_SUBMIT: do_submit(u); break;
	case F_QUIT: u->quit = true; break;
	default: break;
	}
}

static void
on_mouse(ui *u)
{
	MEVENT me;
	if (getmouse(&me) != OK)
		return;
	if (!(me.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED |
	    BUTTON1_RELEASED)))
		return;
	if (me.bstate & BUTTON1_RELEASED && !(me.bstate & BUTTON1_CLICKED))
		return;
	const ui_layout *L = &u->L;
	const rt_contents *ct = contents(u);
	if (me.y >= L->y_rows && me.y < L->y_rows + L->nrows_vis && ct) {
		size_t i = u->top + (size_t)(me.y - L->y_rows);
		if (i < ui_view_nrows(ct)) {
			u->row = i;
			set_focus(u, F_CONTENTS);
			u->dirty |= D_CONTENTS | D_KEYS;
			show_row_info(u);
			if (me.x >= L->x_action - 1) {
				ui_draw(u);
				action_menu(u);
			}
		}
	} else if (me.y == L->y_proc && me.x >= L->x_proc &&
	    me.x < L->x_proc + L->w_proc) {
		set_focus(u, F_PROC);
		ui_draw(u);
		proc_menu(u);
	} else if (me.y == L->y_pin) {
		if (me.x >= L->x_pin && me.x < L->x_pin + L->w_pin)
			set_focus(u, F_PIN);
		else if (me.x >= L->x_reload && me.x < L->x_reload + 10)
			press(u, F_RELOAD);
		else if (me.x >= L->x_submit && me.x < L->x_submit + 10)
			press(u, F_SUBMIT);
		else if (me.x >= L->x_quit && me.x < L->x_quit + 8)
			press(u, F_QUIT);
		else if (me.x >= L->x_help && me.x < L->x_help + 8)
			dlg_help(u);
	}
}

static void
on_key(ui *u, int ch)
{
	if (ch == KEY_RESIZE) {
		ui_relayout(u);
		return;
	}
	if (u->L.too_small) {
		if (ch == 'q' || ch == KEY_F(10))
			u->quit = true;
		return;
	}
	if (ch == KEY_MOUSE) {
		on_mouse(u);
		return;
	}
	rt_action act = RT_ACT_BLANK;
	ui_cmd c = ui_cmd_of(ch, u->focus == F_PIN, u->focus == F_CONTENTS,
	    &act);
	const rt_contents *ct = contents(u);
	size_t n = ui_view_nrows(ct);
	switch (c) {
	case UI_CMD_CHAR:
		if (ui_field_put(&u->pin, ch))
			u->dirty |= D_PIN;
		break;
	case UI_CMD_BACKSPACE:
		ui_field_back(&u->pin);
		u->dirty |= D_PIN;
		break;
	case UI_CMD_HELP: dlg_help(u); break;
	case UI_CMD_SUBMIT: do_submit(u); break;
	case UI_CMD_RELOAD: feed_and_reload(u); break;
	case UI_CMD_QUIT: u->quit = true; break;
	case UI_CMD_NEXT: set_focus(u, (u->focus + 1) % F__COUNT); break;
	case UI_CMD_PREV:
		set_focus(u, (u->focus + F__COUNT - 1) % F__COUNT);
		break;
	case UI_CMD_UP:
	case UI_CMD_DOWN:
	case UI_CMD_PGUP:
	case UI_CMD_PGDN:
		if (u->focus == F_CONTENTS && n > 0) {
			size_t page = u->L.nrows_vis > 1 ? (size_t)u->L.nrows_vis -
			    1 : 1;
			if (c == UI_CMD_UP && u->row > 0)
				u->row--;
			else if (c == UI_CMD_DOWN && u->row + 1 < n)
				u->row++;
			else if (c == UI_CMD_PGUP)
				u->row = u->row > page ? u->row - page : 0;
			else if (c == UI_CMD_PGDN)
				u->row = u->row + page < n ? u->row + page : n - 1;
			u->dirty |= D_CONTENTS | D_KEYS;
			show_row_info(u);
		} else if (u->focus == F_PROC)
			proc_menu(u);
		break;
	case UI_CMD_ENTER:
		if (u->focus == F_CONTENTS)
			action_menu(u);
		else if (u->focus == F_PROC)
			proc_menu(u);
		else if (u->focus == F_PIN)
			set_focus(u, F_SUBMIT);
		else
			press(u, u->focus);
		break;
	case UI_CMD_ESC:
		if (u->focus == F_PIN)
			set_focus(u, F_CONTENTS);
		break;
	case UI_CMD_SET_ACTION: set_action(u, act); break;
	case UI_CMD_TARGET: pick_target(u); break;
	case UI_CMD_RECOVER: do_recover(u, false); break;
	case UI_CMD_QC: qc_menu(u); break;
	case UI_CMD_CA: ca_menu(u); break;
	case UI_CMD_REDRAW:
		clearok(curscr, TRUE);
		u->dirty = D_ALL;
		break;
	default:
		break;
	}
}

/* Sequences that terminfo entries often lack (vt100 has no Shift-Tab,
 * the linux console has its own F-keys, xterm's VT220-style F1-F4). */
static void
define_keys(void)
{
	static const struct { const char *seq; int key; } map[] = {
		{ "\033[Z", KEY_BTAB },
		{ "\033OP", KEY_F(1) }, { "\033OQ", KEY_F(2) },
		{ "\033OR", KEY_F(3) }, { "\033OS", KEY_F(4) },
		{ "\033[11~", KEY_F(1) }, { "\033[12~", KEY_F(2) },
		{ "\033[13~", KEY_F(3) }, { "\033[14~", KEY_F(4) },
		{ "\033[15~", KEY_F(5) }, { "\033[17~", KEY_F(6) },
		{ "\033[18~", KEY_F(7) }, { "\033[19~", KEY_F(8) },
		{ "\033[20~", KEY_F(9) }, { "\033[21~", KEY_F(10) },
		{ "\033[[A", KEY_F(1) }, { "\033[[B", KEY_F(2) },
		{ "\033[[C", KEY_F(3) }, { "\033[[D", KEY_F(4) },
		{ "\033[[E", KEY_F(5) },
		{ "\033[1P", KEY_F(1) }, { "\033[1Q", KEY_F(2) },
		{ "\033[1S", KEY_F(4) },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (key_defined(map[i].seq) == 0)
			define_key(map[i].seq, map[i].key);
}

static bool
locale_utf8(void)
{
	const char *cs = nl_langinfo(CODESET);
	return cs != NULL && (strcmp(cs, "UTF-8") == 0 ||
	    strcmp(cs, "utf8") == 0);
}

int
rt_ui_run(const rt_config *cfg, const rt_station_opts *so,
    const rt_ui_opts *uo)
{
	ui *u = calloc(1, sizeof(*u));
	if (u == NULL)
		return 1;
	u->cfg = cfg;
	if (uo != NULL)
		u->o = *uo;
	rt_err *e = ui_field_init(&u->pin, 64, true);
	if (e == NULL)
		e = rt_station_open(cfg, so, &u->st);
	if (e != NULL) {
		char m[800];
		rt_err_format(e, m, sizeof(m));
		fprintf(stderr, "raterm: %s\n", m);
		int rc = rt_err_exit_code(e);
		rt_err_free(e);
		ui_field_free(&u->pin);
		free(u);
		return rc ? rc : 1;
	}
	if (gethostname(u->host, sizeof(u->host)) != 0)
		snprintf(u->host, sizeof(u->host), "station");
	u->host[sizeof(u->host) - 1] = '\0';

	setlocale(LC_ALL, "");
	u->utf8 = locale_utf8();
	if (getenv("ESCDELAY") == NULL)
		set_escdelay(100);
	if (initscr() == NULL) {
		rt_station_close(u->st);
		ui_field_free(&u->pin);
		free(u);
		fprintf(stderr, "raterm: the screen cannot start on this "
		    "terminal (TERM=%s)\n", getenv("TERM") ? getenv("TERM") :
		    "");
		return 2;
	}
	raw();			/* ^C, ^Z are keys here: no signal mid-update */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	define_keys();
	init_attrs(u);
	if (!u->o.no_mouse) {
		mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON1_RELEASED,
		    NULL);
		mouseinterval(0);
	}
	ui_relayout(u);
	u->focus = F_CONTENTS;
	ui_set_status(u, R_NORMAL, "Reading the readers and the card...");
	ui_draw(u);

	/* first: the readers, the officer, the card */
	e = rt_station_find_readers(u->st, &u->rinfo);
	if (e != NULL) {
		ui_status_err(u, "Readers", e);
		snprintf(u->target_err, sizeof(u->target_err), "No reader: %.380s",
		    u->status);
		rt_err_free(e);
	}
	refresh_officer(u);
	if (e == NULL) {
		maybe_pick_target(u);
		reload(u, false);
	}
	count_open_ops(u);
	u->dirty = D_ALL;
	ui_draw(u);
	if (u->open_ops > 0) {
		do_recover(u, true);
		ui_draw(u);
	}
	/* prime the event state: changes from now on are reported */
	{
		rt_station_event ev;
		rt_err *pe = rt_station_wait_event(u->st, 0, &ev);
		rt_err_free(pe);
	}

	while (!u->quit) {
		ui_draw(u);
		if (u->rev_pending) {
			check_revocation(u);
			continue;
		}
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int r = poll(&pfd, 1, POLL_MS);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && pfd.revents & (POLLHUP | POLLERR) &&
		    !(pfd.revents & POLLIN))
			break;	/* the terminal went away */
		/* keys, and a resize curses noticed (SIGWINCH may come
		 * just before poll and not interrupt it) */
		timeout(0);
		int ch;
		while (!u->quit && (ch = getch()) != ERR) {
			timeout(-1);
			on_key(u, ch);
			ui_draw(u);
			timeout(0);
		}
		timeout(-1);
		if (r == 0)
			poll_events(u);
	}
	curs_set(1);
	endwin();
	rt_station_close(u->st);
	ui_field_free(&u->pin);
	rt_wipe(u, sizeof(*u));
	free(u);
	return 0;
}
