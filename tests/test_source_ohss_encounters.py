"""The OHSS USBP encounters connector: the workbook's layout quirks, published figures, live fetch.

Workbook variants (title rows, extra/renamed/missing sheet, bad cells) are built here with openpyxl
from the bundled snapshot, so every figure in them is a published OHSS figure.
"""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import duckdb
import openpyxl
import pyarrow as pa
import pytest

from flows.config import PROJECT_ROOT, Settings
from flows.registry import source
from flows.sources import ohss_encounters as ohss
from flows.sources.http import SourceError
from flows.sources.observations import parsed_schema
from flows.validate import load_suite, quarantine_split
from tests.fakeserver import Reply, serving

SNAPSHOT_DIR = PROJECT_ROOT / "data" / "snapshot" / "ohss_encounters"
SNAPSHOT = SNAPSHOT_DIR / "khsm_encounters_usbp_fy25m11.xlsx"
REAL = PROJECT_ROOT.parent / "shared" / "data" / "cbp_encounters" / "khsm_encounters_usbp_fy25m11.xlsx"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ohss_encounters"
FAST = {"retries": 2, "backoff": 0.001, "timeout": 5.0}
PAGE = "/khsm/cbp-encounters"
WORKBOOK = "/sites/default/files/2025-01/KHSM Encounters (USBP) fy25m11.xlsx"
SW = "region=southwest_land_border"


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


@pytest.fixture(scope="module")
def snapshot_rows() -> list[dict]:
    return ohss.parse(duckdb.connect(), [SNAPSHOT]).to_pylist()


def index(rows: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(r["country_iso3"], r["period"], r["breakdown"]): r for r in rows}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """The snapshot cut to FY2023-FY2025 (same sheets, header and layout): a quick base for variants."""
    wb = openpyxl.load_workbook(SNAPSHOT)
    for ws in wb.worksheets:
        ws.delete_rows(2, min(r[0].row for r in ws.iter_rows(min_row=2) if r[0].value >= 2023) - 2)
    path = tmp_path_factory.mktemp("ohss") / "base.xlsx"
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def base_rows(base) -> list[dict]:
    return ohss.parse(duckdb.connect(), [base]).to_pylist()


def variant(tmp_path: Path, base: Path, edit, name: str = "variant.xlsx") -> Path:
    """The base workbook, changed by `edit(workbook)` and saved under tmp_path."""
    wb = openpyxl.load_workbook(base)
    edit(wb)
    path = tmp_path / name
    wb.save(path)
    return path


def find_row(ws, *values) -> int:
    """The sheet row whose leading cells are `values`."""
    for row in ws.iter_rows():
        if tuple(c.value for c in row[:len(values)]) == values:
            return row[0].row
    raise AssertionError(f"no row {values} in {ws.title}")


# ---------------------------------------------------------------------------------------------
# Published figures and period conventions
# ---------------------------------------------------------------------------------------------
def test_fy2024_southwest_border_figures(snapshot_rows) -> None:
    rows = index(snapshot_rows)
    assert rows[("GTM", "FY2024", SW)]["value"] == 195290
    assert rows[("HND", "FY2024", SW)]["value"] == 111160
    assert rows[("SLV", "FY2024", SW)]["value"] == 45690
    assert rows[("MEX", "FY2024", SW)]["value"] == 502280
    # base year of the commitments
    assert rows[("GTM", "FY2017", SW)]["value"] == 65870
    assert rows[("HND", "FY2017", SW)]["value"] == 47260


def test_all_regions_total_comes_from_the_citizenship_sheet(snapshot_rows) -> None:
    rows = index(snapshot_rows)
    total = rows[("GTM", "FY2024", "total")]
    assert total["value"] == 196060
    assert "sheet Annual Citizenship" in total["note"]
    assert "sheet Annual Rgn and Citp" in rows[("GTM", "FY2024", SW)]["note"]
    regions = [rows[("GTM", "FY2024", f"region={r}")]["value"]
               for r in ("southwest_land_border", "northern_land_border", "coastal_border")]
    assert regions == [195290, 400, 370]


