/*
 * cmp.h - CMP messages (RFC 4210 as updated by RFC 9480, Lightweight CMP
 * Profile RFC 9483) for the raterm client and the cmhost server, and the
 * client over HTTP(S) (RFC 6712).
 *
 * One message model, cmp_msg, is shared by both sides:
 *
 *   - decoding: cmp_msg_decode() copies the DER into the message (msg->raw)
 *     and every cmp_buf of the model points into that copy, so a decoded
 *     message is self-contained; cmp_msg_free() frees it.
 *   - encoding: the caller fills a cmp_msg (cmp_msg_new(), or one on the
 *     stack after cmp_msg_init()), whose cmp_bufs point to the caller's
 *     memory, which must stay valid until cmp_msg_encode() returns.
 *     cmp_msg_encode() never takes ownership of anything in the model.
 *
 * Strict decoding: DER only (definite, minimal lengths), every length
 * checked against its container, no trailing bytes at any level, unknown
 * body types and content the profile does not allow refused (central key
 * generation, encrypted certificates, critical unknown controls); errors
 * are CMP_FORMAT (malformed) or CMP_UNSUPPORTED (well-formed but not
 * handled). Unknown generalInfo entries and unknown regInfo are ignored
 * (they carry no criticality and RFC 4210 says to ignore them).
 *
 * Names: sender and recipient are GeneralName; only directoryName [4] is
 * accepted and the model carries the DER of the Name (SEQUENCE) itself.
 * An empty Name (NULL-DN) is a valid value (len 2: 30 00).
 *
 * Protection: signature only (RFC 9483 4.1.1), made by any rt_signer
 * (card or software token): ECDSA with SHA-256/384/512, RSA PKCS#1 v1.5
 * or RSASSA-PSS with SHA-256/384/512; the signer's chain goes into
 * extraCerts, the protection certificate first. MAC protection is refused
 * (CMP_UNSUPPORTED).
 *
 * Ownership: functions returning malloc'ed DER say so (free()); cmp_msg,
 * cmp_client and cmp_txn are freed with their *_free() function, which
 * accept NULL.
 */
#ifndef RATERM_CMP_H
#define RATERM_CMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <mbedtls/x509_crt.h>

#include "raterm/err.h"
#include "raterm/signer.h"

/* ---- OIDs (dotted) --------------------------------------------------------- */
#define CMP_OID_IT_IMPLICIT_CONFIRM    "1.3.6.1.5.5.7.4.13"
#define CMP_OID_IT_CONFIRM_WAIT_TIME   "1.3.6.1.5.5.7.4.14"
#define CMP_OID_IT_CA_CERTS            "1.3.6.1.5.5.7.4.17"
#define CMP_OID_IT_ROOT_CA_KEY_UPDATE  "1.3.6.1.5.5.7.4.18"
#define CMP_OID_IT_ROOT_CA_CERT        "1.3.6.1.5.5.7.4.20"
#define CMP_OID_IT_CERT_PROFILE        "1.3.6.1.5.5.7.4.21"
/* raterm's own arc: a UUID-derived OID (ITU-T X.667, 2.25.<uuid>),
 * needing no registration. uuid 1db8bcaf-0fd2-4895-884e-8def9b96b97a.
 *   <arc>.1     raterm CMP InfoTypes
 *   <arc>.1.1   id-it-raterm-cardMgmtKey (see the genm/genp helpers)
 *   <arc>.1.2   id-it-raterm-cardId (generalInfo: the card a request's
 *               certificates are for; cmp_header.card_id)
 *   <arc>.1.3   id-it-raterm-txStatus (genm/genp: the CM host's state of
 *               one of the sender's own transactions, cmp_tx_status) */
#define CMP_OID_RATERM_ARC \
	"2.25.39506821462563387446371622678466836858"
#define CMP_OID_IT_CARD_MGMT_KEY CMP_OID_RATERM_ARC ".1.1"
#define CMP_OID_IT_CARD_ID       CMP_OID_RATERM_ARC ".1.2"
#define CMP_OID_IT_TX_STATUS     CMP_OID_RATERM_ARC ".1.3"
/* A card identity (cardMgmtKey's cardId, id-it-raterm-cardId): 1 to
 * CMP_CARD_ID_MAX bytes. */
#define CMP_CARD_ID_MAX 32

/* ---- basic types ----------------------------------------------------------- */

/* A slice of bytes (not owned by the slice). len 0: absent. */
typedef struct {
	const uint8_t *p;
	size_t len;
} cmp_buf;

/* A slice over a NUL-terminated string (NULL -> absent). */
cmp_buf cmp_buf_str(const char *s);
/* True if both are present and equal, or both absent. */
bool cmp_buf_eq(cmp_buf a, cmp_buf b);

/* PKIBody choice numbers (the [n] tags of RFC 4210). */
typedef enum {
	CMP_BODY_IR = 0, CMP_BODY_IP = 1, CMP_BODY_CR = 2, CMP_BODY_CP = 3,
	CMP_BODY_P10CR = 4, CMP_BODY_KUR = 7, CMP_BODY_KUP = 8,
	CMP_BODY_RR = 11, CMP_BODY_RP = 12, CMP_BODY_PKICONF = 19,
	CMP_BODY_GENM = 21, CMP_BODY_GENP = 22, CMP_BODY_ERROR = 23,
	CMP_BODY_CERTCONF = 24, CMP_BODY_POLLREQ = 25, CMP_BODY_POLLREP = 26,
} cmp_body_type;

