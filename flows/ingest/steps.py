"""Per-dataset steps: extract -> land -> validate -> load -> audit.

Plain functions (no Prefect) so tests can call them directly; ``flows.daily``
wraps them as Prefect tasks inside one task per dataset family. Nothing
here names a dataset: what differs between datasets is declared by their
modules (``flows.datasets``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flows import availability
from flows.datasets import registry
from flows.datasets.base import Batch, Dataset, ExtractRequest
from flows.ingest import live
from flows.settings import Settings
from flows.validation import page as validation_page
from flows.validation.gx import DatasetValidationError, ValidationReport, validate_frame, with_unique_columns
from flows.validation.page import OUTCOMES_KEY, outcome_record
from flows.warehouse import audit
from flows.warehouse.audit import LoadResult
from flows.warehouse.database import Warehouse, utcnow


class PayloadError(RuntimeError):
    """A raw payload could not be parsed at all (malformed or truncated); it was landed, nothing loaded."""

    def __init__(self, dataset: str, *, load_id: str, landing_path: Path, problem: str) -> None:
        self.load_id = load_id
        super().__init__(
            f"Payload of dataset '{dataset}' (load {load_id}) is malformed: rule 'payload parses in its format' "
            f"failed: {problem}. Nothing from it was loaded; the payload is kept at {landing_path}. "
            "Fix the source file and rerun."
        )


class TooManyKeysFailed(RuntimeError):
    """More keys of a live dataset failed than the configured share allows (the others were loaded)."""

    def __init__(self, result: LoadResult) -> None:
        listed = "\n".join(f"  - {failure.key}: {failure.error}" for failure in result.failures[:10])
        if len(result.failures) >= result.keys:
            super().__init__(
                f"Dataset '{result.dataset}' (load {result.load_id}): all {result.keys} keys failed, nothing was "
                f"loaded; check the source (GAPWATCH_*_BASE_URL, network) and rerun.\n{listed}"
            )
            return
        super().__init__(
            f"Dataset '{result.dataset}' (load {result.load_id}): {len(result.failures)} of {result.keys} keys failed, "
            f"more than GAPWATCH_MAX_FAILED_KEY_SHARE allows; the {result.rows_loaded} rows of the other keys were "
            f"loaded.\n{listed}"
        )


# Failures whose message is written for the operator as it is; anything else is prefixed with its type.
EXPLAINED = (DatasetValidationError, TooManyKeysFailed, PayloadError)


class AsOfBehindWarehouse(RuntimeError):
    """The warehouse already holds rows made public after the run's as-of: its marts would publish them."""

    def __init__(self, as_of: date, held: dict[str, date]) -> None:
        self.as_of, self.held = as_of, held
        latest = max(held.values())
        listed = ", ".join(f"{name} until {day}" for name, day in held.items())
        super().__init__(
            f"Refusing to run as of {as_of}: the warehouse already holds rows made public after it ({listed}), and "
            f"the marts are built from all it holds. Nothing was extracted; the published marts are unchanged. "
            f"Run with --as-of {latest} or later (`gapwatch backfill --start DATE --end {latest}` re-extracts an "
            f"older window); a warehouse cannot be rolled back, so for marts as of {as_of} run in a new GAPWATCH_HOME."
        )


def held_after(warehouse: Warehouse, as_of: date) -> dict[str, date]:
    """The datasets whose stored rows include one made public after ``as_of``, each with the earliest as-of that
    knows its latest row (``available_at``/``accepted_at``: its New York date; a dated row: its date)."""
    held = {}
    for dataset in registry.DATASETS:
        latest = warehouse.latest(dataset.table, dataset.known_at_column)
        if latest is None:
            continue
        needed = availability.first_as_of(latest) if isinstance(latest, datetime) else latest
        if needed > as_of:
            held[dataset.name] = needed
    return held


def check_as_of(warehouse: Warehouse, as_of: date) -> None:
    """Raise :class:`AsOfBehindWarehouse` when the warehouse holds rows made public after ``as_of``."""
    held = held_after(warehouse, as_of)
    if held:
        raise AsOfBehindWarehouse(as_of, held)


class IngestFailed(RuntimeError):
    """A dataset's ingest failed and its load was recorded: ``result`` is that load, ``__cause__`` the reason."""

    def __init__(self, result: LoadResult, message: str) -> None:
        super().__init__(message)
        self.result = result


def key_failure_status(result: LoadResult, *, settings: Settings) -> str:
    """'succeeded', 'partial' (some keys failed, within the threshold) or 'failed' (over it)."""
    if not result.failures:
        return "succeeded"
    share = len(result.failures) / max(result.keys, 1)
    return "failed" if share > settings.live.max_failed_key_share else "partial"


