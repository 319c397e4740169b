"""Build the bundled OLADE sieLAC snapshot (data/snapshot/olade/) from ../shared/data/olade_cepalstat.

The three sieLAC exports are rebuilt with openpyxl in their own layout (same sheet names, title and
blank rows, header and units rows, indented labels, footnotes, styles), not copied:
- the energy balance keeps all 30 year-country sheets and every flow row, but only column A and
  the ELECTRICIDAD column of its 28 energy carriers (the only column the project reads; sieLAC's
  terms reportedly forbid redistribution, so the snapshot carries no more than it needs);
- generation by source and final consumption are small and kept whole (six SIEPAC countries,
  2020-2024, all inside the project's scope).

Run: python tools/snapshot_olade.py [--shared ../shared/data] [--out data/snapshot/olade]
"""
from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook, load_workbook

from snapshot_common import write_manifest
from xlsx_rebuild import check_provenance, copy_sheet, save

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "data" / "snapshot" / "olade"
FOLDER = "olade_cepalstat"

PUBLISHER = "OLADE (Organización Latinoamericana de Energía), sieLAC"
LICENCE = "sieLAC-OLADE terms of use (not stated in the files; reportedly no redistribution)"
ORIGIN_REPO = "giovanni-serrano/siepac-analysis"
ORIGIN_COMMIT = "7da18251cacaa3c8d4751f21369a498af0154857"
# file here -> (original path in the origin repository, sieLAC portal path, note). The original
# names end with the export's timestamp (yyyymmddHHMMSSmmm): that is when the figures were taken.
FILES = {
    "olade_energy_balance_2020_2024.xlsx": (
        "importaciones_exportaciones/Matriz de balance energético 20260605090938276.xlsx",
        "Estadísticas Energéticas de ALC / Reportes / Oferta y demanda / Matriz de balance energético",
        "30 sheets (2020-2024 x 6 SIEPAC countries) with their title, subtitle, header, units, all flow rows "
        "and footnotes; only column A and ELECTRICIDAD (of 28 energy carriers) kept",
    ),
    "olade_generation_by_source_2020_2024.xlsx": (
        "generacion_por_tipo_de_fuente/Generación eléctrica por fuente - Anual 20260630174121353.xlsx",
        "Estadísticas Energéticas de ALC / Reportes / Eléctrico / Generación eléctrica por fuente - Anual",
        "whole workbook: 6 country sheets, 15 source rows (indented sub-rows), 2020-2024",
    ),
    "olade_final_consumption_electricity_2020_2024.xlsx": (
        "consumo_final_total/Series de oferta y demanda 20260603084301918.xlsx",
        "Estadísticas Energéticas de ALC / Reportes / Oferta y demanda / Series de oferta y demanda",
        "whole workbook: CONSUMO FINAL of electricity, one block per year 2020-2024, 6 countries",
    ),
}


def export_time(original: str) -> datetime:
    stamp = original.rsplit(" ", 1)[1].removesuffix(".xlsx")
    return datetime.strptime(stamp[:14], "%Y%m%d%H%M%S")


def electricity_column(ws) -> int:
    for row in ws.iter_rows(min_row=1, max_row=10):
        for cell in row:
            if isinstance(cell.value, str) and cell.value.strip() == "ELECTRICIDAD":
                return cell.column
    raise SystemExit(f"sheet {ws.title!r}: no ELECTRICIDAD column")


def rebuild(src: Path, dst: Path, when: datetime, trim_to_electricity: bool) -> None:
    source = load_workbook(src)
    out = Workbook()
    out.remove(out.active)
    for ws in source.worksheets:
        copy_sheet(ws, out.create_sheet(ws.title), [1, electricity_column(ws)] if trim_to_electricity else None)
    save(out, dst, when)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    folder = args.shared / FOLDER
    check_provenance(folder, ORIGIN_REPO, ORIGIN_COMMIT, *FILES)
    rows = []
    for name, (original, portal, note) in FILES.items():
        when = export_time(original)
        rebuild(folder / name, args.out / name, when, trim_to_electricity=name.startswith("olade_energy_balance"))
        rows.append({
            "file": name, "publisher": PUBLISHER, "address": f"https://sielac.olade.org ({portal})",
            "licence": LICENCE, "retrieved_at": when.isoformat(),
            "origin": f"{ORIGIN_REPO}/data/raw/{original}@{ORIGIN_COMMIT}",
            "note": f"Rebuilt with openpyxl from {FOLDER}/{name}: {note}. retrieved_at is the export time in the original file name.",
        })
    write_manifest(args.out, rows)
    print(f"wrote {len(rows)} workbooks and manifest.csv to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
