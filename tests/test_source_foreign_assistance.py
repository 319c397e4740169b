"""The ForeignAssistance.gov country summary connector: both header vintages, the 1976 transition
quarter, the running fiscal year, the bundled snapshot, and fetch_live against a local server."""
from __future__ import annotations

import csv
import hashlib
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from flows.config import Settings
from flows.registry import sources
from flows.sources import foreign_assistance as fa
from flows.sources.http import SourceError
from flows.validate import load_suite, quarantine_split
from tests.fakeserver import Reply, serving

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "foreign_assistance"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "us_foreign_aid"
RETRIEVED = date(2025, 4, 2)  # the snapshot's capture (commit date of the origin file)
FAST = {"retries": 2, "backoff": 0.001, "timeout": 5.0}
CSV_TYPE = "text/csv"


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def rows(t: pa.Table) -> dict[tuple[str, str, str], dict]:
    out = {}
    for r in t.to_pylist():
        key = (r["indicator_id"], r["country_iso3"], r["period"])
        assert key not in out, f"duplicate key {key}"
        out[key] = r
    return out


def variant(tmp_path: Path, name: str, replace: list[tuple[str, str]], source: str = "title_case.csv") -> Path:
    text = (FIXTURES / source).read_bytes().decode("utf-8")
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


# --- the layout -------------------------------------------------------------------------------
def test_title_case_vintage_gives_the_published_figures(con) -> None:
    t = fa.parse(con, [FIXTURES / "title_case.csv"], as_of=RETRIEVED)
    got = rows(t)
    assert t.num_rows == 22  # 11 rows x (current, constant)
    assert got[("FA.DISB.USD_CURRENT", "GTM", "FY2022")]["value"] == 268472413  # PROVENANCE.md's example
    assert got[("FA.DISB.USD_CONSTANT", "GTM", "FY2022")]["value"] == 280754089
    assert got[("FA.APPROP.USD_CURRENT", "GTM", "FY2017")]["value"] == 140446000
    assert got[("FA.APPROP.USD_CURRENT", "HND", "FY2017")]["value"] == 95260000
    assert got[("FA.REQ.USD_CURRENT", "GTM", "FY2018")]["value"] == 80660000
    assert got[("FA.OBLIG.USD_CURRENT", "GTM", "FY2024")]["value"] == 235474086
    fy = got[("FA.OBLIG.USD_CURRENT", "GTM", "FY2017")]
    assert (fy["period_type"], fy["period_start"], fy["period_end"], fy["year"]) == (
        "us_fiscal_year", date(2016, 10, 1), date(2017, 9, 30), 2017)
    assert fy["indicator_name"] == "Obligations (current US$)"
    assert fy["value_text"] == "258147676" and fy["source_file"] == "title_case.csv"


def test_negative_net_obligations_are_kept(con) -> None:
    got = rows(fa.parse(con, [FIXTURES / "title_case.csv"], as_of=RETRIEVED))
    assert got[("FA.OBLIG.USD_CURRENT", "NIC", "FY2010")]["value"] == -14525167
    assert got[("FA.OBLIG.USD_CONSTANT", "NIC", "FY2010")]["value"] == -19771285


def test_source_row_is_the_line_in_the_file(con) -> None:
    lines = (FIXTURES / "title_case.csv").read_text(encoding="utf-8").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.startswith("GTM,") and ",Disbursements,2022," in text)
    got = rows(fa.parse(con, [FIXTURES / "title_case.csv"], as_of=RETRIEVED))
    assert got[("FA.DISB.USD_CURRENT", "GTM", "FY2022")]["source_row"] == line
    assert got[("FA.DISB.USD_CONSTANT", "GTM", "FY2022")]["source_row"] == line


