"""EOR real-time interconnection flows: recorded SCADA answers, the legacy flash CSV, and the fetch."""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from flows.config import Settings
from flows.sources import eor_live as eor
from flows.sources.http import SourceError
from tests.fakeserver import Reply, serving

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "eor_live"
RECORDED = FIXTURES / "scada_2024-04-03.json"
SNAPSHOT = ROOT / "data" / "snapshot" / "eor_live"
FAST = {"retries": 2, "backoff": 0.001, "timeout": 5.0}
SCADA_PATH = "/WebServiceScadaEORRest/webresources/generic"

# The recorded 2024-04-03 values of the seven interconnection points, by link (meter first).
RECORDED_FLOWS = {
    "link=GT-MX": -210.699996948242, "link=SV-GT": -14.0963068008423, "link=HN-GT": -38.9699974060059,
    "link=SV-HN": 74.4163360595703, "link=NI-HN": -109.55534362793, "link=NI-CR": 7.47093057632446,
    "link=CR-PA": 13.1767492294312,
}


def parse(*paths: Path) -> pa.Table:
    return eor.parse(duckdb.connect(), list(paths))


def flows(t: pa.Table) -> dict[str, float]:
    return dict(zip(t.column("breakdown").to_pylist(), t.column("value").to_pylist()))


# --- SCADA JSON -----------------------------------------------------------------------------------
def test_recorded_scada_answer_gives_one_flow_per_link() -> None:
    t = parse(RECORDED)
    assert flows(t) == RECORDED_FLOWS
    assert set(t.column("indicator_id").to_pylist()) == {"EOR.LINK_FLOW.MW"}
    assert set(t.column("country_iso3").to_pylist()) == {"XMR"}
    assert set(t.column("period").to_pylist()) == {"2024-04-03"}
    assert set(t.column("period_type").to_pylist()) == {"date"}
    assert set(t.column("period_start").to_pylist()) == {date(2024, 4, 3)}
    assert t.column("source_row").to_pylist() == [3, 8, 9, 12, 17, 19, 22]  # positions in the JSON array
    row = t.to_pylist()[1]
    assert row["indicator_name"] == "3SISTEMA.LT230.INTER_NET_GT.CMW.MW" and row["unit"] == "MW"
    assert row["value_text"] == "-14.0963068008423" and row["source_url"] == eor.SCADA_URL
    assert "positive = flow out of SV towards GT" in row["note"] and "time of day not recorded" in row["note"]


def test_sign_agrees_with_electricitymaps_recorded_result() -> None:
    """electricitymaps' snapshot for this recording: CR->NI netFlow -7.5 (flow from NI to CR)."""
    ni_cr = flows(parse(RECORDED))["link=NI-CR"]
    assert round(-ni_cr, 1) == -7.5  # their CR->NI is minus the NI meter's reading


def test_points_that_are_not_links_are_ignored() -> None:
    names = set(parse(RECORDED).column("indicator_name").to_pylist())
    assert "5SISTEMA.LT230.INTER_NET_CR_2.CMW.MW" not in names  # a second NI-CR point, not in the mapping
    assert not any(n.endswith(".EST") or "GTOT" in n for n in names)


def test_a_file_without_a_date_gives_no_period() -> None:
    t = parse(FIXTURES / "scada_undated.json")
    assert t.num_rows == 7
    assert set(t.column("period").to_pylist()) == {None}
    assert flows(t)["link=CR-PA"] == 31.558895111084
    assert "date of reading unknown" in t.to_pylist()[0]["note"]


def test_the_latest_reading_of_a_day_is_kept(tmp_path) -> None:
    early = tmp_path / "scada_2024-04-03T143700Z.json"
    late = tmp_path / "scada_2024-04-04T030000Z.json"  # 21:00 on 3 April in UTC-6
    shutil.copy(RECORDED, early)
    shutil.copy(FIXTURES / "scada_undated.json", late)
    t = parse(early, late)
    assert set(t.column("period").to_pylist()) == {"2024-04-03"}
    assert set(t.column("source_file").to_pylist()) == {late.name}
    assert flows(t)["link=NI-CR"] == 99.4842376708984
    note = t.to_pylist()[0]["note"]
    assert "retrieved 2024-04-04T03:00:00Z (21:00 UTC-6)" in note and "latest of 2 readings that day" in note


def test_stamp_reading() -> None:
    assert eor.read_stamp("scada_2024-04-03T143700Z.json") == (datetime(2024, 4, 3), datetime(2024, 4, 3, 14, 37))
    assert eor.read_stamp("scada_2024-04-04T050000Z.json")[0] == datetime(2024, 4, 3)  # 23:00 local
    assert eor.read_stamp("scada_2024-04-03.json") == (datetime(2024, 4, 3), None)
    assert eor.read_stamp("scada_undated.json") == (None, None)


# --- legacy flash CSV -------------------------------------------------------------------------------
def test_flash_csv_is_parsed_link_by_link() -> None:
    t = parse(FIXTURES / "flash_2024-04-03.csv")
    got = flows(t)
    assert got == {"link=MX-GT": 210.699996948242, "link=GT-SV": 14.0963068008423, "link=GT-HN": 38.9699974060059,
                   "link=SV-HN": 74.4163360595703, "link=HN-NI": 109.55534362793, "link=NI-CR": 7.47093057632446,
                   "link=CR-PA": 13.1767492294312}
    assert set(t.column("indicator_id").to_pylist()) == {"EOR.FLASH_FLOW.MW"}
    gues = next(r for r in t.to_pylist() if r["indicator_name"] == "GUES")
    assert "direction flag GUESN=1" in gues["note"] and gues["source_row"] == 2 and gues["period"] == "2024-04-03"


