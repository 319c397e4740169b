"""Our World in Data grapher downloads: a chart's CSV plus the `.metadata.json` shipped with it.

OWID republishes other producers' series (World Bank, Ember, EIA, UNODC, IMF); a chart download
is one CSV (`Entity, Code, Year, <one column per series, headed by its long title>`) and a JSON
describing each column (unit, owidVariableId, citation, lastUpdated). The parser reads the two as
a pair, so every row carries its own unit, citation and update date. Layout quirks handled here
(API_FORMATS.md §2, data/snapshot/owid/README.md):

- the `csvType=filtered` (map) export: `Code` and `Year` empty, the year in a `time` column, and
  the header repeats `time` (positions, not names, tell the columns apart);
- entities without a Code: mapped to ISO3 by name, only for the catalog's countries; other
  entities (OWID aggregates, the rest of the world) are out of scope and skipped;
- breakdowns inside the title (`... - sex: Total - age: Total`) go to `sex` / `breakdown`;
- non-numeric columns (OWID's region column) and IMF forecast columns are not observations and
  are not read.

Columns map to indicator ids through the catalog (data/catalog/indicators/owid.csv): its `name`
is the OWID column title with the breakdown suffix removed.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa

from flows.config import PROJECT_ROOT, Settings
from flows.registry import Source
from flows.sources.http import DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT, SourceError, fetch, make_client
from flows.sources.observations import empty, to_parsed

SOURCE_ID = "owid"
BASE_URL = "https://ourworldindata.org/grapher"
# "Download -> Full data (CSV)": every year, long column titles (the metadata is keyed by them).
DOWNLOAD_QUERY = "v=1&csvType=full&useColumnShortNames=false"
CHARTS = ("trade-as-share-of-gdp", "per-capita-energy-use", "carbon-intensity-electricity",
          "homicide-rate-unodc", "real-gdp-growth")
CATALOG_CSV = PROJECT_ROOT / "data" / "catalog" / "indicators" / "owid.csv"
COUNTRIES_CSV = PROJECT_ROOT / "data" / "catalog" / "countries.csv"
METADATA_SUFFIX = ".metadata.json"
_DIMENSION = re.compile(r"^([A-Za-z][A-Za-z ]*): (.+)$")


# ---------------------------------------------------------------------------------------------
# Column metadata
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    """One data column of a chart CSV, described by the chart's metadata and the catalog."""

    position: int
    indicator_id: str | None  # None: not in the catalog (quarantined as indicator_id_present)
    title: str
    unit: str | None
    sex: str
    breakdown: str
    lastupdated: str | None
    citation: str | None
    note: str


def split_title(title: str) -> tuple[str, str, str]:
    """'Homicide rate ... - sex: Total - age: Total' -> (base title, sex, breakdown)."""
    parts = title.split(" - ")
    dims: dict[str, str] = {}
    while len(parts) > 1 and (m := _DIMENSION.match(parts[-1])):
        dims[m[1].strip().lower()] = m[2].strip().lower()
        parts.pop()
    sex = dims.pop("sex", "total")
    rest = sorted(f"{k.replace(' ', '_')}={v}" for k, v in dims.items() if v != "total")
    return " - ".join(parts), sex, ";".join(rest) or "total"


def is_projection(title: str, meta: dict) -> bool:
    """IMF WEO forecasts (real-gdp-growth) are projections, not observations: never loaded."""
    return title.endswith("- Forecasts") or str(meta.get("shortName", "")).endswith("forecast")


def catalog_ids(path: Path = CATALOG_CSV) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["name"]: r["indicator_id"] for r in csv.DictReader(fh) if r["source_id"] == SOURCE_ID}


def country_names(path: Path = COUNTRIES_CSV) -> dict[str, str]:
    """Catalog country name -> ISO3; the catalog's X.. region codes are not OWID entities."""
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["country_name"]: r["country_iso3"] for r in csv.DictReader(fh)
                if not r["country_iso3"].startswith("X")}


def read_metadata(path: Path) -> dict:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SourceError(f"metadata is not readable JSON ({exc})", source=SOURCE_ID, rule="not_json",
                          file=str(path)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("columns"), dict):
        raise SourceError('metadata has no "columns" object', source=SOURCE_ID, rule="metadata", file=str(path))
    return doc


