"""The edge of the JSON-RPC stream: what comes in is checked here, frame by
frame, before pygls sees it; what goes out is written whole (`FrameWriter`).

pygls trusts its input: a `Content-Length` of 100 GB makes it allocate, one
missing or negative puts it out of step with the stream for good, and invalid
JSON, a batch or JSON nested a hundred thousand deep are logged and never
answered. Here each of those gets a JSON-RPC error (-32700 or -32600), the
reader finds the next frame, and only well-formed messages go on to pygls,
through a pipe, exactly as they came.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
from typing import BinaryIO

log = logging.getLogger("fathom.lsp")

# Far above any real message (an editor sends a whole open file at most).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 8192
READ_CHUNK = 1 << 16
_LENGTH = re.compile(rb"content-length:[ \t]*(\S*)[ \t]*", re.IGNORECASE)
_NEXT_FRAME = b"Content-Length:"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


class FrameWriter:
    """The JSON-RPC stream's writer. Responses are written from pool threads and
    notifications from the event loop at once: each message goes out whole, under
    a lock, and a short write is carried on until every byte is out."""

    def __init__(self, fd: int):
        self._fd = fd
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        with self._lock:
            while view:
                view = view[os.write(self._fd, view):]

    def flush(self) -> None:
        pass

    def close(self) -> None:
        os.close(self._fd)

    def send_error(self, request_id, code: int, message: str) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}})
        self.write(b"Content-Length: %d\r\n\r\n" % len(body) + body.encode())


class _Input:
    """Buffered reads from the client, never more than asked for at once."""

    def __init__(self, stream: BinaryIO):
        self.fd = stream.fileno()
        self.buffer = b""
        self.closed = False

    def _more(self) -> bool:
        chunk = os.read(self.fd, READ_CHUNK)
        if not chunk:
            self.closed = True
        self.buffer += chunk
        return bool(chunk)

    def line(self) -> bytes | None:
        """One header line without its line end; None at the end of input."""
        while True:
            at = self.buffer.find(b"\n")
            if at >= 0:
                line, self.buffer = self.buffer[:at], self.buffer[at + 1:]
                return line.rstrip(b"\r")
            if len(self.buffer) > MAX_HEADER_BYTES:
                line, self.buffer = self.buffer, b""
                return line  # no line end in sight: not a header; the caller resyncs
            if not self._more():
                return None

    def exactly(self, n: int) -> bytes | None:
        while len(self.buffer) < n:
            if not self._more():
                return None
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def skip_to_next_frame(self) -> bool:
        """Drop input up to the next `Content-Length:` (bounded memory); False at the end."""
        while True:
            at = self.buffer.find(_NEXT_FRAME)
            if at >= 0:
                self.buffer = self.buffer[at:]
                return True
            self.buffer = self.buffer[-len(_NEXT_FRAME):]
            if not self._more():
                return False


def filter_frames(source: BinaryIO, sink_fd: int, writer: FrameWriter) -> None:
    """Copy well-formed frames from `source` to `sink_fd`; answer the rest. Runs
    until the client closes its end, then closes `sink_fd` (pygls then stops)."""
    stream = _Input(source)
    try:
        while True:
            length, problem = _headers(stream)
            if length is None and problem is None:
                return  # the client closed the stream
            if problem is not None:
                writer.send_error(None, PARSE_ERROR, problem)
                if not stream.skip_to_next_frame():
                    return
                continue
            body = stream.exactly(length)
            if body is None:
                return
            verdict = _check(body)
            if verdict is not None:
                request_id, code, message = verdict
                writer.send_error(request_id, code, message)
                continue
            _write_all(sink_fd, b"Content-Length: %d\r\n\r\n" % len(body) + body)
    except OSError as exc:
        log.info("client stream closed: %s", exc)
    finally:
        os.close(sink_fd)


def _headers(stream: _Input) -> tuple[int | None, str | None]:
    """(body length, None) for a good header block, (None, why) for a bad one,
    (None, None) at the end of input."""
    length: int | None = None
    problem: str | None = None
    while True:
        line = stream.line()
        if line is None:
            return None, None
        if not line:
            if problem is None and length is None:
                problem = "a message without a Content-Length header"
            return (None, problem) if problem else (length, None)
        match = _LENGTH.fullmatch(line)
        if match is None:
            if b":" not in line:
                return None, "not a JSON-RPC header: the stream is resynchronised at the next message"
            continue  # Content-Type and the like
        raw = match.group(1)
        if not raw.isdigit():
            problem = f"Content-Length must be a whole number of bytes, not {raw[:20]!r}"
        elif int(raw) > MAX_MESSAGE_BYTES:
            problem = f"a message of {int(raw):,} bytes is over the {MAX_MESSAGE_BYTES:,}-byte limit"
        else:
            length = int(raw)


def _check(body: bytes) -> tuple[object, int, str] | None:
    """None for a message pygls can be given, else (id, code, message) to answer."""
    try:
        message = json.loads(body)
    except RecursionError:
        return None, PARSE_ERROR, "JSON nested too deep"
    except ValueError as exc:
        return None, PARSE_ERROR, f"invalid JSON: {exc}"
    if isinstance(message, list):
        return None, INVALID_REQUEST, "batches are not supported by the Language Server Protocol"
    if not isinstance(message, dict):
        return None, INVALID_REQUEST, "a message must be a JSON object"
    request_id = message.get("id")
    if not isinstance(request_id, (int, str)) or isinstance(request_id, bool):
        request_id = None
    if message.get("jsonrpc") != "2.0":
        return request_id, INVALID_REQUEST, "'jsonrpc' must be \"2.0\""
    if "method" in message and not isinstance(message["method"], str):
        return request_id, INVALID_REQUEST, "'method' must be a string"
    return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
