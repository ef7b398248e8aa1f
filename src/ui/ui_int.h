/* ui_int.h - the station screen's state and its curses parts (src/ui only). */
#ifndef RATERM_UI_INT_H
#define RATERM_UI_INT_H

#include <curses.h>

#include "raterm/station.h"
#include "raterm/ui.h"
#include "view.h"

/* What has the focus (Tab order). */
enum {
	F_CONTENTS = 0,
	F_PROC,
	F_PIN,
	F_RELOAD,
	F_SUBMIT,
	F_QUIT,
	F__COUNT
};

/* Parts of the screen to draw again (nothing else is touched). */
#define D_HEAD     0x01
#define D_WARN     0x02
#define D_CONTENTS 0x04
#define D_PROC     0x08
#define D_PIN      0x10
#define D_STATUS   0x20
#define D_KEYS     0x40
#define D_FRAME    0x80
#define D_ALL      0xff

/* Roles of text; attributes depend on colour / NO_COLOR. */
enum {
	R_NORMAL = 0,
	R_HEAD,		/* the header bar */
	R_SEL,		/* the selected row / focused control */
	R_DIM,		/* disabled, blank */
	R_BAD,		/* errors, failed */
	R_GOOD,		/* done, verified */
	R_WARN,		/* warnings */
	R_KEY,		/* key line: the key */
	R_KEYLABEL,	/* key line: its label */
	R_TITLE,	/* box titles */
	R__COUNT
};

#define UI_MAX_PROCS 32
#define UI_STATUS_MAX 600

typedef struct ui {
	rt_station *st;
	const rt_config *cfg;
	rt_ui_opts o;
	ui_layout L;
	bool utf8, color;
	attr_t attr[R__COUNT];
	unsigned dirty;
	int focus;
	size_t row, top;		/* selected row, first row shown */
	const rt_procedure *procs[UI_MAX_PROCS];
	size_t nprocs;
	ui_field pin;			/* the Signature PIN: locked, wiped */
	char status[UI_STATUS_MAX];
	int status_role;
	rt_station_readers_info rinfo;
	rt_station_officer_info oinfo;
	bool have_officer;
	char officer_err[300];
	char target_err[400];		/* why no Contents */
	bool card_gone;			/* the target card was removed */
	bool rev_pending;		/* a card read: its revocation not
					 * asked yet (check_revocation) */
	size_t open_ops;		/* incomplete journal operations */
	char note[RT_MAX_KEYS][24];	/* progress / result per row */
	int note_role[RT_MAX_KEYS];
	char ca_note[24];		/* the CA certificates' result */
	int ca_note_role;
	bool quit;
	bool events_broken;		/* PC/SC events failed: retry later */
	long events_retry_ms;
	char host[64];
	/* the submit in progress */
	const rt_plan *plan;
	bool card_pin_kept;
} ui;

/* screen.c */
void ui_draw(ui *u);
void ui_relayout(ui *u);
void ui_set_status(ui *u, int role, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ui_status_err(ui *u, const char *what, const rt_err *e);
/* Draws the text of role at y, x in width columns (fitted). */
void ui_put(ui *u, WINDOW *w, int y, int x, int width, int role,
    const char *text);
/* A frame around win (ACS in UTF-8, ASCII otherwise) with a title. */
void ui_frame(ui *u, WINDOW *w, int y, int x, int h, int wd,
    const char *title);

/* dialog.c: modal dialogs over the screen; each returns when the
 * officer has answered, the screen restored. */
/* A text to read (lines wrapped); keys: Up/Down/PgUp/PgDn, Enter or Esc
 * closes. yesno: 'y' answers true, 'n' or Esc false; the question is the
 * last line. Returns the answer (true for Enter without yesno). */
bool dlg_text(ui *u, const char *title, const char *text, bool yesno,
    const char *question);
/* One line typed into f (a secret field masks it); Enter accepts (true),
 * Esc cancels (false). */
bool dlg_input(ui *u, const char *title, const char *prompt, ui_field *f);
/* A list to choose from: Up/Down, Enter chooses, Esc -1. disabled[i]
 * entries cannot be chosen: their reason[i] goes to the status line.
 * desc[i] may be NULL. Returns the index. */
int dlg_list(ui *u, const char *title, const char *const *items,
    const char *const *desc, const bool *disabled,
    const char *const *reason, size_t n, size_t sel, int y, int x);
/* The help screen. */
void dlg_help(ui *u);

/* The dialog table the station calls (dialog.c). */
void ui_dialogs(ui *u, rt_update_dialogs *d);

#endif