def read_header(path: Path) -> list[str]:
    """The header line, after refusing what is not a complete grapher CSV."""
    raw = path.read_bytes()
    text = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise SourceError("the file is empty", source=SOURCE_ID, rule="empty_file", file=str(path))
    if text.startswith(b"<"):
        raise SourceError("got HTML where a CSV was expected", source=SOURCE_ID, rule="not_csv", file=str(path))
    if not raw.endswith(b"\n"):
        raise SourceError("the file ends in the middle of a line: truncated", source=SOURCE_ID, rule="truncated",
                          file=str(path), row=raw.count(b"\n") + 1)
    try:
        first = text.split(b"\n", 1)[0].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"header is not UTF-8 ({exc.reason})", source=SOURCE_ID, rule="encoding",
                          file=str(path), row=1) from None
    header = next(csv.reader(io.StringIO(first)))
    if header[:2] != ["Entity", "Code"] or len(header) < 4:
        raise SourceError(f"header should start Entity,Code,Year: got {header[:3]}", source=SOURCE_ID,
                          rule="header", file=str(path), row=1)
    if header[2] != "Year":
        # A 'Day' column means a daily chart; none of ours is, and its periods would need their own rules.
        raise SourceError(f"third column is {header[2]!r}, only yearly charts ('Year') are read",
                          source=SOURCE_ID, rule="header", file=str(path), row=1)
    return header


def describe(path: Path, header: list[str], meta: dict, ids: dict[str, str]) -> tuple[list[Series], list[int]]:
    """The numeric series columns and the `time` columns of a CSV, checked against its metadata."""
    times = [pos for pos, title in enumerate(header) if title == "time"]
    series = []
    for pos, title in enumerate(header[3:], start=3):
        if title == "time":
            continue
        col = meta["columns"].get(title)
        if col is None:
            raise SourceError(f"column {title!r} is not described in the metadata: CSV and metadata do not "
                              "belong together", source=SOURCE_ID, rule="header", file=str(path), row=1)
        if col.get("type") != "Numeric" or is_projection(title, col):
            continue
        base, sex, breakdown = split_title(title)
        series.append(Series(
            position=pos, indicator_id=ids.get(base), title=title,
            unit=col.get("unit") or col.get("shortUnit") or None, sex=sex, breakdown=breakdown,
            lastupdated=col.get("lastUpdated"), citation=col.get("citationShort"),
            note=f"OWID variable {col.get('owidVariableId')} ({col.get('shortName')})"
                 + ("; filtered export: latest year per country, year from its time column" if times else ""),
        ))
    if not series:
        raise SourceError("no numeric series column in the file", source=SOURCE_ID, rule="header",
                          file=str(path), row=1)
    return series, times


# ---------------------------------------------------------------------------------------------
# Parse
# ---------------------------------------------------------------------------------------------
# The year is the one non-empty value among `Year` and the `time` columns (the filtered export
# leaves Year empty); none or two different ones leave the period null, to be quarantined.
_PARSE_SQL = """
WITH raw AS (
    SELECT CAST(row_number() OVER () + 1 AS BIGINT) AS source_row, *
    FROM read_csv($path, auto_detect = false, header = false, skip = 1, columns = $columns, delim = ',',
                  quote = '"', escape = '"', strict_mode = true, null_padding = false, encoding = 'utf-8')
),
located AS (
    SELECT raw.*,
           coalesce(nullif(trim(c1), ''), n.iso3) AS iso3,
           list_sort(list_distinct(list_filter([{year_cells}], lambda y: y IS NOT NULL))) AS years
    FROM raw LEFT JOIN names AS n ON n.name = trim(raw.c0)
),
long AS (
    UNPIVOT (SELECT source_row, iso3, years, {series_cols} FROM located WHERE list_contains($countries, iso3))
    ON {series_cols} INTO NAME col VALUE cell
)
SELECT
    s.indicator_id, s.title AS indicator_name, l.iso3 AS country_iso3,
    CASE WHEN len(l.years) = 1 THEN l.years[1] END AS period,
    s.sex, s.breakdown,
    CASE WHEN isfinite(TRY_CAST(trim(l.cell) AS DOUBLE)) THEN TRY_CAST(trim(l.cell) AS DOUBLE) END AS value,
    trim(l.cell) AS value_text,
    s.unit,
    CASE WHEN len(l.years) > 1 THEN s.note || '; year ambiguous: ' || array_to_string(l.years, ' vs ')
         ELSE s.note END AS note,
    $source_url AS source_url, s.citation, TRY_CAST(s.lastupdated AS DATE) AS lastupdated,
    $file AS source_file, l.source_row
FROM long AS l JOIN spec AS s ON s.col = l.col
WHERE nullif(trim(l.cell), '') IS NOT NULL
ORDER BY l.source_row, s.position
"""


def _metadata_for(csv_path: Path, given: dict[str, Path]) -> Path:
    name = csv_path.name[: -len(".csv")] + METADATA_SUFFIX
    path = given.get(name, csv_path.with_name(name))
    if not path.exists():
        raise SourceError(f"no {name} beside the CSV: units and citations come from it", source=SOURCE_ID,
                          rule="metadata_missing", file=str(csv_path))
    return path


