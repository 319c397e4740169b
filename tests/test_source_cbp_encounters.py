"""The CBP Southwest Land Border encounters connector: the CSV's quirks, published figures, live fetch."""
from __future__ import annotations

import csv
import hashlib
import logging
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from flows.config import PROJECT_ROOT, Settings
from flows.registry import source
from flows.sources import cbp_encounters as cbp
from flows.sources import ohss_encounters as ohss
from flows.sources.http import SourceError
from flows.sources.observations import parsed_schema
from flows.validate import load_suite, quarantine_split
from tests.fakeserver import Reply, serving

SNAPSHOT_DIR = PROJECT_ROOT / "data" / "snapshot" / "cbp_encounters"
SNAPSHOT = SNAPSHOT_DIR / "sbo-encounters-fy22-fy25-aug.csv"
REAL = PROJECT_ROOT.parent / "shared" / "data" / "cbp_encounters" / "sbo-encounters-fy22-fy25-aug.csv"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cbp_encounters"
SAMPLE = FIXTURES / "sbo-encounters.sample.csv"
FAST = {"retries": 2, "backoff": 0.001, "timeout": 5.0}
PAGE = "/document/stats/southwest-land-border-encounters"
CSV_PATH = "/sites/default/files/2025-09/sbo-encounters-fy22-fy25-aug.csv"
USBP_SA_T8 = "component=usbp;demographic=single_adults;encounter_type=apprehensions;title=title_8"


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


@pytest.fixture(scope="module")
def snapshot_rows() -> list[dict]:
    return cbp.parse(duckdb.connect(), [SNAPSHOT]).to_pylist()


def index(rows: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(r["country_iso3"], r["period"], r["breakdown"]): r for r in rows}


