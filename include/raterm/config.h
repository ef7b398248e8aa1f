/*
 * config.h - the station configuration (raterm.yaml) and the token
 * procedures (procedures.d/NAME.yaml), read with libyaml.
 *
 * Where the station configuration comes from (rt_config_path): `-c FILE`,
 * else $RATERM_CONFIG, else /etc/raterm/raterm.yaml. Only the *path* may
 * come from the environment; no secret is ever read from the
 * configuration or the environment (PINs come from dialogs).
 *
 * Relative paths inside raterm.yaml are resolved against the directory of
 * the file that names them. Every procedure file in the procedures
 * directory whose name ends in .yaml or .yml is read, in name order.
 *
 * Errors are collected, not stopped at: each is a diagnostic naming the
 * file, the line (1-based; 0 when the file could not be read at all), the
 * field (a dotted path: "readers.officer", "profiles.9a") and what was
 * expected. An unknown key is an error. The full format is in
 * docs/configuration.md.
 *
 * Ownership: rt_config_load / rt_config_new return an rt_config that the
 * caller frees with rt_config_free(); procedures and diagnostics belong to
 * it. Nothing here touches a card or the network; referenced files
 * (CA certificates, trust anchors) are only checked for existence
 * (rt_config_check_files).
 */
#ifndef RATERM_CONFIG_H
#define RATERM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raterm/err.h"
#include "raterm/piv.h"
#include "raterm/qc.h"

#define RT_CONFIG_DEFAULT "/etc/raterm/raterm.yaml"
#define RT_CONFIG_ENV "RATERM_CONFIG"
#define RT_PATH_MAX 512
#define RT_NAME_MAX 64

/* ---- diagnostics ----------------------------------------------------------- */

typedef struct {
	char file[RT_PATH_MAX];
	unsigned line;		/* 1-based; 0: the file as a whole */
	char field[96];		/* "readers.officer"; "" for the document */
	char msg[320];		/* what is wrong and what was expected */
	bool warning;		/* does not make the configuration invalid */
} rt_cfg_diag;

/* "file:line: field: message" (", warning" marked), one line. */
void rt_cfg_diag_format(const rt_cfg_diag *d, char *buf, size_t cap);

/* ---- readers and the officer token ---------------------------------------- */

typedef enum {
	RT_READER_AUTO = 0,	/* target: the reader holding a card that is not
				 * the officer's; officer: the card holding an
				 * officer certificate from a configured
				 * officer CA */
	RT_READER_NAME,		/* exact PC/SC reader name */
	RT_READER_PATTERN,	/* shell pattern (fnmatch), must match one */
} rt_reader_match;

typedef struct {
	rt_reader_match match;
	char value[256];
} rt_reader_sel;

/* True if reader name `name` is selected by `sel` (AUTO selects any). */
bool rt_reader_sel_matches(const rt_reader_sel *sel, const char *name);

typedef enum {
	RT_OFFICER_CARD = 0,	/* key in a slot of the officer's card */
	RT_OFFICER_SOFTWARE,	/* encrypted key file: warned every use */
} rt_officer_kind;

typedef struct {
	rt_officer_kind kind;
	uint8_t slot;			/* card: default 9c */
	char key_file[RT_PATH_MAX];	/* software */
	char cert_file[RT_PATH_MAX];	/* software: optional */
	char officer_cas[RT_PATH_MAX];	/* officer CA(s): file or directory */
} rt_officer_cfg;

/* ---- procedures -------------------------------------------------------------- */

typedef enum {
	RT_ACT_BLANK = 0,
	RT_ACT_ISSUE,
	RT_ACT_REDO,
	RT_ACT_ADD,
	RT_ACT__COUNT
} rt_action;

const char *rt_action_name(rt_action a);	/* "blank", "issue", ... */
const char *rt_action_title(rt_action a);	/* "Blank", "Issue", ... */
bool rt_action_parse(const char *s, rt_action *a);	/* case-insensitive */

/* TC-authenticity controls (tc.h), as a bit set. */
#define RT_TCC_CHAIN       0x01
#define RT_TCC_POSSESSION  0x02
#define RT_TCC_BINDING     0x04
#define RT_TCC_ATTESTATION 0x08
#define RT_TCC_ALL         0x0F

/* Where a certificate's subject or subjectAltName comes from. */
typedef enum {
	RT_SRC_NONE = 0,	/* (SAN only) no subjectAltName */
	RT_SRC_TC,		/* copied from the slot's transport certificate */
	RT_SRC_CARD,		/* from the slot's current certificate */
	RT_SRC_OFFICER,		/* typed by the officer */
} rt_source;

const char *rt_source_name(rt_source s);	/* "none", "tc", "card", "officer" */

/* subjectAltName types the officer may be asked for. */
#define RT_SAN_EMAIL 0x01
#define RT_SAN_UPN   0x02
#define RT_SAN_DNS   0x04

typedef struct {
	uint8_t slot;
	char profile[RT_NAME_MAX];	/* CM host certificate profile */
} rt_slot_profile;

typedef struct {
	char name[RT_NAME_MAX];
	char description[256];
	char file[RT_PATH_MAX];
	unsigned line;			/* where `name` is */
	bool allowed[RT_ACT__COUNT];	/* [RT_ACT_BLANK] is always true */
	unsigned tc_controls;		/* RT_TCC_*; 0: no TC controls */
	bool attestation_required;	/* attestation must pass, not be skipped */
	rt_slot_profile profiles[PIV_NUM_CERT_SLOTS];
	size_t nprofiles;
	rt_source subject;
	rt_source san;
	unsigned san_types;		/* RT_SAN_* (san: officer) */
	piv_alg algorithms[8];		/* allowed key algorithms; none: any */
	size_t nalgorithms;
	rt_qc qc_fixed;			/* statements every certificate gets */
	bool has_qc_fixed;
	unsigned qc_optional;		/* RT_QCO_* the officer may add */
	unsigned card_pins;		/* 1 or 2 */
	bool operator_credential;	/* CA certificates need the OP credential */
	bool write_ca_certs;		/* CA certificates are written to the card */
} rt_procedure;

