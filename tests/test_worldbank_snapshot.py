"""The bundled World Bank snapshot: valid API pages, one bulk-download CSV in the World Bank's own
layout, a manifest that matches, published figures.

Values are compared with the shared source files as exact digit strings (the JSON token or the CSV
cell) and as exact floats (what the parser yields), so every figure traces to the published file.
"""
from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from flows.sources import worldbank as wb
from flows.sources.observations import logical_schema

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = wb.SNAPSHOT_DIR
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")

MANIFEST_COLUMNS = ["indicator_id", "file", "sha256", "rows", "non_null_rows", "first_year",
                    "last_year", "source_database", "publisher", "origin_repository",
                    "origin_path", "origin_commit", "licence", "lastupdated", "retrieved_at", "note"]
WGI_CODES = ("VA", "PV", "GE", "RQ", "RL", "CC")
# the estimates (2024 revision codes) and their standard errors (legacy source-3 codes)
WGI_IDS = [f"GOV_WGI_{c}.EST" for c in WGI_CODES] + [f"{c}.STD.ERR" for c in WGI_CODES]
WGI_YEARS = [2000, *range(2002, 2024)]
BULK = "API_EG.ELC.LOSS.ZS_DS2_en_csv_v2_5973.csv"  # EG.ELC.LOSS.ZS, as the World Bank's bulk CSV


