/* publish.c - the CRL and OCSP answers of cmhost's issuing CA; see
 * include/raterm/cmhost_publish.h */
#include "raterm/cmhost_publish.h"
#include "raterm/ocsp.h"
#include "raterm/util.h"
#include "raterm/x509write.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* lowercase hex serial -> magnitude; false if it does not fit */
static bool
serial_bytes(const char *hex, uint8_t out[20], size_t *len)
{
	char buf[64];
	size_t n = strlen(hex);
	if (n == 0 || n > 40)
		return false;
	snprintf(buf, sizeof(buf), "%s%s", n % 2 ? "0" : "", hex);
	rt_err *e = rt_hex_decode(buf, strlen(buf), out, 20, len, 0);
	rt_err_free(e);
	return e == NULL;
}

typedef struct {
	rt_crl_entry *ents;
	uint8_t (*serials)[20];
	size_t n, cap;
	bool oom;
} crl_acc;

static void
crl_add(void *ctx, const cmh_cert_rec *r)
{
	crl_acc *a = ctx;
	if (a->oom || (r->state != CMH_CERT_REVOKED &&
	    r->state != CMH_CERT_REJECTED))
		return;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		rt_crl_entry *e = realloc(a->ents, cap * sizeof(*e));
		uint8_t (*s)[20] = e ? realloc(a->serials, cap * 20) : NULL;
		if (e != NULL)
			a->ents = e;
		if (s == NULL) {
			a->oom = true;
			return;
		}
		a->serials = s;
		a->cap = cap;
	}
	size_t len;
	if (!serial_bytes(r->serial, a->serials[a->n], &len))
		return;
	a->ents[a->n] = (rt_crl_entry){
		.serial = NULL, .serial_len = len, .when = (time_t)r->state_at,
		.reason = r->state == CMH_CERT_REJECTED ? 0 :
		    r->revocation_reason,
	};
	a->n++;
}

static rt_err *
ca_key_id(const mbedtls_x509_crt *ca, uint8_t kid[20])
{
	return rt_key_id(ca->pk_raw.p, ca->pk_raw.len, kid);
}

rt_err *
cmh_crl_make(const mbedtls_x509_crt *ca_cert, rt_signer *ca_signer,
    cmh_db *db, time_t now, int64_t validity, uint64_t number, uint8_t **der,
    size_t *len)
{
	crl_acc a;
	uint8_t kid[20];
	rt_err *e;
	memset(&a, 0, sizeof(a));
	*der = NULL;
	if ((e = ca_key_id(ca_cert, kid)) != NULL)
		return e;
	if ((e = cmh_db_certs_each(db, crl_add, &a)) != NULL)
		goto out;
	if (a.oom) {
		e = rt_err_new(RT_E_NOMEM, NULL, "CRL entries");
		goto out;
	}
	for (size_t i = 0; i < a.n; i++)	/* the array may have moved */
		a.ents[i].serial = a.serials[i];
	rt_crl_tmpl t = {
		.issuer = ca_cert->subject_raw.p,
		.issuer_len = ca_cert->subject_raw.len,
		.issuer_key_id = kid, .issuer_key_id_len = sizeof(kid),
		.this_update = now, .next_update = now + (time_t)validity,
		.number = number, .entries = a.ents, .nentries = a.n,
	};
	e = rt_crl_write(&t, ca_signer, der, len);
out:
	free(a.ents);
	free(a.serials);
	return e ? rt_err_wrap(e, "making the CRL") : NULL;
}

