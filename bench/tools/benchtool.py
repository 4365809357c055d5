#!/usr/bin/python3
"""bench/tools/benchtool.py — helpers for bench/run.sh (Python 3 standard library only).

  snap PID… [-- PID…]…        CPU-seconds (utime+stime+cutime+cstime) of each group of process
                              trees, then /proc/stat busy and total jiffies: "g1 g2 … busy total"
  mem PID…                    memory of the process trees: "rss_kib=… pss_kib=… procs=… threads=… fds=…"
  idle HOST PORT N MODE OUT PID…
                              the idle-connection holder: MODE tls|plain; opens N connections (TLS
                              handshake done), measures the trees of PID…, sends one
                              "GET /100b.bin" on each and reads the answer, measures again, writes
                              a JSON object to OUT, closes everything
  acme HOST PORT ROOT HOT PREFIX N_NEW SECONDS RATE OUT
                              on-demand issuance through jfe (jfe only): time to first byte of
                              never-seen names, and the handshake latency of an already-issued
                              name under a steady load with and without issuance running; a JSON
                              object to OUT (see cmd_acme)
  rec RAW key=value…          appends one JSON line to RAW; special keys wrk=FILE, iperf=FILE,
                              stime=FILE[,FILE…] parse a client's output into fields
  crypto RAW FILE…            parses `openssl speed -mr` outputs into one JSON line in RAW
  report RAWDIR OUTBASE       medians, ratios, targets: OUTBASE.json and OUTBASE.md (RAWDIR may
                              also be an earlier results .json, to re-render it)
"""
import json
import os
import re
import socket
import ssl
import statistics
import sys
import time

CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------- process trees
def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(d))
    return kids


def tree(pids):
    kids = _children_map()
    out, todo = [], [int(p) for p in pids if str(p).isdigit() and int(p) > 0]
    seen = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_seconds(pids):
    tot = 0
    for p in tree(pids):
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        # fields 14..17 of stat: utime stime cutime cstime (rest[0] is field 3)
        tot += sum(int(x) for x in rest[11:15])
    return tot / CLK


def machine_jiffies():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    total = sum(v[:8])
    idle = v[3] + v[4]
    return total - idle, total


def mem(pids):
    rss = pss = threads = fds = 0
    procs = tree(pids)
    for p in procs:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads += int(line.split()[1])
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
            fds += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return {"rss_kib": rss, "pss_kib": pss, "procs": len(procs), "threads": threads, "fds": fds}


def cmd_snap(args):
    groups, cur = [], []
    for a in args:
        if a == "--":
            groups.append(cur)
            cur = []
        else:
            cur.append(a)
    groups.append(cur)
    busy, total = machine_jiffies()
    print(" ".join(f"{cpu_seconds(g):.3f}" for g in groups), busy, total)


def cmd_mem(args):
    print(" ".join(f"{k}={v}" for k, v in mem(args).items()))


# ---------------------------------------------------------------- idle holder
REQ = b"GET /100b.bin HTTP/1.1\r\nHost: bench\r\n\r\n"


def _response_done(buf):
    """True when buf holds a whole HTTP response (headers + Content-Length body)."""
    if b"\r\n\r\n" not in buf:
        return False
    head, body = buf.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    return len(body) >= (int(m.group(1)) if m else 0)


def cmd_idle(args):
    import selectors
    host, port, n, mode, out = args[0], int(args[1]), int(args[2]), args[3], args[4]
    pids = args[5:]
    connect_timeout = 1.5          # a connect/handshake that stalls this long counts as failed
    open_budget = 30 + n * 0.03    # give up opening more after this long (s)
    req_budget = 15.0              # all responses must be in within this long (s)
    ctx = None
    if mode == "tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    res = {"host": host, "port": port, "n": n, "mode": mode}
    time.sleep(0.5)
    res["before"] = mem(pids)
    conns, failed_open = [], 0
    t0 = time.monotonic()
    for i in range(n):
        if time.monotonic() - t0 > open_budget:
            failed_open += n - i
            res["open_budget_exceeded"] = True
            break
        try:
            s = socket.create_connection((host, port), timeout=connect_timeout)
            if ctx is not None:
                s = ctx.wrap_socket(s)      # no server_hostname: no SNI, like every other client here
            conns.append(s)
        except OSError:
            failed_open += 1
    res["open_s"] = round(time.monotonic() - t0, 3)
    res["opened"] = len(conns)
    res["failed_open"] = failed_open
    time.sleep(1.0)
    res["idle"] = mem(pids)
    # one request on every connection, answers read concurrently under one deadline
    failed_req = 0
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in conns:
        try:
            s.sendall(REQ)
            s.setblocking(False)
            bufs[s] = b""
            sel.register(s, selectors.EVENT_READ)
        except OSError:
            failed_req += 1
    t1 = time.monotonic()
    pending = len(bufs)
    while pending and time.monotonic() - t1 < req_budget:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        raise ConnectionError("closed")
                    bufs[s] += d
                    if _response_done(bufs[s]):
                        break
            except (ssl.SSLWantReadError, BlockingIOError):
                if not _response_done(bufs[s]):
                    continue
            except (OSError, ConnectionError):
                failed_req += 1
                sel.unregister(s)
                pending -= 1
                continue
            sel.unregister(s)
            pending -= 1
            if not bufs[s].startswith(b"HTTP/1.1 200"):
                failed_req += 1
    failed_req += pending
    res["req_s"] = round(time.monotonic() - t1, 3)
    time.sleep(1.0)
    res["after_req"] = mem(pids)
    res["failed_req"] = failed_req
    nn = max(len(conns), 1)
    for phase in ("idle", "after_req"):
        for k in ("rss_kib", "pss_kib"):
            res[f"{phase}_{k[:3]}_b_per_conn"] = round((res[phase][k] - res["before"][k]) * 1024 / nn)
        res[f"{phase}_fds_per_conn"] = round((res[phase]["fds"] - res["before"]["fds"]) / nn, 2)
    for s in conns:
        try:
            s.close()
        except OSError:
            pass
    with open(out, "w") as f:
        json.dump(res, f)