def test_transition_quarter_1976tq(con) -> None:
    got = rows(fa.parse(con, [FIXTURES / "title_case.csv"], as_of=RETRIEVED))
    tq = got[("FA.OBLIG.USD_CURRENT", "GTM", "FY1976TQ")]
    assert (tq["period_type"], tq["period_start"], tq["period_end"], tq["year"]) == (
        "part_year", date(1976, 7, 1), date(1976, 9, 30), 1976)
    assert tq["value"] == 4501000 and "Transition quarter" in tq["note"]
    assert got[("FA.OBLIG.USD_CONSTANT", "GTM", "FY1976TQ")]["value"] == 18562064


def test_running_fiscal_year_is_to_date(con) -> None:
    got = rows(fa.parse(con, [FIXTURES / "title_case.csv"], as_of=RETRIEVED))
    ytd = got[("FA.OBLIG.USD_CURRENT", "GTM", "FY2025YTD")]
    assert (ytd["period_type"], ytd["period_start"], ytd["period_end"], ytd["year"]) == (
        "us_fiscal_year_to_date", date(2024, 10, 1), RETRIEVED, 2025)
    assert ytd["value"] == 69095500 and "2025-04-02" in ytd["note"]
    assert got[("FA.DISB.USD_CURRENT", "GTM", "FY2025YTD")]["value"] == 44280915
    assert ("FA.OBLIG.USD_CURRENT", "GTM", "FY2025") not in got
    assert got[("FA.OBLIG.USD_CURRENT", "GTM", "FY2024")]["period_type"] == "us_fiscal_year"


@pytest.mark.parametrize("as_of, whole, to_date", [
    (date(2025, 10, 1), {"FY2024", "FY2025"}, set()),  # FY2025 ended on 30 Sep 2025
    (date(2025, 9, 30), {"FY2024"}, {"FY2025YTD"}),
    (date(2024, 6, 1), set(), {"FY2024YTD", "FY2025YTD"}),
])
def test_to_date_rule_follows_the_retrieval_date(con, as_of, whole, to_date) -> None:
    t = fa.parse(con, [FIXTURES / "title_case.csv"], as_of=as_of)
    periods = {r["period"] for r in t.to_pylist() if r["indicator_id"] == "FA.OBLIG.USD_CURRENT" and r["year"] >= 2024}
    assert periods == whole | to_date


def test_budget_figures_are_whole_years_even_before_the_year_ends(con) -> None:
    got = rows(fa.parse(con, [FIXTURES / "title_case.csv"], as_of=date(2017, 1, 15)))
    assert got[("FA.REQ.USD_CURRENT", "GTM", "FY2018")]["period_type"] == "us_fiscal_year"
    assert got[("FA.APPROP.USD_CURRENT", "SLV", "FY2017")]["period_type"] == "us_fiscal_year"
    assert got[("FA.OBLIG.USD_CURRENT", "GTM", "FY2017YTD")]["period_type"] == "us_fiscal_year_to_date"


def test_snake_case_vintage_reads_the_same(con) -> None:
    new = rows(fa.parse(con, [FIXTURES / "title_case.csv"], as_of=RETRIEVED))
    old = rows(fa.parse(con, [FIXTURES / "snake_case.csv"], as_of=RETRIEVED))
    for key, r in new.items():
        assert old[key]["value"] == r["value"], key
        assert old[key]["period_type"] == r["period_type"], key
    # Initial Allocations: only the older vintage carries them for Guatemala
    extra = set(old) - set(new)
    assert extra == {(f"FA.ALLOC.USD_{b}", "GTM", f"FY{y}") for b in ("CURRENT", "CONSTANT") for y in (2017, 2018)}
    assert old[("FA.ALLOC.USD_CURRENT", "GTM", "FY2017")]["value"] == 140540000
    assert old[("FA.ALLOC.USD_CONSTANT", "GTM", "FY2018")]["value"] == 122398110
    assert old[("FA.ALLOC.USD_CURRENT", "GTM", "FY2017")]["indicator_name"] == "Initial Allocations (current US$)"


