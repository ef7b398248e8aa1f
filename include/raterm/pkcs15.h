/*
 * pkcs15.h - the PKCS#15 (ISO/IEC 7816-15) structures of a card, as DER on
 * buffers: EF.DIR's application templates, the ODF, TokenInfo, and the
 * directory files AODF (PIN objects), PrKDF and PuKDF (key objects), CDF
 * and CDF-trusted (certificate objects). Parsing and encoding, no APDUs:
 * the card layer reads and writes the files.
 *
 * Parsing is strict: every length is checked, counts are bounded
 * (P15_MAX_*), an element that does not end where its length says is
 * refused, nothing may follow the last element but the zero (or FF)
 * padding a card's file keeps after its data. What the codec does not
 * interpret (a key's subject name, a path's index and length, TokenInfo's
 * optional tail, ...) is kept as raw DER, so that encode(parse(x)) == x for
 * files OpenSC writes; objects built from scratch leave those parts empty.
 *
 * Bit strings are numbered as ASN.1 numbers named bits: bit 0 is the
 * first (most significant) bit; P15_BIT(n) is the mask of bit n.
 * Errors: FORMAT (malformed DER, wrong structure, padding that is not
 * padding), TOO_BIG (a field or count beyond the bounds), TLV.
 */
#ifndef RATERM_PKCS15_H
#define RATERM_PKCS15_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raterm/err.h"

#define P15_LABEL_MAX    64     /* bytes of a label (UTF-8), no NUL */
#define P15_ID_MAX       32     /* bytes of an iD or authId */
#define P15_PATH_MAX     16     /* bytes of a path (8 FIDs) */
#define P15_RAW_MAX      256    /* bytes of a part kept raw */
#define P15_MAX_OBJECTS  32     /* objects in one directory file */
#define P15_MAX_ODF      16     /* ODF entries */
#define P15_MAX_APPS     8      /* EF.DIR records */

#define P15_BIT(n) (1u << (n))

/* The AID of the PKCS#15 application (A0 00 00 00 63 "PKCS-15"). */
extern const uint8_t p15_aid[12];

typedef struct {
	uint8_t b[P15_ID_MAX];
	size_t len;
} p15_id;

/* Path ::= SEQUENCE { efidOrPath OCTET STRING, index, length [0] } */
typedef struct {
	uint8_t b[P15_PATH_MAX];
	size_t len;
	uint8_t rest[16];       /* index and length, raw */
	size_t rest_len;
} p15_path;

typedef struct {
	uint8_t b[P15_RAW_MAX];
	size_t len;
} p15_raw;

/* ---- EF.DIR (2F00): application templates (61) ---- */
typedef struct {
	uint8_t aid[16];
	size_t aid_len;
	char label[P15_LABEL_MAX + 1];  /* 50; "" when absent */
	uint8_t path[P15_PATH_MAX];     /* 51 */
	size_t path_len;
	p15_raw rest;                   /* other DOs (73, ...) */
} p15_app;

typedef struct {
	p15_app app[P15_MAX_APPS];
	size_t n;
} p15_dir;

/* ---- ODF: which directory file is where ---- */
enum {
	P15_ODF_PRKDF = 0xA0, P15_ODF_PUKDF = 0xA1, P15_ODF_PUKDF_TRUSTED = 0xA2,
	P15_ODF_SKDF = 0xA3, P15_ODF_CDF = 0xA4, P15_ODF_CDF_TRUSTED = 0xA5,
	P15_ODF_CDF_USEFUL = 0xA6, P15_ODF_DODF = 0xA7, P15_ODF_AODF = 0xA8,
};

typedef struct {
	struct {
		uint8_t tag;            /* P15_ODF_* */
		p15_path path;
	} e[P15_MAX_ODF];
	size_t n;
} p15_odf;

/* ---- TokenInfo ---- */
enum {  /* tokenflags */
	P15_TOKEN_READONLY = P15_BIT(0), P15_TOKEN_LOGIN_REQUIRED = P15_BIT(1),
	P15_TOKEN_PRN_GENERATION = P15_BIT(2), P15_TOKEN_EID_COMPLIANT = P15_BIT(3),
};

typedef struct {
	int version;
	uint8_t serial[32];
	size_t serial_len;
	char manufacturer[P15_LABEL_MAX + 1];   /* "" when absent */
	char label[P15_LABEL_MAX + 1];          /* [0]; "" when absent */
	uint32_t flags;
	p15_raw rest;           /* seInfo, lastUpdate, ... raw */
} p15_tokeninfo;

/* ---- CommonObjectAttributes ---- */
enum { P15_OBJ_PRIVATE = P15_BIT(0), P15_OBJ_MODIFIABLE = P15_BIT(1) };

typedef struct {
	char label[P15_LABEL_MAX + 1];  /* "" when absent */
	bool has_label;
	uint32_t flags;                 /* P15_OBJ_* */
	bool has_flags;
	p15_id auth_id;                 /* len 0: none */
	p15_raw rest;                   /* userConsent, accessControlRules */
} p15_common;

