"""The fault-injection suite: every fault ends in one clear line and the right exit code, and the data stays safe.

Each row of ``FAULTS`` is one fault: how it is injected into a copy of the session warehouse's home, the
command run (the real ``python -m flows.cli`` entry point, in a subprocess, as an operator runs it), the
exit code (2 configuration, 1 runtime), a fragment the one-line message must hold, and that no traceback
is printed. Every case also asserts that the published copy (``published/gapwatch.duckdb``) is
byte-identical afterwards. Adding a fault is adding a row. The faults of the other reliability tests
(publish, as-of, SQL quoting) live with those tests; docs/pages/pipeline.md ("Faults tried") lists them all.

Also here, below the table: a body that fails to decode is one failed key (the other keys load), absurd
magnitudes are validation errors, and a dataset whose every key fails says so instead of blaming its rules.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from conftest import AS_OF, Home
from flows.datasets import registry
from flows.ops.faults import describe_fault
from flows.settings import load_settings
from flows.sources.fetch import map_on_threads
from flows.sources.jobs import KeyJob
from flows.validation.gx import validate_frame

REPO = Path(__file__).resolve().parents[1]
LOAD_ID = "prices-20261120T000000-abcdef"  # a well-formed load id with a landing folder the case makes


@pytest.fixture(scope="module")
def failing_server() -> Iterator[str]:
    """A loopback server that answers every request (every source) with HTTP 500."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _fail(self) -> None:
            body = b'{"error": "internal"}'
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _fail  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as handle:
        handle.truncate(size)


def _damaged_manifest(home: Path) -> dict[str, str]:
    folder = home / "landing" / "prices" / AS_OF.isoformat() / LOAD_ID
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text('{"dataset": "prices", "payloads": [{"key": "NVDA", "fi')
    return {}


def _manifest_escaping_its_folder(home: Path) -> dict[str, str]:
    folder = home / "landing" / "prices" / AS_OF.isoformat() / LOAD_ID
    folder.mkdir(parents=True)
    entry = {"key": "NVDA", "file": "../../../../gapwatch.duckdb", "parser": "yahoo_chart", "meta": {}}
    (folder / "manifest.json").write_text(json.dumps({"dataset": "prices", "as_of": "2026-11-20", "payloads": [entry]}))
    return {}


def _home_under_a_file(home: Path) -> dict[str, str]:
    (home / "a-file").write_text("not a directory")
    return {"GAPWATCH_HOME": str(home / "a-file" / "home")}


def _read_only_home(home: Path) -> dict[str, str]:
    target = home / "read-only"
    target.mkdir()
    target.chmod(0o555)
    return {"GAPWATCH_HOME": str(target)}


def _all_sources_fail(home: Path, base_url: str) -> dict[str, str]:
    return {
        "GAPWATCH_SOURCE": "live",
        **{f"GAPWATCH_{prefix}_BASE_URL": base_url for prefix in ("YAHOO", "SEC", "BLS", "FRED", "FEDREG")},
        "GAPWATCH_HTTP_ATTEMPTS": "1",
        "GAPWATCH_YAHOO_RPS": "0",
        "GAPWATCH_SEC_USER_AGENT": "gapwatch-tests ops@example.org",
    }


@dataclass(frozen=True)
class Fault:
    id: str
    inject: Callable[..., dict[str, str]]  # (home copy[, failing server URL]) -> extra environment
    args: tuple[str, ...]
    exit_code: int
    message: str  # a fragment of the one line that must be printed
    absent: tuple[str, ...] = ("Traceback",)
    root_cannot: bool = False  # root ignores file modes: the case cannot be injected as root
    needs_server: bool = False
    env: dict[str, str] = field(default_factory=dict)


