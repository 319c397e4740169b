"""Build the bundled offline World Bank snapshot (data/snapshot/worldbank/) from ../shared/data.

The snapshot is written in the publishers' own formats, so the connector's one parser reads it as
it reads live downloads: World Bank Indicators API v2 JSON pages for the WDI mirror and WGI series,
and the World Bank bulk-download CSV (BOM, 4 preamble lines, wide years, every field quoted,
trailing comma) for EG.ELC.LOSS.ZS, whose only source here is such a file. Every value is the digit string of the published
source file written verbatim as the JSON number token (never re-formatted through a float), so a
figure traces back to its source byte for byte. The build is deterministic: the same inputs give
the same bytes (the manifest's sha256 let a test check that).

Run: python tools/build_snapshot.py [--shared ../shared/data] [--out data/snapshot/worldbank]
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "data" / "snapshot" / "worldbank"
COUNTRIES_CSV = REPO_ROOT / "data" / "catalog" / "countries.csv"

FIRST_YEAR = 2000
PER_PAGE = 1000
JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")

# Provenance, copied from the PROVENANCE.md beside each source (checked against it at build time).
WDI_DATAHUB = {
    "publisher": "World Bank, World Development Indicators (WDI)",
    "origin_repository": "datasets/world-development-indicators",
    "origin_commit": "4ebec5a2273f531ba238a34dbe440394dc5a6c4b",
    "lastupdated": "2026-07-01",
    "retrieved_at": "2026-07-01T00:00:00",  # the mirror commit the extract was taken from
}
WDI_BULK = {
    "publisher": ("World Bank, World Development Indicators (WDI); "
                  "series credited to IEA/OECD energy statistics"),
    "origin_repository": "palakagarwal19/Vehicle-Recommendation-engine",
    "origin_path": "data/raw/API_EG.ELC.LOSS.ZS_DS2_en_csv_v2_5973.csv",
    "origin_commit": "be4741bb59cca158a5007c1509d1c7e4327b5615",
    "licence": "CC-BY-4.0",
    "retrieved_at": "2026-02-25T00:00:00",  # date of that commit (PROVENANCE.md)
}
WGI = {
    "publisher": "World Bank / Kaufmann & Kraay, Worldwide Governance Indicators, 2024 update",
    "origin_repository": "timothym4r/Politics-and-Corruption-on-FDI-GDP-relation",
    "origin_path": "data/wgidataset.xlsx",
    "origin_commit": "8569d44918f4a7281194414839f48e69f95c3126",
    "licence": "CC-BY-4.0",
    "lastupdated": "2025-04-30",
    "retrieved_at": "2025-04-30T00:00:00",  # date of the commit that added the file
}
WGI_SERIES = {  # WGI file's `indicator` code -> (API id, API name)
    "va": ("GOV_WGI_VA.EST", "Voice and Accountability: Estimate"),
    "pv": ("GOV_WGI_PV.EST", "Political Stability and Absence of Violence/Terrorism: Estimate"),
    "ge": ("GOV_WGI_GE.EST", "Government Effectiveness: Estimate"),
    "rq": ("GOV_WGI_RQ.EST", "Regulatory Quality: Estimate"),
    "rl": ("GOV_WGI_RL.EST", "Rule of Law: Estimate"),
    "cc": ("GOV_WGI_CC.EST", "Control of Corruption: Estimate"),
}
# The WGI standard errors (file column `stddev`). The 2024 revision's API codes are GOV_WGI_<XX>.EST and
# GOV_WGI_<XX>.SC only; no GOV_WGI_<XX>.STD.ERR code is documented. The standard errors' API codes are
# the legacy source-3 ones, <XX>.STD.ERR, named "<dimension>: Standard Error" (public DataBank
# exports and WDI/wbopendata client code); whether the API still serves them is not confirmed.
WGI_SE_SERIES = {
    "va": ("VA.STD.ERR", "Voice and Accountability: Standard Error"),
    "pv": ("PV.STD.ERR", "Political Stability and Absence of Violence/Terrorism: Standard Error"),
    "ge": ("GE.STD.ERR", "Government Effectiveness: Standard Error"),
    "rq": ("RQ.STD.ERR", "Regulatory Quality: Standard Error"),
    "rl": ("RL.STD.ERR", "Rule of Law: Standard Error"),
    "cc": ("CC.STD.ERR", "Control of Corruption: Standard Error"),
}
# `decimal` is the API's display-precision hint; the sources do not carry it. Recorded API answers
# show 0 for US$ levels and 1 for rates, so: 0 for levels and counts, 1 otherwise.
COUNT_SERIES = {"SP.POP.TOTL", "SM.POP.NETM", "SM.POP.TOTL", "SM.POP.REFG.OR", "IC.REG.PROC",
                "IC.BUS.EASE.XQ"}

MANIFEST_COLUMNS = ["indicator_id", "file", "sha256", "rows", "non_null_rows", "first_year",
                    "last_year", "source_database", "publisher", "origin_repository",
                    "origin_path", "origin_commit", "licence", "lastupdated", "retrieved_at", "note"]


@dataclass(frozen=True)
class Country:
    iso3: str
    wb_id: str
    name: str


@dataclass
class Series:
    """One indicator: its API metadata, the years it lists and the verbatim value tokens."""

    indicator_id: str
    name: str
    sourceid: str
    lastupdated: str
    years: list[int]
    values: dict[tuple[str, int], str]  # (iso3, year) -> source digit string
    provenance: dict[str, str] = field(default_factory=dict)


def _token(text: str, where: str) -> str:
    text = text.strip()
    if not JSON_NUMBER.fullmatch(text):
        raise ValueError(f"{where}: {text!r} is not a JSON number token")
    return text


def _check_provenance(shared: Path, folder: str, *needles: str) -> None:
    """Fail if PROVENANCE.md no longer states what the constants above copy from it."""
    text = (shared / folder / "PROVENANCE.md").read_text(encoding="utf-8")
    missing = [n for n in needles if n not in text]
    if missing:
        raise SystemExit(f"{folder}/PROVENANCE.md does not state {missing}; update build_snapshot.py")


def load_countries(path: Path = COUNTRIES_CSV) -> list[Country]:
    with path.open(newline="", encoding="utf-8") as fh:
        # X.. codes are the catalog's regions (XCA, XMR): not World Bank economies
        return [Country(r["country_iso3"], r["wb_id"], r["country_name"]) for r in csv.DictReader(fh)
                if not r["country_iso3"].startswith("X")]


def load_datahub(shared: Path, countries: set[str]) -> list[Series]:
    folder = shared / "wdi_datahub"
    _check_provenance(shared, "wdi_datahub", WDI_DATAHUB["origin_repository"],
                      WDI_DATAHUB["origin_commit"], WDI_DATAHUB["lastupdated"])
    with (folder / "_index.csv").open(newline="", encoding="utf-8") as fh:
        index = list(csv.DictReader(fh))
    out = []
    for entry in index:
        code = entry["indicator_code"]
        file = folder / f"{code.lower()}.csv"
        values: dict[tuple[str, int], str] = {}
        max_year = 0
        with file.open(newline="", encoding="utf-8") as fh:
            for n, row in enumerate(csv.DictReader(fh), start=2):
                year, iso3 = int(row["Year"]), row["Country Code"]
                if iso3 not in countries or not row["Value"].strip():
                    continue
                max_year = max(max_year, year)
                if year >= FIRST_YEAR:
                    values[(iso3, year)] = _token(row["Value"], f"{file.name}:{n}")
        out.append(Series(
            indicator_id=code, name=entry["title"], sourceid="2",
            lastupdated=WDI_DATAHUB["lastupdated"], years=list(range(FIRST_YEAR, max_year + 1)),
            values=values,
            provenance={**WDI_DATAHUB, "origin_path": f"indicators/{code.lower()}/data.csv",
                        "licence": entry["license_in_datapackage"],
                        "note": f"From wdi_datahub/{file.name} (datahub mirror of WDI, 9-country "
                                f"extract); lastupdated is the mirror's commit date."},
        ))
    return out


BULK_NAME = re.compile(r"^(API_.+?_DS2_.+?_csv_v2_\d+)(?:\.[a-z_]+)?\.csv$")


def _quoted(cells: list[str]) -> str:
    """One line of the bulk layout: every field double-quoted, then a trailing comma."""
    return ",".join('"' + c.replace('"', '""') + '"' for c in cells) + ",\n"


def write_bulk(shared: Path, countries: set[str], out: Path) -> dict[str, str]:
    """Re-serialize the bulk CSV in its own layout: the preamble, then the header and the rows of our
    countries (source order) with the ID columns and the years from FIRST_YEAR on. Cells keep the
    published strings. Returns the file's manifest row."""
    folder = shared / "wdi_bulk_csv"
    _check_provenance(shared, "wdi_bulk_csv", WDI_BULK["origin_repository"],
                      WDI_BULK["origin_commit"], WDI_BULK["origin_path"])
    (file,) = sorted(folder.glob("API_*_DS2_*.csv"))
    raw = file.read_bytes()
    if not raw.startswith(b"\xef\xbb\xbf"):
        raise SystemExit(f"{file.name}: no BOM; not the bulk layout")
    lines = raw.decode("utf-8-sig").splitlines()
    preamble = list(csv.reader(lines[:4]))
    if preamble[0][:1] != ["Data Source"] or preamble[2][:1] != ["Last Updated Date"] or any(preamble[i] for i in (1, 3)):
        raise SystemExit(f"{file.name}: unexpected preamble {preamble}")
    header, *body = list(csv.reader(lines[4:]))
    if header[-1] != "" or header[:4] != ["Country Name", "Country Code", "Indicator Name", "Indicator Code"]:
        raise SystemExit(f"{file.name}: unexpected header {header[:5]} ... {header[-2:]}")
    keep = [*range(4), *(i for i, h in enumerate(header) if h.isdigit() and int(h) >= FIRST_YEAR)]
    rows = [r for r in body if r[1] in countries]
    if not rows or {r[3] for r in rows} != {rows[0][3]} or {r[1] for r in rows} != countries:
        raise SystemExit(f"{file.name}: expected one indicator and a row per economy")
    for r in rows:
        for i in keep[4:]:
            if r[i]:
                _token(r[i], f"{file.name}:{r[1]}:{header[i]}")
    text = "".join([_quoted(preamble[0][:2]), "\n", _quoted(preamble[2][:2]), "\n",
                    _quoted([header[i] for i in keep]), *(_quoted([r[i] for i in keep]) for r in rows)])
    data = b"\xef\xbb\xbf" + text.encode("utf-8")
    name = BULK_NAME.match(file.name).group(1) + ".csv"  # the World Bank's own file name
    (out / name).write_bytes(data)
    years = [header[i] for i in keep[4:]]
    return {
        "indicator_id": rows[0][3], "file": name, "sha256": hashlib.sha256(data).hexdigest(),
        "rows": str(len(rows) * len(years)), "non_null_rows": str(sum(bool(r[i]) for r in rows for i in keep[4:])),
        "first_year": years[0], "last_year": years[-1], "source_database": "2", "lastupdated": preamble[2][1],
        **{k: WDI_BULK[k] for k in ("publisher", "origin_repository", "origin_path", "origin_commit",
                                     "licence", "retrieved_at")},
        "note": (f"From wdi_bulk_csv/{file.name}, re-serialized in the World Bank bulk CSV layout (BOM, 4 "
                 "preamble lines, wide years, every field quoted, trailing comma): our 9 economies, years "
                 f"{years[0]}-{years[-1]}; lastupdated is its 'Last Updated Date' line; Belize's row is all empty."),
    }


