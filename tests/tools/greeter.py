#!/usr/bin/python3
"""Server-first protocol test tool (SMTP-like). Standard library only.

server: greeter.py server HOST PORT
    On accept, at once sends "220 jfe-greeter ready\r\n" without waiting for the client;
    then answers each line it receives with "250 ok <line>\r\n", and "221 bye\r\n" to QUIT
    (then closes). Gives up on a connection after 10 s of silence.
client: greeter.py client HOST PORT [--timeout S]
    Connects, sends NOTHING, waits for the banner and prints
        BANNER <seconds from connect() returning to first byte> <banner line>
    then sends "QUIT\r\n" and prints "REPLY <line>". Exit 0 when both arrived, 1 otherwise.
"""
import socket
import sys
import threading
import time


def serve_conn(c):
    try:
        c.settimeout(10)
        c.sendall(b"220 jfe-greeter ready\r\n")
        buf = b""
        while True:
            data = c.recv(4096)
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.strip()
                if line.upper() == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    return
                c.sendall(b"250 ok " + line + b"\r\n")
    except OSError:
        pass
    finally:
        c.close()


def server(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(128)
    print(f"LISTEN {host} {port}", flush=True)
    while True:
        c, peer = s.accept()
        print(f"ACCEPT {peer[0]} {peer[1]}", flush=True)
        threading.Thread(target=serve_conn, args=(c,), daemon=True).start()


def readline(s):
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            break
        buf += d
    return buf.decode(errors="replace").strip()


def client(host, port, timeout):
    s = socket.create_connection((host, port), timeout)
    t0 = time.monotonic()
    s.settimeout(timeout)
    try:
        first = s.recv(1, socket.MSG_PEEK)
        dt = time.monotonic() - t0
        if not first:
            print("NOBANNER connection closed")
            return 1
        banner = readline(s)
        print(f"BANNER {dt:.3f} {banner}", flush=True)
        s.sendall(b"QUIT\r\n")
        reply = readline(s)
        print(f"REPLY {reply}", flush=True)
        return 0 if banner.startswith("220") and reply.startswith("221") else 1
    except socket.timeout:
        print(f"NOBANNER timeout after {time.monotonic() - t0:.3f}")
        return 1
    except OSError as e:
        print(f"NOBANNER error {e!r}")
        return 1


def main():
    a = sys.argv[1:]
    if len(a) >= 3 and a[0] == "server":
        server(a[1], int(a[2]))
    elif len(a) >= 3 and a[0] == "client":
        timeout = float(a[4]) if len(a) >= 5 and a[3] == "--timeout" else 5.0
        sys.exit(client(a[1], int(a[2]), timeout))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
