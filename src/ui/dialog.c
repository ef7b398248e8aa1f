/*
 * dialog.c - the screen's modal dialogs (a text to read or confirm, a
 * value or a PIN to type, a list to choose from, the help) and the dialog
 * table the station calls during plan and submit (rt_update_dialogs).
 *
 * A dialog is a window over stdscr; when it closes stdscr is shown again
 * (touchwin: curses sends only what differs). A resize while a dialog is
 * open lays the screen out again and draws the dialog anew.
 */
#include "ui_int.h"

#include "raterm/piv.h"
#include "raterm/transport.h"
#include "raterm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
drop_win(WINDOW **w)
{
	if (*w != NULL) {
		delwin(*w);
		*w = NULL;
	}
}

static void
restore(ui *u, WINDOW **w)
{
	drop_win(w);
	touchwin(stdscr);
	wnoutrefresh(stdscr);
	u->dirty |= D_STATUS;
	ui_draw(u);
	doupdate();
}

static void
on_resize(ui *u, WINDOW **w)
{
	drop_win(w);
	ui_relayout(u);
	ui_draw(u);
}

static int
clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* ---- a text to read / a yes-no question ---------------------------------------- */

typedef struct {
	char **lines;
	size_t n, cap;
} linebuf;

static void
lb_add(void *ctx, const char *line)
{
	linebuf *lb = ctx;
	if (lb->n == lb->cap) {
		size_t nc = lb->cap ? lb->cap * 2 : 32;
		char **nl = realloc(lb->lines, nc * sizeof(*nl));
		if (nl == NULL)
			return;
		lb->lines = nl;
		lb->cap = nc;
	}
	lb->lines[lb->n] = strdup(line);
	if (lb->lines[lb->n] != NULL)
		lb->n++;
}

static void
lb_free(linebuf *lb)
{
	for (size_t i = 0; i < lb->n; i++)
		free(lb->lines[i]);
	free(lb->lines);
	memset(lb, 0, sizeof(*lb));
}

/* The width of dlg_text's window at the terminal's width now. */
static int
text_dialog_width(const ui *u)
{
	return clampi(u->L.w - 4, 40, 96);
}

bool
dlg_text(ui *u, const char *title, const char *text, bool yesno,
    const char *question)
{
	WINDOW *w = NULL;
	linebuf lb = { 0 };
	size_t top = 0;
	int wrapped_at = -1;
	bool answer = !yesno;
	for (;;) {
		if (u->L.too_small) {
			int ch = getch();
			if (ch == KEY_RESIZE)
				on_resize(u, &w);
			else if (ch == 27 || ch == 'n' || ch == 'q') {
				answer = false;
				break;
			}
			continue;
		}
		int ww = text_dialog_width(u);
		if (wrapped_at != ww) {
			lb_free(&lb);
			ui_wrap(text, ww - 4, u->utf8, lb_add, &lb);
			wrapped_at = ww;
		}
		int foot = 2;
		int hh = clampi((int)lb.n + 2 + foot, 6, u->L.h - 2);
		int body = hh - 2 - foot;
		if (w == NULL) {
			w = newwin(hh, ww, (u->L.h - hh) / 2, (u->L.w - ww) / 2);
			if (w == NULL)
				break;
			keypad(w, TRUE);
		}
		if (lb.n > (size_t)body && top > lb.n - (size_t)body)
			top = lb.n - (size_t)body;
		werase(w);
		ui_frame(u, w, 0, 0, hh, ww, title);
		for (int k = 0; k < body && top + (size_t)k < lb.n; k++)
			ui_put(u, w, 1 + k, 2, ww - 4, R_NORMAL,
			    lb.lines[top + (size_t)k]);
		char foot1[300];
		if (lb.n > (size_t)body)
			snprintf(foot1, sizeof(foot1), "(lines %zu-%zu of %zu: "
			    "Up/Down, PgUp/PgDn)", top + 1, top + (size_t)body,
			    lb.n);
		else
			foot1[0] = '\0';
		ui_put(u, w, hh - 3, 2, ww - 4, R_DIM, foot1);
		ui_put(u, w, hh - 2, 2, ww - 4, R_TITLE, yesno ? question :
		    "Enter or Esc closes");
		wnoutrefresh(w);
		doupdate();
		int ch = wgetch(w);
		if (ch == KEY_RESIZE) {
			on_resize(u, &w);
			wrapped_at = -1;
			continue;
		}
		if (ch == KEY_UP && top > 0)
			top--;
		else if (ch == KEY_DOWN && top + (size_t)body < lb.n)
			top++;
		else if (ch == KEY_PPAGE)
			top = top > (size_t)body ? top - (size_t)body : 0;
		else if (ch == KEY_NPAGE && top + (size_t)body < lb.n)
			top += (size_t)body;
		else if (yesno && (ch == 'y' || ch == 'Y')) {
			answer = true;
			break;
		} else if (yesno && (ch == 'n' || ch == 'N' || ch == 27)) {
			answer = false;
			break;
		} else if (!yesno && (ch == '\n' || ch == '\r' || ch == 27 ||
		    ch == KEY_ENTER || ch == 'q' || ch == ' '))
			break;
	}
	lb_free(&lb);
	restore(u, &w);
	return answer;
}