def test_empty_cells_are_no_observation_and_text_is_kept_for_the_validator(con, tmp_path) -> None:
    path = variant(tmp_path, "cells.csv", [(",2022,268472413,280754089", ",2022,,280754089"),
                                            (",2024,235474086,229349111", ",2024,235474086,n/a")])
    got = rows(fa.parse(con, [path], as_of=RETRIEVED))
    assert ("FA.DISB.USD_CURRENT", "GTM", "FY2022") not in got
    assert got[("FA.DISB.USD_CONSTANT", "GTM", "FY2022")]["value"] == 280754089
    bad = got[("FA.OBLIG.USD_CONSTANT", "GTM", "FY2024")]
    assert bad["value"] is None and bad["value_text"] == "n/a"


def test_unknown_transaction_type_loads_under_its_own_id(con, tmp_path) -> None:
    path = variant(tmp_path, "type.csv", [(",18,President's Budget Requests,2018,", ",25,Supplemental Requests,2018,")])
    got = rows(fa.parse(con, [path], as_of=RETRIEVED))
    assert got[("FA.TT25.USD_CURRENT", "GTM", "FY2018")]["value"] == 80660000
    assert got[("FA.TT25.USD_CURRENT", "GTM", "FY2018")]["indicator_name"] == "Supplemental Requests (current US$)"


def test_a_renumbered_transaction_type_is_refused(con, tmp_path) -> None:
    path = variant(tmp_path, "renumbered.csv", [(",3,Disbursements,2022,", ",2,Disbursements,2022,")])
    with pytest.raises(SourceError) as err:
        fa.parse(con, [path], as_of=RETRIEVED)
    assert err.value.rule == "transaction_type" and err.value.file == str(path)


def test_unknown_fiscal_year_label_passes_through_for_the_validator(con, tmp_path) -> None:
    path = variant(tmp_path, "label.csv", [(",Obligations,2024,", ",Obligations,2024p,")])
    t = fa.parse(con, [path], as_of=RETRIEVED)
    odd = [r for r in t.to_pylist() if r["period"] == "2024p"]
    assert len(odd) == 2 and all(r["period_type"] is None for r in odd)


def test_only_the_catalog_countries_are_kept(con, tmp_path) -> None:
    path = variant(tmp_path, "others.csv", [("GTM,Guatemala,6,Western Hemisphere,UMIC,Upper Middle Income Country,3,Disbursements,2022",
                                              "AFG,Afghanistan,4,South and Central Asia,LIC,Low Income Country,3,Disbursements,2022")])
    t = fa.parse(con, [path], as_of=RETRIEVED)
    assert "AFG" not in set(t.column("country_iso3").to_pylist())
    assert t.num_rows == 20


@pytest.mark.parametrize("name, rule", [
    ("maintenance.html", "not_csv"), ("s3_access_denied.xml", "not_csv"), ("missing_column.csv", "header"),
])
def test_bad_files_are_refused_naming_file_and_rule(con, name, rule) -> None:
    with pytest.raises(SourceError) as err:
        fa.parse(con, [FIXTURES / name], as_of=RETRIEVED)
    assert err.value.rule == rule and err.value.file == str(FIXTURES / name)
    assert err.value.source == "foreign_assistance"


def test_a_truncated_row_is_a_source_error(con, tmp_path) -> None:
    path = variant(tmp_path, "cut.csv", [(",2024,235474086,229349111", ",2024,2354")])
    with pytest.raises(SourceError) as err:
        fa.parse(con, [path], as_of=RETRIEVED)
    assert err.value.rule == "malformed_csv"


def test_parse_of_nothing_is_empty(con) -> None:
    t = fa.parse(con, [])
    assert t.num_rows == 0 and "indicator_id" in t.column_names


