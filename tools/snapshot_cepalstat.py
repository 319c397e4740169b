"""Build the bundled CEPALSTAT snapshot (data/snapshot/cepalstat/) and the API test fixtures
(tests/fixtures/cepalstat/) from ../shared/data/olade_cepalstat.

The snapshot is the portal's xlsx export of indicator 4758 rebuilt with openpyxl, sheet by sheet
(datos, metadatos, fuentes, notas, creditos) in the export's own layout; all 47 rows are kept (six
SIEPAC countries, 2015-2022, all inside the project's scope).

The fixtures are answers of the REST API (`/indicator/4758/data?format=json`) in its documented
shape, filled with the export's own figures, metadata and sources. Only the numeric dimension and
member ids are illustrative (the export carries labels, not ids), except the dimension ids 208
(country) and 29117 (years) that public clients of the API show.

Run: python tools/snapshot_cepalstat.py [--shared ../shared/data] [--out data/snapshot/cepalstat]
                                        [--fixtures tests/fixtures/cepalstat]
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook

from snapshot_common import write_manifest
from xlsx_rebuild import check_provenance, copy_sheet, save

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "data" / "snapshot" / "cepalstat"
DEFAULT_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "cepalstat"
FOLDER = "olade_cepalstat"
NAME = "cepalstat_average_electricity_price.xlsx"

ORIGIN_REPO = "giovanni-serrano/siepac-analysis"
ORIGIN_COMMIT = "7da18251cacaa3c8d4751f21369a498af0154857"
ORIGINAL = "tarifa_electrica_media/data_1782862414.xlsx"  # CEPALSTAT names exports data_<unix time>
PUBLISHER = "CEPALSTAT (ECLAC)"
LICENCE = "CEPALSTAT / ECLAC terms of use (not stated in the export)"
ADDRESS = "https://statistics.cepal.org/portal/cepalstat/dashboard.html?indicator_id=4758&lang=es"

ISO3 = {"Costa Rica": "CRI", "El Salvador": "SLV", "Guatemala": "GTM", "Honduras": "HND", "Nicaragua": "NIC",
        "Panamá": "PAN"}
FIXTURE_COUNTRIES = ("Costa Rica", "Panamá")  # every year of these two, plus El Salvador 2017
# Illustrative ids (see the module docstring): dimension -> (dimension id, first member id).
DIMENSION_IDS = {"País__ESTANDAR": (208, 1001), "Tipo regulación": (3001, 3002), "Descripción operación": (3011, 3012),
                 "Sector": (3021, 3022), "Años__ESTANDAR": (29117, 2001)}
OK_HEADER = {"success": True, "code": 200}


def sheet_records(ws) -> list[dict[str, Any]]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def api_answers(wb) -> dict[str, Any]:
    """The data answer (with and without its dimensions) and the dimensions answer."""
    datos = sheet_records(wb["datos"])
    keep = [r for r in datos if r["País__ESTANDAR"] in FIXTURE_COUNTRIES
            or (r["País__ESTANDAR"] == "El Salvador" and r["Años__ESTANDAR"] == "2017")]
    members: dict[str, dict[str, int]] = {}
    for dim, (_, first) in DIMENSION_IDS.items():
        labels = sorted({str(r[dim]) for r in keep})
        members[dim] = {label: first + i for i, label in enumerate(labels)}
    dimensions = [{"id": dim_id, "name": dim, "members": [{"name": label, "id": mid} for label, mid in members[dim].items()]}
                  for dim, (dim_id, _) in DIMENSION_IDS.items()]
    data = [{"value": repr(r["value"]) if isinstance(r["value"], float) else str(r["value"]),
             "source_id": r["source_id"], "notes_ids": r["notes_ids"] or "", "iso3": ISO3[r["País__ESTANDAR"]],
             **{f"dim_{dim_id}": members[dim][str(r[dim])] for dim, (dim_id, _) in DIMENSION_IDS.items()}}
            for r in keep]
    cited = {r["source_id"] for r in keep}
    sources = [{k: v for k, v in s.items()} for s in sheet_records(wb["fuentes"]) if s["id"] in cited]
    metadata = {r["metadata"]: r["value"] for r in sheet_records(wb["metadatos"])}
    credits = sheet_records(wb["creditos"])
    body = {"metadata": metadata, "dimensions": dimensions, "data": data, "sources": sources, "footnotes": [],
            "credits": credits}
    no_dims = {k: v for k, v in body.items() if k != "dimensions"}
    return {
        "indicator_4758_data.json": {"header": OK_HEADER, "body": body, "footer": {}},
        "indicator_4758_data_nodims.json": {"header": OK_HEADER, "body": no_dims, "footer": {}},
        "indicator_4758_dimensions.json": {"header": OK_HEADER, "body": {"dimensions": dimensions}, "footer": {}},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="snapshot folder")
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES, help="test fixture folder")
    args = parser.parse_args(argv)
    folder = args.shared / FOLDER
    check_provenance(folder, ORIGIN_REPO, ORIGIN_COMMIT, NAME, "4758")
    when = datetime.fromtimestamp(int(ORIGINAL.rsplit("_", 1)[1].removesuffix(".xlsx")), timezone.utc).replace(tzinfo=None)
    source = load_workbook(folder / NAME)
    out = Workbook()
    out.remove(out.active)
    for ws in source.worksheets:
        copy_sheet(ws, out.create_sheet(ws.title))
    save(out, args.out / NAME, when)
    write_manifest(args.out, [{
        "file": NAME, "publisher": PUBLISHER, "address": ADDRESS, "licence": LICENCE,
        "retrieved_at": when.isoformat(),
        "origin": f"{ORIGIN_REPO}/data/raw/{ORIGINAL}@{ORIGIN_COMMIT}",
        "note": (f"Rebuilt with openpyxl from {FOLDER}/{NAME}: all five sheets and all 47 rows (6 SIEPAC countries, "
                 "2015-2022). retrieved_at is the export time in the original name (data_<unix time>, UTC)."),
    }])
    args.fixtures.mkdir(parents=True, exist_ok=True)
    for name, doc in api_answers(source).items():
        (args.fixtures / name).write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out / NAME}, manifest.csv and the API fixtures in {args.fixtures}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
