# libFuzzer targets, `make fuzz` (docs/testing.md, "Fuzzing").  Included by
# the top Makefile; needs clang (scripts/install-deps.sh --fuzz) and is never
# part of `make all` or `make check`.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=gnu11 $(WARN) -Iinclude -Icommon -Itests/fuzz -D_GNU_SOURCE -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
# the code under test, compiled into each target with the sanitizers
FUZZ_LIB_SRC := common/proto.c common/crc32c.c common/sha256.c common/auth.c
FUZZ_TARGETS := frame auth
FUZZ_BIN := $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz_%)

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_LIB_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB_SRC)

$(B)/fuzz/mkseeds: tests/fuzz/mkseeds.c tests/fuzz/fuzz.h $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -Iinclude -Icommon -Itests/fuzz -D_GNU_SOURCE -O1 -g -o $@ $< $(LIBCOMMON)

# Each target runs FUZZ_SECONDS on its corpus, build/fuzz/corpus/<target>/
# (seeded by mkseeds, grown and kept between runs).  A crash, a sanitizer
# report, a leak or an input slower than 10 s stops make; the input is
# saved as build/fuzz/<target>-crash-* (-timeout-, -leak-).
fuzz-run: $(FUZZ_BIN) $(B)/fuzz/mkseeds
	$(B)/fuzz/mkseeds $(B)/fuzz/corpus
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "=== fuzz_$$t: $(FUZZ_SECONDS) s"; \
		$(B)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -max_len=8192 \
			-print_final_stats=1 -artifact_prefix=$(B)/fuzz/$$t- \
			$(B)/fuzz/corpus/$$t; \
	done

.PHONY: fuzz-run
