"""`ciw quarantine`: read quarantine by source and rule, and re-submit rows after a fix."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flows.cli import main
from flows.config import settings
from tests.test_pipeline import one, ro

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "snapshot" / "worldbank"


@pytest.fixture
def loaded(prefect_server, ciw_home, published):
    shutil.copytree(published, ciw_home)
    return ciw_home


def test_resubmit_after_a_catalog_fix_loads_the_rows_and_keeps_the_record(prefect_server, ciw_home, private_data, tmp_path, capsys):
    from flows.pipeline import ingest_file

    meta, rows = json.loads((SNAPSHOT / "VC.IHR.PSRC.P5.json").read_text())
    rows = [r for r in rows if r["value"] is not None and r["countryiso3code"] == "HND"][:5]
    f = tmp_path / "VC.IHR.PSRC.P5.json"
    f.write_text(json.dumps([{**meta, "total": len(rows)}, rows]))
    catalog = settings().catalog_dir / "indicators" / "worldbank.csv"
    original = catalog.read_text()
    # a wrong catalog entry: Honduras' homicide rates (30-40 per 100,000) exceed this "maximum"
    catalog.write_text(original.replace("lower,0,500,0.5,abs,violence_youth", "lower,0,20,0.5,abs,violence_youth"))
    try:
        summary = ingest_file(path=str(f), source="worldbank")
    finally:
        catalog.write_text(original)
    assert summary["sources"][0]["rows_quarantined"] == 5

    assert main(["quarantine", "--source", "worldbank", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["rule_id"], r["rows"], r["still_held"]) for r in listed] == [("value_not_above_unit_maximum", 5, 5)]
    assert "valid_max = 20" in listed[0]["example"]
    assert main(["quarantine", "--rows", "--rule", "value_not_above_unit_maximum", "--format", "json"]) == 0
    held = json.loads(capsys.readouterr().out)
    assert sorted(r["source_row"] for r in held) == [1, 2, 3, 4, 5] and all(r["source_file"] == f.name for r in held)

    # the catalog is fixed (restored above): re-submit
    assert main(["quarantine", "--resubmit", "--source", "worldbank"]) == 0
    assert "5 loaded" in capsys.readouterr().out
    con = ro(ciw_home)
    assert one(con, "SELECT count(*) FROM quarantine") == 5  # nothing deleted
    assert one(con, "SELECT count(*) FROM quarantine WHERE released_in_run IS NULL") == 0
    # the released rows are the published figures, loaded under their original batch
    assert one(con, "SELECT count(*) FROM fact_observation WHERE batch_id = $b", b=summary["sources"][0]["batch_id"]) == 5
    got = dict(con.sql("SELECT period, value FROM fact_observation WHERE indicator_id = 'VC.IHR.PSRC.P5' AND country_iso3 = 'HND'").fetchall())
    assert all(got[r["date"]] == r["value"] for r in rows)


def test_resubmit_with_nothing_fixed_keeps_rows_held(loaded, tmp_path, capsys):
    from flows.pipeline import ingest_file

    meta, rows = json.loads((SNAPSHOT / "VC.IHR.PSRC.P5.json").read_text())
    row = next(r for r in rows if r["value"] is not None)
    f = tmp_path / "VC.IHR.PSRC.P5.json"
    f.write_text(json.dumps([{**meta, "total": 1}, [{**row, "countryiso3code": "XKX"}]]))
    ingest_file(path=str(f), source="worldbank")
    assert main(["quarantine", "--resubmit", "--source", "worldbank"]) == 0
    assert "0 loaded" in capsys.readouterr().out
    con = ro(loaded)
    assert one(con, "SELECT count(*) FROM quarantine WHERE released_in_run IS NULL AND rule_id = 'known_country'") == 1
