"""The OLADE sieLAC connector on sieLAC's own xlsx layouts, its snapshot, and a real local server.

Values are the published figures (sieLAC exports of June 2026, as bundled), e.g. "Guatemala 2022:
electricity imports 1480.7940606843124 GWh, exports 1103.9541639767592 GWh" (balance sheet
'2022 - Guatemala', rows IMPORTACIÓN / EXPORTACIÓN, column ELECTRICIDAD).
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import subprocess
import sys
import unicodedata
from datetime import datetime
from pathlib import Path

import duckdb
import openpyxl
import pyarrow as pa
import pytest
import yaml

from flows.config import PROJECT_ROOT, Settings
from flows.registry import source
from flows.sources import olade
from flows.sources.http import SourceError
from flows.sources.sheets import country_iso3
from tests.fakeserver import Reply, serving
from tools.xlsx_rebuild import save as save_exact

SNAPSHOT = PROJECT_ROOT / "data" / "snapshot" / "olade"
SHARED = PROJECT_ROOT.parent / "shared" / "data" / "olade_cepalstat"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "olade"
CATALOG = PROJECT_ROOT / "data" / "catalog"
BALANCE = SNAPSHOT / "olade_energy_balance_2020_2024.xlsx"
GENERATION = SNAPSHOT / "olade_generation_by_source_2020_2024.xlsx"
CONSUMPTION = SNAPSHOT / "olade_final_consumption_electricity_2020_2024.xlsx"
SIEPAC = {"CRI", "SLV", "GTM", "HND", "NIC", "PAN"}
FAST = {"retries": 2, "backoff": 0.001, "timeout": 5.0}
IMP, EXP, PROD, GEN, CONS = ("OLADE.ELEC.IMPORTS.GWH", "OLADE.ELEC.EXPORTS.GWH", "OLADE.ELEC.PROD.GWH",
                             "OLADE.ELEC.GEN.GWH", "OLADE.ELEC.FINAL_CONS.GWH")


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def parse(con: duckdb.DuckDBPyConnection, *paths: Path) -> pa.Table:
    return olade.parse(con, list(paths))


def by_key(t: pa.Table) -> dict[tuple, dict]:
    """Rows keyed by (indicator, country, period, breakdown); fails on a duplicate key."""
    out: dict[tuple, dict] = {}
    for row in t.to_pylist():
        key = (row["indicator_id"], row["country_iso3"], row["period"], row["breakdown"] or "total")
        assert key not in out, f"duplicate key {key}"
        out[key] = row
    return out


def variant(tmp_path: Path, src: Path, change, name: str | None = None) -> Path:
    """A copy of a snapshot workbook edited with openpyxl (the layout change under test), saved
    with every figure's exact digits (plain openpyxl would round them to 16)."""
    wb = openpyxl.load_workbook(src)
    change(wb)
    out = tmp_path / (name or src.name)
    save_exact(wb, out, datetime(2026, 6, 30))
    return out


# ---------------------------------------------------------------------------------------------
# Energy balance: one sheet per year and country, electricity trade
# ---------------------------------------------------------------------------------------------
def test_balance_trade_of_guatemala_2022(con) -> None:
    rows = by_key(parse(con, BALANCE))
    imports, exports = rows[(IMP, "GTM", "2022", "total")], rows[(EXP, "GTM", "2022", "total")]
    assert (imports["value"], imports["value_text"], imports["unit"]) == (1480.7940606843124, "1480.7940606843124", "GWh")
    assert exports["value"] == 1103.9541639767592
    # the row within its sheet (title, subtitle, header and units rows come first) and the sheet itself
    assert (imports["source_file"], imports["source_row"], exports["source_row"]) == (BALANCE.name, 8, 9)
    assert imports["note"] == "sheet '2022 - Guatemala'"
    assert imports["indicator_name"] == "Electricidad - IMPORTACIÓN"
    assert rows[(PROD, "CRI", "2020", "total")]["value"] == 11607.23761525414
    assert rows[(IMP, "HND", "2021", "total")]["value"] == 204.48258


