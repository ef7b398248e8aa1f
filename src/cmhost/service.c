/* service.c - the CMP service of cmhost: one request in, one protected
 * answer out; see include/raterm/cmhost.h and docs/cmhost.md.
 *
 * Order of checks for every request (nothing is issued or changed unless
 * all pass):
 *   1. decode (strict, cmp.h)                         badDataFormat
 *   2. protection: signature by the first extraCert,  badMessageCheck
 *      chaining to an officer CA                      signerNotTrusted
 *      messageTime within max_clock_skew              badTime
 *   3. the signer is a configured officer             notAuthorized
 *   4. senderNonce never seen                         badSenderNonce
 *   5. transactionID never seen (new transactions)    transactionIdInUse
 *      or, for certConf, an open transaction of the
 *      same officer whose recipNonce matches          badRecipientNonce
 *   6. the body: role, profile, POPO, template        notAuthorized,
 *                                                     badPOP, badCertTemplate,
 *                                                     ...
 */
#include "raterm/cmhost.h"
#include "raterm/cmhost_cache.h"
#include "raterm/cmhost_db.h"
#include "raterm/cmp.h"
#include "raterm/signer.h"
#include "raterm/signer_ossl.h"
#include "raterm/util.h"

#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/x509_crt.h>

#define MAX_ID 32		/* bytes of transactionID / nonces we accept */

/* The audit rows of unverified requests, per client address and minute
 * (a small table: the oldest entry makes room). */
#define UNVERIFIED_SLOTS 64
typedef struct {
	char addr[64];
	int64_t minute;
	unsigned rows, dropped;
} unverified_slot;

struct cmh_service {
	const cmh_config *cfg;
	cmh_ca *ca;
	cmh_db *db;
	mbedtls_x509_crt officer_cas;
	cmh_chain_cache *chains;	/* officer chains validated */
	pthread_mutex_t stamp_mu;	/* the revocation stamp, read at most */
	bool have_stamp;		/* once a second (cmh_db_revoked_stamp */
	time_t stamp_at;		/* counts the revoked certificates) */
	unsigned stamp;
	pthread_mutex_t unv_mu;
	unverified_slot unv[UNVERIFIED_SLOTS];
};

static void
warm_ec_key(mbedtls_pk_context *pk)
{
	if (!mbedtls_pk_can_do(pk, MBEDTLS_PK_ECKEY))
		return;
	mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
	mbedtls_ecp_point r;
	mbedtls_mpi one;
	mbedtls_ecp_point_init(&r);
	mbedtls_mpi_init(&one);
	if (mbedtls_mpi_lset(&one, 1) == 0)
		(void)mbedtls_ecp_mul(&ec->grp, &r, &one, &ec->grp.G, NULL, NULL);
	mbedtls_mpi_free(&one);
	mbedtls_ecp_point_free(&r);
}

rt_err *
cmh_service_new(const cmh_config *c, cmh_ca *ca, cmh_db *db, cmh_service **out)
{
	cmh_service *s;
	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "service");
	s->cfg = c;
	s->ca = ca;
	s->db = db;
	mbedtls_x509_crt_init(&s->officer_cas);
	pthread_mutex_init(&s->unv_mu, NULL);
	pthread_mutex_init(&s->stamp_mu, NULL);
	rt_err *ce = cmh_chain_cache_new(0, &s->chains);
	if (ce != NULL) {
		cmh_service_free(s);
		return ce;
	}
	for (size_t i = 0; i < c->nofficer_cas; i++) {
		int rc = mbedtls_x509_crt_parse_file(&s->officer_cas,
		    c->officer_cas[i]);
		if (rc != 0) {
			rt_err *e = rt_err_new(RT_E_CERT, NULL, "officer CA %s: %s "
			    "(mbedTLS -0x%04x)", c->officer_cas[i], rc > 0 ?
			    "some certificates do not parse" : "cannot be read",
			    (unsigned)(rc < 0 ? -rc : rc));
			cmh_service_free(s);
			return e;
		}
	}
	/* mbedTLS builds and caches a table in an EC key's group on its first
	 * use; build it now, before the server's threads share these keys. */
	for (mbedtls_x509_crt *crt = &s->officer_cas; crt != NULL && crt->raw.len;
	    crt = crt->next)
		warm_ec_key(&crt->pk);
	*out = s;
	return NULL;
}

void
cmh_service_free(cmh_service *s)
{
	if (s == NULL)
		return;
	mbedtls_x509_crt_free(&s->officer_cas);
	cmh_chain_cache_free(s->chains);
	pthread_mutex_destroy(&s->stamp_mu);
	pthread_mutex_destroy(&s->unv_mu);
	free(s);
}

/* ---- one request ---------------------------------------------------------- */

typedef struct {
	cmh_service *s;
	const char *station;
	bool confidential;	/* card management keys may be sent */
	bool unverified;	/* the protection did not verify: audited as
				 * "unverified", rate-limited */
	time_t now;
	cmp_msg *req;		/* NULL if it did not decode */
	cmp_msg *rsp;
	uint8_t nonce[16];	/* our senderNonce */
	uint8_t tid_rand[16];	/* transactionID when the request has none */
	char nonce_hex[40];
	char tid_hex[80];
	const cmh_officer *officer;
	char who[128];		/* officer name, or the signer's subject */
	char action[16];
	char detail[600];
	char serials[400];	/* certificates concerned (the request log) */
	/* a refusal */
	uint32_t fail_info;
	char why[240];
	/* scratch owned by the request */
	uint8_t *bufs[CMP_MAX_REQS + CMP_MAX_ITAVS];
	size_t nbufs;
	uint8_t *card_key;	/* a management key in the answer (wiped) */
	size_t card_key_len;
} reqctx;

/* A certificate the request concerns, for the request log. */
static void
note_serial(reqctx *x, const char *serial)
{
	size_t n = strlen(x->serials);
	snprintf(x->serials + n, sizeof(x->serials) - n, "%s%s", n ? " " : "",
	    serial);
}

static void
refuse(reqctx *x, uint32_t fi, const char *fmt, ...) RT_PRINTF(3, 4);

static void
refuse(reqctx *x, uint32_t fi, const char *fmt, ...)
{
	va_list ap;
	if (x->fail_info != 0)
		return;
	x->fail_info = fi;
	va_start(ap, fmt);
	vsnprintf(x->why, sizeof(x->why), fmt, ap);
	va_end(ap);
}

/* Refusal from an error object: its message and those of its causes. */
static void
refuse_err(reqctx *x, uint32_t fi, const char *what, rt_err *e)
{
	char m[220];
	rt_err_chain(e, m, sizeof(m));
	rt_err_free(e);
	refuse(x, fi, "%s: %s", what, m);
}

static const char *
fi_name(uint32_t fi)
{
	for (int b = 0; b < CMP_FAILINFO_BITS; b++)
		if (fi & (1u << b))
			return cmp_failinfo_name(b);
	return "?";
}

/* Keeps p until the request ends (freed, and wiped where it says so,
 * then). False when there is no room: p stays the caller's. */
static bool
keep(reqctx *x, void *p)
{
	if (p == NULL || x->nbufs >= sizeof(x->bufs) / sizeof(x->bufs[0]))
		return false;
	x->bufs[x->nbufs++] = p;
	return true;
}

/* ---- bodies ------------------------------------------------------------------ */

/* The profile for request i: certProfile i, or the only one, or the
 * default. */
