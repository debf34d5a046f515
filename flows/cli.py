"""The ``gapwatch`` command line."""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
from datetime import UTC, date, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

# When this process started the CLI (naive UTC), taken before the imports below: for a console invocation
# (main()), a run's start, so its duration includes the start-up the user waited for.
PROCESS_STARTED_AT = datetime.now(UTC).replace(tzinfo=None)
_invoked_at: dict[str, datetime] = {}  # "process": set by main(); "command": set as each command starts

import click  # noqa: E402
import typer  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from flows.settings import (  # noqa: E402
    ConfigError,
    check_home_writable,
    export_tool_environment,
    load_settings,
    verbose_requested,
)

VERBOSE_ENV = "GAPWATCH_VERBOSE"


class _OneLineFaults(TyperGroup):
    """Every command: an unexpected fault ends in one line naming the file or key and the next step, exit 1
    (a configuration error: exit 2); the traceback only with ``gapwatch --verbose``."""

    def invoke(self, ctx: click.Context) -> Any:

        try:
            return super().invoke(ctx)
        except (
            typer.Exit,
            typer.Abort,
            typer.TyperException,  # typer >= 0.20 vendors click: its usage errors are not click's
            click.exceptions.Exit,
            click.ClickException,
            click.exceptions.Abort,
        ):
            raise
        except ConfigError as exc:
            if verbose_requested():
                raise
            typer.secho(f"Configuration error: {exc}", fg="red", err=True)
            raise typer.Exit(2) from None
        except Exception as exc:
            if verbose_requested():
                raise
            from flows.ops.faults import describe_fault

            typer.secho(f"gapwatch failed: {describe_fault(exc)}", fg="red", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_OneLineFaults,
    help="gapwatch: China tech vs US AI leaders. Daily prices, fundamentals, CPI and policy events -> DuckDB marts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    verbose: bool = typer.Option(
        False, "--verbose", help="On a fault, print the traceback too (default: one line and the next step)."
    ),
) -> None:
    """gapwatch: China tech vs US AI leaders. Daily prices, fundamentals, CPI and policy events -> DuckDB marts."""
    # in-process invocations (tests, notebooks) start here; a console process at PROCESS_STARTED_AT (main)
    _invoked_at["command"] = datetime.now(UTC).replace(tzinfo=None)

    if verbose:
        os.environ[VERBOSE_ENV] = "1"  # read by the settings: the flows log tracebacks too


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} must be a date like 2026-05-12, got {value!r}.") from None


def _within_calendars(day: date | None, name: str) -> None:
    """An explicit run date in the future, before the history or beyond the bundled trading calendars: one line,
    exit 2, before anything starts (flows.calendars.check_as_of, the rule the flow applies too)."""
    from flows.calendars import CalendarRangeError, check_as_of

    if day is None:
        return
    try:
        settings = load_settings()
        check_as_of(day, today=settings.today(), history_start=settings.sample.start_date)
    except ConfigError:
        return  # reported with its variable by _prepare, next
    except CalendarRangeError as exc:
        typer.secho(f"Configuration error: {str(exc).replace('--as-of', name)}", fg="red", err=True)
        raise typer.Exit(2) from None


