/* Known-answer tests for providers/sigv4.c.
 *
 * 1. Every case of aws-c-auth's SigV4 suite (tests/aws-signing-test-suite/v4, Apache-2.0; see
 *    ../shared/vectors/README.md), in both signing styles: the canonical request, the string
 *    to sign and the signature byte for byte, and the headers or query parameters added
 *    against the signed-request sample (as sets, like aws-c-auth's own test). The directory
 *    is $JFE_SIGV4_VECTORS, by default tests/data/sigv4 (a copy of ../shared/vectors/sigv4)
 *    (where tests run). One "PASS/FAIL: test_sigv4.c:<case>" line per case, both styles.
 * 2. Two Route 53 requests signed once by an independent implementation, botocore.
 * 3. Refusals and encoding corner cases the suite does not cover. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/log.h"
#include "providers/sigv4.h"
#include "tests/unit/unit.h"

#define MAX_HDRS	64

/* One request.txt (or *-signed-request.txt), split in place. */
struct http_text {
	char		*raw;
	size_t		 rawlen;
	char		*method;
	char		*path;
	char		*query;		/* NULL: no '?' */
	const char	*hdrs[MAX_HDRS];
	size_t		 nh;
	const uint8_t	*body;
	size_t		 body_len;
};

struct vcase {
	struct aws_credentials	creds;
	struct sigv4_params	params;
	unsigned		expires;
	struct http_text	req;
};

static const char *vectors_dir;

/* The whole file <dir>/<name>, NUL-terminated; NULL (reported) if unreadable. */
static char *
slurp(const char *dir, const char *name, size_t *lenp)
{
	char path[4096], *data = NULL, *n;
	size_t len = 0, cap = 0, r;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - len < 4097) {
			cap = cap ? cap * 2 : 8192;
			if ((n = realloc(data, cap)) == NULL) {
				free(data);
				fclose(f);
				return NULL;
			}
			data = n;
		}
		if ((r = fread(data + len, 1, cap - len - 1, f)) == 0)
			break;
		len += r;
	}
	fclose(f);
	data[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return data;
}

/* Splits an HTTP/1.1 request text: request line ("METHOD target HTTP/1.1"; the target may
 * hold spaces, as in get-space-*), header lines up to a blank line or the end, lines that
 * begin with a space or tab continuing the header before them (kept with their '\n', as
 * sent: the signer folds them), then the body. */
static int
parse_http(char *raw, size_t rawlen, struct http_text *t)
{
	char *line_end, *sp1, *sp2, *p, *end = raw + rawlen, *q;

	memset(t, 0, sizeof(*t));
	t->raw = raw;
	t->rawlen = rawlen;
	if ((line_end = memchr(raw, '\n', rawlen)) == NULL)
		return -1;
	*line_end = '\0';
	if ((sp1 = strchr(raw, ' ')) == NULL || (sp2 = strrchr(raw, ' ')) == sp1)
		return -1;
	*sp1 = *sp2 = '\0';
	t->method = raw;
	t->path = sp1 + 1;
	if ((q = strchr(t->path, '?')) != NULL) {
		*q = '\0';
		t->query = q + 1;
	}
	p = line_end + 1;
	while (p < end && *p != '\n') {
		if (t->nh == MAX_HDRS)
			return -1;
		t->hdrs[t->nh++] = p;
		for (;;) {
			if ((line_end = memchr(p, '\n', (size_t)(end - p))) == NULL) {
				p = end;
				break;
			}
			p = line_end + 1;
			if (p < end && (*p == ' ' || *p == '\t'))
				continue;
			*line_end = '\0';
			break;
		}
	}
	if (p < end && *p == '\n') {
		t->body = (const uint8_t *)p + 1;
		t->body_len = (size_t)(end - p - 1);
	}
	return 0;
}

static int
copy_str(char *dst, size_t dstsz, json_t *o, const char *key, int required)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (s == NULL) {
		dst[0] = '\0';
		return required ? -1 : 0;
	}
	if (strlen(s) >= dstsz)
		return -1;
	strcpy(dst, s);
	return 0;
}

