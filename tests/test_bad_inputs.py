"""The corpus of bad inputs: each is rejected or quarantined with a message naming source, file,
row and rule; the published warehouse changes by the good rows only; a good file loads after it.

Files are built from real published figures (the bundled snapshot), then damaged the way real
downloads and hand-edited files go wrong.
"""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from tests.test_pipeline import _table_digests, one, ro

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "snapshot" / "worldbank"
YEARS = [str(y) for y in range(2000, 2026)]  # the year columns of the snapshot's bulk CSV


@pytest.fixture
def home(prefect_server, ciw_home, published) -> Path:
    shutil.copytree(published, ciw_home)
    return ciw_home


def api_page(indicator: str, edit=None, keep=None) -> str:
    """A real API page of `indicator` (rows with a value), optionally edited row by row."""
    meta, rows = json.loads((SNAPSHOT / f"{indicator}.json").read_text())
    rows = [r for r in rows if r["value"] is not None]
    if keep:
        rows = rows[:keep]
    if edit:
        rows = edit(rows)
    return json.dumps([{**meta, "total": len(rows)}, rows])


def snapshot_bulk(indicator: str) -> tuple[list[list[str]], list[str], list[list[str]]]:
    """The snapshot's World Bank bulk CSV of `indicator`: (preamble, header, rows), without the
    empty field every line's trailing comma makes."""
    (path,) = SNAPSHOT.glob(f"API_{indicator}_DS2_*.csv")
    lines = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    return [r[:-1] for r in lines[:4]], lines[4][:-1], [r[:-1] for r in lines[5:]]


def bulk_csv(indicator: str, edit_cell=None, delimiter: str = ",", header_edit=None, bom: bool = True) -> bytes:
    """The snapshot's bulk CSV of `indicator` (rows in its order), re-serialized in the World Bank
    layout, optionally damaged; undamaged, it is the snapshot file byte for byte."""
    preamble, header, rows = snapshot_bulk(indicator)
    assert header[4:] == YEARS
    q = lambda cells: delimiter.join(f'"{c}"' for c in cells) + delimiter  # noqa: E731
    if header_edit:
        header = header_edit(header)
    # the preamble keeps its commas: a wrong delimiter is found on the header line
    lines = [",".join(f'"{c}"' for c in preamble[0]) + ",", "", ",".join(f'"{c}"' for c in preamble[2]) + ",", "", q(header)]
    for r in rows:
        cells = r[4:]
        if edit_cell:
            cells = edit_cell(r[1], cells)
        lines.append(q([*r[:4], *cells]))
    text = "\n".join(lines) + "\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def test_bulk_csv_is_the_snapshot_file_when_undamaged():
    (path,) = SNAPSHOT.glob("API_EG.ELC.LOSS.ZS_DS2_*.csv")
    assert bulk_csv("EG.ELC.LOSS.ZS") == path.read_bytes()


def ingest(path: Path) -> dict:
    from flows.pipeline import ingest_file

    [src] = ingest_file(path=str(path), source="worldbank")["sources"]
    return src


def assert_rejected(home: Path, path: Path, rule: str, *, row: int | None = None, words: tuple[str, ...] = ()) -> None:
    before = _table_digests(home)
    src = ingest(path)
    assert src["status"] == "rejected", src
    msg = src["message"]
    assert "[worldbank]" in msg and path.name in msg and rule in msg, msg
    if row is not None:
        assert f"row={row}" in msg, msg
    for w in words:
        assert w in msg, msg
    assert _table_digests(home) == before
    assert_good_file_loads_after(home, path.parent)


def assert_quarantined(home: Path, path: Path, rule: str, n: int, *, loaded: int, bad_value: str | None = None) -> None:
    before = one(ro(home), "SELECT count(*) FROM quarantine")
    src = ingest(path)
    assert src["status"] == "ok" and src["rows_quarantined"] == n and src["rows_loaded"] + src["rows_unchanged"] == loaded, src
    con = ro(home)
    rows = con.sql("SELECT rule_id, source_file, source_row, bad_value, reason FROM quarantine WHERE source_file = $f AND rule_id = $r",
                   params={"f": path.name, "r": rule}).fetchall()
    assert len(rows) == n and one(con, "SELECT count(*) FROM quarantine") == before + n
    assert all(r[2] >= 1 and r[4] for r in rows)
    if bad_value is not None:
        assert bad_value in {r[3] for r in rows}
    assert_good_file_loads_after(home, path.parent)


def assert_good_file_loads_after(home: Path, folder: Path) -> None:
    good = folder / "good" / "SL.UEM.TOTL.ZS.json"
    good.parent.mkdir(exist_ok=True)
    meta, rows = json.loads((SNAPSHOT / "SL.UEM.TOTL.ZS.json").read_text())
    rows = [{**r, "value": r["value"] + 1} for r in rows if r["value"] is not None][:3]  # a revision, so it loads
    good.write_text(json.dumps([{**meta, "total": 3}, rows]))
    src = ingest(good)
    assert src["status"] == "ok" and src["rows_loaded"] == 3 - (src["rows_unchanged"])
    shutil.rmtree(good.parent)


