"""WDI-shaped benchmark inputs of a given size, in the World Bank's two real formats.

    json: API v2 pages `<INDICATOR>.p<N>.json`, each `[page-metadata, [rows...]]` with 1,000 rows per
          page, countries in order and years newest first, exactly as api.worldbank.org sends them.
    csv:  bulk-download files `API_<INDICATOR>_DS2_en_csv_v2_<n>.csv`: BOM, four preamble lines, a
          header `Country Name,Country Code,Indicator Name,Indicator Code,1960..2024,` and one line
          per economy with a trailing comma (data/snapshot/worldbank/README.md).

Shape: 266 economies (the 11 catalog countries plus 255 user-assigned codes QAA..QJV), 65 years
(1960-2024), as many indicators as the size needs (10M observations = 579 indicators, about the
non-empty part of the WDI). Values are synthetic and stay in the benchmark's private folder: they
never reach the warehouse.

A known share of rows is bad, split evenly over four faults the suite must catch:
  non_numeric    the value is a string "1,234.5" (API) / a cell 1,234.5 in quotes (CSV)
  out_of_range   the value is 10x the indicator's catalog maximum
  unknown_country a country code no catalog knows (Z.., distinct within a series, so no two of
                 them share a key and each breaks one rule only)
  duplicate      an extra row repeating an earlier row's key with another value (the extra row
                 and the row it repeats are both quarantined: neither copy is picked)
The generator writes `expected.json` with the exact numbers the pipeline must report.

Everything is produced by DuckDB in set-based queries; Python only writes the finished texts.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import string
import time
from datetime import date
from itertools import product
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
YEARS = list(range(1960, 2025))
ECONOMIES = 266
PER_PAGE = 1000
VALID_MAX = 1000.0  # every generated indicator's catalog range is [0, 1000]
LAST_UPDATED = date(2026, 10, 27)
FAULTS = ("non_numeric", "out_of_range", "unknown_country", "duplicate")


def economies() -> list[tuple[str, str, str]]:
    """(iso3, wb_id, name): the catalog's countries, then user-assigned codes to reach 266."""
    with open(ROOT / "data" / "catalog" / "countries.csv", newline="", encoding="utf-8") as fh:
        real = [(r["country_iso3"], r["wb_id"] or r["country_iso3"][:2], r["country_name"]) for r in csv.DictReader(fh)]
    taken = {iso for iso, _, _ in real}
    synthetic = [f"Q{a}{b}" for a, b in product(string.ascii_uppercase, repeat=2) if f"Q{a}{b}" not in taken]
    need = ECONOMIES - len(real)
    return real + [(code, f"{code[1:]}", f"Bench economy {code}") for code in synthetic[:need]]


def indicator_ids(n: int) -> list[str]:
    return [f"BENCH.IND.{i:04d}" for i in range(n)]


def _observations_sql(rows: int, bad_share: float) -> str:
    """One row per observation (plus the duplicate extras), with its fault, page and position."""
    per_ind = ECONOMIES * len(YEARS)
    step = _step(bad_share)
    # every `step`-th row is bad; its fault cycles through FAULTS (exact counts, spread evenly)
    fault = (
        f"CASE WHEN {step} > 0 AND r % {step} = {step // 2} THEN (r // {step}) % {len(FAULTS)} END" if step else "NULL"
    )
    return f"""
    WITH base AS (
        SELECT range AS r, range // {per_ind} AS ind, (range // {len(YEARS)}) % {ECONOMIES} AS eco,
               {YEARS[-1]} - range % {len(YEARS)} AS yr, {fault} AS fault
        FROM range({rows})
    ),
    obs AS (
        SELECT r, 0 AS extra, ind, eco, yr, fault FROM base
        UNION ALL  -- a duplicate: the same key again right after the row, with another value
        SELECT r, 1 AS extra, ind, eco, yr, 3 FROM base WHERE fault = 3
    )
    SELECT *, row_number() OVER (PARTITION BY ind ORDER BY r, extra) - 1 AS pos
    FROM obs
    """


def _step(bad_share: float) -> int:
    """Every step-th row is bad."""
    return max(1, round(1 / bad_share)) if bad_share > 0 else 0