/* ---- one line typed -------------------------------------------------------------- */

bool
dlg_input(ui *u, const char *title, const char *prompt, ui_field *f)
{
	WINDOW *w = NULL;
	linebuf lb = { 0 };
	int wrapped_at = -1;
	bool ok = false;
	for (;;) {
		if (u->L.too_small) {
			int ch = getch();
			if (ch == KEY_RESIZE)
				on_resize(u, &w);
			else if (ch == 27)
				break;
			continue;
		}
		int ww = clampi(u->L.w - 4, 40, 76);
		if (wrapped_at != ww) {
			lb_free(&lb);
			ui_wrap(prompt, ww - 4, u->utf8, lb_add, &lb);
			wrapped_at = ww;
		}
		int np = (int)lb.n > 4 ? 4 : (int)lb.n;
		int hh = np + 6;
		if (w == NULL) {
			w = newwin(hh, ww, (u->L.h - hh) / 2, (u->L.w - ww) / 2);
			if (w == NULL)
				break;
			keypad(w, TRUE);
		}
		werase(w);
		ui_frame(u, w, 0, 0, hh, ww, title);
		for (int k = 0; k < np; k++)
			ui_put(u, w, 1 + k, 2, ww - 4, R_NORMAL, lb.lines[k]);
		char shown[300], box[320];
		ui_field_show(f, u->o.pin_stars, shown, sizeof(shown), ww - 6);
		snprintf(box, sizeof(box), "[%s]", shown);
		ui_put(u, w, np + 2, 2, ww - 4, R_SEL, box);
		if (f->secret && !u->o.pin_stars && f->len > 0)
			ui_put(u, w, np + 2, 3, 9, R_SEL, "(entered)");
		ui_put(u, w, hh - 2, 2, ww - 4, R_DIM, f->secret ?
		    "Enter accepts, Esc cancels (the PIN is not shown)" :
		    "Enter accepts, Esc cancels");
		size_t cx = f->secret ? (u->o.pin_stars ? f->len : 0) :
		    (size_t)ui_text_width(shown, u->utf8);
		if (!f->secret) {
			/* the cursor after the text */
			const char *s = f->buf ? f->buf : "";
			int tw = ui_text_width(s, u->utf8);
			cx = (size_t)(tw < ww - 7 ? tw : ww - 7);
		}
		if (cx > (size_t)ww - 7)
			cx = (size_t)ww - 7;
		wmove(w, np + 2, 3 + (int)cx);
		curs_set(1);
		wnoutrefresh(w);
		doupdate();
		int ch = wgetch(w);
		if (ch == KEY_RESIZE) {
			on_resize(u, &w);
			wrapped_at = -1;
			continue;
		}
		if (ch == 27)
			break;
		if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
			ok = true;
			break;
		}
		if (ch == KEY_BACKSPACE || ch == 127 || ch == 8)
			ui_field_back(f);
		else if (ch == 21)	/* ^U */
			ui_field_clear(f);
		else if (ch >= 0x20 && ch <= 0xff)
			(void)ui_field_put(f, ch);
	}
	lb_free(&lb);
	curs_set(0);
	restore(u, &w);
	return ok;
}

