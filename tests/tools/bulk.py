#!/usr/bin/python3
"""Bulk transfer test tool: N MiB each way, SHA-256 checked, with a TCP/TLS half-close.

server: bulk.py server HOST PORT
client: bulk.py client HOST PORT MIB [--tls] [--sni NAME] [--seed N] [--timeout S]

Protocol (the header is part of the stream, so the whole stream is checked):
  client -> "JFEBULK1 <mib> <seed>\\n" + MIB MiB of deterministic pseudo-random data,
            then half-closes: shutdown(SHUT_WR) (TLS mode: close_notify first, then
            shutdown(SHUT_WR)), and keeps reading.
  server    reads to EOF, then sends
            "<sha256 of what it received> <bytes received> <sha256 of its own data> <bytes>\\n"
            followed by its own MIB MiB (seed + 1), and closes.
  client    checks that the server received exactly what it sent, and that what it received
            after the line hashes to what the server says it sent.
The client prints one line, "OK ..." (exit 0) or "FAIL ..." (exit 1). --tls uses an
unverified TLS context (the proxy's self-signed certificate) over a MemoryBIO, so the
half-close is a real close_notify + FIN, not a full TLS shutdown. Standard library only.
"""
import hashlib
import random
import socket
import ssl
import sys
import threading
import time

MIB = 1 << 20
CHUNK = 256 * 1024


def stream(seed, mib):
    """Deterministic pseudo-random data, MIB MiB in 1 MiB pieces."""
    r = random.Random(seed)
    for _ in range(mib):
        yield r.randbytes(MIB)


# ------------------------------------------------------------------ server
def serve_conn(c, peer):
    try:
        c.settimeout(120)
        h = hashlib.sha256()
        n = 0
        head = b""
        while b"\n" not in head and len(head) < 200:
            d = c.recv(200 - len(head))
            if not d:
                break
            head += d
        line, _, rest = head.partition(b"\n")
        parts = line.split()
        if len(parts) != 3 or parts[0] != b"JFEBULK1":
            print(f"BADHEADER {peer[0]} {line[:60]!r}", flush=True)
            return
        mib, seed = int(parts[1]), int(parts[2])
        h.update(head)
        n += len(head)
        while True:
            d = c.recv(CHUNK)
            if not d:
                break
            h.update(d)
            n += len(d)
        out = hashlib.sha256()
        pieces = list(stream(seed + 1, mib))
        for p in pieces:
            out.update(p)
        c.sendall(f"{h.hexdigest()} {n} {out.hexdigest()} {mib * MIB}\n".encode())
        for p in pieces:
            c.sendall(p)
        c.shutdown(socket.SHUT_WR)
        print(f"DONE {peer[0]} {peer[1]} recv={n} sha={h.hexdigest()[:16]}", flush=True)
    except OSError as e:
        print(f"ERROR {peer[0]} {e!r}", flush=True)
    finally:
        c.close()


def server(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(64)
    print(f"LISTEN {host} {port}", flush=True)
    while True:
        c, peer = s.accept()
        threading.Thread(target=serve_conn, args=(c, peer), daemon=True).start()


# ------------------------------------------------------------------ client transports
class Plain:
    def __init__(self, sock):
        self.sock = sock
        self.close_notify = None

    def sendall(self, data):
        self.sock.sendall(data)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def recv(self):
        return self.sock.recv(CHUNK)


class TLS:
    """TLS client over a MemoryBIO: lets us send close_notify and keep reading."""

    def __init__(self, sock, sni):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = sock
        self.inc = ssl.MemoryBIO()
        self.out = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_side=False, server_hostname=sni)
        self.tcp_eof = False
        self.close_notify = False
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                if self.tcp_eof:
                    raise ConnectionError("EOF during TLS handshake")
                self._fill()
        self._flush()
        self.version = self.obj.version()

    def _flush(self):
        d = self.out.read()
        if d:
            self.sock.sendall(d)

    def _fill(self):
        d = self.sock.recv(CHUNK + 1024)
        if d:
            self.inc.write(d)
        else:
            self.tcp_eof = True
            self.inc.write_eof()

    def sendall(self, data):
        view = memoryview(data)
        while view:
            n = self.obj.write(view[:CHUNK])
            self._flush()
            view = view[n:]

    def shutdown_write(self):
        try:
            self.obj.unwrap()  # sends close_notify; peer's has not come yet
        except ssl.SSLWantReadError:
            pass
        self._flush()
        self.sock.shutdown(socket.SHUT_WR)

    def recv(self):
        while True:
            try:
                d = self.obj.read(CHUNK)
                if d:
                    return d
                self.close_notify = True
                return b""
            except ssl.SSLZeroReturnError:
                self.close_notify = True
                return b""
            except ssl.SSLEOFError:
                return b""          # TCP EOF without close_notify ("ragged")
            except ssl.SSLWantReadError:
                if self.tcp_eof:
                    return b""
                self._fill()