static const cmh_profile *
profile_for(reqctx *x, size_t i, size_t n, char *name, size_t cap)
{
	const cmp_header *h = &x->req->hdr;
	cmp_buf pb = { NULL, 0 };
	if (h->ncert_profile == n)
		pb = h->cert_profile[i];
	else if (h->ncert_profile == 1)
		pb = h->cert_profile[0];
	else if (h->ncert_profile != 0) {
		refuse(x, CMP_FI_BAD_REQUEST, "%zu certProfile entries for %zu "
		    "requests", h->ncert_profile, n);
		return NULL;
	}
	if (pb.len > 0) {
		if (pb.len >= cap) {
			refuse(x, CMP_FI_BAD_CERT_TEMPLATE, "certProfile too long");
			return NULL;
		}
		memcpy(name, pb.p, pb.len);
		name[pb.len] = '\0';
	} else if (x->s->cfg->default_profile != NULL)
		snprintf(name, cap, "%s", x->s->cfg->default_profile);
	else {
		refuse(x, CMP_FI_BAD_CERT_TEMPLATE, "no certProfile given and no "
		    "default_profile configured");
		return NULL;
	}
	const cmh_profile *p = cmh_profile_find(x->s->cfg, name);
	if (p == NULL) {
		refuse(x, CMP_FI_BAD_CERT_TEMPLATE, "unknown certProfile '%s'",
		    name);
		return NULL;
	}
	if (!cmh_officer_may_use(x->officer, name)) {
		refuse(x, CMP_FI_NOT_AUTHORIZED, "officer %s may not use profile "
		    "'%s'", x->officer->name, name);
		return NULL;
	}
	return p;
}

/* The serial (lowercase hex without leading zero bytes) of an INTEGER's
 * contents. */
static void
serial_hex(cmp_buf v, char *out, size_t cap)
{
	while (v.len > 1 && v.p[0] == 0) {
		v.p++;
		v.len--;
	}
	rt_hex_encode(v.p, v.len, out, cap, 0);
}

/* kur: the serial of oldCertID (CertId ::= SEQUENCE { issuer GeneralName,
 * serialNumber INTEGER }). */
static bool
old_cert_serial(cmp_buf cid, char *out, size_t cap)
{
	unsigned char *p = (unsigned char *)cid.p, *end = p + cid.len;
	size_t l;
	if (mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE) != 0 || p + l != end || p >= end)
		return false;
	p++;				/* GeneralName: any tag */
	if (mbedtls_asn1_get_len(&p, end, &l) != 0)
		return false;
	p += l;
	if (mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_INTEGER) != 0 ||
	    p + l != end || l == 0)
		return false;
	serial_hex((cmp_buf){ p, l }, out, cap);
	return true;
}

static const struct {
	int id;
	const char *name;
} mgmt_algs[] = { { 3, "3des" }, { 8, "aes128" }, { 10, "aes192" },
	{ 12, "aes256" } };

/* What becomes of a request for a card's management key. */
typedef enum {
	MK_GIVEN,		/* *der: the CardMgmtKey value */
	MK_NONE_HELD,		/* no key for the card */
	MK_NOT_OFFICER,		/* the officer may not fetch keys */
	MK_NOT_CONFIDENTIAL,	/* plain HTTP that may not carry keys */
	MK_REFUSED,		/* the request refused (x->fail_info) */
} mk_result;

/* The answer to a CardMgmtKeyReq (genm, or generalInfo of a cr): the
 * officer's role and the transport are checked, then the database. The
 * value is kept by x and wiped when the request ends; the audit detail
 * names the card. */
static mk_result
mgmt_key_answer(reqctx *x, cmp_buf reqv, uint8_t **der, size_t *len)
{
	cmp_mgmt_key k;
	char card[80], alg[16];
	uint8_t *key;
	size_t klen, dl = strlen(x->detail);
	rt_err *e;

	*der = NULL;
	*len = 0;
	if ((e = cmp_mgmt_key_parse(reqv, false, &k)) != NULL) {
		refuse_err(x, CMP_FI_BAD_DATA_FORMAT, "cardMgmtKey", e);
		return MK_REFUSED;
	}
	if (k.card_id.len == 0 || k.card_id.len > CMP_CARD_ID_MAX) {
		refuse(x, CMP_FI_BAD_REQUEST, "cardMgmtKey: bad cardId");
		return MK_REFUSED;
	}
	rt_hex_encode(k.card_id.p, k.card_id.len, card, sizeof(card), 0);
	snprintf(x->detail + dl, sizeof(x->detail) - dl, "%scardMgmtKey %s ",
	    dl && x->detail[dl - 1] != ' ' ? "; " : "", card);
	if (!x->officer->mgmt_keys)
		return MK_NOT_OFFICER;
	if (!x->confidential)	/* the key would travel in clear */
		return MK_NOT_CONFIDENTIAL;
	if ((e = cmh_db_mgmt_key_get(x->s->db, card, alg, sizeof(alg), &key,
	    &klen)) != NULL) {
		if (rt_err_kind_of(e) != RT_E_NOT_FOUND) {
			refuse_err(x, CMP_FI_SYSTEM_FAILURE, "cardMgmtKey", e);
			return MK_REFUSED;
		}
		rt_err_free(e);
		return MK_NONE_HELD;
	}
	k.alg = 0;
	for (size_t j = 0; j < sizeof(mgmt_algs) / sizeof(mgmt_algs[0]); j++)
		if (!strcmp(alg, mgmt_algs[j].name))
			k.alg = mgmt_algs[j].id;
	k.key = (cmp_buf){ key, klen };
	e = cmp_mgmt_key_encode(&k, true, der, len);
	rt_wipe(key, klen);
	free(key);
	if (e != NULL) {
		refuse_err(x, CMP_FI_SYSTEM_FAILURE, "cardMgmtKey", e);
		return MK_REFUSED;
	}
	if (!keep(x, *der)) {
		rt_wipe(*der, *len);
		free(*der);
		*der = NULL;
		refuse(x, CMP_FI_SYSTEM_FAILURE, "cardMgmtKey: too many items in "
		    "one request");
		return MK_REFUSED;
	}
	x->card_key = *der;
	x->card_key_len = *len;
	return MK_GIVEN;
}

static const char *
mk_note(mk_result r)
{
	switch (r) {
	case MK_GIVEN: return "(given) ";
	case MK_NONE_HELD: return "(none held) ";
	case MK_NOT_OFFICER: return "(not given: the officer may not fetch "
	    "card management keys) ";
	case MK_NOT_CONFIDENTIAL: return "(not given: plain HTTP, see "
	    "listen.mgmt_keys_over_http) ";
	default: return "";
	}
}

typedef struct {
	const cmh_profile *p;
	char profile[64];
	cmh_checked ck;
	bool checked;
	long id;
	char card[2 * CMP_CARD_ID_MAX + 1];	/* "" unknown */
} one_req;

/* Issues q's certificate and records it (*der malloc'ed). A serial
 * another instance recorded first (the database's unique key) is issued
 * again with a new one, up to 3 times. *what: "issuance" or "database",
 * the step that failed. */
