#!/usr/bin/python3
"""Pass-through relay checks: half-close in each direction, resets, idle connections.

server: relay_check.py server HOST PORT
client: relay_check.py client HOST PORT MODE [--mib N] [--seed N] [--hold S] [--timeout S]

Every connection starts with "RELAY1 <mode> <seed> <mib>\\n" and 20 ping/pong round trips
(small messages: a long-lived exchange, as a relay sees one), then per MODE:
  srvfirst  the server sends MIB MiB and half-closes; the client reads to EOF, only then
            sends its MIB MiB and half-closes; the server reads to EOF and closes.
  clifirst  the client sends MIB MiB and half-closes; the server reads to EOF, then sends
            MIB MiB and closes; the client reads to EOF.
  clirst    the client closes with SO_LINGER 0 (RST); the server must see a reset, not EOF.
  srvrst    the server closes with SO_LINGER 0; the client must see a reset, not EOF.
  slowread  the server sends MIB MiB at once, the client reads nothing for 3 s, then all of
            it: the server logs "SENT <seed> <bytes>", how much it had got rid of after 2.5 s
            (what the relay buffered plus the sockets' buffers: bounded, not MIB).
  idle      the client says nothing for --hold seconds and reports whether (and when) the
            connection was closed on it.
  active    the client pings every 0.5 s for --hold seconds; every pong must come back.
Data is deterministic per seed and SHA-256 checked. The server logs one line per connection:
"RX <seed> OK <bytes>" / "RX <seed> FAIL ...", "RESET <seed>", "EOF <seed>". The client prints
one line, "OK ..." (exit 0) or "FAIL ..." (exit 1), or for idle "CLOSED <s>" / "OPEN <s>".
Standard library only.
"""
import hashlib
import random
import socket
import struct
import sys
import threading
import time

MIB = 1 << 20
CHUNK = 256 * 1024
PINGS = 20


def data(seed, mib):
    r = random.Random(seed)
    for _ in range(mib):
        yield r.randbytes(MIB)


def digest(seed, mib):
    h = hashlib.sha256()
    for p in data(seed, mib):
        h.update(p)
    return h.hexdigest(), mib * MIB


def read_line(s, buf=b""):
    while b"\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise EOFError("EOF before end of line")
        buf += d
    line, _, rest = buf.partition(b"\n")
    return line.decode(), rest


def read_to_eof(s, rest=b""):
    h = hashlib.sha256(rest)
    n = len(rest)
    while True:
        d = s.recv(CHUNK)
        if not d:
            return h.hexdigest(), n
        h.update(d)
        n += len(d)


def send_all(s, seed, mib):
    for p in data(seed, mib):
        s.sendall(p)


def pingpong_server(c, rest):
    for i in range(PINGS):
        line, rest = read_line(c, rest)
        if line != f"ping {i}":
            raise ValueError(f"bad ping {line!r}")
        c.sendall(f"pong {i}\n".encode())
    return rest


def rst_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


# ------------------------------------------------------------------ server
def serve_conn(c):
    seed = "?"
    try:
        c.settimeout(60)
        line, rest = read_line(c)
        f = line.split()
        if len(f) != 4 or f[0] != "RELAY1":
            print(f"BADHEADER {line[:60]!r}", flush=True)
            return
        mode, seed, mib = f[1], int(f[2]), int(f[3])
        if mode in ("idle", "active"):
            # answer pings until the client goes
            while True:
                line, rest = read_line(c, rest)
                c.sendall(line.replace("ping", "pong").encode() + b"\n")
        rest = pingpong_server(c, rest)
        if mode == "srvfirst":
            send_all(c, seed + 1, mib)
            c.shutdown(socket.SHUT_WR)
        if mode in ("srvfirst", "clifirst"):
            got = read_to_eof(c, rest)
            want = digest(seed, mib)
            print(f"RX {seed} {'OK' if got == want else 'FAIL'} {got[1]} want {want[1]}", flush=True)
            if mode == "clifirst":
                send_all(c, seed + 1, mib)
        elif mode == "slowread":
            sent = [0]

            def report():
                time.sleep(2.5)
                print(f"SENT {seed} {sent[0]}", flush=True)
            threading.Thread(target=report, daemon=True).start()
            for p in data(seed + 1, mib):
                view = memoryview(p)
                while view:
                    n = c.send(view[:65536])
                    sent[0] += n
                    view = view[n:]
            c.shutdown(socket.SHUT_WR)
            read_to_eof(c, rest)
        elif mode == "srvrst":
            # the last pong reaches the client first: a relay may drop what it still
            # holds when a reset comes, as the kernel does
            time.sleep(0.3)
            rst_close(c)
            c = None
        elif mode == "clirst":
            try:
                while c.recv(CHUNK):
                    pass
                print(f"EOF {seed}", flush=True)
            except ConnectionResetError:
                print(f"RESET {seed}", flush=True)
    except EOFError:
        if seed != "?":
            print(f"EOF {seed}", flush=True)
    except ConnectionResetError:
        print(f"RESET {seed}", flush=True)
    except (OSError, ValueError) as e:
        print(f"ERROR {seed} {e!r}", flush=True)
    finally:
        if c is not None:
            c.close()