/* "ir", "p10cr", "error", ... ("?" for others). */
const char *cmp_body_name(int type);

/* PKIStatus */
enum {
	CMP_STATUS_ACCEPTED = 0, CMP_STATUS_GRANTED_WITH_MODS = 1,
	CMP_STATUS_REJECTION = 2, CMP_STATUS_WAITING = 3,
	CMP_STATUS_REVOCATION_WARNING = 4, CMP_STATUS_REVOCATION_NOTIFICATION = 5,
	CMP_STATUS_KEY_UPDATE_WARNING = 6,
};

/* PKIFailureInfo bit numbers; the model keeps them as (1u << bit). */
#define CMP_FAILINFO(X) \
	X(BAD_ALG, 0, "badAlg") X(BAD_MESSAGE_CHECK, 1, "badMessageCheck") \
	X(BAD_REQUEST, 2, "badRequest") X(BAD_TIME, 3, "badTime") \
	X(BAD_CERT_ID, 4, "badCertId") X(BAD_DATA_FORMAT, 5, "badDataFormat") \
	X(WRONG_AUTHORITY, 6, "wrongAuthority") \
	X(INCORRECT_DATA, 7, "incorrectData") \
	X(MISSING_TIME_STAMP, 8, "missingTimeStamp") X(BAD_POP, 9, "badPOP") \
	X(CERT_REVOKED, 10, "certRevoked") \
	X(CERT_CONFIRMED, 11, "certConfirmed") \
	X(WRONG_INTEGRITY, 12, "wrongIntegrity") \
	X(BAD_RECIPIENT_NONCE, 13, "badRecipientNonce") \
	X(TIME_NOT_AVAILABLE, 14, "timeNotAvailable") \
	X(UNACCEPTED_POLICY, 15, "unacceptedPolicy") \
	X(UNACCEPTED_EXTENSION, 16, "unacceptedExtension") \
	X(ADD_INFO_NOT_AVAILABLE, 17, "addInfoNotAvailable") \
	X(BAD_SENDER_NONCE, 18, "badSenderNonce") \
	X(BAD_CERT_TEMPLATE, 19, "badCertTemplate") \
	X(SIGNER_NOT_TRUSTED, 20, "signerNotTrusted") \
	X(TRANSACTION_ID_IN_USE, 21, "transactionIdInUse") \
	X(UNSUPPORTED_VERSION, 22, "unsupportedVersion") \
	X(NOT_AUTHORIZED, 23, "notAuthorized") \
	X(SYSTEM_UNAVAIL, 24, "systemUnavail") \
	X(SYSTEM_FAILURE, 25, "systemFailure") \
	X(DUPLICATE_CERT_REQ, 26, "duplicateCertReq")

enum {
#define CMP_X_(n, b, s) CMP_FI_##n = (int)(1u << (b)),
	CMP_FAILINFO(CMP_X_)
#undef CMP_X_
};
#define CMP_FAILINFO_BITS 27

/* The name of failure bit `bit` (0..26), NULL if out of range. */
const char *cmp_failinfo_name(int bit);
/* The name of PKIStatus `status` ("accepted", ..., "?" if unknown). */
const char *cmp_status_name(int status);

#define CMP_MAX_TEXTS 4
#define CMP_MAX_REQS 8		/* requests/responses/statuses per message */
#define CMP_MAX_CERTS 16	/* extraCerts, caPubs, caCerts */
#define CMP_MAX_ITAVS 8

/* PKIStatusInfo. texts: UTF8String contents (not NUL-terminated). */
typedef struct {
	int status;
	uint32_t fail_info;	/* CMP_FI_* bits; 0: absent */
	cmp_buf text[CMP_MAX_TEXTS];
	size_t ntext;
} cmp_status;

/* "rejection (badPOP, notAuthorized): text; text" into buf. */
void cmp_status_format(const cmp_status *s, char *buf, size_t len);
/* NULL if the status is accepted or grantedWithMods; else a CMP_STATUS
 * error whose message is `what` and cmp_status_format(). */
rt_err *cmp_status_err(const cmp_status *s, const char *what) RT_MUST;

