#!/usr/bin/python3
"""Checks a jfe store directory (agent/store.c layout) the way a crash test needs it, and
compares it with what an earlier call saw.

usage: store_check.py CACHE_DIR STATE_FILE [HORIZON_S]

Every certificate unit certs/<name>/current -> v-<hex>/ must hold key.pem (0600),
fullchain.pem and meta.json (0644, meta.json valid JSON), in 0700 directories; the key must be
the leaf's (openssl pkey -pubout == openssl x509 -pubkey), and the leaf must name <name>. Every
account unit account/<h>/current must hold key.pem, account.json (valid JSON) and directory_url,
all 0600. Every state/<key>.json must be valid JSON. Compared with STATE_FILE (JSON, written back):
  - no certificate unit that was there before is gone (a lost key);
  - a unit that changed holds a certificate no older (notBefore) than the one before;
  - an account's key never changes once it is there.
Units are verified with openssl only when `current` points somewhere new, so a loop of calls
stays cheap. Leftovers of interrupted writes (.tmp-* entries, v-* versions nothing points to,
unit directories without `current`) are counted, not judged: the store removes them when it is
next opened.

Prints one line: "OK units=<n> changed=<c> accounts=<a> leftovers=<l> due=<d> names=<list>"
(exit 0), where <d> counts the certificates jfe may renew within HORIZON_S seconds (default 0)
from now: its renewal point is a third of the lifetime before expiry, minus up to 1/20 of it
of jitter (agent/agent.c renew_time), so the earliest is taken or "PROBLEM <what>; <what>..." (exit 1). Standard library and the openssl CLI only.
"""
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import time
from datetime import datetime

VER = re.compile(r"^v-[0-9a-f]{16}$")
TMP = re.compile(r"^\.tmp-[0-9a-f]{16}$")


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def openssl(args, data=None):
    r = subprocess.run(["openssl"] + args, input=data, capture_output=True, timeout=20)
    if r.returncode != 0:
        raise ValueError(f"openssl {args[0]}: {r.stderr.decode(errors='replace').strip()[:120]}")
    return r.stdout


def leaf_pem(chain):
    m = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", chain, re.S)
    if not m:
        raise ValueError("no certificate in fullchain.pem")
    return m.group(0)


def check_cert(name, vdir, problems):
    """Verifies one certificate version; returns its leaf's (notBefore, notAfter) or None."""
    for f, want in (("key.pem", 0o600), ("fullchain.pem", 0o644), ("meta.json", 0o644)):
        p = os.path.join(vdir, f)
        if not os.path.isfile(p):
            problems.append(f"{name}: {f} missing in {os.path.basename(vdir)}")
            return None
        if mode(p) != want:
            problems.append(f"{name}: {f} mode {mode(p):o}, want {want:o}")
    if mode(vdir) != 0o700:
        problems.append(f"{name}: version directory mode {mode(vdir):o}")
    try:
        json.load(open(os.path.join(vdir, "meta.json")))
        key = open(os.path.join(vdir, "key.pem"), "rb").read()
        leaf = leaf_pem(open(os.path.join(vdir, "fullchain.pem"), "rb").read())
        kpub = openssl(["pkey", "-pubout"], key).decode()
        info = openssl(["x509", "-noout", "-startdate", "-enddate", "-pubkey", "-ext", "subjectAltName"],
                       leaf).decode()
        if kpub not in info:
            problems.append(f"{name}: key.pem does not match the certificate")
        if not re.search(rf"DNS:{re.escape(name)}(,|\s|$)", info):
            problems.append(f"{name}: the certificate does not name it")
        return tuple(int(datetime.strptime(re.search(rf"^{f}=(.*)$", info, re.M).group(1).strip(),
                                           "%b %d %H:%M:%S %Y %Z").timestamp())
                     for f in ("notBefore", "notAfter"))
    except (ValueError, OSError, json.JSONDecodeError, subprocess.TimeoutExpired) as e:
        problems.append(f"{name}: {e}")
        return None


