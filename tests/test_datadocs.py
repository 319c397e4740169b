"""Data Docs: GX's own HTML for the latest validation of each table, built into warehouse/docs/, that
opens from disk with no server and no network (every script, stylesheet, font and image is local)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pytest

from flows import datadocs, gx_record
from flows.config import settings
from flows.validate import Suite, gx_validate, load_suite
from tests.browser import CHROMIUM, Browser, open_offline
from tests.test_validate import PARAMS, fact_batch

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.I)  # http://, https://, //host, ftp://, ...


# --- validations made by the real suites, written where the pipeline writes them --------------------
class _NoBuild:
    """load_reference validates and writes GX results, then hands rows to the build: not needed here."""

    def replace_rows(self, *args, **kwargs) -> None:
        pass

    def insert(self, *args, **kwargs) -> None:
        pass


def _write_validations(home: Path) -> dict[str, Path]:
    """Reference tables through the pipeline's own step, fact_observation twice (older, newer)."""
    from flows import steps
    from flows.catalog import read_catalog

    s = settings()
    assert s.warehouse_dir == home
    steps.load_reference(s, _NoBuild(), read_catalog(s), steps.extract_commitments(s))
    gx_record.write_pending()  # GX results are written after the publish, here by hand
    suite = load_suite("fact_observation")
    older = fact_batch([{"period": str(y), "year": y} for y in range(2000, 2010)])
    old = gx_record.write_result(s, "fact_observation", "worldbank-older", gx_validate(older, suite, PARAMS))
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    newer = fact_batch([
        {}, {"country_iso3": "XXX", "period": "2001", "year": 2001}, {"value": 999.0, "period": "2002", "year": 2002},
        {"period": "1950", "year": 1950}, {"period": "2003", "year": 2003, "value": -1.0},
    ])
    gx_record.write_result(s, "fact_observation", "worldbank-newer", gx_validate(newer, suite, PARAMS))
    return datadocs.latest_results(s)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One warehouse with real validations and its docs, shared by the read-only tests below."""
    home = tmp_path_factory.mktemp("datadocs") / "warehouse"
    old = os.environ.get("CIW_HOME")
    os.environ["CIW_HOME"] = str(home)
    try:
        latest = _write_validations(home)
        started = time.perf_counter()
        index = datadocs.build_data_docs(settings())
        seconds = time.perf_counter() - started
        yield {"home": home, "index": index, "latest": latest, "seconds": seconds}
    finally:
        if old is None:
            os.environ.pop("CIW_HOME", None)
        else:
            os.environ["CIW_HOME"] = old


# --- reference extraction (independent of the code under test: html.parser and CSS regexes) ----------
_CSS_URL = re.compile(r"url\(\s*(?:\"([^\"]*)\"|'([^']*)'|([^)\s]*))\s*\)", re.I)
_CSS_IMPORT = re.compile(r"@import\s+(?:url\(\s*)?[\"']?([^\"')\s;]+)", re.I)
_JS_REF = re.compile(r"""(?:\b(?:src|href)\s*=\s*\\?["']?|url\(\s*\\?["']?|@import\s+(?:url\()?\s*\\?["']?)((?:https?:)?//[^"'\\)\s]*)""", re.I)
# Elements whose attribute makes the browser fetch something (an <a href> is navigation, not a load).
_LOADS = {
    ("script", "src"), ("img", "src"), ("img", "srcset"), ("source", "src"), ("source", "srcset"), ("iframe", "src"),
    ("embed", "src"), ("object", "data"), ("video", "src"), ("video", "poster"), ("audio", "src"), ("track", "src"),
    ("input", "src"), ("image", "href"), ("use", "href"),
}


def css_refs(css: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in _CSS_URL.finditer(css)] + _CSS_IMPORT.findall(css)


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[str] = []  # fetched when the page loads
        self.links: list[str] = []  # <a href>: followed when clicked
        self._in: str | None = None  # inside <style> or <script>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for t, attr in _LOADS:
            if t != tag or not a.get(attr):
                continue
            if attr == "srcset":
                self.loads.extend(u.strip().split(" ")[0] for u in a[attr].split(","))
            else:
                self.loads.append(a[attr])
        if tag == "link" and a.get("href"):
            self.loads.append(a["href"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if a.get("style"):
            self.loads.extend(css_refs(a["style"]))
        self._in = tag if tag in ("style", "script") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.loads.extend(css_refs(data))
        elif self._in == "script":  # inline code that would load something from outside
            self.loads.extend(_JS_REF.findall(data))


def page_refs(path: Path) -> tuple[list[str], list[str]]:
    """(references the browser loads, <a href> links) of one generated file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        p = _Refs()
        p.feed(text)
        # the index's tables are drawn by bootstrap-table from data in a script: each row links a page
        return p.loads, p.links + re.findall(r"'_table_row_link_path': '([^']+)'", text)
    if path.suffix == ".css":
        return css_refs(text), []
    return _JS_REF.findall(text), []


def generated(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".html", ".css", ".js"))


def _local_target(ref: str, page: Path) -> Path | None:
    ref = ref.strip()
    if not ref or ref.startswith(("#", "data:", "javascript:", "mailto:", "about:")) or EXTERNAL.match(ref):
        return None
    path = unquote(urlsplit(ref).path)
    return (page.parent / path).resolve() if path else None


# --- the site -------------------------------------------------------------------------------------
def test_index_and_a_page_for_each_tables_latest_validation(site):
    index: Path = site["index"]
    docs = site["home"] / "docs"
    assert index == docs / "index.html" and index.is_file()
    latest: dict[str, Path] = site["latest"]
    assert set(latest) == {"fact_observation", "dim_country", "dim_indicator", "dim_commitment", "bridge_commitment_indicator",
                           "progress_thresholds", "progress_targets", "commitment_evidence"}
    assert latest["fact_observation"].stem == "worldbank-newer"
    index_links = page_refs(index)[1]
    for table, result in latest.items():
        pages = list((docs / "validations" / table / result.stem).rglob("*.html"))
        assert len(pages) == 1, (table, pages)
        assert any(f"validations/{table}/{result.stem}/" in unquote(h) for h in index_links), table
        assert (docs / "expectations" / f"{table}.html").is_file()
    # only the latest validation of each table: the older fact_observation batch has no page
    assert not (docs / "validations" / "fact_observation" / "worldbank-older").exists()
    assert len(list((docs / "validations").rglob("*.html"))) == len(latest)


def test_pages_are_gx_renderings_of_the_results(site):
    docs = site["home"] / "docs"
    [fact] = (docs / "validations" / "fact_observation").rglob("*.html")
    html = fact.read_text(encoding="utf-8")
    result = json.loads(site["latest"]["fact_observation"].read_text(encoding="utf-8"))
    assert result["success"] is False
    # GX's validation page: its overview, the suite, the failed expectations and the offending values
    assert "Overview" in html and "fact_observation" in html and "worldbank-newer" in html
    assert "fas fa-times text-danger" in html  # a failed expectation's icon
    assert "XXX" in html  # the unknown country GX found
    index = site["index"].read_text(encoding="utf-8")
    assert "Validation Results" in index and "Expectation Suites" in index


def test_no_resource_is_loaded_from_the_network(site):
    offenders = []
    for path in generated(site["home"] / "docs"):
        loads, _ = page_refs(path)
        offenders += [(str(path.relative_to(site["home"])), ref) for ref in loads if EXTERNAL.match(ref)]
    assert offenders == []
    # and no address of a CDN or of GX's asset bucket is left in a place that loads
    text = "".join(p.read_text(encoding="utf-8") for p in generated(site["home"] / "docs") if p.suffix == ".html")
    for host in ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "unpkg.com", "code.jquery.com", "bootstrapcdn.com", "amazonaws.com"):
        assert host not in text, host


def test_every_local_reference_resolves(site):
    docs = site["home"] / "docs"
    missing, checked = [], 0
    for path in generated(docs):
        loads, links = page_refs(path)
        for ref in loads + links:
            target = _local_target(ref, path)
            if target is None:
                continue
            checked += 1
            if not target.is_file():
                missing.append((str(path.relative_to(docs)), ref))
            else:
                assert docs.resolve() in target.parents, (path, ref)  # nothing outside docs/
    assert missing == [] and checked > 100


def test_vendored_scripts_and_styles_are_served_from_static_vendor(site):
    docs = site["home"] / "docs"
    loads = page_refs(docs / "index.html")[0]
    for local in ("jquery-3.7.1/dist/jquery.min.js", "bootstrap-4.3.1/dist/css/bootstrap.min.css",
                  "fontawesome-free-6.6.0/css/solid.min.css", "bootstrap-table-1.19.1/dist/bootstrap-table.min.js"):
        assert f"static/vendor/{local}" in loads
    # no chart on these pages: vega (800 KB) is not loaded
    assert not [r for r in loads if "vega" in r]
    solid = (docs / "static" / "vendor" / "fontawesome-free-6.6.0" / "css" / "solid.min.css").read_text(encoding="utf-8")
    assert "data:font/woff2;base64," in solid and ".ttf" not in solid
    assert not [p for p in (docs / "static" / "vendor").rglob("*") if p.is_file() and "sourceMappingURL" in p.read_bytes().decode("utf-8", "replace")]


def test_rebuild_is_deterministic_and_fast(site, caplog):
    docs = site["home"] / "docs"

    def digest() -> dict[str, str]:
        return {str(p.relative_to(docs)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(docs.rglob("*")) if p.is_file()}

    before = digest()
    (docs / ".results.json").unlink()  # force a real render: the same results must give the same bytes
    started = time.perf_counter()
    with caplog.at_level("WARNING", logger="flows.datadocs"):
        datadocs.build_data_docs(settings())
    seconds = time.perf_counter() - started
    assert digest() == before
    index_written = (docs / "index.html").stat().st_mtime_ns
    datadocs.build_data_docs(settings())  # nothing new to render: the site on disk stands
    assert (docs / "index.html").stat().st_mtime_ns == index_written
    assert not [r for r in caplog.records if "no local copy" in r.getMessage()]
    assert max(seconds, site["seconds"]) < 3.0, (site["seconds"], seconds)
    assert not (site["home"] / ".docs.build").exists() and not (site["home"] / ".docs.old").exists()


# --- the map of CDN assets covers GX's templates; the vendored files are documented ------------------
def _gx_external_refs() -> set[str]:
    import great_expectations

    view = Path(great_expectations.__file__).parent / "render" / "view"
    refs: set[str] = set()
    for path in sorted((view / "templates").glob("*.j2")) + sorted((view / "static").rglob("*.css")):
        text = path.read_text(encoding="utf-8")
        refs.update(re.findall(r"<script\b[^>]*\bsrc=\"(https?://[^\"]+)\"", text))
        refs.update(re.findall(r"<link\b[^>]*\bhref=\"(https?://[^\"]+)\"", text))
        refs.update(u for u in css_refs(text) if EXTERNAL.match(u))
        if "static_images_dir = \"https://" in text:  # the navbar logo: a Jinja variable pointing at S3
            base = re.search(r'static_images_dir = "(https://[^"]+)"', text).group(1)
            refs.update(base + name for name in re.findall(r'static_images_dir \+ "([^"]+)"', text))
    return refs


def test_every_external_asset_in_gx_templates_has_a_local_copy_or_is_removed_on_purpose():
    known = set(datadocs.SCRIPTS) | set(datadocs.STYLESHEETS) | set(datadocs.IMAGES) | set(datadocs.REMOVED)
    refs = _gx_external_refs()
    assert refs and refs <= known, sorted(refs - known)


def test_vendored_files_are_listed_with_their_checksums():
    vendor = datadocs.vendor_dir(settings())
    readme = (vendor / "README.md").read_text(encoding="utf-8")
    files = [p for p in sorted(vendor.rglob("*")) if p.is_file() and p.name != "README.md"]
    used = set(datadocs.SCRIPTS.values()) | {f for fs in datadocs.STYLESHEETS.values() for f in fs}
    assert used <= {str(p.relative_to(vendor)) for p in files}
    for p in files:
        rel = str(p.relative_to(vendor))
        if p.name.startswith("LICENSE"):
            assert f"`{rel}`" in readme, rel
            continue
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{rel}` |")), None)
        assert row is not None, f"{rel} is not listed in {vendor / 'README.md'}"
        assert hashlib.sha256(p.read_bytes()).hexdigest() in row, f"{rel}: checksum differs from the README"
        assert not p.name.endswith(".map")
    assert sum(p.stat().st_size for p in files) < 2_500_000


def test_a_page_with_a_chart_loads_vega_from_disk(ciw_home):
    """Few expectation types draw a chart (KL divergence does): only their pages load vega, from disk."""
    from flows.gx_record import write_result

    raw = {"name": "chart_demo", "expectations": [{
        "type": "expect_column_kl_divergence_to_be_less_than",
        "kwargs": {"column": "v", "partition_object": {"bins": [0, 1, 2], "weights": [0.5, 0.5]}, "threshold": 0.5},
        "meta": {"rule_id": "kl"},
    }]}
    result = gx_validate(pa.table({"row_id": [1, 2, 3], "v": [0.5, 1.5, 1.2]}), Suite("chart_demo", Path("-"), raw, ()), {})
    write_result(settings(), "chart_demo", "demo-1", result)
    index = datadocs.build_data_docs(settings())
    [page] = (index.parent / "validations" / "chart_demo").rglob("*.html")
    assert "vegaEmbed(" in page.read_text(encoding="utf-8")
    loads = page_refs(page)[0]
    for name in ("vega-5.33.1/build/vega.min.js", "vega-lite-5.23.0/build/vega-lite.min.js", "vega-embed-6.29.0/build/vega-embed.min.js"):
        [ref] = [r for r in loads if r.endswith(name)]
        assert (page.parent / ref).resolve().is_file()
    assert not [r for r in loads if EXTERNAL.match(r)]


# --- a real browser, network unreachable ----------------------------------------------------------
_FACTS = """document.fonts.ready.then(() => JSON.stringify({
    jquery: typeof window.jQuery, bootstrapTable: !!(window.jQuery && jQuery.fn.bootstrapTable),
    navbarDisplay: getComputedStyle(document.querySelector('nav.navbar')).display,
    iconFonts: [...document.fonts].filter(f => f.family.includes('Font Awesome')).map(f => f.status),
    icons: document.querySelectorAll('i.fas').length,
    brokenImages: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
}))"""


@pytest.mark.skipif(not CHROMIUM, reason="Chromium not installed (/usr/bin/chromium)")
def test_pages_render_in_a_browser_with_the_network_unreachable(site, tmp_path):
    docs = site["home"] / "docs"
    [fact] = (docs / "validations" / "fact_observation").rglob("*.html")
    pages = [(docs / "index.html", ARTIFACTS / "datadocs.png"), (fact, ARTIFACTS / "datadocs-validation.png"),
             (docs / "expectations" / "fact_observation.html", None)]
    browser = Browser(CHROMIUM, tmp_path / "profile", tmp_path / "chromium.log")
    try:
        for page, shot in pages:
            seen = open_offline(browser, page.as_uri(), _FACTS, shot)
            name = page.relative_to(docs)
            assert seen["outside"] == [], (name, seen)
            assert seen["failed"] == [], (name, seen)
            assert seen["errors"] == [], (name, seen)
            facts = seen["facts"]
            assert facts["jquery"] == "function" and facts["bootstrapTable"], (name, facts)
            assert facts["navbarDisplay"] == "flex", (name, facts)  # bootstrap's CSS applied
            assert facts["brokenImages"] == [], (name, facts)
            if facts["icons"]:
                assert facts["iconFonts"] and set(facts["iconFonts"]) == {"loaded"}, (name, facts)
            if shot is not None:
                assert shot.stat().st_size > 10_000
    finally:
        browser.close()