/* ---- a list ------------------------------------------------------------------------ */

int
dlg_list(ui *u, const char *title, const char *const *items,
    const char *const *desc, const bool *disabled, const char *const *reason,
    size_t n, size_t sel, int y, int x)
{
	WINDOW *w = NULL;
	int result = -1;
	size_t top = 0;
	if (n == 0)
		return -1;
	if (sel >= n)
		sel = 0;
	for (;;) {
		if (u->L.too_small) {
			int ch = getch();
			if (ch == KEY_RESIZE)
				on_resize(u, &w);
			else if (ch == 27)
				break;
			continue;
		}
		int iw = 0, dw = 0;
		for (size_t i = 0; i < n; i++) {
			int a = ui_text_width(items[i], u->utf8) +
			    (disabled && disabled[i] ? 15 : 0);
			iw = a > iw ? a : iw;
			if (desc && desc[i]) {
				int b = ui_text_width(desc[i], u->utf8);
				dw = b > dw ? b : dw;
			}
		}
		int ww = clampi(iw + (dw ? dw + 3 : 0) + 4, 20, u->L.w - 2);
		int hh = clampi((int)n + 2, 3, u->L.h - 4);
		int body = hh - 2;
		int wy = y, wx = x;
		if (wy < 0 || wx < 0) {
			wy = (u->L.h - hh) / 2;
			wx = (u->L.w - ww) / 2;
		}
		wy = clampi(wy, 0, u->L.h - hh);
		wx = clampi(wx, 0, u->L.w - ww);
		if (w == NULL) {
			w = newwin(hh, ww, wy, wx);
			if (w == NULL)
				break;
			keypad(w, TRUE);
		}
		if (sel < top)
			top = sel;
		if (sel >= top + (size_t)body)
			top = sel - (size_t)body + 1;
		werase(w);
		ui_frame(u, w, 0, 0, hh, ww, title);
		for (int k = 0; k < body && top + (size_t)k < n; k++) {
			size_t i = top + (size_t)k;
			bool dis = disabled && disabled[i];
			char line[600];
			snprintf(line, sizeof(line), " %-*s%s%s", iw -
			    (dis ? 15 : 0), items[i], dis ? " (not allowed)" :
			    "", "");
			int role = i == sel ? R_SEL : dis ? R_DIM : R_NORMAL;
			ui_put(u, w, 1 + k, 1, iw + 2, role, line);
			if (dw)
				ui_put(u, w, 1 + k, iw + 3, ww - iw - 4,
				    i == sel ? R_SEL : R_DIM, desc[i] ? desc[i] :
				    "");
		}
		if (disabled && disabled[sel] && reason && reason[sel])
			ui_set_status(u, R_BAD, "%s", reason[sel]);
		else if (desc && desc[sel])
			ui_set_status(u, R_NORMAL, "%s: %s", items[sel], desc[sel]);
		else
			ui_set_status(u, R_NORMAL, "Up/Down, Enter chooses, Esc "
			    "closes.");
		ui_draw(u);
		touchwin(w);
		wnoutrefresh(w);
		doupdate();
		int ch = wgetch(w);
		if (ch == KEY_RESIZE) {
			on_resize(u, &w);
			continue;
		}
		if (ch == KEY_UP || ch == 'k')
			sel = sel > 0 ? sel - 1 : n - 1;
		else if (ch == KEY_DOWN || ch == 'j' || ch == '\t')
			sel = sel + 1 < n ? sel + 1 : 0;
		else if (ch == 27 || ch == 'q')
			break;
		else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER ||
		    ch == ' ') {
			if (disabled && disabled[sel])
				continue;	/* the reason is on the status line */
			result = (int)sel;
			break;
		} else if (ch == KEY_MOUSE) {
			MEVENT me;
			if (getmouse(&me) != OK)
				continue;
			int ry = me.y - wy - 1;
			if (me.x < wx || me.x >= wx + ww || ry < 0 || ry >= body ||
			    top + (size_t)ry >= n) {
				if (!(me.bstate & BUTTON1_RELEASED))
					break;	/* a click outside closes */
				continue;
			}
			sel = top + (size_t)ry;
			if (!(me.bstate & (BUTTON1_CLICKED | BUTTON1_RELEASED)))
				continue;
			if (disabled && disabled[sel])
				continue;
			result = (int)sel;
			break;
		}
	}
	if (result < 0 || !(disabled && disabled[result]))
		ui_set_status(u, R_NORMAL, "%s", "");
	restore(u, &w);
	return result;
}

