# The application of core.bats's test of programs that close every
# descriptor: N children at once close every fd above 2 (as Python's
# close_fds and Open MPI's daemons do in a child before it execs, and
# daemons do for good), wait S seconds while checkpoints come, then exec
# /bin/true.  Even children close them through libc (os.closerange: libc's
# close_range), odd ones 0.5 s later with the close_range system call made
# directly (as Go does), after crest's link to its coordinator is up.
# Prints "done N" once they all ended with status 0, and "cpu S": the most
# CPU time one of them used (asleep, it should use little: a checkpoint
# thread that polls a closed descriptor spins).
import ctypes
import os
import sys
import time

NR_CLOSE_RANGE = 436  # x86_64

n, s = int(sys.argv[1]), float(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
kids = []
for i in range(n):
    pid = os.fork()
    if pid == 0:
        if i % 2 == 0:
            os.closerange(3, 1 << 20)
        else:
            time.sleep(0.5)
            if libc.syscall(NR_CLOSE_RANGE, 3, 0xFFFFFFFF, 0) != 0:
                os._exit(3)
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