/* Reads context.json and request.txt of case directory <dir> into <vc>; <vc->req.raw> is
 * the caller's to free. */
static int
load_case(const char *dir, struct vcase *vc)
{
	json_error_t jerr;
	json_t *root = NULL, *cr;
	/* Every case has the same region and service; static storage keeps <vc->params>
	 * valid after this returns without another allocation to track. */
	static char region[64], service[64];
	char *ctx = NULL, *raw = NULL, ts[32];
	struct tm tm;
	size_t rawlen;
	int rc = -1;

	memset(vc, 0, sizeof(*vc));
	if ((ctx = slurp(dir, "context.json", NULL)) == NULL ||
	    (raw = slurp(dir, "request.txt", &rawlen)) == NULL)
		goto fail;
	if ((root = json_loads(ctx, 0, &jerr)) == NULL) {
		fprintf(stderr, "%s/context.json: %s\n", dir, jerr.text);
		goto fail;
	}
	cr = json_object_get(root, "credentials");
	if (copy_str(vc->creds.access_key_id, sizeof(vc->creds.access_key_id), cr,
	    "access_key_id", 1) == -1 ||
	    copy_str(vc->creds.secret_access_key, sizeof(vc->creds.secret_access_key), cr,
	    "secret_access_key", 1) == -1 ||
	    copy_str(vc->creds.session_token, sizeof(vc->creds.session_token), cr, "token",
	    0) == -1 ||
	    copy_str(region, sizeof(region), root, "region", 1) == -1 ||
	    copy_str(service, sizeof(service), root, "service", 1) == -1 ||
	    copy_str(ts, sizeof(ts), root, "timestamp", 1) == -1) {
		fprintf(stderr, "%s/context.json: missing or oversized field\n", dir);
		goto fail;
	}
	memset(&tm, 0, sizeof(tm));
	if (sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
		fprintf(stderr, "%s/context.json: bad timestamp\n", dir);
		goto fail;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	vc->params.region = region;
	vc->params.service = service;
	vc->params.when = timegm(&tm);
	vc->params.normalize_path = json_is_true(json_object_get(root, "normalize"));
	vc->params.sign_body = json_is_true(json_object_get(root, "sign_body"));
	vc->params.omit_session_token = json_is_true(json_object_get(root,
	    "omit_session_token"));
	vc->expires = (unsigned)json_integer_value(json_object_get(root,
	    "expiration_in_seconds"));
	if (parse_http(raw, rawlen, &vc->req) == -1) {
		fprintf(stderr, "%s/request.txt: malformed\n", dir);
		goto fail;
	}
	raw = NULL;
	rc = 0;
fail:
	json_decref(root);
	free(ctx);
	free(raw);
	return rc;
}

/* Prints <s> with '\n' and non-printable bytes escaped, so a diff is readable. */
static void
print_escaped(const char *label, const char *s)
{
	fprintf(stderr, "  %s: \"", label);
	for (; *s != '\0'; s++) {
		if (*s == '\n')
			fputs("\\n", stderr);
		else if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f || *s == '"')
			fprintf(stderr, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, stderr);
	}
	fputs("\"\n", stderr);
}

/* Compares <got> with the file <name> of <dir>, byte for byte; 0 when equal. */
static int
check_file(const char *dir, const char *casename, const char *name, const char *got)
{
	char *want;
	size_t i;

	if ((want = slurp(dir, name, NULL)) == NULL)
		return -1;
	if (got != NULL && strcmp(got, want) == 0) {
		free(want);
		return 0;
	}
	for (i = 0; got != NULL && got[i] != '\0' && got[i] == want[i]; i++)
		;
	fprintf(stderr, "%s/%s: differs at byte %zu\n", casename, name, i);
	print_escaped("want", want);
	print_escaped("got ", got ? got : "(null)");
	free(want);
	return -1;
}

