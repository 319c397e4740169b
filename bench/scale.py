"""The whole pipeline at WDI scale, next to the physical floor measured in the same run.

    .venv/bin/python bench/scale.py --sizes 100k,1M,10M --formats json,csv

For each size and format it generates WDI-shaped inputs (bench/wdi_inputs.py: real API JSON pages
or bulk CSV files, 1% bad rows of four kinds), then runs, each in its own process:

  floor      DuckDB alone: read the files, write the table into a DuckDB file and a Parquet file
  floor_fact the same, the rows in fact_observation's 23 columns (what ciw must store), no rules
  ciw        `nightly(only=["worldbank"])`, the real flow, into an empty warehouse (first load)
  reload     the same inputs again with full_refresh (every row re-validated and merged: idempotent)
  noop       the same inputs again, a normal night: nothing changed
  queries    the saved analyst queries and a full read of each mart, on the published file
  dlt        dlt replace and merge of the parsed Arrow table into DuckDB (when dlt is importable)

and prints per stage seconds, rows/s, peak RSS and the ratio to the floor. The floor's Parquet is
written twice: with DuckDB's defaults (the floor the issue measured its reference figures against)
and in any row order, as ciw writes its lake (the strict floor); the wide floor writes ciw's output
shape the strict way. Ratios are printed against all three. Both floors run again after ciw and
the faster run of each is the baseline: on a shared machine one run can be 10-30% off, and a slow
floor would flatter ciw. Runs go through a local Prefect
server started once (as `ciw serve` does in production); Prefect's start-up, the imports and the
GX context are measured apart from the per-row work. Results go to bench/results/.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import wdi_inputs  # noqa: E402

SIZES = {"100k": 100_000, "1M": 1_000_000, "5M": 5_000_000, "10M": 10_000_000}
# the validate-quarantine-load-publish path, then what a run does around it
PATH_STAGES = ["parse", "validate", "quarantine", "load", "marts", "publish"]
OTHER_STAGES = ["prepare", "extract", "gx_record", "data_docs", "dashboard"]


def input_files(inputs: Path) -> list[Path]:
    return sorted(p for p in inputs.iterdir() if p.suffix in (".json", ".csv") and p.name != "expected.json")


# --- the benchmark's private data folder ----------------------------------------------------------
def prepare_data(work: Path, inputs: Path, expected: dict) -> Path:
    """A copy of data/ whose World Bank snapshot is the generated input and whose catalog knows the
    generated economies and indicators (links too, so the progress marts have rows at scale)."""
    data = work / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("*.duckdb"))
    snap = data / "snapshot" / "worldbank"
    shutil.rmtree(snap)
    snap.mkdir()
    names = [p.name for p in input_files(inputs)]
    for name in names:
        (snap / name).symlink_to(inputs / name)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    with open(snap / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["file", "publisher", "address", "licence", "retrieved_at", "sha256", "origin", "note"])
        w.writerows([n, "benchmark", "bench/wdi_inputs.py", "n/a", now, "", "generated", "synthetic"] for n in names)
    catalog = data / "catalog"
    with open(catalog / "countries.csv", "a", newline="", encoding="utf-8") as fh:
        known = {r["country_iso3"] for r in csv.DictReader(open(catalog / "countries.csv", encoding="utf-8"))}
        w = csv.writer(fh, lineterminator="\n")
        w.writerows([iso, wb, name, "Benchmark economy", "false"] for iso, wb, name in wdi_inputs.economies() if iso not in known)
    rows = wdi_inputs.catalog_rows(expected["indicators"])
    with open(catalog / "indicators" / "worldbank.csv", "a", newline="", encoding="utf-8") as fh:
        csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n").writerows(rows)
    links = list(csv.DictReader(open(catalog / "links" / "worldbank.csv", encoding="utf-8")))
    ids = wdi_inputs.indicator_ids(expected["indicators"])
    seen, bench_links = set(), []
    for i, link in enumerate(links):
        key = (link["commitment_id"], ids[i % len(ids)])
        if key not in seen:
            seen.add(key)
            bench_links.append({**link, "indicator_id": key[1], "relation": "proxy", "rationale": "Benchmark link (synthetic series)."})
    with open(catalog / "links" / "zz_benchmark.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(links[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(bench_links)
    return data


# --- workers (each contender in its own process) --------------------------------------------------
def _result(payload: dict) -> None:
    print("RESULT " + json.dumps(payload, default=str), flush=True)


_JSON_PAGE = json.dumps([{
    "indicator": {"id": "VARCHAR", "value": "VARCHAR"}, "country": {"id": "VARCHAR", "value": "VARCHAR"},
    "countryiso3code": "VARCHAR", "date": "VARCHAR", "value": "VARCHAR", "unit": "VARCHAR",
    "obs_status": "VARCHAR", "decimal": "VARCHAR"}])


def _floor_select(files: list[str], fmt: str, shape: str) -> tuple[str, dict]:
    """The best DuckDB alone can do to read the files: the observations as they stand in them (with
    each row's position in its page for the "fact" shape)."""
    if fmt == "json" and shape == "fact":
        return f"""
            SELECT r.indicator.id AS indicator_id, r.countryiso3code AS country_iso3,
                   r.date AS period, TRY_CAST(r.value AS DOUBLE) AS value, filename AS source_file, position AS source_row
            FROM (SELECT filename, unnest(rows) AS r, generate_subscripts(rows, 1) AS position
                  FROM (SELECT filename, json_transform(json, '{_JSON_PAGE}') AS rows
                        FROM read_json_objects($files, format = 'array', filename = true, maximum_object_size = 67108864)
                        WHERE json_type(json) = 'ARRAY'))
        """, {"files": files}
    if fmt == "json":
        return f"""
            SELECT r.indicator.id AS indicator_id, r.indicator.value AS indicator_name, r.country.id AS country_id,
                   r.country.value AS country_name, r.countryiso3code AS country_iso3, r.date AS period,
                   TRY_CAST(r.value AS DOUBLE) AS value, r.unit, r.obs_status, r.decimal, filename AS source_file
            FROM (SELECT filename, unnest(json_transform(json, '{_JSON_PAGE}')) AS r
                  FROM read_json_objects($files, format = 'array', filename = true, maximum_object_size = 67108864)
                  WHERE json_type(json) = 'ARRAY')
        """, {"files": files}
    # the layout given, not sniffed (DuckDB's CSV reader numbers no lines: a fact row's source_row stays null)
    header = next(csv.reader([Path(files[0]).read_text(encoding="utf-8-sig").splitlines()[4]]))
    columns = {name or "_trailing": "VARCHAR" for name in header}
    return """
        SELECT "Indicator Code" AS indicator_id, "Indicator Name" AS indicator_name, "Country Code" AS country_iso3,
               "Country Name" AS country_name, period, TRY_CAST(value AS DOUBLE) AS value, filename AS source_file{row}
        FROM (UNPIVOT (SELECT * EXCLUDE (_trailing) FROM read_csv($files, skip = 5, header = false, columns = $columns,
                                              auto_detect = false, delim = ',', quote = '"', filename = true))
              ON COLUMNS('^[0-9]{4}$') INTO NAME period VALUE value)
        WHERE value <> ''
    """.replace("{row}", ", NULL::BIGINT AS source_row" if shape == "fact" else ""), {"files": files, "columns": columns}


def _as_fact_rows(select: str) -> str:
    """The same rows in fact_observation's 23 columns (schemas/fact_observation.yaml): what ciw must
    store, written by DuckDB alone. The provenance a run adds is constant here; no rule is checked."""
    from flows.contracts import contract

    derived = {
        "period_type": "'year'", "period_start": "make_date(TRY_CAST(period AS INTEGER), 1, 1)",
        "period_end": "make_date(TRY_CAST(period AS INTEGER), 12, 31)", "year": "TRY_CAST(period AS INTEGER)",
        "sex": "'total'", "breakdown": "'total'", "unit": "NULL", "qualifier": "NULL", "note": "NULL",
        "source_id": "'worldbank'", "publisher": "'World Bank'", "licence": "'CC BY 4.0'",
        "source_url": "'https://api.worldbank.org/v2/'", "citation": "NULL", "batch_id": "'worldbank-0123456789abcdef'",
        "retrieved_at": "TIMESTAMP '2026-12-01 00:00:00'", "source_updated": "DATE '2026-07-01'",
        "source_file": "parse_filename(source_file)",
    }
    cols = [f'CAST({derived.get(c.name, c.name)} AS {c.type}) AS "{c.name}"' for c in contract("fact_observation").columns]
    return f"SELECT {', '.join(cols)} FROM ({select})"


def worker_floor(inputs: Path, work: Path, fmt: str, shape: str) -> None:
    """DuckDB alone: the files -> a table in a DuckDB file -> a Parquet file. `shape` "read": the
    columns as read (the floor the issue names); "fact": the same rows in fact_observation's columns."""
    from bench.measure import Recorder

    rec = Recorder()
    import duckdb

    select, params = _floor_select([str(p) for p in input_files(inputs)], fmt, shape)
    if shape == "fact":
        select = _as_fact_rows(select)
    db = work / f"floor-{shape}.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    with rec.stage("read_and_write_table"):
        con.sql(f"CREATE TABLE observations AS {select}", params=params)
        con.sql("CHECKPOINT")
    # Parquet twice: in whatever order DuckDB's threads finish (as ciw writes its lake: keeping the
    # order buffers out-of-order row groups, at 10M rows 1 GB more and a third slower), then with
    # DuckDB's defaults, as the floor was measured. Separate stages, each with its own peak.
    parquet = work / f"floor-{shape}.parquet"
    con.sql("SET preserve_insertion_order = false")
    with rec.stage("write_parquet_any_order"):
        con.sql(f"COPY observations TO '{parquet}' (FORMAT parquet, COMPRESSION zstd)")
    con.sql("RESET preserve_insertion_order")
    if shape == "read":
        with rec.stage("write_parquet"):
            con.sql(f"COPY observations TO '{parquet}' (FORMAT parquet, COMPRESSION zstd)")
    rows = con.sql("SELECT count(*) FROM observations").fetchall()[0][0]
    con.close()
    parquet.unlink(missing_ok=True)
    db.unlink(missing_ok=True)
    _result({"rows": rows, **rec.close()})


def worker_ciw(mode: str) -> None:
    """The real nightly flow for the World Bank source (CIW_HOME/CIW_DATA set by the caller)."""
    t0 = time.perf_counter()
    from bench.measure import Recorder

    rec = Recorder()
    with rec.stage("imports"):
        from flows import stages
        from flows.cli import _prefect_env

        _prefect_env()
        from flows.pipeline import nightly
    marks: dict[str, float] = {}

    def first_and_last(name: str, event: str, _elapsed: float) -> None:
        now = time.perf_counter()
        marks.setdefault("first", now)
        marks["last"] = now

    stages.listen(rec.listener)
    stages.listen(first_and_last)
    t_flow = time.perf_counter()
    summary = nightly(only=["worldbank"], full_refresh=(mode == "reload"))
    t_end = time.perf_counter()
    out = rec.close()
    work_s = marks.get("last", t_end) - marks.get("first", t_flow)
    _result({
        **out, "mode": mode, "process_s": t_end - t0, "flow_s": t_end - t_flow,
        "prefect_startup_s": marks.get("first", t_end) - t_flow, "prefect_finish_s": t_end - marks.get("last", t_end),
        "work_s": work_s, "summary": {k: summary[k] for k in ("tables", "sources", "quarantined", "timings")},
    })


def worker_queries(db: Path) -> None:
    """Analyst queries on the published file: each saved query and a full read of each mart,
    median of 5 runs after one warm-up, in a read-only connection as a BI tool would hold it."""
    import duckdb

    from flows import queries

    con = duckdb.connect(str(db), read_only=True)
    timings: dict[str, float] = {}

    def timed(name: str, fn) -> None:  # noqa: ANN001
        fn()
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t)
        timings[name] = statistics.median(runs)

    marts = [r[0] for r in con.sql("SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'mart_%' ORDER BY 1").fetchall()]
    for m in marts:
        timed(f"SELECT * FROM {m}", lambda m=m: con.sql(f'SELECT * FROM "{m}"').to_arrow_table())
    for q in queries.discover().values():
        bound = q.bind(q.example_params)
        timed(f"ciw query {q.name}", lambda q=q, b=bound: con.sql(q.sql, params=b).to_arrow_table())
    _result({"queries": timings})


