#!/usr/bin/env python3
"""numpy_loop: a deterministic numpy computation in small steps.

A seeded RandomState feeds matrix products, QR decompositions and solves;
each step checks its own results (Q @ R == A, A @ x == b) and folds them into
a checksum.  The step count, not the time, decides the result: the exact repr
of the checksum is printed (the same on one machine with one numpy).
"""
import sys
import time

import numpy as np

STEPS = 350
STEP_S = 0.02
N = 48


def fail(why):
    print("FAIL numpy_loop: %s" % why, flush=True)
    sys.exit(1)


def main():
    print("numpy_loop: start, %d steps" % STEPS, flush=True)
    rs = np.random.RandomState(20240611)
    acc = np.eye(N)
    checksum = 0.0
    for step in range(STEPS):
        a = rs.standard_normal((N, N))
        q, r = np.linalg.qr(a)
        if not np.allclose(q @ r, a, atol=1e-9):
            fail("Q @ R != A at step %d" % step)
        b = rs.standard_normal(N)
        x = np.linalg.solve(a, b)
        if not np.allclose(a @ x, b, atol=1e-6):
            fail("A @ x != b at step %d" % step)
        acc = q @ acc                  # stays orthogonal: bounded
        if not np.all(np.isfinite(acc)):
            fail("non-finite values at step %d" % step)
        checksum += float(np.trace(acc)) + float(np.sum(np.abs(r.diagonal()))) * 1e-3
        if step % 100 == 99:
            print("numpy_loop: step %d" % (step + 1), flush=True)
        time.sleep(STEP_S)
    if abs(abs(np.linalg.det(acc)) - 1.0) > 1e-6:
        fail("accumulated product is not orthogonal")
    print("RESULT numpy_loop steps %d checksum %r" % (STEPS, checksum))
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