def parse_chart(con: duckdb.DuckDBPyConnection, path: Path, meta_path: Path, ids: dict[str, str],
                names: dict[str, str]) -> pa.Table:
    header = read_header(path)
    meta = read_metadata(meta_path)
    series, times = describe(path, header, meta, ids)
    spec = pa.table({
        "col": [f"c{s.position}" for s in series], "position": [s.position for s in series],
        "indicator_id": pa.array([s.indicator_id for s in series], pa.string()),
        "title": [s.title for s in series], "unit": pa.array([s.unit for s in series], pa.string()),
        "sex": [s.sex for s in series], "breakdown": [s.breakdown for s in series],
        "lastupdated": pa.array([s.lastupdated for s in series], pa.string()),
        "citation": pa.array([s.citation for s in series], pa.string()), "note": [s.note for s in series],
    })
    name_table = pa.table({"name": list(names), "iso3": list(names.values())})
    sql = _PARSE_SQL.format(
        year_cells=", ".join(f"nullif(trim(c{p}), '')" for p in (2, *times)),
        series_cols=", ".join(f"c{s.position}" for s in series),
    )
    chart_url = meta.get("chart", {}).get("originalChartUrl")
    slug = path.name.split(".")[0]
    cur = con.cursor()  # its own registrations, so parallel parses do not see each other's tables
    cur.register("spec", spec)
    cur.register("names", name_table)
    try:
        return cur.sql(sql, params={
            "path": str(path), "columns": {f"c{i}": "VARCHAR" for i in range(len(header))},
            "countries": sorted(set(names.values())), "file": path.name,
            "source_url": chart_url or f"{BASE_URL}/{slug}",
        }).to_arrow_table()
    except (duckdb.InvalidInputException, duckdb.IOException) as exc:  # the file, not the query
        line = re.search(r"[Ll]ine:? (\d+)", str(exc))
        rule = "encoding" if "invalid unicode" in str(exc).lower() else "malformed_csv"
        raise SourceError(f"DuckDB could not read the file: {str(exc).splitlines()[0]}", source=SOURCE_ID,
                          rule=rule, file=str(path), row=int(line.group(1)) if line else None) from None
    finally:
        cur.close()


def parse(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> pa.Table:
    """Chart CSVs (each with its .metadata.json, listed or beside it) -> parsed_observation rows."""
    paths = [Path(p) for p in paths]
    given = {p.name: p for p in paths if p.name.endswith(METADATA_SUFFIX)}
    csvs = [p for p in paths if p.suffix.lower() == ".csv"]
    ids, names = catalog_ids(), country_names()
    parts = [parse_chart(con, p, _metadata_for(p, given), ids, names) for p in csvs]
    return to_parsed(pa.concat_tables(parts)) if parts else empty()


# ---------------------------------------------------------------------------------------------
# Fetch
# ---------------------------------------------------------------------------------------------
def _check_csv(body: bytes, url: str) -> None:
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"Entity,"):
        kind = "HTML" if head.startswith(b"<") else "something else"
        raise SourceError(f"got {kind} where the chart CSV was expected: {head[:80]!r}", source=SOURCE_ID,
                          rule="not_csv", url=url)


def _check_metadata(body: bytes, url: str) -> None:
    try:
        doc = json.loads(body)
    except ValueError:
        raise SourceError(f"metadata is not JSON: {body[:80]!r}", source=SOURCE_ID, rule="not_json", url=url) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("columns"), dict):
        raise SourceError('metadata has no "columns" object', source=SOURCE_ID, rule="metadata", url=url)


def fetch_live(s: Settings, dest: Path, *, base_url: str = BASE_URL, charts: tuple[str, ...] = CHARTS,
               timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
               backoff: float = DEFAULT_BACKOFF) -> list[Path]:
    """Each chart's full CSV and its metadata, checked, then written as <slug>.csv + <slug>.metadata.json."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    base = base_url.rstrip("/")
    bodies: dict[str, bytes] = {}
    with make_client(timeout) as client:
        for slug in charts:
            for name, check in ((f"{slug}.csv", _check_csv), (f"{slug}{METADATA_SUFFIX}", _check_metadata)):
                url = f"{base}/{name}?{DOWNLOAD_QUERY}"
                body = fetch(url, source=SOURCE_ID, timeout=timeout, retries=retries, backoff=backoff, client=client)
                check(body, url)
                bodies[name] = body
    # written only once every chart arrived whole, so a failed fetch leaves no half pair behind
    paths = []
    for name, body in bodies.items():
        (dest / name).write_bytes(body)
        paths.append(dest / name)
    return paths


SOURCE = Source(
    source_id=SOURCE_ID,
    publisher="Our World in Data (republishing World Bank, Ember, Energy Institute, EIA, UNODC, IMF)",
    address=BASE_URL,
    licence="CC BY 4.0 (OWID processing); the original producers' terms apply to their data",
    snapshot="owid",
    parse=parse,
    fetch_live=fetch_live,
)
