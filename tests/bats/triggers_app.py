# The application of tests/bats/triggers.bats: STEPS steps of a running
# checksum, one line each, 50 ms apart, then "RESULT ..." and "PASS".
#   usr2  its own SIGUSR2 handler prints "USR2 handled N"
#   term  its own SIGTERM handler prints a line and exits 0
#   big   holds 1 GiB of non-zero memory (a checkpoint that takes a while)
#   blockusr2  blocks SIGUSR2 from step 10 to step 60 (a signal sent
#         meanwhile stays pending across the checkpoints taken then)
#   --fast  no sleeping (the reference run)
import signal
import sys
import time

args = sys.argv[1:]
fast = "--fast" in args
args = [a for a in args if a != "--fast"]
steps = int(args[0])
modes = args[1:]

usr2 = 0


def on_usr2(sig, frame):
    global usr2
    usr2 += 1
    print("USR2 handled", usr2, flush=True)


def on_term(sig, frame):
    print("TERM handler: leaving cleanly", flush=True)
    sys.exit(0)


if "usr2" in modes:
    signal.signal(signal.SIGUSR2, on_usr2)
if "term" in modes:
    signal.signal(signal.SIGTERM, on_term)
big = bytearray(b"\x5a") * (1 << 30) if "big" in modes and not fast else None

acc = 0
for i in range(steps):
    acc = (acc * 31 + i * i + 7) % 1000000007
    if "blockusr2" in modes and i == 10:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
        print("USR2 blocked", flush=True)
    if "blockusr2" in modes and i == 60:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR2])
    print("step", i, flush=True)
    if not fast:
        time.sleep(0.05)
print("RESULT", acc, flush=True)
print("PASS", flush=True)
