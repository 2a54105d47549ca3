"""Crash points: the write boundaries where the crash tests kill the worker.

A worker started with ``crash_at="<point>[:<n>]"`` sends itself SIGKILL the n-th time it
passes ``<point>``: no ``finally``, no flush, exactly what a lost container looks like. With
no setting every call is a dictionary miss.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

POINTS = (
    "early_written",  # early rollups of the open batch written (archiver.early), no cut yet
    "cut_recorded",  # the cut is in the lease item, nothing written yet
    "object_written",  # after each S3 object (so n=2 is between two objects)
    "objects_written",  # every S3 object written, no rollups yet
    "rollups_written",  # rollups written, not checkpointed
    "checkpointed",  # the checkpoint moved past the cut
)


class CrashPoints:
    def __init__(self, spec: str | None) -> None:
        self._point: str | None = None
        self._left = 0
        if spec:
            point, _, n = spec.partition(":")
            if point not in POINTS:
                raise ValueError(f"unknown crash point {point!r}; one of {', '.join(POINTS)}")
            self._point, self._left = point, int(n or 1)

    def reached(self, point: str) -> None:
        if point != self._point:
            return
        self._left -= 1
        if self._left == 0:
            log.warning("crash point %s reached: SIGKILL", point)
            os.kill(os.getpid(), signal.SIGKILL)
