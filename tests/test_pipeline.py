"""The nightly pipeline end to end, through Prefect, on the bundled snapshot."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SHARED_DATA

TABLES = ["dim_country", "dim_indicator", "dim_commitment", "bridge_commitment_indicator", "fact_observation", "quarantine", "run_log"]


def ro(home: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(home / "ciw.duckdb"), read_only=True)


def one(con, sql, **params):
    return con.sql(sql, params=params).fetchall()[0][0]


def test_run_publishes_every_table_and_the_mart(published):
    con = ro(published)
    counts = {t: one(con, f"SELECT count(*) FROM {t}") for t in TABLES}
    assert counts["dim_country"] == 11  # nine economies and two regions
    assert counts["dim_commitment"] >= 18
    assert counts["fact_observation"] > 5_000
    assert counts["bridge_commitment_indicator"] >= 20
    assert counts["run_log"] >= 1
    statuses = dict(con.sql("SELECT status, count(*) FROM mart_commitment_progress GROUP BY 1").fetchall())
    assert set(statuses) <= {"target_achieved", "on_track", "needs_acceleration", "limited_progress", "deterioration", "not_available"}
    assert statuses.get("on_track", 0) > 0 and statuses.get("deterioration", 0) > 0
    # every fact row says where it came from
    assert one(con, "SELECT count(*) FROM fact_observation WHERE source_id IS NULL OR batch_id IS NULL OR retrieved_at IS NULL") == 0


def test_lake_manifest_names_parquet_files_that_hold_the_same_rows(published):
    manifest = json.loads((published / "lake" / "manifest.json").read_text())
    con = ro(published)
    for table in TABLES:
        entries = manifest["tables"][table]
        files = [str(published / "lake" / e["path"]) for e in entries]
        assert files, table
        n = duckdb.sql("SELECT count(*) FROM read_parquet($f, hive_partitioning=false)", params={"f": files}).fetchall()[0][0]
        assert n == one(con, f"SELECT count(*) FROM {table}") == sum(e["rows"] for e in entries), table
    facts = manifest["tables"]["fact_observation"]
    assert all(e["path"].endswith(".parquet") and "source_id=" in e["path"] for e in facts)
    for e in facts:  # one file per source, in the Hive folder that names it
        folder = e["path"].split("source_id=")[1].split("/")[0]
        held = duckdb.sql("SELECT DISTINCT source_id FROM read_parquet($f, hive_partitioning=false)",
                          params={"f": str(published / "lake" / e["path"])}).fetchall()
        assert held == [(folder,)], e["path"]
    assert len({e["path"].split("source_id=")[1].split("/")[0] for e in facts}) == len(facts) > 1
    assert min(e["min"]["year"] for e in facts) >= "2000"


def test_every_commitment_is_linked_or_says_why_not(published):
    con = ro(published)
    orphans = con.sql(
        "SELECT commitment_id, text FROM dim_commitment c WHERE measurability = 'measured' "
        "AND NOT EXISTS (SELECT 1 FROM bridge_commitment_indicator b WHERE b.commitment_id = c.commitment_id)"
    ).fetchall()
    assert orphans == []
    unexplained = one(con, "SELECT count(*) FROM dim_commitment WHERE measurability = 'not_measurable' AND coalesce(measurability_note, '') = ''")
    assert unexplained == 0


def test_baseline_is_the_last_value_at_or_before_2017(published):
    con = ro(published)
    row = con.sql(
        "SELECT baseline_year, baseline_value, latest_year, latest_value, status FROM mart_commitment_progress "
        "WHERE indicator_id = 'VC.IHR.PSRC.P5' AND country_iso3 = 'SLV' LIMIT 1"
    ).fetchall()[0]
    facts = dict(con.sql("SELECT year, value FROM fact_observation WHERE indicator_id = 'VC.IHR.PSRC.P5' AND country_iso3 = 'SLV'").fetchall())
    assert row[0] == max(y for y in facts if y <= 2017)
    assert row[1] == facts[row[0]]
    assert row[2] == max(facts) and row[3] == facts[max(facts)]
    # El Salvador's homicide rate fell steeply after 2017; lower is better
    assert row[3] < row[1] and row[4] == "on_track"


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data not present")
def test_every_fact_equals_the_published_figure(published):
    """Each World Bank value in the warehouse is the figure in the publisher's file."""
    con = ro(published)
    datahub = SHARED_DATA / "wdi_datahub"
    con.sql(
        "CREATE TEMP TABLE published AS SELECT upper(replace(regexp_extract(filename, '([^/]+)\\.csv$', 1), '_', '.')) AS indicator_id, "
        "\"Country Code\" AS country_iso3, CAST(\"Year\" AS VARCHAR) AS period, CAST(\"Value\" AS DOUBLE) AS value "
        "FROM read_csv($files, filename=true, union_by_name=true, all_varchar=true)",
        params={"files": [str(p) for p in sorted(datahub.glob("*.csv")) if p.name != "_index.csv"]},
    )
    compared, mismatched = con.sql(
        "SELECT count(*), count(*) FILTER (WHERE f.value <> p.value) FROM fact_observation f "
        "JOIN published p USING (indicator_id, country_iso3, period)"
    ).fetchall()[0]
    missing = one(con, "SELECT count(*) FROM fact_observation f WHERE f.source_id = 'worldbank' AND f.indicator_id NOT LIKE 'GOV_WGI%' "
                       "AND f.indicator_id <> 'EG.ELC.LOSS.ZS' AND f.indicator_id NOT LIKE '%.STD.ERR' "
                       "AND NOT EXISTS (SELECT 1 FROM published p WHERE p.indicator_id = f.indicator_id AND p.country_iso3 = f.country_iso3 AND p.period = f.period)")
    assert compared > 5_000 and mismatched == 0 and missing == 0
    wgi = con.sql(
        "SELECT count(*), count(*) FILTER (WHERE f.value <> CAST(w.estimate AS DOUBLE)) FROM fact_observation f "
        "JOIN read_csv($f, all_varchar=true) w ON f.indicator_id = 'GOV_WGI_' || upper(w.indicator) || '.EST' "
        "AND f.country_iso3 = w.code AND f.period = w.year",
        params={"f": str(SHARED_DATA / "wgi" / "wgi_2024_central_america.csv")},
    ).fetchall()[0]
    assert wgi[0] >= 6 * 9 * 20 and wgi[1] == 0