static rt_err *
issue_record(reqctx *x, const one_req *q, bool implicit, cmh_cert_rec *rec,
    uint8_t **der, size_t *len, const char **what)
{
	rt_err *e;
	for (int tries = 1;; tries++) {
		memset(rec, 0, sizeof(*rec));
		*what = "issuance";
		if ((e = cmh_issue(x->s->ca, q->p, &q->ck, x->now, der, len,
		    rec->serial)) != NULL)
			return e;
		snprintf(rec->subject, sizeof(rec->subject), "%s",
		    q->ck.subject_str);
		snprintf(rec->profile, sizeof(rec->profile), "%s", q->profile);
		snprintf(rec->officer, sizeof(rec->officer), "%s",
		    x->officer->name);
		snprintf(rec->card, sizeof(rec->card), "%s", q->card);
		snprintf(rec->tid, sizeof(rec->tid), "%s", x->tid_hex);
		rec->cert_req_id = (int)q->id;
		rec->state = implicit ? CMH_CERT_CONFIRMED : CMH_CERT_WAITING;
		rec->issued_at = rec->state_at = (int64_t)x->now;
		rec->not_after = (int64_t)x->now +
		    (int64_t)q->p->validity_days * 86400;
		*what = "database";
		if ((e = cmh_db_cert_add(x->s->db, rec, *der, *len)) == NULL)
			return NULL;
		free(*der);
		*der = NULL;
		if (rt_err_kind_of(e) != RT_E_ARG || tries == 3)
			return e;
		rt_err_free(e);
	}
}

static void
enroll(reqctx *x)
{
	cmp_msg *m = x->req, *r = x->rsp;
	one_req rq[CMP_MAX_REQS];
	size_t n = m->type == CMP_BODY_P10CR ? 1 : m->nreq;
	rt_err *e;

	memset(rq, 0, sizeof(rq));
	if (n == 0 || n > CMP_MAX_REQS) {
		refuse(x, CMP_FI_BAD_REQUEST, "no certificate request");
		return;
	}
	/* id-it-raterm-cardId: the card the certificates are for, kept as
	 * hex like the keys of the mgmt_keys table */
	if (m->hdr.card_id.len > 0) {
		char card[2 * CMP_CARD_ID_MAX + 1];
		rt_hex_encode(m->hdr.card_id.p, m->hdr.card_id.len, card,
		    sizeof(card), 0);
		for (size_t i = 0; i < n; i++)
			memcpy(rq[i].card, card, sizeof(card));
		snprintf(x->detail, sizeof(x->detail), "card %s: ", card);
	}
	/* 1. check every request; nothing is issued unless all pass */
	for (size_t i = 0; i < n && x->fail_info == 0; i++) {
		cmp_cert_req tmp, *q;
		cmh_refusal ref;
		char old[48] = "";
		if (m->type == CMP_BODY_P10CR) {
			memset(&tmp, 0, sizeof(tmp));
			if ((e = cmp_req_from_csr_with(m->p10.p, m->p10.len,
			    &rt_verifier_ossl, &tmp)) != NULL) {
				refuse_err(x, rt_err_kind_of(e) == RT_E_CRYPTO ?
				    CMP_FI_BAD_POP : CMP_FI_BAD_DATA_FORMAT,
				    "PKCS#10 request", e);
				break;
			}
			q = &tmp;
			rq[i].id = -1;
		} else {
			q = &m->req[i];
			rq[i].id = q->cert_req_id;
			if (q->cert_req_id != (long)i) {
				refuse(x, CMP_FI_BAD_REQUEST, "certReqId %ld where %zu "
				    "was expected", q->cert_req_id, i);
				break;
			}
			if (q->popo == CMP_POPO_SIGNATURE) {
				if ((e = cmp_popo_verify_with(m, i,
				    &rt_verifier_ossl)) != NULL) {
					refuse_err(x, CMP_FI_BAD_POP, "proof of "
					    "possession", e);
					break;
				}
			} else if (q->popo != CMP_POPO_RA_VERIFIED) {
				refuse(x, CMP_FI_BAD_POP, "request %zu has no proof of "
				    "possession", i);
				break;
			}
		}
		if (m->type == CMP_BODY_KUR) {
			cmh_cert_rec oldrec;
			if (q->old_cert_id.len == 0 ||
			    !old_cert_serial(q->old_cert_id, old, sizeof(old))) {
				refuse(x, CMP_FI_BAD_CERT_ID, "kur without a usable "
				    "oldCertID");
				break;
			}
			if ((e = cmh_db_cert_get(x->s->db, old, &oldrec, NULL, NULL))
			    != NULL) {
				refuse_err(x, CMP_FI_BAD_CERT_ID, "oldCertID", e);
				break;
			}
			if (oldrec.state == CMH_CERT_REVOKED) {
				refuse(x, CMP_FI_CERT_REVOKED, "certificate %s to "
				    "update is revoked", old);
				break;
			}
			/* no cardId: the new certificate is for the old one's
			 * card */
			if (rq[i].card[0] == '\0' && strlen(oldrec.card) <
			    sizeof(rq[i].card))
				memcpy(rq[i].card, oldrec.card,
				    strlen(oldrec.card) + 1);
			/* no certProfile: the old certificate's profile */
			if (m->hdr.ncert_profile == 0) {
				snprintf(rq[i].profile, sizeof(rq[i].profile), "%s",
				    oldrec.profile);
				rq[i].p = cmh_profile_find(x->s->cfg, oldrec.profile);
				if (rq[i].p == NULL)
					refuse(x, CMP_FI_BAD_CERT_TEMPLATE, "profile "
					    "'%s' of the old certificate no longer "
					    "exists", oldrec.profile);
				else if (!cmh_officer_may_use(x->officer,
				    oldrec.profile))
					refuse(x, CMP_FI_NOT_AUTHORIZED, "officer %s "
					    "may not use profile '%s'", x->officer->name,
					    oldrec.profile);
			}
		}
		if (rq[i].p == NULL && x->fail_info == 0)
			rq[i].p = profile_for(x, i, n, rq[i].profile,
			    sizeof(rq[i].profile));
		if (rq[i].p == NULL)
			break;
		cmh_request cr = {
			.subject = q->subject.p, .subject_len = q->subject.len,
			.spki = q->public_key.p, .spki_len = q->public_key.len,
			.exts = q->extensions.p, .exts_len = q->extensions.len,
		};
		if ((e = cmh_policy_check(rq[i].p, &cr, &rq[i].ck, &ref)) != NULL) {
			rt_err_free(e);
			refuse(x, ref.fail_info, "%s", ref.why);
			break;
		}
		rq[i].checked = true;
		size_t dl = strlen(x->detail);
		snprintf(x->detail + dl, sizeof(x->detail) - dl, "%s%s [%s]%s%s%s%s",
		    i ? "; " : "", rq[i].ck.subject_str, rq[i].profile,
		    old[0] ? " replaces " : "", old,
		    m->hdr.card_id.len == 0 && rq[i].card[0] ? " on card " : "",
		    m->hdr.card_id.len == 0 ? rq[i].card : "");
	}
	/* 2. the card's management key asked in generalInfo: answered in
	 * the ip's generalInfo, without a value when none is given (the
	 * certificates are issued all the same; the station then asks the
	 * officer for the operator credential) */
	if (x->fail_info == 0 && m->hdr.has_mgmt_key) {
		uint8_t *der = NULL;
		size_t len = 0;
		mk_result mr;
		cmp_mgmt_key k;
		rt_err *pe = cmp_mgmt_key_parse(m->hdr.mgmt_key, false, &k);
		if (pe == NULL && m->hdr.card_id.len > 0 &&
		    !cmp_buf_eq(k.card_id, m->hdr.card_id)) {
			refuse(x, CMP_FI_BAD_REQUEST, "cardMgmtKey: another card "
			    "than the request's cardId");
			mr = MK_REFUSED;
		} else {
			rt_err_free(pe);
			mr = mgmt_key_answer(x, m->hdr.mgmt_key, &der, &len);
		}
		if (mr != MK_REFUSED) {	/* refused: nothing is issued */
			size_t dl = strlen(x->detail);
			snprintf(x->detail + dl, sizeof(x->detail) - dl, "%s",
			    mk_note(mr));
			r->hdr.has_mgmt_key = true;
			r->hdr.mgmt_key = (cmp_buf){ der, len };
		}
	}
	/* 3. the transaction (replay of its ID is refused before issuing) */
	bool implicit = m->hdr.implicit_confirm;
	if (x->fail_info == 0 && (e = cmh_db_txn_begin(x->s->db, x->tid_hex,
	    x->officer->name, x->action, implicit ? NULL : x->nonce_hex,
	    (int64_t)x->now)) != NULL) {
		refuse_err(x, rt_err_kind_of(e) == RT_E_AUTH ?
		    CMP_FI_TRANSACTION_ID_IN_USE : CMP_FI_SYSTEM_FAILURE,
		    "transaction", e);
	}
	/* 4. issue and record */
	for (size_t i = 0; i < n && x->fail_info == 0; i++) {
		uint8_t *der = NULL;
		size_t len;
		cmh_cert_rec rec;
		const char *what;
		/* room to keep it first: no certificate is recorded that is
		 * not sent */
		if (x->nbufs >= sizeof(x->bufs) / sizeof(x->bufs[0])) {
			refuse(x, CMP_FI_SYSTEM_FAILURE, "issuance: too many "
			    "certificates in one request");
			break;
		}
		if ((e = issue_record(x, &rq[i], implicit, &rec, &der, &len,
		    &what)) != NULL) {
			refuse_err(x, CMP_FI_SYSTEM_FAILURE, what, e);
			break;
		}
		(void)keep(x, der);
		size_t dl = strlen(x->detail);
		snprintf(x->detail + dl, sizeof(x->detail) - dl, " -> serial %s",
		    rec.serial);
		note_serial(x, rec.serial);
		r->resp[i].cert_req_id = rq[i].id;
		r->resp[i].status.status = CMP_STATUS_ACCEPTED;
		r->resp[i].cert.p = der;
		r->resp[i].cert.len = len;
		r->nresp = i + 1;
	}
	for (size_t i = 0; i < n; i++)
		if (rq[i].checked)
			cmh_checked_free(&rq[i].ck);
	if (x->fail_info != 0)
		return;
	r->type = m->type == CMP_BODY_IR ? CMP_BODY_IP :
	    m->type == CMP_BODY_KUR ? CMP_BODY_KUP : CMP_BODY_CP;
	r->hdr.implicit_confirm = implicit;
	/* RFC 4210 confirmWaitTime: unconfirmed certificates are revoked
	 * then (the station says so when an answer is lost) */
	if (!implicit)
		r->hdr.confirm_wait_time = x->now +
		    (time_t)x->s->cfg->grace_seconds;
}

