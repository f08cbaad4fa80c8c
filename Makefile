# crest: plain Makefile.  `make` builds everything into build/.
# make demo | make demo-slurm | make check | make bench | make bench-barrier | make fuzz | make install PREFIX=/usr/local DESTDIR=

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= gcc
B := build

WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
BASE_CFLAGS := -std=gnu11 $(WARN) -Iinclude -Icommon -D_GNU_SOURCE
DEPFLAGS = -MMD -MP

COMMON_SRC := $(filter-out common/crc32c.c,$(wildcard common/*.c))
PRELOAD_SRC := $(wildcard preload/*.c)
RESTART_SRC := $(wildcard preload/restart/*.c)
COORD_SRC := $(wildcard sched/coord*.c)
CLI_SRC := $(wildcard sched/cli*.c)
SPANK_SRC := $(wildcard spank/*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/obj/%.o) $(B)/obj/common/crc32c.o
PRELOAD_OBJ := $(PRELOAD_SRC:%.c=$(B)/obj/%.o)
RESTART_OBJ := $(RESTART_SRC:%.c=$(B)/obj/%.o) $(B)/obj/restart/crc32c.o
COORD_OBJ := $(COORD_SRC:%.c=$(B)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/obj/%.o)
SPANK_OBJ := $(SPANK_SRC:%.c=$(B)/obj/%.o)

LIBCREST := $(B)/lib/libcrest.so
RESTART := $(B)/libexec/crest/crest-restart
COORD := $(B)/bin/crest-coord
CLI := $(B)/bin/crest
LIBCOMMON := $(B)/obj/libcommon.a
# the Slurm plugin, where Slurm's headers are (libslurm-dev)
SPANK_H := $(wildcard /usr/include/slurm/spank.h)
SPANK := $(if $(SPANK_H),$(B)/lib/crest/spank_crest.so)

ZSTD_STATIC := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libzstd.a /usr/lib/libzstd.a))

# crest-restart: static, no libc, linked at a fixed address far from where
# the kernel puts programs, heaps, libraries and stacks (docs/architecture.md).
RESTART_ADDR := 0x100000000000
RESTART_CFLAGS := -std=gnu11 $(WARN) -Iinclude -O2 -g -ffreestanding -fno-stack-protector \
	-fPIE -mno-red-zone -fno-builtin -fno-tree-loop-distribute-patterns \
	-fcf-protection=none -fno-asynchronous-unwind-tables
RESTART_LDFLAGS := -static -nostdlib -no-pie -Wl,-Ttext-segment=$(RESTART_ADDR) -Wl,--build-id=none

all: $(LIBCREST) $(RESTART) $(COORD) $(CLI) $(SPANK) tests-build

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC $(DEPFLAGS) -c -o $@ $<

# the restart path of libcrest runs before TLS is set: no stack protector there
$(B)/obj/preload/%.o: preload/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -fno-stack-protector $(DEPFLAGS) -c -o $@ $<

$(B)/obj/common/crc32c.o: common/crc32c.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -fno-stack-protector $(DEPFLAGS) -c -o $@ $<

$(B)/obj/restart/crc32c.o: common/crc32c.c
	@mkdir -p $(dir $@)
	$(CC) $(RESTART_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(B)/obj/preload/restart/%.o: preload/restart/%.c
	@mkdir -p $(dir $@)
	$(CC) $(RESTART_CFLAGS) -Icommon $(DEPFLAGS) -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBCREST): $(PRELOAD_OBJ) $(LIBCOMMON) preload/libcrest.lds
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $(PRELOAD_OBJ) $(LIBCOMMON) -Wl,--version-script=preload/libcrest.lds \
		-Wl,-z,defs -lzstd -ldl -pthread

$(B)/obj/spank/%.o: spank/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC $(DEPFLAGS) -c -o $@ $<

# spank_* symbols are what slurmstepd looks up: the only ones exported
$(SPANK): $(SPANK_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $(SPANK_OBJ) $(LIBCOMMON) -Wl,--version-script=spank/spank_crest.lds -ldl

$(RESTART): $(RESTART_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(RESTART_CFLAGS) $(RESTART_LDFLAGS) -o $@ $(RESTART_OBJ) $(ZSTD_STATIC) -lgcc

$(COORD): $(COORD_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(COORD_OBJ) $(LIBCOMMON) -lzstd -pthread

$(CLI): $(CLI_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(CLI_OBJ) $(LIBCOMMON) -lzstd -pthread

# test programs and unit tests (rules in tests/tests.mk)
-include tests/tests.mk
tests-build::

# fuzz targets (rules in tests/fuzz/fuzz.mk)
include tests/fuzz/fuzz.mk

deps:
	scripts/install-deps.sh

deps-fuzz:
	scripts/install-deps.sh --fuzz

deps-soak:
	scripts/install-deps.sh --soak

demo: deps
	$(MAKE) all
	scripts/demo.sh

# the same story under Slurm, on the test cluster (tests/cluster/; root)
demo-slurm: deps
	$(MAKE) all
	scripts/demo-slurm.sh

check: deps
	$(MAKE) all
	tests/run-all.sh

bench: deps
	$(MAKE) all $(B)/bench/barrier
	rc=0; tests/bench/run.sh || rc=1; tests/bench/barrier.sh || rc=1; exit $$rc

# the coordinator tree's barrier and checkpoint latency alone (docs/bench.md);
# make bench-barrier BARRIER_QUICK=1: a small matrix in about a minute
bench-barrier: $(COORD) $(B)/bench/barrier
	tests/bench/barrier.sh

# real programs (GROMACS) through many checkpoint-restart cycles; not in
# check (tests/soak/run.sh: SOAK_CYCLES, SOAK_ONLY)
soak: deps-soak
	$(MAKE) all
	tests/soak/run.sh

# libFuzzer with clang: each target FUZZ_SECONDS (default 60); not in check
fuzz: deps-fuzz
	$(MAKE) fuzz-run

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/libexec/crest
	install -m 0755 $(CLI) $(COORD) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(LIBCREST) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(RESTART) $(DESTDIR)$(PREFIX)/libexec/crest/
	$(if $(SPANK),install -d $(DESTDIR)$(PREFIX)/lib/crest && install -m 0755 $(SPANK) $(DESTDIR)$(PREFIX)/lib/crest/)

clean:
	rm -rf $(B)

.PHONY: all deps deps-fuzz deps-soak soak demo demo-slurm check bench bench-barrier fuzz install clean tests-build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