# --- retrieval date ---------------------------------------------------------------------------
def test_retrieval_comes_from_the_manifest(tmp_path) -> None:
    snap = Settings().snapshot_dir / "foreign_assistance" / fa.FILE_NAME
    assert fa.retrieved_on(snap) == RETRIEVED
    loose = tmp_path / fa.FILE_NAME
    loose.write_bytes((FIXTURES / "title_case.csv").read_bytes())
    assert fa.retrieved_on(loose) is None
    assert fa.last_complete_fiscal_year(date(2023, 10, 1)) == 2023
    assert fa.last_complete_fiscal_year(date(2023, 9, 30)) == 2022


def test_without_a_recorded_retrieval_the_newest_year_is_taken_as_running(con, tmp_path) -> None:
    loose = tmp_path / "ingested.csv"
    loose.write_bytes((FIXTURES / "title_case.csv").read_bytes())
    got = rows(fa.parse(con, [loose]))
    ytd = got[("FA.DISB.USD_CURRENT", "GTM", "FY2025YTD")]
    assert (ytd["period_type"], ytd["period_start"], ytd["period_end"]) == ("us_fiscal_year_to_date", date(2024, 10, 1), None)
    assert "retrieval date is not recorded" in ytd["note"]
    assert got[("FA.OBLIG.USD_CURRENT", "GTM", "FY2024")]["period_type"] == "us_fiscal_year"
    # the newest year of obligations and disbursements decides, wherever the file stops
    older = variant(tmp_path, "older.csv", [(",Obligations,2025,", ",Obligations,2023,"),
                                             (",Disbursements,2025,", ",Disbursements,2023,")])
    periods = {r["period"] for r in fa.parse(con, [older]).to_pylist() if r["indicator_id"] == "FA.OBLIG.USD_CURRENT"}
    assert "FY2024YTD" in periods and "FY2023" in periods


# --- bundled snapshot -------------------------------------------------------------------------
def test_snapshot_is_the_publisher_layout_and_matches_its_manifest(con) -> None:
    src = sources()["foreign_assistance"]
    files = src.snapshot_files(Settings())
    assert [f.name for f in files] == [fa.FILE_NAME]
    body = files[0].read_bytes()
    assert body.startswith(b'"Country Code","Country Name",') and b"\r\n" in body
    assert len(body) < 1_000_000
    with open(files[0].parent / "manifest.csv", newline="", encoding="utf-8") as fh:
        manifest = list(csv.DictReader(fh))
    assert manifest[0]["sha256"] == hashlib.sha256(body).hexdigest()
    assert src.snapshot_retrieved_at(Settings())[fa.FILE_NAME] == datetime(2025, 4, 2)
    t = fa.parse(con, files)
    got = rows(t)
    assert t.num_rows == 1356
    assert got[("FA.DISB.USD_CURRENT", "GTM", "FY2022")]["value"] == 268472413
    assert got[("FA.OBLIG.USD_CURRENT", "GTM", "FY2025YTD")]["period_end"] == RETRIEVED
    assert min(r["year"] for r in t.to_pylist()) == 2000


@pytest.mark.skipif(not SHARED.exists(), reason="shared data not mounted")
def test_snapshot_values_are_the_extract_values(con) -> None:
    snap = rows(fa.parse(con, sources()["foreign_assistance"].snapshot_files(Settings())))
    with open(SHARED / "us_foreign_aid_country_central_america.csv", newline="", encoding="utf-8") as fh:
        extract = [r for r in csv.DictReader(fh) if r["Fiscal Year"].isdigit() and int(r["Fiscal Year"]) >= 2000]
    assert len(snap) == 2 * len(extract)
    stems = {k: v[0] for k, v in fa.TRANSACTION_TYPES.items()}
    for r in extract:
        period = f"FY{r['Fiscal Year']}" + ("YTD" if r["Fiscal Year"] == "2025" and r["Transaction Type ID"] in ("2", "3") else "")
        key = (f"FA.{stems[r['Transaction Type ID']]}.USD_CURRENT", r["Country Code"], period)
        assert snap[key]["value"] == float(r["current_amount"]), key