/* ---- help ---------------------------------------------------------------------------- */

static const char help_text[] =
"The screen of raterm: the Contents of the card in the target reader, an "
"action per key, the procedure, the Signature PIN, Submit.\n"
"\n"
"Keys\n"
"  Tab / Shift-Tab  move between Contents, Procedure, Signature PIN and "
"the buttons\n"
"  Up / Down        choose the row (Contents)\n"
"  Enter, Space     open the row's Action dropdown (Up/Down, Enter "
"chooses, Esc closes); open the procedure list; press a button\n"
"  b i r a          set Blank / Issue / Redo / Add on the row\n"
"  c                the QC statements the procedure lets the officer add "
"to the row's certificate (a checklist: Enter adds or removes)\n"
"  C                Replace CA certificate(s): replace the card's CA "
"certificates, keep them and add the missing, or none (also Enter on the "
"CA certificates' lines)\n"
"  F2 or s          Submit: the plan, then what the card needs\n"
"  F5 or l          Reload: read the card again\n"
"  F10 or q         Quit\n"
"  F1 or ?          this help\n"
"  t                choose the target reader\n"
"  R                recover incomplete updates of the journal\n"
"  ^L               draw the screen again\n"
"The letters work where no text field has the focus; in the Signature "
"PIN field every key is part of the PIN (F-keys and Tab still work).\n"
"\n"
"Actions\n"
"  Blank  nothing\n"
"  Issue  a secondary certificate for the key, not stored on the card "
"(kept by the CM host and saved on the station)\n"
"  Redo   the current certificate (typically the transport certificate, "
"TC) replaced by a newly issued one for the same key\n"
"  Add    another certificate for the same key, stored besides; refused "
"on a key with a TC and where the card holds one certificate per key "
"(PIV)\n"
"On a PKCS#15 card a key's further certificates are lines of their own "
"(02.1); an action set there is on that certificate (Redo replaces "
"exactly it), one certificate of a key at a time.\n"
"Entries the rules refuse are shown \"(not allowed)\"; the status line "
"says why.\n"
"\n"
"Submit\n"
"Type the Signature PIN first (masked; it is used for one submit and "
"wiped), then F2. On a card with TCs the card's PIN is asked first: the "
"TC controls run and each row shows its result. Then the plan: y "
"submits, n or Esc sends nothing. Then what the card needs (a second "
"PIN, the operator credential: PIV's management key or PKCS#15's SO "
"PIN), the progress per row, and the result per row. A wrong PIN shows the tries left; nothing is retried.\n"
"\n"
"Esc cancels any dialog; during an update Esc asks to cancel between "
"steps (never in the middle of a card write).";

void
dlg_help(ui *u)
{
	(void)dlg_text(u, "Help", help_text, false, NULL);
}

/* ---- the dialog table of the station ------------------------------------------------ */

static rt_err *
cancelled(const char *what)
{
	return rt_err_new(RT_E_CANCELLED, NULL, "%s: cancelled by the officer",
	    what);
}

/* A secret typed into a locked field, copied to buf, the field wiped. */
static rt_err *
ask_secret(ui *u, const char *title, const char *prompt, char *buf,
    size_t cap, size_t *len)
{
	ui_field f;
	rt_err *e = ui_field_init(&f, 128, true);
	if (e != NULL)
		return e;
	bool ok = dlg_input(u, title, prompt, &f);
	if (ok && !ui_field_copy(&f, buf, cap, len))
		e = rt_err_new(RT_E_ARG, NULL, "%s: too long", title);
	else if (!ok)
		e = cancelled(title);
	ui_field_free(&f);
	return e;
}