def _load_id(value: str) -> str:
    """--load-id, checked against the load id format before it reaches a file name, a glob or a query: one line,
    exit 1 (a path-like id is refused, never resolved)."""
    from flows.datasets.registry import dataset_of_load

    try:
        dataset_of_load(value)
    except ValueError as exc:
        typer.secho(f"--load-id {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    return value


def _prepare(source: str | None, *, writes: bool = True) -> None:
    """Validate configuration (and, for a command that writes, that GAPWATCH_HOME is writable) and export the
    tool environment before Prefect, dbt or GX load."""
    if source:
        os.environ["GAPWATCH_SOURCE"] = source
    try:
        settings = load_settings()
        if writes:
            check_home_writable(settings.paths.home)
    except ConfigError as exc:
        typer.secho(f"Configuration error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    export_tool_environment(settings)
    if writes:  # a command that runs the pipeline says when it runs on an untested set of packages
        from flows.ops import installed

        untested = installed.warning()
        if untested:
            typer.secho(untested, fg="yellow", err=True)


QUIET_HELP = "Print only errors (no progress, no summary); the exit code is the same."


def _silence_prefect_console() -> None:
    """--quiet: Prefect's own console logging off for the rest of the process (its exit-time flush included);
    the run's errors are printed by the CLI, once. Call after Prefect configured its logging (on import)."""
    loggers = logging.root.manager.loggerDict
    for name in ["prefect", *(name for name in loggers if name.startswith("prefect."))]:
        logging.getLogger(name).setLevel(logging.CRITICAL)  # the run's failure is reported by us
    logging.getLogger().setLevel(logging.ERROR)  # Prefect's service warnings log to root ("EventsWorker - ...")


class _OnlyWithVerbose(logging.Filter):
    """Keeps raw log records off the console: the run's progress, summary and one-line errors say what happened
    (Prefect's API log handler still records everything for the UI)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _console_logging_off() -> None:
    """Unless --verbose: no raw log lines (Prefect's "Flow run … Failed", a library's warning) between the
    progress lines and the summary, which report errors and warnings themselves. With --verbose the console
    shows every record, tracebacks included. Call after Prefect configured its logging (on import)."""

    if verbose_requested():
        return
    names = ["prefect", *(name for name in logging.root.manager.loggerDict if name.startswith("prefect."))]
    for logger in [logging.getLogger(), *(logging.getLogger(name) for name in names)]:
        for handler in logger.handlers:
            is_console = isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
            if is_console and not any(isinstance(f, _OnlyWithVerbose) for f in handler.filters):
                handler.addFilter(_OnlyWithVerbose())


def _will_validate(run_arguments: dict[str, Any]) -> bool:
    """Whether the run will most likely validate a batch, known before Prefect is even imported: a replay or a
    backfill does; a daily run does when a new session of prices is due (flows.datasets.registry.session_due, read
    through a read-only connection). Unknown (no warehouse yet, or another process holds it): yes. Only a timing
    hint for GX's worker: a run validates what it finds either way."""
    if run_arguments.get("replay_load_id") or run_arguments.get("start"):
        return True
    import duckdb

    from flows.datasets import registry

    settings = load_settings()
    try:
        connection = duckdb.connect(str(settings.paths.database), read_only=True)
    except duckdb.Error:  # no warehouse yet (a read-only open does not create one), or held by another process
        return True
    try:
        return registry.session_due(connection, settings, as_of=run_arguments.get("as_of") or settings.today())
    except duckdb.Error:
        return True
    finally:
        connection.close()


def _run_and_report(*, quiet: bool = False, **run_arguments: Any) -> None:
    """Run the daily flow with progress, print its summary (or only its errors), exit 0 on success, 1 otherwise."""
    from flows.validation import worker

    # GX imports in its own process while Prefect starts (the flow would start it a few s later); started before
    # the check below, which costs ~0.4 s, so that a run that validates does not wait for it
    worker.start()
    if not _will_validate(run_arguments):
        worker.stop()  # nothing due: killed at once, before its import takes the other core from the run
    from flows.daily import run_daily
    from flows.ops import progress
    from flows.ops.summary import render_summary

    _console_logging_off()
    if quiet:
        _silence_prefect_console()
    with progress.use(progress.reporter_for(sys.stdout, quiet=quiet)):
        summary = run_daily(invoked_at=_invoked_at.get("process") or _invoked_at.get("command"), **run_arguments)
    if quiet:
        for error in summary.errors:
            typer.echo(error, err=True)
        if summary.alert_delivered is False:  # an alert that was due and did not arrive is worth a line
            typer.echo(f"alert: {summary.alert}", err=True)
    else:
        typer.echo("\n" + render_summary(summary))  # a blank line after the progress
    raise typer.Exit(0 if summary.success else 1)


@app.command()
def run(
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Run as of this date (YYYY-MM-DD): sources yield data up to it. Default: today (New York).",
    ),
    source: str | None = typer.Option(
        None, "--source", help="Where data comes from: 'sample' (embedded, offline; CPI is real) or 'live'."
    ),
    wait: float = typer.Option(
        0, "--wait", help="If another run holds the warehouse, wait up to this many seconds (default: fail fast)."
    ),
    skip_closed_markets: bool = typer.Option(
        False,
        "--skip-closed-markets",
        help="Complete without ingesting when NYSE and HKEX are both closed on the as-of date "
        "(what the scheduled deployment does; for external schedulers such as cron).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Run the daily pipeline: ingest the four datasets, validate, load, build the marts, publish."""
    if source is not None and source not in {"sample", "live"}:
        raise typer.BadParameter("--source must be 'sample' or 'live'.")
    run_date = _date(as_of, "--as-of")
    _within_calendars(run_date, "--as-of")
    _prepare(source)
    _run_and_report(quiet=quiet, as_of=run_date, wait_seconds=wait, skip_closed_markets=skip_closed_markets)


@app.command()
def backfill(
    start: str = typer.Option(..., "--start", help="First date to (re)load, YYYY-MM-DD."),
    end: str = typer.Option(..., "--end", help="Last date to (re)load, YYYY-MM-DD; the run is as of this date."),
    source: str | None = typer.Option(None, "--source", help="'sample' (default) or 'live'."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Reload every dataset for [START, END] through the same path as the daily run, then rebuild and publish."""
    start_date, end_date = _date(start, "--start"), _date(end, "--end")
    assert start_date and end_date
    if start_date > end_date:
        raise typer.BadParameter(f"--start ({start_date}) is after --end ({end_date}).")
    _within_calendars(end_date, "--end")
    _prepare(source)
    _run_and_report(quiet=quiet, as_of=end_date, start=start_date)


@app.command()
def replay(
    load_id: str = typer.Option(..., "--load-id", help="The load to re-parse and reload from its landing files."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Re-parse a load's landed payloads (no network), validate and reload them, then rebuild and publish the marts."""
    _prepare(None)
    from flows.datasets.registry import dataset_of_load
    from flows.ingest.steps import landing_folder

    settings = load_settings()
    dataset = dataset_of_load(_load_id(load_id)).name
    matches = sorted(settings.paths.landing.glob(f"{dataset}/*/{load_id}*"))
    if not matches:
        typer.secho(
            f"No landing files for load {load_id} under {landing_folder(settings, dataset, date.today()).parent}.",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    _run_and_report(quiet=quiet, as_of=date.fromisoformat(matches[0].parent.name), replay_load_id=load_id)


quarantine_app = typer.Typer(help="Inspect and re-admit rows held back by validation (audit.quarantine).")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list() -> None:
    """Held rows per load: dataset, status (quarantined / rejected / released), count and rules."""
    _prepare(None, writes=False)
    from flows.warehouse import audit
    from flows.warehouse.database import Warehouse

    warehouse = Warehouse(load_settings())
    try:
        groups = audit.quarantine_groups(warehouse.cursor())
    finally:
        warehouse.close()
    if not groups:
        typer.echo("No quarantined rows.")
        return
    for group in groups:
        typer.echo(
            f"{group.load_id}  {group.dataset:<14} {group.status:<12} {group.rows:>6} rows  "
            f"since {group.since:%Y-%m-%d %H:%M}"
        )
        for rule in group.rules:
            typer.echo(f"      {rule}")


@quarantine_app.command("show")
def quarantine_show(
    load_id: str = typer.Option(..., "--load-id", help="The load whose held rows to show."),
    limit: int = typer.Option(50, "--limit", help="At most this many rows."),
) -> None:
    """The held rows of one load: row number, status, failed rules and the raw values."""
    _prepare(None, writes=False)
    from flows.warehouse import audit
    from flows.warehouse.database import Warehouse

    load_id = _load_id(load_id)
    settings = load_settings()
    warehouse = Warehouse(settings)
    try:
        rows = audit.quarantined_rows(warehouse.cursor(), load_id=load_id, limit=limit)
        exists = bool(rows) or audit.load_exists(warehouse.cursor(), load_id)
    finally:
        warehouse.close()
    if not rows:
        if not exists:
            typer.secho(
                f"No load {load_id} in this warehouse ({settings.paths.database}); `gapwatch quarantine list` "
                "shows the loads with held rows, `gapwatch status` the latest load of each dataset.",
                fg="red",
                err=True,
            )
            raise typer.Exit(1)
        typer.echo(f"Load {load_id} has no quarantined rows (every row passed validation or none was held).")
        return
    for row in rows:
        typer.echo(f"row {row.row_number} [{row.status}] failed: {'; '.join(row.rules)}")
        typer.echo(f"    {row.record_json}")


@quarantine_app.command("release")
def quarantine_release(
    load_id: str = typer.Option(..., "--load-id", help="The load whose held rows to re-admit."),
    row: list[int] | None = typer.Option(None, "--row", help="Only these row numbers (repeatable)."),  # noqa: B008
) -> None:
    """Re-validate held rows against the current suite and universe; load those that pass; rebuild and publish."""
    _prepare(None)
    from flows.validation.quarantine import rebuild_and_publish, release
    from flows.warehouse.database import Warehouse
    from flows.warehouse.lock import PipelineBusy, RunLock
    from flows.warehouse.publish import PublishError

    settings, load_id = load_settings(), _load_id(load_id)
    try:
        with RunLock(settings.paths.lock_file):
            warehouse = Warehouse(settings)
            try:
                result = release(settings, warehouse, load_id=load_id, rows=row)
            except LookupError as exc:
                typer.secho(str(exc), fg="red", err=True)
                raise typer.Exit(1) from None
            finally:
                warehouse.close()
            typer.echo(f"released {result.released} row(s) of {result.dataset} load {load_id}")
            for number, rules in sorted(result.still_failing.items()):
                typer.echo(f"  row {number} still fails: {'; '.join(rules)}")
            if result.released:
                build = rebuild_and_publish(settings)
                typer.echo(build.describe() + ("; marts published" if build.success else ""))
                if not build.success:
                    raise typer.Exit(1)
    except (PipelineBusy, PublishError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(0 if not result.still_failing else 1)


@app.command()
def rollback() -> None:
    """Restore the previous published version (DuckDB copy and Parquet views) for BI readers.

    The current version is kept as the previous one, so a second rollback undoes the first. The warehouse is
    not changed: the next `gapwatch run` publishes its marts again, so fix the cause first.
    """
    _prepare(None)
    from flows.warehouse.lock import PipelineBusy, RunLock
    from flows.warehouse.publish import PublishError
    from flows.warehouse.publish import rollback as restore_previous

    settings = load_settings()
    try:
        with RunLock(settings.paths.lock_file):
            done = restore_previous(settings)
    except (PipelineBusy, PublishError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"Restored publish {done.restored} for BI readers; publish {done.replaced or '(none)'} is kept as the "
        "previous version (`gapwatch rollback` again restores it). The warehouse is unchanged: the next "
        "`gapwatch run` publishes its marts again, so fix the cause first."
    )


@app.command()
def serve() -> None:
    """Serve the daily deployment on its cron schedule (needs a long-lived Prefect server: PREFECT_API_URL)."""
    _prepare(None)
    settings = load_settings()
    if not settings.prefect_api_url:
        typer.secho(
            "gapwatch serve needs a long-lived Prefect server to hold the schedule: start one with "
            "`.venv/bin/prefect server start` and `export PREFECT_API_URL=http://127.0.0.1:4200/api`, then rerun.",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    from flows.daily import daily
    from flows.ops.deployment import DEPLOYMENT_NAME, FLOW_NAME, serve_daily

    typer.echo(
        f"Serving deployment {FLOW_NAME}/{DEPLOYMENT_NAME} on {settings.prefect_api_url}: "
        f"cron '{settings.schedule_cron}' in {settings.timezone} (after the 16:00 NYSE close, Monday-Friday); "
        "dates on which NYSE and HKEX are both closed are skipped. Ctrl-C to stop."
    )
    serve_daily(daily)


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document (shape: flows/ops/status.py)."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Check freshness as of this date (default: the last run's as-of date)."
    ),
) -> None:
    """Last run (when, how long, outcome), per-dataset freshness, loads and validations, quarantine, published marts.

    Read-only and fast; while a run holds the warehouse it says so instead of waiting.
    """
    freshness_date = _date(as_of, "--as-of")
    _prepare(None, writes=False)
    from flows.ops import status as status_report

    report = status_report.collect(load_settings(), as_of=freshness_date)
    typer.echo(json.dumps(report, indent=2) if as_json else status_report.render_text(report))


@app.command()
def report(
    output: str | None = typer.Option(None, "--output", help="Write here, not <GAPWATCH_HOME>/report/index.html."),
) -> None:
    """Write the self-contained HTML report (charts of the published marts; opens offline) and print its path."""
    _prepare(None)
    from flows.report import write_report

    path = write_report(load_settings(), path=Path(output) if output else None)
    typer.echo(str(path))


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


# The documentation site's sources (a checkout: pip install -e .); `gapwatch docs` builds it at run time.
DOCS_CONFIG = Path(__file__).resolve().parents[1] / "docs" / "mkdocs.yml"
# /dbt/ of the served site: a page that opens the single-file dbt docs (from disk too)
_DBT_INDEX = (
    '<!doctype html><html><head><meta charset="utf-8"><title>gapwatch dbt docs</title>'
    '<meta http-equiv="refresh" content="0; url=static_index.html"></head>'
    '<body><a href="static_index.html">gapwatch dbt docs</a></body></html>\n'
)


def docs_server(directory: Path, *, port: int) -> ThreadingHTTPServer:
    """A local (127.0.0.1) static file server for the built documentation: the site at /, the dbt docs at /dbt/."""
    return ThreadingHTTPServer(("127.0.0.1", port), partial(_QuietHandler, directory=str(directory)))


def build_docs_site(site: Path, *, dbt_page: Path) -> Path:
    """``mkdocs build`` of docs/mkdocs.yml into ``site``, then the dbt docs' single-file page into ``site/dbt/``.

    Returns the dbt page's path in the site. Raises RuntimeError with mkdocs' output when the build fails.
    """
    import subprocess

    command = [sys.executable, "-m", "mkdocs", "build", "--clean", "--quiet", "-f", str(DOCS_CONFIG), "-d", str(site)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        output = "\n".join(((completed.stdout or "") + (completed.stderr or "")).strip().splitlines()[-30:])
        raise RuntimeError(f"mkdocs build -f {DOCS_CONFIG} failed:\n{output}")
    target = site / "dbt"
    target.mkdir(parents=True, exist_ok=True)
    placed = target / dbt_page.name
    placed.write_bytes(dbt_page.read_bytes())
    (target / "index.html").write_text(_DBT_INDEX)
    return placed


@app.command()
def docs(
    port: int = typer.Option(8080, "--port", help="Serve on http://127.0.0.1:PORT."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="--no-serve: only build and print the two paths."),
) -> None:
    """Build the documentation site and the dbt docs (models, columns, tests, lineage, exposures); serve both locally.

    The site is written to <GAPWATCH_HOME>/docs_site/ and the dbt docs to its dbt/ folder; both open from disk.
    """
    _prepare(None)
    from flows.warehouse import dbt as dbt_runner
    from flows.warehouse.lock import PipelineBusy, RunLock

    settings = load_settings()
    if not settings.paths.database.exists():
        typer.secho(f"No warehouse at {settings.paths.database} yet; run `gapwatch run` first.", fg="red", err=True)
        raise typer.Exit(1)
    if not DOCS_CONFIG.is_file():
        typer.secho(
            f"No documentation sources at {DOCS_CONFIG}: gapwatch docs builds the site from a checkout "
            "(`pip install -e .` in it).",
            fg="red",
            err=True,
        )
        raise typer.Exit(1)
    try:
        with RunLock(settings.paths.lock_file):  # dbt opens the warehouse file: not while a run writes it
            variables = dbt_runner.vars_argument(dbt_runner.build_variables(settings))
            result = dbt_runner.run_dbt(settings, "docs", "generate", "--static", "--vars", variables)
    except PipelineBusy as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None
    if not result.success:
        typer.secho(f"dbt docs generate failed:\n{result.output_tail}", fg="red", err=True)
        raise typer.Exit(1)
    site = settings.paths.home / "docs_site"
    try:
        dbt_page = build_docs_site(site, dbt_page=settings.paths.dbt_target / "static_index.html")
    except RuntimeError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"documentation site: {site / 'index.html'}")
    typer.echo(f"dbt docs: {dbt_page}")
    if not serve:
        return
    server = docs_server(site, port=port)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    typer.echo(f"Serving the documentation at {url}/ and the dbt docs at {url}/dbt/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main() -> None:  # pragma: no cover - console entry point
    _invoked_at["process"] = PROCESS_STARTED_AT
    # --verbose is an option of gapwatch itself; accept it after the command too (`gapwatch run --verbose`)
    if "--verbose" in sys.argv[2:]:
        sys.argv.remove("--verbose")
        sys.argv.insert(1, "--verbose")
    try:
        app()
    except KeyboardInterrupt:
        _exit(130)
    except SystemExit as exc:
        _exit(exc.code)
    _exit(0)


def _exit(code: object) -> NoReturn:  # pragma: no cover - console entry point (tests/test_cli_exit.py runs it)
    """End the process as Python's exit would, without the interpreter's teardown.

    The exit handlers run (Prefect's: its temporary server stopped, its events flushed; the GX worker stopped;
    logging flushed) and the output is flushed; what is skipped is freeing every module and object one by one
    -- ~0.7 s after a run, of a 6 s run with nothing new (Prefect, pandas, DuckDB and pyarrow loaded). Only when
    no other non-daemon thread is alive (Python's exit would wait for it): then this is a plain ``sys.exit``.
    """
    if isinstance(code, str):  # sys.exit("message"): printed, exit status 1
        print(code, file=sys.stderr)
        code = 1
    status = 0 if code is None else int(code)  # type: ignore[call-overload]
    main_thread = threading.main_thread()
    if any(t is not main_thread and t.is_alive() and not t.daemon for t in threading.enumerate()):
        sys.exit(status)
    atexit._run_exitfuncs()  # what Python's exit runs before its teardown
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`gapwatch status | head`): nothing left to write to
            pass
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()
