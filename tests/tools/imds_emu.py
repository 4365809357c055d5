#!/usr/bin/python3
"""An EC2 instance metadata service (IMDSv2 only) for tests, on the address and port given.

What it does as AWS's IMDS does:
  PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds, an integer 1..21600
  (else 400) and returns an opaque token, echoing the TTL in the same response header;
  every GET needs X-aws-ec2-metadata-token with a valid, unexpired token (else 401; an
  IMDSv1-style GET without a token is a 401 too: this instance requires IMDSv2);
  /latest/dynamic/instance-identity/document is the JSON identity document and .../rsa2048
  is a base64 PKCS#7 SignedData (SHA-256, RSA-2048) with the document as content, without
  PEM armour; meta-data/public-ipv4 (404 when there is none), network/interfaces/macs/,
  .../<mac>/ipv6s (404 when none), iam/security-credentials/ and .../<role> with credentials
  that rotate every --creds-rotate seconds. Directories list their entries, one per line,
  subdirectories with a trailing '/'. Hop limits are not emulated.

The signing key is a test RSA-2048 key with a self-signed certificate, generated at start
with the openssl CLI unless --key/--cert are given; --write-cert copies the certificate out
for the client under test. AWS's own certificates can never verify these signatures.

Fault injection: --tamper document (the served document differs from the signed one),
--tamper content (the signed content is altered inside the PKCS#7, so the signature breaks),
--delay S [--delay-path PREFIX], --fail-500 PREFIX (repeatable; "all" for every path),
--refuse-tokens CODE (token PUTs answered CODE), --document-json (sign any document),
--raw PATH=BODY (serve BODY at /latest/PATH, for malformed answers). SIGUSR1 forgets every
token issued (as an instance stop/start does), so the next GET with an old token gets 401.

--log FILE gets one line per request: "METHOD PATH STATUS token=valid|invalid|missing|-".
--ready-file FILE receives the bound port once the server listens (port 0: any free port).

usage: imds_emu.py [--listen ADDR] [--port N] [--ready-file F] [--log F] [options]
"""
import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import http.server

TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_MAX = 21600


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def parse_args(argv):
    p = argparse.ArgumentParser(description="IMDSv2 emulator for tests")
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ready-file")
    p.add_argument("--log")
    p.add_argument("--key", help="PEM RSA key that signs the identity document")
    p.add_argument("--cert", help="PEM certificate of --key")
    p.add_argument("--write-cert", help="copy the signing certificate here")
    p.add_argument("--no-signer-cert", action="store_true",
                   help="leave the signer certificate out of the PKCS#7")
    p.add_argument("--instance-id", default="i-0123456789abcdef0")
    p.add_argument("--account-id", default="123456789012")
    p.add_argument("--region", default="eu-west-3")
    p.add_argument("--az", default=None, help="default: the region + 'a'")
    p.add_argument("--document-json", help="sign and serve this document instead")
    p.add_argument("--public-ipv4")
    p.add_argument("--interface", action="append", default=[],
                   help="MAC[=IPV6[,IPV6...]] (repeatable; default one interface, no IPv6)")
    p.add_argument("--role", default="jfe-test-role", help="'' for no instance role")
    p.add_argument("--creds-rotate", type=float, default=3600.0)
    p.add_argument("--tamper", choices=("none", "document", "content"), default="none")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--delay-path", default="", help="delay only paths starting with this")
    p.add_argument("--fail-500", action="append", default=[])
    p.add_argument("--refuse-tokens", type=int, default=0)
    p.add_argument("--raw", action="append", default=[], help="PATH=BODY")
    return p.parse_args(argv)


def make_key(tmp):
    key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                    "-days", "2", "-subj", "/O=jfe tests/CN=imds emulator signing key",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return key, cert


def sign(doc, key, cert, tmp, with_cert):
    """PKCS#7 SignedData over <doc> (bytes), content attached, DER. -binary: the content is
    signed byte for byte (no MIME canonicalisation of line ends)."""
    path = os.path.join(tmp, "document")
    with open(path, "wb") as f:
        f.write(doc)
    cmd = ["openssl", "smime", "-sign", "-binary", "-nodetach", "-md", "sha256",
           "-outform", "DER", "-signer", cert, "-inkey", key, "-in", path]
    if not with_cert:
        cmd.append("-nocerts")
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def flip_one(data, needle):
    """<data> with the last character of the only occurrence of <needle> changed, same
    length (so DER lengths stay valid)."""
    if data.count(needle) != 1:
        raise SystemExit("imds_emu: cannot tamper: %r occurs %d times" %
                         (needle, data.count(needle)))
    i = data.index(needle) + len(needle) - 1
    c = data[i:i + 1]
    return data[:i] + (b"1" if c != b"1" else b"2") + data[i + 1:]


