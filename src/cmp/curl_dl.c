/* curl_dl.c - libcurl, loaded when the first CMP exchange needs it.
 *
 * libcurl (OpenSSL, GnuTLS, Kerberos, LDAP, ...) brings some thirty shared
 * libraries; linked into raterm they cost every command, `raterm show`
 * included, milliseconds of start-up and megabytes of memory. So raterm
 * does not link libcurl: this file defines the libcurl functions the CMP
 * client calls and forwards them to the real ones, found with dlopen() on
 * first use. A program that links libcurl itself (the bench load
 * generator, the unit tests) gets the same library instance through
 * dlopen(). If libcurl cannot be loaded, curl_global_init() fails and
 * every other call fails or returns NULL, which the client reports. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "raterm/util.h"

static struct {
	void *lib;
	CURLcode (*global_init)(long);
	CURLcode (*global_init_mem)(long, curl_malloc_callback,
	    curl_free_callback, curl_realloc_callback, curl_strdup_callback,
	    curl_calloc_callback);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} api;

static pthread_once_t once = PTHREAD_ONCE_INIT;

#define SYM(field, name) \
	*(void **)(&api.field) = dlsym(api.lib, name)

static void
load(void)
{
	api.lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (api.lib == NULL)
		return;
	SYM(global_init, "curl_global_init");
	SYM(global_init_mem, "curl_global_init_mem");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_reset, "curl_easy_reset");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
	if (!api.global_init || !api.easy_init || !api.easy_setopt ||
	    !api.easy_perform || !api.easy_getinfo || !api.easy_cleanup ||
	    !api.easy_reset || !api.easy_strerror || !api.slist_append ||
	    !api.slist_free_all)
		api.lib = NULL;
}

static int
ready(void)
{
	(void)pthread_once(&once, load);
	return api.lib != NULL;
}

/* ---- memory that is wiped when libcurl gives it back ------------------------
 *
 * A cp carries a card management key; libcurl's receive buffers and the
 * TLS library's record buffers hold it on the way. Every block they free
 * is wiped first (its usable size, malloc_usable_size), and realloc never
 * leaves the old block unwiped. OpenSSL is asked to use the same
 * functions (CRYPTO_set_mem_functions) when it is the libcurl's TLS
 * library and has not allocated yet; what it allocated before is not
 * covered (docs/security.md). */

static void
wipe_free(void *p)
{
	if (p != NULL) {
		rt_wipe(p, malloc_usable_size(p));
		free(p);
	}
}

static void *
wipe_realloc(void *p, size_t n)
{
	if (p == NULL)
		return malloc(n);
	if (n == 0) {
		wipe_free(p);
		return NULL;
	}
	size_t old = malloc_usable_size(p);
	void *q = malloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	wipe_free(p);
	return q;
}

static void *
ossl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(n);
}

static void *
ossl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return wipe_realloc(p, n);
}

static void
ossl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	wipe_free(p);
}

CURLcode
curl_global_init(long flags)
{
	if (!ready())
		return CURLE_FAILED_INIT;
	void *crypto = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD);
	if (crypto != NULL) {
		int (*set)(void *(*)(size_t, const char *, int),
		    void *(*)(void *, size_t, const char *, int),
		    void (*)(void *, const char *, int));
		*(void **)(&set) = dlsym(crypto, "CRYPTO_set_mem_functions");
		if (set != NULL)
			/* refused (0) if OpenSSL allocated already */
			(void)set(ossl_malloc, ossl_realloc, ossl_free);
		dlclose(crypto);
	}
	if (api.global_init_mem != NULL)
		return api.global_init_mem(flags, malloc, wipe_free, wipe_realloc,
		    strdup, calloc);
	return api.global_init(flags);
}

CURL *
curl_easy_init(void)
{
	return ready() ? api.easy_init() : NULL;
}

CURLcode
curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;
	if (!ready())
		return CURLE_FAILED_INIT;
	/* the option number says the type of its argument (curl.h) */
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = api.easy_setopt(h, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = api.easy_setopt(h, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = api.easy_setopt(h, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = api.easy_setopt(h, opt, va_arg(ap, curl_off_t));
	else
		rc = api.easy_setopt(h, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode
curl_easy_perform(CURL *h)
{
	return ready() ? api.easy_perform(h) : CURLE_FAILED_INIT;
}

CURLcode
curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	va_list ap;
	CURLcode rc;
	if (!ready())
		return CURLE_FAILED_INIT;
	va_start(ap, info);	/* every CURLINFO takes a pointer */
	rc = api.easy_getinfo(h, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

void
curl_easy_cleanup(CURL *h)
{
	if (ready())
		api.easy_cleanup(h);
}

void
curl_easy_reset(CURL *h)
{
	if (ready())
		api.easy_reset(h);
}

const char *
curl_easy_strerror(CURLcode rc)
{
	return ready() ? api.easy_strerror(rc) : "libcurl (libcurl.so.4) not available";
}

struct curl_slist *
curl_slist_append(struct curl_slist *l, const char *s)
{
	return ready() ? api.slist_append(l, s) : NULL;
}

void
curl_slist_free_all(struct curl_slist *l)
{
	if (ready())
		api.slist_free_all(l);
}
