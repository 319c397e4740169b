"""World Bank Indicators API v2 connector (WDI, WGI, ...): declaration, then fetch and parse helpers.

Pages land raw (`<INDICATOR>.p<N>.json`, exactly as the API sent them) and one parser reads them,
so a live run and the bundled offline snapshot (data/snapshot/worldbank/, same format) go through
the same code. The snapshot also holds one World Bank bulk-download CSV (EG.ELC.LOSS.ZS), read by
flows/sources/worldbank_bulk.py into the same shape. Envelope problems (an HTML error page served with 200, the API's error array, a
page count that moves between pages) are caught per page; rows are parsed by DuckDB's JSON reader
in one vectorised query, with no Python loop over rows.
"""
from __future__ import annotations

import csv
import json
import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
import datetime as dt
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.compute as pc

from flows.config import PROJECT_ROOT, Settings
from flows.registry import Source
from flows.sources.observations import to_parsed
from flows.staging import ParsedRows
from flows.sources.http import (
    DEFAULT_BACKOFF,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    SourceError,
    fetch,
    make_client,
)

# ---------------------------------------------------------------------------------------------
# Declaration
# ---------------------------------------------------------------------------------------------
SOURCE_ID = "worldbank"
BASE_URL = "https://api.worldbank.org/v2"
DEFAULT_DATE = "2000:2025"
PER_PAGE = 1000  # what wbdata sends; the API's own default is 50
COUNTRIES_CSV = PROJECT_ROOT / "data" / "catalog" / "countries.csv"
SNAPSHOT_DIR = PROJECT_ROOT / "data" / "snapshot" / "worldbank"
WRITE_DISPOSITION = "merge"
PRIMARY_KEY = ("indicator_id", "country_iso3", "period")
# The API's error id for an indicator code it does not (or no longer) serve: "Invalid format / The
# indicator was not found. It may have been deleted or archived." (API_FORMATS.md §1.2)
NOT_FOUND_ERROR_ID = "175"

log = logging.getLogger(__name__)


def _read_countries(path: Path) -> tuple[str, ...]:
    with path.open(newline="", encoding="utf-8") as fh:
        return tuple(row["country_iso3"] for row in csv.DictReader(fh) if row["wb_id"])  # regions have no WB id


DEFAULT_COUNTRIES: tuple[str, ...] = _read_countries(COUNTRIES_CSV)

OUTPUT_SCHEMA = pa.schema([
    pa.field("indicator_id", pa.string()),
    pa.field("indicator_name", pa.string()),
    pa.field("country_iso3", pa.string()),
    pa.field("country_wb_id", pa.string()),
    pa.field("country_name", pa.string()),
    pa.field("period", pa.string()),
    pa.field("value", pa.float64()),
    pa.field("value_text", pa.string()),
    pa.field("unit", pa.string()),
    pa.field("obs_status", pa.string()),
    pa.field("decimal", pa.int32()),
    pa.field("source_database", pa.string()),
    pa.field("lastupdated", pa.date32()),
    pa.field("source_file", pa.string()),
    pa.field("source_row", pa.int64()),
])

# ---------------------------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------------------------


def build_url(
    indicator: str,
    countries: Sequence[str] | None,
    *,
    date: str = DEFAULT_DATE,
    page: int = 1,
    per_page: int = PER_PAGE,
    source: str | int | None = None,
    base_url: str = BASE_URL,
) -> str:
    """The country x indicator data URL; format=json always (XML is the API's default)."""
    codes = ";".join(countries if countries is not None else DEFAULT_COUNTRIES)
    url = (f"{base_url.rstrip('/')}/country/{codes}/indicator/{indicator}"
           f"?format=json&date={date}&per_page={per_page}&page={page}")
    return url if source is None else f"{url}&source={source}"


# ---------------------------------------------------------------------------------------------
# Envelope: [page-metadata, rows]
# ---------------------------------------------------------------------------------------------
_HEAD_BYTES = 64 * 1024
_WS = " \t\r\n"
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)