# ---------------------------------------------------------------- on-demand issuance (jfe only)
def _https_get(host, port, name, ctx, timeout):
    """One HTTPS GET /100b.bin with SNI <name>, certificate verified against <ctx>'s CA and the
    name: {t0 (monotonic, before connect), connect_s, hs_s (connect start -> handshake done),
    ttfb_s (-> first response byte), total_s, ok, err}."""
    r = {"name": name, "ok": False}
    t0 = time.monotonic()
    r["t0"] = t0
    t = s = None
    try:
        s = socket.create_connection((host, port), timeout=timeout)
        r["connect_s"] = time.monotonic() - t0
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # jfe holds a new name's handshake until its certificate is issued: hs_s covers the order
        t = ctx.wrap_socket(s, server_hostname=name)
        s = None
        r["hs_s"] = time.monotonic() - t0
        t.sendall(b"GET /100b.bin HTTP/1.1\r\nHost: " + name.encode() + b"\r\nConnection: close\r\n\r\n")
        buf = t.recv(65536)
        r["ttfb_s"] = time.monotonic() - t0
        while buf and not _response_done(buf):
            d = t.recv(65536)
            if not d:
                break
            buf += d
        r["total_s"] = time.monotonic() - t0
        if not buf.startswith(b"HTTP/1.1 200") or not _response_done(buf):
            r["err"] = "answer: " + repr(buf[:60])
        else:
            r["ok"] = True
    except (OSError, ValueError) as e:      # ssl.SSLError (verification too) is an OSError
        r["err"] = f"{type(e).__name__}: {e}"
    finally:
        for x in (t, s):
            if x is not None:
                try:
                    x.close()
                except OSError:
                    pass
    return r


def _pct(vals, p):
    """nearest-rank percentile (p in 0..100) of a non-empty list"""
    v = sorted(vals)
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


def _ms(x):
    return round(x * 1000, 2)


def cmd_acme(args):
    """acme HOST PORT ROOT HOT PREFIX N_NEW SECONDS RATE OUT

    1. HOT (the already-issued name of the background load) is asked for first: the first order
       of a fresh jfe (hot_first_ms).
    2. N_NEW never-seen names N.PREFIX, one after the other, nothing else running: time to first
       byte of each (connect start -> first response byte; the handshake waits for issuance).
    3. For SECONDS: an open-loop load of RATE full TLS handshakes/s (+ one GET) with SNI HOT, and
       beside it never-seen names issued one at a time, each followed by a pause of 2 GUARD_S
       + as long as it took (so the baseline window, away from both orders, is about as long as
       the time with an order in flight, interleaved: a shared machine's drift hits both alike). A background handshake that overlaps an
       issuance (connect start .. handshake done of a new name) is "during issuance"; one that
       starts and ends at least GUARD_S away from every issuance is the baseline; the rest
       (just after an issuance) is counted in neither.
    Every certificate is verified against ROOT and the name."""
    host, port, root, hot, prefix = args[0], int(args[1]), args[2], args[3], args[4]
    n_new, secs, rate, out = int(args[5]), float(args[6]), float(args[7]), args[8]
    import threading
    GUARD_S = 0.25
    sys.setswitchinterval(0.0005)      # a thread back from a handshake waits less for the GIL
    ctx = ssl.create_default_context(cafile=root)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    new_timeout = 45.0                 # > jfe's --issue-timeout (30 s)
    res = {"host": host, "port": port, "hot": hot, "rate_target": rate, "load_s": secs,
           "guard_s": GUARD_S}
    errors = []
    new_all = []

    def issue_one(tag):
        r = _https_get(host, port, f"{tag}{len(new_all) + 1}.{prefix}", ctx, new_timeout)
        new_all.append(r)
        if not r["ok"]:
            errors.append(f"{r['name']}: {r.get('err')}")
        return r

    def finish():
        res["new_names"] = len(new_all)
        res["new_failed"] = sum(1 for r in new_all if not r["ok"])
        if errors:
            res["new_errors"] = errors[:5]
        with open(out, "w") as f:
            json.dump(res, f)

    # 1. the hot name
    h = _https_get(host, port, hot, ctx, new_timeout)
    if not h["ok"]:
        res["hot_error"] = h.get("err")
        finish()
        return
    res["hot_first_ms"] = _ms(h["ttfb_s"])
    h2 = _https_get(host, port, hot, ctx, 10.0)      # from jfe's store now
    res["hot_second_ms"] = _ms(h2["ttfb_s"]) if h2["ok"] else None

    # 2. never-seen names, one at a time, no other load
    idle = [issue_one("n") for _ in range(n_new)]
    ok = [r for r in idle if r["ok"]]
    res["ttfb_list_ms"] = [_ms(r["ttfb_s"]) for r in ok]
    res["hs_wait_list_ms"] = [_ms(r["hs_s"]) for r in ok]
    if ok:
        res["ttfb_median_ms"] = _ms(statistics.median(r["ttfb_s"] for r in ok))
        res["ttfb_max_ms"] = _ms(max(r["ttfb_s"] for r in ok))
        res["ttfb_min_ms"] = _ms(min(r["ttfb_s"] for r in ok))
        # what follows the handshake (request through jfe to nginx and back) is not issuance
        res["after_hs_median_ms"] = _ms(statistics.median(r["ttfb_s"] - r["hs_s"] for r in ok))
    res["new_idle"] = len(idle)
    res["new_idle_failed"] = len(idle) - len(ok)

    # 3. background load; issuances interleaved with pauses as long
    samples = []                       # (t0, hs_s | None, total_s | None, lag_s, err)
    lock = threading.Lock()
    ticket = [0]
    stop = threading.Event()
    t_start = time.monotonic() + 0.3
    t_end = t_start + secs

    def load_worker():
        while not stop.is_set():
            with lock:
                i = ticket[0]
                ticket[0] += 1
            ts = t_start + i / rate
            d = ts - time.monotonic()
            if d > 0 and stop.wait(d):
                return
            r = _https_get(host, port, hot, ctx, 10.0)
            with lock:
                samples.append((r["t0"], r.get("hs_s") if r["ok"] else None,
                                r.get("total_s") if r["ok"] else None, r["t0"] - ts,
                                None if r["ok"] else r.get("err")))

    intervals = []                     # (start, end) of each issuance under load
    under_load = []

    def driver():
        time.sleep(max(0.0, t_start + 0.5 - time.monotonic()))    # the load runs first
        while time.monotonic() < t_end - 0.5 and len(under_load) < 100:
            r = issue_one("l")
            e = r["t0"] + (r.get("hs_s") or (time.monotonic() - r["t0"]))
            under_load.append(r)
            intervals.append((r["t0"], e))
            # the baseline is sampled in between: after GUARD_S on each side, a window as
            # long as the issuance (at least GUARD_S), so both groups get as many samples
            time.sleep(2 * GUARD_S + max(GUARD_S, e - r["t0"]))

    ths = [threading.Thread(target=load_worker, daemon=True) for _ in range(8)]
    for t in ths:
        t.start()
    dt = threading.Thread(target=driver, daemon=True)
    dt.start()
    dt.join(secs + new_timeout + 10)
    d = t_end - time.monotonic()
    if d > 0:
        time.sleep(d)
    stop.set()
    for t in ths:
        t.join(15)
    t_stop = time.monotonic()

    def overlaps(a0, a1, guard):
        return any(a0 < e + guard and s - guard < a1 for s, e in intervals)

    groups = {"base": [], "issue": []}
    failed = {"base": 0, "issue": 0}
    lag = {"base": [], "issue": []}
    bg_err = []
    neither = 0
    for t0, hs, tot, lg, err in samples:
        a1 = t0 + (hs if hs is not None else 1e-6)
        if overlaps(t0, a1, 0.0):
            g = "issue"
        elif not overlaps(t0, a1, GUARD_S):
            g = "base"
        else:
            neither += 1
            continue
        lag[g].append(lg)
        if hs is None:
            failed[g] += 1
            if len(bg_err) < 5:
                bg_err.append(err)
        else:
            groups[g].append((hs, tot))
    for g in ("base", "issue"):
        v = groups[g]
        res[f"{g}_n"] = len(v)
        res[f"{g}_failed"] = failed[g]
        if v:
            hs = [x[0] for x in v]
            tot = [x[1] for x in v]
            res[f"{g}_p50_ms"] = _ms(_pct(hs, 50))
            res[f"{g}_p99_ms"] = _ms(_pct(hs, 99))
            res[f"{g}_max_ms"] = _ms(max(hs))
            res[f"{g}_req_p99_ms"] = _ms(_pct(tot, 99))
        if lag[g]:
            # the load is open-loop: a start more than 10 ms behind its schedule means the client
            # itself was not scheduled in time (a busy machine); such latencies under-state the wait
            res[f"{g}_late_pct"] = round(100 * sum(1 for x in lag[g] if x > 0.01) / len(lag[g]), 2)
    res["neither_n"] = neither
    res["bg_rate_s"] = round(len(samples) / (t_stop - t_start), 1)
    busy = sum(min(e, t_stop) - max(s, t_start) for s, e in intervals)
    res["issue_cover_pct"] = round(100 * busy / (t_stop - t_start), 1)
    for p in ("p50", "p99"):
        b, i = res.get(f"base_{p}_ms"), res.get(f"issue_{p}_ms")
        res[f"{p}_ratio"] = round(i / b, 3) if b and i else None
    okl = [r for r in under_load if r["ok"]]
    res["new_load"] = len(under_load)
    res["new_load_failed"] = len(under_load) - len(okl)
    if okl:
        res["ttfb_load_median_ms"] = _ms(statistics.median(r["ttfb_s"] for r in okl))
        res["ttfb_load_max_ms"] = _ms(max(r["ttfb_s"] for r in okl))
    res["bg_n"] = len(samples)
    res["bg_failed"] = sum(1 for x in samples if x[1] is None)     # in either group or neither
    if bg_err:
        res["bg_errors"] = bg_err
    with open(out + ".samples", "w") as f:      # raw background samples (kept with BENCH_KEEP=1)
        f.write("# issuances (s from load start): " +
                " ".join(f"{s - t_start:.3f}-{e - t_start:.3f}" for s, e in intervals) + "\n")
        f.write("t0_s hs_ms total_ms lag_ms\n")
        for t0, hs, tot, lg, _ in samples:
            f.write(f"{t0 - t_start:.4f} {'-' if hs is None else _ms(hs)} "
                    f"{'-' if tot is None else _ms(tot)} {_ms(lg)}\n")
    finish()

