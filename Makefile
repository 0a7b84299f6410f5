# SPDX-License-Identifier: MIT
# ctrace build. `make demo` and `make test` install missing Debian build dependencies first.
# Knobs: V=1 (show commands), DEBUG=1 (-O0 -g3), CC=..., SAN=asan (set by `make asan`).

CC ?= gcc
BUILD ?= build
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

PKGS := libunwind libdw libelf sqlite3 jansson libzstd libpq libmicrohttpd criterion
DEBS := pkg-config gcc g++ clang make libunwind-dev libdw-dev libelf-dev libsqlite3-dev \
	libjansson-dev libzstd-dev libpq-dev libmicrohttpd-dev libcriterion-dev binutils elfutils file \
	libclang-rt-14-dev clang-format python3 procps sqlite3 util-linux protobuf-compiler

ifeq ($(DEBUG),1)
OPT := -O0 -g3
else
OPT := -O2 -g
endif
ifeq ($(SAN),asan)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

WARN := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2
CFLAGS_BASE := -std=gnu11 $(OPT) $(WARN) -MMD -MP -D_GNU_SOURCE $(SANFLAGS)
PC_CFLAGS = $(shell pkg-config --cflags libdw sqlite3 jansson libzstd libpq libmicrohttpd 2>/dev/null)
# libpq, libmicrohttpd, elfutils and libstdc++ are not linked into the tools: store/pgsql.c
# opens libpq on the first PostgreSQL store, tools/serve/serve.c libmicrohttpd when a server starts,
# tools/ingest/elflib.c libdw for the first symbolizer or provenance read and tools/ingest/symbolize.c
# libstdc++ for the first C++ name (linked, their dependency chains made every command start
# slower: libpq 12 ms, libmicrohttpd and libstdc++ 4-17, elfutils 4; docs/performance.md); the
# unit tests link libpq.
PC_LIBS = $(shell pkg-config --libs sqlite3 jansson libzstd 2>/dev/null)
PQ_LIBS = $(shell pkg-config --libs libpq 2>/dev/null)

