"""The hand-compiled MER table: every row traceable, every quirk kept visible, nothing converted."""
from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from flows.config import Settings
from flows.sources import mer_compiled as mer
from flows.sources.http import SourceError

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "mer_compiled"
SAMPLE = FIXTURES / "mer_transactions_sample.csv"
SNAPSHOT = ROOT / "data" / "snapshot" / "mer_compiled"
SHARED = ROOT.parent / "shared" / "data" / "siepac_mer" / "mer_transactions.csv"
SAMPLE_LINES = [1, 2, 6, 14, 16, 31, 32, 44, 45, 46, 47, 59, 61, 64, 82, 84, 85, 93, 96, 101]


@pytest.fixture(scope="module")
def sample() -> pa.Table:
    return mer.parse(duckdb.connect(), [SAMPLE])


@pytest.fixture(scope="module")
def snapshot() -> pa.Table:
    return mer.parse(duckdb.connect(), [SNAPSHOT / "mer_transactions.csv"])


def by_row(t: pa.Table) -> dict[int, dict]:
    return {r["source_row"]: r for r in t.to_pylist()}


def rows_at(t: pa.Table, **where: object) -> list[dict]:
    return [r for r in t.to_pylist() if all(r[k] == v for k, v in where.items())]


def sample_records() -> list[dict[str, str]]:
    with SAMPLE.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --- provenance --------------------------------------------------------------------------------
def test_sample_is_the_real_table_line_for_line() -> None:
    if not SHARED.exists():
        pytest.skip("shared/data not present")
    lines = SHARED.read_bytes().split(b"\r\n")
    assert SAMPLE.read_bytes() == b"".join(lines[n - 1] + b"\r\n" for n in SAMPLE_LINES)


def test_every_row_keeps_its_citation_url_note_and_line(sample) -> None:
    records = sample_records()
    assert sample.num_rows == len(records) == 19
    assert sample.column("source_row").to_pylist() == list(range(2, 21))
    assert set(sample.column("source_file").to_pylist()) == {SAMPLE.name}
    for row, rec in zip(sample.to_pylist(), records):
        assert row["citation"] == rec["source_title"]
        assert row["source_url"] == rec["source_url"]
        assert row["note"].startswith(rec["note"])
        assert row["value_text"] == rec["value"]
        assert row["value"] == float(rec["value"])  # never converted


def test_region_rows_are_the_market_xmr(sample) -> None:
    assert by_row(sample)[2]["country_iso3"] == "XMR"
    assert {r["country_iso3"] for r in sample.to_pylist()} <= {"XMR", "GTM", "SLV", "HND", "CRI"}


# --- the quirks ----------------------------------------------------------------------------------
def test_conflicting_copies_of_a_key_both_survive_parsing(sample) -> None:
    """Guatemala 2016 appears twice with different values; both rows reach the validator."""
    dup = rows_at(sample, indicator_id="MER.INJECTION.MWH", country_iso3="GTM", period="2016")
    assert sorted((r["source_row"], r["value"]) for r in dup) == [(8, 1110247.8), (9, 1049484.5)]


def test_same_year_in_two_units_is_two_series(sample) -> None:
    """1,741,126.6 MWh (EOR) and 1,713 GWh (MEM) for 2017: not converted, not a conflict."""
    rows = by_row(sample)
    assert (rows[10]["indicator_id"], rows[10]["value"], rows[10]["unit"]) == ("MER.INJECTION.MWH", 1741126.6, "MWh")
    assert (rows[12]["indicator_id"], rows[12]["value"], rows[12]["unit"]) == ("MER.INJECTION.GWH", 1713.0, "GWh")


@pytest.mark.parametrize("line,period,start,end", [
    (4, "2013-01-01/2013-04-30", date(2013, 1, 1), date(2013, 4, 30)),    # "January-April 2013"
    (5, "2020-01-01/2020-05-06", date(2020, 1, 1), date(2020, 5, 6)),     # "1 January - 6 May 2020"
    (11, "2017-01-01/2017-12-13", date(2017, 1, 1), date(2017, 12, 13)),  # "1 January - 13 December 2017"
    (17, "2024-01-01/2024-06-30", date(2024, 1, 1), date(2024, 6, 30)),   # "January-June 2024"
    (18, "2013-01-01/2013-09-30", date(2013, 1, 1), date(2013, 9, 30)),   # "up to September 2013"
    (20, "2016-01-01/2016-06-30", date(2016, 1, 1), date(2016, 6, 30)),   # "first half of 2016"
    (16, "2023-05-01/2023-05-31", date(2023, 5, 1), date(2023, 5, 31)),   # "early May", no span given
])
def test_part_year_rows_get_the_stated_span(sample, line, period, start, end) -> None:
    row = by_row(sample)[line]
    assert (row["period"], row["period_type"], row["period_start"], row["period_end"]) == (period, "part_year", start, end)
    assert ".PART." in row["indicator_id"]


