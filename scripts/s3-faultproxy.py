#!/usr/bin/env python3
"""A fault-injecting HTTP proxy to put in front of an S3 server in tests.

Listens on 127.0.0.1 and forwards each request unchanged (the Host header too, so SigV4
signatures made for the proxy's address still verify upstream) to the upstream server, but at
random, per request:
  --slowdown P     answers 503 SlowDown without forwarding
  --reset P        resets the connection (TCP RST) before forwarding: the request is lost
  --reset-after P  forwards, then resets instead of answering: the server acted, the client
                   never hears it (the case that tests idempotent, create-only retries)
  --stall P        forwards, sends half of the answer's body, then stalls for --stall-seconds
                   (answers with a body only)
  --reject-part N  answers 400 InvalidPart to every UploadPart with partNumber=N (non-retryable)
  --reset-after-create N  resets instead of answering the first N CreateMultipartUpload
                   requests after forwarding them (the server started an upload whose id the
                   client never learns)
Every injected fault is appended as one line to --log (default: stderr), so a test can check
that faults really happened. Runs until killed, or --lifetime seconds (default 3600).

Usage: s3-faultproxy.py --upstream http://127.0.0.1:7480 [--port 0] [--port-file F] ...
Standard library only.
"""
import argparse
import http.client
import http.server
import random
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
              "trailer"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--slowdown", type=float, default=0.0)
    ap.add_argument("--reset", type=float, default=0.0)
    ap.add_argument("--reset-after", type=float, default=0.0)
    ap.add_argument("--stall", type=float, default=0.0)
    ap.add_argument("--stall-seconds", type=float, default=30.0)
    ap.add_argument("--reject-part", type=int, default=0)
    ap.add_argument("--reset-after-create", type=int, default=0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float, default=3600.0)
    args = ap.parse_args()

    up = urllib.parse.urlparse(args.upstream)
    up_host, up_port = up.hostname, up.port or 80
    rng = random.Random(args.seed)
    rng_lock = threading.Lock()
    log_lock = threading.Lock()
    log_file = open(args.log, "a", buffering=1) if args.log else sys.stderr
    local = threading.local()
    creates_to_reset = [args.reset_after_create]

    def note(kind, handler):
        with log_lock:
            log_file.write("%.3f %s %s %s\n" % (time.time(), kind, handler.command, handler.path))

    def roll(p):
        if p <= 0:
            return False
        with rng_lock:
            return rng.random() < p

    def upstream():
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(up_host, up_port, timeout=120)
            local.conn = conn
        return conn

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet
            pass

        def reset(self):
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def send_error_xml(self, status, code, message):
            body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
                    "<Message>%s</Message></Error>" % (code, message)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            # An answer to HEAD has no body (as from S3): bytes after its headers would be
            # read as the start of the next answer on the same connection.
            if self.command == "HEAD":
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query,
                                          keep_blank_values=True)
            if (args.reject_part and self.command == "PUT"
                    and query.get("partNumber") == [str(args.reject_part)]):
                note("reject-part", self)
                return self.send_error_xml(400, "InvalidPart", "rejected by the fault proxy")
            if roll(args.slowdown):
                note("slowdown", self)
                return self.send_error_xml(503, "SlowDown", "Please reduce your request rate.")
            if roll(args.reset):
                note("reset", self)
                return self.reset()
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            try:
                conn = upstream()
                conn.request(self.command, self.path, body=body if length else None,
                             headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except Exception as e:  # upstream down: behave like a gateway
                local.conn = None
                note("upstream-error", self)
                return self.send_error_xml(502, "BadGateway", str(e).replace("<", ""))
            if roll(args.reset_after):
                note("reset-after", self)
                return self.reset()
            if self.command == "POST" and "uploads" in query:
                with rng_lock:
                    lose = creates_to_reset[0] > 0
                    creates_to_reset[0] -= lose
                if lose:
                    note("reset-after-create", self)
                    return self.reset()
            # Only answers with a body can stall half-way (a client that got every byte it
            # was promised does not notice a stall).
            stall = self.command != "HEAD" and len(data) >= 2 and roll(args.stall)
            self.send_response(resp.status, resp.reason)
            # The body was read whole (radosgw sends listings chunked), so it goes on with its
            # own Content-Length; a HEAD answer keeps the server's (the object's size).
            for k, v in resp.getheaders():
                if k.lower() in HOP_BY_HOP or (k.lower() == "content-length"
                                               and self.command != "HEAD"):
                    continue
                self.send_header(k, v)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if stall:
                note("stall", self)
                half = len(data) // 2
                self.wfile.write(data[:half])
                self.wfile.flush()
                time.sleep(args.stall_seconds)
                self.close_connection = True
                return
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                self.close_connection = True

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server(("127.0.0.1", args.port), Handler)
    port = srv.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        import os
        os.rename(args.port_file + ".tmp", args.port_file)
    threading.Timer(args.lifetime, srv.shutdown).start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
