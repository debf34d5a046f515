"""Validate a batch with its Great Expectations suite before it is loaded.

Suites are committed JSON files in ``expectations/`` (one per dataset). GX
runs on a pandas batch (GX 1.x through SQLAlchemy on DuckDB is broken, see
docs). Checks GX cannot express by itself -- "is this a trading session of
the listing's exchange", "is this after --as-of" -- are computed by the
dataset's module as boolean ``gx_*`` columns (plus ``gx_types_ok`` from its
table's declared types) and asserted by the suite.

GX is imported lazily: it costs seconds and only this step needs it.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from flows.datasets.base import CheckContext, Dataset
from flows.datasets.checks import types_ok
from flows.settings import Settings
from flows.validation.page import rule_name

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


def load_suite_document(settings: Settings, dataset: Dataset) -> dict[str, Any]:
    path = settings.expectations_dir / dataset.suite_file
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"No expectation suite for dataset '{dataset.name}': expected {path}.") from None


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
    dataset: Dataset, frame: pd.DataFrame, *, settings: Settings, as_of: date, history: Any = None
) -> pd.DataFrame:
    """``frame`` with the boolean ``gx_*`` columns its suite asserts: the declared types, then the dataset's own."""
    checked = frame.copy()
    checked["gx_types_ok"] = types_ok(dataset.table, frame)
    for name, values in dataset.derive_checks(frame, CheckContext(settings, as_of, history)).items():
        checked[name] = values
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
    return rule_name(config.type, dict(config.kwargs), meta_rule)


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
    dataset: Dataset,
    frame: pd.DataFrame,
    *,
    settings: Settings,
    as_of: date,
    history: Any = None,
    load_id: str | None = None,
) -> ValidationReport:
    """Run the dataset's suite on ``frame`` (plus derived checks) and report failures with example rows.

    ``history`` is what the dataset's history look-up returned for this batch (e.g. the last stored closes).
    """
    import great_expectations as gx

    document = load_suite_document(settings, dataset)
    suite = gx.ExpectationSuite(name=document["name"], expectations=document["expectations"], meta=document.get("meta"))
    duplicate_columns = _duplicate_column_failure(frame)
    checked = derive_checks(
        dataset, with_unique_columns(frame.reset_index(drop=True)), settings=settings, as_of=as_of, history=history
    )
    context = _context()
    with _gx_lock:
        source_name = f"batch_{dataset.name}"
        try:
            datasource = context.data_sources.get(source_name)
            asset = datasource.get_asset(dataset.name)
        except (KeyError, ValueError, LookupError):
            datasource = context.data_sources.add_pandas(source_name)
            asset = datasource.add_dataframe_asset(dataset.name)
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
        _write_data_docs(context, outcome, settings=settings, dataset=dataset.name, load_id=load_id)
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
        dataset=dataset.name,
        suite_path=settings.expectations_dir / dataset.suite_file,
        success=bool(outcome.success) and duplicate_columns is None,
        evaluated=int(outcome.statistics.get("evaluated_expectations", 0)) + 1,
        failures=failures,
        raw=outcome.to_json_dict(),
        outcomes=outcomes,
    )
