/* engine_int.h - helpers shared inside src/engine (not installed). */
#ifndef RATERM_ENGINE_INT_H
#define RATERM_ENGINE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "raterm/contents.h"
#include "raterm/engine.h"
#include "raterm/qc.h"
#include "raterm/station.h"

/* "serial 10000001" / "GUID ..." / "(no serial or GUID)": how the plan,
 * the journal and the audit name a card. */
void eng_card_name(const rt_contents *ct, char *out, size_t cap);

/* template.c: the QC statements of a key (the procedure's fixed ones and
 * those the officer added; false: none); a GeneralNames value described
 * ("email:a@b, dns:h"); the request part of a plan step; the DER
 * Extensions of row's CertTemplate (*der NULL when none; free()). */
bool eng_key_qc(const rt_procedure *p, const rt_key_req *kr, rt_qc *out);
void eng_san_describe(const uint8_t *v, size_t len, char *out, size_t cap);
void eng_plan_request(const rt_update *u, int row, rt_plan_step *st);
rt_err *eng_build_extensions(const rt_update *u, int row, uint8_t **der,
    size_t *len) RT_MUST;

/* readers.c: true if the card in reader `name` holds a certificate in
 * `slot` issued by one of cas (NULL: false); open NULL: rt_pcsc_open. */
bool eng_officer_card(rt_reader_open_fn open, void *ctx, const char *name,
    uint8_t slot, const rt_castore *cas);

#endif
