# libFuzzer targets: NAME and the sources each links (clang, -fsanitize=fuzzer,address,undefined).
FUZZ_hello      := proxy/hello.c
FUZZ_starttls   := $(wildcard proxy/starttls/*.c) agent/log.c
FUZZ_route53    := providers/route53.c providers/sigv4.c agent/http.c agent/log.c proxy/timer.c
FUZZ_cloudflare := providers/cloudflare.c agent/http.c agent/log.c proxy/timer.c
FUZZ_options    := agent/options.c
FUZZ_acme       := agent/acme_parse.c agent/acme_cert.c agent/http.c agent/b64.c agent/log.c \
                   proxy/timer.c
FUZZ_NAMES      := hello starttls route53 cloudflare options acme