def client(host, port, mib, tls, sni, seed, timeout):
    t0 = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout)
        sock.settimeout(timeout)
        conn = TLS(sock, sni) if tls else Plain(sock)
        sent = hashlib.sha256()
        head = f"JFEBULK1 {mib} {seed}\n".encode()
        conn.sendall(head)
        sent.update(head)
        nsent = len(head)
        for p in stream(seed, mib):
            conn.sendall(p)
            sent.update(p)
            nsent += len(p)
        conn.shutdown_write()
        t_up = time.monotonic() - t0
        buf = b""
        while b"\n" not in buf and len(buf) < 400:
            d = conn.recv()
            if not d:
                break
            buf += d
        line, nl, rest = buf.partition(b"\n")
        f = line.split()
        if not nl or len(f) != 4:
            print(f"FAIL no reply line from server (got {buf[:80]!r}) after {time.monotonic() - t0:.2f}s")
            return 1
        srv_rx_hash, srv_rx_n, srv_tx_hash, srv_tx_n = f[0].decode(), int(f[1]), f[2].decode(), int(f[3])
        got = hashlib.sha256(rest)
        ngot = len(rest)
        while True:
            d = conn.recv()
            if not d:
                break
            got.update(d)
            ngot += len(d)
        dt = time.monotonic() - t0
        errs = []
        if srv_rx_n != nsent or srv_rx_hash != sent.hexdigest():
            errs.append(f"upstream mismatch: sent {nsent} sha {sent.hexdigest()[:16]}, "
                        f"server got {srv_rx_n} sha {srv_rx_hash[:16]}")
        if ngot != srv_tx_n or got.hexdigest() != srv_tx_hash:
            errs.append(f"downstream mismatch: server sent {srv_tx_n} sha {srv_tx_hash[:16]}, "
                        f"got {ngot} sha {got.hexdigest()[:16]}")
        extra = ""
        if tls:
            extra = f" {conn.version} close_notify={'yes' if conn.close_notify else 'no'}"
        if errs:
            print("FAIL " + "; ".join(errs) + extra)
            return 1
        print(f"OK up={nsent} down={ngot} up_s={t_up:.2f} total_s={dt:.2f}{extra}")
        return 0
    except (OSError, ssl.SSLError, ConnectionError) as e:
        print(f"FAIL {e!r} after {time.monotonic() - t0:.2f}s")
        return 1


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "server":
        server(a[1], int(a[2]))
        return
    if len(a) >= 4 and a[0] == "client":
        host, port, mib = a[1], int(a[2]), int(a[3])
        tls, sni, seed, timeout = False, None, 1, 60.0
        i = 4
        while i < len(a):
            if a[i] == "--tls":
                tls = True
            elif a[i] == "--sni":
                i += 1
                sni = a[i]
            elif a[i] == "--seed":
                i += 1
                seed = int(a[i])
            elif a[i] == "--timeout":
                i += 1
                timeout = float(a[i])
            else:
                sys.exit(f"unknown option {a[i]}")
            i += 1
        sys.exit(client(host, port, mib, tls, sni, seed, timeout))
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