def manifest() -> list[dict[str, str]]:
    with (SNAPSHOT / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_pages() -> dict[str, list]:
    """API page file name -> [meta, rows] with numbers kept as their exact digit strings."""
    return {p.name: json.loads(p.read_bytes(), parse_float=str, parse_int=str)
            for p in wb.snapshot_files(SNAPSHOT) if p.suffix == ".json"}


def load_bulk(path: Path) -> tuple[list[list[str]], list[str], list[list[str]]]:
    """A bulk CSV file -> (preamble lines, header, data rows), cells as written."""
    lines = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    return lines[:4], lines[4], lines[5:]


def snapshot_tokens() -> dict[tuple[str, str, int], str | None]:
    """Every value the snapshot writes, as its digit string: API nulls are None, empty CSV cells
    (no value) are absent."""
    out = {}
    for _, rows in load_pages().values():
        for r in rows:
            out[(r["indicator"]["id"], r["countryiso3code"], int(r["date"]))] = r["value"]
    for path in SNAPSHOT.glob("API_*.csv"):
        _, header, rows = load_bulk(path)
        for r in rows:
            for year, cell in zip(header, r):
                if year.isdigit() and cell:
                    out[(r[3], r[1], int(year))] = cell
    return out


@pytest.fixture(scope="module")
def parsed():
    con = duckdb.connect()
    try:
        yield wb.parse_inputs(con, wb.snapshot_files(SNAPSHOT))
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# Shape and manifest
# ---------------------------------------------------------------------------------------------
def test_every_file_parses(parsed) -> None:
    m = manifest()
    assert len(m) == 49 and sum(r["file"].endswith(".csv") for r in m) == 1
    assert logical_schema(parsed.schema) == wb.OUTPUT_SCHEMA
    # an API page lists a row for every economy and year (nulls too); a bulk CSV gives a row only
    # for a non-empty cell (its manifest `rows` counts the grid)
    assert parsed.num_rows == sum(int(r["non_null_rows" if r["file"].endswith(".csv") else "rows"]) for r in m)
    assert parsed.num_rows - parsed.column("value").null_count == sum(int(r["non_null_rows"]) for r in m)
    assert sorted(set(parsed.column("indicator_id").to_pylist())) == sorted(r["indicator_id"] for r in m)
    # API pages give the database id; the bulk CSV names it on its "Data Source" line
    assert set(parsed.column("source_database").to_pylist()) == {"2", "3", "World Development Indicators"}


def test_snapshot_files_are_listed_in_a_stable_order() -> None:
    files = wb.snapshot_files(SNAPSHOT)
    assert [p.name for p in files] == [r["file"] for r in manifest()]
    on_disk = {p.name for p in SNAPSHOT.iterdir()} - {"manifest.csv", "README.md"}
    assert on_disk == {p.name for p in [*SNAPSHOT.glob("*.json"), *SNAPSHOT.glob("API_*.csv")]}
    assert on_disk == {p.name for p in files} and BULK in on_disk
    assert "EG.ELC.LOSS.ZS.json" not in on_disk  # the series is there once, as the bulk CSV


def test_manifest_matches_the_files() -> None:
    m = manifest()
    assert list(m[0]) == MANIFEST_COLUMNS
    for row in m:
        path = SNAPSHOT / row["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"], row["file"]
        assert row["licence"] == "CC-BY-4.0" and row["origin_commit"] and row["origin_repository"]
        if path.suffix == ".csv":
            preamble, header, rows = load_bulk(path)
            years = [int(y) for y in header if y.isdigit()]
            cells = [c for r in rows for y, c in zip(header, r) if y.isdigit()]
            assert int(row["rows"]) == len(cells) == 9 * len(years)
            assert int(row["non_null_rows"]) == sum(bool(c) for c in cells)
            assert (int(row["first_year"]), int(row["last_year"])) == (min(years), max(years))
            assert row["source_database"] == "2" and row["lastupdated"] == preamble[2][1]
            assert {r[3] for r in rows} == {row["indicator_id"]}
            continue
        meta, rows = json.loads(path.read_bytes())
        years = [int(r["date"]) for r in rows]
        assert int(row["rows"]) == len(rows) == meta["total"]
        assert int(row["non_null_rows"]) == sum(r["value"] is not None for r in rows)
        assert (int(row["first_year"]), int(row["last_year"])) == (min(years), max(years))
        assert row["source_database"] == meta["sourceid"] and row["lastupdated"] == meta["lastupdated"]
        assert {r["indicator"]["id"] for r in rows} == {row["indicator_id"]}


def test_files_have_the_exact_api_shape() -> None:
    with wb.COUNTRIES_CSV.open(newline="", encoding="utf-8") as fh:
        # regions (XCA, XMR) have no World Bank id: not World Bank economies
        countries = sorted((c for c in csv.DictReader(fh) if c["wb_id"]), key=lambda c: c["country_name"])
    for name, doc in load_pages().items():
        assert isinstance(doc, list) and len(doc) == 2, name
        meta, rows = doc
        assert set(meta) == {"page", "pages", "per_page", "total", "sourceid", "lastupdated"}
        assert (meta["page"], meta["pages"], meta["per_page"]) == ("1", "1", "1000"), name
        assert meta["total"] == str(len(rows))
        indicator = rows[0]["indicator"]["id"]
        years = sorted({int(r["date"]) for r in rows}, reverse=True)
        if indicator in WGI_IDS:
            assert years == sorted(WGI_YEARS, reverse=True)
        else:
            assert years == list(range(years[0], 1999, -1)), name  # 2000..last, none missing
        expected = [(c["wb_id"], c["country_name"], c["country_iso3"], str(y))
                    for c in countries for y in years]
        got = [(r["country"]["id"], r["country"]["value"], r["countryiso3code"], r["date"]) for r in rows]
        assert got == expected, name  # economies by name, newest year first, every year listed
        for r in rows:
            assert list(r) == ["indicator", "country", "countryiso3code", "date", "value", "unit",
                               "obs_status", "decimal"]
            assert (r["unit"], r["obs_status"]) == ("", "") and r["decimal"] in ("0", "1")


def test_the_bulk_csv_has_the_world_bank_layout() -> None:
    raw = (SNAPSHOT / BULK).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw and raw.endswith(b",\n")
    lines = raw.decode("utf-8-sig").split("\n")
    assert lines[:4] == ['"Data Source","World Development Indicators",', "", '"Last Updated Date","2026-02-24",', ""]
    assert all(line.startswith('"') and line.endswith('",') for line in lines[4:] if line)  # quoted, trailing comma
    _, header, rows = load_bulk(SNAPSHOT / BULK)
    assert header == ["Country Name", "Country Code", "Indicator Name", "Indicator Code",
                      *map(str, range(2000, 2026)), ""]
    with wb.COUNTRIES_CSV.open(newline="", encoding="utf-8") as fh:
        economies = {(c["country_name"], c["country_iso3"]) for c in csv.DictReader(fh) if c["wb_id"]}
    assert {(r[0], r[1]) for r in rows} == economies and len(rows) == 9
    assert all(len(r) == len(header) and r[-1] == "" for r in rows)
    (belize,) = [r for r in rows if r[1] == "BLZ"]
    assert belize[4:] == [""] * 27  # a row, all empty: no value for any year


def test_snapshot_stays_small() -> None:
    total = sum(p.stat().st_size for p in SNAPSHOT.iterdir())
    assert total < 3 * 2**20


def test_nulls_where_the_source_has_no_value(parsed) -> None:
    rows = parsed.to_pylist()
    by_key = {(r["indicator_id"], r["country_iso3"], r["period"]): r["value"] for r in rows}
    # the bulk CSV's empty cells are no observation at all (an API page would list them as null)
    assert not [k for k in by_key if k[:2] == ("EG.ELC.LOSS.ZS", "BLZ")]
    assert by_key[("EG.ELC.LOSS.ZS", "GTM", "2022")] == 12.9136582430806
    assert by_key[("VC.IHR.PSRC.P5", "SLV", "2023")] is None
    ease = [r for r in rows if r["indicator_id"] == "IC.BUS.EASE.XQ" and r["value"] is not None]
    assert {r["period"] for r in ease} == {"2017"} and len(ease) == 9
    assert parsed.column("value").null_count > 0


# ---------------------------------------------------------------------------------------------
# Values against the published files
# ---------------------------------------------------------------------------------------------
def published_values() -> dict[tuple[str, str, int], str]:
    """Every published value from 2000 on, as its exact digit string."""
    out: dict[tuple[str, str, int], str] = {}
    folder = SHARED_DATA / "wdi_datahub"
    with (folder / "_index.csv").open(newline="", encoding="utf-8") as fh:
        codes = [r["indicator_code"] for r in csv.DictReader(fh)]
    for code in codes:
        with (folder / f"{code.lower()}.csv").open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                if int(r["Year"]) >= 2000:
                    out[(code, r["Country Code"], int(r["Year"]))] = r["Value"]
    (bulk,) = (SHARED_DATA / "wdi_bulk_csv").glob("API_*.csv")
    lines = list(csv.reader(bulk.open(newline="", encoding="utf-8-sig")))
    header = lines[4]
    for r in lines[5:]:
        for year, value in zip(header, r):
            if year.isdigit() and int(year) >= 2000 and value:
                out[(r[3], r[1], int(year))] = value
    wgi = dict(va="VA", pv="PV", ge="GE", rq="RQ", rl="RL", cc="CC")
    with next((SHARED_DATA / "wgi").glob("*.csv")).open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if int(r["year"]) >= 2000:
                out[(f"GOV_WGI_{wgi[r['indicator']]}.EST", r["code"], int(r["year"]))] = r["estimate"]
                if r["stddev"].strip():
                    out[(f"{wgi[r['indicator']]}.STD.ERR", r["code"], int(r["year"]))] = r["stddev"]
    return out


@needs_shared
def test_every_value_is_the_published_digit_string() -> None:
    published = published_values()
    tokens = snapshot_tokens()
    written = {k: v for k, v in tokens.items() if v is not None}
    assert written == published  # same keys (nothing dropped, nothing added), same digits
    assert len(written) == 8015 + 1242  # 1,242 WGI standard errors (6 x 207)


@needs_shared
def test_parsed_values_are_the_exact_floats(parsed) -> None:
    published = published_values()
    got = {(r["indicator_id"], r["country_iso3"], int(r["period"])): r["value"]
           for r in parsed.select(["indicator_id", "country_iso3", "period", "value"]).to_pylist()}
    assert {k: v for k, v in got.items() if v is not None} == {k: float(v) for k, v in published.items()}
    # A few by hand, from the files themselves:
    assert got[("VC.IHR.PSRC.P5", "SLV", 2022)] == 7.89768799960639
    assert got[("EG.ELC.LOSS.ZS", "CRI", 2000)] == 6.8362480127186
    assert got[("GOV_WGI_RL.EST", "GTM", 2023)] == -1.0752770900726318
    assert all(0 < got[(f"{c}.STD.ERR", "GTM", 2023)] < 1 for c in WGI_CODES)
    assert got[("IC.BUS.EASE.XQ", "BLZ", 2017)] == 121.0


@needs_shared
def test_series_metadata_follows_the_sources(parsed) -> None:
    with (SHARED_DATA / "wdi_datahub" / "_index.csv").open(newline="", encoding="utf-8") as fh:
        titles = {r["indicator_code"]: r["title"] for r in csv.DictReader(fh)}
    names = dict(zip(parsed.column("indicator_id").to_pylist(), parsed.column("indicator_name").to_pylist()))
    updated = dict(zip(parsed.column("indicator_id").to_pylist(), parsed.column("lastupdated").to_pylist()))
    for code, title in titles.items():
        assert names[code] == title and str(updated[code]) == "2026-07-01"
    assert names["EG.ELC.LOSS.ZS"] == "Electric power transmission and distribution losses (% of output)"
    assert str(updated["EG.ELC.LOSS.ZS"]) == "2026-02-24"
    assert names["GOV_WGI_PV.EST"] == "Political Stability and Absence of Violence/Terrorism: Estimate"
    assert names["PV.STD.ERR"] == "Political Stability and Absence of Violence/Terrorism: Standard Error"
    assert all(str(updated[i]) == "2025-04-30" for i in WGI_IDS)
    assert {r["source_database"] for r in manifest() if r["indicator_id"] in WGI_IDS} == {"3"}
    wgi_notes = [r["note"] for r in manifest() if r["indicator_id"] in WGI_IDS]
    assert len(wgi_notes) == 12 and all("capture date" in n for n in wgi_notes)


@needs_shared
def test_rebuild_is_byte_identical(tmp_path) -> None:
    out = tmp_path / "worldbank"
    subprocess.run([sys.executable, str(ROOT / "tools" / "build_snapshot.py"),
                    "--shared", str(SHARED_DATA), "--out", str(out)],
                   check=True, capture_output=True, cwd=ROOT)
    built = {p.name: p.read_bytes() for p in out.iterdir()}
    bundled = {p.name: p.read_bytes() for p in SNAPSHOT.iterdir()}
    assert built.keys() == bundled.keys()
    assert [n for n in built if built[n] != bundled[n]] == []
