"""MkDocs hooks for the gapwatch site: formulas are written once, as dbt ``{% docs %}`` blocks, and shown here.

Two directives, each alone on a line of a page:

- ``<!-- dbt-docs: models/marts/inflation/_inflation__docs.md -->`` (a path relative to ``dbt_project/``) is
  replaced by every ``{% docs name %} ... {% enddocs %}`` block of that file, in file order;
- ``<!-- dbt-doc: formula_inflation_regime -->`` is replaced by that one block, found in any ``*.md`` under
  ``dbt_project/models``.

Each block is preceded by an anchor named after it (``#formula_inflation_regime``). An unknown file or block,
or a block name defined twice (dbt refuses that too), fails the build.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

DIRECTIVE = re.compile(r"^[ \t]*<!--\s*dbt-(docs|doc):\s*(\S+)\s*-->[ \t]*$", re.MULTILINE)
BLOCK = re.compile(r"{%-?\s*docs\s+(\w+)\s*-?%}(.*?){%-?\s*enddocs\s*-?%}", re.DOTALL)


def read_blocks(path: Path) -> list[tuple[str, str]]:
    """The ``(name, text)`` of every docs block in ``path``, in file order."""
    return [(match.group(1), match.group(2).strip()) for match in BLOCK.finditer(path.read_text(encoding="utf-8"))]


def index_blocks(models: Path) -> dict[str, tuple[Path, str]]:
    """Every docs block under ``models`` by name: the file that defines it and its text."""
    found: dict[str, tuple[Path, str]] = {}
    for path in sorted(models.rglob("*.md")):
        for name, text in read_blocks(path):
            if name in found:
                raise PluginError(
                    f"dbt docs block '{name}' is defined twice: in {found[name][0]} and in {path}. "
                    "dbt refuses duplicate docs names too; keep one."
                )
            found[name] = (path, text)
    return found


def render_block(name: str, text: str) -> str:
    return f'<a id="{name}"></a>\n\n{text}\n'


def expand(markdown: str, *, dbt_project: Path, where: str = "the page") -> str:
    """``markdown`` with every dbt-docs / dbt-doc directive replaced by the blocks it names."""
    index: dict[str, tuple[Path, str]] | None = None

    def replace(match: re.Match[str]) -> str:
        nonlocal index
        kind, argument = match.group(1), match.group(2)
        if kind == "docs":
            path = (dbt_project / argument).resolve()
            if not path.is_file() or dbt_project.resolve() not in path.parents:
                raise PluginError(
                    f"{where}: <!-- dbt-docs: {argument} --> names no file under {dbt_project}; "
                    "give a path relative to dbt_project/, e.g. models/marts/inflation/_inflation__docs.md."
                )
            blocks = read_blocks(path)
            if not blocks:
                raise PluginError(f"{where}: {path} holds no {{% docs %}} block.")
            return "\n".join(render_block(name, text) for name, text in blocks)
        if index is None:
            index = index_blocks(dbt_project / "models")
        if argument not in index:
            raise PluginError(
                f"{where}: <!-- dbt-doc: {argument} --> names no dbt docs block under {dbt_project / 'models'}; "
                "check the name against the {% docs ... %} blocks in the *.md files there."
            )
        return render_block(argument, index[argument][1])

    return DIRECTIVE.sub(replace, markdown)


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    dbt_project = Path(config["config_file_path"]).resolve().parents[1] / "dbt_project"
    return expand(markdown, dbt_project=dbt_project, where=page.file.src_uri)