def _value_sql() -> str:
    """A deterministic value in [0, 1000) from the row's key, so the same size gives the same bytes."""
    return "round((hash(ind, eco, yr, extra) % 1000000) / 1000.0, 3)"


def _write_texts(con: duckdb.DuckDBPyConnection, sql: str, out: Path) -> int:
    """Write (name, text) rows as files; returns the number of files."""
    n = 0
    reader = con.sql(sql).to_arrow_reader(256)
    for batch in reader:
        names, texts = batch.column(0).to_pylist(), batch.column(1).to_pylist()
        for name, text in zip(names, texts):
            with open(out / name, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            n += 1
    return n


def generate(out: Path, rows: int, fmt: str, bad_share: float = 0.01) -> dict:
    """Write inputs of `rows` observations into `out`; return (and write) what the pipeline must find."""
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    con = duckdb.connect()
    eco = economies()
    n_ind = math.ceil(rows / (ECONOMIES * len(YEARS)))
    inds = indicator_ids(n_ind)
    con.register("economies", _table(con, ["eco", "iso3", "wb_id", "name"], [(i, *e) for i, e in enumerate(eco)]))
    con.register("indicators", _table(con, ["ind", "code", "name"], [(i, c, f"Bench indicator {i} (index)") for i, c in enumerate(inds)]))
    con.sql(f"CREATE TEMP TABLE obs AS {_observations_sql(rows, bad_share)}")
    step = _step(bad_share) or 1
    value = _value_sql()
    # the value as the file carries it, the country code as the file carries it
    con.sql(f"""
        CREATE TEMP VIEW cells AS
        SELECT o.*, i.code, i.name AS ind_name, e.iso3, e.wb_id, e.name AS eco_name,
               CASE WHEN fault = 2 THEN 'Z' || chr(CAST(65 + (r // {step} // 4) % 26 AS INTEGER)) || chr(CAST(65 + (r // {step} // 104) % 26 AS INTEGER))
                    ELSE e.iso3 END AS file_iso3,
               CASE fault WHEN 0 THEN '"1,234.5"' WHEN 1 THEN CAST({VALID_MAX} * 10 + {value} AS VARCHAR)
                          ELSE CAST({value} AS VARCHAR) END AS value_json,
               CASE fault WHEN 0 THEN '"1,234.5"' WHEN 1 THEN CAST({VALID_MAX} * 10 + {value} AS VARCHAR)
                          ELSE CAST({value} AS VARCHAR) END AS value_cell
        FROM obs o JOIN indicators i USING (ind) JOIN economies e USING (eco)
    """)
    if fmt == "json":
        files = _write_json_pages(con, out)
    elif fmt == "csv":
        files = _write_bulk_csv(con, out)
    else:
        raise ValueError(f"unknown format {fmt!r} (json or csv)")
    counts = dict(con.sql("SELECT fault, count(*) FROM obs WHERE extra = 0 AND fault IS NOT NULL GROUP BY 1").fetchall())
    dups = counts.get(3, 0)
    expected = {
        "format": fmt, "observations": rows, "rows_in_files": rows + dups, "indicators": n_ind, "economies": ECONOMIES,
        "files": files, "bad_share": bad_share,
        "faults": {name: counts.get(i, 0) for i, name in enumerate(FAULTS)},
        # rows quarantined: one per bad row, and both copies of a duplicated key
        "quarantined_rows": counts.get(0, 0) + counts.get(1, 0) + counts.get(2, 0) + 2 * dups,
        "loaded_rows": rows - counts.get(0, 0) - counts.get(1, 0) - counts.get(2, 0) - dups,
        "bytes": sum(p.stat().st_size for p in out.iterdir() if p.is_file()),
        "generated_in_s": round(time.perf_counter() - t0, 1),
    }
    # The CSV layout has one cell per key: a duplicate is a second line for the same economy
    (out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")
    return expected


def _table(con: duckdb.DuckDBPyConnection, names: list[str], rows: list[tuple]):  # -> pa.Table
    import pyarrow as pa

    cols = list(zip(*rows)) if rows else [[] for _ in names]
    return pa.table({n: list(c) for n, c in zip(names, cols)})


def _write_json_pages(con: duckdb.DuckDBPyConnection, out: Path) -> int:
    meta = f'"per_page":{PER_PAGE},"sourceid":"2","lastupdated":"{LAST_UPDATED}"'
    return _write_texts(con, f"""
        WITH rows AS (
            SELECT ind, code, pos // {PER_PAGE} + 1 AS page, pos,
                   '{{"indicator":{{"id":"' || code || '","value":"' || ind_name || '"}},"country":{{"id":"' || wb_id
                   || '","value":"' || eco_name || '"}},"countryiso3code":"' || file_iso3 || '","date":"' || yr
                   || '","value":' || value_json || ',"unit":"","obs_status":"","decimal":1}}' AS js
            FROM cells
        ),
        totals AS (SELECT ind, count(*) AS total FROM rows GROUP BY ind)
        SELECT code || '.p' || page || '.json' AS name,
               '[{{"page":' || page || ',"pages":' || ((total + {PER_PAGE - 1}) // {PER_PAGE}) || ',' || '{meta}'
               || ',"total":' || total || '}},' || chr(10) || '[' || chr(10)
               || string_agg(js, ',' || chr(10) ORDER BY pos) || chr(10) || ']]' || chr(10) AS text
        FROM rows JOIN totals USING (ind)
        GROUP BY ind, code, page, total
        ORDER BY ind, page
    """, out)


def _write_bulk_csv(con: duckdb.DuckDBPyConnection, out: Path) -> int:
    header = ",".join(f'"{c}"' for c in ["Country Name", "Country Code", "Indicator Name", "Indicator Code", *map(str, YEARS)]) + ","
    preamble = f'\ufeff"Data Source","World Development Indicators",\n\n"Last Updated Date","{LAST_UPDATED}",\n\n{header}\n'
    # one line per (indicator, economy, copy): a duplicate is a second line for the same economy
    # carrying only the duplicated year; the year columns are filled from a pivot
    cells = ", ".join(f"max(CASE WHEN yr = {y} THEN value_cell END) AS y{y}" for y in YEARS)
    line = " || ',' || ".join(f"coalesce(CASE WHEN starts_with(y{y}, '\"') THEN y{y} ELSE '\"' || y{y} || '\"' END, '\"\"')" for y in YEARS)
    return _write_texts(con, f"""
        WITH wide AS (
            SELECT ind, code, ind_name, eco, extra, any_value(eco_name) AS eco_name, any_value(file_iso3) AS iso3, {cells}
            FROM cells GROUP BY ind, code, ind_name, eco, extra, (CASE WHEN fault = 2 THEN r END)
        ),
        lines AS (
            SELECT ind, code, eco, extra,
                   '"' || eco_name || '","' || iso3 || '","' || ind_name || '","' || code || '",' || {line} || ',' AS text
            FROM wide
        )
        SELECT 'API_' || code || '_DS2_en_csv_v2_' || (ind + 1000) || '.csv' AS name,
               '{preamble}' || string_agg(text, chr(10) ORDER BY eco, extra, text) || chr(10) AS text
        FROM lines GROUP BY ind, code ORDER BY ind
    """, out)


def catalog_rows(n_ind: int) -> list[dict]:
    """The benchmark catalog's indicator rows (range [0, 1000], so out_of_range rows fail)."""
    return [
        {"indicator_id": code, "name": f"Bench indicator {i} (index)", "unit": "index", "source_id": "worldbank",
         "publisher": "World Bank (benchmark input)", "licence": "CC BY 4.0", "direction": "higher",
         "valid_min": 0, "valid_max": VALID_MAX, "flat_band": 1, "flat_band_kind": "abs", "theme": "benchmark",
         "notes": "Synthetic benchmark series (bench/wdi_inputs.py); never in a real warehouse."}
        for i, code in enumerate(indicator_ids(n_ind))
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description="Write WDI-shaped benchmark inputs.")
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--format", choices=["json", "csv"], default="json")
    ap.add_argument("--bad-share", type=float, default=0.01)
    args = ap.parse_args()
    print(json.dumps(generate(args.out, args.rows, args.format, args.bad_share), indent=1))


if __name__ == "__main__":
    main()
