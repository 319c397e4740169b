"""Build the bundled OHSS USBP encounters snapshot (data/snapshot/ohss_encounters/) from ../shared/data.

The snapshot is an xlsx in the publisher's layout, rebuilt with openpyxl: the four citizenship
sheets the connector reads, each with its header row exactly as published (`Fiscal\\nYear` with
its line break) and the same columns and cell types, keeping only the rows of the catalog's
citizenships. The workbook keeps OHSS's own saved date (the connector reads it as the
publisher's last-updated date). Zip entries get a fixed timestamp, so the same input gives the
same bytes and the manifest's sha256 is stable.

Run: python tools/snapshot_ohss_encounters.py [--shared ../shared/data] [--out data/snapshot/ohss_encounters]
"""
from __future__ import annotations

import argparse
import hashlib
import io
import re
import sys
import zipfile
from pathlib import Path

import openpyxl

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from flows.sources.ohss_encounters import CITIZENSHIP_ISO3, SHEETS, SOURCE  # noqa: E402
from snapshot_common import write_manifest  # noqa: E402 (tools/ is the script's folder)

DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "data" / "snapshot" / "ohss_encounters"
FILE = "khsm_encounters_usbp_fy25m11.xlsx"
ORIGIN = ("arilamstein/immigration_enforcement/immigration_enforcement/borderpatrol/"
          "KHSM Encounters (USBP) fy25m11.xlsx@c438a05ab47df903f7270a44f86ae038ecb57bc4")
RETRIEVED_AT = "2025-10-21T00:00:00"  # date of the origin commit that last changed the data files
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # as in the published file


def _check_provenance(shared: Path) -> None:
    text = (shared / "cbp_encounters" / "PROVENANCE.md").read_text(encoding="utf-8")
    for needle in ("arilamstein/immigration_enforcement", "c438a05ab47df903f7270a44f86ae038ecb57bc4",
                   "KHSM Encounters (USBP) fy25m11.xlsx", "rounded to the nearest 10"):
        if needle not in text:
            raise SystemExit(f"PROVENANCE.md no longer says {needle!r}: check the origin before rebuilding")


def _fixed_zip(body: bytes, modified: str) -> bytes:
    """Re-pack with fixed entry timestamps, and OHSS's saved date back in docProps/core.xml
    (openpyxl stamps both with the current time)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(body)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + modified.encode() + rb"\g<2>", data)
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, data)
    return out.getvalue()


def build(shared: Path, out: Path) -> tuple[dict[str, str], dict[str, int]]:
    _check_provenance(shared)
    src = openpyxl.load_workbook(shared / "cbp_encounters" / FILE, read_only=True)
    dst = openpyxl.Workbook(write_only=True)
    counts: dict[str, int] = {}
    for sheet, expected in SHEETS.items():
        rows = src[sheet].iter_rows(values_only=True)
        header = next(rows)
        if tuple(" ".join(str(c).split()) for c in header) != expected:
            raise SystemExit(f"sheet {sheet!r}: unexpected header {header!r}")
        cit = expected.index("Citizenship")
        ws = dst.create_sheet(sheet)
        ws.append(list(header))
        kept = [list(r) for r in rows if r[cit] in CITIZENSHIP_ISO3]
        for r in kept:
            ws.append(r)
        counts[sheet] = len(kept)
    dst.properties.creator = src.properties.creator
    dst.properties.created = src.properties.created
    modified = src.properties.modified.strftime("%Y-%m-%dT%H:%M:%SZ")
    src.close()
    buf = io.BytesIO()
    dst.save(buf)
    body = _fixed_zip(buf.getvalue(), modified)
    out.mkdir(parents=True, exist_ok=True)
    (out / FILE).write_bytes(body)
    row = {
        "file": FILE, "publisher": SOURCE.publisher, "address": SOURCE.address, "licence": SOURCE.licence,
        "retrieved_at": RETRIEVED_AT, "sha256": hashlib.sha256(body).hexdigest(), "origin": ORIGIN,
        "note": ("OHSS 'CBP Encounters - USBP' workbook fy25m11 (saved by OHSS 2025-01-16), rebuilt: "
                 "sheets " + ", ".join(SHEETS) + " with their published header and layout, rows of the "
                 "citizenships " + ", ".join(CITIZENSHIP_ISO3) + " only; FY2000-FY2025, FY2025 = "
                 "October-November 2024. USBP Title 8 apprehensions + Title 42 expulsions, rounded to 10."),
    }
    write_manifest(out, [row])
    return row, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    row, counts = build(args.shared.resolve(), args.out)
    size = (args.out / row["file"]).stat().st_size
    print(f"wrote {row['file']} ({size} bytes): " + ", ".join(f"{s} {n} rows" for s, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
