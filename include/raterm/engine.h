/*
 * engine.h - the update workflow, free of any UI: per-key actions on the
 * Contents model, the rules on them, the procedures a card may use, the
 * plan, and the submit pipeline. The TUI and `raterm update`
 * drive it the same way; unit tests drive it directly.
 *
 * Flow:
 *   rt_contents ct  (rt_contents_read)
 *   rt_update u;  rt_update_init(&u, &ct);
 *   rt_update_offered(&u, cfg, ...)          procedures to offer
 *   rt_update_set_procedure(&u, proc)        RULE when not for this card
 *   rt_update_set_action(&u, 0x9a, RT_ACT_REDO)   RULE with the reason
 *   rt_update_tc_needed(&u) -> rt_update_run_tc(&u, card, &tccfg)
 *   rt_update_plan(&u, &plan)                before -> after, per key
 *   rt_update_submit(&u, &plan, &env, &dialogs, &result)
 *
 * The rules (each refusal is an error of kind RULE whose message says why):
 *   - an action is given only for a key the card holds (a row of the
 *     Contents with a key or a certificate);
 *   - Add is refused on a key with a TC (Add would keep the TC on the
 *     card; Redo replaces it), and wherever the card profile holds one
 *     certificate per key (PIV: always; the reason names the profile);
 *   - Issue, Redo and Add only when the procedure allows that action, has
 *     a CM host certificate profile for the slot, and accepts the key's
 *     algorithm;
 *   - on a card holding a TC, only procedures with TC controls are
 *     offered or accepted; Issue and Redo there need the TC controls to
 *     have run and passed on every TC of the card (one failing TC stops
 *     the update of the whole card, naming the control);
 *   - nothing to do (every key Blank) is a valid, empty plan: nothing is
 *     sent.
 *
 * Ownership: rt_update borrows the Contents and the procedure; both must
 * outlive it. Nothing here keeps a secret.
 */
#ifndef RATERM_ENGINE_H
#define RATERM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "raterm/config.h"
#include "raterm/contents.h"
#include "raterm/err.h"
#include "raterm/journal.h"
#include "raterm/signer.h"
#include "raterm/tc.h"

/* ---- card profile capabilities ----------------------------------------------- */

/* Capabilities of the Contents' card profile ("piv"); unknown profiles
 * get the most restrictive set. */
const rt_card_caps *rt_card_caps_of(const rt_contents *ct);

/* True when some row of the card holds a transport certificate. */
bool rt_contents_has_tc(const rt_contents *ct);

/* ---- the station's readers ------------------------------------------------------ */

/* A reader as seen when choosing the officer's and the target reader. */
typedef struct {
	char name[256];
	bool card_present;
	bool officer_card;	/* holds an officer certificate from a
				 * configured officer CA in the officer slot */
} rt_reader_cand;

typedef struct {
	char officer[256];	/* "" when none was found */
	char target[256];	/* "" when none was found */
} rt_station_readers;

/* Chooses the officer's and the target reader among cands (readers with
 * a card only) as cfg->readers says: a name or pattern selects matching
 * readers; auto selects, for the officer, the reader whose card holds an
 * officer certificate and, for the target, the reader with a card that is
 * not the officer's. Errors: NO_READER naming the selection when the
 * target is not exactly one reader (the officer reader may stay ""). */
rt_err *rt_station_pick(const rt_config *cfg, const rt_reader_cand *cands,
    size_t n, rt_station_readers *out) RT_MUST;

/* Lists the PC/SC readers, probes each card for an officer certificate
 * (cfg->officer.slot; issued by one of officer_cas, which may be NULL:
 * no card is an officer card) and picks as rt_station_pick.
 * Readers this process already holds are not probed (connecting to a card
 * whose transaction is held waits until it ends): target_held (may be
 * NULL) is a card that is not the officer's, officer_held (may be NULL)
 * the officer's. Errors: NO_SERVICE, PCSC, NO_READER. */
rt_err *rt_station_readers_find(const rt_config *cfg,
    const rt_castore *officer_cas, const char *target_held,
    const char *officer_held, rt_station_readers *out) RT_MUST;

/* ---- the update model ---------------------------------------------------------- */

