"""The documentation: its example outputs are what the pipeline prints now, the site builds strict-clean, the
README stays short and every relative link resolves, and the formula hook refuses what it cannot find."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from conftest import Home

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = DOCS / "pages"
README_MAX_LINES = 200


def _load(name: str) -> ModuleType:
    """docs/<name>.py (not a package: a script and an mkdocs hook)."""
    spec = importlib.util.spec_from_file_location(f"gapwatch_docs_{name}", DOCS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


examples = _load("examples")
hooks = _load("hooks")


def test_the_example_outputs_are_what_the_pipeline_gives_now(warehouse: Home) -> None:
    """The session warehouse is a real run as of the date docs/examples.py runs: same summary, status, queries."""
    from flows.ops import status
    from flows.ops.summary import render_summary
    from flows.settings import load_settings

    assert str(warehouse.summary.as_of) == examples.AS_OF  # type: ignore[attr-defined]
    with warehouse:
        report = status.collect(load_settings())
    files = examples.render(
        home=warehouse.path,
        summary=render_summary(warehouse.summary),  # type: ignore[attr-defined]
        status=status.render_text(report),
    )
    assert {"run_summary.txt", "status.txt", "basket_query.txt"} <= set(files)
    for name, text in files.items():
        committed = (examples.EXAMPLES / name).read_text()
        assert text == committed, (
            f"docs/pages/examples/{name} is not what the pipeline gives now; rerun "
            f"`.venv/bin/python docs/examples.py` and commit the result.\n--- now:\n{text}\n--- committed:\n{committed}"
        )


def test_normalize_removes_what_changes_between_runs(tmp_path: Path) -> None:
    home = tmp_path / "warehouse"
    text = (
        f"gapwatch run 20261205T090720-760a5a as of 2026-11-20\n"
        f"  as of 2026-11-20 (source sample), started 2026-12-05 09:07:20 UTC, took 30.3 s\n"
        f"  20261201T091512-fa9490  as of 2026-11-20  succeeded   2026-12-01 09:15:18 UTC  took 1 min 05 s\n"
        f"landing file: {home}/landing/policy_events/2026-11-20/policy_events-20261201T094507-c19845.csv\n"
        f"[publish] {home}/published/gapwatch.duckdb (0.3 s)\n"
    )
    assert examples.normalize(text, home=home) == (
        "gapwatch run YYYYMMDDTHHMMSS-xxxxxx as of 2026-11-20\n"
        "  as of 2026-11-20 (source sample), started YYYY-MM-DD HH:MM:SS UTC, took N.N s\n"
        "  YYYYMMDDTHHMMSS-xxxxxx  as of 2026-11-20  succeeded   YYYY-MM-DD HH:MM:SS UTC  took N.N s\n"
        "landing file: warehouse/landing/policy_events/2026-11-20/policy_events-YYYYMMDDTHHMMSS-xxxxxx.csv\n"
        "[publish] warehouse/published/gapwatch.duckdb (N.N s)\n"
    )


def test_the_site_builds_strict_clean(tmp_path: Path) -> None:
    site = tmp_path / "site"
    mkdocs = Path(sys.executable).with_name("mkdocs")
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "-f", str(DOCS / "mkdocs.yml"), "-d", str(site)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "index.html").is_file() and (site / "marts" / "inflation.html").is_file()
    inflation = (site / "marts" / "inflation.html").read_text()
    assert 'id="formula_inflation_regime"' in inflation and "Inflation regime" in inflation  # the dbt docs block
    assert "2025-10-24" in inflation  # the example result, included from docs/pages/examples/inflation.txt
    for page in site.rglob("*.html"):
        text = page.read_text()
        assert "<!-- dbt-doc" not in text and "--8&lt;--" not in text and "--8<--" not in text, page  # all expanded


def _markdown_files() -> list[Path]:
    return [REPO / "README.md", REPO / "dbt_project" / "README.md", *sorted(PAGES.rglob("*.md"))]


def _links(markdown: str) -> list[str]:
    """Targets of inline links and images, outside fenced code and code spans."""
    markdown = re.sub(r"^```.*?^```", "", markdown, flags=re.MULTILINE | re.DOTALL)
    markdown = re.sub(r"`[^`\n]*`", "", markdown)
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", markdown)


def test_the_readme_is_short_and_every_relative_link_resolves() -> None:
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; it onboards, the docs explain (docs/pages/)"
    broken = []
    checked = 0
    for path in _markdown_files():
        for target in _links(path.read_text()):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # another host (none expected), or an anchor in the same page (mkdocs checks those)
            checked += 1
            if not (path.parent / target.split("#")[0]).exists():
                broken.append(f"{path.relative_to(REPO)}: {target}")
    assert not broken, "relative links that resolve to nothing:\n" + "\n".join(broken)
    assert checked > 50


def test_every_page_is_in_the_navigation() -> None:
    config = (DOCS / "mkdocs.yml").read_text()
    pages = {path.relative_to(PAGES).as_posix() for path in PAGES.rglob("*.md")}
    missing = sorted(page for page in pages if page not in config)
    assert not missing, f"pages not in the nav of docs/mkdocs.yml: {missing}"


@pytest.fixture
def dbt_project(tmp_path: Path) -> Path:
    marts = tmp_path / "dbt_project" / "models" / "marts"
    marts.mkdir(parents=True)
    (marts / "_gap__docs.md").write_text(
        "{% docs formula_b %}\nB's **formula**.\n{% enddocs %}\n\ntext dbt ignores\n\n"
        "{% docs formula_a %}\nA's formula.\n{% enddocs %}\n"
    )
    return tmp_path / "dbt_project"


def test_the_hook_includes_one_block_or_a_file_of_blocks_in_order(dbt_project: Path) -> None:
    page = "# Gap\n\n<!-- dbt-doc: formula_a -->\n\nthen\n\n  <!-- dbt-docs: models/marts/_gap__docs.md -->\n"
    assert hooks.expand(page, dbt_project=dbt_project) == (
        '# Gap\n\n<a id="formula_a"></a>\n\nA\'s formula.\n\n\nthen\n\n'
        '<a id="formula_b"></a>\n\nB\'s **formula**.\n\n<a id="formula_a"></a>\n\nA\'s formula.\n\n'
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("<!-- dbt-doc: formula_missing -->", "names no dbt docs block"),
        ("<!-- dbt-docs: models/marts/_missing__docs.md -->", "names no file under"),
        ("<!-- dbt-docs: ../../etc/hosts -->", "names no file under"),
    ],
)
def test_the_hook_fails_the_build_on_an_unknown_block_or_file(dbt_project: Path, line: str, message: str) -> None:
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError, match=message):
        hooks.expand(f"# Gap\n\n{line}\n", dbt_project=dbt_project, where="marts/gap.md")


def test_the_hook_refuses_a_block_name_defined_twice(dbt_project: Path) -> None:
    from mkdocs.exceptions import PluginError

    (dbt_project / "models" / "_other__docs.md").write_text("{% docs formula_a %}\nanother A\n{% enddocs %}\n")
    with pytest.raises(PluginError, match="'formula_a' is defined twice"):
        hooks.expand("<!-- dbt-doc: formula_b -->\n", dbt_project=dbt_project)