@dataclass(frozen=True)
class PageMeta:
    """The first element of a page, plus whether the second element carries rows."""

    page: int
    pages: int
    per_page: int | None
    total: int | None
    sourceid: str | None
    lastupdated: dt.date | None
    has_rows: bool  # False for `[meta, null]`: the API's "no data"


def _snippet(body: bytes, limit: int = 120) -> str:
    title = _TITLE.search(body[:_HEAD_BYTES])
    text = title.group(1) if title else body[:limit * 2]
    text = " ".join(text.decode("utf-8", "replace").split())
    return repr(text[:limit])


def _sniff(head: bytes, where: dict[str, str]) -> None:
    """Refuse bodies that are not a JSON array before trying to parse them."""
    text = head.lstrip(b"\xef\xbb\xbf" + _WS.encode())
    if text.startswith(b"<"):
        kind = "XML" if text[:5].lower() == b"<?xml" else "HTML"
        raise SourceError(f"got {kind} where JSON was expected: {_snippet(text)}",
                          source=SOURCE_ID, rule="not_json", **where)
    if not text.startswith(b"["):
        raise SourceError(f"expected a JSON array [page-metadata, rows], got {_snippet(text)}",
                          source=SOURCE_ID, rule="not_json", **where)


def _api_error(first: dict, where: dict[str, str]) -> SourceError:
    """The API's error array as a SourceError; rule "indicator_not_found" for id 175 (the code is
    unknown, deleted or archived), "api_error" for any other error."""
    messages = first.get("message")
    parts, ids = [], set()
    for m in messages if isinstance(messages, list) else [messages]:
        if isinstance(m, dict):
            ids.add(str(m.get("id")))
            parts.append(f"id {m.get('id')!s} key {m.get('key')!r} value {m.get('value')!r}")
        else:
            parts.append(repr(m))
    rule = "indicator_not_found" if ids == {NOT_FOUND_ERROR_ID} else "api_error"
    return SourceError("the API answered with an error: " + "; ".join(parts),
                       source=SOURCE_ID, rule=rule, **where)


def _whole(meta: dict, key: str, where: dict[str, str], required: bool) -> int | None:
    """page/pages/per_page/total come as numbers or as strings ("1"): accept both."""
    raw = meta.get(key)
    if raw is None:
        if required:
            raise SourceError(f"page metadata has no {key!r}", source=SOURCE_ID,
                              rule="bad_envelope", **where)
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    raise SourceError(f"page metadata {key!r} is not a whole number: {raw!r}", source=SOURCE_ID,
                      rule="bad_envelope", **where)


def _lastupdated(raw: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(raw)[:10]) if raw else None
    except ValueError:
        return None


def _page_meta(first: object, rows_kind: str, where: dict[str, str]) -> PageMeta:
    """Check the first element; rows_kind is "array", "null" or "absent" (1-element array)."""
    if isinstance(first, dict) and "message" in first:
        raise _api_error(first, where)
    if not isinstance(first, dict):
        raise SourceError(f"first element is {type(first).__name__}, not the page metadata object",
                          source=SOURCE_ID, rule="bad_envelope", **where)
    page = _whole(first, "page", where, required=True)
    pages = _whole(first, "pages", where, required=True)
    total = _whole(first, "total", where, required=False)
    if rows_kind == "absent" and total != 0:
        raise SourceError("a 1-element array that is neither an API error nor an empty result",
                          source=SOURCE_ID, rule="bad_envelope", **where)
    sourceid = first.get("sourceid")
    return PageMeta(page=page, pages=pages, per_page=_whole(first, "per_page", where, required=False),
                    total=total, sourceid=None if sourceid is None else str(sourceid),
                    lastupdated=_lastupdated(first.get("lastupdated")), has_rows=rows_kind == "array")


