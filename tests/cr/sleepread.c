/*
 * sleepread: one thread sleeps (nanosleep, usleep, sleep), one thread is
 * blocked in read() on a pipe that main writes to every so often.  The
 * program installs no signal handler, so it must never see EINTR or a sleep
 * that ends early: a checkpoint that interrupts a blocking call has to hide
 * it.  Every byte sent through the pipe must arrive once, in order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NAPS 200
#define NAP_MS 20
#define LONG_SLEEP_EVERY 50	/* sleep(1) after every 50 naps */
#define WRITES 70
#define WRITE_EVERY_MS 100
#define CHUNK 37

static int pfd[2];
static uint64_t naps_done, long_sleeps_done;
static uint64_t bytes_read, read_hash = 0xcbf29ce484222325ull;

static void fail(const char *why, long a)
{
	printf("FAIL sleepread: %s (%ld)\n", why, a);
	fflush(stdout);
	exit(1);
}

static unsigned char byte_at(uint64_t i)
{
	return (unsigned char)(i * 131 + (i >> 8));
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (int i = 1; i <= NAPS; i++) {
		struct timespec ts = { 0, NAP_MS * 1000000L }, rem = { 0, 0 };

		if (i % 2) {
			if (nanosleep(&ts, &rem) != 0)
				fail(errno == EINTR ? "nanosleep returned EINTR" : "nanosleep failed", i);
		} else {
			if (usleep(NAP_MS * 1000) != 0)
				fail(errno == EINTR ? "usleep returned EINTR" : "usleep failed", i);
		}
		naps_done++;
		if (i % LONG_SLEEP_EVERY == 0) {
			unsigned left = sleep(1);
			if (left != 0)
				fail("sleep(1) returned early, seconds left", left);
			long_sleeps_done++;
		}
	}
	return NULL;
}

static void *reader(void *arg)
{
	unsigned char buf[256];

	(void)arg;
	for (;;) {
		ssize_t n = read(pfd[0], buf, sizeof(buf));
		if (n < 0)
			fail(errno == EINTR ? "read returned EINTR" : "read failed", errno);
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != byte_at(bytes_read))
				fail("pipe byte out of order at offset", (long)bytes_read);
			read_hash = (read_hash ^ buf[i]) * 0x100000001b3ull;
			bytes_read++;
		}
	}
	return NULL;
}

int main(void)
{
	pthread_t ts, tr;
	uint64_t sent = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("sleepread: start\n");
	if (pipe(pfd) != 0)
		fail("pipe failed", errno);
	if (pthread_create(&ts, NULL, sleeper, NULL) || pthread_create(&tr, NULL, reader, NULL))
		fail("pthread_create failed", 0);

	for (int w = 0; w < WRITES; w++) {
		unsigned char buf[CHUNK];
		size_t done = 0;

		for (int i = 0; i < CHUNK; i++)
			buf[i] = byte_at(sent + i);
		while (done < CHUNK) {
			ssize_t n = write(pfd[1], buf + done, CHUNK - done);
			if (n < 0)
				fail(errno == EINTR ? "write returned EINTR" : "write failed", errno);
			done += n;
		}
		sent += CHUNK;
		struct timespec t = { 0, WRITE_EVERY_MS * 1000000L };
		if (nanosleep(&t, NULL) != 0)
			fail(errno == EINTR ? "main nanosleep returned EINTR" : "main nanosleep failed", w);
	}
	pthread_join(ts, NULL);
	close(pfd[1]);
	pthread_join(tr, NULL);
	if (bytes_read != sent)
		fail("bytes read differ from bytes sent", (long)bytes_read);
	if (naps_done != NAPS || long_sleeps_done != NAPS / LONG_SLEEP_EVERY)
		fail("sleeper did not finish its naps", (long)naps_done);
	printf("RESULT sleepread naps %llu sleeps %llu bytes %llu checksum 0x%016llx\n",
	       (unsigned long long)naps_done, (unsigned long long)long_sleeps_done,
	       (unsigned long long)bytes_read, (unsigned long long)read_hash);
	printf("PASS\n");
	return 0;
}
