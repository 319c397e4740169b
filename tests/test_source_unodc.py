"""The UNODC homicide connector on the dataUNODC portal layout, its snapshot, and a real local server.

Values are the published figures (UNODC Global Study on Homicide 2019 annex, as bundled), e.g.
"Guatemala 2014: 4,998 victims, 31.4 per 100,000; 4,128 killed with firearms".
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import duckdb
import openpyxl
import pyarrow as pa
import pytest
import yaml

from flows.config import PROJECT_ROOT, Settings
from flows.registry import source
from flows.sources import unodc
from flows.sources.http import SourceError
from tests.fakeserver import Reply, serving

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "unodc"
SNAPSHOT = PROJECT_ROOT / "data" / "snapshot" / "unodc"
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
FAST = {"retries": 2, "backoff": 0.001, "timeout": 5.0}
RATE_UNIT = "Rate per 100,000 population"


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def parse(con: duckdb.DuckDBPyConnection, *names: str | Path) -> pa.Table:
    return unodc.parse(con, [n if isinstance(n, Path) else FIXTURES / n for n in names])


def by_key(t: pa.Table) -> dict[tuple, dict]:
    """Rows keyed by (indicator, country, period, sex, breakdown); fails on a duplicate key."""
    out: dict[tuple, dict] = {}
    for row in t.to_pylist():
        key = (row["indicator_id"], row["country_iso3"], row["period"], row["sex"], row["breakdown"])
        assert key not in out, f"duplicate key {key}"
        out[key] = row
    return out


# ---------------------------------------------------------------------------------------------
# The portal layout
# ---------------------------------------------------------------------------------------------
def test_quoted_country_name_with_comma_stays_one_field(con) -> None:
    raw = unodc.read_portal(con, [FIXTURES / "portal_sample.csv"]).to_pylist()
    mac = next(r for r in raw if r["Iso3_code"] == "MAC")
    assert mac["Country"] == "China, Macao Special Administrative Region"
    assert (mac["Region"], mac["Year"], mac["Unit of measurement"], mac["VALUE"], mac["Source"]) == (
        "Asia", "2015", "Counts", "1", "CTS")
    assert mac["source_row"] == 3
    # every rate row's unit is itself quoted ("Rate per 100,000 population") and stays whole
    units = {r["Unit of measurement"] for r in raw}
    assert units == {"Counts", RATE_UNIT}


def test_counts_and_rates_are_separate_indicators(con) -> None:
    rows = by_key(parse(con, "portal_sample.csv"))
    count = rows[("UNODC.HOM.VICTIMS", "GTM", "2014", "total", "total")]
    rate = rows[("UNODC.HOM.RATE", "GTM", "2014", "total", "total")]
    assert (count["value"], count["unit"], count["value_text"]) == (4998.0, "Counts", "4998")
    assert (rate["value"], rate["unit"]) == (31.4, RATE_UNIT)
    assert rows[("UNODC.HOM.VICTIMS", "USA", "2017", "total", "total")]["value"] == 17284.0
    assert rows[("UNODC.HOM.RATE", "USA", "2017", "total", "total")]["value"] == 5.3
    assert count["period_type"] == "year" and count["year"] == 2014
    assert count["indicator_name"] == "Victims of intentional homicide"
    assert count["note"] == "Source: UNODC Global Study on Homicide 2019"
    assert (count["source_file"], count["source_row"]) == ("portal_sample.csv", 7)


def test_other_indicators_and_countries_are_left_out(con) -> None:
    t = parse(con, "portal_sample.csv")
    assert t.num_rows == 14  # 12 GTM + 2 USA victims rows; no arrested/suspected, no MAC
    assert set(t["indicator_name"].to_pylist()) == {"Victims of intentional homicide"}
    assert set(t["country_iso3"].to_pylist()) == {"GTM", "USA"}


def test_sex_and_mechanism_are_dimensions_not_indicators(con) -> None:
    t = parse(con, "portal_sample.csv")
    assert set(t["indicator_id"].to_pylist()) == {"UNODC.HOM.VICTIMS", "UNODC.HOM.RATE"}
    rows = by_key(t)
    gtm = {(i, s, b): rows[(i, "GTM", "2014", s, b)]["value"] for (i, c, p, s, b) in rows if c == "GTM"}
    assert gtm == {
        ("UNODC.HOM.VICTIMS", "total", "total"): 4998, ("UNODC.HOM.RATE", "total", "total"): 31.4,
        ("UNODC.HOM.VICTIMS", "male", "total"): 4368, ("UNODC.HOM.RATE", "male", "total"): 55.8,
        ("UNODC.HOM.VICTIMS", "female", "total"): 630, ("UNODC.HOM.RATE", "female", "total"): 7.8,
        ("UNODC.HOM.VICTIMS", "total", "mechanism=firearm"): 4128,
        ("UNODC.HOM.RATE", "total", "mechanism=firearm"): 25.9,
        ("UNODC.HOM.VICTIMS", "male", "mechanism=firearm"): 3656,
        ("UNODC.HOM.RATE", "male", "mechanism=firearm"): 46.7,
        ("UNODC.HOM.VICTIMS", "female", "mechanism=firearm"): 472,
        ("UNODC.HOM.RATE", "female", "mechanism=firearm"): 5.8,
    }


def test_portal_category_wording_maps_to_the_same_breakdowns(con, tmp_path) -> None:
    """The live portal spells categories its own way; they land on the snapshot's breakdown values."""
    rows = list(csv.reader((FIXTURES / "portal_sample.csv").read_text(encoding="utf-8").splitlines()))
    firearm = next(r for r in rows if r[6] == "Firearms" and r[7] == "Total" and r[10] == "Counts")
    cases = {"Firearms or explosives - firearms": "mechanism=firearm",
             "Another weapon - sharp object": "mechanism=sharp_object",
             "Without a weapon/ other Mechanism": "mechanism=other", "Unspecified means": "mechanism=unknown"}
    lines = [rows[0]] + [[*firearm[:6], cat, *firearm[7:9], str(2000 + i), *firearm[10:]]
                         for i, cat in enumerate(cases)]
    lines.append([*firearm[:5], "by relationship to perpetrator", "Intimate partner or family member",
                  "Female", "30-44", "2010", *firearm[10:]])
    lines.append([*firearm[:6], "", *firearm[7:9], "2011", *firearm[10:]])  # no Category: not the total
    path = tmp_path / "portal.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(lines)
    got = parse(con, path)["breakdown"].to_pylist()
    assert got == [*cases.values(), "age=30_44;relationship=intimate_partner_or_family_member", "mechanism="]