/* ---- header ---------------------------------------------------------------- */
typedef struct {
	int pvno;		/* 2 (cmp2000) or 3 (cmp2021); 0 on encode: 2,
				 * or 3 when a certConf carries hashAlg */
	cmp_buf sender;		/* DER Name (directoryName); encode: absent
				 * -> the signer's subject, else NULL-DN */
	cmp_buf recipient;	/* DER Name; encode: absent -> NULL-DN */
	time_t message_time;	/* 0: absent */
	cmp_buf protection_alg;	/* DER AlgorithmIdentifier (set by encode) */
	cmp_buf sender_kid;	/* encode: absent -> the signer certificate's
				 * subjectKeyIdentifier if it has one */
	cmp_buf recip_kid;
	cmp_buf transaction_id;
	cmp_buf sender_nonce;
	cmp_buf recip_nonce;
	/* generalInfo */
	bool implicit_confirm;
	time_t confirm_wait_time;	/* absolute time; 0: absent */
	cmp_buf cert_profile[CMP_MAX_REQS];	/* UTF8String contents */
	size_t ncert_profile;
	/* id-it-raterm-cardId: CardId ::= OCTET STRING (SIZE (1..32)), the
	 * card the certificates are for, the same identity as the cardId of
	 * id-it-raterm-cardMgmtKey (the CHUID GUID, else the serial as 4
	 * bytes big-endian). Absent: len 0. Decode: empty, longer than
	 * CMP_CARD_ID_MAX or not an OCTET STRING -> CMP_FORMAT. */
	cmp_buf card_id;
	/* id-it-raterm-cardMgmtKey in generalInfo (the card's management
	 * key asked in the enrollment itself, answered in its ip/cp/kup):
	 * has_mgmt_key says the entry is there; mgmt_key is the DER of its
	 * value: CardMgmtKeyReq in a request, CardMgmtKey in an answer,
	 * absent (len 0) in an answer that gives no key (none held, or not
	 * to this officer or over this transport). Decode: a second entry
	 * or a value that is not a SEQUENCE -> CMP_FORMAT. */
	bool has_mgmt_key;
	cmp_buf mgmt_key;
} cmp_header;

/* ---- bodies ---------------------------------------------------------------- */
typedef enum {
	CMP_POPO_NONE = 0,	/* absent */
	CMP_POPO_RA_VERIFIED,	/* raVerified [0] NULL */
	CMP_POPO_SIGNATURE,	/* signature [1] POPOSigningKey */
} cmp_popo_type;

/* One CertReqMsg of ir/cr/kur. */
typedef struct {
	long cert_req_id;	/* 0 for the first; -1 only in p10cr answers */
	/* CertTemplate */
	cmp_buf subject;	/* DER Name */
	cmp_buf public_key;	/* DER SubjectPublicKeyInfo */
	cmp_buf extensions;	/* DER Extensions (SEQUENCE OF Extension) */
	cmp_buf issuer;		/* DER Name (optional) */
	/* controls: oldCertID (kur), DER of CertId */
	cmp_buf old_cert_id;
	cmp_popo_type popo;
	cmp_buf popo_alg;	/* DER AlgorithmIdentifier */
	cmp_buf popo_sig;	/* BIT STRING contents after the unused-bits byte */
	cmp_buf cert_req;	/* decode: DER of the CertRequest (what a POPO
				 * signature covers) */
} cmp_cert_req;

/* One CertResponse of ip/cp/kup. */
typedef struct {
	long cert_req_id;
	cmp_status status;
	cmp_buf cert;		/* DER Certificate; absent when not issued */
} cmp_cert_resp;

/* One CertStatus of certConf. */
typedef struct {
	cmp_buf cert_hash;
	long cert_req_id;
	bool has_status;	/* absent status means accepted */
	cmp_status status;
	cmp_buf hash_alg;	/* DER AlgorithmIdentifier; absent: the hash of
				 * the certificate's signature algorithm */
} cmp_cert_status;

/* One RevDetails of rr. */
typedef struct {
	cmp_buf issuer;		/* DER Name */
	cmp_buf serial;		/* INTEGER contents (two's complement) */
	int reason;		/* CRLReason 0..10; -1: no reasonCode */
} cmp_rev_details;

/* One entry of pollReq / pollRep. */
typedef struct {
	long cert_req_id;
	long check_after;	/* pollRep: seconds */
	cmp_buf reason;		/* pollRep: first UTF8String of reason */
} cmp_poll;

/* One InfoTypeAndValue of genm/genp/generalInfo. */
typedef struct {
	cmp_buf oid;		/* OID contents (no tag/length) */
	cmp_buf value;		/* the full DER TLV of infoValue; absent: none */
} cmp_itav;

typedef struct {
	cmp_header hdr;
	int type;		/* cmp_body_type */

	/* ir, cr, kur */
	cmp_cert_req req[CMP_MAX_REQS];
	size_t nreq;
	/* p10cr: the DER CertificationRequest */
	cmp_buf p10;
	/* ip, cp, kup */
	cmp_cert_resp resp[CMP_MAX_REQS];
	size_t nresp;
	cmp_buf ca_pubs[CMP_MAX_CERTS];	/* DER Certificates */
	size_t nca_pubs;
	/* certConf */
	cmp_cert_status conf[CMP_MAX_REQS];
	size_t nconf;
	/* rr */
	cmp_rev_details rev[CMP_MAX_REQS];
	size_t nrev;
	/* rp */
	cmp_status rev_status[CMP_MAX_REQS];
	size_t nrev_status;
	/* genm, genp */
	cmp_itav itav[CMP_MAX_ITAVS];
	size_t nitav;
	/* error */
	cmp_status error;
	long error_code;	/* -1: absent */
	cmp_buf error_details[CMP_MAX_TEXTS];
	size_t nerror_details;
	/* pollReq, pollRep */
	cmp_poll poll[CMP_MAX_REQS];
	size_t npoll;

	/* protection: BIT STRING contents after the unused-bits byte */
	cmp_buf protection;
	cmp_buf extra_certs[CMP_MAX_CERTS];	/* DER Certificates */
	size_t nextra_certs;

	/* decode only */
	uint8_t *raw;		/* owned copy of the whole message */
	size_t raw_len;
	cmp_buf protected_part;	/* DER of ProtectedPart (header, body) */
	rt_hash prot_hash;	/* from protectionAlg */
	rt_scheme prot_scheme;
	void *arena;		/* internal: decode's own allocations */
} cmp_msg;

