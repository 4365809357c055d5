/* libFuzzer target for proxy/hello.c. Besides what ASan/UBSan catch, it checks the contract the
 * event loop relies on: consumed stays within the input, the SNI is a proper C string, an OK
 * result is reproduced from exactly the bytes it consumed, any other result leaves the info
 * zeroed, and results are monotonic over prefixes (a decided prefix stays decided the same way;
 * NOT_TLS is decided by byte 2).
 * Seeds in tests/fuzz/corpus/hello/: the real hellos of tests/data/hello/ plus hand-built edge_*
 * cases (plaintext protocols, tiny records, GREASE, bad SNI, duplicates, a 20 KB hello...).
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_hello.c proxy/hello.c
 * Run:   mkdir -p /tmp/hello-corpus && ./a.out -max_total_time=60 /tmp/hello-corpus \
 *            tests/fuzz/corpus/hello    (new inputs go to the first, scratch, directory) */
#include "proxy/hello.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static int
info_equal_but_consumed(const struct hello_info *a, const struct hello_info *b)
{
	return a->record_version == b->record_version &&
	    a->legacy_version == b->legacy_version &&
	    a->max_version == b->max_version &&
	    a->sni_present == b->sni_present &&
	    a->sni_len == b->sni_len &&
	    memcmp(a->sni, b->sni, sizeof(a->sni)) == 0 &&
	    a->alpn_present == b->alpn_present &&
	    a->alpn_count == b->alpn_count &&
	    a->alpn_total == b->alpn_total &&
	    a->alpn_truncated == b->alpn_truncated &&
	    memcmp(a->alpn, b->alpn, sizeof(a->alpn)) == 0 &&
	    memcmp(a->alpn_len, b->alpn_len, sizeof(a->alpn_len)) == 0;
}

static void
check_info(const struct hello_info *h, size_t len)
{
	unsigned i;

	check(h->consumed <= len);
	check(h->consumed >= 5 + 4 + 2 + 32 + 1 + 2 + 2 + 1 + 1);
	check(h->sni_len < 256);
	if (h->sni_present) {
		check(h->sni_len >= 1);
		check(strlen(h->sni) == h->sni_len);
	} else
		check(h->sni_len == 0 && h->sni[0] == '\0');
	check(h->alpn_count <= HELLO_MAX_ALPN);
	check(h->alpn_count <= h->alpn_total);
	check(h->alpn_truncated || h->alpn_count == h->alpn_total);
	check(h->alpn_present || h->alpn_total == 0);
	check(!h->alpn_present || h->alpn_total >= 1);
	for (i = 0; i < h->alpn_count; i++) {
		check(h->alpn_len[i] >= 1);
		check(memchr(h->alpn[i], '\0', HELLO_ALPN_NAME_MAX) != NULL);
		if (h->alpn_len[i] < HELLO_ALPN_NAME_MAX &&
		    strlen(h->alpn[i]) == h->alpn_len[i])
			check(hello_alpn_offers(h, h->alpn[i]));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hello_info h, again;
	enum hello_result r, rp;
	size_t cut;

	r = hello_parse(data, size, &h);
	check(r == HELLO_NEED_MORE || r == HELLO_OK || r == HELLO_NOT_TLS ||
	    r == HELLO_MALFORMED);
	check(h.consumed <= size);
	check(h.sni_len < 256);
	if (r == HELLO_NOT_TLS)
		check(size >= 1 && (data[0] != 22 || (size >= 2 && data[1] != 3)));
	if (r != HELLO_OK) {
		memset(&again, 0, sizeof(again));
		check(memcmp(&h, &again, sizeof(h)) == 0);
	}
	if (r == HELLO_OK) {
		check_info(&h, size);
		check(hello_parse(data, h.consumed, &again) == HELLO_OK);
		check(again.consumed == h.consumed);
		check(info_equal_but_consumed(&h, &again));
		/* One byte short of the hello's records is still a valid prefix. */
		check(hello_parse(data, h.consumed - 1, &again) == HELLO_NEED_MORE);
	}
	/* A prefix either waits for more or already gives the final answer. */
	if (size > 0) {
		cut = (size_t)data[size - 1] * 257 % size;
		rp = hello_parse(data, cut, &again);
		check(rp == HELLO_NEED_MORE || rp == r);
		if (r == HELLO_NEED_MORE)
			check(rp == HELLO_NEED_MORE);
	}
	return 0;
}