/* What the officer gives for one key besides the action: the subject and
 * the subjectAltName names when the procedure has them typed by the
 * officer (subject: officer, san: officer), and the QC statements added
 * from the procedure's qc_statements.officer_may_add. */
#define RT_REQ_MAX_SAN 4

typedef struct {
	unsigned type;			/* RT_SAN_EMAIL, _UPN or _DNS */
	char value[128];
} rt_san_name;

typedef struct {
	char subject[256];		/* DN as typed; "" none yet */
	rt_san_name san[RT_REQ_MAX_SAN];
	size_t nsan;
	unsigned qc_add;		/* RT_QCO_* added by the officer */
} rt_key_req;

typedef struct {
	const rt_contents *ct;
	const rt_card_caps *caps;
	const rt_procedure *proc;	/* NULL: none chosen yet */
	rt_action action[RT_MAX_KEYS];	/* per row of ct */
	rt_key_req req[RT_MAX_KEYS];	/* per row of ct */
	bool chosen[RT_MAX_KEYS];	/* rt_update_choose_cert: the row a
					 * key's action goes to */
	bool ca_asked;			/* rt_update_set_ca_certs */
	bool ca_replace;
	bool tc_ran;			/* rt_update_run_tc / set_tc_results */
	rt_tc_result tc[RT_MAX_KEYS];
	size_t ntc;
} rt_update;

void rt_update_init(rt_update *u, const rt_contents *ct);

/* The row index of slot in u->ct: the key's chosen certificate
 * (rt_update_choose_cert), else its first row; -1 if the card has no
 * such row. */
int rt_update_row(const rt_update *u, uint8_t slot);

/* Chooses which of a key's certificates (rt_key_row.cert_index, PKCS#15:
 * a key may hold several) the key's action is on: Redo then replaces
 * exactly that one. The key's action and request move with it; one
 * certificate of a key at a time. Errors: NOT_FOUND (no such
 * certificate). */
rt_err *rt_update_choose_cert(rt_update *u, uint8_t slot, int cert_index)
    RT_MUST;

/* Whether procedure p may be used for this card. Errors: RULE (a card
 * with a TC and a procedure without TC controls). */
rt_err *rt_update_check_procedure(const rt_update *u, const rt_procedure *p)
    RT_MUST;

/* The procedures of cfg that may be offered for this card, in
 * configuration order: out[] gets up to cap pointers, returns the count. */
size_t rt_update_offered(const rt_update *u, const rt_config *cfg,
    const rt_procedure **out, size_t cap);

/* Chooses the procedure; actions already chosen that it does not allow are
 * reset to Blank. Errors: RULE (see check_procedure). */
rt_err *rt_update_set_procedure(rt_update *u, const rt_procedure *p) RT_MUST;

/* Flags of rt_update_check_action. */
#define RT_CHECK_TC_RESULTS 0x01	/* also require passed TC controls */

/* Whether action a is allowed for slot (NULL) or why not (RULE, or
 * NOT_FOUND for a slot the card does not hold). The UI shows disabled
 * entries with this message. Blank is always allowed on a row. */
rt_err *rt_update_check_action(const rt_update *u, uint8_t slot, rt_action a,
    unsigned flags) RT_MUST;

/* Sets the action of slot after rt_update_check_action(.., 0). */
rt_err *rt_update_set_action(rt_update *u, uint8_t slot, rt_action a) RT_MUST;

/* Replace CA certificate(s): the CM host's CA certificates (caCerts)
 * written to the card even when no key has an action; replace: the
 * card's other CA certificates go, else they are kept and the missing
 * ones added. Errors: RULE (no procedure, a procedure without
 * ca_certificates: {write: true}, or a card profile that holds no CA
 * certificates: the reason named). */
rt_err *rt_update_set_ca_certs(rt_update *u, bool replace) RT_MUST;

/* True when a chosen Issue/Redo/Add on this card needs the TC controls
 * (the card holds a TC) and they have not run yet. */
bool rt_update_tc_needed(const rt_update *u);

/* The TC verification configuration the procedure asks for, on top of
 * base (transport CAs, attestation roots, PIN callback): binding off when
 * the procedure has no binding control, attestation off / if offered /
 * required as configured. */
