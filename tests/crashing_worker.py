"""A chunk function that kills its own worker process on one file, the way a
grammar's segfault would. Imported by name in spawned pool workers."""
import os
import signal

from fathom.index.pool import chunk_file

CRASHING_NAME = "segfaults_the_parser.py"


def chunk_or_segfault(task):
    if task.relpath.endswith(CRASHING_NAME):
        os.kill(os.getpid(), signal.SIGSEGV)
    return chunk_file(task)


HANGING_NAME = "on_a_hung_mount.py"


def chunk_or_hang(task):
    """A read that never returns, as from a hung network mount."""
    if task.relpath.endswith(HANGING_NAME):
        import time

        time.sleep(3600)
    return chunk_file(task)


def chunk_slowly(task):
    """A large tree's full pass in miniature: every file takes a while."""
    import time

    time.sleep(0.05)
    return chunk_file(task)


SLOW_NAME = "chunked_last.py"


def chunk_one_file_late(task):
    """One file whose chunks come back long after its neighbours'."""
    if task.relpath.endswith(SLOW_NAME):
        import time

        time.sleep(1.0)
    return chunk_file(task)