# ---------------------------------------------------------------- raw records
def _num(v):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def parse_wrk(path):
    txt = open(path, errors="replace").read()
    m = re.search(r"^RESULT (.*)$", txt, re.M)
    if not m:
        return {"parse_error": "no RESULT line from wrk"}
    d = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    dur = d["dur_us"] / 1e6
    errs = d["err_connect"] + d["err_read"] + d["err_write"] + d["err_timeout"]
    return {"requests": d["reqs"], "bytes": d["bytes"], "dur_s": round(dur, 3),
            "req_s": round(d["reqs"] / dur, 1), "gbit_s": round(d["bytes"] * 8 / dur / 1e9, 3),
            "socket_errors": errs, "non2xx": d["err_status"],
            "p50_ms": d["lat_p50_us"] / 1000, "p99_ms": d["lat_p99_us"] / 1000}


def parse_iperf(path):
    try:
        j = json.load(open(path))
    except (OSError, ValueError) as e:
        return {"parse_error": f"iperf3 -J output unreadable: {e}"}
    if "error" in j:
        return {"parse_error": "iperf3: " + str(j["error"])}
    r = j["end"]["sum_received"]
    s = j["end"].get("sum_sent", {})
    return {"bytes": r["bytes"], "dur_s": round(r["seconds"], 3),
            "gbit_s": round(r["bits_per_second"] / 1e9, 3), "retransmits": s.get("retransmits", 0)}


def parse_stime(paths):
    conns = 0
    rate = 0.0
    bpc = []
    errors = 0
    for p in paths:
        txt = open(p, errors="replace").read()
        m = re.search(r"(\d+) connections in ([\d.]+) real seconds, (\d+) bytes read per connection", txt)
        if not m:
            errors += 1
            continue
        c, t = int(m.group(1)), float(m.group(2))
        conns += c
        rate += c / t if t > 0 else 0
        bpc.append(int(m.group(3)))
        errors += len(re.findall(r"(?i)\berror\b", txt))
    return {"connections": conns, "conn_s": round(rate, 1), "clients": len(paths),
            "min_bytes_per_conn": min(bpc) if bpc else 0, "client_errors": errors}


def cmd_rec(args):
    raw = args[0]
    rec = {}
    for a in args[1:]:
        k, _, v = a.partition("=")
        if k == "wrk":
            rec.update(parse_wrk(v))
        elif k == "iperf":
            rec.update(parse_iperf(v))
        elif k == "stime":
            rec.update(parse_stime(v.split(",")))
        elif k == "json":
            try:
                rec.update(json.load(open(v)))
            except (OSError, ValueError) as e:
                rec["parse_error"] = f"{v}: {e}"
        else:
            rec[k] = _num(v)
    # derived figures
    cpu = rec.get("proxy_cpu_s")
    dur = rec.get("wall_s")
    if isinstance(cpu, (int, float)) and rec.get("contender") != "direct":
        if rec.get("requests"):
            rec["cpu_us_per_req"] = round(cpu / rec["requests"] * 1e6, 2)
        if rec.get("connections"):
            rec["cpu_us_per_conn"] = round(cpu / rec["connections"] * 1e6, 1)
        if rec.get("bytes"):
            rec["cpu_s_per_gb"] = round(cpu / (rec["bytes"] / 1e9), 3)
        if dur:
            rec["proxy_cpu_pct"] = round(cpu / dur * 100, 1)
    if isinstance(rec.get("busy_j"), int) and rec.get("total_j"):
        rec["busy_pct"] = round(rec["busy_j"] / rec["total_j"] * 100, 1)
    if dur:
        for k in ("backend_cpu_s", "client_cpu_s"):
            if isinstance(rec.get(k), (int, float)):
                rec[k.replace("_s", "_pct")] = round(rec[k] / dur * 100, 1)
    with open(raw, "a") as f:
        f.write(json.dumps(rec) + "\n")
    if "parse_error" in rec:
        print("parse error:", rec["parse_error"], file=sys.stderr)


