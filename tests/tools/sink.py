#!/usr/bin/python3
"""A service that accepts any number of connections and never reads or answers: a backend for
the silent-client tests that costs one socket per connection and no thread.
usage: sink.py HOST PORT"""
import selectors
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
ls = socket.socket(fam, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(4096)
ls.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(ls, selectors.EVENT_READ)
held = {}
while True:
    for key, _ in sel.select():
        if key.fileobj is ls:
            try:
                c, _ = ls.accept()
            except OSError:
                continue
            c.setblocking(False)
            held[c.fileno()] = c
            sel.register(c, selectors.EVENT_READ)
        else:
            c = key.fileobj
            try:
                data = c.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(c)
                held.pop(c.fileno(), None)
                c.close()
