/* chaincache.c - validated officer chains; see
 * include/raterm/cmhost_cache.h */
#include "raterm/cmhost_cache.h"
#include "raterm/signer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	uint8_t id[32];		/* SHA-256 of the certificate */
	bool used;
	unsigned stamp;
	time_t not_after;
	uint64_t last;		/* use counter, for LRU */
	char serial[80];	/* in cmhost's database, or "" */
} entry;

struct cmh_chain_cache {
	pthread_mutex_t mu;
	entry *e;
	size_t max;
	uint64_t clock;
	unsigned long validations;
};

rt_err *
cmh_chain_cache_new(size_t max, cmh_chain_cache **out)
{
	cmh_chain_cache *c;
	*out = NULL;
	if (max == 0)
		max = 256;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->e = calloc(max, sizeof(*c->e))) == NULL) {
		free(c);
		return rt_err_new(RT_E_NOMEM, NULL, "officer chain cache");
	}
	c->max = max;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return NULL;
}

void
cmh_chain_cache_free(cmh_chain_cache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->mu);
	free(c->e);
	free(c);
}

static bool
cert_id(const uint8_t *cert, size_t len, uint8_t id[32])
{
	rt_err *e = rt_hash_data(RT_HASH_SHA256, cert, len, id);
	rt_err_free(e);
	return e == NULL;
}

bool
cmh_chain_cache_get(cmh_chain_cache *c, const uint8_t *cert, size_t len,
    unsigned stamp, time_t now, char *serial, size_t cap)
{
	uint8_t id[32];
	bool hit = false;
	if (cap > 0)
		serial[0] = '\0';
	if (c == NULL || !cert_id(cert, len, id))
		return false;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->max; i++) {
		entry *x = &c->e[i];
		if (!x->used || memcmp(x->id, id, sizeof(id)) != 0)
			continue;
		if (x->stamp == stamp && now < x->not_after) {
			x->last = ++c->clock;
			snprintf(serial, cap, "%s", x->serial);
			hit = true;
		} else
			x->used = false;	/* revoked or expired since */
		break;
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

void
cmh_chain_cache_put(cmh_chain_cache *c, const uint8_t *cert, size_t len,
    unsigned stamp, time_t not_after, const char *serial)
{
	uint8_t id[32];
	if (c == NULL || !cert_id(cert, len, id))
		return;
	pthread_mutex_lock(&c->mu);
	c->validations++;
	entry *slot = NULL;
	for (size_t i = 0; i < c->max; i++) {
		entry *x = &c->e[i];
		if (x->used && memcmp(x->id, id, sizeof(id)) == 0) {
			slot = x;	/* validated again by a concurrent request */
			break;
		}
		if (slot == NULL || (slot->used && (!x->used ||
		    x->last < slot->last)))
			slot = x;	/* a free entry, else the LRU */
	}
	memcpy(slot->id, id, sizeof(id));
	slot->used = true;
	slot->stamp = stamp;
	slot->not_after = not_after;
	snprintf(slot->serial, sizeof(slot->serial), "%s", serial ? serial : "");
	slot->last = ++c->clock;
	pthread_mutex_unlock(&c->mu);
}

size_t
cmh_chain_cache_size(cmh_chain_cache *c)
{
	size_t n = 0;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->max; i++)
		n += c->e[i].used;
	pthread_mutex_unlock(&c->mu);
	return n;
}

unsigned long
cmh_chain_cache_validations(cmh_chain_cache *c)
{
	pthread_mutex_lock(&c->mu);
	unsigned long n = c->validations;
	pthread_mutex_unlock(&c->mu);
	return n;
}
