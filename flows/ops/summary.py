"""The run summary: what one run did (:class:`RunSummary`), as terminal text and as markdown (Prefect artifact);
run outcomes."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from flows.datasets.base import Freshness
from flows.ops.progress import seconds
from flows.warehouse.audit import LoadResult
from flows.warehouse.dbt import DbtResult


def sample_banner(loads: Iterable[LoadResult]) -> str | None:
    """The warning a run that loaded sample data prints: which datasets are synthetic, which are real."""
    loads = list(loads)
    sample = [load.dataset for load in loads if load.source == "sample"]
    if not sample:
        return None
    real = [f"{load.dataset} ({load.source})" for load in loads if load.source != "sample"]
    return f"NOTE: {', '.join(sample)} are SAMPLE DATA (synthetic, source = 'sample'), not market data." + (
        f" Real: {', '.join(real)}." if real else ""
    )


# What a run's outcome can be (audit.runs keeps succeeded / failed / skipped / running):
#   succeeded    every dataset loaded completely; marts rebuilt, tested and published
#   partial      published, but some keys failed (within GAPWATCH_MAX_FAILED_KEY_SHARE) or rows were
#                quarantined by warning rules: the marts lack those keys/rows
#   failed       a dataset was rejected (validation, too many failed keys, unreadable payload), dbt failed,
#                another run held the lock, or the run crashed: the marts were NOT republished (exit 1)
#   skipped      a scheduled run on a day NYSE and HKEX are both closed: nothing ingested
#   running      audit.runs says running and a process holds the run lock
#   interrupted  audit.runs says running but nothing holds the lock: the process died (kill, crash)
OUTCOMES = ("succeeded", "partial", "failed", "skipped", "running", "interrupted")


def run_outcome(*, failed: bool, skipped: bool = False, degraded_loads: int = 0) -> str:
    """The outcome of a finished run (see OUTCOMES)."""
    if skipped:
        return "skipped"
    if failed:
        return "failed"
    return "partial" if degraded_loads else "succeeded"


UNCHANGED = "unchanged (validated when loaded)"


def validation_text(evaluated: int | None, failed: int | None, *, unchanged: bool = False) -> str:
    """A load's validation in words: the run summary, its artifact and ``gapwatch status`` all say it this way."""
    if unchanged:  # every extracted row was already stored as it is: validated when it was first loaded
        return UNCHANGED
    if not evaluated:
        return "not run"
    return f"{evaluated - (failed or 0)}/{evaluated} passed"


@dataclass
class RunSummary:
    """What one run did: its loads, the dbt build, the published marts, errors and warnings."""

    run_id: str
    as_of: date
    source: str
    home: Path
    loads: list[LoadResult] = field(default_factory=list)
    dbt: DbtResult | None = None
    mart_rows: dict[str, int] = field(default_factory=dict)
    published_path: Path | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    freshness: list[Freshness] = field(default_factory=list)
    replay_of: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    skipped: str | None = None  # why a scheduled run ingested nothing (both markets closed)
    alert: str | None = None  # what happened to the webhook alert, when one was due
    alert_delivered: bool | None = None  # None: no alert was due
    flow_run_id: str | None = None
    report_path: Path | None = None  # the HTML report written after publishing
    up_to_date: bool = False  # nothing new loaded and the project unchanged: dbt and publish were skipped

    @property
    def success(self) -> bool:
        return not self.errors

    @property
    def outcome(self) -> str:
        """succeeded | partial | failed | skipped (see OUTCOMES)."""
        degraded = sum(load.is_degraded for load in self.loads)
        return run_outcome(failed=not self.success, skipped=bool(self.skipped), degraded_loads=degraded)

    @property
    def failed_rules(self) -> dict[str, list[str]]:
        """Per load id, the rules that failed."""
        return {load.load_id: load.failed_rules for load in self.loads if load.failed_rules}

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def duckdb_cli() -> str:
    """The DuckDB command line installed with gapwatch (the ``duckdb-cli`` package, beside this interpreter),
    as a path relative to the working directory when it lies below it (``.venv/bin/duckdb``); ``duckdb``
    (from PATH) when it is not installed there."""
    cli = Path(sys.executable).with_name("duckdb")
    if not cli.exists():
        return "duckdb"
    try:
        return str(cli.relative_to(Path.cwd()))
    except ValueError:
        return str(cli)


