"""OLADE sieLAC report exports (xlsx): electricity trade, production, generation by source and
final consumption of the SIEPAC countries.

sieLAC exports reports for people, not machines, so the parser reads each sheet the way a reader
would: the title row says which report a sheet belongs to (the workbook is dispatched by that, not
by its file name), the subtitle or the sheet name says which year and country, the header and the
units row locate the electricity column, and leading spaces mark sub-rows. Three reports are read:

- "Matriz de balance energético", one sheet per year and country (`2020 - Costa Rica`): the
  ELECTRICIDAD column's PRODUCCIÓN, IMPORTACIÓN and EXPORTACIÓN rows. Imports and exports are the
  country's cross-border electricity trade, i.e. its use of the regional interconnection.
- "Generación eléctrica por fuente - Anual", one sheet per country (`1.Costa Rica`): one row per
  source, indented sub-rows under three groups, one column per year.
- "Series de oferta y demanda" for CONSUMO FINAL of electricity: one block per year.

Sheets without a sieLAC title are tolerated (someone's notes); a data sheet that is missing or
renamed, or whose header changed, raises SourceError naming the file and the sheet.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow as pa

from flows.config import Settings
from flows.registry import Source
from flows.sources.http import DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT, SourceError, fetch, land, make_client
from flows.sources.observations import to_parsed
from flows.sources.sheets import (
    Rows, check_xlsx_body, country_iso3, fold, indent, open_xlsx, reading, sheet_rows, text,
)

SOURCE_ID = "olade"
PUBLISHER = "OLADE (Organización Latinoamericana de Energía), sieLAC"
BASE_URL = "https://sielac.olade.org"
# The files carry no licence; the origin project (giovanni-serrano/siepac-analysis,
# data/raw/MANIFIESTO.md) reports that sieLAC's terms forbid storing the exports in another
# system or redistributing them (not checked here against the terms themselves).
LICENCE = "sieLAC-OLADE terms of use (not stated in the files; reportedly no redistribution)"

BALANCE, GENERATION, CONSUMPTION = "balance", "generation", "consumption"
# A sheet's first title line says which report it is (compared accent- and case-insensitively).
TITLES = {
    fold("Matriz de balance energético"): BALANCE,
    fold("Tema: Generación eléctrica por fuente - Anual"): GENERATION,
    fold("Series de oferta y demanda"): CONSUMPTION,
}
# (unverified) sieLAC builds reports in an interactive form (Estadísticas Energéticas de ALC /
# Reportes / ...) and offers them as xlsx; no stable export address is documented or was found.
# These paths stand for the three exports the snapshot came from and must be confirmed on the
# portal before a live run; the check below refuses anything that is not the expected report.
REPORTS: dict[str, tuple[str, str]] = {
    "olade_energy_balance.xlsx": ("/reportes/oferta-demanda/matriz-balance-energetico.xlsx", BALANCE),
    "olade_generation_by_source.xlsx": ("/reportes/electrico/generacion-por-fuente-anual.xlsx", GENERATION),
    "olade_final_consumption_electricity.xlsx": ("/reportes/oferta-demanda/series-oferta-demanda.xlsx", CONSUMPTION),
}

ELECTRICITY = fold("ELECTRICIDAD")
GWH = fold("GWh")
# Balance rows read from the ELECTRICIDAD column: folded label -> (indicator id, name).
BALANCE_FLOWS = {
    fold("PRODUCCIÓN"): ("OLADE.ELEC.PROD.GWH", "Electricidad - PRODUCCIÓN"),
    fold("IMPORTACIÓN"): ("OLADE.ELEC.IMPORTS.GWH", "Electricidad - IMPORTACIÓN"),
    fold("EXPORTACIÓN"): ("OLADE.ELEC.EXPORTS.GWH", "Electricidad - EXPORTACIÓN"),
}
GENERATION_ID = "OLADE.ELEC.GEN.GWH"
# Generation rows: folded label -> (generation_source breakdown, None for the total; is a sub-row).
# The three groups are sums of their sub-rows, so never add up all breakdowns of a country-year.
GENERATION_ROWS = {
    fold("Térmica no renovable (combustión)"): ("thermal_non_renewable", False),
    fold("Petróleo y derivados"): ("oil_products", True),
    fold("Gas natural"): ("natural_gas", True),
    fold("Carbón mineral"): ("coal", True),
    fold("Otras fuentes"): ("other_non_renewable_thermal", True),
    fold("Térmica renovable (combustión)"): ("thermal_renewable", False),
    fold("Biogás"): ("biogas", True),
    fold("Biomasa sólida"): ("solid_biomass", True),
    fold("Biocombustibles líquidos"): ("liquid_biofuels", True),
    fold("Fuentes renovable (no combustión)"): ("renewable_non_combustion", False),
    fold("Hidro"): ("hydro", True),
    fold("Geotermia"): ("geothermal", True),
    fold("Eólica"): ("wind", True),
    fold("Solar"): ("solar", True),
    fold("Total"): (None, False),
}
# "Series de oferta y demanda" blocks read: folded series name -> (indicator id, name).
CONSUMPTION_SERIES = {fold("CONSUMO FINAL"): ("OLADE.ELEC.FINAL_CONS.GWH", "Electricidad - CONSUMO FINAL")}

Table = list[tuple[Any, ...]]


def _error(message: str, path: Path, sheet: str, rule: str, row: int | None = None) -> SourceError:
    return SourceError(f"sheet {sheet!r}: {message}", source=SOURCE_ID, rule=rule, file=str(path), row=row)


def sheet_kind(rows: Table) -> tuple[str, int] | None:
    """(report kind, 0-based title row) from the first text in column A; None for other sheets."""
    for i, row in enumerate(rows[:10]):
        label = text(row[0]) if row else ""
        if label:
            kind = TITLES.get(fold(label))
            return (kind, i) if kind else None
    return None


def _table_end(rows: Table, start: int) -> int:
    """First blank row at or after start: the end of a table (footnotes follow it)."""
    for i in range(start, len(rows)):
        if all(text(c) == "" for c in rows[i]):
            return i
    return len(rows)


def _footnotes(rows: Table, start: int, column: str = "") -> list[str]:
    """Notes printed under a table, minus the source line. A note headed by a column name in
    capitals, as the balance prints its carriers ("OTRAS PRIMARIAS: ..."), is kept only for that
    column."""
    notes = []
    for row in rows[start:]:
        note = text(row[0])
        if not note or fold(note).startswith("fuente:"):
            continue
        head = re.match(r"([^:a-z]+):", note)
        if head and head.group(1).isupper() and fold(head.group(1)) != column:
            continue
        notes.append(note)
    return notes


def _note(sheet: str, *parts: str) -> str:
    return "; ".join([f"sheet {sheet!r}", *[p for p in parts if p]])


def _find_header(rows: Table, start: int, match: Callable[[tuple[Any, ...]], bool]) -> int | None:
    for i in range(start, min(start + 6, len(rows))):
        if match(rows[i]):
            return i
    return None


def _unit(rows: Table, i: int, col: int, path: Path, sheet: str) -> str:
    unit = text(rows[i][col]) if i < len(rows) else ""
    if not unit:
        raise _error("no units row under the header", path, sheet, "header", i + 1)
    if fold(unit) != GWH:
        raise _error(f"electricity is in {unit!r}, not GWh", path, sheet, "unit", i + 1)
    return unit


def read_balance(path: Path, sheet: str, rows: Table, t: int, out: Rows) -> tuple[str, str]:
    """One `YYYY - Country` balance sheet; returns (year, country) for the completeness check."""
    subtitle = text(rows[t + 1][0]) if t + 1 < len(rows) else ""
    m = re.fullmatch(r"(\d{4}) - (.+)", subtitle)
    if not m:
        raise _error(f"subtitle {subtitle!r} is not 'YEAR - Country'", path, sheet, "header", t + 2)
    year, country = m.groups()
    if fold(sheet) != fold(subtitle):
        raise _error(f"holds the balance {subtitle!r} but is not named so (sheet {subtitle!r} missing or renamed)",
                     path, sheet, "sheet_missing")
    h = _find_header(rows, t + 2, lambda r: any(fold(text(c)) == ELECTRICITY for c in r))
    if h is None:
        raise _error("no ELECTRICIDAD column in the header row", path, sheet, "header", t + 3)
    names = [fold(text(c)) for c in rows[h]]
    col = names.index(ELECTRICITY)
    unit = _unit(rows, h + 1, col, path, sheet)
    end = _table_end(rows, h + 2)
    found = {fold(text(rows[i][0])): i for i in range(h + 2, end) if text(rows[i][0])}
    missing = [label for label in BALANCE_FLOWS if label not in found]
    if missing:
        raise _error(f"balance rows {missing} not found", path, sheet, "header", h + 3)
    note = _note(sheet, *_footnotes(rows, end, ELECTRICITY))
    iso3 = country_iso3(country)
    for label, (indicator, name) in BALANCE_FLOWS.items():
        i = found[label]
        cell = reading(rows[i][col])
        if cell is None:  # an empty cell is "no data", not zero
            continue
        out.add(indicator_id=indicator, indicator_name=name, country_iso3=iso3, period=year,
                value=cell[0], value_text=cell[1], unit=unit, note=note if iso3 else f"{note}; country {country!r}",
                source_file=path.name, source_row=i + 1)
    return year, country


def read_generation(path: Path, sheet: str, rows: Table, t: int, out: Rows) -> int:
    """One `N.Country` generation sheet; returns N for the completeness check."""
    subtitle = text(rows[t + 1][0]) if t + 1 < len(rows) else ""
    parts = subtitle.split(" - ")
    if len(parts) != 3 or [fold(p) for p in parts[1:]] != [ELECTRICITY, fold("Cantidad")]:
        raise _error(f"subtitle {subtitle!r} is not 'Country - Electricidad - Cantidad'", path, sheet, "header", t + 2)
    country = parts[0].strip()
    m = re.fullmatch(r"(\d+)\.(.+)", sheet.strip())
    if not m or fold(m.group(2)) != fold(country):
        raise _error(f"holds {country!r} but is not named 'N.{country}' (sheet missing or renamed)",
                     path, sheet, "sheet_missing")
    h = _find_header(rows, t + 2, lambda r: [fold(text(c)) for c in r[:2]] == [fold("Descripción"), fold("Unidad")])
    if h is None:
        raise _error("no 'Descripción | Unidad | years' header row", path, sheet, "header", t + 3)
    years = [(j, text(c)) for j, c in enumerate(rows[h]) if j >= 2 and text(c)]
    bad = [y for _, y in years if not re.fullmatch(r"\d{4}", y)]
    if not years or bad:
        raise _error(f"year columns {bad or 'absent'} are not years", path, sheet, "header", h + 1)
    end = _table_end(rows, h + 1)
    notes = _footnotes(rows, end)
    iso3 = country_iso3(country)
    parent = ""
    for i in range(h + 1, end):
        raw = rows[i][0]
        label = text(raw)
        if fold(label) not in GENERATION_ROWS:
            raise _error(f"unknown source row {label!r}", path, sheet, "header", i + 1)
        source, is_sub = GENERATION_ROWS[fold(label)]
        if is_sub != (indent(raw) > 0):
            raise _error(f"row {label!r} is {'not ' if is_sub else ''}indented: sub-rows moved", path, sheet, "header", i + 1)
        if not is_sub:
            parent = label
        unit = text(rows[i][1])
        if fold(unit) != GWH:
            raise _error(f"row {label!r} is in {unit!r}, not GWh", path, sheet, "unit", i + 1)
        note = _note(sheet, f"sub-item of {parent!r}" if is_sub else "", *notes)
        for j, year in years:
            cell = reading(rows[i][j])
            if cell is None:
                continue
            out.add(indicator_id=GENERATION_ID, indicator_name=f"Generación eléctrica - {label}", country_iso3=iso3,
                    period=year, value=cell[0], value_text=cell[1], unit=unit,
                    breakdown="total" if source is None else f"generation_source={source}",
                    note=note if iso3 else f"{note}; country {country!r}", source_file=path.name, source_row=i + 1)
    return int(m.group(1))


def read_consumption(path: Path, sheet: str, rows: Table, t: int, out: Rows) -> None:
    """A "Series de oferta y demanda" sheet: blocks `SERIES - YEAR`, header, units, one row per country."""
    m = re.fullmatch(r"\d+\.(.+)", sheet.strip())
    blocks = [(i, re.fullmatch(r"(.+) - (\d{4})", text(r[0]))) for i, r in enumerate(rows) if i > t and text(r[0])]
    blocks = [(i, b) for i, b in blocks if b and all(text(c) == "" for c in rows[i][1:])]
    if not blocks:
        raise _error("no 'SERIES - YEAR' block", path, sheet, "header", t + 2)
    notes = _footnotes(rows, _table_end(rows, blocks[-1][0] + 1))
    for i, b in blocks:
        series, year = b.group(1), b.group(2)
        if fold(series) not in CONSUMPTION_SERIES:
            raise _error(f"series {series!r} is not one this connector reads", path, sheet, "header", i + 1)
        if not m or fold(m.group(1)) != fold(series):
            raise _error(f"holds {series!r} but is not named 'N.{series}' (sheet missing or renamed)",
                         path, sheet, "sheet_missing")
        indicator, name = CONSUMPTION_SERIES[fold(series)]
        header = [fold(text(c)) for c in rows[i + 1]] if i + 1 < len(rows) else []
        if ELECTRICITY not in header:
            raise _error(f"block {series} - {year} has no Electricidad column", path, sheet, "header", i + 2)
        col = header.index(ELECTRICITY)
        unit = _unit(rows, i + 2, col, path, sheet)
        for k in range(i + 3, _table_end(rows, i + 3)):
            country = text(rows[k][0])
            cell = reading(rows[k][col])
            if cell is None:
                continue
            iso3 = country_iso3(country)
            out.add(indicator_id=indicator, indicator_name=name, country_iso3=iso3, period=year, value=cell[0],
                    value_text=cell[1], unit=unit,
                    note=_note(sheet, *notes, "" if iso3 else f"country {country!r}"),
                    source_file=path.name, source_row=k + 1)


def _check_balance_grid(path: Path, found: list[tuple[str, str]]) -> None:
    """Every year of the export for every country: a hole is a sheet that went missing."""
    years = sorted({y for y, _ in found})
    countries = list(dict.fromkeys(c for _, c in found))
    have = {(y, fold(c)) for y, c in found}
    missing = [f"{y} - {c}" for y in years for c in countries if (y, fold(c)) not in have]
    if missing:
        raise SourceError(f"balance sheet(s) {missing} missing: the workbook has the other "
                          f"years {years} for these countries", source=SOURCE_ID, rule="sheet_missing", file=str(path))


def _check_generation_numbers(path: Path, found: list[int]) -> None:
    missing = sorted(set(range(1, max(found) + 1)) - set(found))
    if missing:
        raise SourceError(f"generation sheet(s) numbered {missing} missing (sheets are numbered 1..{max(found)})",
                          source=SOURCE_ID, rule="sheet_missing", file=str(path))


READERS: dict[str, Callable[[Path, str, Table, int, Rows], Any]] = {
    BALANCE: read_balance, GENERATION: read_generation, CONSUMPTION: read_consumption,
}
COMPLETE: dict[str, Callable[[Path, list[Any]], None]] = {
    BALANCE: _check_balance_grid, GENERATION: _check_generation_numbers, CONSUMPTION: lambda path, found: None,
}


def read_workbook(path: Path, out: Rows) -> set[str]:
    """Read every sieLAC sheet of one workbook into `out`; returns the report kinds it held."""
    wb = open_xlsx(path, source=SOURCE_ID)
    found: dict[str, list[Any]] = {}
    sheets = []
    try:
        for ws in wb.worksheets:
            sheets.append(ws.title)
            rows = sheet_rows(ws)
            kind = sheet_kind(rows)
            if kind is not None:
                found.setdefault(kind[0], []).append(READERS[kind[0]](path, ws.title, rows, kind[1], out))
    finally:
        wb.close()
    if not found:
        raise SourceError(f"no sheet is a sieLAC report this connector reads (sheets {sheets})",
                          source=SOURCE_ID, rule="unknown_workbook", file=str(path))
    for kind, keys in found.items():
        COMPLETE[kind](path, keys)
    return set(found)


def parse(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> pa.Table:
    """sieLAC workbooks -> parsed_observation rows, each workbook dispatched by its sheets' titles."""
    out = Rows()
    for path in paths:
        read_workbook(Path(path), out)
    return to_parsed(out.table())