typedef struct {
	cmh_cert_rec recs[CMP_MAX_REQS];
	size_t n;
} tid_certs;

static void
collect(void *ctx, const cmh_cert_rec *r)
{
	tid_certs *t = ctx;
	if (t->n < CMP_MAX_REQS)
		t->recs[t->n++] = *r;
}

/* certConf: the whole message is checked first (the transaction open for
 * this officer and recipNonce, every certReqId known and named once,
 * every certHash right), then applied in one database transaction and
 * answered as applied: a wrong certHash leaves the transaction open for
 * the correct retry, an unknown certReqId is refused, never pkiConf'd. */
static void
cert_conf(reqctx *x)
{
	cmp_msg *m = x->req;
	tid_certs tc;
	char rn[80], who[128], expect[160];
	int ids[CMP_MAX_REQS];
	bool acc[CMP_MAX_REQS];
	size_t n = 0;
	rt_err *e;

	if (m->hdr.recip_nonce.len == 0 || m->hdr.recip_nonce.len > MAX_ID) {
		refuse(x, CMP_FI_BAD_RECIPIENT_NONCE, "certConf without "
		    "recipNonce");
		return;
	}
	rt_hex_encode(m->hdr.recip_nonce.p, m->hdr.recip_nonce.len, rn,
	    sizeof(rn), 0);
	if ((e = cmh_db_txn_get(x->s->db, x->tid_hex, who, sizeof(who), expect,
	    sizeof(expect))) != NULL || expect[0] == '\0') {
		refuse_err(x, e == NULL || rt_err_has(e, RT_E_NOT_FOUND) ?
		    CMP_FI_BAD_REQUEST : CMP_FI_SYSTEM_FAILURE, "certConf", e ? e :
		    rt_err_new(RT_E_NOT_FOUND, NULL, "no open transaction %s",
		    x->tid_hex));
		return;
	}
	if (strcmp(who, x->officer->name) != 0) {
		refuse(x, CMP_FI_NOT_AUTHORIZED, "transaction %s belongs to "
		    "another officer", x->tid_hex);
		return;
	}
	if (strcmp(expect, rn) != 0) {
		refuse(x, CMP_FI_BAD_RECIPIENT_NONCE, "recipNonce does not match "
		    "the senderNonce of our last message in transaction %s",
		    x->tid_hex);
		return;
	}
	memset(&tc, 0, sizeof(tc));
	if ((e = cmh_db_certs_of_tid(x->s->db, x->tid_hex, collect, &tc)) != NULL) {
		refuse_err(x, CMP_FI_SYSTEM_FAILURE, "database", e);
		return;
	}
	/* every CertStatus names a certificate of the transaction, once */
	for (size_t j = 0; j < m->nconf; j++) {
		bool known = false;
		for (size_t i = 0; i < tc.n; i++)
			known |= m->conf[j].cert_req_id == tc.recs[i].cert_req_id;
		for (size_t k = 0; k < j; k++)
			if (m->conf[k].cert_req_id == m->conf[j].cert_req_id) {
				refuse(x, CMP_FI_BAD_REQUEST, "certConf names certReqId "
				    "%ld twice", m->conf[j].cert_req_id);
				return;
			}
		if (!known) {
			refuse(x, CMP_FI_BAD_REQUEST, "certConf names certReqId %ld, "
			    "which transaction %s did not issue",
			    m->conf[j].cert_req_id, x->tid_hex);
			return;
		}
	}
	/* an empty certConf rejects everything (RFC 4210 5.3.18) */
	for (size_t i = 0; i < tc.n; i++) {
		const cmp_cert_status *cs = NULL;
		for (size_t j = 0; j < m->nconf; j++)
			if (m->conf[j].cert_req_id == tc.recs[i].cert_req_id)
				cs = &m->conf[j];
		if (cs == NULL && m->nconf != 0)
			continue;
		bool accept = cs != NULL && (!cs->has_status ||
		    cs->status.status == CMP_STATUS_ACCEPTED ||
		    cs->status.status == CMP_STATUS_GRANTED_WITH_MODS);
		if (cs != NULL) {
			uint8_t *der, h[64];
			size_t len, hl;
			if ((e = cmh_db_cert_get(x->s->db, tc.recs[i].serial, NULL,
			    &der, &len)) != NULL) {
				refuse_err(x, CMP_FI_SYSTEM_FAILURE, "database", e);
				return;
			}
			e = cmp_cert_hash(der, len, h, &hl);
			free(der);
			if (e != NULL) {
				refuse_err(x, CMP_FI_SYSTEM_FAILURE, "certHash", e);
				return;
			}
			if (cs->hash_alg.len == 0 && (cs->cert_hash.len != hl ||
			    memcmp(cs->cert_hash.p, h, hl) != 0)) {
				refuse(x, CMP_FI_BAD_CERT_ID, "certHash of certReqId "
				    "%ld does not match certificate %s (nothing "
				    "applied: the transaction stays open)",
				    cs->cert_req_id, tc.recs[i].serial);
				return;
			}
		}
		if (tc.recs[i].state != CMH_CERT_WAITING) {
			refuse(x, CMP_FI_CERT_CONFIRMED, "certificate %s is %s, not "
			    "waiting for confirmation", tc.recs[i].serial,
			    cmh_cert_state_name(tc.recs[i].state));
			return;
		}
		ids[n] = tc.recs[i].cert_req_id;
		acc[n++] = accept;
	}
	/* all of it, in one database transaction */
	if ((e = cmh_db_certconf(x->s->db, x->tid_hex, x->officer->name, rn,
	    ids, acc, n, (int64_t)x->now)) != NULL) {
		uint32_t fi = CMP_FI_SYSTEM_FAILURE;
		if (rt_err_kind_of(e) == RT_E_AUTH)
			fi = strstr(rt_err_msg(e), "recipNonce") ?
			    CMP_FI_BAD_RECIPIENT_NONCE : CMP_FI_NOT_AUTHORIZED;
		else if (rt_err_kind_of(e) == RT_E_NOT_FOUND)
			fi = CMP_FI_BAD_REQUEST;
		else if (rt_err_kind_of(e) == RT_E_ARG)
			fi = CMP_FI_CERT_CONFIRMED;
		refuse_err(x, fi, "certConf", e);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *serial = "?";
		for (size_t k = 0; k < tc.n; k++)
			if (tc.recs[k].cert_req_id == ids[i])
				serial = tc.recs[k].serial;
		size_t dl = strlen(x->detail);
		snprintf(x->detail + dl, sizeof(x->detail) - dl, "%s%s %s",
		    dl ? "; " : "", serial, acc[i] ? "confirmed" : "rejected");
		note_serial(x, serial);
	}
	x->rsp->type = CMP_BODY_PKICONF;
}

