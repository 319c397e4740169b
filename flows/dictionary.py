"""The data dictionary (`ciw docs`): Markdown written from the published warehouse's own metadata.

Descriptions come from the warehouse's COMMENT ON metadata (duckdb_tables(), duckdb_views(),
duckdb_columns()), which the loader sets from the contracts in schemas/: so the dictionary shows
exactly what a BI tool connected to the file shows. Row counts are counted in the file; the primary
key comes from the contract (DuckDB does not keep keys on views). A table, view or column without a
description is a contract gap, and the dictionary refuses to be written until it is closed.

The default file is `<warehouse>/data_dictionary.md`, beside `docs/`: the GX Data Docs build
replaces `docs/` whole on every run, so a file kept inside it would be deleted by the next run.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from flows import queries as saved
from flows import warehouse
from flows.config import Settings, settings
from flows.contracts import contracts

FILE_NAME = "data_dictionary.md"


class DictionaryGap(Exception):
    """A table, view or column in the warehouse has no description (or no contract)."""

    def __init__(self, gaps: list[str]):
        self.gaps = gaps
        super().__init__(
            f"{len(gaps)} table(s) or view(s) not fully described in the warehouse (a contract gap: add or "
            "complete schemas/<name>.yaml, whose descriptions become COMMENT ON at the next run); "
            "no dictionary written:\n  "
            + "\n  ".join(gaps)
        )


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    type: str
    nullable: bool
    description: str


@dataclass(frozen=True)
class RelationDoc:
    name: str
    kind: str  # table or view
    description: str
    rows: int
    primary_key: tuple[str, ...]
    columns: tuple[ColumnDoc, ...]


def default_path(s: Settings | None = None) -> Path:
    return (s or settings()).warehouse_dir / FILE_NAME


_RELATIONS = """
SELECT table_name AS name, 'table' AS kind, comment FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal AND NOT temporary
UNION ALL
SELECT view_name, 'view', comment FROM duckdb_views()
WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal AND NOT temporary
ORDER BY kind, name
"""
_COLUMNS = """
SELECT table_name, column_name, data_type, is_nullable, comment
FROM duckdb_columns()
WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal
ORDER BY table_name, column_index
"""


def collect(path: Path | None = None) -> tuple[list[RelationDoc], list[str], str | None]:
    """Every table and view of the published warehouse with its metadata; the gaps; the last run id."""
    con = warehouse.connect_readonly(path)
    try:
        relations = con.sql(_RELATIONS).fetchall()
        columns: dict[str, list[tuple]] = {}
        for row in con.sql(_COLUMNS).fetchall():
            columns.setdefault(row[0], []).append(row[1:])
        counts = {name: con.sql(f'SELECT count(*) FROM "{name}"').fetchall()[0][0] for name, _, _ in relations}
        last_run = con.sql("SELECT max(run_id) FROM run_log").fetchall()[0][0] if any(r[0] == "run_log" for r in relations) else None
    finally:
        con.close()
    known = contracts()
    docs: list[RelationDoc] = []
    gaps: list[str] = []
    for name, kind, comment in relations:
        contract = known.get(name)
        missing: list[str] = []
        if contract is None:
            missing.append(f"no contract (schemas/{name}.yaml)")
        if not (comment or "").strip():
            missing.append(f"no {kind} description")
        undescribed = [col for col, _, _, col_comment in columns.get(name, []) if not (col_comment or "").strip()]
        if undescribed:
            missing.append(f"{len(undescribed)} column(s) without a description: {', '.join(undescribed)}")
        if missing:
            gaps.append(f"{name} ({kind}): " + "; ".join(missing))
        by_contract = {c.name: c for c in contract.columns} if contract else {}
        cols = []
        for col, dtype, is_nullable, col_comment in columns.get(name, []):
            # DuckDB keeps NOT NULL on tables only; a view's nullability is its contract's.
            nullable = is_nullable if kind == "table" or col not in by_contract else by_contract[col].nullable
            cols.append(ColumnDoc(col, dtype, bool(nullable), " ".join((col_comment or "").split())))
        docs.append(RelationDoc(name, kind, " ".join((comment or "").split()), counts[name],
                                contract.primary_key if contract else (), tuple(cols)))
    return docs, gaps, last_run


def render(relations: list[RelationDoc], queries: dict[str, saved.SavedQuery], db_path: Path, last_run: str | None) -> str:
    tables = [r for r in relations if r.kind == "table"]
    views = [r for r in relations if r.kind == "view"]
    out = [
        "# ciw data dictionary",
        "",
        f"Written by `ciw docs` from the COMMENT ON metadata of `{db_path}`"
        + (f" (last run `{last_run}`)" if last_run else "")
        + ": the descriptions a BI tool connected to the file shows (`duckdb_tables()`, `duckdb_views()`, "
        "`duckdb_columns()`). They come from the table contracts in `schemas/`; row counts are counted "
        "in the file; keys are the contracts' (DuckDB keeps no keys on views). Nullability is the "
        "warehouse's for tables and the contract's for views.",
        "",
        f"{len(tables)} tables, {len(views)} views, {len(queries)} saved queries.",
        "",
        "## Contents",
        "",
        "| name | kind | rows | description |",
        "|---|---|---:|---|",
    ]
    for r in tables + views:
        out.append(f"| [`{r.name}`](#{_anchor(r.name)}) | {r.kind} | {r.rows:,} | {_cell(_first_sentence(r.description))} |")
    for heading, group in (("Tables", tables), ("Views", views)):
        out += ["", f"## {heading}"]
        for r in group:
            out += [
                "",
                f"### {r.name}",
                "",
                _md(r.description),
                "",
                f"- kind: {r.kind}",
                f"- rows: {r.rows:,}",
                f"- primary key: {', '.join(f'`{k}`' for k in r.primary_key) if r.primary_key else 'none declared'}",
                "",
                "| column | type | nullable | description |",
                "|---|---|---|---|",
            ]
            for c in r.columns:
                key = " (key)" if c.name in r.primary_key else ""
                out.append(f"| `{c.name}`{key} | {_cell(c.type)} | {'yes' if c.nullable else 'no'} | {_cell(c.description)} |")
    out += ["", "## Saved queries", "",
            "Run with `ciw query NAME [--param k=v ...] [--format table|csv|json|parquet] [--output PATH]`; "
            "`ciw query --list` lists them. Files: `sql/queries/NAME.sql` (header grammar in `sql/queries/README.md`). "
            "Values are bound as DuckDB named parameters, never pasted into the SQL; `null` (where it is the "
            "default) means no filter."]
    for q in queries.values():
        out += ["", f"### {q.name}", "", f"**{_md(q.title)}**", "", _md(q.description), ""]
        if q.params:
            out += ["| parameter | type | default | description |", "|---|---|---|---|"]
            for p in q.params:
                out.append(f"| `{p.name}` | {p.type_label} | {_cell(p.default_label())} | {_cell(p.help)} |")
            out.append("")
        else:
            out += ["No parameters.", ""]
        out += ["```sh", q.example_command() if q.example else f"ciw query {q.name}", "```"]
    return "\n".join(out) + "\n"


def write(output: Path | None = None, path: Path | None = None) -> tuple[Path, list[RelationDoc], dict[str, saved.SavedQuery]]:
    """Write the dictionary (whole, by a rename); raise DictionaryGap, writing nothing, on a gap."""
    s = settings()
    db = path or s.db_path
    relations, gaps, last_run = collect(db)
    if gaps:
        raise DictionaryGap(gaps)
    queries = saved.discover()
    target = Path(output) if output else default_path(s)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(render(relations, queries, db, last_run), encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target, relations, queries


def _first_sentence(text: str) -> str:
    """Up to the first full stop that ends a sentence (not the one in 'e.g.', 'U.S.' or 'No.')."""
    for m in re.finditer(r"\.\s+(?=[A-Z(])", text):
        word = re.split(r"[\s(]", text[: m.start()])[-1]
        if "." in word or len(word.strip("`'\")")) <= 2:
            continue
        return text[: m.start() + 1]
    return text


def _md(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _md(text).replace("|", "\\|")


def _anchor(name: str) -> str:
    return name.lower().replace(" ", "-")
