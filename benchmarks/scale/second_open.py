"""Opening an index another process holds open (issue #28): an MCP server or a
`fathom index` beside the editor's server. One process opens the index left by
`benchmarks.scale.phase1` and keeps a write in its -wal file; a second opens it
writable: the seconds that takes, and whether it read the whole file to check it.

    .venv/bin/python -m benchmarks.scale.second_open --work /tmp/kernel [--server OTHER/server]

`--server` runs both processes from another checkout's `server/` folder (a worktree
of an earlier commit), for a before-and-after in one run.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HOLD = (
    "import sys, time; sys.path.insert(0, sys.argv[1]); from pathlib import Path; from fathom.store import Store; "
    "s = Store(Path(sys.argv[2])); s.set_meta('second_open_probe', str(time.time())); print('held', flush=True); "
    "time.sleep(3600)"
)
OPEN = (
    "import sys, time; sys.path.insert(0, sys.argv[1]); from pathlib import Path; from fathom.store import Store; "
    "t = time.perf_counter(); s = Store(Path(sys.argv[2])); "
    "print(f'{time.perf_counter() - t:.2f} s to open, whole file checked: {s.file.integrity_checked}'); s.close()"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="the folder benchmarks.scale.phase1 used")
    parser.add_argument("--server", type=Path, default=Path(__file__).resolve().parents[2] / "server")
    args = parser.parse_args()
    database = next((args.work / "cache").glob("*/index.db"))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(args.server), str(database)],
                              stdout=subprocess.PIPE, text=True)
    try:
        if holder.stdout.readline().strip() != "held":
            raise SystemExit("the first process could not open the index")
        second = subprocess.run([sys.executable, "-c", OPEN, str(args.server), str(database)],
                                capture_output=True, text=True, timeout=3600)
        print(f"{args.server}: {second.stdout.strip() or second.stderr.strip()[-500:]}")
    finally:
        holder.terminate()
        holder.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