RUN = ("run", "--as-of", AS_OF.isoformat())
FAULTS = [
    Fault("nan-failed-key-share", lambda h: {"GAPWATCH_MAX_FAILED_KEY_SHARE": "nan"}, RUN, 2,
          "GAPWATCH_MAX_FAILED_KEY_SHARE must be a finite number between 0 and 1, got 'nan'"),
    Fault("failed-key-share-above-1", lambda h: {"GAPWATCH_MAX_FAILED_KEY_SHARE": "1.5"}, RUN, 2,
          "GAPWATCH_MAX_FAILED_KEY_SHARE must be a finite number between 0 and 1, got '1.5'"),
    Fault("nan-http-timeout", lambda h: {"GAPWATCH_HTTP_TIMEOUT": "nan"}, RUN, 2,
          "GAPWATCH_HTTP_TIMEOUT must be a finite number of at least 1, got 'nan'"),
    Fault("inf-alert-timeout", lambda h: {"GAPWATCH_ALERT_TIMEOUT": "inf"}, RUN, 2,
          "GAPWATCH_ALERT_TIMEOUT must be a finite number of at least 1, got 'inf'"),
    Fault("banana-memory-limit", lambda h: {"GAPWATCH_DUCKDB_MEMORY_LIMIT": "banana"}, RUN, 2,
          "GAPWATCH_DUCKDB_MEMORY_LIMIT must be a DuckDB memory size such as '4GB', '512MiB'"),
    Fault("home-under-a-regular-file", _home_under_a_file, RUN, 2, "is a file, not a directory"),
    Fault("read-only-home", _read_only_home, RUN, 2, "is not writable", root_cannot=True),
    Fault("truncated-warehouse", lambda h: _truncate(h / "gapwatch.duckdb", 300_000) or {}, RUN, 1,
          "gapwatch.duckdb is damaged or unreadable"),
    Fault("damaged-landing-manifest", _damaged_manifest, ("replay", "--load-id", LOAD_ID), 1,
          f"The landing manifest {{home}}/landing/prices/{AS_OF}/{LOAD_ID}/manifest.json is damaged"),
    Fault("manifest-listing-a-file-outside-its-folder", _manifest_escaping_its_folder,
          ("replay", "--load-id", LOAD_ID), 1, "which is outside its folder"),
    Fault("path-like-load-id", lambda h: {}, ("replay", "--load-id", f"{LOAD_ID}/../../"), 1,
          "is not a gapwatch load id"),
    Fault("path-like-load-id-glob", lambda h: {}, ("replay", "--load-id", "prices-*"), 1,
          "is not a gapwatch load id"),
    Fault("every-key-of-every-source-fails", _all_sources_fail, RUN, 1,
          "keys failed, nothing was loaded; check the source",
          absent=("Traceback", "rules failed", "audit.quarantine"), needs_server=True),
]  # fmt: skip


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.id for fault in FAULTS])
def test_a_fault_ends_in_one_clear_line_and_the_published_copy_is_unchanged(
    fault: Fault, warehouse: Home, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if fault.root_cannot and os.geteuid() == 0:
        pytest.skip("root writes through file modes; the home-under-a-file case covers an unwritable home")
    home = tmp_path / "home"
    shutil.copytree(warehouse.path, home, ignore=shutil.ignore_patterns("*.lock", "duckdb_tmp"))
    published = home / "published" / "gapwatch.duckdb"
    before = _sha256(published)
    extra = fault.inject(home, request.getfixturevalue("failing_server")) if fault.needs_server else fault.inject(home)
    from prefect.settings import get_current_settings

    env = {
        **os.environ,
        "GAPWATCH_HOME": str(home),
        "PREFECT_API_URL": str(get_current_settings().api.url),  # the session's test server, not a new one
        **fault.env,
        **extra,
    }
    completed = subprocess.run(
        [sys.executable, "-m", "flows.cli", *fault.args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == fault.exit_code, output
    assert fault.message.replace("{home}", str(home)) in output, output
    for text in fault.absent:
        assert text not in output, output
    # no raw log lines ("12:00:00.000 | ERROR   | Flow run … Failed"): the one line above says it (--verbose shows them)
    assert "| ERROR" not in output and "| WARNING" not in output, output
    assert _sha256(published) == before  # nothing published was changed


def test_verbose_shows_the_traceback(warehouse: Home, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(warehouse.path, home, ignore=shutil.ignore_patterns("*.lock", "duckdb_tmp"))
    _truncate(home / "gapwatch.duckdb", 300_000)
    from prefect.settings import get_current_settings

    env = {**os.environ, "GAPWATCH_HOME": str(home), "PREFECT_API_URL": str(get_current_settings().api.url)}
    completed = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--as-of", AS_OF.isoformat(), "--verbose"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 1
    output = completed.stdout + completed.stderr
    assert "Traceback" in output and "| ERROR" in output  # --verbose: Prefect's own log records on the console too


@pytest.mark.parametrize(
    ("error", "fragment"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/h/published/.gapwatch.duckdb.1.tmp"),
         "No space left on the device while writing /h/published/.gapwatch.duckdb.1.tmp: free disk space"),
        (OSError(errno.EROFS, "Read-only file system", "/h/landing/x"), "/h/landing/x cannot be written"),
        (duckdb.IOException('IO Error: Could not write file "/h/gapwatch.duckdb": No space left on device'),
         "No space left on the device while writing /h/gapwatch.duckdb"),
        (ValueError("odd\nsecond line"), "ValueError: odd; rerun with `gapwatch --verbose"),
    ],
    ids=["enospc", "read-only-fs", "duckdb-disk-full", "anything-else"],
)  # fmt: skip
def test_disk_faults_read_as_one_line(error: BaseException, fragment: str) -> None:
    """A full disk cannot be made here without root mounts: the errors it raises are described as one line."""
    line = describe_fault(error)
    assert fragment in line and "\n" not in line


def test_a_body_that_fails_to_decode_is_a_failed_key_and_the_other_keys_load() -> None:
    """A Yahoo symbol answering ``Content-Encoding: gzip`` over non-gzip bytes fails alone, named, not retried;
    the other symbol of the same fetch still returns its body (real connector, real mapper, loopback server)."""
    good = json.dumps({"chart": {"result": [], "error": None}}).encode()
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            requests.append(self.path)
            garbage = "/BROKEN" in self.path
            body = b"\x00this is not gzip\xff" * 10 if garbage else good
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if garbage:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        live = load_settings(
            {"GAPWATCH_YAHOO_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}", "GAPWATCH_YAHOO_RPS": "0"}
        ).live
        jobs = [
            KeyJob(symbol, "yahoo_chart", {"ticker": symbol}, "yahoo", "yahoo_chart",
                   {"symbol": symbol, "start": date(2026, 11, 2), "end": AS_OF})
            for symbol in ("NVDA", "BROKEN")
        ]  # fmt: skip
        outcomes = dict(map_on_threads(jobs, live))
    finally:
        server.shutdown()
        server.server_close()
    assert outcomes[0].failure is None and outcomes[0].bodies == [("", good)]
    failure = outcomes[1].failure
    assert failure is not None and failure.key == "BROKEN" and failure.source == "yahoo"
    assert "could not be decoded" in failure.error and "BROKEN" in failure.error
    assert sum("/BROKEN" in path for path in requests) == 1  # not retried: the server did answer


@pytest.mark.parametrize("column", ["revenue", "operating_income", "net_income", "rd_expense", "capex"])
def test_absurd_fundamental_magnitudes_are_validation_errors(warehouse: Home, column: str) -> None:
    """SEC revenue of 1e30 (a unit or parsing error) fails the fundamentals suite; 1e12 still passes."""
    columns = [name for (name,) in warehouse.query("select column_name from (describe raw.fundamentals)")]
    row = warehouse.query("select * from raw.fundamentals where revenue > 0 order by ticker, fiscal_period_end limit 1")
    import pandas as pd

    frame = pd.DataFrame(row, columns=columns)
    frame = frame[[c for c in frame.columns if c not in {"load_id", "loaded_at"}]]
    settings = load_settings({})
    fundamentals = registry.get("fundamentals")
    assert validate_frame(fundamentals, frame.assign(**{column: 1e12}), settings=settings, as_of=AS_OF).success
    report = validate_frame(fundamentals, frame.assign(**{column: 1e30}), settings=settings, as_of=AS_OF)
    assert not report.success
    described = "\n".join(failure.describe() for failure in report.failures)
    assert f"column={column}" in described and "1e+14" in described.lower() or "1e14" in described


def test_memory_limit_accepts_sizes_and_shares_of_memory() -> None:
    for value, expected in [("4GB", "4GB"), ("512MiB", "512MiB"), ("1.5 GB", "1.5GB")]:
        assert load_settings({"GAPWATCH_DUCKDB_MEMORY_LIMIT": value}).duckdb_memory_limit == expected
    share = load_settings({"GAPWATCH_DUCKDB_MEMORY_LIMIT": "80%"}).duckdb_memory_limit
    assert share.endswith("MiB") and int(share.removesuffix("MiB")) > 0
    duckdb.connect(config={"memory_limit": share}).close()  # DuckDB takes what the setting becomes