def load_wgi(shared: Path, countries: set[str]) -> list[Series]:
    _check_provenance(shared, "wgi", WGI["origin_repository"], WGI["origin_commit"],
                      WGI["lastupdated"], WGI["origin_path"])
    (file,) = sorted((shared / "wgi").glob("*.csv"))
    by_code: dict[str, dict[tuple[str, int], str]] = {code: {} for code in WGI_SERIES}
    se_by_code: dict[str, dict[tuple[str, int], str]] = {code: {} for code in WGI_SE_SERIES}
    years: set[int] = set()
    with file.open(newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            year = int(row["year"])
            if row["code"] not in countries or year < FIRST_YEAR:
                continue
            years.add(year)
            if row["estimate"].strip():
                by_code[row["indicator"]][(row["code"], year)] = _token(row["estimate"], f"{file.name}:{n}")
            if row["stddev"].strip():
                se_by_code[row["indicator"]][(row["code"], year)] = _token(row["stddev"], f"{file.name}:{n}")
    out = []
    for code, (indicator_id, name) in WGI_SERIES.items():
        out.append(Series(
            indicator_id=indicator_id, name=name, sourceid="3", lastupdated=WGI["lastupdated"],
            years=sorted(years), values=by_code[code],
            provenance={**WGI, "note": f"From wgi/{file.name}, column estimate, indicator '{code}'. "
                        "lastupdated is the capture date (the commit that added wgidataset.xlsx "
                        "to the origin repository), not a World Bank release date. WGI years only "
                        "(none for 2001); 1996 and 1998 dropped."},
        ))
    for code, (indicator_id, name) in WGI_SE_SERIES.items():
        out.append(Series(
            indicator_id=indicator_id, name=name, sourceid="3", lastupdated=WGI["lastupdated"],
            years=sorted(years), values=se_by_code[code],
            provenance={**WGI, "note": f"From wgi/{file.name}, column stddev (standard error of "
                        f"GOV_WGI_{code.upper()}.EST), indicator '{code}'. API code {indicator_id} is the "
                        "legacy source-3 code (the 2024 revision publishes only GOV_WGI_*.EST/.SC); not "
                        "confirmed as still served. lastupdated is the capture date. WGI years only "
                        "(none for 2001); 1996 and 1998 dropped."},
        ))
    return out


def _decimal(series: Series) -> int:
    return 0 if "US$" in series.name or series.indicator_id in COUNT_SERIES else 1


def render_pages(series: Series, countries: list[Country]) -> list[str]:
    """The API's JSON: economies alphabetical by name, years newest first, null where no value."""
    ind = json.dumps({"id": series.indicator_id, "value": series.name}, separators=(",", ":"))
    decimal = _decimal(series)
    rows = []
    for c in sorted(countries, key=lambda c: c.name):
        country = json.dumps({"id": c.wb_id, "value": c.name}, separators=(",", ":"))
        for year in sorted(series.years, reverse=True):
            value = series.values.get((c.iso3, year), "null")
            rows.append(f'{{"indicator":{ind},"country":{country},"countryiso3code":{json.dumps(c.iso3)},'
                        f'"date":"{year}","value":{value},"unit":"","obs_status":"","decimal":{decimal}}}')
    chunks = [rows[i:i + PER_PAGE] for i in range(0, len(rows), PER_PAGE)] or [[]]
    pages = []
    for number, chunk in enumerate(chunks, start=1):
        meta = {"page": number, "pages": len(chunks), "per_page": PER_PAGE, "total": len(rows),
                "sourceid": series.sourceid, "lastupdated": series.lastupdated}
        text = "[" + json.dumps(meta, separators=(",", ":")) + ",\n[\n" + ",\n".join(chunk) + "\n]\n]\n"
        json.loads(text)  # never write a page that is not valid JSON
        pages.append(text)
    return pages


def build(shared: Path, out: Path) -> list[dict[str, str]]:
    countries = load_countries()
    iso3 = {c.iso3 for c in countries}
    series = [*load_datahub(shared, iso3), *load_wgi(shared, iso3)]
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.json"), *out.glob("API_*.csv")]:
        old.unlink()
    manifest = [write_bulk(shared, iso3, out)]
    for s in sorted(series, key=lambda s: s.indicator_id):
        pages = render_pages(s, countries)
        for number, text in enumerate(pages, start=1):
            name = f"{s.indicator_id}.json" if len(pages) == 1 else f"{s.indicator_id}.p{number}.json"
            data = text.encode("utf-8")
            (out / name).write_bytes(data)
            rows = json.loads(text)[1]
            years = [int(r["date"]) for r in rows]
            manifest.append({
                "indicator_id": s.indicator_id, "file": name,
                "sha256": hashlib.sha256(data).hexdigest(), "rows": str(len(rows)),
                "non_null_rows": str(sum(r["value"] is not None for r in rows)),
                "first_year": str(min(years)), "last_year": str(max(years)),
                "source_database": s.sourceid, "lastupdated": s.lastupdated,
                **{k: s.provenance[k] for k in ("publisher", "origin_repository", "origin_path",
                                                "origin_commit", "licence", "retrieved_at", "note")},
            })
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(manifest, key=lambda m: m["indicator_id"]))
    (out / "manifest.csv").write_text(buf.getvalue(), encoding="utf-8")
    (out / "README.md").write_text(render_readme(manifest), encoding="utf-8")
    return manifest


