"""CEPALSTAT (ECLAC) indicator 4758, "Precio medio de la electricidad por país" (USD/MWh).

Two formats of the same cube, read into the same rows:
- the portal's xlsx export: sheets `datos` (one row per observation, dimension labels as columns
  named after the dimensions: `País__ESTANDAR`, `Años__ESTANDAR`, `Tipo regulación`, ...),
  `metadatos` (indicator id, unit, last update), `fuentes` (the national source each row cites),
  plus `notas` and `creditos`;
- the REST API's JSON (`/indicator/4758/data?format=json`): `body.data` rows carry `dim_<id>`
  member ids, `iso3`, `value` as a string, `source_id` and `notes_ids`; `body.dimensions` gives the
  labels (when a data answer lacks them, fetch_live also lands the `/dimensions` answer and the
  parser takes the labels from there).

Regulated average price, total sector, is the headline series (breakdown 'total'); any other member
of the regulation/measure/sector dimensions becomes a breakdown. Countries outside the catalog
(the API covers all of Central America and the Dominican Republic) are not loaded.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow as pa

from flows.config import Settings
from flows.registry import Source
from flows.sources.http import DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT, SourceError, fetch, land, make_client
from flows.sources.observations import to_parsed
from flows.sources.sheets import (
    XLSX_MAGIC, Rows, catalog_countries, country_iso3, fold, iso_date, open_xlsx, sheet_rows, slug, text,
)

SOURCE_ID = "cepalstat"
PUBLISHER = "CEPALSTAT (ECLAC)"
# Documented REST API (CepalStatR and other public clients call it; https://api-cepalstat.cepal.org/apidocs).
API_BASE = "https://api-cepalstat.cepal.org/cepalstat/api/v1"
PORTAL = "https://statistics.cepal.org/portal/cepalstat/dashboard.html?indicator_id=4758&lang=es"
LICENCE = "CEPALSTAT / ECLAC terms of use (not stated in the export)"
INDICATOR = 4758
INDICATOR_ID = "CEPALSTAT.ELEC.PRICE.USD_MWH"

COUNTRY_DIMS = {fold("País__ESTANDAR"), fold("Country__ESTANDAR")}
YEAR_DIMS = {fold("Años__ESTANDAR"), fold("Years__ESTANDAR")}
# The cube's other dimensions: folded name -> (breakdown key, the member of the headline series).
DIMENSIONS = {
    fold("Tipo regulación"): ("regulation", "Regulado"),
    fold("Descripción operación"): ("measure", "Precio Medio"),
    fold("Sector"): ("sector", "Total"),
}
REQUIRED_SHEETS = ("datos", "metadatos", "fuentes")
DATOS_COLUMNS = ("indicator", "País__ESTANDAR", "Años__ESTANDAR", "value", "unit", "notes_ids", "source_id")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def _number(raw: Any) -> tuple[float | None, str | None] | None:
    """A value as (number, text as published); None when empty. The API sends numbers as strings."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw), repr(raw)
    shown = str(raw).strip()
    return (float(shown) if NUMBER.fullmatch(shown) else None), shown


def _ids(raw: Any) -> list[str]:
    """notes_ids / source_id as a list of ids ('' -> [], '8609, 8610' -> two)."""
    return [p.strip() for p in str(raw).split(",") if p.strip()] if raw is not None else []


class Cube:
    """One file's observations with the context needed to emit them (citations, notes, metadata)."""

    def __init__(self, file: str, meta: dict[str, Any], sources: dict[str, str], notes: dict[str, str]) -> None:
        self.file, self.meta, self.sources, self.notes = file, meta, sources, notes

    def check_indicator(self, where: dict[str, Any]) -> None:
        got = self.meta.get("indicator_id")
        if got is not None and str(got).strip() != str(INDICATOR):
            raise SourceError(f"indicator {got} ({self.meta.get('indicator_name')!r}), not {INDICATOR}",
                              source=SOURCE_ID, rule="wrong_indicator", **where)

    def emit(self, out: Rows, row: int, labels: dict[str, str], value: Any, unit: Any, iso3: Any,
             source_ids: Any, note_ids: Any) -> None:
        """One observation: labels are the dimension labels keyed by folded dimension name."""
        country = next((v for k, v in labels.items() if k in COUNTRY_DIMS), "")
        year = next((v for k, v in labels.items() if k in YEAR_DIMS), "")
        code = text(iso3).upper() or country_iso3(country)
        if code and code not in catalog_countries():
            return  # a country outside the project's scope
        cell = _number(value)
        if cell is None:
            return  # no figure
        pairs = sorted(
            f"{key}={slug(labels[dim])}" for dim, (key, headline) in DIMENSIONS.items()
            if dim in labels and fold(labels[dim]) != fold(headline)
        )
        notes = [self.notes.get(n, f"note {n}") for n in _ids(note_ids)]
        if not code:
            notes.append(f"country {country!r}")
        out.add(indicator_id=INDICATOR_ID, indicator_name=self.meta.get("indicator_name"), country_iso3=code,
                period=text(year), value=cell[0], value_text=cell[1], unit=text(unit) or text(self.meta.get("unit")),
                breakdown=";".join(pairs) or "total", note="; ".join(notes) or None,
                citation="; ".join(self.sources.get(s, f"source {s}") for s in _ids(source_ids)) or None,
                lastupdated=iso_date(self.meta.get("last_update")), source_file=self.file, source_row=row)


