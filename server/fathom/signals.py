"""Ctrl-C and the helper processes.

A terminal's Ctrl-C reaches every process of the foreground group: the chunk
workers and the embedding process too, which would each print a traceback. They
ignore SIGINT once running (the parent decides what Ctrl-C means and stops
them); `ctrl_c_held` covers the time before that, while one is starting.
"""
from __future__ import annotations

import contextlib
import signal


@contextlib.contextmanager
def ctrl_c_held():
    """Hold SIGINT back in this thread while processes are started in it: they
    inherit the mask, so a Ctrl-C during their start-up stays pending until they
    ignore it. This thread receives it as soon as the block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no masks, nothing to hold
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_ctrl_c() -> None:
    """In a helper process: SIGINT is the parent's to handle (a pending one is dropped)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
