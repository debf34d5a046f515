"""The run lock: ``<home>/gapwatch.lock``, held exclusively by a run (or anything that writes the warehouse)
and shared by ``gapwatch status`` for the moment it reads.

- :class:`RunLock` (exclusive): fails fast naming the holder, or waits up to
  ``wait_seconds``. A run finding only status readers waits for them (up to
  READER_GRACE_SECONDS) instead of failing.
- :func:`shared` (status): never waits; yields the holder's text when a run
  holds the lock, so the caller reports "busy" instead of opening the file.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from flows.warehouse.database import utcnow

READER_GRACE_SECONDS = 10.0  # how long a run waits for `gapwatch status` readers (shared lock) to finish


class PipelineBusy(RuntimeError):
    """Another gapwatch run holds the warehouse lock."""


class RunLock:
    """An exclusive lock on ``path`` naming its holder (``pid N since ...``); a context manager."""

    def __init__(self, path: Path, *, wait_seconds: float = 0.0) -> None:
        self.path = path
        self.wait_seconds = wait_seconds
        self._handle: IO[str] | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        deadline = time.monotonic() + self.wait_seconds
        readers_deadline = time.monotonic() + READER_GRACE_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                if time.monotonic() < readers_deadline and _only_readers(handle):
                    time.sleep(0.05)
                    continue
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                handle.close()
                waited = f" after waiting {self.wait_seconds:.0f} s" if self.wait_seconds else ""
                raise PipelineBusy(
                    f"Another gapwatch run is using {self.path.parent} ({holder}){waited}. "
                    "Wait for it to finish (or pass --wait), or point GAPWATCH_HOME elsewhere."
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {utcnow():%Y-%m-%d %H:%M:%S} UTC")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _only_readers(handle: IO[str]) -> bool:
    """True when the lock is held shared only (status readers), not by another run."""
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(handle, fcntl.LOCK_UN)
    return True


@contextmanager
def shared(path: Path) -> Iterator[str | None]:
    """Hold the lock shared while reading; yield None, or the holder's text when a run holds it.

    Creates nothing: with no lock file, no run ever started here, so there is nothing to coordinate with.
    """
    if not path.exists():
        yield None
        return
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            yield handle.read().strip() or "holder unknown"
            return
        try:
            yield None
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
