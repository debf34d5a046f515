"""Validate a batch with its Great Expectations suite before it is loaded.

Suites are committed JSON files in ``expectations/`` (one per dataset). GX
runs on a pandas batch (GX 1.x through SQLAlchemy on DuckDB is broken, see
docs). Checks GX cannot express by itself -- "is this a trading session of
the listing's exchange", "is this after --as-of" -- are computed by the
dataset's module as boolean ``gx_*`` columns (plus ``gx_types_ok`` from its
table's declared types) and asserted by the suite.

This module never imports GX: :mod:`flows.validation.engine` runs the suite (in the GX worker process when
the run started one) and returns GX's JSON result, which this module reads into a ValidationReport.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from flows.datasets.base import CheckContext, Dataset
from flows.datasets.checks import types_ok
from flows.settings import Settings
from flows.validation.engine import EXAMPLE_ROWS, SuiteRun
from flows.validation.page import rule_name


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


# GX's per-expectation result fields: counts of rows (summed over parts), lists of every unexpected value or row
# (concatenated), lists of examples (concatenated, then cut to EXAMPLE_ROWS); the index lists hold row positions.
_COUNTED = ("element_count", "missing_count", "unexpected_count")
_FULL_LISTS = ("unexpected_list", "unexpected_index_list")
_PARTIAL_LISTS = ("partial_unexpected_list", "partial_unexpected_index_list", "partial_unexpected_counts")
_INDEXED = ("unexpected_index_list", "partial_unexpected_index_list")


def _combined_result(parts: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """One expectation's GX results over the parts of a batch (each with its first row's position) as GX would
    have reported the whole batch: counts summed, percentages recomputed, row positions made batch-wide."""
    combined = {**parts[0][1], "success": all(result["success"] for _, result in parts)}
    raised = [info for _, result in parts if (info := result.get("exception_info") or {}).get("raised_exception")]
    if raised:
        combined["exception_info"] = raised[0]
    details = [(offset, result.get("result") or {}) for offset, result in parts]
    merged: dict[str, Any] = dict(details[0][1])
    for name in _COUNTED:
        if all(name in detail for _, detail in details):
            merged[name] = sum(int(detail[name] or 0) for _, detail in details)
    for name in (*_FULL_LISTS, *_PARTIAL_LISTS):
        if any(name in detail for _, detail in details):
            values = [
                offset + int(value) if name in _INDEXED else value
                for offset, detail in details
                for value in detail.get(name) or []
            ]
            merged[name] = values if name in _FULL_LISTS else values[:EXAMPLE_ROWS]
    elements, missing = merged.get("element_count"), merged.get("missing_count")
    unexpected = merged.get("unexpected_count")
    if elements and unexpected is not None:
        present = elements - (missing or 0)
        merged["unexpected_percent_total"] = 100 * unexpected / elements
        merged["unexpected_percent_nonmissing"] = 100 * unexpected / present if present else None
        merged["unexpected_percent"] = merged["unexpected_percent_nonmissing"]
        if missing is not None:
            merged["missing_percent"] = 100 * missing / elements
    combined["result"] = merged
    return combined


def combine_reports(parts: list[tuple[int, ValidationReport]]) -> ValidationReport:
    """The report of a batch validated in parts (each with the position of its first row in the batch): the
    same rules, each failed where any part failed it, counts summed, failing rows at batch positions."""
    if len(parts) == 1 and parts[0][0] == 0:
        return parts[0][1]
    reports = [report for _, report in parts]
    first = reports[0]
    for report in reports[1:]:
        if [outcome[0] for outcome in report.outcomes] != [outcome[0] for outcome in first.outcomes]:
            raise ValueError(f"The parts of dataset '{first.dataset}' were not validated with the same rules.")
    outcomes = []
    for index, (rule, severity, _, _) in enumerate(first.outcomes):
        counts = [report.outcomes[index][3] for report in reports]
        total = None if all(count is None for count in counts) else sum(count or 0 for count in counts)
        outcomes.append((rule, severity, all(report.outcomes[index][2] for report in reports), total))
    failures: dict[str, RuleFailure] = {}
    for offset, report in parts:
        for failure in report.failures:
            held = failures.get(failure.rule)
            rows = [offset + row for row in failure.rows]
            if held is None:
                failures[failure.rule] = RuleFailure(
                    failure.rule, failure.column, failure.unexpected_count, list(failure.examples), failure.note,
                    failure.severity, rows,
                )  # fmt: skip
                continue
            if failure.unexpected_count is not None:
                held.unexpected_count = (held.unexpected_count or 0) + failure.unexpected_count
            held.examples = (held.examples + failure.examples)[:EXAMPLE_ROWS]
            held.note = held.note or failure.note
            held.rows += rows
    raw = dict(first.raw)
    results = [
        _combined_result([(offset, report.raw["results"][index]) for offset, report in parts])
        for index in range(len(first.raw.get("results") or []))
    ]
    successful = sum(1 for result in results if result["success"])
    raw["results"] = results
    raw["success"] = all(result["success"] for result in results)
    raw["statistics"] = {
        **(first.raw.get("statistics") or {}),
        "evaluated_expectations": len(results),
        "successful_expectations": successful,
        "unsuccessful_expectations": len(results) - successful,
        "success_percent": 100 * successful / len(results) if results else None,
    }
    return ValidationReport(
        dataset=first.dataset,
        suite_path=first.suite_path,
        success=all(report.success for report in reports),
        evaluated=first.evaluated,
        failures=list(failures.values()),
        raw=raw,
        outcomes=outcomes,
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


def _severity(config: dict[str, Any]) -> str:
    return str(config.get("severity") or "critical").lower()


def _rule_name(config: dict[str, Any]) -> str:
    return rule_name(config["type"], dict(config.get("kwargs") or {}), (config.get("meta") or {}).get("rule"))


def validate_frame(
    dataset: Dataset,
    frame: pd.DataFrame,
    *,
    settings: Settings,
    as_of: date,
    history: Any = None,
    load_id: str | None = None,
    docs_only_if_failed: bool = False,
) -> ValidationReport:
    """Run the dataset's suite on ``frame`` (plus derived checks) and report failures with example rows.

    ``load_id`` names the GX Data Docs page it renders (none without it; with ``docs_only_if_failed``, only when
    a rule failed).

    ``history`` is what the dataset's history look-up returned for this batch (e.g. the last stored closes).
    GX runs in the GX worker process when one was started (:func:`flows.validation.worker.start`), else here.
    """
    from flows.validation import worker  # imported here: it imports GX's engine module, which this one does not need

    duplicate_columns = _duplicate_column_failure(frame)
    checked = derive_checks(
        dataset, with_unique_columns(frame.reset_index(drop=True)), settings=settings, as_of=as_of, history=history
    )
    raw = worker.run(
        SuiteRun(
            dataset=dataset.name,
            checked=checked,
            suite=load_suite_document(settings, dataset),
            parameters=suite_parameters(settings),
            docs_folder=settings.paths.home / "data_docs" if load_id is not None else None,
            load_id=load_id,
            docs_only_if_failed=docs_only_if_failed,
        )
    )
    failures = [duplicate_columns] if duplicate_columns else []
    outcomes = [(DUPLICATE_COLUMNS_RULE, "critical", duplicate_columns is None, None)]
    for result in raw["results"]:
        config = result["expectation_config"]
        details = result.get("result") or {}
        success = bool(result["success"])
        outcomes.append((_rule_name(config), _severity(config), success, details.get("unexpected_count")))
        if success:
            continue
        exception = result.get("exception_info") or {}
        raised = exception.get("raised_exception") if isinstance(exception, dict) else False
        message = exception.get("exception_message") if isinstance(exception, dict) else None
        column = (config.get("kwargs") or {}).get("column")
        note = None
        if config["type"] == "expect_column_to_exist":
            note = f"column '{column}' is missing (schema drift?)"
        elif raised:
            note = f"could not be evaluated: {str(message).splitlines()[0] if message else 'error'}"
        failures.append(
            RuleFailure(
                rule=_rule_name(config),
                column=column,
                unexpected_count=details.get("unexpected_count"),
                examples=_examples(checked, details),
                note=note,
                severity=_severity(config),
                rows=sorted({int(i) for i in details.get("unexpected_index_list") or []}),
            )
        )
    return ValidationReport(
        dataset=dataset.name,
        suite_path=settings.expectations_dir / dataset.suite_file,
        success=bool(raw["success"]) and duplicate_columns is None,
        evaluated=int(raw["statistics"].get("evaluated_expectations", 0)) + 1,
        failures=failures,
        raw=raw,
        outcomes=outcomes,
    )