rt_err *
cmh_ocsp_answer(const mbedtls_x509_crt *ca_cert,
    const mbedtls_x509_crt *resp_cert, rt_signer *resp_signer, cmh_db *db,
    const uint8_t *req, size_t len, time_t now, int64_t validity,
    uint8_t **rsp, size_t *rsp_len)
{
	rt_ocsp_req q;
	rt_ocsp_single one[RT_OCSP_MAX];
	uint8_t kid[20];
	rt_err *e;

	*rsp = NULL;
	if ((e = rt_ocsp_req_parse(req, len, &q)) != NULL) {
		rt_err_free(e);
		return rt_ocsp_error_write(RT_OCSP_MALFORMED, rsp, rsp_len);
	}
	if ((e = ca_key_id(resp_cert, kid)) != NULL)
		return e;
	for (size_t i = 0; i < q.n; i++) {
		rt_ocsp_certid ours;
		cmh_cert_rec rec;
		char hex[48];
		memset(&one[i], 0, sizeof(one[i]));
		one[i].id = q.ids[i];
		one[i].status = RT_OCSP_UNKNOWN;
		one[i].reason = -1;
		one[i].this_update = now;
		one[i].next_update = now + (time_t)validity;
		/* the CertID names this CA (by its hash algorithm)? */
		if ((e = rt_ocsp_certid_of(ca_cert->raw.p, ca_cert->raw.len,
		    q.ids[i].serial, q.ids[i].serial_len, q.ids[i].hash, &ours))
		    != NULL)
			return e;
		if (!rt_ocsp_certid_eq(&ours, &q.ids[i]))
			continue;
		/* serials are 16 bytes, the first 0x40..0x7f (issue.c): the
		 * magnitude's hex is the database's key */
		rt_hex_encode(q.ids[i].serial, q.ids[i].serial_len, hex,
		    sizeof(hex), 0);
		if ((e = cmh_db_cert_get(db, hex, &rec, NULL, NULL)) != NULL) {
			bool missing = rt_err_has(e, RT_E_NOT_FOUND);
			rt_err_free(e);
			if (missing)
				continue;
			return rt_err_new(RT_E_IO, NULL, "OCSP: the database does "
			    "not answer");
		}
		if (rec.state == CMH_CERT_REVOKED ||
		    rec.state == CMH_CERT_REJECTED) {
			one[i].status = RT_OCSP_REVOKED;
			one[i].revoked_at = (time_t)rec.state_at;
			one[i].reason = rec.state == CMH_CERT_REJECTED ? 0 :
			    rec.revocation_reason;
		} else {
			one[i].status = RT_OCSP_GOOD;
		}
	}
	rt_ocsp_resp_tmpl t = {
		.responder_key_id = kid, .produced_at = now, .single = one,
		.n = q.n, .nonce = q.nonce_len ? q.nonce : NULL,
		.nonce_len = q.nonce_len, .signer_cert = resp_cert->raw.p,
		.signer_cert_len = resp_cert->raw.len,
	};
	return rt_ocsp_resp_write(&t, resp_signer, rsp, rsp_len);
}

/* ---- the publisher --------------------------------------------------------- */

struct cmh_publisher {
	const mbedtls_x509_crt *ca;
	rt_signer *signer;
	cmh_db *db;
	int64_t validity;
	char *file;			/* NULL: none */
	pthread_mutex_t mu;
	uint8_t *crl;
	size_t crl_len;
	time_t made;
	uint64_t number;
	unsigned stamp;		/* cmh_db_revoked_stamp of the CRL made */
	char ca_name[65];	/* the CA's row in the database's crls: the
				 * hex SHA-256 of its certificate */
	/* PostgreSQL: the thread that makes the CRL again when another
	 * instance revoked (cmh_db_revoked_wait) */
	pthread_t watcher;
	bool watching;
	atomic_bool stop;
};

static void *watch(void *arg);

