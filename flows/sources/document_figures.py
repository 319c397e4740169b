"""Figures stated in the policy documents themselves (e.g. "$655 million in Fiscal Year 2017"),
kept beside the published series they can be compared with.

The figures are curated by hand in data/documents/document_figures.csv, one row per figure with
the exact sentence it comes from. Hand-typed numbers are the risk, so every row is checked against
the document: its quote must occur verbatim (after collapsing whitespace; an HTML page is read
without its tags) in every copy of the document given, and its value must be one of the figures
written in the quote ("$1.3 billion" = 1300000000). A row failing either check keeps its value but
gets qualifier `quote_not_in_document` or `figure_not_in_quote` and a note saying why; the source's
suite (expectations/sources/document_figures.json) quarantines it. Passing rows are
qualifier `document_stated`, cited by the document's title and address.

The document is the bundled markdown capture (data/documents/<document>.md, front matter with
title and source_url) or, from fetch_live, the publisher's HTML page landed as <document>.html.
"""
from __future__ import annotations

import csv
import html
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import httpx
import pyarrow as pa
import yaml

from flows.config import PROJECT_ROOT, Settings
from flows.registry import Source
from flows.sources.http import DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT, SourceError, fetch
from flows.sources.observations import to_parsed

SOURCE_ID = "document_figures"
DOCUMENTS_DIR = PROJECT_ROOT / "data" / "documents"
FIGURES_FILE = "document_figures.csv"
FIGURES_HEADER = ("document", "quote", "indicator_id", "country_iso3", "period", "period_type",
                  "period_start", "period_end", "value", "unit", "note")
DOCUMENT_SUFFIXES = (".md", ".html", ".htm")

# Tags that sit inside a sentence ("$<b>655</b> million") vanish; any other tag breaks words.
_INLINE = {"a", "abbr", "b", "bdi", "cite", "code", "em", "i", "mark", "q", "s", "small", "span",
           "strong", "sub", "sup", "time", "u"}
