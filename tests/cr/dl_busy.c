/* SPDX-License-Identifier: MIT */
/*
 * A thread that is always inside the dynamic loader (dlopen and dlclose
 * of a library, over and over, as Open MPI's threads load its components)
 * while the program listens on a TCP socket: a checkpoint stops that
 * thread holding the loader's lock, so nothing crest does while the
 * threads are stopped may take it (dlsym, lazy binding of a libc function
 * called for the first time).  It hung forever before.  The main thread
 * computes; RESULT is its answer.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long loads;
static volatile int failed;

static void *loader(void *arg)
{
	(void)arg;
	for (;;) {
		void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			printf("FAIL dlopen: %s\n", dlerror());
			fflush(stdout);
			return NULL;
		}
		if (!dlsym(h, "zlibVersion")) {
			printf("FAIL dlsym: %s\n", dlerror());
			failed = 1;
		}
		dlclose(h);
		loads++;
	}
	return NULL;
}

int main(void)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 8) < 0) {
		perror("listen");
		return 1;
	}
	pthread_t t;
	pthread_create(&t, NULL, loader, NULL);
	uint64_t v = 1;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	for (int i = 0; i < 600; i++) {
		v = v * 6364136223846793005ULL + (uint64_t)i;
		nanosleep(&ts, NULL);
	}
	printf("RESULT %016llx (the loader went round %s)\n", (unsigned long long)v, loads ? "yes" : "no");
	printf("%s\n", loads && !failed ? "PASS" : "FAIL");
	return failed;
}