void rt_update_tc_config(const rt_update *u, const rt_tc_config *base,
    rt_tc_config *out);

/* Runs the procedure's TC controls on every TC of the card and records the
 * results (also when some fail: the failure is reported by plan/check).
 * Errors: ARG (no procedure or no TC controls), card errors (CARD_REMOVED,
 * PIN_WRONG, ...) that stop the controls. */
rt_err *rt_update_run_tc(rt_update *u, rt_card *card,
    const rt_tc_config *base) RT_MUST;

/* Records TC results obtained elsewhere (tests, the UI's own run). */
void rt_update_set_tc_results(rt_update *u, const rt_tc_result *res, size_t n);

/* ---- subject, subjectAltName and QC statements per key --------------------------- */

struct rt_update_dialogs;

/* "email", "upn", "dns" for RT_SAN_*; "?" otherwise. */
const char *rt_san_type_name(unsigned type);
/* "email", "upn", "dns" (case-insensitive) -> RT_SAN_*; 0 if unknown. */
unsigned rt_san_type_parse(const char *s);

/* The subject the officer typed for slot ("CN=Jane Doe,O=Example,C=DE",
 * the syntax of `raterm csr --subject`). Set after the procedure.
 * Errors (messages name the slot and the field): NOT_FOUND (the card has
 * no such key), RULE (no procedure, or its subject is not typed by the
 * officer), ARG (the DN does not parse). */
rt_err *rt_update_set_subject(rt_update *u, uint8_t slot, const char *dn)
    RT_MUST;

/* Adds a subjectAltName name typed by the officer, "TYPE:VALUE" with TYPE
 * email (local@domain), upn (user@realm) or dns (host name). Errors:
 * NOT_FOUND, RULE (the procedure's san is not officer, or TYPE is not in
 * its san_types), ARG (malformed value, too many names). */
rt_err *rt_update_add_san(rt_update *u, uint8_t slot, const char *spec)
    RT_MUST;

/* Adds a QC statement the officer may add ("compliance", "sscd", "esign",
 * "eseal", "web"). Errors: NOT_FOUND, RULE (not in the procedure's
 * qc_statements.officer_may_add), ARG (unknown name). */
rt_err *rt_update_add_qc(rt_update *u, uint8_t slot, const char *name)
    RT_MUST;

/* What is still to be typed for slot under the procedure (its action is
 * Issue, Redo or Add): RT_REQ_NEED_SUBJECT and/or the RT_SAN_* types of
 * san_types when no subjectAltName was typed (shifted by 8). 0: nothing. */
#define RT_REQ_NEED_SUBJECT 0x01
#define RT_REQ_NEED_SAN(t) ((unsigned)(t) << 8)
unsigned rt_update_missing(const rt_update *u, uint8_t slot);

/* Asks through d->typed for every value still missing on a key with an
 * action (the subject; one name per SAN type of san_types, an empty
 * answer skipping a type while another gives one) and checks it as the
 * setters do. Nothing is sent. Errors: USAGE naming the slot and the
 * field when there is no dialog or it gives nothing, the dialog's error
 * (USAGE when cancelled), those of the setters. */
rt_err *rt_update_ask_typed(rt_update *u, const struct rt_update_dialogs *d)
    RT_MUST;

/* ---- the plan -------------------------------------------------------------------- */

typedef struct {
	uint8_t slot;
	rt_action action;
	char alg[16];
	char profile[RT_NAME_MAX];	/* CM host certificate profile */
	bool tc;			/* the key holds a TC now */
	char before[300];		/* what the slot holds now */
	char after[300];		/* what it will hold / what is issued */
	bool writes_card;		/* Redo / Add write; Issue does not */
	int cert_index;			/* Redo: the certificate replaced
					 * (rt_key_row.cert_index); Add:
					 * RT_CARD_CERT_NEW */
	uint8_t pin;			/* the card PIN the key's signatures
					 * take (rt_key_row.pin) */
	/* what is requested besides the key */
	rt_source subject_src;		/* the procedure's subject: */
	char subject[300];		/* the DN; "" still to be typed */
	rt_source san_src;		/* the procedure's san: */
	char san[300];			/* "email:a@b, dns:h"; "" none */
	bool has_qc;			/* fixed + added QC statements */
	rt_qc qc;
	unsigned missing;		/* rt_update_missing */
} rt_plan_step;