def _table_digests(home: Path) -> dict[str, str]:
    con = ro(home)
    out = {}
    for t in TABLES:
        if t == "run_log":
            continue
        out[t] = one(con, f"SELECT md5(coalesce(string_agg(CAST(x AS VARCHAR), '\n' ORDER BY CAST(x AS VARCHAR)), '')) FROM {t} x")
    return out


@pytest.mark.slow
def test_second_run_on_same_inputs_changes_nothing(prefect_server, ciw_home):
    from flows.pipeline import nightly

    first = nightly()
    digests = _table_digests(ciw_home)
    published_file = (ciw_home / "ciw.duckdb").stat()
    version = json.loads((ciw_home / "lake" / "manifest.json").read_text())["version"]
    second = nightly()  # same input bytes and rules: the source is skipped
    assert _table_digests(ciw_home) == digests
    # nothing changed, so nothing was rebuilt: the same file, the same lake version, the run recorded
    assert (ciw_home / "ciw.duckdb").stat().st_ino == published_file.st_ino
    assert (ciw_home / "ciw.duckdb").stat().st_mtime_ns == published_file.st_mtime_ns
    manifest = json.loads((ciw_home / "lake" / "manifest.json").read_text())
    assert manifest["version"] == version and second["published"] is False
    lake_runs = duckdb.sql("SELECT DISTINCT run_id, status FROM read_parquet($f)", params={
        "f": [str(ciw_home / "lake" / f["path"]) for f in manifest["tables"]["run_log"]]}).fetchall()
    assert (second["run_id"], "skipped") in lake_runs
    third = nightly(full_refresh=True)  # re-validated and re-merged: still nothing changes
    assert _table_digests(ciw_home) == digests
    loaded = {src["source_id"]: src["rows_loaded"] for src in first["sources"]}
    assert len(loaded) > 1 and all(n > 0 for n in loaded.values())  # every source, not one
    assert {src["status"] for src in second["sources"]} == {"skipped"}
    for src in third["sources"]:
        assert src["rows_loaded"] == 0 and src["rows_unchanged"] == loaded[src["source_id"]], src
    con = ro(ciw_home)
    assert one(con, "SELECT count(DISTINCT run_id) FROM run_log") == 3
    per_run = con.sql("SELECT string_agg(DISTINCT status, ',') FROM run_log GROUP BY run_id ORDER BY max(finished_at)").fetchall()
    assert [r[0] for r in per_run] == ["loaded", "skipped", "unchanged"]


@pytest.mark.slow
def test_changed_rules_revalidate_unchanged_input(prefect_server, ciw_home, private_data):
    """A fixed catalog range must reach rows quarantined under the old one, without --full-refresh."""
    from flows.config import settings
    from flows.pipeline import nightly

    nightly(only=["worldbank"])
    catalog = settings().catalog_dir / "indicators" / "worldbank.csv"
    original = catalog.read_text()
    # a stricter plausible range for the homicide rate: some published rates now break it
    catalog.write_text(original.replace("lower,0,500,0.5,abs,violence_youth", "lower,0,20,0.5,abs,violence_youth"))
    try:
        summary = nightly(only=["worldbank"])
    finally:
        catalog.write_text(original)
    [wb] = summary["sources"]
    assert wb["status"] == "ok" and wb["rows_quarantined"] > 0
    con = ro(ciw_home)
    assert one(con, "SELECT count(*) FROM quarantine WHERE rule_id = 'value_not_above_unit_maximum'") == wb["rows_quarantined"]