/* Zeroes a model; error_code = -1, each rev[].reason = -1. */
void cmp_msg_init(cmp_msg *m);
/* A zeroed model on the heap (cmp_msg_init). Errors: NOMEM. */
rt_err *cmp_msg_new(cmp_msg **out) RT_MUST;
void cmp_msg_free(cmp_msg *m);

typedef struct {
	rt_hash hash;		/* NONE: SHA-384 for P-384 keys, else SHA-256 */
	rt_scheme scheme;	/* DEFAULT: PKCS1 for RSA, ECDSA for EC */
	bool no_extra_certs;	/* do not put the signer's chain in extraCerts */
} cmp_protect_opts;

/* Encodes the message as DER; *der is malloc'ed (free()).
 * signer != NULL: signature protection (protectionAlg, sender and
 * senderKID from the signer as documented in cmp_header; the signer's
 * chain into extraCerts unless the model already has extraCerts or
 * o->no_extra_certs). signer == NULL: unprotected (only for tests and for
 * error messages a server cannot protect). o may be NULL.
 * Errors: ARG (model inconsistent: missing transactionID, nonce, body
 * content; too many entries; a cardId longer than CMP_CARD_ID_MAX), NOMEM,
 * those of rt_signer_sign. */
rt_err *cmp_msg_encode(cmp_msg *m, rt_signer *signer,
    const cmp_protect_opts *o, uint8_t **der, size_t *len) RT_MUST;

/* Decodes a PKIMessage strictly. Errors: CMP_FORMAT, CMP_UNSUPPORTED,
 * NOMEM. */
rt_err *cmp_msg_decode(const uint8_t *der, size_t len, cmp_msg **out)
    RT_MUST;

/* ---- verification ---------------------------------------------------------- */
typedef struct {
	/* Trust anchors the protection certificate must chain to (through
	 * the other extraCerts). Required. */
	const mbedtls_x509_crt *trust;
	/* If present: the header must carry these. */
	cmp_buf transaction_id;
	cmp_buf recip_nonce;	/* = the senderNonce we sent */
	cmp_buf sender;		/* DER Name the sender must be */
	/* Allowed |messageTime - now| in seconds when messageTime is present;
	 * 0: not checked. */
	long max_skew;
	time_t now;		/* 0: time(NULL) */
	/* Certificates from earlier messages of the transaction (RFC 9483:
	 * later messages may omit the protection certificate and its chain):
	 * candidates for the protection certificate after the message's own
	 * extraCerts, and intermediates. Not trusted by themselves. */
	const cmp_buf *untrusted;
	size_t nuntrusted;
	/* The signature check of the protection (NULL: rt_verifier_mbedtls);
	 * chains are validated by mbedTLS. */
	const rt_verifier *verifier;
	/* A chain validated once (a server's cache): when chain_known says
	 * the protection certificate (its DER) was validated before and still
	 * holds, neither its chain nor its key limits are checked again;
	 * after a validation, chain_validated is told the certificate and
	 * the earliest notAfter of the chain it was validated with. NULL:
	 * every message validates the chain. */
	bool (*chain_known)(void *ctx, cmp_buf cert);
	void (*chain_validated)(void *ctx, cmp_buf cert, time_t not_after);
	void *chain_ctx;
} cmp_verify_opts;

/* Verifies m's protection: a signature by the first extraCerts entry (or
 * the entry whose subjectKeyIdentifier is the senderKID; then o->untrusted
 * searched by senderKID, or by sender name without one), which must
 * chain to o->trust (mbedtls_x509_crt_verify, validity dates included)
 * through the other extraCerts and o->untrusted, whose subject must be
 * the header's sender, whose key must fit protectionAlg; then the header
 * checks asked for in o.
 * *signer_idx (may be NULL) receives the index of the protection
 * certificate: in extra_certs, or nextra_certs + its index in
 * o->untrusted.
 * Errors: CMP_PROTECTION (unprotected, signature does not verify, key
 * and algorithm do not fit, no protection certificate), CMP_TRUST (no
 * chain to the trust anchors; the message says why: expired, not
 * trusted, ...), CMP_MISMATCH (sender, transactionID, recipNonce,
 * messageTime). */
rt_err *cmp_msg_verify(const cmp_msg *m, const cmp_verify_opts *o,
    size_t *signer_idx) RT_MUST;

/* Checks a POPO signature of req[i] against its template's public key.
 * Errors: CMP_PROTECTION (does not verify), CMP_FORMAT, ARG (no
 * signature POPO). */
