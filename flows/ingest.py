"""Per-dataset steps: extract -> land -> validate -> load -> audit.

Plain functions (no Prefect) so tests can call them directly; ``flows.daily``
wraps them as Prefect tasks and subflows.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flows import cpi_release, live, progress
from flows.live import KeyFailure
from flows.settings import Settings
from flows.sources.cpi_package import reader as cpi_reader
from flows.sources.curated import reader as curated_reader
from flows.sources.sample import generator
from flows.validation import (
    DatasetValidationError,
    ValidationReport,
    validate_frame,
    with_unique_columns,
)
from flows.warehouse import Warehouse, utcnow

# The subflows: one per dataset family. Prices and FX travel together.
SUBFLOW_DATASETS: dict[str, tuple[str, ...]] = {
    "prices": ("prices", "fx_rates"),
    "fundamentals": ("fundamentals",),
    "cpi": ("cpi",),
    "policy_events": ("policy_events",),
}


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
        self.result = result
        listed = "\n".join(f"  - {failure.key}: {failure.error}" for failure in result.failures[:10])
        super().__init__(
            f"Dataset '{result.dataset}' (load {result.load_id}): {len(result.failures)} of {result.keys} keys failed, "
            f"more than GAPWATCH_MAX_FAILED_KEY_SHARE allows; the {result.rows_loaded} rows of the other keys were "
            f"loaded.\n{listed}"
        )


def key_failure_status(result: LoadResult, *, settings: Settings) -> str:
    """'succeeded', 'partial' (some keys failed, within the threshold) or 'failed' (over it)."""
    if not result.failures:
        return "succeeded"
    share = len(result.failures) / max(result.keys, 1)
    return "failed" if share > settings.live.max_failed_key_share else "partial"


@dataclass
class Batch:
    """What one extraction produced, before anything is written to the warehouse."""

    dataset: str
    source: str
    frame: pd.DataFrame
    window_start: date | None
    window_end: date
    payload: bytes | None = None  # the raw payload as received, when the source has one
    payload_suffix: str = ".parquet"
    landed: Path | None = None  # set when the extractor already landed its payloads (live sources)
    parse_error: str | None = None  # the raw payload could not be parsed at all (it is still landed)
    keys: list[str] = field(default_factory=list)
    failures: list[KeyFailure] = field(default_factory=list)


@dataclass
class LoadResult:
    dataset: str
    load_id: str
    source: str
    status: str
    rows_extracted: int = 0
    rows_loaded: int = 0
    expectations_evaluated: int = 0
    expectations_failed: int = 0
    landing_path: Path | None = None
    error: str | None = None
    window_start: date | None = None
    window_end: date | None = None
    validation_success: bool | None = None
    keys: int = 0
    failures: list[KeyFailure] = field(default_factory=list)
    rows_quarantined: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # extract, land, validate, load: wall seconds
    unchanged: bool = False  # every extracted row was already stored as it is: not re-validated, nothing loaded


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


def new_load_id(dataset: str) -> str:
    return f"{dataset}-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def _window_starts(cursors: dict[str, date], *, keys: list[str], default: date, lookback_days: int) -> dict[str, date]:
    """Where each key's extraction starts: its high-water mark minus the look-back, else ``default``."""
    return {
        key: max(default, cursors[key] - timedelta(days=lookback_days)) if key in cursors else default for key in keys
    }


# Live: which raw `source` values and which key column hold each dataset's high-water marks.
LIVE_CURSORS: dict[str, tuple[tuple[str, ...], str]] = {
    "prices": (("yahoo",), "ticker"),
    "fx_rates": (("yahoo",), "currency"),
    "fundamentals": (("sec_edgar", "yahoo"), "ticker"),
    "cpi": (("bls_api", "fred"), "series_id"),
    "policy_events": (("federal_register",), "source"),
}


def landing_folder(settings: Settings, dataset: str, as_of: date) -> Path:
    return settings.paths.landing / dataset / as_of.isoformat()