def server(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(64)
    print(f"LISTEN {host} {port}", flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_conn, args=(c,), daemon=True).start()


# ------------------------------------------------------------------ client
def wire_bytes(mode, seed, mib):
    """What the client sends and receives in srvfirst/clifirst, for the proxy's counters."""
    head = len(f"RELAY1 {mode} {seed} {mib}\n")
    up = head + sum(len(f"ping {i}\n") for i in range(PINGS)) + mib * MIB
    down = sum(len(f"pong {i}\n") for i in range(PINGS)) + mib * MIB
    return f"bytes_up={up} bytes_down={down}"


def client(host, port, mode, mib, seed, hold, timeout):
    t0 = time.monotonic()
    s = socket.create_connection((host, port), timeout)
    s.settimeout(timeout)
    s.sendall(f"RELAY1 {mode} {seed} {mib}\n".encode())
    rest = b""
    for i in range(PINGS):
        s.sendall(f"ping {i}\n".encode())
        line, rest = read_line(s, rest)
        if line != f"pong {i}":
            return f"FAIL bad pong {line!r}"
    if mode == "srvfirst":
        got = read_to_eof(s, rest)
        if got != digest(seed + 1, mib):
            return f"FAIL downstream: got {got[1]} bytes, sha {got[0][:16]}"
        send_all(s, seed, mib)        # the server's FIN came; our side still flows
        s.shutdown(socket.SHUT_WR)
        if s.recv(1) != b"":
            return "FAIL data after the server's EOF"
        return f"OK srvfirst {wire_bytes(mode, seed, mib)} {time.monotonic() - t0:.2f}s"
    if mode == "clifirst":
        send_all(s, seed, mib)
        s.shutdown(socket.SHUT_WR)
        got = read_to_eof(s, rest)
        if got != digest(seed + 1, mib):
            return f"FAIL downstream: got {got[1]} bytes, sha {got[0][:16]}"
        return f"OK clifirst {wire_bytes(mode, seed, mib)} {time.monotonic() - t0:.2f}s"
    if mode == "slowread":
        time.sleep(3)
        got = read_to_eof(s, rest)
        if got != digest(seed + 1, mib):
            return f"FAIL downstream: got {got[1]} bytes, sha {got[0][:16]}"
        return f"OK slowread down={got[1]} {time.monotonic() - t0:.2f}s"
    if mode == "clirst":
        rst_close(s)
        return "OK clirst sent"
    if mode == "srvrst":
        try:
            d = s.recv(CHUNK)
            return f"FAIL clean EOF instead of a reset ({len(d)} bytes)"
        except ConnectionResetError:
            return "OK srvrst reset seen"
    if mode == "idle":
        s.settimeout(hold)
        t = time.monotonic()
        try:
            d = s.recv(1)
            if d == b"":
                return f"CLOSED {time.monotonic() - t:.1f}"
            return f"FAIL unexpected data {d!r}"
        except socket.timeout:
            return f"OPEN {time.monotonic() - t:.1f}"
        except ConnectionResetError:
            return f"CLOSED {time.monotonic() - t:.1f} reset"
    if mode == "active":
        end = time.monotonic() + hold
        i = 0
        while time.monotonic() < end:
            time.sleep(0.5)
            s.sendall(f"ping a{i}\n".encode())
            line, rest = read_line(s, rest)
            if line != f"pong a{i}":
                return f"FAIL bad pong {line!r}"
            i += 1
        return f"OK active {i} pings over {hold}s"
    return f"FAIL unknown mode {mode}"


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "server":
        server(a[1], int(a[2]))
        return
    if len(a) >= 4 and a[0] == "client":
        host, port, mode = a[1], int(a[2]), a[3]
        opts = {"--mib": 8, "--seed": 1, "--hold": 5.0, "--timeout": 30.0}
        i = 4
        while i < len(a):
            if a[i] not in opts or i + 1 >= len(a):
                sys.exit(f"bad option {a[i]}")
            opts[a[i]] = type(opts[a[i]])(a[i + 1])
            i += 2
        try:
            out = client(host, port, mode, opts["--mib"], opts["--seed"], opts["--hold"],
                         opts["--timeout"])
        except (OSError, EOFError) as e:
            out = f"FAIL {e!r}"
        print(out)
        sys.exit(1 if out.startswith("FAIL") else 0)
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
