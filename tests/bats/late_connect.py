# The application of the nodes.bats test of old addresses: a server and
# clients that learn its address at start but connect only later, when
# the folder DIR has a file "go" (after the test restarted every node
# elsewhere).  server DIR ADDR N: listens on every address, writes
# ADDR:PORT to DIR/addr, answers N clients ("pong <what they sent>") and
# prints "server done".  client DIR NAME [MINE]: prints "client NAME knows
# ADDR:PORT", then after DIR/go connects there and prints "client NAME got
# pong hello NAME", or FAIL.  With MINE (its node's address at the start)
# the client binds to it before it connects and says it, and the server
# checks that accept() and getpeername() give that address, as Open MPI's
# TCP transport does: after a restart elsewhere, the client's node has
# another address, which the program must not see.  The same over UDP
# then: the client sends "hello NAME MINE" from MINE to the server's old
# address, the server checks recvfrom's sender and answers it there
# ("udp pong hello NAME"), which reaches the client where it is now.
# Once more with sendmmsg and recvmmsg ("mmsg pong hello NAME"), through
# ctypes: Python's socket module has neither.
import ctypes
import os
import socket
import struct
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(Iovec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", Msghdr), ("len", ctypes.c_uint)]


def mmsg(fn, sock, data, addr=None):
    """one message through sendmmsg (fn "send", to addr) or recvmmsg
    (fn "recv"): what was received and from where"""
    buf = ctypes.create_string_buffer(data if fn == "send" else 100)
    name = ctypes.create_string_buffer(
        struct.pack("=HH4s8x", socket.AF_INET, socket.htons(addr[1]), socket.inet_aton(addr[0])) if addr else 16)
    iov = Iovec(ctypes.cast(buf, ctypes.c_void_p), len(data) if fn == "send" else 100)
    m = Mmsghdr(Msghdr(ctypes.cast(name, ctypes.c_void_p), 16, ctypes.pointer(iov), 1, None, 0, 0), 0)
    r = (libc.sendmmsg(sock.fileno(), ctypes.byref(m), 1, 0) if fn == "send" else
         libc.recvmmsg(sock.fileno(), ctypes.byref(m), 1, 0, None))
    if r != 1:
        raise OSError(ctypes.get_errno(), "%smmsg: %s" % (fn, os.strerror(ctypes.get_errno())))
    _, port, ip = struct.unpack("=HH4s8x", name.raw[:16])
    return buf.raw[:m.len], (socket.inet_ntoa(ip), socket.ntohs(port))

role, d = sys.argv[1], sys.argv[2]
if role == "server":
    addr, n = sys.argv[3], int(sys.argv[4])
    lsn = socket.socket()
    lsn.bind(("0.0.0.0", 0))
    lsn.listen(8)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", 0))
    with open(d + "/addr.tmp", "w") as f:
        f.write("%s:%d:%d" % (addr, lsn.getsockname()[1], udp.getsockname()[1]))
    os.rename(d + "/addr.tmp", d + "/addr")
    print("server listens", flush=True)
    for _ in range(n):
        s, peer = lsn.accept()
        said = s.recv(100).decode().split()
        if len(said) == 3 and (peer[0] != said[2] or s.getpeername()[0] != said[2]):
            s.sendall(("FAIL the server sees client %s at %s (getpeername %s), not %s"
                       % (said[1], peer[0], s.getpeername()[0], said[2])).encode())
        else:
            s.sendall(("pong " + " ".join(said[:2])).encode())
        s.close()
        if len(said) == 3:
            data, src = udp.recvfrom(100)
            said = data.decode().split()
            udp.sendto((("udp pong " + " ".join(said[:2])) if src[0] == said[2] else
                        "FAIL the server sees client %s at %s over UDP, not %s" % (said[1], src[0], said[2])).encode(),
                       (said[2], src[1]))
            data, src = mmsg("recv", udp, None)
            said = data.decode().split()
            udp.sendto((("mmsg pong " + " ".join(said[:2])) if src[0] == said[2] else
                        "FAIL the server sees client %s at %s through recvmmsg, not %s" % (said[1], src[0], said[2])).encode(),
                       (said[2], src[1]))
    print("server done", flush=True)
else:
    name = sys.argv[3]
    mine = sys.argv[4] if len(sys.argv) > 4 else None
    while not os.path.exists(d + "/addr"):
        time.sleep(0.05)
    host, port, uport = open(d + "/addr").read().split(":")
    print("client %s knows %s:%s" % (name, host, port), flush=True)
    while not os.path.exists(d + "/go"):
        time.sleep(0.05)
    try:
        s = socket.create_connection((host, int(port)), timeout=10,
                                     source_address=(mine, 0) if mine else None)
        s.sendall(("hello " + name + (" " + mine if mine else "")).encode())
        print("client %s got %s" % (name, s.recv(100).decode()), flush=True)
        if mine:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.settimeout(10)
            u.bind((mine, 0))
            u.sendto(("hello %s %s" % (name, mine)).encode(), (host, int(uport)))
            print("client %s got %s" % (name, u.recvfrom(100)[0].decode()), flush=True)
            mmsg("send", u, ("hello %s %s" % (name, mine)).encode(), (host, int(uport)))
            print("client %s got %s" % (name, u.recvfrom(100)[0].decode()), flush=True)
    except OSError as e:
        print("FAIL client %s: %s" % (name, e), flush=True)
        sys.exit(1)
