"""Build the bundled offline UNODC homicide snapshot (data/snapshot/unodc/) from ../shared/data.

The figures are the UNODC Global Study on Homicide 2019 data annex (shared/data/unodc_gsh2019/
Shiny_DT.central_america.csv: one wide row per country x series, years as columns). The connector
reads the dataUNODC portal's long CSV layout (`data_cts_intentional_homicide.csv`), so the annex is
re-serialized in that layout: one row per country, series and year, with the breakdown spelled the
portal's way (Dimension `Total` + Sex for the sex split; Dimension `by mechanisms` + Category for
the weapon split). Values are the annex's digit strings written verbatim, never re-formatted
through a float; empty cells are not written. Age-band series are left out (not used).

Deterministic: the same inputs give the same bytes (the manifest's sha256 lets a test check that).

Run: python tools/snapshot_unodc.py [--shared ../shared/data] [--out data/snapshot/unodc]
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "data" / "snapshot" / "unodc"

ANNEX = "unodc_gsh2019/Shiny_DT.central_america.csv"
OUT_FILE = "data_cts_intentional_homicide.gsh2019.csv"
FIRST_YEAR = 2000

PORTAL_HEADER = ["Iso3_code", "Country", "Region", "Subregion", "Indicator", "Dimension", "Category",
                 "Sex", "Age", "Year", "Unit of measurement", "VALUE", "Source"]
INDICATOR = "Victims of intentional homicide"
COUNTS, RATE = "Counts", "Rate per 100,000 population"
SOURCE_TEXT = "UNODC Global Study on Homicide 2019"

# The annex names countries the UNODC way; the portal carries ISO3 codes beside the name.
COUNTRIES = {
    "Belize": "BLZ", "Costa Rica": "CRI", "El Salvador": "SLV", "Guatemala": "GTM",
    "Honduras": "HND", "Mexico": "MEX", "Nicaragua": "NIC", "Panama": "PAN",
    "United States of America": "USA",
}

# Annex mechanism wording -> the Category written under Dimension "by mechanisms" (the annex's own
# words; the connector maps them and the portal's "Firearms or explosives - firearms" alike).
MECHANISMS = {"Firearms": "Firearms", "Sharp Objects": "Sharp objects",
              "Other Mechanism": "Other mechanisms", "Other Mechanisms": "Other mechanisms",
              "Unknown Mechanism": "Unknown mechanisms", "Unknown Mechanisms": "Unknown mechanisms"}
_MECH = "|".join(sorted(MECHANISMS, key=len, reverse=True))
# (pattern over the annex's Indicator column) -> how each named group maps to the portal columns
SERIES = [
    (re.compile(r"Homicide Total Count"), None, None, COUNTS),
    (re.compile(r"Homicide Rate"), None, None, RATE),
    (re.compile(r"(?P<sex>Male|Female) Homicide Count"), "sex", None, COUNTS),
    (re.compile(r"(?P<sex>Male|Female) Homicide Rate"), "sex", None, RATE),
    (re.compile(rf"Homicide by (?P<mech>{_MECH})"), None, "mech", COUNTS),
    (re.compile(rf"(?P<mech>{_MECH}) Rate"), None, "mech", RATE),
    (re.compile(rf"(?P<sex>Male|Female) Homicide by (?P<mech>{_MECH})"), "sex", "mech", COUNTS),
    (re.compile(rf"(?P<sex>Male|Female) Homicide Rate by (?P<mech>{_MECH})"), "sex", "mech", RATE),
]
AGE_SERIES = re.compile(r"(Male|Female) (0-14|15-29|30-44|45-59|60 or more) (Count|Rate)")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

PROVENANCE = {
    "publisher": "United Nations Office on Drugs and Crime (UNODC), Global Study on Homicide 2019",
    "address": "https://dataunodc.un.org/dp-intentional-homicide-victims",
    "licence": "UNODC data portal terms: reuse with attribution to UNODC (no licence stated in the mirror)",
    # HEAD commit date of the mirror (PROVENANCE.md); the data files date from an earlier commit.
    "retrieved_at": "2023-11-29T00:00:00",
    "origin": ("karavan88/HomicideDataShinyUNODC/01_input_data/Shiny_DT.csv@"
               "4865c35e24151307621acf6944d048f87ebac274 (data files from "
               "cbafa57b0412253521ca934e931f3554bf1faa6f)"),
}
MANIFEST_COLUMNS = ["file", "publisher", "address", "licence", "retrieved_at", "sha256", "origin", "note"]


def read_annex(path: Path) -> list[list[str]]:
    """The annex's rows. Lines are CRLF-terminated and keep the original bytes, some Latin-1, some
    UTF-8, so each line is decoded on its own (UTF-8 first)."""
    lines = []
    for raw in path.read_bytes().splitlines():
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(raw.decode("latin-1"))
    return list(csv.reader(lines))


def portal_series(name: str) -> tuple[str, str, str, str] | None:
    """Annex series name -> (Dimension, Category, Sex, Unit); None for series left out (ages)."""
    for pattern, sex_group, mech_group, unit in SERIES:
        m = pattern.fullmatch(name)
        if m:
            sex = m[sex_group] if sex_group else "Total"
            if mech_group:
                return "by mechanisms", MECHANISMS[m[mech_group]], sex, unit
            return "Total", "Total", sex, unit
    if AGE_SERIES.fullmatch(name):
        return None
    raise SystemExit(f"{ANNEX}: unknown series {name!r}; extend SERIES")


def build_rows(annex: list[list[str]]) -> list[list[str]]:
    header, body = annex[0], annex[1:]
    if header[:4] != ["Country", "Region", "Subregion", "Indicator"]:
        raise SystemExit(f"{ANNEX}: unexpected header {header[:4]}")
    years = header[4:]
    rows = []
    for country, region, subregion, series, *values in body:
        mapped = portal_series(series)
        if mapped is None:
            continue
        dimension, category, sex, unit = mapped
        for year, value in zip(years, values, strict=True):
            value = value.strip()
            if int(year) < FIRST_YEAR or not value:
                continue
            if not NUMBER.fullmatch(value):
                raise SystemExit(f"{ANNEX}: {country} {series} {year}: not a number {value!r}")
            rows.append([COUNTRIES[country], country, region, subregion, INDICATOR, dimension, category,
                         sex, "Total", year, unit, value, SOURCE_TEXT])
    # The portal's own order: series first, then year, then country.
    rows.sort(key=lambda r: (r[10], r[5], r[6], r[7], r[9], r[0]))
    return rows


def to_csv(rows: list[list[str]]) -> bytes:
    """Portal style: minimal quoting (so "Rate per 100,000 population" is quoted), LF, UTF-8."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(PORTAL_HEADER)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    rows = build_rows(read_annex(args.shared / ANNEX))
    body = to_csv(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / OUT_FILE).write_bytes(body)
    years = sorted({r[9] for r in rows})
    note = (f"Shiny_DT annex (wide) re-serialized in the dataUNODC portal CSV layout: {len(rows)} rows, "
            f"9 countries, {years[0]}-{years[-1]}; totals, sex split and mechanism split (firearms, "
            f"sharp objects, other, unknown), counts and rates; age bands left out; Category keeps "
            f"the annex's mechanism wording; Source column = '{SOURCE_TEXT}'.")
    manifest = io.StringIO()
    writer = csv.DictWriter(manifest, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerow({"file": OUT_FILE, **PROVENANCE, "sha256": hashlib.sha256(body).hexdigest(), "note": note})
    (args.out / "manifest.csv").write_text(manifest.getvalue(), encoding="utf-8")
    print(f"wrote {args.out / OUT_FILE}: {len(rows)} rows, {len(body)} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
