"""Build the bundled CBP Southwest Land Border encounters snapshot (data/snapshot/cbp_encounters/).

The snapshot is the CBP CSV in its own format (same header, column order, `2025 (FYTD)` labels,
CRLF line ends, no quoting), re-serialised keeping only the rows of the catalog's citizenship
groupings: the `Other` grouping (every other citizenship lumped together) is dropped, since the
connector skips it anyway.

Run: python tools/snapshot_cbp_encounters.py [--shared ../shared/data] [--out data/snapshot/cbp_encounters]
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from flows.sources.cbp_encounters import CITIZENSHIP_ISO3, HEADER, SOURCE  # noqa: E402
from snapshot_common import write_manifest  # noqa: E402 (tools/ is the script's folder)

DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "data" / "snapshot" / "cbp_encounters"
FILE = "sbo-encounters-fy22-fy25-aug.csv"
ORIGIN = ("arilamstein/immigration_enforcement/immigration_enforcement/borderpatrol/"
          "sbo-encounters-fy22-fy25-aug.csv@c438a05ab47df903f7270a44f86ae038ecb57bc4")
RETRIEVED_AT = "2025-10-21T00:00:00"  # date of the origin commit that last changed the data files


def _check_provenance(shared: Path) -> None:
    text = (shared / "cbp_encounters" / "PROVENANCE.md").read_text(encoding="utf-8")
    for needle in ("arilamstein/immigration_enforcement", "c438a05ab47df903f7270a44f86ae038ecb57bc4",
                   "sbo-encounters-fy22-fy25-aug.csv", "exact counts"):
        if needle not in text:
            raise SystemExit(f"PROVENANCE.md no longer says {needle!r}: check the origin before rebuilding")


def build(shared: Path, out: Path) -> tuple[dict[str, str], int, int]:
    _check_provenance(shared)
    with (shared / "cbp_encounters" / FILE).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if tuple(rows[0]) != HEADER:
        raise SystemExit(f"unexpected header {rows[0]!r}")
    cit = HEADER.index("Citizenship Grouping")
    kept = [r for r in rows[1:] if r[cit] in CITIZENSHIP_ISO3]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(rows[0])
    writer.writerows(kept)
    body = buf.getvalue().encode("utf-8")
    out.mkdir(parents=True, exist_ok=True)
    (out / FILE).write_bytes(body)
    row = {
        "file": FILE, "publisher": SOURCE.publisher, "address": SOURCE.address, "licence": SOURCE.licence,
        "retrieved_at": RETRIEVED_AT, "sha256": hashlib.sha256(body).hexdigest(), "origin": ORIGIN,
        "note": ("CBP 'FY22 - FY25 (FYTD) Southwest Land Border Encounters - August' CSV, re-serialised in "
                 "its own format without the 'Other' citizenship grouping rows; FY2022-FY2025 (FY2025 = "
                 "October 2024-August 2025). USBP + OFO, Title 8 and Title 42, exact counts."),
    }
    write_manifest(out, [row])
    return row, len(kept), len(rows) - 1 - len(kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    row, kept, dropped = build(args.shared.resolve(), args.out)
    size = (args.out / row["file"]).stat().st_size
    print(f"wrote {row['file']} ({size} bytes): {kept} rows kept, {dropped} 'Other' rows dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