def test_bom_and_crlf(con) -> None:
    t = parse(con, "portal_bom_crlf.csv")
    assert (FIXTURES / "portal_bom_crlf.csv").read_bytes().startswith(b"\xef\xbb\xbfIso3_code,")
    assert [(r["indicator_id"], r["country_iso3"], r["value"], r["unit"], r["source_row"]) for r in t.to_pylist()] == [
        ("UNODC.HOM.VICTIMS", "SLV", 3942.0, "Counts", 2),
        ("UNODC.HOM.RATE", "SLV", 61.8, RATE_UNIT, 3),
    ]
    assert all(not r["note"].endswith("\r") for r in t.to_pylist())


def test_title_rows_above_the_header_are_skipped(con) -> None:
    t = parse(con, "portal_title_rows.csv")
    assert [(r["indicator_id"], r["value"], r["source_row"]) for r in t.to_pylist()] == [
        ("UNODC.HOM.VICTIMS", 3942.0, 4), ("UNODC.HOM.RATE", 61.8, 5)]


def test_non_numeric_value_is_kept_for_quarantine(con) -> None:
    rows = by_key(parse(con, "portal_bad_value.csv"))
    bad = rows[("UNODC.HOM.VICTIMS", "GTM", "2014", "total", "total")]
    assert bad["value"] is None and bad["value_text"] == "4,998"
    assert rows[("UNODC.HOM.RATE", "GTM", "2014", "total", "total")]["value"] == 31.4


