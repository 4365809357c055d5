#!/usr/bin/python3
"""A local Cloudflare API v4 (the zone and DNS-record calls an ACME client makes) for tests,
with API-token checks, and its TXT/CNAME records mirrored into a pebble-challtestsrv so that
Pebble's DNS-01 validation sees them.

Served under /client/v4 (every answer is the v4 envelope {"success","errors","messages",
"result"[,"result_info"]}, errors as {"code","message"[,"error_chain"]}):
  GET    /user/tokens/verify                      the token's id and status
  GET    /zones?name=&status=&account.id=&page=&per_page=&order=&direction=&match=
                                                  only the zones the token may read
  GET    /zones/{zone_id}
  GET    /zones/{zone_id}/dns_records?type=&name=&content=&page=&per_page=&order=&direction=
         &match=  (name/content also as name.exact, name.contains, name.startswith,
         name.endswith, content.exact, content.contains …; names compared without case)
  POST   /zones/{zone_id}/dns_records             {"type","name","content","ttl"?,"proxied"?,
         "comment"?}; a name not ending in the zone is taken relative to it ("@" = apex);
         ttl 1 (automatic) or 60..86400; TXT content <= 2048 chars, each quoted string <= 255
  GET | PUT | PATCH | DELETE  /zones/{zone_id}/dns_records/{id}
Errors, as Cloudflare answers them (HTTP status, code, message):
  no credentials                       400   9106 Missing X-Auth-Key, X-Auth-Email or
                                             Authorization headers
  Authorization not "Bearer <token>" with a token of 40+ characters [A-Za-z0-9_-]
                                       400   6003 Invalid request headers
                                             (error_chain 6111 Invalid format for
                                             Authorization header)
  unknown / expired / disabled token   403  10000 Authentication error
                                       (401 1000 Invalid API Token on /user/tokens/verify)
  malformed zone or record id          400   7003 Could not route to …, perhaps your object
                                             identifier is invalid? + 7000 No route for that URI
  a zone the token is not scoped to, or no such zone
                                       403   9109 Unauthorized to access requested resource
  a write with a token without DNS edit 403 10000 Authentication error
  identical record (type, name, content) 400 81058 An identical record already exists.
  CNAME next to other records          400  81053 / 81054
  bad TTL / type / name / content      400   1004 DNS Validation Error (+ error_chain)
  no such record                       404  81044 Record does not exist.
  rate limited (on demand)             429    971 Please wait and consider throttling your
                                             request speed (+ Retry-After)
The legacy X-Auth-Email + X-Auth-Key (global API key, all zones) is accepted for keys given
with --global-key (bad formats: 6003 with 6102/6103; unknown pair: 403 9103).

Configuration
  --zone NAME[,id=HEX32][,status=active|pending]   (repeatable) default id: md5(name)
  --token TOKEN[=ZONE+ZONE…][,read]  (repeatable) an API token with Zone:Read and DNS:Edit on
                                     all zones or on the listed zones; ",read": DNS:Read only
  --global-key EMAIL:KEY
  --config FILE   {"zones":[{"name","id"?,"status"?}],"tokens":[{"token","zones":["*"|name…],
                  "dns_edit":true,"zone_read":true,"status":"active","expires_on":"…Z"?}],
                  "global_keys":[{"email","key"}]}
  --listen ADDR (127.0.0.1) --port N (0: any; to --ready-file)  --tls-cert PEM --tls-key PEM
  --challtestsrv URL           pebble-challtestsrv management URL to mirror into
  --propagation-delay S        a change reaches the DNS S seconds after the API answered (0)
  --rate-limit N               the first N API requests get 429
  --log FILE                   one line per request
Control API (no authentication, JSON, same listener):
  GET  /_emu/records[?zone=NAME|ID]   zones and their records
  GET  /_emu/requests[?since=N]       API requests seen (method, path, status, codes, token
                                      id); "next" is the N for the next call
  GET  /_emu/mirror   GET /_emu/state
  POST /_emu/ratelimit {"n":3,"retry_after":30}   the next 3 API requests get 429 code 971
  POST /_emu/fail {"n":1,"status":500,"code":…,"message":…}   any error, next n requests
  POST /_emu/config {"propagation_delay":S}
  POST /_emu/tokens {"token","zones":[…],"dns_edit":bool,"zone_read":bool} (or {"remove":T})
  POST /_emu/reset                    no records, counters cleared, the mirror rewritten

usage: cloudflare_emu.py --zone jfe.test --token T [--tls-cert C --tls-key K]
                         [--challtestsrv http://10.77.0.3:8055] [--listen A --port N] …
"""
import argparse
import hashlib
import http.server
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from urllib.parse import unquote

