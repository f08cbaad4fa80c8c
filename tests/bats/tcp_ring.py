# A ring of N ranks over TCP, one process per rank, for the tests of TCP
# connections between nodes across a checkpoint and restart (nodes.bats,
# slurm.bats).  Single-threaded, blocking sockets.
#
# Rank r listens on an ephemeral port of its own non-loopback address,
# publishes "host:port" in the rendezvous folder (file rank.<r>, written to a
# temporary name and renamed), reads rank (r+1)%N's address, connects to it
# (its right neighbour) and accepts the connection of rank (r-1)%N (its left
# neighbour); the listener is closed once the ring stands.
#
# Then TOKENS tokens go round the ring STEPS times (default N+1: each rank
# holds one while it sleeps and one more waits in a socket's receive queue,
# so a checkpoint finds data waiting in some connection).  Rank 0 sends
# them out; each rank reads a token from its left neighbour, checks that it
# is the one due (tokens come in the order (round, token), whatever the
# timing), updates its checksum with its rank and the round, folds it into
# its own accumulator, sleeps DELAY s and sends it to its right neighbour;
# rank 0 starts the next round of a token that comes back.  When every token
# has done STEPS rounds, rank 0 sends "end C" round the ring (C combines the
# tokens' checksums) and every rank prints "result R X", X from its
# accumulator and C: the same for any run, interrupted or not.
#
# Messages are newline-terminated text lines:
#   hello <rank>                   first line on each connection
#   tok <token> <round> <checksum>
#   end <combined checksum>
#
# Output: "start R" once at the beginning (a restarted process does not print
# it again), "round R K" when rank R is done with round K (each round, or
# every --every rounds, and the last), "result R X" at the end, and
# "FAIL R: why" (exit 1) on anything unexpected, such as EOF or a reset
# connection.
#
#   tcp_ring.py [--rank R] [--size N] --dir RDV [--steps S] [--delay D]
#               [--tokens T] [--addr A] [--every K] [--timeout SEC]
#   tcp_ring.py --expect [--rank R] [--size N] [--steps S] [--tokens T]
#
# Rank and size default to SLURM_PROCID and SLURM_NTASKS, the rendezvous
# folder to rdv.<SLURM_JOB_ID> in the working folder.  --expect prints,
# at once and without any networking, the result lines an uninterrupted run
# prints (every rank's, or rank R's).
import argparse
import fcntl
import os
import socket
import struct
import sys
import time

M = 1000000007


def update(c, rank, rnd, tok):
    # what rank does to token tok's checksum in round rnd
    return (c * 31 + (rank + 1) * 1000003 + rnd * 7919 + tok * 104729) % M


def fold(acc, c):
    return (acc * 131 + c) % M


def seed(tok):
    return (tok + 1) * 12345


def combine(cs):
    return sum((t + 1) * c for t, c in enumerate(cs)) % M


def result(acc, end):
    return (acc * 7 + end) % M


def expect(size, steps, tokens):
    # the order every rank sees the tokens in: round by round, token by token
    cs = [seed(t) for t in range(tokens)]
    acc = [0] * size
    order = list(range(1, size)) + [0]
    for k in range(steps):
        for t in range(tokens):
            for r in order:
                cs[t] = update(cs[t], r, k, t)
                acc[r] = fold(acc[r], cs[t])
    end = combine(cs)
    return [result(a, end) for a in acc]


def local_addr():
    # the IPv4 address of the first interface that is not loopback (each
    # node of the tests is a network namespace with lo and eth0)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _, name in socket.if_nameindex():
            if name == "lo":
                continue
            try:
                req = struct.pack("256s", name.encode()[:15])
                res = fcntl.ioctl(s.fileno(), 0x8915, req)  # SIOCGIFADDR
            except OSError:
                continue
            a = socket.inet_ntoa(res[20:24])
            if not a.startswith("127."):
                return a
    finally:
        s.close()
    a = socket.gethostbyname(socket.gethostname())
    if a.startswith("127."):
        sys.exit("tcp_ring: no address but loopback; give --addr")
    return a


def fail(rank, why):
    print("FAIL %d: %s" % (rank, why), flush=True)
    sys.exit(1)


def publish(rdv, rank, addr, port):
    tmp = os.path.join(rdv, ".rank.%d.%d" % (rank, os.getpid()))
    with open(tmp, "w") as f:
        f.write("%s:%d\n" % (addr, port))
    os.rename(tmp, os.path.join(rdv, "rank.%d" % rank))


