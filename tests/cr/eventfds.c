/*
 * eventfds: one epoll loop over an eventfd, a periodic timerfd, a signalfd
 * and the read end of a pipe, fed by three threads:
 *   - a writer adds 1, 2, 3, ... NE to the eventfd, one every few ms;
 *   - a sender queues SIGUSR1 to the process with sigqueue every 50 ms,
 *     with a sequence number in sival_int (the next one only once the
 *     previous one was read: SIGUSR1 is not queued twice);
 *   - a writer sends NP numbered 16-byte messages through the pipe.
 * The loop stops once the eventfd sum, the signals and the messages reach
 * their totals, every signal and message arrived once and in order, and
 * the timerfd fired at least TIMER_MIN times, the last few of them after
 * everything else was done (it keeps firing after a restart).  Each target
 * carries its own epoll data, which must come back with it.  No result
 * depends on timing.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NE		2500	/* eventfd writes, every EFD_MS */
#define EFD_MS		4
#define NS		200	/* signals, every SIG_MS */
#define SIG_MS		50
#define NP		2000	/* pipe messages, every PIPE_MS */
#define PIPE_MS		5
#define MSG_LEN		16
#define TIMER_MS	5
#define TIMER_MIN	1000	/* expirations in all (about 5 s of running) */
#define TIMER_TAIL	20	/* ... of them after everything else was done */

#define TAG_EFD		0xe0f0000000000001ull
#define TAG_TIMER	0x7100000000000002ull
#define TAG_SIG		0x5190000000000003ull
#define TAG_PIPE	0x9190000000000004ull

static int efd, tfd, sfd, pfd[2], ep;
static volatile int sigs_read;