sys.dont_write_bytecode = True      # no __pycache__ left in tests/tools
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emu_common  # noqa: E402

PREFIX = "/client/v4"
TYPES = {"A", "AAAA", "CAA", "CERT", "CNAME", "DNSKEY", "DS", "HTTPS", "LOC", "MX", "NAPTR",
         "NS", "OPENPGPKEY", "PTR", "SMIMEA", "SRV", "SSHFP", "SVCB", "TLSA", "TXT", "URI"}
PROXIABLE = {"A", "AAAA", "CNAME"}
HEX32 = re.compile(r"^[0-9a-f]{32}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{40,}$")
MAX_BODY = 1 << 20


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def parse_iso(s):
    import calendar
    return calendar.timegm(time.strptime(s.strip().split(".")[0].rstrip("Z") + "Z",
                                         "%Y-%m-%dT%H:%M:%SZ"))


class CfError(Exception):
    def __init__(self, status, errors, headers=()):
        super().__init__(str(errors))
        self.status, self.errors, self.headers = status, errors, list(headers)


def err(status, code, message, chain=None, headers=()):
    e = {"code": code, "message": message}
    if chain:
        e["error_chain"] = [{"code": c, "message": m} for c, m in chain]
    return CfError(status, [e], headers)


def validation(code, message):
    return err(400, 1004, "DNS Validation Error", [(code, message)])


def txt_strings(content):
    """The character-strings of quoted TXT content ('"a" "b"'), else None (unquoted)."""
    s = content.strip()
    if not s.startswith('"'):
        return None
    out, i = [], 0
    while i < len(s):
        if s[i] in " \t":
            i += 1
            continue
        if s[i] != '"':
            return None
        i += 1
        buf, closed = bytearray(), False
        while i < len(s):
            c = s[i]
            if c == "\\" and i + 1 < len(s):
                if len(s[i + 1:i + 4]) == 3 and s[i + 1:i + 4].isdigit():
                    buf.append(int(s[i + 1:i + 4]) & 0xFF)
                    i += 4
                else:
                    buf += s[i + 1].encode()
                    i += 2
                continue
            if c == '"':
                closed = True
                i += 1
                break
            buf += c.encode()
            i += 1
        if not closed:
            return None
        out.append(bytes(buf))
    return out


def dns_value(rtype, content):
    """What a resolver sees for one record (TXT: the strings concatenated)."""
    if rtype == "TXT":
        ss = txt_strings(content)
        return b"".join(ss).decode("utf-8", "replace") if ss is not None else content
    return content


