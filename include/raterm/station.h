/*
 * station.h - the officer's station, in the engine: one object that owns
 * the readers (officer and target), the officer's token, the CM host
 * client, the journal and the audit log, and runs the update of the card
 * in the target reader. The command line (src/cli) and the screen
 * (src/ui) are thin adapters over it: they ask the officer through the
 * one dialog table (rt_update_dialogs, engine.h) and show what the
 * station returns. Nothing here prints or reads a terminal.
 *
 * Flow of one card:
 *   rt_station_open(cfg, &opts, &st)
 *   rt_station_reload(st)              target card -> Contents + update model
 *   rt_station_update(st)              engine.h setters: procedure, actions,
 *                                      subject / SAN / QC per key
 *   rt_station_plan(st, d, false, &plan)  typed values, TC controls (card
 *                                      PIN through d->card_pin), the plan
 *   rt_station_submit(st, d, 0, &plan, &res)
 *       same card? -> d->confirm(plan) -> d->signature_pin (verified on the
 *       officer card before anything is sent) -> second card PIN -> cr
 *       (asking the card's management key) -> cp -> management-key
 *       authentication (d->operator_credential only when the CM host
 *       holds no key) -> write, read back, test -> certConf; progress and
 *       cancel between steps
 *   rt_station_close(st)
 *
 * PC/SC: the target card is connected only during an operation (reload,
 * plan's TC controls, submit): the reader is free while the officer
 * thinks. Every operation after reload checks that the card in the
 * reader is still the card that was read (GUID, else serial) and refuses
 * with NO_CARD / CARD_CHANGED naming both cards otherwise.
 *
 * Secrets: the Signature PIN and the card PINs live for one submit at
 * most (a card PIN typed for the TC controls serves the submit that
 * follows); they are kept in locked memory and wiped when the submit
 * ends, with rt_station_forget_secrets, and at close.
 */
#ifndef RATERM_STATION_H
#define RATERM_STATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "raterm/cmp.h"
#include "raterm/config.h"
#include "raterm/contents.h"
#include "raterm/engine.h"
#include "raterm/err.h"
#include "raterm/journal.h"
#include "raterm/transport.h"

typedef struct rt_station rt_station;

/* Opens a reader by name (a PC/SC reader as rt_pcsc_open takes it, or
 * what the adapter understands, e.g. "vpiv:PATH"). NULL: rt_pcsc_open. */
typedef rt_err *(*rt_reader_open_fn)(void *ctx, const char *name,
    rt_transport **out);

typedef struct {
	/* Overrides of the configuration; NULL / 0: the configuration's. */
	const char *target_reader;	/* -r */
	const char *officer_reader;	/* --officer-reader */
	const char *officer_token;	/* --officer-token (software) */
	const char *officer_cert;	/* --officer-cert */
	const char *officer_chain;	/* CA certificates sent along */
	uint8_t officer_slot;		/* --officer-slot */
	const char *server;		/* --server (cmhost.url) */
	const char *trust;		/* --trust (cmhost.trust) */
	const char *tls_ca;		/* --tls-ca */
	const char *transport_ca;	/* --transport-ca (transport_cas) */
	const char *attestation_root;	/* --attestation-root */
	long timeout;			/* seconds per HTTP exchange; 0: 60 */
	FILE *cmp_log;			/* each CMP message exchanged; NULL */
	/* The software token's warning at each signature; NULL: dropped
	 * (rt_station_officer_info.warning says it for a screen). */
	FILE *warn;
	rt_reader_open_fn open_reader;	/* NULL: rt_pcsc_open */
	void *open_ctx;
	/* Submit even when the journal holds an incomplete operation of
	 * the card (--ignore-open); otherwise that is refused (RULE). */
	bool ignore_open;
	/* Adjusts the CM host client's options before it is made (tests:
	 * an in-process transport). */
	void (*cmp_hook)(void *ctx, cmp_client_opts *co);
	void *cmp_hook_ctx;
} rt_station_opts;

/* Opens the station. Everything is opened on first need: the CA sets of
 * the configuration, the readers (rt_station_find_readers, called by
 * reload when not done yet), the officer's token (rt_station_officer,
 * submit), the CM host client, and the journal and the audit log (an
 * update or a recovery needs both: CONFIG when the configuration names
 * none, IO when they cannot be opened). cfg must outlive the station.
 * Errors: NOMEM. */
rt_err *rt_station_open(const rt_config *cfg, const rt_station_opts *o,
    rt_station **out) RT_MUST;