# --- whole files rejected ---------------------------------------------------------------------
def test_truncated_json(home, tmp_path):
    f = tmp_path / "NY.GDP.MKTP.CD.json"
    f.write_text(api_page("NY.GDP.MKTP.CD")[:700])
    assert_rejected(home, f, "not_json")


def test_truncated_csv_names_the_cut_line(home, tmp_path):
    f = tmp_path / "API_EG.ELC.LOSS.ZS_DS2_en_csv_v2_5973.csv"
    data = bulk_csv("EG.ELC.LOSS.ZS")
    f.write_bytes(data[: len(data) - 40])
    assert_rejected(home, f, "truncated", row=14)


@pytest.mark.parametrize("name", ["NY.GDP.MKTP.CD.json", "API_NY.GDP.MKTP.CD_DS2_en_csv_v2_1.csv"])
def test_empty_file(home, tmp_path, name):
    f = tmp_path / name
    f.write_bytes(b"")
    assert_rejected(home, f, "empty_file" if name.endswith(".csv") else "not_json")


def test_header_only_csv_is_an_empty_batch(home, tmp_path):
    f = tmp_path / "API_EG.ELC.LOSS.ZS_DS2_en_csv_v2_5973.csv"
    f.write_bytes(b"\n".join(bulk_csv("EG.ELC.LOSS.ZS").split(b"\n")[:5]) + b"\n")
    assert_rejected(home, f, "batch_not_empty")


def test_wrong_delimiter(home, tmp_path):
    f = tmp_path / "API_EG.ELC.LOSS.ZS_DS2_en_csv_v2_5973.csv"
    f.write_bytes(bulk_csv("EG.ELC.LOSS.ZS", delimiter=";"))
    assert_rejected(home, f, "bad_header", row=5, words=("delimiter",))


def test_extra_column(home, tmp_path):
    f = tmp_path / "API_EG.ELC.LOSS.ZS_DS2_en_csv_v2_5973.csv"
    f.write_bytes(bulk_csv("EG.ELC.LOSS.ZS", header_edit=lambda h: [*h[:4], "Notes", *h[5:]]))
    assert_rejected(home, f, "bad_header", row=5, words=("Notes",))


def test_missing_column(home, tmp_path):
    f = tmp_path / "API_EG.ELC.LOSS.ZS_DS2_en_csv_v2_5973.csv"
    f.write_bytes(bulk_csv("EG.ELC.LOSS.ZS", header_edit=lambda h: ["Country Name", "Country", *h[2:]]))
    assert_rejected(home, f, "bad_header", row=5, words=("Country Code",))


def test_not_utf8(home, tmp_path):
    f = tmp_path / "SP.POP.TOTL.json"
    f.write_bytes(api_page("SP.POP.TOTL", keep=3).replace("Belize", "Bel\u00edze").encode("latin-1"))
    assert_rejected(home, f, "encoding")


def test_html_error_page_served_as_json(home, tmp_path):
    f = tmp_path / "SP.POP.TOTL.json"
    shutil.copy(Path(__file__).parent / "fixtures" / "worldbank" / "html_error.html", f)
    assert_rejected(home, f, "not_json", words=("HTML",))


def test_json_error_array(home, tmp_path):
    f = tmp_path / "SP.POP.TOTL.json"
    shutil.copy(Path(__file__).parent / "fixtures" / "worldbank" / "error_120.json", f)
    assert_rejected(home, f, "api_error", words=("120",))


# --- rows quarantined, the rest loads ---------------------------------------------------------
def test_bom_is_accepted(home, tmp_path):
    f = tmp_path / "SP.POP.TOTL.json"
    f.write_bytes(b"\xef\xbb\xbf" + api_page("SP.POP.TOTL", keep=3).encode())
    src = ingest(f)
    assert src["status"] == "ok" and src["rows_quarantined"] == 0 and src["rows_in"] == 3


def test_csv_with_bom_and_good_values_loads_exactly(home, tmp_path):
    f = tmp_path / "API_EG.ELC.LOSS.ZS_DS2_en_csv_v2_5973.csv"
    f.write_bytes(bulk_csv("EG.ELC.LOSS.ZS"))
    src = ingest(f)
    assert src["status"] == "ok" and src["rows_quarantined"] == 0
    con = ro(home)
    got = dict(con.sql("SELECT country_iso3 || period, value FROM fact_observation WHERE indicator_id = 'EG.ELC.LOSS.ZS'").fetchall())
    _, header, rows = snapshot_bulk("EG.ELC.LOSS.ZS")
    cells = {r[1] + y: float(v) for r in rows for y, v in zip(header[4:], r[4:]) if v}
    assert len(cells) == 188 and all(got[k] == v for k, v in cells.items())
    assert not [k for k in got if k.startswith("BLZ")]  # Belize's empty row: no observation