def _citation(rec: dict[str, Any]) -> str:
    """'Instituto Costarricense de Electricidad (ICE): Publicaciones del ...' from a fuentes row."""
    name, acronym, about = text(rec.get("organization_name")), text(rec.get("organization_acronym")), text(rec.get("description"))
    who = f"{name} ({acronym})" if acronym and acronym not in name else name
    return ": ".join(p for p in (who, about) if p)


# --- xlsx export ----------------------------------------------------------------------------------
def _records(path: Path, sheet: str, rows: list[tuple[Any, ...]], required: tuple[str, ...]) -> tuple[int, list[str], list[tuple[int, dict[str, Any]]]]:
    """A header-row sheet as (header row number, header, [(row number, {column: value})])."""
    h = next((i for i, r in enumerate(rows) if any(text(c) for c in r)), None)
    header = [text(c) for c in rows[h]] if h is not None else []
    missing = [c for c in required if fold(c) not in {fold(x) for x in header}]
    if missing:
        raise SourceError(f"sheet {sheet!r}: header {header} lacks {missing}", source=SOURCE_ID, rule="header",
                          file=str(path), row=(h or 0) + 1)
    recs = [(i + 1, {fold(k): v for k, v in zip(header, r) if k}) for i, r in enumerate(rows)
            if h is not None and i > h and any(text(c) for c in r)]
    return h + 1, header, recs


def read_xlsx(path: Path, out: Rows) -> None:
    wb = open_xlsx(path, source=SOURCE_ID)
    try:
        sheets = {fold(ws.title): ws for ws in wb.worksheets}
        for name in REQUIRED_SHEETS:
            if name not in sheets:
                raise SourceError(f"sheet {name!r} missing (sheets {wb.sheetnames})", source=SOURCE_ID,
                                  rule="sheet_missing", file=str(path))
        read = {name: _records(path, name, sheet_rows(sheets[name]), req) for name, req in (
            ("metadatos", ("metadata", "value")),
            ("fuentes", ("id", "organization_name", "description")),
            ("datos", DATOS_COLUMNS),
        )}
        notes = _records(path, "notas", sheet_rows(sheets["notas"]), ("id",))[2] if "notas" in sheets else []
    finally:
        wb.close()
    meta = {text(r[fold("metadata")]): r.get(fold("value")) for _, r in read["metadatos"][2]}
    cube = Cube(path.name, meta, {text(r[fold("id")]): _citation(r) for _, r in read["fuentes"][2]},
                {text(r[fold("id")]): text(r.get(fold("description"))) for _, r in notes})
    cube.check_indicator({"file": str(path)})
    header_row, header, recs = read["datos"]
    fixed = {fold(c) for c in DATOS_COLUMNS}
    unknown = [c for c in header if c and fold(c) not in fixed and fold(c) not in DIMENSIONS]
    if unknown:
        raise SourceError(f"sheet 'datos': unknown column(s) {unknown}: the cube's dimensions changed",
                          source=SOURCE_ID, rule="header", file=str(path), row=header_row)
    dims = [fold(c) for c in header if c and fold(c) not in fixed] + [fold("País__ESTANDAR"), fold("Años__ESTANDAR")]
    for row, r in recs:
        cube.emit(out, row, {d: text(r.get(d)) for d in dims}, r.get("value"), r.get("unit"), None,
                  r.get("source_id"), r.get("notes_ids"))


# --- API JSON -------------------------------------------------------------------------------------
def read_json_doc(body: bytes, where: dict[str, Any]) -> dict[str, Any]:
    """Check an API answer's envelope: {"header": {...}, "body": {...}}; returns the body."""
    head = body[:256].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        kind = "HTML" if head[:1] == b"<" else "not a JSON object"
        shown = " ".join(head[:80].decode("utf-8", "replace").split())
        raise SourceError(f"expected the API's JSON object, got {kind}: {shown!r}", source=SOURCE_ID,
                          rule="not_json", **where)
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise SourceError(f"body is not valid JSON ({exc})", source=SOURCE_ID, rule="not_json", **where) from None
    header = doc.get("header") if isinstance(doc.get("header"), dict) else {}
    if header.get("success") is False:
        raise SourceError(f"the API answered with an error: {header}", source=SOURCE_ID, rule="api_error", **where)
    content = doc.get("body")
    if not isinstance(content, dict) or not isinstance(content.get("data", []), list) \
            or not isinstance(content.get("dimensions", []), list) or not ({"data", "dimensions"} & content.keys()):
        raise SourceError("no body with a data or dimensions list", source=SOURCE_ID, rule="bad_envelope", **where)
    return content


