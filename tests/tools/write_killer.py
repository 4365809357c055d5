#!/usr/bin/python3
"""Kills a process with SIGKILL while it writes to a jfe store (agent/store.c layout).

usage: write_killer.py PID CACHE_DIR units|state MAX_DELAY_MS TIMEOUT_S

Watches (inotify) the store for the start of a write, waits a random 0..MAX_DELAY_MS ms and
kills PID, so that the kill lands inside the write (new files, fsyncs, the rename of `current`)
or just after it:
  units   a certificate or account save: a new unit directory under certs/ or account/ (a first
          save), or a version directory "v-<hex>" or temporary link ".tmp-<hex>" inside one;
  state   a state blob save: a temporary file ".tmp-<hex>" in state/. Prints
"KILLED <dir>/<entry> +<ms>ms" and exits 0; prints "NOWRITE" and exits 1 when nothing was
written within TIMEOUT_S (the caller kills the process itself then), "GONE" when PID ended
first. Standard library only (ctypes for inotify).
"""
import ctypes
import os
import random
import re
import select
import signal
import struct
import sys
import time

IN_CREATE, IN_MOVED_TO, IN_ISDIR = 0x100, 0x80, 0x40000000
WRITE = re.compile(r"^(v-|\.tmp-)[0-9a-f]{16}$")


def main():
    if len(sys.argv) != 6 or sys.argv[3] not in ("units", "state"):
        sys.exit(__doc__)
    pid, cache, target = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    max_ms, timeout = int(sys.argv[4]), float(sys.argv[5])
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        sys.exit("inotify_init1 failed")
    watches = {}

    def watch(path):
        wd = libc.inotify_add_watch(fd, os.fsencode(path), IN_CREATE | IN_MOVED_TO)
        if wd >= 0:
            watches[wd] = path

    tops = {os.path.join(cache, t) for t in ("certs", "account")}
    for top in (("certs", "account") if target == "units" else ("state",)):
        p = os.path.join(cache, top)
        if os.path.isdir(p):
            watch(p)
            if p in tops:
                for e in os.listdir(p):
                    if os.path.isdir(os.path.join(p, e)):
                        watch(os.path.join(p, e))
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("GONE", flush=True)
            return 1
        r, _, _ = select.select([fd], [], [], 0.05)
        if not r:
            continue
        buf = os.read(fd, 65536)
        off = 0
        while off + 16 <= len(buf):
            wd, mask, _, ln = struct.unpack_from("iIII", buf, off)
            name = buf[off + 16:off + 16 + ln].rstrip(b"\0").decode(errors="replace")
            off += 16 + ln
            parent = watches.get(wd, "?")
            new_unit = bool(mask & IN_ISDIR) and parent in tops
            if new_unit:
                watch(os.path.join(parent, name))
            # in a unit directory or in state/; the top directories hold only units
            if (WRITE.match(name) and parent not in tops) or new_unit:
                ms = random.randint(0, max_ms)
                time.sleep(ms / 1000)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    print("GONE", flush=True)
                    return 1
                rel = os.path.relpath(os.path.join(parent, name), cache)
                print(f"KILLED {rel} +{ms}ms", flush=True)
                return 0
    print("NOWRITE", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
