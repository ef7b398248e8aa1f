/*
 * job.h - update job files: `raterm update --batch JOB.yaml`.
 *
 * A job file says what the command line of `raterm update` says: the
 * target card's reader, the procedure, the action per key slot, the officer
 * and the CM host overrides, for one card or for a list of cards updated
 * one after another. It is read with the configuration's YAML helpers, so
 * errors are diagnostics of the same form: "file:line: field: what was
 * expected"; an unknown key is an error. PINs, passphrases and management
 * keys are never read from a job file: such a key is refused with an error
 * saying that they come from the terminal or --pin-fd. The format is in
 * docs/configuration.md ("Update job files").
 *
 * Ownership: rt_job_new / rt_job_load return an rt_job that the caller
 * frees with rt_job_free(); cards and diagnostics belong to it. Nothing
 * here touches a card, the network or a referenced file.
 */
#ifndef RATERM_JOB_H
#define RATERM_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raterm/config.h"
#include "raterm/err.h"

#define RT_JOB_MAX_CARDS 64

typedef struct {
	uint8_t slot;
	rt_action action;
	unsigned line;
} rt_job_action;

/* What the officer would give on the command line for a key besides its
 * action (--subject, --san, --qc): kind 's' a subject DN, 'a' a
 * subjectAltName "TYPE:VALUE", 'q' a QC statement name (slot 0: every key
 * with an action). */
#define RT_JOB_MAX_REQS 32

typedef struct {
	char kind;
	uint8_t slot;
	char value[256];
	unsigned line;
} rt_job_req;

/* One card of a job. */
typedef struct {
	unsigned line;			/* where the card's entry starts */
	char field[32];			/* "" (single card) or "cards[2]" */
	char reader[256];		/* "": readers.target of the station */
	unsigned reader_line;
	char procedure[RT_NAME_MAX];
	unsigned procedure_line;
	bool procedure_shared;		/* the top-level one of a cards: list */
	rt_job_action actions[PIV_NUM_CERT_SLOTS];
	size_t nactions;
	/* subject: {9c: "CN=..."}, san: {9c: ["email:..."]},
	 * qc: {9c: [esign]} (checked against the procedure when the card
	 * is read) */
	rt_job_req reqs[RT_JOB_MAX_REQS];
	size_t nreqs;
} rt_job_card;

/* A setting the command line could give too; line 0: not in the job. */
typedef struct {
	char value[RT_PATH_MAX];
	unsigned line;
} rt_job_opt;

typedef struct {
	char file[RT_PATH_MAX];
	rt_job_card *cards;
	size_t ncards;
	bool listed;			/* the `cards:` form */
	bool keep_going;		/* on_failure: continue */
	/* overrides of the station configuration (paths resolved against the
	 * job file's directory) */
	rt_job_opt server, trust, tls_ca, transport_ca, attestation_root;
	rt_job_opt officer_reader, officer_token, officer_cert;
	uint8_t officer_slot;		/* 0: not given */
	unsigned officer_slot_line;
	long timeout;			/* 0: not given */
	unsigned timeout_line;
	rt_cfg_diag *diags;
	size_t ndiags;
	size_t nerrors;			/* diagnostics that are not warnings */
} rt_job;

/* An empty job. Errors: NOMEM. */
rt_err *rt_job_new(rt_job **out) RT_MUST;
void rt_job_free(rt_job *j);

/* Parses `text` as if it were file `name` (named in diagnostics; relative
 * paths resolve against its directory) into j, adding diagnostics to j.
 * Returns the number of errors added. */
size_t rt_job_parse(rt_job *j, const char *name, const char *text,
    size_t len);

/* Cross-checks against the station configuration: every card's procedure
 * exists. Returns the number of errors added. */
size_t rt_job_check(rt_job *j, const rt_config *cfg);

/* Reads and parses `path`, then checks it against cfg (when not NULL).
 * *out is set whenever memory allows, also on error, so that all
 * diagnostics can be listed. Returns NULL when there is no error
 * diagnostic, else CONFIG naming the first one and the count. */
rt_err *rt_job_load(const char *path, const rt_config *cfg, rt_job **out)
    RT_MUST;

#endif