def worker_dlt(inputs: Path, work: Path, mode: str) -> None:
    """dlt loading the parsed Arrow table into DuckDB (replace, or merge on the observation key)."""
    import duckdb
    import dlt

    from bench.measure import Recorder
    from flows.sources.worldbank import parse

    rec = Recorder()
    files = input_files(inputs)
    with rec.stage("parse"):
        table = parse(duckdb.connect(), files)
    pipeline = dlt.pipeline(pipeline_name=f"bench_{mode}", destination=dlt.destinations.duckdb(str(work / f"dlt_{mode}.duckdb")),
                            dataset_name="wdi", pipelines_dir=str(work / "dlt"))
    hints = {"write_disposition": mode}
    if mode == "merge":
        hints["primary_key"] = ["indicator_id", "country_iso3", "period"]
    with rec.stage("load"):
        pipeline.run(dlt.resource(table, name="observations", **hints))
    if mode == "merge":  # the idempotent re-load is what merge is for
        with rec.stage("reload"):
            pipeline.run(dlt.resource(table, name="observations", **hints))
    _result({"rows": table.num_rows, **rec.close()})


def find_dlt(given: str | None) -> str | None:
    """A Python that can import dlt: dlt is a baseline, not a dependency of ciw, so it may live in
    its own environment (same duckdb and pyarrow versions as ciw's)."""
    for py in [given] if given else [sys.executable, str(ROOT / ".tools" / "dlt-venv" / "bin" / "python")]:
        if py and Path(py).exists() and subprocess.run([py, "-c", "import dlt"], capture_output=True).returncode == 0:
            return py
    return None


