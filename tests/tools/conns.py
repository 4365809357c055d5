#!/usr/bin/python3
"""Many parallel short HTTP connections, plain and TLS mixed (unverified TLS context).

usage: conns.py HOST PORT N [--sni NAME] [--timeout S] [--expect-peer IP]

Starts N threads that all wait on one barrier, then each opens one connection, sends
"GET /c<i> HTTP/1.1" (every second one over TLS) and reads the reply to EOF. A connection
succeeds when the reply is "HTTP/1.x 200" and its body contains "sees peer" (and, with
--expect-peer, that the backend saw that address). Prints "OK n/n plain=a tls=b max_s=…"
or "FAIL k/n …" with the first few errors; exit 0 only when all succeeded.
"""
import socket
import ssl
import sys
import threading
import time


def one(i, host, port, use_tls, sni, timeout, expect, barrier, results):
    try:
        barrier.wait(timeout)
    except threading.BrokenBarrierError:
        pass
    t0 = time.monotonic()
    try:
        s = socket.create_connection((host, port), timeout)
        s.settimeout(timeout)
        if use_tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s, server_hostname=sni)
        hosthdr = sni or host
        s.sendall(f"GET /c{i} HTTP/1.1\r\nHost: {hosthdr}\r\nConnection: close\r\n\r\n".encode())
        buf = b""
        while True:
            try:
                d = s.recv(65536)
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                d = b""
            if not d:
                break
            buf += d
        s.close()
        txt = buf.decode(errors="replace")
        ok = txt.startswith("HTTP/1.") and " 200 " in txt.split("\r\n", 1)[0] and "sees peer" in txt
        if ok and expect and f"sees peer ('{expect}'" not in txt:
            ok = False
            txt = "wrong peer: " + txt.rsplit("\n", 2)[-2]
        results[i] = (ok, time.monotonic() - t0, "" if ok else txt[:120])
    except Exception as e:  # noqa: BLE001 - every failure is reported
        results[i] = (False, time.monotonic() - t0, repr(e))


def main():
    a = sys.argv[1:]
    if len(a) < 3:
        sys.exit(__doc__)
    host, port, n = a[0], int(a[1]), int(a[2])
    sni, timeout, expect = None, 20.0, None
    i = 3
    while i < len(a):
        if a[i] == "--sni":
            sni = a[i + 1]
        elif a[i] == "--timeout":
            timeout = float(a[i + 1])
        elif a[i] == "--expect-peer":
            expect = a[i + 1]
        else:
            sys.exit(f"unknown option {a[i]}")
        i += 2
    barrier = threading.Barrier(n)
    results = [None] * n
    threads = [threading.Thread(target=one, args=(k, host, port, k % 2 == 1, sni, timeout,
                                                  expect, barrier, results), daemon=True)
               for k in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout * 3 + 5)
    wall = time.monotonic() - t0
    done = [r for r in results if r is not None]
    good = [r for r in done if r[0]]
    tls_good = sum(1 for k, r in enumerate(results) if r and r[0] and k % 2 == 1)
    max_s = max((r[1] for r in done), default=0.0)
    summary = (f"{len(good)}/{n} plain={len(good) - tls_good} tls={tls_good} "
               f"wall_s={wall:.2f} max_s={max_s:.2f}")
    if len(good) == n:
        print("OK " + summary)
        return 0
    errs = [f"#{k}{' tls' if k % 2 else ''}: {r[2] if r else 'did not finish'}"
            for k, r in enumerate(results) if not (r and r[0])]
    print("FAIL " + summary + " | " + " | ".join(errs[:5]))
    return 1


if __name__ == "__main__":
    sys.exit(main())
