"""A source batch staged once into its own DuckDB file, where the rules and the loader read it.

A parser hands its rows over as a DuckDB relation (read from the landed files by one streaming
query) or as Arrow; either way they are normalised by sql/staging/observations.sql and written,
compressed, into warehouse/.stage/<source>+<id>+<pid>@<host>.duckdb. The rules then scan a table
instead of recomputing a view per rule, the loader inserts from it, and a 10M-row batch is never
held in Python's memory (the Arrow route held about 1 GB per 10M rows from parse to load). The file
goes when the batch is loaded or dropped; files of processes that died, or older than two days, are
removed by the next build.
"""
from __future__ import annotations

import os
import socket
import time
import uuid
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flows.config import Settings, settings
from flows.contracts import contract
from flows.duck import registered


@dataclass
class ParsedRows:
    """A parser's rows left in DuckDB: the parsed_observation columns its format fills, with
    `file_idx` (the position of the row's file in `files`) in place of `source_file`. The staging
    query reads the relation once; the columns it lacks are null."""

    relation: duckdb.DuckDBPyRelation
    files: pa.Table  # file_idx (int32), source_file (string), lastupdated (date32, where per file)
    on_error: Callable[[duckdb.Error], Exception] | None = None  # names the file DuckDB could not read
    after: tuple[str, ...] = ()  # statements that free what the relation read (temp tables), once staged


def from_arrow(con: duckdb.DuckDBPyConnection, parsed: pa.Table) -> ParsedRows:
    """A parser's Arrow rows as ParsedRows: each row's file name becomes an index into `files`."""
    names = pc.unique(parsed.column("source_file").combine_chunks().cast(pa.string()))
    idx = pc.index_in(parsed.column("source_file").cast(pa.string()), value_set=names).cast(pa.int32())
    unfilled = [c for c in _COPIED_COLUMNS if c in parsed.column_names and parsed.column(c).null_count == parsed.num_rows]
    rows = parsed.drop_columns(["source_file", *unfilled]).append_column("file_idx", idx)
    files = pa.table({"file_idx": pa.array(np.arange(len(names), dtype=np.int32)), "source_file": names,
                      "lastupdated": pa.nulls(len(names), pa.date32())})
    return ParsedRows(con.from_arrow(rows), files)


# Staged columns copied from the parser's column of the same name (nothing derives them when null):
# one a parser does not deliver is not stored and reads back null (all-null columns are not free to
# store: eleven of them cost 0.4 s per 1M rows).
_COPIED_COLUMNS = ("sex", "breakdown", "qualifier", "note", "source_url", "citation", "lastupdated")


def stage_dir(s: Settings) -> Path:
    return s.warehouse_dir / ".stage"


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}.wal")):
        p.unlink(missing_ok=True)


def _owner() -> str:
    """Who holds a staging file: process and host ('+' appears in neither a source id nor a host name)."""
    return f"{os.getpid()}@{socket.gethostname()}"


def _alive(owner: str) -> bool:
    """Whether the process that wrote a staging file may still be running. A file from another host
    (a warehouse on shared storage) is only judged by its age."""
    pid, _, host = owner.partition("@")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except PermissionError:  # alive, under another user
        return True
    except OSError:
        return False
    return True


def remove_stale(s: Settings, max_age_s: float = 2 * 86400) -> None:
    """Staging files of processes that are gone (a run that crashed between validation and load),
    and any older than `max_age_s` (no batch waits that long to load)."""
    folder = stage_dir(s)
    if not folder.is_dir():
        return
    now = time.time()
    for p in folder.glob("*.duckdb"):
        try:
            old = now - p.stat().st_mtime > max_age_s
        except FileNotFoundError:
            continue
        if old or not _alive(p.stem.rsplit("+", 1)[-1]):
            _remove(p)


