#!/usr/bin/env python3
"""rangeserver: a small HTTP server with Range support and switchable
misbehaviour, for testing cache/hub.c's range reader (standard library only).

    rangeserver.py DIR LOG    serve DIR on 127.0.0.1, print the port, log
                              one JSON line per request to LOG

Paths (NAME is a file in DIR):
    /f/NAME            Range: single "bytes=A-B" -> 206 + Content-Range,
                       past the end -> 416 "bytes */SIZE"; no Range -> 200
    /norange/NAME      ignores Range: 200 with the whole file
    /nototal/NAME      206 with "Content-Range: bytes A-B/*"
    /auth/NAME         needs "Authorization: Bearer secret-token", else 401
    /redir/N/NAME      302 to /redir/N-1/NAME, /redir/0/NAME -> /f/NAME
    /xredir/NAME       302 to the same server under the name "localhost"
                       (another origin for a client that came by 127.0.0.1)
    /noloc/NAME        302 without a Location header
    /status/CODE/NAME  answers CODE
    /flaky/NAME        503 on the first request for NAME, then as /f/
    /expire/NAME       302 to /signed/NAME?sig=K with a new K each time;
                       each signature works for one request, then 403
"""

import http.server
import json
import os
import re
import sys
import threading

TOKEN = "secret-token"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = {"flaky": set(), "sig_next": 0, "sig_used": set(), "lock": threading.Lock()}

    def log_message(self, fmt, *args):
        pass

    def _log(self, status):
        rec = {"path": self.path, "host": self.headers.get("Host", ""),
               "auth": self.headers.get("Authorization"), "range": self.headers.get("Range"),
               "status": status}
        with self.state["lock"], open(self.server.log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def _simple(self, code, headers=None, body=b""):
        self._log(code)
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _file(self, name, honor_range=True, total=True):
        path = os.path.join(self.server.root, os.path.basename(name))
        if not os.path.isfile(path):
            return self._simple(404, body=b"not found")
        size = os.path.getsize(path)
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if honor_range and m:
            a = int(m.group(1))
            b = int(m.group(2)) if m.group(2) else size - 1
            if a >= size:
                return self._simple(416, {"Content-Range": "bytes */%d" % size})
            b = min(b, size - 1)
            code = 206
            cr = "bytes %d-%d/%s" % (a, b, size if total else "*")
        else:
            a, b, code, cr = 0, size - 1, 200, None
        self._log(code)
        self.send_response(code)
        if cr:
            self.send_header("Content-Range", cr)
        self.send_header("Accept-Ranges", "bytes" if honor_range else "none")
        self.send_header("Content-Length", str(b - a + 1))
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            with open(path, "rb") as f:
                f.seek(a)
                left = b - a + 1
                while left > 0:
                    chunk = f.read(min(left, 1 << 16))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    left -= len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        kind = parts[0] if parts else ""
        port = self.server.server_address[1]
        if kind == "f" and len(parts) == 2:
            return self._file(parts[1])
        if kind == "norange" and len(parts) == 2:
            return self._file(parts[1], honor_range=False)
        if kind == "nototal" and len(parts) == 2:
            return self._file(parts[1], total=False)
        if kind == "auth" and len(parts) == 2:
            if self.headers.get("Authorization") != "Bearer " + TOKEN:
                return self._simple(401, body=b"unauthorized")
            return self._file(parts[1])
        if kind == "redir" and len(parts) == 3:
            n = int(parts[1])
            loc = "/f/%s" % parts[2] if n <= 0 else "/redir/%d/%s" % (n - 1, parts[2])
            return self._simple(302, {"Location": loc})
        if kind == "xredir" and len(parts) == 2:
            return self._simple(302, {"Location": "http://localhost:%d/f/%s" % (port, parts[1])})
        if kind == "noloc" and len(parts) == 2:
            return self._simple(302)
        if kind == "status" and len(parts) == 3:
            return self._simple(int(parts[1]), body=b"status")
        if kind == "flaky" and len(parts) == 2:
            with self.state["lock"]:
                first = parts[1] not in self.state["flaky"]
                self.state["flaky"].add(parts[1])
            if first:
                return self._simple(503, body=b"try again")
            return self._file(parts[1])
        if kind == "expire" and len(parts) == 2:
            with self.state["lock"]:
                k = self.state["sig_next"]
                self.state["sig_next"] += 1
            return self._simple(302, {"Location": "/signed/%s?sig=%d" % (parts[1], k)})
        if kind == "signed" and len(parts) == 2:
            sig = self.path.split("sig=", 1)[-1]
            with self.state["lock"]:
                used = sig in self.state["sig_used"]
                self.state["sig_used"].add(sig)
            if used:
                return self._simple(403, body=b"expired")
            return self._file(parts[1])
        return self._simple(400, body=b"bad path")

    do_HEAD = do_GET


def main(argv):
    root, log_path = argv[0], argv[1]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.root = root
    srv.log_path = log_path
    open(log_path, "w").close()
    sys.stdout.write("%d\n" % srv.server_address[1])
    sys.stdout.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
