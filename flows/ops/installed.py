"""Is this the tested set of packages? ``requirements.lock`` pins every dependency at the version ``make test``
ran with; ``make install`` applies it as pip constraints. A plain ``pip install -e .`` honours only the loose
ranges in ``pyproject.toml`` and may resolve another set (fastapi 0.159 instead of 0.150, say). That is not
refused -- the ranges are real -- but it is never silent: every command that runs the pipeline says which
installed versions differ from the lock, and how to install the tested set."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from flows.settings import REPO_ROOT

LOCK_FILE = REPO_ROOT / "requirements.lock"
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


@dataclass(frozen=True)
class Drift:
    package: str
    installed: str | None  # None: locked but not installed
    locked: str

    def describe(self) -> str:
        return f"{self.package} {self.installed or 'missing'} (tested {self.locked})"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock_file: Path | None = None) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line of the lock; empty when there is no lock (an install
    from a wheel outside the checkout)."""
    try:
        text = (lock_file or LOCK_FILE).read_text()
    except OSError:
        return {}
    return {_normal(match[1]): match[2] for line in text.splitlines() if (match := _PIN.match(line))}


def drift(lock_file: Path | None = None) -> list[Drift]:
    """The locked packages whose installed version differs (or that are not installed), by name."""
    locked = locked_versions(lock_file)
    installed = {_normal(dist.metadata["Name"] or ""): dist.version for dist in metadata.distributions()}
    return [
        Drift(name, installed.get(name), version)
        for name, version in sorted(locked.items())
        if installed.get(name) != version
    ]


def warning(lock_file: Path | None = None, *, shown: int = 5) -> str | None:
    """One line for the console when the installed set is not the tested one; None when it is."""
    lock_file = lock_file or LOCK_FILE
    found = drift(lock_file)
    if not found:
        return None
    listed = ", ".join(item.describe() for item in found[:shown]) + (
        f" and {len(found) - shown} more" if len(found) > shown else ""
    )
    return (
        f"warning: {len(found)} installed package(s) differ from the tested set in {lock_file.name}: {listed}. "
        f"Install the tested set with `make install` (pip install -c {lock_file.name} -e .)."
    )