# --- the orchestrator -----------------------------------------------------------------------------
def run_worker(args: list[str], env: dict[str, str], python: str | None = None) -> dict:
    t = time.perf_counter()
    proc = subprocess.run([python or sys.executable, str(Path(__file__)), "worker", *args], env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    line = next((ln for ln in proc.stdout.splitlines()[::-1] if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"worker {args[0]} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return {**json.loads(line[len("RESULT "):]), "wall_s": wall}


def start_prefect(work: Path) -> tuple[object, dict[str, str]]:
    from flows.serve import LocalServer, quiet_env
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = quiet_env(work / "prefect")
    server = LocalServer(work / "prefect", port, env)
    t = time.perf_counter()
    server.start()
    server.wait_healthy()
    return server, {**env, "PREFECT_API_URL": server.api_url, "_startup": f"{time.perf_counter() - t:.2f}"}


def one_case(size_label: str, fmt: str, args: argparse.Namespace, prefect_env: dict[str, str]) -> dict:
    rows = SIZES[size_label] if size_label in SIZES else int(size_label)
    inputs = args.inputs_dir / f"{fmt}-{size_label}-{args.bad_share}"
    if not (inputs / "expected.json").exists():
        shutil.rmtree(inputs, ignore_errors=True)
        print(f"[{size_label} {fmt}] generating inputs ...", flush=True)
        wdi_inputs.generate(inputs, rows, fmt, args.bad_share)
    expected = json.loads((inputs / "expected.json").read_text())
    work = Path(tempfile.mkdtemp(prefix=f"ciw-bench-{fmt}-{size_label}-", dir=args.work_dir))
    try:
        data = prepare_data(work, inputs, expected)
        env = {**os.environ, **{k: v for k, v in prefect_env.items() if not k.startswith("_")},
               "CIW_HOME": str(work / "warehouse"), "CIW_DATA": str(data), "PYTHONPATH": str(ROOT)}
        case: dict = {"size": size_label, "format": fmt, "expected": expected}
        print(f"[{size_label} {fmt}] floor ...", flush=True)
        case["floor"] = run_worker(["floor", str(inputs), str(work), fmt, "read"], env)
        print(f"[{size_label} {fmt}] floor, fact_observation's columns ...", flush=True)
        case["floor_fact"] = run_worker(["floor", str(inputs), str(work), fmt, "fact"], env)
        for mode in ("ciw", "reload", "noop"):
            print(f"[{size_label} {fmt}] {mode} ...", flush=True)
            case[mode] = run_worker(["ciw", mode], env)
        case["queries"] = run_worker(["queries", str(work / "warehouse" / "ciw.duckdb")], env)
        # the floors once more, after ciw: on a shared machine one floor run can be 10-30% off, and
        # the faster of the two is the baseline (the ratios can only get stricter)
        print(f"[{size_label} {fmt}] floors again ...", flush=True)
        case["floor_again"] = run_worker(["floor", str(inputs), str(work), fmt, "read"], env)
        case["floor_fact_again"] = run_worker(["floor", str(inputs), str(work), fmt, "fact"], env)
        if args.dlt:
            for mode in ("replace", "merge"):
                print(f"[{size_label} {fmt}] dlt {mode} ...", flush=True)
                case[f"dlt_{mode}"] = run_worker(["dlt", str(inputs), str(work), mode], env, python=args.dlt)
        check(case)
        return case
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def check(case: dict) -> None:
    """The run must have found exactly the bad rows the generator planted."""
    src = case["ciw"]["summary"]["sources"][0]
    exp = case["expected"]
    got = {"loaded": src["rows_loaded"], "quarantine_rows": src["rows_quarantined"]}
    case["correct"] = (src["status"] == "ok" and src["rows_loaded"] == exp["loaded_rows"]
                       and src["rows_quarantined"] == exp["quarantined_rows"]
                       and case["reload"]["summary"]["sources"][0]["rows_loaded"] == 0  # idempotent
                       and case["noop"]["summary"]["sources"][0]["status"] == "skipped")
    case["found"] = got
    if not case["correct"]:
        print(f"  ! expected {exp['loaded_rows']} loaded and {exp['quarantined_rows']} quarantined rows, got {got} ({src['status']}: {src['message']})")


# --- report ---------------------------------------------------------------------------------------
def _mb(b: float) -> str:
    return f"{b / 2**20:,.0f}"


def stage_rows(case: dict, names: list[str]) -> list[tuple[str, float, float]]:
    """(stage, seconds, peak RSS) of the first load, in pipeline order."""
    st = case["ciw"]["stages"]
    return [(name, st[name]["seconds"], st[name]["peak_rss"]) for name in names if name in st]


def _floor(case: dict, key: str, parquet_stage: str) -> tuple[float, float, list[float]]:
    """(seconds, peak RSS, the seconds of each run) of a floor: its table, then its Parquet written
    as `parquet_stage` says; of its runs (before ciw and after), the faster."""
    runs = []
    for worker in (case[key], case.get(f"{key}_again")):
        if worker:
            used = [worker["stages"]["read_and_write_table"], worker["stages"][parquet_stage]]
            runs.append((sum(u["seconds"] for u in used), max(u["peak_rss"] for u in used)))
    best = min(runs)
    return best[0], best[1], [r[0] for r in runs]


def _runs(seconds: list[float]) -> str:
    return f" (runs {', '.join(f'{x:.1f}' for x in seconds)} s)" if len(seconds) > 1 else ""


def _x(s: float, rss: float, f_s: float, f_rss: float) -> str:
    return f"{s / f_s:.2f}× / {rss / f_rss:.2f}×"


@dataclass(frozen=True)
class _Figures:
    """One case's floors and ciw totals, as both tables of the report read them."""

    floor: tuple[float, float, list[float]]  # seconds, peak RSS, the seconds of each run
    strict: tuple[float, float, list[float]]
    wide: tuple[float, float, list[float]]
    path: list[tuple[str, float, float]]
    others: list[tuple[str, float, float]]

    @property
    def path_s(self) -> float:
        return sum(s for _, s, _ in self.path)

    @property
    def path_rss(self) -> float:
        return max(r for _, _, r in self.path)

    @property
    def after_parse_s(self) -> float:
        """The path without its parse: the work dlt's figures measure too (dlt starts from parsed rows)."""
        return sum(s for name, s, _ in self.path if name != "parse")

    @property
    def after_parse_rss(self) -> float:
        return max(r for name, _, r in self.path if name != "parse")

    @property
    def run_s(self) -> float:
        return self.path_s + sum(s for _, s, _ in self.others)


def _figures(case: dict) -> _Figures:
    return _Figures(_floor(case, "floor", "write_parquet"), _floor(case, "floor", "write_parquet_any_order"),
                    _floor(case, "floor_fact", "write_parquet_any_order"), stage_rows(case, PATH_STAGES),
                    stage_rows(case, OTHER_STAGES))


def _dlt_seconds(d: dict) -> float:
    return sum(v["seconds"] for k, v in d["stages"].items() if k != "parse")  # dlt starts from the parsed table


def summary(cases: list[dict]) -> list[str]:
    """One row per case, each cell time / peak memory as a multiple of that case's floor: the table
    the README's Performance section shows."""
    lines = [
        "| size | format | floor (DuckDB) | strict floor | wide floor (23 columns) | **ciw path** | path vs strict; vs wide floor "
        "| ciw path after parse (as dlt) | ciw whole run | ciw re-load (full refresh) | quiet night (work) | dlt replace | dlt merge | slowest analyst query |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        g = _figures(c)
        (f_s, f_rss, _), (strict_s, strict_rss, _), (wide_s, wide_rss, _) = g.floor, g.strict, g.wide
        dlt = [_x(_dlt_seconds(c[m]), c[m]["peak_rss"], f_s, f_rss) if m in c else "not installed" for m in ("dlt_replace", "dlt_merge")]
        q = c["queries"]["queries"]
        lines.append(
            f"| {c['size']} | {c['format']} | {f_s:.1f} s, {_mb(f_rss)} MB | {_x(strict_s, strict_rss, f_s, f_rss)} "
            f"| {_x(wide_s, wide_rss, f_s, f_rss)} | **{_x(g.path_s, g.path_rss, f_s, f_rss)}** "
            f"| {_x(g.path_s, g.path_rss, strict_s, strict_rss)}; {_x(g.path_s, g.path_rss, wide_s, wide_rss)} "
            f"| {_x(g.after_parse_s, g.after_parse_rss, f_s, f_rss)} | {_x(g.run_s, c['ciw']['peak_rss'], f_s, f_rss)} | {_x(c['reload']['work_s'], c['reload']['peak_rss'], f_s, f_rss)} "
            f"| {c['noop']['work_s']:.1f} s | {dlt[0]} | {dlt[1]} | {max(q.values()) * 1000:.0f} ms |")
    return lines


def report(cases: list[dict], meta: dict) -> str:
    lines = [f"Machine: {meta['machine']}; Prefect server start-up (once): {meta['prefect_server_s']} s", "",
             *summary(cases), ""]
    for c in cases:
        rows = c["expected"]["observations"]
        g = _figures(c)
        (f_s, f_rss, f_runs), (strict_s, strict_rss, strict_runs), (wide_s, wide_rss, wide_runs) = g.floor, g.strict, g.wide
        ciw = c["ciw"]
        lines += [
            f"### {c['size']} observations, {c['format']} ({c['expected']['files']} files, {c['expected']['bytes'] / 2**20:,.0f} MB, "
            f"{c['expected']['quarantined_rows']:,} rows to quarantine) — {'correct' if c['correct'] else 'WRONG COUNTS'}",
            "",
            "| stage | seconds | rows/s | peak RSS MB | x floor time |",
            "|---|---:|---:|---:|---:|",
            f"| floor: DuckDB read + table + Parquet{_runs(f_runs)} | {f_s:.2f} | {rows / f_s:,.0f} | {_mb(f_rss)} | 1.00 |",
            f"| strict floor: the same, Parquet rows in any order{_runs(strict_runs)} | {strict_s:.2f} | {rows / strict_s:,.0f} "
            f"| {_mb(strict_rss)} | {strict_s / f_s:.2f} (memory {strict_rss / f_rss:.2f}) |",
            f"| wide floor: the strict floor writing fact_observation's 23 columns{_runs(wide_runs)} | {wide_s:.2f} "
            f"| {rows / wide_s:,.0f} | {_mb(wide_rss)} | {wide_s / f_s:.2f} (memory {wide_rss / f_rss:.2f}) |",
        ]
        for name, s, rss in g.path:
            lines.append(f"| {name} | {s:.2f} | {rows / s if s else 0:,.0f} | {_mb(rss)} | {s / f_s:.2f} |")
        lines.append(f"| **validate-quarantine-load-publish** (parse to publish) | **{g.path_s:.2f}** | {rows / g.path_s:,.0f} | **{_mb(g.path_rss)}** "
                     f"| **{g.path_s / f_s:.2f}** (memory **{g.path_rss / f_rss:.2f}**); strict floor {g.path_s / strict_s:.2f} "
                     f"(memory {g.path_rss / strict_rss:.2f}); wide floor {g.path_s / wide_s:.2f} (memory {g.path_rss / wide_rss:.2f}) |")
        lines.append(f"| the same after parse, validate to publish (dlt below starts from parsed rows too) | {g.after_parse_s:.2f} "
                     f"| {rows / g.after_parse_s:,.0f} | {_mb(g.after_parse_rss)} | {g.after_parse_s / f_s:.2f} "
                     f"(memory {g.after_parse_rss / f_rss:.2f}) |")
        for name, s, rss in g.others:
            lines.append(f"| {name} (fixed: not per row) | {s:.2f} | | {_mb(rss)} | {s / f_s:.2f} |")
        lines.append(f"| whole run, every stage | {g.run_s:.2f} | {rows / g.run_s:,.0f} | {_mb(ciw['peak_rss'])} "
                     f"| {g.run_s / f_s:.2f} (memory {ciw['peak_rss'] / f_rss:.2f}) |")
        for mode, label in (("reload", "re-load, same input, full refresh (merge)"), ("noop", "nightly, nothing changed")):
            r = c[mode]
            lines.append(f"| {label} | {r['work_s']:.2f} | | {_mb(r['peak_rss'])} | {r['work_s'] / f_s:.2f} (memory {r['peak_rss'] / f_rss:.2f}) |")
        for mode in ("dlt_replace", "dlt_merge"):
            if mode in c:
                d = c[mode]
                d_s = _dlt_seconds(d)
                lines.append(f"| {mode.replace('_', ' ')} (Arrow table -> DuckDB) | {d_s:.2f} | | {_mb(d['peak_rss'])} | "
                             f"{d_s / f_s:.2f} (memory {d['peak_rss'] / f_rss:.2f}) |")
        q = c["queries"]["queries"]
        slowest = max(q, key=q.get)
        lines += ["", f"Start-up, first load: imports {ciw['stages']['imports']['seconds']:.2f} s, Prefect flow start "
                      f"{ciw['prefect_startup_s']:.2f} s, flow finish {ciw['prefect_finish_s']:.2f} s; process total {ciw['process_s']:.1f} s "
                      f"(wall {ciw['wall_s']:.1f} s). No-op night: work {c['noop']['work_s']:.2f} s, process {c['noop']['wall_s']:.1f} s.",
                  f"Analyst queries ({len(q)}): median {statistics.median(q.values()) * 1000:.1f} ms, slowest {q[slowest] * 1000:.1f} ms ({slowest}).", ""]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "floor":
            worker_floor(Path(rest[0]), Path(rest[1]), rest[2], rest[3])
        elif kind == "ciw":
            worker_ciw(rest[0])
        elif kind == "queries":
            worker_queries(Path(rest[0]))
        elif kind == "dlt":
            worker_dlt(Path(rest[0]), Path(rest[1]), rest[2])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100k,1M,10M", help="comma-separated: 100k, 1M, 5M, 10M or a number")
    ap.add_argument("--formats", default="json,csv")
    ap.add_argument("--bad-share", type=float, default=0.01)
    ap.add_argument("--inputs-dir", type=Path, default=Path(tempfile.gettempdir()) / "ciw-bench-inputs",
                    help="generated inputs are kept here and reused by later runs")
    ap.add_argument("--work-dir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep each case's warehouse")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--dlt-python", default=None,
                    help="a Python with dlt[duckdb] installed (default: this one, else .tools/dlt-venv from `make bench-dlt-env`)")
    ap.add_argument("--report", type=Path, default=None, metavar="RESULTS_JSON",
                    help="print the report of a stored run (bench/results/scale-*.json) and exit")
    args = ap.parse_args()
    if args.report:
        stored = json.loads(args.report.read_text())
        print(report(stored["cases"], stored["meta"]))
        return
    args.dlt = find_dlt(args.dlt_python)
    args.inputs_dir.mkdir(parents=True, exist_ok=True)
    prefect_work = Path(tempfile.mkdtemp(prefix="ciw-bench-prefect-"))
    server, prefect_env = start_prefect(prefect_work)
    cases = []
    try:
        for size in args.sizes.split(","):
            for fmt in args.formats.split(","):
                cases.append(one_case(size.strip(), fmt.strip(), args, prefect_env))
    finally:
        server.stop()
        shutil.rmtree(prefect_work, ignore_errors=True)
    meta = {
        "machine": f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
                   f"{platform.machine()}, Python {platform.python_version()}" + ("" if args.dlt else "; dlt not installed (make bench-dlt-env)"),
        "prefect_server_s": prefect_env["_startup"], "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    text = report(cases, meta)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (args.out / f"scale-{stamp}.json").write_text(json.dumps({"meta": meta, "cases": cases}, indent=1, default=str) + "\n")
    (args.out / f"scale-{stamp}.md").write_text(text + "\n")
    if not all(c["correct"] for c in cases):
        sys.exit(1)


if __name__ == "__main__":
    main()
