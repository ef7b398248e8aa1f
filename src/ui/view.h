/*
 * view.h - the screen's view model (src/ui only): what the station UI
 * shows, computed without curses so that unit tests check it
 * (tests/unit/test_ui_view.c). screen.c draws what these functions say.
 *
 *   ui_view_row        one line of the Contents table
 *   ui_view_actions    the Action dropdown of a row: entries, disabled
 *                      ones with the engine's reason
 *   ui_view_asks       what Submit will ask, in order
 *   ui_view_error      an error for the status line (tries left of a PIN)
 *   ui_layout_of       where everything goes at a terminal size
 *   ui_field           the editing of a one-line field; a secret field
 *                      lives in locked memory and is wiped
 *   ui_cmd_of          the fixed key map (keys -> commands)
 */
#ifndef RATERM_UI_VIEW_H
#define RATERM_UI_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raterm/config.h"
#include "raterm/contents.h"
#include "raterm/engine.h"
#include "raterm/err.h"

/* ---- text ----------------------------------------------------------------- */

/* Copies src into dst (cap bytes) so that it takes exactly `width`
 * columns: cut with a '~' when longer, padded with spaces when shorter.
 * utf8: src is UTF-8 and the terminal shows it (a code point is one
 * column); otherwise every byte outside printable ASCII becomes '?'.
 * Control characters never pass. Returns dst. */
char *ui_fit(char *dst, size_t cap, const char *src, int width, bool utf8);

/* Columns src takes (code points in UTF-8, bytes otherwise). */
int ui_text_width(const char *src, bool utf8);

/* Splits text (lines separated by '\n') into lines of at most width
 * columns, breaking at spaces where possible; a wrapped line keeps the
 * indentation of its first line. Calls emit(ctx, line) per line; returns
 * the count. */
size_t ui_wrap(const char *text, int width, bool utf8,
    void (*emit)(void *ctx, const char *line), void *ctx);

/* ---- the Contents table ---------------------------------------------------- */

/* What a line of the Contents is: the card's keys (one line per
 * certificate, a key's further certificates under its first), then,
 * where the card's profile holds CA certificates, their section: a
 * heading (the Replace CA certificate(s) choice) and one line each. */
typedef enum {
	UI_ROW_KEY = 0,		/* ct->rows[i] */
	UI_ROW_CA_HEAD,		/* i == ct->nrows */
	UI_ROW_CA,		/* ct->ca[i - ct->nrows - 1] */
} ui_row_kind;

typedef struct {
	ui_row_kind kind;
	char slot[8];		/* "9a"; "02.1" a key's further certificate;
				 * "CA" the heading; "" a CA certificate */
	bool more;		/* a further certificate of the key above */
	char alg[16];		/* "ECCP256", "?"; "" under its key */
	char cert[300];		/* subject CN; "(key without certificate)" */
	bool tc;		/* the certificate is a TC */
	char until[12];		/* "2027-11-24"; "" */
	char status[120];	/* TC status: "verified", "failed: possession",
				 * "expired", "not checked"; "" not a TC */
	bool status_bad;	/* failed / expired / unreadable */
	char action[8];		/* "Blank", "Redo", ...; the heading: "Write"
				 * or "Blank"; "" a CA certificate */
	bool blank;
} ui_row_view;

/* The lines of the Contents: ct->nrows, and the CA section (heading and
 * ct->nca lines) where the profile holds CA certificates or the card has
 * some. Lines below ct->nrows are the keys' rows of ct (same index). */
size_t ui_view_nrows(const rt_contents *ct);

/* Line i of the Contents under the update model u (NULL: no model). */
void ui_view_row(const rt_contents *ct, const rt_update *u, size_t i,
    ui_row_view *out);

/* The TC status of slot: "" (no TC), "not checked", "verified",
 * "failed: <control>", "expired". *bad for the last two. */
void ui_view_tc_status(const rt_contents *ct, const rt_update *u,
    size_t i, char *buf, size_t cap, bool *bad);