rt_err *
cmh_publisher_new(const mbedtls_x509_crt *ca_cert, rt_signer *signer,
    cmh_db *db, int64_t crl_validity, const char *crl_file,
    cmh_publisher **out)
{
	cmh_publisher *p = calloc(1, sizeof(*p));
	*out = NULL;
	if (p == NULL || (crl_file != NULL && (p->file = strdup(crl_file)) ==
	    NULL)) {
		free(p);
		return rt_err_new(RT_E_NOMEM, NULL, "CRL publisher");
	}
	p->ca = ca_cert;
	p->signer = signer;
	p->db = db;
	p->validity = crl_validity > 0 ? crl_validity : 86400;
	uint8_t h[64];
	rt_err *e = rt_hash_data(RT_HASH_SHA256, ca_cert->raw.p,
	    ca_cert->raw.len, h);
	if (e != NULL) {
		free(p->file);
		free(p);
		return rt_err_wrap(e, "CRL publisher");
	}
	rt_hex_encode(h, 32, p->ca_name, sizeof(p->ca_name), 0);
	pthread_mutex_init(&p->mu, NULL);
	atomic_init(&p->stop, false);
	if (cmh_db_can_notify(db))
		p->watching = pthread_create(&p->watcher, NULL, watch, p) == 0;
	*out = p;
	return NULL;
}

void
cmh_publisher_free(cmh_publisher *p)
{
	if (p == NULL)
		return;
	if (p->watching) {
		atomic_store(&p->stop, true);
		pthread_join(p->watcher, NULL);
	}
	pthread_mutex_destroy(&p->mu);
	free(p->crl);
	free(p->file);
	free(p);
}

/* Takes c (a CRL of the database's) as the current one; writes the file
 * when it is another than the one held. c's der is moved. */
static rt_err *
adopt(cmh_publisher *p, cmh_db_crl *c)
{
	if (p->crl != NULL && c->number == p->number) {
		cmh_db_crl_free(c);
		return NULL;
	}
	if (p->file != NULL) {
		rt_err *e = rt_file_write(p->file, c->der, c->len, 0644);
		if (e != NULL) {
			cmh_db_crl_free(c);
			return rt_err_wrap(e, "publishing the CRL");
		}
	}
	free(p->crl);
	p->crl = c->der;
	p->crl_len = c->len;
	p->made = (time_t)c->made_at;
	p->number = c->number;
	p->stamp = c->stamp;
	c->der = NULL;
	return NULL;
}

/* Whether a CRL made at `made` for revocation stamp `stamp` still
 * serves at now. */
static bool
current(const cmh_publisher *p, time_t made, unsigned stamp, unsigned now_stamp,
    time_t now)
{
	return stamp == now_stamp && now >= made - 300 &&
	    now - made < p->validity / 2;
}

/* The database's CRL when it still serves (number not below ours):
 * adopted, *done. */
static rt_err *
take_recorded(cmh_publisher *p, unsigned stamp, time_t now, bool *done,
    bool *none, cmh_db_crl *rec)
{
	rt_err *e = cmh_db_crl_get(p->db, p->ca_name, rec);
	*done = false;
	*none = e != NULL;
	if (e != NULL && rt_err_kind_of(e) != RT_E_NOT_FOUND)
		return e;
	rt_err_free(e);
	if (!*none && rec->number >= p->number && current(p,
	    (time_t)rec->made_at, rec->stamp, stamp, now)) {
		*done = true;
		return adopt(p, rec);
	}
	return NULL;
}

#define CRL_LOCK_WAITS	100	/* times 20 ms: another instance making it */