static void
revoke(reqctx *x)
{
	cmp_msg *m = x->req, *r = x->rsp;
	const mbedtls_x509_crt *ca = cmh_ca_cert(x->s->ca);
	char serials[CMP_MAX_REQS][48];
	rt_err *e;

	if (!x->officer->revoke) {
		refuse(x, CMP_FI_NOT_AUTHORIZED, "officer %s may not revoke",
		    x->officer->name);
		return;
	}
	if (m->nrev == 0) {
		refuse(x, CMP_FI_BAD_REQUEST, "rr without RevDetails");
		return;
	}
	for (size_t i = 0; i < m->nrev; i++) {
		const cmp_rev_details *d = &m->rev[i];
		cmh_cert_rec rec;
		if (d->serial.len == 0) {
			refuse(x, CMP_FI_BAD_CERT_ID, "rr without serialNumber");
			return;
		}
		if (d->issuer.len != 0 && (d->issuer.len != ca->subject_raw.len ||
		    memcmp(d->issuer.p, ca->subject_raw.p, d->issuer.len) != 0)) {
			refuse(x, CMP_FI_BAD_CERT_ID, "certificate not issued by "
			    "this CA");
			return;
		}
		serial_hex(d->serial, serials[i], sizeof(serials[i]));
		for (size_t k = 0; k < i; k++)
			if (strcmp(serials[k], serials[i]) == 0) {
				refuse(x, CMP_FI_BAD_REQUEST, "rr lists certificate %s "
				    "twice (nothing revoked)", serials[i]);
				return;
			}
		if ((e = cmh_db_cert_get(x->s->db, serials[i], &rec, NULL, NULL))
		    != NULL) {
			refuse_err(x, CMP_FI_BAD_CERT_ID, "rr", e);
			return;
		}
		if (rec.state == CMH_CERT_REVOKED) {
			refuse(x, CMP_FI_CERT_REVOKED, "certificate %s is already "
			    "revoked", serials[i]);
			return;
		}
		if (!cmh_officer_may_use(x->officer, rec.profile)) {
			refuse(x, CMP_FI_NOT_AUTHORIZED, "officer %s may not use "
			    "profile '%s'", x->officer->name, rec.profile);
			return;
		}
	}
	/* the whole request, in one database transaction */
	const char *sv[CMP_MAX_REQS];
	int reasons[CMP_MAX_REQS];
	for (size_t i = 0; i < m->nrev; i++) {
		sv[i] = serials[i];
		reasons[i] = m->rev[i].reason < 0 ? 0 : m->rev[i].reason;
	}
	if ((e = cmh_db_revoke_all(x->s->db, x->tid_hex, x->officer->name,
	    x->action, sv, reasons, m->nrev, (int64_t)x->now)) != NULL) {
		refuse_err(x, rt_err_kind_of(e) == RT_E_AUTH ?
		    CMP_FI_TRANSACTION_ID_IN_USE : rt_err_kind_of(e) == RT_E_ARG ?
		    CMP_FI_CERT_REVOKED : CMP_FI_SYSTEM_FAILURE, "revocation", e);
		return;
	}
	for (size_t i = 0; i < m->nrev; i++) {
		size_t dl = strlen(x->detail);
		snprintf(x->detail + dl, sizeof(x->detail) - dl, "%s%s (%s)",
		    i ? "; " : "", serials[i], cmp_reason_name(reasons[i]));
		note_serial(x, serials[i]);
		r->rev_status[i].status = CMP_STATUS_ACCEPTED;
		r->nrev_status = i + 1;
	}
	r->type = CMP_BODY_RP;
}

/* id-it-raterm-txStatus: what this CM host knows of one of the asking
 * officer's transactions (cmp.h). Read only: the transaction asked about
 * is not changed. *der malloc'ed (kept by the caller); false: refused
 * (already recorded). */
static bool
tx_status_answer(reqctx *x, cmp_buf value, uint8_t **der, size_t *len)
{
	cmp_tx_status q, a;
	tid_certs tc;
	char tid[2 * 64 + 1], who[128], expect[160];
	uint8_t nonce[64], *ders[CMP_TX_MAX_CERTS];
	size_t nn = 0, nd = 0;
	rt_err *e;

	*der = NULL;
	if ((e = cmp_tx_status_parse(value, false, &q)) != NULL) {
		refuse_err(x, CMP_FI_BAD_DATA_FORMAT, "txStatus", e);
		return false;
	}
	memset(&a, 0, sizeof(a));
	memset(&tc, 0, sizeof(tc));
	a.txid = q.txid;
	a.status = CMP_TX_UNKNOWN;
	rt_hex_encode(q.txid.p, q.txid.len, tid, sizeof(tid), 0);
	e = cmh_db_txn_get(x->s->db, tid, who, sizeof(who), expect,
	    sizeof(expect));
	if (e != NULL && !rt_err_has(e, RT_E_NOT_FOUND)) {
		refuse_err(x, CMP_FI_SYSTEM_FAILURE, "txStatus", e);
		return false;
	}
	/* another officer's transaction: as if never seen */
	bool mine = e == NULL && strcmp(who, x->officer->name) == 0;
	rt_err_free(e);
	if (mine && (e = cmh_db_certs_of_tid(x->s->db, tid, collect, &tc)) !=
	    NULL) {
		refuse_err(x, CMP_FI_SYSTEM_FAILURE, "txStatus", e);
		return false;
	}
	bool waiting = false;
	int64_t issued = 0;
	for (size_t i = 0; mine && i < tc.n && i < CMP_TX_MAX_CERTS; i++) {
		const cmh_cert_rec *r = &tc.recs[i];
		size_t dl;
		if ((e = cmh_db_cert_get(x->s->db, r->serial, NULL, &ders[nd],
		    &dl)) != NULL) {
			refuse_err(x, CMP_FI_SYSTEM_FAILURE, "txStatus", e);
			goto fail;
		}
		a.certs[a.ncerts].cert_req_id = r->cert_req_id;
		a.certs[a.ncerts].state = r->state == CMH_CERT_CONFIRMED ?
		    CMP_TXC_CONFIRMED : r->state == CMH_CERT_REJECTED ?
		    CMP_TXC_REJECTED : r->state == CMH_CERT_REVOKED ?
		    CMP_TXC_REVOKED : CMP_TXC_WAITING;
		a.certs[a.ncerts].cert = (cmp_buf){ ders[nd], dl };
		a.ncerts++;
		nd++;
		waiting |= r->state == CMH_CERT_WAITING;
		if (r->issued_at > issued)
			issued = r->issued_at;
	}
	if (a.ncerts > 0) {
		/* waiting: the certConf it owes can still come */
		a.status = waiting && expect[0] ? CMP_TX_WAITING : CMP_TX_CLOSED;
		if (a.status == CMP_TX_WAITING) {
			rt_err *he = rt_hex_decode(expect, strlen(expect), nonce,
			    sizeof(nonce), &nn, 0);
			rt_err_free(he);
			a.recip_nonce = (cmp_buf){ nonce, he ? 0 : nn };
			a.confirm_by = (time_t)(issued +
			    (int64_t)x->s->cfg->grace_seconds);
		}
	}
	if ((e = cmp_tx_status_encode(&a, true, der, len)) != NULL) {
		refuse_err(x, CMP_FI_SYSTEM_FAILURE, "txStatus", e);
		goto fail;
	}
	for (size_t i = 0; i < nd; i++)
		free(ders[i]);
	size_t dl = strlen(x->detail);
	snprintf(x->detail + dl, sizeof(x->detail) - dl, "txStatus %s: %s ",
	    tid, a.status == CMP_TX_WAITING ? "waiting" : a.status ==
	    CMP_TX_CLOSED ? "closed" : "unknown");
	return true;
fail:
	for (size_t i = 0; i < nd; i++)
		free(ders[i]);
	return false;
}

