"""The World Bank bulk-download CSV parser (flows/sources/worldbank_bulk.py, reached through
worldbank.parse) on the real layout, quirk by quirk: UTF-8 BOM, the 4 preamble lines, wide years,
every field quoted with a trailing comma, and Belize's all-empty row. The fixture is a 3-economy
cut of ../shared/data/wdi_bulk_csv (BLZ, CRI, GTM), lines unchanged."""
from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import duckdb
import pytest

from flows.sources import worldbank as wb
from flows.sources.http import SourceError

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "worldbank_bulk" / "API_EG.ELC.LOSS.ZS_DS2_en_csv_v2_5973.csv"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "wdi_bulk_csv"
NAME = "Electric power transmission and distribution losses (% of output)"


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def parse(con, path: Path) -> list[dict]:
    return wb.parse(con, [path]).to_pylist()


def variant(tmp_path: Path, edit) -> Path:
    """The fixture's bytes, edited (a damaged or differently serialized copy)."""
    out = tmp_path / FIXTURE.name
    out.write_bytes(edit(FIXTURE.read_bytes()))
    return out


def test_fixture_has_every_quirk_of_the_layout() -> None:
    raw = FIXTURE.read_bytes()
    lines = raw.decode("utf-8-sig").split("\n")
    assert raw.startswith(b"\xef\xbb\xbf")
    assert lines[:4] == ['"Data Source","World Development Indicators",', "", '"Last Updated Date","2026-02-24",', ""]
    assert all(line.startswith('"') and line.endswith('",') for line in lines[4:] if line)
    assert lines[4].startswith('"Country Name","Country Code","Indicator Name","Indicator Code","1960",')
    assert lines[4].endswith('"2025",') and lines[5].startswith('"Belize","BLZ"')


def test_wide_years_become_one_row_per_value_with_line_numbers(con) -> None:
    rows = parse(con, FIXTURE)
    got = {(r["country_iso3"], r["period"]): (r["value"], r["source_row"]) for r in rows}
    assert len(rows) == 34 + 33  # CRI 1990-2023, GTM 1990-2022: every non-empty cell, nothing else
    assert got[("CRI", "1990")] == (8.27566320645905, 7)  # line 7 of the file (header is line 5)
    assert got[("CRI", "2000")] == (6.8362480127186, 7)
    assert got[("CRI", "2023")] == (9.16583416583417, 7)
    assert got[("GTM", "2017")] == (11.6975308641975, 8)
    assert got[("GTM", "2022")] == (12.9136582430806, 8)
    assert ("GTM", "2023") not in got  # empty string = no value
    assert all(r["value_text"] == repr(r["value"]) or float(r["value_text"]) == r["value"] for r in rows)
    assert {r["indicator_id"] for r in rows} == {"EG.ELC.LOSS.ZS"} and {r["indicator_name"] for r in rows} == {NAME}


def test_belize_all_empty_row_gives_no_observation_and_no_error(con) -> None:
    rows = parse(con, FIXTURE)
    assert not [r for r in rows if r["country_iso3"] == "BLZ"]
    assert 6 not in {r["source_row"] for r in rows}


def test_preamble_last_updated_date_becomes_lastupdated(con) -> None:
    assert {r["lastupdated"] for r in parse(con, FIXTURE)} == {date(2026, 2, 24)}


def test_trailing_comma_is_not_a_column(con) -> None:
    periods = {r["period"] for r in parse(con, FIXTURE)}
    assert all(len(p) == 4 and p.isdigit() for p in periods) and "" not in periods


def test_without_bom_the_same_rows(tmp_path, con) -> None:
    no_bom = variant(tmp_path, lambda b: b.removeprefix(b"\xef\xbb\xbf"))
    assert parse(con, no_bom) == parse(con, FIXTURE)