typedef struct {
	rt_action action;
	const char *title;	/* "Blank" ... */
	bool enabled;
	char reason[300];	/* why not (the engine's RULE message) */
} ui_action_entry;

/* The dropdown of row i: Blank, Issue, Redo, Add in this order (always
 * RT_ACT__COUNT entries). Returns the index of the row's action. On a
 * certificate of a key that is not the key's chosen one (rt_update_row)
 * the rules are those after choosing it (rt_update_choose_cert). */
size_t ui_view_actions(const rt_update *u, size_t i,
    ui_action_entry out[RT_ACT__COUNT]);

/* Sets action a on row i: a certificate of a key other than its chosen
 * one is chosen first (rt_update_choose_cert: Redo replaces exactly that
 * certificate; the key's action moves to it), Blank on such a row
 * changes nothing. moved (cap bytes, may be NULL) names the row the
 * key's action left ("02"), "" none. Nothing changes on an error:
 * NOT_FOUND, the RULE of rt_update_set_action. */
rt_err *ui_row_set_action(rt_update *u, size_t i, rt_action a, char *moved,
    size_t cap) RT_MUST;

/* The key of row i as the officer names it: "9a", "02", "02.1" (the
 * key's further certificate, as raterm show and --action write it). */
char *ui_row_key(const rt_contents *ct, size_t i, char *buf, size_t cap);

/* ---- Replace CA certificate(s) ------------------------------------------- */

typedef enum {
	UI_CA_REPLACE = 0,	/* replace the card's CA certificates */
	UI_CA_KEEP,		/* keep them, add the missing */
	UI_CA_NONE,		/* no Replace CA certificate(s) */
	UI_CA__COUNT
} ui_ca_choice;

typedef struct {
	const char *title, *desc;
	bool enabled;
	char reason[300];	/* why not (the engine's RULE message) */
} ui_ca_entry;

/* The Replace CA certificate(s) dialog: replace, keep and add the
 * missing, none; the first two disabled with the engine's reason where
 * rt_update_set_ca_certs refuses. Returns the current choice. */
ui_ca_choice ui_view_ca_choices(const rt_update *u,
    ui_ca_entry out[UI_CA__COUNT]);

/* Applies choice c (rt_update_set_ca_certs, or none). Errors: RULE. */
rt_err *ui_ca_set(rt_update *u, ui_ca_choice c) RT_MUST;

/* The action a letter sets ('b', 'i', 'r', 'a'); false for others. */
bool ui_action_of_letter(int ch, rt_action *a);

/* Before changing the procedure of u to p: the actions p would reset
 * ("9a Redo, 9c Redo"), written into buf; returns how many. */
size_t ui_view_proc_resets(const rt_update *u, const rt_procedure *p,
    char *buf, size_t cap);

/* ---- submit ----------------------------------------------------------------- */

/* What Submit asks after the confirmation of plan p, one short line each
 * (at most 6): "the Signature PIN (typed on the screen)" is not one of
 * them. u (may be NULL): the card's profile (what its PINs and operator
 * credential are called) and whether Replace CA certificate(s) was
 * chosen already. card_pin_kept: the card PIN was typed for the TC
 * controls. Returns the count; none: nothing more is asked. */
size_t ui_view_asks(const rt_plan *p, const rt_update *u,
    bool card_pin_kept, char lines[][160], size_t cap);

/* The line of the Contents read again after a submit that shows step
 * st's result: the certificate issued (serial, lowercase hex) where the
 * card holds it, else the certificate the step was on (Redo, Issue) or
 * the key's first line (Add); -1 none. */
int ui_view_result_row(const rt_contents *ct, const rt_plan_step *st,
    const char *serial);

/* The result of the plan's CA certificates (write_ca_certs): "CA
 * certificates  done  2 CA certificate(s) ... (journal ...)"; "" when the
 * plan writes none. */
void ui_view_result_ca(const rt_plan *p, const rt_submit_result *res,
    char *buf, size_t cap);

/* One line of the result of plan step i: "9a  Redo   done     written to
 * the card, read back and tested (serial ...)". */