static void
genm(reqctx *x)
{
	cmp_msg *m = x->req, *r = x->rsp;
	rt_err *e;

	/* an anonymous caCerts request (unprotected_cacerts) records no
	 * transaction: it changes nothing */
	if (x->officer != NULL && (e = cmh_db_txn_begin(x->s->db, x->tid_hex,
	    x->officer->name, x->action, NULL, (int64_t)x->now)) != NULL) {
		refuse_err(x, rt_err_kind_of(e) == RT_E_AUTH ?
		    CMP_FI_TRANSACTION_ID_IN_USE : CMP_FI_SYSTEM_FAILURE,
		    "transaction", e);
		return;
	}
	r->type = CMP_BODY_GENP;
	for (size_t i = 0; i < m->nitav && x->fail_info == 0; i++) {
		const cmp_itav *it = &m->itav[i];
		cmp_itav *o = &r->itav[r->nitav];
		size_t dl = strlen(x->detail);
		if (cmp_itav_is(it, CMP_OID_IT_CA_CERTS)) {
			cmp_buf certs[CMP_MAX_CERTS];
			size_t n = 0;
			uint8_t *der;
			size_t len;
			for (const mbedtls_x509_crt *c = cmh_ca_chain(x->s->ca);
			    c != NULL && c->raw.len && n < CMP_MAX_CERTS; c = c->next)
				certs[n++] = (cmp_buf){ c->raw.p, c->raw.len };
			if ((e = cmp_certs_encode(certs, n, &der, &len)) != NULL) {
				refuse_err(x, CMP_FI_SYSTEM_FAILURE, "caCerts", e);
				return;
			}
			if (!keep(x, der)) {
				free(der);
				refuse(x, CMP_FI_SYSTEM_FAILURE, "caCerts: too many "
				    "items in one request");
				return;
			}
			o->oid = it->oid;
			o->value = (cmp_buf){ der, len };
			r->nitav++;
			snprintf(x->detail + dl, sizeof(x->detail) - dl, "caCerts ");
		} else if (cmp_itav_is(it, CMP_OID_IT_TX_STATUS)) {
			uint8_t *der;
			size_t len;
			if (!tx_status_answer(x, it->value, &der, &len))
				return;
			if (!keep(x, der)) {
				free(der);
				refuse(x, CMP_FI_SYSTEM_FAILURE, "txStatus: too many "
				    "items in one request");
				return;
			}
			o->oid = it->oid;
			o->value = (cmp_buf){ der, len };
			r->nitav++;
		} else if (cmp_itav_is(it, CMP_OID_IT_ROOT_CA_KEY_UPDATE)) {
			/* no root CA key update: the ITAV without a value */
			o->oid = it->oid;
			r->nitav++;
			snprintf(x->detail + dl, sizeof(x->detail) - dl,
			    "rootCaKeyUpdate ");
		} else if (cmp_itav_is(it, CMP_OID_IT_CARD_MGMT_KEY)) {
			uint8_t *der;
			size_t len;
			mk_result mr = mgmt_key_answer(x, it->value, &der, &len);
			if (mr == MK_REFUSED)
				return;
			if (mr == MK_NOT_OFFICER) {
				refuse(x, CMP_FI_NOT_AUTHORIZED, "officer %s may not "
				    "fetch card management keys", x->officer->name);
				return;
			}
			if (mr == MK_NOT_CONFIDENTIAL) {
				refuse(x, CMP_FI_NOT_AUTHORIZED, "card management "
				    "keys are sent over HTTPS only (see "
				    "listen.mgmt_keys_over_http)");
				return;
			}
			/* none held: the InfoType without a value */
			o->oid = it->oid;
			o->value = (cmp_buf){ der, len };
			r->nitav++;
			if (mr == MK_NONE_HELD) {
				dl = strlen(x->detail);
				snprintf(x->detail + dl, sizeof(x->detail) - dl,
				    "(none held) ");
			}
		} else {
			char oid[80];
			rt_hex_encode(it->oid.p, it->oid.len, oid, sizeof(oid),
			    0);
			snprintf(x->detail + dl, sizeof(x->detail) - dl,
			    "(unsupported InfoType %s) ", oid);
		}
	}
}

/* ---- the request -------------------------------------------------------------- */

/* The officer chain cache as cmp_msg_verify asks it (cmhost_cache.h): a
 * chain validated under the current revocation stamp and not expired is
 * not validated again, unless the officer's certificate, issued by this
 * CA, is revoked in the database now (looked up on every request); a
 * chain just validated is cached by verify_and_identify once the
 * officer's certificate is known not to be revoked. */
typedef struct {
	cmh_service *s;
	time_t now;
	bool have_stamp;	/* no stamp (database error): no cache */
	unsigned stamp;
	bool validated;		/* the chain was validated by this request */
	time_t not_after;
} chain_check;

/* The revocation stamp: cmh_db_revoked_stamp counts the revoked and
 * rejected certificates (a query that grows with them), so it is read
 * once a second at most; a change reaches the cache within that second,
 * an officer's own revocation at once (serial_revoked). */
static bool
revoked_stamp(cmh_service *s, time_t now, unsigned *stamp)
{
	pthread_mutex_lock(&s->stamp_mu);
	if (!s->have_stamp || now != s->stamp_at) {
		rt_err *e = cmh_db_revoked_stamp(s->db, &s->stamp);
		s->have_stamp = e == NULL;
		s->stamp_at = now;
		rt_err_free(e);
	}
	bool have = s->have_stamp;
	*stamp = s->stamp;
	pthread_mutex_unlock(&s->stamp_mu);
	return have;
}

/* Whether the certificate of this CA with this serial is revoked or
 * rejected in the database. */