static rt_err *
d_typed(void *ctx, uint8_t slot, const char *field, const char *prompt,
    char *buf, size_t cap, size_t *len)
{
	ui *u = ctx;
	char s[4], title[64], p[600];
	piv_slot_name(slot, s, sizeof(s));
	snprintf(title, sizeof(title), "Slot %s: %s", s, field);
	snprintf(p, sizeof(p), "%s%s", prompt, strcmp(field, "subject") == 0 ?
	    " (e.g. CN=Jane Doe,O=Example,C=DE)" : "");
	ui_field f;
	rt_err *e = ui_field_init(&f, cap < UI_FIELD_MAX ? cap : UI_FIELD_MAX,
	    false);
	if (e != NULL)
		return e;
	bool ok = dlg_input(u, title, p, &f);
	if (ok && !ui_field_copy(&f, buf, cap, len))
		e = rt_err_new(RT_E_ARG, NULL, "slot %s: %s: too long", s, field);
	else if (!ok)
		e = cancelled(title);
	ui_field_free(&f);
	return e;
}

static rt_err *
d_card_pin(void *ctx, unsigned which, const char *prompt, char *buf,
    size_t cap, size_t *len)
{
	ui *u = ctx;
	return ask_secret(u, which == 2 ? "Second PIN of the card" :
	    "PIN of the card", prompt, buf, cap, len);
}

/* The management key in hex, or 'default': the card profile's default
 * key, named explicitly (*len 0 tells the engine so). */
static rt_err *
d_operator(void *ctx, const char *prompt, uint8_t *buf, size_t cap,
    size_t *len)
{
	ui *u = ctx;
	char hex[130], p[700];
	size_t hl = 0;
	snprintf(p, sizeof(p), "%s: the management key in hex (48 digits for "
	    "3DES/AES-192), or 'default' for the card's default key", prompt);
	for (;;) {
		rt_err *e = ask_secret(u, "Operator credential", p, hex,
		    sizeof(hex) - 1, &hl);
		if (e != NULL)
			return e;
		e = rt_operator_credential_parse(hex, hl, buf, cap, len);
		rt_wipe(hex, sizeof(hex));
		if (e == NULL)
			return NULL;
		rt_err_free(e);
		snprintf(p, sizeof(p), "%s: not a key in hex nor 'default'; "
		    "again (Esc cancels)", prompt);
	}
}

/* The SO PIN (PKCS#15) or another operator credential that is a PIN:
 * typed as a PIN, '*' per character, wiped. */
static rt_err *
d_operator_pin(void *ctx, const char *prompt, char *buf, size_t cap,
    size_t *len)
{
	ui *u = ctx;
	rt_update *up = rt_station_update(u->st);
	char title[64], p[400];
	snprintf(title, sizeof(title), "%s", up != NULL && up->caps != NULL &&
	    up->caps->operator_name ? up->caps->operator_name :
	    "Operator credential");
	if (title[0] >= 'a' && title[0] <= 'z')
		title[0] = (char)(title[0] - 'a' + 'A');
	snprintf(p, sizeof(p), "%s: the CM host does not hold it for this "
	    "card; the operator credential that lets the card's directory be "
	    "written", prompt);
	return ask_secret(u, title, p, buf, cap, len);
}

/* Whether the CA certificates already on the card go: chosen on the
 * screen (Replace CA certificate(s)) or asked now. */
static rt_err *
d_replace(void *ctx, const rt_plan *p, bool *replace)
{
	ui *u = ctx;
	(void)p;
	rt_update *up = rt_station_update(u->st);
	if (up != NULL && up->ca_asked) {
		*replace = up->ca_replace;
		return NULL;
	}
	*replace = dlg_text(u, "Replace CA certificate(s)", "The procedure "
	    "writes the CM host's CA certificates to the card. Replace the "
	    "CA certificate(s) already on the card (y), or keep them and add "
	    "the missing ones (n)?", true,
	    "y = replace, n = keep them and add the missing");
	return NULL;
}