class _StageClock:
    """Adds the wall time of each ``with clock("stage"):`` block to ``seconds[stage]``."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started


def landing_folder(settings: Settings, dataset: str, as_of: date) -> Path:
    return settings.paths.landing / dataset / as_of.isoformat()


def extract(
    dataset: Dataset,
    *,
    settings: Settings,
    warehouse: Warehouse,
    as_of: date,
    load_id: str,
    start: date | None = None,
) -> Batch:
    """Extract the new part of ``dataset`` up to ``as_of`` (or [start, as_of] for a backfill)."""
    cursors = {}
    sources = dataset.cursor.sources(settings.source) if dataset.cursor else ()
    if start is None and sources and dataset.cursor is not None:
        cursors = warehouse.cursors(dataset.table, dataset.cursor.key, sources=sources)
    request = ExtractRequest(settings, as_of, start, cursors, load_id)
    if settings.source == "live":
        folder = landing_folder(settings, dataset.name, as_of) / load_id
        result = live.extract_live(dataset, request, folder=folder)
        batch = Batch(
            dataset.name, result.source, result.frame, start, as_of, landed=folder, keys=result.keys,
            failures=result.failures,
        )  # fmt: skip
    else:
        batch = dataset.extract_sample(request)
    return dataset.prepared(batch, settings=settings, as_of=as_of)


def replay_extractor(load_id: str) -> Callable[..., Batch]:
    """An extract step that re-reads a landed load instead of calling the source."""

    def extract_from_landing(dataset: Dataset, *, settings: Settings, as_of: date, **_: object) -> Batch:
        return dataset.prepared(read_landing(dataset, settings=settings, as_of=as_of), settings=settings, as_of=as_of)

    def read_landing(dataset: Dataset, *, settings: Settings, as_of: date) -> Batch:
        matches = sorted(settings.paths.landing.glob(f"{dataset.name}/*/{load_id}*"))
        if not matches:
            raise FileNotFoundError(
                f"No landing files for load {load_id} of dataset '{dataset.name}' under {settings.paths.landing}. "
                "List loads with `gapwatch status` or look in the landing folder."
            )
        path = matches[0]
        if path.is_dir():
            result = live.replay(path, settings=settings)
            return Batch(
                dataset.name, "replay", result.frame, None, as_of, landed=path, keys=result.keys,
                failures=result.failures,
            )  # fmt: skip
        if path.suffix == ".parquet":
            return Batch(dataset.name, "replay", pd.read_parquet(path), None, as_of, landed=path)
        if dataset.payload_parser is None:
            raise ValueError(f"Dataset '{dataset.name}' lands no raw payload files; cannot replay {path}.")
        frame = live.parse_payload(dataset.payload_parser, path.read_bytes(), {"until": as_of.isoformat()}, settings)
        return Batch(dataset.name, "replay", frame, None, as_of, landed=path)

    return extract_from_landing


def land(batch: Batch, *, settings: Settings, load_id: str, as_of: date) -> Path:
    """Write the raw payload to the landing zone before anything is parsed into the warehouse.

    Live extractors land each payload as it arrives; then this only returns their folder.
    """
    if batch.landed is not None:
        return batch.landed
    folder = landing_folder(settings, batch.dataset, as_of)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{load_id}{batch.payload_suffix}"
    partial = path.with_name(path.name + ".partial")
    if batch.payload is not None:
        partial.write_bytes(batch.payload)
    else:
        try:
            table = pa.Table.from_pandas(batch.frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError):
            # bad input Arrow cannot hold (mixed types, ints beyond int64, repeated column names):
            # keep the values as they came, as JSON lines (CSV when even the column names repeat)
            path, text = _as_text(batch.frame, path)
            partial = path.with_name(path.name + ".partial")
            partial.write_text(text)
        else:
            table = table.replace_schema_metadata(
                {**(table.schema.metadata or {}), b"gapwatch_source": batch.source.encode()}
            )
            pq.write_table(table, partial)
    partial.replace(path)
    return path


def _as_text(frame: pd.DataFrame, path: Path) -> tuple[Path, str]:
    if frame.columns.is_unique:
        return path.with_suffix(".jsonl"), frame.to_json(
            orient="records", lines=True, date_format="iso", default_handler=str
        )
    return path.with_suffix(".csv"), frame.to_csv(index=False)


def validate(
    batch: Batch, *, settings: Settings, as_of: date, load_id: str, warehouse: Warehouse | None = None
) -> ValidationReport:
    """Validate with the dataset's GX suite and keep the GX result JSON under <home>/validation/."""
    dataset = registry.get(batch.dataset)
    history = None
    if dataset.history is not None and warehouse is not None:
        cursor = warehouse.cursor()
        try:
            history = dataset.history(cursor, batch.frame)
        finally:
            cursor.close()
    report = validate_frame(dataset, batch.frame, settings=settings, as_of=as_of, history=history, load_id=load_id)
    if warehouse is not None:
        audit.record_validation(warehouse, dataset=dataset.name, load_id=load_id, outcomes=report.outcomes)
    results_dir = settings.paths.home / "validation"
    results_dir.mkdir(parents=True, exist_ok=True)
    document = {**report.raw, OUTCOMES_KEY: [outcome_record(*outcome) for outcome in report.outcomes]}
    (results_dir / f"{load_id}.json").write_text(json.dumps(document, indent=1, default=str))
    validation_page.write(settings)  # <home>/validation/index.html: every result, offline
    return report


