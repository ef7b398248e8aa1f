/* util.h - small helpers shared by all layers (src/util/).
 *
 * One home per helper: hex (hex.c), JSON strings (json.c), whole files
 * (file.c), wiping secrets (wipe.c), a line from the terminal (tty.c).
 * Text for terminals is in text.h. */
#ifndef RATERM_UTIL_H
#define RATERM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "raterm/err.h"

/* Overwrites a secret so that the compiler cannot drop the write. */
void rt_wipe(void *p, size_t len);

/* Keeps the process's memory (PINs, keys) out of core dumps and away from
 * ptrace by other processes of the same user: RLIMIT_CORE 0 and, on
 * Linux, PR_SET_DUMPABLE 0. Called first thing by every program that
 * handles secrets. Best effort: failures are ignored. */
void rt_no_core_dumps(void);

/* ---- the terminal (tty.c) ------------------------------------------------ */

/* Asks on the controlling terminal (/dev/tty): "PROMPT: ", then one line
 * into buf (no NUL; *len its length). echo false: a secret, typed with
 * echo off and wiped from buf on error. Errors: USAGE (no terminal: the
 * message adds hint when given; input ended), ARG (longer than cap). */
rt_err *rt_tty_read(const char *prompt, bool echo, const char *hint,
    char *buf, size_t cap, size_t *len) RT_MUST;

/* ---- hex (hex.c) --------------------------------------------------------- */

/* Flags of the hex codec. */
#define RT_HEX_UPPER	0x1u	/* encode: "9A" rather than "9a" */
/* decode: skip white space and ':' (typed or pasted hex); otherwise
 * every character must be a digit */
#define RT_HEX_LOOSE	0x2u

/* Hex of b[0..n) into out, NUL-terminated, cut to the whole bytes that
 * fit in cap (cap >= 2n + 1 holds all). Lowercase unless RT_HEX_UPPER.
 * Returns the number of digits written. */
size_t rt_hex_encode(const uint8_t *b, size_t n, char *out, size_t cap,
    unsigned flags);

/* Writes the hex of b[0..n) to f. Returns 0, or -1 on a write error. */
int rt_hex_write(FILE *f, const uint8_t *b, size_t n, unsigned flags);

/* Parses the first len characters of hex (either case) into out.
 * Without RT_HEX_LOOSE every character must be a digit. *outlen: the
 * bytes written. Errors: FORMAT (a non-digit, named with its position;
 * an odd number of digits), TOO_BIG (more than cap bytes). */
rt_err *rt_hex_decode(const char *hex, size_t len, uint8_t *out, size_t cap,
    size_t *outlen, unsigned flags) RT_MUST;

/* ---- time (time.c) ------------------------------------------------------- */

/* t (seconds since the epoch) in UTC as ISO 8601: "2026-12-05T14:03:01Z",
 * or with ms >= 0 its milliseconds: "2026-12-05T14:03:01.123Z". */
void rt_time_iso(int64_t t, int ms, char *out, size_t cap);

/* ---- JSON (json.c) ------------------------------------------------------- */

/* Writes s as a JSON string ("null" for NULL): '"', '\\' and control
 * characters escaped; other bytes (UTF-8) as they are. */
void rt_json_str(FILE *f, const char *s);

/* ---- files (file.c) ------------------------------------------------------ */

/* Reads the whole file at path, at most max bytes, into a malloc'ed
 * buffer followed by a NUL (not counted in *len; PEM parsers and text
 * callers want it). Buffers given up on the way are wiped (key files);
 * the caller wipes *data when it held a secret. Errors: IO ("PATH:
 * reason"; rt_err_detail() is the errno), TOO_BIG ("PATH: larger than
 * MAX bytes"), NOMEM. */
rt_err *rt_file_read(const char *path, size_t max, uint8_t **data,
    size_t *len) RT_MUST;

/* rt_file_read for files that must be regular files of their own (the
 * journal): a symbolic link, a device, a FIFO or a directory is refused
 * (IO) without reading, a file larger than max without reading it
 * (TOO_BIG). */
rt_err *rt_file_read_regular(const char *path, size_t max, uint8_t **data,
    size_t *len) RT_MUST;

/* Writes data to path atomically: a temporary file beside it created
 * with exactly `mode` whatever the umask, written, fsync'ed, renamed over
 * path. A reader sees the old file or the new one, never a part. Errors:
 * IO ("PATH: reason"). */
rt_err *rt_file_write(const char *path, const void *data, size_t len,
    unsigned mode) RT_MUST;

#endif