static void
d_progress(void *ctx, const rt_plan_step *s, const char *what)
{
	ui *u = ctx;
	char sl[4];
	if (s == NULL) {	/* a step of the whole card */
		ui_set_status(u, R_NORMAL, "%s", what);
		ui_draw(u);
		return;
	}
	piv_slot_name(s->slot, sl, sizeof(sl));
	rt_update *up = rt_station_update(u->st);
	int row = up ? rt_update_row(up, s->slot) : -1;
	if (row >= 0 && row < RT_MAX_KEYS) {
		snprintf(u->note[row], sizeof(u->note[row]), "%s", what);
		u->note_role[row] = R_NORMAL;
		u->dirty |= D_CONTENTS;
	}
	ui_set_status(u, R_NORMAL, "%s: %s", sl, what);
	ui_draw(u);
}

static rt_err *
d_signature(void *ctx, const char *prompt, char *buf, size_t cap,
    size_t *len)
{
	ui *u = ctx;
	if (u->pin.len > 0) {
		if (!ui_field_copy(&u->pin, buf, cap, len))
			return rt_err_new(RT_E_ARG, NULL, "Signature PIN: too long");
		return NULL;
	}
	return ask_secret(u, u->have_officer && u->oinfo.software ?
	    "Passphrase" : "Signature PIN", prompt, buf, cap, len);
}

static rt_err *
d_confirm(void *ctx, const rt_plan *p, bool *yes)
{
	ui *u = ctx;
	char *text = NULL;
	size_t tl = 0;
	FILE *f = open_memstream(&text, &tl);
	if (f == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "plan");
	char asks[6][160];
	rt_update *up = rt_station_update(u->st);
	size_t na = ui_view_asks(p, up, u->card_pin_kept, asks, 6);
	/* what comes after y first: the plan may need scrolling */
	fprintf(f, "%zu key%s%s. After y, asked: ", p->nsteps, p->nsteps == 1 ?
	    "" : "s", p->write_ca_certs ? ", CA certificates" : "");
	for (size_t i = 0; i < na; i++)
		fprintf(f, "%s%s", i ? "; " : "", asks[i]);
	fprintf(f, "%s.\n", na ? "" : "nothing more");
	/* the plan laid out for the dialog's width (as dlg_text sizes it) */
	rt_plan_print_cols(p, f, (size_t)text_dialog_width(u) - 4);
	fclose(f);
	ui_set_status(u, R_NORMAL, "The plan: y submits it, n or Esc sends "
	    "nothing.");
	ui_draw(u);
	*yes = dlg_text(u, "Submit this plan?", text, true,
	    "Submit to the CM host and write the card?  y = yes, n = no");
	free(text);
	if (*yes)
		ui_set_status(u, R_NORMAL, "Submitting...");
	return NULL;
}

static bool
d_cancel(void *ctx)
{
	ui *u = ctx;
	bool cancel = false;
	timeout(0);
	int ch;
	while ((ch = getch()) != ERR) {
		if (ch == KEY_RESIZE) {
			ui_relayout(u);
			ui_draw(u);
		} else if (ch == 27) {
			timeout(-1);
			cancel = dlg_text(u, "Cancel?", "Cancel the update? "
			    "Nothing not yet sent will be sent; certificates "
			    "already issued and not on the card are rejected.",
			    true, "y = cancel, n = go on");
			timeout(0);
			if (cancel)
				break;
		}
	}
	timeout(-1);
	return cancel;
}

void
ui_dialogs(ui *u, rt_update_dialogs *d)
{
	memset(d, 0, sizeof(*d));
	d->ctx = u;
	d->typed = d_typed;
	d->card_pin = d_card_pin;
	d->operator_credential = d_operator;
	d->operator_pin = d_operator_pin;
	d->replace_ca_certs = d_replace;
	d->progress = d_progress;
	d->signature_pin = d_signature;
	d->confirm = d_confirm;
	d->cancel = d_cancel;
}
