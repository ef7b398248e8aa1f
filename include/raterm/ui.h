/*
 * ui.h - the officer's screen (src/ui, ncurses): the Contents of the target
 * card with an action per key, the procedure, the Signature PIN, Reload
 * and Submit, the dialogs of the update, reader events. It drives the
 * station object (station.h) and never talks to a card or the CM host
 * itself. Only src/ui includes curses. The user guide is docs/ui.md.
 */
#ifndef RATERM_UI_H
#define RATERM_UI_H

#include <stdbool.h>

#include "raterm/config.h"
#include "raterm/station.h"

typedef struct {
	bool pin_stars;		/* one '*' per PIN character (default) or none */
	bool ascii;		/* ASCII line drawing even in UTF-8 */
	bool no_mouse;
} rt_ui_opts;

/* Runs the screen on the terminal (stdin/stdout must be one) until the
 * officer quits. Returns the exit status: 0, or that of the error that
 * kept the station from opening (printed on stderr after the screen
 * closed). */
int rt_ui_run(const rt_config *cfg, const rt_station_opts *so,
    const rt_ui_opts *uo);

#endif