# --- per-source rules -------------------------------------------------------------------------
def test_source_rules_quarantine_a_donor_row_and_an_unknown_label() -> None:
    suite = load_suite("sources/foreign_assistance")
    batch = pa.table({
        "row_id": [1, 2, 3],
        "country_iso3": ["GTM", "USA", "GTM"],
        "period": ["FY2017", "FY2017", "2024p"],
        "period_type": ["us_fiscal_year", "us_fiscal_year", None],
        "year": [2017, 2017, 2024],
        "period_start": [date(2016, 10, 1)] * 3,
        "period_end": [date(2017, 9, 30)] * 3,
    })
    good, bad, counts = quarantine_split(batch, suite, {}, source="foreign_assistance", file="x.csv")
    assert good.column("row_id").to_pylist() == [1]
    assert counts["fa_recipient_not_donor"] == 1 and counts["fa_fiscal_year_label"] == 1
    assert set(bad.column("row_id").to_pylist()) == {2, 3}


# --- fetch_live -------------------------------------------------------------------------------
def test_fetch_live_lands_the_file_and_its_retrieval(tmp_path, con) -> None:
    body = (FIXTURES / "title_case.csv").read_bytes()
    with serving() as fake:
        fake.on(f"/{fa.FILE_NAME}", None, Reply(body, content_type=CSV_TYPE))
        paths = fa.fetch_live(Settings(), tmp_path, base_url=fake.origin, **FAST)
    assert paths == [tmp_path / fa.FILE_NAME] and paths[0].read_bytes() == body
    with open(tmp_path / "manifest.csv", newline="", encoding="utf-8") as fh:
        (entry,) = list(csv.DictReader(fh))
    assert entry["sha256"] == hashlib.sha256(body).hexdigest()
    assert entry["origin"] == f"{fake.origin}/{fa.FILE_NAME}"
    today = datetime.now(timezone.utc).date()
    assert fa.retrieved_on(paths[0]) == today
    running = fa.last_complete_fiscal_year(today) + 1
    periods = {r["period"] for r in fa.parse(con, paths).to_pylist() if r["indicator_id"] == "FA.OBLIG.USD_CURRENT"}
    assert ("FY2025YTD" in periods) == (2025 >= running)


def test_fetch_live_retries_a_503(tmp_path) -> None:
    body = (FIXTURES / "snake_case.csv").read_bytes()
    with serving() as fake:
        fake.on(f"/{fa.FILE_NAME}", None, Reply(b"busy", status=503, content_type="text/plain"),
                Reply(body, content_type=CSV_TYPE))
        paths = fa.fetch_live(Settings(), tmp_path, base_url=fake.origin, **FAST)
        assert fake.hits[f"/{fa.FILE_NAME}"] == 2
    assert paths[0].read_bytes() == body


@pytest.mark.parametrize("fixture, status, rule, hits", [
    ("maintenance.html", 200, "not_csv", 1),          # an HTML page served as success
    ("missing_column.csv", 200, "header", 1),
    ("s3_access_denied.xml", 403, "http_status", 1),  # a 4xx is not retried
])
def test_fetch_live_refuses_what_is_not_the_file(tmp_path, fixture, status, rule, hits) -> None:
    with serving() as fake:
        fake.on(f"/{fa.FILE_NAME}", None, Reply((FIXTURES / fixture).read_bytes(), status=status))
        with pytest.raises(SourceError) as err:
            fa.fetch_live(Settings(), tmp_path, base_url=fake.origin, **FAST)
        assert fake.hits[f"/{fa.FILE_NAME}"] == hits
    assert err.value.rule == rule and err.value.url == f"{fake.origin}/{fa.FILE_NAME}"
    assert list(tmp_path.iterdir()) == []


def test_the_connector_is_registered() -> None:
    src = sources()["foreign_assistance"]
    assert src.address == f"{fa.BASE_URL}/{fa.FILE_NAME}"
    assert src.parse is fa.parse and src.fetch_live is fa.fetch_live