/* ---- AODF: PIN objects ---- */
enum {  /* pinFlags */
	P15_PIN_CASE_SENSITIVE = P15_BIT(0), P15_PIN_LOCAL = P15_BIT(1),
	P15_PIN_CHANGE_DISABLED = P15_BIT(2), P15_PIN_UNBLOCK_DISABLED = P15_BIT(3),
	P15_PIN_INITIALIZED = P15_BIT(4), P15_PIN_NEEDS_PADDING = P15_BIT(5),
	P15_PIN_UNBLOCKING = P15_BIT(6), P15_PIN_SO = P15_BIT(7),
};
enum { P15_PIN_BCD = 0, P15_PIN_ASCII_NUMERIC = 1, P15_PIN_UTF8 = 2 };

typedef struct {
	p15_common common;
	p15_id auth_id;                 /* this PIN's authId */
	uint32_t flags;                 /* P15_PIN_* */
	int type;                       /* P15_PIN_BCD ... */
	int min_len, stored_len, max_len;       /* max_len -1: absent */
	int reference;                  /* [0], default 0 */
	bool has_reference;
	int pad_char;                   /* -1: absent */
	p15_path path;                  /* len 0: absent */
	p15_raw rest;                   /* lastPinChange, ... */
} p15_pin;

/* ---- PrKDF / PuKDF: key objects ---- */
enum {  /* the object's CHOICE: RSA is a plain SEQUENCE, EC [0] */
	P15_KEY_RSA = 0x30, P15_KEY_EC = 0xA0,
};
enum {  /* KeyUsageFlags */
	P15_USAGE_ENCRYPT = P15_BIT(0), P15_USAGE_DECRYPT = P15_BIT(1),
	P15_USAGE_SIGN = P15_BIT(2), P15_USAGE_SIGN_RECOVER = P15_BIT(3),
	P15_USAGE_WRAP = P15_BIT(4), P15_USAGE_UNWRAP = P15_BIT(5),
	P15_USAGE_VERIFY = P15_BIT(6), P15_USAGE_VERIFY_RECOVER = P15_BIT(7),
	P15_USAGE_DERIVE = P15_BIT(8), P15_USAGE_NON_REPUDIATION = P15_BIT(9),
};
enum {  /* KeyAccessFlags */
	P15_ACCESS_SENSITIVE = P15_BIT(0), P15_ACCESS_EXTRACTABLE = P15_BIT(1),
	P15_ACCESS_ALWAYS_SENSITIVE = P15_BIT(2), P15_ACCESS_NEVER_EXTRACTABLE = P15_BIT(3),
	P15_ACCESS_LOCAL = P15_BIT(4),
};

typedef struct {
	p15_common common;
	uint8_t type;                   /* P15_KEY_RSA, P15_KEY_EC */
	p15_id id;
	uint32_t usage;
	int native;                     /* -1: absent (DEFAULT TRUE) */
	uint32_t access;
	bool has_access;
	int key_ref;                    /* -1: absent */
	p15_raw class_rest;             /* startDate, endDate, algReference */
	p15_raw subclass;               /* [0] content raw (subjectName, ...) */
	bool has_subclass;
	p15_path path;                  /* the value's path */
	p15_raw type_rest;              /* modulusLength / keyInfo raw */
} p15_key;

/* ---- CDF, CDF-trusted: certificate objects (X.509 only) ---- */
typedef struct {
	p15_common common;
	p15_id id;
	bool authority;
	p15_raw class_rest;             /* identifier, certHash, ... */
	p15_path path;                  /* the certificate's EF */
	p15_raw type_rest;              /* subject, issuer, serialNumber raw */
} p15_cert;

typedef enum { P15_DF_AODF, P15_DF_KEYS, P15_DF_CERTS } p15_df_kind;

/* A directory file: objects of one kind. */
typedef struct {
	p15_df_kind kind;
	size_t n;
	union {
		p15_pin pin[P15_MAX_OBJECTS];
		p15_key key[P15_MAX_OBJECTS];
		p15_cert cert[P15_MAX_OBJECTS];
	} u;
} p15_df;

/* Parsing: `len` may include the file's padding. *used (may be NULL)
 * receives the bytes of the data before the padding. */
rt_err *p15_dir_parse(const uint8_t *buf, size_t len, p15_dir *out) RT_MUST;
rt_err *p15_odf_parse(const uint8_t *buf, size_t len, p15_odf *out) RT_MUST;
rt_err *p15_tokeninfo_parse(const uint8_t *buf, size_t len,
    p15_tokeninfo *out) RT_MUST;
rt_err *p15_df_parse(p15_df_kind kind, const uint8_t *buf, size_t len,
    p15_df *out, size_t *used) RT_MUST;

/* Encoding into buf[0..cap); *len receives the length. Errors: TOO_BIG
 * (does not fit), ARG (a field out of range). */
rt_err *p15_dir_encode(const p15_dir *d, uint8_t *buf, size_t cap,
    size_t *len) RT_MUST;
rt_err *p15_odf_encode(const p15_odf *o, uint8_t *buf, size_t cap,
    size_t *len) RT_MUST;
rt_err *p15_tokeninfo_encode(const p15_tokeninfo *t, uint8_t *buf,
    size_t cap, size_t *len) RT_MUST;
rt_err *p15_df_encode(const p15_df *df, uint8_t *buf, size_t cap,
    size_t *len) RT_MUST;

/* The ODF entry with `tag`, or NULL. */
const p15_path *p15_odf_find(const p15_odf *o, uint8_t tag);

#endif