def test_fiscal_year_and_fiscal_month_periods(snapshot_rows) -> None:
    rows = index(snapshot_rows)
    year = rows[("GTM", "FY2024", SW)]
    assert (year["period_type"], year["year"]) == ("us_fiscal_year", 2024)
    assert (str(year["period_start"]), str(year["period_end"])) == ("2023-10-01", "2024-09-30")
    # "01 October" of FY2024 is October 2023
    october = rows[("GTM", "FY2024M01", SW)]
    assert october["value"] == 23010
    assert (october["period_type"], october["year"]) == ("us_fiscal_month", 2024)
    assert (str(october["period_start"]), str(october["period_end"])) == ("2023-10-01", "2023-10-31")
    # "04 January" of FY2024 is January 2024; "12 September" is September 2024
    assert str(rows[("GTM", "FY2024M04", SW)]["period_start"]) == "2024-01-01"
    assert str(rows[("GTM", "FY2024M12", SW)]["period_end"]) == "2024-09-30"
    assert rows[("GTM", "FY2024M12", SW)]["value"] == 6000
    assert rows[("MEX", "FY2000M01", "total")]["value"] == 87240  # October 1999, the first month


def test_partial_fiscal_year_is_year_to_date_never_a_fiscal_year(snapshot_rows) -> None:
    rows = index(snapshot_rows)
    assert not [k for k in rows if k[1] == "FY2025"]
    ytd = rows[("GTM", "FY2025YTD", SW)]
    assert ytd["value"] == 13060
    assert (ytd["period_type"], ytd["year"]) == ("us_fiscal_year_to_date", 2025)
    assert (str(ytd["period_start"]), str(ytd["period_end"])) == ("2024-10-01", "2024-11-30")
    assert "2 of 12 months, through 2024-11" in ytd["note"]
    assert rows[("GTM", "FY2025M01", SW)]["value"] == 6620
    assert {r["period"] for r in snapshot_rows if r["year"] == 2025 and r["period_type"] == "us_fiscal_month"} == {
        "FY2025M01", "FY2025M02"}


def test_every_row_is_rounded_and_dated(snapshot_rows) -> None:
    assert {r["qualifier"] for r in snapshot_rows} == {"rounded"}
    assert all(r["value"] % 10 == 0 for r in snapshot_rows)
    assert {str(r["lastupdated"]) for r in snapshot_rows} == {"2025-01-16"}  # the workbook's own saved date
    assert {r["indicator_id"] for r in snapshot_rows} == {"OHSS.USBP.ENCOUNTERS"}
    assert {r["unit"] for r in snapshot_rows} == {"encounters"}
    assert {r["source_file"] for r in snapshot_rows} == {SNAPSHOT.name}
    assert {r["country_iso3"] for r in snapshot_rows} == {"BLZ", "CRI", "SLV", "GTM", "HND", "MEX", "NIC", "PAN"}


def test_source_row_is_the_sheet_row(snapshot_rows) -> None:
    row = index(snapshot_rows)[("GTM", "FY2024", SW)]
    ws = openpyxl.load_workbook(SNAPSHOT, read_only=True)["Annual Rgn and Citp"]
    cells = next(ws.iter_rows(min_row=row["source_row"], max_row=row["source_row"], values_only=True))
    assert cells == (2024, "Southwest Land Border", "Guatemala", 195290)


@pytest.mark.skipif(not REAL.exists(), reason="shared data not present")
def test_the_snapshot_gives_the_published_workbook_figures(snapshot_rows, con) -> None:
    real = ohss.parse(con, [REAL]).to_pylist()
    strip = {(r["country_iso3"], r["period"], r["breakdown"], r["period_type"], r["value"]) for r in real}
    assert strip == {(r["country_iso3"], r["period"], r["breakdown"], r["period_type"], r["value"]) for r in snapshot_rows}
    # the real workbook's 16 sheets and ~200 other citizenships are read past, not loaded
    assert len(real) == len(snapshot_rows) == 7125