def test_a_bom_is_not_part_of_the_first_field(tmp_path, con) -> None:
    # were the BOM read as text, line 1 would be '\ufeffData Source' and fail the preamble check
    rows = parse(con, FIXTURE)
    assert rows and rows[0]["source_file"] == FIXTURE.name


def test_a_quoted_comma_value_is_kept_as_text_for_the_validator(tmp_path, con) -> None:
    path = variant(tmp_path, lambda b: b.replace(b'"11.6975308641975"', b'"11,6975308641975"'))
    (bad,) = [r for r in parse(con, path) if r["country_iso3"] == "GTM" and r["period"] == "2017"]
    assert (bad["value"], bad["value_text"], bad["source_row"]) == (None, "11,6975308641975", 8)


@pytest.mark.parametrize("edit, rule, row", [
    (lambda b: b.replace(b'"Data Source"', b'"Source"', 1), "bad_preamble", 1),
    (lambda b: b.replace(b'"Last Updated Date","2026-02-24",', b'"Last Updated","2026-02-24",'), "bad_preamble", 3),
    (lambda b: b.replace(b'"2026-02-24"', b'"24/02/2026"'), "bad_preamble", 3),
    (lambda b: b"\n".join(b.split(b"\n")[:4]) + b"\n", "truncated", None),  # ends inside the preamble
    (lambda b: b.replace(b'"Indicator Code","1960"', b'"Indicator Code","Notes","1960"'), "bad_header", 5),
    (lambda b: b[:-30], "truncated", 8),  # cut inside the last line (line 8)
])
def test_broken_layouts_name_file_row_and_rule(tmp_path, con, edit, rule, row) -> None:
    path = variant(tmp_path, edit)
    with pytest.raises(SourceError) as info:
        wb.parse(con, [path])
    err = info.value
    assert (err.source, err.rule, err.row) == ("worldbank", rule, row), err
    assert err.file == str(path)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
def test_the_whole_published_file_parses_to_its_cells(con) -> None:
    (path,) = SHARED.glob("API_*.csv")
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    header, *body = list(csv.reader(lines[4:]))
    cells = {(r[1], y): v for r in body for y, v in zip(header, r) if y.isdigit() and v}
    rows = parse(con, path)
    assert {(r["country_iso3"], r["period"]): r["value_text"] for r in rows} == cells
    assert len(cells) == 4 * 34 + 4 * 33 and not any(k[0] == "BLZ" for k in cells)


def test_a_row_with_one_field_too_few_is_refused(tmp_path, con) -> None:
    with pytest.raises(SourceError) as info:
        wb.parse(con, [variant(tmp_path, lambda b: b[:-4] + b"\n")])
    assert (info.value.source, info.value.rule) == ("worldbank", "malformed_csv")


# Lines end with a delimiter, so a row with one field too many is not caught by DuckDB's strict mode:
# the extra field would slide into the trailing empty column and every later cell move one year. And
# on a small file a short row fails DuckDB's dialect sniffing, whose message names no line. So
# worldbank_bulk.py counts the fields of every line and reads with auto_detect=false.
@pytest.mark.parametrize("edit", [
    lambda b: b[:-4] + b"\n",  # the last row lost one field
    lambda b: b.replace(b'"GTM","', b'"GTM","extra","'),  # inside the ID columns
    # among the years: one more empty cell before GTM's first value (1990)
    lambda b: b.replace(b'"EG.ELC.LOSS.ZS",' + b'"",' * 30 + b'"15.7590', b'"EG.ELC.LOSS.ZS",' + b'"",' * 31 + b'"15.7590')
])
def test_a_row_with_a_wrong_field_count_is_refused_naming_its_line(tmp_path, con, edit) -> None:
    path = variant(tmp_path, edit)
    assert path.read_bytes() != FIXTURE.read_bytes()
    with pytest.raises(SourceError) as info:
        wb.parse(con, [path])
    assert (info.value.rule, info.value.row) == ("malformed_csv", 8)
