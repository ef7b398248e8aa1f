/* keys.c - the fixed key map of the screen (see view.h, docs/ui.md). Only
 * the key codes of curses.h are used here (macros): this file links
 * without curses, so the unit tests check the map. */
#include <curses.h>

#include "view.h"

ui_cmd
ui_cmd_of(int ch, bool text, bool in_contents, rt_action *act)
{
	switch (ch) {
	case KEY_F(1): return UI_CMD_HELP;
	case KEY_F(2): return UI_CMD_SUBMIT;
	case KEY_F(5): return UI_CMD_RELOAD;
	case KEY_F(10): return UI_CMD_QUIT;
	case '\t': return UI_CMD_NEXT;
	case KEY_BTAB: return UI_CMD_PREV;
	case KEY_UP: return UI_CMD_UP;
	case KEY_DOWN: return UI_CMD_DOWN;
	case KEY_PPAGE: return UI_CMD_PGUP;
	case KEY_NPAGE: return UI_CMD_PGDN;
	case '\n': case '\r': case KEY_ENTER: return UI_CMD_ENTER;
	case 27: return UI_CMD_ESC;
	case 12: return UI_CMD_REDRAW;	/* ^L */
	case KEY_BACKSPACE: case 127: case 8:
		return text ? UI_CMD_BACKSPACE : UI_CMD_NONE;
	default:
		break;
	}
	if (text)
		return ch >= 0x20 && ch <= 0xff && ch != 0x7f ? UI_CMD_CHAR :
		    UI_CMD_NONE;
	switch (ch) {
	case '?': return UI_CMD_HELP;
	case 's': return UI_CMD_SUBMIT;
	case 'l': return UI_CMD_RELOAD;
	case 'q': return UI_CMD_QUIT;
	case 't': return UI_CMD_TARGET;
	case 'R': return UI_CMD_RECOVER;
	case 'C': return UI_CMD_CA;
	case ' ': return UI_CMD_ENTER;
	case 'k': return UI_CMD_UP;
	case 'j': return UI_CMD_DOWN;
	default:
		break;
	}
	if (in_contents && ch == 'c')
		return UI_CMD_QC;
	if (in_contents && act != NULL && ui_action_of_letter(ch, act))
		return UI_CMD_SET_ACTION;
	return UI_CMD_NONE;
}
