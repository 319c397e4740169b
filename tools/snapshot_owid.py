"""Build the bundled offline OWID snapshot (data/snapshot/owid/) from ../shared/data/owid_grapher/.

Each chart stays a grapher download pair in OWID's own layout: `<name>.csv` (same header, quirks
included: the filtered homicide export keeps its empty Code/Year cells and its two `time`
columns) and `<name>.metadata.json`. Trimmed to what ciw needs: rows of the 9 catalog countries
from 2000 on (real-gdp-growth keeps its Forecasts column and years to 2030, as OWID ships it;
the parser skips forecasts), rows ordered by ISO3 code then year; the metadata without the
chart's UI selection and the long `descriptionKey` bullet lists. Cells are written as the
source's own strings, never re-formatted through a float. Deterministic: same input, same bytes.

Run: .venv/bin/python tools/snapshot_owid.py [--shared ../shared/data] [--out data/snapshot/owid]
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "data" / "snapshot" / "owid"
COUNTRIES_CSV = REPO_ROOT / "data" / "catalog" / "countries.csv"
FIRST_YEAR = 2000
GRAPHER = "https://ourworldindata.org/grapher"
MANIFEST_COLUMNS = ["file", "publisher", "address", "licence", "retrieved_at", "sha256", "origin", "note"]

FACTWAVE = ("dominhok/FactWave", "77dd9ec595aa0b84483ce84773682cdcfa5b2859")
GUH = ("christianharris-3/GUH-2025", "db3ee7d1c7f510dc53d66f376c056dcee6d62d69")


@dataclass(frozen=True)
class Chart:
    name: str  # file stem in owid_grapher/ and in the snapshot
    slug: str
    csv_type: str  # full | filtered
    repo: tuple[str, str]
    origin_path: str  # path of the CSV in the origin repository
    licence: str


CHARTS = [
    Chart("carbon-intensity-electricity", "carbon-intensity-electricity", "full", FACTWAVE,
          "backend/owid_datasets/carbon-intensity/carbon-intensity-electricity.csv",
          "CC BY 4.0 (OWID processing; Ember CC BY 4.0); Energy Institute terms apply"),
    Chart("homicide-rate-unodc.filtered-latest", "homicide-rate-unodc", "filtered", GUH,
          "CountryCollide/compiling_data/raw_data/homicide-rate-unodc.filtered.zip!homicide-rate-unodc.csv",
          "CC BY 4.0 (OWID processing); UNODC and UN WPP terms apply"),
    Chart("per-capita-energy-use", "per-capita-energy-use", "full", FACTWAVE,
          "backend/owid_datasets/(topic folder not recorded)/per-capita-energy-use.csv",
          "CC BY 4.0 (OWID processing); EIA and Energy Institute terms apply"),
    Chart("real-gdp-growth", "real-gdp-growth", "full", FACTWAVE,
          "backend/owid_datasets/gdp-growth/real-gdp-growth.csv",
          "CC BY 4.0 (OWID processing); IMF terms apply"),
    Chart("trade-as-share-of-gdp", "trade-as-share-of-gdp", "full", FACTWAVE,
          "backend/owid_datasets/trade/trade-as-share-of-gdp.csv",
          "CC BY 4.0 (OWID processing; World Bank WDI CC BY 4.0)"),
]


def load_countries(path: Path = COUNTRIES_CSV) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["country_name"]: r["country_iso3"] for r in csv.DictReader(fh)
                if not r["country_iso3"].startswith("X")}  # X..: catalog regions, not countries


def _year(header: list[str], row: list[str]) -> int:
    """Year column, or (filtered export) the non-empty `time` cell."""
    cells = [row[2], *(row[i] for i, h in enumerate(header) if h == "time")]
    years = {c.strip() for c in cells if c.strip()}
    if len(years) != 1:
        raise SystemExit(f"row {row}: no single year in {cells}")
    return int(years.pop())


def trim_csv(text: str, names: dict[str, str]) -> tuple[str, int]:
    """Our countries from FIRST_YEAR on, by ISO3 then year; header and cells as published."""
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    codes = set(names.values())
    kept = []
    for row in body:
        iso3 = row[1].strip() or names.get(row[0].strip(), "")
        if iso3 in codes and _year(header, row) >= FIRST_YEAR:
            kept.append((iso3, _year(header, row), row))
    kept.sort(key=lambda k: (k[0], k[1]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")  # OWID's own: LF, quotes only where needed
    writer.writerow(header)
    writer.writerows(row for _, _, row in kept)
    return out.getvalue(), len(kept)


def trim_metadata(doc: dict) -> dict:
    """Drop what only the chart UI uses (selection) and the long explanatory bullets."""
    doc = json.loads(json.dumps(doc))
    doc.get("chart", {}).pop("selection", None)
    for col in doc["columns"].values():
        col.pop("descriptionKey", None)
    return doc


def build(shared: Path, out: Path) -> list[dict[str, str]]:
    src = shared / "owid_grapher"
    provenance = (src / "PROVENANCE.md").read_text(encoding="utf-8")
    names = load_countries()
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for chart in CHARTS:
        repo, commit = chart.repo
        if repo not in provenance or commit not in provenance:
            raise SystemExit(f"PROVENANCE.md no longer names {repo}@{commit}; update tools/snapshot_owid.py")
        meta = json.loads((src / f"{chart.name}.metadata.json").read_text(encoding="utf-8"))
        text, rows = trim_csv((src / f"{chart.name}.csv").read_text(encoding="utf-8"), names)
        citation = meta["chart"]["citation"]
        retrieved = f"{meta['dateDownloaded']}T00:00:00"  # the day the origin repo downloaded it from OWID
        query = f"v=1&csvType={chart.csv_type}&useColumnShortNames=false"
        files = [
            (f"{chart.name}.csv", text.encode("utf-8"), f"{GRAPHER}/{chart.slug}.csv?{query}",
             f"{rows} rows: the 9 catalog countries, years {FIRST_YEAR} on, ordered by Code then year; "
             "header and cells as published."
             + (" Filtered (map) export: latest year per country, Code/Year empty, year in the last time column."
                if chart.csv_type == "filtered" else "")),
            (f"{chart.name}.metadata.json",
             (json.dumps(trim_metadata(meta), indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
             f"{GRAPHER}/{chart.slug}.metadata.json?{query}",
             "OWID metadata shipped with the CSV; chart.selection and columns.*.descriptionKey dropped, "
             "timespan left as published (it describes the whole chart, not this trimmed extract)."),
        ]
        for name, data, address, note in files:
            origin_path = chart.origin_path if name.endswith(".csv") else chart.origin_path.replace(".csv", ".metadata.json")
            (out / name).write_bytes(data)
            manifest.append({
                "file": name, "publisher": f"Our World in Data; data: {citation}", "address": address,
                "licence": chart.licence + "; the origin repository states no licence", "retrieved_at": retrieved,
                "sha256": hashlib.sha256(data).hexdigest(),
                "origin": f"{repo}/{origin_path}@{commit} (via ../shared/data/owid_grapher/)",
                "note": note,
            })
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(manifest)
    (out / "manifest.csv").write_text(buf.getvalue(), encoding="utf-8")
    (out / "README.md").write_text(README, encoding="utf-8")
    return manifest


README = """# OWID snapshot (bundled, offline)