def render_summary(summary: RunSummary) -> str:
    """The terminal summary of a run."""
    lines = [f"gapwatch run {summary.run_id} as of {summary.as_of} (source: {summary.source})"]
    if summary.skipped:
        return "\n".join([*lines, "", f"run skipped: {summary.skipped}"])
    if summary.replay_of:
        lines.append(f"replay of load {summary.replay_of} from its landing files (no network)")
    banner = sample_banner(summary.loads)
    if banner:
        lines.append(banner)
    lines.append("")
    lines.append(f"{'dataset':<15}{'source':<26}{'extracted':>10}{'loaded':>9}  validation")
    for load in summary.loads:
        checks = validation_text(load.expectations_evaluated, load.expectations_failed, unchanged=load.unchanged)
        failed = f"  FAILED ({len(load.failures)} of {load.keys} keys failed)" if load.failures else "  FAILED"
        lines.append(
            f"{load.dataset:<15}{load.source:<26}{load.rows_extracted:>10}{load.rows_loaded:>9}  {checks}"
            + {"succeeded": "", "partial": f"  PARTIAL ({len(load.failures)} keys failed)"}.get(load.status, failed)
        )
    if summary.freshness:
        lines += ["", "freshness (against the NYSE/Nasdaq/HKEX calendars; holidays are not gaps):"]
        lines += [f"  {row.describe()}" for row in summary.freshness]
    if summary.dbt is not None:
        lines += ["", summary.dbt.describe()]
    elif summary.up_to_date:
        lines += ["", "marts up to date: nothing new since the last build (dbt and publish skipped)"]
    if summary.mart_rows:
        lines += ["", "marts (rows):"] + [f"  marts.{name:<24}{rows:>10}" for name, rows in summary.mart_rows.items()]
    if summary.published_path:
        lines += [
            "",
            f"warehouse: {summary.home / 'gapwatch.duckdb'}",
            f"published (read-only copy for BI): {summary.published_path}",
            f"validation results (opens offline): {summary.home / 'validation' / 'index.html'}",
            *([f"report (HTML, opens offline): {summary.report_path}"] if summary.report_path else []),
            f"query: {duckdb_cli()} -readonly {summary.published_path} "
            '"select * from marts.inflation order by month_date desc limit 5"',
        ]
    if summary.warnings:
        lines += ["", "WARNINGS (failed keys, quarantined rows or the report; everything else loaded):"] + [
            f"  {w}" for w in summary.warnings
        ]
    if summary.alert:
        lines += ["", f"alert: {summary.alert}"]
    if summary.errors:
        lines += ["", "ERRORS:"] + [f"  {error}" for error in summary.errors]
    lines.append("")
    if not summary.success:
        lines.append("run FAILED")
    elif summary.outcome == "partial":
        lines.append("run succeeded, PARTIAL: some keys failed or rows were quarantined (see WARNINGS)")
    else:
        lines.append("run succeeded")
    return "\n".join(lines)


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[object]], *, right: Iterable[int] = ()) -> list[str]:
    header = list(header)
    aligned = set(right)
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---:" if i in aligned else "---" for i in range(len(header))) + "|")
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def render_markdown(summary: RunSummary) -> str:
    """The run summary as markdown: the Prefect artifact ``gapwatch-run-summary`` shown in the UI."""
    outcome = summary.outcome
    lines = [f"# gapwatch run `{summary.run_id}`: {outcome}", ""]
    facts = [f"as of **{summary.as_of}**", f"source **{summary.source}**"]
    if summary.duration_seconds is not None:
        facts.append(f"took {seconds(summary.duration_seconds)}")
    lines += [" · ".join(facts), ""]
    if summary.skipped:
        return "\n".join([*lines, f"Skipped: {summary.skipped}. Nothing was ingested.", ""])
    if summary.replay_of:
        lines += [f"Replay of load `{summary.replay_of}` from its landing files (no network).", ""]
    banner = sample_banner(summary.loads)
    if banner:
        lines += [f"> {banner}", ""]
    lines += ["## Datasets", ""]
    lines += _table(
        ["dataset", "source", "extracted", "loaded", "quarantined", "validation", "failed rules", "status", "load id"],
        (
            [
                load.dataset,
                load.source,
                load.rows_extracted,
                load.rows_loaded,
                load.rows_quarantined,
                validation_text(load.expectations_evaluated, load.expectations_failed, unchanged=load.unchanged),
                ", ".join(summary.failed_rules.get(load.load_id, [])) or "-",
                load.status + (f" ({len(load.failures)} keys failed)" if load.failures else ""),
                f"`{load.load_id}`",
            ]
            for load in summary.loads
        ),
        right=(2, 3, 4),
    )
    if summary.freshness:
        lines += ["", "## Freshness (exchange calendars; holidays are not gaps)", ""]
        lines += _table(
            ["dataset", "status", "latest", "expected", "missing"],
            (
                [row.dataset, row.status, row.latest or "-", row.expected or "-", len(row.missing)]
                for row in summary.freshness
            ),
            right=(4,),
        )
    if summary.dbt is not None:
        dbt_line = summary.dbt.describe()
    elif summary.up_to_date:
        dbt_line = "skipped: nothing new since the last build, the marts are current"
    else:
        dbt_line = "dbt not run"
    lines += ["", "## dbt", "", dbt_line, ""]
    if summary.mart_rows:
        lines += ["## Marts", ""]
        marts = ([f"marts.{name}", rows] for name, rows in summary.mart_rows.items())
        lines += _table(["mart", "rows"], marts, right=(1,))
        lines.append("")
    published = f"`{summary.published_path}`" if summary.published_path else "not published by this run"
    lines += [f"**Published:** {published}", ""]
    if summary.warnings:
        lines += ["## Warnings", ""] + [f"- {_cell(warning)}" for warning in summary.warnings] + [""]
    if summary.errors:
        lines += ["## Errors", ""] + ["```", *summary.errors, "```", ""]
    return "\n".join(lines)