def test_accented_country_and_sheet_names(con) -> None:
    rows = by_key(parse(con, BALANCE))
    pan = rows[(EXP, "PAN", "2024", "total")]
    assert pan["value"] == 593.509261 and pan["note"] == "sheet '2024 - Panamá'"
    assert {k[1] for k in rows} == SIEPAC
    for name in ("Panamá", "Panama", unicodedata.normalize("NFD", "Panamá"), "  PANAMÁ "):
        assert country_iso3(name) == "PAN"
    assert country_iso3("República Dominicana") is None  # outside the catalog: left for the validator


def test_empty_cells_are_no_data_and_zeros_are_values(con) -> None:
    rows = by_key(parse(con, BALANCE, GENERATION))
    # Nicaragua's EXPORTACIÓN cells are empty in every year: no row, while its imports are there
    assert [k for k in rows if k[0] == EXP and k[1] == "NIC"] == []
    assert rows[(IMP, "NIC", "2020", "total")]["value"] == 1070.7
    # Costa Rica's natural gas generation is empty; its biogas is a published 0 in 2020
    assert (GEN, "CRI", "2020", "generation_source=natural_gas") not in rows
    assert rows[(GEN, "CRI", "2020", "generation_source=biogas")]["value"] == 0.0
    assert (GEN, "CRI", "2022", "generation_source=biogas") not in rows


def test_footnotes_under_a_sheet_become_its_rows_note(con) -> None:
    rows = by_key(parse(con, BALANCE))
    assert rows[(IMP, "CRI", "2022", "total")]["note"] == (
        "sheet '2022 - Costa Rica'; Balance energético 2022 estimado por OLADE.")
    assert "sujetos a revisión" in rows[(EXP, "CRI", "2024", "total")]["note"]
    # Panamá's footnote is about the OTRAS PRIMARIAS column, not electricity
    assert rows[(IMP, "PAN", "2020", "total")]["note"] == "sheet '2020 - Panamá'"


# ---------------------------------------------------------------------------------------------
# Generation by source: indented sub-rows, one column per year
# ---------------------------------------------------------------------------------------------
def test_generation_by_source_of_honduras_2023(con) -> None:
    rows = by_key(parse(con, GENERATION))
    hydro = rows[(GEN, "HND", "2023", "generation_source=hydro")]
    assert hydro["value"] == 3208.2356978522694 and hydro["unit"] == "GWh"
    assert hydro["indicator_name"] == "Generación eléctrica - Hidro"
    assert hydro["note"].startswith("sheet '4.Honduras'; sub-item of 'Fuentes renovable (no combustión)'")
    assert (hydro["source_file"], hydro["source_row"]) == (GENERATION.name, 16)
    total = rows[(GEN, "HND", "2023", "total")]
    assert total["value"] == 11843.919083686695 and "sub-item" not in total["note"]
    assert rows[(GEN, "PAN", "2024", "generation_source=coal")]["value"] == 0.0
    assert rows[(GEN, "SLV", "2022", "generation_source=natural_gas")]["value"] == 1027.1188699999998


def test_generation_groups_are_the_sums_of_their_indented_sub_rows(con) -> None:
    """The catalog tells users the groups hold their sub-rows (never sum all breakdowns): check it."""
    rows = by_key(parse(con, GENERATION))
    groups = {"thermal_non_renewable": ["oil_products", "natural_gas", "coal", "other_non_renewable_thermal"],
              "thermal_renewable": ["biogas", "solid_biomass", "liquid_biofuels"],
              "renewable_non_combustion": ["hydro", "geothermal", "wind", "solar"]}
    for (ind, iso3, year, breakdown), row in rows.items():
        group = breakdown.removeprefix("generation_source=")
        if group in groups:
            parts = [rows.get((ind, iso3, year, f"generation_source={p}"), {"value": 0.0})["value"] for p in groups[group]]
            assert row["value"] == pytest.approx(sum(parts), rel=1e-9), (iso3, year, group)
    total = rows[(GEN, "GTM", "2024", "total")]["value"]
    assert total == pytest.approx(sum(rows[(GEN, "GTM", "2024", f"generation_source={g}")]["value"] for g in groups), rel=1e-9)


def test_final_consumption_blocks_per_year(con) -> None:
    rows = by_key(parse(con, CONSUMPTION))
    slv = rows[(CONS, "SLV", "2024", "total")]
    assert (slv["value"], slv["unit"], slv["source_row"]) == (8177.120587333732, "GWh", 48)
    assert slv["note"] == "sheet '1.CONSUMO FINAL'"
    assert rows[(CONS, "PAN", "2020", "total")]["value"] == 11024.136726208584
    assert len(rows) == 30