def test_flash_csv_without_link_columns_is_refused(tmp_path) -> None:
    bad = tmp_path / "flash_2024-04-03.csv"
    bad.write_text("fecha,hora\n2024-04-03,08:37\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        parse(bad)
    assert (err.value.rule, err.value.row) == ("header", 1)


# --- bad SCADA answers ------------------------------------------------------------------------------
def test_html_page_is_refused(tmp_path) -> None:
    bad = tmp_path / "scada_2024-04-03.json"
    shutil.copy(FIXTURES / "html_error.html", bad)
    with pytest.raises(SourceError) as err:
        parse(bad)
    assert (err.value.rule, err.value.file) == ("not_json", bad.name)


def test_an_object_instead_of_the_points_array_is_refused(tmp_path) -> None:
    bad = tmp_path / "scada_2024-04-03.json"
    bad.write_text(json.dumps({"points": json.loads(RECORDED.read_text())}), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        parse(bad)
    assert err.value.rule == "bad_envelope"


def test_an_answer_without_any_link_point_is_refused(tmp_path) -> None:
    status_only = [p for p in json.loads(RECORDED.read_text()) if p["nombre"].endswith(".EST")]
    bad = tmp_path / "scada_2024-04-03.json"
    bad.write_text(json.dumps(status_only), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        parse(bad)
    assert err.value.rule == "missing_points"


# --- live fetch -----------------------------------------------------------------------------------
NOW = datetime(2024, 4, 3, 14, 37, tzinfo=timezone.utc)


def test_fetch_retries_a_503_then_lands_the_answer_named_by_its_time(tmp_path) -> None:
    with serving() as fake:
        fake.on(SCADA_PATH, None, Reply(b"unavailable", status=503, content_type="text/plain"), Reply(RECORDED.read_bytes()))
        [path] = eor.fetch_live(Settings(), tmp_path, base_url=fake.origin + SCADA_PATH, now=NOW, **FAST)
        assert fake.hits[SCADA_PATH] == 2
    assert path.name == "scada_2024-04-03T143700Z.json" and path.read_bytes() == RECORDED.read_bytes()
    t = parse(path)
    assert flows(t) == RECORDED_FLOWS
    assert "retrieved 2024-04-03T14:37:00Z (08:37 UTC-6)" in t.to_pylist()[0]["note"]


def test_fetch_refuses_an_html_page_and_lands_nothing(tmp_path) -> None:
    with serving() as fake:
        fake.on(SCADA_PATH, None, Reply((FIXTURES / "html_error.html").read_bytes(), content_type="text/html"))
        with pytest.raises(SourceError) as err:
            eor.fetch_live(Settings(), tmp_path, base_url=fake.origin + SCADA_PATH, now=NOW, **FAST)
    assert err.value.rule == "not_json" and err.value.url.endswith(SCADA_PATH)
    assert not list(tmp_path.iterdir())


def test_fetch_takes_the_flash_csv_only_when_asked(tmp_path) -> None:
    with serving() as fake:
        fake.on(SCADA_PATH, None, Reply(RECORDED.read_bytes()))
        fake.on("/newsite/flash/data.csv", None, Reply((FIXTURES / "flash_2024-04-03.csv").read_bytes(), content_type="text/csv"))
        paths = eor.fetch_live(Settings(), tmp_path, base_url=fake.origin + SCADA_PATH,
                               flash_url=fake.origin + "/newsite/flash/data.csv", now=NOW, **FAST)
        assert fake.hits["/newsite/flash/data.csv"] == 1
    assert [p.name for p in paths] == ["scada_2024-04-03T143700Z.json", "flash_2024-04-03T143700Z.csv"]
    assert set(parse(*paths).column("indicator_id").to_pylist()) == {"EOR.LINK_FLOW.MW", "EOR.FLASH_FLOW.MW"}


# --- snapshot ---------------------------------------------------------------------------------------
def test_snapshot_is_the_recorded_answer() -> None:
    with (SNAPSHOT / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        [row] = list(csv.DictReader(fh))
    snap = SNAPSHOT / row["file"]
    assert row["sha256"] == hashlib.sha256(snap.read_bytes()).hexdigest()
    assert json.loads(snap.read_text()) == json.loads(RECORDED.read_text())
    assert flows(parse(snap)) == RECORDED_FLOWS
    assert row["retrieved_at"].startswith("2024-04-03")


def test_snapshot_build_is_reproducible(tmp_path) -> None:
    subprocess.run([sys.executable, str(ROOT / "tools" / "snapshot_eor_live.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    for name in ("scada_2024-04-03.json", "manifest.csv"):
        assert (tmp_path / name).read_bytes() == (SNAPSHOT / name).read_bytes()


def test_validation_loads_the_dated_readings_and_quarantines_undated(ciw_home, tmp_path) -> None:
    from flows import steps
    from flows.catalog import read_catalog

    s = Settings()
    dated = steps.extract(s, eor.SOURCE, live=False, run_id="t")
    v = steps.validate_source_batch(s, eor.SOURCE, dated, read_catalog(s))
    assert v.rejected is None and v.quarantine.num_rows == 0 and v.good.num_rows == 7
    undated = steps.extract_file(FIXTURES / "scada_undated.json", eor.SOURCE)
    v = steps.validate_source_batch(s, eor.SOURCE, undated, read_catalog(s))
    assert v.good.num_rows == 0
    assert "period_present" in set(v.quarantine.column("rule_id").to_pylist())
