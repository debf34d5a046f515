"""Validate a batch with its Great Expectations suite before it is loaded.

Suites are committed JSON files in ``expectations/`` (one per dataset). GX
runs on a pandas batch (GX 1.x through SQLAlchemy on DuckDB is broken, see
README). Checks GX cannot express by itself -- "is this a trading session of
the listing's exchange", "is this after --as-of" -- are computed here as
boolean ``gx_*`` columns and asserted by the suite.

GX is imported lazily: it costs seconds and only this step needs it.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import warnings
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from flows import cpi_release
from flows.calendars import is_session
from flows.settings import Settings

EXAMPLE_ROWS = 5
# GX announces its temporary docs folder at INFO on every context; keep the run output clean.
logging.getLogger("great_expectations").setLevel(logging.WARNING)
_gx_lock = threading.Lock()
_gx_context: Any = None


def _shown(value: Any, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else f"{text[: limit - 12]}...({len(text)} chars)"


@dataclass
class RuleFailure:
    rule: str
    column: str | None
    unexpected_count: int | None
    examples: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None
    # GX severity: "critical" fails the whole batch; "warning" quarantines the failing rows and loads the rest.
    severity: str = "critical"
    rows: list[int] = field(default_factory=list)  # positions of every failing row in the batch

    @property
    def quarantines_rows(self) -> bool:
        return self.severity == "warning" and bool(self.rows)

    def describe(self) -> str:
        count = f"{self.unexpected_count} row(s)" if self.unexpected_count is not None else "failed"
        text = f"{self.rule}: {count}"
        if self.note:
            text += f" ({self.note})"
        lines = [text]
        lines += ["      " + ", ".join(f"{key}={_shown(value)}" for key, value in row.items()) for row in self.examples]
        return "\n".join(lines)


@dataclass
class ValidationReport:
    dataset: str
    suite_path: Path
    success: bool
    evaluated: int
    failures: list[RuleFailure]
    raw: dict[str, Any]
    outcomes: list[tuple[str, str, bool, int | None]] = field(default_factory=list)  # rule, severity, success, count

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def blocking(self) -> list[RuleFailure]:
        """Failures that reject the whole batch: critical rules, and rules that name no rows."""
        return [failure for failure in self.failures if not failure.quarantines_rows]

    def failing_rows(self) -> dict[int, list[str]]:
        """Batch position -> names of the rules that row failed."""
        rows: dict[int, list[str]] = {}
        for failure in self.failures:
            for position in failure.rows:
                rows.setdefault(position, []).append(failure.rule)
        return rows


class DatasetValidationError(RuntimeError):
    """A batch failed its expectation suite; nothing of it was loaded."""

    def __init__(self, report: ValidationReport, *, load_id: str, landing_path: Path | None) -> None:
        self.report = report
        self.load_id = load_id
        self.landing_path = landing_path
        details = "\n".join("  - " + failure.describe() for failure in report.blocking)
        kept = f" The landing file is kept at {landing_path}." if landing_path else ""
        super().__init__(
            f"Validation failed for dataset '{report.dataset}' (load {load_id}, suite {report.suite_path.name}): "
            f"{len(report.blocking)} of {report.evaluated} rules failed with severity critical.\n{details}\n"
            f"Nothing from this batch was loaded; its failing rows are in audit.quarantine "
            f"(`gapwatch quarantine show --load-id {load_id}`).{kept} Fix the source data and rerun."
        )


def load_suite_document(settings: Settings, dataset: str) -> dict[str, Any]:
    path = settings.expectations_dir / f"{dataset}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"No expectation suite for dataset '{dataset}': expected {path}.") from None


def _to_timestamps(values: pd.Series) -> pd.Series:
    """Dates as timestamps, NaT where a value is not a date. Bad input (text in a date column) makes pandas
    warn that it cannot infer a format; the type rule reports those rows, so the warning is noise here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Could not infer format", category=UserWarning)
        return pd.to_datetime(values, errors="coerce")


def _not_after(values: pd.Series, limit: date) -> pd.Series:
    stamps = _to_timestamps(values)
    return stamps.notna() & (stamps <= pd.Timestamp(limit))


def _released_after_reference_month(periods: pd.Series, released: pd.Series) -> pd.Series:
    """True where the release date falls after the reference month ended (CPI cannot come out earlier)."""
    releases = _to_timestamps(released)
    after = []
    for period, release in zip(periods, releases, strict=True):
        if pd.isna(period) or pd.isna(release):
            after.append(False)
            continue
        following = cpi_release.following_month(period.date())
        after.append(following is not None and release.date() >= following)
    return pd.Series(after, index=periods.index, dtype=bool)