/* The header line <line> has name <name> (case-insensitive) and, trimmed, value <value>. */
static int
header_is(const char *line, const char *name, size_t nlen, const char *value)
{
	const char *v;
	size_t vlen;

	if (strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return 0;
	for (v = line + nlen + 1; *v == ' ' || *v == '\t'; v++)
		;
	vlen = strlen(v);
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	return vlen == strlen(value) && memcmp(v, value, vlen) == 0;
}

/* The signed-request sample holds the request's headers plus exactly the ones added. */
static int
check_signed_headers(const char *dir, const char *casename, const struct vcase *vc,
    const struct sigv4_result *res)
{
	struct http_text t;
	const char *colon;
	char *raw;
	size_t len, i, j;
	int found, rc = -1;

	if ((raw = slurp(dir, "header-signed-request.txt", &len)) == NULL)
		return -1;
	if (parse_http(raw, len, &t) == -1)
		goto fail;
	if (t.nh != vc->req.nh + res->nadd) {
		fprintf(stderr, "%s/header-signed-request.txt: %zu headers, expected %zu + %zu\n",
		    casename, t.nh, vc->req.nh, res->nadd);
		goto fail;
	}
	for (i = 0; i < res->nadd; i++) {
		if ((colon = strchr(res->add_headers[i], ':')) == NULL || colon[1] != ' ')
			goto fail;
		for (found = 0, j = 0; j < t.nh && !found; j++)
			found = header_is(t.hdrs[j], res->add_headers[i],
			    (size_t)(colon - res->add_headers[i]), colon + 2);
		if (!found) {
			fprintf(stderr, "%s/header-signed-request.txt: no header \"%s\"\n",
			    casename, res->add_headers[i]);
			goto fail;
		}
	}
	rc = 0;
fail:
	free(raw);
	return rc;
}

/* The presigned sample's query is the request's plus exactly the parameters added. */
static int
check_signed_query(const char *dir, const char *casename, const struct vcase *vc,
    const struct sigv4_result *res)
{
	struct http_text t;
	char *raw, *p, *tok, *save = NULL, *params[64];
	size_t len, n = 0, nreq = 0, i, j;
	int found, rc = -1;

	if ((raw = slurp(dir, "query-signed-request.txt", &len)) == NULL)
		return -1;
	if (parse_http(raw, len, &t) == -1 || t.query == NULL)
		goto fail;
	for (p = t.query; (tok = strtok_r(p, "&", &save)) != NULL && n < 64; p = NULL)
		params[n++] = tok;
	for (p = vc->req.query; p != NULL && *p != '\0'; p++)
		if (*p == '&')
			nreq++;
	if (vc->req.query != NULL && vc->req.query[0] != '\0')
		nreq++;
	if (n != nreq + res->nadd) {
		fprintf(stderr, "%s/query-signed-request.txt: %zu parameters, expected %zu + %zu\n",
		    casename, n, nreq, res->nadd);
		goto fail;
	}
	for (i = 0; i < res->nadd; i++) {
		for (found = 0, j = 0; j < n && !found; j++)
			found = strcmp(params[j], res->add_headers[i]) == 0;
		if (!found) {
			fprintf(stderr, "%s/query-signed-request.txt: no parameter \"%s\"\n",
			    casename, res->add_headers[i]);
			goto fail;
		}
	}
	rc = 0;
fail:
	free(raw);
	return rc;
}

/* One style of one case; 0 when everything matched. */
static int
run_style(const char *dir, const char *casename, const struct vcase *vc, int query)
{
	struct sigv4_request r = {
		.method = vc->req.method, .path = vc->req.path, .query = vc->req.query,
		.headers = vc->req.hdrs, .nheaders = vc->req.nh, .body = vc->req.body,
		.body_len = vc->req.body_len,
	};
	struct sigv4_result res;
	const char *pfx = query ? "query" : "header";
	char name[64];
	int bad = 0;

	if ((query ? sigv4_sign_query(&vc->creds, &vc->params, vc->expires, &r, &res) :
	    sigv4_sign_headers(&vc->creds, &vc->params, &r, &res)) == -1) {
		fprintf(stderr, "%s: %s signing failed\n", casename, pfx);
		return -1;
	}
	snprintf(name, sizeof(name), "%s-canonical-request.txt", pfx);
	bad |= check_file(dir, casename, name, res.canonical_request);
	snprintf(name, sizeof(name), "%s-string-to-sign.txt", pfx);
	bad |= check_file(dir, casename, name, res.string_to_sign);
	snprintf(name, sizeof(name), "%s-signature.txt", pfx);
	bad |= check_file(dir, casename, name, res.signature);
	bad |= query ? check_signed_query(dir, casename, vc, &res) :
	    check_signed_headers(dir, casename, vc, &res);
	sigv4_result_free(&res);
	return bad ? -1 : 0;
}

static int
name_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every case directory, in name order; the pass counts per style go to stderr. */
static void
run_vectors(void)
{
	struct vcase vc;
	struct dirent *de;
	char **names = NULL, **nn, dir[4096];
	size_t n = 0, i, hpass = 0, qpass = 0;
	DIR *d;
	int h, q;

	if ((d = opendir(vectors_dir)) == NULL) {
		fprintf(stderr, "%s: %s (set JFE_SIGV4_VECTORS)\n", vectors_dir, strerror(errno));
		printf("FAIL: test_sigv4.c:vectors\n");
		unit_failed++;
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%s/%s/context.json", vectors_dir, de->d_name);
		if (access(dir, R_OK) != 0)
			continue;	/* LICENSE, NOTICE */
		if ((nn = realloc(names, (n + 1) * sizeof(*names))) == NULL)
			break;
		names = nn;
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_order);
	for (i = 0; i < n; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", vectors_dir, names[i]);
		h = q = -1;
		if (load_case(dir, &vc) == 0) {
			h = run_style(dir, names[i], &vc, 0);
			q = run_style(dir, names[i], &vc, 1);
			free(vc.req.raw);
		}
		hpass += h == 0;
		qpass += q == 0;
		printf("%s: test_sigv4.c:%s\n", h == 0 && q == 0 ? "PASS" : "FAIL", names[i]);
		fflush(stdout);
		if (h == 0 && q == 0)
			unit_passed++;
		else
			unit_failed++;
		free(names[i]);
	}
	free(names);
	fprintf(stderr, "sigv4 vectors: %zu cases; header style %zu passed, query style %zu "
	    "passed\n", n, hpass, qpass);
	/* The suite has 38 cases: fewer means a damaged copy, which must not pass quietly. */
	if (n < 38) {
		fprintf(stderr, "%s: %zu cases, expected 38\n", vectors_dir, n);
		printf("FAIL: test_sigv4.c:vectors_count\n");
		unit_failed++;
	}
}

/*
 * Route 53, cross-checked once against botocore 1.29.27 (Debian's python3-botocore) with
 *   /usr/bin/python3 botocore_route53.py
 * where the script, in short, is:
 *   import datetime, botocore.auth
 *   from botocore.auth import SigV4Auth; from botocore.awsrequest import AWSRequest
 *   from botocore.credentials import Credentials
 *   class T(datetime.datetime):
 *       @classmethod
 *       def utcnow(cls): return datetime.datetime(2024, 5, 6, 7, 8, 9)
 *   botocore.auth.datetime.datetime = T
 *   class Rec(SigV4Auth):
 *       def string_to_sign(self, req, cr):
 *           self.cr = cr; self.sts = super().string_to_sign(req, cr); return self.sts
 *   req = AWSRequest(method="POST",
 *       url="https://route53.amazonaws.com/2013-04-01/hostedzone/Z1/rrset",
 *       headers={"Host": "route53.amazonaws.com", "Content-Type": "text/xml",
 *           "User-Agent": "jfe/1.0"}, data=BODY)        # BODY: r53_body below
 *   auth = Rec(Credentials("ASIAEXAMPLEKEYID1234", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
 *       "IQoJb3JpZ2luX2VjEXAMPLE/token+with=padding=="), "route53", "us-east-1")
 *   auth.add_auth(req); print(repr(auth.cr), repr(auth.sts), dict(req.headers))
 * and the same for GET .../2013-04-01/hostedzonesbyname?dnsname=example.com.&maxitems=1
 * (Host only, no body, credentials AKIAEXAMPLEKEYID1234 and the same secret, no token).
 * 2024-05-06T07:08:09Z is 1714979289. The constants below are botocore's output.
 */
#define R53_WHEN	((time_t)1714979289)
#define R53_SECRET	"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define R53_TOKEN	"IQoJb3JpZ2luX2VjEXAMPLE/token+with=padding=="

static const char r53_body[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
    "<ChangeBatch><Comment>acme</Comment><Changes><Change><Action>UPSERT</Action>"
    "<ResourceRecordSet><Name>_acme-challenge.example.com.</Name><Type>TXT</Type><TTL>10</TTL>"
    "<ResourceRecords><ResourceRecord>"
    "<Value>\"LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0\"</Value>"
    "</ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch>"
    "</ChangeResourceRecordSetsRequest>";

static const char r53_post_creq[] =
    "POST\n"
    "/2013-04-01/hostedzone/Z1/rrset\n"
    "\n"
    "content-type:text/xml\n"
    "host:route53.amazonaws.com\n"
    "x-amz-date:20240506T070809Z\n"
    "x-amz-security-token:" R53_TOKEN "\n"
    "\n"
    "content-type;host;x-amz-date;x-amz-security-token\n"
    "de908e076e55b8ead766c833b7b36a301524ab03600c7d1a4043714e61a889aa";
static const char r53_post_sts[] =
    "AWS4-HMAC-SHA256\n"
    "20240506T070809Z\n"
    "20240506/us-east-1/route53/aws4_request\n"
    "800709ae599e8b1ecc9613558fc316ac91cc5c5ba637786e88e341cfedab142d";
static const char r53_post_auth[] =
    "Authorization: AWS4-HMAC-SHA256 "
    "Credential=ASIAEXAMPLEKEYID1234/20240506/us-east-1/route53/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
    "Signature=f3c3fab41f9be7b744c5c0d5edc820c801cd3b059a0842f506844f3404105368";

static const char r53_get_creq[] =
    "GET\n"
    "/2013-04-01/hostedzonesbyname\n"
    "dnsname=example.com.&maxitems=1\n"
    "host:route53.amazonaws.com\n"
    "x-amz-date:20240506T070809Z\n"
    "\n"
    "host;x-amz-date\n"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
static const char r53_get_sts[] =
    "AWS4-HMAC-SHA256\n"
    "20240506T070809Z\n"
    "20240506/us-east-1/route53/aws4_request\n"
    "97d5e3926238593ea8a425eae3b2ee46c37a5b3c9ec2bc3b2549b25d7cbcc712";
static const char r53_get_auth[] =
    "Authorization: AWS4-HMAC-SHA256 "
    "Credential=AKIAEXAMPLEKEYID1234/20240506/us-east-1/route53/aws4_request, "
    "SignedHeaders=host;x-amz-date, "
    "Signature=541d783042b82d2325b737d4c984d90368dac1ebd32d89afa16234d7cce85ff0";

static const struct sigv4_params r53_params = {
	.region = "us-east-1", .service = "route53", .when = R53_WHEN, .normalize_path = 1,
};

static void
test_route53_change_botocore(void)
{
	struct aws_credentials c = { "ASIAEXAMPLEKEYID1234", R53_SECRET, R53_TOKEN, 0 };
	const char *hdrs[] = { "Host: route53.amazonaws.com", "Content-Type: text/xml",
	    "User-Agent: jfe/1.0" };
	struct sigv4_request r = { "POST", "/2013-04-01/hostedzone/Z1/rrset", NULL, hdrs, 3,
	    (const uint8_t *)r53_body, sizeof(r53_body) - 1 };
	struct sigv4_result res;

	UNIT_CHECK(sigv4_sign_headers(&c, &r53_params, &r, &res) == 0);
	UNIT_CHECK_STR(res.canonical_request, r53_post_creq);
	UNIT_CHECK_STR(res.string_to_sign, r53_post_sts);
	UNIT_CHECK_STR(res.signature,
	    "f3c3fab41f9be7b744c5c0d5edc820c801cd3b059a0842f506844f3404105368");
	UNIT_CHECK(res.nadd == 3);
	if (res.nadd == 3) {
		UNIT_CHECK_STR(res.add_headers[0], "X-Amz-Security-Token: " R53_TOKEN);
		UNIT_CHECK_STR(res.add_headers[1], "X-Amz-Date: 20240506T070809Z");
		UNIT_CHECK_STR(res.add_headers[2], r53_post_auth);
	}
	sigv4_result_free(&res);
}

static void
test_route53_list_botocore(void)
{
	struct aws_credentials c = { "AKIAEXAMPLEKEYID1234", R53_SECRET, "", 0 };
	const char *hdrs[] = { "Host: route53.amazonaws.com" };
	struct sigv4_request r = { "GET", "/2013-04-01/hostedzonesbyname",
	    "dnsname=example.com.&maxitems=1", hdrs, 1, NULL, 0 };
	struct sigv4_result res;

	UNIT_CHECK(sigv4_sign_headers(&c, &r53_params, &r, &res) == 0);
	UNIT_CHECK_STR(res.canonical_request, r53_get_creq);
	UNIT_CHECK_STR(res.string_to_sign, r53_get_sts);
	UNIT_CHECK(res.nadd == 2);
	if (res.nadd == 2) {
		UNIT_CHECK_STR(res.add_headers[0], "X-Amz-Date: 20240506T070809Z");
		UNIT_CHECK_STR(res.add_headers[1], r53_get_auth);
	}
	sigv4_result_free(&res);
}

/* Extracts the canonical URI and query (lines 2 and 3) of a canonical request. */
static void
creq_lines(const char *creq, char *uri, size_t urisz, char *query, size_t qsz)
{
	const char *a = strchr(creq, '\n'), *b, *c;

	uri[0] = query[0] = '\0';
	if (a == NULL || (b = strchr(a + 1, '\n')) == NULL || (c = strchr(b + 1, '\n')) == NULL)
		return;
	snprintf(uri, urisz, "%.*s", (int)(b - a - 1), a + 1);
	snprintf(query, qsz, "%.*s", (int)(c - b - 1), b + 1);
}

/* The path is encoded once more ("%" -> "%25": services other than S3 check the double
 * encoding); the query is decoded and re-encoded canonically, '+' staying a plus. */
static void
test_encoding(void)
{
	struct aws_credentials c = { "AKIDEXAMPLE", R53_SECRET, "", 0 };
	const char *hdrs[] = { "Host:example.amazonaws.com" };
	struct sigv4_request r = { "GET", "/a%2Fb/./c d/../%E1%88%B4", "b=x+y&&a=%7e&c&a=%41&%3d=1",
	    hdrs, 1, NULL, 0 };
	struct sigv4_params p = r53_params;
	struct sigv4_result res;
	char uri[256], query[256];

	UNIT_CHECK(sigv4_sign_headers(&c, &p, &r, &res) == 0);
	creq_lines(res.canonical_request ? res.canonical_request : "", uri, sizeof(uri), query,
	    sizeof(query));
	UNIT_CHECK_STR(uri, "/a%252Fb/%25E1%2588%25B4");
	UNIT_CHECK_STR(query, "%3D=1&a=A&a=~&b=x%2By&c=");
	sigv4_result_free(&res);

	p.normalize_path = 0;
	UNIT_CHECK(sigv4_sign_headers(&c, &p, &r, &res) == 0);
	creq_lines(res.canonical_request ? res.canonical_request : "", uri, sizeof(uri), query,
	    sizeof(query));
	UNIT_CHECK_STR(uri, "/a%252Fb/./c%20d/../%25E1%2588%25B4");
	sigv4_result_free(&res);
}

/* Headers HTTP stacks rewrite are left out; the rest are folded and joined. */
static void
test_skipped_headers(void)
{
	struct aws_credentials c = { "AKIDEXAMPLE", R53_SECRET, "", 0 };
	const char *hdrs[] = { "Host:example.amazonaws.com", "User-Agent: curl/7.88.1",
	    "Connection: keep-alive", "Expect: 100-continue", "Transfer-Encoding: chunked",
	    "X-Amzn-Trace-Id: Root=1", "Upgrade: h2c", "X-B:\t two\r\n\t three  ", "x-b: 1" };
	struct sigv4_request r = { "POST", "/", NULL, hdrs, 9, NULL, 0 };
	struct sigv4_result res;

	UNIT_CHECK(sigv4_sign_headers(&c, &r53_params, &r, &res) == 0);
	UNIT_CHECK(res.canonical_request != NULL && strstr(res.canonical_request,
	    "host:example.amazonaws.com\nx-amz-date:20240506T070809Z\nx-b:two three,1\n\n"
	    "host;x-amz-date;x-b\n") != NULL);
	sigv4_result_free(&res);
}

/* The query style also sends a token it does not sign, and sign_body does not apply. */
static void
test_query_style(void)
{
	struct aws_credentials c = { "AKIDEXAMPLE", R53_SECRET, "tok/en", 0 };
	const char *hdrs[] = { "Host:example.amazonaws.com" };
	struct sigv4_request r = { "GET", "/", "x=1", hdrs, 1, NULL, 0 };
	struct sigv4_params p = r53_params;
	struct sigv4_result res;

	p.omit_session_token = 1;
	p.sign_body = 1;
	UNIT_CHECK(sigv4_sign_query(&c, &p, 60, &r, &res) == 0);
	UNIT_CHECK(res.nadd == 7);
	if (res.nadd == 7) {
		UNIT_CHECK_STR(res.add_headers[0], "X-Amz-Algorithm=AWS4-HMAC-SHA256");
		UNIT_CHECK_STR(res.add_headers[1],
		    "X-Amz-Credential=AKIDEXAMPLE%2F20240506%2Fus-east-1%2Froute53%2Faws4_request");
		UNIT_CHECK_STR(res.add_headers[4], "X-Amz-Expires=60");
		UNIT_CHECK_STR(res.add_headers[5], "X-Amz-Security-Token=tok%2Fen");
		UNIT_CHECK(strncmp(res.add_headers[6], "X-Amz-Signature=", 16) == 0);
	}
	UNIT_CHECK(res.canonical_request != NULL &&
	    strstr(res.canonical_request, "Token") == NULL &&
	    strstr(res.canonical_request, "x-amz-content-sha256") == NULL);
	sigv4_result_free(&res);

	UNIT_CHECK(sigv4_sign_query(&c, &p, 0, &r, &res) == -1);
	UNIT_CHECK(sigv4_sign_query(&c, &p, 604801, &r, &res) == -1);
	sigv4_result_free(&res);
}

/* A failed call leaves a zeroed result (and logs why). */
static int
refused(const struct aws_credentials *c, const struct sigv4_params *p,
    const struct sigv4_request *r)
{
	struct sigv4_result res;
	int rc;

	memset(&res, 0xa5, sizeof(res));
	rc = sigv4_sign_headers(c, p, r, &res);
	if (rc == 0) {
		sigv4_result_free(&res);
		return 0;
	}
	return res.canonical_request == NULL && res.add_headers == NULL && res.nadd == 0;
}

static void
test_refusals(void)
{
	struct aws_credentials c = { "AKIDEXAMPLE", R53_SECRET, "", 0 };
	struct aws_credentials bad = c;
	const char *ok_h[] = { "Host:example.amazonaws.com" };
	const char *date_h[] = { "Host:example.amazonaws.com", "x-amz-date:20150830T123600Z" };
	const char *auth_h[] = { "Host:example.amazonaws.com", "AUTHORIZATION: x" };
	const char *nohost_h[] = { "My-Header: 1" };
	const char *badname_h[] = { "Host:example.amazonaws.com", "Bad Name: 1" };
	const char *nocolon_h[] = { "Host:example.amazonaws.com", "NoColon" };
	const char *crlf_h[] = { "Host:example.amazonaws.com", "X-A: a\r\nX-B: b" };
	const char *lf_h[] = { "Host:example.amazonaws.com", "X-A: a\n" };
	const char *cr_h[] = { "Host:example.amazonaws.com", "X-A: a\r b" };
	struct sigv4_request r = { "GET", "/", NULL, ok_h, 1, NULL, 0 };
	struct sigv4_params p = r53_params;
	struct sigv4_result res;

	r.headers = date_h;
	r.nheaders = 2;
	UNIT_CHECK(refused(&c, &p, &r));
	r.headers = auth_h;
	UNIT_CHECK(refused(&c, &p, &r));
	r.headers = badname_h;
	UNIT_CHECK(refused(&c, &p, &r));
	r.headers = nocolon_h;
	UNIT_CHECK(refused(&c, &p, &r));
	r.headers = crlf_h;
	UNIT_CHECK(refused(&c, &p, &r));
	r.headers = lf_h;
	UNIT_CHECK(refused(&c, &p, &r));
	r.headers = cr_h;
	UNIT_CHECK(refused(&c, &p, &r));
	r.headers = nohost_h;
	r.nheaders = 1;
	UNIT_CHECK(refused(&c, &p, &r));
	r.headers = ok_h;

	r.query = "X-Amz-Signature=abc";
	UNIT_CHECK(refused(&c, &p, &r));
	r.query = "x-amz-credential=abc";
	UNIT_CHECK(refused(&c, &p, &r));
	r.query = "a=%4";
	UNIT_CHECK(refused(&c, &p, &r));
	r.query = "a=%zz";
	UNIT_CHECK(refused(&c, &p, &r));
	r.query = NULL;

	r.path = "relative";
	UNIT_CHECK(refused(&c, &p, &r));
	r.path = "/a?b";
	UNIT_CHECK(refused(&c, &p, &r));
	r.path = "/a\r\nX: y";
	UNIT_CHECK(refused(&c, &p, &r));
	r.path = "/";
	r.method = "GE T";
	UNIT_CHECK(refused(&c, &p, &r));
	r.method = "GET";

	strcpy(bad.access_key_id, "AKID/EXAMPLE");
	UNIT_CHECK(refused(&bad, &p, &r));
	bad = c;
	bad.access_key_id[0] = '\0';
	UNIT_CHECK(refused(&bad, &p, &r));
	bad = c;
	strcpy(bad.session_token, "tok\r\nX-Injected: 1");
	UNIT_CHECK(refused(&bad, &p, &r));
	bad = c;
	bad.secret_access_key[0] = '\0';
	UNIT_CHECK(refused(&bad, &p, &r));

	p.region = "us east";
	UNIT_CHECK(refused(&c, &p, &r));
	p.region = "us-east-1";
	p.service = "";
	UNIT_CHECK(refused(&c, &p, &r));
	p.service = "route53";

	/* Still fine after all that, and freeing twice is harmless. */
	UNIT_CHECK(sigv4_sign_headers(&c, &p, &r, &res) == 0);
	sigv4_result_free(&res);
	sigv4_result_free(&res);
	sigv4_result_free(NULL);
}

int
main(void)
{
	log_init("test_sigv4", 0);
	/* The suite's data files are kept in the repository (Apache-2.0, with its LICENSE and
	 * NOTICE) so the test never depends on what lies beside the checkout. */
	if ((vectors_dir = getenv("JFE_SIGV4_VECTORS")) == NULL || vectors_dir[0] == '\0')
		vectors_dir = "tests/data/sigv4";
	run_vectors();
	UNIT_RUN(test_route53_change_botocore);
	UNIT_RUN(test_route53_list_botocore);
	UNIT_RUN(test_encoding);
	UNIT_RUN(test_skipped_headers);
	UNIT_RUN(test_query_style);
	UNIT_RUN(test_refusals);
	return unit_summary();
}