def write(tmp_path: Path, text: str, name: str = "sbo.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


# ---------------------------------------------------------------------------------------------
# Quirks on the recorded sample
# ---------------------------------------------------------------------------------------------
def test_sample_cells_periods_and_breakdowns(con) -> None:
    rows = index(cbp.parse(con, [SAMPLE]).to_pylist())
    # OCT of FY2024 is October 2023; FY2024 is labelled plainly, FY2025 as "2025 (FYTD)"
    cell = rows[("GTM", "FY2024M01", "component=usbp;demographic=fmua;encounter_type=apprehensions;title=title_8")]
    assert cell["value"] == 14767
    assert (cell["period_type"], cell["year"], str(cell["period_start"]), str(cell["period_end"])) == (
        "us_fiscal_month", 2024, "2023-10-01", "2023-10-31")
    assert cell["source_row"] == 7  # the line in the file (line 1 is the header)
    assert rows[("GTM", "FY2024M01", "component=ofo;demographic=uac;encounter_type=inadmissibles;title=title_8")]["value"] == 38
    assert rows[("GTM", "FY2022M01", "component=usbp;demographic=single_adults;encounter_type=expulsions;title=title_42")]["value"] == 9783
    # SEP is fiscal month 12 (a "Remaining" month grouping is still an observation)
    sep = rows[("HND", "FY2024M12", USBP_SA_T8)]
    assert (sep["value"], str(sep["period_start"])) == (1420, "2024-09-01")
    mex = rows[("MEX", "FY2025M01", USBP_SA_T8)]
    assert (mex["value"], mex["year"], str(mex["period_start"])) == (17680, 2025, "2024-10-01")
    assert '"2025 (FYTD)"' in mex["note"]
    assert {r["qualifier"] for r in rows.values()} == {None}  # exact counts


def test_the_month_total_is_the_sum_of_its_cells_and_says_so(con) -> None:
    rows = index(cbp.parse(con, [SAMPLE]).to_pylist())
    total = rows[("GTM", "FY2024M01", "total")]
    assert total["value"] == 426 + 371 + 38 + 14767 + 4493 + 3754 == 23849
    assert "sum of the file's 6 cells" in total["note"]
    assert total["source_row"] == 4  # its first cell's line


def test_other_is_skipped_not_passed_on_as_a_country(con, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="flows.sources.cbp_encounters"):
        rows = cbp.parse(con, [SAMPLE]).to_pylist()
    assert {r["country_iso3"] for r in rows} == {"GTM", "HND", "SLV", "MEX"}
    assert 58595 not in {r["value"] for r in rows} and 12336 not in {r["value"] for r in rows}
    assert "'Other' 2" in caplog.text


def test_a_partial_file_year_is_year_to_date(con) -> None:
    rows = index(cbp.parse(con, [SAMPLE]).to_pylist())
    # the sample holds only OCT of FY2025 (and only OCT/SEP of FY2024): neither is a whole fiscal year
    assert not [k for k in rows if k[1] in ("FY2024", "FY2025")]
    ytd = rows[("MEX", "FY2025YTD", "total")]
    assert (ytd["value"], ytd["period_type"], str(ytd["period_end"])) == (17680, "us_fiscal_year_to_date", "2024-10-31")


# ---------------------------------------------------------------------------------------------
# Published figures in the bundled snapshot
# ---------------------------------------------------------------------------------------------
def test_snapshot_monthly_figures(snapshot_rows) -> None:
    rows = index(snapshot_rows)
    assert rows[("GTM", "FY2024M01", "component=usbp;demographic=fmua;encounter_type=apprehensions;title=title_8")]["value"] == 14767
    assert rows[("GTM", "FY2024M01", "total")]["value"] == 23849
    aug = rows[("GTM", "FY2025M11", "total")]  # August 2025, the file's last month
    assert (aug["value"], str(aug["period_start"])) == (517, "2025-08-01")


def test_snapshot_fiscal_years(snapshot_rows) -> None:
    rows = index(snapshot_rows)
    fy = rows[("GTM", "FY2024", "total")]
    assert (fy["value"], fy["period_type"], str(fy["period_start"]), str(fy["period_end"])) == (
        204252, "us_fiscal_year", "2023-10-01", "2024-09-30")
    assert rows[("HND", "FY2024", "total")]["value"] == 140479
    ytd = rows[("GTM", "FY2025YTD", "total")]
    assert (ytd["value"], str(ytd["period_end"])) == (35291, "2025-08-31")
    assert "11 of 12 months, through 2025-08" in ytd["note"]
    assert not [k for k in rows if k[1] == "FY2025"]
    # only totals are summed to fiscal years; cells stay monthly
    assert {r["breakdown"] for r in snapshot_rows if r["period_type"] != "us_fiscal_month"} == {"total"}


def test_usbp_cells_agree_with_the_rounded_ohss_figure(snapshot_rows) -> None:
    """Not a splice: a cross-check that both parsers put the same months in FY2024."""
    usbp = sum(r["value"] for r in snapshot_rows if r["country_iso3"] == "GTM" and r["year"] == 2024
               and r["period_type"] == "us_fiscal_month" and r["breakdown"].startswith("component=usbp;"))
    assert usbp == 195294
    ohss_rows = ohss.parse(duckdb.connect(), [PROJECT_ROOT / "data" / "snapshot" / "ohss_encounters" /
                                              "khsm_encounters_usbp_fy25m11.xlsx"]).to_pylist()
    (published,) = [r["value"] for r in ohss_rows if (r["country_iso3"], r["period"], r["breakdown"]) ==
                    ("GTM", "FY2024", "region=southwest_land_border")]
    assert abs(usbp - published) <= 5


@pytest.mark.skipif(not REAL.exists(), reason="shared data not present")
def test_the_snapshot_gives_the_published_file_figures(snapshot_rows, con) -> None:
    real = cbp.parse(con, [REAL]).to_pylist()
    key = lambda r: (r["country_iso3"], r["period"], r["breakdown"], r["value"])  # noqa: E731
    assert sorted(map(key, real)) == sorted(map(key, snapshot_rows))
    assert len(snapshot_rows) == 1730


# ---------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------
def test_an_html_page_is_refused(tmp_path, con) -> None:
    path = write(tmp_path, (FIXTURES / "html_error.html").read_text())
    with pytest.raises(SourceError) as err:
        cbp.parse(con, [path])
    assert (err.value.rule, err.value.file) == ("not_csv", str(path))


def test_a_changed_header_is_refused(tmp_path, con) -> None:
    text = SAMPLE.read_text().replace("Citizenship Grouping", "Citizenship", 1)
    with pytest.raises(SourceError) as err:
        cbp.parse(con, [write(tmp_path, text)])
    assert (err.value.rule, err.value.row) == ("header", 1)


def test_a_truncated_file_is_refused_with_its_line(tmp_path, con) -> None:
    text = SAMPLE.read_bytes().decode()
    path = write(tmp_path, text[:text.index("2024,FYTD,OCT,U.S. Border Patrol,UAC") + 20])
    with pytest.raises(SourceError) as err:
        cbp.parse(con, [path])
    assert (err.value.rule, err.value.row) == ("malformed_csv", 9)


def test_an_unknown_month_is_refused_with_its_line(tmp_path, con) -> None:
    text = SAMPLE.read_text().replace("2024,Remaining,SEP,", "2024,Remaining,SEPT,", 1)
    with pytest.raises(SourceError) as err:
        cbp.parse(con, [write(tmp_path, text)])
    assert (err.value.rule, err.value.row) == ("period", 11)


def test_a_text_count_is_kept_as_text_and_its_totals_not_summed(tmp_path, con) -> None:
    text = SAMPLE.read_text().replace("Guatemala,Title 8,Apprehensions,4493", 'Guatemala,Title 8,Apprehensions,"4,493"')
    rows = index(cbp.parse(con, [write(tmp_path, text)]).to_pylist())
    cell = rows[("GTM", "FY2024M01", USBP_SA_T8)]
    assert (cell["value"], cell["value_text"]) == (None, "4,493")
    total = rows[("GTM", "FY2024M01", "total")]
    assert total["value"] is None and "1 of its cells are not numbers" in total["value_text"]


def test_an_empty_count_is_no_observation(tmp_path, con) -> None:
    text = SAMPLE.read_text().replace("Guatemala,Title 8,Apprehensions,4493", "Guatemala,Title 8,Apprehensions,")
    rows = index(cbp.parse(con, [write(tmp_path, text)]).to_pylist())
    assert ("GTM", "FY2024M01", USBP_SA_T8) not in rows
    assert rows[("GTM", "FY2024M01", "total")]["value"] == 23849 - 4493


# ---------------------------------------------------------------------------------------------
# Live fetch against a local server
# ---------------------------------------------------------------------------------------------
def test_fetch_finds_the_newest_csv_on_the_page_and_retries_a_503(tmp_path) -> None:
    body = SAMPLE.read_bytes()
    with serving() as fake:
        fake.on(PAGE, None, Reply((FIXTURES / "southwest-land-border-encounters.page.html").read_bytes(),
                                  content_type="text/html"))
        fake.on(CSV_PATH, None, Reply(b"busy", status=503, content_type="text/plain"),
                Reply(body, content_type="text/csv"))
        files = cbp.fetch_live(Settings(), tmp_path, page_url=fake.origin + PAGE, **FAST)
        assert fake.hits[CSV_PATH] == 2
        assert fake.hits["/sites/default/files/assets/documents/2023-Jul/sbo-encounters-fy20-fy23-jun.csv"] == 0
    assert [f.name for f in files] == ["sbo-encounters-fy22-fy25-aug.csv"]
    assert files[0].read_bytes() == body
    assert index(cbp.parse(duckdb.connect(), files).to_pylist())[("GTM", "FY2024M01", "total")]["value"] == 23849


def test_fetch_refuses_an_html_error_page(tmp_path) -> None:
    with serving() as fake:
        fake.on(CSV_PATH, None, Reply((FIXTURES / "html_error.html").read_bytes(), content_type="text/html"))
        with pytest.raises(SourceError) as err:
            cbp.fetch_live(Settings(), tmp_path, csv_url=fake.origin + CSV_PATH, **FAST)
        assert fake.hits[PAGE] == 0
    assert err.value.rule == "not_csv"
    assert list(tmp_path.iterdir()) == []


def test_fetch_gives_up_after_the_retries(tmp_path) -> None:
    with serving() as fake:
        fake.on(CSV_PATH, None, Reply(b"down", status=503, content_type="text/plain"))
        with pytest.raises(SourceError) as err:
            cbp.fetch_live(Settings(), tmp_path, csv_url=fake.origin + CSV_PATH, **FAST)
        assert fake.hits[CSV_PATH] == FAST["retries"] + 1
    assert err.value.rule == "http_status"


# ---------------------------------------------------------------------------------------------
# Declaration, snapshot manifest, catalog, links and the source's own rules
# ---------------------------------------------------------------------------------------------
def test_registered_with_its_snapshot() -> None:
    src = source("cbp_encounters")
    assert src.parse is cbp.parse and src.fetch_live is cbp.fetch_live
    assert src.snapshot_files(Settings()) == [SNAPSHOT]
    text = (SNAPSHOT_DIR / "manifest.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "file,publisher,address,licence,retrieved_at,sha256,origin,note"
    (row,) = csv.DictReader(text.splitlines())
    assert row["sha256"] == hashlib.sha256(SNAPSHOT.read_bytes()).hexdigest()
    head = SNAPSHOT.read_bytes()[:200]
    assert head.startswith(b",".join(h.encode() for h in cbp.HEADER) + b"\r\n")  # CBP's header and CRLF kept


def test_catalog_and_links() -> None:
    catalog = PROJECT_ROOT / "data" / "catalog"
    text = (catalog / "indicators" / "cbp_encounters.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == ("indicator_id,name,unit,source_id,publisher,licence,direction,"
                                    "valid_min,valid_max,flat_band,flat_band_kind,theme,notes")
    (ind,) = csv.DictReader(text.splitlines())
    assert (ind["indicator_id"], ind["source_id"], ind["direction"]) == ("CBP.SWB.ENCOUNTERS", "cbp_encounters", "lower")
    links = list(csv.DictReader((catalog / "links" / "cbp_encounters.csv").read_text(encoding="utf-8").splitlines()))
    assert {l["indicator_id"] for l in links} == {"CBP.SWB.ENCOUNTERS"}
    assert {l["relation"] for l in links} == {"context"}  # no FY2017 base in the file


def test_source_rules_pass_the_snapshot_and_catch_foreign_rows(snapshot_rows) -> None:
    suite = load_suite("sources/cbp_encounters")
    good = pa.Table.from_pylist(snapshot_rows).append_column("row_id", pa.array(range(len(snapshot_rows)), pa.int64()))
    kept, bad, _ = quarantine_split(good, suite, {}, source="cbp_encounters", file=SNAPSHOT.name)
    assert (kept.num_rows, bad.num_rows) == (len(snapshot_rows), 0)
    wrong = [
        {**snapshot_rows[0], "value": 12.5},
        {**snapshot_rows[1], "breakdown": "component=air_and_marine;demographic=uac;encounter_type=apprehensions;title=title_8"},
        {**snapshot_rows[2], "country_iso3": "VEN"},
        {**snapshot_rows[3], "indicator_id": "OHSS.USBP.ENCOUNTERS"},
        {**snapshot_rows[4], "period_type": "month"},
    ]
    batch = pa.Table.from_pylist(wrong, schema=parsed_schema())
    batch = batch.append_column("row_id", pa.array(range(len(wrong)), pa.int64()))
    _, bad, _ = quarantine_split(batch, suite, {}, source="cbp_encounters", file="wrong")
    assert sorted(zip(bad.column("row_id").to_pylist(), bad.column("rule_id").to_pylist())) == [
        (0, "cbp_whole_count"), (1, "cbp_breakdown_known"), (2, "cbp_citizenship_in_scope"),
        (3, "cbp_indicator_known"), (4, "cbp_fiscal_period")]