def render_readme(manifest: list[dict[str, str]]) -> str:
    rows = sum(int(m["rows"]) for m in manifest)
    non_null = sum(int(m["non_null_rows"]) for m in manifest)
    ids = sorted({m["indicator_id"] for m in manifest})
    return f"""# World Bank snapshot (bundled, offline)

Written by `tools/build_snapshot.py`; do not edit by hand.

**What.** {len(ids)} World Bank series for the 9 economies of `data/catalog/countries.csv`, one file
per indicator. EG.ELC.LOSS.ZS is the World Bank bulk-download CSV
(`API_EG.ELC.LOSS.ZS_DS2_en_csv_v2_5973.csv`: UTF-8 BOM, 4 preamble lines, one wide row per economy
with years 2000-2025, every field quoted, a trailing comma; Belize's row all empty). Every other
file is `<INDICATOR_ID>.json`, exactly a World Bank Indicators API v2 JSON answer:
`[page-metadata, rows]`, one page (`per_page` 1000), rows grouped by economy alphabetically by
name, years newest first, one row per economy and year from 2000 to the series' last year (WGI:
the years WGI publishes), `"value": null` where the source has no value. {rows} rows, {non_null}
with a value. The connector reads both formats with the parsers of live downloads
(`flows.sources.worldbank.parse_inputs()`: API pages, and `worldbank_bulk` for the CSV).

**From where.** `../shared/data` (each folder's PROVENANCE.md gives the origin):
- 36 WDI series from `wdi_datahub/` (datahub.io mirror of WDI, `sourceid` "2", names from
  `_index.csv`, `lastupdated` 2026-07-01 = the mirror's commit date);
- EG.ELC.LOSS.ZS: the World Bank bulk CSV in `wdi_bulk_csv/`, re-serialized in its own layout
  (`lastupdated` from its "Last Updated Date" line);
- the 6 WGI estimates `GOV_WGI_*.EST` and their 6 standard errors `<XX>.STD.ERR` (column
  `stddev`; legacy source-3 codes, the 2024 revision's API lists only `GOV_WGI_*.EST`/`.SC`) from
  `wgi/` (`sourceid` "3"; `lastupdated` 2025-04-30 is the capture date, i.e. the commit that
  added the file to its origin repository, not a World Bank release date).

`manifest.csv` gives, per file: sha256, rows, non-null rows, year span, database, publisher,
origin repository / path / commit, licence (CC-BY-4.0), lastupdated and a note.

**Exactness.** Each value is the source file's digit string written verbatim (as the JSON number,
or the CSV cell), never re-formatted through a float. Years before 2000 are dropped. `unit` and `obs_status` are
`""` as in API answers; `decimal` (a display hint the sources do not carry) is set by the tool:
0 for US$ levels and counts, 1 otherwise.

**Rebuild** (deterministic: same inputs, same bytes):

    .venv/bin/python tools/build_snapshot.py --shared ../shared/data
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                        help="the shared data folder (default: ../shared/data from the repo root)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    manifest = build(args.shared.resolve(), args.out)
    rows = sum(int(m["rows"]) for m in manifest)
    non_null = sum(int(m["non_null_rows"]) for m in manifest)
    size = sum((args.out / m["file"]).stat().st_size for m in manifest)
    print(f"wrote {len(manifest)} files, {rows} rows ({non_null} with a value), {size} bytes to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