Written by `tools/snapshot_owid.py`; do not edit by hand. Read by `flows/sources/owid.py`.

Five Our World in Data grapher downloads, each a pair in OWID's own format: `<chart>.csv` (header
`Entity,Code,Year,<one column per series, by long title>`, LF, quotes only where needed) and
`<chart>.metadata.json` (units, owidVariableId, citations, lastUpdated per column). Trimmed to the
9 countries of `data/catalog/countries.csv` and years from 2000, rows ordered by ISO3 code then
year; cells are the published strings. `manifest.csv` gives per file the download address, the
origin repository/path/commit and the capture date (the metadata's `dateDownloaded`).

- `trade-as-share-of-gdp`: WDI NE.TRD.GNFS.ZS via OWID -> OWID.TRADE_GDP
- `per-capita-energy-use`: EIA + Energy Institute -> OWID.ENERGY_PC_KWH
- `carbon-intensity-electricity`: Ember + Energy Institute -> OWID.CO2_INTENSITY_ELEC
- `homicide-rate-unodc.filtered-latest`: the chart's *filtered* (map) export: one row per
  country with only its latest year; `Code` and `Year` empty, the year in the last of two `time`
  columns -> OWID.HOMICIDE_RATE (sex total). A live run fetches the full series instead.
- `real-gdp-growth`: IMF WEO April 2025; Observations -> OWID.GDP_GROWTH_IMF, the Forecasts
  column is kept as published but never loaded (projections are not observations).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    manifest = build(args.shared.resolve(), args.out)
    size = sum((args.out / m["file"]).stat().st_size for m in manifest)
    print(f"wrote {len(manifest)} files, {size} bytes to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