def test_part_year_never_shares_a_key_with_the_annual_value(sample) -> None:
    rows = by_row(sample)
    annual, part = rows[10], rows[11]  # Guatemala 2017: full year and 1 Jan - 13 Dec
    assert (annual["period"], annual["period_type"]) == ("2017", "year")
    key = lambda r: (r["indicator_id"], r["country_iso3"], r["period"])  # noqa: E731
    assert key(annual) != key(part) and annual["year"] == part["year"] == 2017
    assert not any(r["period_type"] == "year" and ".PART." in r["indicator_id"] for r in sample.to_pylist())


def test_part_year_without_a_stated_span_gets_no_period(tmp_path) -> None:
    rec = dict(sample_records()[2])  # January-April 2013 row, note emptied of its span
    rec["note"] = "Four months only."
    path = tmp_path / "mer.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=mer.COLUMNS)
        w.writeheader()
        w.writerow(rec)
    [row] = mer.parse(duckdb.connect(), [path]).to_pylist()
    assert row["period"] is None and row["indicator_id"] == "MER.TOTAL_TRANSACTIONS.PART.MWH"


def test_seasonal_year_is_may_to_april(sample) -> None:
    row = by_row(sample)[14]
    assert (row["indicator_id"], row["period"], row["period_type"]) == ("MER.INJECTION.SEASONAL.GWH", "SY2009", "seasonal_year")
    assert (row["period_start"], row["period_end"], row["year"], row["value"]) == (date(2009, 5, 1), date(2010, 4, 30), 2009, 74.74)


def test_wrongly_printed_units_are_flagged_and_kept_as_printed(sample) -> None:
    rows = by_row(sample)
    for line, printed in [(5, "GW/h (as printed; energy, GWh)"), (15, "MW (as printed)"), (19, "GW (as printed)"),
                          (20, "GW (as printed)")]:
        assert rows[line]["qualifier"] == "unit_as_printed"
        assert rows[line]["unit"] == printed
        assert rows[line]["indicator_id"].endswith(".UNIT_AS_PRINTED")
    assert rows[19]["value"] == 251.0  # Costa Rica 2014 withdrawals, "251 GW" as printed


def test_lower_bounds_are_flagged(sample) -> None:
    rows = by_row(sample)
    gtm_2022 = rows[13]  # "imports from the MER exceeded 1,480 GWh"
    assert (gtm_2022["indicator_id"], gtm_2022["country_iso3"], gtm_2022["period"]) == ("MER.WITHDRAWAL.GWH", "GTM", "2022")
    assert (gtm_2022["value"], gtm_2022["qualifier"]) == (1480.0, "lower_bound")
    assert (rows[17]["indicator_id"], rows[17]["value"], rows[17]["qualifier"]) == ("MER.INJECTION.PART.GWH", 160.0, "lower_bound")
    assert rows[2]["qualifier"] is None and rows[14]["qualifier"] is None
    # "more than 1.15 million MW": a lower bound whose unit is also wrong is quarantined, not loaded
    assert rows[15]["qualifier"] == "unit_as_printed" and rows[15]["note"].startswith("LOWER BOUND")


def test_undated_rows_have_no_period(sample) -> None:
    rows = by_row(sample)
    for line in (6, 7):
        assert rows[line]["period"] is None and rows[line]["period_type"] is None and rows[line]["year"] is None
    assert (rows[7]["country_iso3"], rows[7]["value"]) == ("GTM", 282.0)


def test_unit_tidied_only_when_unambiguous(sample) -> None:
    price = by_row(sample)[3]
    assert (price["indicator_id"], price["unit"], price["value"]) == ("MER.AVG_PRICE.USD_MWH", "USD/MWh", 90.11)
    assert price["note"].endswith("[unit in the compiled table: USD/MWh (source: 'dólares' per 'MW/h')]")


