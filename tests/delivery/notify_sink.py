#!/usr/bin/python3
"""tests/delivery/notify_sink.py SOCKET LOG — stand in for systemd's notification socket.

Binds an AF_UNIX datagram socket at SOCKET (what NOTIFY_SOCKET names) and appends every
datagram to LOG as one line, its assignments joined with '|' (READY=1|STATUS=...), until
killed. Lets the delivery test see jfe's sd_notify messages where PID 1 is not systemd.
"""
import os
import socket
import sys


def main():
    path, log = sys.argv[1], sys.argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    with open(log, "a", buffering=1) as out:
        while True:
            data = s.recv(65536)
            out.write(data.decode("utf-8", "replace").strip("\n").replace("\n", "|") + "\n")


if __name__ == "__main__":
    main()
