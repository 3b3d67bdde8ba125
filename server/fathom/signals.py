"""Ctrl-C, SIGTERM and the helper processes.

A terminal's Ctrl-C reaches every process of the foreground group: the chunk
workers and the embedding process too, which would each print a traceback. They
ignore SIGINT once running (the parent decides what Ctrl-C means and stops
them); `ctrl_c_held` covers the time before that, while one is starting.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
import signal
import threading


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


class Terminated(KeyboardInterrupt):
    """SIGTERM, taken as Ctrl-C is: what sends it (an editor ending its server, a
    service manager, `timeout`, `kill`) wants the process gone, and the way out
    that stops the helper processes in order and keeps what is written is the
    one Ctrl-C already takes."""


@contextlib.contextmanager
def terminate_as_interrupt():
    """Inside the block, SIGTERM raises `Terminated` in the main thread, once; a
    second one, while the first is being honoured, ends the process at once.
    Elsewhere than the main thread (signals reach only it) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve_until_signalled(serve: Callable[[], None], name: str,
                          end_input: Callable[[], None] | None = None, settle_s: float = 5.0) -> None:
    """Run a protocol's serving loop on a daemon thread while the main thread
    waits for it and takes Ctrl-C and SIGTERM. The loops (pygls's, the MCP
    SDK's) read their input on worker threads that no cancellation reaches: run
    in the main thread, a signal would wait for the client's next message. On a
    signal, `end_input` ends the loop as a client leaving would (it has
    `settle_s` to), and the signal goes on up to the caller, whose blocks close
    what they opened."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            serve()
        except BaseException as exc:  # noqa: BLE001 - raised again in the main thread
            failure.append(exc)

    loop = threading.Thread(target=run, name=name, daemon=True)
    loop.start()
    try:
        loop.join()
    except KeyboardInterrupt:
        if end_input is not None:
            end_input()
            loop.join(settle_s)
        raise
    if failure:
        raise failure[0]