class Zone:
    def __init__(self, name, zid=None, status="active"):
        self.name = name.strip().rstrip(".").lower()
        self.id = zid or hashlib.md5(self.name.encode()).hexdigest()
        if not HEX32.match(self.id):
            raise SystemExit("cloudflare_emu: zone id must be 32 hex digits: %s" % self.id)
        self.status = status
        self.created = time.time()
        self.records = {}       # id -> record dict (insertion order)

    def json(self, perms):
        t = iso(self.created)
        return {"id": self.id, "name": self.name, "status": self.status, "paused": False,
                "type": "full", "development_mode": 0,
                "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
                "original_name_servers": None, "original_registrar": None,
                "original_dnshost": None, "modified_on": t, "created_on": t, "activated_on": t,
                "meta": {"step": 2, "custom_certificate_quota": 0, "page_rule_quota": 3,
                         "phishing_detected": False},
                "owner": {"id": None, "type": "user", "email": None},
                "account": {"id": "0123456789abcdef0123456789abcdef", "name": "jfe tests"},
                "tenant": {"id": None, "name": None}, "tenant_unit": {"id": None},
                "permissions": perms,
                "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website",
                         "price": 0, "currency": "USD", "frequency": "", "is_subscribed": False,
                         "can_subscribe": False, "legacy_id": "free",
                         "legacy_discount": False, "externally_managed": False}}


class Token:
    def __init__(self, token, zones=("*",), dns_edit=True, zone_read=True, status="active",
                 expires_on=None):
        self.token = token
        self.id = hashlib.md5(("tok|" + token).encode()).hexdigest()
        self.zones = [z.rstrip(".").lower() for z in zones]
        self.dns_edit, self.zone_read = bool(dns_edit), bool(zone_read)
        self.status = status
        self.expires_on = parse_iso(expires_on) if isinstance(expires_on, str) else expires_on

    def valid(self):
        return self.status == "active" and (self.expires_on is None or
                                            time.time() < self.expires_on)

    def covers(self, zone):
        return "*" in self.zones or zone.name in self.zones

    def perms(self):
        p = []
        if self.dns_edit:
            p += ["#dns_records:edit", "#dns_records:read"]
        else:
            p += ["#dns_records:read"]
        if self.zone_read:
            p.append("#zone:read")
        return p


class State(emu_common.RequestLog):
    def __init__(self, a, zones, tokens, gkeys):
        self.a = a
        self.lock = threading.RLock()
        self.zones = {z.id: z for z in zones}
        self.tokens = {t.token: t for t in tokens}
        self.gkeys = gkeys          # {(email, key)}
        self.ratelimit = emu_common.Counter()
        self.ratelimit.set(a.rate_limit, {"retry_after": 30})
        self.fail = emu_common.Counter()
        self.delay = a.propagation_delay
        self.seq = 0
        emu_common.RequestLog.__init__(self, a.log, a.challtestsrv)

    def note(self, rec):
        emu_common.RequestLog.note(self, rec)
        self.logline("%s %s %d %s token=%s" % (rec["method"], rec["path"], rec["status"],
                                               ",".join(str(c) for c in rec.get("codes", []))
                                               or "-", rec.get("token_id") or "-"))

    def zone_of(self, name):
        best = None
        for z in self.zones.values():
            if (name == z.name or name.endswith("." + z.name)) and \
                    (best is None or len(z.name) > len(best.name)):
                best = z
        return best

    def mirror_state(self, name):
        z = self.zone_of(name)
        txt, cname = [], None
        if z is not None:
            for r in z.records.values():
                if r["name"] != name:
                    continue
                if r["type"] == "TXT":
                    txt.append(dns_value("TXT", r["content"]))
                elif r["type"] == "CNAME":
                    cname = r["content"].rstrip(".").lower() + "."
        return txt, cname

    def changed(self, names):
        """Called with the lock held after a change: schedule the mirror of <names>."""
        self.seq += 1
        seq = self.seq
        snap = {n + ".": self.mirror_state(n) for n in names}

        def go():
            for n, (txt, cname) in sorted(snap.items()):
                self.mirror.apply(seq, n, txt, cname)
        if self.delay > 0:
            t = threading.Timer(self.delay, go)
            t.daemon = True
            t.start()
            return None
        return go


def split_query(q):
    out = []
    for part in (q or "").split("&"):
        if part:
            k, _, v = part.partition("=")
            out.append((unquote(k.replace("+", " ")), unquote(v.replace("+", " "))))
    return out


