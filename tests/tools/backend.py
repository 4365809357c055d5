#!/usr/bin/python3
"""HTTP test backend: answers every GET/HEAD with the peer address it sees.

usage: backend.py HOST PORT [HOST PORT ...]

Serves plain HTTP only, on every (HOST, PORT) pair given (IPv6 hosts without brackets),
with a listen backlog of 256 (python -m http.server's backlog of 5 drops SYNs under
parallel load). The body is one line:
    backend ('10.77.0.1', 8080) sees peer ('10.77.0.2', 41234)
and each request is also logged to stdout as "REQ <peer-ip> <peer-port> <path>", so a
test can tell whether a request reached the backend at all. Standard library only.
"""
import http.server
import socket
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, with_body):
        body = (f"backend {self.server.server_address[:2]} "
                f"sees peer {self.client_address[:2]}\n").encode()
        print(f"REQ {self.client_address[0]} {self.client_address[1]} {self.path}", flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if with_body:
            self.wfile.write(body)
        self.close_connection = True

    def do_GET(self):
        self._answer(True)

    def do_HEAD(self):
        self._answer(False)

    def log_message(self, *a):
        pass


class Server4(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True
    allow_reuse_address = True


class Server6(Server4):
    address_family = socket.AF_INET6


def main():
    args = sys.argv[1:]
    if not args or len(args) % 2:
        sys.exit("usage: backend.py HOST PORT [HOST PORT ...]")
    servers = []
    for host, port in zip(args[0::2], args[1::2]):
        cls = Server6 if ":" in host else Server4
        servers.append(cls((host, int(port)), Handler))
        print(f"LISTEN {host} {port}", flush=True)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
