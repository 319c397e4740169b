"""The publish protocol: readers never blocked or shown a half state, crashes leave the published
warehouse intact, old publishes kept and restorable, BI clients of older DuckDB releases served."""
from __future__ import annotations

import json
from datetime import datetime
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.config import settings
from flows.load import Build
from tests.compat import compat_python, run_python
from tests.test_pipeline import TABLES, _table_digests, one, ro

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "data" / "snapshot" / "worldbank"


@pytest.fixture
def home(prefect_server, ciw_home, published) -> Path:
    shutil.copytree(published, ciw_home)
    return ciw_home


def revision_file(tmp_path: Path, bump: float = 0.5) -> tuple[Path, str, float]:
    """A real World Bank page with one value revised (what a new WDI release looks like)."""
    meta, rows = json.loads((SNAPSHOT / "GC.TAX.TOTL.GD.ZS.json").read_text())
    row = next(r for r in rows if r["value"] is not None and r["countryiso3code"] == "SLV")
    f = tmp_path / "GC.TAX.TOTL.GD.ZS.json"
    f.write_text(json.dumps([{**meta, "total": 1}, [{**row, "value": row["value"] + bump}]]))
    return f, row["date"], row["value"] + bump


def ciw_subprocess(home: Path, api_url: str, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", *args], cwd=ROOT, start_new_session=True,
        env={**os.environ, "CIW_HOME": str(home), "PREFECT_API_URL": api_url, **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


READER = r"""
import json, os, sys, duckdb
path, out, stop, mode = sys.argv[1:5]
Q = ("SELECT (SELECT max(run_id) FROM run_log), (SELECT count(*) FROM fact_observation), "
     "(SELECT round(sum(value), 6) FROM fact_observation WHERE indicator_id = 'GC.TAX.TOTL.GD.ZS'), "
     "(SELECT count(*) FROM mart_commitment_progress)")
held = duckdb.connect(path, read_only=True) if mode == "held" else None
seen, errors = [], []
while not os.path.exists(stop):
    try:
        if held is not None:
            seen.append(list(held.sql(Q).fetchall()[0]))
        else:  # DuckDB caches one database per path and process: close before reconnecting
            con = duckdb.connect(path, read_only=True)
            seen.append(list(con.sql(Q).fetchall()[0]))
            con.close()
    except Exception as exc:
        errors.append(repr(exc))
json.dump({"seen": seen, "errors": errors}, open(out, "w"))
"""


def test_readers_are_never_blocked_nor_shown_a_half_state(home, tmp_path):
    from flows.pipeline import ingest_file, nightly

    stop = tmp_path / "stop"
    readers = {
        mode: (tmp_path / f"{mode}.json", subprocess.Popen(
            [sys.executable, "-c", READER, str(home / "ciw.duckdb"), str(tmp_path / f"{mode}.json"), str(stop), mode]))
        for mode in ("held", "fresh")
    }
    try:
        time.sleep(1.0)
        f, _, _ = revision_file(tmp_path)
        ingest_file(path=str(f), source="worldbank")  # publish 1: a revised value
        nightly(only=["worldbank"])  # publish 2: the snapshot value again
        time.sleep(1.0)
    finally:
        stop.touch()
        for _, proc in readers.values():
            proc.wait(timeout=60)
    held = json.loads(readers["held"][0].read_text())
    fresh = json.loads(readers["fresh"][0].read_text())
    assert held["errors"] == [] and fresh["errors"] == []
    assert len(fresh["seen"]) > 20 and len(held["seen"]) > 20
    # a connection held from the start keeps reading the state it opened, undisturbed
    assert all(r == held["seen"][0] for r in held["seen"])
    # new connections see whole states only, in publish order: each run id pairs with one state
    states: dict[str, tuple] = {}
    for run_id, *rest in fresh["seen"]:
        assert states.setdefault(run_id, tuple(rest)) == tuple(rest)
    order = [r[0] for r in fresh["seen"]]
    assert order == sorted(order) and len(states) == 3
    assert len({v[1] for v in states.values()}) == 2  # the revision showed, then was replaced


@pytest.mark.parametrize("point", ["extract", "load", "write_lake", "before_swap"])
def test_sigkill_at_any_point_leaves_the_published_warehouse_intact(home, prefect_server, tmp_path, point):
    from flows.pipeline import nightly

    before = _table_digests(home)
    version = json.loads((home / "lake" / "manifest.json").read_text())["version"]
    marker = tmp_path / "paused"
    proc = ciw_subprocess(home, prefect_server, "run", "--full-refresh", "--source", "worldbank", CIW_PAUSE_AT=point, CIW_PAUSE_MARKER=str(marker))
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, f"run never reached {point}"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    assert _table_digests(home) == before
    assert json.loads((home / "lake" / "manifest.json").read_text())["version"] == version
    summary = nightly(full_refresh=True, only=["worldbank"])  # no manual cleanup
    assert summary["sources"][0]["status"] == "ok"
    assert list((home / ".work").iterdir()) == []
    kept = set(json.loads((home / "lake" / "manifest.json").read_text())["history"])
    assert {p.name for p in (home / "lake" / "versions").iterdir()} == kept


def test_rollback_restores_the_previous_publish(home, tmp_path):
    from flows.cli import main
    from flows.pipeline import ingest_file

    before = _table_digests(home)
    f, period, revised = revision_file(tmp_path)
    ingest_file(path=str(f), source="worldbank")
    q = "SELECT value FROM fact_observation WHERE indicator_id = 'GC.TAX.TOTL.GD.ZS' AND country_iso3 = 'SLV' AND period = $p"
    assert one(ro(home), q, p=period) == pytest.approx(revised)
    assert main(["rollback"]) == 0
    assert _table_digests(home) == before
    assert one(ro(home), q, p=period) != pytest.approx(revised)


def test_previous_publishes_stay_queryable(home, tmp_path):
    import duckdb

    from flows.config import settings
    from flows.load import published_versions, version_path
    from flows.pipeline import ingest_file

    f, period, revised = revision_file(tmp_path)
    ingest_file(path=str(f), source="worldbank")
    versions = published_versions(settings())
    assert len(versions) >= 2
    con = duckdb.connect(str(version_path(settings(), versions[-2])), read_only=True)
    assert one(con, "SELECT max(run_id) FROM run_log") == versions[-2]
    q = "SELECT value FROM fact_observation WHERE indicator_id = 'GC.TAX.TOTL.GD.ZS' AND country_iso3 = 'SLV' AND period = $p"
    assert one(con, q, p=period) != pytest.approx(revised)
    assert one(ro(settings().warehouse_dir), q, p=period) == pytest.approx(revised)


def test_file_does_not_grow_run_after_run(home):
    from flows.pipeline import nightly

    sizes = []
    for _ in range(3):
        nightly(full_refresh=True, only=["worldbank"])
        sizes.append((home / "ciw.duckdb").stat().st_size)
    assert max(sizes) <= sizes[0] * 1.02, sizes


@pytest.mark.parametrize("version", ["1.4.0", "1.5.6"])
def test_older_duckdb_clients_read_the_published_file(published, version):
    py = compat_python(f"duckdb-{version}", [f"duckdb=={version}"])
    code = (
        "import duckdb, sys, json\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "print(json.dumps({'version': duckdb.__version__, 'tables': {t: con.sql(f'SELECT count(*) FROM {t}').fetchall()[0][0] for t in sys.argv[2:]},"
        " 'mart': con.sql('SELECT count(*) FROM mart_commitment_progress').fetchall()[0][0]}))\n"
    )
    done = run_python(py, code, str(published / "ciw.duckdb"), *TABLES)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    con = ro(published)
    assert got["version"] == version
    assert got["tables"] == {t: one(con, f"SELECT count(*) FROM {t}") for t in TABLES}
    assert got["mart"] == one(con, "SELECT count(*) FROM mart_commitment_progress")


def test_superset_style_sqlalchemy_reflection(published):
    """duckdb-engine 0.17 with the SQLAlchemy pin documented in the README."""
    py = compat_python("superset", ["duckdb==1.5.6", "duckdb-engine==0.17.0", "sqlalchemy==2.0.54"])
    code = (
        "import sys, json\n"
        "from sqlalchemy import create_engine, inspect, text\n"
        "engine = create_engine(f'duckdb:///{sys.argv[1]}?access_mode=read_only')\n"
        "insp = inspect(engine)\n"
        "out = {'tables': sorted(insp.get_table_names()), 'views': sorted(insp.get_view_names()),"
        " 'columns': [c['name'] for c in insp.get_columns('fact_observation')],"
        " 'mart_columns': [c['name'] for c in insp.get_columns('mart_commitment_progress')]}\n"
        "with engine.connect() as c:\n"
        "    out['statuses'] = sorted(r[0] for r in c.execute(text('SELECT DISTINCT status FROM mart_commitment_progress')))\n"
        "print(json.dumps(out))\n"
    )
    done = run_python(py, code, str(published / "ciw.duckdb"))
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert set(TABLES) <= set(got["tables"])
    assert "mart_commitment_progress" in got["tables"]  # marts are materialised at publish
    assert got["columns"][:9] == ["indicator_id", "country_iso3", "period", "period_type", "period_start", "period_end", "year", "sex", "breakdown"]
    assert "status" in got["mart_columns"] and "on_track" in got["statuses"]


def test_the_build_takes_its_memory_limit_from_the_settings(ciw_home, monkeypatch):
    monkeypatch.setenv("CIW_MEMORY_LIMIT", "300MB")
    b = Build(settings(), "20990101T000000Z-memory")
    try:
        limit = b.con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
        assert limit.replace(" ", "") in ("286.1MiB", "300.0MB")  # DuckDB prints it in its own unit
    finally:
        b.abort()


def _reference_build(run_id: str, inputs: str) -> Build:
    from flows import steps
    from flows.catalog import read_catalog

    s = settings()
    b = Build(s, run_id, inputs)
    steps.load_reference(s, b, read_catalog(s), steps.extract_commitments(s))
    return b


def test_a_build_starts_from_the_file_published_with_the_same_inputs(ciw_home):
    import duckdb
    import pyarrow as pa

    from flows.contracts import contract
    from flows.load import record_runs_only

    def run_row(run_id: str, status: str) -> pa.Table:
        row = {"run_id": run_id, "source_id": "worldbank", "batch_id": "b", "status": status,
               "started_at": datetime(2099, 1, 1), "finished_at": datetime(2099, 1, 1), "rows_in": 0, "rows_null": 0,
               "rows_loaded": 0, "rows_unchanged": 0, "rows_quarantined": 0, "rows_revised": 0, "revisions_flagged": 0}
        return pa.Table.from_pylist([row], schema=contract("run_log").arrow_schema())

    first = _reference_build("20990101T000001Z-first", "inputs-a")
    assert not first.from_previous_file  # nothing published yet: from the (empty) lake
    first.insert("run_log", run_row("20990101T000001Z-first", "unchanged"))
    first.finish()
    # a run that changed nothing adds its run_log row to the lake only
    record_runs_only(settings(), run_row("20990101T000002Z-quiet", "skipped"))

    same = Build(settings(), "20990101T000003Z-same", "inputs-a")
    try:
        assert same.from_previous_file
        assert same.con.sql("SELECT run_id FROM run_log ORDER BY run_id").fetchall() == [
            ("20990101T000001Z-first",), ("20990101T000002Z-quiet",)]
        published = duckdb.connect(str(settings().db_path), read_only=True)
        for table in ("dim_country", "dim_indicator", "quarantine"):
            want = published.sql(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            assert same.con.sql(f"SELECT * FROM {table} ORDER BY ALL").fetchall() == want, table
        published.close()
    finally:
        same.abort()
    other = Build(settings(), "20990101T000004Z-other", "inputs-b")  # catalog, SQL or contracts changed
    try:
        assert not other.from_previous_file
        assert other.con.sql("SELECT count(*) FROM dim_country").fetchall()[0][0] > 0  # from the lake
    finally:
        other.abort()


def test_a_copied_file_that_is_mostly_free_blocks_is_rebuilt_from_the_lake(ciw_home):
    import duckdb

    from flows import lake
    from flows.load import version_path

    _reference_build("20990101T000001Z-first", "inputs-a").finish()
    version = lake.read_manifest(settings().lake_dir)["version"]
    con = duckdb.connect(str(version_path(settings(), version)))  # what replaced rows and marts leave behind
    con.sql("CREATE TABLE garbage AS SELECT range AS n, md5(CAST(range AS VARCHAR)) AS h FROM range(3000000)")
    con.sql("CHECKPOINT")
    con.sql("DROP TABLE garbage")
    con.sql("CHECKPOINT")
    con.close()
    again = Build(settings(), "20990101T000002Z-again", "inputs-a")
    try:
        assert not again.from_previous_file
        free = again.con.sql("SELECT free_blocks FROM pragma_database_size() WHERE database_name = current_database()").fetchall()[0][0]
        assert free == 0 and again.con.sql("SELECT count(*) FROM dim_country").fetchall()[0][0] > 0
    finally:
        again.abort()


def test_a_partition_no_run_changed_is_linked_into_the_next_lake_version(ciw_home):
    """Unchanged sources' Parquet files are hard-linked, not rewritten; an added row or a revision
    rewrites its source's file; the lake always holds what the DuckDB file holds."""
    import duckdb
    import pyarrow as pa

    from flows import lake
    from flows.duck import registered
    from tests.test_integrity import _fact_row

    def facts(b: Build, source: str, periods: list[str], value: float = 1.5) -> pa.Table:
        rows = [_fact_row(b).to_pylist()[0] | {"source_id": source, "period": p, "value": value} for p in periods]
        return pa.Table.from_pylist(rows, schema=_fact_row(b).schema)

    def files() -> dict[str, os.stat_result]:
        m = lake.read_manifest(settings().lake_dir)
        return {Path(e["path"]).parent.name: (settings().lake_dir / e["path"]).stat() for e in m["tables"]["fact_observation"]}

    def lake_matches_file() -> None:
        m = lake.read_manifest(settings().lake_dir)
        paths = [str(settings().lake_dir / e["path"]) for e in m["tables"]["fact_observation"]]
        con = duckdb.connect(str(settings().db_path), read_only=True)
        in_file = con.sql("SELECT indicator_id, period, value, source_id FROM fact_observation ORDER BY ALL").fetchall()
        in_lake = con.sql("SELECT indicator_id, period, value, source_id FROM read_parquet($p, hive_partitioning=false) ORDER BY ALL",
                          params={"p": paths}).fetchall()
        con.close()
        assert in_file == in_lake and len(in_file) == sum(e["rows"] for e in m["tables"]["fact_observation"])

    b = _reference_build("20990101T000001Z-one", "inputs-a")
    b.insert("fact_observation", facts(b, "worldbank", ["2019", "2020"]))
    b.insert("fact_observation", facts(b, "owid", ["2017"]))
    b.finish()
    first = files()
    lake_matches_file()

    b = _reference_build("20990101T000002Z-two", "inputs-a")
    b.insert("fact_observation", facts(b, "owid", ["2021"]))  # owid gains a row
    b.finish()
    second = files()
    assert second["source_id=worldbank"].st_ino == first["source_id=worldbank"].st_ino
    assert second["source_id=owid"].st_ino != first["source_id=owid"].st_ino
    lake_matches_file()

    b = _reference_build("20990101T000003Z-three", "inputs-a")
    with registered(b.con, _incoming=facts(b, "worldbank", ["2020"], value=2.5)):  # a revision: same count
        counts = b.merge_observations(1, "worldbank")
    assert counts.changed == 1
    b.finish()
    third = files()
    assert third["source_id=worldbank"].st_ino != second["source_id=worldbank"].st_ino
    assert third["source_id=owid"].st_ino == second["source_id=owid"].st_ino
    lake_matches_file()

    b = _reference_build("20990101T000004Z-four", "inputs-b")  # contracts may have changed: all written anew
    b.finish()
    assert all(files()[k].st_ino != third[k].st_ino for k in third)
    lake_matches_file()


def test_a_published_file_someone_wrote_into_is_not_copied(ciw_home):
    import duckdb

    from flows import lake
    from flows.load import version_path

    _reference_build("20990101T000001Z-first", "inputs-a").finish()
    version = lake.read_manifest(settings().lake_dir)["version"]
    con = duckdb.connect(str(version_path(settings(), version)))  # an analyst's own table, by mistake
    con.sql("CREATE TABLE my_scratch AS SELECT 1 AS x")
    con.close()
    again = Build(settings(), "20990101T000002Z-again", "inputs-a")
    try:
        assert not again.from_previous_file
        assert again.con.sql("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'my_scratch'").fetchall()[0][0] == 0
    finally:
        again.abort()