def test_the_snapshot_header_keeps_its_line_break() -> None:
    wb = openpyxl.load_workbook(SNAPSHOT, read_only=True)
    assert wb.sheetnames == list(ohss.SHEETS)
    for sheet in ohss.SHEETS:
        assert next(wb[sheet].iter_rows(max_row=1, values_only=True))[0] == "Fiscal\nYear"


# ---------------------------------------------------------------------------------------------
# Layout variants
# ---------------------------------------------------------------------------------------------
def test_title_rows_above_the_header_are_skipped(tmp_path, base, base_rows, con) -> None:
    def add_titles(wb):
        for ws in wb.worksheets:
            ws.insert_rows(1, amount=3)
            ws["A1"] = f"CBP Encounters - USBP: {ws.title}"
            ws["A2"] = "Fiscal Years 2000 - 2025 (through November 2024)"
    rows = ohss.parse(con, [variant(tmp_path, base, add_titles)]).to_pylist()
    assert [(r["period"], r["value"]) for r in rows] == [(r["period"], r["value"]) for r in base_rows]
    assert [r["source_row"] for r in rows] == [r["source_row"] + 3 for r in base_rows]


def test_an_extra_sheet_is_ignored(tmp_path, base, base_rows, con) -> None:
    def add_sheet(wb):
        ws = wb.create_sheet("Notes", 0)
        ws.append(["Fiscal\nYear", "Citizenship", "Quantity"])
        ws.append([2024, "Guatemala", "see Annual Citizenship"])
    rows = ohss.parse(con, [variant(tmp_path, base, add_sheet)]).to_pylist()
    assert rows == [{**r, "source_file": "variant.xlsx", "lastupdated": rows[0]["lastupdated"]} for r in base_rows]
    assert index(rows)[("GTM", "FY2024", SW)]["value"] == 195290


@pytest.mark.parametrize("edit", ["rename", "remove"])
def test_a_renamed_or_missing_sheet_is_refused_naming_file_and_sheet(tmp_path, base, con, edit) -> None:
    def change(wb):
        if edit == "rename":
            wb["Annual Rgn and Citp"].title = "Annual Region and Citizenship"
        else:
            wb.remove(wb["Annual Rgn and Citp"])
    path = variant(tmp_path, base, change, name="renamed.xlsx")
    with pytest.raises(SourceError) as err:
        ohss.parse(con, [path])
    assert err.value.rule == "sheet_missing"
    assert err.value.file == str(path)
    assert "renamed.xlsx" in str(err.value) and "'Annual Rgn and Citp'" in str(err.value)


def test_a_changed_header_is_refused_with_its_row(tmp_path, base, con) -> None:
    def rename_column(wb):
        wb["Monthly Citizenship"]["C1"] = "Country"
    with pytest.raises(SourceError) as err:
        ohss.parse(con, [variant(tmp_path, base, rename_column)])
    assert (err.value.rule, err.value.row) == ("header", 1)
    assert "Monthly Citizenship" in str(err.value)


def test_a_month_out_of_fiscal_order_is_refused(tmp_path, base, con) -> None:
    where = {}

    def bad_month(wb):
        ws = wb["Monthly Rgn and Citp"]
        where["row"] = find_row(ws, 2024, "01 October", "Southwest Land Border", "Guatemala")
        ws.cell(where["row"], 2).value = "01 January"
    with pytest.raises(SourceError) as err:
        ohss.parse(con, [variant(tmp_path, base, bad_month)])
    assert (err.value.rule, err.value.row) == ("month", where["row"])