def test_wrong_header_is_refused(con) -> None:
    with pytest.raises(SourceError) as err:
        parse(con, "wrong_header.csv")
    assert err.value.rule == "header" and err.value.source == "unodc"
    assert err.value.file.endswith("wrong_header.csv") and err.value.row == 1


def test_html_page_is_refused(con, tmp_path) -> None:
    path = tmp_path / "data_cts_intentional_homicide.csv"
    path.write_bytes((FIXTURES / "html_error.html").read_bytes())
    with pytest.raises(SourceError) as err:
        parse(con, path)
    assert err.value.rule == "not_csv" and err.value.file == str(path)


# ---------------------------------------------------------------------------------------------
# The workbook the portal actually serves (same columns, title rows above the header)
# ---------------------------------------------------------------------------------------------
def write_workbook(path: Path, sheet: str = unodc.SHEET) -> None:
    """portal_sample.csv as the portal's workbook: two title rows, header on row 3, numbers as numbers."""
    rows = list(csv.reader((FIXTURES / "portal_sample.csv").read_text(encoding="utf-8").splitlines()))
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(["UNODC Research - Data Portal: intentional homicide"])
    ws.append([])
    ws.append(rows[0])
    for r in rows[1:]:
        ws.append([*r[:9], int(r[9]), r[10], float(r[11]) if "." in r[11] else int(r[11]), r[12]])
    wb.save(path)


def test_workbook_parses_like_the_csv(con, tmp_path) -> None:
    path = tmp_path / "data_cts_intentional_homicide.xlsx"
    write_workbook(path)
    from_xlsx = parse(con, path)
    from_csv = parse(con, "portal_sample.csv")
    cols = ["indicator_id", "country_iso3", "period", "sex", "breakdown", "value", "value_text", "unit"]
    assert from_xlsx.select(cols).to_pylist() == from_csv.select(cols).to_pylist()
    # sheet rows: title, blank, header on row 3, so the CSV's line n is the sheet's row n + 2
    assert from_xlsx["source_row"].to_pylist() == [n + 2 for n in from_csv["source_row"].to_pylist()]


def test_workbook_without_the_data_sheet_is_refused(con, tmp_path) -> None:
    path = tmp_path / "data_cts_intentional_homicide.xlsx"
    write_workbook(path, sheet="Sheet1")
    with pytest.raises(SourceError) as err:
        parse(con, path)
    assert err.value.rule == "sheet_missing"