def test_snapshot_rows_and_scope(con) -> None:
    t = parse(con, *source("olade").snapshot_files(Settings()))
    rows = by_key(t)
    counts = {}
    for ind, *_ in rows:
        counts[ind] = counts.get(ind, 0) + 1
    assert counts == {IMP: 30, EXP: 25, PROD: 30, GEN: 343, CONS: 30}
    assert t.num_rows == 458 and t["value"].null_count == 0
    assert set(t["country_iso3"].to_pylist()) == SIEPAC
    assert set(t["period"].to_pylist()) == {"2020", "2021", "2022", "2023", "2024"}


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not present")
def test_full_exports_parse_like_the_trimmed_snapshot(con) -> None:
    """The real balance has 28 carrier columns (ELECTRICIDAD is column Q): the column is found by its
    header, so the trimmed snapshot gives exactly the same rows."""
    names = [BALANCE.name, GENERATION.name, CONSUMPTION.name]
    full = parse(con, *[SHARED / n for n in names])
    assert full.equals(parse(con, *[SNAPSHOT / n for n in names]))
    wb = openpyxl.load_workbook(SHARED / BALANCE.name, read_only=True)
    assert wb["2020 - Costa Rica"]["Q5"].value == "ELECTRICIDAD"
    wb.close()


# ---------------------------------------------------------------------------------------------
# Dispatch by content, layout changes, bad files
# ---------------------------------------------------------------------------------------------
def test_workbooks_are_recognised_by_content_not_name(con, tmp_path) -> None:
    renamed = tmp_path / "olade_energy_balance_2020_2024.xlsx"
    shutil.copy(GENERATION, renamed)
    other = tmp_path / "export.xlsx"
    shutil.copy(CONSUMPTION, other)
    t = parse(con, renamed, other)
    assert set(t["indicator_id"].to_pylist()) == {GEN, CONS}
    assert by_key(t)[(GEN, "HND", "2023", "generation_source=hydro")]["value"] == 3208.2356978522694


def test_a_workbook_of_another_report_is_refused(con) -> None:
    other = PROJECT_ROOT / "data" / "snapshot" / "cepalstat" / "cepalstat_average_electricity_price.xlsx"
    with pytest.raises(SourceError) as err:
        parse(con, other)
    assert err.value.rule == "unknown_workbook" and err.value.file == str(other)
    assert "datos" in str(err.value)


def test_an_extra_sheet_is_tolerated(con, tmp_path) -> None:
    def add_notes(wb):
        ws = wb.create_sheet("Notas")
        ws.append(["Descargado de sieLAC", "junio 2026"])
        ws.append([None, "IMPORTACIÓN", 1])

    balance = variant(tmp_path, BALANCE, add_notes)
    generation = variant(tmp_path, GENERATION, add_notes)
    assert parse(con, balance, generation).equals(parse(con, BALANCE, GENERATION))


def test_a_renamed_balance_sheet_is_refused(con, tmp_path) -> None:
    bad = variant(tmp_path, BALANCE, lambda wb: setattr(wb["2022 - Honduras"], "title", "Hoja1"))
    with pytest.raises(SourceError) as err:
        parse(con, bad)
    assert err.value.rule == "sheet_missing" and err.value.file == str(bad)
    assert "'Hoja1'" in err.value.message and "'2022 - Honduras'" in err.value.message


def test_a_missing_balance_sheet_is_refused(con, tmp_path) -> None:
    bad = variant(tmp_path, BALANCE, lambda wb: wb.remove(wb["2022 - Honduras"]))
    with pytest.raises(SourceError) as err:
        parse(con, bad)
    assert err.value.rule == "sheet_missing" and err.value.file == str(bad)
    assert "['2022 - Honduras']" in err.value.message


def test_a_renamed_or_missing_generation_sheet_is_refused(con, tmp_path) -> None:
    renamed = variant(tmp_path, GENERATION, lambda wb: setattr(wb["3.Guatemala"], "title", "Guatemala"))
    with pytest.raises(SourceError) as err:
        parse(con, renamed)
    assert err.value.rule == "sheet_missing" and "sheet 'Guatemala'" in err.value.message
    missing = variant(tmp_path, GENERATION, lambda wb: wb.remove(wb["3.Guatemala"]), name="gen_missing.xlsx")
    with pytest.raises(SourceError) as err:
        parse(con, missing)
    assert err.value.rule == "sheet_missing" and "[3]" in err.value.message and err.value.file == str(missing)


