# dctproxy: one Makefile for the binary, the tests, the fuzzers and the benchmark.
#
#   make            build ./dctproxy (build/ holds objects)
#   make run        install missing packages, build, start the local demo
#   make test       install missing packages, build, run every test (also under ASan/UBSan)
#   make SAN=1 ...  build with AddressSanitizer + UndefinedBehaviorSanitizer (objects in build-san/)
#   make lint       refuse banned functions, run cppcheck
#   make fuzz       run the fuzz targets for longer (FUZZ_SECONDS)
#   make bench      side-by-side benchmark (not a test)

CC      ?= cc
PKG     ?= pkg-config
VERSION := 0.1.0

CORE_PKGS := openssl libsodium jansson
NET_PKGS  := libevent libevent_openssl libcurl

WARN := -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wvla -Wcast-qual -Wwrite-strings
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) \
	-fstack-protector-strong -DDCTPROXY_VERSION='"$(VERSION)"' -I.
ifeq ($(WERROR),1)
CFLAGS += -Werror
endif

ifeq ($(SAN),1)
B       := build-san
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
B       := build
CFLAGS  += -D_FORTIFY_SOURCE=2
endif

CORE_CFLAGS = $(shell $(PKG) --cflags $(CORE_PKGS) 2>/dev/null)
CORE_LIBS   = $(shell $(PKG) --libs $(CORE_PKGS) 2>/dev/null)
NET_CFLAGS  = $(shell $(PKG) --cflags $(NET_PKGS) 2>/dev/null)
NET_LIBS    = $(shell $(PKG) --libs $(NET_PKGS) 2>/dev/null)

# trust/ and certs/ are the pure core: no libevent, no libcurl, no network.
TRUST_SRC  := $(wildcard trust/*.c)
CERTS_SRC  := $(wildcard certs/*.c)
CONFIG_SRC := $(wildcard config/*.c)
PROXY_SRC  := $(filter-out proxy/main.c,$(wildcard proxy/*.c))

obj = $(patsubst %.c,$(B)/%.o,$(1))
CORE_OBJ   := $(call obj,$(TRUST_SRC) $(CERTS_SRC))
CONFIG_OBJ := $(call obj,$(CONFIG_SRC))
PROXY_OBJ  := $(call obj,$(PROXY_SRC))
MAIN_OBJ   := $(call obj,proxy/main.c)

BIN := $(B)/dctproxy

# Unit tests mirror the module tree; each module's tests link only what the module needs.
UNIT_COMMON := $(call obj,tests/unit.c)
T_TRUST_OBJ  := $(call obj,$(wildcard tests/trust/*.c) $(wildcard tests/certs/*.c))
T_CONFIG_OBJ := $(call obj,$(wildcard tests/config/*.c))
T_PROXY_OBJ  := $(call obj,$(wildcard tests/proxy/*.c))
UNIT_BINS := $(B)/tests/unit-trust
ifneq ($(strip $(T_CONFIG_OBJ)),)
UNIT_BINS += $(B)/tests/unit-config
endif
ifneq ($(strip $(T_PROXY_OBJ)),)
UNIT_BINS += $(B)/tests/unit-proxy
endif

.PHONY: all tools run test test-unit test-integration test-san deps lint fuzz bench clean

all: $(BIN) dctproxy

dctproxy: $(BIN)
	@ln -sf $(BIN) dctproxy

$(BIN): $(MAIN_OBJ) $(PROXY_OBJ) $(CONFIG_OBJ) $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(NET_LIBS) $(CORE_LIBS)

# Core objects are compiled without the network libraries' include paths on purpose.
$(B)/trust/%.o $(B)/certs/%.o: CFLAGS += $(CORE_CFLAGS)
$(B)/config/%.o $(B)/tests/trust/%.o $(B)/tests/certs/%.o $(B)/tests/config/%.o: CFLAGS += $(CORE_CFLAGS)
$(B)/proxy/%.o $(B)/tests/proxy/%.o: CFLAGS += $(CORE_CFLAGS) $(NET_CFLAGS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/tests/unit-trust: $(UNIT_COMMON) $(T_TRUST_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CORE_LIBS)

$(B)/tests/unit-config: $(UNIT_COMMON) $(T_CONFIG_OBJ) $(CONFIG_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CORE_LIBS)

$(B)/tests/unit-proxy: $(UNIT_COMMON) $(T_PROXY_OBJ) $(PROXY_OBJ) $(CONFIG_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(NET_LIBS) $(CORE_LIBS)

# Test tools (attack-metadata generator, fault-injecting servers): one binary per file.
TOOLS := $(patsubst tests/tools/%.c,$(B)/tests/%,$(wildcard tests/tools/*.c))
$(B)/tests/tools/%.o: CFLAGS += $(CORE_CFLAGS) $(NET_CFLAGS)
$(TOOLS): $(B)/tests/%: $(B)/tests/tools/%.o $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(NET_LIBS) $(CORE_LIBS)

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------------------
# Packages. Each of `make run` and `make test` works alone on a fresh Debian 12.
BUILD_DEBS := gcc make pkg-config libc6-dev libevent-dev libssl-dev libsodium-dev \
	libjansson-dev libcurl4-openssl-dev
TEST_DEBS  := docker-registry notary skopeo docker.io containerd openssl curl jq \
	ca-certificates clang libclang-rt-14-dev cppcheck yamllint systemd procps \
	iproute2 tar gzip coreutils nftables
BENCH_DEBS := nginx-light wrk

deps:
	@sh tests/deps.sh $(BUILD_DEBS) $(TEST_DEBS)

deps-bench:
	@sh tests/deps.sh $(BUILD_DEBS) $(TEST_DEBS) $(BENCH_DEBS)

# ---------------------------------------------------------------------------
run: deps
	@$(MAKE) --no-print-directory all
	@bash tests/lab/demo.sh

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS) $(TOOLS)
	@$(MAKE) --no-print-directory SAN=1 build-san/dctproxy $(subst $(B)/,build-san/,$(UNIT_BINS)) build-san/tests/fuzz-metadata
	@TESTS_SAN=1 bash tests/run.sh

tools: $(TOOLS)

test-unit: all $(UNIT_BINS)
	@TESTS_ONLY=unit bash tests/run.sh

# ---------------------------------------------------------------------------
# Fuzzing: libFuzzer targets built from the production sources (clang only).
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_SECONDS ?= 300

$(B)/tests/fuzz-metadata: tests/fuzz/fuzz_metadata.c $(TRUST_SRC) $(CERTS_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I. \
		$(CORE_CFLAGS) -o $@ $^ $(CORE_LIBS)

fuzz: $(B)/tests/fuzz-metadata
	@mkdir -p $(B)/fuzz-corpus
	$(B)/tests/fuzz-metadata -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		$(B)/fuzz-corpus tests/fixtures/*/

bench: deps-bench all
	@bash tests/bench/bench.sh

# ---------------------------------------------------------------------------
BANNED := '\<(strcpy|strcat|sprintf|vsprintf|gets|sscanf|atoi|atol|atoll|strtok|tmpnam|mktemp)[[:space:]]*\('

lint:
	@if grep -nE $(BANNED) $(TRUST_SRC) $(CERTS_SRC) $(CONFIG_SRC) $(PROXY_SRC) proxy/main.c; then \
		echo "lint: banned function used (see above)"; exit 1; fi
	@cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--suppress=missingIncludeSystem --inline-suppr -I. trust certs config proxy
	@$(MAKE) --no-print-directory WERROR=1 all
	@echo "lint: ok"

clean:
	rm -rf build build-san dctproxy
