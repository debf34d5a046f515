"""Faults as one line: what went wrong, which file or key, and what to do next.

A run that hits a broken disk, a damaged warehouse file or a damaged landing file must not end in a
traceback: :func:`describe_fault` turns the exception into the line the CLI prints (the traceback is shown
only with ``gapwatch --verbose``). Anything it does not recognise keeps its type and message, with the hint
to rerun with ``--verbose``.
"""

from __future__ import annotations

import errno
import re

import duckdb

from flows.ingest.live import LandingFileError

VERBOSE_HINT = "rerun with `gapwatch --verbose ...` for the traceback"
# DuckDB names the file in its I/O errors: 'Could not read ... from file "/x/gapwatch.duckdb": ...'
_DUCKDB_FILE = re.compile(r'file "([^"]+)"|"([^"]+\.(?:duckdb|wal|tmp))"')


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def _disk_problem(code: int | None, where: str, detail: str) -> str | None:
    if code == errno.ENOSPC or "no space left" in detail.lower():
        return (
            f"No space left on the device while writing {where}: free disk space there and rerun; "
            "the published copy was not changed."
        )
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or "read-only file system" in detail.lower():
        return (
            f"{where} cannot be written ({detail}): make GAPWATCH_HOME a writable directory and rerun; "
            "the published copy was not changed."
        )
    return None


def describe_fault(exc: BaseException) -> str:
    """One line for ``exc``: the file or key it concerns and the next step."""
    if isinstance(exc, LandingFileError):
        return str(exc)
    if isinstance(exc, OSError):
        where = exc.filename or "GAPWATCH_HOME"
        detail = exc.strerror or str(exc)
        other = f"{where}: {detail} ({type(exc).__name__}); {VERBOSE_HINT}."
        return _disk_problem(exc.errno, str(where), detail) or other
    if isinstance(exc, duckdb.Error):
        message = _first_line(str(exc))
        found = _DUCKDB_FILE.search(message)
        where = next((group for group in (found.groups() if found else ()) if group), "the warehouse file")
        disk = _disk_problem(None, where, message)
        if disk:
            return disk
        if isinstance(exc, duckdb.IOException | duckdb.SerializationException | duckdb.InternalException) or (
            "corrupt" in message.lower() or "not a valid duckdb" in message.lower()
        ):
            return (
                f"The DuckDB file {where} is damaged or unreadable ({message}): move it aside "
                f"(mv '{where}' '{where}.damaged') and rerun to rebuild it from the sources, or restore it from a "
                "backup; the published copy was not changed."
            )
        return f"DuckDB failed on {where}: {message}; {VERBOSE_HINT}."
    return f"{type(exc).__name__}: {_first_line(str(exc))}; {VERBOSE_HINT}."