/* The closing line: confirmed / not confirmed (recover) / nothing issued. */
const char *ui_view_result_end(const rt_submit_result *res);
/* "done", "FAILED", "rejected", "not run". */

/* An error for the status line, one line: a wrong PIN says the tries
 * left ("wrong PIN: 2 tries left"), a blocked one says so. what: the
 * step ("Submit", "Reload"); "" none. */
void ui_view_error(const char *what, const rt_err *e, char *buf, size_t cap);

/* ---- layout -------------------------------------------------------------------- */

#define UI_MIN_W 80
#define UI_MIN_H 24

typedef struct {
	int w, h;
	bool too_small;
	/* rows (y) */
	int y_head, y_warn, y_box, y_colhead, y_rows, nrows_vis, y_boxend,
	    y_proc, y_pin, y_status, y_keys;
	/* Contents columns (x) and widths */
	int x_slot, w_slot, x_alg, w_alg, x_cert, w_cert, x_until, w_until,
	    x_status, w_status, x_action, w_action;
	/* buttons */
	int x_reload, x_submit, x_quit, x_help, y_buttons;
	int x_pin, w_pin;	/* the PIN field's box */
	int x_proc, w_proc;
} ui_layout;

void ui_layout_of(int w, int h, ui_layout *out);

/* ---- fields ---------------------------------------------------------------------- */

#define UI_FIELD_MAX 256

typedef struct {
	char *buf;		/* cap bytes; a secret: a locked page */
	size_t cap, len;
	bool secret;
	bool locked;		/* mlock succeeded */
} ui_field;

/* A field of at most cap-1 bytes; secret: in its own mmap'ed page,
 * mlock'ed (best effort), excluded from core dumps, wiped on clear and
 * free. Errors: NOMEM. */
rt_err *ui_field_init(ui_field *f, size_t cap, bool secret) RT_MUST;
void ui_field_free(ui_field *f);
/* Appends one printable byte (or a UTF-8 byte of a non-secret field);
 * false when full or not accepted. */
bool ui_field_put(ui_field *f, int ch);
void ui_field_back(ui_field *f);	/* deletes the last character */
void ui_field_clear(ui_field *f);	/* wipes */
/* Copies the value (no NUL needed) into out; false if it does not fit.
 * The field keeps its value. */
bool ui_field_copy(const ui_field *f, char *out, size_t cap, size_t *len);
/* What the screen shows of the field in width columns: the text, or for
 * a secret one '*' per character (stars) or nothing. */
void ui_field_show(const ui_field *f, bool stars, char *out, size_t cap,
    int width);

/* ---- keys ------------------------------------------------------------------------- */

typedef enum {
	UI_CMD_NONE = 0,
	UI_CMD_CHAR,		/* a character for the focused text field */
	UI_CMD_BACKSPACE,
	UI_CMD_HELP,
	UI_CMD_SUBMIT,
	UI_CMD_RELOAD,
	UI_CMD_QUIT,
	UI_CMD_NEXT,		/* Tab */
	UI_CMD_PREV,		/* Shift-Tab */
	UI_CMD_UP,
	UI_CMD_DOWN,
	UI_CMD_PGUP,
	UI_CMD_PGDN,
	UI_CMD_ENTER,		/* Enter / Space outside text: open, choose */
	UI_CMD_ESC,
	UI_CMD_SET_ACTION,	/* b i r a in Contents: *act */
	UI_CMD_TARGET,		/* t: choose the target reader */
	UI_CMD_RECOVER,		/* R: open journal operations */
	UI_CMD_REDRAW,		/* ^L */
	UI_CMD_QC,		/* c in Contents: the QC statements of the row */
	UI_CMD_CA,		/* C: Replace CA certificate(s) */
} ui_cmd;

/* The command of key ch (a curses key code or a byte) where a text field
 * has the focus (text) or not; in_contents: the Contents table has it
 * (the action letters apply). */
ui_cmd ui_cmd_of(int ch, bool text, bool in_contents, rt_action *act);

#endif