JUMP_LIMIT = 0.6  # a one-day move larger than 60% (split-adjusted) is held back as suspect


def _no_unexplained_jump(frame: pd.DataFrame, last_closes: dict[str, float]) -> pd.Series:
    """True unless close moved more than JUMP_LIMIT against the previous close without a split explaining it.

    The previous close of a ticker's first row in the batch is the last one stored in the warehouse.
    """
    if not {"ticker", "trade_date", "close", "split_ratio"} <= set(frame.columns):
        return pd.Series(True, index=frame.index)
    ordered = frame.assign(_date=_to_timestamps(frame["trade_date"])).sort_values(["ticker", "_date"])
    close = pd.to_numeric(ordered["close"], errors="coerce")
    previous = close.groupby(ordered["ticker"]).shift()
    previous = previous.fillna(ordered["ticker"].map(last_closes))
    ratio = close * pd.to_numeric(ordered["split_ratio"], errors="coerce") / previous
    suspect = (ratio - 1).abs() > JUMP_LIMIT
    return (~suspect.fillna(False)).reindex(frame.index)


def _matches_listing(frame: pd.DataFrame, listing: dict[str, tuple[str, str]]) -> pd.Series:
    """True where the row's (currency, exchange) is its ticker's listing; vectorised, with a per-row fallback
    for columns pandas cannot map (unhashable values in a malformed batch)."""
    try:
        tickers = frame["ticker"].astype(object)
        currency = tickers.map({ticker: pair[0] for ticker, pair in listing.items()})
        exchange = tickers.map({ticker: pair[1] for ticker, pair in listing.items()})
        matches = (currency == frame["currency"].astype(object)) & (exchange == frame["exchange"].astype(object))
        return matches.fillna(False).astype(bool)
    except TypeError:
        return pd.Series(
            [
                listing.get(ticker) == (currency, exchange)
                for ticker, currency, exchange in zip(
                    frame["ticker"], frame["currency"], frame["exchange"], strict=True
                )
            ],
            index=frame.index,
            dtype=bool,
        )


NUMERIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "prices": ("open", "high", "low", "close", "adj_close", "volume", "dividend", "split_ratio"),
    "fx_rates": ("usd_per_unit",),
    "fundamentals": (
        "fiscal_year",
        "fiscal_quarter",
        "revenue",
        "operating_income",
        "net_income",
        "rd_expense",
        "capex",
        "shares_outstanding",
        "period_months",
    ),  # fmt: skip
    "cpi": ("value",),
    "policy_events": (),
}
DATE_COLUMNS = (
    "trade_date",
    "rate_date",
    "fiscal_period_end",
    "report_date",
    "period_date",
    "release_date",
    "event_date",
)


def _is_number(value: Any) -> bool:
    """A value that converts to a float (ints beyond float range do not; text as pandas reads it)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return not isinstance(value, str) or not math.isnan(number)


def _numeric_ok(values: pd.Series) -> pd.Series:
    try:
        return values.isna() | pd.to_numeric(values, errors="coerce").notna()
    except (OverflowError, TypeError, ValueError):  # e.g. a Python int beyond int64 and float in an object column
        return values.isna() | values.map(_is_number).astype(bool)


def _types_ok(dataset: str, frame: pd.DataFrame) -> pd.Series:
    """True where every numeric column holds a number (or nothing) and every date column a date (or nothing)."""
    ok = pd.Series(True, index=frame.index)
    for column in NUMERIC_COLUMNS.get(dataset, ()):
        if column in frame.columns:
            ok &= _numeric_ok(frame[column])
    for column in DATE_COLUMNS:
        if column in frame.columns:
            values = frame[column]
            ok &= values.isna() | _to_timestamps(values).notna()
    return ok


DUPLICATE_COLUMNS_RULE = (
    "expect_table_column_names_to_be_unique -- checked by gapwatch before GX: a header that repeats a name "
    "is schema drift"
)


def with_unique_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with repeated column names made unique (``x``, ``x#2``, ...) so every value stays addressable."""
    if frame.columns.is_unique:
        return frame
    seen: dict[str, int] = {}
    names = []
    for name in map(str, frame.columns):
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return frame.set_axis(names, axis="columns")


def _duplicate_column_failure(frame: pd.DataFrame) -> RuleFailure | None:
    repeated = sorted({str(name) for name in frame.columns[frame.columns.duplicated()]})
    if not repeated:
        return None
    return RuleFailure(
        rule=DUPLICATE_COLUMNS_RULE,
        column=None,
        unexpected_count=None,
        examples=[{"repeated_column": name} for name in repeated[:EXAMPLE_ROWS]],
        note=f"repeated: {', '.join(repeated)}",
    )


