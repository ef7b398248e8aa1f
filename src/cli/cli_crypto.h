/* cli_crypto.h - the crypto commands' shared pieces (src/cli only):
 * PIN/passphrase sources and TC verification output, used by
 * cmd_crypto.c (csr, verify-tc) and by `raterm show --verify-tc`. */
#ifndef RATERM_CLI_CRYPTO_H
#define RATERM_CLI_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "raterm/contents.h"
#include "raterm/err.h"
#include "raterm/piv.h"
#include "raterm/tc.h"
#include "raterm/x509.h"

/* ---- secrets (pin.c) ----------------------------------------------------
 * PINs and passphrases come from the terminal (echo off, /dev/tty) or,
 * for automation, from a file descriptor given by --pin-fd N whose lines
 * are NAME=VALUE ("card=123456", "passphrase=..."). Never from argv or
 * the environment. Everything read is wiped when freed. */
typedef struct cli_secrets cli_secrets;

/* fd < 0: the terminal. Reads and closes fd now.
 * Errors: IO (unreadable fd), USAGE (malformed line). */
rt_err *cli_secrets_open(int fd, cli_secrets **out) RT_MUST;
void cli_secrets_free(cli_secrets *s);
/* The secret `name` (from --pin-fd), or asked on the terminal with
 * `prompt`. A terminal answer is kept (wiped with s) and given again for
 * the same name until cli_secret_forget: the officer types a card's PIN
 * once for its TC controls and its submit. Errors: USAGE (no such line /
 * no terminal), IO. */
rt_err *cli_secret_get(cli_secrets *s, const char *name, const char *prompt,
    char *buf, size_t cap, size_t *len) RT_MUST;
/* True if `name` is at hand without asking (a --pin-fd line, or typed). */
bool cli_secret_known(const cli_secrets *s, const char *name);
/* Forgets (and wipes) a terminal answer: the next card asks again. */
void cli_secret_forget(cli_secrets *s, const char *name);

/* Asks for a value that is not a secret (a subject, an email address)
 * on the terminal, echoed. Errors: USAGE (no terminal, input ended), ARG
 * (longer than cap). */
rt_err *cli_ask_text(const char *prompt, char *buf, size_t cap, size_t *len)
    RT_MUST;

/* rt_pin_cb adapter: ctx is a cli_pin_ctx. */
typedef struct {
	cli_secrets *secrets;
	const char *name;	/* "card" */
} cli_pin_ctx;
rt_err *cli_pin_cb(void *ctx, const char *prompt, char *buf, size_t cap,
    size_t *len);

/* Parses the value of --pin-fd. Returns -1 (and prints) when bad. */
int cli_parse_fd(const char *cmd, const char *s);

/* Default credentials (piv_default_creds' PIV_DEFAULT_* bits) for people:
 * "PIN, PUK and management key" into buf; and for JSON: ["pin", "puk",
 * "management_key"], or null when the card cannot tell (!known). */
const char *cli_default_creds_words(unsigned defaults, char *buf, size_t cap);
void cli_default_creds_json(FILE *f, bool known, unsigned defaults);

/* ---- TC verification (cmd_crypto.c) -------------------------------------- */
typedef struct {
	const char *transport_ca;	/* NULL: RT_DEFAULT_TRANSPORT_CA */
	const char *attest_root;	/* NULL: attestation skipped */
	bool require_attestation;
	rt_tc_bind bind;
	const char *bind_attr;
	int pin_fd;			/* -1: terminal */
} cli_tc_opts;

#define RT_DEFAULT_TRANSPORT_CA "/etc/raterm/transport-ca"

/* Verifies the TCs of `ct` (read from `card`) and prints the results:
 * text after the Contents table, or (json) a `, "tc_verification": [...]`
 * member — the caller has left its JSON object open and closes it.
 * tcas: already loaded transport CAs (NULL: load from o->transport_ca).
 * Returns the exit status: 0 all verified, else that of the first
 * failure (7 for a TC control, 5 PIN, ...). */
int cli_show_verify_tc(rt_card *card, const rt_contents *ct,
    const rt_castore *tcas, const cli_tc_opts *o, bool json);

#endif
