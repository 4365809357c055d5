/* Unit tests of the small core pieces: name normalisation, the HTTP-01 request matcher, the
 * timer heap, option parsing, log escaping and the memory accounting. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent/log.h"
#include "agent/memory.h"
#include "agent/options.h"
#include "proxy/challenge.h"
#include "proxy/names.h"
#include "proxy/timer.h"
#include "tests/unit/unit.h"

static int
norm(const char *in, char *out)
{
	return name_normalize(in, strlen(in), out, 0);
}

static void
test_names_valid(void)
{
	char out[NAME_MAX_LEN + 1];

	UNIT_CHECK(norm("www.Example.COM", out) == 0);
	UNIT_CHECK_STR(out, "www.example.com");
	UNIT_CHECK(norm("a.b.", out) == 0);
	UNIT_CHECK_STR(out, "a.b");
	UNIT_CHECK(norm("xn--bcher-kva.example", out) == 0);
	UNIT_CHECK(norm("1a.2b.c0m", out) == 0);
	UNIT_CHECK(norm("a-b.c", out) == 0);
}

static void
test_names_invalid(void)
{
	static const char *const bad[] = {
		"", ".", "localhost", "com", "10.0.0.1", "1.2.3.4.", "::1", "[::1]", "a..b",
		".a.b", "-a.b", "a-.b", "a_b.c", "*.a.b", "a b.c", "a.b\n", "a.b/c", "a.123",
		"xn--.a\x80", "a.b:443",
	};
	char out[NAME_MAX_LEN + 1], big[300];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (norm(bad[i], out) == 0) {
			fprintf(stderr, "accepted bad name \"%s\"\n", bad[i]);
			UNIT_CHECK(0);
		}
	memset(big, 'a', sizeof(big));
	big[64] = '.';
	big[66] = '\0';
	UNIT_CHECK(norm(big, out) != 0);            /* 64-byte label */
	for (int i = 0; i < 255; i++)
		big[i] = (i % 2) ? '.' : 'a';
	big[255] = '\0';
	UNIT_CHECK(norm(big, out) != 0);            /* 255 characters */
	big[253] = '\0';
	UNIT_CHECK(norm(big, out) == 0);            /* 253: fine */
	UNIT_CHECK(name_normalize("*.a.b", 5, out, 1) == 0);
	UNIT_CHECK_STR(out, "*.a.b");
}

static void
test_http01_request(void)
{
	const char *tok;
	size_t len;
	const char req[] = "GET /.well-known/acme-challenge/AbC-_9 HTTP/1.1\r\nHost: x\r\n\r\n";

	UNIT_CHECK(challenge_http_request(req, strlen(req), &tok, &len) == 1);
	UNIT_CHECK(len == 6 && memcmp(tok, "AbC-_9", 6) == 0);
	UNIT_CHECK(challenge_http_request(req, 10, &tok, &len) == -1);
	UNIT_CHECK(challenge_http_request(req, 36, &tok, &len) == -1);
	UNIT_CHECK(challenge_http_request("GET / HTTP/1.1\r\n", 16, &tok, &len) == 0);
	UNIT_CHECK(challenge_http_request("GET /.well-known/acme-challenge/../x HTTP/1.1", 45,
	    &tok, &len) == 0);
	UNIT_CHECK(challenge_http_request("POST /", 6, &tok, &len) == 0);

	UNIT_CHECK(challenge_http_any() == 0);
	UNIT_CHECK(challenge_http_add("tok1", "tok1.thumb") == 0);
	UNIT_CHECK(challenge_http_any() == 1);
	{
		char out[64];

		UNIT_CHECK(challenge_http_lookup("tok1", 4, out, sizeof(out)) == 0);
		UNIT_CHECK_STR(out, "tok1.thumb");
		UNIT_CHECK(challenge_http_lookup("tok", 3, out, sizeof(out)) == -1);
	}
	challenge_http_remove("tok1");
	UNIT_CHECK(challenge_http_any() == 0);
	challenge_clear();
}

static void
test_timer_heap(void)
{
	struct timer_heap h = { 0 };
	struct timer t[100];
	struct timer *p;
	int n = 0;

	memset(t, 0, sizeof(t));
	for (int i = 0; i < 100; i++)
		UNIT_CHECK(timer_arm(&h, &t[i], (uint64_t)((i * 37) % 100 + 1)) == 0);
	timer_disarm(&h, &t[5]);
	timer_arm(&h, &t[6], 1000);         /* moved later */
	timer_arm(&h, &t[7], 1);            /* moved earlier */
	UNIT_CHECK(timer_next_wait(&h, 0, 5000) == 1);
	while ((p = timer_pop_due(&h, 500)) != NULL) {
		UNIT_CHECK(p->at == 0);
		n++;
	}
	UNIT_CHECK(n == 98);                 /* 100, less the disarmed and the one at 1000 */
	UNIT_CHECK(h.n == 1 && h.v[0] == &t[6]);
	timer_heap_free(&h);
}

static int
parse(struct jfe_options *o, const char *const *args, int n)
{
	char *argv[16];

	for (int i = 0; i < n; i++)
		argv[i] = (char *)args[i];
	return options_parse(o, n, argv);
}

