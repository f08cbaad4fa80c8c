# Test programs and unit tests.  Included by the top Makefile: paths are
# relative to the repository top, $(B) and $(LIBCOMMON) come from there.

TEST_UNIT_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Iinclude -Icommon -Itests/unit -D_GNU_SOURCE -O1 -g
TEST_CR_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -O1 -g -pthread

# every tests/unit/*.c is one program: test_* are unit tests, the others
# helpers (fake_proc.c ...) that the unit tests run
TEST_UNIT_SRC := $(wildcard tests/unit/*.c)
TEST_UNIT_BIN := $(TEST_UNIT_SRC:tests/unit/%.c=$(B)/tests/unit/%)

TEST_CR_SRC := $(wildcard tests/cr/*.c)
TEST_CR_BIN := $(TEST_CR_SRC:tests/cr/%.c=$(B)/tests/cr/%)

$(B)/tests/unit/%: tests/unit/%.c tests/unit/harness.h $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_UNIT_CFLAGS) -MMD -MP -MF $@.d -o $@ $< $(LIBCOMMON) -lzstd -pthread

$(B)/tests/cr/%: tests/cr/%.c
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CR_CFLAGS) -o $@ $< -lm

# Open MPI programs, built with its mpicc (scripts/install-deps.sh installs
# openmpi-bin and libopenmpi-dev)
MPICC ?= mpicc
TEST_MPI_SRC := $(wildcard tests/cr/mpi/*.c)
# without Open MPI (make before install-deps.sh) the rest still builds;
# run-all.sh then fails mpi_ring, naming what is missing
ifneq ($(shell command -v $(MPICC) 2>/dev/null),)
TEST_MPI_BIN := $(TEST_MPI_SRC:tests/cr/mpi/%.c=$(B)/tests/cr/%)
endif

$(B)/tests/cr/%: tests/cr/mpi/%.c
	@mkdir -p $(dir $@)
	$(MPICC) -std=gnu11 -Wall -Wextra -Werror -O1 -g -o $@ $<

tests-build:: $(TEST_UNIT_BIN) $(TEST_CR_BIN) $(TEST_MPI_BIN)

# unit tests that include preload sources rebuild when those change
-include $(wildcard $(B)/tests/unit/*.d)

# the load generator of the coordinator tree's benchmark (tests/bench/barrier.sh,
# `make bench`, `make bench-barrier`); not part of `all`
$(B)/bench/barrier: tests/bench/barrier.c $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -Iinclude -Icommon -D_GNU_SOURCE -O2 -g -o $@ $< $(LIBCOMMON) -lzstd