@pytest.mark.parametrize(("src", "sheet", "cell", "new", "rule", "row"), [
    (BALANCE, "2021 - El Salvador", "B5", "ELECTRICITY", "header", 5),
    (BALANCE, "2021 - El Salvador", "B6", "TWh", "unit", 6),
    (BALANCE, "2021 - El Salvador", "A8", "   IMPORTACION NETA", "header", 7),
    (GENERATION, "2.El Salvador", "A5", "Description", "header", 5),
    (GENERATION, "2.El Salvador", "E5", "2022e", "header", 5),
    (GENERATION, "2.El Salvador", "A16", "Hidro", "header", 16),  # a sub-row lost its indentation
    (GENERATION, "2.El Salvador", "A16", "   Hidroeléctrica", "header", 16),
    (GENERATION, "2.El Salvador", "B16", "MWh", "unit", 16),
    (CONSUMPTION, "1.CONSUMO FINAL", "B25", "Electricity", "header", 25),
    (CONSUMPTION, "1.CONSUMO FINAL", "A24", "PRODUCCIÓN - 2022", "header", 24),
])
def test_a_changed_header_is_refused_naming_file_and_sheet(con, tmp_path, src, sheet, cell, new, rule, row) -> None:
    def change(wb):
        wb[sheet][cell] = new

    bad = variant(tmp_path, src, change)
    with pytest.raises(SourceError) as err:
        parse(con, bad)
    assert (err.value.rule, err.value.file, err.value.row) == (rule, str(bad), row)
    assert err.value.message.startswith(f"sheet {sheet!r}:")


def test_a_non_numeric_cell_is_kept_for_quarantine(con, tmp_path) -> None:
    def change(wb):
        wb["6.Panamá"]["D16"] = "n.d."

    t = by_key(parse(con, variant(tmp_path, GENERATION, change)))
    row = t[(GEN, "PAN", "2021", "generation_source=hydro")]
    assert (row["value"], row["value_text"], row["source_row"]) == (None, "n.d.", 16)
    assert t[(GEN, "PAN", "2020", "generation_source=hydro")]["value"] == 7349.2


def test_an_html_page_saved_as_xlsx_is_refused(con, tmp_path) -> None:
    bad = tmp_path / "olade_energy_balance_2020_2024.xlsx"
    bad.write_bytes((FIXTURES / "html_error.html").read_bytes())
    with pytest.raises(SourceError) as err:
        parse(con, bad)
    assert err.value.rule == "not_xlsx" and err.value.file == str(bad) and "HTML" in err.value.message


def test_a_truncated_workbook_is_refused(con, tmp_path) -> None:
    bad = tmp_path / "cut.xlsx"
    bad.write_bytes(GENERATION.read_bytes()[:3000])
    with pytest.raises(SourceError) as err:
        parse(con, bad)
    assert err.value.rule == "not_xlsx" and err.value.file == str(bad)


# ---------------------------------------------------------------------------------------------
# Snapshot, catalog, links, suite
# ---------------------------------------------------------------------------------------------
def test_registered_with_its_snapshot(con) -> None:
    src = source("olade")
    assert (src.source_id, src.snapshot, src.parse, src.fetch_live) == ("olade", "olade", olade.parse, olade.fetch_live)
    assert [p.name for p in src.snapshot_files(Settings())] == [BALANCE.name, GENERATION.name, CONSUMPTION.name]
    assert {v.isoformat() for v in src.snapshot_retrieved_at(Settings()).values()} == {
        "2026-06-05T09:09:38", "2026-06-30T17:41:21", "2026-06-03T08:43:01"}


