/*
 * hostname: the hostname a program sees never changes, also when it is
 * restarted on another host (or in another UTS namespace).  Records
 * gethostname() and uname().nodename at start and compares them with the
 * start values every 100 ms for about 8 s.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define STEPS 80
#define STEP_MS 100

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void names(char *gh, size_t ghlen, char *un, size_t unlen)
{
	struct utsname u;

	if (gethostname(gh, ghlen) < 0) {
		printf("FAIL hostname: gethostname: %s\n", strerror(errno));
		exit(1);
	}
	if (uname(&u) < 0) {
		printf("FAIL hostname: uname: %s\n", strerror(errno));
		exit(1);
	}
	snprintf(un, unlen, "%s", u.nodename);
}

int main(void)
{
	char gh0[HOST_NAME_MAX + 1], un0[HOST_NAME_MAX + 1];
	char gh[HOST_NAME_MAX + 1], un[HOST_NAME_MAX + 1];

	setvbuf(stdout, NULL, _IOLBF, 0);
	names(gh0, sizeof(gh0), un0, sizeof(un0));
	if (strcmp(gh0, un0)) {
		printf("FAIL hostname: at start gethostname '%s' != uname nodename '%s'\n", gh0, un0);
		return 1;
	}
	/* not the name: the reference run and the restarted one may differ */
	printf("hostname: start, %d steps\n", STEPS);
	for (int step = 1; step <= STEPS; step++) {
		names(gh, sizeof(gh), un, sizeof(un));
		if (strcmp(gh, gh0)) {
			printf("FAIL hostname: step %d: gethostname '%s' != '%s' at start\n", step,
			       gh, gh0);
			return 1;
		}
		if (strcmp(un, un0)) {
			printf("FAIL hostname: step %d: uname nodename '%s' != '%s' at start\n", step,
			       un, un0);
			return 1;
		}
		if (step % 20 == 0)
			printf("hostname: step %d\n", step);
		sleep_ms(STEP_MS);
	}
	printf("RESULT host-stable\n");
	printf("PASS\n");
	return 0;
}