/* QC statements the officer may add. */
#define RT_QCO_COMPLIANCE 0x01
#define RT_QCO_SSCD       0x02
#define RT_QCO_ESIGN      0x04
#define RT_QCO_ESEAL      0x08
#define RT_QCO_WEB        0x10

/* The profile for `slot`, NULL if the procedure has none. */
const char *rt_procedure_profile(const rt_procedure *p, uint8_t slot);
/* True if the procedure allows key algorithm `alg` ("ECCP256"; "" unknown:
 * allowed only when the procedure lists no algorithms). */
bool rt_procedure_alg_ok(const rt_procedure *p, const char *alg);

/* ---- YAML -------------------------------------------------------------------- */

/* Collections nest at most this deep in every YAML file read (station
 * configuration, procedures, job files, cmhost's configuration): libyaml
 * composes deeply nested documents in quadratic time (100,000 levels: 37 s),
 * and no configuration needs more than a handful. */
#define RT_YAML_MAX_DEPTH 64

/* 0 if text nests collections at most RT_YAML_MAX_DEPTH deep, else the
 * (1-based) line of the first collection too deep. Reads only up to it. A
 * syntax error is left to the loader (0). */
unsigned long rt_yaml_too_deep(const char *text, size_t len);

/* ---- the station configuration ----------------------------------------------- */

typedef struct {
	char file[RT_PATH_MAX];		/* the raterm.yaml read */
	rt_reader_sel officer_reader;
	rt_reader_sel target_reader;
	rt_officer_cfg officer;
	char cmhost_url[RT_PATH_MAX];
	char cmhost_trust[RT_PATH_MAX];	/* TLS trust anchor(s); "" system */
	/* revocation: how raterm show --check-revocation and the screen ask
	 * whether the card's certificates are revoked (revocation.h) */
	bool rev_check_off;		/* revocation.check: off */
	char rev_ocsp_url[RT_PATH_MAX];	/* revocation.ocsp_url: every OCSP
					 * request there; "none": no OCSP;
					 * "": each certificate's AIA, else
					 * the CM host's /ocsp */
	bool rev_crl_off;		/* revocation.crl: false */
	unsigned rev_timeout;		/* revocation.timeout seconds; 0: 10 */
	char transport_cas[RT_PATH_MAX];
	char attestation_roots[RT_PATH_MAX];	/* "" none */
	char journal[RT_PATH_MAX];	/* directory */
	char audit[RT_PATH_MAX];	/* file */
	char procedures_dir[RT_PATH_MAX];
	/* ui: the screen's defaults (raterm ui options override them) */
	bool ui_pin_none;		/* pin_echo: none (default star) */
	bool ui_ascii;			/* ascii: true */
	/* printer: shell commands run by the station before a Reload
	 * (feed) and after an update (eject); "" none */
	char printer_feed[RT_PATH_MAX];
	char printer_eject[RT_PATH_MAX];
	struct {		/* where path fields were given */
		char field[32];
		unsigned line;
	} lines[16];
	size_t nlines;
	rt_procedure *procs;
	size_t nprocs;
	rt_cfg_diag *diags;
	size_t ndiags;
	size_t nerrors;			/* diagnostics that are not warnings */
} rt_config;

/* The path to read: `cli` if given, else $RATERM_CONFIG, else the default. */
const char *rt_config_path(const char *cli);

/* An empty configuration with the defaults (officer slot 9c, readers
 * auto). Errors: NOMEM. */
rt_err *rt_config_new(rt_config **out) RT_MUST;
void rt_config_free(rt_config *c);

/* Reads `path` and every procedure of its procedures directory into a new
 * configuration. *out is set whenever memory allows, also on error, so
 * that all diagnostics can be listed. Returns NULL when there is no error
 * diagnostic (warnings allowed), else CONFIG naming the first one and
 * the count. */
rt_err *rt_config_load(const char *path, rt_config **out) RT_MUST;

/* Buffer-level parsers (unit tests, fuzzing): parse `text` as if it were
 * file `name` (used in diagnostics and to resolve relative paths) into c,
 * adding diagnostics to c. rt_config_parse_station does not read the
 * procedures directory. Return the number of errors added. */
size_t rt_config_parse_station(rt_config *c, const char *name,
    const char *text, size_t len);
size_t rt_config_parse_procedure(rt_config *c, const char *name,
    const char *text, size_t len);
/* Reads every *.yaml / *.yml of dir as procedures; returns errors added. */
size_t rt_config_load_procedures(rt_config *c, const char *dir);

/* Adds a warning for every referenced file (CAs, trust anchors, token
 * files) that does not exist; with `strict` they are errors. */
void rt_config_check_files(rt_config *c, bool strict);

/* The procedure called `name`, NULL if none. */
const rt_procedure *rt_config_procedure(const rt_config *c, const char *name);

/* Adds a diagnostic (used by the parsers; exposed for callers that check
 * cross-references of their own). */
void rt_config_diag_add(rt_config *c, const char *file, unsigned line,
    const char *field, bool warning, const char *fmt, ...) RT_PRINTF(6, 7);

#endif