def units(parent):
    """(entry, path, current target or None, leftover count) for each unit directory."""
    out = []
    if not os.path.isdir(parent):
        return out
    for e in sorted(os.listdir(parent)):
        udir = os.path.join(parent, e)
        if not os.path.isdir(udir) or os.path.islink(udir):
            continue
        cur = os.path.join(udir, "current")
        target = os.readlink(cur) if os.path.islink(cur) else None
        left = 0
        for f in os.listdir(udir):
            if TMP.match(f) or (VER.match(f) and f != target):
                left += 1
        if target is None:
            left += 1
        out.append((e, udir, target, left))
    return out


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    cache, state_file = sys.argv[1], sys.argv[2]
    horizon = float(sys.argv[3]) if len(sys.argv) == 4 else 0.0
    try:
        prev = json.load(open(state_file))
    except (OSError, json.JSONDecodeError):
        prev = {"certs": {}, "accounts": {}}
    problems, leftovers, changed = [], 0, 0
    certs, accounts = {}, {}

    for e, udir, target, left in units(os.path.join(cache, "certs")):
        leftovers += left
        if target is None:
            continue
        name = "*." + e[len("_wildcard."):] if e.startswith("_wildcard.") else e
        if mode(udir) != 0o700:
            problems.append(f"{name}: unit directory mode {mode(udir):o}")
        if not VER.match(target) or not os.path.isdir(os.path.join(udir, target)):
            problems.append(f"{name}: current -> {target!r} is not a complete version")
            continue
        old = prev["certs"].get(name)
        if old and old["target"] == target:
            certs[name] = old
            continue
        changed += 1
        dates = check_cert(name, os.path.join(udir, target), problems)
        if dates is None:
            continue
        nb, na = dates
        if old and nb < old["not_before"]:
            problems.append(f"{name}: now holds an older certificate (notBefore {nb} < {old['not_before']})")
        certs[name] = {"target": target, "not_before": nb, "not_after": na}
    for name in prev["certs"]:
        if name not in certs and not any(p.startswith(name + ":") for p in problems):
            problems.append(f"{name}: stored before, gone now")

    for e, udir, target, left in units(os.path.join(cache, "account")):
        leftovers += left
        if target is None:
            continue
        vdir = os.path.join(udir, target)
        files = {}
        for f in ("directory_url", "key.pem", "account.json"):
            p = os.path.join(vdir, f)
            if not os.path.isfile(p):
                problems.append(f"account {e}: {f} missing")
                continue
            if mode(p) != 0o600:
                problems.append(f"account {e}: {f} mode {mode(p):o}, want 600")
            files[f] = open(p, "rb").read()
        if len(files) != 3:
            continue
        h = hashlib.sha256(files["key.pem"]).hexdigest()[:16]
        try:
            json.loads(files["account.json"])
            if prev["accounts"].get(e) != h:
                openssl(["pkey", "-noout"], files["key.pem"])
        except (ValueError, json.JSONDecodeError) as e2:
            problems.append(f"account {e}: {e2}")
        if prev["accounts"].get(e, h) != h:
            problems.append(f"account {e} ({files['directory_url'].decode()}): key changed "
                            f"{prev['accounts'][e]} -> {h}")
        accounts[e] = h
    for e in prev["accounts"]:
        if e not in accounts:
            problems.append(f"account {e}: stored before, gone now")

    sdir = os.path.join(cache, "state")
    if os.path.isdir(sdir):
        for f in os.listdir(sdir):
            if TMP.match(f):
                leftovers += 1
            elif f.endswith(".json"):
                try:
                    json.load(open(os.path.join(sdir, f)))
                except (OSError, json.JSONDecodeError) as e2:
                    problems.append(f"state/{f}: {e2}")

    json.dump({"certs": certs, "accounts": accounts}, open(state_file + ".new", "w"))
    os.replace(state_file + ".new", state_file)
    if problems:
        print("PROBLEM " + "; ".join(problems[:8]))
        return 1
    now = time.time()
    due = sum(1 for c in certs.values()
              if c["not_after"] - (c["not_after"] - c["not_before"]) * (1 / 3 + 1 / 20) <= now + horizon)
    print(f"OK units={len(certs)} changed={changed} accounts={len(accounts)} "
          f"leftovers={leftovers} due={due} names={','.join(sorted(certs))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
