# The application of tests/bats/slurm.bats, one per Slurm task: STEPS steps
# of a running checksum seeded by the task's rank, DELAY s apart, on two
# threads, with a forked child that checksums the same steps and sends its
# answer back through a pipe at the end.  Prints "start R" once (a restart
# does not print it again) and "result R X" at the end; --expect R prints
# the result an uninterrupted run must reach, at once.  SHORT_TASK=R:N in
# the environment: task R runs only N steps (it ends before the others);
# R:N:CODE: and exits with CODE after its result; R:N+R:N+... for several
# tasks (sbatch --export splits at commas).
# MARKS=DIR: every 10 steps the task's thread makes the file DIR/r<R>.<step>
# with O_EXCL, so a mark a lost run made after the checkpoint, had the
# restart not taken it away, fails the task (FileExistsError).
import os
import sys
import threading
import time

args = sys.argv[1:]
if args[0] == "--expect":
    rank, steps = int(args[1]), int(args[2])
    delay = 0.0
else:
    rank, steps = int(os.environ["SLURM_PROCID"]), int(args[0])
    delay = float(args[1]) if len(args) > 1 else 0.1
    code = 0
    for short in filter(None, os.environ.get("SHORT_TASK", "").split("+")):
        fields = short.split(":")
        if int(fields[0]) == rank:
            steps = int(fields[1])
            code = int(fields[2]) if len(fields) > 2 else 0


marks = os.environ.get("MARKS", "")


def checksum(seed, n, pause, mark=False):
    acc = seed
    for i in range(n):
        acc = (acc * 31 + i * i + 7) % 1000000007
        if mark and marks and i % 10 == 9:
            name = os.path.join(marks, "r%d.%d" % (rank, i))
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        if pause:
            time.sleep(pause)
    return acc


if args[0] == "--expect":
    a = checksum(rank + 1, steps, 0)
    print("result", rank, (a * 7 + checksum(rank + 1000, steps, 0)) % 1000000007)
    sys.exit(0)

print("start", rank, flush=True)
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.close(r)
    os.write(w, str(checksum(rank + 1000, steps, delay)).encode())
    os._exit(0)
os.close(w)
out = {}
t = threading.Thread(target=lambda: out.__setitem__("a", checksum(rank + 1, steps, delay, True)))
t.start()
t.join()
theirs = int(os.read(r, 64).decode())
os.waitpid(child, 0)
print("result", rank, (out["a"] * 7 + theirs) % 1000000007, flush=True)
sys.exit(code)