def derive_checks(
    dataset: str, frame: pd.DataFrame, *, settings: Settings, as_of: date, last_closes: dict[str, float] | None = None
) -> pd.DataFrame:
    """Add the boolean ``gx_*`` columns the suite of ``dataset`` asserts."""
    checked = frame.copy()
    checked["gx_types_ok"] = _types_ok(dataset, frame)
    universe = settings.universe
    if dataset == "prices" and {"ticker", "trade_date", "exchange", "currency"} <= set(frame.columns):
        on_calendar = pd.Series(False, index=frame.index)
        for exchange, rows in frame.groupby("exchange", sort=False):
            if exchange in {s.exchange for s in universe.securities}:
                on_calendar[rows.index] = is_session(str(exchange), rows["trade_date"])
        checked["gx_on_exchange_calendar"] = on_calendar
        checked["gx_not_after_as_of"] = _not_after(frame["trade_date"], as_of)
        listing = {s.ticker: (s.currency, s.exchange) for s in universe.securities}
        checked["gx_no_unexplained_jump"] = _no_unexplained_jump(frame, last_closes or {})
        checked["gx_currency_matches_listing"] = _matches_listing(frame, listing)
    elif dataset == "fx_rates" and "rate_date" in frame.columns:
        stamps = _to_timestamps(frame["rate_date"])
        checked["gx_is_weekday"] = stamps.dt.dayofweek < 5
        checked["gx_not_after_as_of"] = _not_after(frame["rate_date"], as_of)
    elif dataset == "fundamentals" and {"ticker", "report_date", "currency"} <= set(frame.columns):
        checked["gx_not_after_as_of"] = _not_after(frame["report_date"], as_of)
        reporting = {s.ticker: s.reporting_currency for s in universe.securities}
        checked["gx_currency_matches_reporting"] = [
            reporting.get(ticker) == currency
            for ticker, currency in zip(frame["ticker"], frame["currency"], strict=True)
        ]
    elif dataset == "cpi" and "period_date" in frame.columns:
        stamps = _to_timestamps(frame["period_date"])
        checked["gx_is_month_start"] = stamps.dt.day == 1
        released = frame["release_date"] if "release_date" in frame.columns else pd.Series(None, index=frame.index)
        checked["gx_not_after_as_of"] = _not_after(released, as_of)
        checked["gx_released_after_reference_month"] = _released_after_reference_month(stamps, released)
    elif dataset == "policy_events" and "event_date" in frame.columns:
        checked["gx_not_after_as_of"] = _not_after(frame["event_date"], as_of)
    return checked


def suite_parameters(settings: Settings) -> dict[str, Any]:
    universe = settings.universe
    return {
        "tickers": universe.tickers,
        "company_tickers": [s.ticker for s in universe.securities if s.group != "benchmark"],
        "fx_currencies": universe.fx_currencies,
    }


def _context() -> Any:
    global _gx_context
    with _gx_lock:
        if _gx_context is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            # This GX module sets its own logger to INFO on import and then announces the temporary
            # docs folder of every ephemeral context; keep the run output clean.
            logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            _gx_context = context
        return _gx_context


def _examples(frame: pd.DataFrame, result: dict[str, Any]) -> list[dict[str, Any]]:
    index = result.get("partial_unexpected_index_list") or []
    visible = [column for column in frame.columns if not column.startswith("gx_")]
    rows = []
    for position in list(dict.fromkeys(index))[:EXAMPLE_ROWS]:
        if position in frame.index:
            rows.append({key: frame.at[position, key] for key in visible})
    if not rows:
        rows = [{"value": value} for value in (result.get("partial_unexpected_list") or [])[:EXAMPLE_ROWS]]
    return rows


def _severity(config: Any) -> str:
    severity = getattr(config, "severity", None) or "critical"
    return str(getattr(severity, "value", severity)).lower()


def _rule_name(config: Any, meta_rule: str | None) -> str:
    kwargs = {key: value for key, value in config.kwargs.items() if key not in {"batch_id", "result_format"}}
    if isinstance(kwargs.get("value_set"), list) and len(kwargs["value_set"]) > 8:
        kwargs["value_set"] = f"<{len(kwargs['value_set'])} values>"
    arguments = ", ".join(f"{key}={value}" for key, value in kwargs.items())
    name = f"{config.type}({arguments})"
    return f"{name} -- {meta_rule}" if meta_rule else name


_docs_sites: dict[Path, str] = {}