def lookup(rdv, rank, timeout):
    path = os.path.join(rdv, "rank.%d" % rank)
    end = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                host, port = f.read().strip().rsplit(":", 1)
            return host, int(port)
        except FileNotFoundError:
            if time.monotonic() > end:
                return None
            time.sleep(0.05)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--expect", action="store_true")
    p.add_argument("--rank", type=int)
    p.add_argument("--size", type=int)
    p.add_argument("--dir")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--delay", type=float, default=0.05)
    p.add_argument("--tokens", type=int)
    p.add_argument("--addr")
    p.add_argument("--every", type=int, default=1,
                   help="print 'round R K' every that many rounds")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="how long to wait for the neighbours at the start")
    a = p.parse_args()
    size = a.size if a.size is not None else int(os.environ.get("SLURM_NTASKS", "0"))
    if size < 1:
        sys.exit("tcp_ring: no --size and no SLURM_NTASKS")
    tokens = a.tokens if a.tokens is not None else size + 1
    if a.expect:
        res = expect(size, a.steps, tokens)
        for r in range(size) if a.rank is None else [a.rank]:
            print("result", r, res[r])
        return 0
    rank = a.rank if a.rank is not None else int(os.environ["SLURM_PROCID"])
    if not a.dir and "SLURM_JOB_ID" in os.environ:
        # a Slurm job's tasks: rdv.<job id> in the working folder (shared
        # by the nodes), so that the command line is the same in every job
        a.dir = os.path.join(os.getcwd(), "rdv." + os.environ["SLURM_JOB_ID"])
        os.makedirs(a.dir, exist_ok=True)
    if not a.dir:
        sys.exit("tcp_ring: --dir RDV is needed (or SLURM_JOB_ID)")
    right_rank, left_rank = (rank + 1) % size, (rank - 1) % size
    print("start", rank, flush=True)

    # the ring
    addr = a.addr or local_addr()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind((addr, 0))
    ls.listen(4)
    publish(a.dir, rank, addr, ls.getsockname()[1])
    peer = lookup(a.dir, right_rank, a.timeout)
    if peer is None:
        fail(rank, "rank %d did not publish its address in %s" % (right_rank, a.dir))
    right = socket.create_connection(peer, timeout=a.timeout)
    right.settimeout(None)
    right.sendall(b"hello %d\n" % rank)
    ls.settimeout(a.timeout)
    try:
        left, _ = ls.accept()
    except socket.timeout:
        fail(rank, "rank %d did not connect" % left_rank)
    left.settimeout(None)
    ls.close()
    reader = left.makefile("r", encoding="ascii", newline="\n")

    def recv(what):
        try:
            line = reader.readline()
        except OSError as e:
            fail(rank, "cannot read %s from rank %d: %s" % (what, left_rank, e))
        if not line.endswith("\n"):
            fail(rank, "EOF from rank %d while waiting for %s (read %r)" % (left_rank, what, line))
        return line.split()

    def send(*words):
        try:
            right.sendall((" ".join(str(w) for w in words) + "\n").encode())
        except OSError as e:
            fail(rank, "cannot send %s to rank %d: %s" % (words[0], right_rank, e))

    w = recv("hello")
    if w != ["hello", str(left_rank)]:
        fail(rank, "expected 'hello %d' from the left, got %r" % (left_rank, w))

    # the tokens
    acc = 0
    cs = [0] * tokens
    if rank == 0:
        for t in range(tokens):
            send("tok", t, 0, seed(t))
    for k in range(a.steps):
        for t in range(tokens):
            w = recv("token %d of round %d" % (t, k))
            if len(w) != 4 or w[0] != "tok" or w[1:3] != [str(t), str(k)]:
                fail(rank, "expected token %d of round %d, got %r" % (t, k, w))
            c = update(int(w[3]), rank, k, t)
            acc = fold(acc, c)
            time.sleep(a.delay)
            if rank != 0:
                send("tok", t, k, c)
            elif k + 1 < a.steps:
                send("tok", t, k + 1, c)
            else:
                cs[t] = c
        if k % a.every == 0 or k == a.steps - 1:
            print("round", rank, k, flush=True)

    # the end goes round once; rank 0 waits for it to come back
    if rank == 0:
        end = combine(cs)
        send("end", end)
    w = recv("end")
    if len(w) != 2 or w[0] != "end":
        fail(rank, "expected 'end', got %r" % (w,))
    if rank == 0:
        if int(w[1]) != end:
            fail(rank, "end came back as %s, sent %d" % (w[1], end))
    else:
        end = int(w[1])
        send("end", end)
    print("result", rank, result(acc, end), flush=True)
    right.close()
    left.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
