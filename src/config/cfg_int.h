/* cfg_int.h - the YAML helpers shared by the parsers of src/config
 * (config.c: raterm.yaml and procedures; job.c: update job files). Not a
 * public interface. Every helper that finds something wrong records a
 * diagnostic "file:line: field: what was expected" in p->c and counts it
 * in p->errors. */
#ifndef RATERM_CFG_INT_H
#define RATERM_CFG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "raterm/config.h"

typedef struct cy_ctx cy_ctx;
typedef cy_ctx pctx;

struct cy_ctx {
	rt_config *c;		/* where diagnostics go */
	const char *file;	/* named in diagnostics; relative paths resolve
				 * against its directory */
	yaml_document_t *doc;
	size_t errors;
	/* optional: called by cy_walk_map for a key that is not in the
	 * handler table; returns true when it recorded an error of its own
	 * (then no "unknown key" error is added) */
	bool (*unknown_key)(pctx *p, const yaml_node_t *key, const char *field);
};

typedef void (*item_fn)(pctx *p, const yaml_node_t *item, const char *field,
    void *arg);
typedef void (*key_fn)(pctx *p, const yaml_node_t *val, const char *field,
    void *obj);
typedef struct {
	const char *key;
	key_fn fn;
} key_handler;

unsigned cy_line_of(const yaml_node_t *n);	/* 1-based; 0 for NULL */
void cy_err_at(pctx *p, const yaml_node_t *n, const char *field,
    const char *fmt, ...) RT_PRINTF(4, 5);
const char *cy_node_kind(const yaml_node_t *n);	/* "a scalar", "a list" */
yaml_node_t *cy_node(pctx *p, int i);
/* A scalar's text, NULL if n is not a scalar. */
const char *cy_scalar(const yaml_node_t *n);
bool cy_is_null_scalar(const yaml_node_t *n);	/* "", ~, null */
/* "parent.key" (or "key"). */
void cy_fieldname(char *out, size_t cap, const char *parent, const char *key);

/* Typed values: false (recorded) when n is not one. */
bool cy_get_str(pctx *p, const yaml_node_t *n, const char *field, char *out,
    size_t cap);
bool cy_get_bool(pctx *p, const yaml_node_t *n, const char *field, bool *out);
bool cy_get_uint(pctx *p, const yaml_node_t *n, const char *field,
    unsigned min, unsigned max, unsigned *out);
bool cy_get_key(pctx *p, const yaml_node_t *n, const char *field,
    uint8_t *key);
bool cy_get_slot(pctx *p, const yaml_node_t *n, const char *field,
    uint8_t *slot);
/* A path, resolved against the directory of p->file. */
bool cy_get_path(pctx *p, const yaml_node_t *n, const char *field, char *out,
    size_t cap);
/* One of `names` (NULL-terminated): its index, or -1 (recorded). */
int cy_get_enum(pctx *p, const yaml_node_t *n, const char *field,
    const char *const *names);
/* A sequence, or a single scalar as a one-item list: fn per item. */
bool cy_each_item(pctx *p, const yaml_node_t *n, const char *field,
    item_fn fn, void *arg);
/* Mapping walker: for each key, the handler table entry with that name is
 * called; unknown (see p->unknown_key) and duplicate keys are errors; the
 * keys met are set in *seen (bit = table index). Returns false if n is
 * not a mapping. */
bool cy_walk_map(pctx *p, const yaml_node_t *n, const char *parent,
    const key_handler *h, void *obj, unsigned *seen);
int cy_key_index(const key_handler *h, const char *key);
/* Records `parent.key` as missing (what: what was expected) unless seen. */
void cy_require(pctx *p, const yaml_node_t *map, const key_handler *h,
    unsigned seen, const char *parent, const char *key, const char *what);
/* One YAML document from text into doc; false (recorded) on a syntax
 * error, an empty file or a second document. */
bool cy_load_doc(pctx *p, const char *text, size_t len, yaml_document_t *doc);
/* A whole file (at most 1 MiB), NUL-terminated; NULL (recorded in c, line
 * 0) when it cannot be read. */
char *cy_read_file(rt_config *c, const char *path, size_t *len);

#endif
