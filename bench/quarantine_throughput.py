"""Quarantine throughput: the suite's row rules over a synthetic fact batch, evaluated by ciw's
DuckDB engine (every failing row, with rule, value and reason) and by Great Expectations alone
(pandas engine, COMPLETE result format with row ids), on the same batch in the same process.

    .venv/bin/python bench/quarantine_throughput.py --rows 5000000 --bad-share 0.03

Prints seconds, rows/s and the ratio GX / DuckDB. The batch is synthetic (random values in the
fact_observation shape); nothing here reaches the warehouse.
"""
from __future__ import annotations

import argparse
import resource
import time

import duckdb
import pyarrow as pa


def make_batch(rows: int, bad_share: float, seed: int = 7) -> pa.Table:
    """WDI-shaped rows; about bad_share of them break one rule each (country, range, period, dup)."""
    con = duckdb.connect()
    con.sql(f"SELECT setseed({seed / 100})")
    return con.sql(
        f"""
        WITH base AS (
            SELECT range + 1 AS row_id, random() AS u,
                   'IND.' || (range // 576)::VARCHAR AS indicator_id,  -- 9 countries x 64 years per indicator: unique keys
                   (['GTM','HND','SLV','MEX','BLZ','CRI','NIC','PAN','USA'])[1 + (range % 9)] AS country,
                   1960 + ((range // 9) % 64) AS yr
            FROM range({rows})
        )
        SELECT row_id,
               indicator_id,
               CASE WHEN u < {bad_share / 4} THEN 'XKX' ELSE country END AS country_iso3,
               CASE WHEN u >= {bad_share / 4} AND u < {bad_share / 2} THEN yr::VARCHAR || 'X' ELSE yr::VARCHAR END AS period,
               yr::INTEGER AS year,
               CASE WHEN u >= {bad_share / 2} AND u < {3 * bad_share / 4} THEN -1.0 - u ELSE 100.0 * u END AS value,
               NULL::VARCHAR AS value_text,
               'bench' AS source_id, 'bench-batch' AS batch_id,
               TIMESTAMP '2026-07-01' AS retrieved_at, DATE '2026-07-01' AS source_updated,
               'bench.json' AS source_file, row_id AS source_row,
               0.0 AS valid_min, 1000.0 AS valid_max
        FROM base
        """
    ).to_arrow_table()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--bad-share", type=float, default=0.03)
    ap.add_argument("--skip-gx", action="store_true")
    args = ap.parse_args()

    from flows.validate import default_params, gx_validate, load_suite, quarantine_split

    suite = load_suite("fact_observation")
    params = {**default_params(), "known_countries": ["BLZ", "CRI", "GTM", "HND", "MEX", "NIC", "PAN", "SLV", "USA"]}
    batch = make_batch(args.rows, args.bad_share)
    # value_text must carry the value's text for the value_is_number rule; fill it in Arrow
    batch = batch.set_column(batch.schema.get_field_index("value_text"), "value_text", batch["value"].cast(pa.string()))

    t = time.perf_counter()
    good, bad, counts = quarantine_split(batch, suite, params, source="bench", file="bench.json")
    duck = time.perf_counter() - t
    failing_rows = len(set(bad.column("row_id").to_pylist()))
    print(f"batch: {args.rows:,} rows, {failing_rows:,} failing ({failing_rows / args.rows:.2%}), {bad.num_rows:,} quarantine rows")
    print(f"duckdb engine: {duck:.2f} s, {args.rows / duck:,.0f} rows/s (every failing row with rule, value and reason)")
    if not args.skip_gx:
        t = time.perf_counter()
        result = gx_validate(batch, suite, params)
        gx = time.perf_counter() - t
        listed = sum(len(r["result"].get("unexpected_index_list") or []) for r in result["results"])
        print(f"great expectations alone: {gx:.2f} s, {args.rows / gx:,.0f} rows/s ({listed:,} failing row ids listed, values capped at 200 per rule)")
        print(f"ratio GX / DuckDB engine: {gx / duck:.1f}x")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
