/*
 * text.h - text for a terminal: display width of UTF-8, fitting into columns.
 *
 * Names from cards and certificates are UTF-8 (an invalid byte is taken
 * as one column, shown as '?'). Widths follow Unicode, not the C
 * library's locale: combining marks and format characters take 0
 * columns, East Asian wide and fullwidth characters 2, everything else 1.
 *
 * `utf8` says whether the terminal shows UTF-8 (rt_text_utf8_locale()):
 * it chooses the ellipsis that marks a cut, "…" (one column) or "..."
 * (three). Text is never converted: valid UTF-8 passes as it is in both
 * cases, so output redirected to a file under LANG=C keeps its names.
 * Control characters (C0, DEL) and invalid bytes always become '?', so a
 * name can neither move the cursor nor break the alignment.
 */
#ifndef RATERM_TEXT_H
#define RATERM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Display columns of s (UTF-8; NULL is 0). */
size_t rt_text_width(const char *s);

/* Copies src into dst (cap bytes, NUL-terminated) cut to at most `cols`
 * columns; a cut ends in the ellipsis ("…" when utf8, "..." otherwise;
 * for cols smaller than the ellipsis, as many dots as fit). A character
 * is never split, so a wide character that does not fit leaves one
 * column empty. Returns the width of dst in columns. */
size_t rt_text_fit(char *dst, size_t cap, const char *src, size_t cols,
    bool utf8);

/* Writes s to f fitted to `cols` (rt_text_fit), then spaces up to
 * exactly `cols` columns. */
void rt_text_pad(FILE *f, const char *s, size_t cols, bool utf8);

/* Calls emit(ctx, line) for each line of text broken at spaces into
 * lines of at most `cols` columns ('\n' breaks a line too; a word longer
 * than a line is broken where the line ends); the first line has `first`
 * columns at most, when not 0. Lines are at most 1023 bytes. Empty text
 * is one empty line. Returns the number of lines. */
size_t rt_text_wrap(const char *text, size_t cols, size_t first,
    void (*emit)(void *ctx, const char *line), void *ctx);

/* Whether the environment asks for UTF-8 (the first set of LC_ALL,
 * LC_CTYPE, LANG names a UTF-8 codeset), without setlocale(). */
bool rt_text_utf8_locale(void);

#endif
