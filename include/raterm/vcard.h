/*
 * vcard.h - what the virtual cards (vpiv: PIV, vp15: PKCS#15) share: the
 * APDU count, fault injection and trace around a card's command handler,
 * the card ops through which the vpcd front end (`vpiv serve`, `vp15
 * serve`) and the in-process transport drive a card, the state file's
 * save and reading, and the pieces of their command lines (src/vcard/).
 * Each card keeps its own commands and its own file structure.
 */
#ifndef RATERM_VCARD_H
#define RATERM_VCARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mbedtls/pk.h>

#include "raterm/err.h"
#include "raterm/transport.h"

/* ---- faults and trace (src/vcard/io.c) -------------------------------- */

/* How a card words its trace and its pulled card (each card keeps the
 * lines it always wrote: tests and docs quote them), and its ATR. */
typedef struct {
	const char *name;               /* "vpiv": error messages */
	const char *prefix;             /* before each trace line: "", "vp15 " */
	/* a command carrying secrets is traced as its header and
	 * redact_pre, the count of bytes not shown, redact_post */
	const char *redact_pre, *redact_post;
	uint8_t secret_ins[8];          /* those commands' INS bytes */
	size_t nsecret;
	const char *pulled;             /* "removed": "card removed at APDU N" */
	const char *fault_note;         /* after the FAULT error's text, or "" */
	const uint8_t *atr;             /* the card's ATR */
	size_t atr_len;
} vcard_dialect;

/* A card's APDU count, faults and trace (a member of the card). Faults
 * are counted in APDUs since open, 1-based; 0 disables. drop_at: the
 * card is pulled when APDU N arrives. sw_at: APDU N is answered with
 * status word sw only. stall_at: the card sleeps ms milliseconds before
 * it handles APDU N (a slow card). */
typedef struct {
	const vcard_dialect *d;
	FILE *trace;                    /* NULL: none */
	uint64_t count;
	uint64_t drop_at, sw_at, stall_at;
	uint16_t sw_value;
	unsigned stall_ms;
} vcard_io;

void vcard_io_init(vcard_io *io, const vcard_dialect *d);
void vcard_set_trace(vcard_io *io, FILE *f);
uint64_t vcard_apdu_count(const vcard_io *io);
void vcard_fault_drop_at(vcard_io *io, uint64_t n);
void vcard_fault_sw_at(vcard_io *io, uint64_t n, uint16_t sw);
void vcard_fault_stall_at(vcard_io *io, uint64_t n, unsigned ms);

/* A command arrives: counted and traced, then the faults set for it. A
 * stall sleeps here (traced "~ (stalling MS ms at APDU N)", flushed).
 * *sw_only: answer io->sw_value alone. Errors: ARG (cap < 2, nothing
 * counted), FAULT (the card is pulled at this APDU, traced: the caller
 * drops what power loss drops and returns the error). */
rt_err *vcard_arrive(vcard_io *io, const uint8_t *cmd, size_t clen,
    size_t cap, bool *sw_only) RT_MUST;
/* The response is traced and the trace flushed. */
void vcard_depart(vcard_io *io, const uint8_t *rsp, size_t rlen);
/* A failure of the card itself (its state not saved) in the trace:
 * "! what". */
void vcard_trace_err(vcard_io *io, const rt_err *e);
/* Copies the card's ATR into atr; returns its length, 0 when cap is too
 * small (33 always does). */
size_t vcard_atr(const vcard_io *io, uint8_t *atr, size_t cap);
/* SW1 SW2 at rsp[off]; returns off + 2. */
size_t vcard_put_sw(uint8_t *rsp, size_t off, uint16_t sw);

/* ---- card ops: the front end's and the transport's view of a card ----- */

typedef struct {
	const char *name;       /* "vpiv", "vp15": messages and usage */
	/* NULL: a blank card in memory; the card saves its state itself
	 * after every change */
	rt_err *(*open)(const char *state, void **card);
	void (*free)(void *card);
	rt_err *(*apdu)(void *card, const uint8_t *cmd, size_t clen,
	    uint8_t *rsp, size_t cap, size_t *rlen);
	void (*reset)(void *card);
	vcard_io *(*io)(void *card);    /* its count, faults, trace, ATR */
} vcard_ops;

/* `NAME serve`: cards behind vsmartcard's vpcd (src/vcard/serve.c,
 * docs/vpiv.md); argv starts at "serve". Returns the exit status. */
int vcard_serve_main(const vcard_ops *ops, int argc, char **argv);

/* The in-process transport (src/vcard/transport.c): binds a transport to
 * `card`; take: the transport frees the card on close. A FAULT from the
 * card (an injected pull) becomes CARD_REMOVED. */
rt_err *rt_vcard_transport(const vcard_ops *ops, void *card, bool take,
    const char *name, rt_transport **out) RT_MUST;

/* ---- the state file (src/vcard/state.c) ------------------------------- */

/* Saves a card's state to path (NULL: a card in memory, nothing to do):
 * the line "NAME-state 1" (name "vpiv": "vpiv-state 1"), the records
 * write formats (0 done, -1 failed; secrets in them are wiped after), the
 * line "end", written atomically (rt_file_write: temporary file, fsync,
 * rename; mode 0600), then the rename made durable (fsync of the
 * directory). Errors: NOMEM, IO. */
rt_err *vcard_state_save(const char *path, const char *name,
    int (*write)(const void *card, FILE *f), const void *card) RT_MUST;
/* A private key as the hex of its DER (PKCS#1 / SEC1); -1 if it does not
 * encode. */
int vcard_key_write(FILE *f, const mbedtls_pk_context *pk);
/* A card's key record emptied: its private key pk (a member of the
 * record) freed, the record wiped, pk ready for a new key. */
void vcard_key_clear(void *rec, size_t size, mbedtls_pk_context *pk);
/* Splits line into at most max fields separated by blanks (space, tab;
 * a line end ends the line); returns the count. */
int vcard_fields(char *line, char **f, int max);

/* ---- command lines (src/vcard/cli.c) ---------------------------------- */

/* "PROG: what" on stderr; returns the error's exit status (at least 1). */
int vcard_fail(const char *prog, rt_err *e);
/* "-h" or "--help". */
bool vcard_is_help(const char *s);

/* A command of a card's program. */
typedef struct {
	const char *name;
	int (*run)(int argc, char **argv);      /* argv[0] is the command */
} vcard_cmd;

/* The program's main: no command or an unknown one prints usage to
 * stderr (2), -h/--help to stdout (0), --version "PROG VERSION" when
 * version; otherwise the command's status. */
int vcard_main(const char *prog, void (*usage)(FILE *f), bool version,
    const vcard_cmd *cmds, int argc, char **argv);

#endif
