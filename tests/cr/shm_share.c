/* SPDX-License-Identifier: MIT */
/*
 * shm_share: memory shared between processes, four ways, each guarded by a
 * process-shared pthread mutex living in it:
 *   anon  - MAP_SHARED|MAP_ANONYMOUS, inherited through fork
 *   posix - shm_open in /dev/shm, unlinked at once (as python's SemLock does)
 *   memfd - memfd_create
 *   sysv  - shmget/shmat, IPC_RMID after attaching
 * Two children add 1 to each region's counter N times under its mutex, with
 * short sleeps; the parent waits for them and checks every counter is 2*N.
 * Prints `RESULT anon=.. posix=.. memfd=.. sysv=..` and PASS.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N 4000

struct area {
	pthread_mutex_t lock;
	long counter;
	long last_writer;
};

static void init_area(struct area *a)
{
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&a->lock, &at);
	a->counter = 0;
}

static struct area *map_fd(int fd)
{
	if (fd < 0 || ftruncate(fd, 65536) < 0) {
		perror("shm");
		exit(1);
	}
	void *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

int main(void)
{
	struct area *a[4];
	const char *names[4] = { "anon", "posix", "memfd", "sysv" };

	a[0] = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char name[64];
	snprintf(name, sizeof(name), "/crest-shm-share-%d", (int)getpid());
	a[1] = map_fd(shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600));
	shm_unlink(name);
	a[2] = map_fd(memfd_create("shm_share", 0));
	int id = shmget(IPC_PRIVATE, 65536, IPC_CREAT | 0600);
	a[3] = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
	if (a[0] == MAP_FAILED || a[3] == (void *)-1) {
		perror("shared memory");
		return 1;
	}
	for (int i = 0; i < 4; i++)
		init_area(a[i]);
	printf("shm_share: start, 2 children x %d increments in 4 areas\n", N);
	fflush(stdout);
	pid_t kids[2];
	for (int c = 0; c < 2; c++) {
		kids[c] = fork();
		if (kids[c] < 0) {
			perror("fork");
			return 1;
		}
		if (kids[c] == 0) {
			for (int n = 0; n < N; n++) {
				for (int i = 0; i < 4; i++) {
					pthread_mutex_lock(&a[i]->lock);
					long v = a[i]->counter;
					a[i]->last_writer = getpid();
					a[i]->counter = v + 1;
					pthread_mutex_unlock(&a[i]->lock);
				}
				struct timespec ts = { 0, 2000000 };
				nanosleep(&ts, NULL);
				if (n % 1000 == 0) {
					printf("shm_share: child %d at %d\n", c, n);
					fflush(stdout);
				}
			}
			_exit(0);
		}
	}
	int bad = 0;
	for (int c = 0; c < 2; c++) {
		int st;
		if (waitpid(kids[c], &st, 0) != kids[c] || !WIFEXITED(st) || WEXITSTATUS(st)) {
			printf("FAIL shm_share: child %d (pid %d) did not exit 0\n", c, (int)kids[c]);
			bad = 1;
		}
	}
	for (int i = 0; i < 4; i++) {
		if (a[i]->counter != 2 * N) {
			printf("FAIL shm_share: %s counter %ld, want %d\n", names[i], a[i]->counter, 2 * N);
			bad = 1;
		}
	}
	printf("RESULT anon=%ld posix=%ld memfd=%ld sysv=%ld\n", a[0]->counter, a[1]->counter, a[2]->counter,
	       a[3]->counter);
	if (bad)
		return 1;
	printf("PASS\n");
	return 0;
}
