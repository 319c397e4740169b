"""Real-time interconnection flows of the SIEPAC network, from the regional operator (EOR).

Two feeds, both instantaneous MW readings without a timestamp of their own:

- SCADA JSON (SCADA_URL): an array of points {"nombre", "value", "good", "bad"}. The seven points
  below are the interconnections, as read by electricitymaps-contrib's parsers (CR.py, ENTE.py).
  A point's leading digit is the system that meters it (1 MX, 2 GT, 3 SV, 4 HN, 5 NI, 6 CR, 7 PA),
  so each link is named meter-first (link=SV-GT) and its value is loaded as published. Sign, as
  those parsers handle it (the EOR documents none): positive = flow out of the first-named system.
- the legacy one-row "flash" CSV (FLASH_URL): a column per link (MXGU, GUES, GUHO, ESHO, HONI, NICR,
  CRPA) holding the flow and a column <LINK>N holding a 0/1 arrow direction whose meaning differs
  per link and is unverified, so the value is loaded as published (EOR.FLASH_FLOW.MW, link named in
  column order, link=GT-SV for GUES) and the flag goes into the note. electricitymaps marks this
  endpoint as gone; fetch_live asks for it only when given its address.

The bodies carry no time, so fetch_live names each landed file by its retrieval instant
(scada_2024-04-03T143700Z.json) and the parser dates the readings from the name: period = the day in
Central American time (UTC-6, no daylight saving), period_type date, the instant in the note. The
latest reading of a day is kept per link (the note says how many there were). A file whose name
carries a date only (a recorded sample) gives the day; one with no date gives no period, so the
core quarantines its rows rather than guessing when they were read.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa

from flows.config import Settings
from flows.registry import Source
from flows.sources.http import DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT, SourceError, fetch, make_client
from flows.sources.observations import empty, to_parsed
from flows.sources.textinput import check_csv_body, looks_like_html, read_csv_text

SOURCE_ID = "eor_live"
SCADA_URL = "https://mapa.enteoperador.org/WebServiceScadaEORRest/webresources/generic"
FLASH_URL = "http://www.enteoperador.org/newsite/flash/data.csv"
LOCAL_OFFSET = timedelta(hours=-6)  # Central America (UTC-6 all year); Panama's UTC-5 is not used

# SCADA point -> link, meter first (names and pairs from electricitymaps-contrib's JSON_MAPPING).
SCADA_LINKS = {
    "2LBR.LT400.1FR2-2LBR-01A.-.MW": "GT-MX",
    "3SISTEMA.LT230.INTER_NET_GT.CMW.MW": "SV-GT",
    "4LEC.LT230.2FR4-4LEC-01B.-.MW": "HN-GT",
    "3SISTEMA.LT230.INTER_NET_HO.CMW.MW": "SV-HN",
    "5SISTEMA.LT230.INTER_NET_HN.CMW.MW": "NI-HN",
    "5SISTEMA.LT230.INTER_NET_CR.CMW.MW": "NI-CR",
    "6SISTEMA.LT230.INTER_NET_PAN.CMW.MW": "CR-PA",
}
# Flash column -> link in the column's own order (GU = Guatemala, ES = El Salvador, HO = Honduras).
FLASH_LINKS = {"MXGU": "MX-GT", "GUES": "GT-SV", "GUHO": "GT-HN", "ESHO": "SV-HN", "HONI": "HN-NI",
               "NICR": "NI-CR", "CRPA": "CR-PA"}

_STAMP = re.compile(r"_(\d{4}-\d{2}-\d{2})(?:T(\d{2})(\d{2})(\d{2})Z)?$")

_SCADA_SQL = r"""
WITH doc AS (
    SELECT filename, CAST(json AS JSON[]) AS items
    FROM read_json_objects($paths, format = 'unstructured', filename = true, maximum_object_size = 67108864)
),
e AS (SELECT filename, unnest(items) AS item, generate_subscripts(items, 1) AS source_row FROM doc)
SELECT
    'EOR.LINK_FLOW.MW' AS indicator_id,
    e.item ->> 'nombre' AS indicator_name,
    l.link,
    TRY_CAST(e.item ->> 'value' AS DOUBLE) AS value,
    e.item ->> 'value' AS value_text,
    'SCADA point ' || (e.item ->> 'nombre') || '; positive = flow out of ' || split_part(l.link, '-', 1)
        || ' towards ' || split_part(l.link, '-', 2)
        || ' (sign as electricitymaps-contrib reads it; not documented by the EOR); quality fields good='
        || coalesce(e.item ->> 'good', '?') || ', bad=' || coalesce(e.item ->> 'bad', '?') AS detail,
    $url AS source_url,
    parse_filename(e.filename) AS source_file,
    e.source_row::BIGINT AS source_row
