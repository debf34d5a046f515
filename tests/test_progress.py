"""Progress: plain `[stage] message` lines when stdout is not a terminal, rich bars when it is, nothing with --quiet."""

from __future__ import annotations

import fcntl
import io
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import AS_OF, Home
from flows.cli import app
from flows.ops import progress

STAGE_LINE = re.compile(r"^\[[a-z_.]+\] \S")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_reporter_prints_stage_lines_with_outcomes_and_failures() -> None:
    stream = io.StringIO()
    with progress.use(progress.reporter_for(stream)):
        progress.note("run", "20261201T000000-abcdef as of 2026-11-20")
        with progress.step("prices.extract") as done:
            done("28071 rows from sample")
        with pytest.raises(ValueError), progress.step("dbt.build"):
            raise ValueError("boom")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[run] 20261201T000000-abcdef as of 2026-11-20"
    assert lines[1] == "[prices.extract] started"
    assert re.fullmatch(r"\[prices\.extract\] 28071 rows from sample \(\d+\.\d s\)", lines[2])
    assert re.fullmatch(r"\[dbt\.build\] FAILED: ValueError \(\d+\.\d s\)", lines[4])
    assert all(STAGE_LINE.match(line) for line in lines)


def test_per_key_progress_prints_about_ten_lines_for_many_keys() -> None:
    stream = io.StringIO()
    tickers = [f"SYN{number:04d}" for number in range(1, 501)]
    with progress.use(progress.reporter_for(stream)):
        seen = list(progress.track(tickers, "prices.extract"))
    assert seen == tickers
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[prices.extract] 0/500 keys"
    assert lines[1] == "[prices.extract] 50/500 keys" and "[prices.extract] 500/500 keys" in lines
    assert lines[-1] == "[prices.extract] 500 keys"
    assert 10 <= len(lines) <= 13


def test_a_terminal_gets_rich_bars_and_quiet_gets_nothing() -> None:
    terminal = _Terminal()
    reporter = progress.reporter_for(terminal)
    assert isinstance(reporter, progress.RichReporter)
    with progress.use(reporter):
        for _ in progress.track(range(40), "fx_rates.extract"):
            pass
        with progress.step("publish") as done:
            done("published/gapwatch.duckdb")
    assert "fx_rates.extract" in terminal.getvalue() and "40/40" in terminal.getvalue()
    quiet = io.StringIO()
    with progress.use(progress.reporter_for(quiet, quiet=True)):
        with progress.step("publish"):
            progress.note("run", "hidden")
    assert quiet.getvalue() == ""
    # outside a `use` block (library code, served runs) progress goes nowhere
    with progress.step("publish"):
        pass


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, warehouse: Home) -> Home:
    target = tmp_path_factory.mktemp("progress") / "home"
    shutil.copytree(warehouse.path, target, ignore=shutil.ignore_patterns("gapwatch.lock"))
    return Home(target)


def test_a_run_without_a_terminal_prints_plain_lines_for_every_stage(home: Home) -> None:
    later = date(2026, 11, 23)  # the next session: new prices and FX; the other datasets hold nothing new
    with home:
        result = CliRunner().invoke(app, ["run", "--as-of", later.isoformat()])
    assert result.exit_code == 0, result.output
    progress_part, _, summary_part = result.stdout.partition("\ngapwatch run ")
    lines = progress_part.strip().splitlines()
    assert lines and all(STAGE_LINE.match(line) for line in lines), lines  # nothing else interleaved
    assert lines[0].startswith("[run] ") and f"as of {later}" in lines[0]

    def timed(dataset: str, step: str) -> bool:
        return any(re.match(rf"\[{dataset}\.{step}\] .*\(\d+\.\d s\)$", line) for line in lines)

    for dataset in ("prices", "fx_rates"):
        assert all(timed(dataset, step) for step in ("extract", "validate", "load")), dataset
    for dataset in ("fundamentals", "cpi", "policy_events"):
        unchanged = any(line.startswith(f"[{dataset}.compare] unchanged: ") for line in lines)
        assert timed(dataset, "extract") and (unchanged or (timed(dataset, "validate") and timed(dataset, "load")))
    assert any(line.startswith("[cpi.compare] unchanged: ") for line in lines)
    assert any(re.match(r"\[dbt\.build\] dbt passed .*\(\d", line) for line in lines)
    assert any(line.startswith("[publish] ") and "published/gapwatch.duckdb" in line for line in lines)
    assert "run succeeded" in summary_part and result.stderr == ""


def test_quiet_prints_nothing_on_success(home: Home) -> None:
    """A scheduled-style run on Christmas: both markets closed, so it completes at once, silently."""
    with home:
        result = CliRunner().invoke(app, ["run", "--quiet", "--as-of", "2025-12-25", "--skip-closed-markets"])
        loud = CliRunner().invoke(app, ["run", "--as-of", "2025-12-25", "--skip-closed-markets"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""
    assert loud.exit_code == 0 and "[run] skipped: NYSE and HKEX are both closed on Thu 2025-12-25" in loud.stdout
    assert home.query("select count(*) from audit.runs where status = 'skipped'") == [(2,)]


@pytest.mark.usefixtures("prefect_server")
def test_quiet_prints_only_the_error_on_failure_and_keeps_the_exit_code(tmp_path: Path) -> None:
    """The real console script (all of Prefect's own console logging included), while another run holds the lock."""
    from prefect.settings import PREFECT_API_URL

    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "GAPWATCH_HOME": str(home), "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    with open(home / "gapwatch.lock", "w") as holder:
        holder.write("pid 4242 since test")
        holder.flush()
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        completed = subprocess.run(
            [str(Path(sys.executable).with_name("gapwatch")), "run", "--quiet", "--as-of", AS_OF.isoformat()],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    assert completed.returncode == 1, completed.stderr
    assert completed.stdout == ""
    assert completed.stderr.startswith("Another gapwatch run is using") and "pid 4242" in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr  # the error, nothing else
