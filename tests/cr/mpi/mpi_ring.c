/* SPDX-License-Identifier: MIT */
/*
 * An Open MPI computation, run by mpirun under crest (tests/cr/run-all.sh):
 * each rank updates a value; every step, Allreduce sums them, each rank
 * passes its value and a 256 KiB array round a ring (Sendrecv: the large
 * one goes by Open MPI's shared memory, single-copy), and mixes what it
 * got into a checksum.  The answer depends on every message of every
 * step: RESULT is the XOR of the ranks' checksums.  Built with mpicc
 * (tests/tests.mk).  Rank 0 says "mpi_ring: N ranks started" after
 * MPI_Init; with MPI_RING_START_DELAY_MS the ranks wait that long before
 * their first message, so that a checkpoint taken meanwhile has none of
 * Open MPI's connections between ranks (it makes them after a restart).
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BIG 32768

static uint64_t out[BIG], in[BIG];

int main(int argc, char **argv)
{
	int rank, size, steps = argc > 1 ? atoi(argv[1]) : 400;
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (rank == 0) {
		printf("mpi_ring: %d ranks started\n", size);
		fflush(stdout);
	}
	const char *delay = getenv("MPI_RING_START_DELAY_MS");
	long ms = delay ? atol(delay) : 0;
	struct timespec wait = { ms / 1000, (ms % 1000) * 1000000L };
	while (ms > 0 && nanosleep(&wait, &wait) < 0)
		;	/* interrupted: the rest */
	uint64_t v = 1000 + (uint64_t)rank, sum = 0, got = 0, check = 0;
	int right = (rank + 1) % size, left = (rank + size - 1) % size;
	for (int i = 0; i < steps; i++) {
		v = v * 6364136223846793005ULL + 1442695040888963407ULL + (uint64_t)i;
		MPI_Allreduce(&v, &sum, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
		MPI_Sendrecv(&v, 1, MPI_UINT64_T, right, 0, &got, 1, MPI_UINT64_T, left, 0, MPI_COMM_WORLD,
			     MPI_STATUS_IGNORE);
		for (int k = 0; k < BIG; k++)
			out[k] = v + (uint64_t)k * 3;
		MPI_Sendrecv(out, BIG, MPI_UINT64_T, right, 1, in, BIG, MPI_UINT64_T, left, 1, MPI_COMM_WORLD,
			     MPI_STATUS_IGNORE);
		check = check * 31 + (sum ^ got) + in[i % BIG] + in[BIG - 1];
		if (rank == 0 && i % 50 == 0) {
			printf("step %d\n", i);
			fflush(stdout);
		}
		nanosleep(&ts, NULL);
	}
	uint64_t all = 0;
	MPI_Reduce(&check, &all, 1, MPI_UINT64_T, MPI_BXOR, 0, MPI_COMM_WORLD);
	if (rank == 0) {
		printf("RESULT ranks %d steps %d checksum %016llx\n", size, steps, (unsigned long long)all);
		printf("PASS\n");
	}
	MPI_Finalize();
	return 0;
}