FROM e JOIN scada_links AS l ON l.nombre = e.item ->> 'nombre'
"""

_FLASH_SQL = r"""
WITH u AS (UNPIVOT flash ON COLUMNS(* EXCLUDE (source_file, source_row)) INTO NAME col VALUE val)
SELECT
    'EOR.FLASH_FLOW.MW' AS indicator_id,
    v.col AS indicator_name,
    l.link,
    TRY_CAST(trim(v.val) AS DOUBLE) AS value,
    nullif(trim(v.val), '') AS value_text,
    'flash column ' || v.col || ', value as published; direction flag ' || v.col || 'N='
        || coalesce(nullif(trim(f.val), ''), 'absent') || ' (an arrow on the EOR map; which way it points is unverified)' AS detail,
    $url AS source_url,
    v.source_file,
    v.source_row
FROM u AS v
JOIN flash_links AS l ON l.col = v.col
LEFT JOIN u AS f ON f.col = v.col || 'N' AND f.source_file = v.source_file AND f.source_row = v.source_row
"""

# Date each reading from its file, keep the day's latest per link.
_DATED_SQL = r"""
SELECT
    r.indicator_id,
    r.indicator_name,
    'XMR' AS country_iso3,
    strftime(t.day, '%Y-%m-%d') AS period,
    CASE WHEN t.day IS NOT NULL THEN 'date' END AS period_type,
    t.day AS period_start,
    t.day AS period_end,
    year(t.day) AS year,
    'link=' || r.link AS breakdown,
    r.value,
    r.value_text,
    'MW' AS unit,
    'Instantaneous reading, ' || CASE
        WHEN t.read_at IS NOT NULL THEN 'retrieved ' || strftime(t.read_at, '%Y-%m-%dT%H:%M:%SZ')
             || ' (' || strftime(t.read_at + INTERVAL (-6) HOUR, '%H:%M') || ' UTC-6)'
        WHEN t.day IS NOT NULL THEN 'time of day not recorded'
        ELSE 'date of reading unknown (file name carries no date)' END
        || CASE WHEN count(*) OVER w > 1 THEN '; latest of ' || count(*) OVER w || ' readings that day' ELSE '' END
        || '. ' || r.detail AS note,
    r.source_url,
    r.source_file,
    r.source_row
FROM readings AS r JOIN stamps AS t USING (source_file)
WINDOW w AS (PARTITION BY r.indicator_id, r.link, t.day)
QUALIFY t.day IS NULL
     OR row_number() OVER (PARTITION BY r.indicator_id, r.link, t.day
                           ORDER BY t.read_at DESC NULLS LAST, r.source_file DESC) = 1
ORDER BY r.source_file, r.source_row, r.link
"""


def read_stamp(name: str) -> tuple[datetime | None, datetime | None]:
    """(day, instant UTC) from a landed file's name; the instant only when the name has a time."""
    m = _STAMP.search(Path(name).stem)
    if not m:
        return None, None
    if m.group(2) is None:
        return datetime.fromisoformat(m.group(1)), None
    at = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}:{m.group(3)}:{m.group(4)}")
    local = at + LOCAL_OFFSET
    return datetime(local.year, local.month, local.day), at


