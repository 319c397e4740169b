"""Build the bundled ForeignAssistance.gov snapshot (data/snapshot/foreign_assistance/) and the
connector's test fixtures (tests/fixtures/foreign_assistance/) from ../shared/data.

The figures are shared/data/us_foreign_aid/us_foreign_aid_country_central_america.csv: the
publisher's country summary file cut to the Central American recipients, with its header written
unquoted and LF line endings. The snapshot restores the publisher's own layout (quoted header,
CRLF) and keeps fiscal years from 2000 (the `1976tq` transition quarter and older years are left
out; the fixtures keep a 1976tq row so the parser's handling of it stays tested). Values are the
file's digit strings, written verbatim.

Fixtures: a few real rows in each header vintage (the snake_case one is the same rows under the
older header, plus two real Initial Allocations rows of that older vintage, quoted below), an
S3 error answer and an HTML page instead of the CSV, and a file with a column missing.

Deterministic: the same inputs give the same bytes.

Run: python tools/snapshot_foreign_assistance.py [--shared ../shared/data]
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

from flows.sources.foreign_assistance import (  # noqa: E402 (after the path fix)
    FILE_NAME, LANDING_PAGE, LICENCE, PUBLISHER, SNAKE_CASE, TITLE_CASE,
)

DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
SNAPSHOT = REPO_ROOT / "data" / "snapshot" / "foreign_assistance"
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "foreign_assistance"
EXTRACT = "us_foreign_aid/us_foreign_aid_country_central_america.csv"
FIRST_YEAR = 2000
COUNTRIES = ("BLZ", "CRI", "SLV", "GTM", "HND", "MEX", "NIC", "PAN", "USA")
PROVENANCE = {
    "publisher": PUBLISHER,
    "address": LANDING_PAGE,
    "licence": LICENCE,
    # the commit that added the file to its origin repository (downloaded around April 2025)
    "retrieved_at": "2025-04-02T00:00:00",
    "origin": "kareemshub/final-project/us_foreign_aid_country.csv@26fc5cc078b7e9a517c1d0262bb5dbf573a9408f",
}
MANIFEST_COLUMNS = ["file", "publisher", "address", "licence", "retrieved_at", "sha256", "origin", "note"]

# (Country Code, Transaction Type ID, Fiscal Year) of the rows the fixtures keep.
FIXTURE_KEYS = [
    ("GTM", "2", "1976tq"), ("GTM", "1", "2017"), ("GTM", "2", "2017"), ("GTM", "3", "2022"),
    ("GTM", "2", "2024"), ("GTM", "2", "2025"), ("GTM", "3", "2025"), ("GTM", "18", "2018"),
    ("HND", "1", "2017"), ("SLV", "1", "2017"), ("NIC", "2", "2010"),
]
# Two real rows of the older snake_case vintage (mr-ffrancis/Us-Aid-Analysis,
# us_foreign_aid_country.csv@e54be13445b689997910fc42b7d53bb3feba57ea): Initial Allocations, a
# transaction type the Central America extract does not carry.
OLD_VINTAGE_ROWS = [
    ["GTM", "Guatemala", "6", "Western Hemisphere", "UMIC", "Upper Middle Income Country", "19",
     "Initial Allocations", "2017", "140540000", "146601693"],
    ["GTM", "Guatemala", "6", "Western Hemisphere", "UMIC", "Upper Middle Income Country", "19",
     "Initial Allocations", "2018", "120069000", "122398110"],
]


def read_extract(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if tuple(rows[0]) != TITLE_CASE:
        raise SystemExit(f"{path}: unexpected header {rows[0]}")
    return rows[1:]


def serialize(header: tuple[str, ...], rows: list[list[str]], *, quoted_header: bool, eol: str) -> bytes:
    """The publisher quotes every header name and none of the values (minimal quoting)."""
    buf = io.StringIO()
    if quoted_header:
        buf.write(",".join('"' + h + '"' for h in header) + eol)
    else:
        buf.write(",".join(header) + eol)
    csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator=eol).writerows(rows)
    return buf.getvalue().encode("utf-8")


def write_snapshot(rows: list[list[str]], out: Path) -> None:
    kept = [r for r in rows if r[0] in COUNTRIES and r[8].isdigit() and int(r[8]) >= FIRST_YEAR]
    body = serialize(TITLE_CASE, kept, quoted_header=True, eol="\r\n")
    out.mkdir(parents=True, exist_ok=True)
    (out / FILE_NAME).write_bytes(body)
    years = sorted({r[8] for r in kept})
    note = (f"Central American recipients ({' '.join(sorted({r[0] for r in kept}))}), fiscal years "
            f"{years[0]}-{years[-1]} ({years[-1]} partial): {len(kept)} rows; publisher layout "
            f"(quoted header, CRLF); via ../shared/data/{EXTRACT}")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerow({"file": FILE_NAME, **PROVENANCE, "sha256": hashlib.sha256(body).hexdigest(), "note": note})
    (out / "manifest.csv").write_text(buf.getvalue(), encoding="utf-8")
    print(f"wrote {out / FILE_NAME}: {len(kept)} rows, {len(body)} bytes", file=sys.stderr)


def write_fixtures(rows: list[list[str]], out: Path) -> None:
    index = {(r[0], r[6], r[8]): r for r in rows}
    picked = sorted((index[k] for k in FIXTURE_KEYS), key=lambda r: (r[0], int(r[6]), r[8]))
    out.mkdir(parents=True, exist_ok=True)
    (out / "title_case.csv").write_bytes(serialize(TITLE_CASE, picked, quoted_header=True, eol="\r\n"))
    old = sorted(picked + OLD_VINTAGE_ROWS, key=lambda r: (r[0], int(r[6]), r[8]))
    (out / "snake_case.csv").write_bytes(serialize(SNAKE_CASE, old, quoted_header=False, eol="\n"))
    # a layout change: the constant-dollar column gone
    (out / "missing_column.csv").write_bytes(
        serialize(TITLE_CASE[:-1], [r[:-1] for r in picked[:3]], quoted_header=True, eol="\r\n"))
    # what S3 answers for a missing or private object (its documented error body)
    (out / "s3_access_denied.xml").write_bytes(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        b"<Message>Access Denied</Message><RequestId>7C1E0A3B2D4F5A61</RequestId></Error>")
    (out / "maintenance.html").write_bytes(
        b"<!DOCTYPE html>\n<html lang=\"en\"><head><title>ForeignAssistance.gov | Site Maintenance"
        b"</title></head><body><h1>We'll be back soon</h1><p>The site is undergoing maintenance."
        b"</p></body></html>\n")
    print(f"wrote fixtures to {out}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--out", type=Path, default=SNAPSHOT)
    ap.add_argument("--fixtures", type=Path, default=FIXTURES)
    args = ap.parse_args(argv)
    rows = read_extract(args.shared / EXTRACT)
    write_snapshot(rows, args.out)
    write_fixtures(rows, args.fixtures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
