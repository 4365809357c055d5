# jfe — build, test, demo.  `make` builds ./jfe; `make check` builds an ASan+UBSan copy and runs
# every test; `make demo` runs the self-contained demo in network namespaces.
CC      ?= cc
PKGS    := openssl libnftnl libmnl libcurl jansson libcares libpsl libsystemd libxml-2.0
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  ?= -O2 -g
WARN    := -std=c17 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-unused-parameter -D_GNU_SOURCE -fstack-protector-strong
CPPFLAGS += -I. $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread -lm

# SAN=1: the sanitized tree used by `make check`
ifeq ($(SAN),1)
BUILD   := build/san
CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
BUILD   := build/rel
endif

LIB_SRCS := $(wildcard agent/*.c proxy/*.c proxy/starttls/*.c providers/*.c)
LIB_SRCS := $(filter-out agent/main.c,$(LIB_SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all check unit demo clean fuzz fuzz-build bench
# The sanitized tree never replaces ./jfe, the release binary.
ifeq ($(SAN),1)
all: $(BUILD)/jfe $(UNIT_BINS)
else
all: jfe
endif

jfe: $(BUILD)/jfe
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/jfe: $(BUILD)/agent/main.o $(BUILD)/libjfe.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libjfe.a: $(LIB_OBJS)
	rm -f $@; ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libjfe.a tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libjfe.a $(LDLIBS)

unit: 
	$(MAKE) SAN=1 all
	tests/run --unit-only

# Installs what the tests need, builds the sanitized tree and runs every test.
check:
	tests/deps.sh
	$(MAKE) jfe
	$(MAKE) SAN=1 all
	tests/run

demo:
	tests/deps.sh --demo
	$(MAKE) jfe
	tests/demo.sh

# libFuzzer targets (clang). `make fuzz` runs each for FUZZ_SECONDS over its seed corpus (new
# inputs go to a scratch directory, not the repository); `make check` runs a short smoke.
include tests/fuzz/targets.mk
FUZZ_SECONDS ?= 60
FUZZ_BINS := $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-std=c17 -D_GNU_SOURCE -I. $(PKG_CFLAGS)

.SECONDEXPANSION:
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_$$*)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_$*) $(PKG_LIBS) -lpthread -lm

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_NAMES)

clean:
	rm -rf build jfe

# Side-by-side benchmark of jfe and its peers in network namespaces (root; installs the peers
# with apt-get). BENCH_QUICK=1 for a ~4 minute pass; see bench/README.md.
bench: jfe
	bench/run.sh

-include $(shell find build -name '*.d' 2>/dev/null)

# ---- delivery (issue 8): the Debian package, the image-bake check, the delivery checks.
# `make deb` needs no root: build/jfe_<version>-1_<arch>.deb (see packaging/mkdeb.sh).
# `make rootfs-check` (root, the Debian mirror, ~2 minutes): debootstrap + bake + purge.
# `make delivery-check` (root, ~1 minute): tests/integration/test_delivery.sh.
.PHONY: deb rootfs-check delivery-check
deb:
	MAKE="$(MAKE)" packaging/mkdeb.sh

rootfs-check: deb
	tests/delivery/deps.sh --rootfs
	tests/delivery/rootfs-check.sh

delivery-check:
	tests/delivery/deps.sh
	tests/integration/test_delivery.sh