def check_scada_body(body: bytes, *, url: str | None = None, file: str | None = None) -> None:
    """A JSON array of SCADA points with at least one interconnection among them."""
    where = {"url": url, "file": file}
    if looks_like_html(body):
        raise SourceError("got an HTML page where the SCADA JSON was expected", source=SOURCE_ID, rule="not_json", **where)
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise SourceError(f"body is not valid JSON ({exc})", source=SOURCE_ID, rule="not_json", **where) from None
    if not isinstance(doc, list) or not all(isinstance(e, dict) and "nombre" in e and "value" in e for e in doc):
        raise SourceError("expected a JSON array of {nombre, value} points", source=SOURCE_ID,
                          rule="bad_envelope", **where)
    if not {e["nombre"] for e in doc} & SCADA_LINKS.keys():
        raise SourceError(f"none of the {len(SCADA_LINKS)} interconnection points is in the answer",
                          source=SOURCE_ID, rule="missing_points", **where)


def _is_flash(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def _read_flash(path: Path) -> pa.Table:
    table = read_csv_text(path, source=SOURCE_ID, required=())
    if not set(table.column_names) & FLASH_LINKS.keys():
        raise SourceError(f"header {table.column_names[:-2]} has none of the link columns {sorted(FLASH_LINKS)}",
                          source=SOURCE_ID, rule="header", file=path.name, row=1)
    return table


def parse(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> pa.Table:
    paths = [Path(p) for p in paths]
    if not paths:
        return empty()
    parts: list[pa.Table] = []
    scada = [p for p in paths if not _is_flash(p)]
    for p in scada:
        check_scada_body(p.read_bytes(), file=p.name)
    if scada:
        con.register("scada_links", pa.table({"nombre": list(SCADA_LINKS), "link": list(SCADA_LINKS.values())}))
        parts.append(con.sql(_SCADA_SQL, params={"paths": [str(p) for p in scada], "url": SCADA_URL}).to_arrow_table())
        con.unregister("scada_links")
    for p in (p for p in paths if _is_flash(p)):
        con.register("flash", _read_flash(p))
        con.register("flash_links", pa.table({"col": list(FLASH_LINKS), "link": list(FLASH_LINKS.values())}))
        parts.append(con.sql(_FLASH_SQL, params={"url": FLASH_URL}).to_arrow_table())
        con.unregister("flash")
        con.unregister("flash_links")
    stamps = [read_stamp(p.name) for p in paths]
    con.register("readings", pa.concat_tables(parts, promote_options="permissive"))
    con.register("stamps", pa.table({
        "source_file": [p.name for p in paths],
        "day": pa.array([d.date() if d else None for d, _ in stamps], pa.date32()),
        "read_at": pa.array([a for _, a in stamps], pa.timestamp("s")),
    }))
    try:
        out = con.sql(_DATED_SQL).to_arrow_table()
    finally:
        con.unregister("readings")
        con.unregister("stamps")
    return to_parsed(out)


def fetch_live(s: Settings, dest: Path, *, base_url: str = SCADA_URL, flash_url: str | None = None,
               now: datetime | None = None, timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
               retries: int = DEFAULT_RETRIES, backoff: float = DEFAULT_BACKOFF,
               client: httpx.Client | None = None) -> list[Path]:
    """One SCADA reading (and the flash CSV when flash_url is given), named by retrieval time (UTC)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    http = make_client(timeout) if client is None else client
    try:
        landed = []
        body = fetch(base_url, source=SOURCE_ID, timeout=timeout, retries=retries, backoff=backoff, client=http)
        check_scada_body(body, url=base_url)
        landed.append((dest / f"scada_{stamp}.json", body))
        if flash_url:
            body = fetch(flash_url, source=SOURCE_ID, timeout=timeout, retries=retries, backoff=backoff, client=http)
            header = check_csv_body(body, source=SOURCE_ID, required=(), url=flash_url)
            if not set(header) & FLASH_LINKS.keys():
                raise SourceError(f"header {header} has none of the link columns", source=SOURCE_ID,
                                  rule="header", url=flash_url, row=1)
            landed.append((dest / f"flash_{stamp}.csv", body))
    finally:
        if client is None:
            http.close()
    for path, data in landed:
        path.write_bytes(data)
    return [p for p, _ in landed]


SOURCE = Source(
    source_id=SOURCE_ID,
    publisher="Ente Operador Regional (EOR), SIEPAC real-time SCADA",
    address=SCADA_URL,
    licence="No licence stated by the EOR (public real-time map feed)",
    snapshot=SOURCE_ID,
    parse=parse,
    fetch_live=fetch_live,
)
