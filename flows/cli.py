"""The ``gapwatch`` command line."""

from __future__ import annotations

import sys
from datetime import date

import typer

from flows.settings import ConfigError, export_tool_environment, load_settings

app = typer.Typer(
    help="gapwatch: China tech vs US AI leaders. Daily prices, fundamentals, CPI and policy events -> DuckDB marts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} must be a date like 2026-05-12, got {value!r}.") from None


def _prepare(source: str | None) -> None:
    """Validate configuration and export the tool environment before Prefect, dbt or GX load."""
    import os

    if source:
        os.environ["GAPWATCH_SOURCE"] = source
    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.secho(f"Configuration error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    export_tool_environment(settings)


def _run_and_report(**run_arguments: object) -> None:
    """Run the daily flow, print its summary, exit 0 on success and 1 otherwise."""
    from flows.daily import run_daily
    from flows.summary import render_summary

    summary = run_daily(**run_arguments)  # type: ignore[arg-type]
    typer.echo(render_summary(summary))
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
) -> None:
    """Run the daily pipeline: ingest the four datasets, validate, load, build the marts, publish."""
    if source is not None and source not in {"sample", "live"}:
        raise typer.BadParameter("--source must be 'sample' or 'live'.")
    run_date = _date(as_of, "--as-of")
    _prepare(source)
    _run_and_report(as_of=run_date, wait_seconds=wait)


@app.command()
def backfill(
    start: str = typer.Option(..., "--start", help="First date to (re)load, YYYY-MM-DD."),
    end: str = typer.Option(..., "--end", help="Last date to (re)load, YYYY-MM-DD; the run is as of this date."),
    source: str | None = typer.Option(None, "--source", help="'sample' (default) or 'live'."),
) -> None:
    """Reload every dataset for [START, END] through the same path as the daily run, then rebuild and publish."""
    start_date, end_date = _date(start, "--start"), _date(end, "--end")
    assert start_date and end_date
    if start_date > end_date:
        raise typer.BadParameter(f"--start ({start_date}) is after --end ({end_date}).")
    _prepare(source)
    _run_and_report(as_of=end_date, start=start_date)


@app.command()
def replay(
    load_id: str = typer.Option(..., "--load-id", help="The load to re-parse and reload from its landing files."),
) -> None:
    """Re-parse a load's landed payloads (no network), validate and reload them, then rebuild and publish the marts."""
    _prepare(None)
    from flows.ingest import dataset_of_load, landing_folder

    settings = load_settings()
    try:
        dataset = dataset_of_load(load_id)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    matches = sorted(settings.paths.landing.glob(f"{dataset}/*/{load_id}*"))
    if not matches:
        typer.secho(
            f"No landing files for load {load_id} under {landing_folder(settings, dataset, date.today()).parent}.",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    _run_and_report(as_of=date.fromisoformat(matches[0].parent.name), replay_load_id=load_id)


quarantine_app = typer.Typer(help="Inspect and re-admit rows held back by validation (audit.quarantine).")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list() -> None:
    """Held rows per load: dataset, status (quarantined / rejected / released), count and rules."""
    _prepare(None)
    from flows.quarantine import list_quarantine
    from flows.warehouse import Warehouse

    warehouse = Warehouse(load_settings())
    try:
        rows = list_quarantine(warehouse)
    finally:
        warehouse.close()
    if not rows:
        typer.echo("No quarantined rows.")
        return
    for load_id, dataset, status, count, rules, since in rows:
        typer.echo(f"{load_id}  {dataset:<14} {status:<12} {count:>6} rows  since {since:%Y-%m-%d %H:%M}")
        for rule in rules:
            typer.echo(f"      {rule}")


@quarantine_app.command("show")
def quarantine_show(
    load_id: str = typer.Option(..., "--load-id", help="The load whose held rows to show."),
    limit: int = typer.Option(50, "--limit", help="At most this many rows."),
) -> None:
    """The held rows of one load: row number, status, failed rules and the raw values."""
    _prepare(None)
    from flows.quarantine import show_quarantine
    from flows.warehouse import Warehouse

    warehouse = Warehouse(load_settings())
    try:
        rows = show_quarantine(warehouse, load_id=load_id, limit=limit)
    finally:
        warehouse.close()
    if not rows:
        typer.echo(f"No quarantined rows for load {load_id}.")
        raise typer.Exit(1)
    for number, status, rules, record in rows:
        typer.echo(f"row {number} [{status}] failed: {'; '.join(rules)}")
        typer.echo(f"    {record}")


@quarantine_app.command("release")
def quarantine_release(
    load_id: str = typer.Option(..., "--load-id", help="The load whose held rows to re-admit."),
    row: list[int] | None = typer.Option(None, "--row", help="Only these row numbers (repeatable)."),  # noqa: B008
) -> None:
    """Re-validate held rows against the current suite and universe; load those that pass; rebuild and publish."""
    _prepare(None)
    from flows.daily import PipelineBusy, _RunLock
    from flows.quarantine import rebuild_and_publish, release
    from flows.warehouse import Warehouse

    settings = load_settings()
    try:
        with _RunLock(settings.paths.lock_file):
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
    except PipelineBusy as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(0 if not result.still_failing else 1)


@app.command()
def serve() -> None:
    """Serve the daily deployment with its cron schedule (needs a Prefect server: PREFECT_API_URL)."""
    _prepare(None)
    from flows.deployment import serve_daily

    serve_daily()


@app.command()
def status() -> None:
    """Show the last runs and loads recorded in the warehouse."""
    _prepare(None)
    from flows.summary import render_status

    settings = load_settings()
    typer.echo(render_status(settings))


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
