"""`ciw ingest`: one file through the same validate-and-load path, bad input handled honestly."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.test_pipeline import _table_digests, one, ro

FIXTURES = Path(__file__).parent / "fixtures" / "worldbank"
SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "snapshot" / "worldbank"


@pytest.fixture
def loaded(prefect_server, ciw_home, published):
    """A private copy of the published warehouse, so ingest tests can change it."""
    shutil.copytree(published, ciw_home)
    return ciw_home


def page(meta: dict, rows: list[dict]) -> str:
    return json.dumps([meta, rows])


def snapshot_rows(indicator: str) -> tuple[dict, list[dict]]:
    meta, rows = json.loads((SNAPSHOT / f"{indicator}.json").read_text())
    return meta, rows


def test_html_error_page_is_rejected_and_warehouse_unchanged(loaded, tmp_path):
    from flows.pipeline import ingest_file

    before = _table_digests(loaded)
    bad = tmp_path / "NY.GDP.MKTP.CD.json"
    shutil.copy(FIXTURES / "html_error.html", bad)
    summary = ingest_file(path=str(bad), source="worldbank")
    [src] = summary["sources"]
    assert src["status"] == "rejected" and "html" in src["message"].lower() and bad.name in src["message"]
    assert _table_digests(loaded) == before
    con = ro(loaded)
    assert one(con, "SELECT status FROM run_log WHERE run_id = $r", r=summary["run_id"]) == "rejected"


def test_api_error_array_is_rejected_with_its_message(loaded, tmp_path):
    from flows.pipeline import ingest_file

    bad = tmp_path / "XX.json"
    shutil.copy(FIXTURES / "error_120.json", bad)
    summary = ingest_file(path=str(bad), source="worldbank")
    assert summary["sources"][0]["status"] == "rejected"
    assert "120" in summary["sources"][0]["message"]


def test_bad_rows_are_quarantined_and_good_rows_load(loaded, tmp_path):
    """Unknown country, impossible value and conflicting duplicate in an otherwise good file."""
    from flows.pipeline import ingest_file

    meta, rows = snapshot_rows("VC.IHR.PSRC.P5")
    rows = [r for r in rows if r["value"] is not None][:6]
    good = rows[:3]
    unknown = {**rows[3], "countryiso3code": "XKX"}
    negative = {**rows[4], "value": -4.2}
    conflict_a, conflict_b = {**rows[5]}, {**rows[5], "value": rows[5]["value"] + 1}
    f = tmp_path / "VC.IHR.PSRC.P5.json"
    f.write_text(page({**meta, "total": 7}, good + [unknown, negative, conflict_a, conflict_b]))
    before = dict(ro(loaded).sql("SELECT country_iso3 || period, value FROM fact_observation WHERE indicator_id = 'VC.IHR.PSRC.P5'").fetchall())

    summary = ingest_file(path=str(f), source="worldbank")
    [src] = summary["sources"]
    assert src["status"] == "ok" and src["rows_quarantined"] == 4
    con = ro(loaded)
    q = con.sql("SELECT rule_id, source_row, bad_value FROM quarantine WHERE source_file = $f ORDER BY source_row, rule_id", params={"f": f.name}).fetchall()
    assert ("known_country", 4, "XKX") in q
    assert ("value_not_below_unit_minimum", 5, "-4.2") in q
    assert {r[1] for r in q if r[0] == "unique_observation_key"} == {6, 7}
    after = dict(con.sql("SELECT country_iso3 || period, value FROM fact_observation WHERE indicator_id = 'VC.IHR.PSRC.P5'").fetchall())
    assert after == before  # the quarantined rows did not overwrite what was loaded; nothing was lost


def test_uncatalogued_indicator_is_loaded_under_its_source_name_and_flagged(loaded, tmp_path):
    from flows.pipeline import ingest_file

    meta, rows = snapshot_rows("SP.POP.TOTL")
    renamed = [{**r, "indicator": {"id": "SP.POP.TOTL.XX", "value": "Population, test copy"}} for r in rows if r["value"] is not None][:5]
    f = tmp_path / "SP.POP.TOTL.XX.json"
    f.write_text(page({**meta, "total": 5}, renamed))
    ingest_file(path=str(f), source="worldbank")
    con = ro(loaded)
    assert con.sql("SELECT name, is_catalogued FROM dim_indicator WHERE indicator_id = 'SP.POP.TOTL.XX'").fetchall() == [("Population, test copy", False)]
    assert one(con, "SELECT count(*) FROM fact_observation WHERE indicator_id = 'SP.POP.TOTL.XX'") == 5


def test_a_revised_value_replaces_the_old_one_which_stays_queryable(loaded, tmp_path):
    from flows.pipeline import ingest_file

    meta, rows = snapshot_rows("GC.TAX.TOTL.GD.ZS")
    gtm = [r for r in rows if r["value"] is not None and r["countryiso3code"] == "GTM"]
    small, big = gtm[0], gtm[1]
    f = tmp_path / "GC.TAX.TOTL.GD.ZS.json"
    # a 0.5-point revision (small) and a doubling (beyond the 20% review share)
    f.write_text(page({**meta, "total": 2}, [{**small, "value": small["value"] + 0.5}, {**big, "value": big["value"] * 2}]))
    summary = ingest_file(path=str(f), source="worldbank")
    [src] = summary["sources"]
    assert src["rows_loaded"] == 2 and src["rows_revised"] == 2 and src["revisions_flagged"] == 1
    con = ro(loaded)
    got = one(con, "SELECT value FROM fact_observation WHERE indicator_id = 'GC.TAX.TOTL.GD.ZS' AND country_iso3 = 'GTM' AND period = $p", p=small["date"])
    assert got == pytest.approx(small["value"] + 0.5)
    history = con.sql(
        "SELECT period, value, new_value, flagged_for_review, valid_from < valid_to OR valid_from = valid_to FROM fact_observation_history "
        "WHERE indicator_id = 'GC.TAX.TOTL.GD.ZS' AND country_iso3 = 'GTM' ORDER BY period DESC"
    ).fetchall()
    assert history == [
        (small["date"], small["value"], pytest.approx(small["value"] + 0.5), False, True),
        (big["date"], big["value"], pytest.approx(big["value"] * 2), True, True),
    ]
    assert one(con, "SELECT rows_revised FROM run_log WHERE run_id = $r", r=summary["run_id"]) == 2
