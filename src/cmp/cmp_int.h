/* cmp_int.h - internals of src/cmp (not a public header): a strict DER
 * reader, the DER writer of src/crypto, and shared helpers. */
#ifndef RATERM_CMP_INT_H
#define RATERM_CMP_INT_H

#include "raterm/cmp.h"
#include "../crypto/der.h"

/* ---- the HTTP response buffer (client.c) --------------------------------- */
/* A cp may carry a card management key: the buffer grows by copy-and-wipe
 * (never realloc) and every block it gives up is wiped first. */
typedef struct {
	uint8_t *p;
	size_t len, cap;
	bool too_big;
} cmp_rbuf;

/* libcurl's CURLOPT_WRITEFUNCTION into a cmp_rbuf (ud). */
size_t cmp_rbuf_append(char *ptr, size_t size, size_t nmemb, void *ud);
/* Wipes the whole block (cap bytes), frees it, empties b. */
void cmp_rbuf_release(cmp_rbuf *b);
/* For tests: sees each block after its wipe, before its free. */
extern void (*cmp_rbuf_released)(const uint8_t *p, size_t cap);
/* libcurl's CURLOPT_SEEKFUNCTION: always CURL_SEEKFUNC_FAIL (1), so that
 * libcurl never sends a request body again on a fresh connection (a cr
 * issued twice); the exchange fails with CURLE_SEND_FAIL_REWIND. */
int cmp_http_seek(void *ud, long long offset, int origin);

/* ---- strict DER reader -------------------------------------------------- */
typedef struct {
	const uint8_t *p, *end;
	const char *what;	/* structure being read, for messages */
} cmp_rd;

void rd_init(cmp_rd *r, cmp_buf b, const char *what);
bool rd_at_end(const cmp_rd *r);
/* Tag of the next element, -1 at the end. */
int rd_peek(const cmp_rd *r);
/* Reads any TLV: tag, contents, and the whole TLV. Errors: CMP_FORMAT
 * (truncated, multi-byte tag, indefinite or non-minimal length). */
rt_err *rd_any(cmp_rd *r, int *tag, cmp_buf *val, cmp_buf *whole) RT_MUST;
/* Reads a TLV whose tag must be `tag`. whole may be NULL. */
rt_err *rd_get(cmp_rd *r, int tag, const char *field, cmp_buf *val,
    cmp_buf *whole) RT_MUST;
/* Reads a TLV if the next tag is `tag`; *present says whether it did. */
rt_err *rd_opt(cmp_rd *r, int tag, const char *field, cmp_buf *val,
    cmp_buf *whole, bool *present) RT_MUST;
/* Errors: CMP_FORMAT if bytes remain. */
rt_err *rd_end(const cmp_rd *r) RT_MUST;
/* INTEGER contents -> long (minimal two's complement, fits a long). */
rt_err *rd_long(cmp_buf v, const char *field, long *out) RT_MUST;
/* INTEGER TLV -> long. */
rt_err *rd_int(cmp_rd *r, const char *field, long *out) RT_MUST;

rt_err *cmp_fmt(const char *fmt, ...) RT_PRINTF(1, 2) RT_MUST;

/* ---- writer helpers ------------------------------------------------------ */
void der_buf(rt_der *d, cmp_buf b);	/* raw bytes */
/* Appends tag + the contents of the DER TLV b (re-tags b). */
void der_retag(rt_der *d, uint8_t tag, cmp_buf b);
/* Appends [tag] EXPLICIT wrapping of the DER TLV b. */
void der_explicit(rt_der *d, uint8_t tag, cmp_buf b);

/* AlgorithmIdentifier -> hash and scheme. Errors: CMP_UNSUPPORTED. */
rt_err *cmp_sig_alg_parse(cmp_buf alg, rt_hash *h, rt_scheme *s) RT_MUST;

/* The subjectKeyIdentifier of a parsed certificate (absent: len 0). */
cmp_buf cmp_crt_ski(const mbedtls_x509_crt *c);

/* Static OID contents for the CMP_OID_* strings. */
bool cmp_oid_lookup(const char *dotted, cmp_buf *out);

/* A decoded message's owned scratch allocations. */
void *cmp_msg_alloc(cmp_msg *m, size_t len);

#endif