static void
test_options(void)
{
	struct jfe_options o;
	const char *a1[] = { "run", "--ports", "80,443,8000-8100", "--exclude-ports", "8080",
	    "--public-ip", "192.0.2.1", "--public-ip", "2001:db8::1", "-v", "-v",
	    "--dns-server", "[::1]:5353" };
	const char *a2[] = { "run", "--ports", "70000" };
	const char *a3[] = { "run", "--bogus" };
	const char *a4[] = { "run", "--public-ip", "not-an-ip" };
	const char *a5[] = { "run", "--listen-port" };
	const char *a6[] = { "run", "--route-table", "254" };
	char path[] = "/tmp/jfe-opt-XXXXXX";
	int fd;

	UNIT_CHECK(parse(&o, a1, 13) == 0);
	UNIT_CHECK(port_set_has(&o.ports, 80) && port_set_has(&o.ports, 443));
	UNIT_CHECK(port_set_has(&o.ports, 8000) && !port_set_has(&o.ports, 8080));
	UNIT_CHECK(!port_set_has(&o.ports, 22) && !port_set_has(&o.ports, 8101));
	UNIT_CHECK(o.public_ip.n == 2 && o.verbose == 2 && o.dns_server.n == 1);
	options_free(&o);
	UNIT_CHECK(parse(&o, a2, 3) != 0);
	options_free(&o);
	UNIT_CHECK(parse(&o, a3, 2) != 0);
	options_free(&o);
	UNIT_CHECK(parse(&o, a4, 3) != 0);
	options_free(&o);
	UNIT_CHECK(parse(&o, a5, 2) != 0);
	options_free(&o);
	UNIT_CHECK(parse(&o, a6, 3) != 0);
	options_free(&o);

	/* The options file first, flags override; list options given as flags replace. */
	if ((fd = mkstemp(path)) >= 0) {
		const char conf[] = "# comment\nports 23-1000\npublic-ip 192.0.2.7\n"
		    "staging yes\nverbose no\n";
		const char *a7[] = { "run", "-f", path, "--public-ip", "192.0.2.8" };
		const char *a8[] = { "run", "-f", path };

		UNIT_CHECK(write(fd, conf, sizeof(conf) - 1) == (ssize_t)sizeof(conf) - 1);
		close(fd);
		UNIT_CHECK(parse(&o, a7, 5) == 0);
		UNIT_CHECK(o.public_ip.n == 1 && strcmp(o.public_ip.v[0], "192.0.2.8") == 0);
		UNIT_CHECK(port_set_has(&o.ports, 1000) && !port_set_has(&o.ports, 1001));
		UNIT_CHECK(o.staging && strstr(o.acme_directory, "staging") != NULL);
		options_free(&o);
		if ((fd = open(path, O_WRONLY | O_TRUNC)) >= 0) {
			UNIT_CHECK(write(fd, "nonsense 1\n", 11) == 11);
			close(fd);
		}
		UNIT_CHECK(parse(&o, a8, 3) != 0);
		options_free(&o);
		unlink(path);
	}
}

static void
test_log_escape(void)
{
	char out[32];

	log_escape(out, sizeof(out), "a\"b\\c\x01\xff", 7);
	UNIT_CHECK_STR(out, "a\\x22b\\x5cc\\x01\\xff");
	log_escape(out, 12, "abcdefghijklmnop", 16);
	UNIT_CHECK(strlen(out) < 12 && strstr(out, "...") != NULL);
}

static void
test_memory(void)
{
	size_t before = mem_heap_in_use(), during;
	char *p = malloc(4 << 20);

	UNIT_CHECK(p != NULL);
	if (p == NULL)
		return;
	memset(p, 1, 4 << 20);
	during = mem_heap_in_use();
	UNIT_CHECK(during >= before + (4 << 20));
	free(p);
	UNIT_CHECK(mem_heap_in_use() < during - (3 << 20));
	UNIT_CHECK(mem_rss_kib() > 0);

	/* A release once the live count falls to a quarter of a peak of 256 or more. */
	UNIT_CHECK(mem_tick(100) == 0);         /* peak 100: too small to matter */
	UNIT_CHECK(mem_tick(0) == 0);
	UNIT_CHECK(mem_tick(1000) == 0);
	UNIT_CHECK(mem_tick(251) == 0);         /* above a quarter of 1000 */
	UNIT_CHECK(mem_tick(250) == 1);
	UNIT_CHECK(mem_tick(0) == 0);           /* the peak starts again from 250 */
	UNIT_CHECK(mem_tick(2000) == 0);
	UNIT_CHECK(mem_tick(500) == 1);
	UNIT_CHECK(mem_tick(200) == 0);         /* the peak is now 500 */
	UNIT_CHECK(mem_tick(125) == 1);
}

int
main(void)
{
	UNIT_RUN(test_names_valid);
	UNIT_RUN(test_names_invalid);
	UNIT_RUN(test_http01_request);
	UNIT_RUN(test_timer_heap);
	UNIT_RUN(test_options);
	UNIT_RUN(test_log_escape);
	UNIT_RUN(test_memory);
	return unit_summary();
}
