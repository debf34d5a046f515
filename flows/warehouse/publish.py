"""Publishing the marts for BI readers: a DuckDB copy swapped in atomically, and Parquet with a views file.

What to publish incrementally, and how to partition it, comes from dbt's own
manifest (``<home>/dbt_target/manifest.json``, written by the build that made
the marts): a mart materialized ``incremental`` is refreshed by its
``unique_key``; a mart whose config has ``meta.publish.parquet_partition_by``
is written as Parquet partitioned by year of that column. Nothing here repeats
the dbt project.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from flows.ops import progress
from flows.settings import Settings
from flows.warehouse.database import MART_SCHEMA, Warehouse, column_types, utcnow
from flows.warehouse.sql import quote_identifier, quote_literal

logger = logging.getLogger(__name__)


def _tell(message: str, *args: object) -> None:
    """Something the operator should know that is not a failure: a line of the run's progress (the CLI keeps raw
    log records off the console) and a warning record for whoever collects logs."""
    text = message % args if args else message
    progress.note("publish", text)
    logger.warning(text)


WATERMARK = "inputs_loaded_through"  # every row of an incremental model: the newest raw load it reflects
PUBLISH_TARGET = "publish_target"
PARQUET_VERSIONS_KEPT = 2
PARQUET_VIEWS = "marts_parquet.duckdb"
PREVIOUS_DIR = "previous"  # published/previous/: the version before the current one, for `gapwatch rollback`
ROLLBACK_NOTE = "rolled_back.json"  # published/rolled_back.json: written by a rollback, removed by a publish
STAMP_SCHEMA = "gapwatch_publish"  # in both published databases, beside the marts schema
STAMP_TABLE = f"{STAMP_SCHEMA}.stamp"


@dataclass(frozen=True)
class MartLayout:
    """How one mart is published, as its dbt model declares it."""

    unique_key: tuple[str, ...] | None = None  # incremental (delete+insert by this key); None: copied whole
    partition_by: str | None = None  # Parquet partitioned by year of this date column; None: one file


def _mart(name: str, catalog: str | None = None) -> str:
    """A mart's qualified, quoted name: ``marts."name"`` (or ``catalog.marts."name"``)."""
    return ".".join(quote_identifier(part) for part in (catalog, MART_SCHEMA, name) if part)


def mart_layouts(manifest: Path) -> dict[str, MartLayout]:
    """Per mart (model in the marts schema), its layout from dbt's manifest; {} when there is none to read."""
    try:
        nodes = json.loads(manifest.read_text())["nodes"]
    except (OSError, ValueError, KeyError):
        _tell("No readable dbt manifest at %s: every mart is published whole, unpartitioned.", manifest)
        return {}
    layouts = {}
    for node in nodes.values():
        if node.get("resource_type") != "model" or node.get("schema") != MART_SCHEMA:
            continue
        config = node.get("config") or {}
        key = config.get("unique_key") if config.get("materialized") == "incremental" else None
        publish = (config.get("meta") or {}).get("publish") or {}
        layouts[node.get("alias") or node["name"]] = MartLayout(
            unique_key=(tuple([key]) if isinstance(key, str) else tuple(key)) if key else None,
            partition_by=publish.get("parquet_partition_by"),
        )
    return layouts


class PublishError(Exception):
    """A publish that must not go ahead (or whose result does not verify): one line, what to do next."""


@dataclass(frozen=True)
class PublishedCopy:
    """What a published DuckDB file holds, read through its own read-only connection."""

    path: Path
    publish_id: str | None = None  # its stamp; None: no stamp (not written by this publish)
    marts: dict[str, list] | None = None  # mart -> [rows, content hash], counted in the file itself
    problem: str | None = None  # why it cannot be trusted; None: it holds what its stamp says
    holder: str | None = None  # another process holds it open for writing (DuckDB's lock), as DuckDB names it
    stamped: dict[str, list] | None = None  # mart -> the signature its publish stamp says it holds