def read_envelope(body: bytes, *, url: str) -> tuple[PageMeta, list | None]:
    """Check a fetched page whole (it is in memory anyway); return its metadata and rows."""
    where = {"url": url}
    _sniff(body[:_HEAD_BYTES], where)
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise SourceError(f"body is not valid JSON ({exc})", source=SOURCE_ID, rule="not_json",
                          **where) from None
    if not isinstance(doc, list) or not 1 <= len(doc) <= 2:
        raise SourceError(f"expected [page-metadata, rows], got a {len(doc)}-element array",
                          source=SOURCE_ID, rule="bad_envelope", **where)
    rows = doc[1] if len(doc) == 2 else None
    if rows is not None and not isinstance(rows, list):
        raise SourceError(f"second element is {type(rows).__name__}, not the rows array or null",
                          source=SOURCE_ID, rule="bad_envelope", **where)
    kind = "absent" if len(doc) == 1 else ("null" if rows is None else "array")
    return _page_meta(doc[0], kind, where), rows


def read_page_meta(path: Path) -> PageMeta:
    """Check a landed page's envelope reading only its head and tail, not its rows."""
    where = {"file": str(path)}
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
        fh.seek(max(0, size - 64))
        tail = fh.read()
    _sniff(head, where)
    if not tail.rstrip().endswith(b"]"):
        raise SourceError("file does not end with ']': truncated or not a JSON array",
                          source=SOURCE_ID, rule="not_json", **where)
    text = head.decode("utf-8", "replace").lstrip("\ufeff" + _WS)
    try:
        return _meta_from_text(text, where)
    except (ValueError, IndexError):
        if size <= _HEAD_BYTES:
            raise SourceError("page metadata is not valid JSON", source=SOURCE_ID,
                              rule="not_json", **where) from None
    # Metadata longer than the head (never seen): read the whole file once.
    try:
        return _meta_from_text(path.read_text(encoding="utf-8-sig").lstrip(_WS), where)
    except (ValueError, IndexError):
        raise SourceError("page metadata is not valid JSON", source=SOURCE_ID,
                          rule="not_json", **where) from None


def _meta_from_text(text: str, where: dict[str, str]) -> PageMeta:
    """Decode `[first, ...` up to the start of the second element."""
    i = 1
    while text[i] in _WS:
        i += 1
    first, end = json.JSONDecoder().raw_decode(text, i)
    while text[end] in _WS:
        end += 1
    if isinstance(first, dict) and "message" in first:
        raise _api_error(first, where)
    if text[end] == "]":
        return _page_meta(first, "absent", where)
    if text[end] != ",":
        raise ValueError("expected ',' after the page metadata")
    end += 1
    while text[end] in _WS:
        end += 1
    if text.startswith("null", end):
        return _page_meta(first, "null", where)
    if text[end] == "[":
        return _page_meta(first, "array", where)
    raise SourceError("second element is neither the rows array nor null", source=SOURCE_ID,
                      rule="bad_envelope", **where)


# ---------------------------------------------------------------------------------------------
# Fetch: raw landing of every page
# ---------------------------------------------------------------------------------------------


def page_file_name(indicator: str, page: int) -> str:
    return f"{indicator}.p{page}.json"


