"""Great Expectations' own result for each validated batch, kept for the record (Data Docs).

The DuckDB engine (flows/validate.py) decides what loads and what is quarantined, over every row.
GX runs the same suite on the same batch so its verdicts are on file beside it, but it is slow
(pandas; 3.6 s to import, about a second per batch, 70 s and 5 GB for 5M rows), so:

- a batch above `gx_record_max_rows` is validated on a fixed sample: rows the DuckDB engine failed
  (up to a fiftieth of the cap) plus every k-th row of the rest; the result says so in its meta next
  to the engine's full per-rule counts;
- the same batch under the same suite and parameters is not validated twice (the catalog on most
  nights);
- the sample is taken when the batch is validated, and GX runs after the publish (`write_pending`): it is
  the record, not the gate, and on two cores it would compete with DuckDB for the CPU (the 1M-row
  load ran 1.8x slower beside it).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from flows.config import Settings

_pending: list[tuple[Path, pa.Table, Any, dict[str, Any], dict[str, Any]]] = []  # validations to run after publish


def result_path(s: Settings, table: str, batch_id: str) -> Path:
    return s.validations_dir / table / f"{batch_id}.json"


def _fingerprint(suite: Any, params: dict[str, Any], scope: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([suite.raw, params, scope], sort_keys=True, default=str).encode()).hexdigest()[:16]


def _already_recorded(out: Path, fingerprint: str) -> bool:
    if not out.is_file():
        return False
    try:
        return json.loads(out.read_text(encoding="utf-8")).get("meta", {}).get("ciw_rules_fingerprint") == fingerprint
    except ValueError:
        return False  # a damaged result file is simply rewritten


def sample(con: duckdb.DuckDBPyConnection, cap: int, n: int) -> pa.Table:
    """At most `cap` of the `n` rows of the relation `batch` in `con`: failing rows first (the
    validator's `failing`, up to cap // 50), then every k-th row of the rest (a systematic sample, the same for the same
    input). The filter is on row_id alone, so only the sampled rows are read in full."""
    if n <= cap:
        return con.sql("SELECT * FROM batch").to_arrow_table()
    # failing rows are listed one by one in GX's COMPLETE result and rendered in the Data Docs:
    # 31k of them made GX and the docs take 25 s at 10M rows, so the sample holds a bounded share
    bad = con.sql(f"SELECT * FROM failing ORDER BY row_id LIMIT {max(1, cap // 50)}").to_arrow_table()  # kept by the validator
    k = -(-n // (cap - bad.num_rows))  # ceil: at most cap - bad rows are taken
    rest = con.sql(
        f"SELECT * FROM batch WHERE row_id % {k} = 0 AND row_id NOT IN (SELECT row_id FROM failed_rows) ORDER BY row_id LIMIT {cap - bad.num_rows}"
    ).to_arrow_table()
    return pa.concat_tables([bad, rest])


def record(s: Settings, table: str, batch_id: str, con: duckdb.DuckDBPyConnection, suite: Any,
           params: dict[str, Any], rule_counts: dict[str, int]) -> None:
    """Queue GX's validation of the relation `batch` in `con` (or of its sample; `failed_rows`
    names the rows the DuckDB engine failed) and the writing of its result file, for `write_pending`."""
    cap = s.gx_record_max_rows
    n = con.sql("SELECT count(*) FROM batch").fetchall()[0][0]
    scope = {"rows_in_batch": n, "cap": cap}
    fingerprint = _fingerprint(suite, params, scope)
    out = result_path(s, table, batch_id)
    if _already_recorded(out, fingerprint):
        return
    rows = sample(con, cap, n)
    meta = {
        "ciw_rules_fingerprint": fingerprint,
        "ciw_rows_in_batch": n,
        "ciw_rows_validated_by_gx": rows.num_rows,
        "ciw_sampled": rows.num_rows < n,
        # what the DuckDB engine found over every row, per rule (what loaded and quarantined rest on)
        "ciw_engine_failures_per_rule": dict(rule_counts),
    }
    _pending.append((out, rows, suite, params, meta))


def _validate_and_write(out: Path, rows: pa.Table, suite: Any, params: dict[str, Any], meta: dict[str, Any]) -> None:
    from flows.validate import gx_validate

    result = gx_validate(rows, suite, params)
    result.setdefault("meta", {}).update(meta)
    _write(out, result)


def write_result(s: Settings, table: str, batch_id: str, result: dict[str, Any]) -> Path:
    """File a GX result for a batch (where Data Docs read it)."""
    out = result_path(s, table, batch_id)
    _write(out, result)
    return out


def _write(out: Path, result: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(out)


def write_pending() -> None:
    """Run GX on every queued batch and write its result; then re-raise the first failure, if any."""
    first: BaseException | None = None
    while _pending:
        try:
            _validate_and_write(*_pending.pop(0))
        except Exception as exc:  # noqa: BLE001 - every record is written before one failure is raised
            first = first or exc
    if first is not None:
        raise first


def discard() -> None:
    """Forget queued records (a run that failed before publishing)."""
    _pending.clear()