rt_err *cmp_popo_verify(const cmp_msg *m, size_t i) RT_MUST;
/* The same with the verifier v (NULL: rt_verifier_mbedtls). */
rt_err *cmp_popo_verify_with(const cmp_msg *m, size_t i,
    const rt_verifier *v) RT_MUST;

/* ---- helpers to fill the model ------------------------------------------------- */

/* Fills a certificate template from a PKCS#10 request: subject, public
 * key and the extensions of its extensionRequest attribute. The slices
 * point into csr. Verifies the CSR's signature first.
 * Errors: FORMAT (not a CSR), CRYPTO (signature). */
rt_err *cmp_req_from_csr(const uint8_t *csr, size_t len, cmp_cert_req *out)
    RT_MUST;
/* The same, the CSR's signature checked by the verifier v (NULL:
 * rt_csr_verify); SHA-1 and unknown signature algorithms are refused
 * (FORMAT) when v is given. */
rt_err *cmp_req_from_csr_with(const uint8_t *csr, size_t len,
    const rt_verifier *v, cmp_cert_req *out) RT_MUST;

/* Signs req's CertRequest with the key being certified (POPO signature):
 * the DER of the CertRequest is built, signed by s and kept in *buf
 * (malloc'ed, free() it after cmp_msg_encode), and req->popo* set.
 * Errors: those of rt_signer_sign, NOMEM. */
rt_err *cmp_popo_sign(cmp_cert_req *req, rt_signer *s, uint8_t **buf)
    RT_MUST;

/* Fills revocation details from a DER certificate (issuer, serial point
 * into cert). Errors: CERT. */
rt_err *cmp_rev_from_cert(const uint8_t *cert, size_t len, int reason,
    cmp_rev_details *out) RT_MUST;

/* The certHash of a certificate for certConf: with the hash of its
 * signature algorithm (RFC 4210 5.3.18; SHA-256 if that has no single
 * hash). out holds 64 bytes.
 * Errors: CERT. */
rt_err *cmp_cert_hash(const uint8_t *cert, size_t len, uint8_t *out,
    size_t *out_len) RT_MUST;

/* CRLReason names ("keyCompromise", "superseded", ...) <-> numbers. */
int cmp_reason_from_name(const char *name);	/* -1 if unknown */
const char *cmp_reason_name(int reason);

/* The OID contents of an ITAV equals dotted `oid`. */
bool cmp_itav_is(const cmp_itav *it, const char *oid);
/* Sets it->oid to the contents of dotted `oid` (a static encoding for the
 * CMP_OID_IT_* constants). Errors: ARG (unknown OID). */
rt_err *cmp_itav_set(cmp_itav *it, const char *oid) RT_MUST;

/* The value of id-it-caCerts (genp): SEQUENCE OF Certificate -> slices.
 * Errors: CMP_FORMAT. */
rt_err *cmp_certs_parse(cmp_buf value, cmp_buf *certs, size_t max,
    size_t *n) RT_MUST;
/* DER SEQUENCE OF Certificate; *der malloc'ed. Errors: NOMEM, ARG. */
rt_err *cmp_certs_encode(const cmp_buf *certs, size_t n, uint8_t **der,
    size_t *len) RT_MUST;

/* id-it-rootCaKeyUpdate: RootCaKeyUpdateContent. */
typedef struct {
	cmp_buf new_with_new, new_with_old, old_with_new;	/* DER certs */
} cmp_root_update;
rt_err *cmp_root_update_parse(cmp_buf value, cmp_root_update *out) RT_MUST;
rt_err *cmp_root_update_encode(const cmp_root_update *u, uint8_t **der,
    size_t *len) RT_MUST;

/* id-it-raterm-cardMgmtKey.
 *   genm value:  CardMgmtKeyReq ::= SEQUENCE { cardId OCTET STRING }
 *   genp value:  CardMgmtKey ::= SEQUENCE {
 *                    cardId    OCTET STRING,
 *                    algorithm INTEGER,     -- PIV algorithm id: 3 (3DES),
 *                                           -- 8/10/12 (AES-128/192/256)
 *                    key       OCTET STRING }
 * cardId: the card's GUID from the CHUID (16 bytes), or when it has none
 * its serial number as 4 bytes big-endian. The key travels in clear inside
 * the signed genp: use HTTPS to the CM host. */
typedef struct {
	cmp_buf card_id;
	int alg;		/* 0 in a request */
	cmp_buf key;		/* absent in a request */
} cmp_mgmt_key;
rt_err *cmp_mgmt_key_parse(cmp_buf value, bool response, cmp_mgmt_key *out)
    RT_MUST;
rt_err *cmp_mgmt_key_encode(const cmp_mgmt_key *k, bool response,
    uint8_t **der, size_t *len) RT_MUST;

