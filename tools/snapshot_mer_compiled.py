"""Build data/snapshot/mer_compiled/ from shared/data/siepac_mer/mer_transactions.csv.

The compiled table is re-serialised in its own layout (same columns and order, CRLF line ends, every
field quoted), keeping the rows for ciw's countries and the market as a whole (REGION), from 2000
on, and undated rows (they are part of the table; the pipeline quarantines them). Values and text are
written exactly as read: nothing is converted.

Run: python tools/snapshot_mer_compiled.py [--shared ../shared/data] [--out data/snapshot/mer_compiled]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from snapshot_common import write_manifest

REPO = Path(__file__).resolve().parents[1]
FILE = "mer_transactions.csv"
COLUMNS = ["period", "country_iso3", "measure", "value", "unit", "source_title", "source_url", "note"]
COUNTRIES = {"BLZ", "CRI", "SLV", "GTM", "HND", "MEX", "NIC", "PAN", "USA", "REGION"}
FIRST_YEAR = 2000


def keep(row: dict[str, str]) -> bool:
    year = row["period"][:4]
    return row["country_iso3"] in COUNTRIES and (not year or int(year) >= FIRST_YEAR)


def build(shared: Path, out: Path) -> int:
    with (shared / "siepac_mer" / FILE).open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != COLUMNS:
            raise SystemExit(f"{FILE}: unexpected header {reader.fieldnames}")
        rows = [r for r in reader if keep(r)]
    out.mkdir(parents=True, exist_ok=True)
    with (out / FILE).open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        w.writeheader()
        w.writerows(rows)
    write_manifest(out, [{
        "file": FILE,
        "publisher": "Compiled from the cited publishers (EOR, CRIE, AMM, ministries, press); see source_title per row",
        "address": "shared/data/siepac_mer/mer_transactions.csv (each row cites its page in source_url)",
        "licence": "Figures as published by each cited source; the compilation states no licence",
        # The table gives no compilation date; this is when it was laid into shared/data.
        "retrieved_at": "2026-12-01T01:14:09",
        "origin": "shared/data/siepac_mer/mer_transactions.csv (hand-compiled, see its PROVENANCE.md)",
        "note": f"{len(rows)} rows re-serialised (all fields quoted); countries {sorted(COUNTRIES)}, periods from {FIRST_YEAR} or undated.",
    }])
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "snapshot" / "mer_compiled")
    a = ap.parse_args()
    print(f"{build(a.shared, a.out)} rows -> {a.out / FILE}")


if __name__ == "__main__":
    main()