# The pipeline stages, lowest first; each is one static archive and may use only the stages
# before it. The link lines list them highest first, so a call from a lower stage into a higher
# one is an undefined symbol (tests/layers.sh also checks includes and symbols).
STAGES := common store tools/ingest tools/view tools/export tools/serve tools/cli
MAINS := tools/cli/ctrace.c tools/cli/ctrace-report.c
stage_src = $(filter-out $(MAINS),$(wildcard $(1)/*.c))
HOST_SRC := $(foreach s,$(STAGES),$(call stage_src,$(s)))
PRELOAD_SRC := $(wildcard preload/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/$(1)/%.o,$(2))
PRELOAD_OBJ := $(call obj,pic,$(PRELOAD_SRC))
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

DEPS_STAMP := $(BUILD)/.deps-ok

.PHONY: all deps test unit integ demo bench bench-serve asan fuzz fmt install clean
all: $(BUILD)/libctrace.so $(BUILD)/ctrace $(BUILD)/ctrace-report $(BUILD)/ctrace-cc $(BUILD)/ctrace-c++

# Install what the build needs when a pkg-config check fails (Debian/Ubuntu, as root).
deps: $(DEPS_STAMP)
$(DEPS_STAMP):
	$(Q)if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists $(PKGS) \
	    || ! command -v clang >/dev/null 2>&1 || ! command -v g++ >/dev/null 2>&1 \
	    || ! command -v eu-unstrip >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1 \
	    || ! command -v pgrep >/dev/null 2>&1 || ! command -v sqlite3 >/dev/null 2>&1 \
	    || ! command -v clang-format >/dev/null 2>&1 || ! command -v protoc >/dev/null 2>&1 \
	    || ! dpkg -s libclang-rt-14-dev >/dev/null 2>&1; then \
		echo "ctrace: installing build dependencies: $(DEBS)"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEBS) \
		|| { echo "ctrace: cannot install build dependencies" >&2; exit 1; }; \
	fi
	$(Q)mkdir -p $(BUILD) && touch $@

$(BUILD)/obj/host/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_BASE) $(PC_CFLAGS) -c $< -o $@

# The preload: no -finstrument-functions, PIC, hidden by default, hooks exported explicitly.
$(BUILD)/obj/pic/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC(pic) $<")
	$(Q)$(CC) $(CFLAGS_BASE) -fPIC -fvisibility=hidden -fno-stack-protector -ftls-model=initial-exec -c $< -o $@

# One archive per stage: $(BUILD)/libctr<stage>.a.
define stage_rule
$$(BUILD)/libctr$(notdir $(1)).a: $$(call obj,host,$$(call stage_src,$(1)))
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach s,$(STAGES),$(eval $(call stage_rule,$(s))))

# The HTML page's assets are embedded with .incbin (tools/export/assets.c).
$(BUILD)/obj/host/tools/export/assets.o $(BUILD)/obj/fuzz/tools/export/assets.o: $(wildcard tools/export/assets/*)

reverse = $(if $(1),$(call reverse,$(wordlist 2,$(words $(1)),$(1))) $(firstword $(1)))
LIBS := $(foreach s,$(call reverse,$(STAGES)),$(BUILD)/libctr$(notdir $(s)).a)
LDLIBS = $(PC_LIBS) -lm -lpthread -ldl

$(BUILD)/libctrace.so: $(PRELOAD_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(SANFLAGS) -o $@ $^ -lunwind -ldl -lpthread -Wl,-z,now

$(BUILD)/ctrace: $(BUILD)/obj/host/tools/cli/ctrace.o $(LIBS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SANFLAGS) -o $@ $< $(LIBS) $(LDLIBS)
$(BUILD)/ctrace-report: $(BUILD)/obj/host/tools/cli/ctrace-report.o $(LIBS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SANFLAGS) -o $@ $< $(LIBS) $(LDLIBS)
$(BUILD)/ctrace-cc: instrument/ctrace-cc
	@mkdir -p $(dir $@)
	$(Q)install -m 0755 $< $@
# The C++ driver is the same script under a name ending in c++ (docs/ctrace-cc.md).
$(BUILD)/ctrace-c++: $(BUILD)/ctrace-cc
	$(Q)ln -sf ctrace-cc $@

$(BUILD)/tests/%: tests/unit/%.c $(LIBS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(CFLAGS_BASE) $(PC_CFLAGS) -I. -o $@ $< $(LIBS) $(LDLIBS) $(PQ_LIBS) -lcriterion

unit: all $(UNIT_BIN)
integ: all

# Every test: Criterion unit tests and the integration suite; one summary line at the end.
test: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BIN)
	$(Q)BUILD=$(BUILD) sh tests/run-all.sh $(UNIT_BIN)

# Every test with the tools and unit tests under ASan+UBSan (build-asan/). The preload is built
# without sanitizers: it runs inside the uninstrumented test programs, where no ASan runtime
# comes first; its objects are rebuilt plain every time so a sanitized one never lingers.
asan:
	$(Q)rm -rf build-asan/obj/pic build-asan/libctrace.so
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan build-asan/libctrace.so
	$(Q)ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} \
	    UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	    $(MAKE) --no-print-directory BUILD=build-asan SAN=asan test

# libFuzzer harnesses tests/fuzz/fuzz_*.c, linked with every stage (not the mains) compiled with
# the same flags; each runs FUZZ_SECONDS on a copy of its seeds (tests/fuzz/corpus/NAME/) plus
# what earlier runs found ($(BUILD)/fuzz/corpus-NAME/). A crash stops with its reproducer.
FUZZ_SECONDS ?= 30
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_LIB := $(BUILD)/fuzz/libctrfuzz.a

$(BUILD)/obj/fuzz/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC(fz) $<")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -MMD -MP $(PC_CFLAGS) -c $< -o $@
$(FUZZ_LIB): $(call obj,fuzz,$(HOST_SRC))
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	@$(if $(Q),echo "  LD(fz) $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(PC_CFLAGS) -I. -o $@ $< $(FUZZ_LIB) $(LDLIBS)

fuzz: deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BIN)
	$(Q)for f in $(abspath $(FUZZ_BIN)); do \
		n=$${f##*/fuzz_}; w=$${f%/*}; seeds=; \
		[ -d tests/fuzz/corpus/$$n ] && seeds=$(CURDIR)/tests/fuzz/corpus/$$n; \
		mkdir -p $$w/corpus-$$n $$w/crash-$$n; \
		echo "  FUZZ    $$f for $(FUZZ_SECONDS) s"; \
		for try in 1 2; do \
		$$f -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=2048 \
		    -artifact_prefix=$$w/crash-$$n/ -print_final_stats=1 \
		    $$w/corpus-$$n $$seeds >$$w/fuzz-$$n.log 2>&1 && break; \
		if [ $$try = 1 ] && grep -q 'LeakSanitizer has encountered a fatal error' $$w/fuzz-$$n.log && \
		   ! grep -q '^==[0-9]*==ERROR' $$w/fuzz-$$n.log; then \
			echo "  note: LeakSanitizer's own tracer failed after the run (no finding): again"; \
			find $$w/crash-$$n -type f -size 0 -delete; continue; \
		fi; \
		tail -n 60 $$w/fuzz-$$n.log; echo "fuzz: $$f failed (log: $$w/fuzz-$$n.log)"; exit 1; \
		done; \
		grep -E '^stat::number_of_executed_units|^Done' $$w/fuzz-$$n.log | tr '\n' ' '; echo; \
	done

# Records the example program, commits it into ./ctrace.db and prints the report.
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh tests/demo.sh $(BUILD)

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) sh bench/run.sh
	$(Q)BUILD=$(BUILD) sh bench/filter.sh
	$(Q)BUILD=$(BUILD) sh bench/truth.sh
	$(Q)BUILD=$(BUILD) sh bench/rings.sh

# `ctrace serve` on a fib(38) run of 126 M calls (bench/serve.sh, docs/serve.md).
bench-serve: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) sh bench/serve.sh

fmt:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

PREFIX ?= /usr/local
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(BUILD)/ctrace $(BUILD)/ctrace-report $(BUILD)/ctrace-cc $(DESTDIR)$(PREFIX)/bin/
	ln -sf ctrace-cc $(DESTDIR)$(PREFIX)/bin/ctrace-c++
	install -m 0755 $(BUILD)/libctrace.so $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 instrument/ctrace.h $(DESTDIR)$(PREFIX)/include/

clean:
	rm -rf $(BUILD) build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
