/* libFuzzer target for the Cloudflare error mapping (providers/cloudflare.c) on arbitrary
 * JSON answers and statuses. Seeds: tests/fuzz/corpus/cloudflare/. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/cloudflare.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DISABLE_EOF_CHECK, NULL);
	char out[300];
	int code;

	cf_error_message(j, size ? (long)data[0] * 2 : 400, &code, out, sizeof(out));
	if (strlen(out) >= sizeof(out))
		abort();
	json_decref(j);
	return 0;
}
