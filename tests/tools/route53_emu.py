#!/usr/bin/python3
"""A local Amazon Route 53 API (REST/XML, API version 2013-04-01) for tests, with every
request's SigV4 signature verified, and the TXT/CNAME record sets of its public zones
mirrored into a pebble-challtestsrv so that Pebble's DNS-01 validation sees them.

Served (the real shapes; names lower-case with the trailing dot, '*' as \\052):
  GET  /2013-04-01/hostedzonesbyname?dnsname=&hostedzoneid=&maxitems=   ListHostedZonesByName
       (zones sorted by name with the labels reversed, then by Id; the page starts AT dnsname,
       so other zones follow an exact match; IsTruncated/NextDNSName/NextHostedZoneId)
  GET  /2013-04-01/hostedzone?marker=&maxitems=&hostedzonetype=         ListHostedZones
  GET  /2013-04-01/hostedzone/{Id}                                       GetHostedZone
  GET  /2013-04-01/hostedzonecount                                       GetHostedZoneCount
  GET  /2013-04-01/hostedzone/{Id}/rrset?name=&type=&identifier=&maxitems=
       ListResourceRecordSets (sorted the same way, then by type; starts FROM name/type)
  POST /2013-04-01/hostedzone/{Id}/rrset                                 ChangeResourceRecordSets
       CREATE / DELETE / UPSERT, applied in order to a working copy and committed only when
       every change is valid (a transaction): CREATE of an existing set, DELETE that does not
       repeat the set exactly (TTL and all values), a name outside the zone, TXT values that
       are not quoted strings of <= 255 bytes, duplicate values, CNAME conflicts, removing the
       apex SOA/NS -> InvalidChangeBatch with Route 53's messages. Answers ChangeInfo PENDING.
  GET  /2013-04-01/change/{Id}                                           GetChange
       PENDING until --insync-delay seconds after submission, then INSYNC (never, for a
       change submitted while "stuck").
Every API request must carry a valid AWS4-HMAC-SHA256 Authorization header for scope
<date>/us-east-1/route53/aws4_request; the emulator recomputes the signature with botocore's
SigV4Auth over the request as received (method, path, query, the headers named in
SignedHeaders, the body) and answers as AWS does:
  no Authorization                       403 MissingAuthenticationToken
  malformed / no X-Amz-Date / host unsigned   400 IncompleteSignature
  unknown access key, bad or missing session token (ASIA… keys)   403 InvalidClientTokenId
  credentials past their expiration      403 ExpiredToken
  wrong scope (date, region, service), X-Amz-Date more than --skew s (300) off,
  wrong signature                        403 SignatureDoesNotMatch (the last with the canonical
                                         request and string-to-sign AWS expected, as AWS does)
Errors are <ErrorResponse><Error><Type>Sender</Type><Code>…</Code><Message>…</Message></Error>
<RequestId>…</RequestId></ErrorResponse>. InvalidChangeBatch comes in that shape with the
messages as "[msg, msg]" (what Route 53 sends and what botocore/the AWS CLI parse), or, with
--invalid-change-batch root (or "alternate": root, error, root, …), as its own root element
<InvalidChangeBatch><Messages><Message>…</Message></Messages><RequestId>…</RequestId>, the
other shape Route 53 is known to send (AWS's Go SDKs parse it specially).

Configuration
  --zone NAME[,private][,id=ZID][,vpc=VPCID]  (repeatable) a hosted zone; each gets the apex
                                   SOA and NS record sets Route 53 creates
  --zones-json FILE                {"zones":[{"name","id"?,"private"?,"comment"?,"vpc"?,
                                   "records":[{"name","type","ttl","values":[…]}]?}],
                                   "credentials":[…]?}
  --key AKID:SECRET[:TOKEN]        (repeatable) accepted credentials; keys starting ASIA need
                                   a TOKEN (X-Amz-Security-Token)
  --credentials-json FILE          {"credentials":[{"access_key_id","secret_access_key",
                                   "session_token"?,"expiration"?: "…Z"}]}
  --listen ADDR (127.0.0.1) --port N (0: any; written to --ready-file)
  --tls-cert PEM --tls-key PEM     HTTPS (else plain HTTP)
  --challtestsrv URL               pebble-challtestsrv management URL to mirror into
  --mirror-on insync|accept        when a change becomes visible in DNS (default insync:
                                   when GetChange turns INSYNC; accept: before the answer)
  --mirror-private                 mirror private zones too (default: public zones only, the
                                   ones a public CA could see)
  --insync-delay S (1.0)  --skew S (300)  --rate-limit R (requests/s; 0 = off, the default;
                                   Route 53's own limit is 5/s per account)
  --throttle N                     the first N API requests get Throttling
  --stuck                          start in the mode where changes never reach INSYNC
  --log FILE                       one line per request
Control API (no authentication, JSON, same listener):
  GET  /_emu/records[?zone=NAME|ID]   zones and their record sets
  GET  /_emu/changes                  every change: id, status, submitted_at, names
  GET  /_emu/requests[?since=N]       the API requests seen: method, path, op, status, code,
                                      access_key; "next" is the N for the next call
  GET  /_emu/mirror                   what was written into challtestsrv, errors
  GET  /_emu/state                    counters and modes
  POST /_emu/throttle {"n":3}         the next 3 API requests: 400 Throttling "Rate exceeded"
  POST /_emu/fail {"n":1,"status":400,"code":"PriorRequestNotComplete","message":…,
                   "type":"Sender","ops":["ChangeResourceRecordSets"]}   any error, next n
                                      requests (of those operations when "ops" is given)
  POST /_emu/stuck {"on":true}        changes submitted from now on stay PENDING; {"on":false}
                                      releases them (INSYNC --insync-delay later)
  POST /_emu/config {"insync_delay":S,"skew":S,"rate_limit":R,"invalid_change_batch":…,
                     "mirror_on":…}
  POST /_emu/credentials {"access_key_id","secret_access_key","session_token"?,
                          "expiration"?}  add (or {"remove":"AKID"})
  POST /_emu/reset                    every zone back to its configured records, no changes,
                                      counters and modes cleared, the mirror rewritten

usage: route53_emu.py --zone jfe.test --key AKID:SECRET [--tls-cert C --tls-key K]
                      [--challtestsrv http://10.77.0.3:8055] [--listen A --port N] …
"""
import argparse
import base64
import calendar
import hashlib
import http.server
import ipaddress
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import unquote
from xml.sax.saxutils import escape as xesc

sys.dont_write_bytecode = True      # no __pycache__ left in tests/tools
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emu_common  # noqa: E402

try:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.compat import HTTPHeaders
    from botocore.credentials import Credentials
except ImportError:  # pragma: no cover
    sys.exit("route53_emu: needs botocore (Debian: apt-get install python3-botocore)")

