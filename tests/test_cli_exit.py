"""How the ``gapwatch`` console process ends (flows.cli._exit): as Python's own exit would -- exit handlers run,
output flushed, the exit status kept, a non-daemon thread waited for -- without the interpreter's teardown.

Each case runs a real Python process: the entry point's exit is what is tested, and pytest's own process must not
end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _python(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GAPWATCH_HOME": str(tmp_path / "home")},
    )


@pytest.mark.parametrize(("code", "status", "stderr"), [(3, 3, ""), (None, 0, ""), ("stopped: why", 1, "stopped: why")])
def test_exit_runs_the_exit_handlers_and_flushes_the_output(tmp_path: Path, code: object, status: int, stderr: str):
    done = _python(
        f"""
        import atexit, sys
        from pathlib import Path
        from flows.cli import _exit
        atexit.register(lambda: Path(sys.argv[1], "handler-ran").write_text("yes"))
        print("unflushed output", end="")  # no newline: still in the buffer when _exit is called
        _exit({code!r})
        """,
        tmp_path,
    )
    assert done.returncode == status
    assert done.stdout == "unflushed output"
    assert done.stderr.strip() == stderr
    assert (tmp_path / "handler-ran").read_text() == "yes"


def test_exit_waits_for_a_non_daemon_thread_as_python_does(tmp_path: Path) -> None:
    done = _python(
        """
        import sys, threading, time
        from pathlib import Path
        from flows.cli import _exit
        def work():
            time.sleep(0.5)
            Path(sys.argv[1], "thread-finished").write_text("yes")
        threading.Thread(target=work).start()
        _exit(4)
        """,
        tmp_path,
    )
    assert done.returncode == 4
    assert (tmp_path / "thread-finished").read_text() == "yes"


def test_the_console_command_exits_with_its_status(tmp_path: Path) -> None:
    """The entry point itself: a refused --as-of exits 2 with its one line (typer's SystemExit through _exit)."""
    gapwatch = Path(sys.executable).with_name("gapwatch")
    done = subprocess.run(
        [str(gapwatch), "run", "--as-of", "2099-01-01"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GAPWATCH_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 2
    assert "--as-of 2099-01-01 is in the future" in done.stderr
    assert (subprocess.run([str(gapwatch), "--help"], capture_output=True, timeout=120)).returncode == 0


def test_a_console_run_that_validates_and_builds_prints_nothing_on_stderr(tmp_path: Path, warehouse) -> None:  # type: ignore[no-untyped-def]
    """A real `gapwatch run` of a new session: the GX worker validates the batches and is killed at the end, dbt
    builds, the marts are published -- and stderr stays empty. (GX's progress bar once left a multiprocessing
    semaphore in the killed worker, and the resource tracker printed a "leaked semaphore" warning after
    "run succeeded": flows/validation/engine.py gives tqdm a thread lock.)"""
    import shutil

    from prefect.settings import get_current_settings

    home = tmp_path / "home"
    shutil.copytree(warehouse.path, home, ignore=shutil.ignore_patterns("gapwatch.lock"))
    gapwatch = Path(sys.executable).with_name("gapwatch")
    done = subprocess.run(
        [str(gapwatch), "run", "--as-of", "2026-11-23"],  # the next session after the warehouse's AS_OF
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "GAPWATCH_HOME": str(home), "PREFECT_API_URL": str(get_current_settings().api.url)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[prices.validate] " in done.stdout and "[dbt.build] dbt passed" in done.stdout
    assert "run succeeded" in done.stdout
    assert done.stderr == ""
