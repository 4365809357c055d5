/* Route53 XML and Cloudflare JSON answers, including the error shapes. */
#include <stdlib.h>

#include "providers/cloudflare.h"
#include "providers/route53.h"
#include "tests/unit/unit.h"

static void
test_r53_zones(void)
{
	const char xml[] =
	    "<?xml version=\"1.0\"?>\n<ListHostedZonesByNameResponse "
	    "xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><HostedZones>"
	    "<HostedZone><Id>/hostedzone/Z2PRIV</Id><Name>Example.COM.</Name>"
	    "<Config><PrivateZone>true</PrivateZone></Config></HostedZone>"
	    "<HostedZone><Id>/hostedzone/Z1PUB</Id><Name>example.com.</Name>"
	    "<Config><PrivateZone>false</PrivateZone></Config></HostedZone>"
	    "</HostedZones><IsTruncated>true</IsTruncated><NextDNSName>example.net.</NextDNSName>"
	    "<NextHostedZoneId>Z3</NextHostedZoneId><MaxItems>2</MaxItems>"
	    "</ListHostedZonesByNameResponse>";
	struct r53_zone *z = NULL;
	size_t n = 0;
	int trunc = 0;
	char nn[64], ni[64];

	UNIT_CHECK(r53_parse_zones(xml, sizeof(xml) - 1, &z, &n, &trunc, nn, sizeof(nn), ni,
	    sizeof(ni)) == 0);
	UNIT_CHECK(n == 2 && trunc == 1);
	if (n == 2) {
		UNIT_CHECK_STR(z[0].name, "example.com");
		UNIT_CHECK(z[0].private_zone == 1 && z[1].private_zone == 0);
		UNIT_CHECK_STR(z[1].id, "Z1PUB");
	}
	UNIT_CHECK_STR(nn, "example.net.");
	UNIT_CHECK_STR(ni, "Z3");
	free(z);
	UNIT_CHECK(r53_parse_zones("<not xml", 8, &z, &n, &trunc, nn, sizeof(nn), ni,
	    sizeof(ni)) == -1 && z == NULL);
	/* An entity must not be expanded into anything (no network, no files). */
	{
		const char evil[] = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM "
		    "\"file:///etc/passwd\">]><R><HostedZones><HostedZone><Id>&e;</Id>"
		    "<Name>a.b.</Name></HostedZone></HostedZones></R>";

		r53_parse_zones(evil, sizeof(evil) - 1, &z, &n, &trunc, nn, sizeof(nn), ni,
		    sizeof(ni));
		UNIT_CHECK(n == 0 || strstr(z[0].id, "root") == NULL);
		free(z);
	}
}

static void
test_r53_txt(void)
{
	const char xml[] =
	    "<ListResourceRecordSetsResponse><ResourceRecordSets>"
	    "<ResourceRecordSet><Name>_acme-challenge.example.com.</Name><Type>TXT</Type>"
	    "<TTL>30</TTL><ResourceRecords>"
	    "<ResourceRecord><Value>\"abc\"</Value></ResourceRecord>"
	    "<ResourceRecord><Value>\"de\" \"f\\\"g\"</Value></ResourceRecord>"
	    "</ResourceRecords></ResourceRecordSet>"
	    "<ResourceRecordSet><Name>_acme-challenge.example.com.x.</Name><Type>TXT</Type>"
	    "</ResourceRecordSet></ResourceRecordSets></ListResourceRecordSetsResponse>";
	char **v = NULL;
	size_t n = 0;
	long ttl = 0;

	UNIT_CHECK(r53_parse_txt(xml, sizeof(xml) - 1, "_acme-challenge.example.com.", &v, &n,
	    &ttl) == 0);
	UNIT_CHECK(n == 2 && ttl == 30);
	if (n == 2) {
		UNIT_CHECK_STR(v[0], "abc");
		UNIT_CHECK_STR(v[1], "def\"g");
	}
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	/* The listing runs on past the name: another name is not ours. */
	UNIT_CHECK(r53_parse_txt(xml, sizeof(xml) - 1, "_acme-challenge.other.com.", &v, &n,
	    &ttl) == 0 && n == 0);
	free(v);
}

static void
test_r53_errors(void)
{
	const char e1[] = "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"https://route53."
	    "amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>Throttling</Code>"
	    "<Message>Rate exceeded</Message></Error><RequestId>r1</RequestId></ErrorResponse>";
	const char e2[] = "<InvalidChangeBatch><Messages><Message>Tried to delete resource "
	    "record set but it was not found</Message></Messages></InvalidChangeBatch>";
	const char c[] = "<ChangeResourceRecordSetsResponse><ChangeInfo><Id>/change/C9</Id>"
	    "<Status>PENDING</Status></ChangeInfo></ChangeResourceRecordSetsResponse>";
	char code[64], msg[200], id[64], st[32];

	UNIT_CHECK(r53_parse_error(e1, sizeof(e1) - 1, code, sizeof(code), msg, sizeof(msg)) == 0);
	UNIT_CHECK_STR(code, "Throttling");
	UNIT_CHECK_STR(msg, "Rate exceeded");
	UNIT_CHECK(r53_parse_error(e2, sizeof(e2) - 1, code, sizeof(code), msg, sizeof(msg)) == 0);
	UNIT_CHECK_STR(code, "InvalidChangeBatch");
	UNIT_CHECK(strstr(msg, "not found") != NULL);
	UNIT_CHECK(r53_parse_error("", 0, code, sizeof(code), msg, sizeof(msg)) == -1);
	UNIT_CHECK(r53_parse_change(c, sizeof(c) - 1, id, sizeof(id), st, sizeof(st)) == 0);
	UNIT_CHECK_STR(id, "C9");
	UNIT_CHECK_STR(st, "PENDING");
}

static void
test_cf_errors(void)
{
	struct {
		const char *json;
		long status;
		int code;
		const char *want;
	} cases[] = {
		{ "{\"success\":false,\"errors\":[{\"code\":10000,\"message\":\"Authentication "
		  "error\"}]}", 403, 10000, "authentication failed" },
		{ "{\"success\":false,\"errors\":[{\"code\":9109,\"message\":\"Unauthorized to "
		  "access requested resource\"}]}", 403, 9109, "authentication failed" },
		{ "{\"success\":false,\"errors\":[{\"code\":81058,\"message\":\"An identical record "
		  "already exists.\"}]}", 400, 81058, "already exists" },
		{ "{\"success\":false,\"errors\":[{\"code\":7003,\"message\":\"Could not route\"}]}",
		  400, 7003, "zone not found" },
		{ "{\"success\":false,\"errors\":[{\"code\":971,\"message\":\"Please wait\"}]}", 429,
		  971, "rate limited" },
		{ "not json", 502, 0, "HTTP 502" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = json_loads(cases[i].json, 0, NULL);
		char out[300];
		int code = -1;

		cf_error_message(j, cases[i].status, &code, out, sizeof(out));
		UNIT_CHECK(code == cases[i].code);
		if (strstr(out, cases[i].want) == NULL) {
			fprintf(stderr, "case %zu: \"%s\"\n", i, out);
			UNIT_CHECK(0);
		}
		json_decref(j);
	}
}

int
main(void)
{
	UNIT_RUN(test_r53_zones);
	UNIT_RUN(test_r53_txt);
	UNIT_RUN(test_r53_errors);
	UNIT_RUN(test_cf_errors);
	return unit_summary();
}