_DROP = re.compile(r"<!--.*?-->|<(script|style|noscript|template)\b[^>]*>.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)\b[^>]*>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_CANONICAL = re.compile(r"<link\b[^>]*rel=[\"']canonical[\"'][^>]*href=[\"']([^\"']+)[\"']", re.I)


@dataclass(frozen=True)
class Document:
    document_id: str
    file: str
    text: str  # whitespace collapsed, tags stripped
    title: str | None
    url: str | None


def collapse(text: str) -> str:
    return " ".join(text.split())


def html_text(markup: str) -> str:
    """The readable text of an HTML page: scripts and comments dropped, entities decoded."""
    body = _TAG.sub(lambda m: "" if m.group(1).lower() in _INLINE else " ", _DROP.sub(" ", markup))
    return collapse(html.unescape(body))


def read_markdown(path: Path) -> Document:
    """A bundled capture: YAML front matter (document_id, title, source_url), then the text."""
    raw = path.read_text(encoding="utf-8")
    parts = raw.split("---\n", 2) if raw.startswith("---\n") else None
    meta = yaml.safe_load(parts[1]) if parts and len(parts) == 3 else None
    if not isinstance(meta, dict) or not meta.get("document_id"):
        raise SourceError("no front matter with document_id", source=SOURCE_ID, rule="document_format",
                          file=str(path))
    return Document(str(meta["document_id"]), path.name, collapse(parts[2]), meta.get("title"),
                    meta.get("source_url"))


def read_html(path: Path) -> Document:
    """A landed publisher page, named <document_id>.html by fetch_live."""
    markup = path.read_text(encoding="utf-8", errors="replace")
    title = _TITLE.search(markup)
    url = _CANONICAL.search(markup)
    return Document(path.stem, path.name, html_text(markup),
                    collapse(html.unescape(title.group(1))) if title else None, url.group(1) if url else None)


def _cited(doc: Document, documents_dir: Path) -> Document:
    """Where a page's title and address come from: the bundled front matter when there is one
    (a page's <title> carries the site's name too), else the page itself."""
    bundled = documents_dir / f"{doc.document_id}.md"
    return doc if doc.file.endswith(".md") or not bundled.is_file() else read_markdown(bundled)


def read_document(path: Path) -> Document:
    return read_markdown(path) if path.suffix == ".md" else read_html(path)


# ---------------------------------------------------------------------------------------------
# Parse
# ---------------------------------------------------------------------------------------------
_PARSE_SQL = """
WITH figures AS (
    SELECT row_number() OVER () AS data_row, *
    FROM read_csv($path, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"',
                  strict_mode = true, null_padding = false, encoding = 'utf-8')
),
f AS (
    SELECT *,
           trim(regexp_replace(quote, '[\\s\\x{00A0}]+', ' ', 'g')) AS quote_text,
           CASE WHEN isfinite(TRY_CAST(trim(value) AS DOUBLE)) THEN TRY_CAST(trim(value) AS DOUBLE) END AS number
    FROM figures
),
checked AS (
    SELECT f.data_row,
           coalesce(bool_and(contains(d.text, f.quote_text)), false) AS quote_found,
           string_agg(d.file, ', ' ORDER BY d.file) FILTER (WHERE NOT contains(d.text, f.quote_text)) AS missing_in,
           -- every figure written in the quote, scaled by the word after it ("1.3 billion")
           list_transform(
               regexp_extract_all(f.quote_text, '\\d[\\d,]*(?:\\.\\d+)?(?:\\s(?:billion|million|thousand))?'),
               lambda m: TRY_CAST(replace(regexp_extract(m, '[\\d.,]+'), ',', '') AS DOUBLE)
                    * CASE WHEN m LIKE '%billion' THEN 1e9 WHEN m LIKE '%million' THEN 1e6
                           WHEN m LIKE '%thousand' THEN 1e3 ELSE 1 END
           ) AS stated
    FROM f LEFT JOIN docs AS d ON d.document_id = trim(f.document)
    GROUP BY f.data_row, f.quote_text
),
judged AS (
    SELECT f.*, c.quote_found, c.missing_in,
           list_bool_or(list_transform(c.stated, lambda n: abs(n - f.number) <= 1e-9 * abs(f.number))) AS figure_found
    FROM f JOIN checked AS c USING (data_row)
)
SELECT
    trim(indicator_id) AS indicator_id,
    trim(country_iso3) AS country_iso3,
    trim(period) AS period,
    trim(period_type) AS period_type,
    TRY_CAST(period_start AS DATE) AS period_start,
    TRY_CAST(period_end AS DATE) AS period_end,
    TRY_CAST(regexp_extract(trim(period), '(\\d{4})\\D*$', 1) AS INTEGER) AS year,
    number AS value,
    nullif(trim(value), '') AS value_text,
    nullif(trim(unit), '') AS unit,
    CASE WHEN NOT quote_found THEN 'quote_not_in_document'
         WHEN NOT coalesce(figure_found, false) THEN 'figure_not_in_quote'
         ELSE 'document_stated' END AS qualifier,
    concat_ws(' ',
        CASE WHEN NOT quote_found
                 THEN 'Quote not found verbatim in ' || coalesce(missing_in, 'any document (no document named)') || '.'
             WHEN NOT coalesce(figure_found, false) AND number IS NOT NULL
                 THEN 'The value ' || trim(value) || ' is not a figure written in the quote.' END,
        nullif(trim(note), '')) AS note,
    d.url AS source_url,
    d.title AS citation,
    CAST($file AS VARCHAR) AS source_file,
    CAST(data_row + 1 AS BIGINT) AS source_row  -- the line number (line 1 is the header)
FROM judged
LEFT JOIN (SELECT DISTINCT ON (document_id) document_id, url, title FROM meta ORDER BY document_id, url, title) AS d
  ON d.document_id = trim(judged.document)
WHERE nullif(trim(value), '') IS NOT NULL
ORDER BY data_row
"""


def _check_header(path: Path) -> None:
    head = path.read_bytes()[:4096].lstrip(b"\xef\xbb\xbf")
    first = head.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
    names = tuple(n.strip() for n in next(csv.reader([first]), []))
    if names != FIGURES_HEADER:
        raise SourceError(f"header should be {','.join(FIGURES_HEADER)}, got {first!r}", source=SOURCE_ID,
                          rule="header", file=str(path), row=1)


def _figure_documents(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    try:
        rows = con.sql("SELECT DISTINCT trim(document) FROM read_csv($p, header = true, all_varchar = true) "
                       "WHERE nullif(trim(document), '') IS NOT NULL ORDER BY 1", params={"p": str(path)}).fetchall()
    except duckdb.Error as exc:
        raise SourceError(f"DuckDB could not read the figures: {str(exc).splitlines()[0]}", source=SOURCE_ID,
                          rule="malformed_csv", file=str(path)) from None
    return [r[0] for r in rows]


def parse(con: duckdb.DuckDBPyConnection, paths: list[Path], *, documents_dir: Path = DOCUMENTS_DIR) -> pa.Table:
    """Figures CSVs plus any copies of their documents (.md or .html) -> parsed_observation rows.

    Quotes are checked against every copy given; a document no copy was given for is read from
    documents_dir/<document>.md. Documents given without a figures CSV (a page saved by hand) are
    checked against the project's figures, documents_dir/document_figures.csv. The title and
    address come from the markdown front matter where there is one (the HTML <title> carries the
    site's name too), else from the page.
    """
    paths = [Path(p) for p in paths]
    unknown = [p for p in paths if p.suffix != ".csv" and p.suffix not in DOCUMENT_SUFFIXES]
    if unknown:
        raise SourceError("expected the figures CSV and .md/.html documents", source=SOURCE_ID,
                          rule="unknown_file", file=str(unknown[0]))
    tables = []
    given = [read_document(p) for p in paths if p.suffix in DOCUMENT_SUFFIXES]
    figures = [p for p in paths if p.suffix == ".csv"] or ([documents_dir / FIGURES_FILE] if given else [])
    for path in figures:
        _check_header(path)
        texts = list(given)
        for doc_id in _figure_documents(con, path):
            if any(d.document_id == doc_id for d in given):
                continue
            bundled = documents_dir / f"{doc_id}.md"
            if not bundled.is_file():
                raise SourceError(f"no copy of document {doc_id!r} was given and {bundled} does not exist",
                                  source=SOURCE_ID, rule="document_missing", file=str(path))
            texts.append(read_markdown(bundled))
        tables.append(_parse_figures(con, path, texts, documents_dir))
    if not tables:
        return to_parsed(pa.table({"indicator_id": pa.array([], pa.string())}))
    return to_parsed(pa.concat_tables(tables))


def _parse_figures(con: duckdb.DuckDBPyConnection, path: Path, texts: list[Document], documents_dir: Path) -> pa.Table:
    docs = pa.table({"document_id": [d.document_id for d in texts], "file": [d.file for d in texts],
                     "text": [d.text for d in texts]})
    meta = pa.table({"document_id": [d.document_id for d in texts],
                     "url": [_cited(d, documents_dir).url for d in texts],
                     "title": [_cited(d, documents_dir).title for d in texts]})
    cur = con.cursor()
    try:
        cur.register("docs", docs)
        cur.register("meta", meta)
        return cur.sql(_PARSE_SQL, params={"path": str(path), "file": path.name}).to_arrow_table()
    except duckdb.Error as exc:
        raise SourceError(f"DuckDB could not read the figures: {str(exc).splitlines()[0]}", source=SOURCE_ID,
                          rule="malformed_csv", file=str(path)) from None
    finally:
        cur.close()


# ---------------------------------------------------------------------------------------------
# Fetch: the documents' own pages, so a live run checks the quotes against what is online now
# ---------------------------------------------------------------------------------------------
def fetch_live(
    s: Settings,
    dest: Path,
    *,
    base_url: str | None = None,
    documents_dir: Path = DOCUMENTS_DIR,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
) -> list[Path]:
    """Land each cited document's page as <document>.html beside a copy of the figures CSV.

    `base_url` replaces the scheme and host of the documents' addresses (tests serve them locally).
    A page that is not HTML, or does not carry the document's title (an error or moved page), is
    refused.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    figures = documents_dir / FIGURES_FILE
    _check_header(figures)
    con = duckdb.connect()
    try:
        doc_ids = _figure_documents(con, figures)
    finally:
        con.close()
    landed = []
    for doc_id in doc_ids:
        doc = read_markdown(documents_dir / f"{doc_id}.md")
        if not doc.url:
            raise SourceError(f"document {doc_id!r} has no source_url", source=SOURCE_ID, rule="document_format",
                              file=str(documents_dir / f"{doc_id}.md"))
        url = doc.url if base_url is None else base_url.rstrip("/") + urlsplit(doc.url).path
        body = fetch(url, source=SOURCE_ID, timeout=timeout, retries=retries, backoff=backoff)
        _check_page(body, doc, url)
        path = dest / f"{doc_id}.html"
        path.write_bytes(body)
        landed.append(path)
    copy = dest / FIGURES_FILE
    shutil.copyfile(figures, copy)
    return [copy, *landed]


def _check_page(body: bytes, doc: Document, url: str) -> None:
    head = body[:4096].lstrip().lower()
    if not (head.startswith(b"<!doctype html") or b"<html" in head):
        raise SourceError(f"expected an HTML page, got {body[:60]!r}", source=SOURCE_ID, rule="not_html", url=url)
    text = html_text(body.decode("utf-8", "replace"))
    if doc.title and collapse(doc.title) not in text:
        title = _TITLE.search(body.decode("utf-8", "replace"))
        shown = collapse(html.unescape(title.group(1))) if title else text[:80]
        raise SourceError(f"the page does not carry the document's title (an error or moved page?): {shown!r}",
                          source=SOURCE_ID, rule="wrong_page", url=url)


SOURCE = Source(
    source_id=SOURCE_ID,
    publisher="U.S. Department of Homeland Security (figures stated in the conference document)",
    address="https://www.dhs.gov/news/2017/06/16/united-states-key-deliverables-june-15-16-2017-conference-prosperity-and-security",
    licence="Public domain (work of the U.S. federal government)",
    # the bundled figures and document are the project's own files: its snapshot is their folder
    snapshot="../documents",
    parse=parse,
    fetch_live=fetch_live,
)