def test_non_numeric_value(home, tmp_path):
    f = tmp_path / "SP.POP.TOTL.json"
    f.write_text(api_page("SP.POP.TOTL", keep=4, edit=lambda rows: [{**rows[0], "value": "n/a"}, *rows[1:]]))
    assert_quarantined(home, f, "value_is_number", 1, loaded=3, bad_value="n/a")


def test_thousands_separator_and_decimal_comma(home, tmp_path):
    def damage(iso3, cells):
        if iso3 == "GTM":
            cells[YEARS.index("2010")] = "1,234.5"
            cells[YEARS.index("2011")] = "12,5"
        return cells

    f = tmp_path / "API_EG.ELC.LOSS.ZS_DS2_en_csv_v2_5973.csv"
    f.write_bytes(bulk_csv("EG.ELC.LOSS.ZS", edit_cell=damage))
    _, _, rows = snapshot_bulk("EG.ELC.LOSS.ZS")
    good_cells = sum(1 for r in rows for v in r[4:] if v) - 2
    src = ingest(f)
    assert src["status"] == "ok" and src["rows_quarantined"] == 2
    con = ro(home)
    q = con.sql("SELECT source_row, record_key, bad_value FROM quarantine WHERE source_file = $f ORDER BY record_key", params={"f": f.name}).fetchall()
    # Guatemala is the third economy of the file (BLZ, CRI, GTM), so line 5 (header) + 3 = line 8;
    # the record key is the fact key (indicator|country|period|sex|breakdown)
    assert q == [(8, "EG.ELC.LOSS.ZS|GTM|2010|total|total", "1,234.5"), (8, "EG.ELC.LOSS.ZS|GTM|2011|total|total", "12,5")]
    assert src["rows_loaded"] + src["rows_unchanged"] >= good_cells


def test_negative_rate(home, tmp_path):
    f = tmp_path / "VC.IHR.PSRC.P5.json"
    f.write_text(api_page("VC.IHR.PSRC.P5", keep=4, edit=lambda rows: [{**rows[0], "value": -3.2}, *rows[1:]]))
    assert_quarantined(home, f, "value_not_below_unit_minimum", 1, loaded=3, bad_value="-3.2")


def test_percentage_above_100(home, tmp_path):
    f = tmp_path / "EG.ELC.ACCS.ZS.json"
    f.write_text(api_page("EG.ELC.ACCS.ZS", keep=4, edit=lambda rows: [{**rows[0], "value": 104.2}, *rows[1:]]))
    assert_quarantined(home, f, "value_not_above_unit_maximum", 1, loaded=3, bad_value="104.2")


@pytest.mark.parametrize("year", ["2031", "1955"])
def test_year_in_the_future_or_before_1960(home, tmp_path, year):
    f = tmp_path / "SP.POP.TOTL.json"
    f.write_text(api_page("SP.POP.TOTL", keep=4, edit=lambda rows: [{**rows[0], "date": year}, *rows[1:]]))
    assert_quarantined(home, f, "year_in_range", 1, loaded=3, bad_value=year)


def test_unknown_country_code(home, tmp_path):
    f = tmp_path / "SP.POP.TOTL.json"
    f.write_text(api_page("SP.POP.TOTL", keep=4, edit=lambda rows: [{**rows[0], "countryiso3code": "XKX"}, *rows[1:]]))
    assert_quarantined(home, f, "known_country", 1, loaded=3, bad_value="XKX")


def test_unknown_country_name_without_code(home, tmp_path):
    def edit(rows):
        return [{**rows[0], "countryiso3code": "", "country": {"id": "", "value": "Atlantis"}}, *rows[1:]]

    f = tmp_path / "SP.POP.TOTL.json"
    f.write_text(api_page("SP.POP.TOTL", keep=4, edit=edit))
    assert_quarantined(home, f, "country_present", 1, loaded=3)


def test_duplicate_keys_with_equal_values_keep_one(home, tmp_path):
    f = tmp_path / "SP.POP.TOTL.json"
    f.write_text(api_page("SP.POP.TOTL", keep=3, edit=lambda rows: [*rows, rows[0]]))
    assert_quarantined(home, f, "unique_observation_key", 1, loaded=3)


def test_duplicate_keys_with_different_values_quarantine_all_copies(home, tmp_path):
    f = tmp_path / "SP.POP.TOTL.json"
    f.write_text(api_page("SP.POP.TOTL", keep=3, edit=lambda rows: [*rows, {**rows[0], "value": rows[0]["value"] + 1}]))
    assert_quarantined(home, f, "unique_observation_key", 2, loaded=2)
