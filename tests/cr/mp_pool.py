# mp_pool: python3 multiprocessing, a Pool of 4 worker processes computing a
# result in many small tasks (pipes, a SemLock in /dev/shm, fork), so that
# checkpoints fall while tasks are in flight.  Prints RESULT and PASS.
import multiprocessing as mp
import sys
import time


def work(n):
    time.sleep(0.04)
    return sum(i * i for i in range(n % 500)) % 1000003


def main():
    ctx = mp.get_context("fork")
    total = 0
    count = 0
    with ctx.Pool(4) as pool:
        for chunk in range(20):
            res = pool.map(work, range(chunk * 50, chunk * 50 + 50), chunksize=2)
            total = (total + sum(res)) % 1000000007
            count += len(res)
            print(f"mp_pool: chunk {chunk} done", flush=True)
    if count != 1000:
        print(f"FAIL mp_pool: {count} results, want 1000")
        return 1
    print(f"RESULT total={total} count={count}")
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