# ---------------------------------------------------------------------------------------------
# The bundled snapshot
# ---------------------------------------------------------------------------------------------
def test_source_is_registered_with_its_snapshot() -> None:
    src = source("unodc")
    assert src.parse is unodc.parse and src.fetch_live is unodc.fetch_live
    files = src.snapshot_files(Settings())
    assert [f.name for f in files] == ["data_cts_intentional_homicide.gsh2019.csv"]
    header = (SNAPSHOT / "manifest.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "file,publisher,address,licence,retrieved_at,sha256,origin,note"
    for row in csv.DictReader((SNAPSHOT / "manifest.csv").open(encoding="utf-8")):
        assert hashlib.sha256((SNAPSHOT / row["file"]).read_bytes()).hexdigest() == row["sha256"]


def test_snapshot_holds_the_published_figures(con) -> None:
    t = unodc.parse(con, source("unodc").snapshot_files(Settings()))
    rows = by_key(t)  # no duplicate keys
    assert t.num_rows == 2488 and t["value"].null_count == 0
    assert set(t["country_iso3"].to_pylist()) == {"BLZ", "CRI", "SLV", "GTM", "HND", "MEX", "NIC", "PAN", "USA"}
    assert (min(t["year"].to_pylist()), max(t["year"].to_pylist())) == (2000, 2017)
    assert rows[("UNODC.HOM.RATE", "SLV", "2017", "total", "total")]["value"] == 61.8
    assert rows[("UNODC.HOM.VICTIMS", "SLV", "2017", "total", "total")]["value"] == 3942
    assert rows[("UNODC.HOM.VICTIMS", "GTM", "2014", "total", "mechanism=firearm")]["value"] == 4128
    assert rows[("UNODC.HOM.RATE", "BLZ", "2017", "total", "total")]["value"] == 37.9
    assert set(t["breakdown"].to_pylist()) == {"total", "mechanism=firearm", "mechanism=sharp_object",
                                               "mechanism=other", "mechanism=unknown"}


@pytest.mark.skipif(not (SHARED_DATA / "unodc_gsh2019").is_dir(), reason="shared data not present")
def test_snapshot_rebuilds_byte_for_byte(tmp_path) -> None:
    from tools import snapshot_unodc

    snapshot_unodc.main(["--shared", str(SHARED_DATA), "--out", str(tmp_path)])
    for name in ("data_cts_intentional_homicide.gsh2019.csv", "manifest.csv"):
        assert (tmp_path / name).read_bytes() == (SNAPSHOT / name).read_bytes(), name


# ---------------------------------------------------------------------------------------------
# Live fetch against a real local server
# ---------------------------------------------------------------------------------------------
CSV_PATH = "/files/data_cts_intentional_homicide.csv"
XLSX_PATH = "/files/2026-07/data_cts_intentional_homicide.xlsx"


def test_default_address_is_the_portal_workbook() -> None:
    assert unodc.DOWNLOAD_URL.startswith("https://data.unodc.org/sites/dataportal.unodc.org/files/")
    assert unodc.DOWNLOAD_URL.endswith("/data_cts_intentional_homicide.xlsx")


def test_fetch_csv_retries_a_503_then_lands_the_body(con, tmp_path) -> None:
    body = (FIXTURES / "portal_bom_crlf.csv").read_bytes()
    with serving() as fake:
        fake.on(CSV_PATH, None, Reply(b"busy", status=503, content_type="text/plain"),
                Reply(body, content_type="text/csv"))
        paths = unodc.fetch_live(Settings(), tmp_path, url=fake.origin + CSV_PATH, **FAST)
        assert fake.hits[CSV_PATH] == 2
    assert [p.name for p in paths] == ["data_cts_intentional_homicide.csv"]
    assert paths[0].read_bytes() == body  # raw, as sent
    assert by_key(unodc.parse(con, paths))[("UNODC.HOM.RATE", "SLV", "2017", "total", "total")]["value"] == 61.8


def test_fetch_workbook_retries_a_503_then_lands_the_body(con, tmp_path) -> None:
    book = tmp_path / "book.xlsx"
    write_workbook(book)
    with serving() as fake:
        fake.on(XLSX_PATH, None, Reply(b"", status=503, content_type="text/html"),
                Reply(book.read_bytes(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
        paths = unodc.fetch_live(Settings(), tmp_path / "landed", url=fake.origin + XLSX_PATH, **FAST)
        assert fake.hits[XLSX_PATH] == 2
    assert [p.name for p in paths] == ["data_cts_intentional_homicide.xlsx"]
    assert by_key(unodc.parse(con, paths))[("UNODC.HOM.VICTIMS", "GTM", "2014", "total", "total")]["value"] == 4998


@pytest.mark.parametrize(("path", "rule"), [(XLSX_PATH, "not_xlsx"), (CSV_PATH, "not_csv")])
def test_fetch_refuses_an_html_page_served_with_200(tmp_path, path, rule) -> None:
    with serving() as fake:
        fake.on(path, None, Reply((FIXTURES / "html_error.html").read_bytes(), content_type="text/html"))
        with pytest.raises(SourceError) as err:
            unodc.fetch_live(Settings(), tmp_path, url=fake.origin + path, **FAST)
    assert err.value.rule == rule and err.value.url == fake.origin + path
    assert list(tmp_path.iterdir()) == []  # nothing landed


def test_fetch_refuses_a_csv_with_the_wrong_header(tmp_path) -> None:
    with serving() as fake:
        fake.on(CSV_PATH, None, Reply((FIXTURES / "wrong_header.csv").read_bytes(), content_type="text/csv"))
        with pytest.raises(SourceError) as err:
            unodc.fetch_live(Settings(), tmp_path, url=fake.origin + CSV_PATH, **FAST)
    assert err.value.rule == "header"
    assert list(tmp_path.iterdir()) == []


def test_fetch_gives_up_after_the_retries(tmp_path) -> None:
    with serving() as fake:
        fake.on(CSV_PATH, None, Reply(b"down", status=503, content_type="text/plain"))
        with pytest.raises(SourceError) as err:
            unodc.fetch_live(Settings(), tmp_path, url=fake.origin + CSV_PATH, **FAST)
        assert fake.hits[CSV_PATH] == FAST["retries"] + 1
    assert err.value.rule == "http_status"


# ---------------------------------------------------------------------------------------------
# Catalog, links and the source's own suite
# ---------------------------------------------------------------------------------------------
CATALOG = PROJECT_ROOT / "data" / "catalog"


def test_catalog_rows() -> None:
    text = (CATALOG / "indicators" / "unodc.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == ("indicator_id,name,unit,source_id,publisher,licence,direction,"
                                    "valid_min,valid_max,flat_band,flat_band_kind,theme,notes")
    rows = {r["indicator_id"]: r for r in csv.DictReader(text.splitlines())}
    assert set(rows) == {"UNODC.HOM.VICTIMS", "UNODC.HOM.RATE"}
    assert {r["source_id"] for r in rows.values()} == {"unodc"}
    assert all("VC.IHR.PSRC.P5" in r["notes"] for r in rows.values())


def test_links_point_at_catalogued_indicators() -> None:
    text = (CATALOG / "links" / "unodc.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "commitment_id,key_phrase,indicator_id,relation,base_year,rationale"
    links = list(csv.DictReader(text.splitlines()))
    assert {l["indicator_id"] for l in links} == {"UNODC.HOM.VICTIMS", "UNODC.HOM.RATE"}
    assert {l["relation"] for l in links} <= {"direct", "proxy", "context"}
    assert all(l["commitment_id"].startswith("dhs-2017-06-16-key-deliverables:") for l in links)


def suite_rules() -> dict[str, dict]:
    suite = json.loads((PROJECT_ROOT / "expectations" / "sources" / "unodc.json").read_text(encoding="utf-8"))
    return {e["meta"]["rule_id"]: e for e in suite["expectations"]}


def test_source_suite_uses_only_known_row_rules() -> None:
    known = yaml.safe_load((PROJECT_ROOT / "sql" / "rules.yaml").read_text(encoding="utf-8"))
    rules = suite_rules()
    assert rules
    for e in rules.values():
        assert e["type"] in known
        assert e["meta"]["scope"] == "row" and e["meta"]["reason"]


def test_source_suite_passes_the_snapshot_and_catches_a_bad_breakdown(con) -> None:
    rules = suite_rules()
    t = unodc.parse(con, source("unodc").snapshot_files(Settings())).to_pylist()
    breakdown = re.compile(rules["unodc_breakdown_format"]["kwargs"]["regex"])
    assert all(breakdown.search(r["breakdown"]) for r in t)
    assert not breakdown.search("mechanism=") and not breakdown.search("Mechanism=Firearms")
    assert {r["unit"] for r in t} == set(rules["unodc_unit_known"]["kwargs"]["value_set"])
    assert {r["indicator_id"] for r in t} == set(rules["unodc_indicator_known"]["kwargs"]["value_set"])
    period = re.compile(rules["unodc_period_is_year"]["kwargs"]["regex"])
    assert all(period.search(r["period"]) for r in t)