def mart_signatures(cursor: duckdb.DuckDBPyConnection, catalog: str | None = None) -> dict[str, list]:
    """Per mart, [row count, order-independent content hash as text, hash of its table and column comments]:
    the build stamp a copy must match (a changed description is republished like a changed row)."""
    prefix = f"{quote_identifier(catalog)}." if catalog else ""
    tables = cursor.execute(
        "select table_name from information_schema.tables where table_catalog = coalesce(?, current_database()) "
        "and table_schema = ? and table_type = 'BASE TABLE' order by table_name",
        [catalog, MART_SCHEMA],
    ).fetchall()
    signatures = {}
    for (name,) in tables:
        rows, content = cursor.execute(
            f"select count(*), coalesce(sum(hash(t)::hugeint), 0)::varchar "
            f"from {prefix}{MART_SCHEMA}.{quote_identifier(name)} as t"
        ).fetchone()
        signatures[name] = [rows, content]
    for name, described in mart_comments(cursor, catalog).items():
        if name in signatures:
            digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]
            signatures[name].append(digest)
    return signatures


def mart_comments(cursor: duckdb.DuckDBPyConnection, catalog: str | None = None) -> dict[str, dict]:
    """Per mart (table or view in the marts schema), its comment and its columns' comments, as dbt's
    ``persist_docs`` wrote them from the models' descriptions: ``{"table": str|None, "columns": {col: str}}``."""
    where = "database_name = coalesce(?, current_database()) and schema_name = ?"
    described: dict[str, dict] = {}
    for name, comment in cursor.execute(
        f"select table_name, comment from duckdb_tables() where {where} "
        f"union all select view_name, comment from duckdb_views() where {where} order by 1",
        [catalog, MART_SCHEMA, catalog, MART_SCHEMA],
    ).fetchall():
        described[name] = {"table": comment or None, "columns": {}}
    for name, column, comment in cursor.execute(
        f"select table_name, column_name, comment from duckdb_columns() where {where} and comment is not null "
        "and comment <> '' order by table_name, column_index",
        [catalog, MART_SCHEMA],
    ).fetchall():
        if name in described:
            described[name]["columns"][column] = comment
    return described


def copy_comments(
    target: duckdb.DuckDBPyConnection, comments: dict[str, dict], catalog: str | None = None, kind: str = "table"
) -> None:
    """Write each mart's table and column comments (from ``mart_comments`` of the warehouse) onto its copy:
    ``create table ... as`` and views over Parquet carry none, and BI tools show these as descriptions."""
    for name, described in comments.items():
        relation = _mart(name, catalog)
        target.execute(f"comment on {kind} {relation} is {quote_literal(described['table'] or '')}")
        for column, comment in described["columns"].items():
            target.execute(f"comment on column {relation}.{quote_identifier(column)} is {quote_literal(comment)}")


def read_stamp(connection: duckdb.DuckDBPyConnection) -> dict | None:
    """The publish stamp of a published database (DuckDB copy or Parquet views); None when it has none."""
    try:
        row = connection.execute(f"select publish_id, marts from {STAMP_TABLE}").fetchone()
    except duckdb.CatalogException:
        return None
    return {"publish_id": row[0], "marts": json.loads(row[1])} if row else None


def foreign_wal(path: Path) -> Path | None:
    """A ``.wal`` beside a published file: publishing checkpoints before the rename, so one is never ours."""
    wal = path.with_name(f"{path.name}.wal")
    return wal if wal.exists() else None


def lock_holder(error: duckdb.Error) -> str | None:
    """The holder DuckDB names when a file is locked by another process; None for any other error."""
    text = str(error)
    if "lock" not in text.lower():
        return None
    match = re.search(r"Conflicting lock is held in (.+?)(?:\. See also|$)", text, re.MULTILINE)
    return match[1] if match else "another process"


def inspect_copy(path: Path, *, content: bool = True) -> PublishedCopy:
    """Open a published DuckDB file read-only (its own database instance, so a damaged file cannot harm the
    warehouse connection) and compare its marts with its publish stamp; ``content=False`` checks the lock, the
    WAL and the stamp only (``marts`` stays None: hashing the marts is most of a publish's cost)."""
    wal = foreign_wal(path)
    try:
        connection = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        holder = lock_holder(exc)
        if holder:
            return PublishedCopy(path, problem=f"is held open for writing by {holder}", holder=holder)
        return PublishedCopy(path, problem=f"is unreadable ({str(exc).splitlines()[0]})")
    try:
        stamp = read_stamp(connection)
        marts = mart_signatures(connection) if content else None
    except duckdb.Error as exc:
        return PublishedCopy(path, problem=f"is unreadable ({str(exc).splitlines()[0]})")
    finally:
        connection.close()
    if wal is not None:
        problem = (
            f"has a write-ahead log beside it ({wal.name}) that gapwatch did not write (another process wrote to it)"
        )
    elif stamp is None:
        problem = "has no publish stamp (not written by this version of gapwatch)"
    elif any(len(signature) != 3 for signature in stamp["marts"].values()):
        problem = "was stamped by an earlier version of gapwatch (no comments in its stamp)"
    elif content and stamp["marts"] != marts:
        problem = "does not hold what its publish stamp says: modified outside gapwatch"
    else:
        problem = None
    return PublishedCopy(path, stamp["publish_id"] if stamp else None, marts, problem, stamped=stamp and stamp["marts"])