rt_err *
cmh_publisher_crl(cmh_publisher *p, time_t now, uint8_t **der, size_t *len,
    uint64_t *number)
{
	rt_err *e = NULL;
	unsigned stamp = 0;
	int waits = 0, lost = 0;
	*der = NULL;
	pthread_mutex_lock(&p->mu);
	/* the database's CRL is every instance's: one number sequence, each
	 * number made by the one instance holding the CRL lock (and whose
	 * conditional write recorded it) */
	for (;;) {
		cmh_db_crl rec;
		bool done, none, got;
		if ((e = cmh_db_revoked_stamp(p->db, &stamp)) != NULL)
			break;
		if (p->crl != NULL && current(p, p->made, p->stamp, stamp, now))
			break;
		if ((e = take_recorded(p, stamp, now, &done, &none, &rec)) !=
		    NULL || done)
			break;
		got = false;
		if (lost < 3 && (e = cmh_db_crl_lock(p->db, &got)) != NULL) {
			cmh_db_crl_free(&rec);
			break;
		}
		if (!got) {
			/* another instance is making it: wait for its record;
			 * too long (or others keep winning): the recorded one */
			if (++waits <= CRL_LOCK_WAITS && lost < 3) {
				cmh_db_crl_free(&rec);
				nanosleep(&(struct timespec){ 0, 20000000L }, NULL);
				continue;
			}
			if (!none)
				e = adopt(p, &rec);
			else
				e = rt_err_new(RT_E_IO, NULL, "the CRL could not be "
				    "recorded in the database (another instance "
				    "holds its lock)");
			break;
		}
		/* ours to make: the stamp and the record read again under the
		 * lock (the last maker may have recorded it since) */
		cmh_db_crl_free(&rec);
		if ((e = cmh_db_revoked_stamp(p->db, &stamp)) != NULL ||
		    (e = take_recorded(p, stamp, now, &done, &none, &rec)) !=
		    NULL || done) {
			cmh_db_crl_unlock(p->db);
			break;
		}
		/* its number after both the database's and ours (and at
		 * least the seconds of thisUpdate, as before) */
		uint64_t prev = none ? 0 : rec.number;
		uint64_t num = (uint64_t)now;
		if (num <= prev)
			num = prev + 1;
		if (num <= p->number)
			num = p->number + 1;
		cmh_db_crl_free(&rec);
		cmh_db_crl mine = { .number = num, .made_at = now,
		    .stamp = stamp };
		bool won = false;
		e = cmh_crl_make(p->ca, p->signer, p->db, now, p->validity, num,
		    &mine.der, &mine.len);
		if (e == NULL)
			e = cmh_db_crl_put(p->db, p->ca_name, prev, &mine, &won);
		cmh_db_crl_unlock(p->db);
		if (e == NULL && won) {
			e = adopt(p, &mine);
			break;
		}
		cmh_db_crl_free(&mine);
		if (e != NULL)
			break;
		lost++;	/* recorded by an instance whose lock ended meanwhile
			 * (its connection lost): theirs is newer */
	}
	if (e != NULL)
		goto out;
	if ((*der = malloc(p->crl_len)) == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "CRL");
		goto out;
	}
	memcpy(*der, p->crl, p->crl_len);
	*len = p->crl_len;
	if (number != NULL)
		*number = p->number;
out:
	pthread_mutex_unlock(&p->mu);
	return e;
}

/* PostgreSQL: a revocation on any instance makes the CRL again at once
 * (and writes revocation.crl_file), not at the next request or tick. */
static void *
watch(void *arg)
{
	cmh_publisher *p = arg;
	bool pending = false;	/* told, the CRL not made since */
	while (!atomic_load(&p->stop)) {
		bool revoked = false;
		rt_err *e = cmh_db_revoked_wait(p->db, pending ? 0 : 500,
		    &revoked);
		pending = pending || revoked;
		if (e == NULL && pending) {
			uint8_t *c = NULL;
			size_t cl;
			e = cmh_publisher_crl(p, time(NULL), &c, &cl, NULL);
			free(c);
			pending = e != NULL;
		}
		if (e != NULL) {
			/* the database away: the requests and the main loop
			 * say so; try again in a while */
			rt_err_free(e);
			for (int i = 0; i < 10 && !atomic_load(&p->stop); i++)
				nanosleep(&(struct timespec){ 0, 100000000L },
				    NULL);
		}
	}
	return NULL;
}

time_t
cmh_publisher_next_update(cmh_publisher *p)
{
	pthread_mutex_lock(&p->mu);
	time_t t = p->crl != NULL ? p->made + (time_t)p->validity : 0;
	pthread_mutex_unlock(&p->mu);
	return t;
}