/* id-it-raterm-txStatus: what the CM host knows of a transaction whose
 * answer the client lost (a cr's cp, a certConf's pkiConf). Asked in a
 * protected genm by the officer who sent the transaction (another
 * officer gets status unknown, as for a transactionID never seen). Tags
 * are EXPLICIT, as in the CMP module.
 *   genm value:  TxStatusReq ::= SEQUENCE { transactionID OCTET STRING }
 *   genp value:  TxStatus ::= SEQUENCE {
 *       transactionID OCTET STRING,
 *       status        ENUMERATED { unknown(0),  -- nothing issued under it
 *                                  waiting(1),  -- issued, certConf awaited
 *                                  closed(2) }, -- certConf applied, or the
 *                                               -- grace period ran out
 *       recipNonce    [0] OCTET STRING OPTIONAL, -- waiting: the senderNonce
 *                                  -- of the cp, which a certConf answers
 *       confirmBy     [1] GeneralizedTime OPTIONAL, -- waiting: the end of
 *                                  -- the grace period (unconfirmed
 *                                  -- certificates are revoked then)
 *       certs         SEQUENCE OF TxCert }  -- empty when unknown
 *   TxCert ::= SEQUENCE {
 *       certReqId   INTEGER,
 *       state       ENUMERATED { waiting(0), confirmed(1), rejected(2),
 *                                revoked(3) },
 *       certificate Certificate }   -- as issued: a certConf's certHash
 * With status waiting the client can send the certConf it owes (accept
 * what is on the card, reject the rest) with recipNonce; with closed it
 * records each certificate's state as the CM host has it. */
#define CMP_TX_MAX_CERTS 32
typedef enum {
	CMP_TX_UNKNOWN = 0, CMP_TX_WAITING = 1, CMP_TX_CLOSED = 2
} cmp_tx_state;
typedef enum {
	CMP_TXC_WAITING = 0, CMP_TXC_CONFIRMED = 1, CMP_TXC_REJECTED = 2,
	CMP_TXC_REVOKED = 3
} cmp_txc_state;
typedef struct {
	int cert_req_id;
	cmp_txc_state state;
	cmp_buf cert;		/* DER certificate */
} cmp_tx_cert;
typedef struct {
	cmp_buf txid;
	cmp_tx_state status;
	cmp_buf recip_nonce;	/* len 0: absent */
	time_t confirm_by;	/* 0: absent */
	cmp_tx_cert certs[CMP_TX_MAX_CERTS];
	size_t ncerts;
} cmp_tx_status;
/* Request (response false: only txid) or response; slices point into
 * value. Errors: CMP_FORMAT. */
rt_err *cmp_tx_status_parse(cmp_buf value, bool response, cmp_tx_status *out)
    RT_MUST;
rt_err *cmp_tx_status_encode(const cmp_tx_status *s, bool response,
    uint8_t **der, size_t *len) RT_MUST;

/* ---- client -------------------------------------------------------------------- */

/* A transport other than HTTP (tests: cmhost's service in process,
 * cmhost_inproc.h): one DER request in, one DER response out (*rsp
 * malloc'ed, freed by the client). An error means no answer: use
 * CMP_HTTP, with rt_err_set_detail(e, CMP_NOT_SENT) when the request
 * certainly did not reach the CM host. */
typedef rt_err *(*cmp_transport_fn)(void *ctx, const uint8_t *req,
    size_t len, uint8_t **rsp, size_t *rsp_len);

/* The rt_err_detail of a CMP_HTTP error whose request certainly did not
 * reach the CM host (no connection could be made, nothing was sent).
 * Every other CMP_HTTP error may come after the CM host received the
 * request: its outcome is unknown (an enrollment may have been issued;
 * left unconfirmed, the CM host revokes it after its grace time). */
#define CMP_NOT_SENT 0
/* True if e or one of its causes is a CMP_HTTP error with CMP_NOT_SENT. */
bool cmp_err_not_sent(const rt_err *e);

typedef struct {
	const char *url;		/* http:// or https:// (with a
					 * transport: any name, for messages;
					 * NULL: "in-process") */
	const char *tls_ca;		/* HTTPS: pinned CA bundle (PEM file);
					 * NULL: the system trust store */
	long connect_timeout;		/* seconds; 0: 10 */
	long total_timeout;		/* seconds per HTTP exchange; 0: 60 */
	/* CM host trust: response protection must chain to these. */
	const mbedtls_x509_crt *trust;
	cmp_buf server_name;		/* DER Name: the expected sender of
					 * responses and our recipient;
					 * absent: any trusted sender, NULL-DN */
	rt_signer *signer;		/* protects requests (officer); NULL:
					 * the client sends only what needs
					 * no protection (cmp_client_cacerts) */
	cmp_protect_opts prot;
	long max_poll_time;		/* seconds in total; 0: 300 */
	FILE *log;			/* NULL: quiet; else a line per message */
	cmp_transport_fn transport;	/* NULL: HTTP(S) to url (libcurl) */
	void *transport_ctx;
} cmp_client_opts;

typedef struct cmp_client cmp_client;

/* Copies opts (the pointed-to objects are borrowed: trust, signer,
 * server_name, transport_ctx must outlive the client). Over HTTP the
 * client keeps one libcurl handle for its life, so that the exchanges of
 * a transaction (cr, certConf) share one kept-alive connection; libcurl
 * never sends a request again by itself when a reused connection turns
 * out dead (the request may have reached the CM host: the exchange fails
 * with CMP_HTTP instead). Errors: ARG (url, trust), NOMEM, IO (libcurl
 * initialisation). */
rt_err *cmp_client_new(const cmp_client_opts *o, cmp_client **out) RT_MUST;
void cmp_client_free(cmp_client *c);