static bool
serial_revoked(cmh_service *s, const char *serial)
{
	cmh_cert_rec rec;
	rt_err *e = cmh_db_cert_get(s->db, serial, &rec, NULL, NULL);
	if (e != NULL) {
		rt_err_free(e);
		return false;
	}
	return rec.state == CMH_CERT_REVOKED || rec.state == CMH_CERT_REJECTED;
}

static bool
chain_known(void *ctx, cmp_buf cert)
{
	chain_check *cc = ctx;
	char serial[80];
	if (!cc->have_stamp || !cmh_chain_cache_get(cc->s->chains, cert.p,
	    cert.len, cc->stamp, cc->now, serial, sizeof(serial)))
		return false;
	/* revoked since it was cached: validated again, and refused */
	return serial[0] == '\0' || !serial_revoked(cc->s, serial);
}

static void
chain_validated(void *ctx, cmp_buf cert, time_t not_after)
{
	chain_check *cc = ctx;
	(void)cert;
	cc->validated = true;
	cc->not_after = not_after;
}

/* The serial of the officer's certificate c when cmhost's CA issued it
 * (else ""). */
static void
own_serial(reqctx *x, const mbedtls_x509_crt *c, char *serial, size_t cap)
{
	const mbedtls_x509_crt *ca = cmh_ca_cert(x->s->ca);
	serial[0] = '\0';
	if (ca != NULL && c->issuer_raw.len == ca->subject_raw.len &&
	    memcmp(c->issuer_raw.p, ca->subject_raw.p, c->issuer_raw.len) == 0)
		serial_hex((cmp_buf){ c->serial.p, c->serial.len }, serial, cap);
}

unsigned long
cmh_service_chain_validations(const cmh_service *s)
{
	return cmh_chain_cache_validations(s->chains);
}

static void
verify_and_identify(reqctx *x)
{
	cmp_msg *m = x->req;
	cmp_verify_opts vo;
	chain_check cc;
	size_t idx = 0;
	rt_err *e;

	memset(&vo, 0, sizeof(vo));
	memset(&cc, 0, sizeof(cc));
	vo.trust = &x->s->officer_cas;
	vo.max_skew = (long)x->s->cfg->max_skew;
	vo.now = x->now;
	vo.verifier = &rt_verifier_ossl;
	cc.s = x->s;
	cc.now = x->now;
	cc.have_stamp = revoked_stamp(x->s, x->now, &cc.stamp);
	vo.chain_known = chain_known;
	vo.chain_validated = chain_validated;
	vo.chain_ctx = &cc;
	if (m->protection.len == 0) {
		refuse(x, CMP_FI_BAD_MESSAGE_CHECK, "the request is not protected");
		snprintf(x->who, sizeof(x->who), "unverified");
		x->unverified = true;
		return;
	}
	if ((e = cmp_msg_verify(m, &vo, &idx)) != NULL) {
		uint32_t fi = CMP_FI_BAD_MESSAGE_CHECK;
		if (rt_err_kind_of(e) == RT_E_CMP_TRUST)
			fi = CMP_FI_SIGNER_NOT_TRUSTED;
		else if (rt_err_kind_of(e) == RT_E_CMP_MISMATCH)
			fi = strstr(rt_err_msg(e), "ime") ? CMP_FI_BAD_TIME :
			    CMP_FI_BAD_REQUEST;
		else if (rt_err_kind_of(e) == RT_E_CMP_UNSUPPORTED)
			fi = CMP_FI_BAD_ALG;
		refuse_err(x, fi, "protection", e);
		/* never attributed to the signer it claims */
		snprintf(x->who, sizeof(x->who), "unverified");
		x->unverified = true;
		return;
	}
	if (m->hdr.message_time == 0 && x->s->cfg->require_message_time) {
		refuse(x, CMP_FI_BAD_TIME, "messageTime missing (required: "
		    "require_message_time)");
		return;
	}
	mbedtls_x509_crt c;
	mbedtls_x509_crt_init(&c);
	if (idx >= m->nextra_certs || mbedtls_x509_crt_parse_der(&c,
	    m->extra_certs[idx].p,
	    m->extra_certs[idx].len) != 0) {
		mbedtls_x509_crt_free(&c);
		refuse(x, CMP_FI_BAD_MESSAGE_CHECK, "protection certificate");
		return;
	}
	if (mbedtls_x509_dn_gets(x->who, sizeof(x->who), &c.subject) < 0)
		snprintf(x->who, sizeof(x->who), "?");
	x->officer = cmh_officer_find(x->s->cfg, &c);
	char serial[80] = "";
	if (cc.validated)
		own_serial(x, &c, serial, sizeof(serial));
	mbedtls_x509_crt_free(&c);
	if (serial[0] != '\0' && serial_revoked(x->s, serial)) {
		refuse(x, CMP_FI_CERT_REVOKED, "the certificate of %s is revoked",
		    x->who);
		return;
	}
	if (cc.validated && cc.have_stamp)
		cmh_chain_cache_put(x->s->chains, m->extra_certs[idx].p,
		    m->extra_certs[idx].len, cc.stamp, cc.not_after, serial);
	if (x->officer == NULL) {
		refuse(x, CMP_FI_NOT_AUTHORIZED, "%s is not a configured officer",
		    x->who);
		return;
	}
	snprintf(x->who, sizeof(x->who), "%s", x->officer->name);
	/* replay: the sender's nonce must be new */
	char sn[80];
	if (m->hdr.sender_nonce.len < 8 || m->hdr.sender_nonce.len > MAX_ID) {
		refuse(x, CMP_FI_BAD_SENDER_NONCE, "senderNonce missing or of a "
		    "bad length");
		return;
	}
	rt_hex_encode(m->hdr.sender_nonce.p, m->hdr.sender_nonce.len, sn,
	    sizeof(sn), 0);
	if ((e = cmh_db_nonce_use(x->s->db, sn, (int64_t)x->now)) != NULL)
		refuse_err(x, rt_err_kind_of(e) == RT_E_AUTH ?
		    CMP_FI_BAD_SENDER_NONCE : CMP_FI_SYSTEM_FAILURE, "replay", e);
}

static rt_err *
answer(reqctx *x, uint8_t **out, size_t *len)
{
	cmp_msg *r = x->rsp, *m = x->req;
	cmp_buf text = { NULL, 0 };
	if (x->fail_info != 0) {
		r->type = CMP_BODY_ERROR;
		r->nresp = r->nrev_status = r->nitav = 0;
		r->hdr.implicit_confirm = false;
		r->hdr.has_mgmt_key = false;
		r->hdr.mgmt_key = (cmp_buf){ NULL, 0 };
		r->error.status = CMP_STATUS_REJECTION;
		r->error.fail_info = x->fail_info;
		text = cmp_buf_str(x->why);
		r->error.text[0] = text;
		r->error.ntext = 1;
	}
	r->hdr.pvno = m != NULL && m->hdr.pvno == 3 ? 3 : 2;
	if (m != NULL && m->hdr.sender.len > 0)
		r->hdr.recipient = m->hdr.sender;
	r->hdr.message_time = x->now;
	r->hdr.sender_nonce = (cmp_buf){ x->nonce, sizeof(x->nonce) };
	if (m != NULL && m->hdr.sender_nonce.len > 0)
		r->hdr.recip_nonce = m->hdr.sender_nonce;
	if (m != NULL && m->hdr.transaction_id.len > 0)
		r->hdr.transaction_id = m->hdr.transaction_id;
	else
		r->hdr.transaction_id = (cmp_buf){ x->tid_rand,
		    sizeof(x->tid_rand) };
	return cmp_msg_encode(r, cmh_ca_cmp_signer(x->s->ca), NULL, out, len);
}