def with_cpi_release_dates(batch: Batch, *, settings: Settings, as_of: date) -> Batch:
    """For dataset 'cpi' only: give every row its release date and keep the rows already published on ``as_of``.

    The one place where CPI rows get ``release_date`` / ``is_release_date_estimated``, whatever their source
    (the ``cpi`` package, BLS or FRED live, a replayed landing): ``--as-of`` never sees a print before its release.
    """
    if batch.dataset == "cpi":
        batch.frame = cpi_release.released_by(batch.frame, as_of=as_of, lag_days=settings.cpi_release_lag_days)
    return batch


def extract(
    dataset: str,
    *,
    settings: Settings,
    warehouse: Warehouse,
    as_of: date,
    load_id: str,
    start: date | None = None,
) -> Batch:
    """Extract the new part of ``dataset`` up to ``as_of`` (or [start, as_of] for a backfill)."""
    batch = _extract_from_source(
        dataset, settings=settings, warehouse=warehouse, as_of=as_of, load_id=load_id, start=start
    )
    return with_cpi_release_dates(batch, settings=settings, as_of=as_of)


def _extract_from_source(
    dataset: str,
    *,
    settings: Settings,
    warehouse: Warehouse,
    as_of: date,
    load_id: str,
    start: date | None,
) -> Batch:
    if settings.source == "live":
        sources, key = LIVE_CURSORS[dataset]
        cursors = {} if start else warehouse.cursors(dataset, key, source=sources)
        folder = landing_folder(settings, dataset, as_of) / load_id
        result = live.extract_live(dataset, settings=settings, cursors=cursors, as_of=as_of, start=start, folder=folder)
        return Batch(
            dataset,
            result.source,
            result.frame,
            start,
            as_of,
            landed=folder,
            keys=result.keys,
            failures=result.failures,
        )
    sample = settings.sample
    universe = settings.universe
    if dataset == "prices":
        starts = {} if start else warehouse.cursors("prices", "ticker", source="sample")
        keys = universe.tickers
        window = generator.PriceWindow(
            end=as_of,
            starts=_window_starts(
                starts, keys=keys, default=start or sample.start_date, lookback_days=settings.lookback_days
            ),
            default_start=start or sample.start_date,
        )
        frame = generator.generate_prices(universe, sample, window)
        return Batch(dataset, "sample", frame, min(window.starts.values(), default=None), as_of)
    if dataset == "fx_rates":
        currencies = universe.fx_currencies
        starts = {} if start else warehouse.cursors("fx_rates", "currency", source="sample")
        window_starts = _window_starts(
            starts, keys=currencies, default=start or sample.start_date, lookback_days=settings.lookback_days
        )
        frame = generator.generate_fx(currencies, sample, start=window_starts, end=as_of)
        return Batch(dataset, "sample", frame, min(window_starts.values(), default=None), as_of)
    if dataset == "fundamentals":
        companies = [s.ticker for s in universe.securities if s.group != "benchmark"]
        starts = {} if start else warehouse.cursors("fundamentals", "ticker", source="sample")
        window_starts = _window_starts(
            starts, keys=companies, default=start or date.min, lookback_days=settings.lookback_days
        )
        frame = generator.generate_fundamentals(universe, sample, start=window_starts, end=as_of)
        return Batch(dataset, "sample", frame, start, as_of)
    if dataset == "cpi":
        first_month = date((start or sample.start_date).year - 2, 1, 1)
        frame = cpi_reader.read_cpi(first_month=first_month, last_month=as_of)
        return Batch(dataset, cpi_reader.SOURCE, frame, first_month, as_of)  # release dates: with_cpi_release_dates
    if dataset == "policy_events":
        payload = curated_reader.read_payload(settings.policy_events_file)
        try:
            frame, problem = curated_reader.parse_events(payload, until=as_of), None
        except (ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError and EmptyDataError are ValueErrors
            frame, problem = pd.DataFrame(), f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
        return Batch(
            dataset,
            curated_reader.SOURCE,
            frame,
            None,
            as_of,
            payload=payload,
            payload_suffix=".csv",
            parse_error=problem,
        )
    raise ValueError(f"Unknown dataset {dataset!r}.")


def dataset_of_load(load_id: str) -> str:
    """The dataset a load id belongs to (load ids start with the dataset name)."""
    for dataset in sorted(LIVE_CURSORS, key=len, reverse=True):
        if load_id.startswith(f"{dataset}-"):
            return dataset
    raise ValueError(f"{load_id!r} is not a gapwatch load id (expected '<dataset>-<timestamp>-<hex>').")


def replay_extractor(load_id: str) -> Callable[..., Batch]:
    """An extract step that re-reads a landed load instead of calling the source."""

    def extract_from_landing(dataset: str, *, settings: Settings, as_of: date, **_: object) -> Batch:
        batch = read_landing(dataset, settings=settings, as_of=as_of)
        return with_cpi_release_dates(batch, settings=settings, as_of=as_of)

    def read_landing(dataset: str, *, settings: Settings, as_of: date) -> Batch:
        matches = sorted(settings.paths.landing.glob(f"{dataset}/*/{load_id}*"))
        if not matches:
            raise FileNotFoundError(
                f"No landing files for load {load_id} of dataset '{dataset}' under {settings.paths.landing}. "
                "List loads with `gapwatch status` or look in the landing folder."
            )
        path = matches[0]
        if path.is_dir():
            result = live.replay(path, settings=settings)
            return Batch(
                dataset, "replay", result.frame, None, as_of, landed=path, keys=result.keys, failures=result.failures
            )
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            return Batch(dataset, "replay", frame, None, as_of, landed=path)
        frame = curated_reader.parse_events(path.read_bytes(), until=as_of)
        return Batch(dataset, "replay", frame, None, as_of, landed=path)

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
    last_closes = None
    if (
        batch.dataset == "prices"
        and warehouse is not None
        and not batch.frame.empty
        and {"ticker", "trade_date"} <= set(batch.frame.columns)
    ):
        last_closes = warehouse.last_closes_before(batch.frame)
    report = validate_frame(
        batch.dataset, batch.frame, settings=settings, as_of=as_of, last_closes=last_closes, load_id=load_id
    )
    if warehouse is not None:
        warehouse.record_validation(report, load_id=load_id)
    results_dir = settings.paths.home / "validation"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{load_id}.json").write_text(json.dumps(report.raw, indent=1, default=str))
    return report


def load(batch: Batch, *, warehouse: Warehouse, load_id: str, loaded_at: datetime) -> int:
    """Merge the validated batch into its raw table (one transaction)."""
    if batch.frame.empty:
        return 0
    return warehouse.upsert(batch.dataset, batch.frame, load_id=load_id, loaded_at=loaded_at)


def load_securities(*, settings: Settings, warehouse: Warehouse, run_id: str) -> int:
    """Reload the universe from the configuration into raw.securities."""
    rows = [
        {
            "ticker": s.ticker,
            "name": s.name,
            "group_name": s.group,
            "exchange": s.exchange,
            "currency": s.currency,
            "reporting_currency": s.reporting_currency,
            "cik": s.cik,
            "benchmark_ticker": s.benchmark,
            "is_synthetic": s.is_synthetic,
            "source": "config",
        }
        for s in settings.universe.securities
    ]
    return warehouse.replace_all("securities", pd.DataFrame(rows), load_id=f"securities-{run_id}", loaded_at=utcnow())


@dataclass(frozen=True)
class Steps:
    """The four steps of an ingest; the daily flow swaps in Prefect task versions."""

    extract: Callable[..., Batch] = extract
    land: Callable[..., Path] = land
    validate: Callable[..., ValidationReport] = validate
    load: Callable[..., int] = load


def ingest(
    dataset: str,
    *,
    settings: Settings,
    warehouse: Warehouse,
    as_of: date,
    run_id: str,
    start: date | None = None,
    steps: Steps = Steps(),
) -> LoadResult:
    """Run one dataset end to end: extract, land, validate, load, and record the load in audit.loads.

    Raises DatasetValidationError (after recording the failed load) when the
    batch fails its suite; nothing of that batch reaches the raw table.
    """
    load_id = new_load_id(dataset)
    started_at = utcnow()
    result = LoadResult(dataset=dataset, load_id=load_id, source=settings.source, status="failed")
    try:
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
        if batch.parse_error:
            raise PayloadError(dataset, load_id=load_id, landing_path=result.landing_path, problem=batch.parse_error)
        with clock("compare"):
            unchanged = warehouse.holds_identical_rows(dataset, batch.frame)
        if unchanged:
            # a re-extracted window the warehouse already holds, value for value: validated when it was
            # loaded, nothing to load now (GX is not even imported when no dataset brings anything new)
            result.unchanged = True
            progress.note(f"{dataset}.compare", f"unchanged: {len(batch.frame)} rows already stored, not re-validated")
            result.status = key_failure_status(result, settings=settings)
            if result.status == "failed":
                raise TooManyKeysFailed(result)
            return result
        with clock("validate"):
            report = steps.validate(batch, settings=settings, as_of=as_of, load_id=load_id, warehouse=warehouse)
        result.expectations_evaluated, result.expectations_failed = report.evaluated, report.failed
        result.validation_success = report.success
        failing = report.failing_rows()
        if report.blocking:
            warehouse.quarantine(
                batch.dataset, with_unique_columns(batch.frame), failing, load_id=load_id, status="rejected"
            )
            raise DatasetValidationError(report, load_id=load_id, landing_path=result.landing_path)
        if failing:
            # warning rules only: hold the failing rows back, load the rest
            warehouse.quarantine(batch.dataset, batch.frame, failing, load_id=load_id, status="quarantined")
            result.rows_quarantined = len(failing)
            keep = ~batch.frame.reset_index(drop=True).index.isin(list(failing))
            batch.frame = batch.frame.reset_index(drop=True)[keep]
        with clock("load"):
            result.rows_loaded = steps.load(batch, warehouse=warehouse, load_id=load_id, loaded_at=utcnow())
        result.status = key_failure_status(result, settings=settings)
        if result.status == "failed":
            raise TooManyKeysFailed(result)
        return result
    except (DatasetValidationError, TooManyKeysFailed, PayloadError) as exc:
        result.error = str(exc)
        raise
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        record_load(warehouse, result, run_id=run_id, as_of=as_of, started_at=started_at)


def record_load(warehouse: Warehouse, result: LoadResult, *, run_id: str, as_of: date, started_at: datetime) -> None:
    for failure in result.failures:
        warehouse.record_key_failure(
            load_id=result.load_id,
            dataset=result.dataset,
            source=failure.source,
            key=failure.key,
            http_status=failure.http_status,
            error=failure.error,
            failed_at=utcnow(),
        )
    warehouse.record_load(
        load_id=result.load_id,
        run_id=run_id,
        dataset=result.dataset,
        source=result.source,
        as_of=as_of,
        window_start=result.window_start,
        window_end=result.window_end,
        rows_extracted=result.rows_extracted,
        rows_loaded=result.rows_loaded,
        rows_quarantined=result.rows_quarantined,
        validation_success=result.validation_success,
        unchanged=result.unchanged,
        expectations_evaluated=result.expectations_evaluated,
        expectations_failed=result.expectations_failed,
        status=result.status,
        error=result.error,
        landing_path=str(result.landing_path) if result.landing_path else None,
        stage_seconds=json.dumps({stage: round(seconds, 4) for stage, seconds in result.stage_seconds.items()}),
        started_at=started_at,
        finished_at=utcnow(),
    )
