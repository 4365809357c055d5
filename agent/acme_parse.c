#include "agent/acme_parse.h"

#include <stdio.h>
#include <string.h>

#include "agent/b64.h"
#include "agent/log.h"

#define NONCE_MAX 256

static json_t *
body_json(const char *body)
{
	return body ? json_loads(body, 0, NULL) : NULL;
}

void
acme_problem(const char *body, long status, const char *error, char *type, size_t tlen,
    char *detail, size_t dlen)
{
	json_t *j = body_json(body);
	const char *t = json_string_value(json_object_get(j, "type"));
	const char *d = json_string_value(json_object_get(j, "detail"));
	const char *pfx = "urn:ietf:params:acme:error:";

	if (t && strncmp(t, pfx, strlen(pfx)) == 0)
		t += strlen(pfx);
	log_escape(type, tlen, t ? t : "", t ? strlen(t) : 0);
	if (d)
		log_escape(detail, dlen, d, strlen(d));
	else if (status == 0)
		snprintf(detail, dlen, "%s", error ? error : "");
	else
		snprintf(detail, dlen, "HTTP %ld", status);
	json_decref(j);
}

int
acme_nonce_ok(const char *n)
{
	size_t len = n ? strlen(n) : 0;

	return len > 0 && len <= NONCE_MAX && b64url_alphabet_ok(n, len);
}

int
acme_directory_parse(const char *body, json_t **dir)
{
	json_t *j = body_json(body);

	*dir = NULL;
	if (!json_is_object(j) || !json_is_string(json_object_get(j, "newNonce")) ||
	    !json_is_string(json_object_get(j, "newAccount")) ||
	    !json_is_string(json_object_get(j, "newOrder"))) {
		json_decref(j);
		return -1;
	}
	*dir = j;
	return 0;
}

const char *
acme_directory_url(const json_t *dir, const char *key)
{
	return json_string_value(json_object_get(dir, key));
}

int
acme_directory_has_profile(const json_t *dir, const char *profile)
{
	return profile && json_object_get(json_object_get(json_object_get(dir, "meta"),
	    "profiles"), profile) != NULL;
}

void
acme_order_parse(const char *body, struct acme_order_doc *d)
{
	json_t *a;

	memset(d, 0, sizeof(*d));
	d->json = body_json(body);
	d->status = json_string_value(json_object_get(d->json, "status"));
	d->finalize = json_string_value(json_object_get(d->json, "finalize"));
	d->certificate = json_string_value(json_object_get(d->json, "certificate"));
	if (json_is_array(a = json_object_get(d->json, "authorizations")))
		d->authorizations = a;
}

void
acme_order_doc_clear(struct acme_order_doc *d)
{
	json_decref(d->json);
	memset(d, 0, sizeof(*d));
}

void
acme_authz_parse(const char *body, const char *chal_type, struct acme_authz_doc *d)
{
	json_t *ch, *found = NULL;
	size_t i;

	memset(d, 0, sizeof(*d));
	d->json = body_json(body);
	d->status = json_string_value(json_object_get(d->json, "status"));
	d->identifier = json_string_value(json_object_get(json_object_get(d->json,
	    "identifier"), "value"));
	json_array_foreach(json_object_get(d->json, "challenges"), i, ch) {
		const char *t = json_string_value(json_object_get(ch, "type"));
		const char *e = json_string_value(json_object_get(json_object_get(ch, "error"),
		    "detail"));

		if (t == NULL || strcmp(t, chal_type) != 0)
			continue;
		found = ch;
		if (e)
			d->chal_error = e;
	}
	if (found) {
		d->chal_found = 1;
		d->chal_token = json_string_value(json_object_get(found, "token"));
		d->chal_url = json_string_value(json_object_get(found, "url"));
	}
}

void
acme_authz_doc_clear(struct acme_authz_doc *d)
{
	json_decref(d->json);
	memset(d, 0, sizeof(*d));
}

time_t
acme_rfc3339(const char *s)
{
	struct tm tm;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	if (*p == '.')
		while (*++p >= '0' && *p <= '9')
			;
	if ((*p != 'Z' && *p != 'z') || p[1] != '\0')
		return -1;
	return timegm(&tm);
}

int
acme_renewal_info_parse(const char *body, time_t *start, time_t *end)
{
	json_t *j = body_json(body);
	json_t *w = json_object_get(j, "suggestedWindow");
	int rc = -1;

	*start = acme_rfc3339(json_string_value(json_object_get(w, "start")));
	*end = acme_rfc3339(json_string_value(json_object_get(w, "end")));
	if (*start >= 0 && *end > *start)
		rc = 0;
	json_decref(j);
	return rc;
}

time_t
acme_renewal_pick(time_t start, time_t end, uint32_t rnd)
{
	/* In 64 bits: a window of 2^32 s would be a division by zero in 32. */
	return start + (time_t)(rnd % (uint64_t)(end - start));
}

unsigned
acme_poll_ms(long retry_after_s, unsigned dflt_ms)
{
	unsigned ms = dflt_ms;

	/* Compared in seconds first: the product of a huge Retry-After overflows. */
	if (retry_after_s >= 0)
		ms = retry_after_s > ACME_POLL_MAX_MS / 1000 ? ACME_POLL_MAX_MS :
		    (unsigned)retry_after_s * 1000;
	if (ms < ACME_POLL_MIN_MS)
		ms = ACME_POLL_MIN_MS;
	if (ms > ACME_POLL_MAX_MS)
		ms = ACME_POLL_MAX_MS;
	return ms;
}
