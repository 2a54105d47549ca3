"""The archiver image's HEALTHCHECK: healthy while a ``python -m MODULE`` process runs and is
neither stopped nor a zombie. The worker serves no port to ask; ECS replaces a task whose
process exits, and a worker that runs but lags shows in the iterator-age alarm instead.

``python process_health.py archiver`` exits 0 when such a process is found, 1 otherwise
(standard library only: it runs with the image's Python, before or without the project).
"""

from __future__ import annotations

import os
import sys


def running(module: str, proc: str = "/proc") -> bool:
    """Whether a live ``python -m module`` process is in ``proc``."""
    for pid in filter(str.isdigit, os.listdir(proc)):
        try:
            with open(f"{proc}/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"{proc}/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):  # gone meanwhile
            continue
        if argv[1:3] == [b"-m", module.encode()] and state not in ("T", "t", "Z", "X"):
            return True
    return False


if __name__ == "__main__":
    sys.exit(0 if running(sys.argv[1]) else 1)
