#!/usr/bin/python3
"""Many long-lived connections: a line-echo server, and a client that opens N connections,
holds them, checks each is still alive, and closes them all.

server: hold.py server HOST PORT [HOST PORT ...]
client: hold.py client HOST PLAIN_PORT TLS_PORT N [--hold S] [--sni NAME] [--parallel P]
                                                  [--timeout S] [--ready FILE]

Protocol: the client sends "PING <i>\\n", the server answers "PONG <i>\\n" for every line, and
holds the connection until the client closes it.

The client opens N connections, every second one with TLS (an unverified context: jfe's
fallback certificate) to TLS_PORT, the others in plaintext to PLAIN_PORT, at most P at a time
(default 200) so that the listen backlogs never overflow:
  plaintext  connect, one PING/PONG exchanged (so the proxy has passed it through), then idle;
  TLS        connect and complete the handshake, then idle (nothing sent inside TLS yet).
It prints "UP <n> plain=<a> tls=<b> setup_s=<t>" once all are open (and creates FILE, given
--ready), holds them for S seconds (default 60) without a byte sent, then sends one more PING on
every connection and waits for its PONG ("ALIVE <k>/<n> check_s=<t>"), closes all of them, and
prints "OK ..." (exit 0) or "FAIL ..." (exit 1) with the first errors. A connection that fails
while being opened, is closed by the peer while held, or does not answer the last PING is a
failure. Standard library only (asyncio).
"""
import asyncio
import resource
import socket
import ssl
import sys
import time


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, hard), max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ------------------------------------------------------------------ server
async def serve_conn(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            if line.startswith(b"PING "):
                writer.write(b"PONG " + line[5:])
                await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def server(pairs):
    servers = []
    for host, port in pairs:
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = await asyncio.start_server(serve_conn, host, port, family=fam, backlog=4096,
                                       reuse_address=True)
        servers.append(s)
        print(f"LISTEN {host} {port}", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


# ------------------------------------------------------------------ client
class Conn:
    __slots__ = ("i", "tls", "reader", "writer", "err")

    def __init__(self, i, tls):
        self.i, self.tls = i, tls
        self.reader = self.writer = None
        self.err = None


async def exchange(c, timeout):
    c.writer.write(f"PING {c.i}\n".encode())
    await asyncio.wait_for(c.writer.drain(), timeout)
    line = await asyncio.wait_for(c.reader.readline(), timeout)
    if line != f"PONG {c.i}\n".encode():
        raise ConnectionError(f"answer {line[:40]!r}")


async def open_one(c, host, pport, tport, ctx, sni, timeout, sem):
    async with sem:
        try:
            if c.tls:
                c.reader, c.writer = await asyncio.wait_for(asyncio.open_connection(
                    host, tport, ssl=ctx, server_hostname=sni,
                    ssl_handshake_timeout=timeout), timeout)
            else:
                c.reader, c.writer = await asyncio.wait_for(
                    asyncio.open_connection(host, pport), timeout)
                await exchange(c, timeout)
        except (OSError, ssl.SSLError, ConnectionError, asyncio.TimeoutError) as e:
            c.err = f"open: {e!r}"


async def check_one(c, timeout, sem):
    async with sem:
        try:
            if c.reader.at_eof():
                raise ConnectionError("closed by the peer while held")
            await exchange(c, timeout)
        except (OSError, ssl.SSLError, ConnectionError, asyncio.TimeoutError) as e:
            c.err = f"check: {e!r}"


async def close_one(c):
    try:
        c.writer.close()
        await asyncio.wait_for(c.writer.wait_closed(), 5)
    except (OSError, ssl.SSLError, ConnectionError, asyncio.TimeoutError):
        pass  # the close of an idle connection is not what is being tested


async def client(host, pport, tport, n, hold, sni, par, timeout, ready):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conns = [Conn(i, i % 2 == 1) for i in range(n)]
    sem = asyncio.Semaphore(par)
    t0 = time.monotonic()
    await asyncio.gather(*(open_one(c, host, pport, tport, ctx, sni, timeout, sem)
                           for c in conns))
    setup = time.monotonic() - t0
    up = [c for c in conns if c.err is None]
    tls_up = sum(1 for c in up if c.tls)
    print(f"UP {len(up)} plain={len(up) - tls_up} tls={tls_up} setup_s={setup:.1f}", flush=True)
    if ready:
        open(ready, "w").close()
    await asyncio.sleep(hold)
    t1 = time.monotonic()
    await asyncio.gather(*(check_one(c, timeout, sem) for c in up))
    alive = sum(1 for c in up if c.err is None)
    print(f"ALIVE {alive}/{n} check_s={time.monotonic() - t1:.1f}", flush=True)
    await asyncio.gather(*(close_one(c) for c in conns if c.writer is not None))
    bad = [c for c in conns if c.err is not None]
    summary = (f"{n - len(bad)}/{n} plain={sum(1 for c in conns if not c.tls and not c.err)} "
               f"tls={sum(1 for c in conns if c.tls and not c.err)} held_s={hold:g} "
               f"setup_s={setup:.1f}")
    if not bad:
        print("OK " + summary, flush=True)
        return 0
    errs = [f"#{c.i}{' tls' if c.tls else ''}: {c.err}" for c in bad[:5]]
    print(f"FAIL {summary} | {len(bad)} failed: " + " | ".join(errs), flush=True)
    return 1


def main():
    a = sys.argv[1:]
    if len(a) >= 3 and a[0] == "server" and len(a) % 2 == 1:
        raise_nofile(65536)
        asyncio.run(server(list(zip(a[1::2], (int(p) for p in a[2::2])))))
        return 0
    if len(a) >= 5 and a[0] == "client":
        host, pport, tport, n = a[1], int(a[2]), int(a[3]), int(a[4])
        hold, sni, par, timeout, ready = 60.0, None, 200, 30.0, None
        i = 5
        while i < len(a):
            opt, val = a[i], a[i + 1] if i + 1 < len(a) else None
            if val is None:
                sys.exit(f"{opt} needs a value")
            if opt == "--hold":
                hold = float(val)
            elif opt == "--sni":
                sni = val
            elif opt == "--parallel":
                par = int(val)
            elif opt == "--timeout":
                timeout = float(val)
            elif opt == "--ready":
                ready = val
            else:
                sys.exit(f"unknown option {opt}")
            i += 2
        raise_nofile(n + 1024)
        return asyncio.run(client(host, pport, tport, n, hold, sni, par, timeout, ready))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
