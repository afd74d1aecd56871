#!/usr/bin/env python3
"""A small origin server for CaskRemote's tests, on 127.0.0.1 and a port the kernel picks.

Prints "PORT <n>" once listening. Files come from --root:
  /files/NAME      ETag (SHA-256 of the bytes) and Last-Modified (the file's mtime); answers
                   If-None-Match and If-Modified-Since with 304 (If-None-Match decides when sent).
  /plain/NAME      the same bytes with no validators: always 200.
  /redirect?to=U   302 to U.
  /auth            200 with "authorization: present" or "authorization: absent".
  /counts          JSON: {"NAME": {"200": n, "304": n}} for /files and /plain requests.
Markers next to a file change how it is served: NAME.truncate sends the full Content-Length and
half the bytes, then closes; NAME.stall waits (up to 20 s) before answering; NAME.slow sends the
body in 64 KiB pieces 20 ms apart, and after the first 2 MiB waits while the marker is there (up
to 20 s), so a test can act mid-body however loaded the machine is (it stops when the client goes
away).
"""
import argparse, email.utils, hashlib, json, os, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

counts = {}
lock = threading.Lock()


def count(name, status):
    with lock:
        counts.setdefault(name, {"200": 0, "304": 0})
        counts[name][str(status)] = counts[name].get(str(status), 0) + 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_body(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_head(self, headers, length):
        self.send_response(200)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/counts":
            with lock:
                return self.send_body(200, json.dumps(counts).encode())
        if url.path == "/auth":
            present = "present" if self.headers.get("Authorization") else "absent"
            return self.send_body(200, ("authorization: " + present).encode())
        if url.path == "/redirect":
            target = parse_qs(url.query)["to"][0]
            return self.send_body(302, b"", [("Location", target)])
        parts = url.path.split("/")
        if len(parts) != 3 or parts[1] not in ("files", "plain") or not parts[2] or parts[2].startswith("."):
            return self.send_body(404, b"no such route")
        kind, name = parts[1], parts[2]
        path = os.path.join(args.root, name)
        if not os.path.isfile(path):
            return self.send_body(404, b"no such file")
        if os.path.exists(path + ".stall"):
            deadline = time.time() + 20
            while os.path.exists(path + ".stall") and time.time() < deadline:
                time.sleep(0.05)
        with open(path, "rb") as f:
            body = f.read()
        mtime = int(os.stat(path).st_mtime)
        headers = []
        if kind == "files":
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            headers = [("ETag", etag), ("Last-Modified", email.utils.formatdate(mtime, usegmt=True))]
            inm = self.headers.get("If-None-Match")
            ims = self.headers.get("If-Modified-Since")
            unchanged = False
            if inm is not None:
                unchanged = etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
            elif ims is not None:
                try:
                    unchanged = mtime <= int(email.utils.parsedate_to_datetime(ims).timestamp())
                except (TypeError, ValueError):
                    unchanged = False
            if unchanged:
                count(name, 304)
                self.send_response(304)
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                return
        count(name, 200)
        if os.path.exists(path + ".truncate"):
            self.send_head(headers, len(body))
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if os.path.exists(path + ".slow"):
            self.send_head(headers, len(body))
            try:
                for at in range(0, len(body), 65536):
                    self.wfile.write(body[at:at + 65536])
                    self.wfile.flush()
                    time.sleep(0.02)
                    if at + 65536 == 2 << 20:
                        held = time.monotonic()
                        while os.path.exists(path + ".slow") and time.monotonic() - held < 20:
                            time.sleep(0.02)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return
        self.send_body(200, body, headers)


parser = argparse.ArgumentParser()
parser.add_argument("--root", required=True)
parser.add_argument("--parent", type=int, help="exit when this process is gone")
args = parser.parse_args()


def watch_parent():
    while True:
        try:
            os.kill(args.parent, 0)
        except ProcessLookupError:
            os._exit(0)
        time.sleep(0.2)


# The test's Process may start children with signals blocked: take the default SIGTERM back.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
if args.parent:
    threading.Thread(target=watch_parent, daemon=True).start()
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print("PORT", server.server_address[1], flush=True)
server.serve_forever()
