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
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

static struct {
	void *lib;
	CURLcode (*global_init)(long);
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

CURLcode
curl_global_init(long flags)
{
	return ready() ? api.global_init(flags) : CURLE_FAILED_INIT;
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
