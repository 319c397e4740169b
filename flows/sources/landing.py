"""Find a publisher's current download on its landing page.

Some publishers (CBP, DHS OHSS) have no API: they post each release as a file at a new address
(the path carries the upload month, the name the data's last month) and link it from a fixed
page. Fetching the page and following the newest matching link keeps a live run on the current
release instead of a frozen address.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import unquote, urljoin

from flows.sources.http import SourceError, fetch

_HREF = re.compile(rb"""href\s*=\s*["']([^"']+)["']""", re.I)
# Upload folders as Drupal names them: /2025-11/ or /assets/documents/2023-Jul/.
_FOLDER = re.compile(r"/(\d{4})-(\d{2}|[A-Za-z]{3})/")
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}


def _upload_month(href: str) -> tuple[int, int]:
    m = _FOLDER.search(href)
    if not m:
        return (0, 0)
    month = m[2]
    return (int(m[1]), int(month) if month.isdigit() else _MONTHS.get(month.lower(), 0))


def links(page: bytes, page_url: str, matches: Callable[[str], bool]) -> list[str]:
    """Absolute addresses of the page's links whose decoded path `matches`, newest upload first."""
    found = set()
    for raw in _HREF.findall(page):
        href = html.unescape(raw.decode("utf-8", "replace")).strip()
        if matches(unquote(href)):
            found.add(urljoin(page_url, href))
    return sorted(found, key=lambda u: (_upload_month(unquote(u)), u), reverse=True)


def newest_link(page_url: str, matches: Callable[[str], bool], *, source: str, what: str,
                **fetch_kw: object) -> str:
    """Fetch the landing page and return its newest link that `matches`; SourceError if none."""
    page = fetch(page_url, source=source, **fetch_kw)
    found = links(page, page_url, matches)
    if not found:
        raise SourceError(f"no link to {what} on the landing page (has the page changed?)",
                          source=source, rule="link_missing", url=page_url)
    return found[0]
