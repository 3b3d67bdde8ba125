"""Fetching a seed snapshot from an http(s) URL into the workspace's cache
directory: streamed to a partial file, resumed with a Range request after a cut
connection (and in a later run), and never written anywhere else.

Opens a socket only for a URL the user configured (`seedIndex`, `fathom import URL`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

log = logging.getLogger(__name__)

# A snapshot is about 4 KB a chunk: this is a tree of millions of files.
MOST_BYTES = 64 << 30
ATTEMPTS = 6
REPORT_EVERY_S = 1.0


class DownloadFailed(Exception):
    """The seed could not be fetched; what was fetched so far is kept for the next try."""


def is_url(source: str) -> bool:
    return urlsplit(source).scheme.lower() in ("http", "https")


def shown(source: str) -> str:
    """A URL as messages and the index may show it: no credentials, no query."""
    if not is_url(source):
        return source
    parts = urlsplit(source)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def download(url: str, directory: Path, report: Callable[[str], None],
             transport: httpx.BaseTransport | None = None) -> Path:
    """Fetch `url` into `directory` (created if needed) and return the file;
    a partial file from an earlier try of the same URL is resumed."""
    if not is_url(url):
        raise DownloadFailed(f"{shown(url)} is not an http or https URL")
    directory.mkdir(parents=True, exist_ok=True)
    partial, about = directory / "seed.partial", directory / "seed.partial.json"
    done_path = directory / "seed.snapshot"
    with httpx.Client(follow_redirects=True, transport=transport,
                      timeout=httpx.Timeout(30.0, read=60.0)) as client:
        for attempt in range(ATTEMPTS):
            try:
                _fetch(client, url, partial, about, _resume_state(about, url, partial), report)
                os.replace(partial, done_path)
                about.unlink(missing_ok=True)
                return done_path
            except (httpx.TransportError, _Retry) as exc:
                have = partial.stat().st_size if partial.exists() else 0
                if attempt == ATTEMPTS - 1:
                    raise DownloadFailed(f"fetching {shown(url)} failed after {ATTEMPTS} tries "
                                         f"({_why(exc)}); {have:,} bytes kept to resume") from None
                report(f"fetching {shown(url)}: {_why(exc)}; resuming at {have:,} bytes")
                time.sleep(min(8.0, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


class _Retry(Exception):
    pass


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _resume_state(about: Path, url: str, partial: Path) -> str | None:
    """The validator (ETag or Last-Modified) of a partial download of this URL,
    or None: the partial file is then started again."""
    try:
        state = json.loads(about.read_text())
        if state.get("url_sha256") == _digest(url) and partial.exists():
            return state.get("validator")
    except (OSError, ValueError, AttributeError):
        pass
    partial.unlink(missing_ok=True)
    return None


def _fetch(client: httpx.Client, url: str, partial: Path, about: Path, validator: str | None,
           report: Callable[[str], None]) -> None:
    have = partial.stat().st_size if partial.exists() else 0
    # Identity encoding: a Range counts the bytes as sent, and the partial file holds exactly those.
    headers = {"Accept-Encoding": "identity"}
    if have and validator:
        headers.update({"Range": f"bytes={have}-", "If-Range": validator})
    elif have:
        partial.unlink()  # nothing to tell the server the bytes are of the same file
        have = 0
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and have:
            total = _total_of(response.headers.get("content-range", ""))
            if total == have:
                return  # it was all here
            partial.unlink()
            raise _Retry("the server's copy changed")
        if response.status_code >= 500 or response.status_code == 429:
            raise _Retry(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise DownloadFailed(f"{shown(url)} answered HTTP {response.status_code}")
        if response.status_code == 206:
            start = _start_of(response.headers.get("content-range", ""))
            if start != have:
                partial.unlink()
                raise _Retry("the server resumed at another offset")
        else:  # 200: the whole file, from its first byte
            have = 0
        length = response.headers.get("content-length")
        total = have + int(length) if length and length.isdigit() else None
        if total is not None and total > MOST_BYTES:
            raise DownloadFailed(f"{shown(url)} is {total:,} bytes, more than any snapshot ({MOST_BYTES:,})")
        validator = response.headers.get("etag") or response.headers.get("last-modified")
        _write_state(about, url, validator)
        with open(partial, "ab" if have else "wb") as out:
            last = 0.0
            for block in response.iter_raw():  # as it arrives: a cut keeps every byte received
                out.write(block)
                have += len(block)
                if have > MOST_BYTES:
                    raise DownloadFailed(f"{shown(url)} is larger than any snapshot ({MOST_BYTES:,} bytes)")
                now = time.monotonic()
                if now - last >= REPORT_EVERY_S:
                    last = now
                    of = f" of {total / 1e6:,.1f}" if total else ""
                    report(f"seeding from {shown(url)}: {have / 1e6:,.1f}{of} MB")


def _write_state(about: Path, url: str, validator: str | None) -> None:
    about.write_text(json.dumps({"url_sha256": _digest(url), "validator": validator}))


def _digest(url: str) -> str:
    """The URL, which may carry a token, is never written: only its hash."""
    return hashlib.sha256(url.encode()).hexdigest()


def _start_of(content_range: str) -> int | None:
    """The first byte of a `bytes START-END/TOTAL` Content-Range."""
    try:
        return int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _total_of(content_range: str) -> int | None:
    try:
        return int(content_range.rsplit("/", 1)[1])
    except (IndexError, ValueError):
        return None