def test_a_text_cell_is_kept_as_text_and_an_empty_cell_is_no_observation(tmp_path, base, con) -> None:
    def cells(wb):
        ws = wb["Annual Rgn and Citp"]
        ws.cell(find_row(ws, 2024, "Southwest Land Border", "Guatemala"), 4).value = "D"
        ws.cell(find_row(ws, 2024, "Southwest Land Border", "Honduras"), 4).value = None
    rows = index(ohss.parse(con, [variant(tmp_path, base, cells)]).to_pylist())
    assert (rows[("GTM", "FY2024", SW)]["value"], rows[("GTM", "FY2024", SW)]["value_text"]) == (None, "D")
    assert ("HND", "FY2024", SW) not in rows
    assert rows[("SLV", "FY2024", SW)]["value"] == 45690


def test_a_year_missing_a_month_becomes_year_to_date(tmp_path, base, con) -> None:
    def drop_september(wb):
        for sheet in ("Monthly Citizenship", "Monthly Rgn and Citp"):
            ws = wb[sheet]
            for number in sorted((r[0].row for r in ws.iter_rows(min_row=2)
                                  if r[0].value == 2024 and r[1].value == "12 September"), reverse=True):
                ws.delete_rows(number)
    rows = index(ohss.parse(con, [variant(tmp_path, base, drop_september)]).to_pylist())
    assert ("GTM", "FY2024", SW) not in rows
    ytd = rows[("GTM", "FY2024YTD", SW)]
    assert (ytd["value"], ytd["period_type"], str(ytd["period_end"])) == (195290, "us_fiscal_year_to_date", "2024-08-31")
    assert rows[("GTM", "FY2023", SW)]["period_type"] == "us_fiscal_year"


def test_an_html_page_saved_as_xlsx_is_refused(tmp_path, con) -> None:
    path = tmp_path / "khsm.xlsx"
    path.write_bytes((FIXTURES / "html_error.html").read_bytes())
    with pytest.raises(SourceError) as err:
        ohss.parse(con, [path])
    assert (err.value.rule, err.value.file) == ("not_xlsx", str(path))


