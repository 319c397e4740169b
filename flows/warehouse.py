"""Reading the published warehouse: read-only connections, ad-hoc queries, status.

Every reader opens the published file read-only, so it never takes the writer's lock; the
pipeline never writes that file in place (flows/load.py builds a new one and renames it).
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from flows.config import settings

_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class QueryRefused(Exception):
    """The statement would write, or is not one statement."""


class WarehouseMissing(Exception):
    """No warehouse has been published yet."""


def connect_readonly(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    path = path or settings().db_path
    if not path.exists():
        raise WarehouseMissing(f"no warehouse at {path}: run `ciw run` (or `make run`) first")
    return duckdb.connect(str(path), read_only=True)


def check_read_only(sql: str) -> None:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"cannot parse the query: {exc}") from None
    if len(statements) != 1:
        raise QueryRefused(f"give exactly one statement (got {len(statements)})")
    kind = statements[0].type
    if kind not in _ALLOWED:
        raise QueryRefused(f"only read-only queries (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN) are allowed; this is {kind.name}")


def query(sql: str, params: dict[str, Any] | None = None, path: Path | None = None) -> pa.Table:
    check_read_only(sql)
    con = connect_readonly(path)
    try:
        return con.sql(sql, params=params or {}).to_arrow_table()
    finally:
        con.close()


def render(table: pa.Table, fmt: str) -> str:
    if fmt == "csv":
        buf = io.BytesIO()
        pacsv.write_csv(table, buf)
        return buf.getvalue().decode("utf-8")
    if fmt == "json":
        return json.dumps(table.to_pylist(), indent=1, default=str) + "\n"
    return _text_table(table)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) < 1e6 else f"{v:,.0f}"
    return str(v)


def _text_table(table: pa.Table, max_width: int = 60) -> str:
    """A plain aligned table for terminals (display only; analysts wanting data use csv/json)."""
    header = table.column_names
    rows = [[_cell(v)[:max_width] for v in row.values()] for row in table.to_pylist()]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    numeric = [pa.types.is_integer(f.type) or pa.types.is_floating(f.type) for f in table.schema]
    fmt = lambda cells: "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric)).rstrip()  # noqa: E731
    lines = [fmt(header), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines) + "\n"


def status(path: Path | None = None) -> dict[str, Any]:
    s = settings()
    con = connect_readonly(path)
    try:
        sqlf = (s.sql_dir / "status.sql").read_text(encoding="utf-8")
        parts = {}
        for block in sqlf.split(";"):
            block = block.strip()
            if not block:
                continue
            name = block.splitlines()[0].removeprefix("-- name:").strip()
            parts[name] = con.sql(block).to_arrow_table().to_pylist()
    finally:
        con.close()
    manifest = s.lake_dir / "manifest.json"
    parts["warehouse"] = str(path or s.db_path)
    parts["lake_manifest"] = str(manifest) if manifest.exists() else None
    parts["validations"] = str(s.validations_dir)
    from flows.datadocs import index_path

    docs = index_path(s)
    parts["data_docs"] = docs.as_uri() if docs.is_file() else None
    return parts


def render_status(report: dict[str, Any]) -> str:
    out = [f"warehouse: {report['warehouse']}", f"lake manifest: {report['lake_manifest']}",
           f"validation results (GX JSON): {report['validations']}",
           f"data docs: {report.get('data_docs') or 'not built yet'}", ""]
    last = report.get("last_run") or []
    if last:
        r = last[0]
        out.append(f"last run: {r['run_id']}  finished {r['finished_at']}  sources: {r['sources']}  statuses: {r['statuses']}")
    out.append("")
    out.append("rows per table:")
    out += [f"  {r['table_name']:<30} {r['rows']:>10,}" for r in report["tables"]]
    out.append("")
    out.append("per source: rows, periods covered, freshness:")
    for r in report["freshness"]:
        out.append(
            f"  {r['source_id']:<18} rows {r['rows']:>8,}  indicators {r['indicators'] or 0:>3}  covers {r['covers_from']}..{r['covers_to']} "
            f"({r['period_types']})  publisher updated {r['source_updated']}  retrieved {r['retrieved_at']} "
            f"({r['days_since_retrieval']} days ago)  last load {r['last_load_status']} at {r['last_load_at']}"
        )
    out.append("")
    out.append("recent runs (per source):")
    for r in report["recent_runs"]:
        out.append(
            f"  {r['run_id']}  {r['source_id']:<18} {r['status']:<10} in {r['rows_in']:>7,}  loaded {r['rows_loaded']:>7,}  "
            f"quarantined {r['rows_quarantined']:>5,}  {r['seconds']:.1f}s" + (f"  {r['message']}" if r['message'] else "")
        )
    return "\n".join(out) + "\n"