def _dimension_labels(bodies: list[dict[str, Any]]) -> dict[str, tuple[str, dict[str, str]]]:
    """'dim_<id>' -> (folded dimension name, {member id: label}) from every answer's dimensions."""
    found: dict[str, tuple[str, dict[str, str]]] = {}
    for content in bodies:
        for d in content.get("dimensions") or []:
            members = {str(m.get("id")): text(m.get("name")) for m in d.get("members") or []}
            key = f"dim_{d.get('id')}"
            name, known = found.get(key, (fold(text(d.get("name"))), {}))
            found[key] = (name, {**known, **members})
    return found


def read_json(paths: list[Path], out: Rows) -> None:
    docs = [(p, read_json_doc(p.read_bytes(), {"file": str(p)})) for p in paths]
    dims = _dimension_labels([c for _, c in docs])
    for path, content in docs:
        if "data" not in content:
            continue  # a /dimensions answer: labels only
        meta = content.get("metadata") or {}
        cube = Cube(path.name, meta, {str(s.get("id")): _citation(s) for s in content.get("sources") or []},
                    {str(n.get("id")): text(n.get("description")) for n in content.get("footnotes") or []})
        cube.check_indicator({"file": str(path)})
        for i, rec in enumerate(content["data"], start=1):
            labels: dict[str, str] = {}
            for key, member in rec.items():
                if not key.startswith("dim_"):
                    continue
                name, members = dims.get(key, ("", {}))
                if str(member) not in members:
                    raise SourceError(f"{key} member {member} has no label (no dimensions answer describes it)",
                                      source=SOURCE_ID, rule="header", file=str(path), row=i)
                if name not in DIMENSIONS and name not in COUNTRY_DIMS | YEAR_DIMS:
                    raise SourceError(f"unknown dimension {name!r} ({key}): the cube's dimensions changed",
                                      source=SOURCE_ID, rule="header", file=str(path), row=i)
                labels[name] = members[str(member)]
            if not YEAR_DIMS & labels.keys():
                raise SourceError("row has no year dimension", source=SOURCE_ID, rule="header", file=str(path), row=i)
            cube.emit(out, i, labels, rec.get("value"), None, rec.get("iso3"), rec.get("source_id"), rec.get("notes_ids"))


# --- the connector --------------------------------------------------------------------------------
def parse(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> pa.Table:
    """xlsx exports and API JSON answers -> parsed_observation rows (one indicator's small cube, so
    plain Python over the rows; the output is built as Arrow columns)."""
    out = Rows()
    answers = []
    for path in map(Path, paths):
        with path.open("rb") as fh:
            head = fh.read(512)
        if head.startswith(XLSX_MAGIC) or path.suffix.lower() == ".xlsx":
            read_xlsx(path, out)  # refuses a non-xlsx body as not_xlsx
        else:
            answers.append(path)
    if answers:
        read_json(answers, out)
    return to_parsed(out.table())


def fetch_live(
    s: Settings,
    dest: Path,
    *,
    base_url: str = API_BASE,
    indicator: int = INDICATOR,
    lang: str = "es",
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    client: httpx.Client | None = None,
) -> list[Path]:
    """The indicator's whole cube in one answer (the API has no paging), with Spanish labels as in
    the xlsx export; plus the /dimensions answer when the data answer carries no labels."""
    base = base_url.rstrip("/")
    urls = {"data": f"{base}/indicator/{indicator}/data?lang={lang}&format=json&in=1",
            "dimensions": f"{base}/indicator/{indicator}/dimensions?lang={lang}&format=json&in=1&path=0"}
    http = make_client(timeout) if client is None else client
    bodies: dict[str, bytes] = {}
    try:
        for part in ("data", "dimensions"):
            body = fetch(urls[part], source=SOURCE_ID, timeout=timeout, retries=retries, backoff=backoff, client=http)
            content = read_json_doc(body, {"url": urls[part]})
            bodies[part] = body
            if part == "data" and content.get("dimensions"):
                break
    finally:
        if client is None:
            http.close()
    dest = Path(dest)
    paths = []
    for part, body in bodies.items():
        paths.append(land(dest, f"cepalstat_{indicator}.{part}.json", body))
    return paths


SOURCE = Source(
    source_id=SOURCE_ID,
    publisher=PUBLISHER,
    address=PORTAL,
    licence=LICENCE,
    snapshot="cepalstat",
    parse=parse,
    fetch_live=fetch_live,
)
