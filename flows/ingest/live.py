"""Live extraction: fetch a dataset's keys, land every payload, parse it.

For each key of the dataset's live plan (ticker, FX pair, CIK, CPI series,
Federal Register query) the raw response body is written to the landing zone
*before* it is parsed, with a ``manifest.json`` naming the parser of each
file. ``replay`` re-parses a landed load without the network.

One key failing (HTTP error after retries, error envelope, unparseable
payload) does not lose the others: it becomes a ``KeyFailure`` and the rest
are parsed and loaded. The caller decides, by the configured threshold,
whether the dataset as a whole failed.

The fetches run concurrently (a *mapper*, see :mod:`flows.sources.fetch` and
:mod:`flows.ingest.runners`) and complete in any order; landing and parsing
happen here, one thread, in job order, so the landing files, the manifest,
the frame's rows and the failures come out the same whatever order the
responses arrived in.

This module knows the landing zone and the registry, never DuckDB or Prefect.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from flows.datasets import registry as datasets
from flows.datasets.base import Dataset, ExtractRequest
from flows.ingest import runners
from flows.ops import progress
from flows.settings import Settings
from flows.sources import registry as sources
from flows.sources.fetch import KeyMapper
from flows.sources.http import SourceError
from flows.sources.jobs import Fetched, KeyFailure, KeyJob

MANIFEST = "manifest.json"


@dataclass
class LiveExtract:
    frame: pd.DataFrame
    source: str
    keys: list[str]
    failures: list[KeyFailure] = field(default_factory=list)
    folder: Path | None = None
    workers: list[str] = field(default_factory=list)  # per key: the thread or Dask worker that fetched it


class PayloadWriter:
    """Writes payload files into one load's landing folder and keeps its manifest."""

    def __init__(self, folder: Path, *, dataset: str, as_of: date) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.entries: list[dict[str, Any]] = []
        self.header = {"dataset": dataset, "as_of": as_of.isoformat()}

    def write(self, key: str, body: bytes, *, parser: str, meta: dict[str, Any], suffix: str = ".json") -> Path:
        name = f"{len(self.entries):04d}-{safe_name(key)}{suffix}"
        path = self.folder / name
        partial = path.with_name(name + ".partial")
        partial.write_bytes(body)
        partial.replace(path)
        self.entries.append({"key": key, "file": name, "parser": parser, "meta": meta})
        self.save()
        return path

    def save(self, failures: list[KeyFailure] | None = None) -> None:
        document = {**self.header, "payloads": self.entries}
        if failures is not None:
            document["failures"] = [failure.__dict__ for failure in failures]
        (self.folder / MANIFEST).write_text(json.dumps(document, indent=1, default=str))