static void fail(const char *why, long long a, long long b)
{
	printf("FAIL eventfds: %s (%lld, %lld)\n", why, a, b);
	fflush(stdout);
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void *efd_writer(void *arg)
{
	(void)arg;
	for (uint64_t v = 1; v <= NE; v++) {
		if (write(efd, &v, sizeof(v)) != sizeof(v))
			fail("eventfd write", (long long)v, errno);
		sleep_ms(EFD_MS);
	}
	return NULL;
}

static void *sig_sender(void *arg)
{
	(void)arg;
	for (int s = 1; s <= NS; s++) {
		sleep_ms(SIG_MS);
		for (int naps = 0; __atomic_load_n(&sigs_read, __ATOMIC_ACQUIRE) < s - 1; naps++) {
			if (naps > 10000)
				fail("signal not read within 10 s of running, sequence", s - 1, sigs_read);
			sleep_ms(1);
		}
		union sigval v = { .sival_int = s };
		if (sigqueue(getpid(), SIGUSR1, v) < 0)
			fail("sigqueue", s, errno);
	}
	return NULL;
}

static void *pipe_writer(void *arg)
{
	char msg[MSG_LEN + 1];

	(void)arg;
	for (int m = 1; m <= NP; m++) {
		snprintf(msg, sizeof(msg), "msg %010d\n", m);
		for (size_t done = 0; done < MSG_LEN;) {
			ssize_t n = write(pfd[1], msg + done, MSG_LEN - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				fail("pipe write", m, errno);
			done += n;
		}
		sleep_ms(PIPE_MS);
	}
	return NULL;
}

static void watch(int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		fail("epoll_ctl ADD", fd, errno);
}

int main(void)
{
	uint64_t efd_sum = 0, expirations = 0, tail = 0;
	const uint64_t efd_want = (uint64_t)NE * (NE + 1) / 2;
	int msgs = 0;
	char pbuf[4096];
	size_t plen = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("eventfds: start, %d eventfd writes, %d signals, %d pipe messages\n", NE, NS, NP);

	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);	/* inherited by every thread */

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	sfd = signalfd(-1, &usr1, SFD_NONBLOCK | SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (efd < 0 || tfd < 0 || sfd < 0 || ep < 0 || pipe2(pfd, O_CLOEXEC) < 0)
		fail("creating the fds", errno, 0);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	struct itimerspec its = { { 0, TIMER_MS * 1000000L }, { 0, TIMER_MS * 1000000L } };
	if (timerfd_settime(tfd, 0, &its, NULL) < 0)
		fail("timerfd_settime", errno, 0);
	watch(efd, EPOLLIN, TAG_EFD);
	watch(tfd, EPOLLIN, TAG_TIMER);
	watch(sfd, EPOLLIN, TAG_SIG);
	watch(pfd[0], EPOLLIN | EPOLLET, TAG_PIPE);	/* edge-triggered: drained to EAGAIN */

	pthread_t th[3];
	pthread_create(&th[0], NULL, efd_writer, NULL);
	pthread_create(&th[1], NULL, sig_sender, NULL);
	pthread_create(&th[2], NULL, pipe_writer, NULL);

	for (;;) {
		bool rest_done = efd_sum == efd_want && sigs_read == NS && msgs == NP;
		if (rest_done && expirations >= TIMER_MIN && tail >= TIMER_TAIL)
			break;
		struct epoll_event evs[8];
		int n = epoll_wait(ep, evs, 8, 3000);
		if (n < 0)
			fail(errno == EINTR ? "epoll_wait returned EINTR" : "epoll_wait failed", errno, 0);
		if (n == 0)
			fail("no event for 3 s (the timerfd stopped?), expirations so far", (long long)expirations,
			     (long long)tail);
		for (int i = 0; i < n; i++) {
			uint64_t v;
			switch (evs[i].data.u64) {
			case TAG_EFD:
				if (read(efd, &v, sizeof(v)) == sizeof(v))
					efd_sum += v;
				else if (errno != EAGAIN)
					fail("eventfd read", errno, 0);
				if (efd_sum > efd_want)
					fail("eventfd sum beyond the total", (long long)efd_sum, (long long)efd_want);
				break;
			case TAG_TIMER:
				if (read(tfd, &v, sizeof(v)) == sizeof(v)) {
					expirations += v;
					if (rest_done)
						tail += v;
				} else if (errno != EAGAIN) {
					fail("timerfd read", errno, 0);
				}
				break;
			case TAG_SIG:
				for (;;) {
					struct signalfd_siginfo si;
					ssize_t r = read(sfd, &si, sizeof(si));
					if (r < 0 && errno == EAGAIN)
						break;
					if (r != sizeof(si))
						fail("signalfd read", r, errno);
					if (si.ssi_signo != SIGUSR1 || si.ssi_code != SI_QUEUE)
						fail("signalfd: unexpected signal, code", si.ssi_signo, si.ssi_code);
					if (si.ssi_int != sigs_read + 1)
						fail("signal out of sequence, expected", sigs_read + 1, si.ssi_int);
					__atomic_store_n(&sigs_read, sigs_read + 1, __ATOMIC_RELEASE);
				}
				break;
			case TAG_PIPE:
				for (;;) {
					ssize_t r = read(pfd[0], pbuf + plen, sizeof(pbuf) - plen);
					if (r < 0 && errno == EAGAIN)
						break;
					if (r <= 0)
						fail("pipe read", r, errno);
					plen += r;
					size_t off = 0;
					for (; plen - off >= MSG_LEN; off += MSG_LEN) {
						char want[MSG_LEN + 1];
						snprintf(want, sizeof(want), "msg %010d\n", msgs + 1);
						if (memcmp(pbuf + off, want, MSG_LEN))
							fail("pipe message out of order, expected", msgs + 1, 0);
						msgs++;
					}
					memmove(pbuf, pbuf + off, plen - off);
					plen -= off;
				}
				break;
			default:
				fail("epoll returned unknown data (lost across a restart?)", (long long)evs[i].data.u64,
				     evs[i].events);
			}
		}
	}
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	printf("RESULT eventfd_sum=%llu signals=%d pipe_msgs=%d timer_min=%d\n", (unsigned long long)efd_sum,
	       sigs_read, msgs, TIMER_MIN);
	printf("PASS\n");
	return 0;
}
