"""A file server on 127.0.0.1 for seed snapshots, as an artifact store serves
them: ETag, Range requests answered 206, and on request a connection cut partway
through a response (for the resume tests and the download benchmark)."""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class SeedServer:
    def __init__(self, path: Path, *, cut_after: int | None = None, cuts: int = 1, status: int = 200):
        self.path = Path(path)
        self.cut_after = cut_after  # bytes sent before the connection is cut
        self.cuts_left = cuts if cut_after is not None else 0
        self.status = status  # anything else than 200: every request answered with it
        self.requests: list[dict[str, str]] = []  # the headers of each request
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args):
                pass

            def do_GET(self):
                server._answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/seeds/{self.path.name}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "SeedServer":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append(dict(handler.headers.items()))
            cut = self.cuts_left > 0
            self.cuts_left -= cut
        if self.status != 200:
            handler.send_response(self.status)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        data = self.path.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        start = 0
        wanted = handler.headers.get("Range", "")
        if wanted.startswith("bytes=") and handler.headers.get("If-Range", etag) == etag:
            start = int(wanted[len("bytes="):].split("-")[0])
            if start >= len(data):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(data)}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            handler.send_response(200)
        handler.send_header("ETag", etag)
        handler.send_header("Content-Length", str(len(data) - start))
        handler.send_header("Content-Type", "application/octet-stream")
        handler.end_headers()
        body = data[start:]
        if cut:
            handler.wfile.write(body[: self.cut_after])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(2)  # the connection drops mid-body
            return
        handler.wfile.write(body)
