# The application of the nodes.bats test of old addresses: a server and
# clients that learn its address at start but connect only later, when
# the folder DIR has a file "go" (after the test restarted every node
# elsewhere).  server DIR ADDR N: listens on every address, writes
# ADDR:PORT to DIR/addr, answers N clients ("pong <what they sent>") and
# prints "server done".  client DIR NAME: prints "client NAME knows
# ADDR:PORT", then after DIR/go connects there and prints "client NAME got
# pong hello NAME", or FAIL.
import os
import socket
import sys
import time

role, d = sys.argv[1], sys.argv[2]
if role == "server":
    addr, n = sys.argv[3], int(sys.argv[4])
    lsn = socket.socket()
    lsn.bind(("0.0.0.0", 0))
    lsn.listen(8)
    with open(d + "/addr.tmp", "w") as f:
        f.write("%s:%d" % (addr, lsn.getsockname()[1]))
    os.rename(d + "/addr.tmp", d + "/addr")
    print("server listens", flush=True)
    for _ in range(n):
        s, _ = lsn.accept()
        s.sendall(b"pong " + s.recv(100))
        s.close()
    print("server done", flush=True)
else:
    name = sys.argv[3]
    while not os.path.exists(d + "/addr"):
        time.sleep(0.05)
    host, port = open(d + "/addr").read().split(":")
    print("client %s knows %s:%s" % (name, host, port), flush=True)
    while not os.path.exists(d + "/go"):
        time.sleep(0.05)
    try:
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(("hello " + name).encode())
        print("client %s got %s" % (name, s.recv(100).decode()), flush=True)
    except OSError as e:
        print("FAIL client %s: %s" % (name, e), flush=True)
        sys.exit(1)
