#include "proxy/challenge.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CHALLENGE_MAX 1024
#define PREFIX "GET /.well-known/acme-challenge/"

struct http_chal {
	char *token, *keyauth;
};

struct alpn_chal {
	char *name;
	SSL_CTX *ctx;
};

static pthread_rwlock_t chal_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct http_chal http_v[CHALLENGE_MAX];
static struct alpn_chal alpn_v[CHALLENGE_MAX];
static size_t http_n, alpn_n;
static _Atomic int http_pending;

int
challenge_http_add(const char *token, const char *keyauth)
{
	int rc = -1;

	pthread_rwlock_wrlock(&chal_lock);
	if (http_n < CHALLENGE_MAX) {
		http_v[http_n].token = strdup(token);
		http_v[http_n].keyauth = strdup(keyauth);
		if (http_v[http_n].token && http_v[http_n].keyauth) {
			http_n++;
			atomic_store(&http_pending, 1);
			rc = 0;
		} else {
			free(http_v[http_n].token);
			free(http_v[http_n].keyauth);
		}
	}
	pthread_rwlock_unlock(&chal_lock);
	return rc;
}

void
challenge_http_remove(const char *token)
{
	pthread_rwlock_wrlock(&chal_lock);
	for (size_t i = 0; i < http_n; i++)
		if (strcmp(http_v[i].token, token) == 0) {
			free(http_v[i].token);
			free(http_v[i].keyauth);
			http_v[i] = http_v[--http_n];
			break;
		}
	atomic_store(&http_pending, http_n > 0);
	pthread_rwlock_unlock(&chal_lock);
}

int
challenge_http_any(void)
{
	return atomic_load_explicit(&http_pending, memory_order_relaxed);
}

int
challenge_http_lookup(const char *token, size_t len, char *out, size_t outsz)
{
	int rc = -1;

	pthread_rwlock_rdlock(&chal_lock);
	for (size_t i = 0; i < http_n; i++)
		if (strlen(http_v[i].token) == len && memcmp(http_v[i].token, token, len) == 0 &&
		    strlen(http_v[i].keyauth) < outsz) {
			strcpy(out, http_v[i].keyauth);
			rc = 0;
			break;
		}
	pthread_rwlock_unlock(&chal_lock);
	return rc;
}

int
challenge_alpn_add(const char *name, SSL_CTX *ctx)
{
	int rc = -1;

	pthread_rwlock_wrlock(&chal_lock);
	if (alpn_n < CHALLENGE_MAX && (alpn_v[alpn_n].name = strdup(name)) != NULL) {
		SSL_CTX_up_ref(ctx);
		alpn_v[alpn_n++].ctx = ctx;
		rc = 0;
	}
	pthread_rwlock_unlock(&chal_lock);
	return rc;
}

void
challenge_alpn_remove(const char *name)
{
	SSL_CTX *old = NULL;

	pthread_rwlock_wrlock(&chal_lock);
	for (size_t i = 0; i < alpn_n; i++)
		if (strcmp(alpn_v[i].name, name) == 0) {
			free(alpn_v[i].name);
			old = alpn_v[i].ctx;
			alpn_v[i] = alpn_v[--alpn_n];
			break;
		}
	pthread_rwlock_unlock(&chal_lock);
	SSL_CTX_free(old);
}

SSL_CTX *
challenge_alpn_lookup(const char *name)
{
	SSL_CTX *ctx = NULL;

	pthread_rwlock_rdlock(&chal_lock);
	for (size_t i = 0; i < alpn_n; i++)
		if (strcmp(alpn_v[i].name, name) == 0) {
			ctx = alpn_v[i].ctx;
			SSL_CTX_up_ref(ctx);
			break;
		}
	pthread_rwlock_unlock(&chal_lock);
	return ctx;
}

int
challenge_http_request(const char *buf, size_t len, const char **token, size_t *toklen)
{
	size_t plen = sizeof(PREFIX) - 1, i;

	if (memcmp(buf, PREFIX, len < plen ? len : plen) != 0)
		return 0;
	if (len < plen)
		return -1;
	/* Tokens are base64url; anything else is not a challenge we could have issued. */
	for (i = plen; i < len; i++) {
		char c = buf[i];

		if (c == ' ')
			break;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_') || i - plen >= 256)
			return 0;
	}
	if (i == len)
		return -1;
	*token = buf + plen;
	*toklen = i - plen;
	return *toklen > 0 ? 1 : 0;
}

void
challenge_clear(void)
{
	pthread_rwlock_wrlock(&chal_lock);
	for (size_t i = 0; i < http_n; i++) {
		free(http_v[i].token);
		free(http_v[i].keyauth);
	}
	for (size_t i = 0; i < alpn_n; i++) {
		free(alpn_v[i].name);
		SSL_CTX_free(alpn_v[i].ctx);
	}
	http_n = alpn_n = 0;
	atomic_store(&http_pending, 0);
	pthread_rwlock_unlock(&chal_lock);
}