def load(batch: Batch, *, warehouse: Warehouse, load_id: str, loaded_at: datetime) -> int:
    """Merge the validated batch into its raw table (one transaction)."""
    if batch.frame.empty:
        return 0
    return warehouse.upsert(registry.get(batch.dataset).table, batch.frame, load_id=load_id, loaded_at=loaded_at)


@dataclass(frozen=True)
class Steps:
    """The four steps of an ingest; the daily flow swaps in Prefect task versions (and replay's extract)."""

    extract: Callable[..., Batch] = extract
    land: Callable[..., Path] = land
    validate: Callable[..., ValidationReport] = validate
    load: Callable[..., int] = load


def ingest(
    dataset: Dataset,
    *,
    settings: Settings,
    warehouse: Warehouse,
    as_of: date,
    run_id: str,
    start: date | None = None,
    steps: Steps = Steps(),
) -> LoadResult:
    """Run one dataset end to end: extract, land, validate, load, and record the load in audit.loads.

    Returns the load's result. Raises :class:`IngestFailed` (after recording the failed load) when the
    batch fails its suite, more keys failed than allowed, the payload does not parse, or anything else
    went wrong; nothing of a rejected batch reaches the raw table.
    """
    load_id = audit.new_load_id(dataset.name)
    started_at = utcnow()
    result = LoadResult(dataset=dataset.name, load_id=load_id, source=settings.source, status="failed")
    try:
        _ingest(dataset, result, settings=settings, warehouse=warehouse, as_of=as_of, start=start, steps=steps)
        return result
    except Exception as exc:
        explained = isinstance(exc, EXPLAINED)
        result.error = str(exc) if explained else f"{type(exc).__name__}: {exc}"
        message = str(exc) if explained else f"Dataset '{dataset.name}' failed: {result.error}"
        raise IngestFailed(result, message) from exc
    finally:
        audit.record_load(warehouse, result, run_id=run_id, as_of=as_of, started_at=started_at)


def _ingest(
    dataset: Dataset,
    result: LoadResult,
    *,
    settings: Settings,
    warehouse: Warehouse,
    as_of: date,
    start: date | None,
    steps: Steps,
) -> None:
    load_id = result.load_id
    clock = _StageClock(result.stage_seconds)
    with clock("extract"):
        batch = steps.extract(
            dataset, settings=settings, warehouse=warehouse, as_of=as_of, load_id=load_id, start=start
        )
    result.source, result.rows_extracted = batch.source, len(batch.frame)
    result.keys, result.failures = len(batch.keys), batch.failures
    result.window_start, result.window_end = batch.window_start, batch.window_end
    with clock("land"):
        result.landing_path = steps.land(batch, settings=settings, load_id=load_id, as_of=as_of)
    if batch.failures and len(batch.failures) >= len(batch.keys):
        raise TooManyKeysFailed(result)  # every key failed: the reason is the keys, not the rules of an empty batch
    if batch.parse_error:
        raise PayloadError(dataset.name, load_id=load_id, landing_path=result.landing_path, problem=batch.parse_error)
    with clock("compare"):
        unchanged = warehouse.holds_identical_rows(dataset.table, batch.frame)
    if unchanged:
        # a re-extracted window the warehouse already holds, value for value: validated when it was
        # loaded, nothing to load now (GX is not even imported when no dataset brings anything new)
        result.unchanged = True
    else:
        with clock("validate"):
            report = steps.validate(batch, settings=settings, as_of=as_of, load_id=load_id, warehouse=warehouse)
        result.expectations_evaluated, result.expectations_failed = report.evaluated, report.failed
        result.validation_success = report.success
        result.failed_rules = sorted({outcome[0] for outcome in report.outcomes if not outcome[2]})
        failing = report.failing_rows()
        if report.blocking:
            audit.quarantine(
                warehouse, dataset.name, with_unique_columns(batch.frame), failing, load_id=load_id, status="rejected"
            )
            raise DatasetValidationError(report, load_id=load_id, landing_path=result.landing_path)
        if failing:
            # warning rules only: hold the failing rows back, load the rest
            audit.quarantine(warehouse, dataset.name, batch.frame, failing, load_id=load_id, status="quarantined")
            result.rows_quarantined = len(failing)
            keep = ~batch.frame.reset_index(drop=True).index.isin(list(failing))
            batch.frame = batch.frame.reset_index(drop=True)[keep]
        with clock("load"):
            result.rows_loaded = steps.load(batch, warehouse=warehouse, load_id=load_id, loaded_at=utcnow())
    result.status = key_failure_status(result, settings=settings)
    if result.status == "failed":
        raise TooManyKeysFailed(result)