@dataclass
class StagedBatch:
    """One batch's staging file and what reading it as fact rows needs (batch constants, failing rows)."""

    path: Path
    constants: dict[str, Any]  # session variables batch.sql reads (source, publisher, batch id ...)
    failed_row_ids: pa.Table | None = None  # rows the rules failed (set after validation)
    _finalizer: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # a batch dropped without being loaded (a failed run in a long-lived `ciw serve`) takes its file with it
        self._finalizer = weakref.finalize(self, _remove, self.path)

    @contextmanager
    def exposed(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """`batch` (the staged rows as fact rows) and `failed_rows` in `con`, for the duration of a block."""
        for name, value in self.constants.items():
            con.execute(f"SET VARIABLE ciw_{name} = $v", {"v": value})
        tables = {"failed_rows": self.failed_row_ids} if self.failed_row_ids is not None else {}
        with _attached(con, self.path), registered(con, **tables):
            con.sql("CREATE OR REPLACE TEMP VIEW batch AS " + (settings().sql_dir / "staging" / "batch.sql").read_text(encoding="utf-8"))
            try:
                yield
            finally:
                con.sql("DROP VIEW IF EXISTS batch")

    def remove(self) -> None:
        self._finalizer()


@contextmanager
def _attached(con: duckdb.DuckDBPyConnection, path: Path) -> Iterator[None]:
    """The staging file as `stage`, and its rows as the view `staged`: row_id is the stored row's
    position (the parser's order), and columns left unstored come back null."""
    con.sql(f"ATTACH '{path}' AS stage (READ_ONLY)")
    try:
        have = {r[0] for r in con.sql("DESCRIBE stage.staged").fetchall()}
        missing = ", ".join(f'NULL::{c.type} AS "{c.name}"' for c in _staged_columns() if c.name not in have)
        con.sql(f"CREATE OR REPLACE TEMP VIEW staged AS SELECT rowid AS row_id, *{', ' + missing if missing else ''} FROM stage.staged")
        try:
            yield
        finally:
            con.sql("DROP VIEW IF EXISTS staged")
    finally:
        con.sql("DETACH stage")


def _staged_columns() -> list:
    """The staged table's columns: those of the parsed contract, the file index instead of its name."""
    return [c for c in contract("parsed_observation").columns if c.name != "source_file"]


def write(s: Settings, source_id: str, rows: ParsedRows, con: duckdb.DuckDBPyConnection, *,
          retrievals: dict[str, Any], default_retrieved_at: Any, catalog_indicators: pa.Table,
          constants: dict[str, Any]) -> StagedBatch:
    """Write `rows` (a relation of `con`) into a new staging file with its files and the catalog's
    plausible ranges. Raises what `rows.on_error` makes of a DuckDB error (a SourceError naming the file)."""
    folder = stage_dir(s)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source_id}+{uuid.uuid4().hex[:12]}+{_owner()}.duckdb"
    batch = StagedBatch(path, constants)
    names = rows.files.column("source_file").to_pylist()
    files = rows.files.append_column(
        "retrieved_at", pa.array([retrievals.get(n, default_retrieved_at) for n in names], pa.timestamp("us")))
    ranges = catalog_indicators.select(["indicator_id", "valid_min", "valid_max"])
    # one range per indicator (the narrowest, should the catalog list one twice): batch.sql joins on
    # it, and the loader counts on one batch row per staged row
    have = set(rows.relation.columns)
    nulls = ", ".join(f'NULL::{c.type} AS "{c.name}"' for c in _staged_columns() if c.name not in have)
    unstored = [c for c in _COPIED_COLUMNS if c not in have]
    con.sql(f"ATTACH '{path}' AS stage")
    try:
        rows.relation.create_view("_parser_rows", replace=True)
        con.sql(f"CREATE OR REPLACE TEMP VIEW parsed AS SELECT *{', ' + nulls if nulls else ''} FROM _parser_rows")
        with registered(con, _files=files, _ranges=ranges):
            con.sql("CREATE TABLE stage.files AS SELECT * FROM _files")
            con.sql("CREATE TABLE stage.catalog_indicators AS SELECT indicator_id, max(valid_min) AS valid_min, "
                    "min(valid_max) AS valid_max FROM _ranges GROUP BY indicator_id")
        staging = (s.sql_dir / "staging" / "observations.sql").read_text(encoding="utf-8")
        kept = "SELECT * EXCLUDE (" + ", ".join(unstored) + ") FROM " if unstored else "SELECT * FROM "
        try:
            con.sql(f"CREATE TABLE stage.staged AS {kept}({staging})")
        except duckdb.Error as exc:
            if rows.on_error is None:
                raise
            raise rows.on_error(exc) from exc
    except BaseException:
        con.sql("DETACH stage")
        batch.remove()
        raise
    finally:
        for statement in rows.after:
            con.sql(statement)
    con.sql("DROP VIEW IF EXISTS parsed")
    con.sql("DROP VIEW IF EXISTS _parser_rows")
    con.sql("DETACH stage")
    return batch


def summary(batch: StagedBatch, con: duckdb.DuckDBPyConnection) -> tuple[int, int, Any, pa.Table]:
    """(rows parsed, rows without a value, newest publisher update, indicators seen with their names)."""
    with _attached(con, batch.path):
        rows_in, rows_null, last = con.sql(
            "SELECT count(*), count(*) FILTER (WHERE s.value IS NULL AND s.value_text IS NULL), "
            "greatest(max(s.lastupdated), (SELECT max(lastupdated) FROM stage.files)) FROM staged AS s"
        ).fetchall()[0]
        # a parser may name a series on some of its rows only (World Bank pages: once per page)
        seen = con.sql(
            "SELECT indicator_id, indicator_name, $sid AS source_id FROM (SELECT DISTINCT indicator_id, indicator_name "
            "FROM staged WHERE indicator_id IS NOT NULL) "
            "QUALIFY indicator_name IS NOT NULL OR count(indicator_name) OVER (PARTITION BY indicator_id) = 0",
            params={"sid": batch.constants["source_id"]},
        ).to_arrow_table()
    return rows_in, rows_null, last, seen


def fact_columns() -> str:
    return ", ".join(f'"{c}"' for c in contract("fact_observation").column_names)
