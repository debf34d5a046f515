"""Plain-text run summary and status for the terminal."""

from __future__ import annotations

import duckdb

from flows.settings import Settings

SAMPLE_BANNER = (
    "NOTE: prices, FX and fundamentals are SAMPLE DATA (synthetic, source = 'sample'), not market data. "
    "CPI is real BLS data; policy events are a curated real calendar."
)


def render_summary(summary) -> str:  # type: ignore[no-untyped-def]
    lines = [f"gapwatch run {summary.run_id} as of {summary.as_of} (source: {summary.source})"]
    if summary.replay_of:
        lines.append(f"replay of load {summary.replay_of} from its landing files (no network)")
    if summary.is_sample:
        lines.append(SAMPLE_BANNER)
    lines.append("")
    lines.append(f"{'dataset':<15}{'source':<26}{'extracted':>10}{'loaded':>9}  validation")
    for load in summary.loads:
        if load.expectations_evaluated:
            checks = f"{load.expectations_evaluated - load.expectations_failed}/{load.expectations_evaluated} passed"
        else:
            checks = "not run"
        lines.append(
            f"{load.dataset:<15}{load.source:<26}{load.rows_extracted:>10}{load.rows_loaded:>9}  {checks}"
            + {"succeeded": "", "partial": f"  PARTIAL ({len(load.failures)} keys failed)"}.get(load.status, "  FAILED")
        )
    if summary.freshness:
        lines += ["", "freshness (against the NYSE/Nasdaq/HKEX calendars; holidays are not gaps):"]
        lines += [f"  {row.describe()}" for row in summary.freshness]
    if summary.dbt is not None:
        lines += ["", summary.dbt.describe()]
    if summary.mart_rows:
        lines += ["", "marts (rows):"] + [f"  marts.{name:<24}{rows:>10}" for name, rows in summary.mart_rows.items()]
    if summary.published_path:
        lines += [
            "",
            f"warehouse: {summary.home / 'gapwatch.duckdb'}",
            f"published (read-only copy for BI): {summary.published_path}",
            f"validation reports (GX Data Docs): {summary.home / 'data_docs' / 'index.html'}",
            f"query: duckdb -readonly {summary.published_path} "
            '"select * from marts.inflation order by month_date desc limit 5"',
        ]
    if summary.warnings:
        lines += ["", "WARNINGS (failed keys or quarantined rows; everything else loaded):"] + [
            f"  {w}" for w in summary.warnings
        ]
    if summary.errors:
        lines += ["", "ERRORS:"] + [f"  {error}" for error in summary.errors]
    lines.append("")
    lines.append("run " + ("succeeded" if summary.success else "FAILED"))
    return "\n".join(lines)


def render_status(settings: Settings) -> str:
    from flows import freshness

    path = settings.paths.database
    if not path.exists():
        return f"No warehouse at {path} yet; run `gapwatch run` first."
    connection = duckdb.connect(str(path), read_only=True)
    try:
        runs = connection.execute(
            "select run_id, as_of, status, started_at, finished_at from audit.runs order by started_at desc limit 5"
        ).fetchall()
        as_of = runs[0][1] if runs else settings.today()
        fresh = freshness.check(connection, settings, as_of=as_of)
        held = connection.execute(
            "select dataset, count(*) from audit.quarantine where status <> 'released' group by 1 order by 1"
        ).fetchall()
        loads = connection.execute(
            "select dataset, max(as_of) filter (where status = 'succeeded'), "
            "arg_max(status, started_at), arg_max(validation_success, started_at) "
            "from audit.loads group by dataset order by dataset"
        ).fetchall()
    finally:
        connection.close()
    lines = ["last runs:"] + [f"  {r[0]}  as of {r[1]}  {r[2]:<10} {r[3]:%Y-%m-%d %H:%M:%S} UTC" for r in runs]
    lines += ["", "datasets (last good as-of, last status, last validation):"]
    lines += [
        f"  {r[0]:<15} {r[1]}  {r[2]:<10} {'passed' if r[3] else 'failed' if r[3] is False else '-'}" for r in loads
    ]
    lines += ["", f"freshness as of {as_of} (against the exchange calendars; holidays are not gaps):"]
    lines += [f"  {row.describe()}" for row in fresh]
    lines += ["", "quarantined rows (not released): " + (", ".join(f"{d} {n}" for d, n in held) or "none")]
    return "\n".join(lines)
