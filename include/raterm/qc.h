/*
 * qc.h - Qualified Certificate statements (RFC 3739 qcStatements,
 * ETSI EN 319 412-5): encoding for requests, decoding for display.
 *
 * Supported statements: QcCompliance, QcSSCD, QcType (eSign, eSeal, web),
 * QcRetentionPeriod, QcPDS, QcCClegislation, QcLimitValue (decode) and the
 * RFC 3739 semantics identifier (id-qcs-pkixQCSyntax-v2). Others are kept
 * as OIDs when decoding.
 */
#ifndef RATERM_QC_H
#define RATERM_QC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raterm/err.h"

#define RT_QC_TYPE_ESIGN 0x01
#define RT_QC_TYPE_ESEAL 0x02
#define RT_QC_TYPE_WEB   0x04

#define RT_QC_MAX_PDS 4
#define RT_QC_MAX_CC 8
#define RT_QC_MAX_OTHER 8

typedef struct {
	char url[256];		/* https URL */
	char lang[3];		/* ISO 639-1, two letters */
} rt_qc_pds;

typedef struct {
	bool compliance;	/* 0.4.0.1862.1.1 */
	bool sscd;		/* 0.4.0.1862.1.4 */
	unsigned types;		/* RT_QC_TYPE_*; 0: no QcType statement */
	int retention_years;	/* 0.4.0.1862.1.3; 0: absent */
	rt_qc_pds pds[RT_QC_MAX_PDS];	/* 0.4.0.1862.1.5 */
	size_t npds;
	char cc[RT_QC_MAX_CC][3];	/* 0.4.0.1862.1.7 country codes */
	size_t ncc;
	/* semantics identifier in id-qcs-pkixQCSyntax-v2 (dotted, e.g.
	 * "0.4.0.194121.1.1" natural person); "" none */
	char semantics[64];
	/* QcLimitValue (decode only): currency (ISO 4217 alpha or numeric
	 * as text), amount * 10^exponent; has_limit false if absent */
	bool has_limit;
	char limit_currency[8];
	long limit_amount, limit_exponent;
	/* unknown statements (decode only), dotted */
	char other[RT_QC_MAX_OTHER][64];
	size_t nother;
} rt_qc;

/* Encodes the extension value (QCStatements SEQUENCE) into a malloc'ed
 * buffer (free()). Errors: ARG (empty statement set, bad PDS URL or
 * language, bad country code), NOMEM. */
rt_err *rt_qc_encode(const rt_qc *qc, uint8_t **der, size_t *len) RT_MUST;

/* Decodes an extension value. Errors: FORMAT (malformed). */
rt_err *rt_qc_decode(const uint8_t *der, size_t len, rt_qc *out) RT_MUST;

/* One line for display: "QcCompliance, QcSSCD, QcType=eSign, ...". */
void rt_qc_describe(const rt_qc *qc, char *buf, size_t cap);

#endif