def cmd_crypto(args):
    raw = args[0]
    out = {"kind": "crypto"}
    for p in args[1:]:
        for line in open(p, errors="replace"):
            f = line.strip().split(":")
            if f[0] == "+F" and len(f) >= 4:
                out[f[2].lower() + "_gbit_s_16k"] = round(float(f[3]) * 8 / 1e9, 2)
                out[f[2].lower() + "_cpu_s_per_gb"] = round(1e9 / float(f[3]), 3)
            elif f[0] == "+F4" and len(f) >= 5:
                out["ecdsa_p256_sign_s"] = round(float(f[3]))
                out["ecdsa_p256_verify_s"] = round(float(f[4]))
            elif f[0] == "+F5" and len(f) >= 4:
                out["x25519_derive_s"] = round(float(f[3]))
    with open(raw, "a") as f:
        f.write(json.dumps(out) + "\n")


# ---------------------------------------------------------------- report
JFE = ["jfe-w1", "jfe-w2"]
TLS_PEERS = ["haproxy", "stunnel", "nginx-stream", "hitch"]
PLAIN_PEERS = ["haproxy", "haproxy-splice", "socat", "nginx-stream"]

# (figure id, test, metric, better, unit, label, reference set)
FIGURES = [
    ("tls_ka_req_s", "tls-ka100", "req_s", "high", "req/s", "TLS keep-alive 100 B request rate", "tls"),
    ("tls_ka_p50_ms", "tls-ka100", "p50_ms", "low", "ms", "TLS keep-alive p50 latency under load (wrk -c50)", "tls"),
    ("tls_ka_p99_ms", "tls-ka100", "p99_ms", "low", "ms", "TLS keep-alive p99 latency under load (wrk -c50)", "tls"),
    ("tls_ka_cpu_us_req", "tls-ka100", "cpu_us_per_req", "low", "µs", "proxy CPU per TLS 100 B request", "tls"),
    ("tls_bulk_gbit_s", "tls-bulk1m", "gbit_s", "high", "Gbit/s", "TLS 1 MiB keep-alive transfer rate", "tls"),
    ("tls_bulk_cpu_s_gb", "tls-bulk1m", "cpu_s_per_gb", "low", "s/GB", "proxy CPU per TLS GB (1 MiB wrk)", "tls"),
    ("tls_bulk_p99_ms", "tls-bulk1m", "p99_ms", "low", "ms", "TLS 1 MiB p99 latency under load", "tls"),
    ("tls_close_req_s", "tls-close100", "req_s", "high", "req/s", "TLS Connection: close rate (resumed handshakes)", "tls"),
    ("tls_close_cpu_us_req", "tls-close100", "cpu_us_per_req", "low", "µs", "proxy CPU per resumed handshake + request", "tls"),
    ("tls_hs_conn_s", "tls-stime", "conn_s", "high", "conn/s", "new TLS handshakes per second (4 × s_time -new)", "tls"),
    ("tls_hs_cpu_us_conn", "tls-stime", "cpu_us_per_conn", "low", "µs", "proxy CPU per full handshake + request", "tls"),
    ("tls_stream_gbit_s", "tls-stream", "gbit_s", "high", "Gbit/s", "TLS single stream (iperf3 via socat TLS client)", "tls"),
    ("tls_stream_cpu_s_gb", "tls-stream", "cpu_s_per_gb", "low", "s/GB", "proxy CPU per GB, TLS stream (decrypt direction)", "tls"),
    ("tls_idle_kib_conn", "idle-tls", "after_req_rss_kib_per_conn", "low", "KiB", "RSS per idle TLS connection (after 1 request)", "tls"),
    ("plain_ka_req_s", "plain-ka100", "req_s", "high", "req/s", "pass-through keep-alive 100 B request rate", "plain"),
    ("plain_ka_p50_ms", "plain-ka100", "p50_ms", "low", "ms", "pass-through p50 latency under load (wrk -c50)", "plain"),
    ("plain_ka_p99_ms", "plain-ka100", "p99_ms", "low", "ms", "pass-through p99 latency under load (wrk -c50)", "plain"),
    ("plain_ka_cpu_us_req", "plain-ka100", "cpu_us_per_req", "low", "µs", "proxy CPU per pass-through 100 B request", "plain"),
    ("plain_bulk_gbit_s", "plain-bulk1m", "gbit_s", "high", "Gbit/s", "pass-through 1 MiB keep-alive transfer rate", "plain"),
    ("plain_bulk_cpu_s_gb", "plain-bulk1m", "cpu_s_per_gb", "low", "s/GB", "proxy CPU per pass-through GB (1 MiB wrk)", "plain"),
    ("plain_close_req_s", "plain-close100", "req_s", "high", "req/s", "pass-through Connection: close rate (new TCP conn per request)", "plain"),
    ("plain_close_cpu_us_req", "plain-close100", "cpu_us_per_req", "low", "µs", "proxy CPU per new pass-through conn + request", "plain"),
    ("plain_iperf_gbit_s", "plain-iperf", "gbit_s", "high", "Gbit/s", "pass-through iperf3 single stream", "plain"),
    ("plain_iperf_cpu_s_gb", "plain-iperf", "cpu_s_per_gb", "low", "s/GB", "proxy CPU per pass-through GB (iperf3)", "plain"),
    ("plain_idle_kib_conn", "idle-plain", "after_req_rss_kib_per_conn", "low", "KiB", "RSS per idle pass-through connection (after 1 request)", "plain"),
]