typedef struct {
	char procedure[RT_NAME_MAX];
	char card[96];			/* "serial 10000001" / "GUID ..." */
	char reader[256];
	rt_plan_step steps[RT_MAX_KEYS];	/* non-Blank keys only */
	size_t nsteps;
	bool tc_verified;		/* TC controls ran and passed */
	unsigned card_pins;		/* target card PINs needed (0: none):
					 * the procedure's card_pins, or where
					 * the second PIN is a PIN of its own
					 * (card.h second_pin_own) the PINs
					 * the plan's keys take (steps' pin) */
	bool second_pin_own;		/* the second PIN is its own PIN */
	bool operator_credential;	/* the card will be written and the
					 * procedure needs the OP credential */
	bool write_ca_certs;		/* and the profile can hold them: the
					 * CM host's caCerts written after the
					 * keys, as an operation of its own */
	bool replace_ca_certs;		/* the card's other CA certificates
					 * go (else kept, the missing added) */
	bool has_qc;
	rt_qc qc;			/* fixed QC statements */
	char notes[4][240];		/* e.g. CA certificates not on PIV */
	size_t nnotes;
} rt_plan;

/* Builds the plan of the chosen actions, checking every rule again with
 * RT_CHECK_TC_RESULTS. An empty plan (nsteps 0) is valid: nothing to do.
 * Errors: RULE (the first refused action, or no procedure chosen while
 * some action is set). */
rt_err *rt_update_plan(const rt_update *u, rt_plan *out) RT_MUST;

/* Prints the plan for people: a header and one line per key,
 * "9a  Redo   TC "Card 1 9a" (transport CA) -> new certificate, profile
 * piv-auth, written to the card". */
void rt_plan_print(const rt_plan *p, FILE *f);
/* The same, wrapped at cols columns (display width) instead of 80 (a
 * dialog of the screen). */
void rt_plan_print_cols(const rt_plan *p, FILE *f, size_t cols);
/* The request lines of one step (rt_plan_print prints them under the
 * step): "subject CN=... (tc)", "subjectAltName email:... (officer)",
 * "QC statements QcCompliance, ..."; values still to be typed say so. */
void rt_plan_print_request(const rt_plan_step *st, FILE *f);

/* ---- submit (the CMP pipeline plugs in here) ------------------------------------ */

struct cmp_client;
struct rt_journal;
struct rt_audit;

/* Dialog callbacks: the UI asks, the engine never stores what it gets
 * beyond the step that needs it (buffers are wiped). Each may return an
 * error (USAGE when the officer cancels): the submit stops cleanly. */
typedef struct rt_update_dialogs {
	void *ctx;
	/* A value the officer types for a key (not a secret): field is
	 * "subject" (a DN) or a subjectAltName type ("email", "upn", "dns");
	 * an empty answer (*len 0) gives nothing. */
	rt_err *(*typed)(void *ctx, uint8_t slot, const char *field,
	    const char *prompt, char *buf, size_t cap, size_t *len);
	/* The target card's PIN number `which` (1, or 2 for the second PIN
	 * when the card's contents need two). */
	rt_err *(*card_pin)(void *ctx, unsigned which, const char *prompt,
	    char *buf, size_t cap, size_t *len);
	/* The operator credential (the card's management key for PIV), when
	 * the procedure requires it and the CM host does not hold it. */
	rt_err *(*operator_credential)(void *ctx, const char *prompt,
	    uint8_t *buf, size_t cap, size_t *len);
	/* The same where the card profile's credential is a PIN (PKCS#15:
	 * the SO PIN, caps.operator_is_pin): typed as a PIN, not in hex. */
	rt_err *(*operator_pin)(void *ctx, const char *prompt, char *buf,
	    size_t cap, size_t *len);
	/* Whether CA certificates already on the card are replaced. */
	rt_err *(*replace_ca_certs)(void *ctx, const rt_plan *p, bool *replace);
	/* Progress of a step (may be NULL): "sending", "written", ... */
	void (*progress)(void *ctx, const rt_plan_step *s, const char *what);
	/* ---- asked by the station (station.h) ---- */
	/* The officer's Signature PIN (officer card) or the software
	 * token's passphrase; the prompt names the card and the tries
	 * left. */
	rt_err *(*signature_pin)(void *ctx, const char *prompt, char *buf,
	    size_t cap, size_t *len);
	/* The plan, before anything is sent: *yes to go on. */
	rt_err *(*confirm)(void *ctx, const rt_plan *p, bool *yes);
	/* Polled between steps (may be NULL): true asks to cancel. Never
	 * honoured in the middle of a card write or between issuance and
	 * the journal; after issuance a cancel rejects what is not yet on
	 * the card in the certConf. */
	bool (*cancel)(void *ctx);
} rt_update_dialogs;