def safe_name(key: str) -> str:
    """A file-name-safe form of a key ('^HSI' -> '_HSI', 'HKDUSD=X' -> 'HKDUSD_X')."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", key)[:80]


def parse_payload(parser: str, body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    """Parse one landed body with the registered parser the manifest names."""
    return sources.parser(parser)(body, meta, settings)


def extract_live(
    dataset: Dataset, request: ExtractRequest, *, folder: Path, mapper: KeyMapper | None = None
) -> LiveExtract:
    """Fetch (concurrently), land and parse every key of ``dataset``'s live plan; collect per-key failures.

    Results are landed and parsed in job order as soon as every earlier job is done, so the
    outcome does not depend on which response came back first. Progress counts completed keys.
    """
    settings = request.settings
    plan = dataset.plan_live(request)
    jobs = plan.jobs
    writer = PayloadWriter(folder, dataset=dataset.name, as_of=request.as_of)
    failures: list[KeyFailure] = []
    frames: list[pd.DataFrame] = []
    workers = [""] * len(jobs)
    done: dict[int, Fetched] = {}
    landed = 0
    outcomes = (mapper or runners.mapper_for(settings.live))(jobs, settings.live)
    try:
        for index, fetched in progress.track(outcomes, f"{dataset.name}.keys", total=len(jobs)):
            done[index] = fetched
            while landed in done:  # land and parse in job order
                job, fetched = jobs[landed], done.pop(landed)
                workers[landed] = fetched.worker
                _land_and_parse(job, fetched, writer=writer, settings=settings, frames=frames, failures=failures)
                landed += 1
        if landed != len(jobs):
            raise RuntimeError(f"The fetches of {dataset.name} returned {landed} of {len(jobs)} keys.")
    finally:
        close = getattr(outcomes, "close", None)
        if close is not None:
            close()  # stops the fetches still running if landing failed
        writer.save(failures)
    return LiveExtract(_combine(dataset, frames), plan.source, [job.key for job in jobs], failures, folder, workers)


def _land_and_parse(
    job: KeyJob,
    fetched: Fetched,
    *,
    writer: PayloadWriter,
    settings: Settings,
    frames: list[pd.DataFrame],
    failures: list[KeyFailure],
) -> None:
    if fetched.failure is not None:
        failures.append(fetched.failure)
        return
    for label, body in fetched.bodies:
        writer.write(
            job.key + (f"-{label}" if label else ""), body, parser=job.parser, meta=job.meta, suffix=job.suffix
        )
        try:
            frames.append(parse_payload(job.parser, body, job.meta, settings))
        except SourceError as exc:
            failures.append(KeyFailure(job.key, exc.source, str(exc), exc.status))


def replay(folder: Path, *, settings: Settings) -> LiveExtract:
    """Re-parse a landed live load from its manifest, without the network."""
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise FileNotFoundError(f"No {MANIFEST} in {folder}: not a live load's landing folder.")
    manifest = read_manifest(manifest_path)
    frames, failures, keys = [], [], []
    for entry in manifest["payloads"]:
        keys.append(entry["key"])
        try:
            body = _landed_file(folder, entry["file"]).read_bytes()
            frames.append(parse_payload(entry["parser"], body, entry["meta"], settings))
        except SourceError as exc:
            failures.append(KeyFailure(entry["key"], exc.source, str(exc), exc.status))
    dataset = datasets.get(manifest["dataset"])
    return LiveExtract(_combine(dataset, frames), "replay", keys, failures, folder)


class LandingFileError(ValueError):
    """A landed file (a manifest, a payload it lists) cannot be read back; the message names it and what to do."""


def read_manifest(path: Path) -> dict[str, Any]:
    """A landing folder's manifest, checked: its payload list and dataset; a damaged one is a LandingFileError."""
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("payloads"), list):
            raise ValueError("no 'payloads' list")
        for entry in manifest["payloads"]:
            if not isinstance(entry, dict) or not {"key", "file", "parser", "meta"} <= entry.keys():
                raise ValueError(f"a payload entry lacks key, file, parser or meta: {str(entry)[:80]}")
        datasets.get(manifest.get("dataset"))
    except (ValueError, KeyError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise LandingFileError(
            f"The landing manifest {path} is damaged ({type(exc).__name__}: {exc}): restore it from a backup, "
            f"or move {path.parent} aside and reload those dates with `gapwatch backfill`."
        ) from None
    return manifest


def _landed_file(folder: Path, name: str) -> Path:
    """A payload file a manifest lists; a name that leaves the folder (``../``) is refused."""
    path = folder / str(name)
    if path.resolve().parent != folder.resolve():
        raise LandingFileError(
            f"The landing manifest {folder / MANIFEST} lists {name!r}, which is outside its folder: "
            "restore the manifest from a backup, or move the folder aside and reload with `gapwatch backfill`."
        )
    return path


def _combine(dataset: Dataset, frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The parsed keys as one frame, after the dataset's combine step."""
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame()
    combined = pd.concat(frames, ignore_index=True)
    if dataset.combine is not None:
        combined = dataset.combine(combined)
    return combined.reset_index(drop=True)
