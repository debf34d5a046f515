"""A run never leaves or publishes rows from beyond its as-of (issue 14, item 2).

* An as-of in the future (after today in New York), before the history or beyond the bundled trading
  calendars is refused before anything is extracted (issue 15 added the first two): one line, exit 2
  from the CLI (it used to fail at prices with a traceback after committing FX rows up to 2099 and CPI
  months from after the next run's as-of).
* A run whose as-of is earlier than rows the warehouse already holds is refused with a line pointing to
  ``gapwatch backfill`` (a warehouse cannot be rolled back): it used to rebuild and publish the marts with
  those rows and report "cpi fresh" with a month released after its as-of.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import AS_OF, Home
from flows.availability import first_as_of, is_public_by, public_cutoff
from flows.calendars import CalendarRangeError, calendars_end, check_as_of
from flows.cli import app
from flows.datasets import registry
from flows.settings import load_settings

EARLIER = date(2026, 7, 2)  # before the session warehouse's as-of (AS_OF, 2026-11-20)
FAR = date(2099, 1, 1)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _raw_counts(home: Home) -> dict[str, int]:
    return {name: home.query(f"select count(*) from raw.{name}")[0][0] for name in registry.names()}


def test_first_as_of_is_the_inverse_of_the_public_cutoff() -> None:
    cutoff = public_cutoff(EARLIER)
    assert first_as_of(cutoff) == EARLIER + timedelta(days=1)
    just_before = cutoff - timedelta(microseconds=1)
    assert first_as_of(just_before) == EARLIER and is_public_by(just_before, EARLIER)


def _today() -> date:
    return load_settings().today()  # today in New York: the rule's own "today"


FUTURE = _today() + timedelta(days=30)
BEFORE_HISTORY = date(2019, 1, 1)


@pytest.mark.parametrize(
    ("args", "option", "day", "expected"),
    [
        (["run", "--as-of", FUTURE.isoformat()], "--as-of", FUTURE, "is in the future (today is {today} in New York)"),
        (
            ["backfill", "--start", "2026-01-01", "--end", FUTURE.isoformat()],
            "--end",
            FUTURE,
            "is in the future (today is {today} in New York)",
        ),
        (["run", "--as-of", FAR.isoformat()], "--as-of", FAR, "is in the future"),
        (
            ["run", "--as-of", BEFORE_HISTORY.isoformat()],
            "--as-of",
            BEFORE_HISTORY,
            "is before the history gapwatch keeps, which starts on {start}",
        ),
    ],
)
def test_the_cli_refuses_a_run_date_it_cannot_be_truthful_about_before_extracting(
    tmp_path: Path, args: list[str], option: str, day: date, expected: str
) -> None:
    with Home(tmp_path / "home"):
        settings = load_settings()
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    message = expected.format(today=settings.today(), start=settings.sample.start_date)
    assert f"{option} {day} {message}" in lines[0], lines[0]
    assert "Nothing was extracted" in lines[0]
    assert not (tmp_path / "home" / "gapwatch.duckdb").exists()  # nothing was opened, let alone extracted


def test_a_date_beyond_the_bundled_calendars_is_refused_by_the_same_rule() -> None:
    end, _ = calendars_end()
    beyond = end + timedelta(days=1)
    with pytest.raises(CalendarRangeError) as refused:
        check_as_of(beyond, today=beyond, history_start=date(2022, 1, 1))  # a "today" past the calendars' end
    assert f"--as-of {beyond} is beyond the bundled trading calendars, which end on {end}" in str(refused.value)
    assert f"choose an --as-of on or before {end}" in str(refused.value)
    check_as_of(end, today=end, history_start=date(2022, 1, 1))  # the last covered day is allowed


@pytest.mark.usefixtures("prefect_server")
def test_the_flow_refuses_a_future_as_of_and_commits_nothing(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    with home:
        summary = home.run(as_of=FAR)
    assert not summary.success and not summary.loads
    assert len(summary.errors) == 1 and f"--as-of {FAR} is in the future" in summary.errors[0]
    assert set(_raw_counts(home).values()) == {0}  # before: 56,751 FX rows up to 2099 and CPI were committed
    assert home.query("select status, as_of from audit.runs") == [("failed", FAR)]
    assert not (home.path / "published").exists()


@pytest.mark.usefixtures("prefect_server")
def test_an_earlier_as_of_than_the_warehouse_holds_is_refused_and_publishes_nothing(
    tmp_path: Path, warehouse: Home
) -> None:
    target = tmp_path / "home"
    shutil.copytree(warehouse.path, target, ignore=shutil.ignore_patterns("gapwatch.lock"))
    home = Home(target)
    published = target / "published" / "gapwatch.duckdb"
    published_before, raw_before = _sha256(published), _raw_counts(home)
    with home:
        result = CliRunner().invoke(app, ["run", "--as-of", EARLIER.isoformat()])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    refusal = [line for line in result.output.splitlines() if line.strip().startswith("Refusing to run")]
    assert len(refusal) == 1, result.output
    assert f"Refusing to run as of {EARLIER}: the warehouse already holds rows made public after it" in refusal[0]
    assert f"--as-of {AS_OF} or later" in refusal[0] and "gapwatch backfill" in refusal[0]
    assert "cpi until" in refusal[0]
    # nothing was extracted or published: the raw rows and the published copy are exactly as they were ...
    assert _raw_counts(home) == raw_before
    assert _sha256(published) == published_before
    # ... and no freshness was claimed for the earlier date (before: "cpi fresh, latest" a month released later)
    assert "fresh" not in result.output
    last = home.query("select status, as_of, error from audit.runs order by started_at desc limit 1")[0]
    assert last[:2] == ("failed", EARLIER) and last[2].startswith("Refusing to run")
    # the same as-of (or a later one) still runs
    with home:
        again = CliRunner().invoke(app, ["run", "--as-of", AS_OF.isoformat(), "--quiet"])
    assert again.exit_code == 0, again.output