/* The operator credential as the officer types it (both adapters): the
 * key in hex, or "default" for the card profile's documented default key
 * (*out 0: what operator_credential answers for it). The text is wiped.
 * Errors: ARG (neither, or longer than cap). */
rt_err *rt_operator_credential_parse(char *text, size_t len, uint8_t *buf,
    size_t cap, size_t *out) RT_MUST;

typedef struct {
	rt_card *card;			/* the target card, open */
	rt_signer *officer;		/* protects the CMP request */
	struct cmp_client *cmp;		/* the CM host */
	struct rt_journal *journal;	/* durable steps (journal.h) */
	struct rt_audit *audit;		/* one line per key (journal.h) */
	const char *officer_name;	/* for the journal and the audit */
	const char *issued_dir;		/* Issue: certificates saved here as
					 * PEM (created 0700 when missing) */
	char *busy_op;			/* may be NULL: gets the journal
					 * operation's id while it is open */
	size_t busy_cap;
} rt_submit_env;

typedef enum {
	RT_STEP_NOT_RUN = 0,
	RT_STEP_DONE,
	RT_STEP_FAILED,
	RT_STEP_ROLLED_BACK,
} rt_step_state;

/* "done", "FAILED", "rejected", "not run". */
const char *rt_step_state_name(rt_step_state s);

typedef struct {
	rt_step_state state[RT_MAX_KEYS];	/* per plan step */
	char serial[RT_MAX_KEYS][132];	/* issued certificate serial */
	char message[RT_MAX_KEYS][240];
	char saved[RT_MAX_KEYS][RT_PATH_MAX];	/* Issue: the file */
	bool sent;			/* anything reached the CM host */
	bool issued;			/* the CM host issued certificates */
	bool confirmed;			/* certConf answered by pkiConf */
	bool unknown;			/* sent, the outcome unknown (an
					 * answer lost, a write the card did
					 * not answer): the operation stays
					 * open for `raterm recover` */
	time_t confirm_by;		/* the CM host's confirmWaitTime: it
					 * revokes what is not confirmed then;
					 * 0: unknown */
	char op_id[64];			/* the journal's operation, "" none */
	rt_step_state ca_state;		/* the CA certificates (plan's
					 * write_ca_certs) */
	char ca_message[240];
	char ca_op_id[64];		/* their journal operation */
} rt_submit_result;

/* Step i's result in plain words, one line for people: "9a  Redo   done
 * written to the card, read back and tested (serial ...)", with
 * "[not confirmed]" when the certConf did not go through. */
void rt_submit_result_line(const rt_plan *p, const rt_submit_result *res,
    size_t i, char *buf, size_t cap);