def _write_data_docs(context: Any, outcome: Any, *, settings: Settings, dataset: str, load_id: str) -> Path:
    """Store the validation result and render GX Data Docs (HTML) under <home>/data_docs/."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    folder = settings.paths.home / "data_docs"
    with _gx_lock:
        site = _docs_sites.get(folder)
        if site is None:
            site = f"gapwatch_{len(_docs_sites)}"
            context.add_data_docs_site(
                site,
                {
                    "class_name": "SiteBuilder",
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
                },
            )
            _docs_sites[folder] = site
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=dataset),
            run_id=RunIdentifier(run_name=load_id),
            batch_identifier=load_id,
        )
        context.validation_results_store.set(key, outcome)
        context.build_data_docs(site_names=[site], resource_identifiers=[key])
    return folder / "index.html"


def validate_frame(
    dataset: str,
    frame: pd.DataFrame,
    *,
    settings: Settings,
    as_of: date,
    last_closes: dict[str, float] | None = None,
    load_id: str | None = None,
) -> ValidationReport:
    """Run the dataset's suite on ``frame`` (plus derived checks) and report failures with example rows."""
    import great_expectations as gx

    document = load_suite_document(settings, dataset)
    suite = gx.ExpectationSuite(name=document["name"], expectations=document["expectations"], meta=document.get("meta"))
    duplicate_columns = _duplicate_column_failure(frame)
    checked = derive_checks(
        dataset,
        with_unique_columns(frame.reset_index(drop=True)),
        settings=settings,
        as_of=as_of,
        last_closes=last_closes,
    )
    context = _context()
    with _gx_lock:
        source_name = f"batch_{dataset}"
        try:
            datasource = context.data_sources.get(source_name)
            asset = datasource.get_asset(dataset)
        except (KeyError, ValueError, LookupError):
            datasource = context.data_sources.add_pandas(source_name)
            asset = datasource.add_dataframe_asset(dataset)
        try:
            definition = asset.get_batch_definition("whole")
        except (KeyError, ValueError, LookupError):
            definition = asset.add_batch_definition_whole_dataframe("whole")
    batch = definition.get_batch(batch_parameters={"dataframe": checked})
    outcome = batch.validate(
        suite,
        expectation_parameters=suite_parameters(settings),
        result_format={"result_format": "COMPLETE", "partial_unexpected_count": EXAMPLE_ROWS},
    )
    if load_id is not None:
        _write_data_docs(context, outcome, settings=settings, dataset=dataset, load_id=load_id)
    failures = [duplicate_columns] if duplicate_columns else []
    outcomes = [(DUPLICATE_COLUMNS_RULE, "critical", duplicate_columns is None, None)]
    for result in outcome.results:
        config = result.expectation_config
        outcomes.append(
            (
                _rule_name(config, (config.meta or {}).get("rule")),
                _severity(config),
                bool(result.success),
                (result.result or {}).get("unexpected_count"),
            )
        )
        if result.success:
            continue
        exception = result.exception_info or {}
        raised = exception.get("raised_exception") if isinstance(exception, dict) else False
        message = exception.get("exception_message") if isinstance(exception, dict) else None
        column = config.kwargs.get("column")
        note = None
        if config.type == "expect_column_to_exist":
            note = f"column '{column}' is missing (schema drift?)"
        elif raised:
            note = f"could not be evaluated: {str(message).splitlines()[0] if message else 'error'}"
        failures.append(
            RuleFailure(
                rule=_rule_name(config, (config.meta or {}).get("rule")),
                column=column,
                unexpected_count=(result.result or {}).get("unexpected_count"),
                examples=_examples(checked, result.result or {}),
                note=note,
                severity=_severity(config),
                rows=sorted({int(i) for i in (result.result or {}).get("unexpected_index_list") or []}),
            )
        )
    return ValidationReport(
        dataset=dataset,
        suite_path=settings.expectations_dir / f"{dataset}.json",
        success=bool(outcome.success) and duplicate_columns is None,
        evaluated=int(outcome.statistics.get("evaluated_expectations", 0)) + 1,
        failures=failures,
        raw=outcome.to_json_dict(),
        outcomes=outcomes,
    )


def cpi_month_is_released(period_date: date, *, as_of: date, lag_days: int) -> bool:
    """Is the CPI for the month starting ``period_date`` treated as published on ``as_of``?

    The BLS release calendar decides where it knows the date, else day
    ``lag_days`` of the next month (see ``flows.cpi_release``).
    """
    return cpi_release.is_released(period_date, as_of=as_of, lag_days=lag_days)