def fetch_indicator(
    indicator: str,
    countries: Sequence[str] | None,
    dest_dir: Path,
    *,
    base_url: str = BASE_URL,
    source: str | int | None = None,
    date: str = DEFAULT_DATE,
    per_page: int = PER_PAGE,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    client: httpx.Client | None = None,
) -> list[Path]:
    """Fetch every page of one indicator into dest_dir/<INDICATOR>.p<N>.json; return the paths.

    Pages are checked as they arrive and staged first, so dest_dir only changes when the whole
    indicator arrived (and stale pages of an earlier, longer answer are removed). `[meta, null]`
    (no data) lands as one page with no rows.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    staging = dest_dir / f".{indicator}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    http = make_client(timeout) if client is None else client
    try:
        names = _fetch_pages(http, indicator, countries, staging, base_url=base_url, source=source,
                             date=date, per_page=per_page, timeout=timeout, retries=retries,
                             backoff=backoff, max_retry_after=max_retry_after)
        own_page = re.compile(rf"{re.escape(indicator)}\.p\d+\.json")
        for stale in dest_dir.iterdir():
            if own_page.fullmatch(stale.name) and stale.name not in names:
                stale.unlink()
        paths = []
        for name in names:
            (staging / name).replace(dest_dir / name)
            paths.append(dest_dir / name)
        return paths
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if client is None:
            http.close()


def _fetch_pages(http: httpx.Client, indicator: str, countries: Sequence[str] | None,
                 staging: Path, *, base_url: str, source: str | int | None, date: str,
                 per_page: int, timeout: float | httpx.Timeout, retries: int, backoff: float,
                 max_retry_after: float) -> list[str]:
    names: list[str] = []
    pages: int | None = None
    total: int | None = None
    rows_seen = 0
    had_rows = False
    page = 1
    while True:
        url = build_url(indicator, countries, date=date, page=page, per_page=per_page,
                        source=source, base_url=base_url)
        body = fetch(url, source=SOURCE_ID, timeout=timeout, retries=retries, backoff=backoff,
                     max_retry_after=max_retry_after, client=http)
        meta, rows = read_envelope(body, url=url)
        if pages is None:
            pages, total = meta.pages, meta.total
        elif meta.pages != pages:
            raise SourceError(f"page count changed from {pages} to {meta.pages} between pages",
                              source=SOURCE_ID, rule="page_count_changed", url=url)
        if rows is None and page > 1:
            raise SourceError(f"page {page} of {pages} came back without rows",
                              source=SOURCE_ID, rule="missing_page", url=url)
        if rows is not None and meta.page != page:
            raise SourceError(f"asked for page {page}, got page {meta.page}",
                              source=SOURCE_ID, rule="missing_page", url=url)
        name = page_file_name(indicator, page)
        (staging / name).write_bytes(body)
        names.append(name)
        rows_seen += len(rows or [])
        had_rows = had_rows or rows is not None
        if rows is None or page >= pages:
            break
        page += 1
    if had_rows and total is not None and rows_seen != total:
        raise SourceError(f"pages held {rows_seen} rows but the API announced {total}",
                          source=SOURCE_ID, rule="missing_page", url=url)
    return names


# ---------------------------------------------------------------------------------------------
# Parse: raw pages -> one Arrow table, vectorised in DuckDB
# ---------------------------------------------------------------------------------------------
# Each row's fields as DuckDB reads them out of a page. json_transform pays for every field it is
# given, so the staging parse (parse_rows) asks only for those it keeps. With the rows found by
# their first character (below), this made a 10M-row parse 1-1.5 s faster (A/B, three runs each).
_ROW_FIELDS = {
    "indicator": {"id": "VARCHAR", "value": "VARCHAR"},
    "country": {"id": "VARCHAR", "value": "VARCHAR"},
    "countryiso3code": "VARCHAR",
    "date": "VARCHAR",
    "value": "VARCHAR",  # the value's own text (a number's digits, or a string): nothing silently nulled
    "unit": "VARCHAR",
    "obs_status": "VARCHAR",
    "decimal": "INTEGER",
}
_STAGED_FIELDS = ("indicator", "countryiso3code", "date", "value", "unit")
_FIELD_COLUMNS = {
    "country": "r.country.id AS country_wb_id, r.country.value AS country_name,",
    "obs_status": "r.obs_status AS obs_status,",
    "decimal": "r.decimal AS decimal,",
}


def _parse_sql(fields: tuple[str, ...] = tuple(_ROW_FIELDS)) -> str:
    """The one query reading every page's rows, for the given row fields."""
    structure = json.dumps([{k: _ROW_FIELDS[k] for k in fields}])
    extra = "\n    ".join(_FIELD_COLUMNS[k] for k in fields if k in _FIELD_COLUMNS)
    return f"""
WITH elements AS (
    SELECT filename, json
    FROM read_json_objects($paths, format = 'array', filename = true,
                           maximum_object_size = $max_object_size)
),
pages AS (
    SELECT list_position($paths, filename) - 1 AS file_idx,  -- per file, not per row
           json_transform(json, '{structure}') AS rows
    FROM elements
    -- the rows are the page's array element (the other is the paging object); read_json_objects
    -- hands each element over as its own text, so its first character says which, where
    -- json_type would parse each 200 kB page once more
    WHERE regexp_matches(json::VARCHAR, '^\\s*\\[')
),
r AS (
    SELECT file_idx, rows[1].indicator.id AS first_indicator, unnest(rows) AS r, generate_subscripts(rows, 1) AS source_row FROM pages
)
SELECT
    r.indicator.id AS indicator_id,
    r.indicator.value AS indicator_name,
    -- the name once per page and series (a page holds one series): the repeated text cost seconds to stage
    CASE WHEN source_row = 1 OR r.indicator.id IS DISTINCT FROM first_indicator THEN r.indicator.value END AS indicator_name_once,
    nullif(r.countryiso3code, '') AS country_iso3,
    {extra}
    r.date AS period,
    CASE WHEN isfinite(try_cast(r.value AS DOUBLE)) THEN try_cast(r.value AS DOUBLE) END AS value,
    -- the value as published, so a non-numeric one can be quarantined with what it said
    r.value AS value_text,
    r.unit AS unit,
    file_idx::INTEGER AS file_idx,
    source_row::BIGINT AS source_row
FROM r
"""