NS = "https://route53.amazonaws.com/doc/2013-04-01/"
REGION, SERVICE = "us-east-1", "route53"
RR_TYPES = {"A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA",
            "SPF", "SRV", "SSHFP", "SVCB", "TLSA", "TXT"}
PUBLIC_NS = ["ns-2048.awsdns-64.com.", "ns-2049.awsdns-00.net.", "ns-2050.awsdns-01.org.",
             "ns-2051.awsdns-02.co.uk."]
PRIVATE_NS = ["ns-0.awsdns-00.com.", "ns-1024.awsdns-00.org.", "ns-512.awsdns-00.net.",
              "ns-1536.awsdns-00.co.uk."]
MAX_BODY = 1 << 20


def iso_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def amz(t):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


def parse_amz(s):
    if not re.fullmatch(r"\d{8}T\d{6}Z", s):
        raise ValueError(s)
    return calendar.timegm(time.strptime(s, "%Y%m%dT%H%M%SZ"))


def parse_iso(s):
    """2026-01-02T03:04:05Z, fractions of a second allowed"""
    return calendar.timegm(time.strptime(s.strip().split(".")[0].rstrip("Z") + "Z",
                                         "%Y-%m-%dT%H:%M:%SZ"))


def b32id(prefix, seed=None):
    raw = hashlib.sha256(seed.encode()).digest() if seed is not None else os.urandom(16)
    return prefix + "0" + base64.b32encode(raw).decode()[:19]


