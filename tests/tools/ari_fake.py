#!/usr/bin/python3
"""A directory front for Pebble 2.4 (which has no ARI, RFC 9773): serves Pebble's own
directory with a "renewalInfo" URL added, and answers renewalInfo requests itself with a
suggested window starting START seconds from now and ending END seconds from now. Every other
ACME URL in the directory stays Pebble's, so accounts, orders and certificates are real.
Each certificate identifier asked for is appended to LOG, one per line.

usage: ari_fake.py ADDR PORT CERT KEY CAFILE UPSTREAM_DIR_URL LOG START END
"""
import http.server
import json
import ssl
import sys
import time
import urllib.request

addr, port, cert, key, cafile, upstream, log, start, end = sys.argv[1:10]
port, start, end = int(port), int(start), int(end)
base = f"https://{addr}:{port}"


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, obj, extra=()):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/dir":
            ctx = ssl.create_default_context(cafile=cafile)
            with urllib.request.urlopen(upstream, context=ctx, timeout=5) as r:
                d = json.load(r)
            d["renewalInfo"] = base + "/ari"
            self.reply(200, d)
        elif self.path.startswith("/ari/"):
            cid = self.path[len("/ari/"):]
            with open(log, "a") as f:
                f.write(cid + "\n")
            now = time.time()
            self.reply(200, {"suggestedWindow": {"start": rfc3339(now + start),
                                                 "end": rfc3339(now + end)}},
                       [("Retry-After", "3600")])
        else:
            self.reply(404, {"type": "urn:ietf:params:acme:error:malformed"})

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer((addr, port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
