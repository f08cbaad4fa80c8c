# The application of files.bats's test of node-local files mapped shared on
# a disk: maps FILE (argv[1]) with MAP_SHARED, read and write, and closes
# its descriptor (as a C program does; Python's own mmap module keeps one
# open), then runs STEPS (argv[2]) steps of 50 ms, printing "step N".  Each
# step writes the step's number into one page of the mapping and into a
# private copy of what the file should hold; every 10th step it compares
# the whole mapping with that copy, then writes the pages back (msync) and
# drops them from memory (madvise and posix_fadvise DONTNEED; MADV_RANDOM:
# a write reads in its page only), so that most checkpoints find most pages
# on the disk only.  Ends with "PASS <crc>" or
# "FAIL ...".
import ctypes
import os
import struct
import sys
import time
import zlib

PROT_RW, MAP_SHARED, MADV_RANDOM, MADV_DONTNEED, MS_SYNC = 3, 1, 1, 4, 4
PAGE = 4096

path, steps = sys.argv[1], int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.msync.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

size = os.path.getsize(path)
fd = os.open(path, os.O_RDWR)
addr = libc.mmap(None, size, PROT_RW, MAP_SHARED, fd, 0)
os.close(fd)
if addr in (None, ctypes.c_void_p(-1).value):
    print("FAIL mmap: errno %d" % ctypes.get_errno(), flush=True)
    sys.exit(1)
expect = bytearray(ctypes.string_at(addr, size))
libc.madvise(addr, size, MADV_RANDOM)  # a write faults in its page only, no read-around


def evict():
    libc.msync(addr, size, MS_SYNC)
    libc.madvise(addr, size, MADV_DONTNEED)
    f = os.open(path, os.O_RDONLY)
    os.posix_fadvise(f, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(f)


evict()
npages = size // PAGE
for i in range(1, steps + 1):
    time.sleep(0.05)
    at = (i * 7 % npages) * PAGE
    word = struct.pack("<Q", i)
    ctypes.memmove(addr + at, word, 8)
    expect[at:at + 8] = word
    if i % 10 == 0:
        if ctypes.string_at(addr, size) != bytes(expect):
            print("FAIL step %d: the mapping is not what was written" % i, flush=True)
            sys.exit(1)
        evict()
    print("step %d" % i, flush=True)
print("PASS %08x" % zlib.crc32(expect), flush=True)
