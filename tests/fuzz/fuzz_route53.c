/* libFuzzer target for the Route53 answer parsers (providers/route53.c): zones, TXT record
 * sets, change info and both error shapes, on arbitrary bytes. No crash, no leak, bounded
 * outputs. Seeds: tests/fuzz/corpus/route53/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/route53.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	struct r53_zone *z = NULL;
	char **v = NULL, a[256], b[256];
	size_t n = 0;
	int trunc;
	long ttl;

	if (r53_parse_zones(xml, size, &z, &n, &trunc, a, sizeof(a), b, sizeof(b)) == 0)
		for (size_t i = 0; i < n; i++)
			if (strlen(z[i].name) >= sizeof(z[i].name) || strlen(z[i].id) >= sizeof(z[i].id))
				abort();
	free(z);
	if (r53_parse_txt(xml, size, "_acme-challenge.example.com.", &v, &n, &ttl) == 0) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
	}
	r53_parse_change(xml, size, a, sizeof(a), b, sizeof(b));
	r53_parse_error(xml, size, a, sizeof(a), b, sizeof(b));
	return 0;
}
