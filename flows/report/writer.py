"""``write_report``: published marts -> ``<GAPWATCH_HOME>/report/index.html``, written atomically."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from flows.report.charts import build_charts
from flows.report.data import load_report_data
from flows.report.page import render_page
from flows.settings import Settings

REPORT_DIR = "report"
REPORT_FILE = "index.html"


def report_path(settings: Settings) -> Path:
    """Where the report goes by default: ``<GAPWATCH_HOME>/report/index.html``."""
    return settings.paths.home / REPORT_DIR / REPORT_FILE


def write_report(
    settings: Settings,
    *,
    path: Path | None = None,
    run_id: str | None = None,
    generated_at: datetime | None = None,
) -> Path:
    """Write the self-contained HTML report from the published marts and return its path.

    Reads ``settings.paths.published_database`` read-only (never the working warehouse), so it
    can run while BI tools read the same file. Missing or empty marts give "no data yet"
    sections, not an error. The page goes to a temporary file beside ``path`` (default
    :func:`report_path`) and is renamed over it, so a reader never sees half a report.
    """
    target = Path(path) if path is not None else report_path(settings)
    data = load_report_data(settings.paths.published_database)
    page = render_page(
        build_charts(data),
        as_of=data.as_of,
        generated_at=(generated_at or datetime.now(UTC)).replace(microsecond=0),
        run_id=run_id,
        is_sample=data.is_sample,
        database=data.database,
        database_found=data.database_found,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(page)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