def parse_inputs(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> pa.Table:
    """Parse World Bank inputs of either format: API JSON pages, or bulk-download CSV files."""
    from flows.sources.worldbank_bulk import is_bulk_csv, parse_bulk_csvs

    paths = [Path(p) for p in paths]
    csvs = [p for p in paths if is_bulk_csv(p)]
    parts = [parse_files(con, [p for p in paths if not is_bulk_csv(p)])] if len(csvs) < len(paths) else []
    parts += [parse_bulk_csvs(con, csvs, OUTPUT_SCHEMA)] if csvs else []
    if len({t.schema for t in parts}) > 1:  # API pages encode per-file columns, the CSV reader does not
        parts = [t.cast(OUTPUT_SCHEMA) for t in parts]
    return pa.concat_tables(parts) if parts else OUTPUT_SCHEMA.empty_table()


def parse_files(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> pa.Table:
    """Parse landed API pages into OUTPUT_SCHEMA rows, in the order of `paths` then of each page.

    Envelopes are checked file by file from their head only; the rows of all files are read in
    one DuckDB query (designed for ~10k pages / 10M rows). `value` stays null where the API says
    null, and `value_text` keeps what the page said (a number's digits, or a string such as "1,234"
    that is not a number); `country_iso3` is null where the API gives "". Rows missing fields or
    with non-numeric values come through for the validator to quarantine; a bad envelope or an
    unreadable file raises SourceError naming the file.
    """
    paths = [Path(p) for p in paths]
    if len({str(p) for p in paths}) != len(paths):
        raise ValueError("parse_files: the same file is listed twice")
    metas = [read_page_meta(p) for p in paths]
    data = [(p, m) for p, m in zip(paths, metas) if m.has_rows]
    if not data:
        return OUTPUT_SCHEMA.empty_table()
    path_strs = [str(p) for p, _ in data]
    max_size = max(p.stat().st_size for p, _ in data)
    try:
        raw = con.sql(_parse_sql(), params={
            "paths": path_strs, "max_object_size": max(16 * 2**20, max_size + 1024),
        }).to_arrow_table()
    except duckdb.Error as exc:
        raise _locate_unreadable(path_strs, exc) from exc
    file_idx = raw.column("file_idx").combine_chunks()

    def per_file(values: list, type_: pa.DataType) -> pa.Array:
        # one entry per file, indexed by each row's file: no per-row copy of the text
        return pa.DictionaryArray.from_arrays(file_idx, pa.array(values, type_))

    columns = {name: raw.column(name) for name in raw.column_names}
    columns["source_database"] = per_file([m.sourceid for _, m in data], pa.string())
    columns["lastupdated"] = per_file([m.lastupdated for _, m in data], pa.date32())
    columns["source_file"] = per_file([p.name for p, _ in data], pa.string())
    return pa.table([_cast_keeping_dictionary(columns[f.name], f.type) for f in OUTPUT_SCHEMA], names=OUTPUT_SCHEMA.names)


def parse_rows(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> ParsedRows | None:
    """API pages and bulk CSV files as one relation the staging query reads straight from the files
    (nothing is materialised in Python: at 10M rows the Arrow route held gigabytes from parse to
    load). Envelopes, preambles and field counts are checked here, file by file; a page DuckDB
    cannot read raises SourceError naming it when the staging query reads it. A value is kept as
    text only where it is not a number; a series' name once per page (or CSV line)."""
    from flows.sources.worldbank_bulk import bulk_rows, is_bulk_csv

    paths = [Path(p) for p in paths]
    if len({str(p) for p in paths}) != len(paths):
        raise ValueError("parse_rows: the same file is listed twice")
    pages = [(p, m) for p in paths if not is_bulk_csv(p) and (m := read_page_meta(p)).has_rows]
    csvs = [p for p in paths if is_bulk_csv(p)]
    if not pages and not csvs:
        return None
    selects, after = [], []
    names = [p.name for p, _ in pages]
    updated = [m.lastupdated for _, m in pages]
    path_strs = [str(p) for p, _ in pages]
    if pages:
        listed = "[" + ", ".join("'" + s.replace("'", "''") + "'" for s in path_strs) + "]"
        max_size = max(16 * 2**20, max(p.stat().st_size for p, _ in pages) + 1024)
        # a view cannot hold prepared parameters, so the file list and size are written into the query
        query = _parse_sql(_STAGED_FIELDS).replace("$paths", listed).replace("$max_object_size", str(max_size))
        selects.append(
            "SELECT indicator_id, indicator_name_once AS indicator_name, country_iso3, period, value, "
            "CASE WHEN value IS NULL THEN value_text END AS value_text, nullif(unit, '') AS unit, "
            f"file_idx, source_row FROM ({query})"
        )
    if csvs:
        more, after, csv_files = bulk_rows(con, csvs, offset=len(pages))
        selects += more
        names += [n for n, _ in csv_files]
        updated += [d for _, d in csv_files]
    relation = con.sql(" UNION ALL BY NAME ".join(f"({q})" for q in selects))
    files = pa.table({
        "file_idx": pa.array(range(len(names)), pa.int32()),
        "source_file": pa.array(names, pa.string()),
        "lastupdated": pa.array(updated, pa.date32()),
    })

    def staging_error(exc: duckdb.Error) -> SourceError:
        """Name the file DuckDB could not read: a page that is not JSON, else the bulk CSV files."""
        from flows.sources.worldbank_bulk import _read_error

        return _bad_page(path_strs) or (_read_error(exc, csvs) if csvs else _locate_unreadable(path_strs, exc))

    return ParsedRows(relation, files, on_error=staging_error, after=tuple(after))


def _cast_keeping_dictionary(col: pa.Array | pa.ChunkedArray, type_: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if pa.types.is_dictionary(col.type) and col.type.value_type == type_:
        return col
    return col.cast(type_)


def _locate_unreadable(path_strs: list[str], exc: duckdb.Error) -> SourceError:
    """DuckDB failed on some file: find which, so the error names it."""
    return _bad_page(path_strs) or SourceError(f"DuckDB could not read the pages: {exc}", source=SOURCE_ID,
                                               rule="not_json", file=path_strs[0] if len(path_strs) == 1 else None)


def _bad_page(path_strs: list[str]) -> SourceError | None:
    """The first page that is not UTF-8 or not JSON, as the error naming it; None if every page reads."""
    for path in path_strs:
        try:
            json.loads(Path(path).read_bytes())
        except UnicodeDecodeError as bad:
            return SourceError(f"file is not UTF-8 ({bad})", source=SOURCE_ID, rule="encoding", file=path)
        except ValueError as bad:
            return SourceError(f"file is not valid JSON ({bad})", source=SOURCE_ID,
                               rule="not_json", file=path)
    return None



# ---------------------------------------------------------------------------------------------
# The bundled offline snapshot
# ---------------------------------------------------------------------------------------------
_SNAPSHOT_NAME = re.compile(r"^(?P<indicator>.+?)(?:\.p(?P<page>\d+))?\.json$")
_BULK_NAME = re.compile(r"^API_(?P<indicator>.+?)_DS2_.*\.csv$")  # API_<code>_DS2_en_csv_v2_<n>.csv


def snapshot_files(snapshot_dir: Path = SNAPSHOT_DIR) -> list[Path]:
    """The snapshot's data files (API pages `<INDICATOR>[.p<N>].json` and bulk CSV files
    `API_<INDICATOR>_DS2_....csv`), ordered by indicator id then page number. The pipeline loads
    what manifest.csv lists; tests check that the two agree."""
    found = []
    for path in Path(snapshot_dir).iterdir():
        m = _SNAPSHOT_NAME.match(path.name) or _BULK_NAME.match(path.name)
        if m:
            found.append(((m["indicator"], int(m.groupdict().get("page") or 1)), path))
    return [path for _, path in sorted(found)]


# ---------------------------------------------------------------------------------------------
# The connector as the registry sees it
# ---------------------------------------------------------------------------------------------
def parse(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> pa.Table:
    """API pages or bulk CSV files -> parsed_observation rows (periods as the API labels them)."""
    t = parse_inputs(con, paths)
    keep = ["indicator_id", "indicator_name", "country_iso3", "period", "value", "value_text", "unit",
            "lastupdated", "source_file", "source_row"]
    t = t.select(keep)
    # the API's unit field is almost always "": the catalog holds the unit
    return to_parsed(t.set_column(keep.index("unit"), "unit", pc.if_else(pc.equal(t["unit"], ""), None, t["unit"])))


def api_database(indicator: str) -> str | None:
    """The API database (`source=`) to ask for an indicator: WGI series live in 3, both the 2024
    revision's GOV_WGI_* codes and the legacy standard errors <XX>.STD.ERR; everything else in WDI
    (2, the API's default, so no parameter)."""
    return "3" if indicator.startswith("GOV_WGI_") or indicator.endswith(".STD.ERR") else None


def fetch_live(
    s: Settings,
    dest: Path,
    *,
    base_url: str = BASE_URL,
    indicators: Sequence[str] | None = None,
    date: str = DEFAULT_DATE,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
) -> list[Path]:
    """Fetch every World Bank series of the catalog (or `indicators`) for the catalog's countries.

    A code the API answers with "indicator not found" (error id 175: deleted or archived, e.g. a
    legacy WGI code) is logged as a warning and skipped, so one retired series does not fail the
    whole run; any other error still does. If no series at all is found, the run fails.
    """
    from flows.catalog import read_catalog

    catalog = read_catalog(s)
    if indicators is None:
        indicators = [i for i, src in zip(catalog.indicators.column("indicator_id").to_pylist(),
                                          catalog.indicators.column("source_id").to_pylist()) if src == SOURCE_ID]
    countries = [c for c, wb in zip(catalog.countries.column("country_iso3").to_pylist(),
                                    catalog.countries.column("wb_id").to_pylist()) if wb]  # regions have no WB id
    files: list[Path] = []
    not_found: list[str] = []
    with make_client(timeout) as http:  # one connection pool for the whole run
        for indicator in indicators:
            try:
                files += fetch_indicator(indicator, countries, dest, base_url=base_url, source=api_database(indicator),
                                         date=date, timeout=timeout, retries=retries, backoff=backoff, client=http)
            except SourceError as exc:
                if exc.rule != "indicator_not_found":
                    raise
                not_found.append(indicator)
                log.warning("worldbank: %s skipped, the API does not serve it (deleted or archived?): %s", indicator, exc)
    if indicators and len(not_found) == len(indicators):
        raise SourceError(f"the API found none of the {len(indicators)} series asked for ({', '.join(not_found)})",
                          source=SOURCE_ID, rule="indicator_not_found", url=base_url)
    return files


SOURCE = Source(
    source_id=SOURCE_ID,
    publisher="World Bank (World Development Indicators; Worldwide Governance Indicators)",
    address=BASE_URL,
    licence="CC BY 4.0",
    snapshot="worldbank",
    parse=parse,
    fetch_live=fetch_live,
    parse_rows=parse_rows,
)
