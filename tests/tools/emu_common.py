#!/usr/bin/python3
"""Shared pieces of the DNS-provider emulators (route53_emu.py, cloudflare_emu.py).

Mirror: copies the emulator's authoritative TXT and CNAME record sets into a
pebble-challtestsrv through its management API, so that a Pebble whose -dnsserver is that
challtestsrv validates DNS-01 against what the API client really wrote.

What challtestsrv (Debian's pebble 2.4.0) does with TXT, as measured (tests/integration/
test_emulators.sh checks the first three):
  * POST /set-txt {"host","value"} APPENDS one TXT record to the name (despite its name):
    two set-txt at one host answer two TXT records; the same value twice answers it twice.
  * POST /clear-txt {"host"} removes every TXT record of the name. There is no way to
    remove one value, so the mirror re-writes a name whole: clear-txt, then one set-txt per
    value. Between the two a query may see no TXT (the window is one local HTTP call).
  * Names match exactly: lower-case with the trailing dot. A query in another case, or a
    host registered without the dot, does not match; there is no wildcard expansion.
  * One value is one character-string: a value over 255 bytes makes the DNS answer for the
    name fail to pack (no reply at all), and an empty value is refused (400). The mirror
    serves each record as the concatenation of its strings (what a validator compares) and
    skips, with an error noted, a record whose concatenation is empty or over 255 bytes.
  * set-cname {"host","target"} / clear-cname {"host"}: one CNAME per name, followed by
    its TXT answers (a TXT query at the alias returns the CNAME and the target's TXT).

Server: a threading HTTP(S) server; TLS is set up in the request's own thread.
"""
import http.server
import json
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request


class Mirror:
    """Record sets -> challtestsrv. apply() is called with a sequence number per change;
    a name already showing a later change is not set back to an older state."""

    def __init__(self, url, log=None):
        self.url = url.rstrip("/") if url else None
        self.lock = threading.Lock()
        self.applied = {}       # name -> (seq, (txt tuple, cname))
        self.errors = []        # [{"time","name","error"}]
        self.calls = 0
        self.log = log

    def _post(self, path, obj):
        req = urllib.request.Request(self.url + "/" + path, data=json.dumps(obj).encode(),
                                     method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            r.read()
        self.calls += 1

    def _err(self, name, msg):
        self.errors.append({"time": time.time(), "name": name, "error": msg})
        del self.errors[:-200]
        if self.log:
            self.log("mirror %s: %s" % (name, msg))

    def apply(self, seq, name, txt, cname):
        """name: lower-case FQDN with the trailing dot; txt: the TXT records of the name,
        each given as the concatenation of its strings; cname: target FQDN or None."""
        if not self.url:
            return
        seen, vals = set(), []
        for v in txt:
            if v in seen:
                continue
            seen.add(v)
            vals.append(v)
        state = (tuple(vals), cname)
        with self.lock:
            prev = self.applied.get(name)
            if prev is not None and prev[0] > seq:
                return
            if prev is not None and prev[1] == state:
                self.applied[name] = (seq, state)
                return
            old = prev[1] if prev is not None else None
            try:
                if old is None or old[0] != state[0]:
                    self._post("clear-txt", {"host": name})
                    for v in vals:
                        if not v or len(v.encode()) > 255:
                            self._err(name, "TXT value of %d bytes not mirrored (challtestsrv "
                                      "serves 1..255 bytes in one string)" % len(v.encode()))
                            continue
                        self._post("set-txt", {"host": name, "value": v})
                if old is None or old[1] != state[1]:
                    if cname:
                        self._post("set-cname", {"host": name, "target": cname})
                    elif old is not None and old[1]:
                        self._post("clear-cname", {"host": name})
                self.applied[name] = (seq, state)
            except (OSError, urllib.error.URLError, ValueError) as e:
                self._err(name, "challtestsrv: %s" % e)
                self.applied.pop(name, None)   # unknown state: rewrite whole next time

    def status(self):
        with self.lock:
            return {"url": self.url, "calls": self.calls, "errors": list(self.errors),
                    "names": {n: {"seq": s, "txt": list(st[0]), "cname": st[1]}
                              for n, (s, st) in sorted(self.applied.items())}}

    def forget(self):
        with self.lock:
            self.applied.clear()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    ssl_ctx = None

    def finish_request(self, request, client_address):
        if self.ssl_ctx is None:
            self.RequestHandlerClass(request, client_address, self)
            return
        try:
            request.settimeout(30)
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


def make_server(listen, port, handler, cert=None, key=None):
    cls = Server
    if ":" in listen:
        cls = type("Server6", (Server,), {"address_family": socket.AF_INET6})
    srv = cls((listen, port), handler)
    if cert and key:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.ssl_ctx = ctx
    return srv


def write_ready(path, port):
    if path:
        with open(path + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.replace(path + ".tmp", path)


class RequestLog:
    """What both emulators keep of their requests: the last 2000 (for /_emu/requests), an
    optional log file, and the challtestsrv mirror. The subclass sets self.lock first."""

    def __init__(self, log_path, challtestsrv):
        self.requests = []
        self.nreq = 0
        self.logf = open(log_path, "a") if log_path else None
        self.mirror = Mirror(challtestsrv, self.logline)

    def logline(self, s):
        if self.logf:
            self.logf.write("%s %s\n" % (time.strftime("%H:%M:%S"), s))
            self.logf.flush()

    def note(self, rec):
        with self.lock:
            rec["n"] = self.nreq
            self.nreq += 1
            self.requests.append(rec)
            del self.requests[:-2000]


class Counter:
    """'the next N requests': a thread-safe countdown."""

    def __init__(self):
        self.lock = threading.Lock()
        self.n = 0
        self.spec = None

    def set(self, n, spec=None):
        with self.lock:
            self.n, self.spec = max(0, int(n)), spec

    def take(self):
        """The spec when this request is one of the N, else None."""
        with self.lock:
            if self.n <= 0:
                return None
            self.n -= 1
            return self.spec if self.spec is not None else True

    def left(self):
        with self.lock:
            return self.n


class Bucket:
    """A token bucket: rate per second, burst = rate (at least 1). rate 0: unlimited."""

    def __init__(self, rate):
        self.rate = float(rate)
        self.tokens = max(1.0, self.rate)
        self.t = time.monotonic()
        self.lock = threading.Lock()

    def allow(self):
        if self.rate <= 0:
            return True
        with self.lock:
            now = time.monotonic()
            self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.t) * self.rate)
            self.t = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False
