# tgattach — see README.md.  `make` builds ./tgattach; `make test` runs every test.
# Each directory's *.c files are picked up by wildcard: add a file, it is built.

CC       ?= cc
PKGS     := libdw libelf libprotobuf-c zlib
CSTD     := -std=gnu11
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers -Wno-format-truncation
CPPFLAGS := -I. -Ibuild/gen -D_GNU_SOURCE -pthread
OPT      ?= -O2 -g
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

MODULES  := common attach symbols sampler render builtin
# Code generated from .proto files (protoc-c), into build/gen/, built as part of the library.
PROTO    := render/profile.proto
GEN_SRC  := $(PROTO:%.proto=build/gen/%.pb-c.c)
GEN_HDR  := $(PROTO:%.proto=build/gen/%.pb-c.h)
LIB_SRC  := $(foreach d,$(MODULES),$(wildcard $(d)/*.c)) $(GEN_SRC)
MAIN_SRC := tgattach.c
UNIT_SRC := $(wildcard tests/unit/*.c) $(wildcard tests/world/*.c)
E2E_SRC  := $(wildcard tests/e2e/*.c)
TOOL_SRC := tools/gen-offsets.c

# pkg-config flags are looked up lazily (after `deps` ran) through recursive make.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CRIT_CFLAGS = $(shell pkg-config --cflags criterion 2>/dev/null)
CRIT_LIBS   = $(shell pkg-config --libs criterion 2>/dev/null)

B  ?= build/rel
BA ?= build/asan
# The release binary (BIN=build/x/tgattach with B=build/x for a private build beside others)
BIN ?= tgattach

LIB_OBJ   := $(LIB_SRC:%.c=$(B)/%.o)
LIBA_OBJ  := $(LIB_SRC:%.c=$(BA)/%.o)

.PHONY: all deps build test unit e2e asan demo bench offsets clean format fuzz soak roots

all: deps
	@$(MAKE) --no-print-directory build

build: $(BIN)

deps:
	@sh tools/deps.sh

$(BIN): $(LIB_OBJ) $(B)/$(MAIN_SRC:.c=.o)
	$(CC) $(OPT) -o $@ $^ $(PKG_LIBS) -pthread -lm

build/gen/%.pb-c.c build/gen/%.pb-c.h: %.proto
	@mkdir -p build/gen
	@echo "  PROTOC  $<"
	@protoc-c --c_out=build/gen $<

# every object may include a generated header: they exist before anything is compiled
$(LIB_SRC:%.c=$(B)/%.o) $(LIB_SRC:%.c=$(BA)/%.o) $(LIB_SRC:%.c=build/fuzz/%.o): | $(GEN_HDR)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CSTD) $(WARN) $(OPT) $(CPPFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(BA)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC-SAN  $<"
	@$(CC) $(CSTD) $(WARN) -O1 -g $(SAN) $(CPPFLAGS) $(PKG_CFLAGS) $(CRIT_CFLAGS) -MMD -MP -c -o $@ $<

# The ASan+UBSan build of the tool, used by the end-to-end tests.
$(BA)/tgattach: $(LIBA_OBJ) $(BA)/tgattach.o
	$(CC) $(SAN) -o $@ $^ $(PKG_LIBS) -pthread -lm

$(BA)/unit-tests: $(LIBA_OBJ) $(UNIT_SRC:%.c=$(BA)/%.o)
	$(CC) $(SAN) -o $@ $^ $(PKG_LIBS) $(CRIT_LIBS) -pthread -lm

$(BA)/e2e-tests: $(LIBA_OBJ) $(E2E_SRC:%.c=$(BA)/%.o)
	$(CC) $(SAN) -o $@ $^ $(PKG_LIBS) $(CRIT_LIBS) -pthread -lm

# libFuzzer harnesses (tests/fuzz/fuzz_NAME.c), built with clang, ASan and UBSan.
BF        ?= build/fuzz
FUZZ_CC   ?= clang
FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=$(BF)/%)
LIBF_OBJ  := $(LIB_SRC:%.c=$(BF)/%.o) $(BF)/tests/fuzz/util.o $(BF)/tests/world/pyworld.o
FUZZ_SECONDS ?= 60

$(BF)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC-FUZZ $<"
	@$(FUZZ_CC) $(CSTD) $(filter-out -Wno-format-truncation,$(WARN)) -Wno-unknown-warning-option -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link $(CPPFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(BF)/fuzz_%: $(BF)/tests/fuzz/fuzz_%.o $(LIBF_OBJ)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(PKG_LIBS) -pthread -lm

# the objects are kept between builds (make would delete them as intermediate files)
.SECONDARY: $(LIBF_OBJ) $(FUZZ_SRC:%.c=$(BF)/%.o)

# Every harness for FUZZ_SECONDS (make test runs them for a few seconds each).
fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS)

$(B)/gen-offsets: $(LIB_OBJ) $(B)/tools/gen-offsets.o
	$(CC) -o $@ $^ $(PKG_LIBS) -pthread -lm

asan: $(BA)/tgattach

test: deps roots
	@sh tools/npmdeps.sh
	@$(MAKE) --no-print-directory $(BIN) $(BA)/tgattach $(BA)/unit-tests $(BA)/e2e-tests $(FUZZ_BINS)
	@TG_ROOTS=$(ROOTS) sh tests/run.sh

# Minimal Debian roots for Debian's current interpreters (trixie's python3.13, unstable's
# 3.14 and 3.15, with their -dbg packages), built once per machine outside the repository
# (ROOTS=DIR to choose where).  If they cannot be built (no network, not root), the tests
# of those interpreters say skipped and why; the rest runs.
ROOTS ?= /var/tmp/tgattach-roots
roots:
	@TG_ROOTS=$(ROOTS) sh tools/mkroots.sh || \
		echo "tgattach: the Debian roots in $(ROOTS) are not complete: their interpreters will be skipped" >&2

unit: $(BA)/unit-tests
	$(BA)/unit-tests

e2e: $(BA)/tgattach $(BA)/e2e-tests
	$(BA)/e2e-tests

# Rewrites symbols/offsets_builtin.c from the DWARF of the installed pyenv builds.
offsets: deps roots
	@$(MAKE) --no-print-directory $(B)/gen-offsets
	TG_ROOTS=$(ROOTS) sh tools/make-offsets.sh $(B)/gen-offsets > symbols/offsets_builtin.c.new
	mv symbols/offsets_builtin.c.new symbols/offsets_builtin.c

demo: all
	@sh fixtures/demo.sh

bench: deps
	@$(MAKE) --no-print-directory build
	@sh tools/bench.sh

# A 24-hour recording of a busy server (SOAK_SECONDS=N for a shorter one): fails if
# tgattach's memory or descriptors grow, or it leaves the target traced.
soak: deps
	@$(MAKE) --no-print-directory build
	@python3 tools/soak.py
	@python3 tests/killanywhere.py --kills 2000

format:
	clang-format -i $(LIB_SRC) $(MAIN_SRC) $(UNIT_SRC) $(E2E_SRC) $(wildcard */*.h)

clean:
	rm -rf build tgattach

-include $(shell find build -name '*.d' 2>/dev/null)
