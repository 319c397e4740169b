"""The publish protocol: readers never blocked or shown a half state, crashes leave the published
warehouse intact, old publishes kept and restorable, BI clients of older DuckDB releases served."""
from __future__ import annotations

import json
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