# ------------------------------------------------------------------ names
def norm_name(s):
    """A name as given in a request (escapes \\ddd allowed, any case, dot optional) ->
    the internal form: lower-case, trailing dot, escapes decoded."""
    s = s.strip()
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and len(s[i + 1:i + 4]) == 3 and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
            continue
        if c == "\\" and i + 1 < len(s):
            out.append(s[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    n = "".join(out).lower()
    if not n.endswith("."):
        n += "."
    return n


def out_name(n):
    """Route 53's presentation: a-z 0-9 - _ . as they are, anything else as \\ooo."""
    return "".join(c if re.match(r"[a-z0-9_.\-]", c) else "\\%03o" % ord(c) for c in n)


def sort_key(n):
    """Route 53 sorts by name with the labels reversed: www.example.com. -> com.example.www"""
    return ".".join(reversed(n.rstrip(".").split(".")))


def in_zone(name, zone):
    return name == zone or name.endswith("." + zone)


# ------------------------------------------------------------------ values
class BadValue(Exception):
    pass


def parse_txt(value):
    """The character-strings of one TXT/SPF value ('"a" "b"'), unescaped."""
    strings, i, n = [], 0, len(value)
    while i < n:
        if value[i] in " \t":
            i += 1
            continue
        if value[i] != '"':
            raise BadValue("InvalidCharacterString (Value should be enclosed in quotation marks)")
        i += 1
        buf = bytearray()
        closed = False
        while i < n:
            c = value[i]
            if c == "\\" and i + 1 < n:
                if value[i + 1:i + 4].isdigit() and len(value[i + 1:i + 4]) == 3:
                    buf.append(int(value[i + 1:i + 4], 8) & 0xFF)
                    i += 4
                    continue
                buf += value[i + 1].encode()
                i += 2
                continue
            if c == '"':
                closed = True
                i += 1
                break
            buf += c.encode()
            i += 1
        if not closed:
            raise BadValue("InvalidCharacterString (Value should be enclosed in quotation marks)")
        if len(buf) > 255:
            raise BadValue("CharacterStringTooLong (Value is too long)")
        strings.append(buf.decode("utf-8", "replace"))
        if i < n and value[i] not in " \t":
            raise BadValue("InvalidCharacterString (Value should be enclosed in quotation marks)")
    if not strings:
        raise BadValue("InvalidCharacterString (Value should be enclosed in quotation marks)")
    return strings


def check_value(rtype, v):
    if rtype in ("TXT", "SPF"):
        if len(v) > 4000:
            raise BadValue("TXTRDataTooLong (Value is too long)")
        parse_txt(v)
    elif rtype == "A":
        try:
            ipaddress.IPv4Address(v)
        except ValueError:
            raise BadValue("ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address)")
    elif rtype == "AAAA":
        try:
            ipaddress.IPv6Address(v)
        except ValueError:
            raise BadValue("AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address)")
    elif rtype in ("CNAME", "NS", "PTR"):
        if not v or " " in v.strip():
            raise BadValue("DomainLabelEmpty (Domain label is empty)" if not v
                           else "RRDATANotSingleField (Value contains spaces)")


# ------------------------------------------------------------------ state
class RRSet:
    OPT = ("SetIdentifier", "Weight", "Region", "Failover", "MultiValueAnswer", "HealthCheckId")

    def __init__(self, name, rtype, ttl=None, values=(), alias=None, opt=None):
        self.name, self.type, self.ttl = name, rtype, ttl
        self.values = tuple(values)
        self.alias = alias              # dict HostedZoneId, DNSName, EvaluateTargetHealth
        self.opt = dict(opt or {})

    def key(self):
        return (self.name, self.type, self.opt.get("SetIdentifier"))

    def same(self, o):
        return (self.key() == o.key() and self.ttl == o.ttl and
                sorted(self.values) == sorted(o.values) and self.alias == o.alias and
                self.opt == o.opt)

    def xml(self):
        p = ["<ResourceRecordSet><Name>%s</Name><Type>%s</Type>" %
             (xesc(out_name(self.name)), self.type)]
        for k in ("SetIdentifier", "Weight", "Region", "Failover", "MultiValueAnswer"):
            if k in self.opt:
                p.append("<%s>%s</%s>" % (k, xesc(str(self.opt[k])), k))
        if self.alias is None:
            p.append("<TTL>%d</TTL><ResourceRecords>" % self.ttl)
            for v in self.values:
                p.append("<ResourceRecord><Value>%s</Value></ResourceRecord>" % xesc(v))
            p.append("</ResourceRecords>")
        else:
            p.append("<AliasTarget><HostedZoneId>%s</HostedZoneId><DNSName>%s</DNSName>"
                     "<EvaluateTargetHealth>%s</EvaluateTargetHealth></AliasTarget>" %
                     (xesc(self.alias["HostedZoneId"]), xesc(out_name(self.alias["DNSName"])),
                      self.alias["EvaluateTargetHealth"]))
        if "HealthCheckId" in self.opt:
            p.append("<HealthCheckId>%s</HealthCheckId>" % xesc(self.opt["HealthCheckId"]))
        p.append("</ResourceRecordSet>")
        return "".join(p)

    def json(self):
        d = {"name": self.name, "type": self.type}
        if self.alias is None:
            d["ttl"] = self.ttl
            d["values"] = list(self.values)
        else:
            d["alias"] = self.alias
        d.update({k.lower(): v for k, v in self.opt.items()})
        return d


class Zone:
    def __init__(self, name, zid=None, private=False, comment=None, vpc=None, records=()):
        self.name = norm_name(name)
        self.private = bool(private)
        self.id = zid or b32id("Z", "%s|%s" % (self.name, self.private))
        self.comment = comment
        self.vpc = vpc or ("vpc-0a1b2c3d4e5f60718" if self.private else None)
        self.caller_ref = "jfe-emu-" + hashlib.sha1(self.id.encode()).hexdigest()[:12]
        nss = PRIVATE_NS if self.private else PUBLIC_NS
        base = [RRSet(self.name, "SOA", 900,
                      ["%s awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400" % nss[0]]),
                RRSet(self.name, "NS", 172800, nss)]
        for r in records:
            base.append(RRSet(norm_name(r["name"]), r["type"].upper(), int(r.get("ttl", 300)),
                              list(r["values"])))
        self.initial = {s.key(): s for s in base}
        self.rrsets = dict(self.initial)

    def sorted_sets(self):
        return sorted(self.rrsets.values(),
                      key=lambda s: (sort_key(s.name), s.type, s.opt.get("SetIdentifier") or ""))

    def xml(self):
        c = "<Comment>%s</Comment>" % xesc(self.comment) if self.comment else ""
        return ("<HostedZone><Id>/hostedzone/%s</Id><Name>%s</Name><CallerReference>%s"
                "</CallerReference><Config>%s<PrivateZone>%s</PrivateZone></Config>"
                "<ResourceRecordSetCount>%d</ResourceRecordSetCount></HostedZone>" %
                (self.id, xesc(out_name(self.name)), self.caller_ref, c,
                 "true" if self.private else "false", len(self.rrsets)))


class Change:
    def __init__(self, cid, comment, insync_at, seq, snapshot):
        self.id, self.comment, self.insync_at, self.seq = cid, comment, insync_at, seq
        self.snapshot = snapshot
        self.submitted = time.time()
        self.status = "PENDING"
        self.applying = False

    def xml(self):
        c = "<Comment>%s</Comment>" % xesc(self.comment) if self.comment is not None else ""
        return ("<ChangeInfo><Id>/change/%s</Id><Status>%s</Status><SubmittedAt>%s"
                "</SubmittedAt>%s</ChangeInfo>" % (self.id, self.status, iso_ms(self.submitted), c))


class ApiError(Exception):
    def __init__(self, status, code, message, etype="Sender"):
        super().__init__(message)
        self.status, self.code, self.message, self.etype = status, code, message, etype


class BatchError(Exception):
    def __init__(self, messages):
        super().__init__("; ".join(messages))
        self.messages = messages


class State(emu_common.RequestLog):
    def __init__(self, a, zones, creds):
        self.a = a
        self.lock = threading.RLock()
        self.zones = {z.id: z for z in zones}
        self.creds = creds          # akid -> {"secret","token","expiration"}
        self.changes = {}
        self.seq = 0
        self.stuck = a.stuck
        self.insync_delay = a.insync_delay
        self.skew = a.skew
        self.icb_style = a.invalid_change_batch
        self.icb_n = 0
        self.mirror_on = a.mirror_on
        self.throttle = emu_common.Counter()
        self.throttle.set(a.throttle)
        self.fail = emu_common.Counter()
        self.bucket = emu_common.Bucket(a.rate_limit)
        emu_common.RequestLog.__init__(self, a.log, a.challtestsrv)

    def note(self, rec):
        emu_common.RequestLog.note(self, rec)
        self.logline("%s %s %s %d %s key=%s" % (rec["method"], rec["path"], rec.get("op") or "-",
                                                 rec["status"], rec.get("code") or "-",
                                                 rec.get("access_key") or "-"))

    # -------------------------------------------------------------- mirror
    def mirror_state(self, name):
        """(txt values, cname) that the public DNS shows at <name>: from the most specific
        zone holding the name (public zones only, unless --mirror-private)."""
        best = None
        for z in self.zones.values():
            if z.private and not self.a.mirror_private:
                continue
            if in_zone(name, z.name) and (best is None or len(z.name) > len(best.name)):
                best = z
        txt, cname = [], None
        if best is not None:
            for s in best.sorted_sets():
                if s.name != name or s.alias is not None:
                    continue
                if s.type == "TXT":
                    for v in s.values:
                        try:
                            txt.append("".join(parse_txt(v)))
                        except BadValue:
                            pass
                elif s.type == "CNAME" and s.values:
                    cname = norm_name(s.values[0])
        return txt, cname

    def mirror_names(self, names, seq):
        return {n: self.mirror_state(n) for n in names}

    def apply_snapshot(self, seq, snap):
        for name, (txt, cname) in sorted(snap.items()):
            self.mirror.apply(seq, name, txt, cname)

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    # -------------------------------------------------------------- changes
    def submit(self, zone, changes, comment):
        """Validate and apply a batch; returns the Change. Raises BatchError/ApiError."""
        with self.lock:
            work = dict(zone.rrsets)
            msgs = []
            names = set()
            nrecords = sum(len(c[1].values) for c in changes)
            if nrecords > 1000:
                raise BatchError(["Number of records limit of 1000 exceeded."])
            for action, rr in changes:
                names.add(rr.name)
                if not in_zone(rr.name, zone.name):
                    msgs.append("RRSet with DNS name %s is not permitted in zone %s" %
                                (out_name(rr.name), out_name(zone.name)))
                    continue
                bad = False
                for v in rr.values:
                    try:
                        check_value(rr.type, v)
                    except BadValue as e:
                        msgs.append("Invalid Resource Record: 'FATAL problem: %s encountered "
                                    "with '%s''" % (e, v))
                        bad = True
                if len(set(rr.values)) != len(rr.values):
                    seen = set()
                    for v in rr.values:
                        if v in seen:
                            msgs.append("Duplicate Resource Record: '%s'" % v)
                            bad = True
                        seen.add(v)
                if rr.type == "CNAME" and len(rr.values) > 1:
                    msgs.append("RRSet of type CNAME with DNS name %s has more than one "
                                "resource record" % out_name(rr.name))
                    bad = True
                if bad:
                    continue
                k = rr.key()
                cur = work.get(k)
                what = "[name='%s', type='%s'%s]" % (
                    out_name(rr.name), rr.type,
                    ", set-identifier='%s'" % k[2] if k[2] is not None else "")
                if action == "CREATE":
                    if cur is not None:
                        msgs.append("Tried to create resource record set %s but it already "
                                    "exists" % what)
                        continue
                    work[k] = rr
                elif action == "DELETE":
                    if cur is None:
                        msgs.append("Tried to delete resource record set %s but it was not "
                                    "found" % what)
                        continue
                    if not cur.same(rr):
                        msgs.append("Tried to delete resource record set %s but the values "
                                    "provided do not match the current values" % what)
                        continue
                    if rr.name == zone.name and rr.type == "SOA":
                        msgs.append("A HostedZone must contain exactly one SOA record.")
                        continue
                    if rr.name == zone.name and rr.type == "NS":
                        msgs.append("A HostedZone must contain at least one NS record for the "
                                    "zone itself.")
                        continue
                    del work[k]
                else:  # UPSERT
                    if rr.name == zone.name and rr.type == "SOA" and cur is None:
                        msgs.append("A HostedZone must contain exactly one SOA record.")
                        continue
                    work[k] = rr
            # CNAME exclusivity, over the result
            types_at = {}
            for (n, t, _sid) in work:
                types_at.setdefault(n, set()).add(t)
            for n in sorted(names):
                ts = types_at.get(n, set())
                if "CNAME" in ts and n == zone.name:
                    msgs.append("RRSet of type CNAME with DNS name %s is not permitted at apex "
                                "in zone %s" % (out_name(n), out_name(zone.name)))
                elif "CNAME" in ts and len(ts) > 1:
                    other = sorted(ts - {"CNAME"})[0]
                    msgs.append("RRSet of type %s with DNS name %s is not permitted because a "
                                "conflicting RRSet of type %s with the same DNS name already "
                                "exists in zone %s" % (
                                    "CNAME" if any(rr.type == "CNAME" and rr.name == n
                                                   for _a, rr in changes) else other,
                                    out_name(n),
                                    other if any(rr.type == "CNAME" and rr.name == n
                                                 for _a, rr in changes) else "CNAME",
                                    out_name(zone.name)))
            if msgs:
                raise BatchError(msgs)
            zone.rrsets = work
            self.seq += 1
            seq = self.seq
            snap = self.mirror_names(names, seq)
            cid = b32id("C")
            ch = Change(cid, comment, None if self.stuck else time.time() + self.insync_delay,
                        seq, snap)
            self.changes[cid] = ch
            mirror_now = self.mirror_on == "accept"
        if mirror_now:
            self.apply_snapshot(seq, snap)
        return ch

    def tick(self):
        """Changes whose time has come: mirror (in insync mode) first, then INSYNC."""
        now = time.time()
        with self.lock:
            due = [c for c in self.changes.values()
                   if c.status == "PENDING" and not c.applying and c.insync_at is not None
                   and c.insync_at <= now]
            for c in due:
                c.applying = True
            mode = self.mirror_on
        for c in sorted(due, key=lambda c: c.seq):
            if mode == "insync":
                self.apply_snapshot(c.seq, c.snapshot)
            with self.lock:
                c.status = "INSYNC"
                c.applying = False

    def reset(self):
        with self.lock:
            names = set(self.mirror.status()["names"])
            for z in self.zones.values():
                names.update(s.name for s in z.rrsets.values())
                z.rrsets = dict(z.initial)
            self.changes.clear()
            self.stuck = False
            self.throttle.set(0)
            self.fail.set(0)
            self.seq += 1
            seq = self.seq
            snap = self.mirror_names(names, seq)
        self.apply_snapshot(seq, snap)


# ------------------------------------------------------------------ SigV4
class _Verifier(SigV4Auth):
    """botocore's signer, with the signed headers taken exactly from the request's
    SignedHeaders (as AWS does) instead of 'every header but a blacklist'."""

    def __init__(self, creds, signed, wire):
        super().__init__(creds, SERVICE, REGION)
        self._signed, self._wire = signed, wire

    def headers_to_sign(self, request):
        hm = HTTPHeaders()
        for name in self._signed:
            for v in self._wire.get_all(name) or []:
                hm[name] = v
        return hm


def split_query(q):
    out = []
    if q:
        for part in q.split("&"):
            if part == "":
                continue
            k, _, v = part.partition("=")
            out.append((unquote(k), unquote(v)))
    return out


def verify_sigv4(st, method, scheme, raw_path, headers, body):
    """Returns the access key id, or raises ApiError as AWS would answer."""
    auth = headers.get("Authorization")
    if auth is None:
        raise ApiError(403, "MissingAuthenticationToken", "Missing Authentication Token")
    m = re.match(r"^\s*(\S+)\s+(.*)$", auth, re.S)
    if not m or m.group(1) != "AWS4-HMAC-SHA256":
        alg = m.group(1) if m else auth.strip()
        raise ApiError(400, "IncompleteSignature",
                       "Unsupported AWS 'algorithm': '%s'" % alg if m else
                       "Authorization header requires 'Credential' parameter. Authorization "
                       "header requires 'Signature' parameter. Authorization header requires "
                       "'SignedHeaders' parameter. Authorization=%s" % auth)
    params = {}
    for part in m.group(2).split(","):
        k, eq, v = part.strip().partition("=")
        if eq:
            params[k.strip()] = v.strip()
    missing = [p for p in ("Credential", "Signature", "SignedHeaders") if p not in params]
    if missing:
        raise ApiError(400, "IncompleteSignature",
                       " ".join("Authorization header requires '%s' parameter." % p
                                for p in missing) + " Authorization=%s" % auth)
    xdate = headers.get("X-Amz-Date")
    if xdate is None:
        raise ApiError(400, "IncompleteSignature",
                       "Authorization header requires existence of either a 'X-Amz-Date' or a "
                       "'Date' header. Authorization=%s" % auth)
    try:
        t_req = parse_amz(xdate.strip())
    except ValueError:
        raise ApiError(400, "IncompleteSignature",
                       "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                       "http://en.wikipedia.org/wiki/ISO_8601" % xdate)
    signed = [h.strip().lower() for h in params["SignedHeaders"].split(";") if h.strip()]
    if "host" not in signed:
        raise ApiError(400, "IncompleteSignature",
                       "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                       "Authorization.")
    cparts = params["Credential"].split("/")
    if len(cparts) != 5:
        raise ApiError(400, "IncompleteSignature",
                       "Credential should have at least 5 slash-separated parts.")
    akid, cdate, cregion, cservice, cterm = cparts
    with st.lock:
        cred = st.creds.get(akid)
    if cred is None:
        raise ApiError(403, "InvalidClientTokenId",
                       "The security token included in the request is invalid.")
    tok = headers.get("X-Amz-Security-Token")
    if (cred.get("token") or None) != (tok.strip() if tok is not None else None):
        raise ApiError(403, "InvalidClientTokenId",
                       "The security token included in the request is invalid.")
    if cred.get("expiration") is not None and time.time() >= cred["expiration"]:
        raise ApiError(403, "ExpiredToken", "The security token included in the request is "
                       "expired")
    if cterm != "aws4_request":
        raise ApiError(403, "SignatureDoesNotMatch",
                       "Credential should be scoped with a valid terminator: 'aws4_request', "
                       "not '%s'. " % cterm)
    if cdate != xdate.strip()[:8]:
        raise ApiError(403, "SignatureDoesNotMatch",
                       "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
                       "of date from HTTP: '%s' != '%s', from '%s'." %
                       (cdate, xdate.strip()[:8], xdate.strip()))
    if cregion != REGION:
        raise ApiError(403, "SignatureDoesNotMatch",
                       "Credential should be scoped to a valid region, not '%s'. " % cregion)
    if cservice != SERVICE:
        raise ApiError(403, "SignatureDoesNotMatch",
                       "Credential should be scoped to correct service: '%s'. " % SERVICE)
    now = time.time()
    if t_req < now - st.skew:
        raise ApiError(403, "SignatureDoesNotMatch",
                       "Signature expired: %s is now earlier than %s (%s - %d min.)" %
                       (xdate.strip(), amz(now - st.skew), amz(now), st.skew // 60))
    if t_req > now + st.skew:
        raise ApiError(403, "SignatureDoesNotMatch",
                       "Signature not yet current: %s is still later than %s (%s + %d min.)" %
                       (xdate.strip(), amz(now + st.skew), amz(now), st.skew // 60))
    host = headers.get("Host") or "localhost"
    path, _, query = raw_path.partition("?")
    req = AWSRequest(method=method, url="%s://%s%s" % (scheme, host, path), data=body,
                     headers={}, params=split_query(query))
    req.context["timestamp"] = xdate.strip()
    v = _Verifier(Credentials(akid, cred["secret"], cred.get("token")), signed, headers)
    creq = v.canonical_request(req)
    sts = v.string_to_sign(req, creq)
    want = v.signature(sts, req)
    if want != params["Signature"]:
        raise ApiError(403, "SignatureDoesNotMatch",
                       "The request signature we calculated does not match the signature you "
                       "provided. Check your AWS Secret Access Key and signing method. Consult "
                       "the service documentation for details.\n\nThe Canonical String for this "
                       "request should have been\n'%s'\n\nThe String-to-Sign should have been\n"
                       "'%s'\n" % (creq, sts))
    return akid


# ------------------------------------------------------------------ request parsing
def q(tag):
    return "{%s}%s" % (NS, tag)


def xml_invalid(msg):
    return ApiError(400, "InvalidInput", "Invalid XML ; %s" % msg)


def text_of(el, tag, required=False, where=""):
    c = el.find(q(tag))
    if c is None:
        if required:
            raise xml_invalid("cvc-complex-type.2.4.a: Invalid content was found starting "
                              "with element '%s'. One of '{\"%s\":%s}' is expected." %
                              (where, NS, tag))
        return None
    return (c.text or "").strip()


def parse_change_request(body):
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise xml_invalid("%s" % e)
    if root.tag != q("ChangeResourceRecordSetsRequest"):
        raise xml_invalid("cvc-elt.1.a: Cannot find the declaration of element '%s'." %
                          root.tag.split("}")[-1])
    cb = root.find(q("ChangeBatch"))
    if cb is None:
        raise xml_invalid("cvc-complex-type.2.4.b: The content of element "
                          "'ChangeResourceRecordSetsRequest' is not complete. One of "
                          "'{\"%s\":ChangeBatch}' is expected." % NS)
    comment = text_of(cb, "Comment")
    chs = cb.find(q("Changes"))
    clist = chs.findall(q("Change")) if chs is not None else []
    if not clist:
        raise xml_invalid("cvc-complex-type.2.4.b: The content of element 'Changes' is not "
                          "complete. One of '{\"%s\":Change}' is expected." % NS)
    out = []
    for ch in clist:
        action = text_of(ch, "Action", True, "ResourceRecordSet")
        if action not in ("CREATE", "DELETE", "UPSERT"):
            raise xml_invalid("cvc-enumeration-valid: Value '%s' is not facet-valid with respect "
                              "to enumeration '[CREATE, DELETE, UPSERT]'. It must be a value "
                              "from the enumeration." % action)
        rs = ch.find(q("ResourceRecordSet"))
        if rs is None:
            raise xml_invalid("cvc-complex-type.2.4.b: The content of element 'Change' is not "
                              "complete. One of '{\"%s\":ResourceRecordSet}' is expected." % NS)
        name = text_of(rs, "Name", True, "Type")
        rtype = text_of(rs, "Type", True, "TTL")
        if rtype not in RR_TYPES:
            raise xml_invalid("cvc-enumeration-valid: Value '%s' is not facet-valid with respect "
                              "to enumeration '%s'. It must be a value from the enumeration." %
                              (rtype, "[" + ", ".join(sorted(RR_TYPES)) + "]"))
        opt = {}
        for k in RRSet.OPT:
            v = text_of(rs, k)
            if v is not None:
                opt[k] = v
        ttl = text_of(rs, "TTL")
        rrs = rs.find(q("ResourceRecords"))
        at = rs.find(q("AliasTarget"))
        values = []
        if rrs is not None:
            for r in rrs.findall(q("ResourceRecord")):
                v = r.find(q("Value"))
                if v is None:
                    raise xml_invalid("cvc-complex-type.2.4.b: The content of element "
                                      "'ResourceRecord' is not complete. One of "
                                      "'{\"%s\":Value}' is expected." % NS)
                values.append(v.text or "")
            if not values:
                raise xml_invalid("cvc-complex-type.2.4.b: The content of element "
                                  "'ResourceRecords' is not complete. One of "
                                  "'{\"%s\":ResourceRecord}' is expected." % NS)
        alias = None
        if at is not None:
            alias = {"HostedZoneId": text_of(at, "HostedZoneId", True, "DNSName"),
                     "DNSName": norm_name(text_of(at, "DNSName", True, "EvaluateTargetHealth")),
                     "EvaluateTargetHealth": (text_of(at, "EvaluateTargetHealth", True, "")
                                              or "false").lower()}
        nname = norm_name(name)
        found = None
        if alias is not None and (ttl is not None or rrs is not None):
            found = "more than one"
        elif alias is None and (ttl is None or rrs is None):
            found = "none" if ttl is None and rrs is None else "an incomplete set"
        if found:
            raise ApiError(400, "InvalidInput",
                           "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, "
                           "and ResourceRecords], or TrafficPolicyInstanceId], but found %s in "
                           "Change with [Action=%s, Name=%s, Type=%s, SetIdentifier=%s]" %
                           (found, action, out_name(nname), rtype,
                            opt.get("SetIdentifier", "null")))
        if ttl is not None:
            try:
                ttl = int(ttl)
                if not 0 <= ttl <= 2147483647:
                    raise ValueError
            except ValueError:
                raise xml_invalid("cvc-datatype-valid.1.2.1: '%s' is not a valid value for "
                                  "'integer'." % ttl)
        out.append((action, RRSet(nname, rtype, ttl, values, alias, opt)))
    return out, comment


# ------------------------------------------------------------------ HTTP
def ok_xml(root, inner):
    return ('<?xml version="1.0"?>\n<%s xmlns="%s">%s</%s>' % (root, NS, inner, root)).encode()


def maxitems(qs, default, cap):
    v = qs.get("maxitems")
    if v is None:
        return default
    try:
        n = int(v)
    except ValueError:
        raise ApiError(400, "InvalidInput", "1 validation error detected: Value '%s' at "
                       "'maxItems' failed to satisfy constraint: Member must be a number" % v)
    if n < 1:
        raise ApiError(400, "InvalidInput", "1 validation error detected: Value '%s' at "
                       "'maxItems' failed to satisfy constraint: Member must have value "
                       "greater than or equal to 1" % v)
    return min(n, cap)


class R53Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Route53Emu"
    sys_version = ""
    st = None

    def log_message(self, *a):
        pass

    # ---------------------------------------------------------- plumbing
    def read_body(self):
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline(100)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(1000) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                out += self.rfile.read(n)
                self.rfile.readline(10)
                if len(out) > MAX_BODY:
                    raise ApiError(413, "InvalidInput", "Request body too large")
            return bytes(out)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ApiError(413, "InvalidInput", "Request body too large")
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, body, ctype="text/xml", extra=()):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def send_json(self, status, obj):
        self.send(status, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode(),
                  "application/json")

    def handle_any(self):
        raw = self.path
        path = raw.split("?", 1)[0]
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return self.send(400, b"bad request body\n", "text/plain")
        except ApiError as e:
            self.close_connection = True
            return self.send(e.status, self.err_xml(e, str(uuid.uuid4())))
        if path.startswith("/_emu/"):
            return self.control(path, raw.partition("?")[2], body)
        self.api(raw, path, body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any

    def err_xml(self, e, rid):
        return ok_xml("ErrorResponse", "<Error><Type>%s</Type><Code>%s</Code><Message>%s"
                      "</Message></Error><RequestId>%s</RequestId>" %
                      (e.etype, e.code, xesc(e.message), rid))

    # ---------------------------------------------------------- API
    def api(self, raw, path, body):
        st = self.st
        rid = str(uuid.uuid4())
        qs = dict(split_query(raw.partition("?")[2]))
        op, handler, args = self.route(path)
        rec = {"time": time.time(), "method": self.command, "path": raw, "op": op}
        try:
            f = st.fail.take()
            if f is not None and f is not True and (not f.get("ops") or op in f["ops"]):
                raise ApiError(int(f.get("status", 400)), f.get("code", "InternalFailure"),
                               f.get("message", "injected failure"), f.get("type", "Sender"))
            if f is not None and f is not True and f.get("ops") and op not in f["ops"]:
                # not one of the operations it was meant for: give it back
                with st.fail.lock:
                    st.fail.n += 1
            if st.throttle.take() is not None or not st.bucket.allow():
                raise ApiError(400, "Throttling", "Rate exceeded")
            scheme = "https" if st.a.tls_cert else "http"
            rec["access_key"] = verify_sigv4(st, self.command, scheme, raw, self.headers, body)
            if handler is None:
                raise ApiError(404, "InvalidInput" if op else "UnknownOperationException",
                               "Could not find operation for %s %s" % (self.command, path))
            status, out = handler(qs, body, *args)
            rec.update(status=status)
            st.note(rec)
            self.send(status, out, extra=[("x-amzn-RequestId", rid)])
        except BatchError as e:
            rec.update(status=400, code="InvalidChangeBatch", messages=e.messages)
            st.note(rec)
            style = st.icb_style
            if style == "alternate":
                st.icb_n += 1
                style = "root" if st.icb_n % 2 == 1 else "error"
            if style == "root":
                out = ok_xml("InvalidChangeBatch", "<Messages>%s</Messages><RequestId>%s"
                             "</RequestId>" % ("".join("<Message>%s</Message>" % xesc(m)
                                                       for m in e.messages), rid))
            else:
                out = self.err_xml(ApiError(400, "InvalidChangeBatch",
                                            "[" + ", ".join(e.messages) + "]"), rid)
            self.send(400, out, extra=[("x-amzn-RequestId", rid)])
        except ApiError as e:
            rec.update(status=e.status, code=e.code)
            if "access_key" not in rec:
                m = re.search(r"Credential=([^/,\s]+)/", self.headers.get("Authorization") or "")
                rec["access_key"] = m.group(1) if m else None
            st.note(rec)
            self.send(e.status, self.err_xml(e, rid), extra=[("x-amzn-RequestId", rid)])

    def route(self, path):
        p = path.rstrip("/") if path != "/" else path
        m = "GET" if self.command in ("GET", "HEAD") else self.command
        parts = p.split("/")[1:]
        if len(parts) < 2 or parts[0] != "2013-04-01":
            return None, None, ()
        rest = [unquote(x) for x in parts[1:]]
        if rest == ["hostedzonesbyname"] and m == "GET":
            return "ListHostedZonesByName", self.op_by_name, ()
        if rest == ["hostedzone"] and m == "GET":
            return "ListHostedZones", self.op_list_zones, ()
        if rest == ["hostedzonecount"] and m == "GET":
            return "GetHostedZoneCount", self.op_count, ()
        if len(rest) == 2 and rest[0] == "hostedzone" and m == "GET":
            return "GetHostedZone", self.op_get_zone, (rest[1],)
        if len(rest) == 3 and rest[0] == "hostedzone" and rest[2] == "rrset":
            if m == "GET":
                return "ListResourceRecordSets", self.op_list_rrsets, (rest[1],)
            if m == "POST":
                return "ChangeResourceRecordSets", self.op_change, (rest[1],)
        if len(rest) == 2 and rest[0] == "change" and m == "GET":
            return "GetChange", self.op_get_change, (rest[1],)
        return None, None, ()

    def zone(self, zid):
        zid = zid.rsplit("/", 1)[-1]
        z = self.st.zones.get(zid)
        if z is None:
            raise ApiError(404, "NoSuchHostedZone", "No hosted zone found with ID: %s" % zid)
        return z

    def op_by_name(self, qs, body):
        st = self.st
        n = maxitems(qs, 100, 100)
        dns = qs.get("dnsname")
        hzid = qs.get("hostedzoneid")
        if hzid is not None and dns is None:
            raise ApiError(400, "InvalidInput", "The input is not valid: hostedzoneid requires "
                           "dnsname")
        with st.lock:
            zs = sorted(st.zones.values(), key=lambda z: (sort_key(z.name), z.id))
            start = 0
            if dns is not None:
                k = (sort_key(norm_name(dns)), hzid or "")
                while start < len(zs) and (sort_key(zs[start].name), zs[start].id) < k:
                    start += 1
            page = zs[start:start + n]
            trunc = start + n < len(zs)
            inner = ["<HostedZones>", "".join(z.xml() for z in page), "</HostedZones>"]
            if dns is not None:
                inner.append("<DNSName>%s</DNSName>" % xesc(dns))
            if hzid is not None:
                inner.append("<HostedZoneId>%s</HostedZoneId>" % xesc(hzid))
            inner.append("<IsTruncated>%s</IsTruncated>" % ("true" if trunc else "false"))
            if trunc:
                nz = zs[start + n]
                inner.append("<NextDNSName>%s</NextDNSName><NextHostedZoneId>%s"
                             "</NextHostedZoneId>" % (xesc(out_name(nz.name)), nz.id))
            inner.append("<MaxItems>%d</MaxItems>" % n)
        return 200, ok_xml("ListHostedZonesByNameResponse", "".join(inner))

    def op_list_zones(self, qs, body):
        st = self.st
        n = maxitems(qs, 100, 100)
        marker = qs.get("marker")
        kind = qs.get("hostedzonetype")
        with st.lock:
            zs = [z for z in st.zones.values() if kind != "PrivateHostedZone" or z.private]
            start = 0
            if marker is not None:
                ids = [z.id for z in zs]
                if marker not in ids:
                    raise ApiError(400, "InvalidInput", "The specified marker is not valid: %s"
                                   % marker)
                start = ids.index(marker)
            page = zs[start:start + n]
            trunc = start + n < len(zs)
            inner = "<HostedZones>%s</HostedZones>" % "".join(z.xml() for z in page)
            if marker is not None:
                inner += "<Marker>%s</Marker>" % xesc(marker)
            inner += "<IsTruncated>%s</IsTruncated>" % ("true" if trunc else "false")
            if trunc:
                inner += "<NextMarker>%s</NextMarker>" % zs[start + n].id
            inner += "<MaxItems>%d</MaxItems>" % n
        return 200, ok_xml("ListHostedZonesResponse", inner)

    def op_count(self, qs, body):
        with self.st.lock:
            n = len(self.st.zones)
        return 200, ok_xml("GetHostedZoneCountResponse", "<HostedZoneCount>%d</HostedZoneCount>"
                           % n)

    def op_get_zone(self, qs, body, zid):
        with self.st.lock:
            z = self.zone(zid)
            inner = z.xml()
            if z.private:
                inner += ("<VPCs><VPC><VPCRegion>%s</VPCRegion><VPCId>%s</VPCId></VPC></VPCs>" %
                          (REGION, xesc(z.vpc)))
            else:
                inner += "<DelegationSet><NameServers>%s</NameServers></DelegationSet>" % "".join(
                    "<NameServer>%s</NameServer>" % ns.rstrip(".") for ns in PUBLIC_NS)
        return 200, ok_xml("GetHostedZoneResponse", inner)

    def op_list_rrsets(self, qs, body, zid):
        n = maxitems(qs, 300, 300)
        name, rtype, ident = qs.get("name"), qs.get("type"), qs.get("identifier")
        if rtype is not None and name is None:
            raise ApiError(400, "InvalidInput", "The input is not valid: StartRecordType "
                           "requires StartRecordName")
        if ident is not None and rtype is None:
            raise ApiError(400, "InvalidInput", "The input is not valid: "
                           "StartRecordIdentifier requires StartRecordType")
        if rtype is not None and rtype not in RR_TYPES:
            raise ApiError(400, "InvalidInput", "Invalid type")
        with self.st.lock:
            z = self.zone(zid)
            sets = z.sorted_sets()
            start = 0
            if name is not None:
                k = (sort_key(norm_name(name)), rtype or "", ident or "")
                while start < len(sets) and (sort_key(sets[start].name), sets[start].type,
                                             sets[start].opt.get("SetIdentifier") or "") < k:
                    start += 1
            page = sets[start:start + n]
            trunc = start + n < len(sets)
            inner = "<ResourceRecordSets>%s</ResourceRecordSets>" % "".join(s.xml() for s in page)
            inner += "<IsTruncated>%s</IsTruncated>" % ("true" if trunc else "false")
            if trunc:
                nx = sets[start + n]
                inner += "<NextRecordName>%s</NextRecordName><NextRecordType>%s</NextRecordType>" \
                    % (xesc(out_name(nx.name)), nx.type)
                if "SetIdentifier" in nx.opt:
                    inner += "<NextRecordIdentifier>%s</NextRecordIdentifier>" % xesc(
                        nx.opt["SetIdentifier"])
            inner += "<MaxItems>%d</MaxItems>" % n
        return 200, ok_xml("ListResourceRecordSetsResponse", inner)

    def op_change(self, qs, body, zid):
        with self.st.lock:
            z = self.zone(zid)
        changes, comment = parse_change_request(body)
        ch = self.st.submit(z, changes, comment)
        return 200, ok_xml("ChangeResourceRecordSetsResponse", ch.xml())

    def op_get_change(self, qs, body, cid):
        cid = cid.rsplit("/", 1)[-1]
        with self.st.lock:
            ch = self.st.changes.get(cid)
            if ch is None:
                raise ApiError(404, "NoSuchChange", "A change with the specified change ID does "
                               "not exist.")
            out = ch.xml()
        return 200, ok_xml("GetChangeResponse", out)

    # ---------------------------------------------------------- control
    def control(self, path, query, body):
        st = self.st
        qs = dict(split_query(query))
        try:
            req = json.loads(body) if body.strip() else {}
        except ValueError:
            return self.send_json(400, {"error": "body is not JSON"})
        cmd = self.command
        if cmd == "GET" and path == "/_emu/records":
            sel = qs.get("zone")
            with st.lock:
                zs = [z for z in st.zones.values()
                      if sel is None or sel in (z.id, z.name, z.name.rstrip("."))]
                out = {"zones": [{"id": z.id, "name": z.name, "private": z.private,
                                  "rrsets": [s.json() for s in z.sorted_sets()]} for z in zs]}
            return self.send_json(200, out)
        if cmd == "GET" and path == "/_emu/changes":
            with st.lock:
                out = [{"id": c.id, "status": c.status, "submitted_at": iso_ms(c.submitted),
                        "comment": c.comment, "names": sorted(c.snapshot)}
                       for c in sorted(st.changes.values(), key=lambda c: c.seq)]
            return self.send_json(200, {"changes": out})
        if cmd == "GET" and path == "/_emu/requests":
            since = int(qs.get("since", 0))
            with st.lock:
                out = [r for r in st.requests if r["n"] >= since]
                nxt = st.nreq
            return self.send_json(200, {"requests": out, "next": nxt})
        if cmd == "GET" and path == "/_emu/mirror":
            return self.send_json(200, st.mirror.status())
        if cmd == "GET" and path == "/_emu/state":
            with st.lock:
                out = {"throttle_left": st.throttle.left(), "fail_left": st.fail.left(),
                       "stuck": st.stuck, "insync_delay": st.insync_delay, "skew": st.skew,
                       "rate_limit": st.bucket.rate, "invalid_change_batch": st.icb_style,
                       "mirror_on": st.mirror_on, "zones": len(st.zones),
                       "changes": len(st.changes), "requests": st.nreq,
                       "access_keys": sorted(st.creds)}
            return self.send_json(200, out)
        if cmd != "POST":
            return self.send_json(404, {"error": "no such control endpoint"})
        try:
            if path == "/_emu/throttle":
                st.throttle.set(int(req.get("n", 1)))
            elif path == "/_emu/fail":
                spec = {k: req[k] for k in ("status", "code", "message", "type", "ops")
                        if k in req}
                st.fail.set(int(req.get("n", 1)), spec)
            elif path == "/_emu/stuck":
                on = bool(req.get("on", True))
                with st.lock:
                    st.stuck = on
                    if not on:
                        for c in st.changes.values():
                            if c.status == "PENDING" and c.insync_at is None:
                                c.insync_at = time.time() + st.insync_delay
            elif path == "/_emu/config":
                with st.lock:
                    if "insync_delay" in req:
                        st.insync_delay = float(req["insync_delay"])
                    if "skew" in req:
                        st.skew = int(req["skew"])
                    if "rate_limit" in req:
                        st.bucket = emu_common.Bucket(float(req["rate_limit"]))
                    if "invalid_change_batch" in req:
                        if req["invalid_change_batch"] not in ("error", "root", "alternate"):
                            raise ValueError("invalid_change_batch: error|root|alternate")
                        st.icb_style = req["invalid_change_batch"]
                    if "mirror_on" in req:
                        if req["mirror_on"] not in ("insync", "accept"):
                            raise ValueError("mirror_on: insync|accept")
                        st.mirror_on = req["mirror_on"]
            elif path == "/_emu/credentials":
                with st.lock:
                    if "remove" in req:
                        st.creds.pop(req["remove"], None)
                    else:
                        add_cred(st.creds, req)
            elif path == "/_emu/reset":
                st.reset()
            else:
                return self.send_json(404, {"error": "no such control endpoint"})
        except (ValueError, KeyError, TypeError) as e:
            return self.send_json(400, {"error": str(e)})
        return self.send_json(200, {"ok": True})


# ------------------------------------------------------------------ setup
def add_cred(creds, c):
    akid, secret = c["access_key_id"], c["secret_access_key"]
    tok = c.get("session_token") or None
    if akid.startswith("ASIA") and not tok:
        raise ValueError("%s: temporary (ASIA) keys need a session_token" % akid)
    exp = c.get("expiration")
    creds[akid] = {"secret": secret, "token": tok,
                   "expiration": parse_iso(exp) if isinstance(exp, str) else exp}


def parse_args(argv):
    p = argparse.ArgumentParser(description="Route 53 API emulator for tests")
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ready-file")
    p.add_argument("--log")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--zone", action="append", default=[])
    p.add_argument("--zones-json")
    p.add_argument("--key", action="append", default=[])
    p.add_argument("--credentials-json")
    p.add_argument("--challtestsrv")
    p.add_argument("--mirror-on", choices=("insync", "accept"), default="insync")
    p.add_argument("--mirror-private", action="store_true")
    p.add_argument("--insync-delay", type=float, default=1.0)
    p.add_argument("--skew", type=int, default=300)
    p.add_argument("--rate-limit", type=float, default=0.0)
    p.add_argument("--throttle", type=int, default=0)
    p.add_argument("--stuck", action="store_true")
    p.add_argument("--invalid-change-batch", choices=("error", "root", "alternate"),
                   default="error")
    a = p.parse_args(argv)
    if bool(a.tls_cert) != bool(a.tls_key):
        p.error("--tls-cert and --tls-key go together")
    return a


def load(a):
    zones, creds = [], {}
    doc = {}
    if a.zones_json:
        with open(a.zones_json) as f:
            doc = json.load(f)
    for zd in doc.get("zones", []):
        zones.append(Zone(zd["name"], zd.get("id"), zd.get("private", False), zd.get("comment"),
                          zd.get("vpc"), zd.get("records", [])))
    for spec in a.zone:
        parts = spec.split(",")
        kw = {"private": False, "zid": None, "vpc": None}
        for x in parts[1:]:
            if x == "private":
                kw["private"] = True
            elif x.startswith("id="):
                kw["zid"] = x[3:]
            elif x.startswith("vpc="):
                kw["vpc"] = x[4:]
            else:
                raise SystemExit("route53_emu: bad --zone option %r" % x)
        zones.append(Zone(parts[0], kw["zid"], kw["private"], None, kw["vpc"]))
    ids = [z.id for z in zones]
    if len(set(ids)) != len(ids):
        raise SystemExit("route53_emu: two zones with one Id")
    cl = list(doc.get("credentials", []))
    if a.credentials_json:
        with open(a.credentials_json) as f:
            cl += json.load(f).get("credentials", [])
    for spec in a.key:
        f = spec.split(":")
        if len(f) not in (2, 3):
            raise SystemExit("route53_emu: --key AKID:SECRET[:TOKEN]")
        cl.append({"access_key_id": f[0], "secret_access_key": f[1],
                   "session_token": f[2] if len(f) == 3 else None})
    for c in cl:
        try:
            add_cred(creds, c)
        except (KeyError, ValueError) as e:
            raise SystemExit("route53_emu: credentials: %s" % e)
    return zones, creds


def main(argv):
    a = parse_args(argv)
    zones, creds = load(a)
    st = State(a, zones, creds)
    R53Handler.st = st
    srv = emu_common.make_server(a.listen, a.port, R53Handler, a.tls_cert, a.tls_key)
    stop = threading.Event()

    def ticker():
        while not stop.wait(0.05):
            try:
                st.tick()
            except Exception as e:  # keep ticking whatever one change did
                st.logline("tick: %r" % e)
    threading.Thread(target=ticker, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    emu_common.write_ready(a.ready_file, srv.server_address[1])
    st.logline("listening on %s:%d (%s), %d zones, %d keys, mirror %s" %
               (a.listen, srv.server_address[1], "https" if a.tls_cert else "http", len(zones),
                len(creds), a.challtestsrv or "off"))
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        stop.set()
        srv.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
