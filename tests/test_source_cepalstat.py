"""The CEPALSTAT connector (indicator 4758, average electricity price) on the portal's xlsx export,
the REST API's JSON, its snapshot, and a real local server.

Values are the published figures, e.g. "Costa Rica 2017: 147.3700149 dólares americanos/MWh, source
ICE" (`datos` row 4 of the export).
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb
import openpyxl
import pyarrow as pa
import pytest
import yaml

from flows.config import PROJECT_ROOT, Settings
from flows.registry import source
from flows.sources import cepalstat
from flows.sources.http import SourceError
from tests.fakeserver import Reply, serving
from tools.xlsx_rebuild import save as save_exact

SNAPSHOT = PROJECT_ROOT / "data" / "snapshot" / "cepalstat"
XLSX = SNAPSHOT / "cepalstat_average_electricity_price.xlsx"
SHARED = PROJECT_ROOT.parent / "shared" / "data" / "olade_cepalstat"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cepalstat"
CATALOG = PROJECT_ROOT / "data" / "catalog"
PRICE = "CEPALSTAT.ELEC.PRICE.USD_MWH"
UNIT = "dólares americanos/MWh"
FAST = {"retries": 2, "backoff": 0.001, "timeout": 5.0}
DATA_PATH = "/cepalstat/api/v1/indicator/4758/data"
DIMS_PATH = "/cepalstat/api/v1/indicator/4758/dimensions"


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def parse(con: duckdb.DuckDBPyConnection, *paths: Path) -> pa.Table:
    return cepalstat.parse(con, list(paths))


def by_key(t: pa.Table) -> dict[tuple, dict]:
    out: dict[tuple, dict] = {}
    for row in t.to_pylist():
        key = (row["country_iso3"], row["period"], row["breakdown"])
        assert key not in out, f"duplicate key {key}"
        out[key] = row
    return out


def variant(tmp_path: Path, change, name: str = XLSX.name) -> Path:
    wb = openpyxl.load_workbook(XLSX)
    change(wb)
    out = tmp_path / name
    save_exact(wb, out, datetime(2026, 6, 30))
    return out


# ---------------------------------------------------------------------------------------------
# The xlsx export
# ---------------------------------------------------------------------------------------------
def test_export_values_sources_and_metadata(con) -> None:
    rows = by_key(parse(con, XLSX))
    cri = rows[("CRI", "2017", "total")]
    assert (cri["value"], cri["value_text"], cri["unit"]) == (147.3700149, "147.3700149", UNIT)
    assert (cri["indicator_id"], cri["indicator_name"]) == (PRICE, "Precio medio de la electricidad por país")
    assert cri["citation"] == "Instituto Costarricense de Electricidad (ICE): Publicaciones del Instituto Costarricense de Electricidad"
    assert (cri["source_file"], cri["source_row"]) == (XLSX.name, 4)
    assert cri["lastupdated"] == date(2024, 1, 30)  # metadatos last_update 'Jan 30 2024  2:02PM'
    assert rows[("PAN", "2022", "total")]["value"] == 180.9006799  # Panamá, with its accent
    assert rows[("PAN", "2020", "total")]["value"] == 179.0
    assert rows[("SLV", "2017", "total")]["citation"].startswith("Superintendencia General de Electricidad y Telecomunicaciones")
    assert rows[("HND", "2022", "total")]["value"] == 235.3732001


def test_years_vary_by_country_with_a_2017_baseline_everywhere(con) -> None:
    t = parse(con, XLSX)
    years: dict[str, list[str]] = {}
    for iso3, period in zip(t["country_iso3"].to_pylist(), t["period"].to_pylist()):
        years.setdefault(iso3, []).append(period)
    assert set(years) == {"CRI", "SLV", "GTM", "HND", "NIC", "PAN"}
    assert all("2017" in y and min(y) == "2015" for y in years.values())
    assert max(years["SLV"]) == "2021" and max(years["GTM"]) == "2022"
    assert t.num_rows == 47 and t["value"].null_count == 0
    assert set(t["breakdown"].to_pylist()) == {"total"}


def test_an_extra_sheet_is_tolerated(con, tmp_path) -> None:
    def add(wb):
        wb.create_sheet("Gráfico").append(["Precio medio", 1, 2])

    assert parse(con, variant(tmp_path, add)).equals(parse(con, XLSX))


@pytest.mark.parametrize("sheet", ["datos", "metadatos", "fuentes"])
def test_a_renamed_required_sheet_is_refused(con, tmp_path, sheet) -> None:
    bad = variant(tmp_path, lambda wb: setattr(wb[sheet], "title", f"{sheet}_old"))
    with pytest.raises(SourceError) as err:
        parse(con, bad)
    assert err.value.rule == "sheet_missing" and err.value.file == str(bad)
    assert f"sheet '{sheet}' missing" in err.value.message and f"{sheet}_old" in err.value.message


def test_a_missing_required_sheet_is_refused(con, tmp_path) -> None:
    bad = variant(tmp_path, lambda wb: wb.remove(wb["fuentes"]))
    with pytest.raises(SourceError) as err:
        parse(con, bad)
    assert err.value.rule == "sheet_missing" and "'fuentes'" in err.value.message


@pytest.mark.parametrize(("sheet", "cell", "new", "needle"), [
    ("datos", "F1", "Años", "Años__ESTANDAR"),
    ("datos", "G1", "valor", "value"),
    ("fuentes", "B1", "organization", "organization_name"),
])
def test_a_changed_header_is_refused(con, tmp_path, sheet, cell, new, needle) -> None:
    def change(wb):
        wb[sheet][cell] = new

    bad = variant(tmp_path, change)
    with pytest.raises(SourceError) as err:
        parse(con, bad)
    assert (err.value.rule, err.value.file, err.value.row) == ("header", str(bad), 1)
    assert f"sheet '{sheet}'" in err.value.message and needle in err.value.message


def test_a_new_dimension_column_is_refused(con, tmp_path) -> None:
    def change(wb):
        wb["datos"]["K1"] = "Tipo de cliente"

    with pytest.raises(SourceError) as err:
        parse(con, variant(tmp_path, change))
    assert err.value.rule == "header" and "Tipo de cliente" in err.value.message


def test_another_indicator_is_refused(con, tmp_path) -> None:
    def change(wb):
        wb["metadatos"]["B2"] = 4788

    with pytest.raises(SourceError) as err:
        parse(con, variant(tmp_path, change))
    assert err.value.rule == "wrong_indicator" and "4788" in err.value.message


def test_non_numeric_value_kept_and_empty_value_skipped(con, tmp_path) -> None:
    def change(wb):
        wb["datos"]["G3"] = "160,62"
        wb["datos"]["G5"] = None

    rows = by_key(parse(con, variant(tmp_path, change)))
    assert (rows[("CRI", "2016", "total")]["value"], rows[("CRI", "2016", "total")]["value_text"]) == (None, "160,62")
    assert ("CRI", "2018", "total") not in rows and len(rows) == 46


def test_another_sector_becomes_a_breakdown(con, tmp_path) -> None:
    def change(wb):
        wb["datos"]["E2"] = "Residencial"

    rows = by_key(parse(con, variant(tmp_path, change)))
    assert rows[("CRI", "2015", "sector=residencial")]["value"] == 160.67
    assert ("CRI", "2015", "total") not in rows


def test_an_html_page_saved_as_xlsx_is_refused(con, tmp_path) -> None:
    bad = tmp_path / XLSX.name
    bad.write_bytes((FIXTURES / "html_error.html").read_bytes())
    with pytest.raises(SourceError) as err:
        parse(con, bad)
    assert err.value.rule == "not_xlsx" and err.value.file == str(bad)


# ---------------------------------------------------------------------------------------------
# The API's JSON
# ---------------------------------------------------------------------------------------------
def test_api_answer_gives_the_same_rows_as_the_export(con) -> None:
    api = by_key(parse(con, FIXTURES / "indicator_4758_data.json"))
    export = by_key(parse(con, XLSX))
    assert len(api) == 17
    for key, row in api.items():
        for column in ("indicator_id", "indicator_name", "value", "unit", "citation", "lastupdated", "breakdown"):
            assert row[column] == export[key][column], (key, column)
    cri = api[("CRI", "2017", "total")]
    assert (cri["value"], cri["value_text"], cri["source_row"]) == (147.3700149, "147.3700149", 3)
    assert api[("PAN", "2020", "total")]["value_text"] == "179"


def test_labels_from_a_separate_dimensions_answer(con) -> None:
    t = parse(con, FIXTURES / "indicator_4758_data_nodims.json", FIXTURES / "indicator_4758_dimensions.json")
    assert t.equals(parse(con, FIXTURES / "indicator_4758_data.json").set_column(
        t.column_names.index("source_file"), "source_file", pa.array(["indicator_4758_data_nodims.json"] * 17)))
    with pytest.raises(SourceError) as err:
        parse(con, FIXTURES / "indicator_4758_data_nodims.json")
    assert err.value.rule == "header" and "no label" in err.value.message


def test_api_rows_outside_the_catalog_are_not_loaded(con, tmp_path) -> None:
    doc = json.loads((FIXTURES / "indicator_4758_data.json").read_text(encoding="utf-8"))
    doc["body"]["data"][0]["iso3"] = "DOM"  # the API covers the Dominican Republic too
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    rows = by_key(parse(con, path))
    assert len(rows) == 16 and ("CRI", "2015", "total") not in rows


@pytest.mark.parametrize(("body", "rule"), [
    ((FIXTURES / "html_error.html").read_bytes(), "not_json"),
    ((FIXTURES / "api_error.json").read_bytes(), "api_error"),
    (b'{"header": {"success": true}, "body": {"data": {"value": "1"}}}', "bad_envelope"),
    (b'{"header": {"success": true}, "body": {"data": [', "not_json"),
])
def test_a_bad_answer_is_refused_naming_the_file(con, tmp_path, body, rule) -> None:
    path = tmp_path / "answer.json"
    path.write_bytes(body)
    with pytest.raises(SourceError) as err:
        parse(con, path)
    assert err.value.rule == rule and err.value.file == str(path)


# ---------------------------------------------------------------------------------------------
# Snapshot, catalog, links, suite
# ---------------------------------------------------------------------------------------------
def test_registered_with_its_snapshot(con) -> None:
    src = source("cepalstat")
    assert (src.source_id, src.parse, src.fetch_live) == ("cepalstat", cepalstat.parse, cepalstat.fetch_live)
    files = src.snapshot_files(Settings())
    assert files == [XLSX]
    assert src.snapshot_retrieved_at(Settings())[XLSX.name] == datetime(2026, 6, 30, 23, 33, 34)
    assert parse(con, *files).num_rows == 47


def test_manifest_and_rebuild() -> None:
    text = (SNAPSHOT / "manifest.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "file,publisher,address,licence,retrieved_at,sha256,origin,note"
    (row,) = list(csv.DictReader(text.splitlines()))
    assert hashlib.sha256(XLSX.read_bytes()).hexdigest() == row["sha256"]
    assert row["origin"] == ("giovanni-serrano/siepac-analysis/data/raw/tarifa_electrica_media/data_1782862414.xlsx"
                             "@7da18251cacaa3c8d4751f21369a498af0154857")
    assert openpyxl.load_workbook(XLSX).sheetnames == ["datos", "metadatos", "fuentes", "notas", "creditos"]


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not present")
def test_snapshot_and_fixtures_rebuild_identically_and_parse_like_the_export(con, tmp_path) -> None:
    subprocess.run([sys.executable, str(PROJECT_ROOT / "tools" / "snapshot_cepalstat.py"), "--shared", str(SHARED.parent),
                    "--out", str(tmp_path / "snap"), "--fixtures", str(tmp_path / "fix")], check=True, capture_output=True)
    for name in (XLSX.name, "manifest.csv"):
        assert (tmp_path / "snap" / name).read_bytes() == (SNAPSHOT / name).read_bytes(), name
    for fixture in (tmp_path / "fix").iterdir():
        assert fixture.read_bytes() == (FIXTURES / fixture.name).read_bytes(), fixture.name
    assert XLSX.read_bytes() != (SHARED / XLSX.name).read_bytes()
    assert parse(con, SHARED / XLSX.name).equals(parse(con, XLSX))


def test_catalog_and_link() -> None:
    text = (CATALOG / "indicators" / "cepalstat.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == ("indicator_id,name,unit,source_id,publisher,licence,direction,valid_min,valid_max,"
                                    "flat_band,flat_band_kind,theme,notes")
    (ind,) = list(csv.DictReader(text.splitlines()))
    assert (ind["indicator_id"], ind["source_id"], ind["direction"], ind["theme"]) == (PRICE, "cepalstat", "lower", "energy_siepac")
    assert "proxy" in ind["notes"]
    links = (CATALOG / "links" / "cepalstat.csv").read_text(encoding="utf-8")
    assert links.splitlines()[0] == "commitment_id,key_phrase,indicator_id,relation,base_year,rationale"
    (link,) = list(csv.DictReader(links.splitlines()))
    document = (PROJECT_ROOT / "data" / "documents" / "dhs-2017-06-16-key-deliverables.md").read_text(encoding="utf-8")
    assert (link["indicator_id"], link["relation"], link["base_year"]) == (PRICE, "proxy", "2017")
    assert link["key_phrase"] in document and link["commitment_id"] == "dhs-2017-06-16-key-deliverables:76b14539f5"


def test_source_suite_uses_known_row_rules_and_passes_the_snapshot(con) -> None:
    known = yaml.safe_load((PROJECT_ROOT / "sql" / "rules.yaml").read_text(encoding="utf-8"))
    suite = json.loads((PROJECT_ROOT / "expectations" / "sources" / "cepalstat.json").read_text(encoding="utf-8"))
    rules = {e["meta"]["rule_id"]: e for e in suite["expectations"]}
    # row rules the DuckDB engine knows; the one batch rule replaces the table's staleness gate
    assert all(e["type"] in known and e["meta"]["scope"] == "row" and e["meta"]["reason"]
               for rid, e in rules.items() if rid != "source_not_stale")
    assert rules["source_not_stale"]["meta"]["max_age_days"] > 400
    t = parse(con, XLSX).to_pylist()
    assert {r["unit"] for r in t} == set(rules["cepalstat_unit_usd_mwh"]["kwargs"]["value_set"])
    assert all(r["citation"] for r in t)
    breakdown = re.compile(rules["cepalstat_breakdown_known"]["kwargs"]["regex"])
    assert all(breakdown.search(r["breakdown"]) for r in t)
    assert breakdown.search("sector=residencial") and not breakdown.search("sector=Residencial")


# ---------------------------------------------------------------------------------------------
# Live fetch against a real local server
# ---------------------------------------------------------------------------------------------
def api_base(fake) -> str:
    return fake.origin + "/cepalstat/api/v1"


def test_default_address_is_the_documented_api() -> None:
    assert cepalstat.API_BASE == "https://api-cepalstat.cepal.org/cepalstat/api/v1"


def test_fetch_live_retries_a_503_and_lands_the_answer(con, tmp_path) -> None:
    with serving() as fake:
        fake.on(DATA_PATH, {"lang": "es", "format": "json", "in": "1"},
                Reply(b"busy", status=503, content_type="text/plain"),
                Reply((FIXTURES / "indicator_4758_data.json").read_bytes()))
        paths = cepalstat.fetch_live(Settings(), tmp_path, base_url=api_base(fake), **FAST)
        assert fake.hits[DATA_PATH] == 2 and fake.hits[DIMS_PATH] == 0
    assert [p.name for p in paths] == ["cepalstat_4758.data.json"]
    assert by_key(parse(con, *paths))[("CRI", "2017", "total")]["value"] == 147.3700149


def test_fetch_live_also_lands_the_dimensions_when_the_data_lacks_labels(con, tmp_path) -> None:
    with serving() as fake:
        fake.on(DATA_PATH, None, Reply((FIXTURES / "indicator_4758_data_nodims.json").read_bytes()))
        fake.on(DIMS_PATH, {"lang": "es", "format": "json", "in": "1", "path": "0"},
                Reply((FIXTURES / "indicator_4758_dimensions.json").read_bytes()))
        paths = cepalstat.fetch_live(Settings(), tmp_path, base_url=api_base(fake), **FAST)
    assert [p.name for p in paths] == ["cepalstat_4758.data.json", "cepalstat_4758.dimensions.json"]
    assert by_key(parse(con, *paths))[("PAN", "2022", "total")]["value"] == 180.9006799


@pytest.mark.parametrize(("reply", "rule"), [
    (Reply((FIXTURES / "html_error.html").read_bytes(), content_type="text/html"), "not_json"),
    (Reply((FIXTURES / "api_error.json").read_bytes()), "api_error"),
    (Reply(b"down", status=500, content_type="text/plain"), "http_status"),
])
def test_fetch_live_refuses_a_bad_answer_and_writes_nothing(tmp_path, reply, rule) -> None:
    with serving() as fake:
        fake.on(DATA_PATH, None, reply)
        with pytest.raises(SourceError) as err:
            cepalstat.fetch_live(Settings(), tmp_path / "landing", base_url=api_base(fake), **FAST)
    assert err.value.rule == rule and DATA_PATH in err.value.url
    assert not (tmp_path / "landing").exists()
