/* SPDX-License-Identifier: MIT */
/*
 * shm_share: memory shared between processes, four ways, each guarded by a
 * process-shared pthread mutex living in it:
 *   anon  - MAP_SHARED|MAP_ANONYMOUS, inherited through fork
 *   posix - shm_open in /dev/shm, unlinked at once (as python's SemLock does)
 *   memfd - memfd_create
 *   sysv  - shmget/shmat, IPC_RMID after attaching
 *   key   - shmget with a key, never removed until the end
 * Two children add 1 to each region's counter N times under its mutex, with
 * short sleeps; the parent waits for them and checks every counter is 2*N.
 * Every 250 steps each child checks the SysV ids it knows still work
 * (after a restart too): IPC_STAT of both, shmget of the key gives the same
 * id, a second shmat of the keyed one sees the same counter.  At the end
 * the removed segment must still be marked removed (SHM_DEST), and the
 * keyed one is removed.  A third child works on the two SysV segments
 * only, through their ids: it attaches them, adds 1 to their second
 * counter E times, and every E/4 steps detaches and execs itself (so that
 * a program exec'ed after a restart is checkpointed and restarted again
 * with the ids it got in its arguments).
 * Prints `RESULT anon=.. posix=.. memfd=.. sysv=.. key=.. exec=..` and PASS.
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
#define E 600	/* steps of the exec'ing child */

struct area {
	pthread_mutex_t lock;
	long counter;
	long last_writer;
	long exec_counter;
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

static void fail_ids(const char *what)
{
	printf("FAIL shm_share: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	_exit(1);
}

/* the SysV ids the program knows still name its segments */
static void check_ids(int id, int kid, key_t key, struct area *keyed)
{
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) || ds.shm_segsz != 65536)
		fail_ids("IPC_STAT of the removed segment's id");
	if (shmctl(kid, IPC_STAT, &ds) || ds.shm_segsz != 65536 || ds.shm_perm.__key != key)
		fail_ids("IPC_STAT of the keyed segment's id");
	if (shmget(key, 0, 0) != kid)
		fail_ids("shmget of the key gives another id");
	long before = keyed->counter;
	struct area *again = shmat(kid, NULL, SHM_RDONLY);
	if (again == (void *)-1)
		fail_ids("a second shmat of the keyed segment");
	if (again->counter < before)
		fail_ids("a second shmat of the keyed segment shows other memory");
	shmdt(again);
}

/* the exec'ing child: shm_share exec ID KID KEY DONE */
static int exec_child(char **argv)
{
	int id = atoi(argv[2]), kid = atoi(argv[3]);
	key_t key = (key_t)strtol(argv[4], NULL, 10);
	int done = atoi(argv[5]);
	struct area *s = shmat(id, NULL, 0), *k = shmat(kid, NULL, 0);
	if (s == (void *)-1 || k == (void *)-1)
		fail_ids("the exec'ed child attaches the segments by id");
	for (int n = done; n < E; n++) {
		if (n > done && n % (E / 4) == 0) {
			char ids[2][16], keys[16], steps[16];	/* argv[0]: /proc/self/exe names crest-restart after a restart */
			shmdt(s);
			shmdt(k);
			snprintf(ids[0], sizeof(ids[0]), "%d", id);
			snprintf(ids[1], sizeof(ids[1]), "%d", kid);
			snprintf(keys, sizeof(keys), "%ld", (long)key);
			snprintf(steps, sizeof(steps), "%d", n);
			char *args[] = { argv[0], "exec", ids[0], ids[1], keys, steps, NULL };
			execv(argv[0], args);
			fail_ids("exec");
		}
		check_ids(id, kid, key, k);
		for (int i = 0; i < 2; i++) {
			struct area *x = i ? k : s;
			pthread_mutex_lock(&x->lock);
			x->exec_counter++;
			pthread_mutex_unlock(&x->lock);
		}
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 5 && !strcmp(argv[1], "exec"))
		return exec_child(argv);
	struct area *a[5];
	const char *names[5] = { "anon", "posix", "memfd", "sysv", "key" };

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
	key_t key = (key_t)(0x43520000 | (getpid() & 0xffff));
	int kid = shmget(key, 65536, IPC_CREAT | IPC_EXCL | 0600);
	a[4] = kid < 0 ? (void *)-1 : shmat(kid, NULL, 0);
	if (a[0] == MAP_FAILED || a[3] == (void *)-1 || a[4] == (void *)-1) {
		perror("shared memory");
		return 1;
	}
	for (int i = 0; i < 5; i++)
		init_area(a[i]);
	printf("shm_share: start, 2 children x %d increments in 5 areas, 1 exec'ing child x %d\n", N, E);
	fflush(stdout);
	pid_t kids[3];
	kids[2] = fork();
	if (kids[2] < 0) {
		perror("fork");
		return 1;
	}
	if (kids[2] == 0) {
		char ids[2][16], keys[16];
		snprintf(ids[0], sizeof(ids[0]), "%d", id);
		snprintf(ids[1], sizeof(ids[1]), "%d", kid);
		snprintf(keys, sizeof(keys), "%ld", (long)key);
		char *args[] = { argv[0], "exec", ids[0], ids[1], keys, "0", NULL };
		execv(argv[0], args);
		fail_ids("exec");
	}
	for (int c = 0; c < 2; c++) {
		kids[c] = fork();
		if (kids[c] < 0) {
			perror("fork");
			return 1;
		}
		if (kids[c] == 0) {
			for (int n = 0; n < N; n++) {
				if (n % 250 == 0)
					check_ids(id, kid, key, a[4]);
				for (int i = 0; i < 5; i++) {
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
	for (int c = 0; c < 3; c++) {
		int st;
		if (waitpid(kids[c], &st, 0) != kids[c] || !WIFEXITED(st) || WEXITSTATUS(st)) {
			printf("FAIL shm_share: child %d (pid %d) did not exit 0\n", c, (int)kids[c]);
			bad = 1;
		}
	}
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) || !(ds.shm_perm.mode & SHM_DEST)) {
		printf("FAIL shm_share: the removed segment is not marked removed (mode 0%o)\n", ds.shm_perm.mode);
		bad = 1;
	}
	check_ids(id, kid, key, a[4]);
	shmctl(kid, IPC_RMID, NULL);
	for (int i = 3; i < 5; i++)
		if (a[i]->exec_counter != E) {
			printf("FAIL shm_share: %s exec counter %ld, want %d\n", names[i], a[i]->exec_counter, E);
			bad = 1;
		}
	for (int i = 0; i < 5; i++) {
		if (a[i]->counter != 2 * N) {
			printf("FAIL shm_share: %s counter %ld, want %d\n", names[i], a[i]->counter, 2 * N);
			bad = 1;
		}
	}
	printf("RESULT anon=%ld posix=%ld memfd=%ld sysv=%ld key=%ld exec=%ld\n", a[0]->counter, a[1]->counter,
	       a[2]->counter, a[3]->counter, a[4]->counter, a[3]->exec_counter + a[4]->exec_counter);
	if (bad)
		return 1;
	printf("PASS\n");
	return 0;
}