class State:
    def __init__(self, a, tmp):
        self.a = a
        self.lock = threading.Lock()
        self.tokens = {}            # token -> monotonic expiry
        self.seed = os.urandom(16)
        if a.key and a.cert:
            key, cert = a.key, a.cert
        else:
            key, cert = make_key(tmp)
        if a.write_cert:
            shutil.copyfile(cert, a.write_cert + ".tmp")
            os.replace(a.write_cert + ".tmp", a.write_cert)
        if a.document_json is not None:
            doc = a.document_json.encode()
        else:
            d = {
                "accountId": a.account_id,
                "architecture": "x86_64",
                "availabilityZone": a.az if a.az is not None else a.region + "a",
                "billingProducts": None,
                "devpayProductCodes": None,
                "marketplaceProductCodes": None,
                "imageId": "ami-0abcdef1234567890",
                "instanceId": a.instance_id,
                "instanceType": "t3.micro",
                "kernelId": None,
                "pendingTime": rfc3339(time.time() - 600),
                "privateIp": "172.31.16.10",
                "ramdiskId": None,
                "region": a.region,
                "version": "2017-09-30",
            }
            # AWS's layout: two-space indent, " : " between name and value
            doc = json.dumps(d, indent=2, separators=(",", " : ")).encode()
        der = sign(doc, key, cert, tmp, not a.no_signer_cert)
        served = doc
        if a.tamper == "document":
            served = flip_one(doc, a.instance_id.encode())
        elif a.tamper == "content":
            der = flip_one(der, a.instance_id.encode())
        b64 = base64.b64encode(der).decode()
        self.document = served
        self.rsa2048 = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)).encode()
        self.interfaces = []        # [(mac, [ipv6...])]
        for spec in a.interface or ["0e:1a:2b:3c:4d:5e"]:
            mac, _, v6 = spec.partition("=")
            self.interfaces.append((mac, [x for x in v6.split(",") if x]))
        self.raw = {}
        for r in a.raw:
            k, _, v = r.partition("=")
            self.raw[k] = v.encode()

    def creds(self):
        """The role's credentials of the current rotation period: the same for every request
        in one period, new ones in the next."""
        rot = self.a.creds_rotate
        n = int(time.time() // rot)
        h = hashlib.sha256(self.seed + str(n).encode()).digest()
        alnum = base64.b32encode(h).decode().rstrip("=")
        start = n * rot
        return {
            "Code": "Success",
            "LastUpdated": rfc3339(start),
            "Type": "AWS-HMAC",
            "AccessKeyId": "ASIA" + alnum[:16],
            "SecretAccessKey": base64.b64encode(hashlib.sha256(h + b"s").digest())[:40].decode(),
            "Token": base64.b64encode(hashlib.sha512(h + b"t").digest() * 12).decode(),
            "Expiration": rfc3339(start + 2 * rot),
        }

    def tree(self):
        """Relative path under /latest/ -> bytes (file) or None (directory)."""
        a = self.a
        t = {
            "meta-data/ami-id": b"ami-0abcdef1234567890",
            "meta-data/instance-id": a.instance_id.encode(),
            "meta-data/instance-type": b"t3.micro",
            "meta-data/local-ipv4": b"172.31.16.10",
            "meta-data/mac": self.interfaces[0][0].encode(),
            "meta-data/placement/region": a.region.encode(),
            "meta-data/placement/availability-zone":
                (a.az if a.az is not None else a.region + "a").encode(),
            "dynamic/instance-identity/document": self.document,
            "dynamic/instance-identity/rsa2048": self.rsa2048,
        }
        if a.public_ipv4:
            t["meta-data/public-ipv4"] = a.public_ipv4.encode()
        for i, (mac, v6) in enumerate(self.interfaces):
            base = "meta-data/network/interfaces/macs/" + mac + "/"
            t[base + "device-number"] = str(i).encode()
            t[base + "mac"] = mac.encode()
            t[base + "local-ipv4s"] = ("172.31.16.%d" % (10 + i)).encode()
            if v6:
                t[base + "ipv6s"] = "\n".join(v6).encode()
        if a.role:
            t["meta-data/iam/info"] = json.dumps({
                "Code": "Success", "LastUpdated": rfc3339(time.time()),
                "InstanceProfileArn": "arn:aws:iam::%s:instance-profile/%s" %
                                      (a.account_id, a.role),
                "InstanceProfileId": "AIPAEXAMPLEPROFILEID"}, indent=2).encode()
            t["meta-data/iam/security-credentials/" + a.role] = \
                json.dumps(self.creds(), indent=2, separators=(",", " : ")).encode()
        t.update(self.raw)
        return t

    def lookup(self, rel):
        """(status, body) for GET /latest/<rel>."""
        t = self.tree()
        key = rel.rstrip("/")
        if key in t:
            return 200, t[key]
        prefix = key + "/" if key else ""
        kids = []
        for p in sorted(t):
            if p.startswith(prefix):
                head, sep, _ = p[len(prefix):].partition("/")
                e = head + ("/" if sep else "")
                if e not in kids:
                    kids.append(e)
        if kids:
            return 200, "\n".join(kids).encode()
        return 404, None

    def new_token(self, ttl):
        tok = base64.b64encode(os.urandom(42)).decode()
        with self.lock:
            now = time.monotonic()
            self.tokens = {k: v for k, v in self.tokens.items() if v > now}
            self.tokens[tok] = now + ttl
        return tok

    def token_state(self, tok):
        if tok is None:
            return "missing"
        with self.lock:
            exp = self.tokens.get(tok)
        return "valid" if exp is not None and exp > time.monotonic() else "invalid"

    def forget_tokens(self, *_):
        with self.lock:
            self.tokens.clear()


NOT_FOUND = (b'<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html>\n<html>'
             b'<head><title>404 - Not Found</title></head><body><h1>404 - Not Found</h1>'
             b'</body></html>\n')


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "EC2ws"
    sys_version = ""
    st = None
    logf = None
    loglock = threading.Lock()

    def log_message(self, *a):
        pass

    def note(self, status, tok):
        if self.logf is not None:
            with self.loglock:
                self.logf.write("%s %s %d token=%s\n" % (self.command, self.path, status, tok))
                self.logf.flush()

    def reply(self, status, body=None, headers=()):
        body = body or b""
        if self.st.a.delay > 0 and self.path.startswith(self.st.a.delay_path or "/"):
            time.sleep(self.st.a.delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass                # the client gave up (timeout): nothing to do

    def drain(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 0:
            self.rfile.read(min(n, 65536))

    def failing(self):
        return any(f == "all" or self.path.startswith(f) for f in self.st.a.fail_500)

    def do_PUT(self):
        self.drain()
        if self.path != "/latest/api/token":
            self.note(405, "-")
            return self.reply(405)
        if self.st.a.refuse_tokens:
            self.note(self.st.a.refuse_tokens, "-")
            return self.reply(self.st.a.refuse_tokens)
        if self.failing():
            self.note(500, "-")
            return self.reply(500)
        ttl = self.headers.get(TTL_HEADER)
        if ttl is None or not ttl.strip().isdigit() or not 1 <= int(ttl) <= TTL_MAX:
            self.note(400, "-")
            return self.reply(400)
        ttl = int(ttl)
        tok = self.st.new_token(ttl)
        self.note(200, "-")
        self.reply(200, tok.encode(), [(TTL_HEADER, str(ttl))])

    def do_GET(self):
        tok = self.st.token_state(self.headers.get(TOKEN_HEADER))
        path = self.path.split("?", 1)[0]
        if path == "/latest/api/token":
            self.note(405, tok)
            return self.reply(405)
        if tok != "valid":
            self.note(401, tok)
            return self.reply(401)
        if self.failing():
            self.note(500, tok)
            return self.reply(500)
        if not path.startswith("/latest/"):
            status, body = (200, b"latest") if path in ("/", "") else (404, NOT_FOUND)
        else:
            status, body = self.st.lookup(path[len("/latest/"):])
            if status == 404:
                body = NOT_FOUND
        self.note(status, tok)
        self.reply(status, body)

    def refuse(self):
        self.drain()
        self.note(405, "-")
        self.reply(405)

    do_POST = do_DELETE = do_PATCH = refuse


def main(argv):
    a = parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="imds-emu.")
    srv = None
    try:
        st = State(a, tmp)
        Handler.st = st
        if a.log:
            Handler.logf = open(a.log, "a")
        srv = http.server.ThreadingHTTPServer((a.listen, a.port), Handler)
        srv.daemon_threads = True
        signal.signal(signal.SIGUSR1, st.forget_tokens)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        if a.ready_file:
            with open(a.ready_file + ".tmp", "w") as f:
                f.write("%d\n" % srv.server_address[1])
            os.replace(a.ready_file + ".tmp", a.ready_file)
        srv.serve_forever(poll_interval=0.1)
    finally:
        if srv is not None:
            srv.server_close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