/* Whether an unverified request from station is audited: at most
 * cfg->audit_unverified rows per minute and address; when a new minute
 * starts, what was dropped in the last one is audited in one row. */
static bool
unverified_audit(cmh_service *s, const char *station, int64_t now)
{
	char addr[64];
	size_t n = strcspn(station, " ");	/* "a.b.c.d:port (via ...)" */
	snprintf(addr, sizeof(addr), "%.*s", (int)n, station);
	char *colon = strrchr(addr, ':');
	if (colon != NULL && strchr(addr, ']') == NULL &&
	    strchr(addr, ':') == colon)
		*colon = '\0';		/* IPv4: drop the port */
	else if (addr[0] == '[' && (colon = strstr(addr, "]:")) != NULL)
		colon[1] = '\0';	/* [IPv6]:port */
	int64_t minute = now / 60;
	unsigned dropped = 0;
	bool audit;
	pthread_mutex_lock(&s->unv_mu);
	unverified_slot *u = NULL, *old = &s->unv[0];
	for (size_t i = 0; i < UNVERIFIED_SLOTS && u == NULL; i++) {
		if (strcmp(s->unv[i].addr, addr) == 0)
			u = &s->unv[i];
		else if (s->unv[i].minute < old->minute)
			old = &s->unv[i];
	}
	if (u == NULL) {
		u = old;
		memset(u, 0, sizeof(*u));
		snprintf(u->addr, sizeof(u->addr), "%s", addr);
		u->minute = minute;
	}
	if (u->minute != minute) {
		dropped = u->dropped;
		u->minute = minute;
		u->rows = u->dropped = 0;
	}
	audit = u->rows < s->cfg->audit_unverified;
	if (audit)
		u->rows++;
	else
		u->dropped++;
	pthread_mutex_unlock(&s->unv_mu);
	if (dropped > 0) {
		char d[120];
		snprintf(d, sizeof(d), "%u more unverified request(s) in the "
		    "minute before", dropped);
		rt_err *e = cmh_db_audit(s->db, now, "unverified", addr, "?", d,
		    "not audited one by one (audit_unverified_per_minute)");
		rt_err_free(e);
	}
	return audit;
}

static rt_err *
handle(cmh_service *s, const uint8_t *req, size_t len, const char *station,
    bool confidential, time_t now, uint8_t **rsp, size_t *rsp_len,
    cmh_req_info *info)
{
	reqctx *x;
	rt_err *e;

	*rsp = NULL;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "request");
	x->s = s;
	x->station = station;
	x->confidential = confidential;
	x->now = now;
	snprintf(x->who, sizeof(x->who), "-");
	snprintf(x->action, sizeof(x->action), "?");
	if ((e = cmp_msg_new(&x->rsp)) != NULL ||
	    (e = rt_random(x->nonce, sizeof(x->nonce))) != NULL ||
	    (e = rt_random(x->tid_rand, sizeof(x->tid_rand))) != NULL)
		goto out;
	rt_hex_encode(x->nonce, sizeof(x->nonce), x->nonce_hex,
	    sizeof(x->nonce_hex), 0);

	if ((e = cmp_msg_decode(req, len, &x->req)) != NULL) {
		x->req = NULL;
		refuse_err(x, CMP_FI_BAD_DATA_FORMAT, "request", e);
		e = NULL;
	} else {
		cmp_msg *m = x->req;
		snprintf(x->action, sizeof(x->action), "%s",
		    cmp_body_name(m->type));
		if (m->hdr.transaction_id.len < 8 ||
		    m->hdr.transaction_id.len > MAX_ID)
			refuse(x, CMP_FI_BAD_REQUEST, "transactionID missing or of "
			    "a bad length");
		else
			rt_hex_encode(m->hdr.transaction_id.p,
			    m->hdr.transaction_id.len,
			    x->tid_hex, sizeof(x->tid_hex), 0);
		bool anonymous = m->protection.len == 0 &&
		    m->type == CMP_BODY_GENM && m->nitav == 1 &&
		    cmp_itav_is(&m->itav[0], CMP_OID_IT_CA_CERTS) &&
		    s->cfg->unprotected_cacerts;
		if (x->fail_info == 0 && !anonymous)
			verify_and_identify(x);
		if (x->fail_info == 0 && anonymous)
			snprintf(x->detail, sizeof(x->detail), "unprotected: ");
		if (x->fail_info == 0) {
			switch (m->type) {
			case CMP_BODY_IR:
			case CMP_BODY_CR:
			case CMP_BODY_KUR:
			case CMP_BODY_P10CR:
				enroll(x);
				break;
			case CMP_BODY_CERTCONF:
				cert_conf(x);
				break;
			case CMP_BODY_RR:
				revoke(x);
				break;
			case CMP_BODY_GENM:
				genm(x);
				break;
			case CMP_BODY_POLLREQ:
				refuse(x, CMP_FI_BAD_REQUEST, "nothing to poll for: "
				    "this CM host answers at once");
				break;
			default:
				refuse(x, CMP_FI_BAD_REQUEST, "%s is not a request "
				    "this CM host handles", cmp_body_name(m->type));
			}
		}
	}
	e = answer(x, rsp, rsp_len);
	/* the audit trail: who, what, when, from where, and the outcome */
	char result[300];
	if (x->fail_info != 0)
		snprintf(result, sizeof(result), "%s: %s", fi_name(x->fail_info),
		    x->why);
	else
		snprintf(result, sizeof(result), "%s", e ? "system failure" : "ok");
	rt_err *ae = NULL;
	if (!x->unverified || unverified_audit(s, station, (int64_t)now))
		ae = cmh_db_audit(s->db, (int64_t)now, x->who, station,
		    x->action, x->detail, result);
	char aerr[300] = "";
	if (ae != NULL) {
		/* the answer stands; the server logs why the row is missing */
		char m[280];
		rt_err_format(ae, m, sizeof(m));
		snprintf(aerr, sizeof(aerr), "audit: %s", m);
		rt_err_free(ae);
		if (info == NULL)
			fprintf(stderr, "cmhost: %s\n", aerr);
	}
	if (info != NULL) {
		snprintf(info->error, sizeof(info->error), "%s", aerr);
		snprintf(info->officer, sizeof(info->officer), "%s",
		    x->unverified ? "unverified" : x->officer != NULL ?
		    x->officer->name : "-");
		snprintf(info->body, sizeof(info->body), "%s", x->action);
		snprintf(info->serials, sizeof(info->serials), "%s", x->serials);
		snprintf(info->outcome, sizeof(info->outcome), "%.255s", result);
		info->refused = x->fail_info != 0;
	}
out:
	if (x->card_key != NULL)
		rt_wipe(x->card_key, x->card_key_len);
	for (size_t i = 0; i < x->nbufs; i++)
		free(x->bufs[i]);
	cmp_msg_free(x->req);
	cmp_msg_free(x->rsp);
	free(x);
	if (e != NULL) {
		free(*rsp);
		*rsp = NULL;
	}
	return e;
}

rt_err *
cmh_service_handle(cmh_service *s, const uint8_t *req, size_t len,
    const char *station, time_t now, uint8_t **rsp, size_t *rsp_len)
{
	/* in-process: no transport to protect */
	return handle(s, req, len, station, true, now, rsp, rsp_len, NULL);
}

rt_err *
cmh_service_http(void *svc, const uint8_t *req, size_t len,
    const char *station, bool confidential, uint8_t **rsp, size_t *rsp_len,
    cmh_req_info *info)
{
	return handle(svc, req, len, station, confidential, time(NULL), rsp,
	    rsp_len, info);
}
