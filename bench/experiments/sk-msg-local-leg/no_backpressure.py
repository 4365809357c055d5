import socket, time, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 5599)); srv.listen()
c = socket.socket(); c.bind(("127.0.0.1", int(sys.argv[1]))); c.connect(("127.0.0.1", 5599))
s, _ = srv.accept()
c.setblocking(False)
buf = b"x" * 65536; sent = 0
t = time.time()
while time.time() - t < 3 and sent < (1 << 30):
    try: sent += c.send(buf)
    except BlockingIOError: time.sleep(0.01)
print("sent before blocking (MiB):", sent / 1048576)
print(open("/proc/net/sockstat").read().split("\n")[1])
got = 0
s.setblocking(False)
try:
    while True:
        d = s.recv(1 << 20)
        if not d: break
        got += len(d)
except BlockingIOError: pass
print("server could read (MiB):", got / 1048576)