# ---------------------------------------------------------------------------------------------
# Live fetch against a local server
# ---------------------------------------------------------------------------------------------
def test_fetch_finds_the_workbook_on_the_page_and_retries_a_503(tmp_path) -> None:
    body = SNAPSHOT.read_bytes()
    with serving() as fake:
        fake.on(PAGE, None, Reply((FIXTURES / "cbp-encounters.page.html").read_bytes(), content_type="text/html"))
        fake.on(WORKBOOK, None, Reply(b"busy", status=503, content_type="text/plain"),
                Reply(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
        files = ohss.fetch_live(Settings(), tmp_path, page_url=fake.origin + PAGE, **FAST)
        assert fake.hits[WORKBOOK] == 2  # the newest USBP link, not the OFO workbook nor the older release
        assert fake.hits["/sites/default/files/2025-01/KHSM Encounters (OFO) fy25m11.xlsx"] == 0
    assert [f.name for f in files] == ["KHSM_Encounters_USBP_fy25m11.xlsx"]
    assert files[0].read_bytes() == body
    assert index(ohss.parse(duckdb.connect(), files).to_pylist())[("HND", "FY2024", SW)]["value"] == 111160


def test_fetch_refuses_an_html_error_page(tmp_path) -> None:
    with serving() as fake:
        fake.on(WORKBOOK, None, Reply((FIXTURES / "html_error.html").read_bytes(), content_type="text/html"))
        with pytest.raises(SourceError) as err:
            ohss.fetch_live(Settings(), tmp_path, workbook_url=fake.origin + WORKBOOK, **FAST)
        assert fake.hits[PAGE] == 0  # an explicit workbook address skips the page
    assert err.value.rule == "not_xlsx"
    assert list(tmp_path.iterdir()) == []


def test_fetch_says_when_the_page_has_no_workbook_link(tmp_path) -> None:
    with serving() as fake:
        fake.on(PAGE, None, Reply(b"<html><body><a href='/about'>About</a></body></html>", content_type="text/html"))
        with pytest.raises(SourceError) as err:
            ohss.fetch_live(Settings(), tmp_path, page_url=fake.origin + PAGE, **FAST)
    assert (err.value.rule, err.value.url) == ("link_missing", fake.origin + PAGE)


# ---------------------------------------------------------------------------------------------
# Declaration, snapshot manifest, catalog, links and the source's own rules
# ---------------------------------------------------------------------------------------------
def test_registered_with_its_snapshot() -> None:
    src = source("ohss_encounters")
    assert src.parse is ohss.parse and src.fetch_live is ohss.fetch_live
    assert src.snapshot_files(Settings()) == [SNAPSHOT]
    text = (SNAPSHOT_DIR / "manifest.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "file,publisher,address,licence,retrieved_at,sha256,origin,note"
    (row,) = csv.DictReader(text.splitlines())
    assert row["sha256"] == hashlib.sha256(SNAPSHOT.read_bytes()).hexdigest()
    assert row["origin"].startswith("arilamstein/immigration_enforcement/")
    assert SNAPSHOT.stat().st_size < 1_000_000


def test_catalog_and_links() -> None:
    catalog = PROJECT_ROOT / "data" / "catalog"
    text = (catalog / "indicators" / "ohss_encounters.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == ("indicator_id,name,unit,source_id,publisher,licence,direction,"
                                    "valid_min,valid_max,flat_band,flat_band_kind,theme,notes")
    (ind,) = csv.DictReader(text.splitlines())
    assert (ind["indicator_id"], ind["source_id"], ind["direction"], ind["theme"]) == (
        "OHSS.USBP.ENCOUNTERS", "ohss_encounters", "lower", "border_security")
    links = list(csv.DictReader((catalog / "links" / "ohss_encounters.csv").read_text(encoding="utf-8").splitlines()))
    assert {l["indicator_id"] for l in links} == {"OHSS.USBP.ENCOUNTERS"}
    assert {l["commitment_id"].split(":")[1] for l in links} == {"3749c3d5b4", "3f83b8cd6c"}
    assert {l["relation"] for l in links} <= {"direct", "proxy", "context"}


def test_source_rules_pass_the_snapshot_and_catch_foreign_rows(snapshot_rows) -> None:
    suite = load_suite("sources/ohss_encounters")
    good = pa.Table.from_pylist(snapshot_rows).append_column("row_id", pa.array(range(len(snapshot_rows)), pa.int64()))
    kept, bad, _ = quarantine_split(good, suite, {}, source="ohss_encounters", file=SNAPSHOT.name)
    assert (kept.num_rows, bad.num_rows) == (len(snapshot_rows), 0)
    wrong = [
        {**snapshot_rows[0], "value": 195294.0},  # an exact (CBP) count
        {**snapshot_rows[1], "breakdown": "region=gulf_coast"},
        {**snapshot_rows[2], "qualifier": None},
        {**snapshot_rows[3], "country_iso3": "USA"},
        {**snapshot_rows[4], "indicator_id": "CBP.SWB.ENCOUNTERS"},
        {**snapshot_rows[5], "period_type": "year"},
    ]
    batch = pa.Table.from_pylist(wrong, schema=parsed_schema())
    batch = batch.append_column("row_id", pa.array(range(len(wrong)), pa.int64()))
    _, bad, _ = quarantine_split(batch, suite, {}, source="ohss_encounters", file="wrong")
    assert sorted(zip(bad.column("row_id").to_pylist(), bad.column("rule_id").to_pylist())) == [
        (0, "ohss_rounded_to_10"), (1, "ohss_region_known"), (2, "ohss_qualifier_present"),
        (3, "ohss_citizenship_in_scope"), (4, "ohss_indicator_known"), (5, "ohss_fiscal_period")]