/* What the client did since it was made: HTTP exchanges (or transport
 * calls) and the TCP connections libcurl opened for them (0 with a
 * transport). */
typedef struct {
	unsigned long exchanges;
	unsigned long connections;
} cmp_client_stats;
void cmp_client_get_stats(const cmp_client *c, cmp_client_stats *st);

/* One HTTP(S) exchange outside CMP on the client's libcurl handle, with
 * its TLS settings (tls_ca pinned, the URL's host name checked) and
 * log: for what a relying party fetches from the CM host (OCSP, CRL).
 * GET url when body is NULL, else POST body with Content-Type ctype. The
 * answer must be HTTP 200, not empty, at most 1 MiB, with Content-Type
 * accept (NULL: any); redirects are refused. timeout: seconds for the
 * exchange (and at most that to connect); 0: the client's. *rsp
 * malloc'ed. Errors: CMP_HTTP (as cmp_client_exchange), ARG (URL),
 * UNAVAILABLE (a client on a transport other than HTTP). */
rt_err *cmp_client_http(cmp_client *c, const char *url, const char *ctype,
    const uint8_t *body, size_t len, const char *accept, long timeout,
    uint8_t **rsp, size_t *rsp_len) RT_MUST;

/* One request/response exchange: fills pvno (if 0), recipient (if
 * absent: the server name), messageTime, a fresh senderNonce, the
 * transactionID (req's own if it has a 16-byte one, else a fresh one) and
 * recipNonce (req's own, else none); protects with the client's signer,
 * POSTs, and decodes and verifies the response (protection chain, sender,
 * transactionID, recipNonce = our senderNonce). The header fields set here
 * are cleared in req again on return. An error body becomes a CMP_STATUS
 * error naming the failure bits (an error body whose protection does not
 * verify is refused with the verification error, its text quoted as
 * unverified); *rsp is then NULL.
 * Errors: CMP_HTTP (connection, timeout, HTTP status, content type,
 * redirect), CMP_FORMAT, CMP_PROTECTION, CMP_TRUST, CMP_MISMATCH,
 * CMP_STATUS, those of cmp_msg_encode. */
rt_err *cmp_client_exchange(cmp_client *c, cmp_msg *req, cmp_msg **rsp)
    RT_MUST;

/* An enrollment: the request(s), the answer, and what is left to do
 * (certConf). Opaque. */
typedef struct cmp_txn cmp_txn;

typedef struct {
	int type;		/* CMP_BODY_P10CR, _CR, _IR or _KUR */
	/* p10cr: exactly one CSR; cr/ir/kur: one CSR per request (its
	 * subject, key and extensions become the template) */
	const uint8_t *const *csr;
	const size_t *csr_len;
	size_t ncsr;
	const char *profile;		/* id-it-certProfile; NULL: none */
	bool implicit_confirm;		/* ask for it */
	/* cr/ir/kur: POPO. true: raVerified (the RA checked possession, e.g.
	 * after a TC check); false: a signature with popo_signers[i]. */
	bool ra_verified;
	rt_signer *const *popo_signers;
	/* kur: the certificate being updated (oldCertID) */
	const uint8_t *old_cert;
	size_t old_cert_len;
	/* cr/ir/kur without CSRs (csr NULL): ntmpl ready templates (subject,
	 * public_key, extensions used; certReqId and POPO set here). The RA
	 * builds them when it has checked possession itself (raVerified). */
	const cmp_cert_req *tmpl;
	size_t ntmpl;
	/* One certificate profile per request (id-it-certProfile is a list,
	 * RFC 9483 4.1.1); NULL: `profile` for the whole message. */
	const char *const *profiles;
	/* The card the certificates are for (id-it-raterm-cardId in
	 * generalInfo; see cmp_header.card_id); card_id_len 0: none. */
	const uint8_t *card_id;
	size_t card_id_len;
	/* Ask for the card's management key in the same request
	 * (id-it-raterm-cardMgmtKey in generalInfo; card_id required); the
	 * answer's key is then read with cmp_txn_mgmt_key. A CM host that
	 * does not know the InfoType ignores it: no key. */
	bool mgmt_key;
	/* The transactionID to use (CMP_TXID_LEN bytes), chosen by the
	 * caller so that its journal names the transaction before the
	 * request is sent (a lost answer is then asked about with
	 * cmp_client_tx_status); NULL: a random one. */
	const uint8_t *txid;
} cmp_enroll_req;
#define CMP_TXID_LEN 16

/* Sends the request, polls while the server says waiting (pollReq /
 * pollRep, bounded by max_poll_time), checks every response status. On
 * success *out holds the issued certificates (one per request, same
 * order). certConf is not sent here: the caller confirms with
 * cmp_client_confirm() once the certificates are stored (on the card),
 * or rejects them; with implicit confirmation granted nothing is left.
 * Errors: as cmp_client_exchange, CMP_STATUS (rejected, with failure
 * names), FORMAT/CRYPTO (a CSR), CMP_FORMAT (answer without certificate,
 * wrong certReqId). */
rt_err *cmp_client_enroll(cmp_client *c, const cmp_enroll_req *r,
    cmp_txn **out) RT_MUST;