/* Closes everything and wipes every secret. NULL is allowed. */
void rt_station_close(rt_station *st);

const rt_config *rt_station_config(const rt_station *st);

/* ---- readers -------------------------------------------------------------- */

typedef struct {
	char officer[256];	/* "" none found / not needed (software token) */
	char target[256];	/* "" none found */
	bool officer_present;	/* a card in the officer's reader */
	bool target_present;	/* a card in the target reader */
	char target_why[240];	/* why there is no target ("" when there is) */
} rt_station_readers_info;

/* Chooses the officer's and the target reader as the options and the
 * configuration say (name, pattern, auto). Not finding a target is not an
 * error here: info->target stays "" and target_why says why (the screen
 * shows it); the CLI turns it into its error with
 * rt_station_require_target. Errors: NO_SERVICE, PCSC. */
rt_err *rt_station_find_readers(rt_station *st, rt_station_readers_info *info)
    RT_MUST;
/* The NO_READER error for the state of the last find (NULL if a target
 * reader is chosen). */
rt_err *rt_station_require_target(const rt_station *st) RT_MUST;
/* Sets the target reader explicitly (a reader picker);
 * rt_station_set_target(st, NULL) returns to the configuration's
 * choice (found again at the next find or reload). */
rt_err *rt_station_set_target(rt_station *st, const char *reader) RT_MUST;
/* Every PC/SC reader with its card state and whether it holds an officer
 * card (for a picker). out[] gets up to cap; returns the count via *n. */
rt_err *rt_station_list_readers(rt_station *st, rt_reader_cand *out,
    size_t cap, size_t *n) RT_MUST;

/* ---- reader events -------------------------------------------------------- */

typedef enum {
	RT_EV_NONE = 0,		/* timeout */
	RT_EV_CARD_INSERTED,
	RT_EV_CARD_REMOVED,
	RT_EV_READER_ADDED,
	RT_EV_READER_REMOVED,
} rt_event_kind;

typedef struct {
	rt_event_kind kind;
	char reader[256];
	bool is_target;		/* the event concerns the target reader */
	bool is_officer;	/* ... the officer's reader */
} rt_station_event;

/* Waits up to timeout_ms (0: just look) for a change in the readers or
 * their cards and reports one (several changes come in several calls).
 * A removed target card clears nothing by itself: the adapter reloads
 * (rt_station_reload answers NO_CARD) or keeps showing the old Contents
 * marked as gone. Errors: NO_SERVICE, PCSC. */
rt_err *rt_station_wait_event(rt_station *st, int timeout_ms,
    rt_station_event *ev) RT_MUST;

/* ---- the officer ---------------------------------------------------------- */

typedef struct {
	bool software;		/* a software token (not recommended) */
	char name[256];		/* the officer certificate's CN ("" unknown) */
	char subject[512];	/* its subject DN */
	char reader[256];	/* the officer card's reader ("" software) */
	char warning[240];	/* shown all the time when not "" */
	int pin_retries;	/* Signature PIN tries left, -1 unknown */
} rt_station_officer_info;

/* Opens the officer's token if not open yet (card: connects and reads the
 * certificate, no PIN; software: nothing is decrypted before the submit)
 * and describes it. Errors: NO_READER (no officer card), CERT, card
 * errors. */
rt_err *rt_station_officer(rt_station *st, rt_station_officer_info *out)
    RT_MUST;

/* The same, read again (the Signature PIN's tries left after a submit). */
rt_err *rt_station_officer_refresh(rt_station *st,
    rt_station_officer_info *out) RT_MUST;

/* ---- the target card ------------------------------------------------------ */

/* Reads the card in the target reader into the Contents and starts a new
 * update model on it (procedure preselected when exactly one fits; the
 * actions Blank). A previous Contents and everything typed are dropped.
 * Errors: NO_READER, NO_CARD, NOT_PIV, card errors. */
rt_err *rt_station_reload(rt_station *st) RT_MUST;

/* The Contents read last; NULL before a successful reload. */
const rt_contents *rt_station_contents(const rt_station *st);
/* The update model on it (set procedure, actions, subject, SAN, QC with
 * engine.h); NULL before a successful reload. */
rt_update *rt_station_update(rt_station *st);
/* "serial 10000001" / "GUID ..." of the card read last ("" none). */
const char *rt_station_card_id(const rt_station *st);

/* The procedures offered for the card read last (engine rules), in
 * configuration order; returns the count. */