def test_manifest_lists_every_file_with_its_hash() -> None:
    text = (SNAPSHOT / "manifest.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "file,publisher,address,licence,retrieved_at,sha256,origin,note"
    for row in csv.DictReader(text.splitlines()):
        assert hashlib.sha256((SNAPSHOT / row["file"]).read_bytes()).hexdigest() == row["sha256"]
        assert row["origin"].startswith("giovanni-serrano/siepac-analysis/data/raw/")
        assert row["origin"].endswith("@7da18251cacaa3c8d4751f21369a498af0154857")
    assert sum(p.stat().st_size for p in SNAPSHOT.iterdir()) < 200_000


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not present")
def test_snapshot_rebuild_is_identical_and_not_a_copy(tmp_path) -> None:
    subprocess.run([sys.executable, str(PROJECT_ROOT / "tools" / "snapshot_olade.py"),
                    "--shared", str(SHARED.parent), "--out", str(tmp_path)], check=True, capture_output=True)
    for name in (BALANCE.name, GENERATION.name, CONSUMPTION.name, "manifest.csv"):
        assert (tmp_path / name).read_bytes() == (SNAPSHOT / name).read_bytes(), name
    for name in (BALANCE.name, GENERATION.name, CONSUMPTION.name):
        assert (SNAPSHOT / name).read_bytes() != (SHARED / name).read_bytes(), name


def test_snapshot_keeps_the_publisher_layout() -> None:
    wb = openpyxl.load_workbook(BALANCE)
    assert len(wb.sheetnames) == 30 and wb.sheetnames[5] == "2020 - Panamá"
    ws = wb["2020 - Costa Rica"]
    assert [ws[c].value for c in ("A1", "A2", "A3", "A4", "B5", "B6", "A7")] == [
        None, None, "Matriz de balance energético", "2020 - Costa Rica", "ELECTRICIDAD", "GWh", "   PRODUCCIÓN"]
    assert ws.freeze_panes == "B7" and ws["A37"].value.startswith("Fuente:")
    gen = openpyxl.load_workbook(GENERATION)["1.Costa Rica"]
    assert [gen[c].value for c in ("A3", "A5", "C5", "A16")] == [
        "Tema: Generación eléctrica por fuente - Anual", "Descripción", "2020", "   Hidro"]


def catalog_rows(kind: str) -> list[dict[str, str]]:
    text = (CATALOG / kind / "olade.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def test_catalog_and_links(con) -> None:
    header = (CATALOG / "indicators" / "olade.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "indicator_id,name,unit,source_id,publisher,licence,direction,valid_min,valid_max,flat_band,flat_band_kind,theme,notes"
    indicators = {r["indicator_id"]: r for r in catalog_rows("indicators")}
    parsed = parse(con, *source("olade").snapshot_files(Settings()))
    assert set(indicators) == set(parsed["indicator_id"].to_pylist())
    assert {r["source_id"] for r in indicators.values()} == {"olade"}
    assert {r["theme"] for r in indicators.values()} == {"energy_siepac"}
    for r in indicators.values():
        assert r["direction"] in {"higher", "lower", "neutral"} and r["flat_band_kind"] in {"abs", "rel"}
    values = parsed["value"].to_pylist()
    assert all(0 <= v <= float(indicators[i]["valid_max"]) for i, v in zip(parsed["indicator_id"].to_pylist(), values))
    links_text = (CATALOG / "links" / "olade.csv").read_text(encoding="utf-8")
    assert links_text.splitlines()[0] == "commitment_id,key_phrase,indicator_id,relation,base_year,rationale"
    document = (PROJECT_ROOT / "data" / "documents" / "dhs-2017-06-16-key-deliverables.md").read_text(encoding="utf-8")
    for link in catalog_rows("links"):
        assert link["indicator_id"] in indicators and link["relation"] in {"direct", "proxy", "context"}
        assert link["key_phrase"] in document and link["commitment_id"].startswith("dhs-2017-06-16-key-deliverables:")
        # the export starts in 2020: the baseline is the first year with data, not an empty 2017
        assert int(link["base_year"]) == 2020


def suite_rules() -> dict[str, dict]:
    suite = json.loads((PROJECT_ROOT / "expectations" / "sources" / "olade.json").read_text(encoding="utf-8"))
    return {e["meta"]["rule_id"]: e for e in suite["expectations"]}


def test_source_suite_uses_known_row_rules_and_passes_the_snapshot(con) -> None:
    known = yaml.safe_load((PROJECT_ROOT / "sql" / "rules.yaml").read_text(encoding="utf-8"))
    rules = suite_rules()
    assert all(e["type"] in known and e["meta"]["scope"] == "row" and e["meta"]["reason"] for e in rules.values())
    t = parse(con, *source("olade").snapshot_files(Settings())).to_pylist()
    assert {r["unit"] for r in t} == set(rules["olade_unit_gwh"]["kwargs"]["value_set"])
    known_breakdowns = set(rules["olade_breakdown_known"]["kwargs"]["value_set"])
    assert {r["breakdown"] or "total" for r in t} == known_breakdowns - {"generation_source=other_non_renewable_thermal"}
    assert "generation_source=Hidro" not in known_breakdowns
    sheet = re.compile(rules["olade_row_names_sheet"]["kwargs"]["regex"])
    assert all(sheet.search(r["note"]) for r in t)
    assert not sheet.search("Balance energético 2022 estimado por OLADE.")


# ---------------------------------------------------------------------------------------------
# Live fetch against a real local server
# ---------------------------------------------------------------------------------------------
SERVED = {name: SNAPSHOT / f"{stem}_2020_2024.xlsx" for name, stem in (
    ("olade_energy_balance.xlsx", "olade_energy_balance"),
    ("olade_generation_by_source.xlsx", "olade_generation_by_source"),
    ("olade_final_consumption_electricity.xlsx", "olade_final_consumption_electricity"),
)}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def serve_reports(fake, **override: Reply) -> None:
    for name, (path, _) in olade.REPORTS.items():
        fake.on(path, None, override.get(name.removesuffix(".xlsx"), Reply(SERVED[name].read_bytes(), content_type=XLSX)))


def test_report_addresses_are_on_sielac() -> None:
    assert olade.BASE_URL == "https://sielac.olade.org"
    assert set(olade.REPORTS) == set(SERVED)
    assert {kind for _, kind in olade.REPORTS.values()} == {olade.BALANCE, olade.GENERATION, olade.CONSUMPTION}


def test_fetch_live_retries_a_503_and_lands_parseable_exports(con, tmp_path) -> None:
    with serving() as fake:
        serve_reports(fake)
        fake.on(olade.REPORTS["olade_energy_balance.xlsx"][0], None,
                Reply(b"busy", status=503, content_type="text/plain"),
                Reply(BALANCE.read_bytes(), content_type=XLSX))
        paths = olade.fetch_live(Settings(), tmp_path, base_url=fake.origin, **FAST)
        assert fake.hits[olade.REPORTS["olade_energy_balance.xlsx"][0]] == 2
    assert sorted(p.name for p in paths) == sorted(SERVED)
    landed = by_key(parse(con, *paths))
    assert landed[(IMP, "GTM", "2022", "total")]["value"] == 1480.7940606843124
    assert len(landed) == 458


def test_fetch_live_refuses_an_html_page_and_writes_nothing(tmp_path) -> None:
    with serving() as fake:
        serve_reports(fake, olade_generation_by_source=Reply((FIXTURES / "html_error.html").read_bytes(),
                                                             content_type="text/html"))
        with pytest.raises(SourceError) as err:
            olade.fetch_live(Settings(), tmp_path / "landing", base_url=fake.origin, **FAST)
    assert err.value.rule == "not_xlsx" and "HTML" in err.value.message
    assert err.value.url.endswith(olade.REPORTS["olade_generation_by_source.xlsx"][0])
    assert not (tmp_path / "landing").exists()


def test_fetch_live_refuses_the_wrong_report(tmp_path) -> None:
    with serving() as fake:
        serve_reports(fake, olade_final_consumption_electricity=Reply(GENERATION.read_bytes(), content_type=XLSX))
        with pytest.raises(SourceError) as err:
            olade.fetch_live(Settings(), tmp_path, base_url=fake.origin, **FAST)
    assert err.value.rule == "unknown_workbook" and "consumption" in err.value.message


def test_fetch_live_gives_up_after_the_retries(tmp_path) -> None:
    with serving() as fake:
        serve_reports(fake, olade_energy_balance=Reply(b"down", status=500, content_type="text/plain"))
        with pytest.raises(SourceError) as err:
            olade.fetch_live(Settings(), tmp_path, base_url=fake.origin, **FAST)
        assert fake.hits[olade.REPORTS["olade_energy_balance.xlsx"][0]] == 3
    assert err.value.rule == "http_status"