def fetch_live(
    s: Settings,
    dest: Path,
    *,
    base_url: str = BASE_URL,
    reports: dict[str, tuple[str, str]] = REPORTS,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    client: httpx.Client | None = None,
) -> list[Path]:
    """Download the three report exports; each must be an xlsx holding the expected report.

    Nothing is written until all arrived and passed the check, so a failed run leaves no partial set.
    """
    dest = Path(dest)
    bodies: list[tuple[str, bytes]] = []
    http = make_client(timeout) if client is None else client
    try:
        for name, (path, kind) in reports.items():
            url = base_url.rstrip("/") + path
            body = fetch(url, source=SOURCE_ID, timeout=timeout, retries=retries, backoff=backoff, client=http)
            wb = check_xlsx_body(body, source=SOURCE_ID, url=url)
            try:
                kinds = {k[0] for k in (sheet_kind(sheet_rows(ws)) for ws in wb.worksheets) if k}
            finally:
                wb.close()
            if kind not in kinds:
                raise SourceError(f"the workbook is not the {kind} report (it holds {sorted(kinds) or 'no sieLAC report'})",
                                  source=SOURCE_ID, rule="unknown_workbook", url=url)
            bodies.append((name, body))
    finally:
        if client is None:
            http.close()
    return [land(dest, name, body) for name, body in bodies]


SOURCE = Source(
    source_id=SOURCE_ID,
    publisher=PUBLISHER,
    address=BASE_URL,
    licence=LICENCE,
    snapshot="olade",
    parse=parse,
    fetch_live=fetch_live,
)