size_t rt_station_procedures(const rt_station *st, const rt_procedure **out,
    size_t cap);

/* ---- plan and submit ------------------------------------------------------ */

/* Asks what is still to be typed (d->typed), runs the procedure's TC
 * controls when the card holds a TC and they have not run (the card PIN
 * through d->card_pin(1), kept for the submit that follows; the results
 * stay in the update model even when they fail) and builds the plan.
 * dry: the values still to be typed are not asked (the plan shows them
 * missing); the TC controls still need the card PIN (no card_pin dialog:
 * USAGE naming it). Errors: RULE, USAGE (a dialog cancelled or absent),
 * PIN_WRONG, card errors. */
rt_err *rt_station_plan(rt_station *st, const rt_update_dialogs *d, bool dry,
    rt_plan *out) RT_MUST;

/* Flags of rt_station_submit. */
#define RT_SUBMIT_YES 0x01	/* no d->confirm: the caller has confirmed */

/* Submits the plan made by rt_station_plan: d->confirm (unless
 * RT_SUBMIT_YES; a no is CANCELLED, nothing sent), the
 * Signature PIN (d->signature_pin; verified on the officer card at once,
 * a wrong one stops here with PIN_WRONG and the tries left), then the
 * engine's submit (rt_update_submit) on the same card. The secrets of
 * this submit are wiped when it ends, whatever the outcome. res is filled
 * as rt_update_submit fills it. Errors: those of rt_update_submit, and
 * CARD_CHANGED (NO_CARD when none) when the card is not the one read. */
rt_err *rt_station_submit(rt_station *st, const rt_update_dialogs *d,
    unsigned flags, const rt_plan *plan, rt_submit_result *res) RT_MUST;

/* True while the card PIN typed for the TC controls is kept for the
 * submit that follows (the screen then does not announce it again). */
bool rt_station_card_pin_kept(const rt_station *st);

/* Wipes the kept PINs (the adapter calls it when the officer leaves the
 * card, e.g. after a failed plan). */
void rt_station_forget_secrets(rt_station *st);

/* The journal operation of a submit in progress ("" none): a signal
 * handler of the adapter names it in its message. Async-signal-safe read
 * of a fixed buffer. */
const char *rt_station_busy_op(const rt_station *st);

/* ---- the CM host outside an update ----------------------------------------- */

/* The CM host client, its requests protected by the officer's signature
 * (the Signature PIN through d->signature_pin, verified at once), for
 * `raterm request` and `revoke`. Valid until rt_station_cmhost_done,
 * which wipes the PIN and releases the officer's card. */
rt_err *rt_station_cmhost(rt_station *st, const rt_update_dialogs *d,
    cmp_client **out) RT_MUST;
void rt_station_cmhost_done(rt_station *st);
/* A CM host client without the officer, for the one request a CM host
 * answers unprotected: the CA certificates (cmp_client_cacerts; the
 * answer is still verified against the trust anchors). No card, no PIN.
 * Released by rt_station_cmhost_done. */
rt_err *rt_station_cmhost_public(rt_station *st, cmp_client **out) RT_MUST;

/* ---- the journal: open operations and recovery ---------------------------- */

/* The operations without END / ABORT (rt_journal_incomplete). */
rt_err *rt_station_open_ops(rt_station *st, rt_jop **ops, size_t *n) RT_MUST;

/* Recovers one (rt_recover_op) with the card now in the target reader
 * when there is one; the certConf is signed by the officer (the
 * Signature PIN through d->signature_pin, asked once for all the
 * operations of one recovery). Errors: those of rt_recover_op, and of
 * the officer's token. */
rt_err *rt_station_recover(rt_station *st, const rt_jop *op,
    const rt_update_dialogs *d, rt_recover_result *res) RT_MUST;
/* Ends a recovery: the Signature PIN is wiped and the officer's card
 * released. */
void rt_station_recover_done(rt_station *st);

/* ---- the card printer ------------------------------------------------------ */

typedef enum { RT_PRINTER_FEED, RT_PRINTER_EJECT } rt_printer_step;

/* Runs the configured printer command (printer.feed before a Reload,
 * printer.eject after an update) with /bin/sh, for at most 120 s; *status
 * gets its exit status (-1: none configured, nothing run) and out (may be
 * NULL) the first line it printed. Errors: IO naming the command and its
 * exit status when it fails. */
rt_err *rt_station_printer(rt_station *st, rt_printer_step step, int *status,
    char *out, size_t cap) RT_MUST;

#endif