# --- whole table and snapshot ---------------------------------------------------------------------
def test_snapshot_parses_to_the_real_table(snapshot) -> None:
    assert snapshot.num_rows == 137
    assert snapshot.column("source_row").to_pylist() == list(range(2, 139))
    if SHARED.exists():
        real = mer.parse(duckdb.connect(), [SHARED])
        assert snapshot.drop_columns(["source_file"]).equals(real.drop_columns(["source_file"]))
        assert (SNAPSHOT / "mer_transactions.csv").read_bytes() != SHARED.read_bytes()
    got = {(r["indicator_id"], r["country_iso3"], r["period"]): r["value"] for r in snapshot.to_pylist()}
    assert got[("MER.TOTAL_TRANSACTIONS.GWH", "XMR", "2019")] == 3073.92
    assert got[("MER.NET_BALANCE.GWH", "NIC", "2020")] == -1070.7
    assert sum(r["qualifier"] == "unit_as_printed" for r in snapshot.to_pylist()) == 20
    assert sum(r["period"] is None for r in snapshot.to_pylist()) == 8


def test_manifest_matches_the_bundled_file() -> None:
    with (SNAPSHOT / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["file", "publisher", "address", "licence", "retrieved_at", "sha256", "origin", "note"]
        [row] = list(reader)
    assert row["sha256"] == hashlib.sha256((SNAPSHOT / row["file"]).read_bytes()).hexdigest()


def test_snapshot_build_is_reproducible(tmp_path) -> None:
    if not SHARED.exists():
        pytest.skip("shared/data not present")
    subprocess.run([sys.executable, str(ROOT / "tools" / "snapshot_mer_compiled.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    for name in ("mer_transactions.csv", "manifest.csv"):
        assert (tmp_path / name).read_bytes() == (SNAPSHOT / name).read_bytes()


# --- bad input ----------------------------------------------------------------------------------
def test_html_page_is_refused() -> None:
    with pytest.raises(SourceError) as err:
        mer.parse(duckdb.connect(), [FIXTURES / "html_error.csv"])
    assert (err.value.rule, err.value.file, err.value.source) == ("not_csv", "html_error.csv", "mer_compiled")


def test_wrong_header_is_refused() -> None:
    with pytest.raises(SourceError) as err:
        mer.parse(duckdb.connect(), [FIXTURES / "wrong_header.csv"])
    assert (err.value.rule, err.value.file, err.value.row) == ("header", "wrong_header.csv", 1)


def test_there_is_no_live_source(tmp_path) -> None:
    with pytest.raises(SourceError) as err:
        mer.fetch_live(Settings(), tmp_path)
    assert err.value.rule == "no_live_source" and not list(tmp_path.iterdir())


# --- through the pipeline's validation ------------------------------------------------------------
def test_quarantine_routes_each_quirk(ciw_home) -> None:
    """Staged and validated exactly as a run does: which rows load, which are quarantined and why."""
    from flows import steps
    from flows.catalog import read_catalog

    s = Settings()
    extracted = steps.extract(s, mer.SOURCE, live=False, run_id="test")
    v = steps.validate_source_batch(s, mer.SOURCE, extracted, read_catalog(s))
    assert v.rejected is None
    q = v.quarantine.to_pylist()
    rules_by_row: dict[int, set[str]] = {}
    for r in q:
        rules_by_row.setdefault(r["source_row"], set()).add(r["rule_id"])
    assert {"mer_unit_as_printed"} <= rules_by_row[96]  # CRI 2014 "GW (as printed)"
    assert {"period_present"} <= rules_by_row[31] and {"period_present"} <= rules_by_row[37]  # undated
    assert {"unique_observation_key"} <= rules_by_row[44] and {"unique_observation_key"} <= rules_by_row[45]
    loaded = {r["source_row"]: r for r in v.good.to_pylist()}
    assert loaded[61]["qualifier"] == "lower_bound" and loaded[61]["value"] == 1480.0  # loaded, flagged
    assert loaded[47]["period"] == "2017-01-01/2017-12-13" and loaded[46]["period"] == "2017"
    assert loaded[64]["period"] == "SY2009"
    assert len(loaded) + len(rules_by_row) == 137
    assert all(r["source_url"].startswith("http") and r["citation"] for r in loaded.values())
