"""Build data/snapshot/amm_exports/ from shared/data/gt_amm_electricity/Clean_exportacion_2024.csv.

The hourly file is re-serialised with its Index, Potencia and Tecnología columns, values written as
read. The scraper's calendar helper columns (Hour, Date, Month, Year, Day, Day (Spanish)) are
dropped: they only restate Index, and keeping them would double the snapshot's size.

Run: python tools/snapshot_amm_exports.py [--shared ../shared/data] [--out data/snapshot/amm_exports]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from snapshot_common import write_manifest

REPO = Path(__file__).resolve().parents[1]
FILE = "Clean_exportacion_2024.csv"
KEEP = ["Index", "Potencia", "Tecnología"]


def build(shared: Path, out: Path) -> int:
    with (shared / "gt_amm_electricity" / FILE).open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = set(KEEP) - set(reader.fieldnames or [])
        if missing:
            raise SystemExit(f"{FILE}: columns {sorted(missing)} missing")
        rows = [{k: r[k] for k in KEEP} for r in reader]
    out.mkdir(parents=True, exist_ok=True)
    with (out / FILE).open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=KEEP, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    write_manifest(out, [{
        "file": FILE,
        "publisher": "Administrador del Mercado Mayorista (AMM), Guatemala",
        "address": "https://reportesbi.amm.org.gt (Generación por Tecnología, technology Exportación)",
        "licence": "No licence stated (AMM public reports portal; the scraping repository has no licence)",
        "retrieved_at": "2025-06-16T00:00:00",  # date of the origin commit
        "origin": "edmiranda21/Energy_tool_scrape/Clean data/Clean_exportacion_2024.csv@876959b2ee27085a863cbf67ab71fd1ab847a4b3",
        "note": f"{len(rows)} hourly rows of 2024 (some hours missing where the scrape failed); "
                "calendar helper columns dropped; Potencia in MW per hour, negative = export.",
    }])
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "snapshot" / "amm_exports")
    a = ap.parse_args()
    print(f"{build(a.shared, a.out)} rows -> {a.out / FILE}")


if __name__ == "__main__":
    main()