def _file_identity(path: Path) -> list[int]:
    """What changes when anything writes a file: device, inode, size, modification time (ns)."""
    info = path.stat()
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns]


def note_verified(settings: Settings, publish_id: str) -> None:
    """Record that the published DuckDB file, stamped ``publish_id``, was verified to hold its stamp's marts (its
    content hashed): until the file changes, a check may trust its stamp instead of hashing it again."""
    note = settings.paths.published_verified_note
    record = {"publish_id": publish_id, "file": _file_identity(settings.paths.published_database)}
    temporary = note.with_name(f".{note.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(record))
    os.replace(temporary, note)


def verified_unchanged(settings: Settings, copy: PublishedCopy) -> bool:
    """The published file is the one :func:`note_verified` recorded, byte for byte as far as the file system can
    tell (same inode, size and modification time, the same publish stamp): its content was hashed and equalled its
    stamp then, and nothing has written the file since. A writer that commits changes the file's size or
    modification time (or leaves a WAL, which :func:`inspect_copy` refuses); one that also sets the modification
    time back is not detected."""
    try:
        record = json.loads(settings.paths.published_verified_note.read_text())
        return record["publish_id"] == copy.publish_id and record["file"] == _file_identity(copy.path)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def verify_published(
    warehouse: Warehouse, expected: dict[str, list] | None = None, *, content: bool = True
) -> str | None:
    """Why the published copies cannot be trusted to equal the warehouse marts; None when they can.

    The DuckDB copy must open read-only, hold its stamp, and its marts (rows and content) must equal the
    warehouse's (``expected``: their signatures when the caller has them, see mart_signatures; with
    ``content=False`` the copy's own content is not hashed again: publish hashed it before the switch); the
    Parquet views must carry the same publish stamp and the warehouse's row counts.
    """
    paths = warehouse.settings.paths
    published, views = paths.published_database, paths.published_dir / PARQUET_VIEWS
    if not published.exists():
        return f"{published} does not exist"
    copy = inspect_copy(published, content=False)
    if content and not copy.problem and not verified_unchanged(warehouse.settings, copy):
        copy = inspect_copy(published)  # hashed: the stamp says what it should hold, the content what it holds
        if not copy.problem:
            note_verified(warehouse.settings, copy.publish_id)
    if copy.problem:
        return f"{published} {copy.problem}"
    if expected is None:
        cursor = warehouse.cursor()
        try:
            expected = mart_signatures(cursor)
        finally:
            cursor.close()
    if content and (copy.marts if copy.marts is not None else copy.stamped) != expected:
        return f"{published} does not hold the warehouse's marts"
    try:
        connection = duckdb.connect(str(views), read_only=True)
        try:
            stamp = read_stamp(connection)
            rows = {name: signature[0] for name, signature in expected.items()}
            counted = {
                name: connection.execute(f"select count(*) from {MART_SCHEMA}.{quote_identifier(name)}").fetchone()[0]
                for name in rows
            }
        finally:
            connection.close()
    except duckdb.Error as exc:
        return f"{views} is unreadable ({str(exc).splitlines()[0]})"
    if stamp is None or stamp["publish_id"] != copy.publish_id:
        return f"{views} is not from the same publish as {published.name}"
    if counted != rows:
        return f"{views} does not hold the warehouse's row counts"
    return None


def _warn_rebuilt_whole(warnings: list[str], published: Path, problem: str) -> None:
    _warn(warnings, f"The published copy {published} {problem}; rebuilding it whole from the warehouse.")


def publish(warehouse: Warehouse, warnings: list[str] | None = None) -> Path:
    """Copy the marts into a separate database for BI readers, and as Parquet; both switched in together.

    The copy is built beside the published file and renamed over it, so a
    reader opening the published path sees either the old or the new file,
    never a half-written one, and never holds a lock the pipeline needs.

    The published file is verified before anything starts from it: one that
    another process holds open for writing is refused (PublishError: a copy
    renamed over it would meet that writer's WAL); one that is unreadable, has
    a WAL gapwatch did not write, or does not hold what its publish stamp says
    is rebuilt whole from the warehouse, with a warning in ``warnings``. Its content
    is hashed, unless it is the very file the last publish (or check) verified,
    unwritten since (``verified_unchanged``: same inode, size and modification
    time, also after the copy).

    When the published file verifies, the copy starts from it (a file copy):
    the incremental marts receive only the rows dbt rebuilt since
    (``inputs_loaded_through`` newer than the copy's newest), checked against
    the warehouse afterwards; every other mart is recreated. The new DuckDB
    file and the new Parquet views are both staged first and renamed one right
    after the other, each stamped with the same publish id (the Parquet
    version), so ``gapwatch status`` can tell if a crash split them; the
    result is verified against the warehouse after the switch.
    """
    warnings = warnings if warnings is not None else []
    settings = warehouse.settings
    layouts = mart_layouts(settings.paths.dbt_target / "manifest.json")
    published = settings.paths.published_database
    published.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(published.parent)
    publish_id = utcnow().strftime("%Y%m%dT%H%M%S%f")
    staging = published.with_name(f".{published.name}.{os.getpid()}.tmp")
    _remove_database_file(staging)
    with warehouse.transaction() as cursor:
        expected = mart_signatures(cursor)
    tables = sorted(expected)
    wal, base = None, None
    if published.exists():
        base = inspect_copy(published, content=False)  # its content is checked on the staged copy below
        if base.holder:
            raise PublishError(
                f"Not published: {published} is held open for writing by {base.holder}; a copy published over it "
                "would take that writer's edits. The warehouse marts are built and tested, and BI readers keep "
                "the previous copy: close that connection (BI tools must open the file read-only), then rerun "
                "`gapwatch run`."
            )
        wal = foreign_wal(published)
        if base.problem:
            _warn_rebuilt_whole(warnings, published, base.problem)
    try:
        if base is not None and not base.problem:
            # start only from what was verified: the staged bytes themselves, hashed -- or, when the published file
            # is the one a publish or a check verified and nothing has written it since, its byte-for-byte copy
            trusted = verified_unchanged(settings, base)
            shutil.copyfile(published, staging)
            trusted = trusted and verified_unchanged(settings, base)  # (and not written while it was copied)
            staged = replace(base, path=staging) if trusted else inspect_copy(staging)
            if staged.problem:
                _warn_rebuilt_whole(warnings, published, staged.problem)
                _remove_database_file(staging)
                base = replace(base, problem=staged.problem)  # not kept as the previous version
        cursor = warehouse.cursor()
        try:
            cursor.execute(f"attach {quote_literal(staging)} as {PUBLISH_TARGET}")
            try:
                _publish_tables(cursor, tables, layouts)
                copy_comments(cursor, mart_comments(cursor), PUBLISH_TARGET)
                _write_stamp(cursor, PUBLISH_TARGET, publish_id, expected)
                cursor.execute(f"checkpoint {PUBLISH_TARGET}")  # every change in the file itself, none in a WAL
                if mart_signatures(cursor, PUBLISH_TARGET) != expected:  # before the switch: BI keeps the old copy
                    raise PublishError(
                        "Not published: the staged copy does not hold the warehouse's marts after publishing "
                        "(rows, content or comments differ). BI readers keep the previous copy; rerun `gapwatch run`."
                    )
                warehouse.fault_point("publish:duckdb")
            finally:
                cursor.execute(f"detach {PUBLISH_TARGET}")
        finally:
            cursor.close()
        views_staging, previous = _stage_parquet(warehouse, tables, layouts, publish_id, expected)
        if wal is not None and wal.exists():  # never replayed onto the new copy; kept for a look
            aside = wal.with_name(f"{wal.name}.foreign-{publish_id}")
            wal.rename(aside)
            _warn(warnings, f"A write-ahead log gapwatch did not write was beside {published}; moved to {aside}.")
        _keep_previous(settings.paths.published_dir, base)
        os.replace(staging, published)
        warehouse.fault_point("publish:switch")
        os.replace(views_staging, settings.paths.published_dir / PARQUET_VIEWS)
        (settings.paths.published_dir / ROLLBACK_NOTE).unlink(missing_ok=True)
    except BaseException:
        _remove_database_file(staging)
        _remove_database_file(published.with_name(f".{PARQUET_VIEWS}.{os.getpid()}.tmp"))
        raise
    _prune_parquet_versions(settings.paths.published_dir / "parquet", previous)
    # after the switch: what BI readers open carries this publish's stamp, with views from the same publish (the
    # staged content was checked above; the warehouse has not changed since, the run lock is held)
    problem = verify_published(warehouse, expected, content=False)
    if problem:
        raise PublishError(
            f"The published copy does not verify after publishing: {problem}. The warehouse marts are good; "
            "rerun `gapwatch run` to publish them again (if another process writes to the published files, stop it)."
        )
    note_verified(settings, publish_id)  # its content was hashed before the switch (the staged copy, above)
    return published


def _views_from(views: Path, publish_id: str | None) -> bool:
    """True when the Parquet views file carries the stamp of ``publish_id`` and every Parquet file it reads is
    still there: with a verified DuckDB copy of that publish, a version worth keeping or restoring."""
    if publish_id is None or not views.exists():
        return False
    try:
        connection = duckdb.connect(str(views), read_only=True)
        try:
            stamp = read_stamp(connection)
            if stamp is None or stamp["publish_id"] != publish_id:
                return False
            for name in stamp["marts"]:
                connection.execute(f"select count(*) from {_mart(name)}").fetchone()
        finally:
            connection.close()
    except duckdb.Error:
        return False
    return True


def _verified_version(copy: PublishedCopy | None, views: Path) -> str | None:
    """The publish id of a DuckDB copy (already inspected) and its Parquet views when both verify and are from
    the same publish; None otherwise."""
    if copy is None or copy.problem or not _views_from(views, copy.publish_id):
        return None
    return copy.publish_id


def _link_over(source: Path, target: Path) -> None:
    """``target`` becomes another name for ``source``'s file (a hard link, renamed into place: never half-made)."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.link")
    temporary.unlink(missing_ok=True)
    os.link(source, temporary)
    os.replace(temporary, target)


def _keep_previous(published_dir: Path, current: PublishedCopy | None) -> None:
    """Before a publish switches the files: the current version (``current``, the copy publish inspected before
    starting from it), if it verifies with its views, becomes published/previous/ (hard links, no copy;
    publishing never writes a published file in place, and the Parquet folders its views read are kept by
    _prune_parquet_versions)."""
    if current is None or _verified_version(current, published_dir / PARQUET_VIEWS) is None:
        return
    previous = published_dir / PREVIOUS_DIR
    previous.mkdir(exist_ok=True)
    for name in (current.path.name, PARQUET_VIEWS):
        _link_over(published_dir / name, previous / name)


@dataclass(frozen=True)
class Rollback:
    restored: str  # the publish id BI readers now see
    replaced: str | None  # the publish id they saw before, now kept as the previous version


def rollback(settings: Settings) -> Rollback:
    """Restore the previous published version (DuckDB copy and Parquet views) for BI readers, keeping the
    current one as the previous version, so a second rollback undoes the first. The warehouse is not changed:
    the next successful run publishes its marts again. Call under the run lock."""
    published_dir, database = settings.paths.published_dir, settings.paths.published_database.name
    previous = published_dir / PREVIOUS_DIR
    kept = inspect_copy(previous / database) if (previous / database).exists() else None
    restored = _verified_version(kept, previous / PARQUET_VIEWS)
    if restored is None:
        state = "is incomplete or does not verify" if previous.exists() else "does not exist yet"
        raise PublishError(
            f"Nothing to roll back to: the previous published version ({previous}) {state}. gapwatch keeps the "
            "version before the current one from the second publish on; the current published marts are unchanged."
        )
    current = inspect_copy(published_dir / database) if (published_dir / database).exists() else None
    if current is not None and current.holder:
        raise PublishError(
            f"Not rolled back: {current.path} is held open for writing by {current.holder}. Close that connection "
            "(BI tools must open the file read-only), then rerun `gapwatch rollback`."
        )
    replaced = _verified_version(current, published_dir / PARQUET_VIEWS)
    for name in (database, PARQUET_VIEWS):  # the DuckDB copy first, then the views, as a publish does
        live, restoring = published_dir / name, previous / name
        swap = previous / f".{name}.{os.getpid()}.swap"
        if replaced is not None:
            _link_over(live, swap)
        os.replace(restoring, live)
        if replaced is not None:
            os.replace(swap, restoring)
    (published_dir / ROLLBACK_NOTE).write_text(
        json.dumps({"restored": restored, "replaced": replaced, "at": utcnow().isoformat(timespec="seconds")})
    )
    return Rollback(restored, replaced)


def rollback_note(settings: Settings) -> dict | None:
    """What the last `gapwatch rollback` did, while its restored version is still the one published."""
    try:
        return json.loads((settings.paths.published_dir / ROLLBACK_NOTE).read_text())
    except (OSError, ValueError):
        return None


def _warn(warnings: list[str], message: str) -> None:
    logger.warning(message)  # for log collectors; the run summary prints the run's warnings
    warnings.append(message)


def _write_stamp(
    cursor: duckdb.DuckDBPyConnection, catalog: str | None, publish_id: str, signatures: dict[str, list]
) -> None:
    """The publish stamp, written with the copy: which publish it is, and the marts it must hold."""
    prefix = f"{catalog}." if catalog else ""
    cursor.execute(f"create schema if not exists {prefix}{STAMP_SCHEMA}")
    cursor.execute(
        f"create or replace table {prefix}{STAMP_TABLE} as "
        "select ?::varchar as publish_id, ?::timestamp as published_at, ?::varchar as marts",
        [publish_id, utcnow(), json.dumps(signatures)],
    )


def remove_orphans(folder: Path) -> list[Path]:
    """Remove the staging files (``.<name>.<pid>.tmp`` and their WALs) of publishes whose process is gone."""
    removed = []
    for path in folder.glob(".*.tmp*"):
        match = re.fullmatch(r"\..+\.(\d+)\.tmp(\.wal)?", path.name)
        if match and int(match[1]) != os.getpid() and not _alive(int(match[1])):
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        logger.info("Removed %d orphaned publish staging file(s) in %s.", len(removed), folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_database_file(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(f"{path.name}.wal").unlink(missing_ok=True)


def _publish_tables(cursor: duckdb.DuckDBPyConnection, tables: list[str], layouts: dict[str, MartLayout]) -> None:
    """Bring the attached staging copy's marts to the warehouse's: refresh incrementally where possible,
    recreate the rest, drop the marts the warehouse no longer has."""
    cursor.execute(f"create schema if not exists {PUBLISH_TARGET}.{MART_SCHEMA}")
    staged = {
        name
        for (name,) in cursor.execute(
            "select table_name from information_schema.tables where table_catalog = ? and table_schema = ?",
            [PUBLISH_TARGET, MART_SCHEMA],
        ).fetchall()
    }
    for name in sorted(staged - set(tables)):
        cursor.execute(f"drop table {_mart(name, PUBLISH_TARGET)}")
    for name in tables:
        keys = layouts.get(name, MartLayout()).unique_key
        if name in staged and keys and _refresh_rows(cursor, name, keys):
            continue
        target = _mart(name, PUBLISH_TARGET)
        if name in staged:
            cursor.execute(f"drop table {target}")
            cursor.execute(f"checkpoint {PUBLISH_TARGET}")  # its blocks are free for the new copy to reuse
        cursor.execute(f"create table {target} as select * from {_mart(name)}")


def _refresh_rows(cursor: duckdb.DuckDBPyConnection, name: str, keys: tuple[str, ...]) -> bool:
    """Replace, by key, the staged rows of an incremental mart that dbt rebuilt since they were published.

    False (recreate the table instead) when the mart has no WATERMARK, its columns changed, more than
    half of it was rebuilt, or the result does not hold the warehouse's rows build for build.
    """
    source, target = _mart(name), _mart(name, PUBLISH_TARGET)
    columns = column_types(cursor, source)
    if WATERMARK not in dict(columns) or column_types(cursor, target) != columns:
        return False
    (published_through,) = cursor.execute(f"select max({WATERMARK}) from {target}").fetchone()
    if published_through is None:
        return False
    rebuilt, total = cursor.execute(
        f"select count(*) filter (where {WATERMARK} > ?), count(*) from {source}", [published_through]
    ).fetchone()
    if rebuilt * 2 > total:
        return False
    if rebuilt:
        cursor.execute(
            f"create or replace temp table publish_rebuilt as select * from {source} where {WATERMARK} > ?",
            [published_through],
        )
        matches = " and ".join(f"staged.{quote_identifier(key)} = rebuilt.{quote_identifier(key)}" for key in keys)
        cursor.execute(f"delete from {target} as staged using publish_rebuilt as rebuilt where {matches}")
        cursor.execute(f"insert into {target} select * from publish_rebuilt")
        cursor.execute("drop table publish_rebuilt")
    if _rows_per_build(cursor, target) != _rows_per_build(cursor, source):
        _tell("The published copy of %s differs from the warehouse after a refresh; copying it whole.", name)
        return False
    return True


def _rows_per_build(cursor: duckdb.DuckDBPyConnection, relation: str) -> list[tuple]:
    """Row count per WATERMARK value: a cheap check that a copy holds the same builds' rows as its source."""
    return cursor.execute(f"select {WATERMARK}, count(*) from {relation} group by all order by all").fetchall()


def _stage_parquet(
    warehouse: Warehouse,
    tables: list[str],
    layouts: dict[str, MartLayout],
    publish_id: str,
    signatures: dict[str, list],
) -> tuple[Path, dict[str, Path]]:
    """Write the marts as Parquet under published/parquet/<publish_id>/ plus a staged views database over them.

    Returns the staged views file (``publish`` renames it over ``published/marts_parquet.duckdb``, which
    holds one view per mart reading the newest version) and the folders the views read until now. The
    previous version's files are kept, so a reader holding the old views still reads complete files.

    A partitioned mart with ``inputs_loaded_through`` is written incrementally
    against the version the views read: the years holding rows rebuilt since
    (or new years) are rewritten, the other years' files are hard links to the
    previous version's; a mismatch with the warehouse afterwards rewrites it whole.
    """
    root = warehouse.settings.paths.published_dir / "parquet"
    views = warehouse.settings.paths.published_dir / PARQUET_VIEWS
    previous = _published_parquet_folders(views, root)
    version = root / publish_id
    version.mkdir(parents=True)
    cursor = warehouse.cursor()
    try:
        comments = mart_comments(cursor)
        for name in tables:
            column = layouts.get(name, MartLayout()).partition_by
            if column:
                base = previous.get(name)
                if base is None or not _write_changed_years(cursor, name, column, version / name, base):
                    shutil.rmtree(version / name, ignore_errors=True)
                    _write_years(cursor, name, column, version / name)
                if not _parquet_files(version / name):  # an empty mart: no partition, one empty file
                    cursor.execute(
                        f"copy (select *, year({quote_identifier(column)}) as year from {_mart(name)} limit 0) "
                        f"to {quote_literal(version / name / 'data.parquet')} (format parquet)"
                    )
            else:
                (version / name).mkdir()
                target = quote_literal(version / name / "data.parquet")
                cursor.execute(f"copy {_mart(name)} to {target} (format parquet)")
    finally:
        cursor.close()
    warehouse.fault_point("publish:parquet")
    staging = views.with_name(f".{views.name}.{os.getpid()}.tmp")
    _remove_database_file(staging)
    connection = duckdb.connect(str(staging))
    try:
        connection.execute(f"create schema {MART_SCHEMA}")
        for name in tables:
            connection.execute(f"create view {_mart(name)} as select * from {_read_parquet(version / name)}")
        copy_comments(connection, {name: comments[name] for name in tables if name in comments}, kind="view")
        _write_stamp(connection, None, publish_id, signatures)
    finally:
        connection.close()
    return staging, previous


def _prune_parquet_versions(root: Path, previous: dict[str, Path]) -> None:
    """Keep the newest versions and the one the views read until now (newer ones may be unfinished)."""
    versions = sorted(path for path in root.iterdir() if path.is_dir())
    kept = {*versions[-PARQUET_VERSIONS_KEPT:], *(folder.parent for folder in previous.values())}
    for old in versions:
        if old not in kept:
            shutil.rmtree(old, ignore_errors=True)


def _published_parquet_folders(views: Path, root: Path) -> dict[str, Path]:
    """Per mart, the folder (under ``root``) of the Parquet version the views database reads."""
    if not views.exists():
        return {}
    try:
        connection = duckdb.connect(str(views), read_only=True)
        try:
            definitions = connection.execute(
                "select view_name, sql from duckdb_views() where schema_name = ?", [MART_SCHEMA]
            ).fetchall()
        finally:
            connection.close()
    except duckdb.Error:
        return {}
    folders: dict[str, Path] = {}
    for name, sql in definitions:
        match = re.search(r"read_parquet\([^']*'((?:[^']|'')+)'", sql)  # the first file of the list
        if not match:
            continue
        first = Path(match[1].replace("''", "'"))
        mart = next((parent for parent in first.parents if parent.name == name), None)
        if mart is not None:
            folder = root / mart.parent.name / name  # this home's copy, even if the home moved
            if folder.is_dir():
                folders[name] = folder
    return folders


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.parquet")) if folder.is_dir() else []


def _read_parquet(folder: Path) -> str:
    """``read_parquet([...])`` of the files under ``folder``, listed one by one: no glob and no hive
    partitioning is ever applied to the home's path, whatever it holds (``*``, ``[``, ``=``, quotes).
    The partition column is in the files themselves (written with ``write_partition_columns``)."""
    files = ", ".join(quote_literal(path) for path in _parquet_files(folder))
    return f"read_parquet([{files}], hive_partitioning = false)"


def _write_years(
    cursor: duckdb.DuckDBPyConnection, name: str, column: str, folder: Path, years: list[int] | None = None
) -> None:
    """COPY a mart partitioned by year of ``column`` into ``folder``/year=YYYY/ (all years, or ``years``)."""
    year = f"year({quote_identifier(column)})"
    where = "" if years is None else f"where {year} in ({', '.join(str(int(y)) for y in years)})"
    # written under an ASCII name, then moved: DuckDB 1.4 misplaces a partitioned COPY whose target ends in a
    # non-ASCII character ('…/aé' is written to '…/a')
    staging = folder.with_name(f".partitions.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    cursor.execute(
        f"copy (select *, {year} as year from {_mart(name)} {where}) "
        f"to {quote_literal(staging)} (format parquet, partition_by (year), write_partition_columns true)"
    )
    folder.mkdir(exist_ok=True)
    if staging.is_dir():
        for partition in staging.iterdir():
            os.replace(partition, folder / partition.name)
        staging.rmdir()


def _write_changed_years(cursor: duckdb.DuckDBPyConnection, name: str, column: str, folder: Path, base: Path) -> bool:
    """Write the years of a mart rebuilt since ``base`` (the previous version's folder), hard-link the others.

    False (write it whole instead) when the mart has no WATERMARK, its columns changed, the previous
    folder holds anything but year=YYYY partitions, or the result does not match the warehouse.
    """
    source, year = _mart(name), f"year({quote_identifier(column)})"
    if not _parquet_files(base):
        return False
    base_files = _read_parquet(base)
    columns = column_types(cursor, f"select *, {year} as year from {source}")
    if WATERMARK not in dict(columns) or column_types(cursor, f"select * from {base_files}") != columns:
        return False
    partitions = {path.name.removeprefix("year="): path for path in base.iterdir()}
    if not all(re.fullmatch(r"\d+", year) and path.is_dir() for year, path in partitions.items()):
        return False
    (published_through,) = cursor.execute(f"select max({WATERMARK}) from {base_files}").fetchone()
    years = {value for (value,) in cursor.execute(f"select distinct {year} from {source}").fetchall()}
    if published_through is None or None in years:
        return False
    rebuilt = cursor.execute(
        f"select distinct {year} from {source} where {WATERMARK} > ?", [published_through]
    ).fetchall()
    written = {value for (value,) in rebuilt} | {value for value in years if str(value) not in partitions}
    folder.mkdir()
    if written:
        _write_years(cursor, name, column, folder, sorted(written))
    for value in sorted(years - written):
        for file in partitions[str(value)].rglob("*"):
            if file.is_file():
                _link_or_copy(file, folder / file.relative_to(base))
    copied = _read_parquet(folder)
    if _rows_per_build(cursor, copied) != _rows_per_build(cursor, source):
        _tell("The Parquet version of %s differs from the warehouse; writing it whole.", name)
        return False
    return True


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
