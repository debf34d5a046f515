"""Dated policy events (``raw.policy_events``): the curated calendar of real events, plus, live, the Federal
Register's rules of one agency (BIS export controls by default)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from flows.availability import LocalTime
from flows.datasets.base import (
    Batch,
    CheckContext,
    Column,
    Cursor,
    Dataset,
    ExtractRequest,
    LivePlan,
    Table,
    available_at_column,
)
from flows.datasets.checks import known_by
from flows.datasets.freshness import StatedCoverage
from flows.settings import REPO_ROOT, ConfigError, Settings
from flows.sources.curated import reader as curated_reader
from flows.sources.jobs import KeyJob
from flows.sources.registry import LOCAL

# An event known only by its date is public after that day's US close (the after-close rule).
AVAILABILITY = LocalTime("event_date")

TABLE = Table(
    "raw.policy_events",
    (
        Column("event_id", "varchar", nullable=False, comment="stable slug, e.g. '2022-10-07-bis-advanced-computing'"),
        Column("event_date", "date", nullable=False),
        Column(
            "category",
            "varchar",
            nullable=False,
            comment="regulation | export_control | monetary_policy | diplomacy | inflation_release",
        ),
        Column("region", "varchar", nullable=False, comment="US | CN | JP | US-CN | US-JP | global"),
        Column("title", "varchar", nullable=False),
        Column("source_url", "varchar", nullable=False),
        Column("source", "varchar", nullable=False, comment="'curated' | 'federal_register'"),
        available_at_column(AVAILABILITY, "the publication time, else event_date after the US close"),
    ),
    keys=("event_id",),
    date_column="event_date",
    comment="Dated policy events: export controls, platform regulation, FOMC decisions, meetings, CPI releases.",
)

# Live: the Federal Register window starts this long before the newest stored document.
LIVE_LOOKBACK_DAYS = 30


def extract_sample(request: ExtractRequest) -> Batch:
    """The curated calendar (events up to the as-of date); its raw CSV is landed as it is."""
    payload = curated_reader.read_payload(request.settings.policy_events_file)
    try:
        frame, problem = curated_reader.parse_events(payload, until=request.as_of), None
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError and EmptyDataError are ValueErrors
        frame, problem = pd.DataFrame(), f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    return Batch(
        "policy_events",
        curated_reader.SOURCE,
        frame,
        None,
        request.as_of,
        payload=payload,
        payload_suffix=".csv",
        parse_error=problem,
    )


def plan_live(request: ExtractRequest) -> LivePlan:
    """The curated calendar (a local payload) and the Federal Register's documents since the newest stored."""
    settings = request.settings
    live = settings.live
    first = request.first_start(default=settings.sample.start_date, lookback_days=LIVE_LOOKBACK_DAYS)
    curated = curated_reader.read_payload(settings.policy_events_file)
    jobs = [
        KeyJob(
            "curated",
            "curated_csv",
            {"until": request.as_of.isoformat()},
            LOCAL,
            "payload",
            {"payload": curated},
            ".csv",
        ),
        KeyJob(
            f"federal_register:{live.fedreg_agency}",
            "fedreg_documents",
            {
                "agency": live.fedreg_agency,
                "term": live.fedreg_term,
                "start": first.isoformat(),
                "until": request.as_of.isoformat(),
            },
            "federal_register",
            "fedreg_documents",
            {"agency": live.fedreg_agency, "term": live.fedreg_term or None, "start": first, "end": request.as_of},
        ),
    ]
    return LivePlan("curated+federal_register", jobs)


def combine(frame: pd.DataFrame) -> pd.DataFrame:
    """Curated events first; fetched documents only where they are new (curated wins)."""
    from flows.sources.federal_register.parser import merge_with_curated

    curated = frame[frame["source"] == curated_reader.SOURCE]
    fetched = frame[frame["source"] != curated_reader.SOURCE]
    return merge_with_curated(curated, fetched)


def derive_checks(frame: pd.DataFrame, context: CheckContext) -> dict[str, Any]:
    if "event_date" not in frame.columns:
        return {}
    return {
        "gx_not_after_as_of": known_by(frame, date_column="event_date", as_of=context.as_of, at_column="available_at")
    }


def coverage_file(events_file: Path) -> Path:
    """Where a curated calendar states its coverage: ``<name>.coverage.yaml`` beside the CSV."""
    return events_file.with_name(f"{events_file.stem}.coverage.yaml")


def stated_coverage(settings: Settings) -> tuple[date | None, str]:
    """(covered_through, what to extend) of the curated calendar in use; None when it states no coverage."""
    events, statement = settings.policy_events_file, coverage_file(settings.policy_events_file)
    shown = events.relative_to(REPO_ROOT) if events.is_relative_to(REPO_ROOT) else events  # the shipped one: short
    where = f"{shown} and covered_through in {statement.name}"
    if not statement.is_file():
        return None, f"add {statement.name} (covered_through: YYYY-MM-DD) beside {shown}"
    try:
        document = yaml.safe_load(statement.read_text()) or {}
        covered = document.get("covered_through") if isinstance(document, dict) else None
        day = covered if isinstance(covered, date) else date.fromisoformat(str(covered))
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{statement}: covered_through must be a date like 2025-12-31 ({exc}).") from None
    return day, where


DATASET = Dataset(
    name="policy_events",
    family="policy_events",
    description="dated policy events (the curated calendar; live, plus the Federal Register)",
    table=TABLE,
    cursor=Cursor("source", sample=(), live=("federal_register",)),
    extract_sample=extract_sample,
    plan_live=plan_live,
    combine=combine,
    derive_checks=derive_checks,
    payload_parser="curated_csv",
    freshness=StatedCoverage(column="event_date", coverage=stated_coverage),
    availability=AVAILABILITY,
)
