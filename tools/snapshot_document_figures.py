"""Write the document_figures snapshot manifest (data/documents/manifest.csv) and the connector's
page fixtures (tests/fixtures/document_figures/).

The snapshot is the project's own files, not copies: the curated figures
(data/documents/document_figures.csv) and the bundled capture of the document they quote
(data/documents/<document>.md), so the source's snapshot folder is data/documents itself. The
manifest records their sha256, so a changed figure or capture shows in the manifest's diff.

The page fixture is the publisher's HTML page as fetch_live lands it, rebuilt from the capture's
text (the page's markup was not recorded): one <p> per paragraph, the site's title suffix, a
canonical link, a script in <head>, curly quotes and sentence-spacing as HTML entities. The
not-found fixture is a page of the same site that is not the document.

Run: python tools/snapshot_document_figures.py
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from flows.sources.document_figures import DOCUMENTS_DIR, FIGURES_FILE, read_markdown  # noqa: E402

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "document_figures"
DOCUMENT = "dhs-2017-06-16-key-deliverables"
# the commit that added the capture to this repository (when its figures were taken in)
CAPTURED = ("2026-11-28T03:23:45", "a7b86cea7196be366d1cb302992f62122da28e27")
MANIFEST_COLUMNS = ["file", "publisher", "address", "licence", "retrieved_at", "sha256", "origin", "note"]


def write_manifest(out: Path) -> None:
    doc = read_markdown(DOCUMENTS_DIR / f"{DOCUMENT}.md")
    rows = []
    for name, note in [
        (FIGURES_FILE, "Figures stated in the document, typed with their exact sentence; checked against it on every parse."),
        (f"{DOCUMENT}.md", "Text capture of the publisher's page (front matter: title, source_url)."),
    ]:
        body = (DOCUMENTS_DIR / name).read_bytes()
        rows.append({"file": name, "publisher": "U.S. Department of Homeland Security",
                     "address": doc.url, "licence": "Public domain (work of the U.S. federal government)",
                     "retrieved_at": CAPTURED[0], "sha256": hashlib.sha256(body).hexdigest(),
                     "origin": f"data/documents/{name}@{CAPTURED[1]}" if name.endswith(".md") else f"data/documents/{name}",
                     "note": note})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.csv").write_text(buf.getvalue(), encoding="utf-8")


def _entities(text: str) -> str:
    return html.escape(text, quote=False).replace("’", "&rsquo;").replace("  ", "&nbsp; ")


def page(title: str, url: str, paragraphs: list[str]) -> bytes:
    body = "\n".join(f"<p>{_entities(p)}</p>" for p in paragraphs)
    return (f'<!DOCTYPE html>\n<html lang="en" dir="ltr">\n<head>\n<meta charset="utf-8" />\n'
            f'<link rel="canonical" href="{url}" />\n<title>{html.escape(title)} | Homeland Security</title>\n'
            f'<script>window.dataLayer = window.dataLayer || []; dataLayer.push({{"page": "$1.3 billion"}});</script>\n'
            f"</head>\n<body>\n<main>\n<h1>{html.escape(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n"
            ).encode("utf-8")


def write_fixtures(out: Path) -> None:
    raw = (DOCUMENTS_DIR / f"{DOCUMENT}.md").read_text(encoding="utf-8").split("---\n", 2)[2]
    doc = read_markdown(DOCUMENTS_DIR / f"{DOCUMENT}.md")
    paragraphs = [p.strip() for p in raw.split("\n\n") if p.strip()]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{DOCUMENT}.html").write_bytes(page(doc.title, doc.url, paragraphs))
    (out / "page_not_found.html").write_bytes(page(
        "Page Not Found", "https://www.dhs.gov/404",
        ["The page you requested could not be found.", "Return to the DHS.gov home page."]))


def main() -> int:
    write_manifest(DOCUMENTS_DIR)
    write_fixtures(FIXTURES)
    print(f"wrote {DOCUMENTS_DIR / 'manifest.csv'} and fixtures in {FIXTURES}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