def match(op, have, want):
    h, w = have.lower(), want.lower()
    return {"exact": h == w, "contains": w in h, "startswith": h.startswith(w),
            "endswith": h.endswith(w)}.get(op, False)


def page_of(items, qs, default, lo, hi):
    try:
        page = max(1, int(qs.get("page", 1)))
        per = int(qs.get("per_page", default))
    except ValueError:
        raise err(400, 1001, "Invalid pagination parameters")
    per = min(max(per, lo), hi)
    total = len(items)
    chunk = items[(page - 1) * per:page * per]
    info = {"page": page, "per_page": per, "count": len(chunk), "total_count": total,
            "total_pages": (total + per - 1) // per if total else 0}
    return chunk, info


class CfHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""
    st = None

    def log_message(self, *a):
        pass

    def read_body(self):
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            out = bytearray()
            while True:
                n = int(self.rfile.readline(100).split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(1000) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(n)
                self.rfile.readline(10)
                if len(out) > MAX_BODY:
                    raise ValueError("too large")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("too large")
        return self.rfile.read(n) if n > 0 else b""

    def send_json(self, status, obj, extra=()):
        body = json.dumps(obj).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store, no-cache, must-revalidate, "
                             "post-check=0, pre-check=0")
            self.send_header("CF-RAY", uuid.uuid4().hex[:16] + "-EMU")
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def handle_any(self):
        raw = self.path
        path, _, query = raw.partition("?")
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return self.send_json(400, {"success": False, "errors": [
                {"code": 6007, "message": "Malformed JSON in request body"}], "messages": [],
                "result": None})
        if path.startswith("/_emu/"):
            return self.control(path, query, body)
        self.api(raw, path, query, body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

    # ---------------------------------------------------------- auth
    def authenticate(self):
        """The Token (or "global") the request carries; raises CfError."""
        st = self.st
        auth = self.headers.get("Authorization")
        email, key = self.headers.get("X-Auth-Email"), self.headers.get("X-Auth-Key")
        if auth is not None:
            m = re.match(r"^Bearer\s+(\S+)\s*$", auth)
            if not m or not TOKEN_RE.match(m.group(1)):
                raise err(400, 6003, "Invalid request headers",
                          [(6111, "Invalid format for Authorization header")])
            with st.lock:
                t = st.tokens.get(m.group(1))
            if t is None or not t.valid():
                return None
            return t
        if email is not None or key is not None:
            chain = []
            if email is None or not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
                chain.append((6102, "Invalid format for X-Auth-Email header"))
            if key is None or not re.match(r"^[0-9a-f]{37}$", key):
                chain.append((6103, "Invalid format for X-Auth-Key header"))
            if chain:
                raise err(400, 6003, "Invalid request headers", chain)
            if (email.lower(), key) not in st.gkeys:
                raise err(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")
            return Token("global:" + email, ("*",), True, True)
        raise err(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")

    # ---------------------------------------------------------- API
    def api(self, raw, path, query, body):
        st = self.st
        rec = {"time": time.time(), "method": self.command, "path": raw}
        qs = split_query(query)
        try:
            f = st.fail.take()
            if f is not None:
                raise err(int(f.get("status", 500)), int(f.get("code", 10001)),
                          f.get("message", "injected failure"))
            r = st.ratelimit.take()
            if r is not None:
                ra = int(r.get("retry_after", 30)) if isinstance(r, dict) else 30
                raise err(429, 971, "Please wait and consider throttling your request speed",
                          headers=[("Retry-After", str(ra))])
            if not path.startswith(PREFIX + "/"):
                raise err(400, 7003, "Could not route to %s, perhaps your object identifier "
                          "is invalid?" % path, None)
            tok = self.authenticate()
            sub = path[len(PREFIX):].rstrip("/")
            if sub == "/user/tokens/verify" and self.command in ("GET", "HEAD"):
                if tok is None:
                    raise err(401, 1000, "Invalid API Token")
                rec["token_id"] = tok.id
                out = {"success": True, "errors": [], "result": {"id": tok.id, "status": "active"},
                       "messages": [{"code": 10000, "message": "This API Token is valid and "
                                     "active", "type": None}]}
                return self.done(rec, 200, out)
            if tok is None:
                raise err(403, 10000, "Authentication error")
            rec["token_id"] = tok.id
            status, out = self.dispatch(tok, sub, qs, body)
            self.done(rec, status, out)
        except CfError as e:
            rec["codes"] = [x["code"] for x in e.errors]
            st.note(dict(rec, status=e.status))
            self.send_json(e.status, {"success": False, "errors": e.errors, "messages": [],
                                      "result": None}, e.headers)

    def done(self, rec, status, out):
        self.st.note(dict(rec, status=status))
        self.send_json(status, out)

    def route_error(self, sub):
        return CfError(400, [{"code": 7003, "message": "Could not route to %s, perhaps your "
                              "object identifier is invalid?" % sub},
                             {"code": 7000, "message": "No route for that URI"}])

    def zone_for(self, tok, zid, sub):
        if not HEX32.match(zid):
            raise self.route_error(sub)
        with self.st.lock:
            z = self.st.zones.get(zid)
        if z is None or not tok.covers(z):
            raise err(403, 9109, "Unauthorized to access requested resource")
        return z

    def dispatch(self, tok, sub, qs, body):
        parts = sub.split("/")[1:]
        m = "GET" if self.command == "HEAD" else self.command
        if parts == ["zones"] and m == "GET":
            return self.list_zones(tok, dict(qs))
        if len(parts) >= 2 and parts[0] == "zones":
            z = self.zone_for(tok, parts[1], sub)
            if len(parts) == 2 and m == "GET":
                if not tok.zone_read:
                    raise err(403, 9109, "Unauthorized to access requested resource")
                return 200, {"success": True, "errors": [], "messages": [],
                             "result": z.json(tok.perms())}
            if len(parts) >= 3 and parts[2] == "dns_records":
                if len(parts) == 3 and m == "GET":
                    return self.list_records(z, qs)
                if len(parts) == 3 and m == "POST":
                    self.need_edit(tok)
                    return self.create(z, body)
                if len(parts) == 4:
                    rid = parts[3]
                    if not HEX32.match(rid):
                        raise self.route_error(sub)
                    if m == "GET":
                        return 200, self.ok(self.record(z, rid))
                    if m in ("PUT", "PATCH"):
                        self.need_edit(tok)
                        return self.update(z, rid, body, m == "PATCH")
                    if m == "DELETE":
                        self.need_edit(tok)
                        return self.delete(z, rid)
        raise self.route_error(sub)

    def need_edit(self, tok):
        if not tok.dns_edit:
            raise err(403, 10000, "Authentication error")

    @staticmethod
    def ok(result, info=None):
        out = {"success": True, "errors": [], "messages": [], "result": result}
        if info is not None:
            out["result_info"] = info
        return out

    # ---------------------------------------------------------- zones
    def list_zones(self, tok, qs):
        st = self.st
        with st.lock:
            zs = [z for z in st.zones.values() if tok.zone_read and tok.covers(z)]
        name = qs.get("name")
        if name is not None:
            op, _, val = name.partition(":") if re.match(r"^(contains|starts_with|ends_with|"
                                                         r"equal|not_equal):", name) \
                else ("equal", "", name)
            opm = {"equal": "exact", "starts_with": "startswith", "ends_with": "endswith",
                   "contains": "contains"}
            if op == "not_equal":
                zs = [z for z in zs if z.name != val.lower()]
            else:
                zs = [z for z in zs if match(opm[op], z.name, val)]
        if "status" in qs:
            zs = [z for z in zs if z.status == qs["status"]]
        if "account.id" in qs:
            zs = [z for z in zs if qs["account.id"] == "0123456789abcdef0123456789abcdef"]
        order = qs.get("order")
        if order in ("name", "status"):
            zs.sort(key=lambda z: getattr(z, order), reverse=qs.get("direction") == "desc")
        chunk, info = page_of(zs, qs, 20, 5, 50)
        return 200, self.ok([z.json(tok.perms()) for z in chunk], info)

    # ---------------------------------------------------------- records
    def record(self, z, rid):
        with self.st.lock:
            r = z.records.get(rid)
        if r is None:
            raise err(404, 81044, "Record does not exist.")
        return dict(r)

    def list_records(self, z, qs):
        filters = []
        d = {}
        for k, v in qs:
            d[k] = v
            base, _, op = k.partition(".")
            if base in ("name", "content") and (op in ("", "exact", "contains", "startswith",
                                                       "endswith")):
                # names are kept without the trailing dot: "x.test." matches nothing
                filters.append((base, op or "exact", v))
            elif k == "type":
                filters.append(("type", "exact", v))
        anymatch = d.get("match", "all") == "any"
        with self.st.lock:
            recs = [dict(r) for r in z.records.values()]

        def ok(r):
            res = [match(op, str(r[f]), w) for f, op, w in filters]
            return any(res) if anymatch and res else all(res)
        recs = [r for r in recs if ok(r)]
        order = d.get("order")
        if order in ("type", "name", "content", "ttl", "proxied"):
            recs.sort(key=lambda r: r[order], reverse=d.get("direction") == "desc")
        chunk, info = page_of(recs, d, 100, 5, 5000000)
        return 200, self.ok(chunk, info)

    def parse(self, z, body, cur=None):
        try:
            req = json.loads(body or b"null")
        except ValueError:
            raise err(400, 9207, "Request body is invalid.")
        if not isinstance(req, dict):
            raise err(400, 9207, "Request body is invalid.")
        new = dict(cur) if cur else {}
        for k in ("type", "name", "content", "ttl", "proxied", "comment", "tags"):
            if k in req:
                new[k] = req[k]
        rtype = new.get("type")
        if not isinstance(rtype, str) or rtype.upper() not in TYPES:
            raise validation(9020, "Invalid DNS record type")
        rtype = new["type"] = rtype.upper()
        name = new.get("name")
        if not isinstance(name, str) or not name.strip():
            raise validation(9005, "DNS name is invalid.")
        name = name.strip().rstrip(".").lower()
        if name == "@":
            name = z.name
        elif not (name == z.name or name.endswith("." + z.name)):
            name = name + "." + z.name
        if not re.match(r"^[a-z0-9_*.\-]+$", name) or ".." in name or len(name) > 255:
            raise validation(9005, "DNS name is invalid.")
        new["name"] = name
        content = new.get("content")
        if not isinstance(content, str) or content == "":
            raise validation(9007, "Content for %s record is invalid." % rtype)
        if rtype == "TXT":
            if len(content) > 2048:
                raise validation(9100, "Content for TXT record is too long, must be 2048 "
                                       "characters or less.")
            ss = txt_strings(content)
            if ss is not None and any(len(s) > 255 for s in ss):
                raise validation(9100, "TXT record content has a character string longer than "
                                       "255 characters.")
        ttl = new.get("ttl", 1)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not (ttl == 1 or
                                                                    60 <= ttl <= 86400):
            raise validation(9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 "
                                   "for automatic.")
        new["ttl"] = ttl
        proxied = bool(new.get("proxied", False))
        if proxied and rtype not in PROXIABLE:
            raise validation(9004, "This record type cannot be proxied.")
        new["proxied"] = proxied
        return new

    def conflicts(self, z, new, rid=None):
        for r in z.records.values():
            if r["id"] == rid or r["name"] != new["name"]:
                continue
            if r["type"] == new["type"] and dns_value(r["type"], r["content"]) == \
                    dns_value(new["type"], new["content"]):
                raise err(400, 81058, "An identical record already exists.")
            if new["type"] == "CNAME":
                raise err(400, 81053, "An A, AAAA, or CNAME record with that host already "
                          "exists.")
            if r["type"] == "CNAME":
                raise err(400, 81054, "A CNAME record with that host already exists.")

    def create(self, z, body):
        new = self.parse(z, body)
        now = iso(time.time())
        rec = {"id": uuid.uuid4().hex, "zone_id": z.id, "zone_name": z.name,
               "name": new["name"], "type": new["type"], "content": new["content"],
               "proxiable": new["type"] in PROXIABLE, "proxied": new["proxied"],
               "ttl": new["ttl"], "settings": {},
               "meta": {"auto_added": False, "managed_by_apps": False,
                        "managed_by_argo_tunnel": False},
               "comment": new.get("comment"), "tags": new.get("tags") or [],
               "created_on": now, "modified_on": now}
        with self.st.lock:
            self.conflicts(z, rec)
            z.records[rec["id"]] = rec
            go = self.st.changed({rec["name"]})
        if go:
            go()
        return 200, self.ok(dict(rec))

    def update(self, z, rid, body, patch):
        with self.st.lock:
            cur = z.records.get(rid)
            if cur is None:
                raise err(404, 81044, "Record does not exist.")
            new = self.parse(z, body, cur if patch else None)
            rec = dict(cur)
            rec.update({k: new[k] for k in ("name", "type", "content", "ttl", "proxied")})
            rec["comment"] = new.get("comment", cur["comment"] if patch else None)
            rec["proxiable"] = rec["type"] in PROXIABLE
            rec["modified_on"] = iso(time.time())
            self.conflicts(z, rec, rid)
            z.records[rid] = rec
            go = self.st.changed({cur["name"], rec["name"]})
        if go:
            go()
        return 200, self.ok(dict(rec))

    def delete(self, z, rid):
        with self.st.lock:
            cur = z.records.pop(rid, None)
            if cur is None:
                raise err(404, 81044, "Record does not exist.")
            go = self.st.changed({cur["name"]})
        if go:
            go()
        return 200, self.ok({"id": rid})

    # ---------------------------------------------------------- control
    def control(self, path, query, body):
        st = self.st
        qs = dict(split_query(query))
        try:
            req = json.loads(body) if body.strip() else {}
        except ValueError:
            return self.send_json(400, {"error": "body is not JSON"})
        if self.command == "GET" and path == "/_emu/records":
            sel = qs.get("zone")
            with st.lock:
                out = [{"id": z.id, "name": z.name, "status": z.status,
                        "records": [dict(r) for r in z.records.values()]}
                       for z in st.zones.values() if sel in (None, z.id, z.name)]
            return self.send_json(200, {"zones": out})
        if self.command == "GET" and path == "/_emu/requests":
            since = int(qs.get("since", 0))
            with st.lock:
                out = [r for r in st.requests if r["n"] >= since]
                nxt = st.nreq
            return self.send_json(200, {"requests": out, "next": nxt})
        if self.command == "GET" and path == "/_emu/mirror":
            return self.send_json(200, st.mirror.status())
        if self.command == "GET" and path == "/_emu/state":
            with st.lock:
                out = {"ratelimit_left": st.ratelimit.left(), "fail_left": st.fail.left(),
                       "propagation_delay": st.delay, "zones": len(st.zones),
                       "requests": st.nreq,
                       "tokens": [{"id": t.id, "zones": t.zones, "dns_edit": t.dns_edit,
                                   "zone_read": t.zone_read} for t in st.tokens.values()]}
            return self.send_json(200, out)
        if self.command != "POST":
            return self.send_json(404, {"error": "no such control endpoint"})
        try:
            if path == "/_emu/ratelimit":
                st.ratelimit.set(int(req.get("n", 1)),
                                 {"retry_after": int(req.get("retry_after", 30))})
            elif path == "/_emu/fail":
                st.fail.set(int(req.get("n", 1)), {k: req[k] for k in
                                                   ("status", "code", "message") if k in req})
            elif path == "/_emu/config":
                with st.lock:
                    if "propagation_delay" in req:
                        st.delay = float(req["propagation_delay"])
            elif path == "/_emu/tokens":
                with st.lock:
                    if "remove" in req:
                        st.tokens.pop(req["remove"], None)
                    else:
                        t = Token(req["token"], req.get("zones", ["*"]),
                                  req.get("dns_edit", True), req.get("zone_read", True),
                                  req.get("status", "active"), req.get("expires_on"))
                        st.tokens[t.token] = t
            elif path == "/_emu/reset":
                with st.lock:
                    names = {n.rstrip(".") for n in st.mirror.status()["names"]}
                    for z in st.zones.values():
                        names.update(r["name"] for r in z.records.values())
                        z.records.clear()
                    st.ratelimit.set(0)
                    st.fail.set(0)
                    delay, st.delay = st.delay, 0
                    go = st.changed(names)
                    st.delay = delay
                if go:
                    go()
            else:
                return self.send_json(404, {"error": "no such control endpoint"})
        except (ValueError, KeyError, TypeError) as e:
            return self.send_json(400, {"error": str(e)})
        return self.send_json(200, {"ok": True})


def parse_args(argv):
    p = argparse.ArgumentParser(description="Cloudflare API v4 emulator for tests")
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ready-file")
    p.add_argument("--log")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--zone", action="append", default=[])
    p.add_argument("--token", action="append", default=[])
    p.add_argument("--global-key", action="append", default=[])
    p.add_argument("--config")
    p.add_argument("--challtestsrv")
    p.add_argument("--propagation-delay", type=float, default=0.0)
    p.add_argument("--rate-limit", type=int, default=0)
    a = p.parse_args(argv)
    if bool(a.tls_cert) != bool(a.tls_key):
        p.error("--tls-cert and --tls-key go together")
    return a


def load(a):
    doc = {}
    if a.config:
        with open(a.config) as f:
            doc = json.load(f)
    zones = [Zone(z["name"], z.get("id"), z.get("status", "active"))
             for z in doc.get("zones", [])]
    for spec in a.zone:
        parts = spec.split(",")
        kw = {}
        for x in parts[1:]:
            k, _, v = x.partition("=")
            if k not in ("id", "status"):
                raise SystemExit("cloudflare_emu: bad --zone option %r" % x)
            kw[k] = v
        zones.append(Zone(parts[0], kw.get("id"), kw.get("status", "active")))
    tokens = [Token(t["token"], t.get("zones", ["*"]), t.get("dns_edit", True),
                    t.get("zone_read", True), t.get("status", "active"), t.get("expires_on"))
              for t in doc.get("tokens", [])]
    for spec in a.token:
        ro = spec.endswith(",read")
        if ro:
            spec = spec[:-len(",read")]
        tok, _, zl = spec.partition("=")
        tokens.append(Token(tok, zl.split("+") if zl else ["*"], not ro, True))
    gkeys = {(g["email"].lower(), g["key"]) for g in doc.get("global_keys", [])}
    for spec in a.global_key:
        e, _, k = spec.partition(":")
        gkeys.add((e.lower(), k))
    return zones, tokens, gkeys


def main(argv):
    a = parse_args(argv)
    st = State(a, *load(a))
    CfHandler.st = st
    srv = emu_common.make_server(a.listen, a.port, CfHandler, a.tls_cert, a.tls_key)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    emu_common.write_ready(a.ready_file, srv.server_address[1])
    st.logline("listening on %s:%d (%s), %d zones, %d tokens, mirror %s" %
               (a.listen, srv.server_address[1], "https" if a.tls_cert else "http",
                len(st.zones), len(st.tokens), a.challtestsrv or "off"))
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
