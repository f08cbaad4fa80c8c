# The application of core.bats's test of programs that close every
# descriptor: N children at once close every fd above 2 (as Python's
# close_fds and Open MPI's daemons do in a child before it execs, crest's
# link to its coordinator too), wait S seconds while checkpoints come, then
# exec /bin/true.  Prints "done N" once they all ended with status 0,
# and "cpu S": the most CPU time one of them used (asleep, it should use
# none: a checkpoint thread that polls a closed descriptor spins).
import os
import sys
import time

n, s = int(sys.argv[1]), float(sys.argv[2])
kids = []
for i in range(n):
    pid = os.fork()
    if pid == 0:
        os.closerange(3, 1 << 20)
        time.sleep(s)
        os.execv("/bin/true", ["true"])
    kids.append(pid)
ok, cpu = 0, 0.0
for p in kids:
    _, status, ru = os.wait4(p, 0)
    ok += status == 0
    cpu = max(cpu, ru.ru_utime + ru.ru_stime)
print("done %d" % ok, flush=True)
print("cpu %.2f" % cpu, flush=True)
