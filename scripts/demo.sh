#!/bin/sh
# crest demo: launch a counter, checkpoint it, kill it, restart it, and see
# it continue from where the checkpoint was taken.  Run after `make` (or
# through `make demo`).  Everything goes to build/demo/.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/build/bin
demo=$top/build/demo
crest=$bin/crest

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\033[31mdemo FAILED: %s\033[0m\n' "$*" >&2; exit 1; }

[ -x "$crest" ] && [ -x "$bin/crest-coord" ] || fail "build crest first: make"

say "0. build a tiny counter program into build/demo/"
mkdir -p "$demo"
rm -rf "$demo/ck" "$demo"/*.out
cat > "$demo/counter.c" <<'C'
#include <stdio.h>
#include <time.h>
int main(void)
{
	struct timespec t = { 0, 200 * 1000 * 1000 };
	unsigned long sum = 0;
	for (int i = 1; i <= 40; i++) {		/* ~8 s */
		sum += i;
		printf("counter %d sum %lu\n", i, sum);
		fflush(stdout);
		nanosleep(&t, NULL);
	}
	printf("done: counter 40 sum %lu %s\n", sum, sum == 820 ? "correct" : "WRONG");
	return sum == 820 ? 0 : 1;
}
C
${CC:-cc} -O1 -o "$demo/counter" "$demo/counter.c"
cd "$demo"
echo "built $demo/counter: prints a counter every 0.2 s for ~8 s, then the checked sum"

say "1. crest launch --dir build/demo/ck -- ./counter   (in the background)"
"$crest" launch --dir ck -- ./counter 2>&1 | tee launch.out &
sleep 2

app=$(head -n 1 ck/PROCS 2>/dev/null || true)
[ -n "$app" ] || fail "the counter did not register with the coordinator (is libcrest built? see build/demo/ck/coord.log)"
echo "counter runs as pid $app"

say "2. crest checkpoint --dir build/demo/ck"
gen=$("$crest" checkpoint --dir ck) || fail "checkpoint failed"
at=$(tail -n 1 launch.out | awk '{print $2}')
echo "checkpoint generation $gen committed while the counter was at about $at"
"$crest" status --dir ck

say "3. kill -9 $app   (the computation dies)"
sleep 0.6
kill -9 "$app"
sleep 0.5
last=$(grep '^counter' launch.out | tail -n 1 | awk '{print $2}')
echo "the counter got to $last before it was killed"

say "4. crest restart --dir build/demo/ck   (continues from the checkpoint)"
"$crest" restart --dir ck 2>&1 | tee restart.out || true

say "5. check"
first=$(grep '^counter' restart.out | head -n 1 | awk '{print $2}')
[ -n "$first" ] || fail "the restarted counter printed nothing"
[ "$first" -gt 1 ] || fail "the restarted counter started from $first, not from the checkpoint"
[ "$first" -le $((last + 1)) ] || fail "the restarted counter started at $first, after the value at the kill ($last)"
grep -q 'done: counter 40 sum 820 correct' restart.out || fail "the restarted counter did not finish correctly"
echo "restarted at counter $first (checkpoint taken near $at, killed at $last), finished with the right sum"
printf '\033[32mdemo OK\033[0m\n'