# (id, text, figure, kind, threshold): kind "peer" = jfe-w1 / best peer compared with threshold
# in the figure's better direction; "abs_le" = jfe-w1 value <= threshold; "direct" = jfe-w1 /
# direct >= threshold.
TARGETS = [
    ("tls_ka", "TLS keep-alive request rate ≥ 1.0× best peer", "tls_ka_req_s", "peer", 1.0),
    ("tls_bulk", "TLS 1 MiB throughput ≥ 1.0× best peer", "tls_bulk_gbit_s", "peer", 1.0),
    ("tls_hs", "new TLS handshakes/s ≥ 1.0× best peer", "tls_hs_conn_s", "peer", 1.0),
    ("tls_cpu_gb", "proxy CPU per TLS GB ≤ 1.0 s", "tls_bulk_cpu_s_gb", "abs_le", 1.0),
    ("plain_bulk_wrk", "pass-through bulk (1 MiB wrk) ≥ 0.9× direct", "plain_bulk_gbit_s", "direct", 0.9),
    ("plain_bulk_iperf", "pass-through bulk (iperf3) ≥ 0.9× direct", "plain_iperf_gbit_s", "direct", 0.9),
    ("plain_ka", "pass-through keep-alive request rate ≥ 0.8× direct", "plain_ka_req_s", "direct", 0.8),
    ("tls_idle", "idle memory per TLS conn ≤ best peer's", "tls_idle_kib_conn", "peer", 1.0),
    ("plain_idle", "idle memory per pass-through conn ≤ best peer's", "plain_idle_kib_conn", "peer", 1.0),
]


# On-demand issuance (test acme-ttfb, `acme` above): jfe only, no peer issues certificates on
# demand. (id, metric of the run record, unit, label)
ACME_FIGURES = [
    ("acme_ttfb_median_ms", "ttfb_median_ms", "ms", "time to first byte, never-seen name (issuance against Pebble), median"),
    ("acme_ttfb_max_ms", "ttfb_max_ms", "ms", "time to first byte, never-seen name, max"),
    ("acme_after_hs_ms", "after_hs_median_ms", "ms", "of which after the handshake (request through jfe to nginx), median"),
    ("acme_hot_first_ms", "hot_first_ms", "ms", "first name after jfe's start (new cache; account registered at start-up)"),
    ("acme_ttfb_load_median_ms", "ttfb_load_median_ms", "ms", "time to first byte, never-seen name, during the handshake load, median"),
    ("acme_base_p50_ms", "base_p50_ms", "ms", "issued name's handshake p50, no issuance running"),
    ("acme_issue_p50_ms", "issue_p50_ms", "ms", "issued name's handshake p50 during issuance"),
    ("acme_p50_ratio", "p50_ratio", "×", "p50 during issuance / without"),
    ("acme_base_p99_ms", "base_p99_ms", "ms", "issued name's handshake p99, no issuance running"),
    ("acme_issue_p99_ms", "issue_p99_ms", "ms", "issued name's handshake p99 during issuance"),
    ("acme_p99_ratio", "p99_ratio", "×", "p99 during issuance / without"),
    ("acme_bg_rate", "bg_rate_s", "hs/s", "background load achieved (full handshakes + GET per second)"),
    ("acme_issue_cover", "issue_cover_pct", "%", "share of the load's time with an issuance in flight"),
    ("acme_base_late", "base_late_pct", "%", "background handshakes started > 10 ms behind schedule (client not scheduled: busy machine), without issuance"),
    ("acme_issue_late", "issue_late_pct", "%", "the same, during issuance"),
]
ACME_NOTE = ("jfe only: no peer (haproxy, stunnel, nginx stream, hitch, socat) issues certificates on "
             "demand, so there is no peer column and no ratio to a peer")


def _load(rawdir):
    recs, meta = [], {}
    if rawdir.endswith(".json"):         # re-render an earlier results file
        j = json.load(open(rawdir))
        recs = [dict(r, kind="run") for r in j["raw"]]
        if j.get("crypto"):
            recs.append(j["crypto"])
        return recs, j.get("meta", {})
    for line in open(os.path.join(rawdir, "raw.jsonl")):
        line = line.strip()
        if line:
            recs.append(json.loads(line))
    mp = os.path.join(rawdir, "meta.json")
    if os.path.exists(mp):
        meta = json.load(open(mp))
    return recs, meta


