# The application of the nodes.bats test of a connection from another node
# that the server had not accepted at the checkpoint, beside one it had.
#   server DIR ADDR: listens on every address, writes ADDR:PORT to DIR/addr;
#     accepts client a and answers its lines ("pong LINE") until "bye";
#     meanwhile (a file DIR/a-accepted says a was accepted) client b
#     connects, and is accepted only after DIR/go: the server prints
#     "server got <what b sent>", answers, and prints "server done".
#   client a DIR: connects, "hello a", then after DIR/go "again a", "bye";
#     prints "client a ok".
#   client b DIR: connects after DIR/a-accepted, sends "hello b", prints
#     "client b sent", then after DIR/go "client b got <answer>" or "client b: end of
#     stream" (a connection from another node not yet accepted at the
#     checkpoint ends after a restart: docs/unsupported.md).
import os
import socket
import sys
import time

role, d = sys.argv[1], sys.argv[2]


def wait_file(name):
    while not os.path.exists(d + "/" + name):
        time.sleep(0.05)


def touch(name):
    open(d + "/" + name, "w").close()


if role == "server":
    lsn = socket.socket()
    lsn.bind(("0.0.0.0", 0))
    lsn.listen(8)
    with open(d + "/addr.tmp", "w") as f:
        f.write("%s:%d" % (sys.argv[3], lsn.getsockname()[1]))
    os.rename(d + "/addr.tmp", d + "/addr")
    print("server listens", flush=True)
    a, _ = lsn.accept()
    touch("a-accepted")
    fa = a.makefile("rb")
    for line in fa:
        line = line.strip()
        if line == b"bye":
            break
        a.sendall(b"pong " + line + b"\n")
    b, _ = lsn.accept()
    got = b.recv(100)
    print("server got %s" % got.decode().strip(), flush=True)
    try:
        b.sendall(b"pong " + got)
    except OSError:
        pass
    print("server done", flush=True)
else:
    wait_file("addr")
    host, port = open(d + "/addr").read().split(":")
    if role == "a":
        s = socket.create_connection((host, int(port)), timeout=30)
        f = s.makefile("rb")
        s.sendall(b"hello a\n")
        if f.readline() != b"pong hello a\n":
            print("FAIL client a: no first pong", flush=True)
            sys.exit(1)
        print("client a talked", flush=True)
        wait_file("go")
        s.sendall(b"again a\n")
        if f.readline() != b"pong again a\n":
            print("FAIL client a: no pong after the restart", flush=True)
            sys.exit(1)
        s.sendall(b"bye\n")
        print("client a ok", flush=True)
    else:
        wait_file("a-accepted")
        s = socket.create_connection((host, int(port)), timeout=30)
        s.sendall(b"hello b\n")
        print("client b sent", flush=True)
        wait_file("go")
        try:
            got = s.recv(100)
        except OSError:
            got = b""
        if got:
            print("client b got %s" % got.decode().strip(), flush=True)
        else:
            print("client b: end of stream", flush=True)