/* Runs the plan (src/engine/submit.c):
 *   1. the rules again (RULE if the plan no longer matches them);
 *   2. before anything is sent, when a key is written or possession must
 *      be proven: the card PIN(s) through d->card_pin, verified on the
 *      card (a wrong PIN stops here: nothing issued);
 *   3. journal BEGIN, PLAN per key, REQUEST; one cr for all keys of the
 *      card in one protected message, each request with its slot's
 *      certificate profile (id-it-certProfile carries one per request),
 *      the subject and key from the card, POPO raVerified after passed TC
 *      controls, else a signature by the card's key; when the card is
 *      written, the card's management key asked in the same cr
 *      (generalInfo id-it-raterm-cardMgmtKey); ISSUED per key; then,
 *      before the first write, management-key authentication with the
 *      key the CM host sent in the cp, else the one
 *      d->operator_credential gives (asked only then; failing or
 *      cancelled, nothing is written and everything is rejected in 5.);
 *   4. per key: Issue saves the certificate as PEM in env->issued_dir and
 *      leaves the card; Redo journals WRITE, replaces the slot's
 *      certificate, reads it back (same bytes) and makes a test signature
 *      with the key checked against the new certificate, then WRITTEN;
 *   5. CONFIRM, certConf accepting what is on the card (or saved) and
 *      rejecting the rest, pkiConf, CONFIRMED, END; one audit line per key;
 *   6. with write_ca_certs (also alone, no key with an action): a journal
 *      operation of its own: the CM host's caCerts (genm), the operator
 *      credential (the CM host's, else asked; not again when 4. gave
 *      it), WRITE, the card's CA certificates replaced or completed and
 *      read back, WRITTEN, END (res->ca_state, ca_message).
 * Three outcomes, never two: a write whose answer or check fails is
 * decided by reading the slot again (the new certificate: on the card;
 * another or none: not, rejected); a card that cannot tell makes it
 * unknown: no certConf at all, the operation open for `raterm recover`
 * with the card (res->unknown). A cr sent whose answer is lost is unknown
 * too (never "nothing issued"): its transactionID is journaled before it
 * is sent, and recovery asks the CM host (txStatus). A certConf without
 * an answer leaves the operation open as well. res says per step what
 * happened; res->confirm_by when the CM host revokes what is not
 * confirmed. An empty plan returns NULL at once and sends nothing.
 * Errors: RULE, ARG (env incomplete), USAGE (a dialog cancelled), those
 * of the card (PIN_WRONG, AUTH, CARD_REMOVED, ...), the CM host (CMP_*),
 * the journal (IO); an error is also returned when some key failed
 * (the first failure), with res filled. */
rt_err *rt_update_submit(rt_update *u, const rt_plan *p,
    const rt_submit_env *env, const rt_update_dialogs *d,
    rt_submit_result *res) RT_MUST;

/* ---- recovery (src/engine/recover.c) ------------------------------------------------ */

typedef struct {
	size_t nissued;			/* certificates the CM host issued */
	size_t naccepted, nrejected;
	bool skipped;			/* the card is needed and not here */
	bool finished;			/* END or ABORT appended */
	char line[RT_MAX_KEYS][300];	/* per issued certificate */
	size_t nlines;
	char summary[300];
} rt_recover_result;

/* Brings one incomplete journal operation (rt_journal_incomplete) to the
 * consistent state: every certificate the CM host issued is either on
 * the card (Redo: the slot holds exactly that certificate; Issue: saved
 * on the station) and accepted, or rejected, in a certConf sent with the
 * operation's transaction (its transactionID and the CM host's nonce are
 * in the journal), then END. Nothing issued: ABORT. A confirmation
 * already received: END. ct: the Contents of the card now in the target
 * reader (NULL: none); when a written certificate must be checked and the
 * card is not that of the operation, nothing is done (res->skipped).
 * env: cmp, journal, audit and officer_name are used.
 * Errors: those of the CM host (the operation stays open when it cannot
 * be reached; a refusal of the certConf — e.g. the CM host already
 * revoked what was not confirmed in time — ends it with ABORT and is
 * reported in res, not as an error), IO (journal). */
rt_err *rt_recover_op(const rt_jop *op, const rt_contents *ct,
    const rt_submit_env *env, rt_recover_result *res) RT_MUST;

/* When the CM host revokes what the operation has not confirmed (the cp's
 * confirmWaitTime, journaled with the transaction); 0: not known. */
time_t rt_jop_confirm_by(const rt_jop *op);

/* The grace deadline t as local "YYYY-MM-DD HH:MM" in out ("" when t is
 * 0: not known); the one format of every interruption message. */
void rt_grace_fmt(time_t t, char *out, size_t cap);

#endif