def _fmt(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    a = abs(v)
    if a >= 1000:
        s = f"{v:.0f}"
    elif a >= 100:
        s = f"{v:.0f}" if unit not in ("µs",) else f"{v:.0f}"
    elif a >= 10:
        s = f"{v:.1f}"
    elif a >= 1:
        s = f"{v:.2f}"
    else:
        s = f"{v:.3f}"
    return s


def _fmtr(v):
    return "–" if v is None else f"{v:.2f}"


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


def peers_of(test):
    return TLS_PEERS if test.startswith(("tls", "idle-tls")) else PLAIN_PEERS


def cmd_report(args):
    rawdir, outbase = args[0], args[1]
    recs, meta = _load(rawdir)
    crypto = next((r for r in recs if r.get("kind") == "crypto"), None)
    runs = [r for r in recs if r.get("kind") == "run"]
    for r in runs:   # KiB per conn from the holder's bytes
        for ph in ("idle", "after_req"):
            for k in ("rss", "pss"):
                b = r.get(f"{ph}_{k}_b_per_conn")
                if isinstance(b, (int, float)):
                    r[f"{ph}_{k}_kib_per_conn"] = round(b / 1024, 2)
    # medians per (test, contender, metric)
    med = {}
    for r in runs:
        t, c = r["test"], r["contender"]
        for k, v in r.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "round":
                med.setdefault(t, {}).setdefault(c, {}).setdefault(k, []).append(v)
    medians = {}
    for t, cs in med.items():
        for c, ms in cs.items():
            for k, vs in ms.items():
                medians.setdefault(t, {}).setdefault(c, {})[k] = {
                    "median": round(statistics.median(vs), 4), "min": min(vs), "max": max(vs), "n": len(vs)}

    def mval(t, c, k):
        try:
            return medians[t][c][k]["median"]
        except KeyError:
            return None

    # per-round values: ratios are taken within a round (contenders measured minutes apart)
    # and the median over rounds is reported, which cancels much of a shared machine's drift
    per_round = {}
    for r in runs:
        for k, v in r.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                per_round.setdefault((r["test"], k), {}).setdefault(r["round"], {})[r["contender"]] = v

    def round_ratios(test, metric, who, against, better):
        """median over rounds of who / against, against = 'best' (best peer of that round) or a
        contender name"""
        out = []
        for rnd, vals in per_round.get((test, metric), {}).items():
            if against == "best":
                pv = [vals[p] for p in peers_of(test) if p in vals]
                if not pv:
                    continue
                ref = max(pv) if better == "high" else min(pv)
            else:
                ref = vals.get(against)
            if who == "best":
                pv = [vals[p] for p in peers_of(test) if p in vals]
                v = (max(pv) if better == "high" else min(pv)) if pv else None
            else:
                v = vals.get(who)
            if v is not None and ref:
                out.append(v / ref)
        return round(statistics.median(out), 3) if out else None

    def errors_of(test, who):
        n = 0
        for r in runs:
            if r["test"] == test and r["contender"] == who:
                n += sum(r.get(k, 0) or 0 for k in ("socket_errors", "non2xx", "client_errors",
                                                    "failed_open", "failed_req"))
        return n

    figures = []
    for fid, test, metric, better, unit, label, ref in FIGURES:
        peers = TLS_PEERS if ref == "tls" else PLAIN_PEERS
        pv = {p: mval(test, p, metric) for p in peers}
        pv = {p: v for p, v in pv.items() if v is not None}
        if better == "high":
            best = max(pv, key=pv.get) if pv else None
        else:
            best = min(pv, key=pv.get) if pv else None
        f = {"id": fid, "label": label, "test": test, "metric": metric, "unit": unit,
             "better": better, "peers": pv, "best_peer": best,
             "best_peer_value": pv.get(best) if best else None}
        direct = mval(test, "direct", metric) if ref == "plain" else None
        f["direct"] = direct
        for j in JFE:
            v = mval(test, j, metric)
            f[j] = v
            f[f"{j}_vs_best_peer"] = round_ratios(test, metric, j, "best", better)
            f[f"{j}_errors"] = errors_of(test, j)
            if ref == "plain":
                f[f"{j}_vs_direct"] = round_ratios(test, metric, j, "direct", better)
        if ref == "plain":
            f["best_peer_vs_direct"] = round_ratios(test, metric, "best", "direct", better)
        if f["jfe-w1"] is None and f["best_peer_value"] is None:
            continue
        figures.append(f)
    fig = {f["id"]: f for f in figures}

    targets = []
    for tid, text, fid, kind, thr in TARGETS:
        f = fig.get(fid)
        t = {"id": tid, "target": text, "figure": fid, "threshold": thr}
        if f is None or f.get("jfe-w1") is None:
            t.update({"value": None, "met": None, "status": "not measured"})
        elif kind == "abs_le":
            t.update({"value": f["jfe-w1"], "met": f["jfe-w1"] <= thr})
        elif kind == "direct":
            v = f.get("jfe-w1_vs_direct")
            t.update({"value": v, "met": v is not None and v >= thr})
        else:
            v = f.get("jfe-w1_vs_best_peer")
            if v is None:
                t.update({"value": None, "met": None})
            elif f["better"] == "high":
                t.update({"value": v, "met": v >= thr})
            else:
                t.update({"value": v, "met": v <= thr})
        if "status" not in t:
            t["status"] = "met" if t["met"] else ("missed" if t["met"] is False else "not measured")
        if f is not None and f.get("jfe-w1_errors"):
            t["jfe_errors"] = f["jfe-w1_errors"]
            t["status"] += f" (with {f['jfe-w1_errors']} jfe errors in that test)"
        targets.append(t)

    # errors seen anywhere
    errors = []
    for r in runs:
        e = {k: r[k] for k in ("socket_errors", "non2xx", "client_errors", "failed_open",
                               "failed_req", "jfe_handshake_failures", "jfe_upstream_failures",
                               "jfe_accept_errors", "new_failed", "bg_failed", "hot_error",
                               "new_errors", "bg_errors") if r.get(k)}
        if r.get("parse_error"):
            e["parse_error"] = r["parse_error"]
        if r.get("rc") not in (None, 0):
            e["rc"] = r["rc"]
        if e:
            errors.append({"round": r.get("round"), "test": r["test"], "contender": r["contender"], **e})

    # on-demand issuance: jfe-only figures, medians over rounds (the ratios are per round)
    acme = None
    if "acme-ttfb" in medians:
        af = []
        for fid, metric, unit, label in ACME_FIGURES:
            f = {"id": fid, "label": label, "test": "acme-ttfb", "metric": metric, "unit": unit,
                 "jfe_only": True}
            for j in JFE:
                x = medians["acme-ttfb"].get(j, {}).get(metric)
                f[j] = x["median"] if x else None
                if x:
                    f[f"{j}_min"], f[f"{j}_max"], f[f"{j}_n"] = x["min"], x["max"], x["n"]
            if f["jfe-w1"] is not None or f["jfe-w2"] is not None:
                af.append(f)
        checks = []
        for r in runs:
            if r["test"] != "acme-ttfb":
                continue
            names = (r.get("new_names") or 0) + (1 if "hot_first_ms" in r else 0)
            checks.append({"round": r.get("round"), "contender": r["contender"], "names": names,
                           "failed_new": r.get("new_failed"), "failed_background": r.get("bg_failed"),
                           "pebble_orders": r.get("pebble_orders"), "pebble_issued": r.get("pebble_issued"),
                           "jfe_issued": r.get("jfe_issued"), "base_n": r.get("base_n"),
                           "issue_n": r.get("issue_n"), "names_under_load": r.get("new_load"),
                           "ttfb_list_ms": r.get("ttfb_list_ms"),
                           "one_order_per_name": names == r.get("pebble_orders") == r.get("pebble_issued")
                           == r.get("jfe_issued")})
        acme = {"note": ACME_NOTE, "figures": af, "checks": checks}

    out = {"meta": meta, "crypto": crypto, "figures": figures, "targets": targets, "acme": acme,
           "errors": errors, "medians": medians, "raw": runs}
    with open(outbase + ".json", "w") as fo:
        json.dump(out, fo, indent=1)
    with open(outbase + ".md", "w") as fo:
        fo.write(render_md(out, medians))


TEST_TABLES = [
    ("tls-ka100", "TLS, 100 B file, keep-alive (wrk -t2 -c50)", "tls",
     [("req_s", "req/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("cpu_us_per_req", "proxy CPU µs/req")]),
    ("tls-bulk1m", "TLS, 1 MiB file, keep-alive (wrk -t2 -c50)", "tls",
     [("gbit_s", "Gbit/s"), ("cpu_s_per_gb", "proxy CPU s/GB"), ("p99_ms", "p99 ms")]),
    ("tls-close100", "TLS, Connection: close (wrk -t2 -c50; wrk resumes TLS sessions)", "tls",
     [("req_s", "req/s"), ("cpu_us_per_req", "proxy CPU µs/req"), ("p99_ms", "p99 ms")]),
    ("tls-stime", "TLS full handshakes (4 × openssl s_time -new -www /100b.bin)", "tls",
     [("conn_s", "conn/s"), ("cpu_us_per_conn", "proxy CPU µs/conn")]),
    ("tls-stream", "TLS single stream (iperf3 -c → socat TLS client → proxy → iperf3 -s)", "tls",
     [("gbit_s", "Gbit/s"), ("cpu_s_per_gb", "proxy CPU s/GB")]),
    ("idle-tls", "idle TLS connections (handshake done; then one request each)", "tls",
     [("idle_rss_kib_per_conn", "RSS KiB/conn idle"), ("after_req_rss_kib_per_conn", "RSS KiB/conn after 1 req"),
      ("after_req_pss_kib_per_conn", "PSS KiB/conn after 1 req"), ("after_req_fds_per_conn", "fds/conn")]),
    ("plain-ka100", "pass-through, 100 B file, keep-alive (wrk -t2 -c50)", "plain",
     [("req_s", "req/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("cpu_us_per_req", "proxy CPU µs/req")]),
    ("plain-bulk1m", "pass-through, 1 MiB file, keep-alive (wrk -t2 -c50)", "plain",
     [("gbit_s", "Gbit/s"), ("cpu_s_per_gb", "proxy CPU s/GB"), ("p99_ms", "p99 ms")]),
    ("plain-close100", "pass-through, Connection: close (new TCP connection per request)", "plain",
     [("req_s", "req/s"), ("cpu_us_per_req", "proxy CPU µs/req"), ("p99_ms", "p99 ms")]),
    ("plain-iperf", "pass-through, iperf3 single stream", "plain",
     [("gbit_s", "Gbit/s"), ("cpu_s_per_gb", "proxy CPU s/GB")]),
    ("idle-plain", "idle pass-through connections (one request each)", "plain",
     [("idle_rss_kib_per_conn", "RSS KiB/conn idle"), ("after_req_rss_kib_per_conn", "RSS KiB/conn after 1 req"),
      ("after_req_pss_kib_per_conn", "PSS KiB/conn after 1 req"), ("after_req_fds_per_conn", "fds/conn")]),
]


def render_md(out, medians):
    m = out["meta"]
    L = []
    L.append(f"# jfe benchmark — {m.get('started', '?')}")
    L.append("")
    L.append(f"{m.get('mode', '?')} run: {m.get('rounds', '?')} round(s) × {m.get('seconds', '?')} s per "
             f"measurement, medians over rounds; {m.get('idle_conns', '?')} idle connections for memory; "
             f"took {m.get('runtime_s', '?')} s. Machine: {m.get('cpu', '?')}, {m.get('nproc', '?')} CPUs, "
             f"kernel {m.get('kernel', '?')}, load average before {m.get('load_before', '?')}, machine "
             f"{m.get('background_busy_pct', '?')} % busy before the run (top processes: {m.get('background_top', '?')}). {m.get('jfe_version', '?')} "
             f"(git {m.get('jfe_git', '?')}; binary {m.get('jfe_binary', '?')}).")
    L.append("")
    L.append("Ratios: for every round, jfe's value / the best peer's value in that same round (best = "
             "highest rate, lowest CPU/latency/memory), then the median over rounds; for pass-through "
             "also jfe / direct (no proxy) the same way. Values are medians over rounds. \"jfe errors\" "
             "= socket errors, non-2xx, failed s_time clients, failed opens/requests of the idle holder, "
             "summed over rounds. jfe-w1 = "
             "`--workers 1` (same single worker/thread as every peer that lets one choose), jfe-w2 = "
             "`--workers 2` (informational: it may use both cores).")
    L.append("")
    L.append("## jfe vs the best peer")
    L.append("")
    if out["figures"]:
        L.append("| figure | jfe-w1 | jfe-w2 | best peer (median) | ratio w1 | ratio w2 | direct | w1 / direct | best peer / direct | jfe errors w1 / w2 |")
        L.append("|---|---|---|---|---|---|---|---|---|---|")
    else:
        L.append(f"No test of this run compares jfe with a peer (tests: {', '.join(m.get('tests') or [])}).")
    for f in out["figures"]:
        u = f["unit"]
        bp = f"{f['best_peer']} {_fmt(f['best_peer_value'], u)}" if f["best_peer"] else "–"
        L.append(f"| {f['label']} ({u}) | {_fmt(f['jfe-w1'], u)} | {_fmt(f['jfe-w2'], u)} | {bp} | "
                 f"{_fmtr(f.get('jfe-w1_vs_best_peer'))} | {_fmtr(f.get('jfe-w2_vs_best_peer'))} | "
                 f"{_fmt(f.get('direct'), u)} | {_fmtr(f.get('jfe-w1_vs_direct'))} | {_fmtr(f.get('best_peer_vs_direct'))} | "
                 f"{f.get('jfe-w1_errors', 0)} / {f.get('jfe-w2_errors', 0) if f.get('jfe-w2') is not None else '–'} |")
    L.append("")
    L.append("## Targets (issue 4), judged on jfe-w1")
    L.append("")
    L.append("| target | value | status |")
    L.append("|---|---|---|")
    for t in out["targets"]:
        v = t["value"]
        if t["figure"] == "tls_bulk_cpu_s_gb":
            vs = f"{_fmt(v)} s/GB" if v is not None else "–"
        else:
            vs = f"{_fmtr(v)}×" if v is not None else "–"
        L.append(f"| {t['target']} | {vs} | **{t['status']}** |")
    L.append("")
    a = out.get("acme")
    if a:
        L.append("## On-demand issuance (jfe only)")
        L.append("")
        pv = (m.get("versions") or {}).get("pebble") or "?"
        L.append(f"{a['note']}. Pebble {pv} "
                 "(no VA sleep, no rejected nonces, no authorization reuse) and pebble-challtestsrv in a "
                 "third namespace; HTTP-01 answered by jfe on port 80. Time to first byte = from the TCP "
                 "connect to the first byte of the backend's answer to `GET /100b.bin`, a new name each "
                 "time (a new order), one at a time, nothing else running; certificates verified against "
                 "Pebble's root. Handshake latency = TCP connect + full TLS 1.3 handshake with the SNI of "
                 "an already-issued name, under a steady open-loop load; beside it new names are issued one "
                 "at a time, each followed by a pause of 0.5 s + as long as it took (at least 0.25 s), so times with and without an "
                 "order in flight alternate within the same seconds. \"During issuance\" = the handshakes "
                 "that overlap an order in flight (connect .. handshake done of a new name); \"without\" = "
                 "those at least 0.25 s away from every order; the ratio is taken per round.")
        L.append("")
        L.append("| figure | jfe-w1 | jfe-w2 |")
        L.append("|---|---|---|")
        for f in a["figures"]:
            cells = []
            for j in JFE:
                v = f.get(j)
                if v is None:
                    cells.append("–")
                elif f["unit"] == "×":
                    s = f"{_fmtr(v)}×"
                    if f.get(f"{j}_n", 1) > 1 and f[f"{j}_min"] != f[f"{j}_max"]:
                        s += f" ({_fmtr(f[f'{j}_min'])}..{_fmtr(f[f'{j}_max'])})"
                    cells.append(s)
                else:
                    s = _fmt(v)
                    if f.get(f"{j}_n", 1) > 1 and f[f"{j}_min"] != f[f"{j}_max"]:
                        s += f" ({_fmt(f[f'{j}_min'])}..{_fmt(f[f'{j}_max'])})"
                    cells.append(s)
            u = "" if f["unit"] == "×" else f" ({f['unit']})"
            L.append(f"| {f['label']}{u} | {cells[0]} | {cells[1]} |")
        L.append("")
        for ck in a["checks"]:
            L.append(f"- round {ck['round']} {ck['contender']}: {ck['names']} names ordered "
                     f"({ck.get('names_under_load')} during the load), Pebble orders {ck['pebble_orders']} / "
                     f"certificates {ck['pebble_issued']}, jfe 'certificate issued' {ck['jfe_issued']} "
                     f"({'one order per name' if ck['one_order_per_name'] else '**mismatch**'}); failed: "
                     f"{ck['failed_new']} new names, {ck['failed_background']} background handshakes; "
                     f"background handshakes without / during issuance: {ck.get('base_n')} / {ck.get('issue_n')}; "
                     f"times to first byte one at a time (ms): {', '.join(_fmt(x) for x in ck.get('ttfb_list_ms') or [])}")
        L.append("")
        L.append("jfe's `upstream_failures` in acme-ttfb (under Errors recorded) are Pebble's HTTP-01 "
                 "validation connections to port 80 (three per name), where nothing listens by design: jfe "
                 "counts the refused connect to the service, then answers the challenge itself.")
        L.append("")
    c = out.get("crypto")
    if c:
        L.append("## Crypto ceiling (`openssl speed -seconds 1`, one core, this run)")
        L.append("")
        parts = []
        for k, lab in (("aes-128-gcm", "AES-128-GCM"), ("aes-256-gcm", "AES-256-GCM"),
                       ("chacha20-poly1305", "ChaCha20-Poly1305")):
            if f"{k}_gbit_s_16k" in c:
                parts.append(f"{lab} {c[f'{k}_gbit_s_16k']} Gbit/s at 16 KiB ({c[f'{k}_cpu_s_per_gb']} CPU-s/GB)")
        if "ecdsa_p256_sign_s" in c:
            parts.append(f"ECDSA P-256 sign {c['ecdsa_p256_sign_s']}/s, verify {c['ecdsa_p256_verify_s']}/s")
        if "x25519_derive_s" in c:
            parts.append(f"X25519 derive {c['x25519_derive_s']}/s")
        L.append("; ".join(parts) + ".")
        L.append("")
    if any(t in medians for t, *_ in TEST_TABLES):
        L.append("## Per test (median, min..max over rounds)")
    for test, title, ref, cols in TEST_TABLES:
        if test not in medians:
            continue
        L.append("")
        L.append(f"### {title}")
        L.append("")
        hdr = ["contender"] + [h for _, h in cols] + ["ratio vs best peer"]
        if ref == "plain":
            hdr.append("ratio vs direct")
        idle = test.startswith("idle")
        if idle:
            hdr += ["opened", "errors"]
        else:
            hdr += ["proxy CPU %", "backend CPU %", "client CPU %", "machine busy %", "errors"]
        L.append("| " + " | ".join(hdr) + " |")
        L.append("|" + "---|" * len(hdr))
        main_metric = cols[0][0] if not test.startswith("idle") else "after_req_rss_kib_per_conn"
        better = "low" if test.startswith("idle") else "high"
        peers = TLS_PEERS if ref == "tls" else PLAIN_PEERS
        pv = {p: medians[test][p][main_metric]["median"] for p in peers
              if p in medians[test] and main_metric in medians[test][p]}
        best = (max(pv.values()) if better == "high" else min(pv.values())) if pv else None
        direct = medians[test].get("direct", {}).get(main_metric, {}).get("median")
        order = (["direct"] if ref == "plain" else []) + peers + JFE
        for cn in order:
            if cn not in medians[test]:
                continue
            d = medians[test][cn]
            row = [cn]
            for k, _ in cols:
                if k in d:
                    x = d[k]
                    if x["n"] > 1 and x["min"] != x["max"]:
                        row.append(f"{_fmt(x['median'])} ({_fmt(x['min'])}..{_fmt(x['max'])})")
                    else:
                        row.append(_fmt(x["median"]))
                else:
                    row.append("–")
            mv = d.get(main_metric, {}).get("median")
            row.append(_fmtr(_ratio(mv, best)) if cn != "direct" else "–")
            if ref == "plain":
                row.append(_fmtr(_ratio(mv, direct)))
            if idle:
                row.append(str(d.get("opened", {}).get("median", "–")))
            else:
                for k in ("proxy_cpu_pct", "backend_cpu_pct", "client_cpu_pct", "busy_pct"):
                    row.append(_fmt(d.get(k, {}).get("median")))
            errs = sum(d.get(k, {}).get("max", 0) for k in ("socket_errors", "non2xx", "client_errors",
                                                             "failed_open", "failed_req", "jfe_handshake_failures",
                                                             "jfe_upstream_failures"))
            row.append(str(int(errs)))
            L.append("| " + " | ".join(row) + " |")
    if out["errors"]:
        L.append("")
        L.append("## Errors recorded")
        L.append("")
        for e in out["errors"]:
            L.append("- " + ", ".join(f"{k}={v}" for k, v in e.items()))
    L.append("")
    L.append("Environment: " + "; ".join(f"{k} {v}" for k, v in m.get("versions", {}).items()))
    if m.get("tls_check"):
        L.append("")
        L.append("Negotiated (openssl s_client per TLS contender): " +
                 "; ".join(f"{k}: {v}" for k, v in m["tls_check"].items()))
    L.append("")
    return "\n".join(L)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    cmd, args = sys.argv[1], sys.argv[2:]
    {"snap": cmd_snap, "mem": cmd_mem, "idle": cmd_idle, "acme": cmd_acme, "rec": cmd_rec,
     "crypto": cmd_crypto, "report": cmd_report}[cmd](args)


if __name__ == "__main__":
    main()
