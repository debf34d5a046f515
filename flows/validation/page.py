"""The validation page: ``<home>/validation/index.html``, every load's GX result as one static HTML page.

GX Data Docs (``<home>/data_docs/``) load Bootstrap, jQuery, Vega and fonts from CDNs, so opened offline
they show an empty validation list. This page replaces them as the place to look: it is written from the
same GX result JSON the pipeline keeps (``<home>/validation/<load_id>.json``), after every validation, with
no script, no stylesheet or font from another host and no image -- it opens from disk anywhere. Per load,
newest first: the dataset, the load id, rules passed of evaluated, and every failed rule with its severity,
its count of unexpected values and example values. Passed rules are listed folded (``<details>``).
"""

from __future__ import annotations

import html
import json
import os
import threading
from pathlib import Path
from typing import Any

from flows.settings import Settings

PAGE = "index.html"
# Beside GX's own result, the JSON keeps every rule's outcome as the run counted it (the GX suite plus the
# checks gapwatch adds, e.g. duplicate columns): the page shows the same counts as the summary and status.
OUTCOMES_KEY = "gapwatch_outcomes"
EXAMPLES = 5
LOADS_SHOWN = 200  # newest first; older results stay as JSON beside the page
_write_lock = threading.Lock()  # datasets validate concurrently: one writer of the page at a time

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem;
       color: #1a1a1a; background: #fff; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin: 1.6rem 0 .3rem; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0; font-size: 14px; }
th, td { text-align: left; border-bottom: 1px solid #ddd; padding: .3rem .4rem; vertical-align: top; }
code { font-size: 13px; overflow-wrap: anywhere; }
.ok { color: #1b6e20; } .failed { color: #a40000; font-weight: 600; } .warning { color: #8a5a00; }
@media (prefers-color-scheme: dark) { body { background: #111; color: #eee; } th, td { border-color: #333; }
  .ok { color: #7fd483; } .failed { color: #ff8a80; } .warning { color: #ffcc80; } }
"""


def rule_name(expectation_type: str, kwargs: dict[str, Any], meta_rule: str | None = None) -> str:
    """How a rule is named everywhere (summary, status, alerts, quarantine, this page): ``type(column=..., ...)``,
    a long value set shortened, and the suite's own name for a custom rule after ``--``."""
    shown = {key: value for key, value in kwargs.items() if key not in {"batch_id", "result_format"}}
    if isinstance(shown.get("value_set"), list) and len(shown["value_set"]) > 8:
        shown["value_set"] = f"<{len(shown['value_set'])} values>"
    arguments = ", ".join(f"{key}={value}" for key, value in shown.items())
    name = f"{expectation_type}({arguments})"
    return f"{name} -- {meta_rule}" if meta_rule else name


def outcome_record(rule: str, severity: str, success: bool, unexpected: int | None) -> dict[str, Any]:
    return {"rule": rule, "severity": severity, "success": success, "unexpected_count": unexpected}


def _load_rows(results_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """(load id, GX result) of the newest LOADS_SHOWN stored results, newest first (load ids end in their UTC
    timestamp). Ordered by name before anything is read: the page is rewritten after every validation, so its
    cost must not grow with the history kept beside it."""
    paths = sorted(results_dir.glob("*.json"), key=lambda path: (path.stem.split("-", 1)[-1], path.stem), reverse=True)
    found: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        if len(found) == LOADS_SHOWN:
            break
        try:
            found.append((path.stem, json.loads(path.read_text())))
        except (OSError, ValueError):
            continue  # a result being written, or damaged: the next page write picks it up
    return found


def _rule_rows(result: dict[str, Any]) -> tuple[list[str], list[str]]:
    examples: dict[str, tuple[list[Any], str | None]] = {}
    gx_outcomes = []
    for outcome in result.get("results", []):
        config = outcome.get("expectation_config") or {}
        name = rule_name(config.get("type", "?"), config.get("kwargs") or {}, (config.get("meta") or {}).get("rule"))
        details = outcome.get("result") or {}
        examples[name] = (
            details.get("partial_unexpected_list") or [],
            (outcome.get("exception_info") or {}).get("exception_message"),
        )
        gx_outcomes.append(
            outcome_record(
                name,
                str(config.get("severity") or "critical"),
                bool(outcome.get("success")),
                details.get("unexpected_count"),
            )
        )
    failed, passed = [], []
    for outcome in result.get(OUTCOMES_KEY) or gx_outcomes:
        name, severity = html.escape(outcome["rule"]), html.escape(outcome["severity"])
        if outcome["success"]:
            passed.append(f"<tr><td><code>{name}</code></td><td>{severity}</td></tr>")
            continue
        values, error = examples.get(outcome["rule"], ([], None))
        unexpected = outcome["unexpected_count"]
        shown = ", ".join(html.escape(json.dumps(value, default=str)) for value in values[:EXAMPLES]) or "-"
        css = "failed" if outcome["severity"] == "critical" else "warning"
        failed.append(
            f'<tr><td><code>{name}</code></td><td class="{css}">{severity}</td>'
            f"<td>{'-' if unexpected is None else unexpected}</td><td><code>{shown}</code>"
            + (f"<br>{html.escape(str(error))}" if error else "")
            + "</td></tr>"
        )
    return failed, passed


def render(results_dir: Path) -> str:
    sections = []
    for load_id, result in _load_rows(results_dir):
        failed, passed = _rule_rows(result)
        evaluated = len(failed) + len(passed)
        verdict = (
            f'<span class="ok">{len(passed)}/{evaluated} rules passed</span>'
            if not failed
            else f'<span class="failed">{len(failed)} of {evaluated} rules failed</span>'
        )
        dataset = html.escape(str(result.get("suite_name") or load_id.split("-", 1)[0]))
        section = [
            f'<h2 id="{html.escape(load_id)}">{dataset} &middot; <code>{html.escape(load_id)}</code></h2>',
            f"<p>{verdict}</p>",
        ]
        if failed:
            section.append(
                "<table><tr><th>failed rule</th><th>severity</th><th>unexpected</th><th>examples</th></tr>"
                + "".join(failed)
                + "</table>"
            )
        if passed:
            section.append(
                f"<details><summary>{len(passed)} passed rules</summary><table><tr><th>rule</th><th>severity</th></tr>"
                + "".join(passed)
                + "</table></details>"
            )
        sections.append("\n".join(section))
    body = "\n".join(sections) or "<p>No validation results yet: run <code>gapwatch run</code>.</p>"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>gapwatch validation results</title><style>{_STYLE}</style></head><body>"
        "<h1>gapwatch validation results</h1>"
        "<p>Every load's Great Expectations result, newest first, from the JSON beside this page. "
        "A critical failure rejects the batch; a warning quarantines its rows "
        "(<code>gapwatch quarantine list</code>).</p>"
        f"{body}</body></html>\n"
    )


def write(settings: Settings) -> Path:
    """(Re)write the page from every stored result; atomically, so a reader never sees half a page."""
    results_dir = settings.paths.home / "validation"
    results_dir.mkdir(parents=True, exist_ok=True)
    page = results_dir / PAGE
    with _write_lock:
        partial = results_dir / f".{PAGE}.{os.getpid()}.{threading.get_ident()}"
        partial.write_text(render(results_dir), encoding="utf-8")
        os.replace(partial, page)
    return page