size_t cmp_txn_count(const cmp_txn *t);
/* The i-th issued certificate (DER, owned by the txn). */
cmp_buf cmp_txn_cert(const cmp_txn *t, size_t i);
/* caPubs of the answer. */
size_t cmp_txn_ca_pubs(const cmp_txn *t, const cmp_buf **certs);
/* True if the server granted implicit confirmation. */
bool cmp_txn_implicit(const cmp_txn *t);
/* The answer's confirmWaitTime (RFC 4210 id-it-confirmWaitTime): until
 * when the CM host waits for the certConf before it revokes what is not
 * confirmed; 0 if the answer did not say. */
time_t cmp_txn_confirm_by(const cmp_txn *t);
/* The card management key the CM host sent with the issued certificates
 * (cmp_enroll_req.mgmt_key): *alg the PIV algorithm (3, 8, 10, 12), the
 * key into key (cap >= 32; the caller wipes it). The transaction keeps
 * its copy until cmp_txn_wipe_mgmt_key or cmp_txn_free, which wipe it.
 * Errors: NOT_FOUND (not asked, or the CM host gave none: it holds none,
 * may not give it to this officer or over this transport, or does not
 * know the InfoType), CMP_FORMAT (a malformed value), CMP_MISMATCH (the
 * key of another card), TOO_BIG (cap). */
rt_err *cmp_txn_mgmt_key(const cmp_txn *t, int *alg, uint8_t *key,
    size_t cap, size_t *key_len) RT_MUST;
void cmp_txn_wipe_mgmt_key(cmp_txn *t);
void cmp_txn_free(cmp_txn *t);

/* What it takes to finish a transaction later, e.g. after a crash: the
 * transactionID and the server's last senderNonce (our recipNonce). */
typedef struct {
	uint8_t txid[16];
	size_t txid_len;
	uint8_t peer_nonce[128];
	size_t peer_nonce_len;
} cmp_txn_state;
void cmp_txn_get_state(const cmp_txn *t, cmp_txn_state *st);
/* A transaction rebuilt from its state and its n issued certificates
 * (copied; certReqIds 0..n-1) so that cmp_client_confirm_each can send
 * the certConf. Errors: ARG, NOMEM. */
rt_err *cmp_txn_resume(const cmp_txn_state *st, const cmp_buf *certs,
    size_t n, cmp_txn **out) RT_MUST;

/* certConf -> pkiConf. accept: every certificate is accepted; false: all
 * rejected (status rejection with `reason` as its text, may be NULL).
 * Nothing is sent if the confirmation was implicit.
 * Errors: as cmp_client_exchange. */
rt_err *cmp_client_confirm(cmp_client *c, cmp_txn *t, bool accept,
    const char *reason) RT_MUST;
/* certConf -> pkiConf with a decision per certificate: accept[i] for the
 * i-th certificate; a rejected one carries reasons[i] (reasons or its
 * entry may be NULL). Nothing is sent if the confirmation was implicit.
 * Errors: as cmp_client_exchange. */
rt_err *cmp_client_confirm_each(cmp_client *c, cmp_txn *t,
    const bool *accept, const char *const *reasons) RT_MUST;

/* rr -> rp for one certificate. reason: CRLReason, -1 none.
 * Errors: as cmp_client_exchange, CMP_STATUS, CERT. */
rt_err *cmp_client_revoke(cmp_client *c, const uint8_t *cert, size_t len,
    int reason) RT_MUST;

/* genm id-it-caCerts -> genp. *certs: a malloc'ed array of DER
 * certificates, each malloc'ed; free with cmp_certs_free. The genm is
 * protected with the client's signer, unprotected when it has none (the
 * CA certificates are public; cmhost answers it, as
 * `unprotected_cacerts` allows); the genp must be protected and chain to
 * the client's trust either way.
 * Errors: as cmp_client_exchange, CMP_FORMAT. */
rt_err *cmp_client_cacerts(cmp_client *c, uint8_t ***certs, size_t **lens,
    size_t *n) RT_MUST;
void cmp_certs_free(uint8_t **certs, size_t *lens, size_t n);

/* genm id-it-raterm-cardMgmtKey -> genp: the management key the CM host
 * holds for a card, on its own (`raterm update` asks for it in its cr:
 * cmp_enroll_req.mgmt_key). key (cap >= 32) is wiped by the caller.
 * Errors: as cmp_client_exchange, NOT_FOUND (no key for this card),
 * CMP_FORMAT. */
rt_err *cmp_client_mgmt_key(cmp_client *c, const uint8_t *card_id,
    size_t card_id_len, int *alg, uint8_t *key, size_t cap, size_t *key_len)
    RT_MUST;

/* genm id-it-raterm-txStatus -> genp for transaction txid (protected with
 * the client's signer: the officer of that transaction). *out's slices
 * point into *buf (malloc'ed, free it after use).
 * Errors: as cmp_client_exchange, CMP_FORMAT. */
rt_err *cmp_client_tx_status(cmp_client *c, const uint8_t *txid,
    size_t txid_len, cmp_tx_status *out, uint8_t **buf) RT_MUST;

#endif
